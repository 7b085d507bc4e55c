/*
 * test-stats.c: smtp-stats' database and policy decisions, called
 * directly with the time given, so that greylisting delays need no
 * sleeping: the schema and its migration, each decision, expiry in steps,
 * and the sender and network normalisation.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "stats.h"

typedef struct {
	MdirConfig *config;
	MdirStore *store;
	Stats *stats;
} Fx;

static void
fx_up(Fx *fx, gconstpointer data)
{
	g_autofree char *root = test_root();
	g_autofree char *conf = g_strdup_printf(
	    "[mdir]\nroot = %s\n[receive]\nlocal_domains = example.test\n"
	    "[stats]\ngreylist_delay = 5m\ngreylist_expire = 1d\nblacklist_threshold = 3\n"
	    "whitelist_after = 2\nwhitelist_domain_networks = 2\nspam_min_messages = 2\n"
	    "spam_ratio_threshold = 0.5\n%s",
	    root, data ? (const char *)data : "");
	g_autofree char *path = test_write_tmp("c.conf", conf);
	g_autoptr(GError) e = NULL;
	g_autoptr(MdirFolder) jo = NULL;

	fx->config = mdir_config_load(path, &e);
	g_assert_no_error(e);
	fx->store = mdir_store_open_config(fx->config, &e);
	g_assert_no_error(e);
	jo = mdir_folder_open(fx->store, "SMTP/Accounts/jo@example.test", MDIR_FOLDER_CREATE, &e);
	g_assert_no_error(e);
	fx->stats = stats_open(fx->config, fx->store, &e);
	g_assert_no_error(e);
}

static void
fx_down(Fx *fx, gconstpointer data)
{
	(void)data;
	stats_close(fx->stats);
	mdir_store_free(fx->store);
	mdir_config_free(fx->config);
}

/* The action for IP SENDER RCPT at @now. */
static char *
ask(Fx *fx, const char *ip, const char *sender, const char *rcpt, gint64 now)
{
	g_autoptr(GHashTable) a = g_hash_table_new(g_str_hash, g_str_equal);
	char *action;

	g_hash_table_insert(a, "request", "smtpd_access_policy");
	g_hash_table_insert(a, "protocol_state", "RCPT");
	g_hash_table_insert(a, "client_address", (gpointer)(guintptr)ip);
	g_hash_table_insert(a, "sender", (gpointer)(guintptr)sender);
	g_hash_table_insert(a, "recipient", (gpointer)(guintptr)rcpt);
	action = policy_decide(fx->stats, a, now, NULL);
	g_assert_false(g_str_has_prefix(action, "OK")); /* never */
	return action;
}

#define ASSERT_ASKS(fx, ip, sender, rcpt, now, prefix)                           \
	do {                                                                      \
		g_autofree char *a_ = ask(fx, ip, sender, rcpt, now);             \
		if (!g_str_has_prefix(a_, prefix))                                \
			g_error("%s %s %s: got \"%s\", want \"%s...\"", ip, sender, \
			    rcpt, a_, prefix);                                    \
	} while (0)

static const gint64 T0 = 1800000000;

static void
test_schema(Fx *fx, gconstpointer data)
{
	g_autoptr(GError) e = NULL;
	Stats *again;

	(void)data;
	g_assert_cmpint(stats_schema_version(fx->stats), ==, STATS_SCHEMA_VERSION);
	/* opening again migrates nothing */
	again = stats_open(fx->config, fx->store, &e);
	g_assert_no_error(e);
	stats_close(again);
	g_assert_true(stats_exec(fx->stats, "INSERT INTO schema_version VALUES (99)", NULL));
	again = stats_open(fx->config, fx->store, &e);
	g_assert_null(again);
	g_assert_error(e, MDIR_ERROR, MDIR_ERROR_CONFIG);
	g_assert_nonnull(strstr(e->message, "schema version 99 is newer"));
}

