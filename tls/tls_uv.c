/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls_uv.c - tls_conn over a libuv TCP handle (see tls_uv.h).
 *
 * Ciphertext from the conn is copied into one write request per flush
 * (a handshake flight or a batch of records), so the conn's own buffer is
 * free again at once; write_queue counts what libuv has not sent yet.
 * Reads go into a buffer allocated per read and released after
 * tls_conn_feed() consumed it: an idle connection holds no read buffer.
 */
#include "tls_uv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TLS_UV_READ_BUF 65536

struct tls_uv_write_req {
	uv_write_t req;
	struct tls_uv *t;
	size_t len;
	uint8_t data[];
};

static void tls_uv_closed_cb(uv_handle_t *h);

uv_tcp_t *
tls_uv_tcp(struct tls_uv *t)
{
	return &t->tcp;
}

size_t
tls_uv_write_queue_size(const struct tls_uv *t)
{
	return t->write_queue;
}

void
tls_uv_close(struct tls_uv *t, const char *reason)
{
	if (t->closing)
		return;
	t->closing = 1;
	if (reason != NULL)
		snprintf(t->reason, sizeof(t->reason), "%s", reason);
	uv_read_stop((uv_stream_t *)&t->tcp);
	uv_close((uv_handle_t *)&t->tcp, tls_uv_closed_cb);
}

static void
tls_uv_closed_cb(uv_handle_t *h)
{
	struct tls_uv *t = (struct tls_uv *)h;

	if (t->conn != NULL) {
		tls_conn_free(t->conn);
		t->conn = NULL;
	}
	if (t->cb.on_close != NULL)
		t->cb.on_close(t, t->reason[0] ? t->reason : NULL);
}

static void
write_cb(uv_write_t *req, int status)
{
	struct tls_uv_write_req *w = (struct tls_uv_write_req *)req;
	struct tls_uv *t = w->t;

	t->write_queue -= w->len;
	free(w);
	if (status < 0 && status != UV_ECANCELED)
		tls_uv_close(t, uv_strerror(status));
}

static void
on_ciphertext(void *ud, const uint8_t *data, size_t len)
{
	struct tls_uv *t = ud;
	struct tls_uv_write_req *w;
	uv_buf_t b;
	int r;

	if (t->closing)
		return;
	w = malloc(sizeof(*w) + len);
	if (w == NULL) {
		tls_uv_close(t, "out of memory");
		return;
	}
	w->t = t;
	w->len = len;
	memcpy(w->data, data, len);
	b = uv_buf_init((char *)w->data, (unsigned)len);
	r = uv_write(&w->req, (uv_stream_t *)&t->tcp, &b, 1, write_cb);
	if (r < 0) {
		free(w);
		tls_uv_close(t, uv_strerror(r));
		return;
	}
	t->write_queue += len;
}

static void
on_handshake(void *ud, const struct tls_verify_result *r)
{
	struct tls_uv *t = ud;

	if (t->cb.on_handshake != NULL)
		t->cb.on_handshake(t, r);
}

static void
on_plaintext(void *ud, const uint8_t *data, size_t len)
{
	struct tls_uv *t = ud;

	if (t->cb.on_read != NULL && !t->closing)
		t->cb.on_read(t, data, len);
}

static void
shutdown_cb(uv_shutdown_t *req, int status)
{
	struct tls_uv *t = req->data;

	free(req);
	(void)status;
	tls_uv_close(t, NULL);
}

/* After close_notify both ways: half-close TCP so our alert flushes, then
 * close. */
static void
tls_uv_finish(struct tls_uv *t)
{
	uv_shutdown_t *req;

	if (t->closing)
		return;
	req = malloc(sizeof(*req));
	if (req == NULL ||
	    uv_shutdown(req, (uv_stream_t *)&t->tcp, shutdown_cb) != 0) {
		free(req);
		tls_uv_close(t, NULL);
		return;
	}
	req->data = t;
}

static void
on_close_notify(void *ud)
{
	struct tls_uv *t = ud;

	if (t->cb.on_peer_close != NULL)
		t->cb.on_peer_close(t);
	tls_uv_finish(t);
}

static void
on_error(void *ud, const char *reason)
{
	struct tls_uv *t = ud;

	tls_uv_close(t, reason);
}

static const struct tls_conn_callbacks tls_uv_conn_callbacks = {
	.on_ciphertext = on_ciphertext,
	.on_handshake = on_handshake,
	.on_plaintext = on_plaintext,
	.on_close_notify = on_close_notify,
	.on_error = on_error,
};

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	buf->base = malloc(TLS_UV_READ_BUF);
	buf->len = buf->base ? TLS_UV_READ_BUF : 0;
}

static void
read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct tls_uv *t = (struct tls_uv *)s;

	if (n > 0 && t->conn != NULL && !t->closing)
		tls_conn_feed(t->conn, (const uint8_t *)buf->base, (size_t)n);
	free(buf->base);
	if (n >= 0 || t->closing)
		return;
	if (n == UV_EOF && t->conn != NULL) {
		enum tls_conn_state st;

		tls_conn_eof(t->conn);	/* may report truncation */
		if (t->closing)
			return;
		st = tls_conn_state(t->conn);
		if (st == TLS_CLOSED) {
			tls_uv_close(t, NULL);
			return;
		}
	}
	tls_uv_close(t, n == UV_EOF ? "connection closed by peer" :
	    uv_strerror((int)n));
}

int
tls_uv_init(uv_loop_t *loop, struct tls_uv *t,
    const struct tls_uv_callbacks *cb, void *data)
{
	int rc;

	memset(t, 0, sizeof(*t));
	t->cb = *cb;
	t->data = data;
	rc = uv_tcp_init(loop, &t->tcp);
	/* Applied when the socket is created (connect) or adopted (accept):
	 * handshake flights are small writes that Nagle would hold back until
	 * the peer's delayed ACK, 40 ms each. */
	if (rc == 0)
		rc = uv_tcp_nodelay(&t->tcp, 1);
	return rc;
}

int
tls_uv_start(struct tls_uv *t, struct tls_certstore *store,
    const struct tls_conn_params *params, const uint8_t *pending,
    size_t pending_len, char *err, size_t errlen)
{
	int r;

	t->conn = tls_conn_new(store, params, &tls_uv_conn_callbacks, t, err,
	    errlen);
	if (t->conn == NULL)
		return -1;
	r = uv_read_start((uv_stream_t *)&t->tcp, alloc_cb, read_cb);
	if (r < 0) {
		snprintf(err, errlen, "read: %s", uv_strerror(r));
		return -1;
	}
	tls_conn_start(t->conn);
	if (pending_len > 0 && !t->closing)
		tls_conn_feed(t->conn, pending, pending_len);
	return 0;
}

int
tls_uv_write(struct tls_uv *t, const uint8_t *data, size_t len)
{
	if (t->closing || t->conn == NULL)
		return -1;
	return tls_conn_write(t->conn, data, len);
}

void
tls_uv_shutdown(struct tls_uv *t)
{
	if (t->closing || t->conn == NULL)
		return;
	tls_conn_close(t->conn);
	if (tls_conn_state(t->conn) == TLS_CLOSED)
		tls_uv_finish(t);
}
