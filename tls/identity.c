/* SPDX-License-Identifier: Apache-2.0 */
/*
 * identity.c - the XMPP server identity check: RFC 6125 as profiled by
 * RFC 6120 §13.7.1.2, with the stricter wildcard rules of RFC 9525.
 *
 * A certificate "is for" an XMPP domain when one of its subjectAltName
 * entries matches the domain:
 *   - DNS-ID   dNSName "example.com" or "*.example.com"
 *              (RFC 6125 §6.4; RFC 9525 §6.3: the wildcard is only ever
 *              the whole left-most label, matches exactly one label, and
 *              never partial labels like "f*o.example.com"; we also refuse
 *              a wildcard directly over a single label, "*.com");
 *   - SRV-ID   otherName SRVName "_xmpp-server.example.com"
 *              (RFC 6125 §6.5.1, RFC 4985; service must be _xmpp-server;
 *              no wildcards);
 *   - XmppAddr otherName id-on-xmppAddr "example.com"
 *              (RFC 6120 §13.7.1.4; no wildcards).
 * The subject CN is never consulted (RFC 9525 §6.2 removed CN-ID; every
 * certificate a public CA issues today carries SANs).
 *
 * Comparison is case-insensitive for ASCII, ignores one trailing dot on
 * either side (RFC 6125 §6.4.1 compares absolute and relative forms as
 * equal), and happens on A-labels: a reference domain with U-labels
 * (UTF-8) is converted with Punycode (RFC 3492) first (RFC 6125 §6.4.2).
 * Non-ASCII case mapping (IDNA2008 / UTS #46) is not done: the s2s layer
 * hands us the domain as it appears on the stream, already prepped.
 *
 * Certificates are hostile input: every SAN is parsed here with explicit
 * lengths, and any embedded NUL or non-LDH byte in a DNS-ID makes that
 * entry not match (the classic "example.com\0.evil.com" trick).
 */
#include "tls.h"
#include "tls_int.h"

#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/oid.h>
#include <mbedtls/x509_crt.h>

#define OID_ON_XMPPADDR MBEDTLS_OID_PKIX "\x08\x05"
#define OID_ON_DNSSRV MBEDTLS_OID_PKIX "\x08\x07"
#define XMPP_SERVER_SERVICE "_xmpp-server."

