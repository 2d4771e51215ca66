/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_conn.c - the one stream transport (see s2s_conn.h for the rules).
 *
 * Bytes flow:
 *   read:  pipe -> [TLS] -> tokenizer -> events to the session
 *   write: session -> [TLS records] -> pipe, counted until written
 *
 * Without TLS the pipe reads straight into the tokenizer's bounded buffer
 * (xmlstream_reserve: no copy).  With TLS, ciphertext lands in the loop's
 * one shared read buffer (64 KiB: several records per system call), and
 * every record in it is decrypted inside the read callback straight into
 * the tokenizer's buffer (tls_conn's plaintext_span), so an idle TLS
 * connection holds no read buffer of its own.  The tokenizer's buffer
 * keeps its high-water mark while the stream is busy and is trimmed once
 * it has been quiet for S2S_CONN_TRIM_QUIET_MS (no realloc per read).
 *
 * Output is gathered (issue 18, relay CPU): whatever the session sends
 * in one loop turn, stanza batches, XEP-0198 <r/> and <a/>, TLS records,
 * goes into the pipe's open write (TLS encrypts straight into it,
 * ciphertext_span), and the loop's one prepare handle (struct
 * s2s_conn_flusher: a list of the connections with output gathered)
 * submits it once per turn, just before the loop waits for I/O: one
 * write(2) per stream and turn instead of one per record.  The bound
 * (limits.send_queue_bytes) counts gathered bytes as queued ones.
 *
 * States: OPEN, CLOSING (our last bytes flushing: close_notify, the
 * half-close, at most S2S_CONN_FLUSH_MS) and CLOSED (handles closing; the
 * session's on_closed and the free follow from their callbacks).
 */
#include "s2s_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum s2s_conn_state {
	S2S_CONN_OPEN,
	S2S_CONN_CLOSING,
	S2S_CONN_CLOSED,
};

struct s2s_conn {
	struct s2s_conn_callbacks cb;
	void *ud;
	enum s2s_conn_state state;
	struct s2s_pipe *pipe;
	uv_timer_t timer;		/* the session's deadline, then the flush's */
	int handles_open;		/* pipe + timer to be closed */
	size_t gathered;		/* in the pipe's open write */
	/* On the flusher's list while output is gathered (flush_listed). */
	struct s2s_conn_flusher *flusher;
	struct s2s_conn *flush_prev, *flush_next;
	int flush_listed;
	/* The flusher when params gave none (probe, gateway check, tests). */
	struct s2s_conn_flusher own_flusher;
	uint64_t last_busy_ms;		/* last large read (trim) */
	uv_loop_t *loop;
	struct xmlstream *xs;
	struct tls_conn *tls;		/* NULL until s2s_conn_starttls */
	int tls_open;			/* handshake completed */
	struct tls_certstore *certs;
	uint8_t *shared_buf;
	size_t shared_len;
	size_t send_queue_max;
	size_t queued;			/* handed to the pipe, not written yet */
	int reading;
	int reads_restart_timer;
	/* Inside TLS, what the session sends while it handles the peer's
	 * header is held here (a buffer on s2s_conn_drain's stack) and
	 * leaves as one record: see s2s_conn_drain. */
	char *cork;
	size_t cork_len, cork_cap;
	char peer[S2S_CONN_PEER_MAX];
};

/* A read this large means a busy stream: its tokenizer buffer is kept
 * until reads have been small for S2S_CONN_TRIM_QUIET_MS. */
#define S2S_CONN_BUSY_READ 4096
#define S2S_CONN_TRIM_QUIET_MS 1000

static void s2s_conn_close_as(struct s2s_conn *c, const char *reason, int peer_gone, int flush);
static void s2s_conn_fail_input(struct s2s_conn *c, enum stream_error_cond cond, const char *text);

int
s2s_conn_is_closing(const struct s2s_conn *c)
{
	return c->state != S2S_CONN_OPEN;
}

/* --- output ------------------------------------------------------------ */

/* Submits the gathered output (the prepare handle, a full open write).
 * A failure marks the connection closing; nothing is freed here. */
