/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dns.h - finding and connecting to a remote XMPP server: the whole public
 * API of dns/.
 *
 * The s2s layer asks for a remote domain and gets either a connected TCP
 * handle (plus the candidate it reached: address, port, Direct TLS or
 * STARTTLS, SRV target name for certificate checks and logs) or one final
 * error.  Underneath:
 *
 *   resolver.c  c-ares driven by the libuv loop (uv_poll per c-ares socket,
 *               one uv_timer for c-ares timeouts); no threads, no blocking.
 *   cache.c     TTL cache of answers, bounded in entries and bytes.
 *   srv.c       merging _xmpps-server/_xmpp-server answers and ordering them
 *               (RFC 2782 priority + weighted random).
 *   discover.c  per-domain state machine: SRV -> targets' AAAA/A -> a stream
 *               of candidates (RFC 6120 §3.2, XEP-0368, RFC 8305 ordering).
 *   connect.c   per-domain connect sequence over those candidates: staggered
 *               attempts with a per-attempt timeout (RFC 8305 in spirit).
 *   resolve_cli.c  `xmpp-edge resolve [--server ADDR:PORT] DOMAIN`.
 *
 * Threading: everything runs on the one uv loop given to dns_resolver_new().
 * Callbacks are never called from inside the function that started the
 * operation (always from the loop), and never after the matching *_free().
 *
 * Ownership in short: the caller owns what it creates (resolver, discovery,
 * connect sequence) and frees it with the matching *_free(), which is
 * synchronous from the caller's point of view (libuv handles still being
 * closed finish on the next loop iterations, so keep running the loop
 * until it is empty before uv_loop_close()).  A uv_tcp_t handed out by
 * the connect sequence belongs to the caller from then on.
 */
#ifndef XE_DNS_H
#define XE_DNS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

/* Longest domain name we accept, in its dotted text form without the
 * trailing dot (RFC 1035 §2.3.4: 255 octets on the wire = 253 text). */
#define DNS_NAME_MAX 253
/* RFC 1035 §2.3.4. */
#define DNS_LABEL_MAX 63

/* Validates 'in' as a domain name to query and writes its canonical form
 * (ASCII lower case, no trailing dot) to out (outlen >= DNS_NAME_MAX + 1).
 * Accepted: 1..253 octets, labels of 1..63 octets of [A-Za-z0-9_-], one
 * optional trailing dot.  Anything else (empty labels, escapes, non-ASCII:
 * IDNs must arrive as A-labels) returns -1 with *why set to a static
 * message. */
int dns_name_normalize(const char *in, char *out, size_t outlen,
    const char **why);

#define DNS_SERVERS_MAX 8
/* "[" + 39-char IPv6 + "]:" + 5-digit port + NUL, rounded up. */
#define DNS_SERVER_STR_MAX 56

/* Hard upper bounds of the configurable limits (dns_config_validate). */
#define DNS_SRV_RECORDS_MAX 64	/* SRV records kept per answer, and max_srv_targets' bound */
#define DNS_ADDRESSES_MAX 64	/* max_addresses' bound; also A/AAAA records kept per answer */
/* Cache memory bound besides cache_max_entries: a hostile zone can make
 * every entry large (64 SRV targets of 253 octets, names compressed on the
 * wire), so the cache also evicts on bytes. */
#define DNS_CACHE_MAX_BYTES (16u * 1024u * 1024u)

/* dns.allow_private_targets: prefixes, and the longest text of one
 * ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128" is 50). */
#define DNS_ALLOW_PREFIXES_MAX 32
#define DNS_PREFIX_STR_MAX 56

/* RFC 6120 §3.2.2: the fallback port when there are no SRV records. */
#define DNS_XMPP_SERVER_PORT 5269

