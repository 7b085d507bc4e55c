/*
 * test-outbox.c: mdir-outbox's logic from the program's own objects: how
 * an entry is read (never through a link, never blocking on a FIFO), the
 * envelope of mdir's own outbox from its record, one From, the retry
 * schedule with a record edited by hand, notices built with GMime, and a
 * whole run that must not read what an outbox's symlink points to.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmime/gmime.h>

#include "testutil.h"
#include "outbox.h"

typedef struct {
	MdirConfig *config;
	MdirStore *store;
	MdirFolder *box; /* jo's outbox */
	char *tmpdir;
	char *key;	 /* a secret file outside the root */
} Fx;

#define SECRET "-----BEGIN PRIVATE KEY----- not for anyone's eyes"

static void
fx_up(Fx *fx, gconstpointer data)
{
	g_autofree char *root = test_root();
	g_autofree char *conf = NULL;
	g_autofree char *path = NULL;
	g_autoptr(GError) e = NULL;

	fx->key = test_write_tmp("dkim.pem", SECRET "\n");
	conf = g_strdup_printf("[mdir]\nroot = %s\n[receive]\nlocal_domains = example.org\n"
			       "[outbox]\nsendmail = /bin/true\n%s",
	    root, data ? (const char *)data : "");
	path = test_write_tmp("c.conf", conf);
	fx->config = mdir_config_load(path, &e);
	g_assert_no_error(e);
	fx->store = mdir_store_open_config(fx->config, &e);
	g_assert_no_error(e);
	fx->box = mdir_folder_open(fx->store, "SMTP/Accounts/jo@example.org/Outbox",
	    MDIR_FOLDER_CREATE, &e);
	g_assert_no_error(e);
	fx->tmpdir = g_build_filename(root, ".mstore", "tmp", NULL);
}

static void
fx_down(Fx *fx, gconstpointer data)
{
	(void)data;
	mdir_folder_free(fx->box);
	mdir_store_free(fx->store);
	mdir_config_free(fx->config);
	g_free(fx->tmpdir);
	g_free(fx->key);
}

static char *
entry(Fx *fx, const char *name, const char *content)
{
	char *p = mdir_folder_entry_path(fx->box, name);

	g_assert_true(g_file_set_contents(p, content, -1, NULL));
	return p;
}

/* Whether any file under @dir holds @needle. */
static gboolean
tree_holds(const char *dir, const char *needle)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *n;

	while (d && (n = g_dir_read_name(d)) != NULL) {
		g_autofree char *p = g_build_filename(dir, n, NULL);
		g_autofree char *text = NULL;
		struct stat st;

		if (lstat(p, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && tree_holds(p, needle))
			return TRUE;
		if (S_ISREG(st.st_mode) && g_file_get_contents(p, &text, NULL, NULL) &&
		    strstr(text, needle))
			return TRUE;
	}
	return FALSE;
}

static guint
tmp_files(Fx *fx)
{
	g_autoptr(GDir) d = g_dir_open(fx->tmpdir, 0, NULL);
	guint n = 0;

	while (d && g_dir_read_name(d))
		n++;
	return n;
}

/* Issue 16.6: a symlink to the DKIM key is not read, nor is a FIFO waited on. */
static void
test_entry_symlink(Fx *fx, gconstpointer data)
{
	g_autofree char *link = mdir_folder_entry_path(fx->box, "key.eml");
	g_autofree char *fifo = mdir_folder_entry_path(fx->box, "fifo.eml");
	g_autoptr(GError) e = NULL;
	g_autoptr(GError) e2 = NULL;
	guint before = tmp_files(fx);

	(void)data;
	g_assert_cmpint(symlink(fx->key, link), ==, 0);
	g_assert_null(outbox_entry_copy(fx->box, "key.eml", fx->store, NULL, &e));
	g_assert_nonnull(e);
	g_assert_nonnull(strstr(e->message, "symbolic link"));
	g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
	g_assert_null(outbox_entry_copy(fx->box, "fifo.eml", fx->store, NULL, &e2));
	g_assert_nonnull(strstr(e2->message, "not a regular file"));
	g_assert_cmpuint(tmp_files(fx), ==, before);
}

