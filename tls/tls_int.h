/* SPDX-License-Identifier: Apache-2.0 */
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
#include <time.h>

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

/* identity.c: the value of an otherName SAN (san->buf of a
 * subject_alt_names entry) of the given type (TLS_ID_SRV: SRVName,
 * TLS_ID_XMPPADDR: id-on-xmppAddr).  0 with the span, or -1. */
int tls_identity_othername_value(const unsigned char *p, size_t len,
    enum tls_id_type type, const char **val, size_t *vlen);

/* selfsigned.c: the subjectAltName GeneralNames of spec, written backwards
 * ending at buf + size; *der points into buf (NULL, 0: no names). */
struct tls_certgen;
int tls_san_build(const struct tls_certgen *spec, unsigned char *buf,
    size_t size, unsigned char **der, size_t *derlen);
/* certstore.c: a buffer of size bytes for a connection's pending output
 * records (always the same size for one store), and its return. */
uint8_t *tls_certstore_outbuf_get(struct tls_certstore *s, size_t size);
void tls_certstore_outbuf_put(struct tls_certstore *s, uint8_t *buf);
/* certstore.c: an mbedTLS record buffer of len bytes (all zero), from
 * those idle connections gave back, or new; NULL when out of memory.  Put
 * takes one back, wiped by the caller. */
uint8_t *tls_certstore_recbuf_get(struct tls_certstore *s, size_t len);
void tls_certstore_recbuf_put(struct tls_certstore *s, uint8_t *p, size_t len);
/* certstore.c: conf (a client configuration of the store) with the TLS
 * 1.3 NewSessionTicket signal off: a shallow copy kept by the store for
 * its life, so later tickets are ignored by mbedTLS (tls_conn.c,
 * conn_handshake_release).  NULL when out of memory. */
const mbedtls_ssl_config *tls_certstore_conf_tickets_off(struct tls_certstore *s,
    const mbedtls_ssl_config *conf);
/* certstore.c: mbedTLS's broken-down certificate time as a time_t (UTC). */
time_t tls_x509_time_to_time(const mbedtls_x509_time *t);
/* selfsigned.c: writes data to path through a temporary file in the same
 * directory, fsync and rename, with the given mode. */
int tls_file_write_atomic(const char *path, const unsigned char *data,
    size_t len, unsigned mode, char *err, size_t errlen);

/* keygen.c: a fresh key of the given type into an initialised pk. 0 or
 * an mbedTLS error code. */
int tls_key_generate(struct tls_rng *rng, mbedtls_pk_context *pk,
    enum tls_key_type type);

/* certstore.c: what tls_conn.c needs from a store. */
struct tls_certstore;
/* no_client_cert: the external client configuration that presents none. */
const mbedtls_ssl_config *tls_certstore_conf(struct tls_certstore *store,
    enum tls_role role, int direct_tls, const char *local_domain,
    int no_client_cert);
int tls_certstore_pin_ok(const struct tls_certstore *store,
    const uint8_t pin[32]);
size_t tls_certstore_npins(const struct tls_certstore *store);

/* dane.c: 1 if the TLSA record matches crt by its selector and matching
 * type (constant-time comparison). */
struct tls_dane_record;
int tls_dane_match_cert(const mbedtls_x509_crt *crt, const struct tls_dane_record *rec);

/* ticket.c: session tickets with the peer's verified identity bound to
 * them (the file's header says how).  A store owns one. */
#include <mbedtls/gcm.h>
#include <mbedtls/ssl_ticket.h>

#define TLS_TICKET_LEAF_MAX 4096	/* larger leaves: no identity bound */

struct tls_tickets {
	mbedtls_ssl_ticket_context inner;	/* mbedTLS's ticket, rotating key */
	mbedtls_gcm_context binding;		/* seals the identity part */
	struct tls_rng *rng;			/* the store's */
	uint64_t trust;				/* the store's trust fingerprint,
						   in every binding */
	struct tls_conn *active;		/* whose mbedTLS call is running */
	uint32_t lifetime_s;
	/* Keys derived from a secret (tls.ticket_key_file): one per epoch
	 * of lifetime_s seconds since 1970, the same in every process. */
	uint8_t secret[32];			/* HKDF-Extract of the secret */
	int derived;
	uint64_t epoch;				/* of the active key */
};

/* What a full handshake established about the peer, as bound to a
 * ticket: mbedTLS's verification flags of the chain against the store's
 * anchors, the earliest notAfter in the chain, the leaf's DER. */
struct tls_ticket_identity {
	uint32_t flags;
	time_t not_after;
	const uint8_t *leaf;
	size_t leaf_len;
};

/* secret NULL: random keys.  trust: tls_certstore's fingerprint of its
 * trust anchors, certificates and pins. */
int tls_tickets_init(struct tls_tickets *t, struct tls_rng *rng,
    uint32_t lifetime_s, uint64_t trust, const uint8_t *secret,
    size_t secret_len);
