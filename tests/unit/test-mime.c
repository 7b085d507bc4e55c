/*
 * Unit tests of mime.c: the splitter and the record builder, over the
 * real-world-shaped messages in tests/data (each named for what it
 * exercises) and over messages made here (deep nesting, a big attachment).
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "private.h"
#include "testutil.h"

typedef struct {
	MdirStore *store;
	char *id;
	guint parts;
	MdirSplitResult res;
} Split;

static void
split_clear(Split *s)
{
	mdir_split_result_clear(&s->res);
	g_free(s->id);
	mdir_store_free(s->store);
}

static char *
fixture(const char *name)
{
	const char *src = g_getenv("MDIR_SRC");

	return g_build_filename(src ? src : ".", "tests", "data", name, NULL);
}

static void split_path_parts(Split *s, const char *path, guint max_depth, guint max_parts);

/* Splits the file at @path into a fresh store. */
static void
split_path(Split *s, const char *path, guint max_depth)
{
	split_path_parts(s, path, max_depth, 0);
}

static void
split_path_parts(Split *s, const char *path, guint max_depth, guint max_parts)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirStoreTxn) txn = NULL;
	g_autofree char *raw = NULL;
	g_autoptr(MdirRecord) r0 = NULL;
	g_autofree char *url = NULL;
	MdirSplitOptions opts = { .max_depth = max_depth, .max_size = 0, .max_parts = max_parts };
	char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	g_assert_cmpint(fd, >=, 0);
	memset(s, 0, sizeof(*s));
	s->store = test_store();
	txn = mdir_store_txn_begin(s->store, &error);
	g_assert_true(mdir_store_txn_open_part(txn, 0, &error));
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		g_assert_true(mdir_store_txn_write(txn, buf, n, &error));
	close(fd);
	g_assert_true(mdir_store_txn_close_part(txn, &error));
	g_assert_true(mdir_mime_split(txn, &opts, &s->res, &error));
	g_assert_no_error(error);
	g_assert_true(mdir_store_txn_commit(txn, s->res.message_id, &s->id, NULL, &error));
	url = mdir_url_build(s->id, 0);
	r0 = mdir_store_load_record(s->store, url, &error);
	g_assert_no_error(error);
	s->parts = (guint)mdir_record_get_int(r0, "parts", -1);
}

static void
split_fixture(Split *s, const char *name)
{
	g_autofree char *path = fixture(name);

	split_path(s, path, 64);
}

static MdirRecord *
rec(Split *s, guint part)
{
	g_autofree char *url = mdir_url_build(s->id, part);
	g_autoptr(GError) error = NULL;
	MdirRecord *r = mdir_store_load_record(s->store, url, &error);

	g_assert_no_error(error);
	return r;
}

static char *
content(Split *s, guint part, gsize *len)
{
	g_autofree char *url = mdir_url_build(s->id, part);
	g_autofree char *path = mdir_store_part_path(s->store, url, NULL);
	char *text = NULL;

	g_assert_nonnull(path);
	g_assert_true(g_file_get_contents(path, &text, len, NULL));
	return text;
}

#define assert_field(s, part, field, want) \
	do { \
		g_autoptr(MdirRecord) r_ = rec((s), (part)); \
		g_assert_cmpstr(mdir_record_get(r_, (field)), ==, (want)); \
	} while (0)

#define assert_content(s, part, want) \
	do { \
		g_autofree char *c_ = content((s), (part), NULL); \
		g_assert_cmpstr(c_, ==, (want)); \
	} while (0)

