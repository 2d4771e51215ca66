/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls_conn.c - one TLS session driven as a state machine over memory
 * buffers, so that the caller owns the transport (curl's vtls/mbedtls.c
 * and OpenSMTPD's ssl layer do the same with sockets).
 *
 *      ciphertext in                                   ciphertext out
 *   tls_conn_feed() --> [bio_recv] mbedTLS [bio_send] --> on_ciphertext()
 *   tls_conn_write() -------------> mbedTLS ----------> on_ciphertext()
 *                                   mbedTLS ----------> on_plaintext()
 *
 * Input is not copied: during tls_conn_feed() mbedTLS reads straight from
 * the caller's span through bio_recv, which answers WANT_READ when the
 * span is exhausted; mbedTLS keeps a partial record in its own input
 * buffer, so every fed byte is consumed before tls_conn_feed() returns.
 * Output is gathered into a bounded buffer (allocated on demand, released
 * when flushed, so an idle connection holds none) and handed to
 * on_ciphertext at the end of every step, coalescing handshake flights
 * into one write.
 *
 * States (tls_conn_enter_state logs every transition):
 *   TLS_HANDSHAKE -> TLS_OPEN      handshake done: on_handshake(result)
 *   TLS_OPEN -> TLS_CLOSING         tls_conn_close(): close_notify sent
 *   TLS_OPEN|CLOSING -> TLS_CLOSED  peer's close_notify (on_close_notify),
 *                                   or EOF while CLOSING
 *   any -> TLS_FAILED               on_error(reason); later input ignored
 *
 * Idle connections hold no record buffers (issue 18, the idea of
 * OpenSSL's SSL_MODE_RELEASE_BUFFERS): mbedTLS keeps a 16 KiB input and
 * an 8 KiB output record buffer for the life of a session, most of an
 * idle TLS stream's memory.  When the outermost public call returns with
 * the session open and nothing half-read or half-written, both go back
 * to the store's small cache (conn_buffers_release) and the next call
 * takes them again (conn_buffers_restore): a busy connection reuses the
 * same warm buffers, an idle one costs the session state alone.
 *
 * Renegotiation is not compiled into mbedTLS (mbedtls_config.h): a peer
 * asking for it gets a no_renegotiation alert.  Callbacks may free the
 * connection: public entry points hold a "busy" count and the free is
 * deferred to the outermost one.
 */
#include "tls.h"
#include "tls_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/platform.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "log.h"

/* conn_buffers_release() moves mbedTLS's record buffers by hand: it
 * knows the stream-TLS layout of mbedTLS 3.6's record pointers (ssl.h:
 * in_ctr/in_hdr/in_len/in_iv/in_msg into in_buf, the same for out_buf;
 * no CID, no DTLS, whose pointers differ) and is checked against it by
 * the TLS unit tests (tls_buffers_*).  Another version must be looked at
 * again before this line is changed. */
#if MBEDTLS_VERSION_MAJOR != 3 || MBEDTLS_VERSION_MINOR != 6 || \
    defined(MBEDTLS_SSL_PROTO_DTLS) || defined(MBEDTLS_SSL_DTLS_CONNECTION_ID) || \
    !defined(MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH)
#error "tls_conn.c: record buffer release written for mbedTLS 3.6 stream TLS with variable buffer length"
#endif

/* The record pointers of one direction, as offsets into its buffer. */
enum { TLS_RP_CTR, TLS_RP_HDR, TLS_RP_LEN, TLS_RP_IV, TLS_RP_MSG, TLS_RP_N };
/* TLS keeps the incoming record sequence number in the 8 bytes before
 * the record header, inside the buffer (ssl_msg.c): they live on. */
#define TLS_SEQ_LEN 8

struct tls_recbuf_saved {
	size_t len;			/* the buffer's size (in/out_buf_len) */
	size_t off[TLS_RP_N];
	uint8_t seq[TLS_SEQ_LEN];
};

/* One full record (16 KiB + header + AEAD expansion) fits, so the usual
 * write of one record is a single copy; mbedTLS copes with partial
 * acceptance when a flight is larger. */
#define TLS_OUT_BUF_CAP (16384 + 512)
#define TLS_READ_CHUNK 16384

struct tls_conn {
	enum tls_conn_state state;
	enum tls_role role;
	int direct_tls;
	struct tls_certstore *store;	/* a reference */
	mbedtls_ssl_context ssl;
	struct tls_conn_callbacks cb;
	void *ud;

	const uint8_t *in;		/* the span being fed, not owned */
	size_t in_len;
	int eof;			/* the network said EOF */
	int saw_input;			/* first byte checked */
	int got_data;			/* plaintext received since OPEN */

	uint8_t *out;			/* pending ciphertext, TLS_OUT_BUF_CAP */
	size_t out_len;
	uint64_t records_out;		/* application data records written */

	int no_resume;			/* client: params.no_resume */
	unsigned busy;			/* nesting of public calls */
	int free_pending;
	struct tls_conn *active_prev;	/* the store's active connection
					   before our outermost call */

	/* Server, TLS 1.3 resumption: the peer identity the ticket carried
	 * (ticket.c); a candidate until the handshake says it resumed. */
	mbedtls_x509_crt *resumed_peer;
	uint32_t resumed_flags;
	time_t resumed_not_after;
	int resumed;			/* the handshake resumed a session */

	/* Record buffers: released while idle (conn_buffers_release).  The
	 * extents are how far into each buffer bytes were ever written
	 * since it was taken, what must be wiped before it is given back. */
	int bufs_released;
	struct tls_recbuf_saved saved_in, saved_out;
	size_t in_extent, out_extent;

	int sent_cert;			/* external client: ours is configured */
	int peer_refused_cert;		/* see tls_conn_peer_refused_cert */
	int pin_failed;			/* internal: presented key not pinned */
	char pin_presented[TLS_PIN_B64_LEN + 1];

	char peer_addr[64];
	char peer_domain[TLS_DOMAIN_MAX + 1];	/* client: normalised */
	char local_domain[TLS_DOMAIN_MAX + 1];	/* client: as asked */
	char sni[TLS_DOMAIN_MAX + 1];		/* server: as asked */
};

static const char *const state_names[] = {
	[TLS_HANDSHAKE] = "handshake",
	[TLS_OPEN] = "open",
	[TLS_CLOSING] = "closing",
	[TLS_CLOSED] = "closed",
	[TLS_FAILED] = "failed",
};

const char *
tls_conn_state_str(enum tls_conn_state st)
{
	if ((unsigned)st > TLS_FAILED)
		return "?";
	return state_names[st];
}

const char *
tls_verify_status_str(enum tls_verify_status st)
{
	switch (st) {
	case TLS_VERIFY_OK: return "ok";
	case TLS_VERIFY_NO_CERT: return "no certificate";
	case TLS_VERIFY_EXPIRED: return "expired";
	case TLS_VERIFY_NOT_YET_VALID: return "not yet valid";
	case TLS_VERIFY_SELF_SIGNED: return "self-signed";
	case TLS_VERIFY_UNTRUSTED: return "untrusted chain";
	case TLS_VERIFY_BAD_USAGE: return "key usage forbids it";
	case TLS_VERIFY_WEAK: return "weak key or signature";
	case TLS_VERIFY_NAME_MISMATCH: return "name mismatch";
	case TLS_VERIFY_PIN_MISMATCH: return "pin mismatch";
	case TLS_VERIFY_INVALID: return "invalid certificate";
	}
	return "?";
}

static const char *
role_str(enum tls_role r)
{
	switch (r) {
	case TLS_ROLE_EXTERNAL_SERVER: return "external-server";
	case TLS_ROLE_EXTERNAL_CLIENT: return "external-client";
	case TLS_ROLE_INTERNAL_SERVER: return "internal-server";
	case TLS_ROLE_INTERNAL_CLIENT: return "internal-client";
	}
	return "?";
}

static void
tls_conn_enter_state(struct tls_conn *c, enum tls_conn_state next)
{
	log_event(LOG_DEBUG, "tls.state", "peer", c->peer_addr, "from",
	    tls_conn_state_str(c->state), "to", tls_conn_state_str(next), NULL);
	c->state = next;
}

/* --- record buffers ----------------------------------------------------- */

/* Records how far into a record buffer bytes reached (end: one past the
 * last byte mbedTLS handed to or took from the BIO).  Plaintext is
 * decrypted and encrypted in place inside that span. */
static void
conn_note_extent(const unsigned char *end, const unsigned char *buf,
    size_t buflen, size_t *extent)
{
	size_t e;

	if (buf == NULL || end < buf || end > buf + buflen)
		return;
	e = (size_t)(end - buf);
	if (e > *extent)
		*extent = e;
}

/* Is the session between records in both directions?  Nothing of a
 * record is buffered (a partial one, unread plaintext, a handshake
 * message being processed, bytes not yet handed to the BIO) and the
 * handshake is over: the buffers hold only the sequence numbers.  (TLS
 * 1.3 keeps ssl->handshake after the handshake, for NewSessionTicket;
 * nothing in it points into the record buffers.) */
static int
conn_buffers_idle(struct tls_conn *c)
{
	mbedtls_ssl_context *ssl = &c->ssl;

	return c->state == TLS_OPEN && !c->free_pending &&
	    !c->bufs_released && mbedtls_ssl_is_handshake_over(ssl) &&
	    ssl->MBEDTLS_PRIVATE(in_buf) != NULL &&
	    ssl->MBEDTLS_PRIVATE(out_buf) != NULL &&
	    ssl->MBEDTLS_PRIVATE(in_left) == 0 &&
	    ssl->MBEDTLS_PRIVATE(in_msglen) == 0 &&
	    ssl->MBEDTLS_PRIVATE(in_offt) == NULL &&
	    ssl->MBEDTLS_PRIVATE(keep_current_message) == 0 &&
	    ssl->MBEDTLS_PRIVATE(out_left) == 0 &&
	    mbedtls_ssl_check_pending(ssl) == 0;
}

/* One direction's buffer and pointers, saved as offsets; the buffer is
 * wiped up to extent and goes to the store's cache. */
static void
conn_recbuf_release(struct tls_conn *c, unsigned char **buf, size_t buflen,
    unsigned char **ptr[TLS_RP_N], size_t *extent, struct tls_recbuf_saved *sv)
{
	size_t i;

	sv->len = buflen;
	for (i = 0; i < TLS_RP_N; i++) {
		sv->off[i] = (size_t)(*ptr[i] - *buf);
		*ptr[i] = NULL;
	}
	memcpy(sv->seq, *buf, TLS_SEQ_LEN);
	mbedtls_platform_zeroize(*buf, *extent > TLS_SEQ_LEN ? *extent : TLS_SEQ_LEN);
	*extent = 0;
	tls_certstore_recbuf_put(c->store, *buf, buflen);
	*buf = NULL;
}

static int
conn_recbuf_restore(struct tls_conn *c, unsigned char **buf,
    unsigned char **ptr[TLS_RP_N], const struct tls_recbuf_saved *sv)
{
	size_t i;

	if ((*buf = tls_certstore_recbuf_get(c->store, sv->len)) == NULL)
		return -1;
	memcpy(*buf, sv->seq, TLS_SEQ_LEN);
	for (i = 0; i < TLS_RP_N; i++)
		*ptr[i] = *buf + sv->off[i];
	return 0;
}

#define CONN_IN_PTRS(ssl) { &(ssl)->MBEDTLS_PRIVATE(in_ctr), \
	&(ssl)->MBEDTLS_PRIVATE(in_hdr), &(ssl)->MBEDTLS_PRIVATE(in_len), \
	&(ssl)->MBEDTLS_PRIVATE(in_iv), &(ssl)->MBEDTLS_PRIVATE(in_msg) }
#define CONN_OUT_PTRS(ssl) { &(ssl)->MBEDTLS_PRIVATE(out_ctr), \
	&(ssl)->MBEDTLS_PRIVATE(out_hdr), &(ssl)->MBEDTLS_PRIVATE(out_len), \
	&(ssl)->MBEDTLS_PRIVATE(out_iv), &(ssl)->MBEDTLS_PRIVATE(out_msg) }

