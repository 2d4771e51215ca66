/* SPDX-License-Identifier: Apache-2.0 */
/*
 * x25519_driver.h - X25519 (RFC 7748) through Everest's HACL* code, as a
 * PSA transparent driver for the two X25519 operations of a TLS 1.3
 * handshake: exporting our ephemeral public key (the key share) and the
 * key agreement.
 *
 * Why: mbedTLS 3.6 with MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED uses HACL*
 * only inside its legacy ECDH context; PSA's psa_export_public_key of an
 * X25519 key pair (what mbedtls_ssl_tls13_generate_and_write_xxdh_key_
 * exchange calls for every key share) computes d*G with the generic
 * Montgomery ladder on mbedtls_mpi (ecp.c: ecp_mul_mxz), one heap-allocated
 * bignum per coordinate, and psa_raw_key_agreement loads both keys into
 * mbedtls_ecp_keypair structures (group load, bignum allocations, point
 * checks) before reaching HACL*.  Here both are one call to
 * Hacl_Curve25519_crypto_scalarmult on the stack.
 *
 * Wired in like tls/psa_driver/gcm_driver.c: build.sh copies this file and
 * its .c into mbedTLS's library/, and deps/patches/mbedtls-x25519-driver.
 * patch compiles it into libmbedcrypto and calls it from
 * psa_driver_wrapper_export_public_key and psa_driver_wrapper_key_agreement
 * before the built-in (mbedTLS's docs/psa-driver-example-and-guide.md,
 * "entry points where auto-generation is not implemented").  Enabled by
 * XE_PSA_X25519_DRIVER_ENABLED (tls/mbedtls_config.h).
 *
 * The driver returns PSA_ERROR_NOT_SUPPORTED for everything it does not do
 * -- another key type or size, another algorithm, a buffer of the wrong
 * size, and a peer key whose result is all zeros (a small-order point,
 * RFC 7748 §6.1) -- and mbedTLS's built-in then runs and returns its own
 * result or error code, so callers see the built-in's error codes.
 * Key generation stays with the built-in (32 random bytes, clamped).
 */
#ifndef XMPP_EDGE_X25519_DRIVER_H
#define XMPP_EDGE_X25519_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "psa/crypto.h"

#if defined(XE_PSA_X25519_DRIVER_ENABLED)
/* The wrappers compile their accelerator branches only with this defined
 * (mbedTLS's driver guide, step 2). */
#ifndef PSA_CRYPTO_ACCELERATOR_DRIVER_PRESENT
#define PSA_CRYPTO_ACCELERATOR_DRIVER_PRESENT
#endif
#endif

/* The signature of psa_driver_wrapper_export_public_key: the 32-byte
 * u-coordinate of X25519(k, 9) for a Montgomery 255-bit key pair. */
psa_status_t xe_x25519_transparent_export_public_key(
	const psa_key_attributes_t *attributes,
	const uint8_t *key_buffer, size_t key_buffer_size,
	uint8_t *data, size_t data_size, size_t *data_length);

/* The signature of psa_driver_wrapper_key_agreement: PSA_ALG_ECDH with a
 * Montgomery 255-bit key pair and a 32-byte peer key. */
psa_status_t xe_x25519_transparent_key_agreement(
	const psa_key_attributes_t *attributes,
	const uint8_t *key_buffer, size_t key_buffer_size,
	psa_algorithm_t alg,
	const uint8_t *peer_key, size_t peer_key_length,
	uint8_t *shared_secret, size_t shared_secret_size,
	size_t *shared_secret_length);

/* Tests and benchmarks: 0 makes the driver decline everything (mbedTLS's
 * built-in does the work, as before the driver existed), 1 turns it back
 * on.  Process-wide. */
void xe_x25519_driver_set_enabled(int enabled);

/* Operations the driver has completed itself since the process started
 * (exports and agreements; declined calls are not counted): lets a test
 * show that a path really went through the driver, or really did not. */
uint64_t xe_x25519_driver_operations(void);

#endif
