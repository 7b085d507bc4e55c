/*
 * today.c: the Today page and /api/today.  The figures are smtp-stats'
 * own: its report of today (report_collect(), rendered as the JSON of
 * "smtp-stats report --format json") summed here, and its chart drawn by
 * chart.c for the day and the month, put inline with a transparent bar
 * over each bucket whose <title> a browser shows on hover.  Only the
 * outbox's deferred and failed sendings, which the report does not
 * count, come from a query of this file.
 */
#include <string.h>
#include <syslog.h>

#include <json-glib/json-glib.h>

#include "stats.h"
#include "web.h"

/* chart.c's plot area (its W, LEFT, RIGHT, TOP, BOTTOM) */
#define CHART_LEFT 64.0
#define CHART_RIGHT 736.0
#define CHART_TOP 78.0
#define CHART_BOTTOM 368.0

typedef struct {
	char *label;
	JsonNode *report;  /* smtp-stats report's JSON of today */
	gint64 figures[7];
	char *charts[2];   /* inline SVG: the day, the month */
} Today;

static const char *const figure_names[] = { "received", "sent", "deferred", "failed",
	"spam", "greylisted", "rejected" };
static const char *const figure_help[] = {
	"deliveries to accounts (smtp-stats report: messages in)",
	"deliveries out (smtp-stats report: deliveries out)",
	"sendings the outbox will try again",
	"sendings the outbox gave up",
	"messages learned as spam, by the IP that sent them",
	"policy requests deferred by greylisting",
	"policy requests rejected: blacklisted, unknown recipient, spam ratio",
};

static void
today_clear(Today *t)
{
	g_free(t->label);
	if (t->report)
		json_node_unref(t->report);
	g_free(t->charts[0]);
	g_free(t->charts[1]);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Today, today_clear)

/* The sum of @column over the rows of the report's @section. */
static gint64
column_sum(JsonObject *report, const char *section, const char *column, const char *key,
    const char *const *keys)
{
	JsonArray *rows = json_object_has_member(report, section) ?
	    json_object_get_array_member(report, section) : NULL;
	gint64 total = 0;

	for (guint i = 0; rows && i < json_array_get_length(rows); i++) {
		JsonObject *row = json_array_get_object_element(rows, i);

		/* a row without that member, or null there, is none of @keys */
		if (row == NULL || (key && !g_strv_contains(keys,
		    json_object_get_string_member_with_default(row, key, ""))))
			continue;
		total += json_object_get_int_member_with_default(row, column, 0);
	}
	return total;
}

static gint64
count_events(Stats *s, const char *kind, gint64 start, gint64 end)
{
	sqlite3_stmt *st = stats_stmt(s, "SELECT count(*) FROM events WHERE kind = ?1 AND "
					 "ts >= ?2 AND ts < ?3");
	gint64 n = 0;

	if (st == NULL)
		return 0;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, start);
	sqlite3_bind_int64(st, 3, end);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

/*
 * The period's messages learned as spam, all of them: the report's
 * spammers table is its top ten IPs, so its sum would read low on a day
 * with more; the chart's buckets count every message once, as its title.
 */
static gint64
spam_total(Stats *s, gint64 start, gint64 end)
{
	g_autoptr(ChartData) d = chart_data(s, start, end, FALSE);
	gint64 n = 0;

	for (guint i = 0; i < d->n; i++)
		n += d->spam[i];
	return n;
}

static char *
replace(const char *text, const char *from, const char *to)
{
	GString *s = g_string_new(text);

	g_string_replace(s, from, to, 0);
	return g_string_free(s, FALSE);
}

/*
 * cairo's SVG as an element of the page: no XML declaration, ids made
 * unique to the chart (both charts name their glyphs alike), and a bar a
 * bucket with its figures as a <title>.
 */
