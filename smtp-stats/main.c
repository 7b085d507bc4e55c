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

#include "lists.h"
#include "stats.h"

/* What the command line said, all checked before the database is opened. */
typedef struct {
	char *day;
	char *month;
	char *format;
	gboolean daily;
	gboolean monthly;
	gboolean verbose;
} Args;

typedef int (*StatsCommand)(Stats *s, const MdirConfig *config, Args *a, int argc,
    char **argv, GError **error);

static gboolean
usage_error(GError **error, const char *cmd, const char *what)
{
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "%s: %s (see smtp-stats %s --help)",
	    cmd, what, cmd);
	return FALSE;
}

static int
cmd_query(Stats *s, const MdirConfig *config, Args *a, int argc, char **argv, GError **error)
{
	const char *ip = argv[1];
	g_autofree char *net = stats_network(ip);
	sqlite3_stmt *st;

	(void)config, (void)a, (void)argc, (void)error;
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

/* The rows of @sql, a line each; column @time (-1: none) in seconds, shown in ISO 8601. */
static int
list(Stats *s, const char *sql, int time)
{
	sqlite3_stmt *st = stats_stmt(s, sql);

	while (st && sqlite3_step(st) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(st); i++) {
			g_autofree char *iso = i == time ?
			    stats_iso_time(sqlite3_column_int64(st, i)) : NULL;
			const char *v = iso ? iso : (const char *)sqlite3_column_text(st, i);

			printf("%s%s", i ? "\t" : "", v ? v : "");
		}
		printf("\n");
	}
	return 0;
}

static gboolean
check_whitelist(Args *a, int argc, char **argv, GError **error)
{
	(void)a;
	if (strcmp(argv[1], "list") == 0)
		return argc == 2 || usage_error(error, "whitelist", "list takes no more");
	if (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "del") != 0)
		return usage_error(error, "whitelist", "add, del or list");
	if (argc != 4 || (strcmp(argv[2], "net") != 0 && strcmp(argv[2], "domain") != 0))
		return usage_error(error, "whitelist", "net or domain, and a value");
	return TRUE;
}

/* whitelist add|del|list [net|domain VALUE] */
static int
cmd_whitelist(Stats *s, const MdirConfig *config, Args *a, int argc, char **argv,
    GError **error)
{
	(void)config, (void)a, (void)argc;
	if (strcmp(argv[1], "list") == 0)
		return list(s, "SELECT kind, value, reason FROM whitelist ORDER BY kind, value", -1);
	return lists_whitelist(s, strcmp(argv[1], "add") == 0, argv[2], argv[3], error) ? 0 : -1;
}

static gboolean
check_blacklist(Args *a, int argc, char **argv, GError **error)
{
	g_autofree char *net = argc > 2 ? stats_network(argv[2]) : NULL;

	(void)a;
	if (strcmp(argv[1], "list") == 0)
		return argc == 2 || usage_error(error, "blacklist", "list takes no more");
	if (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "del") != 0)
		return usage_error(error, "blacklist", "add, del or list");
	if (net == NULL)
		return usage_error(error, "blacklist", "an IP address is needed");
	if (strcmp(argv[1], "del") == 0 && argc > 3)
		return usage_error(error, "blacklist", "del takes an IP address only");
	if (argc > 3 && mdir_parse_duration_ms(argv[3], NULL) < 0)
		return usage_error(error, "blacklist", "a duration is like 90s, 5m, 2h or 5d");
	return TRUE;
}

/* blacklist add|del|list [IP [DURATION]] */
static int
cmd_blacklist(Stats *s, const MdirConfig *config, Args *a, int argc, char **argv,
    GError **error)
{
	(void)a, (void)config;
	if (strcmp(argv[1], "list") == 0)
		return list(s, "SELECT ip, until, reason FROM blacklist ORDER BY ip", 1);
	return lists_blacklist(s, strcmp(argv[1], "add") == 0, argv[2],
	    argc > 3 ? mdir_parse_duration_ms(argv[3], NULL) / 1000 : -1, error) ? 0 : -1;
}

static int
cmd_policy(Stats *s, const MdirConfig *config, Args *a, int argc, char **argv, GError **error)
{
	(void)config, (void)a, (void)argc, (void)argv;
	return policy_serve(s, error) < 0 ? -1 : 0;
}

static int
cmd_learn(Stats *s, const MdirConfig *config, Args *a, int argc, char **argv, GError **error)
{
	gint n = learn_folder(s, argc == 2 ? argv[1] : "SMTP/Spam", error);

	(void)config;
	/* from cron: quiet unless asked (-v) */
	if (n >= 0 && a->verbose)
		printf("%d learned\n", n);
	return n < 0 ? -1 : 0;
}

