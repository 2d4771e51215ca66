/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_dns_tlsa.c - dns/tlsa.c on hostile answers built record by record
 * with c-ares's own record API: unusable fields and lengths dropped one by
 * one, the record bound, answers without TLSA records, and the name and
 * presentation helpers.  tests/fuzz/fuzz_tlsa.c feeds arbitrary wire data.
 */
#include "test.h"

#include <ares.h>
#include <stdio.h>

#include "dns_internal.h"

static void
add_tlsa(ares_dns_record_t *rec, uint8_t usage, uint8_t selector, uint8_t matching,
    const uint8_t *data, size_t len)
{
	ares_dns_rr_t *rr = NULL;

	REQUIRE(ares_dns_record_rr_add(&rr, rec, ARES_SECTION_ANSWER, "_5269._tcp.x.example",
	    ARES_REC_TYPE_TLSA, ARES_CLASS_IN, 300) == ARES_SUCCESS);
	REQUIRE(ares_dns_rr_set_u8(rr, ARES_RR_TLSA_CERT_USAGE, usage) == ARES_SUCCESS);
	REQUIRE(ares_dns_rr_set_u8(rr, ARES_RR_TLSA_SELECTOR, selector) == ARES_SUCCESS);
	REQUIRE(ares_dns_rr_set_u8(rr, ARES_RR_TLSA_MATCH, matching) == ARES_SUCCESS);
	if (len > 0)
		REQUIRE(ares_dns_rr_set_bin(rr, ARES_RR_TLSA_DATA, data, len) == ARES_SUCCESS);
}

static ares_dns_record_t *
answer_new(void)
{
	ares_dns_record_t *rec = NULL;

	REQUIRE(ares_dns_record_create(&rec, 1, ARES_FLAG_QR, ARES_OPCODE_QUERY,
	    ARES_RCODE_NOERROR) == ARES_SUCCESS);
	return rec;
}

TEST(dns_tlsa_parse_keeps_usable_drops_unusable)
{
	static uint8_t h32[32], h64[64], big[DNS_TLSA_DATA_MAX + 1];
	ares_dns_record_t *rec = answer_new();
	struct dns_rrset *set = NULL;
	struct dns_tlsa_view v;

	memset(h32, 0xab, sizeof(h32));
	add_tlsa(rec, 3, 1, 1, h32, 32);		/* kept */
	add_tlsa(rec, 4, 1, 1, h32, 32);		/* unknown usage */
	add_tlsa(rec, 3, 2, 1, h32, 32);		/* unknown selector */
	add_tlsa(rec, 3, 1, 3, h32, 32);		/* unknown matching */
	add_tlsa(rec, 3, 1, 1, h32, 31);		/* SHA-256 of 31 bytes */
	add_tlsa(rec, 3, 1, 2, h32, 32);		/* SHA-512 of 32 bytes */
	add_tlsa(rec, 2, 0, 2, h64, 64);		/* kept */
	add_tlsa(rec, 3, 0, 0, big, sizeof(big));	/* too long */
	add_tlsa(rec, 3, 0, 0, big, 100);		/* kept */
	REQUIRE(dns_tlsa_parse(rec, "_5269._tcp.x.example", &set) == DNS_OK);
	dns_tlsa_view(set, &v);
	CHECK_INT_EQ(v.status, DNS_OK);
	CHECK_INT_EQ(v.n, 3);
	CHECK_INT_EQ(v.rr[0].usage, 3);
	CHECK_INT_EQ(v.rr[0].len, 32);
	CHECK(memcmp(v.rr[0].data, h32, 32) == 0);
	CHECK_INT_EQ(v.rr[1].usage, 2);
	CHECK_INT_EQ(v.rr[1].len, 64);
	CHECK_INT_EQ(v.rr[2].len, 100);
	CHECK_INT_EQ(v.secure, 0);
	dns_rrset_unref(set);
	ares_dns_record_destroy(rec);
}

TEST(dns_tlsa_parse_bounds_and_empty)
{
	uint8_t h32[32] = { 1 };
	ares_dns_record_t *rec = answer_new();
	struct dns_rrset *set = NULL;
	ares_dns_rr_t *rr = NULL;
	struct dns_tlsa_view v;
	size_t i;

	for (i = 0; i < DNS_TLSA_RECORDS_MAX + 5; i++) {
		h32[1] = (uint8_t)i;
		add_tlsa(rec, 3, 1, 1, h32, 32);
	}
	REQUIRE(dns_tlsa_parse(rec, "n", &set) == DNS_OK);
	dns_tlsa_view(set, &v);
	CHECK_INT_EQ(v.n, DNS_TLSA_RECORDS_MAX);
	dns_rrset_unref(set);
	ares_dns_record_destroy(rec);

	/* Only other types: no TLSA data at all. */
	rec = answer_new();
	REQUIRE(ares_dns_record_rr_add(&rr, rec, ARES_SECTION_ANSWER, "n", ARES_REC_TYPE_A,
	    ARES_CLASS_IN, 300) == ARES_SUCCESS);
	CHECK_INT_EQ(dns_tlsa_parse(rec, "n", &set), DNS_ERR_NODATA);
	CHECK(set == NULL);
	/* Records present, none usable: an answer with no usable record. */
	add_tlsa(rec, 9, 9, 9, h32, 32);
	add_tlsa(rec, 3, 1, 1, NULL, 0);
	REQUIRE(dns_tlsa_parse(rec, "n", &set) == DNS_OK);
	dns_tlsa_view(set, &v);
	CHECK_INT_EQ(v.status, DNS_OK);
	CHECK_INT_EQ(v.n, 0);
	dns_rrset_unref(set);
	ares_dns_record_destroy(rec);
}

TEST(dns_tlsa_name_and_format)
{
	char name[DNS_NAME_MAX + 1], longname[260], out[24];
	uint8_t data[40];
	struct dns_tlsa_rr rr = { .usage = 3, .selector = 1, .matching = 1, .len = 3, .data = data };

	CHECK(dns_tlsa_name("xmpp.example.net", 5269, name, sizeof(name)) == 0);
	CHECK_STR_EQ(name, "_5269._tcp.xmpp.example.net");
	memset(longname, 'a', 245);
	longname[245] = '\0';
	CHECK(dns_tlsa_name(longname, 5269, name, sizeof(name)) < 0);
	data[0] = 0xde;
	data[1] = 0xad;
	data[2] = 0x01;
	dns_tlsa_format(&rr, out, sizeof(out));
	CHECK_STR_EQ(out, "3 1 1 dead01");
	memset(data, 0xff, sizeof(data));
	rr.len = sizeof(data);
	dns_tlsa_format(&rr, out, sizeof(out));
	CHECK_STR_EQ(out, "3 1 1 ffffffffffffff...");
}
