/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_gcm.c - differential libFuzzer target: xmpp-edge's AES-GCM driver
 * (tls/psa_driver/gcm_driver.c) against mbedTLS's own GCM (library/gcm.c,
 * mbedtls_gcm_*), which the driver replaces for TLS records.
 *
 * The input chooses a key (AES-128 or AES-256), an IV of 12 bytes (TLS's)
 * or of 1 to 256 other lengths, a tag of 4 to 16 bytes, AAD and plaintext
 * of 0 to several KiB, whether the driver works in place, whether to go
 * through PSA too, and one bit to flip.  Then:
 *   - the driver's ciphertext and tag must equal mbedtls_gcm's, the
 *     driver called directly and (per the input) through psa_aead_encrypt
 *     (the wrapper TLS uses);
 *   - the driver must decrypt it back;
 *   - with the bit flipped (in the ciphertext, the tag, the AAD or the IV)
 *     both must refuse it, the driver leaving no plaintext behind.
 * Any difference is __builtin_trap().
 *
 * tests/fuzz/run.sh compiles the driver's source into this target (EXTRA),
 * so it is instrumented for coverage and ASan; its symbols take the place
 * of the uninstrumented copy in libmbedcrypto.a, which psa_aead_* then
 * reach too.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <mbedtls/gcm.h>
#include <psa/crypto.h>

#include "psa_driver/gcm_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HDR 8
#define PT_MAX (4096 + 8192 + 256)
#define AAD_MAX 4096

/* Input bytes from a cursor; past the end, zeros (every input is a case). */
struct cursor {
	const uint8_t *p;
	size_t left;
};

static void
take(struct cursor *c, uint8_t *out, size_t n)
{
	size_t k = n < c->left ? n : c->left;

	memcpy(out, c->p, k);
	memset(out + k, 0, n - k);
	c->p += k;
	c->left -= k;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t iv_lens[8] = { 12, 12, 12, 16, 1, 8, 13, 0 };
	static uint8_t pt[PT_MAX], ref[PT_MAX], ct[PT_MAX + 16], back[PT_MAX + 16], aad[AAD_MAX];
	static int ready;
	struct cursor c = { data, size };
	uint8_t h[HDR], key[32], iv[256], ref_tag[16];
	size_t key_len, iv_len, tag_len, aad_len, pt_len, extra, olen = 0, flip, i;
	psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
	psa_algorithm_t alg;
	psa_key_id_t id = 0;
	mbedtls_gcm_context gcm;
	int in_place, ret;
	psa_status_t st;

	if (!ready) {
		if (psa_crypto_init() != PSA_SUCCESS)
			__builtin_trap();
		ready = 1;
	}
	take(&c, h, HDR);
	key_len = (h[0] & 1) ? 32 : 16;
	iv_len = iv_lens[(h[0] >> 1) & 7];
	if (iv_len == 0)
		iv_len = (size_t)h[7] + 1;	/* 1..256 */
	tag_len = 4 + h[1] % 13;
	in_place = (h[1] & 0x80) != 0;
	aad_len = ((size_t)h[2] | (size_t)h[3] << 8) % (AAD_MAX + 1);
	flip = (size_t)h[4] | (size_t)h[5] << 8;
	/* Long plaintexts from short inputs: the rest of the input, then (one
	 * input in four, to keep the executions per second up) up to 8 KiB
	 * more of a pattern derived from it. */
	extra = (h[6] & 3) == 0 ? 256 * (size_t)((h[6] >> 2) % 33) : 0;
	take(&c, key, key_len);
	take(&c, iv, iv_len);
	if (aad_len > c.left)
		aad_len = c.left;
	take(&c, aad, aad_len);
	pt_len = c.left < PT_MAX - 8448 ? c.left : PT_MAX - 8448;
	take(&c, pt, pt_len);
	for (i = 0; i < extra; i++)
		pt[pt_len + i] = (uint8_t)(h[7] + i * 131 + (pt_len ? pt[i % pt_len] : 0));
	pt_len += extra;

	/* Reference: mbedTLS's GCM. */
	mbedtls_gcm_init(&gcm);
	if (mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, (unsigned int)key_len * 8) != 0 ||
	    mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, pt_len, iv, iv_len, aad, aad_len,
	    pt, ref, tag_len, ref_tag) != 0)
		__builtin_trap();

	/* The driver, directly. */
	alg = PSA_ALG_AEAD_WITH_SHORTENED_TAG(PSA_ALG_GCM, tag_len);
	psa_set_key_type(&attr, PSA_KEY_TYPE_AES);
	psa_set_key_bits(&attr, key_len * 8);
	if (in_place)
		memcpy(ct, pt, pt_len);
	st = xe_gcm_transparent_aead_encrypt(&attr, key, key_len, alg, iv, iv_len, aad, aad_len,
	    in_place ? ct : pt, pt_len, ct, pt_len + tag_len, &olen);
	if (st != PSA_SUCCESS || olen != pt_len + tag_len || memcmp(ct, ref, pt_len) != 0 ||
	    memcmp(ct + pt_len, ref_tag, tag_len) != 0)
		__builtin_trap();

	/* Through PSA, as TLS calls it (one input in two: a key import per
	 * call is most of its cost). */
	if (h[1] & 0x40) {
		psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_ENCRYPT | PSA_KEY_USAGE_DECRYPT);
		psa_set_key_algorithm(&attr, alg);
		if (psa_import_key(&attr, key, key_len, &id) != PSA_SUCCESS)
			__builtin_trap();
		st = psa_aead_encrypt(id, alg, iv, iv_len, aad, aad_len, pt, pt_len, back, sizeof(back),
		    &olen);
		if (st != PSA_SUCCESS || olen != pt_len + tag_len || memcmp(back, ct, olen) != 0)
			__builtin_trap();
		psa_destroy_key(id);
	}

	/* Back again. */
	st = xe_gcm_transparent_aead_decrypt(&attr, key, key_len, alg, iv, iv_len, aad, aad_len,
	    ct, pt_len + tag_len, in_place ? ct : back, pt_len, &olen);
	if (st != PSA_SUCCESS || olen != pt_len || memcmp(in_place ? ct : back, pt, pt_len) != 0)
		__builtin_trap();

	/* One bit flipped: in the ciphertext or tag, the AAD or the IV. */
	memcpy(ct, ref, pt_len);
	memcpy(ct + pt_len, ref_tag, tag_len);
	flip %= (pt_len + tag_len + aad_len + iv_len) * 8;
	if (flip < (pt_len + tag_len) * 8)
		ct[flip / 8] ^= (uint8_t)(1u << (flip % 8));
	else if ((flip -= (pt_len + tag_len) * 8) < aad_len * 8)
		aad[flip / 8] ^= (uint8_t)(1u << (flip % 8));
	else
		iv[(flip - aad_len * 8) / 8] ^= (uint8_t)(1u << (flip % 8));
	ret = mbedtls_gcm_auth_decrypt(&gcm, pt_len, iv, iv_len, aad, aad_len, ct + pt_len, tag_len,
	    ct, ref);
	if (ret != MBEDTLS_ERR_GCM_AUTH_FAILED)
		__builtin_trap();
	memset(back, 0x5a, pt_len);
	st = xe_gcm_transparent_aead_decrypt(&attr, key, key_len, alg, iv, iv_len, aad, aad_len,
	    ct, pt_len + tag_len, in_place ? ct : back, pt_len, &olen);
	if (st != PSA_ERROR_INVALID_SIGNATURE)
		__builtin_trap();
	for (i = 0; i < pt_len; i++)
		if ((in_place ? ct : back)[i] != 0)
			__builtin_trap();
	mbedtls_gcm_free(&gcm);
	return 0;
}
