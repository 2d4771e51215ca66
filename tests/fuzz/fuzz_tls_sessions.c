/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_tls_sessions.c - libFuzzer target for the outgoing-sessions file
 * (tls/session_cache.c, tls.keep_outgoing_sessions), which the daemon
 * reads from its state directory at every start: a truncated, corrupt or
 * hostile file must be refused with a reason, never read out of bounds,
 * leaked or half-loaded.
 *
 * First byte even: the rest is the file after its 16-byte header prefix
 * (magic and trust fingerprint), and the target seals it as a writer
 * would (the prefix for trust 7, the SHA-256 trailer), so the fuzzer gets
 * past the checksum to the entries: counts, lengths, keys, times, the
 * leaf DER and mbedTLS's serialised session.  A file that loads is saved
 * again and must load again with as many entries (what the next restart
 * does).  Odd: the rest is the file as it is, through the header and
 * checksum checks.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "log.h"
#include "tls_int.h"

#define FUZZ_TRUST 7
#define FUZZ_NOW 1800000000		/* 2027-01-15: fixed, so runs repeat */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t prefix[16] = { 'X', 'E', 'S', 'E', 'S', 'S', '0', '1',
	    0, 0, 0, 0, 0, 0, 0, FUZZ_TRUST };
	struct tls_session_load_stats st, st2;
	struct tls_session_cache cache, again;
	uint8_t *file, *out;
	size_t len, outlen, count;
	char err[256];
	static int ready;

	if (!ready) {
		log_setup(LOG_ERROR, LOG_FORMAT_TEXT);
		ready = 1;
	}
	if (size < 1 || size > 1u << 20)
		return 0;
	tls_session_cache_init(&cache, 16);
	if (data[0] & 1) {
		(void)tls_session_cache_parse(&cache, data + 1, size - 1, FUZZ_TRUST, FUZZ_NOW,
		    &st, err, sizeof(err));
		tls_session_cache_free(&cache);
		return 0;
	}
	len = sizeof(prefix) + (size - 1) + 32;
	if ((file = malloc(len)) == NULL)
		return 0;
	memcpy(file, prefix, sizeof(prefix));
	memcpy(file + sizeof(prefix), data + 1, size - 1);
	if (mbedtls_sha256(file, len - 32, file + len - 32, 0) != 0)
		__builtin_trap();
	err[0] = '\0';
	if (tls_session_cache_parse(&cache, file, len, FUZZ_TRUST, FUZZ_NOW, &st, err,
	    sizeof(err)) != 0) {
		if (err[0] == '\0' || tls_session_cache_count(&cache) != 0)
			__builtin_trap();	/* refused: with a reason, nothing kept */
		goto out;
	}
	if (tls_session_cache_count(&cache) != st.loaded)
		__builtin_trap();
	/* Saved at the same instant and loaded again: nothing lost.  (An
	 * entry whose session mbedTLS cannot write again is left out, so
	 * at most as many.) */
	if (tls_session_cache_serialize(&cache, FUZZ_TRUST, FUZZ_NOW, &out, &outlen, &count) == 0) {
		tls_session_cache_init(&again, 16);
		if (tls_session_cache_parse(&again, out, outlen, FUZZ_TRUST, FUZZ_NOW, &st2, err,
		    sizeof(err)) != 0 || st2.loaded != count || count > st.loaded)
			__builtin_trap();
		tls_session_cache_free(&again);
		free(out);
	}
out:
	tls_session_cache_free(&cache);
	free(file);
	return 0;
}
