/*
 * mstore: the shell's way into the content store and the folders
 * (DESIGN §4, mstore(1)).
 *
 * Each subcommand is a thin layer over libmdir, in a file of its own; this
 * file only reads the options before the command and dispatches (the
 * command's own options, then the configuration, in common.c).  Output is
 * line-oriented and tab-separated so that cut, awk and xargs work on it.
 * mstore never talks to mdird: what it changes, it changes through the
 * same folder functions, under the same locks, so versions and change logs
 * stay right whoever writes.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>

#include <glib.h>

#include "mdir.h"
#include "mstore.h"

static const struct {
	const char *name;
	MstoreCommand func;
	const char *summary;
} commands[] = {
	{ "init", cmd_init, "make the root's directories" },
	{ "put", cmd_put, "store a file; print its URL" },
	{ "cat", cmd_cat, "write a stored part or an entry to stdout" },
	{ "meta", cmd_meta, "print the header record of a part or an entry" },
	{ "ls", cmd_ls, "list a folder's entries" },
	{ "version", cmd_version, "print a folder's version" },
	{ "changes", cmd_changes, "print a folder's changes since a version" },
	{ "mkdir", cmd_mkdir, "make a folder" },
	{ "account", cmd_account, "make, alias, forward, disable, list accounts" },
	{ "cp", cmd_cp, "file parts or entries into a folder" },
	{ "mv", cmd_mv, "move entries to another folder" },
	{ "rm", cmd_rm, "remove entries" },
	{ "fsck", cmd_fsck, "check (and repair) the store and the folders" },
	{ "gc", cmd_gc, "drop stored messages no folder refers to" },
	{ "export", cmd_export, "export a folder's messages to Maildir or mbox" },
	{ "config", cmd_config, "print the configuration in effect (-n: what the file sets)" },
};

/*
 * -c, --help and --version before the command; the command's own options
 * (-c too) are parsed by mstore_parse(), which opens the configuration and
 * the store only once they are right.
 */
int
main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirOptions) opts = NULL;
	Mstore ms = { 0 };
	int rc;

	g_set_prgname("mstore");
	mdir_log_open(MDIR_LOG_STDERR);
	opts = mdir_options_new("mstore", "COMMAND [ARGS...]", "The shell's way into the "
	    "content store and the folders.", MDIR_OPTIONS_COMMAND);
	mdir_options_set_description(opts, "See mstore(1).");
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
		mdir_options_add_command(opts, commands[i].name, commands[i].summary);
	switch (mdir_options_parse(opts, &argc, &argv, 1, -1, &error)) {
	case 0:
		return EX_OK;
	case -1:
		goto fail;
	}
	ms.options = opts;
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		rc = mstore_run(&ms, commands[i].func, argc - 1, argv + 1, &error);
		mdir_store_free(ms.store);
		mdir_config_free(ms.config);
		if (error)
			goto fail;
		return rc;
	}
	g_set_error(&error, MDIR_ERROR, MDIR_ERROR_USAGE, "unknown command '%s' (see mstore "
	    "--help)", argv[1]);
fail:
	mdir_log(LOG_ERR, "%s", error->message);
	return mdir_exit_code(error, MDIR_EXIT_TOOL);
}
