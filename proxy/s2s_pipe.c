/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_pipe.c - the byte pipes under struct s2s_conn (s2s_conn.h).
 *
 * Two backends behind one small ops table:
 *   - TCP: a libuv TCP handle, accepted (uv_tcp_open on the fd the
 *     listener accepted) or connected (the handle dns_connect hands over).
 *     The connection gathers its output in the pipe's open write request
 *     (span/commit: TLS encrypts straight into it) and submits it once per
 *     loop turn (flush): one write(2) for every record of the turn.  The
 *     write op copies and submits at once.  Requests (S2S_PIPE_WRITE_CAP
 *     each) go back to the loop's pool when written (struct
 *     s2s_pipe_pool, edge->pipe_pool) and serve the next write of any
 *     stream: a busy stream allocates nothing per write, and an idle one
 *     holds no request (kept per pipe, they were 17-35 KiB of every idle
 *     stream's memory, issue 18).
 *   - memory: the connection's end of an in-process pipe whose other end
 *     is a scripted peer (unit tests, the stateful fuzzer).  It runs on a
 *     real loop and never calls back from inside an op: whatever it has to
 *     report (bytes for the connection, completed writes, the half-close,
 *     the close) waits for a uv_idle handle, active only while there is
 *     something to report, as libuv defers its own callbacks to the loop.
 */
#include "s2s_conn.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
s2s_pipe_attach(struct s2s_pipe *p, const struct s2s_pipe_events *ev, void *owner)
{
	p->ev = ev;
	p->owner = owner;
}

/* A pipe nobody else will close: its events only let it go. */
static void
s2s_pipe_orphan_closed(void *owner)
{
	(void)owner;
}

static void
s2s_pipe_orphan_write_done(void *owner, size_t n, int status)
{
	(void)owner;
	(void)n;
	(void)status;
}

static void
s2s_pipe_orphan_shutdown(void *owner, int status)
{
	(void)owner;
	(void)status;
}

static const struct s2s_pipe_events s2s_pipe_orphan_events = {
	.on_write_done = s2s_pipe_orphan_write_done,
	.on_shutdown = s2s_pipe_orphan_shutdown,
	.on_closed = s2s_pipe_orphan_closed,
};

void
s2s_pipe_discard(struct s2s_pipe *p)
{
	s2s_pipe_attach(p, &s2s_pipe_orphan_events, NULL);
	p->ops->close(p);
}

/* --- TCP ----------------------------------------------------------------- */

struct s2s_pipe_tcp_write {
	uv_write_t req;
	struct s2s_pipe_tcp *t;
	size_t len;
	char data[S2S_PIPE_WRITE_CAP];
};

struct s2s_pipe_tcp {
	struct s2s_pipe base;
	uv_tcp_t *tcp;			/* malloc'd; freed in the close callback */
	/* The open write: bytes gathered, not submitted yet (span/commit);
	 * NULL when nothing is gathered. */
	struct s2s_pipe_tcp_write *open;
	int closing;
};

void
s2s_pipe_pool_clear(struct s2s_pipe_pool *pool)
{
	while (pool->nfree > 0)
		free(pool->free[--pool->nfree]);
}

/* A written request goes back to the pool while there is room, or is
 * freed. */
static void
s2s_pipe_tcp_write_release(struct s2s_pipe_tcp *t, struct s2s_pipe_tcp_write *w)
{
	struct s2s_pipe_pool *pool = t->base.pool;

	if (pool != NULL && pool->nfree < S2S_PIPE_POOL_MAX)
		pool->free[pool->nfree++] = w;
	else
		free(w);
}

static void
s2s_pipe_tcp_on_write(uv_write_t *req, int status)
{
	struct s2s_pipe_tcp_write *w = (struct s2s_pipe_tcp_write *)req;
	struct s2s_pipe_tcp *t = w->t;
	size_t len = w->len;

	s2s_pipe_tcp_write_release(t, w);
	t->base.ev->on_write_done(t->base.owner, len, status);
}

/* Hands the open write to libuv, which tries it at once (one write(2))
 * and queues what the socket did not take.  A refused one is dropped and
 * not reported (the caller knows what it gathered, s2s_pipe_ops). */
static int
s2s_pipe_tcp_flush(struct s2s_pipe *p)
{
	struct s2s_pipe_tcp *t = (struct s2s_pipe_tcp *)p;
	struct s2s_pipe_tcp_write *w = t->open;
	uv_buf_t buf;
	int rc;

	if (w == NULL)
		return 0;
	t->open = NULL;
	if (t->closing) {
		s2s_pipe_tcp_write_release(t, w);
		return UV_ECANCELED;
	}
	buf = uv_buf_init(w->data, (unsigned)w->len);
	rc = uv_write(&w->req, (uv_stream_t *)t->tcp, &buf, 1, s2s_pipe_tcp_on_write);
	if (rc != 0)
		s2s_pipe_tcp_write_release(t, w);
	return rc;
}

static int
s2s_pipe_tcp_span(struct s2s_pipe *p, char **dst, size_t *len)
{
	struct s2s_pipe_tcp *t = (struct s2s_pipe_tcp *)p;
	struct s2s_pipe_tcp_write *w = t->open;

	*dst = NULL;
	*len = 0;
	if (t->closing)
		return UV_ECANCELED;
	if (w != NULL && w->len == sizeof(w->data))
		return UV_ENOBUFS;	/* full: the caller flushes first */
	if (w == NULL) {
		if (t->base.pool != NULL && t->base.pool->nfree > 0)
			w = t->base.pool->free[--t->base.pool->nfree];
		else if ((w = malloc(sizeof(*w))) == NULL)
			return UV_ENOMEM;
		w->t = t;
		w->len = 0;
		t->open = w;
	}
	*dst = w->data + w->len;
	*len = sizeof(w->data) - w->len;
	return 0;
}

static void
s2s_pipe_tcp_commit(struct s2s_pipe *p, size_t n)
{
	struct s2s_pipe_tcp_write *w = ((struct s2s_pipe_tcp *)p)->open;

	if (w != NULL && n <= sizeof(w->data) - w->len)
		w->len += n;
}

/* The write op of both pipes: copies into the open write (submitting
 * full ones), then submits. */
static int
s2s_pipe_write_copy(struct s2s_pipe *p, const void *data, size_t len)
{
	const char *d = data;
	size_t room;
	char *dst;
	int rc;

	while (len > 0) {
		rc = p->ops->span(p, &dst, &room);
		if (rc == UV_ENOBUFS && (rc = p->ops->flush(p)) == 0)
			continue;
		if (rc != 0)
			return rc;
		if (room > len)
			room = len;
		memcpy(dst, d, room);
		p->ops->commit(p, room);
		d += room;
		len -= room;
	}
	return p->ops->flush(p);
}

static int
s2s_pipe_tcp_write(struct s2s_pipe *p, const void *data, size_t len)
{
	if (((struct s2s_pipe_tcp *)p)->closing)
		return UV_ECANCELED;
	return s2s_pipe_write_copy(p, data, len);
}

static void
s2s_pipe_tcp_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct s2s_pipe_tcp *t = h->data;
	char *base = NULL;
	size_t len = 0;

	(void)suggested;
	t->base.ev->on_alloc(t->base.owner, &base, &len);
	*buf = uv_buf_init(base, (unsigned)len);
}

