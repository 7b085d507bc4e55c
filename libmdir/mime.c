/*
 * mime.c: splitting a spooled message into the store's parts (DESIGN §3,
 * §4 mdir-receive).
 *
 * The raw message is mapped from its file and its structure read by
 * mimeparse.c, tolerant of what real mail does (doc/VIOLATIONS); GMime
 * parses header values (addresses, RFC 2047 words, RFC 2231 parameters)
 * and decodes quoted-printable.  Each leaf is decoded straight into the
 * store transaction through TxnStream below; the message's own inline text
 * is converted to UTF-8 on the way, files are stored as the bytes that
 * were sent.  A forwarded message is kept whole as an .eml part and its
 * own leaves are split too.  Malformed MIME is never a reason to refuse:
 * what can be read is split, the raw message is always part 0, and what
 * was wrong goes into the records as "defects".
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gmime/gmime.h>
#include <glib.h>

#include "mdir.h"
#include "private.h"
#include "mimeparse.h"
#include "txnstream.h"

#define NAME_FROM_SUBJECT_MAX 80
#define MAX_DEFECTS 20
#define MAX_DEPTH 1000 /* max_depth's ceiling */

/* GMime 3.2 declares no autoptr cleanups */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeStream, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeParser, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeMessage, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeContentType, g_object_unref)

/* The splitter ------------------------------------------------------------- */

#define COMMON_VALUE_MAX 1024 /* bytes of a message field copied into each part's record */
/*
 * What the parts of one message may take, records included: three times
 * its size and 256 KiB.  Real mail stays far below (decoding shrinks);
 * 100,000 parts of 7 bytes would take 126 times.
 */
#define BUDGET_FACTOR 3
#define BUDGET_FLOOR (256 * 1024)
#define RECORD_LATER 160 /* bytes receive.c adds to each record (envelope) */
#define CHUNK (64 * 1024)

typedef struct {
	MdirStoreTxn *txn;
	GMimeParserOptions *options;
	guint next;	   /* the next part number */
	guint max_depth;
	guint max_parts;   /* 0: no limit */
	gint64 budget;	   /* bytes the parts may take, records included */
	gint64 cost;	   /* bytes they take so far */
	const char *capped; /* why parts were left in the raw message */
	const char *map;   /* the raw message, mapped */
	const char *map_end;
	MdirRecord *common; /* the message's own fields, added to every part */
	char *base_name;   /* made from the subject */
	GPtrArray *defects;
	GError *error;
} Splitter;

void
mdir_mime_init(void)
{
	static gsize done;

	if (g_once_init_enter(&done)) {
		g_mime_init();
		g_once_init_leave(&done, 1);
	}
}

static const char *
warning_name(GMimeParserWarning code)
{
	switch (code) {
	case GMIME_WARN_DUPLICATED_HEADER: return "duplicated header";
	case GMIME_WARN_DUPLICATED_PARAMETER: return "duplicated parameter";
	case GMIME_WARN_UNENCODED_8BIT_HEADER: return "unencoded 8-bit header";
	case GMIME_WARN_INVALID_CONTENT_TYPE: return "invalid content type";
	case GMIME_WARN_INVALID_RFC2047_HEADER_VALUE: return "invalid RFC 2047 header";
	case GMIME_WARN_MALFORMED_MULTIPART: return "malformed multipart";
	case GMIME_WARN_TRUNCATED_MESSAGE: return "truncated message";
	case GMIME_WARN_MALFORMED_MESSAGE: return "malformed message";
	case GMIME_CRIT_INVALID_HEADER_NAME: return "invalid header name";
	case GMIME_CRIT_CONFLICTING_HEADER: return "conflicting header";
	case GMIME_CRIT_CONFLICTING_PARAMETER: return "conflicting parameter";
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY: return "multipart without boundary";
	case GMIME_WARN_INVALID_PARAMETER: return "invalid parameter";
	case GMIME_WARN_INVALID_ADDRESS_LIST: return "invalid address list";
	case GMIME_CRIT_NESTING_OVERFLOW: return "nesting overflow";
	case GMIME_WARN_PART_WITHOUT_CONTENT: return "part without content";
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT: return "part without headers or content";
	default: return "parser warning";
	}
}

static void
add_defect(Splitter *sp, char *text)
{
	if (sp->defects->len < MAX_DEFECTS)
		g_ptr_array_add(sp->defects, text);
	else
		g_free(text);
}

static void
on_warning(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer data)
{
	Splitter *sp = data;

	add_defect(sp, item && *item ?
	    g_strdup_printf("%s at %" G_GINT64_FORMAT " (%s)", warning_name(code), offset, item) :
	    g_strdup_printf("%s at %" G_GINT64_FORMAT, warning_name(code), offset));
}

