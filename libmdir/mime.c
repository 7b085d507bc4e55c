/*
 * mime.c: splitting a spooled message into the store's parts (DESIGN §3,
 * §4 mdir-receive).
 *
 * GMime parses the raw message from its file with a persistent stream, so
 * part contents stay on disk as substreams and memory stays small whatever
 * the size.  Each leaf is decoded (base64, quoted-printable, uuencode)
 * straight into the store transaction through TxnStream below; text is
 * converted to UTF-8 on the way.  A forwarded message is kept whole as an
 * .eml part and its own leaves are split too.  Malformed MIME is never a
 * reason to refuse: what GMime can read is split, the raw message is
 * always part 0, and GMime's warnings go into the record as "defects".
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <gmime/gmime.h>
#include <glib.h>

#include "mdir.h"
#include "private.h"

#define SNIFF_MAX (256 * 1024) /* bytes looked at to guess an undeclared charset */
#define NAME_FROM_SUBJECT_MAX 80
#define MAX_DEFECTS 20

/* TxnStream: a write-only GMimeStream into the part being written ------- */

typedef struct {
	GMimeStream parent;
	MdirStoreTxn *txn;
	GError *error;
	GIConv cd;	   /* (GIConv)-1 until decided; then to UTF-8 */
	gboolean text;	   /* convert to UTF-8 */
	gboolean sniffing; /* charset undeclared or UTF-8: look first */
	GByteArray *pending;
	char *detected; /* the charset used, when we chose it */
} TxnStream;

typedef struct {
	GMimeStreamClass parent_class;
} TxnStreamClass;

GType txn_stream_get_type(void);
G_DEFINE_TYPE(TxnStream, txn_stream, GMIME_TYPE_STREAM)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(TxnStream, g_object_unref)

static gboolean
sink(TxnStream *s, const void *data, gsize len)
{
	if (s->error == NULL && len > 0)
		mdir_store_txn_write(s->txn, data, len, &s->error);
	return s->error == NULL;
}

/*
 * Converts s->pending to UTF-8 as far as it is complete.  An invalid byte
 * becomes U+FFFD and is skipped: a stored text is always valid UTF-8, and
 * one bad byte never costs the rest.
 */
static void
convert_pending(TxnStream *s, gboolean final)
{
	static const char replacement[] = "\xef\xbf\xbd";
	char out[16384];
	gchar *in = (gchar *)s->pending->data;
	gsize left = s->pending->len;

	while (left > 0 && s->error == NULL) {
		gchar *op = out;
		gsize oleft = sizeof(out);
		gsize r = g_iconv(s->cd, &in, &left, &op, &oleft);
		int errsv = errno;

		sink(s, out, op - out);
		if (r != (gsize)-1 || errsv == E2BIG)
			continue;
		if (errsv == EINVAL && !final)
			break; /* an incomplete sequence: wait for the rest */
		sink(s, replacement, 3);
		in++;
		left--;
	}
	if (final) {
		gchar *op = out;
		gsize oleft = sizeof(out);

		g_iconv(s->cd, NULL, NULL, &op, &oleft);
		sink(s, out, op - out);
	}
	g_byte_array_remove_range(s->pending, 0, s->pending->len - left);
}

/* Chooses the charset of an undeclared (or UTF-8) text from its start. */
static void
decide(TxnStream *s, gboolean final)
{
	const char *end = NULL;
	const char *data = (const char *)s->pending->data;
	gboolean valid = g_utf8_validate(data, s->pending->len, &end);

	/* a sequence cut at the window's end is not evidence against UTF-8 */
	if (!valid && !final && s->pending->len - (end - data) < 4 &&
	    g_utf8_get_char_validated(end, s->pending->len - (end - data)) == (gunichar)-2)
		valid = TRUE;
	s->detected = g_strdup(valid ? "utf-8" : "windows-1252");
	s->cd = g_iconv_open("UTF-8", valid ? "UTF-8" : "WINDOWS-1252");
	s->sniffing = FALSE;
}

static ssize_t
txn_stream_write(GMimeStream *stream, const char *buf, size_t len)
{
	TxnStream *s = (TxnStream *)stream;

	if (!s->text) {
		if (!sink(s, buf, len))
			return -1;
		stream->position += len;
		return len;
	}
	g_byte_array_append(s->pending, (const guint8 *)buf, len);
	if (s->sniffing && s->pending->len >= SNIFF_MAX)
		decide(s, FALSE);
	if (!s->sniffing)
		convert_pending(s, FALSE);
	stream->position += len;
	return s->error ? -1 : (ssize_t)len;
}

