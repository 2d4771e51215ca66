/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics_http.c - judging a scraper's HTTP request (see metrics_http.h).
 *
 * RFC 9112 §3: request-line = method SP request-target SP HTTP-version,
 * then header lines, then an empty line.  Bare LF line ends are accepted
 * (§2.2 allows it); anything else out of shape is a 400.  Headers are
 * only checked for shape (no NUL or other control bytes, a ':' in each):
 * nothing in them changes the answer.  The bytes are never copied or
 * modified; the scan is bounded by METRICS_HTTP_REQUEST_MAX.
 */
#include "metrics_http.h"

#include <stdio.h>
#include <string.h>

/* The end of the header section within buf[0, len): the offset just past
 * the empty line, or 0 if there is none yet. */
static size_t
head_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static int
is_tchar(unsigned char c)
{
	/* RFC 9110 §5.6.2 token characters. */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* One header line [p, e) without its line end: "name: value". */
static int
header_ok(const char *p, const char *e)
{
	const char *q = p;

	while (q < e && is_tchar((unsigned char)*q))
		q++;
	if (q == p || q == e || *q != ':')
		return 0;
	for (; q < e; q++)
		if (((unsigned char)*q < 0x20 && *q != '\t') || *q == 0x7f)
			return 0;
	return 1;
}

enum metrics_http_verdict
metrics_http_parse(const char *buf, size_t len)
{
	const char *p, *e, *sp1, *sp2, *eol, *end;
	size_t hlen, mlen, tlen;
	int head;

	if (len > METRICS_HTTP_REQUEST_MAX)
		len = METRICS_HTTP_REQUEST_MAX;
	hlen = head_end(buf, len);
	if (hlen == 0)
		return len >= METRICS_HTTP_REQUEST_MAX ? METRICS_HTTP_TOO_LARGE : METRICS_HTTP_INCOMPLETE;
	end = buf + hlen;
	/* The request line. */
	eol = memchr(buf, '\n', hlen);
	e = eol > buf && eol[-1] == '\r' ? eol - 1 : eol;
	sp1 = memchr(buf, ' ', (size_t)(e - buf));
	if (sp1 == NULL || sp1 == buf)
		return METRICS_HTTP_BAD_REQUEST;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(e - sp1 - 1));
	if (sp2 == NULL || sp2 == sp1 + 1)
		return METRICS_HTTP_BAD_REQUEST;
	if ((size_t)(e - sp2 - 1) != 8 || (memcmp(sp2 + 1, "HTTP/1.1", 8) != 0 &&
	    memcmp(sp2 + 1, "HTTP/1.0", 8) != 0))
		return METRICS_HTTP_BAD_REQUEST;
	for (p = buf; p < sp1; p++)
		if (!is_tchar((unsigned char)*p))
			return METRICS_HTTP_BAD_REQUEST;
	for (p = sp1 + 1; p < sp2; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return METRICS_HTTP_BAD_REQUEST;
	/* The header lines, up to the empty one. */
	for (p = eol + 1; p < end; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			return METRICS_HTTP_BAD_REQUEST;	/* cannot happen: end is after a LF */
		e = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
		if (e == p)
			break;	/* the empty line */
		if (!header_ok(p, e))
			return METRICS_HTTP_BAD_REQUEST;
	}
	mlen = (size_t)(sp1 - buf);
	tlen = (size_t)(sp2 - sp1 - 1);
	head = mlen == 4 && memcmp(buf, "HEAD", 4) == 0;
	if (!head && !(mlen == 3 && memcmp(buf, "GET", 3) == 0))
		return METRICS_HTTP_BAD_METHOD;
	/* "/metrics", optionally with a query (Prometheus adds none, but
	 * some tools do). */
	if (tlen >= 8 && memcmp(sp1 + 1, "/metrics", 8) == 0 && (tlen == 8 || sp1[9] == '?'))
		return head ? METRICS_HTTP_HEAD_METRICS : METRICS_HTTP_GET_METRICS;
	return METRICS_HTTP_NOT_FOUND;
}

size_t
metrics_http_head(enum metrics_http_verdict v, size_t body_len, char *out, size_t cap)
{
	const char *status, *type = "text/plain; charset=utf-8", *extra = "";
	int n;

	switch (v) {
	case METRICS_HTTP_GET_METRICS:
	case METRICS_HTTP_HEAD_METRICS:
		status = "200 OK";
		/* The Prometheus text exposition format, version 0.0.4. */
		type = "text/plain; version=0.0.4; charset=utf-8";
		break;
	case METRICS_HTTP_NOT_FOUND:
		status = "404 Not Found";
		break;
	case METRICS_HTTP_BAD_METHOD:
		status = "405 Method Not Allowed";
		extra = "Allow: GET, HEAD\r\n";
		break;
	case METRICS_HTTP_TOO_LARGE:
		status = "431 Request Header Fields Too Large";
		break;
	default:
		status = "400 Bad Request";
		break;
	}
	n = snprintf(out, cap, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
	    "Cache-Control: no-store\r\nConnection: close\r\n\r\n", status, type, body_len, extra);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	return (size_t)n;
}
