/* Unit tests of error.c: the one mapping from errors to exit codes. */
#include <sysexits.h>

#include <gio/gio.h>

#include "testutil.h"

static void
test_mta_policy(void)
{
	/* whatever goes wrong, Postfix may only ever see 0, 67 or 75 */
	static const struct {
		GQuark domain;
		int code;
	} cases[] = {
		{ 0, MDIR_ERROR_FAILED }, { 0, MDIR_ERROR_USAGE }, { 0, MDIR_ERROR_CONFIG },
		{ 0, MDIR_ERROR_BAD_URL }, { 0, MDIR_ERROR_CORRUPT }, { 0, MDIR_ERROR_LOCK_TIMEOUT },
		{ 0, MDIR_ERROR_OUTSIDE_ROOT }, { 0, MDIR_ERROR_TEMPFAIL }, { 0, 999 },
	};
	GQuark others[] = { G_FILE_ERROR, G_KEY_FILE_ERROR, G_IO_ERROR, G_OPTION_ERROR };

	g_assert_cmpint(mdir_exit_code(NULL, MDIR_EXIT_MTA), ==, 0);
	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) e = g_error_new_literal(MDIR_ERROR, cases[i].code, "x");

		g_assert_cmpint(mdir_exit_code(e, MDIR_EXIT_MTA), ==, EX_TEMPFAIL);
		g_assert_cmpstr(mdir_enhanced_status(e), ==, "4.3.0");
	}
	for (gsize i = 0; i < G_N_ELEMENTS(others); i++)
		for (int code = 0; code < 40; code++) {
			g_autoptr(GError) e = g_error_new_literal(others[i], code, "x");
			int rc = mdir_exit_code(e, MDIR_EXIT_MTA);

			g_assert_cmpint(rc, ==, EX_TEMPFAIL);
			g_assert_true(g_str_has_prefix(mdir_enhanced_status(e), "4."));
		}
	{
		g_autoptr(GError) e = g_error_new_literal(MDIR_ERROR, MDIR_ERROR_NO_ACCOUNT, "x");
		g_autoptr(GError) f = g_error_new_literal(G_FILE_ERROR, G_FILE_ERROR_NOSPC, "x");

		g_assert_cmpint(mdir_exit_code(e, MDIR_EXIT_MTA), ==, EX_NOUSER);
		g_assert_cmpstr(mdir_enhanced_status(e), ==, "5.1.1");
		g_assert_cmpstr(mdir_enhanced_status(f), ==, "4.3.1");
		g_assert_cmpstr(mdir_enhanced_status(NULL), ==, "2.0.0");
	}
	{
		/* a disabled account: refused as no account is, with its own code */
		g_autoptr(GError) e = g_error_new_literal(MDIR_ERROR, MDIR_ERROR_DISABLED, "x");

		g_assert_cmpint(mdir_exit_code(e, MDIR_EXIT_MTA), ==, EX_NOUSER);
		g_assert_cmpint(mdir_exit_code(e, MDIR_EXIT_TOOL), ==, EX_NOUSER);
		g_assert_cmpstr(mdir_enhanced_status(e), ==, "5.2.1");
		g_assert_true(mdir_error_is_refusal(e));
	}
}

static void
test_tool_policy(void)
{
	static const struct {
		GQuark domain;
		int code;
		int want;
	} cases[] = {
		{ 0, MDIR_ERROR_USAGE, EX_USAGE },
		{ 0, MDIR_ERROR_CONFIG, EX_CONFIG },
		{ 0, MDIR_ERROR_BAD_URL, EX_DATAERR },
		{ 0, MDIR_ERROR_NOT_FOUND, EX_NOINPUT },
		{ 0, MDIR_ERROR_NO_ACCOUNT, EX_NOUSER },
		{ 0, MDIR_ERROR_LOCK_TIMEOUT, EX_TEMPFAIL },
		{ 0, MDIR_ERROR_OUTSIDE_ROOT, EX_CANTCREAT },
		{ 0, MDIR_ERROR_FAILED, EX_SOFTWARE },
		{ 1, G_FILE_ERROR_NOENT, EX_NOINPUT },
		{ 1, G_FILE_ERROR_ACCES, EX_NOPERM },
		{ 1, G_FILE_ERROR_NOSPC, EX_TEMPFAIL },
		{ 1, G_FILE_ERROR_IO, EX_IOERR },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
		GQuark d = cases[i].domain ? G_FILE_ERROR : MDIR_ERROR;
		g_autoptr(GError) e = g_error_new_literal(d, cases[i].code, "x");

		g_assert_cmpint(mdir_exit_code(e, MDIR_EXIT_TOOL), ==, cases[i].want);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/error/mta-policy", test_mta_policy);
	g_test_add_func("/error/tool-policy", test_tool_policy);
	return g_test_run();
}
