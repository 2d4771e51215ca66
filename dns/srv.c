/* SPDX-License-Identifier: Apache-2.0 */
/*
 * srv.c - ordering SRV records (RFC 2782 "Usage rules"), and the small
 * random generator the ordering uses.
 *
 * XEP-0368 §3 rule 1: _xmpps-server and _xmpp-server records are mixed
 * "as the same record with regard to connection order", so the caller
 * hands us both services' records in one array (each tagged with its TLS
 * mode) and we order them as one RRset.
 *
 * RFC 2782 says, per priority (lowest first):
 *   "arrange all SRV RRs (that have not been ordered yet) in any order,
 *    except that all those with weight 0 are placed at the beginning of
 *    the list.  Compute the sum of the weights of those RRs, and with
 *    each RR associate the running sum in the selected order.  Then
 *    choose a uniform random number between 0 and the sum computed
 *    (inclusive), and select the RR whose running sum value is the first
 *    in the selected order which is greater than or equal to the random
 *    number selected."
 * and repeat until the priority's records are used up.  So a record of
 * weight w (all weights > 0) comes first with probability w / sum, and a
 * weight 0 record only when the random number is 0 (probability
 * 1 / (sum + 1)), or in turn when every weight left is 0.
 *
 * The selection is O(n) per pick; we stop after max_out picks, so the cost
 * is O(n log n + max_out * n) with n bounded by the caller.  Pure
 * functions, seedable RNG: tests/unit/test_dns_srv.c checks distributions
 * exactly reproducibly.
 */
#include "dns_internal.h"

#include <sys/random.h>
#include <time.h>

void
dns_rng_seed(struct dns_rng *rng, uint64_t seed)
{
	/* splitmix64 of the seed, so that small seeds give good states and
	 * the state is never 0 (xorshift's fixed point). */
	seed += 0x9e3779b97f4a7c15ULL;
	seed = (seed ^ (seed >> 30)) * 0xbf58476d1ce4e5b9ULL;
	seed = (seed ^ (seed >> 27)) * 0x94d049bb133111ebULL;
	seed ^= seed >> 31;
	rng->s = seed ? seed : 1;
}

void
dns_rng_seed_random(struct dns_rng *rng)
{
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	}
	dns_rng_seed(rng, seed);
}

/* xorshift64* (Vigna); the high 32 bits are the good ones. */
static uint32_t
rng_next(struct dns_rng *rng)
{
	uint64_t x = rng->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng->s = x;
	return (uint32_t)((x * 0x2545f4914f6cdd1dULL) >> 32);
}

uint32_t
dns_rng_below(struct dns_rng *rng, uint32_t bound)
{
	/* Rejection sampling: drop the top partial copy of [0, bound) so
	 * every value is equally likely. */
	uint32_t limit = UINT32_MAX - (UINT32_MAX % bound);
	uint32_t x;

	if (bound <= 1)
		return 0;
	do
		x = rng_next(rng);
	while (x >= limit);
	return x % bound;
}

size_t
dns_srv_order(struct dns_srv_target *t, size_t n, size_t max_out,
    struct dns_rng *rng)
{
	size_t i, j, out = 0, start;

	/* Stable insertion sort by priority (n is at most a few hundred). */
	for (i = 1; i < n; i++) {
		struct dns_srv_target x = t[i];

		for (j = i; j > 0 && t[j - 1].priority > x.priority; j--)
			t[j] = t[j - 1];
		t[j] = x;
	}

	for (start = 0; start < n && out < max_out; ) {
		size_t end = start;

		while (end < n && t[end].priority == t[start].priority)
			end++;
		/* Zero weights to the front of the group, order kept. */
		for (i = start + 1; i < end; i++) {
			struct dns_srv_target x = t[i];

			if (x.weight != 0)
				continue;
			for (j = i; j > start && t[j - 1].weight != 0; j--)
				t[j] = t[j - 1];
			t[j] = x;
		}
		/* t[start..out) ordered, t[out..end) still to pick from. */
		while (out < end && out < max_out) {
			uint32_t sum = 0, run = 0, r;

			for (i = out; i < end; i++)
				sum += t[i].weight;
			r = dns_rng_below(rng, sum + 1);
			for (i = out; i < end - 1; i++) {
				run += t[i].weight;
				if (run >= r)
					break;
			}
			/* Keep the unpicked ones in their order (zero weights
			 * stay in front) by rotating rather than swapping. */
			{
				struct dns_srv_target x = t[i];

				for (j = i; j > out; j--)
					t[j] = t[j - 1];
				t[out] = x;
			}
			out++;
		}
		start = end;
	}
	return out;
}
