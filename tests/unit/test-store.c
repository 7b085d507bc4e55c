/* Unit tests of store.c and url.c: the content store (DESIGN §2, §3). */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

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

/* Where a message of a Message-ID and a content is: its own id, or kept apart. */
static void
test_lookup(void)
{
	g_autoptr(MdirStore) s = test_store();
	MdirStoreOutcome o;
	g_autofree char *a = test_store_message(s, "one\n", "<same@x>", &o);
	g_autofree char *b = test_store_message(s, "two\n", "same@x", &o);
	g_autofree char *c = test_store_message(s, "three\n", NULL, &o);
	g_autofree char *sha_a = mdir_sha256_hex("one\n", 4);
	g_autofree char *sha_b = mdir_sha256_hex("two\n", 4);
	g_autofree char *sha_c = mdir_sha256_hex("three\n", 6);
	g_autofree char *none = mdir_sha256_hex("four\n", 5);
	g_autofree char *la = mdir_store_lookup(s, "same@x", sha_a, NULL);
	g_autofree char *lb = mdir_store_lookup(s, "<same@x>", sha_b, NULL);
	g_autofree char *lc = mdir_store_lookup(s, NULL, sha_c, NULL);
	g_autoptr(GError) e = NULL;
	g_autofree char *ln = mdir_store_lookup(s, "same@x", none, &e);

	g_assert_cmpstr(la, ==, a);
	g_assert_cmpstr(lb, ==, b);
	g_assert_cmpstr(lc, ==, c);
	g_assert_null(ln);
	g_assert_error(e, MDIR_ERROR, MDIR_ERROR_NOT_FOUND);
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

/*
 * After commit the transaction holds its records as the store has them
 * (receive.c queues them from there, not reading them back), values that
 * the writer escapes included.
 */
static void
test_records_kept(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirStoreTxn) txn = mdir_store_txn_begin(s, &error);
	g_autofree char *id = NULL;

	for (guint part = 0; part < 2; part++) {
		g_assert_true(mdir_store_txn_open_part(txn, part, &error));
		g_assert_true(mdir_store_txn_write(txn, "x", 1, &error));
		g_assert_true(mdir_store_txn_close_part(txn, &error));
		mdir_record_add(mdir_store_txn_record(txn, part), "subject", " \\lead\r\n");
		mdir_record_add(mdir_store_txn_record(txn, part), "url", "mine, replaced");
	}
	g_assert_true(mdir_store_txn_commit(txn, "<k@x>", &id, NULL, &error));
	for (guint part = 0; part < 2; part++) {
		g_autofree char *url = mdir_url_build(id, part);
		g_autoptr(MdirRecord) stored = mdir_store_load_record(s, url, &error);
		g_autofree char *want = NULL;
		g_autofree char *got = NULL;

		g_assert_no_error(error);
		want = mdir_record_to_string(stored, NULL);
		got = mdir_record_to_string(mdir_store_txn_record(txn, part), NULL);
		g_assert_cmpstr(got, ==, want);
		g_assert_cmpstr(mdir_record_get(mdir_store_txn_record(txn, part), "url"), ==, url);
	}
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

static char *
tmp_dir(MdirStore *s)
{
	return g_build_filename(mdir_store_root(s), ".mstore", "tmp", NULL);
}

/* A path made by mdir_store_tmp_open() in a child process. */
static char *
tmp_open_in_child(MdirStore *s)
{
	char buf[4096];
	int fds[2];
	int status;
	ssize_t n;
	pid_t pid;

	g_assert_cmpint(pipe(fds), ==, 0);
	pid = fork();
	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		g_autofree char *path = NULL;
		int fd = mdir_store_tmp_open(s, 0660, &path, NULL);

		_exit(fd < 0 || write(fds[1], path, strlen(path)) < 0);
	}
	close(fds[1]);
	n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	g_assert_cmpint(n, >, 0);
	buf[n] = '\0';
	return g_strdup(buf);
}

/* New files in the store's tmp, each its own, from one process and from two. */
static void
test_tmp_open(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(GError) error = NULL;
	g_autofree char *tmp = tmp_dir(s);
	g_autofree char *a = NULL;
	g_autofree char *b = NULL;
	g_autofree char *c = NULL;
	g_autofree char *dir = NULL;
	struct stat st;
	int fa, fb;

	fa = mdir_store_tmp_open(s, 0660, &a, &error);
	g_assert_no_error(error);
	fb = mdir_store_tmp_open(s, 0660, &b, &error);
	g_assert_no_error(error);
	c = tmp_open_in_child(s);
	g_assert_cmpint(fa, >=, 0);
	g_assert_cmpint(fb, >=, 0);
	g_assert_cmpstr(a, !=, b);
	g_assert_cmpstr(a, !=, c);
	g_assert_cmpstr(b, !=, c);
	dir = g_path_get_dirname(a);
	g_assert_cmpstr(dir, ==, tmp);
	g_assert_cmpuint(test_count_dir(s, ".mstore/tmp"), ==, 3);
	/* a new, empty regular file, open for writing, not inherited by a program run */
	g_assert_cmpint(lstat(a, &st), ==, 0);
	g_assert_true(S_ISREG(st.st_mode));
	g_assert_cmpint(st.st_size, ==, 0);
	g_assert_cmpint(write(fa, "x", 1), ==, 1);
	g_assert_cmpint(fcntl(fa, F_GETFD) & FD_CLOEXEC, ==, FD_CLOEXEC);
	g_assert_cmpint(fcntl(fa, F_GETFL) & O_ACCMODE, ==, O_RDWR);
	close(fa);
	close(fb);
}

