/*
 * accounts.c: the accounts as a user map (DESIGN §2), for "mstore
 * account" and mdir-web alike, over the layout mdir-receive reads -- a
 * folder SMTP/Accounts/ADDRESS is an account, a symbolic link beside it
 * an alias, a .disabled file in it refuses mail, "@domain" is the
 * domain's catch-all -- so that nobody makes links by hand.  A forward or
 * a pipe is the account's own .rules (mdir-rules(5)), written here with a
 * first line saying so: nothing new in the delivery path, and the kind is
 * read back from the rules themselves.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "mdir.h"
#include "private.h"

#define ACCOUNTS "SMTP/Accounts"
/* the first line of a .rules these functions wrote, and may write again */
#define MARK "# mstore account: "

static const char *const kind_names[] = { "none", "folder", "alias", "forward", "pipe",
	"disabled" };

const char *
mdir_account_kind_name(MdirAccountKind kind)
{
	g_return_val_if_fail((gsize)kind < G_N_ELEMENTS(kind_names), "none");
	return kind_names[kind];
}

static gboolean
set_errno(GError **error, int errsv, const char *path)
{
	g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errsv), "%s: %s", path,
	    g_strerror(errsv));
	return FALSE;
}

char *
mdir_account_name(const MdirConfig *config, const char *arg, GError **error)
{
	g_autofree char *addr = mdir_address_normalize(arg);
	const char *delims = mdir_config_get(config, "receive", "recipient_delimiter");
	const char *at = addr ? strrchr(addr, '@') : NULL;

	g_return_val_if_fail(arg != NULL, NULL);
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
	if (!mdir_domain_is_local(config, at + 1)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
		    "'%s': %s is not one of [receive] local_domains", arg, at + 1);
		return NULL;
	}
	return g_steal_pointer(&addr);
}

static char *
account_path(MdirStore *store, const char *name)
{
	return g_build_filename(mdir_store_root(store), ACCOUNTS, name, NULL);
}

/* Whether the .rules at @rules are ours to write (or there are none). */
/*
 * Whether the account folder @f's .rules are ours to write (or there are
 * none): read through the folder's descriptor, a link never followed.
 */
static gboolean
ours(MdirFolder *f, const char *label, GError **error)
{
	g_autoptr(GError) e = NULL;
	g_autofree char *text = mdir_read_at(mdir_folder_fd(f), ".rules", label, NULL, &e);

	if (text == NULL && g_error_matches(e, G_FILE_ERROR, G_FILE_ERROR_NOENT))
		return TRUE;
	if (text == NULL) {
		g_propagate_error(error, g_steal_pointer(&e));
		return FALSE;
	}
	if (!g_str_has_prefix(text, MARK)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_EXISTS, "%s: has rules of its own, not "
		    "written by mstore account: add yours to them by hand (mdir-rules(5))", label);
		return FALSE;
	}
	return TRUE;
}

MdirAccountKind
mdir_account_kind(MdirStore *store, const char *name, char **detail)
{
	g_autofree char *path = account_path(store, name);
	g_autofree char *rules_path = g_build_filename(path, ".rules", NULL);
	g_autofree char *off = g_build_filename(path, ".disabled", NULL);
	g_autoptr(MdirRules) rules = NULL;
	g_autoptr(MdirRecord) empty = NULL;
	g_autoptr(GPtrArray) actions = NULL;
	gboolean keep;
	GStatBuf st;

	*detail = NULL;
	if (g_lstat(path, &st) != 0)
		return MDIR_ACCOUNT_NONE;
	if (S_ISLNK(st.st_mode)) {
		*detail = g_file_read_link(path, NULL);
		return MDIR_ACCOUNT_ALIAS;
	}
	if (!S_ISDIR(st.st_mode))
		return MDIR_ACCOUNT_NONE;
	if (g_file_test(off, G_FILE_TEST_EXISTS))
		return MDIR_ACCOUNT_DISABLED;
	rules = mdir_rules_load(rules_path, st.st_uid, NULL);
	if (rules == NULL)
		return MDIR_ACCOUNT_FOLDER;
	/* what the rules do with any entry: a rule with no test */
	empty = mdir_record_new();
	actions = mdir_rules_eval(rules, empty, &keep);
	for (guint i = 0; i < actions->len; i++) {
		const MdirAction *a = actions->pdata[i];

		if (a->kind == MDIR_ACTION_FORWARD) {
			*detail = g_strconcat(a->arg, keep ? " (and kept)" : "", NULL);
			return MDIR_ACCOUNT_FORWARD;
		}
		if (a->kind == MDIR_ACTION_PIPE) {
			g_autofree char *cmd = g_strjoinv(" ", a->argv);

			*detail = g_strconcat(cmd, keep ? " (and kept)" : "", NULL);
			return MDIR_ACCOUNT_PIPE;
		}
	}
	return MDIR_ACCOUNT_FOLDER;
}

