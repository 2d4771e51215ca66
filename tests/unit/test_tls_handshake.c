/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tls_handshake.c - two tls_conns talking through memory
 * (tls/tls_conn.c, tls/certstore.c): the success paths and every failure
 * reason the issue lists, each with its specific result or error.
 * ASan/LSan in the dev build turn any leak or overflow into a failure.
 */
#include "test.h"
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tls_fixture.h"

#define SERVER_DOMAIN "example.com"
#define CLIENT_DOMAIN "example.net"

struct pair {
	struct tls_fx fx;
	struct tls_certstore *sstore, *cstore;
	struct tls_fx_end srv, cli;
};

/* Server presents fixture cert `scert` for example.com, client presents
 * "client" (example.net); both trust "ca". */
static void
pair_setup(struct pair *p, const char *scert)
{
	memset(p, 0, sizeof(*p));
	REQUIRE(tls_fx_setup(&p->fx) == 0);
	REQUIRE(tls_fx_ca(&p->fx, "ca") == 0);
	REQUIRE(tls_fx_leaf(&p->fx, "client", CLIENT_DOMAIN, "ca") == 0);
	if (strcmp(scert, "good") == 0)
		REQUIRE(tls_fx_leaf(&p->fx, "good", SERVER_DOMAIN, "ca") == 0);
	p->sstore = tls_fx_store(&p->fx, SERVER_DOMAIN, scert, "ca", NULL,
	    NULL, 0);
	p->cstore = tls_fx_store(&p->fx, CLIENT_DOMAIN, "client", "ca", NULL,
	    NULL, 0);
	REQUIRE(p->sstore != NULL && p->cstore != NULL);
}

static void
pair_connect(struct pair *p, const char *peer_domain, int direct)
{
	struct tls_conn_params sp = { .role = TLS_ROLE_EXTERNAL_SERVER,
	    .peer_addr = "client" };
	struct tls_conn_params cp = { .role = TLS_ROLE_EXTERNAL_CLIENT,
	    .peer_domain = peer_domain, .local_domain = CLIENT_DOMAIN,
	    .direct_tls = direct, .peer_addr = "server" };

	REQUIRE(tls_fx_end_new(&p->srv, p->sstore, &sp) == 0);
	REQUIRE(tls_fx_end_new(&p->cli, p->cstore, &cp) == 0);
	tls_conn_start(p->srv.conn);
	tls_conn_start(p->cli.conn);
	tls_fx_pump(&p->cli, &p->srv);
}

static void
pair_teardown(struct pair *p)
{
	tls_fx_end_free(&p->srv);
	tls_fx_end_free(&p->cli);
	tls_certstore_unref(p->sstore);
	tls_certstore_unref(p->cstore);
	tls_fx_teardown(&p->fx);
}

TEST(tls_handshake_ok_data_and_close_notify)
{
	struct pair p;
	struct tls_verify_result r;

	pair_setup(&p, "good");
	pair_connect(&p, SERVER_DOMAIN, 0);
	REQUIRE(p.cli.handshakes == 1 && p.srv.handshakes == 1);
	CHECK_INT_EQ(p.cli.result.status, TLS_VERIFY_OK);
	CHECK_INT_EQ(p.cli.result.matched_by, TLS_ID_DNS);
	CHECK_STR_EQ(p.cli.result.domain, SERVER_DOMAIN);
	CHECK_STR_EQ(tls_conn_version(p.cli.conn), "TLSv1.3");
	CHECK_STR_EQ(tls_conn_sni(p.srv.conn), SERVER_DOMAIN);
	CHECK(tls_conn_alpn(p.srv.conn) == NULL);
	/* The server requested a client certificate: SASL EXTERNAL can use
	 * it once the stream names the peer's domain. */
	CHECK_INT_EQ(p.srv.result.status, TLS_VERIFY_OK);
	CHECK_INT_EQ(tls_conn_verify_peer(p.srv.conn, CLIENT_DOMAIN, &r), 0);
	CHECK_INT_EQ(r.status, TLS_VERIFY_OK);
	CHECK_INT_EQ(tls_conn_verify_peer(p.srv.conn, "example.org", &r), 0);
	CHECK_INT_EQ(r.status, TLS_VERIFY_NAME_MISMATCH);

	CHECK_INT_EQ(tls_conn_write(p.cli.conn, (const uint8_t *)"<stream>", 8),
	    0);
	tls_fx_pump(&p.cli, &p.srv);
	CHECK_INT_EQ(p.srv.plain_len, 8);
	CHECK(p.srv.plain && memcmp(p.srv.plain, "<stream>", 8) == 0);
	{
		/* More than one record each way. */
		size_t n = 100000, i;
		uint8_t *big = malloc(n);

		REQUIRE(big != NULL);
		for (i = 0; i < n; i++)
			big[i] = (uint8_t)(i * 31);
		CHECK_INT_EQ(tls_conn_write(p.srv.conn, big, n), 0);
		tls_fx_pump(&p.cli, &p.srv);
		CHECK_INT_EQ(p.cli.plain_len, n);
		CHECK(p.cli.plain && memcmp(p.cli.plain, big, n) == 0);
		free(big);
	}
	tls_conn_close(p.cli.conn);
	CHECK_INT_EQ(tls_conn_state(p.cli.conn), TLS_CLOSING);
	tls_fx_pump(&p.cli, &p.srv);
	CHECK_INT_EQ(p.srv.close_notify, 1);
	CHECK_INT_EQ(p.cli.close_notify, 1);
	CHECK_INT_EQ(tls_conn_state(p.srv.conn), TLS_CLOSED);
	CHECK_INT_EQ(tls_conn_state(p.cli.conn), TLS_CLOSED);
	CHECK_INT_EQ(p.srv.errors + p.cli.errors, 0);
	pair_teardown(&p);
}

