/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls.h - the public API of the TLS module (issue 4).
 *
 * This header is the whole interface the rest of xmpp-edge uses:
 *
 *   certificate store (certstore.c)   certificates per hosted domain chosen
 *       by SNI, the CA bundle, SPKI pins for the internal link, the session
 *       ticket key; refcounted and replaced at run time with
 *       tls_certstore_swap() (new handshakes use the new store, established
 *       connections keep the one they started with);
 *   connection (tls_conn.c)            a transport-agnostic TLS session
 *       ("memory BIO"): fed ciphertext from the network, asked to encrypt
 *       plaintext, it hands ciphertext to a callback and reports handshake
 *       completion (with the peer verification result), plaintext,
 *       close_notify and fatal errors;
 *   libuv glue (tls_uv.c)               a uv_tcp_t + tls_conn pair;
 *   identity (identity.c)              RFC 6125 / RFC 6120 §13.7.1.2 checks;
 *   pins (pin.c)                       SHA-256 SPKI pins, base64;
 *   certificate generation (selfsigned.c).
 *
 * Call sequences (see tls_conn_new() for details):
 *
 *   STARTTLS, inbound:  s2s reads <starttls/>, writes <proceed/>, then
 *       c = tls_conn_new(store, {TLS_ROLE_EXTERNAL_SERVER}, cb, ud);
 *       tls_conn_start(c);
 *       tls_conn_feed(c, bytes after </starttls> already read, n);
 *       every later read: tls_conn_feed(c, buf, n); EOF: tls_conn_eof(c).
 *   STARTTLS, outbound: s2s reads <proceed/>, then
 *       c = tls_conn_new(store, {TLS_ROLE_EXTERNAL_CLIENT, peer_domain,
 *           local_domain}, ...); tls_conn_start(c) (ClientHello goes to
 *       on_ciphertext); feed what follows </proceed> and every later read.
 *   Direct TLS (XEP-0368): the same without the plaintext part, with
 *       params.direct_tls = 1 (client: ALPN "xmpp-server"; the server side
 *       always accepts ALPN "xmpp-server" and refuses other protocols).
 *   Then: on_handshake(result) -> restart the stream; tls_conn_write()
 *       plaintext; on_plaintext() delivers decrypted bytes; tls_conn_close()
 *       sends close_notify; tls_conn_free() at any time, even from inside a
 *       callback.
 */
#ifndef XE_TLS_H
#define XE_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define TLS_DOMAIN_MAX 253		/* RFC 1035, textual form, no dot */
#define TLS_PIN_LEN 32			/* SHA-256 */
#define TLS_PIN_B64_LEN 44		/* base64 of 32 bytes, no NUL */
#define TLS_DEFAULT_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
#define TLS_ALPN_XMPP_SERVER "xmpp-server"	/* XEP-0368 */
#define TLS_TICKET_LIFETIME_DEFAULT_S 43200	/* 12 h; the key rotates */
#define TLS_TICKET_SECRET_MIN 32
#define TLS_TICKET_SECRET_MAX 4096

/* ------------------------------------------------------------------------
 * Verification results
 * --------------------------------------------------------------------- */

/* Why a peer certificate is, or is not, acceptable.  One value per
 * reason; tls_verify_status_str() gives the stable word logged. */
enum tls_verify_status {
	TLS_VERIFY_OK,			/* valid for result.domain */
	TLS_VERIFY_NO_CERT,		/* the peer presented none */
	TLS_VERIFY_EXPIRED,
	TLS_VERIFY_NOT_YET_VALID,
	TLS_VERIFY_SELF_SIGNED,
	TLS_VERIFY_UNTRUSTED,		/* chain does not lead to a trusted CA */
	TLS_VERIFY_BAD_USAGE,		/* keyUsage / extKeyUsage forbid it */
	TLS_VERIFY_WEAK,		/* key too small or signature hash weak */
	TLS_VERIFY_NAME_MISMATCH,	/* trusted, but not for this domain */
	TLS_VERIFY_PIN_MISMATCH,	/* internal link: key not pinned */
	TLS_VERIFY_INVALID,		/* other: malformed, revoked, ... */
};

