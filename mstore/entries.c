/*
 * entries.c: "mstore init", "mkdir", "cp", "mv" and "rm": changing folders.
 * Every change goes through libmdir's folder functions, so each one takes
 * the folder's lock, bumps its version and logs to .changes.
 */
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "mdir.h"
#include "mstore.h"

int
cmd_init(Mstore *ms, int argc, char **argv, GError **error)
{
	if (!mstore_parse("init", "", "Make the root's directories (done by every command "
	    "anyway) and print the root.", NULL, &argc, &argv, 0, 0, error))
		return 1;
	printf("%s\n", mdir_store_root(ms->store));
	return 0;
}

int
cmd_mkdir(Mstore *ms, int argc, char **argv, GError **error)
{
	if (!mstore_parse("mkdir", "FOLDER...", "Make folders (and their parents).", NULL,
	    &argc, &argv, 1, -1, error))
		return 1;
	for (int i = 1; i < argc; i++) {
		g_autoptr(MdirFolder) f = mstore_folder(ms, argv[i], TRUE, error);

		if (f == NULL)
			return 1;
	}
	return 0;
}

/* The name an entry gets: the record's suggested-name, else @fallback. */
static char *
entry_name(const MdirRecord *rec, const char *fallback)
{
	const char *s = mdir_record_get(rec, "suggested-name");
	char *n = s ? mdir_sanitize_name(s, -1) : NULL;

	if (n == NULL && fallback)
		n = mdir_sanitize_name(fallback, -1);
	return n ? n : g_strdup("part");
}

int
cmd_cp(Mstore *ms, int argc, char **argv, GError **error)
{
	g_autoptr(MdirFolder) dest = NULL;

	if (!mstore_parse("cp", "URL|ENTRY... FOLDER", "File parts or entries into FOLDER "
	    "(hard links, with their records); print each new entry.", NULL, &argc, &argv, 2,
	    -1, error))
		return 1;
	dest = mstore_folder(ms, argv[argc - 1], FALSE, error);
	if (dest == NULL)
		return 1;
	for (int i = 1; i < argc - 1; i++) {
		g_autofree char *path = NULL;
		g_autoptr(MdirRecord) rec = NULL;
		g_autofree char *want = NULL;
		g_autofree char *base = g_path_get_basename(argv[i]);
		g_autofree char *used = NULL;

		if (!mstore_source(ms, argv[i], &path, &rec, error))
			return 1;
		want = entry_name(rec, g_str_has_prefix(argv[i], "mstore:") ? NULL : base);
		used = mdir_folder_add(dest, path, rec, want, NULL, error);
		if (used == NULL)
			return 1;
		printf("%s/%s\n", mdir_folder_name(dest), used);
	}
	return 0;
}

static int
rename_in_place(Mstore *ms, const char *src, const char *dst, GError **error)
{
	g_autoptr(MdirFolder) folder = NULL;
	g_autoptr(MdirFolder) target = NULL;
	g_autofree char *name = NULL;
	g_autofree char *dir = g_path_get_dirname(dst);
	g_autofree char *to = g_path_get_basename(dst);
	g_autofree char *used = NULL;

	if (!mstore_split_entry(ms, src, &folder, &name, error))
		return 1;
	target = mstore_folder(ms, dir, FALSE, error);
	if (target == NULL)
		return 1;
	if (strcmp(mdir_folder_path(target), mdir_folder_path(folder)) != 0) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
		    "%s: no such folder (a rename stays in its folder)", dst);
		return 1;
	}
	used = mdir_folder_rename(folder, name, to, NULL, error);
	if (used == NULL)
		return 1;
	printf("%s/%s\n", mdir_folder_name(folder), used);
	return 0;
}

int
cmd_mv(Mstore *ms, int argc, char **argv, GError **error)
{
	g_autoptr(MdirFolder) dest = NULL;
	GError *e = NULL;

	if (!mstore_parse("mv", "ENTRY... FOLDER | ENTRY NEWNAME", "Move entries into FOLDER, "
	    "or rename one in its folder; print each new entry.", NULL, &argc, &argv, 2, -1,
	    error))
		return 1;
	dest = mstore_folder(ms, argv[argc - 1], FALSE, &e);
	if (dest == NULL) {
		if (argc == 3 && g_error_matches(e, MDIR_ERROR, MDIR_ERROR_NOT_FOUND)) {
			g_error_free(e);
			return rename_in_place(ms, argv[1], argv[2], error);
		}
		g_propagate_error(error, e);
		return 1;
	}
	for (int i = 1; i < argc - 1; i++) {
		g_autoptr(MdirFolder) src = NULL;
		g_autoptr(MdirRecord) rec = NULL;
		g_autofree char *name = NULL;
		g_autofree char *path = NULL;
		g_autofree char *used = NULL;

		if (!mstore_split_entry(ms, argv[i], &src, &name, error) ||
		    (rec = mdir_folder_load_record(src, name, error)) == NULL)
			return 1;
		path = mdir_folder_entry_path(src, name);
		/* filed in the new folder before it leaves the old: never lost */
		used = mdir_folder_add(dest, path, rec, name, NULL, error);
		if (used == NULL || !mdir_folder_remove(src, name, NULL, error))
			return 1;
		printf("%s/%s\n", mdir_folder_name(dest), used);
	}
	return 0;
}

int
cmd_rm(Mstore *ms, int argc, char **argv, GError **error)
{
	if (!mstore_parse("rm", "ENTRY...", "Remove entries and their records (the stored "
	    "parts stay until 'mstore gc').", NULL, &argc, &argv, 1, -1, error))
		return 1;
	for (int i = 1; i < argc; i++) {
		g_autoptr(MdirFolder) folder = NULL;
		g_autofree char *name = NULL;

		if (!mstore_split_entry(ms, argv[i], &folder, &name, error) ||
		    !mdir_folder_remove(folder, name, NULL, error))
			return 1;
	}
	return 0;
}
