/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ratelimit.c - token buckets, the per-prefix and per-domain tables, and
 * the pausing of streams over their limits (see ratelimit.h for what and
 * why).
 */
#include "ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "prefix_count.h"

/* --- 1. the bucket ------------------------------------------------------- */

/* Costs past this are taken as this: a bucket's numbers stay far from
 * 2^64 whatever a peer sends (4 GiB is beyond any stanza or read). */
#define RATE_COST_MAX (1ull << 32)
/* A debt past this (in scaled units) is not recorded: with the schema's
 * bounds (rate < 2^31, burst < 2^43 units, period < 2^16 ms) no real
 * debt comes near it, and additions below it cannot overflow. */
#define RATE_DEFICIT_MAX (1ull << 62)
#define RATELIMIT_READ_MIN 512		/* bytes: a stanza always progresses */

struct rate_spec
rate_spec_per_minute(long per_minute)
{
	struct rate_spec r;

	r.rate = per_minute > 0 ? (uint64_t)per_minute : 1;
	r.period_ms = 60000;
	r.burst = r.rate;
	return r;
}

struct rate_spec
rate_spec_per_second(long per_second, long burst_s)
{
	struct rate_spec r;

	r.rate = per_second > 0 ? (uint64_t)per_second : 1;
	r.period_ms = 1000;
	r.burst = r.rate * (uint64_t)(burst_s > 0 ? burst_s : 1);
	return r;
}

static uint64_t
rate_capacity(const struct rate_spec *r)
{
	return r->burst * r->period_ms;
}

static uint64_t
rate_scaled_cost(const struct rate_spec *r, uint64_t cost)
{
	return (cost < RATE_COST_MAX ? cost : RATE_COST_MAX) * r->period_ms;
}

void
rate_bucket_refill(struct rate_bucket *b, const struct rate_spec *r, uint64_t now_ms)
{
	uint64_t elapsed, need;

	if (now_ms <= b->last_ms) {
		/* A clock that went backwards refills nothing; from here on
		 * time counts from the new reading. */
		b->last_ms = now_ms;
		return;
	}
	elapsed = now_ms - b->last_ms;
	b->last_ms = now_ms;
	if (b->deficit == 0)
		return;
	/* elapsed * rate could overflow after a long quiet time: only the
	 * time it takes to pay the whole deficit matters. */
	need = b->deficit / r->rate + 1;
	if (elapsed >= need)
		b->deficit = 0;
	else
		b->deficit = elapsed * r->rate >= b->deficit ? 0 : b->deficit - elapsed * r->rate;
}

uint64_t
rate_bucket_available(struct rate_bucket *b, const struct rate_spec *r, uint64_t now_ms)
{
	uint64_t cap = rate_capacity(r);

	rate_bucket_refill(b, r, now_ms);
	return b->deficit >= cap ? 0 : (cap - b->deficit) / r->period_ms;
}

int
rate_bucket_has_room(struct rate_bucket *b, const struct rate_spec *r, uint64_t now_ms, uint64_t cost)
{
	rate_bucket_refill(b, r, now_ms);
	return b->deficit + rate_scaled_cost(r, cost) <= rate_capacity(r);
}

int
rate_bucket_take(struct rate_bucket *b, const struct rate_spec *r, uint64_t now_ms, uint64_t cost)
{
	if (!rate_bucket_has_room(b, r, now_ms, cost))
		return 0;
	b->deficit += rate_scaled_cost(r, cost);
	return 1;
}

void
rate_bucket_charge(struct rate_bucket *b, const struct rate_spec *r, uint64_t now_ms,
    uint64_t cost, int may_owe)
{
	uint64_t cap = may_owe ? RATE_DEFICIT_MAX : rate_capacity(r);

	rate_bucket_refill(b, r, now_ms);
	b->deficit += rate_scaled_cost(r, cost);
	if (b->deficit > cap)
		b->deficit = cap;
}

