/*
 * server.c: the HTTP side of mdir-web: one SoupServer handler that
 * dispatches by path, so that the access rule is in one place: /login is
 * the only page served without a session; every POST carries the
 * session's CSRF token; /api/ answers 401 in JSON where a page would
 * redirect to the login.  Pages are whole HTML documents with the style
 * sheet inside (no other asset, nothing fetched from elsewhere).
 */
#include <string.h>
#include <syslog.h>

#include <gio/gio.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "mdir.h"
#include "web.h"

static const char CSS[] =
    "body{font:15px/1.45 system-ui,'DejaVu Sans',sans-serif;margin:0;color:#1d2329;"
    "background:#f4f5f7}"
    "header{background:#25364a;color:#fff;padding:.5em 1.5em;display:flex;"
    "align-items:center;gap:1.5em;flex-wrap:wrap}"
    "header b{font-size:1.1em;margin-right:1em}"
    "header a{color:#d6e2f0;text-decoration:none;padding:.2em .1em}"
    "header a.on{color:#fff;border-bottom:2px solid #fff}"
    "header form{margin-left:auto}"
    "main{max-width:90em;margin:1.2em auto;padding:0 1.5em}"
    "a{color:#1f5fa8}h1 a{text-decoration:none}"
    "h1{font-size:1.4em;margin:.3em 0 .8em}h2{font-size:1.1em;margin:1.5em 0 .5em}"
    "table{border-collapse:collapse;background:#fff;min-width:50%;margin-bottom:1em}"
    "th,td{padding:.35em .8em;border-bottom:1px solid #e1e4e8;text-align:left}"
    "th{background:#eaedf1;font-weight:600;white-space:nowrap}td.n{text-align:right;"
    "font-variant-numeric:tabular-nums}"
    ".figures{display:flex;flex-wrap:wrap;gap:.8em;margin-bottom:1.2em}"
    ".figure{background:#fff;border:1px solid #dde1e6;border-radius:6px;"
    "padding:.5em 1em;min-width:6.5em;flex:1}"
    ".figure span{display:block;font-size:1.8em;font-weight:600}"
    ".charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(28em,1fr));gap:1em}"
    ".charts h2{margin-top:0}"
    ".chart{background:#fff;border:1px solid #dde1e6;width:100%;height:auto}"
    ".chart rect.hover:hover{fill-opacity:.08}"
    ".tables{display:grid;grid-template-columns:repeat(auto-fit,minmax(34em,1fr));"
    "gap:0 1.5em}.tables table{width:100%}.tables>div{overflow-x:auto}"
    "td.t{white-space:nowrap}"
    "form.inline{display:inline}"
    "fieldset{border:1px solid #dde1e6;background:#fff;margin:0 0 1em;padding:.6em 1em}"
    "input,select,button{font:inherit;padding:.25em .5em}"
    "button{background:#25364a;color:#fff;border:0;border-radius:4px;cursor:pointer}"
    "header button{background:#3d536c}"
    "p.ok{background:#e3f4e5;border-left:4px solid #2e8540;padding:.5em 1em}"
    "p.error{background:#fbe5e3;border-left:4px solid #b3261e;padding:.5em 1em}"
    ".login{max-width:22em;margin:4em auto;background:#fff;padding:1.5em 2em;"
    "border:1px solid #dde1e6;border-radius:6px}"
    ".login label{display:block;margin:.6em 0}.login input{width:100%;"
    "box-sizing:border-box}";

static const struct {
	const char *path;
	const char *title;
} nav[] = {
	{ "/", "Today" },
	{ "/accounts", "Accounts" },
	{ "/policy", "Policy" },
	{ "/queue", "Queue" },
	{ "/folders", "Folders" },
};

