/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ratelimit.h - rate limits on what remote servers send: token buckets
 * per remote domain and per source prefix, and the pausing of a stream
 * that is over them (backpressure).
 *
 * Three pieces, each usable alone:
 *
 *  1. The bucket (struct rate_bucket): a token bucket with a burst,
 *     integer arithmetic only.  It holds its deficit (how far below full
 *     it is), so all zero is a full bucket.  A rate of R units per period
 *     P ms refills R scaled units per millisecond, where one unit is
 *     worth P scaled units: exact for any R and P, no floating point.
 *     Time only moves forward: a clock that goes backwards refills
 *     nothing (and is not charged for either).
 *
 *  2. The tables (struct ratelimit): one fixed array of slots per key
 *     kind, source prefixes (IPv4 /24, IPv6 /64, as prefix_count.h
 *     groups addresses) and remote domains (the authenticated 'from' of
 *     stanzas).  A key hashes (seeded: an attacker cannot aim at one
 *     place) to a window of RATELIMIT_PROBE slots; it takes a free slot
 *     of its window, else one whose buckets are full again and that no
 *     live stream uses, else the least recently used of the window.  So
 *     memory never grows with the number of domains or prefixes an
 *     attacker controls; spreading over more keys than there are slots
 *     buys at most fresh buckets for keys evicted, never unlimited
 *     traffic (the per-prefix buckets of its addresses still apply).
 *     Each slot also carries its counters (stanzas, bytes, time paused,
 *     refusals) for `status` and the metrics; they go with the slot.
 *
 *  3. The stream hook (struct ratelimit_stream), embedded in a stream
 *     that reads from a remote server.  The stream asks, and the module
 *     decides:
 *        ratelimit_stream_allowance()  how many bytes may I read now?
 *        ratelimit_stream_charge()     a stanza of n bytes from domain D
 *        ratelimit_stream_check()      after a read: go on, pause (I call
 *                                      you back when the buckets have
 *                                      refilled), or abuse (end it with
 *                                      <policy-violation/>)
 *        ratelimit_stream_release()    the stream is closing
 *     The pausing (timer, list of paused streams) lives here, not in the
 *     stream code, so the hook moves with whatever transport reads.
 *
 * Sustained abuse: a stream is "over its limits" from a pause by its
 * remote domain's buckets until they are at least half full again (the
 * peer slowed down below its rate for a while).  Over for
 * limits.rate_abuse_s in a row, it is reported as abuse: logged
 * (ratelimit.abuse, rate-limited like every warning), counted, and closed
 * by its owner with <policy-violation/>.  A stream held back by its
 * prefix's buckets alone is only slowed: its neighbours in the /24 may be
 * the ones sending.
 *
 * A stream keeps the index and generation of its slots; when a slot is
 * taken over by another key (every slot of its window in use by live
 * streams), the stream goes without that slot's buckets: its domain's
 * until its next stanza looks the domain up again, its prefix's for the
 * rest of its life.
 */
#ifndef XE_RATELIMIT_H
#define XE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "config.h"

/* --- 1. the bucket ------------------------------------------------------- */

struct rate_spec {
	uint64_t rate;			/* units refilled per period */
	uint64_t period_ms;		/* 1000: per second; 60000: per minute */
	uint64_t burst;			/* capacity, units */
};

/* All zero: a full bucket. */
struct rate_bucket {
	uint64_t deficit;		/* scaled units below full (unit = period_ms) */
	uint64_t last_ms;		/* when deficit was last brought up to date */
};

/* N a minute with a burst of N (the dialback budgets, new streams). */
struct rate_spec rate_spec_per_minute(long per_minute);
/* N a second with a burst of burst_s seconds' worth (at least one unit). */
struct rate_spec rate_spec_per_second(long per_second, long burst_s);

/* Brings b up to now_ms: refilled by the time passed (none if the clock
 * went backwards). */
