/*
 * dialback_verify.h - asks an Authoritative Server whether a dialback key
 * is valid (XEP-0220 §2.3, the receiving side's <db:verify/>).
 *
 * A remote server that opened a stream to us claims domain D with a key;
 * we connect to D ourselves (SRV discovery and the connect sequence of
 * dns/, STARTTLS or Direct TLS), present the key with the stream id it
 * was issued for, and report the answer.  TLS is required on this
 * connection as on every other (RFC 7590).
 */
#ifndef XE_DIALBACK_VERIFY_H
#define XE_DIALBACK_VERIFY_H

#include "edge.h"

#define DIALBACK_VERIFY_TIMEOUT_MS 30000
#define DIALBACK_KEY_MAX 256	/* bytes of a key we accept to pass on */

enum dialback_verdict {
	DIALBACK_VALID,
	DIALBACK_INVALID,
	DIALBACK_ERROR,		/* could not ask: the reason says why */
};

struct dialback_verify;
/* timeout: 1 when the failure was a timeout (remote-server-timeout). */
typedef void (*dialback_verify_cb)(enum dialback_verdict verdict, int timeout,
    const char *reason, void *arg);

/* Starts the check of key for the stream stream_id that remote opened to
 * local.  cb runs exactly once, from the loop, unless cancelled.  NULL
 * only when out of memory or the name is refused (reason in err). */
struct dialback_verify *dialback_verify_start(struct edge *edge, const char *local,
    const char *remote, const char *stream_id, const char *key,
    dialback_verify_cb cb, void *arg, char *err, size_t errlen);
/* No callback after this; resources go with the handles' close. */
void dialback_verify_cancel(struct dialback_verify *v);

#endif