/* Gives both record buffers back while the session is idle (see the
 * header comment).  mbedTLS is not called until conn_buffers_restore:
 * every public entry point restores first (conn_enter). */
static void
conn_buffers_release(struct tls_conn *c)
{
	mbedtls_ssl_context *ssl = &c->ssl;
	unsigned char **in[TLS_RP_N] = CONN_IN_PTRS(ssl);
	unsigned char **out[TLS_RP_N] = CONN_OUT_PTRS(ssl);

	if (!conn_buffers_idle(c))
		return;
	conn_recbuf_release(c, &ssl->MBEDTLS_PRIVATE(in_buf),
	    ssl->MBEDTLS_PRIVATE(in_buf_len), in, &c->in_extent, &c->saved_in);
	conn_recbuf_release(c, &ssl->MBEDTLS_PRIVATE(out_buf),
	    ssl->MBEDTLS_PRIVATE(out_buf_len), out, &c->out_extent,
	    &c->saved_out);
	c->bufs_released = 1;
}

/* --- the TLS 1.3 handshake structure --------------------------------------- */

/* mbedTLS's own teardown of ssl->handshake (ssl_misc.h, not in its
 * public headers; mbedtls_ssl_free calls the same two). */
void mbedtls_ssl_handshake_free(mbedtls_ssl_context *ssl);
void mbedtls_ssl_transform_free(mbedtls_ssl_transform *transform);

