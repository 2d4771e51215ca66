/* SPDX-License-Identifier: Apache-2.0 */
/*
 * probe.c - `xmpp-edge probe DOMAIN [--from HOSTED]`: the outgoing side of
 * federation with DOMAIN, tried the way the daemon tries it, and a verdict.
 *
 *   1. policy: DOMAIN's partner entry (or policy.default) must allow it;
 *   2. where: the partner's `connect` target, else DNS with the
 *      configuration's dns section (dns_connect: _xmpps-server and
 *      _xmpp-server SRV, then the domain itself on 5269);
 *   3. every candidate in turn (dns_connect_next), each negotiated like
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
 * Everything runs on a private loop; the probe ends when the connect
 * sequence has no candidate left.  Each candidate has
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
#include "edge.h"
#include "netaddr.h"
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
	char rbuf[64 * 1024];		/* one read at a time (the loop's only stream) */
	const struct config *cfg;
	const struct config_partner *policy;
	struct tls_certstore *store;
	struct dns_connect *dc;
	FILE *out;
	const char *domain, *from;
	uv_loop_t *loop;
	uv_timer_t timer;

	/* The candidate being negotiated. */
	uv_tcp_t *tcp;
	struct xmlstream *xs;
	struct tls_conn *tls;
	enum probe_step step;
	int direct_tls;
	int tls_open, pkix_ok, offers_tls, tls_required, offers_external, offers_dialback;
	int peer_has_db;
	int no_cert;		/* the peer refused our certificate in TLS */
	int sasl_result;	/* 1 accepted, -1 refused, 0 not tried */
	char sasl_detail[128];
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
probe_on_write(uv_write_t *req, int status)
{
	(void)status;
	free(req);
}

static void
probe_send(struct probe *p, const void *data, size_t len)
{
	uv_write_t *req;
	uv_buf_t buf;

	if (p->tcp == NULL)
		return;
	req = malloc(sizeof(*req) + len);
	if (req == NULL)
		return;
	memcpy(req + 1, data, len);
	buf = uv_buf_init((char *)(req + 1), (unsigned)len);
	if (uv_write(req, (uv_stream_t *)p->tcp, &buf, 1, probe_on_write) != 0)
		free(req);
}

