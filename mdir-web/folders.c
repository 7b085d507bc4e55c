/*
 * folders.c: the Folders pages and their API: a folder's subfolders and
 * entries, an entry's header record, its download, and the change log
 * since a version.  Paths come from the query (?path=, ?name=) and go
 * through the store's own rules: no component "." or ".." or starting
 * with a dot (so %2e%2e, decoded, is refused too), a name as
 * mdir_name_is_safe() has it, the folder opened by mdir_folder_open()
 * (a link that leads out of the root is refused there) and the entry by
 * mdir_folder_open_entry(), relative to that folder's descriptor (an
 * entry that is a link is never followed, nor a folder swapped for one).
 */
#include <string.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "web.h"

/* a folder page lists this many entries at most (the API all) */
#define MAX_SHOWN 2000

static guint
status_of(const GError *e)
{
	if (e->domain != MDIR_ERROR)
		return SOUP_STATUS_NOT_FOUND;
	switch (e->code) {
	case MDIR_ERROR_NOT_FOUND:
		return SOUP_STATUS_NOT_FOUND;
	case MDIR_ERROR_OUTSIDE_ROOT:
		return SOUP_STATUS_FORBIDDEN;
	default:
		return SOUP_STATUS_BAD_REQUEST;
	}
}

/* Whether @path names a folder by the store's rules (relative, no dot names). */
static gboolean
path_ok(const char *path)
{
	g_auto(GStrv) parts = NULL;

	if (path[0] == '/' || strlen(path) > 4096 || !g_utf8_validate(path, -1, NULL))
		return FALSE;
	if (path[0] == '\0')
		return TRUE;
	parts = g_strsplit(path, "/", -1);
	for (char **p = parts; *p; p++)
		if ((*p)[0] == '\0' || (*p)[0] == '.' || strpbrk(*p, "\\\r\n\t") != NULL)
			return FALSE;
	return TRUE;
}

/* The top of the root: its folders (no entries live there). */
static GPtrArray *
top_folders(Web *w)
{
	g_autoptr(GDir) d = g_dir_open(mdir_store_root(w->store), 0, NULL);
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	const char *n;

	while (d && (n = g_dir_read_name(d)) != NULL) {
		g_autofree char *p = g_build_filename(mdir_store_root(w->store), n, NULL);

		if (n[0] != '.' && g_file_test(p, G_FILE_TEST_IS_DIR) && mdir_name_is_safe(n))
			g_ptr_array_add(out, g_strdup(n));
	}
	g_ptr_array_sort(out, web_by_name);
	return out;
}

static gboolean
is_top(GHashTable *form)
{
	const char *path = form ? g_hash_table_lookup(form, "path") : NULL;

	return path == NULL || path[0] == '\0';
}

/* The folder the request names, or NULL with the reply sent. */
static MdirFolder *
open_folder(Web *w, SoupServerMessage *msg, GHashTable *form)
{
	const char *path = form ? g_hash_table_lookup(form, "path") : NULL;
	g_autoptr(GError) e = NULL;
	MdirFolder *f;

	if (path == NULL)
		path = "";
	if (!path_ok(path)) {
		web_error(msg, SOUP_STATUS_BAD_REQUEST, "not a folder path: relative, no '.' or "
		    "'..', no name starting with a dot");
		return NULL;
	}
	if ((f = mdir_folder_open(w->store, path, 0, &e)) == NULL)
		web_error(msg, status_of(e), e->message);
	return f;
}

/* The entry name the request names, or NULL with the reply sent. */
static const char *
entry_name(SoupServerMessage *msg, GHashTable *form)
{
	const char *name = form ? g_hash_table_lookup(form, "name") : NULL;

	if (name == NULL || !mdir_name_is_safe(name)) {
		web_error(msg, SOUP_STATUS_BAD_REQUEST, "not an entry name");
		return NULL;
	}
	return name;
}

static char *
q(const char *s)
{
	return g_uri_escape_string(s, NULL, FALSE);
}

/* "Folders / SMTP / Accounts / jo@..." with a link each. */
static void
crumbs(GString *out, const char *path)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);
	g_autoptr(GString) so_far = g_string_new(NULL);

	g_string_append(out, "<h1><a href='/folders'>Folders</a>");
	for (char **p = parts; *p && **p; p++) {
		g_autofree char *t = web_escape(*p);
		g_autofree char *u = NULL;

		g_string_append_printf(so_far, "%s%s", so_far->len ? "/" : "", *p);
		u = q(so_far->str);
		g_string_append_printf(out, " / <a href='/folders?path=%s'>%s</a>", u, t);
	}
	g_string_append(out, "</h1>");
}

