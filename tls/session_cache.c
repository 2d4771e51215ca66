/* SPDX-License-Identifier: Apache-2.0 */
/*
 * session_cache.c - the client side of session resumption: TLS 1.3
 * tickets received on outgoing streams, kept per (peer domain, local
 * domain, STARTTLS or Direct TLS) so that the next stream to the same
 * partner resumes instead of paying a full handshake (issue 18), and
 * kept across a restart or upgrade in a file of the state directory.
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
 * on every use.  Bounded (tls.outgoing_sessions_max): the least recently
 * stored entry gives way.  A hash over the key finds an entry, a list in
 * storing order finds the one to give way: both O(1), as a reconnect
 * storm stores thousands.
 *
 * The file (tls_session_cache_save / _load; the daemon writes it on
 * shutdown and before an upgrade's new process starts, and reads it at
 * start).  mbedTLS's session serialisation of TLS 1.3 carries neither
 * the peer's certificate nor the verification flags, so each entry adds
 * them; the file as a whole says which configuration it was made under
 * (the store's trust fingerprint: trust anchors, our certificates, the
 * gateway pins, ticket.c) and a load under another drops every entry, as
 * a reload does in memory.  Layout, integers big-endian:
 *
 *   magic "XESESS01" (8)   trust fingerprint (8)   written at, s since
 *   1970 (8)   entry count (4)
 *   per entry: key length (2), key ("d|local|peer"), expires at (8, s
 *     since 1970: when the ticket's lifetime ends), received at (8),
 *     verification flags (4), leaf length (2), leaf DER, session length
 *     (2), mbedtls_ssl_session_save output
 *   SHA-256 of everything before (32)
 *
 * The checksum finds a truncated or corrupt file; every length is
 * checked against its bound and the bytes left before it is used; any
 * fault refuses the whole file (one precise reason, the daemon logs it),
 * never a part of it.  The file holds resumption secrets and the
 * identities the edge will believe on resumption, so it is written 0600
 * and read only if it is a regular file of ours that no one else may
 * write or read: whoever could write it could also read the private keys
 * the state directory holds.  mbedTLS counts a ticket's age on the boot
 * clock (mbedtls_ms_time, CLOCK_BOOTTIME); the file holds wall-clock
 * times, converted back on load, so a reboot between save and load keeps
 * the age right.
 */
#include "tls_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/platform.h>
#include <mbedtls/platform_time.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#define SESSION_KEY_MAX (2 * (TLS_DOMAIN_MAX + 1) + 4)
#define SESSION_FILE_MAGIC "XESESS01"
#define SESSION_FILE_HEADER (8 + 8 + 8 + 4)
#define SESSION_FILE_DIGEST 32
/* Fixed part of an entry: the length fields, times and flags. */
#define SESSION_ENTRY_FIXED (2 + 8 + 8 + 4 + 2 + 2)
#define NIL 0u				/* slot links are index + 1 */

struct tls_session_slot {
	char key[SESSION_KEY_MAX];
	mbedtls_ssl_session session;
	int used;
	uint32_t hash;
	uint32_t next_in_bucket;	/* or the next free slot */
	uint32_t newer, older;		/* storing order */
};

static uint32_t
key_hash(const char *key)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	while (*key != '\0')
		h = (h ^ (uint8_t)*key++) * 16777619u;
	return h;
}

static void
slot_free_session(struct tls_session_slot *slot)
{
	mbedtls_ssl_session_free(&slot->session);
	slot->used = 0;
	slot->key[0] = '\0';
}

void
tls_session_cache_free(struct tls_session_cache *cache)
{
	size_t i;

	if (cache->slots != NULL)
		for (i = 0; i < cache->untouched; i++)	/* the rest never held one */
			if (cache->slots[i].used)
				slot_free_session(&cache->slots[i]);
	free(cache->slots);
	free(cache->buckets);
	cache->slots = NULL;
	cache->buckets = NULL;
	cache->used = 0;
	cache->newest = cache->oldest = cache->free_head = NIL;
	cache->untouched = 0;
}

