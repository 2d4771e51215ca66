/* SPDX-License-Identifier: Apache-2.0 */
/*
 * certcheck.c - the checks a certificate and key must pass before `cert
 * rotate` puts them in service.
 *
 * The daemon would load almost anything (an expired certificate is only
 * warned about, so a forgotten renewal never stops federation at once).
 * Rotation is the moment to be strict: the operator is there to read the
 * reason and the old certificate is still working.  The order of the
 * checks is the order of the questions an operator would ask: is this a
 * certificate, is this its key, is it valid now and for long enough, is
 * it for this domain, is its key strong enough, will peers trust it.
 *
 * Trust (decided for labs and the embedded default): a leaf must chain,
 * through the intermediates in its file and the --chain file, to a
 * certificate of tls.ca_file, which is the bundle the daemon itself uses
 * to judge remote servers.  A lone self-signed leaf (issuer == subject,
 * its signature verified with its own key) is accepted without that, and
 * reported, because the demo setup and test labs run on such
 * certificates and peers then fall back to dialback (XEP-0220).
 * The internal link's certificate is pinned by the gateway: no name and
 * no CA apply, only key, dates and the remaining days.
 */
#include "certops.h"
#include "tls_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

/* mbedTLS wants PEM with its NUL terminator counted in the length. */
static int
parse_pem_certs(mbedtls_x509_crt *chain, const uint8_t *p, size_t len,
    const char *name, char *err, size_t errlen)
{
	unsigned char *buf;
	char ebuf[160];
	int ret;

	if (len == 0) {
		tls_set_err(err, errlen, "%s: empty file", name);
		return -1;
	}
	if ((buf = malloc(len + 1)) == NULL) {
		tls_set_err(err, errlen, "out of memory");
		return -1;
	}
	memcpy(buf, p, len);
	buf[len] = '\0';
	ret = mbedtls_x509_crt_parse(chain, buf, len + 1);
	free(buf);
	if (ret < 0) {
		tls_set_err(err, errlen, "%s: not a certificate: %s", name,
		    tls_strerror(ret, ebuf, sizeof(ebuf)));
		return -1;
	}
	if (ret > 0) {
		tls_set_err(err, errlen, "%s: %d certificate(s) in the file "
		    "could not be parsed", name, ret);
		return -1;
	}
	return 0;
}

static int
parse_key(mbedtls_pk_context *key, struct tls_rng *rng, const uint8_t *p,
    size_t len, const char *name, char *err, size_t errlen)
{
	unsigned char *buf;
	char ebuf[160];
	int ret;

	if ((buf = malloc(len + 1)) == NULL) {
		tls_set_err(err, errlen, "out of memory");
		return -1;
	}
	memcpy(buf, p, len);
	buf[len] = '\0';
	ret = mbedtls_pk_parse_key(key, buf, len + 1, NULL, 0,
	    mbedtls_ctr_drbg_random, &rng->drbg);
	mbedtls_platform_zeroize(buf, len + 1);
	free(buf);
	if (ret == MBEDTLS_ERR_PK_PASSWORD_REQUIRED) {
		tls_set_err(err, errlen, "%s: the key is encrypted; the daemon "
		    "needs it unencrypted (openssl pkey -in %s -out NEW)", name,
		    name);
		return -1;
	}
	if (ret != 0) {
		tls_set_err(err, errlen, "%s: not a private key: %s", name,
		    tls_strerror(ret, ebuf, sizeof(ebuf)));
		return -1;
	}
	return 0;
}

/* A self-signed leaf: issuer is subject and the signature verifies with
 * the certificate's own key.  The signature fields are private in
 * mbedTLS 3.x; x509_crt.c's own verification reads them the same way. */
static int
leaf_self_signed(const mbedtls_x509_crt *crt)
{
	unsigned char hash[MBEDTLS_MD_MAX_SIZE];
	const mbedtls_md_info_t *md;

	if (crt->issuer_raw.len != crt->subject_raw.len ||
	    memcmp(crt->issuer_raw.p, crt->subject_raw.p,
	    crt->issuer_raw.len) != 0)
		return 0;
	md = mbedtls_md_info_from_type(crt->MBEDTLS_PRIVATE(sig_md));
	if (md == NULL || mbedtls_md(md, crt->tbs.p, crt->tbs.len, hash) != 0)
		return 0;
	return mbedtls_pk_verify_ext(crt->MBEDTLS_PRIVATE(sig_pk),
	    crt->MBEDTLS_PRIVATE(sig_opts), (mbedtls_pk_context *)&crt->pk,
	    crt->MBEDTLS_PRIVATE(sig_md), hash, mbedtls_md_get_size(md),
	    crt->MBEDTLS_PRIVATE(sig).p, crt->MBEDTLS_PRIVATE(sig).len) == 0;
}

