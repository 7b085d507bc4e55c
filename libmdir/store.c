/*
 * store.c: the content store, ROOT/.mstore (DESIGN §2, mdir(5)).
 *
 * A message is built whole in a private directory under .mstore/tmp and
 * published with one rename into msg/<h2>/<h>, h the SHA-256 of the id it
 * is stored under: readers see all of a message or nothing of it, and a
 * crash leaves at most a directory in tmp that fsck removes.  The id is the
 * Message-ID; a message without one gets an id made from its content (so a
 * redelivery finds it again); a different message reusing a Message-ID is
 * stored under "<id>~<12 hex of its content hash>", never merged.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "mdir.h"
#include "private.h"

#define MADE_UP_DOMAIN "mdir.invalid"
#define WRITE_BUFFER (64 * 1024)

struct MdirStore {
	char *root;
	char *tmp;
	char *msg;
	gboolean whole_sync; /* one syncfs, not an fsync per file (mdir(5)) */
	MdirSyncFunc sync_func; /* NULL: syncfs(2) */
	gpointer sync_data;
};

struct MdirStoreTxn {
	MdirStore *store;
	char *dir;
	GPtrArray *records; /* index: part number */
	int fd;		    /* -1 when no part is open */
	guint part;
	MdirSha256 md;
	guint64 size;
	char *buf;
	gsize buffered;
	gboolean committed;
};

static const char *const skeleton[] = {
	".mstore/tmp", ".mstore/msg", ".mdird/queue", "SMTP/Accounts", "SMTP/Outbox",
	"SMTP/Sent", "SMTP/Failed", "SMTP/Spam", "SMTP/Statistics",
};

/* The store's and mdird's own directories: never a link (mdir(5)). */
static const char *const internal[] = {
	".mstore", ".mstore/tmp", ".mstore/msg", ".mdird", ".mdird/queue", ".mdird/work",
	".mdird/failed", ".mdird/keys",
};

/*
 * Whether the internal directories under @root are real directories: a
 * group member's link in place of one would send batches and parts
 * outside the root.  Those not made yet are left to their maker.
 */
static gboolean
internal_dirs_real(const char *root, GError **error)
{
	for (gsize i = 0; i < G_N_ELEMENTS(internal); i++) {
		g_autofree char *d = g_build_filename(root, internal[i], NULL);
		struct stat st;

		if (lstat(d, &st) < 0) {
			if (errno == ENOENT)
				continue;
			return mdir_set_errno(error, errno, d);
		}
		if (!S_ISDIR(st.st_mode)) {
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT,
			    "%s: %s, not followed nor used", d,
			    S_ISLNK(st.st_mode) ? "a symbolic link" : "not a directory");
			return FALSE;
		}
	}
	return TRUE;
}

MdirStore *
mdir_store_open(const char *root, GError **error)
{
	g_autoptr(MdirStore) s = g_new0(MdirStore, 1);
	g_autofree char *canon = NULL;
	char *real;

	g_return_val_if_fail(root != NULL, NULL);
	if (!g_path_is_absolute(root)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "root '%s' is not an absolute path", root);
		return NULL;
	}
	canon = g_canonicalize_filename(root, NULL);
	if (!mdir_mkdir_durable(canon, error))
		return NULL;
	/* the real path, so that checks against links compare like with like */
	real = realpath(canon, NULL);
	if (real == NULL) {
		mdir_set_errno(error, errno, canon);
		return NULL;
	}
	s->root = g_strdup(real);
	free(real);
	/* before making what is missing (not through a link), and after */
	if (!internal_dirs_real(s->root, error))
		return NULL;
	for (gsize i = 0; i < G_N_ELEMENTS(skeleton); i++) {
		g_autofree char *d = g_build_filename(s->root, skeleton[i], NULL);

		if (!mdir_mkdir_durable(d, error))
			return NULL;
	}
	if (!internal_dirs_real(s->root, error))
		return NULL;
	s->tmp = g_build_filename(s->root, ".mstore", "tmp", NULL);
	s->msg = g_build_filename(s->root, ".mstore", "msg", NULL);
	s->whole_sync = mdir_fs_whole_sync(s->root);
	return g_steal_pointer(&s);
}

void
mdir_store_free(MdirStore *store)
{
	if (store == NULL)
		return;
	g_free(store->root);
	g_free(store->tmp);
	g_free(store->msg);
	g_free(store);
}

const char *
mdir_store_root(const MdirStore *store)
{
	return store->root;
}

