/*
 * account.c: "mstore account": the accounts as a user map (DESIGN §2),
 * the command line of libmdir's mdir_account_*() (accounts.c there, which
 * mdir-web calls too): a folder SMTP/Accounts/ADDRESS is an account, a
 * symbolic link beside it an alias, a .disabled file in it refuses mail,
 * "@domain" is the domain's catch-all, a forward or a pipe the account's
 * own .rules.  Here: the arguments, the warnings about postmaster@ and
 * abuse@, "rm" and "list".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "mdir.h"
#include "mstore.h"

#define ACCOUNTS "SMTP/Accounts"

/* An account's name from the command line: the normalised address. */
static char *
account_name(Mstore *ms, const char *arg, GError **error)
{
	return mdir_account_name(ms->config, arg, error);
}

static char *
account_path(Mstore *ms, const char *name)
{
	return g_build_filename(mdir_store_root(ms->store), ACCOUNTS, name, NULL);
}

static gboolean
set_errno(GError **error, int errsv, const char *path)
{
	g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errsv), "%s: %s", path,
	    g_strerror(errsv));
	return FALSE;
}

/* No control character (a tab, a line end) in @s. */
static gboolean
printable(const char *s)
{
	for (const guchar *p = (const guchar *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return FALSE;
	return TRUE;
}

/* For g_ptr_array_sort(), which hands pointers to the elements. */
static gint
by_name(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The domains to check: those the accounts are in, when local (a domain
 * without accounts takes no mail here anyway).
 */
static GPtrArray *
domains(Mstore *ms)
{
	g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(g_free);
	g_autofree char *dir = g_build_filename(mdir_store_root(ms->store), ACCOUNTS, NULL);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *n;

	while (d && (n = g_dir_read_name(d)) != NULL) {
		const char *at = strrchr(n, '@');

		if (n[0] == '.' || at == NULL || at[1] == '\0' ||
		    !mdir_domain_is_local(ms->config, at + 1) ||
		    g_ptr_array_find_with_equal_func(out, at + 1, g_str_equal, NULL))
			continue;
		g_ptr_array_add(out, g_strdup(at + 1));
	}
	g_ptr_array_sort(out, by_name);
	return g_steal_pointer(&out);
}

guint
mstore_account_check_domains(Mstore *ms)
{
	static const char *const roles[] = { "postmaster", "abuse" };
	static const char *const why[] = { "RFC 5321 4.5.1", "RFC 2142" };
	g_autoptr(GPtrArray) ds = NULL;
	guint missing = 0;

	if (!mdir_config_get_bool(ms->config, "receive", "role_accounts"))
		return 0;
	ds = domains(ms);
	for (guint i = 0; i < ds->len; i++) {
		for (gsize r = 0; r < G_N_ELEMENTS(roles); r++) {
			g_autofree char *addr = g_strconcat(roles[r], "@", ds->pdata[i], NULL);
			g_autoptr(GError) e = NULL;
			g_autoptr(MdirFolder) f = mdir_account_open(ms->store, ms->config, addr, NULL,
			    &e);

			if (f || !mdir_error_is_refusal(e))
				continue;
			missing++;
			mdir_log(LOG_WARNING, "%s; every domain needs one (%s)", e->message, why[r]);
		}
	}
	return missing;
}

static int
account_add(Mstore *ms, int argc, char **argv, GError **error)
{
	g_autofree char *name = NULL;

	if (!mstore_parse("account add", "ADDRESS", "Make an account: a folder that takes mail.",
	    NULL, &argc, &argv, 1, 1, error) ||
	    (name = account_name(ms, argv[1], error)) == NULL ||
	    !mdir_account_add(ms->store, name, ms->lock_timeout_ms, error))
		return 1;
	mstore_account_check_domains(ms);
	return 0;
}

static int
account_alias(Mstore *ms, int argc, char **argv, GError **error)
{
	g_autofree char *name = NULL;
	g_autofree char *target = NULL;

	if (!mstore_parse("account alias", "ADDRESS TARGET", "Deliver ADDRESS's mail to the "
	    "account TARGET.", NULL, &argc, &argv, 2, 2, error) ||
	    (name = account_name(ms, argv[1], error)) == NULL ||
	    (target = account_name(ms, argv[2], error)) == NULL ||
	    !mdir_account_alias(ms->store, name, target, error))
		return 1;
	mstore_account_check_domains(ms);
	return 0;
}

static gboolean keep_too;

static GOptionEntry keep_entries[] = {
	{ "keep", 'k', 0, G_OPTION_ARG_NONE, &keep_too, "keep the mail in the account too", NULL },
	{ NULL, 0, 0, 0, NULL, NULL, NULL },
};

static int
account_forward(Mstore *ms, int argc, char **argv, GError **error)
{
	g_autofree char *name = NULL;

	if (!mstore_parse("account forward", "ADDRESS TO", "Send ADDRESS's mail on to TO "
	    "(through the outbox).", keep_entries, &argc, &argv, 2, 2, error) ||
	    (name = account_name(ms, argv[1], error)) == NULL ||
	    !mdir_account_forward(ms->store, name, argv[2], keep_too, error))
		return 1;
	mstore_account_check_domains(ms);
	return 0;
}

static int
account_pipe(Mstore *ms, int argc, char **argv, GError **error)
{
	g_auto(GStrv) allowed = NULL;
	g_autofree char *name = NULL;

	if (!mstore_parse("account pipe", "ADDRESS PROGRAM [ARG...]", "Give ADDRESS's mail to "
	    "PROGRAM, one part a run.", keep_entries, &argc, &argv, 2, -1, error) ||
	    (name = account_name(ms, argv[1], error)) == NULL)
		return 1;
	/* "--" before a program's own options is GOption's to keep */
	if (strcmp(argv[2], "--") == 0 && argc > 3) {
		argv++;
		argc--;
	}
	allowed = mdir_config_get_list(ms->config, "rules", "programs");
	if (!g_strv_contains((const char *const *)allowed, argv[2]))
		mdir_log(LOG_WARNING, "%s is not in [rules] programs: mdird will not run it until "
		    "it is (mdir.conf(5))", argv[2]);
	if (!mdir_account_pipe(ms->store, name, (const char *const *)argv + 2, keep_too, error))
		return 1;
	mstore_account_check_domains(ms);
	return 0;
}

/* disable or enable ADDRESS */
static int
account_switch(Mstore *ms, int argc, char **argv, const char *verb, const char *summary,
    gboolean disabled, GError **error)
{
	g_autofree char *cmd = g_strconcat("account ", verb, NULL);
	g_autofree char *name = NULL;

	if (!mstore_parse(cmd, "ADDRESS", summary, NULL, &argc, &argv, 1, 1, error) ||
	    (name = account_name(ms, argv[1], error)) == NULL)
		return 1;
	return mdir_account_set_disabled(ms->store, name, disabled, error) ? 0 : 1;
}

static int
account_disable(Mstore *ms, int argc, char **argv, GError **error)
{
	return account_switch(ms, argc, argv, "disable",
	    "Refuse ADDRESS's mail, keeping what it holds.", TRUE, error);
}

static int
account_enable(Mstore *ms, int argc, char **argv, GError **error)
{
	return account_switch(ms, argc, argv, "enable", "Take ADDRESS's mail again.", FALSE,
	    error);
}

/* The aliases that lead to @name, directly. */
static GPtrArray *
aliases_of(Mstore *ms, const char *name)
{
	g_autofree char *dir = g_build_filename(mdir_store_root(ms->store), ACCOUNTS, NULL);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	const char *n;

	/* only the links' texts: kind_of() would load every account's rules */
	while (d && (n = g_dir_read_name(d)) != NULL) {
		g_autofree char *path = NULL;
		g_autofree char *target = NULL;

		if (n[0] == '.')
			continue;
		path = g_build_filename(dir, n, NULL);
		target = g_file_read_link(path, NULL); /* NULL: not a link */
		if (g_strcmp0(target, name) == 0)
			g_ptr_array_add(out, g_strdup(n));
	}
	return out;
}

/* What a folder holds besides its own dot files: entries and subfolders. */
static guint
held(const char *path)
{
	g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
	const char *n;
	guint count = 0;

	while (d && (n = g_dir_read_name(d)) != NULL)
		if (n[0] != '.')
			count++;
	return count;
}

static int
account_rm(Mstore *ms, int argc, char **argv, GError **error)
{
	g_autofree char *name = NULL;
	g_autofree char *detail = NULL;
	g_autofree char *path = NULL;
	g_autoptr(GPtrArray) aliases = NULL;
	MdirAccountKind k;
	guint n;

	if (!mstore_parse("account rm", "ADDRESS", "Remove an alias, or an account that holds "
	    "nothing.", NULL, &argc, &argv, 1, 1, error) ||
	    (name = account_name(ms, argv[1], error)) == NULL)
		return 1;
	path = account_path(ms, name);
	if ((k = mdir_account_kind(ms->store, name, &detail)) == MDIR_ACCOUNT_NONE) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_NOT_FOUND, "%s: no such account", name);
		return 1;
	}
	if (k == MDIR_ACCOUNT_ALIAS) {
		if (g_unlink(path) != 0)
			return set_errno(error, errno, path) ? 0 : 1;
		return 0;
	}
	/* mail is never lost by a command that only meant to remove an address */
	if ((n = held(path)) > 0) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_EXISTS, "%s holds %u entr%s or folders: "
		    "move them (mstore mv) or remove them (mstore rm) first", name, n,
		    n == 1 ? "y" : "ies");
		return 1;
	}
	aliases = aliases_of(ms, name);
	if (aliases->len > 0) {
		g_autofree char *list = NULL;

		g_ptr_array_add(aliases, NULL);
		list = g_strjoinv(", ", (char **)aliases->pdata);
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_EXISTS, "%s: aliases lead to it: %s "
		    "(mstore account rm them first)", name, list);
		return 1;
	}
	if (!mstore_remove_tree(path)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_FAILED, "%s: not all removed", path);
		return 1;
	}
	return 0;
}

