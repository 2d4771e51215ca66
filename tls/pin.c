/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pin.c - SubjectPublicKeyInfo pins for the internal link.
 *
 * A pin is the SHA-256 of the DER SubjectPublicKeyInfo of the peer's leaf
 * certificate, written in base64 exactly as
 *   openssl x509 -pubkey -noout | openssl pkey -pubin -outform der |
 *     openssl dgst -sha256 -binary | base64
 * prints it (the HPKP / RFC 7469 "pin-sha256" value, DANE "3 1 1").
 * Pinning the key rather than the certificate lets an operator renew the
 * certificate without touching the pins; several pins at once allow
 * rotation with overlap.
 *
 * Pins are compared in constant time and all of them are always compared:
 * which pin matched (or how far) must not leak through timing.
 */
#include "tls.h"
#include "tls_int.h"

#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/constant_time.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

#define SPKI_DER_MAX 4096	/* an RSA-16384 SPKI is about 2.1 KiB */

int
tls_pin_parse(const char *b64, uint8_t out[TLS_PIN_LEN], char *err,
    size_t errlen)
{
	unsigned char buf[TLS_PIN_LEN + 3];
	size_t len = 0, n;
	int ret;

	if (b64 == NULL) {
		tls_set_err(err, errlen, "empty pin");
		return -1;
	}
	n = strlen(b64);
	/* A pin pasted from a shell often carries a newline. */
	while (n > 0 && (b64[n - 1] == '\n' || b64[n - 1] == '\r' ||
	    b64[n - 1] == ' '))
		n--;
	if (n == 0) {
		tls_set_err(err, errlen, "empty pin");
		return -1;
	}
	ret = mbedtls_base64_decode(buf, sizeof(buf), &len,
	    (const unsigned char *)b64, n);
	if (ret != 0) {
		tls_set_err(err, errlen, "pin '%.*s' is not valid base64",
		    (int)(n > 60 ? 60 : n), b64);
		return -1;
	}
	if (len != TLS_PIN_LEN) {
		tls_set_err(err, errlen, "pin '%.*s' decodes to %zu bytes, "
		    "a SHA-256 pin has 32", (int)(n > 60 ? 60 : n), b64, len);
		return -1;
	}
	memcpy(out, buf, TLS_PIN_LEN);
	return 0;
}

int
tls_pin_format(const uint8_t pin[TLS_PIN_LEN], char *out, size_t outcap)
{
	size_t olen = 0;

	if (mbedtls_base64_encode((unsigned char *)out, outcap, &olen, pin,
	    TLS_PIN_LEN) != 0)
		return -1;
	return 0;
}

int
tls_pin_of_cert(const mbedtls_x509_crt *crt, uint8_t out[TLS_PIN_LEN])
{
	unsigned char der[SPKI_DER_MAX];
	int len;

	/* mbedtls_pk_write_pubkey_der writes at the end of the buffer. */
	len = mbedtls_pk_write_pubkey_der((mbedtls_pk_context *)&crt->pk, der,
	    sizeof(der));
	if (len <= 0)
		return -1;
	if (mbedtls_sha256(der + sizeof(der) - (size_t)len, (size_t)len, out,
	    0) != 0)
		return -1;
	return 0;
}

int
tls_pin_match(const uint8_t (*pins)[TLS_PIN_LEN], size_t npins,
    const uint8_t pin[TLS_PIN_LEN])
{
	size_t i;
	int diff_all = 1;

	for (i = 0; i < npins; i++) {
		int d = mbedtls_ct_memcmp(pins[i], pin, TLS_PIN_LEN) != 0;

		diff_all &= d;
	}
	return !diff_all;
}
