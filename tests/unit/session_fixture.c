/* SPDX-License-Identifier: Apache-2.0 */
/*
 * session_fixture.c - scripted peers, the scripted dialer and the libuv
 * bookkeeping of the session tests and the session fuzzer (see
 * session_fixture.h).
 */
#include "session_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blocklist.h"
#include "config.h"
#include "dialback.h"
#include "log.h"
#include "prefix_count.h"
#include "s2s_in.h"
#include "s2s_out.h"

#define SF_SECRET "0123456789abcdef0123456789abcdef"
#define SF_PEER_LIMIT (1024 * 1024)	/* bytes of one element the peer reads */

static void
sf_errf(struct sf *sf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
sf_errf(struct sf *sf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(sf->err, sizeof(sf->err), fmt, ap);
	va_end(ap);
}

/* --- the log, counted ---------------------------------------------------- */

static void
sf_observe(void *arg, enum log_level level, const char *event, va_list ap)
{
	struct sf *sf = arg;
	const char *k, *v;
	size_t i;
	va_list copy;

	for (i = 0; i < sf->nlogs; i++)
		if (strcmp(sf->logs[i].name, event) == 0)
			break;
	if (i == sf->nlogs && sf->nlogs < SF_LOG_NAMES_MAX) {
		snprintf(sf->logs[i].name, sizeof(sf->logs[i].name), "%s", event);
		sf->nlogs++;
	}
	if (i < sf->nlogs)
		sf->logs[i].n++;
	if (sf->log_stderr) {
		va_copy(copy, ap);
		fprintf(stderr, "    log %d %s", (int)level, event);
		while ((k = va_arg(copy, const char *)) != NULL) {
			v = va_arg(copy, const char *);
			fprintf(stderr, " %s=%s", k, v != NULL ? v : "-");
		}
		fputc('\n', stderr);
		va_end(copy);
	}
	if (strcmp(event, "s2s_in.close") != 0 && strcmp(event, "s2s_out.close") != 0)
		return;
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		if (strcmp(k, "routed") == 0 && v != NULL)
			sf->routed_by_inbound += strtoull(v, NULL, 10);
		if (strcmp(k, "reason") == 0 && v != NULL && strcmp(v, "send queue full") == 0)
			sf->closes_queue_full++;
	}
}

uint64_t
sf_log_count(const struct sf *sf, const char *name)
{
	size_t i;

	for (i = 0; i < sf->nlogs; i++)
		if (strcmp(sf->logs[i].name, name) == 0)
			return sf->logs[i].n;
	return 0;
}

/* --- the scripted dialer ------------------------------------------------- */

/* One dial: answers come from a zero timer, one per candidate asked. */
struct s2s_dial {
	struct sf *sf;
	struct sf_dial_script *script;	/* NULL: the default answer */
	char domain[CONFIG_DOMAIN_MAX];
	s2s_dial_cb cb;
	void *arg;
	int direct_tls;			/* a configured address for Direct TLS */
	int is_static;			/* a configured address (gateway, connect) */
	uv_timer_t timer;
	int ended;			/* a final answer was given */
};

static struct sf_dial_script *
sf_script_find(struct sf *sf, const char *domain)
{
	size_t i;

	for (i = 0; i < sf->nscripts; i++)
		if (strcmp(sf->scripts[i].domain, domain) == 0)
			return &sf->scripts[i];
	return NULL;
}

void
sf_dial_script(struct sf *sf, const char *domain, const struct sf_dial_step *steps, size_t nsteps)
{
	struct sf_dial_script *s = sf_script_find(sf, domain);

	if (s == NULL) {
		if (sf->nscripts == SF_DIAL_DOMAINS_MAX)
			return;
		s = &sf->scripts[sf->nscripts++];
	}
	memset(s, 0, sizeof(*s));
	snprintf(s->domain, sizeof(s->domain), "%s", domain);
	if (nsteps > SF_DIAL_STEPS_MAX)
		nsteps = SF_DIAL_STEPS_MAX;
	memcpy(s->steps, steps, nsteps * sizeof(*steps));
	s->nsteps = nsteps;
}

/* The answer for the next candidate: the script's next step; past its
 * end, no more candidates. */
/* Without a script, a configured address (the gateway) connects. */
static const struct sf_dial_step sf_dial_connected = { SF_DIAL_PEER, DNS_OK };

/* The answer for the next candidate: the script's next step (a later
 * SF_DIAL_FAIL_NOW fails from the loop, as SF_DIAL_FAIL); past its end,
 * no more candidates. */
static struct sf_dial_step
sf_dial_peek(const struct s2s_dial *d)
{
	static const struct sf_dial_step none = { SF_DIAL_FAIL, DNS_ERR_CONNECT_FAILED };

	if (d->script == NULL)
		return d->is_static ? sf_dial_connected : d->sf->default_step;
	if (d->script->next >= d->script->nsteps)
		return none;
	return d->script->steps[d->script->next];
}

static struct sf_dial_step
sf_dial_take(struct s2s_dial *d)
{
	struct sf_dial_step step = sf_dial_peek(d);

	if (d->script != NULL && d->script->next < d->script->nsteps)
		d->script->next++;
	return step;
}

static struct sf_peer *sf_peer_new(struct sf *sf, enum sf_peer_role role, const char *domain);

