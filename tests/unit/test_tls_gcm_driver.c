/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tls_gcm_driver.c - the AES-GCM accelerator (tls/psa_driver/, a PSA
 * transparent driver built into libmbedcrypto) against known answers, and
 * the paths around it: that PSA and TLS records really go through it, and
 * that with it turned off (as on a CPU without AES-NI/PCLMULQDQ) mbedTLS's
 * own GCM gives the same answers.
 *
 * Known answers, each run through psa_aead_encrypt/decrypt with the driver
 * on and off:
 *  - tests/unit/data/gcm_cavp.rsp: a vendored subset of NIST CAVP's GCM
 *    vectors and the GCM specification's test cases (its header says where
 *    they come from);
 *  - mbedTLS 3.6's own GCM test suite data (tests/suites/test_suite_gcm.
 *    aes{128,192,256}_{en,de}.data, installed next to the built library by
 *    build.sh): every encrypt, decrypt-and-verify and in-place case.
 *
 * The differential fuzz target against mbedTLS's software GCM is
 * tests/fuzz/fuzz_gcm.c.
 */
#include "test.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/gcm.h>
#include <psa/crypto.h>

#include "psa_driver/gcm_driver.h"
#include "tls.h"
#include "tls_pair.h"

#define VEC_MAX 4096

struct gcm_vec {
	int decrypt;		/* 0 encrypt, 1 decrypt */
	int fail;		/* decrypt: the tag must be refused */
	size_t tag_len;
	uint8_t key[32], iv[VEC_MAX], pt[VEC_MAX], aad[VEC_MAX], ct[VEC_MAX], tag[16];
	size_t key_len, iv_len, pt_len, aad_len, ct_len;
};

/* Hex (possibly empty) into out; -1 on an odd length, a bad digit or
 * more than cap bytes. */
