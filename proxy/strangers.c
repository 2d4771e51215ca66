/* SPDX-License-Identifier: Apache-2.0 */
/*
 * strangers.c - the set of known remote contacts, see strangers.h: a
 * bounded LRU set of bare JIDs, its file format and its atomic save
 * (strangers_edge.c puts it to work in the daemon).
 *
 * Each contact is one allocation (the JID follows the struct), linked into
 * a hash chain and into the LRU list (head: most recent).  The table
 * doubles when the set outgrows it, so chains stay short; memory is at
 * most max_contacts * (sizeof(struct contact) + the JID).
 */
#include "strangers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "domain.h"
#include "textlines.h"

#define STRANGERS_BUCKETS_MIN 1024

struct contact {
	struct contact *hnext;		/* hash chain */
	struct contact *prev, *next;	/* LRU list */
	uint32_t hash;
	uint16_t len;
	char jid[];
};

struct strangers {
	struct contact **buckets;
	size_t nbuckets;		/* a power of two */
	struct contact *head, *tail;	/* most and least recent */
	size_t n, max;
};

static uint32_t
jid_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;	/* FNV-1a: the input is not secret, chains are short */
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

struct strangers *
strangers_new(size_t max)
{
	struct strangers *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->nbuckets = STRANGERS_BUCKETS_MIN;
	s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
	if (s->buckets == NULL) {
		free(s);
		return NULL;
	}
	s->max = max > 0 ? max : 1;
	return s;
}

