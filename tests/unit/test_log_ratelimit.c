/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_log_ratelimit.c - the log flood limiter (common/log_ratelimit.c):
 * a burst per event name and window, the count of what was held back
 * reported once the window ends (before the next line of any event),
 * names limited independently, a full table reporting early instead of
 * losing counts, and names that do not fit never limited.
 */
#include "test.h"

#include <stdio.h>
#include <string.h>

#include "log_ratelimit.h"

struct reports {
	char event[8][LOG_RATELIMIT_EVENT_MAX];
	uint64_t count[8], window_ms[8];
	int n;
};

static void
record(void *arg, const char *event, uint64_t suppressed, uint64_t window_ms)
{
	struct reports *r = arg;

	if (r->n < 8) {
		snprintf(r->event[r->n], sizeof(r->event[r->n]), "%s", event);
		r->count[r->n] = suppressed;
		r->window_ms[r->n] = window_ms;
	}
	r->n++;
}

/* Lines of `event` admitted out of n offered at now_ms. */
static int
offer(struct log_ratelimit *rl, const char *event, int n, uint64_t now_ms, struct reports *r)
{
	int i, written = 0;

	for (i = 0; i < n; i++)
		written += log_ratelimit_admit(rl, event, now_ms, record, r);
	return written;
}

TEST(log_ratelimit_burst_then_count_then_summary)
{
	static struct log_ratelimit rl;
	struct reports r = { .n = 0 };

	memset(&rl, 0, sizeof(rl));
	/* 10 000 refusals within one second: the burst is written. */
	CHECK_INT_EQ(offer(&rl, "s2s_in.refused", 10000, 1000, &r), LOG_RATELIMIT_BURST);
	CHECK_INT_EQ(r.n, 0);
	/* Still inside the window: nothing reported, nothing written. */
	CHECK_INT_EQ(offer(&rl, "s2s_in.refused", 5, 1000 + LOG_RATELIMIT_WINDOW_MS - 1, &r), 0);
	CHECK_INT_EQ(r.n, 0);
	/* The window over, the next line of the same event is preceded by
	 * the summary and opens a new window. */
	CHECK_INT_EQ(offer(&rl, "s2s_in.refused", 1, 1000 + LOG_RATELIMIT_WINDOW_MS, &r), 1);
	REQUIRE(r.n == 1);
	CHECK_STR_EQ(r.event[0], "s2s_in.refused");
	CHECK_INT_EQ(r.count[0], 10000 - LOG_RATELIMIT_BURST + 5);
	CHECK_INT_EQ(r.window_ms[0], LOG_RATELIMIT_WINDOW_MS);
}

TEST(log_ratelimit_summary_comes_with_any_later_line)
{
	static struct log_ratelimit rl;
	struct reports r = { .n = 0 };

	memset(&rl, 0, sizeof(rl));
	offer(&rl, "tls.handshake_failed", LOG_RATELIMIT_BURST + 3, 0, &r);
	/* Another event, after the window: the summary first. */
	CHECK_INT_EQ(offer(&rl, "s2s_out.failed", 1, LOG_RATELIMIT_WINDOW_MS + 5, &r), 1);
	REQUIRE(r.n == 1);
	CHECK_STR_EQ(r.event[0], "tls.handshake_failed");
	CHECK_INT_EQ(r.count[0], 3);
	/* flush (what info lines call) reports nothing twice. */
	log_ratelimit_flush(&rl, 10 * LOG_RATELIMIT_WINDOW_MS, record, &r);
	CHECK_INT_EQ(r.n, 1);
}

TEST(log_ratelimit_quiet_window_reports_nothing)
{
	static struct log_ratelimit rl;
	struct reports r = { .n = 0 };

	memset(&rl, 0, sizeof(rl));
	CHECK_INT_EQ(offer(&rl, "s2s_out.failed", LOG_RATELIMIT_BURST, 0, &r), LOG_RATELIMIT_BURST);
	log_ratelimit_flush(&rl, LOG_RATELIMIT_WINDOW_MS, record, &r);
	CHECK_INT_EQ(r.n, 0);
	/* and the slot is free again: a full burst in the next window. */
	CHECK_INT_EQ(offer(&rl, "s2s_out.failed", LOG_RATELIMIT_BURST + 1, LOG_RATELIMIT_WINDOW_MS, &r),
	    LOG_RATELIMIT_BURST);
}

TEST(log_ratelimit_events_limited_independently)
{
	static struct log_ratelimit rl;
	struct reports r = { .n = 0 };
	char a[] = "built.name";	/* a name in a buffer the caller reuses */

	memset(&rl, 0, sizeof(rl));
	CHECK_INT_EQ(offer(&rl, a, 50, 0, &r), LOG_RATELIMIT_BURST);
	memcpy(a, "other.name", sizeof(a));
	CHECK_INT_EQ(offer(&rl, a, 50, 0, &r), LOG_RATELIMIT_BURST);
	CHECK_INT_EQ(offer(&rl, "built.name", 1, 1, &r), 0);
	log_ratelimit_flush(&rl, LOG_RATELIMIT_WINDOW_MS, record, &r);
	REQUIRE(r.n == 2);
	CHECK_INT_EQ(r.count[0] + r.count[1], 40 + 41);
}

TEST(log_ratelimit_full_table_reports_early_never_loses_counts)
{
	static struct log_ratelimit rl;
	struct reports r = { .n = 0 };
	char name[32];
	int i;

	memset(&rl, 0, sizeof(rl));
	/* The oldest name floods first, then every slot is taken. */
	offer(&rl, "first.flood", LOG_RATELIMIT_BURST + 7, 0, &r);
	for (i = 1; i < LOG_RATELIMIT_SLOTS; i++) {
		snprintf(name, sizeof(name), "event.%d", i);
		offer(&rl, name, 1, 10 + (uint64_t)i, &r);
	}
	CHECK_INT_EQ(r.n, 0);
	/* One name more: the oldest window is reported now, its slot reused. */
	CHECK_INT_EQ(offer(&rl, "one.more", 1, 500, &r), 1);
	REQUIRE(r.n == 1);
	CHECK_STR_EQ(r.event[0], "first.flood");
	CHECK_INT_EQ(r.count[0], 7);
	CHECK_INT_EQ(r.window_ms[0], 500);
}

TEST(log_ratelimit_overlong_or_empty_name_never_limited)
{
	static struct log_ratelimit rl;
	struct reports r = { .n = 0 };
	char name[LOG_RATELIMIT_EVENT_MAX + 1];

	memset(&rl, 0, sizeof(rl));
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	CHECK_INT_EQ(offer(&rl, name, 100, 0, &r), 100);
	CHECK_INT_EQ(offer(&rl, "", 100, 0, &r), 100);
	CHECK_INT_EQ(r.n, 0);
}
