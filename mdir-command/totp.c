/*
 * totp.c: one-time passwords, RFC 6238 over RFC 4226 (HMAC-SHA1, steps of
 * 30 s, 6 digits), as every authenticator app and oathtool(1) make them;
 * the secrets file ("address base32-secret" a line) read only if it is
 * as private as ssh wants its keys: a secret others may read is no secret.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "command.h"

#define SECRETS_MAX (1 << 20)
#define SECRET_BYTES 20 /* 160 bits, as RFC 4226 recommends for SHA-1 */

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

GBytes *
totp_base32_decode(const char *text)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	guint32 acc = 0;
	int bits = 0;

	for (const char *p = text; *p; p++) {
		const char *at;
		guint8 byte;

		if (*p == ' ' || *p == '\t' || *p == '=' || *p == '-')
			continue;
		at = strchr(b32, g_ascii_toupper(*p));
		if (at == NULL || *p == '\0')
			return NULL;
		acc = (acc << 5) | (guint32)(at - b32);
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			byte = (guint8)(acc >> bits);
			g_byte_array_append(out, &byte, 1);
		}
	}
	if (out->len == 0)
		return NULL;
	return g_byte_array_free_to_bytes(g_steal_pointer(&out));
}

char *
totp_base32_encode(const guint8 *data, gsize len)
{
	GString *s = g_string_new(NULL);
	guint32 acc = 0;
	int bits = 0;

	for (gsize i = 0; i < len; i++) {
		acc = (acc << 8) | data[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			g_string_append_c(s, b32[(acc >> bits) & 31]);
		}
	}
	if (bits > 0)
		g_string_append_c(s, b32[(acc << (5 - bits)) & 31]);
	return g_string_free(s, FALSE);
}

char *
totp_hotp(const guint8 *key, gsize keylen, guint64 counter, guint digits)
{
	guint8 msg[8];
	guint8 mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	guint32 bin;
	guint32 mod = 1;
	int off;

	g_return_val_if_fail(digits >= 6 && digits <= 9, NULL);
	for (int i = 7; i >= 0; i--, counter >>= 8)
		msg[i] = (guint8)(counter & 0xff);
	if (HMAC(EVP_sha1(), key, (int)keylen, msg, sizeof(msg), mac, &maclen) == NULL ||
	    maclen < 20)
		return NULL;
	/* RFC 4226 5.3: dynamic truncation */
	off = mac[maclen - 1] & 0x0f;
	bin = ((guint32)(mac[off] & 0x7f) << 24) | ((guint32)mac[off + 1] << 16) |
	    ((guint32)mac[off + 2] << 8) | mac[off + 3];
	for (guint i = 0; i < digits; i++)
		mod *= 10;
	return g_strdup_printf("%0*u", (int)digits, bin % mod);
}

gint64
totp_match(GBytes *key, const char *code, gint64 now_step, guint window)
{
	gsize len;
	const guint8 *k = g_bytes_get_data(key, &len);

	if (code == NULL || strlen(code) != TOTP_DIGITS)
		return -1;
	for (gint64 s = now_step - window; s <= now_step + (gint64)window; s++) {
		g_autofree char *want = s >= 0 ? totp_hotp(k, len, (guint64)s, TOTP_DIGITS) : NULL;

		/* compared in constant time: how much matched is not told */
		if (want && CRYPTO_memcmp(want, code, TOTP_DIGITS) == 0)
			return s;
	}
	return -1;
}

/* The secrets file, read only if it is ours and private. */
static char *
read_secrets(const char *path, gboolean missing_ok, GError **error)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	g_autofree char *buf = NULL;
	gssize got;

	if (fd < 0 && errno == ENOENT && missing_ok)
		return g_strdup("");
	if (fd < 0) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG, "totp_secrets %s: %s", path,
		    g_strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
		    "totp_secrets %s: mode %04o, owner %u: it must be a file of uid %u that "
		    "nobody else may read (chmod 600); not read", path,
		    (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)geteuid());
		close(fd);
		return NULL;
	}
	buf = g_malloc(SECRETS_MAX + 1);
	got = read(fd, buf, SECRETS_MAX + 1);
	close(fd);
	if (got < 0 || got > SECRETS_MAX) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG, "totp_secrets %s: %s", path,
		    got < 0 ? g_strerror(errno) : "larger than 1 MB");
		return NULL;
	}
	buf[got] = '\0';
	return g_steal_pointer(&buf);
}