void
mdir_store_set_sync(MdirStore *store, MdirSyncMode mode)
{
	switch (mode) {
	case MDIR_SYNC_AUTO:
		store->whole_sync = mdir_fs_whole_sync(store->root);
		break;
	case MDIR_SYNC_FS:
		store->whole_sync = TRUE;
		break;
	case MDIR_SYNC_FILE:
		store->whole_sync = FALSE;
		break;
	}
}

MdirStore *
mdir_store_open_config(const MdirConfig *config, GError **error)
{
	const char *mode = mdir_config_get(config, "mdir", "sync");
	MdirStore *store = mdir_store_open(mdir_config_root(config), error);

	if (store && g_strcmp0(mode, "syncfs") == 0)
		mdir_store_set_sync(store, MDIR_SYNC_FS);
	else if (store && g_strcmp0(mode, "fsync") == 0)
		mdir_store_set_sync(store, MDIR_SYNC_FILE);
	return store;
}

gboolean
mdir_store_whole_sync(const MdirStore *store)
{
	return store->whole_sync;
}

void
mdir_store_set_sync_func(MdirStore *store, MdirSyncFunc func, gpointer data)
{
	g_return_if_fail(store != NULL);
	store->sync_func = func;
	store->sync_data = data;
}

gboolean
mdir_store_syncfs(const MdirStore *store, const char *path, GError **error)
{
	if (store->sync_func)
		return store->sync_func(path, store->sync_data, error);
	return mdir_syncfs(path, error);
}

char *
mdir_store_message_dir(const MdirStore *store, const char *message_id)
{
	g_autofree char *h = mdir_sha256_hex(message_id, strlen(message_id));
	char h2[3] = { h[0], h[1], '\0' };

	return g_build_filename(store->msg, h2, h, NULL);
}

char *
mdir_store_part_path(MdirStore *store, const char *url, GError **error)
{
	g_autofree char *id = NULL;
	g_autofree char *dir = NULL;
	char num[16];
	guint part;
	char *path;

	if (!mdir_url_parse(url, &id, &part, error))
		return NULL;
	dir = mdir_store_message_dir(store, id);
	g_snprintf(num, sizeof(num), "%u", part);
	path = g_build_filename(dir, num, NULL);
	if (access(path, F_OK) != 0) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_NOT_FOUND, "%s: %s", url,
		    errno == ENOENT ? "no such message or part" : g_strerror(errno));
		g_free(path);
		return NULL;
	}
	return path;
}

MdirRecord *
mdir_store_load_record(MdirStore *store, const char *url, GError **error)
{
	g_autofree char *id = NULL;
	g_autofree char *dir = NULL;
	g_autofree char *path = NULL;
	char num[16];
	guint part;

	if (!mdir_url_parse(url, &id, &part, error))
		return NULL;
	dir = mdir_store_message_dir(store, id);
	g_snprintf(num, sizeof(num), "%u", part);
	path = g_build_filename(dir, ".meta", num, NULL);
	if (access(path, F_OK) != 0 && errno == ENOENT) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_NOT_FOUND,
		    "%s: no such message or part", url);
		return NULL;
	}
	return mdir_record_load(path, error);
}

/* Temporary files -------------------------------------------------------- */

/*
 * A fresh path in .mstore/tmp: the one naming scheme of everything
 * temporary in the store (a transaction's directory, a program's scratch
 * file, a message on its way out), so fsck tells litter by age alone.
 */
static char *
tmp_path(const MdirStore *store)
{
	g_autofree char *unique = mdir_unique_name();

	return g_build_filename(store->tmp, unique, NULL);
}

int
mdir_store_tmp_open(MdirStore *store, guint mode, char **path, GError **error)
{
	g_autofree char *p = NULL;
	int fd;

	g_return_val_if_fail(store != NULL && path != NULL, -1);
	*path = NULL;
	p = tmp_path(store);
	/* O_EXCL: never an existing file, nor a link planted under the name */
	fd = open(p, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode & MDIR_FILE_MODE);
	if (fd < 0) {
		mdir_set_errno(error, errno, p);
		return -1;
	}
	*path = g_steal_pointer(&p);
	return fd;
}

GPtrArray *
mdir_store_tmp_litter(MdirStore *store, gint64 min_age, GError **error)
{
	/* younger: a delivery may be writing it now */
	return mdir_dir_older(store->tmp, time(NULL) - (time_t)min_age, NULL, error);
}

/* Transactions ---------------------------------------------------------- */

