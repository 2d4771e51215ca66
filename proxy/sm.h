/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sm.h - the arithmetic of XEP-0198 stream management, without I/O.
 *
 * Three pieces, used by the sessions (s2s_in.c, s2s_out.c) and driven
 * alone by tests/unit/test_sm.c and tests/fuzz/fuzz_sm.c:
 *
 *   - 'h' (XEP-0198 §4): a count of stanzas, carried mod 2^32 (a uint32_t
 *     wraps exactly as the XEP says), its text parsed strictly
 *     (sm_h_parse: decimal digits only, no sign, no space, at most
 *     4294967295);
 *   - struct sm_queue: an outgoing leg's stanzas, as a ring of entries
 *     (length, custody tag, time queued) over bytes the caller keeps in
 *     its own buffer (s2s_out.c's queue): no allocation per stanza.  The
 *     ring holds, in order, the stanzas written and not acknowledged yet
 *     (the first nsent) and the stanzas not written yet (the rest).  With
 *     stream management on, a written stanza stays until an <a h/>
 *     covers it; without, the caller drops it once written.  The <r/>
 *     policy (every N stanzas, every N bytes, every N ms: limits.sm_*)
 *     is asked here too;
 *   - struct sm_custody: an inbound stream's stanzas in the order they
 *     came, each settled (acknowledged by its next hop, handed to TCP
 *     toward a peer without XEP-0198, or bounced) in any order; its 'h' is
 *     the number of leading settled stanzas, so an ack never covers a
 *     stanza behind one still in flight;
 *   - struct sm_registry: inbound streams that take custody, by slot and
 *     generation (struct sm_tag): an outgoing leg settles a stanza by its
 *     tag, never by a pointer, so a source stream that closed first is
 *     simply not found (the generation moved on).
 */
#ifndef XE_SM_H
#define XE_SM_H

#include <stddef.h>
#include <stdint.h>

#define SM_NS "urn:xmpp:sm:3"
#define SM_H_TEXT_MAX 11	/* "4294967295" and its NUL */
/* Stanzas one inbound stream may have in flight (taken, not settled):
 * past this it stops being read until some settle (backpressure). */
#define SM_CUSTODY_MAX 65536

/* Decimal text of an 'h' attribute: 0, or -1 when it is empty, has any
 * byte but a digit, or is above 2^32 - 1 (XEP-0198 §4: xs:unsignedInt). */
int sm_h_parse(const char *p, size_t len, uint32_t *out);
/* out gets h in decimal. */
void sm_h_format(uint32_t h, char out[SM_H_TEXT_MAX]);

/* Where a stanza came from: slot and generation of its inbound stream in
 * the registry, and its place in that stream's custody (seq).  slot 0:
 * no custody (the source has no XEP-0198).  bounce: the tagged entry is
 * not the stanza itself but its bounce, which took over its custody
 * (router.c): the stanza is settled once the bounce is, and kept
 * unsettled when the bounce cannot be delivered. */
struct sm_tag {
	uint32_t slot, gen, seq;
	uint32_t bounce;
};

/* --- an outgoing leg ----------------------------------------------------- */

struct sm_entry {
	size_t len;			/* bytes of the stanza in the caller's buffer */
	struct sm_tag tag;
	uint64_t queued_ms;		/* when it was queued (the custody bound) */
};

enum sm_ack_result {
	SM_ACK_OK,		/* *newly stanzas are acknowledged now (maybe 0) */
	SM_ACK_BACKWARDS,	/* h below the last h: the peer forgot stanzas */
	SM_ACK_TOO_HIGH,	/* h above what was sent (<handled-count-too-high/>) */
};

struct sm_request_policy {
	uint32_t every_stanzas;		/* <r/> after this many written since the last */
	size_t every_bytes;		/* ... or this many bytes */
	uint64_t every_ms;		/* ... or when one is unacknowledged this long */
};

struct sm_queue {
	struct sm_entry *ring;
	size_t first, count, cap;
	size_t nsent;			/* the first nsent are written, unacknowledged */
	size_t bytes, sent_bytes;	/* of all entries / of the written ones */
	int counting;			/* stream management is on */
	uint32_t h_sent, h_acked;	/* XEP-0198 §4, mod 2^32, since enable */
	/* The <r/> policy's state. */
	uint32_t req_stanzas;		/* written since the last <r/> */
	size_t req_bytes;
	uint64_t req_ms;		/* when the last <r/> went out */
	int req_outstanding;		/* no <a/> since it */
};

void sm_queue_init(struct sm_queue *q);
void sm_queue_free(struct sm_queue *q);
/* Appends a stanza of len bytes: 0, or -1 when out of memory. */
int sm_queue_push(struct sm_queue *q, size_t len, const struct sm_tag *tag, uint64_t now_ms);
/* The i-th entry (0: the oldest); i < count. */
const struct sm_entry *sm_queue_at(const struct sm_queue *q, size_t i);
/* Stanzas not written yet. */
static inline size_t
sm_queue_unsent(const struct sm_queue *q)
{
	return q->count - q->nsent;
}
/* The next n unsent stanzas (bytes of them) were written.  Counted in
 * h_sent and the request policy when counting. */
void sm_queue_mark_sent(struct sm_queue *q, size_t n, size_t bytes);
/* Removes the first n entries (written ones first); returns their
 * bytes.  The caller settles their tags before. */
size_t sm_queue_drop(struct sm_queue *q, size_t n);
/* Removes the entries not written yet (the newest ones); returns their
 * bytes.  The caller disposes of their tags before (bounced, say). */
size_t sm_queue_drop_unsent(struct sm_queue *q);
/* Stream management is on from now: h counts from 0 (XEP-0198 §4).
 * Stanzas written before were handed to TCP unconfirmed. */
void sm_queue_enable(struct sm_queue *q);
/*
 * The peer's <a h/>.  Checked against what was written (mod 2^32): OK
 * with *newly the written stanzas it covers for the first time (the
 * caller settles and drops them), else the hostile case, nothing changed.
 * Any <a/> answers the outstanding <r/>.
 */
enum sm_ack_result sm_queue_ack(struct sm_queue *q, uint32_t h, uint32_t *newly);
/* 1 when an <r/> should go out now under policy. */
int sm_queue_want_request(const struct sm_queue *q, const struct sm_request_policy *p,
    uint64_t now_ms);
/* An <r/> went out. */
void sm_queue_requested(struct sm_queue *q, uint64_t now_ms);

/* The <stream:error/> (and </stream:stream>) for an <a h/> above what was
 * sent (XEP-0198 §4: <undefined-condition/> with <handled-count-too-high
 * h send-count/>), or for one going backwards (<undefined-condition/>
 * with a text).  0 with *outlen, or -1 when it does not fit. */
int sm_ack_error_write(enum sm_ack_result r, uint32_t h, uint32_t sent, char *out, size_t cap,
    size_t *outlen);

/* --- an inbound stream ---------------------------------------------------- */

struct sm_custody {
	uint8_t *settled;		/* ring of flags for stanzas h .. h + count - 1 */
	size_t first, count, cap;
	uint32_t h;			/* leading settled stanzas, mod 2^32 */
	uint32_t h_reported;		/* the last h we sent in an <a/> */
};

void sm_custody_init(struct sm_custody *c);
void sm_custody_free(struct sm_custody *c);
/* A stanza came: *seq is its place.  0, or -1 when twice SM_CUSTODY_MAX
 * are in flight or out of memory (the caller stops reading at
 * SM_CUSTODY_MAX, sm_custody_full; stanzas already parsed still come). */
int sm_custody_take(struct sm_custody *c, uint32_t *seq);
/* 1 when no stanza more may be taken. */
int sm_custody_full(const struct sm_custody *c);
/* Stanza seq is settled: 1 if h moved, 0 if not, -1 if seq is not in
 * flight (settled before, or never taken: the caller's bug, ignored). */
int sm_custody_settle(struct sm_custody *c, uint32_t seq);
/* Stanzas taken and not all settled yet. */
static inline size_t
sm_custody_in_flight(const struct sm_custody *c)
{
	return c->count;
}

/* --- the registry ------------------------------------------------------- */

struct sm_registry_slot {
	void *owner;			/* NULL: free */
	uint32_t gen;
	int pending;			/* listed in pending[] */
};

struct sm_registry {
	struct sm_registry_slot *slots;	/* [0] unused: slot 0 means none */
	size_t nslots, cap, live;
	uint32_t *free_list;
	size_t nfree;
	uint32_t *pending;		/* slots whose h moved, to report */
	size_t npending;
};

/* owner gets a slot: 0 with *slot, *gen, or -1 when out of memory.  The
 * registry's storage goes when its last owner does. */
int sm_registry_add(struct sm_registry *r, void *owner, uint32_t *slot, uint32_t *gen);
/* The owner of (slot, gen), or NULL (gone, or a later owner's slot). */
void *sm_registry_get(const struct sm_registry *r, uint32_t slot, uint32_t gen);
void sm_registry_remove(struct sm_registry *r, uint32_t slot);
/* Marks slot as having news (once until taken). */
void sm_registry_mark(struct sm_registry *r, uint32_t slot);
/* Takes the next marked slot's owner (skipping gone ones): NULL when
 * none is left. */
void *sm_registry_next_pending(struct sm_registry *r);

#endif
