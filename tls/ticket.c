/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ticket.c - TLS session tickets that carry the peer's verified identity
 * (issue 18).
 *
 * A TLS 1.3 resumption (RFC 8446 §2.2) skips the Certificate and
 * CertificateVerify messages: the server learns nothing about the client
 * but that it holds the resumption secret.  mbedTLS 3.6 does not put the
 * peer certificate into a TLS 1.3 ticket, so a partner that resumed had no
 * certificate and SASL EXTERNAL (XEP-0178) could not be offered: every
 * reconnection paid a full handshake or fell back to dialback.
 *
 * A ticket here is mbedTLS's own ticket (mbedtls_ssl_ticket_write: the
 * session, AES-256-GCM under a key that rotates every lifetime) followed
 * by a second sealed part, the identity binding:
 *
 *   u16 inner_len | inner ticket | nonce[12] | GCM(binding) | tag[16]
 *
 *   binding = u8 version (1) | u8 kind (0: none, 1: certificate)
 *             | u64 trust fingerprint | u32 verification flags
 *             | u64 earliest notAfter of the chain presented
 *             | u16 leaf length | leaf certificate (DER)
 *
 * sealed under a key of the store's own (random, never leaves memory),
 * with the inner ticket as additional data: the two halves cannot be
 * mixed, and a changed byte anywhere makes the ticket unreadable, so the
 * client gets a full handshake.  The binding records what the full
 * handshake established (the chain's verification flags against this
 * store's trust anchors, and the certificate the names are checked
 * against); tls_conn.c restores it for the resumed connection, re-checks
 * the dates then, and checks the names against each domain asked for
 * exactly as for a presented certificate (tls_conn_verify_peer).
 *
 * Invalidation: the keys (ticket and binding) belong to a certificate
 * store.  With random keys (the default) a reload or `cert rotate` builds
 * a new store with new keys, so every older ticket is refused.  With keys
 * derived from a secret (tls.ticket_key_file: tickets survive a restart,
 * so a reconnect storm after an upgrade resumes), the binding's trust
 * fingerprint does it: a hash of the store's trust anchors, certificates
 * and pins (certstore.c); a ticket from a store that differs in any of
 * them is refused.  Keys rotate every lifetime (tls.ticket_rotate_s);
 * a ticket lives at most one lifetime and its key two.
 *
 * Derived keys: K = HKDF-Extract("xmpp-edge session tickets", secret);
 * the ticket key of epoch E (E = now / lifetime, the same in every
 * process) is HKDF-Expand(K, "ticket" | E), 4 bytes of name and 32 of
 * key; the binding key HKDF-Expand(K, "binding").  A restarted process
 * derives the current and the previous epoch's keys, as the running one
 * held them.
 *
 * Which connection: mbedTLS calls the ticket callbacks with the store
 * (p_ticket), not the connection.  tls_conn marks itself the store's
 * active connection while mbedTLS runs for it (tls_certstore_active_swap),
 * which on the single loop thread is the connection whose handshake calls
 * us.
 */
#include "tls_int.h"

#include <string.h>
#include <time.h>

#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>

#define BINDING_VERSION 1
#define BINDING_KIND_NONE 0
#define BINDING_KIND_CERT 1
#define BINDING_NONCE_LEN 12
#define BINDING_TAG_LEN 16
#define BINDING_HEAD_LEN (1 + 1 + 8 + 4 + 8 + 2)

