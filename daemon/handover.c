/* SPDX-License-Identifier: Apache-2.0 */
/*
 * handover.c - upgrading the binary without refusing a connection.
 *
 * `xmpp-edge upgrade` (control socket) or SIGUSR2 makes the running
 * daemon start the executable it was started from (the path, so a new
 * binary installed there is what runs) as a child that inherits its
 * listening sockets: the s2s and internal listeners, the control socket,
 * the metrics and admin endpoints.  The child finds them by name in
 * XMPP_EDGE_HANDOVER ("FD:NAME;FD:NAME..."), checks each really is a
 * socket listening where its configuration says, and uses it instead of
 * binding; the rest it binds as at any start.  Once ready it writes
 * "READY=1" on a pipe the old process gave it and tells the service
 * manager its pid (MAINPID=, sd_notify).  Only then does the old process
 * stop accepting and drain (edge_shutdown): the sockets were never
 * closed, so a connection arriving during the swap waits in the one
 * kernel backlog both processes share and is accepted by one of them.
 * Nothing is refused or reset, and nothing needs root: the sockets are
 * inherited, not bound again (port 5269 after the privilege drop).
 *
 * Why not SO_REUSEPORT: the kernel spreads new connections over every
 * socket bound to the port, and closing the old process's socket resets
 * the connections queued on it (each socket has its own backlog); it
 * also lets any process of the same user bind the port alongside.  Why
 * a child and not a process started apart: systemd and the appliance's
 * init supervise one process; the child tells them it is the main one
 * now (MAINPID=), which both understand.
 *
 * If the child exits, closes the pipe, or is not ready within
 * HANDOVER_READY_TIMEOUT_MS, the upgrade failed: logged, counted, and the
 * old process goes on as if nothing happened.
 */
#include "handover.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin.h"
#include "daemon.h"
#include "edge_certs.h"
#include "metrics.h"
#include "log.h"
#include "service_notify.h"

extern char **environ;

#define HANDOVER_MAX_FDS 64
#define HANDOVER_NAME_MAX 160

/*
 * Facts about this process, not about the daemon's state: the executable
 * it was started from and what its parent handed it.  They come from the
 * process's start (like the environment they are read from), so they
 * live here and not in struct edge.
 */
static struct {
	char exe[PATH_MAX];
	int ready_fd;				/* the old process's pipe, or -1 */
	int inherited;
	size_t count;
	struct {
		int fd;				/* -1 once taken */
		char name[HANDOVER_NAME_MAX];
	} fds[HANDOVER_MAX_FDS];
} handover_self = { .ready_fd = -1 };

enum handover_phase {
	HANDOVER_STARTING,
	HANDOVER_READY,
	HANDOVER_FAILED,
};

struct handover {
	struct edge *edge;
	enum handover_phase phase;
	char why[160];
	uv_process_t proc;
	uv_pipe_t ready;			/* read end of the child's pipe */
	uv_timer_t timer;
	int handles_open;
	int exited;				/* proc's exit callback ran */
	int closing;				/* freed with its last handle */
	char line[32];
	size_t line_len;
};

/* --- the new process ---------------------------------------------------------- */

static void
handover_remember_exe(void)
{
	ssize_t n = readlink("/proc/self/exe", handover_self.exe, sizeof(handover_self.exe) - 1);
	static const char deleted[] = " (deleted)";

	if (n <= 0) {
		handover_self.exe[0] = '\0';
		return;
	}
	handover_self.exe[n] = '\0';
	/* Replaced on disk since we started: the path is still the one to
	 * run (an upgrade installs the new binary there). */
	if ((size_t)n > sizeof(deleted) - 1 &&
	    strcmp(handover_self.exe + n - (sizeof(deleted) - 1), deleted) == 0)
		handover_self.exe[n - (sizeof(deleted) - 1)] = '\0';
}