uint64_t
rate_bucket_wait_ms(struct rate_bucket *b, const struct rate_spec *r, uint64_t now_ms)
{
	uint64_t cap = rate_capacity(r), room = cap - r->period_ms;	/* burst >= 1 unit */

	rate_bucket_refill(b, r, now_ms);
	if (b->deficit <= room)
		return 0;
	return (b->deficit - room + r->rate - 1) / r->rate;
}

int
rate_bucket_full(struct rate_bucket *b, const struct rate_spec *r, uint64_t now_ms)
{
	rate_bucket_refill(b, r, now_ms);
	return b->deficit == 0;
}

/* --- 2. the tables --------------------------------------------------------- */

static const struct config_limits *
ratelimit_limits(const struct ratelimit *rl)
{
	return &(*rl->cfg)->limits;
}

/* The specs of the current configuration (it may change on SIGHUP; the
 * buckets keep their deficit). */
struct ratelimit_specs {
	struct rate_spec streams, prefix_stanzas, prefix_bytes, domain_stanzas, domain_bytes;
	struct rate_spec db_checks, db_failures;
};

static void
ratelimit_specs_of(const struct ratelimit *rl, struct ratelimit_specs *s)
{
	const struct config_limits *lim = ratelimit_limits(rl);

	s->streams = rate_spec_per_minute(lim->new_streams_per_minute_per_prefix);
	s->prefix_stanzas = rate_spec_per_second(lim->prefix_stanzas_per_s, lim->rate_burst_s);
	s->prefix_bytes = rate_spec_per_second(lim->prefix_bytes_per_s, lim->rate_burst_s);
	s->domain_stanzas = rate_spec_per_second(lim->domain_stanzas_per_s, lim->rate_burst_s);
	s->domain_bytes = rate_spec_per_second(lim->domain_bytes_per_s, lim->rate_burst_s);
	s->db_checks = rate_spec_per_minute(lim->dialback_checks_per_minute_per_prefix);
	s->db_failures = rate_spec_per_minute(lim->dialback_failures_per_minute_per_prefix);
}

struct ratelimit *
ratelimit_new(uv_loop_t *loop, struct config *const *cfg)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (rl == NULL)
		return NULL;
	rl->cfg = cfg;
	rl->loop = loop;
	rl->due_ms = UINT64_MAX;
	/* getrandom cannot fail for 8 bytes once the pool is initialised;
	 * a zero seed still works, only guessably. */
	if (getrandom(&rl->seed, sizeof(rl->seed), 0) != (ssize_t)sizeof(rl->seed))
		rl->seed = 0;
	if (loop != NULL) {
		uv_timer_init(loop, &rl->timer);
		/* Never what keeps the loop running: listeners and streams
		 * do, and at shutdown a pending resume must not delay exit. */
		uv_unref((uv_handle_t *)&rl->timer);
		rl->timer.data = rl;
		rl->timer_open = 1;
	}
	return rl;
}

static void
ratelimit_on_timer_closed(uv_handle_t *h)
{
	free(h->data);
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	if (rl->timer_open) {
		rl->timer_open = 0;
		uv_close((uv_handle_t *)&rl->timer, ratelimit_on_timer_closed);
		return;
	}
	free(rl);
}

/* A seeded multiply-xorshift over bytes (as prefix_count.c's). */
static uint64_t
ratelimit_hash(uint64_t seed, const uint8_t *p, size_t len)
{
	uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 33;
	}
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 29);
}

/*
 * Where a key lives: the slot of its window that matches (*found = 1),
 * else the one to take over: free, else idle and unused by streams,
 * else unused by streams and least recently used, else least recently
 * used.  slot_of() maps an index to its header; matches() and idle()
 * judge one slot.
 */
struct ratelimit_table {
	struct ratelimit_slot *(*slot_of)(struct ratelimit *rl, size_t i);
	int (*matches)(struct ratelimit *rl, size_t i, const void *key);
	int (*idle)(struct ratelimit *rl, size_t i, uint64_t now_ms);
	size_t nslots;
};

