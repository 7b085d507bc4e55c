/*
 * fuzz-smime.c: smime_open() (smime.c) on any message: OpenSSL's
 * MIME reader and CMS decoder, then our checks.  One key made at start
 * serves as the CA, the server and alice@example.org's certificate, so
 * that enveloped inputs reach the decryption and signed ones the signer
 * checks.  Seeds (tests/fuzz/seeds/smime): requests from t/7010's
 * clients, openssl cms and smime.  A refusal must say why, and leave the
 * request empty.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fuzz.h"
#include "smime.h"

static SmimeConfig config;

/* @key (or @cert) as PEM in the scratch directory's @name. */
static char *
write_pem(const char *name, EVP_PKEY *key, X509 *cert)
{
	char *path = g_build_filename(fuzz_scratch(), name, NULL);
	g_autofree char *dir = g_path_get_dirname(path);
	FILE *f;

	if (g_mkdir_with_parents(dir, 0700) != 0 || (f = fopen(path, "w")) == NULL)
		abort();
	if (!(key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) :
		    PEM_write_X509(f, cert)) ||
	    fclose(f) != 0)
		abort();
	return path;
}

/* A certificate of @key by itself, for alice@example.org, valid now. */
static X509 *
self_signed(EVP_PKEY *key)
{
	X509 *c = X509_new();
	X509_NAME *name = X509_get_subject_name(c);
	X509_EXTENSION *san;
	X509V3_CTX ctx;

	if (c == NULL || !X509_set_version(c, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(c), 1) ||
	    !X509_gmtime_adj(X509_getm_notBefore(c), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(c), 3600L * 24 * 365) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
		(const unsigned char *)"fuzz", -1, -1, 0) ||
	    !X509_set_issuer_name(c, name) || !X509_set_pubkey(c, key))
		abort();
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, c, c, NULL, NULL, 0);
	san = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "email:alice@example.org");
	if (san == NULL || !X509_add_ext(c, san, -1) || !X509_sign(c, key, EVP_sha256()))
		abort();
	X509_EXTENSION_free(san);
	return c;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);
	X509 *cert = key ? self_signed(key) : NULL;

	(void)argc;
	(void)argv;
	if (cert == NULL)
		abort();
	config.server_key = write_pem("key.pem", key, NULL);
	config.server_cert = write_pem("cert.pem", NULL, cert);
	config.ca_file = config.server_cert;
	g_free(write_pem("certs/alice@example.org.pem", NULL, cert));
	config.certs_dir = g_build_filename(fuzz_scratch(), "certs", NULL);
	X509_free(cert);
	EVP_PKEY_free(key);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GBytes) message = g_bytes_new_static(data, size);
	g_auto(SmimeRequest) req = { 0 };
	g_autoptr(GError) e = NULL;

	if (smime_open(&config, message, "alice@example.org", &req, &e)) {
		if (req.signer == NULL || req.content == NULL)
			abort();
	} else if (e == NULL || e->message == NULL || req.signer || req.content) {
		abort();
	}
	return 0;
}