int
handover_inherit_begin(char *err, size_t errlen)
{
	const char *v = getenv(HANDOVER_ENV), *p;

	handover_remember_exe();
	if (v == NULL)
		return 0;
	handover_self.inherited = 1;
	for (p = v; *p != '\0';) {
		const char *colon = strchr(p, ':'), *end = strchr(p, ';');
		char *num_end;
		long fd;
		size_t len;

		if (end == NULL)
			end = p + strlen(p);
		fd = strtol(p, &num_end, 10);
		if (colon == NULL || colon > end || num_end != colon || fd < 0 || fd > INT_MAX ||
		    fcntl((int)fd, F_GETFD) < 0 || handover_self.count == HANDOVER_MAX_FDS ||
		    (len = (size_t)(end - colon - 1)) == 0 || len >= HANDOVER_NAME_MAX) {
			snprintf(err, errlen, "%s: malformed near '%.40s' (FD:NAME;...)", HANDOVER_ENV, p);
			return -1;
		}
		if (len == 5 && memcmp(colon + 1, "ready", 5) == 0) {
			handover_self.ready_fd = (int)fd;
		} else {
			handover_self.fds[handover_self.count].fd = (int)fd;
			memcpy(handover_self.fds[handover_self.count].name, colon + 1, len);
			handover_self.fds[handover_self.count].name[len] = '\0';
			handover_self.count++;
		}
		/* Not passed on to a process this one may start in turn. */
		(void)fcntl((int)fd, F_SETFD, FD_CLOEXEC);
		p = *end == ';' ? end + 1 : end;
	}
	unsetenv(HANDOVER_ENV);
	log_event(LOG_INFO, "daemon.upgrade.inherited", "sockets", v, NULL);
	return 0;
}

int
handover_inherited(void)
{
	return handover_self.inherited;
}

/* The inherited descriptor called name, taken out of the table; -1. */
static int
handover_take(const char *name)
{
	size_t i;
	int fd;

	for (i = 0; i < handover_self.count; i++) {
		if (handover_self.fds[i].fd < 0 || strcmp(handover_self.fds[i].name, name) != 0)
			continue;
		fd = handover_self.fds[i].fd;
		handover_self.fds[i].fd = -1;
		return fd;
	}
	return -1;
}

/* 1 if fd is a listening stream socket (SO_ACCEPTCONN). */
static int
handover_is_listening(int fd)
{
	int type = 0, acc = 0;
	socklen_t len = sizeof(type), alen = sizeof(acc);

	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM &&
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) == 0 && acc == 1;
}

static void
handover_refuse(int fd, const char *name, const char *why)
{
	log_event(LOG_WARN, "daemon.upgrade.socket_refused", "socket", name, "reason", why, NULL);
	close(fd);
}

int
handover_take_tcp(const char *kind, const char *addr, const struct sockaddr_storage *want)
{
	char name[HANDOVER_NAME_MAX];
	struct sockaddr_storage have;
	socklen_t len = sizeof(have);
	int fd, same;

	snprintf(name, sizeof(name), "%s %s", kind, addr);
	if ((fd = handover_take(name)) < 0)
		return -1;
	memset(&have, 0, sizeof(have));
	if (!handover_is_listening(fd) || getsockname(fd, (struct sockaddr *)&have, &len) != 0) {
		handover_refuse(fd, name, "not a listening socket");
		return -1;
	}
	if (have.ss_family == AF_INET && want->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&have, *b = (const void *)want;

		same = a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
	} else if (have.ss_family == AF_INET6 && want->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&have, *b = (const void *)want;

		same = a->sin6_port == b->sin6_port &&
		    memcmp(&a->sin6_addr, &b->sin6_addr, sizeof(a->sin6_addr)) == 0;
	} else {
		same = 0;
	}
	if (!same) {
		handover_refuse(fd, name, "bound to another address");
		return -1;
	}
	return fd;
}

int
handover_take_unix(const char *name, const char *path)
{
	struct sockaddr_un have;
	socklen_t len = sizeof(have);
	int fd;

	if ((fd = handover_take(name)) < 0)
		return -1;
	memset(&have, 0, sizeof(have));
	if (!handover_is_listening(fd) || getsockname(fd, (struct sockaddr *)&have, &len) != 0 ||
	    have.sun_family != AF_UNIX || strncmp(have.sun_path, path, sizeof(have.sun_path)) != 0) {
		handover_refuse(fd, name, "not a unix socket listening on that path");
		return -1;
	}
	return fd;
}

