/*
 * serve.c: the policy service's sockets: a Unix socket or a TCP port on
 * the loopback, many clients at once, several requests a connection, each
 * request "name=value" lines ending with an empty line, each answer
 * "action=..." and an empty line (SMTPD_POLICY_README).
 *
 * A few worker threads, one for two processors, each waiting on its own
 * connections with epoll and answering each request as soon as it is
 * whole: under load one wake-up serves every connection that is ready.
 * The main loop accepts (up to policy_max_connections, each to the worker
 * with the fewest) and runs the periodic jobs.  One SQLite connection,
 * taken in turn under a lock by the decisions and the jobs: writes are
 * grouped in a transaction committed every 50 ms (a crash loses at most
 * that much greylisting state, never mail), the WAL copied back into the
 * database after the commit by a second connection, outside the lock (in
 * the commit, SQLite's own checkpoint held every decision up for its
 * flushes), old greylist entries go a hundred a second, and the events the other programs record are
 * imported every few seconds.  (One thread answering from a GLib main
 * loop spent 70% of its time being woken and polling, and used one core
 * of two; a thread a connection with blocking reads woke a thread a
 * request: 10-20% fewer requests a second than this, and a longer tail.)
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
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

/* worker threads: one for two processors, within these (the decisions
 * take turns on the database, and the clients need processors too: on 2
 * processors one worker answered as many requests as two, with a p99 of
 * 0.8-1.5 ms instead of 2.8-4.3) */
#define MIN_WORKERS 1
#define MAX_WORKERS 4

typedef struct Server Server;

typedef struct {
	Server *srv;
	int ep;	     /* its connections' epoll set */
	int wake[2]; /* a byte here: the service stops */
	guint n;     /* its connections (under the server's lock) */
	GThread *thread;
} Worker;

struct Server {
	Stats *stats;
	GMutex db;	     /* the SQLite connection: decisions and the periodic jobs */
	GMutex lock;	     /* clients */
	GHashTable *clients; /* the open ones */
	Worker *workers;
	guint nworkers;
	gboolean is_unix;
	uid_t peer_uid; /* besides root and ourselves; (uid_t)-1: none */
	guint max;	/* connections at most */
	gint64 last_full_log;
};

typedef struct {
	Server *srv;
	Worker *w;
	GSocketConnection *conn;
	int fd;
	GHashTable *attrs;
	GString *buf;	  /* read, not yet parsed */
	GString *replies; /* answers not yet sent */
	gint64 until;	  /* answers waiting: dropped if none taken by then */
	guint32 events;	  /* what epoll waits for */
	guint n;
	gboolean bad; /* this request had a malformed line */
	gboolean eof; /* the client sent all it will */
} Client;

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

/*
 * One request's answer.  Decisions take turns on the one SQLite
 * connection, each in the write transaction the commit tick ends: the lock
 * is held for the decision alone, never while a client reads or writes.
 */