static void
test_mixed(void)
{
	Split s;

	split_fixture(&s, "multipart-mixed.eml");
	g_assert_cmpuint(s.parts, ==, 3);
	g_assert_cmpstr(s.id, ==, "mixed@sender.test");
	assert_field(&s, 0, "content-type", "message/rfc822");
	assert_field(&s, 0, "suggested-name", "Quarterly report.eml");
	assert_field(&s, 1, "content-type", "text/plain");
	assert_field(&s, 1, "suggested-name", "Quarterly report.txt");
	assert_field(&s, 1, "disposition", "inline");
	assert_content(&s, 1, "The report is attached."); /* RFC 2046: the CRLF before a boundary is the boundary's */
	assert_field(&s, 2, "suggested-name", "report.pdf");
	assert_field(&s, 2, "disposition", "attachment");
	assert_field(&s, 2, "transfer-encoding", "base64");
	assert_field(&s, 2, "size", "51");
	assert_field(&s, 3, "content-type", "image/png");
	assert_field(&s, 3, "subject", "Quarterly report");
	assert_field(&s, 3, "from", "Alice <alice@sender.test>");
	assert_field(&s, 3, "date", "2026-11-22T09:00:00Z");
	{
		gsize len;
		g_autofree char *pdf = content(&s, 2, &len);

		g_assert_cmpuint(len, ==, 51);
		g_assert_true(g_str_has_prefix(pdf, "%PDF-1.4"));
	}
	split_clear(&s);
}

static void
test_alternative_related_signed(void)
{
	Split s;

	split_fixture(&s, "multipart-alternative.eml");
	g_assert_cmpuint(s.parts, ==, 2);
	assert_content(&s, 1, "Caf\xc3\xa9 at noon?");
	assert_field(&s, 2, "content-type", "text/html");
	/* HTML declares its charset inside: its bytes stay as they came */
	assert_field(&s, 2, "charset", "utf-8");
	split_clear(&s);
	split_fixture(&s, "multipart-related.eml");
	g_assert_cmpuint(s.parts, ==, 2);
	assert_field(&s, 2, "content-id", "logo@sender.test");
	assert_field(&s, 2, "disposition", "inline");
	split_clear(&s);
	split_fixture(&s, "multipart-signed.eml");
	g_assert_cmpuint(s.parts, ==, 2);
	assert_field(&s, 2, "content-type", "application/pgp-signature");
	assert_field(&s, 2, "suggested-name", "signature.asc");
	split_clear(&s);
}

static void
test_nested_rfc822(void)
{
	Split s;

	split_fixture(&s, "nested-rfc822.eml");
	g_assert_cmpuint(s.parts, ==, 4);
	assert_content(&s, 1, "See below.");
	assert_field(&s, 2, "content-type", "message/rfc822");
	assert_field(&s, 2, "suggested-name", "The original.eml");
	assert_field(&s, 2, "forwarded-subject", "The original");
	assert_field(&s, 3, "container", "2");
	assert_field(&s, 3, "suggested-name", "The original.txt");
	assert_content(&s, 3, "Original text.");
	assert_field(&s, 4, "suggested-name", "data.csv");
	assert_field(&s, 4, "container", "2");
	assert_field(&s, 4, "subject", "Fwd: The original");
	{
		g_autofree char *eml = content(&s, 2, NULL);

		g_assert_nonnull(strstr(eml, "Message-ID: <inner@other.test>"));
		g_assert_nonnull(strstr(eml, "1,2"));
	}
	split_clear(&s);
}

static void
test_uuencode(void)
{
	Split s;

	split_fixture(&s, "uuencode-in-text.eml");
	g_assert_cmpuint(s.parts, ==, 2);
	assert_field(&s, 2, "suggested-name", "hello.txt");
	assert_field(&s, 2, "container", "1");
	assert_field(&s, 2, "transfer-encoding", "x-uuencode");
	assert_content(&s, 2, "hello, world!\n");
	{
		/* the text keeps its block: nothing is lost */
		g_autofree char *text = content(&s, 1, NULL);

		g_assert_nonnull(strstr(text, "begin 644 hello.txt"));
	}
	split_clear(&s);
}

/*
 * A begin line in an 8-bit text part that is not UTF-8 ("café" in
 * Latin-1): the file is split out all the same, its name read in the
 * part's charset; and where the part is kept as bytes, the line is
 * matched as bytes.
 */
