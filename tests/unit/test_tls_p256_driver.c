/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tls_p256_driver.c - the P-256 driver (tls/psa_driver/p256_driver.c:
 * key generation, public-key export, ECDH and randomised ECDSA signing
 * behind PSA) against known answers and against mbedTLS's built-in, and
 * the TLS 1.3 handshake going through it.
 *
 * Known answers (each cross-checked with OpenSSL through Python's
 * cryptography package when written), through PSA with the driver on and
 * off:
 *  - RFC 6979 §A.2.5: the P-256 key's public key (the export); its
 *    SHA-256 signatures of "sample" and "test" verify (and with a bit
 *    changed do not) on the built-in's verifier, as do the driver's own
 *    randomised signatures with that key (deterministic ECDSA is not in
 *    this configuration: MBEDTLS_ECDSA_DETERMINISTIC is off);
 *  - NIST CAVS ECC CDH primitive (KAS ECC CDH, P-256, COUNT = 0 and 1):
 *    the IUT's public key and the shared secret Z.
 * Differential: 300 random key pairs (generated with the driver on and
 * off), exports and agreements equal either way; signatures made by the
 * driver verified by mbedTLS's verifier (the built-in: verification is
 * not the driver's).  Hostile peer points
 * (off the curve, a coordinate >= p, the point at infinity, compressed,
 * hybrid and unknown format bytes, wrong lengths): refused with the
 * built-in's status either way, never counted as a driver operation.
 *
 * The operation counter makes these fail on a build whose dispatch does not
 * reach the driver (without deps/patches/mbedtls-p256-driver.patch).
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <psa/crypto.h>

#include "psa_driver/p256_driver.h"
#include "tls.h"
#include "tls_pair.h"

#define PUB_LEN 65

static void
key_attributes(psa_key_attributes_t *a, psa_key_type_t type, psa_algorithm_t alg)
{
	psa_set_key_type(a, type);
	psa_set_key_bits(a, 256);
	psa_set_key_algorithm(a, alg);
	if (PSA_ALG_IS_KEY_AGREEMENT(alg))
		psa_set_key_usage_flags(a, PSA_KEY_USAGE_DERIVE | PSA_KEY_USAGE_EXPORT);
	else
		psa_set_key_usage_flags(a, PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_VERIFY_HASH |
		    PSA_KEY_USAGE_EXPORT);
}

/* A P-256 key pair from its 32 private bytes for alg; 0 on failure. */
static psa_key_id_t
import_pair(const uint8_t d[32], psa_algorithm_t alg)
{
	psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t id = 0;

	key_attributes(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1), alg);
	if (psa_import_key(&a, d, 32, &id) != PSA_SUCCESS)
		return 0;
	return id;
}

/* A P-256 public key (0x04 || x || y) for alg; the PSA status. */
static psa_status_t
import_public(const uint8_t *q, size_t len, psa_algorithm_t alg, psa_key_id_t *id)
{
	psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;

	*id = 0;
	key_attributes(&a, PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1), alg);
	return psa_import_key(&a, q, len, id);
}

static psa_key_id_t
generate_pair(psa_algorithm_t alg)
{
	psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t id = 0;

	key_attributes(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1), alg);
	if (psa_generate_key(&a, &id) != PSA_SUCCESS)
		return 0;
	return id;
}

static void
sha256(const void *msg, size_t len, uint8_t out[32])
{
	size_t olen = 0;

	REQUIRE(psa_hash_compute(PSA_ALG_SHA_256, msg, len, out, 32, &olen) == PSA_SUCCESS);
	REQUIRE(olen == 32);
}

/* RFC 6979 §A.2.5, curve P-256. */
#define RFC6979_D "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"
#define RFC6979_Q "0460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6" \
	"7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299"

