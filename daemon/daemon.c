/* SPDX-License-Identifier: Apache-2.0 */
/*
 * daemon.c - `xmpp-edge run`: the daemon's life from start to exit.
 *
 *   load config (file or embedded default) -> prepare the state directory
 *   -> bind listeners (as root if started as root) -> drop privileges ->
 *   open the control socket -> run the loop until SIGTERM/SIGINT.
 *
 * SIGTERM/SIGINT: stop accepting, deliver (or at the deadline bounce)
 * what is in flight, send every stream <system-shutdown/> and close it,
 * all within limits.shutdown_timeout_ms (edge_shutdown).
 * SIGUSR2 (and `xmpp-edge upgrade`): start the installed binary with our
 * listening sockets and shut down once it is ready (handover.c).
 * SIGHUP: re-read the configuration file; a bad one is reported and the
 * running one kept.  Listener addresses, user and state_dir need a restart.
 * tls.watch_files: the same reload when the certificate files change on
 * disk (cert_watch.c).
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "admin.h"
#include "blocklist.h"
#include "cert_watch.h"
#include "control.h"
#include "edge_certs.h"
#include "listener.h"
#include "strangers.h"
#include "default_config.h"
#include "dialback.h"
#include "s2s_out.h"
#include "dns.h"
#include "gateway_link.h"
#include "handover.h"
#include "metrics.h"
#include "stream_info.h"
#include "gateway_pins.h"
#include "log.h"
#include "ratelimit.h"
#include "router.h"
#include "run_user.h"
#include "s2s_in.h"
#include "service_notify.h"
#include "appliance_update.h"
#include "version.h"

#define SHUTDOWN_POLL_MS 20
/* Descriptors besides streams and listeners: stdio, the loop's epoll and
 * signal pipe, libuv's spare descriptor, the control socket and its
 * clients, the metrics endpoint, c-ares' sockets, the certificate
 * watches, files being read on reload. */
#define DAEMON_FD_OVERHEAD 64

static void
daemon_apply_log_config(const struct config *cfg)
{
	static const enum log_format formats[] = { LOG_FORMAT_AUTO, LOG_FORMAT_JSON, LOG_FORMAT_TEXT };

	log_setup((enum log_level)cfg->log.level, formats[cfg->log.format]);
}

/*
 * The state directory and what was generated in it belong to the user
 * the daemon runs as, so it can read its keys and write its socket; its
 * group is control.admin_group when set, so the admins can reach the
 * control socket in it (every secret inside is 0600).
 *
 * The service user owns the directory and can plant a symlink or a hard
 * link in it: only direct entries are touched, opened through the
 * directory's descriptor without following a symlink (O_NOFOLLOW), and
 * changed through that descriptor (fchown) only if it is a regular file
 * with one link: nothing can redirect the chown to a file elsewhere.
 */
static void
daemon_chown_state(const struct config *cfg, const struct run_user *ru, gid_t dir_gid)
{
	const char *files[2 * CONFIG_MAX_DOMAINS + 1];
	size_t i, n = 0, len = strlen(cfg->state_dir);
	int dirfd;

	if (!ru->drop)
		return;
	dirfd = open(cfg->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 || fchown(dirfd, ru->uid, dir_gid) < 0) {
		log_event(LOG_WARN, "state.chown_failed", "path", cfg->state_dir,
		    "reason", strerror(errno), NULL);
		if (dirfd >= 0)
			close(dirfd);
		return;
	}
	for (i = 0; i < cfg->domain_count; i++) {
		files[n++] = cfg->domains[i].key;
		files[n++] = cfg->domains[i].cert;
	}
	files[n++] = cfg->dialback.secret_file;
	for (i = 0; i < n; i++) {
		const char *name = files[i] + len + 1;
		struct stat st;
		int fd;

		/* Only files directly inside the state dir: the operator owns the rest. */
		if (strncmp(files[i], cfg->state_dir, len) != 0 || files[i][len] != '/' ||
		    *name == '\0' || strchr(name, '/') != NULL)
			continue;
		fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) {
			log_event(LOG_WARN, "state.chown_refused", "path", files[i], "reason",
			    fd < 0 && errno == ELOOP ? "a symlink (never followed)" : fd < 0 ?
			    strerror(errno) : "not a regular file with one link", NULL);
		} else if (fchown(fd, ru->uid, ru->gid) != 0) {
			log_event(LOG_WARN, "state.chown_failed", "path", files[i],
			    "reason", strerror(errno), NULL);
		}
		if (fd >= 0)
			close(fd);
	}
	close(dirfd);
}

