/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tls_alloc.c - mbedTLS's recycling allocator (tls/mbedtls_alloc.c):
 * blocks come back zeroed, from the cache, within its bounds, only on the
 * thread that installed it, interchangeable with plain malloc blocks, and
 * TLS handshakes run on it.
 */
#include "test.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform.h>

#include "tls.h"
#include "tls_fixture.h"

static int
all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

TEST(tls_alloc_recycles_zeroed_blocks)
{
	struct tls_alloc_stats st0, st1;
	uint8_t *p, *q;

	tls_alloc_install();
	tls_alloc_stats(&st0);
	p = mbedtls_calloc(5, 8);		/* a 5-limb bignum */
	REQUIRE(p != NULL);
	CHECK(all_zero(p, 40));
	memset(p, 0xa5, 40);
	mbedtls_free(p);
	q = mbedtls_calloc(3, 16);		/* the same class (48 bytes) */
	REQUIRE(q != NULL);
	CHECK(q == p);				/* served from the cache */
	CHECK(all_zero(q, 48));			/* and zeroed, as calloc must */
	tls_alloc_stats(&st1);
	CHECK_INT_EQ(st1.hits - st0.hits, 1);
	CHECK_INT_EQ(st1.misses - st0.misses, 1);
	mbedtls_free(q);
	/* Zero-sized and overflowing requests behave like calloc's. */
	CHECK(mbedtls_calloc(SIZE_MAX / 2, 4) == NULL);
	mbedtls_free(mbedtls_calloc(0, 8));
	mbedtls_free(NULL);
	tls_alloc_drain();
	tls_alloc_stats(&st1);
	CHECK_INT_EQ(st1.cached_bytes, 0);
}

/* No header: a malloc block can be given to mbedtls_free, and a block
 * from mbedtls_calloc to free() (ASan would report a bad free otherwise). */
TEST(tls_alloc_blocks_are_plain_malloc_blocks)
{
	void *p;
	uint8_t *q;

	tls_alloc_install();
	p = malloc(100);
	REQUIRE(p != NULL);
	mbedtls_free(p);			/* joins the cache */
	q = mbedtls_calloc(1, 90);
	REQUIRE(q != NULL);
	CHECK(all_zero(q, 90));
	free(q);
	tls_alloc_drain();
}

/* The cache keeps at most 16 KiB per small class and 8 large blocks. */
TEST(tls_alloc_cache_is_bounded)
{
	enum { N = 2000 };
	static void *p[N];
	struct tls_alloc_stats st;
	size_t i;

	tls_alloc_install();
	for (i = 0; i < N; i++)
		REQUIRE((p[i] = mbedtls_calloc(1, 64)) != NULL);
	for (i = 0; i < N; i++)
		mbedtls_free(p[i]);
	tls_alloc_stats(&st);
	CHECK(st.cached_bytes <= 16 * 1024);
	CHECK(st.cached_bytes >= 16 * 1024 - 64);
	tls_alloc_drain();
	for (i = 0; i < 20; i++)
		REQUIRE((p[i] = mbedtls_calloc(1, 17000)) != NULL);
	for (i = 0; i < 20; i++)
		mbedtls_free(p[i]);
	tls_alloc_stats(&st);
	CHECK(st.cached_bytes <= 8 * 20 * 1024);
	CHECK(st.cached_bytes >= 8 * 17000);
	tls_alloc_drain();
}

/* A large block serves a request it fits without wasting half of it. */
TEST(tls_alloc_large_blocks_fit)
{
	struct tls_alloc_stats st0, st1;
	uint8_t *p, *q, *r;

	tls_alloc_install();
	p = mbedtls_calloc(1, 16 * 1024 + 300);	/* an input record buffer */
	REQUIRE(p != NULL);
	memset(p, 0x5a, 16 * 1024 + 300);
	mbedtls_free(p);
	tls_alloc_stats(&st0);
	r = mbedtls_calloc(1, 4000);			/* too small for it */
	REQUIRE(r != NULL);
	CHECK(r != p);
	q = mbedtls_calloc(1, 16 * 1024);
	REQUIRE(q != NULL);
	CHECK(q == p);
	CHECK(all_zero(q, 16 * 1024));
	tls_alloc_stats(&st1);
	CHECK_INT_EQ(st1.hits - st0.hits, 1);
	mbedtls_free(q);
	mbedtls_free(r);
	tls_alloc_drain();
}