gint
web_by_name(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char *
web_loggable(const char *text)
{
	g_autofree char *cut = g_strndup(text ? text : "", 200);
	g_autofree char *valid = g_utf8_make_valid(cut, -1);
	GString *out = g_string_new(NULL);

	/* one log line, one value: no line end, no space, no control character */
	for (char *p = valid; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);

		if (c < 0x20 || c == 0x7f || c == ' ' || c == '\\')
			g_string_append_printf(out, "\\x%02x", c);
		else
			g_string_append_unichar(out, c);
	}
	return g_string_free(out, FALSE);
}

char *
web_escape(const char *text)
{
	return g_markup_escape_text(text ? text : "", -1);
}

static void
head(GString *out, const char *title)
{
	g_autofree char *t = web_escape(title);

	g_string_append_printf(out, "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
	    "<meta name=viewport content='width=device-width,initial-scale=1'>"
	    "<title>%s · mdir</title><style>%s</style></head><body>", t, CSS);
}

static void
send_html(SoupServerMessage *msg, guint status, GString *out)
{
	SoupMessageHeaders *h = soup_server_message_get_response_headers(msg);

	soup_message_headers_replace(h, "Content-Security-Policy",
	    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
	    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
	soup_message_headers_replace(h, "X-Content-Type-Options", "nosniff");
	soup_message_headers_replace(h, "Cache-Control", "no-store");
	soup_server_message_set_status(msg, status, NULL);
	soup_server_message_set_response(msg, "text/html; charset=utf-8", SOUP_MEMORY_COPY,
	    out->str, out->len);
}

void
web_csrf_field(GString *out, const WebSession *s)
{
	g_string_append_printf(out, "<input type=hidden name=csrf value='%s'>", s->csrf);
}

void
web_page(SoupServerMessage *msg, WebSession *s, const char *title, const char *body)
{
	g_autoptr(GString) out = g_string_new(NULL);
	g_autofree char *user = web_escape(s->user);
	const char *path = g_uri_get_path(soup_server_message_get_uri(msg));

	head(out, title);
	g_string_append(out, "<header><b>mdir</b>");
	for (gsize i = 0; i < G_N_ELEMENTS(nav); i++)
		g_string_append_printf(out, "<a href='%s'%s>%s</a>", nav[i].path,
		    strcmp(path, nav[i].path) == 0 ? " class=on" : "", nav[i].title);
	g_string_append(out, "<form method=post action='/logout'>");
	web_csrf_field(out, s);
	g_string_append_printf(out, "%s <button id=logout>Log out</button></form></header>"
	    "<main>", user);
	g_string_append(out, body);
	g_string_append(out, "</main></body></html>\n");
	send_html(msg, SOUP_STATUS_OK, out);
}

static gboolean
is_api(SoupServerMessage *msg)
{
	return g_str_has_prefix(g_uri_get_path(soup_server_message_get_uri(msg)), "/api/");
}

void
web_json(SoupServerMessage *msg, guint status, char *json)
{
	soup_message_headers_replace(soup_server_message_get_response_headers(msg),
	    "Cache-Control", "no-store");
	soup_server_message_set_status(msg, status, NULL);
	soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_TAKE, json,
	    strlen(json));
}

void
web_error(SoupServerMessage *msg, guint status, const char *text)
{
	g_autoptr(GString) out = g_string_new(NULL);
	g_autofree char *t = web_escape(text);

	if (is_api(msg)) {
		g_autoptr(JsonBuilder) b = json_builder_new();
		g_autoptr(JsonNode) root = NULL;
		g_autofree char *valid = g_utf8_make_valid(text, -1);

		json_builder_begin_object(b);
		json_builder_set_member_name(b, "error");
		json_builder_add_string_value(b, valid);
		json_builder_end_object(b);
		root = json_builder_get_root(b);
		web_json(msg, status, json_to_string(root, TRUE));
		return;
	}
	head(out, soup_status_get_phrase(status));
	g_string_append_printf(out, "<main><h1>%u %s</h1><p class=error>%s</p>"
	    "<p><a href='/'>Back</a></p></main></body></html>\n", status,
	    soup_status_get_phrase(status), t);
	send_html(msg, status, out);
}

