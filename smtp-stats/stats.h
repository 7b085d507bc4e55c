/*
 * stats.h: what the files of smtp-stats share.
 */
#ifndef STATS_H
#define STATS_H

#include <glib.h>
#include <sqlite3.h>

#include "mdir.h"

/* db.c ---------------------------------------------------------------------- */

#define STATS_SCHEMA_VERSION 2

typedef struct RcptCache RcptCache; /* policy.c's */

typedef struct {
	sqlite3 *db;
	char *path;
	const MdirConfig *config;
	MdirStore *store;
	gint64 batch_started; /* a write transaction open since (µs), or 0 */
	GHashTable *stmts;    /* SQL text -> prepared statement */
	RcptCache *rcpts;     /* recipients' accounts, looked up lately */
	GDestroyNotify rcpts_free; /* set with it: db.c needs nothing of policy.c */
	sqlite3 *ckpt;	      /* stats_checkpoint()'s connection, or NULL */
	gint wal_pages;	      /* the WAL's frames at the last commit (atomic) */
} Stats;

/* Opens (creates, migrates) the database: WAL, busy time-out. */
Stats *stats_open(const MdirConfig *config, MdirStore *store, GError **error);
void stats_close(Stats *s);
/* Runs SQL with no result; FALSE and @error on failure. */
gboolean stats_exec(Stats *s, const char *sql, GError **error);
/* A prepared statement (cached for the life of @s).  Transfer none. */
sqlite3_stmt *stats_stmt(Stats *s, const char *sql);
/* The schema version the file holds (0: none). */
int stats_schema_version(Stats *s);
/* Imports the events file (mdir_events_path()) from where it was left. */
gint stats_import(Stats *s, GError **error);
/* Starts a write transaction if none is open; stats_commit() ends it. */
void stats_begin(Stats *s);
void stats_commit(Stats *s);
/*
 * For the policy service: commits on @s no longer checkpoint the WAL;
 * stats_checkpoint() does, on a second connection, when the WAL has grown
 * past SQLite's 1000 pages: the frames it copied (0: none due), -1 on
 * trouble (logged).  Both from one thread; the commits may be another's.
 */
gboolean stats_checkpoint_apart(Stats *s, GError **error);
gint stats_checkpoint(Stats *s);

/* A Message-ID as the database keys it: no <>, no blanks; NULL if empty. */
char *stats_message_key(const char *message_id);
/* @t (seconds) as "2026-12-03T10:00:00Z".  Transfer full. */
char *stats_iso_time(gint64 t);
/* "192.0.2.0/24", "2001:db8:1:2::/64"; NULL if @ip is not an address. */
char *stats_network(const char *ip);
/* The sender as greylisting keys it: lower case, no +extension, no BATV or
 * SRS wrapping, VERP digits as '#'.  "" for the null sender. */
char *stats_normal_sender(const char *sender);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(Stats, stats_close)

/* policy.c ------------------------------------------------------------------ */

/* What a request was decided for: one name in logs, reports and the database. */
#define POLICY_BLACKLISTED "blacklisted"
#define POLICY_UNKNOWN_RECIPIENT "unknown-recipient"
#define POLICY_SPAM_RATIO "spam-ratio"
#define POLICY_WHITELISTED "whitelisted"
#define POLICY_GREYLISTED "greylisted"
#define POLICY_PASSED "passed-greylisting"
#define POLICY_IGNORED "not-checked" /* another stage, no recipient */

/*
 * The action for one policy request (@attrs: name -> value), with the
 * reason in its text, at time @now (seconds).  Never "OK".  @decision
 * (may be NULL) gets one of the POLICY_* names.
 */
char *policy_decide(Stats *s, GHashTable *attrs, gint64 now, const char **decision);
/* Records a decision (a POLICY_* name) for the reports. */
void policy_count(Stats *s, const char *decision, const char *ip, gint64 now);
/* Expires up to @max old greylist entries; the number removed. */
guint policy_expire(Stats *s, gint64 now, guint max);
int policy_serve(Stats *s, GError **error);

/* report.c ------------------------------------------------------------------ */

typedef struct Section Section;

/* One section of a report: its rows, each a GStrv of its columns' text. */
typedef struct {
	const Section *section;
	GPtrArray *rows;
} Table;

/* The period of @day (YYYY-MM-DD), else @month (YYYY-MM), else today (UTC),
 * as [start, end) in seconds and a label; FALSE if a date is malformed. */
gboolean report_period(const char *day, const char *month, gint64 *start, gint64 *end,
    char **label);
/* The report's tables for [start, end).  Transfer full. */
GPtrArray *report_collect(Stats *s, gint64 start, gint64 end);
/* The tables as "text", "csv" or "json".  Transfer full. */
char *report_render(GPtrArray *tables, const char *format, const char *label, gint64 start,
    gint64 end);
int report_print(Stats *s, const char *day, const char *month, const char *format,
    GError **error);

/* chart.c: the period's chart, drawn once, as SVG and PNG (transfer full). */
typedef struct {
	guint n;	    /* buckets: 24 hours, or the days of the month */
	gint64 *received;   /* messages that arrived in each */
	gint64 *spam;	    /* of those, learned as spam since */
	gint64 *greylisted; /* requests deferred by greylisting */
} ChartData;

ChartData *chart_data(Stats *s, gint64 start, gint64 end, gboolean monthly);
void chart_data_free(ChartData *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ChartData, chart_data_free)
/* Draws @d; @png and @svg get the bytes.  FALSE if cairo failed. */
gboolean chart_render(const ChartData *d, gboolean monthly, const char *label, GBytes **svg,
    GBytes **png);
/* Publishes the report of @day or @month (NULL: the day or month just
 * ended); prints its Message-ID when @verbose. */
int report_publish(Stats *s, gboolean monthly, const char *day, const char *month,
    gboolean verbose, GError **error);

/* learn.c */
int learn_folder(Stats *s, const char *folder, GError **error);

#endif /* STATS_H */
