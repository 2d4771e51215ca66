/* SPDX-License-Identifier: Apache-2.0 */
/*
 * resolver.c - c-ares on the libuv loop: one channel per resolver, raw
 * queries (name, type) answered from the cache or the network.
 *
 * The integration is the classic one for an event loop that is not
 * c-ares's own (c-ares docs, "ares_set_socket_callback"/"sock_state_cb";
 * ARES_OPT_EVENT_THREAD would start a thread, which we do not want):
 *
 *   - c-ares tells us through the socket-state callback which of its
 *     sockets it wants read/write readiness for; we keep one uv_poll_t per
 *     socket and start/stop it accordingly, closing it when c-ares says
 *     (0, 0) (it does so before it closes the fd, so libuv never watches a
 *     recycled descriptor);
 *   - readiness goes back with ares_process_fd(fd, fd);
 *   - after anything that may change c-ares's deadlines, one uv_timer_t is
 *     re-armed from ares_timeout(); when it fires, ares_process_fd(BAD,
 *     BAD) lets c-ares retry or fail timed-out queries.
 *
 * Answers are parsed here, once, from c-ares's parsed record
 * (ares_send_dnsrec: TTLs and the AD bit available), into an immutable
 * struct dns_rrset that goes into the cache (cache.c) and to the asker.  Limits: at most
 * DNS_SRV_RECORDS_MAX SRV records (the lowest priorities) and
 * DNS_ADDRESSES_MAX addresses are kept per answer, SRV targets that are
 * not valid names are dropped.  c-ares's own query cache is disabled:
 * ours applies the configured TTL bounds.
 *
 * DNSSEC (for DANE): every query goes out with the AD bit and the EDNS
 * DO bit set (RFC 6840 §5.7, RFC 3225), so a validating resolver says in
 * the AD bit of its answer whether it authenticated the data (RFC 4035
 * §3.2.3); struct dns_rrset keeps that as 'secure'.  xmpp-edge does not
 * validate signatures itself: the AD bit is only as trustworthy as the
 * path to the resolver, so the operator points dns.servers at a
 * validating resolver on loopback or a trusted network (RFC 6698 §4.1,
 * RFC 4035 §4.9.3).  The query is built here (ares_send_dnsrec) rather
 * than by ares_query_dnsrec, which cannot set those bits; the answer's
 * RCODE is mapped to a status the same way ares_query_dnsrec does.
 *
 * Callbacks are always delivered from the loop: cache hits, and failures
 * c-ares reports from inside ares_send_dnsrec(), wait on a ready list
 * flushed by a zero-delay timer.  That keeps the callers' state machines
 * free of re-entrancy from their own start functions.
 */
#include "dns_internal.h"

#include <ares.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct dns_poll {
	uv_poll_t handle;
	ares_socket_t fd;
	struct dns_resolver *r;
	struct dns_poll *next;
};

struct dns_query {
	struct dns_resolver *r;
	struct dns_query *next;		/* ready list */
	dns_query_cb cb;
	void *arg;
	enum dns_rrtype type;
	int cancelled;
	int in_ares;			/* c-ares still holds a pointer to us */
	enum dns_error err;		/* result waiting on the ready list */
	struct dns_rrset *set;
	char name[DNS_NAME_MAX + 1];
};

struct dns_resolver {
	uv_loop_t *loop;
	struct dns_config cfg;
	ares_channel_t *channel;
	uv_timer_t *timer;		/* c-ares deadlines; malloc'd, freed on close */
	uv_timer_t *defer;		/* flushes the ready list */
	struct dns_poll *polls;
	struct dns_query *ready_head, *ready_tail;
	struct dns_cache *cache;
	struct dns_rng rng;
	/* Inside ares_send_dnsrec(): c-ares may fail this query or another
	 * one (a socket error found while sending) right there, and those
	 * callbacks must wait for the loop. */
	int submitting;
	int closing;
	struct dns_stats stats;
};

