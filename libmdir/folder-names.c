/*
 * folder-names.c: the free name an entry gets in a folder (mdir(5)
 * "Folders"): the name wanted, else the name numbered before its
 * extension, "report.pdf", "report-2.pdf", ..., within MDIR_NAME_MAX.
 * Under the folder's lock; the link itself is the final test of a name,
 * so a number a lookup said was free and a race took is tried again.
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

/* The length of the longest prefix of @s within @max bytes, cut between characters. */
static gsize
utf8_cut(const char *s, gsize len, gsize max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((guchar)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

/*
 * @name numbered @n: "report.pdf", "report-2.pdf", ...  The number goes
 * before the extension, and the name is cut before it so that the result
 * stays within MDIR_NAME_MAX (issue 15.5: "NAME-2.pdf" of 202 bytes was an
 * entry no verb would touch).
 */
static char *
numbered_name(const char *name, guint n)
{
	const char *dot = strrchr(name, '.');
	gsize len = strlen(name);
	gsize stem, ext;
	char suffix[16];

	if (n < 2)
		return g_strdup(name);
	g_snprintf(suffix, sizeof(suffix), "-%u", n);
	if (dot == NULL || dot == name)
		dot = name + len;
	ext = len - (dot - name);
	if (ext + strlen(suffix) >= MDIR_NAME_MAX / 2) {
		dot = name + len; /* an "extension" that long is not one */
		ext = 0;
	}
	stem = utf8_cut(name, dot - name, MDIR_NAME_MAX - strlen(suffix) - ext);
	return g_strdup_printf("%.*s%s%s", (int)stem, name, suffix, dot);
}

/* Whether @name numbered @n is taken (by anything: links not followed). */
static gboolean
taken(MdirFolder *folder, const char *name, guint n)
{
	g_autofree char *cand = numbered_name(name, n);
	struct stat st;

	return fstatat(mdir_folder_fd(folder), cand, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

/*
 * A number above @lo (taken) that is free: galloping up from @lo, then
 * bisecting, so that the m copies of a name cost log m lookups, not m
 * (issue 15.1: 20,000 parts named alike took minutes).  Where the taken
 * numbers run 1..m, this is m + 1, as trying them in turn would give.
 */
static guint
free_number(MdirFolder *folder, const char *name, guint lo)
{
	guint step = 1;
	guint hi;

	for (;;) {
		hi = lo + step;
		if (hi < lo)
			return 0; /* all of them: no free name */
		if (!taken(folder, name, hi))
			break;
		lo = hi;
		step = step < G_MAXUINT / 2 ? step * 2 : step;
	}
	while (hi - lo > 1) {
		guint mid = lo + (hi - lo) / 2;

		if (taken(folder, name, mid))
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

#define MAX_NAME_TRIES 1000 /* lost races for a free name before giving up */

/*
 * Links @src (relative to @srcfd) as a free name derived from @name; under
 * the lock.  @hints (may be NULL) remembers, per name, the last number
 * given in this batch, so that the next copy is found at once.
 */
char *
mdir_folder_link_unique(MdirFolder *folder, int srcfd, const char *src, const char *name,
    GHashTable *hints, GError **error)
{
	/* a file from outside the folder (the store) is copied into a folder
	 * of copies; one renamed inside it stays the file it is */
	gboolean copy = srcfd == AT_FDCWD && mdir_folder_copies(folder);
	guint n = 1;

	for (guint tries = 0; tries < MAX_NAME_TRIES && n != 0; tries++) {
		g_autofree char *cand = numbered_name(name, n);
		g_autofree char *path = mdir_folder_entry_path(folder, cand);
		struct stat st;

		/* linkat never creates through a link at the new name */
		if (copy)
			errno = EXDEV;
		else if (linkat(srcfd, src, mdir_folder_fd(folder), cand, 0) == 0)
			goto found;
		if (errno != EEXIST && errno != EXDEV && errno != EPERM && errno != EMLINK) {
			mdir_set_errno(error, errno, path);
			return NULL;
		}
		/* no link possible here: a copy, to a name nobody has */
		if (errno != EEXIST && srcfd == AT_FDCWD &&
		    fstatat(mdir_folder_fd(folder), cand, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (!mdir_file_copy_durable(src, path, error))
				return NULL;
			goto found;
		}
		if (n == 1 && hints)
			n = MAX(n, GPOINTER_TO_UINT(g_hash_table_lookup(hints, name)));
		n = free_number(folder, name, n);
		continue;
found:
		if (hints)
			g_hash_table_insert(hints, g_strdup(name), GUINT_TO_POINTER(n));
		return g_steal_pointer(&cand);
	}
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_EXISTS, "%s: no free name for '%s'",
	    mdir_folder_name(folder), name);
	return NULL;
}
