/*
 * common.c: option parsing and argument resolution shared by mstore's
 * subcommands.  An argument naming content is either a URL
 * (mstore:<id>/<part>) or an entry (FOLDER/NAME, relative to the root or
 * absolute inside it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"
#include "mstore.h"

/*
 * The command being run: mstore_parse() has no Mstore argument (every
 * command calls it first thing), and mstore runs one command per process.
 */
static Mstore *running;

int
mstore_run(Mstore *ms, MstoreCommand func, int argc, char **argv, GError **error)
{
	int rc;

	running = ms;
	rc = func(ms, argc, argv, error);
	running = NULL;
	return rc;
}

static gboolean
open_store(Mstore *ms, GError **error)
{
	ms->config = mdir_config_load(mdir_options_config(ms->options), error);
	if (ms->config == NULL)
		return FALSE;
	for (const char *const *w = mdir_config_warnings(ms->config); *w; w++)
		mdir_log(LOG_WARNING, "%s", *w);
	ms->store = mdir_store_open_config(ms->config, error);
	if (ms->store == NULL)
		return FALSE;
	ms->lock_timeout_ms = mdir_config_get_duration_ms(ms->config, "mdir", "lock_timeout");
	return TRUE;
}

static gboolean
parse_args(const char *cmd, const char *args, const char *summary, GOptionEntry *entries,
    int *argc, char ***argv, int min_args, int max_args, GError **error)
{
	g_autoptr(MdirOptions) opts = NULL;

	g_return_val_if_fail(running != NULL, FALSE);
	opts = mdir_options_new_command(running->options, cmd, args, summary);
	if (entries)
		mdir_options_add(opts, entries);
	/* argv[0] is the command's name, as GOption wants a program's */
	switch (mdir_options_parse(opts, argc, argv, min_args, max_args, error)) {
	case 0:
		exit(EX_OK);
	case -1:
		return FALSE;
	}
	return TRUE;
}

gboolean
mstore_parse(const char *cmd, const char *args, const char *summary, GOptionEntry *entries,
    int *argc, char ***argv, int min_args, int max_args, GError **error)
{
	return parse_args(cmd, args, summary, entries, argc, argv, min_args, max_args, error) &&
	    open_store(running, error);
}

gboolean
mstore_parse_config(const char *cmd, const char *args, const char *summary,
    GOptionEntry *entries, int *argc, char ***argv, GError **error)
{
	if (!parse_args(cmd, args, summary, entries, argc, argv, 0, 0, error))
		return FALSE;
	running->config = mdir_config_load(mdir_options_config(running->options), error);
	return running->config != NULL;
}

MdirFolder *
mstore_folder(Mstore *ms, const char *path, gboolean create, GError **error)
{
	MdirFolder *f = mdir_folder_open(ms->store, path, create ? MDIR_FOLDER_CREATE : 0,
	    error);

	if (f && ms->lock_timeout_ms > 0)
		mdir_folder_set_lock_timeout(f, ms->lock_timeout_ms);
	return f;
}

gboolean
mstore_split_entry(Mstore *ms, const char *arg, MdirFolder **folder, char **name,
    GError **error)
{
	g_autofree char *dir = g_path_get_dirname(arg);
	g_autofree char *base = g_path_get_basename(arg);
	g_autofree char *epath = NULL;

	if (strcmp(dir, ".") == 0 || base[0] == '.' || base[0] == '/') {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
		    "%s: not an entry (FOLDER/NAME) nor a URL", arg);
		return FALSE;
	}
	*folder = mstore_folder(ms, dir, FALSE, error);
	if (*folder == NULL)
		return FALSE;
	epath = mdir_folder_entry_path(*folder, base);
	if (!g_file_test(epath, G_FILE_TEST_IS_REGULAR)) {
		g_clear_pointer(folder, mdir_folder_free);
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_NOT_FOUND, "%s: no such entry", arg);
		return FALSE;
	}
	*name = g_steal_pointer(&base);
	return TRUE;
}

gboolean
mstore_source(Mstore *ms, const char *arg, char **path, MdirRecord **record, GError **error)
{
	g_autoptr(MdirFolder) folder = NULL;
	g_autofree char *name = NULL;

	if (g_str_has_prefix(arg, "mstore:")) {
		*path = mdir_store_part_path(ms->store, arg, error);
		if (*path == NULL)
			return FALSE;
		*record = mdir_store_load_record(ms->store, arg, error);
		if (*record == NULL) {
			g_clear_pointer(path, g_free);
			return FALSE;
		}
		return TRUE;
	}
	if (!mstore_split_entry(ms, arg, &folder, &name, error))
		return FALSE;
	*record = mdir_folder_load_record(folder, name, error);
	if (*record == NULL)
		return FALSE;
	*path = mdir_folder_entry_path(folder, name);
	return TRUE;
}

gboolean
mstore_copy_to_stdout(const char *path, GError **error)
{
	char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", path,
		    g_strerror(errno));
		return FALSE;
	}
	fflush(stdout);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		const char *p = buf;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		while (n > 0) {
			ssize_t w = write(STDOUT_FILENO, p, n);

			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
				    "stdout: %s", g_strerror(errno));
				close(fd);
				return FALSE;
			}
			p += w;
			n -= w;
		}
	}
	close(fd);
	return TRUE;
fail:
	g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", path,
	    g_strerror(errno));
	close(fd);
	return FALSE;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

gboolean
mstore_remove_tree(const char *path)
{
	return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0;
}