TEST(tls_handshake_direct_tls_alpn)
{
	struct pair p;

	pair_setup(&p, "good");
	pair_connect(&p, SERVER_DOMAIN, 1);
	REQUIRE(p.cli.handshakes == 1 && p.srv.handshakes == 1);
	CHECK_STR_EQ(tls_conn_alpn(p.srv.conn), TLS_ALPN_XMPP_SERVER);
	CHECK_STR_EQ(tls_conn_alpn(p.cli.conn), TLS_ALPN_XMPP_SERVER);
	pair_teardown(&p);
}

/* STARTTLS: the s2s layer feeds whatever followed <starttls/> in its
 * read buffer, in whatever pieces the network produced. */
TEST(tls_handshake_byte_by_byte)
{
	struct pair p;
	struct tls_conn_params sp = { .role = TLS_ROLE_EXTERNAL_SERVER };
	struct tls_conn_params cp = { .role = TLS_ROLE_EXTERNAL_CLIENT,
	    .peer_domain = SERVER_DOMAIN };
	int rounds = 0;

	pair_setup(&p, "good");
	REQUIRE(tls_fx_end_new(&p.srv, p.sstore, &sp) == 0);
	REQUIRE(tls_fx_end_new(&p.cli, p.cstore, &cp) == 0);
	tls_conn_start(p.cli.conn);
	while ((p.cli.out_len || p.srv.out_len) && rounds++ < 20) {
		struct tls_fx_end *from = p.cli.out_len ? &p.cli : &p.srv;
		struct tls_fx_end *to = from == &p.cli ? &p.srv : &p.cli;
		uint8_t *buf = from->out;
		size_t n = from->out_len, i;

		from->out = NULL;
		from->out_len = 0;
		for (i = 0; i < n; i++)
			tls_conn_feed(to->conn, buf + i, 1);
		free(buf);
	}
	CHECK_INT_EQ(p.cli.handshakes, 1);
	CHECK_INT_EQ(p.srv.handshakes, 1);
	CHECK_INT_EQ(p.cli.result.status, TLS_VERIFY_OK);
	pair_teardown(&p);
}

/* Peer certificate problems on the client side: the handshake completes
 * (the s2s layer may still use dialback) and the result says why. */