static void
test_uuencode_latin1_name(void)
{
	Split s;

	split_fixture(&s, "uuencode-latin1-name.eml");
	g_assert_cmpuint(s.parts, ==, 2);
	assert_field(&s, 2, "suggested-name", "caf\u00e9.txt");
	assert_field(&s, 2, "transfer-encoding", "x-uuencode");
	assert_content(&s, 2, "hello, world!\n");
	split_clear(&s);
	/* in a part kept as bytes (not UTF-8 as declared, with a NUL) */
	split_fixture(&s, "uuencode-bytes-name.eml");
	g_assert_cmpuint(s.parts, ==, 2);
	assert_field(&s, 1, "defects", "not text in its charset, with NUL bytes: kept as bytes");
	assert_field(&s, 2, "transfer-encoding", "x-uuencode");
	assert_content(&s, 2, "hello, world!\n");
	split_clear(&s);
}

static void
test_tnef(void)
{
	Split s;

	split_fixture(&s, "tnef-winmail.eml");
	g_assert_cmpuint(s.parts, ==, 2);
	assert_field(&s, 2, "content-type", "application/ms-tnef");
	assert_field(&s, 2, "suggested-name", "winmail.dat");
	assert_field(&s, 2, "size", "68");
	split_clear(&s);
}

static void
check_charset(const char *file, const char *declared, const char *subject, const char *text)
{
	Split s;

	split_fixture(&s, file);
	g_assert_cmpuint(s.parts, ==, 1);
	assert_field(&s, 1, "charset", "utf-8");
	assert_field(&s, 1, "original-charset", declared);
	assert_field(&s, 1, "subject", subject);
	assert_field(&s, 0, "subject", subject);
	assert_content(&s, 1, text);
	split_clear(&s);
}

static void
test_charsets(void)
{
	check_charset("charset-koi8-r.eml", "koi8-r", "Отчёт", "Привет, мир! Отчёт готов.\n");
	check_charset("charset-windows-1251.eml", "windows-1251", "Отчёт",
	    "Привет, мир! Отчёт готов.\n");
	check_charset("charset-gb2312.eml", "gb2312", "报告", "你好，世界。报告已准备好。");
	check_charset("charset-iso-2022-jp.eml", "ISO-2022-JP", "報告書",
	    "こんにちは、世界。報告書です。\n");
}

static void
test_undeclared_8bit(void)
{
	Split s;

	split_fixture(&s, "undeclared-8bit.eml");
	assert_field(&s, 1, "detected-charset", "windows-1252");
	assert_content(&s, 1, "Une crème brûlée, s'il vous plaît.\n");
	assert_field(&s, 0, "subject", "Café crème");
	assert_field(&s, 0, "from", "René <rene@sender.test>");
	split_clear(&s);
	split_fixture(&s, "mislabelled-utf8.eml");
	assert_field(&s, 1, "original-charset", "us-ascii");
	assert_field(&s, 1, "detected-charset", "utf-8");
	assert_content(&s, 1, "Straße € 5\n");
	split_clear(&s);
}

static void
test_names(void)
{
	Split s;
	g_autoptr(MdirRecord) r = NULL;
	const char *n;

	split_fixture(&s, "rfc2231-names.eml");
	g_assert_cmpuint(s.parts, ==, 4);
	assert_field(&s, 2, "suggested-name", "日本語 の報告.pdf");
	assert_field(&s, 3, "suggested-name", "Ärger.docx");
	assert_field(&s, 4, "suggested-name", "résumé.txt");
	split_clear(&s);
	split_fixture(&s, "hostile-names.eml");
	assert_field(&s, 1, "suggested-name", "_.._etc_passwd");
	assert_field(&s, 2, "suggested-name", "htaccess");
	r = rec(&s, 3);
	n = mdir_record_get(r, "suggested-name");
	g_assert_cmpuint(strlen(n), <=, MDIR_NAME_MAX);
	g_assert_true(g_str_has_suffix(n, ".exe"));
	split_clear(&s);
}

