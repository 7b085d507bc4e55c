/*
 * policy.c: who may send what (DESIGN §6b, mdir(7)).  mdir's own outbox
 * is the mdir user's alone; an account's outbox sends only as that
 * account; only mail from a local domain is signed with our key; and an
 * entry is read without trusting its name (a group member can swap in a
 * symbolic link at any time).
 */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

/* Copies @in to @out; 0, or the errno and which of @from and @to failed. */
static int
copy_all(int in, int out, const char *from, const char *to, const char **failed)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*failed = from;
			return errno;
		}
		errno = 0;
		if (write(out, buf, n) != n) {
			*failed = to;
			return errno ? errno : EIO; /* a short write: no errno */
		}
	}
	return 0;
}

#define COPY_FD_PREFIX "/proc/self/fd/"
/* a bigger entry is copied to a file: memory is not where a message goes
 * whole, and its own I/O dwarfs an inode's cost */
#define COPY_IN_MEMORY_MAX (1024 * 1024)

/*
 * A private copy in memory, @mode as an entry's copy would have: a
 * memfd, named by its /proc/self/fd path, which everything that reads a
 * path can read.  No inode made and freed on the store's file system a
 * message: on ext4, making one costs a search past those freed in the
 * last minutes, which a busy outbox frees by the hundred.  -1 and no
 * error where there is none (no memfd, no /proc): a file then.
 */
static int
copy_memfd(mode_t mode, char **path)
{
	int fd = memfd_create("mdir-outbox-entry", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	*path = g_strdup_printf(COPY_FD_PREFIX "%d", fd);
	if (fchmod(fd, mode) == 0 && access(*path, R_OK) == 0)
		return fd;
	g_clear_pointer(path, g_free);
	close(fd);
	return -1;
}

gboolean
outbox_copy_in_memory(const char *copy)
{
	return g_str_has_prefix(copy, COPY_FD_PREFIX);
}

void
outbox_copy_free(char *copy)
{
	if (copy == NULL)
		return;
	if (outbox_copy_in_memory(copy))
		close(atoi(copy + strlen(COPY_FD_PREFIX)));
	else
		unlink(copy);
	g_free(copy);
}

/*
 * The entry read once, through a descriptor opened without following a
 * link (O_NONBLOCK: a FIFO must not hang the run), into a private copy,
 * in memory (copy_memfd) up to COPY_IN_MEMORY_MAX, else in the store's
 * tmp: what is signed, sent, attached to a notice and filed is that
 * copy, whatever the entry's name is made to point to meanwhile.
 */
char *
outbox_entry_copy(MdirFolder *folder, const char *name, MdirStore *store, struct stat *entry,
    GError **error)
{
	g_autofree char *path = mdir_folder_entry_path(folder, name);
	char *copy = NULL;
	int in = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	const char *failed = NULL;
	int err;
	int out;
	struct stat st;

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
	if (entry)
		*entry = st;
	/* the copy may be filed (SMTP/Failed): never more open than the entry */
	out = st.st_size <= COPY_IN_MEMORY_MAX ? copy_memfd(st.st_mode & 0660, &copy) : -1;
	if (out < 0)
		out = mdir_store_tmp_open(store, st.st_mode & 0660, &copy, error);
	if (out < 0) {
		close(in);
		return NULL;
	}
	err = copy_all(in, out, path, copy, &failed);
	close(in);
	/* a memfd stays open: it is the copy (outbox_copy_free()) */
	if (!outbox_copy_in_memory(copy) && close(out) != 0 && err == 0) {
		failed = copy;
		err = errno;
	}
	if (err) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "%s: %s", failed,
		    g_strerror(err));
		outbox_copy_free(copy);
		return NULL;
	}
	return copy;
}

/*
 * A copy in memory made a file in the store's tmp, of the same mode, to
 * be linked into a folder; a copy that is a file already, the same path.
 * Transfer full; NULL and @error if it cannot be made.
 */
char *
outbox_copy_to_file(const char *copy, MdirStore *store, GError **error)
{
	char *file = NULL;
	const char *failed = NULL;
	struct stat st;
	int in, out, err;

	if (!outbox_copy_in_memory(copy))
		return g_strdup(copy);
	in = open(copy, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", copy,
		    g_strerror(errno));
		if (in >= 0)
			close(in);
		return NULL;
	}
	out = mdir_store_tmp_open(store, st.st_mode & 0660, &file, error);
	if (out < 0) {
		close(in);
		return NULL;
	}
	err = copy_all(in, out, copy, file, &failed);
	close(in);
	if (close(out) != 0 && err == 0) {
		failed = file;
		err = errno;
	}
	if (err) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err), "%s: %s", failed,
		    g_strerror(err));
		unlink(file);
		g_free(file);
		return NULL;
	}
	return file;
}