TEST(tls_p256_driver_rfc6979_vectors)
{
	static const struct { const char *msg, *sig; } v[] = {
		{ "sample", "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716"
		    "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8" },
		{ "test", "f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367"
		    "019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083" },
	};
	uint8_t d[32], q[PUB_LEN], pub[PUB_LEN], want[64], sig[64], hash[32];
	size_t i, olen;
	int on;

	REQUIRE(psa_crypto_init() == PSA_SUCCESS);
	tls_pair_unhex(RFC6979_D, d, 32);
	tls_pair_unhex(RFC6979_Q, q, PUB_LEN);
	for (on = 1; on >= 0; on--) {
		psa_key_id_t rnd, qid;
		uint64_t before = xe_p256_driver_operations();

		xe_p256_driver_set_enabled(on);
		rnd = import_pair(d, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
		REQUIRE(rnd != 0);
		REQUIRE(import_public(q, PUB_LEN, PSA_ALG_ECDSA(PSA_ALG_SHA_256), &qid) == PSA_SUCCESS);
		olen = 0;
		CHECK_INT_EQ(psa_export_public_key(rnd, pub, sizeof(pub), &olen), PSA_SUCCESS);
		CHECK_INT_EQ(olen, PUB_LEN);
		CHECK(memcmp(pub, q, PUB_LEN) == 0);
		for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
			sha256(v[i].msg, strlen(v[i].msg), hash);
			tls_pair_unhex(v[i].sig, want, 64);
			/* The known signature verifies, one bit off does not
			 * (the built-in's verifier either way). */
			CHECK_INT_EQ(psa_verify_hash(qid, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, 32, want, 64),
			    PSA_SUCCESS);
			want[40] ^= 0x10;
			CHECK_INT_EQ(psa_verify_hash(qid, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, 32, want, 64),
			    PSA_ERROR_INVALID_SIGNATURE);
			want[40] ^= 0x10;
			/* A randomised signature (the driver's) verifies and
			 * differs from the deterministic one. */
			CHECK_INT_EQ(psa_sign_hash(rnd, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, 32, sig,
			    sizeof(sig), &olen), PSA_SUCCESS);
			CHECK(olen == 64 && memcmp(sig, want, 64) != 0);
			CHECK_INT_EQ(psa_verify_hash(qid, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, 32, sig, 64),
			    PSA_SUCCESS);
		}
		/* The export and a randomised signature per message. */
		CHECK_INT_EQ(xe_p256_driver_operations() - before, on ? 1 + 2 : 0);
		psa_destroy_key(rnd);
		psa_destroy_key(qid);
	}
	xe_p256_driver_set_enabled(1);
	mbedtls_psa_crypto_free();
}

/* NIST CAVS 14.1 ECC CDH primitive test vectors (KAS_ECC_CDH_PrimitiveTest,
 * [P-256]), COUNT = 0 and 1. */
TEST(tls_p256_driver_cavs_ecdh_vectors)
{
	static const struct { const char *qcavs, *d, *qiut, *z; } v[] = {
		{ "04700c48f77f56584c5cc632ca65640db91b6bacce3a4df6b42ce7cc838833d287"
		    "db71e509e3fd9b060ddb20ba5c51dcc5948d46fbf640dfe0441782cab85fa4ac",
		  "7d7dc5f71eb29ddaf80d6214632eeae03d9058af1fb6d22ed80badb62bc1a534",
		  "04ead218590119e8876b29146ff89ca61770c4edbbf97d38ce385ed281d8a6b230"
		    "28af61281fd35e2fa7002523acc85a429cb06ee6648325389f59edfce1405141",
		  "46fc62106420ff012e54a434fbdd2d25ccc5852060561e68040dd7778997bd7b" },
		{ "04809f04289c64348c01515eb03d5ce7ac1a8cb9498f5caa50197e58d43a86a7ae"
		    "b29d84e811197f25eba8f5194092cb6ff440e26d4421011372461f579271cda3",
		  "38f65d6dce47676044d58ce5139582d568f64bb16098d179dbab07741dd5caf5",
		  "04119f2f047902782ab0c9e27a54aff5eb9b964829ca99c06b02ddba95b0a3f6d0"
		    "8f52b726664cac366fc98ac7a012b2682cbd962e5acb544671d41b9445704d1d",
		  "057d636096cb80b67a8c038c890e887d1adfa4195e9b3ce241c8a778c59cda67" },
	};
	uint8_t qcavs[PUB_LEN], d[32], qiut[PUB_LEN], z[32], pub[PUB_LEN], out[32];
	size_t i, olen;
	int on;

	REQUIRE(psa_crypto_init() == PSA_SUCCESS);
	for (on = 1; on >= 0; on--) {
		uint64_t before = xe_p256_driver_operations();

		xe_p256_driver_set_enabled(on);
		for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
			psa_key_id_t id;

			tls_pair_unhex(v[i].qcavs, qcavs, PUB_LEN);
			tls_pair_unhex(v[i].d, d, 32);
			tls_pair_unhex(v[i].qiut, qiut, PUB_LEN);
			tls_pair_unhex(v[i].z, z, 32);
			id = import_pair(d, PSA_ALG_ECDH);
			REQUIRE(id != 0);
			olen = 0;
			CHECK_INT_EQ(psa_export_public_key(id, pub, sizeof(pub), &olen), PSA_SUCCESS);
			CHECK(olen == PUB_LEN && memcmp(pub, qiut, PUB_LEN) == 0);
			memset(out, 0, sizeof(out));
			CHECK_INT_EQ(psa_raw_key_agreement(PSA_ALG_ECDH, id, qcavs, PUB_LEN, out,
			    sizeof(out), &olen), PSA_SUCCESS);
			CHECK(olen == 32 && memcmp(out, z, 32) == 0);
			/* Too small a buffer: the built-in's answer either way. */
			CHECK_INT_EQ(psa_raw_key_agreement(PSA_ALG_ECDH, id, qcavs, PUB_LEN, out, 31, &olen),
			    PSA_ERROR_BUFFER_TOO_SMALL);
			CHECK_INT_EQ(psa_export_public_key(id, pub, PUB_LEN - 1, &olen),
			    PSA_ERROR_BUFFER_TOO_SMALL);
			psa_destroy_key(id);
		}
		/* Per vector: the export and the agreement. */
		CHECK_INT_EQ(xe_p256_driver_operations() - before, on ? 2 * 2 : 0);
	}
	xe_p256_driver_set_enabled(1);
	mbedtls_psa_crypto_free();
}