/* Ends the text: decides if still undecided, converts what is left. */
static void
txn_stream_finish(TxnStream *s)
{
	if (!s->text)
		return;
	if (s->sniffing)
		decide(s, TRUE);
	convert_pending(s, TRUE);
}

static ssize_t
txn_stream_read(GMimeStream *stream, char *buf, size_t len)
{
	(void)stream;
	(void)buf;
	(void)len;
	return -1;
}

static int
txn_stream_noop(GMimeStream *stream)
{
	(void)stream;
	return 0;
}

static gboolean
txn_stream_eos(GMimeStream *stream)
{
	(void)stream;
	return TRUE;
}

static gint64
txn_stream_tell(GMimeStream *stream)
{
	return stream->position;
}

static gint64
txn_stream_seek(GMimeStream *stream, gint64 offset, GMimeSeekWhence whence)
{
	(void)stream;
	(void)offset;
	(void)whence;
	return -1;
}

static gint64
txn_stream_length(GMimeStream *stream)
{
	(void)stream;
	return -1;
}

static void
txn_stream_finalize(GObject *object)
{
	TxnStream *s = (TxnStream *)object;

	if (s->cd != (GIConv)-1)
		g_iconv_close(s->cd);
	g_byte_array_unref(s->pending);
	g_clear_error(&s->error);
	g_free(s->detected);
	G_OBJECT_CLASS(txn_stream_parent_class)->finalize(object);
}

static void
txn_stream_class_init(TxnStreamClass *klass)
{
	GMimeStreamClass *sc = GMIME_STREAM_CLASS(klass);

	G_OBJECT_CLASS(klass)->finalize = txn_stream_finalize;
	sc->read = txn_stream_read;
	sc->write = txn_stream_write;
	sc->flush = txn_stream_noop;
	sc->close = txn_stream_noop;
	sc->reset = txn_stream_noop;
	sc->eos = txn_stream_eos;
	sc->seek = txn_stream_seek;
	sc->tell = txn_stream_tell;
	sc->length = txn_stream_length;
}

static void
txn_stream_init(TxnStream *s)
{
	s->cd = (GIConv)-1;
	s->pending = g_byte_array_new();
}

/*
 * A stream into the open part.  @charset: NULL for bytes as they are;
 * otherwise the declared charset ("" if none) of a text to store as UTF-8.
 */
static TxnStream *
txn_stream_new(MdirStoreTxn *txn, const char *charset)
{
	TxnStream *s = g_object_new(txn_stream_get_type(), NULL);

	g_mime_stream_construct(GMIME_STREAM(s), 0, -1);
	s->txn = txn;
	if (charset == NULL)
		return s;
	s->text = TRUE;
	if (*charset && g_ascii_strcasecmp(charset, "utf-8") != 0 &&
	    g_ascii_strcasecmp(charset, "us-ascii") != 0) {
		s->cd = g_iconv_open("UTF-8", g_mime_charset_iconv_name(charset));
		if (s->cd != (GIConv)-1)
			return s;
	}
	/* none declared, ASCII, UTF-8 (often wrongly) or unknown: look */
	s->sniffing = TRUE;
	return s;
}

/* The splitter ------------------------------------------------------------- */

