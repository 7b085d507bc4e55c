/* Unit tests of folder.c: entries, .version, .changes, locks, links. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static char *
stored_part(MdirStore *s, const char *content)
{
	g_autofree char *path = test_write_tmp("src", content);
	g_autofree char *url = NULL;

	g_assert_true(mdir_store_put_file(s, path, NULL, &url, NULL));
	return mdir_store_part_path(s, url, NULL);
}

static MdirFolder *
open_folder(MdirStore *s, const char *name)
{
	g_autoptr(GError) error = NULL;
	MdirFolder *f = mdir_folder_open(s, name, MDIR_FOLDER_CREATE, &error);

	g_assert_no_error(error);
	return f;
}

/*
 * The version as every reader sees it: .version exactly "V\n" (not one
 * behind: mdir_folder_version() takes the larger of it and .changes, so
 * only the file itself shows that), the last line of .changes V, and
 * mdir_folder_version() V.
 */
static void
assert_version(MdirFolder *f, guint64 want)
{
	g_autofree char *vpath = g_build_filename(mdir_folder_path(f), ".version", NULL);
	g_autofree char *cpath = g_build_filename(mdir_folder_path(f), ".changes", NULL);
	g_autofree char *vtext = NULL;
	g_autofree char *ctext = NULL;
	g_autofree char *wtext = g_strdup_printf("%" G_GUINT64_FORMAT "\n", want);
	g_autoptr(GPtrArray) changes = NULL;
	guint64 v = 0;

	g_assert_true(g_file_get_contents(vpath, &vtext, NULL, NULL));
	g_assert_cmpstr(vtext, ==, wtext);
	changes = mdir_folder_changes(f, 0, NULL);
	g_assert_cmpuint(changes->len, >, 0);
	g_assert_cmpuint(((MdirChange *)changes->pdata[changes->len - 1])->version, ==, want);
	g_assert_true(mdir_folder_version(f, &v, NULL));
	g_assert_cmpuint(v, ==, want);
}

static void
test_add_list(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(MdirFolder) f = open_folder(s, "Users/jo/Docs");
	g_autofree char *src = stored_part(s, "pdf bytes");
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = NULL;
	g_autoptr(GPtrArray) changes = NULL;
	g_autofree char *n1 = NULL, *n2 = NULL, *n3 = NULL;
	g_autoptr(MdirRecord) back = NULL;
	guint64 v = 0;

	mdir_record_add(r, "suggested-name", "report.pdf");
	n1 = mdir_folder_add(f, src, r, "report.pdf", &v, &error);
	n2 = mdir_folder_add(f, src, r, "report.pdf", &v, &error);
	n3 = mdir_folder_add(f, src, r, "README", &v, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(n1, ==, "report.pdf");
	g_assert_cmpstr(n2, ==, "report-2.pdf");
	g_assert_cmpstr(n3, ==, "README");
	g_assert_cmpuint(v, ==, 3);
	assert_version(f, 3);
	names = mdir_folder_list(f, &error);
	g_assert_cmpuint(names->len, ==, 3);
	g_assert_cmpstr(names->pdata[0], ==, "README");
	changes = mdir_folder_changes(f, 1, &error);
	g_assert_cmpuint(changes->len, ==, 2);
	g_assert_cmpstr(((MdirChange *)changes->pdata[0])->name, ==, "report-2.pdf");
	g_assert_cmpint(((MdirChange *)changes->pdata[0])->op, ==, '+');
	back = mdir_folder_load_record(f, "report-2.pdf", &error);
	g_assert_cmpstr(mdir_record_get(back, "suggested-name"), ==, "report.pdf");
	g_assert_cmpstr(mdir_folder_name(f), ==, "Users/jo/Docs");
	g_assert_null(mdir_folder_add(f, src, r, "../evil", &v, &error));
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_BAD_NAME);
}

static void
test_add_entries(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(MdirFolder) f = open_folder(s, "Batch");
	g_autofree char *src = stored_part(s, "bytes");
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) changes = NULL;
	MdirFolderEntry e[4] = {
		{ .src = src, .record = r, .name = "a.txt" },
		{ .src = src, .record = r, .name = "a.txt" },
		{ .src = src, .record = r, .name = "b.txt" },
		{ .src = src, .record = r, .name = ".bad" },
	};
	guint64 v = 0;

	/* three go in, each its own version; the fourth is refused and the
	 * three before it are logged all the same */
	g_assert_false(mdir_folder_add_entries(f, e, 4, TRUE, &error));
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_BAD_NAME);
	g_assert_cmpstr(e[0].used, ==, "a.txt");
	g_assert_cmpstr(e[1].used, ==, "a-2.txt");
	g_assert_cmpstr(e[2].used, ==, "b.txt");
	g_assert_null(e[3].used);
	g_assert_cmpuint(e[0].version, ==, 1);
	g_assert_cmpuint(e[2].version, ==, 3);
	g_assert_true(mdir_folder_version(f, &v, NULL));
	g_assert_cmpuint(v, ==, 3);
	assert_version(f, 3);
	changes = mdir_folder_changes(f, 0, NULL);
	g_assert_cmpuint(changes->len, ==, 3);
	g_assert_cmpstr(((MdirChange *)changes->pdata[1])->name, ==, "a-2.txt");
	for (guint i = 0; i < 4; i++)
		g_free(e[i].used);
}

