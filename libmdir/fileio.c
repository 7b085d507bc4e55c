/*
 * fileio.c: durable writes.  The order matters everywhere: write a
 * temporary file in the same directory, fsync it, rename it into place,
 * then fsync the directory; otherwise a crash can leave an empty or
 * half-written file under the final name, or lose the rename itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "mdir.h"
#include "private.h"

gboolean
mdir_set_errno(GError **error, int errsv, const char *path)
{
	g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errsv), "%s: %s", path,
	    g_strerror(errsv));
	return FALSE;
}

char *
mdir_unique_name(void)
{
	static gint counter;

	return g_strdup_printf("%s.%d.%d.%08x", g_get_host_name(), (int)getpid(),
	    g_atomic_int_add(&counter, 1), g_random_int());
}

char *
mdir_read_small_file(const char *path, gsize *length, GError **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		mdir_set_errno(error, errno, path);
		return NULL;
	}
	return mdir_read_fd(fd, path, length, error);
}

static gboolean
write_all(int fd, const void *data, gsize length, const char *path, GError **error)
{
	const char *p = data;

	while (length > 0) {
		ssize_t n = write(fd, p, length);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return mdir_set_errno(error, errno, path);
		}
		p += n;
		length -= n;
	}
	return TRUE;
}

/* Opens @path with @flags and calls @op on it: fsync, syncfs. */
static gboolean
sync_path(const char *path, int flags, int (*op)(int), GError **error)
{
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0)
		return mdir_set_errno(error, errno, path);
	/* EINVAL: a file system that cannot sync a directory has nothing to do */
	if (op(fd) < 0 && errno != EINVAL) {
		int errsv = errno;

		close(fd);
		return mdir_set_errno(error, errsv, path);
	}
	close(fd);
	return TRUE;
}

gboolean
mdir_fsync_path(const char *path, GError **error)
{
	return sync_path(path, O_RDONLY, fsync, error);
}

gboolean
mdir_fsync_dir(const char *path, GError **error)
{
	return sync_path(path, O_RDONLY | O_DIRECTORY, fsync, error);
}

/* Opens a temporary file beside @path; @tmp gets its name. */
static int
open_beside(const char *path, char **tmp, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *base = g_path_get_basename(path);
	g_autofree char *unique = mdir_unique_name();
	int fd;

	/* a dot name: reserved, so no tool lists a half-written file */
	*tmp = g_strdup_printf("%s/.tmp.%s.%s", dir, base, unique);
	fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, MDIR_FILE_MODE);
	if (fd < 0) {
		mdir_set_errno(error, errno, *tmp);
		g_clear_pointer(tmp, g_free);
	}
	return fd;
}

/* fsync, close, rename into place, fsync the directory; removes @tmp on failure. */
static gboolean
publish(int fd, const char *tmp, const char *path, GError **error)
{
	g_autofree char *dir = NULL;

	if (fsync(fd) < 0) {
		mdir_set_errno(error, errno, tmp);
		close(fd);
		goto fail;
	}
	if (close(fd) < 0) {
		mdir_set_errno(error, errno, tmp);
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		mdir_set_errno(error, errno, path);
		goto fail;
	}
	dir = g_path_get_dirname(path);
	return mdir_fsync_dir(dir, error);
fail:
	unlink(tmp);
	return FALSE;
}

gboolean
mdir_write_file(const char *path, const void *data, gsize length, GError **error)
{
	/* never truncate what a link put in a group-writable directory leads to */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    MDIR_FILE_MODE);

	if (fd < 0)
		return mdir_set_errno(error, errno, path);
	if (!write_all(fd, data, length, path, error)) {
		close(fd);
		return FALSE;
	}
	if (close(fd) < 0)
		return mdir_set_errno(error, errno, path);
	return TRUE;
}

gboolean
mdir_file_write_durable(const char *path, const void *data, gsize length, GError **error)
{
	g_autofree char *tmp = NULL;
	int fd = open_beside(path, &tmp, error);

	if (fd < 0)
		return FALSE;
	if (!write_all(fd, data, length, tmp, error)) {
		close(fd);
		unlink(tmp);
		return FALSE;
	}
	return publish(fd, tmp, path, error);
}

gboolean
mdir_file_write_replace(const char *path, const void *data, gsize length, GError **error)
{
	g_autofree char *tmp = NULL;
	int fd = open_beside(path, &tmp, error);

	if (fd < 0)
		return FALSE;
	if (!write_all(fd, data, length, tmp, error) || close(fd) < 0) {
		unlink(tmp);
		return FALSE;
	}
	if (rename(tmp, path) < 0) {
		unlink(tmp);
		return mdir_set_errno(error, errno, path);
	}
	return TRUE;
}