/* Splits "address secret" (blanks around); FALSE for a comment or a blank. */
static gboolean
secret_line(char *line, char **address, char **secret)
{
	char *sp;

	g_strstrip(line);
	if (*line == '\0' || *line == '#')
		return FALSE;
	sp = line + strcspn(line, " \t");
	if (*sp == '\0')
		return FALSE;
	*sp++ = '\0';
	*address = line;
	*secret = g_strstrip(sp);
	return TRUE;
}

static gboolean
same_address(const char *a, const char *b)
{
	g_autofree char *na = mdir_address_normalize(a);
	g_autofree char *nb = mdir_address_normalize(b);

	return na && nb && strcmp(na, nb) == 0;
}

GBytes *
totp_secret_lookup(const char *path, const char *address, GError **error)
{
	g_autofree char *text = read_secrets(path, FALSE, error);
	g_auto(GStrv) lines = NULL;

	if (text == NULL)
		return NULL;
	lines = g_strsplit(text, "\n", -1);
	for (char **l = lines; *l; l++) {
		char *addr, *secret;

		if (secret_line(*l, &addr, &secret) && same_address(addr, address)) {
			GBytes *key = totp_base32_decode(secret);

			if (key == NULL)
				g_set_error(error, MDIR_ERROR, MDIR_ERROR_CONFIG,
				    "totp_secrets %s: line %d: not a base32 secret", path,
				    (int)(l - lines) + 1);
			return key;
		}
	}
	return NULL;
}

/* Writes @text to @path as a new private file: temporary, fsync, rename. */
static gboolean
write_private(const char *path, const char *text, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *tmp = g_strconcat(path, ".XXXXXX", NULL);
	gsize len = strlen(text);
	int fd;

	if (!mdir_mkdir_durable(dir, error))
		return FALSE;
	fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
	if (fd < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", tmp,
		    g_strerror(errno));
		return FALSE;
	}
	/* the file is written, then synced, then renamed, then its directory
	 * synced: a crash leaves the old file or the new one */
	if (write(fd, text, len) != (gssize)len || fsync(fd) < 0 || close(fd) < 0 ||
	    rename(tmp, path) < 0) {
		int errsv = errno;

		unlink(tmp);
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errsv), "%s: %s", path,
		    g_strerror(errsv));
		return FALSE;
	}
	return mdir_fsync_dir(dir, error);
}

gboolean
totp_enrol(const char *path, const char *address, char **secret, GError **error)
{
	g_autofree char *old = read_secrets(path, TRUE, error);
	g_autoptr(GString) out = g_string_new(NULL);
	g_auto(GStrv) lines = NULL;
	g_autofree char *norm = mdir_address_normalize(address);
	guint8 raw[SECRET_BYTES];

	*secret = NULL;
	if (old == NULL)
		return FALSE;
	if (norm == NULL || strchr(address, '@') == NULL ||
	    strpbrk(address, " \t\r\n") != NULL) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_USAGE, "'%s' is not an address", address);
		return FALSE;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		g_set_error(error, MDIR_ERROR, MDIR_ERROR_FAILED, "no random bytes (RAND_bytes)");
		return FALSE;
	}
	*secret = totp_base32_encode(raw, sizeof(raw));
	OPENSSL_cleanse(raw, sizeof(raw));
	lines = g_strsplit(old, "\n", -1);
	for (char **l = lines; *l; l++) {
		g_autofree char *copy = g_strdup(*l);
		char *addr, *s;

		if (secret_line(copy, &addr, &s) && same_address(addr, address))
			continue;
		if (**l != '\0')
			g_string_append_printf(out, "%s\n", *l);
	}
	g_string_append_printf(out, "%s %s\n", address, *secret);
	return write_private(path, out->str, error);
}

char *
totp_uri(const char *address, const char *secret)
{
	g_autofree char *label = g_uri_escape_string(address, NULL, FALSE);

	return g_strdup_printf("otpauth://totp/mdir:%s?secret=%s&issuer=mdir&algorithm=SHA1"
			       "&digits=%d&period=%d", label, secret, TOTP_DIGITS, TOTP_STEP);
}
