/*
 * test-command.c: mdir-command's logic from the program's own objects:
 * TOTP against RFC 6238's appendix B (SHA-1) and RFC 4226's appendix D,
 * base32 against RFC 4648's vectors, the window of ±1 step, the secrets
 * file refused unless private, the subject tag, the command lines, and
 * the replay store.
 */
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "command.h"

/* RFC 6238 appendix B: the SHA-1 seed, 8 digits */
#define SEED "12345678901234567890"

static void
test_rfc6238(void)
{
	static const struct {
		gint64 time;
		const char *code;
	} v[] = {
		{ 59, "94287082" }, { 1111111109, "07081804" }, { 1111111111, "14050471" },
		{ 1234567890, "89005924" }, { 2000000000, "69279037" },
		{ 20000000000, "65353130" },
	};

	for (gsize i = 0; i < G_N_ELEMENTS(v); i++) {
		g_autofree char *c = totp_hotp((const guint8 *)SEED, 20, v[i].time / TOTP_STEP, 8);

		g_assert_cmpstr(c, ==, v[i].code);
	}
}

static void
test_rfc4226(void)
{
	static const char *const v[] = { "755224", "287082", "359152", "969429", "338314",
		"254676", "287922", "162583", "399871", "520489" };

	for (guint i = 0; i < G_N_ELEMENTS(v); i++) {
		g_autofree char *c = totp_hotp((const guint8 *)SEED, 20, i, 6);

		g_assert_cmpstr(c, ==, v[i]);
	}
}

static void
test_base32(void)
{
	static const struct {
		const char *plain, *b32;
	} v[] = { { "f", "MY======" }, { "fo", "MZXQ====" }, { "foo", "MZXW6===" },
		{ "foob", "MZXW6YQ=" }, { "fooba", "MZXW6YTB" }, { "foobar", "MZXW6YTBOI======" } };

	for (gsize i = 0; i < G_N_ELEMENTS(v); i++) {
		g_autoptr(GBytes) b = totp_base32_decode(v[i].b32);
		g_autofree char *e = totp_base32_encode((const guint8 *)v[i].plain,
		    strlen(v[i].plain));
		g_autofree char *lower = g_ascii_strdown(v[i].b32, -1);
		g_autoptr(GBytes) b2 = totp_base32_decode(lower);

		g_assert_nonnull(b);
		g_assert_cmpmem(g_bytes_get_data(b, NULL), g_bytes_get_size(b), v[i].plain,
		    strlen(v[i].plain));
		g_assert_true(g_bytes_equal(b, b2));
		g_assert_true(g_str_has_prefix(v[i].b32, e));
	}
	g_assert_null(totp_base32_decode("MZXW1"));
	g_assert_null(totp_base32_decode(""));
}

static void
test_window(void)
{
	g_autoptr(GBytes) key = g_bytes_new_static(SEED, 20);
	g_autofree char *c0 = totp_hotp((const guint8 *)SEED, 20, 1000, 6);
	g_autofree char *cm2 = totp_hotp((const guint8 *)SEED, 20, 998, 6);

	g_assert_cmpint(totp_match(key, c0, 1000, 1), ==, 1000);
	g_assert_cmpint(totp_match(key, c0, 1001, 1), ==, 1000);
	g_assert_cmpint(totp_match(key, c0, 999, 1), ==, 1000);
	g_assert_cmpint(totp_match(key, cm2, 1000, 1), ==, -1);
	g_assert_cmpint(totp_match(key, "12345", 1000, 1), ==, -1);
	g_assert_cmpint(totp_match(key, NULL, 1000, 1), ==, -1);
}

static void
test_secrets_private(void)
{
	g_autofree char *path = test_write_tmp("secrets",
	    "# who\nJo@Example.org  GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n");
	g_autoptr(GError) e = NULL;
	g_autoptr(GBytes) k = NULL;
	g_autoptr(GBytes) none = NULL;

	g_assert_cmpint(chmod(path, 0644), ==, 0);
	k = totp_secret_lookup(path, "jo@example.org", &e);
	g_assert_null(k);
	g_assert_error(e, MDIR_ERROR, MDIR_ERROR_CONFIG);
	g_assert_nonnull(strstr(e->message, "0644"));
	g_clear_error(&e);
	g_assert_cmpint(chmod(path, 0600), ==, 0);
	k = totp_secret_lookup(path, "jo@example.org", &e);
	g_assert_no_error(e);
	g_assert_nonnull(k);
	g_assert_cmpmem(g_bytes_get_data(k, NULL), g_bytes_get_size(k), SEED, 20);
	none = totp_secret_lookup(path, "ann@example.org", &e);
	g_assert_no_error(e);
	g_assert_null(none);
}

