/*
 * account.c: from a recipient address to its account folder (DESIGN §2).
 * No folder, no account: the folder's existence is the whole user
 * database, an alias is a symbolic link, a catch-all is "@domain", and a
 * .disabled file refuses mail without deleting anything.
 */
#include <string.h>

#include <glib.h>

#include "mdir.h"
#include "private.h"

static gboolean
no_account(GError **error, const char *recipient, const char *why)
{
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_NO_ACCOUNT, "%s: %s", recipient, why);
	return FALSE;
}

gboolean
mdir_domain_is_local(const MdirConfig *config, const char *domain)
{
	g_auto(GStrv) domains = mdir_config_get_list(config, "receive", "local_domains");

	if (domains[0] == NULL)
		return TRUE; /* none configured: every domain Postfix hands us */
	for (char **d = domains; *d; d++)
		if (g_ascii_strcasecmp(*d, domain) == 0)
			return TRUE;
	return FALSE;
}

/* Opens SMTP/Accounts/@name if it exists; NULL and no error if it does not. */
static MdirFolder *
open_if_exists(MdirStore *store, const char *name, GError **error)
{
	g_autofree char *path = g_build_filename("SMTP", "Accounts", name, NULL);
	GError *e = NULL;
	MdirFolder *f = mdir_folder_open(store, path, 0, &e);

	if (f == NULL && !g_error_matches(e, MDIR_ERROR, MDIR_ERROR_NOT_FOUND))
		g_propagate_error(error, e);
	else
		g_clear_error(&e);
	return f;
}

MdirFolder *
mdir_account_open(MdirStore *store, const MdirConfig *config, const char *recipient,
    char **extension, GError **error)
{
	g_autofree char *addr = g_ascii_strdown(recipient, -1);
	const char *delims = mdir_config_get(config, "receive", "recipient_delimiter");
	g_autofree char *local = NULL;
	g_autofree char *account = NULL;
	g_autofree char *catchall = NULL;
	g_autofree char *disabled = NULL;
	const char *at = strrchr(addr, '@');
	g_autofree char *found_ext = NULL;
	char *ext;
	MdirFolder *f;
	GError *e = NULL;

	if (extension)
		*extension = NULL;
	if (at == NULL || at == addr || at[1] == '\0') {
		no_account(error, recipient, "not an address with a domain");
		return NULL;
	}
	if (!mdir_domain_is_local(config, at + 1)) {
		no_account(error, recipient, "not a local domain");
		return NULL;
	}
	local = g_strndup(addr, at - addr);
	/* "alice+lists": any delimiter character starts the extension */
	ext = delims && *delims ? strpbrk(local, delims) : NULL;
	if (ext && ext != local) {
		found_ext = g_strdup(ext + 1);
		*ext = '\0';
	}
	account = g_strconcat(local, at, NULL);
	catchall = g_strconcat("@", at + 1, NULL);
	if (!mdir_name_is_safe(account)) {
		no_account(error, recipient, "not a valid account name");
		return NULL;
	}
	f = open_if_exists(store, account, &e);
	if (f == NULL && e == NULL)
		f = open_if_exists(store, catchall, &e);
	if (e) {
		g_propagate_error(error, e);
		return NULL;
	}
	if (f == NULL) {
		no_account(error, recipient, "no such account");
		return NULL;
	}
	disabled = g_build_filename(mdir_folder_path(f), ".disabled", NULL);
	if (g_file_test(disabled, G_FILE_TEST_EXISTS)) {
		mdir_folder_free(f);
		no_account(error, recipient, "account disabled");
		return NULL;
	}
	if (extension)
		*extension = g_steal_pointer(&found_ext);
	return f;
}