void
tls_session_cache_init(struct tls_session_cache *cache, size_t cap)
{
	memset(cache, 0, sizeof(*cache));
	if (cap < TLS_SESSION_CACHE_MIN)
		cap = TLS_SESSION_CACHE_MIN;
	if (cap > TLS_SESSION_CACHE_MAX)
		cap = TLS_SESSION_CACHE_MAX;
	cache->cap = cap;
}

size_t
tls_session_cache_count(const struct tls_session_cache *cache)
{
	return cache->used;
}

/* The arrays on first use: a store that never dials out costs nothing. */
static int
cache_alloc(struct tls_session_cache *cache)
{
	if (cache->slots != NULL)
		return 0;
	if (cache->cap == 0)
		tls_session_cache_init(cache, TLS_SESSION_CACHE_DEFAULT);
	for (cache->nbuckets = 1; cache->nbuckets < 2 * cache->cap; cache->nbuckets <<= 1)
		;
	cache->slots = calloc(cache->cap, sizeof(*cache->slots));
	cache->buckets = calloc(cache->nbuckets, sizeof(*cache->buckets));
	if (cache->slots == NULL || cache->buckets == NULL) {
		free(cache->slots);
		free(cache->buckets);
		cache->slots = NULL;
		cache->buckets = NULL;
		return -1;
	}
	/* No free list built here: linking every slot would write to all
	 * of them, making the whole array resident (cap * ~800 bytes: 3.3 MB
	 * at the default) before the first partner is dialled.  Slots are
	 * handed out in order (cache->untouched) until each has been used
	 * once; only given-back ones go through the free list. */
	cache->free_head = NIL;
	cache->untouched = 0;
	return 0;
}

#define SLOT(cache, link) (&(cache)->slots[(link) - 1])

/* Takes slot (in use) out of its bucket and the storing order, frees its
 * session and puts it on the free list. */
static void
cache_remove(struct tls_session_cache *cache, struct tls_session_slot *slot)
{
	uint32_t link = (uint32_t)(slot - cache->slots) + 1;
	uint32_t *at = &cache->buckets[slot->hash & (cache->nbuckets - 1)];

	while (*at != NIL && *at != link)
		at = &SLOT(cache, *at)->next_in_bucket;
	if (*at == link)
		*at = slot->next_in_bucket;
	if (slot->newer != NIL)
		SLOT(cache, slot->newer)->older = slot->older;
	else
		cache->newest = slot->older;
	if (slot->older != NIL)
		SLOT(cache, slot->older)->newer = slot->newer;
	else
		cache->oldest = slot->newer;
	slot_free_session(slot);
	slot->newer = slot->older = NIL;
	slot->next_in_bucket = cache->free_head;
	cache->free_head = link;
	cache->used--;
}

/* A free slot, the oldest entry giving way when full; in the bucket of
 * key and at the newest (or, as_oldest, the oldest) end of the order. */
static struct tls_session_slot *
cache_insert(struct tls_session_cache *cache, const char *key, int as_oldest)
{
	struct tls_session_slot *slot;
	uint32_t link, *bucket;

	if (cache->free_head == NIL && cache->untouched < cache->cap) {
		link = (uint32_t)++cache->untouched;
		slot = SLOT(cache, link);
	} else {
		if (cache->free_head == NIL) {
			if (as_oldest)
				return NULL;	/* a load past the bound: dropped */
			cache_remove(cache, SLOT(cache, cache->oldest));
		}
		link = cache->free_head;
		slot = SLOT(cache, link);
		cache->free_head = slot->next_in_bucket;
	}
	snprintf(slot->key, sizeof(slot->key), "%s", key);
	slot->hash = key_hash(key);
	bucket = &cache->buckets[slot->hash & (cache->nbuckets - 1)];
	slot->next_in_bucket = *bucket;
	*bucket = link;
	if (as_oldest) {
		slot->newer = cache->oldest;
		slot->older = NIL;
		if (cache->oldest != NIL)
			SLOT(cache, cache->oldest)->older = link;
		else
			cache->newest = link;
		cache->oldest = link;
	} else {
		slot->older = cache->newest;
		slot->newer = NIL;
		if (cache->newest != NIL)
			SLOT(cache, cache->newest)->newer = link;
		else
			cache->oldest = link;
		cache->newest = link;
	}
	slot->used = 1;
	mbedtls_ssl_session_init(&slot->session);
	cache->used++;
	return slot;
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
	uint32_t h, link;
	struct tls_session_slot *slot;

	if (cache->slots == NULL)
		return NULL;
	h = key_hash(key);
	for (link = cache->buckets[h & (cache->nbuckets - 1)]; link != NIL;
	    link = slot->next_in_bucket) {
		slot = SLOT(cache, link);
		if (slot->hash == h && strcmp(slot->key, key) == 0)
			return slot;
	}
	return NULL;
}

