/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_conn.h - the one stream transport under every XMPP session.
 *
 * In the spirit of OpenSMTPD's ioev.c (one I/O layer under smtp_session.c
 * and mta_session.c): a struct s2s_conn moves bytes and nothing else knows
 * how.  It owns, for one connection:
 *   - a byte pipe (struct s2s_pipe, below): libuv TCP in the daemon, an
 *     in-memory pipe in unit tests and the stateful fuzzer;
 *   - TLS (tls_conn), started at once (Direct TLS, XEP-0368; the internal
 *     link) or after <proceed/> (STARTTLS, RFC 6120 §5.4);
 *   - the stream tokenizer (xmlstream.c): every byte from the peer goes
 *     through it, and sessions act on its events only (header, element,
 *     stream close, error), never on the peer's bytes;
 *   - a bounded write queue: bytes handed to the pipe and not yet written
 *     are counted, and a send past the bound closes the connection
 *     (limits.send_queue_bytes: a peer that does not read cannot make us
 *     buffer without end); one send is one TLS record (up to
 *     S2S_CONN_RECORD_MAX, or mbedTLS's smaller output maximum), so
 *     callers batch small stanzas into one send; what is sent in one loop
 *     turn leaves in one write (gathered, see s2s_conn.c; submitted by the
 *     loop's one prepare handle, struct s2s_conn_flusher);
 *   - read pause/resume (backpressure from a full destination);
 *   - one deadline timer (handshake / connect deadline, then idleness);
 *   - closing.
 *
 * Life and death (the libuv rule, issue 14):
 *   1. s2s_conn_close(conn, reason) is a request: the connection stops
 *      reading, says close_notify, flushes what is queued (bounded by
 *      S2S_CONN_FLUSH_MS) and closes its handles.  Nothing is freed inside
 *      it, nor inside any send: every send may close (queue full, write or
 *      TLS failure), and then returns -1.
 *   2. The session learns of the close once, through on_closing (whoever
 *      asked: itself, the peer, a failure), still inside the call that
 *      closed; it must not free anything there.
 *   3. on_closed comes last, from the handles' close callbacks, which never
 *      run inside one of our calls: the one place the session frees itself.
 *      The conn is freed right after on_closed returns.
 *   4. Valid is not alive: after any call that can send or close, re-check
 *      (a -1 from a send, or s2s_conn_is_closing()) before changing state.
 *
 * Sessions are driven by callbacks, all optional but on_closed; every
 * callback gets the session's pointer given to s2s_conn_new().
 */
#ifndef XE_S2S_CONN_H
#define XE_S2S_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "tls.h"
#include "xmlstream.h"

#define S2S_CONN_FLUSH_MS 2000		/* our last bytes may take this long */
#define S2S_CONN_RECORD_MAX 16384	/* plaintext bytes per TLS record (RFC 8446 §5.1) */
#define S2S_CONN_PEER_MAX 72		/* "[ipv6]:port" and a little more */

/* --- the byte pipe ---------------------------------------------------------
 *
 * What the connection needs from a transport: write, read start/stop,
 * half-close, close.  Two backends: TCP (s2s_pipe_tcp_*) and memory
 * (s2s_pipe_mem_*).  Both report through the events the connection
 * installs, and never synchronously from inside an op: a write completes,
 * bytes arrive, a close finishes from the loop (libuv's callbacks; the
 * memory pipe defers through an idle handle), so the session code sees the
 * same order of events under test as in the daemon.
 */
struct s2s_pipe;

struct s2s_pipe_events {
	/* Where the next read goes: *base, *len bytes (0: nothing fits). */
	void (*on_alloc)(void *owner, char **base, size_t *len);
	/* n > 0 bytes at base; n < 0: UV_EOF or a libuv error code, the
	 * last read. */
	void (*on_read)(void *owner, ssize_t n, const char *base);
	/* n bytes of one earlier write left (status 0) or failed (< 0). */
	void (*on_write_done)(void *owner, size_t n, int status);
	/* The half-close asked by shutdown went out (after every write). */
	void (*on_shutdown)(void *owner, int status);
	/* The pipe is closed; it frees itself after this returns. */
	void (*on_closed)(void *owner);
};

struct s2s_pipe_ops {
	/* Queues len bytes, copied, and submits them (with whatever the
	 * pipe gathered before): 0, or a libuv error code (nothing queued,
	 * no on_write_done). */
	int (*write)(struct s2s_pipe *p, const void *data, size_t len);
	/* Gathering (issue 18, relay CPU): the free tail of the pipe's open
	 * write (opened on demand), *len >= 1 bytes at *dst: 0;
	 * UV_ENOBUFS when the open write is full (flush, then ask again);
	 * another libuv error code (closing, out of memory).  The caller
	 * copies up to *len bytes there and says how many with commit.
	 * Nothing reaches the peer until flush, so every record a stream
	 * produces in one loop turn can go out in one system call.  Flushed
	 * bytes are reported by on_write_done; gathered bytes a failed
	 * flush dropped are not (the caller knows how many it gathered). */
	int (*span)(struct s2s_pipe *p, char **dst, size_t *len);
	void (*commit)(struct s2s_pipe *p, size_t n);
	/* Submits the open write, if any: 0, or a libuv error code (its
	 * bytes dropped, see span). */
	int (*flush)(struct s2s_pipe *p);
	int (*read_start)(struct s2s_pipe *p);
	void (*read_stop)(struct s2s_pipe *p);
	/* Half-close once every queued write is out (the open one is
	 * submitted first): 0, or an error code (then no on_shutdown). */
	int (*shutdown)(struct s2s_pipe *p);
	/* Closes at once: the open write is submitted first (tried once,
	 * as a write just before a close always was), pending writes fail
	 * with UV_ECANCELED; on_closed follows from the loop.  Idempotent. */
	void (*close)(struct s2s_pipe *p);
	/* The TCP handle, for `status` (tcp_info); NULL for memory. */
	uv_tcp_t *(*tcp)(struct s2s_pipe *p);
};

/* Write requests shared by the TCP pipes of one loop (edge->pipe_pool):
 * every request has room for S2S_PIPE_WRITE_CAP bytes (four TLS records),
 * and a written one waits here for the next write of any stream, so idle
 * streams hold none and busy ones allocate nothing per write.  Zeroed is
 * empty; s2s_pipe_pool_clear frees what it holds once no pipe uses it
 * (after the loop has closed every handle).  At most 64 are kept (4 MiB
 * for the whole process): with 16 pooled, eight busy outgoing streams
 * freed and allocated requests all the time (300B x8 of run_relay.sh:
 * 0.67x the CPU per MB with 64, tests/bench/RESULTS.md). */
#define S2S_PIPE_WRITE_CAP (64 * 1024)
#define S2S_PIPE_POOL_MAX 64
struct s2s_pipe_pool {
	void *free[S2S_PIPE_POOL_MAX];
	size_t nfree;
};
void s2s_pipe_pool_clear(struct s2s_pipe_pool *pool);

struct s2s_pipe {
	const struct s2s_pipe_ops *ops;
	const struct s2s_pipe_events *ev;	/* set by s2s_pipe_attach */
	void *owner;
	uv_loop_t *loop;
	/* The loop's write pool, or NULL (every write its own request). */
	struct s2s_pipe_pool *pool;
};

/* Installs the events and their argument (the connection does this). */
void s2s_pipe_attach(struct s2s_pipe *p, const struct s2s_pipe_events *ev, void *owner);
/* Closes a pipe no connection took (refused, out of memory); it frees
 * itself from the loop. */
void s2s_pipe_discard(struct s2s_pipe *p);

/* TCP backend.  From an accepted socket (takes fd, closed on failure too)
 * or from a connected handle dns_connect() handed over (malloc'd; owned
 * and freed by the pipe from now on).  NULL on failure. */
struct s2s_pipe *s2s_pipe_tcp_from_fd(uv_loop_t *loop, int fd);
struct s2s_pipe *s2s_pipe_tcp_from_handle(uv_loop_t *loop, uv_tcp_t *tcp);

/* Memory backend: one end is the connection's (struct s2s_pipe), the
 * other the test's or fuzzer's scripted peer, driven by the calls below.
 * Created with two references, the connection's (dropped when it closes
 * the pipe) and the peer's (s2s_pipe_mem_release); freed when both are
 * gone, so a test can read what was written after the close.  It runs on
 * a real loop: delivery to the connection is deferred through a uv_idle
 * handle, active only while there is something to deliver. */
struct s2s_pipe *s2s_pipe_mem_new(uv_loop_t *loop);
/* The peer sends bytes (copied; delivered while the connection reads). */
int s2s_pipe_mem_peer_send(struct s2s_pipe *p, const void *data, size_t len);
int s2s_pipe_mem_peer_sendstr(struct s2s_pipe *p, const char *s);
/* The peer half-closes (the connection reads UV_EOF after the data). */
void s2s_pipe_mem_peer_eof(struct s2s_pipe *p);
/* The peer resets the connection (the next read gets UV_ECONNRESET). */
void s2s_pipe_mem_peer_reset(struct s2s_pipe *p);
/* Stalled: the peer does not read, writes stay pending (backpressure,
 * queue overflow).  Unstalling completes them from the loop. */
void s2s_pipe_mem_set_stalled(struct s2s_pipe *p, int stalled);
/* Makes the next write fail at once with err (a libuv error code). */
void s2s_pipe_mem_fail_next_write(struct s2s_pipe *p, int err);
/* How many writes the connection submitted (flushes that carried bytes):
 * what a socket would have seen as write system calls. */
size_t s2s_pipe_mem_writes(const struct s2s_pipe *p);
/* Everything the connection has submitted so far (completed or pending),
 * as one NUL-terminated string owned by the pipe; *len may be NULL.
 * Bytes gathered in the open write are not in it until the flush
 * submits them, as a socket's peer does not see them either: a test
 * peer that could read them would hide a flush that never comes.
 * s2s_pipe_mem_peer_consume drops the first n bytes of it. */
const char *s2s_pipe_mem_peer_output(struct s2s_pipe *p, size_t *len);
void s2s_pipe_mem_peer_consume(struct s2s_pipe *p, size_t n);
/* 1 once the connection half-closed / closed its end. */
int s2s_pipe_mem_peer_saw_shutdown(const struct s2s_pipe *p);
int s2s_pipe_mem_peer_saw_close(const struct s2s_pipe *p);
/* Bytes written by the connection and not yet completed. */
size_t s2s_pipe_mem_pending(const struct s2s_pipe *p);
/* Drops the peer's reference. */
void s2s_pipe_mem_release(struct s2s_pipe *p);

/* --- the connection ------------------------------------------------------- */

struct s2s_conn;

struct s2s_conn_callbacks {
	/* The peer's stream header (RFC 6120 §4.7), also after each restart
	 * (TLS, SASL). */
	void (*on_header)(void *ud, const struct xmlstream_event *ev);
	/* A top-level element: a stanza or a negotiation element.  Its bytes
	 * stay valid during the call (s2s_conn_xmlstream() for the router). */
	void (*on_element)(void *ud, const struct xmlstream_event *ev);
	/* The peer's </stream:stream>. */
	void (*on_stream_close)(void *ud);
	/* The tokenizer refused the peer's bytes: ev->cond / ev->text. */
	void (*on_parse_error)(void *ud, const struct xmlstream_event *ev);
	/* TLS is up; the tokenizer was restarted (RFC 6120 §5.4.3.3), the
	 * session sends (outbound) or awaits (inbound) a new header. */
	void (*on_tls)(void *ud, const struct tls_verify_result *r);
	/* The deadline set with s2s_conn_timer_start passed. */
	void (*on_timeout)(void *ud);
	/* A write completed and the connection is open: the session may
	 * move more of its own queue (s2s_conn_queued() is lower). */
	void (*on_written)(void *ud);
	/* The connection is closing: reason says why (the session's own
	 * s2s_conn_close reason, or the transport's: "peer closed the
	 * connection", "send queue full", "TLS failed: ..."); peer_gone is 1
	 * when the peer ended it (EOF, reset, close_notify), 0 for our own
	 * decisions and local failures.  Once; may be inside a send.  Free
	 * nothing here (rule 2 above). */
	void (*on_closing)(void *ud, const char *reason, int peer_gone);
	/* Every handle closed: the session frees itself (rule 3). */
	void (*on_closed)(void *ud);
	/* Optional: at most how many of want bytes the next read may take
	 * (a rate limit, ratelimit.h); 0 is taken as want. */
	size_t (*read_allowance)(void *ud, size_t want);
	/* Optional: a read's bytes are all handed on and the connection is
	 * still open (a rate limit decides whether reading goes on). */
	void (*on_read_done)(void *ud);
};

/* The loop's one prepare handle (issue 18, relay CPU): every connection
 * with output gathered in this loop turn is on its list, and the handle
 * submits each one's gathered output once, just before the loop waits for
 * I/O.  One handle per loop instead of one per connection: an idle stream
 * holds two list pointers, not a uv_prepare_t.  Zeroed is ready: the
 * handle is allocated when the first connection attaches and closed when
 * the last one is freed, so a loop whose connections are all gone has
 * nothing of it open (uv_loop_close succeeds).  Every connection
 * attached must run on the same loop.  A connection closing leaves the
 * list at once (s2s_conn_close_handles), so the list never holds a
 * connection the loop may free. */
struct s2s_conn_flusher {
	uv_prepare_t *prep;		/* malloc'd; NULL while nothing is attached */
	struct s2s_conn *head;		/* connections with output gathered */
	size_t attached;		/* connections using this flusher */
};

struct s2s_conn_params {
	uv_loop_t *loop;
	struct tls_certstore *certs;	/* for s2s_conn_starttls; may be NULL */
	/* Shared by every TLS connection of the loop: records are consumed
	 * inside the read callback (edge->read_buf). */
	uint8_t *shared_read_buf;
	size_t shared_read_len;
	size_t send_queue_max;		/* bytes; limits.send_queue_bytes */
	const struct xmlstream_limits *limits;	/* NULL: the defaults */
	const char *default_ns;		/* XMLSTREAM_NS_SERVER */
	const char *peer;		/* "ip:port" for logs; may be NULL */
	/* 1: every read restarts a repeating deadline (an inbound stream's
	 * idleness counts any byte, whitespace keepalives too). */
	int reads_restart_timer;
	/* The loop's write-request pool (edge->pipe_pool), or NULL. */
	struct s2s_pipe_pool *pipe_pool;
	/* The loop's flusher (edge->conn_flusher), or NULL: the connection
	 * then has one of its own (a handle of its own while it lives). */
	struct s2s_conn_flusher *flusher;
};

/* The usual parameters: TLS reads in buf (shared by the loop's
 * connections), the default tokenizer limits, s2s content namespace. */
void s2s_conn_params_init(struct s2s_conn_params *p, uv_loop_t *loop, struct tls_certstore *certs,
    uint8_t *buf, size_t buflen, size_t send_queue_max, const char *peer);

/* A connection over pipe (taken: closed through the connection from now
 * on, also when this fails).  Nothing is read until s2s_conn_read_start.
 * NULL when out of memory (the pipe is closed then). */
struct s2s_conn *s2s_conn_new(const struct s2s_conn_params *params, struct s2s_pipe *pipe,
    const struct s2s_conn_callbacks *cb, void *ud);

/* Starts TLS (params->peer_addr is filled in).  Direct TLS: at once, before
 * any read.  STARTTLS: after <proceed/> went out / came in; the caller has
 * checked that nothing is buffered behind <starttls/> (s2s_conn_buffered:
 * pipelined bytes are never honoured as TLS).  The tokenizer gets no
 * events until the handshake completes (on_tls).  0, or -1 with err. */
int s2s_conn_starttls(struct s2s_conn *c, const struct tls_conn_params *params,
    char *err, size_t errlen);

/* Sends stream bytes (through TLS once it is up): 0, or -1 when not sent
 * or when the connection is closing after the call (rule 4). */
int s2s_conn_send(struct s2s_conn *c, const void *data, size_t len);
int s2s_conn_sendstr(struct s2s_conn *c, const char *s);
/* Backpressure: stop / resume reading from the peer.  Events already
 * buffered in the tokenizer are still delivered. */
void s2s_conn_read_stop(struct s2s_conn *c);
int s2s_conn_read_start(struct s2s_conn *c);

/* The deadline: on_timeout after timeout_ms, then every repeat_ms (0: once).
 * s2s_conn_timer_again restarts a repeating one (idleness). */
void s2s_conn_timer_start(struct s2s_conn *c, uint64_t timeout_ms, uint64_t repeat_ms);
void s2s_conn_timer_again(struct s2s_conn *c);
void s2s_conn_timer_stop(struct s2s_conn *c);

/* The one way out (rule 1): stops reading, sends close_notify, flushes
 * (at most S2S_CONN_FLUSH_MS), then closes.  s2s_conn_abort: closes now,
 * without flushing.  Both idempotent; on_closing is reported once. */
void s2s_conn_close(struct s2s_conn *c, const char *reason);
void s2s_conn_abort(struct s2s_conn *c, const char *reason);
int s2s_conn_is_closing(const struct s2s_conn *c);
/* The session lets go of c (an outgoing stream moving on to the next
 * candidate): c is aborted and no callback reaches the session any more,
 * on_closed included; c frees itself from the loop.  c must not be used
 * after this. */
void s2s_conn_detach(struct s2s_conn *c);

/* The tokenizer (limits, restart after SASL, the router's element
 * access) and its bytes not parsed yet. */
struct xmlstream *s2s_conn_xmlstream(struct s2s_conn *c);
size_t s2s_conn_buffered(const struct s2s_conn *c);
/* RFC 6120 §6.4.6: a stream restart without TLS change (after SASL). */
void s2s_conn_restart(struct s2s_conn *c);

/* TLS, when up (NULL before and without). */
struct tls_conn *s2s_conn_tls(const struct s2s_conn *c);
int s2s_conn_tls_started(const struct s2s_conn *c);	/* handshake begun */
/* TLS in whatever state, also failed (NULL before starttls): what a
 * session asks about a handshake that failed (cert_fallback.c), until
 * on_closed. */
struct tls_conn *s2s_conn_tls_any(const struct s2s_conn *c);
/* Bytes handed to the pipe and not written yet. */
size_t s2s_conn_queued(const struct s2s_conn *c);
uv_tcp_t *s2s_conn_tcp(const struct s2s_conn *c);
const char *s2s_conn_peer(const struct s2s_conn *c);

#endif
