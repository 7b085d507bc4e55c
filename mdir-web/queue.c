/*
 * queue.c: the Queue page and /api/queue: how mail stands between
 * arriving and being filed or sent.  mdird's own STATUS, asked on its
 * socket (mdird(8) PROTOCOL) with a short time-out, so that a stuck
 * mdird shows as such rather than stalling the page; the batches queued
 * and those set aside in .mdird/failed; the folders holding .hold (whose
 * batches wait); and the outbox: each message waiting, retrying (with
 * its next try and what sendmail said) or failed (with the reason), from
 * the records mdir-outbox keeps.
 */
#include <string.h>
#include <sys/stat.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "web.h"

#define STATUS_TIMEOUT 3 /* seconds */
/* the walk for .hold: bounded, whatever the tree */
#define MAX_DIRS 20000
#define MAX_DEPTH 12

/* mdird's STATUS reply as "name value" lines, or NULL and @error. */
static GPtrArray *
mdird_status(Web *w, GError **error)
{
	const char *path = mdir_config_get(w->config, "mdir", "socket");
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GDataInputStream) in = NULL;
	GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);
	GOutputStream *out;
	const char *ask = "STATUS\r\nQUIT\r\n";

	g_socket_client_set_timeout(client, STATUS_TIMEOUT);
	conn = g_socket_client_connect(client, G_SOCKET_CONNECTABLE(addr), NULL, error);
	if (conn == NULL)
		goto fail;
	out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
	if (!g_output_stream_write_all(out, ask, strlen(ask), NULL, NULL, error))
		goto fail;
	in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(conn)));
	g_data_input_stream_set_newline_type(in, G_DATA_STREAM_NEWLINE_TYPE_ANY);
	for (;;) {
		g_autofree char *line = g_data_input_stream_read_line(in, NULL, NULL, error);

		if (line == NULL)
			break;
		if (g_str_has_prefix(line, "250") && strlen(line) > 4)
			g_ptr_array_add(lines, g_strdup(line + 4));
		/* the reply's last line, or a refusal */
		if (g_str_has_prefix(line, "250 ") || line[0] != '2' ||
		    g_str_has_prefix(line, "221"))
			break;
	}
	if (lines->len > 0) {
		g_clear_error(error);
		return lines;
	}
	if (error && *error == NULL)
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_FAILED, "%s: no STATUS reply", path);
fail:
	g_ptr_array_unref(lines);
	return NULL;
}

/* The names in @dir (no dot names), sorted.  Transfer full. */
static GPtrArray *
names_in(const char *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	const char *n;

	while (d && (n = g_dir_read_name(d)) != NULL)
		if (n[0] != '.')
			g_ptr_array_add(out, g_strdup(n));
	g_ptr_array_sort(out, web_by_name);
	return out;
}

