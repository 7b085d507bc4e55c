/*
 * test-web.c: mdir-web's handlers through libsoup's own client, against
 * a server of the test's process (its main loop in a thread of its own)
 * on a free loopback port: what needs a login, the CSRF token, the
 * limit on failed logins, the password file, and that bad input changes
 * nothing.
 */
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>

#include <libsoup/soup.h>

#include "stats.h"
#include "testutil.h"
#include "web.h"

typedef struct {
	MdirConfig *config;
	Web *web;
	GMainContext *ctx;
	GMainLoop *loop;
	GThread *thread;
	SoupSession *session;
	char *base;   /* http://127.0.0.1:PORT */
	char *cookie; /* "mdir_session=..." once logged in */
	char *csrf;
} Fx;

/* A reply: status, body, Location. */
typedef struct {
	guint status;
	char *body;
	char *location;
	char *set_cookie;
} Reply;

static void
reply_clear(Reply *r)
{
	g_free(r->body);
	g_free(r->location);
	g_free(r->set_cookie);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Reply, reply_clear)

static gpointer
serve(gpointer data)
{
	Fx *fx = data;

	g_main_context_push_thread_default(fx->ctx);
	g_main_loop_run(fx->loop);
	g_main_context_pop_thread_default(fx->ctx);
	return NULL;
}

static void
fx_up(Fx *fx, gconstpointer data)
{
	g_autofree char *root = test_root();
	g_autofree char *conf = g_strdup_printf("[mdir]\nroot = %s\n[receive]\n"
	    "local_domains = example.test\nrole_accounts = false\n%s", root,
	    data ? (const char *)data : "");
	g_autofree char *path = test_write_tmp("c.conf", conf);
	g_autoptr(GError) e = NULL;

	fx->config = mdir_config_load(path, &e);
	g_assert_no_error(e);
	g_assert_true(web_passwd_set(mdir_config_get(fx->config, "web", "users"), "admin",
	    "sesame", &e));
	g_assert_no_error(e);
	fx->ctx = g_main_context_new();
	fx->loop = g_main_loop_new(fx->ctx, FALSE);
	g_main_context_push_thread_default(fx->ctx);
	fx->web = web_new(fx->config, &e);
	g_assert_no_error(e);
	g_assert_true(web_listen(fx->web, "inet:127.0.0.1:0", &e));
	g_assert_no_error(e);
	g_main_context_pop_thread_default(fx->ctx);
	g_assert_cmpuint(fx->web->port, >, 0);
	fx->base = g_strdup_printf("http://127.0.0.1:%u", fx->web->port);
	fx->thread = g_thread_new("server", serve, fx);
	fx->session = soup_session_new_with_options("timeout", 20, NULL);
}

static gboolean
stop(gpointer loop)
{
	g_main_loop_quit(loop);
	return G_SOURCE_REMOVE;
}

static void
fx_down(Fx *fx, gconstpointer data)
{
	(void)data;
	g_object_unref(fx->session);
	g_main_context_invoke(fx->ctx, stop, fx->loop);
	g_thread_join(fx->thread);
	g_main_context_push_thread_default(fx->ctx);
	web_free(fx->web);
	while (g_main_context_iteration(fx->ctx, FALSE))
		;
	g_main_context_pop_thread_default(fx->ctx);
	g_main_loop_unref(fx->loop);
	g_main_context_unref(fx->ctx);
	mdir_config_free(fx->config);
	g_free(fx->base);
	g_free(fx->cookie);
	g_free(fx->csrf);
}

/* @method @path, with @form (urlencoded, may be NULL) and the cookie. */
static Reply
request(Fx *fx, const char *method, const char *path, const char *form)
{
	g_autofree char *url = g_strconcat(fx->base, path, NULL);
	g_autoptr(SoupMessage) msg = soup_message_new(method, url);
	g_autoptr(GBytes) body = NULL;
	g_autoptr(GError) e = NULL;
	SoupMessageHeaders *h;
	Reply r = { 0 };

	g_assert_nonnull(msg);
	soup_message_set_flags(msg, SOUP_MESSAGE_NO_REDIRECT);
	if (fx->cookie)
		soup_message_headers_append(soup_message_get_request_headers(msg), "Cookie",
		    fx->cookie);
	if (form) {
		g_autoptr(GBytes) b = g_bytes_new(form, strlen(form));

		soup_message_set_request_body_from_bytes(msg, "application/x-www-form-urlencoded",
		    b);
	}
	body = soup_session_send_and_read(fx->session, msg, NULL, &e);
	g_assert_no_error(e);
	h = soup_message_get_response_headers(msg);
	r.status = soup_message_get_status(msg);
	r.body = g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));
	r.location = g_strdup(soup_message_headers_get_one(h, "Location"));
	r.set_cookie = g_strdup(soup_message_headers_get_one(h, "Set-Cookie"));
	return r;
}

/* A POST of @form to @path, as a proxy forwarding for @forwarded. */
static Reply
request_from(Fx *fx, const char *path, const char *form, const char *forwarded)
{
	g_autofree char *url = g_strconcat(fx->base, path, NULL);
	g_autoptr(SoupMessage) msg = soup_message_new("POST", url);
	g_autoptr(GBytes) b = g_bytes_new(form, strlen(form));
	g_autoptr(GBytes) body = NULL;
	g_autoptr(GError) e = NULL;
	Reply r = { 0 };

	soup_message_set_flags(msg, SOUP_MESSAGE_NO_REDIRECT);
	soup_message_headers_append(soup_message_get_request_headers(msg), "X-Forwarded-For",
	    forwarded);
	soup_message_set_request_body_from_bytes(msg, "application/x-www-form-urlencoded", b);
	body = soup_session_send_and_read(fx->session, msg, NULL, &e);
	g_assert_no_error(e);
	r.status = soup_message_get_status(msg);
	r.body = g_strndup(g_bytes_get_data(body, NULL), g_bytes_get_size(body));
	return r;
}