static int
s2s_conn_flush_out(struct s2s_conn *c)
{
	size_t n = c->gathered;
	int rc;

	if (n == 0)
		return 0;
	c->gathered = 0;
	rc = c->pipe->ops->flush(c->pipe);
	if (rc != 0) {
		c->queued -= n;		/* dropped, never reported */
		s2s_conn_close_as(c, rc == UV_ENOMEM ? "out of memory" : "write failed", 0, 0);
		return -1;
	}
	return 0;
}

/* --- the loop's flusher ------------------------------------------------- */

static void
s2s_conn_flush_unlist(struct s2s_conn *c)
{
	struct s2s_conn_flusher *f = c->flusher;

	if (!c->flush_listed)
		return;
	if (c->flush_prev != NULL)
		c->flush_prev->flush_next = c->flush_next;
	else
		f->head = c->flush_next;
	if (c->flush_next != NULL)
		c->flush_next->flush_prev = c->flush_prev;
	c->flush_prev = c->flush_next = NULL;
	c->flush_listed = 0;
	if (f->head == NULL && f->prep != NULL)
		uv_prepare_stop(f->prep);
}

/* Just before the loop waits for I/O: every listed connection's output
 * goes out.  Each is taken off the list before its flush, and a flush
 * that fails closes only that connection (its on_closing may close or
 * send on others: those leave or join the list, which is read from its
 * head each time, so nothing closed is touched and nothing joined late
 * waits a turn).  Nothing is freed inside this callback: connections are
 * freed from their handles' close callbacks. */
static void
s2s_conn_flusher_on_prepare(uv_prepare_t *h)
{
	struct s2s_conn_flusher *f = h->data;
	struct s2s_conn *c;

	while ((c = f->head) != NULL) {
		s2s_conn_flush_unlist(c);
		if (c->state != S2S_CONN_CLOSED)
			(void)s2s_conn_flush_out(c);
	}
	if (f->prep != NULL)
		uv_prepare_stop(f->prep);
}

static void
s2s_conn_flusher_on_closed(uv_handle_t *h)
{
	free(h);
}

/* A connection starts using f: its handle exists while any does. */
static int
s2s_conn_flusher_attach(struct s2s_conn_flusher *f, uv_loop_t *loop)
{
	if (f->prep == NULL) {
		if ((f->prep = malloc(sizeof(*f->prep))) == NULL)
			return -1;
		uv_prepare_init(loop, f->prep);
		f->prep->data = f;
	}
	f->attached++;
	return 0;
}

/* The last connection gone closes the handle (freed in its close
 * callback: f itself may be freed before that, when it was the
 * connection's own).  A handle someone else closed already (the daemon's
 * last walk over the loop) is left to them. */
static void
s2s_conn_flusher_detach(struct s2s_conn_flusher *f)
{
	if (--f->attached > 0 || f->prep == NULL)
		return;
	if (!uv_is_closing((uv_handle_t *)f->prep))
		uv_close((uv_handle_t *)f->prep, s2s_conn_flusher_on_closed);
	f->prep = NULL;
	f->head = NULL;
}

/* c has output gathered: submitted by the flusher before the loop waits. */
static void
s2s_conn_flush_list(struct s2s_conn *c)
{
	struct s2s_conn_flusher *f = c->flusher;

	if (c->flush_listed)
		return;
	if (f->head == NULL)
		uv_prepare_start(f->prep, s2s_conn_flusher_on_prepare);
	c->flush_prev = NULL;
	c->flush_next = f->head;
	if (f->head != NULL)
		f->head->flush_prev = c;
	f->head = c;
	c->flush_listed = 1;
}

/* Room in the pipe's open write for up to want bytes (at least one),
 * bounded by send_queue_max: NULL once the connection is closing. */
