/*
 * server.c: mdird's socket and its line protocol (mdird(8) PROTOCOL).
 *
 * Replies are SMTP-style: a three-digit code, '-' on every line of a
 * reply but the last, ' ' on the last.  A watcher also gets change lines,
 * "<version> <+|-> <name>", exactly as in the folder's .changes; a reply's
 * second word is never a lone + or -, so the two cannot be confused.
 *
 * Nothing here waits: input is read and output written asynchronously,
 * output is buffered per client, and a client whose buffer grows past
 * MAX_OUT (a watcher that stopped reading) is dropped rather than slowing
 * filing.  Change lines come from .changes itself, so a watcher sees every
 * change in order, by mdird or by anyone (mstore), with nothing to lose in
 * between.
 */
#define _GNU_SOURCE /* struct ucred */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>

#include "mdird.h"

#define MAX_LINE 1000
#define MAX_OUT (16 * 1024 * 1024)

typedef struct {
	Daemon *d;
	int refs;
	guint id;
	GSocketConnection *conn;
	GCancellable *cancel;
	GString *line;
	char buf[4096];
	GString *out;	   /* waiting to be written */
	GBytes *inflight;  /* being written */
	gboolean writing;  /* a write is under way */
	gboolean closing;  /* close once out is written */
	gboolean gone;
	gboolean deaf;	   /* cannot be written to any more */
	char *watch;	   /* the folder watched, or NULL */
	uid_t uid;	   /* the peer's (SO_PEERCRED) */
	guint64 version;   /* the last version the watcher has */
} Client;

typedef struct {
	GFileMonitor *monitor;
	guint n;
} Watch;

static guint next_id;

static void client_read(Client *c);

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
	g_object_unref(c->conn);
	g_object_unref(c->cancel);
	g_string_free(c->line, TRUE);
	g_string_free(c->out, TRUE);
	if (c->inflight)
		g_bytes_unref(c->inflight);
	g_free(c->watch);
	g_free(c);
}

static void
unwatch(Client *c)
{
	Watch *w;

	if (c->watch == NULL)
		return;
	w = g_hash_table_lookup(c->d->watches, c->watch);
	if (w && --w->n == 0)
		g_hash_table_remove(c->d->watches, c->watch);
	g_clear_pointer(&c->watch, g_free);
}

/* Ends a client now: whatever it still had to read is dropped. */
static void
client_drop(Client *c)
{
	if (c->gone)
		return;
	c->gone = TRUE;
	unwatch(c);
	g_cancellable_cancel(c->cancel);
	g_io_stream_close(G_IO_STREAM(c->conn), NULL, NULL);
	c->d->clients = g_list_remove(c->d->clients, c);
	mdir_log(LOG_DEBUG, "client %u: closed", c->id);
	client_unref(c);
}

static void client_flush(Client *c);

static void
written(GObject *src, GAsyncResult *res, gpointer data)
{
	Client *c = data;
	g_autoptr(GError) e = NULL;
	gssize n = g_output_stream_write_bytes_finish(G_OUTPUT_STREAM(src), res, &e);
	g_autoptr(GBytes) sent = g_steal_pointer(&c->inflight);

	c->writing = FALSE;
	if (n < 0) {
		/* it stopped reading (a poke writes and goes): what it said
		 * still counts, so read on, but say nothing more */
		if (!c->gone)
			mdir_log(LOG_DEBUG, "client %u: %s", c->id, e->message);
		c->deaf = TRUE;
		g_string_truncate(c->out, 0);
		if (c->closing)
			client_drop(c);
	} else if (!c->gone) {
		gsize len;
		const char *p = g_bytes_get_data(sent, &len);

		/* a short write: what was not taken goes back in front */
		if ((gsize)n < len)
			g_string_prepend_len(c->out, p + n, len - n);
		client_flush(c);
	}
	client_unref(c);
}

