/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p256_driver.c - NIST P-256 (secp256r1) with fixed-size 64-bit arithmetic
 * as a PSA transparent driver: key generation, public-key export (d*G),
 * ECDH and randomised ECDSA signing; p256_driver.h says why and how it is
 * wired in.
 *
 * Provenance: written for xmpp-edge from the published algorithms, no
 * code copied:
 *  - field and scalar arithmetic: Montgomery multiplication (CIOS, Koc,
 *    Acar, Kaliski 1996) on 4 x 64-bit limbs with unsigned __int128
 *    products, R = 2^256; for p, -p^-1 mod 2^64 = 1 (p = -1 mod 2^64);
 *  - points: projective (X:Y:Z) with the complete addition and doubling
 *    formulas for a = -3 of Renes, Costello and Batina, "Complete addition
 *    formulas for prime order elliptic curves" (EUROCRYPT 2016,
 *    eprint 2015/1060), Algorithms 4 and 6: one formula for every input,
 *    the identity (0:1:0) and P + P included, so no case is ever branched on;
 *  - d*G: a fixed 4-bit window over 64 precomputed tables of j * 16^i * G
 *    (j = 0..15, entry 0 the identity), built once per process on first
 *    use; 64 additions, no doubling;
 *  - d*Q (ECDH): a fixed 4-bit window, table j * Q (j = 0..15), 256
 *    doublings and 64 additions from the most significant window;
 *  - ECDSA: SEC 1 v2 §4.1.3 / FIPS 186-5 §6.4.1, with k drawn from the
 *    PSA RNG by rejection sampling (uniform in [1, n-1], never reduced
 *    mod n, so never biased); inversions mod p and mod n by Fermat's
 *    little theorem (a fixed, public exponent).
 * Checked against RFC 6979 §A.2.5 (public key), NIST CAVS ECC CDH vectors,
 * mbedTLS's built-in on random keys and by a differential fuzz target
 * (tests/unit/test_tls_p256_driver.c, tests/fuzz/fuzz_p256.c).
 *
 * Constant time: no branch and no memory index depends on a secret (a
 * private key, k, a shared secret, an intermediate point).  Limb loops have
 * fixed counts; carries and borrows are arithmetic; conditional subtraction
 * and selection are masks.  Table entries are read by scanning the whole
 * table and keeping the wanted one with a mask.  The complete formulas
 * make the digit 0 (adding the identity) and doubling-by-addition the same
 * instructions as any other case.  The only branches on data are on public
 * values or on results that end the operation: lengths, format bytes, a
 * peer point's validity, whether a random candidate is in range (the
 * number of rejections is independent of the value kept), r = 0 or s = 0
 * (probability 2^-256, restarts with a new k).  Multiplication is the
 * x86-64/AArch64 64x64->128 MUL, whose time does not depend on operands.
 * Secrets (k, copies of d, scalar tables, the accumulating points) are
 * wiped with mbedtls_platform_zeroize before returning.
 *
 * Hostile input: a peer key must be 65 bytes, 0x04 || x || y, x < p,
 * y < p, y^2 = x^3 - 3x + b (which also excludes the point at infinity,
 * which has no such encoding).  Anything else, and anything outside the
 * four operations on a secp256r1 key, is declined (PSA_ERROR_NOT_SUPPORTED)
 * and mbedTLS's built-in then answers with its own status, so callers see
 * the same error codes as without the driver.
 */
#include "p256_driver.h"

#include <pthread.h>
#include <string.h>

#include "mbedtls/platform_util.h"

typedef unsigned __int128 u128;

#define P256_BYTES 32
#define P256_PUBLIC_BYTES 65		/* 0x04 || x || y (SEC 1 §2.3.3) */
#define P256_UNCOMPRESSED 0x04
#define P256_BITS 256
#define P256_SIGNATURE_BYTES 64		/* r || s, PSA's ECDSA format */
#define P256_WINDOWS 64			/* 4-bit windows in a 256-bit scalar */
#define P256_WINDOW_ENTRIES 16
/* A random candidate is >= n with probability < 2^-32: 64 rejections in a
 * row is a broken RNG; decline and let the built-in report it. */
#define P256_RANDOM_TRIES 64

struct fe { uint64_t v[4]; };		/* little-endian limbs */
struct point { struct fe x, y, z; };	/* projective, Montgomery form */

/* p = 2^256 - 2^224 + 2^192 + 2^96 - 1, n the group order. */
static const struct fe P256_P = { { 0xffffffffffffffffULL, 0x00000000ffffffffULL,
	0x0000000000000000ULL, 0xffffffff00000001ULL } };
