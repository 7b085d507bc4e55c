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
	return g_test_run();
}
