/*
 * serve.c: the policy service's sockets: a Unix socket or a TCP port on
 * the loopback, many clients at once, several requests a connection, each
 * request "name=value" lines ending with an empty line, each answer
 * "action=..." and an empty line (SMTPD_POLICY_README).
 *
 * One thread, one SQLite connection: requests are answered in turn from
 * the main loop, writes are grouped in a transaction committed every 50 ms
 * (a crash loses at most that much greylisting state, never mail), old
 * greylist entries go a hundred a second, and the events the other
 * programs record are imported every few seconds.
 */
#include <errno.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>

#include "stats.h"

#define MAX_ATTRS 100
#define MAX_LINE 4096
/* answers waiting for a client that does not read: past this, stop reading */
#define MAX_PENDING 65536
/* a client that takes no answer for this long is dropped (Postfix's own
 * smtpd_policy_service_timeout is 100 s) */
#define WRITE_TIMEOUT_S 100

typedef struct {
	Stats *stats;
	gboolean is_unix;
	uid_t peer_uid;	     /* besides root and ourselves; (uid_t)-1: none */
	guint max;	     /* connections at most */
	GHashTable *clients; /* the open ones */
	gint64 last_full_log;
} Server;

typedef struct {
	Server *srv;
	Stats *stats;
	GInputStream *in;
	GOutputStream *out;
	GSocketConnection *conn;
	GCancellable *cancel;
	GHashTable *attrs;
	GString *buf;	  /* read, not yet parsed */
	GString *replies; /* answers not yet handed to a write */
	GString *sending; /* the answers of the write in flight */
	char chunk[16384];
	guint n;
	guint refs;	   /* the connection's own, and one per operation in flight */
	guint timer;	   /* the write time-out */
	gboolean reading;  /* a read in flight */
	gboolean closed;
	gboolean bad; /* this request had a malformed line */
} Client;

static void client_read(Client *c);
static void client_write(Client *c);

static Client *
client_ref(Client *c)
{
	c->refs++;
	return c;
}

static void
client_unref(Client *c)
{
	if (--c->refs > 0)
		return;
	g_object_unref(c->cancel);
	g_object_unref(c->conn);
	g_hash_table_unref(c->attrs);
	g_string_free(c->buf, TRUE);
	g_string_free(c->replies, TRUE);
	g_string_free(c->sending, TRUE);
	g_free(c);
}

/* Ends the connection; the operations in flight end cancelled. */
static void
client_close(Client *c)
{
	if (c->closed)
		return;
	c->closed = TRUE;
	g_hash_table_remove(c->srv->clients, c);
	if (c->timer)
		g_source_remove(c->timer);
	c->timer = 0;
	g_cancellable_cancel(c->cancel);
	g_io_stream_close(G_IO_STREAM(c->conn), NULL, NULL);
	client_unref(c);
}

/* The first word of an action, and what it was decided for. */
static void
log_decision(GHashTable *attrs, const char *action, const char *decision)
{
	const char *sp = strchr(action, ' ');
	g_autofree char *word = sp ? g_strndup(action, sp - action) : g_strdup(action);
	const char *text = sp ? sp + 1 : "";

	/* Postfix's own style: key=value, the free text last */
	mdir_log(LOG_INFO, "policy: client=%s from=<%s> to=<%s> decision=%s action=%s text=%s",
	    (char *)g_hash_table_lookup(attrs, "client_address") ?: "unknown",
	    (char *)g_hash_table_lookup(attrs, "sender") ?: "",
	    (char *)g_hash_table_lookup(attrs, "recipient") ?: "", decision, word, text);
}

static void
answer(Client *c)
{
	g_autofree char *action = NULL;
	const char *decision = POLICY_IGNORED;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	if (c->bad || g_strcmp0(g_hash_table_lookup(c->attrs, "request"),
			  "smtpd_access_policy") != 0) {
		mdir_log(LOG_WARNING, "policy: a malformed request; DUNNO");
		action = g_strdup("DUNNO");
	} else {
		stats_begin(c->stats);
		action = policy_decide(c->stats, c->attrs, now, &decision);
		policy_count(c->stats, decision, g_hash_table_lookup(c->attrs, "client_address"),
		    now);
		if (strcmp(action, "DUNNO") != 0)
			log_decision(c->attrs, action, decision);
	}
	g_string_append_printf(c->replies, "action=%s\n\n", action);
	g_hash_table_remove_all(c->attrs);
	c->n = 0;
	c->bad = FALSE;
}