/*
 * mbedTLS 3.6 frees the handshake structure (ssl->handshake: transcript
 * hashes, key schedule, key shares, ~1.9 KiB with what hangs off it) at
 * the end of a TLS 1.2 handshake but keeps it for the whole life of a TLS
 * 1.3 session: a server writes its NewSessionTickets through it, a client
 * takes them in through it (ssl_tls13_client.c, post-handshake messages
 * go to mbedtls_ssl_handshake_step, which refuses to run without it).
 * Idle, it was about a sixth of an outgoing stream (issue 18).  It is
 * released, as mbedtls_ssl_free would (with the TLS 1.2 transform and
 * session that ride with it), once nothing can need it:
 *
 *  - server: once the handshake is over; the tickets were written by the
 *    call that completed it, and a post-handshake handshake message from
 *    a client is an unexpected_message alert with or without it;
 *  - client: once the server's first application data came.  Servers send
 *    their tickets right after the handshake, before anything else
 *    (OpenSSL, mbedTLS, Prosody through LuaSec), so by then the ticket we
 *    keep is in (session_cache.c).  The connection then moves to a twin of
 *    its configuration with the ticket signal off (certstore.c), so a
 *    ticket sent later is dropped by mbedTLS (ssl_msg.c) instead of
 *    reaching the handshake code; the partner's next stream resumes with
 *    the ticket kept before.
 *
 * A pinned mbedTLS version (3.6, checked above) is what makes this
 * outside edit safe; the TLS unit tests check it (tls_handshake_state_*).
 */
static void
conn_handshake_release(struct tls_conn *c)
{
	mbedtls_ssl_context *ssl = &c->ssl;
	const mbedtls_ssl_config *quiet;
	int client = c->role == TLS_ROLE_EXTERNAL_CLIENT ||
	    c->role == TLS_ROLE_INTERNAL_CLIENT;

	if (ssl->MBEDTLS_PRIVATE(handshake) == NULL || c->state != TLS_OPEN ||
	    c->free_pending || !mbedtls_ssl_is_handshake_over(ssl) ||
	    mbedtls_ssl_get_version_number(ssl) != MBEDTLS_SSL_VERSION_TLS1_3 ||
	    ssl->MBEDTLS_PRIVATE(keep_current_message) != 0)
		return;
	if (client) {
		if (!c->got_data)
			return;
		if ((quiet = tls_certstore_conf_tickets_off(c->store,
		    ssl->MBEDTLS_PRIVATE(conf))) == NULL)
			return;		/* out of memory: keep it, try later */
		ssl->MBEDTLS_PRIVATE(conf) = quiet;
	}
	mbedtls_ssl_handshake_free(ssl);
	mbedtls_free(ssl->MBEDTLS_PRIVATE(handshake));
	ssl->MBEDTLS_PRIVATE(handshake) = NULL;
	mbedtls_ssl_transform_free(ssl->MBEDTLS_PRIVATE(transform_negotiate));
	mbedtls_free(ssl->MBEDTLS_PRIVATE(transform_negotiate));
	ssl->MBEDTLS_PRIVATE(transform_negotiate) = NULL;
	mbedtls_ssl_session_free(ssl->MBEDTLS_PRIVATE(session_negotiate));
	mbedtls_free(ssl->MBEDTLS_PRIVATE(session_negotiate));
	ssl->MBEDTLS_PRIVATE(session_negotiate) = NULL;
}

/* Takes the buffers again: 0, or -1 when out of memory (the connection
 * has failed then). */
static int
conn_buffers_restore(struct tls_conn *c)
{
	mbedtls_ssl_context *ssl = &c->ssl;
	unsigned char **in[TLS_RP_N] = CONN_IN_PTRS(ssl);
	unsigned char **out[TLS_RP_N] = CONN_OUT_PTRS(ssl);

	if (!c->bufs_released)
		return 0;
	if (conn_recbuf_restore(c, &ssl->MBEDTLS_PRIVATE(in_buf), in,
	    &c->saved_in) != 0)
		goto fail;
	if (conn_recbuf_restore(c, &ssl->MBEDTLS_PRIVATE(out_buf), out,
	    &c->saved_out) != 0) {
		/* The input buffer goes back with its sequence number. */
		conn_recbuf_release(c, &ssl->MBEDTLS_PRIVATE(in_buf),
		    c->saved_in.len, in, &c->in_extent, &c->saved_in);
		goto fail;
	}
	c->bufs_released = 0;
	return 0;
fail:
	return -1;
}

/* --- BIO --------------------------------------------------------------- */

static int
bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct tls_conn *c = ctx;
	size_t n;

	if (c->cb.ciphertext_span != NULL) {
		/* Straight into the transport's pending write. */
		uint8_t *dst = c->cb.ciphertext_span(c->ud, len, &n);

		conn_note_extent(buf + len, c->ssl.MBEDTLS_PRIVATE(out_buf),
		    c->ssl.MBEDTLS_PRIVATE(out_buf_len), &c->out_extent);
		if (dst == NULL)
			return (int)len;	/* closing: dropped, as a
						   failed on_ciphertext */
		if (n > len)
			n = len;
		memcpy(dst, buf, n);
		c->cb.ciphertext_commit(c->ud, n);
		return (int)n;
	}
	if (c->out == NULL) {
		c->out = tls_certstore_outbuf_get(c->store, TLS_OUT_BUF_CAP);
		if (c->out == NULL)
			return MBEDTLS_ERR_SSL_ALLOC_FAILED;
		c->out_len = 0;
	}
	n = TLS_OUT_BUF_CAP - c->out_len;
	if (n == 0)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	if (n > len)
		n = len;
	conn_note_extent(buf + len, c->ssl.MBEDTLS_PRIVATE(out_buf),
	    c->ssl.MBEDTLS_PRIVATE(out_buf_len), &c->out_extent);
	memcpy(c->out + c->out_len, buf, n);
	c->out_len += n;
	return (int)n;
}

static int
bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_conn *c = ctx;
	size_t n;

	if (c->in_len == 0)
		return c->eof ? 0 : MBEDTLS_ERR_SSL_WANT_READ;
	n = len < c->in_len ? len : c->in_len;
	if (n > INT32_MAX)
		n = INT32_MAX;
	conn_note_extent(buf + n, c->ssl.MBEDTLS_PRIVATE(in_buf),
	    c->ssl.MBEDTLS_PRIVATE(in_buf_len), &c->in_extent);
	memcpy(buf, c->in, n);
	c->in += n;
	c->in_len -= n;
	return (int)n;
}

/* Hands the gathered ciphertext to the caller and releases the buffer. */
static void
conn_flush(struct tls_conn *c)
{
	uint8_t *out = c->out;
	size_t len = c->out_len;

	if (out == NULL)
		return;
	c->out = NULL;
	c->out_len = 0;
	if (len > 0 && c->cb.on_ciphertext != NULL)
		c->cb.on_ciphertext(c->ud, out, len);
	tls_certstore_outbuf_put(c->store, out);
}

