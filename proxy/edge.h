/* SPDX-License-Identifier: Apache-2.0 */
/*
 * edge.h - the daemon's one context.
 *
 * struct edge holds everything the running proxy knows: the loop, the
 * active configuration, the listeners, the live streams and the control
 * socket.  It is created by daemon.c and passed explicitly to every
 * module; there is no other global state (log.c's level aside).
 */
#ifndef XE_EDGE_H
#define XE_EDGE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "admission.h"
#include "config.h"
#include "dialback.h"
#include "ratelimit.h"
#include "prefix_count.h"
#include "run_user.h"
#include "s2s_conn.h"
#include "sm.h"
#include "tls.h"

struct s2s_in;
struct s2s_out;
struct s2s_dialer;
struct route_slot;
struct listener;

enum listener_kind {
	LISTENER_STARTTLS,	/* RFC 6120 s2s, TLS negotiated in-stream */
	LISTENER_DIRECT_TLS,	/* XEP-0368 */
	LISTENER_INTERNAL,	/* the gateway's outgoing streams */
	LISTENER_INTERNAL_STARTTLS,	/* the same, TLS after <starttls/> */
};

/*
 * A listening socket.  listener.c accepts on it itself (a poll handle on
 * the socket) rather than through uv_listen(): libuv answers EMFILE by
 * accepting and closing every pending connection without telling anyone,
 * which resets the gateway's connection along with the attackers'.  Here
 * a failed accept is counted and logged, and accepting pauses briefly
 * with the connections left waiting in the kernel's backlog.
 */
struct listener {
	struct edge *edge;
	enum listener_kind kind;
	int fd;				/* the listening socket; closed with the handles */
	uv_poll_t poll;			/* readable: connections are waiting */
	uv_timer_t pause_timer;		/* accepting stopped after a failure */
	int handles_open;		/* poll + timer still to be closed */
	uint64_t pause_failures;	/* failed accepts since the pause began */
	/* External listeners: accepting stopped because
	 * limits.max_unauthenticated_streams are in their handshakes
	 * (listener.c); since when, in loop milliseconds. */
	int admission_waiting;
	uint64_t admission_wait_since_ms;
	char addr[64];
	struct listener *next;
};

/* The gateway's side: only streams accepted here may use the capacity
 * limits.internal_reserved_streams keeps back from remote servers. */
static inline int
listener_is_internal(const struct listener *l)
{
	return l->kind == LISTENER_INTERNAL || l->kind == LISTENER_INTERNAL_STARTTLS;
}

/* Which way a stanza crosses the edge, for the per-way counters below:
 * toward the gateway (a remote server's stanza for a hosted domain) or
 * toward a remote server (the gateway's).  The fault bed (tests/faults)
 * compares them with what its clients counted in each direction. */
enum edge_toward {
	EDGE_TOWARD_GATEWAY,
	EDGE_TOWARD_REMOTE,
	EDGE_TOWARD_COUNT
};

/* One way's outcomes: written to an outgoing stream, acknowledged by the
 * next hop (XEP-0198), handed to TCP unconfirmed, bounced (the bounce
 * counted by the way the bounced stanza was going, not the bounce's). */
struct edge_toward_stats {
	uint64_t delivered, acked, unconfirmed, bounced;
};

