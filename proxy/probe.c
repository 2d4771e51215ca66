/* SPDX-License-Identifier: Apache-2.0 */
/*
 * probe.c - `xmpp-edge probe DOMAIN [--from HOSTED]`: the outgoing side of
 * federation with DOMAIN, tried the way the daemon tries it, and a verdict.
 *
 *   1. policy: DOMAIN's partner entry (or policy.default) must allow it;
 *   2. where: the partner's `connect` target, else DNS with the
 *      configuration's dns section (dns_connect: _xmpps-server and
 *      _xmpp-server SRV, then the domain itself on 5269);
 *   3. every candidate in turn (s2s_dial_next), each negotiated like
 *      s2s_out.c does: Direct TLS at once or the stream header, STARTTLS
 *      when offered and allowed, TLS as a client with the certificate of
 *      HOSTED (SNI = DOMAIN), the peer's chain shown and checked (RFC 6125
 *      identity of DOMAIN, tls/), then the stream restarted inside TLS and
 *      its features read (SASL EXTERNAL, dialback);
 *   4. SASL EXTERNAL tried when offered and allowed (XEP-0178): whether
 *      DOMAIN accepts our certificate for HOSTED decides between it and
 *      dialback (a serverAuth-only certificate, Let's Encrypt since 2026,
 *      is refused by peers that want clientAuth);
 *   5. the verdict, by the rules s2s_out.c applies (tls, sasl_external,
 *      dialback, require_valid_certificate), for the first candidate that
 *      answered: that is the one the daemon would use.
 *
 * A peer that refuses our certificate already in TLS (an alert) is tried
 * again without one, as the daemon does (cert_fallback.c), and the output
 * says so.  Dialback is not attempted: it needs DOMAIN to call the daemon
 * back.  The verdict says which method the daemon would use.
 *
 * Bytes, TLS and the tokenizer are the transport's (s2s_conn.h), as for
 * the daemon's streams.  Everything runs on a private loop; the probe ends
 * when the connect sequence has no candidate left.  Each candidate has
 * limits.connect_timeout_ms to get through negotiation.
 */
#include "probe.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "cert_fallback.h"
#include "certops.h"
#include "dns.h"
#include "domain.h"
#include "edge_certs.h"
#include "netaddr.h"
#include "policy.h"
#include "s2s_conn.h"
#include "s2s_dane.h"
#include "s2s_dial.h"
#include "s2s_features.h"
#include "s2s_out.h"
#include "sasl_external.h"
#include "tls.h"
#include "xmlelem.h"
#include "xmlstream.h"

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_DIALBACK "jabber:server:dialback"
#define NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"
#define NS_STREAMS "http://etherx.jabber.org/streams"
#define PROBE_CHAIN_MAX 8

enum probe_step {
	PROBE_WAIT_FEATURES,	/* header out, waiting for header + features */
	PROBE_WAIT_PROCEED,
	PROBE_TLS,
	PROBE_WAIT_SASL,	/* <auth mechanism='EXTERNAL'/> sent */
	PROBE_DONE,
};

struct probe {
	uint8_t rbuf[64 * 1024];	/* TLS reads (the loop's only stream) */
	const struct config *cfg;
	const struct config_partner *policy;
	struct tls_certstore *store;
	struct s2s_dialer dialer;
	struct s2s_dial *dial;
	FILE *out;
	const char *domain, *from;
	uv_loop_t *loop;

	/* The candidate being negotiated: its connection, detached when it
	 * ends (s2s_conn_detach). */
	struct s2s_conn *conn;
	enum probe_step step;
	int direct_tls;
	int tls_open, pkix_ok, offers_tls, tls_required, offers_external, offers_dialback;
	int peer_has_db;
	int no_cert;		/* the peer refused our certificate in TLS */
	int sasl_result;	/* 1 accepted, -1 refused, 0 not tried */
	char sasl_detail[128];
	struct s2s_dane_target dane;		/* the candidate's DANE facts */
	char peer[NETADDR_TEXT_MAX + 8];
	char fail[256];

	/* The verdict, from the first candidate that answered. */
	int candidates, decided, works;
	char verdict[512];
};

static void probe_candidate_end(struct probe *p, const char *failure);
static void probe_candidate_close(struct probe *p, int again);
static void probe_tls_begin(struct probe *p, int direct_tls);