/* --- verification -------------------------------------------------------- */

/* Internal link: accept the peer by the SPKI pin of its leaf alone.  Every
 * certificate above the leaf is ignored (flags cleared): no CA is
 * consulted, and dates do not matter, as for DANE-EE (RFC 7671 §5.1). */
static int
pin_verify_cb(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	struct tls_conn *c = ctx;
	uint8_t pin[TLS_PIN_LEN];

	if (depth > 0) {
		*flags = 0;
		return 0;
	}
	if (tls_pin_of_cert(crt, pin) != 0) {
		*flags = MBEDTLS_X509_BADCERT_OTHER;
		c->pin_failed = 1;
		return 0;
	}
	tls_pin_format(pin, c->pin_presented, sizeof(c->pin_presented));
	if (tls_certstore_pin_ok(c->store, pin)) {
		*flags = 0;
	} else {
		/* BADCERT_OTHER: mbedTLS answers access_denied. */
		*flags = MBEDTLS_X509_BADCERT_OTHER;
		c->pin_failed = 1;
	}
	return 0;
}

static int
crt_is_self_signed(const mbedtls_x509_crt *crt)
{
	return crt->issuer_raw.len == crt->subject_raw.len &&
	    memcmp(crt->issuer_raw.p, crt->subject_raw.p,
	    crt->subject_raw.len) == 0;
}

/*
 * The client certificate of an s2s peer is its server certificate: the
 * initiating server presents what it serves with.  mbedTLS, as a TLS
 * server, wants extendedKeyUsage clientAuth in it
 * (mbedtls_ssl_check_cert_usage, after our verify callback has run, so
 * the flag can only be revised here), but public CAs stopped issuing
 * clientAuth (Let's Encrypt, 2026), and the amended XEP-0178, Prosody and
 * ejabberd >= 25.07 accept serverAuth for s2s.  So: the usage flag is
 * dropped when the certificate names serverAuth.  mbedTLS already accepts
 * no extension and anyExtendedKeyUsage; a certificate whose EKU names
 * neither TLS purpose (code signing, e-mail, ...) stays refused, as does
 * a keyUsage without digitalSignature (a separate flag).
 */
static uint32_t
conn_client_eku_flags(const mbedtls_x509_crt *peer, uint32_t flags)
{
	if ((flags & MBEDTLS_X509_BADCERT_EXT_KEY_USAGE) != 0 &&
	    mbedtls_x509_crt_check_extended_key_usage(peer,
	    MBEDTLS_OID_SERVER_AUTH,
	    MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) == 0)
		flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_EXT_KEY_USAGE;
	return flags;
}

/*
 * A TLS 1.3 server learns of a resumption only by its effects: mbedTLS
 * 3.6 sets the verification result to 0 ("no certificate used") for a
 * PSK handshake, while a full one with our optional client certificate
 * request leaves either the peer's certificate or
 * MBEDTLS_X509_BADCERT_MISSING (ssl_tls13_server.c, encrypted
 * extensions; ssl_tls13_generic.c, validate_certificate).  Valid from
 * the moment mbedTLS writes NewSessionTicket on.
 */
static int
conn_psk_resumed(const struct tls_conn *c)
{
	return c->role == TLS_ROLE_EXTERNAL_SERVER &&
	    mbedtls_ssl_get_version_number(&c->ssl) == MBEDTLS_SSL_VERSION_TLS1_3 &&
	    mbedtls_ssl_get_peer_cert(&c->ssl) == NULL &&
	    mbedtls_ssl_get_verify_result(&c->ssl) == 0;
}

/* The peer's leaf and mbedTLS's verification flags for it: presented in
 * this handshake, or bound to the ticket it resumed with, whose dates are
 * checked again now (a ticket may outlive the certificate). */
static const mbedtls_x509_crt *
conn_peer(const struct tls_conn *c, uint32_t *flags)
{
	const mbedtls_x509_crt *peer = mbedtls_ssl_get_peer_cert(&c->ssl);

	if (peer != NULL) {
		/* A client's resumed session keeps the leaf and flags of its
		 * full handshake (session_cache.c): the date again. */
		*flags = mbedtls_ssl_get_verify_result(&c->ssl);
		if (*flags != (uint32_t)-1 && mbedtls_x509_time_is_past(&peer->valid_to))
			*flags |= MBEDTLS_X509_BADCERT_EXPIRED;
		return peer;
	}
	if (!c->resumed || c->resumed_peer == NULL)
		return NULL;
	*flags = c->resumed_flags;
	if (time(NULL) > c->resumed_not_after)
		*flags |= MBEDTLS_X509_BADCERT_EXPIRED;
	return c->resumed_peer;
}

/* Fills *r for the current session's peer and the given domain (may be
 * NULL: chain only). */
static void
conn_verify(struct tls_conn *c, const char *domain, struct tls_verify_result *r)
{
	uint32_t flags = 0;
	const mbedtls_x509_crt *peer = conn_peer(c, &flags);
	char subject[96] = "";
	int n;

	memset(r, 0, sizeof(*r));
	if (domain != NULL)
		snprintf(r->domain, sizeof(r->domain), "%s", domain);
	if (c->role == TLS_ROLE_INTERNAL_SERVER ||
	    c->role == TLS_ROLE_INTERNAL_CLIENT) {
		/* The handshake only completes with a pinned key. */
		r->status = TLS_VERIFY_OK;
		r->matched_by = TLS_ID_PIN;
		snprintf(r->detail, sizeof(r->detail), "pin %s",
		    c->pin_presented);
		return;
	}
	if (peer == NULL) {
		r->status = TLS_VERIFY_NO_CERT;
		/* Also after a TLS 1.3 resumption of a session that had
		 * none (or a leaf too large to bind, ticket.c). */
		snprintf(r->detail, sizeof(r->detail), "no peer certificate");
		return;
	}
	mbedtls_x509_dn_gets(subject, sizeof(subject), &peer->subject);
	/* The hostname check of mbedTLS only knows CN and dNSName; ours
	 * below replaces it. */
	flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
	if (c->role == TLS_ROLE_EXTERNAL_SERVER && flags != (uint32_t)-1)
		flags = conn_client_eku_flags(peer, flags);
	if (flags == (uint32_t)-1) {
		r->status = TLS_VERIFY_INVALID;
	} else if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) {
		r->status = peer->next == NULL && crt_is_self_signed(peer) ?
		    TLS_VERIFY_SELF_SIGNED : TLS_VERIFY_UNTRUSTED;
	} else if (flags & MBEDTLS_X509_BADCERT_EXPIRED) {
		r->status = TLS_VERIFY_EXPIRED;
	} else if (flags & MBEDTLS_X509_BADCERT_FUTURE) {
		r->status = TLS_VERIFY_NOT_YET_VALID;
	} else if (flags & (MBEDTLS_X509_BADCERT_KEY_USAGE |
	    MBEDTLS_X509_BADCERT_EXT_KEY_USAGE |
	    MBEDTLS_X509_BADCERT_NS_CERT_TYPE)) {
		r->status = TLS_VERIFY_BAD_USAGE;
	} else if (flags & (MBEDTLS_X509_BADCERT_BAD_MD |
	    MBEDTLS_X509_BADCERT_BAD_PK | MBEDTLS_X509_BADCERT_BAD_KEY)) {
		r->status = TLS_VERIFY_WEAK;
	} else if (flags != 0) {
		r->status = TLS_VERIFY_INVALID;
	} else if (domain == NULL) {
		r->status = TLS_VERIFY_OK;
	} else {
		r->matched_by = tls_identity_check_cert(peer, domain);
		r->status = r->matched_by == TLS_ID_NONE ?
		    TLS_VERIFY_NAME_MISMATCH : TLS_VERIFY_OK;
	}
	n = snprintf(r->detail, sizeof(r->detail), "subject %s%s", subject,
	    c->resumed ? " (resumed)" : "");
	if (flags != 0 && n > 0 && (size_t)n < sizeof(r->detail))
		snprintf(r->detail + n, sizeof(r->detail) - (size_t)n,
		    "; flags 0x%08x", (unsigned)flags);
}

