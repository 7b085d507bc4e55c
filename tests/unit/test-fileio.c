/* Unit tests of fileio.c: durable writes. */
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

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/fileio/replace", test_replace);
	g_test_add_func("/fileio/errors-name-path", test_errors_name_path);
	g_test_add_func("/fileio/crash-leaves-old", test_crash_leaves_old);
	return g_test_run();
}