static gboolean
refuse_existing(MdirStore *store, const char *name, GError **error)
{
	g_autofree char *detail = NULL;
	MdirAccountKind k = mdir_account_kind(store, name, &detail);

	if (k == MDIR_ACCOUNT_NONE)
		return TRUE;
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_EXISTS, "%s: exists already (%s%s%s)", name,
	    kind_names[k], detail ? " " : "", detail ? detail : "");
	return FALSE;
}

static MdirFolder *
account_folder(MdirStore *store, const char *name, guint lock_timeout_ms, GError **error)
{
	g_autofree char *folder = g_build_filename(ACCOUNTS, name, NULL);
	MdirFolder *f = mdir_folder_open(store, folder, MDIR_FOLDER_CREATE, error);

	if (f && lock_timeout_ms > 0)
		mdir_folder_set_lock_timeout(f, lock_timeout_ms);
	return f;
}

gboolean
mdir_account_add(MdirStore *store, const char *name, guint lock_timeout_ms, GError **error)
{
	g_autoptr(MdirFolder) f = NULL;

	g_return_val_if_fail(store != NULL && name != NULL, FALSE);
	if (!refuse_existing(store, name, error))
		return FALSE;
	f = account_folder(store, name, lock_timeout_ms, error);
	return f != NULL;
}

gboolean
mdir_account_alias(MdirStore *store, const char *name, const char *target, GError **error)
{
	g_autofree char *detail = NULL;
	g_autofree char *dir = NULL;
	MdirAccountKind k;
	int fd;

	g_return_val_if_fail(store != NULL && name != NULL && target != NULL, FALSE);
	if (!refuse_existing(store, name, error))
		return FALSE;
	k = mdir_account_kind(store, target, &detail);
	if (k == MDIR_ACCOUNT_NONE || strcmp(name, target) == 0) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_NOT_FOUND, "%s: %s", target,
		    k == MDIR_ACCOUNT_NONE ? "no such account (add it first)" :
					     "an alias of itself");
		return FALSE;
	}
	dir = g_build_filename(mdir_store_root(store), ACCOUNTS, NULL);
	if ((fd = mdir_dir_open_nofollow(dir, FALSE, error)) < 0)
		return FALSE;
	/* beside it: the link's text is the target's name, inside the root */
	if (symlinkat(target, fd, name) != 0) {
		int errsv = errno;
		g_autofree char *path = account_path(store, name);

		close(fd);
		return set_errno(error, errsv, path);
	}
	close(fd);
	mdir_fsync_dir(dir, NULL);
	return TRUE;
}

