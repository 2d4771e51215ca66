/* SPDX-License-Identifier: Apache-2.0 */
/*
 * edge_certs.h - the TLS certificate store a configuration describes
 * (edge_certs.c), for the daemon, `probe` and the cert commands alike.
 */
#ifndef XE_EDGE_CERTS_H
#define XE_EDGE_CERTS_H

#include <stddef.h>

#include "config.h"
#include "tls.h"

/* The TLS certificate store cfg describes (domains, CA, pins, internal
 * certificate); NULL with "FILE: tls: reason" in err. */
struct tls_certstore *edge_certstore_load(const struct config *cfg, char *err, size_t errlen);
/* The same for the daemon, whose stores are replaced on reload.  Without
 * tls.ticket_key_file the ticket keys are derived from memory_secret
 * (tls/ticket.c; NULL: random keys of the store's own) instead of made
 * at random per store: a ticket issued before a reload then resumes
 * after it, unless the reload changed what its identity was judged by
 * (trust anchors, our certificates, the gateway pins: the store's trust
 * fingerprint refuses it, as with tls.ticket_key_file). */
struct tls_certstore *edge_certstore_load_keyed(const struct config *cfg,
    const uint8_t *memory_secret, size_t memory_secret_len, char *err, size_t errlen);

/* tls.keep_outgoing_sessions: the file in the state directory
 * (EDGE_SESSIONS_FILE) the outgoing TLS sessions are kept in across a
 * restart or upgrade.  Load: at start, into a fresh store; the file is
 * removed once read (a crash afterwards must not offer the same tickets
 * again, RFC 8446 §C.4), or when the key is off (nothing kept then).
 * Save: on shutdown, and before an upgrade's new process starts ("when"
 * says which, for the log).  Both log what they did (tls.sessions_*). */
#define EDGE_SESSIONS_FILE "outgoing_sessions"
void edge_sessions_load(const struct config *cfg, struct tls_certstore *store);
void edge_sessions_save(const struct config *cfg, struct tls_certstore *store, const char *when);

#endif
