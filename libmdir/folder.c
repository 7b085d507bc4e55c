/*
 * folder.c: folders, their entries, .meta records, .version and .changes
 * (DESIGN §2, mdir(5)).
 *
 * Every change happens under the folder's lock and in this order: the
 * entry is linked under a free name, its record written durably, the
 * directory synced, the change appended to .changes and synced, then
 * .version replaced.  A crash between two steps leaves an entry without a
 * record, or a .version behind .changes: fsck repairs the first from the
 * store (the entry is a link to a stored part), and the version is
 * always read as the larger of .version and the last line of .changes, so
 * the second needs no repair and a hand-edited .version cannot make a
 * version repeat.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "mdir.h"
#include "private.h"

#define DEFAULT_LOCK_TIMEOUT_MS 30000

struct MdirFolder {
	MdirStore *store;
	char *path;
	char *name;
	guint lock_timeout;
	int lock_fd;
	int fd;	     /* the folder, opened once: every write is relative to it */
	int meta_fd; /* its .meta, while a verb needs it (closed with the lock) */
};

/* Paths -------------------------------------------------------------------- */

static gboolean
inside(const char *root, const char *path)
{
	gsize len = strlen(root);

	return strncmp(path, root, len) == 0 && (path[len] == '\0' || path[len] == '/');
}

static gboolean
outside_error(GError **error, const char *path)
{
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT, "%s: leads outside the root",
	    path);
	return FALSE;
}

char *
mdir_resolve(const MdirStore *store, const char *path, GError **error)
{
	const char *root = mdir_store_root(store);
	g_autofree char *full = g_path_is_absolute(path) ? g_canonicalize_filename(path, NULL) :
	    g_canonicalize_filename(path, root);
	g_autofree char *existing = g_strdup(full);
	g_autofree char *real = NULL;
	char *rest;
	char *r;

	/* the longest prefix that exists: links in it are resolved by realpath */
	while ((r = realpath(existing, NULL)) == NULL) {
		char *slash;

		if (errno != ENOENT && errno != ENOTDIR) {
			mdir_set_errno(error, errno, existing);
			return NULL;
		}
		slash = strrchr(existing, '/');
		if (slash == NULL || slash == existing) {
			outside_error(error, path);
			return NULL;
		}
		*slash = '\0';
	}
	real = r;
	if (!inside(root, real)) {
		outside_error(error, path);
		return NULL;
	}
	rest = full + strlen(existing);
	return g_strconcat(real, rest, NULL);
}

/* Opening ------------------------------------------------------------------ */

static gboolean
check_components(const char *rel, GError **error)
{
	g_auto(GStrv) parts = g_strsplit(rel, "/", -1);

	if (*rel == '\0') {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_BAD_NAME,
		    "the root itself is not a folder");
		return FALSE;
	}
	for (char **p = parts; *p; p++)
		if ((*p)[0] == '.') {
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_BAD_NAME,
			    "%s: names starting with a dot are reserved", rel);
			return FALSE;
		}
	return TRUE;
}

MdirFolder *
mdir_folder_open(MdirStore *store, const char *path, MdirFolderFlags flags, GError **error)
{
	g_autofree char *abs = mdir_resolve(store, path, error);
	const char *root = mdir_store_root(store);
	const char *rel;
	struct stat st;
	MdirFolder *f;
	int fd;

	if (abs == NULL)
		return NULL;
	rel = abs + strlen(root);
	while (*rel == '/')
		rel++;
	if (!check_components(rel, error))
		return NULL;
	if (stat(abs, &st) < 0) {
		if (errno != ENOENT) {
			mdir_set_errno(error, errno, path);
			return NULL;
		}
		if (!(flags & MDIR_FOLDER_CREATE)) {
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_NOT_FOUND, "%s: no such folder",
			    path);
			return NULL;
		}
		if (!mdir_mkdir_durable(abs, error))
			return NULL;
	} else if (!S_ISDIR(st.st_mode)) {
		mdir_set_errno(error, ENOTDIR, path);
		return NULL;
	}
	/* opened once, links not followed: the path was resolved and checked
	 * above, and a directory swapped for a link from now on changes
	 * nothing (issue 16.3) */
	fd = open(abs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		mdir_set_errno(error, errno, path);
		return NULL;
	}
	f = g_new0(MdirFolder, 1);
	f->store = store;
	f->name = g_strdup(rel);
	f->path = g_steal_pointer(&abs);
	f->lock_timeout = DEFAULT_LOCK_TIMEOUT_MS;
	f->lock_fd = -1;
	f->fd = fd;
	f->meta_fd = -1;
	return f;
}