/* Random key pairs: exports and agreements equal with the driver on and
 * off; each side's signatures verified by the other. */
TEST(tls_p256_driver_matches_builtin)
{
	int i;

	REQUIRE(psa_crypto_init() == PSA_SUCCESS);
	for (i = 0; i < 300; i++) {
		psa_key_id_t a, b, as, bs, apub_id, bpub_id;
		uint8_t apub[2][PUB_LEN], bpub[2][PUB_LEN], s[3][32], hash[32], sig[64];
		size_t olen;
		int on;

		/* a made by the driver, b by the built-in. */
		xe_p256_driver_set_enabled(1);
		a = generate_pair(PSA_ALG_ECDH);
		xe_p256_driver_set_enabled(0);
		b = generate_pair(PSA_ALG_ECDH);
		REQUIRE(a != 0 && b != 0);
		for (on = 0; on <= 1; on++) {
			xe_p256_driver_set_enabled(on);
			REQUIRE(psa_export_public_key(a, apub[on], PUB_LEN, &olen) == PSA_SUCCESS);
			REQUIRE(psa_export_public_key(b, bpub[on], PUB_LEN, &olen) == PSA_SUCCESS);
		}
		CHECK(memcmp(apub[0], apub[1], PUB_LEN) == 0);
		CHECK(memcmp(bpub[0], bpub[1], PUB_LEN) == 0);
		xe_p256_driver_set_enabled(1);
		REQUIRE(psa_raw_key_agreement(PSA_ALG_ECDH, a, bpub[0], PUB_LEN, s[0], 32, &olen) == PSA_SUCCESS);
		REQUIRE(psa_raw_key_agreement(PSA_ALG_ECDH, b, apub[0], PUB_LEN, s[1], 32, &olen) == PSA_SUCCESS);
		xe_p256_driver_set_enabled(0);
		REQUIRE(psa_raw_key_agreement(PSA_ALG_ECDH, a, bpub[0], PUB_LEN, s[2], 32, &olen) == PSA_SUCCESS);
		CHECK(memcmp(s[0], s[1], 32) == 0);
		CHECK(memcmp(s[0], s[2], 32) == 0);
		psa_destroy_key(a);
		psa_destroy_key(b);

		/* Signatures: the driver's verified by the built-in, and the
		 * built-in's (randomised) verified too (the same verifier: a
		 * check that the keys the driver made sign on the built-in). */
		sha256(&i, sizeof(i), hash);
		xe_p256_driver_set_enabled(1);
		as = generate_pair(PSA_ALG_ECDSA(PSA_ALG_SHA_256));
		bs = generate_pair(PSA_ALG_ECDSA(PSA_ALG_SHA_256));
		REQUIRE(as != 0 && bs != 0);
		REQUIRE(psa_export_public_key(as, apub[0], PUB_LEN, &olen) == PSA_SUCCESS);
		REQUIRE(psa_export_public_key(bs, bpub[0], PUB_LEN, &olen) == PSA_SUCCESS);
		REQUIRE(import_public(apub[0], PUB_LEN, PSA_ALG_ECDSA(PSA_ALG_SHA_256), &apub_id) == PSA_SUCCESS);
		REQUIRE(import_public(bpub[0], PUB_LEN, PSA_ALG_ECDSA(PSA_ALG_SHA_256), &bpub_id) == PSA_SUCCESS);
		REQUIRE(psa_sign_hash(as, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, 32, sig, 64, &olen) == PSA_SUCCESS);
		xe_p256_driver_set_enabled(0);
		CHECK_INT_EQ(psa_verify_hash(apub_id, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, 32, sig, 64),
		    PSA_SUCCESS);
		REQUIRE(psa_sign_hash(bs, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, 32, sig, 64, &olen) == PSA_SUCCESS);
		xe_p256_driver_set_enabled(1);
		CHECK_INT_EQ(psa_verify_hash(bpub_id, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, 32, sig, 64),
		    PSA_SUCCESS);
		/* A hash that is not the one signed. */
		hash[0] ^= 1;
		CHECK_INT_EQ(psa_verify_hash(bpub_id, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, 32, sig, 64),
		    PSA_ERROR_INVALID_SIGNATURE);
		psa_destroy_key(as);
		psa_destroy_key(bs);
		psa_destroy_key(apub_id);
		psa_destroy_key(bpub_id);
	}
	xe_p256_driver_set_enabled(1);
	mbedtls_psa_crypto_free();
}