static int
hex_decode(const char *s, size_t n, uint8_t *out, size_t cap, size_t *len)
{
	size_t i;

	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		unsigned int v;
		char b[3] = { s[2 * i], s[2 * i + 1], 0 };

		if (!isxdigit((unsigned char)b[0]) || !isxdigit((unsigned char)b[1]) ||
		    sscanf(b, "%x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	*len = n / 2;
	return 0;
}

/* A file beside the repository root (XE_ROOT, set by build.sh's suites)
 * or the build output (XE_OUT). */
static FILE *
open_under(const char *env, const char *fallback, const char *rel, char *path, size_t cap)
{
	const char *base = getenv(env);

	snprintf(path, cap, "%s/%s", base && *base ? base : fallback, rel);
	return fopen(path, "r");
}

static psa_key_id_t
import_aes(const uint8_t *key, size_t key_len, psa_algorithm_t alg)
{
	psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t id = 0;

	psa_set_key_type(&a, PSA_KEY_TYPE_AES);
	psa_set_key_bits(&a, key_len * 8);
	psa_set_key_usage_flags(&a, PSA_KEY_USAGE_ENCRYPT | PSA_KEY_USAGE_DECRYPT);
	psa_set_key_algorithm(&a, alg);
	if (psa_import_key(&a, key, key_len, &id) != PSA_SUCCESS)
		return 0;
	return id;
}

/* Runs v through PSA's one-shot AEAD (what TLS records use); in_place:
 * the output buffer is the input buffer.  1 when every answer is right. */
static int
vec_run_psa(const struct gcm_vec *v, int in_place)
{
	psa_algorithm_t alg = PSA_ALG_AEAD_WITH_SHORTENED_TAG(PSA_ALG_GCM, v->tag_len);
	psa_key_id_t id = import_aes(v->key, v->key_len, alg);
	static uint8_t buf[2 * VEC_MAX + 16], out[2 * VEC_MAX + 16];
	uint8_t *dst = in_place ? buf : out;
	size_t olen = 0;
	psa_status_t st;
	int ok = 0;

	if (id == 0)
		return 0;
	if (!v->decrypt) {
		memcpy(buf, v->pt, v->pt_len);
		st = psa_aead_encrypt(id, alg, v->iv, v->iv_len, v->aad, v->aad_len,
		    buf, v->pt_len, dst, sizeof(buf), &olen);
		ok = st == PSA_SUCCESS && olen == v->pt_len + v->tag_len &&
		    memcmp(dst, v->ct, v->pt_len) == 0 &&
		    memcmp(dst + v->pt_len, v->tag, v->tag_len) == 0;
	} else {
		memcpy(buf, v->ct, v->ct_len);
		memcpy(buf + v->ct_len, v->tag, v->tag_len);
		st = psa_aead_decrypt(id, alg, v->iv, v->iv_len, v->aad, v->aad_len,
		    buf, v->ct_len + v->tag_len, dst, sizeof(buf), &olen);
		if (v->fail)
			ok = st == PSA_ERROR_INVALID_SIGNATURE;
		else
			ok = st == PSA_SUCCESS && olen == v->pt_len &&
			    memcmp(dst, v->pt, v->pt_len) == 0;
	}
	psa_destroy_key(id);
	return ok;
}

/* Both paths and both buffer layouts; the driver's operation count must
 * move with it on and stand still with it off.  Returns the failures. */
static int
vec_check(const struct gcm_vec *v, const char *where)
{
	int bad = 0, in_place, on;

	for (on = 1; on >= 0; on--) {
		for (in_place = 0; in_place < 2; in_place++) {
			uint64_t before;

			xe_gcm_driver_set_enabled(on);
			before = xe_gcm_driver_operations();
			if (!vec_run_psa(v, in_place)) {
				fprintf(stderr, "  %s: wrong answer (driver %s, %s)\n", where,
				    on ? "on" : "off", in_place ? "in place" : "separate buffers");
				bad++;
			}
			/* AES-192 is the built-in's even with the driver on. */
			if ((xe_gcm_driver_operations() != before) != (on && v->key_len != 24)) {
				fprintf(stderr, "  %s: driver %s but %llu operations\n", where,
				    on ? "on" : "off",
				    (unsigned long long)(xe_gcm_driver_operations() - before));
				bad++;
			}
		}
	}
	xe_gcm_driver_set_enabled(1);
	return bad;
}

/* Value of "Name = hex" into out; 1 when the line was that field, -1 on a
 * malformed value, 0 when it was another line. */
static int
rsp_field(const char *line, const char *name, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = strlen(name), vlen;
	const char *val;

	if (strncmp(line, name, n) != 0 || strncmp(line + n, " =", 2) != 0)
		return 0;
	val = line + n + 2;
	while (*val == ' ')
		val++;
	vlen = strcspn(val, "\r\n ");
	return hex_decode(val, vlen, out, cap, len) == 0 ? 1 : -1;
}

TEST(tls_gcm_driver_cavp_vectors)
{
	static struct gcm_vec v;
	char path[512], line[2 * VEC_MAX + 64];
	FILE *f = open_under("XE_ROOT", ".", "tests/unit/data/gcm_cavp.rsp", path, sizeof(path));
	int n = 0, fails = 0, decrypt = 0, bad = 0, have = 0, r;
	size_t tag_bits = 0, dummy;

	REQUIRE(psa_crypto_init() == PSA_SUCCESS);
	if (f == NULL) {
		fprintf(stderr, "  cannot open %s\n", path);
		REQUIRE(f != NULL);
	}
	memset(&v, 0, sizeof(v));
	/* A vector is complete at its Tag line (the last one). */
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "[Direction = ", 13) == 0) {
			decrypt = strncmp(line + 13, "decrypt", 7) == 0;
			continue;
		}
		if (sscanf(line, "[Taglen = %zu]", &tag_bits) == 1)
			continue;
		if (strncmp(line, "Count = ", 8) == 0) {
			memset(&v, 0, sizeof(v));
			v.decrypt = decrypt;
			v.tag_len = tag_bits / 8;
			have = 1;
			continue;
		}
		if (!have)
			continue;
		if (strncmp(line, "FAIL", 4) == 0) {
			v.fail = 1;
			continue;
		}
		r = rsp_field(line, "Key", v.key, sizeof(v.key), &v.key_len);
		if (r == 0)
			r = rsp_field(line, "IV", v.iv, sizeof(v.iv), &v.iv_len);
		if (r == 0)
			r = rsp_field(line, "PT", v.pt, sizeof(v.pt), &v.pt_len);
		if (r == 0)
			r = rsp_field(line, "AAD", v.aad, sizeof(v.aad), &v.aad_len);
		if (r == 0)
			r = rsp_field(line, "CT", v.ct, sizeof(v.ct), &v.ct_len);
		REQUIRE(r >= 0);
		if (r == 0 && (r = rsp_field(line, "Tag", v.tag, sizeof(v.tag), &dummy)) == 1) {
			char where[64];

			REQUIRE(dummy == v.tag_len);
			if (!v.fail)
				REQUIRE(v.ct_len == v.pt_len || v.decrypt);
			snprintf(where, sizeof(where), "gcm_cavp.rsp vector %d", n);
			bad += vec_check(&v, where);
			n++;
			fails += v.fail;
			have = 0;
		}
		REQUIRE(r >= 0);
	}
	fclose(f);
	CHECK_INT_EQ(bad, 0);
	/* The file's 78 vectors, 24 of them with a wrong tag: a parser that
	 * read nothing must not pass. */
	CHECK_INT_EQ(n, 78);
	CHECK_INT_EQ(fails, 24);
	mbedtls_psa_crypto_free();
}

