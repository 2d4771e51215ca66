/* SPDX-License-Identifier: Apache-2.0 */
/*
 * session_fixture.h - the real session code (s2s_in, s2s_in_auth, s2s_out,
 * router, bounce) on a real libuv loop, every remote end a scripted peer
 * over the memory pipe (proxy/s2s_conn.h) and every outgoing connection
 * answered by a scripted dialer (proxy/s2s_dial.h).
 *
 * Shared by the unit tests (tests/unit/test_session_*.c) and the stateful
 * fuzzer (tests/fuzz/fuzz_session.c), so it reports instead of asserting:
 * functions return 0 / -1 and leave a sentence in sf->err.
 *
 *   - struct sf: a loop, a struct edge with a configuration parsed from
 *     JSON, two listeners (external STARTTLS and internal), a log observer
 *     counting events by name (and summing the "routed" field of
 *     s2s_in.close: the stanzas the inbound streams handed to the router).
 *   - struct sf_peer: one remote end.  It sends bytes, reads what the proxy
 *     wrote through its own stream tokenizer (expectations are about
 *     events: a header, an element named so, its error condition, the
 *     stream's close; never substrings), stops reading (the proxy's write
 *     queue fills), half-closes or resets.  sf_peer_accept() makes an
 *     inbound stream (the peer connected to us); the scripted dialer makes
 *     one for each outgoing connection it "connects".
 *   - the scripted dialer: per domain, a list of answers, one consumed per
 *     candidate asked for (start, then next): a connected peer, a final
 *     failure (DNS or connect: any enum dns_error), a failure known at once
 *     (start returns it), or no answer at all (the proxy's own deadline
 *     must end it).  Answers come from the loop, as the real dialer's do.
 *   - time: sf_fire_timer() fires an active timer of the loop the way
 *     uv__run_timers does (stop, again, callback), so deadlines are tested
 *     without waiting for them.
 *   - the end, libuv style: sf_finish() runs the loop empty, walks it
 *     (a handle still open is named in sf->err), and uv_loop_close() must
 *     succeed (a borrowed loop: checked for what it would refuse).
 */
#ifndef XE_SESSION_FIXTURE_H
#define XE_SESSION_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "dns.h"
#include "edge.h"
#include "s2s_conn.h"
#include "s2s_dial.h"
#include "tls.h"
#include "xmlstream.h"

#define SF_ERR_MAX 512
#define SF_NAME_MAX 64		/* element and condition names we compare */
#define SF_ATTR_MAX 512		/* to / from / id / type values we keep */
#define SF_LOG_NAMES_MAX 96	/* distinct log event names counted */
#define SF_DIAL_STEPS_MAX 8	/* scripted answers per domain */
#define SF_DIAL_DOMAINS_MAX 16
#define SF_TURNS_MAX 400	/* loop turns a wait may take */
#define SF_ADVANCE_MAX 64	/* timer firings one sf_advance may make */

/* One event the peer's tokenizer read from what the proxy wrote. */
struct sf_event {
	enum xmlstream_event_type type;	/* NONE: nothing (more) came */
	char name[SF_NAME_MAX];		/* local name */
	char ns[SF_ATTR_MAX];
	char from[SF_ATTR_MAX], to[SF_ATTR_MAX], id[SF_ATTR_MAX], stype[SF_NAME_MAX];
	/* <stream:error/>: the defined condition (RFC 6120 §4.9.3); a stanza
	 * of type 'error': the condition inside <error/> (§8.3.3); else "". */
	char cond[SF_NAME_MAX];
	char error_type[SF_NAME_MAX];	/* <error type='...'/> of a stanza error */
	char *raw;			/* the element's bytes, NUL-terminated (owned) */
	size_t raw_len;
};

enum sf_peer_role {
	SF_PEER_IN,	/* it connected to one of our listeners */
	SF_PEER_OUT,	/* our scripted dialer connected to it */
};

struct sf;

