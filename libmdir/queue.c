/*
 * queue.c: header batches on their way from mdir-receive to mdird
 * (DESIGN §2, mdird(8)).  A batch is a file in .mdird/queue: header records
 * one after another, separated by a blank line (a record never holds one).
 * It is written under a dot name, synced, and renamed into place, so mdird
 * never reads half a batch; its name sorts in arrival order.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"
#include "private.h"

char *
mdir_queue_dir(const MdirStore *store)
{
	return g_build_filename(mdir_store_root(store), ".mdird", "queue", NULL);
}

/*
 * A batch under a dot name, renamed into place, then one syncfs for both.
 * Should a crash leave the name without the bytes, mdird sets the empty
 * batch aside; Postfix, which heard nothing, delivers again and the
 * retry writes a whole one.
 */
static gboolean
write_then_syncfs(MdirStore *store, const char *dir, const char *path, GString *text,
    GError **error)
{
	g_autofree char *base = g_path_get_basename(path);
	g_autofree char *tmp = g_strdup_printf("%s/.%s", dir, base);

	if (!mdir_write_file(tmp, text->str, text->len, error))
		return FALSE;
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		return mdir_set_errno(error, errno, path);
	}
	return mdir_store_syncfs(store, dir, error);
}

static GString *
batch_text(GPtrArray *records)
{
	GString *text = g_string_sized_new(4096);

	for (guint i = 0; i < records->len; i++) {
		gsize len;
		g_autofree char *r = mdir_record_to_string(records->pdata[i], &len);

		if (i > 0)
			g_string_append_c(text, '\n');
		g_string_append_len(text, r, len);
	}
	return text;
}

/* microseconds first: names sort in the order batches came */
static char *
batch_name(void)
{
	g_autofree char *unique = mdir_unique_name();

	return g_strdup_printf("%016" G_GINT64_MODIFIER "x.%s", g_get_real_time(), unique);
}

gboolean
mdir_queue_write(MdirStore *store, GPtrArray *records, char **name, GError **error)
{
	g_autoptr(GString) text = batch_text(records);
	g_autofree char *dir = mdir_queue_dir(store);
	g_autofree char *path = NULL;

	*name = batch_name();
	path = g_build_filename(dir, *name, NULL);
	if (!(mdir_store_whole_sync(store) ? write_then_syncfs(store, dir, path, text, error) :
	    mdir_file_write_durable(path, text->str, text->len, error))) {
		g_clear_pointer(name, g_free);
		return FALSE;
	}
	return TRUE;
}

/* Fault points for the tests (MDIR_TEST_FAULT=NAME): a kill -9 just there. */
void
mdir_test_fault(const char *point)
{
	const char *want = g_getenv("MDIR_TEST_FAULT");

	if (want != NULL && strcmp(want, point) == 0)
		kill(getpid(), SIGKILL);
}

/* Delivery keys ---------------------------------------------------------- */

static char *
keys_dir(const MdirStore *store)
{
	return g_build_filename(mdir_store_root(store), ".mdird", "keys", NULL);
}

/* .mdird/keys/<first two digits>/<key> */
static char *
key_path(const MdirStore *store, const char *key)
{
	g_autofree char *dir = keys_dir(store);
	char shard[3] = { key[0], key[1], '\0' };

	return g_build_filename(dir, shard, key, NULL);
}

/* The key of a pending batch ".KEY" (64 hex digits), or NULL. */
static const char *
pending_key(const char *name)
{
	if (name[0] != '.' || strlen(name + 1) != 64)
		return NULL;
	for (const char *p = name + 1; *p; p++)
		if (!g_ascii_isxdigit(*p))
			return NULL;
	return name + 1;
}

/*
 * The directory of the key at @kpath's shard, opened, made first if it is
 * missing.  .mdird is group-writable: a link as the shard is refused.
 */
static int
open_shard(const char *kpath, gboolean whole, GError **error)
{
	g_autofree char *shard = g_path_get_dirname(kpath);
	GError *e = NULL;
	int fd;

	/* there already, but for a delivery's first key of the shard */
	fd = mdir_dir_open_nofollow(shard, FALSE, &e);
	if (fd >= 0 || !g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
		if (e)
			g_propagate_error(error, e);
		return fd;
	}
	g_error_free(e);
	/* synced whole, the delivery's one syncfs covers a new shard too */
	if (!whole && !mdir_mkdir_durable(shard, error))
		return -1;
	return mdir_dir_open_nofollow(shard, TRUE, error);
}

