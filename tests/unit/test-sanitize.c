/* Unit tests of sanitize.c: names from messages made safe (DESIGN §6). */
#include <string.h>

#include "testutil.h"

static void
assert_safe(const char *name)
{
	g_assert_nonnull(name);
	g_assert_null(strchr(name, '/'));
	g_assert_null(strchr(name, '\\'));
	g_assert_cmpint(name[0], !=, '.');
	g_assert_true(g_utf8_validate(name, -1, NULL));
	g_assert_cmpuint(strlen(name), <=, MDIR_NAME_MAX);
	for (const char *p = name; *p; p++)
		g_assert_cmpint((unsigned char)*p, >=, 0x20);
	g_assert_true(mdir_name_is_safe(name));
}

static void
test_traversal(void)
{
	g_autofree char *a = mdir_sanitize_name("../../etc/passwd", -1);
	g_autofree char *b = mdir_sanitize_name("..\\..\\boot.ini", -1);
	g_autofree char *c = mdir_sanitize_name("/etc/shadow", -1);

	assert_safe(a);
	assert_safe(b);
	assert_safe(c);
	g_assert_cmpstr(a, ==, "_.._etc_passwd");
	g_assert_cmpstr(c, ==, "_etc_shadow");
}

static void
test_dots(void)
{
	g_autofree char *a = mdir_sanitize_name(".htaccess", -1);
	g_autofree char *b = mdir_sanitize_name("...", -1);
	g_autofree char *c = mdir_sanitize_name("..", -1);
	g_autofree char *d = mdir_sanitize_name("  report.pdf  ", -1);

	g_assert_cmpstr(a, ==, "htaccess");
	g_assert_null(b);
	g_assert_null(c);
	g_assert_cmpstr(d, ==, "report.pdf");
}

static void
test_long(void)
{
	g_autoptr(GString) s = g_string_new(NULL);
	g_autofree char *a = NULL;
	g_autofree char *b = NULL;

	for (int i = 0; i < 300; i++)
		g_string_append_c(s, 'a' + i % 26);
	g_string_append(s, ".pdf");
	a = mdir_sanitize_name(s->str, -1);
	assert_safe(a);
	g_assert_cmpuint(strlen(a), ==, MDIR_NAME_MAX);
	g_assert_true(g_str_has_suffix(a, ".pdf"));
	/* multi-byte characters are never cut in half */
	g_string_truncate(s, 0);
	for (int i = 0; i < 150; i++)
		g_string_append(s, "\xc3\xa9");
	g_string_append(s, ".txt");
	b = mdir_sanitize_name(s->str, -1);
	assert_safe(b);
	g_assert_true(g_str_has_suffix(b, ".txt"));
}

static void
test_invalid_utf8(void)
{
	g_autofree char *a = mdir_sanitize_name("r\xe9sum\xe9.doc", -1);
	g_autofree char *b = mdir_sanitize_name("\xff\xfe", -1);

	assert_safe(a);
	g_assert_cmpstr(a, ==, "r_sum_.doc");
	g_assert_null(b);
}

static void
test_controls(void)
{
	g_autofree char *a = mdir_sanitize_name("a\tb\nc\x01" "d\x7f.txt", -1);
	g_autofree char *b = mdir_sanitize_name("invoice\xe2\x80\xae" "fdp.exe", -1);
	g_autofree char *c = mdir_sanitize_name("what?<now>:|\"*.txt", -1);

	assert_safe(a);
	g_assert_cmpstr(a, ==, "a b c d .txt");
	assert_safe(b);
	g_assert_null(strstr(b, "\xe2\x80\xae"));
	assert_safe(c);
	g_assert_cmpstr(c, ==, "what__now_____.txt");
}

static void
test_unicode_kept(void)
{
	g_autofree char *a = mdir_sanitize_name("Résumé – 履歴書.pdf", -1);
	/* NFD input comes out NFC */
	g_autofree char *b = mdir_sanitize_name("Re\xcc\x81sume\xcc\x81.pdf", -1);

	g_assert_cmpstr(a, ==, "Résumé – 履歴書.pdf");
	g_assert_cmpstr(b, ==, "R\xc3\xa9sum\xc3\xa9.pdf");
}

/*
 * mdir(5) "Names": what is refused, written down from the page and not
 * from the code.  C0, DEL and C1 controls, the characters file systems and
 * sync clients refuse, and the bidirectional controls (Bidi_Control:
 * U+061C, U+200E, U+200F, U+202A-202E, U+2066-2069).
 */
