/*
 * smime.c: S/MIME for mdir-command (issue 12): opening a signed, maybe
 * encrypted request, sealing the answer; OpenSSL 3's CMS.
 *
 * OpenSSL's own MIME reader (SMIME_read_CMS) splits a multipart/signed:
 * it hands back the first part byte for byte as it came, which is what
 * was signed; GMime would write the part out again, not necessarily the
 * same bytes.  CMS_verify() would take any chain to the CA and any signer
 * the message carries; our rule is narrower (DESIGN §4 mdir-command): the
 * signer is the certificate configured for the From address, byte for
 * byte.  So each check is a step of its own, with its own error code for
 * the log: who signed, whether that certificate carries the address,
 * its chain (time, CRL), then the signature over the content, with only
 * the configured certificate offered to CMS (CMS_NOINTERN).
 *
 * Every OpenSSL object is owned by a g_autoptr: an early return frees it.
 */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <glib.h>

#include "mdir.h"

G_DEFINE_QUARK(mdir-smime-error-quark, mdir_smime_error)

typedef STACK_OF(X509) X509Stack;
typedef STACK_OF(X509_INFO) X509InfoStack;

static void
x509_stack_free(X509Stack *s)
{
	sk_X509_pop_free(s, X509_free);
}

static void
x509_info_stack_free(X509InfoStack *s)
{
	sk_X509_INFO_pop_free(s, X509_INFO_free);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(BIO, BIO_free_all)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509, X509_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CMS_ContentInfo, CMS_ContentInfo_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509_STORE, X509_STORE_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509_STORE_CTX, X509_STORE_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GENERAL_NAMES, GENERAL_NAMES_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509Stack, x509_stack_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509InfoStack, x509_info_stack_free)

/* The reason of OpenSSL's last error, its queue emptied.  Transfer full. */
static char *
ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	char *text = g_strdup(r ? r : "unknown OpenSSL error");

	ERR_clear_error();
	return text;
}

/* Sets @code of MDIR_SMIME_ERROR, OpenSSL's reason appended.  FALSE. */
static gboolean
refuse_ssl(GError **error, MdirSmimeError code, const char *what)
{
	g_autofree char *reason = ssl_reason();

	g_set_error(error, MDIR_SMIME_ERROR, code, "%s: %s", what, reason);
	return FALSE;
}