static int
account_list(Mstore *ms, int argc, char **argv, GError **error)
{
	g_autofree char *dir = NULL;
	g_autoptr(GDir) d = NULL;
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const char *n;

	if (!mstore_parse("account list", "", "Print each address, its kind and what it leads "
	    "to, tab-separated.", NULL, &argc, &argv, 0, 0, error))
		return 1;
	dir = g_build_filename(mdir_store_root(ms->store), ACCOUNTS, NULL);
	if ((d = g_dir_open(dir, 0, NULL)) == NULL)
		return 0; /* no accounts yet */
	while ((n = g_dir_read_name(d)) != NULL)
		if (n[0] != '.')
			g_ptr_array_add(names, g_strdup(n));
	g_ptr_array_sort(names, by_name);
	for (guint i = 0; i < names->len; i++) {
		g_autofree char *detail = NULL;
		const char *name = names->pdata[i];
		MdirAccountKind k;

		/* one line an address: a name with a tab or a line end (any
		 * group member may make one) would print lines of its own */
		if (!printable(name)) {
			g_autofree char *shown = g_strescape(name, NULL);

			mdir_log(LOG_WARNING, "%s/%s: a name with control characters, not an "
			    "address: not listed", ACCOUNTS, shown);
			continue;
		}
		k = mdir_account_kind(ms->store, name, &detail);
		for (char *p = detail; p && *p; p++)
			if ((guchar)*p < 0x20 || *p == 0x7f)
				*p = '?';
		if (k != MDIR_ACCOUNT_NONE)
			printf("%s\t%s\t%s\n", name, mdir_account_kind_name(k), detail ? detail : "");
	}
	return 0;
}

