/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_session_in.c - the inbound session (s2s_in, s2s_in_auth) against
 * scripted remote servers (session_fixture.h): header checks, partner
 * policy, the authoritative-server role of dialback.
 */
#include "test.h"

#include "session_fixture.h"

#define SI_CONFIG "{\"state_dir\": \"/tmp/x\", \"domains\": [{\"name\": \"a.example\"," \
	" \"cert\": \"/c\", \"key\": \"/k\"}], \"policy\": {\"partners\": {" \
	"\"b.example\": {\"tls\": \"disabled\"}," \
	"\"evil.example\": {\"allow\": false}}}}"

static void
si_setup(struct sf *sf)
{
	if (sf_init(sf, SI_CONFIG) < 0)
		fprintf(stderr, "  %s\n", sf->err);
	REQUIRE(sf->edge != NULL);
}

static void
si_finish(struct sf *sf)
{
	int rc = sf_finish(sf);

	if (rc < 0)
		fprintf(stderr, "  %s\n", sf->err);
	CHECK_INT_EQ(rc, 0);
}

#define SI_OK(expr) do { if ((expr) < 0) { fprintf(stderr, "  %s\n", sf.err); CHECK(!#expr); } } while (0)

/* A partner the policy refuses is refused on its claim in the header,
 * with policy-violation (RFC 6120 §4.9.3.14), before any check starts. */
TEST(session_in_policy_refuses_partner_at_header)
{
	struct sf sf;
	struct sf_peer *p;

	si_setup(&sf);
	p = sf_peer_accept(&sf, NULL, NULL);
	REQUIRE(p != NULL);
	SI_OK(sf_peer_send_header(p, "evil.example", "a.example"));
	SI_OK(sf_peer_expect_stream_error(p, "policy-violation"));
	CHECK_INT_EQ(sf.dials_started, 0);
	CHECK_INT_EQ(sf_log_count(&sf, "s2s_in.policy_refused"), 1);
	si_finish(&sf);
}