/*
 * Raises the soft RLIMIT_NOFILE to the hard limit (a daemon that holds a
 * socket per stream has no use for the default 1024) and warns when the
 * configured streams cannot all have a descriptor: inbound and outgoing
 * streams (limits.max_streams each), the listeners and DAEMON_FD_OVERHEAD.
 * Past the limit accepts fail (listener.c counts and logs them) and
 * outgoing connections fail; the warning says so before it happens.
 * Called at start and on every reload (max_streams may have changed).
 */
static void
daemon_fit_fd_limit(const struct config *cfg)
{
	const struct config_listen *lc = &cfg->listen;
	unsigned long long needed, have;
	char a[24], b[24];
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		log_event(LOG_WARN, "daemon.fd_limit_unknown", "reason", strerror(errno), NULL);
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		snprintf(a, sizeof(a), "%llu", (unsigned long long)rl.rlim_cur);
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
			snprintf(b, sizeof(b), "%llu", (unsigned long long)rl.rlim_cur);
			log_event(LOG_INFO, "daemon.fd_limit_raised", "from", a, "to", b, NULL);
		} else {
			log_event(LOG_WARN, "daemon.fd_limit_not_raised", "limit", a,
			    "reason", strerror(errno), NULL);
			(void)getrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return;
	have = (unsigned long long)rl.rlim_cur;
	needed = 2ULL * (unsigned long long)cfg->limits.max_streams + lc->starttls_count +
	    lc->direct_tls_count + lc->internal_count + lc->internal_starttls_count + DAEMON_FD_OVERHEAD;
	if (needed <= have)
		return;
	snprintf(a, sizeof(a), "%llu", have);
	snprintf(b, sizeof(b), "%llu", needed);
	log_event(LOG_WARN, "daemon.fd_limit_low", "limit", a, "needed", b,
	    "detail", "2 x limits.max_streams (inbound and outgoing) + listeners + 64 do not fit "
	    "RLIMIT_NOFILE: raise it (ulimit -n, systemd LimitNOFILE=) or lower limits.max_streams", NULL);
}

static void
daemon_close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void
daemon_close_walk(uv_handle_t *h, void *arg)
{
	(void)arg;
	daemon_close_handle(h);
}

/* What the shutdown's steps may take, as parts of
 * limits.shutdown_timeout_ms: delivery until half of it, the bounces of
 * what was left until nine tenths, closing the streams the rest: until
 * SHUTDOWN_FORCE_PART, streams that wait for acknowledgements
 * (XEP-0198) may still get them; then they are closed, which bounces
 * what is not acknowledged, and the bounces have what is left. */
#define SHUTDOWN_DRAIN_PART(t)	((t) / 2)
#define SHUTDOWN_BOUNCE_PART(t)	((t) * 9 / 10)
#define SHUTDOWN_FORCE_PART(t)	((t) * 95 / 100)

static const char *const daemon_shutdown_phase_names[] = {
	[EDGE_RUNNING] = "running",
	[EDGE_SHUTDOWN_DRAIN] = "drain",
	[EDGE_SHUTDOWN_BOUNCE] = "bounce",
	[EDGE_SHUTDOWN_CLOSE] = "close",
	[EDGE_SHUTDOWN_DONE] = "done",
};

/* Logs the step (daemon.shutdown.STEP) with what is still open and in
 * flight, then enters it. */
static void
daemon_shutdown_enter(struct edge *edge, enum edge_shutdown_phase next, const char *why)
{
	char event[32], in_flight[24], in[24], out[24], ms[24];

	snprintf(event, sizeof(event), "daemon.shutdown.%s", daemon_shutdown_phase_names[next]);
	snprintf(in_flight, sizeof(in_flight), "%zu", router_in_flight(edge));
	snprintf(in, sizeof(in), "%zu", edge->stream_count);
	snprintf(out, sizeof(out), "%zu", edge->out_stream_count);
	snprintf(ms, sizeof(ms), "%llu",
	    (unsigned long long)(uv_now(edge->loop) - (uint64_t)edge->shutting_down_since));
	log_event(LOG_INFO, event, "reason", why, "in_flight", in_flight, "streams_in", in,
	    "streams_out", out, "elapsed_ms", ms, NULL);
	edge->shutdown_phase = next;
}

/* Nothing left to wait for in the drain: no stanza queued anywhere and
 * every inbound stream closed by its peer. */
static int
daemon_shutdown_drained(const struct edge *edge)
{
	return router_in_flight(edge) == 0 && edge->stream_count == 0;
}

/* BOUNCE: the inbound streams that did not close in time are closed (they
 * were told at the start), and whatever is still queued goes back to its
 * sender, over streams that stay open for those bounces.  An inbound
 * stream with XEP-0198 still waiting for its stanzas to settle stays:
 * the bounces settle them (a bounce counts in h), and the stanzas
 * written to a next hop still get until nine tenths to be acknowledged;
 * its last <a h/> goes out when nothing of it is left in flight. */