static void
sf_dial_on_timer(uv_timer_t *t)
{
	struct s2s_dial *d = t->data;
	struct sf_dial_step step = sf_dial_take(d);
	struct s2s_dial_result r;
	struct sf_peer *p;

	memset(&r, 0, sizeof(r));
	switch (step.kind) {
	case SF_DIAL_PEER:
		p = sf_peer_new(d->sf, SF_PEER_OUT, d->domain);
		if (p == NULL) {
			r.err = DNS_ERR_NOMEM;
			break;
		}
		r.err = DNS_OK;
		r.pipe = p->pipe;
		r.peer = "192.0.2.99:5269";
		r.direct_tls = d->direct_tls;
		p->direct_tls = d->direct_tls;
		if (d->direct_tls && d->sf->gateway_store != NULL &&
		    sf_peer_tls(p, d->sf->gateway_store, TLS_ROLE_INTERNAL_SERVER, NULL) < 0) {
			/* Nobody takes the connection's end: closed here. */
			s2s_pipe_discard(p->pipe);
			r.err = DNS_ERR_NOMEM;
			break;
		}
		d->cb(d->arg, &r);
		return;
	case SF_DIAL_HANG:
		return;
	case SF_DIAL_FAIL:
	case SF_DIAL_FAIL_NOW:
		r.err = step.err != DNS_OK ? step.err : DNS_ERR_CONNECT_FAILED;
		break;
	}
	d->ended = 1;
	d->cb(d->arg, &r);
}

static enum dns_error
sf_dial_start(void *impl, const struct s2s_dial_target *t, s2s_dial_cb cb, void *arg,
    struct s2s_dial **out)
{
	struct sf *sf = impl;
	struct s2s_dial *d;
	struct sf_dial_step first;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return DNS_ERR_NOMEM;
	d->sf = sf;
	d->script = sf_script_find(sf, t->domain);
	snprintf(d->domain, sizeof(d->domain), "%s", t->domain);
	d->cb = cb;
	d->arg = arg;
	d->direct_tls = t->addr != NULL && t->tls == DNS_TLS_DIRECT;
	d->is_static = t->addr != NULL;
	sf->dials_started++;
	if (t->addr != NULL)
		sf->dials_static++;
	/* A failure known at once: no handle, no callback. */
	if (sf_dial_peek(d).kind == SF_DIAL_FAIL_NOW) {
		first = sf_dial_take(d);
		free(d);
		return first.err != DNS_OK ? first.err : DNS_ERR_NXDOMAIN;
	}
	uv_timer_init(sf->loop, &d->timer);
	d->timer.data = d;
	uv_timer_start(&d->timer, sf_dial_on_timer, 0, 0);
	sf->dials_live++;
	*out = d;
	return DNS_OK;
}

static void
sf_dial_next(struct s2s_dial *d)
{
	if (d->ended)
		return;
	uv_timer_start(&d->timer, sf_dial_on_timer, 0, 0);
}

static void
sf_dial_on_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
sf_dial_free(struct s2s_dial *d)
{
	if (d == NULL)
		return;
	d->sf->dials_live--;
	uv_timer_stop(&d->timer);
	uv_close((uv_handle_t *)&d->timer, sf_dial_on_closed);
}

static const struct s2s_dialer_ops sf_dialer_ops = {
	.start = sf_dial_start,
	.next = sf_dial_next,
	.free = sf_dial_free,
};

/* Where s2s_out finds its dialer. */
static void
sf_install_dialer(struct sf *sf)
{
	sf->edge->dialer = &sf->dialer;
}

/* --- peers --------------------------------------------------------------- */

static struct sf_peer *
sf_peer_new(struct sf *sf, enum sf_peer_role role, const char *domain)
{
	struct xmlstream_limits lim;
	struct sf_peer *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	xmlstream_limits_default(&lim);
	lim.stanza_max = SF_PEER_LIMIT;
	lim.depth_max = XMLSTREAM_DEPTH_MAX_CEILING;
	lim.attrs_max = XMLSTREAM_ATTRS_MAX_CEILING;
	lim.name_max = XMLSTREAM_NAME_MAX_CEILING;
	p->xs = xmlstream_new(&lim, XMLSTREAM_NS_SERVER);
	p->pipe = s2s_pipe_mem_new(sf->loop);
	if (p->xs == NULL || p->pipe == NULL) {
		xmlstream_free(p->xs);
		if (p->pipe != NULL) {
			s2s_pipe_discard(p->pipe);
			s2s_pipe_mem_release(p->pipe);
		}
		free(p);
		return NULL;
	}
	p->sf = sf;
	p->role = role;
	p->index = sf->npeers++;
	snprintf(p->domain, sizeof(p->domain), "%s", domain != NULL ? domain : "");
	p->next = sf->peers;
	sf->peers = p;
	return p;
}

struct sf_peer *
sf_peer_accept(struct sf *sf, struct listener *l, const char *ip)
{
	struct sockaddr_in sin;
	struct sf_peer *p = sf_peer_new(sf, SF_PEER_IN, NULL);

	if (p == NULL) {
		sf_errf(sf, "out of memory");
		return NULL;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)(40000 + p->index));
	if (inet_pton(AF_INET, ip != NULL ? ip : "192.0.2.7", &sin.sin_addr) != 1) {
		sf_errf(sf, "bad address %s", ip);
		return NULL;
	}
	if (s2s_in_start(l != NULL ? l : &sf->external, p->pipe, (struct sockaddr *)&sin) < 0) {
		sf_errf(sf, "s2s_in_start failed");
		return NULL;
	}
	return p;
}

