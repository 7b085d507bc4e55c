/* Unit tests of fileio.c: durable writes. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static guint
count_entries(const char *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	guint n = 0;

	while (d && g_dir_read_name(d))
		n++;
	return n;
}

static void
test_replace(void)
{
	g_autofree char *dir = g_build_filename(test_dir(), "durable", NULL);
	g_autofree char *path = g_build_filename(dir, "f", NULL);
	g_autofree char *copy = g_build_filename(dir, "g", NULL);
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;

	g_assert_true(mdir_mkdir_durable(dir, &error));
	g_assert_true(mdir_file_write_durable(path, "old", 3, &error));
	g_assert_true(mdir_file_write_durable(path, "new!", 4, &error));
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	g_assert_cmpstr(text, ==, "new!");
	g_assert_true(mdir_file_copy_durable(path, copy, &error));
	g_clear_pointer(&text, g_free);
	g_assert_true(g_file_get_contents(copy, &text, NULL, NULL));
	g_assert_cmpstr(text, ==, "new!");
	/* no temporary file is left behind */
	g_assert_cmpuint(count_entries(dir), ==, 2);
}

static void
test_errors_name_path(void)
{
	g_autoptr(GError) error = NULL;

	g_assert_false(mdir_file_write_durable("/nonexistent/dir/f", "x", 1, &error));
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
	g_assert_nonnull(strstr(error->message, "/nonexistent/dir/"));
	g_clear_error(&error);
	g_assert_false(mdir_file_copy_durable("/nonexistent", "/tmp/x", &error));
	g_assert_cmpstr(error->message, ==, "/nonexistent: No such file or directory");
}

static void
test_crash_leaves_old(void)
{
	g_autofree char *dir = g_build_filename(test_dir(), "crash", NULL);
	g_autofree char *path = g_build_filename(dir, "f", NULL);
	g_autofree char *text = NULL;

	g_assert_true(mdir_mkdir_durable(dir, NULL));
	g_assert_true(mdir_file_write_durable(path, "complete", 8, NULL));
	if (g_test_subprocess()) {
		/* a writer killed half-way: its temporary file never replaces f */
		g_autofree char *tmp = g_build_filename(dir, ".tmp.f.crashed", NULL);

		g_file_set_contents(tmp, "compl", 5, NULL);
		_exit(0);
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_passed();
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	g_assert_cmpstr(text, ==, "complete");
}

/* A tool's own file (a lock, the events file): made, but never followed. */
static void
test_open_nofollow(void)
{
	g_autofree char *dir = g_build_filename(test_dir(), "own", NULL);
	g_autofree char *file = g_build_filename(dir, "lock", NULL);
	g_autofree char *victim = g_build_filename(test_dir(), "victim", NULL);
	g_autofree char *linked = g_build_filename(test_dir(), "linked", NULL);
	g_autofree char *via = g_build_filename(linked, "lock", NULL);
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;
	int fd;

	/* made with its directory when missing */
	fd = mdir_file_open_nofollow(file, O_RDWR | O_CREAT, &error);
	g_assert_no_error(error);
	g_assert_cmpint(fd, >=, 0);
	close(fd);
	g_assert_true(g_file_test(file, G_FILE_TEST_IS_REGULAR));
	/* a link as the file: refused, what it leads to untouched */
	g_assert_true(g_file_set_contents(victim, "private", -1, NULL));
	g_assert_cmpint(unlink(file), ==, 0);
	g_assert_cmpint(symlink(victim, file), ==, 0);
	fd = mdir_file_open_nofollow(file, O_WRONLY | O_APPEND | O_CREAT, &error);
	g_assert_cmpint(fd, ==, -1);
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT);
	g_assert_nonnull(strstr(error->message, file));
	g_assert_nonnull(strstr(error->message, "symbolic link"));
	g_clear_error(&error);
	/* a link as its directory: refused too */
	g_assert_cmpint(symlink(dir, linked), ==, 0);
	fd = mdir_file_open_nofollow(via, O_RDONLY, &error);
	g_assert_cmpint(fd, ==, -1);
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT);
	g_assert_nonnull(strstr(error->message, linked));
	g_clear_error(&error);
	g_assert_cmpint(mdir_dir_open_nofollow(linked, TRUE, &error), ==, -1);
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT);
	g_clear_error(&error);
	/* a dangling one, which the mkdir trips over first */
	g_assert_cmpint(unlink(linked), ==, 0);
	g_assert_cmpint(symlink("/nonexistent", linked), ==, 0);
	g_assert_cmpint(mdir_file_open_nofollow(via, O_RDWR | O_CREAT, &error), ==, -1);
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT);
	g_clear_error(&error);
	g_assert_true(g_file_get_contents(victim, &text, NULL, NULL));
	g_assert_cmpstr(text, ==, "private");
	/* a missing file without O_CREAT is the plain error */
	g_assert_cmpint(mdir_file_open_nofollow("/nonexistent/f", O_RDONLY, &error), ==, -1);
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/fileio/replace", test_replace);
	g_test_add_func("/fileio/errors-name-path", test_errors_name_path);
	g_test_add_func("/fileio/crash-leaves-old", test_crash_leaves_old);
	g_test_add_func("/fileio/open-nofollow", test_open_nofollow);
	return g_test_run();
}
