/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_session_fixture.c - the session fixture's own checks can fail: a
 * handle left open is named by sf_finish, an unexpected element fails an
 * expectation, sf_advance fires only what is due.  (A test that cannot
 * fail is a defect: these keep the session tests honest.)
 */
#include "test.h"

#include <stdio.h>
#include <time.h>

#include "session_fixture.h"

#define SX_CONFIG "{\"state_dir\": \"/tmp/x\", \"domains\": [{\"name\": \"a.example\"," \
	" \"cert\": \"/c\", \"key\": \"/k\"}]}"

static int sx_fired;

static void
sx_on_timer(uv_timer_t *t)
{
	(void)t;
	sx_fired++;
}

TEST(session_fixture_finish_reports_open_handle)
{
	struct sf sf;
	uv_timer_t t;

	REQUIRE(sf_init(&sf, SX_CONFIG) == 0);
	REQUIRE(uv_timer_init(sf.loop, &t) == 0);
	CHECK_INT_EQ(sf_finish(&sf), -1);
	CHECK(strstr(sf.err, "handles left open on the loop: timer") != NULL);
	/* Clean up what the failing finish left: the loop is still open. */
	uv_close((uv_handle_t *)&t, NULL);
	CHECK_INT_EQ(uv_run(&sf.own_loop, UV_RUN_DEFAULT), 0);
	CHECK_INT_EQ(uv_loop_close(&sf.own_loop), 0);
}

TEST(session_fixture_expect_reports_mismatch)
{
	struct sf sf;
	struct sf_peer *p;

	REQUIRE(sf_init(&sf, SX_CONFIG) == 0);
	p = sf_peer_accept(&sf, NULL, NULL);
	REQUIRE(p != NULL);
	REQUIRE(sf_peer_send_header(p, "b.example", "a.example") == 0);
	/* The proxy answers with features, not with a stream error. */
	CHECK_INT_EQ(sf_peer_expect_stream_error(p, "policy-violation"), -1);
	CHECK(strstr(sf.err, "expected stream error") != NULL || strstr(sf.err, "expected <error/>") != NULL);
	CHECK_INT_EQ(sf_finish(&sf), 0);
}

TEST(session_fixture_advance_fires_what_is_due)
{
	struct sf sf;
	uv_timer_t a, b;

	REQUIRE(sf_init(&sf, SX_CONFIG) == 0);
	sx_fired = 0;
	uv_timer_init(sf.loop, &a);
	uv_timer_init(sf.loop, &b);
	uv_timer_start(&a, sx_on_timer, 1000, 0);
	uv_timer_start(&b, sx_on_timer, 60000, 0);
	CHECK_INT_EQ(sf_advance(&sf, 5000), 1);
	CHECK_INT_EQ(sx_fired, 1);
	CHECK(!uv_is_active((uv_handle_t *)&a));
	CHECK(uv_is_active((uv_handle_t *)&b));
	uv_close((uv_handle_t *)&a, NULL);
	uv_close((uv_handle_t *)&b, NULL);
	CHECK_INT_EQ(sf_finish(&sf), 0);
}

/* A callback that takes real time, as a busy machine makes any turn do. */
static void
sx_on_timer_slow(uv_timer_t *t)
{
	struct timespec ts = { 0, 30 * 1000 * 1000 };

	(void)t;
	sx_fired++;
	nanosleep(&ts, NULL);
}

/* Virtual time does not shrink with the real time a turn takes: a 30 s
 * deadline armed before the call still fires within sf_advance(30 s)
 * after a slow 1 s timer moved the loop's clock on (it was skipped as
 * "29 970 ms from 1 000 ms" and the session test it decided failed on
 * loaded CI machines). */
TEST(session_fixture_advance_ignores_real_time_of_turns)
{
	struct sf sf;
	uv_timer_t a, b, c;

	REQUIRE(sf_init(&sf, SX_CONFIG) == 0);
	sx_fired = 0;
	uv_timer_init(sf.loop, &a);
	uv_timer_init(sf.loop, &b);
	uv_timer_init(sf.loop, &c);
	uv_timer_start(&a, sx_on_timer_slow, 1000, 0);
	uv_timer_start(&b, sx_on_timer, 30000, 0);
	uv_timer_start(&c, sx_on_timer, 30001, 0);
	CHECK_INT_EQ(sf_advance(&sf, 30000), 2);
	CHECK_INT_EQ(sx_fired, 2);
	CHECK(!uv_is_active((uv_handle_t *)&b));
	CHECK(uv_is_active((uv_handle_t *)&c));	/* and not one ms more */
	uv_close((uv_handle_t *)&a, NULL);
	uv_close((uv_handle_t *)&b, NULL);
	uv_close((uv_handle_t *)&c, NULL);
	CHECK_INT_EQ(sf_finish(&sf), 0);
}
