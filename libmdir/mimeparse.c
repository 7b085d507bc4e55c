/*
 * mimeparse.c: the tolerant reader of MIME structure (RFC 5322 header
 * blocks, RFC 2046 boundaries, RFC 2045 base64) on bytes in memory, for
 * mime.c.  It never fails: whatever the input, it says where the header
 * fields, the bodies and the parts are.  What it tolerates is written down
 * in doc/VIOLATIONS.
 */
#include <string.h>

#include "mimeparse.h"

/* The end of the line at @p (its '\n' or @end) and the start of the next. */
static const char *
next_line(const char *p, const char *end, const char **eol)
{
	const char *nl = memchr(p, '\n', end - p);

	*eol = nl ? nl : end;
	return nl ? nl + 1 : end;
}

/* Whether the line [@p, @eol) holds nothing but blanks (a CR included). */
static gboolean
blank_line(const char *p, const char *eol)
{
	while (p < eol && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	return p == eol;
}

gboolean
mime_is_blank(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p == end;
}

const char *
mime_skip_envelope(const char *p, const char *end)
{
	const char *eol;

	if (end - p >= 5 && memcmp(p, "From ", 5) == 0)
		p = next_line(p, end, &eol);
	while (p < end) {
		const char *next = next_line(p, end, &eol);

		if (!blank_line(p, eol))
			break;
		p = next;
	}
	return p;
}

/*
 * A header field's start: a name of printable characters but ':' (RFC
 * 5322 2.2), blanks before the colon tolerated (obs-optional).  Returns the
 * colon, or NULL if the line cannot be a field.
 */
static const char *
field_colon(const char *p, const char *eol)
{
	const char *q = p;

	/* 8-bit bytes too: broken mailers put them there */
	while (q < eol && (guchar)*q > 32 && *q != 127 && *q != ':')
		q++;
	if (q == p)
		return NULL;
	while (q < eol && (*q == ' ' || *q == '\t'))
		q++;
	return q < eol && *q == ':' ? q : NULL;
}

void
mime_header_parse(MimeHeader *h, const char *p, const char *end)
{
	h->fields = g_array_new(FALSE, FALSE, sizeof(MimeField));
	h->end = end;
	h->no_separator = FALSE;
	while (p < end) {
		const char *eol;
		const char *next = next_line(p, end, &eol);
		const char *content_end = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
		const char *colon;

		if (content_end == p) { /* the blank line */
			h->body = next;
			return;
		}
		if (*p == ' ' || *p == '\t') {
			/* a continuation; before any field, a stray line */
			if (h->fields->len > 0) {
				MimeField *f = &g_array_index(h->fields, MimeField,
				    h->fields->len - 1);

				f->value_len = content_end - f->value;
			}
		} else if ((colon = field_colon(p, content_end)) != NULL) {
			MimeField f = {
				.name = p,
				.name_len = colon - p,
				.value = colon + 1,
				.value_len = content_end - colon - 1,
			};

			while (f.name_len > 0 && (p[f.name_len - 1] == ' ' || p[f.name_len - 1] == '\t'))
				f.name_len--;
			g_array_append_val(h->fields, f);
		} else {
			/* no field: the header block ends, the body starts here */
			h->no_separator = TRUE;
			h->body = p;
			return;
		}
		p = next;
	}
	h->body = end;
}

void
mime_header_clear(MimeHeader *h)
{
	g_clear_pointer(&h->fields, g_array_unref);
}

static gboolean
field_is(const MimeField *f, const char *name)
{
	return strlen(name) == f->name_len && g_ascii_strncasecmp(f->name, name, f->name_len) == 0;
}

guint
mime_header_count(const MimeHeader *h, const char *name)
{
	guint n = 0;

	for (guint i = 0; i < h->fields->len; i++)
		n += field_is(&g_array_index(h->fields, MimeField, i), name);
	return n;
}

/* Raw 8-bit that is no UTF-8 is read as windows-1252 (else latin-1). */
static char *
to_utf8(char *s)
{
	char *u;

	if (g_utf8_validate(s, -1, NULL))
		return s;
	u = g_convert(s, -1, "UTF-8", "WINDOWS-1252", NULL, NULL, NULL);
	if (u == NULL)
		u = g_convert(s, -1, "UTF-8", "ISO-8859-1", NULL, NULL, NULL);
	g_free(s);
	return u ? u : g_strdup("");
}

char *
mime_header_get(const MimeHeader *h, const char *name, guint nth)
{
	for (guint i = 0; i < h->fields->len; i++) {
		const MimeField *f = &g_array_index(h->fields, MimeField, i);
		GString *s;

		if (!field_is(f, name) || nth-- > 0)
			continue;
		/* unfolding: line ends go, the blanks after them stay */
		s = g_string_sized_new(f->value_len);
		for (gsize j = 0; j < f->value_len; j++)
			if (f->value[j] != '\r' && f->value[j] != '\n')
				g_string_append_c(s, f->value[j]);
		g_strstrip(s->str);
		return to_utf8(g_string_free(s, FALSE));
	}
	return NULL;
}

/*
 * Whether the line [@p, @eol) is a delimiter of @b: "--b", or the close
 * delimiter "--b--".  The boundary is matched exactly, blanks at its end
 * included, at the start of the line: what follows it on the line is
 * ignored (RFC 2046 5.1.1: "an exact match of the entire candidate line
 * is not required") unless it would continue the boundary.
 */
static gboolean
delimiter(const char *p, const char *eol, const char *b, gsize bl, gboolean *close)
{
	const char *q = p + 2 + bl;

	if ((gsize)(eol - p) < 2 + bl || p[0] != '-' || p[1] != '-' || memcmp(p + 2, b, bl) != 0)
		return FALSE;
	*close = eol - q >= 2 && q[0] == '-' && q[1] == '-';
	/* a character that could go on a boundary: a longer one ("b1", "b10") */
	return *close || q == eol || strchr(" \t\r", *q) != NULL ||
	    !(g_ascii_isalnum(*q) || strchr("'()+_,-./:=?", *q) != NULL);
}

/* @end less the line end just before it, not before @start. */
static const char *
before_line_end(const char *start, const char *end)
{
	if (end > start && end[-1] == '\n') {
		end--;
		if (end > start && end[-1] == '\r')
			end--;
	}
	return end;
}

/* per thread: LMTP mode may split in several */
static __thread MimeProgress progress_fn;
static __thread gpointer progress_data;

void
mime_set_progress(MimeProgress fn, gpointer data)
{
	progress_fn = fn;
	progress_data = data;
}

/* Reports progress at @p when a step from @last is made. */
static void
progress(const char *p, const char **last)
{
	if (progress_fn && p - *last >= MIME_RELEASE_STEP) {
		progress_fn(p, progress_data);
		*last = p;
	}
}

GArray *
mime_split_body(const char *body, const char *end, const char *boundary, gboolean *closed,
    const char **preamble_end)
{
	GArray *parts = g_array_new(FALSE, FALSE, sizeof(MimeRange));
	gsize bl = strlen(boundary);
	const char *start = NULL;
	const char *last = body;

	*closed = FALSE;
	*preamble_end = end;
	for (const char *p = body, *next, *eol; p < end; p = next) {
		gboolean close;

		next = next_line(p, end, &eol);
		progress(p, &last);
		if (*p != '-' || !delimiter(p, eol, boundary, bl, &close))
			continue;
		if (start) {
			/* the line end before the delimiter is the delimiter's */
			MimeRange r = { start, before_line_end(start, p) };

			g_array_append_val(parts, r);
		} else {
			*preamble_end = before_line_end(body, p);
		}
		if (close) {
			*closed = TRUE;
			return parts;
		}
		start = next;
	}
	if (start) {
		MimeRange r = { start, end };

		g_array_append_val(parts, r);
	}
	return parts;
}

gboolean
mime_boundary_occurs(const char *body, const char *end, const char *boundary)
{
	gsize bl = strlen(boundary);
	const char *last = body;

	for (const char *p = body, *next, *eol; p < end; p = next) {
		gboolean close;

		next = next_line(p, end, &eol);
		progress(p, &last);
		if (*p == '-' && delimiter(p, eol, boundary, bl, &close))
			return TRUE;
	}
	return FALSE;
}

/* The value of a base64 symbol; -1 for anything else. */
static const gint8 base64_values[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

gsize
mime_base64_step(MimeBase64 *st, const char *in, gsize len, guchar *out)
{
	gsize n = 0;

	for (gsize i = 0; i < len; i++) {
		int v = base64_values[(guchar)in[i]];

		if (v < 0) {
			/* padding ends a quantum; anything else is skipped */
			if (in[i] == '=')
				n += mime_base64_flush(st, out + n);
			continue;
		}
		st->bits = st->bits << 6 | (guint32)v;
		if (++st->n == 4) {
			out[n++] = (guchar)(st->bits >> 16);
			out[n++] = (guchar)(st->bits >> 8);
			out[n++] = (guchar)st->bits;
			st->bits = 0;
			st->n = 0;
		}
	}
	return n;
}

gsize
mime_base64_flush(MimeBase64 *st, guchar *out)
{
	gsize n = 0;

	/* 2 symbols carry one byte, 3 carry two; 1 carries nothing */
	if (st->n == 2) {
		out[n++] = (guchar)(st->bits >> 4);
	} else if (st->n == 3) {
		out[n++] = (guchar)(st->bits >> 10);
		out[n++] = (guchar)(st->bits >> 2);
	}
	st->bits = 0;
	st->n = 0;
	return n;
}
