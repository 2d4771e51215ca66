/* SPDX-License-Identifier: Apache-2.0 */
/*
 * x25519_driver.c - X25519 key share export and key agreement through
 * Everest's HACL* Curve25519 (formally verified, constant-time, 51-bit
 * limbs on the stack), as a PSA transparent driver; x25519_driver.h says
 * why and how it is wired in.
 *
 * RFC 7748 §5: X25519(k, u) clamps k (HACL* does: bits 0-2 and 255
 * cleared, bit 254 set) and ignores the top bit of u (HACL*'s fexpand
 * masks it); the public key is X25519(k, 9).  PSA stores an X25519 private
 * key as the 32 little-endian bytes of k, its public key as the 32 bytes
 * of u (the same encodings as RFC 7748 and TLS 1.3's key share, RFC 8446
 * §4.2.8.2).
 *
 * Secrets (the copy of k) are wiped before returning; so is a result the
 * driver does not hand out.
 */
#include "x25519_driver.h"

#include <string.h>

#include "mbedtls/platform_util.h"

/* Everest's entry point (3rdparty/everest/include/everest/Hacl_Curve25519.h
 * in mbedTLS's tree, compiled into libmbedcrypto.a by build.sh).  Declared
 * here: that header pulls in kremlib.h, which is not on the include path
 * of mbedTLS's library/ sources.  Its arguments are not const but it does
 * not write to secret or basepoint. */
void Hacl_Curve25519_crypto_scalarmult(uint8_t *mypublic, uint8_t *secret, uint8_t *basepoint);

#define X25519_BYTES 32
#define X25519_BITS 255

/* 1 the driver works, 0 it declines everything.  Relaxed atomics: a test
 * flips it between operations, never during one. */
static int x25519_driver_enabled = 1;
static uint64_t x25519_driver_ops;

/* The key is an X25519 key pair in PSA's export format. */
static int x25519_key_is_ours(const psa_key_attributes_t *attributes, size_t key_buffer_size)
{
	if (!__atomic_load_n(&x25519_driver_enabled, __ATOMIC_RELAXED))
		return 0;
	return psa_get_key_type(attributes) == PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_MONTGOMERY) &&
	    psa_get_key_bits(attributes) == X25519_BITS && key_buffer_size == X25519_BYTES;
}

/* out = X25519(k, u).  Returns 0, or -1 when the result is all zeros (u of
 * small order, RFC 7748 §6.1); out is then wiped. */
static int x25519_scalarmult(uint8_t out[X25519_BYTES], const uint8_t k[X25519_BYTES],
    const uint8_t u[X25519_BYTES])
{
	uint8_t secret[X25519_BYTES], point[X25519_BYTES], acc = 0;
	size_t i;

	memcpy(secret, k, sizeof(secret));
	memcpy(point, u, sizeof(point));
	Hacl_Curve25519_crypto_scalarmult(out, secret, point);
	mbedtls_platform_zeroize(secret, sizeof(secret));
	/* Without a branch on the bytes: the result is secret. */
	for (i = 0; i < X25519_BYTES; i++)
		acc |= out[i];
	if (acc == 0) {
		mbedtls_platform_zeroize(out, X25519_BYTES);
		return -1;
	}
	return 0;
}

psa_status_t xe_x25519_transparent_export_public_key(
	const psa_key_attributes_t *attributes,
	const uint8_t *key_buffer, size_t key_buffer_size,
	uint8_t *data, size_t data_size, size_t *data_length)
{
	static const uint8_t base[X25519_BYTES] = { 9 };

	/* A buffer too small: the built-in's BUFFER_TOO_SMALL. */
	if (!x25519_key_is_ours(attributes, key_buffer_size) || data_size < X25519_BYTES)
		return PSA_ERROR_NOT_SUPPORTED;
	/* A clamped scalar times the base point is never the identity; the
	 * check only guards against a broken build. */
	if (x25519_scalarmult(data, key_buffer, base) != 0)
		return PSA_ERROR_NOT_SUPPORTED;
	*data_length = X25519_BYTES;
	__atomic_fetch_add(&x25519_driver_ops, 1, __ATOMIC_RELAXED);
	return PSA_SUCCESS;
}

psa_status_t xe_x25519_transparent_key_agreement(
	const psa_key_attributes_t *attributes,
	const uint8_t *key_buffer, size_t key_buffer_size,
	psa_algorithm_t alg,
	const uint8_t *peer_key, size_t peer_key_length,
	uint8_t *shared_secret, size_t shared_secret_size,
	size_t *shared_secret_length)
{
	uint8_t out[X25519_BYTES];

	/* The wrapper passes the raw agreement algorithm (psa_raw_key_agreement,
	 * or the agreement part of a derivation). */
	if (!x25519_key_is_ours(attributes, key_buffer_size) || alg != PSA_ALG_ECDH ||
	    peer_key_length != X25519_BYTES || shared_secret_size < X25519_BYTES)
		return PSA_ERROR_NOT_SUPPORTED;
	/* A small-order peer point: let the built-in refuse it with its own
	 * error (its point check says INVALID_ARGUMENT).  Hostile input only,
	 * so the second computation costs nothing in practice. */
	if (x25519_scalarmult(out, key_buffer, peer_key) != 0)
		return PSA_ERROR_NOT_SUPPORTED;
	memcpy(shared_secret, out, X25519_BYTES);
	mbedtls_platform_zeroize(out, sizeof(out));
	*shared_secret_length = X25519_BYTES;
	__atomic_fetch_add(&x25519_driver_ops, 1, __ATOMIC_RELAXED);
	return PSA_SUCCESS;
}

void xe_x25519_driver_set_enabled(int enabled)
{
	__atomic_store_n(&x25519_driver_enabled, enabled ? 1 : 0, __ATOMIC_RELAXED);
}

uint64_t xe_x25519_driver_operations(void)
{
	return __atomic_load_n(&x25519_driver_ops, __ATOMIC_RELAXED);
}
