/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dane.c - checking a peer's certificate chain against TLSA records
 * (RFC 6698, with the operational rules of RFC 7671 and RFC 7673 §4).
 *
 * The handshake itself never fails on DANE: tls/ completes it with the
 * PKIX verdict (VERIFY_OPTIONAL, certstore.c) and the s2s layer asks this
 * file afterwards, with the records its DNS layer authenticated.  So a
 * target can fall back to PKIX or dialback by policy, and `probe` can say
 * exactly which record matched or why none did.
 *
 * Certificate usages:
 *   3 DANE-EE   the leaf matches; nothing else is checked: no CA, no
 *               dates, no name (RFC 7671 §5.1: the TLSA record binds the
 *               key to the service; RFC 7672 §3.1.1 / RFC 7673 §4 practice).
 *   2 DANE-TA   a certificate the peer sent above its leaf, or the full
 *               certificate in the record itself (selector 0, matching
 *               0), is the trust anchor: the leaf must chain to it
 *               (mbedtls_x509_crt_verify with that anchor alone: dates,
 *               signatures, key usage) and be valid for one of the
 *               reference names (RFC 7673 §4: the service domain or the
 *               SRV target).  A record with a bare key (selector 1,
 *               matching 0) cannot serve as an anchor for mbedTLS's path
 *               building and only matches a certificate the peer sent.
 *   1 PKIX-EE   the leaf matches AND the chain is PKIX-valid for the
 *               domain (our CA bundle): a constraint on top of PKIX.
 *   0 PKIX-TA   a certificate the peer sent above its leaf matches AND
 *               the chain is PKIX-valid: the same, on the issuing CA.
 *               (The root is rarely sent; a record on a root the peer
 *               does not send cannot match.  RFC 7672 §3.1.3 goes
 *               further and calls 0/1 unusable for SMTP; for XMPP they
 *               keep their RFC 6698 meaning, which is never weaker than
 *               PKIX alone.)
 * Selectors 0 (the DER certificate) and 1 (its SubjectPublicKeyInfo as
 * sent, byte for byte); matching 0 (exact, constant time), 1 (SHA-256),
 * 2 (SHA-512).  The first matching record wins; records are tried in
 * the order DNS gave them.
 */
#include "tls.h"
#include "tls_int.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/constant_time.h>
#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>
#include <mbedtls/x509_crt.h>

const char *
tls_dane_result_str(enum tls_dane_result r)
{
	switch (r) {
	case TLS_DANE_MATCH: return "match";
	case TLS_DANE_NO_USABLE: return "no usable TLSA record";
	case TLS_DANE_MISMATCH: return "no TLSA record matches the certificate";
	case TLS_DANE_TA_CHAIN: return "DANE-TA matched but the chain does not verify to it";
	case TLS_DANE_TA_NAME: return "DANE-TA chain verified but the name does not match";
	case TLS_DANE_PKIX_INVALID: return "PKIX-TA/EE record matched but the chain is not PKIX-valid";
	case TLS_DANE_NO_CERT: return "no peer certificate";
	}
	return "?";
}

const char *
tls_dane_usage_str(uint8_t usage)
{
	switch (usage) {
	case TLS_DANE_USAGE_PKIX_TA: return "PKIX-TA";
	case TLS_DANE_USAGE_PKIX_EE: return "PKIX-EE";
	case TLS_DANE_USAGE_DANE_TA: return "DANE-TA";
	case TLS_DANE_USAGE_DANE_EE: return "DANE-EE";
	}
	return "unknown";
}

/* The bytes a record's selector picks from crt. */
static void
dane_selected(const mbedtls_x509_crt *crt, uint8_t selector, const uint8_t **p, size_t *len)
{
	if (selector == TLS_DANE_SELECTOR_SPKI) {
		*p = crt->pk_raw.p;
		*len = crt->pk_raw.len;
	} else {
		*p = crt->raw.p;
		*len = crt->raw.len;
	}
}

/* 1 if rec matches crt by its selector and matching type. */
int
tls_dane_match_cert(const mbedtls_x509_crt *crt, const struct tls_dane_record *rec)
{
	uint8_t digest[64];
	const uint8_t *p;
	size_t len;

	if (rec->selector > TLS_DANE_SELECTOR_SPKI)
		return 0;
	dane_selected(crt, rec->selector, &p, &len);
	if (p == NULL || len == 0)
		return 0;
	switch (rec->matching) {
	case TLS_DANE_MATCHING_FULL:
		return rec->len == len && mbedtls_ct_memcmp(rec->data, p, len) == 0;
	case TLS_DANE_MATCHING_SHA256:
		if (rec->len != 32 || mbedtls_sha256(p, len, digest, 0) != 0)
			return 0;
		return mbedtls_ct_memcmp(rec->data, digest, 32) == 0;
	case TLS_DANE_MATCHING_SHA512:
		if (rec->len != 64 || mbedtls_sha512(p, len, digest, 0) != 0)
			return 0;
		return mbedtls_ct_memcmp(rec->data, digest, 64) == 0;
	}
	return 0;
}