static size_t
ratelimit_table_find(struct ratelimit *rl, const struct ratelimit_table *t, uint64_t hash,
    const void *key, uint64_t now_ms, int *found)
{
	size_t i, k, pick = SIZE_MAX, lru = SIZE_MAX, lru_free = SIZE_MAX;
	int pick_rank = 0;

	*found = 0;
	for (k = 0; k < RATELIMIT_PROBE; k++) {
		struct ratelimit_slot *h;

		i = (size_t)((hash + k) % t->nslots);
		h = t->slot_of(rl, i);
		if (h->used && t->matches(rl, i, key)) {
			*found = 1;
			return i;
		}
		if (!h->used) {
			if (pick_rank < 2) {
				pick = i;
				pick_rank = 2;
			}
			continue;
		}
		if (h->refs == 0 && pick_rank < 1 && t->idle(rl, i, now_ms)) {
			pick = i;
			pick_rank = 1;
		}
		if (lru == SIZE_MAX || h->last_ms < t->slot_of(rl, lru)->last_ms)
			lru = i;
		if (h->refs == 0 && (lru_free == SIZE_MAX || h->last_ms < t->slot_of(rl, lru_free)->last_ms))
			lru_free = i;
	}
	if (pick != SIZE_MAX)
		return pick;
	return lru_free != SIZE_MAX ? lru_free : lru;
}

static struct ratelimit_slot *
ratelimit_prefix_slot(struct ratelimit *rl, size_t i)
{
	return &rl->prefixes[i].h;
}

struct prefix_key_bits {
	int family;
	uint8_t bits[RATELIMIT_PREFIX_BYTES];
};

static int
ratelimit_prefix_matches(struct ratelimit *rl, size_t i, const void *key)
{
	const struct prefix_key_bits *k = key;

	return rl->prefixes[i].family == k->family &&
	    memcmp(rl->prefixes[i].bits, k->bits, sizeof(k->bits)) == 0;
}

static int
ratelimit_prefix_idle(struct ratelimit *rl, size_t i, uint64_t now_ms)
{
	struct ratelimit_prefix *p = &rl->prefixes[i];
	struct ratelimit_specs s;

	ratelimit_specs_of(rl, &s);
	return rate_bucket_full(&p->streams, &s.streams, now_ms) &&
	    rate_bucket_full(&p->stanzas, &s.prefix_stanzas, now_ms) &&
	    rate_bucket_full(&p->bytes, &s.prefix_bytes, now_ms) &&
	    rate_bucket_full(&p->dialback_checks, &s.db_checks, now_ms) &&
	    rate_bucket_full(&p->dialback_failures, &s.db_failures, now_ms);
}

static const struct ratelimit_table ratelimit_prefix_table = {
	ratelimit_prefix_slot, ratelimit_prefix_matches, ratelimit_prefix_idle, RATELIMIT_PREFIX_SLOTS,
};

/* The prefix an address is limited under: its IPv4 /24 or IPv6 /64, as
 * the stream limits count it (prefix_count.h; IPv4-mapped IPv6 is IPv4).
 * Anything else shares one key. */
static void
ratelimit_prefix_of(const struct sockaddr *sa, struct prefix_key_bits *k)
{
	struct prefix_key keys[PREFIX_KEYS_PER_ADDR];

	memset(k, 0, sizeof(*k));
	if (prefix_keys_of(sa, keys) < 0) {
		k->family = -1;
		return;
	}
	/* keys[1] is the wider prefix, the bytes past it zero. */
	k->family = keys[1].kind == PREFIX_IPV4_24 ? AF_INET : AF_INET6;
	memcpy(k->bits, keys[1].bytes, sizeof(k->bits));
}

/* Takes over slot h for a new key: everything it remembered goes. */
static void
ratelimit_slot_reset(struct ratelimit_slot *h, size_t size, uint64_t *evictions)
{
	uint32_t gen = h->gen + 1;

	if (h->used)
		(*evictions)++;
	memset(h, 0, size);	/* h is the first member of its slot */
	h->gen = gen;
	h->used = 1;
}

