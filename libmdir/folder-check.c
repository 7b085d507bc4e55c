/*
 * folder-check.c: a folder checked against the invariants of mdir(5), and
 * mended, under its lock (mstore fsck).  Programs never write a folder's
 * .version, .changes or .meta themselves (DESIGN "The library owns the
 * on-disk formats"): fsck did, without the lock, racing mdird.
 *
 * A repair never guesses: a name the verbs refuse is renamed to what the
 * sanitiser makes of it, a missing record is rebuilt from the store (or
 * describes the file itself), a version that cannot grow is set back to
 * the change log's.  Content that is not what its record says is only
 * reported: which of the two is right is the owner's call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"
#include "private.h"

#define STALE_SECONDS 3600 /* a temporary file this old belongs to nobody */

/*
 * A version this large is damage (a hand edit, a bit flip): 2^63 changes
 * are not made, and the next one must not wrap to 0 (issue 16.12).
 */
#define VERSION_LIMIT (G_GUINT64_CONSTANT(1) << 63)

typedef struct {
	MdirFolder *folder;
	int fd;
	const char *path;
	gboolean repair;
	MdirRecordFinder find;
	MdirProblemFunc report;
	gpointer data;
	gint left;
} Check;

static void
problem(Check *c, const char *kind, const char *path, const char *detail, gboolean fixed)
{
	MdirProblem p = { kind, path, detail, fixed };

	if (!fixed)
		c->left++;
	if (c->report)
		c->report(&p, c->data);
}

static gboolean
is_stale(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    time(NULL) - st.st_mtime > STALE_SECONDS;
}

/* Versions --------------------------------------------------------------- */

/* .changes written anew, "1 + name" for each entry: the old log is useless. */
static gboolean
restart_changes(Check *c)
{
	g_autoptr(GPtrArray) names = mdir_folder_list(c->folder, NULL);
	g_autoptr(GString) log = g_string_new(NULL);
	g_autofree char *v = NULL;

	if (names == NULL)
		return FALSE;
	for (guint i = 0; i < names->len; i++)
		g_string_append_printf(log, "%u + %s\n", i + 1, (char *)names->pdata[i]);
	v = g_strdup_printf("%u\n", names->len);
	return mdir_write_at(c->fd, ".changes", log->str, log->len, TRUE, c->path, NULL) &&
	    mdir_write_at(c->fd, ".version", v, strlen(v), TRUE, c->path, NULL);
}

/* A version too large to grow: set back to the change log's, or restarted. */
static void
version_too_large(Check *c, const char *vpath, guint64 v, guint64 from_log)
{
	g_autofree char *detail = NULL;
	g_autofree char *want = NULL;
	gboolean fixed = FALSE;

	if (from_log < VERSION_LIMIT) {
		detail = g_strdup_printf("%" G_GUINT64_FORMAT " too large to grow; set back to "
		    "the last change's, %" G_GUINT64_FORMAT, v, from_log);
		want = g_strdup_printf("%" G_GUINT64_FORMAT "\n", from_log);
		fixed = c->repair && mdir_write_at(c->fd, ".version", want, strlen(want), TRUE,
		    vpath, NULL);
	} else {
		detail = g_strdup_printf("%" G_GUINT64_FORMAT " too large to grow, in .changes "
		    "too; the log restarts from 1 (sync clients must list the folder again)", v);
		fixed = c->repair && restart_changes(c);
	}
	problem(c, "version", vpath, detail, fixed);
}

static gboolean
check_version(Check *c, GError **error)
{
	g_autofree char *vpath = g_build_filename(c->path, ".version", NULL);
	g_autofree char *text = mdir_read_at(c->fd, ".version", vpath, NULL, NULL);
	g_autofree char *want = NULL;
	guint64 from_file = 0, from_log = 0, v;

	if (text)
		from_file = g_ascii_strtoull(text + strspn(text, " \t\n"), NULL, 10);
	if (!mdir_folder_last_change(c->folder, &from_log, error))
		return FALSE;
	v = MAX(from_file, from_log);
	if (v >= VERSION_LIMIT) {
		version_too_large(c, vpath, v, from_log);
		return TRUE;
	}
	want = g_strdup_printf("%" G_GUINT64_FORMAT "\n", v);
	if ((text == NULL && v == 0) || g_strcmp0(text, want) == 0)
		return TRUE;
	problem(c, "version", vpath, "behind .changes, missing or not a number", c->repair &&
	    mdir_write_at(c->fd, ".version", want, strlen(want), TRUE, vpath, NULL));
	return TRUE;
}