/*
 * Locks the shard of the key at @kpath (its directory's .lock): the
 * deliveries of keys in one shard take turns, so that each sees the
 * others' steps whole.  With @wait FALSE, -1 with errno EWOULDBLOCK and no
 * error if another holds it.  @shard_fd, unless NULL: the shard's
 * directory, open, for the caller to close.
 */
static int
lock_shard(const char *kpath, gboolean whole, gboolean wait, int *shard_fd, GError **error)
{
	g_autofree char *shard = g_path_get_dirname(kpath);
	g_autofree char *lock = g_build_filename(shard, ".lock", NULL);
	int dfd, fd;

	dfd = open_shard(kpath, whole, error);
	if (dfd < 0)
		return -1;
	/* O_NONBLOCK kept: no read or write is made, flock(2) ignores it */
	fd = mdir_open_at(dfd, ".lock", O_RDWR | O_CREAT | O_NONBLOCK, lock, error);
	if (fd < 0 || shard_fd == NULL)
		close(dfd);
	if (fd < 0)
		return -1;
	/* mdir-receive's deadline bounds the wait */
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
		int errsv = errno;

		if (errsv == EINTR)
			continue;
		close(fd);
		if (shard_fd)
			close(dfd);
		if (errsv != EWOULDBLOCK)
			mdir_set_errno(error, errsv, lock);
		errno = errsv;
		return -1;
	}
	if (shard_fd)
		*shard_fd = dfd;
	return fd;
}

/* The key's file in the shard @dfd: empty, only its name counts. */
static gboolean
make_key(int dfd, const char *path, gboolean whole, GError **error)
{
	int fd = mdir_open_at(dfd, strrchr(path, '/') + 1, O_WRONLY | O_CREAT | O_NONBLOCK,
	    path, error);

	if (fd < 0)
		return FALSE;
	close(fd);
	return whole || fsync(dfd) == 0 || mdir_set_errno(error, errno, path);
}

/* Removes a pending batch, unless its key exists: then a retry needs it. */
static void
drop_pending(const char *tmp, const char *kpath)
{
	if (access(kpath, F_OK) < 0)
		unlink(tmp);
}

static gboolean
sync_queue(MdirStore *store, const char *dir, GError **error)
{
	return mdir_store_whole_sync(store) ? mdir_store_syncfs(store, dir, error) :
	    mdir_fsync_dir(dir, error);
}

/*
 * The steps, each safe to be killed after (mdir(5) DELIVERY KEYS), under
 * the lock of the key's shard:
 *   1. if the key exists and no pending batch .mdird/queue/.KEY does, an
 *      earlier delivery of the same bytes to the same recipient made its
 *      batch visible: sync what it did (it may have been killed before
 *      its sync), and queue nothing;
 *   2. the batch written into .KEY;
 *   3. the key made (after the batch's bytes, before they are visible);
 *   4. .KEY renamed to the batch's name, one sync for all.
 * A .KEY found with its key is a delivery killed between 3 and 4: its
 * batch never became visible, so this one writes it.  Program order is
 * enough against a kill; against a machine crash the journal keeps the
 * key's creation (metadata) before the rename that follows it.
 */
gboolean
mdir_queue_write_once(MdirStore *store, GPtrArray *records, const char *key, char **name,
    GError **error)
{
	g_autofree char *dir = mdir_queue_dir(store);
	g_autofree char *pending = g_strconcat(".", key, NULL);
	g_autofree char *tmp = g_build_filename(dir, pending, NULL);
	g_autofree char *kpath = NULL;
	g_autofree char *path = NULL;
	g_autoptr(GString) text = NULL;
	gboolean whole = mdir_store_whole_sync(store);
	gboolean ok = FALSE;
	int fd, dfd = -1;

	g_return_val_if_fail(pending_key(pending) != NULL, FALSE);
	*name = NULL;
	kpath = key_path(store, key);
	fd = lock_shard(kpath, whole, TRUE, &dfd, error);
	if (fd < 0)
		return FALSE;
	if (faccessat(dfd, key, F_OK, 0) == 0 && access(tmp, F_OK) < 0) {
		ok = sync_queue(store, dir, error);
		goto out;
	}
	text = batch_text(records);
	if (!mdir_write_file(tmp, text->str, text->len, error) ||
	    (!whole && !mdir_fsync_path(tmp, error))) {
		drop_pending(tmp, kpath);
		goto out;
	}
	mdir_test_fault("queue-before-key");
	if (!make_key(dfd, kpath, whole, error)) {
		drop_pending(tmp, kpath);
		goto out;
	}
	mdir_test_fault("queue-before-rename");
	*name = batch_name();
	path = g_build_filename(dir, *name, NULL);
	/* on failure .KEY stays with its key: the retry finishes it */
	if (rename(tmp, path) < 0)
		mdir_set_errno(error, errno, path);
	else
		ok = sync_queue(store, dir, error);
	if (!ok)
		g_clear_pointer(name, g_free);
out:
	close(dfd);
	close(fd);
	return ok;
}