static void
test_malformed(void)
{
	Split s;
	g_autoptr(MdirRecord) r = NULL;

	split_fixture(&s, "missing-boundary.eml");
	r = rec(&s, 0);
	g_assert_nonnull(mdir_record_get(r, "defects"));
	g_assert_cmpuint(s.res.defects, >, 0);
	{
		/* the raw message is kept, byte for byte */
		g_autofree char *path = fixture("missing-boundary.eml");
		g_autofree char *orig = NULL;
		g_autofree char *kept = content(&s, 0, NULL);

		g_assert_true(g_file_get_contents(path, &orig, NULL, NULL));
		g_assert_cmpstr(kept, ==, orig);
	}
	split_clear(&s);
	/* a body that starts "From " is text, not an envelope line */
	split_fixture(&s, "missing-boundary-from.eml");
	g_assert_cmpuint(s.parts, ==, 1);
	assert_content(&s, 1, "From here on, no part.\n");
	split_clear(&s);
	split_fixture(&s, "truncated-multipart.eml");
	g_assert_cmpuint(s.parts, ==, 2);
	assert_content(&s, 1, "first part");
	split_clear(&s);
	split_fixture(&s, "broken-rfc2047.eml");
	assert_field(&s, 0, "from", "Müller <m@sender.test>");
	{
		g_autoptr(MdirRecord) r0 = rec(&s, 0);
		const char *subj = mdir_record_get(r0, "subject");

		g_assert_true(g_str_has_prefix(subj, "Äpfel"));
		g_assert_true(g_utf8_validate(subj, -1, NULL));
	}
	split_clear(&s);
}

static void
test_odd_shapes(void)
{
	Split s;

	split_fixture(&s, "no-message-id.eml");
	g_assert_null(s.res.message_id);
	g_assert_true(g_str_has_suffix(s.id, "@mdir.invalid"));
	assert_content(&s, 1, "No Message-ID here.\n");
	split_clear(&s);
	split_fixture(&s, "crlf.eml");
	g_assert_cmpuint(s.parts, ==, 2);
	assert_field(&s, 2, "suggested-name", "n.txt");
	split_clear(&s);
	split_fixture(&s, "nul-bytes.eml");
	{
		gsize len;
		g_autofree char *c = content(&s, 1, &len);

		g_assert_cmpuint(len, ==, 18);
		g_assert_cmpmem(c, len, "before\0after\0\0end\n", 18);
	}
	split_clear(&s);
	split_fixture(&s, "from-line.eml");
	assert_field(&s, 0, "subject", "With a From_ line");
	assert_content(&s, 1, "Body.\n");
	split_clear(&s);
}

/* A message nested @depth multiparts deep, written to a file. */
static char *
make_deep(guint depth)
{
	g_autoptr(GString) m = g_string_new("From: a@sender.test\nSubject: deep\n"
	    "Message-ID: <deep@sender.test>\nMIME-Version: 1.0\n");
	char *path = g_build_filename(test_dir(), "deep.eml", NULL);

	for (guint i = 0; i < depth; i++)
		g_string_append_printf(m, "Content-Type: multipart/mixed; boundary=\"b%u\"\n\n"
		    "--b%u\n", i, i);
	g_string_append(m, "Content-Type: text/plain\n\nthe bottom\n");
	for (guint i = depth; i > 0; i--)
		g_string_append_printf(m, "--b%u--\n", i - 1);
	g_assert_true(g_file_set_contents(path, m->str, m->len, NULL));
	return path;
}