void tls_tickets_free(struct tls_tickets *t);
int tls_tickets_rotate(struct tls_tickets *t, uint32_t lifetime_s);
/* mbedtls_ssl_ticket_write_t / _parse_t with p_ticket a struct tls_tickets. */
int tls_ticket_write(void *p_ticket, const mbedtls_ssl_session *session,
    unsigned char *start, const unsigned char *end, size_t *tlen,
    uint32_t *lifetime);
int tls_ticket_parse(void *p_ticket, mbedtls_ssl_session *session,
    unsigned char *buf, size_t len);
/* The decrypted identity part of a ticket (ticket.c's header has the
 * layout) for a store of this trust fingerprint: 0 with *has_identity and *out
 * (pointing into p), or -1 when malformed. */
int tls_ticket_binding_parse(const uint8_t *p, size_t len, uint64_t trust,
    struct tls_ticket_identity *out, int *has_identity);

/* session_cache.c: the sessions outgoing connections may resume, and
 * their file (the file's header says how).  A store owns one. */
#define TLS_SESSION_CACHE_DEFAULT 4096	/* tls.outgoing_sessions_max */
#define TLS_SESSION_CACHE_MIN 16
#define TLS_SESSION_CACHE_MAX 65536
#define TLS_SESSION_BLOB_MAX 6144	/* one serialised session, ticket
					   included; larger: not saved */
#define TLS_SESSION_FILE_MAX (16u << 20)	/* bytes; the oldest entries
						   give way */

struct tls_session_slot;
struct tls_session_cache {
	struct tls_session_slot *slots;	/* cap of them, on first use */
	uint32_t *buckets;		/* hash -> slot index + 1 */
	size_t cap, nbuckets, used;
	uint32_t newest, oldest;	/* storing order, slot index + 1 */
	uint32_t free_head;		/* given-back slots */
	size_t untouched;		/* slots [0, untouched) have been used */
};

/* An empty cache of cap entries (clamped to the bounds above). */
void tls_session_cache_init(struct tls_session_cache *cache, size_t cap);
void tls_session_cache_free(struct tls_session_cache *cache);
size_t tls_session_cache_count(const struct tls_session_cache *cache);
/* Sets the session saved for (peer, local, direct) on ssl and forgets
 * it: 0 with *flags the verification flags of the full handshake it came
 * from, or -1 when there is none. */
int tls_session_cache_take(struct tls_session_cache *cache, mbedtls_ssl_context *ssl,
    const char *peer, const char *local, int direct, uint32_t *flags);
/* Saves ssl's current session (after a ticket arrived) with the
 * verification flags of the full handshake behind it. */
void tls_session_cache_put(struct tls_session_cache *cache, const mbedtls_ssl_context *ssl,
    const char *peer, const char *local, int direct, uint32_t flags);
/* The saved session itself, left in place (the unit tests tamper with
 * its ticket); NULL when there is none. */
mbedtls_ssl_session *tls_session_cache_peek(struct tls_session_cache *cache,
    const char *peer, const char *local, int direct);
/* The file's bytes for the entries worth keeping (TLS 1.3, a leaf, not
 * expired at now), newest first, under trust: 0 with *out (malloc'd,
 * the caller wipes and frees it), or -1 when out of memory. */
int tls_session_cache_serialize(const struct tls_session_cache *cache, uint64_t trust,
    time_t now, uint8_t **out, size_t *outlen, size_t *count);
/* The file's bytes into cache, replacing its entries, when it was made
 * under trust; entries expired at now, of another configuration or past
 * the cache's bound are counted in *st and dropped.  0, or -1 with why
 * in err: the whole file refused, the cache left as it was. */
int tls_session_cache_parse(struct tls_session_cache *cache, const uint8_t *buf,
    size_t len, uint64_t trust, time_t now, struct tls_session_load_stats *st,
    char *err, size_t errlen);
/* certstore.c: the store's cache, and its ticket keys. */
struct tls_session_cache *tls_certstore_sessions(struct tls_certstore *s);
struct tls_tickets *tls_certstore_tickets(struct tls_certstore *s);

/* certstore.c: makes c the connection the store's ticket callbacks
 * belong to, returning the one before (restored when c's call ends). */
struct tls_conn *tls_certstore_active_swap(struct tls_certstore *s,
    struct tls_conn *c);
/* tls_conn.c: the identity of c's peer to bind to a ticket being issued
 * (valid during the call): 0, or -1 when there is none (no certificate,
 * c NULL). */
int tls_conn_ticket_identity(struct tls_conn *c, struct tls_ticket_identity *id);
/* tls_conn.c: a ticket c's peer offered carries id (NULL: forget any
 * earlier one).  Used only if the handshake resumes.  0 or -1. */
int tls_conn_ticket_resume(struct tls_conn *c, const struct tls_ticket_identity *id);

/* tls_conn.c: the SNI callback tells the connection the name asked for. */
struct tls_conn;
void tls_conn_note_sni(struct tls_conn *c, const char *name);

#endif
