/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c - Prometheus metrics: what is counted, how it is exposed.
 *
 * Counting.  The daemon's counters (struct edge_stats) are kept by the
 * modules that route and accept; the rest comes from log events through
 * the log observer (log.h): "s2s_in.auth" and "s2s_out.auth" by their
 * method and result fields, the "*.tls" handshakes, "dialback.verify"
 * results.  Events are what operators already grep and alert on, so a
 * metric and its log line cannot disagree.  DNS counts are the
 * resolver's own (dns_resolver_stats), gauges are computed at scrape
 * time from the live streams and the certificate store in service.
 *
 * Exposition.  The text format, version 0.0.4: "# HELP" and "# TYPE"
 * for every family, counters named *_total, label values escaped.
 *
 * Serving.  A minimal HTTP/1.1 server on the loop, loopback only
 * (config.c refuses anything else: there is no authentication): one
 * request per connection, read into a fixed METRICS_HTTP_REQUEST_MAX
 * buffer and judged by metrics_http_parse(); the answer is written and
 * the connection closed.  At most METRICS_CLIENTS_MAX connections at a
 * time (more are closed at once) and each has METRICS_CLIENT_TIMEOUT_MS
 * to send its request: a scraper needs neither more nor longer.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blocklist.h"
#include "dns.h"
#include "handover.h"
#include "log.h"
#include "metrics_http.h"
#include "netaddr.h"
#include "ratelimit.h"
#include "router.h"
#include "s2s_in.h"
#include "s2s_out.h"
#include "stream_info.h"
#include "strangers.h"
#include "version.h"

#define METRICS_CLIENTS_MAX 16
#define METRICS_CLIENT_TIMEOUT_MS 5000
#define METRICS_BODY_MAX (4u * 1024u * 1024u)	/* bound of one exposition */

/* --- counting from log events ------------------------------------------ */

static void
metrics_count_auth(struct edge *edge, const char *direction, va_list ap)
{
	struct edge_event_counts *ev = &edge->events;
	const char *k, *v, *method = NULL, *result = NULL;
	struct edge_auth_count *c;
	size_t i;

	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		if (strcmp(k, "method") == 0)
			method = v;
		else if (strcmp(k, "result") == 0)
			result = v;
	}
	if (method == NULL || result == NULL || strlen(method) >= EDGE_AUTH_WORD_MAX ||
	    strlen(result) >= EDGE_AUTH_WORD_MAX)
		return;
	for (i = 0; i < ev->nauth; i++) {
		c = &ev->auth[i];
		if (strcmp(c->direction, direction) == 0 && strcmp(c->method, method) == 0 &&
		    strcmp(c->result, result) == 0) {
			c->n++;
			return;
		}
	}
	if (ev->nauth == EDGE_AUTH_COUNTS_MAX) {
		ev->auth_dropped++;
		return;
	}
	c = &ev->auth[ev->nauth++];
	snprintf(c->direction, sizeof(c->direction), "%s", direction);
	snprintf(c->method, sizeof(c->method), "%s", method);
	snprintf(c->result, sizeof(c->result), "%s", result);
	c->n = 1;
}

static const char *
metrics_field(va_list ap, const char *want)
{
	const char *k, *v;

	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		if (strcmp(k, want) == 0)
			return v;
	}
	return NULL;
}

static void
metrics_observe(void *arg, enum log_level level, const char *event, va_list ap)
{
	struct edge *edge = arg;
	struct edge_event_counts *ev = &edge->events;
	const char *r;

	(void)level;
	/* Cheap first test: every event counted starts with 's' or 'd'. */
	if (event[0] != 's' && event[0] != 'd')
		return;
	if (strcmp(event, "s2s_in.auth") == 0)
		metrics_count_auth(edge, "in", ap);
	else if (strcmp(event, "s2s_out.auth") == 0)
		metrics_count_auth(edge, "out", ap);
	else if (strcmp(event, "s2s_in.tls") == 0) {
		ev->tls_handshakes_in++;
		ev->tls_resumed_in += metrics_field(ap, "resumed") != NULL;
	} else if (strcmp(event, "s2s_out.tls") == 0) {
		ev->tls_handshakes_out++;
		ev->tls_resumed_out += metrics_field(ap, "resumed") != NULL;
	} else if (strcmp(event, "dialback.verify_tls") == 0) {
		ev->tls_handshakes_verify++;
		ev->tls_resumed_verify += metrics_field(ap, "resumed") != NULL;
	}
	else if (strcmp(event, "s2s_in.tls_failed") == 0)
		ev->tls_failures_in++;
	else if (strcmp(event, "s2s_out.tls_failed") == 0)
		ev->tls_failures_out++;
	else if (strcmp(event, "dialback.verify_start") == 0)
		ev->dialback_verify_started++;
	else if (strcmp(event, "dialback.verify") == 0) {
		r = metrics_field(ap, "result");
		if (r != NULL && strcmp(r, "valid") == 0)
			ev->dialback_verify_valid++;
		else if (r != NULL && strcmp(r, "invalid") == 0)
			ev->dialback_verify_invalid++;
		else
			ev->dialback_verify_error++;
	}
}

