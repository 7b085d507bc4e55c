/* Unit tests of record.c: the header record format of mdir(5). */
#include <string.h>

#include "testutil.h"

static void
test_roundtrip(void)
{
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autoptr(MdirRecord) back = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;

	mdir_record_add(r, "url", "mstore:a@b/1");
	mdir_record_add(r, "To", "x@example.org");
	mdir_record_add(r, "to", "y@example.org");
	mdir_record_add(r, "x-unknown-field", "kept");
	text = mdir_record_to_string(r, NULL);
	g_assert_cmpstr(text, ==, "url: mstore:a@b/1\nto: x@example.org\nto: y@example.org\n"
	    "x-unknown-field: kept\n");
	back = mdir_record_parse(text, -1, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(mdir_record_length(back), ==, 4);
	g_assert_cmpstr(mdir_record_get(back, "x-unknown-field"), ==, "kept");
}

static guint
count(const char **v)
{
	guint n = 0;

	while (v[n])
		n++;
	return n;
}

static void
test_repeated(void)
{
	g_autoptr(MdirRecord) r = mdir_record_parse("to: a\nsubject: s\nto: b\nto: c\n", -1,
	    NULL);
	g_autofree const char **all = mdir_record_get_all(r, "to");

	g_assert_cmpuint(count(all), ==, 3);
	g_assert_cmpstr(all[0], ==, "a");
	g_assert_cmpstr(all[2], ==, "c");
	mdir_record_set(r, "to", "only");
	g_assert_cmpstr(mdir_record_get(r, "to"), ==, "only");
	g_free(all);
	all = mdir_record_get_all(r, "to");
	g_assert_cmpuint(count(all), ==, 1);
	/* set keeps the field's place */
	{
		const char *name;

		mdir_record_nth(r, 0, &name, NULL);
		g_assert_cmpstr(name, ==, "to");
	}
}

static void
test_crlf_in_values(void)
{
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autofree char *text = NULL;

	mdir_record_add(r, "subject", "line one\r\nline two\rthree\nfour");
	text = mdir_record_to_string(r, NULL);
	g_assert_cmpstr(text, ==, "subject: line one  line two three four\n");
}

static void
test_invalid_utf8(void)
{
	g_autoptr(MdirRecord) r = mdir_record_new();
	const char *v;

	mdir_record_add(r, "subject", "caf\xe9 \xff ok");
	v = mdir_record_get(r, "subject");
	g_assert_true(g_utf8_validate(v, -1, NULL));
	g_assert_true(g_str_has_suffix(v, " ok"));
}

static void
test_names_cleaned(void)
{
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autofree char *text = NULL;

	mdir_record_add(r, "Content-Type", "text/plain");
	mdir_record_add(r, "bad name: x", "v");
	text = mdir_record_to_string(r, NULL);
	g_assert_cmpstr(text, ==, "content-type: text/plain\nbad-name--x: v\n");
}

static void
test_parse_tolerant(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirRecord) r = mdir_record_parse("a: 1\r\n\nb:2\nc:   spaced\nd:\n", -1,
	    &error);

	g_assert_no_error(error);
	g_assert_cmpstr(mdir_record_get(r, "a"), ==, "1");
	g_assert_cmpstr(mdir_record_get(r, "b"), ==, "2");
	g_assert_cmpstr(mdir_record_get(r, "c"), ==, "spaced");
	g_assert_cmpstr(mdir_record_get(r, "d"), ==, "");
	g_assert_cmpint(mdir_record_get_int(r, "a", -1), ==, 1);
	g_assert_cmpint(mdir_record_get_int(r, "c", -1), ==, -1);
}

static void
test_parse_errors(void)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(MdirRecord) r = mdir_record_parse("a: 1\nno colon here\n", -1, &error);

	g_assert_null(r);
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_CORRUPT);
	g_assert_cmpstr(error->message, ==, "line 2: expected 'name: value'");
	g_clear_error(&error);
	r = mdir_record_parse(": empty name\n", -1, &error);
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_CORRUPT);
	g_clear_error(&error);
	/* a name of blanks, or cut short by a NUL, is no name (fuzz-record) */
	r = mdir_record_parse("a: 1\n \t: blanks\n", -1, &error);
	g_assert_null(r);
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_CORRUPT);
	g_assert_cmpstr(error->message, ==, "line 2: a field with no name");
	g_clear_error(&error);
	r = mdir_record_parse("\0x: nul\n", 9, &error);
	g_assert_null(r);
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_CORRUPT);
}

/* Issue 15.8: a value's leading blanks survive the round trip. */
static void
test_leading_blanks(void)
{
	static const char *const values[] = { " one space", "\ttab", "  two", " ", "\\back",
		"\\ both", "trailing ", "plain", "", "a\\b" };
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autoptr(MdirRecord) back = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;

	for (guint i = 0; i < G_N_ELEMENTS(values); i++)
		mdir_record_add(r, "v", values[i]);
	text = mdir_record_to_string(r, NULL);
	back = mdir_record_parse(text, -1, &error);
	g_assert_no_error(error);
	g_assert_cmpuint(mdir_record_length(back), ==, G_N_ELEMENTS(values));
	for (guint i = 0; i < G_N_ELEMENTS(values); i++) {
		const char *v;

		mdir_record_nth(back, i, NULL, &v);
		g_assert_cmpstr(v, ==, values[i]);
	}
	/* only what needs it is escaped: plain values read as before */
	g_assert_nonnull(strstr(text, "v: \\ one space\n"));
	g_assert_nonnull(strstr(text, "v: plain\nv: \nv: a\\b\n"));
}

static void
test_save_load(void)
{
	g_autoptr(MdirRecord) r = mdir_record_new();
	g_autoptr(MdirRecord) back = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *path = g_build_filename(test_dir(), "rec", NULL);
	g_autofree char *missing = g_build_filename(test_dir(), "nope", NULL);

	mdir_record_add(r, "k", "v");
	g_assert_true(mdir_record_save(r, path, &error));
	back = mdir_record_load(path, &error);
	g_assert_no_error(error);
	g_assert_cmpstr(mdir_record_get(back, "k"), ==, "v");
	g_assert_null(mdir_record_load(missing, &error));
	g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
	g_assert_nonnull(strstr(error->message, missing));
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/record/roundtrip", test_roundtrip);
	g_test_add_func("/record/repeated", test_repeated);
	g_test_add_func("/record/crlf-in-values", test_crlf_in_values);
	g_test_add_func("/record/invalid-utf8", test_invalid_utf8);
	g_test_add_func("/record/names-cleaned", test_names_cleaned);
	g_test_add_func("/record/parse-tolerant", test_parse_tolerant);
	g_test_add_func("/record/parse-errors", test_parse_errors);
	g_test_add_func("/record/save-load", test_save_load);
	g_test_add_func("/record/leading-blanks", test_leading_blanks);
	return g_test_run();
}
