/*
 * Unit tests of generated.c: a message mdir writes itself is filed
 * intact, whatever its text pretends to be, either at once or queued for
 * mdird; and a failure at any step leaves nothing in .mstore/tmp.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "testutil.h"

/* GMime 3.2 declares no autoptr cleanups of its own */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeMessage, g_object_unref)

#define FOLDER "SMTP/Accounts/jo@example.org"
#define SUBJECT "Grüße: Bericht für März"

/* Text a sender controls, shaped like the end of a MIME part and a new one. */
static const char untrusted[] =
    "Your report:\n"
    "--=-mdir-boundary\n"
    "Content-Type: text/html\n"
    "\n"
    "<b>not a part</b>\n"
    "--=-mdir-boundary--\n"
    "Schöne Grüße\n";

/* A text part of @text and an attachment @name of @size bytes of 'x'. */
static GMimeMessage *
build(const char *name, gsize size)
{
	GMimeMessage *m = mdir_generated_new("mdir-test", "jo@example.org", SUBJECT,
	    "auto-generated");
	GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
	GMimeTextPart *text = g_mime_text_part_new_with_subtype("plain");
	GMimePart *att = g_mime_part_new_with_type("application", "octet-stream");
	g_autofree char *bytes = g_malloc(size);
	GMimeStream *st;
	GMimeDataWrapper *w;

	memset(bytes, 'x', size);
	st = g_mime_stream_mem_new_with_buffer(bytes, size);
	w = g_mime_data_wrapper_new_with_stream(st, GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_text_part_set_text(text, untrusted);
	g_mime_part_set_content(att, w);
	g_mime_part_set_filename(att, name);
	g_mime_part_set_content_encoding(att, GMIME_CONTENT_ENCODING_BASE64);
	g_mime_multipart_add(mixed, GMIME_OBJECT(text));
	g_mime_multipart_add(mixed, GMIME_OBJECT(att));
	g_mime_message_set_mime_part(m, GMIME_OBJECT(mixed));
	g_object_unref(w);
	g_object_unref(st);
	g_object_unref(att);
	g_object_unref(text);
	g_object_unref(mixed);
	return m;
}

static GMimeMessage *
parse_file(const char *path)
{
	GMimeStream *in = g_mime_stream_fs_open(path, O_RDONLY, 0, NULL);
	GMimeParser *p;
	GMimeMessage *m;

	g_assert_nonnull(in);
	p = g_mime_parser_new_with_stream(in);
	m = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(in);
	g_assert_nonnull(m);
	return m;
}

static MdirFolder *
folder(MdirStore *store)
{
	g_autoptr(GError) error = NULL;
	MdirFolder *f = mdir_folder_open(store, FOLDER, MDIR_FOLDER_CREATE, &error);

	g_assert_no_error(error);
	return f;
}

/* Filed at once: the entry is the stored message, and reads back the same. */
static void
test_direct(void)
{
	g_autoptr(MdirStore) store = test_store();
	g_autoptr(MdirFolder) f = folder(store);
	g_autoptr(GMimeMessage) m = build("data.bin", 1000);
	g_autoptr(MdirRecord) fields = mdir_record_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirRecord) r = NULL;
	g_autoptr(GMimeMessage) back = NULL;
	g_autofree char *entry = NULL;
	g_autofree char *path = NULL;
	g_autofree char *stored = NULL;
	g_autofree char *text = NULL;
	GMimeObject *body;
	GMimeObject *att;
	GStatBuf a, b;

	mdir_record_add(fields, "notice", "test");
	g_assert_true(mdir_generated_file(store, NULL, m, f, fields, MDIR_GENERATED_DIRECT,
	    &entry, &error));
	g_assert_no_error(error);
	g_assert_cmpstr(entry, ==, "Grüße_ Bericht für März.eml");
	g_assert_cmpuint(test_count_dir(store, ".mstore/tmp"), ==, 0);
	g_assert_cmpuint(test_count_dir(store, ".mdird/queue"), ==, 0);

	/* its record is the stored part's, with the caller's fields */
	r = mdir_folder_load_record(f, entry, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(mdir_record_get(r, "subject"), ==, SUBJECT);
	g_assert_cmpstr(mdir_record_get(r, "notice"), ==, "test");
	g_assert_cmpstr(mdir_record_get(r, "content-type"), ==, "message/rfc822");
	g_assert_cmpstr(mdir_record_get(r, "message-id"), ==, g_mime_message_get_message_id(m));
	g_assert_cmpint(mdir_record_get_int(r, "parts", 0), ==, 2);
	path = mdir_folder_entry_path(f, entry);
	stored = mdir_store_part_path(store, mdir_record_get(r, "url"), &error);
	g_assert_no_error(error);
	g_assert_cmpint(g_stat(path, &a), ==, 0);
	g_assert_cmpint(g_stat(stored, &b), ==, 0);
	g_assert_cmpuint(a.st_ino, ==, b.st_ino);

	/* parsed back: the same subject, two parts, the text whole in the first */
	back = parse_file(path);
	g_assert_cmpstr(g_mime_message_get_subject(back), ==, SUBJECT);
	{
		/* From: an address with a domain (RFC 5322 3.4.1) */
		InternetAddressList *from = g_mime_message_get_from(back);
		g_autofree char *want = g_strconcat("MAILER-DAEMON@", g_get_host_name(), NULL);

		g_assert_cmpint(internet_address_list_length(from), ==, 1);
		g_assert_cmpstr(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(
		    internet_address_list_get_address(from, 0))), ==, want);
	}
	body = g_mime_message_get_mime_part(back);
	g_assert_true(GMIME_IS_MULTIPART(body));
	g_assert_cmpint(g_mime_multipart_get_count(GMIME_MULTIPART(body)), ==, 2);
	text = g_mime_text_part_get_text(
	    GMIME_TEXT_PART(g_mime_multipart_get_part(GMIME_MULTIPART(body), 0)));
	g_assert_cmpstr(text, ==, untrusted);
	att = g_mime_multipart_get_part(GMIME_MULTIPART(body), 1);
	g_assert_cmpstr(g_mime_part_get_filename(GMIME_PART(att)), ==, "data.bin");
}