/* The value of the first "name=csrf value='...'" in @html.  Transfer full. */
static char *
csrf_of(const char *html)
{
	const char *p = strstr(html, "name=csrf value='");

	g_assert_nonnull(p);
	p += strlen("name=csrf value='");
	return g_strndup(p, strcspn(p, "'"));
}

static void
login(Fx *fx)
{
	g_auto(Reply) r = request(fx, "POST", "/login", "user=admin&password=sesame");
	g_auto(Reply) page = { 0 };

	g_assert_cmpuint(r.status, ==, 303);
	g_assert_nonnull(r.set_cookie);
	fx->cookie = g_strndup(r.set_cookie, strcspn(r.set_cookie, ";"));
	page = request(fx, "GET", "/", NULL);
	g_assert_cmpuint(page.status, ==, 200);
	fx->csrf = csrf_of(page.body);
}

static void
test_login_required(Fx *fx, gconstpointer data)
{
	const char *pages[] = { "/", "/accounts", "/nowhere" };
	const char *apis[] = { "/api/today", "/api/accounts" };

	(void)data;
	for (gsize i = 0; i < G_N_ELEMENTS(pages); i++) {
		g_auto(Reply) r = request(fx, "GET", pages[i], NULL);

		g_assert_cmpuint(r.status, ==, 303);
		g_assert_true(g_str_has_suffix(r.location, "/login"));
	}
	for (gsize i = 0; i < G_N_ELEMENTS(apis); i++) {
		g_auto(Reply) r = request(fx, "GET", apis[i], NULL);

		g_assert_cmpuint(r.status, ==, 401);
		g_assert_nonnull(strstr(r.body, "\"error\""));
	}
	{
		g_auto(Reply) r = request(fx, "GET", "/login", NULL);

		g_assert_cmpuint(r.status, ==, 200);
		g_assert_nonnull(strstr(r.body, "type=password"));
	}
	{
		/* a made-up session is no session */
		g_auto(Reply) r = { 0 };

		fx->cookie = g_strdup("mdir_session=00112233");
		r = request(fx, "GET", "/", NULL);
		g_assert_cmpuint(r.status, ==, 303);
	}
}

static void
test_login_cookie(Fx *fx, gconstpointer data)
{
	g_auto(Reply) bad = request(fx, "POST", "/login", "user=admin&password=wrong");
	g_auto(Reply) r = request(fx, "POST", "/login", "user=admin&password=sesame");

	(void)data;
	g_assert_cmpuint(bad.status, ==, 403);
	g_assert_null(bad.set_cookie);
	g_assert_cmpuint(r.status, ==, 303);
	g_assert_true(g_str_has_prefix(r.set_cookie, "mdir_session="));
	/* 32 random bytes in hex */
	g_assert_cmpuint(strcspn(r.set_cookie + 13, ";"), ==, 64);
	g_assert_nonnull(strstr(r.set_cookie, "HttpOnly"));
	g_assert_nonnull(strstr(r.set_cookie, "SameSite=Strict"));
	g_assert_null(strstr(r.set_cookie, "Secure"));
}

static void
test_secure_cookie(Fx *fx, gconstpointer data)
{
	g_auto(Reply) r = request(fx, "POST", "/login", "user=admin&password=sesame");

	(void)data;
	g_assert_nonnull(strstr(r.set_cookie, "; Secure"));
}

static void
test_csrf(Fx *fx, gconstpointer data)
{
	g_auto(Reply) none = { 0 };
	g_auto(Reply) forged = { 0 };
	g_auto(Reply) still = { 0 };
	g_auto(Reply) out = { 0 };
	g_autofree char *good = NULL;

	(void)data;
	login(fx);
	none = request(fx, "POST", "/logout", "x=1");
	g_assert_cmpuint(none.status, ==, 403);
	forged = request(fx, "POST", "/logout", "csrf=0000000000000000000000000000000000000000"
					       "000000000000000000000000");
	g_assert_cmpuint(forged.status, ==, 403);
	still = request(fx, "GET", "/", NULL);
	g_assert_cmpuint(still.status, ==, 200);
	good = g_strconcat("csrf=", fx->csrf, NULL);
	out = request(fx, "POST", "/logout", good);
	g_assert_cmpuint(out.status, ==, 303);
	g_assert_nonnull(strstr(out.set_cookie, "Max-Age=0"));
	{
		g_auto(Reply) r = request(fx, "GET", "/", NULL);

		g_assert_cmpuint(r.status, ==, 303); /* the session is gone server-side */
	}
}

static void
test_rate_limit(Fx *fx, gconstpointer data)
{
	(void)data;
	for (int i = 0; i < WEB_MAX_FAILURES; i++) {
		g_auto(Reply) r = request(fx, "POST", "/login", "user=admin&password=guess");

		g_assert_cmpuint(r.status, ==, 403);
	}
	{
		/* the right password too, now: the limit is before the check */
		g_auto(Reply) r = request(fx, "POST", "/login", "user=admin&password=sesame");

		g_assert_cmpuint(r.status, ==, 429);
		g_assert_null(r.set_cookie);
	}
}