static const char *
field(const MdirRecord *rec, const char *name)
{
	const char *v = rec ? mdir_record_get(rec, name) : NULL;

	return v ? v : "";
}

static void
top_page(Web *w, SoupServerMessage *msg, WebSession *s)
{
	g_autoptr(GPtrArray) subs = top_folders(w);
	g_autoptr(GString) out = g_string_new("<h1>Folders</h1><ul class=folders>");

	for (guint i = 0; i < subs->len; i++) {
		g_autofree char *t = web_escape(subs->pdata[i]);
		g_autofree char *u = q(subs->pdata[i]);

		g_string_append_printf(out, "<li><a href='/folders?path=%s'>%s</a></li>", u, t);
	}
	g_string_append(out, "</ul>");
	web_page(msg, s, "Folders", out->str);
}

void
web_folders(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form)
{
	g_autoptr(MdirFolder) f = is_top(form) ? NULL : open_folder(w, msg, form);
	g_autoptr(GString) out = g_string_new(NULL);
	g_autoptr(GPtrArray) subs = NULL;
	g_autoptr(GPtrArray) entries = NULL;
	g_autofree char *path = NULL;
	g_autofree char *pq = NULL;
	guint64 v = 0;

	if (is_top(form)) {
		top_page(w, msg, s);
		return;
	}
	if (f == NULL)
		return;
	path = g_strdup(mdir_folder_name(f));
	pq = q(path);
	subs = mdir_folder_list_folders(f, NULL);
	entries = mdir_folder_list(f, NULL);
	mdir_folder_version(f, &v, NULL);
	crumbs(out, path);
	g_string_append_printf(out, "<p>version %" G_GUINT64_FORMAT " · <a href='/folders/changes?"
	    "path=%s&amp;since=%" G_GUINT64_FORMAT "'>recent changes</a></p>", v, pq,
	    v > 50 ? v - 50 : 0);
	if (subs && subs->len) {
		g_string_append(out, "<h2>Folders</h2><ul class=folders>");
		for (guint i = 0; i < subs->len; i++) {
			g_autofree char *t = web_escape(subs->pdata[i]);
			g_autofree char *sub = path[0] ? g_strconcat(path, "/", subs->pdata[i], NULL) :
			    g_strdup(subs->pdata[i]);
			g_autofree char *u = q(sub);

			g_string_append_printf(out, "<li><a href='/folders?path=%s'>%s</a></li>", u, t);
		}
		g_string_append(out, "</ul>");
	}
	g_string_append(out, "<h2>Entries</h2>");
	if (entries == NULL || entries->len == 0) {
		g_string_append(out, "<p>none</p>");
		web_page(msg, s, "Folders", out->str);
		return;
	}
	g_string_append(out, "<table id=entries><tr><th>name</th><th>type</th><th>size</th>"
			     "<th>from</th><th>subject</th><th>received</th></tr>");
	for (guint i = 0; i < entries->len && i < MAX_SHOWN; i++) {
		const char *n = entries->pdata[i];
		g_autoptr(MdirRecord) rec = mdir_folder_load_record(f, n, NULL);
		g_autofree char *t = web_escape(n);
		g_autofree char *u = q(n);
		g_autofree char *type = web_escape(field(rec, "content-type"));
		g_autofree char *from = web_escape(field(rec, "from"));
		g_autofree char *subject = web_escape(field(rec, "subject"));
		g_autofree char *when = web_escape(field(rec, "received-at"));
		g_autofree char *size = web_escape(field(rec, "size"));

		g_string_append_printf(out, "<tr><td><a href='/folders/entry?path=%s&amp;name=%s'>"
		    "%s</a></td><td>%s</td><td class=n>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>",
		    pq, u, t, type, size, from, subject, when);
	}
	g_string_append(out, "</table>");
	if (entries->len > MAX_SHOWN)
		g_string_append_printf(out, "<p>the first %u of %u entries (the API lists all)</p>",
		    MAX_SHOWN, entries->len);
	web_page(msg, s, "Folders", out->str);
}

void
web_api_folders(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form)
{
	g_autoptr(MdirFolder) f = is_top(form) ? NULL : open_folder(w, msg, form);
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(GPtrArray) subs = NULL;
	g_autoptr(GPtrArray) entries = NULL;
	guint64 v = 0;

	(void)s;
	if (f == NULL && !is_top(form))
		return;
	subs = f ? mdir_folder_list_folders(f, NULL) : top_folders(w);
	entries = f ? mdir_folder_list(f, NULL) : g_ptr_array_new();
	if (f)
		mdir_folder_version(f, &v, NULL);
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "path");
	json_builder_add_string_value(b, f ? mdir_folder_name(f) : "");
	json_builder_set_member_name(b, "version");
	json_builder_add_int_value(b, (gint64)v);
	json_builder_set_member_name(b, "folders");
	json_builder_begin_array(b);
	for (guint i = 0; subs && i < subs->len; i++)
		json_builder_add_string_value(b, subs->pdata[i]);
	json_builder_end_array(b);
	json_builder_set_member_name(b, "entries");
	json_builder_begin_array(b);
	for (guint i = 0; entries && i < entries->len; i++)
		json_builder_add_string_value(b, entries->pdata[i]);
	json_builder_end_array(b);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	web_json(msg, SOUP_STATUS_OK, json_to_string(root, TRUE));
}

