/*
 * smime.h: mdir-command's S/MIME: what handle.c and answer.c call
 * (smime_open(), smime_seal()), and what smime.c (opening requests,
 * sealing answers) and smime-x509.c (the configuration's files, the
 * addresses a certificate carries, its chain to the CA) share.  Here, not
 * in libmdir: OpenSSL stays in the programs that use it (STYLE), and
 * libmdir linking libcrypto costs every mdir-receive run.
 */
#ifndef SMIME_H
#define SMIME_H

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

/* The interface ------------------------------------------------------------ */

/*
 * Requests to mdir-command signed (and maybe encrypted) with S/MIME, and
 * its answers (DESIGN §4 mdir-command; issue 12), on OpenSSL's CMS.  The
 * trust is ours, not the message's: a request counts only if signed by
 * the very certificate configured for its From address, which chains to
 * the site's CA.
 */
#define SMIME_ERROR (smime_error_quark())

/* Why a request was refused.  The error's message says more, for the log. */
typedef enum {
	SMIME_ERROR_NOT_SMIME,	/* no S/MIME type at the top */
	SMIME_ERROR_MALFORMED,	/* S/MIME that cannot be read */
	SMIME_ERROR_DECRYPT,	/* enveloped, but not for our key */
	SMIME_ERROR_BAD_SIGNATURE, /* the content is not what was signed */
	SMIME_ERROR_UNTRUSTED,	/* no chain to the CA (or no CRL for it) */
	SMIME_ERROR_EXPIRED,	/* a certificate expired or not yet valid */
	SMIME_ERROR_REVOKED,	/* the signer's certificate is in the CRL */
	SMIME_ERROR_NO_CERT,	/* no certificate configured for the address */
	SMIME_ERROR_WRONG_SIGNER,	/* signed by another certificate, or the
					 * configured one lacks the address */
	SMIME_ERROR_UNSIGNED,	/* encrypted only, or signed by nobody */
	SMIME_ERROR_STALE,	/* no signing time, or older than max_age,
				 * or in the future */
} SmimeError;

GQuark smime_error_quark(void);

/* The name of an SMIME_ERROR code, "WRONG_SIGNER", for the log; "?" if none. */
const char *smime_error_name(int code);

/* Where the keys and certificates are: PEM files, read at each call. */
typedef struct SmimeConfig {
	const char *ca_file;	 /* CA certificate(s) the senders' chain to */
	const char *crl_file;	 /* CRL(s) of that CA, or NULL: none checked */
	/*
	 * One certificate per sender, DIR/<address>.pem, the address as
	 * mdir_address_normalize() gives it (lower case, U-labels, NFC); an
	 * address that is not a safe file name (mdir_name_is_safe()) is
	 * refused, never opened.
	 */
	const char *certs_dir;
	const char *server_cert; /* ours: signs answers, decrypts requests */
	const char *server_key;	 /* its private key */
	gint64 max_age;		 /* seconds a signature may be old; 0: any */
} SmimeConfig;

/* What an accepted request holds.  Clear with smime_request_clear(). */
typedef struct {
	char *signer;	    /* the address in the signer's certificate that
			     * matched @from, as the certificate writes it */
	gboolean encrypted; /* the request was enveloped to us */
	GBytes *content;    /* the signed MIME entity (headers, blank line,
			     * body), as signed: CRLF line ends */
	char *signature;    /* SHA-256 (hex) of the signer's signature value:
			     * the same for a replayed request, new for each
			     * signing (its signed attributes hold the time) */
} SmimeRequest;

/*
 * Opens a request: @message the whole raw message as received (RFC 5322,
 * LF or CRLF line ends), @from its From address (parsed by the caller).
 * Takes multipart/signed (detached; application/pkcs7-signature or
 * x-pkcs7-signature), application/pkcs7-mime signed-data, and
 * enveloped-data (decrypted with the server's key), whose content must
 * then be signed in one of the two forms: Thunderbird's
 * signed-then-encrypted.  Accepted only if: one signer, whose certificate
 * is byte for byte the one in certs_dir for @from and carries @from
 * (subjectAltName rfc822Name or SmtpUTF8Mailbox, or subject emailAddress;
 * compared as mdir_address_normalize() gives them), chains to ca_file for
 * S/MIME signing, is valid now and not revoked by crl_file; and the
 * signature holds over the content.  @out is filled then (transfer full:
 * smime_request_clear()).
 *
 * Errors: SMIME_ERROR, a code by cause (above), when the request is
 * refused; G_FILE_ERROR (a file of the configuration unreadable, with its
 * path) or MDIR_ERROR_CONFIG (not PEM, the key not the certificate's)
 * when the setup is broken, whatever the request.  @out is then left
 * empty.
 */
