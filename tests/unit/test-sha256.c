/*
 * Unit tests of sha256.c: the FIPS 180-2 vectors, and agreement with
 * GLib's SHA-256 on every length from 0 to 1100 bytes and on large inputs
 * fed in odd pieces, for both compression functions (SHA extensions where
 * the CPU has them, and the portable one, which the subprocess forces).
 */
#include <string.h>

#include "private.h"
#include "testutil.h"

static char *
ours(const void *data, gsize len, gsize piece)
{
	MdirSha256 ctx;
	char *hex = g_malloc(65);
	const guint8 *p = data;

	mdir_sha256_init(&ctx);
	while (len > 0) {
		gsize n = MIN(len, piece);

		mdir_sha256_update(&ctx, p, n);
		p += n;
		len -= n;
	}
	mdir_sha256_final_hex(&ctx, hex);
	return hex;
}

static void
check_all(void)
{
	static const struct {
		const char *text;
		const char *hex;
	} fips[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	g_autofree guint8 *buf = g_malloc(3000000);

	for (gsize i = 0; i < G_N_ELEMENTS(fips); i++) {
		g_autofree char *h = ours(fips[i].text, strlen(fips[i].text), 64);

		g_assert_cmpstr(h, ==, fips[i].hex);
	}
	memset(buf, 'a', 1000000);
	{
		g_autofree char *h = ours(buf, 1000000, 4093);

		g_assert_cmpstr(h, ==,
		    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	}
	for (gsize i = 0; i < 3000000; i++)
		buf[i] = (guint8)(i * 2654435761u >> 7);
	for (gsize len = 0; len <= 1100; len++) {
		g_autofree char *h = ours(buf, len, 1 + len % 67);
		g_autofree char *want = g_compute_checksum_for_data(G_CHECKSUM_SHA256, buf, len);

		g_assert_cmpstr(h, ==, want);
	}
	{
		g_autofree char *h = ours(buf, 3000000, 65521);
		g_autofree char *want = g_compute_checksum_for_data(G_CHECKSUM_SHA256, buf, 3000000);

		g_assert_cmpstr(h, ==, want);
	}
}

static void
test_native(void)
{
	check_all();
}

static void
test_portable(void)
{
	if (g_test_subprocess()) {
		/* the choice is made once a process: force it before the first use */
		g_setenv("MDIR_SHA256_PORTABLE", "1", TRUE);
		check_all();
		return;
	}
	g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
	g_test_trap_assert_passed();
}

static void
test_public_helpers(void)
{
	g_autofree char *a = mdir_sha256_hex("abc", 3);
	g_autofree char *path = test_write_tmp("abc", "abc");
	g_autofree char *b = mdir_sha256_file(path, NULL);

	g_assert_cmpstr(a, ==, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	g_assert_cmpstr(b, ==, a);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	g_test_add_func("/sha256/native", test_native);
	g_test_add_func("/sha256/portable", test_portable);
	g_test_add_func("/sha256/public-helpers", test_public_helpers);
	return g_test_run();
}