/* A read-only memory BIO over @data; OpenSSL counts lengths in int. */
static BIO *
mem_bio(const void *data, gsize length, GError **error)
{
	BIO *bio;

	if (length > G_MAXINT) {
		g_set_error(error, MDIR_SMIME_ERROR, MDIR_SMIME_ERROR_MALFORMED,
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
static BIO *
new_mem_bio(void)
{
	BIO *bio = BIO_new(BIO_s_mem());

	if (bio == NULL)
		g_error("OpenSSL: out of memory");
	return bio;
}

/* A stack holding a reference to @cert alone.  Transfer full. */
static X509Stack *
one_cert(X509 *cert)
{
	X509Stack *s = sk_X509_new_null();

	if (s == NULL || !X509_up_ref(cert))
		g_error("OpenSSL: out of memory");
	if (!sk_X509_push(s, cert))
		g_error("OpenSSL: out of memory");
	return s;
}

/* What a memory BIO holds, copied.  Transfer full. */
static GBytes *
bio_bytes(BIO *bio)
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
	if ((bio = mem_bio(text, length, NULL)) == NULL ||
	    (infos = PEM_X509_INFO_read_bio(bio, NULL, no_passphrase, NULL)) == NULL) {
		g_autofree char *reason = ssl_reason();

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
	bio = mem_bio(text, length, NULL);
	key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
	/* the key's bytes are no business of the heap's next owner */
	OPENSSL_cleanse(text, length);
	if (key == NULL) {
		g_autofree char *reason = ssl_reason();

		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "%s: not a PEM private key: %s", path, reason);
	}
	return key;
}

/* The server's certificate and its key, checked to belong together. */
static gboolean
load_server(const MdirSmimeConfig *config, X509 **cert, EVP_PKEY **key, GError **error)
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
static X509 *
load_address_cert(const MdirSmimeConfig *config, const char *address, GError **error)
{
	g_autofree char *norm = mdir_address_normalize(address);
	g_autofree char *name = NULL;
	g_autofree char *path = NULL;

	g_return_val_if_fail(config->certs_dir != NULL, NULL);
	if (norm == NULL || strchr(norm, '@') == NULL || !mdir_name_is_safe(norm)) {
		g_autofree char *shown = g_strescape(address, NULL);

		g_set_error(error, MDIR_SMIME_ERROR, MDIR_SMIME_ERROR_NO_CERT,
		    "no certificate for \"%s\": not an address that names a file", shown);
		return NULL;
	}
	name = g_strconcat(norm, ".pem", NULL);
	path = g_build_filename(config->certs_dir, name, NULL);
	if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
		g_set_error(error, MDIR_SMIME_ERROR, MDIR_SMIME_ERROR_NO_CERT,
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
static char *
cert_address(X509 *cert, const char *from)
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
static char *
cert_name(X509 *cert)
{
	char *line = X509_NAME_oneline(X509_get_subject_name(cert), NULL, 0);
	char *text = g_strdup(line ? line : "(no subject)");

	OPENSSL_free(line);
	return text;
}

/* Opening ------------------------------------------------------------------- */

/* A top-level type OpenSSL does not take as S/MIME at all. */
static gboolean
not_smime_reason(unsigned long e)
{
	int r = ERR_GET_REASON(e);

	return ERR_GET_LIB(e) == ERR_LIB_ASN1 &&
	    (r == ASN1_R_NO_CONTENT_TYPE || r == ASN1_R_INVALID_MIME_TYPE ||
		r == ASN1_R_SIG_INVALID_MIME_TYPE);
}

/*
 * Reads the S/MIME entity @data: its CMS, and for multipart/signed the
 * first part in @detached, byte for byte.
 */
static CMS_ContentInfo *
read_smime(const void *data, gsize length, BIO **detached, GError **error)
{
	g_autoptr(BIO) in = mem_bio(data, length, error);
	CMS_ContentInfo *cms;

	*detached = NULL;
	if (in == NULL)
		return NULL;
	ERR_clear_error();
	if ((cms = SMIME_read_CMS(in, detached)) != NULL)
		return cms;
	if (not_smime_reason(ERR_peek_last_error())) {
		g_autofree char *reason = ssl_reason();

		g_set_error(error, MDIR_SMIME_ERROR, MDIR_SMIME_ERROR_NOT_SMIME,
		    "not S/MIME: %s", reason);
		return NULL;
	}
	refuse_ssl(error, MDIR_SMIME_ERROR_MALFORMED, "unreadable S/MIME");
	return NULL;
}

static int
cms_type(CMS_ContentInfo *cms)
{
	return OBJ_obj2nid(CMS_get0_type(cms));
}

static gboolean
is_enveloped(CMS_ContentInfo *cms)
{
	int t = cms_type(cms);

	return t == NID_pkcs7_enveloped || t == NID_id_smime_ct_authEnvelopedData;
}

/* Whether @cms is enveloped to @cert (RSA key transport or EC agreement). */
static gboolean
is_for(CMS_ContentInfo *cms, X509 *cert)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);

	for (int i = 0; ris && i < sk_CMS_RecipientInfo_num(ris); i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
		STACK_OF(CMS_RecipientEncryptedKey) *reks;

		if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS &&
		    CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0)
			return TRUE;
		if (CMS_RecipientInfo_type(ri) != CMS_RECIPINFO_AGREE)
			continue;
		reks = CMS_RecipientInfo_kari_get0_reks(ri);
		for (int j = 0; reks && j < sk_CMS_RecipientEncryptedKey_num(reks); j++)
			if (CMS_RecipientEncryptedKey_cert_cmp(
				sk_CMS_RecipientEncryptedKey_value(reks, j), cert) == 0)
				return TRUE;
	}
	return FALSE;
}

/* The content of enveloped @cms, decrypted with the server's key. */
static GBytes *
decrypt(const MdirSmimeConfig *config, CMS_ContentInfo *cms, GError **error)
{
	g_autoptr(X509) cert = NULL;
	g_autoptr(EVP_PKEY) key = NULL;
	g_autoptr(BIO) out = new_mem_bio();

	if (!load_server(config, &cert, &key, error))
		return NULL;
	if (!is_for(cms, cert)) {
		g_autofree char *us = cert_name(cert);

		ERR_clear_error();
		g_set_error(error, MDIR_SMIME_ERROR, MDIR_SMIME_ERROR_DECRYPT,
		    "not encrypted to our certificate (%s)", us);
		return NULL;
	}
	if (!CMS_decrypt(cms, key, cert, NULL, out, CMS_BINARY)) {
		refuse_ssl(error, MDIR_SMIME_ERROR_DECRYPT, "cannot decrypt");
		return NULL;
	}
	return bio_bytes(out);
}

/* Who signed @si, for the log: a certificate of @cms that matches, if any. */
static char *
signer_name(CMS_ContentInfo *cms, CMS_SignerInfo *si)
{
	g_autoptr(X509Stack) certs = CMS_get1_certs(cms);

	for (int i = 0; certs && i < sk_X509_num(certs); i++)
		if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(certs, i)) == 0)
			return cert_name(sk_X509_value(certs, i));
	return g_strdup("a certificate not in the message");
}

