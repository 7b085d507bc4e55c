/*
 * show.c: "mstore cat" and "mstore meta": the content and the header
 * record of stored parts or folder entries.
 */
#include <stdio.h>

#include <glib.h>

#include "mdir.h"
#include "mstore.h"

int
cmd_cat(Mstore *ms, int argc, char **argv, GError **error)
{
	if (!mstore_parse("cat", "URL|ENTRY...", "Write each part or entry to standard output.",
	    NULL, &argc, &argv, 1, -1, error))
		return 1;
	for (int i = 1; i < argc; i++) {
		g_autofree char *path = NULL;
		g_autoptr(MdirRecord) rec = NULL;

		if (!mstore_source(ms, argv[i], &path, &rec, error) ||
		    !mstore_copy_to_stdout(path, error))
			return 1;
	}
	return 0;
}

int
cmd_meta(Mstore *ms, int argc, char **argv, GError **error)
{
	g_autofree char *field = NULL;
	GOptionEntry entries[] = {
		{ "field", 'f', 0, G_OPTION_ARG_STRING, &field,
		    "print only this field's values, one a line", "NAME" },
		{ NULL },
	};

	if (!mstore_parse("meta", "URL|ENTRY...", "Print the header record of each part or "
	    "entry; records are separated by a blank line.", entries, &argc, &argv, 1, -1,
	    error))
		return 1;
	for (int i = 1; i < argc; i++) {
		g_autofree char *path = NULL;
		g_autoptr(MdirRecord) rec = NULL;
		g_autofree char *text = NULL;

		if (!mstore_source(ms, argv[i], &path, &rec, error))
			return 1;
		if (field) {
			g_autofree const char **all = mdir_record_get_all(rec, field);

			for (const char **v = all; *v; v++)
				printf("%s\n", *v);
			continue;
		}
		text = mdir_record_to_string(rec, NULL);
		printf("%s%s", i > 1 ? "\n" : "", text);
	}
	return 0;
}
