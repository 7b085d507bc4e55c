/* Unit tests of store.c and url.c: the content store (DESIGN §2, §3). */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static guint
count_messages(MdirStore *store)
{
	g_autofree char *msg = g_build_filename(mdir_store_root(store), ".mstore", "msg", NULL);
	g_autoptr(GDir) top = g_dir_open(msg, 0, NULL);
	const char *h2;
	guint n = 0;

	while (top && (h2 = g_dir_read_name(top)) != NULL) {
		g_autofree char *sub = g_build_filename(msg, h2, NULL);
		g_autoptr(GDir) d = g_dir_open(sub, 0, NULL);

		while (d && g_dir_read_name(d))
			n++;
	}
	return n;
}

static void
test_duplicate(void)
{
	g_autoptr(MdirStore) s = test_store();
	MdirStoreOutcome o1, o2;
	g_autofree char *a = test_store_message(s, "Subject: x\n\nbody\n", "<m1@example.org>", &o1);
	g_autofree char *b = test_store_message(s, "Subject: x\n\nbody\n", "m1@example.org", &o2);

	g_assert_cmpstr(a, ==, "m1@example.org");
	g_assert_cmpstr(b, ==, a);
	g_assert_cmpint(o1, ==, MDIR_STORE_NEW);
	g_assert_cmpint(o2, ==, MDIR_STORE_DUPLICATE);
	g_assert_cmpuint(count_messages(s), ==, 1);
}

static void
test_id_reused(void)
{
	g_autoptr(MdirStore) s = test_store();
	MdirStoreOutcome o;
	g_autofree char *a = test_store_message(s, "one\n", "same@x", &o);
	g_autofree char *b = test_store_message(s, "two\n", "same@x", &o);
	g_autofree char *c = test_store_message(s, "two\n", "same@x", &o);
	g_autofree char *url = mdir_url_build(b, 0);
	g_autoptr(MdirRecord) r = mdir_store_load_record(s, url, NULL);

	g_assert_cmpstr(a, ==, "same@x");
	g_assert_true(g_str_has_prefix(b, "same@x~"));
	g_assert_cmpuint(strlen(b), ==, strlen("same@x~") + 12);
	/* the second message delivered again is found again, not a third copy */
	g_assert_cmpstr(c, ==, b);
	g_assert_cmpint(o, ==, MDIR_STORE_DUPLICATE);
	g_assert_cmpuint(count_messages(s), ==, 2);
	g_assert_cmpstr(mdir_record_get(r, "message-id"), ==, "same@x");
	g_assert_cmpstr(mdir_record_get(r, "url"), ==, url);
}

static void
test_no_message_id(void)
{
	g_autoptr(MdirStore) s = test_store();
	MdirStoreOutcome o;
	g_autofree char *a = test_store_message(s, "no id here\n", NULL, &o);
	g_autofree char *b = test_store_message(s, "no id here\n", "  ", &o);

	g_assert_true(g_str_has_suffix(a, "@mdir.invalid"));
	g_assert_cmpstr(a, ==, b);
	g_assert_cmpint(o, ==, MDIR_STORE_DUPLICATE);
}

static void
test_records(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirStoreTxn) txn = mdir_store_txn_begin(s, &error);
	g_autoptr(MdirRecord) r0 = NULL;
	g_autoptr(MdirRecord) r1 = NULL;
	g_autofree char *id = NULL;
	g_autofree char *path = NULL;
	g_autofree char *content = NULL;

	for (guint part = 0; part < 2; part++) {
		const char *text = part ? "leaf" : "raw message";

		g_assert_true(mdir_store_txn_open_part(txn, part, &error));
		g_assert_true(mdir_store_txn_write(txn, text, strlen(text), &error));
		g_assert_true(mdir_store_txn_close_part(txn, &error));
		mdir_record_add(mdir_store_txn_record(txn, part), "content-type", "text/plain");
	}
	g_assert_true(mdir_store_txn_commit(txn, "r@x", &id, NULL, &error));
	r0 = mdir_store_load_record(s, "mstore:r@x/0", &error);
	r1 = mdir_store_load_record(s, "mstore:r@x/1", &error);
	g_assert_no_error(error);
	g_assert_cmpstr(mdir_record_get(r1, "url"), ==, "mstore:r@x/1");
	g_assert_cmpstr(mdir_record_get(r1, "anchor"), ==, "mstore:r@x/0");
	g_assert_cmpstr(mdir_record_get(r1, "parts"), ==, "1");
	g_assert_cmpstr(mdir_record_get(r1, "part"), ==, "1");
	g_assert_cmpstr(mdir_record_get(r1, "size"), ==, "4");
	g_assert_cmpstr(mdir_record_get(r1, "sha256"), ==,
	    "9f91161f43433e49a6de6db680d79f60159f2e4ac9172621a12846428158440b");
	g_assert_cmpstr(mdir_record_get(r0, "content-type"), ==, "text/plain");
	path = mdir_store_part_path(s, "mstore:r@x/0", &error);
	g_assert_true(g_file_get_contents(path, &content, NULL, NULL));
	g_assert_cmpstr(content, ==, "raw message");
	g_assert_null(mdir_store_part_path(s, "mstore:r@x/2", &error));
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_NOT_FOUND);
}

