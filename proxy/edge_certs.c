/* SPDX-License-Identifier: Apache-2.0 */
/*
 * edge_certs.c - from a configuration to the TLS certificate store it
 * describes.  The daemon loads it at start and on reload, `probe` and
 * `check` load it to act as the daemon would: one place says what the
 * store holds.
 */
#include "edge_certs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway_pins.h"
#include "run_user.h"

/* The TLS certificate store for cfg: hosted domains' certificates (SNI),
 * the CA bundle, the gateway pins (gateway.pins merged with
 * STATE_DIR/gateway-pins, gateway_pins.c) and our internal-link
 * certificate. */
struct tls_certstore *
edge_certstore_load(const struct config *cfg, char *err, size_t errlen)
{
	struct tls_cert_paths certs[CONFIG_MAX_DOMAINS];
	const char *pins[GATEWAY_PINS_EFFECTIVE_MAX];
	struct gateway_pins *gp = NULL;
	struct tls_certstore_config tc;
	struct tls_certstore *store;
	char why[CONFIG_ERR_MAX / 2];
	size_t i;

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
	store = tls_certstore_load(&tc, why, sizeof(why));
	free(gp);	/* the store copied the pins */
	if (store == NULL && snprintf(err, errlen, "%s: tls: %s", cfg->source, why) >= (int)errlen)
		err[errlen - 1] = '\0';	/* a cut message still names the file */
	return store;
}
