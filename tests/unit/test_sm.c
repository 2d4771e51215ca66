/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_sm.c - the XEP-0198 arithmetic of proxy/sm.c: 'h' text, the
 * outgoing ring and its acks (wrap at 2^32, every hostile h refused with
 * nothing changed), the <r/> policy, custody in order, the registry's
 * generations.
 */
#include "test.h"

#include <string.h>

#include "sm.h"

static int
parse(const char *s, uint32_t *h)
{
	return sm_h_parse(s, strlen(s), h);
}

TEST(sm_h_parse_strict)
{
	uint32_t h = 7;

	CHECK_INT_EQ(parse("0", &h), 0);
	CHECK_INT_EQ(h, 0);
	CHECK_INT_EQ(parse("4294967295", &h), 0);
	CHECK(h == 4294967295u);
	CHECK_INT_EQ(parse("007", &h), 0);
	CHECK_INT_EQ(h, 7);
	/* Above 2^32 - 1, signs, spaces, hex, empty, too long. */
	CHECK_INT_EQ(parse("4294967296", &h), -1);
	CHECK_INT_EQ(parse("99999999999", &h), -1);
	CHECK_INT_EQ(parse("-1", &h), -1);
	CHECK_INT_EQ(parse("+1", &h), -1);
	CHECK_INT_EQ(parse(" 1", &h), -1);
	CHECK_INT_EQ(parse("1 ", &h), -1);
	CHECK_INT_EQ(parse("0x10", &h), -1);
	CHECK_INT_EQ(parse("", &h), -1);
	CHECK_INT_EQ(parse("1e3", &h), -1);
	CHECK_INT_EQ(h, 7);	/* untouched by every refusal */
	CHECK_INT_EQ(sm_h_parse(NULL, 0, &h), -1);
}

TEST(sm_h_format_max)
{
	char s[SM_H_TEXT_MAX];

	sm_h_format(4294967295u, s);
	CHECK_STR_EQ(s, "4294967295");
	sm_h_format(0, s);
	CHECK_STR_EQ(s, "0");
}

/* n stanzas of 10 bytes queued and written. */
static void
push_sent(struct sm_queue *q, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		REQUIRE(sm_queue_push(q, 10, NULL, 0) == 0);
	sm_queue_mark_sent(q, n, n * 10);
}

TEST(sm_queue_ack_in_order)
{
	struct sm_queue q;
	uint32_t newly;

	sm_queue_init(&q);
	sm_queue_enable(&q);
	push_sent(&q, 5);
	REQUIRE(sm_queue_push(&q, 7, NULL, 0) == 0);	/* one not written */
	CHECK_INT_EQ(q.count, 6);
	CHECK_INT_EQ(q.nsent, 5);
	CHECK_INT_EQ(q.bytes, 57);
	CHECK_INT_EQ(sm_queue_ack(&q, 3, &newly), SM_ACK_OK);
	CHECK_INT_EQ(newly, 3);
	CHECK_INT_EQ(sm_queue_drop(&q, newly), 30);
	CHECK_INT_EQ(q.nsent, 2);
	CHECK_INT_EQ(q.count, 3);
	CHECK_INT_EQ(q.bytes, 27);
	/* The same h again acknowledges nothing new (a repeated <a/>). */
	CHECK_INT_EQ(sm_queue_ack(&q, 3, &newly), SM_ACK_OK);
	CHECK_INT_EQ(newly, 0);
	CHECK_INT_EQ(sm_queue_ack(&q, 5, &newly), SM_ACK_OK);
	CHECK_INT_EQ(newly, 2);
	CHECK_INT_EQ(sm_queue_drop(&q, newly), 20);
	CHECK_INT_EQ(q.nsent, 0);
	CHECK_INT_EQ(q.count, 1);	/* the unwritten one stays */
	sm_queue_free(&q);
}

/* The stanzas not written yet go (a reload refused their destination:
 * s2s_out_policy_reloaded); the written ones stay, h as it was, and the
 * ring takes new ones after them. */
