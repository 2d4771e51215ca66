/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admission.h - whether an external listener takes its next connection
 * now, or leaves it in the kernel's backlog for a moment (listener.c asks
 * before each accept).
 *
 * Two bounds on the streams from outside that are in their handshakes:
 *   - the cap, limits.max_unauthenticated_streams: what bounds an
 *     attacker (at most that many at once, each within
 *     limits.handshake_timeout_ms);
 *   - the window, adapted to what the event loop can do: it starts at
 *     ADMISSION_MIN_HANDSHAKES and moves once per sample period
 *     (ADMISSION_SAMPLE_NS) by the loop's busy share in that period.
 *     In a period in which it held a connection back and the loop was
 *     less than ADMISSION_BUSY_PERMILLE busy, it grows:
 *       - doubled while the loop was nearly idle (below
 *         ADMISSION_IDLE_PERMILLE busy) in this period and the one before:
 *         16 to 256 in 0.4 s at the start of a storm, where main added
 *         16 a period while the loop was 99 % idle.  One quiet period
 *         between saturated ones is a lull, not room: doubled on it, a
 *         window near the cap went to the cap and the loop stayed
 *         saturated for seconds (a quarter back a period undoes a
 *         doubling only after three);
 *       - else, below ADMISSION_TARGET_PERMILLE busy, by one slot for
 *         each handshake that finished (authenticated) in the period, as
 *         TCP's slow start grows its window by one segment per
 *         acknowledgement (at most doubled);
 *       - by ADMISSION_MIN_HANDSHAKES at least, as before.
 *     Past the first tenth of the loop, growth is clocked by finished
 *     handshakes because admitted streams bring their work late (the
 *     partner's TLS, a dialback check, our outgoing stream's handshake):
 *     doubling on idleness alone up to 80 % busy took the window from 16
 *     to the cap of 1000 in 0.7 s of a 5 000-partner storm, the loop
 *     still 22 % busy at 1000 (12 % at 256), then kept the loop saturated
 *     for 6 s, in which 45 dialback checks' DNS answers sat unread past
 *     c-ares' time-out (tests/bench/RESULTS.md).  In a period the loop
 *     was ADMISSION_BUSY_PERMILLE busy or more, it shrinks by a quarter
 *     (never below the floor): multiplicative decrease, as TCP's
 *     congestion window.  When nothing was held back it stays (a storm
 *     must not meet a window grown during a quiet hour).  It never grows
 *     past the cap, which is all an attacker's idle handshakes can push
 *     it to.
 *
 *     The busy share is the loop's own: the CPU time its thread spent
 *     (in callbacks) against that plus the time it waited in the poll
 *     (libuv's idle-time metric), not wall-clock time.  On a loaded host
 *     (issue 18's storms ran at a load average of 10-16 on two cores) the
 *     scheduler makes turns long while the loop has nothing to do: wall
 *     time inside a turn read as "busy", and a turn later than 100 ms (a
 *     late timer) shrank the window; the window then waited 21.8 s of a
 *     27.9 s storm while the edge used 17 % of its core, growing +16 per
 *     100 ms while the loop was 99 % idle.  Time the loop is not
 *     scheduled is neither its work nor its idleness, so it counts for
 *     neither; a loop with more work than the CPU it gets never waits in
 *     the poll and is 100 % busy however little CPU that is.
 *
 *     Why a window at all: more handshakes at once than the CPU can do
 *     would not finish more a second, they would only share the CPU more
 *     thinly: in a reconnect storm of thousands (issue 18) every stream
 *     then took as long as the whole storm, past
 *     limits.handshake_timeout_ms, and the dialback checks (our outgoing
 *     streams, in the same loop) timed out; long turns also made c-ares
 *     count answers that sat unread as timeouts.  Admitted in order
 *     instead, each stream's handshake takes about what its own work
 *     costs, and the storm as a whole takes what the CPU needs for it.
 *     Streams admitted while the loop idles bring their work a little
 *     later (a dialback stream waits for its check, then our outgoing
 *     stream does its handshake): growth is capped at doubling per
 *     100 ms, and the first saturated period takes a quarter back.
 *     Idle handshakes (peers far away, slow or hostile) cost no CPU and
 *     do not saturate the loop: the window grows past them up to the cap.
 *     The floor keeps streams coming in when something else (a relay at
 *     full speed) keeps the loop busy.
 *
 * listener.c samples the clocks: uv_hrtime, uv_metrics_idle_time
 * (UV_METRICS_IDLE_TIME) and the loop thread's CPU clock
 * (CLOCK_THREAD_CPUTIME_ID); this file only computes.
 */
#ifndef XE_ADMISSION_H
#define XE_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

#define ADMISSION_SAMPLE_NS		(100u * 1000u * 1000u)	/* 100 ms */
#define ADMISSION_BUSY_PERMILLE		900	/* busy share that counts as saturated */
#define ADMISSION_IDLE_PERMILLE		100	/* below it, a full window doubles */
#define ADMISSION_TARGET_PERMILLE	800	/* below it, finished handshakes grow it */
#define ADMISSION_MIN_HANDSHAKES	16	/* the window's floor */

struct admission_load {
	uint64_t at_ns;		/* start of the current sample period */
	uint64_t idle_ns;	/* the loop's idle time then */
	uint64_t cpu_ns;	/* the loop thread's CPU time then */
	unsigned busy_permille;	/* of the last complete period */
	size_t window;		/* handshakes at once for now (0: the floor) */
	size_t cap;		/* the cap admission_decide last saw (0: none yet) */
	size_t done;		/* handshakes finished in this period */
	int window_full;	/* it held a connection back in this period */
	int was_quiet;		/* the period before was nearly idle too */
};

enum admission_verdict {
	ADMISSION_ACCEPT,
	ADMISSION_WAIT_CAP,	/* limits.max_unauthenticated_streams */
	ADMISSION_WAIT_WINDOW,	/* as many as the loop can do are under way */
};

/* Feeds one observation: the monotonic clock, the loop's cumulative idle
 * time (waiting in the poll) and its thread's cumulative CPU time, all in
 * nanoseconds.  A period ends after ADMISSION_SAMPLE_NS; its busy share
 * moves the window. */
void admission_load_sample(struct admission_load *l, uint64_t now_ns, uint64_t idle_ns,
    uint64_t cpu_ns);
/* A stream from outside finished its handshake (authenticated): clocks
 * the window's growth. */
void admission_note_done(struct admission_load *l);
/* What to do with the next connection while `handshakes` streams from
 * outside are unauthenticated and max_handshakes is the cap. */
enum admission_verdict admission_decide(struct admission_load *l, size_t handshakes,
    size_t max_handshakes);
/* The window now (at least the floor). */
size_t admission_window(const struct admission_load *l);
const char *admission_verdict_str(enum admission_verdict v);

#endif