static char *
s2s_conn_out_span(struct s2s_conn *c, size_t want, size_t *len)
{
	char *dst;
	int rc;

	*len = 0;
	if (c->state == S2S_CONN_CLOSED)
		return NULL;
	if (c->queued + want > c->send_queue_max) {
		s2s_conn_close_as(c, "send queue full", 0, 0);
		return NULL;
	}
	rc = c->pipe->ops->span(c->pipe, &dst, len);
	if (rc == UV_ENOBUFS && s2s_conn_flush_out(c) == 0)
		rc = c->pipe->ops->span(c->pipe, &dst, len);
	if (rc != 0) {
		if (c->state != S2S_CONN_CLOSED)
			s2s_conn_close_as(c, rc == UV_ENOMEM ? "out of memory" : "write failed", 0, 0);
		return NULL;
	}
	if (c->gathered == 0)
		s2s_conn_flush_list(c);
	return dst;
}

static void
s2s_conn_out_commit(struct s2s_conn *c, size_t n)
{
	c->pipe->ops->commit(c->pipe, n);
	c->gathered += n;
	c->queued += n;
}

/* Bytes to the pipe, bounded.  Still allowed while CLOSING: TLS's
 * close_notify goes out after s2s_conn_close().  Past the bound the
 * connection closes; nothing is freed here (rule 1). */
static int
s2s_conn_write_raw(struct s2s_conn *c, const void *data, size_t len)
{
	const char *d = data;
	size_t room;
	char *dst;

	if (c->state == S2S_CONN_CLOSED)
		return -1;
	if (c->queued + len > c->send_queue_max) {
		s2s_conn_close_as(c, "send queue full", 0, 0);
		return -1;
	}
	while (len > 0) {
		if ((dst = s2s_conn_out_span(c, len, &room)) == NULL)
			return -1;
		if (room > len)
			room = len;
		memcpy(dst, d, room);
		s2s_conn_out_commit(c, room);
		d += room;
		len -= room;
	}
	return 0;
}

/* The held bytes leave as one TLS record (before anything else is
 * written inside TLS: a record, close_notify). */
static void
s2s_conn_uncork(struct s2s_conn *c)
{
	size_t n = c->cork_len;

	c->cork_len = 0;
	if (n > 0 && c->state == S2S_CONN_OPEN && c->tls != NULL && c->tls_open)
		(void)tls_conn_write(c->tls, (const uint8_t *)c->cork, n);
}

int
s2s_conn_send(struct s2s_conn *c, const void *data, size_t len)
{
	int rc;

	if (c->state != S2S_CONN_OPEN)
		return -1;
	if (c->cork != NULL && c->tls_open) {
		if (c->cork_len + len > c->cork_cap)
			s2s_conn_uncork(c);
		if (c->state == S2S_CONN_OPEN && len <= c->cork_cap - c->cork_len) {
			memcpy(c->cork + c->cork_len, data, len);
			c->cork_len += len;
			return 0;
		}
	}
	if (c->state != S2S_CONN_OPEN)
		return -1;
	if (c->tls == NULL)
		rc = s2s_conn_write_raw(c, data, len);
	else if (!c->tls_open)
		return -1;	/* nothing may be said in the clear any more */
	else
		rc = tls_conn_write(c->tls, data, len);
	/* TLS reports its failures to its callbacks, not in the result. */
	return rc < 0 || c->state != S2S_CONN_OPEN ? -1 : 0;
}

int
s2s_conn_sendstr(struct s2s_conn *c, const char *s)
{
	return s2s_conn_send(c, s, strlen(s));
}

/* --- input -------------------------------------------------------------- */

/* Plaintext a session may send while it handles one stream header, held
 * for one record: our header, the features and whatever the session says
 * with them (about 1 KiB; more leaves in further records). */
#define S2S_CONN_CORK_MAX 4096

/* The session's answer to a stream header: what the session sends
 * while it handles the header leaves as one TLS record, not a record per
 * send (issue 18: our header and the features were two records after TLS
 * and after SASL; the peer decrypts each).  Without TLS the sends are
 * gathered into one write anyway. */
static void
s2s_conn_on_header_corked(struct s2s_conn *c, const struct xmlstream_event *ev)
{
	char cork[S2S_CONN_CORK_MAX];

	if (c->cork != NULL || c->tls == NULL) {
		c->cb.on_header(c->ud, ev);
		return;
	}
	c->cork = cork;
	c->cork_cap = sizeof(cork);
	c->cork_len = 0;
	c->cb.on_header(c->ud, ev);
	s2s_conn_uncork(c);
	c->cork = NULL;
	c->cork_cap = 0;
}

