/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tls_session_file.c - outgoing TLS sessions kept across a restart
 * (tls/session_cache.c, tls.keep_outgoing_sessions): a client store saves
 * the session a partner's ticket gave, a new store (the next process)
 * loads it and resumes with the partner's identity as the full handshake
 * verified it; a file made under other trust anchors, expired entries and
 * entries past the bound are dropped; a truncated, corrupt, hostile or
 * unprotected file is refused whole with a reason, never half-read.
 */
#include "test.h"
#include "tls.h"
#include "tls_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "tls_fixture.h"

#define SERVER_DOMAIN "example.com"
#define CLIENT_DOMAIN "example.net"

struct sf {
	struct tls_fx fx;
	struct tls_certstore *sstore, *cstore;
	char path[128];
};

static struct tls_certstore *
client_store(struct sf *t, const char *ca)
{
	return tls_fx_store(&t->fx, CLIENT_DOMAIN, "client", ca, NULL, NULL, 0);
}

static void
sf_setup(struct sf *t)
{
	memset(t, 0, sizeof(*t));
	REQUIRE(tls_fx_setup(&t->fx) == 0);
	REQUIRE(tls_fx_ca(&t->fx, "ca") == 0);
	REQUIRE(tls_fx_ca(&t->fx, "otherca") == 0);
	REQUIRE(tls_fx_leaf(&t->fx, "server", SERVER_DOMAIN, "ca") == 0);
	REQUIRE(tls_fx_leaf(&t->fx, "client", CLIENT_DOMAIN, "ca") == 0);
	t->sstore = tls_fx_store(&t->fx, SERVER_DOMAIN, "server", "ca", NULL, NULL, 0);
	t->cstore = client_store(t, "ca");
	REQUIRE(t->sstore != NULL && t->cstore != NULL);
	tls_fx_path(&t->fx, "outgoing_sessions", t->path, sizeof(t->path));
}

static void
sf_teardown(struct sf *t)
{
	unlink(t->path);
	tls_certstore_unref(t->sstore);
	tls_certstore_unref(t->cstore);
	tls_fx_teardown(&t->fx);
}

/* One connection from the client store to the server, the ticket
 * delivered; returns whether the client resumed and fills *status with
 * its verdict on the server's identity. */
static int
sf_connect(struct sf *t, enum tls_verify_status *status, int *server_resumed)
{
	struct tls_conn_params sp = { .role = TLS_ROLE_EXTERNAL_SERVER, .peer_addr = "client" };
	struct tls_conn_params cp = { .role = TLS_ROLE_EXTERNAL_CLIENT,
	    .peer_domain = SERVER_DOMAIN, .local_domain = CLIENT_DOMAIN, .peer_addr = "server" };
	struct tls_fx_end srv, cli;
	int resumed;

	memset(&srv, 0, sizeof(srv));
	memset(&cli, 0, sizeof(cli));
	REQUIRE(tls_fx_end_new(&srv, t->sstore, &sp) == 0);
	REQUIRE(tls_fx_end_new(&cli, t->cstore, &cp) == 0);
	tls_conn_start(srv.conn);
	tls_conn_start(cli.conn);
	tls_fx_pump(&cli, &srv);
	REQUIRE(srv.handshakes == 1 && cli.handshakes == 1);
	REQUIRE(srv.errors == 0 && cli.errors == 0);
	/* The ticket comes after the handshake: one record of data each way
	 * makes the client read it. */
	REQUIRE(tls_conn_write(srv.conn, (const uint8_t *)"<x/>", 4) == 0);
	tls_fx_pump(&cli, &srv);
	*status = cli.result.status;
	resumed = tls_conn_resumed(cli.conn);
	if (server_resumed != NULL)
		*server_resumed = tls_conn_resumed(srv.conn);
	tls_fx_end_free(&srv);
	tls_fx_end_free(&cli);
	return resumed;
}

/* The client store becomes fresh (the next process). */
static void
sf_restart_client(struct sf *t, const char *ca)
{
	tls_certstore_unref(t->cstore);
	t->cstore = client_store(t, ca);
	REQUIRE(t->cstore != NULL);
}

