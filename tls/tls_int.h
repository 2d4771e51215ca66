/*
 * tls_int.h - internals shared by the files of the TLS module (the .c files under tls/).
 *
 * Nothing outside tls/ includes this header except the module's own unit
 * tests; the public API is tls.h.
 */
#ifndef XE_TLS_INT_H
#define XE_TLS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>

#include "tls.h"

/* A deterministic random bit generator seeded from the OS (getrandom or
 * /dev/urandom through mbedTLS's platform entropy).  Each owner (a
 * certificate store, a certificate generation) has its own: no global. */
struct tls_rng {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};

/* Also initialises PSA crypto (idempotent), which mbedTLS 3.6 needs for
 * TLS 1.3 and for any key operation under MBEDTLS_USE_PSA_CRYPTO.
 * Returns 0 or an mbedTLS error code. */
int tls_rng_init(struct tls_rng *rng, const char *personalisation);
void tls_rng_free(struct tls_rng *rng);

/* Formats an mbedTLS error code as "text (-0xNNNN)" into buf. */
const char *tls_strerror(int ret, char *buf, size_t buflen);

/* snprintf into err (may be NULL / 0), never overflowing. */
void tls_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

/* identity.c: the XMPP identity check of one certificate. */
enum tls_id_type tls_identity_check_cert(const mbedtls_x509_crt *crt,
    const char *domain);

/* pin.c: SHA-256 of the DER SubjectPublicKeyInfo of crt. 0 or -1. */
int tls_pin_of_cert(const mbedtls_x509_crt *crt, uint8_t out[32]);

/* certstore.c: what tls_conn.c needs from a store. */
struct tls_certstore;
const mbedtls_ssl_config *tls_certstore_conf(struct tls_certstore *store,
    enum tls_role role, int direct_tls, const char *local_domain);
int tls_certstore_pin_ok(const struct tls_certstore *store,
    const uint8_t pin[32]);
size_t tls_certstore_npins(const struct tls_certstore *store);

/* tls_conn.c: the SNI callback tells the connection the name asked for. */
struct tls_conn;
void tls_conn_note_sni(struct tls_conn *c, const char *name);

#endif
