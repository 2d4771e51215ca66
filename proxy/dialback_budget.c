/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dialback_budget.c - rate budgets for dialback checks, per stream and per
 * source prefix (see dialback_budget.h for what and why).
 */
#include "dialback_budget.h"

#include <string.h>
#include <netinet/in.h>

#include "prefix_count.h"

#define US_PER_MINUTE 60000000ull

/* The interval between two events at per_minute: the GCRA's T.  The
 * schema bounds per_minute to [1, 60000], so T >= 1000 us. */
static uint64_t
dialback_rate_interval(unsigned per_minute)
{
	return US_PER_MINUTE / (per_minute > 0 ? per_minute : 1);
}

/* GCRA: the next event fits while the bucket's debt after taking it is
 * at most a minute's worth (N intervals). */
int
dialback_rate_has_room(const struct dialback_rate *r, uint64_t now_ms, unsigned per_minute)
{
	uint64_t now = now_ms * 1000, t = dialback_rate_interval(per_minute);
	uint64_t tat = r->tat_us > now ? r->tat_us : now;

	return tat + t - now <= t * (per_minute > 0 ? per_minute : 1);
}

int
dialback_rate_take(struct dialback_rate *r, uint64_t now_ms, unsigned per_minute)
{
	uint64_t now = now_ms * 1000;

	if (!dialback_rate_has_room(r, now_ms, per_minute))
		return 0;
	r->tat_us = (r->tat_us > now ? r->tat_us : now) + dialback_rate_interval(per_minute);
	return 1;
}

void
dialback_rate_charge(struct dialback_rate *r, uint64_t now_ms, unsigned per_minute)
{
	uint64_t now = now_ms * 1000, t = dialback_rate_interval(per_minute);
	uint64_t cap = now + t * (per_minute > 0 ? per_minute : 1);
	uint64_t tat = (r->tat_us > now ? r->tat_us : now) + t;

	r->tat_us = tat < cap ? tat : cap;
}

/* Full again: nothing left to remember. */
static int
dialback_rate_idle(const struct dialback_rate *r, uint64_t now_ms)
{
	return r->tat_us <= now_ms * 1000;
}

static int
dialback_prefix_idle(const struct dialback_prefix *p, uint64_t now_ms)
{
	return p->family == 0 || (dialback_rate_idle(&p->checks, now_ms) &&
	    dialback_rate_idle(&p->failures, now_ms));
}

/* The prefix a peer address belongs to: its IPv4 /24 or IPv6 /64, as the
 * stream limits count it (prefix_count.h; IPv4-mapped IPv6 is IPv4).
 * Anything else shares one key (family AF_UNSPEC). */
static void
dialback_prefix_of(const struct sockaddr_storage *ss, int *family, uint8_t bits[DIALBACK_PREFIX_BYTES])
{
	struct prefix_key keys[PREFIX_KEYS_PER_ADDR];

	memset(bits, 0, DIALBACK_PREFIX_BYTES);
	if (prefix_keys_of((const struct sockaddr *)ss, keys) < 0) {
		*family = AF_UNSPEC;
		return;
	}
	/* keys[1] is the wider prefix, the bytes past it zero. */
	*family = keys[1].kind == PREFIX_IPV4_24 ? AF_INET : AF_INET6;
	memcpy(bits, keys[1].bytes, DIALBACK_PREFIX_BYTES);
}

/* The slot of addr's prefix, taking one over if it has none (a free or
 * idle slot, else the one closest to idle). */
static struct dialback_prefix *
dialback_budget_slot(struct dialback_budget *b, const struct sockaddr_storage *addr, uint64_t now_ms)
{
	struct dialback_prefix *p, *reuse = NULL, *oldest = NULL;
	uint8_t bits[DIALBACK_PREFIX_BYTES];
	uint64_t oldest_tat = 0;
	int family;
	size_t i;

	dialback_prefix_of(addr, &family, bits);
	/* AF_UNSPEC is 0, the mark of a free slot: keep it apart. */
	if (family == AF_UNSPEC)
		family = -1;
	for (i = 0; i < DIALBACK_BUDGET_PREFIXES; i++) {
		uint64_t tat;

		p = &b->slots[i];
		if (p->family == family && memcmp(p->bits, bits, sizeof(bits)) == 0)
			return p;
		if (reuse == NULL && dialback_prefix_idle(p, now_ms))
			reuse = p;
		tat = p->checks.tat_us > p->failures.tat_us ? p->checks.tat_us : p->failures.tat_us;
		if (oldest == NULL || tat < oldest_tat) {
			oldest = p;
			oldest_tat = tat;
		}
	}
	if (reuse == NULL) {
		reuse = oldest;
		b->recycled++;
	}
	memset(reuse, 0, sizeof(*reuse));
	reuse->family = family;
	memcpy(reuse->bits, bits, sizeof(bits));
	return reuse;
}

int
dialback_budget_start_check(struct dialback_budget *b, const struct sockaddr_storage *addr,
    uint64_t now_ms, const struct config_limits *lim, const char **why)
{
	struct dialback_prefix *p = dialback_budget_slot(b, addr, now_ms);

	/* Failures first: a prefix that spent its failure budget gets no
	 * more checks, however few it starts. */
	if (!dialback_rate_has_room(&p->failures, now_ms, (unsigned)lim->dialback_failures_per_minute_per_prefix)) {
		*why = "limits.dialback_failures_per_minute_per_prefix";
		return -1;
	}
	if (!dialback_rate_take(&p->checks, now_ms, (unsigned)lim->dialback_checks_per_minute_per_prefix)) {
		*why = "limits.dialback_checks_per_minute_per_prefix";
		return -1;
	}
	return 0;
}

void
dialback_budget_note_failure(struct dialback_budget *b, const struct sockaddr_storage *addr,
    uint64_t now_ms, const struct config_limits *lim)
{
	struct dialback_prefix *p = dialback_budget_slot(b, addr, now_ms);

	dialback_rate_charge(&p->failures, now_ms, (unsigned)lim->dialback_failures_per_minute_per_prefix);
}

size_t
dialback_budget_busy(const struct dialback_budget *b, uint64_t now_ms)
{
	size_t i, n = 0;

	for (i = 0; i < DIALBACK_BUDGET_PREFIXES; i++)
		if (!dialback_prefix_idle(&b->slots[i], now_ms))
			n++;
	return n;
}