/* Behind a proxy on this host: counted per X-Forwarded-For's last address. */
static void
test_rate_limit_proxy(Fx *fx, gconstpointer data)
{
	(void)data;
	for (int i = 0; i < WEB_MAX_FAILURES; i++) {
		g_autofree char *form = g_strdup_printf("user=u%d&password=guess", i);
		g_auto(Reply) r = request_from(fx, "/login", form, "203.0.113.1, 192.0.2.66");

		g_assert_cmpuint(r.status, ==, 403);
	}
	{
		g_auto(Reply) r = request_from(fx, "/login", "user=admin&password=sesame",
		    "192.0.2.66");

		g_assert_cmpuint(r.status, ==, 429);
	}
	{
		/* another client behind the same proxy still gets in */
		g_auto(Reply) r = request_from(fx, "/login", "user=admin&password=sesame",
		    "192.0.2.67");

		g_assert_cmpuint(r.status, ==, 303);
	}
}

static void
test_passwd_file(Fx *fx, gconstpointer data)
{
	const char *users = mdir_config_get(fx->config, "web", "users");
	g_autofree char *text = NULL;
	g_autoptr(GError) e = NULL;
	GStatBuf st;

	(void)data;
	g_assert_true(web_passwd_set(users, "second", "pw2", &e));
	g_assert_true(web_passwd_set(users, "admin", "changed", &e));
	g_assert_no_error(e);
	g_assert_cmpint(g_stat(users, &st), ==, 0);
	g_assert_cmpuint(st.st_mode & 0777, ==, 0600);
	g_assert_true(g_file_get_contents(users, &text, NULL, NULL));
	g_assert_true(g_str_has_prefix(text, "second:$y$"));
	g_assert_nonnull(strstr(text, "\nadmin:$y$"));
	g_assert_null(strstr(text, "changed"));
	g_assert_true(web_passwd_check(users, "admin", "changed"));
	g_assert_false(web_passwd_check(users, "admin", "sesame"));
	g_assert_true(web_passwd_check(users, "second", "pw2"));
	g_assert_false(web_passwd_check(users, "nobody", "pw2"));
	g_assert_false(web_passwd_set(users, "bad:name", "x", &e));
	g_assert_error(e, MDIR_ERROR, MDIR_ERROR_USAGE);
}

static void
test_listen_remote(Fx *fx, gconstpointer data)
{
	g_autoptr(GError) e = NULL;

	(void)data;
	g_assert_false(web_listen(fx->web, "inet:192.0.2.1:8025", &e));
	g_assert_error(e, MDIR_ERROR, MDIR_ERROR_CONFIG);
}

/* The integer at "@name" : N in @json (pretty-printed by json-glib). */
static gint64
json_int(const char *json, const char *name)
{
	g_autofree char *key = g_strdup_printf("\"%s\" : ", name);
	const char *p = strstr(json, key);

	g_assert_nonnull(p);
	return g_ascii_strtoll(p + strlen(key), NULL, 10);
}

static void
test_today(Fx *fx, gconstpointer data)
{
	g_auto(Reply) api = { 0 };
	g_auto(Reply) page = { 0 };

	(void)data;
	for (int i = 0; i < 3; i++)
		mdir_events_record(fx->config, "delivered", "account",
		    "SMTP/Accounts/jo@example.test", "ip", "192.0.2.1", "size", "100", NULL);
	mdir_events_record(fx->config, "sent", "sender", "jo@example.test", "rcpt",
	    "x@far.test", "domain", "far.test", "size", "10", NULL);
	mdir_events_record(fx->config, "deferred", "sender", "jo@example.test", "rcpt",
	    "y@far.test", NULL);
	login(fx);
	api = request(fx, "GET", "/api/today", NULL);
	g_assert_cmpuint(api.status, ==, 200);
	g_assert_cmpint(json_int(api.body, "received"), ==, 3);
	g_assert_cmpint(json_int(api.body, "sent"), ==, 1);
	g_assert_cmpint(json_int(api.body, "deferred"), ==, 1);
	g_assert_cmpint(json_int(api.body, "rejected"), ==, 0);
	/* the report itself, as smtp-stats report --format json has it */
	g_assert_cmpint(json_int(api.body, "messages in"), ==, 3);
	page = request(fx, "GET", "/", NULL);
	g_assert_cmpuint(page.status, ==, 200);
	g_assert_nonnull(strstr(page.body, "<span id=received>3</span>"));
	/* two charts inline, hover values on the bars, no XML declaration */
	g_assert_nonnull(strstr(page.body, "<svg"));
	g_assert_null(strstr(page.body, "<?xml"));
	g_assert_nonnull(strstr(page.body, "id=\"month-glyph"));
	g_assert_nonnull(strstr(page.body, " received, 0 spam, 0 greylisted</title>"));
}

/* What the server answers to @head (a request's line and headers) alone. */
static char *
raw_answer(Fx *fx, const char *head)
{
	g_autoptr(GSocketClient) client = g_socket_client_new();
	g_autoptr(GSocketConnection) conn = NULL;
	g_autoptr(GError) e = NULL;
	char buf[4096];
	gssize n;

	g_socket_client_set_timeout(client, 10);
	conn = g_socket_client_connect_to_host(client, "127.0.0.1", (guint16)fx->web->port, NULL,
	    &e);
	g_assert_no_error(e);
	g_assert_true(g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(conn)),
	    head, strlen(head), NULL, NULL, &e));
	g_assert_no_error(e);
	/* the body is never sent: an answer must come without it */
	n = g_input_stream_read(g_io_stream_get_input_stream(G_IO_STREAM(conn)), buf,
	    sizeof(buf) - 1, NULL, &e);
	g_assert_no_error(e);
	g_assert_cmpint(n, >, 0);
	return g_strndup(buf, (gsize)n);
}