struct sf_peer *
sf_peer_out(struct sf *sf, const char *domain)
{
	struct sf_peer *p;

	for (p = sf->peers; p != NULL; p = p->next)
		if (p->role == SF_PEER_OUT && strcmp(p->domain, domain) == 0)
			return p;
	return NULL;
}

/* Plaintext from the peer: through its TLS once that is up. */
static int
sf_peer_send_bytes(struct sf_peer *p, const void *data, size_t len)
{
	if (p->tls != NULL)
		return tls_conn_write(p->tls, data, len);
	return s2s_pipe_mem_peer_send(p->pipe, data, len);
}

int
sf_peer_send(struct sf_peer *p, const char *s)
{
	return sf_peer_send_bytes(p, s, strlen(s));
}

int
sf_peer_sendf(struct sf_peer *p, const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	return sf_peer_send_bytes(p, buf, (size_t)n);
}

int
sf_peer_send_header(struct sf_peer *p, const char *from, const char *to)
{
	char id[32] = "";

	/* The receiving side names its stream (RFC 6120 §4.7.3). */
	if (p->role == SF_PEER_OUT)
		snprintf(id, sizeof(id), " id='sfpeer%d'", p->index);
	return sf_peer_sendf(p, "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
	    "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback'"
	    "%s%s%s%s%s%s%s version='1.0'>",
	    from ? " from='" : "", from ? from : "", from ? "'" : "",
	    to ? " to='" : "", to ? to : "", to ? "'" : "", id);
}

void
sf_peer_stall(struct sf_peer *p, int stalled)
{
	s2s_pipe_mem_set_stalled(p->pipe, stalled);
}

void
sf_peer_eof(struct sf_peer *p)
{
	s2s_pipe_mem_peer_eof(p->pipe);
}

void
sf_peer_reset(struct sf_peer *p)
{
	s2s_pipe_mem_peer_reset(p->pipe);
}

int
sf_peer_closed(const struct sf_peer *p)
{
	return s2s_pipe_mem_peer_saw_close(p->pipe);
}

void
sf_peer_restart(struct sf_peer *p)
{
	xmlstream_restart(p->xs);
	p->header_seen = 0;
}

static void
sf_copy_str(char *out, size_t cap, const struct xmlstream_str *s)
{
	size_t n = s->p != NULL ? s->len : 0;

	if (n >= cap)
		n = cap - 1;
	if (n > 0)
		memcpy(out, s->p, n);
	out[n] = '\0';
}

/*
 * The first child element of the first element named parent at any depth
 * (parent NULL: of the top element itself), skipping <text/>: the defined
 * condition of a stream error or stanza error.  raw is XML the proxy's
 * tokenizer-checked writer produced and ours accepted, so tags are
 * well-formed; comments and CDATA do not occur in what the proxy writes.
 */
void
sf_first_child(const char *raw, size_t len, const char *parent, char *out, size_t cap)
{
	size_t i = 0, n;
	int depth = 0, want_depth = parent == NULL ? 1 : -1;
	const char *name, *local;
	char quote;

	out[0] = '\0';
	while (i < len) {
		if (raw[i] != '<') {
			i++;
			continue;
		}
		i++;
		if (i < len && raw[i] == '/') {
			depth--;
			while (i < len && raw[i] != '>')
				i++;
			if (want_depth > 0 && depth < want_depth - 1)
				return;	/* the parent ended without a condition */
			continue;
		}
		if (i < len && (raw[i] == '?' || raw[i] == '!')) {
			while (i < len && raw[i] != '>')
				i++;
			continue;
		}
		name = raw + i;
		while (i < len && raw[i] != ' ' && raw[i] != '>' && raw[i] != '/' &&
		    raw[i] != '\t' && raw[i] != '\n' && raw[i] != '\r')
			i++;
		n = (size_t)(raw + i - name);
		local = memchr(name, ':', n);
		if (local != NULL) {
			n -= (size_t)(local + 1 - name);
			name = local + 1;
		}
		if (want_depth < 0 && n == strlen(parent) && memcmp(name, parent, n) == 0) {
			want_depth = depth + 1;
		} else if (depth == want_depth && !(n == 4 && memcmp(name, "text", 4) == 0)) {
			if (n >= cap)
				n = cap - 1;
			memcpy(out, name, n);
			out[n] = '\0';
			return;
		}
		quote = 0;
		while (i < len && (quote || raw[i] != '>')) {
			if (quote && raw[i] == quote)
				quote = 0;
			else if (!quote && (raw[i] == '\'' || raw[i] == '"'))
				quote = raw[i];
			i++;
		}
		if (i > 0 && raw[i - 1] != '/')
			depth++;
	}
}

/* Feeds what the proxy wrote since the last call to the peer's tokenizer
 * (decrypted first when the peer speaks TLS). */