static void
client_flush(Client *c)
{
	if (c->gone || c->writing)
		return;
	if (c->out->len == 0) {
		if (c->closing)
			client_drop(c);
		return;
	}
	/* the bytes under way are set apart: out may grow meanwhile */
	c->writing = TRUE;
	c->inflight = g_string_free_to_bytes(c->out);
	c->out = g_string_new(NULL);
	g_output_stream_write_bytes_async(g_io_stream_get_output_stream(G_IO_STREAM(c->conn)),
	    c->inflight, G_PRIORITY_DEFAULT, c->cancel, written, client_ref(c));
}

static void G_GNUC_PRINTF(2, 3)
client_send(Client *c, const char *format, ...)
{
	va_list ap;

	if (c->gone || c->closing || c->deaf)
		return;
	va_start(ap, format);
	g_string_append_vprintf(c->out, format, ap);
	va_end(ap);
	g_string_append(c->out, "\r\n");
	if (c->out->len > MAX_OUT) {
		mdir_log(LOG_WARNING, "client %u: %zu bytes unread; dropped", c->id, c->out->len);
		client_drop(c);
		return;
	}
	client_flush(c);
}

/* Watching ---------------------------------------------------------------- */

static void
push_changes(Client *c)
{
	g_autoptr(MdirFolder) f = mdir_folder_open(c->d->store, c->watch, 0, NULL);
	g_autoptr(GPtrArray) changes = f ? mdir_folder_changes(f, c->version, NULL) : NULL;

	for (guint i = 0; changes && i < changes->len && !c->gone; i++) {
		MdirChange *ch = changes->pdata[i];

		client_send(c, "%" G_GUINT64_FORMAT " %c %s", ch->version, ch->op, ch->name);
		c->version = MAX(c->version, ch->version);
	}
}

void
server_folder_changed(Daemon *d, const char *folder)
{
	for (GList *l = d->clients; l;) {
		Client *c = l->data;

		l = l->next; /* push may drop the client */
		if (c->watch && strcmp(c->watch, folder) == 0)
			push_changes(c);
	}
}

static void
on_monitor(GFileMonitor *m, GFile *file, GFile *other, GFileMonitorEvent ev, gpointer data)
{
	Daemon *d = data;
	g_autofree char *base = g_file_get_basename(file);
	const char *folder = g_object_get_data(G_OBJECT(m), "folder");

	(void)other;
	if (strcmp(base, ".changes") == 0 && ev != G_FILE_MONITOR_EVENT_DELETED)
		server_folder_changed(d, folder);
}

static void
watch_free(gpointer p)
{
	Watch *w = p;

	g_file_monitor_cancel(w->monitor);
	g_object_unref(w->monitor);
	g_free(w);
}

static gboolean
watch_add(Daemon *d, MdirFolder *f, GError **error)
{
	Watch *w = g_hash_table_lookup(d->watches, mdir_folder_name(f));
	g_autoptr(GFile) dir = NULL;

	if (w) {
		w->n++;
		return TRUE;
	}
	dir = g_file_new_for_path(mdir_folder_path(f));
	w = g_new0(Watch, 1);
	w->monitor = g_file_monitor_directory(dir, G_FILE_MONITOR_NONE, NULL, error);
	if (w->monitor == NULL) {
		g_free(w);
		return FALSE;
	}
	w->n = 1;
	g_file_monitor_set_rate_limit(w->monitor, 100);
	g_object_set_data_full(G_OBJECT(w->monitor), "folder", g_strdup(mdir_folder_name(f)),
	    g_free);
	g_signal_connect(w->monitor, "changed", G_CALLBACK(on_monitor), d);
	g_hash_table_insert(d->watches, g_strdup(mdir_folder_name(f)), w);
	return TRUE;
}

/* Commands -------------------------------------------------------------------- */

/* The folder a command names, or NULL after a reply saying why. */
static MdirFolder *
folder_arg(Client *c, const char *arg)
{
	g_autoptr(GError) e = NULL;
	MdirFolder *f;

	if (arg == NULL || *arg == '\0') {
		client_send(c, "501 5.5.4 a folder is needed");
		return NULL;
	}
	f = mdir_folder_open(c->d->store, arg, 0, &e);
	if (f)
		return f;
	if (g_error_matches(e, MDIR_ERROR, MDIR_ERROR_NOT_FOUND))
		client_send(c, "550 5.1.1 %s", e->message);
	else if (e->domain == MDIR_ERROR)
		client_send(c, "553 5.1.3 %s", e->message);
	else
		client_send(c, "451 4.3.0 %s", e->message);
	return NULL;
}