static size_t
ratelimit_prefix_index(struct ratelimit *rl, const struct sockaddr *addr, uint64_t now_ms)
{
	struct prefix_key_bits k;
	size_t i;
	int found;

	ratelimit_prefix_of(addr, &k);
	i = ratelimit_table_find(rl, &ratelimit_prefix_table,
	    ratelimit_hash(rl->seed, (const uint8_t *)&k, sizeof(k)), &k, now_ms, &found);
	if (!found) {
		ratelimit_slot_reset(&rl->prefixes[i].h, sizeof(rl->prefixes[i]), &rl->stats.prefix_evictions);
		rl->prefixes[i].family = k.family;
		memcpy(rl->prefixes[i].bits, k.bits, sizeof(k.bits));
	}
	rl->prefixes[i].h.last_ms = now_ms;
	return i;
}

struct ratelimit_prefix *
ratelimit_prefix_get(struct ratelimit *rl, const struct sockaddr *addr, uint64_t now_ms)
{
	return &rl->prefixes[ratelimit_prefix_index(rl, addr, now_ms)];
}

size_t
ratelimit_prefixes_busy(struct ratelimit *rl, uint64_t now_ms)
{
	size_t i, n = 0;

	for (i = 0; i < RATELIMIT_PREFIX_SLOTS; i++)
		if (rl->prefixes[i].h.used && !ratelimit_prefix_idle(rl, i, now_ms))
			n++;
	return n;
}

static struct ratelimit_slot *
ratelimit_domain_slot(struct ratelimit *rl, size_t i)
{
	return &rl->domains[i].h;
}

static int
ratelimit_domain_matches(struct ratelimit *rl, size_t i, const void *key)
{
	return strcmp(rl->domains[i].name, key) == 0;
}

/* A domain slot holds counters for `status` besides its buckets, so it
 * is never "idle": domains are taken over by least recent use only. */
static int
ratelimit_domain_idle(struct ratelimit *rl, size_t i, uint64_t now_ms)
{
	(void)rl;
	(void)i;
	(void)now_ms;
	return 0;
}

static const struct ratelimit_table ratelimit_domain_table = {
	ratelimit_domain_slot, ratelimit_domain_matches, ratelimit_domain_idle, RATELIMIT_DOMAIN_SLOTS,
};

static size_t
ratelimit_domain_index(struct ratelimit *rl, const char *domain, uint64_t now_ms)
{
	size_t i, len = strlen(domain);
	int found;

	if (len >= CONFIG_DOMAIN_MAX)
		len = CONFIG_DOMAIN_MAX - 1;	/* canonical domains fit: cannot happen */
	i = ratelimit_table_find(rl, &ratelimit_domain_table,
	    ratelimit_hash(rl->seed, (const uint8_t *)domain, len), domain, now_ms, &found);
	if (!found) {
		ratelimit_slot_reset(&rl->domains[i].h, sizeof(rl->domains[i]), &rl->stats.domain_evictions);
		memcpy(rl->domains[i].name, domain, len);
		rl->domains[i].name[len] = '\0';
	}
	rl->domains[i].h.last_ms = now_ms;
	return i;
}

struct ratelimit_domain *
ratelimit_domain_get(struct ratelimit *rl, const char *domain, uint64_t now_ms)
{
	return &rl->domains[ratelimit_domain_index(rl, domain, now_ms)];
}

int
ratelimit_admit_stream(struct ratelimit *rl, const struct sockaddr *peer, uint64_t now_ms,
    const char **why)
{
	struct ratelimit_prefix *p = ratelimit_prefix_get(rl, peer, now_ms);
	struct rate_spec r = rate_spec_per_minute(ratelimit_limits(rl)->new_streams_per_minute_per_prefix);

	if (rate_bucket_take(&p->streams, &r, now_ms, 1))
		return 0;
	p->streams_refused++;
	rl->stats.streams_refused++;
	*why = "limits.new_streams_per_minute_per_prefix reached";
	return -1;
}

/* The value a ranking sorts by. */
static uint64_t
ratelimit_rank_value(const struct ratelimit_domain *d, int by)
{
	switch (by) {
	case 0: return d->stanzas_in;
	case 1: return d->bytes_in;
	case 2: return d->paused_ms;
	default: return d->refusals;
	}
}