static size_t
sf_save(struct sf *t)
{
	size_t saved = 0;
	char err[256] = "";

	if (tls_certstore_sessions_save(t->cstore, t->path, &saved, err, sizeof(err)) != 0)
		test_fail_at(__FILE__, __LINE__, "save: %s", err);
	return saved;
}

static uint8_t *
file_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;

	REQUIRE(f != NULL);
	buf = malloc(TLS_SESSION_FILE_MAX);
	REQUIRE(buf != NULL);
	*len = fread(buf, 1, TLS_SESSION_FILE_MAX, f);
	fclose(f);
	return buf;
}

static void
file_write(const char *path, const uint8_t *buf, size_t len, mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "wb");
	REQUIRE(f != NULL);
	REQUIRE(fwrite(buf, 1, len, f) == len);
	fclose(f);
	REQUIRE(chmod(path, mode) == 0);
}

/* The checksum trailer made right again after an edit. */
static void
reseal(uint8_t *buf, size_t len)
{
	REQUIRE(mbedtls_sha256(buf, len - 32, buf + len - 32, 0) == 0);
}

TEST(tls_session_file_restart_resumes_with_the_verified_identity)
{
	struct sf t;
	struct tls_session_load_stats st;
	enum tls_verify_status status;
	struct stat sb;
	char err[256] = "";
	int server_resumed = 0;

	sf_setup(&t);
	CHECK_INT_EQ(sf_connect(&t, &status, NULL), 0);
	CHECK_INT_EQ(status, TLS_VERIFY_OK);
	CHECK_INT_EQ(sf_save(&t), 1);
	REQUIRE(stat(t.path, &sb) == 0);
	CHECK_INT_EQ(sb.st_mode & 0777, 0600);

	/* Without the file a new process does a full handshake (what every
	 * restart did before). */
	sf_restart_client(&t, "ca");
	CHECK_INT_EQ(sf_connect(&t, &status, NULL), 0);

	sf_restart_client(&t, "ca");
	CHECK_INT_EQ(tls_certstore_sessions_load(t.cstore, t.path, &st, err, sizeof(err)), 0);
	CHECK_STR_EQ(err, "");
	CHECK_INT_EQ(st.loaded, 1);
	CHECK_INT_EQ(st.absent, 0);
	CHECK_INT_EQ(sf_connect(&t, &status, &server_resumed), 1);
	CHECK_INT_EQ(server_resumed, 1);
	/* The name checked again against the leaf the file carried. */
	CHECK_INT_EQ(status, TLS_VERIFY_OK);
	/* And the ticket of that resumed stream is kept in turn. */
	CHECK_INT_EQ(sf_connect(&t, &status, NULL), 1);
	CHECK_INT_EQ(status, TLS_VERIFY_OK);
	sf_teardown(&t);
}

/* A leaf that did not verify stays so: the flags travel with it. */
TEST(tls_session_file_keeps_a_failed_verification)
{
	struct sf t;
	struct tls_session_load_stats st;
	enum tls_verify_status status;
	char err[256];

	sf_setup(&t);
	/* The client trusts only otherca: the server's chain is untrusted
	 * (dialback may still authenticate such a peer, XEP-0220). */
	sf_restart_client(&t, "otherca");
	CHECK_INT_EQ(sf_connect(&t, &status, NULL), 0);
	CHECK_INT_EQ(status, TLS_VERIFY_UNTRUSTED);
	CHECK_INT_EQ(sf_save(&t), 1);
	sf_restart_client(&t, "otherca");
	CHECK_INT_EQ(tls_certstore_sessions_load(t.cstore, t.path, &st, err, sizeof(err)), 0);
	CHECK_INT_EQ(st.loaded, 1);
	CHECK_INT_EQ(sf_connect(&t, &status, NULL), 1);
	CHECK_INT_EQ(status, TLS_VERIFY_UNTRUSTED);
	sf_teardown(&t);
}

/* The same in memory: mbedTLS sets a resumed TLS 1.3 client session's
 * verification result to 0 ("no certificate used"), which with the kept
 * leaf read as a valid chain; the flags of the full handshake are kept
 * instead, also through the ticket the resumed stream gets. */
