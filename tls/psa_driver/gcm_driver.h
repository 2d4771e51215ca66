/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gcm_driver.h - xmpp-edge's AES-GCM accelerator, a PSA transparent driver.
 *
 * Built into libmbedcrypto.a by build.sh (tls/psa_driver/ is copied into
 * mbedTLS's library/ and deps/patches/mbedtls-gcm-driver.patch makes
 * psa_crypto_driver_wrappers.h call the two entry points below before the
 * built-in GCM), so every psa_aead_encrypt/psa_aead_decrypt -- what TLS
 * 1.2 and 1.3 record protection in mbedTLS 3.6 uses -- reaches it.  The
 * driver interface is mbedTLS's docs/psa-driver-example-and-guide.md,
 * "entry points where auto-generation is not implemented": prefix xe_gcm,
 * enabled by XE_PSA_GCM_DRIVER_ENABLED (tls/mbedtls_config.h).
 *
 * The driver returns PSA_ERROR_NOT_SUPPORTED for everything it does not
 * do -- another algorithm or key size, a CPU without AES-NI/PCLMULQDQ/
 * SSE4.1, invalid arguments (so the error codes are the built-in's) --
 * and mbedTLS then uses its own GCM.
 */
#ifndef XMPP_EDGE_GCM_DRIVER_H
#define XMPP_EDGE_GCM_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "psa/crypto.h"

#if defined(XE_PSA_GCM_DRIVER_ENABLED)
/* The wrapper compiles its accelerator branches only with this defined
 * (mbedTLS's driver guide, step 2). */
#ifndef PSA_CRYPTO_ACCELERATOR_DRIVER_PRESENT
#define PSA_CRYPTO_ACCELERATOR_DRIVER_PRESENT
#endif
#endif

/* Driver entry points: the signatures of psa_driver_wrapper_aead_encrypt
 * and _decrypt.  In-place operation (output == input) is allowed, as PSA
 * allows it and mbedTLS's record layer relies on it. */
psa_status_t xe_gcm_transparent_aead_encrypt(
	const psa_key_attributes_t *attributes,
	const uint8_t *key_buffer, size_t key_buffer_size,
	psa_algorithm_t alg,
	const uint8_t *nonce, size_t nonce_length,
	const uint8_t *additional_data, size_t additional_data_length,
	const uint8_t *plaintext, size_t plaintext_length,
	uint8_t *ciphertext, size_t ciphertext_size, size_t *ciphertext_length);

psa_status_t xe_gcm_transparent_aead_decrypt(
	const psa_key_attributes_t *attributes,
	const uint8_t *key_buffer, size_t key_buffer_size,
	psa_algorithm_t alg,
	const uint8_t *nonce, size_t nonce_length,
	const uint8_t *additional_data, size_t additional_data_length,
	const uint8_t *ciphertext, size_t ciphertext_length,
	uint8_t *plaintext, size_t plaintext_size, size_t *plaintext_length);

/* Which implementation the driver uses on this CPU: "aesni-pclmul-8x",
 * or "none" (mbedTLS's built-in GCM does the work: another CPU, another
 * architecture, or turned off below).  For `version` and the logs. */
const char *xe_gcm_driver_name(void);

/* Tests and benchmarks: 0 makes the driver decline everything (as on a CPU
 * without the instructions), 1 gives it back what the CPU supports.
 * Process-wide. */
void xe_gcm_driver_set_enabled(int enabled);

/* Operations the driver has performed itself (encryptions and decryptions,
 * failed tag checks included) since the process started: lets a test show
 * that a path really went through the driver, or really did not. */
uint64_t xe_gcm_driver_operations(void);

#endif