static void
test_greylist(Fx *fx, gconstpointer data)
{
	(void)data;
	ASSERT_ASKS(fx, "192.0.2.1", "ann@s.test", "jo@example.test", T0,
	    "DEFER_IF_PERMIT 4.7.1 greylisted: first time from 192.0.2.0/24");
	ASSERT_ASKS(fx, "192.0.2.99", "ann+x@s.test", "JO@example.test", T0 + 60,
	    "DEFER_IF_PERMIT 4.7.1 greylisted: retried after 60 of 300");
	ASSERT_ASKS(fx, "192.0.2.1", "ann@s.test", "jo@example.test", T0 + 300, "DUNNO");
	/* another /24 is another triplet */
	ASSERT_ASKS(fx, "192.0.3.1", "ann@s.test", "jo@example.test", T0 + 300, "DEFER_IF_PERMIT");
	/* IPv6: the /64 */
	ASSERT_ASKS(fx, "2001:db8:1:2::5", "b@s.test", "jo@example.test", T0, "DEFER_IF_PERMIT 4.7.1 "
	    "greylisted: first time from 2001:db8:1:2::/64");
	ASSERT_ASKS(fx, "2001:db8:1:2:ffff::9", "b@s.test", "jo@example.test", T0 + 400, "DUNNO");
}

static void
test_whitelists(Fx *fx, gconstpointer data)
{
	(void)data;
	/* two triplets passed from a network: the network is whitelisted */
	ASSERT_ASKS(fx, "198.51.100.1", "a@one.test", "jo@example.test", T0, "DEFER");
	ASSERT_ASKS(fx, "198.51.100.1", "a@one.test", "jo@example.test", T0 + 300, "DUNNO");
	ASSERT_ASKS(fx, "198.51.100.1", "b@two.test", "jo@example.test", T0, "DEFER");
	ASSERT_ASKS(fx, "198.51.100.1", "b@two.test", "jo@example.test", T0 + 300, "DUNNO");
	ASSERT_ASKS(fx, "198.51.100.7", "new@three.test", "jo@example.test", T0 + 301, "DUNNO");
	/* a domain that passed from two networks is whitelisted */
	ASSERT_ASKS(fx, "203.0.113.1", "x@multi.test", "jo@example.test", T0, "DEFER");
	ASSERT_ASKS(fx, "203.0.113.1", "x@multi.test", "jo@example.test", T0 + 300, "DUNNO");
	ASSERT_ASKS(fx, "203.0.114.1", "y@multi.test", "jo@example.test", T0, "DEFER");
	ASSERT_ASKS(fx, "203.0.114.1", "y@multi.test", "jo@example.test", T0 + 300, "DUNNO");
	ASSERT_ASKS(fx, "203.0.200.1", "z@multi.test", "jo@example.test", T0 + 301, "DUNNO");
	/* our users' correspondents */
	g_assert_true(stats_exec(fx->stats, "INSERT INTO written_to VALUES ('pal@far.test', 0)",
	    NULL));
	ASSERT_ASKS(fx, "10.0.0.1", "Pal@far.test", "jo@example.test", T0, "DUNNO");
}

static void
test_unknown_and_blacklist(Fx *fx, gconstpointer data)
{
	(void)data;
	ASSERT_ASKS(fx, "10.1.1.1", "x@y.test", "nobody@example.test", T0,
	    "550 5.1.1 <nobody@example.test>");
	/* not a local domain: not ours to refuse */
	ASSERT_ASKS(fx, "10.1.1.1", "x@y.test", "a@elsewhere.test", T0, "DEFER_IF_PERMIT");
	ASSERT_ASKS(fx, "10.1.1.1", "x@y.test", "n2@example.test", T0, "550");
	ASSERT_ASKS(fx, "10.1.1.1", "x@y.test", "n3@example.test", T0, "550");
	ASSERT_ASKS(fx, "10.1.1.1", "x@y.test", "jo@example.test", T0 + 1,
	    "REJECT 5.7.1 10.1.1.1 is blacklisted");
	/* blacklist_time later it is free again (1d by default) */
	ASSERT_ASKS(fx, "10.1.1.1", "x@y.test", "jo@example.test", T0 + 86400 + 2,
	    "DEFER_IF_PERMIT");
	/* an IP that delivered valid mail is never blacklisted this way */
	g_assert_true(stats_exec(fx->stats, "INSERT INTO ips (ip, valid) VALUES ('10.2.2.2', 1)",
	    NULL));
	for (int i = 0; i < 5; i++)
		ASSERT_ASKS(fx, "10.2.2.2", "x@y.test", "typo@example.test", T0, "550");
	ASSERT_ASKS(fx, "10.2.2.2", "x@y.test", "jo@example.test", T0, "DEFER_IF_PERMIT");
}