/* Peer points an attacker may send in a key share: refused, with the same
 * status with the driver on and off (the built-in's), as an agreement and
 * as an imported public key, and never counted. */
TEST(tls_p256_driver_refuses_hostile_points)
{
	/* G = (gx, gy); p the field prime. */
#define GX "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
#define GY "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
#define P  "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff"
	static const char *const bad[] = {
		"04" P GY,				/* x = p */
		"04" GX P,				/* y = p */
		"04" GX "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f6", /* y + 1: off the curve */
		"04" "0000000000000000000000000000000000000000000000000000000000000000"
		     "0000000000000000000000000000000000000000000000000000000000000000", /* (0, 0) */
		"04" "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
		     "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"00",					/* the point at infinity (SEC 1) */
		"05" GX GY,				/* unknown format byte */
		"06" GX GY,				/* hybrid (X9.62), not in TLS */
		"07" GX GY,
		"02" GX,				/* compressed (RFC 8422: not in TLS 1.3) */
		"03" GX,
		GX GY,					/* 64 bytes: no format byte */
		"04" GX GY "00",			/* 66 bytes */
		"04" GX,				/* 33 bytes */
	};
	uint8_t d[32], peer[80], out[32];
	size_t i;

	REQUIRE(psa_crypto_init() == PSA_SUCCESS);
	tls_pair_unhex("7d7dc5f71eb29ddaf80d6214632eeae03d9058af1fb6d22ed80badb62bc1a534", d, 32);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = strlen(bad[i]) / 2, olen;
		psa_status_t agree[2], import[2];
		uint64_t before;
		int on;

		REQUIRE(len <= sizeof(peer));
		tls_pair_unhex(bad[i], peer, len);
		for (on = 0; on <= 1; on++) {
			psa_key_id_t id, qid;

			xe_p256_driver_set_enabled(on);
			id = import_pair(d, PSA_ALG_ECDH);
			REQUIRE(id != 0);
			before = xe_p256_driver_operations();
			agree[on] = psa_raw_key_agreement(PSA_ALG_ECDH, id, peer, len, out, sizeof(out), &olen);
			import[on] = import_public(peer, len, PSA_ALG_ECDSA(PSA_ALG_SHA_256), &qid);
			CHECK_INT_EQ(xe_p256_driver_operations() - before, 0);
			if (import[on] == PSA_SUCCESS)
				psa_destroy_key(qid);
			psa_destroy_key(id);
		}
		if (agree[0] == PSA_SUCCESS || import[0] == PSA_SUCCESS)
			fprintf(stderr, "accepted: %s\n", bad[i]);
		CHECK(agree[0] != PSA_SUCCESS);
		CHECK(import[0] != PSA_SUCCESS);
		CHECK_INT_EQ(agree[1], agree[0]);
		CHECK_INT_EQ(import[1], import[0]);
	}
	xe_p256_driver_set_enabled(1);
	mbedtls_psa_crypto_free();