void rate_bucket_refill(struct rate_bucket *b, const struct rate_spec *r, uint64_t now_ms);
/* Whole units available now (0 while in debt). */
uint64_t rate_bucket_available(struct rate_bucket *b, const struct rate_spec *r, uint64_t now_ms);
/* Takes cost units if all of them are there: 1, else 0 (nothing taken). */
int rate_bucket_take(struct rate_bucket *b, const struct rate_spec *r, uint64_t now_ms, uint64_t cost);
/* Whether cost units are there, without taking them. */
int rate_bucket_has_room(struct rate_bucket *b, const struct rate_spec *r, uint64_t now_ms, uint64_t cost);
/* Takes cost units whether they are there or not.  may_owe 0: the debt
 * stops at an empty bucket (repaid within one burst's time); 1: the
 * bucket may owe more than its capacity (bytes read before they could
 * be judged: the reader then waits until they are paid for). */
void rate_bucket_charge(struct rate_bucket *b, const struct rate_spec *r, uint64_t now_ms,
    uint64_t cost, int may_owe);
/* Milliseconds until at least one unit is available (0: now). */
uint64_t rate_bucket_wait_ms(struct rate_bucket *b, const struct rate_spec *r, uint64_t now_ms);
/* Whether b is full again at now_ms (it remembers nothing). */
int rate_bucket_full(struct rate_bucket *b, const struct rate_spec *r, uint64_t now_ms);

/* --- 2. the tables --------------------------------------------------------- */

#define RATELIMIT_PREFIX_SLOTS 1024	/* source prefixes tracked */
#define RATELIMIT_DOMAIN_SLOTS 1024	/* remote domains tracked */
#define RATELIMIT_PROBE 8		/* slots a key may live in */
#define RATELIMIT_PREFIX_BYTES 8	/* an IPv6 /64; an IPv4 /24 uses 3 */
#define RATELIMIT_TOP_N 10		/* domains shown per ranking */
#define RATELIMIT_TICK_MS 10		/* resumes are rounded up to this */

struct ratelimit_slot {
	uint32_t gen;			/* bumped when the slot changes key */
	uint32_t refs;			/* live streams using it */
	uint64_t last_ms;		/* last use */
	int used;
};

struct ratelimit_prefix {
	struct ratelimit_slot h;
	int family;			/* AF_INET, AF_INET6, -1: other */
	uint8_t bits[RATELIMIT_PREFIX_BYTES];
	struct rate_bucket streams;	/* limits.new_streams_per_minute_per_prefix */
	struct rate_bucket stanzas, bytes;	/* limits.prefix_*_per_s */
	struct rate_bucket dialback_checks, dialback_failures;	/* dialback_budget.h */
	uint64_t streams_refused;
};

struct ratelimit_domain {
	struct ratelimit_slot h;
	char name[CONFIG_DOMAIN_MAX];
	struct rate_bucket stanzas, bytes;	/* limits.domain_*_per_s */
	uint64_t stanzas_in, bytes_in;	/* counted, over the slot's life */
	uint64_t pauses, paused_ms;
	uint64_t refusals;		/* streams ended for sustained abuse */
};

struct ratelimit_stats {
	uint64_t streams_refused;	/* new streams per prefix */
	uint64_t pauses;		/* reads paused by a rate limit */
	uint64_t paused_ms;		/* time spent paused, all streams */
	uint64_t violations;		/* streams ended for sustained abuse */
	uint64_t prefix_evictions, domain_evictions;	/* busy slots taken over */
};

struct ratelimit_stream;

struct ratelimit {
	struct config *const *cfg;	/* the running configuration (&edge->cfg) */
	uv_loop_t *loop;		/* NULL in unit tests: no timer */
	uint64_t now_ms;		/* the streams' time without a loop (tests) */
	uv_timer_t timer;		/* the next paused stream's resume */
	int timer_open;
	struct ratelimit_stream *paused;	/* list of paused streams */
	uint64_t due_ms;		/* the timer's deadline; UINT64_MAX: none */
	uint64_t seed;
	struct ratelimit_prefix prefixes[RATELIMIT_PREFIX_SLOTS];
	struct ratelimit_domain domains[RATELIMIT_DOMAIN_SLOTS];
	struct ratelimit_stats stats;
};