/* How the identity matched (RFC 6125 §6). */
enum tls_id_type {
	TLS_ID_NONE,
	TLS_ID_DNS,			/* dNSName, possibly a wildcard */
	TLS_ID_SRV,			/* SRVName _xmpp-server.DOMAIN */
	TLS_ID_XMPPADDR,		/* id-on-xmppAddr */
	TLS_ID_PIN,			/* internal link: SPKI pin */
};

struct tls_verify_result {
	enum tls_verify_status status;
	enum tls_id_type matched_by;	/* when status == TLS_VERIFY_OK */
	char domain[TLS_DOMAIN_MAX + 1];	/* the domain checked ("" for
					   pinned and inbound before a
					   domain is known) */
	char detail[160];		/* human detail for logs: subject,
					   mbedTLS flags, presented pin */
};

const char *tls_verify_status_str(enum tls_verify_status status);
const char *tls_id_type_str(enum tls_id_type type);

/* ------------------------------------------------------------------------
 * Certificate store (certstore.c)
 * --------------------------------------------------------------------- */

/* One hosted domain's certificate: what the config layer fills in. */
struct tls_cert_paths {
	const char *domain;
	const char *cert_path;		/* PEM: leaf first, then intermediates */
	const char *key_path;		/* PEM; refused if readable by others */
};

struct tls_certstore_config {
	const struct tls_cert_paths *certs;
	size_t ncerts;			/* >= 1 */
	const char *default_domain;	/* NULL: certs[0]; presented when SNI
					   names no hosted domain */
	const char *ca_file;		/* NULL: TLS_DEFAULT_CA_FILE (a missing
					   default is a warning: every peer
					   is then untrusted); a file or a
					   directory of PEM files */
	const char *const *pins;	/* base64 SHA-256 SPKI pins accepted
					   on the internal link */
	size_t npins;
	const char *internal_cert_path;	/* our certificate on the internal */
	const char *internal_key_path;	/* link; NULL: no internal link */
	uint32_t ticket_lifetime_s;	/* 0: TLS_TICKET_LIFETIME_DEFAULT_S */
	const uint8_t *ticket_secret;	/* NULL: random ticket keys, which
					   die with the process; else keys
					   derived from it per lifetime, so
					   tickets survive a restart
					   (tls/ticket.c) */
	size_t ticket_secret_len;	/* 32..TLS_TICKET_SECRET_MAX */
	int no_tickets;			/* neither issued nor kept */
	int internal_tls13_only;	/* the internal roles refuse TLS 1.2
					   (the admin listener: RFC 8446's
					   encrypted client certificate) */
};

struct tls_certstore;

/* Loads everything, or nothing: returns a store holding one reference,
 * or NULL with "FILE: reason" (the file and what is wrong with it) in
 * err.  The config layer prefixes its own "CONFIG: key.path:". */
struct tls_certstore *tls_certstore_load(const struct tls_certstore_config *cfg,
    char *err, size_t errlen);
struct tls_certstore *tls_certstore_ref(struct tls_certstore *store);
void tls_certstore_unref(struct tls_certstore *store);

/* Replaces *slot by fresh, taking over the caller's reference to fresh,
 * and drops the slot's reference to the old store.  Connections created
 * before keep the old store alive until they are freed. */
void tls_certstore_swap(struct tls_certstore **slot, struct tls_certstore *fresh);

/* Replaces the session ticket key now (the previous key still decrypts
 * tickets for one lifetime).  The key also rotates by itself every
 * ticket_lifetime_s.  Returns 0 or -1. */
int tls_certstore_rotate_ticket_key(struct tls_certstore *store);

/* The checks tls_certstore_load() makes, one file pair at a time, for
 * `xmpp-edge check` and the configuration layer: the chain parses, the
 * key file is not accessible by others and parses, and the key matches.
 * On error *key_fault says which file is at fault (0 certificate, 1 key)
 * and err reads "FILE: reason". */
int tls_check_cert_key(const char *cert_path, const char *key_path,
    int *key_fault, char *err, size_t errlen);
/* A CA bundle (file or directory of PEM files) holds a usable certificate. */
int tls_check_ca(const char *path, char *err, size_t errlen);

/* 1 if the store has a certificate for this hosted domain (by name). */
int tls_certstore_has_domain(const struct tls_certstore *store,
    const char *domain);
