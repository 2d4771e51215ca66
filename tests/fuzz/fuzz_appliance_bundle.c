/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_appliance_bundle.c - libFuzzer target for the appliance update
 * bundle's header parser (proxy/appliance_bundle.c), which the daemon runs
 * on what an admin client sends: every prefix the input has is judged
 * (INCOMPLETE must turn into OK or BAD, never back), and what is accepted
 * must hold to the format's bounds.  Inputs run past the header bound.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appliance_bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_accepted(const struct appliance_bundle *b, size_t size)
{
	size_t i;

	if (b->header_len == 0 || b->header_len > size || b->header_len > APPLIANCE_BUNDLE_HEADER_MAX)
		abort();
	if (b->version[0] == '\0' || strlen(b->version) > APPLIANCE_BUNDLE_VERSION_MAX)
		abort();
	if (strstr(b->options, "xe.slot=") != NULL)
		abort();
	for (i = 0; i < APPLIANCE_PART_COUNT; i++)
		if (b->size[i] == 0 || b->size[i] > APPLIANCE_BUNDLE_IMAGE_MAX ||
		    strlen(b->sha256[i]) != APPLIANCE_SHA256_HEX)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct appliance_bundle b;
	enum appliance_bundle_result r, prev = APPLIANCE_BUNDLE_INCOMPLETE;
	char err[256], *buf;
	size_t n, step;

	if (size > 2 * APPLIANCE_BUNDLE_HEADER_MAX)
		size = 2 * APPLIANCE_BUNDLE_HEADER_MAX;
	/* An exact-size copy: ASan sees any read past what was given. */
	buf = malloc(size ? size : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	step = size / 32 + 1;
	for (n = 0; n <= size; n += step) {
		r = appliance_bundle_parse(buf, n, &b, err, sizeof(err));
		/* A verdict, once given, stands for every longer input. */
		if (prev != APPLIANCE_BUNDLE_INCOMPLETE && r != prev)
			abort();
		prev = r;
	}
	r = appliance_bundle_parse(buf, size, &b, err, sizeof(err));
	if (prev != APPLIANCE_BUNDLE_INCOMPLETE && r != prev)
		abort();
	if (r == APPLIANCE_BUNDLE_OK)
		check_accepted(&b, size);
	if (r == APPLIANCE_BUNDLE_BAD && err[0] == '\0')
		abort();	/* every refusal says why */
	if (size >= APPLIANCE_BUNDLE_HEADER_MAX && r == APPLIANCE_BUNDLE_INCOMPLETE)
		abort();	/* a full bound is always judged */
	free(buf);
	return 0;
}
