/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_import_sfb.c - libFuzzer target for `xmpp-edge import sfb`: the
 * input is tried as the partners export (Get-CsXmppAllowedPartner |
 * ConvertTo-Json) and as the gateway export next to a valid partner, so
 * both readers, the report's formatting, the fragment generator and the
 * configuration loader that judges the fragment all see hostile bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import_sfb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char valid_partner[] =
    "{\"Domain\": \"example.net\", \"TlsNegotiation\": 2, \"SaslNegotiation\": 1,"
    " \"SupportDialbackNegotiation\": true}";

static void
fuzz_one(const struct import_sfb_input *p, const struct import_sfb_input *g, const char *secret_file,
    FILE *report)
{
	struct import_sfb_secret *secret = malloc(sizeof(*secret));
	char err[1536], *out = NULL;
	size_t out_len = 0;

	if (secret == NULL)
		return;
	if (import_sfb_convert(p, g, secret_file, report, &out, &out_len, secret, err, sizeof(err)) == 0) {
		/* The fragment is text the caller writes: NUL-terminated. */
		if (strlen(out) != out_len)
			abort();
		free(out);
	}
	import_sfb_secret_wipe(secret);
	free(secret);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct import_sfb_input in = { "/fuzz/partners.json", (const char *)data, size };
	struct import_sfb_input valid = { "/fuzz/valid.json", valid_partner, sizeof(valid_partner) - 1 };
	struct import_sfb_input gw = { "/fuzz/gateway.json", (const char *)data, size };

	if (devnull == NULL)
		devnull = fopen("/dev/null", "w");
	fuzz_one(&in, NULL, NULL, devnull);
	fuzz_one(&valid, &gw, (size & 1) ? "/fuzz/dialback.secret" : NULL, devnull);
	return 0;
}