static void
check_client_result(const char *name, struct tls_certgen *spec,
    const char *issuer, const char *peer_domain, enum tls_verify_status want)
{
	struct pair p;

	memset(&p, 0, sizeof(p));
	REQUIRE(tls_fx_setup(&p.fx) == 0);
	REQUIRE(tls_fx_ca(&p.fx, "ca") == 0);
	REQUIRE(tls_fx_ca(&p.fx, "otherca") == 0);
	REQUIRE(tls_fx_leaf(&p.fx, "client", CLIENT_DOMAIN, "ca") == 0);
	REQUIRE(tls_fx_cert(&p.fx, name, spec, issuer) == 0);
	p.sstore = tls_fx_store(&p.fx, SERVER_DOMAIN, name, "ca", NULL, NULL, 0);
	p.cstore = tls_fx_store(&p.fx, CLIENT_DOMAIN, "client", "ca", NULL,
	    NULL, 0);
	REQUIRE(p.sstore != NULL && p.cstore != NULL);
	pair_connect(&p, peer_domain, 0);
	CHECK_INT_EQ(p.cli.handshakes, 1);
	if (p.cli.result.status != want)
		test_fail_at(__FILE__, __LINE__, "%s: got '%s' (%s), want '%s'",
		    name, tls_verify_status_str(p.cli.result.status),
		    p.cli.result.detail, tls_verify_status_str(want));
	pair_teardown(&p);
}

static void
spec_for(struct tls_certgen *s, const char *domain)
{
	memset(s, 0, sizeof(*s));
	s->subject_cn = domain;
	s->dns_names[0] = domain;
}

TEST(tls_verify_expired)
{
	struct tls_certgen s;

	spec_for(&s, SERVER_DOMAIN);
	s.not_before = time(NULL) - 10 * 86400;
	s.not_after = time(NULL) - 86400;
	check_client_result("expired", &s, "ca", SERVER_DOMAIN,
	    TLS_VERIFY_EXPIRED);
}

TEST(tls_verify_not_yet_valid)
{
	struct tls_certgen s;

	spec_for(&s, SERVER_DOMAIN);
	s.not_before = time(NULL) + 86400;
	s.not_after = time(NULL) + 10 * 86400;
	check_client_result("future", &s, "ca", SERVER_DOMAIN,
	    TLS_VERIFY_NOT_YET_VALID);
}

TEST(tls_verify_wrong_name)
{
	struct tls_certgen s;

	spec_for(&s, "example.org");
	check_client_result("wrongname", &s, "ca", SERVER_DOMAIN,
	    TLS_VERIFY_NAME_MISMATCH);
}

TEST(tls_verify_untrusted_root)
{
	struct tls_certgen s;

	spec_for(&s, SERVER_DOMAIN);
	check_client_result("untrusted", &s, "otherca", SERVER_DOMAIN,
	    TLS_VERIFY_UNTRUSTED);
}

TEST(tls_verify_self_signed)
{
	struct tls_certgen s;

	spec_for(&s, SERVER_DOMAIN);
	check_client_result("selfsigned", &s, NULL, SERVER_DOMAIN,
	    TLS_VERIFY_SELF_SIGNED);
}

TEST(tls_verify_srv_id_and_xmppaddr)
{
	struct tls_certgen s;

	memset(&s, 0, sizeof(s));
	s.subject_cn = "whatever";
	s.srv_names[0] = "_xmpp-server." SERVER_DOMAIN;
	check_client_result("srvid", &s, "ca", SERVER_DOMAIN, TLS_VERIFY_OK);
	memset(&s, 0, sizeof(s));
	s.subject_cn = "whatever";
	s.xmpp_addrs[0] = SERVER_DOMAIN;
	check_client_result("xmppaddr", &s, "ca", SERVER_DOMAIN, TLS_VERIFY_OK);
	/* CN alone is never enough (RFC 9525 §6.2). */
	memset(&s, 0, sizeof(s));
	s.subject_cn = SERVER_DOMAIN;
	check_client_result("cnonly", &s, "ca", SERVER_DOMAIN,
	    TLS_VERIFY_NAME_MISMATCH);
}

/* SNI picks the hosted domain's certificate; an unknown name gets the
 * default. */
