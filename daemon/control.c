/* SPDX-License-Identifier: Apache-2.0 */
/*
 * control.c - the admin socket and `xmpp-edge status`.
 *
 * A unix stream socket in the state directory (or listen.control), mode
 * 0660: only the daemon's user and group (and root) can talk to it.  The
 * protocol is one command line in, one JSON document out, then close:
 *
 *   status\n   ->  {"version": ..., "pid": ..., "streams": ...}
 *   reload\n   ->  {"result": "applied"} or {"result": "failed", "error": ...}
 *                  (configuration, certificates and pins, as SIGHUP;
 *                  what the `xmpp-edge cert` commands send)
 *   streams\n  ->  {"streams": [...]}: every live stream (stream_info.c)
 *   drain\n    ->  {"result": "applied", "listeners_closed": N, "streams": N}:
 *                  the external listeners close, live streams go on
 *
 * The socket is created with umask 0117 (0660) by the daemon before it
 * drops privileges and given to the service user and to
 * control.admin_group (else the service user's group); a client without
 * access gets EACCES, which the client side turns into a sentence naming
 * owner, group and mode.
 *
 * File modes are not the whole gate: a group is easily shared (the old
 * default nobody:nogroup was shared by every such service).  Each client
 * is asked its credentials (SO_PEERCRED, SO_PEERGROUPS) and served only
 * if it is root, the daemon's own uid, or has control.admin_group among
 * its groups; anyone else gets {"result":"refused","error":...} and the
 * log an event control.refused with its uid, gid and pid.
 *
 * The request is bounded (CONTROL_REQUEST_MAX) and a client that does not
 * send a full line in CONTROL_TIMEOUT_MS is dropped.
 */
#include "control.h"
#include "fdio.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <yajl/yajl_gen.h>

#include "appliance_update.h"
#include "blocklist.h"
#include "daemon.h"
#include "dns.h"
#include "handover.h"
#include "json_gen.h"
#include "log.h"
#include "ratelimit.h"
#include "router.h"
#include "stream_info.h"
#include "strangers.h"
#include "version.h"

/* One line; the longest is an `appliance update` chunk (base64 of
 * APPLIANCE_CHUNK_MAX bytes plus its token and offset). */
#define CONTROL_REQUEST_MAX (APPLIANCE_CHUNK_MAX / 3 * 4 + 256)
#define CONTROL_REPLY_MAX (64 * 1024)
#define CONTROL_TIMEOUT_MS 3000
#define CONTROL_PEER_GROUPS_MAX 256

/* Linux 4.13; musl's headers may lack the name. */
#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

struct control_client {
	struct edge *edge;
	uv_pipe_t pipe;
	uv_timer_t timer;
	int handles_open;
	char req[CONTROL_REQUEST_MAX];
	size_t len;
	int answered;
	int refused;			/* SO_PEERCRED said no: answer only that */
	char refused_why[160];
};

struct control_reply {
	uv_write_t req;
	struct control_client *c;
	char *data;
};

static void
control_client_on_closed(uv_handle_t *h)
{
	struct control_client *c = h->data;

	if (--c->handles_open == 0)
		free(c);
}

