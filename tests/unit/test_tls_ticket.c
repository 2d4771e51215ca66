/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tls_ticket.c - TLS 1.3 session tickets with the peer identity bound
 * to them (tls/ticket.c) and the client's session cache
 * (tls/session_cache.c): a resumed partner keeps the identity its
 * certificate proved, for the names that certificate holds and no other;
 * a new store (reload, `cert rotate`, other trust anchors) refuses older
 * tickets; a changed ticket means a full handshake; dates are checked
 * again on resumption.
 */
#include "test.h"
#include "tls.h"
#include "tls_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/ssl.h>

#include "tls_fixture.h"

#define SERVER_DOMAIN "example.com"
#define CLIENT_DOMAIN "example.net"

struct tk {
	struct tls_fx fx;
	struct tls_certstore *sstore, *cstore;
};

/* Server example.com, client example.net, both trusting "ca"; the
 * client's certificate from client_spec (NULL: a plain leaf). */
static void
tk_setup(struct tk *t, const struct tls_certgen *client_spec)
{
	struct tls_certgen spec;

	memset(t, 0, sizeof(*t));
	REQUIRE(tls_fx_setup(&t->fx) == 0);
	REQUIRE(tls_fx_ca(&t->fx, "ca") == 0);
	REQUIRE(tls_fx_leaf(&t->fx, "server", SERVER_DOMAIN, "ca") == 0);
	if (client_spec != NULL) {
		spec = *client_spec;
		REQUIRE(tls_fx_cert(&t->fx, "client", &spec, "ca") == 0);
	} else {
		REQUIRE(tls_fx_leaf(&t->fx, "client", CLIENT_DOMAIN, "ca") == 0);
	}
	t->sstore = tls_fx_store(&t->fx, SERVER_DOMAIN, "server", "ca", NULL,
	    NULL, 0);
	t->cstore = tls_fx_store(&t->fx, CLIENT_DOMAIN, "client", "ca", NULL,
	    NULL, 0);
	REQUIRE(t->sstore != NULL && t->cstore != NULL);
}

static void
tk_teardown(struct tk *t)
{
	tls_certstore_unref(t->sstore);
	tls_certstore_unref(t->cstore);
	tls_fx_teardown(&t->fx);
}

/* One connection, handshake and ticket delivered, both ends left open
 * for the caller's checks. */
static void
tk_connect(struct tk *t, struct tls_fx_end *srv, struct tls_fx_end *cli,
    int no_client_cert)
{
	struct tls_conn_params sp = { .role = TLS_ROLE_EXTERNAL_SERVER,
	    .peer_addr = "client" };
	struct tls_conn_params cp = { .role = TLS_ROLE_EXTERNAL_CLIENT,
	    .peer_domain = SERVER_DOMAIN, .local_domain = CLIENT_DOMAIN,
	    .no_client_cert = no_client_cert, .peer_addr = "server" };

	memset(srv, 0, sizeof(*srv));
	memset(cli, 0, sizeof(*cli));
	REQUIRE(tls_fx_end_new(srv, t->sstore, &sp) == 0);
	REQUIRE(tls_fx_end_new(cli, t->cstore, &cp) == 0);
	tls_conn_start(srv->conn);
	tls_conn_start(cli->conn);
	tls_fx_pump(cli, srv);
	REQUIRE(srv->handshakes == 1 && cli->handshakes == 1);
	REQUIRE(srv->errors == 0 && cli->errors == 0);
}

static void
tk_close(struct tls_fx_end *srv, struct tls_fx_end *cli)
{
	tls_fx_end_free(srv);
	tls_fx_end_free(cli);
}

static enum tls_verify_status
server_verifies(struct tls_fx_end *srv, const char *domain)
{
	struct tls_verify_result r;

	if (tls_conn_verify_peer(srv->conn, domain, &r) != 0)
		return TLS_VERIFY_INVALID;
	return r.status;
}

/* The server's store becomes fresh (a reload, a restart); the next
 * connection resumed or not, and what the partner's identity is then. */
static void
tk_swap_expect(struct tk *t, struct tls_certstore *fresh, int resumed,
    enum tls_verify_status status)
{
	struct tls_fx_end srv, cli;