int
tls_conn_peer_refused_cert(const struct tls_conn *c)
{
	return c->peer_refused_cert;
}

int
tls_conn_verify_peer(struct tls_conn *c, const char *domain,
    struct tls_verify_result *out)
{
	if (c->state == TLS_HANDSHAKE || c->state == TLS_FAILED) {
		memset(out, 0, sizeof(*out));
		out->status = TLS_VERIFY_INVALID;
		snprintf(out->detail, sizeof(out->detail), "no handshake");
		return -1;
	}
	conn_verify(c, domain, out);
	return 0;
}

/* --- failure ------------------------------------------------------------- */

static const char *
alert_name(unsigned char a)
{
	switch (a) {
	case 0: return "close_notify";
	case 10: return "unexpected_message";
	case 20: return "bad_record_mac";
	case 40: return "handshake_failure";
	case 42: return "bad_certificate";
	case 43: return "unsupported_certificate";
	case 44: return "certificate_revoked";
	case 45: return "certificate_expired";
	case 46: return "certificate_unknown";
	case 47: return "illegal_parameter";
	case 48: return "unknown_ca";
	case 49: return "access_denied";
	case 50: return "decode_error";
	case 51: return "decrypt_error";
	case 70: return "protocol_version";
	case 71: return "insufficient_security";
	case 80: return "internal_error";
	case 86: return "inappropriate_fallback";
	case 90: return "user_canceled";
	case 109: return "missing_extension";
	case 110: return "unsupported_extension";
	case 112: return "unrecognized_name";
	case 116: return "certificate_required";
	case 120: return "no_application_protocol";
	}
	return "unknown";
}

/* One precise sentence per mbedTLS error we expect from hostile or broken
 * peers; the mbedTLS text for the rest. */
static void
conn_reason(struct tls_conn *c, int ret, char *buf, size_t len)
{
	char ebuf[160];

	if (c->pin_failed) {
		snprintf(buf, len, "pin mismatch: the peer's key (sha256 %s) "
		    "is none of the %zu configured pins",
		    c->pin_presented[0] ? c->pin_presented : "?",
		    tls_certstore_npins(c->store));
		return;
	}
	switch (ret) {
	case 0:
	case MBEDTLS_ERR_SSL_CONN_EOF:
		snprintf(buf, len, c->state == TLS_HANDSHAKE ?
		    "truncated handshake: the peer closed the connection" :
		    "the peer closed the connection without close_notify");
		return;
	case MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION:
		snprintf(buf, len, "protocol version refused: the peer "
		    "offered only TLS 1.1 or older (TLS 1.2+ required)");
		return;
	case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
		snprintf(buf, len, "no client certificate, and one is "
		    "required");
		return;
	case MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE:
		snprintf(buf, len, "handshake failure: no cipher suite, "
		    "group or signature algorithm in common (weak or "
		    "unsupported offer)");
		return;
	case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE: {
		unsigned char a = c->ssl.MBEDTLS_PRIVATE(in_msg) ?
		    c->ssl.MBEDTLS_PRIVATE(in_msg)[1] : 255;

		snprintf(buf, len, "the peer sent a fatal alert: %s (%u)",
		    alert_name(a), (unsigned)a);
		return;
	}
	case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
		snprintf(buf, len, "certificate verification failed");
		return;
	case MBEDTLS_ERR_SSL_NO_APPLICATION_PROTOCOL:
		snprintf(buf, len, "no application protocol in common "
		    "(ALPN: only %s)", TLS_ALPN_XMPP_SERVER);
		return;
	case MBEDTLS_ERR_SSL_INVALID_MAC:
		if (c->state == TLS_OPEN && !c->got_data &&
		    (c->role == TLS_ROLE_EXTERNAL_CLIENT ||
		    c->role == TLS_ROLE_INTERNAL_CLIENT)) {
			/* TLS 1.3: a client is done after its Finished; an
			 * mbedTLS server refusing our certificate then sends
			 * its alert under keys we no longer read with. */
			snprintf(buf, len, "the first record after the "
			    "handshake failed to decrypt: the peer most likely "
			    "refused our certificate");
			return;
		}
		break;
	default:
		break;
	}
	snprintf(buf, len, "%s", tls_strerror(ret, ebuf, sizeof(ebuf)));
}

static void
conn_fail(struct tls_conn *c, const char *reason)
{
	if (c->state == TLS_FAILED)
		return;
	log_event(LOG_WARN, c->state == TLS_HANDSHAKE ?
	    "tls.handshake_failed" : "tls.error", "peer", c->peer_addr,
	    "role", role_str(c->role), "reason", reason, NULL);
	tls_conn_enter_state(c, TLS_FAILED);
	c->in_len = 0;
	/* The alert mbedTLS queued, if any, still goes out. */
	conn_flush(c);
	if (c->cb.on_error != NULL)
		c->cb.on_error(c->ud, reason);
}

/* 1 if this failure of an external client that presented a certificate
 * is the peer refusing that certificate.  A server's certificate alerts
 * (RFC 8446 §6.2) can only be about ours; TLS 1.3 servers judge it after
 * our Finished, so their alert (or, from an mbedTLS server, a record we
 * cannot decrypt) arrives once we are open, before any data. */
