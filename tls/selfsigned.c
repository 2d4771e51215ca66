/* SPDX-License-Identifier: Apache-2.0 */
/*
 * selfsigned.c - certificate generation: ECDSA P-256 keys and X.509 v3
 * certificates, self-signed or issued by a local CA.
 *
 * The daemon calls tls_selfsigned_create() on first start of the embedded
 * default configuration, so a fresh install can speak TLS at once (peers
 * will see an untrusted certificate and fall back to dialback, which is
 * what XEP-0220 is for).  The unit and interop tests use
 * tls_certgen_create() to make CAs, leaves, expired and not-yet-valid
 * certificates at test time: no private key is ever committed.
 *
 * The subjectAltName extension is assembled here with asn1write rather
 * than mbedtls_x509write_crt_set_subject_alternative_name(), because
 * mbedTLS cannot write the otherName forms XMPP uses (RFC 6120 §13.7.1.4
 * id-on-xmppAddr, RFC 4985 SRVName).
 *
 * Files are written to a temporary file in the same directory, fsync'd
 * and renamed over the target: a crash never leaves a truncated key.  The
 * key file is created 0600 (mkstemp) and stays so.
 */
#include "tls.h"
#include "tls_int.h"

#include <errno.h>
#include <libgen.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/asn1write.h>
#include <mbedtls/ecp.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#define CERTGEN_VALIDITY_S (10L * 366 * 24 * 3600)
#define CERTGEN_BACKDATE_S 3600L
#define CERTGEN_PEM_MAX 8192
#define CERTGEN_SAN_MAX 8192
#define CERTGEN_NAME_MAX 253		/* RFC 1035 §2.3.4, textual form */

/* RFC 6120 §13.7.1.4 and RFC 4985 §2. */
#define OID_ON_XMPPADDR MBEDTLS_OID_PKIX "\x08\x05"
#define OID_ON_DNSSRV MBEDTLS_OID_PKIX "\x08\x07"

/* Names go into "CN=..." strings that mbedTLS parses, and into SANs:
 * refuse anything that would change the DN's structure or is not text. */
static int
name_ok(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strlen(s);
	if (n == 0 || n > CERTGEN_NAME_MAX)
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f || strchr(",=+\\\"<>;#", c))
			return 0;
	}
	return 1;
}

static int
fmt_time(time_t t, char out[15])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999 ||
	    tm.tm_year + 1900 < 1950)
		return -1;
	/* strftime: the fields are bounded, which snprintf's %02d of an int
	 * cannot tell the compiler. */
	if (strftime(out, 15, "%Y%m%d%H%M%S", &tm) != 14)
		return -1;
	return 0;
}

/* One otherName: [0] IMPLICIT SEQUENCE { type-id OID, [0] EXPLICIT value }
 * written backwards before *p.  Returns the length written or < 0. */
static int
san_write_othername(unsigned char **p, unsigned char *start, const char *oid,
    size_t oidlen, int string_tag, const char *value)
{
	int ret;
	size_t len = 0;

	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tagged_string(p, start,
	    string_tag, value, strlen(value)));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(p, start, len));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(p, start,
	    MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_oid(p, start, oid, oidlen));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(p, start, len));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(p, start,
	    MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED |
	    MBEDTLS_X509_SAN_OTHER_NAME));
	return (int)len;
}

/* GeneralNames of the spec, written backwards ending at buf + size.  On
 * success *der points into buf. */