	REQUIRE(fresh != NULL);
	tls_certstore_swap(&t->sstore, fresh);	/* the old one is freed */
	tk_connect(t, &srv, &cli, 0);
	CHECK_INT_EQ(tls_conn_resumed(srv.conn), resumed);
	CHECK_INT_EQ(server_verifies(&srv, CLIENT_DOMAIN), status);
	tk_close(&srv, &cli);
}

/* A server store trusting ca whose ticket keys come from secret. */
static struct tls_certstore *
secret_store(struct tk *t, const char *ca, const uint8_t *secret)
{
	return tls_fx_store_tickets(&t->fx, SERVER_DOMAIN, "server", ca, NULL,
	    NULL, 0, secret, 32, 0);
}

static mbedtls_ssl_session *
cached_session(struct tk *t, int no_client_cert)
{
	return tls_session_cache_peek(tls_certstore_sessions(t->cstore),
	    SERVER_DOMAIN, no_client_cert ? "-" : CLIENT_DOMAIN, 0);
}

TEST(tls_ticket_resumption_keeps_the_peer_identity)
{
	struct tk t;
	struct tls_fx_end srv, cli;
	const uint8_t *der;
	size_t len;
	int round;

	tk_setup(&t, NULL);
	tk_connect(&t, &srv, &cli, 0);
	CHECK_INT_EQ(tls_conn_resumed(srv.conn), 0);
	CHECK_INT_EQ(server_verifies(&srv, CLIENT_DOMAIN), TLS_VERIFY_OK);
	tk_close(&srv, &cli);
	CHECK(cached_session(&t, 0) != NULL);

	/* Twice: the second resumption uses the ticket issued on the first
	 * resumed connection, which must carry the identity on. */
	for (round = 0; round < 2; round++) {
		tk_connect(&t, &srv, &cli, 0);
		CHECK_INT_EQ(tls_conn_resumed(srv.conn), 1);
		/* What SASL EXTERNAL asks (XEP-0178): still the partner. */
		CHECK_INT_EQ(server_verifies(&srv, CLIENT_DOMAIN), TLS_VERIFY_OK);
		CHECK_INT_EQ(srv.result.status, TLS_VERIFY_OK);
		CHECK_INT_EQ(tls_conn_peer_cert_der(srv.conn, 0, &der, &len), 0);
		CHECK(len > 100);
		/* The client side resumed its check of the server too. */
		CHECK_INT_EQ(cli.result.status, TLS_VERIFY_OK);
		CHECK_INT_EQ(tls_conn_write(cli.conn, (const uint8_t *)"<x/>", 4), 0);
		tls_fx_pump(&cli, &srv);
		CHECK_INT_EQ(srv.plain_len, 4);
		tk_close(&srv, &cli);
	}
	tk_teardown(&t);
}

/* A ticket issued to example.net is no certificate for example.org. */
TEST(tls_ticket_identity_only_for_the_certificate_names)
{
	struct tk t;
	struct tls_fx_end srv, cli;

	tk_setup(&t, NULL);
	tk_connect(&t, &srv, &cli, 0);
	tk_close(&srv, &cli);
	tk_connect(&t, &srv, &cli, 0);
	REQUIRE(tls_conn_resumed(srv.conn) == 1);
	CHECK_INT_EQ(server_verifies(&srv, "example.org"), TLS_VERIFY_NAME_MISMATCH);
	CHECK_INT_EQ(server_verifies(&srv, "sub.example.net"), TLS_VERIFY_NAME_MISMATCH);
	CHECK_INT_EQ(server_verifies(&srv, CLIENT_DOMAIN), TLS_VERIFY_OK);
	tk_close(&srv, &cli);
	tk_teardown(&t);
}

/* A partner without a certificate (dialback) resumes without one. */
TEST(tls_ticket_no_certificate_resumes_without_identity)
{
	struct tk t;
	struct tls_fx_end srv, cli;
	const uint8_t *der;
	size_t len;

	tk_setup(&t, NULL);
	tk_connect(&t, &srv, &cli, 1);
	CHECK_INT_EQ(server_verifies(&srv, CLIENT_DOMAIN), TLS_VERIFY_NO_CERT);
	tk_close(&srv, &cli);
	tk_connect(&t, &srv, &cli, 1);
	CHECK_INT_EQ(tls_conn_resumed(srv.conn), 1);
	CHECK_INT_EQ(server_verifies(&srv, CLIENT_DOMAIN), TLS_VERIFY_NO_CERT);
	CHECK_INT_EQ(tls_conn_peer_cert_der(srv.conn, 0, &der, &len), -1);
	tk_close(&srv, &cli);
	tk_teardown(&t);
}