static void
answer(Client *c)
{
	Server *srv = c->srv;
	g_autofree char *action = NULL;
	const char *decision = POLICY_IGNORED;
	gint64 now = g_get_real_time() / G_USEC_PER_SEC;

	if (c->bad || g_strcmp0(g_hash_table_lookup(c->attrs, "request"),
			  "smtpd_access_policy") != 0) {
		mdir_log(LOG_WARNING, "policy: a malformed request; DUNNO");
		action = g_strdup("DUNNO");
	} else {
		g_mutex_lock(&srv->db);
		stats_begin(srv->stats);
		action = policy_decide(srv->stats, c->attrs, now, &decision);
		policy_count(srv->stats, decision, g_hash_table_lookup(c->attrs, "client_address"),
		    now);
		g_mutex_unlock(&srv->db);
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

/* Reads what the client sent, answering every whole request in it. */
static void
client_take(Client *c)
{
	char chunk[16384];
	ssize_t n;

	do
		n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
		c->eof = TRUE;
		return;
	}
	if (n > 0) {
		g_string_append_len(c->buf, chunk, n);
		parse(c);
	}
}

/* Sends what the socket takes; FALSE: the client is gone. */
static gboolean
client_send(Client *c)
{
	while (c->replies->len > 0) {
		ssize_t n = send(c->fd, c->replies->str, c->replies->len,
		    MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			g_string_erase(c->replies, 0, n);
			c->until = g_get_monotonic_time() + WRITE_TIMEOUT_S * G_USEC_PER_SEC;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return TRUE;
		mdir_log(LOG_DEBUG, "policy: client gone before its answer: %s", g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static void
client_end(Client *c)
{
	Server *srv = c->srv;

	g_mutex_lock(&srv->lock);
	g_hash_table_remove(srv->clients, c);
	if (c->w)
		c->w->n--;
	g_mutex_unlock(&srv->lock);
	if (c->w)
		epoll_ctl(c->w->ep, EPOLL_CTL_DEL, c->fd, NULL);
	g_io_stream_close(G_IO_STREAM(c->conn), NULL, NULL);
	g_object_unref(c->conn);
	g_hash_table_unref(c->attrs);
	g_string_free(c->buf, TRUE);
	g_string_free(c->replies, TRUE);
	g_free(c);
}

/*
 * A connection is ready: read, answer, send.  A client that does not take
 * its answers is not read from past MAX_PENDING, and waited for until
 * WRITE_TIMEOUT_S after its last progress.  FALSE: it is over.
 */
static gboolean
client_ready(Client *c, guint32 events)
{
	guint32 want;

	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->eof &&
	    c->replies->len < MAX_PENDING)
		client_take(c);
	if (c->replies->len > 0) {
		if (c->until == 0)
			c->until = g_get_monotonic_time() + WRITE_TIMEOUT_S * G_USEC_PER_SEC;
		if (!client_send(c))
			return FALSE;
	}
	if (c->replies->len == 0)
		c->until = 0;
	if (c->eof && c->replies->len == 0)
		return FALSE;
	want = (c->replies->len > 0 ? EPOLLOUT : 0) |
	    (!c->eof && c->replies->len < MAX_PENDING ? EPOLLIN : 0);
	if (want != c->events) {
		struct epoll_event ev = { .events = want, .data.ptr = c };

		c->events = want;
		epoll_ctl(c->w->ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
	return TRUE;
}

/* This worker's clients that took no answer in time: dropped. */
static gint
drop_late(Worker *w)
{
	Server *srv = w->srv;
	gint64 now = g_get_monotonic_time();
	gint64 next = G_MAXINT64;
	g_autoptr(GPtrArray) late = g_ptr_array_new();
	GHashTableIter it;
	gpointer p;

	g_mutex_lock(&srv->lock);
	g_hash_table_iter_init(&it, srv->clients);
	while (g_hash_table_iter_next(&it, &p, NULL)) {
		Client *c = p;

		if (c->w != w || c->until == 0)
			continue;
		if (c->until <= now)
			g_ptr_array_add(late, c);
		else
			next = MIN(next, c->until);
	}
	g_mutex_unlock(&srv->lock);
	for (guint i = 0; i < late->len; i++) {
		mdir_log(LOG_WARNING, "policy: a client took no answer for %d s; dropped",
		    WRITE_TIMEOUT_S);
		client_end(late->pdata[i]);
	}
	return next == G_MAXINT64 ? -1 : (gint)MIN((next - now) / 1000 + 1, G_MAXINT);
}

/* Ends the worker's connections (the service stops). */
static void
end_all(Worker *w)
{
	Server *srv = w->srv;
	g_autoptr(GPtrArray) mine = g_ptr_array_new();
	GHashTableIter it;
	gpointer p;

	g_mutex_lock(&srv->lock);
	g_hash_table_iter_init(&it, srv->clients);
	while (g_hash_table_iter_next(&it, &p, NULL))
		if (((Client *)p)->w == w)
			g_ptr_array_add(mine, p);
	g_mutex_unlock(&srv->lock);
	for (guint i = 0; i < mine->len; i++)
		client_end(mine->pdata[i]);
}

/*
 * A worker: its connections' requests as they come, each answered as soon
 * as its empty line is in.  Under load one wake-up serves every
 * connection that is ready, not one.
 */
static gpointer
worker_run(gpointer data)
{
	Worker *w = data;
	struct epoll_event ev[64];
	gint timeout = -1;

	for (;;) {
		int n = epoll_wait(w->ep, ev, G_N_ELEMENTS(ev), timeout);

		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr == NULL) {
				end_all(w);
				return NULL;
			}
			if (!client_ready(ev[i].data.ptr, ev[i].events))
				client_end(ev[i].data.ptr);
		}
		timeout = drop_late(w);
	}
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

/* Accepts in the main loop; a worker then serves the connection. */
static gboolean
on_incoming(GSocketService *svc, GSocketConnection *conn, GObject *src, gpointer data)
{
	Server *srv = data;
	gint64 now = g_get_monotonic_time();
	g_autoptr(GError) e = NULL;
	Client *c;
	guint n;

	(void)svc;
	(void)src;
	g_mutex_lock(&srv->lock);
	n = g_hash_table_size(srv->clients);
	g_mutex_unlock(&srv->lock);
	if (n >= srv->max) {
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
	c->srv = srv;
	c->conn = g_object_ref(conn);
	c->fd = g_socket_get_fd(g_socket_connection_get_socket(conn));
	c->attrs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	c->buf = g_string_new(NULL);
	c->replies = g_string_new(NULL);
	c->events = EPOLLIN;
	g_mutex_lock(&srv->lock);
	g_hash_table_add(srv->clients, c);
	c->w = &srv->workers[0]; /* the one with the fewest connections */
	for (guint i = 1; i < srv->nworkers; i++)
		if (srv->workers[i].n < c->w->n)
			c->w = &srv->workers[i];
	c->w->n++;
	g_mutex_unlock(&srv->lock);
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

		if (epoll_ctl(c->w->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			mdir_log(LOG_WARNING, "policy: refused a client: %s", g_strerror(errno));
			client_end(c);
		}
	}
	return TRUE;
}

/*
 * The periodic jobs take their turn on the database like a decision.  The
 * WAL's checkpoint, with its flushes, comes after the commit, outside the
 * lock, on its own connection: the decisions go on meanwhile.
 */
static gboolean
tick_commit(gpointer data)
{
	Server *srv = data;

	g_mutex_lock(&srv->db);
	stats_commit(srv->stats);
	g_mutex_unlock(&srv->db);
	stats_checkpoint(srv->stats);
	return G_SOURCE_CONTINUE;
}

static gboolean
tick_expire(gpointer data)
{
	Server *srv = data;

	g_mutex_lock(&srv->db);
	stats_begin(srv->stats);
	policy_expire(srv->stats, g_get_real_time() / G_USEC_PER_SEC, 100);
	g_mutex_unlock(&srv->db);
	return G_SOURCE_CONTINUE;
}

static gboolean
tick_import(gpointer data)
{
	Server *srv = data;
	g_autoptr(GError) e = NULL;
	gint n;

	g_mutex_lock(&srv->db);
	n = stats_import(srv->stats, &e);
	g_mutex_unlock(&srv->db);
	if (n < 0)
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

/* Stops the workers; each ends its connections. */
static void
close_all(Server *srv)
{
	for (guint i = 0; i < srv->nworkers; i++)
		if (srv->workers[i].thread && write(srv->workers[i].wake[1], "", 1) < 0)
			mdir_log(LOG_WARNING, "policy: %s", g_strerror(errno));
	for (guint i = 0; i < srv->nworkers; i++) {
		Worker *w = &srv->workers[i];

		if (w->srv == NULL) /* never started */
			break;
		if (w->thread)
			g_thread_join(w->thread);
		if (w->ep >= 0)
			close(w->ep);
		if (w->wake[0] >= 0)
			close(w->wake[0]);
		if (w->wake[1] >= 0)
			close(w->wake[1]);
	}
	g_free(srv->workers);
}

/* A worker, its epoll set and its thread. */
static gboolean
worker_start(Server *srv, Worker *w, GError **error)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

	w->srv = srv;
	w->wake[0] = w->wake[1] = -1;
	w->ep = epoll_create1(EPOLL_CLOEXEC);
	if (w->ep < 0 || !g_unix_open_pipe(w->wake, FD_CLOEXEC, error) ||
	    epoll_ctl(w->ep, EPOLL_CTL_ADD, w->wake[0], &ev) < 0) {
		if (error && *error == NULL)
			g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "epoll: %s", g_strerror(errno));
		return FALSE;
	}
	w->thread = g_thread_new("policy", worker_run, w);
	return TRUE;
}

/* The listening socket, the Unix socket's file made and given to Postfix. */
static GSocketService *
listen_on(const char *spec, const struct passwd *pw, const char *user, char **path,
    GError **error)
{
	g_autoptr(GSocketAddress) addr = listen_address(spec, path, error);
	g_autoptr(GSocketService) svc = NULL;
	mode_t old;
	gboolean ok;

	if (addr == NULL)
		return NULL;
	if (*path) {
		g_autofree char *dir = g_path_get_dirname(*path);

		if (pw == NULL)
			mdir_log(LOG_WARNING, "policy: [stats] policy_user %s: no such user; only"
					      " root and uid %u may ask", user, (unsigned)geteuid());
		g_mkdir_with_parents(dir, 0770);
		unlink(*path); /* a dead server's */
	}
	svc = g_socket_service_new();
	/* GLib's backlog is 10: a burst of smtpd processes connecting at once
	 * (Postfix starting, a bench's 20 clients) had its 11th SYN dropped
	 * and retried a second later; the kernel caps this at somaxconn */
	g_socket_listener_set_backlog(G_SOCKET_LISTENER(svc), SOMAXCONN);
	/* no moment when the socket is open to all: made 0600, then opened up */
	old = umask(0177);
	ok = g_socket_listener_add_address(G_SOCKET_LISTENER(svc), addr, G_SOCKET_TYPE_STREAM,
	    G_SOCKET_PROTOCOL_DEFAULT, NULL, NULL, error);
	umask(old);
	if (!ok)
		return NULL;
	if (*path)
		give_socket(*path, pw);
	return g_steal_pointer(&svc);
}

int
policy_serve(Stats *s, GError **error)
{
	const char *spec = mdir_config_get(s->config, "stats", "policy_listen");
	const char *user = mdir_config_get(s->config, "stats", "policy_user");
	struct passwd *pw = user && *user ? getpwnam(user) : NULL;
	g_autofree char *path = NULL;
	g_autoptr(GSocketService) svc = listen_on(spec, pw, user, &path, error);
	g_autoptr(GMainLoop) loop = NULL;
	g_autoptr(GHashTable) clients = g_hash_table_new(NULL, NULL);
	Server srv = { .stats = s, .is_unix = path != NULL, .clients = clients,
		.peer_uid = pw ? pw->pw_uid : (uid_t)-1,
		.max = (guint)MAX(1, mdir_config_get_int(s->config, "stats", "policy_max_connections")) };
	guint ticks[3];
	g_autoptr(GError) ck = NULL;

	if (svc == NULL)
		return -1;
	/* without it, SQLite checkpoints in the commits, as it always did */
	if (!stats_checkpoint_apart(s, &ck))
		mdir_log(LOG_WARNING, "policy: checkpoints in the commits: %s", ck->message);
	g_mutex_init(&srv.db);
	g_mutex_init(&srv.lock);
	srv.nworkers = (guint)CLAMP(g_get_num_processors() / 2, MIN_WORKERS, MAX_WORKERS);
	srv.workers = g_new0(Worker, srv.nworkers);
	for (guint i = 0; i < srv.nworkers; i++)
		if (!worker_start(&srv, &srv.workers[i], error)) {
			close_all(&srv);
			return -1;
		}
	loop = g_main_loop_new(NULL, FALSE);
	g_signal_connect(svc, "incoming", G_CALLBACK(on_incoming), &srv);
	ticks[0] = g_timeout_add(50, tick_commit, &srv);
	ticks[1] = g_timeout_add(1000, tick_expire, &srv);
	ticks[2] = g_timeout_add(5000, tick_import, &srv);
	g_unix_signal_add(SIGTERM, on_term, loop);
	g_unix_signal_add(SIGINT, on_term, loop);
	tick_import(&srv);
	mdir_log(LOG_INFO, "policy service on %s", spec);
	g_socket_service_start(svc);
	g_main_loop_run(loop);
	g_socket_service_stop(svc);
	close_all(&srv);
	for (guint i = 0; i < G_N_ELEMENTS(ticks); i++)
		g_source_remove(ticks[i]);
	stats_commit(s);
	g_mutex_clear(&srv.db);
	g_mutex_clear(&srv.lock);
	if (path)
		unlink(path);
	return 0;
}