static void
test_enrol(void)
{
	g_autofree char *path = g_build_filename(test_dir(), "sub", "secrets", NULL);
	g_autofree char *s1 = NULL;
	g_autofree char *s2 = NULL;
	g_autofree char *text = NULL;
	g_autofree char *uri = NULL;
	g_autoptr(GError) e = NULL;
	g_autoptr(GBytes) k = NULL;
	g_auto(GStrv) lines = NULL;
	struct stat st;

	g_assert_true(totp_enrol(path, "jo@example.org", &s1, &e));
	g_assert_no_error(e);
	g_assert_true(totp_enrol(path, "ann@example.org", &s2, &e));
	g_assert_no_error(e);
	g_free(s1);
	g_assert_true(totp_enrol(path, "JO@example.org", &s1, &e));
	g_assert_cmpint(strlen(s1), ==, 32); /* 20 bytes */
	g_assert_cmpint(stat(path, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0600);
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	/* jo's old line replaced, ann's kept */
	lines = g_strsplit(text, "\n", -1);
	g_assert_cmpuint(g_strv_length(lines), ==, 3);
	k = totp_secret_lookup(path, "jo@example.org", &e);
	g_assert_no_error(e);
	g_assert_cmpint(g_bytes_get_size(k), ==, 20);
	g_clear_pointer(&s2, g_free);
	g_assert_false(totp_enrol(path, "not an address", &s2, &e));
	g_assert_error(e, MDIR_ERROR, MDIR_ERROR_USAGE);
	g_assert_null(s2);
	uri = totp_uri("иван@пример.рф", "ABC");
	g_assert_true(g_str_has_prefix(uri, "otpauth://totp/mdir:%D0%B8%D0%B2"));
	g_assert_nonnull(strstr(uri, "%40%D0%BF"));
	g_assert_nonnull(strstr(uri, "secret=ABC&issuer=mdir"));
}

static void
test_subject(void)
{
	char *code = NULL;

	g_assert_true(request_parse_subject("mailcom # 123456", "mailcom", &code));
	g_assert_cmpstr(code, ==, "123456");
	g_clear_pointer(&code, g_free);
	g_assert_true(request_parse_subject("  MailCom #123456 please", "mailcom", &code));
	g_assert_cmpstr(code, ==, "123456");
	g_clear_pointer(&code, g_free);
	g_assert_true(request_parse_subject("mailcom", "mailcom", &code));
	g_assert_null(code);
	g_assert_false(request_parse_subject("mailcomx # 1", "mailcom", &code));
	g_assert_false(request_parse_subject("Re: mailcom # 1", "mailcom", &code));
	g_assert_false(request_parse_subject("", "mailcom", &code));
}

static void
test_lines(void)
{
	g_autoptr(GPtrArray) l = request_parse_lines(
	    "stat()\r\n  freespace(/var)  \n\n> quoted()\nStat()\n../x()\n"
	    "a-very-long-name-of-thirty-three-x()\nhello\nctx((a) b)\n-- \nsig()\n");
	const CommandLine *c;

	g_assert_cmpuint(l->len, ==, 7);
	c = l->pdata[0];
	g_assert_cmpstr(c->name, ==, "stat");
	g_assert_cmpstr(c->context, ==, "");
	c = l->pdata[1];
	g_assert_cmpstr(c->name, ==, "freespace");
	g_assert_cmpstr(c->context, ==, "/var");
	for (guint i = 2; i < 6; i++) {
		c = l->pdata[i];
		g_assert_null(c->name);
		g_assert_nonnull(c->why);
	}
	c = l->pdata[6];
	g_assert_cmpstr(c->name, ==, "ctx");
	g_assert_cmpstr(c->context, ==, "(a) b");
	g_assert_true(command_name_ok("free_space-2"));
	g_assert_false(command_name_ok(".."));
	g_assert_false(command_name_ok("a/b"));
}

static void
test_guard(void)
{
	g_autofree char *path = g_build_filename(test_dir(), "g", "command.db", NULL);
	g_autoptr(GError) e = NULL;
	g_autoptr(Guard) g = guard_open(path, &e);
	gboolean fresh = FALSE;
	guint n = 9;

	g_assert_no_error(e);
	g_assert_true(guard_use(g, "jo@example.org", 100, &fresh, &e));
	g_assert_true(fresh);
	g_assert_true(guard_use(g, "jo@example.org", 100, &fresh, &e));
	g_assert_false(fresh);
	g_assert_true(guard_use(g, "ann@example.org", 100, &fresh, &e));
	g_assert_true(fresh);
	g_clear_pointer(&g, guard_free);
	/* durable: a new process sees it */
	g = guard_open(path, &e);
	g_assert_true(guard_use(g, "jo@example.org", 100, &fresh, &e));
	g_assert_false(fresh);
	g_assert_true(guard_fail(g, "jo@example.org", 1000, &e));
	g_assert_true(guard_fail(g, "jo@example.org", 2000, &e));
	g_assert_true(guard_failures(g, "jo@example.org", 1500, &n, &e));
	g_assert_cmpuint(n, ==, 1);
	g_assert_true(guard_failures(g, "ann@example.org", 0, &n, &e));
	g_assert_cmpuint(n, ==, 0);
	g_assert_no_error(e);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/command/totp/rfc6238-sha1", test_rfc6238);
	g_test_add_func("/command/totp/rfc4226", test_rfc4226);
	g_test_add_func("/command/totp/base32", test_base32);
	g_test_add_func("/command/totp/window", test_window);
	g_test_add_func("/command/totp/secrets-private", test_secrets_private);
	g_test_add_func("/command/totp/enrol", test_enrol);
	g_test_add_func("/command/request/subject", test_subject);
	g_test_add_func("/command/request/lines", test_lines);
	g_test_add_func("/command/guard/replay", test_guard);
	return g_test_run();
}