static void
cmd_version(Client *c, const char *arg)
{
	g_autoptr(MdirFolder) f = folder_arg(c, arg);
	g_autoptr(GError) e = NULL;
	guint64 v;

	if (f == NULL)
		return;
	if (!mdir_folder_version(f, &v, &e))
		client_send(c, "451 4.3.0 %s", e->message);
	else
		client_send(c, "250 %" G_GUINT64_FORMAT, v);
}

static void
cmd_watch(Client *c, const char *arg)
{
	g_autoptr(MdirFolder) f = folder_arg(c, arg);
	g_autoptr(GError) e = NULL;
	guint64 v;

	if (f == NULL)
		return;
	if (!mdir_folder_version(f, &v, &e) || !watch_add(c->d, f, &e)) {
		client_send(c, "451 4.3.0 %s", e->message);
		return;
	}
	unwatch(c);
	c->watch = g_strdup(mdir_folder_name(f));
	c->version = v;
	client_send(c, "250 watching %s from version %" G_GUINT64_FORMAT, c->watch, v);
}

/* "FOLDER" or "FOLDER since V": the folder may hold spaces. */
static gboolean
split_since(char *arg, guint64 *since)
{
	char *sp = strrchr(arg, ' ');
	char *end;

	if (sp == NULL || sp - arg < 6 || g_ascii_strncasecmp(sp - 6, " since", 6) != 0)
		return FALSE;
	*since = g_ascii_strtoull(sp + 1, &end, 10);
	if (end == sp + 1 || *end != '\0')
		return FALSE;
	sp[-6] = '\0';
	return TRUE;
}

static void
cmd_list(Client *c, char *arg)
{
	g_autoptr(MdirFolder) f = NULL;
	g_autoptr(GPtrArray) items = NULL;
	g_autoptr(GError) e = NULL;
	gboolean changes = FALSE;
	guint64 since = 0;
	guint64 v = 0;

	if (arg)
		changes = split_since(arg, &since);
	f = folder_arg(c, arg);
	if (f == NULL)
		return;
	if (!mdir_folder_version(f, &v, &e) ||
	    (items = changes ? mdir_folder_changes(f, since, &e) : mdir_folder_list(f, &e)) ==
		NULL) {
		client_send(c, "451 4.3.0 %s", e->message);
		return;
	}
	for (guint i = 0; i < items->len; i++) {
		MdirChange *ch = items->pdata[i];

		if (changes)
			client_send(c, "250-%" G_GUINT64_FORMAT " %c %s", ch->version, ch->op,
			    ch->name);
		else
			client_send(c, "250-%s", (char *)items->pdata[i]);
	}
	client_send(c, "250 version %" G_GUINT64_FORMAT, v);
}

static void
cmd_status(Client *c)
{
	Daemon *d = c->d;
	g_autoptr(GPtrArray) q = mdir_queue_list(d->store, NULL);

	client_send(c, "250-queue %u", q ? q->len : 0);
	client_send(c, "250-held %u", d->held);
	client_send(c, "250-uptime %" G_GINT64_FORMAT,
	    (g_get_monotonic_time() - d->started) / G_USEC_PER_SEC);
	client_send(c, "250-batches %" G_GUINT64_FORMAT, d->batches);
	client_send(c, "250-entries %" G_GUINT64_FORMAT, d->entries);
	client_send(c, "250-errors %" G_GUINT64_FORMAT, d->drain_errors);
	client_send(c, "250-clients %u", server_n_clients(d));
	client_send(c, "250-watched-folders %u", g_hash_table_size(d->watches));
	client_send(c, "250-children %u running, %u waiting, %" G_GUINT64_FORMAT " run, %"
	    G_GUINT64_FORMAT " killed", d->running, g_queue_get_length(d->waiting),
	    d->children_run, d->children_killed);
	client_send(c, "250 root %s", mdir_store_root(d->store));
}

