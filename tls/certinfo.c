/* SPDX-License-Identifier: Apache-2.0 */
/*
 * certinfo.c - what an operator needs to know about a certificate:
 * subject, issuer, the names it is valid for (the subjectAltName entries
 * RFC 6120 §13.7.1.2 looks at: dNSName, SRVName, id-on-xmppAddr), key
 * type, SPKI pin and validity.  For `cert status` and `cert rotate`.
 *
 * Certificates are hostile input even here (an operator inspects what a
 * CA or a peer sent): names are copied with explicit lengths and bytes
 * outside printable ASCII are shown as '?', so a terminal or a JSON
 * consumer never sees control characters from a certificate.
 */
#include "certops.h"
#include "tls_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

static void
printable_copy(char *out, size_t cap, const unsigned char *p, size_t len)
{
	size_t i, n = len < cap - 1 ? len : cap - 1;

	for (i = 0; i < n; i++)
		out[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	out[n] = '\0';
}


long
tls_certinfo_days_left(time_t t, time_t now)
{
	long long s = (long long)t - (long long)now;

	/* Floor division: one second past the end is day -1, not 0. */
	return (long)(s >= 0 ? s / 86400 : -((-s + 86399) / 86400));
}

static void
certinfo_names(const mbedtls_x509_crt *crt, struct tls_certinfo *out)
{
	const mbedtls_x509_sequence *san;

	for (san = &crt->subject_alt_names; san != NULL; san = san->next) {
		enum tls_id_type type = TLS_ID_NONE;
		const unsigned char *v = NULL;
		size_t vlen = 0;

		if (san->buf.p == NULL)
			continue;
		if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC |
		    MBEDTLS_X509_SAN_DNS_NAME)) {
			type = TLS_ID_DNS;
			v = san->buf.p;
			vlen = san->buf.len;
		} else if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC |
		    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_X509_SAN_OTHER_NAME)) {
			const char *s;

			if (tls_identity_othername_value(san->buf.p,
			    san->buf.len, TLS_ID_SRV, &s, &vlen) == 0)
				type = TLS_ID_SRV;
			else if (tls_identity_othername_value(san->buf.p,
			    san->buf.len, TLS_ID_XMPPADDR, &s, &vlen) == 0)
				type = TLS_ID_XMPPADDR;
			v = (const unsigned char *)s;
		}
		if (type == TLS_ID_NONE)
			continue;
		if (out->nnames == TLS_CERTINFO_NAMES_MAX) {
			out->names_omitted++;
			continue;
		}
		out->names[out->nnames].type = type;
		printable_copy(out->names[out->nnames].value,
		    sizeof(out->names[out->nnames].value), v, vlen);
		out->nnames++;
	}
}

