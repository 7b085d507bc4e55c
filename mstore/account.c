/*
 * account.c: "mstore account": the accounts as a user map (DESIGN §2),
 * over the layout mdir-receive reads -- a folder SMTP/Accounts/ADDRESS is
 * an account, a symbolic link beside it an alias, a .disabled file in it
 * refuses mail, "@domain" is the domain's catch-all -- so that nobody
 * makes links by hand.  A forward or a pipe is the account's own .rules
 * (mdir-rules(5)), written here with a first line saying so: nothing new
 * in the delivery path, and "list" reads the kind back from the rules
 * themselves.
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
/* the first line of a .rules this command wrote, and may write again */
#define MARK "# mstore account: "

typedef enum { KIND_NONE, KIND_FOLDER, KIND_ALIAS, KIND_FORWARD, KIND_PIPE, KIND_DISABLED } Kind;

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

static const char *const kind_names[] = { "none", "folder", "alias", "forward", "pipe",
	"disabled" };

/* An account's name from the command line: the normalised address. */
static char *
account_name(Mstore *ms, const char *arg, GError **error)
{
	g_autofree char *addr = mdir_address_normalize(arg);
	const char *delims = mdir_config_get(ms->config, "receive", "recipient_delimiter");
	const char *at = addr ? strrchr(addr, '@') : NULL;

	if (addr == NULL || at == NULL || at[1] == '\0') {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
		    "'%s': not an address (local@domain, or @domain for the catch-all)", arg);
		return NULL;
	}
	if (!mdir_name_is_safe(addr) || strchr(addr, '/') || strchr(at + 1, '@')) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "'%s': not a valid account name",
		    arg);
		return NULL;
	}
	/* "jo+x@...": mail for it would go to jo@... */
	for (const char *p = addr; delims && *delims && p < at; p++)
		if (strchr(delims, *p) && p != addr) {
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "'%s': holds the recipient "
			    "delimiter '%c' ([receive] recipient_delimiter): mail for it goes to "
			    "the address before it", arg, *p);
			return NULL;
		}
	if (!mdir_domain_is_local(ms->config, at + 1)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
		    "'%s': %s is not one of [receive] local_domains", arg, at + 1);
		return NULL;
	}
	return g_steal_pointer(&addr);
}

static char *
account_path(Mstore *ms, const char *name)
{
	return g_build_filename(mdir_store_root(ms->store), ACCOUNTS, name, NULL);
}

/* The .rules text of a forward or a pipe account, if this command wrote it. */
static gboolean
ours(const char *rules)
{
	g_autofree char *text = NULL;

	if (!g_file_get_contents(rules, &text, NULL, NULL))
		return TRUE; /* none: ours to write */
	return g_str_has_prefix(text, MARK);
}

/*
 * What @name is, and its detail (the alias's target, the forward's
 * address, the pipe's command line): transfer full.
 */
static Kind
kind_of(Mstore *ms, const char *name, char **detail)
{
	g_autofree char *path = account_path(ms, name);
	g_autofree char *rules_path = g_build_filename(path, ".rules", NULL);
	g_autofree char *off = g_build_filename(path, ".disabled", NULL);
	g_autoptr(MdirRules) rules = NULL;
	g_autoptr(MdirRecord) empty = NULL;
	g_autoptr(GPtrArray) actions = NULL;
	gboolean keep;
	GStatBuf st;

	*detail = NULL;
	if (g_lstat(path, &st) != 0)
		return KIND_NONE;
	if (S_ISLNK(st.st_mode)) {
		*detail = g_file_read_link(path, NULL);
		return KIND_ALIAS;
	}
	if (!S_ISDIR(st.st_mode))
		return KIND_NONE;
	if (g_file_test(off, G_FILE_TEST_EXISTS))
		return KIND_DISABLED;
	rules = mdir_rules_load(rules_path, st.st_uid, NULL);
	if (rules == NULL)
		return KIND_FOLDER;
	/* what the rules do with any entry: a rule with no test */
	empty = mdir_record_new();
	actions = mdir_rules_eval(rules, empty, &keep);
	for (guint i = 0; i < actions->len; i++) {
		const MdirAction *a = actions->pdata[i];

		if (a->kind == MDIR_ACTION_FORWARD) {
			*detail = g_strconcat(a->arg, keep ? " (and kept)" : "", NULL);
			return KIND_FORWARD;
		}
		if (a->kind == MDIR_ACTION_PIPE) {
			g_autofree char *cmd = g_strjoinv(" ", a->argv);

			*detail = g_strconcat(cmd, keep ? " (and kept)" : "", NULL);
			return KIND_PIPE;
		}
	}
	return KIND_FOLDER;
}

