/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tls_x25519_driver.c - the X25519 driver (tls/psa_driver/
 * x25519_driver.c, HACL* behind PSA's export-public-key and key-agreement
 * entry points) against known answers and against mbedTLS's built-in, and
 * the TLS 1.3 handshake going through it.
 *
 * Known answers (RFC 7748; cross-checked with OpenSSL through Python's
 * cryptography package when written), each through PSA with the driver on
 * and off:
 *  - §5.2: the two scalar/u-coordinate pairs (the second u has its top bit
 *    set, which X25519 ignores);
 *  - §5.2: the iterated function after 1 and 1 000 iterations;
 *  - §6.1: Alice's and Bob's public keys and their shared secret.
 * Differential: random key pairs, exports and agreements equal with the
 * driver on and off.  Small-order peer points (RFC 7748 §6.1's all-zero
 * check): refused with the built-in's error either way.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <psa/crypto.h>

#include "psa_driver/x25519_driver.h"
#include "tls.h"
#include "tls_pair.h"

/* An X25519 key pair from its 32 private bytes; 0 on failure. */
static psa_key_id_t
import_x25519(const uint8_t k[32])
{
	psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t id = 0;

	psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY));
	psa_set_key_bits(&a, 255);
	psa_set_key_usage_flags(&a, PSA_KEY_USAGE_DERIVE | PSA_KEY_USAGE_EXPORT);
	psa_set_key_algorithm(&a, PSA_ALG_ECDH);
	if (psa_import_key(&a, k, 32, &id) != PSA_SUCCESS)
		return 0;
	return id;
}

static psa_key_id_t
generate_x25519(void)
{
	psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t id = 0;

	psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY));
	psa_set_key_bits(&a, 255);
	psa_set_key_usage_flags(&a, PSA_KEY_USAGE_DERIVE);
	psa_set_key_algorithm(&a, PSA_ALG_ECDH);
	if (psa_generate_key(&a, &id) != PSA_SUCCESS)
		return 0;
	return id;
}

/* X25519(k, u) through psa_raw_key_agreement into out; the PSA status. */
static psa_status_t
agree(const uint8_t k[32], const uint8_t u[32], uint8_t out[32])
{
	psa_key_id_t id = import_x25519(k);
	size_t olen = 0;
	psa_status_t st;

	REQUIRE(id != 0);
	st = psa_raw_key_agreement(PSA_ALG_ECDH, id, u, 32, out, 32, &olen);
	if (st == PSA_SUCCESS)
		CHECK_INT_EQ(olen, 32);
	psa_destroy_key(id);
	return st;
}

TEST(tls_x25519_driver_rfc7748_vectors)
{
	static const struct { const char *k, *u, *out; } v[] = {
		{ "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
		  "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
		  "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552" },
		{ "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
		  "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
		  "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957" },
	};
	uint8_t k[32], u[32], want[32], out[32];
	size_t i;
	int on;

	REQUIRE(psa_crypto_init() == PSA_SUCCESS);
	for (on = 1; on >= 0; on--) {
		uint64_t before = xe_x25519_driver_operations();

		xe_x25519_driver_set_enabled(on);
		for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
			tls_pair_unhex(v[i].k, k, 32);
			tls_pair_unhex(v[i].u, u, 32);
			tls_pair_unhex(v[i].out, want, 32);
			memset(out, 0, sizeof(out));
			CHECK_INT_EQ(agree(k, u, out), PSA_SUCCESS);
			CHECK(memcmp(out, want, 32) == 0);
		}
		/* The driver did them, or (off) did nothing. */
		CHECK_INT_EQ(xe_x25519_driver_operations() - before, on ? 2 : 0);
	}
	xe_x25519_driver_set_enabled(1);
	mbedtls_psa_crypto_free();
}

