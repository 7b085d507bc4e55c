/*
 * folder-io.c: reads and writes inside a folder, relative to the folder's
 * descriptor, never following a link (issue 16.3, DESIGN §6b).
 *
 * A folder is writable by the group (the sync-client user): whoever can
 * write it can put a symbolic link where .changes, .version, .lock or a
 * record will be, and a tool that opens them by path would append to,
 * truncate or replace whatever the link points at, as the mdir user.  So
 * every dot file is opened with O_NOFOLLOW and must be a regular file,
 * .meta must be a real directory, new files are made with O_EXCL under a
 * fresh name and renamed into place (a rename replaces a link, never its
 * target), and everything is relative to a descriptor opened once, so a
 * directory swapped for a link after the folder was opened changes
 * nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"
#include "private.h"

/* The error for a file that is not what it must be: a link, a directory. */
static gboolean
not_regular(GError **error, const char *label, mode_t mode)
{
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT, "%s: %s, not followed nor "
	    "used", label, S_ISLNK(mode) ? "a symbolic link" : "not a regular file");
	return FALSE;
}

static gboolean
open_error(GError **error, int errsv, int dirfd, const char *name, const char *label)
{
	struct stat st;

	/* O_NOFOLLOW says ELOOP for a link: say what it is */
	if ((errsv == ELOOP || errsv == ENOTDIR) &&
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return not_regular(error, label, st.st_mode);
	return mdir_set_errno(error, errsv, label);
}

int
mdir_open_at(int dirfd, const char *name, int flags, const char *label, GError **error)
{
	struct stat st;
	int fd;

	/* O_NONBLOCK: opening a FIFO to read would wait for a writer, before
	 * the check below could refuse it; cleared once it is a regular file */
	do
		fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
		    MDIR_FILE_MODE);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		open_error(error, errno, dirfd, name, label);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		mdir_set_errno(error, errno, label);
		close(fd);
		return -1;
	}
	/* a FIFO or a device would block or lie */
	if (!S_ISREG(st.st_mode)) {
		not_regular(error, label, st.st_mode);
		close(fd);
		return -1;
	}
	if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		mdir_set_errno(error, errno, label);
		close(fd);
		return -1;
	}
	return fd;
}

int
mdir_open_dir_at(int dirfd, const char *name, gboolean create, const char *label,
    GError **error)
{
	int fd;

	if (create && mkdirat(dirfd, name, MDIR_DIR_MODE) == 0 && fsync(dirfd) < 0 &&
	    errno != EINVAL) {
		mdir_set_errno(error, errno, label);
		return -1;
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		open_error(error, errno, dirfd, name, label);
	return fd;
}

char *
mdir_read_fd(int fd, const char *label, gsize *length, GError **error)
{
	g_autoptr(GString) s = g_string_sized_new(256);
	char buf[4096];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			mdir_set_errno(error, errno, label);
			close(fd);
			return NULL;
		}
		g_string_append_len(s, buf, n);
	}
	close(fd);
	if (length)
		*length = s->len;
	return g_string_free(g_steal_pointer(&s), FALSE);
}

char *
mdir_read_at(int dirfd, const char *name, const char *label, gsize *length, GError **error)
{
	int fd = mdir_open_at(dirfd, name, O_RDONLY, label, error);

	return fd < 0 ? NULL : mdir_read_fd(fd, label, length, error);
}

int
mdir_folder_open_entry(MdirFolder *folder, const char *name, GError **error)
{
	g_return_val_if_fail(folder != NULL && name != NULL, -1);
	if (!mdir_name_is_safe(name) || mdir_name_is_reserved(name)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT, "'%s': not an entry's name",
		    name);
		return -1;
	}
	return mdir_open_at(mdir_folder_fd(folder), name, O_RDONLY, name, error);
}

static gboolean
write_all(int fd, const char *p, gsize length)
{
	while (length > 0) {
		ssize_t n = write(fd, p, length);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return FALSE;
		p += n;
		length -= n;
	}
	return TRUE;
}

gboolean
mdir_write_at(int dirfd, const char *name, const void *data, gsize length, gboolean sync,
    const char *label, GError **error)
{
	return mdir_write_at_mode(dirfd, name, data, length, sync, MDIR_FILE_MODE, label, error);
}

gboolean
mdir_write_at_mode(int dirfd, const char *name, const void *data, gsize length, gboolean sync,
    mode_t mode, const char *label, GError **error)
{
	g_autofree char *unique = mdir_unique_name();
	g_autofree char *tmp = g_strdup_printf(".tmp.%s.%s", name, unique);
	int fd;

	/* a dot name: reserved, so no tool lists a half-written file; made
	 * with its mode, never wider for a moment */
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return mdir_set_errno(error, errno, label);
	/* the file, then its name, then the name's directory: else a crash
	 * can leave an empty file under the final name */
	if (!write_all(fd, data, length) || (sync && fsync(fd) < 0)) {
		int errsv = errno ? errno : EIO;

		close(fd);
		unlinkat(dirfd, tmp, 0);
		return mdir_set_errno(error, errsv, label);
	}
	if (close(fd) < 0 || renameat(dirfd, tmp, dirfd, name) < 0) {
		int errsv = errno;

		unlinkat(dirfd, tmp, 0);
		return mdir_set_errno(error, errsv, label);
	}
	if (sync && fsync(dirfd) < 0 && errno != EINVAL)
		return mdir_set_errno(error, errno, label);
	return TRUE;
}
