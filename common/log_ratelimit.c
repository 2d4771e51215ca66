/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log_ratelimit.c - a few lines per event name per window, then a count
 * (see log_ratelimit.h).
 *
 * Fixed windows, one per event name, opened by the event's first line:
 * the first LOG_RATELIMIT_BURST lines are written, the rest are counted;
 * once the window has ended, the count is reported (one summary line) and
 * the slot freed, so the next line of that event opens a new window and
 * is written.  A quiet event costs nothing; the table is fixed-size (no
 * allocation on the logging path, which also runs when malloc failed):
 * when it is full, the slot with the oldest window is reported early and
 * reused, so no count is ever lost.
 */
#include "log_ratelimit.h"

#include <string.h>

static uint64_t
ratelimit_elapsed(const struct log_ratelimit_slot *s, uint64_t now_ms)
{
	return now_ms > s->window_start_ms ? now_ms - s->window_start_ms : 0;
}

static void
ratelimit_release(struct log_ratelimit_slot *s, uint64_t window_ms,
    log_ratelimit_report_fn report, void *arg)
{
	if (s->suppressed > 0 && report != NULL)
		report(arg, s->event, s->suppressed, window_ms);
	memset(s, 0, sizeof(*s));
}

void
log_ratelimit_flush(struct log_ratelimit *rl, uint64_t now_ms,
    log_ratelimit_report_fn report, void *arg)
{
	size_t i;

	for (i = 0; i < LOG_RATELIMIT_SLOTS; i++) {
		struct log_ratelimit_slot *s = &rl->slots[i];

		if (s->event[0] != '\0' && ratelimit_elapsed(s, now_ms) >= LOG_RATELIMIT_WINDOW_MS)
			ratelimit_release(s, LOG_RATELIMIT_WINDOW_MS, report, arg);
	}
}

int
log_ratelimit_admit(struct log_ratelimit *rl, const char *event,
    uint64_t now_ms, log_ratelimit_report_fn report, void *arg)
{
	struct log_ratelimit_slot *s, *free_slot = NULL, *oldest = NULL;
	size_t i, len = strlen(event);

	log_ratelimit_flush(rl, now_ms, report, arg);
	if (len == 0 || len >= LOG_RATELIMIT_EVENT_MAX)
		return 1;
	for (i = 0; i < LOG_RATELIMIT_SLOTS; i++) {
		s = &rl->slots[i];
		if (s->event[0] == '\0') {
			if (free_slot == NULL)
				free_slot = s;
			continue;
		}
		if (strcmp(s->event, event) == 0) {
			if (s->written < LOG_RATELIMIT_BURST) {
				s->written++;
				return 1;
			}
			s->suppressed++;
			return 0;
		}
		if (oldest == NULL || s->window_start_ms < oldest->window_start_ms)
			oldest = s;
	}
	if (free_slot == NULL) {
		/* More distinct events in one window than slots: report the
		 * oldest window now rather than lose its count. */
		free_slot = oldest;
		ratelimit_release(free_slot, ratelimit_elapsed(free_slot, now_ms), report, arg);
	}
	memcpy(free_slot->event, event, len + 1);
	free_slot->window_start_ms = now_ms;
	free_slot->written = 1;
	free_slot->suppressed = 0;
	return 1;
}
