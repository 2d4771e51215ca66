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
 *     ADMISSION_MIN_HANDSHAKES, grows by that much each sample period in
 *     which it held a connection back while the loop still had idle time
 *     and answered on time, and shrinks by a quarter (never below the floor)
 *     in each period the loop was saturated or late: a timer fired more
 *     than ADMISSION_LAG_MAX_NS after its time, which is how long one
 *     turn of the loop took.  Long turns make every timer of every stream
 *     late, the resolver's among them (c-ares counted answers that sat
 *     unread behind a 2-second turn as timeouts, and one lost lookup of a
 *     shared name failed hundreds of dialback checks at once).  Growth is
 *     additive, shrinking multiplicative (as TCP's congestion window):
 *     streams admitted while the loop idles may bring their work later
 *     (a dialback stream waits for its check, then our outgoing stream
 *     does a full TLS handshake); growing by half each 100 ms admitted a
 *     thousand such streams before any of that work showed, and they ran
 *     past limits.handshake_timeout_ms.  More handshakes at once than the CPU can do
 *     would not finish more a second, they would only share the CPU more
 *     thinly: in a reconnect storm of thousands (issue 18) every stream
 *     then took as long as the whole storm, past
 *     limits.handshake_timeout_ms, and the dialback checks (our outgoing
 *     streams, in the same loop) timed out.  Admitted in order instead,
 *     each stream's handshake takes about what its own work costs, and the
 *     storm as a whole takes what the CPU needs for it.  Idle handshakes
 *     (peers far away, slow or hostile) cost no CPU and do not saturate
 *     the loop: the window grows past them up to the cap.  The floor keeps
 *     streams coming in when something else (a relay at full speed) keeps
 *     the loop busy.
 *
 * The loop's busy share comes from libuv's idle-time metric
 * (uv_metrics_idle_time, UV_METRICS_IDLE_TIME): the time spent waiting in
 * the poll.  This file only computes; listener.c samples.
 */
#ifndef XE_ADMISSION_H
#define XE_ADMISSION_H

#include <stddef.h>
#include <stdint.h>

#define ADMISSION_SAMPLE_NS		(100u * 1000u * 1000u)	/* 100 ms */
#define ADMISSION_BUSY_PERMILLE		900	/* busy share that counts as saturated */
#define ADMISSION_MIN_HANDSHAKES	16	/* the window's floor */
#define ADMISSION_LAG_MAX_NS		(100u * 1000u * 1000u)	/* a loop turn that is too long */

struct admission_load {
	uint64_t at_ns;		/* start of the current sample period */
	uint64_t idle_ns;	/* the loop's idle time then */
	unsigned busy_permille;	/* of the last complete period */
	uint64_t lag_ns;	/* the latest timer's lateness in this period, at most */
	uint64_t last_lag_ns;	/* ditto, of the last complete period (logs) */
	size_t window;		/* handshakes at once for now (0: the floor) */
	int window_full;	/* it held a connection back in this period */
};

enum admission_verdict {
	ADMISSION_ACCEPT,
	ADMISSION_WAIT_CAP,	/* limits.max_unauthenticated_streams */
	ADMISSION_WAIT_WINDOW,	/* as many as the loop can do are under way */
};

/* Feeds one observation: the monotonic clock and the loop's cumulative
 * idle time, both in nanoseconds.  A period ends after ADMISSION_SAMPLE_NS;
 * its busy share moves the window. */
void admission_load_sample(struct admission_load *l, uint64_t now_ns, uint64_t idle_ns);
/* A timer due at due_ns ran at now_ns: how late the loop is. */
void admission_note_timer(struct admission_load *l, uint64_t due_ns, uint64_t now_ns);
/* What to do with the next connection while `handshakes` streams from
 * outside are unauthenticated and max_handshakes is the cap. */
enum admission_verdict admission_decide(struct admission_load *l, size_t handshakes,
    size_t max_handshakes);
/* The window now (at least the floor). */
size_t admission_window(const struct admission_load *l);
const char *admission_verdict_str(enum admission_verdict v);

#endif