static void
test_deep_nesting(void)
{
	g_autofree char *path = make_deep(1000);
	g_autoptr(MdirRecord) r = NULL;
	Split s;

	/* the raw message is kept regardless; a max_depth too large for the
	 * stack is held to 1000 */
	split_path(&s, path, 64);
	r = rec(&s, 0);
	g_assert_cmpint(mdir_record_get_int(r, "size", 0), >, 20000);
	split_clear(&s);
	g_clear_pointer(&r, mdir_record_free);
	g_free(path);
	path = make_deep(20000);
	split_path(&s, path, G_MAXUINT);
	g_assert_cmpuint(s.parts, ==, 1);
	r = rec(&s, 1);
	g_assert_cmpstr(mdir_record_get(r, "unsplit"), ==, "nested deeper than max_depth");
	split_clear(&s);
	g_clear_pointer(&r, mdir_record_free);
	/* below GMime's limit, over ours: the rest is kept whole, unsplit */
	g_free(path);
	path = make_deep(20);
	split_path(&s, path, 5);
	g_assert_cmpuint(s.parts, ==, 1);
	r = rec(&s, 1);
	g_assert_cmpstr(mdir_record_get(r, "unsplit"), ==, "nested deeper than max_depth");
	g_assert_cmpstr(mdir_record_get(r, "content-type"), ==, "multipart/mixed");
	{
		g_autofree char *c = content(&s, 1, NULL);

		g_assert_nonnull(strstr(c, "the bottom"));
	}
	split_clear(&s);
}

static void
test_big_attachment(void)
{
	g_autofree char *path = g_build_filename(test_dir(), "big.eml", NULL);
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
	g_autoptr(MdirRecord) r = NULL;
	FILE *fp = fopen(path, "w");
	guchar chunk[57 * 1000];
	Split s;
	const gsize total = 50 * 1024 * 1024;
	gsize done = 0;

	fputs("From: a@sender.test\nSubject: big\nMessage-ID: <big@sender.test>\n"
	    "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"B\"\n\n--B\n"
	    "Content-Type: application/octet-stream; name=big.bin\n"
	    "Content-Transfer-Encoding: base64\n\n", fp);
	while (done < total) {
		gsize n = MIN(sizeof(chunk), total - done);
		g_autofree char *enc = NULL;

		for (gsize i = 0; i < n; i++)
			chunk[i] = (guchar)((done + i) * 2654435761u >> 13);
		g_checksum_update(sum, chunk, n);
		enc = g_base64_encode(chunk, n);
		/* 76-column lines, as mailers write them */
		for (gsize off = 0, len = strlen(enc); off < len; off += 76)
			fprintf(fp, "%.76s\n", enc + off);
		done += n;
	}
	fputs("--B--\n", fp);
	fclose(fp);
	split_path(&s, path, 64);
	g_assert_cmpuint(s.parts, ==, 1);
	r = rec(&s, 1);
	g_assert_cmpint(mdir_record_get_int(r, "size", 0), ==, (gint64)total);
	g_assert_cmpstr(mdir_record_get(r, "sha256"), ==, g_checksum_get_string(sum));
	split_clear(&s);
}

/* Issue 14: the splitter keeps what was sent -------------------------------- */

#define assert_bytes(s, part, want, wlen) \
	do { \
		gsize l_; \
		g_autofree char *c_ = content((s), (part), &l_); \
		g_assert_cmpmem(c_, l_, (want), (wlen)); \
	} while (0)

static void
test_base64_unpadded(void)
{
	Split s;

	split_fixture(&s, "b64-unpadded.eml");
	g_assert_cmpuint(s.parts, ==, 3);
	assert_content(&s, 2, "hello"); /* a final partial quantum, as Python decodes it */
	assert_content(&s, 3, "hello, world");
	split_clear(&s);
}

static void
test_boundary_line_ends(void)
{
	Split s;

	split_fixture(&s, "boundary-line-ends.eml");
	g_assert_cmpuint(s.parts, ==, 4);
	assert_content(&s, 1, "first"); /* CRLF before the boundary: both go */
	assert_content(&s, 2, "ZWg="); /* LF alone: only it goes */
	assert_content(&s, 3, "one\ntwo\r\n");
	assert_content(&s, 4, "eh");
	split_clear(&s);
}

