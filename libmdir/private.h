/*
 * private.h: what the library's modules share and nobody else sees.
 */
#ifndef MDIR_PRIVATE_H
#define MDIR_PRIVATE_H

#include <sys/stat.h>
#include <time.h>

#include <glib.h>

#include "mdir.h"

/* Sets a G_FILE_ERROR from @errsv: "PATH: strerror".  Returns FALSE. */
gboolean mdir_set_errno(GError **error, int errsv, const char *path);

/* Reads a whole small file (records, .version).  Transfer full. */
char *mdir_read_small_file(const char *path, gsize *length, GError **error);

/* Reads @fd to its end and closes it; @label names it in errors.  Transfer full. */
char *mdir_read_fd(int fd, const char *label, gsize *length, GError **error);

/* Modes for what we create, before the umask: mail is not for the world. */
#define MDIR_FILE_MODE 0660
/* A rules file that may pipe or send: nobody but its owner writes it. */
#define MDIR_RULES_MODE 0640
#define MDIR_DIR_MODE 0770

/* A fresh unique suffix for temporary names: "host.pid.counter.random". */
char *mdir_unique_name(void);

/*
 * The paths (a new array) of the entries of @dir last changed before
 * @before (a time_t), links not followed, that @keep (NULL: all) accepts
 * by name and lstat: what a crash left behind, by age (the queue's
 * litter, the store's tmp).  A missing @dir has none; NULL and @error
 * when it cannot be read.
 */
GPtrArray *mdir_dir_older(const char *dir, time_t before,
    gboolean (*keep)(const char *name, const struct stat *st), GError **error);

/* Whether @name is reserved (starts with a dot) or not a single component. */
gboolean mdir_name_is_reserved(const char *name);

/*
 * Whether one syncfs(2) makes everything written under @path durable:
 * TRUE on local file systems, FALSE on network and FUSE ones (NFS, Ceph,
 * SMB, FUSE), where only a per-file fsync is a promise (DESIGN §7).
 */
gboolean mdir_fs_whole_sync(const char *path);

/* Replaces @path by a temporary file and a rename, without any sync. */
gboolean mdir_file_write_replace(const char *path, const void *data, gsize length,
    GError **error);

/* mdir_record_save() without the sync. */
gboolean mdir_write_record(const MdirRecord *record, const char *path, GError **error);

/*
 * Writes a file in place, without fsync (for trees synced as a whole); a
 * link as @path is not followed (ELOOP).
 */
gboolean mdir_write_file(const char *path, const void *data, gsize length, GError **error);

/*
 * Logs "V + name" for each entry of @names that exists but that .changes
 * does not show as present: entries a crash linked before their change
 * was written (mdird's replay of a batch).  Under the folder's lock.
 */
gboolean mdir_folder_adopt(MdirFolder *folder, GPtrArray *names, GError **error);

/*
 * mdir_queue_write() for a delivery known by @key (64 hex digits: the
 * SHA-256 of its bytes and its recipient), at most once while the key is
 * kept (mdir(5) DELIVERY KEYS): if a batch with that key was queued
 * before, nothing is written and @name is set to NULL.
 */
gboolean mdir_queue_write_once(MdirStore *store, GPtrArray *records, const char *key,
    char **name, GError **error);

/* A fault point for the tests: kill -9 here when $MDIR_TEST_FAULT is @point. */
void mdir_test_fault(const char *point);

/*
 * Folder internals for folder-check.c, all to be called under the
 * folder's lock: the store it belongs to; the path of entry @name's
 * record; the version of the last whole line of .changes; one change
 * logged (@minus, @plus may be NULL); @src (relative to @srcfd) linked
 * under a free name made from @name (transfer full; @hints, may be NULL,
 * remembers the numbers given in a batch: folder-names.c).
 */
MdirStore *mdir_folder_store(const MdirFolder *folder);
char *mdir_folder_meta_path(const MdirFolder *folder, const char *name);
gboolean mdir_folder_last_change(const MdirFolder *folder, guint64 *version,
    GError **error);
gboolean mdir_folder_log_change(MdirFolder *folder, const char *minus, const char *plus,
    guint64 *version, GError **error);
/*
 * mdir_folder_add_entries() with, for each entry, a file holding its
 * record's text already (or NULL), made whole by the caller and, per file,
 * synced: linked as .meta/<used> instead of a new file written, unless
 * the folder has .copies or the link fails.  A part filed into many
 * folders: one record file, not one a folder.  @record_files may be NULL.
 */
