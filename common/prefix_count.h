/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prefix_count.h - live inbound streams counted per network prefix.
 *
 * Limits per exact address are no limit against anyone who holds a /24
 * or, in IPv6, a /64 (2^64 addresses, one host's usual allocation).  So
 * every stream from a remote server is counted under two prefixes of its
 * address: an IPv4 address under its /32 and its /24, an IPv6 address
 * under its /128 and its /64 (IPv4-mapped IPv6 addresses count as IPv4).
 *
 * The counts live in a small hash table keyed by (kind, masked address):
 * an accept looks up two keys instead of scanning every stream.  Entries
 * exist only while their count is above zero, so the table never holds
 * more than two entries per live stream; the bucket array is fixed.  The
 * hash is keyed with a random seed so that addresses cannot be chosen to
 * land in one chain.
 */
#ifndef XE_PREFIX_COUNT_H
#define XE_PREFIX_COUNT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum prefix_kind {
	PREFIX_IPV4_32,
	PREFIX_IPV4_24,
	PREFIX_IPV6_128,
	PREFIX_IPV6_64,
};

/* What an address is counted under: kind and the address with the bits
 * outside the prefix cleared. */
struct prefix_key {
	enum prefix_kind kind;
	uint8_t bytes[16];
};

/* Every address falls under exactly this many prefixes. */
#define PREFIX_KEYS_PER_ADDR 2

struct prefix_entry;

#define PREFIX_COUNT_BUCKETS 1024
struct prefix_count {
	struct prefix_entry *buckets[PREFIX_COUNT_BUCKETS];
	uint64_t seed;
	size_t entries;
};

/* Empties t and picks a new seed. */
void prefix_count_init(struct prefix_count *t);
/* Frees every entry (counts are lost). */
void prefix_count_clear(struct prefix_count *t);
/* The PREFIX_KEYS_PER_ADDR prefixes sa is counted under (the exact
 * address first); -1 for a family that is neither IPv4 nor IPv6. */
int prefix_keys_of(const struct sockaddr *sa, struct prefix_key out[PREFIX_KEYS_PER_ADDR]);
/* Live count under k (0 when absent). */
size_t prefix_count_get(const struct prefix_count *t, const struct prefix_key *k);
/* Counts one more stream under k; -1 when out of memory (nothing counted). */
int prefix_count_add(struct prefix_count *t, const struct prefix_key *k);
/* Counts one stream less under k; the entry goes at zero.  Removing what
 * was never added is ignored. */
void prefix_count_remove(struct prefix_count *t, const struct prefix_key *k);

#endif