/* mbedTLS's data lines: function:MBEDTLS_CIPHER_ID_AES:"hex":...; splits
 * the arguments after the function name into fields (quotes dropped). */
static int
suite_split(char *line, char **fields, int max)
{
	int n = 0;
	char *p = strchr(line, ':');

	while (p != NULL && n < max) {
		*p++ = '\0';
		fields[n++] = p;
		p = strchr(p, ':');
	}
	for (int i = 0; i < n; i++) {
		size_t l;

		fields[i][strcspn(fields[i], "\r\n")] = '\0';
		l = strlen(fields[i]);
		if (l >= 2 && fields[i][0] == '"' && fields[i][l - 1] == '"') {
			fields[i][l - 1] = '\0';
			fields[i]++;
		}
	}
	return n;
}

#define HEX(field, buf, lenp) \
	REQUIRE(hex_decode((field), strlen(field), (buf), sizeof(buf), (lenp)) == 0)

TEST(tls_gcm_driver_mbedtls_test_suite)
{
	static const char *const files[] = {
		"aes128_en", "aes128_de", "aes192_en", "aes192_de", "aes256_en", "aes256_de",
	};
	static struct gcm_vec v;
	static char line[16384];
	char path[512], where[128];
	int bad = 0, n = 0, nfail = 0;
	size_t i, dummy;

	REQUIRE(psa_crypto_init() == PSA_SUCCESS);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char rel[128];
		FILE *f;
		int lineno = 0;

		snprintf(rel, sizeof(rel), "deps-glibc/share/mbedtls-tests/test_suite_gcm.%s.data", files[i]);
		f = open_under("XE_OUT", "out", rel, path, sizeof(path));
		if (f == NULL) {
			fprintf(stderr, "  cannot open %s (build.sh installs it with the dependencies)\n", path);
			REQUIRE(f != NULL);
		}
		while (fgets(line, sizeof(line), f) != NULL) {
			char *fld[12];
			int nf;

			lineno++;
			REQUIRE(strchr(line, '\n') != NULL || feof(f));
			memset(&v, 0, sizeof(v));
			/* Encrypt cases (the in-place "overlap" ones have the same
			 * fields): cipher:key:pt:iv:aad:ct:tag_bits:tag:init_result. */
			if (strncmp(line, "gcm_encrypt_and_tag:", 20) == 0 ||
			    strncmp(line, "gcm_encrypt_input_output_buffer_overlap:", 40) == 0) {
				nf = suite_split(line, fld, 12);
				REQUIRE(nf == 9);
				if (strcmp(fld[8], "0") != 0)
					continue;	/* a setkey failure case */
				HEX(fld[1], v.key, &v.key_len);
				HEX(fld[2], v.pt, &v.pt_len);
				HEX(fld[3], v.iv, &v.iv_len);
				HEX(fld[4], v.aad, &v.aad_len);
				HEX(fld[5], v.ct, &v.ct_len);
				HEX(fld[7], v.tag, &dummy);
				v.tag_len = (size_t)atoi(fld[6]) / 8;
				REQUIRE(dummy == v.tag_len);
			} else if (strncmp(line, "gcm_decrypt_and_verify:", 23) == 0) {
				/* cipher:key:ct:iv:aad:tag_bits:tag:"FAIL"|"":pt:init_result */
				nf = suite_split(line, fld, 12);
				REQUIRE(nf == 10);
				if (strcmp(fld[9], "0") != 0)
					continue;
				v.decrypt = 1;
				HEX(fld[1], v.key, &v.key_len);
				HEX(fld[2], v.ct, &v.ct_len);
				HEX(fld[3], v.iv, &v.iv_len);
				HEX(fld[4], v.aad, &v.aad_len);
				v.tag_len = (size_t)atoi(fld[5]) / 8;
				HEX(fld[6], v.tag, &dummy);
				REQUIRE(dummy == v.tag_len);
				v.fail = strcmp(fld[7], "FAIL") == 0;
				HEX(fld[8], v.pt, &v.pt_len);
			} else if (strncmp(line, "gcm_encrypt_and_tag_empty_cipher:", 33) == 0) {
				/* cipher:key:iv:aad:tag:update_calls */
				nf = suite_split(line, fld, 12);
				REQUIRE(nf == 6);
				HEX(fld[1], v.key, &v.key_len);
				HEX(fld[2], v.iv, &v.iv_len);
				HEX(fld[3], v.aad, &v.aad_len);
				HEX(fld[4], v.tag, &v.tag_len);
			} else if (strncmp(line, "gcm_encrypt_and_verify_no_ad_no_cipher:", 39) == 0) {
				/* cipher:key:iv:tag */
				nf = suite_split(line, fld, 12);
				REQUIRE(nf == 4);
				HEX(fld[1], v.key, &v.key_len);
				HEX(fld[2], v.iv, &v.iv_len);
				HEX(fld[3], v.tag, &v.tag_len);
			} else if (strncmp(line, "gcm_encrypt_and_tag_empty_ad:", 29) == 0) {
				/* cipher:key:iv:pt:ct:tag:update_calls */
				nf = suite_split(line, fld, 12);
				REQUIRE(nf == 7);
				HEX(fld[1], v.key, &v.key_len);
				HEX(fld[2], v.iv, &v.iv_len);
				HEX(fld[3], v.pt, &v.pt_len);
				HEX(fld[4], v.ct, &v.ct_len);
				HEX(fld[5], v.tag, &v.tag_len);
			} else {
				continue;
			}
			snprintf(where, sizeof(where), "test_suite_gcm.%s.data line %d", files[i], lineno);
			bad += vec_check(&v, where);
			n++;
			nfail += v.fail;
		}
		fclose(f);
	}
	CHECK_INT_EQ(bad, 0);
	/* mbedTLS 3.6.6's files hold 1 525 such cases (246 with a wrong tag;
	 * the AES-192 ones run on the built-in only): fewer means the files
	 * or the parser lost some. */
	CHECK_INT_EQ(n, 1525);
	CHECK_INT_EQ(nfail, 246);
	mbedtls_psa_crypto_free();
}

