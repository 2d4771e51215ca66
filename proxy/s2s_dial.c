/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_dial.c - the real dialer (s2s_dial.h): dns/connect.c's connect
 * sequence, each connected handle handed on as a TCP pipe.
 */
#include "s2s_dial.h"

#include <stdio.h>
#include <stdlib.h>

struct s2s_dial {
	struct dns_resolver *res;
	struct dns_connect *dc;
	s2s_dial_cb cb;
	void *arg;
	int starting;			/* inside dns_connect_start* */
	int dead;			/* ended while starting: start frees it */
};

static void
s2s_dial_dns_on_connect(struct dns_connect *dc, enum dns_error err, uv_tcp_t *tcp,
    const struct dns_candidate *cand, void *arg)
{
	struct s2s_dial *d = arg;
	struct s2s_dial_result r = { .err = err };
	char peer[S2S_CONN_PEER_MAX];

	(void)dc;
	if (err == DNS_OK) {
		r.pipe = s2s_pipe_tcp_from_handle(tcp->loop, tcp);
		if (r.pipe == NULL) {
			/* Out of memory for this candidate: try the next. */
			dns_tcp_close_free(tcp);
			dns_connect_next(d->dc);
			return;
		}
		snprintf(peer, sizeof(peer), "%s:%u", cand->addr_str, cand->port);
		r.peer = peer;
		r.direct_tls = cand->tls == DNS_TLS_DIRECT;
		r.cand = cand;
	} else if (d->starting) {
		/* A failure known at once (cached): the caller gets no
		 * handle on it, so start frees it after this. */
		d->dead = 1;
	}
	d->cb(d->arg, &r);
}

static enum dns_error
s2s_dial_dns_start(void *impl, const struct s2s_dial_target *t, s2s_dial_cb cb, void *arg,
    struct s2s_dial **out)
{
	struct dns_resolver *res = impl;
	struct s2s_dial *d;
	enum dns_error err;

	*out = NULL;
	if (res == NULL)
		return DNS_ERR_NOMEM;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return DNS_ERR_NOMEM;
	d->res = res;
	d->cb = cb;
	d->arg = arg;
	d->starting = 1;
	if (t->addr != NULL)
		err = dns_connect_start_static(res, t->domain, t->addr, t->tls,
		    s2s_dial_dns_on_connect, d, &d->dc);
	else
		err = dns_connect_start_dane(res, t->domain, t->avoid, t->want_tlsa,
		    s2s_dial_dns_on_connect, d, &d->dc);
	d->starting = 0;
	if (err != DNS_OK || d->dead) {
		/* Refused, or failed at once and already told (then the
		 * caller has let go of it). */
		if (d->dc != NULL)
			dns_connect_free(d->dc);
		free(d);
		return err;
	}
	*out = d;
	return DNS_OK;
}

static void
s2s_dial_dns_next(struct s2s_dial *d)
{
	if (d->dc != NULL)
		dns_connect_next(d->dc);
}

static void
s2s_dial_dns_again(struct s2s_dial *d)
{
	if (d->dc != NULL)
		dns_connect_again(d->dc);
}

static void
s2s_dial_dns_free(struct s2s_dial *d)
{
	if (d == NULL)
		return;
	if (d->dc != NULL)
		dns_connect_free(d->dc);
	free(d);
}

static const struct s2s_dialer_ops s2s_dial_dns_ops = {
	.start = s2s_dial_dns_start,
	.next = s2s_dial_dns_next,
	.again = s2s_dial_dns_again,
	.free = s2s_dial_dns_free,
};

void
s2s_dial_dns_init(struct s2s_dialer *d, struct dns_resolver *r)
{
	d->ops = &s2s_dial_dns_ops;
	d->impl = r;
}