TEST(sm_queue_drop_unsent_keeps_written)
{
	struct sm_queue q;
	uint32_t newly;

	sm_queue_init(&q);
	sm_queue_enable(&q);
	push_sent(&q, 3);
	REQUIRE(sm_queue_push(&q, 7, NULL, 0) == 0);
	REQUIRE(sm_queue_push(&q, 8, NULL, 0) == 0);
	CHECK_INT_EQ(sm_queue_drop_unsent(&q), 15);
	CHECK_INT_EQ(q.count, 3);
	CHECK_INT_EQ(q.nsent, 3);
	CHECK_INT_EQ(q.bytes, 30);
	CHECK_INT_EQ(q.h_sent, 3);
	CHECK_INT_EQ(sm_queue_drop_unsent(&q), 0);
	REQUIRE(sm_queue_push(&q, 9, NULL, 0) == 0);
	CHECK_INT_EQ(sm_queue_at(&q, 3)->len, 9);
	CHECK_INT_EQ(sm_queue_ack(&q, 3, &newly), SM_ACK_OK);
	CHECK_INT_EQ(sm_queue_drop(&q, newly), 30);
	CHECK_INT_EQ(q.count, 1);
	CHECK_INT_EQ(sm_queue_drop_unsent(&q), 9);
	CHECK_INT_EQ(q.count, 0);
	sm_queue_free(&q);
}

TEST(sm_queue_ack_hostile_changes_nothing)
{
	struct sm_queue q;
	uint32_t newly = 99;
	char out[1024];
	size_t len;

	sm_queue_init(&q);
	sm_queue_enable(&q);
	push_sent(&q, 8);
	CHECK_INT_EQ(sm_queue_ack(&q, 5, &newly), SM_ACK_OK);
	(void)sm_queue_drop(&q, newly);
	/* More than was sent: <handled-count-too-high/>. */
	CHECK_INT_EQ(sm_queue_ack(&q, 10, &newly), SM_ACK_TOO_HIGH);
	CHECK_INT_EQ(newly, 0);
	CHECK_INT_EQ(sm_queue_ack(&q, 4294967295u, &newly), SM_ACK_BACKWARDS);
	/* Going back. */
	CHECK_INT_EQ(sm_queue_ack(&q, 4, &newly), SM_ACK_BACKWARDS);
	CHECK_INT_EQ(sm_queue_ack(&q, 0, &newly), SM_ACK_BACKWARDS);
	/* Far ahead: too high, whatever the wrap. */
	CHECK_INT_EQ(sm_queue_ack(&q, 2000000000u, &newly), SM_ACK_TOO_HIGH);
	CHECK(q.h_acked == 5 && q.h_sent == 8 && q.nsent == 3 && q.count == 3);
	CHECK_INT_EQ(sm_ack_error_write(SM_ACK_TOO_HIGH, 10, 8, out, sizeof(out), &len), 0);
	out[len] = '\0';
	CHECK(strstr(out, "<undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>") != NULL);
	CHECK(strstr(out, "<handled-count-too-high xmlns='urn:xmpp:sm:3' h='10' send-count='8'/>") != NULL);
	CHECK(strstr(out, "</stream:error></stream:stream>") != NULL);
	CHECK_INT_EQ(sm_ack_error_write(SM_ACK_BACKWARDS, 4, 8, out, sizeof(out), &len), 0);
	out[len] = '\0';
	CHECK(strstr(out, "handled-count-too-high") == NULL);
	CHECK_INT_EQ(sm_ack_error_write(SM_ACK_TOO_HIGH, 10, 8, out, 40, &len), -1);
	sm_queue_free(&q);
}

/* XEP-0198 §4: h is mod 2^32; a stream that sent more than 2^32 stanzas
 * goes on counting from 0. */