MdirStoreTxn *
mdir_store_txn_begin(MdirStore *store, GError **error)
{
	g_autofree char *meta = NULL;
	MdirStoreTxn *t;

	t = g_new0(MdirStoreTxn, 1);
	t->store = store;
	t->fd = -1;
	t->records = g_ptr_array_new_with_free_func((GDestroyNotify)mdir_record_free);
	t->dir = tmp_path(store);
	meta = g_build_filename(t->dir, ".meta", NULL);
	/* two mkdirs, not a walk of the whole path: .mstore/tmp is there
	 * (mdir_store_open() made it) unless someone removed it since */
	if ((mkdir(t->dir, MDIR_DIR_MODE) < 0 || mkdir(meta, MDIR_DIR_MODE) < 0) &&
	    g_mkdir_with_parents(meta, MDIR_DIR_MODE) < 0) {
		mdir_set_errno(error, errno, t->dir);
		mdir_store_txn_free(t);
		return NULL;
	}
	return t;
}

static void
remove_tree(const char *dir)
{
	g_autofree char *meta = g_build_filename(dir, ".meta", NULL);
	const char *const dirs[] = { meta, dir };

	for (gsize i = 0; i < G_N_ELEMENTS(dirs); i++) {
		GDir *d = g_dir_open(dirs[i], 0, NULL);
		const char *n;

		while (d && (n = g_dir_read_name(d)) != NULL) {
			g_autofree char *p = g_build_filename(dirs[i], n, NULL);

			unlink(p);
		}
		if (d)
			g_dir_close(d);
		rmdir(dirs[i]);
	}
}

void
mdir_store_txn_free(MdirStoreTxn *txn)
{
	if (txn == NULL)
		return;
	if (txn->fd >= 0)
		close(txn->fd);
	if (!txn->committed)
		remove_tree(txn->dir);
	g_free(txn->buf);
	g_free(txn->dir);
	g_ptr_array_unref(txn->records);
	g_free(txn);
}

char *
mdir_store_txn_part_path(MdirStoreTxn *txn, guint part)
{
	char num[16];

	g_snprintf(num, sizeof(num), "%u", part);
	return g_build_filename(txn->dir, num, NULL);
}

MdirRecord *
mdir_store_txn_record(MdirStoreTxn *txn, guint part)
{
	if (part >= txn->records->len)
		g_ptr_array_set_size(txn->records, part + 1);
	if (txn->records->pdata[part] == NULL)
		txn->records->pdata[part] = mdir_record_new();
	return txn->records->pdata[part];
}

guint
mdir_store_txn_n_parts(const MdirStoreTxn *txn)
{
	return txn->records->len;
}

gboolean
mdir_store_txn_open_part(MdirStoreTxn *txn, guint part, GError **error)
{
	g_autofree char *path = mdir_store_txn_part_path(txn, part);

	g_return_val_if_fail(txn->fd < 0, FALSE);
	txn->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, MDIR_FILE_MODE);
	if (txn->fd < 0)
		return mdir_set_errno(error, errno, path);
	txn->part = part;
	txn->size = 0;
	mdir_sha256_init(&txn->md);
	if (txn->buf == NULL)
		txn->buf = g_malloc(WRITE_BUFFER);
	txn->buffered = 0;
	mdir_store_txn_record(txn, part);
	return TRUE;
}

static gboolean
txn_flush(MdirStoreTxn *txn, GError **error)
{
	const char *p = txn->buf;
	gsize left = txn->buffered;

	while (left > 0) {
		ssize_t n = write(txn->fd, p, left);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			g_autofree char *path = mdir_store_txn_part_path(txn, txn->part);

			return mdir_set_errno(error, errno, path);
		}
		p += n;
		left -= n;
	}
	txn->buffered = 0;
	return TRUE;
}

gboolean
mdir_store_txn_write(MdirStoreTxn *txn, const void *data, gsize length, GError **error)
{
	g_return_val_if_fail(txn->fd >= 0, FALSE);
	mdir_sha256_update(&txn->md, data, length);
	txn->size += length;
	while (length > 0) {
		gsize n = MIN(length, WRITE_BUFFER - txn->buffered);

		memcpy(txn->buf + txn->buffered, data, n);
		txn->buffered += n;
		data = (const char *)data + n;
		length -= n;
		if (txn->buffered == WRITE_BUFFER && !txn_flush(txn, error))
			return FALSE;
	}
	return TRUE;
}