TEST(tls_sni_selects_certificate)
{
	struct tls_fx fx;
	struct tls_certstore_config cfg;
	struct tls_cert_paths cp[2];
	struct tls_certstore *ss, *cs;
	char a_crt[300], a_key[300], b_crt[300], b_key[300], ca[300], err[300];
	const char *names[] = { "a.example", "b.example", "c.example" };
	size_t i;

	REQUIRE(tls_fx_setup(&fx) == 0);
	REQUIRE(tls_fx_ca(&fx, "ca") == 0);
	REQUIRE(tls_fx_leaf(&fx, "a", "a.example", "ca") == 0);
	REQUIRE(tls_fx_leaf(&fx, "b", "b.example", "ca") == 0);
	REQUIRE(tls_fx_leaf(&fx, "client", CLIENT_DOMAIN, "ca") == 0);
	memset(&cfg, 0, sizeof(cfg));
	cp[0] = (struct tls_cert_paths){ "a.example",
	    tls_fx_path(&fx, "a.crt", a_crt, sizeof(a_crt)),
	    tls_fx_path(&fx, "a.key", a_key, sizeof(a_key)) };
	cp[1] = (struct tls_cert_paths){ "B.Example.",
	    tls_fx_path(&fx, "b.crt", b_crt, sizeof(b_crt)),
	    tls_fx_path(&fx, "b.key", b_key, sizeof(b_key)) };
	cfg.certs = cp;
	cfg.ncerts = 2;
	cfg.default_domain = "b.example";
	cfg.ca_file = tls_fx_path(&fx, "ca.crt", ca, sizeof(ca));
	ss = tls_certstore_load(&cfg, err, sizeof(err));
	REQUIRE(ss != NULL);
	CHECK(tls_certstore_has_domain(ss, "a.example"));
	CHECK(tls_certstore_has_domain(ss, "b.example"));
	CHECK(!tls_certstore_has_domain(ss, "c.example"));
	cs = tls_fx_store(&fx, CLIENT_DOMAIN, "client", "ca", NULL, NULL, 0);
	REQUIRE(cs != NULL);
	for (i = 0; i < 3; i++) {
		struct tls_fx_end srv, cli;
		struct tls_conn_params sp = { .role = TLS_ROLE_EXTERNAL_SERVER };
		struct tls_conn_params cpp = { .role = TLS_ROLE_EXTERNAL_CLIENT,
		    .peer_domain = names[i] };

		REQUIRE(tls_fx_end_new(&srv, ss, &sp) == 0);
		REQUIRE(tls_fx_end_new(&cli, cs, &cpp) == 0);
		tls_conn_start(cli.conn);
		tls_fx_pump(&cli, &srv);
		CHECK_INT_EQ(cli.handshakes, 1);
		CHECK_STR_EQ(tls_conn_sni(srv.conn), names[i]);
		/* c.example got the default (b): a name mismatch. */
		CHECK_INT_EQ(cli.result.status, i < 2 ? TLS_VERIFY_OK :
		    TLS_VERIFY_NAME_MISMATCH);
		tls_fx_end_free(&srv);
		tls_fx_end_free(&cli);
	}
	tls_certstore_unref(ss);
	tls_certstore_unref(cs);
	tls_fx_teardown(&fx);
}

/* --- the internal link: pins ---------------------------------------------- */

static void
pinned_pair(int server_knows_client, int client_knows_server,
    struct tls_fx_end *srv, struct tls_fx_end *cli, struct tls_fx *fx,
    struct tls_certstore **ss, struct tls_certstore **cs)
{
	char pin_srv[64], pin_cli[64], pin_other[64];
	const char *spins[2], *cpins[2];
	struct tls_conn_params sp = { .role = TLS_ROLE_INTERNAL_SERVER,
	    .peer_addr = "internal-client" };
	struct tls_conn_params cp = { .role = TLS_ROLE_INTERNAL_CLIENT,
	    .peer_addr = "internal-server" };

	REQUIRE(tls_fx_setup(fx) == 0);
	REQUIRE(tls_fx_leaf(fx, "ext", SERVER_DOMAIN, NULL) == 0);
	/* Self-signed, no CA anywhere: the pin is the whole trust. */
	REQUIRE(tls_fx_leaf(fx, "isrv", "edge-internal", NULL) == 0);
	REQUIRE(tls_fx_leaf(fx, "icli", "backend-internal", NULL) == 0);
	REQUIRE(tls_fx_leaf(fx, "iother", "someone-else", NULL) == 0);
	REQUIRE(tls_fx_pin(fx, "isrv", pin_srv, sizeof(pin_srv)) == 0);
	REQUIRE(tls_fx_pin(fx, "icli", pin_cli, sizeof(pin_cli)) == 0);
	REQUIRE(tls_fx_pin(fx, "iother", pin_other, sizeof(pin_other)) == 0);
	/* Two pins each: rotation with overlap. */
	spins[0] = pin_other;
	spins[1] = server_knows_client ? pin_cli : pin_other;
	cpins[0] = client_knows_server ? pin_srv : pin_other;
	cpins[1] = pin_other;
	*ss = tls_fx_store(fx, SERVER_DOMAIN, "ext", "ext", "isrv", spins, 2);
	*cs = tls_fx_store(fx, SERVER_DOMAIN, "ext", "ext", "icli", cpins, 2);
	REQUIRE(*ss != NULL && *cs != NULL);
	REQUIRE(tls_fx_end_new(srv, *ss, &sp) == 0);
	REQUIRE(tls_fx_end_new(cli, *cs, &cp) == 0);
	tls_conn_start(cli->conn);
	tls_fx_pump(cli, srv);
}