/* A word of the rules language: a quoted string (mdir-rules(5)). */
static void
append_quoted(GString *s, const char *word)
{
	g_string_append_c(s, '"');
	for (const char *p = word; *p; p++) {
		if (*p == '"' || *p == '\\')
			g_string_append_c(s, '\\');
		g_string_append_c(s, *p);
	}
	g_string_append_c(s, '"');
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

static gboolean
refuse_existing(Mstore *ms, const char *name, GError **error)
{
	g_autofree char *detail = NULL;
	Kind k = kind_of(ms, name, &detail);

	if (k == KIND_NONE)
		return TRUE;
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_EXISTS, "%s: exists already (%s%s%s)", name,
	    kind_names[k], detail ? " " : "", detail ? detail : "");
	return FALSE;
}

static int
account_add(Mstore *ms, int argc, char **argv, GError **error)
{
	g_autofree char *name = NULL;
	g_autofree char *folder = NULL;
	g_autoptr(MdirFolder) f = NULL;

	if (!mstore_parse("account add", "ADDRESS", "Make an account: a folder that takes mail.",
	    NULL, &argc, &argv, 1, 1, error) ||
	    (name = account_name(ms, argv[1], error)) == NULL || !refuse_existing(ms, name, error))
		return 1;
	folder = g_build_filename(ACCOUNTS, name, NULL);
	if ((f = mstore_folder(ms, folder, TRUE, error)) == NULL)
		return 1;
	mstore_account_check_domains(ms);
	return 0;
}

static int
account_alias(Mstore *ms, int argc, char **argv, GError **error)
{
	g_autofree char *name = NULL;
	g_autofree char *target = NULL;
	g_autofree char *detail = NULL;
	g_autofree char *dir = NULL;
	Kind k;
	int fd;

	if (!mstore_parse("account alias", "ADDRESS TARGET", "Deliver ADDRESS's mail to the "
	    "account TARGET.", NULL, &argc, &argv, 2, 2, error) ||
	    (name = account_name(ms, argv[1], error)) == NULL ||
	    (target = account_name(ms, argv[2], error)) == NULL ||
	    !refuse_existing(ms, name, error))
		return 1;
	k = kind_of(ms, target, &detail);
	if (k == KIND_NONE || strcmp(name, target) == 0) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_NOT_FOUND, "%s: %s", target,
		    k == KIND_NONE ? "no such account (mstore account add it first)" :
				     "an alias of itself");
		return 1;
	}
	dir = g_build_filename(mdir_store_root(ms->store), ACCOUNTS, NULL);
	if ((fd = mdir_dir_open_nofollow(dir, FALSE, error)) < 0)
		return 1;
	/* beside it: the link's text is the target's name, inside the root */
	if (symlinkat(target, fd, name) != 0) {
		int errsv = errno;
		g_autofree char *path = account_path(ms, name);

		close(fd);
		set_errno(error, errsv, path);
		return 1;
	}
	close(fd);
	mdir_fsync_dir(dir, NULL);
	mstore_account_check_domains(ms);
	return 0;
}

/* Writes @name's .rules (made if need be) with @rule, unless someone else's. */
static int
write_rules(Mstore *ms, const char *name, const char *verb, const char *rule, GError **error)
{
	g_autofree char *detail = NULL;
	g_autofree char *folder = g_build_filename(ACCOUNTS, name, NULL);
	g_autofree char *rules_path = NULL;
	g_autofree char *text = NULL;
	g_autoptr(MdirFolder) f = NULL;
	g_autoptr(MdirRules) check = NULL;
	Kind k = kind_of(ms, name, &detail);

	if (k == KIND_ALIAS) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_EXISTS, "%s: an alias of %s (mstore "
		    "account rm it first)", name, detail);
		return 1;
	}
	text = g_strdup_printf(MARK "%s, written by mstore(1); edit it with mstore account\n"
			       "%s\n", verb, rule);
	/* a mistake is the command line's, said before anything is made */
	if ((check = mdir_rules_parse(text, "the rule", TRUE, error)) == NULL)
		return 1;
	if ((f = mstore_folder(ms, folder, TRUE, error)) == NULL)
		return 1;
	rules_path = g_build_filename(mdir_folder_path(f), ".rules", NULL);
	if (!ours(rules_path)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_EXISTS, "%s: has rules of its own, not "
		    "written by mstore account: add the %s to them by hand (mdir-rules(5))",
		    rules_path, verb);
		return 1;
	}
	/* whole or not at all: mdird may read it at any time */
	if (!mdir_file_write_durable(rules_path, text, strlen(text), error))
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
	g_autoptr(GString) rule = g_string_new("forward ");

	if (!mstore_parse("account forward", "ADDRESS TO", "Send ADDRESS's mail on to TO "
	    "(through the outbox).", keep_entries, &argc, &argv, 2, 2, error) ||
	    (name = account_name(ms, argv[1], error)) == NULL)
		return 1;
	append_quoted(rule, argv[2]);
	if (!keep_too)
		g_string_append(rule, "; drop");
	return write_rules(ms, name, "forward", rule->str, error);
}

