/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dns_tool.c - drives dns/ against a real DNS server for tests/dns/run.sh.
 *
 *   dns_tool resolve ARGS...          = `xmpp-edge resolve ARGS...`
 *   dns_tool weights --server S --runs N DOMAIN
 *        runs N discoveries on one resolver (answers cached after the
 *        first) and prints "TARGET COUNT" for the first candidate of each
 *   dns_tool connect --server S [--connect-timeout-ms N] [--stagger-ms N]
 *        [--refuse|--hang|--accept ADDR:PORT]... [--allow PREFIX]... [--next] DOMAIN
 *        makes the listed loopback endpoints refuse (nothing listening),
 *        hang (a listener whose accept queue is full: the kernel drops the
 *        SYNs) or accept, runs the connect sequence and prints
 *        "connected ADDR PORT TLS TARGET MS" (with --next: asks for the next
 *        connection until none is left) and finally "error: MSG MS" or
 *        "done".  Exit 0 if at least one connection was made.  The loopback
 *        endpoints are dialed only when an --allow prefix covers them
 *        (dns.allow_private_targets: DNS-derived loopback addresses are
 *        refused by default, dns/addrpolicy.c).
 *
 * Every mode ends with uv_loop_close() == 0: nothing may stay open.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns.h"
#include "resolve_cli.h"	/* cli/: the `resolve` command under test */

#define MAX_SOCKS 32

static uint64_t start_ns;

static unsigned
elapsed_ms(void)
{
	return (unsigned)((uv_hrtime() - start_ns) / 1000000);
}

static int
finish_loop(uv_loop_t *loop)
{
	uv_run(loop, UV_RUN_DEFAULT);
	if (uv_loop_close(loop) != 0) {
		fprintf(stderr, "dns_tool: handles left open on the loop\n");
		return 1;
	}
	return 0;
}

/* --- weights ---------------------------------------------------------------- */

struct tally {
	char name[MAX_SOCKS][DNS_NAME_MAX + 1];
	unsigned count[MAX_SOCKS];
	size_t n;
	int got_first, done;
	enum dns_error err;
};

static void
weights_cb(struct dns_discovery *d, const struct dns_candidate *c,
    enum dns_error err, void *arg)
{
	struct tally *t = arg;
	size_t i;

	if (c == NULL) {
		t->done = 1;
		t->err = err;
		return;
	}
	if (t->got_first++)
		return;
	for (i = 0; i < t->n; i++)
		if (strcmp(t->name[i], c->target) == 0)
			break;
	if (i == t->n && t->n < MAX_SOCKS)
		snprintf(t->name[t->n++], sizeof(t->name[0]), "%s", c->target);
	if (i < MAX_SOCKS)
		t->count[i]++;
}

static int
weights_main(int argc, char **argv)
{
	struct dns_config cfg;
	struct dns_resolver *r;
	struct tally t;
	uv_loop_t loop;
	unsigned runs = 1000, k;
	const char *domain = NULL;
	char err[256];
	size_t i;
	int rc = 0;

	dns_config_defaults(&cfg);
	memset(&t, 0, sizeof(t));
	for (i = 1; i < (size_t)argc; i++) {
		if (strcmp(argv[i], "--server") == 0 && i + 1 < (size_t)argc)
			dns_config_add_server(&cfg, argv[++i]);
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < (size_t)argc)
			runs = (unsigned)strtoul(argv[++i], NULL, 10);
		else
			domain = argv[i];
	}
	uv_loop_init(&loop);
	if (domain == NULL || dns_resolver_new(&loop, &cfg, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "weights: bad arguments\n");
		return 2;
	}
	for (k = 0; k < runs && rc == 0; k++) {
		struct dns_discovery *d;

		t.got_first = t.done = 0;
		if (dns_discover_start(r, domain, weights_cb, &t, &d) != DNS_OK) {
			rc = 1;
			break;
		}
		while (!t.done)
			uv_run(&loop, UV_RUN_ONCE);
		dns_discover_free(d);
		if (t.err != DNS_OK) {
			fprintf(stderr, "weights: %s\n", dns_error_str(t.err));
			rc = 1;
		}
	}
	for (i = 0; i < t.n; i++)
		printf("%s %u\n", t.name[i], t.count[i]);
	dns_resolver_free(r);
	return finish_loop(&loop) || rc;
}

/* --- connect ---------------------------------------------------------------- */

struct connect_run {
	int done;
	int connected;
	int want_next;
};

static void
connect_cb(struct dns_connect *dc, enum dns_error err, uv_tcp_t *tcp,
    const struct dns_candidate *c, void *arg)
{
	struct connect_run *run = arg;

	if (err != DNS_OK) {
		printf("error: %s %u\n", dns_error_str(err), elapsed_ms());
		run->done = 1;
		return;
	}
	printf("connected %s %u %s %s %u\n", c->addr_str, c->port,
	    dns_tls_mode_name(c->tls), c->target, elapsed_ms());
	run->connected++;
	dns_tcp_close_free(tcp);
	if (run->want_next)
		dns_connect_next(dc);
	else
		run->done = 1;
}

