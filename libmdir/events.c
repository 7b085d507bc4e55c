/*
 * events.c: the statistics events the programs record (smtp-stats(1)).
 *
 * An event is one line appended to the events file beside the statistics
 * database: "key=value" fields separated by tabs.  One write(2) with
 * O_APPEND, no lock, no sync, no SQLite: a delivery pays a few
 * microseconds, and a failure is logged and forgotten, never the
 * delivery's.  smtp-stats imports the file into its database.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"
#include "private.h"

char *
mdir_events_path(const MdirConfig *config)
{
	const char *db = mdir_config_get(config, "stats", "database");
	g_autofree char *dir = g_path_get_dirname(db);

	return g_build_filename(dir, "events", NULL);
}

/* A value as it may stand in a line: no tab, no line end. */
static void
append_clean(GString *s, const char *v)
{
	for (; v && *v; v++)
		g_string_append_c(s, (*v == '\t' || *v == '\n' || *v == '\r') ? ' ' : *v);
}

void
mdir_events_record(const MdirConfig *config, const char *kind, ...)
{
	g_autofree char *path = mdir_events_path(config);
	g_autoptr(GString) line = g_string_new(NULL);
	g_autoptr(GError) e = NULL;
	const char *key;
	va_list ap;
	int fd;

	g_string_append_printf(line, "ts=%" G_GINT64_FORMAT "\tkind=",
	    g_get_real_time() / G_USEC_PER_SEC);
	append_clean(line, kind);
	va_start(ap, kind);
	while ((key = va_arg(ap, const char *)) != NULL) {
		const char *value = va_arg(ap, const char *);

		if (value == NULL || *value == '\0')
			continue;
		g_string_append_printf(line, "\t%s=", key);
		append_clean(line, value);
	}
	va_end(ap);
	g_string_append_c(line, '\n');
	/* the root is group-writable: a link as .stats or as the file would
	 * have every delivery append to whatever it leads to */
	fd = mdir_file_open_nofollow(path, O_WRONLY | O_APPEND | O_CREAT, &e);
	if (fd < 0) {
		mdir_log(LOG_WARNING, "statistics not recorded: %s", e->message);
		return;
	}
	/* one write: lines of concurrent writers never mix */
	if (write(fd, line->str, line->len) != (ssize_t)line->len)
		mdir_log(LOG_WARNING, "statistics not recorded: %s: %s", path,
		    g_strerror(errno ? errno : EIO));
	close(fd);
}
