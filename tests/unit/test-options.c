/* Unit tests of options.c: the one option parser (DESIGN §4, §5). */
#include <locale.h>
#include <stdlib.h>

#include "testutil.h"

/*
 * An argv as main() gets it; freed with g_strfreev().  GOption takes the
 * options out of the array it parses without freeing them (they are
 * main()'s), so parse a view(): a copy of the pointers, g_free() it.
 */
static char **
args(const char *first, ...)
{
	GPtrArray *a = g_ptr_array_new();
	va_list ap;

	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		g_ptr_array_add(a, g_strdup(s));
	va_end(ap);
	g_ptr_array_add(a, NULL);
	return (char **)g_ptr_array_free(a, FALSE);
}

static char **
view(char **argv)
{
	return g_memdup2(argv, (g_strv_length(argv) + 1) * sizeof(char *));
}

/* pipe(8)'s locale: GOption's own string options would refuse UTF-8. */
static void
test_utf8_locale_c(void)
{
	g_autoptr(MdirOptions) o = mdir_options_new("prog", "[--] RCPT...", NULL, 0);
	g_autoptr(GError) error = NULL;
	g_autofree char *sender = NULL;
	g_auto(GStrv) rest = NULL;
	GOptionEntry entries[] = {
		{ "sender", 'f', 0, G_OPTION_ARG_STRING, &sender, NULL, NULL },
		{ G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &rest, NULL, NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};
	g_auto(GStrv) argv = args("prog", "-f", "x@bücher.example", "--", "дмитрий@пример.рф",
	    "用户@例子.中国", "😀@example.org", NULL);
	g_autofree char **v = view(argv);
	char **av = v;
	int ac = (int)g_strv_length(argv);

	g_assert_nonnull(setlocale(LC_ALL, "C"));
	mdir_options_add(o, entries);
	/* G_OPTION_REMAINING takes every argument left: none is */
	g_assert_cmpint(mdir_options_parse(o, &ac, &av, 0, 0, &error), ==, 1);
	g_assert_no_error(error);
	g_assert_cmpstr(sender, ==, "x@bücher.example");
	g_assert_cmpuint(g_strv_length(rest), ==, 3);
	g_assert_cmpstr(rest[0], ==, "дмитрий@пример.рф");
	g_assert_cmpstr(rest[2], ==, "😀@example.org");
	g_assert_null(mdir_options_config(o));
}

static void
test_invalid_utf8(void)
{
	g_autoptr(MdirOptions) o = mdir_options_new("prog", "FILE", NULL, 0);
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) argv = args("prog", "ok.txt", "a\377b.txt", NULL);
	g_autofree char **v = view(argv);
	char **av = v;
	int ac = 3;

	g_assert_cmpint(mdir_options_parse(o, &ac, &av, 0, -1, &error), ==, -1);
	g_assert_error(error, MDIR_ERROR, MDIR_ERROR_USAGE);
	g_assert_cmpstr(error->message, ==, "not valid UTF-8: 'a\\xffb.txt'");
}

/* -c before the command, after it, both: the one after wins. */
static void
test_config_around_command(void)
{
	g_autoptr(MdirOptions) top = mdir_options_new("tool", "COMMAND", NULL,
	    MDIR_OPTIONS_COMMAND);
	g_autoptr(MdirOptions) cmd = NULL;
	g_autoptr(GError) error = NULL;
	g_auto(GStrv) argv = args("tool", "-c", "a.conf", "ls", "-l", "--config=b.conf", "F",
	    NULL);
	g_autofree char **v = view(argv);
	char **av = v;
	int ac = (int)g_strv_length(argv);
	gboolean lng = FALSE;
	GOptionEntry entries[] = {
		{ "long", 'l', 0, G_OPTION_ARG_NONE, &lng, NULL, NULL },
		{ NULL, 0, 0, 0, NULL, NULL, NULL },
	};

	g_assert_cmpint(mdir_options_parse(top, &ac, &av, 1, -1, &error), ==, 1);
	g_assert_cmpstr(mdir_options_config(top), ==, "a.conf");
	/* strict POSIX: the command's options are left to it */
	g_assert_cmpint(ac, ==, 5);
	g_assert_cmpstr(av[1], ==, "ls");
	cmd = mdir_options_new_command(top, "ls", "FOLDER", NULL);
	mdir_options_add(cmd, entries);
	ac--;
	av++;
	g_assert_cmpint(mdir_options_parse(cmd, &ac, &av, 1, 1, &error), ==, 1);
	g_assert_no_error(error);
	g_assert_true(lng);
	g_assert_cmpint(ac, ==, 2);
	g_assert_cmpstr(av[1], ==, "F");
	g_assert_cmpstr(mdir_options_config(top), ==, "b.conf");
	g_assert_cmpstr(mdir_options_config(cmd), ==, "b.conf");
}

