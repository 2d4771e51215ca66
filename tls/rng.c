/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rng.c - random bit generators and error strings for the TLS module.
 *
 * mbedTLS wants an f_rng/p_rng pair wherever randomness is used (key
 * generation, ECDSA blinding, TLS randoms, ticket keys).  struct tls_rng
 * bundles the entropy source and a CTR_DRBG seeded from it.  PSA crypto,
 * which mbedTLS 3.6 uses internally for TLS 1.3 and for key operations
 * under MBEDTLS_USE_PSA_CRYPTO, keeps its own generator; psa_crypto_init()
 * is idempotent, so every RNG set-up calls it.
 */
#include "tls_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/error.h>
#include <psa/crypto.h>

int
tls_rng_init(struct tls_rng *rng, const char *personalisation)
{
	psa_status_t st;
	int ret;

	mbedtls_entropy_init(&rng->entropy);
	mbedtls_ctr_drbg_init(&rng->drbg);
	st = psa_crypto_init();
	if (st != PSA_SUCCESS)
		return MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
	ret = mbedtls_ctr_drbg_seed(&rng->drbg, mbedtls_entropy_func,
	    &rng->entropy, (const unsigned char *)personalisation,
	    personalisation ? strlen(personalisation) : 0);
	return ret;
}

void
tls_rng_free(struct tls_rng *rng)
{
	mbedtls_ctr_drbg_free(&rng->drbg);
	mbedtls_entropy_free(&rng->entropy);
}

const char *
tls_strerror(int ret, char *buf, size_t buflen)
{
	char text[160];

	if (ret < 0)
		ret = -ret;
	mbedtls_strerror(-ret, text, sizeof(text));
	snprintf(buf, buflen, "%s (-0x%04x)", text, (unsigned)ret);
	return buf;
}

void
tls_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}
