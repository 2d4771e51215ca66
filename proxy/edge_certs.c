/* SPDX-License-Identifier: Apache-2.0 */
/*
 * edge_certs.c - from a configuration to the TLS certificate store it
 * describes.  The daemon loads it at start and on reload, `probe` and
 * `check` load it to act as the daemon would: one place says what the
 * store holds.
 */
#include "edge_certs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "gateway_pins.h"
#include "log.h"
#include "run_user.h"

/* tls.ticket_key_file: its bytes as they are (binary or text; what
 * `check` allows: 32 to 4096 bytes, mode 0600, config_files.c). */
static int
ticket_secret_read(const char *path, uint8_t *buf, size_t cap, size_t *len,
    char *why, size_t whylen)
{
	ssize_t n;
	int fd;

	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		snprintf(why, whylen, "%.300s: %s", path, strerror(errno));
		return -1;
	}
	while (*len < cap && (n = read(fd, buf + *len, cap - *len)) > 0)
		*len += (size_t)n;
	close(fd);
	if (*len < TLS_TICKET_SECRET_MIN || *len >= cap) {
		snprintf(why, whylen, "%.300s: must hold %d to %d bytes", path,
		    TLS_TICKET_SECRET_MIN, TLS_TICKET_SECRET_MAX);
		return -1;
	}
	return 0;
}

/* The TLS certificate store for cfg: hosted domains' certificates (SNI),
 * the CA bundle, the gateway pins (gateway.pins merged with
 * STATE_DIR/gateway-pins, gateway_pins.c) and our internal-link
 * certificate. */
struct tls_certstore *
edge_certstore_load(const struct config *cfg, char *err, size_t errlen)
{
	return edge_certstore_load_keyed(cfg, NULL, 0, err, errlen);
}