/* The mode asked for, less the umask, never more open than the store's 0660. */
static void
test_tmp_mode(void)
{
	g_autoptr(MdirStore) s = test_store();
	static const guint asked[] = { 0660, 0600, 0777, 0440 };
	static const guint given[] = { 0640, 0600, 0640, 0440 };
	mode_t old = umask(022);

	for (gsize i = 0; i < G_N_ELEMENTS(asked); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *path = NULL;
		int fd = mdir_store_tmp_open(s, asked[i], &path, &error);
		struct stat st;

		g_assert_no_error(error);
		g_assert_cmpint(fstat(fd, &st), ==, 0);
		g_assert_cmpuint(st.st_mode & 07777, ==, given[i]);
		close(fd);
	}
	umask(old);
}

/* A tmp that may not be written: a G_FILE_ERROR naming it, no path, nothing left. */
static void
test_tmp_unwritable(void)
{
	if (g_test_subprocess()) {
		g_autoptr(MdirStore) s = test_store();
		g_autofree char *tmp = tmp_dir(s);
		char before[] = "not set";
		char *path = before;
		GError *error = NULL;

		g_assert_cmpint(g_chmod(tmp, 0500), ==, 0);
		test_drop_dac_override();
		g_assert_cmpint(mdir_store_tmp_open(s, 0660, &path, &error), ==, -1);
		g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_ACCES);
		g_assert_true(g_str_has_prefix(error->message, tmp));
		g_assert_null(path);
		g_assert_cmpuint(test_count_dir(s, ".mstore/tmp"), ==, 0);
		g_error_free(error);
		return;
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_passed();
}

/* Only what is older than asked is litter. */
static void
test_tmp_litter(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) past_hour = NULL;
	g_autoptr(GPtrArray) past_3h = NULL;
	g_autofree char *stale = NULL;
	g_autofree char *fresh = NULL;
	struct utimbuf then = { time(NULL) - 7200, time(NULL) - 7200 };
	/* now by the clock the library reads: under tests/run --date it is not
	 * the kernel's, which stamped the new file */
	struct utimbuf now = { time(NULL), time(NULL) };

	close(mdir_store_tmp_open(s, 0660, &stale, &error));
	close(mdir_store_tmp_open(s, 0660, &fresh, &error));
	g_assert_no_error(error);
	g_assert_cmpint(utime(stale, &then), ==, 0);
	g_assert_cmpint(utime(fresh, &now), ==, 0);
	past_hour = mdir_store_tmp_litter(s, 3600, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(past_hour->len, ==, 1);
	g_assert_cmpstr(past_hour->pdata[0], ==, stale);
	past_3h = mdir_store_tmp_litter(s, 10800, &error);
	g_assert_cmpuint(past_3h->len, ==, 0);
}

/* A stored message goes whole; anything but a message directory is refused. */
static void
test_remove_message(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(GError) error = NULL;
	g_autofree char *id = test_store_message(s, "gone\n", "gone@x", NULL);
	g_autofree char *keep = test_store_message(s, "kept\n", "kept@x", NULL);
	g_autofree char *dir = mdir_store_message_dir(s, id);
	g_autofree char *other = mdir_store_message_dir(s, keep);
	g_autofree char *bucket = g_path_get_dirname(other);
	g_autofree char *dotdot = g_build_filename(other, "..", NULL);
	g_autofree char *accounts = g_build_filename(mdir_store_root(s), "SMTP", "Accounts",
	    NULL);
	const char *const wrong[] = { bucket, dotdot, accounts, "/tmp" };

	g_assert_true(mdir_store_remove_message(s, dir, &error));
	g_assert_no_error(error);
	g_assert_false(g_file_test(dir, G_FILE_TEST_EXISTS));
	g_assert_cmpuint(count_messages(s), ==, 1);
	g_assert_cmpuint(test_count_dir(s, ".mstore/tmp"), ==, 0);
	for (gsize i = 0; i < G_N_ELEMENTS(wrong); i++) {
		GError *e = NULL;

		g_assert_false(mdir_store_remove_message(s, wrong[i], &e));
		g_assert_error(e, MDIR_ERROR, MDIR_ERROR_USAGE);
		g_error_free(e);
	}
	g_assert_false(mdir_store_remove_message(s, dir, &error));
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
	g_assert_cmpuint(count_messages(s), ==, 1);
	g_assert_true(g_file_test(accounts, G_FILE_TEST_IS_DIR));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/store/put/duplicate", test_duplicate);
	g_test_add_func("/store/put/id-reused", test_id_reused);
	g_test_add_func("/store/put/no-message-id", test_no_message_id);
	g_test_add_func("/store/lookup", test_lookup);
	g_test_add_func("/store/put/records", test_records);
	g_test_add_func("/store/put/records-kept", test_records_kept);
	g_test_add_func("/store/put/large-streamed", test_large_streamed);
	g_test_add_func("/store/put/file", test_put_file);
	g_test_add_func("/store/url", test_url);
	g_test_add_func("/store/crash/half-written", test_half_written);
	g_test_add_func("/store/race/same-id", test_concurrent_same_id);
	g_test_add_func("/store/txn/free-removes-tmp", test_free_removes_tmp);
	g_test_add_func("/store/tmp/open", test_tmp_open);
	g_test_add_func("/store/tmp/mode", test_tmp_mode);
	g_test_add_func("/store/tmp/unwritable", test_tmp_unwritable);
	g_test_add_func("/store/tmp/litter", test_tmp_litter);
	g_test_add_func("/store/remove-message", test_remove_message);
	return g_test_run();
}