static void
test_usage_errors(void)
{
	g_autoptr(MdirOptions) top = mdir_options_new("tool", "COMMAND", NULL,
	    MDIR_OPTIONS_COMMAND);
	g_autoptr(MdirOptions) cmd = mdir_options_new_command(top, "put", "FILE [FOLDER]", NULL);
	g_autoptr(GError) e1 = NULL;
	g_autoptr(GError) e2 = NULL;
	g_autoptr(GError) e3 = NULL;
	g_auto(GStrv) a1 = args("put", NULL);
	g_auto(GStrv) a2 = args("put", "a", "b", "c", NULL);
	g_auto(GStrv) a3 = args("put", "--frob", "a", NULL);
	g_autofree char **v1 = view(a1);
	g_autofree char **v2 = view(a2);
	g_autofree char **v3 = view(a3);
	char **av;
	int ac;

	av = v1, ac = 1;
	g_assert_cmpint(mdir_options_parse(cmd, &ac, &av, 1, 2, &e1), ==, -1);
	g_assert_cmpstr(e1->message, ==, "put: too few arguments: expected FILE [FOLDER]");
	av = v2, ac = 4;
	g_assert_cmpint(mdir_options_parse(cmd, &ac, &av, 1, 2, &e2), ==, -1);
	g_assert_cmpstr(e2->message, ==, "put: too many arguments: expected FILE [FOLDER]");
	av = v3, ac = 3;
	g_assert_cmpint(mdir_options_parse(cmd, &ac, &av, 1, 2, &e3), ==, -1);
	g_assert_error(e3, MDIR_ERROR, MDIR_ERROR_USAGE);
	g_assert_cmpstr(e3->message, ==, "put: Unknown option --frob");
}

/* In the child: --help then -V; 0 if both said "stop here". */
static int
help_version_child(void)
{
	g_autoptr(MdirOptions) o = mdir_options_new("prog", "THING", "Does things.",
	    MDIR_OPTIONS_NO_SHORT_HELP);
	g_autoptr(MdirOptions) v = mdir_options_new("prog", NULL, NULL, 0);
	g_auto(GStrv) a1 = args("prog", "--help", NULL);
	g_auto(GStrv) a2 = args("prog", "-V", NULL);
	g_autofree char **v1 = view(a1);
	g_autofree char **v2 = view(a2);
	char **av = v1;
	int ac = 2;

	setlocale(LC_ALL, "C");
	mdir_options_add_command(o, "frob", "frob a thing");
	if (mdir_options_parse(o, &ac, &av, 1, 1, NULL) != 0)
		return 1;
	av = v2, ac = 2;
	return mdir_options_parse(v, &ac, &av, 1, 1, NULL) != 0;
}

/* --help and --version answer on stdout and say "stop here" (0). */
static void
test_help_version(void)
{
	if (g_test_subprocess())
		exit(help_version_child());
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
	g_test_trap_assert_passed();
	g_test_trap_assert_stdout("Usage:\n  * [OPTION\u2026] THING\n*Does things.*"
				  "  --help *show this help*  frob       frob a thing\n*"
				  "'prog COMMAND --help' describes each.\n*prog " MDIR_VERSION_STRING "\n");
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/options/utf8-locale-c", test_utf8_locale_c);
	g_test_add_func("/options/invalid-utf8", test_invalid_utf8);
	g_test_add_func("/options/config-around-command", test_config_around_command);
	g_test_add_func("/options/usage-errors", test_usage_errors);
	g_test_add_func("/options/help-version", test_help_version);
	return g_test_run();
}
