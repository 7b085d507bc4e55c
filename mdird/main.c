/*
 * mdird: the classifier daemon (DESIGN §4, mdird(8)).
 *
 * It files the header batches mdir-receive queues into folders by their
 * rules (libmdir's classifier does the filing; this is its loop), at
 * start, on every poke and every [mdird] drain_interval as a safety net,
 * and serves a small line protocol on a Unix socket (server.c), running
 * the notifier and pipe actions on the side (run.c).  It does not parse
 * MIME (mdir-receive did), send mail (mdir-outbox does) or decide
 * anything itself: the folders' rules do.  One daemon per root (a lock).
 * SIGTERM finishes the round at hand; SIGHUP reloads config and rules.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include <glib-unix.h>

#include "mdird.h"

static void
tell(const MdirEffect *e, gpointer data)
{
	Daemon *d = data;

	if (e->kind == MDIR_EFFECT_CHANGE) {
		d->entries++;
		server_folder_changed(d, e->folder);
		view_changed(d, e->folder);
	} else {
		run_effect(d, e);
	}
}

/* One round at a time, back to the loop in between, until none is left. */
static gboolean
drain(gpointer data)
{
	Daemon *d = data;
	gint64 max = mdir_config_get_int(d->config, "mdird", "round_size");
	g_autoptr(GError) e = NULL;
	guint held = 0;
	gint n;

	if (d->stopping) {
		d->drain_source = 0;
		return G_SOURCE_REMOVE;
	}
	n = mdir_classifier_drain(d->classifier, (guint)MAX(1, max), tell, d, &held, &e);
	d->held = held;
	if (n < 0) {
		/* the batches stay queued; the next poke or tick tries again */
		d->drain_errors++;
		mdir_log(LOG_ERR, "filing: %s", e->message);
		d->drain_source = 0;
		return G_SOURCE_REMOVE;
	}
	d->batches += n;
	if (n > 0)
		mdir_log(LOG_DEBUG, "filed %d batches", n);
	/* a round that filed nothing: a poke or the tick, catch up on all */
	view_sync(d, n == 0 && d->view_changed == NULL);
	/* more queued, or a big batch under way: another round, after the
	 * loop has served the socket and the signals */
	if ((n > 0 && n >= max) || mdir_classifier_pending(d->classifier) > 0)
		return G_SOURCE_CONTINUE;
	d->drain_source = 0;
	return G_SOURCE_REMOVE;
}

void
daemon_schedule_drain(Daemon *d)
{
	if (d->drain_source == 0 && !d->stopping)
		d->drain_source = g_idle_add(drain, d);
}

static gboolean
tick(gpointer data)
{
	daemon_schedule_drain(data);
	return G_SOURCE_CONTINUE;
}

static void
apply_log_level(const MdirConfig *c)
{
	mdir_log_set_level(mdir_log_level_from_string(mdir_config_get(c, "mdir", "log_level")));
}

static void
apply_limits(Daemon *d)
{
	mdir_classifier_set_max_new_folders(d->classifier,
	    (guint)mdir_config_get_int(d->config, "mdird", "max_new_folders"));
}

gboolean
daemon_reload(Daemon *d, GError **error)
{
	MdirConfig *c = mdir_config_load(d->conf_path, error);

	if (c == NULL)
		return FALSE;
	if (strcmp(mdir_config_root(c), mdir_store_root(d->store)) != 0)
		mdir_log(LOG_WARNING, "the root changed to %s: it takes a restart",
		    mdir_config_root(c));
	mdir_config_free(d->config);
	d->config = c;
	apply_log_level(c);
	mdir_classifier_reload(d->classifier);
	apply_limits(d);
	mdir_log(LOG_INFO, "reloaded %s", mdir_config_file(c) ? mdir_config_file(c) :
	    "the built-in defaults");
	daemon_schedule_drain(d);
	return TRUE;
}

static gboolean
on_hup(gpointer data)
{
	g_autoptr(GError) e = NULL;

	if (!daemon_reload(data, &e))
		mdir_log(LOG_ERR, "reload: %s; the old configuration stays", e->message);
	return G_SOURCE_CONTINUE;
}

static gboolean
on_term(gpointer data)
{
	Daemon *d = data;

	/* the loop only gets here between rounds: the one at hand is done */
	d->stopping = TRUE;
	g_main_loop_quit(d->loop);
	return G_SOURCE_REMOVE;
}

/*
 * One mdird per root: an flock held for life, the pid written in.  The
 * root is group-writable: a link as .mdird or as the lock is refused, or
 * the pid would replace whatever it leads to.
 */
