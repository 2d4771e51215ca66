/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dialback_budget.c - rate budgets for dialback checks, per stream and per
 * source prefix (see dialback_budget.h for what and why), on the buckets
 * and the prefix table of ratelimit.c.
 */
#include "dialback_budget.h"

int
dialback_rate_has_room(struct dialback_rate *r, uint64_t now_ms, unsigned per_minute)
{
	struct rate_spec spec = rate_spec_per_minute((long)per_minute);

	return rate_bucket_has_room(&r->bucket, &spec, now_ms, 1);
}

int
dialback_rate_take(struct dialback_rate *r, uint64_t now_ms, unsigned per_minute)
{
	struct rate_spec spec = rate_spec_per_minute((long)per_minute);

	return rate_bucket_take(&r->bucket, &spec, now_ms, 1);
}

void
dialback_rate_charge(struct dialback_rate *r, uint64_t now_ms, unsigned per_minute)
{
	struct rate_spec spec = rate_spec_per_minute((long)per_minute);

	rate_bucket_charge(&r->bucket, &spec, now_ms, 1, 0);
}

int
dialback_budget_start_check(struct ratelimit *rl, const struct sockaddr_storage *addr,
    uint64_t now_ms, const struct config_limits *lim, const char **why)
{
	struct ratelimit_prefix *p;
	struct rate_spec checks = rate_spec_per_minute(lim->dialback_checks_per_minute_per_prefix);
	struct rate_spec failures = rate_spec_per_minute(lim->dialback_failures_per_minute_per_prefix);

	/* No limiter (an edge built without one: session unit tests): the
	 * per-stream budgets still hold, the per-prefix ones do not exist. */
	if (rl == NULL)
		return 0;
	p = ratelimit_prefix_get(rl, (const struct sockaddr *)addr, now_ms);
	/* Failures first: a prefix that spent its failure budget gets no
	 * more checks, however few it starts. */
	if (!rate_bucket_has_room(&p->dialback_failures, &failures, now_ms, 1)) {
		*why = "limits.dialback_failures_per_minute_per_prefix";
		return -1;
	}
	if (!rate_bucket_take(&p->dialback_checks, &checks, now_ms, 1)) {
		*why = "limits.dialback_checks_per_minute_per_prefix";
		return -1;
	}
	return 0;
}

void
dialback_budget_note_failure(struct ratelimit *rl, const struct sockaddr_storage *addr,
    uint64_t now_ms, const struct config_limits *lim)
{
	struct ratelimit_prefix *p;
	struct rate_spec failures = rate_spec_per_minute(lim->dialback_failures_per_minute_per_prefix);

	if (rl == NULL)
		return;		/* as in dialback_budget_start_check */
	p = ratelimit_prefix_get(rl, (const struct sockaddr *)addr, now_ms);
	rate_bucket_charge(&p->dialback_failures, &failures, now_ms, 1, 0);
}