static void
daemon_shutdown_bounce(struct edge *edge, const char *why)
{
	struct s2s_in *s, *next;
	struct s2s_out *o;
	size_t n = 0, k, cap, *snap;
	char count[24];

	daemon_shutdown_enter(edge, EDGE_SHUTDOWN_BOUNCE, why);
	for (s = edge->streams; s != NULL; s = next) {
		next = s2s_in_next(s);
		s2s_in_shutdown_unless_settling(s);
	}
	/* Only what was queued before this step: the bounces are queued on
	 * other streams (behind what they hold) or start new ones, and must
	 * go out, not be bounced in turn (an error is never answered with an
	 * error: it would be lost).  Counted first, bounced after; nothing is
	 * freed in between (a close only takes effect in its callback). */
	cap = edge->out_stream_count;
	snap = calloc(cap + 1, sizeof(*snap));
	for (o = edge->out_streams, k = 0; o != NULL && snap != NULL && k < cap; o = s2s_out_next(o), k++)
		snap[k] = s2s_out_queued_stanzas(o);
	/* New streams go in at the head of the list: this walk, from the
	 * head it starts with, meets the same streams in the same order. */
	for (o = edge->out_streams, k = 0; o != NULL && k < cap; o = s2s_out_next(o), k++)
		n += s2s_out_bounce_queued(o, snap != NULL ? snap[k] : (size_t)-1);
	free(snap);
	edge->stats.shutdown_bounced += n;
	snprintf(count, sizeof(count), "%zu", n);
	log_event(n > 0 ? LOG_WARN : LOG_INFO, "daemon.shutdown.bounced", "stanzas", count, NULL);
}

/* Every stream is closed: outgoing ones first, after writing what they
 * still hold (their close bounces the rest, which settles it for its
 * source), then inbound ones, each with its last <a h/> when it has
 * XEP-0198.  With force unset, outgoing streams with stanzas written
 * and not acknowledged (XEP-0198) ask for an <a h/> and close when it
 * comes, and inbound streams waiting for those stay; with force set
 * everything closes now. */
static void
daemon_shutdown_close_streams(struct edge *edge, int force)
{
	struct s2s_in *s, *next;
	struct s2s_out *o, *onext;
	int pass;

	/* Streams still connecting first: their stanzas are bounced over the
	 * established ones, which then close in turn. */
	for (pass = 0; pass < 2; pass++)
		for (o = edge->out_streams; o != NULL; o = onext) {
			onext = s2s_out_next(o);
			if (s2s_out_is_established(o) == pass)
				s2s_out_shutdown(o);
		}
	for (s = edge->streams; s != NULL; s = next) {
		next = s2s_in_next(s);
		if (force)
			s2s_in_shutdown(s);
		else
			s2s_in_shutdown_unless_settling(s);
	}
}

/* CLOSE: every stream is closed (daemon_shutdown_close_streams). */
static void
daemon_shutdown_close(struct edge *edge, const char *why)
{
	daemon_shutdown_enter(edge, EDGE_SHUTDOWN_CLOSE, why);
	daemon_shutdown_close_streams(edge, 0);
}

/* DONE: what is still open is aborted, then everything else is closed
 * and the loop runs empty. */
static void
daemon_shutdown_finish(struct edge *edge, uv_timer_t *t)
{
	struct s2s_in *s;
	struct s2s_out *o;

	if (edge->stream_count + edge->out_stream_count > 0) {
		char n[32];

		snprintf(n, sizeof(n), "%zu", edge->stream_count + edge->out_stream_count);
		log_event(LOG_WARN, "daemon.shutdown_deadline", "streams_aborted", n, NULL);
		edge->stats.shutdown_streams_aborted += edge->stream_count + edge->out_stream_count;
		for (s = edge->streams; s != NULL; s = s2s_in_next(s))
			s2s_in_abort(s, "shutdown deadline");
		for (o = edge->out_streams; o != NULL; o = s2s_out_next(o))
			s2s_out_abort(o);
	}
	daemon_shutdown_enter(edge, EDGE_SHUTDOWN_DONE, "streams closed");
	uv_timer_stop(t);
	daemon_close_handle((uv_handle_t *)t);
	/* Streams are gone (or aborted: their dialback checks cancelled). */
	if (edge->dns != NULL) {
		dns_resolver_free(edge->dns);
		edge->dns = NULL;
	}
	daemon_close_handle((uv_handle_t *)&edge->sig_term);
	daemon_close_handle((uv_handle_t *)&edge->sig_int);
	daemon_close_handle((uv_handle_t *)&edge->sig_hup);
	daemon_close_handle((uv_handle_t *)&edge->sig_usr2);
	handover_close(edge);
	control_close(edge);
	admin_close(edge);
	metrics_close(edge);
	cert_watch_stop(edge);
	blocklist_stop(edge);
	strangers_stop(edge);		/* saved: the streams are gone */
}