TEST(tls_pinned_mutual_ok)
{
	struct tls_fx fx;
	struct tls_fx_end srv, cli;
	struct tls_certstore *ss, *cs;

	pinned_pair(1, 1, &srv, &cli, &fx, &ss, &cs);
	CHECK_INT_EQ(srv.handshakes, 1);
	CHECK_INT_EQ(cli.handshakes, 1);
	CHECK_INT_EQ(srv.result.status, TLS_VERIFY_OK);
	CHECK_INT_EQ(srv.result.matched_by, TLS_ID_PIN);
	CHECK_INT_EQ(cli.result.matched_by, TLS_ID_PIN);
	CHECK_INT_EQ(tls_conn_write(cli.conn, (const uint8_t *)"x", 1), 0);
	tls_fx_pump(&cli, &srv);
	CHECK_INT_EQ(srv.plain_len, 1);
	tls_fx_end_free(&srv);
	tls_fx_end_free(&cli);
	tls_certstore_unref(ss);
	tls_certstore_unref(cs);
	tls_fx_teardown(&fx);
}

TEST(tls_pinned_wrong_pin_server_side)
{
	struct tls_fx fx;
	struct tls_fx_end srv, cli;
	struct tls_certstore *ss, *cs;

	pinned_pair(0, 1, &srv, &cli, &fx, &ss, &cs);
	CHECK_INT_EQ(srv.handshakes, 0);
	CHECK_INT_EQ(srv.errors, 1);
	CHECK(strstr(srv.error, "pin mismatch") != NULL);
	CHECK_INT_EQ(tls_conn_state(srv.conn), TLS_FAILED);
	/* The client hears about it.  In TLS 1.3 it has finished its side
	 * of the handshake first, and the alert of an mbedTLS server comes
	 * under keys it no longer reads with: the reason says so. */
	CHECK_INT_EQ(cli.errors, 1);
	if (strstr(cli.error, "access_denied") == NULL &&
	    strstr(cli.error, "refused our certificate") == NULL)
		test_fail_at(__FILE__, __LINE__, "client: '%s'", cli.error);
	tls_fx_end_free(&srv);
	tls_fx_end_free(&cli);
	tls_certstore_unref(ss);
	tls_certstore_unref(cs);
	tls_fx_teardown(&fx);
}

TEST(tls_pinned_wrong_pin_client_side)
{
	struct tls_fx fx;
	struct tls_fx_end srv, cli;
	struct tls_certstore *ss, *cs;

	pinned_pair(1, 0, &srv, &cli, &fx, &ss, &cs);
	CHECK_INT_EQ(cli.handshakes, 0);
	CHECK_INT_EQ(cli.errors, 1);
	CHECK(strstr(cli.error, "pin mismatch") != NULL);
	CHECK_INT_EQ(srv.handshakes, 0);
	CHECK_INT_EQ(srv.errors, 1);
	tls_fx_end_free(&srv);
	tls_fx_end_free(&cli);
	tls_certstore_unref(ss);
	tls_certstore_unref(cs);
	tls_fx_teardown(&fx);
}

/* An external client (it presents a CA-issued certificate, not a pinned
 * key) knocking on the internal port. */
