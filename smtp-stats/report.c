/*
 * report.c: "smtp-stats report" and "publish": a day's or a month's
 * figures as text, CSV or JSON, and as a message (text, the CSV and an
 * SVG chart attached) delivered into SMTP/Statistics by the receive path,
 * where the admin's rules file it like any other mail.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "stats.h"

typedef struct {
	const char *name;
	const char *title;
	const char *columns; /* tab-separated */
	const char *sql;     /* ?1 start, ?2 end (seconds) */
} Section;

static const Section sections[] = {
	{ "accounts", "Usage per account", "account\tmessages in\tbytes in\tmessages out\tbytes out",
	    "SELECT a, sum(mi), sum(bi), sum(mo), sum(bo) FROM ("
	    " SELECT account a, 1 mi, size bi, 0 mo, 0 bo FROM events WHERE kind = 'delivered'"
	    "  AND ts >= ?1 AND ts < ?2"
	    " UNION ALL SELECT sender, 0, 0, 1, size FROM events WHERE kind = 'sent'"
	    "  AND ts >= ?1 AND ts < ?2) GROUP BY a ORDER BY 2 DESC, 4 DESC" },
	{ "ips", "Top source IPs", "ip\tmessages",
	    "SELECT ip, count(*) FROM events WHERE kind = 'delivered' AND ip IS NOT NULL"
	    " AND ts >= ?1 AND ts < ?2 GROUP BY ip ORDER BY 2 DESC LIMIT 10" },
	{ "networks", "Top source networks", "network\tmessages",
	    "SELECT net, count(*) FROM events WHERE kind = 'delivered' AND net IS NOT NULL"
	    " AND ts >= ?1 AND ts < ?2 GROUP BY net ORDER BY 2 DESC LIMIT 10" },
	{ "sender_domains", "Top sender domains", "domain\tmessages",
	    "SELECT domain, count(*) FROM events WHERE kind = 'delivered' AND domain IS NOT NULL"
	    " AND ts >= ?1 AND ts < ?2 GROUP BY domain ORDER BY 2 DESC LIMIT 10" },
	{ "destination_domains", "Top destination domains", "domain\tmessages",
	    "SELECT domain, count(*) FROM events WHERE kind = 'sent' AND domain IS NOT NULL"
	    " AND ts >= ?1 AND ts < ?2 GROUP BY domain ORDER BY 2 DESC LIMIT 10" },
	/* the period's: its messages (a message to several accounts once) by
	 * the IP that sent them, those learned as spam since counted as spam */
	{ "spammers", "Spammers", "ip\tspam\tvalid\tratio",
	    "SELECT ip, sum(s), count(*) - sum(s), printf('%.2f', sum(s) * 1.0 / count(*)) FROM ("
	    " SELECT ip, max(message_id IN (SELECT message_id FROM learned)) s FROM events"
	    " WHERE kind = 'delivered' AND ip IS NOT NULL AND ts >= ?1 AND ts < ?2"
	    " GROUP BY ip, coalesce(message_id, rowid)) GROUP BY ip HAVING sum(s) > 0"
	    " ORDER BY 2 DESC, 1 LIMIT 10" },
	{ "policy", "Policy decisions", "action\tcount",
	    "SELECT action, count(*) FROM decisions WHERE ts >= ?1 AND ts < ?2 GROUP BY action"
	    " ORDER BY 2 DESC" },
	{ "greylisting", "Greylisting", "what\tcount\taverage delay (s)",
	    "SELECT 'passed after a delay', count(*), CAST(avg(last - first) AS INTEGER) FROM"
	    " greylist WHERE passed > 0 AND first >= ?1 AND first < ?2"
	    " UNION ALL SELECT 'never retried', count(*), NULL FROM greylist WHERE passed = 0"
	    " AND first >= ?1 AND first < ?2" },
};

typedef struct {
	const Section *section;
	GPtrArray *rows; /* GStrv */
} Table;

static void
table_free(gpointer p)
{
	Table *t = p;

	g_ptr_array_unref(t->rows);
	g_free(t);
}