static gboolean
page_forbids(gunichar c)
{
	if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0))
		return TRUE;
	if (c == 0x061c || c == 0x200e || c == 0x200f || (c >= 0x202a && c <= 0x202e) ||
	    (c >= 0x2066 && c <= 0x2069))
		return TRUE;
	switch (c) {
	case '/': case '\\': case ':': case '*': case '?': case '"': case '<': case '>':
	case '|':
		return TRUE;
	default:
		return FALSE;
	}
}

static void
assert_kept(const char *name)
{
	g_autofree char *clean = mdir_sanitize_name(name, -1);

	g_assert_cmpstr(clean, ==, name);
	g_assert_true(mdir_name_is_safe(name));
}

/*
 * Letters of every script are kept (issue 14.1: code points were compared
 * by their low byte, so o U+043E was taken for '>' and every code point
 * ending in 00 for the end of the string).
 */
static void
test_scripts(void)
{
	static const char *const names[] = {
		"отчёт кв.pdf",		/* Cyrillic: о U+043E, к U+043A */
		"Отчёт за Январь ЯПК.xlsx",	/* Я U+042F, П U+041F */
		"ἀρχεῖον Σύμβαση.pdf",	/* Greek: ἀ U+1F00 */
		"שלום עולם.txt",		/* Hebrew */
		"تقرير سنوي.pdf",		/* Arabic: ت U+062A */
		"一月の報告書.pdf",		/* CJK: 一 U+4E00 */
		"中文为.txt",			/* 为 U+4E3A */
		"हिन्दी रिपोर्ट.pdf",	/* Devanagari: ि U+093F, प U+092A */
		"😀 party 🐼.jpg",		/* emoji: U+1F600, U+1F43C */
		"z\xcc\xaa a\xcc\xbc.txt",	/* combining marks U+032A, U+033C */
		"👩‍👩‍👧 family.png",	/* ZWJ sequence */
	};

	for (gsize i = 0; i < G_N_ELEMENTS(names); i++)
		assert_kept(names[i]);
}

/* The bidirectional controls are refused, one by one. */
static void
test_bidi_controls(void)
{
	static const gunichar bidi[] = { 0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c,
		0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069 };

	for (gsize i = 0; i < G_N_ELEMENTS(bidi); i++) {
		char c[8] = { 0 };
		g_autofree char *name = NULL;
		g_autofree char *clean = NULL;

		g_unichar_to_utf8(bidi[i], c);
		name = g_strconcat("invoice", c, "fdp.exe", NULL);
		clean = mdir_sanitize_name(name, -1);
		g_assert_cmpstr(clean, ==, "invoice_fdp.exe");
		g_assert_false(mdir_name_is_safe(name));
	}
}

/*
 * Every code point between two letters, against the page: refused ones
 * become '_' (controls a blank), all others are kept as they are in NFC.
 */
static void
test_every_code_point(void)
{
	for (gunichar c = 1; c <= 0x10ffff; c++) {
		char u[8] = { 0 };
		g_autofree char *name = NULL;
		g_autofree char *clean = NULL;
		g_autofree char *nfc = NULL;

		if (c >= 0xd800 && c <= 0xdfff)
			continue;
		g_unichar_to_utf8(c, u);
		name = g_strconcat("a", u, "b.txt", NULL);
		clean = mdir_sanitize_name(name, -1);
		if (page_forbids(c)) {
			if (g_strcmp0(clean, "a_b.txt") != 0 && g_strcmp0(clean, "a b.txt") != 0)
				g_error("U+%04X: '%s', refused by mdir(5)", c, clean);
			continue;
		}
		nfc = g_utf8_normalize(name, -1, G_NORMALIZE_NFC);
		if (g_strcmp0(clean, nfc) != 0)
			g_error("U+%04X: '%s', not '%s'", c, clean, nfc);
	}
}