static void
test_save_record(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(MdirFolder) f = open_folder(s, "SMTP/Outbox");
	g_autofree char *src = stored_part(s, "a message");
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autoptr(MdirRecord) back = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *n = NULL;
	guint64 v = 0, after = 0;

	mdir_record_add(r, "outbox-attempts", "1");
	n = mdir_folder_add(f, src, r, "m.eml", &v, &error);
	g_assert_no_error(error);
	mdir_record_set(r, "outbox-attempts", "2");
	g_assert_true(mdir_folder_save_record(f, n, r, &error));
	g_assert_no_error(error);
	back = mdir_folder_load_record(f, n, &error);
	g_assert_cmpstr(mdir_record_get(back, "outbox-attempts"), ==, "2");
	g_assert_true(mdir_folder_version(f, &after, &error));
	g_assert_cmpuint(after, ==, v);
	/* no entry, no record: a record never stands alone */
	g_assert_false(mdir_folder_save_record(f, "gone.eml", r, &error));
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_NOT_FOUND);
	g_clear_error(&error);
	g_assert_false(mdir_folder_save_record(f, "../x", r, &error));
	g_assert_nonnull(error);
	g_clear_error(&error);
	/* it takes the folder's lock: another holder makes it wait, then fail */
	{
		g_autoptr(MdirFolder) g = open_folder(s, "SMTP/Outbox");
		g_autoptr(MdirRecord) again = NULL;

		g_assert_true(mdir_folder_lock(g, NULL));
		mdir_folder_set_lock_timeout(f, 50);
		mdir_record_set(r, "outbox-attempts", "3");
		g_assert_false(mdir_folder_save_record(f, n, r, &error));
		g_assert_error(error, MDIR_ERROR, MDIR_ERROR_LOCK_TIMEOUT);
		g_clear_error(&error);
		again = mdir_folder_load_record(f, n, NULL);
		g_assert_cmpstr(mdir_record_get(again, "outbox-attempts"), ==, "2");
		mdir_folder_unlock(g);
		g_assert_true(mdir_folder_save_record(f, n, r, &error));
		g_assert_no_error(error);
	}
}

/* A name used again between the read and the removal: the new file stays. */
static void
test_remove_same(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(MdirFolder) f = open_folder(s, "F");
	g_autofree char *src = stored_part(s, "x");
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *a = NULL;
	g_autofree char *apath = NULL;
	g_autofree char *meta = NULL;
	g_autofree char *text = NULL;
	gboolean replaced = TRUE;
	struct stat st;
	guint64 v;

	mdir_record_add(r, "note", "the first");
	a = mdir_folder_add(f, src, r, "a.eml", NULL, NULL);
	apath = mdir_folder_entry_path(f, "a.eml");
	meta = g_build_filename(mdir_folder_path(f), ".meta", "a.eml", NULL);
	g_assert_cmpint(stat(apath, &st), ==, 0);
	g_assert_true(mdir_folder_remove_same(f, "a.eml", st.st_dev, st.st_ino, &replaced, &v,
	    &error));
	g_assert_no_error(error);
	g_assert_false(replaced);
	g_assert_false(g_file_test(apath, G_FILE_TEST_EXISTS));
	g_assert_false(g_file_test(meta, G_FILE_TEST_EXISTS));
	assert_version(f, 2);
	/* read, then a new file put under the same name: it stays, unlogged */
	g_free(mdir_folder_add(f, src, r, "a.eml", NULL, NULL));
	g_assert_cmpint(stat(apath, &st), ==, 0);
	g_assert_cmpint(unlink(apath), ==, 0);
	g_assert_true(g_file_set_contents(apath, "a new one\n", -1, NULL));
	g_assert_true(mdir_folder_remove_same(f, "a.eml", st.st_dev, st.st_ino, &replaced, &v,
	    &error));
	g_assert_no_error(error);
	g_assert_true(replaced);
	g_assert_true(g_file_get_contents(apath, &text, NULL, NULL));
	g_assert_cmpstr(text, ==, "a new one\n");
	g_assert_false(g_file_test(meta, G_FILE_TEST_EXISTS));
	assert_version(f, 3);
}

