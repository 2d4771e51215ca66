/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_out_bidi.c - XEP-0288 on a stream xmpp-edge opened (we are the
 * initiating server): what the receiving server may send on it.
 *
 * Without XEP-0288 a stream we opened carries nothing inward (RFC 6120
 * §2.4; s2s_out.c refuses every stanza and may not even call the router:
 * `#pragma GCC poison`).  With it, the receiving server may send stanzas
 * on our stream, and this file is the one place that lets them in, on
 * the same terms as a stanza on an inbound stream (s2s_in.c):
 *
 *   - when: <bidi xmlns='urn:xmpp:bidi'/> is sent after TLS and before
 *     SASL or dialback (XEP-0288 §2.1, §2.2), only when the receiving
 *     server offered it, the partner's policy has `bidi`, and its
 *     certificate is valid for the domain we dialled (PKIX, or a DANE
 *     match).  Stanzas count only once our stream is established: before
 *     that they are refused as on any stream we opened.
 *   - from whom: XEP-0288 §2.2 lets the receiving server send stanzas
 *     "for which it has been authenticated", and §4 forbids routing for
 *     a domain "without further proof of the peer's identity".  Dialing
 *     a domain proves nothing about who answered; a certificate valid for
 *     that domain does.  So the pair (remote -> local) of the stream is
 *     authenticated by that certificate (hence the condition above), and
 *     nothing else is: a stanza whose 'from' is another domain, or whose
 *     'to' is not the stream's own domain, is a stream error
 *     (<invalid-from/>, <host-unknown/>, <improper-addressing/> as in
 *     s2s_in.c), logged and counted, and nothing is routed for it.
 *     Further domains of the receiving server would need their own proof
 *     (dialback in the reverse direction, §2.2 "Target Piggybacking"),
 *     which xmpp-edge does not take on its own streams: those domains
 *     reach us on streams of their own.
 *   - then: policy (`allow`) and the blocklist, per stanza (a reload may
 *     change them), and the router's own checks (strangers), exactly as
 *     for an inbound stream; a full destination pauses our stream's
 *     reading (router.h waiters).
 */
#include "s2s_out_bidi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocklist.h"
#include "config.h"
#include "log.h"

void
s2s_out_bidi_init(struct s2s_out_bidi *b, struct edge *edge, const char *local,
    void (*resume)(struct route_waiter *w))
{
	memset(b, 0, sizeof(*b));
	b->edge = edge;
	b->local = local;
	b->waiter.resume = resume;
}

int
s2s_out_bidi_wanted(const struct s2s_out_bidi *b, const char *remote, int offered, int pkix_ok)
{
	return offered && pkix_ok && !b->requested && config_policy_for(b->edge->cfg, remote)->bidi;
}

static const struct s2s_out_bidi_pair *
s2s_out_bidi_pair_find(const struct s2s_out_bidi *b, const char *remote)
{
	size_t i;

	for (i = 0; i < b->npairs; i++)
		if (strcmp(b->pairs[i].remote, remote) == 0)
			return &b->pairs[i];
	return NULL;
}

/* Why remote may not send to us at all (policy, blocklist), or NULL. */
static const char *
s2s_out_bidi_refusal(struct s2s_out_bidi *b, const char *remote)
{
	if (router_is_hosted(b->edge, remote))
		return "a domain of ours";
	if (!config_policy_for(b->edge->cfg, remote)->allow)
		return "federation with this domain is not allowed by policy";
	if (blocklist_refuses(b->edge, remote, "bidi"))
		return "the domain is on the blocklist";
	return NULL;
}

