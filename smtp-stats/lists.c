/*
 * lists.c: the policy lists an admin keeps by hand -- networks and
 * domains never greylisted, IPs refused until a time -- written with the
 * one set of statements that "smtp-stats whitelist|blacklist" and
 * mdir-web's Policy page share, so that both leave the same rows and the
 * policy service (policy.c) reads them alike.
 */
#include <string.h>

#include "lists.h"

static gboolean
step(Stats *s, sqlite3_stmt *st, GError **error)
{
	int rc = st ? sqlite3_step(st) : SQLITE_ERROR;

	if (st)
		sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return TRUE;
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_FAILED, "%s: %s", s->path, sqlite3_errmsg(s->db));
	return FALSE;
}

gboolean
lists_whitelist(Stats *s, gboolean add, const char *kind, const char *value, GError **error)
{
	sqlite3_stmt *st;

	if (strcmp(kind, "net") != 0 && strcmp(kind, "domain") != 0) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "whitelist: '%s': net or domain",
		    kind);
		return FALSE;
	}
	if (add) {
		st = stats_stmt(s, "INSERT OR REPLACE INTO whitelist VALUES (?, ?, 'by hand', ?)");
		if (st)
			sqlite3_bind_int64(st, 3, g_get_real_time() / G_USEC_PER_SEC);
	} else {
		st = stats_stmt(s, "DELETE FROM whitelist WHERE kind = ? AND value = ?");
	}
	if (st) {
		sqlite3_bind_text(st, 1, kind, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
	}
	return step(s, st, error);
}

gboolean
lists_blacklist(Stats *s, gboolean add, const char *ip, gint64 seconds, GError **error)
{
	g_autofree char *net = stats_network(ip);
	sqlite3_stmt *st;

	if (net == NULL) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "blacklist: '%s': not an IP "
		    "address", ip);
		return FALSE;
	}
	if (!add) {
		st = stats_stmt(s, "DELETE FROM blacklist WHERE ip = ?");
		if (st)
			sqlite3_bind_text(st, 1, ip, -1, SQLITE_TRANSIENT);
		return step(s, st, error);
	}
	if (seconds < 0)
		seconds = mdir_config_get_duration_ms(s->config, "stats", "blacklist_time") / 1000;
	st = stats_stmt(s, "INSERT OR REPLACE INTO blacklist VALUES (?, 'by hand', ?)");
	if (st) {
		sqlite3_bind_text(st, 1, ip, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, g_get_real_time() / G_USEC_PER_SEC + seconds);
	}
	return step(s, st, error);
}