gboolean
mdir_store_txn_close_part(MdirStoreTxn *txn, GError **error)
{
	MdirRecord *r = mdir_store_txn_record(txn, txn->part);
	char hex[65];
	int fd = txn->fd;

	g_return_val_if_fail(fd >= 0, FALSE);
	if (!txn_flush(txn, error)) {
		txn->fd = -1;
		close(fd);
		return FALSE;
	}
	txn->fd = -1;
	/* per file, start write-back now: the fsync at commit then finds
	 * little to do.  Not before a syncfs, which writes every file in one
	 * pass: a request a part, each in the delivery's own time, made LMTP
	 * slower (bench/README, the LMTP section) */
	if (!txn->store->whole_sync)
		sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	if (close(fd) < 0) {
		g_autofree char *path = mdir_store_txn_part_path(txn, txn->part);

		return mdir_set_errno(error, errno, path);
	}
	mdir_sha256_final_hex(&txn->md, hex);
	mdir_record_set_int(r, "size", (gint64)txn->size);
	mdir_record_set(r, "sha256", hex);
	return TRUE;
}

/* Commit ------------------------------------------------------------------ */

/* msg/<h2>: with a whole-fs sync, the one after the rename covers it too. */
static gboolean
make_bucket(MdirStore *store, const char *dir, GError **error)
{
	if (!store->whole_sync)
		return mdir_mkdir_durable(dir, error);
	if (mkdir(dir, MDIR_DIR_MODE) < 0 && errno != EEXIST)
		return mdir_set_errno(error, errno, dir);
	return TRUE;
}

static gboolean
is_store_field(const char *name)
{
	static const char *const fields[] = { "url", "anchor", "message-id", "part", "parts" };

	for (gsize i = 0; i < G_N_ELEMENTS(fields); i++)
		if (strcmp(name, fields[i]) == 0)
			return TRUE;
	return FALSE;
}

/*
 * Writes every record with the store's fields (not synced: sync_tree()
 * syncs every file of the message at once); @written: those records, for
 * the transaction to hold once it is published.
 */
static gboolean
write_records(MdirStoreTxn *txn, const char *stored_id, const char *message_id,
    GPtrArray **written, GError **error)
{
	g_autofree char *anchor = mdir_url_build(stored_id, 0);
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(
	    (GDestroyNotify)mdir_record_free);
	guint n = txn->records->len;

	for (guint i = 0; i < n; i++) {
		MdirRecord *mine = mdir_store_txn_record(txn, i);
		MdirRecord *r = mdir_record_new();
		g_autofree char *url = mdir_url_build(stored_id, i);
		g_autofree char *text = NULL;
		g_autofree char *path = NULL;
		char num[16];
		gsize len;

		/* the store's fields first: a record reads as "what, then about it" */
		mdir_record_add(r, "url", url);
		mdir_record_add(r, "anchor", anchor);
		mdir_record_add(r, "message-id", message_id);
		mdir_record_set_int(r, "part", i);
		mdir_record_set_int(r, "parts", n - 1);
		for (guint j = 0; j < mdir_record_length(mine); j++) {
			const char *name, *value;

			mdir_record_nth(mine, j, &name, &value);
			if (!is_store_field(name))
				mdir_record_add(r, name, value);
		}
		g_ptr_array_add(out, r);
		g_snprintf(num, sizeof(num), "%u", i);
		path = g_build_filename(txn->dir, ".meta", num, NULL);
		text = mdir_record_to_string(r, &len);
		if (!mdir_write_file(path, text, len, error))
			return FALSE;
	}
	*written = g_steal_pointer(&out);
	return TRUE;
}

/*
 * Makes the message's files and directories durable before the rename
 * publishes them.  On a local file system one syncfs does it for every
 * file at once (a delivery costs a few flushes, not two per part); on a
 * network one, where syncfs promises nothing, each file and directory is
 * fsynced.
 */
static gboolean
sync_tree(MdirStoreTxn *txn, GError **error)
{
	g_autofree char *meta = g_build_filename(txn->dir, ".meta", NULL);

	if (txn->store->whole_sync)
		return mdir_store_syncfs(txn->store, txn->dir, error);

	for (guint i = 0; i < txn->records->len; i++) {
		g_autofree char *part = mdir_store_txn_part_path(txn, i);
		g_autofree char *rec = NULL;
		char num[16];

		g_snprintf(num, sizeof(num), "%u", i);
		rec = g_build_filename(meta, num, NULL);
		if (!mdir_fsync_path(part, error) || !mdir_fsync_path(rec, error))
			return FALSE;
	}
	return mdir_fsync_dir(meta, error) && mdir_fsync_dir(txn->dir, error);
}