uint64_t tls_certstore_generation(const struct tls_certstore *store);
/* The notAfter of the leaf loaded for a hosted domain (the certificate in
 * service, which may differ from the file after a rotation without
 * reload): 0 and *not_after, or -1 if the store has no such domain. */
int tls_certstore_not_after(const struct tls_certstore *store, const char *domain,
    time_t *not_after);

/* Writes data to path through a temporary file in the same directory
 * (created 0600), then fchmod to mode, chown to uid/gid when root and
 * uid >= 0, fsync, rename and fsync of the directory (selfsigned.c). */
int tls_file_write_atomic_owned(const char *path, const unsigned char *data,
    size_t len, unsigned mode, int uid, int gid, char *err, size_t errlen);

/* ------------------------------------------------------------------------
 * Connections (tls_conn.c)
 * --------------------------------------------------------------------- */

enum tls_role {
	TLS_ROLE_EXTERNAL_SERVER,	/* inbound s2s: SNI picks the cert;
					   requests (not requires) a client
					   certificate for SASL EXTERNAL */
	TLS_ROLE_EXTERNAL_CLIENT,	/* outbound s2s: CA + RFC 6125 check of
					   peer_domain; presents the cert of
					   local_domain */
	TLS_ROLE_INTERNAL_SERVER,	/* internal link: mutual TLS, peer */
	TLS_ROLE_INTERNAL_CLIENT,	/* accepted only by SPKI pin */
};

enum tls_conn_state {
	TLS_HANDSHAKE,
	TLS_OPEN,
	TLS_CLOSING,			/* we sent close_notify, reading on */
	TLS_CLOSED,			/* close_notify exchanged, or EOF after
					   ours */
	TLS_FAILED,			/* fatal error reported; inert */
};

struct tls_conn_params {
	enum tls_role role;
	int direct_tls;			/* client: offer ALPN xmpp-server */
	const char *peer_domain;	/* client: SNI and the identity to
					   check; server: unused */
	const char *local_domain;	/* client: whose certificate to
					   present; NULL: the default */
	const char *peer_addr;		/* "ip:port" for log lines */
	int no_client_cert;		/* external client: present no
					   certificate (the peer refused ours,
					   tls_conn_peer_refused_cert) */
	int no_resume;			/* external client: neither offer nor
					   keep a session ticket (DANE checks
					   the whole chain, which a resumed
					   session does not have) */
};

/* Events.  Every callback may call tls_conn_write/close/free on the same
 * connection, except on_ciphertext, which must only copy or send the
 * bytes (it is called while the connection is flushing). */
struct tls_conn_callbacks {
	/* Ciphertext to send to the peer; valid during the call only. */
	void (*on_ciphertext)(void *ud, const uint8_t *data, size_t len);
	/* The handshake completed; *result is valid during the call only
	 * (tls_conn_verify_peer() recomputes it for another domain). */
	void (*on_handshake)(void *ud, const struct tls_verify_result *result);
	/* Decrypted bytes; valid during the call only. */
	void (*on_plaintext)(void *ud, const uint8_t *data, size_t len);
	/* The peer sent close_notify (we have answered with ours). */
	void (*on_close_notify)(void *ud);
	/* Fatal: the reason is one sentence, also logged. */
	void (*on_error)(void *ud, const char *reason);

	/* Optional, both or neither: ciphertext written straight into the
	 * transport's pending write instead of going through on_ciphertext
	 * (one copy less per record, and the records of one loop turn go out
	 * together).  ciphertext_span returns where up to *len (>= 1) bytes
	 * may be written, or NULL: the transport is closing and the bytes
	 * are dropped.  ciphertext_commit says how many were written there.
	 * The same rule as on_ciphertext: copy only. */
	uint8_t *(*ciphertext_span)(void *ud, size_t want, size_t *len);
	void (*ciphertext_commit)(void *ud, size_t n);
	/* Optional, both or neither: plaintext decrypted straight into the
	 * consumer's buffer (the tokenizer's) instead of a stack buffer
	 * handed to on_plaintext.  plaintext_span: 0 with *p / *len (>= 1)
	 * the space, at least hint bytes when it can (hint: the plaintext
	 * of the current record not read yet, 0 when unknown), or -1 (the
	 * consumer is closing: plaintext goes to on_plaintext as before).
	 * plaintext_commit: n bytes were written there; like on_plaintext
	 * it may call back into the connection. */
	int (*plaintext_span)(void *ud, size_t hint, uint8_t **p, size_t *len);
	void (*plaintext_commit)(void *ud, size_t n);
};