/* Hands the tokenizer's events to the session while the connection is
 * open and not in a TLS handshake (the bytes before <proceed/> are never
 * mixed with the ones after it). */
static void
s2s_conn_drain(struct s2s_conn *c)
{
	struct xmlstream_event ev;
	enum xmlstream_event_type t;

	while (c->state == S2S_CONN_OPEN && (c->tls == NULL || c->tls_open) &&
	    (t = xmlstream_next(c->xs, &ev)) != XMLSTREAM_EV_NONE) {
		switch (t) {
		case XMLSTREAM_EV_STREAM_OPEN:
			if (c->cb.on_header != NULL)
				s2s_conn_on_header_corked(c, &ev);
			break;
		case XMLSTREAM_EV_ELEMENT:
			if (c->cb.on_element != NULL)
				c->cb.on_element(c->ud, &ev);
			break;
		case XMLSTREAM_EV_STREAM_CLOSE:
			if (c->cb.on_stream_close != NULL)
				c->cb.on_stream_close(c->ud);
			else
				s2s_conn_close(c, "peer closed the stream");
			break;
		case XMLSTREAM_EV_ERROR:
			if (c->cb.on_parse_error != NULL)
				c->cb.on_parse_error(c->ud, &ev);
			/* A dead tokenizer has nothing more to say. */
			s2s_conn_close(c, ev.text != NULL ? ev.text : "malformed stream");
			break;
		default:
			break;
		}
	}
}

/* Decrypted bytes go to the tokenizer, which takes what fits in its
 * bounded buffer; drain and feed again until all is consumed. */
static void
s2s_conn_feed(struct s2s_conn *c, const uint8_t *data, size_t len)
{
	int in_clear = c->tls == NULL;

	while (len > 0 && c->state == S2S_CONN_OPEN) {
		size_t took = xmlstream_feed(c->xs, data, len);

		data += took;
		len -= took;
		s2s_conn_drain(c);
		if (in_clear && c->tls != NULL && len > 0 && c->state == S2S_CONN_OPEN) {
			/* Bytes behind <starttls/> that did not even fit the
			 * tokenizer: never honoured, in the clear or as TLS
			 * (the session refuses what the tokenizer holds). */
			s2s_conn_fail_input(c, STREAM_ERR_POLICY_VIOLATION, "data after <starttls/>");
			return;
		}
		if (took == 0 && len > 0 && c->state == S2S_CONN_OPEN) {
			/* Nothing fits and nothing drained: an element larger
			 * than the tokenizer's bound. */
			s2s_conn_fail_input(c, STREAM_ERR_POLICY_VIOLATION, "stanza too large");
			return;
		}
	}
}

static void
s2s_conn_on_alloc(void *owner, char **base, size_t *len)
{
	struct s2s_conn *c = owner;
	void *p = NULL;
	size_t n = 0;

	if (c->tls != NULL || c->shared_buf != NULL) {
		/* TLS records, and bytes in the clear (a stream's header and
		 * <starttls/>: a few hundred bytes, copied into the tokenizer
		 * by s2s_conn_feed, which grows its buffer by what came, not
		 * by a read's slack: reading in place grew it 16 -> 26 KiB by
		 * mmap and unmapped it at TLS start, per stream, issue 18). */
		p = c->shared_buf;
		n = c->shared_len;
	} else if (xmlstream_reserve(c->xs, &p, &n) < 0) {
		/* Zero copy: the bytes land in the tokenizer's bounded buffer. */
		n = 0;
	}
	/* A session near its rate limits reads no more than they allow, so
	 * a pause comes after a few stanzas, not a whole buffer. */
	if (n > 0 && c->cb.read_allowance != NULL) {
		size_t allowed = c->cb.read_allowance(c->ud, n);

		if (allowed > 0 && allowed < n)
			n = allowed;
	}
	*base = p;
	*len = n;
}