static void
control_client_close(struct control_client *c)
{
	if (uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	uv_close((uv_handle_t *)&c->pipe, control_client_on_closed);
	uv_close((uv_handle_t *)&c->timer, control_client_on_closed);
}

static void
gen_kv_str(yajl_gen g, const char *k, const char *v)
{
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
	yajl_gen_string(g, (const unsigned char *)v, strlen(v));
}

static void
gen_kv_int(yajl_gen g, const char *k, long long v)
{
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
	yajl_gen_integer(g, v);
}

/* The counters taken from log events and the resolver (metrics.c). */
static void
control_status_events(struct edge *edge, yajl_gen g)
{
	const struct edge_event_counts *ev = &edge->events;
	struct dns_stats ds;
	size_t i;

	gen_kv_int(g, "tls_handshakes_in", (long long)ev->tls_handshakes_in);
	gen_kv_int(g, "tls_handshakes_out", (long long)ev->tls_handshakes_out);
	gen_kv_int(g, "tls_handshakes_dialback_verify", (long long)ev->tls_handshakes_verify);
	gen_kv_int(g, "tls_resumed_in", (long long)ev->tls_resumed_in);
	gen_kv_int(g, "tls_resumed_out", (long long)ev->tls_resumed_out);
	gen_kv_int(g, "tls_resumed_dialback_verify", (long long)ev->tls_resumed_verify);
	memset(&ds, 0, sizeof(ds));
	if (edge->dns != NULL)
		dns_resolver_stats(edge->dns, &ds);
	gen_kv_int(g, "dns_lookups", (long long)ds.lookups);
	gen_kv_int(g, "dns_lookup_failures", (long long)ds.lookup_failures);
	yajl_gen_string(g, (const unsigned char *)"auth", 4);
	yajl_gen_array_open(g);
	for (i = 0; i < ev->nauth; i++) {
		yajl_gen_map_open(g);
		gen_kv_str(g, "direction", ev->auth[i].direction);
		gen_kv_str(g, "method", ev->auth[i].method);
		gen_kv_str(g, "result", ev->auth[i].result);
		gen_kv_int(g, "count", (long long)ev->auth[i].n);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

/* Rate limits (ratelimit.h): totals, and the domains ranked first by
 * stanzas, bytes, time paused or refusals (bounded: 4 x RATELIMIT_TOP_N). */
static void
control_status_ratelimit(struct edge *edge, yajl_gen g)
{
	const struct ratelimit_domain *top[4 * RATELIMIT_TOP_N];
	const struct ratelimit *rl = edge->ratelimit;
	size_t i, n;

	yajl_gen_string(g, (const unsigned char *)"rate_limits", 11);
	yajl_gen_map_open(g);
	if (rl != NULL) {
		gen_kv_int(g, "paused_now", (long long)ratelimit_paused_count(rl));
		gen_kv_int(g, "pauses", (long long)rl->stats.pauses);
		gen_kv_int(g, "paused_ms", (long long)rl->stats.paused_ms);
		gen_kv_int(g, "violations", (long long)rl->stats.violations);
		gen_kv_int(g, "streams_refused", (long long)rl->stats.streams_refused);
		gen_kv_int(g, "domain_evictions", (long long)rl->stats.domain_evictions);
		gen_kv_int(g, "prefix_evictions", (long long)rl->stats.prefix_evictions);
		yajl_gen_string(g, (const unsigned char *)"top_domains", 11);
		yajl_gen_array_open(g);
		n = ratelimit_top_domains(rl, top, sizeof(top) / sizeof(top[0]));
		for (i = 0; i < n; i++) {
			yajl_gen_map_open(g);
			gen_kv_str(g, "domain", top[i]->name);
			gen_kv_int(g, "stanzas", (long long)top[i]->stanzas_in);
			gen_kv_int(g, "bytes", (long long)top[i]->bytes_in);
			gen_kv_int(g, "pauses", (long long)top[i]->pauses);
			gen_kv_int(g, "paused_ms", (long long)top[i]->paused_ms);
			gen_kv_int(g, "refusals", (long long)top[i]->refusals);
			yajl_gen_map_close(g);
		}
		yajl_gen_array_close(g);
	}
	yajl_gen_map_close(g);
}

static char *
control_status_json(struct edge *edge, size_t *outlen)
{
	static const char *const kinds[] = { "starttls", "direct_tls", "internal", "internal_starttls" };
	const struct listener *l;
	yajl_gen g;
	size_t i;

	g = yajl_gen_alloc(NULL);
	if (g == NULL)
		return NULL;
	yajl_gen_map_open(g);
	gen_kv_str(g, "status", edge->shutting_down ? "stopping" : "running");
	gen_kv_str(g, "version", XMPP_EDGE_VERSION);
	gen_kv_int(g, "pid", (long long)getpid());
	gen_kv_int(g, "uptime_s", (long long)(time(NULL) - edge->started));
	gen_kv_str(g, "config", edge->cfg->source);
	gen_kv_int(g, "streams", (long long)edge->stream_count);
	gen_kv_int(g, "streams_accepted", (long long)edge->stats.streams_accepted);
	gen_kv_int(g, "streams_refused", (long long)edge->stats.streams_refused);
	gen_kv_int(g, "streams_unauthenticated", (long long)edge->streams_unauthenticated);
	gen_kv_int(g, "accept_failures", (long long)edge->stats.accept_failures);
	gen_kv_int(g, "accept_pauses", (long long)edge->stats.accept_pauses);
	gen_kv_int(g, "admission_waits", (long long)edge->stats.admission_waits);
	gen_kv_int(g, "stream_errors_sent", (long long)edge->stats.stream_errors_sent);
	gen_kv_int(g, "elements_in", (long long)edge->stats.stanzas_in);
	/* Routing: sent = delivered + bounced (+ still queued). */
	gen_kv_int(g, "streams_out", (long long)edge->out_stream_count);
	gen_kv_int(g, "streams_out_started", (long long)edge->stats.streams_out);
	gen_kv_int(g, "streams_out_failed", (long long)edge->stats.streams_out_failed);
	gen_kv_int(g, "stanzas_routed", (long long)edge->stats.stanzas_routed);
	gen_kv_int(g, "stanzas_delivered", (long long)edge->stats.stanzas_delivered);
	gen_kv_int(g, "stanzas_bounced", (long long)edge->stats.stanzas_bounced);
	gen_kv_int(g, "errors_not_bounced", (long long)edge->stats.stanzas_unbounceable);
	/* XEP-0198 and custody (issue 21). */
	gen_kv_int(g, "stanzas_acked", (long long)edge->stats.stanzas_acked);
	gen_kv_int(g, "stanzas_unconfirmed", (long long)edge->stats.stanzas_unconfirmed);
	gen_kv_int(g, "stanzas_settle_timeout", (long long)edge->stats.stanzas_settle_timeout);
	gen_kv_int(g, "stanzas_left_with_peer", (long long)edge->stats.shutdown_left_with_peer);
	gen_kv_int(g, "stanzas_custody_kept", (long long)edge->stats.stanzas_custody_kept);
	gen_kv_int(g, "stanzas_in_flight", (long long)router_in_flight(edge));
	gen_kv_int(g, "sm_streams_in", (long long)edge->stats.sm_streams_in);
	gen_kv_int(g, "sm_streams_out", (long long)edge->stats.sm_streams_out);
	gen_kv_int(g, "reads_paused", (long long)edge->stats.reads_paused);
	/* XEP-0288: stanzas that crossed a stream against its direction. */
	gen_kv_int(g, "bidi_stanzas_in", (long long)edge->stats.bidi_stanzas_in);
	gen_kv_int(g, "bidi_stanzas_out", (long long)edge->stats.bidi_stanzas_out);
	gen_kv_int(g, "bidi_refused", (long long)edge->stats.bidi_refused);
	gen_kv_int(g, "dialback_verify_answered", (long long)edge->stats.dialback_verify_answered);
	gen_kv_int(g, "draining", edge->draining);
	gen_kv_str(g, "upgrade", handover_state(edge));
	gen_kv_int(g, "stanzas_in_flight", (long long)router_in_flight(edge));
	control_status_events(edge, g);
	control_status_ratelimit(edge, g);
	blocklist_gen_status(edge, g);
	strangers_gen_status(edge, g);
	yajl_gen_string(g, (const unsigned char *)"gateway", 7);
	yajl_gen_map_open(g);
	gen_kv_str(g, "state", edge->gateway_state);
	gen_kv_str(g, "detail", edge->gateway_detail);
	yajl_gen_map_close(g);
	yajl_gen_string(g, (const unsigned char *)"domains", 7);
	yajl_gen_array_open(g);
	for (i = 0; i < edge->cfg->domain_count; i++)
		yajl_gen_string(g, (const unsigned char *)edge->cfg->domains[i].name,
		    strlen(edge->cfg->domains[i].name));
	yajl_gen_array_close(g);
	yajl_gen_string(g, (const unsigned char *)"listeners", 9);
	yajl_gen_array_open(g);
	for (l = edge->listeners; l != NULL; l = l->next) {
		yajl_gen_map_open(g);
		gen_kv_str(g, "kind", kinds[l->kind]);
		gen_kv_str(g, "addr", l->addr);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_string(g, (const unsigned char *)"stream_list", 11);
	stream_info_gen_list(edge, g);
	yajl_gen_map_close(g);
	return json_gen_finish(g, outlen);
}

static char *
control_streams_json(struct edge *edge, size_t *outlen)
{
	yajl_gen g = yajl_gen_alloc(NULL);

	if (g == NULL)
		return NULL;
	yajl_gen_map_open(g);
	yajl_gen_string(g, (const unsigned char *)"streams", 7);
	stream_info_gen_list(edge, g);
	yajl_gen_map_close(g);
	return json_gen_finish(g, outlen);
}

static char *
control_drain_json(struct edge *edge, size_t *outlen)
{
	size_t closed = edge_drain(edge);
	yajl_gen g = yajl_gen_alloc(NULL);

	if (g == NULL)
		return NULL;
	yajl_gen_map_open(g);
	gen_kv_str(g, "result", edge->shutting_down ? "failed" : "applied");
	if (edge->shutting_down)
		gen_kv_str(g, "error", "the daemon is shutting down");
	gen_kv_int(g, "listeners_closed", (long long)closed);
	gen_kv_int(g, "streams", (long long)(edge->stream_count + edge->out_stream_count));
	yajl_gen_map_close(g);
	return json_gen_finish(g, outlen);
}

/* {"result":RESULT} or {"result":RESULT,"error":ERROR}: "applied",
 * "failed" (reload) or "refused" (SO_PEERCRED). */
static char *
control_result_json(const char *result, const char *error, size_t *outlen)
{
	yajl_gen g;

	g = yajl_gen_alloc(NULL);
	if (g == NULL)
		return NULL;
	yajl_gen_map_open(g);
	gen_kv_str(g, "result", result);
	if (error != NULL)
		gen_kv_str(g, "error", error);
	yajl_gen_map_close(g);
	return json_gen_finish(g, outlen);
}

static void
control_on_written(uv_write_t *req, int status)
{
	struct control_reply *r = (struct control_reply *)req;

	(void)status;
	control_client_close(r->c);
	free(r->data);
	free(r);
}

static void
control_answer(struct control_client *c, char *data, size_t len)
{
	struct control_reply *r;
	uv_buf_t buf;

	c->answered = 1;
	uv_read_stop((uv_stream_t *)&c->pipe);
	r = calloc(1, sizeof(*r));
	if (r == NULL || data == NULL) {
		free(r);
		free(data);
		control_client_close(c);
		return;
	}
	r->c = c;
	r->data = data;
	buf = uv_buf_init(data, (unsigned)len);
	if (uv_write(&r->req, (uv_stream_t *)&c->pipe, &buf, 1, control_on_written) != 0) {
		free(r->data);
		free(r);
		control_client_close(c);
	}
}

/* `xmpp-edge upgrade`: the new process is started; the answer does not
 * wait for it (the CLI watches `status` for the new pid). */
static char *
control_upgrade_json(struct edge *edge, const char *origin, size_t *outlen)
{
	char err[256];
	int pid = 0, ok = handover_start(edge, &pid, err, sizeof(err)) == 0;
	yajl_gen g;

	log_event(ok ? LOG_INFO : LOG_WARN, "control.upgrade", "result", ok ? "started" : "failed",
	    "origin", origin, "error", ok ? NULL : err, NULL);
	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return NULL;
	yajl_gen_map_open(g);
	gen_kv_str(g, "result", ok ? "started" : "failed");
	if (ok)
		gen_kv_int(g, "pid", pid);
	else
		gen_kv_str(g, "error", err);
	yajl_gen_map_close(g);
	return json_gen_finish(g, outlen);
}

/* Requests served by the file of their role, by the line's first word. */
static const struct control_handler {
	const char *prefix;
	char *(*handle)(struct edge *edge, const char *line, size_t *outlen);
} control_handlers[] = {
	{ "appliance ", appliance_control_request },	/* appliance_control.c */
};

int
control_execute(struct edge *edge, const char *command, const char *origin, char **out,
    size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	if (strcmp(command, "status") == 0) {
		*out = control_status_json(edge, outlen);
	} else if (strcmp(command, "streams") == 0) {
		*out = control_streams_json(edge, outlen);
	} else if (strcmp(command, "strangers list") == 0 || strcmp(command, "strangers clear") == 0) {
		*out = strangers_control(edge, command + strlen("strangers "), outlen);
	} else if (strcmp(command, "drain") == 0) {
		*out = control_drain_json(edge, outlen);
	} else if (strcmp(command, "upgrade") == 0) {
		*out = control_upgrade_json(edge, origin, outlen);
	} else if (strcmp(command, "reload") == 0) {
		char err[CONFIG_ERR_MAX];
		int ok = edge_reload(edge, err, sizeof(err)) == 0;

		log_event(LOG_INFO, "control.reload", "result", ok ? "applied" : "failed",
		    "origin", origin, NULL);
		*out = control_result_json(ok ? "applied" : "failed", ok ? NULL : err, outlen);
	} else {
		size_t i;

		for (i = 0; i < sizeof(control_handlers) / sizeof(control_handlers[0]); i++) {
			const struct control_handler *h = &control_handlers[i];

			if (strncmp(command, h->prefix, strlen(h->prefix)) == 0) {
				*out = h->handle(edge, command, outlen);
				return 0;
			}
		}
		return -1;
	}
	return 0;
}

static void
control_dispatch(struct control_client *c)
{
	size_t len = 0;
	char *out;

	if (c->refused) {
		out = control_result_json("refused", c->refused_why, &len);
	} else if (control_execute(c->edge, c->req, "socket", &out, &len) != 0) {
		static const char unknown[] = "{\"error\":\"unknown command\"}\n";
		log_event(LOG_WARN, "control.bad_command", NULL);
		out = strdup(unknown);
		len = sizeof(unknown) - 1;
	}
	control_answer(c, out, len);
}

static void
control_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct control_client *c = h->data;

	(void)suggested;
	*buf = uv_buf_init(c->req + c->len, (unsigned)(sizeof(c->req) - 1 - c->len));
}

static void
control_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct control_client *c = stream->data;
	char *nl;

	(void)buf;
	if (nread < 0 || (nread == 0 && c->len == sizeof(c->req) - 1)) {
		control_client_close(c);
		return;
	}
	c->len += (size_t)nread;
	c->req[c->len] = '\0';
	nl = memchr(c->req, '\n', c->len);
	if (nl != NULL) {
		*nl = '\0';
		control_dispatch(c);
	} else if (c->len == sizeof(c->req) - 1) {
		control_client_close(c);	/* no line within the bound */
	}
}

static void
control_on_timeout(uv_timer_t *t)
{
	struct control_client *c = t->data;

	if (!c->answered)
		control_client_close(c);
}

/* 1 if the peer's supplementary groups (SO_PEERGROUPS) include gid. */
static int
control_peer_in_group(int fd, gid_t gid)
{
	gid_t groups[CONTROL_PEER_GROUPS_MAX];
	socklen_t len = sizeof(groups);
	size_t i;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) != 0)
		return 0;	/* ERANGE (more groups than we ask for) or old kernel */
	for (i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

/*
 * Root, the daemon's uid, or a member of control.admin_group (primary or
 * supplementary group of the connecting process); else the reason in why.
 */
static int
control_peer_allowed(struct edge *edge, int fd, char *why, size_t whylen)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char uid[16], gid[16], pid[16];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		snprintf(why, whylen, "refused: the client's credentials are unknown (%s)",
		    strerror(errno));
		log_event(LOG_WARN, "control.refused", "reason", why, NULL);
		return 0;
	}
	if (cred.uid == 0 || cred.uid == geteuid())
		return 1;
	if (edge->control_admin.set && (cred.gid == edge->control_admin.gid ||
	    control_peer_in_group(fd, edge->control_admin.gid)))
		return 1;
	snprintf(why, whylen, "refused: uid %u is not root, the daemon's user (uid %u) or a "
	    "member of control.admin_group%s%s", (unsigned)cred.uid, (unsigned)geteuid(),
	    edge->control_admin.set ? "" : " (", edge->control_admin.set ? "" : "not set)");
	snprintf(uid, sizeof(uid), "%u", (unsigned)cred.uid);
	snprintf(gid, sizeof(gid), "%u", (unsigned)cred.gid);
	snprintf(pid, sizeof(pid), "%d", (int)cred.pid);
	log_event(LOG_WARN, "control.refused", "uid", uid, "gid", gid, "pid", pid,
	    "reason", "not root, the daemon's user or a member of control.admin_group", NULL);
	return 0;
}