static char *
inline_svg(GBytes *svg, const ChartData *d, gboolean monthly, const char *prefix)
{
	g_autofree char *text = g_strndup(g_bytes_get_data(svg, NULL), g_bytes_get_size(svg));
	const char *start = strstr(text, "<svg");
	g_autofree char *ids = NULL;
	g_autofree char *sized = NULL;
	g_autofree char *refs = NULL;
	g_autofree char *urls = NULL;
	g_autoptr(GString) out = NULL;
	double bw = (CHART_RIGHT - CHART_LEFT) / d->n;
	g_autofree char *id_to = g_strdup_printf("id=\"%s-", prefix);
	g_autofree char *ref_to = g_strdup_printf("href=\"#%s-", prefix);
	g_autofree char *url_to = g_strdup_printf("url(#%s-", prefix);
	char *end;

	if (start == NULL || (end = g_strrstr(start, "</svg>")) == NULL)
		return g_strdup("<p class=error>the chart could not be drawn</p>");
	*end = '\0';
	ids = replace(start, "id=\"", id_to);
	refs = replace(ids, "href=\"#", ref_to);
	urls = replace(refs, "url(#", url_to);
	sized = replace(urls, "width=\"800pt\" height=\"420pt\"",
	    "class=chart width=\"800\" height=\"420\" role=img");
	out = g_string_new(sized);
	for (guint i = 0; i < d->n; i++) {
		g_autofree char *when = monthly ? g_strdup_printf("day %u", i + 1) :
		    g_strdup_printf("%02u:00-%02u:00", i, i + 1);

		g_string_append_printf(out, "<rect class=hover x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" "
		    "height=\"%.0f\" fill=\"#000\" fill-opacity=\"0\"><title>%s: %" G_GINT64_FORMAT
		    " received, %" G_GINT64_FORMAT " spam, %" G_GINT64_FORMAT " greylisted"
		    "</title></rect>", CHART_LEFT + i * bw, CHART_TOP, bw, CHART_BOTTOM - CHART_TOP,
		    when, d->received[i], d->spam[i], d->greylisted[i]);
	}
	g_string_append(out, "</svg>");
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static char *
chart(Stats *s, gboolean monthly, const char *prefix)
{
	g_autofree char *label = NULL;
	g_autofree char *month = mdir_time_now(MDIR_TIME_MONTH);
	g_autoptr(ChartData) d = NULL;
	g_autoptr(GBytes) svg = NULL;
	g_autoptr(GBytes) png = NULL;
	gint64 start, end;

	if (!report_period(NULL, monthly ? month : NULL, &start, &end, &label))
		return g_strdup("");
	d = chart_data(s, start, end, monthly);
	if (!chart_render(d, monthly, label, &svg, &png))
		return g_strdup("<p class=error>the chart could not be drawn</p>");
	return inline_svg(svg, d, monthly, prefix);
}

static gboolean
collect(Web *w, Today *t, gboolean charts, GError **error)
{
	g_autoptr(Stats) s = stats_open(w->config, w->store, error);
	g_autoptr(GPtrArray) tables = NULL;
	g_autofree char *json = NULL;
	g_autoptr(GError) e = NULL;
	JsonObject *o;
	const char *rejected[] = { POLICY_BLACKLISTED, POLICY_UNKNOWN_RECIPIENT,
		POLICY_SPAM_RATIO, NULL };
	const char *greylisted[] = { POLICY_GREYLISTED, NULL };
	gint64 start, end;

	if (s == NULL)
		return FALSE;
	/* what happened since the last import, as smtp-stats report does */
	if (stats_import(s, &e) < 0)
		mdir_log(LOG_WARNING, "%s", e ? e->message : "the events could not be imported");
	report_period(NULL, NULL, &start, &end, &t->label);
	tables = report_collect(s, start, end);
	json = report_render(tables, "json", t->label, start, end);
	if ((t->report = json_from_string(json, error)) == NULL)
		return FALSE;
	o = json_node_get_object(t->report);
	t->figures[0] = column_sum(o, "accounts", "messages in", NULL, NULL);
	t->figures[1] = column_sum(o, "accounts", "deliveries out", NULL, NULL);
	t->figures[2] = count_events(s, "deferred", start, end);
	t->figures[3] = count_events(s, "failed", start, end);
	t->figures[4] = spam_total(s, start, end);
	t->figures[5] = column_sum(o, "policy", "requests", "decision", greylisted);
	t->figures[6] = column_sum(o, "policy", "requests", "decision", rejected);
	if (charts) {
		t->charts[0] = chart(s, FALSE, "day");
		t->charts[1] = chart(s, TRUE, "month");
	}
	return TRUE;
}

/* A report section as a table, its columns the rows' members. */
static void
section_table(GString *out, JsonObject *report, const char *section, const char *title)
{
	JsonArray *rows = json_object_has_member(report, section) ?
	    json_object_get_array_member(report, section) : NULL;
	g_autoptr(GList) cols = NULL;

	g_string_append_printf(out, "<div><h2>%s</h2>", title);
	if (rows == NULL || json_array_get_length(rows) == 0) {
		g_string_append(out, "<p>none today</p></div>");
		return;
	}
	cols = json_object_get_members(json_array_get_object_element(rows, 0));
	g_string_append_printf(out, "<table id=%s><tr>", section);
	for (GList *c = cols; c; c = c->next) {
		g_autofree char *h = web_escape(c->data);

		g_string_append_printf(out, "<th>%s</th>", h);
	}
	g_string_append(out, "</tr>");
	for (guint i = 0; i < json_array_get_length(rows); i++) {
		JsonObject *row = json_array_get_object_element(rows, i);

		g_string_append(out, "<tr>");
		for (GList *c = cols; c; c = c->next) {
			JsonNode *v = json_object_get_member(row, c->data);
			gboolean text = v && json_node_get_value_type(v) == G_TYPE_STRING;
			g_autofree char *shown = v == NULL || json_node_is_null(v) ? g_strdup("") :
			    text ? web_escape(json_node_get_string(v)) :
			    json_node_get_value_type(v) == G_TYPE_DOUBLE ?
			    g_strdup_printf("%.2f", json_node_get_double(v)) :
			    g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(v));

			g_string_append_printf(out, "<td%s>%s</td>", text ? "" : " class=n", shown);
		}
		g_string_append(out, "</tr>");
	}
	g_string_append(out, "</table></div>");
}