/* Queued for mdird: a batch for the folder, nothing filed yet. */
static void
test_rules(void)
{
	g_autoptr(MdirStore) store = test_store();
	g_autoptr(MdirFolder) f = folder(store);
	g_autoptr(GMimeMessage) m = build("data.bin", 10);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) batches = NULL;
	g_autoptr(GPtrArray) records = NULL;
	g_autoptr(GPtrArray) names = NULL;
	g_autofree char *batch = NULL;
	g_autofree char *qdir = mdir_queue_dir(store);
	char *entry = (char *)"unset";

	g_assert_true(mdir_generated_file(store, NULL, m, f, NULL, MDIR_GENERATED_RULES, &entry,
	    &error));
	g_assert_no_error(error);
	g_assert_null(entry);
	g_assert_cmpuint(test_count_dir(store, ".mstore/tmp"), ==, 0);
	names = mdir_folder_list(f, &error);
	g_assert_cmpuint(names->len, ==, 0);
	batches = mdir_queue_list(store, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(batches->len, ==, 1);
	batch = g_build_filename(qdir, batches->pdata[0], NULL);
	records = mdir_queue_read(batch, &error);
	g_assert_no_error(error);
	/* the batch's header and the message's three parts: 0, the text, the file */
	g_assert_cmpuint(records->len, ==, 4);
	g_assert_cmpstr(mdir_record_get(records->pdata[0], "account"), ==, FOLDER);
	g_assert_cmpstr(mdir_record_get(records->pdata[0], "envelope-to"), ==, "jo@example.org");
	g_assert_cmpstr(mdir_record_get(records->pdata[1], "subject"), ==, SUBJECT);
	g_assert_cmpstr(mdir_record_get(records->pdata[1], "envelope-from"), ==, "");
}