static void
sf_peer_feed(struct sf_peer *p)
{
	size_t len, n;
	const char *out = s2s_pipe_mem_peer_output(p->pipe, &len);

	if (p->tls != NULL) {
		if (len > 0) {
			/* Copied and consumed first: what TLS answers goes the
			 * other way, but nothing may hold the output meanwhile. */
			char *copy = malloc(len);

			if (copy != NULL) {
				memcpy(copy, out, len);
				s2s_pipe_mem_peer_consume(p->pipe, len);
				if (tls_conn_feed(p->tls, (const uint8_t *)copy, len) < 0 &&
				    p->tls_error[0] == '\0')
					snprintf(p->tls_error, sizeof(p->tls_error), "TLS failed");
				free(copy);
			}
		}
		n = p->plain_len > 0 ? xmlstream_feed(p->xs, p->plain, p->plain_len) : 0;
		if (n > 0) {
			memmove(p->plain, p->plain + n, p->plain_len - n);
			p->plain_len -= n;
		}
		return;
	}
	n = len > 0 ? xmlstream_feed(p->xs, out, len) : 0;
	if (n > 0)
		s2s_pipe_mem_peer_consume(p->pipe, n);
}

/* --- the peer's TLS ------------------------------------------------------ */

static void
sf_peer_tls_ciphertext(void *ud, const uint8_t *data, size_t len)
{
	struct sf_peer *p = ud;

	(void)s2s_pipe_mem_peer_send(p->pipe, data, len);
}

static void
sf_peer_tls_handshake(void *ud, const struct tls_verify_result *r)
{
	struct sf_peer *p = ud;

	(void)r;
	p->tls_up = 1;
}

static void
sf_peer_tls_plaintext(void *ud, const uint8_t *data, size_t len)
{
	struct sf_peer *p = ud;
	size_t cap = p->plain_cap ? p->plain_cap : 4096;
	char *n;

	while (cap < p->plain_len + len)
		cap *= 2;
	if (cap != p->plain_cap) {
		n = realloc(p->plain, cap);
		if (n == NULL)
			return;
		p->plain = n;
		p->plain_cap = cap;
	}
	memcpy(p->plain + p->plain_len, data, len);
	p->plain_len += len;
}

static void
sf_peer_tls_close_notify(void *ud)
{
	(void)ud;
}

static void
sf_peer_tls_error(void *ud, const char *reason)
{
	struct sf_peer *p = ud;

	snprintf(p->tls_error, sizeof(p->tls_error), "%s", reason);
}

static const struct tls_conn_callbacks sf_peer_tls_callbacks = {
	.on_ciphertext = sf_peer_tls_ciphertext,
	.on_handshake = sf_peer_tls_handshake,
	.on_plaintext = sf_peer_tls_plaintext,
	.on_close_notify = sf_peer_tls_close_notify,
	.on_error = sf_peer_tls_error,
};

int
sf_peer_tls(struct sf_peer *p, struct tls_certstore *store, enum tls_role role,
    const char *peer_domain)
{
	struct tls_conn_params params;
	char err[256];

	memset(&params, 0, sizeof(params));
	params.role = role;
	params.peer_domain = peer_domain;
	params.direct_tls = p->direct_tls;
	params.peer_addr = "xmpp-edge";
	p->tls = tls_conn_new(store, &params, &sf_peer_tls_callbacks, p, err, sizeof(err));
	if (p->tls == NULL) {
		sf_errf(p->sf, "peer %d: tls_conn_new: %s", p->index, err);
		return -1;
	}
	/* A client's ClientHello goes out now; a server waits for it. */
	if (tls_conn_start(p->tls) < 0) {
		sf_errf(p->sf, "peer %d: tls_conn_start failed", p->index);
		return -1;
	}
	return 0;
}

int
sf_peer_tls_wait(struct sf_peer *p)
{
	int i;

	for (i = 0; i < SF_TURNS_MAX && !p->tls_up && p->tls_error[0] == '\0'; i++) {
		sf_peer_feed(p);
		uv_run(p->sf->loop, UV_RUN_NOWAIT);
	}
	if (p->tls_up)
		return 0;
	sf_errf(p->sf, "peer %d: TLS handshake: %s", p->index,
	    p->tls_error[0] ? p->tls_error : "did not complete");
	return -1;
}

static void
sf_event_clear(struct sf_event *e)
{
	free(e->raw);
	memset(e, 0, sizeof(*e));
}

