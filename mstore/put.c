/*
 * put.c: "mstore put": store a file of one's own (a document, a note) as a
 * message of one part, and optionally file it into a folder.  The id is
 * made from the content, so putting the same file twice stores it once.
 */
#include <stdio.h>
#include <string.h>

#include <gio/gio.h>
#include <glib.h>

#include "mdir.h"
#include "mstore.h"

static char *
guess_type(const char *path, const char *name)
{
	g_autofree char *ctype = NULL;
	g_autofree char *head = NULL;
	gsize len = 0;
	char *mime;

	if (strcmp(path, "-") != 0) {
		g_autoptr(GFile) f = g_file_new_for_path(path);
		g_autoptr(GFileInputStream) in = g_file_read(f, NULL, NULL);

		head = g_malloc(4096);
		if (in)
			len = MAX(0, g_input_stream_read(G_INPUT_STREAM(in), head, 4096, NULL,
			    NULL));
	}
	ctype = g_content_type_guess(name, (const guchar *)head, len, NULL);
	mime = g_content_type_get_mime_type(ctype);
	return mime ? mime : g_strdup("application/octet-stream");
}

int
cmd_put(Mstore *ms, int argc, char **argv, GError **error)
{
	g_autofree char *type = NULL;
	g_autofree char *name = NULL;
	GOptionEntry entries[] = {
		{ "type", 't', 0, G_OPTION_ARG_STRING, &type, "content type (default: guessed)",
		    "TYPE" },
		/* bytes as given, whatever the locale: the sanitiser makes them a name
		 * (a C locale made GOption refuse every non-ASCII name) */
		{ "name", 'n', 0, G_OPTION_ARG_FILENAME, &name,
		    "suggested name (default: the file's)", "NAME" },
		{ NULL },
	};
	g_autoptr(MdirRecord) rec = mdir_record_new();
	g_autoptr(MdirFolder) folder = NULL;
	g_autofree char *url = NULL;
	g_autofree char *safe = NULL;
	g_autofree char *base = NULL;
	g_autofree char *now = mdir_time_now(MDIR_TIME_ISO8601);
	g_autofree char *src = NULL;
	g_autofree char *entry = NULL;

	if (!mstore_parse("put", "FILE|- [FOLDER]", "Store FILE (or standard input) and print "
	    "its URL; with FOLDER, also file it there and print the entry.", entries, &argc,
	    &argv, 1, 2, error))
		return 1;
	base = strcmp(argv[1], "-") == 0 ? g_strdup("stdin") : g_path_get_basename(argv[1]);
	safe = mdir_sanitize_name(name ? name : base, -1);
	if (safe == NULL)
		safe = g_strdup("part");
	if (type == NULL)
		type = guess_type(argv[1], safe);
	/* a missing folder is made, as a rule's move makes it */
	if (argc > 2 && (folder = mstore_folder(ms, argv[2], TRUE, error)) == NULL)
		return 1;
	mdir_record_add(rec, "content-type", type);
	mdir_record_add(rec, "suggested-name", safe);
	mdir_record_add(rec, "disposition", "attachment");
	mdir_record_add(rec, "received-at", now);
	if (!mdir_store_put_file(ms->store, argv[1], rec, &url, error))
		return 1;
	if (folder == NULL) {
		printf("%s\n", url);
		return 0;
	}
	{
		g_autoptr(MdirRecord) stored = mdir_store_load_record(ms->store, url, error);

		if (stored == NULL || (src = mdir_store_part_path(ms->store, url, error)) == NULL)
			return 1;
		entry = mdir_folder_add(folder, src, stored, safe, NULL, error);
		if (entry == NULL)
			return 1;
	}
	printf("%s\t%s/%s\n", url, mdir_folder_name(folder), entry);
	return 0;
}