void
handover_inherit_end(void)
{
	size_t i;

	for (i = 0; i < handover_self.count; i++)
		if (handover_self.fds[i].fd >= 0) {
			handover_refuse(handover_self.fds[i].fd, handover_self.fds[i].name,
			    "not in this configuration");
			handover_self.fds[i].fd = -1;
		}
}

void
handover_report_ready(void)
{
	static const char ready[] = "READY=1\n";
	char msg[64];

	if (handover_self.ready_fd < 0)
		return;
	/* The service manager first: once the old process has the word it
	 * exits, and a supervisor that still took it for the main process
	 * would think the service died. */
	snprintf(msg, sizeof(msg), "MAINPID=%ld\nREADY=1", (long)getpid());
	(void)service_notify_send(msg);
	if (write(handover_self.ready_fd, ready, sizeof(ready) - 1) != (ssize_t)(sizeof(ready) - 1))
		log_event(LOG_WARN, "daemon.upgrade.ready_not_told", "reason", strerror(errno), NULL);
	close(handover_self.ready_fd);
	handover_self.ready_fd = -1;
}

/* --- the old process ---------------------------------------------------------- */

static void
handover_on_closed(uv_handle_t *h)
{
	struct handover *ho = h->data;

	if (--ho->handles_open > 0 || !ho->closing)
		return;
	if (ho->edge->handover == ho)
		ho->edge->handover = NULL;
	free(ho);
}

/* Closes what the upgrade still watches; the child runs on. */
static void
handover_close_handles(struct handover *ho)
{
	if (!uv_is_closing((uv_handle_t *)&ho->proc))
		uv_close((uv_handle_t *)&ho->proc, handover_on_closed);
	if (!uv_is_closing((uv_handle_t *)&ho->ready))
		uv_close((uv_handle_t *)&ho->ready, handover_on_closed);
	if (!uv_is_closing((uv_handle_t *)&ho->timer))
		uv_close((uv_handle_t *)&ho->timer, handover_on_closed);
}

static void
handover_fail(struct handover *ho, const char *why)
{
	char pid[24];

	if (ho->phase != HANDOVER_STARTING)
		return;
	ho->phase = HANDOVER_FAILED;
	snprintf(ho->why, sizeof(ho->why), "%s", why);
	snprintf(pid, sizeof(pid), "%d", ho->proc.pid);
	ho->edge->stats.upgrades_failed++;
	log_event(LOG_ERROR, "daemon.upgrade.failed", "pid", pid, "reason", why,
	    "result", "the running process goes on", NULL);
	if (!ho->exited)
		(void)uv_process_kill(&ho->proc, SIGTERM);
	handover_close_handles(ho);
}

/* The child is ready: it serves on the same sockets, so ours close and
 * this process drains (edge_shutdown). */
static void
handover_ready(struct handover *ho)
{
	struct edge *edge = ho->edge;
	char pid[24];

	ho->phase = HANDOVER_READY;
	snprintf(pid, sizeof(pid), "%d", ho->proc.pid);
	log_event(LOG_INFO, "daemon.upgrade.ready", "pid", pid, NULL);
	handover_close_handles(ho);
	edge->handed_over = 1;
	edge_shutdown(edge, "upgrade");
}

static void
handover_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct handover *ho = h->data;

	(void)suggested;
	*buf = uv_buf_init(ho->line + ho->line_len, (unsigned)(sizeof(ho->line) - 1 - ho->line_len));
}

static void
handover_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct handover *ho = s->data;

	(void)buf;
	if (ho->phase != HANDOVER_STARTING)
		return;
	if (n < 0) {
		/* Closed without READY=1: its exit (and status) is what to
		 * report, and follows; the deadline covers a child that
		 * closed the pipe and lives on. */
		uv_read_stop(s);
		return;
	}
	ho->line_len += (size_t)n;
	ho->line[ho->line_len] = '\0';
	if (strstr(ho->line, "READY=1\n") != NULL)
		handover_ready(ho);
	else if (ho->line_len == sizeof(ho->line) - 1)
		handover_fail(ho, "the new process said something else than READY=1");
}

static void
handover_on_exit(uv_process_t *p, int64_t status, int sig)
{
	struct handover *ho = p->data;
	char why[96];

	ho->exited = 1;
	if (sig != 0)
		snprintf(why, sizeof(why), "the new process was killed by signal %d before it was ready", sig);
	else
		snprintf(why, sizeof(why), "the new process exited with status %lld before it was ready "
		    "(its log says why)", (long long)status);
	handover_fail(ho, why);
}

