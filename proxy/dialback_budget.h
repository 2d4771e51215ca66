/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dialback_budget.h - how many dialback checks remote peers may make us run.
 *
 * Every <db:result/> we check is a connection we open toward whatever the
 * claimed domain's DNS names (XEP-0220 step 2): without a budget, one
 * unauthenticated stream can make the edge dial out hundreds of times a
 * second.  S2S_IN_CHECKS_MAX bounds how many checks run at once on one
 * stream; these budgets bound how many over time:
 *
 *   per stream  limits.dialback_checks_per_minute checks started, and
 *               limits.dialback_failures_max failed checks in its life;
 *   per prefix  limits.dialback_checks_per_minute_per_prefix started and
 *               limits.dialback_failures_per_minute_per_prefix failed, all
 *               streams from one IPv4 /24 or IPv6 /64 together (what one
 *               party usually holds: new connections do not reset it).
 *
 * Each rate is a GCRA bucket (the generic cell rate algorithm): a budget of
 * N a minute allows a burst of N, then one more every 60/N seconds.  It is
 * one timestamp, the "theoretical arrival time" of the next event; the
 * bucket is full again once that time has passed.
 *
 * The prefix table is a fixed array in struct edge: a slot whose buckets
 * are full again remembers nothing and is reused, and when every slot is
 * busy the one closest to full again is recycled.  Memory never grows with
 * the number of peers; an attacker who spreads over more prefixes than
 * there are slots gains at most a fresh per-prefix budget, never more than
 * the per-stream one.
 */
#ifndef XE_DIALBACK_BUDGET_H
#define XE_DIALBACK_BUDGET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"

#define DIALBACK_BUDGET_PREFIXES 512	/* slots of the per-prefix table */
#define DIALBACK_PREFIX_BYTES 8		/* an IPv6 /64; an IPv4 /24 uses 3 */

/* A GCRA bucket; all zero is a full bucket. */
struct dialback_rate {
	uint64_t tat_us;		/* when the bucket is full again, microseconds */
};

/* Takes one event from a budget of per_minute at now_ms: 1 if it fits
 * (and is counted), 0 if the budget is spent (nothing changes). */
int dialback_rate_take(struct dialback_rate *r, uint64_t now_ms, unsigned per_minute);
/* Whether one more event would fit, without taking it. */
int dialback_rate_has_room(const struct dialback_rate *r, uint64_t now_ms, unsigned per_minute);
/* Counts an event that happened whether it fits or not (a failure); the
 * debt is capped at one empty bucket, so it is repaid within a minute. */
void dialback_rate_charge(struct dialback_rate *r, uint64_t now_ms, unsigned per_minute);

struct dialback_prefix {
	int family;			/* AF_INET, AF_INET6; 0: slot unused */
	uint8_t bits[DIALBACK_PREFIX_BYTES];
	struct dialback_rate checks;
	struct dialback_rate failures;
};

struct dialback_budget {
	struct dialback_prefix slots[DIALBACK_BUDGET_PREFIXES];
	uint64_t recycled;		/* busy slots taken over (table full) */
};

/* A peer at addr wants one more dialback check: 0 if the budgets of its
 * prefix allow it (then it is counted), else -1 with the name of the limit
 * reached in *why (a static string). */
int dialback_budget_start_check(struct dialback_budget *b, const struct sockaddr_storage *addr,
    uint64_t now_ms, const struct config_limits *lim, const char **why);
/* A check asked for by a peer at addr failed (invalid key, no answer). */
void dialback_budget_note_failure(struct dialback_budget *b, const struct sockaddr_storage *addr,
    uint64_t now_ms, const struct config_limits *lim);
/* Slots in use at now_ms (buckets not yet full again); for tests. */
size_t dialback_budget_busy(const struct dialback_budget *b, uint64_t now_ms);

#endif