/* The entry points themselves: what the driver declines goes to the
 * built-in (PSA_ERROR_NOT_SUPPORTED), never a wrong answer of its own. */
TEST(tls_gcm_driver_declines_what_it_does_not_do)
{
	psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
	uint8_t key[32] = { 1 }, iv[12] = { 2 }, buf[64] = { 0 }, out[64];
	size_t olen = 0;

	psa_set_key_type(&a, PSA_KEY_TYPE_AES);
	psa_set_key_bits(&a, 128);
	/* The one it takes (on this CPU: the dev machine has AES-NI). */
	CHECK_STR_EQ(xe_gcm_driver_name(), "aesni-pclmul-8x");
	CHECK_INT_EQ(xe_gcm_transparent_aead_encrypt(&a, key, 16, PSA_ALG_GCM, iv, 12,
	    NULL, 0, buf, 16, out, sizeof(out), &olen), PSA_SUCCESS);
	CHECK_INT_EQ(olen, 32);
	/* Output too small: the built-in's BUFFER_TOO_SMALL. */
	CHECK_INT_EQ(xe_gcm_transparent_aead_encrypt(&a, key, 16, PSA_ALG_GCM, iv, 12,
	    NULL, 0, buf, 16, out, 31, &olen), PSA_ERROR_NOT_SUPPORTED);
	/* Another AEAD. */
	CHECK_INT_EQ(xe_gcm_transparent_aead_encrypt(&a, key, 16, PSA_ALG_CCM, iv, 12,
	    NULL, 0, buf, 16, out, sizeof(out), &olen), PSA_ERROR_NOT_SUPPORTED);
	/* Tags mbedtls_gcm refuses (shorter than 4 bytes). */
	CHECK_INT_EQ(xe_gcm_transparent_aead_encrypt(&a, key, 16,
	    PSA_ALG_AEAD_WITH_SHORTENED_TAG(PSA_ALG_GCM, 3), iv, 12,
	    NULL, 0, buf, 16, out, sizeof(out), &olen), PSA_ERROR_NOT_SUPPORTED);
	/* AES-192. */
	psa_set_key_bits(&a, 192);
	CHECK_INT_EQ(xe_gcm_transparent_aead_encrypt(&a, key, 24, PSA_ALG_GCM, iv, 12,
	    NULL, 0, buf, 16, out, sizeof(out), &olen), PSA_ERROR_NOT_SUPPORTED);
	/* Not AES. */
	psa_set_key_type(&a, PSA_KEY_TYPE_ARIA);
	psa_set_key_bits(&a, 128);
	CHECK_INT_EQ(xe_gcm_transparent_aead_encrypt(&a, key, 16, PSA_ALG_GCM, iv, 12,
	    NULL, 0, buf, 16, out, sizeof(out), &olen), PSA_ERROR_NOT_SUPPORTED);
	/* Decrypt: shorter than the tag, output too small. */
	psa_set_key_type(&a, PSA_KEY_TYPE_AES);
	CHECK_INT_EQ(xe_gcm_transparent_aead_decrypt(&a, key, 16, PSA_ALG_GCM, iv, 12,
	    NULL, 0, buf, 15, out, sizeof(out), &olen), PSA_ERROR_NOT_SUPPORTED);
	CHECK_INT_EQ(xe_gcm_transparent_aead_decrypt(&a, key, 16, PSA_ALG_GCM, iv, 12,
	    NULL, 0, buf, 48, out, 31, &olen), PSA_ERROR_NOT_SUPPORTED);
	/* Turned off, as on a CPU without the instructions: it declines the
	 * case it took above. */
	xe_gcm_driver_set_enabled(0);
	CHECK_STR_EQ(xe_gcm_driver_name(), "none");
	CHECK_INT_EQ(xe_gcm_transparent_aead_encrypt(&a, key, 16, PSA_ALG_GCM, iv, 12,
	    NULL, 0, buf, 16, out, sizeof(out), &olen), PSA_ERROR_NOT_SUPPORTED);
	xe_gcm_driver_set_enabled(1);
	CHECK_STR_EQ(xe_gcm_driver_name(), "aesni-pclmul-8x");
}

