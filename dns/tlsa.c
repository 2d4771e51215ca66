/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tlsa.c - TLSA answers (RFC 6698) for DANE with SRV (RFC 7673): turning
 * a DNS answer into a bounded struct dns_rrset, naming and printing
 * records.
 *
 * The wire format is parsed by c-ares (ares_dns_parse); what arrives here
 * is its record list, still hostile: any number of records, any field
 * values, data of any length.  dns_tlsa_parse() keeps at most
 * DNS_TLSA_RECORDS_MAX usable records and drops what RFC 6698 calls
 * unusable (one dns.tlsa.unusable event per answer: how many, the first
 * one and its precise reason):
 *
 *   - a certificate usage above 3, selector above 1 or matching type
 *     above 2 (RFC 6698 §4.1: "unusable" records are ignored);
 *   - association data of the wrong length for its matching type (32
 *     bytes for SHA-256, 64 for SHA-512), empty, or above
 *     DNS_TLSA_DATA_MAX for a full certificate or key (matching 0).
 *
 * Records present but none usable give a DNS_OK answer with n == 0: the
 * DANE layer then treats the target as having no usable TLSA records
 * (RFC 7672 §2.2, the same rule for SRV in RFC 7673 §3.3).
 * tests/fuzz/fuzz_tlsa.c feeds arbitrary DNS messages through c-ares and
 * this parser.
 */
#include "dns_internal.h"

#include <ares.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define SHA256_LEN 32
#define SHA512_LEN 64

/* Why a record is unusable, NULL if it is usable. */
static const char *
tlsa_unusable_reason(uint8_t usage, uint8_t selector, uint8_t matching, size_t len)
{
	if (usage > 3)
		return "unknown certificate usage";
	if (selector > 1)
		return "unknown selector";
	if (matching > 2)
		return "unknown matching type";
	if (len == 0)
		return "empty certificate association data";
	if (matching == 1 && len != SHA256_LEN)
		return "SHA-256 association data is not 32 bytes";
	if (matching == 2 && len != SHA512_LEN)
		return "SHA-512 association data is not 64 bytes";
	if (len > DNS_TLSA_DATA_MAX)
		return "association data longer than DNS_TLSA_DATA_MAX";
	return NULL;
}

enum dns_error
dns_tlsa_parse(const ares_dns_record_t *rec, const char *qname, struct dns_rrset **out)
{
	const ares_dns_rr_t *keep[DNS_TLSA_RECORDS_MAX];
	size_t i, n = ares_dns_record_rr_cnt(rec, ARES_SECTION_ANSWER);
	size_t nkeep = 0, seen = 0, data_len = 0, dropped = 0;
	const char *first_why = NULL;
	char first_fields[32] = "";
	uint32_t ttl = UINT32_MAX;
	struct dns_rrset *set;

	*out = NULL;
	for (i = 0; i < n; i++) {
		const ares_dns_rr_t *rr = ares_dns_record_rr_get_const(rec,
		    ARES_SECTION_ANSWER, i);
		const unsigned char *data;
		size_t len = 0;
		const char *why;
		uint8_t usage, selector, matching;

		if (ares_dns_rr_get_type(rr) != ARES_REC_TYPE_TLSA ||
		    ares_dns_rr_get_class(rr) != ARES_CLASS_IN)
			continue;
		seen++;
		usage = ares_dns_rr_get_u8(rr, ARES_RR_TLSA_CERT_USAGE);
		selector = ares_dns_rr_get_u8(rr, ARES_RR_TLSA_SELECTOR);
		matching = ares_dns_rr_get_u8(rr, ARES_RR_TLSA_MATCH);
		data = ares_dns_rr_get_bin(rr, ARES_RR_TLSA_DATA, &len);
		if (data == NULL)
			len = 0;
		why = tlsa_unusable_reason(usage, selector, matching, len);
		if (why == NULL && nkeep == DNS_TLSA_RECORDS_MAX)
			why = "more than DNS_TLSA_RECORDS_MAX records";
		if (why == NULL && len > 65536 - data_len)
			why = "answer data past the answer bound";
		if (why != NULL) {
			/* One log line per answer, however many records a
			 * hostile zone sends. */
			if (dropped++ == 0) {
				first_why = why;
				snprintf(first_fields, sizeof(first_fields), "%u %u %u", usage,
				    selector, matching);
			}
			continue;
		}
		keep[nkeep++] = rr;
		data_len += len;
	}
	if (dropped > 0) {
		char count[24];

		snprintf(count, sizeof(count), "%zu", dropped);
		log_event(LOG_WARN, "dns.tlsa.unusable", "name", qname, "dropped", count,
		    "first", first_fields, "reason", first_why, NULL);
	}
	if (seen == 0)
		return DNS_ERR_NODATA;
	set = dns_rrset_new(DNS_RR_TLSA, DNS_OK, nkeep, data_len);
	if (set == NULL)
		return DNS_ERR_NOMEM;
	for (i = 0; i < nkeep; i++) {
		const unsigned char *data;
		size_t len = 0;

		data = ares_dns_rr_get_bin(keep[i], ARES_RR_TLSA_DATA, &len);
		/* Room was counted above: cannot fail. */
		(void)dns_rrset_add_tlsa(set, ares_dns_rr_get_u8(keep[i], ARES_RR_TLSA_CERT_USAGE),
		    ares_dns_rr_get_u8(keep[i], ARES_RR_TLSA_SELECTOR),
		    ares_dns_rr_get_u8(keep[i], ARES_RR_TLSA_MATCH), data, len);
		if (ares_dns_rr_get_ttl(keep[i]) < ttl)
			ttl = ares_dns_rr_get_ttl(keep[i]);
	}
	set->ttl_s = ttl;
	*out = set;
	return DNS_OK;
}

void
dns_tlsa_view(const struct dns_rrset *set, struct dns_tlsa_view *out)
{
	memset(out, 0, sizeof(*out));
	if (set == NULL || set->type != DNS_RR_TLSA) {
		out->status = DNS_ERR_NODATA;
		return;
	}
	out->status = set->status;
	out->secure = set->secure;
	out->n = set->n;
	out->rr = set->rr.tlsa;
}

int
dns_tlsa_name(const char *target, uint16_t port, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "_%u._tcp.%s", (unsigned)port, target);

	if (n < 0 || (size_t)n >= outlen || (size_t)n > DNS_NAME_MAX)
		return -1;
	return 0;
}

void
dns_tlsa_format(const struct dns_tlsa_rr *rr, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, off;
	int n;

	if (outlen == 0)
		return;
	n = snprintf(out, outlen, "%u %u %u ", rr->usage, rr->selector, rr->matching);
	if (n < 0 || (size_t)n >= outlen)
		return;
	off = (size_t)n;
	for (i = 0; i < rr->len; i++) {
		if (off + 2 >= outlen) {
			/* Cut visibly: a full certificate is kilobytes. */
			if (outlen > 4)
				memcpy(out + outlen - 4, "...", 4);
			return;
		}
		out[off++] = hex[rr->data[i] >> 4];
		out[off++] = hex[rr->data[i] & 15];
	}
	out[off] = '\0';
}
