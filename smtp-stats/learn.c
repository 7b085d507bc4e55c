/*
 * learn.c: "smtp-stats learn": every message in the spam folder counts
 * once against the IP that delivered it, its network and its sender
 * domain; then it leaves the folder.
 *
 * Sync clients upload a copy rather than move, so the same message may
 * come many times: each Message-ID is learned once (the learned table).
 * Learning and that mark are one transaction, and the entry is removed
 * after it: interrupted anywhere, a second run counts nothing twice.
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "stats.h"

/* The unfolded header fields of a message file, name (lower case) -> first value. */
static GHashTable *
read_header(const char *path)
{
	GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_autoptr(GString) cur = g_string_new(NULL);
	FILE *fp = fopen(path, "re");
	char line[4096];

	while (fp && fgets(line, sizeof(line), fp)) {
		gboolean cont = line[0] == ' ' || line[0] == '\t';
		char *colon;

		if (!cont && cur->len > 0 && (colon = strchr(cur->str, ':')) != NULL) {
			g_autofree char *name = g_ascii_strdown(cur->str, colon - cur->str);

			if (!g_hash_table_contains(h, name))
				g_hash_table_insert(h, g_steal_pointer(&name),
				    g_strstrip(g_strdup(colon + 1)));
			g_string_truncate(cur, 0);
		}
		if (line[0] == '\n' || (line[0] == '\r' && line[1] == '\n'))
			break;
		g_strchomp(line);
		g_string_append(cur, cont ? " " : "");
		g_string_append(cur, cont ? g_strchug(line) : line);
	}
	if (fp)
		fclose(fp);
	return h;
}

/* The first [address] in a Received field: what our MTA saw connect. */
static char *
received_ip(const char *received)
{
	const char *open = received ? strchr(received, '[') : NULL;
	const char *close = open ? strchr(open, ']') : NULL;
	g_autofree char *ip = close ? g_strndup(open + 1, close - open - 1) : NULL;
	g_autofree char *net = NULL;

	if (ip && g_str_has_prefix(ip, "IPv6:"))
		memmove(ip, ip + 5, strlen(ip + 5) + 1);
	net = stats_network(ip);
	return net ? g_steal_pointer(&ip) : NULL;
}

static void
bump(Stats *s, const char *kind, const char *value)
{
	sqlite3_stmt *st = stats_stmt(s, "INSERT INTO spam (kind, value, count) VALUES (?, ?, 1)"
					 " ON CONFLICT (kind, value) DO UPDATE SET count = count + 1");

	if (value == NULL)
		return;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
	sqlite3_step(st);
}

/*
 * Each delivery of the message was counted as valid mail when its event
 * was imported: take those back, or an IP whose mail is all spam would
 * score spam / (spam + valid) = 0.5 and never be deferred.
 */
static void
unvalidate(Stats *s, const char *key)
{
	sqlite3_stmt *st = stats_stmt(s, "UPDATE ips SET valid = max(0, valid - (SELECT count(*)"
					 " FROM events e WHERE e.kind = 'delivered' AND e.message_id = ?1"
					 " AND e.ip = ips.ip)) WHERE ip IN (SELECT ip FROM events WHERE"
					 " kind = 'delivered' AND message_id = ?1)");

	if (st == NULL)
		return;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_step(st);
}

/* Counts one message, once per Message-ID; FALSE if it was learned before. */
static gboolean
learn_one(Stats *s, const char *id, const char *ip, const char *domain)
{
	g_autofree char *net = stats_network(ip);
	sqlite3_stmt *st = stats_stmt(s, "INSERT OR IGNORE INTO learned VALUES (?, ?)");

	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, g_get_real_time() / G_USEC_PER_SEC);
	sqlite3_step(st);
	if (sqlite3_changes(s->db) == 0)
		return FALSE;
	unvalidate(s, id);
	if (ip) {
		st = stats_stmt(s, "INSERT INTO ips (ip, net, spam) VALUES (?, ?, 1)"
				   " ON CONFLICT (ip) DO UPDATE SET spam = spam + 1");
		sqlite3_bind_text(st, 1, ip, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, net, -1, SQLITE_TRANSIENT);
		sqlite3_step(st);
	}
	bump(s, "ip", ip);
	bump(s, "net", net);
	bump(s, "domain", domain);
	return TRUE;
}

int
learn_folder(Stats *s, const char *folder, GError **error)
{
	g_autoptr(MdirFolder) f = mdir_folder_open(s->store, folder, 0, error);
	g_autoptr(GPtrArray) names = f ? mdir_folder_list(f, error) : NULL;
	guint learned = 0, copies = 0;

	if (names == NULL)
		return -1;
	/* the deliveries' events first: learning takes them back from valid */
	if (stats_import(s, error) < 0)
		return -1;
	for (guint i = 0; i < names->len; i++) {
		const char *name = names->pdata[i];
		g_autoptr(MdirRecord) r = mdir_folder_load_record(f, name, NULL);
		g_autofree char *path = mdir_folder_entry_path(f, name);
		g_autoptr(GHashTable) h = read_header(path);
		const char *id = r ? mdir_record_get(r, "message-id") : NULL;
		const char *ip = r ? mdir_record_get(r, "client-address") : NULL;
		const char *from = r ? mdir_record_get(r, "envelope-from") : NULL;
		g_autofree char *rip = NULL;
		const char *at;

		/* only whole messages count: a part of one is not another spam */
		if (r && mdir_record_get_int(r, "part", 0) != 0) {
			mdir_folder_remove(f, name, NULL, NULL);
			continue;
		}
		id = id ? id : g_hash_table_lookup(h, "message-id");
		if (ip == NULL || *ip == '\0')
			ip = rip = received_ip(g_hash_table_lookup(h, "received"));
		from = from && *from ? from : g_hash_table_lookup(h, "from");
		at = from ? strrchr(from, '@') : NULL;
		{
			g_autofree char *domain = at ? g_ascii_strdown(at + 1, -1) : NULL;
			g_autofree char *key = stats_message_key(id ? id : name);

			if (domain)
				g_strdelimit(domain, ">) ", '\0');
			stats_begin(s);
			if (learn_one(s, key, ip, domain))
				learned++;
			else
				copies++;
			stats_commit(s);
		}
		/* after the commit: a crash between the two counts nothing twice */
		if (!mdir_folder_remove(f, name, NULL, error))
			return -1;
	}
	mdir_log(LOG_INFO, "learned %u messages from %s (%u copies of known ones)", learned,
	    folder, copies);
	return (int)learned;
}