TEST(sm_queue_h_wraps_at_2_32)
{
	struct sm_queue q;
	uint32_t newly;

	sm_queue_init(&q);
	sm_queue_enable(&q);
	q.h_sent = q.h_acked = 4294967293u;	/* 2^32 - 3 written and acked */
	push_sent(&q, 6);
	CHECK_INT_EQ(q.h_sent, 3);
	CHECK_INT_EQ(sm_queue_ack(&q, 4294967295u, &newly), SM_ACK_OK);
	CHECK_INT_EQ(newly, 2);
	(void)sm_queue_drop(&q, newly);
	CHECK_INT_EQ(sm_queue_ack(&q, 1, &newly), SM_ACK_OK);	/* across the wrap */
	CHECK_INT_EQ(newly, 2);
	(void)sm_queue_drop(&q, newly);
	CHECK_INT_EQ(sm_queue_ack(&q, 4, &newly), SM_ACK_TOO_HIGH);
	CHECK_INT_EQ(sm_queue_ack(&q, 4294967295u, &newly), SM_ACK_BACKWARDS);
	CHECK_INT_EQ(sm_queue_ack(&q, 3, &newly), SM_ACK_OK);
	CHECK_INT_EQ(newly, 2);
	(void)sm_queue_drop(&q, newly);
	CHECK_INT_EQ(q.count, 0);
	sm_queue_free(&q);
}

TEST(sm_queue_without_sm_counts_nothing)
{
	struct sm_queue q;

	sm_queue_init(&q);
	push_sent(&q, 3);
	CHECK_INT_EQ(q.h_sent, 0);
	CHECK_INT_EQ(sm_queue_drop(&q, 3), 30);
	CHECK_INT_EQ(q.count, 0);
	sm_queue_free(&q);
}

TEST(sm_request_policy)
{
	struct sm_request_policy p = { .every_stanzas = 3, .every_bytes = 1000, .every_ms = 500 };
	struct sm_queue q;
	uint32_t newly;

	sm_queue_init(&q);
	push_sent(&q, 5);
	CHECK_INT_EQ(sm_queue_want_request(&q, &p, 0), 0);	/* not enabled */
	(void)sm_queue_drop(&q, 5);
	sm_queue_enable(&q);
	push_sent(&q, 2);
	CHECK_INT_EQ(sm_queue_want_request(&q, &p, 0), 0);
	push_sent(&q, 1);
	CHECK_INT_EQ(sm_queue_want_request(&q, &p, 0), 1);	/* by count */
	sm_queue_requested(&q, 100);
	push_sent(&q, 10);
	CHECK_INT_EQ(sm_queue_want_request(&q, &p, 10000), 0);	/* one outstanding */
	CHECK_INT_EQ(sm_queue_ack(&q, 3, &newly), SM_ACK_OK);
	(void)sm_queue_drop(&q, newly);
	CHECK_INT_EQ(sm_queue_want_request(&q, &p, 200), 1);	/* 10 written since */
	sm_queue_requested(&q, 200);
	CHECK_INT_EQ(sm_queue_ack(&q, 13, &newly), SM_ACK_OK);
	(void)sm_queue_drop(&q, newly);
	CHECK_INT_EQ(sm_queue_want_request(&q, &p, 5000), 0);	/* all acknowledged */
	push_sent(&q, 1);
	CHECK_INT_EQ(sm_queue_want_request(&q, &p, 600), 0);	/* by time: not yet */
	CHECK_INT_EQ(sm_queue_want_request(&q, &p, 700), 1);
	sm_queue_requested(&q, 700);
	/* By bytes. */
	CHECK_INT_EQ(sm_queue_ack(&q, 14, &newly), SM_ACK_OK);
	(void)sm_queue_drop(&q, newly);
	REQUIRE(sm_queue_push(&q, 1500, NULL, 0) == 0);
	sm_queue_mark_sent(&q, 1, 1500);
	CHECK_INT_EQ(sm_queue_want_request(&q, &p, 700), 1);
	sm_queue_free(&q);
}