/* Folders under @dir (@rel from the root) holding .hold; links not followed. */
static void
find_held(const char *dir, const char *rel, guint depth, guint *dirs, GPtrArray *out)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	g_autofree char *hold = g_build_filename(dir, ".hold", NULL);
	const char *n;

	if (rel[0] && g_file_test(hold, G_FILE_TEST_EXISTS))
		g_ptr_array_add(out, g_strdup(rel));
	while (d && depth < MAX_DEPTH && (n = g_dir_read_name(d)) != NULL &&
	    *dirs < MAX_DIRS) {
		g_autofree char *p = NULL;
		g_autofree char *r = NULL;
		GStatBuf st;

		if (n[0] == '.')
			continue;
		p = g_build_filename(dir, n, NULL);
		if (g_lstat(p, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		(*dirs)++;
		r = rel[0] ? g_strconcat(rel, "/", n, NULL) : g_strdup(n);
		find_held(p, r, depth + 1, dirs, out);
	}
}

typedef struct {
	char *folder;
	char *name;
	const char *state; /* waiting, retrying, in flight, failed */
	char *subject;
	char *when;	   /* the next try, or when it failed */
	char *said;	   /* sendmail's last answer, or the reason */
	gint64 attempts;
} OutItem;

static void
out_item_free(gpointer p)
{
	OutItem *o = p;

	g_free(o->folder);
	g_free(o->name);
	g_free(o->subject);
	g_free(o->when);
	g_free(o->said);
	g_free(o);
}

static void
outbox_items(Web *w, const char *folder, gboolean failed, GPtrArray *out)
{
	g_autoptr(MdirFolder) f = mdir_folder_open(w->store, folder, 0, NULL);
	g_autoptr(GPtrArray) names = f ? mdir_folder_list(f, NULL) : NULL;

	for (guint i = 0; names && i < names->len; i++) {
		g_autoptr(MdirRecord) rec = mdir_folder_load_record(f, names->pdata[i], NULL);
		OutItem *o;

		/* an outbox's entries are messages; Failed keeps their notices too */
		if (failed && (rec == NULL || mdir_record_get(rec, "outbox-failure") == NULL))
			continue;
		o = g_new0(OutItem, 1);
		o->folder = g_strdup(folder);
		o->name = g_utf8_make_valid(names->pdata[i], -1);
		o->subject = g_strdup(rec ? mdir_record_get(rec, "subject") : NULL);
		o->attempts = rec ? mdir_record_get_int(rec, "outbox-attempts", 0) : 0;
		if (failed) {
			o->state = "failed";
			o->when = g_strdup(mdir_record_get(rec, "outbox-failed-at"));
			o->said = g_strdup(mdir_record_get(rec, "outbox-failure"));
		} else if (rec && mdir_record_get(rec, "outbox-in-flight")) {
			o->state = "in flight";
		} else if (o->attempts > 0) {
			o->state = "retrying";
			o->when = g_strdup(mdir_record_get(rec, "outbox-next-try"));
			o->said = g_strdup(mdir_record_get(rec, "outbox-last-result"));
		} else {
			o->state = "waiting";
		}
		g_ptr_array_add(out, o);
	}
}

/* Every outbox's messages, then those in SMTP/Failed. */
static GPtrArray *
outbox(Web *w)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(out_item_free);
	g_auto(GStrv) accounts = mdir_account_list(w->store);

	outbox_items(w, "SMTP/Outbox", FALSE, out);
	for (char **a = accounts; *a; a++) {
		g_autofree char *box = g_build_filename("SMTP/Accounts", *a, "Outbox", NULL);
		g_autofree char *path = g_build_filename(mdir_store_root(w->store), box, NULL);
		GStatBuf st;

		/* an alias's outbox is its target's: listed once */
		if (g_lstat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
		    mdir_name_is_safe(*a))
			outbox_items(w, box, FALSE, out);
	}
	outbox_items(w, "SMTP/Failed", TRUE, out);
	return out;
}

typedef struct {
	GPtrArray *status;  /* NULL: mdird did not answer */
	char *status_error;
	guint queued;
	GPtrArray *failed;  /* batch names in .mdird/failed */
	GPtrArray *held;    /* folders holding .hold */
	GPtrArray *outbox;  /* OutItem */
} Queue;

static void
queue_clear(Queue *q)
{
	if (q->status)
		g_ptr_array_unref(q->status);
	g_free(q->status_error);
	g_ptr_array_unref(q->failed);
	g_ptr_array_unref(q->held);
	g_ptr_array_unref(q->outbox);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Queue, queue_clear)

static void
collect(Web *w, Queue *q)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(GPtrArray) queued = mdir_queue_list(w->store, NULL);
	g_autofree char *failed = g_build_filename(mdir_store_root(w->store), ".mdird", "failed",
	    NULL);
	guint dirs = 0;

	q->status = mdird_status(w, &e);
	if (q->status == NULL)
		q->status_error = g_strdup(e ? e->message : "no reply");
	q->queued = queued ? queued->len : 0;
	q->failed = names_in(failed);
	q->held = g_ptr_array_new_with_free_func(g_free);
	find_held(mdir_store_root(w->store), "", 0, &dirs, q->held);
	q->outbox = outbox(w);
}

static void
list_html(GString *out, const char *title, GPtrArray *items, const char *none)
{
	g_string_append_printf(out, "<div><h2>%s</h2>", title);
	if (items->len == 0)
		g_string_append_printf(out, "<p>%s</p>", none);
	else
		g_string_append(out, "<ul>");
	for (guint i = 0; i < items->len; i++) {
		g_autofree char *v = g_utf8_make_valid(items->pdata[i], -1);
		g_autofree char *t = web_escape(v);

		g_string_append_printf(out, "<li>%s</li>", t);
	}
	if (items->len)
		g_string_append(out, "</ul>");
	g_string_append(out, "</div>");
}

