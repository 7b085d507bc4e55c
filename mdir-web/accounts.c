/*
 * accounts.c: the Accounts page and /api/accounts: every address of
 * SMTP/Accounts with its kind, its size and its last delivery, and the
 * forms of "mstore account" (add, alias, forward, disable, enable) making
 * the same libmdir calls.  Each change is checked by the library before
 * anything is written, so bad input is said and changes nothing; each
 * change is logged with the admin who made it.
 */
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "stats.h"
#include "web.h"

/* a folder bigger than this many files is "at least" its size */
#define MAX_FILES 100000

typedef struct {
	char *name;
	MdirAccountKind kind;
	char *detail;
	gint64 size;	  /* bytes, -1: not a folder */
	gint64 last;	  /* last delivery (seconds), 0: none known */
} Row;

static void
row_free(gpointer p)
{
	Row *r = p;

	g_free(r->name);
	g_free(r->detail);
	g_free(r);
}

/* The bytes of the entries under @path, subfolders too, links not followed. */
static gint64
folder_size(const char *path, guint *files)
{
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	const char *n;
	gint64 total = 0;

	while (d && (n = g_dir_read_name(d)) != NULL && *files < MAX_FILES) {
		g_autofree char *p = NULL;
		GStatBuf st;

		if (n[0] == '.')
			continue;
		p = g_build_filename(path, n, NULL);
		if (g_lstat(p, &st) != 0)
			continue;
		(*files)++;
		if (S_ISREG(st.st_mode))
			total += st.st_size;
		else if (S_ISDIR(st.st_mode))
			total += folder_size(p, files);
	}
	return total;
}

/* account (lower case, no "SMTP/Accounts/") -> last delivery, from the events */
static GHashTable *
last_deliveries(Web *w)
{
	GHashTable *last = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	g_autoptr(Stats) s = stats_open(w->config, w->store, NULL);
	sqlite3_stmt *st;

	if (s == NULL)
		return last;
	stats_import(s, NULL);
	st = stats_stmt(s, "SELECT lower(CASE WHEN account LIKE 'SMTP/Accounts/%' THEN "
			   "substr(account, 15) ELSE account END), max(ts) FROM events "
			   "WHERE kind = 'delivered' GROUP BY 1");
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		const char *a = (const char *)sqlite3_column_text(st, 0);
		gint64 *t = g_new(gint64, 1);

		*t = sqlite3_column_int64(st, 1);
		if (a)
			g_hash_table_insert(last, g_strdup(a), t);
		else
			g_free(t);
	}
	if (st)
		sqlite3_reset(st);
	return last;
}

static GPtrArray *
rows(Web *w)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(row_free);
	g_auto(GStrv) names = mdir_account_list(w->store);
	g_autoptr(GHashTable) last = last_deliveries(w);

	for (char **n = names; *n; n++) {
		Row *r = g_new0(Row, 1);
		g_autofree char *lower = g_utf8_strdown(*n, -1);
		gint64 *t;

		r->name = g_utf8_make_valid(*n, -1);
		r->kind = mdir_account_kind(w->store, *n, &r->detail);
		r->size = -1;
		if (r->kind != MDIR_ACCOUNT_ALIAS && r->kind != MDIR_ACCOUNT_NONE) {
			g_autofree char *path = g_build_filename(mdir_store_root(w->store),
			    "SMTP/Accounts", *n, NULL);
			guint files = 0;

			r->size = folder_size(path, &files);
		}
		if ((t = g_hash_table_lookup(last, lower)) != NULL)
			r->last = *t;
		g_ptr_array_add(out, r);
	}
	return out;
}

static void
button(GString *out, const WebSession *s, const char *action, const char *name,
    const char *label)
{
	g_autofree char *n = web_escape(name);

	g_string_append(out, "<form class=inline method=post action='/accounts'>");
	web_csrf_field(out, s);
	g_string_append_printf(out, "<input type=hidden name=action value=%s>"
	    "<input type=hidden name=address value=\"%s\"><button>%s</button></form>", action, n,
	    label);
}

static void
table(GString *out, GPtrArray *rs, const WebSession *s)
{
	g_string_append(out, "<table id=accounts><tr><th>address</th><th>kind</th>"
			     "<th>leads to</th><th>size</th><th>last delivery</th><th></th></tr>");
	for (guint i = 0; i < rs->len; i++) {
		const Row *r = rs->pdata[i];
		g_autofree char *name = web_escape(r->name);
		g_autofree char *detail = web_escape(r->detail);
		g_autofree char *size = r->size < 0 ? g_strdup("") : g_format_size(r->size);
		g_autofree char *last = r->last ? mdir_time_format(r->last, MDIR_TIME_ISO8601) :
		    g_strdup("");

		g_string_append_printf(out, "<tr><td>%s</td><td>%s</td><td>%s</td><td class=n>%s"
		    "</td><td class=t>%s</td><td>", name, mdir_account_kind_name(r->kind), detail, size,
		    last);
		if (r->kind == MDIR_ACCOUNT_DISABLED)
			button(out, s, "enable", r->name, "Enable");
		else if (r->kind != MDIR_ACCOUNT_ALIAS)
			button(out, s, "disable", r->name, "Disable");
		g_string_append(out, "</td></tr>");
	}
	if (rs->len == 0)
		g_string_append(out, "<tr><td colspan=6>no accounts yet</td></tr>");
	g_string_append(out, "</table>");
}

