/* SPDX-License-Identifier: Apache-2.0 */
/*
 * listener.c - the TCP listening sockets of the external and internal
 * sides.  Opened before privileges are dropped (ports below 1024), so a
 * failure here names the address and the reason and stops the start.
 *
 * Accepting is done here, not by uv_listen(): libuv 1.50 meets EMFILE
 * with its "emfile trick" (close a spare descriptor, accept and close
 * every pending connection, report nothing), so at the descriptor limit
 * the gateway's connection was reset and nothing was logged.  Instead a
 * failed accept is counted (status, metrics), logged once per episode,
 * and the listener stops for LISTENER_PAUSE_MS, as nginx does: pending
 * connections wait in the kernel's backlog and are accepted once streams
 * have closed.  Which connections become streams is s2s_in_accept()'s
 * decision (limits, reserved gateway capacity).
 *
 * Handshakes are admitted, not refused, in the order they came
 * (admission.h): while limits.max_unauthenticated_streams streams from
 * outside are in their handshakes, or as many as the loop can do at once
 * (the admission window), the external listeners stop accepting and the
 * connections wait in the kernel's backlog.  A reconnect storm after a restart (every partner at
 * once, issue 18) is legitimate: refusing all but the first thousand sent
 * the rest away to retry later, and admitting all at once shared the CPU
 * among thousands of handshakes, so that every stream took as long as the
 * whole storm (past limits.handshake_timeout_ms) and the dialback checks
 * (our own outgoing streams, in the same loop) ran out of time.  An
 * attacker's storm is bounded as before: at most that many handshakes at
 * once, each within limits.handshake_timeout_ms, the backlog itself
 * bounded by the kernel (LISTEN_BACKLOG); the price is that while
 * attackers hold every slot, a partner waits in the backlog instead of
 * being refused at once (it would not have got in either way).  The
 * gateway's internal listeners never wait.
 */
#include "listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "handover.h"
#include "log.h"
#include "netaddr.h"
#include "s2s_in.h"

/* A reconnect storm (every partner at once after a restart, issue 18)
 * is a few thousand SYNs in a second: a queue of 511 overflowed and the
 * kernel reset streams (tests/bench/run_storm.sh).  The kernel caps it at
 * net.core.somaxconn (4096 by default since Linux 5.4). */
#define LISTEN_BACKLOG 4096
/* Long enough for closing streams to give descriptors back, short enough
 * that a waiting gateway hardly notices (nginx: 500 ms, libuv users:
 * 100 ms). */
#define LISTENER_PAUSE_MS 100
/* While admission waits: how often to look again.  Slots free when a
 * stream authenticates or closes, in the same loop; a timer keeps this
 * file the only one that knows how listeners are polled. */
#define LISTENER_ADMISSION_WAIT_MS 10
/* Connections accepted per readiness callback before the loop serves
 * other handles (the poll is level-triggered: the rest come next turn). */
#define LISTENER_ACCEPT_BATCH 32

static const char *const listener_kind_names[] = {
	[LISTENER_STARTTLS] = "starttls",
	[LISTENER_DIRECT_TLS] = "direct_tls",
	[LISTENER_INTERNAL] = "internal",
	[LISTENER_INTERNAL_STARTTLS] = "internal_starttls",
};

static void listener_on_readable(uv_poll_t *poll, int status, int events);

static void
listener_on_pause_end(uv_timer_t *t)
{
	struct listener *l = t->data;

	if (uv_poll_start(&l->poll, UV_READABLE, listener_on_readable) != 0)
		log_event(LOG_ERROR, "listener.resume_failed", "listener", l->addr, NULL);
}

/* accept() failed with err (an errno): count it, say it once per
 * episode, and stop accepting for a moment so a level-triggered poll does
 * not spin on a limit that only closing streams can lift. */
static void
listener_pause(struct listener *l, int err)
{
	char ms[16];

	l->edge->stats.accept_failures++;
	if (l->pause_failures++ == 0) {
		snprintf(ms, sizeof(ms), "%d", LISTENER_PAUSE_MS);
		log_event(LOG_WARN, "listener.accept_failed", "listener", l->addr,
		    "reason", uv_strerror(uv_translate_sys_error(err)), "paused_ms", ms, NULL);
	}
	l->edge->stats.accept_pauses++;
	uv_poll_stop(&l->poll);
	uv_timer_start(&l->pause_timer, listener_on_pause_end, LISTENER_PAUSE_MS, 0);
}

/* Admission says wait (admission.h: the handshake cap, or a saturated
 * loop): leave the connections in the backlog and look again shortly.  One log line per
 * episode each way (a storm after a restart is expected: info). */