static void
test_remove_rename(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(MdirFolder) f = open_folder(s, "F");
	g_autofree char *src = stored_part(s, "x");
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *a = mdir_folder_add(f, src, r, "a.txt", NULL, NULL);
	g_autofree char *b = mdir_folder_add(f, src, r, "b.txt", NULL, NULL);
	g_autofree char *bpath = mdir_folder_entry_path(f, "b.txt");
	g_autofree char *c = NULL;
	g_autoptr(GPtrArray) changes = NULL;
	guint64 v;

	assert_version(f, 2);
	c = mdir_folder_rename(f, "a.txt", "b.txt", &v, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(c, ==, "b-2.txt");
	g_assert_cmpuint(v, ==, 3);
	assert_version(f, 3);
	changes = mdir_folder_changes(f, 2, &error);
	g_assert_cmpuint(changes->len, ==, 2);
	g_assert_cmpint(((MdirChange *)changes->pdata[0])->op, ==, '-');
	g_assert_cmpuint(((MdirChange *)changes->pdata[1])->version, ==, 3);
	g_assert_true(mdir_folder_remove(f, "b.txt", &v, &error));
	g_assert_cmpuint(v, ==, 4);
	/* a removal is a change like any other: bumped, logged, written */
	assert_version(f, 4);
	g_assert_false(g_file_test(bpath, G_FILE_TEST_EXISTS));
	g_assert_false(mdir_folder_remove(f, "b.txt", &v, &error));
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_NOT_FOUND);
}

static void
test_concurrent_add(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(MdirFolder) f = open_folder(s, "Shared");
	g_autofree char *src = stored_part(s, "same part");
	g_autoptr(GPtrArray) names = NULL;
	g_autoptr(GPtrArray) changes = NULL;
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
	pid_t pids[2];
	guint64 v;

	for (int i = 0; i < 2; i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			g_autoptr(MdirStore) cs = test_store();
			g_autoptr(MdirFolder) cf = mdir_folder_open(cs, "Shared", 0, NULL);
			g_autoptr(MdirRecord) r = mdir_record_new();

			for (int j = 0; j < 50; j++) {
				g_autofree char *n = mdir_folder_add(cf, src, r, "doc.txt", NULL,
				    NULL);

				if (n == NULL)
					_exit(1);
			}
			_exit(0);
		}
	}
	for (int i = 0; i < 2; i++) {
		int status;

		waitpid(pids[i], &status, 0);
		g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	names = mdir_folder_list(f, NULL);
	g_assert_cmpuint(names->len, ==, 100);
	g_assert_true(mdir_folder_version(f, &v, NULL));
	g_assert_cmpuint(v, ==, 100);
	changes = mdir_folder_changes(f, 0, NULL);
	g_assert_cmpuint(changes->len, ==, 100);
	for (guint i = 0; i < changes->len; i++) {
		MdirChange *c = changes->pdata[i];

		g_assert_cmpuint(c->version, ==, i + 1);
		g_assert_false(g_hash_table_contains(seen, c->name));
		g_hash_table_add(seen, c->name);
	}
}

static void
test_version_hand_edited(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(MdirFolder) f = open_folder(s, "V");
	g_autofree char *src = stored_part(s, "v");
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autofree char *vpath = g_build_filename(mdir_folder_path(f), ".version", NULL);
	g_autofree char *cpath = g_build_filename(mdir_folder_path(f), ".changes", NULL);
	g_autofree char *text = NULL;
	guint64 v;

	g_assert_true(mdir_folder_version(f, &v, NULL));
	g_assert_cmpuint(v, ==, 0); /* no .version: 0 */
	g_assert_true(g_file_set_contents(vpath, "  41 set by hand", -1, NULL));
	g_free(mdir_folder_add(f, src, r, "a", &v, NULL));
	g_assert_cmpuint(v, ==, 42);
	/* lowered by hand: the change log keeps versions from repeating */
	g_assert_true(g_file_set_contents(vpath, "3\n", -1, NULL));
	g_free(mdir_folder_add(f, src, r, "b", &v, NULL));
	g_assert_cmpuint(v, ==, 43);
	/* removed by hand */
	g_unlink(vpath);
	g_free(mdir_folder_add(f, src, r, "c", &v, NULL));
	g_assert_cmpuint(v, ==, 44);
	/* junk */
	g_assert_true(g_file_set_contents(vpath, "garbage\n", -1, NULL));
	g_assert_true(mdir_folder_version(f, &v, NULL));
	g_assert_cmpuint(v, ==, 44);
	/* a change line cut short by a crash is ignored, and the next starts clean */
	{
		FILE *fp = fopen(cpath, "a");

		fputs("45 + half", fp);
		fclose(fp);
	}
	g_free(mdir_folder_add(f, src, r, "d", &v, NULL));
	g_assert_cmpuint(v, ==, 45);
	g_assert_true(g_file_get_contents(cpath, &text, NULL, NULL));
	g_assert_true(g_str_has_suffix(text, "44 + c\n45 + d\n"));
	{
		g_autoptr(GPtrArray) ch = mdir_folder_changes(f, 44, NULL);

		g_assert_cmpuint(ch->len, ==, 1);
	}
}

