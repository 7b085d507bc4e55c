/*
 * log.c: one-line diagnostics to stderr ("prog: message") and, for the
 * programs an MTA or cron runs, to syslog with facility LOG_MAIL.  The only
 * process-wide state of the library lives here: where to log is a property
 * of the process, set once in main().
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <glib.h>

#include "mdir.h"

static gint log_flags = MDIR_LOG_STDERR;
static gint log_level = LOG_INFO;

void
mdir_log_open(MdirLogFlags flags)
{
	g_atomic_int_set(&log_flags, flags);
	if (flags & MDIR_LOG_SYSLOG)
		openlog(g_get_prgname(), LOG_PID, LOG_MAIL);
}

void
mdir_log_set_level(int priority)
{
	g_atomic_int_set(&log_level, priority);
}

int
mdir_log_level_from_string(const char *name)
{
	static const struct {
		const char *name;
		int level;
	} levels[] = {
		{ "debug", LOG_DEBUG }, { "info", LOG_INFO },
		{ "notice", LOG_NOTICE }, { "warning", LOG_WARNING },
		{ "err", LOG_ERR }, { "error", LOG_ERR }, { "crit", LOG_CRIT },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(levels); i++)
		if (g_ascii_strcasecmp(name, levels[i].name) == 0)
			return levels[i].level;
	return -1;
}

void
mdir_log(int priority, const char *format, ...)
{
	va_list ap;
	g_autofree char *line = NULL;
	int flags = g_atomic_int_get(&log_flags);

	if (priority > g_atomic_int_get(&log_level))
		return;
	va_start(ap, format);
	line = g_strdup_vprintf(format, ap);
	va_end(ap);
	/* one line, whatever the caller passed in */
	g_strdelimit(line, "\r\n", ' ');
	if (flags & MDIR_LOG_STDERR) {
		const char *prog = g_get_prgname();

		fprintf(stderr, "%s: %s\n", prog ? prog : "mdir", line);
		fflush(stderr);
	}
	if (flags & MDIR_LOG_SYSLOG)
		syslog(priority, "%s", line);
}
