/*
 * ls.c: "mstore ls", "mstore version", "mstore changes": reading a folder.
 * A sync client keeps the version it last saw and asks what changed since;
 * "ls --since" gives the entries added since then that are still there.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>

#include "mdir.h"
#include "mstore.h"

static void
print_entry(MdirFolder *folder, const char *name, gboolean lng)
{
	g_autoptr(MdirRecord) rec = NULL;
	g_autofree char *path = NULL;
	struct stat st;

	if (!lng) {
		printf("%s\n", name);
		return;
	}
	path = mdir_folder_entry_path(folder, name);
	rec = mdir_folder_load_record(folder, name, NULL);
	printf("%s\t%lld\t%s\t%s\n", name, stat(path, &st) == 0 ? (long long)st.st_size : -1LL,
	    rec && mdir_record_get(rec, "content-type") ? mdir_record_get(rec, "content-type") :
	    "-", rec && mdir_record_get(rec, "url") ? mdir_record_get(rec, "url") : "-");
}

static void
print_folder(const char *name, gboolean lng)
{
	if (lng)
		printf("%s\t-\tfolder\t-\n", name);
	else
		printf("%s\n", name);
}

static gboolean
parse_version(const char *text, guint64 *v, GError **error)
{
	if (g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT64, v, NULL))
		return TRUE;
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "'%s' is not a version", text);
	return FALSE;
}

static int
ls_since(MdirFolder *folder, guint64 since, gboolean lng, GError **error)
{
	g_autoptr(GPtrArray) changes = mdir_folder_changes(folder, since, error);
	g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);

	if (changes == NULL)
		return 1;
	for (guint i = 0; i < changes->len; i++) {
		MdirChange *c = changes->pdata[i];
		g_autofree char *path = mdir_folder_entry_path(folder, c->name);

		if (c->op != '+' || g_hash_table_contains(seen, c->name) ||
		    !g_file_test(path, G_FILE_TEST_IS_REGULAR))
			continue;
		g_hash_table_add(seen, c->name);
		print_entry(folder, c->name, lng);
	}
	return 0;
}

int
cmd_ls(Mstore *ms, int argc, char **argv, GError **error)
{
	gboolean lng = FALSE;
	g_autofree char *since = NULL;
	GOptionEntry entries[] = {
		{ "long", 'l', 0, G_OPTION_ARG_NONE, &lng,
		    "name, size, content type and URL, tab-separated", NULL },
		{ "since", 's', 0, G_OPTION_ARG_STRING, &since,
		    "only entries added after VERSION that are still there", "VERSION" },
		{ NULL },
	};
	g_autoptr(MdirFolder) folder = NULL;
	g_autoptr(GPtrArray) names = NULL;
	g_autoptr(GPtrArray) folders = NULL;
	guint64 v = 0;

	if (!mstore_parse("ls", "FOLDER", "List a folder's entries and subfolders, one a line.",
	    entries, &argc, &argv, 1, 1, error))
		return 1;
	if (since && !parse_version(since, &v, error))
		return 1;
	folder = mstore_folder(ms, argv[1], FALSE, error);
	if (folder == NULL)
		return 1;
	if (since)
		return ls_since(folder, v, lng, error);
	names = mdir_folder_list(folder, error);
	folders = names ? mdir_folder_list_folders(folder, error) : NULL;
	if (folders == NULL)
		return 1;
	/* one sorted list, as ls(1) gives: accounts are listed so */
	for (guint i = 0, j = 0; i < names->len || j < folders->len;) {
		if (j == folders->len || (i < names->len && strcmp(names->pdata[i],
		    folders->pdata[j]) < 0))
			print_entry(folder, names->pdata[i++], lng);
		else
			print_folder(folders->pdata[j++], lng);
	}
	return 0;
}

int
cmd_version(Mstore *ms, int argc, char **argv, GError **error)
{
	g_autoptr(MdirFolder) folder = NULL;
	guint64 v;

	if (!mstore_parse("version", "FOLDER", "Print the folder's version.", NULL, &argc,
	    &argv, 1, 1, error))
		return 1;
	folder = mstore_folder(ms, argv[1], FALSE, error);
	if (folder == NULL || !mdir_folder_version(folder, &v, error))
		return 1;
	printf("%" G_GUINT64_FORMAT "\n", v);
	return 0;
}

int
cmd_changes(Mstore *ms, int argc, char **argv, GError **error)
{
	g_autofree char *since = NULL;
	GOptionEntry entries[] = {
		{ "since", 's', 0, G_OPTION_ARG_STRING, &since,
		    "changes after VERSION (default 0: all)", "VERSION" },
		{ NULL },
	};
	g_autoptr(MdirFolder) folder = NULL;
	g_autoptr(GPtrArray) changes = NULL;
	guint64 v = 0;

	if (!mstore_parse("changes", "FOLDER", "Print the folder's changes, one a line: "
	    "version, + or -, name, tab-separated.", entries, &argc, &argv, 1, 1, error))
		return 1;
	if (since && !parse_version(since, &v, error))
		return 1;
	folder = mstore_folder(ms, argv[1], FALSE, error);
	if (folder == NULL || (changes = mdir_folder_changes(folder, v, error)) == NULL)
		return 1;
	for (guint i = 0; i < changes->len; i++) {
		MdirChange *c = changes->pdata[i];

		printf("%" G_GUINT64_FORMAT "\t%c\t%s\n", c->version, c->op, c->name);
	}
	return 0;
}
