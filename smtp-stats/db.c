/*
 * db.c: the statistics database (smtp-stats(1) FILES): one SQLite file in
 * WAL mode, a busy time-out so that concurrent users wait rather than
 * fail, and a schema the program creates and migrates itself, step by
 * step, recorded in schema_version.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "stats.h"

/* Migration N takes the schema from version N to N + 1.  Append only. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE events (ts INTEGER NOT NULL, kind TEXT NOT NULL, account TEXT,"
	" ip TEXT, net TEXT, domain TEXT, size INTEGER, rcpt TEXT, sender TEXT);"
	"CREATE INDEX events_ts ON events (ts);"
	"CREATE TABLE ips (ip TEXT PRIMARY KEY, net TEXT, unknown INTEGER DEFAULT 0,"
	" valid INTEGER DEFAULT 0, spam INTEGER DEFAULT 0);"
	"CREATE TABLE spam (kind TEXT, value TEXT, count INTEGER DEFAULT 0,"
	" PRIMARY KEY (kind, value));"
	"CREATE TABLE learned (message_id TEXT PRIMARY KEY, ts INTEGER);"
	"CREATE TABLE greylist (net TEXT, sender TEXT, rcpt TEXT, first INTEGER,"
	" last INTEGER, passed INTEGER DEFAULT 0, PRIMARY KEY (net, sender, rcpt));"
	"CREATE INDEX greylist_last ON greylist (last);"
	"CREATE TABLE whitelist (kind TEXT, value TEXT, reason TEXT, added INTEGER,"
	" PRIMARY KEY (kind, value));"
	"CREATE TABLE blacklist (ip TEXT PRIMARY KEY, reason TEXT, until INTEGER);"
	"CREATE TABLE written_to (address TEXT PRIMARY KEY, ts INTEGER);"
	"CREATE TABLE decisions (ts INTEGER, ip TEXT, action TEXT, reason TEXT);"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);",
	/* 1 -> 2: which message a delivery was, so that learning it as spam
	 * takes it back from the valid count, and the chart puts spam at the
	 * hour it arrived */
	"ALTER TABLE events ADD COLUMN message_id TEXT;"
	"CREATE INDEX events_message_id ON events (message_id);",
};

int
stats_schema_version(Stats *s)
{
	sqlite3_stmt *st = NULL;
	int v = 0;

	if (sqlite3_prepare_v2(s->db, "SELECT max(version) FROM schema_version", -1, &st,
		NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/*
 * SQLite's result as a GError of the cause, so that the exit code says it:
 * a full disk or a busy database is worth a retry (75), not a bug (70).
 */
static void
set_sql_error(Stats *s, GError **error, int rc, const char *msg)
{
	GQuark domain = G_FILE_ERROR;
	int sys = s->db ? sqlite3_system_errno(s->db) : 0;
	int code;

	/* a full disk comes as SQLITE_FULL or as an I/O error with ENOSPC */
	if ((rc & 0xff) == SQLITE_IOERR && (sys == ENOSPC || sys == EDQUOT)) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOSPC, "%s: %s", s->path,
		    g_strerror(sys));
		return;
	}
	switch (rc & 0xff) {
	case SQLITE_FULL:
		code = G_FILE_ERROR_NOSPC;
		break;
	case SQLITE_IOERR:
		code = (rc == SQLITE_IOERR_NOMEM) ? G_FILE_ERROR_NOMEM : G_FILE_ERROR_IO;
		break;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_CANTOPEN:
	case SQLITE_AUTH:
		code = G_FILE_ERROR_ACCES;
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		domain = MDIR_ERROR;
		code = MDIR_ERROR_TEMPFAIL;
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		domain = MDIR_ERROR;
		code = MDIR_ERROR_CORRUPT;
		break;
	default:
		domain = MDIR_ERROR;
		code = MDIR_ERROR_FAILED;
	}
	g_set_error(error, domain, code, "%s: %s", s->path, msg ? msg : sqlite3_errstr(rc));
}

gboolean
stats_exec(Stats *s, const char *sql, GError **error)
{
	char *msg = NULL;
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);

	if (rc == SQLITE_OK)
		return TRUE;
	set_sql_error(s, error, sqlite3_extended_errcode(s->db), msg ? msg :
	    sqlite3_errmsg(s->db));
	sqlite3_free(msg);
	return FALSE;
}