/* One event from what was fed; NONE when more bytes are needed. */
enum xmlstream_event_type
sf_peer_poll(struct sf_peer *p)
{
	struct xmlstream_event ev;
	enum xmlstream_event_type t;

	for (;;) {
		sf_peer_feed(p);
		t = xmlstream_next(p->xs, &ev);
		if (t == XMLSTREAM_EV_NONE) {
			/* Bytes left that did not fit the buffer yet: feed
			 * them now that the tokenizer made room. */
			size_t len;

			(void)s2s_pipe_mem_peer_output(p->pipe, &len);
			if (len > 0 && xmlstream_buffered(p->xs) == 0)
				continue;
			return t;
		}
		if (t == XMLSTREAM_EV_STREAM_OPEN) {
			p->header_seen = 1;
			sf_copy_str(p->stream_id, sizeof(p->stream_id), &ev.id);
			continue;
		}
		sf_event_clear(&p->ev);
		p->ev.type = t;
		if (t == XMLSTREAM_EV_STREAM_CLOSE) {
			p->closed_seen = 1;
			return t;
		}
		if (t == XMLSTREAM_EV_ERROR) {
			p->parse_failed = 1;
			snprintf(p->ev.cond, sizeof(p->ev.cond), "%s", stream_error_name(ev.cond));
			return t;
		}
		sf_copy_str(p->ev.name, sizeof(p->ev.name), &ev.name);
		sf_copy_str(p->ev.ns, sizeof(p->ev.ns), &ev.ns);
		sf_copy_str(p->ev.from, sizeof(p->ev.from), &ev.from);
		sf_copy_str(p->ev.to, sizeof(p->ev.to), &ev.to);
		sf_copy_str(p->ev.id, sizeof(p->ev.id), &ev.id);
		sf_copy_str(p->ev.stype, sizeof(p->ev.stype), &ev.stanza_type);
		p->ev.raw = malloc(ev.raw.len + 1);
		if (p->ev.raw != NULL) {
			memcpy(p->ev.raw, ev.raw.p, ev.raw.len);
			p->ev.raw[ev.raw.len] = '\0';
			p->ev.raw_len = ev.raw.len;
			if (strcmp(p->ev.name, "error") == 0 &&
			    strcmp(p->ev.ns, XMLSTREAM_NS_STREAMS) == 0) {
				sf_first_child(p->ev.raw, p->ev.raw_len, NULL, p->ev.cond,
				    sizeof(p->ev.cond));
			} else if (strcmp(p->ev.stype, "error") == 0) {
				sf_first_child(p->ev.raw, p->ev.raw_len, "error", p->ev.cond,
				    sizeof(p->ev.cond));
			}
		}
		if (strcmp(p->ev.stype, "error") == 0) {
			/* The <error type='...'/> of the stanza error. */
			const char *e = p->ev.raw != NULL ? strstr(p->ev.raw, "<error type='") : NULL;

			if (e != NULL) {
				size_t k = 0;

				e += strlen("<error type='");
				while (e[k] != '\0' && e[k] != '\'' && k + 1 < sizeof(p->ev.error_type))
					k++;
				memcpy(p->ev.error_type, e, k);
				p->ev.error_type[k] = '\0';
			}
		}
		return t;
	}
}

enum xmlstream_event_type
sf_peer_next(struct sf_peer *p)
{
	enum xmlstream_event_type t;
	int i;

	for (i = 0; i < SF_TURNS_MAX; i++) {
		if (p->parse_failed)
			return XMLSTREAM_EV_ERROR;
		t = sf_peer_poll(p);
		if (t != XMLSTREAM_EV_NONE)
			return t;
		if (uv_run(p->sf->loop, UV_RUN_NOWAIT) == 0 && i > 2) {
			/* Nothing active: one more poll and give up. */
			t = sf_peer_poll(p);
			if (t == XMLSTREAM_EV_NONE)
				sf_event_clear(&p->ev);
			return t;
		}
	}
	sf_event_clear(&p->ev);
	return XMLSTREAM_EV_NONE;
}

static const char *
sf_event_type_name(enum xmlstream_event_type t)
{
	switch (t) {
	case XMLSTREAM_EV_NONE: return "nothing";
	case XMLSTREAM_EV_STREAM_OPEN: return "a stream header";
	case XMLSTREAM_EV_ELEMENT: return "an element";
	case XMLSTREAM_EV_STREAM_CLOSE: return "the stream's end";
	case XMLSTREAM_EV_ERROR: return "bytes our tokenizer refused";
	}
	return "?";
}

int
sf_peer_expect(struct sf_peer *p, const char *name, const char *ns)
{
	enum xmlstream_event_type t = sf_peer_next(p);

	if (t == XMLSTREAM_EV_ELEMENT && strcmp(p->ev.name, name) == 0 &&
	    (ns == NULL || strcmp(p->ev.ns, ns) == 0))
		return 0;
	sf_errf(p->sf, "peer %d: expected <%s/>%s%s, got %s %s (%s)", p->index, name,
	    ns ? " in " : "", ns ? ns : "", sf_event_type_name(t), p->ev.name,
	    p->ev.raw != NULL ? p->ev.raw : p->ev.cond);
	return -1;
}

int
sf_peer_expect_stream_error(struct sf_peer *p, const char *cond)
{
	if (sf_peer_expect(p, "error", XMLSTREAM_NS_STREAMS) < 0)
		return -1;
	if (strcmp(p->ev.cond, cond) != 0) {
		sf_errf(p->sf, "peer %d: expected stream error %s, got %s", p->index, cond, p->ev.cond);
		return -1;
	}
	return sf_peer_expect_closed(p);
}

int
sf_peer_expect_closed(struct sf_peer *p)
{
	enum xmlstream_event_type t;
	int i;

	if (!p->closed_seen) {
		t = sf_peer_next(p);
		if (t != XMLSTREAM_EV_STREAM_CLOSE) {
			sf_errf(p->sf, "peer %d: expected the stream's end, got %s %s", p->index,
			    sf_event_type_name(t), p->ev.name);
			return -1;
		}
	}
	for (i = 0; i < SF_TURNS_MAX && !sf_peer_closed(p); i++)
		uv_run(p->sf->loop, UV_RUN_NOWAIT);
	if (!sf_peer_closed(p)) {
		sf_errf(p->sf, "peer %d: the stream ended but the connection stays open", p->index);
		return -1;
	}
	return 0;
}

