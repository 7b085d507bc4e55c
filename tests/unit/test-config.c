/* Unit tests of config.c: mdir.conf(5). */
#include <string.h>

#include "testutil.h"

static char *
write_conf(const char *text)
{
	return test_write_tmp("mdir.conf", text);
}

static void
test_defaults(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirConfig) c = NULL;
	g_autofree char *root = test_root();
	g_autofree char *sock = NULL;
	g_autofree char *empty = write_conf("");
	g_autoptr(MdirConfig) d = NULL;

	/*
	 * An empty file gives the built-in defaults.  Never MDIR_CONF unset:
	 * that would read the machine's own /etc/mdir/mdir.conf (issue 15.9).
	 */
	g_setenv("MDIR_CONF", empty, TRUE);
	g_unsetenv("MDIR_ROOT");
	c = mdir_config_load(NULL, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(mdir_config_file(c), ==, empty);
	g_unsetenv("MDIR_CONF");
	d = mdir_config_new_default(NULL);
	g_assert_cmpstr(mdir_config_root(d), ==, root);
	g_assert_cmpstr(mdir_config_get(d, "mdir", "socket"), ==,
	    mdir_config_get(c, "mdir", "socket"));
	g_assert_cmpstr(mdir_config_root(c), ==, root);
	sock = g_build_filename(root, ".mdird", "mdird.sock", NULL);
	g_assert_cmpstr(mdir_config_get(c, "mdir", "socket"), ==, sock);
	g_assert_cmpstr(mdir_config_get(c, "receive", "recipient_delimiter"), ==, "+");
	g_assert_cmpint(mdir_config_get_duration_ms(c, "outbox", "give_up_after"), ==,
	    5 * 86400 * 1000LL);
	g_assert_null(mdir_config_get(c, "outbox", "dkim_key"));
	g_assert_null(mdir_config_warnings(c)[0]);
}

static void
test_dump(void)
{
	g_autofree char *path = write_conf("[receive]\nlocal_domains = example.org; example.net\n"
	    "[mdir]\nroot = /srv/mail\n");
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirConfig) c = NULL;
	g_autofree char *set = NULL;
	g_autofree char *all = NULL;

	g_unsetenv("MDIR_ROOT");
	c = mdir_config_load(path, &error);
	g_assert_no_error(error);
	set = mdir_config_dump(c, TRUE);
	/* the file's keys, as written, in the page's order */
	g_assert_cmpstr(set, ==, "[mdir]\nroot = /srv/mail\n\n"
	    "[receive]\nlocal_domains = example.org; example.net\n");
	all = mdir_config_dump(c, FALSE);
	g_assert_nonnull(strstr(all, "[mdir]\nroot = /srv/mail\nsocket = /srv/mail/.mdird/mdird.sock\n"));
	g_assert_nonnull(strstr(all, "\nrecipient_delimiter = +\n"));
	g_assert_nonnull(strstr(all, "\ndkim_key =\n"));
	g_assert_nonnull(strstr(all, "\n[outbox]\n"));
	/* the README's check_policy_service line works with no [stats] at all */
	g_assert_nonnull(strstr(all, "\npolicy_listen = inet:127.0.0.1:10040\n"));
}

static void
test_file_values(void)
{
	g_autofree char *path = write_conf("# comment\n[mdir]\nroot = /srv/mail/\n\n"
	    "[receive]\nlocal_domains = example.org; example.net\nmax_size = 50M\n"
	    "deadline = 90s\n[outbox]\nretry_schedule = 1m;5m;2h\n");
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirConfig) c = NULL;
	g_auto(GStrv) domains = NULL;

	g_unsetenv("MDIR_ROOT");
	c = mdir_config_load(path, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(mdir_config_file(c), ==, path);
	g_assert_cmpstr(mdir_config_root(c), ==, "/srv/mail");
	g_assert_cmpstr(mdir_config_get(c, "mdir", "socket"), ==, "/srv/mail/.mdird/mdird.sock");
	domains = mdir_config_get_list(c, "receive", "local_domains");
	g_assert_cmpuint(g_strv_length(domains), ==, 2);
	g_assert_cmpstr(domains[1], ==, "example.net");
	g_assert_cmpint(mdir_config_get_int(c, "receive", "max_size"), ==, 50 * 1024 * 1024);
	g_assert_cmpint(mdir_config_get_duration_ms(c, "receive", "deadline"), ==, 90000);
}

static void
test_env(void)
{
	g_autofree char *path = write_conf("[mdir]\nroot = /srv/mail\n");
	g_autoptr(MdirConfig) c = NULL;
	g_autoptr(MdirConfig) d = NULL;

	g_setenv("MDIR_CONF", path, TRUE);
	g_setenv("MDIR_ROOT", "/var/tmp/other", TRUE);
	c = mdir_config_load(NULL, NULL);
	g_assert_cmpstr(mdir_config_file(c), ==, path);
	/* MDIR_ROOT wins over the file: what a test or a one-off run wants */
	g_assert_cmpstr(mdir_config_root(c), ==, "/var/tmp/other");
	d = mdir_config_new_default("/x/y/");
	g_assert_cmpstr(mdir_config_root(d), ==, "/x/y");
	g_unsetenv("MDIR_CONF");
	g_unsetenv("MDIR_ROOT");
}