/* Whether the message in @dir is the one being committed (same raw bytes). */
static gboolean
same_message(const char *dir, const char *sha, gboolean *same, GError **error)
{
	g_autofree char *path = g_build_filename(dir, ".meta", "0", NULL);
	g_autoptr(MdirRecord) r = mdir_record_load(path, error);
	const char *theirs;

	if (r == NULL)
		return FALSE;
	theirs = mdir_record_get(r, "sha256");
	*same = theirs != NULL && strcmp(theirs, sha) == 0;
	return TRUE;
}

static char *
strip_brackets(const char *id)
{
	char *s = g_strstrip(g_strdup(id));
	gsize len = strlen(s);

	if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
		memmove(s, s + 1, len - 2);
		s[len - 2] = '\0';
	}
	return s;
}

/* The id a message of content @sha is stored under first: its Message-ID's. */
static char *
base_id(const char *message_id, const char *sha)
{
	char *orig = message_id ? strip_brackets(message_id) : NULL;

	if (orig == NULL || *orig == '\0') {
		g_free(orig);
		orig = g_strdup_printf("%.32s@" MADE_UP_DOMAIN, sha);
	}
	return orig;
}

char *
mdir_store_lookup(MdirStore *store, const char *message_id, const char *sha256,
    GError **error)
{
	g_autofree char *orig = base_id(message_id, sha256);
	g_autofree char *apart = g_strdup_printf("%s~%.12s", orig, sha256);
	const char *ids[] = { orig, apart };

	/* where mdir_store_txn_publish() puts it: the Message-ID's own id,
	 * or, when another message holds that, the id kept apart */
	for (gsize i = 0; i < G_N_ELEMENTS(ids); i++) {
		g_autofree char *dir = mdir_store_message_dir(store, ids[i]);
		gboolean same = FALSE;

		if (!g_file_test(dir, G_FILE_TEST_IS_DIR))
			continue;
		if (!same_message(dir, sha256, &same, error))
			return NULL;
		if (same)
			return g_strdup(ids[i]);
	}
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_NOT_FOUND, "%s: no message with sha256 %s",
	    orig, sha256);
	return NULL;
}

gboolean
mdir_store_txn_commit(MdirStoreTxn *txn, const char *message_id, char **stored_id,
    MdirStoreOutcome *outcome, GError **error)
{
	return mdir_store_txn_publish(txn, message_id, stored_id, outcome, TRUE, error);
}

gboolean
mdir_store_txn_publish(MdirStoreTxn *txn, const char *message_id, char **stored_id,
    MdirStoreOutcome *outcome, gboolean final_sync, GError **error)
{
	g_autofree char *id = NULL;
	g_autofree char *orig = NULL;
	const char *sha;

	g_return_val_if_fail(txn->fd < 0 && !txn->committed, FALSE);
	if (txn->records->len == 0 || (sha = mdir_record_get(mdir_store_txn_record(txn, 0),
	    "sha256")) == NULL) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "%s: no raw message written",
		    txn->dir);
		return FALSE;
	}
	orig = base_id(message_id, sha);
	id = g_strdup(orig);
	/* at most: the id taken by another message, then a race on the new id */
	for (int attempt = 0; attempt < 4; attempt++) {
		g_autofree char *dest = mdir_store_message_dir(txn->store, id);
		g_autofree char *parent = g_path_get_dirname(dest);
		g_autoptr(GPtrArray) written = NULL;
		gboolean same = FALSE;

		if (g_file_test(dest, G_FILE_TEST_IS_DIR)) {
			if (!same_message(dest, sha, &same, error))
				return FALSE;
			if (same) {
				if (outcome)
					*outcome = MDIR_STORE_DUPLICATE;
				*stored_id = g_steal_pointer(&id);
				return TRUE;
			}
			if (strcmp(id, orig) != 0) {
				g_set_error(error, MDIR_ERROR, MDIR_ERROR_CORRUPT,
				    "%s: holds another message under id %s", dest, id);
				return FALSE;
			}
			g_free(id);
			id = g_strdup_printf("%s~%.12s", orig, sha);
			continue;
		}
		if (!write_records(txn, id, orig, &written, error) || !sync_tree(txn, error) ||
		    !make_bucket(txn->store, parent, error))
			return FALSE;
		if (rename(txn->dir, dest) < 0) {
			if (errno == ENOTEMPTY || errno == EEXIST)
				continue; /* published by a concurrent delivery: look again */
			return mdir_set_errno(error, errno, dest);
		}
		txn->committed = TRUE;
		/* the records as stored: the caller reads them here, not again
		 * from the disk (mdir_store_txn_record()) */
		g_ptr_array_unref(txn->records);
		txn->records = g_steal_pointer(&written);
		/* the rename itself: with a whole-fs sync, the caller's next one
		 * may cover it (final_sync FALSE); per file, only this does */
		if (txn->store->whole_sync ? final_sync &&
		    !mdir_store_syncfs(txn->store, parent, error) :
		    !mdir_fsync_dir(parent, error))
			return FALSE;
		if (outcome)
			*outcome = MDIR_STORE_NEW;
		*stored_id = g_steal_pointer(&id);
		return TRUE;
	}
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_TEMPFAIL, "%s: could not publish", orig);
	return FALSE;
}