static int
cmd_import(Stats *s, const MdirConfig *config, Args *a, int argc, char **argv, GError **error)
{
	(void)config, (void)a, (void)argc, (void)argv;
	return stats_import(s, error) < 0 ? -1 : 0;
}

/* YYYY-MM-DD (@month FALSE) or YYYY-MM, a real date. */
static gboolean
is_date(const char *text, gboolean month)
{
	unsigned y, m, d = 1;
	char end;
	int want = month ? 2 : 3;
	int n = month ? sscanf(text, "%4u-%2u%c", &y, &m, &end) :
	    sscanf(text, "%4u-%2u-%2u%c", &y, &m, &d, &end);

	return n == want && strlen(text) == (month ? 7u : 10u) &&
	    g_date_valid_dmy((GDateDay)d, (GDateMonth)m, (GDateYear)y);
}

static gboolean
check_report(Args *a, int argc, char **argv, GError **error)
{
	(void)argc, (void)argv;
	if (a->day && a->month)
		return usage_error(error, "report", "--day or --month, not both");
	if ((a->day && !is_date(a->day, FALSE)) || (a->month && !is_date(a->month, TRUE)))
		return usage_error(error, "report", "--day YYYY-MM-DD or --month YYYY-MM");
	if (a->format && strcmp(a->format, "text") != 0 && strcmp(a->format, "csv") != 0 &&
	    strcmp(a->format, "json") != 0)
		return usage_error(error, "report", "--format text, csv or json");
	return TRUE;
}

static int
cmd_report(Stats *s, const MdirConfig *config, Args *a, int argc, char **argv, GError **error)
{
	(void)config, (void)argc, (void)argv;
	return report_print(s, a->day, a->month, a->format ? a->format : "text", error);
}

static gboolean
check_publish(Args *a, int argc, char **argv, GError **error)
{
	(void)argc, (void)argv;
	if (a->daily + a->monthly + (a->day != NULL) + (a->month != NULL) != 1)
		return usage_error(error, "publish", "one of --daily, --monthly, --day and --month");
	if ((a->day && !is_date(a->day, FALSE)) || (a->month && !is_date(a->month, TRUE)))
		return usage_error(error, "publish", "--day YYYY-MM-DD or --month YYYY-MM");
	return TRUE;
}

static int
cmd_publish(Stats *s, const MdirConfig *config, Args *a, int argc, char **argv,
    GError **error)
{
	(void)config, (void)argc, (void)argv;
	return report_publish(s, a->monthly || a->month, a->day, a->month, a->verbose, error);
}

static gboolean
check_query(Args *a, int argc, char **argv, GError **error)
{
	g_autofree char *net = stats_network(argv[1]);

	(void)a, (void)argc;
	if (net == NULL) {
		g_autofree char *what = g_strdup_printf("%s: not an IP address", argv[1]);

		return usage_error(error, "query", what);
	}
	return TRUE;
}

static const struct {
	const char *name;
	const char *params;
	const char *summary;
	int min_args;
	int max_args;
	gboolean (*check)(Args *a, int argc, char **argv, GError **error);
	StatsCommand run;
} commands[] = {
	{ "policy", "", "serve Postfix's check_policy_service", 0, 0, NULL, cmd_policy },
	{ "learn", "[FOLDER]", "learn SMTP/Spam (or FOLDER), then empty it", 0, 1, NULL,
	    cmd_learn },
	{ "import", "", "read the events the programs recorded", 0, 0, NULL, cmd_import },
	{ "report", "", "print a report (--day, --month, --format)", 0, 0, check_report,
	    cmd_report },
	{ "publish", "--daily|--monthly|--day D|--month M", "the report, into SMTP/Statistics", 0, 0,
	    check_publish, cmd_publish },
	{ "query", "IP", "what is known of IP", 1, 1, check_query, cmd_query },
	{ "whitelist", "add|del|list [net|domain VALUE]", "networks and domains never "
	    "greylisted", 1, 3, check_whitelist, cmd_whitelist },
	{ "blacklist", "add|del|list [IP [DURATION]]", "IPs refused", 1, 3, check_blacklist,
	    cmd_blacklist },
};

