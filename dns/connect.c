/* SPDX-License-Identifier: Apache-2.0 */
/*
 * connect.c - the connect sequence: from a remote domain to one connected
 * TCP socket, trying the candidates discover.c streams in.
 *
 * In the spirit of RFC 8305 ("Happy Eyeballs v2") §5: candidates are tried
 * in the order given (SRV order, IPv6/IPv4 interleaved); a new attempt
 * starts when the previous one failed, or stagger_ms after the last one
 * started while earlier attempts are still pending (they go on); each
 * attempt has its own connect_timeout_ms.  The first attempt to connect
 * wins, the others are closed.
 *
 *   CONNECT_RESOLVING    no attempt in flight, waiting for candidates
 *   CONNECT_ATTEMPTING   attempts in flight
 *   CONNECT_HANDED_OVER  a connection was given to the caller; it may ask
 *                        for the next one (dns_connect_next) if it could
 *                        not use it (TLS or stream negotiation failed)
 *   CONNECT_FAILED       the final error was given
 *
 * Memory: every libuv handle here is malloc'd and freed by its own close
 * callback, and attempts detach from the sequence when closed, so
 * dns_connect_free() can free the sequence at once.
 */
#include "dns_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum connect_state {
	CONNECT_RESOLVING,
	CONNECT_ATTEMPTING,
	CONNECT_HANDED_OVER,
	CONNECT_FAILED,
};

static const char *const connect_state_names[] = {
	[CONNECT_RESOLVING] = "resolving",
	[CONNECT_ATTEMPTING] = "attempting",
	[CONNECT_HANDED_OVER] = "handed-over",
	[CONNECT_FAILED] = "failed",
};

struct attempt {
	struct dns_connect *dc;		/* NULL once detached (closing) */
	struct attempt *next;
	uv_tcp_t *tcp;			/* NULL once handed over */
	uv_connect_t req;
	uv_timer_t timer;
	size_t cand;			/* index in dc->cands */
	int open_handles;
};

struct dns_connect {
	struct dns_resolver *r;
	dns_connect_cb cb;
	void *arg;
	enum connect_state state;
	char domain[DNS_NAME_MAX + 1];

	struct dns_discovery *disc;
	int disc_done;
	enum dns_error disc_err;

	struct dns_candidate *cands;
	size_t ncands, cap, next_cand;
	size_t handed_cand;		/* the candidate last handed over */

	struct attempt *attempts;
	size_t nattempts;
	uv_timer_t *stagger;
	int stagger_due;		/* time to start the next attempt */
	size_t n_timeout, n_failed;
	size_t n_refused;		/* candidates the address policy refused */
	struct dns_avoid avoid;		/* our own sockets (addrpolicy.c) */

	int in_cb;
	int dead;
};

static void connect_destroy(struct dns_connect *dc);
static void connect_pump(struct dns_connect *dc);

static void
connect_enter_state(struct dns_connect *dc, enum connect_state next)
{
	if (dc->state == next)
		return;
	log_event(LOG_DEBUG, "dns.connect.state", "domain", dc->domain,
	    "from", connect_state_names[dc->state],
	    "to", connect_state_names[next], NULL);
	dc->state = next;
}

/* Calls the user; -1 if the sequence was freed meanwhile. */
static int
connect_call(struct dns_connect *dc, enum dns_error err, uv_tcp_t *tcp,
    const struct dns_candidate *c)
{
	dc->in_cb++;
	dc->cb(dc, err, tcp, c, dc->arg);
	dc->in_cb--;
	if (dc->dead) {
		if (dc->in_cb == 0)
			connect_destroy(dc);
		return -1;
	}
	return 0;
}

static void
handle_free_cb(uv_handle_t *h)
{
	free(h);
}

void
dns_tcp_close_free(uv_tcp_t *tcp)
{
	if (tcp != NULL && !uv_is_closing((uv_handle_t *)tcp))
		uv_close((uv_handle_t *)tcp, handle_free_cb);
}

/* --- attempts -------------------------------------------------------------- */

static void
attempt_handle_closed(uv_handle_t *h)
{
	struct attempt *a = h->data;

	if ((uv_handle_t *)a->tcp == h) {
		free(a->tcp);
		a->tcp = NULL;
	}
	if (--a->open_handles == 0)
		free(a);
}