/*
 * struct dns_config - the "dns" section of the configuration.
 * The config layer fills it from JSON keys of the same names (after
 * dns_config_defaults()) and calls dns_config_validate().
 *
 *   servers             array of string, default [] (= /etc/resolv.conf).
 *                       DNS servers as "ADDR:PORT", "ADDR" (port 53),
 *                       "[V6ADDR]:PORT" or "[V6ADDR]"; at most 8.  Tried in
 *                       order, c-ares moving on when one fails.
 *   timeout_ms          integer, default 2000, 100..60000.  Time one DNS try
 *                       waits for an answer.  c-ares never waits less than
 *                       250 ms per try, so a query fails after at most
 *                       tries * max(timeout_ms, 250) ms.
 *   tries               integer, default 2, 1..10.  Tries per query (each
 *                       try goes to the next server when there are several).
 *   cache_min_ttl_s     integer, default 30, 0..86400.  Answers are cached
 *                       at least this long, whatever their TTL.
 *   cache_max_ttl_s     integer, default 86400, cache_min_ttl_s..604800.
 *                       Answers are cached at most this long.
 *   negative_ttl_s      integer, default 60, 0..86400.  How long "no such
 *                       domain" / "no such record" answers are cached (less
 *                       if the zone's SOA says so, RFC 2308 §5); 0: never.
 *   cache_max_entries   integer, default 4096, 0..1000000.  Most answers
 *                       kept; the least recently used go first.  0 turns the
 *                       cache off.  (Memory is bounded too, by
 *                       DNS_CACHE_MAX_BYTES.)
 *   max_srv_targets     integer, default 16, 1..64.  Most SRV targets
 *                       considered per domain, after ordering.
 *   max_addresses       integer, default 32, 1..64.  Most addresses
 *                       (candidates) tried per domain.
 *   connect_timeout_ms  integer, default 5000, 100..120000.  Time one TCP
 *                       connection attempt may take.
 *   stagger_ms          integer, default 250, 10..10000.  Delay before the
 *                       next address is tried while earlier attempts are
 *                       still pending (RFC 8305 §5 "Connection Attempt
 *                       Delay").
 *   allow_private_targets  array of string, default [].  Address prefixes
 *                       ("10.0.0.0/8", "fd00::/8", or one address) that
 *                       discovered addresses may be in although they are
 *                       special-purpose (loopback, private, link-local, ...;
 *                       addrpolicy.c has the list).  At most 32.
 */
struct dns_config {
	char servers[DNS_SERVERS_MAX][DNS_SERVER_STR_MAX];
	size_t nservers;
	uint32_t timeout_ms;
	uint32_t tries;
	uint32_t cache_min_ttl_s;
	uint32_t cache_max_ttl_s;
	uint32_t negative_ttl_s;
	uint32_t cache_max_entries;
	uint32_t max_srv_targets;
	uint32_t max_addresses;
	uint32_t connect_timeout_ms;
	uint32_t stagger_ms;
	char allow_private_targets[DNS_ALLOW_PREFIXES_MAX][DNS_PREFIX_STR_MAX];
	size_t nallow_private_targets;
};

void dns_config_defaults(struct dns_config *cfg);
/* Semantic checks (ranges, server syntax).  On failure returns -1 and
 * writes "dns.KEY: reason" (e.g. "dns.servers[1]: port out of range") to
 * err, to which the config layer prefixes "FILE: ". */
int dns_config_validate(const struct dns_config *cfg, char *err, size_t errlen);
/* Appends one server to cfg->servers; -1 if full or too long (no check of
 * the syntax: that is dns_config_validate's job). */
int dns_config_add_server(struct dns_config *cfg, const char *server);

/* Errors: each means one thing and has a message (dns_error_str). */
enum dns_error {
	DNS_OK = 0,
	DNS_ERR_BAD_NAME,	 /* not a valid domain name; nothing was sent */
	DNS_ERR_NXDOMAIN,	 /* the domain does not exist */
	DNS_ERR_NODATA,		 /* the name exists but has no such records */
	DNS_ERR_NOT_AVAILABLE,	 /* SRV target "." : service decidedly absent */
	DNS_ERR_NO_ADDRESSES,	 /* no target had a usable address */
	DNS_ERR_TIMEOUT,	 /* the DNS servers did not answer in time */
	DNS_ERR_SERVFAIL,	 /* the DNS server reported a failure */
	DNS_ERR_REFUSED,	 /* the DNS server refused the query */
	DNS_ERR_BAD_RESPONSE,	 /* malformed or unusable DNS answer */
	DNS_ERR_NO_SERVER,	 /* no DNS server reachable (connection refused) */
	DNS_ERR_CONNECT_FAILED,	 /* every address refused or was unreachable */
	DNS_ERR_CONNECT_TIMEOUT, /* no address connected, some timed out */
	DNS_ERR_NOMEM,
	DNS_ERR_RESOLVER,	 /* other resolver failure (details in the log) */
	DNS_ERR_CANCELLED,	 /* internal: the operation was cancelled */
	DNS_ERR_TARGETS_REFUSED, /* every address was refused by the address policy */
};

