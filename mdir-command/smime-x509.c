/*
 * smime-x509.c: the certificates of S/MIME (smime.c): the configuration's
 * PEM files (read at each call, never a passphrase prompt), the addresses
 * a certificate carries (subjectAltName rfc822Name or SmtpUTF8Mailbox,
 * subject emailAddress), its chain to the CA with the CRL; and the small
 * OpenSSL helpers both files use.
 */
#include <string.h>

#include "smime.h"

/* The reason of OpenSSL's last error, its queue emptied.  Transfer full. */
char *
smime_ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	char *text = g_strdup(r ? r : "unknown OpenSSL error");

	ERR_clear_error();
	return text;
}

/* Sets @code of SMIME_ERROR, OpenSSL's reason appended.  FALSE. */
gboolean
smime_refuse_ssl(GError **error, SmimeError code, const char *what)
{
	g_autofree char *reason = smime_ssl_reason();

	g_set_error(error, SMIME_ERROR, code, "%s: %s", what, reason);
	return FALSE;
}

/* A read-only memory BIO over @data; OpenSSL counts lengths in int. */
BIO *
smime_mem_bio(const void *data, gsize length, GError **error)
{
	BIO *bio;

	if (length > G_MAXINT) {
		g_set_error(error, SMIME_ERROR, SMIME_ERROR_MALFORMED,
		    "%" G_GSIZE_FORMAT " bytes: too big", length);
		return NULL;
	}
	/* an empty GBytes may have no data at all: OpenSSL wants a pointer */
	bio = BIO_new_mem_buf(data ? data : "", (int)length);
	if (bio == NULL)
		g_error("OpenSSL: out of memory");
	return bio;
}

/*
 * OpenSSL's allocations fail only as GLib's would, which abort (DESIGN,
 * Memory): so do these.
 */
BIO *
smime_new_mem_bio(void)
{
	BIO *bio = BIO_new(BIO_s_mem());

	if (bio == NULL)
		g_error("OpenSSL: out of memory");
	return bio;
}

/* A stack holding a reference to @cert alone.  Transfer full. */
X509Stack *
smime_one_cert(X509 *cert)
{
	X509Stack *s = sk_X509_new_null();

	if (s == NULL || !X509_up_ref(cert))
		g_error("OpenSSL: out of memory");
	if (!sk_X509_push(s, cert))
		g_error("OpenSSL: out of memory");
	return s;
}

/* What a memory BIO holds, copied.  Transfer full. */
GBytes *
smime_bio_bytes(BIO *bio)
{
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);

	return g_bytes_new(data, n > 0 ? (gsize)n : 0);
}

/* Configuration files ---------------------------------------------------- */

/*
 * For PEM_read: no passphrase, ever.  OpenSSL's default would prompt on
 * the terminal; a key for a program run by pipe(8) is kept unencrypted,
 * readable by the mdir user alone.
 */
static int
no_passphrase(char *buf, int size, int rwflag, void *data)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)data;
	return -1;
}

/* The PEM objects in @path: G_FILE_ERROR if unreadable. */
static X509InfoStack *
read_pem(const char *path, GError **error)
{
	g_autofree char *text = NULL;
	g_autoptr(BIO) bio = NULL;
	X509InfoStack *infos;
	gsize length;

	if (!g_file_get_contents(path, &text, &length, error))
		return NULL;
	if ((bio = smime_mem_bio(text, length, NULL)) == NULL ||
	    (infos = PEM_X509_INFO_read_bio(bio, NULL, no_passphrase, NULL)) == NULL) {
		g_autofree char *reason = smime_ssl_reason();

		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG, "%s: not PEM: %s", path,
		    reason);
		return NULL;
	}
	return infos;
}

static X509 *
load_cert(const char *path, GError **error)
{
	g_autoptr(X509InfoStack) infos = read_pem(path, error);

	if (infos == NULL)
		return NULL;
	for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *info = sk_X509_INFO_value(infos, i);

		if (info->x509 && X509_up_ref(info->x509))
			return info->x509;
	}
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG, "%s: no certificate in it", path);
	return NULL;
}