/* Each command's own options; GOption copies them. */
static void
add_entries(MdirOptions *o, const char *cmd, Args *a)
{
	GOptionEntry report[] = {
		{ "day", 0, 0, G_OPTION_ARG_STRING, &a->day, "that day's report", "YYYY-MM-DD" },
		{ "month", 0, 0, G_OPTION_ARG_STRING, &a->month, "that month's report",
		    "YYYY-MM" },
		{ "format", 0, 0, G_OPTION_ARG_STRING, &a->format, "text (default), csv or json",
		    "FORMAT" },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	GOptionEntry publish[] = {
		{ "daily", 0, 0, G_OPTION_ARG_NONE, &a->daily, "yesterday's report", NULL },
		{ "monthly", 0, 0, G_OPTION_ARG_NONE, &a->monthly, "last month's report", NULL },
		{ "day", 0, 0, G_OPTION_ARG_STRING, &a->day, "that day's report", "YYYY-MM-DD" },
		{ "month", 0, 0, G_OPTION_ARG_STRING, &a->month, "that month's report",
		    "YYYY-MM" },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	GOptionEntry verbose[] = {
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &a->verbose, "say what was done", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};

	if (strcmp(cmd, "report") == 0)
		mdir_options_add(o, report);
	else if (strcmp(cmd, "publish") == 0)
		mdir_options_add(o, publish);
	if (strcmp(cmd, "learn") == 0 || strcmp(cmd, "publish") == 0 ||
	    strcmp(cmd, "import") == 0)
		mdir_options_add(o, verbose);
}

/*
 * The command's options and arguments (-c allowed after it too), checked;
 * only then the configuration, the store and the database are opened.
 */
static int
run_command(MdirOptions *top, gsize i, int argc, char **argv, gboolean verbose, GError **error)
{
	g_autoptr(MdirOptions) opts = mdir_options_new_command(top, commands[i].name,
	    commands[i].params, commands[i].summary);
	g_autoptr(MdirConfig) config = NULL;
	g_autoptr(MdirStore) store = NULL;
	g_autoptr(Stats) s = NULL;
	Args a = { .verbose = verbose };
	int rc = -1;

	add_entries(opts, commands[i].name, &a);
	switch (mdir_options_parse(opts, &argc, &argv, commands[i].min_args,
	    commands[i].max_args, error)) {
	case 0:
		rc = 0;
		goto out;
	case -1:
		goto out;
	}
	if (commands[i].check && !commands[i].check(&a, argc, argv, error))
		goto out;
	/* what cron runs (learn, publish, import) prints only its problems
	 * unless -v; the log has every line either way */
	if (!a.verbose && commands[i].run != cmd_report && commands[i].run != cmd_query)
		mdir_log_set_stderr_level(LOG_WARNING);
	config = mdir_config_load(mdir_options_config(top), error);
	if (config == NULL)
		goto out;
	mdir_log_set_level(mdir_log_level_from_string(mdir_config_get(config, "mdir",
	    "log_level")));
	store = mdir_store_open_config(config, error);
	s = store ? stats_open(config, store, error) : NULL;
	if (s)
		rc = commands[i].run(s, config, &a, argc, argv, error);
out:
	g_free(a.day);
	g_free(a.month);
	g_free(a.format);
	return rc;
}

int
main(int argc, char **argv)
{
	g_autoptr(MdirOptions) opts = NULL;
	g_autoptr(GError) e = NULL;
	gboolean verbose = FALSE;
	GOptionEntry entries[] = {
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "say what was done", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	int rc;

	g_set_prgname("smtp-stats");
	mdir_log_open(MDIR_LOG_STDERR | MDIR_LOG_SYSLOG);
	opts = mdir_options_new("smtp-stats", "COMMAND [ARGS...]", "The SMTP side's memory: "
	    "events, spam learned, Postfix's policy service, reports.", MDIR_OPTIONS_COMMAND);
	mdir_options_set_description(opts, "See smtp-stats(1).");
	mdir_options_add(opts, entries);
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
		mdir_options_add_command(opts, commands[i].name, commands[i].summary);
	switch (mdir_options_parse(opts, &argc, &argv, 1, -1, &e)) {
	case 0:
		return EX_OK;
	case -1:
		goto fail;
	}
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		rc = run_command(opts, i, argc - 1, argv + 1, verbose, &e);
		if (rc < 0)
			goto fail;
		return rc;
	}
	g_set_error(&e, MDIR_ERROR, MDIR_ERROR_USAGE, "unknown command '%s' (see smtp-stats "
	    "--help)", argv[1]);
fail:
	mdir_log(LOG_ERR, "%s", e->message);
	return mdir_exit_code(e, MDIR_EXIT_TOOL);
}
