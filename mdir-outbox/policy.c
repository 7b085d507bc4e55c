/*
 * policy.c: who may send what (DESIGN §6b, mdir(7)).  mdir's own outbox
 * is the mdir user's alone; an account's outbox sends only as that
 * account; only mail from a local domain is signed with our key; and an
 * entry is read without trusting its name (a group member can swap in a
 * symbolic link at any time).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "outbox.h"

/* The account of an outbox named SMTP/Accounts/<address>/Outbox.  Transfer full. */
char *
policy_outbox_account(const char *name)
{
	const char *prefix = ACCOUNTS "/";
	const char *a = g_str_has_prefix(name, prefix) ? name + strlen(prefix) : NULL;
	const char *slash = a ? strchr(a, '/') : NULL;

	if (slash == NULL || slash == a || strcmp(slash, "/Outbox") != 0)
		return NULL;
	return g_strndup(a, slash - a);
}

/*
 * Whether @addr is the account's own or an alias of it (a link in
 * SMTP/Accounts to its folder), a +extension allowed; a catch-all
 * ("@domain") is no address of anyone's.
 */
gboolean
policy_account_owns(MdirStore *store, const MdirConfig *config, const char *account,
    const char *addr)
{
	const char *delims = mdir_config_get(config, "receive", "recipient_delimiter");
	g_autofree char *lower = g_ascii_strdown(addr, -1);
	char *at = strrchr(lower, '@');
	char *ext = NULL;
	g_autofree char *name = NULL;
	g_autofree char *accounts = g_build_filename(mdir_store_root(store), ACCOUNTS, NULL);
	g_autofree char *path = NULL;
	g_autofree char *mine = NULL;
	g_autofree char *theirs = NULL;
	struct stat st;

	if (at == NULL || at == lower)
		return FALSE;
	*at = '\0';
	if (delims && *delims && (ext = strpbrk(lower, delims)) != NULL && ext != lower)
		*ext = '\0';
	name = g_strconcat(lower, "@", at + 1, NULL);
	if (!mdir_name_is_safe(name))
		return FALSE;
	if (g_ascii_strcasecmp(name, account) == 0)
		return TRUE;
	path = g_build_filename(accounts, name, NULL);
	if (lstat(path, &st) < 0 || !S_ISLNK(st.st_mode))
		return FALSE;
	mine = g_build_filename(accounts, account, NULL);
	theirs = realpath(path, NULL);
	g_autofree char *real_mine = realpath(mine, NULL);

	return theirs && real_mine && strcmp(theirs, real_mine) == 0;
}

/* An account's outbox sends as the account only: every author and the sender. */
gboolean
policy_bound(MdirStore *store, const MdirConfig *config, const char *account,
    const Message *m, GError **error)
{
	for (guint i = 0; i <= m->authors->len; i++) {
		const char *a = i < m->authors->len ? m->authors->pdata[i] : m->sender;

		if (*a && !policy_account_owns(store, config, account, a)) {
			g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE,
			    "<%s> is not %s nor an alias of it: an account's outbox sends "
			    "only as that account", a, account);
			return FALSE;
		}
	}
	return TRUE;
}

/*
 * Only mail from a local domain is signed with our domain's key: the
 * [receive] local_domains, or with none set, the signing domain itself.
 */
gboolean
policy_may_sign(const MdirConfig *config, const Message *m)
{
	g_auto(GStrv) local = mdir_config_get_list(config, "receive", "local_domains");
	const char *domain = mdir_config_get(config, "outbox", "dkim_domain");

	for (guint i = 0; i < m->froms->len; i++) {
		const char *at = strrchr(m->froms->pdata[i], '@');

		if (at == NULL || (local[0] ? !mdir_domain_is_local(config, at + 1) :
		    g_ascii_strcasecmp(at + 1, domain ? domain : "") != 0))
			return FALSE;
	}
	return TRUE;
}

/*
 * mdir's own outbox sends to whom its records say: only mdir may write
 * there.  Made 0700 when it is ours; left alone, and not sent, otherwise.
 */
gboolean
policy_own_outbox_private(const char *path, GError **error)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", path,
		    g_strerror(errno));
		return FALSE;
	}
	if ((st.st_mode & 077) == 0)
		return TRUE;
	if (st.st_uid == geteuid() && chmod(path, 0700) == 0) {
		mdir_log(LOG_NOTICE, "%s: mode %04o made 0700: only mdir writes its own outbox",
		    path, (unsigned)(st.st_mode & 07777));
		return TRUE;
	}
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
	    "%s: mode %04o and not ours: others could send through it; nothing sent from it",
	    path, (unsigned)(st.st_mode & 07777));
	return FALSE;
}

/*
 * The entry read once, through a descriptor opened without following a
 * link (O_NONBLOCK: a FIFO must not hang the run), into a private copy in
 * the store's tmp: what is signed, sent, attached to a notice and filed is
 * that copy, whatever the entry's name is made to point to meanwhile.
 */
char *
outbox_entry_copy(MdirFolder *folder, const char *name, MdirStore *store, GError **error)
{
	g_autofree char *path = mdir_folder_entry_path(folder, name);
	g_autofree char *copy = NULL;
	int in = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	const char *failed = NULL;
	int err = 0;
	int out;
	struct stat st;
	char buf[65536];
	ssize_t n;

	if (in < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", path,
		    errno == ELOOP ? "a symbolic link, not read" : g_strerror(errno));
		return NULL;
	}
	if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "%s: not a regular file, not read",
		    path);
		close(in);
		return NULL;
	}
	/* the copy may be filed (SMTP/Failed): never more open than the entry */
	out = mdir_store_tmp_open(store, st.st_mode & 0660, &copy, error);
	if (out < 0) {
		close(in);
		return NULL;
	}
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			failed = path;
			err = errno;
			break;
		}
		errno = 0;
		if (write(out, buf, n) != n) {
			failed = copy;
			err = errno ? errno : EIO; /* a short write: no errno */
			break;
		}
	}
	if (close(out) != 0 && failed == NULL) {
		failed = copy;
		err = errno;
	}
	close(in);
	if (failed) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "%s: %s", failed,
		    g_strerror(err));
		unlink(copy);
		return NULL;
	}
	return g_steal_pointer(&copy);
}