static const struct fe P256_N = { { 0xf3b9cac2fc632551ULL, 0xbce6faada7179e84ULL,
	0xffffffffffffffffULL, 0xffffffff00000000ULL } };
#define P256_P_N0 0x1ULL			/* -p^-1 mod 2^64 */
#define P256_N_N0 0xccd1c8aaee00bc4fULL	/* -n^-1 mod 2^64 */
/* R^2 mod p and mod n (R = 2^256): into the Montgomery form. */
static const struct fe P256_RR_P = { { 0x0000000000000003ULL, 0xfffffffbffffffffULL,
	0xfffffffffffffffeULL, 0x00000004fffffffdULL } };
static const struct fe P256_RR_N = { { 0x83244c95be79eea2ULL, 0x4699799c49bd6fa6ULL,
	0x2845b2392b6bec59ULL, 0x66e12d94f3d95620ULL } };
/* 1, b and G in Montgomery form mod p. */
static const struct fe P256_ONE = { { 0x0000000000000001ULL, 0xffffffff00000000ULL,
	0xffffffffffffffffULL, 0x00000000fffffffeULL } };
static const struct fe P256_B = { { 0xd89cdf6229c4bddfULL, 0xacf005cd78843090ULL,
	0xe5a220abf7212ed6ULL, 0xdc30061d04874834ULL } };
static const struct fe P256_GX = { { 0x79e730d418a9143cULL, 0x75ba95fc5fedb601ULL,
	0x79fb732b77622510ULL, 0x18905f76a53755c6ULL } };
static const struct fe P256_GY = { { 0xddf25357ce95560aULL, 0x8b4ab8e4ba19e45cULL,
	0xd2e88688dd21f325ULL, 0x8571ff1825885d85ULL } };

/* --- driver state ----------------------------------------------------- */

/* 1 the driver works, 0 it declines everything.  Relaxed atomics: a test
 * flips it between operations, never during one. */
static int p256_driver_enabled = 1;
static uint64_t p256_driver_ops;

void xe_p256_driver_set_enabled(int enabled)
{
	__atomic_store_n(&p256_driver_enabled, enabled ? 1 : 0, __ATOMIC_RELAXED);
}

uint64_t xe_p256_driver_operations(void)
{
	return __atomic_load_n(&p256_driver_ops, __ATOMIC_RELAXED);
}

static int p256_driver_is_enabled(void)
{
	return __atomic_load_n(&p256_driver_enabled, __ATOMIC_RELAXED);
}

static void p256_driver_count(void)
{
	__atomic_add_fetch(&p256_driver_ops, 1, __ATOMIC_RELAXED);
}

/* --- 256-bit integers -------------------------------------------------- */

/* r = a - b; the borrow out (0 or 1). */
static uint64_t u256_sub(struct fe *r, const struct fe *a, const struct fe *b)
{
	u128 t;
	uint64_t borrow = 0;
	int i;

	for (i = 0; i < 4; i++) {
		t = (u128)a->v[i] - b->v[i] - borrow;
		r->v[i] = (uint64_t)t;
		borrow = (uint64_t)(t >> 64) & 1;
	}
	return borrow;
}

/* r = mask ? a : r, mask all ones or zero. */
static void u256_cmov(struct fe *r, const struct fe *a, uint64_t mask)
{
	int i;

	for (i = 0; i < 4; i++)
		r->v[i] ^= mask & (r->v[i] ^ a->v[i]);
}

/* All ones when a is zero, else zero. */
static uint64_t u256_is_zero_mask(const struct fe *a)
{
	uint64_t x = a->v[0] | a->v[1] | a->v[2] | a->v[3];

	/* (x | -x) has its top bit set exactly when x != 0. */
	return ((x | (0 - x)) >> 63) - 1;
}

/* 1 when a < m (no early exit), else 0. */
static uint64_t u256_less_than(const struct fe *a, const struct fe *m)
{
	struct fe scratch;

	return u256_sub(&scratch, a, m);
}

static void u256_from_bytes(struct fe *r, const uint8_t in[32])
{
	int i, j;

	for (i = 0; i < 4; i++) {
		uint64_t w = 0;

		for (j = 0; j < 8; j++)
			w = (w << 8) | in[(3 - i) * 8 + j];
		r->v[i] = w;
	}
}

static void u256_to_bytes(uint8_t out[32], const struct fe *a)
{
	int i, j;

	for (i = 0; i < 4; i++)
		for (j = 0; j < 8; j++)
			out[(3 - i) * 8 + j] = (uint8_t)(a->v[i] >> (56 - 8 * j));
}

/* --- Montgomery arithmetic mod m (p or n) ------------------------------ */