void
mdir_folder_free(MdirFolder *folder)
{
	if (folder == NULL)
		return;
	if (folder->lock_fd >= 0)
		close(folder->lock_fd);
	if (folder->meta_fd >= 0)
		close(folder->meta_fd);
	close(folder->fd);
	g_free(folder->path);
	g_free(folder->name);
	g_free(folder);
}

const char *
mdir_folder_path(const MdirFolder *folder)
{
	return folder->path;
}

const char *
mdir_folder_name(const MdirFolder *folder)
{
	return folder->name;
}

void
mdir_folder_set_lock_timeout(MdirFolder *folder, guint milliseconds)
{
	folder->lock_timeout = milliseconds;
}

char *
mdir_folder_entry_path(const MdirFolder *folder, const char *name)
{
	return g_build_filename(folder->path, name, NULL);
}

static char *
meta_path(const MdirFolder *folder, const char *name)
{
	return g_build_filename(folder->path, ".meta", name, NULL);
}

char *
mdir_folder_meta_path(const MdirFolder *folder, const char *name)
{
	return meta_path(folder, name);
}

MdirStore *
mdir_folder_store(const MdirFolder *folder)
{
	return folder->store;
}

gboolean
mdir_folder_copies(const MdirFolder *folder)
{
	struct stat st;

	g_return_val_if_fail(folder != NULL, FALSE);
	return fstatat(folder->fd, ".copies", &st, AT_SYMLINK_NOFOLLOW) == 0;
}

int
mdir_folder_fd(const MdirFolder *folder)
{
	return folder->fd;
}

int
mdir_folder_meta_fd(MdirFolder *folder, gboolean create, GError **error)
{
	g_autofree char *label = NULL;

	if (folder->meta_fd >= 0)
		return folder->meta_fd;
	/* a .meta that is a link is refused: records go nowhere else */
	label = g_build_filename(folder->path, ".meta", NULL);
	folder->meta_fd = mdir_open_dir_at(folder->fd, ".meta", create, label, error);
	return folder->meta_fd;
}

/* Locking ------------------------------------------------------------------ */

gboolean
mdir_folder_lock(MdirFolder *folder, GError **error)
{
	g_autofree char *path = g_build_filename(folder->path, ".lock", NULL);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	gint64 deadline = g_get_monotonic_time() + (gint64)folder->lock_timeout * 1000;
	gulong pause = 1000;
	int fd;

	g_return_val_if_fail(folder->lock_fd < 0, FALSE);
	fd = mdir_open_at(folder->fd, ".lock", O_RDWR | O_CREAT, path, error);
	if (fd < 0)
		return FALSE;
	/* OFD locks: owned by the open file, so threads of one daemon exclude
	 * each other too, and they work over NFSv4 (DESIGN §7) */
	while (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		if (errno != EAGAIN && errno != EACCES && errno != EINTR) {
			int errsv = errno;

			close(fd);
			return mdir_set_errno(error, errsv, path);
		}
		if (g_get_monotonic_time() >= deadline) {
			close(fd);
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_LOCK_TIMEOUT,
			    "%s: lock not had within %u ms", folder->name,
			    folder->lock_timeout);
			return FALSE;
		}
		g_usleep(pause);
		pause = MIN(pause * 2, 50000);
	}
	folder->lock_fd = fd;
	return TRUE;
}