static void
s2s_conn_on_read(void *owner, ssize_t n, const char *base)
{
	struct s2s_conn *c = owner;

	if (c->state != S2S_CONN_OPEN)
		return;
	if (n == UV_ENOBUFS) {
		s2s_conn_fail_input(c, STREAM_ERR_RESOURCE_CONSTRAINT, "out of memory");
		return;
	}
	if (n < 0) {
		if (c->tls != NULL && n == UV_EOF)
			tls_conn_eof(c->tls);	/* may report truncation first */
		s2s_conn_close_as(c, n == UV_EOF ? "peer closed the connection" : uv_strerror((int)n), 1, 1);
		return;
	}
	if (c->tls != NULL) {
		uint64_t now = uv_now(c->loop);

		if ((size_t)n >= S2S_CONN_BUSY_READ)
			c->last_busy_ms = now;
		tls_conn_feed(c->tls, (const uint8_t *)base, (size_t)n);
		/* Quiet for a while: the tokenizer's buffer goes back to
		 * what it holds (an idle stream's memory, issue 18). */
		if (c->state == S2S_CONN_OPEN && now - c->last_busy_ms >= S2S_CONN_TRIM_QUIET_MS)
			xmlstream_trim(c->xs);
	} else if (base == (const char *)c->shared_buf) {
		s2s_conn_feed(c, (const uint8_t *)base, (size_t)n);
	} else {
		xmlstream_commit(c->xs, (size_t)n);
		s2s_conn_drain(c);
	}
	/* A negotiation deadline (no repeat) is left alone: a peer
	 * trickling bytes cannot stretch it. */
	if (c->reads_restart_timer && c->state == S2S_CONN_OPEN)
		uv_timer_again(&c->timer);
	if (c->state == S2S_CONN_OPEN && c->cb.on_read_done != NULL)
		c->cb.on_read_done(c->ud);
}

static void
s2s_conn_on_write_done(void *owner, size_t n, int status)
{
	struct s2s_conn *c = owner;

	c->queued -= n;
	/* A failed write shows up as a read error too, and the read says
	 * more: a TLS alert the peer sent before it closed (our certificate
	 * refused, cert_fallback.c) is read after the write fails.  Only a
	 * connection that is not reading (paused) learns it here. */
	if (status < 0 && status != UV_ECANCELED && c->state == S2S_CONN_OPEN && !c->reading) {
		s2s_conn_close_as(c, "write failed", 1, 0);
		return;
	}
	if (c->state == S2S_CONN_OPEN && c->cb.on_written != NULL)
		c->cb.on_written(c->ud);
}

/* --- TLS ----------------------------------------------------------------- */

static void
s2s_conn_tls_on_ciphertext(void *ud, const uint8_t *data, size_t len)
{
	/* tls/ allows nothing but copying here: a failure only marks the
	 * connection closing. */
	s2s_conn_write_raw(ud, data, len);
}

static uint8_t *
s2s_conn_tls_ciphertext_span(void *ud, size_t want, size_t *len)
{
	return (uint8_t *)s2s_conn_out_span(ud, want, len);
}

static void
s2s_conn_tls_ciphertext_commit(void *ud, size_t n)
{
	s2s_conn_out_commit(ud, n);
}

/* Plaintext is decrypted into the tokenizer's buffer: room for the rest
 * of the current record when known (mbedTLS has decrypted it), else
 * whatever is free, at least a byte: an idle stream's small records keep
 * its buffer small (asking for more grew every idle stream's buffer to
 * 2 KiB: run_idle_memory.sh).  Its events were drained after the last
 * commit, so no room at all is an element larger than the tokenizer's
 * bound. */
#define S2S_CONN_PLAIN_MIN 1

static int
s2s_conn_tls_plaintext_span(void *ud, size_t hint, uint8_t **p, size_t *len)
{
	struct s2s_conn *c = ud;
	void *dst = NULL;
	size_t n = 0;

	if (c->state != S2S_CONN_OPEN)
		return -1;
	if (xmlstream_reserve_min(c->xs, hint > 0 ? hint : S2S_CONN_PLAIN_MIN, &dst, &n) < 0) {
		s2s_conn_fail_input(c, STREAM_ERR_RESOURCE_CONSTRAINT, "out of memory");
		return -1;
	}
	if (n == 0) {
		s2s_conn_fail_input(c, STREAM_ERR_POLICY_VIOLATION, "stanza too large");
		return -1;
	}
	*p = dst;
	*len = n;
	return 0;
}

