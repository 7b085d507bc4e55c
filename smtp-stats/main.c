/*
 * smtp-stats: the SMTP side's memory (DESIGN §4, smtp-stats(1)): events
 * the other programs record, spam learned from the spam folder, and the
 * Postfix policy service that uses both (greylisting, rejecting unknown
 * recipients and the IPs that hunt for them, deferring known spammers).
 *
 * One SQLite database (db.c); a file per subcommand.  It never sits in
 * the path of a delivery: mdir-receive and mdir-outbox only append events
 * to a file, and Postfix asks the policy service with default_action=DUNNO,
 * so that smtp-stats being down or broken never stops mail.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>

#include "stats.h"

static int
usage(FILE *out)
{
	fprintf(out, "usage: smtp-stats [-c FILE] [-v] COMMAND [ARGS...]\n\n"
		     "  policy                       serve Postfix's check_policy_service\n"
		     "  learn [-v] [FOLDER]          learn SMTP/Spam (or FOLDER), then empty it\n"
		     "  import                       read the events the programs recorded\n"
		     "  report [--day D | --month M] [--format text|csv|json]\n"
		     "  publish [-v] --daily|--monthly|--day D|--month M\n"
		     "                               the report, into SMTP/Statistics\n"
		     "  query IP                     what is known of IP\n"
		     "  whitelist add|del|list [net|domain VALUE]\n"
		     "  blacklist add|del|list [IP [DURATION]]\n\n"
		     "See smtp-stats(1).\n");
	return out == stdout ? 0 : EX_USAGE;
}

static int
cmd_query(Stats *s, const char *ip)
{
	g_autofree char *net = stats_network(ip);
	sqlite3_stmt *st;

	if (net == NULL) {
		fprintf(stderr, "smtp-stats: %s: not an IP address\n", ip);
		return EX_USAGE;
	}
	stats_import(s, NULL);
	st = stats_stmt(s, "SELECT unknown, valid, spam FROM ips WHERE ip = ?");
	sqlite3_bind_text(st, 1, ip, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW)
		printf("ip\t%s\nnetwork\t%s\nunknown-recipients\t%d\nvalid\t%d\nspam\t%d\n", ip, net,
		    sqlite3_column_int(st, 0), sqlite3_column_int(st, 1), sqlite3_column_int(st, 2));
	else
		printf("ip\t%s\nnetwork\t%s\nunknown-recipients\t0\nvalid\t0\nspam\t0\n", ip, net);
	st = stats_stmt(s, "SELECT until, reason FROM blacklist WHERE ip = ?");
	sqlite3_bind_text(st, 1, ip, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) == SQLITE_ROW) {
		g_autofree char *until = stats_iso_time(sqlite3_column_int64(st, 0));

		printf("blacklisted-until\t%s\t%s\n", until, sqlite3_column_text(st, 1));
	}
	st = stats_stmt(s, "SELECT count(*) FROM whitelist WHERE kind = 'net' AND value = ?");
	sqlite3_bind_text(st, 1, net, -1, SQLITE_TRANSIENT);
	printf("network-whitelisted\t%s\n",
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) ? "yes" : "no");
	return 0;
}

static int
list(Stats *s, const char *sql)
{
	sqlite3_stmt *st = stats_stmt(s, sql);

	while (st && sqlite3_step(st) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(st); i++)
			printf("%s%s", i ? "\t" : "", sqlite3_column_text(st, i) ?
			    (const char *)sqlite3_column_text(st, i) : "");
		printf("\n");
	}
	return 0;
}

/* whitelist add|del|list [net|domain VALUE] */
static int
cmd_whitelist(Stats *s, int argc, char **argv)
{
	sqlite3_stmt *st;

	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return list(s, "SELECT kind, value, reason FROM whitelist ORDER BY kind, value");
	if (argc != 4 || (strcmp(argv[2], "net") != 0 && strcmp(argv[2], "domain") != 0))
		return usage(stderr);
	if (strcmp(argv[1], "add") == 0) {
		st = stats_stmt(s, "INSERT OR REPLACE INTO whitelist VALUES (?, ?, 'by hand', ?)");
		sqlite3_bind_int64(st, 3, g_get_real_time() / G_USEC_PER_SEC);
	} else if (strcmp(argv[1], "del") == 0) {
		st = stats_stmt(s, "DELETE FROM whitelist WHERE kind = ? AND value = ?");
	} else {
		return usage(stderr);
	}
	sqlite3_bind_text(st, 1, argv[2], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, argv[3], -1, SQLITE_STATIC);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : EX_SOFTWARE;
}

/* blacklist add|del|list [IP [DURATION]] */
static int
cmd_blacklist(Stats *s, const MdirConfig *config, int argc, char **argv)
{
	sqlite3_stmt *st;
	gint64 ms;

	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return list(s, "SELECT ip, strftime('%Y-%m-%dT%H:%M:%SZ', until, 'unixepoch'), reason"
			       " FROM blacklist ORDER BY ip");
	if (argc < 3 || stats_network(argv[2]) == NULL)
		return usage(stderr);
	if (strcmp(argv[1], "del") == 0) {
		st = stats_stmt(s, "DELETE FROM blacklist WHERE ip = ?");
		sqlite3_bind_text(st, 1, argv[2], -1, SQLITE_STATIC);
		return sqlite3_step(st) == SQLITE_DONE ? 0 : EX_SOFTWARE;
	}
	if (strcmp(argv[1], "add") != 0)
		return usage(stderr);
	ms = argc > 3 ? mdir_parse_duration_ms(argv[3], NULL) :
	    mdir_config_get_duration_ms(config, "stats", "blacklist_time");
	if (ms < 0)
		return usage(stderr);
	st = stats_stmt(s, "INSERT OR REPLACE INTO blacklist VALUES (?, 'by hand', ?)");
	sqlite3_bind_text(st, 1, argv[2], -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, g_get_real_time() / G_USEC_PER_SEC + ms / 1000);
	return sqlite3_step(st) == SQLITE_DONE ? 0 : EX_SOFTWARE;
}

