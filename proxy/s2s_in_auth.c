/*
 * s2s_in_auth.c - authenticating the remote server of an inbound stream.
 *
 * After TLS and the restarted header (s2s_in.c), the features offer what
 * the partner's policy allows:
 *   - SASL EXTERNAL (RFC 6120 §6, XEP-0178) when the certificate presented
 *     in the TLS handshake is valid for the stream's 'from' (RFC 6125 via
 *     tls_conn_verify_peer);
 *   - Server Dialback (XEP-0220): the key in <db:result/> is checked with
 *     the authoritative server, found through DNS by dialback_verify.c;
 *   - XEP-0288 bidirectional streams, which this build requires before it
 *     authenticates (see s2s_in_require_bidi).
 * On success the stream is S2S_IN_ESTABLISHED for that one domain.
 */
#include "s2s_in_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/base64.h>

#include "log.h"
#include "xmlelem.h"

/* RFC 6120 §13.7.1.2 / RFC 6125: is the certificate the initiating
 * server presented valid for the domain its stream claims?  This is what
 * SASL EXTERNAL rests on (XEP-0178). */
static int
s2s_in_check_peer_certificate(struct s2s_in *s)
{
	struct tls_verify_result r;

	if (tls_conn_verify_peer(s->tls, s->remote_domain, &r) < 0)
		return 0;
	log_event(r.status == TLS_VERIFY_OK ? LOG_INFO : LOG_WARN, "s2s_in.peer_certificate",
	    "peer", s->peer, "domain", s->remote_domain,
	    "result", tls_verify_status_str(r.status),
	    "matched_by", r.status == TLS_VERIFY_OK ? tls_id_type_str(r.matched_by) : NULL,
	    "detail", r.detail, NULL);
	return r.status == TLS_VERIFY_OK;
}

/* What the partner's policy lets this stream authenticate with. */
static int
s2s_in_may_pkix(const struct s2s_in *s)
{
	const struct config_partner *p = config_policy_for(s->edge->cfg, s->remote_domain);

	return s->pkix_ok && p->sasl_external != POLICY_SASL_DISABLED;
}

static int
s2s_in_may_dialback(const struct s2s_in *s)
{
	const struct config_partner *p = config_policy_for(s->edge->cfg, s->remote_domain);

	return s->edge->cfg->dialback.enabled && p->dialback;
}

static void
s2s_in_send_auth_features(struct s2s_in *s)
{
	char out[512];

	/* XEP-0288: bidirectional streams (see s2s_in_require_bidi). */
	snprintf(out, sizeof(out), "<stream:features><bidi xmlns='urn:xmpp:features:bidi'/>%s%s"
	    "</stream:features>",
	    s2s_in_may_pkix(s) ? "<mechanisms xmlns='" NS_SASL "'><mechanism>EXTERNAL"
	    "</mechanism></mechanisms>" : "",
	    /* XEP-0220 §2.4: dialback with error support. */
	    s2s_in_may_dialback(s) ? "<dialback xmlns='urn:xmpp:features:dialback'><errors/>"
	    "</dialback>" : "");
	s2s_in_sendstr(s, out);
}

/* The remote domain is authenticated: larger stanzas, idle timing. */
void
s2s_in_auth_established(struct s2s_in *s)
{
	const struct config_limits *lim = &s->edge->cfg->limits;
	const struct config_partner *p = config_policy_for(s->edge->cfg, s->authed_domain);
	struct xmlstream_limits xl;

	xl.stanza_max = (size_t)(p->max_stanza_size ? p->max_stanza_size : lim->stanza_size);
	xl.depth_max = (size_t)lim->max_depth;
	xl.attrs_max = (size_t)lim->max_attributes;
	xl.name_max = (size_t)lim->max_name_length;
	(void)xmlstream_set_limits(s->xs, &xl);	/* values are schema-bounded */
	s2s_in_enter_state(s, S2S_IN_ESTABLISHED);
	uv_timer_start(&s->timer, s2s_in_on_timeout, (uint64_t)lim->idle_timeout_s * 1000,
	    (uint64_t)lim->idle_timeout_s * 1000);
}