/* Reload / `cert rotate` / new trust anchors: a new store.  Its tickets
 * are its own: the client's ticket gets a full handshake, in which the
 * certificate is judged by the new anchors. */
TEST(tls_ticket_refused_after_the_store_changes)
{
	struct tk t;
	struct tls_fx_end srv, cli;

	tk_setup(&t, NULL);
	tk_connect(&t, &srv, &cli, 0);
	tk_close(&srv, &cli);
	REQUIRE(cached_session(&t, 0) != NULL);
	/* Same files: a reload. */
	tk_swap_expect(&t, tls_fx_store(&t.fx, SERVER_DOMAIN, "server", "ca",
	    NULL, NULL, 0), 0, TLS_VERIFY_OK);

	/* Other trust anchors: the partner's CA is no longer trusted. */
	REQUIRE(cached_session(&t, 0) != NULL);
	REQUIRE(tls_fx_ca(&t.fx, "otherca") == 0);
	tk_swap_expect(&t, tls_fx_store(&t.fx, SERVER_DOMAIN, "server",
	    "otherca", NULL, NULL, 0), 0, TLS_VERIFY_UNTRUSTED);
	tk_teardown(&t);
}

/* A client changing any byte of its ticket (the inner ticket, the sealed
 * identity, its tag, the length) gets a full handshake, never a session
 * and never another identity. */
TEST(tls_ticket_tampered_falls_back_to_a_full_handshake)
{
	struct tk t;
	struct tls_fx_end srv, cli;
	mbedtls_ssl_session *s;
	size_t len, positions[5], i;

	tk_setup(&t, NULL);
	tk_connect(&t, &srv, &cli, 0);
	tk_close(&srv, &cli);
	s = cached_session(&t, 0);
	REQUIRE(s != NULL);
	len = s->MBEDTLS_PRIVATE(ticket_len);
	REQUIRE(len > 300);
	positions[0] = 0;		/* the inner length */
	positions[1] = 10;		/* inside mbedTLS's ticket */
	positions[2] = len / 2;		/* inside the sealed identity */
	positions[3] = len - 20;	/* its end */
	positions[4] = len - 1;		/* the tag */
	for (i = 0; i < sizeof(positions) / sizeof(positions[0]); i++) {
		s = cached_session(&t, 0);
		REQUIRE(s != NULL);
		s->MBEDTLS_PRIVATE(ticket)[positions[i]] ^= 0x01;
		tk_connect(&t, &srv, &cli, 0);
		CHECK_INT_EQ(tls_conn_resumed(srv.conn), 0);
		/* The full handshake proved the identity afresh. */
		CHECK_INT_EQ(server_verifies(&srv, CLIENT_DOMAIN), TLS_VERIFY_OK);
		tk_close(&srv, &cli);
	}
	/* And the untouched ticket of that last connection resumes. */
	tk_connect(&t, &srv, &cli, 0);
	CHECK_INT_EQ(tls_conn_resumed(srv.conn), 1);
	tk_close(&srv, &cli);
	tk_teardown(&t);
}

/* Sleeps until the wall clock is past `when` (X.509 dates: whole
 * seconds, valid through their last one).  Real time, as the code under
 * test reads it (mbedTLS's clock, time()); the deadline only keeps a
 * clock that stopped from hanging the run. */
static void
tk_wait_past(time_t when)
{
	struct timespec nap = { 0, 50 * 1000 * 1000 };
	int naps = 20 * 30;

	while (time(NULL) <= when && naps-- > 0)
		nanosleep(&nap, NULL);
	REQUIRE(time(NULL) > when);
}

/* A ticket may outlive the certificate it was issued on: on resumption
 * the dates are judged again. */
