/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tls_eku.c - extendedKeyUsage of s2s certificates (issue 19).
 *
 * An initiating XMPP server presents its server certificate as its TLS
 * client certificate.  Since 2026 public CAs (Let's Encrypt) issue
 * serverAuth only; the amended XEP-0178, Prosody and ejabberd >= 25.07
 * accept that.  These tests make every certificate at test time
 * (serverAuth only, clientAuth only, both, none, codeSigning only) and
 * check what the receiving side (TLS_ROLE_EXTERNAL_SERVER) concludes, what
 * the initiating side concludes of a server certificate, and the outward
 * fallback: a peer refusing our certificate is reported by
 * tls_conn_peer_refused_cert(), and a second try with no_client_cert
 * presents none.
 */
#include "test.h"
#include "tls.h"

#include <stdio.h>
#include <string.h>

#include "tls_fixture.h"

#define SERVER_DOMAIN "example.com"
#define CLIENT_DOMAIN "example.net"

struct eku_pair {
	struct tls_fx fx;
	struct tls_certstore *sstore, *cstore;
	struct tls_fx_end srv, cli;
};

/* The server presents `scert_eku`, the client `ccert_eku`; both CA-issued
 * for their domain, both sides trust the CA. */
static void
eku_connect(struct eku_pair *p, enum tls_certgen_eku scert_eku,
    enum tls_certgen_eku ccert_eku)
{
	struct tls_certgen spec;
	struct tls_conn_params sp = { .role = TLS_ROLE_EXTERNAL_SERVER,
	    .peer_addr = "client" };
	struct tls_conn_params cp = { .role = TLS_ROLE_EXTERNAL_CLIENT,
	    .peer_domain = SERVER_DOMAIN, .local_domain = CLIENT_DOMAIN,
	    .peer_addr = "server" };

	memset(p, 0, sizeof(*p));
	REQUIRE(tls_fx_setup(&p->fx) == 0);
	REQUIRE(tls_fx_ca(&p->fx, "ca") == 0);
	memset(&spec, 0, sizeof(spec));
	spec.subject_cn = SERVER_DOMAIN;
	spec.dns_names[0] = SERVER_DOMAIN;
	spec.eku = scert_eku;
	REQUIRE(tls_fx_cert(&p->fx, "srv", &spec, "ca") == 0);
	memset(&spec, 0, sizeof(spec));
	spec.subject_cn = CLIENT_DOMAIN;
	spec.dns_names[0] = CLIENT_DOMAIN;
	spec.eku = ccert_eku;
	REQUIRE(tls_fx_cert(&p->fx, "cli", &spec, "ca") == 0);
	p->sstore = tls_fx_store(&p->fx, SERVER_DOMAIN, "srv", "ca", NULL,
	    NULL, 0);
	p->cstore = tls_fx_store(&p->fx, CLIENT_DOMAIN, "cli", "ca", NULL,
	    NULL, 0);
	REQUIRE(p->sstore != NULL && p->cstore != NULL);
	REQUIRE(tls_fx_end_new(&p->srv, p->sstore, &sp) == 0);
	REQUIRE(tls_fx_end_new(&p->cli, p->cstore, &cp) == 0);
	tls_conn_start(p->srv.conn);
	tls_conn_start(p->cli.conn);
	tls_fx_pump(&p->cli, &p->srv);
	REQUIRE(p->cli.handshakes == 1 && p->srv.handshakes == 1);
}

static void
eku_teardown(struct eku_pair *p)
{
	tls_fx_end_free(&p->srv);
	tls_fx_end_free(&p->cli);
	tls_certstore_unref(p->sstore);
	tls_certstore_unref(p->cstore);
	tls_fx_teardown(&p->fx);
}

/* What the receiving server concludes of the initiator's certificate,
 * for the initiator's domain (SASL EXTERNAL, XEP-0178 §3). */
static void
check_client_cert(enum tls_certgen_eku eku, enum tls_verify_status want,
    int line)
{
	struct eku_pair p;
	struct tls_verify_result r;

	eku_connect(&p, TLS_EKU_SERVER_CLIENT, eku);
	CHECK_INT_EQ(tls_conn_verify_peer(p.srv.conn, CLIENT_DOMAIN, &r), 0);
	if (r.status != want)
		test_fail_at(__FILE__, line, "client certificate: got '%s' "
		    "(%s), want '%s'", tls_verify_status_str(r.status),
		    r.detail, tls_verify_status_str(want));
	/* The result handed to on_handshake agrees (chain only). */
	if (want == TLS_VERIFY_OK && p.srv.result.status != TLS_VERIFY_OK)
		test_fail_at(__FILE__, line, "handshake result '%s' (%s)",
		    tls_verify_status_str(p.srv.result.status),
		    p.srv.result.detail);
	eku_teardown(&p);
}

TEST(tls_eku_client_cert_server_auth_only_accepted)
{
	/* The Let's Encrypt 2026 case: before the fix, "key usage forbids
	 * it" (flags 0x00001000) and no SASL EXTERNAL. */
	check_client_cert(TLS_EKU_SERVER, TLS_VERIFY_OK, __LINE__);
}

TEST(tls_eku_client_cert_client_auth_only_accepted)
{
	check_client_cert(TLS_EKU_CLIENT, TLS_VERIFY_OK, __LINE__);
}

TEST(tls_eku_client_cert_both_accepted)
{
	check_client_cert(TLS_EKU_SERVER_CLIENT, TLS_VERIFY_OK, __LINE__);
}

TEST(tls_eku_client_cert_no_eku_accepted)
{
	check_client_cert(TLS_EKU_NONE, TLS_VERIFY_OK, __LINE__);
}

TEST(tls_eku_client_cert_code_signing_refused)
{
	/* An EKU that excludes both TLS purposes still forbids it. */
	check_client_cert(TLS_EKU_CODE_SIGNING, TLS_VERIFY_BAD_USAGE,
	    __LINE__);
}

/* The relaxation is for the certificate a receiving server gets, never
 * for the one an initiating server checks: a server certificate needs
 * serverAuth (or no EKU).  (mbedTLS will not even serve a clientAuth-only
 * or codeSigning-only certificate: its handshake fails on the server's
 * side, so those cases cannot reach our client's check.) */
static void
check_server_cert(enum tls_certgen_eku eku, enum tls_verify_status want,
    int line)
{
	struct eku_pair p;

	eku_connect(&p, eku, TLS_EKU_SERVER_CLIENT);
	if (p.cli.result.status != want)
		test_fail_at(__FILE__, line, "server certificate: got '%s' "
		    "(%s), want '%s'", tls_verify_status_str(p.cli.result.status),
		    p.cli.result.detail, tls_verify_status_str(want));
	eku_teardown(&p);
}

TEST(tls_eku_server_cert_purposes)
{
	check_server_cert(TLS_EKU_SERVER, TLS_VERIFY_OK, __LINE__);
	check_server_cert(TLS_EKU_NONE, TLS_VERIFY_OK, __LINE__);
}

/* One client against the refusing server; returns the client's verdict
 * (tls_conn_peer_refused_cert) and the server's error in srv_error. */
static int
refused_by_strict_server(struct tls_certstore *ss, struct tls_certstore *cs, int no_cert,
    char *srv_error, size_t cap)
{
	struct tls_fx_end srv, cli;
	struct tls_conn_params sp = { .role = TLS_ROLE_INTERNAL_SERVER };
	struct tls_conn_params cp = { .role = TLS_ROLE_EXTERNAL_CLIENT,
	    .peer_domain = "edge-internal", .no_client_cert = no_cert };
	int refused;

	REQUIRE(tls_fx_end_new(&srv, ss, &sp) == 0);
	REQUIRE(tls_fx_end_new(&cli, cs, &cp) == 0);
	tls_conn_start(cli.conn);
	tls_fx_pump(&cli, &srv);
	/* Our Finished went out; the next record is the server's verdict. */
	tls_conn_eof(cli.conn);
	CHECK_INT_EQ(srv.handshakes, 0);
	CHECK_INT_EQ(cli.errors, 1);
	CHECK_INT_EQ(tls_conn_peer_refused_cert(srv.conn), 0);
	refused = tls_conn_peer_refused_cert(cli.conn);
	snprintf(srv_error, cap, "%s", srv.error);
	tls_fx_end_free(&srv);
	tls_fx_end_free(&cli);
	return refused;
}

/*
 * Outward: a server that refuses our certificate.  An internal-link
 * server (pinned keys, verification required) refuses any CA-issued
 * certificate, the way a strict peer refuses a serverAuth-only one; in
 * TLS 1.3 its alert comes after our Finished.  The client reports the
 * refusal, and the second try presents no certificate (the server then
 * fails for want of one, not for ours: no refusal reported).
 */
TEST(tls_eku_refused_own_cert_reported_and_retry_without)
{
	struct tls_fx fx;
	struct tls_certstore *ss, *cs;
	char pin[64], err[256];
	const char *pins[1];

	REQUIRE(tls_fx_setup(&fx) == 0);
	REQUIRE(tls_fx_leaf(&fx, "isrv", "edge-internal", NULL) == 0);
	REQUIRE(tls_fx_leaf(&fx, "stranger", CLIENT_DOMAIN, NULL) == 0);
	REQUIRE(tls_fx_pin(&fx, "isrv", pin, sizeof(pin)) == 0);
	pins[0] = pin;
	ss = tls_fx_store(&fx, SERVER_DOMAIN, "isrv", "isrv", "isrv", pins, 1);
	cs = tls_fx_store(&fx, CLIENT_DOMAIN, "stranger", "isrv", NULL, NULL, 0);
	REQUIRE(ss != NULL && cs != NULL);
	CHECK_INT_EQ(refused_by_strict_server(ss, cs, 0, err, sizeof(err)), 1);
	CHECK(strstr(err, "pin mismatch") != NULL);
	CHECK_INT_EQ(refused_by_strict_server(ss, cs, 1, err, sizeof(err)), 0);
	CHECK(strstr(err, "no client certificate") != NULL);
	tls_certstore_unref(ss);
	tls_certstore_unref(cs);
	tls_fx_teardown(&fx);
}

/* A certificate that worked is never reported as refused. */
TEST(tls_eku_accepted_cert_not_reported_refused)
{
	struct eku_pair p;

	eku_connect(&p, TLS_EKU_SERVER, TLS_EKU_SERVER);
	CHECK_INT_EQ(p.cli.errors + p.srv.errors, 0);
	CHECK_INT_EQ(tls_conn_peer_refused_cert(p.cli.conn), 0);
	eku_teardown(&p);
}