/* --- the loop ------------------------------------------------------------ */

struct sf_walk {
	size_t n, want;
	uv_timer_t *found;
	char *out;
	size_t cap, used;
};

static void
sf_walk_timers(uv_handle_t *h, void *arg)
{
	struct sf_walk *w = arg;

	if (h->type != UV_TIMER || !uv_is_active(h) || uv_is_closing(h))
		return;
	if (w->n == w->want)
		w->found = (uv_timer_t *)h;
	w->n++;
}

size_t
sf_timers_active(struct sf *sf)
{
	struct sf_walk w = { .want = (size_t)-1 };

	uv_walk(sf->loop, sf_walk_timers, &w);
	return w.n;
}

/* Is anything due now: an idle or check handle (the memory pipe's
 * deliveries, s2s_out's flush), a timer due at once? */
static void
sf_walk_due(uv_handle_t *h, void *arg)
{
	struct sf_walk *w = arg;

	if (!uv_is_active(h) || uv_is_closing(h))
		return;
	if (h->type == UV_IDLE || h->type == UV_CHECK || h->type == UV_PREPARE ||
	    (h->type == UV_TIMER && uv_timer_get_due_in((uv_timer_t *)h) == 0))
		w->n++;
}

void
sf_settle(struct sf *sf)
{
	struct sf_walk w;
	int i;

	for (i = 0; i < SF_TURNS_MAX; i++) {
		memset(&w, 0, sizeof(w));
		uv_walk(sf->loop, sf_walk_due, &w);
		/* Closing handles are finished by the next turn too. */
		if (w.n == 0 && i > 0 && sf->loop->closing_handles == NULL)
			return;
		uv_run(sf->loop, UV_RUN_NOWAIT);
	}
}

int
sf_fire_timer(struct sf *sf, size_t n)
{
	struct sf_walk w = { .want = n };
	uv_timer_t *t;

	uv_walk(sf->loop, sf_walk_timers, &w);
	t = w.found;
	if (t == NULL)
		return -1;
	/* What uv__run_timers does with an expired timer: stop it, re-arm
	 * it if it repeats, then call back. */
	uv_timer_stop(t);
	uv_timer_again(t);
	t->timer_cb(t);
	return 0;
}

/*
 * Virtual time for sf_advance.  The loop's clock is real: every
 * sf_settle turn moves it, by whole milliseconds when the machine is
 * busy.  So a timer's deadline is kept by its absolute due time in loop
 * milliseconds (libuv's timer->timeout), never re-read as "due in",
 * which shrinks as the real clock moves: read again after a busy settle,
 * a 30 s deadline armed before the call looked like 29 983 ms from a
 * virtual time already 1 000 ms on, past the window, and was skipped.
 */
#define SF_DUE_MAX 64

struct sf_due {
	uv_timer_t *t[SF_DUE_MAX];
	uint64_t timeout[SF_DUE_MAX];	/* absolute, loop milliseconds */
	uint64_t at[SF_DUE_MAX];	/* virtual, since the call */
	size_t n;
};

struct sf_due_walk {
	const struct sf_due *prev;	/* what the walk before saw */
	struct sf_due cur;		/* the active timers now */
	uint64_t now, armed_at;		/* virtual now; loop time it maps to */
};

static void
sf_walk_virtual_due(uv_handle_t *h, void *arg)
{
	struct sf_due_walk *w = arg;
	struct sf_due *c = &w->cur;
	uv_timer_t *t = (uv_timer_t *)h;
	size_t i;

	if (h->type != UV_TIMER || !uv_is_active(h) || uv_is_closing(h) || c->n == SF_DUE_MAX)
		return;
	c->t[c->n] = t;
	c->timeout[c->n] = t->timeout;
	/* New, or re-armed since the walk before: armed at the virtual
	 * now, whose loop time is armed_at (what the fired callback saw). */
	c->at[c->n] = w->now + (t->timeout > w->armed_at ? t->timeout - w->armed_at : 0);
	for (i = 0; i < w->prev->n; i++)
		if (w->prev->t[i] == t && w->prev->timeout[i] == t->timeout)
			c->at[c->n] = w->prev->at[i];	/* not re-armed: as seen */
	c->n++;
}

size_t
sf_advance(struct sf *sf, uint64_t ms)
{
	struct sf_due known;
	struct sf_due_walk w;
	size_t i, best, fired = 0;
	uv_timer_t *t;

	/* One at a time, the earliest first, walking again after each: a
	 * callback may close (and free) other timers or start new ones
	 * (pointers are compared, never followed). */
	memset(&known, 0, sizeof(known));
	memset(&w, 0, sizeof(w));
	w.armed_at = uv_now(sf->loop);
	while (fired < SF_ADVANCE_MAX) {
		w.prev = &known;
		memset(&w.cur, 0, sizeof(w.cur));
		uv_walk(sf->loop, sf_walk_virtual_due, &w);
		known = w.cur;
		best = known.n;
		for (i = 0; i < known.n; i++)
			if (known.at[i] <= ms && (best == known.n || known.at[i] < known.at[best]))
				best = i;
		if (best == known.n)
			break;
		t = known.t[best];
		if (known.at[best] > w.now)
			w.now = known.at[best];
		known.t[best] = NULL;	/* fired: read afresh when re-armed */
		/* What uv__run_timers does with an expired timer: stop it,
		 * re-arm it if it repeats (from the loop's now), then call
		 * back; what they arm is due from w.now. */
		w.armed_at = uv_now(sf->loop);
		uv_timer_stop(t);
		uv_timer_again(t);
		t->timer_cb(t);
		fired++;
		sf_settle(sf);
	}
	return fired;
}

