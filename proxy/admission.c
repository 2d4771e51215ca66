/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admission.c - the external listeners' admission decision (admission.h):
 * the handshake cap, and a window of handshakes at once that follows what
 * the event loop can do.
 */
#include "admission.h"

#include <stdint.h>

size_t
admission_window(const struct admission_load *l)
{
	return l->window < ADMISSION_MIN_HANDSHAKES ? ADMISSION_MIN_HANDSHAKES : l->window;
}

/* The window after a period in which it held a connection back and the
 * loop was busy_permille (< ADMISSION_BUSY_PERMILLE) busy, `done`
 * handshakes having finished in it: doubled while the loop is nearly idle
 * (ADMISSION_IDLE_PERMILLE) in it and in the period before, below ADMISSION_TARGET_PERMILLE by one slot
 * per finished handshake (at most doubled), and by the floor at least;
 * never past the cap (admission.h). */
static size_t
admission_grown(size_t w, unsigned busy_permille, int was_quiet, size_t done, size_t cap)
{
	size_t step = ADMISSION_MIN_HANDSHAKES, limit;

	limit = cap > ADMISSION_MIN_HANDSHAKES ? cap : ADMISSION_MIN_HANDSHAKES;
	if (w >= limit)
		return limit;
	if (busy_permille < ADMISSION_IDLE_PERMILLE && was_quiet)
		step = w;
	else if (busy_permille < ADMISSION_TARGET_PERMILLE && done > step)
		step = done < w ? done : w;
	/* w < limit, step <= w: no overflow. */
	return limit - w > step ? w + step : limit;
}

void
admission_load_sample(struct admission_load *l, uint64_t now_ns, uint64_t idle_ns,
    uint64_t cpu_ns)
{
	uint64_t wall, idle, busy;
	size_t w = admission_window(l);

	if (l->at_ns == 0 || now_ns < l->at_ns || idle_ns < l->idle_ns || cpu_ns < l->cpu_ns) {
		/* First sample (or clocks that went back): start a period. */
		l->at_ns = now_ns;
		l->idle_ns = idle_ns;
		l->cpu_ns = cpu_ns;
		l->window = w;
		l->window_full = 0;
		l->done = 0;
		return;
	}
	wall = now_ns - l->at_ns;
	if (wall < ADMISSION_SAMPLE_NS)
		return;
	idle = idle_ns - l->idle_ns;
	if (idle > wall)
		idle = wall;
	/* The loop's own work: its thread's CPU time, which time it was not
	 * scheduled does not inflate; never more than the wall time outside
	 * the poll (the poll's own system time, a clock's granularity). */
	busy = cpu_ns - l->cpu_ns;
	if (busy > wall - idle)
		busy = wall - idle;
	if (busy + idle > 0) {
		/* busy + idle <= wall: no overflow for 584 years. */
		l->busy_permille = (unsigned)(busy * 1000u / (busy + idle));
		if (l->busy_permille >= ADMISSION_BUSY_PERMILLE)
			w -= w / 4;
		else if (l->window_full)
			w = admission_grown(w, l->busy_permille, l->was_quiet, l->done, l->cap);
		l->window = w < ADMISSION_MIN_HANDSHAKES ? ADMISSION_MIN_HANDSHAKES : w;
		/* Every period counts, held back or not: a storm that
		 * follows a quiet hour doubles from its first period. */
		l->was_quiet = l->busy_permille < ADMISSION_IDLE_PERMILLE;
	}
	/* else the loop neither ran nor waited (not scheduled at all, or
	 * stopped): nothing to judge by, the window stays. */
	l->window_full = 0;
	l->done = 0;
	l->at_ns = now_ns;
	l->idle_ns = idle_ns;
	l->cpu_ns = cpu_ns;
}

void
admission_note_done(struct admission_load *l)
{
	if (l->done < SIZE_MAX)
		l->done++;
}

enum admission_verdict
admission_decide(struct admission_load *l, size_t handshakes, size_t max_handshakes)
{
	l->cap = max_handshakes;
	if (handshakes >= max_handshakes)
		return ADMISSION_WAIT_CAP;
	if (handshakes >= admission_window(l)) {
		l->window_full = 1;
		return ADMISSION_WAIT_WINDOW;
	}
	return ADMISSION_ACCEPT;
}

const char *
admission_verdict_str(enum admission_verdict v)
{
	switch (v) {
	case ADMISSION_WAIT_CAP:
		return "limits.max_unauthenticated_streams reached";
	case ADMISSION_WAIT_WINDOW:
		return "handshake window full (the event loop is saturated)";
	default:
		return "accept";
	}
}