static int
conn_failure_refuses_cert(const struct tls_conn *c, int ret)
{
	unsigned char a;

	if (c->role != TLS_ROLE_EXTERNAL_CLIENT || !c->sent_cert ||
	    c->got_data)
		return 0;
	if (ret == MBEDTLS_ERR_SSL_INVALID_MAC)
		return c->state == TLS_OPEN;
	if (ret != MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE ||
	    c->ssl.MBEDTLS_PRIVATE(in_msg) == NULL)
		return 0;
	a = c->ssl.MBEDTLS_PRIVATE(in_msg)[1];
	switch (a) {
	case 42:	/* bad_certificate */
	case 43:	/* unsupported_certificate: OpenSSL's "unsupported
			   certificate purpose" */
	case 44:	/* certificate_revoked */
	case 45:	/* certificate_expired */
	case 46:	/* certificate_unknown */
	case 48:	/* unknown_ca */
		return 1;
	}
	return 0;
}

static void
conn_fail_ret(struct tls_conn *c, int ret)
{
	char reason[200];

	c->peer_refused_cert = conn_failure_refuses_cert(c, ret);

	conn_reason(c, ret, reason, sizeof(reason));
	conn_fail(c, reason);
}

/* The edge check of the very first byte a server receives: a TLS record
 * of the handshake type (22) or nothing of ours.  This gives a clear reason
 * for the common mistakes (XML on a Direct TLS port, HTTP, SSLv2). */
static int
conn_check_first_byte(struct tls_conn *c, const uint8_t *data, size_t len)
{
	if (c->saw_input || len == 0)
		return 0;
	c->saw_input = 1;
	if (c->role != TLS_ROLE_EXTERNAL_SERVER &&
	    c->role != TLS_ROLE_INTERNAL_SERVER)
		return 0;
	if (data[0] == 22)
		return 0;
	if (data[0] == '<')
		conn_fail(c, "not TLS: the peer sent XML instead of a "
		    "ClientHello (plaintext stream on a TLS port?)");
	else if (data[0] & 0x80)
		conn_fail(c, "not TLS: SSLv2-style ClientHello refused");
	else
		conn_fail(c, "not TLS: garbage instead of a ClientHello");
	return -1;
}

/* --- the engine ---------------------------------------------------------- */

static void
conn_handshake_done(struct tls_conn *c)
{
	struct tls_verify_result r;
	const char *alpn = mbedtls_ssl_get_alpn_protocol(&c->ssl);

	/* A ticket's identity counts only if the handshake resumed. */
	c->resumed = conn_psk_resumed(c);
	if (!c->resumed)
		tls_conn_ticket_resume(c, NULL);
	conn_verify(c, c->role == TLS_ROLE_EXTERNAL_CLIENT ? c->peer_domain :
	    NULL, &r);
	tls_conn_enter_state(c, TLS_OPEN);
	log_event(LOG_INFO, "tls.handshake", "peer", c->peer_addr,
	    "role", role_str(c->role),
	    "version", mbedtls_ssl_get_version(&c->ssl),
	    "cipher", mbedtls_ssl_get_ciphersuite(&c->ssl),
	    "alpn", alpn, "resumed", c->resumed ? "yes" : NULL, "sni", c->role == TLS_ROLE_EXTERNAL_CLIENT ||
	    c->role == TLS_ROLE_INTERNAL_CLIENT ? (c->peer_domain[0] ? c->peer_domain : NULL) :
	    c->sni[0] ? c->sni : NULL,
	    "verify", tls_verify_status_str(r.status),
	    "id", r.matched_by != TLS_ID_NONE ? tls_id_type_str(r.matched_by) :
	    NULL, "domain", r.domain[0] ? r.domain : NULL,
	    "detail", r.detail, NULL);
	/* The caller may flush its ClientHello-time output first. */
	conn_flush(c);
	if (c->cb.on_handshake != NULL)
		c->cb.on_handshake(c->ud, &r);
}

/* External client: a ticket arrived; keep the session for the next
 * stream to this partner (session_cache.c). */
static void
conn_session_save(struct tls_conn *c)
{
	mbedtls_ssl_session *live = c->ssl.MBEDTLS_PRIVATE(session);

	if (c->role == TLS_ROLE_EXTERNAL_CLIENT && !c->no_resume)
		tls_session_cache_put(tls_certstore_sessions(c->store), &c->ssl,
		    c->peer_domain, c->sent_cert ? c->local_domain : "-",
		    c->direct_tls);
	/* The cache has its own copy: a ticket is only ever offered from
	 * there, never from this connection's session, which kept it for
	 * its whole life (a few hundred bytes per idle outgoing stream,
	 * issue 18).  mbedTLS allocates the next one anew. */
	if (live != NULL && live->MBEDTLS_PRIVATE(ticket) != NULL) {
		mbedtls_platform_zeroize(live->MBEDTLS_PRIVATE(ticket),
		    live->MBEDTLS_PRIVATE(ticket_len));
		mbedtls_free(live->MBEDTLS_PRIVATE(ticket));
		live->MBEDTLS_PRIVATE(ticket) = NULL;
		live->MBEDTLS_PRIVATE(ticket_len) = 0;
	}
}

/* Runs mbedTLS until it needs input.  Every callback may have freed or
 * closed the connection: the loop re-reads the state each time and
 * stops as soon as free is pending. */
static void
conn_drive(struct tls_conn *c)
{
	unsigned char buf[TLS_READ_CHUNK], *dst;
	size_t cap;
	int ret, direct;

	for (;;) {
		if (c->free_pending)
			return;
		switch (c->state) {
		case TLS_HANDSHAKE:
			ret = mbedtls_ssl_handshake(&c->ssl);
			if (ret == 0) {
				conn_handshake_done(c);
				continue;
			}
			if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
				conn_session_save(c);
				continue;
			}
			break;
		case TLS_OPEN:
		case TLS_CLOSING:
			/* Into the consumer's buffer when it offers one
			 * (one copy less); else through buf. */
			dst = buf;
			cap = sizeof(buf);
			direct = c->cb.plaintext_span != NULL &&
			    c->cb.plaintext_span(c->ud,
			    mbedtls_ssl_get_bytes_avail(&c->ssl), &dst,
			    &cap) == 0 && cap > 0;
			if (!direct) {
				dst = buf;
				cap = sizeof(buf);
			}
			ret = mbedtls_ssl_read(&c->ssl, dst, cap);
			if (ret > 0) {
				c->got_data = 1;
				if (direct)
					c->cb.plaintext_commit(c->ud,
					    (size_t)ret);
				else if (c->cb.on_plaintext != NULL)
					c->cb.on_plaintext(c->ud, buf,
					    (size_t)ret);
				continue;
			}
			if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
				if (c->state == TLS_OPEN)
					mbedtls_ssl_close_notify(&c->ssl);
				tls_conn_enter_state(c, TLS_CLOSED);
				conn_flush(c);
				log_event(LOG_DEBUG, "tls.close_notify", "peer",
				    c->peer_addr, NULL);
				if (c->cb.on_close_notify != NULL)
					c->cb.on_close_notify(c->ud);
				return;
			}
			if (ret == 0 && c->state == TLS_CLOSING) {
				/* EOF after our close_notify: done. */
				tls_conn_enter_state(c, TLS_CLOSED);
				return;
			}
			if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
				conn_session_save(c);
				continue;
			}
			break;
		default:
			c->in_len = 0;
			conn_flush(c);
			return;
		}
		/* A client's NewSessionTicket: mbedTLS answers WANT_READ once
		 * it has the message, and handles it on the next call
		 * (ssl_msg.c, post-handshake messages). */
		if (ret == MBEDTLS_ERR_SSL_WANT_READ &&
		    c->ssl.MBEDTLS_PRIVATE(state) == MBEDTLS_SSL_TLS1_3_NEW_SESSION_TICKET)
			continue;
		if (ret == MBEDTLS_ERR_SSL_WANT_READ) {
			conn_flush(c);
			return;
		}
		if (ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
			conn_flush(c);
			continue;
		}
		conn_fail_ret(c, ret);
		return;
	}
}