size_t
sf_fire_all_timers(struct sf *sf, size_t max)
{
	size_t fired = 0;

	while (fired < max && sf_fire_timer(sf, 0) == 0) {
		fired++;
		sf_settle(sf);
	}
	return fired;
}

static const char *
sf_handle_type_name(uv_handle_type t)
{
	switch (t) {
#define XX(uc, lc) case UV_##uc: return #lc;
	UV_HANDLE_TYPE_MAP(XX)
#undef XX
	default: return "handle";
	}
}

static void
sf_walk_open(uv_handle_t *h, void *arg)
{
	struct sf_walk *w = arg;
	int k;

	if (uv_is_closing(h))
		return;
	w->n++;
	if (w->used < w->cap) {
		k = snprintf(w->out + w->used, w->cap - w->used, "%s%s%s", w->used ? ", " : "",
		    sf_handle_type_name(h->type), uv_is_active(h) ? " (active)" : "");
		if (k > 0)
			w->used += (size_t)k;
		if (w->used >= w->cap)
			w->used = w->cap - 1;
	}
}

size_t
sf_open_handles(uv_loop_t *loop, char *out, size_t cap)
{
	struct sf_walk w = { .out = out, .cap = cap };

	if (cap > 0)
		out[0] = '\0';
	uv_walk(loop, sf_walk_open, &w);
	return w.n;
}

/* --- life ---------------------------------------------------------------- */

/* The common part of both ways in: cfg and edge are set. */
static int
sf_init_common(struct sf *sf)
{
	prefix_count_init(&sf->edge->peer_prefixes);
	sf->edge->loop = sf->loop;
	(void)dialback_secret_set(&sf->edge->dialback, SF_SECRET, strlen(SF_SECRET));
	sf->dialer.ops = &sf_dialer_ops;
	sf->dialer.impl = sf;
	sf_install_dialer(sf);
	sf->external.edge = sf->edge;
	sf->external.kind = LISTENER_STARTTLS;
	snprintf(sf->external.addr, sizeof(sf->external.addr), "memory:5269");
	sf->internal.edge = sf->edge;
	sf->internal.kind = LISTENER_INTERNAL;
	snprintf(sf->internal.addr, sizeof(sf->internal.addr), "memory:5270");
	/* Quiet unless asked (SF_LOG=1 prints every event with its fields). */
	log_setup(LOG_ERROR, LOG_FORMAT_AUTO);
	sf->log_stderr = getenv("SF_LOG") != NULL;
	log_set_observer(sf_observe, sf);
	return 0;
}

/* loop: the caller's (kept open across fixtures), or NULL: our own. */
static int
sf_loop_init(struct sf *sf, uv_loop_t *loop)
{
	memset(sf, 0, sizeof(*sf));
	sf->default_step.kind = SF_DIAL_FAIL;
	sf->default_step.err = DNS_ERR_NXDOMAIN;
	if (loop != NULL) {
		sf->loop = loop;
		return 0;
	}
	sf->loop = &sf->own_loop;
	if (uv_loop_init(sf->loop) != 0) {
		sf_errf(sf, "uv_loop_init failed");
		return -1;
	}
	return 0;
}

int
sf_init(struct sf *sf, const char *json)
{
	char err[CONFIG_ERR_MAX] = "";

	if (sf_loop_init(sf, NULL) < 0)
		return -1;
	sf->edge = calloc(1, sizeof(*sf->edge));
	if (sf->edge == NULL) {
		uv_loop_close(sf->loop);
		sf_errf(sf, "out of memory");
		return -1;
	}
	sf->edge->cfg = config_parse("session.json", json, strlen(json), 0, err, sizeof(err));
	if (sf->edge->cfg == NULL) {
		sf_errf(sf, "config: %s", err);
		free(sf->edge);
		sf->edge = NULL;
		uv_loop_close(sf->loop);
		return -1;
	}
	return sf_init_common(sf);
}

int
sf_init_borrowed(struct sf *sf, struct config *cfg, struct edge *storage, uv_loop_t *loop)
{
	if (sf_loop_init(sf, loop) < 0)
		return -1;
	memset(storage, 0, sizeof(*storage));
	sf->edge = storage;
	sf->edge->cfg = cfg;
	sf->borrowed = 1;
	return sf_init_common(sf);
}

int
sf_reload(struct sf *sf, const char *json)
{
	char err[CONFIG_ERR_MAX] = "";
	struct config *next;

	if (sf->borrowed) {
		sf_errf(sf, "a borrowed configuration is the caller's to replace");
		return -1;
	}
	next = config_parse("reload.json", json, strlen(json), 0, err, sizeof(err));
	if (next == NULL) {
		sf_errf(sf, "reload: %s", err);
		return -1;
	}
	edge_config_replace(sf->edge, next);	/* as edge_reload does */
	s2s_out_policy_reloaded(sf->edge);
	return 0;
}

