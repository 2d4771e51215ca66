/*
 * dialback_verify.c - the Receiving Server's verification connection of
 * Server Dialback (XEP-0220 §2.3), see dialback_verify.h.
 *
 *   DBV_CONNECTING     dns_connect_start(remote): SRV, fallback, addresses
 *   DBV_WAIT_FEATURES  plaintext stream open, waiting for <starttls/>
 *   DBV_WAIT_PROCEED   <starttls/> sent (RFC 6120 §5.4.2)
 *   DBV_TLS            handshake (or Direct TLS from the first byte)
 *   DBV_WAIT_TLS_FEATURES  stream restarted inside TLS
 *   DBV_WAIT_VERIFY    <db:verify/> sent, waiting for its answer
 *   DBV_DONE           the callback has run; handles are closing
 *
 * Every byte from the remote goes through the stream tokenizer.  The
 * remote's certificate is checked and logged but, as dialback itself is
 * the authentication here (XEP-0220 §2.3 over TLS), not required valid.
 */
#include "dialback_verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"
#include "domain.h"
#include "log.h"
#include "netaddr.h"
#include "stream_error.h"
#include "tls.h"
#include "xmlstream.h"

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_DIALBACK "jabber:server:dialback"

enum dbv_state {
	DBV_CONNECTING,
	DBV_WAIT_FEATURES,
	DBV_WAIT_PROCEED,
	DBV_TLS,
	DBV_WAIT_TLS_FEATURES,
	DBV_WAIT_VERIFY,
	DBV_DONE,
};

static const char *const dbv_state_names[] = {
	[DBV_CONNECTING] = "connecting",
	[DBV_WAIT_FEATURES] = "wait_features",
	[DBV_WAIT_PROCEED] = "wait_proceed",
	[DBV_TLS] = "tls",
	[DBV_WAIT_TLS_FEATURES] = "wait_tls_features",
	[DBV_WAIT_VERIFY] = "wait_verify",
	[DBV_DONE] = "done",
};

struct dialback_verify {
	struct edge *edge;
	enum dbv_state state;
	struct dns_connect *dc;
	uv_tcp_t *tcp;			/* from the connect sequence; ours */
	uv_timer_t timer;
	struct xmlstream *xs;
	struct tls_conn *tls;
	int direct_tls;
	dialback_verify_cb cb;
	void *arg;
	char local[DOMAIN_NAME_MAX + 1];
	char remote[DOMAIN_NAME_MAX + 1];
	char stream_id[128];
	char key[DIALBACK_KEY_MAX + 1];
	char peer[80];
};

struct dbv_write {
	uv_write_t req;
	char data[];
};

static void
dbv_enter_state(struct dialback_verify *v, enum dbv_state next)
{
	log_event(LOG_DEBUG, "dialback.verify_state", "remote", v->remote,
	    "from", dbv_state_names[v->state], "to", dbv_state_names[next], NULL);
	v->state = next;
}

static void
dbv_on_timer_closed(uv_handle_t *h)
{
	struct dialback_verify *v = h->data;

	if (v->tls != NULL)
		tls_conn_free(v->tls);
	xmlstream_free(v->xs);
	free(v);
}

/* Ends the check: reports (unless cancelled) and releases everything. */
static void
dbv_finish(struct dialback_verify *v, enum dialback_verdict verdict, int timeout,
    const char *reason)
{
	dialback_verify_cb cb = v->cb;

	if (v->state == DBV_DONE)
		return;
	dbv_enter_state(v, DBV_DONE);
	v->cb = NULL;
	log_event(verdict == DIALBACK_ERROR ? LOG_WARN : LOG_INFO, "dialback.verify",
	    "remote", v->remote, "peer", v->peer[0] ? v->peer : NULL,
	    "result", verdict == DIALBACK_VALID ? "valid" :
	    verdict == DIALBACK_INVALID ? "invalid" : "error", "reason", reason, NULL);
	if (cb != NULL)
		cb(verdict, timeout, reason, v->arg);
	if (v->dc != NULL) {
		dns_connect_free(v->dc);
		v->dc = NULL;
	}
	if (v->tcp != NULL) {
		uv_read_stop((uv_stream_t *)v->tcp);
		dns_tcp_close_free(v->tcp);
		v->tcp = NULL;
	}
	uv_timer_stop(&v->timer);
	uv_close((uv_handle_t *)&v->timer, dbv_on_timer_closed);
}

