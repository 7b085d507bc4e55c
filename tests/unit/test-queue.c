/* Unit tests of queue.c: header batches in .mdird/queue, and the poke. */
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "testutil.h"
#include "private.h"

#define KEY "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static GPtrArray *
one_batch(const char *anchor)
{
	GPtrArray *recs = g_ptr_array_new_with_free_func((GDestroyNotify)mdir_record_free);
	MdirRecord *r = mdir_record_new();

	mdir_record_add(r, "anchor", anchor);
	g_ptr_array_add(recs, r);
	return recs;
}

static guint
n_queued(MdirStore *s)
{
	g_autoptr(GPtrArray) names = mdir_queue_list(s, NULL);

	return names->len;
}

static void
test_write_once(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(GPtrArray) recs = one_batch("mstore:once@test/0");
	g_autoptr(GError) error = NULL;
	g_autofree char *n1 = NULL, *n2 = NULL, *n3 = NULL, *p1 = NULL;
	g_autofree char *dir = mdir_queue_dir(s);
	g_autofree char *pending = g_build_filename(dir, "." KEY, NULL);
	g_autofree char *key = g_build_filename(mdir_store_root(s), ".mdird", "keys", "01", KEY,
	    NULL);

	g_assert_true(mdir_queue_write_once(s, recs, KEY, &n1, &error));
	g_assert_no_error(error);
	g_assert_nonnull(n1);
	g_assert_true(g_file_test(key, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(pending, G_FILE_TEST_EXISTS));
	/* the same key again: nothing queued, no error */
	g_assert_true(mdir_queue_write_once(s, recs, KEY, &n2, &error));
	g_assert_null(n2);
	g_assert_cmpuint(n_queued(s), ==, 1);
	/* gone from the queue (mdird filed it): still nothing queued */
	p1 = g_build_filename(dir, n1, NULL);
	g_assert_cmpint(g_unlink(p1), ==, 0);
	g_assert_true(mdir_queue_write_once(s, recs, KEY, &n2, &error));
	g_assert_null(n2);
	g_assert_cmpuint(n_queued(s), ==, 0);
	/* a delivery killed after its key, before the rename: the retry queues */
	g_assert_true(g_file_set_contents(pending, "half", -1, NULL));
	g_assert_true(mdir_queue_write_once(s, recs, KEY, &n3, &error));
	g_assert_nonnull(n3);
	g_assert_cmpuint(n_queued(s), ==, 1);
	g_assert_false(g_file_test(pending, G_FILE_TEST_EXISTS));
}

static void
test_roundtrip(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(GPtrArray) recs = g_ptr_array_new_with_free_func((GDestroyNotify)mdir_record_free);
	g_autoptr(GPtrArray) back = NULL;
	g_autoptr(GPtrArray) names = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *n1 = NULL, *n2 = NULL, *dir = mdir_queue_dir(s), *path = NULL;

	for (int i = 0; i < 3; i++) {
		MdirRecord *r = mdir_record_new();

		mdir_record_set_int(r, "part", i);
		mdir_record_add(r, "subject", "line\nbreak");
		g_ptr_array_add(recs, r);
	}
	g_assert_true(mdir_queue_write(s, recs, &n1, &error));
	g_assert_true(mdir_queue_write(s, recs, &n2, &error));
	g_assert_cmpstr(n1, <, n2); /* names sort in arrival order */
	names = mdir_queue_list(s, &error);
	g_assert_cmpuint(names->len, ==, 2);
	g_assert_cmpstr(names->pdata[0], ==, n1);
	path = g_build_filename(dir, n1, NULL);
	back = mdir_queue_read(path, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(back->len, ==, 3);
	g_assert_cmpint(mdir_record_get_int(back->pdata[2], "part", -1), ==, 2);
	g_assert_cmpstr(mdir_record_get(back->pdata[1], "subject"), ==, "line break");
}

static void
test_read_errors(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autofree char *dir = mdir_queue_dir(s);
	g_autofree char *bad = g_build_filename(dir, "bad", NULL);
	g_autofree char *hidden = g_build_filename(dir, ".half-written", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = NULL;

	g_assert_true(g_file_set_contents(bad, "a: 1\n\nno colon\n", -1, NULL));
	g_assert_null(mdir_queue_read(bad, &error));
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_CORRUPT);
	g_assert_nonnull(strstr(error->message, "record 2"));
	g_assert_true(g_file_set_contents(hidden, "x: y\n", -1, NULL));
	names = mdir_queue_list(s, NULL);
	g_assert_cmpuint(names->len, ==, 1); /* dot names are not batches */
}

static void
test_poke(void)
{
	g_autofree char *path = g_build_filename(test_dir(), "sock", NULL);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	g_autoptr(GError) error = NULL;
	char buf[64] = { 0 };
	int srv, c;

	g_assert_false(mdir_daemon_poke(path, &error)); /* nobody listens */
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
	g_clear_error(&error);
	strcpy(sa.sun_path, path);
	srv = socket(AF_UNIX, SOCK_STREAM, 0);
	g_assert_cmpint(bind(srv, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	g_assert_cmpint(listen(srv, 1), ==, 0);
	g_assert_true(mdir_daemon_poke(path, &error));
	c = accept(srv, NULL, NULL);
	g_assert_cmpint(read(c, buf, sizeof(buf) - 1), >, 0);
	g_assert_true(g_str_has_prefix(buf, "POKE\r\n"));
	close(c);
	close(srv);
}

/* Writes @text to .mdird/@sub/@name, @age seconds old. */
static char *
put(MdirStore *s, const char *sub, const char *name, const char *text, gint64 age)
{
	g_autofree char *dir = g_build_filename(mdir_store_root(s), ".mdird", sub, NULL);
	char *path = g_build_filename(dir, name, NULL);
	struct utimbuf t = { time(NULL) - age, time(NULL) - age };

	g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
	g_assert_cmpint(utime(path, &t), ==, 0);
	return path;
}

static void
test_clean(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(GError) error = NULL;
	g_autofree char *stale = put(s, "queue", ".old", "x", 2 * MDIR_QUEUE_STALE);
	g_autofree char *young = put(s, "queue", ".new", "x", 10);
	g_autofree char *batch = put(s, "queue", "0001.b", "x", 2 * MDIR_QUEUE_STALE);
	g_autofree char *pending = put(s, "queue", "." KEY, "x", 2 * MDIR_QUEUE_STALE);
	g_autofree char *key = put(s, "keys/01", KEY, "", 2 * MDIR_QUEUE_STALE);
	guint n = 0;

	g_assert_true(mdir_queue_clean(s, MDIR_QUEUE_STALE, &n, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(n, ==, 2);
	g_assert_false(g_file_test(stale, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(pending, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(key, G_FILE_TEST_EXISTS)); /* the retry queues again */
	g_assert_true(g_file_test(young, G_FILE_TEST_EXISTS));
	g_assert_true(g_file_test(batch, G_FILE_TEST_EXISTS)); /* a batch is no litter */
}

static void
test_clean_locked(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autofree char *pending = put(s, "queue", "." KEY, "x", 2 * MDIR_QUEUE_STALE);
	g_autofree char *lock = put(s, "keys/01", ".lock", "", 0);
	int fd = open(lock, O_RDWR);
	guint n = 7;

	/* a delivery of that shard holds its lock: left alone */
	g_assert_cmpint(flock(fd, LOCK_EX), ==, 0);
	g_assert_true(mdir_queue_clean(s, MDIR_QUEUE_STALE, &n, NULL));
	g_assert_cmpuint(n, ==, 0);
	g_assert_true(g_file_test(pending, G_FILE_TEST_EXISTS));
	close(fd);
}

static void
test_anchors(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(GError) error = NULL;
	g_autoptr(GHashTable) named = NULL;
	g_autofree char *p1 = put(s, "queue", "0001.a", "batch: 1\nanchor: mstore:q@x/0\n\n"
	    "url: mstore:q@x/1\nanchor: mstore:q@x/0\n", 0);
	g_autofree char *p2 = put(s, "work", "0002.a", "anchor: mstore:w@x/0\n", 0);
	g_autofree char *p3 = put(s, "failed", "0003.a", "anchor: mstore:f@x/0\n", 0);
	g_autofree char *p4 = put(s, "queue", ".0004.a", "anchor: mstore:writing@x/0\n", 10);
	g_autofree char *p5 = put(s, "queue", ".0005.a", "anchor: mstore:litter@x/0",
	    2 * MDIR_QUEUE_STALE);

	named = mdir_queue_anchors(s, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(g_hash_table_size(named), ==, 4);
	g_assert_true(g_hash_table_contains(named, "mstore:q@x/0"));
	g_assert_true(g_hash_table_contains(named, "mstore:w@x/0"));
	g_assert_true(g_hash_table_contains(named, "mstore:f@x/0"));
	g_assert_true(g_hash_table_contains(named, "mstore:writing@x/0"));
	g_assert_false(g_hash_table_contains(named, "mstore:litter@x/0"));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/queue/roundtrip", test_roundtrip);
	g_test_add_func("/queue/read-errors", test_read_errors);
	g_test_add_func("/queue/poke", test_poke);
	g_test_add_func("/queue/write-once", test_write_once);
	g_test_add_func("/queue/clean", test_clean);
	g_test_add_func("/queue/clean-locked", test_clean_locked);
	g_test_add_func("/queue/anchors", test_anchors);
	return g_test_run();
}
