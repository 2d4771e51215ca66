/* SPDX-License-Identifier: Apache-2.0 */
/*
 * csr.c - PKCS#10 certificate signing requests for an XMPP server domain
 * (`xmpp-edge cert csr`).
 *
 * RFC 6120 §13.7.1.2.1: a server certificate SHOULD carry the domain as
 * an SRV-ID (RFC 4985 SRVName "_xmpp-server.DOMAIN") and/or a DNS-ID
 * (dNSName), MAY carry an XmppAddr (§13.7.1.4) for older software, and
 * the CN is not relied upon.  The request asks for all three; public CAs
 * issue the dNSName and drop what they do not support, private CAs
 * (AD CS for Lync/Skype for Business) can keep the rest.
 *
 * The subjectAltName is encoded by selfsigned.c's tls_san_build (mbedTLS
 * cannot write otherName itself) and placed in the extensionRequest.
 */
#include "certops.h"
#include "tls_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_csr.h>

#define CSR_SAN_MAX 2048
#define CSR_KEY_PEM_MAX 8192

int
tls_csr_create(const char *domain, const char *key_path, int new_key,
    enum tls_key_type key_type, char *pem, size_t cap, char *err,
    size_t errlen)
{
	char norm[TLS_DOMAIN_MAX + 1], srv[TLS_DOMAIN_MAX + 16];
	char subject[TLS_DOMAIN_MAX + 8], ebuf[160];
	unsigned char san[CSR_SAN_MAX], *sander, *keypem = NULL;
	mbedtls_x509write_csr csr;
	mbedtls_pk_context key;
	struct tls_certgen spec;
	struct tls_rng rng;
	struct stat st;
	size_t sanlen;
	int ret, rc = -1;

	mbedtls_x509write_csr_init(&csr);
	mbedtls_pk_init(&key);
	if ((ret = tls_rng_init(&rng, "xmpp-edge csr")) != 0) {
		tls_set_err(err, errlen, "random generator: %s",
		    tls_strerror(ret, ebuf, sizeof(ebuf)));
		mbedtls_x509write_csr_free(&csr);
		mbedtls_pk_free(&key);
		return -1;
	}
	if (tls_identity_normalize(domain, norm, sizeof(norm)) != 0) {
		tls_set_err(err, errlen, "'%s' is not a domain name", domain);
		goto done;
	}
	if (new_key) {
		if (stat(key_path, &st) == 0) {
			tls_set_err(err, errlen, "%s: exists; --new-key never "
			    "overwrites a key", key_path);
			goto done;
		}
		if ((ret = tls_key_generate(&rng, &key, key_type)) != 0) {
			tls_set_err(err, errlen, "%s: key generation: %s",
			    key_path, tls_strerror(ret, ebuf, sizeof(ebuf)));
			goto done;
		}
		if ((keypem = calloc(1, CSR_KEY_PEM_MAX)) == NULL) {
			tls_set_err(err, errlen, "out of memory");
			goto done;
		}
		if ((ret = mbedtls_pk_write_key_pem(&key, keypem,
		    CSR_KEY_PEM_MAX)) != 0) {
			tls_set_err(err, errlen, "%s: cannot encode key: %s",
			    key_path, tls_strerror(ret, ebuf, sizeof(ebuf)));
			goto done;
		}
		if (tls_file_write_atomic(key_path, keypem,
		    strlen((char *)keypem), 0600, err, errlen) != 0)
			goto done;
	} else if ((ret = mbedtls_pk_parse_keyfile(&key, key_path, NULL,
	    mbedtls_ctr_drbg_random, &rng.drbg)) != 0) {
		tls_set_err(err, errlen, "%s: cannot load private key: %s",
		    key_path, tls_strerror(ret, ebuf, sizeof(ebuf)));
		goto done;
	}

	memset(&spec, 0, sizeof(spec));
	snprintf(srv, sizeof(srv), "_xmpp-server.%s", norm);
	spec.dns_names[0] = norm;
	spec.srv_names[0] = srv;
	spec.xmpp_addrs[0] = norm;
	if ((ret = tls_san_build(&spec, san, sizeof(san), &sander,
	    &sanlen)) < 0)
		goto fail_csr;
	snprintf(subject, sizeof(subject), "CN=%s", norm);
	mbedtls_x509write_csr_set_key(&csr, &key);
	mbedtls_x509write_csr_set_md_alg(&csr, MBEDTLS_MD_SHA256);
	if ((ret = mbedtls_x509write_csr_set_subject_name(&csr, subject)) != 0 ||
	    (ret = mbedtls_x509write_csr_set_key_usage(&csr,
	    MBEDTLS_X509_KU_DIGITAL_SIGNATURE)) != 0 ||
	    (ret = mbedtls_x509write_csr_set_extension(&csr,
	    MBEDTLS_OID_SUBJECT_ALT_NAME,
	    MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, sander,
	    sanlen)) != 0)
		goto fail_csr;
	if ((ret = mbedtls_x509write_csr_pem(&csr, (unsigned char *)pem, cap,
	    mbedtls_ctr_drbg_random, &rng.drbg)) != 0)
		goto fail_csr;
	rc = 0;
	goto done;
fail_csr:
	tls_set_err(err, errlen, "cannot create the request: %s",
	    tls_strerror(ret, ebuf, sizeof(ebuf)));
done:
	if (keypem != NULL) {
		mbedtls_platform_zeroize(keypem, CSR_KEY_PEM_MAX);
		free(keypem);
	}
	mbedtls_x509write_csr_free(&csr);
	mbedtls_pk_free(&key);
	tls_rng_free(&rng);
	return rc;
}