const char *dns_error_str(enum dns_error err);
/* 1 if the error should become a `remote-server-timeout` bounce (RFC 6120
 * §8.3.3.17: resolved or resolving, but no answer in time), 0 if it should
 * become `remote-server-not-found` (§8.3.3.16). */
int dns_error_is_timeout(enum dns_error err);

/* XEP-0368: _xmpps-server targets take TLS at once, _xmpp-server ones
 * (and the A/AAAA fallback) use STARTTLS. */
enum dns_tls_mode {
	DNS_TLS_STARTTLS,
	DNS_TLS_DIRECT,
};

enum dns_source {
	DNS_SOURCE_SRV,		/* from _xmpps-server / _xmpp-server SRV */
	DNS_SOURCE_FALLBACK,	/* no SRV records: the domain itself, port 5269 */
};

const char *dns_tls_mode_name(enum dns_tls_mode mode);	/* "direct-tls", "starttls" */
const char *dns_source_name(enum dns_source source);	/* "srv", "fallback" */

/* One address to try.  'target' is the SRV target (or the domain itself
 * for the fallback); 'ttl_s' the smallest remaining TTL of the records it
 * came from (SRV and A/AAAA), as the DNS server gave it. */
struct dns_candidate {
	struct sockaddr_storage addr;	/* family, address and port set */
	socklen_t addrlen;
	char addr_str[INET6_ADDRSTRLEN];
	uint16_t port;
	enum dns_tls_mode tls;
	enum dns_source source;
	uint32_t ttl_s;
	char target[DNS_NAME_MAX + 1];
};

/* --- resolver (resolver.c) ------------------------------------------------ */

struct dns_resolver;

/* Creates a resolver on 'loop' (the config is copied).  Servers: cfg's, or
 * /etc/resolv.conf's when cfg->nservers == 0.  -1 with a message in err on
 * failure. */
int dns_resolver_new(uv_loop_t *loop, const struct dns_config *cfg,
    struct dns_resolver **out, char *err, size_t errlen);
/* Frees the resolver, its cache and pending raw queries (their callbacks
 * are not called).  Free every discovery and connect sequence using it
 * first; do not call it from inside a dns callback. */
void dns_resolver_free(struct dns_resolver *r);

/* What the resolver did since it was created (the metrics endpoint).
 * A lookup is one discovery of a remote domain (SRV, then addresses); it
 * fails when it ends without a candidate.  Queries are the raw SRV, A and
 * AAAA questions, answered from the cache or sent to a DNS server. */
struct dns_stats {
	uint64_t lookups;
	uint64_t lookup_failures;
	uint64_t queries_sent;
	uint64_t queries_cached;
	uint64_t query_failures;	/* timeouts, SERVFAIL, ... (not NXDOMAIN/NODATA) */
};

void dns_resolver_stats(const struct dns_resolver *r, struct dns_stats *out);

/* --- discovery (discover.c) ---------------------------------------------- */

struct dns_discovery;

/*
 * Called once per candidate, in the order they should be tried
 * (cand != NULL, err == DNS_OK), then exactly once more with cand == NULL:
 * err == DNS_OK if at least one candidate was given, else the reason none
 * was.  'cand' is only valid during the call.  The callback may call
 * dns_discover_free(d).
 */
typedef void (*dns_discover_cb)(struct dns_discovery *d,
    const struct dns_candidate *cand, enum dns_error err, void *arg);

/* Starts target discovery for 'domain' (an A-label domain name; a single
 * trailing dot is allowed).  Returns DNS_OK and *out, or DNS_ERR_BAD_NAME /
 * DNS_ERR_NOMEM without calling cb. */
enum dns_error dns_discover_start(struct dns_resolver *r, const char *domain,
    dns_discover_cb cb, void *arg, struct dns_discovery **out);
/* Stops discovery; no callback after this.  Safe inside the callback. */
void dns_discover_free(struct dns_discovery *d);

/* --- connect sequence (connect.c) ---------------------------------------- */

struct dns_connect;
struct dns_avoid;	/* addrpolicy.c, below */