TEST(tls_session_cache_resumed_keeps_a_failed_verification)
{
	struct sf t;
	enum tls_verify_status status;

	sf_setup(&t);
	sf_restart_client(&t, "otherca");
	CHECK_INT_EQ(sf_connect(&t, &status, NULL), 0);
	CHECK_INT_EQ(status, TLS_VERIFY_UNTRUSTED);
	CHECK_INT_EQ(sf_connect(&t, &status, NULL), 1);
	CHECK_INT_EQ(status, TLS_VERIFY_UNTRUSTED);
	CHECK_INT_EQ(sf_connect(&t, &status, NULL), 1);
	CHECK_INT_EQ(status, TLS_VERIFY_UNTRUSTED);
	sf_teardown(&t);
}

/* Other trust anchors since (the fingerprint differs): nothing loaded,
 * full handshake, as a reload does in memory. */
TEST(tls_session_file_other_configuration_dropped)
{
	struct sf t;
	struct tls_session_load_stats st;
	enum tls_verify_status status;
	char err[256];

	sf_setup(&t);
	(void)sf_connect(&t, &status, NULL);
	CHECK_INT_EQ(sf_save(&t), 1);
	sf_restart_client(&t, "otherca");
	CHECK_INT_EQ(tls_certstore_sessions_load(t.cstore, t.path, &st, err, sizeof(err)), 0);
	CHECK_INT_EQ(st.loaded, 0);
	CHECK_INT_EQ(st.other_config, 1);
	CHECK_INT_EQ(sf_connect(&t, &status, NULL), 0);
	CHECK_INT_EQ(status, TLS_VERIFY_UNTRUSTED);
	sf_teardown(&t);
}

/* Past the ticket's lifetime (mbedTLS caps it at 7 days): dropped. */
TEST(tls_session_file_expired_entries_dropped)
{
	struct sf t;
	struct tls_session_load_stats st;
	struct tls_session_cache cache;
	enum tls_verify_status status;
	uint8_t *buf;
	size_t len;
	char err[256] = "";
	uint64_t trust;

	sf_setup(&t);
	(void)sf_connect(&t, &status, NULL);
	CHECK_INT_EQ(sf_save(&t), 1);
	buf = file_read(t.path, &len);
	trust = tls_certstore_tickets(t.cstore)->trust;
	tls_session_cache_init(&cache, 64);
	CHECK_INT_EQ(tls_session_cache_parse(&cache, buf, len, trust, time(NULL) + 8 * 86400,
	    &st, err, sizeof(err)), 0);
	CHECK_INT_EQ(st.loaded, 0);
	CHECK_INT_EQ(st.expired, 1);
	CHECK_INT_EQ(tls_session_cache_count(&cache), 0);
	/* Received "in the future" (the clock went back): not offered. */
	CHECK_INT_EQ(tls_session_cache_parse(&cache, buf, len, trust, time(NULL) - 3600,
	    &st, err, sizeof(err)), 0);
	CHECK_INT_EQ(st.expired, 1);
	/* Now: loaded. */
	CHECK_INT_EQ(tls_session_cache_parse(&cache, buf, len, trust, time(NULL),
	    &st, err, sizeof(err)), 0);
	CHECK_INT_EQ(st.loaded, 1);
	CHECK_INT_EQ(tls_session_cache_count(&cache), 1);
	tls_session_cache_free(&cache);
	free(buf);
	sf_teardown(&t);
}

/* Every cut of the file and every flipped byte is refused whole; the
 * cache keeps what it had. */
