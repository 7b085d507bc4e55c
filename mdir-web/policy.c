/*
 * policy.c: the Policy page and /api/policy: the lists the policy
 * service of smtp-stats reads (the blacklist with its times, the
 * whitelist), the greylist's triplets still waiting for a retry, and the
 * IPs with the most spam learned.  Changes go through smtp-stats' own
 * lists.c, the statements "smtp-stats whitelist|blacklist" runs, so the
 * policy service sees them at its next request.
 */
#include <string.h>
#include <syslog.h>

#include <json-glib/json-glib.h>

#include "lists.h"
#include "web.h"

#define MAX_ROWS 200

/* A list of the page: its SQL, its columns, which column is a time. */
typedef struct {
	const char *id;
	const char *title;
	const char *sql; /* ?1: now (seconds) */
	const char *cols[6];
	int times[2];	 /* columns shown as times, -1 none */
	const char *remove; /* the action of a row's button (its key columns 0, 1) */
} List;

static const List lists[] = {
	{ "blacklist", "Blacklisted IPs",
	    "SELECT ip, reason, until FROM blacklist WHERE until > ?1 ORDER BY until DESC LIMIT 200",
	    { "ip", "reason", "until", NULL }, { 2, -1 }, "blacklist-del" },
	{ "whitelist", "Whitelist (never greylisted)",
	    "SELECT kind, value, reason, added FROM whitelist ORDER BY kind, value LIMIT 200",
	    { "kind", "value", "reason", "added", NULL }, { 3, -1 }, "whitelist-del" },
	{ "greylist", "Greylisted, waiting for a retry",
	    "SELECT net, sender, rcpt, first, last FROM greylist WHERE passed = 0 AND ?1 > 0"
	    " ORDER BY last DESC LIMIT 200",
	    { "network", "sender", "recipient", "first", "last", NULL }, { 3, 4 }, NULL },
	{ "spammers", "Top spammers (learned)",
	    "SELECT ip, spam, valid, unknown FROM ips WHERE spam > 0 AND ?1 > 0"
	    " ORDER BY spam DESC, ip LIMIT 20",
	    { "ip", "spam", "valid", "unknown recipients", NULL }, { -1, -1 }, NULL },
};

static guint
ncols(const List *l)
{
	guint n = 0;

	while (n < G_N_ELEMENTS(l->cols) && l->cols[n])
		n++;
	return n;
}

/* The rows of @l, each a GStrv (times as ISO 8601).  Transfer full. */
static GPtrArray *
rows_of(Stats *s, const List *l)
{
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
	sqlite3_stmt *st = stats_stmt(s, l->sql);
	guint n = ncols(l);

	if (st == NULL)
		return out;
	sqlite3_bind_int64(st, 1, g_get_real_time() / G_USEC_PER_SEC);
	while (sqlite3_step(st) == SQLITE_ROW && out->len < MAX_ROWS) {
		char **row = g_new0(char *, n + 1);

		for (guint c = 0; c < n; c++) {
			const char *v = (const char *)sqlite3_column_text(st, c);

			if ((int)c == l->times[0] || (int)c == l->times[1])
				row[c] = mdir_time_format(sqlite3_column_int64(st, c),
				    MDIR_TIME_ISO8601);
			else
				row[c] = g_utf8_make_valid(v ? v : "", -1);
		}
		g_ptr_array_add(out, row);
	}
	sqlite3_reset(st);
	return out;
}