/* A wrong tag: INVALID_SIGNATURE and no plaintext left behind, through
 * PSA, with the driver on and off alike. */
TEST(tls_gcm_driver_wrong_tag_leaves_no_plaintext)
{
	uint8_t key[16] = { 7 }, iv[12] = { 9 }, msg[300], ct[316], out[300];
	psa_key_id_t id;
	size_t olen = 0, i;
	int on;

	REQUIRE(psa_crypto_init() == PSA_SUCCESS);
	id = import_aes(key, sizeof(key), PSA_ALG_GCM);
	REQUIRE(id != 0);
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i + 1);
	for (on = 1; on >= 0; on--) {
		xe_gcm_driver_set_enabled(on);
		REQUIRE(psa_aead_encrypt(id, PSA_ALG_GCM, iv, 12, NULL, 0, msg, sizeof(msg),
		    ct, sizeof(ct), &olen) == PSA_SUCCESS);
		ct[sizeof(ct) - 1] ^= 0x80;
		memset(out, 0xaa, sizeof(out));
		CHECK_INT_EQ(psa_aead_decrypt(id, PSA_ALG_GCM, iv, 12, NULL, 0, ct, sizeof(ct),
		    out, sizeof(out), &olen), PSA_ERROR_INVALID_SIGNATURE);
		for (i = 0; i < sizeof(out); i++)
			if (out[i] != 0)
				break;
		CHECK_INT_EQ(i, sizeof(out));
	}
	xe_gcm_driver_set_enabled(1);
	psa_destroy_key(id);
	mbedtls_psa_crypto_free();
}