static int
dane_record_usable(const struct tls_dane_record *rec)
{
	return rec->usage <= TLS_DANE_USAGE_DANE_EE && rec->selector <= TLS_DANE_SELECTOR_SPKI &&
	    rec->matching <= TLS_DANE_MATCHING_SHA512 && rec->data != NULL && rec->len > 0;
}

/* 1 if leaf is valid for one of the reference names. */
static int
dane_name_ok(const mbedtls_x509_crt *leaf, const char *const *names, size_t nnames,
    struct tls_dane_verdict *out)
{
	size_t i;

	for (i = 0; i < nnames; i++) {
		if (names[i] == NULL || names[i][0] == '\0')
			continue;
		if (tls_identity_check_cert(leaf, names[i]) != TLS_ID_NONE) {
			snprintf(out->name, sizeof(out->name), "%s", names[i]);
			return 1;
		}
	}
	return 0;
}

/*
 * DANE-TA: the leaf (and the intermediates the peer sent) must verify up
 * to 'ta' used as the only trust anchor.  The chain handed to mbedTLS is
 * the peer's, minus the anchor itself if it was sent (mbedTLS finds it in
 * the trusted list).  Returns 0, or the mbedTLS flags.
 */
static uint32_t
dane_ta_verify(mbedtls_x509_crt *chain, mbedtls_x509_crt *ta)
{
	uint32_t flags = 0;
	int ret;

	ret = mbedtls_x509_crt_verify(chain, ta, NULL, NULL, &flags, NULL, NULL);
	/* No name was asked for: the name check is ours (RFC 6125 with
	 * SRV-ID and xmppAddr, identity.c). */
	flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
	if (ret != 0 && flags == 0)
		flags = MBEDTLS_X509_BADCERT_OTHER;
	return flags;
}

int
tls_dane_check(const uint8_t *const *der, const size_t *der_len, size_t ncerts,
    const struct tls_dane_record *recs, size_t nrecs, const char *const *names,
    size_t nnames, int pkix_ok, struct tls_dane_verdict *out)
{
	mbedtls_x509_crt chain, ta;
	size_t i, k, usable = 0;
	enum tls_dane_result worst = TLS_DANE_MISMATCH;

	memset(out, 0, sizeof(*out));
	out->record = -1;
	mbedtls_x509_crt_init(&chain);
	mbedtls_x509_crt_init(&ta);
	if (ncerts == 0) {
		out->result = TLS_DANE_NO_CERT;
		goto done;
	}
	if (ncerts > TLS_DANE_CHAIN_MAX)
		ncerts = TLS_DANE_CHAIN_MAX;
	/* The peer's chain as sent; mbedTLS parsed it once already during
	 * the handshake, so a parse error here is an internal surprise. */
	for (i = 0; i < ncerts; i++)
		if (mbedtls_x509_crt_parse_der(&chain, der[i], der_len[i]) != 0)
			break;
	if (i == 0) {
		out->result = TLS_DANE_NO_CERT;
		snprintf(out->detail, sizeof(out->detail), "peer certificate does not parse");
		goto done;
	}
	ncerts = i;
	for (k = 0; k < nrecs; k++) {
		const struct tls_dane_record *rec = &recs[k];
		mbedtls_x509_crt *crt;
		int matched = 0;
		uint32_t flags;

		if (!dane_record_usable(rec))
			continue;
		usable++;
		switch (rec->usage) {
		case TLS_DANE_USAGE_DANE_EE:
			if (!tls_dane_match_cert(&chain, rec))
				continue;
			out->result = TLS_DANE_MATCH;
			out->record = (int)k;
			snprintf(out->detail, sizeof(out->detail),
			    "DANE-EE record %zu matches the leaf (no name or CA check, RFC 7671 section 5.1)", k);
			goto done;
		case TLS_DANE_USAGE_PKIX_EE:
		case TLS_DANE_USAGE_PKIX_TA:
			/* A constraint on top of PKIX (RFC 6698 section 2.1.1):
			 * the leaf, or a CA certificate the peer sent. */
			if (rec->usage == TLS_DANE_USAGE_PKIX_EE)
				matched = tls_dane_match_cert(&chain, rec);
			for (crt = chain.next; rec->usage == TLS_DANE_USAGE_PKIX_TA && crt != NULL &&
			    !matched; crt = crt->next)
				matched = tls_dane_match_cert(crt, rec);
			if (!matched)
				continue;
			if (!pkix_ok) {
				worst = TLS_DANE_PKIX_INVALID;
				continue;
			}
			out->result = TLS_DANE_MATCH;
			out->record = (int)k;
			snprintf(out->detail, sizeof(out->detail), "%s record %zu matches %s",
			    tls_dane_usage_str(rec->usage), k, rec->usage == TLS_DANE_USAGE_PKIX_EE ?
			    "the PKIX-valid leaf" : "a CA certificate of the PKIX-valid chain");
			goto done;
		case TLS_DANE_USAGE_DANE_TA:
			/* The anchor: a certificate the peer sent above its
			 * leaf, or the one in the record. */
			mbedtls_x509_crt_free(&ta);
			mbedtls_x509_crt_init(&ta);
			for (crt = chain.next; crt != NULL && !matched; crt = crt->next)
				if (tls_dane_match_cert(crt, rec))
					matched = mbedtls_x509_crt_parse_der(&ta, crt->raw.p, crt->raw.len) == 0;
			if (!matched && rec->selector == TLS_DANE_SELECTOR_CERT &&
			    rec->matching == TLS_DANE_MATCHING_FULL)
				matched = mbedtls_x509_crt_parse_der(&ta, rec->data, rec->len) == 0;
			if (!matched)
				continue;
			if ((flags = dane_ta_verify(&chain, &ta)) != 0) {
				worst = TLS_DANE_TA_CHAIN;
				snprintf(out->detail, sizeof(out->detail),
				    "DANE-TA record %zu: chain does not verify to it (flags 0x%08x)", k,
				    (unsigned)flags);
				continue;
			}
			if (!dane_name_ok(&chain, names, nnames, out)) {
				if (worst != TLS_DANE_TA_CHAIN)
					worst = TLS_DANE_TA_NAME;
				snprintf(out->detail, sizeof(out->detail),
				    "DANE-TA record %zu: chain verified, leaf not valid for the domain or SRV target", k);
				continue;
			}
			out->result = TLS_DANE_MATCH;
			out->record = (int)k;
			snprintf(out->detail, sizeof(out->detail),
			    "DANE-TA record %zu: chain verified to it, name %.80s", k, out->name);
			goto done;
		}
	}
	if (usable == 0) {
		out->result = TLS_DANE_NO_USABLE;
		snprintf(out->detail, sizeof(out->detail), "%zu records, none usable", nrecs);
	} else {
		out->result = worst;
		if (out->detail[0] == '\0')
			snprintf(out->detail, sizeof(out->detail), "%zu usable records, none matches",
			    usable);
	}
done:
	mbedtls_x509_crt_free(&chain);
	mbedtls_x509_crt_free(&ta);
	return out->result == TLS_DANE_MATCH ? 0 : -1;
}

