/* SPDX-License-Identifier: Apache-2.0 */
/*
 * discover.c - which addresses to try for a remote XMPP domain, in order.
 *
 * RFC 6120 §3.2 with XEP-0368 (Direct TLS), one state machine per domain:
 *
 *   DISCOVER_SRV        _xmpps-server._tcp.D and _xmpp-server._tcp.D are
 *                       asked in parallel.  When both have answered:
 *                       - usable records in either: merge them (each
 *                         marked Direct TLS or STARTTLS), order them as one
 *                         RRset (RFC 2782, XEP-0368 §3 rule 1, srv.c), keep
 *                         max_srv_targets;
 *                       - else a "." target in either: the service is
 *                         decidedly not available (RFC 2782; XEP-0368 §5:
 *                         "MUST NOT perform A/AAAA fallback") -> fail;
 *                       - else _xmpp-server's query went unanswered
 *                         (timeout, no server): fail with that reason (an
 *                         A lookup would wait as long and fail the same
 *                         way; a clear bounce beats a doubled delay);
 *                       - else (RFC 6120 §3.2.2: "if the SRV lookup
 *                         fails", which includes NXDOMAIN, NODATA and an
 *                         answer of SERVFAIL or REFUSED) fall back to D
 *                         itself, port 5269, STARTTLS.  Prosody and
 *                         ejabberd do the same: a server that is not
 *                         authoritative for _xmpp-server._tcp.D (REFUSED)
 *                         or whose SRV zone is broken (SERVFAIL) may still
 *                         know D's addresses.
 *   DISCOVER_ADDRESSES  each target's AAAA and A are asked, a few targets
 *                       at a time (TARGETS_PARALLEL), and each target's
 *                       addresses are given to the caller in target order,
 *                       IPv6 and IPv4 interleaved (RFC 8305 §4), skipping
 *                       targets without addresses and duplicates, until
 *                       max_addresses have been given.
 *   DISCOVER_DONE       the final callback has been made.
 *
 * DANE (RFC 7673 §3), when the caller asked for it (want_tlsa): a target
 * whose SRV answer was authenticated (the fallback: both SRV names
 * authenticated as absent) and whose address answers were all
 * authenticated gets its TLSA query (_PORT._tcp.TARGET) once the address
 * answers are in, never earlier (§3.2: an insecure address answer means
 * no TLSA query); its candidates carry the answer.  Only then is the
 * target done, so the TLSA round trip delays that target alone.
 *
 * A target's candidates wait for both its AAAA and A answers (RFC 8305's
 * 50 ms "resolution delay" would let A-only answers go first; with the
 * answers coming from the same server moments apart it buys little).
 * The staggered connecting is connect.c's business.
 */
#include "dns_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Targets whose addresses are being resolved at the same time. */
#define TARGETS_PARALLEL 4

enum discover_state {
	DISCOVER_SRV,
	DISCOVER_ADDRESSES,
	DISCOVER_DONE,
};

static const char *const discover_state_names[] = {
	[DISCOVER_SRV] = "srv",
	[DISCOVER_ADDRESSES] = "addresses",
	[DISCOVER_DONE] = "done",
};

enum target_state {
	TARGET_WAITING,
	TARGET_RESOLVING,
	TARGET_DONE,
};

struct target {
	struct dns_discovery *d;
	enum target_state state;
	char name[DNS_NAME_MAX + 1];
	uint16_t port;
	enum dns_tls_mode tls;
	uint32_t srv_ttl_s;		/* TTL left of its SRV answer */
	struct dns_query *q6, *q4;
	struct dns_rrset *set6, *set4;
	int pending;
	/* DANE */
	int srv_secure;
	int dnssec;			/* srv_secure and addresses authenticated */
	struct dns_query *qt;
	struct dns_rrset *tlsa;
	enum dns_error tlsa_err;
};

struct seen_addr {
	int family;
	uint8_t addr[16];
	uint16_t port;
};

/* Service labels, XEP-0368 first: index 0 Direct TLS, 1 STARTTLS. */
static const char *const srv_prefix[2] = { "_xmpps-server._tcp.", "_xmpp-server._tcp." };
static const enum dns_tls_mode srv_tls[2] = { DNS_TLS_DIRECT, DNS_TLS_STARTTLS };

struct dns_discovery {
	struct dns_resolver *r;
	dns_discover_cb cb;
	void *arg;
	enum discover_state state;
	char domain[DNS_NAME_MAX + 1];