int
tls_session_cache_take(struct tls_session_cache *cache, mbedtls_ssl_context *ssl,
    const char *peer, const char *local, int direct, uint32_t *flags)
{
	struct tls_session_slot *slot;
	char key[SESSION_KEY_MAX];
	int ret;

	if (cache_key(key, sizeof(key), peer, local, direct) != 0 ||
	    (slot = cache_find(cache, key)) == NULL)
		return -1;
	*flags = slot->session.MBEDTLS_PRIVATE(verify_result);
	ret = mbedtls_ssl_set_session(ssl, &slot->session);
	cache_remove(cache, slot);
	return ret == 0 ? 0 : -1;
}

mbedtls_ssl_session *
tls_session_cache_peek(struct tls_session_cache *cache, const char *peer,
    const char *local, int direct)
{
	struct tls_session_slot *slot;
	char key[SESSION_KEY_MAX];

	if (cache_key(key, sizeof(key), peer, local, direct) != 0 ||
	    (slot = cache_find(cache, key)) == NULL)
		return NULL;
	return &slot->session;
}

void
tls_session_cache_put(struct tls_session_cache *cache, const mbedtls_ssl_context *ssl,
    const char *peer, const char *local, int direct, uint32_t flags)
{
	struct tls_session_slot *slot;
	char key[SESSION_KEY_MAX];

	if (cache_key(key, sizeof(key), peer, local, direct) != 0 ||
	    cache_alloc(cache) != 0)
		return;
	/* A second ticket of the same connection replaces the first and
	 * becomes the newest. */
	if ((slot = cache_find(cache, key)) != NULL)
		cache_remove(cache, slot);
	if ((slot = cache_insert(cache, key, 0)) == NULL)
		return;
	if (mbedtls_ssl_get_session(ssl, &slot->session) != 0) {
		cache_remove(cache, slot);
		return;
	}
	/* mbedTLS says 0 after a resumption ("no certificate used"): the
	 * caller's flags are those of the full handshake. */
	slot->session.MBEDTLS_PRIVATE(verify_result) = flags;
}

/* --- the file ------------------------------------------------------------ */

static uint8_t *
put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return p + 4;
}

static uint8_t *
put_u64(uint8_t *p, uint64_t v)
{
	p = put_u32(p, (uint32_t)(v >> 32));
	return put_u32(p, (uint32_t)v);
}

/* A reading cursor with a sticky error (OpenSMTPD's m_get_*): a field
 * past the end marks it failed and reads as zero. */
struct rd {
	const uint8_t *p, *end;
	int failed;
};

static const uint8_t *
rd_take(struct rd *r, size_t n)
{
	const uint8_t *at = r->p;

	if (r->failed || (size_t)(r->end - r->p) < n) {
		r->failed = 1;
		return NULL;
	}
	r->p += n;
	return at;
}