static void
test_envelope_and_blank_lines(void)
{
	Split s;

	split_fixture(&s, "from-line-body.eml");
	g_assert_cmpuint(s.parts, ==, 2);
	assert_field(&s, 0, "subject", "A patch");
	assert_content(&s, 1, "The patch below.\nFrom here on, the patch:\nthanks");
	assert_field(&s, 2, "suggested-name", "fix.patch");
	assert_content(&s, 2, "--- a/x\n+++ b/x\nFrom the top");
	{
		/* the raw message keeps its envelope line */
		g_autofree char *raw = content(&s, 0, NULL);

		g_assert_true(g_str_has_prefix(raw, "From alice@sender.test Mon"));
	}
	split_clear(&s);
	split_fixture(&s, "leading-blank.eml");
	g_assert_cmpuint(s.parts, ==, 2);
	assert_field(&s, 0, "subject", "Leading blanks");
	assert_content(&s, 1, "Hello.");
	assert_field(&s, 2, "suggested-name", "a.pdf");
	assert_content(&s, 2, "%PDF-1.4\n");
	split_clear(&s);
}

static void
test_two_content_types(void)
{
	Split s;
	g_autoptr(MdirRecord) r = NULL;

	split_fixture(&s, "two-content-types.eml");
	g_assert_cmpuint(s.parts, ==, 2);
	assert_content(&s, 1, "The visible text.");
	assert_field(&s, 2, "suggested-name", "b.pdf");
	r = rec(&s, 0);
	g_assert_nonnull(strstr(mdir_record_get(r, "defects"), "content-type"));
	split_clear(&s);
	g_clear_pointer(&r, mdir_record_free);
	/* the second field's boundary is the one that occurs: it is used */
	split_fixture(&s, "two-content-types-second.eml");
	g_assert_cmpuint(s.parts, ==, 2);
	assert_content(&s, 1, "The visible text.");
	assert_field(&s, 2, "suggested-name", "b.pdf");
	assert_bytes(&s, 2, "%PDF-1.4\n", 9);
	r = rec(&s, 0);
	g_assert_nonnull(strstr(mdir_record_get(r, "defects"), "content-type"));
	split_clear(&s);
}

static void
test_part_without_blank_line(void)
{
	Split s;

	split_fixture(&s, "part-no-blank.eml");
	g_assert_cmpuint(s.parts, ==, 2);
	assert_field(&s, 2, "suggested-name", "a.zip");
	assert_field(&s, 2, "content-type", "application/zip");
	assert_bytes(&s, 2, "PK\x03\x04\x0a\0\0\0\0\0PK\x05\x06\0\0\0\0", 18);
	split_clear(&s);
}

static void
test_type_without_subtype(void)
{
	Split s;

	split_fixture(&s, "type-no-subtype.eml");
	g_assert_cmpuint(s.parts, ==, 2);
	assert_field(&s, 2, "suggested-name", "x.pdf");
	assert_field(&s, 2, "content-type", "application/octet-stream");
	assert_content(&s, 2, "%PDF-1.4\n");
	split_clear(&s);
}

static void
test_attachments_as_sent(void)
{
	static const guchar png[] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
	Split s;

	split_fixture(&s, "attachment-charset.eml");
	g_assert_cmpuint(s.parts, ==, 4);
	/* the message's own text is converted... */
	assert_content(&s, 1, "Crème.");
	assert_field(&s, 1, "charset", "utf-8");
	assert_field(&s, 1, "original-charset", "iso-8859-1");
	/* ...a file is stored as it was sent */
	assert_bytes(&s, 2, "Not\xe9s.", 6);
	assert_field(&s, 2, "charset", "iso-8859-1");
	{
		gsize len;
		g_autofree char *c = content(&s, 3, &len);

		g_assert_cmpuint(len, ==, 70);
		g_assert_cmpmem(c, 8, png, 8);
	}
	/* text that is no text in its charset, with NULs: bytes */
	assert_bytes(&s, 4, "\xff\xfe\0a\0b\0", 7);
	split_clear(&s);
}