void
mdir_folder_unlock(MdirFolder *folder)
{
	if (folder->lock_fd >= 0) {
		close(folder->lock_fd); /* releases the OFD lock */
		folder->lock_fd = -1;
	}
	/* an open folder costs one descriptor, not two: mdird keeps a round's
	 * folders open, and templates can make many */
	if (folder->meta_fd >= 0) {
		close(folder->meta_fd);
		folder->meta_fd = -1;
	}
}

/* Versions ----------------------------------------------------------------- */

/* .changes opened with @flags: a descriptor; -2 if it does not exist (and
 * @flags do not make it), -1 and @error on errors. */
static int
open_changes(const MdirFolder *folder, int flags, const char *label, GError **error)
{
	GError *e = NULL;
	int fd = mdir_open_at(folder->fd, ".changes", flags, label, &e);

	if (fd >= 0)
		return fd;
	if (g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
		g_error_free(e);
		return -2;
	}
	g_propagate_error(error, e);
	return -1;
}

/* The version of the last complete line of .changes, 0 if none. */
gboolean
mdir_folder_last_change(const MdirFolder *folder, guint64 *version, GError **error)
{
	g_autofree char *path = g_build_filename(folder->path, ".changes", NULL);
	char buf[4096 + 1];
	struct stat st;
	off_t off;
	ssize_t n;
	char *end, *start;
	int fd;

	*version = 0;
	fd = open_changes(folder, O_RDONLY, path, error);
	if (fd < 0)
		return fd == -2;
	if (fstat(fd, &st) < 0 || st.st_size == 0) {
		close(fd);
		return TRUE;
	}
	off = st.st_size > 4096 ? st.st_size - 4096 : 0;
	n = pread(fd, buf, sizeof(buf) - 1, off);
	close(fd);
	if (n <= 0)
		return n == 0 ? TRUE : mdir_set_errno(error, errno, path);
	buf[n] = '\0';
	/* a line cut short by a crash is not a change: use the last whole one */
	end = strrchr(buf, '\n');
	if (end == NULL)
		return TRUE;
	*end = '\0';
	start = strrchr(buf, '\n');
	start = start ? start + 1 : buf;
	*version = g_ascii_strtoull(start, NULL, 10);
	return TRUE;
}

gboolean
mdir_folder_version(MdirFolder *folder, guint64 *version, GError **error)
{
	g_autofree char *path = g_build_filename(folder->path, ".version", NULL);
	g_autofree char *text = NULL;
	guint64 from_file = 0, from_log = 0;
	GError *e = NULL;

	text = mdir_read_at(folder->fd, ".version", path, NULL, &e);
	if (text == NULL) {
		if (!g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
			g_propagate_error(error, e);
			return FALSE;
		}
		g_clear_error(&e);
	} else {
		/* hand-edited: leading blanks, no newline, junk after the digits */
		from_file = g_ascii_strtoull(g_strchug(text), NULL, 10);
	}
	if (!mdir_folder_last_change(folder, &from_log, error))
		return FALSE;
	*version = MAX(from_file, from_log);
	return TRUE;
}

/*
 * Whether @n more changes fit; @version gets the current one.  2^64-1 + 1
 * is 0, and a sync client asking what changed since its version would be
 * told nothing ever again (issue 16.12): refused before anything changes.
 */
static gboolean
room_for(MdirFolder *folder, guint n, guint64 *version, GError **error)
{
	guint64 v;

	if (!mdir_folder_version(folder, &v, error))
		return FALSE;
	if (version)
		*version = v;
	if (v <= G_MAXUINT64 - n)
		return TRUE;
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_CORRUPT, "%s: version %" G_GUINT64_FORMAT
	    " cannot grow (mstore fsck --repair mends it)", folder->name, v);
	return FALSE;
}

