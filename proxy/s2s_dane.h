/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_dane.h - DANE for s2s streams (RFC 7673 with RFC 6698): the policy
 * (`dane` per partner) applied to what dns/ found and tls/ was shown.
 *
 * dns/ gives each candidate its DANE facts (was the SRV/address chain
 * DNSSEC-authenticated, the TLSA answer of its target); tls/dane.c checks
 * a chain against records.  This file is the only place that decides,
 * for outgoing streams (s2s_dane_out_verify, called once the TLS
 * handshake is done), incoming ones (s2s_dane_in_*: the initiating
 * domain's TLSA records looked up before features are sent) and `probe`.
 */
#ifndef XE_S2S_DANE_H
#define XE_S2S_DANE_H

#include <stddef.h>
#include <stdio.h>

#include <uv.h>

#include "config.h"
#include "dns.h"
#include "tls.h"

/* What an outgoing stream keeps of its current candidate. */
struct s2s_dane_target {
	int dnssec;			/* SRV and address answers authenticated */
	struct dns_rrset *tlsa;		/* a reference, or NULL */
	enum dns_error tlsa_err;
	char target[DNS_NAME_MAX + 1];
	unsigned port;
};

/* Copies the DANE facts of cand (taking a reference to its TLSA answer)
 * after dropping the previous ones; cand NULL: none (as unsigned). */
void s2s_dane_target_set(struct s2s_dane_target *t, const struct dns_candidate *cand);
void s2s_dane_target_clear(struct s2s_dane_target *t);

enum s2s_dane_outcome {
	S2S_DANE_NOT_APPLICABLE,	/* policy off, or no authenticated usable records
					   and not required: PKIX/dialback decide */
	S2S_DANE_AUTHENTICATED,		/* a TLSA record matched */
	S2S_DANE_REFUSED,		/* reason says why (required, mismatch, bogus) */
};

const char *s2s_dane_outcome_str(enum s2s_dane_outcome o);

/* The decision for a stream to 'domain' over the candidate t, whose TLS
 * handshake just completed (pkix_ok: the chain is PKIX-valid for domain).
 * Logs s2s_out.dane.  *verdict (may be NULL) gets tls/'s answer when
 * records were checked.  'reason' gets one sentence. */
enum s2s_dane_outcome s2s_dane_out_verify(enum policy_dane mode, const struct s2s_dane_target *t,
    const struct tls_conn *tls, const char *domain, int pkix_ok, char *reason, size_t reason_len,
    struct tls_dane_verdict *verdict);

/* 1 if s2s_dane_out_verify will need the peer's whole chain for a stream
 * over t (DANE required, or authenticated usable TLSA records): such a
 * stream neither offers nor keeps a TLS session ticket. */
int s2s_dane_out_needs_chain(enum policy_dane mode, const struct s2s_dane_target *t);

/* `probe`: the candidate's DANE facts (chain authenticated, the TLSA
 * records and whether they validated), one "  DANE ..." block. */
void s2s_dane_print_target(FILE *out, enum policy_dane mode, const struct s2s_dane_target *t);
/* `probe`: the decision after the handshake, with the record that
 * matched. */
void s2s_dane_print_outcome(FILE *out, const struct s2s_dane_target *t, enum s2s_dane_outcome o,
    const struct tls_dane_verdict *v, const char *reason);

/*
 * Inbound (Prosody's mod_s2s_auth_dane_in): the initiating domain's SRV
 * targets and their TLSA records are looked up (dns_discover with
 * want_tlsa, the resolver's cache shared with everything else) and the
 * certificate the peer presented on 'tls' is checked against every
 * authenticated record (pkix_ok: its chain is PKIX-valid for domain, for
 * PKIX-TA/EE records).  At most one lookup per stream (the caller's
 * rule), at most S2S_DANE_IN_PENDING_MAX at once for the whole edge
 * (*pending, the caller's counter: over it, no lookup), each bounded by
 * S2S_DANE_IN_TIMEOUT_MS.  cb is called once, from the loop, unless
 * s2s_dane_in_cancel() came first; it may cancel/free nothing: the
 * lookup frees itself after cb returns.
 */
#define S2S_DANE_IN_PENDING_MAX 64
#define S2S_DANE_IN_TIMEOUT_MS 5000

struct s2s_dane_in;
typedef void (*s2s_dane_in_cb)(void *arg, enum s2s_dane_outcome o, const char *reason);

/* NULL (nothing started, *reason says why) or the lookup. */
struct s2s_dane_in *s2s_dane_in_start(struct dns_resolver *r, uv_loop_t *loop, unsigned *pending,
    enum policy_dane mode, const char *domain, const struct tls_conn *tls, int pkix_ok,
    s2s_dane_in_cb cb, void *arg, char *reason, size_t reason_len);
/* No callback after this; the lookup goes away in due course. */
void s2s_dane_in_cancel(struct s2s_dane_in *q);

/* The records of a TLSA answer as tls/ wants them; how many (at most
 * max).  The data stays in set. */
size_t s2s_dane_records(const struct dns_rrset *set, struct tls_dane_record *out, size_t max);

#endif