TEST(tls_session_file_truncated_or_corrupt_refused)
{
	struct sf t;
	struct tls_session_load_stats st;
	struct tls_session_cache cache;
	enum tls_verify_status status;
	uint8_t *buf;
	size_t len, i;
	char err[256];
	uint64_t trust;
	int refused = 0, flipped = 0;

	sf_setup(&t);
	(void)sf_connect(&t, &status, NULL);
	CHECK_INT_EQ(sf_save(&t), 1);
	buf = file_read(t.path, &len);
	trust = tls_certstore_tickets(t.cstore)->trust;
	tls_session_cache_init(&cache, 64);
	for (i = 0; i < len; i++) {
		err[0] = '\0';
		refused += tls_session_cache_parse(&cache, buf, i, trust, time(NULL), &st,
		    err, sizeof(err)) == -1 && err[0] != '\0';
	}
	CHECK_INT_EQ(refused, (long long)len);
	for (i = 0; i < len; i++) {
		buf[i] ^= 0x20;
		flipped += tls_session_cache_parse(&cache, buf, len, trust, time(NULL), &st,
		    err, sizeof(err)) == -1;
		buf[i] ^= 0x20;
	}
	CHECK_INT_EQ(flipped, (long long)len);
	CHECK_INT_EQ(tls_session_cache_count(&cache), 0);

	/* Through the file: the daemon's path, with the reason. */
	file_write(t.path, buf, len - 1, 0600);
	sf_restart_client(&t, "ca");
	CHECK_INT_EQ(tls_certstore_sessions_load(t.cstore, t.path, &st, err, sizeof(err)), -1);
	CHECK(strstr(err, "checksum") != NULL);
	CHECK_INT_EQ(sf_connect(&t, &status, NULL), 0);
	tls_session_cache_free(&cache);
	free(buf);
	sf_teardown(&t);
}

/* A file whose checksum is right but whose fields lie (what a hostile
 * writer makes): each lie refused with its own reason. */
TEST(tls_session_file_hostile_fields_refused)
{
	struct sf t;
	struct tls_session_load_stats st;
	struct tls_session_cache cache;
	enum tls_verify_status status;
	uint8_t *buf, *copy;
	size_t len, klen, off, slen;
	char err[256];
	uint64_t trust;

	sf_setup(&t);
	(void)sf_connect(&t, &status, NULL);
	CHECK_INT_EQ(sf_save(&t), 1);
	buf = file_read(t.path, &len);
	copy = malloc(len);
	REQUIRE(copy != NULL);
	trust = tls_certstore_tickets(t.cstore)->trust;
	tls_session_cache_init(&cache, 64);
	klen = (size_t)buf[28] << 8 | buf[29];
	REQUIRE(klen > 4 && klen < 600);

#define HOSTILE(edit, want)                                                  \
	do {                                                                 \
		memcpy(copy, buf, len);                                      \
		edit;                                                        \
		reseal(copy, len);                                           \
		err[0] = '\0';                                               \
		CHECK_INT_EQ(tls_session_cache_parse(&cache, copy, len, trust, \
		    time(NULL), &st, err, sizeof(err)), -1);                 \
		if (strstr(err, want) == NULL)                               \
			test_fail_at(__FILE__, __LINE__, "reason '%s', want '%s'", err, want); \
	} while (0)

	/* The count: far more than the bytes hold; one more than there is. */
	HOSTILE(copy[24] = 0x7f, "entry count");
	HOSTILE(copy[27] = 2, "runs past the end");
	HOSTILE(copy[27] = 0, "bytes after the last entry");
	/* The key's length past the file; a key with a space in it. */
	HOSTILE((copy[28] = 0xff, copy[29] = 0xff), "runs past the end");
	HOSTILE(copy[30 + 3] = ' ', "malformed key");
	off = 30 + klen;		/* expires at */
	/* Received after it expires. */
	HOSTILE(memset(copy + off + 8, 0x01, 8), "times out of order");
	/* The leaf's length: zero (what follows is read as the session's
	 * length, past the end), past the bound. */
	off += 8 + 8 + 4;
	HOSTILE((copy[off] = 0, copy[off + 1] = 0), "runs past the end");
	HOSTILE((copy[off] = 0x20, copy[off + 1] = 0x01), "runs past the end");
	/* The leaf's DER itself. */
	HOSTILE(copy[off + 2] = 0x05, "malformed certificate");
	/* mbedTLS's serialised session one byte short. */
	off += 2 + ((size_t)buf[off] << 8 | buf[off + 1]);
	HOSTILE((copy[off] = 0, copy[off + 1] = 0), "out of bounds");
	slen = ((size_t)buf[off] << 8 | buf[off + 1]) - 1;
	HOSTILE((copy[off] = (uint8_t)(slen >> 8), copy[off + 1] = (uint8_t)slen),
	    "malformed session");
#undef HOSTILE
	CHECK_INT_EQ(tls_session_cache_count(&cache), 0);
	/* Its header (the mbedTLS version and options it was written by)
	 * changed: another configuration, dropped, not a fault. */
	memcpy(copy, buf, len);
	copy[off + 2] ^= 0xff;
	reseal(copy, len);
	CHECK_INT_EQ(tls_session_cache_parse(&cache, copy, len, trust, time(NULL), &st,
	    err, sizeof(err)), 0);
	CHECK_INT_EQ(st.loaded, 0);
	CHECK_INT_EQ(st.other_config, 1);
	tls_session_cache_free(&cache);
	free(copy);
	free(buf);
	sf_teardown(&t);
}

