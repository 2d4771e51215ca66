/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ratelimit_fixture.h - what the rate limiter's unit tests share
 * (test_ratelimit.c, test_dialback_budget.c): addresses from text, and a
 * rate limiter without a loop over limits of the test's choosing.
 */
#ifndef XE_RATELIMIT_FIXTURE_H
#define XE_RATELIMIT_FIXTURE_H

#include <sys/socket.h>

#include "ratelimit.h"

/* An IPv4 or IPv6 address ("192.0.2.1", "2001:db8::1"), port 0. */
struct sockaddr_storage fixture_addr(const char *text);
/* A rate limiter without a loop (its time is rl->now_ms) over a
 * configuration holding lim; one at a time, freed by fixture_rl_free. */
struct ratelimit *fixture_rl_new(const struct config_limits *lim);
void fixture_rl_free(struct ratelimit *rl);

#endif