typedef struct {
	MdirStoreTxn *txn;
	GMimeParserOptions *options;
	guint next;	   /* the next part number */
	guint max_depth;
	MdirRecord *common; /* the message's own fields, added to every part */
	char *base_name;   /* made from the subject */
	GPtrArray *defects;
	gboolean bad_header; /* GMime met a line that is no header */
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
on_warning(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer data)
{
	Splitter *sp = data;
	GPtrArray *defects = sp->defects;

	if (code == GMIME_CRIT_INVALID_HEADER_NAME)
		sp->bad_header = TRUE;
	if (defects->len >= MAX_DEFECTS)
		return;
	g_ptr_array_add(defects, item && *item ?
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

/* Copies the common fields into @r. */
static void
add_common(Splitter *sp, MdirRecord *r)
{
	for (guint i = 0; i < mdir_record_length(sp->common); i++) {
		const char *n, *v;

		mdir_record_nth(sp->common, i, &n, &v);
		mdir_record_add(r, n, v);
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
		g_autoptr(GDateTime) utc = g_date_time_to_utc(date);
		g_autofree char *s = g_date_time_format(utc, "%Y-%m-%dT%H:%M:%SZ");

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

static guint
begin_part(Splitter *sp, MdirRecord **rec)
{
	guint n = sp->next++;

	if (!mdir_store_txn_open_part(sp->txn, n, &sp->error))
		return 0;
	*rec = mdir_store_txn_record(sp->txn, n);
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
	return mdir_store_txn_close_part(sp->txn, &sp->error);
}

/* Writes a whole object (a forwarded message, a part too deep) as one part. */
static guint
whole_part(Splitter *sp, GMimeObject *obj, const char *mime_type, const char *name,
    guint container, const char *why)
{
	MdirRecord *r = NULL;
	g_autoptr(TxnStream) s = NULL;
	guint n = begin_part(sp, &r);

	if (sp->error)
		return 0;
	s = txn_stream_new(sp->txn, NULL);
	if (g_mime_object_write_to_stream(obj, NULL, GMIME_STREAM(s)) < 0 && s->error == NULL)
		g_set_error(&sp->error, MDIR_ERROR, MDIR_ERROR_FAILED, "part %u: cannot write", n);
	mdir_record_add(r, "content-type", mime_type);
	mdir_record_add(r, "suggested-name", name);
	mdir_record_add(r, "disposition", "attachment");
	if (container)
		mdir_record_set_int(r, "container", container);
	mdir_record_add(r, "unsplit", why); /* NULL adds nothing */
	add_common(sp, r);
	return end_part(sp, s) ? n : 0;
}

static void split_object(Splitter *sp, GMimeObject *obj, guint depth, guint container);

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
	g_autoptr(GRegex) begin = g_regex_new("^begin [0-7]{3,4} (.+)$", 0, 0, NULL);
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

			begin_part(sp, &r);
			if (sp->error)
				break;
			in = TRUE;
			mdir_record_add(r, "content-type", mime ? mime : "application/octet-stream");
			mdir_record_add(r, "suggested-name", name);
			mdir_record_add(r, "disposition", "attachment");
			mdir_record_add(r, "transfer-encoding", "x-uuencode");
			mdir_record_set_int(r, "container", text);
			add_common(sp, r);
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

/* Leaves ----------------------------------------------------------------- */

/* "type/subtype" in lower case.  Transfer full. */
static char *
mime_type_of(GMimeObject *obj)
{
	g_autofree char *t = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(obj));

	return g_ascii_strdown(t, -1);
}

/* Whether a text type carries its charset inside (HTML's meta, XML's prolog). */
static gboolean
self_declaring(const char *mime_type)
{
	return g_ascii_strcasecmp(mime_type, "text/html") == 0 ||
	    g_ascii_strcasecmp(mime_type, "text/xml") == 0;
}

static void
leaf_record(Splitter *sp, GMimePart *part, MdirRecord *r, const char *mime_type,
    guint container)
{
	GMimeObject *obj = GMIME_OBJECT(part);
	GMimeContentDisposition *disp = g_mime_object_get_content_disposition(obj);
	const char *filename = g_mime_part_get_filename(part);
	const char *cte = g_mime_object_get_header(obj, "Content-Transfer-Encoding");
	const char *cid = g_mime_object_get_content_id(obj);
	g_autofree char *name = part_name(sp, filename, mime_type);
	g_autofree char *cte_clean = cte ? g_ascii_strdown(cte, -1) : NULL;
	const char *d = disp ? g_mime_content_disposition_get_disposition(disp) : NULL;

	mdir_record_add(r, "content-type", mime_type);
	mdir_record_add(r, "suggested-name", name);
	if (d == NULL || *d == '\0')
		d = filename ? "attachment" : "inline";
	mdir_record_add(r, "disposition", g_ascii_strcasecmp(d, "attachment") == 0 ?
	    "attachment" : "inline");
	mdir_record_add(r, "transfer-encoding", cte_clean ? g_strstrip(cte_clean) : "7bit");
	mdir_record_add(r, "content-id", cid);
	if (container)
		mdir_record_set_int(r, "container", container);
}

static void
split_leaf(Splitter *sp, GMimePart *part, guint container)
{
	GMimeObject *obj = GMIME_OBJECT(part);
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	g_autofree char *mime_type = mime_type_of(obj);
	const char *declared = g_mime_content_type_get_parameter(ct, "charset");
	gboolean text = g_str_has_prefix(mime_type, "text/") && !self_declaring(mime_type);
	GMimeDataWrapper *content = g_mime_part_get_content(part);
	g_autoptr(TxnStream) s = NULL;
	MdirRecord *r = NULL;
	guint n = begin_part(sp, &r);

	if (sp->error)
		return;
	leaf_record(sp, part, r, mime_type, container);
	s = txn_stream_new(sp->txn, text ? (declared ? declared : "") : NULL);
	if (content && g_mime_data_wrapper_write_to_stream(content, GMIME_STREAM(s)) < 0 &&
	    s->error == NULL)
		mdir_record_add(r, "defects", "content could not be decoded in full");
	txn_stream_finish(s);
	if (text) {
		mdir_record_add(r, "charset", "utf-8");
		mdir_record_add(r, "original-charset", declared);
		if (s->detected)
			mdir_record_add(r, "detected-charset", s->detected);
	} else if (declared) {
		mdir_record_add(r, "charset", declared);
	}
	add_common(sp, r);
	if (!end_part(sp, s))
		return;
	if (g_ascii_strcasecmp(mime_type, "text/plain") == 0)
		split_uuencode(sp, n);
}

static void
split_forwarded(Splitter *sp, GMimeMessagePart *mp, guint depth, guint container)
{
	g_autofree char *type = mime_type_of(GMIME_OBJECT(mp));
	GMimeMessage *msg = g_mime_message_part_get_message(mp);
	const char *subject = msg ? g_mime_message_get_subject(msg) : NULL;
	g_autofree char *safe = subject ? mdir_sanitize_name(subject, -1) : NULL;
	g_autofree char *name = NULL;
	guint n;

	/* a delivery or read report is a leaf: its "headers" are its text */
	if (strcmp(type, "message/rfc822") != 0 && strcmp(type, "message/global") != 0) {
		g_autofree char *report = part_name(sp, NULL, type);

		whole_part(sp, msg ? GMIME_OBJECT(msg) : GMIME_OBJECT(mp), type, report,
		    container, NULL);
		return;
	}
	name = safe ? g_strconcat(safe, ".eml", NULL) : part_name(sp, NULL, "message/rfc822");
	if (msg == NULL) {
		whole_part(sp, GMIME_OBJECT(mp), "message/rfc822", name, container, "empty");
		return;
	}
	n = whole_part(sp, GMIME_OBJECT(msg), "message/rfc822", name, container, "forwarded");
	if (n == 0)
		return;
	/* a forwarded message is a message: its record says so */
	mdir_record_remove(mdir_store_txn_record(sp->txn, n), "unsplit");
	mdir_record_add(mdir_store_txn_record(sp->txn, n), "forwarded-subject", subject);
	if (g_mime_message_get_mime_part(msg)) {
		/* its parts are named after its own subject, not the outer one */
		char *outer = sp->base_name;

		sp->base_name = make_base_name(subject);
		split_object(sp, g_mime_message_get_mime_part(msg), depth + 1, n);
		g_free(sp->base_name);
		sp->base_name = outer;
	}
}

/*
 * A multipart with no parts: its boundary is missing or never appears
 * (real mail does this).  GMime keeps the body as the prologue; it is the
 * only readable text there is, so it becomes a part.
 */
static void
split_prologue(Splitter *sp, GMimeMultipart *mp, guint container)
{
	const char *text = g_mime_multipart_get_prologue(mp);
	g_autoptr(TxnStream) s = NULL;
	g_autofree char *name = NULL;
	MdirRecord *r = NULL;

	if (text == NULL || strspn(text, " \t\r\n") == strlen(text))
		return;
	begin_part(sp, &r);
	if (sp->error)
		return;
	s = txn_stream_new(sp->txn, "");
	g_mime_stream_write_string(GMIME_STREAM(s), text);
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
	add_common(sp, r);
	end_part(sp, s);
}

/* Depth-first over the MIME tree: the order of DESIGN §3. */
static void
split_object(Splitter *sp, GMimeObject *obj, guint depth, guint container)
{
	if (sp->error)
		return;
	if (depth > sp->max_depth) {
		g_autofree char *type = mime_type_of(obj);
		g_autofree char *name = part_name(sp, NULL, "message/rfc822");

		whole_part(sp, obj, type, name, container, "nested deeper than max_depth");
		return;
	}
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int count = g_mime_multipart_get_count(mp);

		for (int i = 0; i < count && !sp->error; i++)
			split_object(sp, g_mime_multipart_get_part(mp, i), depth + 1, container);
		if (count == 0)
			split_prologue(sp, mp, container);
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		split_forwarded(sp, GMIME_MESSAGE_PART(obj), depth, container);
	} else if (GMIME_IS_PART(obj)) {
		split_leaf(sp, GMIME_PART(obj), container);
	}
}

/*
 * No body found because the "headers" ran into text (a digest or a note
 * without a blank line after its headers): the readable text is the raw
 * message itself, so it becomes a text part too.
 */
static void
split_headless(Splitter *sp)
{
	g_autofree char *path = mdir_store_txn_part_path(sp->txn, 0);
	g_autoptr(TxnStream) s = NULL;
	g_autofree char *name = part_name(sp, NULL, "text/plain");
	char buf[65536];
	MdirRecord *r = NULL;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		mdir_set_errno(&sp->error, errno, path);
		return;
	}
	begin_part(sp, &r);
	if (sp->error) {
		close(fd);
		return;
	}
	s = txn_stream_new(sp->txn, "");
	while (!sp->error && (n = read(fd, buf, sizeof(buf))) > 0)
		g_mime_stream_write(GMIME_STREAM(s), buf, n);
	close(fd);
	txn_stream_finish(s);
	mdir_record_add(r, "content-type", "text/plain");
	mdir_record_add(r, "suggested-name", name);
	mdir_record_add(r, "disposition", "inline");
	mdir_record_add(r, "charset", "utf-8");
	mdir_record_add(r, "detected-charset", s->detected);
	mdir_record_add(r, "unsplit", "no header/body separator");
	add_common(sp, r);
	end_part(sp, s);
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

/*
 * Parses the raw message of @txn (part 0, closed).  NULL with @error unset
 * if it is no message GMime can read.  Transfer full.
 */
static GMimeMessage *
parse_raw(MdirStoreTxn *txn, GMimeParserOptions *options, GError **error)
{
	g_autofree char *path = mdir_store_txn_part_path(txn, 0);
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *msg;
	char head[5] = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		mdir_set_errno(error, errno, path);
		return NULL;
	}
	if (pread(fd, head, 5, 0) < 0)
		head[0] = '\0';
	stream = g_mime_stream_fs_new(fd);
	parser = g_mime_parser_new_with_stream(stream);
	/* a leading mbox "From " line (some MTAs and tools add it) */
	g_mime_parser_set_format(parser, memcmp(head, "From ", 5) == 0 ? GMIME_FORMAT_MBOX :
	    GMIME_FORMAT_MESSAGE);
	g_mime_parser_set_persist_stream(parser, TRUE);
	msg = g_mime_parser_construct_message(parser, options);
	g_object_unref(parser);
	g_object_unref(stream);
	return msg;
}

gboolean
mdir_mime_split(MdirStoreTxn *txn, const MdirSplitOptions *opts, MdirSplitResult *result,
    GError **error)
{
	Splitter sp = { .txn = txn, .next = 1 };
	g_autoptr(GPtrArray) defects = g_ptr_array_new_with_free_func(g_free);
	GMimeParserOptions *options;
	GMimeMessage *msg;
	GError *e = NULL;
	MdirRecord *r0 = mdir_store_txn_record(txn, 0);
	gint64 size = mdir_record_get_int(r0, "size", 0);

	mdir_mime_init();
	sp.defects = defects;
	options = parser_options(&sp);
	sp.options = options;
	sp.max_depth = opts->max_depth;
	sp.common = mdir_record_new();
	msg = parse_raw(txn, options, &e);
	if (e) {
		g_propagate_error(error, e);
		g_mime_parser_options_free(options);
		mdir_record_free(sp.common);
		return FALSE;
	}
	if (msg) {
		message_fields(&sp, msg, sp.common);
		result->message_id = g_strdup(g_mime_message_get_message_id(msg));
	}
	sp.base_name = make_base_name(mdir_record_get(sp.common, "subject"));
	if (msg == NULL) {
		g_ptr_array_add(defects, g_strdup("no message structure: kept as text"));
		if (size > 0)
			split_headless(&sp);
	} else if (opts->max_size > 0 && size > opts->max_size)
		g_ptr_array_add(defects, g_strdup("larger than max_size: kept whole, unsplit"));
	else if (g_mime_message_get_mime_part(msg))
		split_object(&sp, g_mime_message_get_mime_part(msg), 0, 0);
	else if (sp.bad_header)
		split_headless(&sp);
	mdir_record_add(r0, "content-type", "message/rfc822");
	{
		g_autofree char *name = g_strconcat(sp.base_name, ".eml", NULL);

		mdir_record_add(r0, "suggested-name", name);
	}
	mdir_record_add(r0, "disposition", "inline");
	add_common(&sp, r0);
	for (guint i = 0; i < defects->len; i++)
		mdir_record_add(r0, "defects", defects->pdata[i]);
	result->defects = defects->len;
	result->subject = g_strdup(mdir_record_get(sp.common, "subject"));
	result->from = g_strdup(mdir_record_get(sp.common, "from"));
	mdir_record_free(sp.common);
	g_free(sp.base_name);
	if (msg)
		g_object_unref(msg);
	g_mime_parser_options_free(options);
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