/* The file must be ours and private: group/other bits, a symlink,
 * refused; no file is no error. */
TEST(tls_session_file_must_be_private)
{
	struct sf t;
	struct tls_session_load_stats st;
	enum tls_verify_status status;
	char err[256], link[160];

	sf_setup(&t);
	CHECK_INT_EQ(tls_certstore_sessions_load(t.cstore, t.path, &st, err, sizeof(err)), 0);
	CHECK_INT_EQ(st.absent, 1);
	(void)sf_connect(&t, &status, NULL);
	CHECK_INT_EQ(sf_save(&t), 1);
	REQUIRE(chmod(t.path, 0644) == 0);
	sf_restart_client(&t, "ca");
	CHECK_INT_EQ(tls_certstore_sessions_load(t.cstore, t.path, &st, err, sizeof(err)), -1);
	CHECK(strstr(err, "mode 644") != NULL);
	REQUIRE(chmod(t.path, 0600) == 0);
	tls_fx_path(&t.fx, "sessions_link", link, sizeof(link));
	REQUIRE(symlink(t.path, link) == 0);
	CHECK_INT_EQ(tls_certstore_sessions_load(t.cstore, link, &st, err, sizeof(err)), -1);
	CHECK(strstr(err, "symlink") != NULL);
	unlink(link);
	CHECK_INT_EQ(tls_certstore_sessions_load(t.cstore, t.path, &st, err, sizeof(err)), 0);
	CHECK_INT_EQ(st.loaded, 1);
	sf_teardown(&t);
}

/* Entries under many keys: found by their key after a load (the hash),
 * the bound keeps the newest, and a save writes them all again. */