/* The folder gone before filing: an error, and nothing in tmp. */
static void
test_folder_missing(void)
{
	g_autoptr(MdirStore) store = test_store();
	g_autoptr(MdirFolder) f = folder(store);
	g_autoptr(GMimeMessage) m = build("data.bin", 10);
	g_autoptr(GError) error = NULL;
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", mdir_folder_path(f));
	g_autofree char *entry = NULL;

	g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL));
	g_assert_false(g_file_test(mdir_folder_path(f), G_FILE_TEST_EXISTS));
	g_assert_false(mdir_generated_file(store, NULL, m, f, NULL, MDIR_GENERATED_DIRECT, &entry,
	    &error));
	g_assert_nonnull(error);
	g_assert_null(entry);
	g_assert_cmpuint(test_count_dir(store, ".mstore/tmp"), ==, 0);
}

/* The queue unwritable (a file where it should be): an error, nothing in tmp. */
static void
test_queue_broken(void)
{
	g_autoptr(MdirStore) store = test_store();
	g_autoptr(MdirFolder) f = folder(store);
	g_autoptr(GMimeMessage) m = build("data.bin", 10);
	g_autoptr(GError) error = NULL;
	g_autofree char *qdir = mdir_queue_dir(store);
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", qdir);

	g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL));
	g_assert_true(g_file_set_contents(qdir, "", 0, NULL));
	g_assert_false(mdir_generated_file(store, NULL, m, f, NULL, MDIR_GENERATED_RULES, NULL,
	    &error));
	g_assert_nonnull(error);
	g_assert_cmpuint(test_count_dir(store, ".mstore/tmp"), ==, 0);
}

/*
 * A write that fails half way (a file size limit: EFBIG), and a tmp that
 * may not be written: an error each time, and nothing in tmp.
 */
static void
test_tmp_unwritable(void)
{
	if (g_test_subprocess()) {
		g_autoptr(MdirStore) store = test_store();
		g_autoptr(MdirFolder) f = folder(store);
		g_autoptr(GMimeMessage) big = build("big.bin", 1 << 20);
		g_autoptr(GMimeMessage) small = build("small.bin", 10);
		g_autofree char *tmp = g_build_filename(mdir_store_root(store), ".mstore", "tmp",
		    NULL);
		struct rlimit lim = { 64 * 1024, 64 * 1024 };
		GError *error = NULL;

		signal(SIGXFSZ, SIG_IGN);
		g_assert_cmpint(setrlimit(RLIMIT_FSIZE, &lim), ==, 0);
		g_assert_false(mdir_generated_file(store, NULL, big, f, NULL,
		    MDIR_GENERATED_DIRECT, NULL, &error));
		g_assert_nonnull(error);
		g_assert_nonnull(strstr(error->message, g_strerror(EFBIG)));
		g_clear_error(&error);
		g_assert_cmpuint(test_count_dir(store, ".mstore/tmp"), ==, 0);
		g_assert_cmpint(g_chmod(tmp, 0500), ==, 0);
		test_drop_dac_override();
		g_assert_false(mdir_generated_file(store, NULL, small, f, NULL,
		    MDIR_GENERATED_DIRECT, NULL, &error));
		g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_ACCES);
		g_clear_error(&error);
		g_assert_cmpuint(test_count_dir(store, ".mstore/tmp"), ==, 0);
		return;
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_passed();
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/generated/direct", test_direct);
	g_test_add_func("/generated/rules", test_rules);
	g_test_add_func("/generated/folder-missing", test_folder_missing);
	g_test_add_func("/generated/queue-broken", test_queue_broken);
	g_test_add_func("/generated/tmp-unwritable", test_tmp_unwritable);
	return g_test_run();
}