void
web_today(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form)
{
	g_auto(Today) t = { 0 };
	g_autoptr(GError) e = NULL;
	g_autoptr(GString) out = g_string_new(NULL);
	JsonObject *o;

	(void)form;
	if (!collect(w, &t, TRUE, &e)) {
		web_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, e->message);
		return;
	}
	o = json_node_get_object(t.report);
	g_string_append_printf(out, "<h1>Today, %s <small>(UTC)</small></h1>"
	    "<div class=figures>", t.label);
	for (gsize i = 0; i < G_N_ELEMENTS(figure_names); i++)
		g_string_append_printf(out, "<div class=figure title='%s'>%s<span id=%s>%"
		    G_GINT64_FORMAT "</span></div>", figure_help[i], figure_names[i],
		    figure_names[i], t.figures[i]);
	g_string_append(out, "</div>");
	g_string_append_printf(out, "<div class=charts><div><h2>The day</h2>%s</div>"
	    "<div><h2>The month</h2>%s</div></div>", t.charts[0], t.charts[1]);
	section_table(out, o, "accounts", "Usage per account");
	g_string_append(out, "<div class=tables>");
	section_table(out, o, "policy", "Policy decisions");
	section_table(out, o, "ips", "Top source IPs");
	section_table(out, o, "spammers", "Spammers");
	section_table(out, o, "sender_domains", "Top sender domains");
	section_table(out, o, "destination_domains", "Top destination domains");
	g_string_append(out, "</div>");
	web_page(msg, s, "Today", out->str);
}

void
web_api_today(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form)
{
	g_auto(Today) t = { 0 };
	g_autoptr(GError) e = NULL;
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	(void)form;
	if (!collect(w, &t, FALSE, &e)) {
		web_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, e->message);
		return;
	}
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "day");
	json_builder_add_string_value(b, t.label);
	json_builder_set_member_name(b, "csrf");
	json_builder_add_string_value(b, s->csrf);
	json_builder_set_member_name(b, "figures");
	json_builder_begin_object(b);
	for (gsize i = 0; i < G_N_ELEMENTS(figure_names); i++) {
		json_builder_set_member_name(b, figure_names[i]);
		json_builder_add_int_value(b, t.figures[i]);
	}
	json_builder_end_object(b);
	json_builder_set_member_name(b, "report");
	json_builder_add_value(b, json_node_ref(t.report));
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	web_json(msg, SOUP_STATUS_OK, json_to_string(root, TRUE));
}
