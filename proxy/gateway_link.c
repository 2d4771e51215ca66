/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway_link.c - the outbound direction of the internal link (see the
 * header): our certificate is presented, the gateway's key must match a
 * pin (tls/ checks it in the handshake), then a stream header must be
 * answered.
 */
#include "gateway_link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "netaddr.h"
#include "s2s_conn.h"

struct gateway_link {
	uv_loop_t *loop;
	uv_tcp_t *tcp;			/* until connected: then the connection's */
	struct s2s_conn *conn;		/* TLS + tokenizer, once connected */
	uv_connect_t connect;
	uv_timer_t timer;
	int handles_open;		/* timer + (tcp or conn) */
	int done;			/* cb called (or cancelled) */
	const struct config *cfg;
	struct tls_certstore *store;
	gateway_link_cb cb;
	void *arg;
	struct gateway_link_result result;
	uint8_t rbuf[16 * 1024];	/* TLS reads: one check at a time */
};

static void
gateway_link_handle_closed(struct gateway_link *g)
{
	if (--g->handles_open == 0)
		free(g);
}

static void
gateway_link_on_closed_timer(uv_handle_t *h)
{
	gateway_link_handle_closed(h->data);
}

static void
gateway_link_on_closed_tcp(uv_handle_t *h)
{
	struct gateway_link *g = h->data;

	free(h);
	gateway_link_handle_closed(g);
}

static void
gateway_link_finish(struct gateway_link *g, int ok, const char *stage, const char *detail)
{
	if (g->done)
		return;
	g->done = 1;
	g->result.ok = ok;
	snprintf(g->result.stage, sizeof(g->result.stage), "%s", stage);
	snprintf(g->result.detail, sizeof(g->result.detail), "%s", detail);
	uv_timer_stop(&g->timer);
	if (g->cb != NULL)
		g->cb(&g->result, g->arg);
	/* A success says goodbye (close_notify); a failure just closes. */
	if (g->conn != NULL && ok)
		s2s_conn_close(g->conn, "check done");
	else if (g->conn != NULL)
		s2s_conn_abort(g->conn, detail);
	if (g->tcp != NULL) {
		uv_close((uv_handle_t *)g->tcp, gateway_link_on_closed_tcp);
		g->tcp = NULL;
	}
	uv_close((uv_handle_t *)&g->timer, gateway_link_on_closed_timer);
}

static void
gateway_link_on_tls(void *ud, const struct tls_verify_result *r)
{
	struct gateway_link *g = ud;
	char hdr[512];
	int n;

	if (r->status != TLS_VERIFY_OK) {
		gateway_link_finish(g, 0, "tls", r->detail);
		return;
	}
	snprintf(g->result.detail, sizeof(g->result.detail), "%s, %s",
	    tls_conn_version(s2s_conn_tls(g->conn)), r->detail);
	/* We speak for the remote side toward the gateway; the default
	 * domain names whom the stream is for. */
	n = snprintf(hdr, sizeof(hdr), "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
	    "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>",
	    g->cfg->default_domain);
	if (n > 0 && (size_t)n < sizeof(hdr))
		(void)s2s_conn_send(g->conn, hdr, (size_t)n);	/* a failure closes */
}

/* The tokenizer saw the gateway's stream header: the link works. */
static void
gateway_link_on_header(void *ud, const struct xmlstream_event *ev)
{
	struct gateway_link *g = ud;
	char detail[sizeof(g->result.detail) + 32];

	(void)ev;
	snprintf(detail, sizeof(detail), "%s; stream header answered", g->result.detail);
	gateway_link_finish(g, 1, "done", detail);
}

static void
gateway_link_on_parse_error(void *ud, const struct xmlstream_event *ev)
{
	gateway_link_finish(ud, 0, "stream", ev->text != NULL ? ev->text : "unusable XML from the gateway");
}