/* Truncates @fd (of @size bytes) after its last newline, if it ends without one. */
static gboolean
drop_torn_line(int fd, off_t size)
{
	char buf[4096];
	off_t end = size;

	while (end > 0) {
		off_t start = end > (off_t)sizeof(buf) ? end - (off_t)sizeof(buf) : 0;
		ssize_t n = pread(fd, buf, end - start, start);

		if (n <= 0)
			return FALSE;
		for (ssize_t i = n - 1; i >= 0; i--)
			if (buf[i] == '\n')
				return start + i + 1 == size || ftruncate(fd, start + i + 1) == 0;
		end = start;
	}
	return ftruncate(fd, 0) == 0;
}

typedef struct {
	const char *minus; /* a rename has both */
	const char *plus;
} Change;

/* Writes .changes and .version; @sync: each durable (per file) too. */
static gboolean
write_changes(MdirFolder *folder, const Change *changes, guint n, gboolean per_file,
    guint64 *first, GError **error)
{
	g_autofree char *path = g_build_filename(folder->path, ".changes", NULL);
	g_autofree char *vpath = g_build_filename(folder->path, ".version", NULL);
	g_autoptr(GString) lines = g_string_new(NULL);
	char vtext[32];
	guint64 v;
	struct stat st;
	int fd;

	if (!room_for(folder, n, &v, error))
		return FALSE;
	*first = v + 1;
	for (guint i = 0; i < n; i++) {
		v++;
		if (changes[i].minus)
			g_string_append_printf(lines, "%" G_GUINT64_FORMAT " - %s\n", v, changes[i].minus);
		if (changes[i].plus)
			g_string_append_printf(lines, "%" G_GUINT64_FORMAT " + %s\n", v, changes[i].plus);
	}
	/* never through a link: a group member's ".changes -> ~mdir/file" would
	 * have it appended to and truncated (issue 16.3) */
	fd = mdir_open_at(folder->fd, ".changes", O_RDWR | O_APPEND | O_CREAT, path, error);
	if (fd < 0)
		return FALSE;
	/* a line a crash cut short is no change: cut it off, so that the file
	 * holds whole lines only (we hold the lock: nobody else appends) */
	if ((fstat(fd, &st) == 0 && st.st_size > 0 && !drop_torn_line(fd, st.st_size)) ||
	    write(fd, lines->str, lines->len) != (ssize_t)lines->len ||
	    (per_file && fdatasync(fd) < 0)) {
		int errsv = errno ? errno : EIO;

		close(fd);
		return mdir_set_errno(error, errsv, path);
	}
	close(fd);
	g_snprintf(vtext, sizeof(vtext), "%" G_GUINT64_FORMAT "\n", v);
	return mdir_write_at(folder->fd, ".version", vtext, strlen(vtext), per_file, vpath, error);
}

/*
 * Logs @n changes just made to the folder's entries, each its own version,
 * in the order of mdir(5): the entries made durable, then .changes, then
 * .version.  Per file, each step is synced; on a file system synced whole,
 * one syncfs at the end does it all, or none if @sync is FALSE and the
 * caller's next one will (mdird files many batches, then syncs once).
 */
static gboolean
log_changes(MdirFolder *folder, const Change *changes, guint n, gboolean sync,
    guint64 *first, GError **error)
{
	gboolean per_file = !mdir_store_whole_sync(folder->store);

	if (n == 0)
		return TRUE;
	if (per_file && fsync(folder->fd) < 0 && errno != EINVAL)
		return mdir_set_errno(error, errno, folder->path);
	if (!write_changes(folder, changes, n, per_file, first, error))
		return FALSE;
	if (per_file || !sync || syncfs(folder->fd) == 0)
		return TRUE;
	return mdir_set_errno(error, errno, folder->path);
}