struct sf_peer {
	struct sf *sf;
	enum sf_peer_role role;
	char domain[CONFIG_DOMAIN_MAX];	/* SF_PEER_OUT: whom the proxy dialled */
	int index;			/* creation order, from 0 */
	struct s2s_pipe *pipe;		/* the proxy's end; our reference */
	struct xmlstream *xs;		/* reads the proxy's bytes */
	int header_seen;		/* the proxy's stream header came */
	char stream_id[SF_ATTR_MAX];	/* its id */
	int closed_seen;		/* </stream:stream> came */
	int parse_failed;		/* the proxy wrote bytes our tokenizer refused */
	struct sf_event ev;		/* the last event read */
	/* TLS on the peer's side (sf_peer_tls): what it decrypted and the
	 * tokenizer has not taken yet. */
	struct tls_conn *tls;
	char *plain;
	size_t plain_len, plain_cap;
	int tls_up;			/* handshake completed */
	char tls_error[256];		/* the handshake or a record failed */
	int direct_tls;			/* SF_PEER_OUT: the proxy asked for Direct TLS */
	struct sf_peer *next;
};

/* What a dial attempt gets. */
enum sf_dial_kind {
	SF_DIAL_PEER,		/* connected: a new SF_PEER_OUT */
	SF_DIAL_FAIL,		/* from the loop: the final error (err) */
	SF_DIAL_FAIL_NOW,	/* start() returns err, no callback */
	SF_DIAL_HANG,		/* never answers */
};

struct sf_dial_step {
	enum sf_dial_kind kind;
	enum dns_error err;
};

struct sf_dial_script {
	char domain[CONFIG_DOMAIN_MAX];
	struct sf_dial_step steps[SF_DIAL_STEPS_MAX];
	size_t nsteps, next;
};

struct sf_log_count {
	char name[48];
	uint64_t n;
};

struct sf {
	uv_loop_t *loop;		/* &own_loop, or the caller's */
	uv_loop_t own_loop;
	struct edge *edge;
	struct listener external;	/* starttls */
	struct listener internal;	/* the gateway's */
	struct s2s_dialer dialer;
	struct sf_dial_script scripts[SF_DIAL_DOMAINS_MAX];
	size_t nscripts;
	/* Without a script for its domain a dial gets this (one to a
	 * configured address, the gateway's, connects). */
	struct sf_dial_step default_step;
	struct sf_peer *peers;		/* every peer, newest first */
	int npeers;
	uint64_t dials_started, dials_static;
	size_t dials_live;		/* started and not freed */
	/* The log, counted. */
	struct sf_log_count logs[SF_LOG_NAMES_MAX];
	size_t nlogs;
	uint64_t routed_by_inbound;	/* sum of s2s_in.close "routed" */
	uint64_t closes_queue_full;	/* s2s_in/s2s_out.close "send queue full" */
	int log_stderr;			/* also print every event (debugging) */
	/* When set, a peer dialled for Direct TLS at a configured address
	 * (the gateway) answers as the pinned gateway with this store. */
	struct tls_certstore *gateway_store;
	int borrowed;			/* cfg and edge are the caller's */
	char err[SF_ERR_MAX];
};

/* A fixture with configuration json (config_parse; a dialback secret is
 * set).  0, or -1 with sf->err. */
int sf_init(struct sf *sf, const char *json);
/* The same over a configuration, an edge and a loop the caller keeps
 * (the fuzzer: parsing and allocating ~1 MB and setting up a loop's
 * io_uring per run would be most of its time); storage is cleared, none
 * is freed by sf_finish, which checks the loop for what uv_loop_close
 * would refuse (an open handle, an active request) without closing it. */
int sf_init_borrowed(struct sf *sf, struct config *cfg, struct edge *storage, uv_loop_t *loop);
/* Ends the test libuv style: releases the peers, runs the loop until it
 * is empty, checks that no stream, dial or handle is left and that
 * uv_loop_close succeeds, and frees everything.  0, or -1 with sf->err
 * (everything is freed in both cases). */
int sf_finish(struct sf *sf);
/* The daemon's graceful shutdown (daemon.c's edge_shutdown, its stream
 * part): every inbound stream gets <system-shutdown/>, every outgoing one
 * bounces its queue and closes. */
void sf_shutdown(struct sf *sf);

/* The daemon's reload (daemon.c's edge_reload, its session part): the
 * configuration json replaces the running one and the running streams
 * are told (s2s_out_policy_reloaded).  0, or -1 with sf->err. */
int sf_reload(struct sf *sf, const char *json);
/* The blocklist file changed (blocklist_edge.c's poll callback): text,
 * written to a file of its own, becomes the running list through
 * blocklist_apply as the daemon reloads it.  0, or -1 with sf->err. */
int sf_blocklist_reload(struct sf *sf, const char *text);