	struct dns_query *q_srv[2];
	struct dns_rrset *srv[2];
	enum dns_error srv_err[2];
	int srv_secure[2];		/* the answer (positive or not) had AD */
	int srv_pending;
	int want_tlsa;

	enum dns_source source;
	struct target *targets;
	size_t ntargets, next_start, next_emit, resolving;

	size_t emitted;
	struct seen_addr seen[DNS_ADDRESSES_MAX];
	enum dns_error addr_err;	/* most telling address failure */

	int in_cb;
	int dead;
};

static void discover_destroy(struct dns_discovery *d);

static void
discover_enter_state(struct dns_discovery *d, enum discover_state next)
{
	log_event(LOG_DEBUG, "dns.discover.state", "domain", d->domain,
	    "from", discover_state_names[d->state],
	    "to", discover_state_names[next], NULL);
	d->state = next;
}

/* Calls the user; -1 if the discovery was freed meanwhile. */
static int
discover_call(struct dns_discovery *d, const struct dns_candidate *c,
    enum dns_error err)
{
	d->in_cb++;
	d->cb(d, c, err, d->arg);
	d->in_cb--;
	if (d->dead) {
		if (d->in_cb == 0)
			discover_destroy(d);
		return -1;
	}
	return 0;
}

static void
discover_finish(struct dns_discovery *d, enum dns_error err)
{
	char n[24];

	if (d->emitted > 0)
		err = DNS_OK;
	if (err != DNS_OK)
		dns_resolver_counters(d->r)->lookup_failures++;
	discover_enter_state(d, DISCOVER_DONE);
	snprintf(n, sizeof(n), "%zu", d->emitted);
	log_event(err == DNS_OK ? LOG_DEBUG : LOG_INFO, "dns.discover.done",
	    "domain", d->domain, "source", dns_source_name(d->source),
	    "candidates", n, "error", err == DNS_OK ? NULL : dns_error_str(err),
	    NULL);
	(void)discover_call(d, NULL, err);
}

/* Ranks address-phase failures: the final error is the most telling. */
static int
addr_err_rank(enum dns_error e)
{
	switch (e) {
	case DNS_OK:			return 0;
	case DNS_ERR_NO_ADDRESSES:	return 1;
	case DNS_ERR_NXDOMAIN:		return 2;
	case DNS_ERR_TIMEOUT:		return 4;
	default:			return 3;
	}
}

static void
note_addr_error(struct dns_discovery *d, enum dns_error e)
{
	if (e == DNS_ERR_NODATA ||
	    (e == DNS_ERR_NXDOMAIN && d->source == DNS_SOURCE_SRV))
		e = DNS_ERR_NO_ADDRESSES;
	if (addr_err_rank(e) > addr_err_rank(d->addr_err))
		d->addr_err = e;
}

/* --- the address phase ------------------------------------------------------ */

static void addresses_pump(struct dns_discovery *d);

static void
target_done(struct dns_discovery *d, struct target *t)
{
	t->state = TARGET_DONE;
	d->resolving--;
	addresses_pump(d);
}

static void
target_tlsa_cb(void *arg, enum dns_error err, struct dns_rrset *set)
{
	struct target *t = arg;

	t->qt = NULL;
	t->tlsa_err = err;
	if (set != NULL && (err == DNS_OK || err == DNS_ERR_NXDOMAIN ||
	    err == DNS_ERR_NODATA))
		t->tlsa = dns_rrset_ref(set);
	target_done(t->d, t);
}

/* RFC 7673 §3.2: the TLSA query only for a target whose SRV and address
 * answers were authenticated.  1 if the query went out. */
static int
target_tlsa_start(struct dns_discovery *d, struct target *t)
{
	char qname[DNS_NAME_MAX + 1];

	if (!d->want_tlsa || !t->srv_secure)
		return 0;
	/* Every address answer kept must be authenticated (none: nothing
	 * to connect to, nothing to ask). */
	if ((t->set6 == NULL && t->set4 == NULL) ||
	    (t->set6 != NULL && !t->set6->secure) ||
	    (t->set4 != NULL && !t->set4->secure))
		return 0;
	t->dnssec = 1;
	if (dns_tlsa_name(t->name, t->port, qname, sizeof(qname)) < 0) {
		t->tlsa_err = DNS_ERR_BAD_NAME;
		return 0;
	}
	t->qt = dns_resolver_query(d->r, qname, DNS_RR_TLSA, target_tlsa_cb, t);
	if (t->qt == NULL) {
		t->tlsa_err = DNS_ERR_NOMEM;
		return 0;
	}
	return 1;
}

