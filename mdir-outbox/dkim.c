/*
 * dkim.c: DKIM signatures (RFC 6376), rsa-sha256 and ed25519-sha256
 * (RFC 8463), relaxed/relaxed, with OpenSSL.
 *
 * OpenSSL lives here and not in libmdir on purpose: loading libcrypto
 * costs every mdir-receive process a third of its start-up, and only the
 * outbox signs.  The body is hashed as it streams; the header block is
 * small and held whole.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "outbox.h"

struct DkimKey {
	EVP_PKEY *pkey;
	gboolean ed25519;
	char *path;
};

/*
 * What we sign, in this order.  Singletons are oversigned (RFC 6376 §8.15),
 * present or not: a replayer who adds a Reply-To, a Cc or a Content-Type
 * to a signed message breaks the signature.  List fields are signed as
 * they are; a list manager may add its own.
 */
static const struct {
	const char *name;
	gboolean singleton;
} signed_headers[] = {
	{ "from", TRUE },	      { "sender", TRUE },
	{ "reply-to", TRUE },	      { "subject", TRUE },
	{ "date", TRUE },	      { "message-id", TRUE },
	{ "to", TRUE },		      { "cc", TRUE },
	{ "in-reply-to", TRUE },      { "references", TRUE },
	{ "mime-version", TRUE },     { "content-type", TRUE },
	{ "content-transfer-encoding", TRUE },
	{ "list-id", FALSE },	      { "list-help", FALSE },
	{ "list-unsubscribe", FALSE }, { "list-unsubscribe-post", FALSE },
	{ "list-subscribe", FALSE },  { "list-post", FALSE },
	{ "list-owner", FALSE },      { "list-archive", FALSE },
};

DkimKey *
dkim_key_load(const char *path, gboolean ed25519, GError **error)
{
	struct stat st;
	FILE *fp;
	DkimKey *k;
	EVP_PKEY *pkey;

	if (stat(path, &st) < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", path,
		    g_strerror(errno));
		return NULL;
	}
	if (st.st_mode & 077) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "%s: a private key readable by group or others (mode %04o); chmod 600 it",
		    path, (unsigned)(st.st_mode & 07777));
		return NULL;
	}
	fp = fopen(path, "re");
	if (fp == NULL) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", path,
		    g_strerror(errno));
		return NULL;
	}
	pkey = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (pkey == NULL || (ed25519 ? EVP_PKEY_id(pkey) != EVP_PKEY_ED25519 :
	    EVP_PKEY_id(pkey) != EVP_PKEY_RSA)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG, "%s: not a PEM %s private key",
		    path, ed25519 ? "Ed25519" : "RSA");
		EVP_PKEY_free(pkey);
		return NULL;
	}
	k = g_new0(DkimKey, 1);
	k->pkey = pkey;
	k->ed25519 = ed25519;
	k->path = g_strdup(path);
	return k;
}

void
dkim_key_free(DkimKey *key)
{
	if (key == NULL)
		return;
	EVP_PKEY_free(key->pkey);
	g_free(key->path);
	g_free(key);
}

char *
dkim_key_record(const DkimKey *key)
{
	unsigned char raw[32];
	size_t len = sizeof(raw);
	unsigned char *der = NULL;
	g_autofree char *b64 = NULL;
	int n;

	if (key->ed25519) {
		/* RFC 8463 §4: the raw 32-byte public key, not SubjectPublicKeyInfo */
		if (EVP_PKEY_get_raw_public_key(key->pkey, raw, &len) != 1)
			return NULL;
		b64 = g_base64_encode(raw, len);
		return g_strdup_printf("v=DKIM1; k=ed25519; p=%s", b64);
	}
	n = i2d_PUBKEY(key->pkey, &der);
	if (n <= 0)
		return NULL;
	b64 = g_base64_encode(der, n);
	OPENSSL_free(der);
	return g_strdup_printf("v=DKIM1; k=rsa; p=%s", b64);
}

/* Canonicalisation ---------------------------------------------------------- */