/* Every public call that may reach mbedTLS starts here.  The outermost
 * call makes c the store's active connection for the ticket callbacks
 * (ticket.c); calls nest strictly (a callback of one connection may drive
 * another), so the previous one is put back.  The record buffers an idle
 * session gave back are taken again first. */
static void
conn_enter(struct tls_conn *c)
{
	if (c->busy++ == 0)
		c->active_prev = tls_certstore_active_swap(c->store, c);
	if (c->bufs_released && conn_buffers_restore(c) != 0)
		conn_fail(c, "out of memory for the TLS record buffers");
}

/* Returns 0 if c is still usable, -1 if it failed or was freed.  The
 * outermost call gives an idle session's record buffers back. */
static int
conn_leave(struct tls_conn *c)
{
	int failed = c->state == TLS_FAILED;

	if (c->busy == 1)
		tls_certstore_active_swap(c->store, c->active_prev);
	if (--c->busy == 0 && c->free_pending) {
		tls_conn_free(c);
		return -1;
	}
	if (c->busy == 0) {
		conn_handshake_release(c);
		conn_buffers_release(c);
	}
	return failed ? -1 : 0;
}

/* --- public -------------------------------------------------------------- */

struct tls_conn *
tls_conn_new(struct tls_certstore *store, const struct tls_conn_params *p,
    const struct tls_conn_callbacks *cb, void *ud, char *err, size_t errlen)
{
	const mbedtls_ssl_config *conf;
	struct tls_conn *c;
	char ebuf[160];
	int ret;

	conf = tls_certstore_conf(store, p->role, p->direct_tls,
	    p->local_domain, p->no_client_cert);
	if (conf == NULL) {
		tls_set_err(err, errlen, "no internal link certificate "
		    "configured");
		return NULL;
	}
	/* mbedtls_calloc: the memory accounting (tls/MEMORY.md) sees it. */
	if ((c = mbedtls_calloc(1, sizeof(*c))) == NULL) {
		tls_set_err(err, errlen, "out of memory");
		return NULL;
	}
	c->state = TLS_HANDSHAKE;
	c->role = p->role;
	c->direct_tls = p->direct_tls;
	c->sent_cert = p->role == TLS_ROLE_EXTERNAL_CLIENT && !p->no_client_cert;
	c->no_resume = p->no_resume;
	c->cb = *cb;
	c->ud = ud;
	snprintf(c->peer_addr, sizeof(c->peer_addr), "%s",
	    p->peer_addr ? p->peer_addr : "-");
	mbedtls_ssl_init(&c->ssl);
	if (p->role == TLS_ROLE_EXTERNAL_CLIENT &&
	    (p->peer_domain == NULL || tls_identity_normalize(p->peer_domain,
	    c->peer_domain, sizeof(c->peer_domain)) != 0)) {
		tls_set_err(err, errlen, "invalid peer domain '%s'",
		    p->peer_domain ? p->peer_domain : "");
		goto fail;
	}
	/* Internal client: the name is only SNI; a bad one is not sent. */
	if (p->role == TLS_ROLE_INTERNAL_CLIENT && p->peer_domain != NULL &&
	    tls_identity_normalize(p->peer_domain, c->peer_domain, sizeof(c->peer_domain)) != 0)
		c->peer_domain[0] = '\0';
	if ((ret = mbedtls_ssl_setup(&c->ssl, conf)) != 0)
		goto fail_ret;
	c->store = tls_certstore_ref(store);
	mbedtls_ssl_set_user_data_p(&c->ssl, c);
	mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
	switch (p->role) {
	case TLS_ROLE_EXTERNAL_CLIENT:
		/* SNI (RFC 6066 §3) in A-label form; mbedTLS's own name check
		 * is masked out in conn_verify(). */
		if ((ret = mbedtls_ssl_set_hostname(&c->ssl,
		    c->peer_domain)) != 0)
			goto fail_ret;
		/* A ticket from an earlier stream to the partner, if any:
		 * offered, and the full handshake follows if refused. */
		snprintf(c->local_domain, sizeof(c->local_domain), "%s",
		    p->local_domain ? p->local_domain : "");
		if (!c->no_resume)
			tls_session_cache_take(tls_certstore_sessions(store),
			    &c->ssl, c->peer_domain,
			    c->sent_cert ? c->local_domain : "-", c->direct_tls);
		break;
	case TLS_ROLE_INTERNAL_CLIENT:
		/* The pin is the identity; gateway.server_name only goes out
		 * as SNI so that a gateway with several certificates picks
		 * the pinned one.  pin_verify_cb clears mbedTLS's name check
		 * when the pin matches (NULL says "no name" explicitly, as
		 * mbedTLS 3.6.3+ asks). */
		if ((ret = mbedtls_ssl_set_hostname(&c->ssl,
		    c->peer_domain[0] ? c->peer_domain : NULL)) != 0)
			goto fail_ret;
		/* FALLTHROUGH */
	case TLS_ROLE_INTERNAL_SERVER:
		mbedtls_ssl_set_verify(&c->ssl, pin_verify_cb, c);
		break;
	case TLS_ROLE_EXTERNAL_SERVER:
		break;
	}
	return c;

fail_ret:
	tls_set_err(err, errlen, "TLS setup: %s",
	    tls_strerror(ret, ebuf, sizeof(ebuf)));
fail:
	mbedtls_ssl_free(&c->ssl);
	if (c->store != NULL)
		tls_certstore_unref(c->store);
	mbedtls_free(c);
	return NULL;
}

int
tls_conn_start(struct tls_conn *c)
{
	conn_enter(c);
	conn_drive(c);
	return conn_leave(c);
}

