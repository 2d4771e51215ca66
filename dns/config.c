/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c - the "dns" configuration section: defaults (the same values
 * as proxy/config_schema.c's, which a unit test holds in step) and the
 * checks for callers that do not come through the configuration file
 * (`xmpp-edge resolve --server`): server address syntax, min <= max.
 * Ranges are the schema's business.  The meaning of every field is documented at struct
 * dns_config in dns.h, the one place users and the config table look.
 */
#include "dns.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"

void
dns_config_defaults(struct dns_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nservers = 0;
	cfg->timeout_ms = 2000;
	cfg->tries = 2;
	cfg->cache_min_ttl_s = 30;
	cfg->cache_max_ttl_s = 86400;
	cfg->negative_ttl_s = 60;
	cfg->cache_max_entries = 4096;
	cfg->max_srv_targets = 16;
	cfg->max_addresses = 32;
	cfg->connect_timeout_ms = 5000;
	cfg->stagger_ms = 250;
}

int
dns_config_add_server(struct dns_config *cfg, const char *server)
{
	size_t len = strlen(server);

	if (cfg->nservers == DNS_SERVERS_MAX || len >= DNS_SERVER_STR_MAX)
		return -1;
	memcpy(cfg->servers[cfg->nservers], server, len + 1);
	cfg->nservers++;
	return 0;
}

int
dns_config_validate(const struct dns_config *cfg, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	char why[128];
	size_t i;

	if (cfg->nservers > DNS_SERVERS_MAX) {
		snprintf(err, errlen, "dns.servers: at most %d servers", DNS_SERVERS_MAX);
		return -1;
	}
	for (i = 0; i < cfg->nservers; i++) {
		if (memchr(cfg->servers[i], '\0', DNS_SERVER_STR_MAX) == NULL) {
			snprintf(err, errlen, "dns.servers[%zu]: too long", i);
			return -1;
		}
		if (netaddr_parse(cfg->servers[i], &ss, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "dns.servers[%zu]: \"%s\": %s", i,
			    cfg->servers[i], why);
			return -1;
		}
	}
	if (cfg->nallow_private_targets > DNS_ALLOW_PREFIXES_MAX) {
		snprintf(err, errlen, "dns.allow_private_targets: at most %d prefixes", DNS_ALLOW_PREFIXES_MAX);
		return -1;
	}
	for (i = 0; i < cfg->nallow_private_targets; i++) {
		struct dns_prefix pfx;

		if (memchr(cfg->allow_private_targets[i], '\0', DNS_PREFIX_STR_MAX) == NULL ||
		    dns_prefix_parse(cfg->allow_private_targets[i], &pfx, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "dns.allow_private_targets[%zu]: \"%.*s\": %s", i,
			    DNS_PREFIX_STR_MAX - 1, cfg->allow_private_targets[i], why);
			return -1;
		}
	}
	if (cfg->cache_max_ttl_s < cfg->cache_min_ttl_s) {
		snprintf(err, errlen,
		    "dns.cache_max_ttl_s: %u is below cache_min_ttl_s (%u)",
		    cfg->cache_max_ttl_s, cfg->cache_min_ttl_s);
		return -1;
	}
	return 0;
}