/* The server's loop held still until released: connections wait unaccepted. */
typedef struct {
	GMutex lock;
	GCond cond;
	gboolean held;
	gboolean released;
} Gate;

static gboolean
gate_hold(gpointer data)
{
	Gate *g = data;

	g_mutex_lock(&g->lock);
	g->held = TRUE;
	g_cond_broadcast(&g->cond);
	while (!g->released)
		g_cond_wait(&g->cond, &g->lock);
	g_mutex_unlock(&g->lock);
	return G_SOURCE_REMOVE;
}

/*
 * A client that resets its connection before the server accepts it (a
 * browser drops the spare connections it opened ahead): such a socket
 * has no peer address, and libsoup 3.2 takes none (a critical, and a
 * NULL connection in its list).  It is dropped; the next one is served.
 */
static void
test_reset_before_accept(Fx *fx, gconstpointer data)
{
	Gate g = { 0 };
	g_autoptr(GError) e = NULL;
	g_auto(Reply) r = { 0 };

	(void)data;
	g_mutex_init(&g.lock);
	g_cond_init(&g.cond);
	g_main_context_invoke(fx->ctx, gate_hold, &g);
	g_mutex_lock(&g.lock);
	while (!g.held)
		g_cond_wait(&g.cond, &g.lock);
	g_mutex_unlock(&g.lock);
	for (int i = 0; i < 3; i++) {
		g_autoptr(GSocket) s = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
		    G_SOCKET_PROTOCOL_TCP, &e);
		g_autoptr(GInetAddress) lo = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
		g_autoptr(GSocketAddress) to = g_inet_socket_address_new(lo,
		    (guint16)fx->web->port);
		struct linger now = { 1, 0 };

		g_assert_no_error(e);
		g_assert_true(g_socket_connect(s, to, NULL, &e));
		g_assert_no_error(e);
		/* closed with a linger of 0: a reset, not a FIN */
		g_assert_cmpint(setsockopt(g_socket_get_fd(s), SOL_SOCKET, SO_LINGER, &now,
		    sizeof now), ==, 0);
		g_assert_true(g_socket_close(s, &e));
		g_assert_no_error(e);
	}
	g_mutex_lock(&g.lock);
	g.released = TRUE;
	g_cond_broadcast(&g.cond);
	g_mutex_unlock(&g.lock);
	r = request(fx, "GET", "/login", NULL);
	g_assert_cmpuint(r.status, ==, 200);
	g_mutex_clear(&g.lock);
	g_cond_clear(&g.cond);
}

/* A body too big for a form is refused from its headers, before login. */
static void
test_body_limit(Fx *fx, gconstpointer data)
{
	g_autofree char *big = NULL;
	g_autofree char *chunked = NULL;
	g_auto(Reply) r = { 0 };

	(void)data;
	big = raw_answer(fx, "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: "
	    "application/x-www-form-urlencoded\r\nContent-Length: 100000000\r\n\r\n");
	g_assert_true(g_str_has_prefix(big, "HTTP/1.1 413 "));
	chunked = raw_answer(fx, "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: "
	    "application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n");
	g_assert_true(g_str_has_prefix(chunked, "HTTP/1.1 413 "));
	/* and a redirect stays relative: behind the TLS proxy, never to http:// */
	r = request(fx, "GET", "/", NULL);
	g_assert_cmpuint(r.status, ==, 303);
	g_assert_cmpstr(r.location, ==, "/login");
}

/* More spamming IPs than the report's top ten: Today counts them all. */
static void
test_today_spam(Fx *fx, gconstpointer data)
{
	g_auto(Reply) api = { 0 };
	g_autoptr(GError) e = NULL;
	g_autoptr(Stats) s = NULL;

	(void)data;
	for (int i = 0; i < 12; i++) {
		g_autofree char *ip = g_strdup_printf("192.0.2.%d", i + 1);
		g_autofree char *id = g_strdup_printf("<spam%d@far.test>", i);

		mdir_events_record(fx->config, "delivered", "account",
		    "SMTP/Accounts/jo@example.test", "ip", ip, "size", "100", "message_id", id,
		    NULL);
	}
	s = stats_open(fx->config, fx->web->store, &e);
	g_assert_no_error(e);
	g_assert_cmpint(stats_import(s, &e), >=, 0);
	g_assert_no_error(e);
	for (int i = 0; i < 12; i++) {
		g_autofree char *id = g_strdup_printf("spam%d@far.test", i);
		sqlite3_stmt *st = stats_stmt(s, "INSERT INTO learned VALUES (?, 0)");

		g_assert_nonnull(st);
		sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
		g_assert_cmpint(sqlite3_step(st), ==, SQLITE_DONE);
		sqlite3_reset(st);
	}
	login(fx);
	api = request(fx, "GET", "/api/today", NULL);
	g_assert_cmpuint(api.status, ==, 200);
	g_assert_cmpint(json_int(api.body, "received"), ==, 12);
	g_assert_cmpint(json_int(api.body, "spam"), ==, 12);
}