gboolean
mdir_folder_log_change(MdirFolder *folder, const char *minus, const char *plus,
    guint64 *version, GError **error)
{
	Change c = { minus, plus };
	guint64 v;

	if (!log_changes(folder, &c, 1, TRUE, &v, error))
		return FALSE;
	if (version)
		*version = v;
	return TRUE;
}

/* Entries ------------------------------------------------------------------ */

static gboolean
check_entry_name(const char *name, GError **error)
{
	if (mdir_name_is_safe(name))
		return TRUE;
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_BAD_NAME, "'%s': not a valid entry name", name);
	return FALSE;
}

static gboolean
ensure_meta_dir(MdirFolder *folder, GError **error)
{
	return mdir_folder_meta_fd(folder, TRUE, error) >= 0;
}

/* Writes the record of entry @name into .meta, durably if @sync. */
static gboolean
write_record(MdirFolder *folder, const char *name, const MdirRecord *record, gboolean sync,
    GError **error)
{
	g_autofree char *label = meta_path(folder, name);
	g_autofree char *text = NULL;
	gsize len;
	int mfd = mdir_folder_meta_fd(folder, TRUE, error);

	if (mfd < 0)
		return FALSE;
	text = mdir_record_to_string(record, &len);
	return mdir_write_at(mfd, name, text, len, sync, label, error);
}

/*
 * Links @file as the record of @e->used, a name no record has yet;
 * FALSE if that cannot be (another file system, a stale record there),
 * to write it instead.
 */
static gboolean
link_record(MdirFolder *folder, const MdirFolderEntry *e, const char *file, gboolean *linked)
{
	if (file == NULL || linkat(AT_FDCWD, file, folder->meta_fd, e->used, 0) < 0)
		return FALSE;
	*linked = TRUE;
	return TRUE;
}

/* Links one entry and writes (or links @file as) its record; under the lock. */
static gboolean
add_one(MdirFolder *folder, MdirFolderEntry *e, gboolean per_file, GHashTable *hints,
    const char *file, gboolean *linked, GError **error)
{
	if (!check_entry_name(e->name, error))
		return FALSE;
	e->used = mdir_folder_link_unique(folder, AT_FDCWD, e->src, e->name, hints, error);
	if (e->used == NULL)
		return FALSE;
	if (link_record(folder, e, file, linked) ||
	    write_record(folder, e->used, e->record, per_file, error))
		return TRUE;
	unlinkat(folder->fd, e->used, 0);
	g_clear_pointer(&e->used, g_free);
	return FALSE;
}

gboolean
mdir_folder_add_entries(MdirFolder *folder, MdirFolderEntry *entries, guint n, gboolean sync,
    GError **error)
{
	return mdir_folder_add_entries_linked(folder, entries, NULL, n, sync, error);
}

gboolean
mdir_folder_add_entries_linked(MdirFolder *folder, MdirFolderEntry *entries,
    const char *const *record_files, guint n, gboolean sync, GError **error)
{
	gboolean per_file = !mdir_store_whole_sync(folder->store);
	g_autofree Change *changes = g_new0(Change, n);
	g_autoptr(GHashTable) hints = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    NULL);
	GError *failed = NULL;
	gboolean share = FALSE, linked = FALSE;
	guint64 first = 0;
	guint done = 0;

	for (guint i = 0; record_files && i < n; i++)
		share |= record_files[i] != NULL;
	/*
	 * A .copies folder's records are its own, as its entries are; so are
	 * an outbox's, whose outbox-* fields mdir-outbox trusts: one shared
	 * with an account's folder could be written into by a group member.
	 */
	share = share && !mdir_folder_copies(folder) && !mdir_is_outbox(mdir_folder_name(folder));
	if (!ensure_meta_dir(folder, error) || !mdir_folder_lock(folder, error))
		return FALSE;
	if (!room_for(folder, n, NULL, error)) {
		mdir_folder_unlock(folder);
		return FALSE;
	}
	for (; done < n; done++) {
		if (!add_one(folder, &entries[done], per_file, hints,
		    share ? record_files[done] : NULL, &linked, &failed))
			break;
		changes[done].plus = entries[done].used;
	}
	/* per file, the names of linked records once for all (log_changes
	 * syncs the folder's own directory) */
	if (per_file && linked && fsync(folder->meta_fd) < 0 && errno != EINVAL && !failed)
		mdir_set_errno(&failed, errno, folder->path);
	/* what was added is logged, even when a later entry failed */
	if (!log_changes(folder, changes, done, sync, &first, failed ? NULL : &failed) &&
	    failed == NULL)
		g_set_error(&failed, MDIR_ERROR, MDIR_ERROR_FAILED, "%s: cannot log changes",
		    folder->name);
	mdir_folder_unlock(folder);
	for (guint i = 0; i < done; i++)
		entries[i].version = first + i;
	if (failed) {
		g_propagate_error(error, failed);
		return FALSE;
	}
	return TRUE;
}

