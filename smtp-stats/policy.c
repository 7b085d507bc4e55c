/*
 * policy.c: the Postfix policy delegation service (SMTPD_POLICY_README),
 * for check_policy_service at the RCPT stage.
 *
 * The decisions, in order: a blacklisted IP is rejected; an unknown
 * recipient in a local domain is rejected (and counted against the IP,
 * which past blacklist_threshold, never having delivered valid mail, is
 * blacklisted for blacklist_time); an IP whose learned spam ratio is too
 * high is deferred or rejected; whitelisted networks, domains and the
 * addresses our users wrote to pass; the rest is greylisted by triplet.
 * Never "OK": that would skip Postfix's own later checks.  Any trouble
 * answers DUNNO, with a log line: the service never blocks mail by failing.
 */
#include <sys/stat.h>

#include <string.h>
#include <syslog.h>

#include "stats.h"

static gint64
count_of(Stats *s, const char *sql, const char *a, const char *b)
{
	sqlite3_stmt *st = stats_stmt(s, sql);
	gint64 n = 0;

	if (st == NULL)
		return -1;
	if (a)
		sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
	if (b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	return n;
}

static void
run2(Stats *s, const char *sql, const char *a, const char *b, gint64 n)
{
	sqlite3_stmt *st = stats_stmt(s, sql);

	if (st == NULL)
		return;
	sqlite3_bind_text(st, 1, a, -1, SQLITE_TRANSIENT);
	if (b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, b ? 3 : 2, n);
	sqlite3_step(st);
}

/*
 * What a recipient's account was, lately.  Looking it up walks the folder
 * tree (normalising, resolving every link of the path): most of a
 * decision's time.  An answer is kept for a second at most, and only while
 * SMTP/Accounts stays the same directory with the same times: an account
 * made, removed or aliased there is seen by the next request.  A file's
 * times move by clock ticks, so a directory changed in the last 50 ms
 * keeps nothing (a second change in the tick of the first would not show);
 * the second bounds what the times cannot see: an alias whose folder is
 * elsewhere.
 */
#define RCPT_CACHE_US G_USEC_PER_SEC
#define RCPT_CACHE_MAX 10000
#define RCPT_SETTLED_US (50 * 1000)

struct RcptCache {
	GHashTable *seen; /* recipient -> RcptSeen */
	char *dir;	  /* ROOT/SMTP/Accounts */
	struct stat st;	  /* its stat when the entries were made */
};

typedef struct {
	gint64 at; /* monotonic, µs */
	gboolean unknown;
} RcptSeen;

static void
rcpt_cache_free(gpointer p)
{
	RcptCache *c = p;

	if (c == NULL)
		return;
	g_hash_table_unref(c->seen);
	g_free(c->dir);
	g_free(c);
}

static gboolean
same_dir(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* The cache, emptied if SMTP/Accounts changed; NULL if it cannot be told. */
static RcptCache *
rcpt_cache(Stats *s)
{
	RcptCache *c = s->rcpts;
	struct stat st;

	if (c == NULL) {
		c = s->rcpts = g_new0(RcptCache, 1);
		s->rcpts_free = rcpt_cache_free;
		c->seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
		c->dir = g_build_filename(mdir_store_root(s->store), "SMTP", "Accounts", NULL);
	}
	if (stat(c->dir, &st) < 0 || st.st_mtim.tv_sec * G_USEC_PER_SEC +
	    st.st_mtim.tv_nsec / 1000 > g_get_real_time() - RCPT_SETTLED_US) {
		g_hash_table_remove_all(c->seen);
		return NULL;
	}
	if (!same_dir(&st, &c->st) || g_hash_table_size(c->seen) >= RCPT_CACHE_MAX) {
		g_hash_table_remove_all(c->seen);
		c->st = st;
	}
	return c;
}

/* Whether @rcpt is in a local domain and has no account there. */
static gboolean
no_account(Stats *s, const char *rcpt)
{
	const char *at = strrchr(rcpt, '@');
	RcptCache *c = rcpt_cache(s);
	RcptSeen *seen = c ? g_hash_table_lookup(c->seen, rcpt) : NULL;
	gint64 now = g_get_monotonic_time();
	g_autoptr(GError) e = NULL;
	g_autoptr(MdirFolder) f = NULL;
	gboolean unknown;

	if (seen && now - seen->at < RCPT_CACHE_US)
		return seen->unknown;
	/* another domain is not ours to refuse (relay checks are Postfix's) */
	if (at == NULL || !mdir_domain_is_local(s->config, at + 1))
		unknown = FALSE;
	else if ((f = mdir_account_open(s->store, s->config, rcpt, NULL, &e)) != NULL)
		unknown = FALSE;
	else if (g_error_matches(e, MDIR_ERROR, MDIR_ERROR_NO_ACCOUNT))
		unknown = TRUE;
	else
		return FALSE; /* trouble (permissions...): not an answer to keep */
	if (c) {
		seen = g_new(RcptSeen, 1);
		seen->at = now;
		seen->unknown = unknown;
		g_hash_table_replace(c->seen, g_strdup(rcpt), seen);
	}
	return unknown;
}

/* Unknown recipient in a local domain: TRUE, and counts it. */
static gboolean
unknown_recipient(Stats *s, const char *ip, const char *rcpt, gint64 now)
{
	g_autofree char *net = NULL;
	gint64 unknown, valid;

	if (!no_account(s, rcpt))
		return FALSE;
	if (ip == NULL)
		return TRUE;
	net = stats_network(ip);
	run2(s, "INSERT INTO ips (ip, net, unknown) VALUES (?, ?, ?) ON CONFLICT (ip)"
		" DO UPDATE SET unknown = unknown + 1", ip, net, 1);
	unknown = count_of(s, "SELECT unknown FROM ips WHERE ip = ?", ip, NULL);
	valid = count_of(s, "SELECT valid FROM ips WHERE ip = ?", ip, NULL);
	/* an IP that also delivered valid mail is a real server with a typo */
	if (valid == 0 && unknown >= mdir_config_get_int(s->config, "stats", "blacklist_threshold")) {
		gint64 until = now + mdir_config_get_duration_ms(s->config, "stats",
		    "blacklist_time") / 1000;

		g_autofree char *iso = stats_iso_time(until);

		run2(s, "INSERT OR REPLACE INTO blacklist (ip, reason, until) VALUES (?, ?, ?)", ip,
		    "unknown recipients, no valid mail", until);
		mdir_log(LOG_NOTICE, "policy: client=%s decision=" POLICY_BLACKLISTED
		    " unknown_recipients=%" G_GINT64_FORMAT " valid=0 until=%s", ip, unknown, iso);
	}
	return TRUE;
}

static gboolean
whitelisted(Stats *s, const char *net, const char *sender, const char *domain)
{
	return count_of(s, "SELECT count(*) FROM whitelist WHERE kind = 'net' AND value = ?",
		   net, NULL) > 0 ||
	    (domain && count_of(s, "SELECT count(*) FROM whitelist WHERE kind = 'domain'"
				  " AND value = ?", domain, NULL) > 0) ||
	    (sender && count_of(s, "SELECT count(*) FROM written_to WHERE address = ?", sender,
			   NULL) > 0);
}

/* After a passed retry: whitelist the network or the domain when earned. */
static void
promote(Stats *s, const char *net, const char *domain, gint64 now)
{
	gint64 after = mdir_config_get_int(s->config, "stats", "whitelist_after");
	gint64 nets = mdir_config_get_int(s->config, "stats", "whitelist_domain_networks");

	if (count_of(s, "SELECT count(*) FROM greylist WHERE net = ? AND passed > 0", net,
		NULL) >= after)
		run2(s, "INSERT OR IGNORE INTO whitelist (kind, value, reason, added)"
			" VALUES ('net', ?, 'passed greylisting', ?)", net, NULL, now);
	if (domain && count_of(s, "SELECT count(DISTINCT net) FROM greylist WHERE passed > 0"
			      " AND sender LIKE '%@' || ?", domain, NULL) >= nets)
		run2(s, "INSERT OR IGNORE INTO whitelist (kind, value, reason, added)"
			" VALUES ('domain', ?, 'passed from several networks', ?)", domain, NULL,
		    now);
}

/* The greylisting triplet: NULL to pass, or the deferral. */
static char *
greylist(Stats *s, const char *net, const char *sender, const char *rcpt, const char *domain,
    gint64 now)
{
	gint64 delay = mdir_config_get_duration_ms(s->config, "stats", "greylist_delay") / 1000;
	sqlite3_stmt *st = stats_stmt(s, "SELECT first, passed FROM greylist WHERE net = ? AND"
					 " sender = ? AND rcpt = ?");
	gint64 first, passed;

	sqlite3_bind_text(st, 1, net, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, sender, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, rcpt, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_ROW) {
		st = stats_stmt(s, "INSERT INTO greylist (net, sender, rcpt, first, last)"
				   " VALUES (?, ?, ?, ?, ?)");
		sqlite3_bind_text(st, 1, net, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, sender, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 3, rcpt, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 4, now);
		sqlite3_bind_int64(st, 5, now);
		sqlite3_step(st);
		return g_strdup_printf("DEFER_IF_PERMIT 4.7.1 greylisted: first time from %s for "
				       "this sender and recipient, try again in %" G_GINT64_FORMAT
				       " seconds", net, delay);
	}
	first = sqlite3_column_int64(st, 0);
	passed = sqlite3_column_int64(st, 1);
	if (now - first < delay)
		return g_strdup_printf("DEFER_IF_PERMIT 4.7.1 greylisted: retried after %"
				       G_GINT64_FORMAT " of %" G_GINT64_FORMAT " seconds",
		    now - first, delay);
	st = stats_stmt(s, "UPDATE greylist SET last = ?, passed = passed + 1 WHERE net = ? AND"
			   " sender = ? AND rcpt = ?");
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, net, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, sender, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 4, rcpt, -1, SQLITE_TRANSIENT);
	sqlite3_step(st);
	if (passed == 0)
		promote(s, net, domain, now);
	return NULL;
}

/* A spam ratio over the threshold, with enough messages to judge. */
static char *
spammer(Stats *s, const char *ip)
{
	sqlite3_stmt *st = stats_stmt(s, "SELECT spam, valid FROM ips WHERE ip = ?");
	double ratio;
	gint64 spam, valid;

	sqlite3_bind_text(st, 1, ip, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_ROW)
		return NULL;
	spam = sqlite3_column_int64(st, 0);
	valid = sqlite3_column_int64(st, 1);
	if (spam < mdir_config_get_int(s->config, "stats", "spam_min_messages"))
		return NULL;
	ratio = (double)spam / (double)(spam + valid);
	if (ratio <= g_ascii_strtod(mdir_config_get(s->config, "stats", "spam_ratio_threshold"),
		NULL))
		return NULL;
	return g_strdup_printf("%s %s spam ratio %.2f (%" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
			       " messages learned as spam)",
	    strcmp(mdir_config_get(s->config, "stats", "spam_action"), "reject") == 0 ?
		"REJECT 5.7.1" :
		"DEFER_IF_PERMIT 4.7.1",
	    ip, ratio, spam, spam + valid);
}

char *
policy_decide(Stats *s, GHashTable *attrs, gint64 now, const char **decision)
{
	const char *state = g_hash_table_lookup(attrs, "protocol_state");
	const char *ip = g_hash_table_lookup(attrs, "client_address");
	const char *rcpt = g_hash_table_lookup(attrs, "recipient");
	const char *sender_raw = g_hash_table_lookup(attrs, "sender");
	g_autofree char *net = stats_network(ip);
	g_autofree char *sender = stats_normal_sender(sender_raw);
	g_autofree char *lrcpt = rcpt ? g_ascii_strdown(rcpt, -1) : NULL;
	const char *at = strrchr(sender, '@');
	g_autofree char *raw_lower = sender_raw ? g_ascii_strdown(sender_raw, -1) : NULL;
	const char *dummy;
	char *action;

	decision = decision ? decision : &dummy;
	*decision = POLICY_IGNORED;
	if (state && g_ascii_strcasecmp(state, "RCPT") != 0)
		return g_strdup("DUNNO");
	if (rcpt == NULL || *rcpt == '\0')
		return g_strdup("DUNNO");
	{
		sqlite3_stmt *st = stats_stmt(s, "SELECT reason FROM blacklist WHERE ip = ? AND"
						 " until > ?");

		sqlite3_bind_text(st, 1, ip ? ip : "", -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, now);
		if (sqlite3_step(st) == SQLITE_ROW) {
			*decision = POLICY_BLACKLISTED;
			return g_strdup_printf("REJECT 5.7.1 %s is blacklisted: %s", ip,
			    (const char *)sqlite3_column_text(st, 0));
		}
	}
	if (unknown_recipient(s, ip, rcpt, now)) {
		*decision = POLICY_UNKNOWN_RECIPIENT;
		/* "550", not "REJECT" (554 by Postfix's default): a missing
		 * mailbox is 550 5.1.1 everywhere */
		return g_strdup_printf("550 5.1.1 <%s>: no such mailbox here", rcpt);
	}
	if (ip && (action = spammer(s, ip)) != NULL) {
		*decision = POLICY_SPAM_RATIO;
		return action;
	}
	if (net == NULL || whitelisted(s, net, raw_lower, at ? at + 1 : NULL)) {
		*decision = POLICY_WHITELISTED;
		return g_strdup("DUNNO");
	}
	action = greylist(s, net, sender, lrcpt, at ? at + 1 : NULL, now);
	*decision = action ? POLICY_GREYLISTED : POLICY_PASSED;
	return action ? action : g_strdup("DUNNO");
}

guint
policy_expire(Stats *s, gint64 now, guint max)
{
	gint64 keep = mdir_config_get_duration_ms(s->config, "stats", "greylist_expire") / 1000;
	sqlite3_stmt *st = stats_stmt(s, "DELETE FROM greylist WHERE rowid IN (SELECT rowid FROM"
					 " greylist WHERE last < ? LIMIT ?)");

	sqlite3_bind_int64(st, 1, now - keep);
	sqlite3_bind_int64(st, 2, max);
	sqlite3_step(st);
	return sqlite3_changes(s->db);
}

void
policy_count(Stats *s, const char *decision, const char *ip, gint64 now)
{
	sqlite3_stmt *st = stats_stmt(s, "INSERT INTO decisions (ts, ip, action) VALUES (?, ?, ?)");

	if (st == NULL)
		return;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_text(st, 2, ip, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, decision, -1, SQLITE_TRANSIENT);
	sqlite3_step(st);
}