static void
probe_send_stream(struct probe *p, const char *s)
{
	if (p->conn != NULL)
		(void)s2s_conn_sendstr(p->conn, s);	/* a failure ends the candidate */
}

static void
probe_send_header(struct probe *p)
{
	char hdr[1024];

	snprintf(hdr, sizeof(hdr), "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
	    "xmlns:stream='" NS_STREAMS "' xmlns:db='" NS_DIALBACK "' from='%s' to='%s' "
	    "version='1.0'>", p->from, p->domain);
	probe_send_stream(p, hdr);
}

static void
fmt_time(time_t t, char *buf, size_t cap)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, cap, "%Y-%m-%d %H:%M:%SZ", &tm);
}

/* The peer's chain as it sent it: subject, issuer, validity. */
static void
probe_print_chain(struct probe *p)
{
	struct tls_certinfo *ci = malloc(sizeof(*ci));
	char nb[32], na[32], err[256];
	const uint8_t *der;
	size_t i, len, j;

	if (ci == NULL)
		return;
	for (i = 0; i < PROBE_CHAIN_MAX &&
	    tls_conn_peer_cert_der(s2s_conn_tls(p->conn), i, &der, &len) == 0; i++) {
		if (tls_certinfo_from_der(der, len, ci, err, sizeof(err)) < 0) {
			fprintf(p->out, "    certificate %zu: unreadable: %s\n", i, err);
			continue;
		}
		fmt_time(ci->not_before, nb, sizeof(nb));
		fmt_time(ci->not_after, na, sizeof(na));
		fprintf(p->out, "    certificate %zu: subject %s\n", i, ci->subject);
		fprintf(p->out, "                   issuer  %s\n", ci->issuer);
		fprintf(p->out, "                   valid   %s .. %s (%ld days left)%s\n", nb, na,
		    tls_certinfo_days_left(ci->not_after, time(NULL)),
		    ci->self_signed ? ", self-signed" : "");
		if (i == 0 && ci->nnames > 0) {
			fprintf(p->out, "                   names  ");
			for (j = 0; j < ci->nnames; j++)
				fprintf(p->out, " %s:%s", tls_id_type_str(ci->names[j].type),
				    ci->names[j].value);
			fputc('\n', p->out);
		}
	}
	if (i == 0)
		fprintf(p->out, "    no certificate received\n");
	free(ci);
}

/* What the candidate offered, as policy.c reads it. */
static struct policy_offer
probe_offer(const struct probe *p)
{
	return (struct policy_offer){
		.tls_open = p->tls_open, .pkix_ok = p->pkix_ok, .offers_tls = p->offers_tls,
		.tls_required = p->tls_required, .offers_external = p->offers_external,
		.offers_dialback = p->offers_dialback,
	};
}

/* The daemon's decision on what the candidate offered (policy.c, as
 * s2s_out.c takes it). */
static struct policy_decision
probe_decision(const struct probe *p)
{
	const struct policy_offer f = probe_offer(p);

	return policy_outbound_decide(p->policy, p->cfg->dialback.enabled, &f);
}

/* The daemon's decision (policy.c, as s2s_out.c takes it), applied to
 * what the candidate offered, in words for the operator. */