/* Takes the attempt off the sequence and closes what it still owns. */
static void
attempt_close(struct attempt *a)
{
	struct dns_connect *dc = a->dc;
	struct attempt **pp;

	if (dc != NULL) {
		for (pp = &dc->attempts; *pp != a; pp = &(*pp)->next)
			;
		*pp = a->next;
		dc->nattempts--;
		a->dc = NULL;
	}
	uv_timer_stop(&a->timer);
	uv_close((uv_handle_t *)&a->timer, attempt_handle_closed);
	if (a->tcp != NULL)
		uv_close((uv_handle_t *)a->tcp, attempt_handle_closed);
}

static void
attempt_failed(struct attempt *a, const char *reason, int timed_out)
{
	struct dns_connect *dc = a->dc;
	const struct dns_candidate *c = &dc->cands[a->cand];
	char port[8];

	if (timed_out)
		dc->n_timeout++;
	else
		dc->n_failed++;
	snprintf(port, sizeof(port), "%u", c->port);
	log_event(LOG_INFO, "dns.connect.failed", "domain", dc->domain,
	    "addr", c->addr_str, "port", port, "target", c->target,
	    "reason", reason, NULL);
	attempt_close(a);
}

static void
attempt_timer_cb(uv_timer_t *t)
{
	struct attempt *a = t->data;
	struct dns_connect *dc = a->dc;

	if (dc == NULL)
		return;
	attempt_failed(a, "connection timed out", 1);
	connect_pump(dc);
}

static void
attempt_connect_cb(uv_connect_t *req, int status)
{
	struct attempt *a = req->data;
	struct dns_connect *dc = a->dc;
	struct dns_candidate c;
	struct attempt *other;
	uv_tcp_t *tcp;
	char port[8];

	if (dc == NULL || status == UV_ECANCELED)
		return;		/* closed meanwhile */
	if (status < 0) {
		attempt_failed(a, uv_strerror(status), 0);
		connect_pump(dc);
		return;
	}
	/* The winner: everything else stops. */
	c = dc->cands[a->cand];
	dc->handed_cand = a->cand;
	tcp = a->tcp;
	a->tcp = NULL;
	a->open_handles--;
	tcp->data = NULL;
	attempt_close(a);
	while ((other = dc->attempts) != NULL)
		attempt_close(other);
	uv_timer_stop(dc->stagger);
	dc->stagger_due = 0;
	snprintf(port, sizeof(port), "%u", c.port);
	log_event(LOG_INFO, "dns.connect.ok", "domain", dc->domain,
	    "addr", c.addr_str, "port", port, "target", c.target,
	    "tls", dns_tls_mode_name(c.tls), NULL);
	connect_enter_state(dc, CONNECT_HANDED_OVER);
	(void)connect_call(dc, DNS_OK, tcp, &c);
}

/* Starts an attempt on candidate i: 0, or -1 if it failed at once. */
static int
attempt_launch(struct dns_connect *dc, size_t i)
{
	const struct dns_candidate *c = &dc->cands[i];
	struct attempt *a;
	char port[8];
	int rc;

	snprintf(port, sizeof(port), "%u", c->port);
	log_event(LOG_DEBUG, "dns.connect.attempt", "domain", dc->domain,
	    "addr", c->addr_str, "port", port, "target", c->target,
	    "tls", dns_tls_mode_name(c->tls), NULL);
	a = calloc(1, sizeof(*a));
	if (a == NULL || (a->tcp = malloc(sizeof(*a->tcp))) == NULL) {
		free(a);
		dc->n_failed++;
		return -1;
	}
	a->cand = i;
	a->dc = dc;
	a->next = dc->attempts;
	dc->attempts = a;
	dc->nattempts++;
	uv_timer_init(dns_resolver_loop(dc->r), &a->timer);
	a->timer.data = a;
	a->open_handles = 1;
	if ((rc = uv_tcp_init(dns_resolver_loop(dc->r), a->tcp)) < 0) {
		free(a->tcp);
		a->tcp = NULL;
		attempt_failed(a, uv_strerror(rc), 0);
		return -1;
	}
	a->tcp->data = a;
	a->open_handles++;
	/* Set on the socket when uv_tcp_connect creates it: without it every
	 * small write of the stream set-up waits for a delayed ACK (40 ms). */
	uv_tcp_nodelay(a->tcp, 1);
	a->req.data = a;
	rc = uv_tcp_connect(&a->req, a->tcp, (const struct sockaddr *)&c->addr,
	    attempt_connect_cb);
	if (rc < 0) {
		/* e.g. ENETUNREACH for IPv6 on an IPv4-only host */
		attempt_failed(a, uv_strerror(rc), 0);
		return -1;
	}
	uv_timer_start(&a->timer, attempt_timer_cb,
	    dns_resolver_config(dc->r)->connect_timeout_ms, 0);
	return 0;
}