/* One CIOS round: t += a * bi, then t = (t + q*m) / 2^64 with q making
 * the low limb zero.  Written out on scalars (no array, so no stack
 * canary and the limbs stay in registers); the compiler folds m and n0
 * when they are constants (fe_mul: p, whose third limb is 0 and n0 1). */
#define MONT_ROUND(bi) do {						\
	c = (u128)a0 * (bi) + t0; t0 = (uint64_t)c;			\
	c = (u128)a1 * (bi) + t1 + (uint64_t)(c >> 64); t1 = (uint64_t)c; \
	c = (u128)a2 * (bi) + t2 + (uint64_t)(c >> 64); t2 = (uint64_t)c; \
	c = (u128)a3 * (bi) + t3 + (uint64_t)(c >> 64); t3 = (uint64_t)c; \
	c = (u128)t4 + (uint64_t)(c >> 64);				\
	t4 = (uint64_t)c; t5 = (uint64_t)(c >> 64);			\
	q = t0 * n0;							\
	c = (u128)q * m0 + t0;						\
	c = (u128)q * m1 + t1 + (uint64_t)(c >> 64); t0 = (uint64_t)c;	\
	c = (u128)q * m2 + t2 + (uint64_t)(c >> 64); t1 = (uint64_t)c;	\
	c = (u128)q * m3 + t3 + (uint64_t)(c >> 64); t2 = (uint64_t)c;	\
	c = (u128)t4 + (uint64_t)(c >> 64);				\
	t3 = (uint64_t)c; t4 = t5 + (uint64_t)(c >> 64);		\
} while (0)

/* r = a * b * 2^-256 mod m, for a, b < m (CIOS, Koc-Acar-Kaliski).  r may
 * alias a or b. */
static inline __attribute__((always_inline)) void mont_mul(struct fe *r, const struct fe *a,
    const struct fe *b, const struct fe *m, uint64_t n0)
{
	const uint64_t a0 = a->v[0], a1 = a->v[1], a2 = a->v[2], a3 = a->v[3];
	const uint64_t b0 = b->v[0], b1 = b->v[1], b2 = b->v[2], b3 = b->v[3];
	const uint64_t m0 = m->v[0], m1 = m->v[1], m2 = m->v[2], m3 = m->v[3];
	uint64_t t0 = 0, t1 = 0, t2 = 0, t3 = 0, t4 = 0, t5, q, s0, s1, s2, s3, borrow, mask;
	u128 c;

	MONT_ROUND(b0);
	MONT_ROUND(b1);
	MONT_ROUND(b2);
	MONT_ROUND(b3);
	/* t < 2m: subtract m once when t >= m (t4 set, or no borrow). */
	c = (u128)t0 - m0;
	s0 = (uint64_t)c;
	c = (u128)t1 - m1 - ((uint64_t)(c >> 64) & 1);
	s1 = (uint64_t)c;
	c = (u128)t2 - m2 - ((uint64_t)(c >> 64) & 1);
	s2 = (uint64_t)c;
	c = (u128)t3 - m3 - ((uint64_t)(c >> 64) & 1);
	s3 = (uint64_t)c;
	borrow = (uint64_t)(c >> 64) & 1;
	mask = 0 - (t4 | (borrow ^ 1));
	r->v[0] = t0 ^ (mask & (t0 ^ s0));
	r->v[1] = t1 ^ (mask & (t1 ^ s1));
	r->v[2] = t2 ^ (mask & (t2 ^ s2));
	r->v[3] = t3 ^ (mask & (t3 ^ s3));
}
#undef MONT_ROUND

/* r = a * b mod n in Montgomery form (the scalar side: a few hundred per
 * signature, for the inversion of k). */
static void scalar_mul(struct fe *r, const struct fe *a, const struct fe *b)
{
	mont_mul(r, a, b, &P256_N, P256_N_N0);
}

/* r = a + b mod m, for a, b < m. */
static inline __attribute__((always_inline)) void mod_add(struct fe *r, const struct fe *a,
    const struct fe *b, const struct fe *m)
{
	uint64_t x0, x1, x2, x3, carry, s0, s1, s2, s3, borrow, mask;
	u128 c;

	c = (u128)a->v[0] + b->v[0]; x0 = (uint64_t)c;
	c = (u128)a->v[1] + b->v[1] + (uint64_t)(c >> 64); x1 = (uint64_t)c;
	c = (u128)a->v[2] + b->v[2] + (uint64_t)(c >> 64); x2 = (uint64_t)c;
	c = (u128)a->v[3] + b->v[3] + (uint64_t)(c >> 64); x3 = (uint64_t)c;
	carry = (uint64_t)(c >> 64);
	c = (u128)x0 - m->v[0]; s0 = (uint64_t)c;
	c = (u128)x1 - m->v[1] - ((uint64_t)(c >> 64) & 1); s1 = (uint64_t)c;
	c = (u128)x2 - m->v[2] - ((uint64_t)(c >> 64) & 1); s2 = (uint64_t)c;
	c = (u128)x3 - m->v[3] - ((uint64_t)(c >> 64) & 1); s3 = (uint64_t)c;
	borrow = (uint64_t)(c >> 64) & 1;
	mask = 0 - (carry | (borrow ^ 1));
	r->v[0] = x0 ^ (mask & (x0 ^ s0));
	r->v[1] = x1 ^ (mask & (x1 ^ s1));
	r->v[2] = x2 ^ (mask & (x2 ^ s2));
	r->v[3] = x3 ^ (mask & (x3 ^ s3));
}