/* An extension for a type, for names made up from the subject. */
static const char *
extension_for(const char *mime_type)
{
	static const char *const table[][2] = {
		{ "text/plain", ".txt" }, { "text/html", ".html" }, { "text/calendar", ".ics" },
		{ "text/csv", ".csv" }, { "text/x-vcard", ".vcf" }, { "text/vcard", ".vcf" },
		{ "text/x-diff", ".diff" }, { "text/x-patch", ".patch" },
		{ "message/rfc822", ".eml" }, { "message/delivery-status", ".txt" },
		{ "message/disposition-notification", ".txt" },
		{ "application/pdf", ".pdf" }, { "application/zip", ".zip" },
		{ "application/ms-tnef", ".dat" }, { "application/pgp-signature", ".asc" },
		{ "application/pgp-encrypted", ".asc" }, { "application/pgp-keys", ".asc" },
		{ "application/pkcs7-signature", ".p7s" }, { "application/x-pkcs7-signature", ".p7s" },
		{ "application/pkcs7-mime", ".p7m" }, { "application/json", ".json" },
		{ "application/gzip", ".gz" }, { "application/x-gzip", ".gz" },
		{ "image/jpeg", ".jpg" }, { "image/png", ".png" }, { "image/gif", ".gif" },
		{ "image/webp", ".webp" }, { "image/svg+xml", ".svg" }, { "audio/mpeg", ".mp3" },
		{ "video/mp4", ".mp4" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(table); i++)
		if (g_ascii_strcasecmp(mime_type, table[i][0]) == 0)
			return table[i][1];
	if (g_str_has_prefix(mime_type, "text/"))
		return ".txt";
	if (g_str_has_prefix(mime_type, "multipart/"))
		return ".eml";
	return ".bin";
}

/* The name a part gets: its own, sanitised, or one made from the subject. */
static char *
part_name(Splitter *sp, const char *filename, const char *mime_type)
{
	g_autofree char *safe = filename ? mdir_sanitize_name(filename, -1) : NULL;

	if (safe)
		return g_steal_pointer(&safe);
	return g_strconcat(sp->base_name, extension_for(mime_type), NULL);
}

static char *
make_base_name(const char *subject)
{
	g_autofree char *safe = subject ? mdir_sanitize_name(subject, -1) : NULL;
	g_autoptr(GString) s = NULL;

	if (safe == NULL)
		return g_strdup("message");
	s = g_string_new(safe);
	/* room for an extension and a "-NN" suffix, cut at a character */
	if (s->len > NAME_FROM_SUBJECT_MAX) {
		char *p = s->str;

		while (*p && (gsize)(g_utf8_next_char(p) - s->str) <= NAME_FROM_SUBJECT_MAX)
			p = g_utf8_next_char(p);
		g_string_truncate(s, p - s->str);
	}
	/* a dot would make the subject's tail look like an extension */
	g_strdelimit(s->str, ".", '_');
	return g_string_free(g_steal_pointer(&s), FALSE);
}

/*
 * Copies the common fields into @r.  A part's record gets each value cut
 * at COMMON_VALUE_MAX bytes (at a character): a 100 KB subject is not
 * repeated in every part; part 0 keeps the whole.
 */
static void
add_common(Splitter *sp, MdirRecord *r, gboolean whole)
{
	for (guint i = 0; i < mdir_record_length(sp->common); i++) {
		const char *n, *v;

		mdir_record_nth(sp->common, i, &n, &v);
		if (whole || strlen(v) <= COMMON_VALUE_MAX) {
			mdir_record_add(r, n, v);
		} else {
			const char *cut = g_utf8_find_prev_char(v, v + COMMON_VALUE_MAX + 1);
			g_autofree char *s = g_strndup(v, cut ? cut - v : COMMON_VALUE_MAX);

			mdir_record_add(r, n, s);
			mdir_record_add(r, "truncated", n);
		}
	}
}

static void
add_addresses(MdirRecord *r, const char *field, InternetAddressList *list)
{
	g_autofree char *s = NULL;

	if (list == NULL || internet_address_list_length(list) == 0)
		return;
	s = internet_address_list_to_string(list, NULL, FALSE);
	mdir_record_add(r, field, s);
}

static void
add_header(Splitter *sp, MdirRecord *r, GMimeObject *obj, const char *name, const char *field)
{
	const char *raw = g_mime_object_get_header(obj, name);
	g_autofree char *unfolded = NULL;
	g_autofree char *decoded = NULL;

	if (raw == NULL)
		return;
	unfolded = g_mime_utils_header_unfold(raw);
	decoded = g_mime_utils_header_decode_text(sp->options, g_strstrip(unfolded));
	mdir_record_add(r, field, decoded);
}

/* The message's own headers, decoded to UTF-8 (DESIGN §3). */
static void
message_fields(Splitter *sp, GMimeMessage *msg, MdirRecord *r)
{
	GDateTime *date = g_mime_message_get_date(msg);

	add_addresses(r, "from", g_mime_message_get_from(msg));
	add_addresses(r, "to", g_mime_message_get_to(msg));
	add_addresses(r, "cc", g_mime_message_get_cc(msg));
	mdir_record_add(r, "subject", g_mime_message_get_subject(msg));
	if (date) {
		g_autofree char *s = mdir_time_format(g_date_time_to_unix(date), MDIR_TIME_ISO8601);

		mdir_record_add(r, "date", s);
	}
	add_header(sp, r, GMIME_OBJECT(msg), "In-Reply-To", "in-reply-to");
	add_header(sp, r, GMIME_OBJECT(msg), "References", "references");
	add_header(sp, r, GMIME_OBJECT(msg), "List-Id", "list-id");
	/* what rules most often route on, beside the above (mdir-rules(5)) */
	add_header(sp, r, GMIME_OBJECT(msg), "Auto-Submitted", "auto-submitted");
	add_header(sp, r, GMIME_OBJECT(msg), "Precedence", "precedence");
	add_header(sp, r, GMIME_OBJECT(msg), "X-Spam-Flag", "x-spam-flag");
}

/*
 * The message's header block as GMime reads it, for the fields above: the
 * structure is ours (mimeparse.c), so the Content-* fields are left out.
 * Transfer full.
 */
static GMimeMessage *
header_message(Splitter *sp, const MimeHeader *h)
{
	g_autoptr(GByteArray) bytes = g_byte_array_new();
	g_autoptr(GMimeStream) stream = NULL;
	g_autoptr(GMimeParser) parser = NULL;

	for (guint i = 0; i < h->fields->len; i++) {
		const MimeField *f = &g_array_index(h->fields, MimeField, i);

		if (f->name_len >= 8 && g_ascii_strncasecmp(f->name, "Content-", 8) == 0)
			continue;
		g_byte_array_append(bytes, (const guint8 *)f->name, f->name_len);
		g_byte_array_append(bytes, (const guint8 *)":", 1);
		g_byte_array_append(bytes, (const guint8 *)f->value, f->value_len);
		g_byte_array_append(bytes, (const guint8 *)"\n", 1);
	}
	g_byte_array_append(bytes, (const guint8 *)"\n", 1);
	stream = g_mime_stream_mem_new_with_byte_array(g_steal_pointer(&bytes));
	parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	return g_mime_parser_construct_message(parser, sp->options);
}

/* Opens the next part; 0 on an error, or when max_parts is reached. */
static guint
begin_part(Splitter *sp, MdirRecord **rec)
{
	guint n;

	if (sp->error)
		return 0;
	if (sp->max_parts > 0 && sp->next > sp->max_parts)
		sp->capped = "more than max_parts parts";
	else if (sp->cost > sp->budget)
		sp->capped = "parts would take over 3 times the message";
	if (sp->capped)
		return 0;
	n = sp->next++;
	if (!mdir_store_txn_open_part(sp->txn, n, &sp->error))
		return 0;
	*rec = mdir_store_txn_record(sp->txn, n);
	return n;
}

/* The bytes a closed part takes: its file and its record. */
static gint64
record_cost(MdirRecord *r)
{
	gint64 n = mdir_record_get_int(r, "size", 0) + RECORD_LATER;

	for (guint i = 0; i < mdir_record_length(r); i++) {
		const char *f, *v;

		mdir_record_nth(r, i, &f, &v);
		n += strlen(f) + strlen(v) + 3;
	}
	return n;
}

static gboolean
end_part(Splitter *sp, TxnStream *s)
{
	if (s) {
		txn_stream_finish(s);
		if (s->error && sp->error == NULL)
			sp->error = g_error_copy(s->error);
	}
	if (sp->error) {
		GError *ignore = NULL;

		mdir_store_txn_close_part(sp->txn, &ignore);
		g_clear_error(&ignore);
		return FALSE;
	}
	if (!mdir_store_txn_close_part(sp->txn, &sp->error))
		return FALSE;
	sp->cost += record_cost(mdir_store_txn_record(sp->txn, sp->next - 1));
	return TRUE;
}

/*
 * Drops the pages of the mapped raw message before @done from memory: the
 * file is read once, in order, and its pages count as ours while mapped.
 * They come back from the page cache if read again.  Only the mapping:
 * decoded copies live on the heap.
 */
static void
release(const char *done, gpointer data)
{
	Splitter *sp = data;
	guintptr page = (guintptr)sysconf(_SC_PAGESIZE);
	guintptr from, to;

	if (sp->map == NULL || done <= sp->map || done > sp->map_end)
		return;
	/* the last few steps behind: what is further back went before */
	from = (guintptr)MAX(sp->map, done - 4 * MIME_RELEASE_STEP) & ~(page - 1);
	to = (guintptr)done & ~(page - 1);
	if (to > from)
		madvise((void *)from, to - from, MADV_DONTNEED);
}

/* Writes bytes as they are into the open part. */
static void
write_bytes(Splitter *sp, const char *p, gsize len)
{
	for (gsize n; sp->error == NULL && len > 0; p += n, len -= n) {
		n = MIN(len, MIME_RELEASE_STEP);
		mdir_store_txn_write(sp->txn, p, n, &sp->error);
		release(p, sp);
	}
}

/* Stores bytes (a forwarded message, a part too deep) whole as one part. */
static guint
whole_part(Splitter *sp, const char *p, const char *end, const char *mime_type,
    const char *name, guint container, const char *why)
{
	MdirRecord *r = NULL;
	guint n = begin_part(sp, &r);

	if (n == 0)
		return 0;
	write_bytes(sp, p, end - p);
	mdir_record_add(r, "content-type", mime_type);
	mdir_record_add(r, "suggested-name", name);
	mdir_record_add(r, "disposition", "attachment");
	if (container)
		mdir_record_set_int(r, "container", container);
	mdir_record_add(r, "unsplit", why); /* NULL adds nothing */
	add_common(sp, r, FALSE);
	return end_part(sp, NULL) ? n : 0;
}

/* uuencode blocks inside a plain text ("begin 644 name" ... "end") --------- */

static int
uu_value(char c)
{
	return (c - ' ') & 63;
}

static gsize
uu_decode_line(const char *line, guchar *out)
{
	int len = uu_value(line[0]);
	const char *p = line + 1;
	gsize n = 0;

	if (len <= 0 || len > 45)
		return 0;
	while (n < (gsize)len && p[0] && p[1]) {
		int a = uu_value(p[0]), b = uu_value(p[1]);
		int c = p[2] ? uu_value(p[2]) : 0, d = p[2] && p[3] ? uu_value(p[3]) : 0;

		out[n++] = (guchar)(a << 2 | b >> 4);
		if (n < (gsize)len)
			out[n++] = (guchar)(b << 4 | c >> 2);
		if (n < (gsize)len)
			out[n++] = (guchar)(c << 6 | d);
		p += p[2] && p[3] ? 4 : (p[2] ? 3 : 2);
	}
	return n;
}

/* Extracts each uuencoded file of text part @text into a part of its own. */
static void
split_uuencode(Splitter *sp, guint text)
{
	g_autofree char *path = mdir_store_txn_part_path(sp->txn, text);
	/* bytes: a part kept as bytes is not UTF-8, and its files count too */
	g_autoptr(GRegex) begin = g_regex_new("^begin [0-7]{3,4} (.+)$", G_REGEX_RAW, 0, NULL);
	FILE *fp = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	gboolean in = FALSE;

	while (fp && !sp->error && (len = getline(&line, &cap, fp)) > 0) {
		g_autoptr(GMatchInfo) m = NULL;

		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (!in && g_regex_match(begin, line, 0, &m)) {
			g_autofree char *fname = g_match_info_fetch(m, 1);
			g_autofree char *name = part_name(sp, fname, "application/octet-stream");
			g_autofree char *type = g_content_type_guess(name, NULL, 0, NULL);
			g_autofree char *mime = g_content_type_get_mime_type(type);
			MdirRecord *r = NULL;

			if (begin_part(sp, &r) == 0)
				break;
			in = TRUE;
			mdir_record_add(r, "content-type", mime ? mime : "application/octet-stream");
			mdir_record_add(r, "suggested-name", name);
			mdir_record_add(r, "disposition", "attachment");
			mdir_record_add(r, "transfer-encoding", "x-uuencode");
			mdir_record_set_int(r, "container", text);
			add_common(sp, r, FALSE);
		} else if (in && (strcmp(line, "end") == 0 || strcmp(line, "`") == 0 ||
		    line[0] == '\0')) {
			if (strcmp(line, "end") == 0) {
				in = FALSE;
				end_part(sp, NULL);
			}
		} else if (in) {
			guchar out[64];
			gsize n = uu_decode_line(line, out);

			mdir_store_txn_write(sp->txn, out, n, &sp->error);
		}
	}
	if (in) /* no "end": keep what was decoded */
		end_part(sp, NULL);
	free(line);
	if (fp)
		fclose(fp);
}

/* Transfer encodings -------------------------------------------------------- */

typedef enum { CTE_NONE, CTE_BASE64, CTE_QP, CTE_UUENCODE } Cte;

static Cte
cte_of(const MimeHeader *h, char **name)
{
	g_autofree char *v = mime_header_get(h, "Content-Transfer-Encoding", 0);
	Cte cte = CTE_NONE;

	if (v == NULL)
		return CTE_NONE;
	*name = g_ascii_strdown(v, -1);
	if (strcmp(*name, "base64") == 0)
		cte = CTE_BASE64;
	else if (strcmp(*name, "quoted-printable") == 0)
		cte = CTE_QP;
	else if (strcmp(*name, "x-uuencode") == 0 || strcmp(*name, "uuencode") == 0 ||
	    strcmp(*name, "x-uue") == 0)
		cte = CTE_UUENCODE;
	return cte;
}

/* Writes @len bytes to @out; nothing is no write (GMime wants a buffer). */
static gboolean
put(GMimeStream *out, const void *buf, gsize len)
{
	return len == 0 || g_mime_stream_write(out, buf, len) >= 0;
}

/*
 * The bytes of @b as text, and where they end: never NULL, as an empty
 * GByteArray's data is (NULL + 0 is undefined in C).
 */
static const char *
bytes_text(const GByteArray *b, const char **end)
{
	const char *p = b->len > 0 ? (const char *)b->data : "";

	*end = p + b->len;
	return p;
}

/*
 * Decodes the body [@p, @end) into @out, a chunk at a time.  Base64 is
 * ours (an unpadded tail is decoded, as every mail client does); the rest
 * is GMime's.
 */
static void
decode_body(Splitter *sp, const char *p, const char *end, Cte cte, GMimeStream *out)
{
	g_autofree char *buf = NULL;
	GMimeEncoding enc;
	MimeBase64 b64 = { 0 };

	if (cte == CTE_NONE) {
		for (; p < end; p += MIN(CHUNK, end - p)) {
			if (!put(out, p, MIN(CHUNK, end - p)))
				return;
			release(p, sp);
		}
		return;
	}
	if (cte != CTE_BASE64)
		g_mime_encoding_init_decode(&enc, cte == CTE_QP ?
		    GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE : GMIME_CONTENT_ENCODING_UUENCODE);
	buf = g_malloc(2 * CHUNK + 16);
	for (; p < end; p += MIN(CHUNK, end - p)) {
		gsize len = MIN(CHUNK, end - p);
		gsize n = cte == CTE_BASE64 ? mime_base64_step(&b64, p, len, (guchar *)buf) :
		    g_mime_encoding_step(&enc, p, len, buf);

		if (!put(out, buf, n))
			return;
		release(p, sp);
	}
	put(out, buf, cte == CTE_BASE64 ? mime_base64_flush(&b64, (guchar *)buf) :
	    g_mime_encoding_flush(&enc, NULL, 0, buf));
}

/* Leaves ----------------------------------------------------------------- */

/* Whether a text type carries its charset inside (HTML's meta, XML's prolog). */
static gboolean
self_declaring(const char *mime_type)
{
	return g_ascii_strcasecmp(mime_type, "text/html") == 0 ||
	    g_ascii_strcasecmp(mime_type, "text/xml") == 0;
}

/* Whether @data is valid in @charset ("" for none: UTF-8), NULs allowed. */
static gboolean
valid_in(const char *charset, const guint8 *data, gsize len)
{
	g_autoptr(GError) e = NULL;
	g_autofree char *out = NULL;

	if (*charset == '\0' || g_ascii_strcasecmp(charset, "utf-8") == 0 ||
	    g_ascii_strcasecmp(charset, "us-ascii") == 0) {
		const guint8 *p = data, *end = data + len;

		while (p < end) {
			const guint8 *nul = memchr(p, 0, end - p);
			const guint8 *stop = nul ? nul : end;

			if (!g_utf8_validate((const char *)p, stop - p, NULL))
				return FALSE;
			p = nul ? nul + 1 : end;
		}
		return TRUE;
	}
	out = g_convert((const char *)data, len, "UTF-8", g_mime_charset_iconv_name(charset),
	    NULL, NULL, &e);
	return out != NULL;
}

/* A leaf's name and disposition, from its header. */
typedef struct {
	GMimeContentDisposition *disp;
	char *filename;
	gboolean attachment; /* a file: named, or said to be an attachment */
} LeafName;

static void
leaf_name(Splitter *sp, const MimeHeader *h, GMimeContentType *ct, LeafName *ln)
{
	g_autofree char *d = mime_header_get(h, "Content-Disposition", 0);
	const char *fn = NULL;
	const char *kind;

	ln->disp = d ? g_mime_content_disposition_parse(sp->options, d) : NULL;
	if (ln->disp)
		fn = g_mime_content_disposition_get_parameter(ln->disp, "filename");
	if (fn == NULL || *fn == '\0')
		fn = g_mime_content_type_get_parameter(ct, "name");
	ln->filename = fn && *fn ? g_strdup(fn) : NULL;
	kind = ln->disp ? g_mime_content_disposition_get_disposition(ln->disp) : NULL;
	ln->attachment = ln->filename != NULL ||
	    (kind && g_ascii_strcasecmp(kind, "attachment") == 0);
}

static void
leaf_record(Splitter *sp, const MimeHeader *h, const LeafName *ln, MdirRecord *r,
    const char *mime_type, const char *cte, guint container)
{
	g_autofree char *name = part_name(sp, ln->filename, mime_type);
	g_autofree char *cid_raw = mime_header_get(h, "Content-ID", 0);
	g_autofree char *cid = cid_raw ? g_mime_utils_decode_message_id(cid_raw) : NULL;
	const char *d = ln->disp ? g_mime_content_disposition_get_disposition(ln->disp) : NULL;

	mdir_record_add(r, "content-type", mime_type);
	mdir_record_add(r, "suggested-name", name);
	if (d == NULL || *d == '\0')
		d = ln->filename ? "attachment" : "inline";
	mdir_record_add(r, "disposition", g_ascii_strcasecmp(d, "attachment") == 0 ?
	    "attachment" : "inline");
	mdir_record_add(r, "transfer-encoding", cte ? cte : "7bit");
	mdir_record_add(r, "content-id", cid && *cid ? cid : NULL);
	if (container)
		mdir_record_set_int(r, "container", container);
}

/*
 * Stores the message's own text (inline, unnamed) as UTF-8; text that is
 * no text in its charset and holds NULs stays bytes.  The body is decoded
 * into memory first: such texts are small, and the test needs all of it.
 */
static TxnStream *
store_text(Splitter *sp, MdirRecord *r, GByteArray *bytes, const char *declared)
{
	const char *cs = declared ? declared : "";
	TxnStream *s;

	if (bytes->len > 0 && memchr(bytes->data, 0, bytes->len) &&
	    !valid_in(cs, bytes->data, bytes->len)) {
		s = txn_stream_new(sp->txn, NULL);
		mdir_record_add(r, "charset", declared);
		mdir_record_add(r, "defects", "not text in its charset, with NUL bytes: kept as bytes");
		put(GMIME_STREAM(s), bytes->data, bytes->len);
		return s;
	}
	s = txn_stream_new(sp->txn, cs);
	put(GMIME_STREAM(s), bytes->data, bytes->len);
	txn_stream_finish(s);
	mdir_record_add(r, "charset", "utf-8");
	mdir_record_add(r, "original-charset", declared);
	if (s->detected)
		mdir_record_add(r, "detected-charset", s->detected);
	return s;
}

/* Whether a part of this type is a file encoded in its text. */
static gboolean
holds_blocks(const char *mime_type)
{
	static const char *const types[] = {
		"application/x-yenc", "application/yenc", "application/mac-binhex40",
		"application/mac-binhex", "application/x-binhex40",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(types); i++)
		if (strcmp(mime_type, types[i]) == 0)
			return TRUE;
	return FALSE;
}

/*
 * The files encoded in the decoded body of part @container (yEnc, BinHex
 * 4.0): each a part of its own, the container keeping its text.
 */
static void
split_blocks(Splitter *sp, guint container, GByteArray *bytes)
{
	const char *end;
	const char *p = bytes_text(bytes, &end);
	g_autoptr(GArray) blocks = mime_find_blocks(p, end);
	for (guint i = 0; i < blocks->len && !sp->error; i++) {
		MimeBlock *b = &g_array_index(blocks, MimeBlock, i);
		g_autofree char *name = part_name(sp, b->name, "application/octet-stream");
		g_autofree char *type = g_content_type_guess(name, NULL, 0, NULL);
		g_autofree char *mime = g_content_type_get_mime_type(type);
		MdirRecord *r = NULL;

		if (begin_part(sp, &r) == 0)
			return;
		write_bytes(sp, (const char *)b->data->data, b->data->len);
		mdir_record_add(r, "content-type", mime ? mime : "application/octet-stream");
		mdir_record_add(r, "suggested-name", name);
		mdir_record_add(r, "disposition", "attachment");
		mdir_record_add(r, "transfer-encoding", b->encoding);
		mdir_record_set_int(r, "container", container);
		mdir_record_add(r, "defects", b->defect);
		add_common(sp, r, FALSE);
		end_part(sp, NULL);
	}
}

static void
split_leaf(Splitter *sp, const MimeHeader *h, GMimeContentType *ct, const char *mime_type,
    guint container, GPtrArray *defects)
{
	const char *declared = g_mime_content_type_get_parameter(ct, "charset");
	g_autofree char *cte_name = NULL;
	Cte cte = cte_of(h, &cte_name);
	LeafName ln = { 0 };
	g_autoptr(TxnStream) s = NULL;
	g_autoptr(GMimeStream) mem = NULL;
	GByteArray *bytes = NULL;
	MdirRecord *r = NULL;
	guint n = begin_part(sp, &r);
	gboolean text;

	if (n == 0)
		return;
	leaf_name(sp, h, ct, &ln);
	leaf_record(sp, h, &ln, r, mime_type, cte_name, container);
	text = g_str_has_prefix(mime_type, "text/") && !self_declaring(mime_type) &&
	    !ln.attachment;
	if (text || holds_blocks(mime_type)) {
		/* looked at whole: small texts, or files inside */
		mem = g_mime_stream_mem_new();
		decode_body(sp, h->body, h->end, cte, mem);
		bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	}
	if (text) {
		s = store_text(sp, r, bytes, declared);
	} else {
		/* a file: the bytes that were sent, decoded, never converted */
		s = txn_stream_new(sp->txn, NULL);
		if (bytes)
			put(GMIME_STREAM(s), bytes->data, bytes->len);
		else
			decode_body(sp, h->body, h->end, cte, GMIME_STREAM(s));
		mdir_record_add(r, "charset", declared);
	}
	for (guint i = 0; i < defects->len; i++)
		mdir_record_add(r, "defects", defects->pdata[i]);
	add_common(sp, r, FALSE);
	g_clear_object(&ln.disp);
	g_free(ln.filename);
	if (!end_part(sp, s))
		return;
	if (g_ascii_strcasecmp(mime_type, "text/plain") == 0)
		split_uuencode(sp, n);
	if (bytes)
		split_blocks(sp, n, bytes);
}

/* Containers ----------------------------------------------------------------- */

static void split_entity(Splitter *sp, const char *p, const char *end, guint depth,
    guint container, const char *fallback, gboolean message);

static void
split_forwarded(Splitter *sp, const MimeHeader *h, guint depth, guint container)
{
	g_autofree char *cte_name = NULL;
	Cte cte = cte_of(h, &cte_name);
	g_autoptr(GMimeStream) mem = NULL;
	const char *p = h->body, *end = h->end;
	MimeHeader inner = { 0 };
	g_autofree char *subject_raw = NULL;
	g_autofree char *subject = NULL;
	g_autofree char *safe = NULL;
	g_autofree char *name = NULL;
	char *outer;
	guint n;

	if (cte != CTE_NONE) {
		/* RFC 2046 5.2.1 allows no encoding here; real mail has it */
		GByteArray *bytes;

		mem = g_mime_stream_mem_new();
		decode_body(sp, p, end, cte, mem);
		bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
		p = bytes_text(bytes, &end);
		add_defect(sp, g_strdup_printf("message/rfc822 in %s", cte_name));
	}
	mime_header_parse(&inner, mime_skip_envelope(p, end), end);
	subject_raw = mime_header_get(&inner, "Subject", 0);
	mime_header_clear(&inner);
	subject = subject_raw ? g_mime_utils_header_decode_text(sp->options, subject_raw) : NULL;
	safe = subject ? mdir_sanitize_name(subject, -1) : NULL;
	name = safe ? g_strconcat(safe, ".eml", NULL) : part_name(sp, NULL, "message/rfc822");
	if (mime_skip_envelope(p, end) == end) {
		whole_part(sp, p, end, "message/rfc822", name, container, "empty");
		return;
	}
	n = whole_part(sp, p, end, "message/rfc822", name, container, NULL);
	if (n == 0)
		return;
	/* a forwarded message is a message: its record says so */
	mdir_record_add(mdir_store_txn_record(sp->txn, n), "forwarded-subject", subject);
	/* its parts are named after its own subject, not the outer one */
	outer = sp->base_name;
	sp->base_name = make_base_name(subject);
	split_entity(sp, p, end, depth + 1, n, "text/plain", TRUE);
	g_free(sp->base_name);
	sp->base_name = outer;
}

/*
 * A multipart whose boundary is missing or never appears (real mail does
 * this): its body is the only readable text there is, so it becomes a part.
 */
static void
split_prologue(Splitter *sp, const char *p, const char *end, guint container)
{
	g_autoptr(TxnStream) s = NULL;
	g_autofree char *name = NULL;
	MdirRecord *r = NULL;

	if (mime_is_blank(p, end) || begin_part(sp, &r) == 0)
		return;
	s = txn_stream_new(sp->txn, "");
	g_mime_stream_write(GMIME_STREAM(s), p, end - p);
	txn_stream_finish(s);
	name = part_name(sp, NULL, "text/plain");
	mdir_record_add(r, "content-type", "text/plain");
	mdir_record_add(r, "suggested-name", name);
	mdir_record_add(r, "disposition", "inline");
	mdir_record_add(r, "charset", "utf-8");
	mdir_record_add(r, "detected-charset", s->detected);
	mdir_record_add(r, "unsplit", "multipart without parts");
	if (container)
		mdir_record_set_int(r, "container", container);
	add_common(sp, r, FALSE);
	end_part(sp, s);
}

static void
split_multipart(Splitter *sp, const MimeHeader *h, GMimeContentType *ct, guint depth,
    guint container)
{
	const char *boundary = g_mime_content_type_get_parameter(ct, "boundary");
	const char *sub = g_mime_content_type_get_media_subtype(ct);
	const char *fallback = sub && g_ascii_strcasecmp(sub, "digest") == 0 ?
	    "message/rfc822" : "text/plain";
	g_autoptr(GArray) parts = NULL;
	const char *preamble_end;
	gboolean closed;

	if (boundary == NULL || *boundary == '\0') {
		add_defect(sp, g_strdup("multipart without boundary"));
		split_prologue(sp, h->body, h->end, container);
		return;
	}
	parts = mime_split_body(h->body, h->end, boundary, &closed, &preamble_end);
	if (parts->len == 0 && closed) {
		/* only a close delimiter: what is before it is all there is */
		add_defect(sp, g_strdup_printf("multipart \"%s\" without parts", boundary));
		split_prologue(sp, h->body, preamble_end, container);
		return;
	}
	if (parts->len == 0) {
		add_defect(sp, g_strdup_printf("boundary \"%s\" never found", boundary));
		split_prologue(sp, h->body, h->end, container);
		return;
	}
	if (!closed)
		add_defect(sp, g_strdup_printf("multipart \"%s\" not closed", boundary));
	for (guint i = 0; i < parts->len && !sp->error && !sp->capped; i++) {
		MimeRange *r = &g_array_index(parts, MimeRange, i);

		/* "--b" right after "--b": no octets, no part (RFC 2046 5.1.1) */
		if (r->start == r->end)
			continue;
		split_entity(sp, r->start, r->end, depth + 1, container, fallback, FALSE);
	}
}

/*
 * Parses a Content-Type value.  One without a subtype ("application;
 * name=x.pdf") keeps its parameters as application/octet-stream.
 */
static GMimeContentType *
parse_content_type(Splitter *sp, const char *value, GPtrArray *defects)
{
	const char *semi = strchr(value, ';');
	gsize tlen = semi ? (gsize)(semi - value) : strlen(value);
	g_autofree char *fixed = NULL;

	if (memchr(value, '/', tlen) == NULL) {
		/* "text" alone is text/plain (RFC 2045 5.2); anything else, bytes */
		gboolean text = tlen >= 4 && g_ascii_strncasecmp(value, "text", 4) == 0 &&
		    strspn(value + 4, " \t") == tlen - 4;

		fixed = g_strconcat(text ? "text/plain" : "application/octet-stream",
		    semi ? semi : "", NULL);
		g_ptr_array_add(defects, g_strdup_printf("content-type without subtype: %.*s",
		    (int)MIN(tlen, 40), value));
		value = fixed;
	}
	return g_mime_content_type_parse(sp->options, value);
}

/*
 * The content type of the entity of header @h.  Of two or more
 * Content-Type fields, the first whose boundary occurs in the body wins,
 * else the first (as Python and most clients do).  Transfer full.
 */
static GMimeContentType *
entity_type(Splitter *sp, const MimeHeader *h, const char *fallback, GPtrArray *defects)
{
	guint count = mime_header_count(h, "Content-Type");
	guint pick = 0;
	g_autofree char *value = NULL;

	if (count == 0)
		return g_mime_content_type_parse(sp->options, fallback);
	for (guint i = 0; count > 1 && i < count; i++) {
		g_autofree char *v = mime_header_get(h, "Content-Type", i);
		g_autoptr(GMimeContentType) ct = g_mime_content_type_parse(sp->options, v);
		const char *b = g_mime_content_type_get_parameter(ct, "boundary");

		if (b && *b && mime_boundary_occurs(h->body, h->end, b)) {
			pick = i;
			break;
		}
	}
	if (count > 1)
		g_ptr_array_add(defects, g_strdup_printf("%u content-type headers: number %u used",
		    count, pick + 1));
	value = mime_header_get(h, "Content-Type", pick);
	return parse_content_type(sp, value, defects);
}

/*
 * Splits the entity [@p, @end): its header, then by its type.  Depth-first
 * over the MIME tree: the order of DESIGN §3.  @message: the entity is a
 * message (what may precede its header is skipped); @fallback: the type
 * without a Content-Type (RFC 2046 5.1.5: message/rfc822 in a digest).
 */
static void
split_entity(Splitter *sp, const char *p, const char *end, guint depth, guint container,
    const char *fallback, gboolean message)
{
	g_autoptr(GPtrArray) defects = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GMimeContentType) ct = NULL;
	g_autofree char *full = NULL;
	g_autofree char *type = NULL;
	MimeHeader h = { 0 };

	if (sp->error || sp->capped)
		return;
	mime_header_parse(&h, message ? mime_skip_envelope(p, end) : p, end);
	h.end = end;
	if (h.no_separator && h.fields->len > 0)
		g_ptr_array_add(defects, g_strdup("header block not ended by a blank line"));
	ct = entity_type(sp, &h, fallback, defects);
	full = g_mime_content_type_get_mime_type(ct);
	type = g_ascii_strdown(full, -1);
	if (depth > sp->max_depth) {
		g_autofree char *name = part_name(sp, NULL, "message/rfc822");

		whole_part(sp, p, end, type, name, container, "nested deeper than max_depth");
	} else if (g_str_has_prefix(type, "multipart/")) {
		split_multipart(sp, &h, ct, depth, container);
	} else if (strcmp(type, "message/rfc822") == 0 || strcmp(type, "message/global") == 0) {
		split_forwarded(sp, &h, depth, container);
	} else if (strcmp(type, "message/external-body") == 0) {
		/* RFC 2046 5.2.3: the body is the header (and body) of the
		 * entity kept elsewhere; what it holds is that entity's */
		split_entity(sp, h.body, h.end, depth + 1, container, "text/plain", FALSE);
	} else {
		/* a report (delivery, read) or message/partial is a leaf */
		split_leaf(sp, &h, ct, type, container, defects);
		g_ptr_array_set_size(defects, 0);
	}
	for (guint i = 0; i < defects->len; i++)
		add_defect(sp, g_strdup(defects->pdata[i]));
	mime_header_clear(&h);
}

