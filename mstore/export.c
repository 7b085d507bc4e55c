/*
 * export.c: "mstore export": a folder's messages as a Maildir or an mbox,
 * for mutt, mblaze, Dovecot and friends.  Entries are parts; the message
 * of each is its anchor (part 0, the raw message as received), exported
 * once however many of its parts the folder holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"
#include "mstore.h"

/* The raw messages behind a folder's entries, in entry order, once each. */
static GPtrArray *
folder_messages(Mstore *ms, MdirFolder *folder, GPtrArray **records, GError **error)
{
	g_autoptr(GPtrArray) names = mdir_folder_list(folder, error);
	g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	GPtrArray *paths;

	if (names == NULL)
		return NULL;
	paths = g_ptr_array_new_with_free_func(g_free);
	*records = g_ptr_array_new_with_free_func((GDestroyNotify)mdir_record_free);
	for (guint i = 0; i < names->len; i++) {
		g_autoptr(MdirRecord) rec = mdir_folder_load_record(folder, names->pdata[i], NULL);
		const char *anchor = rec ? mdir_record_get(rec, "anchor") : NULL;
		char *raw;

		if (anchor == NULL || g_hash_table_contains(seen, anchor))
			continue;
		raw = mdir_store_part_path(ms->store, anchor, NULL);
		if (raw == NULL)
			continue;
		g_hash_table_add(seen, g_strdup(anchor));
		g_ptr_array_add(paths, raw);
		g_ptr_array_add(*records, mdir_store_load_record(ms->store, anchor, NULL));
	}
	return paths;
}

/*
 * A Maildir name without its size and flags: what says which message it
 * is (exports before the names had ",S=" find theirs too).
 */
static char *
name_key(const char *name)
{
	return g_strndup(name, strcspn(name, ",:"));
}

/* The names of the messages a Maildir already holds, as name_key()s. */
static GHashTable *
maildir_names(const char *dir)
{
	GHashTable *names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	const char *subs[] = { "new", "cur" };

	for (gsize i = 0; i < G_N_ELEMENTS(subs); i++) {
		g_autofree char *d = g_build_filename(dir, subs[i], NULL);
		g_autoptr(GDir) gd = g_dir_open(d, 0, NULL);
		const char *n;

		while (gd && (n = g_dir_read_name(gd)) != NULL)
			g_hash_table_add(names, name_key(n));
	}
	return names;
}

static gboolean
to_maildir(const char *dir, GPtrArray *paths, GPtrArray *records, guint *added,
    GError **error)
{
	const char *subs[] = { "tmp", "new", "cur" };
	g_autoptr(GHashTable) have = NULL;

	for (gsize i = 0; i < G_N_ELEMENTS(subs); i++) {
		g_autofree char *d = g_build_filename(dir, subs[i], NULL);

		if (!mdir_mkdir_durable(d, error))
			return FALSE;
	}
	have = maildir_names(dir);
	for (guint i = 0; i < paths->len; i++) {
		time_t t = (time_t)mdir_maildir_time(paths->pdata[i], records->pdata[i]);
		g_autofree char *name = mdir_maildir_name(paths->pdata[i], records->pdata[i], 1);
		g_autofree char *key = name_key(name);
		g_autofree char *dst = g_build_filename(dir, "new", name, NULL);
		struct timeval tv[2] = { { t, 0 }, { t, 0 } };

		if (g_hash_table_contains(have, key))
			continue;
		/* written to a temporary name, synced, renamed: the Maildir rule */
		if (!mdir_file_copy_durable(paths->pdata[i], dst, error))
			return FALSE;
		/* Dovecot and mutt take the arrival time from the file's */
		utimes(dst, tv);
		(*added)++;
	}
	return TRUE;
}

/* mboxrd: a "From " line per message, ">From " quoting made reversible. */
static gboolean
append_mbox(FILE *out, const char *path, const MdirRecord *rec, GError **error)
{
	const char *sender = rec ? mdir_record_get(rec, "envelope-from") : NULL;
	g_autofree char *date = mdir_time_format(mdir_maildir_time(path, rec), MDIR_TIME_MBOX);
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	gboolean last_nl = TRUE;
	FILE *in = fopen(path, "re");

	if (in == NULL) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", path,
		    g_strerror(errno));
		return FALSE;
	}
	fprintf(out, "From %s %s\n", sender && *sender ? sender : "MAILER-DAEMON", date);
	while ((len = getline(&line, &cap, in)) > 0) {
		const char *p = line;

		while (*p == '>')
			p++;
		if (strncmp(p, "From ", 5) == 0)
			fputc('>', out);
		/* CRLF stored as received; mbox readers expect LF */
		if (len >= 2 && line[len - 2] == '\r' && line[len - 1] == '\n') {
			line[len - 2] = '\n';
			len--;
		}
		fwrite(line, 1, len, out);
		last_nl = line[len - 1] == '\n';
	}
	fputs(last_nl ? "\n" : "\n\n", out);
	free(line);
	fclose(in);
	return TRUE;
}