/* Pieces names are made of in the property test: the hard cases. */
static const char *const pieces[] = {
	"a", "Z", "0", ".", ". ", " .", " ", "  ", "\t", "\n", "\r", "\x01", "\x7f", "/", "\\",
	":", "*", "?", "\"", "<", ">", "|", "_", "-", "-2", ".pdf", ".tar.gz", "é", "e\xcc\x81",
	"\xcc\x81", "\xcc\xb8", "\xc2\x85", "\xe2\x80\xae", "\xe2\x81\xa6", "\xef\xbb\xbf", "\xe4\xb8\x80",
	"\xf0\x9f\x98\x80", "\xd0\xbe", "\xff", "\xc3", "\xe2\x80", "\xf0\x9f\x98", "\xed\xa0\x80",
	"\xc0\xaf", "\xe3\x80\x80", "\xc2\xa0", "\xef\xbc\x8e",
};

/* A generated name: pieces, random bytes, sometimes long. */
static GString *
random_name(void)
{
	GString *s = g_string_new(NULL);
	guint n = g_test_rand_int_range(0, 8) == 0 ? g_test_rand_int_range(100, 400) :
	    g_test_rand_int_range(0, 30);

	for (guint i = 0; i < n; i++) {
		if (g_test_rand_int_range(0, 4) == 0)
			g_string_append_c(s, (char)g_test_rand_int_range(1, 256));
		else
			g_string_append(s, pieces[g_test_rand_int_range(0,
			    G_N_ELEMENTS(pieces))]);
	}
	return s;
}

/*
 * sanitise(sanitise(x)) == sanitise(x), and what comes out is a name every
 * check accepts (issue 15.5: a name cut after a blank ended in a blank,
 * which the name check then refused).
 */
static void
test_idempotent(void)
{
	for (guint i = 0; i < 50000; i++) {
		g_autoptr(GString) s = random_name();
		g_autofree char *once = mdir_sanitize_name(s->str, s->len);
		g_autofree char *twice = NULL;

		if (once == NULL)
			continue;
		twice = mdir_sanitize_name(once, -1);
		if (g_strcmp0(once, twice) != 0) {
			g_autofree char *in = g_strescape(s->str, NULL);
			g_autofree char *a = g_strescape(once, NULL);
			g_autofree char *b = g_strescape(twice ? twice : "(null)", NULL);

			g_error("'%s' gives '%s', then '%s'", in, a, b);
		}
		assert_safe(once);
		g_assert_false(g_ascii_isspace(once[strlen(once) - 1]));
		g_assert_cmpint(once[strlen(once) - 1], !=, '.');
	}
}

/* A name cut at the limit right after a blank does not end in one. */
static void
test_cut_after_blank(void)
{
	g_autoptr(GString) s = g_string_new(NULL);
	g_autofree char *a = NULL;
	g_autofree char *b = NULL;

	g_string_append(s, "x");
	while (s->len < MDIR_NAME_MAX - 1)
		g_string_append_c(s, 'y');
	g_string_append(s, "  and more words after the limit");
	a = mdir_sanitize_name(s->str, -1);
	assert_safe(a);
	g_assert_cmpuint(strlen(a), ==, MDIR_NAME_MAX - 1);
	/* with an extension: no blank left before the dot either */
	g_string_append(s, ".pdf");
	g_string_erase(s, MDIR_NAME_MAX - 6, 1);
	b = mdir_sanitize_name(s->str, -1);
	assert_safe(b);
	g_assert_true(g_str_has_suffix(b, "y.pdf"));
}

static void
test_is_safe(void)
{
	g_assert_true(mdir_name_is_safe("report.pdf"));
	g_assert_false(mdir_name_is_safe(".version"));
	g_assert_false(mdir_name_is_safe("a/b"));
	g_assert_false(mdir_name_is_safe(""));
	g_assert_false(mdir_name_is_safe(NULL));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/sanitize/traversal", test_traversal);
	g_test_add_func("/sanitize/dots", test_dots);
	g_test_add_func("/sanitize/long", test_long);
	g_test_add_func("/sanitize/invalid-utf8", test_invalid_utf8);
	g_test_add_func("/sanitize/controls", test_controls);
	g_test_add_func("/sanitize/unicode-kept", test_unicode_kept);
	g_test_add_func("/sanitize/is-safe", test_is_safe);
	g_test_add_func("/sanitize/scripts", test_scripts);
	g_test_add_func("/sanitize/bidi-controls", test_bidi_controls);
	g_test_add_func("/sanitize/every-code-point", test_every_code_point);
	g_test_add_func("/sanitize/idempotent", test_idempotent);
	g_test_add_func("/sanitize/cut-after-blank", test_cut_after_blank);
	return g_test_run();
}
