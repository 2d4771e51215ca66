/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.h - xmpp-edge's configuration: the parsed form and its loader.
 *
 * The configuration is one JSON file.  One schema table (config_schema.c)
 * names every key with its type, default, bounds and help text; that table
 * drives parsing, validation, the error messages ("FILE: key.path:
 * reason"), the summary `xmpp-edge check` prints and the reference in the
 * README (`xmpp-edge help config`).  Nothing else reads JSON.
 *
 * Every string is copied into a fixed-size field whose size is its bound:
 * a longer value is an error, never a truncation.
 */
#ifndef XE_CONFIG_H
#define XE_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dns.h"
#include "log.h"

#define CONFIG_DOMAIN_MAX	 254	/* RFC 1035 name + NUL */
#define CONFIG_PATH_MAX		 1024
#define CONFIG_ADDR_MAX		 64	/* "[v6]:port" */
#define CONFIG_MAX_DOMAINS	 64
#define CONFIG_MAX_LISTEN	 8
#define CONFIG_MAX_PINS		 8
#define CONFIG_PIN_MAX		 48	/* base64 of 32 bytes = 44 + NUL */
#define CONFIG_MAX_PARTNERS	 256
#define CONFIG_USER_MAX		 64
#define CONFIG_FILE_MAX_BYTES	 (1024 * 1024)
#define CONFIG_ERR_MAX		 1536
#define CONFIG_MAX_WARNINGS	 32
/* A warning is "SOURCE: key.path: text": the source path (< 1024), a
 * partner key path (< 300) and a fixed text fit, so nothing is cut. */
#define CONFIG_WARNING_MAX	 CONFIG_ERR_MAX

struct config_domain {
	char name[CONFIG_DOMAIN_MAX];
	char cert[CONFIG_PATH_MAX];
	char key[CONFIG_PATH_MAX];
};

struct config_listen {
	char starttls[CONFIG_MAX_LISTEN][CONFIG_ADDR_MAX];
	size_t starttls_count;
	char direct_tls[CONFIG_MAX_LISTEN][CONFIG_ADDR_MAX];
	size_t direct_tls_count;
	char internal[CONFIG_MAX_LISTEN][CONFIG_ADDR_MAX];
	size_t internal_count;
	char internal_starttls[CONFIG_MAX_LISTEN][CONFIG_ADDR_MAX];
	size_t internal_starttls_count;
	char control[CONFIG_PATH_MAX];	/* unix socket; "" = state_dir/control.sock */
	char admin[CONFIG_MAX_LISTEN][CONFIG_ADDR_MAX];	/* remote admin (admin.c) */
	size_t admin_count;
};

struct config_gateway {
	int enabled;			/* set when the "gateway" object is present */
	char address[CONFIG_ADDR_MAX];
	char server_name[CONFIG_DOMAIN_MAX];
	char pins[CONFIG_MAX_PINS][CONFIG_PIN_MAX];
	size_t pin_count;
	char cert[CONFIG_PATH_MAX];
	char key[CONFIG_PATH_MAX];
};

struct config_tls {
	char ca_file[CONFIG_PATH_MAX];
	int ticket_rotate_s;
	int session_tickets;		/* TLS 1.3 tickets issued and kept */
	char ticket_key_file[CONFIG_PATH_MAX];	/* "": keys in memory only */
	int keep_outgoing_sessions;	/* STATE_DIR/outgoing_sessions across restarts */
	int outgoing_sessions_max;	/* sessions kept for outgoing streams */
	int expiry_warning_days;	/* `cert status` / `cert rotate` */
	int watch_files;		/* reload on changes on disk (cert_watch.c) */
};


/* The Prometheus endpoint (metrics.c). */
struct config_metrics {
	char listen[CONFIG_ADDR_MAX];	/* "" = off; loopback only */
};

struct config_dialback {
	int enabled;
	char secret_file[CONFIG_PATH_MAX];
};

/* Lync's TlsNegotiation / SaslNegotiation: Required, Optional, NotSupported. */
enum policy_tls {
	POLICY_TLS_REQUIRED,		/* no stream without TLS */
	POLICY_TLS_OPTIONAL,		/* TLS when the peer offers/asks it */
	POLICY_TLS_DISABLED,		/* never (plaintext only; labs) */
};

enum policy_strangers {
	POLICY_STRANGERS_ALLOW,		/* anyone may write in */
	POLICY_STRANGERS_REFUSE,	/* messages and subscription requests
					   from known contacts only (strangers.h) */
};

enum policy_sasl {
	POLICY_SASL_OPTIONAL,		/* SASL EXTERNAL when certificates allow */
	POLICY_SASL_REQUIRED,		/* SASL EXTERNAL or nothing */
	POLICY_SASL_DISABLED,		/* never offered nor used */
};

/* DANE (RFC 7673) on streams with a partner (s2s_dane.c). */
enum policy_dane {
	POLICY_DANE_OPPORTUNISTIC,	/* authenticated TLSA records, when
					   published, must match; else PKIX */
	POLICY_DANE_REQUIRED,		/* no stream without a TLSA match */
	POLICY_DANE_OFF,		/* no TLSA lookups */
};

#define CONFIG_MAX_ADDITIONAL_DOMAINS 8

/*
 * One partner's policy (Lync: New-CsXmppAllowedPartner).  The entry
 * applies to `domain` and to each of `additional_domains`; "policy.default"
 * applies to every other domain.
 */
struct config_partner {
	char domain[CONFIG_DOMAIN_MAX];
	int allow;			/* federate at all (allow-list vs open) */
	enum policy_tls tls;
	enum policy_sasl sasl_external;
	int dialback;			/* Server Dialback accepted and used */
	int require_valid_certificate;	/* trusted partner: PKIX-valid cert */
	enum policy_dane dane;
	int bidi;			/* XEP-0288 offered (inbound) and
					   requested (outbound) */
	char additional_domains[CONFIG_MAX_ADDITIONAL_DOMAINS][CONFIG_DOMAIN_MAX];
	size_t additional_domain_count;
	int max_connections;		/* streams with this partner, both
					   directions; 0: no limit of its own */
	int keepalive_s;		/* whitespace keepalive on our outgoing
					   streams; 0: none */
	int idle_timeout_s;		/* 0: limits.idle_timeout_s */
	char connect[CONFIG_ADDR_MAX];	/* "IP:port" instead of DNS; "" none */
	int connect_direct_tls;		/* `connect` speaks Direct TLS (XEP-0368) */
	int max_stanza_size;		/* 0: limits.stanza_size */
	enum policy_strangers strangers;
};

/* Slots of the index from a domain to its partner entry: a power of two,
 * at least twice the names the loader accepts (policy.c asserts it). */
#define CONFIG_POLICY_INDEX_SLOTS 8192

struct config_policy {
	struct config_partner defaults;
	struct config_partner partners[CONFIG_MAX_PARTNERS];
	size_t partner_count;
	/* Every partner name by hash, built at load (policy_index_build):
	 * 0 empty, else 1 + entry * (1 + CONFIG_MAX_ADDITIONAL_DOMAINS) +
	 * which name (0 the domain, 1 + i additional_domains[i]). */
	uint16_t index[CONFIG_POLICY_INDEX_SLOTS];
};

struct config_limits {
	int stanza_size_preauth;
	int stanza_size;
	int max_depth;
	int max_attributes;
	int max_name_length;
	int max_streams;
	int internal_reserved_streams;	/* of max_streams, only for internal listeners */
	int max_unauthenticated_streams;	/* from external listeners, before auth */
	int max_streams_per_ip;		/* external, per IPv4 or IPv6 address */
	int max_streams_per_ipv4_24;
	int max_streams_per_ipv6_64;
	int send_queue_bytes;
	int handshake_timeout_ms;
	int connect_timeout_ms;		/* outgoing: resolve + connect + TLS + auth */
	int idle_timeout_s;
	int route_queue_bytes;		/* stanzas waiting for one outgoing stream */
	int shutdown_timeout_ms;
	/* Dialback checks remote peers may make us run (dialback_budget.h). */
	int dialback_verify_preauth_max;	/* <db:verify/> before authentication */
	int dialback_checks_per_minute;		/* per stream */
	int dialback_failures_max;		/* per stream, in its life */
	int dialback_checks_per_minute_per_prefix;
	int dialback_failures_per_minute_per_prefix;
	/* Rate limits on remote servers (ratelimit.h). */
	int new_streams_per_minute_per_prefix;
	int domain_stanzas_per_s;
	int domain_bytes_per_s;
	int prefix_stanzas_per_s;
	int prefix_bytes_per_s;
	int rate_burst_s;
	int rate_abuse_s;		/* 0: never */
	/* XEP-0198 on outgoing legs: when to ask for an ack (sm.h), and how
	 * long a stanza in custody may wait for its next hop. */
	int sm_request_every_stanzas;
	int sm_request_every_bytes;
	int sm_request_every_ms;
	int sm_settle_timeout_ms;
	int sm_ack_every_stanzas;	/* unsolicited <a h/> on inbound streams: 0 off */
	int sm_ack_every_ms;
};

enum config_log_format_value {
	CONFIG_LOG_AUTO,
	CONFIG_LOG_JSON,
	CONFIG_LOG_TEXT,
};

struct config_log {
	int level;			/* enum log_level */
	int format;			/* enum config_log_format_value */
};

/* The remote admin listener (admin.c): pinned mutual TLS 1.3. */
struct config_admin {
	int enabled;			/* set when the "admin" object is present */
	char pins[CONFIG_MAX_PINS][CONFIG_PIN_MAX];	/* admin clients' SPKI */
	size_t pin_count;
	char cert[CONFIG_PATH_MAX];	/* "" = STATE_DIR/admin.crt, generated */
	char key[CONFIG_PATH_MAX];	/* "" = STATE_DIR/admin.key, generated */
	int max_connections;
	int timeout_ms;			/* handshake, and between reads */
};
struct config_strangers {
	int max_contacts;		/* the LRU's cap (strangers.h) */
};

struct config_blocklist {
	char file[CONFIG_PATH_MAX];	/* "": no list (blocklist.h) */
	int max_entries;
};

struct config_control {
	char admin_group[CONFIG_USER_MAX];	/* "": root and the daemon's user only */
};

struct config {
	char source[CONFIG_PATH_MAX];	/* file read, or "(embedded default)" */
	int demo;			/* the embedded default (run_user.c) */
	char user[CONFIG_USER_MAX];
	char state_dir[CONFIG_PATH_MAX];
	char default_domain[CONFIG_DOMAIN_MAX];
	struct config_domain domains[CONFIG_MAX_DOMAINS];
	size_t domain_count;
	struct config_listen listen;
	struct config_gateway gateway;
	struct config_tls tls;
	struct dns_config dns;		/* dns/dns.h */
	struct config_dialback dialback;
	struct config_policy policy;
	struct config_limits limits;
	struct config_log log;
	struct config_metrics metrics;
	struct config_control control;
	struct config_admin admin;
	struct config_blocklist blocklist;
	struct config_strangers strangers;
	/*
	 * What loaded but deserves the operator's eye (plaintext allowed, a
	 * setting that can never take effect, ...), each "SOURCE: key.path:
	 * text" like an error.  `xmpp-edge check` prints them on stderr as
	 * "warning: ..."; the daemon logs each as event "config.warning" at
	 * start and on every reload.  Past CONFIG_MAX_WARNINGS only
	 * warnings_dropped counts them.
	 */
	char warnings[CONFIG_MAX_WARNINGS][CONFIG_WARNING_MAX];
	size_t warning_count;
	size_t warnings_dropped;
};

/*
 * Parses and validates JSON text.  On failure returns -1 and writes
 * "SOURCE: key.path: reason" into err.  check_files: also open and parse
 * every certificate, key and secret file the configuration names.
 * The returned config is heap-allocated; the caller owns it (config_free).
 */
struct config *config_parse(const char *source, const char *json, size_t len,
    int check_files, char *err, size_t errlen);
/* Reads FILE (bounded by CONFIG_FILE_MAX_BYTES) and parses it. */
struct config *config_load_file(const char *path, int check_files, char *err,
    size_t errlen);
void config_free(struct config *cfg);

/*
 * The bounds of the integer key at a dotted path ("limits.idle_timeout_s",
 * "policy.partners.DOMAIN.max_connections": any name stands for a map
 * element).  -1 if the path names no integer key.  For tools that write
 * configuration (import sfb) and must not disagree with the schema.
 */
int config_key_range(const char *path, long *min, long *max);

/* Writes the reference of every key (type, default, meaning) as Markdown. */
void config_print_reference(FILE *out);
/* Writes the one-screen summary `xmpp-edge check` prints. */
void config_print_summary(const struct config *cfg, FILE *out);

/* "a string", "an integer", ...: what a parsed JSON value is, for error
 * messages (a yajl_val; declared by its struct so this header needs no
 * yajl include). */
struct yajl_val_s;
const char *config_json_type_name(struct yajl_val_s *v);

/*
 * Finds the policy entry for a remote domain: the entry whose domain or
 * one of whose additional_domains is `domain` (canonical form, as
 * domain_canonicalize() makes it), else policy.default.  The loader
 * guarantees that at most one entry matches.  One hash, no scan: the
 * index built at load (policy.c).
 */
const struct config_partner *config_policy_for(const struct config *cfg,
    const char *domain);

#endif