static void
handle_free_cb(uv_handle_t *h)
{
	free(h);
}

static void
poll_free_cb(uv_handle_t *h)
{
	free(h->data);
}

/* --- c-ares <-> libuv ------------------------------------------------------ */

static void timer_update(struct dns_resolver *r);

static void
timer_cb(uv_timer_t *t)
{
	struct dns_resolver *r = t->data;

	ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	timer_update(r);
}

static void
timer_update(struct dns_resolver *r)
{
	struct timeval tv, *tvp;
	uint64_t ms;

	if (r->closing)
		return;
	tvp = ares_timeout(r->channel, NULL, &tv);
	if (tvp == NULL) {
		uv_timer_stop(r->timer);
		return;
	}
	ms = (uint64_t)tvp->tv_sec * 1000 + ((uint64_t)tvp->tv_usec + 999) / 1000;
	uv_timer_start(r->timer, timer_cb, ms, 0);
}

static void
poll_cb(uv_poll_t *h, int status, int events)
{
	struct dns_poll *p = h->data;
	struct dns_resolver *r = p->r;
	ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

	if (status < 0) {
		/* Let c-ares read the socket and find the error itself. */
		rfd = wfd = p->fd;
	} else {
		if (events & UV_READABLE)
			rfd = p->fd;
		if (events & UV_WRITABLE)
			wfd = p->fd;
	}
	/* p may be closed by sock_state_cb inside; do not touch it after. */
	ares_process_fd(r->channel, rfd, wfd);
	timer_update(r);
}

static void
sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_resolver *r = data;
	struct dns_poll *p, **pp;
	char fdstr[16];
	int rc;

	for (pp = &r->polls; (p = *pp) != NULL; pp = &p->next)
		if (p->fd == fd)
			break;
	if (!readable && !writable) {
		if (p != NULL) {
			*pp = p->next;
			uv_close((uv_handle_t *)&p->handle, poll_free_cb);
		}
		return;
	}
	if (p == NULL) {
		p = calloc(1, sizeof(*p));
		if (p == NULL)
			goto fail;
		if ((rc = uv_poll_init_socket(r->loop, &p->handle, fd)) < 0) {
			free(p);
			goto fail;
		}
		p->handle.data = p;
		p->fd = fd;
		p->r = r;
		p->next = r->polls;
		r->polls = p;
	}
	uv_poll_start(&p->handle, (readable ? UV_READABLE : 0) |
	    (writable ? UV_WRITABLE : 0), poll_cb);
	return;
fail:
	/* The query on that socket will time out; say why. */
	snprintf(fdstr, sizeof(fdstr), "%d", (int)fd);
	log_event(LOG_ERROR, "dns.poll.failed", "fd", fdstr, NULL);
}

/* --- delivering results ------------------------------------------------------ */

static void
defer_cb(uv_timer_t *t)
{
	struct dns_resolver *r = t->data;
	struct dns_query *q = r->ready_head, *next;

	/* Queries made from these callbacks go to a fresh list and the next
	 * loop iteration. */
	r->ready_head = r->ready_tail = NULL;
	for (; q != NULL; q = next) {
		next = q->next;
		if (!q->cancelled)
			q->cb(q->arg, q->err, q->set);
		dns_rrset_unref(q->set);
		free(q);
	}
}

static void
ready_push(struct dns_resolver *r, struct dns_query *q, enum dns_error err,
    struct dns_rrset *set)
{
	q->err = err;
	q->set = set;
	q->next = NULL;
	if (r->ready_tail)
		r->ready_tail->next = q;
	else
		r->ready_head = q;
	r->ready_tail = q;
	if (!uv_is_active((uv_handle_t *)r->defer))
		uv_timer_start(r->defer, defer_cb, 0, 0);
}

/* --- parsing answers -------------------------------------------------------- */