/* Allocates the tables; loop NULL: no timer (ratelimit_run_due drives
 * resumes).  NULL when out of memory. */
struct ratelimit *ratelimit_new(uv_loop_t *loop, struct config *const *cfg);
/* Closes the timer; the struct is freed in its close callback (or at
 * once without a loop).  Every stream must have been released. */
void ratelimit_free(struct ratelimit *rl);

/* The slot of addr's prefix (taken over if it has none). */
struct ratelimit_prefix *ratelimit_prefix_get(struct ratelimit *rl, const struct sockaddr *addr,
    uint64_t now_ms);
/* The slot of domain (taken over if it has none). */
struct ratelimit_domain *ratelimit_domain_get(struct ratelimit *rl, const char *domain, uint64_t now_ms);
/* Prefix slots that remember something at now_ms (for tests). */
size_t ratelimit_prefixes_busy(struct ratelimit *rl, uint64_t now_ms);

/* A new stream from peer: 0 if limits.new_streams_per_minute_per_prefix
 * allows it (then it is counted), -1 with the reason in *why. */
int ratelimit_admit_stream(struct ratelimit *rl, const struct sockaddr *peer, uint64_t now_ms,
    const char **why);

/* The domains worth showing: the RATELIMIT_TOP_N first by stanzas, by
 * bytes, by time paused and by refusals, each once; up to cap, most
 * stanzas first.  Returns how many. */
size_t ratelimit_top_domains(const struct ratelimit *rl, const struct ratelimit_domain **out, size_t cap);

/* Streams paused by a rate limit now. */
size_t ratelimit_paused_count(const struct ratelimit *rl);

/* --- 3. the stream hook --------------------------------------------------- */

enum ratelimit_verdict {
	RATELIMIT_OK,			/* read on */
	RATELIMIT_PAUSED,		/* stop reading; resume() will be called */
	RATELIMIT_ABUSE,		/* over the limits too long: end the stream */
};

struct ratelimit_stream {
	struct ratelimit *rl;		/* NULL: not limited (the gateway) */
	void (*resume)(struct ratelimit_stream *rs);
	struct ratelimit_stream *next, *prev;	/* in rl->paused while paused */
	int paused;
	uint64_t paused_since_ms, resume_at_ms;
	int over;			/* over the limits since over_since_ms */
	uint64_t over_since_ms;
	const char *limit;		/* the limit that paused it last */
	size_t prefix, domain;		/* slot indexes, valid while gen matches */
	uint32_t prefix_gen, domain_gen;
	int has_domain;
	uint64_t avg_stanza_bytes;	/* moving average, sizes the allowance */
	char peer[64];			/* for the log */
};

/* Makes rs a limited stream from peer (an external stream); resume is
 * called when a paused rs may read again. */
void ratelimit_stream_init(struct ratelimit_stream *rs, struct ratelimit *rl,
    const struct sockaddr *peer, const char *peer_text, void (*resume)(struct ratelimit_stream *));
/* At most want bytes the stream may read now (at least 512 while it is
 * not paused, so a stanza always makes progress; want if not limited). */
size_t ratelimit_stream_allowance(struct ratelimit_stream *rs, size_t want);
/* A stanza of bytes from domain (authenticated, canonical) was read. */
void ratelimit_stream_charge(struct ratelimit_stream *rs, const char *domain, size_t bytes);
/* After a read: see enum ratelimit_verdict.  On PAUSED the caller stops
 * reading and resume() comes later; on ABUSE the caller closes the
 * stream (logged and counted here). */
enum ratelimit_verdict ratelimit_stream_check(struct ratelimit_stream *rs);
/* Whether rs waits for its buckets (the caller must not read). */
int ratelimit_stream_paused(const struct ratelimit_stream *rs);
/* The stream is closing: no resume will come.  Idempotent. */
void ratelimit_stream_release(struct ratelimit_stream *rs);
/* Resumes every paused stream due at now_ms (the timer's work; tests
 * call it directly). */
void ratelimit_run_due(struct ratelimit *rl, uint64_t now_ms);

#endif