/* Every whole line in the buffer: attributes, and an answer at each blank. */
static void
parse(Client *c)
{
	char *nl;

	while ((nl = memchr(c->buf->str, '\n', c->buf->len)) != NULL) {
		gsize len = nl - c->buf->str;
		gsize used = len + 1;
		char *line = c->buf->str;
		char *eq;

		*nl = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (len == 0)
			answer(c);
		else if ((eq = strchr(line, '=')) == NULL || len > MAX_LINE || ++c->n > MAX_ATTRS)
			c->bad = TRUE;
		else {
			*eq = '\0';
			g_hash_table_replace(c->attrs, g_strdup(line), g_strdup(eq + 1));
		}
		g_string_erase(c->buf, 0, used);
	}
	if (c->buf->len > MAX_LINE) { /* a line that never ends */
		c->bad = TRUE;
		g_string_truncate(c->buf, 0);
	}
}

static gboolean
write_timed_out(gpointer data)
{
	Client *c = data;

	c->timer = 0;
	mdir_log(LOG_WARNING, "policy: a client took no answer for %d s; dropped", WRITE_TIMEOUT_S);
	client_close(c);
	return G_SOURCE_REMOVE;
}

static void
wrote(GObject *src, GAsyncResult *res, gpointer data)
{
	Client *c = data;
	gsize n = 0;
	gboolean ok = g_output_stream_write_all_finish(G_OUTPUT_STREAM(src), res, &n, NULL);

	g_string_truncate(c->sending, 0);
	if (c->timer)
		g_source_remove(c->timer);
	c->timer = 0;
	if (!c->closed && !ok) {
		mdir_log(LOG_DEBUG, "policy: client gone before its answer");
		client_close(c);
	}
	if (!c->closed) {
		client_write(c);
		client_read(c);
	}
	client_unref(c);
}

/*
 * Sends the pending answers without blocking: what the socket takes now
 * goes at once (the usual case, no round through the main loop), the rest
 * in one asynchronous write.  A client that never reads fills its socket
 * buffer and then only its own queue, never stalling the loop that
 * answers everyone else.
 */
static void
client_write(Client *c)
{
	g_autoptr(GError) e = NULL;
	GString *t;
	gssize n;

	if (c->closed || c->sending->len > 0 || c->replies->len == 0)
		return;
	n = g_pollable_output_stream_write_nonblocking(G_POLLABLE_OUTPUT_STREAM(c->out),
	    c->replies->str, c->replies->len, NULL, &e);
	if (n < 0 && !g_error_matches(e, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK)) {
		mdir_log(LOG_DEBUG, "policy: client gone before its answer: %s", e->message);
		client_close(c);
		return;
	}
	if (n > 0)
		g_string_erase(c->replies, 0, n);
	if (c->replies->len == 0)
		return;
	t = c->sending;
	c->sending = c->replies;
	c->replies = t;
	c->timer = g_timeout_add_seconds(WRITE_TIMEOUT_S, write_timed_out, c);
	g_output_stream_write_all_async(c->out, c->sending->str, c->sending->len,
	    G_PRIORITY_DEFAULT, c->cancel, wrote, client_ref(c));
}

static void
got_chunk(GObject *src, GAsyncResult *res, gpointer data)
{
	Client *c = data;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(src), res, NULL);

	c->reading = FALSE;
	if (!c->closed && n <= 0)
		client_close(c);
	if (!c->closed) {
		g_string_append_len(c->buf, c->chunk, n);
		parse(c);
		client_write(c);
		client_read(c);
	}
	client_unref(c);
}