static void
list_html(GString *out, const List *l, GPtrArray *rows, const WebSession *s)
{
	guint n = ncols(l);

	g_string_append_printf(out, "<div><h2>%s</h2>", l->title);
	if (rows->len == 0) {
		g_string_append(out, "<p>none</p></div>");
		return;
	}
	g_string_append_printf(out, "<table id=%s><tr>", l->id);
	for (guint c = 0; c < n; c++)
		g_string_append_printf(out, "<th>%s</th>", l->cols[c]);
	g_string_append(out, l->remove ? "<th></th></tr>" : "</tr>");
	for (guint r = 0; r < rows->len; r++) {
		char **row = rows->pdata[r];

		g_string_append(out, "<tr>");
		for (guint c = 0; c < n; c++) {
			g_autofree char *v = web_escape(row[c]);
			gboolean t = (int)c == l->times[0] || (int)c == l->times[1];

			g_string_append_printf(out, "<td%s>%s</td>", t ? " class=t" : "", v);
		}
		if (l->remove) {
			g_autofree char *k0 = web_escape(row[0]);
			g_autofree char *k1 = web_escape(row[1]);

			g_string_append(out, "<td><form class=inline method=post action='/policy'>");
			web_csrf_field(out, s);
			g_string_append_printf(out, "<input type=hidden name=action value=%s>"
			    "<input type=hidden name=a value=\"%s\"><input type=hidden name=b "
			    "value=\"%s\"><button>Remove</button></form></td>", l->remove, k0, k1);
		}
		g_string_append(out, "</tr>");
	}
	g_string_append(out, "</table></div>");
}

static void
forms(GString *out, const WebSession *s, const char *blacklist_time)
{
	g_string_append(out, "<form method=post action='/policy' id=form-blacklist><fieldset>"
			     "<legend>Blacklist an IP</legend>");
	web_csrf_field(out, s);
	g_string_append_printf(out, "<input type=hidden name=action value=blacklist-add>"
	    "<input name=a placeholder='192.0.2.7' required size=24> for <input name=b "
	    "value='%s' size=6> <button>Blacklist</button></fieldset></form>", blacklist_time);
	g_string_append(out, "<form method=post action='/policy' id=form-whitelist><fieldset>"
			     "<legend>Whitelist a network or a domain</legend>");
	web_csrf_field(out, s);
	g_string_append(out, "<input type=hidden name=action value=whitelist-add>"
			     "<select name=a><option value=net>network</option><option "
			     "value=domain>sender domain</option></select> <input name=b "
			     "placeholder='192.0.2.0/24 or example.org' required size=28> "
			     "<button>Whitelist</button></fieldset></form>");
}

/* A whitelist value as the policy service keys it; NULL and @error if not one. */
static char *
whitelist_value(const char *kind, const char *value, GError **error)
{
	if (strcmp(kind, "net") == 0) {
		const char *slash = strchr(value, '/');
		g_autofree char *ip = slash ? g_strndup(value, slash - value) : g_strdup(value);
		char *net = stats_network(ip);

		/* the service matches the /24 or /64 an IP is in, nothing else */
		if (net == NULL || (slash && strcmp(net, value) != 0)) {
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "'%s': not an address or its "
			    "/24 (IPv4) or /64 (IPv6)%s%s", value, net ? ", which is " : "",
			    net ? net : "");
			g_free(net);
			return NULL;
		}
		return net;
	}
	if (strcmp(kind, "domain") == 0 && *value && strchr(value, '.') &&
	    g_utf8_validate(value, -1, NULL) && strpbrk(value, " \t\r\n/@\\\"'") == NULL)
		return g_utf8_strdown(value, -1);
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "'%s': not a %s", value,
	    strcmp(kind, "domain") == 0 ? "domain" : "whitelist kind (net or domain)");
	return NULL;
}

