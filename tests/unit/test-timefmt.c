/*
 * Unit tests of timefmt.c: each form of time stamp, before 1970 and after
 * 2038, the local offset of a Date field, and English names under a
 * German locale.
 */
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

/* Formats @t as @kind and checks it against @want. */
static void
assert_time(gint64 t, MdirTimeFormat kind, const char *want)
{
	g_autofree char *got = mdir_time_format(t, kind);

	g_assert_cmpstr(got, ==, want);
}

/* $TZ for the local forms; localtime_r() is told by mdir_time_format(). */
static void
set_tz(const char *tz)
{
	g_assert_true(g_setenv("TZ", tz, TRUE));
}

static void
test_epoch(void)
{
	set_tz("UTC");
	assert_time(0, MDIR_TIME_ISO8601, "1970-01-01T00:00:00Z");
	assert_time(0, MDIR_TIME_LOG, "1970-01-01T00:00:00.000000Z");
	assert_time(0, MDIR_TIME_RFC5322, "Thu, 01 Jan 1970 00:00:00 +0000");
	assert_time(0, MDIR_TIME_MBOX, "Thu Jan  1 00:00:00 1970");
	assert_time(0, MDIR_TIME_DAY, "1970-01-01");
	assert_time(0, MDIR_TIME_MONTH, "1970-01");
}

/* Past the 32-bit time_t: 2^31 seconds, and 2100 (not a leap year). */
static void
test_after_2038(void)
{
	set_tz("UTC");
	assert_time(G_GINT64_CONSTANT(2147483648), MDIR_TIME_ISO8601, "2038-01-19T03:14:08Z");
	assert_time(G_GINT64_CONSTANT(2147483648), MDIR_TIME_RFC5322,
	    "Tue, 19 Jan 2038 03:14:08 +0000");
	assert_time(G_GINT64_CONSTANT(4107456000), MDIR_TIME_DAY, "2100-02-28");
	assert_time(G_GINT64_CONSTANT(4107542400), MDIR_TIME_MBOX, "Mon Mar  1 00:00:00 2100");
	assert_time(G_GINT64_CONSTANT(4107542399), MDIR_TIME_MONTH, "2100-02");
}

static void
test_before_1970(void)
{
	set_tz("UTC");
	assert_time(-1, MDIR_TIME_ISO8601, "1969-12-31T23:59:59Z");
	assert_time(-1, MDIR_TIME_RFC5322, "Wed, 31 Dec 1969 23:59:59 +0000");
	assert_time(G_GINT64_CONSTANT(-2208988800), MDIR_TIME_MBOX, "Mon Jan  1 00:00:00 1900");
	assert_time(G_GINT64_CONSTANT(-2203891200), MDIR_TIME_DAY, "1900-03-01");
	assert_time(G_GINT64_CONSTANT(-2203891201), MDIR_TIME_MONTH, "1900-02");
}

/* Times no calendar form can show are held to the years 1 to 9999. */
static void
test_clamped(void)
{
	assert_time(G_MAXINT64, MDIR_TIME_ISO8601, "9999-12-31T23:59:59Z");
	assert_time(G_MININT64, MDIR_TIME_ISO8601, "0001-01-01T00:00:00Z");
	assert_time(G_MININT64, MDIR_TIME_MBOX, "Mon Jan  1 00:00:00 0001");
}

