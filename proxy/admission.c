/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admission.c - the external listeners' admission decision (admission.h):
 * the handshake cap, and a window of handshakes at once that follows what
 * the event loop can do.
 */
#include "admission.h"

size_t
admission_window(const struct admission_load *l)
{
	return l->window < ADMISSION_MIN_HANDSHAKES ? ADMISSION_MIN_HANDSHAKES : l->window;
}

void
admission_load_sample(struct admission_load *l, uint64_t now_ns, uint64_t idle_ns)
{
	uint64_t wall, idle;
	size_t w = admission_window(l);

	if (l->at_ns == 0 || now_ns < l->at_ns || idle_ns < l->idle_ns) {
		/* First sample (or clocks that went back): start a period. */
		l->at_ns = now_ns;
		l->idle_ns = idle_ns;
		l->window = w;
		l->window_full = 0;
		return;
	}
	wall = now_ns - l->at_ns;
	if (wall < ADMISSION_SAMPLE_NS)
		return;
	idle = idle_ns - l->idle_ns;
	if (idle > wall)
		idle = wall;
	/* wall >= ADMISSION_SAMPLE_NS > 0; (wall - idle) * 1000 overflows
	 * only past 584 years without a sample. */
	l->busy_permille = (unsigned)((wall - idle) * 1000u / wall);
	if (l->busy_permille >= ADMISSION_BUSY_PERMILLE || l->lag_ns > ADMISSION_LAG_MAX_NS)
		w -= w / 4;
	else if (l->window_full && w < SIZE_MAX - ADMISSION_MIN_HANDSHAKES)
		w += ADMISSION_MIN_HANDSHAKES;
	l->window = w < ADMISSION_MIN_HANDSHAKES ? ADMISSION_MIN_HANDSHAKES : w;
	l->window_full = 0;
	l->last_lag_ns = l->lag_ns;
	l->lag_ns = 0;
	l->at_ns = now_ns;
	l->idle_ns = idle_ns;
}

void
admission_note_timer(struct admission_load *l, uint64_t due_ns, uint64_t now_ns)
{
	if (now_ns > due_ns && now_ns - due_ns > l->lag_ns)
		l->lag_ns = now_ns - due_ns;
}

enum admission_verdict
admission_decide(struct admission_load *l, size_t handshakes, size_t max_handshakes)
{
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