int
s2s_out_bidi_authenticate(struct s2s_out_bidi *b, const char *remote, const char *method)
{
	const char *why;

	if (!b->requested)
		return -1;
	if ((why = s2s_out_bidi_refusal(b, remote)) != NULL || b->npairs >= S2S_OUT_BIDI_PAIRS_MAX) {
		log_event(LOG_WARN, "s2s_out.bidi_auth", "local", b->local, "remote", remote,
		    "method", method, "result", "refused", "reason", why != NULL ? why : "too many pairs",
		    NULL);
		return -1;
	}
	if (s2s_out_bidi_pair_find(b, remote) != NULL)
		return 0;
	if (b->pairs == NULL &&
	    (b->pairs = calloc(S2S_OUT_BIDI_PAIRS_MAX, sizeof(*b->pairs))) == NULL) {
		log_event(LOG_WARN, "s2s_out.bidi_auth", "local", b->local, "remote", remote,
		    "method", method, "result", "refused", "reason", "out of memory", NULL);
		return -1;
	}
	snprintf(b->pairs[b->npairs].remote, sizeof(b->pairs[b->npairs].remote), "%s", remote);
	b->pairs[b->npairs].method = method;
	b->npairs++;
	log_event(LOG_INFO, "s2s_out.bidi_auth", "local", b->local, "remote", remote,
	    "method", method, "result", "valid", NULL);
	return 0;
}

/* A refusal: counted, logged, and said as a stream error by the caller. */
static enum s2s_out_bidi_verdict
s2s_out_bidi_refuse(struct s2s_out_bidi *b, const char *from, enum stream_error_cond c,
    const char *t, enum stream_error_cond *cond, const char **text)
{
	b->edge->stats.bidi_refused++;
	log_event(LOG_WARN, "s2s_out.bidi_refused", "local", b->local, "from", from,
	    "condition", stream_error_name(c), "reason", t, NULL);
	*cond = c;
	*text = t;
	return S2S_OUT_BIDI_REFUSED;
}

/* RFC 6120 §8.1.1.1, §8.1.2.1, §13.9.1, as s2s_in_on_stanza. */
enum s2s_out_bidi_verdict
s2s_out_bidi_on_stanza(struct s2s_out_bidi *b, const struct xmlstream *xs,
    const struct xmlstream_event *ev, enum stream_error_cond *cond, const char **text)
{
	char from[CONFIG_DOMAIN_MAX], to[CONFIG_DOMAIN_MAX];
	enum route_result r;
	const char *why;

	b->stanzas_in++;
	if (router_jid_domain(&ev->from, from, sizeof(from)) < 0 ||
	    router_jid_domain(&ev->to, to, sizeof(to)) < 0)
		return s2s_out_bidi_refuse(b, NULL, STREAM_ERR_IMPROPER_ADDRESSING,
		    "stanzas between servers need 'to' and 'from'", cond, text);
	if (s2s_out_bidi_pair_find(b, from) == NULL)
		return s2s_out_bidi_refuse(b, from, STREAM_ERR_INVALID_FROM,
		    "stanza 'from' is not a domain authenticated in this direction", cond, text);
	if (!router_is_hosted(b->edge, to))
		return s2s_out_bidi_refuse(b, from, STREAM_ERR_HOST_UNKNOWN,
		    "this server does not serve that domain", cond, text);
	if (strcmp(to, b->local) != 0)
		return s2s_out_bidi_refuse(b, from, STREAM_ERR_INVALID_FROM,
		    "that domain pair was not authenticated on this stream", cond, text);
	if ((why = s2s_out_bidi_refusal(b, from)) != NULL)
		return s2s_out_bidi_refuse(b, from, STREAM_ERR_POLICY_VIOLATION, why, cond, text);
	b->routed++;
	b->edge->stats.bidi_stanzas_in++;
	r = router_route(b->edge, xs, ev, from, to, &b->waiter);
	if (r == ROUTE_QUEUED_PAUSE || r == ROUTE_BOUNCED_PAUSE) {
		b->edge->stats.reads_paused++;
		return S2S_OUT_BIDI_PAUSE;
	}
	return S2S_OUT_BIDI_ROUTED;
}

void
s2s_out_bidi_reset(struct s2s_out_bidi *b)
{
	route_waiter_cancel(&b->waiter);
	b->requested = 0;
	free(b->pairs);
	b->pairs = NULL;
	b->npairs = 0;
}

size_t
s2s_out_bidi_memory(const struct s2s_out_bidi *b)
{
	return b->pairs != NULL ? S2S_OUT_BIDI_PAIRS_MAX * sizeof(*b->pairs) : 0;
}