struct edge_stats {
	uint64_t streams_accepted;
	uint64_t streams_refused;	/* limits */
	uint64_t stream_errors_sent;
	uint64_t stanzas_in;
	uint64_t stanzas_routed;	/* queued toward a destination */
	uint64_t stanzas_delivered;	/* written to an outgoing stream */
	uint64_t stanzas_bounced;	/* error replies generated */
	uint64_t stanzas_unbounceable;	/* undeliverable errors, logged only */
	uint64_t streams_out;		/* outgoing streams started */
	uint64_t streams_out_failed;
	uint64_t dialback_verify_answered;
	uint64_t reads_paused;		/* backpressure: a source stopped */
	uint64_t stanzas_wrong_direction; /* stanzas a peer sent on a stream we opened (refused) */
	uint64_t bidi_stanzas_in;	/* XEP-0288: the peer's stanzas taken on our streams */
	uint64_t bidi_stanzas_out;	/* ... ours written back on the peer's streams */
	uint64_t bidi_refused;		/* ... the peer's refused on our streams (stream error) */
	uint64_t accept_failures;	/* accept() failed (EMFILE, ENFILE, ...) */
	uint64_t accept_pauses;		/* listeners stopped briefly after one */
	uint64_t admission_waits;	/* external listeners waiting for a handshake slot */
	/* XEP-0198 (sm.h): stanzas the next hop acknowledged with <a h/>;
	 * handed to TCP toward a peer without it (unconfirmed); streams that
	 * enabled it, inbound and outgoing; stanzas bounced because no ack
	 * came within limits.sm_settle_timeout_ms. */
	uint64_t stanzas_acked;
	uint64_t stanzas_unconfirmed;
	uint64_t sm_streams_in, sm_streams_out;
	uint64_t stanzas_settle_timeout;
	/* Neither delivered nor bounced (the bounce had no way back): left
	 * unacknowledged to a source with XEP-0198, whose stream was ended
	 * so that it bounces or resends them itself (s2s_in_custody_keep). */
	uint64_t stanzas_custody_kept;
	uint64_t shutdown_bounced;	/* still queued at the shutdown deadline: bounced */
	uint64_t shutdown_left_with_peer;	/* read while shutting down on a XEP-0198
					   stream, not taken: its peer keeps it */
	uint64_t shutdown_streams_aborted;	/* not closed by the end of shutdown */
	uint64_t upgrades_started;	/* `upgrade` / SIGUSR2: new process started */
	uint64_t upgrades_failed;	/* ... that never got ready (we went on) */
	struct edge_toward_stats toward[EDGE_TOWARD_COUNT];
};

/*
 * A graceful shutdown's steps (daemon.c, edge_shutdown): DRAIN waits for
 * what is in flight, BOUNCE sends back what could not be delivered in
 * time, CLOSE ends every stream; no new stream starts from CLOSE on.
 */
enum edge_shutdown_phase {
	EDGE_RUNNING,
	EDGE_SHUTDOWN_DRAIN,
	EDGE_SHUTDOWN_BOUNCE,
	EDGE_SHUTDOWN_CLOSE,
	EDGE_SHUTDOWN_DONE,
};

/* Counted from log events (metrics.c's observer), by their fields. */
#define EDGE_AUTH_COUNTS_MAX 48
#define EDGE_AUTH_WORD_MAX 24
struct edge_auth_count {
	char direction[4];		/* "in", "out" */
	char method[EDGE_AUTH_WORD_MAX];
	char result[EDGE_AUTH_WORD_MAX];
	uint64_t n;
};

struct edge_event_counts {
	uint64_t tls_handshakes_in, tls_handshakes_out, tls_handshakes_verify;
	/* Of those, resumed from a session ticket ("resumed" in the event). */
	uint64_t tls_resumed_in, tls_resumed_out, tls_resumed_verify;
	uint64_t tls_failures_in, tls_failures_out;
	uint64_t dialback_verify_started, dialback_verify_valid, dialback_verify_invalid,
	    dialback_verify_error;
	struct edge_auth_count auth[EDGE_AUTH_COUNTS_MAX];
	size_t nauth;
	uint64_t auth_dropped;		/* combinations past the table */
};

struct metrics_server;
struct cert_watch;
struct appliance_session;
struct admin_server;
struct blocklist;
struct blocklist_watch;
struct strangers_edge;
struct handover;

struct edge {
	uv_loop_t *loop;
	struct config *cfg;		/* owned; replaced on SIGHUP */
	struct tls_certstore *certs;	/* one reference; swapped on SIGHUP */
	struct dns_resolver *dns;	/* outgoing connections (dialback checks) */
	/* The resolve + connect step of outgoing streams (s2s_dial.h):
	 * NULL, the real one over dns; tests put a scripted one here. */
	struct s2s_dialer *dialer;
	unsigned dane_in_pending;	/* inbound TLSA lookups running (s2s_dane.c) */
	const char *config_path;	/* NULL: embedded default */
	time_t started;

