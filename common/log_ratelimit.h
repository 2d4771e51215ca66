/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log_ratelimit.h - repeats of one log event held to a few lines per time
 * window, with one summary line that counts the rest (log_ratelimit.c).
 *
 * 10 000 peers doing the same thing (connecting from one address beyond
 * the limit, failing a handshake) must not become 10 000 log lines: the
 * operator needs the first few, with their fields, and then how many more
 * there were.  log.c applies it to warnings and errors; the metrics
 * observer still sees every event, so counters stay exact.
 *
 * Time is passed in (milliseconds, monotonic) so the limiter is a pure
 * function of its inputs and testable without sleeping.
 */
#ifndef XE_LOG_RATELIMIT_H
#define XE_LOG_RATELIMIT_H

#include <stdint.h>

#define LOG_RATELIMIT_WINDOW_MS 10000	/* one window per event name */
#define LOG_RATELIMIT_BURST 10		/* lines of one event per window */
#define LOG_RATELIMIT_SLOTS 64		/* event names tracked at once */
#define LOG_RATELIMIT_EVENT_MAX 64	/* longer names are never limited */

struct log_ratelimit_slot {
	char event[LOG_RATELIMIT_EVENT_MAX];	/* "": free (a copy: callers
						   may log a name they built) */
	uint64_t window_start_ms;
	uint32_t written;		/* lines written in this window */
	uint64_t suppressed;		/* lines held back in this window */
};

struct log_ratelimit {
	struct log_ratelimit_slot slots[LOG_RATELIMIT_SLOTS];
};

/* Told of a window that ended with lines held back: write the summary. */
typedef void (*log_ratelimit_report_fn)(void *arg, const char *event,
    uint64_t suppressed, uint64_t window_ms);

/* 1: write this line of `event` at now_ms; 0: hold it back (counted).
 * Before deciding, reports every ended window that held lines back (this
 * event's and any other's), so summaries come out in time order, and
 * before the first line of the next window. */
int log_ratelimit_admit(struct log_ratelimit *rl, const char *event,
    uint64_t now_ms, log_ratelimit_report_fn report, void *arg);

/* Reports every ended window that held lines back and frees its slot. */
void log_ratelimit_flush(struct log_ratelimit *rl, uint64_t now_ms,
    log_ratelimit_report_fn report, void *arg);

#endif