static void
probe_decide(struct probe *p)
{
	const struct config_partner *pol = p->policy;
	struct policy_decision d;
	const char *how = NULL;

	if (p->decided)
		return;
	p->decided = 1;
	if (p->fail[0] != '\0') {
		snprintf(p->verdict, sizeof(p->verdict), "%s", p->fail);
		return;
	}
	d = probe_decision(p);
	switch (d.step) {
	case POLICY_OUT_SASL_EXTERNAL:
		if (p->sasl_result >= 0) {
			how = p->sasl_result > 0 ? "SASL EXTERNAL (it accepted our certificate)" : "SASL EXTERNAL";
			break;
		}
		/* XEP-0178 §3: refused, the daemon falls back to dialback
		 * when the policy lets it and the server offers it. */
		if (!p->offers_dialback || !policy_outbound_may_fall_back(pol, p->cfg->dialback.enabled)) {
			snprintf(p->verdict, sizeof(p->verdict), "%s refused our certificate for %s in SASL "
			    "EXTERNAL (%s) and dialback is %s", p->domain, p->from, p->sasl_detail,
			    pol->sasl_external == POLICY_SASL_REQUIRED ? "excluded (sasl_external required)" :
			    !p->offers_dialback ? "not offered" : "disabled");
			return;
		}
		how = "Server Dialback (SASL EXTERNAL refused our certificate; the daemon falls back)";
		break;
	case POLICY_OUT_DIALBACK:
		how = p->no_cert ? "Server Dialback (it refused our certificate in TLS; connected again "
		    "without one, as the daemon does)" :
		    "Server Dialback (it will ask our domain's server to verify the key)";
		break;
	case POLICY_OUT_STARTTLS:
	case POLICY_OUT_AUTHENTICATE:	/* policy_outbound_decide goes past it */
		snprintf(p->verdict, sizeof(p->verdict), "%s offers STARTTLS, but TLS was not negotiated",
		    p->domain);
		return;
	case POLICY_OUT_REFUSE:
		switch (d.refusal) {
		case POLICY_REFUSAL_NO_STARTTLS:
			snprintf(p->verdict, sizeof(p->verdict), "%s offers no STARTTLS and policy requires TLS",
			    p->domain);
			break;
		case POLICY_REFUSAL_CERTIFICATE:
			snprintf(p->verdict, sizeof(p->verdict), "its certificate is not valid for %s and policy "
			    "sets require_valid_certificate", p->domain);
			break;
		case POLICY_REFUSAL_SASL_REQUIRED:
			snprintf(p->verdict, sizeof(p->verdict), "policy requires SASL EXTERNAL, which %s does "
			    "not offer%s", p->domain, p->tls_open ? "" : " without TLS");
			break;
		case POLICY_REFUSAL_NO_METHOD:
			snprintf(p->verdict, sizeof(p->verdict), "no authentication method in common (offered: "
			    "%s%s%s; policy: sasl_external %s, dialback %s%s)",
			    p->offers_external ? "SASL EXTERNAL" : "",
			    p->offers_external && p->offers_dialback ? ", " : "",
			    p->offers_dialback ? "dialback" : p->offers_external ? "" : "nothing",
			    pol->sasl_external == POLICY_SASL_DISABLED ? "disabled" : "allowed",
			    pol->dialback ? "allowed" : "disabled",
			    p->cfg->dialback.enabled ? "" : ", dialback.enabled false");
			break;
		default:
			snprintf(p->verdict, sizeof(p->verdict), "%s", policy_refusal_str(d.refusal));
			break;
		}
		return;
	}
	p->works = 1;
	snprintf(p->verdict, sizeof(p->verdict), "%s %s, authenticating with %s", p->peer,
	    p->tls_open ? (p->pkix_ok ? "over TLS with a valid certificate" :
	    "over TLS (certificate not valid for the domain: dialback only)") : "without TLS", how);
}

/* XEP-0178 §3, as s2s_out.c sends it: the authorization identity is the
 * hosted domain.  0, or -1 when it could not be sent. */
static int
probe_send_sasl_external(struct probe *p)
{
	char auth[SASL_EXTERNAL_AUTH_MAX];

	if (sasl_external_auth_write(p->from, auth, sizeof(auth)) < 0)
		return -1;
	p->step = PROBE_WAIT_SASL;
	probe_send_stream(p, auth);
	return 0;
}

/* The answer to our <auth/>: <success/>, or <failure/> with a condition
 * (RFC 6120 §6.5).  Either way the candidate is done: the daemon would
 * restart the stream, or fall back to dialback. */
static void
probe_on_sasl_answer(struct probe *p, const struct xmlstream_event *ev)
{
	if (xmlstream_str_eq(&ev->name, "success") && xmlstream_str_eq(&ev->ns, NS_SASL)) {
		p->sasl_result = 1;
		fprintf(p->out, "  SASL EXTERNAL: accepted our certificate for %s\n", p->from);
	} else {
		p->sasl_result = -1;
		snprintf(p->sasl_detail, sizeof(p->sasl_detail), "%.*s",
		    (int)(ev->raw.len > 100 ? 100 : ev->raw.len), ev->raw.p);
		fprintf(p->out, "  SASL EXTERNAL: refused our certificate for %s: %s\n", p->from,
		    p->sasl_detail);
	}
	probe_send_stream(p, "</stream:stream>");
	probe_candidate_end(p, NULL);
}