/* SMTP/Accounts' times put @secs in the past (its ctime moves to now). */
static void
age_accounts(Fx *fx, gint64 secs)
{
	g_autofree char *dir = g_build_filename(mdir_store_root(fx->store), "SMTP", "Accounts",
	    NULL);
	struct timespec t[2] = { { .tv_sec = time(NULL) - secs }, { .tv_sec = time(NULL) - secs } };

	g_assert_cmpint(utimensat(AT_FDCWD, dir, t, 0), ==, 0);
}

/* The accounts looked up lately are kept, but an account made or removed
 * is seen by the very next request. */
static void
test_accounts_seen_at_once(Fx *fx, gconstpointer data)
{
	g_autofree char *dir = g_build_filename(mdir_store_root(fx->store), "SMTP", "Accounts",
	    "nobody@example.test", NULL);
	g_autoptr(GError) e = NULL;
	g_autoptr(MdirFolder) f = NULL;

	(void)data;
	age_accounts(fx, 10);
	ASSERT_ASKS(fx, "10.1.1.1", "x@y.test", "nobody@example.test", T0, "550 5.1.1");
	ASSERT_ASKS(fx, "10.1.1.2", "x@y.test", "nobody@example.test", T0, "550 5.1.1");
	f = mdir_folder_open(fx->store, "SMTP/Accounts/nobody@example.test", MDIR_FOLDER_CREATE,
	    &e);
	g_assert_no_error(e);
	ASSERT_ASKS(fx, "10.1.1.3", "x@y.test", "nobody@example.test", T0, "DEFER_IF_PERMIT");
	g_clear_pointer(&f, mdir_folder_free);
	/* changes whose times were made old at once: seen all the same */
	age_accounts(fx, 10);
	ASSERT_ASKS(fx, "10.1.1.3", "x@y.test", "nobody@example.test", T0, "DEFER_IF_PERMIT");
	g_assert_cmpint(rmdir(dir), ==, 0);
	age_accounts(fx, 10);
	ASSERT_ASKS(fx, "10.1.1.4", "x@y.test", "nobody@example.test", T0, "550 5.1.1");
	g_assert_cmpint(mkdir(dir, 0750), ==, 0);
	age_accounts(fx, 5);
	ASSERT_ASKS(fx, "10.1.1.5", "x@y.test", "nobody@example.test", T0, "DEFER_IF_PERMIT");
}

static void
test_spam(Fx *fx, gconstpointer data)
{
	(void)data;
	g_assert_true(stats_exec(fx->stats, "INSERT INTO ips (ip, spam, valid) VALUES"
					    " ('10.3.3.3', 4, 1), ('10.4.4.4', 1, 0), ('10.5.5.5', 2, 9)",
	    NULL));
	ASSERT_ASKS(fx, "10.3.3.3", "x@y.test", "jo@example.test", T0,
	    data ? "REJECT 5.7.1 10.3.3.3 spam ratio" : "DEFER_IF_PERMIT 4.7.1 10.3.3.3 spam ratio 0.80");
	/* too few learned to judge; a low ratio */
	ASSERT_ASKS(fx, "10.4.4.4", "x@y.test", "jo@example.test", T0, "DEFER_IF_PERMIT 4.7.1 greylisted");
	ASSERT_ASKS(fx, "10.5.5.5", "x@y.test", "jo@example.test", T0, "DEFER_IF_PERMIT 4.7.1 greylisted");
}

static void
test_other_requests(Fx *fx, gconstpointer data)
{
	g_autoptr(GHashTable) a = g_hash_table_new(g_str_hash, g_str_equal);
	g_autofree char *x = NULL;
	g_autofree char *y = NULL;

	(void)data;
	g_hash_table_insert(a, "protocol_state", "DATA");
	g_hash_table_insert(a, "recipient", "jo@example.test");
	x = policy_decide(fx->stats, a, T0, NULL);
	g_assert_cmpstr(x, ==, "DUNNO");
	g_hash_table_remove_all(a);
	g_hash_table_insert(a, "protocol_state", "RCPT");
	y = policy_decide(fx->stats, a, T0, NULL); /* no recipient, no client */
	g_assert_cmpstr(y, ==, "DUNNO");
}

