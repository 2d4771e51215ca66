/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_blocklist.c - libFuzzer target for the domain blocklist parser
 * (proxy/blocklist.c): any bytes are parsed with a small entry cap; what
 * parses is then looked up with every line of the input as a domain (and
 * its parents), counted, ranked and carried over to a second parse, so the
 * lookup, the counts and the top list see hostile entries too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blocklist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blocklist *bl, *again;
	struct blocklist_top top[BLOCKLIST_TOP];
	char err[512], entry[300], name[300];
	size_t off = 0, n, i;

	bl = blocklist_parse("fuzz", (const char *)data, size, 64, err, sizeof(err));
	if (bl == NULL) {
		/* Every error names the source, and ends. */
		if (strncmp(err, "fuzz: ", 6) != 0 || memchr(err, '\0', sizeof(err)) == NULL)
			abort();
		return 0;
	}
	while (off < size) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t len = nl != NULL ? (size_t)(nl - (data + off)) : size - off;

		if (len < sizeof(name)) {
			memcpy(name, data + off, len);
			name[len] = '\0';
			/* A hit's entry must match again without counting. */
			if (blocklist_hit(bl, name, entry, sizeof(entry)) == 0 &&
			    blocklist_match(bl, name, NULL, 0) != 0)
				abort();
		}
		off += len + 1;
	}
	n = blocklist_top(bl, top, BLOCKLIST_TOP);
	for (i = 1; i < n; i++)
		if (top[i].refusals > top[i - 1].refusals)
			abort();
	again = blocklist_parse("fuzz", (const char *)data, size, 64, err, sizeof(err));
	if (again == NULL)
		abort();	/* the same bytes parsed a moment ago */
	blocklist_carry_counts(again, bl);
	if (blocklist_refusals_total(again) != blocklist_refusals_total(bl))
		abort();
	blocklist_free(again);
	blocklist_free(bl);
	return 0;
}