/* --- the sequence ------------------------------------------------------------ */

static void
connect_fail(struct dns_connect *dc)
{
	enum dns_error err;

	if (dc->n_timeout > 0)
		err = DNS_ERR_CONNECT_TIMEOUT;
	else if (dc->n_failed == 0 && dc->n_refused > 0)
		err = DNS_ERR_TARGETS_REFUSED;
	else if (dc->n_failed > 0 || dc->disc_err == DNS_OK)
		err = DNS_ERR_CONNECT_FAILED;
	else
		err = dc->disc_err;
	log_event(LOG_INFO, "dns.connect.error", "domain", dc->domain,
	    "error", dns_error_str(err), NULL);
	connect_enter_state(dc, CONNECT_FAILED);
	(void)connect_call(dc, err, NULL, NULL);
}

static void
connect_stagger_cb(uv_timer_t *t)
{
	struct dns_connect *dc = t->data;

	dc->stagger_due = 1;
	connect_pump(dc);
}

static void
connect_pump(struct dns_connect *dc)
{
	if (dc->state == CONNECT_HANDED_OVER || dc->state == CONNECT_FAILED)
		return;
	if (dc->nattempts == 0 || dc->stagger_due) {
		while (dc->next_cand < dc->ncands) {
			if (attempt_launch(dc, dc->next_cand++) == 0) {
				dc->stagger_due = 0;
				uv_timer_start(dc->stagger, connect_stagger_cb,
				    dns_resolver_config(dc->r)->stagger_ms, 0);
				break;
			}
		}
	}
	if (dc->nattempts > 0) {
		connect_enter_state(dc, CONNECT_ATTEMPTING);
		return;
	}
	if (dc->disc_done && dc->next_cand >= dc->ncands) {
		connect_fail(dc);
		return;
	}
	connect_enter_state(dc, CONNECT_RESOLVING);
}

/* The address policy (addrpolicy.c) for a candidate DNS gave us: 1 to
 * dial it; 0 (logged) to skip it.  Only discovered candidates come
 * here, never the operator's static targets. */
static int
connect_candidate_allowed(struct dns_connect *dc, const struct dns_candidate *c)
{
	const char *why = dns_addr_refused(dns_resolver_config(dc->r), &dc->avoid,
	    (const struct sockaddr *)&c->addr);
	char port[8];

	if (why == NULL)
		return 1;
	snprintf(port, sizeof(port), "%u", c->port);
	log_event(LOG_WARN, "dns.connect.refused", "domain", dc->domain, "addr", c->addr_str,
	    "port", port, "target", c->target, "reason", why, NULL);
	return 0;
}

static void
connect_disc_cb(struct dns_discovery *d, const struct dns_candidate *c,
    enum dns_error err, void *arg)
{
	struct dns_connect *dc = arg;

	if (c == NULL) {
		dc->disc_done = 1;
		dc->disc_err = err;
	} else if (!connect_candidate_allowed(dc, c)) {
		dc->n_refused++;
	} else if (dc->ncands < dc->cap) {
		dc->cands[dc->ncands++] = *c;
	}
	connect_pump(dc);
}

/* A sequence with room for cap candidates; its stagger timer is not
 * initialised yet (the caller does, once nothing else can fail). */
static struct dns_connect *
connect_alloc(struct dns_resolver *r, const char *domain, size_t cap, dns_connect_cb cb,
    void *arg)
{
	struct dns_connect *dc = calloc(1, sizeof(*dc));

	if (dc == NULL)
		return NULL;
	dc->cands = calloc(cap, sizeof(*dc->cands));
	dc->stagger = malloc(sizeof(*dc->stagger));
	if (dc->cands == NULL || dc->stagger == NULL) {
		free(dc->cands);
		free(dc->stagger);
		free(dc);
		return NULL;
	}
	dc->cap = cap;
	dc->r = r;
	dc->cb = cb;
	dc->arg = arg;
	dc->state = CONNECT_RESOLVING;
	snprintf(dc->domain, sizeof(dc->domain), "%s", domain);
	return dc;
}