static const struct {
	const char *name;
	MstoreCommand func;
	const char *summary;
} verbs[] = {
	{ "add", account_add, "make an account" },
	{ "alias", account_alias, "deliver an address's mail to another account" },
	{ "forward", account_forward, "send an address's mail on to another address" },
	{ "pipe", account_pipe, "give an address's mail to a program" },
	{ "disable", account_disable, "refuse an account's mail" },
	{ "enable", account_enable, "take an account's mail again" },
	{ "rm", account_rm, "remove an alias, or an account that holds nothing" },
	{ "list", account_list, "print each address and its kind" },
};

int
cmd_account(Mstore *ms, int argc, char **argv, GError **error)
{
	g_autoptr(GString) names = g_string_new(NULL);

	for (gsize i = 0; argc > 1 && i < G_N_ELEMENTS(verbs); i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			return verbs[i].func(ms, argc - 1, argv + 1, error);
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("Usage:\n  mstore account VERB [OPTION...] ARGS\n\nVerbs:\n");
		for (gsize i = 0; i < G_N_ELEMENTS(verbs); i++)
			printf("  %-8s %s\n", verbs[i].name, verbs[i].summary);
		printf("\nSee mstore(1); mstore account VERB --help for a verb's own.\n");
		return 0;
	}
	for (gsize i = 0; i < G_N_ELEMENTS(verbs); i++)
		g_string_append_printf(names, "%s%s", i ? ", " : "", verbs[i].name);
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "account: %s%s%s (one of %s)",
	    argc > 1 ? "unknown verb '" : "a verb is needed", argc > 1 ? argv[1] : "",
	    argc > 1 ? "'" : "", names->str);
	return 1;
}
