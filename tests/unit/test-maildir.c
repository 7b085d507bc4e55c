/* Unit tests of maildir.c: where the Maildir view of a folder is. */
#include "testutil.h"

static MdirConfig *
config(const char *text)
{
	g_autofree char *path = test_write_tmp("mdir.conf", text);
	g_autoptr(GError) error = NULL;
	MdirConfig *c = mdir_config_load(path, &error);

	g_assert_no_error(error);
	return c;
}

static void
expect(const MdirConfig *c, const char *folder, const char *want)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *got = mdir_maildir_path(c, folder, &error);

	g_assert_no_error(error);
	g_assert_cmpstr(got, ==, want);
}

static void
refused(const MdirConfig *c, const char *folder, gint code)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *got = mdir_maildir_path(c, folder, &error);

	g_assert_null(got);
	g_assert_error(error, MDIR_ERROR, code);
}

static void
test_path(void)
{
	g_autoptr(MdirConfig) c = config("[access]\nmaildir = /srv/view/%a/Maildir\n");
	g_autoptr(MdirConfig) none = config("[mdir]\nlog_level = info\n");
	g_autoptr(MdirConfig) bad = config("[access]\nmaildir = /srv/view\n");

	expect(c, "SMTP/Accounts/jo@example.org", "/srv/view/jo@example.org/Maildir");
	expect(c, "SMTP/Accounts/jo@example.org/A/B",
	    "/srv/view/jo@example.org/Maildir/.A.B");
	/* a dot inside a name would be a Maildir++ level */
	expect(c, "SMTP/Accounts/jo@example.org/v1.2", "/srv/view/jo@example.org/Maildir/.v1_2");
	expect(c, "SMTP/Accounts/@example.org", "/srv/view/@example.org/Maildir");
	/* not an account's tree, or no key: no view, no error */
	expect(c, "SMTP/Outbox", NULL);
	expect(c, "Users/jo", NULL);
	expect(c, "SMTP/AccountsX/jo", NULL);
	expect(none, "SMTP/Accounts/jo@example.org", NULL);
	/* nothing that could lead out of the template's directory */
	refused(c, "SMTP/Accounts/..", MDIR_ERROR_BAD_NAME);
	refused(c, "SMTP/Accounts/jo@example.org/../../etc", MDIR_ERROR_BAD_NAME);
	refused(c, "SMTP/Accounts/.hidden", MDIR_ERROR_BAD_NAME);
	refused(c, "SMTP/Accounts/jo@example.org//x", MDIR_ERROR_BAD_NAME);
	refused(c, "SMTP/Accounts/", MDIR_ERROR_BAD_NAME);
	refused(bad, "SMTP/Accounts/jo@example.org", MDIR_ERROR_CONFIG);
}

static void
test_name(void)
{
	g_autofree char *path = test_write_tmp("raw", "Subject: x\n\nbody\n");
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autofree char *one = NULL;
	g_autofree char *two = NULL;

	mdir_record_set(r, "received-at", "2026-01-02T03:04:05Z");
	mdir_record_set(r, "sha256",
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
	g_assert_cmpint(mdir_maildir_time(path, r), ==, 1767323045);
	one = mdir_maildir_name(path, r, 1);
	two = mdir_maildir_name(path, r, 2);
	g_assert_cmpstr(one, ==, "1767323045.H00112233445566778899aabbccddeeff.mdir,S=17");
	g_assert_cmpstr(two, ==, "1767323045.H00112233445566778899aabbccddeeff_2.mdir,S=17");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/maildir/path", test_path);
	g_test_add_func("/maildir/name", test_name);
	return g_test_run();
}