static enum dns_error
status_map(ares_status_t status)
{
	switch (status) {
	case ARES_SUCCESS:	return DNS_OK;
	case ARES_ENODATA:	return DNS_ERR_NODATA;
	case ARES_ENOTFOUND:	return DNS_ERR_NXDOMAIN;
	case ARES_ETIMEOUT:	return DNS_ERR_TIMEOUT;
	case ARES_ESERVFAIL:	return DNS_ERR_SERVFAIL;
	case ARES_EREFUSED:	return DNS_ERR_REFUSED;
	case ARES_ECONNREFUSED:	return DNS_ERR_NO_SERVER;
	case ARES_ENOSERVER:	return DNS_ERR_NO_SERVER;
	case ARES_EFORMERR:
	case ARES_EBADRESP:
	case ARES_ENOTIMP:	return DNS_ERR_BAD_RESPONSE;
	case ARES_EBADNAME:	return DNS_ERR_BAD_NAME;
	case ARES_ENOMEM:	return DNS_ERR_NOMEM;
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:	return DNS_ERR_CANCELLED;
	default:		return DNS_ERR_RESOLVER;
	}
}

/* RFC 2308 §5: the negative TTL is the smaller of the SOA's TTL and its
 * MINIMUM field; UINT32_MAX when the answer carries no SOA. */
static uint32_t
negative_ttl(const ares_dns_record_t *rec)
{
	uint32_t ttl = UINT32_MAX;
	size_t i, n = ares_dns_record_rr_cnt(rec, ARES_SECTION_AUTHORITY);

	for (i = 0; i < n; i++) {
		const ares_dns_rr_t *rr = ares_dns_record_rr_get_const(rec,
		    ARES_SECTION_AUTHORITY, i);
		uint32_t t;

		if (ares_dns_rr_get_type(rr) != ARES_REC_TYPE_SOA)
			continue;
		t = ares_dns_rr_get_ttl(rr);
		if (ares_dns_rr_get_u32(rr, ARES_RR_SOA_MINIMUM) < t)
			t = ares_dns_rr_get_u32(rr, ARES_RR_SOA_MINIMUM);
		if (t < ttl)
			ttl = t;
	}
	return ttl;
}

static enum dns_error
parse_srv(const ares_dns_record_t *rec, struct dns_rrset **out)
{
	const ares_dns_rr_t *keep[DNS_SRV_RECORDS_MAX];
	char names[DNS_SRV_RECORDS_MAX][DNS_NAME_MAX + 1];
	size_t i, j, nkeep = 0, seen = 0, names_len = 0;
	size_t n = ares_dns_record_rr_cnt(rec, ARES_SECTION_ANSWER);
	uint32_t ttl = UINT32_MAX;
	struct dns_rrset *set;

	/* Keep the DNS_SRV_RECORDS_MAX records of lowest priority: only
	 * those can come first in any RFC 2782 order we would use. */
	for (i = 0; i < n; i++) {
		const ares_dns_rr_t *rr = ares_dns_record_rr_get_const(rec,
		    ARES_SECTION_ANSWER, i);
		const char *target, *why;
		char canon[DNS_NAME_MAX + 1];
		size_t worst = 0;

		if (ares_dns_rr_get_type(rr) != ARES_REC_TYPE_SRV ||
		    ares_dns_rr_get_class(rr) != ARES_CLASS_IN)
			continue;
		seen++;
		target = ares_dns_rr_get_str(rr, ARES_RR_SRV_TARGET);
		if (target == NULL)
			continue;
		if (target[0] == '\0' || strcmp(target, ".") == 0)
			strcpy(canon, ".");
		else if (dns_name_normalize(target, canon, sizeof(canon), &why) < 0) {
			log_event(LOG_WARN, "dns.srv.bad_target", "target", target,
			    "reason", why, NULL);
			continue;
		}
		if (nkeep == DNS_SRV_RECORDS_MAX) {
			for (j = 1; j < nkeep; j++)
				if (ares_dns_rr_get_u16(keep[j], ARES_RR_SRV_PRIORITY) >
				    ares_dns_rr_get_u16(keep[worst], ARES_RR_SRV_PRIORITY))
					worst = j;
			if (ares_dns_rr_get_u16(rr, ARES_RR_SRV_PRIORITY) >=
			    ares_dns_rr_get_u16(keep[worst], ARES_RR_SRV_PRIORITY))
				continue;
			names_len -= strlen(names[worst]) + 1;
			j = worst;
		} else {
			j = nkeep++;
		}
		keep[j] = rr;
		memcpy(names[j], canon, strlen(canon) + 1);
		names_len += strlen(canon) + 1;
	}
	if (seen == 0)
		return DNS_ERR_NODATA;
	if (nkeep == 0)		/* records, none usable: do not fall back */
		return DNS_ERR_BAD_RESPONSE;
	set = dns_rrset_new(DNS_RR_SRV, DNS_OK, nkeep, names_len);
	if (set == NULL)
		return DNS_ERR_NOMEM;
	for (i = 0; i < nkeep; i++) {
		uint32_t t = ares_dns_rr_get_ttl(keep[i]);

		dns_rrset_add_srv(set,
		    ares_dns_rr_get_u16(keep[i], ARES_RR_SRV_PRIORITY),
		    ares_dns_rr_get_u16(keep[i], ARES_RR_SRV_WEIGHT),
		    ares_dns_rr_get_u16(keep[i], ARES_RR_SRV_PORT), names[i]);
		if (t < ttl)
			ttl = t;
	}
	set->ttl_s = ttl;
	*out = set;
	return DNS_OK;
}