int
tls_san_build(const struct tls_certgen *spec, unsigned char *buf, size_t size,
    unsigned char **der, size_t *derlen)
{
	unsigned char *p = buf + size;
	size_t len = 0;
	int ret, i;

	for (i = TLS_CERTGEN_MAX_NAMES - 1; i >= 0; i--) {
		if (spec->srv_names[i] == NULL)
			continue;
		MBEDTLS_ASN1_CHK_ADD(len, san_write_othername(&p, buf,
		    OID_ON_DNSSRV, MBEDTLS_OID_SIZE(OID_ON_DNSSRV),
		    MBEDTLS_ASN1_IA5_STRING, spec->srv_names[i]));
	}
	for (i = TLS_CERTGEN_MAX_NAMES - 1; i >= 0; i--) {
		if (spec->xmpp_addrs[i] == NULL)
			continue;
		MBEDTLS_ASN1_CHK_ADD(len, san_write_othername(&p, buf,
		    OID_ON_XMPPADDR, MBEDTLS_OID_SIZE(OID_ON_XMPPADDR),
		    MBEDTLS_ASN1_UTF8_STRING, spec->xmpp_addrs[i]));
	}
	for (i = TLS_CERTGEN_MAX_NAMES - 1; i >= 0; i--) {
		if (spec->dns_names[i] == NULL)
			continue;
		/* dNSName [2] IMPLICIT IA5String */
		MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tagged_string(&p,
		    buf, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME,
		    spec->dns_names[i], strlen(spec->dns_names[i])));
	}
	if (len == 0) {
		*der = NULL;
		*derlen = 0;
		return 0;
	}
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_len(&p, buf, len));
	MBEDTLS_ASN1_CHK_ADD(len, mbedtls_asn1_write_tag(&p, buf,
	    MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE));
	*der = p;
	*derlen = len;
	return 0;
}

int
tls_file_write_atomic_owned(const char *path, const unsigned char *data, size_t len,
    unsigned mode, int uid, int gid, char *err, size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	size_t off = 0;
	int fd, dfd, n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		tls_set_err(err, errlen, "%s: path too long", path);
		return -1;
	}
	fd = mkstemp(tmp);	/* created 0600: never readable early */
	if (fd < 0) {
		tls_set_err(err, errlen, "%s: cannot create a file beside it: %s", path,
		    strerror(errno));
		return -1;
	}
	if (geteuid() == 0 && uid >= 0 && fchown(fd, (uid_t)uid, (gid_t)gid) != 0)
		goto fail;
	if (fchmod(fd, (mode_t)mode) != 0)
		goto fail;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		off += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	/* The rename itself reaches the disk with the directory. */
	snprintf(dir, sizeof(dir), "%s", path);
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	tls_set_err(err, errlen, "%s: cannot write: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

int
tls_file_write_atomic(const char *path, const unsigned char *data, size_t len,
    unsigned mode, char *err, size_t errlen)
{
	return tls_file_write_atomic_owned(path, data, len, mode, -1, -1, err, errlen);
}

/* extendedKeyUsage of a leaf (RFC 5280 §4.2.1.12).  The default names
 * both purposes: an XMPP server is the TLS client when it initiates s2s
 * and presents the same certificate.  TLS_EKU_NONE writes no extension
 * (any purpose). */
static int
certgen_set_eku(mbedtls_x509write_cert *crt, enum tls_certgen_eku eku)
{
	mbedtls_asn1_sequence seq[2];
	size_t n = 0;

	memset(seq, 0, sizeof(seq));
	switch (eku) {
	case TLS_EKU_NONE:
		return 0;
	case TLS_EKU_SERVER_CLIENT:
	case TLS_EKU_SERVER:
		seq[n].buf.p = (unsigned char *)MBEDTLS_OID_SERVER_AUTH;
		seq[n++].buf.len = MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH);
		if (eku == TLS_EKU_SERVER)
			break;
		/* FALLTHROUGH */
	case TLS_EKU_CLIENT:
		seq[n].buf.p = (unsigned char *)MBEDTLS_OID_CLIENT_AUTH;
		seq[n++].buf.len = MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH);
		break;
	case TLS_EKU_CODE_SIGNING:
		seq[n].buf.p = (unsigned char *)MBEDTLS_OID_CODE_SIGNING;
		seq[n++].buf.len = MBEDTLS_OID_SIZE(MBEDTLS_OID_CODE_SIGNING);
		break;
	}
	seq[0].buf.tag = seq[1].buf.tag = MBEDTLS_ASN1_OID;
	if (n == 2)
		seq[0].next = &seq[1];
	return mbedtls_x509write_crt_set_ext_key_usage(crt, &seq[0]);
}

