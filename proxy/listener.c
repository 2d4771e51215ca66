/*
 * listener.c - the TCP listening sockets of the external and internal
 * sides.  Opened before privileges are dropped (ports below 1024), so a
 * failure here names the address and the reason and stops the start.
 */
#include "edge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "netaddr.h"
#include "s2s_in.h"

#define LISTEN_BACKLOG 511

static const char *const listener_kind_names[] = {
	[LISTENER_STARTTLS] = "starttls",
	[LISTENER_DIRECT_TLS] = "direct_tls",
	[LISTENER_INTERNAL] = "internal",
	[LISTENER_INTERNAL_STARTTLS] = "internal_starttls",
};

static void
listener_on_connection(uv_stream_t *server, int status)
{
	struct listener *l = server->data;

	if (status < 0) {
		log_event(LOG_WARN, "listener.accept_failed", "listener", l->addr,
		    "reason", uv_strerror(status), NULL);
		return;
	}
	if (s2s_in_accept(l) < 0)
		log_event(LOG_ERROR, "listener.accept_failed", "listener", l->addr,
		    "reason", "out of memory", NULL);
}

static int
listener_open(struct edge *edge, enum listener_kind kind, const char *addr,
    char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct listener *l;
	char why[128];
	int r;

	if (netaddr_parse(addr, &ss, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "listen.%s: '%s': %s", listener_kind_names[kind], addr, why);
		return -1;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	l->edge = edge;
	l->kind = kind;
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	uv_tcp_init(edge->loop, &l->tcp);
	l->tcp.data = l;
	l->next = edge->listeners;
	edge->listeners = l;
	/* IPV6ONLY: "[::]:5269" and "0.0.0.0:5269" can both be listed. */
	r = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss,
	    ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&l->tcp, LISTEN_BACKLOG, listener_on_connection);
	if (r != 0) {
		snprintf(err, errlen, "listen.%s: cannot listen on %s: %s",
		    listener_kind_names[kind], addr, uv_strerror(r));
		return -1;
	}
	log_event(LOG_INFO, "listener.start", "kind", listener_kind_names[kind],
	    "addr", addr, NULL);
	return 0;
}

int
listener_open_all(struct edge *edge, char *err, size_t errlen)
{
	const struct config_listen *c = &edge->cfg->listen;
	size_t i;

	for (i = 0; i < c->starttls_count; i++)
		if (listener_open(edge, LISTENER_STARTTLS, c->starttls[i], err, errlen) < 0)
			return -1;
	for (i = 0; i < c->direct_tls_count; i++)
		if (listener_open(edge, LISTENER_DIRECT_TLS, c->direct_tls[i], err, errlen) < 0)
			return -1;
	for (i = 0; i < c->internal_starttls_count; i++)
		if (listener_open(edge, LISTENER_INTERNAL_STARTTLS, c->internal_starttls[i], err, errlen) < 0)
			return -1;
	for (i = 0; i < c->internal_count; i++)
		if (listener_open(edge, LISTENER_INTERNAL, c->internal[i], err, errlen) < 0)
			return -1;
	return 0;
}

static void
listener_on_closed(uv_handle_t *h)
{
	free(h->data);
}

void
listener_close_all(struct edge *edge)
{
	struct listener *l, *next;

	for (l = edge->listeners; l != NULL; l = next) {
		next = l->next;
		uv_close((uv_handle_t *)&l->tcp, listener_on_closed);
	}
	edge->listeners = NULL;
}

size_t
listener_close_external(struct edge *edge)
{
	struct listener **lp = &edge->listeners, *l;
	size_t n = 0;

	while ((l = *lp) != NULL) {
		if (l->kind == LISTENER_INTERNAL) {
			lp = &l->next;
			continue;
		}
		*lp = l->next;
		log_event(LOG_INFO, "listener.stop", "kind", listener_kind_names[l->kind],
		    "addr", l->addr, "reason", "drain", NULL);
		/* Streams accepted on it keep a pointer to it (s->listener)
		 * and live on: it is only freed when the daemon exits. */
		uv_close((uv_handle_t *)&l->tcp, NULL);
		l->next = edge->drained_listeners;
		edge->drained_listeners = l;
		n++;
	}
	return n;
}

void
listener_free_drained(struct edge *edge)
{
	struct listener *l, *next;

	for (l = edge->drained_listeners; l != NULL; l = next) {
		next = l->next;
		free(l);
	}
	edge->drained_listeners = NULL;
}