static void
control_on_connection(uv_stream_t *server, int status)
{
	struct edge *edge = server->data;
	struct control_client *c;
	uv_os_fd_t fd;

	if (status < 0)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->edge = edge;
	uv_pipe_init(edge->loop, &c->pipe, 0);
	uv_timer_init(edge->loop, &c->timer);
	c->pipe.data = c;
	c->timer.data = c;
	c->handles_open = 2;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0 ||
	    uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0) {
		control_client_close(c);
		return;
	}
	uv_timer_start(&c->timer, control_on_timeout, CONTROL_TIMEOUT_MS, 0);
	/* A refused client still has its line read, so that it reads the
	 * refusal rather than a broken pipe on its write. */
	c->refused = !control_peer_allowed(edge, fd, c->refused_why, sizeof(c->refused_why));
	if (uv_read_start((uv_stream_t *)&c->pipe, control_on_alloc, control_on_read) != 0)
		control_client_close(c);
}

/* socket + bind + listen on path, created 0660 from the start (umask),
 * not chmod'ed after bind: no moment where others could connect.  Bound
 * here rather than by uv_pipe_bind, whose close unlinks the file: after
 * an upgrade the file is the new process's socket.  -1 with errno. */
static int
control_socket_bind(const char *path)
{
	struct sockaddr_un sun;
	mode_t old_umask;
	int fd, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));	/* length checked by the caller */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	old_umask = umask(0117);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 16) < 0) {
		saved = errno;
		umask(old_umask);
		close(fd);
		errno = saved;
		return -1;
	}
	umask(old_umask);
	return fd;
}