static void
handover_on_timeout(uv_timer_t *t)
{
	handover_fail(t->data, "the new process was not ready within 30 s");
}

/* The descriptors to pass: every listening socket, by the name the
 * child looks it up with.  Returns how many (at most max). */
static size_t
handover_collect(struct edge *edge, int *fds, char (*names)[HANDOVER_NAME_MAX], size_t max)
{
	static const char *const kinds[] = {
		[LISTENER_STARTTLS] = "starttls", [LISTENER_DIRECT_TLS] = "direct_tls",
		[LISTENER_INTERNAL] = "internal", [LISTENER_INTERNAL_STARTTLS] = "internal_starttls",
	};
	const struct listener *l;
	const char *addr;
	uv_os_fd_t fd;
	size_t n = 0, i;

	for (l = edge->listeners; l != NULL && n < max; l = l->next)
		if (l->fd >= 0) {
			fds[n] = l->fd;
			snprintf(names[n++], HANDOVER_NAME_MAX, "%s %s", kinds[l->kind], l->addr);
		}
	if (edge->control_open && n < max && uv_fileno((uv_handle_t *)&edge->control, &fd) == 0) {
		fds[n] = fd;
		snprintf(names[n++], HANDOVER_NAME_MAX, "control");
	}
	if (n < max && (fds[n] = metrics_listen_fd(edge)) >= 0)
		snprintf(names[n++], HANDOVER_NAME_MAX, "metrics %s", edge->cfg->metrics.listen);
	for (i = 0; n < max && (fds[n] = admin_listen_fd(edge, i, &addr)) >= 0; i++)
		snprintf(names[n++], HANDOVER_NAME_MAX, "admin %s", addr);
	return n;
}