TEST(tls_pinned_refuses_unpinned_client)
{
	struct tls_fx fx;
	struct tls_fx_end srv, cli;
	struct tls_certstore *ss, *cs;
	char pin[64];
	const char *pins[1];
	struct tls_conn_params sp = { .role = TLS_ROLE_INTERNAL_SERVER };
	struct tls_conn_params cp = { .role = TLS_ROLE_EXTERNAL_CLIENT,
	    .peer_domain = "edge-internal" };

	REQUIRE(tls_fx_setup(&fx) == 0);
	REQUIRE(tls_fx_leaf(&fx, "isrv", "edge-internal", NULL) == 0);
	REQUIRE(tls_fx_leaf(&fx, "stranger", CLIENT_DOMAIN, NULL) == 0);
	REQUIRE(tls_fx_pin(&fx, "isrv", pin, sizeof(pin)) == 0);
	pins[0] = pin;
	ss = tls_fx_store(&fx, SERVER_DOMAIN, "isrv", "isrv", "isrv", pins, 1);
	cs = tls_fx_store(&fx, CLIENT_DOMAIN, "stranger", "isrv", NULL, NULL, 0);
	REQUIRE(ss != NULL && cs != NULL);
	REQUIRE(tls_fx_end_new(&srv, ss, &sp) == 0);
	REQUIRE(tls_fx_end_new(&cli, cs, &cp) == 0);
	tls_conn_start(cli.conn);
	tls_fx_pump(&cli, &srv);
	CHECK_INT_EQ(srv.handshakes, 0);
	CHECK(strstr(srv.error, "pin mismatch") != NULL);
	tls_fx_end_free(&srv);
	tls_fx_end_free(&cli);
	tls_certstore_unref(ss);
	tls_certstore_unref(cs);
	tls_fx_teardown(&fx);
}

/* --- hostile or broken input ------------------------------------------- */

static void
server_gets(const uint8_t *data, size_t len, int eof, const char *want)
{
	struct pair p;
	struct tls_conn_params sp = { .role = TLS_ROLE_EXTERNAL_SERVER };

	pair_setup(&p, "good");
	REQUIRE(tls_fx_end_new(&p.srv, p.sstore, &sp) == 0);
	tls_conn_start(p.srv.conn);
	tls_conn_feed(p.srv.conn, data, len);
	if (eof)
		tls_conn_eof(p.srv.conn);
	CHECK_INT_EQ(p.srv.errors, 1);
	CHECK_INT_EQ(tls_conn_state(p.srv.conn), TLS_FAILED);
	if (strstr(p.srv.error, want) == NULL)
		test_fail_at(__FILE__, __LINE__, "reason '%s' lacks '%s'",
		    p.srv.error, want);
	/* Input after the failure is ignored, without a second event. */
	CHECK_INT_EQ(tls_conn_feed(p.srv.conn, data, len), -1);
	CHECK_INT_EQ(p.srv.errors, 1);
	pair_teardown(&p);
}

TEST(tls_fail_garbage_instead_of_client_hello)
{
	static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char xml[] = "<?xml version='1.0'?><stream:stream>";

	server_gets((const uint8_t *)http, sizeof(http) - 1, 0, "garbage");
	server_gets((const uint8_t *)xml, sizeof(xml) - 1, 0, "XML");
}

/* A handshake record header followed by junk. */
TEST(tls_fail_malformed_client_hello)
{
	static const uint8_t junk[] = { 22, 3, 1, 0, 8, 1, 0, 0, 4, 9, 9, 9, 9 };

	server_gets(junk, sizeof(junk), 0, "");
}

TEST(tls_fail_truncated_handshake)
{
	struct pair p;
	struct tls_conn_params sp = { .role = TLS_ROLE_EXTERNAL_SERVER };
	struct tls_conn_params cp = { .role = TLS_ROLE_EXTERNAL_CLIENT,
	    .peer_domain = SERVER_DOMAIN };

	pair_setup(&p, "good");
	REQUIRE(tls_fx_end_new(&p.srv, p.sstore, &sp) == 0);
	REQUIRE(tls_fx_end_new(&p.cli, p.cstore, &cp) == 0);
	tls_conn_start(p.cli.conn);
	REQUIRE(p.cli.out_len > 20);
	tls_conn_feed(p.srv.conn, p.cli.out, p.cli.out_len / 2);
	tls_conn_eof(p.srv.conn);
	CHECK_INT_EQ(p.srv.errors, 1);
	CHECK(strstr(p.srv.error, "truncated handshake") != NULL);
	/* And the client side, server flight cut short. */
	tls_conn_eof(p.cli.conn);
	CHECK_INT_EQ(p.cli.errors, 1);
	CHECK(strstr(p.cli.error, "truncated handshake") != NULL);
	pair_teardown(&p);
}