static void
test_expire(Fx *fx, gconstpointer data)
{
	(void)data;
	for (int i = 0; i < 250; i++) {
		g_autofree char *ip = g_strdup_printf("10.9.%d.1", i);
		g_autofree char *act = ask(fx, ip, "a@b.test", "jo@example.test", T0);
	}
	/* in steps of at most 100, never all at once */
	g_assert_cmpuint(policy_expire(fx->stats, T0 + 3600, 100), ==, 0);
	g_assert_cmpuint(policy_expire(fx->stats, T0 + 86401, 100), ==, 100);
	g_assert_cmpuint(policy_expire(fx->stats, T0 + 86401, 100), ==, 100);
	g_assert_cmpuint(policy_expire(fx->stats, T0 + 86401, 100), ==, 50);
	g_assert_cmpuint(policy_expire(fx->stats, T0 + 86401, 100), ==, 0);
}

static goffset
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/*
 * The policy service's commits never checkpoint (SQLite's automatic one
 * ran in the commit, under the lock every decision waits for, and waited
 * for two flushes): stats_checkpoint() does, on a connection of its own.
 */
static void
test_checkpoint_apart(Fx *fx, gconstpointer data)
{
	g_autoptr(GError) e = NULL;
	g_autofree char *wal = NULL;
	const char *db = sqlite3_db_filename(fx->stats->db, "main");
	goffset before;

	(void)data;
	g_assert_true(stats_checkpoint_apart(fx->stats, &e));
	g_assert_no_error(e);
	wal = g_strconcat(db, "-wal", NULL);
	stats_commit(fx->stats);
	stats_checkpoint(fx->stats); /* nothing to do yet */
	before = file_size(db);
	/* 3000 rows of 2 KB: past SQLite's 1000 pages, in one commit */
	stats_begin(fx->stats);
	g_assert_true(stats_exec(fx->stats, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT"
	    " i + 1 FROM n WHERE i < 3000) INSERT INTO decisions (ts, ip, action, reason)"
	    " SELECT i, 'x', 'greylisted', hex(randomblob(1000)) FROM n", NULL));
	stats_commit(fx->stats);
	g_assert_cmpint(file_size(wal), >, 1000 * 4096);
	g_assert_cmpint(file_size(db), ==, before); /* the commit copied nothing */
	g_assert_cmpint(stats_checkpoint(fx->stats), >, 1000);
	g_assert_cmpint(file_size(db), >, before + 1000 * 4096);
	/* below the threshold, nothing */
	stats_begin(fx->stats);
	g_assert_true(stats_exec(fx->stats, "INSERT INTO decisions (ts) VALUES (1)", NULL));
	stats_commit(fx->stats);
	g_assert_cmpint(stats_checkpoint(fx->stats), ==, 0);
}

/* Decisions are named one way, whatever the action's text. */
static void
test_decision_names(Fx *fx, gconstpointer data)
{
	g_autoptr(GHashTable) a = g_hash_table_new(g_str_hash, g_str_equal);
	const char *decision = NULL;
	g_autofree char *x = NULL, *y = NULL;

	(void)data;
	g_hash_table_insert(a, "protocol_state", "RCPT");
	g_hash_table_insert(a, "client_address", "192.0.2.1");
	g_hash_table_insert(a, "sender", "a@b.test");
	g_hash_table_insert(a, "recipient", "jo@example.test");
	x = policy_decide(fx->stats, a, T0, &decision);
	g_assert_cmpstr(decision, ==, POLICY_GREYLISTED);
	g_hash_table_insert(a, "recipient", "nobody@example.test");
	y = policy_decide(fx->stats, a, T0, &decision);
	g_assert_cmpstr(decision, ==, POLICY_UNKNOWN_RECIPIENT);
}

/*
 * The chart counts spam at the hour the message arrived: one learned two
 * days later is still in its hour of arrival, and a message delivered to
 * two accounts is one message.
 */
