/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_in_auth.c - authenticating the remote server of an inbound stream,
 * and answering dialback verifications for the domains we speak for.
 *
 * External streams, after TLS and the restarted header (s2s_in.c): the
 * features offer what the partner's policy allows:
 *   - SASL EXTERNAL (RFC 6120 §6, XEP-0178) when the certificate presented
 *     in the TLS handshake is valid for the stream's 'from' (RFC 6125 via
 *     tls_conn_verify_peer);
 *   - Server Dialback (XEP-0220): the key in <db:result/> is checked with
 *     the authoritative server, found through DNS, over a stream of
 *     s2s_out.c (S2S_OUT_VERIFY).
 *     Several domain pairs may be authenticated on one stream
 *     (multiplexing or "piggybacking", XEP-0220 §2.6), each with its own check.
 *     Each pair must meet ITS OWN partner policy (TLS, dialback allowed,
 *     certificate required), not that of the domain in the stream header:
 *     a strict domain is never authenticated on a lax domain's plaintext
 *     stream.  Checks are budgeted (dialback_budget.h): a few at once, so
 *     many a minute per stream and per source prefix, so many failures.
 *
 * DANE (s2s_dane.c, RFC 7673 as Prosody's mod_s2s_auth_dane_in does it):
 * when the certificate does not chain to a trusted CA (or the partner's
 * `dane` is "required"), the features wait for one TLSA lookup of the
 * stream's 'from' domain, bounded in time; a match counts as a valid
 * certificate (SASL EXTERNAL).  One lookup per stream, a bounded number
 * for the whole edge, the resolver's cache in front: an unauthenticated
 * peer cannot make the edge look up without end.
 *
 * The gateway's streams (internal listener): its key was pinned in the TLS
 * handshake, which is the authentication; SASL EXTERNAL or a <db:result/>
 * for any hosted domain is granted at once.
 *
 * Both: <db:verify/> (XEP-0220, the Authoritative Server's side) asks whether a key we issued on one
 * of our outgoing streams is ours.  It is valid when it is the XEP-0185
 * key of (asker, claimed domain, stream id) under our secret, and the
 * claimed domain is one we speak for on that side: a hosted domain toward
 * the internet, a remote domain toward the gateway.  Before a remote
 * stream is authenticated it may ask limits.dialback_verify_preauth_max of
 * them: answers are output the peer controls in size (the echoed id), and a
 * peer that does not read must not get to fill our send queue for free.
 *
 * Every function here that sends re-checks the stream after the send
 * (the rule in s2s_in_int.h): a send can close the stream.
 */
#include "s2s_in_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/base64.h>

#include "blocklist.h"
#include "dialback.h"
#include "log.h"
#include "s2s_dane.h"
#include "s2s_features.h"
#include "s2s_out.h"
#include "xmlelem.h"

/* RFC 6120 §13.7.1.2 / RFC 6125: is the certificate the initiating
 * server presented valid for domain (the one its stream claims, or one it
 * piggybacks)?  This is what SASL EXTERNAL rests on (XEP-0178), and what
 * require_valid_certificate asks of every pair. */
static int
s2s_in_check_peer_certificate(struct s2s_in *s, const char *domain)
{
	struct tls_verify_result r;

	if (s2s_in_tls(s) == NULL || tls_conn_verify_peer(s2s_in_tls(s), domain, &r) < 0)
		return 0;
	/* No certificate is how most dialback peers come (XEP-0220): not
	 * something for the operator to act on.  A certificate that fails
	 * is worth a warning (rate-limited by log.c). */
	log_event(r.status == TLS_VERIFY_OK || r.status == TLS_VERIFY_NO_CERT ? LOG_INFO : LOG_WARN,
	    "s2s_in.peer_certificate",
	    "peer", s->peer, "domain", domain,
	    "result", tls_verify_status_str(r.status),
	    "matched_by", r.status == TLS_VERIFY_OK ? tls_id_type_str(r.matched_by) : NULL,
	    "detail", r.detail, NULL);
	return r.status == TLS_VERIFY_OK;
}

static int
s2s_in_is_gateway(const struct s2s_in *s)
{
	return s2s_in_is_internal(s);
}

/* What the partner's policy lets this stream authenticate with. */
static int
s2s_in_may_pkix(const struct s2s_in *s)
{
	const struct config_partner *p = config_policy_for(s->edge->cfg, s->remote_domain);

	return s->pkix_ok && s2s_in_tls(s) != NULL && p->sasl_external != POLICY_SASL_DISABLED;
}

/*
 * May domain be authenticated by dialback on this stream, under domain's
 * own partner policy?  NULL if so, else the XEP-0220 §2.4 dialback error
 * condition, with the reason in *why:
 *   policy-violation  dialback not accepted for the domain, or TLS
 *                     required and the stream is in the clear;
 *   not-authorized    a valid certificate for the domain is required
 *                     (Lync: PartnerType Federated) and none was shown.
 * TLS "disabled" or "optional" asks nothing of a stream that has TLS.
 */
static const char *
s2s_in_dialback_refusal(struct s2s_in *s, const char *domain, const char **why)
{
	const struct config_partner *p = config_policy_for(s->edge->cfg, domain);

	if (!s->edge->cfg->dialback.enabled || !p->dialback || p->sasl_external == POLICY_SASL_REQUIRED) {
		*why = "policy does not accept dialback for this domain";
		return "policy-violation";
	}
	if (p->tls == POLICY_TLS_REQUIRED && s2s_in_tls(s) == NULL) {
		*why = "policy requires TLS for this domain";
		return "policy-violation";
	}
	if (p->require_valid_certificate &&
	    !(strcmp(domain, s->remote_domain) == 0 ? s->pkix_ok : s2s_in_check_peer_certificate(s, domain))) {
		*why = "policy requires a certificate valid for this domain";
		return "not-authorized";
	}
	return NULL;
}

static int
s2s_in_send_auth_features(struct s2s_in *s)
{
	char out[512];
	const char *why;
	int may_db = s2s_in_dialback_refusal(s, s->remote_domain, &why) == NULL;
	/* Reached without TLS only when the partner's policy makes TLS
	 * optional (offered) or disabled (not offered). */
	int offer_tls = !s2s_conn_tls_started(s->conn) &&
	    config_policy_for(s->edge->cfg, s->remote_domain)->tls == POLICY_TLS_OPTIONAL;

	s->bidi_offered = s2s_in_bidi_offered(s);
	/* XEP-0198: offered here already, as dialback has no later
	 * features; enabling waits for authentication (s2s_in_sm.c). */
	snprintf(out, sizeof(out), "<stream:features>%s%s%s%s" S2S_IN_SM_FEATURE "</stream:features>",
	    offer_tls ? "<starttls xmlns='" NS_TLS "'/>" : "",
	    s2s_in_may_pkix(s) ? "<mechanisms xmlns='" NS_SASL "'><mechanism>EXTERNAL"
	    "</mechanism></mechanisms>" : "",
	    /* XEP-0220 §2.4.2: dialback with error support. */
	    may_db ? "<dialback xmlns='" NS_DIALBACK_FEATURE "'><errors/></dialback>" : "",
	    /* XEP-0288 §2.1 (s2s_in_bidi.c). */
	    s->bidi_offered ? "<bidi xmlns='" NS_BIDI_FEATURE "'/>" : "");
	return s2s_in_sendstr(s, out);
}

/* --- pairs ------------------------------------------------------------------ */

static struct s2s_in_pair *
s2s_in_pair_find(const struct s2s_in *s, const char *remote, const char *local)
{
	struct s2s_in_pair *p;

	for (p = s->pairs; p != NULL; p = p->next)
		if (strcmp(p->remote, remote) == 0 && (local == NULL || strcmp(p->local, local) == 0))
			return p;
	return NULL;
}

int
s2s_in_auth_pair_valid(const struct s2s_in *s, const char *remote, const char *local)
{
	struct s2s_in_pair *p;

	for (p = s->pairs; p != NULL; p = p->next)
		if (p->valid && strcmp(p->remote, remote) == 0 &&
		    (local == NULL || strcmp(p->local, local) == 0))
			return 1;
	return 0;
}

const struct s2s_in_pair *
s2s_in_auth_pair_find(const struct s2s_in *s, const char *remote, const char *local)
{
	const struct s2s_in_pair *p;

	for (p = s->pairs; p != NULL; p = p->next)
		if (p->valid && strcmp(p->remote, remote) == 0 && strcmp(p->local, local) == 0)
			return p;
	return NULL;
}

static struct s2s_in_pair *
s2s_in_pair_add(struct s2s_in *s, const char *remote, const char *local)
{
	struct s2s_in_pair *p;

	if (s->npairs >= S2S_IN_PAIRS_MAX)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	p->s = s;
	snprintf(p->remote, sizeof(p->remote), "%s", remote);
	snprintf(p->local, sizeof(p->local), "%s", local);
	p->next = s->pairs;
	s->pairs = p;
	s->npairs++;
	return p;
}

/* Dialback checks of this stream still waiting for their answer. */
static size_t
s2s_in_pending_checks(const struct s2s_in *s)
{
	const struct s2s_in_pair *p;
	size_t n = 0;

	for (p = s->pairs; p != NULL; p = p->next)
		if (p->verify != NULL)
			n++;
	return n;
}

static void
s2s_in_pair_remove(struct s2s_in *s, struct s2s_in_pair *p)
{
	struct s2s_in_pair **pp;

	for (pp = &s->pairs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			s->npairs--;
			if (s->route_pair == p)
				s->route_pair = NULL;
			if (p->verify != NULL)
				s2s_out_verify_cancel(p->verify);
			s2s_in_bidi_pair_free(s, p);
			free(p);
			return;
		}
}

/* The stream's first pair is authenticated: larger stanzas, idle timing.
 * Later pairs (piggybacking) change nothing here. */
void
s2s_in_auth_established(struct s2s_in *s)
{
	const struct config_limits *lim = &s->edge->cfg->limits;
	const struct config_partner *p = config_policy_for(s->edge->cfg, s->authed_domain);
	struct xmlstream_limits xl;
	int idle = p->idle_timeout_s > 0 ? p->idle_timeout_s : lim->idle_timeout_s;

	if (!s2s_in_is_gateway(s) && p->max_connections > 0) {
		/* Lync's ConnectionLimit: streams with this partner, both
		 * directions, this one included. */
		size_t n = s2s_out_count_partner(s->edge, p);
		struct s2s_in *o;

		for (o = s->edge->streams; o != NULL; o = o->next)
			if (o->authed_domain[0] != '\0' && !s2s_in_is_internal(o) &&
			    config_policy_for(s->edge->cfg, o->authed_domain) == p)
				n++;
		if (n > (size_t)p->max_connections) {
			s2s_in_fail(s, STREAM_ERR_RESOURCE_CONSTRAINT,
			    "connection limit for this partner reached");
			return;
		}
	}
	xl.stanza_max = (size_t)(p->max_stanza_size ? p->max_stanza_size : lim->stanza_size);
	xl.depth_max = (size_t)lim->max_depth;
	xl.attrs_max = (size_t)lim->max_attributes;
	xl.name_max = (size_t)lim->max_name_length;
	(void)xmlstream_set_limits(s2s_conn_xmlstream(s->conn), &xl);	/* values are schema-bounded */
	s2s_in_enter_state(s, s2s_in_is_gateway(s) ? S2S_IN_GATEWAY_OPEN : S2S_IN_ESTABLISHED);
	s2s_conn_timer_start(s->conn, (uint64_t)idle * 1000, (uint64_t)idle * 1000);
	s2s_in_bidi_established(s);
}

static void
s2s_in_mark_valid(struct s2s_in *s, struct s2s_in_pair *p, const char *method)
{
	p->valid = 1;
	p->method = method;
	log_event(LOG_INFO, "s2s_in.auth", "peer", s->peer, "domain", p->remote, "to", p->local,
	    "method", method, "result", "valid", NULL);
	if (s->authed_domain[0] == '\0')
		memcpy(s->authed_domain, p->remote, sizeof(s->authed_domain));
	s2s_in_bidi_pair_valid(s, p);
}

/* --- SASL EXTERNAL ------------------------------------------------------------ */

/* RFC 6120 §6.4 with XEP-0178: SASL EXTERNAL on the certificate (or, from
 * the gateway, on its pinned key). */
static void
s2s_in_on_sasl_auth(struct s2s_in *s, const struct xmlstream_event *ev)
{
	char mech[32], text[512], authzid[CONFIG_DOMAIN_MAX];
	struct s2s_in_pair *p;
	size_t alen = 0;
	int allowed = s2s_in_is_gateway(s) ? s2s_in_tls(s) != NULL : s2s_in_may_pkix(s);

	if (s->authed_domain[0] != '\0' || xmlelem_attr(ev, "mechanism", mech, sizeof(mech)) < 0 ||
	    strcmp(mech, "EXTERNAL") != 0 || !allowed) {
		s2s_in_sendstr(s, "<failure xmlns='" NS_SASL "'><invalid-mechanism/></failure>");
		return;
	}
	/* The authorization identity: absent ("=" or empty) or the
	 * stream's 'from' (XEP-0178 §2). */
	if (xmlelem_text(ev, text, sizeof(text)) < 0 ||
	    (strcmp(text, "=") != 0 && text[0] != '\0' &&
	    (mbedtls_base64_decode((unsigned char *)authzid, sizeof(authzid) - 1, &alen,
	    (const unsigned char *)text, strlen(text)) != 0 ||
	    alen != strlen(s->remote_domain) ||	/* no NUL tricks */
	    strncasecmp(authzid, s->remote_domain, alen) != 0))) {
		s2s_in_sendstr(s, "<failure xmlns='" NS_SASL "'><invalid-authzid/></failure>");
		return;
	}
	p = s2s_in_pair_add(s, s->remote_domain, s->local_domain);
	if (p == NULL) {
		s2s_in_sendstr(s, "<failure xmlns='" NS_SASL "'><temporary-auth-failure/></failure>");
		return;
	}
	/* As for dialback: if <success/> closes the stream, the pair is not
	 * marked and the stream is not restarted. */
	if (s2s_in_sendstr(s, "<success xmlns='" NS_SASL "'/>") < 0)
		return;
	s2s_in_mark_valid(s, p, s2s_in_is_gateway(s) ? "pinned-key" : "sasl-external");
	/* RFC 6120 §6.4.6: both sides restart the stream. */
	s2s_conn_restart(s->conn);
	s->header_sent = 0;
	s2s_in_enter_state(s, S2S_IN_WAIT_HEADER);
}

/* --- dialback (as receiving server) ---------------------------------------- */

/* Our answer to a <db:result/>; -1 as s2s_in_send (the stream may be
 * closing after it). */
static int
s2s_in_db_result(struct s2s_in *s, const char *from, const char *to, const char *type,
    const char *error_cond)
{
	char out[DIALBACK_MSG_MAX];
	int n = dialback_result_answer_write(from, to, type, error_cond, out, sizeof(out));

	return n < 0 ? -1 : s2s_in_send(s, out, (size_t)n);
}

/* A check this stream asked for failed: counted for the stream and its
 * source prefix (dialback_budget.h). */
static void
s2s_in_note_check_failure(struct s2s_in *s)
{
	s->check_failures++;
	dialback_budget_note_failure(s->edge->ratelimit, &s->peer_addr,
	    uv_now(s->edge->loop), &s->edge->cfg->limits);
}

/* One more dialback check for this stream: NULL and counted if its
 * budgets allow, else the name of the limit reached. */
static const char *
s2s_in_take_check_budget(struct s2s_in *s)
{
	const struct config_limits *lim = &s->edge->cfg->limits;
	uint64_t now = uv_now(s->edge->loop);
	const char *why;

	if (s->check_failures >= (size_t)lim->dialback_failures_max)
		return "limits.dialback_failures_max";
	if (!dialback_rate_take(&s->check_rate, now, (unsigned)lim->dialback_checks_per_minute))
		return "limits.dialback_checks_per_minute";
	if (dialback_budget_start_check(s->edge->ratelimit, &s->peer_addr, now, lim, &why) < 0)
		return why;
	return NULL;
}

/* A dialback budget is spent: logged, and the stream closed. */
static void
s2s_in_fail_budget(struct s2s_in *s, const char *limit)
{
	char text[128];

	log_event(LOG_WARN, "s2s_in.dialback_budget", "peer", s->peer,
	    "domain", s->remote_domain[0] ? s->remote_domain : NULL, "limit", limit, NULL);
	snprintf(text, sizeof(text), "too many dialback checks (%s)", limit);
	s2s_in_fail(s, STREAM_ERR_POLICY_VIOLATION, text);
}

static void
s2s_in_on_dialback_verified(enum dialback_verdict verdict, int timeout, const char *reason,
    void *arg)
{
	struct s2s_in_pair *p = arg;
	struct s2s_in *s = p->s;

	p->verify = NULL;
	if (s2s_in_is_closing(s))
		return;	/* detached: the stream is going (rule 3 in s2s_in_int.h) */
	if (verdict == DIALBACK_VALID && (!config_policy_for(s->edge->cfg, p->remote)->allow ||
	    blocklist_refuses(s->edge, p->remote, "dialback"))) {
		/* A reload (configuration or blocklist) while the check ran
		 * refused the domain: the answer it would have had on asking
		 * now (XEP-0220 §2.5, as in s2s_in_on_dialback_result), not
		 * an authentication granted under the old policy. */
		log_event(LOG_INFO, "s2s_in.auth", "peer", s->peer, "domain", p->remote,
		    "method", "dialback", "result", "refused", "reason", "policy changed during the check",
		    NULL);
		if (s2s_in_db_result(s, p->local, p->remote, NULL, "not-allowed") < 0)
			return;
		s2s_in_pair_remove(s, p);
		return;
	}
	if (verdict == DIALBACK_VALID) {
		/* The answer may fill the send queue and close the stream:
		 * then the pair is not marked, the stream not established. */
		if (s2s_in_db_result(s, p->local, p->remote, "valid", NULL) < 0)
			return;
		s2s_in_mark_valid(s, p, "dialback");
		if (s->state == S2S_IN_WAIT_AUTH || s->state == S2S_IN_WAIT_DIALBACK)
			s2s_in_auth_established(s);
		return;
	}
	log_event(LOG_INFO, "s2s_in.auth", "peer", s->peer, "domain", p->remote,
	    "method", "dialback", "result", verdict == DIALBACK_INVALID ? "invalid" : "error",
	    "reason", reason, NULL);
	s2s_in_note_check_failure(s);
	if (verdict == DIALBACK_INVALID) {
		/* XEP-0220: an invalid key is not accepted; the stream is closed. */
		if (s2s_in_db_result(s, p->local, p->remote, "invalid", NULL) < 0)
			return;
		s2s_in_fail(s, STREAM_ERR_NOT_AUTHORIZED, "dialback key refused by the authoritative server");
		return;
	}
	/* XEP-0220 §2.5: a dialback error, and the stream stays for a retry
	 * (within limits.dialback_failures_max). */
	if (s2s_in_db_result(s, p->local, p->remote, NULL,
	    timeout ? "remote-server-timeout" : "remote-server-not-found") < 0)
		return;
	s2s_in_pair_remove(s, p);
	if (s->check_failures >= (size_t)s->edge->cfg->limits.dialback_failures_max)
		s2s_in_fail_budget(s, "limits.dialback_failures_max");
}

/* XEP-0220: the Initiating Server's <db:result from='D' to='ours'>KEY</db:result>. */
static void
s2s_in_on_dialback_result(struct s2s_in *s, const struct xmlstream_event *ev)
{
	char from[CONFIG_DOMAIN_MAX], to[CONFIG_DOMAIN_MAX], key[DIALBACK_KEY_MAX + 1];
	struct s2s_in_pair *p;
	const char *cond, *why, *limit;
	char err[128];

	if (s2s_in_take_domain(&ev->from, from, sizeof(from)) < 0 ||
	    s2s_in_take_domain(&ev->to, to, sizeof(to)) < 0) {
		s2s_in_fail(s, STREAM_ERR_IMPROPER_ADDRESSING, "db:result needs 'from' and 'to' domains");
		return;
	}
	/* XEP-0220 §2.5: dialback errors for what we cannot or will not do. */
	if (!router_is_hosted(s->edge, to)) {
		s2s_in_db_result(s, to, from, NULL, "item-not-found");
		return;
	}
	if (router_is_hosted(s->edge, from) || !config_policy_for(s->edge->cfg, from)->allow ||
	    blocklist_refuses(s->edge, from, "dialback")) {
		log_event(LOG_INFO, "s2s_in.auth", "peer", s->peer, "domain", from,
		    "method", "dialback", "result", "refused", "reason", "policy", NULL);
		s2s_in_db_result(s, to, from, NULL, "not-allowed");
		return;
	}
	/* The pair's own policy, not the stream header's (issue 14, 8). */
	if ((cond = s2s_in_dialback_refusal(s, from, &why)) != NULL) {
		log_event(LOG_INFO, "s2s_in.auth", "peer", s->peer, "domain", from,
		    "method", "dialback", "result", "refused", "reason", why, NULL);
		s2s_in_db_result(s, to, from, NULL, cond);
		return;
	}
	p = s2s_in_pair_find(s, from, to);
	if (p != NULL) {
		s2s_in_db_result(s, to, from, NULL, p->valid ? "conflict" : "policy-violation");
		return;
	}
	if (s2s_in_pending_checks(s) >= S2S_IN_CHECKS_MAX) {
		/* Each check is a connection we open for the peer: a few at a
		 * time, so one stream cannot make us dial out in bulk. */
		s2s_in_db_result(s, to, from, NULL, "resource-constraint");
		return;
	}
	if (xmlelem_text(ev, key, sizeof(key)) < 0) {
		s2s_in_db_result(s, to, from, NULL, "not-acceptable");
		return;
	}
	if ((limit = s2s_in_take_check_budget(s)) != NULL) {
		s2s_in_fail_budget(s, limit);
		return;
	}
	p = s2s_in_pair_add(s, from, to);
	if (p == NULL) {
		s2s_in_db_result(s, to, from, NULL, "resource-constraint");
		return;
	}
	p->verify = s2s_out_verify_start(s->edge, to, from, s->stream_id, key,
	    s2s_in_on_dialback_verified, p, err, sizeof(err));
	if (p->verify == NULL) {
		log_event(LOG_INFO, "s2s_in.auth", "peer", s->peer, "domain", from,
		    "method", "dialback", "result", "error", "reason", err, NULL);
		s2s_in_pair_remove(s, p);
		s2s_in_db_result(s, to, from, NULL, "not-acceptable");
		return;
	}
	if (s->state == S2S_IN_WAIT_AUTH)
		s2s_in_enter_state(s, S2S_IN_WAIT_DIALBACK);
}

/* The gateway asks to be taken for one of our hosted domains: its pinned
 * key already proves it may (there is no one else to ask). */
static void
s2s_in_on_gateway_dialback_result(struct s2s_in *s, const struct xmlstream_event *ev)
{
	char from[CONFIG_DOMAIN_MAX], to[CONFIG_DOMAIN_MAX];
	struct s2s_in_pair *p;

	if (s2s_in_take_domain(&ev->from, from, sizeof(from)) < 0 ||
	    s2s_in_take_domain(&ev->to, to, sizeof(to)) < 0) {
		s2s_in_fail(s, STREAM_ERR_IMPROPER_ADDRESSING, "db:result needs 'from' and 'to' domains");
		return;
	}
	if (!router_is_hosted(s->edge, from) || router_is_hosted(s->edge, to)) {
		s2s_in_db_result(s, to, from, NULL, "item-not-found");
		return;
	}
	p = s2s_in_pair_find(s, from, to);
	if (p == NULL && (p = s2s_in_pair_add(s, from, to)) == NULL) {
		s2s_in_db_result(s, to, from, NULL, "resource-constraint");
		return;
	}
	if (s2s_in_db_result(s, to, from, "valid", NULL) < 0)
		return;
	if (!p->valid)
		s2s_in_mark_valid(s, p, "pinned-key-dialback");
	if (s->state == S2S_IN_GATEWAY_AUTH)
		s2s_in_auth_established(s);
}

/* XEP-0220, Authoritative Server: <db:verify from='asker' to='claimed' id='ID'>KEY. */
static void
s2s_in_on_dialback_verify(struct s2s_in *s, const struct xmlstream_event *ev)
{
	char from[CONFIG_DOMAIN_MAX], to[CONFIG_DOMAIN_MAX], key[DIALBACK_KEY_MAX + 1];
	char id[128], out[1024];
	int ours, valid, n;

	if (!s2s_in_is_gateway(s) && s->authed_domain[0] == '\0' &&
	    ++s->verifies_preauth > (size_t)s->edge->cfg->limits.dialback_verify_preauth_max) {
		s2s_in_fail(s, STREAM_ERR_POLICY_VIOLATION,
		    "too many <db:verify/> before authentication (limits.dialback_verify_preauth_max)");
		return;
	}
	if (s2s_in_take_domain(&ev->from, from, sizeof(from)) < 0 ||
	    s2s_in_take_domain(&ev->to, to, sizeof(to)) < 0 || ev->id.p == NULL ||
	    ev->id.len == 0 || ev->id.len >= sizeof(id)) {
		s2s_in_fail(s, STREAM_ERR_IMPROPER_ADDRESSING, "db:verify needs 'from', 'to' and 'id'");
		return;
	}
	memcpy(id, ev->id.p, ev->id.len);
	id[ev->id.len] = '\0';
	/* Toward the internet we speak for hosted domains; toward the
	 * gateway for remote ones. */
	ours = s2s_in_is_gateway(s) ? !router_is_hosted(s->edge, to) && router_is_hosted(s->edge, from) :
	    router_is_hosted(s->edge, to);
	if (!ours) {
		/* XEP-0220 §2.5: item-not-found for a domain not ours. */
		n = dialback_verify_answer_write(&s->edge->dialback, from, to, id, NULL,
		    "item-not-found", &valid, out, sizeof(out));
		if (n > 0)
			s2s_in_send(s, out, (size_t)n);
		return;
	}
	n = dialback_verify_answer_write(&s->edge->dialback, from, to, id,
	    xmlelem_text(ev, key, sizeof(key)) == 0 ? key : NULL, NULL, &valid, out, sizeof(out));
	s->edge->stats.dialback_verify_answered++;
	log_event(valid ? LOG_INFO : LOG_WARN, "dialback.verify_answered", "peer", s->peer,
	    "asker", from, "domain", to, "result", valid ? "valid" : "invalid", NULL);
	if (n < 0) {
		s2s_in_fail(s, STREAM_ERR_IMPROPER_ADDRESSING, "unusable stream id");
		return;
	}
	s2s_in_send(s, out, (size_t)n);
}

/* --- entry points ------------------------------------------------------------- */

static void
s2s_in_auth_send_offer(struct s2s_in *s)
{
	if (s2s_in_send_auth_features(s) < 0)
		return;
	s2s_in_enter_state(s, S2S_IN_WAIT_AUTH);
}

/* The TLSA lookup of this stream ended (from the loop). */
static void
s2s_in_auth_on_dane(void *arg, enum s2s_dane_outcome o, const char *reason)
{
	struct s2s_in *s = arg;

	s->dane_in = NULL;
	s->dane_done = 1;
	if (s2s_in_is_closing(s))
		return;
	if (o == S2S_DANE_AUTHENTICATED) {
		s->dane_ok = s->pkix_ok = 1;
	} else if (config_policy_for(s->edge->cfg, s->remote_domain)->dane == POLICY_DANE_REQUIRED) {
		s2s_in_fail(s, STREAM_ERR_POLICY_VIOLATION, reason);
		return;
	}
	s2s_in_auth_send_offer(s);
}

/* Starts the stream's one TLSA lookup when it can authenticate the peer;
 * 1 if the features now wait for it (or the stream failed). */
static int
s2s_in_auth_dane_start(struct s2s_in *s)
{
	enum policy_dane mode = config_policy_for(s->edge->cfg, s->remote_domain)->dane;
	const uint8_t *der;
	size_t len;
	char reason[200];

	if (s->dane_done || s->dane_in != NULL || mode == POLICY_DANE_OFF || s2s_in_tls(s) == NULL ||
	    s->remote_domain[0] == '\0' || (s->pkix_ok && mode != POLICY_DANE_REQUIRED) ||
	    tls_conn_peer_cert_der(s2s_in_tls(s), 0, &der, &len) < 0)
		return 0;
	s->dane_in = s2s_dane_in_start(s->edge->dns, s->edge->loop, &s->edge->dane_in_pending, mode,
	    s->remote_domain, s2s_in_tls(s), s->pkix_ok, s2s_in_auth_on_dane, s, reason, sizeof(reason));
	if (s->dane_in == NULL) {
		s->dane_done = 1;
		log_event(LOG_INFO, "s2s_in.dane", "peer", s->peer, "domain", s->remote_domain,
		    "result", "not-started", "reason", reason, NULL);
		if (mode == POLICY_DANE_REQUIRED) {
			s2s_in_fail(s, STREAM_ERR_RESOURCE_CONSTRAINT, reason);
			return 1;
		}
		return 0;
	}
	return 1;
}

void
s2s_in_auth_offer(struct s2s_in *s)
{
	if (s->remote_domain[0] != '\0' && s2s_in_tls(s) != NULL)
		s->pkix_ok = s2s_in_check_peer_certificate(s, s->remote_domain) || s->dane_ok;
	if (s2s_in_auth_dane_start(s))
		return;	/* the features follow the lookup (s2s_in_auth_on_dane) */
	s2s_in_auth_send_offer(s);
}


void
s2s_in_auth_offer_gateway(struct s2s_in *s)
{
	if (s2s_in_sendstr(s, "<stream:features><mechanisms xmlns='" NS_SASL "'><mechanism>EXTERNAL"
	    "</mechanism></mechanisms><dialback xmlns='" NS_DIALBACK_FEATURE "'><errors/></dialback>"
	    S2S_IN_SM_FEATURE "</stream:features>") < 0)
		return;
	s2s_in_enter_state(s, S2S_IN_GATEWAY_AUTH);
}

static int
s2s_in_auth_is(const struct xmlstream_event *ev, const char *name, const char *ns)
{
	return xmlstream_str_eq(&ev->name, name) && xmlstream_str_eq(&ev->ns, ns);
}

int
s2s_in_auth_on_element(struct s2s_in *s, const struct xmlstream_event *ev)
{
	if (s2s_in_auth_is(ev, "verify", NS_DIALBACK)) {
		s2s_in_on_dialback_verify(s, ev);
		return 0;
	}
	if (s2s_in_auth_is(ev, "auth", NS_SASL)) {
		if (s->state != S2S_IN_WAIT_AUTH && s->state != S2S_IN_GATEWAY_AUTH)
			return -1;
		s2s_in_on_sasl_auth(s, ev);
		return 0;
	}
	if (s2s_in_auth_is(ev, "result", NS_DIALBACK)) {
		if (s2s_in_is_gateway(s))
			s2s_in_on_gateway_dialback_result(s, ev);
		else
			s2s_in_on_dialback_result(s, ev);
		return 0;
	}
	return -1;
}

void
s2s_in_auth_detach(struct s2s_in *s)
{
	struct s2s_in_pair *p;

	if (s->dane_in != NULL) {
		struct s2s_dane_in *q = s->dane_in;

		s->dane_in = NULL;
		s2s_dane_in_cancel(q);
	}
	for (p = s->pairs; p != NULL; p = p->next)
		if (p->verify != NULL) {
			struct s2s_out *o = p->verify;

			p->verify = NULL;	/* before: cancelling may log, never call back */
			s2s_out_verify_cancel(o);
		}
}

void
s2s_in_auth_free(struct s2s_in *s)
{
	s2s_in_auth_detach(s);
	while (s->pairs != NULL)
		s2s_in_pair_remove(s, s->pairs);
}