/*
 * s2s streams carry stanzas one way (RFC 6120 §2.4).  A stanza this build
 * cannot route must go back to its sender, and without outgoing
 * federation the only way back is the same stream made bidirectional
 * (XEP-0288).  So authentication is completed only for peers that asked
 * for <bidi/>; others are refused before any stanza flows, and their own
 * server returns the stanzas it queued to their senders (as Prosody and
 * ejabberd do for a failed connection).  Never a stanza accepted and lost.
 */
static int
s2s_in_require_bidi(struct s2s_in *s, const char *method)
{
	if (s->bidi)
		return 0;
	log_event(LOG_INFO, "s2s_in.auth", "peer", s->peer, "domain", s->remote_domain,
	    "method", method, "result", "refused",
	    "reason", "no bidirectional stream (XEP-0288): undeliverable stanzas could not be bounced",
	    NULL);
	return -1;
}

/* RFC 6120 §6.4 with XEP-0178: SASL EXTERNAL on the certificate. */
static void
s2s_in_on_sasl_auth(struct s2s_in *s, const struct xmlstream_event *ev)
{
	char mech[32], text[512], authzid[CONFIG_DOMAIN_MAX];
	size_t alen = 0;

	if (xmlelem_attr(ev, "mechanism", mech, sizeof(mech)) < 0 ||
	    strcmp(mech, "EXTERNAL") != 0 || !s2s_in_may_pkix(s)) {
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
	if (s2s_in_require_bidi(s, "sasl-external") < 0) {
		s2s_in_sendstr(s, "<failure xmlns='" NS_SASL "'><not-authorized/><text>xmpp-edge "
		    "accepts bidirectional streams only (XEP-0288)</text></failure>");
		return;
	}
	memcpy(s->authed_domain, s->remote_domain, sizeof(s->authed_domain));
	log_event(LOG_INFO, "s2s_in.auth", "peer", s->peer, "domain", s->authed_domain,
	    "method", "sasl-external", "result", "valid", NULL);
	s2s_in_sendstr(s, "<success xmlns='" NS_SASL "'/>");
	/* RFC 6120 §6.4.6: both sides restart the stream. */
	xmlstream_restart(s->xs);
	s->header_sent = 0;
	s2s_in_enter_state(s, S2S_IN_WAIT_HEADER);
}

static void
s2s_in_db_result(struct s2s_in *s, const char *from, const char *to, const char *type,
    const char *error_cond)
{
	char out[1024];

	if (error_cond == NULL)
		snprintf(out, sizeof(out), "<db:result from='%s' to='%s' type='%s'/>", from, to, type);
	else
		snprintf(out, sizeof(out), "<db:result from='%s' to='%s' type='error'><error "
		    "type='cancel'><%s xmlns='" NS_STANZAS "'/></error></db:result>", from, to, error_cond);
	s2s_in_sendstr(s, out);
}

static void
s2s_in_on_dialback_verified(enum dialback_verdict verdict, int timeout, const char *reason,
    void *arg)
{
	struct s2s_in *s = arg;

	s->verify = NULL;
	if (verdict == DIALBACK_VALID) {
		memcpy(s->authed_domain, s->remote_domain, sizeof(s->authed_domain));
		log_event(LOG_INFO, "s2s_in.auth", "peer", s->peer, "domain", s->authed_domain,
		    "method", "dialback", "result", "valid", NULL);
		s2s_in_db_result(s, s->local_domain, s->remote_domain, "valid", NULL);
		s2s_in_auth_established(s);
		return;
	}
	log_event(LOG_INFO, "s2s_in.auth", "peer", s->peer, "domain", s->remote_domain,
	    "method", "dialback", "result", verdict == DIALBACK_INVALID ? "invalid" : "error",
	    "reason", reason, NULL);
	if (verdict == DIALBACK_INVALID) {
		/* XEP-0220 §2.3.3: not accepted; the stream is over. */
		s2s_in_db_result(s, s->local_domain, s->remote_domain, "invalid", NULL);
		s2s_in_fail(s, STREAM_ERR_NOT_AUTHORIZED, "dialback key refused by the authoritative server");
		return;
	}
	/* XEP-0220 §2.4.2: the error, and the stream stays for a retry. */
	s2s_in_db_result(s, s->local_domain, s->remote_domain, NULL,
	    timeout ? "remote-server-timeout" : "remote-server-not-found");
	s2s_in_enter_state(s, S2S_IN_WAIT_AUTH);
}

/* XEP-0220 §2.2: <db:result from='D' to='ours'>KEY</db:result>. */
static void
s2s_in_on_dialback_result(struct s2s_in *s, const struct xmlstream_event *ev)
{
	char from[CONFIG_DOMAIN_MAX], to[CONFIG_DOMAIN_MAX], key[DIALBACK_KEY_MAX + 1];
	char err[128];

	if (s2s_in_take_domain(&ev->from, from, sizeof(from)) < 0 ||
	    s2s_in_take_domain(&ev->to, to, sizeof(to)) < 0) {
		s2s_in_fail(s, STREAM_ERR_IMPROPER_ADDRESSING, "db:result needs 'from' and 'to' domains");
		return;
	}
	/* One domain per stream: the one the header claimed. */
	if (strcmp(from, s->remote_domain) != 0 || strcmp(to, s->local_domain) != 0) {
		s2s_in_db_result(s, to, from, NULL, strcmp(to, s->local_domain) != 0 ?
		    "item-not-found" : "not-allowed");
		return;
	}
	if (!s2s_in_may_dialback(s) || s->verify != NULL ||
	    s2s_in_require_bidi(s, "dialback") < 0) {
		s2s_in_db_result(s, to, from, NULL, "policy-violation");
		return;
	}
	if (xmlelem_text(ev, key, sizeof(key)) < 0 ||
	    (s->verify = dialback_verify_start(s->edge, s->local_domain, s->remote_domain,
	    s->stream_id, key, s2s_in_on_dialback_verified, s, err, sizeof(err))) == NULL) {
		log_event(LOG_INFO, "s2s_in.auth", "peer", s->peer, "domain", from,
		    "method", "dialback", "result", "error", "reason", "unusable key", NULL);
		s2s_in_db_result(s, to, from, NULL, "not-acceptable");
		return;
	}
	s2s_in_enter_state(s, S2S_IN_WAIT_DIALBACK);
}

void
s2s_in_auth_offer(struct s2s_in *s)
{
	if (s->remote_domain[0] != '\0')
		s->pkix_ok = s2s_in_check_peer_certificate(s);
	s2s_in_send_auth_features(s);
	s2s_in_enter_state(s, S2S_IN_WAIT_AUTH);
}

static int
s2s_in_auth_is(const struct xmlstream_event *ev, const char *name, const char *ns)
{
	size_t n = strlen(name), m = strlen(ns);

	return ev->name.p != NULL && ev->name.len == n && memcmp(ev->name.p, name, n) == 0 &&
	    ev->ns.p != NULL && ev->ns.len == m && memcmp(ev->ns.p, ns, m) == 0;
}

int
s2s_in_auth_on_element(struct s2s_in *s, const struct xmlstream_event *ev)
{
	if (s2s_in_auth_is(ev, "bidi", NS_BIDI)) {
		s->bidi = 1;	/* XEP-0288 §3: no answer; effective once authenticated */
		return 0;
	}
	if (s2s_in_auth_is(ev, "auth", NS_SASL)) {
		s2s_in_on_sasl_auth(s, ev);
		return 0;
	}
	if (s2s_in_auth_is(ev, "result", NS_DIALBACK)) {
		s2s_in_on_dialback_result(s, ev);
		return 0;
	}
	return -1;
}

void
s2s_in_auth_cancel(struct s2s_in *s)
{
	if (s->verify != NULL) {
		dialback_verify_cancel(s->verify);
		s->verify = NULL;
	}
}