/* A decision without an action (a row written by hand, an old database). */
static void
test_today_null_decision(Fx *fx, gconstpointer data)
{
	g_auto(Reply) api = { 0 };
	g_autoptr(GError) e = NULL;
	g_autoptr(Stats) s = NULL;
	const char *actions[] = { NULL, POLICY_GREYLISTED };

	(void)data;
	s = stats_open(fx->config, fx->web->store, &e);
	g_assert_no_error(e);
	for (gsize i = 0; i < G_N_ELEMENTS(actions); i++) {
		sqlite3_stmt *st = stats_stmt(s, "INSERT INTO decisions VALUES (?, '192.0.2.9', ?, NULL)");

		g_assert_nonnull(st);
		sqlite3_bind_int64(st, 1, g_get_real_time() / G_USEC_PER_SEC);
		if (actions[i])
			sqlite3_bind_text(st, 2, actions[i], -1, SQLITE_STATIC);
		g_assert_cmpint(sqlite3_step(st), ==, SQLITE_DONE);
		sqlite3_reset(st);
	}
	login(fx);
	api = request(fx, "GET", "/api/today", NULL);
	g_assert_cmpuint(api.status, ==, 200);
	g_assert_cmpint(json_int(api.body, "greylisted"), ==, 1);
}

static gboolean
account_exists(Fx *fx, const char *name)
{
	g_autofree char *path = g_build_filename(mdir_store_root(fx->web->store),
	    "SMTP/Accounts", name, NULL);

	return g_file_test(path, G_FILE_TEST_EXISTS | G_FILE_TEST_IS_SYMLINK);
}

static Reply
post_account(Fx *fx, const char *path, const char *fields)
{
	g_autofree char *form = g_strdup_printf("csrf=%s&%s", fx->csrf, fields);

	return request(fx, "POST", path, form);
}

static void
test_accounts(Fx *fx, gconstpointer data)
{
	g_autofree char *off = NULL;

	(void)data;
	login(fx);
	{
		g_auto(Reply) r = post_account(fx, "/accounts", "action=add&address=Jo%40Example.test");

		g_assert_cmpuint(r.status, ==, 303);
		g_assert_cmpstr(r.location, ==, "/accounts");
		g_assert_true(account_exists(fx, "jo@example.test"));
	}
	{
		/* what the form did: on the next page, once; never from the URL */
		g_auto(Reply) next = request(fx, "GET", "/accounts?ok=forged&error=forged", NULL);
		g_auto(Reply) again = request(fx, "GET", "/accounts?ok=forged", NULL);

		g_assert_nonnull(strstr(next.body, "<p class=ok role=status>jo@example.test: add"));
		g_assert_null(strstr(next.body, "forged"));
		g_assert_null(strstr(again.body, "role=status"));
	}
	{
		g_auto(Reply) r = post_account(fx, "/api/accounts",
		    "action=alias&address=info%40example.test&target=jo%40example.test");

		g_assert_cmpuint(r.status, ==, 200);
		g_assert_true(account_exists(fx, "info@example.test"));
	}
	{
		g_auto(Reply) r = post_account(fx, "/api/accounts",
		    "action=disable&address=jo%40example.test");

		g_assert_cmpuint(r.status, ==, 200);
		off = g_build_filename(mdir_store_root(fx->web->store),
		    "SMTP/Accounts/jo@example.test/.disabled", NULL);
		g_assert_true(g_file_test(off, G_FILE_TEST_EXISTS));
	}
	{
		g_auto(Reply) r = post_account(fx, "/api/accounts",
		    "action=enable&address=jo%40example.test");

		g_assert_cmpuint(r.status, ==, 200);
		g_assert_false(g_file_test(off, G_FILE_TEST_EXISTS));
	}
	{
		g_auto(Reply) r = request(fx, "GET", "/api/accounts", NULL);

		g_assert_cmpuint(r.status, ==, 200);
		g_assert_nonnull(strstr(r.body, "\"kind\" : \"alias\""));
		g_assert_nonnull(strstr(r.body, "\"detail\" : \"jo@example.test\""));
	}
	{
		g_auto(Reply) r = request(fx, "GET", "/accounts", NULL);

		g_assert_cmpuint(r.status, ==, 200);
		g_assert_nonnull(strstr(r.body, "<td>info@example.test</td><td>alias</td>"));
	}
}

