/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c - structured event logging to stderr (see log.h).
 *
 * Values may hold a peer's bytes (a JID, a stream error text), so none
 * is written raw (issue 14 finding 9).  Each value is first made valid
 * UTF-8 (log_value_clean: invalid or truncated sequences become U+FFFD)
 * and bounded (LOG_VALUE_MAX bytes, cut on a character boundary and
 * marked with "..."); then JSON lines are produced with yajl_gen, which
 * escapes '"', '\\' and every control character (\u00XX), and the text
 * format quotes values that contain spaces, quotes or control bytes and
 * writes each control byte as '?'.  A JSON line is never cut: one that
 * would not fit LOG_LINE_MAX is built again with shorter values, so
 * every line is one valid JSON object.  A line is assembled in full and
 * written with one write(2) so lines from a restarting child and its
 * parent never interleave.
 *
 * Warnings and errors go through log_ratelimit.c: per event name, the
 * first LOG_RATELIMIT_BURST lines of a LOG_RATELIMIT_WINDOW_MS window are
 * written, then one "log.suppressed" line (of: the event, count,
 * window_s) says how many were held back.  A flood of peers doing the
 * same wrong thing thus costs a few lines, not one per peer.  Info and
 * debug lines are what the operator asked for by level and are never
 * held back.  The observer (metrics) sees every event before this, so
 * counters are exact.
 */
#include "log.h"
#include "utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>

#include "log_ratelimit.h"

#define LOG_LINE_MAX 8192
/* Bytes of one value as logged; the second JSON attempt, for a line
 * that does not fit, uses the short bound. */
#define LOG_VALUE_MAX 4096
#define LOG_VALUE_SHORT_MAX 256

static struct {
	enum log_level min_level;
	int json;
} log_conf = { LOG_INFO, 1 };

static struct {
	log_observer_fn fn;
	void *arg;
} log_observer;

static struct log_ratelimit log_limiter;

void
log_set_observer(log_observer_fn fn, void *arg)
{
	log_observer.fn = fn;
	log_observer.arg = arg;
}

static const char *const level_names[] = {
	[LOG_DEBUG] = "debug",
	[LOG_INFO] = "info",
	[LOG_WARN] = "warn",
	[LOG_ERROR] = "error",
};

void
log_setup(enum log_level min_level, enum log_format format)
{
	log_conf.min_level = min_level;
	if (format == LOG_FORMAT_AUTO)
		log_conf.json = !isatty(STDERR_FILENO);
	else
		log_conf.json = format == LOG_FORMAT_JSON;
}

const char *
log_level_name(enum log_level level)
{
	if ((unsigned)level > LOG_ERROR)
		return "?";
	return level_names[level];
}

int
log_level_parse(const char *s, enum log_level *out)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void
log_time(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* strftime bounds every field; milliseconds are always 0..999. */
	size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, cap - n, ".%03uZ", (unsigned)(ts.tv_nsec / 1000000) % 1000u);
}

static void
log_write_all(const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, p, len);
		if (n <= 0)
			return;	/* nowhere left to report a logging failure */
		p += n;
		len -= (size_t)n;
	}
}

/*
 * Copies s into out[0..cap) as valid UTF-8, NUL-terminated: each byte
 * that does not start a valid sequence becomes U+FFFD.  A value longer
 * than cap is cut before a character and ends in "...".  Returns out.
 */
static const char *
log_value_clean(const char *s, char *out, size_t cap)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t len = strlen(s), i = 0, o = 0, n, room = cap - 4;
	const char *src;
	uint32_t cp;
	int r;

	while (i < len) {
		r = utf8_decode(p + i, len - i, &cp);
		if (r > 0) {
			src = s + i;
			n = (size_t)r;
		} else {
			src = UTF8_REPLACEMENT;
			n = sizeof(UTF8_REPLACEMENT) - 1;
		}
		if (n > room - o) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, src, n);
		o += n;
		i += r > 0 ? (size_t)r : 1;
	}
	out[o] = '\0';
	return out;
}

static void
gen_str(yajl_gen g, const char *s, size_t value_max)
{
	char clean[LOG_VALUE_MAX];

	if (s == NULL) {
		yajl_gen_null(g);
		return;
	}
	log_value_clean(s, clean, value_max < sizeof(clean) ? value_max :
	    sizeof(clean));
	yajl_gen_string(g, (const unsigned char *)clean, strlen(clean));
}

/* Builds the JSON object of one event, each value cut to value_max. */
static yajl_gen
log_json_build(const char *when, enum log_level level, const char *event,
    va_list ap, size_t value_max)
{
	yajl_gen g;
	const char *k;

	g = yajl_gen_alloc(NULL);
	if (g == NULL)
		return NULL;
	/* Values are cleaned to valid UTF-8 first; validation stays on so
	 * a slip would show as a missing value, never as invalid JSON
	 * bytes. */
	yajl_gen_config(g, yajl_gen_validate_utf8, 1);
	yajl_gen_map_open(g);
	gen_str(g, "time", value_max);
	gen_str(g, when, value_max);
	gen_str(g, "level", value_max);
	gen_str(g, log_level_name(level), value_max);
	gen_str(g, "event", value_max);
	gen_str(g, event, value_max);
	while ((k = va_arg(ap, const char *)) != NULL) {
		gen_str(g, k, value_max);
		gen_str(g, va_arg(ap, const char *), value_max);
	}
	yajl_gen_map_close(g);
	return g;
}