static void
fmt_date(time_t t, char *out, size_t cap)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, cap, "(unrepresentable date)");
}

static int
chain_verify(mbedtls_x509_crt *chain, const char *ca_file, char *err,
    size_t errlen)
{
	mbedtls_x509_crt ca;
	struct stat st;
	char ebuf[160], why[512];
	uint32_t flags = 0;
	int ret, rc = -1;

	mbedtls_x509_crt_init(&ca);
	if (ca_file == NULL || ca_file[0] == '\0')
		ca_file = TLS_DEFAULT_CA_FILE;
	if (stat(ca_file, &st) != 0) {
		tls_set_err(err, errlen, "%s: cannot read the CA bundle "
		    "(tls.ca_file): %s", ca_file, strerror(errno));
		goto done;
	}
	ret = S_ISDIR(st.st_mode) ? mbedtls_x509_crt_parse_path(&ca, ca_file)
	    : mbedtls_x509_crt_parse_file(&ca, ca_file);
	if (ret < 0 || ca.raw.p == NULL) {
		tls_set_err(err, errlen, "%s: cannot load CA certificates: %s",
		    ca_file, ret < 0 ? tls_strerror(ret, ebuf, sizeof(ebuf)) :
		    "none could be parsed");
		goto done;
	}
	ret = mbedtls_x509_crt_verify(chain, &ca, NULL, NULL, &flags, NULL,
	    NULL);
	if (ret != 0) {
		char *nl;

		if (flags == 0 || mbedtls_x509_crt_verify_info(why, sizeof(why),
		    "", flags) < 0)
			tls_strerror(ret, why, sizeof(why));
		/* verify_info writes one line per reason: keep one line. */
		while ((nl = strchr(why, '\n')) != NULL)
			*nl = nl[1] ? ';' : '\0';
		tls_set_err(err, errlen, "the chain does not verify against "
		    "%s (tls.ca_file): %s; give the intermediates with --chain",
		    ca_file, why);
		goto done;
	}
	rc = 0;
done:
	mbedtls_x509_crt_free(&ca);
	return rc;
}

int
tls_candidate_check(const struct tls_candidate *c,
    struct tls_candidate_report *r, char *err, size_t errlen)
{
	mbedtls_x509_crt chain;
	mbedtls_pk_context key;
	struct tls_certinfo *info = NULL;
	struct tls_rng rng;
	char norm[TLS_DOMAIN_MAX + 1], date[40], ebuf[160];
	time_t now = c->now ? c->now : time(NULL);
	int ret, rc = -1, have_rng = 0;

	memset(r, 0, sizeof(*r));
	mbedtls_x509_crt_init(&chain);
	mbedtls_pk_init(&key);
	if ((ret = tls_rng_init(&rng, "xmpp-edge certcheck")) != 0) {
		tls_set_err(err, errlen, "random generator: %s",
		    tls_strerror(ret, ebuf, sizeof(ebuf)));
		goto done;
	}
	have_rng = 1;
	if ((info = calloc(1, sizeof(*info))) == NULL) {
		tls_set_err(err, errlen, "out of memory");
		goto done;
	}