/* TLS 1.3 records between two tls_conns (AES-128-GCM, the first suite
 * tls/certstore.c offers) go through the driver; with it off the same
 * exchange works on mbedTLS's own GCM and the driver does nothing. */
TEST(tls_gcm_driver_protects_tls_records)
{
	int on;

	for (on = 1; on >= 0; on--) {
		struct tls_pair p;
		size_t n = 100000, i;
		uint8_t *big = malloc(n);
		uint64_t before;

		REQUIRE(big != NULL);
		xe_gcm_driver_set_enabled(on);
		before = xe_gcm_driver_operations();
		REQUIRE(tls_pair_connect(&p) == 0);
		for (i = 0; i < n; i++)
			big[i] = (uint8_t)(i * 7);
		CHECK_INT_EQ(tls_conn_write(p.srv.conn, big, n), 0);
		CHECK_INT_EQ(tls_conn_write(p.cli.conn, big, n), 0);
		tls_fx_pump(&p.cli, &p.srv);
		CHECK_INT_EQ(p.cli.plain_len, n);
		CHECK_INT_EQ(p.srv.plain_len, n);
		CHECK(p.cli.plain && memcmp(p.cli.plain, big, n) == 0);
		CHECK(p.srv.plain && memcmp(p.srv.plain, big, n) == 0);
		CHECK_INT_EQ(p.srv.errors + p.cli.errors, 0);
		if (on)	/* 100 000 bytes each way: at least 13 records of 8 KiB
			 * sealed and opened on each side, plus the handshake's */
			CHECK(xe_gcm_driver_operations() - before >= 4 * 13);
		else
			CHECK_INT_EQ(xe_gcm_driver_operations() - before, 0);
		tls_pair_free(&p);
		free(big);
	}
	xe_gcm_driver_set_enabled(1);
}

/* GCM's counter is the last 32 bits of the block, incremented modulo 2^32
 * (SP 800-38D inc32): it wraps to 0 without carrying into the IV bits.
 * With a 12-byte IV it starts at 2 and never gets there within a record;
 * with another IV length it starts wherever GHASH puts it.  This key (all
 * zeros) and 16-byte IV were searched for (with the driver's own
 * functions, 4.4 million IVs) so that the pre-counter block's counter is
 * 0xffffff44: the 188th block of a message is encrypted with counter 0.
 * mbedTLS's GCM, which increments byte by byte, is the reference. */
TEST(tls_gcm_driver_counter_wraps_like_mbedtls)
{
	static const uint8_t iv[16] = { 0xa5, 0xe8, 0x42 };
	uint8_t key[16] = { 0 }, msg[4096], ref[4096], out[4096 + 16], back[4096], ref_tag[16];
	psa_key_attributes_t a = PSA_KEY_ATTRIBUTES_INIT;
	mbedtls_gcm_context gcm;
	size_t olen = 0, i;

	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 13 + 1);
	mbedtls_gcm_init(&gcm);
	REQUIRE(mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, 128) == 0);
	REQUIRE(mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, sizeof(msg), iv, sizeof(iv),
	    NULL, 0, msg, ref, 16, ref_tag) == 0);
	mbedtls_gcm_free(&gcm);
	psa_set_key_type(&a, PSA_KEY_TYPE_AES);
	psa_set_key_bits(&a, 128);
	CHECK_INT_EQ(xe_gcm_transparent_aead_encrypt(&a, key, 16, PSA_ALG_GCM, iv, sizeof(iv),
	    NULL, 0, msg, sizeof(msg), out, sizeof(out), &olen), PSA_SUCCESS);
	CHECK_INT_EQ(olen, sizeof(msg) + 16);
	/* Blocks before the wrap, the block with counter 0 and after it. */
	CHECK(memcmp(out, ref, 187 * 16) == 0);
	CHECK(memcmp(out + 187 * 16, ref + 187 * 16, 16) == 0);
	CHECK(memcmp(out, ref, sizeof(msg)) == 0);
	CHECK(memcmp(out + sizeof(msg), ref_tag, 16) == 0);
	CHECK_INT_EQ(xe_gcm_transparent_aead_decrypt(&a, key, 16, PSA_ALG_GCM, iv, sizeof(iv),
	    NULL, 0, out, sizeof(out), back, sizeof(back), &olen), PSA_SUCCESS);
	CHECK(memcmp(back, msg, sizeof(msg)) == 0);
}