/* Brings the schema to STATS_SCHEMA_VERSION, one step a transaction. */
static gboolean
migrate(Stats *s, GError **error)
{
	int v;

	if (!stats_exec(s, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)", error))
		return FALSE;
	v = stats_schema_version(s);
	if (v > STATS_SCHEMA_VERSION) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "%s: schema version %d is newer than this smtp-stats knows (%d)", s->path, v,
		    STATS_SCHEMA_VERSION);
		return FALSE;
	}
	for (; v < STATS_SCHEMA_VERSION; v++) {
		g_autofree char *step = g_strdup_printf("BEGIN IMMEDIATE; %s "
							"INSERT INTO schema_version VALUES (%d); COMMIT;",
		    migrations[v], v + 1);

		if (!stats_exec(s, step, error)) {
			stats_exec(s, "ROLLBACK", NULL);
			return FALSE;
		}
		mdir_log(LOG_INFO, "%s: schema migrated to version %d", s->path, v + 1);
	}
	return TRUE;
}

static void
finalize(gpointer st)
{
	sqlite3_finalize(st);
}

/*
 * The database's path with its directory resolved, that directory being no
 * link itself (the root is group-writable: a link as .stats would put the
 * database, and what SQLite writes beside it, elsewhere).  SQLite's
 * NOFOLLOW refuses a link anywhere in the path it is given: resolved, the
 * path keeps the links of the root's own path (the administrator's) out,
 * and a link put in later is refused.
 */
static char *
real_path(const char *path, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *base = g_path_get_basename(path);
	g_autofree char *self = NULL;
	g_autofree char *real = NULL;
	int fd = mdir_dir_open_nofollow(dir, TRUE, error);

	if (fd < 0)
		return NULL;
	self = g_strdup_printf("/proc/self/fd/%d", fd);
	real = g_file_read_link(self, error);
	close(fd);
	return real ? g_build_filename(real, base, NULL) : NULL;
}

Stats *
stats_open(const MdirConfig *config, MdirStore *store, GError **error)
{
	g_autoptr(Stats) s = g_new0(Stats, 1);
	g_autofree char *real = NULL;
	int rc;

	s->config = config;
	s->store = store;
	s->stmts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    finalize);
	s->path = g_strdup(mdir_config_get(config, "stats", "database"));
	real = real_path(s->path, error);
	if (real == NULL)
		return NULL;
	rc = sqlite3_open_v2(real, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
	    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK && s->db && sqlite3_extended_errcode(s->db) == SQLITE_CANTOPEN_SYMLINK) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT,
		    "%s: a symbolic link, not followed nor used", s->path);
		return NULL;
	}
	if (rc != SQLITE_OK) {
		set_sql_error(s, error, rc, s->db ? sqlite3_errmsg(s->db) : NULL);
		return NULL;
	}
	sqlite3_busy_timeout(s->db, 5000);
	/* WAL: readers never wait for the writer; NORMAL: a crash may lose the
	 * last commits, never corrupt (statistics, not mail) */
	if (!stats_exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", error) ||
	    !migrate(s, error))
		return NULL;
	return g_steal_pointer(&s);
}

void
stats_close(Stats *s)
{
	sqlite3_stmt *st;

	if (s == NULL)
		return;
	/* a database that failed to open has nothing to commit */
	if (s->db)
		stats_commit(s);
	/* closed first: the last connection closed checkpoints and ends the WAL */
	if (s->ckpt)
		sqlite3_close(s->ckpt);
	g_hash_table_unref(s->stmts);
	if (s->rcpts)
		s->rcpts_free(s->rcpts);
	while (s->db && (st = sqlite3_next_stmt(s->db, NULL)) != NULL)
		sqlite3_finalize(st);
	if (s->db)
		sqlite3_close(s->db);
	g_free(s->path);
	g_free(s);
}

