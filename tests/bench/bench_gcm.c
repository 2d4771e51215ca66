/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_gcm.c - AES-128-GCM encryption speed of TLS records, the way
 * mbedTLS's TLS 1.3 record layer calls it (psa_aead_encrypt, one call per
 * record, key imported once), at the record sizes of the relay benchmark:
 * 417 bytes (one 300-byte-body stanza), 4 213 (one 4 KiB stanza) and
 * 16 384 (a full record).  With xmpp-edge's GCM driver
 * (tls/psa_driver/gcm_driver.c) on and, when the library has it, off
 * (mbedTLS's own GCM), and OpenSSL's EVP AES-128-GCM (what HAProxy uses)
 * in the same process.  Best of REPS runs of about 0.2 s of CPU each.
 *
 *   bench_gcm [REPS]        (run_gcm.sh builds and runs it)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <psa/crypto.h>

#if defined(XE_PSA_GCM_DRIVER_ENABLED)
#include "psa_driver/gcm_driver.h"
#endif

#define MAX_RECORD 16384

/* CPU time of this thread, not wall time: on a shared machine the figure
 * is then MB per CPU-second (what the relay's CPU per MB depends on),
 * whatever else runs. */
static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t buf[MAX_RECORD + 16];
static const uint8_t key[16] = { 0x42, 1, 2, 3 }, aad[5] = { 0x17, 3, 3 };

/* MB/s (10^6 bytes) of psa_aead_encrypt on records of len bytes. */
static double
psa_mb_s(psa_key_id_t id, size_t len)
{
	uint8_t iv[12] = { 0 };
	size_t olen, n = 0, i;
	double t0 = now_s(), t;

	do {
		for (i = 0; i < 64; i++, n++) {
			memcpy(iv, &n, sizeof(n));	/* a fresh nonce per record, as TLS */
			if (psa_aead_encrypt(id, PSA_ALG_GCM, iv, sizeof(iv), aad, sizeof(aad),
			    buf, len, buf, sizeof(buf), &olen) != PSA_SUCCESS) {
				fprintf(stderr, "psa_aead_encrypt failed\n");
				exit(1);
			}
		}
		t = now_s() - t0;
	} while (t < 0.2);
	return (double)n * (double)len / t / 1e6;
}

static double
openssl_mb_s(size_t len)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t iv[12] = { 0 }, tag[16];
	size_t n = 0, i;
	int olen;
	double t0 = now_s(), t;

	/* The key once, as OpenSSL's TLS record layer (HAProxy) does; per
	 * record only the nonce. */
	if (!EVP_EncryptInit_ex(c, EVP_aes_128_gcm(), NULL, key, NULL)) {
		fprintf(stderr, "OpenSSL AES-128-GCM failed\n");
		exit(1);
	}
	do {
		for (i = 0; i < 64; i++, n++) {
			memcpy(iv, &n, sizeof(n));
			if (!EVP_EncryptInit_ex(c, NULL, NULL, NULL, iv) ||
			    !EVP_EncryptUpdate(c, NULL, &olen, aad, sizeof(aad)) ||
			    !EVP_EncryptUpdate(c, buf, &olen, buf, (int)len) ||
			    !EVP_EncryptFinal_ex(c, buf + olen, &olen) ||
			    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag)) {
				fprintf(stderr, "OpenSSL AES-128-GCM failed\n");
				exit(1);
			}
		}
		t = now_s() - t0;
	} while (t < 0.2);
	EVP_CIPHER_CTX_free(c);
	return (double)n * (double)len / t / 1e6;
}

int
main(int argc, char **argv)
{
	static const size_t sizes[] = { 417, 4213, 16384 };
	psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t id;
	int reps = argc > 1 ? atoi(argv[1]) : 5, r;
	size_t s;

	if (reps < 1 || psa_crypto_init() != PSA_SUCCESS)
		return 1;
	psa_set_key_type(&a, PSA_KEY_TYPE_AES);
	psa_set_key_bits(&a, 128);
	psa_set_key_usage_flags(&a, PSA_KEY_USAGE_ENCRYPT);
	psa_set_key_algorithm(&a, PSA_ALG_GCM);
	if (psa_import_key(&a, key, sizeof(key), &id) != PSA_SUCCESS)
		return 1;
	printf("%-8s %12s %12s %12s   (MB per CPU-second, best of %d)\n", "record", "psa+driver", "psa builtin", "OpenSSL", reps);
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		double drv = 0, bi = 0, ossl = 0, v;

		for (r = 0; r < reps; r++) {
#if defined(XE_PSA_GCM_DRIVER_ENABLED)
			xe_gcm_driver_set_enabled(1);
			if ((v = psa_mb_s(id, sizes[s])) > drv)
				drv = v;
			xe_gcm_driver_set_enabled(0);
#endif
			if ((v = psa_mb_s(id, sizes[s])) > bi)
				bi = v;
			if ((v = openssl_mb_s(sizes[s])) > ossl)
				ossl = v;
		}
		if (drv > 0)
			printf("%-8zu %12.0f %12.0f %12.0f   driver/builtin %.2fx  driver/OpenSSL %.2fx\n",
			    sizes[s], drv, bi, ossl, drv / bi, drv / ossl);
		else
			printf("%-8zu %12s %12.0f %12.0f   builtin/OpenSSL %.2fx\n", sizes[s], "-", bi, ossl, bi / ossl);
	}
	psa_destroy_key(id);
	mbedtls_psa_crypto_free();
	return 0;
}