/* RFC 7748 §5.2: k = u = 9; repeat r = X25519(k, u), u = k, k = r. */
TEST(tls_x25519_driver_rfc7748_iterated)
{
	uint8_t k[32] = { 9 }, u[32] = { 9 }, r[32], after1[32], after1000[32];
	int i, on;

	tls_pair_unhex("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079", after1, 32);
	tls_pair_unhex("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51", after1000, 32);
	REQUIRE(psa_crypto_init() == PSA_SUCCESS);
	for (on = 1; on >= 0; on--) {
		xe_x25519_driver_set_enabled(on);
		memset(k, 0, 32);
		memset(u, 0, 32);
		k[0] = u[0] = 9;
		for (i = 1; i <= 1000; i++) {
			REQUIRE(agree(k, u, r) == PSA_SUCCESS);
			memcpy(u, k, 32);
			memcpy(k, r, 32);
			if (i == 1)
				CHECK(memcmp(k, after1, 32) == 0);
		}
		CHECK(memcmp(k, after1000, 32) == 0);
	}
	xe_x25519_driver_set_enabled(1);
	mbedtls_psa_crypto_free();
}

/* RFC 7748 §6.1: the public keys (psa_export_public_key, the TLS 1.3 key
 * share) and the shared secret. */
TEST(tls_x25519_driver_rfc7748_diffie_hellman)
{
	uint8_t a[32], b[32], apub[32], bpub[32], shared[32], pub[32], out[32];
	size_t olen;
	psa_key_id_t ida, idb;
	int on;

	tls_pair_unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", a, 32);
	tls_pair_unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", apub, 32);
	tls_pair_unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", b, 32);
	tls_pair_unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", bpub, 32);
	tls_pair_unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", shared, 32);
	REQUIRE(psa_crypto_init() == PSA_SUCCESS);
	for (on = 1; on >= 0; on--) {
		uint64_t before = xe_x25519_driver_operations();

		xe_x25519_driver_set_enabled(on);
		ida = import_x25519(a);
		idb = import_x25519(b);
		REQUIRE(ida != 0 && idb != 0);
		olen = 0;
		CHECK_INT_EQ(psa_export_public_key(ida, pub, sizeof(pub), &olen), PSA_SUCCESS);
		CHECK_INT_EQ(olen, 32);
		CHECK(memcmp(pub, apub, 32) == 0);
		CHECK_INT_EQ(psa_export_public_key(idb, pub, sizeof(pub), &olen), PSA_SUCCESS);
		CHECK(memcmp(pub, bpub, 32) == 0);
		CHECK_INT_EQ(psa_raw_key_agreement(PSA_ALG_ECDH, ida, bpub, 32, out, sizeof(out), &olen),
		    PSA_SUCCESS);
		CHECK(memcmp(out, shared, 32) == 0);
		CHECK_INT_EQ(psa_raw_key_agreement(PSA_ALG_ECDH, idb, apub, 32, out, sizeof(out), &olen),
		    PSA_SUCCESS);
		CHECK(memcmp(out, shared, 32) == 0);
		/* Too small a buffer: the built-in's answer, driver or not. */
		CHECK_INT_EQ(psa_export_public_key(ida, pub, 31, &olen), PSA_ERROR_BUFFER_TOO_SMALL);
		CHECK_INT_EQ(psa_raw_key_agreement(PSA_ALG_ECDH, ida, bpub, 32, out, 31, &olen),
		    PSA_ERROR_BUFFER_TOO_SMALL);
		/* A peer key of the wrong length. */
		CHECK_INT_EQ(psa_raw_key_agreement(PSA_ALG_ECDH, ida, bpub, 31, out, sizeof(out), &olen),
		    PSA_ERROR_INVALID_ARGUMENT);
		CHECK_INT_EQ(xe_x25519_driver_operations() - before, on ? 4 : 0);
		psa_destroy_key(ida);
		psa_destroy_key(idb);
	}
	xe_x25519_driver_set_enabled(1);
	mbedtls_psa_crypto_free();
}