/* Issue 15.1: what one message can cost ------------------------------------- */

static void
test_max_parts(void)
{
	g_autofree char *path = g_build_filename(test_dir(), "many.eml", NULL);
	g_autoptr(GString) m = g_string_new("From: a@sender.test\nSubject: ");
	g_autoptr(MdirRecord) r0 = NULL;
	g_autoptr(MdirRecord) r1 = NULL;
	Split s;

	for (int i = 0; i < 500; i++)
		g_string_append(m, "long subject ");
	g_string_append(m, "\nMessage-ID: <many@sender.test>\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=\"m\"\n\n");
	for (int i = 0; i < 5; i++)
		g_string_append_printf(m, "--m\nContent-Type: text/plain; name=p%d.txt\n\npart %d\n",
		    i, i);
	g_string_append(m, "--m--\n");
	g_assert_true(g_file_set_contents(path, m->str, m->len, NULL));
	split_path_parts(&s, path, 64, 3);
	g_assert_cmpuint(s.parts, ==, 3);
	assert_content(&s, 3, "part 2");
	r0 = rec(&s, 0);
	g_assert_nonnull(strstr(mdir_record_get(r0, "unsplit"), "max_parts"));
	/* the whole subject in part 0, a cut one in the others */
	g_assert_cmpuint(strlen(mdir_record_get(r0, "subject")), ==, 500 * 13 - 1);
	r1 = rec(&s, 1);
	g_assert_cmpuint(strlen(mdir_record_get(r1, "subject")), <=, 1024);
	g_assert_cmpstr(mdir_record_get(r1, "truncated"), ==, "subject");
	split_clear(&s);
}

static void
test_part_budget(void)
{
	g_autofree char *path = g_build_filename(test_dir(), "tiny.eml", NULL);
	g_autoptr(GString) m = g_string_new("From: a@sender.test\nSubject: tiny\n"
	    "Message-ID: <tiny@sender.test>\nMIME-Version: 1.0\n"
	    "Content-Type: multipart/mixed; boundary=\"b\"\n\n");
	g_autoptr(MdirRecord) r0 = NULL;
	gint64 stored = 0;
	Split s;

	for (int i = 0; i < 20000; i++)
		g_string_append(m, "--b\n\nx\n");
	g_string_append(m, "--b--\n");
	g_assert_true(g_file_set_contents(path, m->str, m->len, NULL));
	split_path_parts(&s, path, 64, 10000);
	/* 140 KB of message may not become 9 MB of parts and records */
	g_assert_cmpuint(s.parts, >, 100);
	g_assert_cmpuint(s.parts, <, 10000);
	r0 = rec(&s, 0);
	g_assert_nonnull(strstr(mdir_record_get(r0, "unsplit"), "3 times"));
	for (guint i = 1; i <= s.parts; i++) {
		g_autofree char *url = mdir_url_build(s.id, i);
		g_autofree char *p = mdir_store_part_path(s.store, url, NULL);
		g_autofree char *dir = g_path_get_dirname(p);
		g_autofree char *meta = g_build_filename(dir, ".meta", strrchr(url, '/') + 1, NULL);
		GStatBuf st;

		g_assert_cmpint(g_stat(p, &st), ==, 0);
		stored += st.st_size;
		g_assert_cmpint(g_stat(meta, &st), ==, 0);
		stored += st.st_size;
	}
	g_assert_cmpint(stored, <, 3 * (gint64)m->len + 256 * 1024);
	split_clear(&s);
}

/* Files encoded inside a body: yEnc, BinHex 4.0 ------------------------------ */