static void
put_u16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put_u64(uint8_t *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* HKDF-Expand(K, label [| epoch]) into out. */
static int
derive(const struct tls_tickets *t, const char *label, const uint64_t *epoch,
    uint8_t *out, size_t len)
{
	uint8_t info[16 + 8];
	size_t n = strlen(label);

	memcpy(info, label, n);
	if (epoch != NULL) {
		put_u64(info + n, *epoch);
		n += 8;
	}
	return mbedtls_hkdf_expand(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
	    t->secret, sizeof(t->secret), info, n, out, len);
}

/* Makes the derived key of epoch the active one (the previous active one
 * still decrypts, mbedTLS keeps two). */
static int
tickets_use_epoch(struct tls_tickets *t, uint64_t epoch)
{
	uint8_t nk[4 + 32];
	int ret;

	if ((ret = derive(t, "ticket", &epoch, nk, sizeof(nk))) == 0)
		ret = mbedtls_ssl_ticket_rotate(&t->inner, nk, 4, nk + 4, 32,
		    t->lifetime_s);
	mbedtls_platform_zeroize(nk, sizeof(nk));
	if (ret == 0)
		t->epoch = epoch;
	return ret;
}

/* Derived keys: moves on when the clock enters the next epoch, before
 * mbedTLS would replace an expired key by a random one of its own. */
static int
tickets_follow_clock(struct tls_tickets *t)
{
	uint64_t now = (uint64_t)time(NULL) / t->lifetime_s;

	if (!t->derived || now == t->epoch)
		return 0;
	return tickets_use_epoch(t, now);
}

int
tls_tickets_init(struct tls_tickets *t, struct tls_rng *rng, uint32_t lifetime_s,
    uint64_t trust, const uint8_t *secret, size_t secret_len)
{
	static const unsigned char salt[] = "xmpp-edge session tickets";
	uint8_t key[32];
	uint64_t epoch;
	int ret;

	memset(t, 0, sizeof(*t));
	mbedtls_ssl_ticket_init(&t->inner);
	mbedtls_gcm_init(&t->binding);
	t->rng = rng;
	t->trust = trust;
	t->lifetime_s = lifetime_s ? lifetime_s : 1;
	ret = mbedtls_ssl_ticket_setup(&t->inner, mbedtls_ctr_drbg_random,
	    &rng->drbg, MBEDTLS_CIPHER_AES_256_GCM, t->lifetime_s);
	if (ret != 0)
		return ret;
	if (secret == NULL) {
		ret = mbedtls_ctr_drbg_random(&rng->drbg, key, sizeof(key));
	} else {
		if ((ret = mbedtls_hkdf_extract(mbedtls_md_info_from_type(
		    MBEDTLS_MD_SHA256), salt, sizeof(salt) - 1, secret, secret_len,
		    t->secret)) != 0)
			goto out;
		t->derived = 1;
		epoch = (uint64_t)time(NULL) / t->lifetime_s;
		if ((ret = tickets_use_epoch(t, epoch - 1)) != 0 ||
		    (ret = tickets_use_epoch(t, epoch)) != 0 ||
		    (ret = derive(t, "binding", NULL, key, sizeof(key))) != 0)
			goto out;
	}
	if (ret == 0)
		ret = mbedtls_gcm_setkey(&t->binding, MBEDTLS_CIPHER_ID_AES, key,
		    8 * sizeof(key));
out:
	mbedtls_platform_zeroize(key, sizeof(key));
	return ret;
}

void
tls_tickets_free(struct tls_tickets *t)
{
	mbedtls_platform_zeroize(t->secret, sizeof(t->secret));
	mbedtls_ssl_ticket_free(&t->inner);
	mbedtls_gcm_free(&t->binding);
}

/* The binding of the connection being handshaken, into p (at least
 * BINDING_HEAD_LEN + TLS_TICKET_LEAF_MAX bytes); its length. */
static size_t
binding_build(struct tls_tickets *t, const mbedtls_ssl_session *session,
    uint8_t *p)
{
	struct tls_ticket_identity id;
	size_t n = BINDING_HEAD_LEN;

	memset(p, 0, BINDING_HEAD_LEN);
	p[0] = BINDING_VERSION;
	p[1] = BINDING_KIND_NONE;
	put_u64(p + 2, t->trust);
	/* TLS 1.2 tickets carry the peer certificate in the session itself
	 * (MBEDTLS_SSL_KEEP_PEER_CERTIFICATE): nothing to add. */
	if (session->MBEDTLS_PRIVATE(tls_version) != MBEDTLS_SSL_VERSION_TLS1_3 ||
	    tls_conn_ticket_identity(t->active, &id) != 0 ||
	    id.leaf_len > TLS_TICKET_LEAF_MAX)
		return n;
	p[1] = BINDING_KIND_CERT;
	p[10] = (uint8_t)(id.flags >> 24);
	p[11] = (uint8_t)(id.flags >> 16);
	p[12] = (uint8_t)(id.flags >> 8);
	p[13] = (uint8_t)id.flags;
	put_u64(p + 14, (uint64_t)id.not_after);
	put_u16(p + 22, id.leaf_len);
	memcpy(p + n, id.leaf, id.leaf_len);
	return n + id.leaf_len;
}

int
tls_ticket_write(void *p_ticket, const mbedtls_ssl_session *session,
    unsigned char *start, const unsigned char *end, size_t *tlen,
    uint32_t *lifetime)
{
	struct tls_tickets *t = p_ticket;
	uint8_t plain[BINDING_HEAD_LEN + TLS_TICKET_LEAF_MAX];
	uint8_t *nonce;
	size_t inner_len, blen;
	int ret;

	if (end - start < 2)
		return MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
	if ((ret = tickets_follow_clock(t)) != 0)
		return ret;
	ret = mbedtls_ssl_ticket_write(&t->inner, session, start + 2, end,
	    &inner_len, lifetime);
	if (ret != 0)
		return ret;
	put_u16(start, inner_len);
	blen = binding_build(t, session, plain);
	nonce = start + 2 + inner_len;
	if ((size_t)(end - nonce) < BINDING_NONCE_LEN + blen + BINDING_TAG_LEN) {
		ret = MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL;
		goto out;
	}
	if ((ret = mbedtls_ctr_drbg_random(&t->rng->drbg, nonce,
	    BINDING_NONCE_LEN)) != 0)
		goto out;
	ret = mbedtls_gcm_crypt_and_tag(&t->binding, MBEDTLS_GCM_ENCRYPT, blen,
	    nonce, BINDING_NONCE_LEN, start, 2 + inner_len, plain,
	    nonce + BINDING_NONCE_LEN, BINDING_TAG_LEN,
	    nonce + BINDING_NONCE_LEN + blen);
	if (ret == 0)
		*tlen = 2 + inner_len + BINDING_NONCE_LEN + blen + BINDING_TAG_LEN;
out:
	mbedtls_platform_zeroize(plain, blen);
	return ret;
}

/* Malformed cannot happen for our own tickets (the tag covers them);
 * checked all the same, and fuzzed (tests/fuzz/fuzz_tls_ticket.c). */
int
tls_ticket_binding_parse(const uint8_t *p, size_t len, uint64_t trust,
    struct tls_ticket_identity *out, int *has_identity)
{
	struct tls_ticket_identity id;

	*has_identity = 0;
	if (len < BINDING_HEAD_LEN || p[0] != BINDING_VERSION ||
	    get_u64(p + 2) != trust)
		return -1;
	if (p[1] == BINDING_KIND_NONE)
		return len == BINDING_HEAD_LEN ? 0 : -1;
	if (p[1] != BINDING_KIND_CERT)
		return -1;
	memset(&id, 0, sizeof(id));
	id.flags = (uint32_t)p[10] << 24 | (uint32_t)p[11] << 16 |
	    (uint32_t)p[12] << 8 | p[13];
	id.not_after = (time_t)get_u64(p + 14);
	id.leaf_len = (size_t)p[22] << 8 | p[23];
	if (id.leaf_len == 0 || id.leaf_len != len - BINDING_HEAD_LEN)
		return -1;
	id.leaf = p + BINDING_HEAD_LEN;
	*out = id;
	*has_identity = 1;
	return 0;
}

/* A binding that decrypted: its identity for the active connection. */
static int
binding_apply(struct tls_tickets *t, const uint8_t *p, size_t len)
{
	struct tls_ticket_identity id;
	int has;

	if (tls_ticket_binding_parse(p, len, t->trust, &id, &has) != 0)
		return -1;
	return has ? tls_conn_ticket_resume(t->active, &id) : 0;
}

int
tls_ticket_parse(void *p_ticket, mbedtls_ssl_session *session,
    unsigned char *buf, size_t len)
{
	struct tls_tickets *t = p_ticket;
	uint8_t plain[BINDING_HEAD_LEN + TLS_TICKET_LEAF_MAX];
	const uint8_t *nonce;
	size_t inner_len, blen;
	int ret;

	if (len < 2)
		return MBEDTLS_ERR_SSL_INVALID_MAC;
	inner_len = (size_t)buf[0] << 8 | buf[1];
	if (len - 2 < inner_len + BINDING_NONCE_LEN + BINDING_TAG_LEN)
		return MBEDTLS_ERR_SSL_INVALID_MAC;
	nonce = buf + 2 + inner_len;
	blen = len - 2 - inner_len - BINDING_NONCE_LEN - BINDING_TAG_LEN;
	if (blen > sizeof(plain))
		return MBEDTLS_ERR_SSL_INVALID_MAC;
	if (tickets_follow_clock(t) != 0)
		return MBEDTLS_ERR_SSL_INVALID_MAC;
	/* The binding first: its additional data is the inner ticket as
	 * sent, which mbedtls_ssl_ticket_parse decrypts in place. */
	ret = mbedtls_gcm_auth_decrypt(&t->binding, blen, nonce,
	    BINDING_NONCE_LEN, buf, 2 + inner_len, nonce + BINDING_NONCE_LEN + blen,
	    BINDING_TAG_LEN, nonce + BINDING_NONCE_LEN, plain);
	if (ret != 0) {
		ret = MBEDTLS_ERR_SSL_INVALID_MAC;
		goto out;
	}
	ret = mbedtls_ssl_ticket_parse(&t->inner, session, buf + 2, inner_len);
	if (ret != 0)
		goto out;
	/* The active connection forgets any earlier candidate first: of
	 * several tickets offered, mbedTLS stops at the first one that
	 * parses and is usable, so the one parsed last is the one a
	 * resumption uses (tls_conn.c ignores the candidate when the
	 * handshake ends up a full one). */
	tls_conn_ticket_resume(t->active, NULL);
	if (binding_apply(t, plain, blen) != 0)
		ret = MBEDTLS_ERR_SSL_INVALID_MAC;
out:
	mbedtls_platform_zeroize(plain, sizeof(plain));
	return ret;
}

/* A random key now (an operator's or a test's request); derived keys
 * take over again at the next epoch. */
int
tls_tickets_rotate(struct tls_tickets *t, uint32_t lifetime_s)
{
	unsigned char name[4], key[32];
	int ret;

	if ((ret = mbedtls_ctr_drbg_random(&t->rng->drbg, name,
	    sizeof(name))) == 0 &&
	    (ret = mbedtls_ctr_drbg_random(&t->rng->drbg, key, sizeof(key))) == 0)
		ret = mbedtls_ssl_ticket_rotate(&t->inner, name, sizeof(name), key,
		    sizeof(key), lifetime_s);
	mbedtls_platform_zeroize(key, sizeof(key));
	return ret;
}