	/* A certificate, and this is its key. */
	if (parse_pem_certs(&chain, c->cert_pem, c->cert_len, c->cert_name,
	    err, errlen) != 0)
		goto done;
	if (c->chain_pem != NULL && parse_pem_certs(&chain, c->chain_pem,
	    c->chain_len, c->chain_name, err, errlen) != 0)
		goto done;
	if (parse_key(&key, &rng, c->key_pem, c->key_len, c->key_name, err,
	    errlen) != 0)
		goto done;
	if (mbedtls_pk_check_pair(&chain.pk, &key, mbedtls_ctr_drbg_random,
	    &rng.drbg) != 0) {
		tls_set_err(err, errlen, "%s: the private key does not match "
		    "the certificate in %s", c->key_name, c->cert_name);
		goto done;
	}
	/* Strong enough for years of service (RFC 9325 §4.1 and NIST SP
	 * 800-57: RSA of 2048 bits at least, EC on a 256-bit curve or
	 * larger), signed with SHA-256 or better (SHA-1 and MD5 signatures
	 * are forgeable). */
	{
		mbedtls_pk_type_t t = mbedtls_pk_get_type(&chain.pk);
		size_t bits = mbedtls_pk_get_bitlen(&chain.pk);
		int is_rsa = t == MBEDTLS_PK_RSA || t == MBEDTLS_PK_RSASSA_PSS;

		if ((is_rsa && bits < 2048) || (!is_rsa && bits < 256)) {
			tls_set_err(err, errlen, "%s: its %zu-bit %s key is too weak (RSA "
			    "needs 2048 bits or more, EC a 256-bit curve or larger)",
			    c->cert_name, bits, is_rsa ? "RSA" : "EC");
			goto done;
		}
		if (chain.MBEDTLS_PRIVATE(sig_md) == MBEDTLS_MD_MD5 || chain.MBEDTLS_PRIVATE(sig_md) == MBEDTLS_MD_SHA1 ||
		    chain.MBEDTLS_PRIVATE(sig_md) == MBEDTLS_MD_NONE) {
			tls_set_err(err, errlen, "%s: signed with a weak hash (SHA-1 or "
			    "older); it needs SHA-256 or better", c->cert_name);
			goto done;
		}
	}
	if (chain.raw.len > sizeof(r->leaf_der) ||
	    tls_certinfo_from_der(chain.raw.p, chain.raw.len, info, err,
	    errlen) != 0)
		goto done;

	/* Valid now, and for long enough. */
	if (now < info->not_before) {
		fmt_date(info->not_before, date, sizeof(date));
		tls_set_err(err, errlen, "%s: not valid yet (not before %s)",
		    c->cert_name, date);
		goto done;
	}
	if (now >= info->not_after) {
		fmt_date(info->not_after, date, sizeof(date));
		tls_set_err(err, errlen, "%s: expired (not after %s)",
		    c->cert_name, date);
		goto done;
	}
	r->days_left = tls_certinfo_days_left(info->not_after, now);
	if (r->days_left < c->warn_days) {
		fmt_date(info->not_after, date, sizeof(date));
		tls_set_err(err, errlen, "%s: expires in %ld day(s) (%s), fewer "
		    "than the %d of tls.expiry_warning_days", c->cert_name,
		    r->days_left, date, c->warn_days);
		goto done;
	}

	if (c->domain != NULL) {
		/* For this domain (RFC 6125 / RFC 6120 §13.7.1.2). */
		if (tls_identity_normalize(c->domain, norm, sizeof(norm)) != 0) {
			tls_set_err(err, errlen, "'%s' is not a domain name",
			    c->domain);
			goto done;
		}
		r->matched_by = tls_identity_check_cert(&chain, norm);
		if (r->matched_by == TLS_ID_NONE) {
			char names[256] = "";
			size_t i, off = 0;

			for (i = 0; i < info->nnames && off < sizeof(names); i++) {
				int n = snprintf(names + off, sizeof(names) - off,
				    "%s%s:%s", i ? ", " : "",
				    tls_id_type_str(info->names[i].type),
				    info->names[i].value);
				if (n < 0)
					break;
				off += (size_t)n;
			}
			tls_set_err(err, errlen, "%s: not valid for %s: none of "
			    "its names matches (%s; RFC 6125 DNS-ID, SRV-ID or "
			    "XmppAddr)", c->cert_name, norm,
			    info->nnames ? names : "no subjectAltName");
			goto done;
		}
		/* Trusted by peers. */
		if (chain.next == NULL && leaf_self_signed(&chain))
			r->self_signed = 1;
		else if (chain_verify(&chain, c->ca_file, err, errlen) != 0)
			goto done;
	}
	memcpy(r->pin, info->pin, sizeof(r->pin));
	memcpy(r->leaf_der, chain.raw.p, chain.raw.len);
	r->leaf_der_len = chain.raw.len;
	rc = 0;
done:
	free(info);
	mbedtls_pk_free(&key);
	mbedtls_x509_crt_free(&chain);
	if (have_rng)
		tls_rng_free(&rng);
	return rc;
}