static void
probe_send_stream(struct probe *p, const char *s)
{
	if (p->tls != NULL)
		tls_conn_write(p->tls, (const uint8_t *)s, strlen(s));
	else
		probe_send(p, s, strlen(s));
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
	for (i = 0; i < PROBE_CHAIN_MAX && tls_conn_peer_cert_der(p->tls, i, &der, &len) == 0; i++) {
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

/* The rules of s2s_out.c, applied to what the candidate offered. */
static void
probe_decide(struct probe *p)
{
	const struct config_partner *pol = p->policy;
	const char *how = NULL;

	if (p->decided)
		return;
	p->decided = 1;
	if (p->fail[0] != '\0') {
		snprintf(p->verdict, sizeof(p->verdict), "%s", p->fail);
		return;
	}
	if (!p->tls_open && pol->tls == POLICY_TLS_REQUIRED) {
		snprintf(p->verdict, sizeof(p->verdict), "%s offers no STARTTLS and policy requires TLS",
		    p->domain);
		return;
	}
	if (p->tls_open && !p->pkix_ok && pol->require_valid_certificate) {
		snprintf(p->verdict, sizeof(p->verdict), "its certificate is not valid for %s and policy "
		    "sets require_valid_certificate", p->domain);
		return;
	}
	if (p->sasl_result > 0)
		how = "SASL EXTERNAL (it accepted our certificate)";
	else if (p->sasl_result < 0 && (pol->sasl_external == POLICY_SASL_REQUIRED ||
	    !p->offers_dialback || !p->cfg->dialback.enabled || !pol->dialback)) {
		snprintf(p->verdict, sizeof(p->verdict), "%s refused our certificate for %s in SASL "
		    "EXTERNAL (%s) and dialback is %s", p->domain, p->from, p->sasl_detail,
		    pol->sasl_external == POLICY_SASL_REQUIRED ? "excluded (sasl_external required)" :
		    !p->offers_dialback ? "not offered" : "disabled");
		return;
	} else if (p->sasl_result < 0)
		how = "Server Dialback (SASL EXTERNAL refused our certificate; the daemon falls back)";
	else if (p->tls_open && p->offers_external && pol->sasl_external != POLICY_SASL_DISABLED)
		how = "SASL EXTERNAL";
	else if (pol->sasl_external == POLICY_SASL_REQUIRED) {
		snprintf(p->verdict, sizeof(p->verdict), "policy requires SASL EXTERNAL, which %s does "
		    "not offer%s", p->domain, p->tls_open ? "" : " without TLS");
		return;
	} else if (p->offers_dialback && p->cfg->dialback.enabled && pol->dialback)
		how = p->no_cert ? "Server Dialback (it refused our certificate in TLS; connected again "
		    "without one, as the daemon does)" :
		    "Server Dialback (it will ask our domain's server to verify the key)";
	else {
		snprintf(p->verdict, sizeof(p->verdict), "no authentication method in common (offered: "
		    "%s%s%s; policy: sasl_external %s, dialback %s%s)",
		    p->offers_external ? "SASL EXTERNAL" : "",
		    p->offers_external && p->offers_dialback ? ", " : "",
		    p->offers_dialback ? "dialback" : p->offers_external ? "" : "nothing",
		    pol->sasl_external == POLICY_SASL_DISABLED ? "disabled" : "allowed",
		    pol->dialback ? "allowed" : "disabled",
		    p->cfg->dialback.enabled ? "" : ", dialback.enabled false");
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
probe_on_element(struct probe *p, const struct xmlstream_event *ev)
{
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
		if (xmlstream_buffered(p->xs) > 0) {
			probe_candidate_end(p, "data after <proceed/> before TLS");
			return;
		}
		probe_tls_begin(p, 0);
		return;
	}
	if (p->step != PROBE_WAIT_FEATURES || !xmlstream_str_eq(&ev->name, "features") ||
	    !xmlstream_str_eq(&ev->ns, NS_STREAMS))
		return;
	p->offers_tls = xmlelem_contains(ev, NS_TLS);
	p->tls_required = p->offers_tls && xmlelem_contains(ev, "<required");
	p->offers_external = xmlelem_contains(ev, NS_SASL) && xmlelem_contains(ev, ">EXTERNAL<");
	p->offers_dialback = xmlelem_contains(ev, NS_DIALBACK_FEATURE) || p->peer_has_db;
	if (p->tls == NULL && !p->direct_tls) {
		fprintf(p->out, "  features before TLS: STARTTLS %s\n",
		    p->offers_tls ? (p->tls_required ? "offered, required" : "offered") : "not offered");
		if (p->offers_tls && p->policy->tls != POLICY_TLS_DISABLED) {
			probe_send_stream(p, "<starttls xmlns='" NS_TLS "'/>");
			p->step = PROBE_WAIT_PROCEED;
			return;
		}
		if (p->tls_required) {
			probe_candidate_end(p, "it requires TLS, which policy disables");
			return;
		}
	}
	fprintf(p->out, "  features%s: SASL EXTERNAL %s, dialback %s\n", p->tls_open ? " after TLS" : "",
	    p->offers_external ? "offered" : "not offered", p->offers_dialback ? "offered" : "not offered");
	if (p->tls_open && p->offers_external && p->policy->sasl_external != POLICY_SASL_DISABLED &&
	    !p->decided && probe_send_sasl_external(p) == 0)
		return;
	probe_send_stream(p, "</stream:stream>");
	probe_candidate_end(p, NULL);
}

static void
probe_drain(struct probe *p)
{
	struct xmlstream_event ev;
	enum xmlstream_event_type t;
	size_t i;

	while (p->xs != NULL && p->step != PROBE_DONE &&
	    (t = xmlstream_next(p->xs, &ev)) != XMLSTREAM_EV_NONE) {
		switch (t) {
		case XMLSTREAM_EV_STREAM_OPEN:
			p->peer_has_db = 0;
			for (i = 0; i < ev.nprefixes; i++)
				if (xmlstream_str_eq(&ev.prefixes[i].prefix, "db") &&
				    xmlstream_str_eq(&ev.prefixes[i].uri, NS_DIALBACK))
					p->peer_has_db = 1;
			break;
		case XMLSTREAM_EV_ELEMENT:
			probe_on_element(p, &ev);
			break;
		case XMLSTREAM_EV_STREAM_CLOSE:
			probe_candidate_end(p, "it closed the stream");
			return;
		case XMLSTREAM_EV_ERROR: {
			char e[200];

			snprintf(e, sizeof(e), "unusable XML from %s: %s", p->peer,
			    ev.text != NULL ? ev.text : "parse error");
			probe_candidate_end(p, e);
			return;
		}
		default:
			break;
		}
		if (p->xs == NULL || p->step == PROBE_TLS)
			return;	/* ended, or TLS takes the next bytes */
	}
}

static void
probe_feed(struct probe *p, const uint8_t *data, size_t len)
{
	while (len > 0 && p->xs != NULL) {
		size_t took = xmlstream_feed(p->xs, data, len);

		data += took;
		len -= took;
		probe_drain(p);
		if (took == 0 && len > 0) {
			probe_candidate_end(p, "element too large");
			return;
		}
	}
}

static void
probe_tls_on_ciphertext(void *ud, const uint8_t *data, size_t len)
{
	probe_send(ud, data, len);
}

static void
probe_tls_on_handshake(void *ud, const struct tls_verify_result *r)
{
	struct probe *p = ud;

	p->tls_open = 1;
	p->pkix_ok = r->status == TLS_VERIFY_OK;
	fprintf(p->out, "  TLS: %s, %s%s%s\n", tls_conn_version(p->tls), tls_conn_ciphersuite(p->tls),
	    tls_conn_alpn(p->tls) != NULL ? ", ALPN " : "",
	    tls_conn_alpn(p->tls) != NULL ? tls_conn_alpn(p->tls) : "");
	probe_print_chain(p);
	if (p->pkix_ok)
		fprintf(p->out, "  identity: valid for %s (RFC 6125, matched by %s)\n", p->domain,
		    tls_id_type_str(r->matched_by));
	else
		fprintf(p->out, "  identity: NOT valid for %s: %s (%s)\n", p->domain,
		    tls_verify_status_str(r->status), r->detail);
	/* RFC 6120 §5.4.3.3: a new stream inside TLS. */
	xmlstream_restart(p->xs);
	p->step = PROBE_WAIT_FEATURES;
	probe_send_header(p);
}

static void
probe_tls_on_plaintext(void *ud, const uint8_t *data, size_t len)
{
	probe_feed(ud, data, len);
}

static void
probe_tls_on_close_notify(void *ud)
{
	probe_candidate_end(ud, "it closed TLS");
}

static void
probe_tls_on_error(void *ud, const char *reason)
{
	struct probe *p = ud;
	char e[300];

	p->tls_open = 0;
	snprintf(e, sizeof(e), "TLS failed: %s", reason);
	if (!p->decided && cert_fallback_wanted(p->tls, p->no_cert, 1, p->cfg, p->policy, p->domain,
	    p->peer)) {
		fprintf(p->out, "  failed: %s\n  it refused our certificate for %s: connecting again "
		    "without a client certificate (dialback), as the daemon does\n", e, p->from);
		p->no_cert = 1;
		probe_candidate_close(p, 1);
		return;
	}
	probe_candidate_end(p, e);
}

static const struct tls_conn_callbacks probe_tls_callbacks = {
	.on_ciphertext = probe_tls_on_ciphertext,
	.on_handshake = probe_tls_on_handshake,
	.on_plaintext = probe_tls_on_plaintext,
	.on_close_notify = probe_tls_on_close_notify,
	.on_error = probe_tls_on_error,
};

/* TLS as the daemon's outgoing streams do it: our certificate for 'from',
 * SNI and the identity check for the probed domain (ALPN with Direct TLS). */
static void
probe_tls_begin(struct probe *p, int direct_tls)
{
	struct tls_conn_params params = {
		.role = TLS_ROLE_EXTERNAL_CLIENT, .direct_tls = direct_tls, .peer_domain = p->domain,
		.local_domain = p->from, .peer_addr = p->peer, .no_client_cert = p->no_cert,
	};
	char err[256];

	p->step = PROBE_TLS;
	p->tls = tls_conn_new(p->store, &params, &probe_tls_callbacks, p, err, sizeof(err));
	if (p->tls == NULL)
		probe_candidate_end(p, err);
	else if (tls_conn_start(p->tls) < 0)
		probe_candidate_end(p, "TLS start failed");
}

static void
probe_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct probe *p = h->data;

	(void)suggested;
	*buf = uv_buf_init(p->rbuf, sizeof(p->rbuf));
}

static void
probe_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct probe *p = stream->data;

	if (nread < 0) {
		probe_candidate_end(p, nread == UV_EOF ? "it closed the connection" : uv_strerror((int)nread));
		return;
	}
	if (p->tls != NULL)
		tls_conn_feed(p->tls, (const uint8_t *)buf->base, (size_t)nread);
	else
		probe_feed(p, (const uint8_t *)buf->base, (size_t)nread);
}

static void
probe_on_timeout(uv_timer_t *t)
{
	probe_candidate_end(t->data, "no answer within limits.connect_timeout_ms");
}

/* Ends the candidate being negotiated (failure NULL: it got through) and
 * asks the connect sequence for the next one. */
static void
probe_candidate_end(struct probe *p, const char *failure)
{
	if (p->tcp == NULL)
		return;
	if (failure != NULL) {
		fprintf(p->out, "  failed: %s\n", failure);
		if (!p->decided)
			snprintf(p->fail, sizeof(p->fail), "%s: %s", p->peer, failure);
	}
	probe_decide(p);
	probe_candidate_close(p, 0);
}

/* Drops the candidate's connection; the connect sequence goes on with the
 * same candidate (again) or the next. */
static void
probe_candidate_close(struct probe *p, int again)
{
	if (p->tcp == NULL)
		return;
	uv_timer_stop(&p->timer);
	if (p->tls != NULL) {
		tls_conn_close(p->tls);
		tls_conn_free(p->tls);
		p->tls = NULL;
	}
	xmlstream_free(p->xs);
	p->xs = NULL;
	uv_read_stop((uv_stream_t *)p->tcp);
	dns_tcp_close_free(p->tcp);
	p->tcp = NULL;
	p->step = PROBE_DONE;
	if (p->dc != NULL && again)
		dns_connect_again(p->dc);
	else if (p->dc != NULL)
		dns_connect_next(p->dc);
}

static void
probe_on_connect(struct dns_connect *dc, enum dns_error err, uv_tcp_t *tcp,
    const struct dns_candidate *cand, void *arg)
{
	struct probe *p = arg;

	if (err != DNS_OK) {
		/* The last callback: no (more) candidates. */
		if (p->candidates == 0) {
			snprintf(p->fail, sizeof(p->fail), "no server of %s could be reached: %s",
			    p->domain, dns_error_str(err));
			fprintf(p->out, "  %s\n", p->fail);
			probe_decide(p);
		}
		dns_connect_free(dc);
		p->dc = NULL;
		uv_close((uv_handle_t *)&p->timer, NULL);
		return;
	}
	p->candidates++;
	snprintf(p->peer, sizeof(p->peer), "%s:%u", cand->addr_str, cand->port);
	if (p->policy->connect[0] != '\0')
		fprintf(p->out, "\ncandidate %d: %s (partner connect target, %s)%s\n", p->candidates,
		    p->peer, dns_tls_mode_name(cand->tls), p->decided ? "" : "  <- the one the daemon would use");
	else
		fprintf(p->out, "\ncandidate %d: %s (%s %s, %s)%s\n", p->candidates, p->peer,
		    dns_source_name(cand->source), cand->target, dns_tls_mode_name(cand->tls),
		    p->decided ? "" : "  <- the one the daemon would use");
	p->tcp = tcp;
	tcp->data = p;
	p->direct_tls = cand->tls == DNS_TLS_DIRECT;
	p->tls_open = p->pkix_ok = p->offers_tls = p->tls_required = 0;
	p->offers_external = p->offers_dialback = p->peer_has_db = 0;
	p->sasl_result = 0;
	p->xs = xmlstream_new(NULL, XMLSTREAM_NS_SERVER);
	if (p->xs == NULL || uv_read_start((uv_stream_t *)tcp, probe_on_alloc, probe_on_read) != 0) {
		probe_candidate_end(p, "out of memory");
		return;
	}
	uv_timer_start(&p->timer, probe_on_timeout, (uint64_t)p->cfg->limits.connect_timeout_ms, 0);
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
	uv_timer_init(&loop, &p.timer);
	p.timer.data = &p;
	if (dns_resolver_new(&loop, &cfg->dns, &dns, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s: dns: %s\n", cfg->source, err);
		uv_close((uv_handle_t *)&p.timer, NULL);
		goto done;
	}
	if (p.policy->connect[0] != '\0') {
		struct sockaddr_storage ss;

		if (netaddr_parse(p.policy->connect, &ss, err, sizeof(err)) < 0 ||
		    dns_connect_start_static(dns, domain, (struct sockaddr *)&ss,
		    p.policy->connect_direct_tls ? DNS_TLS_DIRECT : DNS_TLS_STARTTLS, probe_on_connect,
		    &p, &p.dc) != DNS_OK) {
			fprintf(stderr, "connect %s: cannot start\n", p.policy->connect);
			uv_close((uv_handle_t *)&p.timer, NULL);
			goto done;
		}
		fprintf(out, "where: the partner's connect target %s (no DNS)\n", p.policy->connect);
	} else {
		struct dns_avoid avoid;
		enum dns_error de;

		/* The daemon's address policy, so the verdict is the daemon's. */
		s2s_out_avoid_own(cfg, &avoid);
		de = dns_connect_start_avoiding(dns, domain, &avoid, probe_on_connect, &p, &p.dc);

		if (de != DNS_OK) {
			fprintf(out, "verdict: federation with %s would NOT work: %s\n", domain,
			    dns_error_str(de));
			uv_close((uv_handle_t *)&p.timer, NULL);
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
	if (p.dc != NULL)
		dns_connect_free(p.dc);
	if (dns != NULL)
		dns_resolver_free(dns);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	tls_certstore_unref(p.store);
	return rc;
}