int
control_open(struct edge *edge, const struct run_user *ru, char *err, size_t errlen)
{
	struct sockaddr_un probe;
	int r, fd, inherited;

	if (strlen(edge->control_path) >= sizeof(probe.sun_path)) {
		snprintf(err, errlen, "listen.control: '%s' is longer than a unix socket path may be",
		    edge->control_path);
		return -1;
	}
	/* An upgrade's new process serves on the old one's socket: same
	 * file, same owner and mode, no moment without it. */
	fd = handover_take_unix("control", edge->control_path);
	inherited = fd >= 0;
	if (!inherited) {
		/* A socket file left by a crashed daemon would make bind
		 * fail; removing it is safe because the state directory is
		 * ours. */
		unlink(edge->control_path);
		fd = control_socket_bind(edge->control_path);
	}
	if (fd < 0) {
		snprintf(err, errlen, "listen.control: cannot listen on %s: %s",
		    edge->control_path, strerror(errno));
		return -1;
	}
	uv_pipe_init(edge->loop, &edge->control, 0);
	edge->control.data = edge;
	r = uv_pipe_open(&edge->control, fd);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&edge->control, 16, control_on_connection);
	if (r != 0) {
		snprintf(err, errlen, "listen.control: cannot listen on %s: %s",
		    edge->control_path, uv_strerror(r));
		uv_close((uv_handle_t *)&edge->control, NULL);
		if (!inherited)
			unlink(edge->control_path);
		return -1;
	}
	if (!inherited) {
		chmod(edge->control_path, 0660);
		/* As root, for the user we are about to become; lchown: the
		 * service user may own the directory and put a symlink in its
		 * place. */
		if (ru->drop && lchown(edge->control_path, ru->uid, edge->control_admin.set ?
		    edge->control_admin.gid : ru->gid) != 0) {
			snprintf(err, errlen, "listen.control: cannot give %s to uid %u: %s",
			    edge->control_path, (unsigned)ru->uid, strerror(errno));
			uv_close((uv_handle_t *)&edge->control, NULL);
			unlink(edge->control_path);
			return -1;
		}
	}
	edge->control_open = 1;
	log_event(LOG_INFO, "control.start", "path", edge->control_path,
	    "inherited", inherited ? "yes" : NULL, NULL);
	return 0;
}