static int
ratelimit_cmp_stanzas(const void *a, const void *b)
{
	const struct ratelimit_domain *x = *(const struct ratelimit_domain *const *)a;
	const struct ratelimit_domain *y = *(const struct ratelimit_domain *const *)b;

	return x->stanzas_in < y->stanzas_in ? 1 : x->stanzas_in > y->stanzas_in ? -1 :
	    strcmp(x->name, y->name);
}

size_t
ratelimit_top_domains(const struct ratelimit *rl, const struct ratelimit_domain **out, size_t cap)
{
	const struct ratelimit_domain *best[RATELIMIT_TOP_N];
	size_t n = 0, i, j, k, nbest;
	int by;

	for (by = 0; by < 4; by++) {
		/* The RATELIMIT_TOP_N largest nonzero values, by insertion. */
		nbest = 0;
		for (i = 0; i < RATELIMIT_DOMAIN_SLOTS; i++) {
			const struct ratelimit_domain *d = &rl->domains[i];
			uint64_t v = ratelimit_rank_value(d, by);

			if (!d->h.used || v == 0)
				continue;
			if (nbest == RATELIMIT_TOP_N && v <= ratelimit_rank_value(best[nbest - 1], by))
				continue;
			k = nbest < RATELIMIT_TOP_N ? nbest++ : nbest - 1;
			while (k > 0 && ratelimit_rank_value(best[k - 1], by) < v) {
				best[k] = best[k - 1];
				k--;
			}
			best[k] = d;
		}
		for (i = 0; i < nbest && n < cap; i++) {
			for (j = 0; j < n && out[j] != best[i]; j++)
				;
			if (j == n)
				out[n++] = best[i];
		}
	}
	qsort(out, n, sizeof(*out), ratelimit_cmp_stanzas);
	return n;
}

size_t
ratelimit_paused_count(const struct ratelimit *rl)
{
	const struct ratelimit_stream *rs;
	size_t n = 0;

	for (rs = rl->paused; rs != NULL; rs = rs->next)
		n++;
	return n;
}

/* --- 3. the stream hook --------------------------------------------------- */

static uint64_t
ratelimit_now(const struct ratelimit *rl)
{
	return rl->loop != NULL ? uv_now(rl->loop) : rl->now_ms;
}

void
ratelimit_stream_init(struct ratelimit_stream *rs, struct ratelimit *rl,
    const struct sockaddr *peer, const char *peer_text, void (*resume)(struct ratelimit_stream *))
{
	uint64_t now = ratelimit_now(rl);

	memset(rs, 0, sizeof(*rs));
	rs->rl = rl;
	rs->resume = resume;
	rs->prefix = ratelimit_prefix_index(rl, peer, now);
	rs->prefix_gen = rl->prefixes[rs->prefix].h.gen;
	rl->prefixes[rs->prefix].h.refs++;
	snprintf(rs->peer, sizeof(rs->peer), "%s", peer_text);
}

/* The stream's slots, NULL when taken over by another key since (the
 * stream then goes by the rest until its next stanza). */
static struct ratelimit_prefix *
ratelimit_stream_prefix(const struct ratelimit_stream *rs)
{
	struct ratelimit_prefix *p = &rs->rl->prefixes[rs->prefix];

	return p->h.gen == rs->prefix_gen ? p : NULL;
}

static struct ratelimit_domain *
ratelimit_stream_domain(const struct ratelimit_stream *rs)
{
	struct ratelimit_domain *d;

	if (!rs->has_domain)
		return NULL;
	d = &rs->rl->domains[rs->domain];
	return d->h.gen == rs->domain_gen ? d : NULL;
}

static void
ratelimit_stream_unref(struct ratelimit_stream *rs)
{
	struct ratelimit_prefix *p = ratelimit_stream_prefix(rs);
	struct ratelimit_domain *d = ratelimit_stream_domain(rs);

	if (p != NULL && p->h.refs > 0)
		p->h.refs--;
	if (d != NULL && d->h.refs > 0)
		d->h.refs--;
	rs->prefix_gen = UINT32_MAX;	/* matches no slot from here on */
	rs->has_domain = 0;
}

