/* SPDX-License-Identifier: Apache-2.0 */
/*
 * session_cache.c - the client side of session resumption: TLS 1.3
 * tickets received on outgoing streams, kept per (peer domain, local
 * domain, STARTTLS or Direct TLS) so that the next stream to the same
 * partner resumes instead of paying a full handshake (issue 18).
 *
 * Each certificate store owns one cache (certstore.c), so a reload or
 * `cert rotate` forgets every session: a ticket obtained under old trust
 * anchors or with an old certificate of ours is never offered again.  An
 * entry is taken out when used (RFC 8446 §C.4: a client should not offer
 * one ticket twice); the server's next ticket on the resumed connection
 * puts a fresh one back.  The saved session keeps the server's leaf and
 * mbedTLS's verification flags of the full handshake (mbedtls_ssl_session
 * with MBEDTLS_SSL_KEEP_PEER_CERTIFICATE), which mbedTLS leaves in place
 * on a resumption: tls_conn_verify_peer checks the names and dates again
 * on every use.  Bounded: the least recently stored entry gives way.
 */
#include "tls_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ssl.h>

struct tls_session_slot {
	char key[2 * (TLS_DOMAIN_MAX + 1) + 4];
	mbedtls_ssl_session session;
	uint64_t stored;		/* cache clock when stored; 0: free */
};

static void
slot_clear(struct tls_session_slot *slot)
{
	if (slot->stored != 0)
		mbedtls_ssl_session_free(&slot->session);
	slot->stored = 0;
	slot->key[0] = '\0';
}

void
tls_session_cache_free(struct tls_session_cache *cache)
{
	size_t i;

	if (cache->slots != NULL)
		for (i = 0; i < TLS_SESSION_CACHE_SLOTS; i++)
			slot_clear(&cache->slots[i]);
	free(cache->slots);
	cache->slots = NULL;
}

/* "d|local|peer": one partner can be reached both ways and as several
 * of our domains, each with its own certificate. */
static int
cache_key(char *buf, size_t len, const char *peer, const char *local, int direct)
{
	int n = snprintf(buf, len, "%d|%s|%s", direct ? 1 : 0, local ? local : "",
	    peer);

	return n > 0 && (size_t)n < len ? 0 : -1;
}

static struct tls_session_slot *
cache_find(struct tls_session_cache *cache, const char *key)
{
	size_t i;

	if (cache->slots == NULL)
		return NULL;
	for (i = 0; i < TLS_SESSION_CACHE_SLOTS; i++)
		if (cache->slots[i].stored != 0 &&
		    strcmp(cache->slots[i].key, key) == 0)
			return &cache->slots[i];
	return NULL;
}

int
tls_session_cache_take(struct tls_session_cache *cache, mbedtls_ssl_context *ssl,
    const char *peer, const char *local, int direct)
{
	struct tls_session_slot *slot;
	char key[sizeof(slot->key)];
	int ret;

	if (cache_key(key, sizeof(key), peer, local, direct) != 0 ||
	    (slot = cache_find(cache, key)) == NULL)
		return -1;
	ret = mbedtls_ssl_set_session(ssl, &slot->session);
	slot_clear(slot);
	return ret == 0 ? 0 : -1;
}

mbedtls_ssl_session *
tls_session_cache_peek(struct tls_session_cache *cache, const char *peer,
    const char *local, int direct)
{
	struct tls_session_slot *slot;
	char key[sizeof(slot->key)];

	if (cache_key(key, sizeof(key), peer, local, direct) != 0 ||
	    (slot = cache_find(cache, key)) == NULL)
		return NULL;
	return &slot->session;
}

void
tls_session_cache_put(struct tls_session_cache *cache, const mbedtls_ssl_context *ssl,
    const char *peer, const char *local, int direct)
{
	struct tls_session_slot *slot, *oldest = NULL;
	char key[sizeof(slot->key)];
	size_t i;

	if (cache_key(key, sizeof(key), peer, local, direct) != 0)
		return;
	if (cache->slots == NULL &&
	    (cache->slots = calloc(TLS_SESSION_CACHE_SLOTS, sizeof(*cache->slots))) == NULL)
		return;
	if ((slot = cache_find(cache, key)) == NULL) {
		for (i = 0; i < TLS_SESSION_CACHE_SLOTS; i++) {
			slot = &cache->slots[i];
			if (slot->stored == 0)
				break;
			if (oldest == NULL || slot->stored < oldest->stored)
				oldest = slot;
			slot = NULL;
		}
		if (slot == NULL)
			slot = oldest;
	}
	slot_clear(slot);
	mbedtls_ssl_session_init(&slot->session);
	if (mbedtls_ssl_get_session(ssl, &slot->session) != 0) {
		mbedtls_ssl_session_free(&slot->session);
		return;
	}
	snprintf(slot->key, sizeof(slot->key), "%s", key);
	slot->stored = ++cache->clock;
}