static void
test_unknown_keys(void)
{
	g_autofree char *path = write_conf("[mdir]\nroot=/srv\nlog_levle = debug\n[bogus]\nx=1\n");
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirConfig) c = mdir_config_load(path, &error);
	const char *const *w;
	g_autofree char *w0 = NULL;
	g_autofree char *w1 = NULL;

	g_assert_no_error(error);
	w = mdir_config_warnings(c);
	w0 = g_strdup_printf("%s:3: unknown key 'log_levle' in [mdir]", path);
	w1 = g_strdup_printf("%s:4: unknown section [bogus]", path);
	g_assert_cmpstr(w[0], ==, w0);
	g_assert_cmpstr(w[1], ==, w1);
	g_assert_null(w[2]);
}

static void
check_bad(const char *text, const char *want)
{
	g_autofree char *path = write_conf(text);
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirConfig) c = mdir_config_load(path, &error);
	g_autofree char *full = g_strdup_printf("%s:%s", path, want);

	g_assert_null(c);
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG);
	g_assert_cmpstr(error->message, ==, full);
}

static void
test_bad_values(void)
{
	check_bad("[receive]\n\ndeadline = soon\n",
	    "3: deadline: 'soon' is not a duration (like 90s, 5m, 2h, 5d)");
	check_bad("[receive]\nmax_size = lots\n",
	    "2: max_size: 'lots' is not a size (like 4096, 10k, 50M, 1G)");
	check_bad("[receive]\nmax_depth = -3\n", "2: max_depth: '-3' is not a whole number");
	check_bad("[mdir]\nlog_level = loud\n", "2: log_level: 'loud' is not a log level "
	    "(debug, info, notice, warning, err, crit)");
	check_bad("[stats]\npolicy_listen = tcp:1\n",
	    "2: policy_listen: 'tcp:1' is not unix:/PATH or inet:ADDRESS:PORT");
	check_bad("[stats]\nspam_ratio_threshold = 2\n",
	    "2: spam_ratio_threshold: '2' is not a ratio between 0 and 1");
	check_bad("[outbox]\nretry_schedule = 1m;often\n",
	    "2: retry_schedule: 'often' is not a duration (like 90s, 5m, 2h, 5d)");
	check_bad("[outbox]\ndkim_key = key.pem\n", "2: dkim_key: 'key.pem' is not an absolute path");
	check_bad("[mdir]\nsync = sometimes\n", "2: sync: 'sometimes' is not auto, syncfs or fsync");
	{
		/* a bad escape: GLib gives a value and an error both; the error
		 * is the answer, and nothing leaks (fuzz-config found it) */
		g_autofree char *path = write_conf("[receive]\nrecipient_delimiter = \\q+\n");
		g_autoptr(GError) error = NULL;
		g_autoptr(MdirConfig) c = mdir_config_load(path, &error);
		g_autofree char *want = g_strdup_printf("%s:2: recipient_delimiter: ", path);

		g_assert_null(c);
		g_assert_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG);
		g_assert_true(g_str_has_prefix(error->message, want));
	}
}

static void
test_syntax_error(void)
{
	g_autofree char *path = write_conf("[mdir\nroot=/x\n");
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirConfig) c = mdir_config_load(path, &error);

	g_assert_null(c);
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG);
	g_assert_true(g_str_has_prefix(error->message, path));
}

static void
test_missing_file(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirConfig) c = mdir_config_load("/nonexistent/mdir.conf", &error);

	g_assert_null(c);
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
	g_assert_cmpstr(error->message, ==, "/nonexistent/mdir.conf: No such file or directory");
}

static void
test_parsers(void)
{
	g_assert_cmpint(mdir_parse_duration_ms("90", NULL), ==, 90000);
	g_assert_cmpint(mdir_parse_duration_ms("250ms", NULL), ==, 250);
	g_assert_cmpint(mdir_parse_duration_ms("2h", NULL), ==, 7200000);
	g_assert_cmpint(mdir_parse_duration_ms("1w", NULL), ==, 604800000LL);
	g_assert_cmpint(mdir_parse_duration_ms("5x", NULL), ==, -1);
	g_assert_cmpint(mdir_parse_duration_ms("", NULL), ==, -1);
	g_assert_cmpint(mdir_parse_duration_ms("99999999999999999999d", NULL), ==, -1);
	g_assert_cmpint(mdir_parse_size("10k", NULL), ==, 10240);
	g_assert_cmpint(mdir_parse_size("1G", NULL), ==, 1073741824LL);
	g_assert_cmpint(mdir_parse_size("7MB", NULL), ==, 7340032);
	g_assert_cmpint(mdir_parse_size("1T", NULL), ==, -1);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/config/defaults", test_defaults);
	g_test_add_func("/config/file-values", test_file_values);
	g_test_add_func("/config/dump", test_dump);
	g_test_add_func("/config/env", test_env);
	g_test_add_func("/config/unknown-keys", test_unknown_keys);
	g_test_add_func("/config/bad-values", test_bad_values);
	g_test_add_func("/config/syntax-error", test_syntax_error);
	g_test_add_func("/config/missing-file", test_missing_file);
	g_test_add_func("/config/parsers", test_parsers);
	return g_test_run();
}