sqlite3_stmt *
stats_stmt(Stats *s, const char *sql)
{
	sqlite3_stmt *st = g_hash_table_lookup(s->stmts, sql);

	/* prepared once, found again by their text: a request runs a dozen */
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return st;
	}
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) !=
	    SQLITE_OK) {
		mdir_log(LOG_ERR, "%s: %s: %s", s->path, sql, sqlite3_errmsg(s->db));
		return NULL;
	}
	g_hash_table_insert(s->stmts, g_strdup(sql), st);
	return st;
}

/*
 * Resets every cached statement: one left on a row keeps its read
 * transaction open, and the connection would never see what other
 * processes (smtp-stats whitelist, learn) commit after it.
 */
static void
reset_all(Stats *s)
{
	sqlite3_stmt *st = NULL;

	while ((st = sqlite3_next_stmt(s->db, st)) != NULL)
		sqlite3_reset(st);
}

void
stats_begin(Stats *s)
{
	if (s->batch_started)
		return;
	reset_all(s);
	if (stats_exec(s, "BEGIN IMMEDIATE", NULL))
		s->batch_started = g_get_monotonic_time();
}

void
stats_commit(Stats *s)
{
	reset_all(s);
	if (s->batch_started && !stats_exec(s, "COMMIT", NULL))
		stats_exec(s, "ROLLBACK", NULL);
	s->batch_started = 0;
}

/*
 * Checkpoints apart.  SQLite's automatic checkpoint runs in the commit
 * that takes the WAL past 1000 pages: in the policy service, under the
 * lock every decision waits for, and it flushes the WAL and the database
 * (10 ms here, a disk's queue under load).  Instead the commits only note
 * the WAL's size, and a second connection copies it back, passively: the
 * first goes on writing meanwhile.
 */
#define CHECKPOINT_PAGES 1000

static int
note_wal(void *data, sqlite3 *db, const char *name, int pages)
{
	Stats *s = data;

	(void)db;
	(void)name;
	g_atomic_int_set(&s->wal_pages, pages);
	return SQLITE_OK;
}