static gboolean
to_mbox(const char *file, GPtrArray *paths, GPtrArray *records, GError **error)
{
	int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	FILE *out;
	gboolean ok = TRUE;

	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", file,
		    g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return FALSE;
	}
	out = fdopen(fd, "a");
	for (guint i = 0; ok && i < paths->len; i++)
		ok = append_mbox(out, paths->pdata[i], records->pdata[i], error);
	if (fflush(out) != 0 || fsync(fd) < 0) {
		if (ok)
			g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s",
			    file, g_strerror(errno));
		ok = FALSE;
	}
	fclose(out);
	return ok;
}

/*
 * The Maildir view of mdird(8) ([access] maildir) put in step at once:
 * @folder's (an account's folder or one below it), or every account's.
 * The same names and maps as mdird's, so running it again, or mdird
 * after it, adds nothing.
 */
static int
sync_view(Mstore *ms, const char *folder, GError **error)
{
	g_autoptr(MdirFolder) f = NULL;
	guint added = 0;

	if (mdir_config_get(ms->config, "access", "maildir") == NULL) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
		    "export --sync: [access] maildir is not set in mdir.conf");
		return 1;
	}
	if (folder == NULL) {
		if (!mdir_maildir_sync_all(ms->store, ms->config, &added, NULL, error))
			return 1;
	} else if ((f = mstore_folder(ms, folder, FALSE, error)) == NULL ||
	    !mdir_maildir_sync(ms->store, ms->config, f, &added, NULL, error)) {
		return 1;
	}
	printf("%u\n", added);
	return 0;
}

int
cmd_export(Mstore *ms, int argc, char **argv, GError **error)
{
	g_autofree char *maildir = NULL;
	g_autofree char *mbox = NULL;
	gboolean to_view = FALSE;
	GOptionEntry entries[] = {
		{ "maildir", 'm', 0, G_OPTION_ARG_FILENAME, &maildir,
		    "deliver into this Maildir (made if missing)", "DIR" },
		{ "mbox", 'b', 0, G_OPTION_ARG_FILENAME, &mbox, "append to this mbox (mboxrd)",
		    "FILE" },
		{ "sync", 's', 0, G_OPTION_ARG_NONE, &to_view,
		    "put mdird's Maildir view ([access] maildir) in step", NULL },
		{ NULL },
	};
	g_autoptr(MdirFolder) folder = NULL;
	g_autoptr(GPtrArray) paths = NULL;
	g_autoptr(GPtrArray) records = NULL;
	guint added = 0;

	if (!mstore_parse("export", "--maildir DIR | --mbox FILE FOLDER | --sync [FOLDER]",
	    "Export the messages of FOLDER's entries; print how many were added.", entries,
	    &argc, &argv, 0, 1, error))
		return 1;
	/* issue 11 spells it "--maildir --sync": GOption takes --sync as the DIR */
	if (g_strcmp0(maildir, "--sync") == 0) {
		g_clear_pointer(&maildir, g_free);
		to_view = TRUE;
	}
	if (to_view && mbox == NULL && maildir == NULL)
		return sync_view(ms, argc > 1 ? argv[1] : NULL, error);
	if (to_view || argc < 2) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, to_view ?
		    "export: --sync goes alone, with a folder or none" : "export: a folder is needed");
		return 1;
	}
	if ((maildir == NULL) == (mbox == NULL)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
		    "export: give one of --maildir DIR and --mbox FILE");
		return 1;
	}
	folder = mstore_folder(ms, argv[1], FALSE, error);
	if (folder == NULL || (paths = folder_messages(ms, folder, &records, error)) == NULL)
		return 1;
	if (maildir ? !to_maildir(maildir, paths, records, &added, error) :
	    !to_mbox(mbox, paths, records, error))
		return 1;
	printf("%u\n", maildir ? added : paths->len);
	return 0;
}
