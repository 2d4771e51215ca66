/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_metrics_http.c - libFuzzer target for the metrics endpoint's
 * request parser (daemon/metrics_http.c): every prefix length the server
 * may see as bytes arrive is judged (the server re-parses from the start
 * after each read), and the response head is written for the verdict.
 * Inputs run past METRICS_HTTP_REQUEST_MAX, the server's buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum metrics_http_verdict v = METRICS_HTTP_INCOMPLETE;
	char head[512];
	char *buf;
	size_t n, step;

	if (size > 2 * METRICS_HTTP_REQUEST_MAX)
		size = 2 * METRICS_HTTP_REQUEST_MAX;
	/* An exact-size copy: ASan sees any read past what was received. */
	buf = malloc(size ? size : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	step = size / 16 + 1;
	for (n = 0; n <= size; n += step) {
		v = metrics_http_parse(buf, n);
		if (v != METRICS_HTTP_INCOMPLETE)
			break;
	}
	v = metrics_http_parse(buf, size);
	if (v != METRICS_HTTP_INCOMPLETE && metrics_http_head(v, size, head, sizeof(head)) == 0)
		abort();	/* every head fits */
	if (size >= METRICS_HTTP_REQUEST_MAX && v == METRICS_HTTP_INCOMPLETE)
		abort();	/* a full buffer is always judged */
	free(buf);
	return 0;
}