int
sf_blocklist_reload(struct sf *sf, const char *text)
{
	char path[] = "/tmp/xe-sf-blocklist-XXXXXX", err[CONFIG_ERR_MAX] = "";
	size_t len = strlen(text);
	int fd, rc;

	if ((fd = mkstemp(path)) < 0) {
		sf_errf(sf, "blocklist: cannot make a file");
		return -1;
	}
	if (write(fd, text, len) != (ssize_t)len) {
		close(fd);
		unlink(path);
		sf_errf(sf, "blocklist: cannot write %s", path);
		return -1;
	}
	close(fd);
	snprintf(sf->edge->cfg->blocklist.file, sizeof(sf->edge->cfg->blocklist.file), "%s", path);
	rc = blocklist_apply(sf->edge, 1, err, sizeof(err));
	unlink(path);
	if (rc < 0)
		sf_errf(sf, "blocklist: %s", err);
	return rc;
}

void
sf_shutdown(struct sf *sf)
{
	struct edge *edge = sf->edge;
	struct s2s_in *s, *next;
	struct s2s_out *o, *onext;
	int pass;

	if (edge->shutting_down)
		return;
	edge->shutting_down = 1;
	/* daemon.c's last step (no new stream from here on). */
	edge->shutdown_phase = EDGE_SHUTDOWN_CLOSE;
	edge->shutting_down_since = (int64_t)uv_now(edge->loop);
	for (s = edge->streams; s != NULL; s = next) {
		next = s2s_in_next(s);
		s2s_in_shutdown(s);
	}
	/* As daemon.c: twice, since bouncing may have started streams. */
	for (pass = 0; pass < 2; pass++)
		for (o = edge->out_streams; o != NULL; o = onext) {
			onext = s2s_out_next(o);
			s2s_out_shutdown(o);
		}
}

int
sf_finish(struct sf *sf)
{
	struct sf_peer *p, *pn;
	char open[256];
	int rc = 0, i;

	/* Whatever a test left running ends as the daemon would end it;
	 * closing takes the flush deadline, fired here. */
	for (i = 0; i < 64 && (sf->edge->streams != NULL || sf->edge->out_streams != NULL); i++) {
		sf_shutdown(sf);
		sf_settle(sf);
		if (sf->edge->streams != NULL || sf->edge->out_streams != NULL)
			sf_fire_all_timers(sf, 64);
	}
	for (p = sf->peers; p != NULL; p = pn) {
		pn = p->next;
		s2s_pipe_mem_release(p->pipe);
		if (p->tls != NULL)
			tls_conn_free(p->tls);
		free(p->plain);
		xmlstream_free(p->xs);
		sf_event_clear(&p->ev);
		free(p);
	}
	sf->peers = NULL;
	for (i = 0; i < 64 && uv_run(sf->loop, UV_RUN_NOWAIT) != 0; i++)
		sf_fire_all_timers(sf, 64);
	if (sf->edge->stream_count != 0 || sf->edge->streams != NULL) {
		sf_errf(sf, "%zu inbound streams left", sf->edge->stream_count);
		rc = -1;
	} else if (sf->edge->out_streams != NULL || sf->edge->out_stream_count != 0) {
		sf_errf(sf, "%zu outgoing streams left", sf->edge->out_stream_count);
		rc = -1;
	} else if (sf->edge->streams_unauthenticated != 0) {
		sf_errf(sf, "%zu streams still counted unauthenticated", sf->edge->streams_unauthenticated);
		rc = -1;
	} else if (sf->dials_live != 0) {
		sf_errf(sf, "%zu dials not freed", sf->dials_live);
		rc = -1;
	} else if (sf_open_handles(sf->loop, open, sizeof(open)) != 0) {
		sf_errf(sf, "handles left open on the loop: %s", open);
		rc = -1;
	} else if (sf->loop->active_reqs.count != 0) {
		sf_errf(sf, "%u requests left active on the loop", sf->loop->active_reqs.count);
		rc = -1;
	}
	/* A loop of our own is closed, which must succeed; a borrowed one
	 * was checked for what uv_loop_close checks (handles, requests) and
	 * goes on to the next fixture. */
	if (sf->loop == &sf->own_loop && uv_loop_close(sf->loop) != 0 && rc == 0) {
		sf_errf(sf, "uv_loop_close: %s", "busy");
		rc = -1;
	}
	log_set_observer(NULL, NULL);
	prefix_count_clear(&sf->edge->peer_prefixes);
	blocklist_free(sf->edge->blocklist);	/* sf_blocklist_reload's */
	sf->edge->blocklist = NULL;
	if (!sf->borrowed) {
		config_free(sf->edge->cfg);
		free(sf->edge);
	}
	sf->edge = NULL;
	return rc;
}

int
sf_dialback_key(struct sf *sf, const char *receiving, const char *originating,
    const char *stream_id, char *out, size_t cap)
{
	if (cap < DIALBACK_KEY_HEX_LEN + 1)
		return -1;
	return dialback_key_make(&sf->edge->dialback, receiving, originating, stream_id, out);
}
