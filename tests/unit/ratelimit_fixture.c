/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ratelimit_fixture.c - shared by the rate limiter's unit tests (see
 * ratelimit_fixture.h).
 */
#include "ratelimit_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* The rate limiter reads its configuration through a pointer to the
 * running one (&edge->cfg in the daemon): this is the tests' edge->cfg. */
static struct config *fixture_cfg;

struct sockaddr_storage
fixture_addr(const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(text, ':') != NULL) {
		ss.ss_family = AF_INET6;
		inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr);
	} else {
		ss.ss_family = AF_INET;
		inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr);
	}
	return ss;
}

struct ratelimit *
fixture_rl_new(const struct config_limits *lim)
{
	fixture_cfg = calloc(1, sizeof(*fixture_cfg));
	if (fixture_cfg == NULL)
		return NULL;
	fixture_cfg->limits = *lim;
	return ratelimit_new(NULL, &fixture_cfg);
}

void
fixture_rl_free(struct ratelimit *rl)
{
	ratelimit_free(rl);
	free(fixture_cfg);
	fixture_cfg = NULL;
}