static void
probe_on_element(void *ud, const struct xmlstream_event *ev)
{
	struct probe *p = ud;
	struct s2s_features f;

	if (p->step == PROBE_DONE)
		return;
	if (xmlstream_str_eq(&ev->name, "error") && xmlstream_str_eq(&ev->ns, NS_STREAMS)) {
		char e[200];

		snprintf(e, sizeof(e), "stream error from %s: %.*s", p->peer,
		    (int)(ev->raw.len > 150 ? 150 : ev->raw.len), ev->raw.p);
		probe_candidate_end(p, e);
		return;
	}
	if (p->step == PROBE_WAIT_SASL) {
		probe_on_sasl_answer(p, ev);
		return;
	}
	if (p->step == PROBE_WAIT_PROCEED) {
		if (!xmlstream_str_eq(&ev->name, "proceed")) {
			probe_candidate_end(p, "STARTTLS refused (no <proceed/>)");
			return;
		}
		if (s2s_conn_buffered(p->conn) > 0) {
			probe_candidate_end(p, "data after <proceed/> before TLS");
			return;
		}
		probe_tls_begin(p, 0);
		return;
	}
	if (p->step != PROBE_WAIT_FEATURES || !xmlstream_str_eq(&ev->name, "features") ||
	    !xmlstream_str_eq(&ev->ns, NS_STREAMS))
		return;
	if (s2s_features_read(ev, &f) < 0)
		fprintf(p->out, "  features: unreadable, taken as offering nothing\n");
	p->offers_tls = f.starttls;
	p->tls_required = f.starttls_required;
	p->offers_external = f.sasl_external;
	p->offers_dialback = f.dialback || p->peer_has_db;
	if (!s2s_conn_tls_started(p->conn) && !p->direct_tls) {
		const struct policy_offer offer = probe_offer(p);
		struct policy_decision d = policy_outbound_tls(p->policy, &offer);

		fprintf(p->out, "  features before TLS: STARTTLS %s\n",
		    p->offers_tls ? (p->tls_required ? "offered, required" : "offered") : "not offered");
		if (d.step == POLICY_OUT_STARTTLS) {
			probe_send_stream(p, "<starttls xmlns='" NS_TLS "'/>");
			p->step = PROBE_WAIT_PROCEED;
			return;
		}
		if (d.refusal == POLICY_REFUSAL_TLS_DISABLED) {
			probe_candidate_end(p, "it requires TLS, which policy disables");
			return;
		}
	}
	fprintf(p->out, "  features%s: SASL EXTERNAL %s, dialback %s\n", p->tls_open ? " after TLS" : "",
	    p->offers_external ? "offered" : "not offered", p->offers_dialback ? "offered" : "not offered");
	/* SASL EXTERNAL is tried where the daemon would try it. */
	if (!p->decided && probe_decision(p).step == POLICY_OUT_SASL_EXTERNAL &&
	    probe_send_sasl_external(p) == 0)
		return;
	probe_send_stream(p, "</stream:stream>");
	probe_candidate_end(p, NULL);
}

static void
probe_on_header(void *ud, const struct xmlstream_event *ev)
{
	struct probe *p = ud;
	size_t i;

	p->peer_has_db = 0;
	for (i = 0; i < ev->nprefixes; i++)
		if (xmlstream_str_eq(&ev->prefixes[i].prefix, "db") &&
		    xmlstream_str_eq(&ev->prefixes[i].uri, NS_DIALBACK))
			p->peer_has_db = 1;
}

static void
probe_on_stream_close(void *ud)
{
	probe_candidate_end(ud, "it closed the stream");
}

static void
probe_on_parse_error(void *ud, const struct xmlstream_event *ev)
{
	struct probe *p = ud;
	char e[200];

	snprintf(e, sizeof(e), "unusable XML from %s: %s", p->peer,
	    ev->text != NULL ? ev->text : "parse error");
	probe_candidate_end(p, e);
}