/* Bad input: a clear error, and the root as it was. */
static void
test_accounts_bad(Fx *fx, gconstpointer data)
{
	const char *bad[] = {
		"action=add&address=x%40elsewhere.test",	/* not a local domain */
		"action=add&address=..%2F..%2Fetc%40example.test", /* a path */
		"action=add&address=jo%2Bx%40example.test",	/* the delimiter */
		"action=add&address=nobody",			/* not an address */
		"action=alias&address=a%40example.test&target=none%40example.test",
		"action=alias&address=a%40example.test",	/* no target */
		"action=forward&address=f%40example.test&to=%22%0Apipe%20%22%2Fbin%2Fsh",
		"action=disable&address=none%40example.test",
		"action=explode&address=jo%40example.test",
	};
	g_autofree char *accounts = NULL;

	(void)data;
	login(fx);
	{
		g_auto(Reply) r = post_account(fx, "/accounts", "action=add&address=jo%40example.test");

		g_assert_cmpuint(r.status, ==, 303);
	}
	accounts = g_build_filename(mdir_store_root(fx->web->store), "SMTP/Accounts", NULL);
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_auto(Reply) page = post_account(fx, "/accounts", bad[i]);
		g_auto(Reply) api = post_account(fx, "/api/accounts", bad[i]);
		g_auto(GStrv) names = mdir_account_list(fx->web->store);

		g_test_message("%s", bad[i]);
		g_assert_cmpuint(page.status, ==, 303);
		g_assert_cmpstr(page.location, ==, "/accounts");
		{
			g_auto(Reply) shown = request(fx, "GET", "/accounts", NULL);

			g_assert_nonnull(strstr(shown.body, "<p class=error role=status>"));
		}
		g_assert_cmpuint(api.status, ==, 400);
		g_assert_nonnull(strstr(api.body, "\"error\""));
		g_assert_cmpuint(g_strv_length(names), ==, 1);
		g_assert_cmpstr(names[0], ==, "jo@example.test");
	}
	{
		/* the forward's folder is made only once its rule parsed */
		g_autofree char *f = g_build_filename(accounts, "f@example.test", NULL);

		g_assert_false(g_file_test(f, G_FILE_TEST_EXISTS));
	}
	{
		/* and without the CSRF token, nothing either */
		g_auto(Reply) r = request(fx, "POST", "/api/accounts",
		    "action=add&address=new%40example.test");

		g_assert_cmpuint(r.status, ==, 403);
		g_assert_false(account_exists(fx, "new@example.test"));
	}
}

/* A file in @folder (made) named @name holding @text, with @fields. */
static void
add_entry(Fx *fx, const char *folder, const char *name, const char *text,
    const char *const *fields)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(MdirFolder) f = mdir_folder_open(fx->web->store, folder, MDIR_FOLDER_CREATE,
	    &e);
	g_autoptr(MdirRecord) rec = mdir_record_new();
	g_autofree char *src = test_write_tmp("src", text);
	g_autofree char *used = NULL;

	g_assert_no_error(e);
	for (const char *const *p = fields; p && *p; p += 2)
		mdir_record_set(rec, p[0], p[1]);
	used = mdir_folder_add(f, src, rec, name, NULL, &e);
	g_assert_no_error(e);
	g_assert_cmpstr(used, ==, name);
}

/* An empty entry downloads as an empty body (libsoup 3.2 takes no empty chunk). */
static void
test_download_empty(Fx *fx, gconstpointer data)
{
	g_auto(Reply) r = { 0 };

	(void)data;
	add_entry(fx, "Box", "empty.bin", "", NULL);
	login(fx);
	r = request(fx, "GET", "/folders/download?path=Box&name=empty.bin", NULL);
	g_assert_cmpuint(r.status, ==, 200);
	g_assert_cmpstr(r.body ? r.body : "", ==, "");
}

static void
test_folders(Fx *fx, gconstpointer data)
{
	const char *fields[] = { "content-type", "application/pdf", "subject", "Größe", NULL };
	const char *bytes = "%PDF-1.4\n\x01\x02 binary \xff\n";

	(void)data;
	add_entry(fx, "SMTP/Accounts/jo@example.test", "Bericht über 2026.pdf", bytes, fields);
	add_entry(fx, "SMTP/Accounts/jo@example.test", "second.txt", "two", NULL);
	login(fx);
	{
		g_auto(Reply) r = request(fx, "GET", "/folders?path=SMTP/Accounts/jo%40example.test",
		    NULL);

		g_assert_cmpuint(r.status, ==, 200);
		g_assert_nonnull(strstr(r.body, ">Bericht über 2026.pdf</a>"));
		g_assert_nonnull(strstr(r.body, "version 2"));
	}
	{
		SoupMessageHeaders *h;
		g_autofree char *url = g_strconcat(fx->base, "/folders/download?path=SMTP/"
		    "Accounts/jo%40example.test&name=Bericht%20%C3%BCber%202026.pdf", NULL);
		g_autoptr(SoupMessage) msg = soup_message_new("GET", url);
		g_autoptr(GBytes) body = NULL;
		g_autoptr(GError) e = NULL;

		soup_message_headers_append(soup_message_get_request_headers(msg), "Cookie",
		    fx->cookie);
		body = soup_session_send_and_read(fx->session, msg, NULL, &e);
		g_assert_no_error(e);
		g_assert_cmpuint(soup_message_get_status(msg), ==, 200);
		g_assert_cmpmem(g_bytes_get_data(body, NULL), g_bytes_get_size(body), bytes,
		    strlen(bytes));
		h = soup_message_get_response_headers(msg);
		g_assert_cmpstr(soup_message_headers_get_one(h, "Content-Disposition"), ==,
		    "attachment; filename=\"Bericht __ber 2026.pdf\"; "
		    "filename*=UTF-8''Bericht%20%C3%BCber%202026.pdf");
		g_assert_cmpstr(soup_message_headers_get_content_type(h, NULL), ==,
		    "application/pdf");
	}
	{
		g_auto(Reply) r = request(fx, "GET", "/api/folders/entry?path=SMTP/Accounts/"
		    "jo%40example.test&name=Bericht%20%C3%BCber%202026.pdf", NULL);

		g_assert_cmpuint(r.status, ==, 200);
		g_assert_nonnull(strstr(r.body, "\"Größe\""));
	}
	{
		g_auto(Reply) r = request(fx, "GET", "/api/folders/changes?path=SMTP/Accounts/"
		    "jo%40example.test&since=1", NULL);

		g_assert_cmpuint(r.status, ==, 200);
		g_assert_null(strstr(r.body, "Bericht"));
		g_assert_nonnull(strstr(r.body, "\"name\" : \"second.txt\""));
	}
}