static void
test_yenc(void)
{
	guchar all[512];
	Split s;

	for (int i = 0; i < 512; i++)
		all[i] = (guchar)i;
	split_fixture(&s, "yenc-in-text.eml");
	g_assert_cmpuint(s.parts, ==, 3);
	assert_field(&s, 2, "suggested-name", "all bytes.bin");
	assert_field(&s, 2, "container", "1");
	assert_field(&s, 2, "transfer-encoding", "x-yenc");
	assert_bytes(&s, 2, all, sizeof(all));
	{
		g_autoptr(MdirRecord) r = rec(&s, 2);

		g_assert_null(mdir_record_get(r, "defects"));
	}
	/* a CRC32 that does not match: kept, and said */
	assert_field(&s, 3, "suggested-name", "bad.bin");
	assert_content(&s, 3, "damaged");
	{
		g_autoptr(MdirRecord) r = rec(&s, 3);

		g_assert_nonnull(strstr(mdir_record_get(r, "defects"), "CRC32"));
	}
	split_clear(&s);

	/* a part of type application/x-yenc: its block is a file too */
	{
		guchar want[61];

		for (int i = 0; i < 52; i++)
			want[i] = (guchar)(i * 5);
		memcpy(want + 52, "yEnc part", 9);
		split_fixture(&s, "yenc-part.eml");
		g_assert_cmpuint(s.parts, ==, 3);
		assert_field(&s, 3, "suggested-name", "fifty.bin");
		assert_field(&s, 3, "container", "2");
		assert_bytes(&s, 3, want, sizeof(want));
		split_clear(&s);
	}
}

static void
test_binhex(void)
{
	static const char notes[] = "Notes from a Mac\r\x90\x90\x90 aaaaaaaa and more\r";
	Split s;

	split_fixture(&s, "binhex.eml");
	g_assert_cmpuint(s.parts, ==, 3);
	assert_field(&s, 2, "suggested-name", "notes.hqx");
	assert_field(&s, 3, "suggested-name", "notes.txt");
	assert_field(&s, 3, "container", "2");
	assert_field(&s, 3, "transfer-encoding", "x-binhex");
	assert_bytes(&s, 3, notes, sizeof(notes) - 1);
	split_clear(&s);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/mime/mixed", test_mixed);
	g_test_add_func("/mime/alternative-related-signed", test_alternative_related_signed);
	g_test_add_func("/mime/nested-rfc822", test_nested_rfc822);
	g_test_add_func("/mime/uuencode", test_uuencode);
	g_test_add_func("/mime/uuencode-latin1-name", test_uuencode_latin1_name);
	g_test_add_func("/mime/tnef", test_tnef);
	g_test_add_func("/mime/charsets", test_charsets);
	g_test_add_func("/mime/undeclared-8bit", test_undeclared_8bit);
	g_test_add_func("/mime/names", test_names);
	g_test_add_func("/mime/malformed", test_malformed);
	g_test_add_func("/mime/odd-shapes", test_odd_shapes);
	g_test_add_func("/mime/deep-nesting", test_deep_nesting);
	g_test_add_func("/mime/big-attachment", test_big_attachment);
	g_test_add_func("/mime/base64-unpadded", test_base64_unpadded);
	g_test_add_func("/mime/boundary-line-ends", test_boundary_line_ends);
	g_test_add_func("/mime/envelope-and-blank-lines", test_envelope_and_blank_lines);
	g_test_add_func("/mime/two-content-types", test_two_content_types);
	g_test_add_func("/mime/part-without-blank-line", test_part_without_blank_line);
	g_test_add_func("/mime/type-without-subtype", test_type_without_subtype);
	g_test_add_func("/mime/attachments-as-sent", test_attachments_as_sent);
	g_test_add_func("/mime/max-parts", test_max_parts);
	g_test_add_func("/mime/part-budget", test_part_budget);
	g_test_add_func("/mime/yenc", test_yenc);
	g_test_add_func("/mime/binhex", test_binhex);
	return g_test_run();
}