static void
probe_on_tls(void *ud, const struct tls_verify_result *r)
{
	struct probe *p = ud;
	struct tls_conn *tls = s2s_conn_tls(p->conn);

	p->tls_open = 1;
	p->pkix_ok = r->status == TLS_VERIFY_OK;
	fprintf(p->out, "  TLS: %s, %s%s%s\n", tls_conn_version(tls), tls_conn_ciphersuite(tls),
	    tls_conn_alpn(tls) != NULL ? ", ALPN " : "",
	    tls_conn_alpn(tls) != NULL ? tls_conn_alpn(tls) : "");
	probe_print_chain(p);
	if (p->pkix_ok)
		fprintf(p->out, "  identity: valid for %s (RFC 6125, matched by %s)\n", p->domain,
		    tls_id_type_str(r->matched_by));
	else
		fprintf(p->out, "  identity: NOT valid for %s: %s (%s)\n", p->domain,
		    tls_verify_status_str(r->status), r->detail);
	if (p->policy->dane != POLICY_DANE_OFF) {
		struct tls_dane_verdict v;
		char why[320];
		enum s2s_dane_outcome o = s2s_dane_out_verify(p->policy->dane, &p->dane, tls,
		    p->domain, p->pkix_ok, why, sizeof(why), &v);

		s2s_dane_print_outcome(p->out, &p->dane, o, &v, why);
		if (o == S2S_DANE_REFUSED) {
			char e[360];

			snprintf(e, sizeof(e), "DANE: %s", why);
			probe_candidate_end(p, e);
			return;
		}
		if (o == S2S_DANE_AUTHENTICATED)
			p->pkix_ok = 1;
	}
	/* RFC 6120 §5.4.3.3: a new stream inside TLS (the transport
	 * restarted the tokenizer). */
	p->step = PROBE_WAIT_FEATURES;
	probe_send_header(p);
}

/* The connection ends under the candidate (EOF, reset, TLS failure, ...),
 * or because the candidate ended (then it was detached first and this
 * does not come). */
static void
probe_on_closing(void *ud, const char *reason, int peer_gone)
{
	struct probe *p = ud;

	(void)peer_gone;
	if (strncmp(reason, "TLS failed: ", 12) == 0) {
		p->tls_open = 0;
		/* The failed handshake is still there to ask (until
		 * on_closed, which a detached connection never sends). */
		if (!p->decided && cert_fallback_wanted(s2s_conn_tls_any(p->conn), p->no_cert, 1, p->cfg,
		    p->policy, p->domain, p->peer)) {
			fprintf(p->out, "  failed: %s\n  it refused our certificate for %s: connecting again "
			    "without a client certificate (dialback), as the daemon does\n", reason, p->from);
			p->no_cert = 1;
			probe_candidate_close(p, 1);
			return;
		}
	}
	if (strcmp(reason, "peer closed the connection") == 0)
		reason = "it closed the connection";
	else if (strcmp(reason, "peer sent TLS close_notify") == 0)
		reason = "it closed TLS";
	probe_candidate_end(p, reason);
}

static void
probe_on_closed(void *ud)
{
	(void)ud;	/* detached in probe_candidate_end before this can come */
}

static void
probe_on_timeout(void *ud)
{
	probe_candidate_end(ud, "no answer within limits.connect_timeout_ms");
}

static const struct s2s_conn_callbacks probe_conn_callbacks = {
	.on_header = probe_on_header,
	.on_element = probe_on_element,
	.on_stream_close = probe_on_stream_close,
	.on_parse_error = probe_on_parse_error,
	.on_tls = probe_on_tls,
	.on_timeout = probe_on_timeout,
	.on_closing = probe_on_closing,
	.on_closed = probe_on_closed,
};

/* TLS as the daemon's outgoing streams do it: our certificate for 'from',
 * SNI and the identity check for the probed domain (ALPN with Direct TLS). */
static void
probe_tls_begin(struct probe *p, int direct_tls)
{
	struct tls_conn_params params = {
		.role = TLS_ROLE_EXTERNAL_CLIENT, .direct_tls = direct_tls, .peer_domain = p->domain,
		.local_domain = p->from, .no_client_cert = p->no_cert,
	};
	char err[256];

	p->step = PROBE_TLS;
	if (s2s_conn_starttls(p->conn, &params, err, sizeof(err)) < 0)
		probe_candidate_end(p, err);
}

/* Ends the candidate being negotiated (failure NULL: it got through) and
 * asks the connect sequence for the next one. */