static void
test_outside_root(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autofree char *link = g_build_filename(mdir_store_root(s), "Escape", NULL);
	g_autofree char *alias = g_build_filename(mdir_store_root(s), "SMTP", "Accounts",
	    "joe@example.org", NULL);
	g_autoptr(MdirFolder) target = open_folder(s, "SMTP/Accounts/jo@example.org");
	g_autoptr(MdirFolder) via = NULL;
	g_autoptr(GError) error = NULL;

	/* outside the root but inside this test's own directories: GLib's
	 * clean-up of isolated dirs follows links, so never point one at /tmp */
	g_assert_cmpint(symlink(test_dir(), link), ==, 0);
	g_assert_null(mdir_folder_open(s, "Escape", 0, &error));
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT);
	g_clear_error(&error);
	g_assert_null(mdir_folder_open(s, "Escape/sub", MDIR_FOLDER_CREATE, &error));
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT);
	g_clear_error(&error);
	g_assert_null(mdir_folder_open(s, "SMTP/../../x", MDIR_FOLDER_CREATE, &error));
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT);
	g_clear_error(&error);
	g_assert_null(mdir_folder_open(s, "/etc", 0, &error));
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT);
	g_clear_error(&error);
	g_assert_null(mdir_folder_open(s, ".mstore/msg", 0, &error));
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_BAD_NAME);
	g_clear_error(&error);
	/* an alias inside the root is followed */
	g_assert_cmpint(symlink("jo@example.org", alias), ==, 0);
	via = mdir_folder_open(s, "SMTP/Accounts/joe@example.org", 0, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(mdir_folder_path(via), ==, mdir_folder_path(target));
	g_assert_cmpstr(mdir_folder_name(via), ==, "SMTP/Accounts/jo@example.org");
	g_assert_null(mdir_folder_open(s, "Nope", 0, &error));
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_NOT_FOUND);
	g_unlink(link);
}

static void
test_lock_timeout(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(MdirFolder) f = open_folder(s, "L");
	g_autoptr(MdirFolder) g = open_folder(s, "L");
	g_autoptr(GError) error = NULL;
	gint64 start;

	/* OFD locks: two handles in one process exclude each other */
	g_assert_true(mdir_folder_lock(f, &error));
	mdir_folder_set_lock_timeout(g, 100);
	start = g_get_monotonic_time();
	g_assert_false(mdir_folder_lock(g, &error));
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_LOCK_TIMEOUT);
	g_assert_cmpint(g_get_monotonic_time() - start, >=, 100000);
	g_assert_cmpint(g_get_monotonic_time() - start, <, 2000000);
	g_clear_error(&error);
	mdir_folder_unlock(f);
	g_assert_true(mdir_folder_lock(g, &error));
	mdir_folder_unlock(g);
}

/* Adds @name @n times; checks each name given is safe and within the limit. */
static void
add_many(MdirFolder *f, const char *src, const char *name, guint n)
{
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
	    NULL);

	for (guint i = 0; i < n; i++) {
		g_autoptr(GError) error = NULL;
		char *used = mdir_folder_add(f, src, r, name, NULL, &error);

		g_assert_no_error(error);
		g_assert_cmpuint(strlen(used), <=, MDIR_NAME_MAX);
		g_assert_true(mdir_name_is_safe(used));
		g_assert_false(g_hash_table_contains(seen, used));
		g_hash_table_add(seen, used);
	}
}

/*
 * Issue 15.5: a 200-byte name delivered twice was given a 202-byte
 * "NAME-2.pdf" that no verb accepted afterwards.  The suffix now fits
 * inside the limit, whatever the extension and the characters at the cut.
 */
static void
test_long_unique(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(MdirFolder) f = open_folder(s, "Long");
	g_autofree char *src = stored_part(s, "long");
	g_autoptr(GString) ascii = g_string_new(NULL);
	g_autoptr(GString) wide = g_string_new(NULL);
	g_autoptr(GString) noext = g_string_new(NULL);
	g_autoptr(GString) blank = g_string_new(NULL);
	g_autoptr(GPtrArray) names = NULL;

	while (ascii->len < MDIR_NAME_MAX - 4)
		g_string_append_c(ascii, 'a');
	g_string_append(ascii, ".pdf");
	while (wide->len < MDIR_NAME_MAX - 8)
		g_string_append(wide, "\xd0\xbe"); /* о */
	g_string_append(wide, "\xe4\xb8\x80.txt"); /* 一 */
	while (noext->len < MDIR_NAME_MAX)
		g_string_append_c(noext, 'n');
	/* a blank right where the suffix cuts */
	while (blank->len < MDIR_NAME_MAX - 7)
		g_string_append_c(blank, 'b');
	g_string_append(blank, " x.doc");
	for (guint i = 0; i < 2; i++) {
		add_many(f, src, ascii->str, 12);
		add_many(f, src, wide->str, 12);
		add_many(f, src, noext->str, 12);
		add_many(f, src, blank->str, 12);
	}
	/* every name given works with the other verbs */
	names = mdir_folder_list(f, NULL);
	g_assert_cmpuint(names->len, ==, 96);
	for (guint i = 0; i < names->len; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(MdirRecord) rec = mdir_folder_load_record(f, names->pdata[i], &error);

		g_assert_no_error(error);
		g_assert_true(mdir_folder_remove(f, names->pdata[i], NULL, &error));
		g_assert_no_error(error);
	}
}