/* publish [-v] --daily|--monthly|--day D|--month M */
static int
cmd_publish(Stats *s, int argc, char **argv, gboolean verbose, GError **error)
{
	const char *day = NULL, *month = NULL;
	gboolean daily = FALSE, monthly = FALSE;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--daily") == 0)
			daily = TRUE;
		else if (strcmp(argv[i], "--monthly") == 0)
			monthly = TRUE;
		else if (strcmp(argv[i], "--day") == 0 && i + 1 < argc)
			day = argv[++i];
		else if (strcmp(argv[i], "--month") == 0 && i + 1 < argc)
			month = argv[++i];
		else if (strcmp(argv[i], "-v") != 0)
			return usage(stderr);
	}
	if (daily + monthly + (day != NULL) + (month != NULL) != 1)
		return usage(stderr);
	return report_publish(s, monthly || month, day, month, verbose, error);
}

static int
dispatch(Stats *s, const MdirConfig *config, int argc, char **argv, gboolean verbose,
    GError **error)
{
	const char *cmd = argv[0];
	gint n;

	if (strcmp(cmd, "policy") == 0 && argc == 1)
		return policy_serve(s, error) < 0 ? -1 : 0;
	if (strcmp(cmd, "learn") == 0 && argc <= 3) {
		const char *folder = "SMTP/Spam";

		for (int i = 1; i < argc; i++)
			if (strcmp(argv[i], "-v") != 0)
				folder = argv[i];
		n = learn_folder(s, folder, error);
		/* from cron: quiet unless asked (-v) */
		if (n >= 0 && verbose)
			printf("%d learned\n", n);
		return n < 0 ? -1 : 0;
	}
	if (strcmp(cmd, "report") == 0) {
		const char *day = NULL, *month = NULL, *format = "text";

		for (int i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--day") == 0 && i + 1 < argc)
				day = argv[++i];
			else if (strcmp(argv[i], "--month") == 0 && i + 1 < argc)
				month = argv[++i];
			else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc)
				format = argv[++i];
			else
				return usage(stderr);
		}
		return report_print(s, day, month, format, error);
	}
	if (strcmp(cmd, "publish") == 0)
		return cmd_publish(s, argc, argv, verbose, error);
	if (strcmp(cmd, "import") == 0 && argc == 1) {
		n = stats_import(s, error);
		return n < 0 ? -1 : 0;
	}
	if (strcmp(cmd, "query") == 0 && argc == 2)
		return cmd_query(s, argv[1]);
	if (strcmp(cmd, "whitelist") == 0 && argc >= 2)
		return cmd_whitelist(s, argc, argv);
	if (strcmp(cmd, "blacklist") == 0 && argc >= 2)
		return cmd_blacklist(s, config, argc, argv);
	return usage(stderr);
}

int
main(int argc, char **argv)
{
	const char *conf = NULL;
	g_autoptr(MdirConfig) config = NULL;
	g_autoptr(MdirStore) store = NULL;
	g_autoptr(Stats) s = NULL;
	g_autoptr(GError) e = NULL;
	gboolean verbose = FALSE, quiet;
	int i = 1;
	int rc;

	g_set_prgname("smtp-stats");
	if (argc > 2 && strcmp(argv[1], "-c") == 0) {
		conf = argv[2];
		i = 3;
	}
	if (i < argc && strcmp(argv[i], "-v") == 0) {
		verbose = TRUE;
		i++;
	}
	/* "learn -v", "publish -v": the flag after the command too */
	for (int j = i + 1; j < argc && (strcmp(argv[i], "learn") == 0 ||
	    strcmp(argv[i], "publish") == 0); j++)
		verbose |= strcmp(argv[j], "-v") == 0;
	/* what cron runs says nothing when all went well: syslog only,
	 * and its failure on stderr (below) */
	quiet = !verbose && i < argc && (strcmp(argv[i], "learn") == 0 ||
	    strcmp(argv[i], "publish") == 0 || strcmp(argv[i], "import") == 0);
	mdir_log_open(MDIR_LOG_SYSLOG | (quiet ? 0 : MDIR_LOG_STDERR));
	if (i >= argc || strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
		return usage(i >= argc ? stderr : stdout);
	if (strcmp(argv[i], "--version") == 0) {
		printf("smtp-stats %s\n", MDIR_VERSION_STRING);
		return 0;
	}
	config = mdir_config_load(conf, &e);
	if (config)
		mdir_log_set_level(mdir_log_level_from_string(mdir_config_get(config, "mdir",
		    "log_level")));
	store = config ? mdir_store_open_config(config, &e) : NULL;
	s = store ? stats_open(config, store, &e) : NULL;
	if (s != NULL)
		rc = dispatch(s, config, argc - i, argv + i, verbose, &e);
	if (s == NULL || rc < 0) {
		mdir_log(LOG_ERR, "%s", e->message);
		if (quiet)
			fprintf(stderr, "smtp-stats: %s\n", e->message);
		return mdir_exit_code(e, MDIR_EXIT_TOOL);
	}
	return rc;
}
