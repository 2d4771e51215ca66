/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_x25519.c - differential libFuzzer target: xmpp-edge's X25519 driver
 * (tls/psa_driver/x25519_driver.c, HACL*) against mbedTLS's built-in
 * X25519 (ecp.c's Montgomery ladder for the public key, the Everest ECDH
 * context for the agreement), both reached through PSA as TLS 1.3 does.
 *
 * The input is a private key (32 bytes) and a peer u-coordinate (32 bytes,
 * any value: small-order points, non-canonical encodings, the top bit).
 * With the driver on and off:
 *   - psa_export_public_key of the key must give the same 32 bytes;
 *   - psa_raw_key_agreement with the peer value must give the same status
 *     and, on success, the same secret.
 * Any difference is __builtin_trap().
 *
 * tests/fuzz/run.sh compiles the driver's source into this target (EXTRA),
 * so it is instrumented; its symbols take the place of the library's copy.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <psa/crypto.h>

#include "psa_driver/x25519_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
	uint8_t k[32] = { 0 }, u[32] = { 0 }, pub[2][32], sec[2][32];
	psa_status_t st[2];
	size_t n, olen;
	psa_key_id_t id = 0;
	int on;

	if (psa_crypto_init() != PSA_SUCCESS)
		__builtin_trap();
	n = size < 32 ? size : 32;
	memcpy(k, data, n);
	if (size > 32)
		memcpy(u, data + 32, size - 32 < 32 ? size - 32 : 32);
	psa_set_key_type(&a, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY));
	psa_set_key_bits(&a, 255);
	psa_set_key_usage_flags(&a, PSA_KEY_USAGE_DERIVE | PSA_KEY_USAGE_EXPORT);
	psa_set_key_algorithm(&a, PSA_ALG_ECDH);
	if (psa_import_key(&a, k, sizeof(k), &id) != PSA_SUCCESS)
		__builtin_trap();	/* any 32 bytes are an X25519 key */
	for (on = 0; on <= 1; on++) {
		xe_x25519_driver_set_enabled(on);
		if (psa_export_public_key(id, pub[on], sizeof(pub[on]), &olen) != PSA_SUCCESS || olen != 32)
			__builtin_trap();
		memset(sec[on], 0, sizeof(sec[on]));
		st[on] = psa_raw_key_agreement(PSA_ALG_ECDH, id, u, sizeof(u), sec[on], sizeof(sec[on]), &olen);
		if (st[on] == PSA_SUCCESS && olen != 32)
			__builtin_trap();
	}
	if (memcmp(pub[0], pub[1], 32) != 0 || st[0] != st[1] ||
	    (st[0] == PSA_SUCCESS && memcmp(sec[0], sec[1], 32) != 0))
		__builtin_trap();
	xe_x25519_driver_set_enabled(1);
	psa_destroy_key(id);
	return 0;
}
