/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_config.c - libFuzzer target for the configuration loader: yajl's
 * parser (with the project's patches), the schema walk, every scalar
 * checker (domains, addresses, pins, integers, enums) and the error
 * message formatting.  Files are not opened (check_files = 0): the input
 * is the JSON text alone.
 */
#include <stddef.h>
#include <stdint.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CONFIG_ERR_MAX];
	struct config *cfg;

	cfg = config_parse("/fuzz/edge.json", (const char *)data, size, 0, err, sizeof(err));
	if (cfg != NULL) {
		/* Exercise the lookups a running daemon does. */
		(void)config_policy_for(cfg, "example.net");
		config_free(cfg);
	}
	return 0;
}