char *
mdir_folder_add(MdirFolder *folder, const char *src, const MdirRecord *record,
    const char *name, guint64 *version, GError **error)
{
	MdirFolderEntry e = { .src = src, .record = record, .name = name };

	if (!mdir_folder_add_entries(folder, &e, 1, TRUE, error)) {
		g_free(e.used);
		return NULL;
	}
	if (version)
		*version = e.version;
	return e.used;
}

/*
 * Entry @name's record removed, durably, the entry left: another file took
 * the name of the one the record described, and is not logged: it was
 * dropped in, not filed.  On a file system synced whole, by the store's
 * flush (a caller's own sync function), as mdir_folder_save_record().
 */
static gboolean
remove_record_only(MdirFolder *folder, const char *name, GError **error)
{
	g_autofree char *mpath = meta_path(folder, name);

	if (unlinkat(folder->meta_fd, name, 0) < 0 && errno != ENOENT)
		return mdir_set_errno(error, errno, mpath);
	if (mdir_store_whole_sync(folder->store))
		return mdir_store_syncfs(folder->store, folder->path, error);
	if (fsync(folder->meta_fd) < 0)
		return mdir_set_errno(error, errno, mpath);
	return TRUE;
}

/* mdir_folder_remove(), and mdir_folder_remove_same() when @was is set. */
static gboolean
remove_entry(MdirFolder *folder, const char *name, const struct stat *was,
    gboolean *replaced, guint64 *version, GError **error)
{
	g_autofree char *epath = NULL;
	g_autofree char *mpath = NULL;
	gboolean ok = FALSE;
	struct stat st;

	if (replaced)
		*replaced = FALSE;
	if (!check_entry_name(name, error) || !ensure_meta_dir(folder, error) ||
	    !mdir_folder_lock(folder, error))
		return FALSE;
	if (!room_for(folder, 1, NULL, error))
		goto out;
	if (was && fstatat(folder->fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (st.st_dev != was->st_dev || st.st_ino != was->st_ino)) {
		if (replaced)
			*replaced = TRUE;
		ok = remove_record_only(folder, name, error);
		goto out;
	}
	epath = mdir_folder_entry_path(folder, name);
	mpath = meta_path(folder, name);
	if (unlinkat(folder->fd, name, 0) < 0) {
		if (errno == ENOENT)
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_NOT_FOUND, "%s/%s: no such entry",
			    folder->name, name);
		else
			mdir_set_errno(error, errno, epath);
		goto out;
	}
	if (unlinkat(folder->meta_fd, name, 0) < 0 && errno != ENOENT) {
		mdir_set_errno(error, errno, mpath);
		goto out;
	}
	ok = mdir_folder_log_change(folder, name, NULL, version, error);
out:
	mdir_folder_unlock(folder);
	return ok;
}

