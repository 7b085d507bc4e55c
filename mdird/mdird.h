/*
 * mdird.h: what the files of mdird share.  One process, one GLib main
 * loop, no threads: filing, the socket and the children take turns, and
 * nothing that waits on a client or a child ever waits inside a callback.
 */
#ifndef MDIRD_H
#define MDIRD_H

#include <glib.h>
#include <gio/gio.h>

#include "mdir.h"

typedef struct {
	char *conf_path; /* NULL: the default search (mdir.conf(5)) */
	MdirConfig *config;
	MdirStore *store;
	MdirClassifier *classifier;
	GMainLoop *loop;
	gint64 started; /* monotonic, µs */
	guint drain_source;
	gboolean stopping;

	/* counters for STATUS */
	guint64 batches;
	guint64 entries;
	guint64 drain_errors;
	guint held;

	/* server.c */
	GSocket *listener;
	guint accept_source;
	guint backoff_source; /* accept failed: resting */
	guint backoff_ms;
	gboolean accept_warned;
	uid_t owner; /* of the root */
	char *socket_path;
	GList *clients;
	GHashTable *watches; /* folder name -> Watch */

	/* run.c */
	GQueue *waiting; /* Job */
	guint running;
	guint64 children_run;
	guint64 children_killed;
	guint64 children_dropped;

	/* view.c */
	GHashTable *view_changed; /* folder names the round changed */
} Daemon;

/* main.c */
void daemon_schedule_drain(Daemon *d);
gboolean daemon_reload(Daemon *d, GError **error);

/* server.c */
gboolean server_start(Daemon *d, GError **error);
void server_stop(Daemon *d);
/* A folder changed (by mdird or anyone): tell its watchers. */
void server_folder_changed(Daemon *d, const char *folder);
guint server_n_clients(const Daemon *d);

/* run.c */
void run_effect(Daemon *d, const MdirEffect *effect);
void run_init(Daemon *d);
void run_clear(Daemon *d);

/* view.c */
/* @folder changed in this round: its Maildir view is synced after it. */
void view_changed(Daemon *d, const char *folder);
/* The views of the folders changed, or with @all of every account's. */
void view_sync(Daemon *d, gboolean all);

#endif /* MDIRD_H */
