/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admission.c - the external listeners' admission decision (admission.h):
 * the handshake cap, and waiting while the event loop is saturated.
 */
#include "admission.h"

void
admission_load_sample(struct admission_load *l, uint64_t now_ns, uint64_t idle_ns)
{
	uint64_t wall, idle;

	if (l->at_ns == 0 || now_ns < l->at_ns || idle_ns < l->idle_ns) {
		/* First sample (or clocks that went back): start a period. */
		l->at_ns = now_ns;
		l->idle_ns = idle_ns;
		return;
	}
	wall = now_ns - l->at_ns;
	if (wall < ADMISSION_SAMPLE_NS)
		return;
	idle = idle_ns - l->idle_ns;
	if (idle > wall)
		idle = wall;
	/* wall >= ADMISSION_SAMPLE_NS > 0; the product fits: wall is far
	 * below 2^54 ns for any period a loop can go without sampling. */
	l->busy_permille = (unsigned)((wall - idle) * 1000u / wall);
	l->saturated = l->busy_permille >= ADMISSION_BUSY_PERMILLE;
	l->at_ns = now_ns;
	l->idle_ns = idle_ns;
}

enum admission_verdict
admission_decide(size_t handshakes, size_t max_handshakes, const struct admission_load *l)
{
	if (handshakes >= max_handshakes)
		return ADMISSION_WAIT_CAP;
	if (l->saturated && handshakes >= ADMISSION_MIN_HANDSHAKES)
		return ADMISSION_WAIT_BUSY;
	return ADMISSION_ACCEPT;
}

const char *
admission_verdict_str(enum admission_verdict v)
{
	switch (v) {
	case ADMISSION_WAIT_CAP:
		return "limits.max_unauthenticated_streams reached";
	case ADMISSION_WAIT_BUSY:
		return "event loop saturated by handshakes";
	default:
		return "accept";
	}
}