/* Fills out from the first certificate of chain. */
static int
certinfo_fill(const mbedtls_x509_crt *crt, struct tls_certinfo *out,
    char *err, size_t errlen)
{
	const mbedtls_x509_crt *c;
	uint8_t pin[TLS_PIN_LEN];
	const char *kind;
	char buf[TLS_CERTINFO_DN_MAX];
	int n;

	memset(out, 0, sizeof(*out));
	if ((n = mbedtls_x509_dn_gets(buf, sizeof(buf), &crt->subject)) < 0)
		snprintf(buf, sizeof(buf), "(too long)");
	printable_copy(out->subject, sizeof(out->subject),
	    (const unsigned char *)buf, strlen(buf));
	if ((n = mbedtls_x509_dn_gets(buf, sizeof(buf), &crt->issuer)) < 0)
		snprintf(buf, sizeof(buf), "(too long)");
	printable_copy(out->issuer, sizeof(out->issuer),
	    (const unsigned char *)buf, strlen(buf));
	if (mbedtls_x509_serial_gets(out->serial, sizeof(out->serial),
	    &crt->serial) < 0)
		snprintf(out->serial, sizeof(out->serial), "(too long)");
	switch (mbedtls_pk_get_type(&crt->pk)) {
	case MBEDTLS_PK_RSA:
	case MBEDTLS_PK_RSASSA_PSS:
		kind = "RSA";
		break;
	case MBEDTLS_PK_ECKEY:
	case MBEDTLS_PK_ECDSA:
	case MBEDTLS_PK_ECKEY_DH:
		kind = "EC";
		break;
	default:
		kind = "unknown";
		break;
	}
	if (strcmp(kind, "EC") == 0 && mbedtls_pk_get_bitlen(&crt->pk) == 256)
		snprintf(out->key_type, sizeof(out->key_type), "EC P-256");
	else if (strcmp(kind, "EC") == 0 && mbedtls_pk_get_bitlen(&crt->pk) == 384)
		snprintf(out->key_type, sizeof(out->key_type), "EC P-384");
	else
		snprintf(out->key_type, sizeof(out->key_type), "%s %zu", kind,
		    mbedtls_pk_get_bitlen(&crt->pk));
	if (tls_pin_of_cert(crt, pin) != 0 ||
	    tls_pin_format(pin, out->pin, sizeof(out->pin)) != 0) {
		tls_set_err(err, errlen, "cannot compute the SPKI pin");
		return -1;
	}
	out->not_before = tls_x509_time_to_time(&crt->valid_from);
	out->not_after = tls_x509_time_to_time(&crt->valid_to);
	out->self_signed = crt->issuer_raw.len == crt->subject_raw.len &&
	    memcmp(crt->issuer_raw.p, crt->subject_raw.p,
	    crt->issuer_raw.len) == 0;
	for (c = crt; c != NULL && c->raw.p != NULL; c = c->next)
		out->chain_len++;
	certinfo_names(crt, out);
	return 0;
}

int
tls_certinfo_load(const char *path, struct tls_certinfo *out, char *err,
    size_t errlen)
{
	mbedtls_x509_crt crt;
	char ebuf[160];
	int ret, rc = -1;

	mbedtls_x509_crt_init(&crt);
	ret = mbedtls_x509_crt_parse_file(&crt, path);
	if (ret < 0 || crt.raw.p == NULL) {
		tls_set_err(err, errlen, "%s: cannot load certificate: %s", path,
		    ret < 0 ? tls_strerror(ret, ebuf, sizeof(ebuf)) :
		    "no certificate could be parsed");
		goto done;
	}
	if (certinfo_fill(&crt, out, ebuf, sizeof(ebuf)) != 0) {
		tls_set_err(err, errlen, "%s: %s", path, ebuf);
		goto done;
	}
	rc = 0;
done:
	mbedtls_x509_crt_free(&crt);
	return rc;
}

int
tls_certinfo_from_der(const uint8_t *der, size_t len,
    struct tls_certinfo *out, char *err, size_t errlen)
{
	mbedtls_x509_crt crt;
	char ebuf[160];
	int ret, rc = -1;

	mbedtls_x509_crt_init(&crt);
	if ((ret = mbedtls_x509_crt_parse_der(&crt, der, len)) != 0) {
		tls_set_err(err, errlen, "cannot parse certificate: %s",
		    tls_strerror(ret, ebuf, sizeof(ebuf)));
		goto done;
	}
	rc = certinfo_fill(&crt, out, err, errlen);
done:
	mbedtls_x509_crt_free(&crt);
	return rc;
}

int
tls_pin_of_cert_file(const char *path, char out[TLS_PIN_B64_LEN + 1],
    char *err, size_t errlen)
{
	struct tls_certinfo *info;
	int rc;

	/* The info is large (names): heap, not stack. */
	if ((info = calloc(1, sizeof(*info))) == NULL) {
		tls_set_err(err, errlen, "out of memory");
		return -1;
	}
	rc = tls_certinfo_load(path, info, err, errlen);
	if (rc == 0)
		memcpy(out, info->pin, TLS_PIN_B64_LEN + 1);
	free(info);
	return rc;
}
