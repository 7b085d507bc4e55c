/*
 * mimeparse.h: the tolerant reader of MIME structure under mime.c (header
 * blocks, boundaries, transfer encodings), on bytes in memory.  Internal.
 */
#ifndef MDIR_MIMEPARSE_H
#define MDIR_MIMEPARSE_H

#include <glib.h>

/* One header field: its name and its raw value (folded, no line end). */
typedef struct {
	const char *name;
	gsize name_len;
	const char *value;
	gsize value_len;
} MimeField;

typedef struct {
	GArray *fields;		/* MimeField, in order */
	const char *body;	/* where the body starts */
	const char *end;	/* where the entity ends */
	gboolean no_separator;	/* ended by a line that is no header field */
} MimeHeader;

/*
 * Skips what may precede a message's header block, for parsing only: an
 * mbox envelope line ("From ...") and blank or whitespace-only lines.
 */
const char *mime_skip_envelope(const char *p, const char *end);

/* Whether [@p, @end) holds nothing but blanks and line ends. */
gboolean mime_is_blank(const char *p, const char *end);

/* Reads the header block at @p; mime_header_clear() frees it. */
void mime_header_parse(MimeHeader *h, const char *p, const char *end);
void mime_header_clear(MimeHeader *h);

/* How many fields named @name (any case) there are. */
guint mime_header_count(const MimeHeader *h, const char *name);

/*
 * The @nth field named @name, unfolded, in UTF-8 (raw 8-bit that is not
 * UTF-8 read as windows-1252), NULL if none.  Transfer full.
 */
char *mime_header_get(const MimeHeader *h, const char *name, guint nth);

/* A stretch of bytes. */
typedef struct {
	const char *start;
	const char *end;
} MimeRange;

/*
 * The body parts of a multipart body delimited by @boundary (RFC 2046:
 * "--boundary" at a line's start, the line end before it belonging to it).
 * Returns the parts (MimeRange) found; @closed tells whether the close
 * delimiter was seen, @preamble_end where the text before the first
 * delimiter ends (@end if there is none).  Transfer full.
 */
GArray *mime_split_body(const char *body, const char *end, const char *boundary,
    gboolean *closed, const char **preamble_end);

/*
 * Called by the scans above every MIME_RELEASE_STEP bytes with how far
 * they got: mime.c drops the pages of the mapped message behind them, so
 * that a 50 MB attachment does not make 50 MB of resident memory.
 */
#define MIME_RELEASE_STEP (1024 * 1024)
typedef void (*MimeProgress)(const char *done, gpointer data);
void mime_set_progress(MimeProgress fn, gpointer data);

/* Whether a delimiter line of @boundary occurs in the body. */
gboolean mime_boundary_occurs(const char *body, const char *end, const char *boundary);

/* Base64, tolerant: skips what is no base64, decodes an unpadded tail. */
typedef struct {
	guint32 bits;
	int n;
} MimeBase64;

/* Decodes @len bytes into @out (room for len * 3 / 4 + 3); returns its length. */
gsize mime_base64_step(MimeBase64 *st, const char *in, gsize len, guchar *out);

/* The final partial quantum, if any (at most 2 bytes). */
gsize mime_base64_flush(MimeBase64 *st, guchar *out);

/* A file found encoded inside a body (mimeblocks.c). */
typedef struct {
	char *name;	     /* its name, NULL if none */
	GByteArray *data;    /* its bytes */
	const char *encoding; /* "x-yenc", "x-binhex" */
	char *defect;	     /* what was wrong (a CRC, a cut), NULL if nothing */
} MimeBlock;

/*
 * The yEnc blocks ("=ybegin" ... "=yend") and BinHex 4.0 files (their data
 * fork) in [@p, @end), in order.  Transfer full: the array frees them.
 */
GArray *mime_find_blocks(const char *p, const char *end);

#endif