static void
log_json(const char *when, enum log_level level, const char *event, va_list ap)
{
	static const size_t value_max[] = { LOG_VALUE_MAX, LOG_VALUE_SHORT_MAX };
	char line[LOG_LINE_MAX];
	const unsigned char *out;
	size_t len, i;
	yajl_gen g;
	va_list copy;

	for (i = 0; i < sizeof(value_max) / sizeof(value_max[0]); i++) {
		va_copy(copy, ap);
		g = log_json_build(when, level, event, copy, value_max[i]);
		va_end(copy);
		if (g == NULL)
			return;
		if (yajl_gen_get_buf(g, &out, &len) == yajl_gen_status_ok &&
		    len < sizeof(line)) {
			memcpy(line, out, len);
			line[len++] = '\n';
			log_write_all(line, len);
			yajl_gen_free(g);
			return;
		}
		yajl_gen_free(g);
	}
	/* Too many fields even with short values: say so in valid JSON
	 * rather than cut a line in the middle of a string. */
	len = (size_t)snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":"
	    "\"error\",\"event\":\"log.event_too_long\"}\n", when);
	if (len < sizeof(line))
		log_write_all(line, len);
}

/* Appends s to line, quoted if it needs to be; control bytes become '?'. */
static size_t
text_append(char *line, size_t pos, size_t cap, const char *s, int maybe_quote)
{
	char clean[LOG_VALUE_MAX];
	int quote = 0;
	const char *p;

	if (s == NULL)
		s = "-";
	s = log_value_clean(s, clean, sizeof(clean));
	if (maybe_quote)
		for (p = s; *p; p++)
			if (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20)
				quote = 1;
	if (quote && pos < cap)
		line[pos++] = '"';
	for (p = s; *p && pos < cap; p++) {
		unsigned char c = (unsigned char)*p;
		line[pos++] = (c < 0x20 || c == 0x7f || (quote && c == '"')) ? '?' : (char)c;
	}
	if (quote && pos < cap)
		line[pos++] = '"';
	return pos;
}

static void
log_text(const char *when, enum log_level level, const char *event, va_list ap)
{
	char line[LOG_LINE_MAX];
	size_t pos = 0, cap = sizeof(line) - 1;
	const char *k;

	pos = text_append(line, pos, cap, when, 0);
	pos = text_append(line, pos, cap, " ", 0);
	pos = text_append(line, pos, cap, log_level_name(level), 0);
	pos = text_append(line, pos, cap, " ", 0);
	pos = text_append(line, pos, cap, event, 0);
	while ((k = va_arg(ap, const char *)) != NULL) {
		pos = text_append(line, pos, cap, " ", 0);
		pos = text_append(line, pos, cap, k, 0);
		pos = text_append(line, pos, cap, "=", 0);
		pos = text_append(line, pos, cap, va_arg(ap, const char *), 1);
	}
	line[pos++] = '\n';
	log_write_all(line, pos);
}

static void
log_write(enum log_level level, const char *event, va_list ap)
{
	char when[40];

	log_time(when, sizeof(when));
	if (log_conf.json)
		log_json(when, level, event, ap);
	else
		log_text(when, level, event, ap);
}

static void
log_writef(enum log_level level, const char *event, ...)
{
	va_list ap;

	va_start(ap, event);
	log_write(level, event, ap);
	va_end(ap);
}

/* log_ratelimit_report_fn: the summary of a window that held lines back. */
static void
log_report_suppressed(void *arg, const char *event, uint64_t suppressed, uint64_t window_ms)
{
	char count[24], secs[24];

	(void)arg;
	snprintf(count, sizeof(count), "%llu", (unsigned long long)suppressed);
	snprintf(secs, sizeof(secs), "%llu", (unsigned long long)((window_ms + 999) / 1000));
	/* At warn, or at the configured minimum when that is error: the
	 * summary of held-back errors must not be filtered out. */
	log_writef(log_conf.min_level > LOG_WARN ? log_conf.min_level : LOG_WARN,
	    "log.suppressed", "of", event, "count", count,
	    "window_s", secs, NULL);
}

static uint64_t
log_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void
log_eventv(enum log_level level, const char *event, va_list ap)
{
	uint64_t now_ms;

	if (log_observer.fn != NULL) {
		va_list copy;

		va_copy(copy, ap);
		log_observer.fn(log_observer.arg, level, event, copy);
		va_end(copy);
	}
	if (level < log_conf.min_level)
		return;
	now_ms = log_now_ms();
	if (level >= LOG_WARN) {
		if (!log_ratelimit_admit(&log_limiter, event, now_ms, log_report_suppressed, NULL))
			return;
	} else {
		/* Summaries of ended windows come out with the next line. */
		log_ratelimit_flush(&log_limiter, now_ms, log_report_suppressed, NULL);
	}
	log_write(level, event, ap);
}

void
log_event(enum log_level level, const char *event, ...)
{
	va_list ap;

	va_start(ap, event);
	log_eventv(level, event, ap);
	va_end(ap);
}