struct tls_certstore *
edge_certstore_load_keyed(const struct config *cfg, const uint8_t *memory_secret,
    size_t memory_secret_len, char *err, size_t errlen)
{
	struct tls_cert_paths certs[CONFIG_MAX_DOMAINS];
	const char *pins[GATEWAY_PINS_EFFECTIVE_MAX];
	struct gateway_pins *gp = NULL;
	struct tls_certstore_config tc;
	struct tls_certstore *store;
	char why[CONFIG_ERR_MAX / 2];
	uint8_t secret[TLS_TICKET_SECRET_MAX + 1];
	size_t i, secret_len = 0;

	memset(&tc, 0, sizeof(tc));
	for (i = 0; i < cfg->domain_count; i++) {
		certs[i].domain = cfg->domains[i].name;
		certs[i].cert_path = cfg->domains[i].cert;
		certs[i].key_path = cfg->domains[i].key;
	}
	if (cfg->gateway.enabled) {
		char path[CONFIG_PATH_MAX + 32];
		struct run_user ru;

		/* The pins' owner rule needs who the daemon is (run_user.c). */
		if (run_user_current(cfg, &ru, err, errlen) != 0)
			return NULL;
		if ((gp = calloc(1, sizeof(*gp))) == NULL ||
		    gateway_pins_path(cfg, path, sizeof(path)) != 0 ||
		    gateway_pins_read(path, &ru, gp, why, sizeof(why)) != 0) {
			if (gp == NULL)
				snprintf(why, sizeof(why), "out of memory");
			snprintf(err, errlen, "%s: gateway.pins: %s", cfg->source, why);
			free(gp);
			return NULL;
		}
		tc.npins = gateway_pins_effective(cfg, gp, pins, GATEWAY_PINS_EFFECTIVE_MAX);
	}
	tc.certs = certs;
	tc.ncerts = cfg->domain_count;
	tc.default_domain = cfg->default_domain;
	tc.ca_file = cfg->tls.ca_file[0] ? cfg->tls.ca_file : NULL;
	tc.pins = pins;
	tc.internal_cert_path = cfg->gateway.enabled ? cfg->gateway.cert : NULL;
	tc.internal_key_path = cfg->gateway.enabled ? cfg->gateway.key : NULL;
	tc.ticket_lifetime_s = (uint32_t)cfg->tls.ticket_rotate_s;
	tc.no_tickets = !cfg->tls.session_tickets;
	tc.outgoing_sessions_max = (size_t)cfg->tls.outgoing_sessions_max;
	if (cfg->tls.session_tickets && cfg->tls.ticket_key_file[0] != '\0') {
		if (ticket_secret_read(cfg->tls.ticket_key_file, secret, sizeof(secret),
		    &secret_len, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: tls.ticket_key_file: %s", cfg->source, why);
			free(gp);
			return NULL;
		}
		tc.ticket_secret = secret;
		tc.ticket_secret_len = secret_len;
	} else if (cfg->tls.session_tickets && memory_secret != NULL) {
		tc.ticket_secret = memory_secret;
		tc.ticket_secret_len = memory_secret_len;
	}
	store = tls_certstore_load(&tc, why, sizeof(why));
	mbedtls_platform_zeroize(secret, sizeof(secret));
	free(gp);	/* the store copied the pins */
	if (store == NULL && snprintf(err, errlen, "%s: tls: %s", cfg->source, why) >= (int)errlen)
		err[errlen - 1] = '\0';	/* a cut message still names the file */
	return store;
}

/* STATE_DIR/outgoing_sessions into path: 0, or -1 when it does not fit. */
static int
sessions_path(const struct config *cfg, char *path, size_t cap)
{
	int n = snprintf(path, cap, "%s/%s", cfg->state_dir, EDGE_SESSIONS_FILE);

	return n > 0 && (size_t)n < cap ? 0 : -1;
}

static int
sessions_kept(const struct config *cfg)
{
	return cfg->tls.keep_outgoing_sessions && cfg->tls.session_tickets;
}

void
edge_sessions_load(const struct config *cfg, struct tls_certstore *store)
{
	struct tls_session_load_stats st;
	char path[CONFIG_PATH_MAX + sizeof(EDGE_SESSIONS_FILE) + 1], why[256];
	char loaded[24], expired[24], other[24], over[24];

	if (sessions_path(cfg, path, sizeof(path)) != 0)
		return;
	if (!sessions_kept(cfg)) {
		/* Switched off: no resumption secrets left behind. */
		if (unlink(path) == 0)
			log_event(LOG_INFO, "tls.sessions_removed", "path", path, "reason",
			    "tls.keep_outgoing_sessions or tls.session_tickets is off", NULL);
		return;
	}
	if (tls_certstore_sessions_load(store, path, &st, why, sizeof(why)) != 0) {
		log_event(LOG_WARN, "tls.sessions_refused", "path", path, "reason", why,
		    "effect", "ignored: outgoing streams start with full handshakes", NULL);
		return;
	}
	if (st.absent)
		return;
	if (unlink(path) != 0)
		log_event(LOG_WARN, "tls.sessions_remove_failed", "path", path, "reason",
		    strerror(errno), NULL);
	snprintf(loaded, sizeof(loaded), "%zu", st.loaded);
	snprintf(expired, sizeof(expired), "%zu", st.expired);
	snprintf(other, sizeof(other), "%zu", st.other_config);
	snprintf(over, sizeof(over), "%zu", st.over_bound);
	log_event(LOG_INFO, "tls.sessions_loaded", "path", path, "loaded", loaded,
	    "expired", expired, "other_configuration", other, "over_bound", over, NULL);
}

void
edge_sessions_save(const struct config *cfg, struct tls_certstore *store, const char *when)
{
	char path[CONFIG_PATH_MAX + sizeof(EDGE_SESSIONS_FILE) + 1], why[256], count[24];
	size_t saved;

	if (!sessions_kept(cfg) || store == NULL || sessions_path(cfg, path, sizeof(path)) != 0)
		return;
	if (tls_certstore_sessions_save(store, path, &saved, why, sizeof(why)) != 0) {
		log_event(LOG_WARN, "tls.sessions_save_failed", "path", path, "reason", why, NULL);
		return;
	}
	snprintf(count, sizeof(count), "%zu", saved);
	log_event(LOG_INFO, "tls.sessions_saved", "path", path, "sessions", count, "when", when, NULL);
}