void
control_close(struct edge *edge)
{
	if (!edge->control_open)
		return;
	edge->control_open = 0;
	uv_close((uv_handle_t *)&edge->control, NULL);
	/* After an upgrade the file is the new process's socket too. */
	if (!edge->handed_over)
		unlink(edge->control_path);
}

/* EACCES on connect: the socket (0660) or the state directory (0750)
 * is closed to this user.  Says which, with its owner and mode. */
static void
control_client_explain_eacces(const char *socket_path, char *err, size_t errlen)
{
	char dir[CONFIG_PATH_MAX], *slash;
	const char *what = "the control socket";
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", socket_path);
	if ((slash = strrchr(dir, '/')) != NULL)
		*(slash == dir ? slash + 1 : slash) = '\0';
	if (stat(socket_path, &st) != 0) {
		what = "the directory of the control socket";
		if (slash == NULL || stat(dir, &st) != 0) {
			snprintf(err, errlen, "permission denied on the control socket %s: run "
			    "this as root or as the daemon's user or group", socket_path);
			return;
		}
	}
	snprintf(err, errlen, "permission denied on the control socket %s: %s%s%s is "
	    "owner uid %u, group gid %u, mode %04o: run this as root, as that user or as "
	    "a member of that group", socket_path, what, slash != NULL && S_ISDIR(st.st_mode) ? " " : "",
	    slash != NULL && S_ISDIR(st.st_mode) ? dir : "", (unsigned)st.st_uid,
	    (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777));
}

