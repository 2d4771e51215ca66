/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_tlsa.c - libFuzzer target for TLSA answers: arbitrary bytes as a
 * DNS message through c-ares's parser (ares_dns_parse, what the resolver
 * uses) and then dns/tlsa.c's (dns_tlsa_parse), whose bounds and checks
 * must hold whatever the records say; every kept record is read whole
 * (view, presentation form) so ASan sees any read past its data.
 */
#include <ares.h>
#include <stddef.h>
#include <stdint.h>

#include "dns_internal.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	ares_dns_record_t *rec = NULL;
	struct dns_rrset *set = NULL;
	struct dns_tlsa_view v;
	char text[96];
	size_t i, sum = 0;

	if (!quiet) {
		log_setup(LOG_ERROR, LOG_FORMAT_TEXT);
		quiet = 1;
	}
	if (ares_dns_parse(data, size, 0, &rec) != ARES_SUCCESS)
		return 0;
	if (dns_tlsa_parse(rec, "_5269._tcp.fuzz.example", &set) == DNS_OK) {
		dns_tlsa_view(set, &v);
		if (v.n > DNS_TLSA_RECORDS_MAX)
			__builtin_trap();
		for (i = 0; i < v.n; i++) {
			if (v.rr[i].len == 0 || v.rr[i].len > DNS_TLSA_DATA_MAX || v.rr[i].usage > 3 ||
			    v.rr[i].selector > 1 || v.rr[i].matching > 2)
				__builtin_trap();
			dns_tlsa_format(&v.rr[i], text, sizeof(text));
			sum += v.rr[i].data[v.rr[i].len - 1];
		}
	}
	dns_rrset_unref(set);
	ares_dns_record_destroy(rec);
	return (int)(sum & 0);
}