static void
listener_wait_for_admission(struct listener *l, enum admission_verdict v)
{
	char n[24], busy[16], w[24];

	if (!l->admission_waiting) {
		l->admission_waiting = 1;
		l->admission_wait_since_ms = uv_now(l->edge->loop);
		l->edge->stats.admission_waits++;
		snprintf(n, sizeof(n), "%zu", l->edge->streams_unauthenticated);
		snprintf(busy, sizeof(busy), "%u", l->edge->admission.busy_permille);
		snprintf(w, sizeof(w), "%zu", admission_window(&l->edge->admission));
		log_event(LOG_INFO, "listener.admission_wait", "listener", l->addr,
		    "reason", admission_verdict_str(v), "handshakes", n, "window", w,
		    "busy_permille", busy, NULL);
	}
	uv_poll_stop(&l->poll);
	uv_timer_start(&l->pause_timer, listener_on_pause_end, LISTENER_ADMISSION_WAIT_MS, 0);
}

static void
listener_admission_resumed(struct listener *l)
{
	char ms[24];

	l->admission_waiting = 0;
	snprintf(ms, sizeof(ms), "%llu",
	    (unsigned long long)(uv_now(l->edge->loop) - l->admission_wait_since_ms));
	log_event(LOG_INFO, "listener.admission_resumed", "listener", l->addr, "waited_ms", ms, NULL);
}

/* The CPU time this thread (the loop's: listeners are polled in it) has
 * used, ns: what the admission window counts as the loop's own work
 * (admission.h).  Should the clock fail, 0, which admission reads as a
 * loop doing no work: the window then follows idleness only, bounded by
 * the cap. */
static uint64_t
listener_loop_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
listener_on_readable(uv_poll_t *poll, int status, int events)
{
	struct listener *l = poll->data;
	struct sockaddr_storage peer;
	enum admission_verdict v;
	socklen_t len;
	char n[24];
	int fd, i;

	(void)events;
	if (status < 0) {
		/* A poll error on a listening socket: treated as a failed
		 * accept (counted, paused), not as a reason to stop. */
		listener_pause(l, -status);
		return;
	}
	for (i = 0; i < LISTENER_ACCEPT_BATCH; i++) {
		if (!listener_is_internal(l)) {
			admission_load_sample(&l->edge->admission, uv_hrtime(),
			    uv_metrics_idle_time(l->edge->loop), listener_loop_cpu_ns());
			v = admission_decide(&l->edge->admission, l->edge->streams_unauthenticated,
			    (size_t)l->edge->cfg->limits.max_unauthenticated_streams);
			if (v != ADMISSION_ACCEPT) {
				/* Past the first accept of this callback nothing
				 * says a connection is waiting: the poll (level-
				 * triggered) calls again if one is, and the wait
				 * starts then, counted once. */
				if (i == 0)
					listener_wait_for_admission(l, v);
				return;
			}
		}
		len = sizeof(peer);
		fd = accept4(l->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* The peer gave up, or a signal: nothing to
			 * pause for (Linux reports pending network errors
			 * on the new socket through accept). */
			if (errno == ECONNABORTED || errno == EINTR || errno == EPROTO ||
			    errno == ENETDOWN || errno == ENOPROTOOPT || errno == EHOSTDOWN ||
			    errno == ENONET || errno == EHOSTUNREACH || errno == EOPNOTSUPP ||
			    errno == ENETUNREACH)
				continue;
			/* EMFILE, ENFILE, ENOBUFS, ENOMEM and the unexpected. */
			listener_pause(l, errno);
			return;
		}
		if (l->admission_waiting)
			listener_admission_resumed(l);
		if (l->pause_failures > 0) {
			snprintf(n, sizeof(n), "%llu", (unsigned long long)l->pause_failures);
			log_event(LOG_INFO, "listener.accept_resumed", "listener", l->addr,
			    "failures", n, NULL);
			l->pause_failures = 0;
		}
		if (s2s_in_accept(l, fd, (struct sockaddr *)&peer) < 0) {
			l->edge->stats.accept_failures++;
			log_event(LOG_ERROR, "listener.accept_failed", "listener", l->addr,
			    "reason", "out of memory", NULL);
		}
	}
}

/* socket + bind + listen as uv_tcp_bind()/uv_listen() did (SO_REUSEADDR;
 * IPV6_V6ONLY so "[::]:5269" and "0.0.0.0:5269" can both be listed);
 * -1 with errno set. */
static int
listener_socket(const struct sockaddr_storage *ss)
{
	socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
	int fd, on = 1, saved;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    (ss->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) ||
	    bind(fd, (const struct sockaddr *)ss, len) < 0 ||
	    listen(fd, LISTEN_BACKLOG) < 0) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static void