/* r = a - b mod m, for a, b < m. */
static inline __attribute__((always_inline)) void mod_sub(struct fe *r, const struct fe *a,
    const struct fe *b, const struct fe *m)
{
	uint64_t x0, x1, x2, x3, mask;
	u128 c;

	c = (u128)a->v[0] - b->v[0]; x0 = (uint64_t)c;
	c = (u128)a->v[1] - b->v[1] - ((uint64_t)(c >> 64) & 1); x1 = (uint64_t)c;
	c = (u128)a->v[2] - b->v[2] - ((uint64_t)(c >> 64) & 1); x2 = (uint64_t)c;
	c = (u128)a->v[3] - b->v[3] - ((uint64_t)(c >> 64) & 1); x3 = (uint64_t)c;
	mask = 0 - ((uint64_t)(c >> 64) & 1);	/* a borrow: add m back */
	c = (u128)x0 + (mask & m->v[0]); r->v[0] = (uint64_t)c;
	c = (u128)x1 + (mask & m->v[1]) + (uint64_t)(c >> 64); r->v[1] = (uint64_t)c;
	c = (u128)x2 + (mask & m->v[2]) + (uint64_t)(c >> 64); r->v[2] = (uint64_t)c;
	c = (u128)x3 + (mask & m->v[3]) + (uint64_t)(c >> 64); r->v[3] = (uint64_t)c;
}

/* r = a^(m-2) = a^-1 in Montgomery form, mul being the Montgomery
 * multiplication mod m (Fermat).  The exponent m-2 is a public constant:
 * branching on its bits gives every a the same sequence of squarings and
 * multiplications (256 squarings, one multiplication per set bit). */
static void mont_inv(struct fe *r, const struct fe *a, const struct fe *m,
    void (*mul)(struct fe *, const struct fe *, const struct fe *), const struct fe *one)
{
	struct fe e, acc = *one, two = { { 2, 0, 0, 0 } };
	int i;

	u256_sub(&e, m, &two);
	for (i = 255; i >= 0; i--) {
		mul(&acc, &acc, &acc);
		if ((e.v[i / 64] >> (i % 64)) & 1)
			mul(&acc, &acc, a);
	}
	*r = acc;
	mbedtls_platform_zeroize(&acc, sizeof(acc));
}

/* Field shorthands (mod p, Montgomery form). */
static void fe_mul(struct fe *r, const struct fe *a, const struct fe *b)
{
	mont_mul(r, a, b, &P256_P, P256_P_N0);
}

static void fe_add(struct fe *r, const struct fe *a, const struct fe *b)
{
	mod_add(r, a, b, &P256_P);
}

static void fe_sub(struct fe *r, const struct fe *a, const struct fe *b)
{
	mod_sub(r, a, b, &P256_P);
}

static void fe_to_mont(struct fe *r, const struct fe *a)
{
	fe_mul(r, a, &P256_RR_P);
}

static void fe_from_mont(struct fe *r, const struct fe *a)
{
	static const struct fe one = { { 1, 0, 0, 0 } };

	fe_mul(r, a, &one);
}

/* --- points ---------------------------------------------------------- */

static void point_identity(struct point *r)
{
	memset(&r->x, 0, sizeof(r->x));
	r->y = P256_ONE;
	memset(&r->z, 0, sizeof(r->z));
}

/* r = a + b: RCB 2015/1060 Algorithm 4 (a = -3), complete.  r may alias
 * a or b. */