static int
lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static int
is_ldh(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

/* Case-insensitive equality of two byte ranges. */
static int
span_eq_nocase(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;

	if (alen != blen)
		return 0;
	for (i = 0; i < alen; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* Checks that name[0..len) is a syntactically valid DNS name in A-label
 * form (LDH labels of 1..63 octets, total <= 253 without the trailing
 * dot, which must already be stripped); if allow_wildcard, the left-most
 * label may be exactly "*". */
static int
dns_name_valid(const char *name, size_t len, int allow_wildcard)
{
	size_t i, label = 0;

	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (c == '*' && allow_wildcard && i == 0 &&
		    (len == 1 || name[1] == '.')) {
			label++;
			continue;
		}
		if (!is_ldh(c))
			return 0;
		if (++label > 63)
			return 0;
	}
	return label != 0;
}

/* --- Punycode (RFC 3492 §6.3), for U-label -> A-label ------------------ */

#define PC_BASE 36
#define PC_TMIN 1
#define PC_TMAX 26
#define PC_SKEW 38
#define PC_DAMP 700
#define PC_INITIAL_BIAS 72
#define PC_INITIAL_N 128
#define PC_MAX_CODEPOINTS 64

static size_t
pc_adapt(size_t delta, size_t numpoints, int first)
{
	size_t k = 0;

	delta = first ? delta / PC_DAMP : delta / 2;
	delta += delta / numpoints;
	while (delta > ((PC_BASE - PC_TMIN) * PC_TMAX) / 2) {
		delta /= PC_BASE - PC_TMIN;
		k += PC_BASE;
	}
	return k + (PC_BASE - PC_TMIN + 1) * delta / (delta + PC_SKEW);
}

static char
pc_digit(size_t d)
{
	return (char)(d < 26 ? 'a' + d : '0' + (d - 26));
}

/* Decodes one UTF-8 code point; returns its length or 0 if invalid. */
static size_t
utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	uint32_t c;
	size_t n, i;

	if (len == 0)
		return 0;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	} else if ((s[0] & 0xe0) == 0xc0) {
		n = 2; c = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3; c = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4; c = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond Unicode. */
	if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) ||
	    (n == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Encodes one label (UTF-8, len bytes) as "xn--..." into out, or copies it
 * lowercased if it is ASCII.  Returns the output length or 0 on error. */
static size_t
label_to_alabel(const char *label, size_t len, char *out, size_t outcap)
{
	uint32_t cps[PC_MAX_CODEPOINTS], n = PC_INITIAL_N, m, cp;
	size_t ncp = 0, i, o = 0, b, h, delta = 0, bias = PC_INITIAL_BIAS, q, k, t;
	int ascii = 1;

	for (i = 0; i < len;) {
		size_t l = utf8_decode((const unsigned char *)label + i,
		    len - i, &cp);

		if (l == 0 || ncp == PC_MAX_CODEPOINTS)
			return 0;
		if (cp >= 0x80)
			ascii = 0;
		cps[ncp++] = cp < 0x80 ? (uint32_t)lower((int)cp) : cp;
		i += l;
	}
	if (ascii) {
		if (len >= outcap)
			return 0;
		for (i = 0; i < len; i++)
			out[i] = (char)lower((unsigned char)label[i]);
		return len;
	}
#define PUT(ch) do { if (o + 1 >= outcap) return 0; out[o++] = (ch); } while (0)
	PUT('x'); PUT('n'); PUT('-'); PUT('-');
	for (i = 0; i < ncp; i++)
		if (cps[i] < 0x80)
			PUT((char)cps[i]);
	h = b = o - 4;
	if (b > 0)
		PUT('-');
	while (h < ncp) {
		m = 0x10ffff + 1;
		for (i = 0; i < ncp; i++)
			if (cps[i] >= n && cps[i] < m)
				m = cps[i];
		/* ncp <= 64 and code points <= 0x10ffff: no overflow in size_t. */
		delta += (size_t)(m - n) * (h + 1);
		n = m;
		for (i = 0; i < ncp; i++) {
			if (cps[i] < n)
				delta++;
			if (cps[i] != n)
				continue;
			for (q = delta, k = PC_BASE;; k += PC_BASE) {
				t = k <= bias ? PC_TMIN :
				    k >= bias + PC_TMAX ? PC_TMAX : k - bias;
				if (q < t)
					break;
				PUT(pc_digit(t + (q - t) % (PC_BASE - t)));
				q = (q - t) / (PC_BASE - t);
			}
			PUT(pc_digit(q));
			bias = pc_adapt(delta, h + 1, h == b);
			delta = 0;
			h++;
		}
		delta++;
		n++;
	}
#undef PUT
	return o;
}

int
tls_identity_normalize(const char *domain, char *out, size_t outcap)
{
	size_t len, start = 0, o = 0, i, n;

	if (domain == NULL || outcap == 0)
		return -1;
	len = strlen(domain);
	if (len > 0 && domain[len - 1] == '.')
		len--;		/* RFC 6125 §6.4.1: absolute == relative */
	if (len == 0)
		return -1;
	for (i = 0; i <= len; i++) {
		if (i < len && domain[i] != '.')
			continue;
		if (i == start)
			return -1;	/* empty label */
		if (o > 0) {
			if (o + 1 >= outcap)
				return -1;
			out[o++] = '.';
		}
		n = label_to_alabel(domain + start, i - start, out + o,
		    outcap - o);
		if (n == 0 || n > 63)
			return -1;
		o += n;
		start = i + 1;
	}
	out[o] = 0;
	return dns_name_valid(out, o, 0) ? 0 : -1;
}

int
tls_identity_match_dns_id(const char *presented, size_t plen,
    const char *reference)
{
	char ref[TLS_DOMAIN_MAX + 1];
	size_t rlen;
	const char *rdot;

	if (tls_identity_normalize(reference, ref, sizeof(ref)) != 0)
		return 0;
	rlen = strlen(ref);
	if (plen > 0 && presented[plen - 1] == '.')
		plen--;
	if (!dns_name_valid(presented, plen, 1))
		return 0;	/* also rejects embedded NULs */
	if (presented[0] != '*')
		return span_eq_nocase(presented, plen, ref, rlen);
	/* "*.rest": rest must have at least two labels (no "*.com"), and
	 * the wildcard stands for exactly one non-empty left-most label. */
	if (plen < 3 || memchr(presented + 2, '.', plen - 2) == NULL)
		return 0;
	rdot = memchr(ref, '.', rlen);
	if (rdot == NULL || rdot == ref)
		return 0;
	return span_eq_nocase(presented + 1, plen - 1, rdot,
	    rlen - (size_t)(rdot - ref));
}

int
tls_identity_match_srv_id(const char *presented, size_t plen,
    const char *reference)
{
	const size_t slen = sizeof(XMPP_SERVER_SERVICE) - 1;
	char ref[TLS_DOMAIN_MAX + 1];
	size_t rest;

	if (plen <= slen ||
	    !span_eq_nocase(presented, slen, XMPP_SERVER_SERVICE, slen))
		return 0;
	if (tls_identity_normalize(reference, ref, sizeof(ref)) != 0)
		return 0;
	rest = plen - slen;
	if (presented[plen - 1] == '.')
		rest--;
	if (!dns_name_valid(presented + slen, rest, 0))
		return 0;
	return span_eq_nocase(presented + slen, rest, ref, strlen(ref));
}

int
tls_identity_match_xmppaddr(const char *presented, size_t plen,
    const char *reference)
{
	char pres[TLS_DOMAIN_MAX + 2], pn[TLS_DOMAIN_MAX + 1];
	char rn[TLS_DOMAIN_MAX + 1];

	/* A bare domain JID; both sides brought to A-labels, so a U-label
	 * XmppAddr matches an A-label stream domain and vice versa.  '@' and
	 * '/' (user or resource parts) fail the LDH check. */
	if (plen == 0 || plen > TLS_DOMAIN_MAX + 1 ||
	    memchr(presented, 0, plen) != NULL)
		return 0;
	memcpy(pres, presented, plen);
	pres[plen] = 0;
	if (tls_identity_normalize(pres, pn, sizeof(pn)) != 0 ||
	    tls_identity_normalize(reference, rn, sizeof(rn)) != 0)
		return 0;
	return strcmp(pn, rn) == 0;
}

/* Parses an otherName's content: type-id OID and [0] EXPLICIT value with
 * the given string tag.  Returns 0 and the value span, or -1. */
static int
othername_parse(const unsigned char *p, size_t len, const char *oid,
    size_t oidlen, int string_tag, const char **val, size_t *vlen)
{
	unsigned char *cur = (unsigned char *)p, *end = cur + len;
	size_t l;

	if (mbedtls_asn1_get_tag(&cur, end, &l, MBEDTLS_ASN1_OID) != 0)
		return -1;
	if (l != oidlen || memcmp(cur, oid, oidlen) != 0)
		return -1;
	cur += l;
	if (mbedtls_asn1_get_tag(&cur, end, &l, MBEDTLS_ASN1_CONTEXT_SPECIFIC |
	    MBEDTLS_ASN1_CONSTRUCTED | 0) != 0)
		return -1;
	if (mbedtls_asn1_get_tag(&cur, end, &l, string_tag) != 0)
		return -1;
	if (cur + l != end)
		return -1;
	*val = (const char *)cur;
	*vlen = l;
	return 0;
}

int
tls_identity_othername_value(const unsigned char *p, size_t len,
    enum tls_id_type type, const char **val, size_t *vlen)
{
	if (type == TLS_ID_SRV)
		return othername_parse(p, len, OID_ON_DNSSRV,
		    MBEDTLS_OID_SIZE(OID_ON_DNSSRV), MBEDTLS_ASN1_IA5_STRING,
		    val, vlen);
	if (type == TLS_ID_XMPPADDR)
		return othername_parse(p, len, OID_ON_XMPPADDR,
		    MBEDTLS_OID_SIZE(OID_ON_XMPPADDR), MBEDTLS_ASN1_UTF8_STRING,
		    val, vlen);
	return -1;
}

enum tls_id_type
tls_identity_check_cert(const mbedtls_x509_crt *crt, const char *domain)
{
	const mbedtls_x509_sequence *san;
	const char *v;
	size_t vlen;

	if (crt == NULL || domain == NULL)
		return TLS_ID_NONE;
	for (san = &crt->subject_alt_names; san != NULL; san = san->next) {
		const unsigned char *p = san->buf.p;
		size_t len = san->buf.len;

		if (p == NULL)
			continue;
		switch (san->buf.tag) {
		case MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME:
			if (tls_identity_match_dns_id((const char *)p, len,
			    domain))
				return TLS_ID_DNS;
			break;
		case MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED |
		    MBEDTLS_X509_SAN_OTHER_NAME:
			if (othername_parse(p, len, OID_ON_DNSSRV,
			    MBEDTLS_OID_SIZE(OID_ON_DNSSRV),
			    MBEDTLS_ASN1_IA5_STRING, &v, &vlen) == 0 &&
			    tls_identity_match_srv_id(v, vlen, domain))
				return TLS_ID_SRV;
			if (othername_parse(p, len, OID_ON_XMPPADDR,
			    MBEDTLS_OID_SIZE(OID_ON_XMPPADDR),
			    MBEDTLS_ASN1_UTF8_STRING, &v, &vlen) == 0 &&
			    tls_identity_match_xmppaddr(v, vlen, domain))
				return TLS_ID_XMPPADDR;
			break;
		default:
			break;
		}
	}
	return TLS_ID_NONE;
}

const char *
tls_id_type_str(enum tls_id_type t)
{
	switch (t) {
	case TLS_ID_DNS: return "DNS-ID";
	case TLS_ID_SRV: return "SRV-ID";
	case TLS_ID_XMPPADDR: return "XmppAddr";
	case TLS_ID_PIN: return "pin";
	case TLS_ID_NONE: break;
	}
	return "none";
}