static GMimeParserOptions *
parser_options(Splitter *sp)
{
	static const char *fallback[] = { "utf-8", "windows-1252", NULL };
	GMimeParserOptions *o = g_mime_parser_options_new();

	/* real mail: RFC 2047 inside quotes and words, raw 8-bit, broken 2231 */
	g_mime_parser_options_set_rfc2047_compliance_mode(o, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_parameter_compliance_mode(o, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_address_compliance_mode(o, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_fallback_charsets(o, fallback);
	g_mime_parser_options_set_warning_callback(o, on_warning, sp);
	return o;
}

/* The message's own fields, from its header block. */
static void
read_fields(Splitter *sp, const char *data, gsize len, MdirSplitResult *result)
{
	MimeHeader h = { 0 };
	g_autoptr(GMimeMessage) msg = NULL;

	mime_header_parse(&h, mime_skip_envelope(data, data + len), data + len);
	msg = header_message(sp, &h);
	mime_header_clear(&h);
	if (msg == NULL)
		return;
	message_fields(sp, msg, sp->common);
	result->message_id = g_strdup(g_mime_message_get_message_id(msg));
}

/* Splits the raw message, mapped. */
static void
split_raw(Splitter *sp, const MdirSplitOptions *opts, MdirSplitResult *result, GError **error)
{
	g_autofree char *path = mdir_store_txn_part_path(sp->txn, 0);
	GMappedFile *map = g_mapped_file_new(path, FALSE, error);
	const char *data;
	gsize len;

	if (map == NULL)
		return;
	data = g_mapped_file_get_contents(map);
	len = g_mapped_file_get_length(map);
	/* an empty file maps to NULL, and NULL + 0 is undefined in C */
	if (data == NULL) {
		data = "";
		len = 0;
	}
	sp->budget = BUDGET_FACTOR * (gint64)len + BUDGET_FLOOR;
	sp->map = data;
	sp->map_end = data + len;
	mime_set_progress(release, sp);
	read_fields(sp, data, len, result);
	sp->base_name = make_base_name(mdir_record_get(sp->common, "subject"));
	if (opts->max_size > 0 && (gint64)len > opts->max_size)
		add_defect(sp, g_strdup("larger than max_size: kept whole, unsplit"));
	else if (len > 0)
		split_entity(sp, data, data + len, 0, 0, "text/plain", TRUE);
	mime_set_progress(NULL, NULL);
	sp->map = sp->map_end = NULL;
	g_mapped_file_unref(map);
}

gboolean
mdir_mime_split(MdirStoreTxn *txn, const MdirSplitOptions *opts, MdirSplitResult *result,
    GError **error)
{
	Splitter sp = { .txn = txn, .next = 1 };
	g_autoptr(GPtrArray) defects = g_ptr_array_new_with_free_func(g_free);
	MdirRecord *r0 = mdir_store_txn_record(txn, 0);
	GError *e = NULL;

	mdir_mime_init();
	sp.defects = defects;
	sp.options = parser_options(&sp);
	/* whatever the configuration: the recursion must fit the stack */
	sp.max_depth = MIN(opts->max_depth, MAX_DEPTH);
	sp.max_parts = opts->max_parts;
	sp.common = mdir_record_new();
	split_raw(&sp, opts, result, &e);
	if (e) {
		g_propagate_error(error, e);
		g_mime_parser_options_free(sp.options);
		mdir_record_free(sp.common);
		g_free(sp.base_name);
		return FALSE;
	}
	mdir_record_add(r0, "content-type", "message/rfc822");
	{
		g_autofree char *name = g_strconcat(sp.base_name, ".eml", NULL);

		mdir_record_add(r0, "suggested-name", name);
	}
	mdir_record_add(r0, "disposition", "inline");
	if (sp.capped) {
		g_autofree char *why = g_strdup_printf("%s: parts from %u on are only in the "
		    "raw message", sp.capped, sp.next);

		mdir_record_add(r0, "unsplit", why);
	}
	add_common(&sp, r0, TRUE);
	for (guint i = 0; i < defects->len; i++)
		mdir_record_add(r0, "defects", defects->pdata[i]);
	result->defects = defects->len;
	result->subject = g_strdup(mdir_record_get(sp.common, "subject"));
	result->from = g_strdup(mdir_record_get(sp.common, "from"));
	mdir_record_free(sp.common);
	g_free(sp.base_name);
	g_mime_parser_options_free(sp.options);
	if (sp.error) {
		g_propagate_error(error, sp.error);
		return FALSE;
	}
	return TRUE;
}

void
mdir_split_result_clear(MdirSplitResult *result)
{
	g_clear_pointer(&result->message_id, g_free);
	g_clear_pointer(&result->subject, g_free);
	g_clear_pointer(&result->from, g_free);
}
