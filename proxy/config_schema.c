/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config_schema.c - every configuration key, in one table.
 *
 * One row per key: name, type, where it lands in struct config, bounds,
 * default and the help text.  config.c parses and validates with it,
 * config_print.c prints the `check` summary and the README reference from
 * it (Redis's static_configs[], OpenBSD's parse.y + .conf.5 kept in step).
 *
 * Limits follow Prosody's for s2s where the issue asks for it: stanzas are
 * limited to 10 000 bytes before a stream is authenticated and 512 KiB
 * after (Prosody's s2s_stanza_size_limit defaults).
 */
#include "config_schema.h"

#include "config.h"
#include "xmlstream.h"

#define OFF(type, field) offsetof(type, field)
#define END { .name = NULL }

static const char *const log_levels[] = { "debug", "info", "warn", "error", NULL };
static const char *const log_formats[] = { "auto", "json", "text", NULL };
static const char *const tls_modes[] = { "required", "optional", "disabled", NULL };
static const char *const sasl_modes[] = { "optional", "required", "disabled", NULL };
static const char *const dane_modes[] = { "opportunistic", "required", "off", NULL };
static const char *const strangers_modes[] = { "allow", "refuse", NULL };

static const struct cfg_key domain_keys[] = {
	{ .name = "name", .type = CFG_DOMAIN, .offset = OFF(struct config_domain, name),
	  .size = CONFIG_DOMAIN_MAX, .flags = CFG_REQUIRED,
	  .help = "The XMPP domain served (a DNS name; IDNs as A-labels)." },
	{ .name = "cert", .type = CFG_PATH, .offset = OFF(struct config_domain, cert),
	  .size = CONFIG_PATH_MAX, .flags = CFG_REQUIRED | CFG_CERT,
	  .help = "PEM certificate chain presented for this domain (leaf first)." },
	{ .name = "key", .type = CFG_PATH, .offset = OFF(struct config_domain, key),
	  .size = CONFIG_PATH_MAX, .flags = CFG_REQUIRED | CFG_KEY | CFG_SECRET,
	  .help = "PEM private key of `cert`; must not be readable by group or others." },
	END
};

static const struct cfg_key addr_elem[] = {
	{ .name = "", .type = CFG_ADDR, .size = CONFIG_ADDR_MAX }, END
};
static const struct cfg_key dns_server_elem[] = {
	{ .name = "", .type = CFG_ADDR, .size = DNS_SERVER_STR_MAX }, END
};
static const struct cfg_key dns_prefix_elem[] = {
	{ .name = "", .type = CFG_STRING, .size = DNS_PREFIX_STR_MAX }, END
};
static const struct cfg_key pin_elem[] = {
	{ .name = "", .type = CFG_PIN, .size = CONFIG_PIN_MAX }, END
};

#define ADDR_LIST(key, field, dflt, text)                                   \
	{ .name = key, .type = CFG_LIST, .offset = OFF(struct config_listen, field), \
	  .size = CONFIG_ADDR_MAX, .count_offset = OFF(struct config_listen, field##_count), \
	  .max_items = CONFIG_MAX_LISTEN, .children = addr_elem, .def = dflt, .help = text }

static const struct cfg_key listen_keys[] = {
	ADDR_LIST("starttls", starttls, "0.0.0.0:5269",
	    "External s2s listeners (RFC 6120 STARTTLS), \"IP:port\" or \"[IPv6]:port\"."),
	ADDR_LIST("direct_tls", direct_tls, "0.0.0.0:5270",
	    "External s2s listeners with Direct TLS (XEP-0368, ALPN xmpp-server)."),
	ADDR_LIST("internal", internal, "",
	    "Listeners for the internal gateway's outgoing streams (pinned mutual TLS from the first byte)."),
	ADDR_LIST("internal_starttls", internal_starttls, "",
	    "The same with STARTTLS (for a gateway that reaches every remote domain through one wildcard A record, port 5269): only a stream header and <starttls/> are read before the pinned TLS."),
	{ .name = "control", .type = CFG_PATH, .offset = OFF(struct config_listen, control),
	  .size = CONFIG_PATH_MAX, .def = "",
	  .help = "Admin/control unix socket; empty means STATE_DIR/control.sock." },
	ADDR_LIST("admin", admin, "",
	    "Remote admin listeners, \"IP:port\" (off when empty; on the appliance the internal interface): pinned mutual TLS 1.3 speaking the control socket's protocol, so `status`, `streams`, `drain`, `cert rotate`, `cert pin`, `cert csr` and `config push` work with `--remote`.  Needs the admin section.  Applies at the next restart."),
	END
};

static const struct cfg_key gateway_keys[] = {
	{ .name = "address", .type = CFG_ADDR, .offset = OFF(struct config_gateway, address),
	  .size = CONFIG_ADDR_MAX, .flags = CFG_REQUIRED,
	  .help = "Where the internal XMPP server/gateway accepts our streams, \"IP:port\"." },
	{ .name = "server_name", .type = CFG_DOMAIN, .offset = OFF(struct config_gateway, server_name),
	  .size = CONFIG_DOMAIN_MAX, .def = "gateway.internal",
	  .help = "Name sent as SNI to the gateway (its certificate is pinned, not name-checked)." },
	{ .name = "pins", .type = CFG_LIST, .offset = OFF(struct config_gateway, pins),
	  .size = CONFIG_PIN_MAX, .count_offset = OFF(struct config_gateway, pin_count),
	  .max_items = CONFIG_MAX_PINS, .children = pin_elem, .flags = CFG_REQUIRED,
	  .help = "Accepted SHA-256 SPKI pins of the gateway, base64 (several during rotation)." },
	{ .name = "cert", .type = CFG_PATH, .offset = OFF(struct config_gateway, cert),
	  .size = CONFIG_PATH_MAX, .flags = CFG_REQUIRED | CFG_CERT,
	  .help = "Our client certificate on the internal link (the gateway pins its key)." },
	{ .name = "key", .type = CFG_PATH, .offset = OFF(struct config_gateway, key),
	  .size = CONFIG_PATH_MAX, .flags = CFG_REQUIRED | CFG_KEY | CFG_SECRET,
	  .help = "Private key of the internal-link certificate." },
	END
};

static const struct cfg_key tls_keys[] = {
	{ .name = "ca_file", .type = CFG_PATH, .offset = OFF(struct config_tls, ca_file),
	  .size = CONFIG_PATH_MAX, .def = "/etc/ssl/certs/ca-certificates.crt", .flags = CFG_CA,
	  .help = "CA bundle used to verify remote servers' certificates." },
	{ .name = "ticket_rotate_s", .type = CFG_INT, .offset = OFF(struct config_tls, ticket_rotate_s),
	  .min = 60, .max = 86400, .def = "3600",
	  .help = "Lifetime of a session-ticket key before it is rotated, seconds; a ticket is accepted for at most this long after it was issued." },
	{ .name = "session_tickets", .type = CFG_BOOL, .offset = OFF(struct config_tls, session_tickets),
	  .def = "true",
	  .help = "TLS session tickets (RFC 8446 §4.6.1): a partner reconnecting resumes without a full handshake and keeps the identity its certificate proved (SASL EXTERNAL), bound to the ticket and checked again for dates and names; outgoing streams resume with the tickets partners give.  A change of trust anchors, of our certificates or of the gateway pins (reload, `cert rotate`) refuses every ticket issued before; without `tls.ticket_key_file` so does a restart (a reload that changes none of them keeps them: the keys come from a secret the process made at start)." },
	{ .name = "ticket_key_file", .type = CFG_PATH, .offset = OFF(struct config_tls, ticket_key_file),
	  .size = CONFIG_PATH_MAX, .def = "", .flags = CFG_SECRET | CFG_SECRET_FILE,
	  .help = "File holding a secret (32 to 4096 random bytes, mode 0600, e.g. `head -c 32 /dev/urandom`) from which the ticket keys are derived, so that tickets survive a restart or upgrade (a reconnect storm then resumes instead of doing full handshakes); empty: keys from a random secret in memory, kept across reloads, lost at a restart.  Whoever reads it can make tickets for any partner identity: guard it as the private keys." },
	{ .name = "keep_outgoing_sessions", .type = CFG_BOOL, .offset = OFF(struct config_tls, keep_outgoing_sessions),
	  .def = "true",
	  .help = "Keep the TLS sessions of outgoing streams (the tickets partners gave, with the identity each full handshake verified) across a restart or `xmpp-edge upgrade`: saved to `state_dir`/outgoing_sessions (mode 0600) on shutdown and before the new process starts, loaded at start, so the first outgoing streams and dialback checks after a restart resume instead of doing full handshakes.  Entries past their ticket's lifetime and a file made under other trust anchors, certificates or pins are dropped; a corrupt file is logged (`tls.sessions_refused`) and ignored.  The file holds resumption secrets: whoever can write it can make the edge believe a partner's identity, as whoever can read the state directory's keys can.  Streams DANE judges (authenticated usable TLSA records, or `dane: required`) never resume.  Needs `tls.session_tickets`." },
	{ .name = "outgoing_sessions_max", .type = CFG_INT, .offset = OFF(struct config_tls, outgoing_sessions_max),
	  .min = 16, .max = 65536, .def = "4096",
	  .help = "Most TLS sessions kept for outgoing streams, one per partner domain, our domain and STARTTLS or Direct TLS (a dialback check's stream to the partner's authoritative server is one); the least recently stored gives way.  About 2 KB each." },
	{ .name = "expiry_warning_days", .type = CFG_INT, .offset = OFF(struct config_tls, expiry_warning_days),
	  .min = 0, .max = 3650, .def = "30",
	  .help = "`cert status` warns (exit 1) and `cert rotate` refuses a certificate with fewer days left." },
	{ .name = "watch_files", .type = CFG_BOOL, .offset = OFF(struct config_tls, watch_files),
	  .def = "false",
	  .help = "Reload (as SIGHUP) when a certificate, key or CA file changes on disk: the directories of those files are watched (a rename over the file and Kubernetes' `..data` swap are seen), 2 seconds after the last change; a pair that does not load keeps the running one.  The directories must be readable by `user`." },
	END
};

#define DNS_INT(key, lo, hi, dflt, text)                                     \
	{ .name = #key, .type = CFG_INT, .offset = OFF(struct dns_config, key), \
	  .min = lo, .max = hi, .def = dflt, .help = text }

static const struct cfg_key dns_keys[] = {
	{ .name = "servers", .type = CFG_LIST, .offset = OFF(struct dns_config, servers),
	  .size = DNS_SERVER_STR_MAX, .count_offset = OFF(struct dns_config, nservers),
	  .max_items = DNS_SERVERS_MAX, .children = dns_server_elem, .def = "",
	  .help = "DNS resolvers, \"IP:port\"; empty means those of /etc/resolv.conf." },
	DNS_INT(timeout_ms, 100, 60000, "2000", "Per-query timeout, milliseconds."),
	DNS_INT(tries, 1, 10, "2", "Attempts per query and resolver."),
	DNS_INT(cache_min_ttl_s, 0, 86400, "30", "Answers are cached at least this long, seconds."),
	DNS_INT(cache_max_ttl_s, 1, 604800, "86400", "Answers are cached at most this long, seconds."),
	DNS_INT(negative_ttl_s, 0, 3600, "60", "How long a failed lookup is remembered, seconds."),
	DNS_INT(cache_max_entries, 16, 1000000, "4096", "Bound on cached names."),
	DNS_INT(max_srv_targets, 1, DNS_SRV_RECORDS_MAX, "16", "SRV targets considered per domain."),
	DNS_INT(max_addresses, 1, DNS_ADDRESSES_MAX, "32", "Addresses tried per domain."),
	DNS_INT(connect_timeout_ms, 100, 120000, "5000", "Per-address connect timeout, milliseconds."),
	DNS_INT(stagger_ms, 10, 5000, "250", "Delay before racing the next address (RFC 8305), milliseconds."),
	{ .name = "allow_private_targets", .type = CFG_LIST,
	  .offset = OFF(struct dns_config, allow_private_targets), .size = DNS_PREFIX_STR_MAX,
	  .count_offset = OFF(struct dns_config, nallow_private_targets),
	  .max_items = DNS_ALLOW_PREFIXES_MAX, .children = dns_prefix_elem, .def = "",
	  .help = "Address prefixes (\"10.0.0.0/8\", \"fd00::/8\", or one address) that addresses found in DNS (SRV targets, A/AAAA) may be in.  By default xmpp-edge never dials a DNS-derived address that is loopback, unspecified, link-local, multicast, broadcast, private (RFC 1918), shared (RFC 6598), unique local (fc00::/7), another special-purpose range, IPv4-mapped or NAT64 forms of those, or the address of one of its own listeners or of the gateway: such a target is logged (dns.connect.refused) and skipped.  List the networks you federate over privately here.  A partner's `connect` and `gateway.address` are never checked; the exact address and port of a listener or of the gateway stay refused even when listed." },
	END
};

static const struct cfg_key dialback_keys[] = {
	{ .name = "enabled", .type = CFG_BOOL, .offset = OFF(struct config_dialback, enabled),
	  .def = "true", .help = "Offer and accept Server Dialback (XEP-0220)." },
	{ .name = "secret_file", .type = CFG_PATH, .offset = OFF(struct config_dialback, secret_file),
	  .size = CONFIG_PATH_MAX, .def = "", .flags = CFG_SECRET | CFG_SECRET_FILE,
	  .help = "File holding the dialback secret (>= 32 bytes, XEP-0185); empty: STATE_DIR/dialback.secret, created on first start." },
	END
};

static const struct cfg_key domain_elem[] = {
	{ .name = "", .type = CFG_DOMAIN, .size = CONFIG_DOMAIN_MAX }, END
};

/*
 * A partner entry (Lync: New-CsXmppAllowedPartner).  policy.default and
 * every policy.partners entry share these rows; a partners entry starts
 * as a copy of policy.default and its own keys override.  Only partner
 * entries have additional_domains (a default entry applies to every
 * domain already).  The combinations the rows cannot refuse on their own
 * (Lync 2013's "Negotiation settings for XMPP federated partners" matrix)
 * are checked in config.c.
 */
#define PARTNER_NEGOTIATION_ROWS                                                \
	{ .name = "allow", .type = CFG_BOOL, .offset = OFF(struct config_partner, allow), \
	  .def = "true", .help = "Federate with this domain at all." },         \
	{ .name = "tls", .type = CFG_ENUM, .offset = OFF(struct config_partner, tls), \
	  .enum_names = tls_modes, .def = "required",                           \
	  .help = "TLS on streams with this partner: required, optional (when offered), disabled (Lync: TlsNegotiation)." }, \
	{ .name = "sasl_external", .type = CFG_ENUM, .offset = OFF(struct config_partner, sasl_external), \
	  .enum_names = sasl_modes, .def = "optional",                          \
	  .help = "SASL EXTERNAL (certificates, XEP-0178): optional, required, disabled (Lync: SaslNegotiation)." }, \
	{ .name = "dialback", .type = CFG_BOOL, .offset = OFF(struct config_partner, dialback), \
	  .def = "true", .help = "Accept and use Server Dialback (XEP-0220) with this partner (Lync: SupportDialbackNegotiation)." }, \
	{ .name = "require_valid_certificate", .type = CFG_BOOL,               \
	  .offset = OFF(struct config_partner, require_valid_certificate), .def = "false", \
	  .help = "Refuse the partner unless its TLS certificate is valid for its domain (CA-signed, RFC 6125), even when it authenticates with dialback." }, \
	{ .name = "dane", .type = CFG_ENUM, .offset = OFF(struct config_partner, dane), \
	  .enum_names = dane_modes, .def = "opportunistic",                     \
	  .help = "DANE (RFC 7673, RFC 6698): the partner's TLSA records authenticate its certificate.  Records count only when the resolver in dns.servers validated them (AD bit): point it at a validating resolver on loopback.  " \
	  "opportunistic: where the SRV, address and TLSA answers are all DNSSEC-authenticated and a usable TLSA record exists, the certificate must match one (a mismatch refuses the target: an attacker who can forge TLS cannot strip signed records), and a match authenticates a certificate no CA vouches for (SASL EXTERNAL, require_valid_certificate); without such records, PKIX and dialback as before.  " \
	  "required: a stream needs a TLSA match (outbound: per SRV target, the next target is tried; inbound: SASL EXTERNAL is offered only after one) - for partners whose zone is signed, against a rogue or compromised CA.  " \
	  "off: no TLSA lookups (a resolver that mangles DNSSEC, or a partner whose TLSA records are known stale).  Needs DNS discovery: not with `connect`." }, \
	{ .name = "bidi", .type = CFG_BOOL, .offset = OFF(struct config_partner, bidi), \
	  .def = "true",                                                        \
	  .help = "Bidirectional streams (XEP-0288): offer <bidi/> on this partner's inbound streams, whose authenticated pairs then also carry our stanzas back (a partner xmpp-edge cannot dial still federates both ways), and request it on our streams to the partner when offered and its certificate is valid for its domain (PKIX or DANE: the partner's stanzas on our stream are accepted only from the domain so verified, to the domain we opened it for).  false: one direction per stream (RFC 6120 section 2.4)." }

#define PARTNER_LIMIT_ROWS                                                      \
	{ .name = "max_connections", .type = CFG_INT, .offset = OFF(struct config_partner, max_connections), \
	  .min = 0, .max = 100000, .def = "0",                                  \
	  .help = "Most simultaneous streams with this partner, both directions (Lync: ConnectionLimit); 0: no limit of its own (limits.max_streams still applies)." }, \
	{ .name = "keepalive_s", .type = CFG_INT, .offset = OFF(struct config_partner, keepalive_s), \
	  .min = 0, .max = 86400, .def = "0",                                   \
	  .help = "Seconds between whitespace keepalives (RFC 6120 section 4.6.1) on an idle outgoing stream to this partner (Lync: EnableKeepAlive, KeepAliveInterval); 0: none." }, \
	{ .name = "idle_timeout_s", .type = CFG_INT, .offset = OFF(struct config_partner, idle_timeout_s), \
	  .min = 0, .max = 86400, .def = "0",                                   \
	  .help = "A stream with this partner idle this long is closed, seconds; 0 means limits.idle_timeout_s, else at least 10." }, \
	{ .name = "connect", .type = CFG_ADDR, .offset = OFF(struct config_partner, connect), \
	  .size = CONFIG_ADDR_MAX, .def = "",                                   \
	  .help = "Static target \"IP:port\" for outgoing streams to this partner instead of DNS SRV (Lync: ProxyFqdn, as an address); empty: DNS." }, \
	{ .name = "connect_direct_tls", .type = CFG_BOOL, .offset = OFF(struct config_partner, connect_direct_tls), \
	  .def = "false", .help = "`connect` speaks Direct TLS (XEP-0368) rather than STARTTLS." }, \
	{ .name = "max_stanza_size", .type = CFG_INT, .offset = OFF(struct config_partner, max_stanza_size), \
	  .min = 0, .max = XMLSTREAM_STANZA_MAX_CEILING, .def = "0",            \
	  .help = "Stanza size limit for this partner, bytes; 0 means limits.stanza_size." }, \
	{ .name = "strangers", .type = CFG_ENUM, .offset = OFF(struct config_partner, strangers), \
	  .enum_names = strangers_modes, .def = "allow",                        \
	  .help = "refuse: messages and subscription requests from this domain's users reach the inside only from contacts, remote addresses an internal user wrote to (learned from outgoing messages, subscriptions and directed presence; strangers.max_contacts); others are bounced with <policy-violation/>.  Against spam from unknown accounts (xmppbl.org's \"block strangers\" advice).  allow: no such check." }

static const struct cfg_key default_partner_keys[] = {
	PARTNER_NEGOTIATION_ROWS,
	PARTNER_LIMIT_ROWS,
	END
};

static const struct cfg_key partner_keys[] = {
	PARTNER_NEGOTIATION_ROWS,
	{ .name = "additional_domains", .type = CFG_LIST,
	  .offset = OFF(struct config_partner, additional_domains), .size = CONFIG_DOMAIN_MAX,
	  .count_offset = OFF(struct config_partner, additional_domain_count),
	  .max_items = CONFIG_MAX_ADDITIONAL_DOMAINS, .children = domain_elem, .def = "",
	  .help = "More domains of this partner under the same policy (Lync: AdditionalDomains); a domain belongs to one entry only." },
	PARTNER_LIMIT_ROWS,
	END
};

static const struct cfg_key policy_keys[] = {
	{ .name = "default", .type = CFG_OBJECT, .offset = OFF(struct config_policy, defaults),
	  .children = default_partner_keys, .help = "Policy for domains without an entry of their own." },
	{ .name = "partners", .type = CFG_OBJECT_MAP, .offset = OFF(struct config_policy, partners),
	  .size = sizeof(struct config_partner), .count_offset = OFF(struct config_policy, partner_count),
	  .max_items = CONFIG_MAX_PARTNERS, .template_offset = OFF(struct config_policy, defaults),
	  .children = partner_keys,
	  .help = "Per-domain policy: { \"DOMAIN\": { the keys of default, and additional_domains } }; unset keys inherit default." },
	END
};

#define LIMIT(key, lo, hi, dflt, text)                                          \
	{ .name = #key, .type = CFG_INT, .offset = OFF(struct config_limits, key), \
	  .min = lo, .max = hi, .def = dflt, .help = text }

static const struct cfg_key limits_keys[] = {
	LIMIT(stanza_size_preauth, 1024, 1024 * 1024, "10000",
	    "Largest stanza before the stream is authenticated, bytes (Prosody: 10000)."),
	LIMIT(stanza_size, 4096, XMLSTREAM_STANZA_MAX_CEILING, "524288",
	    "Largest stanza on an authenticated stream, bytes (Prosody s2s: 512 KiB)."),
	/* The upper bounds are the tokenizer's ceilings (xmlstream.h). */
	LIMIT(max_depth, 4, XMLSTREAM_DEPTH_MAX_CEILING, "64", "Deepest element nesting inside a stanza."),
	LIMIT(max_attributes, 4, XMLSTREAM_ATTRS_MAX_CEILING, "64", "Most attributes on one element."),
	LIMIT(max_name_length, 16, XMLSTREAM_NAME_MAX_CEILING, "256", "Longest element or attribute name, bytes."),
	LIMIT(max_streams, 1, 1000000, "10000", "Most simultaneous streams (all listeners)."),
	LIMIT(internal_reserved_streams, 0, 1000000, "100",
	    "Of limits.max_streams, how many only the internal listeners (the gateway) may use, so that "
	    "connections from the internet can never lock the gateway out; must be below limits.max_streams "
	    "when an internal listener is configured."),
	LIMIT(max_unauthenticated_streams, 1, 1000000, "1000",
	    "Most simultaneous streams from external listeners that have not authenticated yet (each has "
	    "limits.handshake_timeout_ms from accept); the smaller of this and what limits.max_streams leaves applies.  "
	    "Past it, and past as many handshakes as the event loop keeps up with (a window of at least 16 that "
	    "doubles each 100 ms once the loop's own busy share stayed below 10 % for two periods in a row, "
	    "grows by one for each handshake finished while it is below 80 %, shrinks by a quarter while the "
	    "loop is saturated and never exceeds this cap), the external listeners stop accepting: further "
	    "connections wait in the kernel's backlog and are admitted in order (a reconnect storm is served, not refused)."),
	LIMIT(max_streams_per_ip, 1, 100000, "64",
	    "Most simultaneous streams from one IPv4 or IPv6 address on the external listeners."),
	LIMIT(max_streams_per_ipv4_24, 1, 1000000, "256",
	    "Most simultaneous streams from one IPv4 /24 on the external listeners."),
	LIMIT(max_streams_per_ipv6_64, 1, 1000000, "128",
	    "Most simultaneous streams from one IPv6 /64 (one host's usual allocation) on the external listeners."),
	LIMIT(send_queue_bytes, 65536, 64 * 1024 * 1024, "1048576",
	    "Bytes queued toward a slow peer before the stream is closed."),
	LIMIT(handshake_timeout_ms, 1000, 600000, "30000",
	    "Time allowed from connect to an authenticated stream, milliseconds."),
	LIMIT(connect_timeout_ms, 1000, 600000, "30000",
	    "Outgoing streams: time from the first DNS query to an authenticated stream, milliseconds."),
	LIMIT(idle_timeout_s, 10, 86400, "900", "A stream idle this long is closed, seconds."),
	LIMIT(route_queue_bytes, 65536, 64 * 1024 * 1024, "1048576",
	    "Stanzas waiting for one outgoing stream, bytes; past this the senders stop being read."),
	LIMIT(shutdown_timeout_ms, 100, 60000, "5000",
	    "On SIGTERM (and for the old process of an `upgrade`): the whole shutdown, milliseconds.  Until half of it what is in flight is delivered and inbound streams are read to their close, until nine tenths what is left is bounced, then every stream is closed; what is still open at the end is aborted."),
	/* Dialback budgets (issue 14): each check is a connection we open;
	 * a GCRA rate of N a minute allows a burst of N (dialback_budget.h). */
	LIMIT(dialback_verify_preauth_max, 1, 1000000, "16",
	    "`<db:verify/>` questions a remote stream may ask before it is authenticated; the next one is a policy-violation stream error."),
	LIMIT(dialback_checks_per_minute, 1, 60000, "30",
	    "Dialback checks (`<db:result/>` keys we verify by connecting to the claimed domain) one stream may start a minute, as a burst or spread out; the next closes the stream (policy-violation).  At most 4 run at once."),
	LIMIT(dialback_failures_max, 1, 1000000, "10",
	    "Failed dialback checks (no answer, unreachable, invalid) one stream may cause in its life; then it is closed (policy-violation)."),
	LIMIT(dialback_checks_per_minute_per_prefix, 1, 60000, "120",
	    "Dialback checks started a minute for all streams from one IPv4 /24 or IPv6 /64 together; past it the asking stream is closed (policy-violation)."),
	LIMIT(dialback_failures_per_minute_per_prefix, 1, 60000, "30",
	    "Failed dialback checks a minute for one IPv4 /24 or IPv6 /64; while spent, its streams get no check and are closed (policy-violation)."),
	/* Rate limits (issue 19, ratelimit.h): token buckets per remote
	 * domain and per source prefix; over them a stream stops being read. */
	LIMIT(new_streams_per_minute_per_prefix, 1, 1000000, "300",
	    "New streams accepted a minute from one IPv4 /24 or IPv6 /64 on the external listeners, as a burst or spread out; past it a connection is closed at once (s2s_in.refused).  Each stream costs a TLS handshake: this bounds what one network can make the edge compute."),
	LIMIT(domain_stanzas_per_s, 1, 2147483647, "200",
	    "Stanzas a second from one remote domain (all its streams together), with a burst of limits.rate_burst_s seconds' worth; past it its streams stop being read until the bucket refills (backpressure)."),
	LIMIT(domain_bytes_per_s, 1, 2147483647, "102400",
	    "Stanza bytes a second from one remote domain, as limits.domain_stanzas_per_s (Prosody mod_limits: 30 KiB/s per s2sin stream, burst 2 s)."),
	LIMIT(prefix_stanzas_per_s, 1, 2147483647, "500",
	    "Stanzas a second from one IPv4 /24 or IPv6 /64 (all domains it serves together): throw-away domains on one host share it."),
	LIMIT(prefix_bytes_per_s, 1, 2147483647, "262144",
	    "Stanza bytes a second from one IPv4 /24 or IPv6 /64."),
	LIMIT(rate_burst_s, 1, 3600, "2",
	    "Burst of the per-second limits above, in seconds of their rate (Prosody mod_limits: 2)."),
	LIMIT(rate_abuse_s, 0, 86400, "120",
	    "A stream kept over its remote domain's rate limits this long (paused, and the domain's buckets never back to half their burst) is closed with a policy-violation stream error (ratelimit.abuse); one held by its prefix's limits alone (shared with its neighbours) is only slowed; 0: never, it is only slowed."),
	/* XEP-0198 (issue 21, sm.h): acks on outgoing legs, custody. */
	LIMIT(sm_request_every_stanzas, 1, 1000000, "1",
	    "Outgoing streams with XEP-0198 stream management: an ack request (`<r/>`) follows this many stanzas written since the last one, once the last request is answered (1: after every write, at most one request per round trip)."),
	LIMIT(sm_request_every_bytes, 1, 64 * 1024 * 1024, "65536",
	    "Outgoing streams with XEP-0198: an ack request also follows this many stanza bytes written since the last one."),
	LIMIT(sm_request_every_ms, 10, 600000, "1000",
	    "Outgoing streams with XEP-0198: an ack request also goes out when stanzas written since the last one have waited this long, milliseconds."),
	LIMIT(sm_ack_every_stanzas, 0, 1000000, "0",
	    "Inbound streams with XEP-0198: an unsolicited ack (`<a h/>`) goes out as soon as this many more stanzas are settled (acknowledged by their next hop, or bounced) than the last ack counted, without waiting for the peer's `<r/>`: a crash of xmpp-edge then leaves fewer delivered stanzas unacknowledged, which the peer would bounce.  0: only when asked (and as soon as h moves after an `<r/>` that could not count everything)."),
	LIMIT(sm_ack_every_ms, 0, 600000, "0",
	    "Inbound streams with XEP-0198: an unsolicited ack also goes out when h moves and the last ack is this old, milliseconds; 0: off."),
	LIMIT(sm_settle_timeout_ms, 1000, 600000, "30000",
	    "A stanza xmpp-edge holds may wait this long for its next hop, milliseconds: one not written by then is bounced (remote-server-timeout, or service-unavailable toward the gateway), one written and not acknowledged ends its stream (the unacknowledged stanzas are bounced).  An inbound stream's acks are in order, so this also bounds how long one slow destination holds back the acks of that stream's later stanzas."),
	END
};

static const struct cfg_key log_keys[] = {
	{ .name = "level", .type = CFG_ENUM, .offset = OFF(struct config_log, level),
	  .enum_names = log_levels, .def = "info", .help = "Least severe level logged." },
	{ .name = "format", .type = CFG_ENUM, .offset = OFF(struct config_log, format),
	  .enum_names = log_formats, .def = "auto",
	  .help = "json (one object per line), text, or auto (text on a terminal)." },
	END
};

static const struct cfg_key metrics_keys[] = {
	{ .name = "listen", .type = CFG_ADDR, .offset = OFF(struct config_metrics, listen),
	  .size = CONFIG_ADDR_MAX, .def = "",
	  .help = "Prometheus text endpoint (GET /metrics), a loopback \"IP:port\" such as "
	    "\"127.0.0.1:9269\"; empty means off.  It has no authentication: other "
	    "addresses are refused.  Applies at the next restart." },
	END
};

static const struct cfg_key control_keys[] = {
	{ .name = "admin_group", .type = CFG_STRING, .offset = OFF(struct config_control, admin_group),
	  .size = CONFIG_USER_MAX, .def = "",
	  .help = "Group (name or numeric gid) whose members may use the control socket besides root and `user` (checked by SO_PEERCRED; the socket and the state directory get this group); empty: root and `user` only.  Applies at the next restart." },
	END
};

static const struct cfg_key admin_keys[] = {
	{ .name = "pins", .type = CFG_LIST, .offset = OFF(struct config_admin, pins),
	  .size = CONFIG_PIN_MAX, .count_offset = OFF(struct config_admin, pin_count),
	  .max_items = CONFIG_MAX_PINS, .children = pin_elem, .flags = CFG_REQUIRED,
	  .help = "SHA-256 SPKI pins (base64) of the admin clients' keys (`xmpp-edge cert status`/`cert pin` print them); several during rotation; STATE_DIR/admin-pins adds and withdraws pins as `cert pin --admin` writes it." },
	{ .name = "cert", .type = CFG_PATH, .offset = OFF(struct config_admin, cert),
	  .size = CONFIG_PATH_MAX, .def = "",
	  .help = "Certificate the admin listener presents (clients pin its key with --remote-pin or check it with --remote-ca); empty: STATE_DIR/admin.crt, with a self-signed one made on first start (its pin is logged in admin.start)." },
	{ .name = "key", .type = CFG_PATH, .offset = OFF(struct config_admin, key),
	  .size = CONFIG_PATH_MAX, .def = "", .flags = CFG_SECRET,
	  .help = "Private key of admin.cert; empty: STATE_DIR/admin.key." },
	{ .name = "max_connections", .type = CFG_INT, .offset = OFF(struct config_admin, max_connections),
	  .min = 1, .max = 64, .def = "4",
	  .help = "Most simultaneous admin connections; more are closed at once.  Applies at the next restart." },
	{ .name = "timeout_ms", .type = CFG_INT, .offset = OFF(struct config_admin, timeout_ms),
	  .min = 1000, .max = 600000, .def = "10000",
	  .help = "An admin connection must finish its handshake, and then send each next piece of its request, within this time, milliseconds." },
	END
};

static const struct cfg_key strangers_keys[] = {
	{ .name = "max_contacts", .type = CFG_INT, .offset = OFF(struct config_strangers, max_contacts),
	  .min = 1, .max = 10000000, .def = "100000",
	  .help = "Most remote contacts remembered for `policy.*.strangers` (least recently used ones go first), kept in STATE_DIR/strangers-contacts; about 100 bytes each in memory." },
	END
};

static const struct cfg_key blocklist_keys[] = {
	{ .name = "file", .type = CFG_PATH, .offset = OFF(struct config_blocklist, file),
	  .size = CONFIG_PATH_MAX, .def = "",
	  .help = "Remote domains refused outright, one a line (`spam.example`, or `*.spam.example` for every name under it; `#` starts a comment), for the throw-away domains of federation spam waves (the JabberSPAM list, xmppbl.org).  Refused at the stream header (<policy-violation/>), at dialback (every piggybacked domain) and in routing (bounced with <not-allowed/>); refusals are counted per entry (`status`, metrics).  Read at start (a bad file stops it), again on SIGHUP and when the file changes (checked every second); a bad file then keeps the running list.  Empty: no list." },
	{ .name = "max_entries", .type = CFG_INT, .offset = OFF(struct config_blocklist, max_entries),
	  .min = 1, .max = 1000000, .def = "100000",
	  .help = "Most entries the blocklist file may have; a longer file is refused (so a feed gone wrong cannot exhaust memory)." },
	END
};

const struct cfg_key config_schema_root[] = {
	{ .name = "user", .type = CFG_STRING, .offset = OFF(struct config, user),
	  .size = CONFIG_USER_MAX, .def = "xmpp-edge",
	  .help = "When started as root: user (name or numeric uid) to run as after binding ports; a dedicated account (`./build.sh run` creates `xmpp-edge`).  Refused: root, a name that does not exist, and, except in the embedded demo, `nobody` (uid 65534), a primary group gid 65534 and a primary group that is another account's primary group too." },
	{ .name = "state_dir", .type = CFG_PATH, .offset = OFF(struct config, state_dir),
	  .size = CONFIG_PATH_MAX, .def = "/var/lib/xmpp-edge",
	  .help = "Directory for generated keys, the dialback secret and the control socket." },
	{ .name = "domains", .type = CFG_OBJECT_LIST, .offset = OFF(struct config, domains),
	  .size = sizeof(struct config_domain), .count_offset = OFF(struct config, domain_count),
	  .max_items = CONFIG_MAX_DOMAINS, .children = domain_keys, .flags = CFG_REQUIRED,
	  .help = "Hosted domains, each with its certificate (chosen by SNI)." },
	{ .name = "default_domain", .type = CFG_DOMAIN, .offset = OFF(struct config, default_domain),
	  .size = CONFIG_DOMAIN_MAX, .def = "",
	  .help = "Certificate presented without SNI; empty means the first of `domains`." },
	{ .name = "listen", .type = CFG_OBJECT, .offset = OFF(struct config, listen),
	  .children = listen_keys, .help = "Listening sockets." },
	{ .name = "gateway", .type = CFG_OBJECT, .offset = OFF(struct config, gateway),
	  .present_offset = OFF(struct config, gateway.enabled), .children = gateway_keys,
	  .help = "The internal XMPP server or gateway; absent means stanzas for hosted domains are bounced." },
	{ .name = "tls", .type = CFG_OBJECT, .offset = OFF(struct config, tls),
	  .children = tls_keys, .help = "TLS toward remote servers." },
	{ .name = "dns", .type = CFG_OBJECT, .offset = OFF(struct config, dns),
	  .children = dns_keys, .help = "Resolution of remote domains (SRV, A, AAAA)." },
	{ .name = "dialback", .type = CFG_OBJECT, .offset = OFF(struct config, dialback),
	  .children = dialback_keys, .help = "Server Dialback." },
	{ .name = "policy", .type = CFG_OBJECT, .offset = OFF(struct config, policy),
	  .children = policy_keys, .help = "Which remote domains may federate, and how." },
	{ .name = "limits", .type = CFG_OBJECT, .offset = OFF(struct config, limits),
	  .children = limits_keys, .help = "Resource limits." },
	{ .name = "log", .type = CFG_OBJECT, .offset = OFF(struct config, log),
	  .children = log_keys, .help = "Logging (JSON lines to stderr)." },
	{ .name = "metrics", .type = CFG_OBJECT, .offset = OFF(struct config, metrics),
	  .children = metrics_keys, .help = "Metrics for Prometheus." },
	{ .name = "control", .type = CFG_OBJECT, .offset = OFF(struct config, control),
	  .children = control_keys, .help = "Who may use the control socket (listen.control)." },
	{ .name = "blocklist", .type = CFG_OBJECT, .offset = OFF(struct config, blocklist),
	  .children = blocklist_keys, .help = "Remote domains refused at every entry point (spam waves)." },
	{ .name = "strangers", .type = CFG_OBJECT, .offset = OFF(struct config, strangers),
	  .children = strangers_keys, .help = "The contacts `policy.*.strangers: refuse` lets write in." },
	{ .name = "admin", .type = CFG_OBJECT, .offset = OFF(struct config, admin),
	  .present_offset = OFF(struct config, admin.enabled), .children = admin_keys,
	  .help = "Remote administration over listen.admin (admin.c); absent means no admin listener." },
	END
};
