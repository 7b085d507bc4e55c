/*
 * fsck.c: "mstore fsck": check the store and the folders against the
 * invariants of mdir(5), and with --repair put right what can be put right
 * without guessing.  It reports one problem a line, tab-separated:
 * KIND, PATH, DETAIL and, if mended, "repaired".  A crash in the middle of
 * any step of the library leaves only problems of these kinds.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"
#include "mstore.h"

#define STALE_SECONDS 3600 /* a temporary file this old belongs to nobody */

typedef struct {
	Mstore *ms;
	gboolean repair;
	guint found;
	guint repaired;
	GHashTable *inodes; /* "dev:ino" -> url, of every stored part */
} Fsck;

static void
report(Fsck *fs, const char *kind, const char *path, const char *detail, gboolean fixed)
{
	fs->found++;
	if (fixed)
		fs->repaired++;
	printf("%s\t%s\t%s%s\n", kind, path, detail, fixed ? "\trepaired" : "");
}

static char *
inode_key(const struct stat *st)
{
	return g_strdup_printf("%lu:%lu", (unsigned long)st->st_dev, (unsigned long)st->st_ino);
}

static gboolean
is_stale(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && time(NULL) - st.st_mtime > STALE_SECONDS;
}

/* The store -------------------------------------------------------------- */

static void
check_tmp(Fsck *fs)
{
	g_autofree char *tmp = g_build_filename(mdir_store_root(fs->ms->store), ".mstore", "tmp",
	    NULL);
	g_autoptr(GDir) d = g_dir_open(tmp, 0, NULL);
	const char *n;

	while (d && (n = g_dir_read_name(d)) != NULL) {
		g_autofree char *p = g_build_filename(tmp, n, NULL);
		gboolean fixed = FALSE;

		if (!is_stale(p))
			continue; /* a delivery may be writing it now */
		if (fs->repair)
			fixed = mstore_remove_tree(p);
		report(fs, "orphan-tmp", p, "unfinished write left by a crash", fixed);
	}
}

/*
 * Batches a killed writer left half-written in .mdird/queue (dot names
 * older than MDIR_QUEUE_STALE); --repair removes them with their delivery
 * keys, as mdird does when it starts (mdir_queue_clean()).
 */
static void
check_queue(Fsck *fs)
{
	g_autofree char *dir = mdir_queue_dir(fs->ms->store);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	g_autoptr(GPtrArray) litter = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) e = NULL;
	const char *n;
	struct stat st;

	while (d && (n = g_dir_read_name(d)) != NULL) {
		char *p = g_build_filename(dir, n, NULL);

		if (n[0] == '.' && lstat(p, &st) == 0 &&
		    time(NULL) - st.st_mtime > MDIR_QUEUE_STALE)
			g_ptr_array_add(litter, p);
		else
			g_free(p);
	}
	if (fs->repair && litter->len > 0 &&
	    !mdir_queue_clean(fs->ms->store, MDIR_QUEUE_STALE, NULL, &e))
		g_printerr("mstore: fsck: %s\n", e->message);
	for (guint i = 0; i < litter->len; i++) {
		const char *p = g_ptr_array_index(litter, i);

		report(fs, "queue-litter", p, "a batch a killed writer left half-written",
		    fs->repair && lstat(p, &st) < 0 && errno == ENOENT);
	}
}

/* A record for stored part @num of @dir rebuilt from the message's others. */
static MdirRecord *
rebuild_store_record(const char *dir, const char *num, const char *part_path)
{
	g_autoptr(GDir) d = NULL;
	g_autofree char *meta = g_build_filename(dir, ".meta", NULL);
	g_autoptr(MdirRecord) model = NULL;
	g_autofree char *id = NULL;
	g_autofree char *url = NULL;
	g_autofree char *sha = NULL;
	MdirRecord *r;
	struct stat st;
	const char *n;

	d = g_dir_open(meta, 0, NULL);
	while (d && model == NULL && (n = g_dir_read_name(d)) != NULL) {
		g_autofree char *p = g_build_filename(meta, n, NULL);

		model = mdir_record_load(p, NULL);
	}
	if (model == NULL || mdir_record_get(model, "url") == NULL ||
	    !mdir_url_parse(mdir_record_get(model, "url"), &id, NULL, NULL) ||
	    stat(part_path, &st) < 0 || (sha = mdir_sha256_file(part_path, NULL)) == NULL)
		return NULL;
	url = mdir_url_build(id, (guint)g_ascii_strtoull(num, NULL, 10));
	r = mdir_record_new();
	mdir_record_add(r, "url", url);
	mdir_record_add(r, "anchor", mdir_record_get(model, "anchor"));
	mdir_record_add(r, "message-id", mdir_record_get(model, "message-id"));
	mdir_record_add(r, "part", num);
	mdir_record_add(r, "parts", mdir_record_get(model, "parts"));
	mdir_record_add(r, "content-type", "application/octet-stream");
	mdir_record_set_int(r, "size", st.st_size);
	mdir_record_add(r, "sha256", sha);
	mdir_record_add(r, "repaired-by", "mstore fsck");
	return r;
}

