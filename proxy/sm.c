/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sm.c - XEP-0198 counters, the outgoing ring, custody and the registry
 * (see sm.h).  No I/O, no clock: callers pass the time.
 *
 * All 'h' arithmetic is uint32_t, which wraps at 2^32 exactly as XEP-0198
 * §4 asks ("h" mod 2^32): the distance from the last acknowledged h to a
 * new one is h - h_acked in that arithmetic, and it can never be more
 * than what was written since (nsent, bounded far below 2^31 by the
 * route queue), so an h "behind" the last one (the distance back is
 * small) and an h "ahead" of what was sent are told apart and both
 * refused.
 */
#include "sm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "stream_error.h"

int
sm_h_parse(const char *p, size_t len, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (p == NULL || len == 0 || len > SM_H_TEXT_MAX - 1)
		return -1;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	if (v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

void
sm_h_format(uint32_t h, char out[SM_H_TEXT_MAX])
{
	snprintf(out, SM_H_TEXT_MAX, "%lu", (unsigned long)h);
}

/* --- the outgoing ring ------------------------------------------------------- */

/* A full ring of count elements of size elem from first, unrolled into
 * twice the room (8 at first: an outgoing stream that sends a stanza now
 * and then keeps little, issue 18); *cap gets the new size.  The old ring is
 * freed; NULL (and the old ring kept) when out of memory. */
static void *
sm_ring_grow(void *ring, size_t elem, size_t first, size_t count, size_t *cap)
{
	size_t n = *cap ? *cap * 2 : 8, head = *cap - first;
	char *r = malloc(n * elem);

	if (r == NULL)
		return NULL;
	if (count > 0) {
		/* [first, cap) then [0, count - head): the ring is full. */
		memcpy(r, (char *)ring + first * elem, (head < count ? head : count) * elem);
		if (head < count)
			memcpy(r + head * elem, ring, (count - head) * elem);
	}
	free(ring);
	*cap = n;
	return r;
}

void
sm_queue_init(struct sm_queue *q)
{
	memset(q, 0, sizeof(*q));
}

void
sm_queue_free(struct sm_queue *q)
{
	free(q->ring);
	memset(q, 0, sizeof(*q));
}

int
sm_queue_push(struct sm_queue *q, size_t len, const struct sm_tag *tag, uint64_t now_ms)
{
	struct sm_entry *e;

	if (q->count == q->cap) {
		struct sm_entry *r = sm_ring_grow(q->ring, sizeof(*r), q->first, q->count, &q->cap);

		if (r == NULL)
			return -1;
		q->ring = r;
		q->first = 0;
	}
	e = &q->ring[(q->first + q->count) % q->cap];
	e->len = len;
	if (tag != NULL)
		e->tag = *tag;
	else
		memset(&e->tag, 0, sizeof(e->tag));
	e->queued_ms = now_ms;
	q->count++;
	q->bytes += len;
	return 0;
}

const struct sm_entry *
sm_queue_at(const struct sm_queue *q, size_t i)
{
	return &q->ring[(q->first + i) % q->cap];
}

void
sm_queue_mark_sent(struct sm_queue *q, size_t n, size_t bytes)
{
	if (n > sm_queue_unsent(q))
		n = sm_queue_unsent(q);	/* cannot happen: callers count from the ring */
	q->nsent += n;
	q->sent_bytes += bytes;
	if (!q->counting)
		return;
	q->h_sent += (uint32_t)n;
	q->req_stanzas += (uint32_t)n;
	q->req_bytes += bytes;
}

size_t
sm_queue_drop(struct sm_queue *q, size_t n)
{
	size_t bytes = 0, i;

	if (n > q->count)
		n = q->count;
	for (i = 0; i < n; i++) {
		size_t len = sm_queue_at(q, i)->len;

		bytes += len;
		if (i < q->nsent)
			q->sent_bytes -= len;
	}
	q->nsent = n < q->nsent ? q->nsent - n : 0;
	q->bytes -= bytes;
	q->count -= n;
	q->first = q->count == 0 ? 0 : (q->first + n) % q->cap;
	if (q->count == 0 && q->cap > 4096) {
		/* A burst's high-water mark is let go once it is over. */
		free(q->ring);
		q->ring = NULL;
		q->cap = 0;
	}
	return bytes;
}

size_t
sm_queue_drop_unsent(struct sm_queue *q)
{
	size_t bytes = q->bytes - q->sent_bytes;

	/* The unsent ones are the newest: the ring just ends earlier. */
	q->count = q->nsent;
	q->bytes = q->sent_bytes;
	if (q->count == 0)
		q->first = 0;
	return bytes;
}

void
sm_queue_enable(struct sm_queue *q)
{
	q->counting = 1;
	q->h_sent = q->h_acked = 0;
	q->req_stanzas = 0;
	q->req_bytes = 0;
	q->req_outstanding = 0;
}

enum sm_ack_result
sm_queue_ack(struct sm_queue *q, uint32_t h, uint32_t *newly)
{
	uint32_t ahead = h - q->h_acked;	/* mod 2^32 */
	uint32_t unacked = q->h_sent - q->h_acked;

	*newly = 0;
	if (ahead > unacked) {
		/* Not within [h_acked, h_sent]: behind the last h when the
		 * distance back is the shorter way round, else too high. */
		uint32_t behind = q->h_acked - h;

		return behind < ahead ? SM_ACK_BACKWARDS : SM_ACK_TOO_HIGH;
	}
	q->h_acked = h;
	q->req_outstanding = 0;
	*newly = ahead;
	return SM_ACK_OK;
}

int
sm_queue_want_request(const struct sm_queue *q, const struct sm_request_policy *p, uint64_t now_ms)
{
	if (!q->counting || q->req_outstanding || q->h_sent == q->h_acked)
		return 0;
	if (q->req_stanzas >= p->every_stanzas || q->req_bytes >= p->every_bytes)
		return 1;
	/* Unacknowledged stanzas and no <r/> for them for a while: the
	 * oldest written one is at least this old. */
	return q->req_stanzas > 0 && now_ms >= q->req_ms + p->every_ms;
}

void
sm_queue_requested(struct sm_queue *q, uint64_t now_ms)
{
	q->req_outstanding = 1;
	q->req_stanzas = 0;
	q->req_bytes = 0;
	q->req_ms = now_ms;
}

int
sm_ack_error_write(enum sm_ack_result r, uint32_t h, uint32_t sent, char *out, size_t cap,
    size_t *outlen)
{
	char hs[SM_H_TEXT_MAX], ss[SM_H_TEXT_MAX];
	struct buf b;

	sm_h_format(h, hs);
	sm_h_format(sent, ss);
	buf_init_fixed(&b, out, cap);
	if (buf_append_str(&b, "<stream:error><undefined-condition xmlns='" STREAM_ERROR_NS "'/>") != BUF_OK)
		return -1;
	if (r == SM_ACK_TOO_HIGH) {
		/* XEP-0198 §4, the example's wording. */
		if (buf_appendf(&b, "<handled-count-too-high xmlns='" SM_NS "' h='%s' send-count='%s'/>"
		    "<text xmlns='" STREAM_ERROR_NS "'>You acknowledged %s stanzas, but I only sent you "
		    "%s so far.</text>", hs, ss, hs, ss) != BUF_OK)
			return -1;
	} else if (buf_appendf(&b, "<text xmlns='" STREAM_ERROR_NS "'>You acknowledged %s stanzas, "
	    "fewer than you acknowledged before.</text>", hs) != BUF_OK) {
		return -1;
	}
	if (buf_append_str(&b, "</stream:error></stream:stream>") != BUF_OK)
		return -1;
	*outlen = b.len;
	return 0;
}

/* --- custody ------------------------------------------------------------------ */

void
sm_custody_init(struct sm_custody *c)
{
	memset(c, 0, sizeof(*c));
}

void
sm_custody_free(struct sm_custody *c)
{
	free(c->settled);
	memset(c, 0, sizeof(*c));
}

int
sm_custody_full(const struct sm_custody *c)
{
	return c->count >= SM_CUSTODY_MAX;
}

int
sm_custody_take(struct sm_custody *c, uint32_t *seq)
{
	if (c->count >= 2 * (size_t)SM_CUSTODY_MAX)
		return -1;
	if (c->count == c->cap) {
		uint8_t *r = sm_ring_grow(c->settled, 1, c->first, c->count, &c->cap);

		if (r == NULL)
			return -1;
		c->settled = r;
		c->first = 0;
	}
	c->settled[(c->first + c->count) % c->cap] = 0;
	*seq = c->h + (uint32_t)c->count;
	c->count++;
	return 0;
}

int
sm_custody_settle(struct sm_custody *c, uint32_t seq)
{
	uint32_t at = seq - c->h;	/* mod 2^32: its place in the window */
	int moved = 0;

	if (at >= c->count || c->settled[(c->first + at) % c->cap])
		return -1;
	c->settled[(c->first + at) % c->cap] = 1;
	/* h counts the first n stanzas (XEP-0198 §4): it moves over the
	 * settled ones at the front only. */
	while (c->count > 0 && c->settled[c->first]) {
		c->first = (c->first + 1) % c->cap;
		c->count--;
		c->h++;
		moved = 1;
	}
	if (c->count == 0) {
		c->first = 0;
		if (c->cap > 4096) {
			free(c->settled);
			c->settled = NULL;
			c->cap = 0;
		}
	}
	return moved;
}

/* --- the registry --------------------------------------------------------------- */

static void
sm_registry_release(struct sm_registry *r)
{
	free(r->slots);
	free(r->free_list);
	free(r->pending);
	memset(r, 0, sizeof(*r));
}

int
sm_registry_add(struct sm_registry *r, void *owner, uint32_t *slot, uint32_t *gen)
{
	uint32_t i;

	if (r->nfree > 0) {
		i = r->free_list[--r->nfree];
	} else {
		if (r->nslots == 0)
			r->nslots = 1;	/* slot 0 means "no custody" */
		if (r->nslots >= r->cap) {
			size_t n = r->cap ? r->cap * 2 : 16;
			struct sm_registry_slot *s;
			uint32_t *f, *p;

			if (n > UINT32_MAX)
				return -1;
			s = realloc(r->slots, n * sizeof(*s));
			if (s == NULL)
				return -1;
			r->slots = s;
			f = realloc(r->free_list, n * sizeof(*f));
			if (f == NULL)
				return -1;
			r->free_list = f;
			p = realloc(r->pending, n * sizeof(*p));
			if (p == NULL)
				return -1;
			r->pending = p;
			memset(&r->slots[r->cap], 0, (n - r->cap) * sizeof(*s));
			r->cap = n;
		}
		i = (uint32_t)r->nslots++;
	}
	r->slots[i].owner = owner;
	r->slots[i].gen++;
	r->live++;
	*slot = i;
	*gen = r->slots[i].gen;
	return 0;
}

void *
sm_registry_get(const struct sm_registry *r, uint32_t slot, uint32_t gen)
{
	if (slot == 0 || slot >= r->nslots || r->slots[slot].gen != gen)
		return NULL;
	return r->slots[slot].owner;
}

void
sm_registry_remove(struct sm_registry *r, uint32_t slot)
{
	if (slot == 0 || slot >= r->nslots || r->slots[slot].owner == NULL)
		return;
	r->slots[slot].owner = NULL;
	/* The generation moves on now: a settle for the old owner's
	 * stanzas finds nobody, also before the slot is reused. */
	r->slots[slot].gen++;
	r->free_list[r->nfree++] = slot;
	if (--r->live == 0)
		sm_registry_release(r);
}

void
sm_registry_mark(struct sm_registry *r, uint32_t slot)
{
	if (slot == 0 || slot >= r->nslots || r->slots[slot].pending)
		return;
	r->slots[slot].pending = 1;
	r->pending[r->npending++] = slot;
}

void *
sm_registry_next_pending(struct sm_registry *r)
{
	while (r->npending > 0) {
		uint32_t slot = r->pending[--r->npending];

		r->slots[slot].pending = 0;
		if (r->slots[slot].owner != NULL)
			return r->slots[slot].owner;
	}
	return NULL;
}