static void
dbv_on_write(uv_write_t *req, int status)
{
	(void)status;	/* a failed write shows up as a read error */
	free(req);
}

static void
dbv_send_raw(struct dialback_verify *v, const void *data, size_t len)
{
	struct dbv_write *w;
	uv_buf_t buf;

	if (v->tcp == NULL)
		return;
	w = malloc(sizeof(*w) + len);
	if (w == NULL) {
		dbv_finish(v, DIALBACK_ERROR, 0, "out of memory");
		return;
	}
	memcpy(w->data, data, len);
	buf = uv_buf_init(w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)v->tcp, &buf, 1, dbv_on_write) != 0) {
		free(w);
		dbv_finish(v, DIALBACK_ERROR, 0, "write failed");
	}
}

static void
dbv_send(struct dialback_verify *v, const char *s)
{
	if (v->tls != NULL)
		tls_conn_write(v->tls, (const uint8_t *)s, strlen(s));
	else
		dbv_send_raw(v, s, strlen(s));
}

static void
dbv_send_header(struct dialback_verify *v)
{
	char hdr[1024];

	/* XEP-0220 §2.1: xmlns:db announces dialback. */
	snprintf(hdr, sizeof(hdr), "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
	    "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='" NS_DIALBACK "' "
	    "from='%s' to='%s' version='1.0'>", v->local, v->remote);
	dbv_send(v, hdr);
}

static int
str_is(const struct xmlstream_str *s, const char *lit)
{
	size_t n = strlen(lit);

	return s->p != NULL && s->len == n && memcmp(s->p, lit, n) == 0;
}

static int
raw_contains(const struct xmlstream_str *raw, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; i + n <= raw->len; i++)
		if (memcmp(raw->p + i, needle, n) == 0)
			return 1;
	return 0;
}

static void
dbv_send_verify(struct dialback_verify *v)
{
	char out[DIALBACK_KEY_MAX + 1024];

	/* Key and id were checked to be plain tokens: no escaping needed. */
	snprintf(out, sizeof(out), "<db:verify from='%s' to='%s' id='%s'>%s</db:verify>",
	    v->local, v->remote, v->stream_id, v->key);
	dbv_send(v, out);
	dbv_enter_state(v, DBV_WAIT_VERIFY);
}

static int dbv_tls_begin(struct dialback_verify *v);

static void
dbv_on_element(struct dialback_verify *v, const struct xmlstream_event *ev)
{
	switch (v->state) {
	case DBV_WAIT_FEATURES:
		if (!str_is(&ev->name, "features"))
			break;
		/* A features element offering <starttls/>; without it the
		 * authoritative server cannot be asked under TLS. */
		if (!raw_contains(&ev->raw, NS_TLS)) {
			dbv_finish(v, DIALBACK_ERROR, 0, "the authoritative server offers no STARTTLS");
			return;
		}
		dbv_send(v, "<starttls xmlns='" NS_TLS "'/>");
		dbv_enter_state(v, DBV_WAIT_PROCEED);
		return;
	case DBV_WAIT_PROCEED:
		if (str_is(&ev->name, "proceed") && str_is(&ev->ns, NS_TLS)) {
			if (xmlstream_buffered(v->xs) > 0) {
				dbv_finish(v, DIALBACK_ERROR, 0, "data after <proceed/>");
				return;
			}
			if (dbv_tls_begin(v) < 0)
				dbv_finish(v, DIALBACK_ERROR, 0, "TLS setup failed");
			return;
		}
		dbv_finish(v, DIALBACK_ERROR, 0, "STARTTLS refused");
		return;
	case DBV_WAIT_TLS_FEATURES:
		if (str_is(&ev->name, "features")) {
			dbv_send_verify(v);
			return;
		}
		break;
	case DBV_WAIT_VERIFY:
		if (str_is(&ev->name, "verify") && str_is(&ev->ns, NS_DIALBACK)) {
			/* XEP-0220 §2.3.2: the answer names our id and both
			 * domains the other way round. */
			if (!str_is(&ev->id, v->stream_id) || !str_is(&ev->from, v->remote) ||
			    !str_is(&ev->to, v->local)) {
				dbv_finish(v, DIALBACK_ERROR, 0, "answer does not match the request");
				return;
			}
			if (str_is(&ev->stanza_type, "valid"))
				dbv_finish(v, DIALBACK_VALID, 0, "the authoritative server confirmed the key");
			else if (str_is(&ev->stanza_type, "invalid"))
				dbv_finish(v, DIALBACK_INVALID, 0, "the authoritative server denied the key");
			else
				dbv_finish(v, DIALBACK_ERROR, 0, "the authoritative server answered with an error");
			return;
		}
		break;
	default:
		break;
	}
	/* Anything else at this point (e.g. features we do not use) is
	 * ignored; the deadline bounds a peer that never answers. */
}