static void
s2s_pipe_tcp_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct s2s_pipe_tcp *t = s->data;

	if (n == 0 || t->closing)
		return;	/* EAGAIN; or a read racing our close */
	t->base.ev->on_read(t->base.owner, n, buf->base);
}

static int
s2s_pipe_tcp_read_start(struct s2s_pipe *p)
{
	struct s2s_pipe_tcp *t = (struct s2s_pipe_tcp *)p;

	if (t->closing)
		return UV_ECANCELED;
	return uv_read_start((uv_stream_t *)t->tcp, s2s_pipe_tcp_on_alloc, s2s_pipe_tcp_on_read);
}

static void
s2s_pipe_tcp_read_stop(struct s2s_pipe *p)
{
	struct s2s_pipe_tcp *t = (struct s2s_pipe_tcp *)p;

	if (!t->closing)
		uv_read_stop((uv_stream_t *)t->tcp);
}

static void
s2s_pipe_tcp_on_shutdown(uv_shutdown_t *req, int status)
{
	struct s2s_pipe_tcp *t = req->data;

	free(req);
	t->base.ev->on_shutdown(t->base.owner, status);
}

static int
s2s_pipe_tcp_shutdown(struct s2s_pipe *p)
{
	struct s2s_pipe_tcp *t = (struct s2s_pipe_tcp *)p;
	uv_shutdown_t *req;
	int rc;

	if (t->closing)
		return UV_ECANCELED;
	if ((rc = s2s_pipe_tcp_flush(p)) != 0)
		return rc;
	req = malloc(sizeof(*req));
	if (req == NULL)
		return UV_ENOMEM;
	req->data = t;
	rc = uv_shutdown(req, (uv_stream_t *)t->tcp, s2s_pipe_tcp_on_shutdown);
	if (rc != 0)
		free(req);
	return rc;
}