struct tls_conn;

/* Creates a connection in TLS_HANDSHAKE, holding a reference to store.
 * Nothing is sent until tls_conn_start().  NULL with err on bad params
 * (e.g. an internal role without internal certificate). */
struct tls_conn *tls_conn_new(struct tls_certstore *store,
    const struct tls_conn_params *params, const struct tls_conn_callbacks *cb,
    void *ud, char *err, size_t errlen);
/* Client: emits the ClientHello.  Server: nothing to do yet, but call it
 * anyway so both roles look the same.  Returns 0, -1 once failed. */
int tls_conn_start(struct tls_conn *c);
/* Ciphertext read from the network, consumed entirely (mbedTLS keeps the
 * partial record).  Returns 0, or -1 if the connection has failed. */
int tls_conn_feed(struct tls_conn *c, const uint8_t *data, size_t len);
/* The network reached end of file. */
void tls_conn_eof(struct tls_conn *c);
/* Encrypts plaintext (TLS_OPEN only); the records go to on_ciphertext
 * before this returns.  Returns 0 or -1. */
int tls_conn_write(struct tls_conn *c, const uint8_t *data, size_t len);
/* Sends close_notify (TLS_OPEN -> TLS_CLOSING); during the handshake
 * simply stops (-> TLS_CLOSED). */
void tls_conn_close(struct tls_conn *c);
void tls_conn_free(struct tls_conn *c);

enum tls_conn_state tls_conn_state(const struct tls_conn *c);
const char *tls_conn_state_str(enum tls_conn_state state);
/* Re-checks the peer certificate against domain (inbound: the stream's
 * 'from' or the SASL EXTERNAL authzid).  0, or -1 before the handshake. */
int tls_conn_verify_peer(struct tls_conn *c, const char *domain,
    struct tls_verify_result *out);
const char *tls_conn_version(const struct tls_conn *c);	/* "TLSv1.3" */
const char *tls_conn_ciphersuite(const struct tls_conn *c);
const char *tls_conn_alpn(const struct tls_conn *c);	/* NULL: none */
const char *tls_conn_sni(const struct tls_conn *c);	/* server; "" none */
/* 1 if the handshake resumed a session from a ticket (server, TLS 1.3):
 * the peer's identity is the one bound to the ticket (tls/ticket.c),
 * re-checked for dates and matched by name as if presented now. */
int tls_conn_resumed(const struct tls_conn *c);
/* The DER of the idx-th certificate the peer sent (0: its leaf, then the
 * chain as sent), valid until the connection is freed: 0, or -1 when
 * there is no such certificate (before the handshake, none sent).  After
 * a TLS 1.3 resumption only the leaf, as the ticket carried it. */
int tls_conn_peer_cert_der(const struct tls_conn *c, size_t idx, const uint8_t **der,
    size_t *len);
/* External client, after a failure: 1 if the peer most likely refused the
 * certificate we presented (a certificate alert during the handshake, or,
 * TLS 1.3, an alert or undecryptable record before any data: the server
 * judges our certificate after our Finished).  The caller may then try
 * once more with no_client_cert (XEP-0178 fallback to dialback). */
int tls_conn_peer_refused_cert(const struct tls_conn *c);
/* Bytes of mbedTLS record buffers the connection holds now: 0 while it is
 * idle (established, nothing half-read or half-written), the input and
 * output buffers otherwise (memory accounting, tests). */
size_t tls_conn_record_buffers(const struct tls_conn *c);
/* 1 while mbedTLS's TLS 1.3 handshake structure is still held (see
 * conn_handshake_release in tls_conn.c), 0 once it is gone (memory
 * accounting, tests). */
int tls_conn_handshake_held(const struct tls_conn *c);
/* Application-data records written since the connection began (each
 * mbedtls_ssl_write that took bytes is one record): transport tests
 * check that queued stanzas are coalesced. */
uint64_t tls_conn_records_out(const struct tls_conn *c);
/* The most plaintext one record we write can carry (after the
 * handshake): MBEDTLS_SSL_OUT_CONTENT_LEN, or less if negotiated. */
size_t tls_conn_record_plaintext_max(const struct tls_conn *c);

