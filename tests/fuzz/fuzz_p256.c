/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_p256.c - differential libFuzzer target: xmpp-edge's P-256 driver
 * (tls/psa_driver/p256_driver.c) against mbedTLS's built-in ECP, both
 * reached through PSA as TLS does.
 *
 * Input: op (1 byte), private key d (32), peer key length (1) and bytes
 * (up to 80: any format byte, any coordinates), hash (32); short inputs
 * are zero-padded.  Each run does one operation and requires the same
 * outcome with the driver on and off:
 *   0-5  ECDH of d with the peer bytes: the same status (a refusal for
 *        almost every input: off the curve, a coordinate >= p, a wrong
 *        length or format byte), and on success the same secret; an
 *        out-of-range d is refused by the import, the same either way;
 *   6    export of d's public key: the same 65 bytes;
 *   7    a randomised signature by the driver must verify on mbedTLS's
 *        verifier, and one by the built-in too.
 * The ECDH case is cheap on both sides for most inputs (a refusal); the
 * last two run full scalar multiplications on the built-in.  Any
 * difference is __builtin_trap().
 *
 * tests/fuzz/run.sh compiles the driver's source into this target (EXTRA),
 * so it is instrumented; its symbols take the place of the library's copy.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <psa/crypto.h>

#include "psa_driver/p256_driver.h"

#define PEER_MAX 80

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct p256_input {
	uint8_t op;
	uint8_t d[32];
	uint8_t peer_len;
	uint8_t peer[PEER_MAX];
	uint8_t hash[32];
};

static psa_status_t
import_key(psa_key_type_t type, psa_algorithm_t alg, const uint8_t *key, size_t len,
    psa_key_id_t *id)
{
	psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;

	*id = 0;
	psa_set_key_type(&a, type);
	psa_set_key_bits(&a, 256);
	psa_set_key_algorithm(&a, alg);
	psa_set_key_usage_flags(&a, PSA_KEY_USAGE_DERIVE | PSA_KEY_USAGE_EXPORT |
	    PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_VERIFY_HASH);
	return psa_import_key(&a, key, len, id);
}

#define PAIR PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1)
#define PUBLIC PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1)
#define ECDSA PSA_ALG_ECDSA(PSA_ALG_SHA_256)

/* ECDH of d with the peer bytes, the driver switched to on; the status,
 * and the secret into out. */
static psa_status_t
run_agreement(const struct p256_input *in, int on, uint8_t out[32])
{
	size_t peer_len = in->peer_len % (PEER_MAX + 1), olen = 0;
	psa_key_id_t id = 0;
	psa_status_t st;

	xe_p256_driver_set_enabled(on);
	st = import_key(PAIR, PSA_ALG_ECDH, in->d, 32, &id);
	if (st == PSA_SUCCESS)
		st = psa_raw_key_agreement(PSA_ALG_ECDH, id, in->peer, peer_len, out, 32, &olen);
	if (st == PSA_SUCCESS && olen != 32)
		__builtin_trap();
	psa_destroy_key(id);
	return st;
}

/* Export: the same public key either way. */
static void
run_export(const struct p256_input *in)
{
	uint8_t pub[2][65];
	psa_key_id_t id;
	size_t olen;
	int on;

	if (import_key(PAIR, ECDSA, in->d, 32, &id) != PSA_SUCCESS)
		return;		/* 0 or >= n: op 4 compares that */
	for (on = 0; on <= 1; on++) {
		xe_p256_driver_set_enabled(on);
		if (psa_export_public_key(id, pub[on], 65, &olen) != PSA_SUCCESS || olen != 65)
			__builtin_trap();
	}
	if (memcmp(pub[0], pub[1], 65) != 0)
		__builtin_trap();
	psa_destroy_key(id);
}

/* Signatures: each side's verifies on the other. */
static void
run_sign(const struct p256_input *in)
{
	uint8_t pub[65], sig[64];
	psa_key_id_t id, qid;
	size_t olen;
	int on;

	if (import_key(PAIR, ECDSA, in->d, 32, &id) != PSA_SUCCESS)
		return;
	xe_p256_driver_set_enabled(1);
	if (psa_export_public_key(id, pub, sizeof(pub), &olen) != PSA_SUCCESS ||
	    import_key(PUBLIC, ECDSA, pub, sizeof(pub), &qid) != PSA_SUCCESS)
		__builtin_trap();
	for (on = 0; on <= 1; on++) {
		xe_p256_driver_set_enabled(on);
		if (psa_sign_hash(id, ECDSA, in->hash, 32, sig, sizeof(sig), &olen) != PSA_SUCCESS ||
		    olen != 64)
			__builtin_trap();
		xe_p256_driver_set_enabled(!on);
		if (psa_verify_hash(qid, ECDSA, in->hash, 32, sig, 64) != PSA_SUCCESS)
			__builtin_trap();
	}
	psa_destroy_key(qid);
	psa_destroy_key(id);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct p256_input in;
	uint8_t out[2][32];
	psa_status_t st[2];
	int on;

	if (psa_crypto_init() != PSA_SUCCESS)
		__builtin_trap();
	memset(&in, 0, sizeof(in));
	memcpy(&in, data, size < sizeof(in) ? size : sizeof(in));
	switch (in.op % 8) {
	case 6:
		run_export(&in);
		break;
	case 7:
		run_sign(&in);
		break;
	default:
		for (on = 0; on <= 1; on++) {
			memset(out[on], 0, 32);
			st[on] = run_agreement(&in, on, out[on]);
		}
		if (st[0] != st[1] || (st[0] == PSA_SUCCESS && memcmp(out[0], out[1], 32) != 0))
			__builtin_trap();
		break;
	}
	xe_p256_driver_set_enabled(1);
	return 0;
}