static void
target_answer(struct target *t, struct dns_query **qp, struct dns_rrset **setp,
    enum dns_error err, struct dns_rrset *set)
{
	struct dns_discovery *d = t->d;

	*qp = NULL;
	if (err == DNS_OK && set != NULL && set->n > 0)
		*setp = dns_rrset_ref(set);
	else
		note_addr_error(d, err == DNS_OK ? DNS_ERR_NO_ADDRESSES : err);
	if (--t->pending == 0 && !target_tlsa_start(d, t))
		target_done(d, t);
}

static void
target_aaaa_cb(void *arg, enum dns_error err, struct dns_rrset *set)
{
	struct target *t = arg;

	target_answer(t, &t->q6, &t->set6, err, set);
}

static void
target_a_cb(void *arg, enum dns_error err, struct dns_rrset *set)
{
	struct target *t = arg;

	target_answer(t, &t->q4, &t->set4, err, set);
}

static void
target_start(struct dns_discovery *d, struct target *t)
{
	t->state = TARGET_RESOLVING;
	d->resolving++;
	t->pending = 2;
	t->q6 = dns_resolver_query(d->r, t->name, DNS_RR_AAAA, target_aaaa_cb, t);
	t->q4 = dns_resolver_query(d->r, t->name, DNS_RR_A, target_a_cb, t);
	/* Out of memory: count the missing answers as failed now (no
	 * callback can re-enter: queries always answer from the loop). */
	if (t->q6 == NULL) {
		note_addr_error(d, DNS_ERR_NOMEM);
		t->pending--;
	}
	if (t->q4 == NULL) {
		note_addr_error(d, DNS_ERR_NOMEM);
		t->pending--;
	}
	if (t->pending == 0) {
		t->state = TARGET_DONE;
		d->resolving--;
	}
}

static int
seen_before(struct dns_discovery *d, const struct dns_addr_rr *a, uint16_t port)
{
	size_t i, len = a->family == AF_INET ? 4 : 16;

	for (i = 0; i < d->emitted; i++)
		if (d->seen[i].family == a->family && d->seen[i].port == port &&
		    memcmp(d->seen[i].addr, a->addr, len) == 0)
			return 1;
	return 0;
}

/* Gives one candidate; -1 if the discovery was freed by the callback. */
static int
emit_one(struct dns_discovery *d, struct target *t, const struct dns_rrset *set,
    size_t i)
{
	const struct dns_addr_rr *a = &set->rr.addr[i];
	struct dns_candidate c;
	uint32_t ttl;

	if (seen_before(d, a, t->port))
		return 0;
	memset(&c, 0, sizeof(c));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&c.addr;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(t->port);
		memcpy(&sin->sin_addr, a->addr, 4);
		c.addrlen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&c.addr;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(t->port);
		memcpy(&sin6->sin6_addr, a->addr, 16);
		c.addrlen = sizeof(*sin6);
	}
	inet_ntop(a->family, a->addr, c.addr_str, sizeof(c.addr_str));
	c.port = t->port;
	c.tls = t->tls;
	c.source = d->source;
	ttl = dns_rrset_ttl_left(set, uv_now(dns_resolver_loop(d->r)));
	c.ttl_s = ttl < t->srv_ttl_s ? ttl : t->srv_ttl_s;
	memcpy(c.target, t->name, sizeof(c.target));
	c.dnssec = t->dnssec;
	c.tlsa = t->tlsa;
	c.tlsa_err = t->tlsa_err;

	d->seen[d->emitted].family = a->family;
	d->seen[d->emitted].port = t->port;
	memcpy(d->seen[d->emitted].addr, a->addr, sizeof(a->addr));
	d->emitted++;
	return discover_call(d, &c, DNS_OK);
}

/* RFC 8305 §4: alternate address families, IPv6 first.  -1 if freed. */
static int
target_emit(struct dns_discovery *d, struct target *t)
{
	size_t n6 = t->set6 ? t->set6->n : 0, n4 = t->set4 ? t->set4->n : 0;
	size_t i, max = dns_resolver_config(d->r)->max_addresses;

	for (i = 0; i < n6 || i < n4; i++) {
		if (i < n6 && d->emitted < max && emit_one(d, t, t->set6, i) < 0)
			return -1;
		if (i < n4 && d->emitted < max && emit_one(d, t, t->set4, i) < 0)
			return -1;
	}
	return 0;
}