enum dns_error
dns_connect_start(struct dns_resolver *r, const char *domain,
    dns_connect_cb cb, void *arg, struct dns_connect **out)
{
	return dns_connect_start_avoiding(r, domain, NULL, cb, arg, out);
}

enum dns_error
dns_connect_start_avoiding(struct dns_resolver *r, const char *domain,
    const struct dns_avoid *avoid, dns_connect_cb cb, void *arg, struct dns_connect **out)
{
	const struct dns_config *cfg = dns_resolver_config(r);
	struct dns_connect *dc;
	enum dns_error err;

	*out = NULL;
	dc = connect_alloc(r, domain, (size_t)cfg->max_addresses, cb, arg);
	if (dc == NULL)
		return DNS_ERR_NOMEM;
	if (avoid != NULL)
		dc->avoid = *avoid;
	err = dns_discover_start(r, domain, connect_disc_cb, dc, &dc->disc);
	if (err != DNS_OK) {
		free(dc->cands);
		free(dc->stagger);
		free(dc);
		return err;
	}
	uv_timer_init(dns_resolver_loop(r), dc->stagger);
	dc->stagger->data = dc;
	*out = dc;
	return DNS_OK;
}

enum dns_error
dns_connect_start_static(struct dns_resolver *r, const char *domain,
    const struct sockaddr *addr, enum dns_tls_mode tls, dns_connect_cb cb, void *arg,
    struct dns_connect **out)
{
	struct dns_connect *dc;
	struct dns_candidate *c;

	*out = NULL;
	if (addr->sa_family != AF_INET && addr->sa_family != AF_INET6)
		return DNS_ERR_BAD_NAME;
	dc = connect_alloc(r, domain, 1, cb, arg);
	if (dc == NULL)
		return DNS_ERR_NOMEM;
	/* One candidate, no discovery: an operator's static target. */
	c = &dc->cands[0];
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;

		memcpy(&c->addr, in, sizeof(*in));
		c->addrlen = sizeof(*in);
		c->port = ntohs(in->sin_port);
		inet_ntop(AF_INET, &in->sin_addr, c->addr_str, sizeof(c->addr_str));
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;

		memcpy(&c->addr, in6, sizeof(*in6));
		c->addrlen = sizeof(*in6);
		c->port = ntohs(in6->sin6_port);
		inet_ntop(AF_INET6, &in6->sin6_addr, c->addr_str, sizeof(c->addr_str));
	}
	c->tls = tls;
	c->source = DNS_SOURCE_FALLBACK;
	snprintf(c->target, sizeof(c->target), "%s", domain);
	dc->ncands = 1;
	dc->disc_done = 1;
	dc->disc_err = DNS_OK;
	uv_timer_init(dns_resolver_loop(r), dc->stagger);
	dc->stagger->data = dc;
	/* Start from the loop, like discovery would. */
	uv_timer_start(dc->stagger, connect_stagger_cb, 0, 0);
	*out = dc;
	return DNS_OK;
}

void
dns_connect_next(struct dns_connect *dc)
{
	if (dc->state != CONNECT_HANDED_OVER)
		return;
	connect_enter_state(dc, CONNECT_RESOLVING);
	/* Go on from the loop, not from inside the caller. */
	dc->stagger_due = 1;
	uv_timer_start(dc->stagger, connect_stagger_cb, 0, 0);
}

void
dns_connect_again(struct dns_connect *dc)
{
	if (dc->state != CONNECT_HANDED_OVER)
		return;
	/* The candidates after it, if some were started meanwhile, are
	 * tried again after it too: their attempts were closed. */
	dc->next_cand = dc->handed_cand;
	dns_connect_next(dc);
}

static void
connect_destroy(struct dns_connect *dc)
{
	struct attempt *a;

	dns_discover_free(dc->disc);
	while ((a = dc->attempts) != NULL)
		attempt_close(a);
	uv_close((uv_handle_t *)dc->stagger, handle_free_cb);
	free(dc->cands);
	free(dc);
}

void
dns_connect_free(struct dns_connect *dc)
{
	if (dc == NULL)
		return;
	if (dc->in_cb > 0) {
		dc->dead = 1;	/* connect_call() frees it on the way out */
		return;
	}
	connect_destroy(dc);
}