int
control_client_request(const char *socket_path, const char *command,
    char *reply, size_t cap, char *err, size_t errlen)
{
	return control_client_request_timeout(socket_path, command, reply, cap, CONTROL_TIMEOUT_MS,
	    err, errlen);
}

int
control_client_request_timeout(const char *socket_path, const char *command, char *reply,
    size_t cap, int timeout_ms, char *err, size_t errlen)
{
	static const char refused[] = "{\"result\":\"refused\",\"error\":\"";
	size_t got = 0;
	struct sockaddr_un sun;
	int fd, rc = -1;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(socket_path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", socket_path);
		return -1;
	}
	memcpy(sun.sun_path, socket_path, strlen(socket_path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		/* The socket is 0660 and owned by the daemon's user and group:
		 * say who may use it rather than a bare "Permission denied". */
		if (errno == EACCES)
			control_client_explain_eacces(socket_path, err, errlen);
		else
			snprintf(err, errlen, "no daemon answers on %s: %s", socket_path,
			    strerror(errno));
		goto done;
	}
	if (fd_write_all(fd, command, strlen(command)) != 0 ||
	    fd_write_all(fd, "\n", 1) != 0) {
		snprintf(err, errlen, "cannot write to %s: %s", socket_path, strerror(errno));
		goto done;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, timeout_ms) <= 0) {
			snprintf(err, errlen, "no answer on %s within %d ms", socket_path,
			    timeout_ms);
			goto done;
		}
		n = read(fd, reply + got, cap - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == cap - 1)
			break;
	}
	reply[got] = '\0';
	if (got == 0) {
		snprintf(err, errlen, "the daemon on %s closed without answering", socket_path);
		goto done;
	}
	/* {"result":"refused","error":"refused: ..."}, written by the daemon
	 * with yajl_gen (no spaces, the reason a plain sentence). */
	if (strncmp(reply, refused, sizeof(refused) - 1) == 0) {
		const char *why = reply + sizeof(refused) - 1;

		snprintf(err, errlen, "the daemon on %s %.*s", socket_path,
		    (int)strcspn(why, "\""), why);
		goto done;
	}
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	return rc;
}

int
control_client_command(const char *socket_path, const char *command, int quiet)
{
	char reply[CONTROL_REPLY_MAX], err[CONFIG_PATH_MAX + 256];
	int rc = 1;

	if (control_client_request(socket_path, command, reply, sizeof(reply), err,
	    sizeof(err)) < 0) {
		if (!quiet)
			fprintf(stderr, "xmpp-edge: %s\n", err);
		return 1;
	}
	/* The daemon writes these keys itself with yajl_gen (no spaces). */
	if (strstr(reply, "\"status\":\"running\"") != NULL ||
	    strstr(reply, "\"result\":\"applied\"") != NULL)
		rc = 0;
	if (!quiet)
		fputs(reply, stdout);
	return rc;
}
