/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls_pair.h - a connected TLS client/server pair over memory (the
 * tls_fx_end buffers of tls_fixture.h), for the tests that need "a
 * handshake and some records" and care about what goes on inside them:
 * the crypto driver tests (GCM, X25519, P-256) count their driver's
 * operations around tls_pair_connect().
 *
 * The server is example.com, the client example.net (it presents its
 * certificate: mutual TLS, as between two XMPP servers), both issued by
 * one CA made at test time; the roles are the external ones.
 */
#ifndef XE_TLS_PAIR_H
#define XE_TLS_PAIR_H

#include "tls_fixture.h"

struct tls_pair {
	struct tls_fx fx;
	struct tls_certstore *sstore, *cstore;
	struct tls_fx_end srv, cli;
};

/* Certificates, stores, both connections, and the handshake pumped to its
 * end.  0 when both sides completed it; -1 otherwise (what failed is in
 * p->srv.error / p->cli.error when the handshake did).  Either way
 * tls_pair_free() releases what was made. */
int tls_pair_connect(struct tls_pair *p);
/* Releases everything, the certificate directory included. */
void tls_pair_free(struct tls_pair *p);

/* The len bytes written in hex at s (the drivers' known-answer vectors);
 * the test fails unless s is exactly 2 * len hex digits. */
void tls_pair_unhex(const char *s, uint8_t *out, size_t len);

#endif