/*
 * On success: err == DNS_OK, 'tcp' is a connected, malloc'd uv_tcp_t that
 * now belongs to the caller (close it with dns_tcp_close_free(), or
 * uv_close() + free() in the close callback; its 'data' is the caller's),
 * and 'cand' says what was reached (valid during the call; copy it).
 * If the caller cannot use that connection (TLS or stream negotiation
 * failed) it may call dns_connect_next() to go on with the next candidates.
 *
 * On failure: err != DNS_OK, tcp and cand are NULL; this is the last
 * callback (DNS errors, DNS_ERR_CONNECT_FAILED or DNS_ERR_CONNECT_TIMEOUT).
 * The callback may call dns_connect_free() or dns_connect_next().
 */
typedef void (*dns_connect_cb)(struct dns_connect *dc, enum dns_error err,
    uv_tcp_t *tcp, const struct dns_candidate *cand, void *arg);

/* Discovers 'domain' and connects to its candidates.  Returns DNS_OK and
 * *out, or DNS_ERR_BAD_NAME / DNS_ERR_NOMEM without calling cb.  Every
 * candidate passes the address policy first (dns_addr_refused: the
 * configuration's allow_private_targets, and 'avoid', copied, which may
 * be NULL); a refused one is logged (dns.connect.refused) and skipped, and
 * when all were refused the sequence ends with DNS_ERR_TARGETS_REFUSED. */
enum dns_error dns_connect_start(struct dns_resolver *r, const char *domain,
    dns_connect_cb cb, void *arg, struct dns_connect **out);
enum dns_error dns_connect_start_avoiding(struct dns_resolver *r, const char *domain,
    const struct dns_avoid *avoid, dns_connect_cb cb, void *arg, struct dns_connect **out);
/* The same sequence with one fixed candidate instead of discovery (a
 * partner's static `connect` target); 'domain' names it in logs. */
enum dns_error dns_connect_start_static(struct dns_resolver *r, const char *domain,
    const struct sockaddr *addr, enum dns_tls_mode tls, dns_connect_cb cb, void *arg,
    struct dns_connect **out);
/* After a success callback: try the candidates after the one handed out. */
void dns_connect_next(struct dns_connect *dc);
/* After a success callback: connect to the same candidate once more (the
 * caller will negotiate differently, e.g. TLS without a client
 * certificate), then the ones after it. */
void dns_connect_again(struct dns_connect *dc);
/* Stops everything (pending attempts are closed); no callback after this.
 * Connections already handed out are not touched. */
void dns_connect_free(struct dns_connect *dc);
/* uv_close()s a handle handed out by the connect sequence and frees it. */
void dns_tcp_close_free(uv_tcp_t *tcp);

/* --- address policy (addrpolicy.c) ---------------------------------------- */

/* An address prefix: family, address bytes (network order), length in bits. */
struct dns_prefix {
	int family;
	uint8_t addr[16];
	unsigned len;
};

/* Parses "ADDR/LEN" or "ADDR" (one address); -1 with a reason when it is
 * not an address, the length is out of range or bits are set past it. */
int dns_prefix_parse(const char *text, struct dns_prefix *out, char *err, size_t errlen);

/* The edge's own sockets, which no DNS answer may send it to: each with
 * the words a refusal gives ("one of xmpp-edge's own listeners").
 * Bounded: what does not fit is not added (the caller sizes it for its
 * listeners, proxy/s2s_out.c asserts it). */
#define DNS_AVOID_MAX 40
struct dns_avoid_addr {
	int family;		/* AF_INET, AF_INET6 (mapped ones as AF_INET) */
	uint8_t addr[16];
	uint16_t port;
	const char *what;	/* static */
};
struct dns_avoid {
	struct dns_avoid_addr addr[DNS_AVOID_MAX];
	size_t n;
};

void dns_avoid_add(struct dns_avoid *av, const struct sockaddr *sa, const char *what);

/* The address policy for a discovered address (addrpolicy.c's header has
 * the rules): NULL if sa may be dialed, else why not (static text).  av
 * may be NULL. */
const char *dns_addr_refused(const struct dns_config *cfg, const struct dns_avoid *av,
    const struct sockaddr *sa);

/* --- command line (resolve_cli.c) ---------------------------------------- */

/* `xmpp-edge resolve [--server ADDR:PORT]... [--timeout-ms N] [--tries N]
 * DOMAIN`: argv[0] is "resolve".  Exit status 0 candidates printed, 1
 * resolution failed (reason on stderr), 2 usage error. */
int resolve_cli_main(int argc, char **argv, const struct dns_config *base);

#endif