static void
probe_candidate_end(struct probe *p, const char *failure)
{
	struct s2s_conn *c = p->conn;

	if (c == NULL)
		return;
	if (failure != NULL) {
		fprintf(p->out, "  failed: %s\n", failure);
		if (!p->decided)
			snprintf(p->fail, sizeof(p->fail), "%s: %s", p->peer, failure);
	}
	probe_decide(p);
	probe_candidate_close(p, 0);
}

/* Drops the candidate's connection (freed from the loop, never inside
 * this callback); the connect sequence goes on with the same candidate
 * (again) or the next. */
static void
probe_candidate_close(struct probe *p, int again)
{
	struct s2s_conn *c = p->conn;

	if (c == NULL)
		return;
	p->conn = NULL;
	s2s_conn_detach(c);
	p->step = PROBE_DONE;
	if (p->dial != NULL && again)
		p->dialer.ops->again(p->dial);
	else if (p->dial != NULL)
		p->dialer.ops->next(p->dial);
}

static void
probe_on_dial(void *arg, const struct s2s_dial_result *r)
{
	struct probe *p = arg;
	struct s2s_conn_params cp;

	if (r->err != DNS_OK) {
		/* The last callback: no (more) candidates. */
		if (p->candidates == 0) {
			snprintf(p->fail, sizeof(p->fail), "no server of %s could be reached: %s",
			    p->domain, dns_error_str(r->err));
			fprintf(p->out, "  %s\n", p->fail);
			probe_decide(p);
		}
		if (p->dial != NULL)
			p->dialer.ops->free(p->dial);
		p->dial = NULL;
		return;
	}
	p->candidates++;
	snprintf(p->peer, sizeof(p->peer), "%s", r->peer);
	if (p->policy->connect[0] != '\0' || r->cand == NULL)
		fprintf(p->out, "\ncandidate %d: %s (partner connect target, %s)%s\n", p->candidates,
		    p->peer, dns_tls_mode_name(r->direct_tls ? DNS_TLS_DIRECT : DNS_TLS_STARTTLS),
		    p->decided ? "" : "  <- the one the daemon would use");
	else
		fprintf(p->out, "\ncandidate %d: %s (%s %s, %s)%s\n", p->candidates, p->peer,
		    dns_source_name(r->cand->source), r->cand->target, dns_tls_mode_name(r->cand->tls),
		    p->decided ? "" : "  <- the one the daemon would use");
	s2s_dane_target_set(&p->dane, r->cand);
	s2s_dane_print_target(p->out, p->policy->dane, &p->dane);
	p->direct_tls = r->direct_tls;
	p->tls_open = p->pkix_ok = p->offers_tls = p->tls_required = 0;
	p->offers_external = p->offers_dialback = p->peer_has_db = 0;
	p->sasl_result = 0;
	s2s_conn_params_init(&cp, p->loop, p->store, p->rbuf, sizeof(p->rbuf),
	    (size_t)p->cfg->limits.send_queue_bytes, p->peer);
	p->conn = s2s_conn_new(&cp, r->pipe, &probe_conn_callbacks, p);
	if (p->conn == NULL) {
		fprintf(p->out, "  failed: out of memory\n");
		p->dialer.ops->next(p->dial);
		return;
	}
	s2s_conn_timer_start(p->conn, (uint64_t)p->cfg->limits.connect_timeout_ms, 0);
	if (s2s_conn_read_start(p->conn) < 0)
		return;	/* ended: its on_closing said why */
	if (p->direct_tls) {
		probe_tls_begin(p, 1);
		return;
	}
	p->step = PROBE_WAIT_FEATURES;
	probe_send_header(p);
}

