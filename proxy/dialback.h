/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dialback.h - Server Dialback (XEP-0220): the three roles' messages and
 * the keys (XEP-0185).
 *
 * The roles, and where their streams live:
 *   - Initiating Server (our outgoing stream, s2s_out.c): sends
 *     <db:result from=us to=them>KEY</db:result>, reads the answer;
 *   - Receiving Server (an inbound stream, s2s_in_auth.c): answers a
 *     <db:result/> after asking the Authoritative Server with
 *     <db:verify/> over a verification stream (s2s_out.c, S2S_OUT_VERIFY);
 *   - Authoritative Server (an inbound stream): answers <db:verify/> from
 *     our keys.
 * This file composes and reads those messages and makes and checks the
 * keys; the sessions move them.  Values written into the XML are domains
 * (canonical) and keys and stream ids checked to be plain tokens
 * (dialback_is_token), so nothing needs escaping.
 *
 * Keys:
 * key = HEX( HMAC-SHA256( HEX(SHA256(secret)), receiving ' ' originating
 * ' ' stream-id ) )  -- XEP-0185 §3 and its example, which use the hex
 * form of SHA256(secret) as the HMAC key (so does Prosody).
 *
 * Nothing but the secret is kept: any xmpp-edge instance given the same
 * secret file makes and recognises the same keys, so a <db:verify/> can
 * be answered by whichever instance the authoritative server's DNS
 * points at.
 */
#ifndef XE_DIALBACK_H
#define XE_DIALBACK_H

#include <stddef.h>

#include "xmlstream.h"

#define NS_DIALBACK "jabber:server:dialback"
#define DIALBACK_KEY_HEX_LEN	64	/* hex of a SHA-256 HMAC */
#define DIALBACK_KEY_MAX	256	/* bytes of a key we accept to pass on */
#define DIALBACK_MSG_MAX	1024	/* the largest message we compose */
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

/* 1 if t is a plain token of at most max bytes (letters, digits,
 * -_.=+/): keys (hex per XEP-0185) and stream ids travel verbatim into
 * the XML we write. */
int dialback_is_token(const char *t, size_t max);

enum dialback_verdict {
	DIALBACK_VALID,
	DIALBACK_INVALID,
	DIALBACK_ERROR,		/* could not ask, or an error answer: the reason says why */
};

/* timeout: 1 when the failure was a timeout (remote-server-timeout). */
typedef void (*dialback_verify_cb)(enum dialback_verdict verdict, int timeout,
    const char *reason, void *arg);

/* The messages.  Each writes into out (cap bytes, NUL-terminated) and
 * returns its length, or -1 when it does not fit or a value is not
 * usable (then nothing may be sent). */

/* Initiating: <db:result from='from' to='to'>KEY</db:result>, the key for
 * the receiving server 'to', us, and its stream id. */
int dialback_result_write(const struct dialback_secret *s, const char *from, const char *to,
    const char *stream_id, char *out, size_t cap);
/* Receiving: the answer to a <db:result/>: type "valid" / "invalid", or
 * with error_cond an error of that condition (XEP-0220 §2.5). */
int dialback_result_answer_write(const char *from, const char *to, const char *type,
    const char *error_cond, char *out, size_t cap);
/* Receiving, to the authoritative server: <db:verify/> with key and id
 * (plain tokens). */
int dialback_verify_write(const char *from, const char *to, const char *id, const char *key,
    char *out, size_t cap);
/* Receiving: the authoritative server's answer ev to our question (from
 * us, to 'remote', id): DIALBACK_VALID, _INVALID, or _ERROR with *why. */
enum dialback_verdict dialback_verify_verdict(const struct xmlstream_event *ev, const char *us,
    const char *remote, const char *id, const char **why);
/* Authoritative: the answer to <db:verify from='asker' to='ours' id=ID>key:
 * valid if key is ours for (asker, ours, id); *valid says which.  With
 * error_cond (a domain not ours) an error answer instead. */
int dialback_verify_answer_write(const struct dialback_secret *s, const char *asker,
    const char *ours, const char *id, const char *key, const char *error_cond, int *valid,
    char *out, size_t cap);

#endif