/* Removes the keys in @shard older than @before (a time_t). */
static gboolean
expire_shard(const char *shard, time_t before, guint *removed, GError **error)
{
	g_autoptr(GDir) d = g_dir_open(shard, 0, NULL);
	const char *n;

	if (d == NULL)
		return errno == ENOENT || mdir_set_errno(error, errno ? errno : EIO, shard);
	while ((n = g_dir_read_name(d)) != NULL) {
		g_autofree char *p = g_build_filename(shard, n, NULL);
		struct stat st;

		if (n[0] == '.' || lstat(p, &st) < 0 || st.st_mtime >= before)
			continue;
		if (unlink(p) < 0 && errno != ENOENT)
			return mdir_set_errno(error, errno, p);
		(*removed)++;
	}
	return TRUE;
}

gboolean
mdir_queue_expire_keys(MdirStore *store, gint64 max_age, guint *removed, GError **error)
{
	g_autofree char *dir = keys_dir(store);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	time_t before = time(NULL) - (time_t)max_age;
	guint n_removed = 0;
	const char *n;
	gboolean ok = TRUE;

	if (d == NULL && errno != ENOENT)
		return mdir_set_errno(error, errno ? errno : EIO, dir);
	while (ok && d && (n = g_dir_read_name(d)) != NULL) {
		g_autofree char *shard = g_build_filename(dir, n, NULL);

		ok = expire_shard(shard, before, &n_removed, error);
	}
	if (removed)
		*removed = n_removed;
	return ok;
}

/* Litter and what pins messages -------------------------------------------- */

static gboolean
older_than(const char *path, time_t before)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime < before;
}

/*
 * Removes a pending batch a killed delivery left, and its key first: a
 * key without its pending file would say the batch was queued.  Left if
 * a delivery of that shard holds its lock (it may be this one's retry).
 */
static gboolean
remove_pending(MdirStore *store, const char *path, const char *key, time_t before,
    gboolean *removed, GError **error)
{
	g_autofree char *kpath = key_path(store, key);
	g_autofree char *shard = g_path_get_dirname(kpath);
	gboolean ok = TRUE;
	int fd = lock_shard(kpath, mdir_store_whole_sync(store), FALSE, NULL, error);

	if (fd < 0)
		return errno == EWOULDBLOCK;
	/* a retry may have finished it while this waited: then its key stays */
	if (!older_than(path, before)) {
		close(fd);
		return TRUE;
	}
	if (unlink(kpath) == 0)
		ok = sync_queue(store, shard, error);
	else if (errno != ENOENT)
		ok = mdir_set_errno(error, errno, kpath);
	if (ok && unlink(path) < 0 && errno != ENOENT)
		ok = mdir_set_errno(error, errno, path);
	*removed = ok;
	close(fd);
	return ok;
}

/* Litter is a batch never finished: a dot name, a regular file. */
static gboolean
is_litter(const char *name, const struct stat *st)
{
	return name[0] == '.' && S_ISREG(st->st_mode);
}

GPtrArray *
mdir_queue_litter(MdirStore *store, gint64 min_age, GError **error)
{
	g_autofree char *dir = mdir_queue_dir(store);

	return mdir_dir_older(dir, time(NULL) - (time_t)min_age, is_litter, error);
}

gboolean
mdir_queue_clean(MdirStore *store, gint64 min_age, guint *removed, GError **error)
{
	g_autoptr(GPtrArray) litter = mdir_queue_litter(store, min_age, error);
	time_t before = time(NULL) - (time_t)min_age;
	guint n_removed = 0;
	gboolean ok = litter != NULL;

	for (guint i = 0; ok && i < litter->len; i++) {
		const char *p = g_ptr_array_index(litter, i);
		const char *key = pending_key(strrchr(p, '/') + 1);
		gboolean gone = FALSE;

		if (key != NULL)
			ok = remove_pending(store, p, key, before, &gone, error);
		else if (unlink(p) == 0)
			gone = TRUE;
		else if (errno != ENOENT)
			ok = mdir_set_errno(error, errno, p);
		if (gone) {
			mdir_log(LOG_NOTICE, "removed %s, a batch a crash left half-written", p);
			n_removed++;
		}
	}
	if (removed)
		*removed = n_removed;
	return ok;
}