/* The buckets the stream goes by, with their specs and names. */
struct ratelimit_use {
	struct rate_bucket *b;
	const struct rate_spec *r;
	const char *limit;
	int bytes;
	int own;		/* the domain's: only these make abuse */
};

static size_t ratelimit_stream_uses(struct ratelimit_stream *rs, struct ratelimit_specs *s,
    struct ratelimit_use out[4]);
static int ratelimit_stream_recovered(struct ratelimit_use *u, size_t n, uint64_t now_ms);

void
ratelimit_stream_charge(struct ratelimit_stream *rs, const char *domain, size_t bytes)
{
	struct ratelimit *rl = rs->rl;
	struct ratelimit_specs s;
	struct ratelimit_prefix *p;
	struct ratelimit_domain *d;
	uint64_t now;

	if (rl == NULL)
		return;
	now = ratelimit_now(rl);
	ratelimit_specs_of(rl, &s);
	d = ratelimit_stream_domain(rs);
	if (d == NULL || strcmp(d->name, domain) != 0) {
		/* First stanza, or another domain of the stream (dialback
		 * piggybacking): the stream now goes by this one. */
		if (d != NULL && d->h.refs > 0)
			d->h.refs--;
		rs->domain = ratelimit_domain_index(rl, domain, now);
		d = &rl->domains[rs->domain];
		rs->domain_gen = d->h.gen;
		rs->has_domain = 1;
		d->h.refs++;
	}
	/* A peer back after a quiet spell is not over its limits any more,
	 * even if this stanza pauses it again at once. */
	if (rs->over) {
		struct ratelimit_use u[4];
		struct ratelimit_specs su;
		size_t n = ratelimit_stream_uses(rs, &su, u);

		if (ratelimit_stream_recovered(u, n, now))
			rs->over = 0;
	}
	d->h.last_ms = now;
	d->stanzas_in++;
	d->bytes_in += bytes;
	rate_bucket_charge(&d->stanzas, &s.domain_stanzas, now, 1, 1);
	rate_bucket_charge(&d->bytes, &s.domain_bytes, now, bytes, 1);
	p = ratelimit_stream_prefix(rs);
	if (p != NULL) {
		p->h.last_ms = now;
		rate_bucket_charge(&p->stanzas, &s.prefix_stanzas, now, 1, 1);
		rate_bucket_charge(&p->bytes, &s.prefix_bytes, now, bytes, 1);
	}
	/* An exponential moving average (1/8 weight): sizes the next read
	 * so that it holds about as many stanzas as the bucket allows. */
	rs->avg_stanza_bytes = rs->avg_stanza_bytes == 0 ? bytes :
	    (rs->avg_stanza_bytes * 7 + bytes) / 8;
}

static size_t
ratelimit_stream_uses(struct ratelimit_stream *rs, struct ratelimit_specs *s, struct ratelimit_use out[4])
{
	struct ratelimit_domain *d = ratelimit_stream_domain(rs);
	struct ratelimit_prefix *p = ratelimit_stream_prefix(rs);
	size_t n = 0;

	ratelimit_specs_of(rs->rl, s);
	if (d != NULL) {
		out[n++] = (struct ratelimit_use){ &d->stanzas, &s->domain_stanzas, "limits.domain_stanzas_per_s", 0, 1 };
		out[n++] = (struct ratelimit_use){ &d->bytes, &s->domain_bytes, "limits.domain_bytes_per_s", 1, 1 };
	}
	if (p != NULL) {
		out[n++] = (struct ratelimit_use){ &p->stanzas, &s->prefix_stanzas, "limits.prefix_stanzas_per_s", 0, 0 };
		out[n++] = (struct ratelimit_use){ &p->bytes, &s->prefix_bytes, "limits.prefix_bytes_per_s", 1, 0 };
	}
	return n;
}