gboolean
stats_checkpoint_apart(Stats *s, GError **error)
{
	const char *file = sqlite3_db_filename(s->db, "main");
	int rc;

	if (s->ckpt)
		return TRUE;
	rc = sqlite3_open_v2(file, &s->ckpt, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
	    SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(s->ckpt, 5000);
		rc = sqlite3_exec(s->ckpt, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		set_sql_error(s, error, rc, s->ckpt ? sqlite3_errmsg(s->ckpt) : NULL);
		sqlite3_close(s->ckpt);
		s->ckpt = NULL;
		return FALSE;
	}
	/* replaces the automatic checkpoint */
	sqlite3_wal_hook(s->db, note_wal, s);
	return TRUE;
}

gint
stats_checkpoint(Stats *s)
{
	int rc, frames = 0, copied = 0;

	if (s->ckpt == NULL || g_atomic_int_get(&s->wal_pages) < CHECKPOINT_PAGES)
		return 0;
	/* the next commit says again how far the WAL is */
	g_atomic_int_set(&s->wal_pages, 0);
	rc = sqlite3_wal_checkpoint_v2(s->ckpt, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
		mdir_log(LOG_WARNING, "%s: checkpoint: %s", s->path, sqlite3_errmsg(s->ckpt));
		return -1;
	}
	return MAX(copied, 0);
}

char *
stats_network(const char *ip)
{
	unsigned char a[16];
	char out[INET6_ADDRSTRLEN];

	if (ip == NULL)
		return NULL;
	if (inet_pton(AF_INET, ip, a) == 1) {
		a[3] = 0;
		inet_ntop(AF_INET, a, out, sizeof(out));
		return g_strdup_printf("%s/24", out);
	}
	if (inet_pton(AF_INET6, ip, a) == 1) {
		memset(a + 8, 0, 8);
		inet_ntop(AF_INET6, a, out, sizeof(out));
		return g_strdup_printf("%s/64", out);
	}
	return NULL;
}

char *
stats_normal_sender(const char *sender)
{
	g_autofree char *s = g_ascii_strdown(sender ? sender : "", -1);
	char *at = strrchr(s, '@');
	g_autofree char *local = NULL;
	GString *out;
	char *p;

	if (at == NULL)
		return g_strdup(s);
	local = g_strndup(s, at - s);
	/* SRS0=hash=tt=domain=user@forwarder: the original sender */
	if (g_str_has_prefix(local, "srs0=") || g_str_has_prefix(local, "srs1=")) {
		g_auto(GStrv) f = g_strsplit(local, "=", -1);
		guint n = g_strv_length(f);

		if (n >= 5)
			return g_strdup_printf("%s@%s", f[n - 1], f[n - 2]);
	}
	/* BATV: prvs=tag=user, btv1==tag==user */
	if (g_str_has_prefix(local, "prvs=") || g_str_has_prefix(local, "btv1=")) {
		p = strrchr(local, '=');
		if (p && p[1]) {
			char *rest = g_strdup(p + 1);

			g_free(local);
			local = rest;
		}
	}
	p = strchr(local, '+');
	if (p)
		*p = '\0';
	out = g_string_new(NULL);
	/* VERP: bounce-1234-x@ and bounce-5678-x@ are one sender */
	for (p = local; *p; p++) {
		if (g_ascii_isdigit(*p)) {
			if (out->len == 0 || out->str[out->len - 1] != '#')
				g_string_append_c(out, '#');
		} else {
			g_string_append_c(out, *p);
		}
	}
	g_string_append(out, at);
	return g_string_free(out, FALSE);
}

char *
stats_iso_time(gint64 t)
{
	return mdir_time_format(t, MDIR_TIME_ISO8601);
}

char *
stats_message_key(const char *message_id)
{
	char *key;

	if (message_id == NULL)
		return NULL;
	/* the record's id has no <>, the header's has */
	key = g_strstrip(g_strdelimit(g_strdup(message_id), "<>", ' '));
	if (*key == '\0')
		g_clear_pointer(&key, g_free);
	return key;
}

/* Whether @key was learned as spam before. */
static gboolean
learned_before(Stats *s, const char *key)
{
	sqlite3_stmt *st = stats_stmt(s, "SELECT 1 FROM learned WHERE message_id = ?");

	if (st == NULL || key == NULL)
		return FALSE;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	return sqlite3_step(st) == SQLITE_ROW;
}

/* One events line into the events table (and the per-IP counters); the
 * insert's result (SQLITE_DONE when all went well). */
static int
import_line(Stats *s, char *line)
{
	g_autoptr(GHashTable) f = g_hash_table_new(g_str_hash, g_str_equal);
	g_auto(GStrv) parts = g_strsplit(line, "\t", -1);
	g_autofree char *net = NULL;
	g_autofree char *key = NULL;
	sqlite3_stmt *st;
	const char *kind, *ip;
	gboolean spam;
	int rc;

	for (guint i = 0; parts[i]; i++) {
		char *eq = strchr(parts[i], '=');

		if (eq) {
			*eq = '\0';
			g_hash_table_insert(f, parts[i], eq + 1);
		}
	}
	kind = g_hash_table_lookup(f, "kind");
	if (kind == NULL)
		return SQLITE_DONE;
	ip = g_hash_table_lookup(f, "ip");
	net = stats_network(ip);
	key = stats_message_key(g_hash_table_lookup(f, "message_id"));
	st = stats_stmt(s, "INSERT INTO events (ts, kind, account, ip, net, domain, size, rcpt,"
			   " sender, message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (st == NULL)
		return sqlite3_errcode(s->db);
	sqlite3_bind_int64(st, 1, g_ascii_strtoll(g_hash_table_lookup(f, "ts") ?: "0", NULL, 10));
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, g_hash_table_lookup(f, "account"), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, ip, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 5, net, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 6, g_hash_table_lookup(f, "domain") ?:
	    g_hash_table_lookup(f, "sender_domain"), -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 7, g_ascii_strtoll(g_hash_table_lookup(f, "size") ?: "0", NULL,
	    10));
	sqlite3_bind_text(st, 8, g_hash_table_lookup(f, "rcpt"), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 9, g_hash_table_lookup(f, "sender"), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 10, key, -1, SQLITE_TRANSIENT);
	if ((rc = sqlite3_step(st)) != SQLITE_DONE)
		return sqlite3_extended_errcode(s->db);
	/* a message learned as spam before, delivered again, is no valid mail */
	spam = strcmp(kind, "delivered") == 0 && learned_before(s, key);
	if (ip && !spam && (strcmp(kind, "delivered") == 0 || strcmp(kind, "unknown") == 0)) {
		st = stats_stmt(s, strcmp(kind, "delivered") == 0 ?
		    "INSERT INTO ips (ip, net, valid) VALUES (?, ?, 1) ON CONFLICT (ip) DO UPDATE"
		    " SET valid = valid + 1" :
		    "INSERT INTO ips (ip, net, unknown) VALUES (?, ?, 1) ON CONFLICT (ip) DO UPDATE"
		    " SET unknown = unknown + 1");
		sqlite3_bind_text(st, 1, ip, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, net, -1, SQLITE_TRANSIENT);
		sqlite3_step(st);
	}
	if (strcmp(kind, "sent") == 0 && g_hash_table_lookup(f, "rcpt")) {
		g_autofree char *a = g_ascii_strdown(g_hash_table_lookup(f, "rcpt"), -1);

		/* who our users write to is never greylisted */
		st = stats_stmt(s, "INSERT OR REPLACE INTO written_to VALUES (?, ?)");
		sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, g_get_real_time() / G_USEC_PER_SEC);
		sqlite3_step(st);
	}
	return SQLITE_DONE;
}