/* ------------------------------------------------------------------------
 * Identity (identity.c) and pins (pin.c)
 * --------------------------------------------------------------------- */

/* Lowercases, strips one trailing dot, converts U-labels to A-labels
 * (Punycode) and checks the LDH syntax.  0 or -1. */
int tls_identity_normalize(const char *domain, char *out, size_t outcap);
/* 1 if the presented identifier (explicit length, as in a certificate)
 * matches the reference domain, else 0. */
int tls_identity_match_dns_id(const char *presented, size_t plen,
    const char *reference);
int tls_identity_match_srv_id(const char *presented, size_t plen,
    const char *reference);
int tls_identity_match_xmppaddr(const char *presented, size_t plen,
    const char *reference);

int tls_pin_parse(const char *b64, uint8_t out[TLS_PIN_LEN], char *err,
    size_t errlen);
/* out must hold TLS_PIN_B64_LEN + 1 bytes. */
int tls_pin_format(const uint8_t pin[TLS_PIN_LEN], char *out, size_t outcap);
/* 1 if pin is one of pins (constant time over all of them). */
int tls_pin_match(const uint8_t (*pins)[TLS_PIN_LEN], size_t npins,
    const uint8_t pin[TLS_PIN_LEN]);

/* ------------------------------------------------------------------------
 * DANE (dane.c): a peer's certificate against TLSA records (RFC 6698,
 * RFC 7671, RFC 7673 §4); dane.c's header has the rules per usage.
 * --------------------------------------------------------------------- */

enum {
	TLS_DANE_USAGE_PKIX_TA = 0,
	TLS_DANE_USAGE_PKIX_EE = 1,
	TLS_DANE_USAGE_DANE_TA = 2,
	TLS_DANE_USAGE_DANE_EE = 3,
	TLS_DANE_SELECTOR_CERT = 0,
	TLS_DANE_SELECTOR_SPKI = 1,
	TLS_DANE_MATCHING_FULL = 0,
	TLS_DANE_MATCHING_SHA256 = 1,
	TLS_DANE_MATCHING_SHA512 = 2,
};

/* Certificates of the peer's chain looked at (leaf first). */
#define TLS_DANE_CHAIN_MAX 8

/* One TLSA record, as the DNS layer authenticated it (tls/ does not
 * know dns/: the s2s layer copies the fields). */
struct tls_dane_record {
	uint8_t usage, selector, matching;
	const uint8_t *data;
	size_t len;
};

enum tls_dane_result {
	TLS_DANE_MATCH,			/* a record authenticates the peer */
	TLS_DANE_NO_USABLE,		/* no record of a known usage/selector/matching */
	TLS_DANE_MISMATCH,		/* usable records, none matches */
	TLS_DANE_TA_CHAIN,		/* DANE-TA matched, chain does not verify */
	TLS_DANE_TA_NAME,		/* DANE-TA chain fine, name wrong */
	TLS_DANE_PKIX_INVALID,		/* PKIX-TA/EE matched, PKIX failed */
	TLS_DANE_NO_CERT,		/* the peer sent no certificate */
};

struct tls_dane_verdict {
	enum tls_dane_result result;
	int record;			/* index of the matching record, or -1 */
	char name[TLS_DOMAIN_MAX + 1];	/* DANE-TA: the reference name matched */
	char detail[160];		/* for logs and `probe` */
};

const char *tls_dane_result_str(enum tls_dane_result r);
const char *tls_dane_usage_str(uint8_t usage);	/* "DANE-EE", ... */

/* Checks the chain der[0..ncerts) (leaf first, as sent) against the
 * records.  names: the reference identifiers for DANE-TA (service domain,
 * SRV target); pkix_ok: the chain is PKIX-valid for the domain (for
 * PKIX-TA/EE).  0 on a match, else -1; *out says which or why not. */
int tls_dane_check(const uint8_t *const *der, const size_t *der_len, size_t ncerts,
    const struct tls_dane_record *recs, size_t nrecs, const char *const *names,
    size_t nnames, int pkix_ok, struct tls_dane_verdict *out);
/* The same for the chain the peer of c presented. */
int tls_dane_check_conn(const struct tls_conn *c, const struct tls_dane_record *recs,
    size_t nrecs, const char *const *names, size_t nnames, int pkix_ok,
    struct tls_dane_verdict *out);
