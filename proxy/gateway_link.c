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
#include "tls_uv.h"

#define GATEWAY_LINK_REPLY_MAX 4096

struct gateway_link {
	struct tls_uv tls;		/* first: its handle is the struct's */
	uv_connect_t connect;
	uv_timer_t timer;
	int handles_open;
	int done;			/* cb called (or cancelled) */
	const struct config *cfg;
	struct tls_certstore *store;
	gateway_link_cb cb;
	void *arg;
	struct gateway_link_result result;
	char reply[GATEWAY_LINK_REPLY_MAX];
	size_t reply_len;
};

static void
gateway_link_on_closed_timer(uv_handle_t *h)
{
	struct gateway_link *g = h->data;

	if (--g->handles_open == 0)
		free(g);
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
	if (ok)
		tls_uv_shutdown(&g->tls);
	tls_uv_close(&g->tls, NULL);
	uv_close((uv_handle_t *)&g->timer, gateway_link_on_closed_timer);
}

static void
gateway_link_on_tls_close(struct tls_uv *t, const char *reason)
{
	struct gateway_link *g = (struct gateway_link *)t;

	gateway_link_finish(g, 0, "tls", reason ? reason : "the gateway closed the connection");
	if (--g->handles_open == 0)
		free(g);
}

static void
gateway_link_on_handshake(struct tls_uv *t, const struct tls_verify_result *r)
{
	struct gateway_link *g = (struct gateway_link *)t;
	char hdr[512];
	int n;

	if (r->status != TLS_VERIFY_OK) {
		gateway_link_finish(g, 0, "tls", r->detail);
		return;
	}
	snprintf(g->result.detail, sizeof(g->result.detail), "%s, %s",
	    tls_conn_version(t->conn), r->detail);
	/* We speak for the remote side toward the gateway; the default
	 * domain names whom the stream is for. */
	n = snprintf(hdr, sizeof(hdr), "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
	    "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>",
	    g->cfg->default_domain);
	if (n > 0 && (size_t)n < sizeof(hdr))
		tls_uv_write(t, (const uint8_t *)hdr, (size_t)n);
}

static void
gateway_link_on_read(struct tls_uv *t, const uint8_t *data, size_t len)
{
	struct gateway_link *g = (struct gateway_link *)t;
	char detail[sizeof(g->result.detail) + 32];

	if (len > sizeof(g->reply) - 1 - g->reply_len)
		len = sizeof(g->reply) - 1 - g->reply_len;	/* only the start matters */
	memcpy(g->reply + g->reply_len, data, len);
	g->reply_len += len;
	g->reply[g->reply_len] = '\0';
	if (strstr(g->reply, "<stream:stream") != NULL || strstr(g->reply, ":stream ") != NULL) {
		snprintf(detail, sizeof(detail), "%s; stream header answered", g->result.detail);
		gateway_link_finish(g, 1, "done", detail);
	} else if (g->reply_len == sizeof(g->reply) - 1) {
		gateway_link_finish(g, 0, "stream", "no stream header in the gateway's first 4 KiB");
	}
}

static void
gateway_link_on_peer_close(struct tls_uv *t)
{
	gateway_link_finish((struct gateway_link *)t, 0, "stream", "the gateway closed the stream");
}

static const struct tls_uv_callbacks gateway_link_tls_callbacks = {
	.on_handshake = gateway_link_on_handshake,
	.on_read = gateway_link_on_read,
	.on_peer_close = gateway_link_on_peer_close,
	.on_close = gateway_link_on_tls_close,
};

static void
gateway_link_on_connect(uv_connect_t *req, int status)
{
	struct gateway_link *g = req->data;
	struct tls_conn_params params = {
		.role = TLS_ROLE_INTERNAL_CLIENT,
		.peer_domain = g->cfg->gateway.server_name,
		.peer_addr = g->cfg->gateway.address,
	};
	char err[256];

	if (g->done)
		return;
	if (status < 0) {
		gateway_link_finish(g, 0, "connect", uv_strerror(status));
		return;
	}
	if (tls_uv_start(&g->tls, g->store, &params, NULL, 0, err, sizeof(err)) < 0)
		gateway_link_finish(g, 0, "tls", err);
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
	g->cfg = cfg;
	g->store = store;
	g->cb = cb;
	g->arg = arg;
	tls_uv_init(loop, &g->tls, &gateway_link_tls_callbacks, g);
	uv_timer_init(loop, &g->timer);
	g->timer.data = g;
	g->connect.data = g;
	g->handles_open = 2;
	uv_timer_start(&g->timer, gateway_link_on_timeout, GATEWAY_LINK_TIMEOUT_MS, 0);
	if (netaddr_parse(cfg->gateway.address, &ss, why, sizeof(why)) < 0) {
		gateway_link_finish(g, 0, "connect", why);	/* reported from here */
		return g;
	}
	r = uv_tcp_connect(&g->connect, tls_uv_tcp(&g->tls), (struct sockaddr *)&ss,
	    gateway_link_on_connect);
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