/* Every SHUTDOWN_POLL_MS: on to the next step once this one has nothing
 * left to wait for, or its share of limits.shutdown_timeout_ms is over. */
static void
daemon_on_shutdown_tick(uv_timer_t *t)
{
	struct edge *edge = t->data;
	uint64_t elapsed = uv_now(edge->loop) - (uint64_t)edge->shutting_down_since;
	uint64_t timeout = (uint64_t)edge->cfg->limits.shutdown_timeout_ms;

	switch (edge->shutdown_phase) {
	case EDGE_SHUTDOWN_DRAIN:
		if (daemon_shutdown_drained(edge)) {
			daemon_shutdown_close(edge, "nothing in flight");
			break;
		}
		if (elapsed < SHUTDOWN_DRAIN_PART(timeout))
			break;
		daemon_shutdown_bounce(edge, "delivery time over");
		break;
	case EDGE_SHUTDOWN_BOUNCE:
		if (router_in_flight(edge) > 0 && elapsed < SHUTDOWN_BOUNCE_PART(timeout))
			break;
		daemon_shutdown_close(edge, router_in_flight(edge) > 0 ?
		    "bounce time over" : "bounces written");
		break;
	case EDGE_SHUTDOWN_CLOSE:
		if (edge->stream_count + edge->out_stream_count > 0 && elapsed < timeout) {
			/* Once: no more waiting for acknowledgements. */
			if (elapsed >= SHUTDOWN_FORCE_PART(timeout) && !edge->shutdown_forced) {
				edge->shutdown_forced = 1;
				daemon_shutdown_close_streams(edge, 1);
			}
			break;
		}
		daemon_shutdown_finish(edge, t);
		break;
	default:
		break;
	}
}

/*
 * The graceful shutdown (SIGTERM, SIGINT, and the old process of an
 * `upgrade` once the new one is ready), in steps bounded together by
 * limits.shutdown_timeout_ms:
 *
 *   DRAIN   nothing new comes in: the listeners close (an upgrade's new
 *           process holds the same sockets and accepts on), streams that
 *           are not authenticated close.  An authenticated inbound stream
 *           with XEP-0198 takes no stanza any more (its peer keeps what
 *           it sends now: not counted in h, so it bounces or resends it
 *           itself) and, once every stanza it took is settled, gets a
 *           last <a h/> that counts them all, <system-shutdown/> and our
 *           close; one without XEP-0198 gets <system-shutdown/> at once
 *           and is read to its end (the peer's close, RFC 6120 §4.4) so
 *           what its peer had sent is still routed.  Outgoing streams go
 *           on writing their queues (new ones may start) and ask for an
 *           <a h/> after every write.  Until nothing is in flight
 *           (router_in_flight) and the inbound streams are closed, or
 *           half of the timeout.
 *   BOUNCE  the inbound streams still open are closed, but for those
 *           still waiting for their stanzas to settle; what is still
 *           queued is bounced (which settles it: a bounce counts in h);
 *           stanzas written and unacknowledged get until nine tenths.
 *   CLOSE   no new stream; outgoing streams write what they hold and
 *           close, those with stanzas unacknowledged (XEP-0198) once an
 *           <a h/> covers them; then the inbound streams, each with its
 *           last <a h/>.  At 95 % whatever still waits is closed (the
 *           close bounces what was not acknowledged); at the timeout the
 *           rest is aborted.
 *
 * Each step is logged (daemon.shutdown.STEP) with what is in flight.
 */
void
edge_shutdown(struct edge *edge, const char *why)
{
	struct s2s_in *s, *next;
	struct s2s_out *o;

	if (edge->shutting_down)
		return;
	edge->shutting_down = 1;
	edge->shutting_down_since = (int64_t)uv_now(edge->loop);
	log_event(LOG_INFO, "daemon.shutdown", "reason", why, NULL);
	listener_close_all(edge);
	handover_cancel(edge);
	/* After an upgrade these sockets are the new process's: it answers
	 * `status` and scrapes from now on. */
	if (edge->handed_over) {
		control_close(edge);
		metrics_close(edge);
		admin_close(edge);
	}
	if (edge->gateway_check != NULL) {
		gateway_link_cancel(edge->gateway_check);
		edge->gateway_check = NULL;
	}
	daemon_shutdown_enter(edge, EDGE_SHUTDOWN_DRAIN, why);
	for (s = edge->streams; s != NULL; s = next) {
		next = s2s_in_next(s);
		s2s_in_shutdown_begin(s);
	}
	/* Acknowledgements asked for now, and after every write from here
	 * on: what a next hop acknowledges settles, so the last <a h/> of
	 * its source counts it. */
	for (o = edge->out_streams; o != NULL; o = s2s_out_next(o))
		s2s_out_shutdown_begin(o);
	uv_timer_start(&edge->shutdown_timer, daemon_on_shutdown_tick, 0, SHUTDOWN_POLL_MS);
}