#undef GX
#undef GY
#undef P
}

/* Private keys out of range are the built-in's to refuse; shapes the gate
 * does not take are declined. */
TEST(tls_p256_driver_declines_what_it_does_not_do)
{
	psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
	uint8_t d[32], zero[32] = { 0 }, n[32], out[PUB_LEN], hash[32] = { 1 };
	size_t olen = 0;
	int on;

	REQUIRE(psa_crypto_init() == PSA_SUCCESS);
	tls_pair_unhex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", n, 32);
	for (on = 0; on <= 1; on++) {
		psa_status_t st_zero, st_n;
		psa_key_id_t id = 0;

		xe_p256_driver_set_enabled(on);
		key_attributes(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1), PSA_ALG_ECDH);
		st_zero = psa_import_key(&a, zero, 32, &id);
		CHECK(st_zero != PSA_SUCCESS);
		st_n = psa_import_key(&a, n, 32, &id);
		CHECK(st_n != PSA_SUCCESS);
		CHECK_INT_EQ(st_zero, PSA_ERROR_INVALID_ARGUMENT);
		CHECK_INT_EQ(st_n, PSA_ERROR_INVALID_ARGUMENT);
	}
	xe_p256_driver_set_enabled(1);

	/* The entry points directly. */
	tls_pair_unhex("7d7dc5f71eb29ddaf80d6214632eeae03d9058af1fb6d22ed80badb62bc1a534", d, 32);
	psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
	psa_set_key_bits(&a, 256);
	CHECK_INT_EQ(xe_p256_transparent_export_public_key(&a, d, 32, out, sizeof(out), &olen),
	    PSA_SUCCESS);
	CHECK_INT_EQ(olen, PUB_LEN);
	CHECK_INT_EQ(xe_p256_transparent_export_public_key(&a, d, 32, out, PUB_LEN - 1, &olen),
	    PSA_ERROR_NOT_SUPPORTED);
	CHECK_INT_EQ(xe_p256_transparent_export_public_key(&a, d, 31, out, sizeof(out), &olen),
	    PSA_ERROR_NOT_SUPPORTED);
	CHECK_INT_EQ(xe_p256_transparent_export_public_key(&a, n, 32, out, sizeof(out), &olen),
	    PSA_ERROR_NOT_SUPPORTED);
	CHECK_INT_EQ(xe_p256_transparent_key_agreement(&a, d, 32, PSA_ALG_FFDH, out, PUB_LEN,
	    out, 32, &olen), PSA_ERROR_NOT_SUPPORTED);
	CHECK_INT_EQ(xe_p256_transparent_sign_hash(&a, d, 32,
	    PSA_ALG_DETERMINISTIC_ECDSA(PSA_ALG_SHA_256), hash, 32, out, 64, &olen),
	    PSA_ERROR_NOT_SUPPORTED);
	CHECK_INT_EQ(xe_p256_transparent_sign_hash(&a, d, 32, PSA_ALG_ECDSA(PSA_ALG_SHA_256),
	    hash, 32, out, 63, &olen), PSA_ERROR_NOT_SUPPORTED);
	CHECK_INT_EQ(xe_p256_transparent_export_public_key(&a, zero, 32, out, sizeof(out), &olen),
	    PSA_ERROR_NOT_SUPPORTED);
	CHECK_INT_EQ(xe_p256_transparent_key_agreement(&a, d, 32, PSA_ALG_ECDH, out, PUB_LEN - 1,
	    out, 32, &olen), PSA_ERROR_NOT_SUPPORTED);
	/* P-384, X25519: not P-256. */
	psa_set_key_bits(&a, 384);
	CHECK_INT_EQ(xe_p256_transparent_export_public_key(&a, d, 32, out, sizeof(out), &olen),
	    PSA_ERROR_NOT_SUPPORTED);
	CHECK_INT_EQ(xe_p256_transparent_generate_key(&a, out, 48, &olen), PSA_ERROR_NOT_SUPPORTED);
	psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY));
	psa_set_key_bits(&a, 255);
	CHECK_INT_EQ(xe_p256_transparent_generate_key(&a, out, 32, &olen), PSA_ERROR_NOT_SUPPORTED);
	/* Turned off: it declines what it took above. */
	psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
	psa_set_key_bits(&a, 256);
	xe_p256_driver_set_enabled(0);
	CHECK_INT_EQ(xe_p256_transparent_export_public_key(&a, d, 32, out, sizeof(out), &olen),
	    PSA_ERROR_NOT_SUPPORTED);
	CHECK_INT_EQ(xe_p256_transparent_generate_key(&a, out, 32, &olen), PSA_ERROR_NOT_SUPPORTED);
	xe_p256_driver_set_enabled(1);
	mbedtls_psa_crypto_free();
}