/* The one signer of signed-data @cms (certs-only has none). */
static CMS_SignerInfo *
one_signer(CMS_ContentInfo *cms, GError **error)
{
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	int n = sis ? sk_CMS_SignerInfo_num(sis) : 0;

	if (n == 0) {
		g_set_error(error, MDIR_SMIME_ERROR, MDIR_SMIME_ERROR_UNSIGNED,
		    "signed-data without a signer");
		return NULL;
	}
	if (n > 1) {
		g_set_error(error, MDIR_SMIME_ERROR, MDIR_SMIME_ERROR_MALFORMED,
		    "%d signers: one is taken", n);
		return NULL;
	}
	return sk_CMS_SignerInfo_value(sis, 0);
}

/*
 * Whether signer @si of @cms is @cert: its identifier names @cert, and a
 * certificate the message carries under that identifier is @cert's bytes.
 */
static gboolean
check_signer(CMS_ContentInfo *cms, CMS_SignerInfo *si, X509 *cert, const char *from,
    GError **error)
{
	g_autoptr(X509Stack) certs = NULL;

	if (CMS_SignerInfo_cert_cmp(si, cert) != 0) {
		g_autofree char *who = signer_name(cms, si);

		g_set_error(error, MDIR_SMIME_ERROR, MDIR_SMIME_ERROR_WRONG_SIGNER,
		    "signed by %s, not by the certificate configured for %s", who, from);
		return FALSE;
	}
	certs = CMS_get1_certs(cms);
	for (int i = 0; certs && i < sk_X509_num(certs); i++) {
		X509 *c = sk_X509_value(certs, i);

		if (CMS_SignerInfo_cert_cmp(si, c) == 0 && X509_cmp(c, cert) != 0) {
			g_set_error(error, MDIR_SMIME_ERROR, MDIR_SMIME_ERROR_WRONG_SIGNER,
			    "the message carries another certificate than the one "
			    "configured for %s under the same name", from);
			return FALSE;
		}
	}
	return TRUE;
}

static MdirSmimeError
verify_code(int e)
{
	switch (e) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return MDIR_SMIME_ERROR_EXPIRED;
	case X509_V_ERR_CERT_REVOKED:
		return MDIR_SMIME_ERROR_REVOKED;
	default:
		return MDIR_SMIME_ERROR_UNTRUSTED;
	}
}

/*
 * @cert's chain to the CA, for S/MIME signing, now, its issuer's CRL
 * checked if one is configured; intermediates may come with the message.
 */
static gboolean
check_chain(const MdirSmimeConfig *config, CMS_ContentInfo *cms, X509 *cert,
    GError **error)
{
	g_autoptr(X509_STORE) store = X509_STORE_new();
	g_autoptr(X509_STORE_CTX) ctx = X509_STORE_CTX_new();
	g_autoptr(X509Stack) untrusted = CMS_get1_certs(cms);
	g_autofree char *who = NULL;
	int e;

	g_return_val_if_fail(config->ca_file != NULL, FALSE);
	if (!store_add(store, config->ca_file, FALSE, error))
		return FALSE;
	if (config->crl_file) {
		if (!store_add(store, config->crl_file, TRUE, error))
			return FALSE;
		X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	}
	if (!X509_STORE_CTX_init(ctx, store, cert, untrusted) ||
	    !X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SMIME_SIGN))
		return refuse_ssl(error, MDIR_SMIME_ERROR_UNTRUSTED, "cannot check the chain");
	if (X509_verify_cert(ctx) == 1) {
		ERR_clear_error();
		return TRUE;
	}
	ERR_clear_error();
	e = X509_STORE_CTX_get_error(ctx);
	who = cert_name(X509_STORE_CTX_get_current_cert(ctx) ?
		X509_STORE_CTX_get_current_cert(ctx) : cert);
	g_set_error(error, MDIR_SMIME_ERROR, verify_code(e), "certificate %s: %s", who,
	    X509_verify_cert_error_string(e));
	return FALSE;
}

