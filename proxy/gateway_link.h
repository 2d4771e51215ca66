/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway_link.h - checks the link to the internal gateway: TCP connect,
 * mutual TLS accepted only if the gateway's key matches a configured SPKI
 * pin, then an XMPP stream header answered with one.
 *
 * Used by `xmpp-edge probe gateway` and by the daemon at start (the
 * result is logged as gateway.link and shown by `status`).
 */
#ifndef XE_GATEWAY_LINK_H
#define XE_GATEWAY_LINK_H

#include <uv.h>

#include "config.h"
#include "tls.h"

#define GATEWAY_LINK_TIMEOUT_MS 10000

struct gateway_link_result {
	int ok;
	char stage[16];		/* "connect", "tls", "stream", "done" */
	char detail[300];	/* the reason, or TLS version + pin on success */
};

struct gateway_link;
typedef void (*gateway_link_cb)(const struct gateway_link_result *r, void *arg);

/* Starts the check on loop; cb is called exactly once (from the loop, or
 * before this returns if the connect cannot even start).  cfg and store
 * must outlive the check.  NULL only when out of memory. */
struct gateway_link *gateway_link_check(uv_loop_t *loop, const struct config *cfg,
    struct tls_certstore *store, gateway_link_cb cb, void *arg);
/* Cancels a running check: cb is not called; the memory goes with the
 * handles' close callbacks. */
void gateway_link_cancel(struct gateway_link *g);

#endif