/* Only the Date form is local: with its offset, either side of UTC. */
static void
test_rfc5322_zone(void)
{
	set_tz("<+0530>-5:30");
	assert_time(0, MDIR_TIME_RFC5322, "Thu, 01 Jan 1970 05:30:00 +0530");
	assert_time(0, MDIR_TIME_ISO8601, "1970-01-01T00:00:00Z");
	set_tz("<-0330>3:30");
	assert_time(0, MDIR_TIME_RFC5322, "Wed, 31 Dec 1969 20:30:00 -0330");
	assert_time(0, MDIR_TIME_MBOX, "Thu Jan  1 00:00:00 1970");
	/* summer time by the rules of the zone, without tzdata */
	set_tz("CET-1CEST,M3.5.0,M10.5.0/3");
	assert_time(G_GINT64_CONSTANT(1783080000), MDIR_TIME_RFC5322,
	    "Fri, 03 Jul 2026 14:00:00 +0200");
	assert_time(G_GINT64_CONSTANT(1796313600), MDIR_TIME_RFC5322,
	    "Thu, 03 Dec 2026 17:00:00 +0100");
	set_tz("UTC");
}

static void
test_now(void)
{
	gint64 before = g_get_real_time() / G_USEC_PER_SEC;
	g_autofree char *log = mdir_time_now(MDIR_TIME_LOG);
	g_autofree char *iso = mdir_time_now(MDIR_TIME_ISO8601);
	g_autoptr(GDateTime) parsed = g_date_time_new_from_iso8601(iso, NULL);

	g_assert_true(g_regex_match_simple(
	    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$", log, 0, 0));
	g_assert_nonnull(parsed);
	g_assert_cmpint(g_date_time_to_unix(parsed), >=, before);
	g_assert_cmpint(g_date_time_to_unix(parsed), <=, before + 5);
}

/*
 * A German locale, made with localedef(1) into a private LOCPATH when the
 * system has none installed; FALSE if it cannot be had.
 */
static gboolean
german_locale(void)
{
	g_autofree char *dir = g_build_filename(test_dir(), "locale", NULL);
	g_autofree char *out = g_build_filename(dir, "de_DE.UTF-8", NULL);
	char *argv[] = { "localedef", "-i", "de_DE", "-f", "UTF-8", out, NULL };
	int status = -1;

	if (setlocale(LC_ALL, "de_DE.UTF-8"))
		return TRUE;
	g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
	if (!g_spawn_sync(NULL, argv, NULL,
		G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
		NULL, NULL, NULL, NULL, &status, NULL) ||
	    !g_spawn_check_wait_status(status, NULL))
		return FALSE;
	g_assert_true(g_setenv("LOCPATH", dir, TRUE));
	return setlocale(LC_ALL, "de_DE.UTF-8") != NULL;
}

/* RFC 5322 and mbox names are English whatever LC_ALL says. */
static void
test_locale(void)
{
	char de[64];
	struct tm tm = { .tm_mday = 3, .tm_mon = 11, .tm_year = 126, .tm_wday = 4 };

	if (!german_locale()) {
		g_test_skip("no de_DE.UTF-8 locale, and localedef cannot make one");
		return;
	}
	/* the locale is in force: strftime() speaks German */
	g_assert_cmpuint(strftime(de, sizeof(de), "%a %b", &tm), >, 0);
	g_assert_cmpstr(de, ==, "Do Dez");
	set_tz("UTC");
	assert_time(G_GINT64_CONSTANT(1796268365), MDIR_TIME_RFC5322,
	    "Thu, 03 Dec 2026 03:26:05 +0000");
	assert_time(G_GINT64_CONSTANT(1796268365), MDIR_TIME_MBOX, "Thu Dec  3 03:26:05 2026");
	assert_time(G_GINT64_CONSTANT(1796268365), MDIR_TIME_ISO8601, "2026-12-03T03:26:05Z");
	setlocale(LC_ALL, "C");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/timefmt/epoch", test_epoch);
	g_test_add_func("/timefmt/after-2038", test_after_2038);
	g_test_add_func("/timefmt/before-1970", test_before_1970);
	g_test_add_func("/timefmt/clamped", test_clamped);
	g_test_add_func("/timefmt/rfc5322-zone", test_rfc5322_zone);
	g_test_add_func("/timefmt/now", test_now);
	g_test_add_func("/timefmt/locale", test_locale);
	return g_test_run();
}
