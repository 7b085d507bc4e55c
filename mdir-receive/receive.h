/*
 * receive.h: what mdir-receive's two modes share (main.c the pipe mode,
 * lmtp.c and listen.c the LMTP server).
 */
#ifndef MDIR_RECEIVE_H
#define MDIR_RECEIVE_H

#include <glib.h>

#include "mdir.h"

/* The one log line per delivery, in the pipe mode's "queue_id: key=value". */
void receive_log_delivery(const char *queue_id, const char *sender, const MdirDelivery *d,
    gint64 start);

/* For smtp-stats: what was delivered to whom, and what was refused. */
void receive_record_events(const MdirConfig *config, const char *sender, const char *client,
    const MdirDelivery *d);

/* Group commit among the resident server's sessions (group.c). */
typedef struct LmtpGroup LmtpGroup;

/* In memory shared with the children forked after; NULL if it cannot be. */
LmtpGroup *lmtp_group_new(const char *root);
/* An MdirSyncFunc: a sync shared with the other sessions. */
gboolean lmtp_group_syncfs(const char *path, gpointer data, GError **error);
/* Syncs asked for by the sessions, and syncs made. */
void lmtp_group_stats(const LmtpGroup *group, guint64 *asked, guint64 *syncs);

/*
 * One LMTP session (RFC 2033) on @in and @out, to its QUIT, end or
 * time-out; its syncs shared through @group if not NULL.
 */
void lmtp_session(const MdirConfig *config, int in, int out, const char *peer,
    LmtpGroup *group);

/*
 * Listens on @spec ("unix:PATH" or "inet:127.0.0.1:PORT") and serves each
 * connection in a process of its own, [receive] lmtp_max_sessions at once,
 * until SIGTERM.  FALSE and @error if it cannot listen.
 */
gboolean lmtp_listen(const MdirConfig *config, const char *spec, GError **error);

#endif