/* A TLS 1.0 ClientHello (no supported_versions): refused with a reason
 * that says so. */
TEST(tls_fail_tls10_client_hello)
{
	uint8_t ch[64];
	size_t n = 0;

	ch[n++] = 22; ch[n++] = 3; ch[n++] = 1;		/* record, TLS 1.0 */
	ch[n++] = 0; ch[n++] = 45;			/* record length */
	ch[n++] = 1; ch[n++] = 0; ch[n++] = 0; ch[n++] = 41;	/* ClientHello */
	ch[n++] = 3; ch[n++] = 1;			/* client_version 1.0 */
	memset(ch + n, 0x42, 32); n += 32;		/* random */
	ch[n++] = 0;					/* session id */
	ch[n++] = 0; ch[n++] = 2; ch[n++] = 0x00; ch[n++] = 0x2f; /* AES128-SHA */
	ch[n++] = 1; ch[n++] = 0;			/* null compression */
	server_gets(ch, n, 0, "protocol version");
}

/* A TLS 1.2 ClientHello offering only RC4 and CBC-SHA suites. */
TEST(tls_fail_weak_suites_only)
{
	uint8_t ch[64];
	size_t n = 0;

	ch[n++] = 22; ch[n++] = 3; ch[n++] = 1;
	ch[n++] = 0; ch[n++] = 51;
	ch[n++] = 1; ch[n++] = 0; ch[n++] = 0; ch[n++] = 47;
	ch[n++] = 3; ch[n++] = 3;			/* TLS 1.2 */
	memset(ch + n, 0x42, 32); n += 32;
	ch[n++] = 0;
	ch[n++] = 0; ch[n++] = 6;
	ch[n++] = 0x00; ch[n++] = 0x05;			/* RSA_RC4_128_SHA */
	ch[n++] = 0x00; ch[n++] = 0x2f;			/* RSA_AES_128_CBC_SHA */
	ch[n++] = 0xc0; ch[n++] = 0x13;			/* ECDHE_RSA_AES128_SHA */
	ch[n++] = 1; ch[n++] = 0;
	ch[n++] = 0; ch[n++] = 0;			/* no extensions */
	server_gets(ch, n, 0, "handshake failure");
}

/* --- lifetime ------------------------------------------------------------ */

static void
free_on_plaintext(void *ud, const uint8_t *data, size_t len)
{
	struct tls_fx_end *e = ud;

	tls_conn_free(e->conn);
	e->conn = NULL;
	e->plain_len += len;
}

TEST(tls_conn_free_from_callback)
{
	struct pair p;
	struct tls_conn_callbacks cb = tls_fx_callbacks;
	struct tls_conn_params sp = { .role = TLS_ROLE_EXTERNAL_SERVER };
	struct tls_conn_params cp = { .role = TLS_ROLE_EXTERNAL_CLIENT,
	    .peer_domain = SERVER_DOMAIN };
	char err[200];

	pair_setup(&p, "good");
	cb.on_plaintext = free_on_plaintext;
	memset(&p.srv, 0, sizeof(p.srv));
	p.srv.conn = tls_conn_new(p.sstore, &sp, &cb, &p.srv, err, sizeof(err));
	REQUIRE(p.srv.conn != NULL);
	REQUIRE(tls_fx_end_new(&p.cli, p.cstore, &cp) == 0);
	tls_conn_start(p.cli.conn);
	tls_fx_pump(&p.cli, &p.srv);
	/* Two records in one feed: the free happens after the first. */
	tls_conn_write(p.cli.conn, (const uint8_t *)"one", 3);
	tls_conn_write(p.cli.conn, (const uint8_t *)"two", 3);
	tls_fx_pump(&p.cli, &p.srv);
	CHECK(p.srv.conn == NULL);
	CHECK_INT_EQ(p.srv.plain_len, 3);
	pair_teardown(&p);
}

/* tls_certstore_swap: new handshakes get the new certificate, an
 * established session carries on with the old store, which lives until
 * its last connection is freed. */