	struct listener *listeners;	/* owned list */
	struct listener *drained_listeners;	/* closed by drain, freed at exit */
	struct s2s_in *streams;		/* owned list of live inbound streams */
	size_t stream_count;
	/* Of those, accepted on an external listener and not authenticated
	 * yet (limits.max_unauthenticated_streams). */
	size_t streams_unauthenticated;
	/* The loop's busy share, sampled by the external listeners before
	 * they accept (admission.h). */
	struct admission_load admission;
	/* External streams per IPv4 /32 and /24, IPv6 /128 and /64
	 * (limits.max_streams_per_ip and the prefix limits). */
	struct prefix_count peer_prefixes;
	struct s2s_out *out_streams;	/* owned list of outgoing streams */
	/* The routing table: the routable ones by (kind, local, remote)
	 * domain pair (router.c). */
#define EDGE_ROUTE_BUCKETS 4096
	struct route_slot *route_index[EDGE_ROUTE_BUCKETS];
	size_t out_stream_count;
	struct dialback_secret dialback;	/* XEP-0185 keys (ours) */
	/* Without tls.ticket_key_file, the session ticket keys of every
	 * certificate store this process loads are derived from this
	 * (random, made at start, never written anywhere): a reload that
	 * changes nothing a ticket is judged by keeps partners' tickets
	 * (edge_certs.h); a restart does not. */
#define EDGE_TICKET_MEMORY_SECRET_LEN 32
	uint8_t ticket_memory_secret[EDGE_TICKET_MEMORY_SECRET_LEN];
	int ticket_memory_secret_set;		/* 0: not made, never used */
	/* Rate limits per source prefix and remote domain, dialback
	 * check budgets included (ratelimit.h, dialback_budget.h). */
	struct ratelimit *ratelimit;
	/* Inbound streams with XEP-0198 on, by slot and generation: where
	 * an outgoing leg settles a stanza it was given (sm.h, custody). */
	struct sm_registry sm_registry;

	uv_pipe_t control;		/* admin socket */
	int control_open;
	struct run_user_group control_admin;	/* control.admin_group, at start */
	char control_path[CONFIG_PATH_MAX];

	struct admin_server *admin;	/* listen.admin, or NULL */
	struct tls_certstore *admin_certs;	/* its pins and certificate */
	int admin_key_generating;	/* a `cert csr` key is being made */

	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t shutdown_timer;
	int shutting_down;		/* a shutdown has begun (any phase) */
	enum edge_shutdown_phase shutdown_phase;
	int64_t shutting_down_since;	/* uv_now() at the start */
	int shutdown_forced;		/* CLOSE stopped waiting for acknowledgements */
	uv_signal_t sig_usr2;		/* `upgrade` (handover.c) */
	/* `upgrade` running or done (daemon/handover.c), or NULL. */
	struct handover *handover;
	/* The listening sockets now belong to the new process too: the
	 * control socket's path is its, not ours to unlink. */
	int handed_over;

	struct edge_stats stats;
	struct edge_event_counts events;
	/* The gateway left an unoffered XEP-0198 <enable/> unanswered
	 * (s2s_out.c): not asked again until the next start. */
	int gateway_sm_unanswered;
	/* It answered one with <enabled/>: it takes <enable/> from the
	 * other side of a stream, so its own streams into us may get one
	 * (s2s_in_sm.c). */
	int gateway_sm_answered;

	/* `xmpp-edge drain`: the external listeners are closed, live
	 * streams go on; until the next restart. */
	int draining;
	struct metrics_server *metrics;	/* metrics.listen, or NULL */
	struct cert_watch *cert_watch;	/* tls.watch_files, or NULL */
	/* `appliance update` in progress (appliance_control.c), or NULL. */
	struct appliance_session *appliance_update;
	struct blocklist *blocklist;	/* blocklist.file, or NULL (blocklist.h) */
	struct blocklist_watch *blocklist_watch;	/* polls it, or NULL */
	struct strangers_edge *strangers;	/* known contacts (strangers.h) */

	/* The last check of the link to the gateway (gateway_link.c). */
	struct gateway_link *gateway_check;	/* running, or NULL */
	char gateway_state[16];		/* "unchecked", "ok", "failed" */
	char gateway_detail[320];

	/* Shared by every TLS stream: records are consumed in the read
	 * callback, so one buffer serves all (no per-connection cost). */
	uint8_t read_buf[64 * 1024];
	/* Written requests every stream's next write reuses (s2s_conn.h). */
	struct s2s_pipe_pool pipe_pool;
	/* The loop's one prepare handle submitting every stream's gathered
	 * output once per turn (s2s_conn.h); zeroed is ready. */
	struct s2s_conn_flusher conn_flusher;
	/* Bumped whenever the configuration is replaced (edge_config_replace)
	 * or the blocklist is reloaded (blocklist_apply): what a stream
	 * decided under the old policy is stale (s2s_in.c). */
	uint64_t cfg_generation;
};

/* A reloaded configuration replaces the running one, which is freed;
 * decisions streams keep (their last stanza's addressing checks) are
 * made again under the new one. */
static inline void
edge_config_replace(struct edge *edge, struct config *next)
{
	config_free(edge->cfg);
	edge->cfg = next;
	edge->cfg_generation++;
}

#endif