static void
cmd_help(Client *c)
{
	client_send(c, "214-POKE                      file what is queued, now");
	client_send(c, "214-WATCH folder              then \"<version> <+|-> <name>\" lines");
	client_send(c, "214-LIST folder [since V]     entries, or changes after V");
	client_send(c, "214-VERSION folder");
	client_send(c, "214-STATUS");
	client_send(c, "214-RELOAD                    read the config and rules again");
	client_send(c, "214 QUIT");
}

/* One command line (a dispatcher). */
static void
command(Client *c, char *line)
{
	char *arg = strchr(line, ' ');
	g_autoptr(GError) e = NULL;

	if (arg) {
		*arg++ = '\0';
		g_strstrip(arg);
	}
	if (g_ascii_strcasecmp(line, "POKE") == 0) {
		daemon_schedule_drain(c->d);
		client_send(c, "250 2.0.0 filing");
	} else if (g_ascii_strcasecmp(line, "QUIT") == 0) {
		client_send(c, "221 2.0.0 bye");
		c->closing = TRUE;
		client_flush(c);
	} else if (g_ascii_strcasecmp(line, "VERSION") == 0) {
		cmd_version(c, arg);
	} else if (g_ascii_strcasecmp(line, "WATCH") == 0) {
		cmd_watch(c, arg);
	} else if (g_ascii_strcasecmp(line, "LIST") == 0) {
		cmd_list(c, arg);
	} else if (g_ascii_strcasecmp(line, "STATUS") == 0) {
		cmd_status(c);
	} else if (g_ascii_strcasecmp(line, "RELOAD") == 0) {
		if (c->uid != 0 && c->uid != c->d->owner)
			client_send(c, "530 5.7.0 RELOAD is for root and the root's owner");
		else if (daemon_reload(c->d, &e))
			client_send(c, "250 2.0.0 reloaded");
		else
			client_send(c, "451 4.3.5 %s; the old configuration stays", e->message);
	} else if (g_ascii_strcasecmp(line, "HELP") == 0 || g_ascii_strcasecmp(line, "NOOP") == 0) {
		if (g_ascii_toupper(line[0]) == 'H')
			cmd_help(c);
		else
			client_send(c, "250 2.0.0 ok");
	} else {
		g_autofree char *shown = g_strndup(line, 40);

		client_send(c, "500 5.5.1 unknown command \"%s\" (try HELP)",
		    g_utf8_validate(shown, -1, NULL) ? shown : "?");
	}
}

static void
lines(Client *c)
{
	char *nl;

	while (!c->gone && !c->closing && (nl = memchr(c->line->str, '\n', c->line->len))) {
		gsize n = nl - c->line->str;
		g_autofree char *one = g_strndup(c->line->str, n);
		gboolean nul = memchr(c->line->str, '\0', n) != NULL;

		g_string_erase(c->line, 0, n + 1);
		g_strchomp(one);
		if (one[0] == '\0' && !nul)
			continue;
		if (nul || !g_utf8_validate(one, -1, NULL))
			client_send(c, "500 5.5.2 not a line of UTF-8 text");
		else
			command(c, one);
	}
	if (!c->gone && c->line->len > MAX_LINE) {
		client_send(c, "500 5.5.2 line too long (more than %d bytes)", MAX_LINE);
		c->closing = TRUE;
		client_flush(c);
	}
}

static void
on_read(GObject *src, GAsyncResult *res, gpointer data)
{
	Client *c = data;
	g_autoptr(GError) e = NULL;
	gssize n = g_input_stream_read_finish(G_INPUT_STREAM(src), res, &e);

	if (c->gone) {
		client_unref(c);
		return;
	}
	if (n <= 0) {
		/* the peer is gone (or said all it will): answer what it asked */
		c->closing = TRUE;
		client_flush(c);
	} else {
		g_string_append_len(c->line, c->buf, n);
		lines(c);
		if (!c->gone && !c->closing)
			client_read(c);
	}
	client_unref(c);
}

