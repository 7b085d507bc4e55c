/*
 * timefmt.c: every time stamp mdir writes, in one of a few fixed forms
 * (mdir_time_format()).
 *
 * Formatted here by hand rather than by strftime(3) or
 * g_date_time_format(): both take the names of days and months from the
 * locale, and a Date field or an mbox From_ line must say "Thu" and "Dec"
 * whatever LC_TIME a program inherits (pipe(8) and cron run us under C, a
 * person's shell under anything).  gmtime_r(3) and localtime_r(3) do the
 * calendar, on a 64-bit time_t: years past 2038 and before 1970 alike.
 */
#include <stdio.h>
#include <time.h>

#include <glib.h>

#include "mdir.h"

/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: four-digit years */
#define TIME_MIN G_GINT64_CONSTANT(-62135596800)
#define TIME_MAX G_GINT64_CONSTANT(253402300799)

static const char *const day_name[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const month_name[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
	"Aug", "Sep", "Oct", "Nov", "Dec" };

/* @t broken down, in UTC or in the local time zone of $TZ as it is now. */
static void
broken_down(gint64 t, gboolean local, struct tm *tm)
{
	time_t tt = (time_t)t;

	G_STATIC_ASSERT(sizeof(time_t) >= 8);
	if (local) {
		/* localtime_r() reads $TZ once per process; tzset() again */
		tzset();
		if (localtime_r(&tt, tm))
			return;
	}
	if (gmtime_r(&tt, tm) == NULL)
		g_assert_not_reached(); /* clamped to four-digit years */
	tm->tm_gmtoff = 0;
}

/* "+hhmm" or "-hhmm" (RFC 5322 §3.3 zone), seconds of odd zones dropped. */
static void
zone(long gmtoff, char out[6])
{
	long m = (gmtoff < 0 ? -gmtoff : gmtoff) / 60;

	g_snprintf(out, 6, "%c%02ld%02ld", gmtoff < 0 ? '-' : '+', (m / 60) % 100, m % 60);
}

/* @sec seconds and @usec microseconds (0 to 999999) after the epoch. */
static char *
format(gint64 sec, gint64 usec, MdirTimeFormat kind)
{
	struct tm tm;
	char z[6];

	broken_down(sec, kind == MDIR_TIME_RFC5322, &tm);
	switch (kind) {
	case MDIR_TIME_ISO8601:
		return g_strdup_printf("%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	case MDIR_TIME_LOG:
		return g_strdup_printf("%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)usec);
	case MDIR_TIME_RFC5322:
		zone(tm.tm_gmtoff, z);
		return g_strdup_printf("%s, %02d %s %04d %02d:%02d:%02d %s",
		    day_name[tm.tm_wday], tm.tm_mday, month_name[tm.tm_mon], tm.tm_year + 1900,
		    tm.tm_hour, tm.tm_min, tm.tm_sec, z);
	case MDIR_TIME_MBOX:
		return g_strdup_printf("%s %s %2d %02d:%02d:%02d %04d", day_name[tm.tm_wday],
		    month_name[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		    tm.tm_year + 1900);
	case MDIR_TIME_DAY:
		return g_strdup_printf("%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
		    tm.tm_mday);
	case MDIR_TIME_MONTH:
		return g_strdup_printf("%04d-%02d", tm.tm_year + 1900, tm.tm_mon + 1);
	}
	g_return_val_if_reached(NULL);
}

char *
mdir_time_format(gint64 unix_time, MdirTimeFormat kind)
{
	return format(CLAMP(unix_time, TIME_MIN, TIME_MAX), 0, kind);
}

char *
mdir_time_now(MdirTimeFormat kind)
{
	gint64 us = g_get_real_time();

	return format(CLAMP(us / G_USEC_PER_SEC, 0, TIME_MAX), us % G_USEC_PER_SEC, kind);
}