size_t
ratelimit_stream_allowance(struct ratelimit_stream *rs, size_t want)
{
	struct ratelimit_use u[4];
	struct ratelimit_specs s;
	uint64_t now, allow = want, avail;
	size_t i, n;

	if (rs->rl == NULL)
		return want;
	now = ratelimit_now(rs->rl);
	n = ratelimit_stream_uses(rs, &s, u);
	for (i = 0; i < n; i++) {
		avail = rate_bucket_available(u[i].b, u[i].r, now);
		/* Stanzas become bytes at this stream's average size
		 * (saturating: the schema allows 2^31 a second for 3600 s). */
		if (!u[i].bytes) {
			uint64_t per = rs->avg_stanza_bytes > 0 ? rs->avg_stanza_bytes : RATELIMIT_READ_MIN;

			avail = avail > UINT64_MAX / per ? UINT64_MAX : avail * per;
		}
		if (avail < allow)
			allow = avail;
	}
	if (allow < RATELIMIT_READ_MIN)
		allow = RATELIMIT_READ_MIN;
	return allow < want ? (size_t)allow : want;
}

static void ratelimit_on_timer(uv_timer_t *t);

/* Arms the timer for the earliest resume of the paused list. */
static void
ratelimit_arm(struct ratelimit *rl, uint64_t now_ms)
{
	struct ratelimit_stream *rs;
	uint64_t due = UINT64_MAX;

	for (rs = rl->paused; rs != NULL; rs = rs->next)
		if (rs->resume_at_ms < due)
			due = rs->resume_at_ms;
	rl->due_ms = due;
	if (!rl->timer_open)
		return;
	if (due == UINT64_MAX) {
		uv_timer_stop(&rl->timer);
		return;
	}
	uv_timer_start(&rl->timer, ratelimit_on_timer, due > now_ms ? due - now_ms : 0, 0);
}

static void
ratelimit_unlink(struct ratelimit_stream *rs, uint64_t now_ms)
{
	struct ratelimit *rl = rs->rl;
	struct ratelimit_domain *d = ratelimit_stream_domain(rs);
	uint64_t paused_ms;

	if (!rs->paused)
		return;
	if (rs->prev != NULL)
		rs->prev->next = rs->next;
	else
		rl->paused = rs->next;
	if (rs->next != NULL)
		rs->next->prev = rs->prev;
	rs->next = rs->prev = NULL;
	rs->paused = 0;
	paused_ms = now_ms > rs->paused_since_ms ? now_ms - rs->paused_since_ms : 0;
	rl->stats.paused_ms += paused_ms;
	if (d != NULL)
		d->paused_ms += paused_ms;
}

/* Whether the stream's own (domain) buckets are at least half full again. */
static int
ratelimit_stream_recovered(struct ratelimit_use *u, size_t n, uint64_t now_ms)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (u[i].own && rate_bucket_available(u[i].b, u[i].r, now_ms) < u[i].r->burst / 2 + (u[i].r->burst == 1))
			return 0;
	return 1;
}