/*
 * A relative Location: libsoup's set_redirect() makes it absolute with
 * http:// and the request's Host, which behind the TLS proxy would send
 * the browser, and its cookie, to plain HTTP.
 */
void
web_redirect(SoupServerMessage *msg, const char *path)
{
	soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Location",
	    path);
	soup_server_message_set_status(msg, SOUP_STATUS_SEE_OTHER, NULL);
}

/*
 * What a form did is kept in the session, not put in the redirect's URL:
 * a link from anywhere could otherwise make a page say what it likes in
 * its status line.  Shown by the next page, then gone.
 */
void
web_redirect_flash(SoupServerMessage *msg, WebSession *s, const char *path, gboolean ok,
    const char *text)
{
	g_free(s->flash);
	s->flash = g_strdup(text);
	s->flash_ok = ok;
	web_redirect(msg, path);
}

void
web_flash(GString *out, WebSession *s)
{
	g_autofree char *text = g_steal_pointer(&s->flash);
	g_autofree char *t = text ? web_escape(text) : NULL;

	if (t)
		g_string_append_printf(out, "<p class=%s role=status>%s</p>",
		    s->flash_ok ? "ok" : "error", t);
}

static void
login_page(SoupServerMessage *msg, guint status, const char *problem)
{
	g_autoptr(GString) out = g_string_new(NULL);
	g_autofree char *p = problem ? web_escape(problem) : NULL;

	head(out, "Log in");
	g_string_append(out, "<main><form class=login method=post action='/login'>"
			      "<h1>mdir administration</h1>");
	if (p)
		g_string_append_printf(out, "<p class=error role=alert>%s</p>", p);
	g_string_append(out, "<label>Name <input name=user autocomplete=username required "
			      "autofocus></label><label>Password <input name=password "
			      "type=password autocomplete=current-password required></label>"
			      "<button id=login>Log in</button></form></main></body></html>\n");
	send_html(msg, status, out);
}

/*
 * The client's address: the peer's, or behind a proxy on this host (a
 * loopback peer) the last address of X-Forwarded-For, the one the proxy
 * added, so that failed logins are counted per real client and not for
 * everyone at once.  Someone on this host can name any address so, which
 * gains nothing: the limit per name still holds.  Transfer full.
 */
static char *
client_address(SoupServerMessage *msg)
{
	const char *peer = soup_server_message_get_remote_host(msg);
	const char *fwd = soup_message_headers_get_list(
	    soup_server_message_get_request_headers(msg), "X-Forwarded-For");
	g_autoptr(GInetAddress) p = peer ? g_inet_address_new_from_string(peer) : NULL;
	g_autoptr(GInetAddress) last = NULL;
	g_autofree char *text = NULL;
	const char *comma;

	if (p == NULL || !g_inet_address_get_is_loopback(p) || fwd == NULL)
		return g_strdup(peer ? peer : "?");
	comma = strrchr(fwd, ',');
	text = g_strstrip(g_strdup(comma ? comma + 1 : fwd));
	if ((last = g_inet_address_new_from_string(text)) == NULL)
		return g_strdup(peer);
	return g_inet_address_to_string(last);
}

static void
do_login(Web *w, SoupServerMessage *msg, GHashTable *form)
{
	const char *user = form ? g_hash_table_lookup(form, "user") : NULL;
	const char *pass = form ? g_hash_table_lookup(form, "password") : NULL;
	g_autofree char *ip = client_address(msg);
	g_autofree char *ipkey = g_strconcat("ip:", ip, NULL);
	g_autofree char *ukey = g_strconcat("user:", user ? user : "", NULL);
	g_autofree char *cookie = NULL;
	g_autofree char *shown = web_loggable(user);
	WebSession *s;

	if (user == NULL || pass == NULL) {
		login_page(msg, SOUP_STATUS_BAD_REQUEST, "name and password, please");
		return;
	}
	if (web_throttled(w, ipkey) || web_throttled(w, ukey)) {
		mdir_log(LOG_WARNING, "user=%s action=login ip=%s refused: too many failures",
		    shown, ip);
		login_page(msg, 429, "too many failed logins: try "
		    "again in 15 minutes");
		return;
	}
	if (!web_passwd_check(w->users, user, pass)) {
		web_failure(w, ipkey);
		web_failure(w, ukey);
		mdir_log(LOG_WARNING, "user=%s action=login ip=%s failed", shown, ip);
		login_page(msg, SOUP_STATUS_FORBIDDEN, "wrong name or password");
		return;
	}
	s = web_session_new(w, user);
	cookie = web_cookie(w, s);
	soup_message_headers_append(soup_server_message_get_response_headers(msg), "Set-Cookie",
	    cookie);
	mdir_log(LOG_NOTICE, "user=%s action=login ip=%s", shown, ip);
	web_redirect(msg, "/");
}