/* Nothing outside the root, nothing of the store's own, by any spelling. */
static void
test_folders_escape(Fx *fx, gconstpointer data)
{
	g_autofree char *outside = g_build_filename(test_dir(), "secret", NULL);
	g_autofree char *outdir = g_build_filename(test_dir(), "elsewhere", NULL);
	g_autofree char *link = NULL;
	g_autofree char *dirlink = NULL;
	g_autofree char *meta = NULL;
	const char *bad[] = {
		"/api/folders?path=..",
		"/api/folders?path=../..",
		"/api/folders?path=%2e%2e%2f%2e%2e",
		"/api/folders?path=SMTP/%2E%2E/..",
		"/api/folders?path=.mstore",
		"/api/folders?path=SMTP/Accounts/jo%40example.test/.meta",
		"/api/folders?path=%2Fetc",
		"/api/folders?path=SMTP//Accounts",
		"/api/folders/entry?path=SMTP/Accounts/jo%40example.test&name=..%2F..%2F.web%2Fusers",
		"/api/folders/entry?path=SMTP/Accounts/jo%40example.test&name=.rules",
		"/folders/download?path=SMTP/Accounts/jo%40example.test&name=..%2Fjo%40example.test",
		"/folders/download?path=SMTP/Accounts/jo%40example.test&name=.%2Fx",
		"/folders/download?path=SMTP/..&name=x",
	};

	(void)data;
	add_entry(fx, "SMTP/Accounts/jo@example.test", "ok.txt", "ok", NULL);
	g_assert_true(g_file_set_contents(outside, "secret", -1, NULL));
	g_assert_cmpint(g_mkdir_with_parents(outdir, 0700), ==, 0);
	/* a group member's links: an entry to a file outside, a mount to a directory outside */
	link = g_build_filename(mdir_store_root(fx->web->store), "SMTP/Accounts/jo@example.test",
	    "leak.txt", NULL);
	g_assert_cmpint(symlink(outside, link), ==, 0);
	/* with a record, so that only the link itself stands in the way */
	meta = g_build_filename(mdir_store_root(fx->web->store), "SMTP/Accounts/jo@example.test",
	    ".meta", "leak.txt", NULL);
	g_assert_true(g_file_set_contents(meta, "content-type: text/plain\n", -1, NULL));
	dirlink = g_build_filename(mdir_store_root(fx->web->store), "SMTP/out", NULL);
	g_assert_cmpint(symlink(outdir, dirlink), ==, 0);
	login(fx);
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_auto(Reply) r = request(fx, "GET", bad[i], NULL);

		g_test_message("%s: %u", bad[i], r.status);
		g_assert_cmpuint(r.status, >=, 400);
		g_assert_cmpuint(r.status, <, 500);
		g_assert_null(strstr(r.body, "secret"));
		g_assert_null(strstr(r.body, "$y$"));
	}
	{
		g_auto(Reply) r = request(fx, "GET", "/folders/download?path=SMTP/Accounts/"
		    "jo%40example.test&name=leak.txt", NULL);

		g_assert_cmpuint(r.status, ==, 403);
		g_assert_null(strstr(r.body, "secret"));
	}
	{
		g_auto(Reply) r = request(fx, "GET", "/api/folders?path=SMTP/out", NULL);

		g_assert_cmpuint(r.status, ==, 403);
	}
	{
		g_auto(Reply) r = request(fx, "GET", "/folders/download?path=SMTP/Accounts/"
		    "jo%40example.test&name=ok.txt", NULL);

		g_assert_cmpuint(r.status, ==, 200);
		g_assert_cmpstr(r.body, ==, "ok");
	}
}

static void
test_queue(Fx *fx, gconstpointer data)
{
	const char *retry[] = { "subject", "Hello", "outbox-attempts", "2", "outbox-next-try",
		"2026-12-03T10:00:00Z", "outbox-last-result", "451 try later", NULL };
	const char *failed[] = { "subject", "Bye", "outbox-failed-at", "2026-12-03T09:00:00Z",
		"outbox-failure", "sendmail exit 67: no such user", NULL };
	g_autofree char *hold = NULL;
	g_autofree char *fdir = NULL;

	(void)data;
	add_entry(fx, "SMTP/Accounts/jo@example.test/Outbox", "hello.eml", "x", retry);
	add_entry(fx, "SMTP/Outbox", "new.eml", "y", NULL);
	add_entry(fx, "SMTP/Failed", "bye.eml", "z", failed);
	hold = g_build_filename(mdir_store_root(fx->web->store), "Users/Jo/Lists/.hold", NULL);
	g_assert_cmpint(g_mkdir_with_parents(hold, 0700), ==, 0);
	fdir = g_build_filename(mdir_store_root(fx->web->store), ".mdird/failed/batch-1", NULL);
	g_assert_cmpint(g_mkdir_with_parents(fdir, 0700), ==, 0);
	login(fx);
	{
		g_auto(Reply) r = request(fx, "GET", "/api/queue", NULL);

		g_assert_cmpuint(r.status, ==, 200);
		/* no mdird in this test: said, not waited for */
		g_assert_nonnull(strstr(r.body, "\"mdird\" : null"));
		g_assert_nonnull(strstr(r.body, "\"Users/Jo/Lists\""));
		g_assert_nonnull(strstr(r.body, "\"batch-1\""));
		g_assert_nonnull(strstr(r.body, "\"state\" : \"retrying\""));
		g_assert_nonnull(strstr(r.body, "\"next_try\" : \"2026-12-03T10:00:00Z\""));
		g_assert_nonnull(strstr(r.body, "\"last_result\" : \"451 try later\""));
		g_assert_nonnull(strstr(r.body, "\"state\" : \"waiting\""));
		g_assert_nonnull(strstr(r.body, "\"reason\" : \"sendmail exit 67: no such user\""));
	}
	{
		g_auto(Reply) r = request(fx, "GET", "/queue", NULL);

		g_assert_cmpuint(r.status, ==, 200);
		g_assert_nonnull(strstr(r.body, "mdird does not answer"));
		g_assert_nonnull(strstr(r.body, "<td>retrying</td>"));
	}
}