/*
 * Issue 15.1: 20,000 parts named alike were named by trying name-2,
 * name-3, ... for each (quadratic: minutes).  They are named the same way,
 * in n log n at worst: in one batch, then one entry at a time.
 */
static void
test_many_alike(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(MdirFolder) f = open_folder(s, "Many");
	g_autofree char *src = stored_part(s, "many");
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autoptr(GError) error = NULL;
	const guint n = 20000;
	g_autofree MdirFolderEntry *e = g_new0(MdirFolderEntry, n);
	gint64 start = g_get_monotonic_time();
	gdouble secs;
	guint64 v = 0;

	for (guint i = 0; i < n; i++)
		e[i] = (MdirFolderEntry){ .src = src, .record = r, .name = "many.txt" };
	g_assert_true(mdir_folder_add_entries(f, e, n, TRUE, &error));
	g_assert_no_error(error);
	/* and one at a time, as mstore put and the outbox add them */
	for (guint i = 0; i < 200; i++) {
		g_autofree char *used = mdir_folder_add(f, src, r, "many.txt", &v, &error);

		g_assert_no_error(error);
		if (i == 199)
			g_assert_cmpstr(used, ==, "many-20200.txt");
	}
	secs = (g_get_monotonic_time() - start) / 1e6;
	g_test_message("20,200 entries named alike in %.2f s", secs);
	/* quadratic, this took minutes; n log n takes seconds even on a loaded machine */
	g_assert_cmpfloat(secs, <, 60.0);
	g_assert_cmpstr(e[0].used, ==, "many.txt");
	g_assert_cmpstr(e[1].used, ==, "many-2.txt");
	g_assert_cmpstr(e[2].used, ==, "many-3.txt");
	for (guint i = 1; i < n; i++) {
		g_autofree char *want = g_strdup_printf("many-%u.txt", i + 1);

		g_assert_cmpstr(e[i].used, ==, want);
	}
	g_assert_cmpuint(v, ==, n + 200);
	for (guint i = 0; i < n; i++)
		g_free(e[i].used);
}

/* Issue 16.12: the top of the range is refused, never wrapped to 0. */
static void
test_version_top(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(MdirFolder) f = open_folder(s, "Top");
	g_autofree char *src = stored_part(s, "top");
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autofree char *vpath = g_build_filename(mdir_folder_path(f), ".version", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) names = NULL;
	g_autofree char *a = mdir_folder_add(f, src, r, "a.txt", NULL, NULL);
	guint64 v = 0;

	g_assert_true(g_file_set_contents(vpath, "18446744073709551614\n", -1, NULL));
	g_free(mdir_folder_add(f, src, r, "b.txt", &v, &error));
	g_assert_no_error(error);
	g_assert_cmpuint(v, ==, G_MAXUINT64);
	g_assert_null(mdir_folder_add(f, src, r, "c.txt", &v, &error));
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_CORRUPT);
	g_clear_error(&error);
	g_assert_false(mdir_folder_remove(f, "a.txt", NULL, &error));
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_CORRUPT);
	g_clear_error(&error);
	g_assert_null(mdir_folder_rename(f, "a.txt", "z.txt", NULL, &error));
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_CORRUPT);
	g_clear_error(&error);
	/* refused before anything changed */
	names = mdir_folder_list(f, NULL);
	g_assert_cmpuint(names->len, ==, 2);
	g_assert_true(mdir_folder_version(f, &v, NULL));
	g_assert_cmpuint(v, ==, G_MAXUINT64);
	/* the check finds it, the repair sets it back to the log's */
	g_assert_cmpint(mdir_folder_check(f, FALSE, NULL, NULL, NULL, &error), ==, 1);
	g_assert_cmpint(mdir_folder_check(f, TRUE, NULL, NULL, NULL, &error), ==, 0);
	g_assert_no_error(error);
	g_assert_cmpint(mdir_folder_check(f, FALSE, NULL, NULL, NULL, &error), ==, 0);
	g_free(mdir_folder_add(f, src, r, "c.txt", &v, &error));
	g_assert_no_error(error);
	assert_version(f, v);
	g_assert_cmpuint(v, <, G_MAXUINT64 / 2);
}

static void
count_problem(const MdirProblem *p, gpointer data)
{
	GPtrArray *kinds = data;

	g_ptr_array_add(kinds, g_strdup_printf("%s%s", p->kind, p->repaired ? "+" : ""));
}

static void
assert_content(const char *path, const char *want)
{
	g_autofree char *text = NULL;

	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	g_assert_cmpstr(text, ==, want);
}

static void
file_edit_in_place(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(write(fd, text, strlen(text)), ==, (gssize)strlen(text));
	g_assert_cmpint(close(fd), ==, 0);
}