static void
addresses_pump(struct dns_discovery *d)
{
	size_t max = dns_resolver_config(d->r)->max_addresses;

	if (d->state != DISCOVER_ADDRESSES)	/* late answers after the end */
		return;
	while (d->next_emit < d->ntargets && d->emitted < max) {
		struct target *t;

		while (d->resolving < TARGETS_PARALLEL && d->next_start < d->ntargets)
			target_start(d, &d->targets[d->next_start++]);
		t = &d->targets[d->next_emit];
		if (t->state != TARGET_DONE)
			return;
		if (target_emit(d, t) < 0)
			return;
		d->next_emit++;
	}
	discover_finish(d, d->addr_err != DNS_OK ? d->addr_err : DNS_ERR_NO_ADDRESSES);
}

static void
addresses_begin(struct dns_discovery *d)
{
	discover_enter_state(d, DISCOVER_ADDRESSES);
	addresses_pump(d);
}

/* --- the SRV phase ------------------------------------------------------------ */

static int
rrset_is_dot(const struct dns_rrset *set)
{
	return set != NULL && set->n == 1 && strcmp(set->rr.srv[0].target, ".") == 0;
}

/*
 * RFC 6120 §3.2.2: the answers to _xmpp-server._tcp.D after which D's own
 * A/AAAA records are tried.  A server that answered (NXDOMAIN, NODATA,
 * SERVFAIL, REFUSED) is reachable, so asking it for A/AAAA costs one round
 * trip.  Silence (timeout, no server) is not fallen back from: the A queries
 * would wait out the same timeout.
 */
static int
srv_err_allows_fallback(enum dns_error e)
{
	switch (e) {
	case DNS_ERR_NXDOMAIN:
	case DNS_ERR_NODATA:
	case DNS_ERR_SERVFAIL:
	case DNS_ERR_REFUSED:
		return 1;
	default:
		return 0;
	}
}

static void
srv_decide(struct dns_discovery *d)
{
	const struct dns_config *cfg = dns_resolver_config(d->r);
	struct dns_srv_target recs[2 * DNS_SRV_RECORDS_MAX];
	uint64_t now = uv_now(dns_resolver_loop(d->r));
	size_t n = 0, i, k;

	for (k = 0; k < 2; k++) {
		const struct dns_rrset *set = d->srv[k];

		for (i = 0; set != NULL && i < set->n; i++) {
			if (strcmp(set->rr.srv[i].target, ".") == 0)
				continue;
			recs[n].priority = set->rr.srv[i].priority;
			recs[n].weight = set->rr.srv[i].weight;
			recs[n].port = set->rr.srv[i].port;
			recs[n].target = set->rr.srv[i].target;
			recs[n].tls = srv_tls[k];
			recs[n].secure = set->secure;
			recs[n].ttl_s = dns_rrset_ttl_left(set, now);
			n++;
		}
	}
	if (n > 0) {
		d->source = DNS_SOURCE_SRV;
		n = dns_srv_order(recs, n, cfg->max_srv_targets, dns_resolver_rng(d->r));
	} else if (rrset_is_dot(d->srv[0]) || rrset_is_dot(d->srv[1])) {
		discover_finish(d, DNS_ERR_NOT_AVAILABLE);
		return;
	} else if (!srv_err_allows_fallback(d->srv_err[1])) {
		discover_finish(d, d->srv_err[1] == DNS_OK ? DNS_ERR_BAD_RESPONSE :
		    d->srv_err[1]);
		return;
	} else {
		/* RFC 6120 §3.2.2: no SRV records, the domain itself. */
		d->source = DNS_SOURCE_FALLBACK;
		recs[0].port = DNS_XMPP_SERVER_PORT;
		recs[0].tls = DNS_TLS_STARTTLS;
		recs[0].target = d->domain;
		recs[0].ttl_s = UINT32_MAX;
		/* Secure only when both SRV names are proven absent. */
		recs[0].secure = d->srv_secure[0] && d->srv_secure[1];
		n = 1;
	}
	d->targets = calloc(n, sizeof(*d->targets));
	if (d->targets == NULL) {
		discover_finish(d, DNS_ERR_NOMEM);
		return;
	}
	for (i = 0; i < n; i++) {
		struct target *t = &d->targets[i];

		t->d = d;
		t->state = TARGET_WAITING;
		memcpy(t->name, recs[i].target, strlen(recs[i].target) + 1);
		t->port = recs[i].port;
		t->tls = recs[i].tls;
		t->srv_ttl_s = recs[i].ttl_s;
		t->srv_secure = recs[i].secure;
	}
	d->ntargets = n;
	addresses_begin(d);
}