TEST(tls_certstore_swap_keeps_established_sessions)
{
	struct pair p;
	struct tls_certstore *slot, *fresh;
	struct tls_fx_end srv2, cli2;
	struct tls_conn_params sp = { .role = TLS_ROLE_EXTERNAL_SERVER };
	struct tls_conn_params cp = { .role = TLS_ROLE_EXTERNAL_CLIENT,
	    .peer_domain = SERVER_DOMAIN };
	uint64_t gen_old;

	pair_setup(&p, "good");
	pair_connect(&p, SERVER_DOMAIN, 0);
	REQUIRE(p.cli.result.status == TLS_VERIFY_OK);
	/* The slot owns the store from now on. */
	slot = p.sstore;
	p.sstore = NULL;
	gen_old = tls_certstore_generation(slot);
	REQUIRE(tls_fx_leaf(&p.fx, "renamed", "example.org", "ca") == 0);
	fresh = tls_fx_store(&p.fx, SERVER_DOMAIN, "renamed", "ca", NULL, NULL,
	    0);
	REQUIRE(fresh != NULL);
	tls_certstore_swap(&slot, fresh);
	CHECK(tls_certstore_generation(slot) > gen_old);

	REQUIRE(tls_fx_end_new(&srv2, slot, &sp) == 0);
	REQUIRE(tls_fx_end_new(&cli2, p.cstore, &cp) == 0);
	tls_conn_start(cli2.conn);
	tls_fx_pump(&cli2, &srv2);
	CHECK_INT_EQ(cli2.result.status, TLS_VERIFY_NAME_MISMATCH);

	/* The old session still works on the old (now unreferenced by
	 * the slot) store. */
	CHECK_INT_EQ(tls_conn_write(p.srv.conn, (const uint8_t *)"still", 5), 0);
	tls_fx_pump(&p.cli, &p.srv);
	CHECK_INT_EQ(p.cli.plain_len, 5);
	tls_fx_end_free(&srv2);
	tls_fx_end_free(&cli2);
	tls_certstore_unref(slot);
	pair_teardown(&p);	/* frees the old store with its last conn */
}

TEST(tls_certstore_load_errors_name_the_file)
{
	struct tls_fx fx;
	struct tls_certstore_config cfg;
	struct tls_cert_paths cp;
	char crt[300], key[300], other[300], err[300];

	REQUIRE(tls_fx_setup(&fx) == 0);
	REQUIRE(tls_fx_leaf(&fx, "a", "a.example", NULL) == 0);
	REQUIRE(tls_fx_leaf(&fx, "b", "b.example", NULL) == 0);
	memset(&cfg, 0, sizeof(cfg));
	cp.domain = "a.example";
	cp.cert_path = tls_fx_path(&fx, "a.crt", crt, sizeof(crt));
	cp.key_path = tls_fx_path(&fx, "missing.key", key, sizeof(key));
	cfg.certs = &cp;
	cfg.ncerts = 1;
	cfg.ca_file = cp.cert_path;
	CHECK(tls_certstore_load(&cfg, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "missing.key") != NULL);

	cp.key_path = tls_fx_path(&fx, "b.key", key, sizeof(key));
	CHECK(tls_certstore_load(&cfg, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "does not match") != NULL);

	cp.key_path = tls_fx_path(&fx, "a.key", key, sizeof(key));
	cfg.ca_file = tls_fx_path(&fx, "nope.pem", other, sizeof(other));
	CHECK(tls_certstore_load(&cfg, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "nope.pem") != NULL);

	cfg.ca_file = cp.cert_path;
	cfg.default_domain = "z.example";
	CHECK(tls_certstore_load(&cfg, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "z.example") != NULL);
	cfg.default_domain = NULL;

	{
		const char *bad[] = { "AAAA" };

		cfg.pins = bad;
		cfg.npins = 1;
		CHECK(tls_certstore_load(&cfg, err, sizeof(err)) == NULL);
		CHECK(strstr(err, "32") != NULL);
		cfg.pins = NULL;
		cfg.npins = 0;
	}
	/* A key readable by others is refused. */
	chmod(key, 0644);
	CHECK(tls_certstore_load(&cfg, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "accessible by others") != NULL);
	tls_fx_teardown(&fx);
}

TEST(tls_certstore_rotate_ticket_key)
{
	struct pair p;

	pair_setup(&p, "good");
	CHECK_INT_EQ(tls_certstore_rotate_ticket_key(p.sstore), 0);
	pair_connect(&p, SERVER_DOMAIN, 0);
	CHECK_INT_EQ(p.cli.result.status, TLS_VERIFY_OK);
	pair_teardown(&p);
}