/* The certificate association data of the first certificate in
 * cert_path for a selector and matching type (what `cert status` prints
 * for "3 1 1"); 0 with *outlen, or -1 with a reason. */
int tls_dane_record_of_cert_file(const char *cert_path, uint8_t selector, uint8_t matching,
    uint8_t *out, size_t outcap, size_t *outlen, char *err, size_t errlen);

/* ------------------------------------------------------------------------
 * Certificate generation (selfsigned.c)
 * --------------------------------------------------------------------- */

/* Creates an ECDSA P-256 key and a self-signed X.509 v3 certificate for
 * DOMAIN (subject CN=DOMAIN, SAN dNSName DOMAIN, valid from one hour ago
 * for ten years, serverAuth + clientAuth since XMPP servers present the
 * same certificate on both sides of s2s).  Writes PEM files: the key with
 * mode 0600, the certificate 0644, each via a temporary file and rename
 * so a crash never leaves half a key.  Returns 0, or -1 with a sentence
 * naming the file and the reason in err. */
int tls_selfsigned_create(const char *domain, const char *cert_path,
    const char *key_path, char *err, size_t errlen);

#define TLS_CERTGEN_MAX_NAMES 8

/* Keys generated for certificates and requests (keygen.c). */
enum tls_key_type {
	TLS_KEY_EC_P256,		/* ECDSA P-256: the default */
	TLS_KEY_RSA_3072,		/* for peers that still want RSA */
};

/* The extendedKeyUsage of a generated leaf.  The default names both
 * purposes (an XMPP server is the TLS client when it initiates s2s); the
 * others exist for tests and for operators reproducing what public CAs
 * issue (Let's Encrypt: serverAuth only since 2026). */
enum tls_certgen_eku {
	TLS_EKU_SERVER_CLIENT,
	TLS_EKU_SERVER,
	TLS_EKU_CLIENT,
	TLS_EKU_NONE,			/* no extension: any purpose */
	TLS_EKU_CODE_SIGNING,		/* neither TLS purpose */
};

/* What tls_certgen_create() should put in a certificate.  Unset (NULL /
 * 0) fields get the defaults of tls_selfsigned_create(). */
struct tls_certgen {
	const char *subject_cn;		/* CN of the subject DN */
	const char *dns_names[TLS_CERTGEN_MAX_NAMES];	/* SAN dNSName */
	const char *xmpp_addrs[TLS_CERTGEN_MAX_NAMES];	/* SAN id-on-xmppAddr */
	const char *srv_names[TLS_CERTGEN_MAX_NAMES];	/* SAN SRVName, e.g.
					   "_xmpp-server.example.com" */
	time_t not_before;		/* 0: now - 1 hour */
	time_t not_after;		/* 0: not_before + 10 years */
	int is_ca;			/* basicConstraints CA:TRUE, keyCertSign */
	const char *issuer_cert_path;	/* NULL: self-signed */
	const char *issuer_key_path;
	enum tls_key_type key_type;	/* 0: TLS_KEY_EC_P256 */
	enum tls_certgen_eku eku;	/* 0: serverAuth + clientAuth */
};

/* The general form of tls_selfsigned_create(): self-signed or issued by
 * the CA in issuer_cert_path/issuer_key_path.  Same files, modes, errors. */
int tls_certgen_create(const struct tls_certgen *spec, const char *cert_path,
    const char *key_path, char *err, size_t errlen);

/* --- mbedTLS's allocator (mbedtls_alloc.c) ------------------------------ */

/* Makes mbedtls_calloc/mbedtls_free recycle freed blocks through bounded
 * per-size free lists on the calling thread (the event loop's), instead
 * of going to malloc for every bignum of a handshake.  Call it on the
 * thread that runs the TLS connections; safe at any time (blocks carry no
 * header).  Other threads keep plain calloc/free. */
void tls_alloc_install(void);
/* Gives the calling thread's cached blocks back to malloc (shutdown). */
void tls_alloc_drain(void);

struct tls_alloc_stats {
	uint64_t hits;		/* requests served from the cache */
	uint64_t misses;	/* requests that went to calloc */
	size_t cached_bytes;	/* bytes held in the cache now */
};
/* The calling thread's counters. */
void tls_alloc_stats(struct tls_alloc_stats *st);

#endif