static void
s2s_pipe_tcp_on_closed(uv_handle_t *h)
{
	struct s2s_pipe_tcp *t = h->data;

	free(h);
	t->base.ev->on_closed(t->base.owner);
	free(t);
}

static void
s2s_pipe_tcp_close(struct s2s_pipe *p)
{
	struct s2s_pipe_tcp *t = (struct s2s_pipe_tcp *)p;

	if (t->closing)
		return;
	/* What was gathered is tried once, as a write just before the
	 * close always was; libuv cancels what the socket did not take. */
	(void)s2s_pipe_tcp_flush(p);
	t->closing = 1;
	uv_close((uv_handle_t *)t->tcp, s2s_pipe_tcp_on_closed);
}

static uv_tcp_t *
s2s_pipe_tcp_handle(struct s2s_pipe *p)
{
	return ((struct s2s_pipe_tcp *)p)->tcp;
}

static const struct s2s_pipe_ops s2s_pipe_tcp_ops = {
	.write = s2s_pipe_tcp_write,
	.span = s2s_pipe_tcp_span,
	.commit = s2s_pipe_tcp_commit,
	.flush = s2s_pipe_tcp_flush,
	.read_start = s2s_pipe_tcp_read_start,
	.read_stop = s2s_pipe_tcp_read_stop,
	.shutdown = s2s_pipe_tcp_shutdown,
	.close = s2s_pipe_tcp_close,
	.tcp = s2s_pipe_tcp_handle,
};

struct s2s_pipe *
s2s_pipe_tcp_from_handle(uv_loop_t *loop, uv_tcp_t *tcp)
{
	struct s2s_pipe_tcp *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->base.ops = &s2s_pipe_tcp_ops;
	t->base.loop = loop;
	t->tcp = tcp;
	tcp->data = t;
	return &t->base;
}

/* A failure here closes fd: the caller has nothing left to clean. */
struct s2s_pipe *
s2s_pipe_tcp_from_fd(uv_loop_t *loop, int fd)
{
	uv_tcp_t *tcp = malloc(sizeof(*tcp));
	struct s2s_pipe *p;

	if (tcp == NULL || uv_tcp_init(loop, tcp) != 0) {
		free(tcp);
		close(fd);
		return NULL;
	}
	/* Before uv_tcp_open, which applies it to the socket: a stream
	 * set-up is a dozen small request/answer writes (header, features,
	 * STARTTLS, TLS flights, restart, auth), and with Nagle each one
	 * waits for the peer's delayed ACK (40 ms on Linux). */
	uv_tcp_nodelay(tcp, 1);
	p = s2s_pipe_tcp_from_handle(loop, tcp);
	if (p == NULL || uv_tcp_open(tcp, fd) != 0) {
		/* The handle is initialised: only its close callback may
		 * free it; fd is not the handle's when uv_tcp_open refused. */
		close(fd);
		free(p);
		uv_close((uv_handle_t *)tcp, (uv_close_cb)free);
		return NULL;
	}
	return p;
}

/* --- memory ---------------------------------------------------------------- */

struct s2s_pipe_mem {
	struct s2s_pipe base;
	uv_idle_t idle;
	int refs;			/* the connection's and the peer's */
	int idle_closing;
	/* peer -> connection */
	char *in;
	size_t in_len, in_off, in_cap;
	int in_eof, in_reset, end_delivered;
	int reading;
	/* connection -> peer: everything submitted (the peer's view, which
	 * it consumes), and the writes not completed yet (FIFO of their
	 * lengths) */
	char *out;
	size_t out_len, out_cap;
	size_t *pending;
	size_t npending, pending_cap, pending_bytes;
	/* The open write: gathered, not submitted, so not the peer's to
	 * see, as bytes still in a TCP pipe's request are not (S2S_PIPE_
	 * WRITE_CAP bytes, allocated at the first span).  It used to be the
	 * tail of out, which the peer could read and consume before the
	 * flush: the flush then reported fewer bytes than the connection
	 * had gathered, its queued count never came back down, and every
	 * session waiting for the queue to empty stalled. */
	char *open;
	size_t open_len;
	size_t nwrites;			/* flushes that carried bytes */
	int stalled;
	int fail_next;
	int shutdown_asked, shutdown_done;
	int closed, close_reported;
};

