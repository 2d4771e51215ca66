/*
 * config_files.c - validates the files a configuration names.
 *
 * Certificates, keys and the CA bundle are checked by the TLS layer's own
 * loader (tls_check_cert_key, tls_check_ca), so `check` accepts exactly
 * what `run` will load: the chain parses, the key is not accessible by
 * others (relayd's check_file_secrecy, with Debian's 0640 root:ssl-cert
 * allowed), parses and matches.  The dialback secret is ours to check:
 * private and long enough (XEP-0185 §3).
 */
#include "config_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "tls.h"

#define DIALBACK_SECRET_MIN_BYTES 32
#define DIALBACK_SECRET_MAX_BYTES 4096

static int
files_fail(const struct config *cfg, const char *path, char *err, size_t errlen,
    const char *why)
{
	if (snprintf(err, errlen, "%s: %s: %s", cfg->source, path, why) >= (int)errlen)
		err[errlen - 1] = '\0';
	return -1;
}

static int
files_check_cert_key(const struct config *cfg, const char *prefix, const char *cert,
    const char *key, char *err, size_t errlen)
{
	char path[96], why[CONFIG_ERR_MAX / 2];
	int key_fault;

	if (tls_check_cert_key(cert, key, &key_fault, why, sizeof(why)) == 0)
		return 0;
	snprintf(path, sizeof(path), "%s.%s", prefix, key_fault ? "key" : "cert");
	return files_fail(cfg, path, err, errlen, why);
}

static int
files_check_secret(const struct config *cfg, const char *path, const char *file,
    char *err, size_t errlen)
{
	char why[CONFIG_PATH_MAX + 128];
	struct stat st;
	int fd;

	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(why, sizeof(why), "%s: cannot open: %s", file, strerror(errno));
		if (fd >= 0)
			close(fd);
		return files_fail(cfg, path, err, errlen, why);
	}
	close(fd);
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, sizeof(why), "%s: not a regular file", file);
		return files_fail(cfg, path, err, errlen, why);
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(why, sizeof(why), "%s: readable by group or others (mode %04o); chmod 600 it",
		    file, (unsigned)(st.st_mode & 07777));
		return files_fail(cfg, path, err, errlen, why);
	}
	if (st.st_size < DIALBACK_SECRET_MIN_BYTES || st.st_size > DIALBACK_SECRET_MAX_BYTES) {
		snprintf(why, sizeof(why), "%s: must hold %d to %d bytes (has %lld)", file,
		    DIALBACK_SECRET_MIN_BYTES, DIALBACK_SECRET_MAX_BYTES, (long long)st.st_size);
		return files_fail(cfg, path, err, errlen, why);
	}
	return 0;
}

int
config_check_files(const struct config *cfg, char *err, size_t errlen)
{
	char prefix[64], why[CONFIG_ERR_MAX / 2];
	size_t i;

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
	if (cfg->tls.ca_file[0] != '\0' && tls_check_ca(cfg->tls.ca_file, why, sizeof(why)) < 0)
		return files_fail(cfg, "tls.ca_file", err, errlen, why);
	return 0;
}