gboolean
mdir_account_set_rules(MdirStore *store, const char *name, const char *verb,
    const char *rule, GError **error)
{
	g_autofree char *detail = NULL;
	g_autofree char *rules_path = NULL;
	g_autofree char *text = NULL;
	g_autoptr(MdirFolder) f = NULL;
	g_autoptr(MdirRules) check = NULL;

	g_return_val_if_fail(store != NULL && name != NULL && verb != NULL && rule != NULL,
	    FALSE);
	if (mdir_account_kind(store, name, &detail) == MDIR_ACCOUNT_ALIAS) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_EXISTS, "%s: an alias of %s (remove it "
		    "first)", name, detail);
		return FALSE;
	}
	text = g_strdup_printf(MARK "%s, written by mstore(1); edit it with mstore account\n"
			       "%s\n", verb, rule);
	/* a mistake is the caller's, said before anything is made */
	if ((check = mdir_rules_parse(text, "the rule", TRUE, error)) == NULL)
		return FALSE;
	if ((f = account_folder(store, name, 0, error)) == NULL)
		return FALSE;
	rules_path = g_build_filename(mdir_folder_path(f), ".rules", NULL);
	if (!ours(f, rules_path, error))
		return FALSE;
	/* whole or not at all (mdird may read it at any time), in the folder
	 * opened, never through a link, and writable by its owner alone: a
	 * file the group may write is not trusted (DESIGN 6b, mdir-rules(5)) */
	return mdir_write_at_mode(mdir_folder_fd(f), ".rules", text, strlen(text), TRUE,
	    MDIR_RULES_MODE, rules_path, error);
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

gboolean
mdir_account_forward(MdirStore *store, const char *name, const char *to, gboolean keep,
    GError **error)
{
	g_autoptr(GString) rule = g_string_new("forward ");

	g_return_val_if_fail(to != NULL, FALSE);
	append_quoted(rule, to);
	if (!keep)
		g_string_append(rule, "; drop");
	return mdir_account_set_rules(store, name, "forward", rule->str, error);
}

gboolean
mdir_account_pipe(MdirStore *store, const char *name, const char *const *argv,
    gboolean keep, GError **error)
{
	g_autoptr(GString) rule = g_string_new("pipe");

	g_return_val_if_fail(argv != NULL && argv[0] != NULL, FALSE);
	for (const char *const *a = argv; *a; a++) {
		g_string_append_c(rule, ' ');
		append_quoted(rule, *a);
	}
	if (!keep)
		g_string_append(rule, "; drop");
	return mdir_account_set_rules(store, name, "pipe", rule->str, error);
}

gboolean
mdir_account_set_disabled(MdirStore *store, const char *name, gboolean disabled,
    GError **error)
{
	g_autofree char *detail = NULL;
	g_autofree char *off = NULL;
	g_autoptr(MdirFolder) f = NULL;
	MdirAccountKind k = mdir_account_kind(store, name, &detail);

	if (k == MDIR_ACCOUNT_NONE || k == MDIR_ACCOUNT_ALIAS) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_NOT_FOUND, "%s: %s", name,
		    k == MDIR_ACCOUNT_NONE ? "no such account" :
					     "an alias: its target is the account");
		return FALSE;
	}
	/* the folder, then its file: a folder swapped for a link is not followed */
	if ((f = account_folder(store, name, 0, error)) == NULL)
		return FALSE;
	off = g_build_filename(mdir_folder_path(f), ".disabled", NULL);
	if (disabled)
		return mdir_write_at(mdir_folder_fd(f), ".disabled", "", 0, TRUE, off, error);
	if (unlinkat(mdir_folder_fd(f), ".disabled", 0) != 0 && errno != ENOENT)
		return set_errno(error, errno, off);
	if (fsync(mdir_folder_fd(f)) != 0 && errno != EINVAL)
		return set_errno(error, errno, off);
	return TRUE;
}

/* For g_ptr_array_sort(), which hands pointers to the elements. */
static gint
by_name(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **
mdir_account_list(MdirStore *store)
{
	g_autofree char *dir = g_build_filename(mdir_store_root(store), ACCOUNTS, NULL);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	GPtrArray *names = g_ptr_array_new();
	const char *n;

	while (d && (n = g_dir_read_name(d)) != NULL)
		if (n[0] != '.')
			g_ptr_array_add(names, g_strdup(n));
	g_ptr_array_sort(names, by_name);
	g_ptr_array_add(names, NULL);
	return (char **)g_ptr_array_free(names, FALSE);
}
