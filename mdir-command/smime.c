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

#include "smime.h"

G_DEFINE_QUARK(smime-error-quark, smime_error)

const char *
smime_error_name(int code)
{
	static const char *const names[] = {
		[SMIME_ERROR_NOT_SMIME] = "NOT_SMIME",
		[SMIME_ERROR_MALFORMED] = "MALFORMED",
		[SMIME_ERROR_DECRYPT] = "DECRYPT",
		[SMIME_ERROR_BAD_SIGNATURE] = "BAD_SIGNATURE",
		[SMIME_ERROR_UNTRUSTED] = "UNTRUSTED",
		[SMIME_ERROR_EXPIRED] = "EXPIRED",
		[SMIME_ERROR_REVOKED] = "REVOKED",
		[SMIME_ERROR_NO_CERT] = "NO_CERT",
		[SMIME_ERROR_WRONG_SIGNER] = "WRONG_SIGNER",
		[SMIME_ERROR_UNSIGNED] = "UNSIGNED",
		[SMIME_ERROR_STALE] = "STALE",
	};

	return code >= 0 && (gsize)code < G_N_ELEMENTS(names) ? names[code] : "?";
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
	g_autoptr(BIO) in = smime_mem_bio(data, length, error);
	CMS_ContentInfo *cms;

	*detached = NULL;
	if (in == NULL)
		return NULL;
	ERR_clear_error();
	if ((cms = SMIME_read_CMS(in, detached)) != NULL)
		return cms;
	if (not_smime_reason(ERR_peek_last_error())) {
		g_autofree char *reason = smime_ssl_reason();

		g_set_error(error, SMIME_ERROR, SMIME_ERROR_NOT_SMIME,
		    "not S/MIME: %s", reason);
		return NULL;
	}
	smime_refuse_ssl(error, SMIME_ERROR_MALFORMED, "unreadable S/MIME");
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
decrypt(const SmimeConfig *config, CMS_ContentInfo *cms, GError **error)
{
	g_autoptr(X509) cert = NULL;
	g_autoptr(EVP_PKEY) key = NULL;
	g_autoptr(BIO) out = smime_new_mem_bio();

	if (!smime_load_server(config, &cert, &key, error))
		return NULL;
	if (!is_for(cms, cert)) {
		g_autofree char *us = smime_cert_name(cert);

		ERR_clear_error();
		g_set_error(error, SMIME_ERROR, SMIME_ERROR_DECRYPT,
		    "not encrypted to our certificate (%s)", us);
		return NULL;
	}
	if (!CMS_decrypt(cms, key, cert, NULL, out, CMS_BINARY)) {
		smime_refuse_ssl(error, SMIME_ERROR_DECRYPT, "cannot decrypt");
		return NULL;
	}
	return smime_bio_bytes(out);
}

/* Who signed @si, for the log: a certificate of @cms that matches, if any. */
static char *
signer_name(CMS_ContentInfo *cms, CMS_SignerInfo *si)
{
	g_autoptr(X509Stack) certs = CMS_get1_certs(cms);

	for (int i = 0; certs && i < sk_X509_num(certs); i++)
		if (CMS_SignerInfo_cert_cmp(si, sk_X509_value(certs, i)) == 0)
			return smime_cert_name(sk_X509_value(certs, i));
	return g_strdup("a certificate not in the message");
}

/* The one signer of signed-data @cms (certs-only has none). */
static CMS_SignerInfo *
one_signer(CMS_ContentInfo *cms, GError **error)
{
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	int n = sis ? sk_CMS_SignerInfo_num(sis) : 0;

	if (n == 0) {
		g_set_error(error, SMIME_ERROR, SMIME_ERROR_UNSIGNED,
		    "signed-data without a signer");
		return NULL;
	}
	if (n > 1) {
		g_set_error(error, SMIME_ERROR, SMIME_ERROR_MALFORMED,
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

		g_set_error(error, SMIME_ERROR, SMIME_ERROR_WRONG_SIGNER,
		    "signed by %s, not by the certificate configured for %s", who, from);
		return FALSE;
	}
	certs = CMS_get1_certs(cms);
	for (int i = 0; certs && i < sk_X509_num(certs); i++) {
		X509 *c = sk_X509_value(certs, i);

		if (CMS_SignerInfo_cert_cmp(si, c) == 0 && X509_cmp(c, cert) != 0) {
			g_set_error(error, SMIME_ERROR, SMIME_ERROR_WRONG_SIGNER,
			    "the message carries another certificate than the one "
			    "configured for %s under the same name", from);
			return FALSE;
		}
	}
	return TRUE;
}

/* The signature over the content, by @cert alone.  The content, as signed. */
static GBytes *
check_signature(CMS_ContentInfo *cms, BIO *detached, X509 *cert, GError **error)
{
	g_autoptr(X509Stack) signers = smime_one_cert(cert);
	g_autoptr(BIO) out = smime_new_mem_bio();

	/*
	 * Not CMS_BINARY: detached content is made CRLF first, as S/MIME
	 * signs it (a message handed over by pipe(8) has LF line ends); @out
	 * gets the bytes the digest was taken of.
	 */
	if (!CMS_verify(cms, signers, NULL, detached, out,
		CMS_NO_SIGNER_CERT_VERIFY | CMS_NOINTERN)) {
		smime_refuse_ssl(error, SMIME_ERROR_BAD_SIGNATURE, "bad signature");
		return NULL;
	}
	return smime_bio_bytes(out);
}

/*
 * When it was signed: a signed request is good for @max_age seconds, so
 * that a signed mail of long ago (its text outside the tag, which is not
 * signed) cannot be made a request; 5 minutes ahead are a clock's error.
 */
static gboolean
check_signing_time(CMS_SignerInfo *si, gint64 max_age, GError **error)
{
	int i = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
	X509_ATTRIBUTE *attr = i >= 0 ? CMS_signed_get_attr(si, i) : NULL;
	ASN1_TYPE *t = attr ? X509_ATTRIBUTE_get0_type(attr, 0) : NULL;
	int days, secs;
	gint64 age;

	if (t == NULL || (t->type != V_ASN1_UTCTIME && t->type != V_ASN1_GENERALIZEDTIME) ||
	    !ASN1_TIME_diff(&days, &secs, t->value.utctime, NULL)) {
		g_set_error(error, SMIME_ERROR, SMIME_ERROR_STALE,
		    "the signature says not when it was made (no signing time)");
		return FALSE;
	}
	age = (gint64)days * 86400 + secs;
	if (age > max_age) {
		g_set_error(error, SMIME_ERROR, SMIME_ERROR_STALE,
		    "signed %" G_GINT64_FORMAT " s ago, more than max_signature_age (%"
		    G_GINT64_FORMAT " s)", age, max_age);
		return FALSE;
	}
	if (age < -300) {
		g_set_error(error, SMIME_ERROR, SMIME_ERROR_STALE,
		    "signed %" G_GINT64_FORMAT " s in the future", -age);
		return FALSE;
	}
	return TRUE;
}

/* What tells one signing from another: the signature value's digest. */
static char *
signature_id(CMS_SignerInfo *si)
{
	ASN1_OCTET_STRING *sig = CMS_SignerInfo_get0_signature(si);

	return g_compute_checksum_for_data(G_CHECKSUM_SHA256, ASN1_STRING_get0_data(sig),
	    (gsize)ASN1_STRING_length(sig));
}

/*
 * Verifies signed @cms (content in @detached if detached) as the request
 * of @from: see smime_open().  The content and the signer's address.
 */
static GBytes *
verify(const SmimeConfig *config, CMS_ContentInfo *cms, BIO *detached,
    const char *from, char **signer, char **signature, GError **error)
{
	g_autoptr(X509) cert = NULL;
	g_autoptr(X509Stack) untrusted = NULL;
	g_autofree char *address = NULL;
	CMS_SignerInfo *si;
	GBytes *content;

	if (cms_type(cms) != NID_pkcs7_signed) {
		g_set_error(error, SMIME_ERROR, SMIME_ERROR_MALFORMED,
		    "CMS %s where signed-data was expected", OBJ_nid2sn(cms_type(cms)));
		return NULL;
	}
	if ((si = one_signer(cms, error)) == NULL)
		return NULL;
	if ((CMS_is_detached(cms) != 0) != (detached != NULL)) {
		g_set_error(error, SMIME_ERROR, SMIME_ERROR_MALFORMED,
		    detached ? "multipart/signed with the content inside the signature" :
			       "signed-data without its content");
		return NULL;
	}
	if ((cert = smime_load_address_cert(config, from, error)) == NULL ||
	    !check_signer(cms, si, cert, from, error))
		return NULL;
	if ((address = smime_cert_address(cert, from)) == NULL) {
		g_autofree char *who = smime_cert_name(cert);

		g_set_error(error, SMIME_ERROR, SMIME_ERROR_WRONG_SIGNER,
		    "the certificate configured for %s (%s) does not carry that address",
		    from, who);
		return NULL;
	}
	untrusted = CMS_get1_certs(cms);
	if (!smime_check_chain(config, untrusted, cert, error) ||
	    (content = check_signature(cms, detached, cert, error)) == NULL)
		return NULL;
	if (config->max_age > 0 && !check_signing_time(si, config->max_age, error)) {
		g_bytes_unref(content);
		return NULL;
	}
	*signer = g_steal_pointer(&address);
	*signature = signature_id(si);
	return content;
}

gboolean
smime_open(const SmimeConfig *config, GBytes *message, const char *from,
    SmimeRequest *out, GError **error)
{
	g_autoptr(CMS_ContentInfo) cms = NULL;
	g_autoptr(BIO) detached = NULL;
	g_autoptr(GBytes) inner = NULL;
	g_autoptr(GError) e = NULL;
	gboolean encrypted = FALSE;
	const char *data;
	gsize length;
	char *signer = NULL;
	char *signature = NULL;
	GBytes *content;

	g_return_val_if_fail(config != NULL && message != NULL && from != NULL, FALSE);
	g_return_val_if_fail(out != NULL, FALSE);
	memset(out, 0, sizeof *out);
	data = g_bytes_get_data(message, &length);
	if ((cms = read_smime(data, length, &detached, error)) == NULL)
		return FALSE;
	if (is_enveloped(cms) && detached) {
		g_set_error(error, SMIME_ERROR, SMIME_ERROR_MALFORMED,
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
			g_set_error(error, SMIME_ERROR,
			    e->code == SMIME_ERROR_NOT_SMIME ? SMIME_ERROR_UNSIGNED :
								    e->code,
			    "encrypted, but inside: %s", e->message);
			return FALSE;
		}
		if (is_enveloped(cms)) {
			g_set_error(error, SMIME_ERROR, SMIME_ERROR_UNSIGNED,
			    "encrypted, and inside encrypted again");
			return FALSE;
		}
		encrypted = TRUE;
	}
	content = verify(config, cms, detached, from, &signer, &signature, error);
	ERR_clear_error();
	if (content == NULL)
		return FALSE;
	out->signer = signer;
	out->signature = signature;
	out->encrypted = encrypted;
	out->content = content;
	return TRUE;
}

gboolean
smime_check_server(const SmimeConfig *config, GError **error)
{
	g_autoptr(X509) cert = NULL;
	g_autoptr(EVP_PKEY) key = NULL;
	gboolean ok = smime_load_server(config, &cert, &key, error);

	ERR_clear_error();
	return ok;
}

void
smime_request_clear(SmimeRequest *req)
{
	if (req == NULL)
		return;
	g_clear_pointer(&req->signer, g_free);
	g_clear_pointer(&req->signature, g_free);
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
	g_autoptr(BIO) in = smime_mem_bio(data, length, error);
	g_autoptr(BIO) out = smime_new_mem_bio();
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
		smime_refuse_ssl(error, SMIME_ERROR_MALFORMED, "cannot sign");
		return NULL;
	}
	return as_entity(out);
}

/* @entity enveloped to each certificate of @to: application/pkcs7-mime, AES-256. */
static GBytes *
envelope(X509Stack *to, GBytes *entity, GError **error)
{
	gsize length;
	const void *data = g_bytes_get_data(entity, &length);
	g_autoptr(BIO) in = smime_mem_bio(data, length, error);
	g_autoptr(BIO) out = smime_new_mem_bio();
	g_autoptr(CMS_ContentInfo) cms = NULL;

	if (in == NULL)
		return NULL;
	if ((cms = CMS_encrypt(to, in, EVP_aes_256_cbc(), CMS_BINARY)) == NULL ||
	    !SMIME_write_CMS(out, cms, NULL, CMS_BINARY)) {
		smime_refuse_ssl(error, SMIME_ERROR_MALFORMED, "cannot encrypt");
		return NULL;
	}
	return as_entity(out);
}

/* The certificates in certs_dir of @addresses (NULL-terminated), in order. */
static X509Stack *
address_certs(const SmimeConfig *config, const char *const *addresses, GError **error)
{
	g_autoptr(X509Stack) to = sk_X509_new_null();

	if (to == NULL)
		g_error("OpenSSL: out of memory");
	for (gsize i = 0; addresses[i]; i++) {
		X509 *cert = smime_load_address_cert(config, addresses[i], error);

		if (cert == NULL)
			return NULL;
		if (!sk_X509_push(to, cert))
			g_error("OpenSSL: out of memory");
	}
	return g_steal_pointer(&to);
}

GBytes *
smime_seal(const SmimeConfig *config, GBytes *entity, const char *const *encrypt_to,
    GError **error)
{
	g_autoptr(X509) cert = NULL;
	g_autoptr(EVP_PKEY) key = NULL;
	g_autoptr(X509Stack) to = NULL;
	g_autoptr(GBytes) signed_entity = NULL;
	gboolean encrypt = encrypt_to && encrypt_to[0];
	GBytes *sealed;

	g_return_val_if_fail(config != NULL && entity != NULL, NULL);
	ERR_clear_error();
	if (!smime_load_server(config, &cert, &key, error) ||
	    (encrypt && (to = address_certs(config, encrypt_to, error)) == NULL) ||
	    (signed_entity = sign(cert, key, entity, error)) == NULL)
		sealed = NULL;
	else if (to == NULL)
		sealed = g_steal_pointer(&signed_entity);
	else
		sealed = envelope(to, signed_entity, error);
	ERR_clear_error();
	return sealed;
}