static void s2s_pipe_mem_kick(struct s2s_pipe_mem *m);

static int
s2s_pipe_mem_grow(char **buf, size_t *cap, size_t need)
{
	size_t n = *cap ? *cap : 256;
	char *p;

	while (n < need)
		n *= 2;
	if (n == *cap)
		return 0;
	p = realloc(*buf, n);
	if (p == NULL)
		return -1;
	*buf = p;
	*cap = n;
	return 0;
}

static void
s2s_pipe_mem_on_idle_closed(uv_handle_t *h)
{
	struct s2s_pipe_mem *m = h->data;

	free(m->in);
	free(m->out);
	free(m->open);
	free(m->pending);
	free(m);
}

static void
s2s_pipe_mem_unref(struct s2s_pipe_mem *m)
{
	if (--m->refs > 0)
		return;
	m->idle_closing = 1;
	uv_close((uv_handle_t *)&m->idle, s2s_pipe_mem_on_idle_closed);
}

/* Whether the idle handle has anything to report. */
static int
s2s_pipe_mem_has_work(const struct s2s_pipe_mem *m)
{
	if (m->closed)
		return !m->close_reported;
	if (m->npending > 0 && !m->stalled)
		return 1;
	if (m->shutdown_asked && !m->shutdown_done && m->npending == 0)
		return 1;
	if (m->reading && !m->end_delivered &&
	    (m->in_off < m->in_len || m->in_eof || m->in_reset))
		return 1;
	return 0;
}

static void
s2s_pipe_mem_report_writes(struct s2s_pipe_mem *m, int status)
{
	while (m->npending > 0 && (status != 0 || !m->stalled)) {
		size_t n = m->pending[0];

		memmove(m->pending, m->pending + 1, (m->npending - 1) * sizeof(*m->pending));
		m->npending--;
		m->pending_bytes -= n;
		m->base.ev->on_write_done(m->base.owner, n, status);
		if (m->closed && status == 0)
			return;	/* closed from the callback: cancelled below */
	}
}

/* One turn's worth of reporting; every callback may call back into the
 * pipe (write, close), so each step re-checks. */
static void
s2s_pipe_mem_pump(uv_idle_t *h)
{
	struct s2s_pipe_mem *m = h->data;

	if (!m->closed)
		s2s_pipe_mem_report_writes(m, 0);
	if (!m->closed && m->shutdown_asked && !m->shutdown_done && m->npending == 0) {
		m->shutdown_done = 1;
		m->base.ev->on_shutdown(m->base.owner, 0);
	}
	if (!m->closed && m->reading && m->in_off < m->in_len) {
		char *base = NULL;
		size_t len = 0, n;

		/* One read per turn, as a socket delivers what it has. */
		m->base.ev->on_alloc(m->base.owner, &base, &len);
		if (len == 0) {
			m->base.ev->on_read(m->base.owner, UV_ENOBUFS, NULL);
		} else {
			n = m->in_len - m->in_off;
			if (n > len)
				n = len;
			memcpy(base, m->in + m->in_off, n);
			m->in_off += n;
			m->base.ev->on_read(m->base.owner, (ssize_t)n, base);
		}
	} else if (!m->closed && m->reading && !m->end_delivered && (m->in_eof || m->in_reset)) {
		m->end_delivered = 1;
		m->base.ev->on_read(m->base.owner, m->in_reset ? UV_ECONNRESET : UV_EOF, NULL);
	}
	if (m->closed && !m->close_reported) {
		/* As libuv: pending writes fail before the close callback. */
		s2s_pipe_mem_report_writes(m, UV_ECANCELED);
		if (m->shutdown_asked && !m->shutdown_done) {
			/* Reported, but the peer never saw the half-close. */
			m->shutdown_asked = 0;
			m->base.ev->on_shutdown(m->base.owner, UV_ECANCELED);
		}
		m->close_reported = 1;
		m->base.ev->on_closed(m->base.owner);
		uv_idle_stop(&m->idle);
		s2s_pipe_mem_unref(m);	/* the connection's reference */
		return;
	}
	if (!s2s_pipe_mem_has_work(m))
		uv_idle_stop(&m->idle);
}

static void
s2s_pipe_mem_kick(struct s2s_pipe_mem *m)
{
	if (!m->idle_closing && s2s_pipe_mem_has_work(m))
		uv_idle_start(&m->idle, s2s_pipe_mem_pump);
}