TEST(sm_custody_acks_in_order)
{
	struct sm_custody c;
	uint32_t s0, s1, s2;

	sm_custody_init(&c);
	REQUIRE(sm_custody_take(&c, &s0) == 0);
	REQUIRE(sm_custody_take(&c, &s1) == 0);
	REQUIRE(sm_custody_take(&c, &s2) == 0);
	CHECK_INT_EQ(s0, 0);
	CHECK_INT_EQ(s2, 2);
	/* The second settles first: h stays, it holds nothing back. */
	CHECK_INT_EQ(sm_custody_settle(&c, s1), 0);
	CHECK_INT_EQ(c.h, 0);
	CHECK_INT_EQ(sm_custody_settle(&c, s1), -1);	/* twice */
	CHECK_INT_EQ(sm_custody_settle(&c, s0), 1);
	CHECK_INT_EQ(c.h, 2);
	CHECK_INT_EQ(sm_custody_in_flight(&c), 1);
	CHECK_INT_EQ(sm_custody_settle(&c, 7), -1);	/* never taken */
	CHECK_INT_EQ(sm_custody_settle(&c, s0), -1);	/* settled long ago */
	CHECK_INT_EQ(sm_custody_settle(&c, s2), 1);
	CHECK_INT_EQ(c.h, 3);
	CHECK_INT_EQ(sm_custody_in_flight(&c), 0);
	sm_custody_free(&c);
}

TEST(sm_custody_wraps_and_bounds)
{
	struct sm_custody c;
	uint32_t s, first = 0;
	size_t i;

	sm_custody_init(&c);
	c.h = 4294967294u;
	for (i = 0; i < 4; i++) {
		REQUIRE(sm_custody_take(&c, &s) == 0);
		if (i == 0)
			first = s;
	}
	CHECK(first == 4294967294u);
	CHECK_INT_EQ(s, 1);	/* wrapped */
	for (i = 0; i < 4; i++)
		CHECK_INT_EQ(sm_custody_settle(&c, first + (uint32_t)i), 1);
	CHECK_INT_EQ(c.h, 2);
	for (i = 0; i < SM_CUSTODY_MAX; i++)
		REQUIRE(sm_custody_take(&c, &s) == 0);
	CHECK_INT_EQ(sm_custody_full(&c), 1);
	/* Full means "stop reading"; what was parsed already still fits. */
	for (i = 0; i < SM_CUSTODY_MAX; i++)
		REQUIRE(sm_custody_take(&c, &s) == 0);
	CHECK_INT_EQ(sm_custody_take(&c, &s), -1);
	sm_custody_free(&c);
}

TEST(sm_registry_generations)
{
	struct sm_registry r;
	int a, b;
	uint32_t sa, ga, sb, gb;

	memset(&r, 0, sizeof(r));
	REQUIRE(sm_registry_add(&r, &a, &sa, &ga) == 0);
	REQUIRE(sm_registry_add(&r, &b, &sb, &gb) == 0);
	CHECK(sa != 0 && sb != 0 && sa != sb);
	CHECK(sm_registry_get(&r, sa, ga) == &a);
	CHECK(sm_registry_get(&r, 0, 0) == NULL);
	sm_registry_mark(&r, sa);
	sm_registry_mark(&r, sa);	/* once */
	sm_registry_mark(&r, sb);
	sm_registry_remove(&r, sa);
	CHECK(sm_registry_get(&r, sa, ga) == NULL);
	/* A new owner in the old slot: the old tags still find nobody. */
	REQUIRE(sm_registry_add(&r, &a, &sa, &ga) == 0);
	CHECK(sm_registry_get(&r, sa, ga) == &a);
	CHECK(sm_registry_get(&r, sa, ga - 2) == NULL);
	CHECK(sm_registry_next_pending(&r) == &b);
	CHECK(sm_registry_next_pending(&r) == &a);	/* the slot's new owner: a spurious report */
	CHECK(sm_registry_next_pending(&r) == NULL);
	sm_registry_remove(&r, sa);
	sm_registry_remove(&r, sb);
	CHECK(r.slots == NULL);	/* storage goes with the last owner */
	CHECK(sm_registry_get(&r, sb, gb) == NULL);
}
