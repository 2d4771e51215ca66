/* SPDX-License-Identifier: Apache-2.0 */
/*
 * p256_driver.h - NIST P-256 (secp256r1) with fixed-size 64-bit arithmetic
 * as a PSA transparent driver for the P-256 operations of a TLS server:
 * generating an ephemeral key pair, exporting its public key (the TLS 1.3
 * key share, d*G), the ECDH key agreement, and ECDSA signing (the
 * CertificateVerify of an ECDSA P-256 certificate).
 *
 * Why: mbedTLS 3.6's built-in does these on its generic bignum ECP
 * (heap-allocated mbedtls_mpi per coordinate, ecp_mod_p256, a GCD-based
 * inversion per signature): with a P-256 certificate the signature was
 * 56 % of an X25519 handshake's instructions, and a P-256 key exchange
 * cost 11.4 M more (tests/bench/RESULTS.md, "P-256 driver").  mbedTLS's
 * bundled p256-m driver (MBEDTLS_PSA_P256M_DRIVER_ENABLED) was measured
 * first and made both slower on x86-64 (32-bit limbs, no generator table).
 *
 * Wired in like tls/psa_driver/x25519_driver.c: build.sh copies this file
 * and its .c into mbedTLS's library/, and deps/patches/mbedtls-p256-driver.
 * patch compiles it into libmbedcrypto and calls it from
 * psa_driver_wrapper_generate_key, _export_public_key, _key_agreement and
 * _sign_hash before the built-in.  Enabled by XE_PSA_P256_DRIVER_ENABLED
 * (tls/mbedtls_config.h).
 *
 * The driver returns PSA_ERROR_NOT_SUPPORTED for everything it does not do
 * -- another key type or size, another algorithm (deterministic ECDSA
 * included), a buffer of the wrong size, and every peer key it refuses
 * (wrong length or format byte, a coordinate >= p, a point off the curve)
 * -- and mbedTLS's built-in then runs and returns its own result or error
 * code, so callers see the built-in's error codes.  Key import and
 * signature verification stay with the built-in.
 *
 * Signing is randomised ECDSA (k from the PSA RNG); tls/mbedtls_config.h
 * therefore leaves MBEDTLS_ECDSA_DETERMINISTIC off, so that mbedTLS's pk
 * layer asks PSA for PSA_ALG_ECDSA.
 */
#ifndef XMPP_EDGE_P256_DRIVER_H
#define XMPP_EDGE_P256_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "psa/crypto.h"

#if defined(XE_PSA_P256_DRIVER_ENABLED)
/* The wrappers compile their accelerator branches only with this defined
 * (mbedTLS's driver guide, step 2). */
#ifndef PSA_CRYPTO_ACCELERATOR_DRIVER_PRESENT
#define PSA_CRYPTO_ACCELERATOR_DRIVER_PRESENT
#endif
#endif

/* The signature of psa_driver_wrapper_generate_key: a secp256r1 key pair,
 * d uniform in [1, n-1] from the PSA RNG (the public key is computed at
 * export, as PSA stores d only). */
psa_status_t xe_p256_transparent_generate_key(const psa_key_attributes_t *attributes,
	uint8_t *key_buffer, size_t key_buffer_size, size_t *key_buffer_length);

/* The signature of psa_driver_wrapper_export_public_key: 0x04 || x || y
 * of d*G for a secp256r1 key pair. */
psa_status_t xe_p256_transparent_export_public_key(const psa_key_attributes_t *attributes,
	const uint8_t *key_buffer, size_t key_buffer_size,
	uint8_t *data, size_t data_size, size_t *data_length);

/* The signature of psa_driver_wrapper_key_agreement: PSA_ALG_ECDH with a
 * secp256r1 key pair and a 65-byte uncompressed peer key; the secret is
 * the x-coordinate of d*Q (32 bytes). */
psa_status_t xe_p256_transparent_key_agreement(const psa_key_attributes_t *attributes,
	const uint8_t *key_buffer, size_t key_buffer_size,
	psa_algorithm_t alg,
	const uint8_t *peer_key, size_t peer_key_length,
	uint8_t *shared_secret, size_t shared_secret_size,
	size_t *shared_secret_length);

/* The signature of psa_driver_wrapper_sign_hash: randomised ECDSA
 * (PSA_ALG_ECDSA(any hash)) with a secp256r1 key pair; r || s, 64 bytes. */
psa_status_t xe_p256_transparent_sign_hash(const psa_key_attributes_t *attributes,
	const uint8_t *key_buffer, size_t key_buffer_size,
	psa_algorithm_t alg,
	const uint8_t *hash, size_t hash_length,
	uint8_t *signature, size_t signature_size, size_t *signature_length);

/* Tests and benchmarks: 0 makes the driver decline everything (mbedTLS's
 * built-in does the work, as before the driver existed), 1 turns it back
 * on.  Process-wide; flipped between operations, never during one. */
void xe_p256_driver_set_enabled(int enabled);

/* Operations the driver has completed itself since the process started
 * (generations, exports, agreements, signatures; declined calls are not
 * counted): lets a test show that a path really went through the driver,
 * or really did not. */
uint64_t xe_p256_driver_operations(void);

#endif
