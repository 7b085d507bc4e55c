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

typedef struct {
	Stats *stats;
	GInputStream *in;
	GOutputStream *out;
	GSocketConnection *conn;
	GHashTable *attrs;
	GString *buf;	  /* read, not yet parsed */
	GString *replies; /* answers to write, one write a read */
	char chunk[16384];
	guint n;
	gboolean bad; /* this request had a malformed line */
} Client;

static void client_read(Client *c);

static void
client_free(Client *c)
{
	g_object_unref(c->conn);
	g_hash_table_unref(c->attrs);
	g_string_free(c->buf, TRUE);
	g_string_free(c->replies, TRUE);
	g_free(c);
}

static void
answer(Client *c)
{
	g_autofree char *action = NULL;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	if (c->bad || g_strcmp0(g_hash_table_lookup(c->attrs, "request"),
			  "smtpd_access_policy") != 0) {
		mdir_log(LOG_WARNING, "policy: a malformed request; DUNNO");
		action = g_strdup("DUNNO");
	} else {
		stats_begin(c->stats);
		action = policy_decide(c->stats, c->attrs, now);
		policy_count(c->stats, action, g_hash_table_lookup(c->attrs, "client_address"), now);
		mdir_log(LOG_DEBUG, "policy: %s from=<%s> to=<%s>: %s",
		    (char *)g_hash_table_lookup(c->attrs, "client_address"),
		    (char *)g_hash_table_lookup(c->attrs, "sender"),
		    (char *)g_hash_table_lookup(c->attrs, "recipient"), action);
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

static void
got_chunk(GObject *src, GAsyncResult *res, gpointer data)
{
	Client *c = data;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(src), res, NULL);

	if (n <= 0) {
		client_free(c);
		return;
	}
	g_string_append_len(c->buf, c->chunk, n);
	parse(c);
	/* the answers go back in one write; smtpd waits for them, so a
	 * blocking write of a few hundred bytes does not stall the loop */
	if (c->replies->len > 0 &&
	    !g_output_stream_write_all(c->out, c->replies->str, c->replies->len, NULL, NULL,
		NULL)) {
		mdir_log(LOG_DEBUG, "policy: client gone before its answer");
		client_free(c);
		return;
	}
	g_string_truncate(c->replies, 0);
	client_read(c);
}

static void
client_read(Client *c)
{
	g_input_stream_read_async(c->in, c->chunk, sizeof(c->chunk), G_PRIORITY_DEFAULT, NULL,
	    got_chunk, c);
}

static gboolean
on_incoming(GSocketService *svc, GSocketConnection *conn, GObject *src, gpointer data)
{
	Client *c = g_new0(Client, 1);

	(void)svc;
	(void)src;
	c->stats = data;
	c->conn = g_object_ref(conn);
	c->in = g_io_stream_get_input_stream(G_IO_STREAM(conn));
	c->out = g_io_stream_get_output_stream(G_IO_STREAM(conn));
	c->attrs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	c->buf = g_string_new(NULL);
	c->replies = g_string_new(NULL);
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

int
policy_serve(Stats *s, GError **error)
{
	const char *spec = mdir_config_get(s->config, "stats", "policy_listen");
	g_autofree char *path = NULL;
	g_autoptr(GSocketAddress) addr = listen_address(spec, &path, error);
	g_autoptr(GSocketService) svc = NULL;
	g_autoptr(GMainLoop) loop = NULL;
	mode_t old;
	gboolean ok;

	if (addr == NULL)
		return -1;
	if (path) {
		g_autofree char *dir = g_path_get_dirname(path);

		g_mkdir_with_parents(dir, 0770);
		unlink(path); /* a dead server's */
	}
	svc = g_socket_service_new();
	old = umask(0111);
	ok = g_socket_listener_add_address(G_SOCKET_LISTENER(svc), addr, G_SOCKET_TYPE_STREAM,
	    G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, error);
	umask(old);
	if (!ok)
		return -1;
	/* mode 0666: Postfix's smtpd runs as postfix; who may reach it is the
	 * directory's business (smtp-stats(1)) */
	loop = g_main_loop_new(NULL, FALSE);
	g_signal_connect(svc, "incoming", G_CALLBACK(on_incoming), s);
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
	stats_commit(s);
	if (path)
		unlink(path);
	return 0;
}