static int
lock_root(MdirStore *store, GError **error)
{
	g_autofree char *path = g_build_filename(mdir_store_root(store), ".mdird", "mdird.lock",
	    NULL);
	char pid[32] = "";
	int fd;

	fd = mdir_file_open_nofollow(path, O_RDWR | O_CREAT, error);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (read(fd, pid, sizeof(pid) - 1) < 0)
			pid[0] = '\0';
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_LOCK_TIMEOUT,
		    "another mdird serves %s (pid %s)", mdir_store_root(store),
		    g_strstrip(pid)[0] ? pid : "unknown");
		close(fd);
		return -1;
	}
	return fd;
}

static void
write_pid(int fd)
{
	char pid[32];
	int n = g_snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, n, 0) != n)
		mdir_log(LOG_WARNING, "cannot write the pid into the lock file");
}

/* The classic double fork; the parent exits once the child is set. */
static void
daemonise(void)
{
	int fd;

	switch (fork()) {
	case -1:
		mdir_log(LOG_CRIT, "fork: %s", g_strerror(errno));
		exit(EX_OSERR);
	case 0:
		break;
	default:
		_exit(0);
	}
	setsid();
	if (fork() > 0)
		_exit(0);
	if (chdir("/") < 0)
		exit(EX_OSERR);
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

static int
fail(const char *what, GError *e)
{
	mdir_log(LOG_CRIT, "%s%s", what, e->message);
	return mdir_exit_code(e, MDIR_EXIT_TOOL);
}

static int
serve(Daemon *d, gboolean foreground)
{
	g_autoptr(GError) e = NULL;
	int rc = 0;
	int lock;

	d->store = mdir_store_open_config(d->config, &e);
	if (d->store == NULL)
		return fail("", e);
	lock = lock_root(d->store, &e);
	if (lock < 0) {
		mdir_store_free(d->store);
		return fail("", e);
	}
	if (!foreground)
		daemonise();
	write_pid(lock);
	d->classifier = mdir_classifier_new(d->store);
	apply_limits(d);
	d->loop = g_main_loop_new(NULL, FALSE);
	d->started = g_get_monotonic_time();
	run_init(d);
	if (server_start(d, &e)) {
		g_unix_signal_add(SIGHUP, on_hup, d);
		g_unix_signal_add(SIGTERM, on_term, d);
		g_unix_signal_add(SIGINT, on_term, d);
		g_timeout_add(MAX(1000, mdir_config_get_duration_ms(d->config, "mdird",
		    "drain_interval")), tick, d);
		mdir_log(LOG_INFO, "serving %s on %s", mdir_store_root(d->store), d->socket_path);
		daemon_schedule_drain(d);
		g_main_loop_run(d->loop);
		mdir_log(LOG_INFO, "stopped: %" G_GUINT64_FORMAT " batches, %" G_GUINT64_FORMAT
		    " entries filed", d->batches, d->entries);
	} else {
		rc = fail("socket: ", e);
	}
	server_stop(d);
	run_clear(d);
	g_clear_pointer(&d->view_changed, g_hash_table_unref);
	mdir_classifier_free(d->classifier);
	mdir_store_free(d->store);
	g_main_loop_unref(d->loop);
	close(lock);
	return rc;
}

int
main(int argc, char **argv)
{
	gboolean foreground = FALSE;
	GOptionEntry entries[] = {
		{ "foreground", 'F', 0, G_OPTION_ARG_NONE, &foreground,
		    "stay in the foreground, log to stderr too", NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_autoptr(MdirOptions) opts = NULL;
	g_autoptr(GError) e = NULL;
	Daemon d = { 0 };
	int rc;

	g_set_prgname("mdird");
	opts = mdir_options_new("mdird", "", "The mdir classifier daemon; see mdird(8).", 0);
	mdir_options_add(opts, entries);
	switch (mdir_options_parse(opts, &argc, &argv, 0, 0, &e)) {
	case 0:
		return EX_OK;
	case -1:
		fprintf(stderr, "mdird: %s\n", e->message);
		return EX_USAGE;
	}
	mdir_log_open(MDIR_LOG_SYSLOG | (foreground ? MDIR_LOG_STDERR : 0));
	d.conf_path = g_strdup(mdir_options_config(opts));
	d.config = mdir_config_load(d.conf_path, &e);
	if (d.config == NULL) {
		g_free(d.conf_path);
		return fail("", e);
	}
	apply_log_level(d.config);
	for (const char *const *w = mdir_config_warnings(d.config); w && *w; w++)
		mdir_log(LOG_WARNING, "%s", *w);
	rc = serve(&d, foreground);
	mdir_config_free(d.config);
	g_free(d.conf_path);
	return rc;
}