static void
do_logout(Web *w, SoupServerMessage *msg, WebSession *s, GHashTable *form)
{
	g_autofree char *cookie = web_cookie(w, NULL);

	(void)form;
	mdir_log(LOG_NOTICE, "user=%s action=logout", s->user);
	web_session_end(w, s);
	soup_message_headers_append(soup_server_message_get_response_headers(msg), "Set-Cookie",
	    cookie);
	web_redirect(msg, "/login");
}

static const struct {
	const char *path;
	WebHandler handler;
} routes[] = {
	{ "/", web_today },
	{ "/api/today", web_api_today },
	{ "/accounts", web_accounts },
	{ "/api/accounts", web_api_accounts },
	{ "/policy", web_policy },
	{ "/api/policy", web_api_policy },
	{ "/queue", web_queue },
	{ "/api/queue", web_api_queue },
	{ "/folders", web_folders },
	{ "/api/folders", web_api_folders },
	{ "/folders/entry", web_entry },
	{ "/api/folders/entry", web_api_entry },
	{ "/folders/download", web_download },
	{ "/api/folders/download", web_download },
	{ "/folders/changes", web_changes },
	{ "/api/folders/changes", web_api_changes },
};

/*
 * The largest request body: its forms are a few fields.  libsoup reads a
 * body whole into memory before any handler sees it, and a status set in
 * got-headers does not stop that (only under Expect: 100-continue), so a
 * bigger one, or one of unknown length, gets its 413 on the connection
 * taken from libsoup, which is then closed: nothing of the body is read,
 * whoever sends it, logged in or not.
 */
#define MAX_BODY (64 * 1024)

static void
got_headers(SoupServerMessage *msg, gpointer data)
{
	static const char answer[] = "HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n"
				     "Content-Length: 0\r\n\r\n";
	SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
	g_autoptr(GIOStream) conn = NULL;
	g_autofree char *who = NULL;

	(void)data;
	if (soup_message_headers_get_encoding(h) != SOUP_ENCODING_CHUNKED &&
	    soup_message_headers_get_content_length(h) <= MAX_BODY)
		return;
	who = web_loggable(soup_server_message_get_remote_host(msg));
	mdir_log(LOG_WARNING, "client=%s: a request body over %d bytes, refused", who, MAX_BODY);
	conn = soup_server_message_steal_connection(msg);
	/* a few bytes into an empty socket buffer: written at once or not at all */
	g_output_stream_write_all(g_io_stream_get_output_stream(conn), answer, sizeof(answer) - 1,
	    NULL, NULL, NULL);
	g_io_stream_close(conn, NULL, NULL);
}

static void
request_started(SoupServer *server, SoupServerMessage *msg, gpointer data)
{
	(void)server;
	g_signal_connect(msg, "got-headers", G_CALLBACK(got_headers), data);
}

