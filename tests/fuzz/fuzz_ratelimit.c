/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_ratelimit.c - libFuzzer target for the rate limiter's state machine
 * (proxy/ratelimit.c): the input is a program of operations on a handful
 * of streams (charge a stanza of any size from one of many domains, check,
 * ask for an allowance, release, let time run, forwards, backwards or
 * wrapping) under limits drawn from the schema's bounds.  Checked: no
 * sanitizer report, a paused stream is in the paused list and only there,
 * a released stream is never resumed, an allowance is never 0 nor more
 * than asked, the tables never hold more than their slots.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "ratelimit.h"

#define STREAMS 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ratelimit_stream streams[STREAMS];
static int live[STREAMS];

static void
on_resume(struct ratelimit_stream *rs)
{
	size_t i = (size_t)(rs - streams);

	if (i >= STREAMS || !live[i] || rs->paused)
		abort();	/* resumed after release, or still marked paused */
}

static uint32_t
take(const uint8_t **p, const uint8_t *end, unsigned bytes)
{
	uint32_t v = 0;

	while (bytes-- > 0 && *p < end)
		v = v << 8 | *(*p)++;
	return v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct config_limits *lim;
	struct ratelimit *rl;
	struct sockaddr_in sin;
	struct ratelimit_stream *rs;
	char domain[32], peer[32];
	size_t i, n;

	if (cfg == NULL)
		return 0;
	lim = &cfg->limits;
	lim->new_streams_per_minute_per_prefix = 1 + (int)(take(&p, end, 2) % 1000000);
	lim->domain_stanzas_per_s = 1 + (int)(take(&p, end, 4) % 2147483647u);
	lim->domain_bytes_per_s = 1 + (int)(take(&p, end, 4) % 2147483647u);
	lim->prefix_stanzas_per_s = 1 + (int)(take(&p, end, 1) * 1000u);
	lim->prefix_bytes_per_s = 1 + (int)(take(&p, end, 3));
	lim->rate_burst_s = 1 + (int)(take(&p, end, 2) % 3600);
	lim->rate_abuse_s = (int)(take(&p, end, 1) % 30);
	lim->dialback_checks_per_minute_per_prefix = 1 + (int)(take(&p, end, 2) % 60000);
	lim->dialback_failures_per_minute_per_prefix = 1 + (int)(take(&p, end, 2) % 60000);
	rl = ratelimit_new(NULL, &cfg);
	if (rl == NULL) {
		free(cfg);
		return 0;
	}
	rl->now_ms = take(&p, end, 8);
	memset(live, 0, sizeof(live));
	while (p < end) {
		uint8_t op = *p++;

		i = (size_t)(op >> 4) % STREAMS;
		rs = &streams[i];
		switch (op & 7) {
		case 0:	/* a new stream from one of 256 /24s */
			if (live[i])
				ratelimit_stream_release(rs);
			memset(&sin, 0, sizeof(sin));
			sin.sin_family = AF_INET;
			sin.sin_addr.s_addr = htonl(0xc0000000u | take(&p, end, 1) << 8 | (uint32_t)i);
			snprintf(peer, sizeof(peer), "peer%zu", i);
			ratelimit_stream_init(rs, rl, (struct sockaddr *)&sin, peer, on_resume);
			live[i] = 1;
			break;
		case 1:	/* a stanza */
			if (!live[i] || rs->paused)
				break;
			snprintf(domain, sizeof(domain), "d%u.example", take(&p, end, 2) % 3000);
			ratelimit_stream_charge(rs, domain, take(&p, end, 3));
			break;
		case 2:
			if (live[i] && !rs->paused) {
				n = ratelimit_stream_allowance(rs, 1 + take(&p, end, 2));
				if (n == 0 || n > 65536)
					abort();
			}
			break;
		case 3:
			if (live[i] && ratelimit_stream_check(rs) == RATELIMIT_ABUSE) {
				ratelimit_stream_release(rs);
				live[i] = 0;
			}
			break;
		case 4:
			if (live[i]) {
				ratelimit_stream_release(rs);
				live[i] = 0;
			}
			break;
		case 5:	/* time passes, a little or a lot */
			rl->now_ms += take(&p, end, op & 8 ? 4 : 2);
			ratelimit_run_due(rl, rl->now_ms);
			break;
		case 6:	/* the clock goes backwards (or wraps) */
			rl->now_ms -= take(&p, end, 2);
			ratelimit_run_due(rl, rl->now_ms);
			break;
		default: {
			const char *why;

			memset(&sin, 0, sizeof(sin));
			sin.sin_family = AF_INET;
			sin.sin_addr.s_addr = htonl(take(&p, end, 4));
			(void)ratelimit_admit_stream(rl, (struct sockaddr *)&sin, rl->now_ms, &why);
			break;
		}
		}
		/* Paused exactly when in the list. */
		n = 0;
		for (rs = rl->paused; rs != NULL; rs = rs->next) {
			if (!rs->paused || !live[rs - streams])
				abort();
			n++;
		}
		for (i = 0; i < STREAMS; i++)
			n -= live[i] && streams[i].paused;
		if (n != 0)
			abort();
	}
	for (i = 0; i < STREAMS; i++)
		if (live[i])
			ratelimit_stream_release(&streams[i]);
	if (rl->paused != NULL)
		abort();
	ratelimit_free(rl);
	free(cfg);
	return 0;
}