/*
 * Issue 16.13: an entry is a hard link, so an edit in place edits the
 * store; a folder holding .copies gets copies instead, its entries the
 * user's own, and the check has nothing to say about them.
 */
static void
test_copies(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(MdirFolder) linked = open_folder(s, "Linked");
	g_autoptr(MdirFolder) synced = open_folder(s, "Synced");
	g_autofree char *in = test_write_tmp("src", "original");
	g_autofree char *url = NULL;
	g_autofree char *stored = NULL;
	g_autofree char *sha = NULL;
	g_autofree char *marker = g_build_filename(mdir_folder_path(synced), ".copies", NULL);
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autoptr(GPtrArray) kinds = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;
	g_autofree char *a = NULL, *b = NULL, *c = NULL, *pa = NULL, *pb = NULL;
	struct stat sst, ast, bst;

	g_assert_true(mdir_store_put_file(s, in, NULL, &url, NULL));
	stored = mdir_store_part_path(s, url, NULL);
	sha = mdir_sha256_file(stored, NULL);
	mdir_record_add(r, "url", url);
	mdir_record_add(r, "sha256", sha);
	g_assert_true(g_file_set_contents(marker, "", 0, NULL));
	g_assert_false(mdir_folder_copies(linked));
	g_assert_true(mdir_folder_copies(synced));
	a = mdir_folder_add(linked, stored, r, "a.txt", NULL, &error);
	b = mdir_folder_add(synced, stored, r, "b.txt", NULL, &error);
	g_assert_no_error(error);
	pa = mdir_folder_entry_path(linked, a);
	pb = mdir_folder_entry_path(synced, b);
	g_assert_cmpint(stat(stored, &sst), ==, 0);
	g_assert_cmpint(stat(pa, &ast), ==, 0);
	g_assert_cmpint(stat(pb, &bst), ==, 0);
	g_assert_true(ast.st_ino == sst.st_ino);
	g_assert_false(bst.st_ino == sst.st_ino);
	assert_content(pb, "original");
	/* the copy edited in place: the store and the linked entry keep theirs */
	file_edit_in_place(pb, "edited");
	assert_content(stored, "original");
	assert_content(pa, "original");
	g_assert_cmpint(mdir_folder_check(synced, FALSE, NULL, count_problem, kinds, &error), ==, 0);
	g_assert_no_error(error);
	g_assert_cmpuint(kinds->len, ==, 0);
	/* a rename inside it keeps the file (and its edit) */
	c = mdir_folder_rename(synced, b, "c.txt", NULL, &error);
	g_assert_no_error(error);
	g_free(pb);
	pb = mdir_folder_entry_path(synced, c);
	assert_content(pb, "edited");
	/* the link edited in place edits the store: the check says so */
	file_edit_in_place(pa, "changed");
	assert_content(stored, "changed");
	g_assert_cmpint(mdir_folder_check(linked, FALSE, NULL, count_problem, kinds, &error), ==, 1);
	g_assert_cmpstr(kinds->pdata[0], ==, "changed");
}

/* The check, under the lock; what --repair mends is gone on the next look. */
static void
test_check_repair(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(MdirFolder) f = open_folder(s, "Check");
	g_autofree char *src = stored_part(s, "check");
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autofree char *a = mdir_folder_add(f, src, r, "a.txt", NULL, NULL);
	g_autofree char *b = mdir_folder_add(f, src, r, "b.txt", NULL, NULL);
	g_autofree char *bad = mdir_folder_entry_path(f, "bad.txt ");
	g_autofree char *fixed = mdir_folder_entry_path(f, "bad.txt");
	g_autofree char *orphan = g_build_filename(mdir_folder_path(f), ".meta", "gone", NULL);
	g_autofree char *rec_b = g_build_filename(mdir_folder_path(f), ".meta", "b.txt", NULL);
	g_autofree char *vpath = g_build_filename(mdir_folder_path(f), ".version", NULL);
	g_autoptr(MdirFolder) g = open_folder(s, "Check");
	g_autoptr(GPtrArray) kinds = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;

	g_assert_cmpint(link(src, bad), ==, 0);
	g_assert_true(g_file_set_contents(orphan, "url: x\n", -1, NULL));
	g_assert_cmpint(g_unlink(rec_b), ==, 0);
	g_assert_true(g_file_set_contents(vpath, "1\n", -1, NULL));
	g_assert_cmpint(mdir_folder_check(f, FALSE, NULL, count_problem, kinds, &error), ==, 4);
	g_assert_cmpuint(kinds->len, ==, 4);
	g_ptr_array_set_size(kinds, 0);
	/* it takes the lock */
	g_assert_true(mdir_folder_lock(g, NULL));
	mdir_folder_set_lock_timeout(f, 50);
	g_assert_cmpint(mdir_folder_check(f, TRUE, NULL, NULL, NULL, &error), ==, -1);
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_LOCK_TIMEOUT);
	g_clear_error(&error);
	mdir_folder_unlock(g);
	g_assert_cmpint(mdir_folder_check(f, TRUE, NULL, count_problem, kinds, &error), ==, 0);
	g_assert_no_error(error);
	/* and the renamed entry's record, which it never had */
	g_assert_cmpuint(kinds->len, ==, 5);
	for (guint i = 0; i < kinds->len; i++)
		g_assert_true(g_str_has_suffix(kinds->pdata[i], "+"));
	g_assert_cmpint(mdir_folder_check(f, FALSE, NULL, NULL, NULL, &error), ==, 0);
	g_assert_true(g_file_test(fixed, G_FILE_TEST_EXISTS));
	/* the rename and nothing else was a change: 2 adds, then one */
	assert_version(f, 3);
}