static void
dbv_drain(struct dialback_verify *v)
{
	struct xmlstream_event ev;
	enum xmlstream_event_type t;

	while (v->state != DBV_DONE && v->state != DBV_TLS &&
	    (t = xmlstream_next(v->xs, &ev)) != XMLSTREAM_EV_NONE) {
		switch (t) {
		case XMLSTREAM_EV_ELEMENT:
			dbv_on_element(v, &ev);
			break;
		case XMLSTREAM_EV_STREAM_CLOSE:
			dbv_finish(v, DIALBACK_ERROR, 0, "the authoritative server closed the stream");
			break;
		case XMLSTREAM_EV_ERROR:
			dbv_finish(v, DIALBACK_ERROR, 0, ev.text ? ev.text : "malformed stream");
			break;
		default:
			break;	/* STREAM_OPEN: features follow */
		}
	}
}

static void
dbv_tls_on_ciphertext(void *ud, const uint8_t *data, size_t len)
{
	dbv_send_raw(ud, data, len);
}

static void
dbv_tls_on_handshake(void *ud, const struct tls_verify_result *r)
{
	struct dialback_verify *v = ud;

	log_event(LOG_DEBUG, "dialback.verify_tls", "remote", v->remote,
	    "certificate", tls_verify_status_str(r->status), NULL);
	xmlstream_restart(v->xs);
	dbv_enter_state(v, DBV_WAIT_TLS_FEATURES);
	dbv_send_header(v);
}

static void
dbv_tls_on_plaintext(void *ud, const uint8_t *data, size_t len)
{
	struct dialback_verify *v = ud;

	while (len > 0 && v->state != DBV_DONE) {
		size_t took = xmlstream_feed(v->xs, data, len);

		data += took;
		len -= took;
		dbv_drain(v);
		if (took == 0 && len > 0) {
			dbv_finish(v, DIALBACK_ERROR, 0, "oversized answer");
			return;
		}
	}
}

static void
dbv_tls_on_close_notify(void *ud)
{
	dbv_finish(ud, DIALBACK_ERROR, 0, "the authoritative server closed TLS");
}

static void
dbv_tls_on_error(void *ud, const char *reason)
{
	dbv_finish(ud, DIALBACK_ERROR, 0, reason);
}

static const struct tls_conn_callbacks dbv_tls_callbacks = {
	.on_ciphertext = dbv_tls_on_ciphertext,
	.on_handshake = dbv_tls_on_handshake,
	.on_plaintext = dbv_tls_on_plaintext,
	.on_close_notify = dbv_tls_on_close_notify,
	.on_error = dbv_tls_on_error,
};

static int
dbv_tls_begin(struct dialback_verify *v)
{
	struct tls_conn_params params = {
		.role = TLS_ROLE_EXTERNAL_CLIENT,
		.direct_tls = v->direct_tls,
		.peer_domain = v->remote,
		.local_domain = v->local,
		.peer_addr = v->peer,
	};
	char err[256];

	v->tls = tls_conn_new(v->edge->certs, &params, &dbv_tls_callbacks, v, err, sizeof(err));
	if (v->tls == NULL)
		return -1;
	dbv_enter_state(v, DBV_TLS);
	return tls_conn_start(v->tls);
}

static void
dbv_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct dialback_verify *v = h->data;
	void *p = NULL;
	size_t n = 0;

	(void)suggested;
	if (v->tls != NULL) {
		*buf = uv_buf_init((char *)v->edge->read_buf, sizeof(v->edge->read_buf));
		return;
	}
	if (xmlstream_reserve(v->xs, &p, &n) < 0)
		n = 0;
	*buf = uv_buf_init(p, (unsigned)n);
}

static void
dbv_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct dialback_verify *v = stream->data;

	if (nread < 0) {
		dbv_finish(v, DIALBACK_ERROR, 0, nread == UV_EOF ?
		    "the authoritative server closed the connection" : uv_strerror((int)nread));
		return;
	}
	if (nread == 0)
		return;
	if (v->tls != NULL) {
		tls_conn_feed(v->tls, (const uint8_t *)buf->base, (size_t)nread);
	} else {
		xmlstream_commit(v->xs, (size_t)nread);
		dbv_drain(v);
	}
}