TEST(tls_ticket_certificate_expired_since_the_ticket)
{
	struct tk t;
	struct tls_fx_end srv, cli;
	struct tls_certgen spec;
	enum tls_verify_status first;

	memset(&spec, 0, sizeof(spec));
	spec.subject_cn = CLIENT_DOMAIN;
	spec.dns_names[0] = CLIENT_DOMAIN;
	spec.not_after = time(NULL) + 2;
	tk_setup(&t, &spec);
	tk_connect(&t, &srv, &cli, 0);
	first = server_verifies(&srv, CLIENT_DOMAIN);
	/* Valid when the ticket was issued, as far as the clock can tell:
	 * still within the dates after the check, it was within them during
	 * it.  A loaded machine may take the two seconds over the key
	 * generation and the handshake; then the ticket was issued on an
	 * expired certificate, and only the resumption below is judged. */
	if (time(NULL) <= spec.not_after)
		CHECK_INT_EQ(first, TLS_VERIFY_OK);
	else
		CHECK(first == TLS_VERIFY_OK || first == TLS_VERIFY_EXPIRED);
	tk_close(&srv, &cli);
	tk_wait_past(spec.not_after);
	tk_connect(&t, &srv, &cli, 0);
	CHECK_INT_EQ(tls_conn_resumed(srv.conn), 1);
	CHECK_INT_EQ(server_verifies(&srv, CLIENT_DOMAIN), TLS_VERIFY_EXPIRED);
	tk_close(&srv, &cli);
	tk_teardown(&t);
}

/* Hostile bytes straight into the parser: refused, nothing left over
 * (ASan/LSan), no identity given to the connection. */
TEST(tls_ticket_parse_refuses_garbage)
{
	struct tk t;
	mbedtls_ssl_session session;
	unsigned char buf[600];
	size_t len, i;

	tk_setup(&t, NULL);
	srand(18);
	for (len = 0; len < sizeof(buf); len += 7) {
		for (i = 0; i < len; i++)
			buf[i] = (unsigned char)rand();
		if (len >= 2) {	/* plausible inner lengths too */
			buf[0] = 0;
			buf[1] = (unsigned char)(len / 3);
		}
		mbedtls_ssl_session_init(&session);
		CHECK(tls_ticket_parse(tls_certstore_tickets(t.sstore), &session,
		    buf, len) != 0);
		mbedtls_ssl_session_free(&session);
	}
	tk_teardown(&t);
}

static const uint8_t test_secret[32] = "0123456789abcdef0123456789abcde";

/* tls.ticket_key_file: a store loaded later (a restarted process) with
 * the same secret and the same trust anchors and certificates takes the
 * tickets of the one before, with their identity. */
TEST(tls_ticket_secret_keys_survive_a_restart)
{
	struct tk t;
	struct tls_fx_end srv, cli;
	struct tls_certstore *fresh;

	tk_setup(&t, NULL);
	fresh = secret_store(&t, "ca", test_secret);
	REQUIRE(fresh != NULL);
	tls_certstore_swap(&t.sstore, fresh);
	tk_connect(&t, &srv, &cli, 0);
	tk_close(&srv, &cli);
	tk_swap_expect(&t, secret_store(&t, "ca", test_secret), 1, TLS_VERIFY_OK);
	/* Another secret: a full handshake. */
	tk_swap_expect(&t, secret_store(&t, "ca",
	    (const uint8_t *)"another secret, another secret!!"), 0, TLS_VERIFY_OK);
	tk_teardown(&t);
}

/* The same secret but other trust anchors: the keys decrypt the ticket,
 * the trust fingerprint sealed in it refuses it. */
TEST(tls_ticket_secret_keys_refused_after_trust_anchors_change)
{
	struct tk t;
	struct tls_fx_end srv, cli;
	struct tls_certstore *fresh;

	tk_setup(&t, NULL);
	REQUIRE(tls_fx_ca(&t.fx, "otherca") == 0);
	fresh = secret_store(&t, "ca", test_secret);
	REQUIRE(fresh != NULL);
	tls_certstore_swap(&t.sstore, fresh);
	tk_connect(&t, &srv, &cli, 0);
	tk_close(&srv, &cli);
	tk_swap_expect(&t, secret_store(&t, "otherca", test_secret), 0,
	    TLS_VERIFY_UNTRUSTED);
	tk_teardown(&t);
}