/* The signature over the content, by @cert alone.  The content, as signed. */
static GBytes *
check_signature(CMS_ContentInfo *cms, BIO *detached, X509 *cert, GError **error)
{
	g_autoptr(X509Stack) signers = one_cert(cert);
	g_autoptr(BIO) out = new_mem_bio();

	/*
	 * Not CMS_BINARY: detached content is made CRLF first, as S/MIME
	 * signs it (a message handed over by pipe(8) has LF line ends); @out
	 * gets the bytes the digest was taken of.
	 */
	if (!CMS_verify(cms, signers, NULL, detached, out,
		CMS_NO_SIGNER_CERT_VERIFY | CMS_NOINTERN)) {
		refuse_ssl(error, MDIR_SMIME_ERROR_BAD_SIGNATURE, "bad signature");
		return NULL;
	}
	return bio_bytes(out);
}

/*
 * Verifies signed @cms (content in @detached if detached) as the request
 * of @from: see mdir_smime_open().  The content and the signer's address.
 */
static GBytes *
verify(const MdirSmimeConfig *config, CMS_ContentInfo *cms, BIO *detached,
    const char *from, char **signer, GError **error)
{
	g_autoptr(X509) cert = NULL;
	g_autofree char *address = NULL;
	CMS_SignerInfo *si;
	GBytes *content;

	if (cms_type(cms) != NID_pkcs7_signed) {
		g_set_error(error, MDIR_SMIME_ERROR, MDIR_SMIME_ERROR_MALFORMED,
		    "CMS %s where signed-data was expected", OBJ_nid2sn(cms_type(cms)));
		return NULL;
	}
	if ((si = one_signer(cms, error)) == NULL)
		return NULL;
	if ((CMS_is_detached(cms) != 0) != (detached != NULL)) {
		g_set_error(error, MDIR_SMIME_ERROR, MDIR_SMIME_ERROR_MALFORMED,
		    detached ? "multipart/signed with the content inside the signature" :
			       "signed-data without its content");
		return NULL;
	}
	if ((cert = load_address_cert(config, from, error)) == NULL ||
	    !check_signer(cms, si, cert, from, error))
		return NULL;
	if ((address = cert_address(cert, from)) == NULL) {
		g_autofree char *who = cert_name(cert);

		g_set_error(error, MDIR_SMIME_ERROR, MDIR_SMIME_ERROR_WRONG_SIGNER,
		    "the certificate configured for %s (%s) does not carry that address",
		    from, who);
		return NULL;
	}
	if (!check_chain(config, cms, cert, error) ||
	    (content = check_signature(cms, detached, cert, error)) == NULL)
		return NULL;
	*signer = g_steal_pointer(&address);
	return content;
}

gboolean
mdir_smime_open(const MdirSmimeConfig *config, GBytes *message, const char *from,
    MdirSmimeRequest *out, GError **error)
{
	g_autoptr(CMS_ContentInfo) cms = NULL;
	g_autoptr(BIO) detached = NULL;
	g_autoptr(GBytes) inner = NULL;
	g_autoptr(GError) e = NULL;
	gboolean encrypted = FALSE;
	const char *data;
	gsize length;
	char *signer = NULL;
	GBytes *content;

	g_return_val_if_fail(config != NULL && message != NULL && from != NULL, FALSE);
	g_return_val_if_fail(out != NULL, FALSE);
	memset(out, 0, sizeof *out);
	data = g_bytes_get_data(message, &length);
	if ((cms = read_smime(data, length, &detached, error)) == NULL)
		return FALSE;
	if (is_enveloped(cms) && detached) {
		g_set_error(error, MDIR_SMIME_ERROR, MDIR_SMIME_ERROR_MALFORMED,
		    "multipart/signed with enveloped-data for a signature");
		return FALSE;
	}
	if (is_enveloped(cms)) {
		/* Thunderbird signs, then encrypts: the signed entity is inside */
		if ((inner = decrypt(config, cms, error)) == NULL)
			return FALSE;
		g_clear_pointer(&cms, CMS_ContentInfo_free);
		data = g_bytes_get_data(inner, &length);
		if ((cms = read_smime(data, length, &detached, &e)) == NULL) {
			/* encrypted only: anyone may encrypt to our certificate */
			g_set_error(error, MDIR_SMIME_ERROR,
			    e->code == MDIR_SMIME_ERROR_NOT_SMIME ? MDIR_SMIME_ERROR_UNSIGNED :
								    e->code,
			    "encrypted, but inside: %s", e->message);
			return FALSE;
		}
		if (is_enveloped(cms)) {
			g_set_error(error, MDIR_SMIME_ERROR, MDIR_SMIME_ERROR_UNSIGNED,
			    "encrypted, and inside encrypted again");
			return FALSE;
		}
		encrypted = TRUE;
	}
	content = verify(config, cms, detached, from, &signer, error);
	ERR_clear_error();
	if (content == NULL)
		return FALSE;
	out->signer = signer;
	out->encrypted = encrypted;
	out->content = content;
	return TRUE;
}

