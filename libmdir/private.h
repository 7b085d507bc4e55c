/*
 * private.h: what the library's modules share and nobody else sees.
 */
#ifndef MDIR_PRIVATE_H
#define MDIR_PRIVATE_H

#include <glib.h>

#include "mdir.h"

/* Sets a G_FILE_ERROR from @errsv: "PATH: strerror".  Returns FALSE. */
gboolean mdir_set_errno(GError **error, int errsv, const char *path);

/* Reads a whole small file (records, .version).  Transfer full. */
char *mdir_read_small_file(const char *path, gsize *length, GError **error);

/* Modes for what we create, before the umask: mail is not for the world. */
#define MDIR_FILE_MODE 0660
#define MDIR_DIR_MODE 0770

/* A fresh unique suffix for temporary names: "host.pid.counter.random". */
char *mdir_unique_name(void);

/* Whether @name is reserved (starts with a dot) or not a single component. */
gboolean mdir_name_is_reserved(const char *name);

/* Writes a file in place, without fsync (for trees synced as a whole). */
gboolean mdir_write_file(const char *path, const void *data, gsize length, GError **error);

/* mime.c: splitting a spooled message (part 0 of @txn) into parts 1..N. */
typedef struct {
	guint max_depth; /* containers deeper than this are kept whole */
	gint64 max_size; /* messages larger than this are not split; 0: no limit */
} MdirSplitOptions;

typedef struct {
	char *message_id; /* without angle brackets; NULL if none */
	char *subject;
	char *from;
	guint defects;
} MdirSplitResult;

/*
 * Writes the leaves of the message in part 0 of @txn as parts 1..N with
 * their records, and the message's fields into every record (part 0's
 * too).  Fails only on a write error: malformed MIME is kept, unsplit.
 */
gboolean mdir_mime_split(MdirStoreTxn *txn, const MdirSplitOptions *opts,
    MdirSplitResult *result, GError **error);
void mdir_split_result_clear(MdirSplitResult *result);

#endif
