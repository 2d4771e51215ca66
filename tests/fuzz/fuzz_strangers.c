/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_strangers.c - libFuzzer target for the known-contact file
 * (proxy/strangers.c): any bytes are parsed into a small set (so the LRU
 * bound is hit); what parses is formatted again and must parse back to
 * the same text (the loader accepts exactly what the saver writes), and
 * every line is also tried as a JID to look up and to learn.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strangers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct strangers *s = strangers_new(16), *t;
	char err[512], bare[STRANGERS_JID_MAX + 1];
	char *text, *again;
	size_t len, len2, off = 0;

	if (s == NULL)
		return 0;
	if (strangers_parse(s, "fuzz", (const char *)data, size, err, sizeof(err)) < 0) {
		if (strncmp(err, "fuzz: ", 6) != 0)
			abort();
		strangers_free(s);
		return 0;
	}
	if (strangers_count(s) > 16)
		abort();
	text = strangers_format(s, &len);
	t = strangers_new(16);
	if (text != NULL && t != NULL) {
		if (strangers_parse(t, "again", text, len, err, sizeof(err)) < 0)
			abort();
		again = strangers_format(t, &len2);
		if (again != NULL && (len2 != len || memcmp(again, text, len) != 0))
			abort();
		free(again);
	}
	free(text);
	strangers_free(t);
	while (off < size) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t l = nl != NULL ? (size_t)(nl - (data + off)) : size - off;

		if (strangers_bare_jid((const char *)data + off, l, bare, sizeof(bare)) == 0) {
			if (strlen(bare) > STRANGERS_JID_MAX)
				abort();
			strangers_known(s, bare);
			strangers_touch(s, bare);
		}
		off += l + 1;
	}
	strangers_free(s);
	return 0;
}