static gboolean
wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 6376 §3.4.2: one raw field (folded, any line ends) into "name:value\r\n". */
char *
dkim_relaxed_header(const char *field, gsize len)
{
	GString *s = g_string_sized_new(len + 2);
	const char *colon = memchr(field, ':', len);
	const char *p, *end = field + len;
	gboolean space = FALSE;

	if (colon == NULL)
		colon = end;
	for (p = field; p < colon; p++)
		if (!wsp(*p))
			g_string_append_c(s, g_ascii_tolower(*p));
	g_string_append_c(s, ':');
	gboolean started = FALSE;

	for (p = colon < end ? colon + 1 : end; p < end; p++) {
		if (*p == '\r' || *p == '\n')
			continue; /* unfold */
		if (wsp(*p)) {
			space = TRUE;
			continue;
		}
		/* whitespace after the colon goes; inside, a run is one space */
		if (space && started)
			g_string_append_c(s, ' ');
		space = FALSE;
		started = TRUE;
		g_string_append_c(s, *p);
	}
	g_string_append(s, "\r\n");
	return g_string_free(s, FALSE);
}

/* RFC 6376 §3.4.4, streamed: lines in, canonical bytes into the hash. */
struct DkimBody {
	EVP_MD_CTX *md;
	GString *line;
	guint blank; /* empty lines held back: trailing ones are dropped */
};

DkimBody *
dkim_body_new(void)
{
	DkimBody *b = g_new0(DkimBody, 1);

	b->md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(b->md, EVP_sha256(), NULL);
	b->line = g_string_new(NULL);
	return b;
}

static void
body_line(DkimBody *b)
{
	GString *l = b->line;
	g_autoptr(GString) c = g_string_sized_new(l->len + 2);
	gboolean space = FALSE;

	if (l->len > 0 && l->str[l->len - 1] == '\r')
		g_string_truncate(l, l->len - 1);
	for (gsize i = 0; i < l->len; i++) {
		if (wsp(l->str[i])) {
			space = TRUE;
			continue;
		}
		if (space)
			g_string_append_c(c, ' ');
		space = FALSE;
		g_string_append_c(c, l->str[i]);
	}
	g_string_truncate(l, 0);
	if (c->len == 0) {
		b->blank++;
		return;
	}
	for (; b->blank > 0; b->blank--)
		EVP_DigestUpdate(b->md, "\r\n", 2);
	g_string_append(c, "\r\n");
	EVP_DigestUpdate(b->md, c->str, c->len);
}

void
dkim_body_update(DkimBody *b, const char *data, gsize len)
{
	const char *p = data, *end = data + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);

		if (nl == NULL) {
			g_string_append_len(b->line, p, end - p);
			return;
		}
		g_string_append_len(b->line, p, nl - p);
		body_line(b);
		p = nl + 1;
	}
}