/* Random key pairs: the driver's export and agreement equal the built-in's
 * (each pair agreed both ways, with the driver on one side and off on the
 * other too). */
TEST(tls_x25519_driver_matches_builtin)
{
	int i;

	REQUIRE(psa_crypto_init() == PSA_SUCCESS);
	for (i = 0; i < 200; i++) {
		psa_key_id_t a = generate_x25519(), b = generate_x25519();
		uint8_t apub[2][32], bpub[2][32], s1[32], s2[32];
		size_t olen;
		int on;

		REQUIRE(a != 0 && b != 0);
		for (on = 0; on <= 1; on++) {
			xe_x25519_driver_set_enabled(on);
			REQUIRE(psa_export_public_key(a, apub[on], 32, &olen) == PSA_SUCCESS);
			REQUIRE(psa_export_public_key(b, bpub[on], 32, &olen) == PSA_SUCCESS);
		}
		CHECK(memcmp(apub[0], apub[1], 32) == 0);
		CHECK(memcmp(bpub[0], bpub[1], 32) == 0);
		xe_x25519_driver_set_enabled(1);
		REQUIRE(psa_raw_key_agreement(PSA_ALG_ECDH, a, bpub[0], 32, s1, 32, &olen) == PSA_SUCCESS);
		xe_x25519_driver_set_enabled(0);
		REQUIRE(psa_raw_key_agreement(PSA_ALG_ECDH, b, apub[0], 32, s2, 32, &olen) == PSA_SUCCESS);
		CHECK(memcmp(s1, s2, 32) == 0);
		xe_x25519_driver_set_enabled(1);
		psa_destroy_key(a);
		psa_destroy_key(b);
	}
	mbedtls_psa_crypto_free();
}

/* Points of small order give an all-zero secret (RFC 7748 §6.1): refused,
 * with the same status with the driver on and off, and never counted as a
 * driver operation.  The list is the u-coordinates of order 1, 2, 4 and 8
 * and their non-canonical encodings p-1, p, p+1. */
TEST(tls_x25519_driver_refuses_small_order_points)
{
	static const char *const bad[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	};
	uint8_t k[32], u[32], out[32];
	size_t i, j;

	REQUIRE(psa_crypto_init() == PSA_SUCCESS);
	tls_pair_unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", k, 32);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		psa_status_t st[2];
		uint64_t before = xe_x25519_driver_operations();
		int on;

		tls_pair_unhex(bad[i], u, 32);
		for (on = 0; on <= 1; on++) {
			xe_x25519_driver_set_enabled(on);
			memset(out, 0, sizeof(out));
			st[on] = agree(k, u, out);
			/* Not the all-zero "secret": PSA fills the output of a
			 * failed agreement with random bytes. */
			for (j = 0; j < 32; j++)
				if (out[j] != 0)
					break;
			CHECK(j < 32);
		}
		CHECK(st[0] != PSA_SUCCESS);
		CHECK_INT_EQ(st[1], st[0]);
		CHECK_INT_EQ(xe_x25519_driver_operations() - before, 0);
	}
	xe_x25519_driver_set_enabled(1);
	mbedtls_psa_crypto_free();
}

/* What a key can't be: the driver declines a P-256 key, an X25519 public
 * key, and the calls of the wrong shape, so PSA's built-in answers. */
