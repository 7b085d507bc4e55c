/*
 * report.c: "smtp-stats report": a day's or a month's figures as text
 * (a table a section, with column headers), CSV (one figure a record,
 * RFC 4180, a header row) or JSON (json-glib: any byte a sender chose
 * comes out as valid JSON).  publish.c makes a message of the same tables.
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include <json-glib/json-glib.h>

#include "stats.h"

/* How a column is shown: text left-aligned, numbers right-aligned and
 * numbers in JSON. */
typedef enum {
	COL_TEXT,
	COL_INT,
	COL_REAL,
} ColType;

typedef struct {
	const char *name;
	ColType type;
} Column;

struct Section {
	const char *name;
	const char *title;
	Column cols[6]; /* ends at a NULL name */
	const char *sql; /* ?1 start, ?2 end (seconds) */
};

/* An account as one row, whether it received or sent: its address. */
#define ACCOUNT_OF(col) \
	"lower(CASE WHEN " col " LIKE 'SMTP/Accounts/%' THEN substr(" col ", 15) ELSE " col " END)"

static const Section sections[] = {
	{ "accounts", "Usage per account",
	    { { "account", COL_TEXT }, { "messages in", COL_INT }, { "bytes in", COL_INT },
		{ "deliveries out", COL_INT }, { "bytes out", COL_INT } },
	    "SELECT a, sum(mi), sum(bi), sum(mo), sum(bo) FROM ("
	    " SELECT " ACCOUNT_OF("account") " a, 1 mi, size bi, 0 mo, 0 bo FROM events"
	    "  WHERE kind = 'delivered' AND ts >= ?1 AND ts < ?2"
	    " UNION ALL SELECT " ACCOUNT_OF("sender") ", 0, 0, 1, size FROM events"
	    "  WHERE kind = 'sent' AND ts >= ?1 AND ts < ?2)"
	    " GROUP BY a ORDER BY 2 DESC, 4 DESC, 1" },
	{ "ips", "Top source IPs", { { "ip", COL_TEXT }, { "messages", COL_INT } },
	    "SELECT ip, count(*) FROM events WHERE kind = 'delivered' AND ip IS NOT NULL"
	    " AND ts >= ?1 AND ts < ?2 GROUP BY ip ORDER BY 2 DESC, 1 LIMIT 10" },
	{ "networks", "Top source networks", { { "network", COL_TEXT }, { "messages", COL_INT } },
	    "SELECT net, count(*) FROM events WHERE kind = 'delivered' AND net IS NOT NULL"
	    " AND ts >= ?1 AND ts < ?2 GROUP BY net ORDER BY 2 DESC, 1 LIMIT 10" },
	{ "sender_domains", "Top sender domains",
	    { { "domain", COL_TEXT }, { "messages", COL_INT } },
	    "SELECT domain, count(*) FROM events WHERE kind = 'delivered' AND domain IS NOT NULL"
	    " AND ts >= ?1 AND ts < ?2 GROUP BY domain ORDER BY 2 DESC, 1 LIMIT 10" },
	{ "destination_domains", "Top destination domains",
	    { { "domain", COL_TEXT }, { "messages", COL_INT } },
	    "SELECT domain, count(*) FROM events WHERE kind = 'sent' AND domain IS NOT NULL"
	    " AND ts >= ?1 AND ts < ?2 GROUP BY domain ORDER BY 2 DESC, 1 LIMIT 10" },
	/* the period's: its messages (a message to several accounts once) by
	 * the IP that sent them, those learned as spam since counted as spam */
	{ "spammers", "Spammers",
	    { { "ip", COL_TEXT }, { "spam", COL_INT }, { "valid", COL_INT },
		{ "spam ratio", COL_REAL } },
	    "SELECT ip, sum(s), count(*) - sum(s), printf('%.2f', sum(s) * 1.0 / count(*)) FROM ("
	    " SELECT ip, max(message_id IN (SELECT message_id FROM learned)) s FROM events"
	    " WHERE kind = 'delivered' AND ip IS NOT NULL AND ts >= ?1 AND ts < ?2"
	    " GROUP BY ip, coalesce(message_id, rowid)) GROUP BY ip HAVING sum(s) > 0"
	    " ORDER BY 2 DESC, 1 LIMIT 10" },
	{ "policy", "Policy decisions", { { "decision", COL_TEXT }, { "requests", COL_INT } },
	    "SELECT action, count(*) FROM decisions WHERE ts >= ?1 AND ts < ?2 GROUP BY action"
	    " ORDER BY 2 DESC, 1" },
	{ "greylisting", "Greylisting",
	    { { "triplets", COL_TEXT }, { "count", COL_INT }, { "average delay (s)", COL_INT } },
	    "SELECT 'passed after a delay', count(*), CAST(avg(last - first) AS INTEGER) FROM"
	    " greylist WHERE passed > 0 AND first >= ?1 AND first < ?2"
	    " UNION ALL SELECT 'never retried', count(*), NULL FROM greylist WHERE passed = 0"
	    " AND first >= ?1 AND first < ?2" },
};

