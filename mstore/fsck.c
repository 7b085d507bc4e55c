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
#include <syslog.h>
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
	guint left;	    /* found and still there (checked again after --repair) */
	GError *error;	    /* the first check that could not be made */
	GHashTable *inodes; /* "dev:ino" -> url, of every stored part */
} Fsck;

/* A problem of the store (folders report through print_problem()). */
static void
report(Fsck *fs, const char *kind, const char *path, const char *detail, gboolean fixed)
{
	fs->found++;
	if (fixed)
		fs->repaired++;
	else
		fs->left++;
	printf("%s\t%s\t%s%s\n", kind, path, detail,
	    fixed ? "\trepaired" : fs->repair ? "\tnot repaired" : "");
}

static char *
inode_key(const struct stat *st)
{
	return g_strdup_printf("%lu:%lu", (unsigned long)st->st_dev, (unsigned long)st->st_ino);
}

/* The store -------------------------------------------------------------- */

static void
check_tmp(Fsck *fs)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(GPtrArray) litter = mdir_store_tmp_litter(fs->ms->store, STALE_SECONDS, &e);

	if (litter == NULL) {
		g_printerr("mstore: fsck: %s\n", e->message);
		return;
	}
	for (guint i = 0; i < litter->len; i++) {
		const char *p = g_ptr_array_index(litter, i);
		gboolean fixed = fs->repair && mstore_remove_tree(p);

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
	g_autoptr(GError) e = NULL;
	g_autoptr(GPtrArray) litter = mdir_queue_litter(fs->ms->store, MDIR_QUEUE_STALE, &e);
	struct stat st;

	if (litter == NULL) {
		g_printerr("mstore: fsck: %s\n", e->message);
		return;
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

/* A missing record found in the store by the entry's inode (a link to a part). */
static MdirRecord *
find_record(MdirFolder *folder, const char *name, const char *path, gpointer data)
{
	Fsck *fs = data;
	g_autofree char *key = NULL;
	const char *url;
	struct stat st;

	(void)folder;
	(void)name;
	if (lstat(path, &st) < 0)
		return NULL;
	key = inode_key(&st);
	url = g_hash_table_lookup(fs->inodes, key);
	return url ? mdir_store_load_record(fs->ms->store, url, NULL) : NULL;
}

static void
print_problem(const MdirProblem *p, gpointer data)
{
	Fsck *fs = data;

	fs->found++;
	if (p->repaired)
		fs->repaired++;
	printf("%s\t%s\t%s%s\n", p->kind, p->path, p->detail,
	    p->repaired ? "\trepaired" : fs->repair ? "\tnot repaired" : "");
}

/* Keeps the first error for the exit code, logs the others. */
static void
failed(Fsck *fs, GError *e)
{
	if (fs->error == NULL)
		fs->error = e;
	else {
		mdir_log(LOG_ERR, "fsck: %s", e->message);
		g_error_free(e);
	}
}

/*
 * Checks (and mends) one folder through the library, under its lock; with
 * --repair, checks it again to count only what is really left.
 */
static void
check_folder(Fsck *fs, const char *path)
{
	g_autoptr(MdirFolder) folder = NULL;
	GError *e = NULL;
	gint left;

	folder = mstore_folder(fs->ms, path, FALSE, &e);
	if (folder == NULL) {
		failed(fs, e);
		return;
	}
	left = mdir_folder_check(folder, fs->repair, find_record, print_problem, fs, &e);
	if (left > 0 && fs->repair)
		left = mdir_folder_check(folder, FALSE, NULL, NULL, NULL, &e);
	if (left < 0)
		failed(fs, e);
	else
		fs->left += left;
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
	/* a warning, not a problem of the store: nothing to repair here */
	if (argc == 1)
		mstore_account_check_domains(ms);
	g_hash_table_unref(fs.inodes);
	if (fs.found)
		fprintf(stderr, "mstore: fsck: %u problems, %u repaired, %u left\n", fs.found,
		    fs.repaired, fs.left);
	/* a folder that could not be checked is not a clean one */
	if (fs.error) {
		g_propagate_error(error, fs.error);
		return 1;
	}
	return fs.left > 0 ? EX_DATAERR : EX_OK;
}
