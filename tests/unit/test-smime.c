/*
 * Unit tests of smime.c: the API's contracts that need no PKI (a refusal
 * leaves the request empty, the setup's errors are not refusals, clearing
 * twice is fine).  What needs certificates, with the openssl command as
 * the client, is t/7010's.
 */
#include <gio/gio.h>

#include "smime.h"
#include "testutil.h"

/* DIR/NAME, for the rest of the run. */
static const char *
path_in(const char *dir, const char *name)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);

	return g_intern_string(path);
}

static SmimeConfig
config_in(const char *dir)
{
	return (SmimeConfig){
		.ca_file = path_in(dir, "ca.pem"),
		.certs_dir = path_in(dir, "certs"),
		.server_cert = path_in(dir, "server.pem"),
		.server_key = path_in(dir, "server.key"),
	};
}

/* smime_open() of @text from alice: the request, empty on failure. */
static gboolean
open_text(const char *text, GError **error)
{
	SmimeConfig c = config_in(test_dir());
	g_autoptr(GBytes) m = g_bytes_new(text, strlen(text));
	g_auto(SmimeRequest) req = { .signer = NULL, .encrypted = TRUE };
	gboolean ok = smime_open(&c, m, "alice@example.org", &req, error);

	if (!ok) {
		g_assert_null(req.signer);
		g_assert_null(req.content);
		g_assert_false(req.encrypted);
	}
	return ok;
}

static void
test_not_smime(void)
{
	static const char *const texts[] = {
		"",
		"From: alice@example.org\nSubject: mailcom\n\nstat()\n",
		"MIME-Version: 1.0\nContent-Type: text/plain\n\nstat()\n",
		"Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; "
		"boundary=b\n\n--b\nContent-Type: text/plain\n\nx\n--b\n"
		"Content-Type: application/pgp-signature\n\nsig\n--b--\n",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(texts); i++) {
		g_autoptr(GError) e = NULL;

		g_assert_false(open_text(texts[i], &e));
		g_assert_error(e, SMIME_ERROR, SMIME_ERROR_NOT_SMIME);
	}
}

static void
test_malformed(void)
{
	static const char *const texts[] = {
		/* a signature part that is no DER */
		"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; "
		"boundary=b\n\n--b\nContent-Type: text/plain\n\nx\n--b\n"
		"Content-Type: application/pkcs7-signature\nContent-Transfer-Encoding: base64\n\n"
		"R2FyYmFnZQ==\n--b--\n",
		/* opaque, the same */
		"Content-Type: application/pkcs7-mime; smime-type=signed-data\n"
		"Content-Transfer-Encoding: base64\n\nR2FyYmFnZQ==\n",
		/* a multipart/signed whose parts never come */
		"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; "
		"boundary=b\n\nnothing\n",
	};

	for (gsize i = 0; i < G_N_ELEMENTS(texts); i++) {
		g_autoptr(GError) e = NULL;

		g_assert_false(open_text(texts[i], &e));
		g_assert_error(e, SMIME_ERROR, SMIME_ERROR_MALFORMED);
	}
}

static void
test_seal_setup(void)
{
	SmimeConfig c = config_in(test_dir());
	g_autoptr(GBytes) entity = g_bytes_new_static("Content-Type: text/plain\r\n\r\nx\r\n", 29);
	g_autoptr(GError) e = NULL;
	g_autoptr(GBytes) sealed = smime_seal(&c, entity, NULL, &e);
	g_autofree char *junk = NULL;

	/* a missing file of the setup: G_FILE_ERROR naming it, not a refusal */
	g_assert_null(sealed);
	g_assert_error(e, G_FILE_ERROR, G_FILE_ERROR_NOENT);
	g_assert_nonnull(strstr(e->message, c.server_cert));
	g_clear_error(&e);
	junk = test_write_tmp("server.pem", "not PEM at all\n");
	g_assert_null(smime_seal(&c, entity, NULL, &e));
	g_assert_error(e, MDIR_ERROR, MDIR_ERROR_CONFIG);
	g_assert_nonnull(strstr(e->message, "server.pem"));
}

static void
test_clear(void)
{
	SmimeRequest req = { .signer = g_strdup("alice@example.org"),
		.encrypted = TRUE,
		.content = g_bytes_new("x", 1) };

	smime_request_clear(&req);
	g_assert_null(req.signer);
	g_assert_null(req.content);
	g_assert_false(req.encrypted);
	smime_request_clear(&req);
	smime_request_clear(NULL);
}

static void
test_not_for_exit_code(void)
{
	/*
	 * A refusal is a request answered (by silence), not a delivery to
	 * retry: run by Postfix, mdir-command must exit 0 for it itself.
	 * mdir_exit_code() knows no SMIME_ERROR and would say 75.
	 */
	g_autoptr(GError) e = g_error_new_literal(SMIME_ERROR,
	    SMIME_ERROR_BAD_SIGNATURE, "x");

	g_assert_cmpuint(SMIME_ERROR, !=, MDIR_ERROR);
	g_assert_cmpint(mdir_exit_code(e, MDIR_EXIT_MTA), ==, 75);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/smime/open/not-smime", test_not_smime);
	g_test_add_func("/smime/open/malformed", test_malformed);
	g_test_add_func("/smime/seal/setup-errors", test_seal_setup);
	g_test_add_func("/smime/request/clear", test_clear);
	g_test_add_func("/smime/error/not-for-exit-code", test_not_for_exit_code);
	return g_test_run();
}
