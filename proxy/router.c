/* SPDX-License-Identifier: Apache-2.0 */
/*
 * router.c - routing between the two sides, and bounces (see router.h).
 */
#include "router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocklist.h"
#include "bounce.h"
#include "domain.h"
#include "log.h"
#include "s2s_in.h"
#include "s2s_out.h"
#include "strangers.h"

/* A stanza's namespace declarations inherited from its stream header
 * are written into its start tag; this bounds the extra bytes. */
#define ROUTER_NS_EXTRA 8192

int
router_is_hosted(const struct edge *edge, const char *domain)
{
	const struct config *cfg = edge->cfg;
	size_t i;

	for (i = 0; i < cfg->domain_count; i++)
		if (strcmp(cfg->domains[i].name, domain) == 0)
			return 1;
	return 0;
}

/* --- the routing table ---------------------------------------------------- */

void
router_slot_init(struct route_slot *r, int kind, const char *local, const char *remote,
    route_enqueue_fn *enqueue)
{
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->local = local;
	r->remote = remote;
	r->enqueue = enqueue;
	r->waiters.next = r->waiters.prev = &r->waiters;
}

/* FNV-1a over kind, local and remote: the bucket of a domain pair. */
static size_t
router_bucket(int kind, const char *local, const char *remote)
{
	uint32_t h = 2166136261u ^ (uint32_t)kind;
	const unsigned char *p;

	for (p = (const unsigned char *)local; *p; p++)
		h = (h ^ *p) * 16777619u;
	h = (h ^ ' ') * 16777619u;
	for (p = (const unsigned char *)remote; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % EDGE_ROUTE_BUCKETS;
}

/* The first ready slot of the pair, else its first slot (router.h). */
struct route_slot *
router_table_find(struct edge *edge, int kind, const char *local, const char *remote)
{
	struct route_slot *r, *first = NULL;

	for (r = edge->route_index[router_bucket(kind, local, remote)]; r != NULL; r = r->next)
		if (r->kind == kind && strcmp(r->local, local) == 0 && strcmp(r->remote, remote) == 0) {
			if (r->ready)
				return r;
			if (first == NULL)
				first = r;
		}
	return first;
}

void
router_table_add(struct edge *edge, struct route_slot *r)
{
	struct route_slot **b = &edge->route_index[router_bucket(r->kind, r->local, r->remote)];

	if (r->listed)
		return;
	/* At the end of the chain: among a pair's slots the order is the
	 * order they came (and became ready, router_slot_ready). */
	while (*b != NULL)
		b = &(*b)->next;
	r->next = NULL;
	*b = r;
	r->listed = 1;
}

void
router_slot_ready(struct edge *edge, struct route_slot *r)
{
	if (r->ready)
		return;
	r->ready = 1;
	if (!r->listed)
		return;
	/* Re-listed at the end: the slots of its pair ready before it stay
	 * ahead (the first ready keeps the stanzas). */
	router_table_remove(edge, r);
	router_table_add(edge, r);
}

void
router_table_remove(struct edge *edge, struct route_slot *r)
{
	struct route_slot **pp;

	if (!r->listed)
		return;
	r->listed = 0;
	for (pp = &edge->route_index[router_bucket(r->kind, r->local, r->remote)]; *pp != NULL;
	    pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	r->next = NULL;
}

/* --- waiters (backpressure) ---------------------------------------------- */

void
router_waiter_add(struct route_slot *r, struct route_waiter *w)
{
	if (w->on == r)
		return;
	route_waiter_cancel(w);
	w->on = r;
	w->next = r->waiters.next;
	w->prev = &r->waiters;
	r->waiters.next->prev = w;
	r->waiters.next = w;
}

void
route_waiter_cancel(struct route_waiter *w)
{
	if (w->on == NULL)
		return;
	w->prev->next = w->next;
	w->next->prev = w->prev;
	w->next = w->prev = NULL;
	w->on = NULL;
}

/* Each waiter is taken off before it is resumed: a resume may route
 * again and wait anew (on this slot or another). */
void
router_wake_waiters(struct route_slot *r)
{
	while (r->waiters.next != &r->waiters) {
		struct route_waiter *w = r->waiters.next;

		route_waiter_cancel(w);
		w->resume(w);
	}
}

int
router_jid_domain_span(const struct xmlstream_str *jid, struct xmlstream_str *d)
{
	const char *slash, *at;

	if (jid->p == NULL || jid->len == 0)
		return -1;
	*d = *jid;
	/* RFC 7622 §3.1: the resource starts at the first '/', the
	 * localpart ends at the first '@' before it. */
	slash = memchr(d->p, '/', d->len);
	if (slash != NULL)
		d->len = (size_t)(slash - d->p);
	at = memchr(d->p, '@', d->len);
	if (at != NULL) {
		d->len -= (size_t)(at + 1 - d->p);
		d->p = at + 1;
	}
	return 0;
}

int
router_jid_domain(const struct xmlstream_str *jid, char *out, size_t cap)
{
	struct xmlstream_str d;
	char why[128];

	if (router_jid_domain_span(jid, &d) < 0)
		return -1;
	return domain_canonicalize(d.p, d.len, out, cap, why, sizeof(why));
}

/* A new outgoing stream for local -> remote, its route slot; NULL with a
 * condition when none may start (shutting down, the policy or the
 * blocklist refuses remote, the partner's max_connections, or
 * s2s_out_start's refusal, whose reason is in err). */
static struct route_slot *
router_start_stream(struct edge *edge, enum s2s_out_kind kind, const char *local,
    const char *remote, enum stanza_error *condition, const char **text, char *err,
    size_t errlen)
{
	const char *why = "service-unavailable";
	struct s2s_out *o;

	/* Until the shutdown's last step a new stream may still start: a
	 * stanza read before the peer closed, or a bounce, needs one. */
	if (edge->shutdown_phase >= EDGE_SHUTDOWN_CLOSE) {
		*condition = STANZA_ERR_SERVICE_UNAVAILABLE;
		*text = "xmpp-edge is shutting down";
		return NULL;
	}
	if (kind == S2S_OUT_REMOTE) {
		const struct config_partner *p = config_policy_for(edge->cfg, remote);

		/* Whoever asks for the stream (a stanza's destination, or the
		 * bounce fallback), no connection is opened to a domain we may
		 * not federate with: a bounce toward one has no way back
		 * (router_route_bytes), as router_destination decides for an
		 * existing stream.  The same conditions and texts as there. */
		if (!p->allow) {
			*condition = STANZA_ERR_NOT_ALLOWED;
			*text = "federation with this domain is not allowed by policy";
			return NULL;
		}
		if (blocklist_refuses_route(edge, NULL, remote, condition, text))
			return NULL;
		if (p->max_connections > 0 && s2s_out_count_partner(edge, p) >= (size_t)p->max_connections) {
			*condition = STANZA_ERR_RESOURCE_CONSTRAINT;
			*text = "connection limit for this partner reached";
			return NULL;
		}
	}
	o = s2s_out_start(edge, kind, local, remote, &why, err, errlen);
	if (o == NULL) {
		/* s2s_out names its conditions by their RFC 6120 names. */
		*condition = stanza_error_from_name(why);
		*text = err;
		return NULL;
	}
	return s2s_out_route(o);
}

/* Where a stanza from -> to goes; NULL with a condition when nowhere. */
static struct route_slot *
router_destination(struct edge *edge, const char *from, const char *to,
    enum stanza_error *condition, const char **text, char *err, size_t errlen)
{
	enum s2s_out_kind kind;
	const char *local, *remote;
	struct route_slot *slot;
	int to_hosted = router_is_hosted(edge, to), from_hosted = router_is_hosted(edge, from);

	if (!to_hosted && blocklist_refuses_route(edge, NULL, to, condition, text))
		return NULL;
	if (to_hosted && from_hosted) {
		*condition = STANZA_ERR_SERVICE_UNAVAILABLE;
		*text = "xmpp-edge does not route between its own domains";
		return NULL;
	}
	if (to_hosted) {
		if (!edge->cfg->gateway.enabled) {
			*condition = STANZA_ERR_SERVICE_UNAVAILABLE;
			*text = "no internal gateway is configured";
			return NULL;
		}
		kind = S2S_OUT_GATEWAY;
		local = from;	/* we speak for the remote domain */
		remote = to;
	} else {
		const struct config_partner *p = config_policy_for(edge->cfg, to);

		if (!from_hosted) {
			*condition = STANZA_ERR_SERVICE_UNAVAILABLE;
			*text = "xmpp-edge relays only to or from its own domains";
			return NULL;
		}
		if (!p->allow) {
			*condition = STANZA_ERR_NOT_ALLOWED;
			*text = "federation with this domain is not allowed by policy";
			return NULL;
		}
		kind = S2S_OUT_REMOTE;
		local = from;
		remote = to;
	}
	slot = router_table_find(edge, (int)kind, local, remote);
	if (slot != NULL)
		return slot;
	return router_start_stream(edge, kind, local, remote, condition, text, err, errlen);
}

/*
 * A bounce the pair's destination refused.  Only a partner's
 * bidirectional stream does (s2s_in_bidi.c: it writes at once, and its
 * connection's bound, limits.send_queue_bytes, is hard); an outgoing
 * stream's queue takes bounces past its cap (router.h).  So the bounce
 * goes where any stanza for the pair would go without that stream: the
 * pair's other destinations in their order, else a new outgoing stream
 * (router_start_stream, as for any stanza, with the policy and the
 * blocklist checked there again).  A bounce refused everywhere has no
 * way back (ROUTE_LOST for the caller).
 * *taken: the slot that took it.  The enqueue's answer, or -1.
 */
static int
router_enqueue_bounce_elsewhere(struct edge *edge, struct route_slot *refused, const char *data,
    size_t len, const struct sm_tag *tag, struct route_slot **taken, char *err, size_t errlen)
{
	enum stanza_error condition;
	const char *text;
	struct route_slot *r;
	int rc;

	for (r = edge->route_index[router_bucket(refused->kind, refused->local, refused->remote)];
	    r != NULL; r = r->next) {
		if (r == refused || r->kind != refused->kind || strcmp(r->local, refused->local) != 0 ||
		    strcmp(r->remote, refused->remote) != 0)
			continue;
		if ((rc = r->enqueue(r, data, len, tag, 1)) >= 0) {
			*taken = r;
			return rc;
		}
	}
	if ((r = router_start_stream(edge, (enum s2s_out_kind)refused->kind, refused->local,
	    refused->remote, &condition, &text, err, errlen)) == NULL)
		return -1;
	log_event(LOG_INFO, "route.bounce_new_stream", "local", refused->local,
	    "remote", refused->remote, "reason", "the bidirectional stream's send queue is full", NULL);
	*taken = r;
	return r->enqueue(r, data, len, tag, 1);
}

/* err (the caller's) holds the reason *text may point to.  bounce: data
 * is a bounce (taken past the queue's cap, router.h). */
static enum route_result
router_enqueue(struct edge *edge, const char *data, size_t len, const char *from,
    const char *to, struct route_waiter *waiter, const struct sm_tag *tag, int bounce,
    enum stanza_error *condition, const char **text, char *err, size_t errlen)
{
	struct route_slot *r = router_destination(edge, from, to, condition, text, err, errlen);
	int rc;

	if (r == NULL)
		return ROUTE_BOUNCED;
	rc = r->enqueue(r, data, len, tag, bounce);
	if (rc < 0 && bounce)
		rc = router_enqueue_bounce_elsewhere(edge, r, data, len, tag, &r, err, errlen);
	if (rc < 0) {
		*condition = STANZA_ERR_RESOURCE_CONSTRAINT;
		*text = bounce ? "the queue toward this domain cannot take it" :
		    "the queue toward this domain is full";
		return ROUTE_BOUNCED;
	}
	edge->stats.stanzas_routed++;
	/* A bounce past the queue's limit: whoever sends from the domain it
	 * goes back to (to) waits, so bounces toward it stay bounded
	 * (router.h), also those made from other queues' stanzas. */
	if (rc > 0 && bounce)
		s2s_in_pause_senders(edge, r, to);
	if (rc > 0 && waiter != NULL) {
		router_waiter_add(r, waiter);
		return ROUTE_QUEUED_PAUSE;
	}
	return ROUTE_QUEUED;
}

enum route_result
router_route(struct edge *edge, const struct xmlstream *xs, const struct xmlstream_event *ev,
    const char *from_domain, const char *to_domain, struct route_waiter *waiter)
{
	return router_route_tagged(edge, xs, ev, from_domain, to_domain, waiter, NULL);
}

size_t
router_in_flight(const struct edge *edge)
{
	const struct s2s_out *o;
	size_t n = 0;

	for (o = edge->out_streams; o != NULL; o = s2s_out_next(o))
		n += s2s_out_in_flight(o);
	return n;
}

static enum route_bounce router_bounce_event_wait(struct edge *edge,
    const struct xmlstream_event *ev, enum stanza_error condition, const char *text,
    struct route_waiter *waiter, const struct sm_tag *tag);

/* A refused stanza's answer by what became of its bounce. */
static enum route_result
router_bounced(enum route_bounce b)
{
	switch (b) {
	case ROUTE_BOUNCE_PAUSE:
		return ROUTE_BOUNCED_PAUSE;
	case ROUTE_BOUNCE_LOST:
		return ROUTE_LOST;
	case ROUTE_BOUNCE_QUEUED:
	case ROUTE_BOUNCE_NONE:
		break;
	}
	return ROUTE_BOUNCED;
}

enum route_result
router_route_tagged(struct edge *edge, const struct xmlstream *xs, const struct xmlstream_event *ev,
    const char *from_domain, const char *to_domain, struct route_waiter *waiter,
    const struct sm_tag *tag)
{
	enum stanza_error condition = STANZA_ERR_UNDEFINED_CONDITION;
	const char *text = NULL;
	enum route_result r;
	char err[256];
	char *buf = NULL;
	const char *data = ev->raw.p;
	size_t len = ev->raw.len;

	/* A refused stanza's bounce pauses its source like a stanza of its
	 * own when the way back is full (the waiter): that bounds bounces
	 * made at the rate a peer sends (router.h). */
	if (blocklist_refuses_route(edge, from_domain, NULL, &condition, &text) ||
	    strangers_refuses(edge, ev, from_domain, to_domain, &condition, &text))
		return router_bounced(router_bounce_event_wait(edge, ev, condition, text, waiter, tag));

	/* The copy must stand alone on the other stream: declarations it
	 * inherits from its header go into its start tag (not needed for
	 * the common stanza that uses no header prefix). */
	if (ev->hdr_prefixes_used != 0) {
		size_t cap = ev->raw.len + ROUTER_NS_EXTRA;

		buf = malloc(cap);
		if (buf == NULL || xmlstream_element_write(xs, ev, 0, buf, cap, &len) < 0) {
			free(buf);
			return router_bounced(router_bounce_event_wait(edge, ev,
			    STANZA_ERR_RESOURCE_CONSTRAINT, "cannot copy the stanza", waiter, tag));
		}
		data = buf;
	}
	r = router_enqueue(edge, data, len, from_domain, to_domain, waiter, tag, 0, &condition, &text,
	    err, sizeof(err));
	free(buf);
	if (r == ROUTE_BOUNCED)
		r = router_bounced(router_bounce_event_wait(edge, ev, condition, text, waiter, tag));
	return r;
}

enum route_result
router_route_bytes(struct edge *edge, const char *data, size_t len, const char *from_domain,
    const char *to_domain, struct route_waiter *waiter, const struct sm_tag *tag)
{
	enum stanza_error condition = STANZA_ERR_UNDEFINED_CONDITION;
	const char *text = NULL;
	enum route_result r;
	char err[256];

	r = router_enqueue(edge, data, len, from_domain, to_domain, waiter, tag, 1, &condition, &text,
	    err, sizeof(err));
	if (r == ROUTE_BOUNCED) {
		/* Only bounces take this path, and a queue takes them past
		 * its cap: what is left is no way back at all (policy, no
		 * stream can start, out of memory).  An error is never
		 * answered with an error (RFC 6120 §8.3.1). */
		edge->stats.stanzas_unbounceable++;
		log_event(LOG_WARN, "route.bounce_undeliverable", "from", from_domain, "to", to_domain,
		    "condition", stanza_error_name(condition), "reason", text, NULL);
		return ROUTE_LOST;
	}
	return r;
}

enum route_bounce
router_bounce_event(struct edge *edge, const struct xmlstream_event *ev, enum stanza_error condition,
    const char *text, const struct sm_tag *tag)
{
	return router_bounce_event_wait(edge, ev, condition, text, NULL, tag);
}

/* The custody of a stanza whose bounce is settled: whatever went on its
 * way carries it (the bounce, tagged), a stanza that may not be bounced
 * (an error) is settled, one that could be neither is kept unsettled. */
static enum route_bounce
router_bounce_custody(struct edge *edge, enum route_bounce result, const struct sm_tag *tag)
{
	switch (result) {
	case ROUTE_BOUNCE_QUEUED:
	case ROUTE_BOUNCE_PAUSE:
		break;	/* the bounce's destination settles it */
	case ROUTE_BOUNCE_NONE:
		/* An error stanza of the source: settled.  A bounce that
		 * cannot be delivered (never bounced in turn) leaves the
		 * stanza it answers neither delivered nor bounced. */
		if (tag != NULL && tag->bounce) {
			s2s_in_custody_keep(edge, tag);
			return ROUTE_BOUNCE_LOST;
		}
		s2s_in_custody_settle(edge, tag);
		break;
	case ROUTE_BOUNCE_LOST:
		s2s_in_custody_keep(edge, tag);
		break;
	}
	return result;
}

/* waiter: the source to pause when the bounce's queue is over its limit
 * (NULL: bounces from a queue, at most one per stanza it held).  tag:
 * the stanza's custody, which its bounce takes over (sm.h). */
static enum route_bounce
router_bounce_event_wait(struct edge *edge, const struct xmlstream_event *ev,
    enum stanza_error condition, const char *text, struct route_waiter *waiter,
    const struct sm_tag *tag)
{
	const char *cond = stanza_error_name(condition);
	enum route_bounce result = ROUTE_BOUNCE_LOST;
	char from[CONFIG_DOMAIN_MAX], to[CONFIG_DOMAIN_MAX];
	struct sm_tag btag;
	char *out;
	size_t len;

	memset(&btag, 0, sizeof(btag));
	if (tag != NULL && tag->slot != 0) {
		btag = *tag;
		btag.bounce = 1;
	}
	out = malloc(BOUNCE_MAX);
	if (out == NULL) {
		edge->stats.stanzas_unbounceable++;
		log_event(LOG_ERROR, "route.bounce_failed", "reason", "out of memory", NULL);
		return router_bounce_custody(edge, ROUTE_BOUNCE_LOST, tag);
	}
	switch (bounce_write(ev, condition, text, out, BOUNCE_MAX, &len)) {
	case BOUNCE_WRITTEN:
		/* The bounce goes from the original recipient's domain back
		 * to the sender's. */
		if (router_jid_domain(&ev->to, from, sizeof(from)) < 0 ||
		    router_jid_domain(&ev->from, to, sizeof(to)) < 0) {
			edge->stats.stanzas_unbounceable++;
			log_event(LOG_WARN, "route.bounce_failed", "condition", cond,
			    "reason", "the stanza has no usable addresses", NULL);
			break;
		}
		log_event(LOG_INFO, "route.bounce", "condition", cond, "from", from, "to", to,
		    "reason", text, NULL);
		switch (router_route_bytes(edge, out, len, from, to, waiter, &btag)) {
		case ROUTE_QUEUED:
			result = ROUTE_BOUNCE_QUEUED;
			break;
		case ROUTE_QUEUED_PAUSE:
			result = ROUTE_BOUNCE_PAUSE;
			break;
		default:
			break;	/* counted and logged there */
		}
		/* Counted once on its way (a bounce that found no way back
		 * is counted as undeliverable instead). */
		if (result != ROUTE_BOUNCE_LOST) {
			edge->stats.stanzas_bounced++;
			/* 'from' is the bounced stanza's destination: hosted
			 * means it was on its way to the gateway. */
			edge->stats.toward[router_is_hosted(edge, from) ? EDGE_TOWARD_GATEWAY :
			    EDGE_TOWARD_REMOTE].bounced++;
		}
		break;
	case BOUNCE_IS_ERROR:
		result = ROUTE_BOUNCE_NONE;
		edge->stats.stanzas_unbounceable++;
		log_event(LOG_INFO, "route.error_not_bounced", "condition", cond, "reason", text, NULL);
		break;
	case BOUNCE_NOT_A_STANZA:
	case BOUNCE_TOO_LONG:
		edge->stats.stanzas_unbounceable++;
		log_event(LOG_WARN, "route.bounce_failed", "condition", cond,
		    "reason", "not a stanza, or addresses too long", NULL);
		break;
	}
	free(out);
	return router_bounce_custody(edge, result, tag);
}

/* Queued stanzas are standalone elements: one is parsed again (inside a
 * minimal stream header) to build its bounce with bounce.c. */
enum route_bounce
router_bounce_bytes(struct edge *edge, const char *data, size_t len, enum stanza_error condition,
    const char *text, const struct sm_tag *tag)
{
	static const char header[] = "<stream:stream xmlns='jabber:server' "
	    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
	struct xmlstream_limits lim;
	struct xmlstream_event ev;
	struct xmlstream *xs;
	enum xmlstream_event_type t;
	enum route_bounce result = ROUTE_BOUNCE_LOST;
	size_t off = 0;

	xmlstream_limits_default(&lim);
	lim.stanza_max = len + sizeof(header) + 16 > XMLSTREAM_STANZA_MAX_CEILING ?
	    XMLSTREAM_STANZA_MAX_CEILING : len + sizeof(header) + 16;
	if (lim.stanza_max < 1024)
		lim.stanza_max = 1024;
	lim.depth_max = XMLSTREAM_DEPTH_MAX_CEILING;
	lim.attrs_max = XMLSTREAM_ATTRS_MAX_CEILING;
	lim.name_max = XMLSTREAM_NAME_MAX_CEILING;
	xs = xmlstream_new(&lim, XMLSTREAM_NS_SERVER);
	if (xs == NULL || xmlstream_feed(xs, header, sizeof(header) - 1) != sizeof(header) - 1) {
		xmlstream_free(xs);
		edge->stats.stanzas_unbounceable++;
		log_event(LOG_ERROR, "route.bounce_failed", "reason", "out of memory", NULL);
		return router_bounce_custody(edge, ROUTE_BOUNCE_LOST, tag);
	}
	while (off < len) {
		size_t took = xmlstream_feed(xs, data + off, len - off);

		off += took;
		while ((t = xmlstream_next(xs, &ev)) != XMLSTREAM_EV_NONE) {
			if (t == XMLSTREAM_EV_ELEMENT) {
				/* One element: the queue holds each stanza alone. */
				result = router_bounce_event(edge, &ev, condition, text, tag);
				xmlstream_free(xs);
				return result;	/* custody: done there */
			} else if (t == XMLSTREAM_EV_ERROR) {
				edge->stats.stanzas_unbounceable++;
				log_event(LOG_ERROR, "route.bounce_failed", "reason", ev.text, NULL);
				goto done;
			}
		}
		if (took == 0)
			break;	/* cannot happen: the buffer fits one stanza */
	}
done:
	xmlstream_free(xs);
	return router_bounce_custody(edge, result, tag);
}