/* The request's form: its body's for a POST, its query's otherwise. */
static GHashTable *
form_of(SoupServerMessage *msg)
{
	SoupMessageBody *body = soup_server_message_get_request_body(msg);
	const char *method = soup_server_message_get_method(msg);
	const char *query = g_uri_get_query(soup_server_message_get_uri(msg));
	const char *type = soup_message_headers_get_content_type(
	    soup_server_message_get_request_headers(msg), NULL);
	g_autoptr(GBytes) bytes = NULL;
	g_autofree char *text = NULL;
	gsize n;

	if (strcmp(method, "POST") != 0)
		return query ? soup_form_decode(query) : NULL;
	if (g_strcmp0(type, "application/x-www-form-urlencoded") != 0)
		return NULL;
	bytes = soup_message_body_flatten(body);
	if (g_bytes_get_size(bytes) > MAX_BODY)
		return NULL;
	text = g_strndup(g_bytes_get_data(bytes, &n), g_bytes_get_size(bytes));
	return soup_form_decode(text);
}

static void
dispatch(Web *w, SoupServerMessage *msg, const char *path, GHashTable *form)
{
	const char *method = soup_server_message_get_method(msg);
	gboolean post = strcmp(method, "POST") == 0;
	WebSession *s;

	if (strcmp(path, "/login") == 0) {
		if (post)
			do_login(w, msg, form);
		else
			login_page(msg, SOUP_STATUS_OK, NULL);
		return;
	}
	if ((s = web_session_of(w, msg)) == NULL) {
		if (g_str_has_prefix(path, "/api/"))
			web_error(msg, SOUP_STATUS_UNAUTHORIZED, "log in first (POST /login)");
		else
			web_redirect(msg, "/login");
		return;
	}
	if (post && !web_csrf_ok(s, form)) {
		g_autofree char *shown = web_loggable(path);

		mdir_log(LOG_WARNING, "user=%s action=refused path=%s: no valid CSRF token",
		    s->user, shown);
		web_error(msg, SOUP_STATUS_FORBIDDEN, "this form is stale or forged (no valid "
		    "CSRF token): reload the page and try again");
		return;
	}
	if (post && strcmp(path, "/logout") == 0) {
		do_logout(w, msg, s, form);
		return;
	}
	for (gsize i = 0; i < G_N_ELEMENTS(routes); i++)
		if (strcmp(path, routes[i].path) == 0) {
			routes[i].handler(w, msg, s, form);
			return;
		}
	web_error(msg, SOUP_STATUS_NOT_FOUND, "no such page");
}

static void
handle(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
    gpointer data)
{
	const char *method = soup_server_message_get_method(msg);
	g_autoptr(GHashTable) form = NULL;

	(void)server, (void)query;
	/*
	 * One request a connection: libsoup 3.2 (Debian 12's) never frees a
	 * kept-alive connection the client closes (fixed in 3.3, commit
	 * d20c6601), and an admin's page, behind a proxy, loses nothing by it.
	 */
	soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Connection",
	    "close");
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	    strcmp(method, "POST") != 0) {
		web_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "GET or POST");
		return;
	}
	form = form_of(msg);
	dispatch(data, msg, path, form);
}

static void
session_free(gpointer p)
{
	WebSession *s = p;

	g_free(s->id);
	g_free(s->user);
	g_free(s->csrf);
	g_free(s->flash);
	g_free(s);
}

Web *
web_new(MdirConfig *config, GError **error)
{
	g_autoptr(Web) w = g_new0(Web, 1);

	w->config = config;
	if ((w->store = mdir_store_open_config(config, error)) == NULL)
		return NULL;
	w->users = g_strdup(mdir_config_get(config, "web", "users"));
	w->lifetime = mdir_config_get_duration_ms(config, "web", "session_lifetime") * 1000;
	w->secure = mdir_config_get_bool(config, "web", "secure_cookies");
	w->sessions = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, session_free);
	w->failures = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    (GDestroyNotify)g_array_unref);
	w->server = soup_server_new("server-header", "mdir-web", NULL);
	soup_server_add_handler(w->server, NULL, handle, w, NULL);
	g_signal_connect(w->server, "request-started", G_CALLBACK(request_started), w);
	return g_steal_pointer(&w);
}