static void point_add(struct point *r, const struct point *a, const struct point *b)
{
	struct fe t0, t1, t2, t3, t4, x3, y3, z3;

	fe_mul(&t0, &a->x, &b->x);
	fe_mul(&t1, &a->y, &b->y);
	fe_mul(&t2, &a->z, &b->z);
	fe_add(&t3, &a->x, &a->y);
	fe_add(&t4, &b->x, &b->y);
	fe_mul(&t3, &t3, &t4);
	fe_add(&t4, &t0, &t1);
	fe_sub(&t3, &t3, &t4);
	fe_add(&t4, &a->y, &a->z);
	fe_add(&x3, &b->y, &b->z);
	fe_mul(&t4, &t4, &x3);
	fe_add(&x3, &t1, &t2);
	fe_sub(&t4, &t4, &x3);
	fe_add(&x3, &a->x, &a->z);
	fe_add(&y3, &b->x, &b->z);
	fe_mul(&x3, &x3, &y3);
	fe_add(&y3, &t0, &t2);
	fe_sub(&y3, &x3, &y3);
	fe_mul(&z3, &P256_B, &t2);
	fe_sub(&x3, &y3, &z3);
	fe_add(&z3, &x3, &x3);
	fe_add(&x3, &x3, &z3);
	fe_sub(&z3, &t1, &x3);
	fe_add(&x3, &t1, &x3);
	fe_mul(&y3, &P256_B, &y3);
	fe_add(&t1, &t2, &t2);
	fe_add(&t2, &t1, &t2);
	fe_sub(&y3, &y3, &t2);
	fe_sub(&y3, &y3, &t0);
	fe_add(&t1, &y3, &y3);
	fe_add(&y3, &t1, &y3);
	fe_add(&t1, &t0, &t0);
	fe_add(&t0, &t1, &t0);
	fe_sub(&t0, &t0, &t2);
	fe_mul(&t1, &t4, &y3);
	fe_mul(&t2, &t0, &y3);
	fe_mul(&y3, &x3, &z3);
	fe_add(&y3, &y3, &t2);
	fe_mul(&x3, &t3, &x3);
	fe_sub(&x3, &x3, &t1);
	fe_mul(&z3, &t4, &z3);
	fe_mul(&t1, &t3, &t0);
	fe_add(&z3, &z3, &t1);
	r->x = x3;
	r->y = y3;
	r->z = z3;
}

/* r = 2a: RCB 2015/1060 Algorithm 6 (a = -3), complete.  r may alias a. */
static void point_double(struct point *r, const struct point *a)
{
	struct fe t0, t1, t2, t3, x3, y3, z3;

	fe_mul(&t0, &a->x, &a->x);
	fe_mul(&t1, &a->y, &a->y);
	fe_mul(&t2, &a->z, &a->z);
	fe_mul(&t3, &a->x, &a->y);
	fe_add(&t3, &t3, &t3);
	fe_mul(&z3, &a->x, &a->z);
	fe_add(&z3, &z3, &z3);
	fe_mul(&y3, &P256_B, &t2);
	fe_sub(&y3, &y3, &z3);
	fe_add(&x3, &y3, &y3);
	fe_add(&y3, &x3, &y3);
	fe_sub(&x3, &t1, &y3);
	fe_add(&y3, &t1, &y3);
	fe_mul(&y3, &x3, &y3);
	fe_mul(&x3, &x3, &t3);
	fe_add(&t3, &t2, &t2);
	fe_add(&t2, &t2, &t3);
	fe_mul(&z3, &P256_B, &z3);
	fe_sub(&z3, &z3, &t2);
	fe_sub(&z3, &z3, &t0);
	fe_add(&t3, &z3, &z3);
	fe_add(&z3, &z3, &t3);
	fe_add(&t3, &t0, &t0);
	fe_add(&t0, &t3, &t0);
	fe_sub(&t0, &t0, &t2);
	fe_mul(&t0, &t0, &z3);
	fe_add(&y3, &y3, &t0);
	fe_mul(&t0, &a->y, &a->z);
	fe_add(&t0, &t0, &t0);
	fe_mul(&z3, &t0, &z3);
	fe_sub(&x3, &x3, &z3);
	fe_mul(&z3, &t0, &t1);
	fe_add(&z3, &z3, &z3);
	fe_add(&z3, &z3, &z3);
	r->x = x3;
	r->y = y3;
	r->z = z3;
}

/* r = table[index] for index in [0, 16), reading every entry. */
static void point_lookup(struct point *r, const struct point table[P256_WINDOW_ENTRIES],
    uint64_t index)
{
	uint64_t j;

	memset(r, 0, sizeof(*r));
	for (j = 0; j < P256_WINDOW_ENTRIES; j++) {
		uint64_t diff = j ^ index;
		/* all ones when j == index */
		uint64_t mask = ((diff | (0 - diff)) >> 63) - 1;

		u256_cmov(&r->x, &table[j].x, mask);
		u256_cmov(&r->y, &table[j].y, mask);
		u256_cmov(&r->z, &table[j].z, mask);
	}
}