/* tls.session_tickets = false: none issued, none kept. */
TEST(tls_ticket_disabled)
{
	struct tk t;
	struct tls_fx_end srv, cli;
	struct tls_certstore *fresh;

	tk_setup(&t, NULL);
	fresh = tls_fx_store_tickets(&t.fx, SERVER_DOMAIN, "server", "ca", NULL,
	    NULL, 0, NULL, 0, 1);
	REQUIRE(fresh != NULL);
	tls_certstore_swap(&t.sstore, fresh);
	tk_connect(&t, &srv, &cli, 0);
	tk_close(&srv, &cli);
	CHECK(cached_session(&t, 0) == NULL);
	tk_connect(&t, &srv, &cli, 0);
	CHECK_INT_EQ(tls_conn_resumed(srv.conn), 0);
	tk_close(&srv, &cli);
	tk_teardown(&t);
}

/* An outgoing stream that checks DANE (params.no_resume) needs the whole
 * chain: it neither keeps nor offers a ticket. */
TEST(tls_ticket_client_no_resume)
{
	struct tk t;
	struct tls_fx_end srv, cli;
	struct tls_conn_params sp = { .role = TLS_ROLE_EXTERNAL_SERVER };
	struct tls_conn_params cp = { .role = TLS_ROLE_EXTERNAL_CLIENT,
	    .peer_domain = SERVER_DOMAIN, .local_domain = CLIENT_DOMAIN,
	    .no_resume = 1 };
	int round;

	tk_setup(&t, NULL);
	for (round = 0; round < 2; round++) {
		memset(&srv, 0, sizeof(srv));
		memset(&cli, 0, sizeof(cli));
		REQUIRE(tls_fx_end_new(&srv, t.sstore, &sp) == 0);
		REQUIRE(tls_fx_end_new(&cli, t.cstore, &cp) == 0);
		tls_conn_start(cli.conn);
		tls_fx_pump(&cli, &srv);
		REQUIRE(srv.handshakes == 1 && cli.handshakes == 1);
		CHECK_INT_EQ(tls_conn_resumed(srv.conn), 0);
		CHECK(cached_session(&t, 0) == NULL);
		tk_close(&srv, &cli);
	}
	tk_teardown(&t);
}

/* Issue 18: once the server's application data came, the client gives
 * mbedTLS's TLS 1.3 handshake structure back (tls_conn.c,
 * conn_handshake_release); the ticket that came before it is kept, the
 * next connection resumes with the partner's identity, and the released
 * connection goes on carrying data both ways. */
TEST(tls_ticket_kept_when_the_handshake_state_goes)
{
	struct tk t;
	struct tls_fx_end srv, cli;
	int i;

	tk_setup(&t, NULL);
	tk_connect(&t, &srv, &cli, 0);
	CHECK_INT_EQ(tls_conn_handshake_held(srv.conn), 0);
	CHECK(cached_session(&t, 0) != NULL);
	CHECK_INT_EQ(tls_conn_write(srv.conn, (const uint8_t *)"<a/>", 4), 0);
	tls_fx_pump(&cli, &srv);
	CHECK_INT_EQ(cli.plain_len, 4);
	CHECK_INT_EQ(tls_conn_handshake_held(cli.conn), 0);
	for (i = 0; i < 20; i++) {
		CHECK_INT_EQ(tls_conn_write(cli.conn, (const uint8_t *)"<b/>", 4), 0);
		CHECK_INT_EQ(tls_conn_write(srv.conn, (const uint8_t *)"<c/>", 4), 0);
		tls_fx_pump(&cli, &srv);
	}
	CHECK_INT_EQ(srv.plain_len, 80);
	CHECK_INT_EQ(cli.plain_len, 84);
	CHECK(srv.errors == 0 && cli.errors == 0);
	tk_close(&srv, &cli);

	tk_connect(&t, &srv, &cli, 0);
	CHECK_INT_EQ(tls_conn_resumed(srv.conn), 1);
	CHECK_INT_EQ(server_verifies(&srv, CLIENT_DOMAIN), TLS_VERIFY_OK);
	CHECK_INT_EQ(cli.result.status, TLS_VERIFY_OK);
	tk_close(&srv, &cli);
	tk_teardown(&t);
}
