/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gcm_driver.c - AES-GCM (NIST SP 800-38D) with AES-NI and PCLMULQDQ,
 * several blocks at a time, as an mbedTLS PSA transparent driver
 * (gcm_driver.h says how it is wired in).
 *
 * Why: TLS record protection is the relay's crypto cost, and mbedTLS 3.6's
 * own GCM (library/gcm.c + aesni.c) encrypts one AES block per call and
 * multiplies in GF(2^128) one block at a time with a full reduction each
 * (`mbedtls_aesni_gcm_mult`): the relay's profile had them at ~40 % of
 * the CPU (issue 18).  Here, per 128 bytes:
 *
 *  - CTR: eight counter blocks go through the AES rounds together, so the
 *    latency of each AESENC (several cycles) is hidden behind the other
 *    seven blocks;
 *  - GHASH: the eight ciphertext blocks are multiplied by H^8..H^1 (powers
 *    computed once per call) and the eight unreduced 256-bit products are
 *    added up before one shift and one reduction (the "aggregated
 *    reduction" of Gueron and Kounavis's Intel white paper "Intel
 *    Carry-Less Multiplication Instruction and its Usage for Computing the
 *    GCM Mode", whose bit-reflected representation, shift and two-phase
 *    reduction this file follows).
 *
 * A chunk shorter than eight blocks (the end of a record, the AAD) takes
 * the same path with n < 8 blocks and H^n..H^1.
 *
 * Constant time: no table lookup and no branch depends on the key, the
 * data or the tag (AES is AESENC, the field multiplication PCLMULQDQ, the
 * tag check accumulates differences); lengths are public.
 *
 * Portability: the instructions are used only in functions marked
 * XE_TARGET, and only after CPUID said the CPU has them; elsewhere (another
 * CPU, another architecture, another compiler) every entry point returns
 * PSA_ERROR_NOT_SUPPORTED and mbedTLS's own GCM runs.  The library and the
 * binary are still built for baseline x86-64.
 *
 * The key schedule and H powers are computed per call: PSA hands a
 * transparent driver the raw key each time (mbedTLS's built-in path sets
 * its key up per call too); they live on the stack and are wiped.
 */
#include "gcm_driver.h"

#include <string.h>

#include "mbedtls/platform_util.h"

#if defined(XE_PSA_GCM_DRIVER_ENABLED) && defined(__x86_64__) && \
	(defined(__GNUC__) || defined(__clang__))
#define XE_GCM_HAVE_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/* Driver state: -1 not yet asked, 0 declines everything, 1 uses the
 * instructions.  Accessed with relaxed atomics: threads racing at the first
 * call compute the same value. */
static int gcm_driver_state = -1;
static uint64_t gcm_driver_ops;

#define GCM_BLOCK 16
#define GCM_CHUNK_BLOCKS 8
/* mbedtls_gcm's limits (SP 800-38D §5.2.1.1): IV and AAD below 2^64 bits,
 * plaintext at most 2^39 - 256 bits.  Beyond them the driver declines and
 * the built-in returns its error. */
#define GCM_MAX_PLAINTEXT 0xFFFFFFFE0ull

/* The tag length of a GCM algorithm, or 0 when the algorithm is not GCM or
 * the length is one mbedtls_gcm refuses (4..16 bytes are allowed). */
static size_t gcm_driver_tag_length(psa_algorithm_t alg)
{
	size_t tag_len;

	if (PSA_ALG_AEAD_WITH_SHORTENED_TAG(alg, 0) != PSA_ALG_AEAD_WITH_SHORTENED_TAG(PSA_ALG_GCM, 0))
		return 0;
	tag_len = PSA_ALG_AEAD_GET_TAG_LENGTH(alg);
	if (tag_len < 4 || tag_len > 16)
		return 0;
	return tag_len;
}

#if defined(XE_GCM_HAVE_X86)

#define XE_TARGET __attribute__((target("aes,pclmul,sse4.1")))

struct gcm_key {
	__m128i rk[15];                 /* AES round keys */
	int rounds;                     /* 10 (AES-128) or 14 (AES-256) */
	__m128i h[GCM_CHUNK_BLOCKS];    /* h[i] = H^(i+1), bit-reflected */
};

