/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_dns_resolver.c - life cycle of the resolver, discovery and connect
 * sequence on a real uv loop, without a DNS server: cancelling at once,
 * refusing bad names synchronously, a server port that refuses (ICMP on
 * loopback), and every test ending with uv_loop_close() == 0.  The cases
 * with answers run against dnsmasq in tests/dns/run.sh.
 */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns_internal.h"

/* A loopback UDP port nobody listens on (bound, then released). */
static int
closed_udp_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0), port;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	REQUIRE(fd >= 0);
	REQUIRE(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	REQUIRE(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static struct dns_resolver *
resolver_on(uv_loop_t *loop, struct dns_config *cfg)
{
	struct dns_resolver *r;
	char server[64], err[256];

	dns_config_defaults(cfg);
	snprintf(server, sizeof(server), "127.0.0.1:%d", closed_udp_port());
	dns_config_add_server(cfg, server);
	cfg->timeout_ms = 300;
	cfg->tries = 1;
	REQUIRE(uv_loop_init(loop) == 0);
	REQUIRE(dns_resolver_new(loop, cfg, &r, err, sizeof(err)) == 0);
	return r;
}

struct disc_result {
	int calls, finals;
	enum dns_error err;
};

static void
disc_cb(struct dns_discovery *d, const struct dns_candidate *c,
    enum dns_error err, void *arg)
{
	struct disc_result *res = arg;

	res->calls++;
	if (c == NULL) {
		res->finals++;
		res->err = err;
		dns_discover_free(d);	/* allowed inside the callback */
	}
}

TEST(dns_resolver_new_rejects_bad_config)
{
	struct dns_config cfg;
	struct dns_resolver *r = (struct dns_resolver *)1;
	uv_loop_t loop;
	char err[256];

	REQUIRE(uv_loop_init(&loop) == 0);
	dns_config_defaults(&cfg);
	dns_config_add_server(&cfg, "localhost:53");
	CHECK(dns_resolver_new(&loop, &cfg, &r, err, sizeof(err)) < 0);
	CHECK(r == NULL);
	CHECK(strstr(err, "dns.servers[0]") != NULL);
	CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

TEST(dns_discover_bad_name_is_synchronous)
{
	struct dns_config cfg;
	uv_loop_t loop;
	struct dns_resolver *r = resolver_on(&loop, &cfg);
	struct dns_discovery *d = (struct dns_discovery *)1;
	struct dns_connect *dc = (struct dns_connect *)1;
	struct disc_result res = { 0, 0, DNS_OK };
	char longname[300];

	CHECK_INT_EQ(dns_discover_start(r, "a..b", disc_cb, &res, &d), DNS_ERR_BAD_NAME);
	CHECK(d == NULL);
	/* fits DNS_NAME_MAX but not with "_xmpps-server._tcp." in front */
	memset(longname, 'a', 240);
	memcpy(longname + 60, ".", 1);
	memcpy(longname + 120, ".", 1);
	memcpy(longname + 180, ".", 1);
	longname[240] = '\0';
	CHECK_INT_EQ(dns_discover_start(r, longname, disc_cb, &res, &d), DNS_ERR_BAD_NAME);
	CHECK_INT_EQ(dns_connect_start(r, "", NULL, NULL, &dc), DNS_ERR_BAD_NAME);
	CHECK(dc == NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	CHECK_INT_EQ(res.calls, 0);
	dns_resolver_free(r);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

TEST(dns_discover_cancel_at_once)
{
	struct dns_config cfg;
	uv_loop_t loop;
	struct dns_resolver *r = resolver_on(&loop, &cfg);
	struct dns_discovery *d;
	struct disc_result res = { 0, 0, DNS_OK };

	REQUIRE(dns_discover_start(r, "example.net", disc_cb, &res, &d) == DNS_OK);
	dns_discover_free(d);
	/* the queries are in c-ares's hands; their answers must go nowhere */
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(res.calls, 0);
	dns_resolver_free(r);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

TEST(dns_discover_unreachable_server_fails_in_bounded_time)
{
	struct dns_config cfg;
	uv_loop_t loop;
	struct dns_resolver *r = resolver_on(&loop, &cfg);
	struct dns_discovery *d;
	struct disc_result res = { 0, 0, DNS_OK };
	uint64_t t0 = uv_hrtime();

	REQUIRE(dns_discover_start(r, "example.net", disc_cb, &res, &d) == DNS_OK);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(res.finals, 1);
	CHECK_INT_EQ(res.calls, 1);
	CHECK(res.err == DNS_ERR_NO_SERVER || res.err == DNS_ERR_TIMEOUT);
	CHECK(dns_error_is_timeout(res.err));
	CHECK((uv_hrtime() - t0) / 1000000 < 5000);
	dns_resolver_free(r);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

struct conn_result {
	int calls;
	enum dns_error err;
};

static void
conn_cb(struct dns_connect *dc, enum dns_error err, uv_tcp_t *tcp,
    const struct dns_candidate *c, void *arg)
{
	struct conn_result *res = arg;

	res->calls++;
	res->err = err;
	if (tcp != NULL)
		dns_tcp_close_free(tcp);
	dns_connect_free(dc);	/* allowed inside the callback */
}

TEST(dns_connect_dns_failure_and_cancel)
{
	struct dns_config cfg;
	uv_loop_t loop;
	struct dns_resolver *r = resolver_on(&loop, &cfg);
	struct dns_connect *dc;
	struct conn_result res = { 0, DNS_OK }, res2 = { 0, DNS_OK };

	REQUIRE(dns_connect_start(r, "example.net", conn_cb, &res, &dc) == DNS_OK);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(res.calls, 1);
	CHECK(res.err == DNS_ERR_NO_SERVER || res.err == DNS_ERR_TIMEOUT);

	REQUIRE(dns_connect_start(r, "example.org", conn_cb, &res2, &dc) == DNS_OK);
	dns_connect_free(dc);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(res2.calls, 0);
	dns_resolver_free(r);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

TEST(dns_resolver_free_with_queries_pending)
{
	struct dns_config cfg;
	struct dns_resolver *r;
	struct dns_discovery *d;
	struct disc_result res = { 0, 0, DNS_OK };
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char server[64], err[256];
	uv_loop_t loop;
	int fd;

	/* A server that receives and never answers: the queries stay in
	 * c-ares's hands until the resolver goes. */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	REQUIRE(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
	dns_config_defaults(&cfg);
	snprintf(server, sizeof(server), "127.0.0.1:%d", ntohs(sin.sin_port));
	dns_config_add_server(&cfg, server);
	REQUIRE(uv_loop_init(&loop) == 0);
	REQUIRE(dns_resolver_new(&loop, &cfg, &r, err, sizeof(err)) == 0);

	REQUIRE(dns_discover_start(r, "example.net", disc_cb, &res, &d) == DNS_OK);
	uv_run(&loop, UV_RUN_NOWAIT);
	uv_run(&loop, UV_RUN_NOWAIT);
	CHECK_INT_EQ(res.calls, 0);
	dns_discover_free(d);
	dns_resolver_free(r);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(res.calls, 0);
	CHECK_INT_EQ(uv_loop_close(&loop), 0);
	close(fd);
}

struct again_result {
	int ok, failed, again;
};

/* Takes the connection and, the first time, asks for the same candidate
 * once more (dns_connect_again: TLS without a client certificate). */
static void
again_cb(struct dns_connect *dc, enum dns_error err, uv_tcp_t *tcp,
    const struct dns_candidate *c, void *arg)
{
	struct again_result *res = arg;

	(void)c;
	if (tcp != NULL)
		dns_tcp_close_free(tcp);
	if (err != DNS_OK) {
		res->failed++;
		dns_connect_free(dc);
		return;
	}
	res->ok++;
	if (res->again-- > 0)
		dns_connect_again(dc);
	else
		dns_connect_next(dc);
}

TEST(dns_connect_again_same_candidate)
{
	struct dns_config cfg;
	uv_loop_t loop;
	struct dns_resolver *r = resolver_on(&loop, &cfg);
	struct dns_connect *dc;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct again_result res = { 0, 0, 1 }, once = { 0, 0, 0 };
	int fd;

	/* A listening socket: the kernel completes connects on its own. */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	REQUIRE(listen(fd, 8) == 0);
	REQUIRE(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);

	REQUIRE(dns_connect_start_static(r, "example.net", (struct sockaddr *)&sin,
	    DNS_TLS_STARTTLS, again_cb, &res, &dc) == DNS_OK);
	uv_run(&loop, UV_RUN_DEFAULT);
	/* Connected twice to the one candidate, then no candidate left. */
	CHECK_INT_EQ(res.ok, 2);
	CHECK_INT_EQ(res.failed, 1);

	/* Without again: one connection, then the end. */
	REQUIRE(dns_connect_start_static(r, "example.net", (struct sockaddr *)&sin,
	    DNS_TLS_STARTTLS, again_cb, &once, &dc) == DNS_OK);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(once.ok, 1);
	CHECK_INT_EQ(once.failed, 1);
	close(fd);
	dns_resolver_free(r);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_INT_EQ(uv_loop_close(&loop), 0);
}