/* Reads on while the answers waiting for the client stay bounded. */
static void
client_read(Client *c)
{
	if (c->closed || c->reading || c->replies->len + c->sending->len > MAX_PENDING)
		return;
	c->reading = TRUE;
	g_input_stream_read_async(c->in, c->chunk, sizeof(c->chunk), G_PRIORITY_DEFAULT,
	    c->cancel, got_chunk, client_ref(c));
}

/* On a Unix socket, only root, ourselves and Postfix's user may ask. */
static gboolean
peer_allowed(Server *srv, GSocketConnection *conn)
{
	g_autoptr(GCredentials) cred = NULL;
	g_autoptr(GError) e = NULL;
	uid_t uid;

	if (!srv->is_unix)
		return TRUE;
	cred = g_socket_get_credentials(g_socket_connection_get_socket(conn), &e);
	if (cred == NULL) {
		mdir_log(LOG_WARNING, "policy: refused a client: %s", e->message);
		return FALSE;
	}
	uid = g_credentials_get_unix_user(cred, NULL);
	if (uid == 0 || uid == geteuid() || uid == srv->peer_uid)
		return TRUE;
	mdir_log(LOG_WARNING, "policy: refused a client with uid %u: not [stats] policy_user",
	    (unsigned)uid);
	return FALSE;
}

static gboolean
on_incoming(GSocketService *svc, GSocketConnection *conn, GObject *src, gpointer data)
{
	Server *srv = data;
	gint64 now = g_get_monotonic_time();
	Client *c;

	(void)svc;
	(void)src;
	if (g_hash_table_size(srv->clients) >= srv->max) {
		/* Postfix then answers its default_action: never a stall */
		if (now - srv->last_full_log > 60 * G_USEC_PER_SEC) {
			mdir_log(LOG_WARNING, "policy: %u connections, the most allowed"
					      " ([stats] policy_max_connections); refusing more", srv->max);
			srv->last_full_log = now;
		}
		g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
		return TRUE;
	}
	if (!peer_allowed(srv, conn)) {
		g_io_stream_close(G_IO_STREAM(conn), NULL, NULL);
		return TRUE;
	}
	c = g_new0(Client, 1);
	c->refs = 1;
	c->stats = srv->stats;
	c->srv = srv;
	g_hash_table_add(srv->clients, c);
	c->conn = g_object_ref(conn);
	c->cancel = g_cancellable_new();
	c->in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
	c->out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
	c->attrs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	c->buf = g_string_new(NULL);
	c->replies = g_string_new(NULL);
	c->sending = g_string_new(NULL);
	client_read(c);
	return TRUE;
}

static gboolean
tick_commit(gpointer data)
{
	stats_commit(data);
	return G_SOURCE_CONTINUE;
}

static gboolean
tick_expire(gpointer data)
{
	Stats *s = data;

	stats_begin(s);
	policy_expire(s, g_get_real_time() / G_USEC_PER_SEC, 100);
	return G_SOURCE_CONTINUE;
}

static gboolean
tick_import(gpointer data)
{
	g_autoptr(GError) e = NULL;

	if (stats_import(data, &e) < 0)
		mdir_log(LOG_WARNING, "importing events: %s", e->message);
	return G_SOURCE_CONTINUE;
}

static gboolean
on_term(gpointer data)
{
	g_main_loop_quit(data);
	return G_SOURCE_REMOVE;
}

/* "unix:PATH" or "inet:127.0.0.1:PORT" (loopback only) into an address. */
static GSocketAddress *
listen_address(const char *spec, char **unix_path, GError **error)
{
	if (g_str_has_prefix(spec, "unix:")) {
		*unix_path = g_strdup(spec + 5);
		return g_unix_socket_address_new(spec + 5);
	}
	if (g_str_has_prefix(spec, "inet:")) {
		const char *colon = strrchr(spec + 5, ':');
		g_autofree char *host = colon ? g_strndup(spec + 5, colon - spec - 5) : NULL;
		g_autoptr(GInetAddress) a = host ? g_inet_address_new_from_string(host) : NULL;

		if (a && g_inet_address_get_is_loopback(a))
			return g_inet_socket_address_new(a, (guint16)g_ascii_strtoull(colon + 1, NULL,
			    10));
	}
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
	    "[stats] policy_listen: \"%s\" is not unix:PATH or inet:127.0.0.1:PORT", spec);
	return NULL;
}

