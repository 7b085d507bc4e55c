/*
 * mstore: the shell's way into the content store and the folders
 * (DESIGN §4, mstore(1)).
 *
 * Each subcommand is a thin layer over libmdir, in a file of its own; this
 * file only finds the configuration and dispatches.  Output is line-oriented
 * and tab-separated so that cut, awk and xargs work on it.  mstore never
 * talks to mdird: what it changes, it changes through the same folder
 * functions, under the same locks, so versions and change logs stay right
 * whoever writes.
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
	{ "cp", cmd_cp, "file parts or entries into a folder" },
	{ "mv", cmd_mv, "move entries to another folder" },
	{ "rm", cmd_rm, "remove entries" },
	{ "fsck", cmd_fsck, "check (and repair) the store and the folders" },
	{ "gc", cmd_gc, "drop stored messages no folder refers to" },
	{ "export", cmd_export, "export a folder's messages to Maildir or mbox" },
};

static void
usage(FILE *out)
{
	fprintf(out, "usage: mstore [-c FILE] COMMAND [ARGS...]\n\ncommands:\n");
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\n'mstore COMMAND --help' describes each; see mstore(1).\n");
}

/* Global options stop at the first non-option: the subcommand. */
static int
global_options(int argc, char **argv, const char **conf)
{
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			*conf = argv[++i];
		else if (g_str_has_prefix(argv[i], "--config="))
			*conf = argv[i] + strlen("--config=");
		else if (strcmp(argv[i], "--version") == 0) {
			printf("mstore %s\n", MDIR_VERSION_STRING);
			exit(EX_OK);
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			exit(EX_OK);
		} else {
			fprintf(stderr, "mstore: unknown option '%s'\n", argv[i]);
			usage(stderr);
			exit(EX_USAGE);
		}
	}
	return i;
}

int
main(int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirConfig) config = NULL;
	g_autoptr(MdirStore) store = NULL;
	const char *conf = NULL;
	Mstore ms = { 0 };
	int first;
	int rc;

	g_set_prgname("mstore");
	mdir_log_open(MDIR_LOG_STDERR);
	first = global_options(argc, argv, &conf);
	if (first >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
		if (strcmp(argv[first], commands[i].name) != 0)
			continue;
		config = mdir_config_load(conf, &error);
		if (config == NULL)
			goto fail;
		for (const char *const *w = mdir_config_warnings(config); *w; w++)
			mdir_log(LOG_WARNING, "%s", *w);
		store = mdir_store_open_config(config, &error);
		if (store == NULL)
			goto fail;
		ms.config = config;
		ms.store = store;
		ms.lock_timeout_ms = mdir_config_get_duration_ms(config, "mdir", "lock_timeout");
		rc = commands[i].func(&ms, argc - first, argv + first, &error);
		if (error)
			goto fail;
		return rc;
	}
	fprintf(stderr, "mstore: unknown command '%s'\n", argv[first]);
	usage(stderr);
	return EX_USAGE;
fail:
	mdir_log(LOG_ERR, "%s", error->message);
	return mdir_exit_code(error, MDIR_EXIT_TOOL);
}