gboolean
mdir_file_copy_durable(const char *src, const char *dst, GError **error)
{
	g_autofree char *tmp = NULL;
	char buf[65536];
	int in, out;
	ssize_t n;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return mdir_set_errno(error, errno, src);
	out = open_beside(dst, &tmp, error);
	if (out < 0) {
		close(in);
		return FALSE;
	}
	/* a reflink where the file system has them (btrfs, XFS): the blocks
	 * shared until either side is written, so a copy costs nothing */
	if (ioctl(out, FICLONE, in) == 0) {
		close(in);
		return publish(out, tmp, dst, error);
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			mdir_set_errno(error, errno, src);
			goto fail;
		}
		if (!write_all(out, buf, n, tmp, error))
			goto fail;
	}
	close(in);
	return publish(out, tmp, dst, error);
fail:
	close(in);
	close(out);
	unlink(tmp);
	return FALSE;
}

gboolean
mdir_mkdir_durable(const char *path, GError **error)
{
	g_autofree char *parent = NULL;
	struct stat st;

	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return TRUE;
		return mdir_set_errno(error, ENOTDIR, path);
	}
	if (errno != ENOENT)
		return mdir_set_errno(error, errno, path);
	parent = g_path_get_dirname(path);
	if (strcmp(parent, path) != 0 && !mdir_mkdir_durable(parent, error))
		return FALSE;
	if (mkdir(path, MDIR_DIR_MODE) < 0 && errno != EEXIST)
		return mdir_set_errno(error, errno, path);
	/* the new name lives in the parent: make it durable there */
	return mdir_fsync_dir(parent, error);
}

/*
 * The tools' own files outside the folders (.stats/events, .mdird's lock)
 * sit in directories whoever can write the root can write too: neither
 * the directory nor the file is followed through a link, or a link put
 * there would have mdir append to or truncate a file elsewhere.
 */
int
mdir_dir_open_nofollow(const char *path, gboolean create, GError **error)
{
	g_autoptr(GError) e = NULL;
	int errsv = 0;
	int fd;

	g_return_val_if_fail(path != NULL, -1);
	/* not synced: an events file or a lock lost in a crash costs nothing,
	 * and a delivery under sync = syncfs pays no fsync for it */
	if (create && g_mkdir_with_parents(path, MDIR_DIR_MODE) < 0)
		errsv = errno;
	/* O_NOFOLLOW binds the last component only: the root's own path, the
	 * administrator's, may hold links */
	fd = mdir_open_dir_at(AT_FDCWD, path, FALSE, path, &e);
	if (fd >= 0)
		return fd;
	/* a dangling link fails the mkdir too: say it is a link */
	if (errsv != 0 && !g_error_matches(e, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT))
		mdir_set_errno(error, errsv, path);
	else
		g_propagate_error(error, g_steal_pointer(&e));
	return -1;
}

int
mdir_file_open_nofollow(const char *path, int flags, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *base = g_path_get_basename(path);
	int dirfd;
	int fd;

	dirfd = mdir_dir_open_nofollow(dir, (flags & O_CREAT) != 0, error);
	if (dirfd < 0)
		return -1;
	fd = mdir_open_at(dirfd, base, flags, path, error);
	close(dirfd);
	return fd;
}

GPtrArray *
mdir_dir_older(const char *dir, time_t before,
    gboolean (*keep)(const char *name, const struct stat *st), GError **error)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	GPtrArray *old = g_ptr_array_new_with_free_func(g_free);
	const char *n;

	if (d == NULL && errno != ENOENT) {
		mdir_set_errno(error, errno ? errno : EIO, dir);
		g_ptr_array_unref(old);
		return NULL;
	}
	while (d && (n = g_dir_read_name(d)) != NULL) {
		char *p = g_build_filename(dir, n, NULL);
		struct stat st;

		if (lstat(p, &st) == 0 && st.st_mtime < before && (keep == NULL || keep(n, &st)))
			g_ptr_array_add(old, p);
		else
			g_free(p);
	}
	return old;
}

gboolean
mdir_fs_whole_sync(const char *path)
{
	static const long remote[] = {
		0x6969,	    /* NFS */
		0x00c36400, /* Ceph */
		0x65735546, /* FUSE */
		0xff534d42, /* CIFS */
		0xfe534d42, /* SMB2 */
		0x517b,	    /* SMB */
		0x01161970, /* GFS2 */
		0x47504653, /* GPFS */
	};
	struct statfs sf;

	if (statfs(path, &sf) < 0)
		return FALSE; /* when in doubt, the per-file way */
	for (gsize i = 0; i < G_N_ELEMENTS(remote); i++)
		if ((long)sf.f_type == remote[i])
			return FALSE;
	return TRUE;
}

gboolean
mdir_syncfs(const char *path, GError **error)
{
	/* since Linux 5.8 syncfs also reports write-back errors of the fs */
	return sync_path(path, O_RDONLY, syncfs, error);
}