int
probe_domain_run(const struct config *cfg, const char *domain_arg, const char *from_arg, FILE *out)
{
	char domain[CONFIG_DOMAIN_MAX], from[CONFIG_DOMAIN_MAX], err[CONFIG_ERR_MAX];
	struct dns_resolver *dns = NULL;
	struct probe p;
	uv_loop_t loop;
	size_t i;
	int rc = 1;

	memset(&p, 0, sizeof(p));
	if (domain_canonicalize(domain_arg, strlen(domain_arg), domain, sizeof(domain), err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "xmpp-edge probe: '%s' is not a domain: %s\n", domain_arg, err);
		return 2;
	}
	snprintf(from, sizeof(from), "%s", from_arg != NULL ? from_arg : cfg->domains[0].name);
	for (i = 0; i < cfg->domain_count; i++)
		if (strcmp(cfg->domains[i].name, from) == 0)
			break;
	if (i == cfg->domain_count) {
		fprintf(stderr, "xmpp-edge probe: --from %s: not a hosted domain of %s\n", from,
		    cfg->source);
		return 2;
	}
	p.cfg = cfg;
	p.out = out;
	p.domain = domain;
	p.from = from;
	p.policy = config_policy_for(cfg, domain);
	fprintf(out, "probe %s from %s (%s)\n", domain, from, cfg->source);
	fprintf(out, "policy: %s: allow %s, tls %s, sasl_external %s, dialback %s, "
	    "require_valid_certificate %s%s%s\n",
	    p.policy->domain[0] ? p.policy->domain : "policy.default",
	    p.policy->allow ? "true" : "false",
	    p.policy->tls == POLICY_TLS_REQUIRED ? "required" :
	    p.policy->tls == POLICY_TLS_OPTIONAL ? "optional" : "disabled",
	    p.policy->sasl_external == POLICY_SASL_REQUIRED ? "required" :
	    p.policy->sasl_external == POLICY_SASL_OPTIONAL ? "optional" : "disabled",
	    p.policy->dialback ? "true" : "false", p.policy->require_valid_certificate ? "true" : "false",
	    p.policy->connect[0] ? ", connect " : "", p.policy->connect);
	if (!p.policy->allow) {
		fprintf(out, "verdict: federation with %s would NOT work: policy does not allow it\n", domain);
		return 1;
	}
	p.store = edge_certstore_load(cfg, err, sizeof(err));
	if (p.store == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	uv_loop_init(&loop);
	p.loop = &loop;
	if (dns_resolver_new(&loop, &cfg->dns, &dns, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: dns: %s\n", cfg->source, err);
		goto done;
	}
	s2s_dial_dns_init(&p.dialer, dns);
	if (p.policy->connect[0] != '\0') {
		struct s2s_dial_target t = { .domain = domain };
		struct sockaddr_storage ss;

		t.addr = (struct sockaddr *)&ss;
		t.tls = p.policy->connect_direct_tls ? DNS_TLS_DIRECT : DNS_TLS_STARTTLS;
		if (netaddr_parse(p.policy->connect, &ss, err, sizeof(err)) < 0 ||
		    p.dialer.ops->start(p.dialer.impl, &t, probe_on_dial, &p, &p.dial) != DNS_OK) {
			fprintf(stderr, "connect %s: cannot start\n", p.policy->connect);
			goto done;
		}
		fprintf(out, "where: the partner's connect target %s (no DNS)\n", p.policy->connect);
	} else {
		struct s2s_dial_target t = { .domain = domain };
		struct dns_avoid avoid;
		enum dns_error de;

		/* The daemon's address policy, so the verdict is the daemon's. */
		s2s_out_avoid_own(cfg, &avoid);
		t.avoid = &avoid;
		t.want_tlsa = p.policy->dane != POLICY_DANE_OFF;
		de = p.dialer.ops->start(p.dialer.impl, &t, probe_on_dial, &p, &p.dial);
		if (de != DNS_OK) {
			fprintf(out, "verdict: federation with %s would NOT work: %s\n", domain,
			    dns_error_str(de));
			goto done;
		}
		fprintf(out, "where: DNS (_xmpps-server, _xmpp-server SRV, else %s:%d); special-purpose "
		    "and own addresses refused, %zu prefixes allowed (dns.allow_private_targets)\n", domain,
		    DNS_XMPP_SERVER_PORT, cfg->dns.nallow_private_targets);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	probe_decide(&p);
	fputc('\n', out);
	if (p.works)
		fprintf(out, "verdict: federation with %s would work: %s\n", domain, p.verdict);
	else
		fprintf(out, "verdict: federation with %s would NOT work: %s\n", domain, p.verdict);
	rc = p.works ? 0 : 1;
done:
	if (p.dial != NULL)
		p.dialer.ops->free(p.dial);
	if (p.conn != NULL)
		s2s_conn_detach(p.conn);
	if (dns != NULL)
		dns_resolver_free(dns);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	s2s_dane_target_clear(&p.dane);
	tls_certstore_unref(p.store);
	return rc;
}
