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

/* When the message arrived (its record's received-at), else the file's time. */
static time_t
received_at(const char *path, const MdirRecord *rec)
{
	const char *at = rec ? mdir_record_get(rec, "received-at") : NULL;
	g_autoptr(GDateTime) dt = at ? g_date_time_new_from_iso8601(at, NULL) : NULL;
	struct stat st;

	if (dt)
		return (time_t)g_date_time_to_unix(dt);
	return stat(path, &st) == 0 ? st.st_mtime : time(NULL);
}

/*
 * A Maildir name made from the message itself (when it arrived, its hash),
 * so that exporting again finds it, in new/ or, once a reader has seen it,
 * in cur/ with flags after the colon.
 */
static char *
maildir_name(const char *path, const MdirRecord *rec, time_t t)
{
	const char *sha = rec ? mdir_record_get(rec, "sha256") : NULL;
	g_autofree char *sum = NULL;

	if (sha == NULL || strlen(sha) < 32)
		sha = sum = mdir_sha256_file(path, NULL);
	return g_strdup_printf("%lld.H%.32s.mdir", (long long)t, sha ? sha : "0");
}

/* The names of the messages a Maildir already holds, without their flags. */
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
			g_hash_table_add(names, g_strndup(n, strcspn(n, ":")));
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
		time_t t = received_at(paths->pdata[i], records->pdata[i]);
		g_autofree char *name = maildir_name(paths->pdata[i], records->pdata[i], t);
		g_autofree char *dst = g_build_filename(dir, "new", name, NULL);
		struct timeval tv[2] = { { t, 0 }, { t, 0 } };

		if (g_hash_table_contains(have, name))
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
	g_autofree char *date = mdir_time_format(received_at(path, rec), MDIR_TIME_MBOX);
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

int
cmd_export(Mstore *ms, int argc, char **argv, GError **error)
{
	g_autofree char *maildir = NULL;
	g_autofree char *mbox = NULL;
	GOptionEntry entries[] = {
		{ "maildir", 'm', 0, G_OPTION_ARG_FILENAME, &maildir,
		    "deliver into this Maildir (made if missing)", "DIR" },
		{ "mbox", 'b', 0, G_OPTION_ARG_FILENAME, &mbox, "append to this mbox (mboxrd)",
		    "FILE" },
		{ NULL },
	};
	g_autoptr(MdirFolder) folder = NULL;
	g_autoptr(GPtrArray) paths = NULL;
	g_autoptr(GPtrArray) records = NULL;
	guint added = 0;

	if (!mstore_parse("export", "--maildir DIR | --mbox FILE FOLDER", "Export the messages "
	    "of FOLDER's entries; print how many were added.", entries, &argc, &argv, 1, 1, error))
		return 1;
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