/* Scripts the answers for domain (replacing earlier ones). */
void sf_dial_script(struct sf *sf, const char *domain, const struct sf_dial_step *steps,
    size_t nsteps);

/* A remote server connects to a listener (external: l NULL) from ip. */
struct sf_peer *sf_peer_accept(struct sf *sf, struct listener *l, const char *ip);
/* The newest peer the dialer connected for domain (NULL: none). */
struct sf_peer *sf_peer_out(struct sf *sf, const char *domain);

int sf_peer_send(struct sf_peer *p, const char *s);
int sf_peer_sendf(struct sf_peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The peer's stream header (from, to; NULL leaves one out) with
 * xmlns:db declared. */
int sf_peer_send_header(struct sf_peer *p, const char *from, const char *to);
void sf_peer_stall(struct sf_peer *p, int stalled);
void sf_peer_eof(struct sf_peer *p);
void sf_peer_reset(struct sf_peer *p);

/* Reads the next event from the proxy's bytes, running the loop (at most
 * SF_TURNS_MAX turns) until one is there; the stream header is noted
 * (p->header_seen, p->stream_id) and skipped.  Returns the event type
 * (XMLSTREAM_EV_NONE when nothing came); the event is in p->ev. */
enum xmlstream_event_type sf_peer_next(struct sf_peer *p);
/* The same without running the loop: the next event of what the proxy
 * has written so far (NONE: nothing more yet).  Written means submitted:
 * what a connection gathered in this loop turn shows up after the turn's
 * flush (s2s_conn.c), as on a socket. */
enum xmlstream_event_type sf_peer_poll(struct sf_peer *p);
/* The next event is an element named name (and, ns non-NULL, in ns):
 * 0, or -1 with what came instead in sf->err. */
int sf_peer_expect(struct sf_peer *p, const char *name, const char *ns);
/* The next event is <stream:error/> with condition cond, then the
 * stream's end: 0 or -1. */
int sf_peer_expect_stream_error(struct sf_peer *p, const char *cond);
/* The proxy closed the connection (and wrote nothing more but the end
 * of the stream): 0 or -1. */
int sf_peer_expect_closed(struct sf_peer *p);
/* The peer restarts its reading after TLS / SASL (a new header follows). */
void sf_peer_restart(struct sf_peer *p);
/* The peer starts TLS in role with store (its own certificates and
 * pins): a client sends its ClientHello now.  0 or -1. */
int sf_peer_tls(struct sf_peer *p, struct tls_certstore *store, enum tls_role role,
    const char *peer_domain);
/* Runs the loop until the peer's handshake completed (0) or failed (-1). */
int sf_peer_tls_wait(struct sf_peer *p);
/* 1 once the proxy closed its end of the connection. */
int sf_peer_closed(const struct sf_peer *p);

/* Runs the loop turns until nothing is left to do right now (no timer
 * waited for): pending writes, idles and checks. */
void sf_settle(struct sf *sf);
/* Active timers of the loop (deadlines the session code set). */
size_t sf_timers_active(struct sf *sf);
/* Fires the n-th active timer (in the loop's walk order) as libuv would
 * when it expires; -1 if there is none. */
int sf_fire_timer(struct sf *sf, size_t n);
/* Time passes by ms: the timers due within ms fire, earliest first, one
 * at a time (virtual time: a timer re-armed within ms fires again, and
 * the real time the loop's turns take does not count; at most
 * SF_ADVANCE_MAX firings).  Returns how many. */
size_t sf_advance(struct sf *sf, uint64_t ms);
/* Fires the active timers until none is left or max were fired. */
size_t sf_fire_all_timers(struct sf *sf, size_t max);

/* How often the log had event name. */
uint64_t sf_log_count(const struct sf *sf, const char *name);

/* The n-th child element's local name of the element in raw (validated
 * XML) at depth 1, skipping <text/>; "" if none.  For conditions. */
void sf_first_child(const char *raw, size_t len, const char *parent, char *out, size_t cap);

/* Names the handles still open on loop into out ("timer, tcp"); returns
 * how many (handles being closed are not counted). */
size_t sf_open_handles(uv_loop_t *loop, char *out, size_t cap);

/* The dialback key the proxy would accept for (receiving=to, originating=
 * from, stream id) under the fixture's secret: what an honest peer's
 * authoritative server would say is valid. */
int sf_dialback_key(struct sf *sf, const char *receiving, const char *originating,
    const char *stream_id, char *out, size_t cap);

#endif