static void
s2s_conn_tls_plaintext_commit(void *ud, size_t n)
{
	struct s2s_conn *c = ud;

	xmlstream_commit(c->xs, n);
	s2s_conn_drain(c);
}

static void
s2s_conn_tls_on_handshake(void *ud, const struct tls_verify_result *r)
{
	struct s2s_conn *c = ud;

	if (c->state != S2S_CONN_OPEN)
		return;	/* the handshake's last flight overflowed the queue */
	c->tls_open = 1;
	/* RFC 6120 §5.4.3.3: a fresh stream follows inside TLS. */
	xmlstream_restart(c->xs);
	if (c->cb.on_tls != NULL)
		c->cb.on_tls(c->ud, r);
}

static void
s2s_conn_tls_on_plaintext(void *ud, const uint8_t *data, size_t len)
{
	s2s_conn_feed(ud, data, len);
}

static void
s2s_conn_tls_on_close_notify(void *ud)
{
	s2s_conn_close_as(ud, "peer sent TLS close_notify", 1, 1);
}

static void
s2s_conn_tls_on_error(void *ud, const char *reason)
{
	struct s2s_conn *c = ud;
	char why[256];

	c->tls_open = 0;	/* nothing more can be sent inside TLS */
	snprintf(why, sizeof(why), "TLS failed: %s", reason);
	s2s_conn_close_as(c, why, 0, 1);
}

static const struct tls_conn_callbacks s2s_conn_tls_callbacks = {
	.on_ciphertext = s2s_conn_tls_on_ciphertext,
	.on_handshake = s2s_conn_tls_on_handshake,
	.on_plaintext = s2s_conn_tls_on_plaintext,
	.on_close_notify = s2s_conn_tls_on_close_notify,
	.on_error = s2s_conn_tls_on_error,
	.ciphertext_span = s2s_conn_tls_ciphertext_span,
	.ciphertext_commit = s2s_conn_tls_ciphertext_commit,
	.plaintext_span = s2s_conn_tls_plaintext_span,
	.plaintext_commit = s2s_conn_tls_plaintext_commit,
};

int
s2s_conn_starttls(struct s2s_conn *c, const struct tls_conn_params *params, char *err, size_t errlen)
{
	struct tls_conn_params p = *params;

	if (c->state != S2S_CONN_OPEN || c->tls != NULL) {
		snprintf(err, errlen, "TLS cannot start on this connection");
		return -1;
	}
	if (c->certs == NULL) {
		snprintf(err, errlen, "no certificate store");
		return -1;
	}
	p.peer_addr = c->peer;
	c->tls = tls_conn_new(c->certs, &p, &s2s_conn_tls_callbacks, c, err, errlen);
	if (c->tls == NULL)
		return -1;
	if (tls_conn_start(c->tls) < 0) {
		snprintf(err, errlen, "TLS failed to start");
		return -1;
	}
	return 0;
}

/* --- life cycle -------------------------------------------------------------- */

static void
s2s_conn_on_handle_closed(struct s2s_conn *c)
{
	if (--c->handles_open > 0)
		return;
	s2s_conn_flush_unlist(c);	/* left it when closing already */
	s2s_conn_flusher_detach(c->flusher);
	c->cb.on_closed(c->ud);
	if (c->tls != NULL)
		tls_conn_free(c->tls);
	xmlstream_free(c->xs);
	free(c);
}

static void
s2s_conn_on_pipe_closed(void *owner)
{
	struct s2s_conn *c = owner;

	c->pipe = NULL;
	s2s_conn_on_handle_closed(c);
}

static void
s2s_conn_on_uv_closed(uv_handle_t *h)
{
	s2s_conn_on_handle_closed(h->data);
}

static void
s2s_conn_close_handles(struct s2s_conn *c)
{
	if (c->state == S2S_CONN_CLOSED)
		return;
	c->state = S2S_CONN_CLOSED;
	/* The pipe tries what was gathered once before it closes. */
	c->gathered = 0;
	s2s_conn_flush_unlist(c);
	c->pipe->ops->close(c->pipe);
	uv_close((uv_handle_t *)&c->timer, s2s_conn_on_uv_closed);
}