static enum dns_error
parse_addr(const ares_dns_record_t *rec, enum dns_rrtype type,
    struct dns_rrset **out)
{
	size_t i, n = ares_dns_record_rr_cnt(rec, ARES_SECTION_ANSWER), cnt = 0;
	uint32_t ttl = UINT32_MAX;
	struct dns_rrset *set;

	for (i = 0; i < n; i++) {
		const ares_dns_rr_t *rr = ares_dns_record_rr_get_const(rec,
		    ARES_SECTION_ANSWER, i);

		if ((int)ares_dns_rr_get_type(rr) == (int)type &&
		    ares_dns_rr_get_class(rr) == ARES_CLASS_IN)
			cnt++;
	}
	if (cnt == 0)
		return DNS_ERR_NODATA;
	if (cnt > DNS_ADDRESSES_MAX)
		cnt = DNS_ADDRESSES_MAX;
	set = dns_rrset_new(type, DNS_OK, cnt, 0);
	if (set == NULL)
		return DNS_ERR_NOMEM;
	for (i = 0; i < n && set->n < cnt; i++) {
		const ares_dns_rr_t *rr = ares_dns_record_rr_get_const(rec,
		    ARES_SECTION_ANSWER, i);
		struct dns_addr_rr *a = &set->rr.addr[set->n];

		if ((int)ares_dns_rr_get_type(rr) != (int)type ||
		    ares_dns_rr_get_class(rr) != ARES_CLASS_IN)
			continue;
		if (type == DNS_RR_A) {
			const struct in_addr *in = ares_dns_rr_get_addr(rr, ARES_RR_A_ADDR);

			if (in == NULL)
				continue;
			a->family = AF_INET;
			memcpy(a->addr, in, 4);
		} else {
			const struct ares_in6_addr *in6 =
			    ares_dns_rr_get_addr6(rr, ARES_RR_AAAA_ADDR);

			if (in6 == NULL)
				continue;
			a->family = AF_INET6;
			memcpy(a->addr, in6, 16);
		}
		if (ares_dns_rr_get_ttl(rr) < ttl)
			ttl = ares_dns_rr_get_ttl(rr);
		set->n++;
	}
	set->ttl_s = ttl;
	*out = set;
	return DNS_OK;
}