/* environ without HANDOVER_ENV, plus value; NULL when out of memory. */
static char **
handover_environ(const char *value)
{
	size_t n = 0, i, j = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	if ((env = calloc(n + 2, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (strncmp(environ[i], HANDOVER_ENV "=", sizeof(HANDOVER_ENV)) != 0)
			env[j++] = environ[i];
	env[j] = (char *)value;
	return env;
}

int
handover_start(struct edge *edge, int *pid, char *err, size_t errlen)
{
	char names[HANDOVER_MAX_FDS][HANDOVER_NAME_MAX];
	int fds[HANDOVER_MAX_FDS], pipefd[2] = { -1, -1 }, maxfd = 2, r;
	char *value = NULL, **env = NULL, *args[6];
	uv_stdio_container_t *stdio = NULL;
	uv_process_options_t opt;
	struct handover *ho = edge->handover;
	size_t n, i, cap, len;

	if (edge->shutting_down) {
		snprintf(err, errlen, "the daemon is shutting down");
		return -1;
	}
	if (ho != NULL && (ho->phase == HANDOVER_STARTING || ho->handles_open > 0)) {
		snprintf(err, errlen, "an upgrade is already under way (pid %d)", ho->proc.pid);
		return -1;
	}
	if (handover_self.exe[0] == '\0') {
		snprintf(err, errlen, "the path of this executable is unknown (/proc/self/exe)");
		return -1;
	}
	free(ho);
	edge->handover = NULL;
	n = handover_collect(edge, fds, names, HANDOVER_MAX_FDS);
	if (uv_pipe(pipefd, 0, 0) != 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	cap = sizeof(HANDOVER_ENV) + 32;
	for (i = 0; i < n; i++) {
		cap += HANDOVER_NAME_MAX + 16;
		if (fds[i] > maxfd)
			maxfd = fds[i];
	}
	if (pipefd[1] > maxfd)
		maxfd = pipefd[1];
	ho = calloc(1, sizeof(*ho));
	value = malloc(cap);
	stdio = calloc((size_t)maxfd + 1, sizeof(*stdio));
	if (ho == NULL || value == NULL || stdio == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	len = (size_t)snprintf(value, cap, "%s=%d:ready", HANDOVER_ENV, pipefd[1]);
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(value + len, cap - len, ";%d:%s", fds[i], names[i]);
	if ((env = handover_environ(value)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* Each descriptor keeps its number in the child (libuv clears
	 * FD_CLOEXEC on them there); the rest stay closed, stdio is ours. */
	for (i = 0; i <= (size_t)maxfd; i++)
		stdio[i].flags = UV_IGNORE;
	for (i = 0; i < 3; i++) {
		stdio[i].flags = UV_INHERIT_FD;
		stdio[i].data.fd = (int)i;
	}
	for (i = 0; i < n; i++) {
		stdio[fds[i]].flags = UV_INHERIT_FD;
		stdio[fds[i]].data.fd = fds[i];
	}
	stdio[pipefd[1]].flags = UV_INHERIT_FD;
	stdio[pipefd[1]].data.fd = pipefd[1];
	/* The new process loads them at its start: saved now, what the
	 * outgoing streams got from partners until this instant. */
	edge_sessions_save(edge->cfg, edge->certs, "upgrade");
	args[0] = handover_self.exe;
	args[1] = "run";
	args[2] = edge->config_path != NULL ? "-c" : "--state-dir";
	args[3] = edge->config_path != NULL ? (char *)edge->config_path : edge->cfg->state_dir;
	args[4] = NULL;
	memset(&opt, 0, sizeof(opt));
	opt.file = handover_self.exe;
	opt.args = args;
	opt.env = env;
	opt.exit_cb = handover_on_exit;
	opt.stdio_count = maxfd + 1;
	opt.stdio = stdio;
	ho->edge = edge;
	ho->phase = HANDOVER_STARTING;
	ho->proc.data = ho;
	r = uv_spawn(edge->loop, &ho->proc, &opt);
	if (r != 0) {
		snprintf(err, errlen, "cannot start %s: %s", handover_self.exe, uv_strerror(r));
		/* A failed spawn still leaves a handle to close. */
		ho->closing = 1;
		ho->handles_open = 1;
		uv_close((uv_handle_t *)&ho->proc, handover_on_closed);
		ho = NULL;
		goto fail;
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	ho->handles_open = 3;
	uv_pipe_init(edge->loop, &ho->ready, 0);
	ho->ready.data = ho;
	uv_timer_init(edge->loop, &ho->timer);
	ho->timer.data = ho;
	edge->handover = ho;
	edge->stats.upgrades_started++;
	if (uv_pipe_open(&ho->ready, pipefd[0]) != 0 ||
	    uv_read_start((uv_stream_t *)&ho->ready, handover_on_alloc, handover_on_read) != 0) {
		close(pipefd[0]);
		handover_fail(ho, "cannot watch the new process's pipe");
	} else {
		uv_timer_start(&ho->timer, handover_on_timeout, HANDOVER_READY_TIMEOUT_MS, 0);
	}
	*pid = ho->proc.pid;
	{
		char p[24], count[24];

		snprintf(p, sizeof(p), "%d", ho->proc.pid);
		snprintf(count, sizeof(count), "%zu", n);
		log_event(LOG_INFO, "daemon.upgrade.started", "pid", p, "binary", handover_self.exe,
		    "sockets", count, NULL);
	}
	free(env);
	free(value);
	free(stdio);
	return 0;
fail:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	free(ho);
	free(env);
	free(value);
	free(stdio);
	return -1;
}

void
handover_cancel(struct edge *edge)
{
	if (edge->handover != NULL && edge->handover->phase == HANDOVER_STARTING)
		handover_fail(edge->handover, "the daemon is shutting down");
}

void
handover_close(struct edge *edge)
{
	struct handover *ho = edge->handover;

	if (ho == NULL)
		return;
	handover_cancel(edge);
	ho->closing = 1;
	if (ho->handles_open == 0) {
		edge->handover = NULL;
		free(ho);
		return;
	}
	handover_close_handles(ho);
}

const char *
handover_state(const struct edge *edge)
{
	static char text[200];
	const struct handover *ho = edge->handover;

	if (ho == NULL)
		return "";
	if (ho->phase == HANDOVER_STARTING)
		return "starting";
	if (ho->phase == HANDOVER_READY)
		return "ready";
	snprintf(text, sizeof(text), "failed: %s", ho->why);
	return text;
}