static void
outbox_html(GString *out, GPtrArray *items)
{
	g_string_append(out, "<h2>Outbox</h2>");
	if (items->len == 0) {
		g_string_append(out, "<p>nothing waiting, nothing failed</p>");
		return;
	}
	g_string_append(out, "<table id=outbox><tr><th>state</th><th>folder</th><th>entry</th>"
			     "<th>subject</th><th>tries</th><th>next try / failed at</th>"
			     "<th>what sendmail said</th></tr>");
	for (guint i = 0; i < items->len; i++) {
		const OutItem *o = items->pdata[i];
		g_autofree char *folder = web_escape(o->folder);
		g_autofree char *name = web_escape(o->name);
		g_autofree char *subject = web_escape(o->subject);
		g_autofree char *when = web_escape(o->when);
		g_autofree char *said = web_escape(o->said);

		g_string_append_printf(out, "<tr class='%s'><td>%s</td><td>%s</td><td>%s</td>"
		    "<td>%s</td><td class=n>%" G_GINT64_FORMAT "</td><td>%s</td><td>%s</td></tr>",
		    o->state, o->state, folder, name, subject, o->attempts, when, said);
	}
	g_string_append(out, "</table>");
}

void
web_queue(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form)
{
	g_auto(Queue) q = { 0 };
	g_autoptr(GString) out = g_string_new("<h1>Queue and daemon</h1>");

	(void)form;
	collect(w, &q);
	g_string_append(out, "<div class=tables><div><h2>mdird</h2>");
	if (q.status) {
		g_string_append(out, "<table id=status>");
		for (guint i = 0; i < q.status->len; i++) {
			const char *line = q.status->pdata[i];
			const char *sp = strchr(line, ' ');
			g_autofree char *key = sp ? g_strndup(line, sp - line) : g_strdup(line);
			g_autofree char *k = web_escape(key);
			g_autofree char *v = web_escape(sp ? sp + 1 : "");

			g_string_append_printf(out, "<tr><th>%s</th><td>%s</td></tr>", k, v);
		}
		g_string_append(out, "</table>");
	} else {
		g_autofree char *why = web_escape(q.status_error);

		g_string_append_printf(out, "<p class=error id=status>mdird does not answer: %s"
		    "</p><p>%u batches queued</p>", why, q.queued);
	}
	g_string_append(out, "</div>");
	list_html(out, "Failed batches (.mdird/failed)", q.failed, "none");
	list_html(out, "Held folders (.hold)", q.held, "none");
	g_string_append(out, "</div>");
	outbox_html(out, q.outbox);
	web_page(msg, s, "Queue", out->str);
}

static void
add_strings(JsonBuilder *b, const char *name, GPtrArray *items)
{
	json_builder_set_member_name(b, name);
	json_builder_begin_array(b);
	for (guint i = 0; i < items->len; i++) {
		g_autofree char *v = g_utf8_make_valid(items->pdata[i], -1);

		json_builder_add_string_value(b, v);
	}
	json_builder_end_array(b);
}

static void
add_member(JsonBuilder *b, const char *name, const char *value)
{
	json_builder_set_member_name(b, name);
	if (value)
		json_builder_add_string_value(b, value);
	else
		json_builder_add_null_value(b);
}

void
web_api_queue(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form)
{
	g_auto(Queue) q = { 0 };
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	(void)form, (void)s;
	collect(w, &q);
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "mdird");
	if (q.status) {
		json_builder_begin_object(b);
		for (guint i = 0; i < q.status->len; i++) {
			const char *line = q.status->pdata[i];
			const char *sp = strchr(line, ' ');
			g_autofree char *k = sp ? g_strndup(line, sp - line) : g_strdup(line);

			add_member(b, k, sp ? sp + 1 : "");
		}
		json_builder_end_object(b);
	} else {
		json_builder_add_null_value(b);
		add_member(b, "mdird_error", q.status_error);
	}
	json_builder_set_member_name(b, "queued");
	json_builder_add_int_value(b, q.queued);
	add_strings(b, "failed_batches", q.failed);
	add_strings(b, "held_folders", q.held);
	json_builder_set_member_name(b, "outbox");
	json_builder_begin_array(b);
	for (guint i = 0; i < q.outbox->len; i++) {
		const OutItem *o = q.outbox->pdata[i];

		json_builder_begin_object(b);
		add_member(b, "state", o->state);
		add_member(b, "folder", o->folder);
		add_member(b, "entry", o->name);
		add_member(b, "subject", o->subject);
		json_builder_set_member_name(b, "attempts");
		json_builder_add_int_value(b, o->attempts);
		add_member(b, o->state[0] == 'f' ? "failed_at" : "next_try", o->when);
		add_member(b, o->state[0] == 'f' ? "reason" : "last_result", o->said);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	web_json(msg, SOUP_STATUS_OK, json_to_string(root, TRUE));
}
