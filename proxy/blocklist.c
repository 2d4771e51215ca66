/* SPDX-License-Identifier: Apache-2.0 */
/*
 * blocklist.c - the domain blocklist itself, see blocklist.h: parsing,
 * lookup and counts (blocklist_edge.c puts it to work in the daemon).
 *
 * The list is one sorted array of entries naming their text in one
 * arena: a lookup is a binary search for the domain itself, then one for
 * each parent among the '*.' entries, so at most 127 searches (labels of a
 * 253-byte name) of log2(entries) steps each, and no allocation.
 */
#include "blocklist.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "textlines.h"

struct blocklist_entry {
	uint64_t refusals;
	uint32_t off;			/* name in the arena */
	uint16_t len;
	uint8_t wildcard;		/* "*.name": every name under it */
};

struct blocklist {
	struct blocklist_entry *entries;
	size_t n;
	char *arena;			/* names, NUL-terminated */
	size_t arena_len;
};

/* --- parsing ---------------------------------------------------------------- */

static const struct blocklist *cmp_list;	/* qsort has no context */

/* Order: exact entries, then wildcards; each by name. */
static int
entry_cmp_key(const struct blocklist *bl, const struct blocklist_entry *e, int wildcard,
    const char *name)
{
	if (e->wildcard != wildcard)
		return (int)e->wildcard - wildcard;
	return strcmp(bl->arena + e->off, name);
}

static int
entry_qsort_cmp(const void *a, const void *b)
{
	const struct blocklist_entry *x = a, *y = b;

	return entry_cmp_key(cmp_list, x, y->wildcard, cmp_list->arena + y->off);
}