gboolean mdir_folder_add_entries_linked(MdirFolder *folder, MdirFolderEntry *entries,
    const char *const *record_files, guint n, gboolean sync, GError **error);
char *mdir_folder_link_unique(MdirFolder *folder, int srcfd, const char *src,
    const char *name, GHashTable *hints, GError **error);

/*
 * folder-io.c: files inside a folder, relative to its descriptor @dirfd,
 * links never followed; @label names the file in errors.  A link or
 * anything but a regular file (a directory for _dir_) is
 * MDIR_ERROR_OUTSIDE_ROOT.
 *
 * mdir_open_at(): openat(2) with @flags | O_NOFOLLOW; a descriptor or -1.
 * mdir_open_dir_at(): a subdirectory (made first if @create); -1 on error.
 * mdir_read_at(): a whole small file.  Transfer full.
 * mdir_write_at(): replaces @name by a new file made under a fresh dot
 * name and renamed into place; with @sync, the file and the directory are
 * fsynced (mdir(5)).
 */
int mdir_open_at(int dirfd, const char *name, int flags, const char *label, GError **error);
int mdir_open_dir_at(int dirfd, const char *name, gboolean create, const char *label,
    GError **error);
char *mdir_read_at(int dirfd, const char *name, const char *label, gsize *length,
    GError **error);
gboolean mdir_write_at(int dirfd, const char *name, const void *data, gsize length,
    gboolean sync, const char *label, GError **error);
/* mdir_write_at() with @mode (less the umask) instead of MDIR_FILE_MODE. */
gboolean mdir_write_at_mode(int dirfd, const char *name, const void *data, gsize length,
    gboolean sync, mode_t mode, const char *label, GError **error);

/*
 * The folder's descriptor (transfer none), and its .meta's (made if
 * @create; transfer none, kept until mdir_folder_unlock()).
 */
int mdir_folder_fd(const MdirFolder *folder);
int mdir_folder_meta_fd(MdirFolder *folder, gboolean create, GError **error);

/* GMime's one initialisation, for every module that uses it. */
void mdir_mime_init(void);

/*
 * Whether the folder @folder names (relative to the root, as written:
 * links are not followed) is an outbox, SMTP/Outbox or
 * SMTP/Accounts/<address>/Outbox, in any case (rules.c).
 */
gboolean mdir_is_outbox(const char *folder);

/* sha256.c: SHA-256, streamed (see there for why not OpenSSL). */
typedef struct {
	guint32 state[8];
	guint64 length;
	guint8 block[64];
	gsize used;
	void (*compress)(guint32 *state, const guint8 *data, gsize blocks);
} MdirSha256;

void mdir_sha256_init(MdirSha256 *ctx);
void mdir_sha256_update(MdirSha256 *ctx, const void *data, gsize len);
/* Ends the hash and writes its 64 hex digits and a NUL into @hex. */
void mdir_sha256_final_hex(MdirSha256 *ctx, char hex[65]);

/*
 * mdir_store_txn_commit(), but with @final_sync FALSE the rename that
 * publishes the message is left for the caller's next whole-fs sync to
 * make durable (receive.c: the queue's), saving one flush a delivery.
 */
gboolean mdir_store_txn_publish(MdirStoreTxn *txn, const char *message_id, char **stored_id,
    MdirStoreOutcome *outcome, gboolean final_sync, GError **error);

/* Whether the store's file system is synced whole (mdir_fs_whole_sync()). */
gboolean mdir_store_whole_sync(const MdirStore *store);

/* The store's whole-fs sync of @path: mdir_syncfs(), or its sync function. */
gboolean mdir_store_syncfs(const MdirStore *store, const char *path, GError **error);

/*
 * receive.c: mdir_receive() of a message already written as part 0 of
 * @txn (closed), for @env->folder, with @fields over the store's own in
 * part 0's record: with @queue, queued for mdird and mdird poked; without,
 * only stored (durably), for the caller to file (generated.c).
 * Transfer full.
 */
MdirDelivery *mdir_receive_txn(MdirStore *store, const MdirConfig *config, MdirStoreTxn *txn,
    const MdirEnvelope *env, const MdirRecord *fields, gboolean queue, GError **error);

/* mime.c: splitting a spooled message (part 0 of @txn) into parts 1..N. */
typedef struct {
	guint max_depth; /* containers deeper than this are kept whole */
	gint64 max_size; /* messages larger than this are not split; 0: no limit */
	guint max_parts; /* parts beyond this stay in the raw message; 0: no limit */
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