TEST(tls_session_file_bound_and_many_keys)
{
	struct sf t;
	struct tls_session_load_stats st;
	struct tls_session_cache small, big;
	enum tls_verify_status status;
	uint8_t *one, *many, *out, *p;
	size_t len, entry_len, klen, i, outlen, count;
	char err[256], peer[64];
	uint64_t trust;

	sf_setup(&t);
	(void)sf_connect(&t, &status, NULL);
	CHECK_INT_EQ(sf_save(&t), 1);
	one = file_read(t.path, &len);
	trust = tls_certstore_tickets(t.cstore)->trust;
	klen = (size_t)one[28] << 8 | one[29];
	entry_len = len - 28 - 32;
	/* 40 copies of the entry, each for its own peer of the same key
	 * length ("0|example.net|pNN.example.com" -> same length as one). */
	many = malloc(28 + 40 * (entry_len + 8) + 32);
	REQUIRE(many != NULL);
	memcpy(many, one, 28);
	p = many + 28;
	for (i = 0; i < 40; i++) {
		int n = snprintf(peer, sizeof(peer), "0|%s|p%02zu.%s", CLIENT_DOMAIN, i, SERVER_DOMAIN);

		p[0] = 0;
		p[1] = (uint8_t)n;
		memcpy(p + 2, peer, (size_t)n);
		memcpy(p + 2 + n, one + 28 + 2 + klen, entry_len - 2 - klen);
		p += 2 + (size_t)n + entry_len - 2 - klen;
	}
	many[24] = many[25] = many[26] = 0;
	many[27] = 40;
	len = (size_t)(p - many) + 32;
	reseal(many, len);

	tls_session_cache_init(&small, 16);	/* the minimum */
	CHECK_INT_EQ(tls_session_cache_parse(&small, many, len, trust, time(NULL), &st,
	    err, sizeof(err)), 0);
	CHECK_INT_EQ(st.loaded, 16);
	CHECK_INT_EQ(st.over_bound, 24);
	/* The file lists the newest first: those are kept. */
	CHECK(tls_session_cache_peek(&small, "p00." SERVER_DOMAIN, CLIENT_DOMAIN, 0) != NULL);
	CHECK(tls_session_cache_peek(&small, "p15." SERVER_DOMAIN, CLIENT_DOMAIN, 0) != NULL);
	CHECK(tls_session_cache_peek(&small, "p16." SERVER_DOMAIN, CLIENT_DOMAIN, 0) == NULL);
	CHECK(tls_session_cache_peek(&small, "p00." SERVER_DOMAIN, CLIENT_DOMAIN, 1) == NULL);

	tls_session_cache_init(&big, 64);
	CHECK_INT_EQ(tls_session_cache_parse(&big, many, len, trust, time(NULL), &st,
	    err, sizeof(err)), 0);
	CHECK_INT_EQ(st.loaded, 40);
	for (i = 0; i < 40; i++) {
		snprintf(peer, sizeof(peer), "p%02zu.%s", i, SERVER_DOMAIN);
		CHECK(tls_session_cache_peek(&big, peer, CLIENT_DOMAIN, 0) != NULL);
	}
	/* Saved again, all of them, newest (p00) first as they came. */
	CHECK_INT_EQ(tls_session_cache_serialize(&big, trust, time(NULL), &out, &outlen, &count), 0);
	CHECK_INT_EQ(count, 40);
	/* Each session now names its key's peer as its server name
	 * ("pNN.example.com", 4 bytes more than the copied session's). */
	CHECK_INT_EQ(outlen, len + 40 * 4);
	CHECK(memcmp(out + 28, many + 28, 2 + klen + 4) == 0);
	free(out);
	/* A repeated key is a lie. */
	memcpy(many + 28 + entry_len + 4 + 2, many + 28 + 2, klen + 4);
	reseal(many, len);
	CHECK_INT_EQ(tls_session_cache_parse(&big, many, len, trust, time(NULL), &st,
	    err, sizeof(err)), -1);
	CHECK(strstr(err, "repeated") != NULL);
	CHECK_INT_EQ(tls_session_cache_count(&big), 40);
	tls_session_cache_free(&small);
	tls_session_cache_free(&big);
	free(many);
	free(one);
	sf_teardown(&t);
}

/* Resident pages of this process (/proc/self/statm), in bytes. */
static size_t
resident_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	REQUIRE(f != NULL);
	REQUIRE(fscanf(f, "%lu %lu", &size, &resident) == 2);
	fclose(f);
	return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/*
 * The cache's slot array is sized for its bound but only the slots that
 * held a session become resident: with the largest bound (65 536 slots,
 * about 50 MB of array) one loaded session costs pages, not the array.
 * Before, the free list was linked through every slot when the array
 * was made, a write to each: the whole array resident at the first
 * outgoing stream (3.3 MB at the default bound, per certificate store).
 */
TEST(tls_session_cache_slots_resident_only_when_used)
{
	struct sf t;
	struct tls_session_load_stats st;
	struct tls_session_cache huge;
	enum tls_verify_status status;
	uint8_t *one;
	size_t len, before, after;
	char err[256];

	sf_setup(&t);
	(void)sf_connect(&t, &status, NULL);
	CHECK_INT_EQ(sf_save(&t), 1);
	one = file_read(t.path, &len);
	tls_session_cache_init(&huge, TLS_SESSION_CACHE_MAX);
	before = resident_bytes();
	CHECK_INT_EQ(tls_session_cache_parse(&huge, one, len,
	    tls_certstore_tickets(t.cstore)->trust, time(NULL), &st, err, sizeof(err)), 0);
	after = resident_bytes();
	CHECK_INT_EQ(st.loaded, 1);
	CHECK(tls_session_cache_peek(&huge, SERVER_DOMAIN, CLIENT_DOMAIN, 0) != NULL);
	CHECK(after < before + (8u << 20));
	tls_session_cache_free(&huge);
	free(one);
	sf_teardown(&t);
}