static void
table_free(gpointer p)
{
	Table *t = p;

	g_ptr_array_unref(t->rows);
	g_free(t);
}

static guint
ncols(const Section *sec)
{
	guint n = 0;

	while (n < G_N_ELEMENTS(sec->cols) && sec->cols[n].name)
		n++;
	return n;
}

gboolean
report_period(const char *day, const char *month, gint64 *start, gint64 *end, char **label)
{
	g_autoptr(GDateTime) a = NULL;
	g_autoptr(GDateTime) b = NULL;
	g_autofree char *iso = NULL;

	if ((month && !g_regex_match_simple("^[0-9]{4}-[0-9]{2}$", month, 0, 0)) ||
	    (day && !g_regex_match_simple("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", day, 0, 0)))
		return FALSE;
	if (month) {
		iso = g_strdup_printf("%s-01T00:00:00Z", month);
		a = g_date_time_new_from_iso8601(iso, NULL);
		b = a ? g_date_time_add_months(a, 1) : NULL;
	} else {
		g_autofree char *today = mdir_time_now(MDIR_TIME_DAY);

		iso = g_strdup_printf("%sT00:00:00Z", day ? day : today);
		a = g_date_time_new_from_iso8601(iso, NULL);
		b = a ? g_date_time_add_days(a, 1) : NULL;
	}
	if (a == NULL)
		return FALSE;
	*start = g_date_time_to_unix(a);
	*end = g_date_time_to_unix(b);
	*label = mdir_time_format(*start, month ? MDIR_TIME_MONTH : MDIR_TIME_DAY);
	return TRUE;
}

GPtrArray *
report_collect(Stats *s, gint64 start, gint64 end)
{
	GPtrArray *tables = g_ptr_array_new_with_free_func(table_free);

	for (gsize i = 0; i < G_N_ELEMENTS(sections); i++) {
		Table *t = g_new0(Table, 1);
		sqlite3_stmt *st = stats_stmt(s, sections[i].sql);
		guint n = ncols(&sections[i]);

		t->section = &sections[i];
		t->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
		sqlite3_bind_int64(st, 1, start);
		sqlite3_bind_int64(st, 2, end);
		while (st && sqlite3_step(st) == SQLITE_ROW) {
			char **row = g_new0(char *, n + 1);

			/* bytes a sender chose: every format wants UTF-8 */
			for (guint c = 0; c < n; c++)
				row[c] = g_utf8_make_valid(sqlite3_column_text(st, c) ?
				    (const char *)sqlite3_column_text(st, c) : "", -1);
			g_ptr_array_add(t->rows, row);
		}
		if (st)
			sqlite3_reset(st);
		g_ptr_array_add(tables, t);
	}
	return tables;
}

/*
 * One CSV field (RFC 4180): quoted when it holds a comma, a quote or a
 * line end.  A field that a spreadsheet would take for a formula (= + - @,
 * or a tab or CR before one) gets a leading apostrophe: sender domains are
 * the senders' to choose.
 */
static void
csv_cell(GString *out, const char *v)
{
	gboolean formula = v[0] != '\0' && strchr("=+-@\t\r", v[0]) != NULL;
	gboolean quote = formula || strpbrk(v, ",\"\r\n") != NULL;

	if (!quote) {
		g_string_append(out, v);
		return;
	}
	g_string_append_c(out, '"');
	if (formula)
		g_string_append_c(out, '\'');
	for (; *v; v++) {
		if (*v == '"')
			g_string_append_c(out, '"');
		g_string_append_c(out, *v);
	}
	g_string_append_c(out, '"');
}

static void
csv_record(GString *out, const char *const *cells)
{
	for (guint i = 0; cells[i]; i++) {
		if (i)
			g_string_append_c(out, ',');
		csv_cell(out, cells[i]);
	}
	g_string_append(out, "\r\n");
}

/* One figure a record: every record has the same five fields. */
static char *
render_csv(GPtrArray *tables, const char *label)
{
	GString *out = g_string_new(NULL);
	const char *header[] = { "period", "section", "key", "column", "value", NULL };

	csv_record(out, header);
	for (guint i = 0; i < tables->len; i++) {
		Table *t = tables->pdata[i];

		for (guint r = 0; r < t->rows->len; r++) {
			char **row = t->rows->pdata[r];

			for (guint c = 1; row[c]; c++) {
				const char *rec[] = { label, t->section->name, row[0],
					t->section->cols[c].name, row[c], NULL };

				csv_record(out, rec);
			}
		}
	}
	return g_string_free(out, FALSE);
}

