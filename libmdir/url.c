/*
 * url.c: mstore: URLs (DESIGN §3) and the SHA-256 helpers that key the
 * store (sha256.c does the hashing).  A Message-ID may hold almost anything, so the URL
 * percent-encodes every byte outside RFC 3986's unreserved set and the few
 * characters Message-IDs commonly carry ('@', '!', '$', '+', '=', ...).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "mdir.h"
#include "private.h"

#define URL_SCHEME "mstore:"
#define URL_KEEP "!$&'()*+,;=@"

char *
mdir_url_build(const char *message_id, guint part)
{
	g_autofree char *escaped = NULL;

	g_return_val_if_fail(message_id != NULL, NULL);
	escaped = g_uri_escape_string(message_id, URL_KEEP, FALSE);
	return g_strdup_printf(URL_SCHEME "%s/%u", escaped, part);
}

gboolean
mdir_url_parse(const char *url, char **message_id, guint *part, GError **error)
{
	const char *slash;
	g_autofree char *id = NULL;
	guint64 n;

	g_return_val_if_fail(url != NULL, FALSE);
	if (!g_str_has_prefix(url, URL_SCHEME))
		goto bad;
	url += strlen(URL_SCHEME);
	slash = strrchr(url, '/');
	if (slash == NULL || slash == url)
		goto bad;
	if (!g_ascii_string_to_unsigned(slash + 1, 10, 0, G_MAXUINT, &n, NULL))
		goto bad;
	id = g_uri_unescape_segment(url, slash, NULL);
	if (id == NULL || *id == '\0')
		goto bad;
	if (message_id)
		*message_id = g_steal_pointer(&id);
	if (part)
		*part = (guint)n;
	return TRUE;
bad:
	g_set_error(error, MDIR_ERROR, MDIR_ERROR_BAD_URL,
	    "%s%s: not an mstore URL (mstore:<message-id>/<part>)",
	    g_str_has_prefix(url, URL_SCHEME) ? URL_SCHEME : "", url);
	return FALSE;
}

char *
mdir_sha256_hex(const void *data, gsize length)
{
	MdirSha256 ctx;
	char *hex = g_malloc(65);

	mdir_sha256_init(&ctx);
	mdir_sha256_update(&ctx, data, length);
	mdir_sha256_final_hex(&ctx, hex);
	return hex;
}

char *
mdir_sha256_file(const char *path, GError **error)
{
	MdirSha256 ctx;
	char buf[65536];
	char *hex;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		mdir_set_errno(error, errno, path);
		return NULL;
	}
	mdir_sha256_init(&ctx);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			mdir_set_errno(error, errno, path);
			close(fd);
			return NULL;
		}
		mdir_sha256_update(&ctx, buf, n);
	}
	close(fd);
	hex = g_malloc(65);
	mdir_sha256_final_hex(&ctx, hex);
	return hex;
}