/* The body hash, base64.  An empty body hashes as "" in relaxed. */
char *
dkim_body_finish(DkimBody *b)
{
	unsigned char h[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char *out;

	if (b->line->len > 0)
		body_line(b); /* a last line without its line end */
	EVP_DigestFinal_ex(b->md, h, &n);
	out = g_base64_encode(h, n);
	EVP_MD_CTX_free(b->md);
	g_string_free(b->line, TRUE);
	g_free(b);
	return out;
}

/* Signing ------------------------------------------------------------------- */

/* Fields named @name in @fields, counted. */
static guint
count_named(GPtrArray *fields, const char *name)
{
	guint n = 0;

	for (guint i = 0; i < fields->len; i++)
		if (g_ascii_strcasecmp(header_name(fields->pdata[i]), name) == 0)
			n++;
	return n;
}

/* The h= list: each field once per instance, singletons once more. */
static GPtrArray *
choose_headers(GPtrArray *fields)
{
	GPtrArray *h = g_ptr_array_new();

	for (gsize i = 0; i < G_N_ELEMENTS(signed_headers); i++) {
		guint n = count_named(fields, signed_headers[i].name);

		/* one more than there are, absent ones included: none can be added */
		if (signed_headers[i].singleton)
			n++;
		for (guint j = 0; j < n; j++)
			g_ptr_array_add(h, (gpointer)(guintptr)signed_headers[i].name);
	}
	return h;
}

/* The canonical header data the signature covers, without the DKIM field. */
static void
hash_fields(GString *data, GPtrArray *fields, GPtrArray *h)
{
	g_autoptr(GHashTable) used = g_hash_table_new(g_str_hash, g_str_equal);

	for (guint i = 0; i < h->len; i++) {
		const char *name = h->pdata[i];
		guint skip = GPOINTER_TO_UINT(g_hash_table_lookup(used, name));
		guint seen = 0;

		g_hash_table_insert(used, (gpointer)(guintptr)name, GUINT_TO_POINTER(skip + 1));
		/* instances are taken from the bottom up (RFC 6376 §5.4.2) */
		for (guint j = fields->len; j-- > 0;) {
			HeaderField *f = fields->pdata[j];

			if (g_ascii_strcasecmp(header_name(f), name) != 0 || seen++ < skip)
				continue;
			{
				g_autofree char *c = dkim_relaxed_header(f->raw, f->len);

				g_string_append(data, c);
			}
			break;
		}
	}
}

static gboolean
sign_bytes(const DkimKey *key, const GString *data, unsigned char **sig, size_t *len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char digest[32];
	const unsigned char *in = (const unsigned char *)data->str;
	size_t inlen = data->len;
	gboolean ok;

	if (key->ed25519) {
		/* RFC 8463 §3: Ed25519 over the SHA-256 of the data, not the data */
		EVP_Digest(data->str, data->len, digest, NULL, EVP_sha256(), NULL);
		in = digest;
		inlen = sizeof(digest);
	}
	ok = EVP_DigestSignInit(ctx, NULL, key->ed25519 ? NULL : EVP_sha256(), NULL, key->pkey) ==
		1 &&
	    EVP_DigestSign(ctx, NULL, len, in, inlen) == 1;
	if (ok) {
		*sig = g_malloc(*len);
		ok = EVP_DigestSign(ctx, *sig, len, in, inlen) == 1;
	}
	EVP_MD_CTX_free(ctx);
	return ok;
}

/*
 * @s folded once past 72 columns, only where RFC 6376 allows white space
 * in a tag list: after "; " between tags, after ':' between header names.
 */
static void
append_folded(GString *out, const char *s, gsize *col)
{
	for (const char *p = s; *p; p++) {
		if (*col >= 72 && p > s && (p[-1] == ' ' || p[-1] == ':')) {
			g_string_append(out, "\r\n\t");
			*col = 1;
		}
		g_string_append_c(out, *p);
		(*col)++;
	}
}

char *
dkim_sign(const DkimKey *key, const char *domain, const char *selector, GPtrArray *fields,
    const char *body_hash, gint64 now, GError **error)
{
	g_autoptr(GPtrArray) h = choose_headers(fields);
	g_autoptr(GString) field = g_string_new("DKIM-Signature: ");
	g_autoptr(GString) data = g_string_new(NULL);
	g_autoptr(GString) hl = g_string_new(NULL);
	g_autofree char *tags = NULL;
	g_autofree char *canon = NULL;
	g_autofree char *b64 = NULL;
	g_autofree unsigned char *sig = NULL;
	gsize col = field->len;
	size_t siglen = 0;

	for (guint i = 0; i < h->len; i++)
		g_string_append_printf(hl, "%s%s", i ? ":" : "", (char *)h->pdata[i]);
	tags = g_strdup_printf("v=1; a=%s; c=relaxed/relaxed; d=%s; s=%s; t=%" G_GINT64_FORMAT
			       "; h=%s; bh=%s; b=",
	    key->ed25519 ? "ed25519-sha256" : "rsa-sha256", domain, selector, now, hl->str,
	    body_hash);
	append_folded(field, tags, &col);
	hash_fields(data, fields, h);
	/* the signature field itself, b= empty, canonical, without its CRLF */
	canon = dkim_relaxed_header(field->str, field->len);
	g_string_append_len(data, canon, strlen(canon) - 2);
	if (!sign_bytes(key, data, &sig, &siglen)) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_FAILED, "%s: signing failed", key->path);
		return NULL;
	}
	b64 = g_base64_encode(sig, siglen);
	for (const char *p = b64; *p; p++) {
		if (col >= 76) {
			g_string_append(field, "\r\n\t");
			col = 1;
		}
		g_string_append_c(field, *p);
		col++;
	}
	g_string_append(field, "\r\n");
	return g_string_free(g_steal_pointer(&field), FALSE);
}

char *
outbox_selector(const MdirConfig *config, gboolean ed25519)
{
	const char *s = mdir_config_get(config, "outbox", "dkim_selector");
	const char *e = mdir_config_get(config, "outbox", "dkim_ed25519_selector");

	/* one TXT record a selector: the Ed25519 key needs a name of its own */
	if (!ed25519)
		return g_strdup(s);
	return e ? g_strdup(e) : g_strconcat(s, "-ed25519", NULL);
}