static EVP_PKEY *
load_key(const char *path, GError **error)
{
	g_autofree char *text = NULL;
	g_autoptr(BIO) bio = NULL;
	EVP_PKEY *key;
	gsize length;

	if (!g_file_get_contents(path, &text, &length, error))
		return NULL;
	bio = smime_mem_bio(text, length, NULL);
	key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
	/* the key's bytes are no business of the heap's next owner */
	OPENSSL_cleanse(text, length);
	if (key == NULL) {
		g_autofree char *reason = smime_ssl_reason();

		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "%s: not a PEM private key: %s", path, reason);
	}
	return key;
}

/* The server's certificate and its key, checked to belong together. */
gboolean
smime_load_server(const SmimeConfig *config, X509 **cert, EVP_PKEY **key, GError **error)
{
	g_return_val_if_fail(config->server_cert != NULL && config->server_key != NULL, FALSE);
	if ((*cert = load_cert(config->server_cert, error)) == NULL ||
	    (*key = load_key(config->server_key, error)) == NULL)
		return FALSE;
	if (X509_check_private_key(*cert, *key) != 1) {
		ERR_clear_error();
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "%s: not the key of the certificate %s", config->server_key,
		    config->server_cert);
		return FALSE;
	}
	return TRUE;
}

/*
 * The certificate configured for @address: certs_dir/<normalised>.pem.
 * An address that would not be a plain file name is never opened.
 */
X509 *
smime_load_address_cert(const SmimeConfig *config, const char *address, GError **error)
{
	g_autofree char *norm = mdir_address_normalize(address);
	g_autofree char *name = NULL;
	g_autofree char *path = NULL;

	g_return_val_if_fail(config->certs_dir != NULL, NULL);
	if (norm == NULL || strchr(norm, '@') == NULL || !mdir_name_is_safe(norm)) {
		g_autofree char *shown = g_strescape(address, NULL);

		g_set_error(error, SMIME_ERROR, SMIME_ERROR_NO_CERT,
		    "no certificate for \"%s\": not an address that names a file", shown);
		return NULL;
	}
	name = g_strconcat(norm, ".pem", NULL);
	path = g_build_filename(config->certs_dir, name, NULL);
	if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
		g_set_error(error, SMIME_ERROR, SMIME_ERROR_NO_CERT,
		    "no certificate configured for %s (%s)", norm, path);
		return NULL;
	}
	return load_cert(path, error);
}

/* PEM certificates (@crls: CRLs) of @path into @store; at least one. */
static gboolean
store_add(X509_STORE *store, const char *path, gboolean crls, GError **error)
{
	g_autoptr(X509InfoStack) infos = read_pem(path, error);
	int n = 0;

	if (infos == NULL)
		return FALSE;
	for (int i = 0; i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *info = sk_X509_INFO_value(infos, i);

		if (crls && info->crl)
			n += X509_STORE_add_crl(store, info->crl);
		else if (!crls && info->x509)
			n += X509_STORE_add_cert(store, info->x509);
	}
	ERR_clear_error();
	if (n == 0) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG, "%s: no %s in it", path,
		    crls ? "CRL" : "certificate");
		return FALSE;
	}
	return TRUE;
}

/* Addresses ----------------------------------------------------------------- */

/* @data as a C string if it holds no NUL (a NUL hides the rest). */
static char *
asn1_text(const unsigned char *data, int length)
{
	if (length < 0 || memchr(data, 0, (size_t)length) != NULL)
		return NULL;
	return g_strndup((const char *)data, (gsize)length);
}

/* Whether @candidate names the same mailbox as @want (normalised). */
static gboolean
same_address(char *candidate, const char *want)
{
	g_autofree char *norm = candidate ? mdir_address_normalize(candidate) : NULL;

	return norm && strcmp(norm, want) == 0;
}

/* An address of @gen (rfc822Name, or SmtpUTF8Mailbox of RFC 8398). */
static char *
general_name_address(const GENERAL_NAME *gen)
{
	const ASN1_TYPE *v;

	if (gen->type == GEN_EMAIL)
		return asn1_text(ASN1_STRING_get0_data(gen->d.rfc822Name),
		    ASN1_STRING_length(gen->d.rfc822Name));
	if (gen->type != GEN_OTHERNAME ||
	    OBJ_obj2nid(gen->d.otherName->type_id) != NID_id_on_SmtpUTF8Mailbox)
		return NULL;
	v = gen->d.otherName->value;
	if (v == NULL || v->type != V_ASN1_UTF8STRING)
		return NULL;
	return asn1_text(ASN1_STRING_get0_data(v->value.utf8string),
	    ASN1_STRING_length(v->value.utf8string));
}