static enum ratelimit_verdict
ratelimit_stream_check_at(struct ratelimit_stream *rs, uint64_t now)
{
	struct ratelimit *rl = rs->rl;
	struct ratelimit_domain *d;
	struct ratelimit_use u[4];
	struct ratelimit_specs s;
	uint64_t wait = 0, w;
	const char *limit = NULL;
	int own_over = 0;
	size_t i, n;

	if (rl == NULL || rs->paused)
		return rs->paused ? RATELIMIT_PAUSED : RATELIMIT_OK;
	n = ratelimit_stream_uses(rs, &s, u);
	for (i = 0; i < n; i++) {
		w = rate_bucket_wait_ms(u[i].b, u[i].r, now);
		own_over |= w > 0 && u[i].own;
		if (w > wait) {
			wait = w;
			limit = u[i].limit;
		}
	}
	if (rs->over && ratelimit_stream_recovered(u, n, now))
		rs->over = 0;
	if (wait == 0)
		return RATELIMIT_OK;
	d = ratelimit_stream_domain(rs);
	/* Abuse is a domain's own doing: a stream held only by its
	 * prefix's buckets (shared with its neighbours) is slowed, never
	 * ended. */
	/* (A clock that went backwards restarts the episode.) */
	if (own_over && (!rs->over || now < rs->over_since_ms)) {
		rs->over = 1;
		rs->over_since_ms = now;
	}
	rs->limit = limit;
	if (rs->over && ratelimit_limits(rl)->rate_abuse_s > 0 && now >= rs->over_since_ms &&
	    now - rs->over_since_ms >= (uint64_t)ratelimit_limits(rl)->rate_abuse_s * 1000) {
		char over_s[24];

		snprintf(over_s, sizeof(over_s), "%llu", (unsigned long long)((now - rs->over_since_ms) / 1000));
		rl->stats.violations++;
		if (d != NULL)
			d->refusals++;
		log_event(LOG_WARN, "ratelimit.abuse", "peer", rs->peer,
		    "domain", d != NULL ? d->name : NULL, "limit", limit, "over_s", over_s, NULL);
		return RATELIMIT_ABUSE;
	}
	rl->stats.pauses++;
	if (d != NULL)
		d->pauses++;
	log_event(LOG_DEBUG, "ratelimit.pause", "peer", rs->peer,
	    "domain", d != NULL ? d->name : NULL, "limit", limit, NULL);
	rs->paused = 1;
	rs->paused_since_ms = now;
	/* Resumes fall on RATELIMIT_TICK_MS boundaries: one timer run wakes
	 * every stream due in that tick, so thousands of paused streams
	 * cost at most 1000 / RATELIMIT_TICK_MS runs a second. */
	rs->resume_at_ms = (now + wait + RATELIMIT_TICK_MS - 1) / RATELIMIT_TICK_MS * RATELIMIT_TICK_MS;
	rs->prev = NULL;
	rs->next = rl->paused;
	if (rl->paused != NULL)
		rl->paused->prev = rs;
	rl->paused = rs;
	/* Only an earlier deadline re-arms: no walk of the list per pause. */
	if (rs->resume_at_ms < rl->due_ms) {
		rl->due_ms = rs->resume_at_ms;
		if (rl->timer_open)
			uv_timer_start(&rl->timer, ratelimit_on_timer, rl->due_ms - now, 0);
	}
	return RATELIMIT_PAUSED;
}

enum ratelimit_verdict
ratelimit_stream_check(struct ratelimit_stream *rs)
{
	if (rs->rl == NULL)
		return RATELIMIT_OK;
	return ratelimit_stream_check_at(rs, ratelimit_now(rs->rl));
}

int
ratelimit_stream_paused(const struct ratelimit_stream *rs)
{
	return rs->paused;
}

void
ratelimit_stream_release(struct ratelimit_stream *rs)
{
	struct ratelimit *rl = rs->rl;
	uint64_t now;

	if (rl == NULL)
		return;
	now = ratelimit_now(rl);
	ratelimit_unlink(rs, now);
	ratelimit_stream_unref(rs);
	rs->rl = NULL;
	/* The timer stays as it is (a run with nothing due re-arms it)
	 * unless nothing is paused any more. */
	if (rl->paused == NULL && rl->due_ms != UINT64_MAX) {
		rl->due_ms = UINT64_MAX;
		if (rl->timer_open)
			uv_timer_stop(&rl->timer);
	}
}

void
ratelimit_run_due(struct ratelimit *rl, uint64_t now_ms)
{
	struct ratelimit_stream *rs, *next;

	/* One pass.  A resume starts reading again (no read happens inside
	 * it) or closes its own stream; should it ever release or pause the
	 * stream after it, the pass stops there and the re-armed timer (0 ms:
	 * something is overdue) does the rest. */
	for (rs = rl->paused; rs != NULL; rs = next) {
		next = rs->next;
		if (rs->resume_at_ms > now_ms)
			continue;
		ratelimit_unlink(rs, now_ms);
		log_event(LOG_DEBUG, "ratelimit.resume", "peer", rs->peer, NULL);
		if (rs->resume != NULL)
			rs->resume(rs);
		if (next != NULL && !next->paused)
			break;
	}
	ratelimit_arm(rl, now_ms);
}

static void
ratelimit_on_timer(uv_timer_t *t)
{
	struct ratelimit *rl = t->data;

	ratelimit_run_due(rl, uv_now(rl->loop));
}