/* Turns c-ares's result into (err, set) and caches what can be cached. */
static enum dns_error
answer_parse(struct dns_resolver *r, struct dns_query *q, ares_status_t status,
    const ares_dns_record_t *rec, struct dns_rrset **out)
{
	enum dns_error err = status_map(status);
	struct dns_rrset *set = NULL;

	*out = NULL;
	if (err == DNS_OK && rec != NULL) {
		err = q->type == DNS_RR_SRV ? parse_srv(rec, &set) :
		    q->type == DNS_RR_TLSA ? dns_tlsa_parse(rec, q->name, &set) :
		    parse_addr(rec, q->type, &set);
	} else if (err == DNS_OK) {
		err = DNS_ERR_BAD_RESPONSE;
	}
	if (err == DNS_ERR_NXDOMAIN || err == DNS_ERR_NODATA) {
		set = dns_rrset_new(q->type, err, 0, 0);
		if (set == NULL)
			return DNS_ERR_NOMEM;
		set->ttl_s = rec ? negative_ttl(rec) : UINT32_MAX;
	}
	if (set != NULL) {
		set->fetched_ms = uv_now(r->loop);
		set->secure = rec != NULL &&
		    (ares_dns_record_get_flags(rec) & ARES_FLAG_AD) != 0;
		if (r->cache != NULL)
			dns_cache_put(r->cache, q->name, q->type, set,
			    dns_cache_lifetime_s(&r->cfg, set), set->fetched_ms);
		*out = set;
		log_event(LOG_DEBUG, "dns.query.answer", "name", q->name,
		    "type", dns_rrtype_name(q->type), "result", dns_error_str(err),
		    "dnssec", set->secure ? "authenticated" : "insecure", NULL);
	} else {
		log_event(err == DNS_ERR_CANCELLED ? LOG_DEBUG : LOG_WARN,
		    "dns.query.failed", "name", q->name,
		    "type", dns_rrtype_name(q->type), "error", dns_error_str(err),
		    "cares", ares_strerror((int)status), NULL);
	}
	return err;
}

/* What ares_query_dnsrec's wrapper does with the RCODE of an answer
 * (c-ares ares_dns_query_reply_tostatus, which is not exported). */
static ares_status_t
rcode_status(const ares_dns_record_t *rec)
{
	switch (ares_dns_record_get_rcode(rec)) {
	case ARES_RCODE_NOERROR:
		return ares_dns_record_rr_cnt(rec, ARES_SECTION_ANSWER) > 0 ?
		    ARES_SUCCESS : ARES_ENODATA;
	case ARES_RCODE_FORMERR:	return ARES_EFORMERR;
	case ARES_RCODE_SERVFAIL:	return ARES_ESERVFAIL;
	case ARES_RCODE_NXDOMAIN:	return ARES_ENOTFOUND;
	case ARES_RCODE_NOTIMP:		return ARES_ENOTIMP;
	case ARES_RCODE_REFUSED:	return ARES_EREFUSED;
	default:			return ARES_EBADRESP;
	}
}

static void
ares_cb(void *arg, ares_status_t status, size_t timeouts,
    const ares_dns_record_t *rec)
{
	struct dns_query *q = arg;
	struct dns_resolver *r = q->r;
	struct dns_rrset *set;
	enum dns_error err;

	(void)timeouts;
	q->in_ares = 0;
	if (status == ARES_SUCCESS && rec != NULL)
		status = rcode_status(rec);
	if (r->closing || q->cancelled) {
		free(q);
		return;
	}
	err = answer_parse(r, q, status, rec, &set);
	if (err != DNS_OK && err != DNS_ERR_NXDOMAIN && err != DNS_ERR_NODATA)
		r->stats.query_failures++;
	if (r->submitting) {
		ready_push(r, q, err, set);
		return;
	}
	q->cb(q->arg, err, set);
	dns_rrset_unref(set);
	free(q);
}

/* EDNS payload size advertised (the DNS Flag Day 2020 value): a DO
 * answer with signatures that does not fit comes back truncated and
 * c-ares retries it over TCP. */