size_t
strangers_clear(struct strangers *s)
{
	struct contact *c, *next;
	size_t n = s->n;

	for (c = s->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	memset(s->buckets, 0, s->nbuckets * sizeof(*s->buckets));
	s->head = s->tail = NULL;
	s->n = 0;
	return n;
}

void
strangers_free(struct strangers *s)
{
	if (s == NULL)
		return;
	strangers_clear(s);
	free(s->buckets);
	free(s);
}

size_t
strangers_count(const struct strangers *s)
{
	return s != NULL ? s->n : 0;
}

int
strangers_bare_jid(const char *jid, size_t len, char *out, size_t cap)
{
	const char *slash, *at;
	char why[128];
	size_t llen = 0, i;

	if (jid == NULL || len == 0 || cap < STRANGERS_JID_MAX + 1)
		return -1;
	/* RFC 7622 §3.1: the resource starts at the first '/', the
	 * localpart ends at the first '@' before it. */
	slash = memchr(jid, '/', len);
	if (slash != NULL)
		len = (size_t)(slash - jid);
	at = memchr(jid, '@', len);
	if (at != NULL) {
		llen = (size_t)(at - jid);
		if (llen == 0 || llen > 1023)
			return -1;
		for (i = 0; i < llen; i++) {
			unsigned char ch = (unsigned char)jid[i];

			/* RFC 7622 §3.3.1 forbids these in a localpart. */
			if (ch < 0x21 || ch == 0x7f || ch == '"' || ch == '&' || ch == '\'' ||
			    ch == ':' || ch == '<' || ch == '>' || ch == '@')
				return -1;
			/* Case-insensitive, ASCII only: a stand-in for the
			 * UsernameCaseMapped profile, enough to tell contacts. */
			out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
		}
		out[llen++] = '@';
		jid = at + 1;
		len -= llen;
	}
	if (domain_canonicalize(jid, len, out + llen, cap - llen, why, sizeof(why)) < 0)
		return -1;
	return 0;
}

static struct contact *
strangers_find(const struct strangers *s, const char *bare, size_t len, uint32_t h)
{
	struct contact *c;

	for (c = s->buckets[h & (s->nbuckets - 1)]; c != NULL; c = c->hnext)
		if (c->hash == h && c->len == len && memcmp(c->jid, bare, len) == 0)
			return c;
	return NULL;
}

static void
lru_unlink(struct strangers *s, struct contact *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		s->tail = c->prev;
	c->prev = c->next = NULL;
}

static void
lru_push_head(struct strangers *s, struct contact *c)
{
	c->prev = NULL;
	c->next = s->head;
	if (s->head != NULL)
		s->head->prev = c;
	s->head = c;
	if (s->tail == NULL)
		s->tail = c;
}

static void
lru_push_tail(struct strangers *s, struct contact *c)
{
	c->next = NULL;
	c->prev = s->tail;
	if (s->tail != NULL)
		s->tail->next = c;
	s->tail = c;
	if (s->head == NULL)
		s->head = c;
}

static void
strangers_remove(struct strangers *s, struct contact *c)
{
	struct contact **pp = &s->buckets[c->hash & (s->nbuckets - 1)];

	while (*pp != c)
		pp = &(*pp)->hnext;
	*pp = c->hnext;
	lru_unlink(s, c);
	free(c);
	s->n--;
}

/* Doubles the table once the set is twice its size (best effort: a
 * failed allocation leaves longer chains, not an error). */
static void
strangers_grow(struct strangers *s)
{
	struct contact **nb, *c, *next;
	size_t nn = s->nbuckets * 2, i;

	if (s->n < s->nbuckets * 2 || nn > SIZE_MAX / sizeof(*nb) || (nb = calloc(nn, sizeof(*nb))) == NULL)
		return;
	for (i = 0; i < s->nbuckets; i++) {
		for (c = s->buckets[i]; c != NULL; c = next) {
			next = c->hnext;
			c->hnext = nb[c->hash & (nn - 1)];
			nb[c->hash & (nn - 1)] = c;
		}
	}
	free(s->buckets);
	s->buckets = nb;
	s->nbuckets = nn;
}

/* Adds bare (or refreshes it) at the head or, when loading, the tail. */
static int
strangers_add(struct strangers *s, const char *bare, int at_tail)
{
	size_t len = strlen(bare);
	uint32_t h = jid_hash(bare, len);
	struct contact *c = strangers_find(s, bare, len, h);

	if (c != NULL) {
		if (!at_tail) {
			lru_unlink(s, c);
			lru_push_head(s, c);
		}
		return 0;
	}
	if (len > STRANGERS_JID_MAX)
		return -1;
	if (at_tail && s->n >= s->max)
		return 0;	/* loading: the most recent ones are in */
	if ((c = malloc(sizeof(*c) + len + 1)) == NULL)
		return -1;
	memcpy(c->jid, bare, len + 1);
	c->len = (uint16_t)len;
	c->hash = h;
	c->hnext = s->buckets[h & (s->nbuckets - 1)];
	s->buckets[h & (s->nbuckets - 1)] = c;
	if (at_tail)
		lru_push_tail(s, c);
	else
		lru_push_head(s, c);
	s->n++;
	while (s->n > s->max)
		strangers_remove(s, s->tail);
	strangers_grow(s);
	return 0;
}

int
strangers_touch(struct strangers *s, const char *bare)
{
	return strangers_add(s, bare, 0);
}

int
strangers_known(struct strangers *s, const char *bare)
{
	size_t len = strlen(bare);
	struct contact *c = strangers_find(s, bare, len, jid_hash(bare, len));

	if (c == NULL)
		return 0;
	lru_unlink(s, c);
	lru_push_head(s, c);
	return 1;
}

void
strangers_set_max(struct strangers *s, size_t max)
{
	s->max = max > 0 ? max : 1;
	while (s->n > s->max)
		strangers_remove(s, s->tail);
}

/* --- the file ----------------------------------------------------------------- */

int
strangers_parse(struct strangers *s, const char *source, const char *text, size_t len,
    char *err, size_t errlen)
{
	char bare[STRANGERS_JID_MAX + 1];
	struct textlines tl;
	const char *p;
	size_t llen;
	int rc;

	if (len > STRANGERS_FILE_MAX_BYTES) {
		textlines_err(err, errlen, source, 0, "larger than %u bytes", STRANGERS_FILE_MAX_BYTES);
		return -1;
	}
	textlines_init(&tl, source, text, len, STRANGERS_JID_MAX);
	while ((rc = textlines_next(&tl, &p, &llen, err, errlen)) > 0) {
		if (llen == 0 || p[0] == '#')
			continue;
		/* Written by us canonical: anything else was edited or broken. */
		if (strangers_bare_jid(p, llen, bare, sizeof(bare)) < 0 || strlen(bare) != llen ||
		    memcmp(bare, p, llen) != 0) {
			textlines_err(err, errlen, source, tl.lineno, "'%.*s' is not a canonical bare JID",
			    (int)(llen > 60 ? 60 : llen), p);
			return -1;
		}
		if (strangers_add(s, bare, 1) < 0) {
			textlines_err(err, errlen, source, tl.lineno, "out of memory");
			return -1;
		}
	}
	if (rc < 0)
		return -1;
	return 0;
}

#define STRANGERS_FILE_HEADER "# xmpp-edge: remote contacts internal users wrote to, most recent first\n"

char *
strangers_format(const struct strangers *s, size_t *len)
{
	const struct contact *c;
	size_t n = sizeof(STRANGERS_FILE_HEADER) - 1, o;
	char *out;

	for (c = s->head; c != NULL; c = c->next)
		n += (size_t)c->len + 1;
	if ((out = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(out, STRANGERS_FILE_HEADER, sizeof(STRANGERS_FILE_HEADER) - 1);
	o = sizeof(STRANGERS_FILE_HEADER) - 1;
	for (c = s->head; c != NULL; c = c->next) {
		memcpy(out + o, c->jid, c->len);
		o += c->len;
		out[o++] = '\n';
	}
	out[o] = '\0';
	*len = o;
	return out;
}

int
strangers_save(const struct strangers *s, const char *path, char *err, size_t errlen)
{
	char tmp[4096];
	size_t len, off = 0;
	char *text;
	int fd, n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if ((text = strangers_format(s, &len)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		free(text);
		return -1;
	}
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(text);
	/* Data on disk before the name points at it: a crash leaves the old
	 * file or the new one, never half of one. */
	if (off != len || fsync(fd) != 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno ? errno : EIO));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int
strangers_load(struct strangers *s, const char *path, char *err, size_t errlen)
{
	struct stat st;
	char *text;
	size_t len = 0;
	ssize_t r;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;	/* nothing learned yet */
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > STRANGERS_FILE_MAX_BYTES) {
		snprintf(err, errlen, "%s: not a regular file of at most %u bytes", path,
		    STRANGERS_FILE_MAX_BYTES);
		close(fd);
		return -1;
	}
	if ((text = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return -1;
	}
	while (len < (size_t)st.st_size && (r = read(fd, text + len, (size_t)st.st_size - len)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			free(text);
			close(fd);
			return -1;
		}
		len += (size_t)r;
	}
	close(fd);
	rc = strangers_parse(s, path, text, len, err, errlen);
	free(text);
	return rc;
}

void
strangers_gen_list(const struct strangers *s, yajl_gen g)
{
	const struct contact *c;

	yajl_gen_array_open(g);
	for (c = s != NULL ? s->head : NULL; c != NULL; c = c->next)
		yajl_gen_string(g, (const unsigned char *)c->jid, c->len);
	yajl_gen_array_close(g);
}