listener_on_closed(uv_handle_t *h)
{
	struct listener *l = h->data;

	if (--l->handles_open > 0)
		return;
	if (l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
}

/* Stops accepting for good; l stays (streams still point to it) until
 * listener_free_drained. */
static void
listener_close(struct listener *l)
{
	uv_close((uv_handle_t *)&l->poll, listener_on_closed);
	uv_close((uv_handle_t *)&l->pause_timer, listener_on_closed);
}

static int
listener_open(struct edge *edge, enum listener_kind kind, const char *addr,
    char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct listener *l;
	char why[128];
	int r;

	if (netaddr_parse(addr, &ss, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "listen.%s: '%s': %s", listener_kind_names[kind], addr, why);
		return -1;
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	l->edge = edge;
	l->kind = kind;
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	/* An upgrade's new process accepts on the old one's socket: the
	 * connections in its backlog are never refused (handover.c). */
	l->fd = handover_take_tcp(listener_kind_names[kind], addr, &ss);
	if (l->fd < 0)
		l->fd = listener_socket(&ss);
	if (l->fd < 0) {
		snprintf(err, errlen, "listen.%s: cannot listen on %s: %s",
		    listener_kind_names[kind], addr, uv_strerror(uv_translate_sys_error(errno)));
		free(l);
		return -1;
	}
	r = uv_poll_init_socket(edge->loop, &l->poll, l->fd);
	if (r != 0) {
		snprintf(err, errlen, "listen.%s: cannot watch %s: %s",
		    listener_kind_names[kind], addr, uv_strerror(r));
		close(l->fd);
		free(l);
		return -1;
	}
	uv_timer_init(edge->loop, &l->pause_timer);
	l->poll.data = l;
	l->pause_timer.data = l;
	l->handles_open = 2;
	l->next = edge->listeners;
	edge->listeners = l;
	r = uv_poll_start(&l->poll, UV_READABLE, listener_on_readable);
	if (r != 0) {
		snprintf(err, errlen, "listen.%s: cannot watch %s: %s",
		    listener_kind_names[kind], addr, uv_strerror(r));
		return -1;	/* closed with the others by listener_close_all */
	}
	log_event(LOG_INFO, "listener.start", "kind", listener_kind_names[kind],
	    "addr", addr, NULL);
	return 0;
}

int
listener_open_all(struct edge *edge, char *err, size_t errlen)
{
	const struct config_listen *c = &edge->cfg->listen;
	size_t i;

	for (i = 0; i < c->starttls_count; i++)
		if (listener_open(edge, LISTENER_STARTTLS, c->starttls[i], err, errlen) < 0)
			return -1;
	for (i = 0; i < c->direct_tls_count; i++)
		if (listener_open(edge, LISTENER_DIRECT_TLS, c->direct_tls[i], err, errlen) < 0)
			return -1;
	for (i = 0; i < c->internal_starttls_count; i++)
		if (listener_open(edge, LISTENER_INTERNAL_STARTTLS, c->internal_starttls[i], err, errlen) < 0)
			return -1;
	for (i = 0; i < c->internal_count; i++)
		if (listener_open(edge, LISTENER_INTERNAL, c->internal[i], err, errlen) < 0)
			return -1;
	return 0;
}

void
listener_close_all(struct edge *edge)
{
	struct listener *l, *next;

	/* Streams accepted on them keep a pointer (s->listener) and live on
	 * through a graceful shutdown: kept until the daemon exits, as
	 * drain's.  Closing our descriptor never resets a connection waiting
	 * in the backlog while an upgrade's new process holds the same
	 * socket; without one, the kernel refuses new connections from
	 * now on (the point of a shutdown). */
	for (l = edge->listeners; l != NULL; l = next) {
		next = l->next;
		listener_close(l);
		l->next = edge->drained_listeners;
		edge->drained_listeners = l;
	}
	edge->listeners = NULL;
}

size_t
listener_close_external(struct edge *edge)
{
	struct listener **lp = &edge->listeners, *l;
	size_t n = 0;

	while ((l = *lp) != NULL) {
		/* Both internal kinds: a gateway that reaches us through
		 * internal_starttls is as much the gateway as one on
		 * internal. */
		if (listener_is_internal(l)) {
			lp = &l->next;
			continue;
		}
		*lp = l->next;
		log_event(LOG_INFO, "listener.stop", "kind", listener_kind_names[l->kind],
		    "addr", l->addr, "reason", "drain", NULL);
		/* Streams accepted on it keep a pointer to it (s->listener)
		 * and live on: it is only freed when the daemon exits. */
		listener_close(l);
		l->next = edge->drained_listeners;
		edge->drained_listeners = l;
		n++;
	}
	return n;
}

void
listener_free_drained(struct edge *edge)
{
	struct listener *l, *next;

	for (l = edge->drained_listeners; l != NULL; l = next) {
		next = l->next;
		free(l);
	}
	edge->drained_listeners = NULL;
}
