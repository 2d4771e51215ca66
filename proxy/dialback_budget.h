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
 * Each rate is a token bucket of ratelimit.h (N a minute: a burst of N,
 * then one more every 60/N seconds), and the per-prefix buckets live in
 * ratelimit.h's prefix table, beside the prefix's stanza, byte and
 * new-stream buckets: one fixed table, one eviction rule (see there).
 */
#ifndef XE_DIALBACK_BUDGET_H
#define XE_DIALBACK_BUDGET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "ratelimit.h"

/* A per-stream budget of N a minute; all zero is a full one. */
struct dialback_rate {
	struct rate_bucket bucket;
};

/* Takes one event from a budget of per_minute at now_ms: 1 if it fits
 * (and is counted), 0 if the budget is spent (nothing changes). */
int dialback_rate_take(struct dialback_rate *r, uint64_t now_ms, unsigned per_minute);
/* Whether one more event would fit, without taking it. */
int dialback_rate_has_room(struct dialback_rate *r, uint64_t now_ms, unsigned per_minute);
/* Counts an event that happened whether it fits or not (a failure); the
 * debt is capped at one empty bucket, so it is repaid within a minute. */
void dialback_rate_charge(struct dialback_rate *r, uint64_t now_ms, unsigned per_minute);

/* A peer at addr wants one more dialback check: 0 if the budgets of its
 * prefix allow it (then it is counted), else -1 with the name of the limit
 * reached in *why (a static string).  rl NULL: no prefix budgets (0). */
int dialback_budget_start_check(struct ratelimit *rl, const struct sockaddr_storage *addr,
    uint64_t now_ms, const struct config_limits *lim, const char **why);
/* A check asked for by a peer at addr failed (invalid key, no answer). */
void dialback_budget_note_failure(struct ratelimit *rl, const struct sockaddr_storage *addr,
    uint64_t now_ms, const struct config_limits *lim);

#endif