/* The change @form asks for; FALSE and @error (nothing changed) if refused. */
static gboolean
change(Web *w, Stats *st, WebSession *s, GHashTable *form, char **done, GError **error)
{
	const char *action = form ? g_hash_table_lookup(form, "action") : NULL;
	const char *a = form ? g_hash_table_lookup(form, "a") : NULL;
	const char *b = form ? g_hash_table_lookup(form, "b") : NULL;
	g_autofree char *value = NULL;
	g_autofree char *shown = NULL;
	gboolean add = g_strcmp0(action, "blacklist-add") == 0 ||
	    g_strcmp0(action, "whitelist-add") == 0;
	gboolean black = g_strcmp0(action, "blacklist-add") == 0 ||
	    g_strcmp0(action, "blacklist-del") == 0;
	gboolean white = g_strcmp0(action, "whitelist-add") == 0 ||
	    g_strcmp0(action, "whitelist-del") == 0;

	(void)w;
	if (action == NULL || a == NULL) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "an action and a value, please");
		return FALSE;
	}
	if (black) {
		gint64 ms = add && b && *b ? mdir_parse_duration_ms(b, NULL) : -1000;

		if (add && b && *b && ms <= 0) {
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "'%s': a duration is like "
			    "90s, 5m, 2h or 5d", b);
			return FALSE;
		}
		if (!lists_blacklist(st, add, a, ms / 1000, error))
			return FALSE;
		shown = web_loggable(add && b && *b ? b : "blacklist_time");
		mdir_log(LOG_NOTICE, "user=%s action=%s ip=%s%s%s", s->user, action, a,
		    add ? " for=" : "", add ? shown : "");
		*done = g_strdup_printf("%s %s", a, add ? "blacklisted" : "taken off the blacklist");
		return TRUE;
	}
	if (white && b) {
		if ((value = add ? whitelist_value(a, b, error) : g_strdup(b)) == NULL ||
		    !lists_whitelist(st, add, a, value, error))
			return FALSE;
		shown = web_loggable(value);
		mdir_log(LOG_NOTICE, "user=%s action=%s kind=%s value=%s", s->user, action, a,
		    shown);
		*done = g_strdup_printf("%s %s", value, add ? "whitelisted" :
		    "taken off the whitelist");
		return TRUE;
	}
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "%s", white ? "whitelist: a value, please" :
	    "no such action (blacklist-add, blacklist-del, whitelist-add, whitelist-del)");
	return FALSE;
}

static gboolean
post(SoupServerMessage *msg)
{
	return strcmp(soup_server_message_get_method(msg), "POST") == 0;
}

void
web_policy(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(Stats) st = stats_open(w->config, w->store, &e);
	g_autoptr(GString) out = NULL;

	if (st == NULL) {
		web_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, e->message);
		return;
	}
	if (post(msg)) {
		g_autofree char *done = NULL;

		if (change(w, st, s, form, &done, &e))
			web_redirect_flash(msg, s, "/policy", TRUE, done);
		else
			web_redirect_flash(msg, s, "/policy", FALSE, e->message);
		return;
	}
	out = g_string_new("<h1>Policy</h1>");
	web_flash(out, s);
	forms(out, s, mdir_config_get(w->config, "stats", "blacklist_time"));
	g_string_append(out, "<div class=tables>");
	for (gsize i = 0; i < G_N_ELEMENTS(lists); i++) {
		g_autoptr(GPtrArray) rows = rows_of(st, &lists[i]);

		list_html(out, &lists[i], rows, s);
	}
	g_string_append(out, "</div>");
	web_page(msg, s, "Policy", out->str);
}

void
web_api_policy(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(Stats) st = stats_open(w->config, w->store, &e);
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	if (st == NULL) {
		web_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, e->message);
		return;
	}
	json_builder_begin_object(b);
	if (post(msg)) {
		g_autofree char *done = NULL;

		if (!change(w, st, s, form, &done, &e)) {
			web_error(msg, SOUP_STATUS_BAD_REQUEST, e->message);
			return;
		}
		json_builder_set_member_name(b, "done");
		json_builder_add_string_value(b, done);
	}
	for (gsize i = 0; !post(msg) && i < G_N_ELEMENTS(lists); i++) {
		g_autoptr(GPtrArray) rows = rows_of(st, &lists[i]);

		json_builder_set_member_name(b, lists[i].id);
		json_builder_begin_array(b);
		for (guint r = 0; r < rows->len; r++) {
			char **row = rows->pdata[r];

			json_builder_begin_object(b);
			for (guint c = 0; row[c]; c++) {
				json_builder_set_member_name(b, lists[i].cols[c]);
				json_builder_add_string_value(b, row[c]);
			}
			json_builder_end_object(b);
		}
		json_builder_end_array(b);
	}
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	web_json(msg, SOUP_STATUS_OK, json_to_string(root, TRUE));
}