static void
gateway_link_on_closing(void *ud, const char *reason, int peer_gone)
{
	struct gateway_link *g = ud;

	(void)peer_gone;
	if (strcmp(reason, "peer sent TLS close_notify") == 0)
		gateway_link_finish(g, 0, "stream", "the gateway closed the stream");
	else if (strcmp(reason, "peer closed the connection") == 0)
		gateway_link_finish(g, 0, "tls", "connection closed by peer");
	else
		gateway_link_finish(g, 0, "tls", strncmp(reason, "TLS failed: ", 12) == 0 ? reason + 12 : reason);
}

static void
gateway_link_on_conn_closed(void *ud)
{
	struct gateway_link *g = ud;

	g->conn = NULL;
	gateway_link_handle_closed(g);
}

static const struct s2s_conn_callbacks gateway_link_conn_callbacks = {
	.on_header = gateway_link_on_header,
	.on_parse_error = gateway_link_on_parse_error,
	.on_tls = gateway_link_on_tls,
	.on_closing = gateway_link_on_closing,
	.on_closed = gateway_link_on_conn_closed,
};

static void
gateway_link_on_connect(uv_connect_t *req, int status)
{
	struct gateway_link *g = req->data;
	struct tls_conn_params params = {
		.role = TLS_ROLE_INTERNAL_CLIENT,
		.peer_domain = g->cfg->gateway.server_name,
	};
	struct s2s_conn_params cp;
	struct s2s_pipe *pipe;
	char err[256];

	if (g->done)
		return;
	if (status < 0) {
		gateway_link_finish(g, 0, "connect", uv_strerror(status));
		return;
	}
	pipe = s2s_pipe_tcp_from_handle(g->loop, g->tcp);
	if (pipe == NULL) {
		gateway_link_finish(g, 0, "connect", "out of memory");
		return;
	}
	g->tcp = NULL;		/* the pipe's now, freed by it */
	s2s_conn_params_init(&cp, g->loop, g->store, g->rbuf, sizeof(g->rbuf), 65536,
	    g->cfg->gateway.address);
	g->conn = s2s_conn_new(&cp, pipe, &gateway_link_conn_callbacks, g);
	if (g->conn == NULL) {
		g->handles_open--;	/* the pipe went with it */
		gateway_link_finish(g, 0, "connect", "out of memory");
		return;
	}
	if (s2s_conn_starttls(g->conn, &params, err, sizeof(err)) < 0) {
		gateway_link_finish(g, 0, "tls", err);
		return;
	}
	(void)s2s_conn_read_start(g->conn);	/* a failure reports through on_closing */
}

static void
gateway_link_on_timeout(uv_timer_t *t)
{
	gateway_link_finish(t->data, 0, "timeout", "no answer within 10 s");
}

struct gateway_link *
gateway_link_check(uv_loop_t *loop, const struct config *cfg, struct tls_certstore *store,
    gateway_link_cb cb, void *arg)
{
	struct sockaddr_storage ss;
	struct gateway_link *g;
	char why[128];
	int r;

	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NULL;
	g->tcp = malloc(sizeof(*g->tcp));
	if (g->tcp == NULL) {
		free(g);
		return NULL;
	}
	g->loop = loop;
	g->cfg = cfg;
	g->store = store;
	g->cb = cb;
	g->arg = arg;
	uv_tcp_init(loop, g->tcp);
	/* Handshake flights are small writes Nagle would hold back. */
	uv_tcp_nodelay(g->tcp, 1);
	g->tcp->data = g;
	uv_timer_init(loop, &g->timer);
	g->timer.data = g;
	g->connect.data = g;
	g->handles_open = 2;
	uv_timer_start(&g->timer, gateway_link_on_timeout, GATEWAY_LINK_TIMEOUT_MS, 0);
	if (netaddr_parse(cfg->gateway.address, &ss, why, sizeof(why)) < 0) {
		gateway_link_finish(g, 0, "connect", why);	/* reported from here */
		return g;
	}
	r = uv_tcp_connect(&g->connect, g->tcp, (struct sockaddr *)&ss, gateway_link_on_connect);
	if (r < 0)
		gateway_link_finish(g, 0, "connect", uv_strerror(r));
	return g;
}

void
gateway_link_cancel(struct gateway_link *g)
{
	if (g->done)
		return;
	g->cb = NULL;
	gateway_link_finish(g, 0, "cancelled", "cancelled");
}