static char *
render_json(GPtrArray *tables, const char *label, gint64 start, gint64 end)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *from = stats_iso_time(start), *to = stats_iso_time(end);
	g_autofree char *text = NULL;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "period");
	json_builder_add_string_value(b, label);
	json_builder_set_member_name(b, "start");
	json_builder_add_string_value(b, from);
	json_builder_set_member_name(b, "end");
	json_builder_add_string_value(b, to);
	for (guint i = 0; i < tables->len; i++) {
		Table *t = tables->pdata[i];

		json_builder_set_member_name(b, t->section->name);
		json_builder_begin_array(b);
		for (guint r = 0; r < t->rows->len; r++) {
			char **row = t->rows->pdata[r];

			json_builder_begin_object(b);
			for (guint c = 0; row[c]; c++) {
				json_builder_set_member_name(b, t->section->cols[c].name);
				if (t->section->cols[c].type == COL_TEXT)
					json_builder_add_string_value(b, row[c]);
				else if (*row[c] == '\0')
					json_builder_add_null_value(b);
				else if (t->section->cols[c].type == COL_INT)
					json_builder_add_int_value(b, g_ascii_strtoll(row[c], NULL, 10));
				else
					json_builder_add_double_value(b, g_ascii_strtod(row[c], NULL));
			}
			json_builder_end_object(b);
		}
		json_builder_end_array(b);
	}
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, TRUE);
	text = json_generator_to_data(gen, NULL);
	return g_strconcat(text, "\n", NULL);
}
/* Columns as wide as their widest cell (in characters, not bytes). */
static void
text_table(GString *out, const Table *t)
{
	guint n = ncols(t->section);
	glong w[G_N_ELEMENTS(t->section->cols)] = { 0 };

	for (guint c = 0; c < n; c++)
		w[c] = g_utf8_strlen(t->section->cols[c].name, -1);
	for (guint r = 0; r < t->rows->len; r++) {
		char **row = t->rows->pdata[r];

		for (guint c = 0; c < n; c++)
			w[c] = MAX(w[c], g_utf8_strlen(row[c], -1));
	}
	for (guint r = 0; r <= t->rows->len; r++) {
		char **row = r ? t->rows->pdata[r - 1] : NULL;

		g_string_append(out, " ");
		for (guint c = 0; c < n; c++) {
			const char *v = row ? row[c] : t->section->cols[c].name;
			glong len = g_utf8_strlen(v, -1);
			gboolean left = t->section->cols[c].type == COL_TEXT;

			g_string_append_c(out, ' ');
			if (!left)
				g_string_append_printf(out, "%*s", (int)(w[c] - len), "");
			g_string_append(out, v);
			if (left && c + 1 < n)
				g_string_append_printf(out, "%*s", (int)(w[c] - len), "");
			if (c + 1 < n)
				g_string_append(out, " ");
		}
		while (out->len > 0 && out->str[out->len - 1] == ' ')
			g_string_truncate(out, out->len - 1);
		g_string_append_c(out, '\n');
	}
	if (t->rows->len == 0)
		g_string_append(out, "  (none)\n");
}

static char *
render_text(GPtrArray *tables, const char *label, gint64 start, gint64 end)
{
	GString *out = g_string_new(NULL);
	g_autofree char *from = stats_iso_time(start), *to = stats_iso_time(end);

	g_string_append_printf(out, "mdir statistics for %s (%s to %s)\n", label, from, to);
	for (guint i = 0; i < tables->len; i++) {
		Table *t = tables->pdata[i];

		g_string_append_printf(out, "\n%s\n", t->section->title);
		text_table(out, t);
	}
	return g_string_free(out, FALSE);
}

char *
report_render(GPtrArray *tables, const char *format, const char *label, gint64 start,
    gint64 end)
{
	if (strcmp(format, "json") == 0)
		return render_json(tables, label, start, end);
	if (strcmp(format, "csv") == 0)
		return render_csv(tables, label);
	return render_text(tables, label, start, end);
}

int
report_print(Stats *s, const char *day, const char *month, const char *format,
    GError **error)
{
	g_autofree char *label = NULL;
	g_autoptr(GPtrArray) tables = NULL;
	g_autofree char *text = NULL;
	gint64 start, end;

	if (!report_period(day, month, &start, &end, &label) ||
	    (strcmp(format, "text") != 0 && strcmp(format, "csv") != 0 &&
		strcmp(format, "json") != 0)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
		    "report [--day YYYY-MM-DD | --month YYYY-MM] [--format text|csv|json]");
		return -1;
	}
	if (stats_import(s, error) < 0)
		return -1;
	tables = report_collect(s, start, end);
	text = report_render(tables, format, label, start, end);
	fputs(text, stdout);
	return 0;
}