static void
srv_answer(struct dns_discovery *d, int k, enum dns_error err,
    struct dns_rrset *set)
{
	d->q_srv[k] = NULL;
	d->srv_err[k] = err;
	d->srv_secure[k] = set != NULL && set->secure;
	if (err == DNS_OK && set != NULL)
		d->srv[k] = dns_rrset_ref(set);
	if (--d->srv_pending == 0)
		srv_decide(d);
}

static void
srv_xmpps_cb(void *arg, enum dns_error err, struct dns_rrset *set)
{
	srv_answer(arg, 0, err, set);
}

static void
srv_xmpp_cb(void *arg, enum dns_error err, struct dns_rrset *set)
{
	srv_answer(arg, 1, err, set);
}

/* --- public ------------------------------------------------------------------- */

enum dns_error
dns_discover_start(struct dns_resolver *r, const char *domain,
    dns_discover_cb cb, void *arg, struct dns_discovery **out)
{
	return dns_discover_start_dane(r, domain, 0, cb, arg, out);
}

enum dns_error
dns_discover_start_dane(struct dns_resolver *r, const char *domain,
    int want_tlsa, dns_discover_cb cb, void *arg, struct dns_discovery **out)
{
	struct dns_discovery *d;
	char qname[DNS_NAME_MAX + 1];
	const char *why;
	int k;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return DNS_ERR_NOMEM;
	if (dns_name_normalize(domain, d->domain, sizeof(d->domain), &why) < 0) {
		log_event(LOG_INFO, "dns.discover.bad_name", "domain", domain,
		    "reason", why, NULL);
		free(d);
		return DNS_ERR_BAD_NAME;
	}
	/* The longest prefix is 19 octets: the SRV names must fit too. */
	if (strlen(d->domain) + strlen(srv_prefix[0]) > DNS_NAME_MAX) {
		log_event(LOG_INFO, "dns.discover.bad_name", "domain", domain,
		    "reason", "name too long for an SRV lookup", NULL);
		free(d);
		return DNS_ERR_BAD_NAME;
	}
	d->r = r;
	d->cb = cb;
	d->arg = arg;
	d->want_tlsa = want_tlsa;
	d->state = DISCOVER_SRV;
	d->source = DNS_SOURCE_SRV;
	for (k = 0; k < 2; k++) {
		snprintf(qname, sizeof(qname), "%s%s", srv_prefix[k], d->domain);
		d->q_srv[k] = dns_resolver_query(r, qname, DNS_RR_SRV,
		    k == 0 ? srv_xmpps_cb : srv_xmpp_cb, d);
		if (d->q_srv[k] == NULL) {
			dns_query_cancel(d->q_srv[0]);
			free(d);
			return DNS_ERR_NOMEM;
		}
	}
	d->srv_pending = 2;
	dns_resolver_counters(r)->lookups++;
	log_event(LOG_DEBUG, "dns.discover.start", "domain", d->domain, NULL);
	*out = d;
	return DNS_OK;
}

static void
discover_destroy(struct dns_discovery *d)
{
	size_t i;
	int k;

	for (k = 0; k < 2; k++) {
		dns_query_cancel(d->q_srv[k]);
		dns_rrset_unref(d->srv[k]);
	}
	for (i = 0; i < d->ntargets; i++) {
		dns_query_cancel(d->targets[i].q6);
		dns_query_cancel(d->targets[i].q4);
		dns_query_cancel(d->targets[i].qt);
		dns_rrset_unref(d->targets[i].set6);
		dns_rrset_unref(d->targets[i].set4);
		dns_rrset_unref(d->targets[i].tlsa);
	}
	free(d->targets);
	free(d);
}

void
dns_discover_free(struct dns_discovery *d)
{
	if (d == NULL)
		return;
	if (d->in_cb > 0) {
		d->dead = 1;	/* discover_call() frees it on the way out */
		return;
	}
	discover_destroy(d);
}
