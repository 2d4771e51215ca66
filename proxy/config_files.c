/*
 * config_files.c - validates the files a configuration names.
 *
 * Certificates and keys are parsed with mbedTLS exactly as the TLS layer
 * will load them, and each key must match its certificate.  Private keys
 * and the dialback secret must not be readable by group or others
 * (relayd's check_file_secrecy): a key readable by everyone on a DMZ host
 * is a finding worth refusing to start over.
 */
#include "config_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "config.h"

#define DIALBACK_SECRET_MIN_BYTES 32
#define DIALBACK_SECRET_MAX_BYTES 4096

int
config_pin_decode(const char *b64, unsigned char out[32])
{
	unsigned char buf[48];
	size_t olen = 0, len = strlen(b64);

	if (len != 44)
		return -1;
	if (mbedtls_base64_decode(buf, sizeof(buf), &olen,
	    (const unsigned char *)b64, len) != 0 || olen != 32)
		return -1;
	memcpy(out, buf, 32);
	return 0;
}

static int
files_fail(const struct config *cfg, const char *path, char *err, size_t errlen,
    const char *file, const char *why)
{
	snprintf(err, errlen, "%s: %s: %s: %s", cfg->source, path, file, why);
	return -1;
}

static int
files_check_readable(const struct config *cfg, const char *path, const char *file,
    int secret, char *err, size_t errlen)
{
	struct stat st;
	char why[128];
	int fd;

	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(why, sizeof(why), "cannot open: %s", strerror(errno));
		return files_fail(cfg, path, err, errlen, file, why);
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return files_fail(cfg, path, err, errlen, file, "not a regular file");
	}
	close(fd);
	if (secret && (st.st_mode & 077) != 0) {
		snprintf(why, sizeof(why), "readable by group or others (mode %04o); chmod 600 it",
		    (unsigned)(st.st_mode & 07777));
		return files_fail(cfg, path, err, errlen, file, why);
	}
	return 0;
}

static int
files_check_cert_key(const struct config *cfg, const char *prefix, const char *cert,
    const char *key, char *err, size_t errlen)
{
	mbedtls_x509_crt crt;
	mbedtls_pk_context pk;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	char path[600], why[256], msg[160];
	int rc = -1, r;

	mbedtls_x509_crt_init(&crt);
	mbedtls_pk_init(&pk);
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	snprintf(path, sizeof(path), "%s.cert", prefix);
	if (files_check_readable(cfg, path, cert, 0, err, errlen) < 0)
		goto done;
	if ((r = mbedtls_x509_crt_parse_file(&crt, cert)) != 0) {
		mbedtls_strerror(r, msg, sizeof(msg));
		snprintf(why, sizeof(why), "not a PEM certificate: %s", msg);
		files_fail(cfg, path, err, errlen, cert, why);
		goto done;
	}
	snprintf(path, sizeof(path), "%s.key", prefix);
	if (files_check_readable(cfg, path, key, 1, err, errlen) < 0)
		goto done;
	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0) != 0) {
		files_fail(cfg, path, err, errlen, key, "no entropy to check the key");
		goto done;
	}
	if ((r = mbedtls_pk_parse_keyfile(&pk, key, NULL, mbedtls_ctr_drbg_random, &drbg)) != 0) {
		mbedtls_strerror(r, msg, sizeof(msg));
		snprintf(why, sizeof(why), "not a usable private key: %s", msg);
		files_fail(cfg, path, err, errlen, key, why);
		goto done;
	}
	if (mbedtls_pk_check_pair(&crt.pk, &pk, mbedtls_ctr_drbg_random, &drbg) != 0) {
		snprintf(why, sizeof(why), "does not match the certificate %s", cert);
		files_fail(cfg, path, err, errlen, key, why);
		goto done;
	}
	rc = 0;
done:
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	mbedtls_pk_free(&pk);
	mbedtls_x509_crt_free(&crt);
	return rc;
}

static int
files_check_secret(const struct config *cfg, const char *path, const char *file,
    char *err, size_t errlen)
{
	struct stat st;
	char why[128];

	if (files_check_readable(cfg, path, file, 1, err, errlen) < 0)
		return -1;
	if (stat(file, &st) < 0)
		return files_fail(cfg, path, err, errlen, file, strerror(errno));
	if (st.st_size < DIALBACK_SECRET_MIN_BYTES || st.st_size > DIALBACK_SECRET_MAX_BYTES) {
		snprintf(why, sizeof(why), "must hold %d to %d bytes (has %lld)",
		    DIALBACK_SECRET_MIN_BYTES, DIALBACK_SECRET_MAX_BYTES, (long long)st.st_size);
		return files_fail(cfg, path, err, errlen, file, why);
	}
	return 0;
}

int
config_check_files(const struct config *cfg, char *err, size_t errlen)
{
	char prefix[64];
	size_t i;

	/* mbedTLS 3.6 parses keys through PSA. */
	if (psa_crypto_init() != PSA_SUCCESS) {
		snprintf(err, errlen, "%s: (crypto): PSA crypto initialisation failed", cfg->source);
		return -1;
	}
	for (i = 0; i < cfg->domain_count; i++) {
		snprintf(prefix, sizeof(prefix), "domains[%zu]", i);
		if (files_check_cert_key(cfg, prefix, cfg->domains[i].cert,
		    cfg->domains[i].key, err, errlen) < 0)
			return -1;
	}
	if (cfg->gateway.enabled &&
	    files_check_cert_key(cfg, "gateway", cfg->gateway.cert, cfg->gateway.key,
	    err, errlen) < 0)
		return -1;
	if (cfg->dialback.enabled && cfg->dialback.secret_file[0] != '\0' &&
	    files_check_secret(cfg, "dialback.secret_file", cfg->dialback.secret_file,
	    err, errlen) < 0)
		return -1;
	if (cfg->tls.ca_file[0] != '\0') {
		mbedtls_x509_crt ca;
		int r;

		if (files_check_readable(cfg, "tls.ca_file", cfg->tls.ca_file, 0, err, errlen) < 0)
			return -1;
		mbedtls_x509_crt_init(&ca);
		r = mbedtls_x509_crt_parse_file(&ca, cfg->tls.ca_file);
		/* A bundle may hold certificates mbedTLS cannot use (r > 0);
		 * only a bundle with none usable is an error. */
		if (r < 0 || ca.version == 0) {
			mbedtls_x509_crt_free(&ca);
			return files_fail(cfg, "tls.ca_file", err, errlen, cfg->tls.ca_file,
			    "holds no usable PEM certificate");
		}
		mbedtls_x509_crt_free(&ca);
	}
	return 0;
}