size_t
edge_drain(struct edge *edge)
{
	size_t n;
	char count[24], live[24];

	if (edge->draining || edge->shutting_down)
		return 0;
	edge->draining = 1;
	n = listener_close_external(edge);
	snprintf(count, sizeof(count), "%zu", n);
	snprintf(live, sizeof(live), "%zu", edge->stream_count + edge->out_stream_count);
	log_event(LOG_INFO, "daemon.drain", "listeners_closed", count, "streams", live, NULL);
	return n;
}

static void
daemon_on_gateway_checked(const struct gateway_link_result *r, void *arg)
{
	struct edge *edge = arg;

	edge->gateway_check = NULL;
	snprintf(edge->gateway_state, sizeof(edge->gateway_state), "%s", r->ok ? "ok" : "failed");
	snprintf(edge->gateway_detail, sizeof(edge->gateway_detail), "%s%s%s",
	    r->ok ? "" : r->stage, r->ok ? "" : ": ", r->detail);
	log_event(r->ok ? LOG_INFO : LOG_WARN, "gateway.link", "address",
	    edge->cfg->gateway.address, "result", edge->gateway_state,
	    "stage", r->stage, "detail", r->detail, NULL);
}

/* Checks the outbound internal link now (start, SIGHUP): the pins and our
 * certificate are exercised before the first stanza needs them. */
static void
daemon_check_gateway(struct edge *edge)
{
	if (!edge->cfg->gateway.enabled || edge->gateway_check != NULL)
		return;
	snprintf(edge->gateway_state, sizeof(edge->gateway_state), "checking");
	edge->gateway_check = gateway_link_check(edge->loop, edge->cfg, edge->certs,
	    daemon_on_gateway_checked, edge);
}

static int
daemon_load_config(const char *config_path, const char *state_dir, struct config **out,
    char *err, size_t errlen)
{
	struct config *cfg;

	if (config_path != NULL) {
		cfg = config_load_file(config_path, 1, err, errlen);
		if (cfg != NULL && state_dir_prepare(cfg, err, errlen) < 0) {
			config_free(cfg);
			cfg = NULL;
		}
	} else {
		cfg = default_config_load(state_dir, 1, err, errlen);
	}
	/* Loaded, but worth the operator's eye (start and every reload). */
	for (size_t i = 0; cfg != NULL && i < cfg->warning_count; i++)
		log_event(LOG_WARN, "config.warning", "warning", cfg->warnings[i], NULL);
	if (cfg != NULL && cfg->warnings_dropped > 0)
		log_event(LOG_WARN, "config.warning", "warning", "more warnings than shown; run xmpp-edge check",
		    NULL);
	*out = cfg;
	return cfg != NULL ? 0 : -1;
}

/* The XEP-0185 secret our dialback keys are made with (the same file on
 * every instance lets any of them answer a db:verify). */