static struct blocklist_entry *
blocklist_find(const struct blocklist *bl, int wildcard, const char *name)
{
	size_t lo = 0, hi = bl->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = entry_cmp_key(bl, &bl->entries[mid], wildcard, name);

		if (c == 0)
			return &bl->entries[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* One line (without its newline): 0 and maybe an entry, or -1 with err. */
static int
blocklist_parse_line(struct blocklist *bl, const char *source, size_t lineno, const char *p,
    size_t len, size_t max_entries, size_t *cap, char *err, size_t errlen)
{
	char name[DOMAIN_NAME_MAX + 1], why[160], shown[64];
	const char *hash = memchr(p, '#', len);
	int wildcard = 0;
	size_t i, nlen;

	if (hash != NULL)
		len = (size_t)(hash - p);
	while (len > 0 && (p[0] == ' ' || p[0] == '\t')) {
		p++;
		len--;
	}
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
		len--;
	if (len == 0)
		return 0;
	snprintf(shown, sizeof(shown), "%.*s", (int)(len > 60 ? 60 : len), p);
	for (i = 0; i < len; i++) {
		if (p[i] == ' ' || p[i] == '\t') {
			textlines_err(err, errlen, source, lineno,
			    "one domain a line, '%s' has more", shown);
			return -1;
		}
	}
	if (len >= 2 && p[0] == '*' && p[1] == '.') {
		wildcard = 1;
		p += 2;
		len -= 2;
	}
	if (len == 0 || domain_canonicalize(p, len, name, sizeof(name), why, sizeof(why)) < 0) {
		textlines_err(err, errlen, source, lineno, "'%s' is not a domain or '*.domain': %s",
		    shown, len == 0 ? "nothing after '*.'" : why);
		return -1;
	}
	if (bl->n == max_entries) {
		textlines_err(err, errlen, source, lineno, "more than %zu entries (blocklist.max_entries)",
		    max_entries);
		return -1;
	}
	nlen = strlen(name);
	if (bl->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct blocklist_entry *ne;

		if (ncap > max_entries)
			ncap = max_entries;
		ne = realloc(bl->entries, ncap * sizeof(*ne));
		if (ne == NULL) {
			textlines_err(err, errlen, source, lineno, "out of memory");
			return -1;
		}
		bl->entries = ne;
		*cap = ncap;
	}
	/* The arena was sized for the whole text: a name is never longer
	 * than its line. */
	memcpy(bl->arena + bl->arena_len, name, nlen + 1);
	bl->entries[bl->n].off = (uint32_t)bl->arena_len;
	bl->entries[bl->n].len = (uint16_t)nlen;
	bl->entries[bl->n].wildcard = (uint8_t)wildcard;
	bl->entries[bl->n].refusals = 0;
	bl->arena_len += nlen + 1;
	bl->n++;
	return 0;
}

struct blocklist *
blocklist_parse(const char *source, const char *text, size_t len, size_t max_entries,
    char *err, size_t errlen)
{
	struct textlines tl;
	struct blocklist *bl;
	const char *line;
	size_t cap = 0, llen, i, j;
	int rc;

	if (len > BLOCKLIST_FILE_MAX_BYTES) {
		textlines_err(err, errlen, source, 0, "larger than %u bytes", BLOCKLIST_FILE_MAX_BYTES);
		return NULL;
	}
	if ((bl = calloc(1, sizeof(*bl))) == NULL ||
	    (bl->arena = malloc(len + 1)) == NULL) {
		free(bl);
		textlines_err(err, errlen, source, 0, "out of memory");
		return NULL;
	}
	textlines_init(&tl, source, text, len, BLOCKLIST_LINE_MAX);
	while ((rc = textlines_next(&tl, &line, &llen, err, errlen)) > 0)
		if (blocklist_parse_line(bl, source, tl.lineno, line, llen, max_entries, &cap,
		    err, errlen) < 0)
			goto fail;
	if (rc < 0)
		goto fail;
	if (bl->n > 1) {
		cmp_list = bl;
		qsort(bl->entries, bl->n, sizeof(*bl->entries), entry_qsort_cmp);
		cmp_list = NULL;
		/* Duplicates are harmless in the file; one entry each here. */
		for (i = 1, j = 0; i < bl->n; i++)
			if (entry_cmp_key(bl, &bl->entries[j], bl->entries[i].wildcard,
			    bl->arena + bl->entries[i].off) != 0)
				bl->entries[++j] = bl->entries[i];
		bl->n = j + 1;
	}
	return bl;
fail:
	blocklist_free(bl);
	return NULL;
}

struct blocklist *
blocklist_load_file(const char *path, size_t max_entries, char *err, size_t errlen)
{
	struct blocklist *bl = NULL;
	char *text = NULL;
	size_t len = 0, got;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(err, errlen, "%s: cannot read the blocklist: %s", path, strerror(errno));
		return NULL;
	}
	/* One byte past the limit tells "too large" from "exactly at it". */
	if ((text = malloc(BLOCKLIST_FILE_MAX_BYTES + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	while ((got = fread(text + len, 1, BLOCKLIST_FILE_MAX_BYTES + 1 - len, f)) > 0) {
		len += got;
		if (len > BLOCKLIST_FILE_MAX_BYTES)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: cannot read the blocklist: %s", path, strerror(errno));
		goto out;
	}
	bl = blocklist_parse(path, text, len, max_entries, err, errlen);
out:
	free(text);
	fclose(f);
	return bl;
}

void
blocklist_free(struct blocklist *bl)
{
	if (bl == NULL)
		return;
	free(bl->entries);
	free(bl->arena);
	free(bl);
}

size_t
blocklist_count(const struct blocklist *bl)
{
	return bl != NULL ? bl->n : 0;
}

static void
entry_text(const struct blocklist *bl, const struct blocklist_entry *e, char *out, size_t cap)
{
	snprintf(out, cap, "%s%s", e->wildcard ? "*." : "", bl->arena + e->off);
}

/* The entry for canonical domain, or NULL. */
static struct blocklist_entry *
blocklist_lookup(const struct blocklist *bl, const char *domain)
{
	struct blocklist_entry *e;
	const char *dot;

	if (bl == NULL || bl->n == 0 || domain == NULL || domain[0] == '\0')
		return NULL;
	if ((e = blocklist_find(bl, 0, domain)) != NULL)
		return e;
	/* "*.b.c" covers a.b.c and x.a.b.c: each parent of the domain. */
	for (dot = strchr(domain, '.'); dot != NULL; dot = strchr(dot + 1, '.'))
		if ((e = blocklist_find(bl, 1, dot + 1)) != NULL)
			return e;
	return NULL;
}

int
blocklist_match(const struct blocklist *bl, const char *domain, char *out, size_t cap)
{
	const struct blocklist_entry *e = blocklist_lookup(bl, domain);

	if (e == NULL)
		return -1;
	if (out != NULL)
		entry_text(bl, e, out, cap);
	return 0;
}

int
blocklist_hit(struct blocklist *bl, const char *domain, char *out, size_t cap)
{
	struct blocklist_entry *e = blocklist_lookup(bl, domain);

	if (e == NULL)
		return -1;
	e->refusals++;
	entry_text(bl, e, out, cap);
	return 0;
}

void
blocklist_carry_counts(struct blocklist *next, const struct blocklist *old)
{
	size_t i;

	if (next == NULL || old == NULL)
		return;
	for (i = 0; i < next->n; i++) {
		const struct blocklist_entry *o = blocklist_find(old, next->entries[i].wildcard,
		    next->arena + next->entries[i].off);

		if (o != NULL)
			next->entries[i].refusals = o->refusals;
	}
}

size_t
blocklist_top(const struct blocklist *bl, struct blocklist_top *out, size_t n)
{
	size_t i, k, count = 0;

	if (bl == NULL)
		return 0;
	/* Insertion into a sorted window of n: the list may be long, n is
	 * small. */
	for (i = 0; i < bl->n; i++) {
		const struct blocklist_entry *e = &bl->entries[i];

		if (e->refusals == 0)
			continue;
		if (count == n && out[n - 1].refusals >= e->refusals)
			continue;
		k = count < n ? count++ : n - 1;
		while (k > 0 && out[k - 1].refusals < e->refusals) {
			out[k] = out[k - 1];
			k--;
		}
		out[k].refusals = e->refusals;
		entry_text(bl, e, out[k].entry, sizeof(out[k].entry));
	}
	return count;
}

uint64_t
blocklist_refusals_total(const struct blocklist *bl)
{
	uint64_t t = 0;
	size_t i;

	for (i = 0; bl != NULL && i < bl->n; i++)
		t += bl->entries[i].refusals;
	return t;
}