/* Bits 4i..4i+3 of the scalar. */
static uint64_t scalar_window(const struct fe *k, int i)
{
	return (k->v[i / 16] >> ((i % 16) * 4)) & 0xf;
}

/* The generator's tables: base_table[i][j] = j * 16^i * G (projective,
 * Z = 1 or the identity for j = 0).  96 KiB, public data, built once. */
static struct point base_table[P256_WINDOWS][P256_WINDOW_ENTRIES];
static pthread_once_t base_table_once = PTHREAD_ONCE_INIT;

static void point_to_affine(struct fe *x, struct fe *y, const struct point *a);

static void base_table_build(void)
{
	struct point g;		/* 16^i * G */
	int i, j;

	g.x = P256_GX;
	g.y = P256_GY;
	g.z = P256_ONE;
	for (i = 0; i < P256_WINDOWS; i++) {
		point_identity(&base_table[i][0]);
		base_table[i][1] = g;
		for (j = 2; j < P256_WINDOW_ENTRIES; j++)
			point_add(&base_table[i][j], &base_table[i][j - 1], &g);
		/* Z = 1 keeps the additions' inputs small and uniform. */
		for (j = 1; j < P256_WINDOW_ENTRIES; j++) {
			point_to_affine(&base_table[i][j].x, &base_table[i][j].y, &base_table[i][j]);
			fe_to_mont(&base_table[i][j].x, &base_table[i][j].x);
			fe_to_mont(&base_table[i][j].y, &base_table[i][j].y);
			base_table[i][j].z = P256_ONE;
		}
		for (j = 0; j < 4; j++)
			point_double(&g, &g);
	}
}

/* r = k * G, k < n. */
static void point_mul_base(struct point *r, const struct fe *k)
{
	struct point entry;
	int i;

	pthread_once(&base_table_once, base_table_build);
	point_identity(r);
	for (i = 0; i < P256_WINDOWS; i++) {
		point_lookup(&entry, base_table[i], scalar_window(k, i));
		point_add(r, r, &entry);
	}
	mbedtls_platform_zeroize(&entry, sizeof(entry));
}

/* r = k * q, k < n, q a valid point. */
static void point_mul(struct point *r, const struct point *q, const struct fe *k)
{
	struct point table[P256_WINDOW_ENTRIES], entry;
	int i, j;

	point_identity(&table[0]);
	table[1] = *q;
	for (j = 2; j < P256_WINDOW_ENTRIES; j++)
		point_add(&table[j], &table[j - 1], q);
	point_identity(r);
	for (i = P256_WINDOWS - 1; i >= 0; i--) {
		for (j = 0; j < 4; j++)
			point_double(r, r);
		point_lookup(&entry, table, scalar_window(k, i));
		point_add(r, r, &entry);
	}
	mbedtls_platform_zeroize(table, sizeof(table));
	mbedtls_platform_zeroize(&entry, sizeof(entry));
}

/* (x, y) = a in affine coordinates, out of Montgomery form.  For the
 * identity (Z = 0) both come out 0 (0 * 0^-1): callers check Z first. */
static void point_to_affine(struct fe *x, struct fe *y, const struct point *a)
{
	struct fe zinv;

	mont_inv(&zinv, &a->z, &P256_P, fe_mul, &P256_ONE);
	fe_mul(x, &a->x, &zinv);
	fe_mul(y, &a->y, &zinv);
	fe_from_mont(x, x);
	fe_from_mont(y, y);
}

/* A peer's public key into r (Montgomery form): 0, or -1 when it is not
 * 0x04 || x || y with x, y < p on y^2 = x^3 - 3x + b. */
static int point_decode(struct point *r, const uint8_t *in, size_t len)
{
	struct fe x, y, lhs, rhs, t;

	if (len != P256_PUBLIC_BYTES || in[0] != P256_UNCOMPRESSED)
		return -1;
	u256_from_bytes(&x, in + 1);
	u256_from_bytes(&y, in + 1 + P256_BYTES);
	if (!u256_less_than(&x, &P256_P) || !u256_less_than(&y, &P256_P))
		return -1;
	fe_to_mont(&x, &x);
	fe_to_mont(&y, &y);
	fe_mul(&lhs, &y, &y);
	fe_mul(&rhs, &x, &x);		/* x^2 */
	fe_mul(&rhs, &rhs, &x);		/* x^3 */
	fe_add(&t, &x, &x);
	fe_add(&t, &t, &x);		/* 3x */
	fe_sub(&rhs, &rhs, &t);
	fe_add(&rhs, &rhs, &P256_B);
	fe_sub(&t, &lhs, &rhs);
	if (!u256_is_zero_mask(&t))
		return -1;
	r->x = x;
	r->y = y;
	r->z = P256_ONE;
	return 0;
}

