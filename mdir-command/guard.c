/*
 * guard.c: what makes a one-time password one-time, in SQLite under the
 * root: each (address, step) used is recorded, and committed durably
 * (synchronous=FULL) before any command of its request runs, so that a
 * crash or a redelivery can never run a request twice; and the failures
 * of each sender, so that guessing is slow (6 digits are a million codes).
 * An S/MIME request is a signature anyone who saw it could send again:
 * each signature accepted is recorded the same way, for good.
 */
#include <unistd.h>

#include <sqlite3.h>

#include "command.h"

struct Guard {
	sqlite3 *db;
};

static const char schema[] =
    "PRAGMA synchronous = FULL;"
    "CREATE TABLE IF NOT EXISTS used (address TEXT NOT NULL, step INTEGER NOT NULL,"
    " at INTEGER NOT NULL, PRIMARY KEY (address, step));"
    "CREATE TABLE IF NOT EXISTS failures (address TEXT NOT NULL, at INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS failures_by_address ON failures (address, at);"
    "CREATE TABLE IF NOT EXISTS signatures (digest TEXT PRIMARY KEY, address TEXT NOT NULL,"
    " at INTEGER NOT NULL);";

static gboolean
db_error(Guard *g, const char *what, GError **error)
{
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_TEMPFAIL, "replay_db: %s: %s", what,
	    sqlite3_errmsg(g->db));
	return FALSE;
}

Guard *
guard_open(const char *path, GError **error)
{
	g_autoptr(Guard) g = g_new0(Guard, 1);
	g_autofree char *dir = g_path_get_dirname(path);
	int fd;

	/* its directory is ours: never one a link leads elsewhere */
	fd = mdir_dir_open_nofollow(dir, TRUE, error);
	if (fd < 0)
		return NULL;
	close(fd);
	if (sqlite3_open_v2(path, &g->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOFOLLOW, NULL) != SQLITE_OK) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_TEMPFAIL, "replay_db %s: %s", path,
		    g->db ? sqlite3_errmsg(g->db) : "cannot open");
		return NULL;
	}
	sqlite3_busy_timeout(g->db, 10000);
	if (sqlite3_exec(g->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		db_error(g, path, error);
		return NULL;
	}
	return g_steal_pointer(&g);
}

void
guard_free(Guard *g)
{
	if (g == NULL)
		return;
	sqlite3_close(g->db);
	g_free(g);
}

gboolean
guard_failures(Guard *g, const char *address, gint64 since, guint *count, GError **error)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(g->db, "SELECT count(*) FROM failures WHERE address = ? AND "
	    "at >= ?", -1, &st, NULL) != SQLITE_OK)
		return db_error(g, "count", error);
	sqlite3_bind_text(st, 1, address, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, since);
	rc = sqlite3_step(st);
	*count = rc == SQLITE_ROW ? (guint)sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? TRUE : db_error(g, "count", error);
}

/* One statement with @address and @n bound; SQLITE_DONE or the error. */
static int
run2(Guard *g, const char *sql, const char *address, gint64 n, gint64 at)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(g->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sqlite3_errcode(g->db);
	sqlite3_bind_text(st, 1, address, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, n);
	if (sqlite3_bind_parameter_count(st) > 2)
		sqlite3_bind_int64(st, 3, at);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc;
}

gboolean
guard_fail(Guard *g, const char *address, gint64 now, GError **error)
{
	/* a day of failures is all the limit ever looks at */
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(g->db, "DELETE FROM failures WHERE at < ?", -1, &st,
	    NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, now - 86400);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	if (run2(g, "INSERT INTO failures (address, at) VALUES (?, ?)", address, now, 0) !=
	    SQLITE_DONE)
		return db_error(g, "failure", error);
	return TRUE;
}

gboolean
guard_use(Guard *g, const char *address, gint64 step, gboolean *fresh, GError **error)
{
	int rc;

	*fresh = FALSE;
	/* steps long past can never match again (the window is ±1) */
	run2(g, "DELETE FROM used WHERE address = ? AND step < ?", address, step - 10, 0);
	rc = run2(g, "INSERT INTO used (address, step, at) VALUES (?, ?, ?)", address, step,
	    g_get_real_time() / G_USEC_PER_SEC);
	if (rc == SQLITE_CONSTRAINT)
		return TRUE;
	if (rc != SQLITE_DONE)
		return db_error(g, "record", error);
	*fresh = TRUE;
	return TRUE;
}

gboolean
guard_signature(Guard *g, const char *address, const char *digest, gboolean *fresh,
    GError **error)
{
	sqlite3_stmt *st = NULL;
	int rc;

	*fresh = FALSE;
	if (sqlite3_prepare_v2(g->db, "INSERT INTO signatures (digest, address, at) VALUES "
	    "(?, ?, ?)", -1, &st, NULL) != SQLITE_OK)
		return db_error(g, "record", error);
	sqlite3_bind_text(st, 1, digest, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, address, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 3, g_get_real_time() / G_USEC_PER_SEC);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_CONSTRAINT)
		return TRUE;
	if (rc != SQLITE_DONE)
		return db_error(g, "record", error);
	*fresh = TRUE;
	return TRUE;
}