/* A TLS 1.3 handshake between two tls_conns with ECDSA P-256 certificates
 * (the fixture's default): the CertificateVerify is signed through the
 * driver; with it off the same handshake works on the built-in and the
 * driver does nothing. */
TEST(tls_p256_driver_serves_tls_handshakes)
{
	static const uint8_t msg[] = "<stream:stream>";
	int on;

	for (on = 1; on >= 0; on--) {
		struct tls_pair p;
		uint64_t before, ops;

		xe_p256_driver_set_enabled(on);
		before = xe_p256_driver_operations();
		REQUIRE(tls_pair_connect(&p) == 0);
		CHECK_INT_EQ(tls_conn_write(p.srv.conn, msg, sizeof(msg)), 0);
		tls_fx_pump(&p.cli, &p.srv);
		CHECK_INT_EQ(p.cli.plain_len, sizeof(msg));
		CHECK(p.cli.plain && memcmp(p.cli.plain, msg, sizeof(msg)) == 0);
		CHECK_INT_EQ(p.srv.errors + p.cli.errors, 0);
		ops = xe_p256_driver_operations() - before;
		if (on)
			CHECK(ops >= 1);
		else
			CHECK_INT_EQ(ops, 0);
		tls_pair_free(&p);
	}
	xe_p256_driver_set_enabled(1);
}

/* Hashes longer and shorter than the order (SHA-384: its leftmost 256
 * bits; SHA-1: the 160-bit integer), SEC 1 §4.1.3 step 5: the driver's
 * signatures verify on the built-in's verifier. */
TEST(tls_p256_driver_signs_other_hash_lengths)
{
	static const struct { psa_algorithm_t hash; size_t len; } h[] = {
		{ PSA_ALG_SHA_384, 48 }, { PSA_ALG_SHA_512, 64 }, { PSA_ALG_SHA_224, 28 },
		{ PSA_ALG_SHA_1, 20 },
	};
	uint8_t digest[64], sig[64], pub[PUB_LEN];
	size_t i, olen;
	int round;

	REQUIRE(psa_crypto_init() == PSA_SUCCESS);
	for (round = 0; round < 20; round++) {
		psa_key_id_t id, qid;

		xe_p256_driver_set_enabled(1);
		id = generate_pair(PSA_ALG_ECDSA(PSA_ALG_ANY_HASH));
		REQUIRE(id != 0);
		REQUIRE(psa_export_public_key(id, pub, sizeof(pub), &olen) == PSA_SUCCESS);
		REQUIRE(import_public(pub, PUB_LEN, PSA_ALG_ECDSA(PSA_ALG_ANY_HASH), &qid) == PSA_SUCCESS);
		for (i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
			uint64_t before;

			REQUIRE(psa_generate_random(digest, h[i].len) == PSA_SUCCESS);
			/* An all-ones digest: e >= n before the reduction. */
			if (round == 0)
				memset(digest, 0xff, h[i].len);
			xe_p256_driver_set_enabled(1);
			before = xe_p256_driver_operations();
			CHECK_INT_EQ(psa_sign_hash(id, PSA_ALG_ECDSA(h[i].hash), digest, h[i].len, sig,
			    sizeof(sig), &olen), PSA_SUCCESS);
			CHECK_INT_EQ(xe_p256_driver_operations() - before, 1);
			xe_p256_driver_set_enabled(0);
			CHECK_INT_EQ(psa_verify_hash(qid, PSA_ALG_ECDSA(h[i].hash), digest, h[i].len, sig,
			    olen), PSA_SUCCESS);
		}
		psa_destroy_key(id);
		psa_destroy_key(qid);
	}
	xe_p256_driver_set_enabled(1);
	mbedtls_psa_crypto_free();
}
