/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_sm.c - libFuzzer target for the XEP-0198 arithmetic (proxy/sm.c):
 * the input is a program of operations on one outgoing ring and one
 * custody window: queue stanzas of any size, write some, acknowledge with
 * an 'h' given as text (any bytes, so the parser is driven too) or as a
 * number near the interesting values (the last h, what was sent, the
 * wrap at 2^32), ask the <r/> policy at any time, take and settle custody
 * in any order.  Checked after every step: acked <= sent, the ring holds
 * (sent - acked) written stanzas and the unwritten ones after them, bytes
 * add up, a refused ack changes nothing, custody's h only moves over
 * settled stanzas and never past what was taken.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MAX_QUEUED 4096

static uint32_t
take(const uint8_t **p, const uint8_t *end, unsigned bytes)
{
	uint32_t v = 0;

	while (bytes-- > 0 && *p < end)
		v = v << 8 | *(*p)++;
	return v;
}

static void
check_queue(const struct sm_queue *q)
{
	size_t i, bytes = 0, sent_bytes = 0;

	if (q->nsent > q->count)
		abort();
	if (q->counting && (uint32_t)(q->h_sent - q->h_acked) != (uint32_t)q->nsent)
		abort();	/* the written, unacknowledged ones are exactly sent - acked */
	for (i = 0; i < q->count; i++) {
		bytes += sm_queue_at(q, i)->len;
		if (i < q->nsent)
			sent_bytes += sm_queue_at(q, i)->len;
	}
	if (bytes != q->bytes || sent_bytes != q->sent_bytes)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct sm_request_policy pol;
	struct sm_queue q;
	struct sm_custody c;
	uint32_t taken[256];
	size_t ntaken = 0, i;
	uint64_t now = 0;
	uint32_t c_taken = 0;

	sm_queue_init(&q);
	sm_custody_init(&c);
	pol.every_stanzas = 1 + take(&p, end, 1);
	pol.every_bytes = 1 + take(&p, end, 2);
	pol.every_ms = take(&p, end, 2);
	if (take(&p, end, 1) & 1) {
		sm_queue_enable(&q);
		/* Start anywhere, near the wrap too. */
		q.h_sent = q.h_acked = take(&p, end, 4);
	}
	while (p < end) {
		uint8_t op = (uint8_t)take(&p, end, 1);

		switch (op % 8) {
		case 0: {	/* queue stanzas */
			size_t n = 1 + take(&p, end, 1) % 16;
			size_t len = 1 + take(&p, end, 2);

			for (i = 0; i < n && q.count < FZ_MAX_QUEUED; i++)
				if (sm_queue_push(&q, len, NULL, now) < 0)
					abort();
			break;
		}
		case 1: {	/* write some */
			size_t n = take(&p, end, 1) % (sm_queue_unsent(&q) + 1), bytes = 0;

			for (i = 0; i < n; i++)
				bytes += sm_queue_at(&q, q.nsent + i)->len;
			sm_queue_mark_sent(&q, n, bytes);
			if (!q.counting)
				(void)sm_queue_drop(&q, q.nsent);
			break;
		}
		case 2:		/* an <a h/> from text */
		case 3: {	/* ... or from a number near the edges */
			uint32_t h, newly, sent = q.h_sent, acked = q.h_acked;
			size_t count = q.count, nsent = q.nsent;
			enum sm_ack_result r;

			if (op % 8 == 2) {
				size_t len = take(&p, end, 1) % 14;
				char text[16];

				if ((size_t)(end - p) < len)
					len = (size_t)(end - p);
				memcpy(text, p, len);
				p += len;
				if (sm_h_parse(text, len, &h) < 0)
					break;
				for (i = 0; i < len; i++)
					if (text[i] < '0' || text[i] > '9')
						abort();	/* parsed what is not decimal */
			} else {
				static const int32_t near[] = { 0, 1, -1, 2, -2 };
				uint8_t k = (uint8_t)take(&p, end, 1);

				h = (k & 1 ? q.h_sent : q.h_acked) + (uint32_t)near[(k >> 1) % 5];
			}
			if (!q.counting)
				break;
			r = sm_queue_ack(&q, h, &newly);
			if (r != SM_ACK_OK) {
				if (q.h_sent != sent || q.h_acked != acked || q.count != count || q.nsent != nsent)
					abort();	/* a refused ack changed something */
				if ((uint32_t)(h - acked) <= (uint32_t)(sent - acked))
					abort();	/* refused a valid one */
				break;
			}
			if (newly > nsent || q.h_acked != h)
				abort();
			(void)sm_queue_drop(&q, newly);
			break;
		}
		case 4:		/* the <r/> policy */
			now += take(&p, end, 2);
			if (sm_queue_want_request(&q, &pol, now)) {
				if (!q.counting || q.h_sent == q.h_acked)
					abort();
				sm_queue_requested(&q, now);
			}
			break;
		case 5:		/* custody: a stanza comes */
			if (ntaken < sizeof(taken) / sizeof(taken[0])) {
				uint32_t seq;

				if (sm_custody_take(&c, &seq) < 0)
					abort();
				if (seq != c.h + (uint32_t)(c.count - 1))
					abort();
				taken[ntaken++] = seq;
				c_taken++;
			}
			break;
		case 6:		/* custody: one settles, in any order */
			if (ntaken > 0) {
				size_t k = take(&p, end, 1) % ntaken;
				uint32_t before = c.h, seq = taken[k];
				int moved = sm_custody_settle(&c, seq);

				if (moved < 0)
					abort();
				if ((moved != 0) != (c.h != before))
					abort();
				taken[k] = taken[--ntaken];
				if (sm_custody_settle(&c, seq) != -1)
					abort();	/* settled twice */
			}
			break;
		default:	/* enable (again: counters from 0) */
			if (q.nsent == 0)
				sm_queue_enable(&q);
			break;
		}
		check_queue(&q);
		/* The window is every stanza from h on that was taken: h moved
		 * over settled ones only, and no further than was taken. */
		if (sm_custody_in_flight(&c) != (size_t)(c_taken - c.h) || ntaken > sm_custody_in_flight(&c))
			abort();
		for (i = 0; i < ntaken; i++)
			if ((uint32_t)(taken[i] - c.h) >= sm_custody_in_flight(&c))
				abort();	/* h moved past a stanza in flight */
	}
	sm_queue_free(&q);
	sm_custody_free(&c);
	return 0;
}