static int
daemon_load_dialback_secret(const struct config *cfg, struct dialback_secret *out, char *err,
    size_t errlen)
{
	char why[512];

	memset(out, 0, sizeof(*out));
	if (!cfg->dialback.enabled)
		return 0;
	if (dialback_secret_load(cfg->dialback.secret_file, out, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s: dialback.secret_file: %s", cfg->source, why);
		return -1;
	}
	return 0;
}

/*
 * Re-reads the configuration (file, or the embedded default's state) and
 * swaps in the new certificate store.  All or nothing: on any error the
 * running configuration stays and err says why.  SIGHUP and the control
 * socket's "reload" (`xmpp-edge cert rotate`) both come here.
 */
int
edge_reload(struct edge *edge, char *err, size_t errlen)
{
	struct tls_certstore *store, *admin_store = NULL;
	struct dialback_secret secret;
	struct config *next;

	if (daemon_load_config(edge->config_path, edge->cfg->state_dir, &next, err, errlen) < 0)
		goto fail;
	if (daemon_load_dialback_secret(next, &secret, err, errlen) < 0) {
		config_free(next);
		goto fail;
	}
	store = edge_certstore_load_keyed(next,
	    edge->ticket_memory_secret_set ? edge->ticket_memory_secret : NULL,
	    sizeof(edge->ticket_memory_secret), err, errlen);
	if (store == NULL) {
		config_free(next);
		goto fail;
	}
	/* The admin listener's pins and certificate (admin.c), as part of
	 * the same all-or-nothing step. */
	if (edge->admin != NULL && next->admin.enabled &&
	    (admin_store = admin_certstore_load(next, err, errlen)) == NULL) {
		tls_certstore_unref(store);
		config_free(next);
		goto fail;
	}
	if (admin_store != NULL)
		tls_certstore_swap(&edge->admin_certs, admin_store);
	edge->dialback = secret;
	/* New handshakes use the new certificates and pins; established
	 * streams keep a reference to the store they started with. */
	tls_certstore_swap(&edge->certs, store);
	/* A running gateway check points into the old configuration. */
	if (edge->gateway_check != NULL) {
		gateway_link_cancel(edge->gateway_check);
		edge->gateway_check = NULL;
	}
	if (memcmp(&next->listen, &edge->cfg->listen, sizeof(next->listen)) != 0 ||
	    memcmp(&next->metrics, &edge->cfg->metrics, sizeof(next->metrics)) != 0 ||
	    memcmp(&next->dns, &edge->cfg->dns, sizeof(next->dns)) != 0 ||
	    strcmp(next->user, edge->cfg->user) != 0 ||
	    strcmp(next->control.admin_group, edge->cfg->control.admin_group) != 0 ||
	    strcmp(next->state_dir, edge->cfg->state_dir) != 0)
		log_event(LOG_WARN, "config.reload_partial", "reason", "listen, metrics, dns, user, "
		    "control.admin_group and state_dir changes take effect at the next restart", NULL);
	/* Keep what cannot change without a restart (the resolver was made
	 * from dns, the sockets from listen). */
	next->listen = edge->cfg->listen;
	next->dns = edge->cfg->dns;
	next->metrics = edge->cfg->metrics;
	memcpy(next->user, edge->cfg->user, sizeof(next->user));
	next->control = edge->cfg->control;
	if (edge->admin != NULL && !next->admin.enabled) {
		log_event(LOG_WARN, "config.reload_partial", "reason", "the admin section stays "
		    "until the next restart (listen.admin is open)", NULL);
		next->admin = edge->cfg->admin;
	}
	next->admin.max_connections = edge->cfg->admin.max_connections;
	memcpy(next->state_dir, edge->cfg->state_dir, sizeof(next->state_dir));
	edge_config_replace(edge, next);
	daemon_apply_log_config(next);
	daemon_fit_fd_limit(next);
	log_event(LOG_INFO, "config.reload", "result", "applied", "config", next->source,
	    "certificates", "replaced", NULL);
	daemon_check_gateway(edge);
	cert_watch_apply(edge);		/* the paths may have changed */
	(void)blocklist_apply(edge, 1, err, errlen);	/* a bad list is logged, the old one kept */
	blocklist_watch_apply(edge);
	strangers_apply(edge);
	/* Stanzas queued toward a partner the new policy refuses go back
	 * as a new one would be refused (router.c).  blocklist_apply did
	 * this already when the list loaded; not when it failed and the
	 * old list stays, and the new configuration must hold all the
	 * same (a second walk finds nothing left to bounce). */
	s2s_out_policy_reloaded(edge);
	return 0;
fail:
	log_event(LOG_ERROR, "config.reload_failed", "error", err,
	    "result", "keeping the running configuration", NULL);
	return -1;
}

static void
daemon_on_signal(uv_signal_t *h, int signum)
{
	struct edge *edge = h->data;

	char err[CONFIG_ERR_MAX];

	if (signum == SIGHUP) {
		(void)edge_reload(edge, err, sizeof(err));	/* logged either way */
	} else if (signum == SIGUSR2) {
		int pid;

		/* nginx's signal for the same: start the binary on disk. */
		if (handover_start(edge, &pid, err, sizeof(err)) < 0)
			log_event(LOG_WARN, "daemon.upgrade.refused", "reason", err, NULL);
	} else
		edge_shutdown(edge, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}


int
edge_run(const char *config_path, const char *state_dir)
{
	struct edge edge;
	struct run_user ru;
	char err[CONFIG_ERR_MAX];
	uv_loop_t loop;
	int rc = 1;

	memset(&edge, 0, sizeof(edge));
	prefix_count_init(&edge.peer_prefixes);
	/* Before any TLS object exists: mbedTLS's bignums and buffers are
	 * recycled on this (the loop's) thread rather than malloc'd anew for
	 * every handshake (issue 18). */
	tls_alloc_install();
	log_setup(LOG_INFO, LOG_FORMAT_AUTO);
	if (uv_loop_init(&loop) != 0) {
		log_event(LOG_ERROR, "daemon.start_failed", "error", "cannot create the event loop", NULL);
		return 1;
	}
	/* The loop's idle time feeds the listeners' admission (admission.h). */
	if (uv_loop_configure(&loop, UV_METRICS_IDLE_TIME) != 0)
		log_event(LOG_WARN, "daemon.loop_metrics_unavailable", NULL);
	edge.loop = &loop;
	edge.config_path = config_path;
	/* Counters and stream start times come from log events. */
	metrics_observe_install(&edge);
	edge.started = time(NULL);
	log_event(LOG_INFO, "daemon.start", "version", XMPP_EDGE_VERSION,
	    "config", config_path ? config_path : "(embedded default)", NULL);
	/* An upgrade's new process: the old one's sockets, by name. */
	if (handover_inherit_begin(err, sizeof(err)) < 0) {
		log_event(LOG_ERROR, "daemon.start_failed", "error", err, NULL);
		goto done;
	}
	if (daemon_load_config(config_path, state_dir, &edge.cfg, err, sizeof(err)) < 0) {
		log_event(LOG_ERROR, "config.error", "error", err, NULL);
		goto done;
	}
	daemon_apply_log_config(edge.cfg);
	daemon_fit_fd_limit(edge.cfg);
	/* Its buckets read the running configuration: they follow SIGHUP. */
	edge.ratelimit = ratelimit_new(&loop, &edge.cfg);
	if (edge.ratelimit == NULL) {
		log_event(LOG_ERROR, "daemon.start_failed", "error", "out of memory", NULL);
		goto done;
	}
	if (config_path == NULL)
		log_event(LOG_INFO, "daemon.embedded_default", "domain", DEFAULT_DOMAIN,
		    "state_dir", edge.cfg->state_dir, "cert", edge.cfg->domains[0].cert,
		    "dialback_secret", edge.cfg->dialback.secret_file,
		    "note", "loopback only; pass -c FILE for a real deployment", NULL);
	if (daemon_load_dialback_secret(edge.cfg, &edge.dialback, err, sizeof(err)) < 0) {
		log_event(LOG_ERROR, "config.error", "error", err, NULL);
		goto done;
	}
	/* getrandom cannot fail for 32 bytes once the pool is initialised;
	 * without it tickets are refused after a reload, as before. */
	edge.ticket_memory_secret_set = getrandom(edge.ticket_memory_secret,
	    sizeof(edge.ticket_memory_secret), 0) == (ssize_t)sizeof(edge.ticket_memory_secret);
	if (!edge.ticket_memory_secret_set)
		log_event(LOG_WARN, "tls.ticket_keys", "reason", "no random secret: tickets do not "
		    "survive a reload", NULL);
	edge.certs = edge_certstore_load_keyed(edge.cfg,
	    edge.ticket_memory_secret_set ? edge.ticket_memory_secret : NULL,
	    sizeof(edge.ticket_memory_secret), err, sizeof(err));
	if (edge.certs == NULL) {
		log_event(LOG_ERROR, "config.error", "error", err, NULL);
		goto done;
	}
	/* The resolver for outgoing connections (dialback checks): from
	 * dns.servers, else /etc/resolv.conf, read before the drop. */
	{
		char why[256];

		if (dns_resolver_new(&loop, &edge.cfg->dns, &edge.dns, why, sizeof(why)) != 0) {
			log_event(LOG_ERROR, "config.error", "error", why, NULL);
			goto done;
		}
	}
	/* Already judged by the file checks of the load; resolved again
	 * here for its ids. */
	if (run_user_current(edge.cfg, &ru, err, sizeof(err)) < 0 ||
	    run_user_admin_group(edge.cfg, &edge.control_admin, err, sizeof(err)) < 0) {
		log_event(LOG_ERROR, "config.error", "error", err, NULL);
		goto done;
	}
	if (ru.demo_nobody)
		log_event(LOG_WARN, "daemon.demo_user", "user", "nobody", "reason",
		    "no account '" RUN_USER_DEFAULT "' (./build.sh run creates it); the demo only",
		    NULL);
	daemon_chown_state(edge.cfg, &ru, edge.control_admin.set ? edge.control_admin.gid : ru.gid);
	if (edge.cfg->listen.control[0])
		snprintf(edge.control_path, sizeof(edge.control_path), "%s", edge.cfg->listen.control);
	else if (snprintf(edge.control_path, sizeof(edge.control_path), "%s/control.sock",
	    edge.cfg->state_dir) >= (int)sizeof(edge.control_path)) {
		log_event(LOG_ERROR, "config.error", "error", "state_dir: path too long", NULL);
		goto done;
	}
	if (listener_open_all(&edge, err, sizeof(err)) < 0) {
		log_event(LOG_ERROR, "daemon.start_failed", "error", err, NULL);
		goto done;
	}
	if (metrics_open(&edge, err, sizeof(err)) < 0) {
		log_event(LOG_ERROR, "daemon.start_failed", "error", err, NULL);
		goto done;
	}
	/* Before the drop: as root the socket can be given to
	 * control.admin_group, which the service user is not a member of. */
	if (control_open(&edge, &ru, err, sizeof(err)) < 0) {
		log_event(LOG_ERROR, "daemon.start_failed", "error", err, NULL);
		goto done;
	}
	if (admin_open(&edge, &ru, err, sizeof(err)) < 0) {
		log_event(LOG_ERROR, "daemon.start_failed", "error", err, NULL);
		goto done;
	}
	handover_inherit_end();		/* what the configuration no longer has */
	if (run_user_drop(&ru, err, sizeof(err)) < 0) {
		log_event(LOG_ERROR, "daemon.start_failed", "error", err, NULL);
		goto done;
	}
	/* After the drop: the file is the daemon user's, as it wrote it. */
	edge_sessions_load(edge.cfg, edge.certs);
	/* After the drop: what `user` cannot read now, a reload could not. */
	if (blocklist_apply(&edge, 0, err, sizeof(err)) < 0) {
		log_event(LOG_ERROR, "daemon.start_failed", "error", err, NULL);
		goto done;
	}
	strangers_start(&edge);
	uv_signal_init(&loop, &edge.sig_term);
	uv_signal_init(&loop, &edge.sig_int);
	uv_signal_init(&loop, &edge.sig_hup);
	uv_signal_init(&loop, &edge.sig_usr2);
	uv_timer_init(&loop, &edge.shutdown_timer);
	edge.sig_term.data = edge.sig_int.data = edge.sig_hup.data = edge.sig_usr2.data = &edge;
	edge.shutdown_timer.data = &edge;
	uv_signal_start(&edge.sig_term, daemon_on_signal, SIGTERM);
	uv_signal_start(&edge.sig_int, daemon_on_signal, SIGINT);
	uv_signal_start(&edge.sig_hup, daemon_on_signal, SIGHUP);
	uv_signal_start(&edge.sig_usr2, daemon_on_signal, SIGUSR2);
	snprintf(edge.gateway_state, sizeof(edge.gateway_state), "%s",
	    edge.cfg->gateway.enabled ? "unchecked" : "none");
	daemon_check_gateway(&edge);
	/* After the drop: a reload re-arms as the same user. */
	cert_watch_apply(&edge);
	blocklist_watch_apply(&edge);
	log_event(LOG_INFO, "daemon.ready", "upgrade", handover_inherited() ? "yes" : NULL, NULL);
	if (handover_inherited())
		handover_report_ready();	/* the old process drains now */
	else
		(void)service_notify_ready();
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = 0;
	/* Every stream is closed: the cache holds what partners gave.  After
	 * an upgrade the new process has read the file already and owns it. */
	if (!edge.handed_over)
		edge_sessions_save(edge.cfg, edge.certs, "shutdown");
	log_event(LOG_INFO, "daemon.exit", NULL);
done:
	if (edge.dns != NULL) {
		dns_resolver_free(edge.dns);
		edge.dns = NULL;
	}
	/* On a failed start some handles may be open: close and drain. */
	listener_close_all(&edge);
	handover_close(&edge);
	control_close(&edge);
	admin_close(&edge);
	appliance_control_close(&edge);
	metrics_close(&edge);
	cert_watch_stop(&edge);		/* before the walk: its close callbacks free */
	ratelimit_free(edge.ratelimit);	/* the same: its timer's callback frees it */
	blocklist_stop(&edge);
	strangers_stop(&edge);
	uv_walk(&loop, daemon_close_walk, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		log_event(LOG_WARN, "daemon.loop_not_empty", NULL);
	metrics_observe_remove();
	listener_free_drained(&edge);
	s2s_pipe_pool_clear(&edge.pipe_pool);	/* every pipe is closed */
	mbedtls_platform_zeroize(edge.ticket_memory_secret, sizeof(edge.ticket_memory_secret));
	if (edge.certs != NULL)
		tls_certstore_unref(edge.certs);
	if (edge.admin_certs != NULL)
		tls_certstore_unref(edge.admin_certs);
	config_free(edge.cfg);
	tls_alloc_drain();
	return rc;
}
