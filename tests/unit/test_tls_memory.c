/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tls_memory.c - heap cost of an idle established TLS connection,
 * per side (issue 4 goal: <= 32 KiB; issue 18: <= 12 KiB).  mbedTLS allocates through
 * mbedtls_calloc (MBEDTLS_PLATFORM_MEMORY), and tls_conn allocates its
 * own struct the same way, so a counting allocator installed with
 * mbedtls_platform_set_calloc_free() sees all of it.  The figure goes to
 * tls/MEMORY.md; this test prints it and fails above the goal.
 *
 *   out/dev/unit_tests tls_memory
 */
#include "test.h"
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform.h>

#include "tls_fixture.h"

#define MEM_PAIRS 50
/* Issue 4 asked for 32 KiB; issue 18 (16 KiB per idle stream, everything
 * included) needs the TLS part well below: the record buffers (24.7 KiB)
 * are given back while idle, what stays is the session state. */
#define MEM_GOAL_BYTES (12 * 1024)
/* ... and the TLS 1.3 handshake structure mbedTLS keeps after the
 * handshake is given back too (tls_conn.c, conn_handshake_release):
 * server 10 003 -> 7 407 bytes, client 5 518 -> 4 435 (STARTTLS); the
 * client's live session no longer keeps the ticket the session cache
 * copied (conn_session_save): client 3 845. */
#define MEM_SERVER_BYTES (8 * 1024)
#define MEM_CLIENT_BYTES (4 * 1024)

/* Live bytes through mbedtls_calloc; a size header per block. */
static size_t mem_live;

static void *
count_calloc(size_t n, size_t size)
{
	size_t *p;

	if (size != 0 && n > (SIZE_MAX - 16) / size)
		return NULL;
	p = calloc(1, n * size + 16);
	if (p == NULL)
		return NULL;
	p[0] = n * size;
	mem_live += n * size;
	return (char *)p + 16;
}

static void
count_free(void *ptr)
{
	size_t *p;

	if (ptr == NULL)
		return;
	p = (size_t *)((char *)ptr - 16);
	mem_live -= p[0];
	free(p);
}

static void
measure(int direct, const char *label)
{
	struct tls_fx fx;
	struct tls_certstore *ss, *cs;
	static struct tls_fx_end srv[MEM_PAIRS], cli[MEM_PAIRS];
	struct tls_conn_params sp = { .role = TLS_ROLE_EXTERNAL_SERVER };
	struct tls_conn_params cp = { .role = TLS_ROLE_EXTERNAL_CLIENT,
	    .peer_domain = "example.com", .local_domain = "example.net",
	    .direct_tls = direct };
	size_t base, both, servers, i;

	REQUIRE(tls_fx_setup(&fx) == 0);
	REQUIRE(tls_fx_ca(&fx, "ca") == 0);
	REQUIRE(tls_fx_leaf(&fx, "srv", "example.com", "ca") == 0);
	REQUIRE(tls_fx_leaf(&fx, "cli", "example.net", "ca") == 0);
	ss = tls_fx_store(&fx, "example.com", "srv", "ca", NULL, NULL, 0);
	cs = tls_fx_store(&fx, "example.net", "cli", "ca", NULL, NULL, 0);
	REQUIRE(ss && cs);
	base = mem_live;
	for (i = 0; i < MEM_PAIRS; i++) {
		REQUIRE(tls_fx_end_new(&srv[i], ss, &sp) == 0);
		REQUIRE(tls_fx_end_new(&cli[i], cs, &cp) == 0);
		tls_conn_start(cli[i].conn);
		tls_fx_pump(&cli[i], &srv[i]);
		REQUIRE(cli[i].handshakes == 1 && srv[i].handshakes == 1);
		/* A stream header each way, then idle. */
		tls_conn_write(cli[i].conn, (const uint8_t *)"<stream:stream>", 15);
		tls_conn_write(srv[i].conn, (const uint8_t *)"<stream:stream>", 15);
		tls_fx_pump(&cli[i], &srv[i]);
		free(cli[i].plain); cli[i].plain = NULL;
		free(srv[i].plain); srv[i].plain = NULL;
	}
	both = mem_live - base;
	for (i = 0; i < MEM_PAIRS; i++)
		tls_fx_end_free(&cli[i]);
	servers = mem_live - base;
	printf("MEMORY %s: idle TLS connection, %s: server side %zu bytes, "
	    "client side %zu bytes (mbedTLS heap + struct tls_conn; %d "
	    "pairs)\n", label, tls_conn_version(srv[0].conn),
	    servers / MEM_PAIRS, (both - servers) / MEM_PAIRS, MEM_PAIRS);
	CHECK(servers / MEM_PAIRS <= MEM_GOAL_BYTES);
	CHECK((both - servers) / MEM_PAIRS <= MEM_GOAL_BYTES);
	CHECK(servers / MEM_PAIRS <= MEM_SERVER_BYTES);
	CHECK((both - servers) / MEM_PAIRS <= MEM_CLIENT_BYTES);
	for (i = 0; i < MEM_PAIRS; i++)
		tls_fx_end_free(&srv[i]);
	/* (PSA's dynamic key store keeps its grown slot array: not
	 * per-connection memory, so no equality check with base here.) */
	tls_certstore_unref(ss);
	tls_certstore_unref(cs);
	tls_fx_teardown(&fx);
}

TEST(tls_memory_idle_connection)
{
	mbedtls_platform_set_calloc_free(count_calloc, count_free);
	measure(0, "STARTTLS");
	measure(1, "Direct TLS");
}
