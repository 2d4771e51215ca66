/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dialback_key.h - Server Dialback keys (XEP-0185).
 *
 * key = HEX( HMAC-SHA256( HEX(SHA256(secret)), receiving ' ' originating
 * ' ' stream-id ) )  -- XEP-0185 §3 and its example, which use the hex
 * form of SHA256(secret) as the HMAC key (so does Prosody).
 *
 * Nothing but the secret is kept: any xmpp-edge instance given the same
 * secret file makes and recognises the same keys, so a <db:verify/> can
 * be answered by whichever instance the authoritative server's DNS
 * points at.
 */
#ifndef XE_DIALBACK_KEY_H
#define XE_DIALBACK_KEY_H

#include <stddef.h>

#define DIALBACK_KEY_HEX_LEN	64	/* hex of a SHA-256 HMAC */
#define DIALBACK_SECRET_MIN	16	/* bytes; XEP-0185 §3 wants "sufficient entropy" */
#define DIALBACK_SECRET_FILE_MAX 4096

struct dialback_secret {
	int loaded;
	char hmac_key[DIALBACK_KEY_HEX_LEN + 1];	/* HEX(SHA256(secret)) */
};

/* Reads the secret file (trailing whitespace ignored); 0, or -1 with
 * "FILE: reason" in err. */
int dialback_secret_load(const char *path, struct dialback_secret *out,
    char *err, size_t errlen);
/* Same, from bytes (tests, embedded use). */
int dialback_secret_set(struct dialback_secret *out, const void *secret, size_t len);

/* Writes the NUL-terminated key (DIALBACK_KEY_HEX_LEN hex digits). */
int dialback_key_make(const struct dialback_secret *s, const char *receiving,
    const char *originating, const char *stream_id,
    char out[DIALBACK_KEY_HEX_LEN + 1]);
/* 1 if key is the one we would make for these names (constant time). */
int dialback_key_check(const struct dialback_secret *s, const char *receiving,
    const char *originating, const char *stream_id, const char *key);

#endif