/* @name in folder @f made a symbolic link to @target. */
static void
plant_link(MdirFolder *f, const char *name, const char *target)
{
	g_autofree char *p = g_build_filename(mdir_folder_path(f), name, NULL);

	g_unlink(p);
	g_assert_cmpint(symlink(target, p), ==, 0);
}

/*
 * Issue 16.3: a group member who can write the folder puts links where
 * .changes, .version, .lock, .meta or a record will be.  No verb follows
 * them: the folder is refused, the file they lead to stays as it was,
 * and the check removes the links.
 */
static void
test_dot_file_links(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(MdirFolder) f = open_folder(s, "Sym");
	g_autofree char *src = stored_part(s, "sym");
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autofree char *a = mdir_folder_add(f, src, r, "a.txt", NULL, NULL);
	g_autofree char *victim = test_write_tmp("victim", "precious\n");
	g_autofree char *nowhere = g_build_filename(test_dir(), "made-by-mdir", NULL);
	g_autofree char *outdir = g_build_filename(test_dir(), "outdir", NULL);
	g_autofree char *record = g_build_filename(".meta", "a.txt", NULL);
	g_autofree char *mrec = g_build_filename(mdir_folder_path(f), ".meta", "a.txt", NULL);
	static const char *const dot[] = { ".changes", ".version", ".lock" };
	g_autoptr(GError) error = NULL;
	guint64 v;

	g_assert_cmpint(g_mkdir(outdir, 0700), ==, 0);
	for (gsize i = 0; i < G_N_ELEMENTS(dot); i++) {
		g_autoptr(GPtrArray) names = NULL;

		plant_link(f, dot[i], victim);
		g_assert_null(mdir_folder_add(f, src, r, "b.txt", NULL, &error));
		g_assert_error(error, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT);
		g_clear_error(&error);
		g_assert_false(mdir_folder_remove(f, "a.txt", NULL, &error));
		g_assert_nonnull(error);
		g_clear_error(&error);
		assert_content(victim, "precious\n");
		names = mdir_folder_list(f, NULL);
		g_assert_cmpuint(names->len, ==, 1);
		/* a link to a file that does not exist is not made to exist */
		plant_link(f, dot[i], nowhere);
		g_assert_null(mdir_folder_add(f, src, r, "b.txt", NULL, &error));
		g_clear_error(&error);
		g_assert_false(g_file_test(nowhere, G_FILE_TEST_EXISTS));
		/* the check says so and removes the link; the folder works again */
		g_assert_cmpint(mdir_folder_check(f, FALSE, NULL, NULL, NULL, &error), >, 0);
		g_assert_cmpint(mdir_folder_check(f, TRUE, NULL, NULL, NULL, &error), ==, 0);
		g_assert_no_error(error);
		g_free(mdir_folder_add(f, src, r, "c.txt", &v, &error));
		g_assert_no_error(error);
		g_assert_true(mdir_folder_remove(f, "c.txt", NULL, &error));
		assert_content(victim, "precious\n");
	}
	/* a record that is a link is not read */
	plant_link(f, record, victim);
	g_assert_null(mdir_folder_load_record(f, "a.txt", &error));
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT);
	g_clear_error(&error);
	/* and a record written replaces the link, never what it leads to */
	g_assert_true(mdir_folder_save_record(f, "a.txt", r, &error));
	g_assert_no_error(error);
	assert_content(victim, "precious\n");
	g_assert_false(g_file_test(mrec, G_FILE_TEST_IS_SYMLINK));
	/* a .meta that is a link to a directory outside: nothing written there */
	{
		g_autoptr(MdirFolder) g = open_folder(s, "Sym2");
		g_autoptr(GDir) d = NULL;

		plant_link(g, ".meta", outdir);
		g_assert_null(mdir_folder_add(g, src, r, "x.txt", NULL, &error));
		g_assert_error(error, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT);
		g_clear_error(&error);
		d = g_dir_open(outdir, 0, NULL);
		g_assert_null(g_dir_read_name(d));
	}
}