TEST(tls_x25519_driver_declines_what_it_does_not_do)
{
	psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
	uint8_t key[32] = { 1 }, peer[32] = { 9 }, out[64];
	size_t olen = 0;

	psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY));
	psa_set_key_bits(&a, 255);
	CHECK_INT_EQ(xe_x25519_transparent_export_public_key(&a, key, 32, out, sizeof(out), &olen),
	    PSA_SUCCESS);
	CHECK_INT_EQ(olen, 32);
	CHECK_INT_EQ(xe_x25519_transparent_key_agreement(&a, key, 32, PSA_ALG_ECDH, peer, 32,
	    out, sizeof(out), &olen), PSA_SUCCESS);
	CHECK_INT_EQ(xe_x25519_transparent_export_public_key(&a, key, 32, out, 31, &olen),
	    PSA_ERROR_NOT_SUPPORTED);
	CHECK_INT_EQ(xe_x25519_transparent_export_public_key(&a, key, 31, out, sizeof(out), &olen),
	    PSA_ERROR_NOT_SUPPORTED);
	CHECK_INT_EQ(xe_x25519_transparent_key_agreement(&a, key, 32, PSA_ALG_FFDH, peer, 32,
	    out, sizeof(out), &olen), PSA_ERROR_NOT_SUPPORTED);
	CHECK_INT_EQ(xe_x25519_transparent_key_agreement(&a, key, 32, PSA_ALG_ECDH, peer, 33,
	    out, sizeof(out), &olen), PSA_ERROR_NOT_SUPPORTED);
	CHECK_INT_EQ(xe_x25519_transparent_key_agreement(&a, key, 32, PSA_ALG_ECDH, peer, 32,
	    out, 31, &olen), PSA_ERROR_NOT_SUPPORTED);
	/* X448 (the other Montgomery curve), P-256, a public key. */
	psa_set_key_bits(&a, 448);
	CHECK_INT_EQ(xe_x25519_transparent_export_public_key(&a, key, 32, out, sizeof(out), &olen),
	    PSA_ERROR_NOT_SUPPORTED);
	psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
	psa_set_key_bits(&a, 256);
	CHECK_INT_EQ(xe_x25519_transparent_export_public_key(&a, key, 32, out, sizeof(out), &olen),
	    PSA_ERROR_NOT_SUPPORTED);
	CHECK_INT_EQ(xe_x25519_transparent_key_agreement(&a, key, 32, PSA_ALG_ECDH, peer, 32,
	    out, sizeof(out), &olen), PSA_ERROR_NOT_SUPPORTED);
	psa_set_key_type(&a, PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_MONTGOMERY));
	psa_set_key_bits(&a, 255);
	CHECK_INT_EQ(xe_x25519_transparent_export_public_key(&a, key, 32, out, sizeof(out), &olen),
	    PSA_ERROR_NOT_SUPPORTED);
	/* Turned off: it declines what it took above. */
	psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY));
	xe_x25519_driver_set_enabled(0);
	CHECK_INT_EQ(xe_x25519_transparent_export_public_key(&a, key, 32, out, sizeof(out), &olen),
	    PSA_ERROR_NOT_SUPPORTED);
	xe_x25519_driver_set_enabled(1);
}

/* A TLS 1.3 handshake between two tls_conns (mbedTLS offers X25519 first)
 * exports each side's key share and agrees through the driver; with it off
 * the same handshake works on the built-in and the driver does nothing. */
TEST(tls_x25519_driver_serves_tls_handshakes)
{
	static const uint8_t msg[] = "<stream:stream>";
	int on;

	for (on = 1; on >= 0; on--) {
		struct tls_pair p;
		uint64_t before;

		xe_x25519_driver_set_enabled(on);
		before = xe_x25519_driver_operations();
		REQUIRE(tls_pair_connect(&p) == 0);
		CHECK_INT_EQ(tls_conn_write(p.srv.conn, msg, sizeof(msg)), 0);
		tls_fx_pump(&p.cli, &p.srv);
		CHECK_INT_EQ(p.cli.plain_len, sizeof(msg));
		CHECK(p.cli.plain && memcmp(p.cli.plain, msg, sizeof(msg)) == 0);
		CHECK_INT_EQ(p.srv.errors + p.cli.errors, 0);
		/* Two key shares exported, two agreements. */
		CHECK_INT_EQ(xe_x25519_driver_operations() - before, on ? 4 : 0);
		tls_pair_free(&p);
	}
	xe_x25519_driver_set_enabled(1);
}
