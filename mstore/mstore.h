/*
 * mstore.h: what mstore's subcommands share.
 */
#ifndef MSTORE_H
#define MSTORE_H

#include <glib.h>

#include "mdir.h"

typedef struct {
	MdirOptions *options; /* the program's: -c before the command */
	MdirConfig *config;   /* NULL until mstore_parse() succeeds */
	MdirStore *store;     /* NULL until mstore_parse() succeeds */
	guint lock_timeout_ms;
} Mstore;

typedef int (*MstoreCommand)(Mstore *ms, int argc, char **argv, GError **error);

int cmd_put(Mstore *, int, char **, GError **);
int cmd_cat(Mstore *, int, char **, GError **);
int cmd_meta(Mstore *, int, char **, GError **);
int cmd_ls(Mstore *, int, char **, GError **);
int cmd_version(Mstore *, int, char **, GError **);
int cmd_changes(Mstore *, int, char **, GError **);
int cmd_cp(Mstore *, int, char **, GError **);
int cmd_mv(Mstore *, int, char **, GError **);
int cmd_rm(Mstore *, int, char **, GError **);
int cmd_mkdir(Mstore *, int, char **, GError **);
int cmd_init(Mstore *, int, char **, GError **);
int cmd_fsck(Mstore *, int, char **, GError **);
int cmd_gc(Mstore *, int, char **, GError **);
int cmd_export(Mstore *, int, char **, GError **);
int cmd_config(Mstore *, int, char **, GError **);
int cmd_account(Mstore *, int, char **, GError **);

/*
 * Warns of each local domain with accounts whose postmaster@ or abuse@
 * takes no mail, unless [receive] role_accounts is off; returns how many
 * are missing.
 */
guint mstore_account_check_domains(Mstore *ms);

/* Runs @func, the command mstore_parse() is then about. */
int mstore_run(Mstore *ms, MstoreCommand func, int argc, char **argv, GError **error);

/*
 * Parses a subcommand's options (its own, -c, --help, --version); on
 * --help or --version prints and exits 0.  Returns FALSE with a usage
 * error.  @min_args/@max_args bound what is left (max -1: no bound).
 * Only then opens the configuration and the store (ms->config, ms->store):
 * nothing is created before the command line is known to be right.
 */
gboolean mstore_parse(const char *cmd, const char *args, const char *summary,
    GOptionEntry *entries, int *argc, char ***argv, int min_args, int max_args,
    GError **error);

/*
 * As mstore_parse(), for a command that takes no arguments and needs the
 * configuration only: the store is not opened (nor made).
 */
gboolean mstore_parse_config(const char *cmd, const char *args, const char *summary,
    GOptionEntry *entries, int *argc, char ***argv, GError **error);

/* Opens a folder, with the configured lock time-out.  Transfer full. */
MdirFolder *mstore_folder(Mstore *ms, const char *path, gboolean create, GError **error);

/*
 * An entry argument "FOLDER/NAME": its folder (transfer full) and name
 * (transfer full).
 */
gboolean mstore_split_entry(Mstore *ms, const char *arg, MdirFolder **folder, char **name,
    GError **error);

/*
 * A source given as a URL or an entry: the file to read and its record
 * (transfer full both).
 */
gboolean mstore_source(Mstore *ms, const char *arg, char **path, MdirRecord **record,
    GError **error);

/* rm -rf, links not followed; TRUE if all went. */
gboolean mstore_remove_tree(const char *path);

/* Writes a whole file to stdout. */
gboolean mstore_copy_to_stdout(const char *path, GError **error);

#endif