#define EDNS_UDP_SIZE 1232
#define EDNS_FLAG_DO 0x8000	/* RFC 3225 */

/* Builds the question with RD, AD (RFC 6840 §5.7) and EDNS(0) with DO
 * (RFC 3225), and hands it to c-ares. */
static ares_status_t
query_send(struct dns_resolver *r, const char *name, enum dns_rrtype type,
    struct dns_query *q)
{
	ares_dns_record_t *rec = NULL;
	ares_dns_rr_t *opt = NULL;
	ares_status_t st;

	st = ares_dns_record_create(&rec, 0, ARES_FLAG_RD | ARES_FLAG_AD,
	    ARES_OPCODE_QUERY, ARES_RCODE_NOERROR);
	if (st == ARES_SUCCESS)
		st = ares_dns_record_query_add(rec, name, (ares_dns_rec_type_t)type,
		    ARES_CLASS_IN);
	if (st == ARES_SUCCESS)
		st = ares_dns_record_rr_add(&opt, rec, ARES_SECTION_ADDITIONAL, "",
		    ARES_REC_TYPE_OPT, ARES_CLASS_IN, 0);
	if (st == ARES_SUCCESS)
		st = ares_dns_rr_set_u16(opt, ARES_RR_OPT_UDP_SIZE, EDNS_UDP_SIZE);
	if (st == ARES_SUCCESS)
		st = ares_dns_rr_set_u8(opt, ARES_RR_OPT_VERSION, 0);
	if (st == ARES_SUCCESS)
		st = ares_dns_rr_set_u16(opt, ARES_RR_OPT_FLAGS, EDNS_FLAG_DO);
	if (st == ARES_SUCCESS)
		st = ares_send_dnsrec(r->channel, rec, ares_cb, q, NULL);
	ares_dns_record_destroy(rec);
	return st;
}

/* --- public ------------------------------------------------------------------ */

struct dns_query *
dns_resolver_query(struct dns_resolver *r, const char *name,
    enum dns_rrtype type, dns_query_cb cb, void *arg)
{
	struct dns_query *q;
	struct dns_rrset *set;
	size_t len = strlen(name);
	ares_status_t st;