/* Adds the "anchor" values of the batch at @path to @set. */
static gboolean
add_anchors(GHashTable *set, const char *path, GError **error)
{
	GError *e = NULL;
	gsize len;
	g_autofree char *text = mdir_read_small_file(path, &len, &e);
	const char *end;

	if (text == NULL) {
		/* moved on (queue to work to gone, or failed): seen there */
		if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
			g_error_free(e);
			return TRUE;
		}
		g_propagate_error(error, e);
		return FALSE;
	}
	end = text + len;
	for (const char *p = text; p < end;) {
		const char *nl = memchr(p, '\n', end - p);
		const char *eol = nl ? nl : end;

		if (g_str_has_prefix(p, "anchor: ") && eol - p > 8)
			g_hash_table_add(set, g_strndup(p + 8, eol - p - 8));
		p = nl ? nl + 1 : end;
	}
	return TRUE;
}

/* The anchors of the batches in .mdird/@sub; @seen: names read already. */
static gboolean
collect_anchors(MdirStore *store, const char *sub, GHashTable *set, GHashTable *seen,
    GError **error)
{
	g_autofree char *dir = g_build_filename(mdir_store_root(store), ".mdird", sub, NULL);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	time_t stale = time(NULL) - MDIR_QUEUE_STALE;
	const char *n;

	if (d == NULL)
		return errno == ENOENT || mdir_set_errno(error, errno ? errno : EIO, dir);
	while ((n = g_dir_read_name(d)) != NULL) {
		g_autofree char *p = g_build_filename(dir, n, NULL);
		g_autofree char *where = g_build_filename(sub, n, NULL);

		if (!g_hash_table_add(seen, g_steal_pointer(&where)))
			continue;
		if (n[0] == '.' && older_than(p, stale))
			continue; /* litter: mdird and fsck remove it */
		if (!add_anchors(set, p, error))
			return FALSE;
	}
	return TRUE;
}

/*
 * A batch moves from a dot name to the queue, to work, then is gone or
 * in failed: read in that order, and the queue once more, a batch that
 * moves while it is read is seen where it went.
 */
GHashTable *
mdir_queue_anchors(MdirStore *store, GError **error)
{
	g_autoptr(GHashTable) set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    NULL);
	static const char *const order[] = { "queue", "work", "failed", "queue" };

	for (guint i = 0; i < G_N_ELEMENTS(order); i++)
		if (!collect_anchors(store, order[i], set, seen, error))
			return NULL;
	return g_steal_pointer(&set);
}

GPtrArray *
mdir_queue_read(const char *path, GError **error)
{
	gsize len;
	g_autofree char *text = mdir_read_small_file(path, &len, error);
	g_autoptr(GPtrArray) out = NULL;
	const char *p, *end;

	if (text == NULL)
		return NULL;
	out = g_ptr_array_new_with_free_func((GDestroyNotify)mdir_record_free);
	for (p = text, end = text + len; p < end;) {
		const char *sep = g_strstr_len(p, end - p, "\n\n");
		const char *stop = sep ? sep + 1 : end;
		GError *e = NULL;
		MdirRecord *r = mdir_record_parse(p, stop - p, &e);

		if (r == NULL) {
			g_propagate_prefixed_error(error, e, "%s: record %u: ", path, out->len + 1);
			return NULL;
		}
		if (mdir_record_length(r) > 0)
			g_ptr_array_add(out, r);
		else
			mdir_record_free(r);
		p = sep ? sep + 2 : end;
	}
	return g_steal_pointer(&out);
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

GPtrArray *
mdir_queue_list(MdirStore *store, GError **error)
{
	g_autofree char *dir = mdir_queue_dir(store);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	GPtrArray *names;
	const char *n;

	if (d == NULL) {
		mdir_set_errno(error, errno ? errno : EIO, dir);
		return NULL;
	}
	names = g_ptr_array_new_with_free_func(g_free);
	while ((n = g_dir_read_name(d)) != NULL)
		if (n[0] != '.')
			g_ptr_array_add(names, g_strdup(n));
	g_ptr_array_sort(names, compare_names);
	return names;
}

gboolean
mdir_daemon_poke(const char *socket_path, GError **error)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static const char poke[] = "POKE\r\nQUIT\r\n";
	int fd;

	if (strlen(socket_path) >= sizeof(sa.sun_path)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG, "%s: socket path too long",
		    socket_path);
		return FALSE;
	}
	strcpy(sa.sun_path, socket_path);
	/* non-blocking: a daemon that is stuck must not hold up a delivery */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return mdir_set_errno(error, errno, socket_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, poke, sizeof(poke) - 1, MSG_NOSIGNAL) < 0) {
		int errsv = errno;

		close(fd);
		return mdir_set_errno(error, errsv, socket_path);
	}
	close(fd);
	return TRUE;
}
