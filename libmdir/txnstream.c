/*
 * txnstream.c: TxnStream, a write-only GMimeStream into the part being
 * written (txnstream.h).  Text is converted to UTF-8 on the way; an
 * undeclared charset is guessed from the first SNIFF_MAX bytes.
 */
#include <errno.h>
#include <string.h>

#include <gmime/gmime.h>
#include <glib.h>

#include "mdir.h"
#include "private.h"
#include "txnstream.h"

#define SNIFF_MAX (256 * 1024) /* bytes looked at to guess an undeclared charset */

typedef struct {
	GMimeStreamClass parent_class;
} TxnStreamClass;

G_DEFINE_TYPE(TxnStream, txn_stream, GMIME_TYPE_STREAM)

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
void
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

TxnStream *
txn_stream_new(MdirStoreTxn *txn, const char *charset)
{
	TxnStream *s = g_object_new(txn_stream_get_type(), NULL);

	g_mime_stream_construct(GMIME_STREAM(s), 0, -1);
	s->txn = txn;
	if (charset == NULL)
		return s;
	s->text = TRUE;
	/* declared UTF-8 is taken at its word: a bad byte is U+FFFD */
	if (*charset && g_ascii_strcasecmp(charset, "us-ascii") != 0) {
		s->cd = g_iconv_open("UTF-8", g_mime_charset_iconv_name(charset));
		if (s->cd != (GIConv)-1)
			return s;
	}
	/* none declared, ASCII (often wrongly) or unknown: look */
	s->sniffing = TRUE;
	return s;
}