/* The open write of the memory pipe, as the TCP pipe's: room up to
 * S2S_PIPE_WRITE_CAP, UV_ENOBUFS when full. */
static int
s2s_pipe_mem_span(struct s2s_pipe *p, char **dst, size_t *len)
{
	struct s2s_pipe_mem *m = (struct s2s_pipe_mem *)p;

	*dst = NULL;
	*len = 0;
	if (m->closed)
		return UV_ECANCELED;
	if (m->open_len >= S2S_PIPE_WRITE_CAP)
		return UV_ENOBUFS;	/* as the TCP pipe: flush first */
	if (m->open == NULL && (m->open = malloc(S2S_PIPE_WRITE_CAP)) == NULL)
		return UV_ENOMEM;
	*dst = m->open + m->open_len;
	*len = S2S_PIPE_WRITE_CAP - m->open_len;
	return 0;
}

static void
s2s_pipe_mem_commit(struct s2s_pipe *p, size_t n)
{
	struct s2s_pipe_mem *m = (struct s2s_pipe_mem *)p;

	if (m->open == NULL || n > S2S_PIPE_WRITE_CAP - m->open_len)
		return;
	m->open_len += n;
}

/* Submits the open write: its bytes join the peer's view and wait, as
 * one pending write, for the loop to complete them.  A refused one is
 * dropped (the peer never sees it) and not reported (s2s_pipe_ops). */
static int
s2s_pipe_mem_flush(struct s2s_pipe *p)
{
	struct s2s_pipe_mem *m = (struct s2s_pipe_mem *)p;
	size_t n = m->open_len;

	if (n == 0)
		return 0;
	m->open_len = 0;
	if (m->fail_next != 0 || m->closed) {
		int err = m->closed ? UV_ECANCELED : m->fail_next;

		m->fail_next = 0;
		return err;
	}
	if (m->npending == m->pending_cap) {
		size_t c = m->pending_cap ? m->pending_cap * 2 : 16;
		size_t *q = realloc(m->pending, c * sizeof(*q));

		if (q == NULL)
			return UV_ENOMEM;
		m->pending = q;
		m->pending_cap = c;
	}
	if (s2s_pipe_mem_grow(&m->out, &m->out_cap, m->out_len + n + 1) < 0)
		return UV_ENOMEM;
	memcpy(m->out + m->out_len, m->open, n);
	m->out_len += n;
	m->out[m->out_len] = '\0';
	m->pending[m->npending++] = n;
	m->pending_bytes += n;
	m->nwrites++;
	s2s_pipe_mem_kick(m);
	return 0;
}

static int
s2s_pipe_mem_write(struct s2s_pipe *p, const void *data, size_t len)
{
	struct s2s_pipe_mem *m = (struct s2s_pipe_mem *)p;

	if (m->closed)
		return UV_ECANCELED;
	if (m->fail_next != 0) {
		int err = m->fail_next;

		m->fail_next = 0;
		return err;
	}
	return s2s_pipe_write_copy(p, data, len);
}

static int
s2s_pipe_mem_read_start(struct s2s_pipe *p)
{
	struct s2s_pipe_mem *m = (struct s2s_pipe_mem *)p;

	if (m->closed)
		return UV_ECANCELED;
	m->reading = 1;
	s2s_pipe_mem_kick(m);
	return 0;
}

static void
s2s_pipe_mem_read_stop(struct s2s_pipe *p)
{
	((struct s2s_pipe_mem *)p)->reading = 0;
}

static int
s2s_pipe_mem_shutdown(struct s2s_pipe *p)
{
	struct s2s_pipe_mem *m = (struct s2s_pipe_mem *)p;

	int rc;

	if (m->closed || m->shutdown_asked)
		return UV_ECANCELED;
	if ((rc = s2s_pipe_mem_flush(p)) != 0)
		return rc;
	m->shutdown_asked = 1;
	s2s_pipe_mem_kick(m);
	return 0;
}

static void
s2s_pipe_mem_close(struct s2s_pipe *p)
{
	struct s2s_pipe_mem *m = (struct s2s_pipe_mem *)p;

	if (m->closed)
		return;
	(void)s2s_pipe_mem_flush(p);	/* as the TCP pipe */
	m->closed = 1;
	m->reading = 0;
	s2s_pipe_mem_kick(m);
}