int
tls_conn_feed(struct tls_conn *c, const uint8_t *data, size_t len)
{
	conn_enter(c);
	if (c->state == TLS_FAILED || c->state == TLS_CLOSED)
		return conn_leave(c);
	if (conn_check_first_byte(c, data, len) == 0) {
		c->in = data;
		c->in_len = len;
		conn_drive(c);
		/* Past close_notify or failure the rest is dropped. */
		c->in = NULL;
		c->in_len = 0;
	}
	return conn_leave(c);
}

void
tls_conn_eof(struct tls_conn *c)
{
	conn_enter(c);
	c->eof = 1;
	if (c->state == TLS_HANDSHAKE || c->state == TLS_OPEN ||
	    c->state == TLS_CLOSING)
		conn_drive(c);
	conn_leave(c);
}

int
tls_conn_write(struct tls_conn *c, const uint8_t *data, size_t len)
{
	size_t off = 0;
	int ret;

	conn_enter(c);
	if (c->state != TLS_OPEN) {
		log_event(LOG_ERROR, "tls.write_refused", "peer", c->peer_addr,
		    "state", tls_conn_state_str(c->state), NULL);
		conn_leave(c);
		return -1;
	}
	while (off < len && c->state == TLS_OPEN) {
		ret = mbedtls_ssl_write(&c->ssl, data + off, len - off);
		if (ret > 0) {
			off += (size_t)ret;
			c->records_out++;
		} else if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
			/* Read while writing (mbedTLS handles pending
			 * post-handshake messages first). */
			conn_session_save(c);
		} else if (ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
			conn_flush(c);
		} else {
			conn_fail_ret(c, ret);
			break;
		}
	}
	conn_flush(c);
	return conn_leave(c);
}

void
tls_conn_close(struct tls_conn *c)
{
	int ret;

	conn_enter(c);
	if (c->state == TLS_OPEN) {
		do {
			ret = mbedtls_ssl_close_notify(&c->ssl);
			if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
				conn_flush(c);
		} while (ret == MBEDTLS_ERR_SSL_WANT_WRITE);
		tls_conn_enter_state(c, TLS_CLOSING);
		conn_flush(c);
	} else if (c->state == TLS_HANDSHAKE) {
		tls_conn_enter_state(c, TLS_CLOSED);
	}
	conn_leave(c);
}

void
tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	if (c->busy > 0) {
		c->free_pending = 1;
		return;
	}
	mbedtls_ssl_free(&c->ssl);
	tls_conn_ticket_resume(c, NULL);
	tls_certstore_outbuf_put(c->store, c->out);
	tls_certstore_unref(c->store);
	mbedtls_free(c);
}

void
tls_conn_note_sni(struct tls_conn *c, const char *name)
{
	if (c != NULL)
		snprintf(c->sni, sizeof(c->sni), "%s", name);
}

enum tls_conn_state
tls_conn_state(const struct tls_conn *c)
{
	return c->state;
}

const char *
tls_conn_version(const struct tls_conn *c)
{
	return mbedtls_ssl_get_version(&c->ssl);
}

const char *
tls_conn_ciphersuite(const struct tls_conn *c)
{
	return mbedtls_ssl_get_ciphersuite(&c->ssl);
}

const char *
tls_conn_alpn(const struct tls_conn *c)
{
	return mbedtls_ssl_get_alpn_protocol(&c->ssl);
}

const char *
tls_conn_sni(const struct tls_conn *c)
{
	return c->sni;
}

int
tls_conn_handshake_held(const struct tls_conn *c)
{
	return c->ssl.MBEDTLS_PRIVATE(handshake) != NULL;
}

size_t
tls_conn_record_buffers(const struct tls_conn *c)
{
	const mbedtls_ssl_context *ssl = &c->ssl;

	return (ssl->MBEDTLS_PRIVATE(in_buf) != NULL ?
	    ssl->MBEDTLS_PRIVATE(in_buf_len) : 0) +
	    (ssl->MBEDTLS_PRIVATE(out_buf) != NULL ?
	    ssl->MBEDTLS_PRIVATE(out_buf_len) : 0);
}

uint64_t
tls_conn_records_out(const struct tls_conn *c)
{
	return c->records_out;
}

size_t
tls_conn_record_plaintext_max(const struct tls_conn *c)
{
	int n = mbedtls_ssl_get_max_out_record_payload(&c->ssl);

	return n > 0 ? (size_t)n : 0;
}

int
tls_conn_resumed(const struct tls_conn *c)
{
	return c->resumed;
}

int
tls_conn_ticket_identity(struct tls_conn *c, struct tls_ticket_identity *id)
{
	const mbedtls_x509_crt *peer, *crt;
	time_t t;

	if (c == NULL)
		return -1;
	memset(id, 0, sizeof(*id));
	if ((peer = mbedtls_ssl_get_peer_cert(&c->ssl)) != NULL) {
		id->flags = mbedtls_ssl_get_verify_result(&c->ssl);
		id->not_after = tls_x509_time_to_time(&peer->valid_to);
		for (crt = peer->next; crt != NULL; crt = crt->next) {
			t = tls_x509_time_to_time(&crt->valid_to);
			if (t < id->not_after)
				id->not_after = t;
		}
	} else if (conn_psk_resumed(c) && (peer = c->resumed_peer) != NULL) {
		/* A resumed session's new ticket: what the first had. */
		id->flags = c->resumed_flags;
		id->not_after = c->resumed_not_after;
	} else {
		return -1;
	}
	id->leaf = peer->raw.p;
	id->leaf_len = peer->raw.len;
	return 0;
}

int
tls_conn_ticket_resume(struct tls_conn *c, const struct tls_ticket_identity *id)
{
	if (c == NULL)
		return 0;
	if (c->resumed_peer != NULL) {
		mbedtls_x509_crt_free(c->resumed_peer);
		mbedtls_free(c->resumed_peer);
		c->resumed_peer = NULL;
	}
	if (id == NULL)
		return 0;
	if ((c->resumed_peer = mbedtls_calloc(1, sizeof(*c->resumed_peer))) == NULL)
		return -1;
	mbedtls_x509_crt_init(c->resumed_peer);
	if (mbedtls_x509_crt_parse_der(c->resumed_peer, id->leaf,
	    id->leaf_len) != 0) {
		tls_conn_ticket_resume(c, NULL);
		return -1;
	}
	c->resumed_flags = id->flags;
	c->resumed_not_after = id->not_after;
	return 0;
}

int
tls_conn_peer_cert_der(const struct tls_conn *c, size_t idx, const uint8_t **der, size_t *len)
{
	uint32_t flags;
	const mbedtls_x509_crt *crt = conn_peer(c, &flags);

	while (crt != NULL && idx > 0) {
		crt = crt->next;
		idx--;
	}
	if (crt == NULL || crt->raw.p == NULL)
		return -1;
	*der = crt->raw.p;
	*len = crt->raw.len;
	return 0;
}
