/*
 * log.c: one-line diagnostics to stderr ("prog: message") and, for the
 * programs an MTA or cron runs, to syslog with facility LOG_MAIL, or to
 * [mdir] log_file where there is no syslog daemon (a container).  The only
 * process-wide state of the library lives here: where to log is a property
 * of the process, set once in main() and when the configuration is read.
 *
 * Two thresholds: the log's ([mdir] log_level, info by default) and
 * stderr's, so that a program run by cron can log every send and still
 * print only its problems; -v lowers stderr's, never the log's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"

static gint log_flags = MDIR_LOG_STDERR;
static gint log_level = LOG_INFO;
static gint stderr_level = -1; /* -1: the log's */
static gint log_fd = -1;
static gboolean stderr_journal;

/*
 * Whether stderr is systemd's journal: JOURNAL_STREAM holds the device
 * and inode of the stream systemd connected (systemd.exec(5)).  Syslog
 * reaches the journal too, so a line logged is not also printed there.
 */
static gboolean
stderr_is_journal(void)
{
	const char *js = g_getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 &&
	    fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
mdir_log_open(MdirLogFlags flags)
{
	g_atomic_int_set(&log_flags, flags);
	stderr_journal = stderr_is_journal();
	if (flags & MDIR_LOG_SYSLOG)
		openlog(g_get_prgname(), LOG_PID, LOG_MAIL);
}

void
mdir_log_set_level(int priority)
{
	g_atomic_int_set(&log_level, priority);
}

void
mdir_log_set_stderr_level(int priority)
{
	g_atomic_int_set(&stderr_level, priority);
}

gboolean
mdir_log_set_file(const char *path, GError **error)
{
	int fd = -1;
	int old;

	if (path) {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
		    0640);
		if (fd < 0) {
			g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s",
			    path, g_strerror(errno));
			return FALSE;
		}
	}
	old = g_atomic_int_exchange(&log_fd, fd);
	if (old >= 0)
		close(old);
	return TRUE;
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

/* One line to the log file, whole, with the time, the program and its pid. */
static void
to_file(int fd, const char *line)
{
	g_autofree char *stamp = mdir_time_now(MDIR_TIME_LOG);
	const char *prog = g_get_prgname();
	g_autofree char *text = g_strdup_printf("%s %s[%d]: %s\n", stamp, prog ? prog : "mdir",
	    (int)getpid(), line);
	gsize len = strlen(text);

	/* O_APPEND and one write: lines of concurrent processes do not mix */
	if (write(fd, text, len) != (gssize)len)
		return; /* nowhere left to say so */
}

void
mdir_log(int priority, const char *format, ...)
{
	va_list ap;
	g_autofree char *line = NULL;
	int flags = g_atomic_int_get(&log_flags);
	int err_level = g_atomic_int_get(&stderr_level);
	gboolean to_log = (flags & MDIR_LOG_SYSLOG) && priority <= g_atomic_int_get(&log_level);
	gboolean to_err = (flags & MDIR_LOG_STDERR) &&
	    priority <= (err_level >= 0 ? err_level : g_atomic_int_get(&log_level)) &&
	    !(to_log && stderr_journal);
	int fd;

	if (!to_log && !to_err)
		return;
	va_start(ap, format);
	line = g_strdup_vprintf(format, ap);
	va_end(ap);
	/* one line, whatever the caller passed in */
	g_strdelimit(line, "\r\n", ' ');
	if (to_err) {
		const char *prog = g_get_prgname();

		fprintf(stderr, "%s: %s\n", prog ? prog : "mdir", line);
		fflush(stderr);
	}
	if (!to_log)
		return;
	fd = g_atomic_int_get(&log_fd);
	if (fd >= 0)
		to_file(fd, line);
	else
		syslog(priority, "%s", line);
}
