/* Unit tests of log.c: one line to stderr, levels. */
#include <syslog.h>

#include "testutil.h"

static void
test_levels(void)
{
	g_assert_cmpint(mdir_log_level_from_string("debug"), ==, LOG_DEBUG);
	g_assert_cmpint(mdir_log_level_from_string("WARNING"), ==, LOG_WARNING);
	g_assert_cmpint(mdir_log_level_from_string("crit"), ==, LOG_CRIT);
	g_assert_cmpint(mdir_log_level_from_string("loud"), ==, -1);
}

static void
test_one_line(void)
{
	if (g_test_subprocess()) {
		g_set_prgname("mdir-test");
		mdir_log_open(MDIR_LOG_STDERR);
		mdir_log(LOG_ERR, "store %s: %s", "alice@example.org", "two\nlines");
		mdir_log_set_level(LOG_WARNING);
		mdir_log(LOG_INFO, "dropped");
		return;
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_passed();
	g_test_trap_assert_stderr("mdir-test: store alice@example.org: two lines\n");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/log/levels", test_levels);
	g_test_add_func("/log/one-line", test_one_line);
	return g_test_run();
}
