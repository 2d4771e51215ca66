/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls_fixture.h - certificates and in-memory TLS pairs for the tls unit
 * tests.  Everything is generated at test time in a temporary directory
 * (no private key is ever committed) and removed by tls_fx_teardown().
 */
#ifndef XE_TLS_FIXTURE_H
#define XE_TLS_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "tls.h"

struct tls_fx {
	char dir[64];
};

/* Creates the directory. 0 or -1. */
int tls_fx_setup(struct tls_fx *fx);
void tls_fx_teardown(struct tls_fx *fx);
/* dir/name into buf; returns buf. */
const char *tls_fx_path(const struct tls_fx *fx, const char *name, char *buf,
    size_t len);

/* Generates NAME.crt / NAME.key in the fixture dir from spec (issuer
 * given as another fixture name, or NULL for self-signed). 0 or -1. */
int tls_fx_cert(struct tls_fx *fx, const char *name, struct tls_certgen *spec,
    const char *issuer);
/* The common case: a leaf for domain (DNS-ID) issued by issuer. */
int tls_fx_leaf(struct tls_fx *fx, const char *name, const char *domain,
    const char *issuer);
/* A CA named name. */
int tls_fx_ca(struct tls_fx *fx, const char *name);
/* Base64 SPKI pin of NAME.crt into out (45 bytes). */
int tls_fx_pin(struct tls_fx *fx, const char *name, char *out, size_t len);

/* A store with one domain certificate NAME (for domain), trusting CA
 * (fixture name or NULL: an empty temporary CA file is not allowed, so
 * NULL means the CA "ca"), and optionally an internal cert + pins. */
struct tls_certstore *tls_fx_store(struct tls_fx *fx, const char *domain,
    const char *cert, const char *ca, const char *internal,
    const char *const *pins, size_t npins);

/* The same with the session ticket settings (tls_certstore_config). */
struct tls_certstore *tls_fx_store_tickets(struct tls_fx *fx, const char *domain,
    const char *cert, const char *ca, const char *internal,
    const char *const *pins, size_t npins, const uint8_t *ticket_secret,
    size_t ticket_secret_len, int no_tickets);

/* One side of an in-memory connection, recording its events. */
struct tls_fx_end {
	struct tls_conn *conn;
	uint8_t *out;			/* ciphertext not yet given to the peer */
	size_t out_len;
	uint8_t *plain;			/* plaintext received */
	size_t plain_len;
	int handshakes;
	struct tls_verify_result result;
	int close_notify;
	int errors;
	char error[256];
};

extern const struct tls_conn_callbacks tls_fx_callbacks;

/* Creates the end's connection with tls_fx_callbacks. 0 or -1. */
int tls_fx_end_new(struct tls_fx_end *e, struct tls_certstore *store,
    const struct tls_conn_params *p);
void tls_fx_end_free(struct tls_fx_end *e);
/* Moves ciphertext both ways until neither side has any. */
void tls_fx_pump(struct tls_fx_end *a, struct tls_fx_end *b);

#endif