static uv_tcp_t *
s2s_pipe_mem_tcp(struct s2s_pipe *p)
{
	(void)p;
	return NULL;
}

static const struct s2s_pipe_ops s2s_pipe_mem_ops = {
	.write = s2s_pipe_mem_write,
	.span = s2s_pipe_mem_span,
	.commit = s2s_pipe_mem_commit,
	.flush = s2s_pipe_mem_flush,
	.read_start = s2s_pipe_mem_read_start,
	.read_stop = s2s_pipe_mem_read_stop,
	.shutdown = s2s_pipe_mem_shutdown,
	.close = s2s_pipe_mem_close,
	.tcp = s2s_pipe_mem_tcp,
};

struct s2s_pipe *
s2s_pipe_mem_new(uv_loop_t *loop)
{
	struct s2s_pipe_mem *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->base.ops = &s2s_pipe_mem_ops;
	m->base.loop = loop;
	m->refs = 2;
	if (uv_idle_init(loop, &m->idle) != 0) {
		free(m);
		return NULL;
	}
	m->idle.data = m;
	return &m->base;
}

int
s2s_pipe_mem_peer_send(struct s2s_pipe *p, const void *data, size_t len)
{
	struct s2s_pipe_mem *m = (struct s2s_pipe_mem *)p;

	if (m->in_eof || m->in_reset)
		return -1;
	if (m->in_off > 0 && m->in_off == m->in_len)
		m->in_off = m->in_len = 0;
	if (s2s_pipe_mem_grow(&m->in, &m->in_cap, m->in_len + len) < 0)
		return -1;
	memcpy(m->in + m->in_len, data, len);
	m->in_len += len;
	s2s_pipe_mem_kick(m);
	return 0;
}

int
s2s_pipe_mem_peer_sendstr(struct s2s_pipe *p, const char *s)
{
	return s2s_pipe_mem_peer_send(p, s, strlen(s));
}

void
s2s_pipe_mem_peer_eof(struct s2s_pipe *p)
{
	struct s2s_pipe_mem *m = (struct s2s_pipe_mem *)p;

	m->in_eof = 1;
	s2s_pipe_mem_kick(m);
}

void
s2s_pipe_mem_peer_reset(struct s2s_pipe *p)
{
	struct s2s_pipe_mem *m = (struct s2s_pipe_mem *)p;

	m->in_reset = 1;
	m->in_off = m->in_len;	/* what was not read yet is lost */
	s2s_pipe_mem_kick(m);
}

void
s2s_pipe_mem_set_stalled(struct s2s_pipe *p, int stalled)
{
	struct s2s_pipe_mem *m = (struct s2s_pipe_mem *)p;

	m->stalled = stalled;
	s2s_pipe_mem_kick(m);
}

void
s2s_pipe_mem_fail_next_write(struct s2s_pipe *p, int err)
{
	((struct s2s_pipe_mem *)p)->fail_next = err;
}

const char *
s2s_pipe_mem_peer_output(struct s2s_pipe *p, size_t *len)
{
	struct s2s_pipe_mem *m = (struct s2s_pipe_mem *)p;

	if (len != NULL)
		*len = m->out_len;
	return m->out != NULL ? m->out : "";
}

void
s2s_pipe_mem_peer_consume(struct s2s_pipe *p, size_t n)
{
	struct s2s_pipe_mem *m = (struct s2s_pipe_mem *)p;

	if (n > m->out_len)
		n = m->out_len;
	if (n == 0)
		return;	/* out may not exist yet: nothing submitted */
	memmove(m->out, m->out + n, m->out_len - n);
	m->out_len -= n;
	m->out[m->out_len] = '\0';
}

int
s2s_pipe_mem_peer_saw_shutdown(const struct s2s_pipe *p)
{
	return ((const struct s2s_pipe_mem *)p)->shutdown_done;
}

int
s2s_pipe_mem_peer_saw_close(const struct s2s_pipe *p)
{
	return ((const struct s2s_pipe_mem *)p)->closed;
}

size_t
s2s_pipe_mem_writes(const struct s2s_pipe *p)
{
	return ((const struct s2s_pipe_mem *)p)->nwrites;
}

size_t
s2s_pipe_mem_pending(const struct s2s_pipe *p)
{
	return ((const struct s2s_pipe_mem *)p)->pending_bytes;
}

void
s2s_pipe_mem_release(struct s2s_pipe *p)
{
	s2s_pipe_mem_unref((struct s2s_pipe_mem *)p);
}
