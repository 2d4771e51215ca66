/* SPDX-License-Identifier: Apache-2.0 */
/*
 * keygen.c - private keys for generated certificates and requests.
 *
 * ECDSA P-256 is the default: small, fast, accepted by every XMPP server
 * in use.  RSA 3072 (NIST SP 800-57's size for use beyond 2030) is there
 * for partners or CAs that still insist on RSA.  Generation draws from
 * the owner's CTR_DRBG (tls_rng), seeded by the OS.
 */
#include "tls.h"
#include "tls_int.h"

#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>

#define KEYGEN_RSA_BITS 3072
#define KEYGEN_RSA_EXPONENT 65537

int
tls_key_generate(struct tls_rng *rng, mbedtls_pk_context *pk,
    enum tls_key_type type)
{
	int ret;

	switch (type) {
	case TLS_KEY_EC_P256:
		if ((ret = mbedtls_pk_setup(pk,
		    mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY))) != 0)
			return ret;
		return mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1,
		    mbedtls_pk_ec(*pk), mbedtls_ctr_drbg_random, &rng->drbg);
	case TLS_KEY_RSA_3072:
		if ((ret = mbedtls_pk_setup(pk,
		    mbedtls_pk_info_from_type(MBEDTLS_PK_RSA))) != 0)
			return ret;
		return mbedtls_rsa_gen_key(mbedtls_pk_rsa(*pk),
		    mbedtls_ctr_drbg_random, &rng->drbg, KEYGEN_RSA_BITS,
		    KEYGEN_RSA_EXPONENT);
	}
	return MBEDTLS_ERR_PK_BAD_INPUT_DATA;
}
