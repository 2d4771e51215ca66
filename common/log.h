/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.h - structured event logging.
 *
 * Every log line is one event with a stable name operators can grep and
 * alert on ("s2s_in.auth", "config.error") and string key/value fields:
 *
 *   log_event(LOG_INFO, "listener.start", "addr", "127.0.0.1:5269", NULL);
 *
 * Output goes to stderr, as one JSON object per line (yajl_gen) or, when
 * stderr is a terminal, as a human-readable line.  Never pass secrets.
 *
 * The log configuration (level, format) is process-wide, set once at start
 * and on reload; it is the one piece of state outside struct edge, as in
 * OpenBSD's log.c, because every module logs.
 */
#ifndef XE_LOG_H
#define XE_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_DEBUG,
	LOG_INFO,
	LOG_WARN,
	LOG_ERROR,
};

enum log_format {
	LOG_FORMAT_AUTO,	/* text on a terminal, JSON otherwise */
	LOG_FORMAT_JSON,
	LOG_FORMAT_TEXT,
};

void log_setup(enum log_level min_level, enum log_format format);
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

/* Key/value pairs of const char *, terminated by NULL.  A NULL value is
 * written as JSON null. */
void log_event(enum log_level level, const char *event, ...)
    __attribute__((sentinel));
void log_eventv(enum log_level level, const char *event, va_list ap);

/*
 * One observer sees every event, whatever the level, before it is
 * filtered and written: the metrics module (daemon/metrics.c) counts the
 * events operators already alert on ("s2s_in.auth" by method and result,
 * TLS handshakes, dialback checks), so those counters and the logs can
 * never disagree.  The per-stanza and per-stream counters (struct
 * edge_stats: stanzas routed, bounced, streams accepted...) are not
 * events: the data path increments them itself, logging none of them
 * per stanza.  ap is the key/value list after 'event';
 * the observer reads it with va_arg and must not keep pointers from it.
 * NULL removes the observer.  Set from the loop's thread only.
 */
typedef void (*log_observer_fn)(void *arg, enum log_level level, const char *event,
    va_list ap);
void log_set_observer(log_observer_fn fn, void *arg);

#endif