static void
s2s_conn_on_shutdown(void *owner, int status)
{
	(void)status;
	s2s_conn_close_handles(owner);
}

static void
s2s_conn_on_timer(uv_timer_t *t)
{
	struct s2s_conn *c = t->data;

	if (c->state == S2S_CONN_CLOSING) {
		/* A peer that does not read must not keep us open. */
		s2s_conn_close_handles(c);
		return;
	}
	if (c->state == S2S_CONN_OPEN && c->cb.on_timeout != NULL)
		c->cb.on_timeout(c->ud);
}

/* The one way out.  flush: our queued bytes and TLS's close_notify go
 * out first (bounded in time); else the handles close now. */
static void
s2s_conn_close_as(struct s2s_conn *c, const char *reason, int peer_gone, int flush)
{
	if (c->state != S2S_CONN_OPEN) {
		if (!flush)
			s2s_conn_close_handles(c);
		return;
	}
	c->state = S2S_CONN_CLOSING;
	c->pipe->ops->read_stop(c->pipe);
	c->reading = 0;
	uv_timer_stop(&c->timer);
	if (c->cb.on_closing != NULL)
		c->cb.on_closing(c->ud, reason, peer_gone);
	if (c->state == S2S_CONN_CLOSED)
		return;	/* aborted from on_closing */
	if (!flush) {
		s2s_conn_close_handles(c);
		return;
	}
	if (c->tls != NULL && c->tls_open && c->cork_len > 0) {
		/* A stream error answering a header: held, it goes first. */
		size_t n = c->cork_len;

		c->cork_len = 0;
		(void)tls_conn_write(c->tls, (const uint8_t *)c->cork, n);
	}
	if (c->tls != NULL && c->tls_open)
		tls_conn_close(c->tls);	/* close_notify goes out first */
	/* The half-close submits what was gathered first. */
	if (c->state == S2S_CONN_CLOSING && c->pipe->ops->shutdown(c->pipe) == 0) {
		c->gathered = 0;
		s2s_conn_flush_unlist(c);
		uv_timer_start(&c->timer, s2s_conn_on_timer, S2S_CONN_FLUSH_MS, 0);
		return;
	}
	s2s_conn_close_handles(c);
}

void
s2s_conn_close(struct s2s_conn *c, const char *reason)
{
	s2s_conn_close_as(c, reason, 0, 1);
}

void
s2s_conn_abort(struct s2s_conn *c, const char *reason)
{
	s2s_conn_close_as(c, reason, 0, 0);
}

static const struct s2s_pipe_events s2s_conn_pipe_events = {
	.on_alloc = s2s_conn_on_alloc,
	.on_read = s2s_conn_on_read,
	.on_write_done = s2s_conn_on_write_done,
	.on_shutdown = s2s_conn_on_shutdown,
	.on_closed = s2s_conn_on_pipe_closed,
};

void
s2s_conn_params_init(struct s2s_conn_params *p, uv_loop_t *loop, struct tls_certstore *certs,
    uint8_t *buf, size_t buflen, size_t send_queue_max, const char *peer)
{
	memset(p, 0, sizeof(*p));
	p->loop = loop;
	p->certs = certs;
	p->shared_read_buf = buf;
	p->shared_read_len = buflen;
	p->send_queue_max = send_queue_max;
	p->default_ns = XMLSTREAM_NS_SERVER;
	p->peer = peer;
}

/* The tokenizer's way of saying the stream cannot go on, for a limit the
 * transport itself hit (nothing fits, no memory). */
static void
s2s_conn_fail_input(struct s2s_conn *c, enum stream_error_cond cond, const char *text)
{
	struct xmlstream_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = XMLSTREAM_EV_ERROR;
	ev.cond = cond;
	ev.text = text;
	if (c->cb.on_parse_error != NULL)
		c->cb.on_parse_error(c->ud, &ev);
	s2s_conn_close(c, text);
}