int
tls_dane_check_conn(const struct tls_conn *c, const struct tls_dane_record *recs, size_t nrecs,
    const char *const *names, size_t nnames, int pkix_ok, struct tls_dane_verdict *out)
{
	const uint8_t *der[TLS_DANE_CHAIN_MAX];
	size_t len[TLS_DANE_CHAIN_MAX], n;

	for (n = 0; n < TLS_DANE_CHAIN_MAX; n++)
		if (tls_conn_peer_cert_der(c, n, &der[n], &len[n]) < 0)
			break;
	return tls_dane_check(der, len, n, recs, nrecs, names, nnames, pkix_ok, out);
}

int
tls_dane_record_of_cert_file(const char *cert_path, uint8_t selector, uint8_t matching,
    uint8_t *out, size_t outcap, size_t *outlen, char *err, size_t errlen)
{
	mbedtls_x509_crt crt;
	const uint8_t *p;
	size_t len;
	int ret;

	mbedtls_x509_crt_init(&crt);
	if ((ret = mbedtls_x509_crt_parse_file(&crt, cert_path)) != 0) {
		char buf[96];

		tls_set_err(err, errlen, "%s: %s", cert_path, tls_strerror(ret, buf, sizeof(buf)));
		mbedtls_x509_crt_free(&crt);
		return -1;
	}
	dane_selected(&crt, selector, &p, &len);
	ret = -1;
	if (matching == TLS_DANE_MATCHING_SHA256 && outcap >= 32) {
		ret = mbedtls_sha256(p, len, out, 0);
		*outlen = 32;
	} else if (matching == TLS_DANE_MATCHING_SHA512 && outcap >= 64) {
		ret = mbedtls_sha512(p, len, out, 0);
		*outlen = 64;
	} else if (matching == TLS_DANE_MATCHING_FULL && outcap >= len) {
		memcpy(out, p, len);
		*outlen = len;
		ret = 0;
	}
	mbedtls_x509_crt_free(&crt);
	if (ret != 0) {
		tls_set_err(err, errlen, "%s: cannot compute the TLSA data", cert_path);
		return -1;
	}
	return 0;
}
