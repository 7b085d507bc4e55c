/*
 * gc.c: "mstore gc": drop stored messages that no folder refers to.  A
 * folder entry is a hard link to a stored part, so a message none of whose
 * files has a second link is referred to by no folder.  Young messages and
 * those a batch still names, in whatever state (queued, being written,
 * claimed by mdird, set aside: mdir_queue_anchors()), are kept: mdird may
 * not have filed them yet.  mdir_store_remove_message() takes a message out of
 * the store in one step, so no reader ever sees half of one.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"
#include "mstore.h"

typedef struct {
	Mstore *ms;
	gboolean dry_run;
	gint64 min_age;
	GHashTable *named; /* anchors some batch names, in any state */
	guint kept, dropped;
	GError *error;
} Gc;

/* Whether some file of the message is linked elsewhere, or it is too young. */
static gboolean
in_use(Gc *gc, const char *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	struct stat st;
	const char *n;

	if (lstat(dir, &st) < 0 || time(NULL) - st.st_mtime < gc->min_age)
		return TRUE;
	while (d && (n = g_dir_read_name(d)) != NULL) {
		g_autofree char *p = g_build_filename(dir, n, NULL);

		if (n[0] != '.' && lstat(p, &st) == 0 && st.st_nlink > 1)
			return TRUE;
	}
	return FALSE;
}

static gboolean
collect(const char *dir, gpointer data)
{
	Gc *gc = data;
	g_autofree char *meta = g_build_filename(dir, ".meta", "0", NULL);
	g_autoptr(MdirRecord) rec = mdir_record_load(meta, NULL);
	const char *anchor = rec ? mdir_record_get(rec, "anchor") : NULL;

	if (in_use(gc, dir) || anchor == NULL || g_hash_table_contains(gc->named, anchor)) {
		gc->kept++;
		return TRUE;
	}
	printf("%s\n", anchor);
	gc->dropped++;
	if (gc->dry_run)
		return TRUE;
	return mdir_store_remove_message(gc->ms->store, dir, &gc->error);
}

int
cmd_gc(Mstore *ms, int argc, char **argv, GError **error)
{
	gboolean dry_run = FALSE;
	g_autofree char *min_age = NULL;
	g_autofree char *key_age = NULL;
	GOptionEntry entries[] = {
		{ "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run, "only print what would go", NULL },
		{ "min-age", 'a', 0, G_OPTION_ARG_STRING, &min_age,
		    "keep messages younger than this (default 1d)", "DURATION" },
		{ "key-age", 0, 0, G_OPTION_ARG_STRING, &key_age,
		    "keep delivery keys this long (default 7d)", "DURATION" },
		{ NULL },
	};
	Gc gc = { .ms = ms };
	gint64 ms_age, ms_keys;
	gboolean ok;

	if (!mstore_parse("gc", "", "Drop stored messages that no folder refers to; print "
	    "the URL of each.", entries, &argc, &argv, 0, 0, error))
		return 1;
	ms_age = mdir_parse_duration_ms(min_age ? min_age : "1d", error);
	if (ms_age < 0)
		return 1;
	ms_keys = mdir_parse_duration_ms(key_age ? key_age : "7d", error);
	if (ms_keys < 0)
		return 1;
	gc.min_age = ms_age / 1000;
	gc.dry_run = dry_run;
	/* the keys' window: Postfix's retries must end inside it (mdir(5)) */
	if (!dry_run && !mdir_queue_expire_keys(ms->store, ms_keys / 1000, NULL, error))
		return 1;
	gc.named = mdir_queue_anchors(ms->store, error);
	if (gc.named == NULL)
		return 1;
	ok = mdir_store_foreach(ms->store, collect, &gc, error);
	g_hash_table_unref(gc.named);
	if (!ok)
		return 1;
	if (gc.error) {
		g_propagate_error(error, gc.error);
		return 1;
	}
	return 0;
}