/* A private key (32 bytes big-endian) into k: 0, or -1 unless 1 <= k < n.
 * Both checks without early exit; only the verdict is branched on. */
static int scalar_decode(struct fe *k, const uint8_t in[32])
{
	uint64_t ok;

	u256_from_bytes(k, in);
	ok = u256_less_than(k, &P256_N) & (~u256_is_zero_mask(k) & 1);
	return ok ? 0 : -1;
}

/* 0x04 || x || y of d*G. */
static void public_key_of(uint8_t out[P256_PUBLIC_BYTES], const struct fe *d)
{
	struct point q;
	struct fe x, y;

	point_mul_base(&q, d);
	point_to_affine(&x, &y, &q);
	out[0] = P256_UNCOMPRESSED;
	u256_to_bytes(out + 1, &x);
	u256_to_bytes(out + 1 + P256_BYTES, &y);
	mbedtls_platform_zeroize(&q, sizeof(q));
}

/* --- PSA entry points ------------------------------------------------ */

static int p256_key_pair(const psa_key_attributes_t *attributes, size_t key_buffer_size)
{
	return p256_driver_is_enabled() &&
	    psa_get_key_type(attributes) == PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1) &&
	    psa_get_key_bits(attributes) == P256_BITS && key_buffer_size == P256_BYTES;
}

psa_status_t xe_p256_transparent_generate_key(const psa_key_attributes_t *attributes,
	uint8_t *key_buffer, size_t key_buffer_size, size_t *key_buffer_length)
{
	uint8_t candidate[P256_BYTES];
	struct fe k;
	int tries;

	if (!p256_key_pair(attributes, key_buffer_size))
		return PSA_ERROR_NOT_SUPPORTED;
	/* FIPS 186-5 A.2.2, rejection sampling: uniform in [1, n-1]. */
	for (tries = 0; tries < P256_RANDOM_TRIES; tries++) {
		if (psa_generate_random(candidate, sizeof(candidate)) != PSA_SUCCESS)
			break;
		if (scalar_decode(&k, candidate) == 0) {
			memcpy(key_buffer, candidate, sizeof(candidate));
			*key_buffer_length = sizeof(candidate);
			mbedtls_platform_zeroize(candidate, sizeof(candidate));
			mbedtls_platform_zeroize(&k, sizeof(k));
			p256_driver_count();
			return PSA_SUCCESS;
		}
	}
	mbedtls_platform_zeroize(candidate, sizeof(candidate));
	mbedtls_platform_zeroize(&k, sizeof(k));
	return PSA_ERROR_NOT_SUPPORTED;
}

psa_status_t xe_p256_transparent_export_public_key(const psa_key_attributes_t *attributes,
	const uint8_t *key_buffer, size_t key_buffer_size,
	uint8_t *data, size_t data_size, size_t *data_length)
{
	struct fe d;

	if (!p256_key_pair(attributes, key_buffer_size) || data_size < P256_PUBLIC_BYTES)
		return PSA_ERROR_NOT_SUPPORTED;
	if (scalar_decode(&d, key_buffer) != 0) {
		mbedtls_platform_zeroize(&d, sizeof(d));
		return PSA_ERROR_NOT_SUPPORTED;
	}
	public_key_of(data, &d);
	*data_length = P256_PUBLIC_BYTES;
	mbedtls_platform_zeroize(&d, sizeof(d));
	p256_driver_count();
	return PSA_SUCCESS;
}

psa_status_t xe_p256_transparent_key_agreement(const psa_key_attributes_t *attributes,
	const uint8_t *key_buffer, size_t key_buffer_size,
	psa_algorithm_t alg,
	const uint8_t *peer_key, size_t peer_key_length,
	uint8_t *shared_secret, size_t shared_secret_size,
	size_t *shared_secret_length)
{
	struct point q, s;
	struct fe d, x, y;
	psa_status_t status = PSA_ERROR_NOT_SUPPORTED;

	if (!p256_key_pair(attributes, key_buffer_size) || alg != PSA_ALG_ECDH ||
	    shared_secret_size < P256_BYTES)
		return PSA_ERROR_NOT_SUPPORTED;
	if (point_decode(&q, peer_key, peer_key_length) != 0)
		return PSA_ERROR_NOT_SUPPORTED;
	if (scalar_decode(&d, key_buffer) != 0)
		goto fail;
	point_mul(&s, &q, &d);
	/* Never the identity for a point on this prime-order curve and
	 * 1 <= d < n; checked all the same (the result is then public). */
	if (u256_is_zero_mask(&s.z))
		goto fail;
	point_to_affine(&x, &y, &s);
	u256_to_bytes(shared_secret, &x);
	*shared_secret_length = P256_BYTES;
	p256_driver_count();
	status = PSA_SUCCESS;
fail:
	mbedtls_platform_zeroize(&d, sizeof(d));
	mbedtls_platform_zeroize(&s, sizeof(s));
	mbedtls_platform_zeroize(&x, sizeof(x));
	mbedtls_platform_zeroize(&y, sizeof(y));
	return status;
}