/* Dot files ------------------------------------------------------------- */

/*
 * FALSE if the folder's own file @name is there and is not a regular file
 * (and stays so): a link there is how a group member would make mdir write
 * elsewhere (issue 16.3).  The tools refuse it; the repair removes the
 * link, which touches nothing it points to.
 */
static gboolean
check_dot_file(Check *c, const char *name)
{
	g_autofree char *path = g_build_filename(c->path, name, NULL);
	gboolean fixed;
	struct stat st;

	if (fstatat(c->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISREG(st.st_mode))
		return TRUE;
	fixed = c->repair && S_ISLNK(st.st_mode) && unlinkat(c->fd, name, 0) == 0;
	problem(c, "not-regular", path, S_ISLNK(st.st_mode) ? "a symbolic link, never "
	    "followed; the folder is refused until it goes" : "not a regular file", fixed);
	return fixed;
}

/* .meta ------------------------------------------------------------------ */

/* FALSE if .meta exists and is not a real directory (and stays so). */
static gboolean
check_meta_dir(Check *c)
{
	g_autofree char *meta = g_build_filename(c->path, ".meta", NULL);
	gboolean fixed;
	struct stat st;

	if (fstatat(c->fd, ".meta", &st, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode))
		return TRUE;
	/* a link is only a name: removing it touches nothing it points to */
	fixed = c->repair && S_ISLNK(st.st_mode) && unlinkat(c->fd, ".meta", 0) == 0 &&
	    mdir_folder_meta_fd(c->folder, TRUE, NULL) >= 0;
	problem(c, "meta", meta, S_ISLNK(st.st_mode) ? "a symbolic link, not a directory" :
	    "not a directory", fixed);
	return fixed;
}

static void
check_records(Check *c)
{
	g_autofree char *meta = g_build_filename(c->path, ".meta", NULL);
	g_autoptr(GDir) d = g_dir_open(meta, 0, NULL);
	int mfd = mdir_folder_meta_fd(c->folder, FALSE, NULL);
	const char *n;

	while (d && mfd >= 0 && (n = g_dir_read_name(d)) != NULL) {
		g_autofree char *m = g_build_filename(meta, n, NULL);
		struct stat st;

		if (n[0] == '.') {
			if (g_str_has_prefix(n, ".tmp.") && is_stale(mfd, n))
				problem(c, "orphan-tmp", m, "unfinished write left by a crash",
				    c->repair && unlinkat(mfd, n, 0) == 0);
			continue;
		}
		if (fstatat(c->fd, n, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
			problem(c, "orphan-record", m, "record without an entry",
			    c->repair && unlinkat(mfd, n, 0) == 0);
	}
}

/* Temporary files of durable writes (.version's) that a crash left. */
static void
check_tmp_files(Check *c)
{
	g_autoptr(GDir) d = g_dir_open(c->path, 0, NULL);
	const char *n;

	while (d && (n = g_dir_read_name(d)) != NULL) {
		g_autofree char *p = NULL;

		if (!g_str_has_prefix(n, ".tmp.") && !g_str_has_prefix(n, ".fsck."))
			continue;
		p = g_build_filename(c->path, n, NULL);
		if (is_stale(c->fd, n))
			problem(c, "orphan-tmp", p, "unfinished write left by a crash",
			    c->repair && unlinkat(c->fd, n, 0) == 0);
	}
}

/* Entries ---------------------------------------------------------------- */

/*
 * Renames entry *@name, which the verbs refuse, to what the sanitiser makes
 * of it (made unique), with its record.  TRUE with *@name the new name.
 */
static gboolean
rename_bad(Check *c, char **name, GError **error)
{
	g_autofree char *epath = mdir_folder_entry_path(c->folder, *name);
	g_autofree char *safe = mdir_sanitize_name(*name, -1);
	g_autofree char *used = NULL;
	gboolean one_line = strpbrk(*name, "\r\n") == NULL;
	int mfd = mdir_folder_meta_fd(c->folder, TRUE, error);

	if (mfd < 0)
		return FALSE;
	used = mdir_folder_link_unique(c->folder, c->fd, *name, safe ? safe : "entry", NULL,
	    error);
	if (used == NULL)
		return FALSE;
	if ((renameat(mfd, *name, mfd, used) < 0 && errno != ENOENT) ||
	    unlinkat(c->fd, *name, 0) < 0) {
		mdir_set_errno(error, errno, epath);
		return FALSE;
	}
	/* a name with a line end cannot be a line of .changes: only the new one is */
	if (!mdir_folder_log_change(c->folder, one_line ? *name : NULL, used, NULL, error))
		return FALSE;
	g_free(*name);
	*name = g_steal_pointer(&used);
	return TRUE;
}

static gboolean
check_name(Check *c, char **name)
{
	g_autofree char *epath = mdir_folder_entry_path(c->folder, *name);
	g_autofree char *detail = NULL;
	g_autoptr(GError) e = NULL;
	gboolean fixed;

	if (mdir_name_is_safe(*name))
		return TRUE;
	fixed = c->repair && rename_bad(c, name, &e);
	if (fixed)
		detail = g_strdup_printf("a name the verbs refuse; renamed '%s'", *name);
	else
		detail = g_strdup_printf("a name the verbs refuse%s%s", e ? "; " : "",
		    e ? e->message : "");
	problem(c, "bad-name", epath, detail, fixed);
	return fixed;
}

/* A record describing the file itself, for an entry not from the store. */
static MdirRecord *
describe_file(const char *path, const struct stat *st, const char *name)
{
	g_autofree char *sha = mdir_sha256_file(path, NULL);
	MdirRecord *r;

	if (sha == NULL)
		return NULL;
	r = mdir_record_new();
	mdir_record_add(r, "content-type", "application/octet-stream");
	mdir_record_add(r, "suggested-name", name);
	mdir_record_set_int(r, "size", st->st_size);
	mdir_record_add(r, "sha256", sha);
	mdir_record_add(r, "repaired-by", "mstore fsck");
	return r;
}

/* Replaces a copied entry by a link to the stored part with the same bytes. */
static gboolean
relink(Check *c, const char *name, const char *stored)
{
	g_autofree char *tmp = g_strdup_printf(".fsck.%d", (int)getpid());

	if (linkat(AT_FDCWD, stored, c->fd, tmp, 0) < 0)
		return FALSE;
	if (renameat(c->fd, tmp, c->fd, name) < 0) {
		unlinkat(c->fd, tmp, 0);
		return FALSE;
	}
	return fsync(c->fd) == 0 || errno == EINVAL;
}

/*
 * An entry is a hard link to its stored part: edited in place, it edits
 * the store too (mdir(5)).  Its bytes are hashed only when its size or
 * time says it may have changed since its record was written, so that a
 * nightly fsck does not read the whole store.
 */
static void
check_in_place(Check *c, const char *name, const char *path, const struct stat *st,
    const MdirRecord *rec)
{
	g_autofree char *mine = NULL;
	const char *sha = mdir_record_get(rec, "sha256");
	int mfd = mdir_folder_meta_fd(c->folder, FALSE, NULL);
	struct stat mst;

	if (sha == NULL || mfd < 0)
		return;
	if (mdir_record_get_int(rec, "size", -1) == st->st_size &&
	    fstatat(mfd, name, &mst, AT_SYMLINK_NOFOLLOW) == 0 && st->st_mtime <= mst.st_mtime)
		return;
	mine = mdir_sha256_file(path, NULL);
	if (mine && strcmp(mine, sha) != 0)
		problem(c, "changed", path, "content differs from its record's sha256 (edited "
		    "in place: the stored part changed with it)", FALSE);
}

static void
check_link(Check *c, const char *name, const char *path, const struct stat *st,
    const MdirRecord *rec)
{
	const char *url = mdir_record_get(rec, "url");
	const char *sha = mdir_record_get(rec, "sha256");
	g_autofree char *stored = NULL;
	g_autofree char *mine = NULL;
	struct stat sst;

	/* in a folder of copies an entry is its own file, the user's to
	 * edit; its stored part may be gone (mstore gc) */
	if (url == NULL || mdir_folder_copies(c->folder))
		return;
	stored = mdir_store_part_path(mdir_folder_store(c->folder), url, NULL);
	if (stored == NULL) {
		problem(c, "missing-part", path, url, FALSE);
		return;
	}
	if (stat(stored, &sst) < 0)
		return;
	if (sst.st_dev == st->st_dev && sst.st_ino == st->st_ino) {
		check_in_place(c, name, path, st, rec);
		return;
	}
	mine = mdir_sha256_file(path, NULL);
	if (mine == NULL || g_strcmp0(mine, sha) != 0) {
		problem(c, "changed", path, "content differs from its record's sha256", FALSE);
		return;
	}
	problem(c, "not-linked", path, "a copy of the stored part, not a link",
	    c->repair && relink(c, name, stored));
}

static void
check_entry(Check *c, const char *name)
{
	g_autofree char *epath = mdir_folder_entry_path(c->folder, name);
	g_autofree char *mpath = mdir_folder_meta_path(c->folder, name);
	g_autoptr(MdirRecord) rec = NULL;
	g_autofree char *text = NULL;
	gboolean fixed = FALSE;
	struct stat st;
	gsize len;

	if (fstatat(c->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	rec = mdir_folder_load_record(c->folder, name, NULL);
	if (rec) {
		check_link(c, name, epath, &st, rec);
		return;
	}
	if (c->repair) {
		rec = c->find ? c->find(c->folder, name, epath, c->data) : NULL;
		if (rec == NULL)
			rec = describe_file(epath, &st, name);
		text = rec ? mdir_record_to_string(rec, &len) : NULL;
		fixed = text && mdir_write_at(mdir_folder_meta_fd(c->folder, TRUE, NULL), name,
		    text, len, TRUE, mpath, NULL);
	}
	problem(c, "missing-record", epath, "entry without a record", fixed);
}

gint
mdir_folder_check(MdirFolder *folder, gboolean repair, MdirRecordFinder find,
    MdirProblemFunc report, gpointer user_data, GError **error)
{
	Check c = { folder, mdir_folder_fd(folder), mdir_folder_path(folder), repair, find,
		report, user_data, 0 };
	g_autoptr(GPtrArray) names = NULL;
	gboolean dots_ok;
	gboolean meta_ok;

	g_return_val_if_fail(folder != NULL, -1);
	/* a .lock that is a link cannot be locked: said, mended or not */
	if (!check_dot_file(&c, ".lock"))
		return c.left;
	/* the lock even to look: a change half made is not damage */
	if (!mdir_folder_lock(folder, error))
		return -1;
	dots_ok = check_dot_file(&c, ".changes");
	dots_ok = check_dot_file(&c, ".version") && dots_ok;
	/* the version first: the renames below are changes */
	if ((dots_ok && !check_version(&c, error)) ||
	    (names = mdir_folder_list(folder, error)) == NULL) {
		mdir_folder_unlock(folder);
		return -1;
	}
	meta_ok = check_meta_dir(&c);
	for (guint i = 0; i < names->len; i++) {
		g_autofree char *name = g_strdup(names->pdata[i]);

		if (check_name(&c, &name) && meta_ok)
			check_entry(&c, name);
	}
	if (meta_ok)
		check_records(&c);
	check_tmp_files(&c);
	mdir_folder_unlock(folder);
	return c.left;
}