/*
 * The copy is in memory: no file made and removed in the store's tmp a
 * message (each inode made on ext4 searches past those freed lately); a
 * file only when it is filed (SMTP/Failed), of the entry's mode at most.
 */
static void
test_entry_regular(Fx *fx, gconstpointer data)
{
	g_autofree char *p = entry(fx, "m.eml", "From: jo@example.org\n\nhi\n");
	g_autoptr(GError) e = NULL;
	guint before = tmp_files(fx);
	char *copy = outbox_entry_copy(fx->box, "m.eml", fx->store, NULL, &e);
	g_autofree char *text = NULL;
	g_autofree char *file = NULL;
	g_autofree char *text2 = NULL;
	g_autofree char *first = NULL;
	struct stat st, es;

	(void)data;
	g_assert_no_error(e);
	g_assert_true(g_file_get_contents(copy, &text, NULL, NULL));
	g_assert_cmpstr(text, ==, "From: jo@example.org\n\nhi\n");
	g_assert_true(outbox_copy_in_memory(copy));
	g_assert_cmpuint(tmp_files(fx), ==, before);
	first = g_strdup(copy);
	outbox_copy_free(copy);
	g_assert_cmpint(chmod(p, 0600), ==, 0);
	copy = outbox_entry_copy(fx->box, "m.eml", fx->store, &es, &e);
	g_assert_no_error(e);
	/* the file read is named, to remove that one and no other */
	g_assert_cmpint(stat(p, &st), ==, 0);
	g_assert_true(es.st_dev == st.st_dev && es.st_ino == st.st_ino);
	/* the first was closed when freed: its descriptor is taken again */
	g_assert_cmpstr(copy, ==, first);
	g_assert_cmpint(stat(copy, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 077, ==, 0); /* no more open than the entry */
	/* what is filed is a file of the store's file system, as private */
	file = outbox_copy_to_file(copy, fx->store, &e);
	g_assert_no_error(e);
	g_assert_true(g_str_has_prefix(file, fx->tmpdir));
	g_assert_cmpint(lstat(file, &st), ==, 0);
	g_assert_true(S_ISREG(st.st_mode));
	g_assert_cmpint(st.st_mode & 077, ==, 0);
	g_assert_true(g_file_get_contents(file, &text2, NULL, NULL));
	g_assert_cmpstr(text2, ==, "From: jo@example.org\n\nhi\n");
	unlink(file);
	outbox_copy_free(copy);
}

/* An entry past a megabyte is copied to a file: not held in memory whole. */
static void
test_entry_big(Fx *fx, gconstpointer data)
{
	g_autofree char *body = g_strnfill(1024 * 1024, 'x');
	g_autofree char *text = g_strconcat("From: jo@example.org\n\n", body, NULL);
	g_autofree char *p = entry(fx, "big.eml", text);
	g_autoptr(GError) e = NULL;
	guint before = tmp_files(fx);
	char *copy = outbox_entry_copy(fx->box, "big.eml", fx->store, NULL, &e);
	g_autofree char *got = NULL;

	(void)data;
	g_assert_no_error(e);
	g_assert_false(outbox_copy_in_memory(copy));
	g_assert_cmpuint(tmp_files(fx), ==, before + 1);
	g_assert_true(g_file_get_contents(copy, &got, NULL, NULL));
	g_assert_cmpstr(got, ==, text);
	outbox_copy_free(copy);
	g_assert_cmpuint(tmp_files(fx), ==, before);
}

/* A whole run over an outbox whose entry became a link to the key. */
static void
test_run_symlink(Fx *fx, gconstpointer data)
{
	g_autofree char *link = mdir_folder_entry_path(fx->box, "key.eml");
	g_autoptr(GError) e = NULL;
	g_autoptr(Outbox) o = NULL;
	g_autofree char *root = test_root();

	(void)data;
	g_assert_cmpint(symlink(fx->key, link), ==, 0);
	o = outbox_open(fx->config, 0, &e);
	g_assert_no_error(e);
	g_assert_true(outbox_run(o, NULL, &e));
	g_assert_no_error(e);
	g_assert_false(tree_holds(root, "not for anyone's eyes"));
}

static Message *
load(Fx *fx, const char *raw, const char *sender, const char *const *rcpts, GError **e)
{
	g_autofree char *p = entry(fx, "load.eml", raw);
	MessageLoad how = { .sender = sender, .rcpts = rcpts, .store = fx->store };

	return message_load(p, &how, e);
}

/* Issue 16.1: in mdir's own outbox the headers name nobody. */
static void
test_message_record_envelope(Fx *fx, gconstpointer data)
{
	static const char *const rcpts[] = { "me@phone.test", "ME@phone.test", NULL };
	g_autoptr(GError) e = NULL;
	g_autoptr(Message) m = load(fx,
	    "From: ceo@example.org\nResent-Sender: ceo@example.org\nResent-To: v@x.test\n"
	    "Resent-Bcc: victims@x.test\nSubject: s\n\nbody\n",
	    "me@example.org", rcpts, &e);

	(void)data;
	g_assert_no_error(e);
	g_assert_cmpstr(m->sender, ==, "me@example.org");
	g_assert_cmpuint(m->rcpts->len, ==, 1);
	g_assert_cmpstr(m->rcpts->pdata[0], ==, "me@phone.test");
	for (guint i = 0; i < m->fields->len; i++)
		g_assert_cmpstr(header_name(m->fields->pdata[i]), !=, "Resent-Bcc");
}

static void
test_message_bad_record(Fx *fx, gconstpointer data)
{
	static const char *const none[] = { NULL };
	static const char *const dash[] = { "-oQ/tmp", NULL };
	g_autoptr(GError) e1 = NULL;
	g_autoptr(GError) e2 = NULL;
	g_autoptr(GError) e3 = NULL;
	g_autoptr(Message) m1 = load(fx, "From: a@example.org\n\nx\n", "", none, &e1);
	g_autoptr(Message) m2 = load(fx, "From: a@example.org\n\nx\n", "", dash, &e2);
	g_autoptr(Message) m3 = load(fx, "From: a@example.org\n\nx\n", "bad sender", dash, &e3);

	(void)data;
	g_assert_null(m1);
	g_assert_error(e1, MDIR_ERROR, MDIR_ERROR_USAGE);
	g_assert_null(m2);
	g_assert_error(e2, MDIR_ERROR, MDIR_ERROR_USAGE);
	g_assert_null(m3);
	g_assert_error(e3, MDIR_ERROR, MDIR_ERROR_USAGE);
}

/* Exactly one From (issue 16.4). */
static void
test_message_one_from(Fx *fx, gconstpointer data)
{
	g_autoptr(GError) e1 = NULL;
	g_autoptr(GError) e2 = NULL;
	g_autoptr(GError) e3 = NULL;
	g_autoptr(Message) none = load(fx, "To: x@example.net\n\nx\n", NULL, NULL, &e1);
	g_autoptr(Message) two = load(fx, "From: a@example.org\nFrom: b@example.org\n"
					  "To: x@example.net\n\nx\n", NULL, NULL, &e2);
	g_autoptr(Message) one = load(fx, "From: A <a@example.org>, b@example.org\n"
					  "Sender: a@example.org\nTo: x@example.net\n\nx\n",
	    NULL, NULL, &e3);

	(void)data;
	g_assert_null(none);
	g_assert_error(e1, MDIR_ERROR, MDIR_ERROR_USAGE);
	g_assert_null(two);
	g_assert_error(e2, MDIR_ERROR, MDIR_ERROR_USAGE);
	g_assert_no_error(e3);
	g_assert_cmpstr(one->from, ==, "a@example.org");
	g_assert_cmpuint(one->froms->len, ==, 2);
	g_assert_cmpuint(one->authors->len, ==, 3);
}

/* Issue 16.10: counts edited by hand. */
static void
test_schedule_out_of_range(Fx *fx, gconstpointer data)
{
	static const char *const counts[] = { "-1", "-9223372036854775808", "0",
		"9223372036854775807", "4294967296" };

	(void)data;
	for (gsize i = 0; i < G_N_ELEMENTS(counts); i++) {
		g_autoptr(MdirRecord) r = mdir_record_new();
		gint64 next = 0;

		mdir_record_set(r, "outbox-attempts", counts[i]);
		g_assert_true(send_schedule(r, fx->config, "later", &next));
		g_assert_cmpint(next, >, 0);
		g_assert_cmpint(mdir_record_get_int(r, "outbox-attempts", 0), >=, 1);
	}
}

/* A notice is MIME that GMime reads back: the hostile text stays inside. */
static void
test_notice_gmime(Fx *fx, gconstpointer data)
{
	g_autofree char *p = entry(fx, "orig.eml",
	    "From: jo@example.org\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\n"
	    "Content-Type: text/plain\n\n--=mdir-notice=--\nnot the end\n");
	g_autofree char *subj = NULL;
	GMimeMessage *m = notice_build(p, "jo@example.org", NULL,
	    "sendmail said \"--=mdir-notice=--\"\nContent-Type: text/html", &subj);
	GMimeObject *body = g_mime_message_get_mime_part(m);
	g_autofree char *text = NULL;
	GMimeObject *att;

	(void)data;
	g_assert_cmpstr(subj, ==, "Not sent: Grüße");
	g_assert_true(GMIME_IS_MULTIPART(body));
	g_assert_cmpint(g_mime_multipart_get_count(GMIME_MULTIPART(body)), ==, 2);
	text = g_mime_text_part_get_text(
	    GMIME_TEXT_PART(g_mime_multipart_get_part(GMIME_MULTIPART(body), 0)));
	g_assert_nonnull(strstr(text, "sendmail said"));
	att = g_mime_multipart_get_part(GMIME_MULTIPART(body), 1);
	g_assert_true(GMIME_IS_MESSAGE_PART(att));
	g_assert_cmpstr(g_mime_message_get_subject(g_mime_message_part_get_message(
	    GMIME_MESSAGE_PART(att))), ==, "Grüße");
	g_object_unref(m);
}

/* Issue 16.4: whose address is whose. */
static void
test_policy_account_owns(Fx *fx, gconstpointer data)
{
	g_autofree char *accounts = g_build_filename(mdir_store_root(fx->store), ACCOUNTS, NULL);
	g_autofree char *alias = g_build_filename(accounts, "joseph@example.org", NULL);
	g_autofree char *catchall = g_build_filename(accounts, "@example.org", NULL);
	g_autofree char *other = g_build_filename(accounts, "ann@example.org", NULL);

	(void)data;
	g_assert_cmpint(symlink("jo@example.org", alias), ==, 0);
	g_assert_cmpint(symlink("jo@example.org", catchall), ==, 0);
	g_assert_cmpint(g_mkdir(other, 0700), ==, 0);
#define OWNS(a) policy_account_owns(fx->store, fx->config, "jo@example.org", a)
	g_assert_true(OWNS("jo@example.org"));
	g_assert_true(OWNS("JO@Example.ORG"));
	g_assert_true(OWNS("jo+news@example.org"));
	g_assert_true(OWNS("joseph@example.org"));
	g_assert_true(OWNS("joseph+x@example.org"));
	g_assert_false(OWNS("ann@example.org"));
	g_assert_false(OWNS("nobody@example.org")); /* only through the catch-all */
	g_assert_false(OWNS("jo@example.net"));
	g_assert_false(OWNS("jo"));
	g_assert_false(OWNS("@example.org"));
	g_assert_false(OWNS("../jo@example.org"));
	g_assert_false(OWNS("+jo@example.org"));
#undef OWNS
}

static void
test_policy_outbox_account(Fx *fx, gconstpointer data)
{
	g_autofree char *a = policy_outbox_account("SMTP/Accounts/jo@example.org/Outbox");

	(void)fx;
	(void)data;
	g_assert_cmpstr(a, ==, "jo@example.org");
	g_assert_null(policy_outbox_account("SMTP/Outbox"));
	g_assert_null(policy_outbox_account("SMTP/Accounts/jo@example.org"));
	g_assert_null(policy_outbox_account("SMTP/Accounts/jo@example.org/Outbox/x"));
	g_assert_null(policy_outbox_account("SMTP/Accounts//Outbox"));
	g_assert_null(policy_outbox_account("Users/jo/Outbox"));
}

/* Only a From in a local domain is signed; with none configured, dkim_domain's. */
static void
test_policy_may_sign(Fx *fx, gconstpointer data)
{
	static const char *const to[] = { "x@example.net", NULL };
	g_autoptr(GError) e = NULL;
	g_autoptr(Message) ours = load(fx, "From: jo@example.org\n\nx\n", "", to, &e);
	g_autoptr(Message) theirs = load(fx, "From: ceo@elsewhere.test\n\nx\n", "", to, &e);
	g_autoptr(Message) mixed = load(fx, "From: jo@example.org, ceo@elsewhere.test\n"
					    "Sender: jo@example.org\n\nx\n", "", to, &e);
	g_autofree char *path = test_write_tmp("d.conf", "[outbox]\ndkim_domain = example.org\n");
	g_autoptr(MdirConfig) bare = mdir_config_load(path, &e);

	(void)data;
	g_assert_no_error(e);
	g_assert_true(policy_may_sign(fx->config, ours));
	g_assert_false(policy_may_sign(fx->config, theirs));
	g_assert_false(policy_may_sign(fx->config, mixed));
	g_assert_true(policy_may_sign(bare, ours));
	g_assert_false(policy_may_sign(bare, theirs));
}

/* mdir's own outbox is made 0700. */
static void
test_policy_own_private(Fx *fx, gconstpointer data)
{
	g_autofree char *own = g_build_filename(mdir_store_root(fx->store), OWN_OUTBOX, NULL);
	g_autoptr(GError) e = NULL;
	struct stat st;

	(void)data;
	g_assert_cmpint(chmod(own, 0770), ==, 0);
	g_assert_true(policy_own_outbox_private(own, &e));
	g_assert_no_error(e);
	g_assert_cmpint(stat(own, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0700);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_mime_init();
#define T(path, fn, data) g_test_add(path, Fx, data, fx_up, fn, fx_down)
	T("/outbox/entry/symlink-and-fifo", test_entry_symlink, NULL);
	T("/outbox/entry/regular", test_entry_regular, NULL);
	T("/outbox/entry/big", test_entry_big, NULL);
	T("/outbox/run/symlink-to-key", test_run_symlink, NULL);
	T("/outbox/message/record-envelope", test_message_record_envelope, NULL);
	T("/outbox/message/bad-record", test_message_bad_record, NULL);
	T("/outbox/message/one-from", test_message_one_from, NULL);
	T("/outbox/schedule/out-of-range", test_schedule_out_of_range, NULL);
	T("/outbox/notice/gmime", test_notice_gmime, NULL);
	T("/outbox/policy/account-owns", test_policy_account_owns, NULL);
	T("/outbox/policy/outbox-account", test_policy_outbox_account, NULL);
	T("/outbox/policy/may-sign", test_policy_may_sign, NULL);
	T("/outbox/policy/own-private", test_policy_own_private, NULL);
	return g_test_run();
}