void
web_free(Web *w)
{
	if (w == NULL)
		return;
	if (w->service) {
		g_socket_service_stop(w->service);
		g_socket_listener_close(G_SOCKET_LISTENER(w->service));
		g_object_unref(w->service);
	}
	if (w->server) {
		soup_server_disconnect(w->server);
		g_object_unref(w->server);
	}
	if (w->store)
		mdir_store_free(w->store);
	g_free(w->users);
	if (w->sessions)
		g_hash_table_unref(w->sessions);
	if (w->failures)
		g_hash_table_unref(w->failures);
	g_free(w);
}

/* "inet:HOST:PORT" (HOST may be [v6]) as an address.  Transfer full. */
static GSocketAddress *
inet_address(const char *spec, gboolean allow_remote, GError **error)
{
	const char *colon = strrchr(spec, ':');
	g_autofree char *host = colon ? g_strndup(spec, colon - spec) : NULL;
	guint64 port = 0;
	g_autoptr(GInetAddress) a = NULL;

	if (host && host[0] == '[' && g_str_has_suffix(host, "]")) {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if (colon == NULL || !g_ascii_string_to_unsigned(colon + 1, 10, 0, 65535, &port, NULL) ||
	    (a = g_inet_address_new_from_string(host)) == NULL) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG, "[web] listen: '%s' is not "
		    "inet:ADDRESS:PORT (a numeric address)", spec);
		return NULL;
	}
	if (!g_inet_address_get_is_loopback(a) && !allow_remote) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG, "[web] listen: %s is not a "
		    "loopback address: mdir-web belongs behind a TLS proxy (set [web] "
		    "allow_remote to listen there anyway)", host);
		return NULL;
	}
	return g_inet_socket_address_new(a, (guint16)port);
}

/*
 * A connection, handed to libsoup: the socket is accepted here because
 * libsoup 3.2 (Debian 12's) leaks every socket its own listener accepts.
 * One the client reset before it was accepted has no peer address, which
 * libsoup 3.2 does not take (a critical, and a NULL in its list of
 * clients): there is nobody to answer, and dropping our reference closes
 * it.
 */
static gboolean
incoming(GSocketService *service, GSocketConnection *conn, GObject *source, gpointer data)
{
	Web *w = data;
	g_autoptr(GSocketAddress) local = g_socket_connection_get_local_address(conn, NULL);
	g_autoptr(GSocketAddress) remote = g_socket_connection_get_remote_address(conn, NULL);
	g_autoptr(GError) e = NULL;

	(void)service, (void)source;
	if (local == NULL || remote == NULL)
		return TRUE;
	if (!soup_server_accept_iostream(w->server, G_IO_STREAM(conn), local, remote, &e))
		mdir_log(LOG_WARNING, "a connection refused: %s", e->message);
	return TRUE;
}

gboolean
web_listen(Web *w, const char *spec, GError **error)
{
	g_autoptr(GSocketAddress) addr = NULL;
	g_autoptr(GSocketAddress) effective = NULL;

	if (spec == NULL)
		spec = mdir_config_get(w->config, "web", "listen");
	/* libsoup 3.2's server takes every peer for an inet one */
	if (!g_str_has_prefix(spec, "inet:")) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG, "[web] listen: '%s': "
		    "mdir-web listens on inet:ADDRESS:PORT only", spec);
		return FALSE;
	}
	if ((addr = inet_address(spec + 5, mdir_config_get_bool(w->config, "web",
	    "allow_remote"), error)) == NULL)
		return FALSE;
	if (w->service == NULL) {
		w->service = g_socket_service_new();
		g_signal_connect(w->service, "incoming", G_CALLBACK(incoming), w);
	}
	if (!g_socket_listener_add_address(G_SOCKET_LISTENER(w->service), addr,
	    G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL, &effective, error))
		return FALSE;
	w->port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(effective));
	g_socket_service_start(w->service);
	mdir_log(LOG_INFO, "listening on %s", spec);
	return TRUE;
}