/* A folder swapped for a link after it was opened: writes stay in the first. */
static void
test_folder_swapped(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(MdirFolder) f = open_folder(s, "Real");
	g_autofree char *src = stored_part(s, "swap");
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autofree char *outdir = g_build_filename(test_dir(), "elsewhere", NULL);
	g_autofree char *moved = g_build_filename(mdir_store_root(s), "Moved", NULL);
	g_autofree char *in_moved = g_build_filename(moved, "late.txt", NULL);
	g_autoptr(GDir) d = NULL;
	g_autoptr(GError) error = NULL;

	g_assert_cmpint(g_mkdir(outdir, 0700), ==, 0);
	g_assert_cmpint(g_rename(mdir_folder_path(f), moved), ==, 0);
	g_assert_cmpint(symlink(outdir, mdir_folder_path(f)), ==, 0);
	g_free(mdir_folder_add(f, src, r, "late.txt", NULL, &error));
	g_assert_no_error(error);
	d = g_dir_open(outdir, 0, NULL);
	g_assert_null(g_dir_read_name(d));
	g_assert_true(g_file_test(in_moved, G_FILE_TEST_IS_REGULAR));
	g_unlink(mdir_folder_path(f));
}

static guint
open_fds(void)
{
	g_autoptr(GDir) d = g_dir_open("/proc/self/fd", 0, NULL);
	guint n = 0;

	while (d && g_dir_read_name(d))
		n++;
	return n;
}

/*
 * An open folder costs one descriptor, whatever was done with it: mdird
 * keeps a round's folders open, and a template can name many.
 */
static void
test_one_descriptor(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autofree char *src = stored_part(s, "fd");
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autoptr(GPtrArray) folders = g_ptr_array_new_with_free_func(
	    (GDestroyNotify)mdir_folder_free);
	guint before = open_fds();

	for (guint i = 0; i < 50; i++) {
		g_autofree char *name = g_strdup_printf("Many/%u", i);
		MdirFolder *f = open_folder(s, name);
		g_autoptr(MdirRecord) back = NULL;
		guint64 v;

		g_free(mdir_folder_add(f, src, r, "x.txt", NULL, NULL));
		back = mdir_folder_load_record(f, "x.txt", NULL);
		g_assert_nonnull(back);
		g_assert_true(mdir_folder_save_record(f, "x.txt", r, NULL));
		g_assert_true(mdir_folder_version(f, &v, NULL));
		g_ptr_array_add(folders, f);
	}
	g_assert_cmpuint(open_fds(), ==, before + 50);
}

/*
 * A FIFO where an entry or its record goes (a group member can make one)
 * is refused at once: opened to read, it waited for a writer before the
 * check that refuses what is not a regular file, and mdir-outbox hung
 * there holding its lock (alarm: a hang fails the test, not the runner).
 */
static void
test_fifo(void)
{
	g_autoptr(MdirStore) s = test_store();
	g_autoptr(MdirFolder) f = open_folder(s, "Fifo");
	g_autofree char *entry = g_build_filename(mdir_folder_path(f), "pipe.txt", NULL);
	g_autofree char *meta = g_build_filename(mdir_folder_path(f), ".meta", NULL);
	g_autofree char *rec = g_build_filename(meta, "pipe.txt", NULL);
	g_autoptr(GError) e = NULL;
	g_autoptr(MdirRecord) r = NULL;

	g_assert_cmpint(mkfifo(entry, 0660), ==, 0);
	g_assert_true(g_mkdir_with_parents(meta, 0770) == 0);
	g_assert_cmpint(mkfifo(rec, 0660), ==, 0);
	alarm(10);
	g_assert_cmpint(mdir_folder_open_entry(f, "pipe.txt", &e), ==, -1);
	g_assert_error(e, MDIR_ERROR, MDIR_ERROR_OUTSIDE_ROOT);
	g_clear_error(&e);
	r = mdir_folder_load_record(f, "pipe.txt", &e);
	g_assert_null(r);
	g_assert_nonnull(e);
	alarm(0);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/folder/add-list", test_add_list);
	g_test_add_func("/folder/add-entries", test_add_entries);
	g_test_add_func("/folder/record/save", test_save_record);
	g_test_add_func("/folder/remove-rename", test_remove_rename);
	g_test_add_func("/folder/remove-same", test_remove_same);
	g_test_add_func("/folder/race/two-processes-add", test_concurrent_add);
	g_test_add_func("/folder/version/hand-edited", test_version_hand_edited);
	g_test_add_func("/folder/links/outside-root", test_outside_root);
	g_test_add_func("/folder/lock/timeout", test_lock_timeout);
	g_test_add_func("/folder/names/long-unique", test_long_unique);
	g_test_add_func("/folder/names/many-alike", test_many_alike);
	g_test_add_func("/folder/version/top", test_version_top);
	g_test_add_func("/folder/check/repair", test_check_repair);
	g_test_add_func("/folder/links/copies", test_copies);
	g_test_add_func("/folder/links/fifo", test_fifo);
	g_test_add_func("/folder/links/dot-files", test_dot_file_links);
	g_test_add_func("/folder/links/folder-swapped", test_folder_swapped);
	g_test_add_func("/folder/open/one-descriptor", test_one_descriptor);
	return g_test_run();
}