void
metrics_observe_install(struct edge *edge)
{
	log_set_observer(metrics_observe, edge);
}

void
metrics_observe_remove(void)
{
	log_set_observer(NULL, NULL);
}

/* --- the exposition ------------------------------------------------------ */

struct mbuf {
	char *p;
	size_t len, cap;
	int failed;		/* out of memory or past METRICS_BODY_MAX */
};

static void mbuf_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		if (b->cap >= METRICS_BODY_MAX) {
			b->failed = 1;
			return;
		}
		{
			size_t ncap = b->cap * 2;
			char *np = realloc(b->p, ncap);

			if (np == NULL) {
				b->failed = 1;
				return;
			}
			b->p = np;
			b->cap = ncap;
		}
	}
}

static void
family(struct mbuf *b, const char *name, const char *type, const char *help)
{
	mbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value as the format wants it: \\, \" and \n escaped. */
static const char *
label_escape(const char *v, char *out, size_t cap)
{
	size_t o = 0;

	for (; *v != '\0' && o + 3 < cap; v++) {
		if (*v == '\\' || *v == '"') {
			out[o++] = '\\';
			out[o++] = *v;
		} else if (*v == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else {
			out[o++] = *v;
		}
	}
	out[o] = '\0';
	return out;
}

static void
counter(struct mbuf *b, const char *name, const char *help, uint64_t v)
{
	family(b, name, "counter", help);
	mbuf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

static void
gauge(struct mbuf *b, const char *name, const char *help, long long v)
{
	family(b, name, "gauge", help);
	mbuf_printf(b, "%s %lld\n", name, v);
}

static void
metrics_render_streams(struct edge *edge, struct mbuf *b)
{
	static const char *const dirs[] = { "in", "out" }, *const kinds[] = { "remote", "gateway" };
	size_t live[2][2] = { { 0 } }, estab[2][2] = { { 0 } }, bidi[2] = { 0 }, qbytes = 0, qstanzas = 0;
	const struct s2s_in *s;
	const struct s2s_out *o;
	struct stream_info si;
	int d, k;

	for (s = edge->streams; s != NULL; s = s2s_in_next(s)) {
		s2s_in_info(s, &si);
		if (strcmp(si.state, "closed") == 0)
			continue;
		k = strcmp(si.kind, "gateway") == 0;
		live[0][k]++;
		estab[0][k] += si.established != 0;
		bidi[0] += si.bidi != 0;
	}
	for (o = edge->out_streams; o != NULL; o = s2s_out_next(o)) {
		s2s_out_info(o, &si);
		if (strcmp(si.state, "closed") == 0)
			continue;
		k = strcmp(si.kind, "gateway") == 0;
		live[1][k]++;
		estab[1][k] += si.established != 0;
		bidi[1] += si.bidi != 0;
		qbytes += si.queue_bytes;
		qstanzas += si.queue_stanzas;
	}
	family(b, "xmpp_edge_streams", "gauge",
	    "Live streams by direction (in: accepted, out: opened) and kind (remote server or internal gateway).");
	for (d = 0; d < 2; d++)
		for (k = 0; k < 2; k++)
			mbuf_printf(b, "xmpp_edge_streams{direction=\"%s\",kind=\"%s\"} %zu\n",
			    dirs[d], kinds[k], live[d][k]);
	family(b, "xmpp_edge_streams_established", "gauge",
	    "Live streams that are authenticated and carry stanzas.");
	for (d = 0; d < 2; d++)
		for (k = 0; k < 2; k++)
			mbuf_printf(b, "xmpp_edge_streams_established{direction=\"%s\",kind=\"%s\"} %zu\n",
			    dirs[d], kinds[k], estab[d][k]);
	family(b, "xmpp_edge_streams_bidi", "gauge",
	    "Live streams on which XEP-0288 was negotiated (in: the partner's, carrying our stanzas back; out: ours, carrying the partner's).");
	for (d = 0; d < 2; d++)
		mbuf_printf(b, "xmpp_edge_streams_bidi{direction=\"%s\"} %zu\n", dirs[d], bidi[d]);
	gauge(b, "xmpp_edge_route_queue_bytes",
	    "Bytes of stanzas waiting in outgoing streams' queues.", (long long)qbytes);
	gauge(b, "xmpp_edge_route_queue_stanzas",
	    "Stanzas waiting in outgoing streams' queues.", (long long)qstanzas);
}

/* The stanza outcomes by the way the stanza was going (edge.h, enum
 * edge_toward): what an operator compares with each side's own counts. */
static void
metrics_render_toward(struct edge *edge, struct mbuf *b)
{
	static const char *const ways[EDGE_TOWARD_COUNT] = { "gateway", "remote" };
	const struct edge_toward_stats *t;
	size_t w;

	family(b, "xmpp_edge_stanzas_toward_total", "counter",
	    "Stanzas by where they were going (gateway: a remote server's stanzas for hosted domains; remote: the gateway's) and outcome: delivered (written to an outgoing stream), acked (the next hop acknowledged them, XEP-0198), unconfirmed (handed to TCP toward a peer without XEP-0198), bounced.");
	for (w = 0; w < EDGE_TOWARD_COUNT; w++) {
		t = &edge->stats.toward[w];
		mbuf_printf(b, "xmpp_edge_stanzas_toward_total{toward=\"%s\",outcome=\"delivered\"} %llu\n",
		    ways[w], (unsigned long long)t->delivered);
		mbuf_printf(b, "xmpp_edge_stanzas_toward_total{toward=\"%s\",outcome=\"acked\"} %llu\n",
		    ways[w], (unsigned long long)t->acked);
		mbuf_printf(b, "xmpp_edge_stanzas_toward_total{toward=\"%s\",outcome=\"unconfirmed\"} %llu\n",
		    ways[w], (unsigned long long)t->unconfirmed);
		mbuf_printf(b, "xmpp_edge_stanzas_toward_total{toward=\"%s\",outcome=\"bounced\"} %llu\n",
		    ways[w], (unsigned long long)t->bounced);
	}
}

/* Rate limits (ratelimit.h): totals, and per remote domain the ones
 * ranked first by stanzas, bytes, time paused or refusals (at most
 * 4 x RATELIMIT_TOP_N label values: the series stay bounded). */
static void
metrics_render_ratelimit(struct edge *edge, struct mbuf *b)
{
	static const struct {
		const char *name, *help;
	} per_domain[] = {
		{ "xmpp_edge_ratelimit_domain_stanzas_total", "Stanzas from the remote domain (top domains only)." },
		{ "xmpp_edge_ratelimit_domain_bytes_total", "Stanza bytes from the remote domain (top domains only)." },
		{ "xmpp_edge_ratelimit_domain_paused_seconds_total",
		  "Time the remote domain's streams spent paused by rate limits (top domains only)." },
		{ "xmpp_edge_ratelimit_domain_refusals_total",
		  "Streams of the remote domain ended with policy-violation for sustained abuse (top domains only)." },
	};
	const struct ratelimit_domain *top[4 * RATELIMIT_TOP_N];
	const struct ratelimit *rl = edge->ratelimit;
	char esc[CONFIG_DOMAIN_MAX * 2];
	size_t i, k, n;

	if (rl == NULL)
		return;
	gauge(b, "xmpp_edge_ratelimit_paused_streams", "Streams whose reading is paused by a rate limit now.",
	    (long long)ratelimit_paused_count(rl));
	counter(b, "xmpp_edge_ratelimit_pauses_total", "Times a stream stopped reading because of a rate limit.",
	    rl->stats.pauses);
	counter(b, "xmpp_edge_ratelimit_violations_total",
	    "Streams ended with policy-violation after limits.rate_abuse_s over their rate limits.",
	    rl->stats.violations);
	counter(b, "xmpp_edge_ratelimit_streams_refused_total",
	    "Connections refused by limits.new_streams_per_minute_per_prefix.", rl->stats.streams_refused);
	n = ratelimit_top_domains(rl, top, sizeof(top) / sizeof(top[0]));
	for (k = 0; k < sizeof(per_domain) / sizeof(per_domain[0]); k++) {
		family(b, per_domain[k].name, "counter", per_domain[k].help);
		for (i = 0; i < n; i++) {
			label_escape(top[i]->name, esc, sizeof(esc));
			if (k == 2)
				mbuf_printf(b, "%s{domain=\"%s\"} %.3f\n", per_domain[k].name, esc,
				    (double)top[i]->paused_ms / 1000.0);
			else
				mbuf_printf(b, "%s{domain=\"%s\"} %llu\n", per_domain[k].name, esc,
				    (unsigned long long)(k == 0 ? top[i]->stanzas_in : k == 1 ? top[i]->bytes_in :
				    top[i]->refusals));
		}
	}
}

/* blocklist.h: its size, all refusals, and the busiest entries by name. */
static void
metrics_render_blocklist(struct edge *edge, struct mbuf *b)
{
	struct blocklist_top top[BLOCKLIST_TOP];
	size_t i, n = blocklist_top(edge->blocklist, top, BLOCKLIST_TOP);
	char esc[600];

	gauge(b, "xmpp_edge_blocklist_entries", "Entries of the domain blocklist (blocklist.file).",
	    (long long)blocklist_count(edge->blocklist));
	counter(b, "xmpp_edge_blocklist_refusals_total",
	    "Streams, dialback requests and stanzas refused by the blocklist (since its entries were listed).",
	    blocklist_refusals_total(edge->blocklist));
	family(b, "xmpp_edge_blocklist_entry_refusals_total", "counter",
	    "Refusals of the busiest blocklist entries (at most 10).");
	for (i = 0; i < n; i++)
		mbuf_printf(b, "xmpp_edge_blocklist_entry_refusals_total{entry=\"%s\"} %llu\n",
		    label_escape(top[i].entry, esc, sizeof(esc)), (unsigned long long)top[i].refusals);
}

/* strangers.h: the contact set and what it refused. */
static void
metrics_render_strangers(struct edge *edge, struct mbuf *b)
{
	struct strangers_top top[STRANGERS_TOP];
	uint64_t contacts, learned, refused;
	char esc[600];
	size_t i, n;

	strangers_counts(edge, &contacts, &learned, &refused);
	gauge(b, "xmpp_edge_strangers_contacts", "Remote contacts known (written to by an internal user).",
	    (long long)contacts);
	counter(b, "xmpp_edge_strangers_learned_total", "Remote contacts learned from outgoing stanzas.",
	    learned);
	counter(b, "xmpp_edge_strangers_refused_total",
	    "Messages and subscription requests from strangers bounced (policy strangers: refuse).", refused);
	n = strangers_top_domains(edge, top, STRANGERS_TOP);
	family(b, "xmpp_edge_strangers_refused_by_domain_total", "counter",
	    "The same for the remote domains refused most (at most 10).");
	for (i = 0; i < n; i++)
		mbuf_printf(b, "xmpp_edge_strangers_refused_by_domain_total{domain=\"%s\"} %llu\n",
		    label_escape(top[i].domain, esc, sizeof(esc)), (unsigned long long)top[i].refused);
}

static void
metrics_render_certs(struct edge *edge, struct mbuf *b)
{
	time_t now = time(NULL), not_after;
	char esc[CONFIG_DOMAIN_MAX * 2];
	size_t i;

	family(b, "xmpp_edge_certificate_expiry_timestamp_seconds", "gauge",
	    "notAfter of the certificate in service for each hosted domain (Unix time).");
	for (i = 0; i < edge->cfg->domain_count; i++)
		if (tls_certstore_not_after(edge->certs, edge->cfg->domains[i].name, &not_after) == 0)
			mbuf_printf(b, "xmpp_edge_certificate_expiry_timestamp_seconds{domain=\"%s\"} %lld\n",
			    label_escape(edge->cfg->domains[i].name, esc, sizeof(esc)), (long long)not_after);
	family(b, "xmpp_edge_certificate_days_left", "gauge",
	    "Whole days until the certificate in service for each hosted domain expires (negative once expired).");
	for (i = 0; i < edge->cfg->domain_count; i++) {
		long long left;

		if (tls_certstore_not_after(edge->certs, edge->cfg->domains[i].name, &not_after) != 0)
			continue;
		left = (long long)(not_after - now);
		/* Rounded down, also below zero (an hour past is day -1). */
		left = left >= 0 ? left / 86400 : -((-left + 86399) / 86400);
		mbuf_printf(b, "xmpp_edge_certificate_days_left{domain=\"%s\"} %lld\n",
		    label_escape(edge->cfg->domains[i].name, esc, sizeof(esc)), left);
	}
}

char *
metrics_render(struct edge *edge, size_t *len)
{
	const struct edge_stats *st = &edge->stats;
	const struct edge_event_counts *ev = &edge->events;
	struct mbuf b = { 0 };
	struct dns_stats ds;
	size_t i;

	b.cap = 16 * 1024;
	b.p = malloc(b.cap);
	if (b.p == NULL)
		return NULL;
	b.p[0] = '\0';
	family(&b, "xmpp_edge_build_info", "gauge", "Always 1; the version in a label.");
	mbuf_printf(&b, "xmpp_edge_build_info{version=\"%s\"} 1\n", XMPP_EDGE_VERSION);
	gauge(&b, "xmpp_edge_start_time_seconds", "When the daemon started (Unix time).",
	    (long long)edge->started);
	gauge(&b, "xmpp_edge_draining", "1 after `xmpp-edge drain`: external listeners closed.",
	    edge->draining);
	gauge(&b, "xmpp_edge_stanzas_in_flight",
	    "Stanzas taken by the router and not written yet (what a shutdown waits for).",
	    (long long)router_in_flight(edge));
	gauge(&b, "xmpp_edge_shutting_down", "The shutdown step: 0 running, 1 drain, 2 bounce, 3 close.",
	    (long long)edge->shutdown_phase);
	counter(&b, "xmpp_edge_shutdown_bounced_total",
	    "Stanzas still queued when the shutdown's delivery time was over: bounced.",
	    st->shutdown_bounced);
	counter(&b, "xmpp_edge_shutdown_left_with_peer_total",
	    "Stanzas read while shutting down on a XEP-0198 stream and not taken: its peer keeps them.",
	    st->shutdown_left_with_peer);
	counter(&b, "xmpp_edge_shutdown_streams_aborted_total",
	    "Streams not closed by the end of limits.shutdown_timeout_ms: aborted.",
	    st->shutdown_streams_aborted);
	counter(&b, "xmpp_edge_upgrades_total", "`upgrade` / SIGUSR2: new processes started.",
	    st->upgrades_started);
	counter(&b, "xmpp_edge_upgrades_failed_total",
	    "Upgrades whose new process was not ready (this process went on).", st->upgrades_failed);
	gauge(&b, "xmpp_edge_gateway_link_up",
	    "1 if the last check of the internal gateway link succeeded.",
	    strcmp(edge->gateway_state, "ok") == 0);
	metrics_render_streams(edge, &b);
	counter(&b, "xmpp_edge_streams_accepted_total", "Inbound TCP connections accepted.",
	    st->streams_accepted);
	counter(&b, "xmpp_edge_streams_refused_total",
	    "Inbound connections refused at once (limits, shutting down).", st->streams_refused);
	counter(&b, "xmpp_edge_accept_failures_total",
	    "accept() failures on the listeners (EMFILE, ENFILE, ...); each pauses the listener 100 ms.",
	    st->accept_failures);
	counter(&b, "xmpp_edge_admission_waits_total",
	    "Times the external listeners left connections in the backlog: "
	    "limits.max_unauthenticated_streams were in their handshakes.", st->admission_waits);
	gauge(&b, "xmpp_edge_streams_unauthenticated",
	    "Streams from external listeners not authenticated yet (limits.max_unauthenticated_streams).",
	    (long long)edge->streams_unauthenticated);
	counter(&b, "xmpp_edge_streams_out_started_total", "Outgoing streams started.", st->streams_out);
	counter(&b, "xmpp_edge_streams_out_failed_total",
	    "Outgoing streams that failed before they were established.", st->streams_out_failed);
	counter(&b, "xmpp_edge_stream_errors_sent_total", "Stream errors sent to peers.",
	    st->stream_errors_sent);
	counter(&b, "xmpp_edge_elements_in_total",
	    "Top-level elements read on inbound streams (stanzas and negotiation).", st->stanzas_in);
	counter(&b, "xmpp_edge_stanzas_routed_total", "Stanzas queued toward a destination.",
	    st->stanzas_routed);
	counter(&b, "xmpp_edge_stanzas_delivered_total", "Stanzas written to an outgoing stream.",
	    st->stanzas_delivered);
	counter(&b, "xmpp_edge_stanzas_bounced_total",
	    "Error replies generated for stanzas that could not be delivered.", st->stanzas_bounced);
	counter(&b, "xmpp_edge_stanzas_acked_total",
	    "Stanzas the next hop acknowledged with XEP-0198 stream management.", st->stanzas_acked);
	counter(&b, "xmpp_edge_stanzas_unconfirmed_total",
	    "Stanzas handed to TCP toward a peer without XEP-0198: delivered as far as xmpp-edge can know.",
	    st->stanzas_unconfirmed);
	metrics_render_toward(edge, &b);
	counter(&b, "xmpp_edge_stanzas_settle_timeout_total",
	    "Stanzas bounced because their next hop did not take or acknowledge them within limits.sm_settle_timeout_ms.",
	    st->stanzas_settle_timeout);
	counter(&b, "xmpp_edge_stanzas_custody_kept_total",
	    "Stanzas neither delivered nor bounced (their bounce had no way back), left unacknowledged to a source with XEP-0198, whose stream was ended so that it bounces or resends them.",
	    st->stanzas_custody_kept);
	counter(&b, "xmpp_edge_sm_streams_total",
	    "Streams on which XEP-0198 stream management was enabled, inbound and outgoing.",
	    st->sm_streams_in + st->sm_streams_out);
	gauge(&b, "xmpp_edge_stanzas_in_flight",
	    "Stanzas xmpp-edge holds for their next hop: queued, or written and not acknowledged (XEP-0198).",
	    (long long)router_in_flight(edge));
	counter(&b, "xmpp_edge_errors_not_bounced_total",
	    "Undeliverable error stanzas, logged and dropped (RFC 6120 8.3.1).", st->stanzas_unbounceable);
	counter(&b, "xmpp_edge_stanzas_wrong_direction_total",
	    "Stanzas a remote server sent on a stream xmpp-edge opened: refused with a stream error (RFC 6120 2.4).",
	    st->stanzas_wrong_direction);
	counter(&b, "xmpp_edge_bidi_stanzas_in_total",
	    "Stanzas a remote server sent on a stream xmpp-edge opened with XEP-0288, from a pair authenticated in that direction: routed.",
	    st->bidi_stanzas_in);
	counter(&b, "xmpp_edge_bidi_stanzas_out_total",
	    "Stanzas xmpp-edge wrote back on a remote server's XEP-0288 stream.", st->bidi_stanzas_out);
	counter(&b, "xmpp_edge_bidi_refused_total",
	    "Stanzas on a XEP-0288 stream xmpp-edge opened that no pair authenticated in that direction allows: refused with a stream error.",
	    st->bidi_refused);
	counter(&b, "xmpp_edge_reads_paused_total",
	    "Times a source stream stopped reading because its destination was full.", st->reads_paused);
	counter(&b, "xmpp_edge_dialback_verify_answered_total",
	    "db:verify requests answered for our own keys.", st->dialback_verify_answered);
	family(&b, "xmpp_edge_tls_handshakes_total", "counter",
	    "TLS handshakes completed: in (accepted streams), out (opened streams), dialback_verify.");
	mbuf_printf(&b, "xmpp_edge_tls_handshakes_total{direction=\"in\"} %llu\n"
	    "xmpp_edge_tls_handshakes_total{direction=\"out\"} %llu\n"
	    "xmpp_edge_tls_handshakes_total{direction=\"dialback_verify\"} %llu\n",
	    (unsigned long long)ev->tls_handshakes_in, (unsigned long long)ev->tls_handshakes_out,
	    (unsigned long long)ev->tls_handshakes_verify);
	family(&b, "xmpp_edge_tls_resumed_total", "counter",
	    "Of the TLS handshakes completed, those that resumed a session from a ticket (TLS 1.3): "
	    "in (a partner's ticket), out and dialback_verify (a partner's ticket kept by the edge, "
	    "also across a restart: tls.keep_outgoing_sessions).");
	mbuf_printf(&b, "xmpp_edge_tls_resumed_total{direction=\"in\"} %llu\n"
	    "xmpp_edge_tls_resumed_total{direction=\"out\"} %llu\n"
	    "xmpp_edge_tls_resumed_total{direction=\"dialback_verify\"} %llu\n",
	    (unsigned long long)ev->tls_resumed_in, (unsigned long long)ev->tls_resumed_out,
	    (unsigned long long)ev->tls_resumed_verify);
	family(&b, "xmpp_edge_tls_failures_total", "counter",
	    "TLS sessions that failed (events s2s_in.tls_failed, s2s_out.tls_failed).");
	mbuf_printf(&b, "xmpp_edge_tls_failures_total{direction=\"in\"} %llu\n"
	    "xmpp_edge_tls_failures_total{direction=\"out\"} %llu\n",
	    (unsigned long long)ev->tls_failures_in, (unsigned long long)ev->tls_failures_out);
	family(&b, "xmpp_edge_auth_total", "counter",
	    "Authentication results of remote servers (in) and of us (out), as the events "
	    "s2s_in.auth and s2s_out.auth log them.");
	for (i = 0; i < ev->nauth; i++)
		mbuf_printf(&b, "xmpp_edge_auth_total{direction=\"%s\",method=\"%s\",result=\"%s\"} %llu\n",
		    ev->auth[i].direction, ev->auth[i].method, ev->auth[i].result,
		    (unsigned long long)ev->auth[i].n);
	family(&b, "xmpp_edge_dialback_verify_total", "counter",
	    "Dialback keys checked with the authoritative server, by result.");
	mbuf_printf(&b, "xmpp_edge_dialback_verify_total{result=\"valid\"} %llu\n"
	    "xmpp_edge_dialback_verify_total{result=\"invalid\"} %llu\n"
	    "xmpp_edge_dialback_verify_total{result=\"error\"} %llu\n",
	    (unsigned long long)ev->dialback_verify_valid,
	    (unsigned long long)ev->dialback_verify_invalid,
	    (unsigned long long)ev->dialback_verify_error);
	memset(&ds, 0, sizeof(ds));
	if (edge->dns != NULL)
		dns_resolver_stats(edge->dns, &ds);
	counter(&b, "xmpp_edge_dns_lookups_total",
	    "Remote domains looked up (SRV discovery, then addresses).", ds.lookups);
	counter(&b, "xmpp_edge_dns_lookup_failures_total",
	    "Lookups that ended without a candidate to connect to.", ds.lookup_failures);
	family(&b, "xmpp_edge_dns_queries_total", "counter",
	    "SRV, A and AAAA queries, answered by a DNS server (network) or the cache.");
	mbuf_printf(&b, "xmpp_edge_dns_queries_total{source=\"network\"} %llu\n"
	    "xmpp_edge_dns_queries_total{source=\"cache\"} %llu\n",
	    (unsigned long long)ds.queries_sent, (unsigned long long)ds.queries_cached);
	counter(&b, "xmpp_edge_dns_query_failures_total",
	    "Queries that failed (timeout, SERVFAIL, refused, ...; not NXDOMAIN or no data).",
	    ds.query_failures);
	metrics_render_ratelimit(edge, &b);
	metrics_render_certs(edge, &b);
	metrics_render_blocklist(edge, &b);
	metrics_render_strangers(edge, &b);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

/* --- the HTTP endpoint ---------------------------------------------------- */

struct metrics_client {
	struct metrics_server *srv;
	uv_tcp_t tcp;
	uv_timer_t timer;
	int handles_open;
	int answered;
	struct metrics_client *next, *prev;
	uv_write_t wreq;
	char *out;			/* the response being written */
	size_t len;
	char req[METRICS_HTTP_REQUEST_MAX];
};

struct metrics_server {
	struct edge *edge;
	uv_tcp_t tcp;
	struct metrics_client *clients;
	size_t nclients;
	char addr[CONFIG_ADDR_MAX];
};

static void
metrics_client_on_closed(uv_handle_t *h)
{
	struct metrics_client *c = h->data;

	if (--c->handles_open > 0)
		return;
	free(c->out);
	free(c);
}

static void
metrics_client_close(struct metrics_client *c)
{
	struct metrics_server *srv = c->srv;

	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	srv->nclients--;
	uv_close((uv_handle_t *)&c->tcp, metrics_client_on_closed);
	uv_close((uv_handle_t *)&c->timer, metrics_client_on_closed);
}

static void
metrics_client_on_written(uv_write_t *req, int status)
{
	struct metrics_client *c = req->data;

	(void)status;
	metrics_client_close(c);	/* one request per connection */
}

static void
metrics_client_answer(struct metrics_client *c, enum metrics_http_verdict v)
{
	char head[512];
	char *body = NULL;
	size_t blen = 0, hlen;
	uv_buf_t wbuf;
	static const char *const bodies[] = {
		[METRICS_HTTP_NOT_FOUND] = "not found: the metrics are at /metrics\n",
		[METRICS_HTTP_BAD_METHOD] = "method not allowed: GET /metrics\n",
		[METRICS_HTTP_BAD_REQUEST] = "bad request\n",
		[METRICS_HTTP_TOO_LARGE] = "request too large\n",
	};

	c->answered = 1;
	uv_read_stop((uv_stream_t *)&c->tcp);
	if (v == METRICS_HTTP_GET_METRICS || v == METRICS_HTTP_HEAD_METRICS) {
		body = metrics_render(c->srv->edge, &blen);
		if (body == NULL) {
			metrics_client_close(c);
			return;
		}
	} else {
		blen = strlen(bodies[v]);
	}
	hlen = metrics_http_head(v, blen, head, sizeof(head));
	if (v == METRICS_HTTP_HEAD_METRICS)
		blen = 0;
	c->out = malloc(hlen + blen);
	if (c->out == NULL || hlen == 0) {
		free(body);
		metrics_client_close(c);
		return;
	}
	memcpy(c->out, head, hlen);
	if (blen > 0)
		memcpy(c->out + hlen, body != NULL ? body : bodies[v], blen);
	free(body);
	c->len = hlen + blen;
	wbuf = uv_buf_init(c->out, (unsigned)c->len);
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &wbuf, 1, metrics_client_on_written) != 0)
		metrics_client_close(c);
}

static void
metrics_client_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct metrics_client *c = h->data;

	(void)suggested;
	*buf = uv_buf_init(c->req + c->len, (unsigned)(sizeof(c->req) - c->len));
}

static void
metrics_client_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct metrics_client *c = stream->data;
	enum metrics_http_verdict v;

	(void)buf;
	if (nread < 0) {
		metrics_client_close(c);
		return;
	}
	c->len += (size_t)nread;
	v = metrics_http_parse(c->req, c->len);
	if (v != METRICS_HTTP_INCOMPLETE)
		metrics_client_answer(c, v);
}