gboolean smime_open(const SmimeConfig *config, GBytes *message,
    const char *from, SmimeRequest *out, GError **error);

/* Frees what @req holds and empties it; a cleared or empty one is fine. */
void smime_request_clear(SmimeRequest *req);

/* g_auto(SmimeRequest) req = { 0 }; */
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SmimeRequest, smime_request_clear)

/*
 * Seals an answer: @entity a MIME entity (Content-Type and the other
 * content headers, a blank line, the body; CRLF line ends, LF made CRLF;
 * 7-bit, since a relay that makes 8-bit mail 7-bit breaks a signature).
 * Returns it signed with the server's certificate and key (multipart/signed,
 * detached, SHA-256, application/pkcs7-signature, our certificate
 * included) and, if @encrypt_to (NULL-terminated) names anyone, that
 * entity enveloped to the certificate in certs_dir of each address in it,
 * any of whom can open it (application/pkcs7-mime;
 * smime-type=enveloped-data, AES-256-CBC).  The result is a MIME entity,
 * CRLF line ends: the caller puts From, To, Subject, Date, Message-ID and
 * MIME-Version in front.  Errors: SMIME_ERROR_NO_CERT (none for an
 * address of @encrypt_to), G_FILE_ERROR, MDIR_ERROR_CONFIG as smime_open().
 * Transfer full: g_bytes_unref().
 */
GBytes *smime_seal(const SmimeConfig *config, GBytes *entity,
    const char *const *encrypt_to, GError **error);

/*
 * Whether the server's certificate and key can be read and belong
 * together: checked before anything runs, so that an answer is never
 * lost for a broken key after the commands ran.  Errors: G_FILE_ERROR,
 * MDIR_ERROR_CONFIG, as smime_open().
 */
gboolean smime_check_server(const SmimeConfig *config, GError **error);

typedef STACK_OF(X509) X509Stack;
typedef STACK_OF(X509_INFO) X509InfoStack;

static inline void
x509_stack_free(X509Stack *s)
{
	sk_X509_pop_free(s, X509_free);
}

static inline void
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
char *smime_ssl_reason(void);

/* Sets @code of SMIME_ERROR, "@what: OpenSSL's reason".  FALSE. */
gboolean smime_refuse_ssl(GError **error, SmimeError code, const char *what);

/* A read-only memory BIO over @data (MALFORMED past 2 GiB). */
BIO *smime_mem_bio(const void *data, gsize length, GError **error);

/* An empty memory BIO to write to. */
BIO *smime_new_mem_bio(void);

/* What a memory BIO holds, copied.  Transfer full. */
GBytes *smime_bio_bytes(BIO *bio);

/* A stack holding a reference to @cert alone.  Transfer full. */
X509Stack *smime_one_cert(X509 *cert);

/* The server's certificate and its key, checked to belong together. */
gboolean smime_load_server(const SmimeConfig *config, X509 **cert, EVP_PKEY **key,
    GError **error);

/*
 * The certificate configured for @address, certs_dir/<normalised>.pem;
 * SMIME_ERROR_NO_CERT if none, or if @address would not be a plain
 * file name (never opened then).
 */
X509 *smime_load_address_cert(const SmimeConfig *config, const char *address,
    GError **error);

/* The address of @cert that is @from, as the certificate writes it, or NULL. */
char *smime_cert_address(X509 *cert, const char *from);

/* Who @cert is, for the log: its subject, one line.  Transfer full. */
char *smime_cert_name(X509 *cert);

/*
 * @cert's chain to the CA, for S/MIME signing, now, its issuer's CRL
 * checked if one is configured; @untrusted (may be NULL): intermediates
 * that came with the message.  UNTRUSTED, EXPIRED or REVOKED if not.
 */
gboolean smime_check_chain(const SmimeConfig *config, X509Stack *untrusted, X509 *cert,
    GError **error);

#endif /* SMIME_H */
