/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin.c - the remote admin listener (listen.admin): the control
 * socket's protocol over pinned mutual TLS 1.3, for an appliance that
 * has no shell.
 *
 * Who may talk: a client whose certificate key matches one of admin.pins
 * (with STATE_DIR/admin-pins, `cert pin --admin`; the gateway link's pin
 * machinery: tls_conn's pinned role, gateway_pins.c's file and overlap).
 * The TLS layer refuses a missing or unpinned client certificate, TLS
 * 1.2 and anything that is not a ClientHello in the handshake itself:
 * no byte of a request is read before the key is known.  Every refusal
 * and every request is an event (admin.refused, admin.request) with the
 * client's address, its pin, the command and the outcome.
 *
 * A connection's life (enum admin_conn_state, admin_conn_enter_state):
 *
 *   HANDSHAKE --pinned--> REQUEST --complete--> ANSWERED --> CLOSING
 *        \___ refused / timeout ________________________________/
 *
 * In REQUEST the bytes go through the framing parser (admin_proto.c)
 * to the command (admin_cmd.c).  Bounds: admin.max_connections at once
 * (more are closed on accept), admin.timeout_ms for the handshake and
 * between two reads, the line and payload bounds of admin_proto.h and
 * of each command.  Commands run synchronously on the loop: they are
 * short (a reload, a few files written and fsync'd).
 */
#include "admin.h"
#include "edge.h"
#include "control.h"
#include "daemon.h"
#include "handover.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin_cmd.h"
#include "admin_proto.h"
#include "certops.h"
#include "gateway_pins.h"
#include "log.h"
#include "netaddr.h"
#include "tls_uv.h"

/* The name in the generated admin certificate and the store's one
 * "domain": nothing checks it (clients pin the key or use a CA). */
#define ADMIN_CERT_NAME "admin.xmpp-edge.invalid"
#define ADMIN_CLOSE_GRACE_MS 2000	/* for close_notify after the answer */

enum admin_conn_state {
	ADMIN_CONN_HANDSHAKE,		/* TLS, the client's key not known yet */
	ADMIN_CONN_REQUEST,		/* pinned: reading one request */
	ADMIN_CONN_ANSWERED,		/* answer written, close_notify sent */
	ADMIN_CONN_CLOSING,		/* handles closing */
};

static const char *const admin_conn_state_names[] = {
	[ADMIN_CONN_HANDSHAKE] = "handshake",
	[ADMIN_CONN_REQUEST] = "request",
	[ADMIN_CONN_ANSWERED] = "answered",
	[ADMIN_CONN_CLOSING] = "closing",
};

struct admin_server;

struct admin_conn {
	struct tls_uv tu;		/* first: its handle is ours */
	struct admin_server *srv;
	uv_timer_t timer;		/* handshake / idle deadline */
	int handles_open;
	enum admin_conn_state state;
	struct admin_proto proto;
	struct admin_request req;
	int request_done;		/* the parser saw the whole request */
	char peer[64];
	char pin[TLS_PIN_B64_LEN + 1];
	struct admin_conn *next;
};

struct admin_listener {
	uv_tcp_t tcp;
	struct admin_server *srv;
	char addr[CONFIG_ADDR_MAX];
};

struct admin_server {
	struct edge *edge;
	struct admin_listener listeners[CONFIG_MAX_LISTEN];
	size_t nlisteners;
	size_t handles_open;		/* listeners still to close */
	struct admin_conn *conns;
	size_t nconns;
	int closing;
};

static void admin_conn_close(struct admin_conn *c, const char *reason);

static void
admin_conn_enter_state(struct admin_conn *c, enum admin_conn_state next)
{
	log_event(LOG_DEBUG, "admin.state", "peer", c->peer,
	    "from", admin_conn_state_names[c->state], "to", admin_conn_state_names[next], NULL);
	c->state = next;
}

static void
admin_paths(const struct config *cfg, char *cert, char *key, size_t cap)
{
	if (cfg->admin.cert[0])
		snprintf(cert, cap, "%s", cfg->admin.cert);
	else
		snprintf(cert, cap, "%s/admin.crt", cfg->state_dir);
	if (cfg->admin.key[0])
		snprintf(key, cap, "%s", cfg->admin.key);
	else
		snprintf(key, cap, "%s/admin.key", cfg->state_dir);
}

struct tls_certstore *
admin_certstore_load(const struct config *cfg, char *err, size_t errlen)
{
	const char *pins[GATEWAY_PINS_EFFECTIVE_MAX];
	char cert[CONFIG_PATH_MAX + 16], key[CONFIG_PATH_MAX + 16];
	char path[CONFIG_PATH_MAX + 32], why[CONFIG_ERR_MAX / 2];
	struct tls_cert_paths certs[1];
	struct tls_certstore_config tc;
	struct tls_certstore *store;
	struct gateway_pins *gp;
	struct run_user ru;

	admin_paths(cfg, cert, key, sizeof(cert));
	if (run_user_current(cfg, &ru, err, errlen) != 0)
		return NULL;
	if ((gp = calloc(1, sizeof(*gp))) == NULL || admin_pins_path(cfg, path, sizeof(path)) != 0 ||
	    gateway_pins_read(path, &ru, gp, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: admin.pins: %s", cfg->source, gp == NULL ?
		    "out of memory" : why);
		free(gp);
		return NULL;
	}
	memset(&tc, 0, sizeof(tc));
	certs[0].domain = ADMIN_CERT_NAME;
	certs[0].cert_path = cert;
	certs[0].key_path = key;
	tc.certs = certs;
	tc.ncerts = 1;
	/* No CA is consulted on a pinned role; the loader wants one: our
	 * own certificate, which grants nothing by itself. */
	tc.ca_file = cert;
	tc.npins = pins_effective((const char (*)[CONFIG_PIN_MAX])cfg->admin.pins,
	    cfg->admin.pin_count, gp, pins, GATEWAY_PINS_EFFECTIVE_MAX);
	tc.pins = pins;
	tc.internal_cert_path = cert;
	tc.internal_key_path = key;
	tc.internal_tls13_only = 1;
	store = tls_certstore_load(&tc, why, sizeof(why));
	free(gp);
	if (store == NULL && snprintf(err, errlen, "%s: admin: %s", cfg->source, why) >= (int)errlen)
		err[errlen - 1] = '\0';
	return store;
}

/* admin.cert/admin.key left to their defaults and absent: a self-signed
 * pair in the state directory, given to the daemon's user. */
static int
admin_cert_ensure(const struct config *cfg, const struct run_user *ru, char *err, size_t errlen)
{
	char cert[CONFIG_PATH_MAX + 16], key[CONFIG_PATH_MAX + 16], why[512];
	struct stat st;

	if (cfg->admin.cert[0] || cfg->admin.key[0])
		return 0;
	admin_paths(cfg, cert, key, sizeof(cert));
	if (stat(cert, &st) == 0 || stat(key, &st) == 0)
		return 0;
	if (tls_selfsigned_create(ADMIN_CERT_NAME, cert, key, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "admin: cannot create the admin certificate: %s", why);
		return -1;
	}
	if (ru->drop && (chown(cert, ru->uid, ru->gid) != 0 || chown(key, ru->uid, ru->gid) != 0)) {
		snprintf(err, errlen, "admin: cannot give %s to uid %u: %s", key,
		    (unsigned)ru->uid, strerror(errno));
		return -1;
	}
	log_event(LOG_INFO, "admin.cert_created", "cert", cert, "key", key, NULL);
	return 0;
}

/* --- connections ---------------------------------------------------------- */

static void
admin_conn_maybe_free(struct admin_conn *c)
{
	struct admin_server *srv = c->srv;
	struct admin_conn **pp;

	/* A command still working holds the connection until it answers
	 * (admin_conn_on_late_answer). */
	if (--c->handles_open > 0 || c->req.pending)
		return;
	for (pp = &srv->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	srv->nconns--;
	admin_request_cleanup(&c->req);
	free(c);
	/* The last connection of a closed server frees it. */
	if (srv->closing && srv->conns == NULL && srv->handles_open == 0)
		free(srv);
}

static void
admin_timer_closed(uv_handle_t *h)
{
	admin_conn_maybe_free(h->data);
}

static void
admin_conn_on_close(struct tls_uv *t, const char *reason)
{
	struct admin_conn *c = t->data;

	if (c->pin[0] == '\0' && c->state == ADMIN_CONN_HANDSHAKE)
		log_event(LOG_WARN, "admin.refused", "peer", c->peer, "reason",
		    reason != NULL ? reason : "closed during the handshake", NULL);
	else if (c->pin[0] != '\0' && !c->request_done)
		log_event(LOG_WARN, "admin.request", "peer", c->peer, "pin", c->pin,
		    "command", c->req.line[0] ? c->req.line : NULL, "outcome", "abandoned",
		    "error", c->proto.err[0] ? c->proto.err : reason, NULL);
	c->state = ADMIN_CONN_CLOSING;
	uv_close((uv_handle_t *)&c->timer, admin_timer_closed);
	admin_conn_maybe_free(c);
}

static void
admin_conn_close(struct admin_conn *c, const char *reason)
{
	if (c->state == ADMIN_CONN_CLOSING || c->tu.closing)
		return;
	tls_uv_close(&c->tu, reason);
}

static void
admin_conn_on_timeout(uv_timer_t *t)
{
	struct admin_conn *c = t->data;

	admin_conn_close(c, c->state == ADMIN_CONN_HANDSHAKE ? "handshake timeout" :
	    c->state == ADMIN_CONN_REQUEST ? "request timeout" : NULL);
}

/* Writes the answer, logs the request, sends close_notify. */
static void
admin_conn_answer(struct admin_conn *c, char *out, size_t len)
{
	admin_conn_enter_state(c, ADMIN_CONN_ANSWERED);
	log_event(c->req.outcome != NULL && (strcmp(c->req.outcome, "ok") == 0 ||
	    strcmp(c->req.outcome, "applied") == 0) ? LOG_INFO : LOG_WARN,
	    "admin.request", "peer", c->peer, "pin", c->pin, "command", c->req.line,
	    "outcome", c->req.outcome != NULL ? c->req.outcome : "failed",
	    "error", c->req.error[0] ? c->req.error : NULL, NULL);
	if (out == NULL) {
		admin_conn_close(c, "out of memory");
		return;
	}
	/* The write copies; anything may close c below: checked by state. */
	(void)tls_uv_write(&c->tu, (const uint8_t *)out, len);
	free(out);
	if (c->state != ADMIN_CONN_ANSWERED || c->tu.closing)
		return;
	tls_uv_shutdown(&c->tu);
	if (!c->tu.closing)
		uv_timer_start(&c->timer, admin_conn_on_timeout, ADMIN_CLOSE_GRACE_MS, 0);
}

static long long
admin_proto_on_line(void *ud, const char *line, char *err, size_t errlen)
{
	struct admin_conn *c = ud;

	return admin_request_begin(&c->req, c->srv->edge, line, err, errlen);
}

static int
admin_proto_on_part(void *ud, const char *name, const uint8_t *data, size_t len, char *err,
    size_t errlen)
{
	struct admin_conn *c = ud;

	return admin_request_part(&c->req, name, data, len, err, errlen);
}

static void
admin_proto_on_done(void *ud)
{
	struct admin_conn *c = ud;
	size_t len = 0;
	char *out;

	c->request_done = 1;
	out = admin_request_run(&c->req, &len);
	if (out == ADMIN_ANSWER_LATER) {
		/* The command works off the loop; no deadline meanwhile (its
		 * work is bounded), the answer comes through on_answer. */
		uv_timer_stop(&c->timer);
		return;
	}
	admin_conn_answer(c, out, len);
}

static void
admin_conn_on_late_answer(struct admin_request *r, char *out, size_t len)
{
	struct admin_conn *c = (struct admin_conn *)((char *)r - offsetof(struct admin_conn, req));

	if (c->state == ADMIN_CONN_CLOSING) {
		/* The client went away meanwhile: the handles are closed. */
		log_event(LOG_WARN, "admin.request", "peer", c->peer, "pin", c->pin, "command",
		    c->req.line, "outcome", c->req.outcome != NULL ? c->req.outcome : "failed",
		    "error", "the client left before the answer", NULL);
		free(out);
		c->handles_open++;
		admin_conn_maybe_free(c);
		return;
	}
	admin_conn_answer(c, out, len);
}

static const struct admin_proto_callbacks admin_proto_cb = {
	.on_line = admin_proto_on_line,
	.on_part = admin_proto_on_part,
	.on_done = admin_proto_on_done,
};

static void
admin_conn_on_handshake(struct tls_uv *t, const struct tls_verify_result *r)
{
	struct admin_conn *c = t->data;
	struct tls_certinfo *ci;
	const uint8_t *der;
	char why[160];
	size_t len;

	/* The pinned role completes only with a pinned key (tls_conn.c);
	 * the pin is taken from the certificate for the log. */
	(void)r;
	ci = calloc(1, sizeof(*ci));
	if (ci != NULL && tls_conn_peer_cert_der(t->conn, 0, &der, &len) == 0 &&
	    tls_certinfo_from_der(der, len, ci, why, sizeof(why)) == 0)
		snprintf(c->pin, sizeof(c->pin), "%s", ci->pin);
	else
		snprintf(c->pin, sizeof(c->pin), "?");
	free(ci);
	admin_conn_enter_state(c, ADMIN_CONN_REQUEST);
	log_event(LOG_INFO, "admin.connected", "peer", c->peer, "pin", c->pin,
	    "version", tls_conn_version(t->conn), NULL);
	uv_timer_start(&c->timer, admin_conn_on_timeout,
	    (uint64_t)c->srv->edge->cfg->admin.timeout_ms, 0);
}

static void
admin_conn_on_read(struct tls_uv *t, const uint8_t *data, size_t len)
{
	struct admin_conn *c = t->data;

	if (c->state != ADMIN_CONN_REQUEST || c->request_done) {
		/* One request: after the answer nothing more is read; while a
		 * command works off the loop, more bytes are dropped (the one
		 * answer is the command's). */
		if (c->state == ADMIN_CONN_ANSWERED)
			admin_conn_close(c, NULL);
		return;
	}
	/* Progress: the idle deadline starts again. */
	uv_timer_start(&c->timer, admin_conn_on_timeout,
	    (uint64_t)c->srv->edge->cfg->admin.timeout_ms, 0);
	if (admin_proto_feed(&c->proto, data, len) != 0 && c->state == ADMIN_CONN_REQUEST) {
		char *out;
		size_t olen = 0;

		/* A refused request still gets its sentence. */
		out = admin_answer(&c->req, "refused", c->proto.err, NULL, &olen);
		c->request_done = 1;
		admin_conn_answer(c, out, olen);
	}
}

static const struct tls_uv_callbacks admin_tls_cb = {
	.on_handshake = admin_conn_on_handshake,
	.on_read = admin_conn_on_read,
	.on_close = admin_conn_on_close,
};

static void
admin_refuse_closed(uv_handle_t *h)
{
	free(h);
}

static void
admin_on_connection(uv_stream_t *server, int status)
{
	struct admin_listener *l = server->data;
	struct admin_server *srv = l->srv;
	struct edge *edge = srv->edge;
	struct tls_conn_params params;
	struct sockaddr_storage ss;
	struct admin_conn *c;
	int sslen = sizeof(ss);
	char err[256];

	if (status < 0 || srv->closing)
		return;
	if (srv->nconns >= (size_t)edge->cfg->admin.max_connections) {
		uv_tcp_t *t = malloc(sizeof(*t));

		/* Accepted only to be closed: the backlog must not fill. */
		if (t != NULL && uv_tcp_init(edge->loop, t) == 0) {
			if (uv_accept(server, (uv_stream_t *)t) == 0)
				log_event(LOG_WARN, "admin.refused", "listener", l->addr, "reason",
				    "too many admin connections (admin.max_connections)", NULL);
			uv_close((uv_handle_t *)t, admin_refuse_closed);
		} else {
			free(t);
		}
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->srv = srv;
	if (tls_uv_init(edge->loop, &c->tu, &admin_tls_cb, c) != 0) {
		free(c);
		return;
	}
	uv_timer_init(edge->loop, &c->timer);
	c->timer.data = c;
	c->handles_open = 2;
	c->next = srv->conns;
	srv->conns = c;
	srv->nconns++;
	admin_proto_init(&c->proto, &admin_proto_cb, c);
	c->req.client_pin = c->pin;
	c->req.on_answer = admin_conn_on_late_answer;
	c->req.peer = c->peer;
	snprintf(c->peer, sizeof(c->peer), "?");
	if (uv_accept(server, (uv_stream_t *)tls_uv_tcp(&c->tu)) != 0) {
		admin_conn_close(c, "accept failed");
		return;
	}
	if (uv_tcp_getpeername(tls_uv_tcp(&c->tu), (struct sockaddr *)&ss, &sslen) == 0)
		netaddr_format((struct sockaddr *)&ss, c->peer, sizeof(c->peer));
	memset(&params, 0, sizeof(params));
	params.role = TLS_ROLE_INTERNAL_SERVER;
	params.peer_addr = c->peer;
	uv_timer_start(&c->timer, admin_conn_on_timeout, (uint64_t)edge->cfg->admin.timeout_ms, 0);
	if (tls_uv_start(&c->tu, edge->admin_certs, &params, NULL, 0, err, sizeof(err)) != 0)
		admin_conn_close(c, err);
}

/* --- the server ------------------------------------------------------------- */

int
admin_open(struct edge *edge, const struct run_user *ru, char *err, size_t errlen)
{
	const struct config *cfg = edge->cfg;
	struct admin_server *srv;
	char cert[CONFIG_PATH_MAX + 16], key[CONFIG_PATH_MAX + 16];
	char pin[TLS_PIN_B64_LEN + 1], why[256];
	size_t i;

	if (cfg->listen.admin_count == 0)
		return 0;
	if (admin_cert_ensure(cfg, ru, err, errlen) != 0)
		return -1;
	if ((edge->admin_certs = admin_certstore_load(cfg, err, errlen)) == NULL)
		return -1;
	if ((srv = calloc(1, sizeof(*srv))) == NULL) {
		snprintf(err, errlen, "admin: out of memory");
		return -1;
	}
	srv->edge = edge;
	edge->admin = srv;
	for (i = 0; i < cfg->listen.admin_count; i++) {
		struct admin_listener *l = &srv->listeners[i];
		struct sockaddr_storage ss;
		int r, fd;

		l->srv = srv;
		snprintf(l->addr, sizeof(l->addr), "%s", cfg->listen.admin[i]);
		if (netaddr_parse(l->addr, &ss, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "listen.admin: %s: %s", l->addr, why);
			return -1;
		}
		uv_tcp_init(edge->loop, &l->tcp);
		l->tcp.data = l;
		srv->nlisteners++;
		srv->handles_open++;
		/* An upgrade's new process serves on the old one's socket. */
		fd = handover_take_tcp("admin", l->addr, &ss);
		r = fd >= 0 ? uv_tcp_open(&l->tcp, fd) : uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, 0);
		if (r != 0 && fd >= 0)
			close(fd);
		if (r == 0)
			r = uv_listen((uv_stream_t *)&l->tcp, 16, admin_on_connection);
		if (r != 0) {
			snprintf(err, errlen, "listen.admin: cannot listen on %s: %s", l->addr,
			    uv_strerror(r));
			return -1;
		}
	}
	admin_paths(cfg, cert, key, sizeof(cert));
	if (tls_pin_of_cert_file(cert, pin, why, sizeof(why)) != 0)
		snprintf(pin, sizeof(pin), "?");
	for (i = 0; i < srv->nlisteners; i++)
		log_event(LOG_INFO, "admin.start", "addr", srv->listeners[i].addr,
		    "server_pin", pin, "cert", cert, NULL);
	return 0;
}

static void
admin_listener_closed(uv_handle_t *h)
{
	struct admin_listener *l = h->data;
	struct admin_server *srv = l->srv;

	if (--srv->handles_open == 0 && srv->conns == NULL)
		free(srv);
}

int
admin_listen_fd(const struct edge *edge, size_t i, const char **addr)
{
	uv_os_fd_t fd;

	if (edge->admin == NULL || i >= edge->admin->nlisteners ||
	    uv_fileno((const uv_handle_t *)&edge->admin->listeners[i].tcp, &fd) != 0)
		return -1;
	*addr = edge->admin->listeners[i].addr;
	return fd;
}

void
admin_close(struct edge *edge)
{
	struct admin_server *srv = edge->admin;
	struct admin_conn *c, *next;
	size_t i;

	if (srv == NULL)
		return;
	edge->admin = NULL;
	srv->closing = 1;
	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		admin_conn_close(c, "daemon stopping");
	}
	for (i = 0; i < srv->nlisteners; i++)
		uv_close((uv_handle_t *)&srv->listeners[i].tcp, admin_listener_closed);
	if (srv->nlisteners == 0)
		free(srv);
}
