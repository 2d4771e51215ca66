/* SPDX-License-Identifier: Apache-2.0 */
/*
 * default_config.c - the embedded default configuration (see the header).
 *
 * The default is JSON text run through the same loader as a file, so it
 * is validated by the same schema and cannot drift from it.
 */
#include "default_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_files.h"
#include "log.h"
#include "tls.h"

#define DIALBACK_SECRET_BYTES 32

void
default_state_dir(char *out, size_t cap)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	if (geteuid() == 0)
		snprintf(out, cap, "/var/lib/xmpp-edge");
	else if (xdg != NULL && xdg[0] == '/')
		snprintf(out, cap, "%s/xmpp-edge", xdg);
	else if (home != NULL && home[0] == '/')
		snprintf(out, cap, "%s/.local/state/xmpp-edge", home);
	else
		snprintf(out, cap, "/tmp/xmpp-edge-%u", (unsigned)geteuid());
}

/* Writes s as a JSON string literal body (no quotes) into out. */
static int
json_escape(const char *s, char *out, size_t cap)
{
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (o + 7 >= cap)
			return -1;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return 0;
}

static int
mkdir_p(const char *path, mode_t mode)
{
	char tmp[CONFIG_PATH_MAX];
	char *p;

	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -1;
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int
state_dir_prepare(struct config *cfg, char *err, size_t errlen)
{
	char path[CONFIG_PATH_MAX], hex[DIALBACK_SECRET_BYTES * 2 + 2];
	unsigned char raw[DIALBACK_SECRET_BYTES];
	size_t i;
	int fd;

	if (mkdir_p(cfg->state_dir, 0750) < 0) {
		snprintf(err, errlen, "%s: state_dir: cannot create %s: %s", cfg->source,
		    cfg->state_dir, strerror(errno));
		return -1;
	}
	if (!cfg->dialback.enabled || cfg->dialback.secret_file[0] != '\0')
		return 0;
	if (snprintf(path, sizeof(path), "%s/dialback.secret", cfg->state_dir) >= (int)sizeof(path)) {
		snprintf(err, errlen, "%s: state_dir: path too long", cfg->source);
		return -1;
	}
	memcpy(cfg->dialback.secret_file, path, sizeof(path));
	if (access(path, F_OK) == 0)
		return 0;
	/* XEP-0185 §3: a secret of sufficient entropy, kept private. */
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		snprintf(err, errlen, "%s: dialback.secret_file: no randomness: %s", cfg->source,
		    strerror(errno));
		return -1;
	}
	for (i = 0; i < sizeof(raw); i++)
		snprintf(hex + i * 2, 3, "%02x", raw[i]);
	hex[sizeof(raw) * 2] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, hex, sizeof(raw) * 2 + 1) != (ssize_t)(sizeof(raw) * 2 + 1)) {
		snprintf(err, errlen, "%s: dialback.secret_file: cannot write %s: %s", cfg->source,
		    path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(hex, sizeof(hex));
	log_event(LOG_INFO, "state.dialback_secret_created", "path", path, NULL);
	return 0;
}

struct config *
default_config_load(const char *state_dir, int create_files, char *err, size_t errlen)
{
	char dir[CONFIG_PATH_MAX], esc[CONFIG_PATH_MAX * 2], json[8192];
	char cert[CONFIG_PATH_MAX + 64], key[CONFIG_PATH_MAX + 64];
	struct config *cfg;
	int n;

	if (state_dir != NULL)
		snprintf(dir, sizeof(dir), "%s", state_dir);
	else
		default_state_dir(dir, sizeof(dir));
	if (json_escape(dir, esc, sizeof(esc)) < 0) {
		snprintf(err, errlen, "(embedded default): state_dir: path too long");
		return NULL;
	}
	n = snprintf(json, sizeof(json),
	    "{\n"
	    "  \"state_dir\": \"%s\",\n"
	    "  \"domains\": [ { \"name\": \"" DEFAULT_DOMAIN "\",\n"
	    "                 \"cert\": \"%s/" DEFAULT_DOMAIN ".crt\",\n"
	    "                 \"key\": \"%s/" DEFAULT_DOMAIN ".key\" } ],\n"
	    "  \"listen\": { \"starttls\": [\"127.0.0.1:5269\"],\n"
	    "              \"direct_tls\": [\"127.0.0.1:5270\"] }\n"
	    "}\n", esc, esc, esc);
	if (n < 0 || (size_t)n >= sizeof(json)) {
		snprintf(err, errlen, "(embedded default): state_dir: path too long");
		return NULL;
	}
	cfg = config_parse("(embedded default)", json, (size_t)n, 0, err, errlen);
	if (cfg == NULL)
		return NULL;
	cfg->demo = 1;
	if (!create_files)
		return cfg;
	if (state_dir_prepare(cfg, err, errlen) < 0)
		goto fail;
	snprintf(cert, sizeof(cert), "%s", cfg->domains[0].cert);
	snprintf(key, sizeof(key), "%s", cfg->domains[0].key);
	if (access(cert, F_OK) != 0 || access(key, F_OK) != 0) {
		char why[512];
		if (tls_selfsigned_create(DEFAULT_DOMAIN, cert, key, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "(embedded default): domains[0].cert: %s", why);
			goto fail;
		}
		log_event(LOG_INFO, "state.certificate_created", "domain", DEFAULT_DOMAIN,
		    "cert", cert, "key", key, "kind", "self-signed ECDSA P-256", NULL);
	}
	if (config_check_files(cfg, err, errlen) < 0)
		goto fail;
	return cfg;
fail:
	config_free(cfg);
	return NULL;
}