static uint64_t
rd_uint(struct rd *r, size_t n)
{
	const uint8_t *p = rd_take(r, n);
	uint64_t v = 0;
	size_t i;

	for (i = 0; p != NULL && i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Wall-clock seconds of a boot-clock millisecond instant (mbedTLS's). */
static time_t
boot_ms_to_wall(mbedtls_ms_time_t at, time_t now, mbedtls_ms_time_t now_ms)
{
	return now - (time_t)((now_ms - at) / 1000);
}

/* One entry's bytes at p (NULL: only its length), or 0 when the session
 * is not one to keep across a restart (no leaf, a leaf past the bound, a
 * ticket already past its lifetime). */
static size_t
entry_write(const struct tls_session_slot *slot, uint8_t *p, time_t now,
    mbedtls_ms_time_t now_ms)
{
	const mbedtls_ssl_session *s = &slot->session;
	const mbedtls_x509_crt *leaf = s->MBEDTLS_PRIVATE(peer_cert);
	size_t keylen = strlen(slot->key), slen = 0, total;
	time_t received, expires;

	if (s->MBEDTLS_PRIVATE(tls_version) != MBEDTLS_SSL_VERSION_TLS1_3 ||
	    leaf == NULL || leaf->raw.len == 0 || leaf->raw.len > TLS_TICKET_LEAF_MAX)
		return 0;
	received = boot_ms_to_wall(s->MBEDTLS_PRIVATE(ticket_reception_time), now, now_ms);
	expires = received + (time_t)s->MBEDTLS_PRIVATE(ticket_lifetime);
	if (expires <= now)
		return 0;
	if (mbedtls_ssl_session_save(s, NULL, 0, &slen) != MBEDTLS_ERR_SSL_BUFFER_TOO_SMALL ||
	    slen == 0 || slen > TLS_SESSION_BLOB_MAX)
		return 0;
	total = SESSION_ENTRY_FIXED + keylen + leaf->raw.len + slen;
	if (p == NULL)
		return total;
	p = put_u16(p, (uint16_t)keylen);
	memcpy(p, slot->key, keylen);
	p += keylen;
	p = put_u64(p, (uint64_t)expires);
	p = put_u64(p, (uint64_t)received);
	p = put_u32(p, s->MBEDTLS_PRIVATE(verify_result));
	p = put_u16(p, (uint16_t)leaf->raw.len);
	memcpy(p, leaf->raw.p, leaf->raw.len);
	p += leaf->raw.len;
	p = put_u16(p, (uint16_t)slen);
	if (mbedtls_ssl_session_save(s, p, slen, &slen) != 0)
		return 0;
	return total;
}

int
tls_session_cache_serialize(const struct tls_session_cache *cache, uint64_t trust,
    time_t now, uint8_t **out, size_t *outlen, size_t *count)
{
	mbedtls_ms_time_t now_ms = mbedtls_ms_time();
	size_t len = SESSION_FILE_HEADER, n = 0, one;
	uint32_t link;
	uint8_t *buf, *p;

	*out = NULL;
	*outlen = 0;
	*count = 0;
	/* Newest first: when the size bound cuts, the oldest give way. */
	for (link = cache->slots != NULL ? cache->newest : NIL; link != NIL;
	    link = SLOT(cache, link)->older) {
		one = entry_write(SLOT(cache, link), NULL, now, now_ms);
		if (one == 0)
			continue;
		if (len + one + SESSION_FILE_DIGEST > TLS_SESSION_FILE_MAX)
			break;
		len += one;
	}
	len += SESSION_FILE_DIGEST;
	if ((buf = malloc(len)) == NULL)
		return -1;
	memcpy(buf, SESSION_FILE_MAGIC, 8);
	p = put_u64(buf + 8, trust);
	p = put_u64(p, (uint64_t)now);
	p += 4;				/* the count, once known */
	for (link = cache->slots != NULL ? cache->newest : NIL; link != NIL;
	    link = SLOT(cache, link)->older) {
		one = entry_write(SLOT(cache, link), NULL, now, now_ms);
		if (one == 0)
			continue;
		if ((size_t)(p - buf) + one + SESSION_FILE_DIGEST > len)
			break;
		if (entry_write(SLOT(cache, link), p, now, now_ms) != one) {
			mbedtls_platform_zeroize(buf, len);
			free(buf);
			return -1;
		}
		p += one;
		n++;
	}
	put_u32(buf + 24, (uint32_t)n);
	len = (size_t)(p - buf) + SESSION_FILE_DIGEST;
	if (mbedtls_sha256(buf, (size_t)(p - buf), p, 0) != 0) {
		mbedtls_platform_zeroize(buf, len);
		free(buf);
		return -1;
	}
	*out = buf;
	*outlen = len;
	*count = n;
	return 0;
}

/* A key as cache_key makes it: "0|" or "1|", a local part without '|'
 * (a domain or "-" or empty), '|', a peer domain; printable ASCII. */
static int
key_valid(const uint8_t *p, size_t len)
{
	size_t i, bars = 0;

	if (len < 4 || len >= SESSION_KEY_MAX || (p[0] != '0' && p[0] != '1') || p[1] != '|')
		return 0;
	for (i = 0; i < len; i++) {
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			return 0;
		if (p[i] == '|')
			bars++;
	}
	return bars == 2 && p[len - 1] != '|';
}

/* Restores one entry into slot's fresh session: mbedTLS's part, then the
 * leaf and flags of the full handshake.  0, or -1 with why. */
static int
entry_restore(mbedtls_ssl_session *s, const char *key, const uint8_t *leaf, size_t leaf_len,
    uint32_t flags, const uint8_t *blob, size_t blob_len, time_t received,
    time_t now, mbedtls_ms_time_t now_ms, const char **why)
{
	const char *peer = strrchr(key, '|') + 1;	/* key_valid: two '|' */
	mbedtls_x509_crt *crt;
	size_t peer_len = strlen(peer);
	int ret;

	ret = mbedtls_ssl_session_load(s, blob, blob_len);
	if (ret == MBEDTLS_ERR_SSL_VERSION_MISMATCH) {
		*why = "session written by another mbedTLS version or configuration";
		return -1;
	}
	if (ret != 0) {
		*why = "malformed session";
		return -1;
	}
	if (s->MBEDTLS_PRIVATE(endpoint) != MBEDTLS_SSL_IS_CLIENT ||
	    s->MBEDTLS_PRIVATE(tls_version) != MBEDTLS_SSL_VERSION_TLS1_3 ||
	    s->MBEDTLS_PRIVATE(ticket) == NULL || s->MBEDTLS_PRIVATE(ticket_len) == 0 ||
	    s->MBEDTLS_PRIVATE(peer_cert) != NULL) {
		*why = "not a TLS 1.3 client session with a ticket";
		return -1;
	}
	/* The server name the ticket was got for: mbedTLS copies the
	 * file's bytes without a terminating NUL being required, and later
	 * reads it with strlen (fuzz_tls_sessions found the overread).  It is
	 * the key's peer domain, the name tls_conn sets as SNI and mbedTLS
	 * compares before offering the ticket: replaced by that, never read. */
	mbedtls_free(s->MBEDTLS_PRIVATE(hostname));
	if ((s->MBEDTLS_PRIVATE(hostname) = mbedtls_calloc(1, peer_len + 1)) == NULL) {
		*why = "out of memory";
		return -1;
	}
	memcpy(s->MBEDTLS_PRIVATE(hostname), peer, peer_len);
	if ((crt = mbedtls_calloc(1, sizeof(*crt))) == NULL) {
		*why = "out of memory";
		return -1;
	}
	mbedtls_x509_crt_init(crt);
	if (mbedtls_x509_crt_parse_der(crt, leaf, leaf_len) != 0) {
		mbedtls_x509_crt_free(crt);
		mbedtls_free(crt);
		*why = "malformed certificate";
		return -1;
	}
	s->MBEDTLS_PRIVATE(peer_cert) = crt;
	s->MBEDTLS_PRIVATE(verify_result) = flags;
	/* The ticket's age on this boot's clock. */
	s->MBEDTLS_PRIVATE(ticket_reception_time) = now_ms -
	    (mbedtls_ms_time_t)(now - received) * 1000;
	return 0;
}

int
tls_session_cache_parse(struct tls_session_cache *cache, const uint8_t *buf,
    size_t len, uint64_t trust, time_t now, struct tls_session_load_stats *st,
    char *err, size_t errlen)
{
	mbedtls_ms_time_t now_ms = mbedtls_ms_time();
	struct tls_session_cache fresh;
	uint8_t digest[SESSION_FILE_DIGEST];
	const uint8_t *key, *leaf, *blob;
	size_t keylen, leaf_len, blob_len, i, count;
	time_t received, expires;
	uint32_t flags;
	struct tls_session_slot *slot;
	struct rd r;
	const char *why;
	char keybuf[SESSION_KEY_MAX];

	memset(st, 0, sizeof(*st));
	tls_session_cache_init(&fresh, cache->cap != 0 ? cache->cap : TLS_SESSION_CACHE_DEFAULT);
	if (len > TLS_SESSION_FILE_MAX) {
		tls_set_err(err, errlen, "larger than %u bytes", (unsigned)TLS_SESSION_FILE_MAX);
		return -1;
	}
	if (len < SESSION_FILE_HEADER + SESSION_FILE_DIGEST) {
		tls_set_err(err, errlen, "truncated: %zu bytes, the header and checksum take %d",
		    len, SESSION_FILE_HEADER + SESSION_FILE_DIGEST);
		return -1;
	}
	if (memcmp(buf, SESSION_FILE_MAGIC, 8) != 0) {
		tls_set_err(err, errlen, "not a session file of this version (magic)");
		return -1;
	}
	if (mbedtls_sha256(buf, len - SESSION_FILE_DIGEST, digest, 0) != 0 ||
	    memcmp(digest, buf + len - SESSION_FILE_DIGEST, SESSION_FILE_DIGEST) != 0) {
		tls_set_err(err, errlen, "checksum mismatch: corrupt or truncated");
		return -1;
	}
	r.p = buf + 8;
	r.end = buf + len - SESSION_FILE_DIGEST;
	r.failed = 0;
	if (rd_uint(&r, 8) != trust) {
		/* Not a fault: the configuration changed since (trust anchors,
		 * our certificates, pins).  Every entry is dropped. */
		(void)rd_uint(&r, 8);
		st->other_config = (size_t)rd_uint(&r, 4);
		return 0;
	}
	(void)rd_uint(&r, 8);		/* written at: for people reading it */
	count = (size_t)rd_uint(&r, 4);
	/* Each entry takes at least its fixed part: a count the bytes cannot
	 * hold is refused before any loop trusts it. */
	if (count > (size_t)(r.end - r.p) / (SESSION_ENTRY_FIXED + 4)) {
		tls_set_err(err, errlen, "entry count %zu larger than the file can hold", count);
		return -1;
	}
	if (cache_alloc(&fresh) != 0) {
		tls_set_err(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < count; i++) {
		keylen = (size_t)rd_uint(&r, 2);
		key = rd_take(&r, keylen);
		expires = (time_t)rd_uint(&r, 8);
		received = (time_t)rd_uint(&r, 8);
		flags = (uint32_t)rd_uint(&r, 4);
		leaf_len = (size_t)rd_uint(&r, 2);
		leaf = rd_take(&r, leaf_len);
		blob_len = (size_t)rd_uint(&r, 2);
		blob = rd_take(&r, blob_len);
		if (r.failed) {
			tls_set_err(err, errlen, "entry %zu: runs past the end of the file", i);
			goto fail;
		}
		if (!key_valid(key, keylen)) {
			tls_set_err(err, errlen, "entry %zu: malformed key", i);
			goto fail;
		}
		if (leaf_len == 0 || leaf_len > TLS_TICKET_LEAF_MAX ||
		    blob_len == 0 || blob_len > TLS_SESSION_BLOB_MAX) {
			tls_set_err(err, errlen, "entry %zu: certificate or session length out of bounds", i);
			goto fail;
		}
		if ((uint64_t)expires > (uint64_t)INT64_MAX / 2 ||
		    (uint64_t)received > (uint64_t)INT64_MAX / 2 || received > expires) {
			tls_set_err(err, errlen, "entry %zu: times out of order", i);
			goto fail;
		}
		if (expires <= now || received > now) {
			/* Past the ticket's lifetime, or received "later" than
			 * now (the clock went back): not offered. */
			st->expired++;
			continue;
		}
		memcpy(keybuf, key, keylen);
		keybuf[keylen] = '\0';
		if (cache_find(&fresh, keybuf) != NULL) {
			tls_set_err(err, errlen, "entry %zu: key repeated", i);
			goto fail;
		}
		if ((slot = cache_insert(&fresh, keybuf, 1)) == NULL) {
			st->over_bound++;
			continue;
		}
		if (entry_restore(&slot->session, keybuf, leaf, leaf_len, flags, blob, blob_len,
		    received, now, now_ms, &why) != 0) {
			cache_remove(&fresh, slot);
			if (strcmp(why, "session written by another mbedTLS version or configuration") == 0) {
				st->other_config++;
				continue;
			}
			tls_set_err(err, errlen, "entry %zu: %s", i, why);
			goto fail;
		}
		/* The partner's certificate expired since: resuming would only
		 * find it so (conn_peer checks the date again). */
		if (mbedtls_x509_time_is_past(&slot->session.MBEDTLS_PRIVATE(peer_cert)->valid_to)) {
			cache_remove(&fresh, slot);
			st->expired++;
			continue;
		}
		st->loaded++;
	}
	if (r.p != r.end) {
		tls_set_err(err, errlen, "%zu bytes after the last entry", (size_t)(r.end - r.p));
		goto fail;
	}
	/* Whole or nothing: the entries replace the cache's. */
	fresh.cap = cache->cap != 0 ? cache->cap : fresh.cap;
	tls_session_cache_free(cache);
	*cache = fresh;
	return 0;
fail:
	st->loaded = 0;
	tls_session_cache_free(&fresh);
	return -1;
}

/* Opens path for reading if it is a regular file of ours that group and
 * others can neither read nor write; -1 with why (ENOENT: *absent). */
static int
file_open_private(const char *path, int *absent, struct stat *st, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	*absent = 0;
	if (fd < 0) {
		*absent = errno == ENOENT;
		tls_set_err(err, errlen, "%s", errno == ELOOP ? "a symlink (never followed)" :
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		tls_set_err(err, errlen, "not a regular file");
		goto fail;
	}
	if (st->st_uid != geteuid()) {
		tls_set_err(err, errlen, "owned by uid %u, not by the daemon's (%u)",
		    (unsigned)st->st_uid, (unsigned)geteuid());
		goto fail;
	}
	if ((st->st_mode & 077) != 0) {
		tls_set_err(err, errlen, "mode %03o: group or others may read or write it (0600 expected)",
		    (unsigned)(st->st_mode & 0777));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int
tls_certstore_sessions_load(struct tls_certstore *store, const char *path,
    struct tls_session_load_stats *st, char *err, size_t errlen)
{
	struct stat sb;
	uint8_t *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, absent, rc = -1;
	char why[200];

	memset(st, 0, sizeof(*st));
	if ((fd = file_open_private(path, &absent, &sb, why, sizeof(why))) < 0) {
		st->absent = absent;
		tls_set_err(err, errlen, "%s", why);
		return absent ? 0 : -1;
	}
	if (sb.st_size < 0 || (uint64_t)sb.st_size > TLS_SESSION_FILE_MAX) {
		tls_set_err(err, errlen, "larger than %u bytes", (unsigned)TLS_SESSION_FILE_MAX);
		goto out;
	}
	/* One byte more than the size said: a file growing meanwhile is
	 * seen, not cut. */
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		tls_set_err(err, errlen, "out of memory");
		goto out;
	}
	while (len < (size_t)sb.st_size + 1 &&
	    (n = read(fd, buf + len, (size_t)sb.st_size + 1 - len)) > 0)
		len += (size_t)n;
	if (len != (size_t)sb.st_size) {
		tls_set_err(err, errlen, "changed while read");
		goto out;
	}
	rc = tls_session_cache_parse(tls_certstore_sessions(store), buf, len,
	    tls_certstore_tickets(store)->trust, time(NULL), st, err, errlen);
out:
	close(fd);
	if (buf != NULL) {
		mbedtls_platform_zeroize(buf, len);
		free(buf);
	}
	return rc;
}

int
tls_certstore_sessions_save(struct tls_certstore *store, const char *path,
    size_t *saved, char *err, size_t errlen)
{
	uint8_t *buf;
	size_t len;
	int rc;

	*saved = 0;
	if (tls_session_cache_serialize(tls_certstore_sessions(store),
	    tls_certstore_tickets(store)->trust, time(NULL), &buf, &len, saved) != 0) {
		tls_set_err(err, errlen, "out of memory");
		return -1;
	}
	rc = tls_file_write_atomic(path, buf, len, 0600, err, errlen);
	mbedtls_platform_zeroize(buf, len);
	free(buf);
	if (rc != 0)
		*saved = 0;
	return rc;
}
