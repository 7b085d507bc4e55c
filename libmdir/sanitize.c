/*
 * sanitize.c: names that came from a message, made safe to be file names
 * (DESIGN §6).  Attachment names are attacker-controlled: "../../etc/passwd",
 * ".htaccess", 300-byte names, invalid UTF-8 and control characters all
 * arrive in real mail.  The result is a single path component that every
 * file system and sync client we know of accepts, with the extension kept
 * so that programs still recognise the type.
 */
#include <string.h>

#include <glib.h>

#include "mdir.h"
#include "private.h"

/*
 * Code points refused in names (mdir(5) "Names").  A code point is never
 * compared as a byte: strchr() would see only its low byte, and take
 * U+043E for '>' and U+4E00 for the end of the string.
 */
static gboolean
is_forbidden(gunichar c)
{
	if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
		return TRUE; /* C0, DEL, C1 */
	/* bidi controls (Bidi_Control): "txt.exe" shown as "exe.txt" */
	if (c == 0x061c || c == 0x200e || c == 0x200f || (c >= 0x202a && c <= 0x202e) ||
	    (c >= 0x2066 && c <= 0x2069))
		return TRUE;
	switch (c) {
	case '/': case '\\': case ':': case '*': case '?': case '"': case '<': case '>':
	case '|':
		return TRUE; /* refused by Windows, macOS or the common sync clients */
	default:
		return FALSE;
	}
}

/* Valid UTF-8 with each invalid byte replaced by '_'. */
static GString *
make_valid(const char *name, gsize len)
{
	GString *s = g_string_sized_new(len);
	const char *p = name, *end = name + len;

	while (p < end) {
		const char *bad;

		if (g_utf8_validate(p, end - p, &bad)) {
			g_string_append_len(s, p, end - p);
			break;
		}
		g_string_append_len(s, p, bad - p);
		g_string_append_c(s, '_');
		p = bad + 1;
	}
	return s;
}

/* Cuts @s to at most @max bytes at a character boundary. */
static void
truncate_utf8(GString *s, gsize max)
{
	const char *p = s->str;

	while (*p) {
		const char *next = p + g_utf8_skip[*(const guchar *)p];

		if ((gsize)(next - s->str) > max)
			break;
		p = next;
	}
	g_string_truncate(s, p - s->str);
}

static gboolean
is_blank_or_dot(char c)
{
	return c == '.' || g_ascii_isspace(c);
}

/* Drops trailing dots and blanks: Windows drops them, and "a." is not "a". */
static void
trim_end(GString *s)
{
	while (s->len > 0 && is_blank_or_dot(s->str[s->len - 1]))
		g_string_truncate(s, s->len - 1);
}

/*
 * Keeps the extension (up to 16 bytes) when the name is too long.  The
 * cut part is trimmed again: a name cut after a blank would end in one,
 * and the name check, which sanitises once more, would refuse it.
 */
static void
bound_length(GString *s)
{
	const char *dot = strrchr(s->str, '.');
	g_autofree char *ext = NULL;

	if (s->len <= MDIR_NAME_MAX)
		return;
	if (dot == NULL || dot == s->str || strlen(dot) > 16) {
		truncate_utf8(s, MDIR_NAME_MAX);
		trim_end(s);
		return;
	}
	ext = g_strdup(dot);
	g_string_truncate(s, dot - s->str);
	truncate_utf8(s, MDIR_NAME_MAX - strlen(ext));
	trim_end(s);
	g_string_append(s, ext);
}

char *
mdir_sanitize_name(const char *name, gssize length)
{
	g_autoptr(GString) valid = NULL;
	g_autofree char *nfc = NULL;
	GString *out;
	const char *p;

	g_return_val_if_fail(name != NULL, NULL);
	valid = make_valid(name, length < 0 ? strlen(name) : (gsize)length);
	nfc = g_utf8_normalize(valid->str, -1, G_NORMALIZE_NFC);
	out = g_string_sized_new(valid->len);
	for (p = nfc; *p; p = p + g_utf8_skip[*(const guchar *)p]) {
		gunichar c = g_utf8_get_char(p);

		if (is_forbidden(c))
			g_string_append_c(out, c < 0x20 || c == 0x7f ? ' ' : '_');
		else
			g_string_append_unichar(out, c);
	}
	/* no leading dots or blanks (hidden, reserved, "..") nor trailing ones */
	while (out->len > 0 && is_blank_or_dot(out->str[0]))
		g_string_erase(out, 0, 1);
	trim_end(out);
	bound_length(out);
	if (out->len == 0 || strspn(out->str, "_ ") == out->len) {
		g_string_free(out, TRUE);
		return NULL;
	}
	return g_string_free(out, FALSE);
}

gboolean
mdir_name_is_safe(const char *name)
{
	g_autofree char *clean = NULL;

	if (name == NULL)
		return FALSE;
	clean = mdir_sanitize_name(name, -1);
	return clean != NULL && strcmp(clean, name) == 0;
}

gboolean
mdir_name_is_reserved(const char *name)
{
	return name[0] == '.' || strchr(name, '/') != NULL;
}
