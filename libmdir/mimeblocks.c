/*
 * mimeblocks.c: files encoded inside a body rather than as MIME parts, for
 * mime.c: yEnc blocks ("=ybegin" ... "=yend", checked by their CRC32) and
 * BinHex 4.0 (its data fork).  Pure decoders over bytes in memory; what
 * they find becomes parts in mime.c.
 */
#include <string.h>

#include "mimeparse.h"

/* CRC-32 (IEEE 802.3, as yEnc and zlib use it) */
static guint32
crc32_update(guint32 crc, const guchar *p, gsize len)
{
	static guint32 table[256];
	static gsize done;

	if (g_once_init_enter(&done)) {
		for (guint32 i = 0; i < 256; i++) {
			guint32 c = i;

			for (int k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
		g_once_init_leave(&done, 1);
	}
	crc = ~crc;
	while (len-- > 0)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* The end of the line at @p and the start of the next. */
static const char *
line_at(const char *p, const char *end, const char **eol)
{
	const char *nl = memchr(p, '\n', end - p);

	*eol = nl ? nl : end;
	if (*eol > p && (*eol)[-1] == '\r')
		(*eol)--;
	return nl ? nl + 1 : end;
}

/* The value of "key=" in a yEnc header line; name= runs to the line's end. */
static char *
yenc_param(const char *p, const char *eol, const char *key)
{
	gsize kl = strlen(key);

	for (const char *q = p; q + kl < eol; q++) {
		const char *v, *e;

		if ((q != p && q[-1] != ' ') || memcmp(q, key, kl) != 0 || q[kl] != '=')
			continue;
		v = q + kl + 1;
		e = strcmp(key, "name") == 0 ? eol : v;
		while (e < eol && *e != ' ' && strcmp(key, "name") != 0)
			e++;
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		return g_strndup(v, e - v);
	}
	return NULL;
}

static void
yenc_block_clear(MimeBlock *b)
{
	g_free(b->name);
	if (b->data)
		g_byte_array_unref(b->data);
	g_free(b->defect);
}

/* Decodes one yEnc block from its "=ybegin" line at @p; returns where it ends. */
static const char *
yenc_block(const char *p, const char *end, MimeBlock *b)
{
	const char *eol;
	const char *next = line_at(p, end, &eol);
	g_autofree char *size = yenc_param(p, eol, "size");
	gboolean ended = FALSE;
	guint32 crc = 0;

	b->name = yenc_param(p, eol, "name");
	b->encoding = "x-yenc";
	b->data = g_byte_array_new();
	for (p = next; p < end; p = next) {
		next = line_at(p, end, &eol);
		if (eol - p >= 6 && memcmp(p, "=ypart", 6) == 0)
			continue;
		if (eol - p >= 5 && memcmp(p, "=yend", 5) == 0) {
			g_autofree char *want = yenc_param(p, eol, "crc32");

			if (want == NULL)
				want = yenc_param(p, eol, "pcrc32");
			crc = crc32_update(0, b->data->data, b->data->len);
			if (want && g_ascii_strtoull(want, NULL, 16) != crc)
				b->defect = g_strdup_printf("yEnc CRC32 %08x, not %s", crc, want);
			ended = TRUE;
			p = next;
			break;
		}
		for (const char *q = p; q < eol; q++) {
			guchar c = (guchar)*q;

			if (c == '=' && q + 1 < eol)
				c = (guchar)(*++q - 64);
			c = (guchar)(c - 42);
			g_byte_array_append(b->data, &c, 1);
		}
	}
	if (!ended)
		b->defect = g_strdup("yEnc block without =yend");
	else if (size && b->defect == NULL && g_ascii_strtoull(size, NULL, 10) != b->data->len)
		b->defect = g_strdup_printf("yEnc size %u, not %s", b->data->len, size);
	return p;
}

/* BinHex 4.0 -------------------------------------------------------------- */

#define BINHEX_LINE "(This file must be converted with BinHex"

static const char binhex_alphabet[] =
    "!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";

/* The 6-bit text between the colons, run-length expanded.  NULL if cut. */
static GByteArray *
binhex_bytes(const char *p, const char *end, const char **stop)
{
	GByteArray *out = g_byte_array_new();
	guint32 bits = 0;
	int n = 0;
	gboolean rle = FALSE;
	guchar last = 0;

	for (; p < end && *p != ':'; p++) {
		const char *v = *p ? strchr(binhex_alphabet, *p) : NULL;
		guchar c;

		if (v == NULL)
			continue; /* line ends and blanks */
		bits = bits << 6 | (guint32)(v - binhex_alphabet);
		n += 6;
		if (n < 8)
			continue;
		n -= 8;
		c = (guchar)(bits >> n);
		if (rle) {
			/* 0x90 n: the last byte n times in all; 0x90 0: 0x90 itself */
			if (c == 0) {
				last = 0x90;
				g_byte_array_append(out, &last, 1);
			} else {
				for (int i = 1; i < c; i++)
					g_byte_array_append(out, &last, 1);
			}
			rle = FALSE;
		} else if (c == 0x90) {
			rle = TRUE;
		} else {
			g_byte_array_append(out, &c, 1);
			last = c;
		}
	}
	*stop = p < end ? p + 1 : end;
	if (p == end) {
		g_byte_array_unref(out);
		return NULL;
	}
	return out;
}

static guint32
be32(const guchar *p)
{
	return (guint32)p[0] << 24 | (guint32)p[1] << 16 | (guint32)p[2] << 8 | p[3];
}

/* The data fork of BinHex text starting at its opening colon @p. */
static const char *
binhex_block(const char *p, const char *end, MimeBlock *b)
{
	const char *stop;
	GByteArray *raw = binhex_bytes(p + 1, end, &stop);
	const guchar *d;
	guint nl;
	gsize hdr;
	guint32 dlen;

	b->encoding = "x-binhex";
	if (raw == NULL) {
		b->defect = g_strdup("BinHex without its closing colon");
		b->data = g_byte_array_new();
		return end;
	}
	d = raw->data;
	nl = raw->len > 0 ? d[0] : 0;
	hdr = 1 + nl + 1 + 4 + 4 + 2 + 4 + 4 + 2;
	if (raw->len < hdr) {
		b->defect = g_strdup("BinHex header cut short");
		b->data = raw;
		g_byte_array_set_size(b->data, 0);
		return stop;
	}
	b->name = g_strndup((const char *)d + 1, nl);
	dlen = be32(d + 1 + nl + 1 + 4 + 4 + 2);
	b->data = g_byte_array_new();
	g_byte_array_append(b->data, d + hdr, MIN(dlen, raw->len - hdr));
	if (raw->len - hdr < dlen)
		b->defect = g_strdup_printf("BinHex data fork cut short: %u of %u bytes",
		    raw->len - (guint)hdr, dlen);
	g_byte_array_unref(raw);
	return stop;
}

GArray *
mime_find_blocks(const char *p, const char *end)
{
	GArray *blocks = g_array_new(FALSE, TRUE, sizeof(MimeBlock));
	gboolean binhex = FALSE;

	g_array_set_clear_func(blocks, (GDestroyNotify)yenc_block_clear);
	while (p < end) {
		const char *eol;
		const char *next = line_at(p, end, &eol);
		MimeBlock b = { 0 };

		if (eol - p >= 8 && memcmp(p, "=ybegin ", 8) == 0) {
			next = yenc_block(p, end, &b);
			g_array_append_val(blocks, b);
		} else if ((gsize)(eol - p) >= sizeof(BINHEX_LINE) - 1 &&
		    memcmp(p, BINHEX_LINE, sizeof(BINHEX_LINE) - 1) == 0) {
			binhex = TRUE;
		} else if (binhex && p < eol && *p == ':') {
			next = binhex_block(p, end, &b);
			g_array_append_val(blocks, b);
			binhex = FALSE;
		}
		p = next;
	}
	return blocks;
}