static void *
other_thread(void *arg)
{
	struct tls_alloc_stats *st = arg;
	void *p = mbedtls_calloc(1, 64);

	mbedtls_free(p);
	p = mbedtls_calloc(1, 64);
	mbedtls_free(p);
	tls_alloc_stats(st);
	return NULL;
}

/* Another thread (the admin command's key generation) allocates and frees
 * without a cache: nothing is left behind when it ends. */
TEST(tls_alloc_only_the_installing_thread_caches)
{
	struct tls_alloc_stats st;
	pthread_t t;

	tls_alloc_install();
	memset(&st, 0xff, sizeof(st));
	REQUIRE(pthread_create(&t, NULL, other_thread, &st) == 0);
	REQUIRE(pthread_join(t, NULL) == 0);
	CHECK_INT_EQ(st.hits, 0);
	CHECK_INT_EQ(st.cached_bytes, 0);
}

/* TLS 1.3 handshakes and records on the recycling allocator: the second
 * handshake is served mostly from what the first gave back. */
TEST(tls_alloc_serves_tls_handshakes)
{
	struct tls_fx fx;
	struct tls_certstore *sstore, *cstore;
	struct tls_alloc_stats st0, st1;
	int round;

	tls_alloc_install();
	REQUIRE(tls_fx_setup(&fx) == 0);
	REQUIRE(tls_fx_ca(&fx, "ca") == 0);
	REQUIRE(tls_fx_leaf(&fx, "client", "example.net", "ca") == 0);
	REQUIRE(tls_fx_leaf(&fx, "good", "example.com", "ca") == 0);
	sstore = tls_fx_store(&fx, "example.com", "good", "ca", NULL, NULL, 0);
	cstore = tls_fx_store(&fx, "example.net", "client", "ca", NULL, NULL, 0);
	REQUIRE(sstore != NULL && cstore != NULL);
	for (round = 0; round < 2; round++) {
		struct tls_fx_end srv, cli;
		struct tls_conn_params sp = { .role = TLS_ROLE_EXTERNAL_SERVER, .peer_addr = "client" };
		struct tls_conn_params cp = { .role = TLS_ROLE_EXTERNAL_CLIENT,
		    .peer_domain = "example.com", .local_domain = "example.net", .peer_addr = "server" };
		static const uint8_t msg[] = "<stream:stream>";

		memset(&srv, 0, sizeof(srv));
		memset(&cli, 0, sizeof(cli));
		tls_alloc_stats(&st0);
		REQUIRE(tls_fx_end_new(&srv, sstore, &sp) == 0);
		REQUIRE(tls_fx_end_new(&cli, cstore, &cp) == 0);
		tls_conn_start(srv.conn);
		tls_conn_start(cli.conn);
		tls_fx_pump(&cli, &srv);
		REQUIRE(cli.handshakes == 1 && srv.handshakes == 1);
		CHECK_INT_EQ(cli.result.status, TLS_VERIFY_OK);
		CHECK_INT_EQ(tls_conn_write(cli.conn, msg, sizeof(msg)), 0);
		tls_fx_pump(&cli, &srv);
		CHECK_INT_EQ(srv.plain_len, sizeof(msg));
		CHECK(srv.plain && memcmp(srv.plain, msg, sizeof(msg)) == 0);
		CHECK_INT_EQ(srv.errors + cli.errors, 0);
		tls_fx_end_free(&srv);
		tls_fx_end_free(&cli);
		tls_alloc_stats(&st1);
		/* Thousands of bignum allocations per handshake pair; after
		 * the first, most come from the cache. */
		if (round == 1)
			CHECK(st1.hits - st0.hits > 4 * (st1.misses - st0.misses));
	}
	tls_certstore_unref(sstore);
	tls_certstore_unref(cstore);
	tls_fx_teardown(&fx);
	tls_alloc_drain();
}
