/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_dial.h - the resolve + connect step of an outgoing stream, as an
 * interface.
 *
 * s2s_out asks a dialer for a connection to a domain (discovery per RFC
 * 6120 §3.2 and XEP-0368, or one configured address) and gets byte pipes
 * (s2s_conn.h) back, one candidate at a time: when the stream on one fails
 * before it is established, s2s_dial_next() goes on with the next
 * candidate.  The real dialer is dns/connect.c's sequence over libuv TCP
 * (s2s_dial_dns); unit tests and the stateful fuzzer put in a scripted one
 * (addresses, failures, memory pipes) through edge->dialer.
 */
#ifndef XE_S2S_DIAL_H
#define XE_S2S_DIAL_H

#include <sys/socket.h>

#include "dns.h"
#include "s2s_conn.h"

struct s2s_dial;

struct s2s_dial_target {
	const char *domain;		/* whose candidates; names logs */
	const struct sockaddr *addr;	/* one configured address, or NULL: discover */
	enum dns_tls_mode tls;		/* with addr: Direct TLS or STARTTLS */
	const struct dns_avoid *avoid;	/* discovered candidates to refuse; may be NULL */
	int want_tlsa;			/* discovered candidates carry their DANE facts */
};

/* One answer.  err == DNS_OK: pipe is a connected pipe, now the caller's;
 * peer ("ip:port") and direct_tls say what was reached (valid during the
 * call).  Else pipe is NULL and this is the last answer. */
struct s2s_dial_result {
	enum dns_error err;
	struct s2s_pipe *pipe;
	const char *peer;
	int direct_tls;
	/* What DNS said about it (source, target); NULL from a scripted
	 * dialer.  Valid during the call. */
	const struct dns_candidate *cand;
};

typedef void (*s2s_dial_cb)(void *arg, const struct s2s_dial_result *r);

struct s2s_dialer_ops {
	/* Starts; DNS_OK and *out, or an error without any callback.  The
	 * callback may come before this returns (a cached failure). */
	enum dns_error (*start)(void *impl, const struct s2s_dial_target *t, s2s_dial_cb cb,
	    void *arg, struct s2s_dial **out);
	/* After a success: try the candidates after the one handed out. */
	void (*next)(struct s2s_dial *d);
	/* After a success: the same candidate once more (a peer that
	 * refused our certificate, tried without one: cert_fallback.c). */
	void (*again)(struct s2s_dial *d);
	/* Stops; no callback after this (also inside one).  Pipes already
	 * handed out are not touched. */
	void (*free)(struct s2s_dial *d);
};

struct s2s_dialer {
	const struct s2s_dialer_ops *ops;
	void *impl;
};

/* The real dialer over a resolver (dns/connect.c, libuv TCP pipes). */
void s2s_dial_dns_init(struct s2s_dialer *d, struct dns_resolver *r);

#endif