struct s2s_conn *
s2s_conn_new(const struct s2s_conn_params *params, struct s2s_pipe *pipe,
    const struct s2s_conn_callbacks *cb, void *ud)
{
	struct s2s_conn *c = calloc(1, sizeof(*c));

	if (c == NULL || (c->xs = xmlstream_new(params->limits, params->default_ns)) == NULL)
		goto fail;
	c->flusher = params->flusher != NULL ? params->flusher : &c->own_flusher;
	if (s2s_conn_flusher_attach(c->flusher, params->loop) < 0)
		goto fail;
	c->cb = *cb;
	c->ud = ud;
	c->state = S2S_CONN_OPEN;
	c->pipe = pipe;
	c->certs = params->certs;
	c->shared_buf = params->shared_read_buf;
	c->shared_len = params->shared_read_len;
	c->send_queue_max = params->send_queue_max;
	c->reads_restart_timer = params->reads_restart_timer;
	snprintf(c->peer, sizeof(c->peer), "%s", params->peer != NULL ? params->peer : "");
	uv_timer_init(params->loop, &c->timer);
	c->timer.data = c;
	c->loop = params->loop;
	c->handles_open = 2;
	pipe->pool = params->pipe_pool;
	s2s_pipe_attach(pipe, &s2s_conn_pipe_events, c);
	return c;
fail:
	if (c != NULL)
		xmlstream_free(c->xs);
	free(c);
	s2s_pipe_discard(pipe);
	return NULL;
}

static void
s2s_conn_detached_closed(void *ud)
{
	(void)ud;
}

void
s2s_conn_detach(struct s2s_conn *c)
{
	static const struct s2s_conn_callbacks detached = {
		.on_closed = s2s_conn_detached_closed,
	};

	c->cb = detached;
	c->ud = NULL;
	s2s_conn_abort(c, "detached");
}

/* --- the rest of the API ----------------------------------------------------- */

void
s2s_conn_read_stop(struct s2s_conn *c)
{
	if (c->state == S2S_CONN_OPEN && c->reading) {
		c->pipe->ops->read_stop(c->pipe);
		c->reading = 0;
	}
}

int
s2s_conn_read_start(struct s2s_conn *c)
{
	int rc;

	if (c->state != S2S_CONN_OPEN)
		return -1;
	if (c->reading)
		return 0;
	rc = c->pipe->ops->read_start(c->pipe);
	if (rc != 0) {
		s2s_conn_close(c, "read failed");
		return -1;
	}
	c->reading = 1;
	return 0;
}

void
s2s_conn_timer_start(struct s2s_conn *c, uint64_t timeout_ms, uint64_t repeat_ms)
{
	if (c->state == S2S_CONN_OPEN)
		uv_timer_start(&c->timer, s2s_conn_on_timer, timeout_ms, repeat_ms);
}

void
s2s_conn_timer_again(struct s2s_conn *c)
{
	if (c->state == S2S_CONN_OPEN)
		uv_timer_again(&c->timer);
}

void
s2s_conn_timer_stop(struct s2s_conn *c)
{
	if (c->state == S2S_CONN_OPEN)
		uv_timer_stop(&c->timer);
}

struct xmlstream *
s2s_conn_xmlstream(struct s2s_conn *c)
{
	return c->xs;
}

size_t
s2s_conn_buffered(const struct s2s_conn *c)
{
	return xmlstream_buffered(c->xs);
}

void
s2s_conn_restart(struct s2s_conn *c)
{
	xmlstream_restart(c->xs);
}

struct tls_conn *
s2s_conn_tls(const struct s2s_conn *c)
{
	return c->tls_open ? c->tls : NULL;
}

struct tls_conn *
s2s_conn_tls_any(const struct s2s_conn *c)
{
	return c->tls;
}

int
s2s_conn_tls_started(const struct s2s_conn *c)
{
	return c->tls != NULL;
}

size_t
s2s_conn_queued(const struct s2s_conn *c)
{
	return c->queued;
}

uv_tcp_t *
s2s_conn_tcp(const struct s2s_conn *c)
{
	return c->pipe != NULL ? c->pipe->ops->tcp(c->pipe) : NULL;
}

const char *
s2s_conn_peer(const struct s2s_conn *c)
{
	return c->peer;
}
