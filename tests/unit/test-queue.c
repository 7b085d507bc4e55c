/* Unit tests of queue.c: header batches in .mdird/queue, and the poke. */
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

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

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/queue/roundtrip", test_roundtrip);
	g_test_add_func("/queue/read-errors", test_read_errors);
	g_test_add_func("/queue/poke", test_poke);
	g_test_add_func("/queue/write-once", test_write_once);
	return g_test_run();
}