static void
test_chart_data(Fx *fx, gconstpointer data)
{
	g_autoptr(ChartData) d = NULL;
	g_autoptr(GBytes) svg = NULL;
	g_autoptr(GBytes) png = NULL;
	const gint64 day = T0 - T0 % 86400;

	(void)data;
	g_assert_true(stats_exec(fx->stats, "INSERT INTO events (ts, kind, account, ip, message_id)"
					    " VALUES (1799971200 + 3 * 3600 + 5, 'delivered', 'a', '10.1.1.1', 's1'),"
					    " (1799971200 + 3 * 3600 + 5, 'delivered', 'b', '10.1.1.1', 's1'),"
					    " (1799971200 + 3 * 3600 + 9, 'delivered', 'a', '10.1.1.2', 'v1'),"
					    " (1799971200 + 23 * 3600, 'delivered', 'a', '10.1.1.2', 'v2');"
					    " INSERT INTO learned VALUES ('s1', 1799971200 + 2 * 86400);"
					    " INSERT INTO decisions (ts, action) VALUES"
					    " (1799971200 + 5 * 3600, 'greylisted'), (1799971200 + 5 * 3600, 'blacklisted')",
	    NULL));
	g_assert_cmpint(day, ==, 1799971200);
	d = chart_data(fx->stats, day, day + 86400, FALSE);
	g_assert_cmpuint(d->n, ==, 24);
	g_assert_cmpint(d->received[3], ==, 2);
	g_assert_cmpint(d->spam[3], ==, 1);
	g_assert_cmpint(d->received[23], ==, 1);
	g_assert_cmpint(d->spam[23], ==, 0);
	g_assert_cmpint(d->greylisted[5], ==, 1);
	g_assert_true(chart_render(d, FALSE, "2027-01-15", &svg, &png));
	g_assert_cmpmem(g_bytes_get_data(png, NULL), 8, "\x89PNG\r\n\x1a\n", 8);
	g_assert_nonnull(g_strstr_len(g_bytes_get_data(svg, NULL), 400, "<svg"));
}

static void
test_normalise(void)
{
	struct {
		const char *in, *want;
	} s[] = {
		{ "Ann+lists@Example.ORG", "ann@example.org" },
		{ "prvs=1234abcd=ann@example.org", "ann@example.org" },
		{ "btv1==0123456789==ann@example.org", "ann@example.org" },
		{ "SRS0=HHH=TT=orig.test=ann@forwarder.test", "ann@orig.test" },
		{ "bounce-12345-678@lists.test", "bounce-#-#@lists.test" },
		{ "", "" },
		{ "nodomain", "nodomain" },
	};
	struct {
		const char *in, *want;
	} n[] = {
		{ "192.0.2.77", "192.0.2.0/24" },
		{ "2001:db8:aa:bb:1:2:3:4", "2001:db8:aa:bb::/64" },
		{ "::1", "::/64" },
		{ "not-an-ip", NULL },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(s); i++) {
		g_autofree char *got = stats_normal_sender(s[i].in);

		g_assert_cmpstr(got, ==, s[i].want);
	}
	for (gsize i = 0; i < G_N_ELEMENTS(n); i++) {
		g_autofree char *got = stats_network(n[i].in);

		g_assert_cmpstr(got, ==, n[i].want);
	}
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	mdir_log_set_level(0);
#define ADD(path, fn, data) g_test_add(path, Fx, data, fx_up, fn, fx_down)
	ADD("/stats/schema", test_schema, NULL);
	ADD("/stats/policy/greylist", test_greylist, NULL);
	ADD("/stats/policy/whitelists", test_whitelists, NULL);
	ADD("/stats/policy/unknown-and-blacklist", test_unknown_and_blacklist, NULL);
	ADD("/stats/policy/accounts-seen-at-once", test_accounts_seen_at_once, NULL);
	ADD("/stats/policy/spam-defer", test_spam, NULL);
	ADD("/stats/policy/spam-reject", test_spam, "spam_action = reject\n");
	ADD("/stats/policy/other-requests", test_other_requests, NULL);
	ADD("/stats/policy/expire", test_expire, NULL);
	ADD("/stats/policy/decision-names", test_decision_names, NULL);
	ADD("/stats/chart/data", test_chart_data, NULL);
	ADD("/stats/checkpoint-apart", test_checkpoint_apart, NULL);
	g_test_add_func("/stats/normalise", test_normalise);
	return g_test_run();
}