static gboolean
check_message(const char *dir, gpointer data)
{
	Fsck *fs = data;
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *n;

	while (d && (n = g_dir_read_name(d)) != NULL) {
		g_autofree char *p = g_build_filename(dir, n, NULL);
		g_autofree char *m = NULL;
		g_autoptr(MdirRecord) rec = NULL;
		struct stat st;

		if (n[0] == '.' || lstat(p, &st) < 0)
			continue;
		m = g_build_filename(dir, ".meta", n, NULL);
		rec = mdir_record_load(m, NULL);
		if (rec == NULL) {
			gboolean fixed = FALSE;

			if (fs->repair && (rec = rebuild_store_record(dir, n, p)) != NULL)
				fixed = mdir_record_save(rec, m, NULL);
			report(fs, "missing-record", p, "stored part without a record", fixed);
		}
		if (rec && mdir_record_get(rec, "url"))
			g_hash_table_insert(fs->inodes, inode_key(&st),
			    g_strdup(mdir_record_get(rec, "url")));
	}
	return TRUE;
}

/* Folders ------------------------------------------------------------------ */

static MdirRecord *
record_for_entry(Fsck *fs, const char *path, const struct stat *st, const char *name)
{
	g_autofree char *key = inode_key(st);
	const char *url = g_hash_table_lookup(fs->inodes, key);
	g_autofree char *sha = NULL;
	MdirRecord *r;

	if (url && (r = mdir_store_load_record(fs->ms->store, url, NULL)) != NULL)
		return r;
	/* not from the store: a minimal record describing the file itself */
	if ((sha = mdir_sha256_file(path, NULL)) == NULL)
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
relink(const char *entry, const char *stored)
{
	g_autofree char *dir = g_path_get_dirname(entry);
	g_autofree char *tmp = g_strdup_printf("%s/.fsck.%d", dir, (int)getpid());

	if (link(stored, tmp) < 0)
		return FALSE;
	if (rename(tmp, entry) < 0) {
		unlink(tmp);
		return FALSE;
	}
	return mdir_fsync_dir(dir, NULL);
}

static void
check_entry_link(Fsck *fs, const char *path, const struct stat *st, const MdirRecord *rec)
{
	const char *url = mdir_record_get(rec, "url");
	const char *sha = mdir_record_get(rec, "sha256");
	g_autofree char *stored = NULL;
	g_autofree char *mine = NULL;
	struct stat sst;

	if (url == NULL)
		return;
	stored = mdir_store_part_path(fs->ms->store, url, NULL);
	if (stored == NULL) {
		report(fs, "missing-part", path, url, FALSE);
		return;
	}
	if (stat(stored, &sst) < 0 || (sst.st_dev == st->st_dev && sst.st_ino == st->st_ino))
		return;
	mine = mdir_sha256_file(path, NULL);
	if (mine == NULL || g_strcmp0(mine, sha) != 0) {
		report(fs, "changed", path, "content differs from its record's sha256", FALSE);
		return;
	}
	report(fs, "not-linked", path, "a copy of the stored part, not a link",
	    fs->repair && relink(path, stored));
}

static void
check_records(Fsck *fs, const char *dir)
{
	g_autofree char *meta = g_build_filename(dir, ".meta", NULL);
	g_autoptr(GDir) d = g_dir_open(meta, 0, NULL);
	const char *n;

	while (d && (n = g_dir_read_name(d)) != NULL) {
		g_autofree char *m = g_build_filename(meta, n, NULL);
		g_autofree char *e = g_build_filename(dir, n, NULL);

		if (n[0] == '.') {
			if (g_str_has_prefix(n, ".tmp.") && is_stale(m))
				report(fs, "orphan-tmp", m, "unfinished write left by a crash",
				    fs->repair && unlink(m) == 0);
			continue;
		}
		if (!g_file_test(e, G_FILE_TEST_EXISTS))
			report(fs, "orphan-record", m, "record without an entry",
			    fs->repair && unlink(m) == 0);
	}
}

static void
check_version(Fsck *fs, MdirFolder *folder)
{
	g_autofree char *vpath = g_build_filename(mdir_folder_path(folder), ".version", NULL);
	g_autofree char *text = NULL;
	g_autofree char *want = NULL;
	guint64 v;

	if (!mdir_folder_version(folder, &v, NULL) || v == 0)
		return;
	want = g_strdup_printf("%" G_GUINT64_FORMAT "\n", v);
	if (g_file_get_contents(vpath, &text, NULL, NULL) && strcmp(text, want) == 0)
		return;
	report(fs, "version", vpath, "behind .changes, missing or not a number", fs->repair &&
	    mdir_file_write_durable(vpath, want, strlen(want), NULL));
}

static void
check_folder(Fsck *fs, const char *path)
{
	g_autoptr(MdirFolder) folder = mstore_folder(fs->ms, path, FALSE, NULL);
	g_autoptr(GPtrArray) names = NULL;

	if (folder == NULL || (names = mdir_folder_list(folder, NULL)) == NULL)
		return;
	for (guint i = 0; i < names->len; i++) {
		const char *n = names->pdata[i];
		g_autofree char *e = mdir_folder_entry_path(folder, n);
		g_autofree char *m = g_build_filename(mdir_folder_path(folder), ".meta", n, NULL);
		g_autoptr(MdirRecord) rec = mdir_folder_load_record(folder, n, NULL);
		struct stat st;

		if (lstat(e, &st) < 0)
			continue;
		if (rec == NULL) {
			gboolean fixed = FALSE;

			if (fs->repair && (rec = record_for_entry(fs, e, &st, n)) != NULL)
				fixed = mdir_record_save(rec, m, NULL);
			report(fs, "missing-record", e, "entry without a record", fixed);
			continue;
		}
		check_entry_link(fs, e, &st, rec);
	}
	check_records(fs, mdir_folder_path(folder));
	check_version(fs, folder);
}

/* Every directory below the root but the reserved ones, links not followed. */
static void
walk_folders(Fsck *fs, const char *dir, gboolean top)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *n;

	if (!top)
		check_folder(fs, dir);
	while (d && (n = g_dir_read_name(d)) != NULL) {
		g_autofree char *p = g_build_filename(dir, n, NULL);
		struct stat st;

		if (n[0] != '.' && lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			walk_folders(fs, p, FALSE);
	}
}

int
cmd_fsck(Mstore *ms, int argc, char **argv, GError **error)
{
	gboolean repair = FALSE;
	GOptionEntry entries[] = {
		{ "repair", 'r', 0, G_OPTION_ARG_NONE, &repair, "mend what can be mended", NULL },
		{ NULL },
	};
	Fsck fs = { .ms = ms };

	if (!mstore_parse("fsck", "[FOLDER...]", "Check the store and the folders (all, or "
	    "those named); print one problem a line.", entries, &argc, &argv, 0, -1, error))
		return 1;
	fs.repair = repair;
	fs.inodes = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	check_tmp(&fs);
	check_queue(&fs);
	if (!mdir_store_foreach(ms->store, check_message, &fs, error)) {
		g_hash_table_unref(fs.inodes);
		return 1;
	}
	if (argc > 1)
		for (int i = 1; i < argc; i++)
			check_folder(&fs, argv[i]);
	else
		walk_folders(&fs, mdir_store_root(ms->store), TRUE);
	g_hash_table_unref(fs.inodes);
	if (fs.found)
		fprintf(stderr, "mstore: fsck: %u problems, %u repaired\n", fs.found, fs.repaired);
	return fs.found > fs.repaired ? EX_DATAERR : EX_OK;
}