/*
 * The socket file: mode 0660, group Postfix's, so that only Postfix's
 * smtpd (and root, and us) can reach it; SO_PEERCRED then checks who did.
 */
static void
give_socket(const char *path, const struct passwd *pw)
{
	if (chmod(path, 0660) < 0)
		mdir_log(LOG_WARNING, "policy: %s: %s", path, g_strerror(errno));
	if (pw && chown(path, (uid_t)-1, pw->pw_gid) < 0 && pw->pw_gid != getegid())
		mdir_log(LOG_WARNING, "policy: %s: cannot give it to group %u of %s: %s; Postfix"
				      " cannot connect unless this user is in that group",
		    path, (unsigned)pw->pw_gid, pw->pw_name, g_strerror(errno));
}

/* Closes every client and lets their cancelled operations end. */
static void
close_all(Server *srv)
{
	GHashTableIter it;
	gpointer c;
	gint64 until = g_get_monotonic_time() + G_USEC_PER_SEC;

	for (;;) {
		g_hash_table_iter_init(&it, srv->clients);
		if (!g_hash_table_iter_next(&it, &c, NULL))
			break;
		client_close(c);
	}
	while (g_main_context_pending(NULL) && g_get_monotonic_time() < until)
		g_main_context_iteration(NULL, FALSE);
}

int
policy_serve(Stats *s, GError **error)
{
	const char *spec = mdir_config_get(s->config, "stats", "policy_listen");
	const char *user = mdir_config_get(s->config, "stats", "policy_user");
	struct passwd *pw = user && *user ? getpwnam(user) : NULL;
	g_autofree char *path = NULL;
	g_autoptr(GSocketAddress) addr = listen_address(spec, &path, error);
	g_autoptr(GSocketService) svc = NULL;
	g_autoptr(GMainLoop) loop = NULL;
	g_autoptr(GHashTable) clients = g_hash_table_new(NULL, NULL);
	Server srv = { .stats = s, .is_unix = path != NULL, .clients = clients,
		.peer_uid = pw ? pw->pw_uid : (uid_t)-1,
		.max = (guint)MAX(1, mdir_config_get_int(s->config, "stats", "policy_max_connections")) };
	mode_t old;
	gboolean ok;

	if (addr == NULL)
		return -1;
	if (path) {
		g_autofree char *dir = g_path_get_dirname(path);

		if (pw == NULL)
			mdir_log(LOG_WARNING, "policy: [stats] policy_user %s: no such user; only"
					      " root and uid %u may ask", user, (unsigned)geteuid());
		g_mkdir_with_parents(dir, 0770);
		unlink(path); /* a dead server's */
	}
	svc = g_socket_service_new();
	/* no moment when the socket is open to all: made 0600, then opened up */
	old = umask(0177);
	ok = g_socket_listener_add_address(G_SOCKET_LISTENER(svc), addr, G_SOCKET_TYPE_STREAM,
	    G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, error);
	umask(old);
	if (!ok)
		return -1;
	if (path)
		give_socket(path, pw);
	loop = g_main_loop_new(NULL, FALSE);
	g_signal_connect(svc, "incoming", G_CALLBACK(on_incoming), &srv);
	g_timeout_add(50, tick_commit, s);
	g_timeout_add(1000, tick_expire, s);
	g_timeout_add(5000, tick_import, s);
	g_unix_signal_add(SIGTERM, on_term, loop);
	g_unix_signal_add(SIGINT, on_term, loop);
	tick_import(s);
	mdir_log(LOG_INFO, "policy service on %s", spec);
	g_socket_service_start(svc);
	g_main_loop_run(loop);
	g_socket_service_stop(svc);
	close_all(&srv);
	stats_commit(s);
	if (path)
		unlink(path);
	return 0;
}
