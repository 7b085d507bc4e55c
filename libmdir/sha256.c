/*
 * sha256.c: SHA-256 (FIPS 180-4) for content hashes, without OpenSSL.
 *
 * Why not OpenSSL, which the design first named: mdir-receive runs once
 * per message, and measured with callgrind, loading libcrypto costs 2.6 M
 * instructions and its first EVP call (config and providers) 3.1 M more:
 * a third of a whole small delivery.  GLib's SHA-256 has no such cost but
 * runs at 180 MB/s, too slow for a 50 MB attachment.  So: the x86 SHA
 * extensions where the CPU has them (as fast as OpenSSL, ~1.4 GB/s here),
 * a plain C compression function elsewhere, one driver for both, checked
 * against the FIPS vectors and against GLib on every length (test-sha256).
 */
#include <string.h>

#include <glib.h>

#include "mdir.h"
#include "private.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHANI_CODE 1
#endif

static const guint32 K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void
compress_portable(guint32 s[8], const guint8 *p, gsize blocks)
{
	for (; blocks > 0; blocks--, p += 64) {
		guint32 w[64], a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6],
		    h = s[7];

		for (int i = 0; i < 16; i++)
			w[i] = (guint32)p[4 * i] << 24 | (guint32)p[4 * i + 1] << 16 |
			    (guint32)p[4 * i + 2] << 8 | p[4 * i + 3];
		for (int i = 16; i < 64; i++) {
			guint32 s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
			guint32 s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);

			w[i] = w[i - 16] + s0 + w[i - 7] + s1;
		}
		for (int i = 0; i < 64; i++) {
			guint32 t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) +
			    K[i] + w[i];
			guint32 t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) +
			    ((a & b) ^ (a & c) ^ (b & c));

			h = g;
			g = f;
			f = e;
			e = d + t1;
			d = c;
			c = b;
			b = a;
			a = t1 + t2;
		}
		s[0] += a;
		s[1] += b;
		s[2] += c;
		s[3] += d;
		s[4] += e;
		s[5] += f;
		s[6] += g;
		s[7] += h;
	}
}

#ifdef HAVE_SHANI_CODE
/*
 * The SHA extensions keep the state as ABEF and CDGH and do two rounds an
 * instruction; the message schedule of four words at a time is
 * X[t] = msg2(msg1(X[t-4], X[t-3]) + alignr(X[t-1], X[t-2], 4), X[t-1]).
 */
__attribute__((target("sha,sse4.1"))) static void
compress_shani(guint32 s[8], const guint8 *p, gsize blocks)
{
	const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&s[0]), 0xb1);
	__m128i cdgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&s[4]), 0x1b);
	__m128i abef = _mm_alignr_epi8(t, cdgh, 8);

	cdgh = _mm_blend_epi16(cdgh, t, 0xf0);
	for (; blocks > 0; blocks--, p += 64) {
		__m128i abef0 = abef, cdgh0 = cdgh, x[4];

		/* unrolled, the schedule stays in registers */
#pragma GCC unroll 16
		for (int g = 0; g < 16; g++) {
			__m128i wk;

			if (g < 4)
				x[g] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * g)),
				    swap);
			else
				x[g & 3] = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(
				    x[g & 3], x[(g + 1) & 3]), _mm_alignr_epi8(x[(g + 3) & 3],
				    x[(g + 2) & 3], 4)), x[(g + 3) & 3]);
			wk = _mm_add_epi32(x[g & 3], _mm_loadu_si128((const __m128i *)&K[4 * g]));
			cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);
			abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0e));
		}
		abef = _mm_add_epi32(abef, abef0);
		cdgh = _mm_add_epi32(cdgh, cdgh0);
	}
	t = _mm_shuffle_epi32(abef, 0x1b);
	cdgh = _mm_shuffle_epi32(cdgh, 0xb1);
	_mm_storeu_si128((__m128i *)&s[0], _mm_blend_epi16(t, cdgh, 0xf0));
	_mm_storeu_si128((__m128i *)&s[4], _mm_alignr_epi8(cdgh, t, 8));
}

static gboolean
cpu_has_shani(void)
{
	unsigned int a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3))
		return FALSE;
	return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
}
#endif

typedef void (*CompressFunc)(guint32 s[8], const guint8 *p, gsize blocks);

/* Read-only after the first call: the CPU does not change under us. */
static CompressFunc
compress_func(void)
{
	static gsize chosen;

	if (g_once_init_enter(&chosen)) {
		CompressFunc f = compress_portable;
#ifdef HAVE_SHANI_CODE
		if (cpu_has_shani() && g_getenv("MDIR_SHA256_PORTABLE") == NULL)
			f = compress_shani;
#endif
		g_once_init_leave(&chosen, (gsize)f);
	}
	return (CompressFunc)chosen;
}

void
mdir_sha256_init(MdirSha256 *ctx)
{
	static const guint32 iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

	memcpy(ctx->state, iv, sizeof(iv));
	ctx->length = 0;
	ctx->used = 0;
	ctx->compress = compress_func();
}

void
mdir_sha256_update(MdirSha256 *ctx, const void *data, gsize len)
{
	CompressFunc compress = ctx->compress;
	const guint8 *p = data;

	if (len == 0)
		return;

	ctx->length += len;
	if (ctx->used > 0) {
		gsize n = MIN(len, 64 - ctx->used);

		memcpy(ctx->block + ctx->used, p, n);
		ctx->used += n;
		p += n;
		len -= n;
		if (ctx->used < 64)
			return;
		compress(ctx->state, ctx->block, 1);
		ctx->used = 0;
	}
	if (len >= 64) {
		compress(ctx->state, p, len / 64);
		p += len & ~(gsize)63;
		len &= 63;
	}
	memcpy(ctx->block, p, len);
	ctx->used = len;
}

void
mdir_sha256_final_hex(MdirSha256 *ctx, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	CompressFunc compress = ctx->compress;
	guint64 bits = ctx->length * 8;

	ctx->block[ctx->used++] = 0x80;
	if (ctx->used > 56) {
		memset(ctx->block + ctx->used, 0, 64 - ctx->used);
		compress(ctx->state, ctx->block, 1);
		ctx->used = 0;
	}
	memset(ctx->block + ctx->used, 0, 56 - ctx->used);
	for (int i = 0; i < 8; i++)
		ctx->block[56 + i] = (guint8)(bits >> (56 - 8 * i));
	compress(ctx->state, ctx->block, 1);
	for (int i = 0; i < 32; i++) {
		guint8 byte = (guint8)(ctx->state[i / 4] >> (24 - 8 * (i % 4)));

		hex[2 * i] = digits[byte >> 4];
		hex[2 * i + 1] = digits[byte & 15];
	}
	hex[64] = '\0';
}