static int
account_pipe(Mstore *ms, int argc, char **argv, GError **error)
{
	g_auto(GStrv) allowed = NULL;
	g_autofree char *name = NULL;
	g_autoptr(GString) rule = g_string_new("pipe");

	if (!mstore_parse("account pipe", "ADDRESS PROGRAM [ARG...]", "Give ADDRESS's mail to "
	    "PROGRAM, one part a run.", keep_entries, &argc, &argv, 2, -1, error) ||
	    (name = account_name(ms, argv[1], error)) == NULL)
		return 1;
	/* "--" before a program's own options is GOption's to keep */
	if (strcmp(argv[2], "--") == 0 && argc > 3) {
		argv++;
		argc--;
	}
	for (int i = 2; i < argc; i++) {
		g_string_append_c(rule, ' ');
		append_quoted(rule, argv[i]);
	}
	if (!keep_too)
		g_string_append(rule, "; drop");
	allowed = mdir_config_get_list(ms->config, "rules", "programs");
	if (!g_strv_contains((const char *const *)allowed, argv[2]))
		mdir_log(LOG_WARNING, "%s is not in [rules] programs: mdird will not run it until "
		    "it is (mdir.conf(5))", argv[2]);
	return write_rules(ms, name, "pipe", rule->str, error);
}

/* An account that is a folder (not an alias), for enable and disable. */
static char *
folder_account(Mstore *ms, int *argc, char ***argv, const char *verb, const char *summary,
    GError **error)
{
	g_autofree char *cmd = g_strconcat("account ", verb, NULL);
	g_autofree char *name = NULL;
	g_autofree char *detail = NULL;
	Kind k;

	if (!mstore_parse(cmd, "ADDRESS", summary, NULL, argc, argv, 1, 1, error) ||
	    (name = account_name(ms, (*argv)[1], error)) == NULL)
		return NULL;
	k = kind_of(ms, name, &detail);
	if (k == KIND_NONE || k == KIND_ALIAS) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_NOT_FOUND, "%s: %s", name,
		    k == KIND_NONE ? "no such account" : "an alias: its target is the account");
		return NULL;
	}
	return account_path(ms, name);
}

static int
account_disable(Mstore *ms, int argc, char **argv, GError **error)
{
	g_autofree char *path = folder_account(ms, &argc, &argv, "disable",
	    "Refuse ADDRESS's mail, keeping what it holds.", error);
	g_autofree char *off = NULL;

	if (path == NULL)
		return 1;
	off = g_build_filename(path, ".disabled", NULL);
	return mdir_file_write_durable(off, "", 0, error) ? 0 : 1;
}

static int
account_enable(Mstore *ms, int argc, char **argv, GError **error)
{
	g_autofree char *path = folder_account(ms, &argc, &argv, "enable",
	    "Take ADDRESS's mail again.", error);
	g_autofree char *off = NULL;

	if (path == NULL)
		return 1;
	off = g_build_filename(path, ".disabled", NULL);
	if (g_unlink(off) != 0 && errno != ENOENT)
		return set_errno(error, errno, off) ? 0 : 1;
	mdir_fsync_dir(path, NULL);
	return 0;
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
	Kind k;
	guint n;

	if (!mstore_parse("account rm", "ADDRESS", "Remove an alias, or an account that holds "
	    "nothing.", NULL, &argc, &argv, 1, 1, error) ||
	    (name = account_name(ms, argv[1], error)) == NULL)
		return 1;
	path = account_path(ms, name);
	if ((k = kind_of(ms, name, &detail)) == KIND_NONE) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_NOT_FOUND, "%s: no such account", name);
		return 1;
	}
	if (k == KIND_ALIAS) {
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
		Kind k;

		/* one line an address: a name with a tab or a line end (any
		 * group member may make one) would print lines of its own */
		if (!printable(name)) {
			g_autofree char *shown = g_strescape(name, NULL);

			mdir_log(LOG_WARNING, "%s/%s: a name with control characters, not an "
			    "address: not listed", ACCOUNTS, shown);
			continue;
		}
		k = kind_of(ms, name, &detail);
		for (char *p = detail; p && *p; p++)
			if ((guchar)*p < 0x20 || *p == 0x7f)
				*p = '?';
		if (k != KIND_NONE)
			printf("%s\t%s\t%s\n", name, kind_names[k], detail ? detail : "");
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