static void
client_read(Client *c)
{
	g_input_stream_read_async(g_io_stream_get_input_stream(G_IO_STREAM(c->conn)), c->buf,
	    sizeof(c->buf), G_PRIORITY_DEFAULT, c->cancel, on_read, client_ref(c));
}

/* Who may talk to mdird ---------------------------------------------------- */

/* Whether @uid, or @gid, is in [mdird] group. */
static gboolean
in_group(Daemon *d, uid_t uid, gid_t gid)
{
	const char *name = mdir_config_get(d->config, "mdird", "group");
	struct group *g;
	struct passwd *pw;

	if (name == NULL || *name == '\0' || (g = getgrnam(name)) == NULL)
		return FALSE;
	if (g->gr_gid == gid)
		return TRUE;
	pw = getpwuid(uid);
	for (char **m = g->gr_mem; pw && m && *m; m++)
		if (strcmp(*m, pw->pw_name) == 0)
			return TRUE;
	return FALSE;
}

static guint
clients_of(Daemon *d, uid_t uid)
{
	guint n = 0;

	for (GList *l = d->clients; l; l = l->next)
		n += ((Client *)l->data)->uid == uid;
	return n;
}

/*
 * Whether the peer may stay, else a reply and a log line saying why: the
 * socket's mode is the first gate, the credentials the second (a mode set
 * wrong, a directory open to all), and the caps keep one user from taking
 * every descriptor mdird has.
 */
static gboolean
admit(Client *c, const struct ucred *cr)
{
	Daemon *d = c->d;
	gint64 max = mdir_config_get_int(d->config, "mdird", "max_clients");
	gint64 per_uid = mdir_config_get_int(d->config, "mdird", "max_clients_per_uid");

	/* mdird's own user too: mdir-receive runs as it to poke */
	if (cr->uid != 0 && cr->uid != d->owner && cr->uid != geteuid() &&
	    !in_group(d, cr->uid, cr->gid)) {
		mdir_log(LOG_WARNING, "client %u: uid %ld gid %ld pid %ld refused: not root, the "
				      "root's owner, mdird's user or in [mdird] group", c->id,
		    (long)cr->uid, (long)cr->gid, (long)cr->pid);
		client_send(c, "530 5.7.0 not allowed to use mdird");
		return FALSE;
	}
	if (g_list_length(d->clients) >= (guint)MAX(1, max)) {
		mdir_log(LOG_WARNING, "client %u: uid %ld refused: %u clients already",
		    c->id, (long)cr->uid, g_list_length(d->clients));
		client_send(c, "421 4.3.2 too many clients, try again later");
		return FALSE;
	}
	if (clients_of(d, cr->uid) >= (guint)MAX(1, per_uid)) {
		mdir_log(LOG_WARNING, "client %u: uid %ld refused: %u clients of it already",
		    c->id, (long)cr->uid, clients_of(d, cr->uid));
		client_send(c, "421 4.3.2 too many clients of uid %ld, try again later",
		    (long)cr->uid);
		return FALSE;
	}
	return TRUE;
}

