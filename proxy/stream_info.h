/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stream_info.h - one live stream as the operator sees it: what
 * `xmpp-edge status` lists, the control command "streams" returns and the
 * metrics endpoint counts.
 *
 * The stream roles fill a struct stream_info through one accessor each
 * (s2s_in_info, s2s_out_info), so their structs stay private; the
 * strings point into the live stream and are valid only until the loop
 * runs again.  stream_info.c adds what the kernel counts (bytes through
 * TCP_INFO) and the stream's age, and writes the JSON.
 */
#ifndef XE_STREAM_INFO_H
#define XE_STREAM_INFO_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>
#include <yajl/yajl_gen.h>

#include "edge.h"

#define STREAM_INFO_PAIRS_MAX 16	/* S2S_IN_PAIRS_MAX */

struct stream_info_pair {
	const char *local, *remote;
	const char *auth;		/* "sasl-external", "dialback", ...; NULL: pending */
};

struct stream_info {
	uint64_t started_ms;		/* uv_now() when it started */
	const char *direction;		/* "in", "out" */
	const char *kind;		/* "remote", "gateway" */
	const char *state;		/* the role's state name */
	const char *peer;		/* "ip:port", "" before connected */
	const char *tls_version;	/* "TLSv1.3"; NULL: no TLS (yet) */
	const char *cipher;
	const char *stream_id;
	struct stream_info_pair pairs[STREAM_INFO_PAIRS_MAX];
	size_t npairs;			/* in: authenticated or pending pairs */
	uint64_t stanzas_in;		/* in: stanzas read */
	uint64_t routed;		/* in: of those, handed to the router */
	uint64_t stanzas_out;		/* stanzas written (out) */
	uint64_t bounced;		/* out: stanzas bounced from its queue */
	size_t queue_bytes;		/* out: stanzas waiting for the stream */
	size_t queue_stanzas;
	size_t send_queue_bytes;	/* bytes handed to the socket, not sent */
	const uv_tcp_t *tcp;		/* NULL while connecting */
	int established;		/* authenticated, stanzas flow */
	int bidi;			/* XEP-0288 negotiated: stanzas both ways
					   (in: stanzas_out are ours written back;
					   out: stanzas_in/routed the peer's) */
	/* XEP-0198: "off", "on" (in and out), "enabling", "failed" (out). */
	const char *sm;
	uint64_t sm_acked;		/* out: stanzas the peer acknowledged */
	uint64_t unconfirmed;		/* out: handed to TCP, the peer has no XEP-0198 */
	size_t sm_unacked;		/* out: written, not acknowledged yet;
					   in: in custody, not settled yet */
	uint32_t sm_h;			/* in: the h we would answer now */
};

/* proxy/s2s_in.c, proxy/s2s_out.c */
struct s2s_in;
struct s2s_out;
void s2s_in_info(const struct s2s_in *s, struct stream_info *out);
void s2s_out_info(const struct s2s_out *o, struct stream_info *out);

/* stream_info.c */

/* Bytes read and written on the stream's socket as the kernel counts them
 * (TCP_INFO: TLS records and XML, the whole stream); -1 when unknown. */
int stream_info_bytes(const struct stream_info *si, uint64_t *in, uint64_t *out);

/* Whether the stream's socket has TCP_NODELAY (1/0); -1 when unknown. */
int stream_info_nodelay(const struct stream_info *si);

/* Writes the array of every live stream (both directions) into g. */
void stream_info_gen_list(struct edge *edge, yajl_gen g);

#endif
