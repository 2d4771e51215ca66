/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_s2s_dane_resume.c - which outgoing streams may resume a TLS
 * session (s2s_dane_out_needs_chain): those DANE will judge by the
 * partner's whole chain may not (a resumed session has only the leaf);
 * the rest, the common case of no authenticated TLSA records under the
 * default `dane: opportunistic`, may.  main refused resumption to every
 * stream whose policy was not `dane: off`, so no outgoing stream resumed
 * with the default policy.
 */
#include "test.h"

#include <ares.h>
#include <stdio.h>
#include <string.h>

#include "dns_internal.h"
#include "s2s_dane.h"

/* An answer with one usable DANE-EE record, authenticated or not. */
static struct dns_rrset *
tlsa_set(int usable, int secure)
{
	static const uint8_t h32[32] = { 0xab };
	ares_dns_record_t *rec = NULL;
	ares_dns_rr_t *rr = NULL;
	struct dns_rrset *set = NULL;

	REQUIRE(ares_dns_record_create(&rec, 1, ARES_FLAG_QR, ARES_OPCODE_QUERY,
	    ARES_RCODE_NOERROR) == ARES_SUCCESS);
	REQUIRE(ares_dns_record_rr_add(&rr, rec, ARES_SECTION_ANSWER, "_5269._tcp.x.example",
	    ARES_REC_TYPE_TLSA, ARES_CLASS_IN, 300) == ARES_SUCCESS);
	REQUIRE(ares_dns_rr_set_u8(rr, ARES_RR_TLSA_CERT_USAGE, usable ? 3 : 9) == ARES_SUCCESS);
	REQUIRE(ares_dns_rr_set_u8(rr, ARES_RR_TLSA_SELECTOR, 1) == ARES_SUCCESS);
	REQUIRE(ares_dns_rr_set_u8(rr, ARES_RR_TLSA_MATCH, 1) == ARES_SUCCESS);
	REQUIRE(ares_dns_rr_set_bin(rr, ARES_RR_TLSA_DATA, h32, 32) == ARES_SUCCESS);
	REQUIRE(dns_tlsa_parse(rec, "_5269._tcp.x.example", &set) == DNS_OK);
	ares_dns_record_destroy(rec);
	set->secure = secure;
	return set;
}

TEST(s2s_dane_out_needs_chain_only_where_records_judge)
{
	struct s2s_dane_target t;

	memset(&t, 0, sizeof(t));
	/* Static `connect` address: no discovery, no DANE. */
	CHECK_INT_EQ(s2s_dane_out_needs_chain(POLICY_DANE_OFF, &t), 0);
	CHECK_INT_EQ(s2s_dane_out_needs_chain(POLICY_DANE_OPPORTUNISTIC, &t), 0);
	CHECK_INT_EQ(s2s_dane_out_needs_chain(POLICY_DANE_REQUIRED, &t), 1);
	snprintf(t.target, sizeof(t.target), "x.example");
	t.port = 5269;
	/* Not DNSSEC-signed (most of the federation): PKIX or dialback. */
	CHECK_INT_EQ(s2s_dane_out_needs_chain(POLICY_DANE_OPPORTUNISTIC, &t), 0);
	t.dnssec = 1;
	/* Signed, the TLSA lookup failed: refused anyway, no resumption. */
	CHECK_INT_EQ(s2s_dane_out_needs_chain(POLICY_DANE_OPPORTUNISTIC, &t), 1);
	t.tlsa = tlsa_set(1, 0);		/* records, not authenticated */
	CHECK_INT_EQ(s2s_dane_out_needs_chain(POLICY_DANE_OPPORTUNISTIC, &t), 0);
	dns_rrset_unref(t.tlsa);
	t.tlsa = tlsa_set(0, 1);		/* authenticated, none usable */
	CHECK_INT_EQ(s2s_dane_out_needs_chain(POLICY_DANE_OPPORTUNISTIC, &t), 0);
	dns_rrset_unref(t.tlsa);
	t.tlsa = tlsa_set(1, 1);		/* authenticated and usable */
	CHECK_INT_EQ(s2s_dane_out_needs_chain(POLICY_DANE_OPPORTUNISTIC, &t), 1);
	CHECK_INT_EQ(s2s_dane_out_needs_chain(POLICY_DANE_REQUIRED, &t), 1);
	CHECK_INT_EQ(s2s_dane_out_needs_chain(POLICY_DANE_OFF, &t), 0);
	dns_rrset_unref(t.tlsa);
}
