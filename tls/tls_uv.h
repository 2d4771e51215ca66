/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls_uv.h - a TCP stream with a tls_conn on top, driven by libuv.
 *
 * The small glue the tests, the interop tool and simple callers use; the
 * s2s layer may glue tls_conn to its own streams the same way.  A struct
 * tls_uv embeds its uv_tcp_t: the caller accepts or connects on
 * tls_uv_tcp(t), then calls tls_uv_start() with any bytes it already read
 * in plaintext (STARTTLS: whatever followed <starttls/>).  Writes are
 * copied; tls_uv_write_queue_size() is the backpressure signal.
 *
 * Lifetime: the caller owns the struct; after tls_uv_close() (or a fatal
 * error, or the peer's close) on_close is called once, from the handle's
 * close callback, and the struct may then be freed.
 */
#ifndef XE_TLS_UV_H
#define XE_TLS_UV_H

#include <uv.h>

#include "tls.h"

struct tls_uv;

struct tls_uv_callbacks {
	void (*on_handshake)(struct tls_uv *t, const struct tls_verify_result *r);
	void (*on_read)(struct tls_uv *t, const uint8_t *data, size_t len);
	/* The peer sent close_notify (ours is already on its way). */
	void (*on_peer_close)(struct tls_uv *t);
	/* Final: reason NULL for a clean close, else why. */
	void (*on_close)(struct tls_uv *t, const char *reason);
};

struct tls_uv {
	uv_tcp_t tcp;			/* first: the handle is the struct */
	struct tls_conn *conn;
	struct tls_uv_callbacks cb;
	void *data;			/* the caller's */
	size_t write_queue;		/* bytes handed to uv_write, unsent */
	int closing;
	char reason[200];
};

int tls_uv_init(uv_loop_t *loop, struct tls_uv *t,
    const struct tls_uv_callbacks *cb, void *data);
uv_tcp_t *tls_uv_tcp(struct tls_uv *t);
/* Creates the tls_conn, starts reading and the handshake, and feeds
 * `pending` (may be NULL).  0, or -1 with err (then call tls_uv_close). */
int tls_uv_start(struct tls_uv *t, struct tls_certstore *store,
    const struct tls_conn_params *params, const uint8_t *pending,
    size_t pending_len, char *err, size_t errlen);
int tls_uv_write(struct tls_uv *t, const uint8_t *data, size_t len);
/* Sends close_notify; the handle closes when the peer answers or EOF. */
void tls_uv_shutdown(struct tls_uv *t);
/* Closes now; reason NULL for a clean close. */
void tls_uv_close(struct tls_uv *t, const char *reason);
size_t tls_uv_write_queue_size(const struct tls_uv *t);

#endif