static int
parse_endpoint(const char *s, struct sockaddr_in *sin)
{
	char host[64];
	const char *colon = strrchr(s, ':');

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

/* A listener that accepts at the kernel level (backlog 128, never
 * accept()ed: the handshake completes, that is all the test needs) or, with
 * backlog 0 and one connection queued, one that drops further SYNs. */
static int
listener(const struct sockaddr_in *sin, int hang, int *socks, size_t *nsocks)
{
	int one = 1, fd, c;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)sin, sizeof(*sin)) < 0 ||
	    listen(fd, hang ? 0 : 128) < 0) {
		perror("listener");
		close(fd);
		return -1;
	}
	socks[(*nsocks)++] = fd;
	if (!hang)
		return 0;
	/* Fill the accept queue (backlog 0 holds one connection). */
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (const struct sockaddr *)sin, sizeof(*sin)) < 0) {
		perror("filler");
		return -1;
	}
	socks[(*nsocks)++] = c;
	c = socket(AF_INET, SOCK_STREAM, 0);
	fcntl(c, F_SETFL, O_NONBLOCK);
	(void)connect(c, (const struct sockaddr *)sin, sizeof(*sin));
	socks[(*nsocks)++] = c;
	return 0;
}

static int
connect_main(int argc, char **argv)
{
	struct dns_config cfg;
	struct dns_resolver *r;
	struct dns_connect *dc;
	struct connect_run run = { 0, 0, 0 };
	struct sockaddr_in sin;
	int socks[MAX_SOCKS];
	size_t nsocks = 0, i;
	const char *domain = NULL;
	uv_loop_t loop;
	char err[256];
	int rc;

	dns_config_defaults(&cfg);
	for (i = 1; i < (size_t)argc; i++) {
		const char *a = argv[i];
		int more = i + 1 < (size_t)argc;

		if (strcmp(a, "--server") == 0 && more) {
			dns_config_add_server(&cfg, argv[++i]);
		} else if (strcmp(a, "--connect-timeout-ms") == 0 && more) {
			cfg.connect_timeout_ms = (uint32_t)atoi(argv[++i]);
		} else if (strcmp(a, "--stagger-ms") == 0 && more) {
			cfg.stagger_ms = (uint32_t)atoi(argv[++i]);
		} else if (strcmp(a, "--refuse") == 0 && more) {
			i++;	/* nothing listens there */
		} else if ((strcmp(a, "--hang") == 0 || strcmp(a, "--accept") == 0) &&
		    more && nsocks + 3 <= MAX_SOCKS) {
			if (parse_endpoint(argv[i + 1], &sin) < 0 ||
			    listener(&sin, a[2] == 'h', socks, &nsocks) < 0) {
				fprintf(stderr, "connect: cannot set up %s\n", argv[i + 1]);
				return 2;
			}
			i++;
		} else if (strcmp(a, "--allow") == 0 && more &&
		    cfg.nallow_private_targets < DNS_ALLOW_PREFIXES_MAX) {
			snprintf(cfg.allow_private_targets[cfg.nallow_private_targets++],
			    DNS_PREFIX_STR_MAX, "%s", argv[++i]);
		} else if (strcmp(a, "--next") == 0) {
			run.want_next = 1;
		} else {
			domain = a;
		}
	}
	uv_loop_init(&loop);
	if (domain == NULL || dns_resolver_new(&loop, &cfg, &r, err, sizeof(err)) < 0) {
		fprintf(stderr, "connect: bad arguments %s\n", err);
		return 2;
	}
	start_ns = uv_hrtime();
	if (dns_connect_start(r, domain, connect_cb, &run, &dc) != DNS_OK) {
		fprintf(stderr, "connect: cannot start\n");
		return 2;
	}
	while (!run.done && uv_run(&loop, UV_RUN_ONCE) != 0)
		;
	dns_connect_free(dc);
	dns_resolver_free(r);
	rc = finish_loop(&loop);
	for (i = 0; i < nsocks; i++)
		close(socks[i]);
	fflush(stdout);
	return rc ? rc : run.connected ? 0 : 1;
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	start_ns = uv_hrtime();
	if (argc >= 2 && strcmp(argv[1], "resolve") == 0)
		return resolve_cli_main(argc - 1, argv + 1, NULL);
	if (argc >= 2 && strcmp(argv[1], "weights") == 0)
		return weights_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "connect") == 0)
		return connect_main(argc - 1, argv + 1);
	fprintf(stderr, "usage: dns_tool resolve|weights|connect ...\n");
	return 2;
}
