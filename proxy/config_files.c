/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config_files.c - validates the files a configuration names.
 *
 * First the account the daemon serves as (run_user.c): `check` and `run`
 * refuse the same `user` and control.admin_group with the same words.
 *
 * Certificates, keys and the CA bundle are checked by the TLS layer's own
 * loader (tls_check_cert_key, tls_check_ca), so `check` accepts exactly
 * what `run` will load: the chain parses, the key is not accessible by
 * others nor writable by its group (relayd's check_file_secrecy, with
 * Debian's 0640 root:ssl-cert allowed), parses and matches.  Here, as
 * relayd does too: keys and the dialback secret belong to root or to the
 * daemon's user, nobody else (an owner can chmod its file open again).
 * The dialback secret is ours to check: private and long enough
 * (XEP-0185 §3).  STATE_DIR/gateway-pins is read with its owner rule
 * (gateway_pins.c), so a file `run` would refuse fails `check` too.
 */
#include "config_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "gateway_pins.h"
#include "run_user.h"
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

/* why gets "FILE: WHAT is owned by uid N, neither root nor ..." when st
 * is not root's or the daemon's user's; 0 when it is. */
static int
files_owner_refused(const struct run_user *ru, const struct stat *st, const char *file,
    const char *what, char *why, size_t whylen)
{
	if (run_user_may_own_secret(ru, st->st_uid))
		return 0;
	snprintf(why, whylen, "%s: %s is owned by uid %u, neither root nor the daemon's user "
	    "(uid %u); chown it to one of them", file, what, (unsigned)st->st_uid,
	    (unsigned)ru->uid);
	return 1;
}

static int
files_check_cert_key(const struct config *cfg, const struct run_user *ru, const char *prefix,
    const char *cert, const char *key, char *err, size_t errlen)
{
	char path[96], why[CONFIG_ERR_MAX / 2];
	struct stat st;
	int key_fault;

	if (tls_check_cert_key(cert, key, &key_fault, why, sizeof(why)) != 0) {
		snprintf(path, sizeof(path), "%s.%s", prefix, key_fault ? "key" : "cert");
		return files_fail(cfg, path, err, errlen, why);
	}
	snprintf(path, sizeof(path), "%s.key", prefix);
	if (stat(key, &st) != 0) {
		snprintf(why, sizeof(why), "%s: cannot read key: %s", key, strerror(errno));
		return files_fail(cfg, path, err, errlen, why);
	}
	if (files_owner_refused(ru, &st, key, "key", why, sizeof(why)))
		return files_fail(cfg, path, err, errlen, why);
	return 0;
}

static int
files_check_secret(const struct config *cfg, const struct run_user *ru, const char *path,
    const char *file, char *err, size_t errlen)
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
	if (files_owner_refused(ru, &st, file, "the secret", why, sizeof(why)))
		return files_fail(cfg, path, err, errlen, why);
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
	struct run_user_group admins;
	struct run_user ru;
	size_t i;

	if (run_user_current(cfg, &ru, err, errlen) < 0 ||
	    run_user_admin_group(cfg, &admins, err, errlen) < 0)
		return -1;
	for (i = 0; i < cfg->domain_count; i++) {
		snprintf(prefix, sizeof(prefix), "domains[%zu]", i);
		if (files_check_cert_key(cfg, &ru, prefix, cfg->domains[i].cert,
		    cfg->domains[i].key, err, errlen) < 0)
			return -1;
	}
	if (cfg->gateway.enabled &&
	    files_check_cert_key(cfg, &ru, "gateway", cfg->gateway.cert, cfg->gateway.key,
	    err, errlen) < 0)
		return -1;
	if (cfg->gateway.enabled) {
		struct gateway_pins gp;
		char path[CONFIG_PATH_MAX + 32];

		if (gateway_pins_path(cfg, path, sizeof(path)) != 0)
			return files_fail(cfg, "gateway.pins", err, errlen, "state_dir: path too long");
		if (gateway_pins_read(path, &ru, &gp, why, sizeof(why)) != 0)
			return files_fail(cfg, "gateway.pins", err, errlen, why);
	}
	if (cfg->dialback.enabled && cfg->dialback.secret_file[0] != '\0' &&
	    files_check_secret(cfg, &ru, "dialback.secret_file", cfg->dialback.secret_file,
	    err, errlen) < 0)
		return -1;
	if (cfg->tls.session_tickets && cfg->tls.ticket_key_file[0] != '\0' &&
	    files_check_secret(cfg, &ru, "tls.ticket_key_file", cfg->tls.ticket_key_file,
	    err, errlen) < 0)
		return -1;
	if (cfg->tls.ca_file[0] != '\0' && tls_check_ca(cfg->tls.ca_file, why, sizeof(why)) < 0)
		return files_fail(cfg, "tls.ca_file", err, errlen, why);
	return 0;
}