static char *
meta_get(Stats *s, const char *key)
{
	sqlite3_stmt *st = stats_stmt(s, "SELECT value FROM meta WHERE key = ?");

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	return sqlite3_step(st) == SQLITE_ROW ? g_strdup((const char *)sqlite3_column_text(st,
	    0)) : NULL;
}

static void
meta_set(Stats *s, const char *key, const char *value)
{
	sqlite3_stmt *st = stats_stmt(s, "INSERT OR REPLACE INTO meta VALUES (?, ?)");

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	sqlite3_step(st);
}

gint
stats_import(Stats *s, GError **error)
{
	g_autofree char *path = mdir_events_path(s->config);
	g_autofree char *where = NULL;
	g_autofree char *id = NULL;
	g_autoptr(GError) e = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	gint64 offset = 0;
	gint count = 0;
	int rc = SQLITE_DONE;
	struct stat st;
	FILE *fp = NULL;
	int fd;

	/* a link would import another file's lines (and say how far) */
	fd = mdir_file_open_nofollow(path, O_RDONLY, &e);
	if (fd < 0 && g_error_matches(e, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT)) {
		g_propagate_error(error, g_steal_pointer(&e));
		return -1;
	}
	if (fd < 0 || (fp = fdopen(fd, "r")) == NULL) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	if (fstat(fileno(fp), &st) < 0) {
		fclose(fp);
		return 0;
	}
	stats_commit(s);
	if (!stats_exec(s, "BEGIN IMMEDIATE", error)) {
		fclose(fp);
		return -1;
	}
	/* where the last import stopped, if it is still the same file */
	id = g_strdup_printf("%lu:%lu", (unsigned long)st.st_dev, (unsigned long)st.st_ino);
	where = meta_get(s, "events_offset");
	if (where && g_str_has_prefix(where, id) && where[strlen(id)] == '@')
		offset = g_ascii_strtoll(where + strlen(id) + 1, NULL, 10);
	if (offset > st.st_size)
		offset = 0;
	fseeko(fp, offset, SEEK_SET);
	while ((n = getline(&line, &cap, fp)) > 0 && line[n - 1] == '\n') {
		line[n - 1] = '\0';
		if ((rc = import_line(s, line)) != SQLITE_DONE)
			break;
		offset += n;
		count++;
	}
	free(line);
	fclose(fp);
	if (rc != SQLITE_DONE) {
		/* a full disk: nothing of this run counts, the next one redoes it */
		set_sql_error(s, error, rc, sqlite3_errmsg(s->db));
		stats_exec(s, "ROLLBACK", NULL);
		reset_all(s);
		return -1;
	}
	{
		g_autofree char *at = g_strdup_printf("%s@%" G_GINT64_FORMAT, id, offset);

		meta_set(s, "events_offset", at);
	}
	if (!stats_exec(s, "COMMIT", error)) {
		stats_exec(s, "ROLLBACK", NULL);
		return -1;
	}
	return count;
}