void
mdir_smime_request_clear(MdirSmimeRequest *req)
{
	if (req == NULL)
		return;
	g_clear_pointer(&req->signer, g_free);
	g_clear_pointer(&req->content, g_bytes_unref);
	req->encrypted = FALSE;
}

/* Sealing -------------------------------------------------------------------- */

/*
 * OpenSSL's S/MIME output as a MIME entity: its "MIME-Version: 1.0" line
 * left out (the caller writes the message's headers), every line end CRLF
 * (the signed content is CRLF already; base64 comes with LF).
 */
static GBytes *
as_entity(BIO *bio)
{
	static const char version[] = "MIME-Version: 1.0";
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);
	const char *p = data, *end = data + (n > 0 ? n : 0);
	GString *s = g_string_sized_new((gsize)(end - p) + (gsize)(end - p) / 32);

	if ((gsize)(end - p) > sizeof version &&
	    strncmp(p, version, sizeof version - 1) == 0) {
		p += sizeof version - 1;
		p += *p == '\r';
		p += *p == '\n';
	}
	for (; p < end; p++) {
		if (*p == '\n' && (s->len == 0 || s->str[s->len - 1] != '\r'))
			g_string_append_c(s, '\r');
		g_string_append_c(s, *p);
	}
	return g_string_free_to_bytes(s);
}

/* @entity signed by @cert and @key: multipart/signed, SHA-256. */
static GBytes *
sign(X509 *cert, EVP_PKEY *key, GBytes *entity, GError **error)
{
	const unsigned flags = CMS_DETACHED | CMS_STREAM | CMS_PARTIAL;
	gsize length;
	const void *data = g_bytes_get_data(entity, &length);
	g_autoptr(BIO) in = mem_bio(data, length, error);
	g_autoptr(BIO) out = new_mem_bio();
	g_autoptr(CMS_ContentInfo) cms = NULL;

	if (in == NULL)
		return NULL;
	/*
	 * Streaming: the digest is taken as SMIME_write_CMS() writes the
	 * content out (made CRLF, not CMS_BINARY), so what is signed is what
	 * is sent.
	 */
	if ((cms = CMS_sign(NULL, NULL, NULL, in, flags)) == NULL ||
	    CMS_add1_signer(cms, cert, key, EVP_sha256(), 0) == NULL ||
	    !SMIME_write_CMS(out, cms, in, flags)) {
		refuse_ssl(error, MDIR_SMIME_ERROR_MALFORMED, "cannot sign");
		return NULL;
	}
	return as_entity(out);
}

/* @entity enveloped to @cert alone: application/pkcs7-mime, AES-256. */
static GBytes *
envelope(X509 *cert, GBytes *entity, GError **error)
{
	gsize length;
	const void *data = g_bytes_get_data(entity, &length);
	g_autoptr(BIO) in = mem_bio(data, length, error);
	g_autoptr(BIO) out = new_mem_bio();
	g_autoptr(X509Stack) to = one_cert(cert);
	g_autoptr(CMS_ContentInfo) cms = NULL;

	if (in == NULL)
		return NULL;
	if ((cms = CMS_encrypt(to, in, EVP_aes_256_cbc(), CMS_BINARY)) == NULL ||
	    !SMIME_write_CMS(out, cms, NULL, CMS_BINARY)) {
		refuse_ssl(error, MDIR_SMIME_ERROR_MALFORMED, "cannot encrypt");
		return NULL;
	}
	return as_entity(out);
}

GBytes *
mdir_smime_seal(const MdirSmimeConfig *config, GBytes *entity, const char *encrypt_to,
    GError **error)
{
	g_autoptr(X509) cert = NULL;
	g_autoptr(EVP_PKEY) key = NULL;
	g_autoptr(X509) to = NULL;
	g_autoptr(GBytes) signed_entity = NULL;
	GBytes *sealed;

	g_return_val_if_fail(config != NULL && entity != NULL, NULL);
	ERR_clear_error();
	if (!load_server(config, &cert, &key, error) ||
	    (encrypt_to && (to = load_address_cert(config, encrypt_to, error)) == NULL) ||
	    (signed_entity = sign(cert, key, entity, error)) == NULL)
		sealed = NULL;
	else if (to == NULL)
		sealed = g_steal_pointer(&signed_entity);
	else
		sealed = envelope(to, signed_entity, error);
	ERR_clear_error();
	return sealed;
}