/* The subjectAltName address of @cert that is @want.  Transfer full. */
static char *
san_address(X509 *cert, const char *want)
{
	g_autoptr(GENERAL_NAMES) gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL,
	    NULL);

	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		g_autofree char *a = general_name_address(sk_GENERAL_NAME_value(gens, i));

		if (same_address(a, want))
			return g_steal_pointer(&a);
	}
	return NULL;
}

/* The subject's emailAddress of @cert that is @want.  Transfer full. */
static char *
subject_address(X509 *cert, const char *want)
{
	const X509_NAME *subject = X509_get_subject_name(cert);
	int i = -1;

	while ((i = X509_NAME_get_index_by_NID(subject, NID_pkcs9_emailAddress, i)) >= 0) {
		ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i));
		unsigned char *utf8 = NULL;
		int n = ASN1_STRING_to_UTF8(&utf8, d);
		g_autofree char *a = n >= 0 ? asn1_text(utf8, n) : NULL;

		OPENSSL_free(utf8);
		if (same_address(a, want))
			return g_steal_pointer(&a);
	}
	ERR_clear_error();
	return NULL;
}

/* The address of @cert that is @from, as the certificate writes it. */
char *
smime_cert_address(X509 *cert, const char *from)
{
	g_autofree char *want = mdir_address_normalize(from);
	char *a;

	if (want == NULL)
		return NULL;
	if ((a = san_address(cert, want)) == NULL)
		a = subject_address(cert, want);
	return a;
}

/* Who @cert is, for the log: its subject, one line.  Transfer full. */
char *
smime_cert_name(X509 *cert)
{
	char *line = X509_NAME_oneline(X509_get_subject_name(cert), NULL, 0);
	char *text = g_strdup(line ? line : "(no subject)");

	OPENSSL_free(line);
	return text;
}

/* Chains --------------------------------------------------------------------- */

static SmimeError
verify_code(int e)
{
	switch (e) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return SMIME_ERROR_EXPIRED;
	case X509_V_ERR_CERT_REVOKED:
		return SMIME_ERROR_REVOKED;
	default:
		return SMIME_ERROR_UNTRUSTED;
	}
}

/*
 * @cert's chain to the CA, for S/MIME signing, now; intermediates may come
 * with the message.  With a CRL file, every certificate of the chain is
 * checked against its issuer's CRL, which must be there: a sub-CA the
 * site's CA revoked takes its senders with it, and a CA of the chain with
 * no CRL in the file is refused, not passed unchecked.
 */
gboolean
smime_check_chain(const SmimeConfig *config, X509Stack *untrusted, X509 *cert,
    GError **error)
{
	g_autoptr(X509_STORE) store = X509_STORE_new();
	g_autoptr(X509_STORE_CTX) ctx = X509_STORE_CTX_new();
	g_autofree char *who = NULL;
	int e;

	g_return_val_if_fail(config->ca_file != NULL, FALSE);
	if (!store_add(store, config->ca_file, FALSE, error))
		return FALSE;
	if (config->crl_file) {
		if (!store_add(store, config->crl_file, TRUE, error))
			return FALSE;
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	}
	if (!X509_STORE_CTX_init(ctx, store, cert, untrusted) ||
	    !X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SMIME_SIGN))
		return smime_refuse_ssl(error, SMIME_ERROR_UNTRUSTED, "cannot check the chain");
	if (X509_verify_cert(ctx) == 1) {
		ERR_clear_error();
		return TRUE;
	}
	ERR_clear_error();
	e = X509_STORE_CTX_get_error(ctx);
	who = smime_cert_name(X509_STORE_CTX_get_current_cert(ctx) ?
		X509_STORE_CTX_get_current_cert(ctx) : cert);
	g_set_error(error, SMIME_ERROR, verify_code(e), "certificate %s: %s", who,
	    X509_verify_cert_error_string(e));
	return FALSE;
}