static void
forms(GString *out, const WebSession *s)
{
	static const struct {
		const char *action, *legend, *fields;
	} f[] = {
		{ "add", "Add an account", "<input name=address placeholder='jo@example.org' "
		    "required size=28>" },
		{ "alias", "Add an alias", "<input name=address placeholder='info@example.org' "
		    "required size=24> to <input name=target placeholder='jo@example.org' required "
		    "size=24>" },
		{ "forward", "Forward an address", "<input name=address placeholder="
		    "'old@example.org' required size=24> to <input name=to placeholder="
		    "'jo@elsewhere.example' required size=24> <label><input type=checkbox "
		    "name=keep value=1> keep a copy</label>" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(f); i++) {
		g_string_append_printf(out, "<form method=post action='/accounts' id=form-%s>"
		    "<fieldset><legend>%s</legend>", f[i].action, f[i].legend);
		web_csrf_field(out, s);
		g_string_append_printf(out, "<input type=hidden name=action value=%s>%s "
		    "<button>%s</button></fieldset></form>", f[i].action, f[i].fields,
		    f[i].legend);
	}
}

/* The change @form asks for; FALSE and @error if refused (nothing changed). */
static gboolean
change(Web *w, WebSession *s, GHashTable *form, char **done, GError **error)
{
	const char *action = g_hash_table_lookup(form, "action");
	const char *address = g_hash_table_lookup(form, "address");
	const char *target = g_hash_table_lookup(form, "target");
	const char *to = g_hash_table_lookup(form, "to");
	gboolean keep = g_hash_table_contains(form, "keep");
	g_autofree char *name = NULL;
	g_autofree char *tname = NULL;
	g_autofree char *shown = NULL;
	gboolean ok = FALSE;

	if (action == NULL || address == NULL) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "an action and an address, please");
		return FALSE;
	}
	if ((name = mdir_account_name(w->config, address, error)) == NULL)
		return FALSE;
	if (strcmp(action, "add") == 0)
		ok = mdir_account_add(w->store, name, 0, error);
	else if (strcmp(action, "alias") == 0)
		ok = target && (tname = mdir_account_name(w->config, target, error)) != NULL &&
		    mdir_account_alias(w->store, name, tname, error);
	else if (strcmp(action, "forward") == 0)
		ok = to && mdir_account_forward(w->store, name, to, keep, error);
	else if (strcmp(action, "disable") == 0 || strcmp(action, "enable") == 0)
		ok = mdir_account_set_disabled(w->store, name, strcmp(action, "disable") == 0,
		    error);
	else
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "no such action (add, alias, "
		    "forward, disable, enable)");
	if (!ok && error && *error == NULL)
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "%s: what is it to lead to?",
		    action);
	if (!ok)
		return FALSE;
	shown = web_loggable(tname ? tname : to);
	mdir_log(LOG_NOTICE, "user=%s action=account-%s address=%s%s%s", s->user, action, name,
	    tname || to ? " to=" : "", tname || to ? shown : "");
	*done = g_strdup_printf("%s: %s%s%s", name, action, tname || to ? " to " : "",
	    tname ? tname : to ? to : "");
	return TRUE;
}

void
web_accounts(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form)
{
	g_autoptr(GString) out = NULL;
	g_autoptr(GPtrArray) rs = NULL;

	if (strcmp(soup_server_message_get_method(msg), "POST") == 0) {
		g_autoptr(GError) e = NULL;
		g_autofree char *done = NULL;

		if (change(w, s, form, &done, &e))
			web_redirect_flash(msg, s, "/accounts", TRUE, done);
		else
			web_redirect_flash(msg, s, "/accounts", FALSE, e->message);
		return;
	}
	out = g_string_new("<h1>Accounts</h1>");
	web_flash(out, s);
	rs = rows(w);
	table(out, rs, s);
	forms(out, s);
	web_page(msg, s, "Accounts", out->str);
}

void
web_api_accounts(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GPtrArray) rs = NULL;

	if (strcmp(soup_server_message_get_method(msg), "POST") == 0) {
		g_autoptr(GError) e = NULL;
		g_autofree char *done = NULL;

		if (!change(w, s, form, &done, &e)) {
			web_error(msg, SOUP_STATUS_BAD_REQUEST, e->message);
			return;
		}
		json_builder_begin_object(b);
		json_builder_set_member_name(b, "done");
		json_builder_add_string_value(b, done);
		json_builder_end_object(b);
		root = json_builder_get_root(b);
		web_json(msg, SOUP_STATUS_OK, json_to_string(root, TRUE));
		return;
	}
	rs = rows(w);
	json_builder_begin_array(b);
	for (guint i = 0; i < rs->len; i++) {
		const Row *r = rs->pdata[i];

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "address");
		json_builder_add_string_value(b, r->name);
		json_builder_set_member_name(b, "kind");
		json_builder_add_string_value(b, mdir_account_kind_name(r->kind));
		json_builder_set_member_name(b, "detail");
		if (r->detail)
			json_builder_add_string_value(b, r->detail);
		else
			json_builder_add_null_value(b);
		json_builder_set_member_name(b, "size");
		if (r->size >= 0)
			json_builder_add_int_value(b, r->size);
		else
			json_builder_add_null_value(b);
		json_builder_set_member_name(b, "last_delivery");
		if (r->last) {
			g_autofree char *t = mdir_time_format(r->last, MDIR_TIME_ISO8601);

			json_builder_add_string_value(b, t);
		} else {
			json_builder_add_null_value(b);
		}
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	root = json_builder_get_root(b);
	web_json(msg, SOUP_STATUS_OK, json_to_string(root, TRUE));
}