int
tls_certgen_create(const struct tls_certgen *spec, const char *cert_path,
    const char *key_path, char *err, size_t errlen)
{
	struct tls_rng rng;
	mbedtls_pk_context key, issuer_key;
	mbedtls_x509_crt issuer;
	mbedtls_x509write_cert crt;
	unsigned char serial[16], *pem = NULL, *san = NULL, *sander;
	char subject[CERTGEN_NAME_MAX + 8], issuer_dn[512];
	char from[15], to[15], ebuf[200];
	size_t sanlen;
	time_t nb, na;
	int ret, rc = -1, i;

	mbedtls_pk_init(&key);
	mbedtls_pk_init(&issuer_key);
	mbedtls_x509_crt_init(&issuer);
	mbedtls_x509write_crt_init(&crt);
	memset(&rng, 0, sizeof(rng));

	if (!name_ok(spec->subject_cn)) {
		tls_set_err(err, errlen, "%s: invalid subject name '%s'",
		    cert_path, spec->subject_cn ? spec->subject_cn : "");
		goto out_noring;
	}
	for (i = 0; i < TLS_CERTGEN_MAX_NAMES; i++) {
		if ((spec->dns_names[i] && !name_ok(spec->dns_names[i])) ||
		    (spec->xmpp_addrs[i] && !name_ok(spec->xmpp_addrs[i])) ||
		    (spec->srv_names[i] && !name_ok(spec->srv_names[i]))) {
			tls_set_err(err, errlen, "%s: invalid name in "
			    "subjectAltName", cert_path);
			goto out_noring;
		}
	}
	nb = spec->not_before ? spec->not_before : time(NULL) - CERTGEN_BACKDATE_S;
	na = spec->not_after ? spec->not_after : nb + CERTGEN_VALIDITY_S;
	if (fmt_time(nb, from) != 0 || fmt_time(na, to) != 0 || na <= nb) {
		tls_set_err(err, errlen, "%s: invalid validity period",
		    cert_path);
		goto out_noring;
	}
	if ((ret = tls_rng_init(&rng, "xmpp-edge certgen")) != 0) {
		tls_set_err(err, errlen, "%s: random generator: %s", cert_path,
		    tls_strerror(ret, ebuf, sizeof(ebuf)));
		goto out;
	}

	/* The key pair. */
	if ((ret = tls_key_generate(&rng, &key, spec->key_type)) != 0) {
		tls_set_err(err, errlen, "%s: key generation: %s", key_path,
		    tls_strerror(ret, ebuf, sizeof(ebuf)));
		goto out;
	}

	snprintf(subject, sizeof(subject), "CN=%s", spec->subject_cn);
	if (spec->issuer_cert_path != NULL) {
		if ((ret = mbedtls_x509_crt_parse_file(&issuer,
		    spec->issuer_cert_path)) != 0) {
			tls_set_err(err, errlen, "%s: cannot load issuer "
			    "certificate: %s", spec->issuer_cert_path,
			    tls_strerror(ret, ebuf, sizeof(ebuf)));
			goto out;
		}
		if ((ret = mbedtls_pk_parse_keyfile(&issuer_key,
		    spec->issuer_key_path ? spec->issuer_key_path : "", NULL,
		    mbedtls_ctr_drbg_random, &rng.drbg)) != 0) {
			tls_set_err(err, errlen, "%s: cannot load issuer key: %s",
			    spec->issuer_key_path ? spec->issuer_key_path : "(none)",
			    tls_strerror(ret, ebuf, sizeof(ebuf)));
			goto out;
		}
		if (mbedtls_x509_dn_gets(issuer_dn, sizeof(issuer_dn),
		    &issuer.subject) < 0) {
			tls_set_err(err, errlen, "%s: issuer name too long",
			    spec->issuer_cert_path);
			goto out;
		}
		mbedtls_x509write_crt_set_issuer_key(&crt, &issuer_key);
	} else {
		snprintf(issuer_dn, sizeof(issuer_dn), "%s", subject);
		mbedtls_x509write_crt_set_issuer_key(&crt, &key);
	}
	mbedtls_x509write_crt_set_subject_key(&crt, &key);
	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);

	/* RFC 5280 §4.1.2.2: positive, at most 20 octets, unpredictable. */
	if ((ret = mbedtls_ctr_drbg_random(&rng.drbg, serial,
	    sizeof(serial))) != 0)
		goto fail_crt;
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x01);

	if ((ret = mbedtls_x509write_crt_set_serial_raw(&crt, serial,
	    sizeof(serial))) != 0 ||
	    (ret = mbedtls_x509write_crt_set_subject_name(&crt, subject)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_issuer_name(&crt, issuer_dn)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_validity(&crt, from, to)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_basic_constraints(&crt,
	    spec->is_ca, -1)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_subject_key_identifier(&crt)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_authority_key_identifier(&crt)) != 0)
		goto fail_crt;
	if (spec->is_ca) {
		ret = mbedtls_x509write_crt_set_key_usage(&crt,
		    MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN);
		if (ret != 0)
			goto fail_crt;
	} else {
		ret = mbedtls_x509write_crt_set_key_usage(&crt,
		    MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
		if (ret != 0)
			goto fail_crt;
		if ((ret = certgen_set_eku(&crt, spec->eku)) != 0)
			goto fail_crt;
	}
	if ((san = calloc(1, CERTGEN_SAN_MAX)) == NULL) {
		tls_set_err(err, errlen, "%s: out of memory", cert_path);
		goto out;
	}
	if ((ret = tls_san_build(spec, san, CERTGEN_SAN_MAX, &sander, &sanlen)) < 0)
		goto fail_crt;
	if (sanlen > 0 && (ret = mbedtls_x509write_crt_set_extension(&crt,
	    MBEDTLS_OID_SUBJECT_ALT_NAME,
	    MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, sander,
	    sanlen)) != 0)
		goto fail_crt;

	if ((pem = calloc(1, CERTGEN_PEM_MAX)) == NULL) {
		tls_set_err(err, errlen, "%s: out of memory", cert_path);
		goto out;
	}
	/* The key first: a certificate without its key is useless, a key
	 * without its certificate is regenerated on the next start. */
	if ((ret = mbedtls_pk_write_key_pem(&key, pem, CERTGEN_PEM_MAX)) != 0) {
		tls_set_err(err, errlen, "%s: cannot encode key: %s", key_path,
		    tls_strerror(ret, ebuf, sizeof(ebuf)));
		goto out;
	}
	if (tls_file_write_atomic(key_path, pem, strlen((char *)pem), 0600, err,
	    errlen) != 0)
		goto out;
	mbedtls_platform_zeroize(pem, CERTGEN_PEM_MAX);
	if ((ret = mbedtls_x509write_crt_pem(&crt, pem, CERTGEN_PEM_MAX,
	    mbedtls_ctr_drbg_random, &rng.drbg)) != 0)
		goto fail_crt;
	if (tls_file_write_atomic(cert_path, pem, strlen((char *)pem), 0644, err,
	    errlen) != 0)
		goto out;
	rc = 0;
	goto out;

fail_crt:
	tls_set_err(err, errlen, "%s: cannot create certificate: %s", cert_path,
	    tls_strerror(ret, ebuf, sizeof(ebuf)));
out:
	tls_rng_free(&rng);
out_noring:
	if (pem != NULL) {
		mbedtls_platform_zeroize(pem, CERTGEN_PEM_MAX);
		free(pem);
	}
	free(san);
	mbedtls_x509write_crt_free(&crt);
	mbedtls_x509_crt_free(&issuer);
	mbedtls_pk_free(&issuer_key);
	mbedtls_pk_free(&key);
	return rc;
}

int
tls_selfsigned_create(const char *domain, const char *cert_path,
    const char *key_path, char *err, size_t errlen)
{
	struct tls_certgen spec;

	memset(&spec, 0, sizeof(spec));
	spec.subject_cn = domain;
	spec.dns_names[0] = domain;
	return tls_certgen_create(&spec, cert_path, key_path, err, errlen);
}