gboolean
mdir_folder_remove(MdirFolder *folder, const char *name, guint64 *version, GError **error)
{
	return remove_entry(folder, name, NULL, NULL, version, error);
}

gboolean
mdir_folder_remove_same(MdirFolder *folder, const char *name, dev_t dev, ino_t ino,
    gboolean *replaced, guint64 *version, GError **error)
{
	struct stat was = { .st_dev = dev, .st_ino = ino };

	return remove_entry(folder, name, &was, replaced, version, error);
}

char *
mdir_folder_rename(MdirFolder *folder, const char *from, const char *to, guint64 *version,
    GError **error)
{
	g_autofree char *src = NULL;
	g_autofree char *used = NULL;
	g_autofree char *mto = NULL;
	struct stat st;

	if (!check_entry_name(from, error) || !check_entry_name(to, error) ||
	    !ensure_meta_dir(folder, error) || !mdir_folder_lock(folder, error))
		return NULL;
	if (!room_for(folder, 1, NULL, error))
		goto fail;
	src = mdir_folder_entry_path(folder, from);
	if (fstatat(folder->fd, from, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_NOT_FOUND, "%s/%s: no such entry",
		    folder->name, from);
		goto fail;
	}
	/* link then unlink: the new name never replaces an entry that exists */
	used = mdir_folder_link_unique(folder, folder->fd, from, to, NULL, error);
	if (used == NULL)
		goto fail;
	mto = meta_path(folder, used);
	if (renameat(folder->meta_fd, from, folder->meta_fd, used) < 0 && errno != ENOENT) {
		mdir_set_errno(error, errno, mto);
		goto fail;
	}
	if (unlinkat(folder->fd, from, 0) < 0) {
		mdir_set_errno(error, errno, src);
		goto fail;
	}
	if (!mdir_folder_log_change(folder, from, used, version, error))
		goto fail;
	mdir_folder_unlock(folder);
	return g_steal_pointer(&used);
fail:
	mdir_folder_unlock(folder);
	return NULL;
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The names in the folder (dot names left out) that @keep accepts, sorted.
 * Read through the folder's descriptor: the folder opened, not whatever
 * its path leads to now.
 */
static GPtrArray *
list_names(MdirFolder *folder, gboolean (*keep)(int dirfd, const char *name),
    GError **error)
{
	GPtrArray *names;
	struct dirent *de;
	DIR *d;
	int fd = openat(folder->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		mdir_set_errno(error, errno, folder->path);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	names = g_ptr_array_new_with_free_func(g_free);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' && keep(folder->fd, de->d_name))
			g_ptr_array_add(names, g_strdup(de->d_name));
	closedir(d);
	g_ptr_array_sort(names, compare_names);
	return names;
}

/* subfolders and mounts are not entries */
static gboolean
is_entry(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

/* a mount or an alias is a link to a folder: followed, to see that */
static gboolean
is_folder(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, 0) == 0 && S_ISDIR(st.st_mode);
}

GPtrArray *
mdir_folder_list(MdirFolder *folder, GError **error)
{
	return list_names(folder, is_entry, error);
}

GPtrArray *
mdir_folder_list_folders(MdirFolder *folder, GError **error)
{
	return list_names(folder, is_folder, error);
}

MdirRecord *
mdir_folder_load_record(MdirFolder *folder, const char *name, GError **error)
{
	g_autofree char *path = NULL;
	g_autofree char *text = NULL;
	MdirRecord *r;
	gsize len;
	int mfd;

	if (!check_entry_name(name, error))
		return NULL;
	path = meta_path(folder, name);
	/* a record that is a link to another file would put that file's
	 * lines into what mdird and the programs it runs believe */
	mfd = mdir_open_dir_at(folder->fd, ".meta", FALSE, path, error);
	if (mfd < 0)
		return NULL;
	text = mdir_read_at(mfd, name, path, &len, error);
	close(mfd);
	if (text == NULL)
		return NULL;
	r = mdir_record_parse(text, len, error);
	if (r == NULL)
		g_prefix_error(error, "%s: ", path);
	return r;
}

gboolean
mdir_folder_save_record(MdirFolder *folder, const char *name, const MdirRecord *record,
    GError **error)
{
	gboolean ok = FALSE;

	if (!check_entry_name(name, error) || !ensure_meta_dir(folder, error) ||
	    !mdir_folder_lock(folder, error))
		return FALSE;
	if (!is_entry(folder->fd, name))
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_NOT_FOUND, "%s/%s: no such entry",
		    folder->name, name);
	else if (mdir_store_whole_sync(folder->store))
		/* one flush for the file, its rename and the directory (the
		 * outbox's in-flight mark: one of a message's two) */
		ok = write_record(folder, name, record, FALSE, error) &&
		    mdir_store_syncfs(folder->store, folder->path, error);
	else
		ok = write_record(folder, name, record, TRUE, error);
	mdir_folder_unlock(folder);
	return ok;
}

static void
change_free(gpointer p)
{
	MdirChange *c = p;

	g_free(c->name);
	g_free(c);
}

GPtrArray *
mdir_folder_changes(MdirFolder *folder, guint64 since, GError **error)
{
	g_autofree char *path = g_build_filename(folder->path, ".changes", NULL);
	GPtrArray *out = g_ptr_array_new_with_free_func(change_free);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	FILE *fp;
	int fd = open_changes(folder, O_RDONLY, path, error);

	if (fd == -2)
		return out;
	if (fd < 0 || (fp = fdopen(fd, "r")) == NULL) {
		if (fd >= 0) {
			mdir_set_errno(error, errno, path);
			close(fd);
		}
		g_ptr_array_unref(out);
		return NULL;
	}
	while ((len = getline(&line, &cap, fp)) > 0) {
		char *end = NULL;
		guint64 v;
		MdirChange *c;

		if (line[len - 1] != '\n')
			break; /* cut short by a crash */
		line[len - 1] = '\0';
		v = g_ascii_strtoull(line, &end, 10);
		if (end == line || v <= since || end[0] != ' ' || (end[1] != '+' &&
		    end[1] != '-') || end[2] != ' ' || end[3] == '\0')
			continue;
		c = g_new0(MdirChange, 1);
		c->version = v;
		c->op = end[1];
		c->name = g_strdup(end + 3);
		g_ptr_array_add(out, c);
	}
	free(line);
	fclose(fp);
	return out;
}

gboolean
mdir_folder_adopt(MdirFolder *folder, GPtrArray *names, GError **error)
{
	g_autoptr(GHashTable) present = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GPtrArray) log = NULL;
	g_autoptr(GArray) missing = g_array_new(FALSE, TRUE, sizeof(Change));
	guint64 first;
	gboolean ok;

	if (names->len == 0)
		return TRUE;
	if (!mdir_folder_lock(folder, error))
		return FALSE;
	log = mdir_folder_changes(folder, 0, error);
	if (log == NULL) {
		mdir_folder_unlock(folder);
		return FALSE;
	}
	for (guint i = 0; i < log->len; i++) {
		MdirChange *c = log->pdata[i];

		if (c->op == '+')
			g_hash_table_add(present, c->name);
		else
			g_hash_table_remove(present, c->name);
	}
	for (guint i = 0; i < names->len; i++) {
		Change c = { NULL, names->pdata[i] };

		if (!g_hash_table_contains(present, c.plus) && is_entry(folder->fd, c.plus))
			g_array_append_val(missing, c);
	}
	ok = log_changes(folder, (Change *)(void *)missing->data, missing->len, TRUE, &first,
	    error);
	if (ok && missing->len > 0)
		mdir_log(LOG_NOTICE, "%s: %u entries a crash left unlogged are logged now",
		    folder->name, missing->len);
	mdir_folder_unlock(folder);
	return ok;
}