static void
metrics_client_on_timeout(uv_timer_t *t)
{
	struct metrics_client *c = t->data;

	if (!c->answered)
		metrics_client_close(c);
}

static void
metrics_on_connection(uv_stream_t *server, int status)
{
	struct metrics_server *srv = server->data;
	struct metrics_client *c;

	if (status < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->srv = srv;
	uv_tcp_init(srv->edge->loop, &c->tcp);
	/* Applied by uv_accept.  On a kept-alive connection an answer
	 * written while the previous one is unacknowledged would otherwise
	 * wait for the scraper's delayed ACK (40 ms). */
	uv_tcp_nodelay(&c->tcp, 1);
	uv_timer_init(srv->edge->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->handles_open = 2;
	c->next = srv->clients;
	if (c->next != NULL)
		c->next->prev = c;
	srv->clients = c;
	srv->nclients++;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
		metrics_client_close(c);
		return;
	}
	if (srv->nclients > METRICS_CLIENTS_MAX) {
		log_event(LOG_WARN, "metrics.refused", "reason", "too many connections", NULL);
		metrics_client_close(c);
		return;
	}
	if (uv_read_start((uv_stream_t *)&c->tcp, metrics_client_on_alloc, metrics_client_on_read) != 0) {
		metrics_client_close(c);
		return;
	}
	uv_timer_start(&c->timer, metrics_client_on_timeout, METRICS_CLIENT_TIMEOUT_MS, 0);
}

static void
metrics_server_on_closed(uv_handle_t *h)
{
	free(h->data);
}

int
metrics_open(struct edge *edge, char *err, size_t errlen)
{
	const char *addr = edge->cfg->metrics.listen;
	struct sockaddr_storage ss;
	struct metrics_server *srv;
	char why[128];
	int r, fd;

	if (addr[0] == '\0')
		return 0;
	if (netaddr_parse(addr, &ss, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "metrics.listen: '%s': %s", addr, why);
		return -1;
	}
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	srv->edge = edge;
	snprintf(srv->addr, sizeof(srv->addr), "%s", addr);
	uv_tcp_init(edge->loop, &srv->tcp);
	srv->tcp.data = srv;
	/* An upgrade's new process serves on the old one's socket. */
	fd = handover_take_tcp("metrics", addr, &ss);
	r = fd >= 0 ? uv_tcp_open(&srv->tcp, fd) : uv_tcp_bind(&srv->tcp, (struct sockaddr *)&ss, 0);
	if (r != 0 && fd >= 0)
		close(fd);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&srv->tcp, 16, metrics_on_connection);
	if (r != 0) {
		snprintf(err, errlen, "metrics.listen: cannot listen on %s: %s", addr, uv_strerror(r));
		uv_close((uv_handle_t *)&srv->tcp, metrics_server_on_closed);
		return -1;
	}
	edge->metrics = srv;
	log_event(LOG_INFO, "metrics.start", "addr", addr, NULL);
	return 0;
}

int
metrics_listen_fd(const struct edge *edge)
{
	uv_os_fd_t fd;

	if (edge->metrics == NULL || uv_fileno((const uv_handle_t *)&edge->metrics->tcp, &fd) != 0)
		return -1;
	return fd;
}

void
metrics_close(struct edge *edge)
{
	struct metrics_server *srv = edge->metrics;

	if (srv == NULL)
		return;
	edge->metrics = NULL;
	while (srv->clients != NULL)
		metrics_client_close(srv->clients);
	uv_close((uv_handle_t *)&srv->tcp, metrics_server_on_closed);
}