static void
incoming(Daemon *d, GSocket *sock)
{
	Client *c = g_new0(Client, 1);
	struct ucred cr = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	socklen_t len = sizeof(cr);

	c->d = d;
	c->refs = 1;
	c->id = ++next_id;
	c->conn = g_socket_connection_factory_create_connection(sock);
	c->cancel = g_cancellable_new();
	c->line = g_string_new(NULL);
	c->out = g_string_new(NULL);
	if (getsockopt(g_socket_get_fd(sock), SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
		mdir_log(LOG_WARNING, "client %u: no peer credentials: %s", c->id,
		    g_strerror(errno));
	c->uid = cr.uid;
	mdir_log(LOG_DEBUG, "client %u: uid %ld pid %ld", c->id, (long)cr.uid, (long)cr.pid);
	if (!admit(c, &cr)) {
		c->closing = TRUE;
		c->d->clients = g_list_prepend(c->d->clients, c);
		client_flush(c);
		return;
	}
	d->clients = g_list_prepend(d->clients, c);
	client_send(c, "220 mdird ready");
	client_read(c);
}

static gboolean on_accept(GSocket *sock, GIOCondition cond, gpointer data);

static void
listen_again(Daemon *d)
{
	GSource *src = g_socket_create_source(d->listener, G_IO_IN, NULL);

	g_source_set_callback(src, (GSourceFunc)(void (*)(void))on_accept, d, NULL);
	d->accept_source = g_source_attach(src, NULL);
	g_source_unref(src);
}

static gboolean
resume_accept(gpointer data)
{
	Daemon *d = data;

	d->backoff_source = 0;
	listen_again(d);
	return G_SOURCE_REMOVE;
}

/*
 * New connections, a few at a time.  When accept fails (EMFILE: out of
 * descriptors) the listener rests, 10 ms doubling to a second, instead of
 * waking at once for the same connection again and again.
 */
static gboolean
on_accept(GSocket *sock, GIOCondition cond, gpointer data)
{
	Daemon *d = data;

	(void)cond;
	for (int i = 0; i < 16; i++) {
		g_autoptr(GError) e = NULL;
		g_autoptr(GSocket) conn = g_socket_accept(sock, NULL, &e);

		if (conn == NULL && g_error_matches(e, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
			break;
		if (conn == NULL) {
			d->backoff_ms = CLAMP(d->backoff_ms * 2, 10, 1000);
			if (d->backoff_ms < 1000 || !d->accept_warned)
				mdir_log(LOG_WARNING, "accept: %s; waiting %u ms", e->message,
				    d->backoff_ms);
			d->accept_warned = d->backoff_ms >= 1000;
			d->accept_source = 0;
			d->backoff_source = g_timeout_add(d->backoff_ms, resume_accept, d);
			return G_SOURCE_REMOVE;
		}
		d->backoff_ms = 0;
		d->accept_warned = FALSE;
		incoming(d, conn);
	}
	return G_SOURCE_CONTINUE;
}

/* The uid owning the root: it may RELOAD, as root may. */
static uid_t
root_owner(Daemon *d)
{
	struct stat st;

	return stat(mdir_store_root(d->store), &st) == 0 ? st.st_uid : 0;
}

gboolean
server_start(Daemon *d, GError **error)
{
	const char *path = mdir_config_get(d->config, "mdir", "socket");
	g_autoptr(GSocketAddress) addr = NULL;
	g_autofree char *dir = g_path_get_dirname(path);
	mode_t old;
	gboolean ok;

	d->watches = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, watch_free);
	d->owner = root_owner(d);
	if (g_mkdir_with_parents(dir, 0770) < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", dir,
		    g_strerror(errno));
		return FALSE;
	}
	/* we hold the root's lock: a socket file left there is a dead daemon's */
	unlink(path);
	d->socket_path = g_strdup(path);
	d->listener = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
	    G_SOCKET_PROTOCOL_DEFAULT, error);
	if (d->listener == NULL)
		return FALSE;
	g_socket_set_blocking(d->listener, FALSE);
	addr = g_unix_socket_address_new(path);
	old = umask(0117); /* 0660 from the start: never a moment open to all */
	ok = g_socket_bind(d->listener, addr, FALSE, error);
	umask(old);
	g_socket_set_listen_backlog(d->listener, 128);
	if (!ok || !g_socket_listen(d->listener, error))
		return FALSE;
	listen_again(d);
	return TRUE;
}

void
server_stop(Daemon *d)
{
	if (d->accept_source)
		g_source_remove(d->accept_source);
	if (d->backoff_source)
		g_source_remove(d->backoff_source);
	d->accept_source = d->backoff_source = 0;
	if (d->listener) {
		g_socket_close(d->listener, NULL);
		g_clear_object(&d->listener);
	}
	while (d->clients)
		client_drop(d->clients->data);
	if (d->socket_path)
		unlink(d->socket_path);
	g_clear_pointer(&d->socket_path, g_free);
	g_clear_pointer(&d->watches, g_hash_table_unref);
}

guint
server_n_clients(const Daemon *d)
{
	return g_list_length(d->clients);
}
