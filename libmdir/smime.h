/*
 * smime.h: what smime.c (opening requests, sealing answers) and
 * smime-x509.c (the configuration's files, the addresses a certificate
 * carries, its chain to the CA) share.  OpenSSL's types stay in here and
 * out of mdir.h.
 */
#ifndef MDIR_SMIME_H
#define MDIR_SMIME_H

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

/* Sets @code of MDIR_SMIME_ERROR, "@what: OpenSSL's reason".  FALSE. */
gboolean smime_refuse_ssl(GError **error, MdirSmimeError code, const char *what);

/* A read-only memory BIO over @data (MALFORMED past 2 GiB). */
BIO *smime_mem_bio(const void *data, gsize length, GError **error);

/* An empty memory BIO to write to. */
BIO *smime_new_mem_bio(void);

/* What a memory BIO holds, copied.  Transfer full. */
GBytes *smime_bio_bytes(BIO *bio);

/* A stack holding a reference to @cert alone.  Transfer full. */
X509Stack *smime_one_cert(X509 *cert);

/* The server's certificate and its key, checked to belong together. */
gboolean smime_load_server(const MdirSmimeConfig *config, X509 **cert, EVP_PKEY **key,
    GError **error);

/*
 * The certificate configured for @address, certs_dir/<normalised>.pem;
 * MDIR_SMIME_ERROR_NO_CERT if none, or if @address would not be a plain
 * file name (never opened then).
 */
X509 *smime_load_address_cert(const MdirSmimeConfig *config, const char *address,
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
gboolean smime_check_chain(const MdirSmimeConfig *config, X509Stack *untrusted, X509 *cert,
    GError **error);

#endif /* MDIR_SMIME_H */