	if (len > DNS_NAME_MAX || (q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	q->r = r;
	q->cb = cb;
	q->arg = arg;
	q->type = type;
	memcpy(q->name, name, len + 1);

	if (r->cache != NULL &&
	    (set = dns_cache_get(r->cache, name, type, uv_now(r->loop))) != NULL) {
		log_event(LOG_DEBUG, "dns.query.cached", "name", name,
		    "type", dns_rrtype_name(type), NULL);
		r->stats.queries_cached++;
		ready_push(r, q, set->status, set);
		return q;
	}
	log_event(LOG_DEBUG, "dns.query", "name", name, "type",
	    dns_rrtype_name(type), NULL);
	r->stats.queries_sent++;
	r->submitting++;
	q->in_ares = 1;
	st = query_send(r, name, type, q);
	r->submitting--;
	if (q->in_ares && st != ARES_SUCCESS) {
		/* Refused before c-ares took the query: no callback coming. */
		q->in_ares = 0;
		ready_push(r, q, status_map(st) == DNS_OK ? DNS_ERR_RESOLVER :
		    status_map(st), NULL);
	}
	timer_update(r);
	return q;
}

void
dns_query_cancel(struct dns_query *q)
{
	if (q != NULL)
		q->cancelled = 1;
}

const struct dns_config *
dns_resolver_config(const struct dns_resolver *r)
{
	return &r->cfg;
}

uv_loop_t *
dns_resolver_loop(const struct dns_resolver *r)
{
	return r->loop;
}

struct dns_rng *
dns_resolver_rng(struct dns_resolver *r)
{
	return &r->rng;
}

struct dns_stats *
dns_resolver_counters(struct dns_resolver *r)
{
	return &r->stats;
}

void
dns_resolver_stats(const struct dns_resolver *r, struct dns_stats *out)
{
	*out = r->stats;
}

int
dns_resolver_new(uv_loop_t *loop, const struct dns_config *cfg,
    struct dns_resolver **out, char *err, size_t errlen)
{
	struct dns_resolver *r;
	struct ares_options opts;
	char csv[DNS_SERVERS_MAX * DNS_SERVER_STR_MAX];
	size_t i, off = 0;
	int st;

	*out = NULL;
	if (dns_config_validate(cfg, err, errlen) < 0)
		return -1;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto nomem;
	r->loop = loop;
	r->cfg = *cfg;
	dns_rng_seed_random(&r->rng);
	if (cfg->cache_max_entries > 0 &&
	    (r->cache = dns_cache_new(cfg->cache_max_entries, DNS_CACHE_MAX_BYTES)) == NULL)
		goto nomem;
	r->timer = malloc(sizeof(*r->timer));
	r->defer = malloc(sizeof(*r->defer));
	if (r->timer == NULL || r->defer == NULL) {
		free(r->timer);
		free(r->defer);
		dns_cache_free(r->cache);
		free(r);
		goto nomem;
	}
	uv_timer_init(loop, r->timer);
	uv_timer_init(loop, r->defer);
	r->timer->data = r->defer->data = r;

	if ((st = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares: %s", ares_strerror(st));
		goto fail;
	}
	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = sock_state_cb;
	opts.sock_state_cb_data = r;
	opts.timeout = (int)cfg->timeout_ms;
	opts.maxtimeout = (int)cfg->timeout_ms;	/* no doubling per round */
	opts.tries = (int)cfg->tries;
	opts.qcache_max_ttl = 0;		/* ours is in cache.c */
	st = ares_init_options(&r->channel, &opts, ARES_OPT_SOCK_STATE_CB |
	    ARES_OPT_TIMEOUTMS | ARES_OPT_MAXTIMEOUTMS | ARES_OPT_TRIES |
	    ARES_OPT_QUERY_CACHE);
	if (st != ARES_SUCCESS) {
		ares_library_cleanup();
		snprintf(err, errlen, "c-ares initialisation: %s", ares_strerror(st));
		goto fail;
	}
	if (cfg->nservers > 0) {
		for (i = 0; i < cfg->nservers; i++)
			off += (size_t)snprintf(csv + off, sizeof(csv) - off, "%s%s",
			    i ? "," : "", cfg->servers[i]);
		if ((st = ares_set_servers_ports_csv(r->channel, csv)) != ARES_SUCCESS) {
			snprintf(err, errlen, "dns.servers: %s", ares_strerror(st));
			ares_destroy(r->channel);
			ares_library_cleanup();
			goto fail;
		}
	}
	*out = r;
	return 0;

nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
fail:
	dns_cache_free(r->cache);
	uv_close((uv_handle_t *)r->timer, handle_free_cb);
	uv_close((uv_handle_t *)r->defer, handle_free_cb);
	free(r);
	return -1;
}

void
dns_resolver_free(struct dns_resolver *r)
{
	struct dns_query *q, *next;
	struct dns_poll *p;

	if (r == NULL)
		return;
	r->closing = 1;
	/* Pending c-ares queries come back through ares_cb with
	 * ARES_EDESTRUCTION and are freed there; sockets are closed. */
	ares_destroy(r->channel);
	ares_library_cleanup();
	while ((p = r->polls) != NULL) {
		r->polls = p->next;
		uv_close((uv_handle_t *)&p->handle, poll_free_cb);
	}
	for (q = r->ready_head; q != NULL; q = next) {
		next = q->next;
		dns_rrset_unref(q->set);
		free(q);
	}
	uv_close((uv_handle_t *)r->timer, handle_free_cb);
	uv_close((uv_handle_t *)r->defer, handle_free_cb);
	dns_cache_free(r->cache);
	free(r);
}