/* The period as [start, end) and a label; FALSE if @spec is no date. */
static gboolean
period(const char *day, const char *month, gint64 *start, gint64 *end, char **label)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
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
		iso = day ? g_strdup_printf("%sT00:00:00Z", day) :
		    g_date_time_format(now, "%Y-%m-%dT00:00:00Z");
		a = g_date_time_new_from_iso8601(iso, NULL);
		b = a ? g_date_time_add_days(a, 1) : NULL;
	}
	if (a == NULL)
		return FALSE;
	*start = g_date_time_to_unix(a);
	*end = g_date_time_to_unix(b);
	*label = g_date_time_format(a, month ? "%Y-%m" : "%Y-%m-%d");
	return TRUE;
}

static GPtrArray *
collect(Stats *s, gint64 start, gint64 end)
{
	GPtrArray *tables = g_ptr_array_new_with_free_func(table_free);

	for (gsize i = 0; i < G_N_ELEMENTS(sections); i++) {
		Table *t = g_new0(Table, 1);
		sqlite3_stmt *st = stats_stmt(s, sections[i].sql);

		t->section = &sections[i];
		t->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
		sqlite3_bind_int64(st, 1, start);
		sqlite3_bind_int64(st, 2, end);
		while (st && sqlite3_step(st) == SQLITE_ROW) {
			int n = sqlite3_column_count(st);
			char **row = g_new0(char *, n + 1);

			for (int c = 0; c < n; c++)
				row[c] = g_strdup(sqlite3_column_text(st, c) ?
				    (const char *)sqlite3_column_text(st, c) : "");
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
	gboolean formula = strchr("=+-@\t\r", v[0]) != NULL && v[0] != '\0';
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

static char *
render(GPtrArray *tables, const char *format, const char *label)
{
	GString *out = g_string_new(NULL);
	gboolean json = strcmp(format, "json") == 0;
	gboolean csv = strcmp(format, "csv") == 0;

	if (json)
		g_string_append_printf(out, "{\"period\": \"%s\"", label);
	else if (csv)
		g_string_append(out, "section,key,value,value,value,value\n");
	else
		g_string_append_printf(out, "mdir statistics for %s\n", label);
	for (guint i = 0; i < tables->len; i++) {
		Table *t = tables->pdata[i];
		g_auto(GStrv) cols = g_strsplit(t->section->columns, "\t", -1);

		if (json)
			g_string_append_printf(out, ", \"%s\": [", t->section->name);
		else if (!csv)
			g_string_append_printf(out, "\n%s\n", t->section->title);
		for (guint r = 0; r < t->rows->len; r++) {
			char **row = t->rows->pdata[r];

			for (guint c = 0; row[c]; c++) {
				g_autofree char *esc = json ? g_strescape(row[c], NULL) : NULL;

				if (json)
					g_string_append_printf(out, "%s\"%s\": \"%s\"",
					    c == 0 ? (r ? ", {" : "{") : ", ", cols[c] ? cols[c] : "",
					    esc);
				else if (csv) {
					if (c == 0)
						g_string_append_printf(out, "%s,", t->section->name);
					csv_cell(out, row[c]);
					g_string_append_c(out, row[c + 1] ? ',' : '\n');
				} else
					g_string_append_printf(out, c == 0 ? "  %-32s" : " %12s", row[c]);
			}
			if (json)
				g_string_append_c(out, '}');
			else if (!csv)
				g_string_append_c(out, '\n');
		}
		if (json)
			g_string_append_c(out, ']');
		else if (!csv && t->rows->len == 0)
			g_string_append(out, "  (none)\n");
	}
	if (json)
		g_string_append(out, "}\n");
	return g_string_free(out, FALSE);
}

int
report_print(Stats *s, const char *day, const char *month, const char *format,
    GError **error)
{
	g_autofree char *label = NULL;
	g_autoptr(GPtrArray) tables = NULL;
	g_autofree char *text = NULL;
	gint64 start, end;

	if (!period(day, month, &start, &end, &label) ||
	    (strcmp(format, "text") != 0 && strcmp(format, "csv") != 0 &&
		strcmp(format, "json") != 0)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
		    "report [--day YYYY-MM-DD | --month YYYY-MM] [--format text|csv|json]");
		return -1;
	}
	stats_import(s, NULL);
	tables = collect(s, start, end);
	text = render(tables, format, label);
	fputs(text, stdout);
	return 0;
}

/* The chart: messages in a bucket as bars, the spam ratio as a line. */
static char *
chart(Stats *s, gint64 start, gint64 end, gboolean month, const char *label)
{
	guint n = month ? (guint)((end - start) / 86400) : 24;
	gint64 step = month ? 86400 : 3600;
	g_autofree gint64 *msgs = g_new0(gint64, n);
	g_autofree gint64 *spam = g_new0(gint64, n);
	sqlite3_stmt *st;
	GString *svg = g_string_new(NULL);
	gint64 max = 1;
	const int w = 720, h = 300, x0 = 40, y0 = 260;

	st = stats_stmt(s, "SELECT (ts - ?1) / ?3, count(*) FROM events WHERE kind = 'delivered'"
			   " AND ts >= ?1 AND ts < ?2 GROUP BY 1");
	sqlite3_bind_int64(st, 1, start);
	sqlite3_bind_int64(st, 2, end);
	sqlite3_bind_int64(st, 3, step);
	while (sqlite3_step(st) == SQLITE_ROW)
		if ((guint)sqlite3_column_int(st, 0) < n)
			msgs[sqlite3_column_int(st, 0)] = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	st = stats_stmt(s, "SELECT (ts - ?1) / ?3, count(*) FROM learned WHERE ts >= ?1"
			   " AND ts < ?2 GROUP BY 1");
	sqlite3_bind_int64(st, 1, start);
	sqlite3_bind_int64(st, 2, end);
	sqlite3_bind_int64(st, 3, step);
	while (sqlite3_step(st) == SQLITE_ROW)
		if ((guint)sqlite3_column_int(st, 0) < n)
			spam[sqlite3_column_int(st, 0)] = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	for (guint i = 0; i < n; i++)
		max = MAX(max, msgs[i]);
	g_string_append_printf(svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
				    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\""
				    " viewBox=\"0 0 %d %d\">\n<title>mail received and spam ratio, %s"
				    "</title>\n<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n"
				    "<text x=\"%d\" y=\"20\" font-family=\"sans-serif\" font-size=\"14\">"
				    "Messages received (bars) and spam ratio (line), %s</text>\n",
	    w, h, w, h, label, w, h, x0, label);
	for (guint i = 0; i < n; i++) {
		double bw = (double)(w - x0 - 10) / n;
		double bh = (double)msgs[i] / (double)max * (y0 - 40);

		g_string_append_printf(svg, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\""
					    " fill=\"#4a7ab5\"><title>%u: %" G_GINT64_FORMAT
					    "</title></rect>\n",
		    x0 + i * bw + 1, y0 - bh, bw - 2, bh, i + (month ? 1 : 0), msgs[i]);
	}
	g_string_append(svg, "<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"2\" points=\"");
	for (guint i = 0; i < n; i++) {
		double bw = (double)(w - x0 - 10) / n;
		double ratio = msgs[i] + spam[i] ? (double)spam[i] / (double)(msgs[i] + spam[i]) : 0;

		g_string_append_printf(svg, "%s%.1f,%.1f", i ? " " : "", x0 + (i + 0.5) * bw,
		    y0 - ratio * (y0 - 40));
	}
	g_string_append_printf(svg, "\"/>\n<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\""
				    " stroke=\"black\"/>\n<text x=\"%d\" y=\"%d\" font-family=\"sans-serif\""
				    " font-size=\"11\">%s</text>\n</svg>\n",
	    x0, y0, w - 10, y0, x0, y0 + 20, month ? "days of the month" : "hours (UTC)");
	return g_string_free(svg, FALSE);
}

/* Base64 in lines of 76, as MIME wants them.  Transfer full. */
static char *
base64_lines(const char *data)
{
	g_autofree char *b = g_base64_encode((const guchar *)data, strlen(data));
	GString *out = g_string_new(NULL);

	for (gsize i = 0, n = strlen(b); i < n; i += 76)
		g_string_append_printf(out, "%.76s\n", b + i);
	return g_string_free(out, FALSE);
}

int
report_publish(Stats *s, gboolean monthly, const char *day, const char *month,
    gboolean verbose, GError **error)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	/* by default the day or month just ended: cron runs it after midnight */
	g_autoptr(GDateTime) ref = monthly ? g_date_time_add_months(now, -1) :
	    g_date_time_add_days(now, -1);
	g_autofree char *key = (day || month) ? g_strdup(day ? day : month) :
	    g_date_time_format(ref, monthly ? "%Y-%m" : "%Y-%m-%d");
	g_autofree char *label = NULL;
	g_autoptr(GPtrArray) tables = NULL;
	g_autofree char *text = NULL, *csv = NULL, *svg = NULL;
	g_autofree char *csv64 = NULL, *svg64 = NULL;
	g_autofree char *path = NULL;
	g_autofree char *date = g_date_time_format(now, "%d %b %Y %H:%M:%S +0000");
	const char *rcpts[] = { "statistics", NULL };
	MdirEnvelope env = { .sender = "", .recipients = rcpts, .folder = "SMTP/Statistics" };
	g_autoptr(MdirDelivery) d = NULL;
	gint64 start, end;
	FILE *fp;
	int fd;

	if (!period(monthly ? NULL : key, monthly ? key : NULL, &start, &end, &label)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
		    "publish: %s is not a %s", key, monthly ? "YYYY-MM" : "YYYY-MM-DD");
		return -1;
	}
	stats_import(s, NULL);
	tables = collect(s, start, end);
	text = render(tables, "text", label);
	csv = render(tables, "csv", label);
	svg = chart(s, start, end, monthly, label);
	csv64 = base64_lines(csv);
	svg64 = base64_lines(svg);
	path = g_build_filename(mdir_store_root(s->store), ".mstore", "tmp", "report", NULL);
	{
		char *p = g_strdup_printf("%s.%08x", path, g_random_int());

		g_free(path);
		path = p;
	}
	fp = fopen(path, "wxe");
	if (fp == NULL) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", path,
		    g_strerror(errno));
		return -1;
	}
	fprintf(fp, "From: smtp-stats <MAILER-DAEMON>\nTo: statistics\n"
		    "Subject: mdir statistics for %s\nDate: %s\n"
		    "Message-ID: <stats-%s.%" G_GINT64_FORMAT "@mdir>\nAuto-Submitted: auto-generated\n"
		    "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"=stats=\"\n\n"
		    "--=stats=\nContent-Type: text/plain; charset=utf-8\n\n%s\n"
		    "--=stats=\nContent-Type: text/csv; charset=utf-8\n"
		    "Content-Disposition: attachment; filename=\"statistics-%s.csv\"\n"
		    "Content-Transfer-Encoding: base64\n\n%s\n"
		    "--=stats=\nContent-Type: image/svg+xml\n"
		    "Content-Disposition: attachment; filename=\"statistics-%s.svg\"\n"
		    "Content-Transfer-Encoding: base64\n\n%s\n--=stats=--\n",
	    label, date, label, g_get_real_time(), text, label, csv64, label, svg64);
	if (fclose(fp) != 0 || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "%s: cannot write", path);
		unlink(path);
		return -1;
	}
	d = mdir_receive(s->store, s->config, fd, &env, error);
	close(fd);
	unlink(path);
	if (d == NULL)
		return -1;
	mdir_log(LOG_INFO, "published the statistics for %s: message-id=<%s>", label,
	    mdir_delivery_message_id(d) ? mdir_delivery_message_id(d) : "");
	if (verbose)
		printf("%s\n", mdir_delivery_message_id(d) ? mdir_delivery_message_id(d) : "");
	return 0;
}