/* The record of the entry the request names, or NULL with the reply sent. */
static MdirRecord *
open_record(Web *w, SoupServerMessage *msg, GHashTable *form, MdirFolder **folder,
    const char **name)
{
	g_autoptr(MdirFolder) f = open_folder(w, msg, form);
	g_autoptr(GError) e = NULL;
	MdirRecord *rec;

	if (f == NULL || (*name = entry_name(msg, form)) == NULL)
		return NULL;
	if ((rec = mdir_folder_load_record(f, *name, &e)) == NULL) {
		web_error(msg, SOUP_STATUS_NOT_FOUND, e->message);
		return NULL;
	}
	*folder = g_steal_pointer(&f);
	return rec;
}

void
web_entry(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form)
{
	g_autoptr(MdirFolder) f = NULL;
	const char *name = NULL;
	g_autoptr(MdirRecord) rec = open_record(w, msg, form, &f, &name);
	g_autoptr(GString) out = g_string_new(NULL);
	g_autofree char *t = NULL;
	g_autofree char *pq = NULL;
	g_autofree char *nq = NULL;

	if (rec == NULL)
		return;
	t = web_escape(name);
	pq = q(mdir_folder_name(f));
	nq = q(name);
	crumbs(out, mdir_folder_name(f));
	g_string_append_printf(out, "<h2>%s</h2><p><a id=download href='/folders/download?"
	    "path=%s&amp;name=%s'>Download</a></p><table id=record><tr><th>field</th>"
	    "<th>value</th></tr>", t, pq, nq);
	for (guint i = 0; i < mdir_record_length(rec); i++) {
		const char *k, *v;
		g_autofree char *ke = NULL;
		g_autofree char *ve = NULL;

		mdir_record_nth(rec, i, &k, &v);
		ke = web_escape(k);
		ve = web_escape(v);
		g_string_append_printf(out, "<tr><td>%s</td><td>%s</td></tr>", ke, ve);
	}
	g_string_append(out, "</table>");
	web_page(msg, s, "Entry", out->str);
}

void
web_api_entry(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form)
{
	g_autoptr(MdirFolder) f = NULL;
	const char *name = NULL;
	g_autoptr(MdirRecord) rec = open_record(w, msg, form, &f, &name);
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	(void)s;
	if (rec == NULL)
		return;
	/* a field may repeat: each a [name, value] pair, in order */
	json_builder_begin_array(b);
	for (guint i = 0; i < mdir_record_length(rec); i++) {
		const char *k, *v;

		mdir_record_nth(rec, i, &k, &v);
		json_builder_begin_array(b);
		json_builder_add_string_value(b, k);
		json_builder_add_string_value(b, v);
		json_builder_end_array(b);
	}
	json_builder_end_array(b);
	root = json_builder_get_root(b);
	web_json(msg, SOUP_STATUS_OK, json_to_string(root, TRUE));
}

/*
 * Content-Disposition for @name (RFC 6266): an ASCII fallback with
 * anything doubtful as '_', and the name itself as filename*=UTF-8''.
 */
static char *
disposition(const char *name)
{
	g_autofree char *ascii = g_strdup(name);
	g_autofree char *ext = g_uri_escape_string(name, "!#$&+^`|", FALSE);

	for (char *p = ascii; *p; p++)
		if ((guchar)*p < 0x20 || (guchar)*p > 0x7e || *p == '"' || *p == '\\' ||
		    *p == '%')
			*p = '_';
	return g_strdup_printf("attachment; filename=\"%s\"; filename*=UTF-8''%s", ascii, ext);
}

/* A MIME type as a header may carry it, else application/octet-stream. */
static const char *
safe_type(const char *type)
{
	if (type == NULL || !g_regex_match_simple("^[a-zA-Z0-9!#$&^_.+-]+/[a-zA-Z0-9!#$&^_.+-]+$",
	    type, 0, 0))
		return "application/octet-stream";
	return type;
}