gboolean
mdir_store_put_file(MdirStore *store, const char *path, const MdirRecord *record,
    char **url, GError **error)
{
	g_autoptr(MdirStoreTxn) txn = NULL;
	g_autofree char *id = NULL;
	MdirStoreOutcome outcome;
	MdirRecord *r;
	char buf[65536];
	ssize_t n;
	int fd;

	fd = g_strcmp0(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return mdir_set_errno(error, errno, path);
	txn = mdir_store_txn_begin(store, error);
	if (txn == NULL || !mdir_store_txn_open_part(txn, 0, error))
		goto fail;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			mdir_set_errno(error, errno, path);
			goto fail;
		}
		if (!mdir_store_txn_write(txn, buf, n, error))
			goto fail;
	}
	close(fd);
	fd = -1;
	if (!mdir_store_txn_close_part(txn, error))
		goto fail;
	r = mdir_store_txn_record(txn, 0);
	for (guint i = 0; record && i < mdir_record_length(record); i++) {
		const char *name, *value;

		mdir_record_nth(record, i, &name, &value);
		mdir_record_add(r, name, value);
	}
	if (!mdir_store_txn_commit(txn, NULL, &id, &outcome, error))
		goto fail;
	*url = mdir_url_build(id, 0);
	return TRUE;
fail:
	if (fd >= 0)
		close(fd);
	return FALSE;
}

gboolean
mdir_store_foreach(MdirStore *store, MdirStoreForeachFunc func, gpointer user_data,
    GError **error)
{
	g_autoptr(GDir) top = g_dir_open(store->msg, 0, error);
	const char *h2;

	if (top == NULL)
		return FALSE;
	while ((h2 = g_dir_read_name(top)) != NULL) {
		g_autofree char *sub = g_build_filename(store->msg, h2, NULL);
		g_autoptr(GDir) d = g_dir_open(sub, 0, NULL);
		const char *h;

		while (d && (h = g_dir_read_name(d)) != NULL) {
			g_autofree char *dir = g_build_filename(sub, h, NULL);

			if (!func(dir, user_data))
				return TRUE;
		}
	}
	return TRUE;
}

/* Whether @dir is msg/<h2>/<h> of @store, h 64 hex digits starting with h2. */
static gboolean
is_message_dir(const MdirStore *store, const char *dir)
{
	g_autofree char *bucket = g_path_get_dirname(dir);
	g_autofree char *msg = g_path_get_dirname(bucket);
	g_autofree char *h = g_path_get_basename(dir);
	g_autofree char *h2 = g_path_get_basename(bucket);

	if (strcmp(msg, store->msg) != 0 || strlen(h) != 64 || strlen(h2) != 2 ||
	    strncmp(h, h2, 2) != 0)
		return FALSE;
	for (const char *p = h; *p; p++)
		if (!g_ascii_isxdigit(*p))
			return FALSE;
	return TRUE;
}

gboolean
mdir_store_remove_message(MdirStore *store, const char *message_dir, GError **error)
{
	g_autofree char *grave = NULL;

	if (!is_message_dir(store, message_dir)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "%s: not a stored message",
		    message_dir);
		return FALSE;
	}
	/* out of msg/ in one step: no reader ever sees half of a message */
	grave = tmp_path(store);
	if (rename(message_dir, grave) < 0)
		return mdir_set_errno(error, errno, message_dir);
	/* a crash from here on leaves a directory in tmp, which fsck removes */
	remove_tree(grave);
	return TRUE;
}
