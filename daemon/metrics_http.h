/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics_http.h - the request side of the metrics endpoint's HTTP/1.1
 * (RFC 9112), reduced to what a Prometheus scraper sends: one request
 * line and headers, no body, one request per connection.
 *
 * The parser is a pure function over the bytes received so far, so it
 * can be fuzzed alone (tests/fuzz/fuzz_metrics_http.c) and the server
 * (metrics.c) only acts on its verdict.
 */
#ifndef XE_METRICS_HTTP_H
#define XE_METRICS_HTTP_H

#include <stddef.h>

/* A request (line + headers) larger than this is refused with 431. */
#define METRICS_HTTP_REQUEST_MAX 4096

enum metrics_http_verdict {
	METRICS_HTTP_INCOMPLETE,	/* no end of headers yet: read more */
	METRICS_HTTP_GET_METRICS,	/* GET /metrics (query ignored): 200 */
	METRICS_HTTP_HEAD_METRICS,	/* HEAD /metrics: 200 without body */
	METRICS_HTTP_NOT_FOUND,		/* GET or HEAD of another path: 404 */
	METRICS_HTTP_BAD_METHOD,	/* another method: 405 */
	METRICS_HTTP_BAD_REQUEST,	/* malformed: 400 */
	METRICS_HTTP_TOO_LARGE,		/* no end of headers within the bound: 431 */
};

/* Judges the first len bytes received on a connection. */
enum metrics_http_verdict metrics_http_parse(const char *buf, size_t len);

/* The status line and headers for a verdict (not INCOMPLETE), as
 * "HTTP/1.1 404 Not Found" ... ; body_len goes in Content-Length.
 * Writes at most cap bytes; returns the length, or 0 if cap is short. */
size_t metrics_http_head(enum metrics_http_verdict v, size_t body_len, char *out, size_t cap);

#endif