void
web_download(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form)
{
	g_autoptr(MdirFolder) f = NULL;
	const char *name = NULL;
	g_autoptr(MdirRecord) rec = open_record(w, msg, form, &f, &name);
	g_autofree char *disp = NULL;
	g_autoptr(GError) e = NULL;
	g_autoptr(GMappedFile) map = NULL;
	g_autoptr(GBytes) bytes = NULL;
	SoupMessageHeaders *h;
	int fd;

	if (rec == NULL)
		return;
	if ((fd = mdir_folder_open_entry(f, name, &e)) < 0) {
		web_error(msg, status_of(e), e->message);
		return;
	}
	map = g_mapped_file_new_from_fd(fd, FALSE, &e);
	close(fd);
	if (map == NULL) {
		web_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, e->message);
		return;
	}
	bytes = g_mapped_file_get_bytes(map);
	disp = disposition(name);
	h = soup_server_message_get_response_headers(msg);
	soup_message_headers_replace(h, "Content-Disposition", disp);
	soup_message_headers_replace(h, "X-Content-Type-Options", "nosniff");
	/* a part is the sender's: never a page of ours */
	soup_message_headers_replace(h, "Content-Security-Policy", "sandbox; default-src 'none'");
	soup_message_headers_replace(h, "Cache-Control", "no-store");
	soup_server_message_set_status(msg, SOUP_STATUS_OK, NULL);
	soup_server_message_set_response(msg, safe_type(mdir_record_get(rec, "content-type")),
	    SOUP_MEMORY_COPY, NULL, 0);
	soup_message_body_truncate(soup_server_message_get_response_body(msg));
	/* an empty entry is an empty body: libsoup 3.2 refuses an empty chunk */
	if (g_bytes_get_size(bytes) > 0)
		soup_message_body_append_bytes(soup_server_message_get_response_body(msg), bytes);
	soup_message_headers_set_content_length(h, g_bytes_get_size(bytes));
	(void)s;
}

/* The changes the request asks for, or NULL with the reply sent. */
static GPtrArray *
changes(Web *w, SoupServerMessage *msg, GHashTable *form, MdirFolder **folder,
    guint64 *since)
{
	g_autoptr(MdirFolder) f = open_folder(w, msg, form);
	const char *arg = form ? g_hash_table_lookup(form, "since") : NULL;
	g_autoptr(GError) e = NULL;
	GPtrArray *out;

	if (f == NULL)
		return NULL;
	*since = 0;
	if (arg && !g_ascii_string_to_unsigned(arg, 10, 0, G_MAXUINT64, since, NULL)) {
		web_error(msg, SOUP_STATUS_BAD_REQUEST, "since: not a version (a whole number)");
		return NULL;
	}
	if ((out = mdir_folder_changes(f, *since, &e)) == NULL) {
		web_error(msg, status_of(e), e->message);
		return NULL;
	}
	*folder = g_steal_pointer(&f);
	return out;
}

void
web_changes(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form)
{
	g_autoptr(MdirFolder) f = NULL;
	guint64 since = 0;
	g_autoptr(GPtrArray) ch = changes(w, msg, form, &f, &since);
	g_autoptr(GString) out = g_string_new(NULL);

	if (ch == NULL)
		return;
	crumbs(out, mdir_folder_name(f));
	g_string_append_printf(out, "<h2>Changes since version %" G_GUINT64_FORMAT "</h2>"
	    "<table id=changes><tr><th>version</th><th></th><th>name</th></tr>", since);
	for (guint i = 0; i < ch->len; i++) {
		const MdirChange *c = ch->pdata[i];
		g_autofree char *t = web_escape(c->name);

		g_string_append_printf(out, "<tr><td class=n>%" G_GUINT64_FORMAT "</td><td>%s</td>"
		    "<td>%s</td></tr>", c->version, c->op == '+' ? "added" : "removed", t);
	}
	g_string_append(out, "</table>");
	web_page(msg, s, "Changes", out->str);
}

void
web_api_changes(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form)
{
	g_autoptr(MdirFolder) f = NULL;
	guint64 since = 0;
	g_autoptr(GPtrArray) ch = changes(w, msg, form, &f, &since);
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	(void)s;
	if (ch == NULL)
		return;
	json_builder_begin_array(b);
	for (guint i = 0; i < ch->len; i++) {
		const MdirChange *c = ch->pdata[i];
		char op[2] = { c->op, '\0' };

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "version");
		json_builder_add_int_value(b, (gint64)c->version);
		json_builder_set_member_name(b, "op");
		json_builder_add_string_value(b, op);
		json_builder_set_member_name(b, "name");
		json_builder_add_string_value(b, c->name);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	root = json_builder_get_root(b);
	web_json(msg, SOUP_STATUS_OK, json_to_string(root, TRUE));
}