static int gcm_cpu_has_instructions(void)
{
	unsigned int eax, ebx, ecx, edx;

	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
		return 0;
	/* CPUID.1:ECX bit 25 AES-NI, bit 1 PCLMULQDQ, bit 19 SSE4.1 (which
	 * implies SSSE3's PSHUFB, bit 9, checked too for odd hypervisors). */
	return (ecx & bit_AES) && (ecx & bit_PCLMUL) && (ecx & bit_SSE4_1) && (ecx & bit_SSSE3);
}

static int gcm_driver_active(void)
{
	int state = __atomic_load_n(&gcm_driver_state, __ATOMIC_RELAXED);

	if (state < 0) {
		state = gcm_cpu_has_instructions();
		__atomic_store_n(&gcm_driver_state, state, __ATOMIC_RELAXED);
	}
	return state;
}

/* Reverses the 16 bytes: GCM's bit order is reflected with respect to
 * PCLMULQDQ's, and reversing the bytes (the bits within a byte are already
 * in the right order) plus one left shift of the product is the white
 * paper's way around it. */
XE_TARGET static inline __m128i gcm_bswap(__m128i x)
{
	return _mm_shuffle_epi8(x, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
}

/* --- AES key schedule, with AESKEYGENASSIST as in Gueron's Intel white
 * paper "Intel Advanced Encryption Standard (AES) New Instructions Set" --- */

XE_TARGET static inline __m128i aes_expand_step(__m128i key, __m128i assist)
{
	__m128i t;

	assist = _mm_shuffle_epi32(assist, 0xff);
	t = _mm_slli_si128(key, 4);
	key = _mm_xor_si128(key, t);
	t = _mm_slli_si128(t, 4);
	key = _mm_xor_si128(key, t);
	t = _mm_slli_si128(t, 4);
	key = _mm_xor_si128(key, t);
	return _mm_xor_si128(key, assist);
}

/* AES-256's odd round keys: SubWord without RotWord (assist lane 2). */
XE_TARGET static inline __m128i aes256_expand_odd(__m128i key, __m128i prev)
{
	__m128i t, assist = _mm_shuffle_epi32(_mm_aeskeygenassist_si128(prev, 0), 0xaa);

	t = _mm_slli_si128(key, 4);
	key = _mm_xor_si128(key, t);
	t = _mm_slli_si128(t, 4);
	key = _mm_xor_si128(key, t);
	t = _mm_slli_si128(t, 4);
	key = _mm_xor_si128(key, t);
	return _mm_xor_si128(key, assist);
}

/* AESKEYGENASSIST wants its round constant as an immediate. */
#define AES128_ROUND(i, rcon) \
	(k->rk[i] = aes_expand_step(k->rk[(i) - 1], _mm_aeskeygenassist_si128(k->rk[(i) - 1], rcon)))
#define AES256_ROUND(i, rcon) \
	do { \
		k->rk[i] = aes_expand_step(k->rk[(i) - 2], _mm_aeskeygenassist_si128(k->rk[(i) - 1], rcon)); \
		if ((i) + 1 < 15) \
			k->rk[(i) + 1] = aes256_expand_odd(k->rk[(i) - 1], k->rk[i]); \
	} while (0)

XE_TARGET static void aes_key_expand(struct gcm_key *k, const uint8_t *key, size_t key_len)
{
	k->rk[0] = _mm_loadu_si128((const __m128i *)key);
	if (key_len == 16) {
		k->rounds = 10;
		AES128_ROUND(1, 0x01);
		AES128_ROUND(2, 0x02);
		AES128_ROUND(3, 0x04);
		AES128_ROUND(4, 0x08);
		AES128_ROUND(5, 0x10);
		AES128_ROUND(6, 0x20);
		AES128_ROUND(7, 0x40);
		AES128_ROUND(8, 0x80);
		AES128_ROUND(9, 0x1b);
		AES128_ROUND(10, 0x36);
		return;
	}
	k->rounds = 14;
	k->rk[1] = _mm_loadu_si128((const __m128i *)(key + 16));
	AES256_ROUND(2, 0x01);
	AES256_ROUND(4, 0x02);
	AES256_ROUND(6, 0x04);
	AES256_ROUND(8, 0x08);
	AES256_ROUND(10, 0x10);
	AES256_ROUND(12, 0x20);
	AES256_ROUND(14, 0x40);
}

XE_TARGET static inline __m128i aes_encrypt_block(const struct gcm_key *k, __m128i b)
{
	int r;

	b = _mm_xor_si128(b, k->rk[0]);
	for (r = 1; r < k->rounds; r++)
		b = _mm_aesenc_si128(b, k->rk[r]);
	return _mm_aesenclast_si128(b, k->rk[k->rounds]);
}

/* --- GF(2^128) --- */

/* Adds a*b, unreduced, to the 256-bit accumulator lo + mid*x^64 + hi*x^128
 * (schoolbook: four carry-less 64x64 products). */
XE_TARGET static inline void ghash_mul_add(__m128i a, __m128i b, __m128i *lo, __m128i *mid, __m128i *hi)
{
	*lo = _mm_xor_si128(*lo, _mm_clmulepi64_si128(a, b, 0x00));
	*hi = _mm_xor_si128(*hi, _mm_clmulepi64_si128(a, b, 0x11));
	*mid = _mm_xor_si128(*mid, _mm_clmulepi64_si128(a, b, 0x10));
	*mid = _mm_xor_si128(*mid, _mm_clmulepi64_si128(a, b, 0x01));
}

/* The accumulated product, shifted left by one bit (the reflection) and
 * reduced modulo x^128 + x^7 + x^2 + x + 1 (the white paper's two phases).
 * Both steps are linear, which is why a sum of products needs only one. */
XE_TARGET static inline __m128i ghash_reduce(__m128i lo, __m128i mid, __m128i hi)
{
	__m128i t7, t8, t9, t2, t4, t5;

	lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
	hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
	/* hi:lo <<= 1 */
	t7 = _mm_srli_epi32(lo, 31);
	t8 = _mm_srli_epi32(hi, 31);
	lo = _mm_slli_epi32(lo, 1);
	hi = _mm_slli_epi32(hi, 1);
	t9 = _mm_srli_si128(t7, 12);
	t8 = _mm_slli_si128(t8, 4);
	t7 = _mm_slli_si128(t7, 4);
	lo = _mm_or_si128(lo, t7);
	hi = _mm_or_si128(hi, t8);
	hi = _mm_or_si128(hi, t9);
	/* first phase */
	t7 = _mm_slli_epi32(lo, 31);
	t8 = _mm_slli_epi32(lo, 30);
	t9 = _mm_slli_epi32(lo, 25);
	t7 = _mm_xor_si128(t7, t8);
	t7 = _mm_xor_si128(t7, t9);
	t8 = _mm_srli_si128(t7, 4);
	t7 = _mm_slli_si128(t7, 12);
	lo = _mm_xor_si128(lo, t7);
	/* second phase */
	t2 = _mm_srli_epi32(lo, 1);
	t4 = _mm_srli_epi32(lo, 2);
	t5 = _mm_srli_epi32(lo, 7);
	t2 = _mm_xor_si128(t2, t4);
	t2 = _mm_xor_si128(t2, t5);
	t2 = _mm_xor_si128(t2, t8);
	lo = _mm_xor_si128(lo, t2);
	return _mm_xor_si128(hi, lo);
}

XE_TARGET static inline __m128i ghash_mul(__m128i a, __m128i b)
{
	__m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;

	ghash_mul_add(a, b, &lo, &mid, &hi);
	return ghash_reduce(lo, mid, hi);
}

/* X = (...((X + b[0])H + b[1])H ... + b[n-1])H for n <= 8 bit-reflected
 * blocks, computed as (X + b[0])H^n + b[1]H^(n-1) + ... + b[n-1]H with one
 * reduction. */
XE_TARGET static inline __m128i ghash_blocks(const struct gcm_key *k, __m128i x, const __m128i *b, int n)
{
	__m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;
	int i;

	ghash_mul_add(_mm_xor_si128(x, b[0]), k->h[n - 1], &lo, &mid, &hi);
	for (i = 1; i < n; i++)
		ghash_mul_add(b[i], k->h[n - 1 - i], &lo, &mid, &hi);
	return ghash_reduce(lo, mid, hi);
}

/* Absorbs len bytes of data, zero-padded to whole blocks (the AAD, an
 * IV that is not 12 bytes). */
XE_TARGET static __m128i ghash_data(const struct gcm_key *k, __m128i x, const uint8_t *p, size_t len)
{
	__m128i b[GCM_CHUNK_BLOCKS];
	uint8_t last[GCM_BLOCK];
	int n, i;

	while (len >= GCM_CHUNK_BLOCKS * GCM_BLOCK) {
		for (i = 0; i < GCM_CHUNK_BLOCKS; i++)
			b[i] = gcm_bswap(_mm_loadu_si128((const __m128i *)(p + GCM_BLOCK * i)));
		x = ghash_blocks(k, x, b, GCM_CHUNK_BLOCKS);
		p += GCM_CHUNK_BLOCKS * GCM_BLOCK;
		len -= GCM_CHUNK_BLOCKS * GCM_BLOCK;
	}
	if (len == 0)
		return x;
	n = (int)((len + GCM_BLOCK - 1) / GCM_BLOCK);
	for (i = 0; i < n - 1; i++)
		b[i] = gcm_bswap(_mm_loadu_si128((const __m128i *)(p + GCM_BLOCK * i)));
	memset(last, 0, sizeof(last));
	memcpy(last, p + GCM_BLOCK * (n - 1), len - GCM_BLOCK * (size_t)(n - 1));
	b[n - 1] = gcm_bswap(_mm_loadu_si128((const __m128i *)last));
	return ghash_blocks(k, x, b, n);
}

XE_TARGET static void gcm_key_setup(struct gcm_key *k, const uint8_t *key, size_t key_len)
{
	int i;

	aes_key_expand(k, key, key_len);
	k->h[0] = gcm_bswap(aes_encrypt_block(k, _mm_setzero_si128()));
	/* Three dependent multiplications deep instead of seven: a record of a
	 * few hundred bytes pays this per call. */
	k->h[1] = ghash_mul(k->h[0], k->h[0]);
	k->h[2] = ghash_mul(k->h[1], k->h[0]);
	k->h[3] = ghash_mul(k->h[1], k->h[1]);
	for (i = 4; i < GCM_CHUNK_BLOCKS; i++)
		k->h[i] = ghash_mul(k->h[3], k->h[i - 4]);
}

/* The pre-counter block J0 (SP 800-38D §7.1 step 2), returned with its
 * last four bytes (the 32-bit counter) byte-swapped so that lane 3 holds
 * the counter as a native integer: _mm_add_epi32 is then inc32, wrapping
 * modulo 2^32 as the standard says. */
static const uint8_t gcm_ctr_swap[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 15, 14, 13, 12 };

XE_TARGET static __m128i gcm_j0(const struct gcm_key *k, const uint8_t *iv, size_t iv_len)
{
	__m128i j0;

	if (iv_len == 12) {
		uint8_t b[GCM_BLOCK];

		memcpy(b, iv, 12);
		b[12] = b[13] = b[14] = 0;
		b[15] = 1;
		j0 = _mm_loadu_si128((const __m128i *)b);
	} else {
		__m128i x = ghash_data(k, _mm_setzero_si128(), iv, iv_len);

		/* 0^64 || [len(IV) in bits]_64, bit-reflected. */
		x = ghash_mul(_mm_xor_si128(x, _mm_set_epi64x(0, (long long)((uint64_t)iv_len * 8))), k->h[0]);
		j0 = gcm_bswap(x);
	}
	return _mm_shuffle_epi8(j0, _mm_loadu_si128((const __m128i *)gcm_ctr_swap));
}

/* The keystream blocks E(K, ctr + 1) .. E(K, ctr + 8).  Eight blocks in
 * named variables, not an array in a loop: the compiler keeps them in
 * registers and the eight AESENCs of a round overlap (through an array the
 * rounds went one dependent AESENC after another via the stack).  The end
 * of a message takes all eight too: eight blocks in flight cost about the
 * latency of one. */
XE_TARGET static inline void gcm_keystream8(const struct gcm_key *k, __m128i ctr, __m128i ks[GCM_CHUNK_BLOCKS])
{
	const __m128i swap = _mm_loadu_si128((const __m128i *)gcm_ctr_swap);
	const __m128i one = _mm_set_epi32(1, 0, 0, 0);
	__m128i b0, b1, b2, b3, b4, b5, b6, b7, rk;
	int r;

#define GCM_CTR_NEXT(b) \
	(ctr = _mm_add_epi32(ctr, one), (b) = _mm_xor_si128(_mm_shuffle_epi8(ctr, swap), k->rk[0]))
	GCM_CTR_NEXT(b0); GCM_CTR_NEXT(b1); GCM_CTR_NEXT(b2); GCM_CTR_NEXT(b3);
	GCM_CTR_NEXT(b4); GCM_CTR_NEXT(b5); GCM_CTR_NEXT(b6); GCM_CTR_NEXT(b7);
#undef GCM_CTR_NEXT
	for (r = 1; r < k->rounds; r++) {
		rk = k->rk[r];
		b0 = _mm_aesenc_si128(b0, rk); b1 = _mm_aesenc_si128(b1, rk);
		b2 = _mm_aesenc_si128(b2, rk); b3 = _mm_aesenc_si128(b3, rk);
		b4 = _mm_aesenc_si128(b4, rk); b5 = _mm_aesenc_si128(b5, rk);
		b6 = _mm_aesenc_si128(b6, rk); b7 = _mm_aesenc_si128(b7, rk);
	}
	rk = k->rk[k->rounds];
	ks[0] = _mm_aesenclast_si128(b0, rk); ks[1] = _mm_aesenclast_si128(b1, rk);
	ks[2] = _mm_aesenclast_si128(b2, rk); ks[3] = _mm_aesenclast_si128(b3, rk);
	ks[4] = _mm_aesenclast_si128(b4, rk); ks[5] = _mm_aesenclast_si128(b5, rk);
	ks[6] = _mm_aesenclast_si128(b6, rk); ks[7] = _mm_aesenclast_si128(b7, rk);
}

/* CTR encryption or decryption of len bytes from in to out (which may be
 * the same buffer), counters from ctr + 1, and GHASH of the ciphertext
 * into x.  Returns x. */
XE_TARGET static __m128i gcm_crypt(const struct gcm_key *k, int decrypt, __m128i ctr, __m128i x,
	const uint8_t *in, uint8_t *out, size_t len)
{
	const __m128i eight = _mm_set_epi32(GCM_CHUNK_BLOCKS, 0, 0, 0);
	__m128i ks[GCM_CHUNK_BLOCKS], c[GCM_CHUNK_BLOCKS];
	uint8_t last[GCM_BLOCK];
	size_t chunk;
	int n, i;

	while (len >= GCM_CHUNK_BLOCKS * GCM_BLOCK) {
		gcm_keystream8(k, ctr, ks);
		ctr = _mm_add_epi32(ctr, eight);
#define GCM_XOR_OUT(b, i) \
	do { \
		__m128i in_b = _mm_loadu_si128((const __m128i *)(in + GCM_BLOCK * (i))); \
		__m128i out_b = _mm_xor_si128(in_b, (b)); \
		_mm_storeu_si128((__m128i *)(out + GCM_BLOCK * (i)), out_b); \
		c[i] = gcm_bswap(decrypt ? in_b : out_b); \
	} while (0)
		GCM_XOR_OUT(ks[0], 0); GCM_XOR_OUT(ks[1], 1); GCM_XOR_OUT(ks[2], 2); GCM_XOR_OUT(ks[3], 3);
		GCM_XOR_OUT(ks[4], 4); GCM_XOR_OUT(ks[5], 5); GCM_XOR_OUT(ks[6], 6); GCM_XOR_OUT(ks[7], 7);
#undef GCM_XOR_OUT
		x = ghash_blocks(k, x, c, GCM_CHUNK_BLOCKS);
		in += GCM_CHUNK_BLOCKS * GCM_BLOCK;
		out += GCM_CHUNK_BLOCKS * GCM_BLOCK;
		len -= GCM_CHUNK_BLOCKS * GCM_BLOCK;
	}
	if (len == 0)
		return x;
	/* The last 1..127 bytes: n blocks, the last possibly partial (read
	 * and written through a zero-padded copy, never past the buffers). */
	n = (int)((len + GCM_BLOCK - 1) / GCM_BLOCK);
	gcm_keystream8(k, ctr, ks);
	for (i = 0; i < n; i++) {
		__m128i in_b, out_b;

		chunk = len - GCM_BLOCK * (size_t)i;
		if (chunk > GCM_BLOCK)
			chunk = GCM_BLOCK;
		memset(last, 0, sizeof(last));
		if (chunk == GCM_BLOCK)
			in_b = _mm_loadu_si128((const __m128i *)(in + GCM_BLOCK * i));
		else {
			memcpy(last, in + GCM_BLOCK * i, chunk);
			in_b = _mm_loadu_si128((const __m128i *)last);
		}
		out_b = _mm_xor_si128(in_b, ks[i]);
		if (chunk == GCM_BLOCK) {
			_mm_storeu_si128((__m128i *)(out + GCM_BLOCK * i), out_b);
		} else {
			_mm_storeu_si128((__m128i *)last, out_b);
			memcpy(out + GCM_BLOCK * i, last, chunk);
			/* GHASH takes the ciphertext zero-padded. */
			memset(last + chunk, 0, GCM_BLOCK - chunk);
			out_b = _mm_loadu_si128((const __m128i *)last);
		}
		c[i] = gcm_bswap(decrypt ? in_b : out_b);
	}
	/* Keystream left on the stack would decrypt the blocks it covered. */
	mbedtls_platform_zeroize(ks, sizeof(ks));
	mbedtls_platform_zeroize(last, sizeof(last));
	return ghash_blocks(k, x, c, n);
}

/* The whole of GCM-AE or GCM-AD's keystream and GHASH part: fills out and
 * the full 16-byte tag. */
XE_TARGET static void gcm_run(int decrypt, const uint8_t *key, size_t key_len,
	const uint8_t *iv, size_t iv_len, const uint8_t *aad, size_t aad_len,
	const uint8_t *in, uint8_t *out, size_t len, uint8_t tag[GCM_BLOCK])
{
	struct gcm_key k;
	__m128i j0, x;

	gcm_key_setup(&k, key, key_len);
	j0 = gcm_j0(&k, iv, iv_len);
	x = ghash_data(&k, _mm_setzero_si128(), aad, aad_len);
	x = gcm_crypt(&k, decrypt, j0, x, in, out, len);
	/* [len(A)]_64 || [len(C)]_64 in bits, bit-reflected. */
	x = ghash_mul(_mm_xor_si128(x, _mm_set_epi64x((long long)((uint64_t)aad_len * 8),
		(long long)((uint64_t)len * 8))), k.h[0]);
	j0 = _mm_shuffle_epi8(j0, _mm_loadu_si128((const __m128i *)gcm_ctr_swap));
	_mm_storeu_si128((__m128i *)tag, _mm_xor_si128(gcm_bswap(x), aes_encrypt_block(&k, j0)));
	mbedtls_platform_zeroize(&k, sizeof(k));
}

#else /* !XE_GCM_HAVE_X86 */

static int gcm_driver_active(void)
{
	return 0;
}

static void gcm_run(int decrypt, const uint8_t *key, size_t key_len,
	const uint8_t *iv, size_t iv_len, const uint8_t *aad, size_t aad_len,
	const uint8_t *in, uint8_t *out, size_t len, uint8_t tag[GCM_BLOCK])
{
	(void)decrypt; (void)key; (void)key_len; (void)iv; (void)iv_len;
	(void)aad; (void)aad_len; (void)in; (void)out; (void)len; (void)tag;
}

#endif /* XE_GCM_HAVE_X86 */

/* Whether the driver takes this operation: the CPU, the key and the
 * lengths mbedtls_gcm accepts.  Anything else goes to the built-in, which
 * also answers the errors. */
static int gcm_driver_accepts(const psa_key_attributes_t *attributes, size_t key_buffer_size,
	psa_algorithm_t alg, size_t nonce_length, size_t additional_data_length, size_t payload_length)
{
	if (!gcm_driver_active() || gcm_driver_tag_length(alg) == 0)
		return 0;
	if (psa_get_key_type(attributes) != PSA_KEY_TYPE_AES)
		return 0;
	if (key_buffer_size != 16 && key_buffer_size != 32)
		return 0;	/* AES-192: rare, left to the built-in */
	if (psa_get_key_bits(attributes) != key_buffer_size * 8)
		return 0;
	if (nonce_length == 0 || (uint64_t)nonce_length >> 61 != 0 ||
		(uint64_t)additional_data_length >> 61 != 0 || (uint64_t)payload_length > GCM_MAX_PLAINTEXT)
		return 0;
	return 1;
}

psa_status_t xe_gcm_transparent_aead_encrypt(
	const psa_key_attributes_t *attributes,
	const uint8_t *key_buffer, size_t key_buffer_size,
	psa_algorithm_t alg,
	const uint8_t *nonce, size_t nonce_length,
	const uint8_t *additional_data, size_t additional_data_length,
	const uint8_t *plaintext, size_t plaintext_length,
	uint8_t *ciphertext, size_t ciphertext_size, size_t *ciphertext_length)
{
	uint8_t tag[GCM_BLOCK];
	size_t tag_len = gcm_driver_tag_length(alg);

	if (!gcm_driver_accepts(attributes, key_buffer_size, alg, nonce_length,
		additional_data_length, plaintext_length))
		return PSA_ERROR_NOT_SUPPORTED;
	if (ciphertext_size < plaintext_length || ciphertext_size - plaintext_length < tag_len)
		return PSA_ERROR_NOT_SUPPORTED;	/* the built-in says BUFFER_TOO_SMALL */
	gcm_run(0, key_buffer, key_buffer_size, nonce, nonce_length, additional_data,
		additional_data_length, plaintext, ciphertext, plaintext_length, tag);
	memcpy(ciphertext + plaintext_length, tag, tag_len);
	mbedtls_platform_zeroize(tag, sizeof(tag));
	*ciphertext_length = plaintext_length + tag_len;
	__atomic_fetch_add(&gcm_driver_ops, 1, __ATOMIC_RELAXED);
	return PSA_SUCCESS;
}

psa_status_t xe_gcm_transparent_aead_decrypt(
	const psa_key_attributes_t *attributes,
	const uint8_t *key_buffer, size_t key_buffer_size,
	psa_algorithm_t alg,
	const uint8_t *nonce, size_t nonce_length,
	const uint8_t *additional_data, size_t additional_data_length,
	const uint8_t *ciphertext, size_t ciphertext_length,
	uint8_t *plaintext, size_t plaintext_size, size_t *plaintext_length)
{
	uint8_t tag[GCM_BLOCK], want[GCM_BLOCK];
	size_t tag_len = gcm_driver_tag_length(alg), payload, i;
	uint8_t diff = 0;

	if (tag_len == 0 || ciphertext_length < tag_len)
		return PSA_ERROR_NOT_SUPPORTED;	/* the built-in says INVALID_ARGUMENT */
	payload = ciphertext_length - tag_len;
	if (payload > plaintext_size)
		return PSA_ERROR_NOT_SUPPORTED;	/* BUFFER_TOO_SMALL */
	if (!gcm_driver_accepts(attributes, key_buffer_size, alg, nonce_length,
		additional_data_length, payload))
		return PSA_ERROR_NOT_SUPPORTED;
	/* Decrypting in place overwrites the ciphertext, not the tag after
	 * it; the copy keeps it out of reach of a partially overlapping
	 * output all the same. */
	memcpy(want, ciphertext + payload, tag_len);
	gcm_run(1, key_buffer, key_buffer_size, nonce, nonce_length, additional_data,
		additional_data_length, ciphertext, plaintext, payload, tag);
	for (i = 0; i < tag_len; i++)
		diff |= (uint8_t)(tag[i] ^ want[i]);
	mbedtls_platform_zeroize(tag, sizeof(tag));
	__atomic_fetch_add(&gcm_driver_ops, 1, __ATOMIC_RELAXED);
	if (diff != 0) {
		/* Never hand out plaintext that failed authentication (the
		 * built-in wipes it the same way). */
		mbedtls_platform_zeroize(plaintext, payload);
		return PSA_ERROR_INVALID_SIGNATURE;
	}
	*plaintext_length = payload;
	return PSA_SUCCESS;
}

const char *xe_gcm_driver_name(void)
{
	return gcm_driver_active() ? "aesni-pclmul-8x" : "none";
}

void xe_gcm_driver_set_enabled(int enabled)
{
	/* -1: ask the CPU again at the next call. */
	__atomic_store_n(&gcm_driver_state, enabled ? -1 : 0, __ATOMIC_RELAXED);
}

uint64_t xe_gcm_driver_operations(void)
{
	return __atomic_load_n(&gcm_driver_ops, __ATOMIC_RELAXED);
}