static void
test_url(void)
{
	const char *ids[] = { "a@b", "we/ird%id with space@x", "caf\xc3\xa9@x", "<>@x",
		"a+b=c$!@x" };
	g_autoptr(GError) error = NULL;
	g_autofree char *u = mdir_url_build("a/b@x", 3);

	g_assert_cmpstr(u, ==, "mstore:a%2Fb@x/3");
	for (gsize i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_autofree char *url = mdir_url_build(ids[i], 7);
		g_autofree char *id = NULL;
		guint part = 0;

		g_assert_true(mdir_url_parse(url, &id, &part, &error));
		g_assert_cmpstr(id, ==, ids[i]);
		g_assert_cmpuint(part, ==, 7);
		g_assert_null(strchr(url + 7, ' '));
	}
	const char *bad[] = { "http://x/1", "mstore:", "mstore:/1", "mstore:a@b/",
		"mstore:a@b/x", "mstore:a@b/-1", "mstore:%/1" };
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_assert_false(mdir_url_parse(bad[i], NULL, NULL, &error));
		g_assert_error(error, MDIR_ERROR, MDIR_ERROR_BAD_URL);
		g_clear_error(&error);
	}
}

static void
test_half_written(void)
{
	g_autoptr(MdirStore) s = test_store();

	if (g_test_subprocess()) {
		g_autoptr(MdirStoreTxn) txn = mdir_store_txn_begin(s, NULL);

		mdir_store_txn_open_part(txn, 0, NULL);
		mdir_store_txn_write(txn, "half a mess", 11, NULL);
		_exit(0); /* killed before the commit */
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_passed();
	g_assert_cmpuint(count_messages(s), ==, 0);
}

static void
test_concurrent_same_id(void)
{
	g_autoptr(MdirStore) s = test_store();
	pid_t pids[4];

	for (int i = 0; i < 4; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			g_autoptr(MdirStore) cs = test_store();
			MdirStoreOutcome o;
			g_autofree char *id = test_store_message(cs, "same bytes\n", "race@x", &o);

			_exit(strcmp(id, "race@x") == 0 ? 0 : 1);
		}
	}
	for (int i = 0; i < 4; i++) {
		int status;

		g_assert_cmpint(waitpid(pids[i], &status, 0), ==, pids[i]);
		g_assert_true(WIFEXITED(status));
		g_assert_cmpint(WEXITSTATUS(status), ==, 0);
	}
	g_assert_cmpuint(count_messages(s), ==, 1);
}

static void
test_free_removes_tmp(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autofree char *tmp = g_build_filename(mdir_store_root(s), ".mstore", "tmp", NULL);
	MdirStoreTxn *txn = mdir_store_txn_begin(s, NULL);
	g_autoptr(GDir) d = NULL;

	mdir_store_txn_open_part(txn, 0, NULL);
	mdir_store_txn_write(txn, "x", 1, NULL);
	mdir_store_txn_free(txn);
	d = g_dir_open(tmp, 0, NULL);
	g_assert_null(g_dir_read_name(d));
}

static void
test_large_streamed(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirStoreTxn) txn = mdir_store_txn_begin(s, &error);
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
	g_autoptr(MdirRecord) r = NULL;
	g_autofree char *id = NULL;
	char chunk[10007];

	memset(chunk, 'q', sizeof(chunk));
	g_assert_true(mdir_store_txn_open_part(txn, 0, &error));
	for (int i = 0; i < 800; i++) {
		chunk[i % sizeof(chunk)] = (char)i;
		g_checksum_update(sum, (guchar *)chunk, sizeof(chunk));
		g_assert_true(mdir_store_txn_write(txn, chunk, sizeof(chunk), &error));
	}
	g_assert_true(mdir_store_txn_close_part(txn, &error));
	g_assert_true(mdir_store_txn_commit(txn, "big@x", &id, NULL, &error));
	r = mdir_store_load_record(s, "mstore:big@x/0", &error);
	g_assert_cmpint(mdir_record_get_int(r, "size", 0), ==, 800 * 10007);
	g_assert_cmpstr(mdir_record_get(r, "sha256"), ==, g_checksum_get_string(sum));
}

static void
test_put_file(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autofree char *path = test_write_tmp("note.txt", "a note\n");
	g_autoptr(MdirRecord) extra = mdir_record_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *u1 = NULL;
	g_autofree char *u2 = NULL;
	g_autoptr(MdirRecord) r = NULL;

	mdir_record_add(extra, "suggested-name", "note.txt");
	g_assert_true(mdir_store_put_file(s, path, extra, &u1, &error));
	g_assert_true(mdir_store_put_file(s, path, extra, &u2, &error));
	g_assert_cmpstr(u1, ==, u2);
	r = mdir_store_load_record(s, u1, &error);
	g_assert_cmpstr(mdir_record_get(r, "suggested-name"), ==, "note.txt");
	g_assert_false(mdir_store_put_file(s, "/nonexistent", extra, &u1, &error));
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/store/put/duplicate", test_duplicate);
	g_test_add_func("/store/put/id-reused", test_id_reused);
	g_test_add_func("/store/put/no-message-id", test_no_message_id);
	g_test_add_func("/store/put/records", test_records);
	g_test_add_func("/store/put/large-streamed", test_large_streamed);
	g_test_add_func("/store/put/file", test_put_file);
	g_test_add_func("/store/url", test_url);
	g_test_add_func("/store/crash/half-written", test_half_written);
	g_test_add_func("/store/race/same-id", test_concurrent_same_id);
	g_test_add_func("/store/txn/free-removes-tmp", test_free_removes_tmp);
	return g_test_run();
}