static void
dbv_on_connect(struct dns_connect *dc, enum dns_error err, uv_tcp_t *tcp,
    const struct dns_candidate *cand, void *arg)
{
	struct dialback_verify *v = arg;

	(void)dc;
	if (err != DNS_OK) {
		/* The last callback; dbv_finish frees the sequence. */
		dbv_finish(v, DIALBACK_ERROR, dns_error_is_timeout(err), dns_error_str(err));
		return;
	}
	/* One connection is enough: stop the sequence, keep the handle. */
	dns_connect_free(v->dc);
	v->dc = NULL;
	v->tcp = tcp;
	tcp->data = v;
	snprintf(v->peer, sizeof(v->peer), "%s:%u", cand->addr_str, cand->port);
	v->direct_tls = cand->tls == DNS_TLS_DIRECT;
	if (uv_read_start((uv_stream_t *)tcp, dbv_on_alloc, dbv_on_read) != 0) {
		dbv_finish(v, DIALBACK_ERROR, 0, "read failed");
		return;
	}
	if (v->direct_tls) {
		if (dbv_tls_begin(v) < 0)
			dbv_finish(v, DIALBACK_ERROR, 0, "TLS setup failed");
		return;
	}
	dbv_enter_state(v, DBV_WAIT_FEATURES);
	dbv_send_header(v);
}

static void
dbv_on_timeout(uv_timer_t *t)
{
	dbv_finish(t->data, DIALBACK_ERROR, 1, "no answer in time");
}

/* Keys and stream ids travel verbatim into XML we write: accept only
 * plain tokens (hex keys per XEP-0185, ids of letters, digits, -_.=+/). */
static int
dbv_is_token(const char *s, size_t max)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '=' || c == '+' || c == '/'))
			return 0;
	}
	return 1;
}

struct dialback_verify *
dialback_verify_start(struct edge *edge, const char *local, const char *remote,
    const char *stream_id, const char *key, dialback_verify_cb cb, void *arg,
    char *err, size_t errlen)
{
	struct dialback_verify *v;
	enum dns_error de;

	if (!dbv_is_token(key, DIALBACK_KEY_MAX) || !dbv_is_token(stream_id, 127)) {
		snprintf(err, errlen, "malformed dialback key or stream id");
		return NULL;
	}
	if (edge->dns == NULL) {
		snprintf(err, errlen, "no resolver");
		return NULL;
	}
	v = calloc(1, sizeof(*v));
	if (v == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	v->edge = edge;
	v->cb = cb;
	v->arg = arg;
	snprintf(v->local, sizeof(v->local), "%s", local);
	snprintf(v->remote, sizeof(v->remote), "%s", remote);
	snprintf(v->stream_id, sizeof(v->stream_id), "%s", stream_id);
	snprintf(v->key, sizeof(v->key), "%s", key);
	v->xs = xmlstream_new(NULL, XMLSTREAM_NS_SERVER);
	if (v->xs == NULL) {
		free(v);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	uv_timer_init(edge->loop, &v->timer);
	v->timer.data = v;
	/* A partner with a static target is asked there, like every other
	 * connection to it. */
	{
		const struct config_partner *p = config_policy_for(edge->cfg, remote);
		struct sockaddr_storage ss;
		char why[128];

		if (p->connect[0] != '\0' && netaddr_parse(p->connect, &ss, why, sizeof(why)) == 0)
			de = dns_connect_start_static(edge->dns, remote, (struct sockaddr *)&ss,
			    p->connect_direct_tls ? DNS_TLS_DIRECT : DNS_TLS_STARTTLS, dbv_on_connect, v, &v->dc);
		else
			de = dns_connect_start(edge->dns, remote, dbv_on_connect, v, &v->dc);
	}
	if (de != DNS_OK) {
		snprintf(err, errlen, "%s", dns_error_str(de));
		v->dc = NULL;
		v->cb = NULL;
		dbv_finish(v, DIALBACK_ERROR, 0, dns_error_str(de));
		return NULL;
	}
	uv_timer_start(&v->timer, dbv_on_timeout, DIALBACK_VERIFY_TIMEOUT_MS, 0);
	log_event(LOG_INFO, "dialback.verify_start", "remote", remote, "local", local, NULL);
	return v;
}

void
dialback_verify_cancel(struct dialback_verify *v)
{
	v->cb = NULL;
	dbv_finish(v, DIALBACK_ERROR, 0, "cancelled");
}
