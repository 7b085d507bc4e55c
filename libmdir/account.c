/*
 * account.c: from a recipient address to its account folder (DESIGN §2).
 * No folder, no account: the folder's existence is the whole user
 * database, an alias is a symbolic link, a catch-all is "@domain", and a
 * .disabled file refuses mail without deleting anything.  Addresses are
 * SMTPUTF8's (RFC 6531): UTF-8 local parts, U-labels or A-labels in the
 * domain, matched on one normalised form and named by it.
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

/*
 * A domain as accounts are named: U-labels in lower case (RFC 5890), so
 * that "xn--bcher-kva.example", "Bücher.example" and "bücher.example" are
 * one domain.  GLib decodes an A-label keeping its letters' case, hence
 * to ASCII (lower-cased) first.  A name IDNA refuses is only lower-cased.
 * NULL for a name that is not UTF-8: GLib's UTF-8 functions step by the
 * lead byte, past the end of such a string, and no domain of ours is one.
 */
static char *
normalize_domain(const char *domain)
{
	g_autofree char *nfc = g_utf8_validate(domain, -1, NULL) ?
	    g_utf8_normalize(domain, -1, G_NORMALIZE_NFC) : NULL;
	g_autofree char *ascii = nfc ? g_hostname_to_ascii(nfc) : NULL;
	g_autofree char *lower = ascii ? g_ascii_strdown(ascii, -1) : NULL;
	char *unicode = lower ? g_hostname_to_unicode(lower) : NULL;

	if (unicode)
		return unicode;
	return nfc ? g_utf8_strdown(nfc, -1) : NULL;
}

char *
mdir_address_normalize(const char *address)
{
	g_autofree char *nfc = NULL;
	g_autofree char *local = NULL;
	g_autofree char *domain = NULL;
	g_autofree char *lower = NULL;
	const char *at;

	g_return_val_if_fail(address != NULL, NULL);
	if (!g_utf8_validate(address, -1, NULL))
		return NULL;
	nfc = g_utf8_normalize(address, -1, G_NORMALIZE_NFC);
	at = strrchr(nfc, '@');
	/* lower case may leave NFC ("İ" becomes "i" and a combining dot) */
	lower = g_utf8_strdown(nfc, at ? at - nfc : -1);
	local = g_utf8_normalize(lower, -1, G_NORMALIZE_NFC);
	if (at == NULL)
		return g_steal_pointer(&local);
	domain = normalize_domain(at + 1);
	return g_strconcat(local, "@", domain, NULL);
}

gboolean
mdir_domain_is_local(const MdirConfig *config, const char *domain)
{
	g_auto(GStrv) domains = mdir_config_get_list(config, "receive", "local_domains");
	g_autofree char *want = NULL;

	if (domains[0] == NULL)
		return TRUE; /* none configured: every domain Postfix hands us */
	if ((want = normalize_domain(domain)) == NULL)
		return FALSE;
	for (char **d = domains; *d; d++) {
		g_autofree char *have = normalize_domain(*d);

		if (g_strcmp0(have, want) == 0)
			return TRUE;
	}
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

/*
 * @local@@domain's folder, the domain spelt as normalised (U-labels) or,
 * for a folder an admin made with the A-label, "xn--" (the same domain).
 */
static MdirFolder *
open_either(MdirStore *store, const char *local, const char *domain, GError **error)
{
	g_autofree char *name = g_strconcat(local, "@", domain, NULL);
	g_autofree char *ascii = NULL;
	g_autofree char *aname = NULL;
	MdirFolder *f = open_if_exists(store, name, error);

	if (f || (error && *error))
		return f;
	ascii = g_hostname_to_ascii(domain);
	if (ascii == NULL || strcmp(ascii, domain) == 0)
		return NULL;
	aname = g_strconcat(local, "@", ascii, NULL);
	return open_if_exists(store, aname, error);
}

MdirFolder *
mdir_account_open(MdirStore *store, const MdirConfig *config, const char *recipient,
    char **extension, GError **error)
{
	g_autofree char *addr = NULL;
	const char *delims = mdir_config_get(config, "receive", "recipient_delimiter");
	g_autofree char *local = NULL;
	g_autofree char *account = NULL;
	g_autofree char *disabled = NULL;
	g_autofree char *found_ext = NULL;
	const char *at;
	char *ext;
	MdirFolder *f;
	GError *e = NULL;

	if (extension)
		*extension = NULL;
	addr = mdir_address_normalize(recipient);
	if (addr == NULL) {
		no_account(error, recipient, "not valid UTF-8");
		return NULL;
	}
	at = strrchr(addr, '@');
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
	if (!mdir_name_is_safe(account)) {
		no_account(error, recipient, "not a valid account name");
		return NULL;
	}
	f = open_either(store, local, at + 1, &e);
	if (f == NULL && e == NULL)
		f = open_either(store, "", at + 1, &e);
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
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_DISABLED, "%s: account disabled",
		    recipient);
		return NULL;
	}
	if (extension)
		*extension = g_steal_pointer(&found_ext);
	return f;
}