static void
test_policy(Fx *fx, gconstpointer data)
{
	const char *bad[] = {
		"action=blacklist-add&a=not-an-ip&b=1h",
		"action=blacklist-add&a=192.0.2.9&b=soon",
		"action=whitelist-add&a=net&b=198.51.0.0%2F16",
		"action=whitelist-add&a=net&b=nonsense",
		"action=whitelist-add&a=domain&b=x%40y",
		"action=whitelist-add&a=user&b=example.org",
		"action=drop-tables&a=x",
	};
	g_autofree char *before = NULL;

	(void)data;
	login(fx);
	{
		g_auto(Reply) r = post_account(fx, "/policy",
		    "action=blacklist-add&a=203.0.113.9&b=2h");

		g_assert_cmpuint(r.status, ==, 303);
		g_assert_cmpstr(r.location, ==, "/policy");
	}
	{
		g_auto(Reply) r = post_account(fx, "/api/policy",
		    "action=whitelist-add&a=net&b=198.51.100.7");

		g_assert_cmpuint(r.status, ==, 200);
		g_assert_nonnull(strstr(r.body, "198.51.100.0/24 whitelisted"));
	}
	{
		g_auto(Reply) r = request(fx, "GET", "/api/policy", NULL);

		g_assert_cmpuint(r.status, ==, 200);
		g_assert_nonnull(strstr(r.body, "\"ip\" : \"203.0.113.9\""));
		g_assert_nonnull(strstr(r.body, "\"value\" : \"198.51.100.0/24\""));
		before = g_strdup(r.body);
	}
	for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_auto(Reply) page = post_account(fx, "/policy", bad[i]);
		g_auto(Reply) api = post_account(fx, "/api/policy", bad[i]);
		g_auto(Reply) now = request(fx, "GET", "/api/policy", NULL);

		g_test_message("%s", bad[i]);
		g_assert_cmpstr(page.location, ==, "/policy");
		g_assert_cmpuint(api.status, ==, 400);
		g_assert_cmpstr(now.body, ==, before);
	}
	{
		g_auto(Reply) r = post_account(fx, "/api/policy", "action=blacklist-del&a=203.0.113.9");
		g_auto(Reply) now = request(fx, "GET", "/api/policy", NULL);

		g_assert_cmpuint(r.status, ==, 200);
		g_assert_null(strstr(now.body, "203.0.113.9"));
	}
}

/* What a client sends ends up as one value of one log line. */
static void
test_loggable(void)
{
	g_autofree char *a = web_loggable("x\nuser=admin action=forged");
	g_autofree char *b = web_loggable("Jörg\\");
	g_autofree char *c = web_loggable(NULL);

	g_assert_cmpstr(a, ==, "x\\x0auser=admin\\x20action=forged");
	g_assert_cmpstr(b, ==, "Jörg\\x5c");
	g_assert_cmpstr(c, ==, "");
}

#define ADD(path, func, conf) \
	g_test_add(path, Fx, conf, fx_up, func, fx_down)

int
main(int argc, char **argv)
{
	/* GIO's proxy resolver from GNOME's settings would need their schemas */
	g_setenv("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	mdir_log_set_level(LOG_CRIT); /* the failed logins are expected */
	g_test_add_func("/web/access/loggable", test_loggable);
	ADD("/web/access/login-required", test_login_required, NULL);
	ADD("/web/access/cookie", test_login_cookie, NULL);
	ADD("/web/access/secure-cookie", test_secure_cookie, "[web]\nsecure_cookies = true\n");
	ADD("/web/access/csrf", test_csrf, NULL);
	ADD("/web/access/rate-limit", test_rate_limit, NULL);
	ADD("/web/access/rate-limit-proxy", test_rate_limit_proxy, NULL);
	ADD("/web/access/passwd-file", test_passwd_file, NULL);
	ADD("/web/access/listen-remote", test_listen_remote, NULL);
	ADD("/web/today", test_today, NULL);
	ADD("/web/today/spam", test_today_spam, NULL);
	ADD("/web/today/null-decision", test_today_null_decision, NULL);
	ADD("/web/access/body-limit", test_body_limit, NULL);
	ADD("/web/access/reset-before-accept", test_reset_before_accept, NULL);
	ADD("/web/accounts/change", test_accounts, NULL);
	ADD("/web/accounts/bad-input", test_accounts_bad, NULL);
	ADD("/web/folders/browse", test_folders, NULL);
	ADD("/web/folders/download-empty", test_download_empty, NULL);
	ADD("/web/folders/escape", test_folders_escape, NULL);
	ADD("/web/queue", test_queue, NULL);
	ADD("/web/policy", test_policy, NULL);
	return g_test_run();
}