/* e = the leftmost 256 bits of the hash as an integer, reduced mod n
 * (SEC 1 §4.1.3 step 5; e < 2^256 < 2n, so one conditional subtraction). */
static void ecdsa_hash_to_scalar(struct fe *e, const uint8_t *hash, size_t hash_length)
{
	uint8_t padded[P256_BYTES] = { 0 };
	struct fe reduced;
	uint64_t borrow;

	if (hash_length >= P256_BYTES)
		memcpy(padded, hash, P256_BYTES);
	else
		memcpy(padded + P256_BYTES - hash_length, hash, hash_length);
	u256_from_bytes(e, padded);
	borrow = u256_sub(&reduced, e, &P256_N);
	u256_cmov(e, &reduced, 0 - (borrow ^ 1));
}

psa_status_t xe_p256_transparent_sign_hash(const psa_key_attributes_t *attributes,
	const uint8_t *key_buffer, size_t key_buffer_size,
	psa_algorithm_t alg,
	const uint8_t *hash, size_t hash_length,
	uint8_t *signature, size_t signature_size, size_t *signature_length)
{
	uint8_t candidate[P256_BYTES];
	struct fe d, e, k, r, s, t, kinv, rx, ry, reduced, one_n;
	struct point kg;
	psa_status_t status = PSA_ERROR_NOT_SUPPORTED;
	uint64_t borrow;
	int tries;

	/* Deterministic ECDSA (RFC 6979) stays with the built-in. */
	if (!p256_key_pair(attributes, key_buffer_size) || !PSA_ALG_IS_RANDOMIZED_ECDSA(alg) ||
	    signature_size < P256_SIGNATURE_BYTES || hash_length == 0)
		return PSA_ERROR_NOT_SUPPORTED;
	if (scalar_decode(&d, key_buffer) != 0)
		goto fail;
	ecdsa_hash_to_scalar(&e, hash, hash_length);
	/* R mod n, the Montgomery form of 1 mod n */
	scalar_mul(&one_n, &P256_RR_N, &(const struct fe){ { 1, 0, 0, 0 } });
	for (tries = 0; tries < P256_RANDOM_TRIES; tries++) {
		/* k uniform in [1, n-1] */
		if (psa_generate_random(candidate, sizeof(candidate)) != PSA_SUCCESS)
			goto fail;
		if (scalar_decode(&k, candidate) != 0)
			continue;
		/* r = x(kG) mod n; x < p < 2n */
		point_mul_base(&kg, &k);
		point_to_affine(&rx, &ry, &kg);
		borrow = u256_sub(&reduced, &rx, &P256_N);
		r = rx;
		u256_cmov(&r, &reduced, 0 - (borrow ^ 1));
		if (u256_is_zero_mask(&r))
			continue;
		/* s = k^-1 (e + r d) mod n, in Montgomery form where it helps:
		 * scalar_mul(aR, b) = ab. */
		scalar_mul(&t, &r, &P256_RR_N);	/* rR */
		scalar_mul(&t, &t, &d);		/* r d */
		mod_add(&t, &t, &e, &P256_N);				/* e + r d */
		scalar_mul(&kinv, &k, &P256_RR_N);	/* kR */
		mont_inv(&kinv, &kinv, &P256_N, scalar_mul, &one_n);	/* k^-1 R */
		scalar_mul(&s, &kinv, &t);	/* k^-1 (e + r d) */
		if (u256_is_zero_mask(&s))
			continue;
		u256_to_bytes(signature, &r);
		u256_to_bytes(signature + P256_BYTES, &s);
		*signature_length = P256_SIGNATURE_BYTES;
		p256_driver_count();
		status = PSA_SUCCESS;
		break;
	}
fail:
	mbedtls_platform_zeroize(candidate, sizeof(candidate));
	mbedtls_platform_zeroize(&d, sizeof(d));
	mbedtls_platform_zeroize(&k, sizeof(k));
	mbedtls_platform_zeroize(&kinv, sizeof(kinv));
	mbedtls_platform_zeroize(&t, sizeof(t));
	mbedtls_platform_zeroize(&kg, sizeof(kg));
	mbedtls_platform_zeroize(&ry, sizeof(ry));
	return status;
}
