/*
 * stream_info.c - the live streams as the operator sees them (see
 * stream_info.h): bytes from the kernel, ages, and the JSON list that
 * the control command "streams" and `status --json` return.
 *
 * Bytes: the stream roles do not count bytes on their data path; the
 * kernel does already (TCP_INFO tcpi_bytes_received / tcpi_bytes_acked,
 * Linux 4.1+, RFC 4898's HCThruOctets).  They are the bytes of the whole
 * TCP stream: XML before STARTTLS, then TLS records.  "Out" counts what
 * the peer acknowledged, so bytes still in flight are not included.
 *
 * Ages: a start time per stream, in a small hash table keyed by the
 * stream's address (the roles' structs have no such field and are being
 * changed elsewhere).  Entries of streams that are gone are swept when
 * the table has grown to twice the live streams; an address reused by a
 * new stream is simply stamped again by its own start event.
 */
#include "stream_info.h"

#include <stdlib.h>
#include <string.h>

#include "s2s_in.h"
#include "s2s_out.h"
#include "tcpinfo.h"

#define BIRTHS_BUCKETS 1024

struct birth {
	struct birth *next;
	const void *id;
	uint64_t started_ms;
	unsigned mark;
};

struct stream_births {
	struct birth *bucket[BIRTHS_BUCKETS];
	size_t count;
	unsigned mark;
};

int
stream_info_bytes(const struct stream_info *si, uint64_t *in, uint64_t *out)
{
	uv_os_fd_t fd;

	if (si->tcp == NULL || uv_is_closing((const uv_handle_t *)si->tcp) ||
	    uv_fileno((const uv_handle_t *)si->tcp, &fd) != 0)
		return -1;
	return tcpinfo_bytes(fd, in, out);
}

static size_t
births_hash(const void *id)
{
	uintptr_t v = (uintptr_t)id;

	v ^= v >> 17;
	v *= (uintptr_t)0x9e3779b97f4a7c15ull;
	return (size_t)(v >> 7) % BIRTHS_BUCKETS;
}

static struct birth **
births_find(struct stream_births *b, const void *id)
{
	struct birth **bp;

	for (bp = &b->bucket[births_hash(id)]; *bp != NULL; bp = &(*bp)->next)
		if ((*bp)->id == id)
			return bp;
	return NULL;
}

/* Drops entries of streams no longer in either list. */
static void
births_sweep(struct edge *edge)
{
	struct stream_births *b = edge->births;
	const struct s2s_in *s;
	const struct s2s_out *o;
	struct birth **bp, *e;
	size_t i;

	b->mark++;
	for (s = edge->streams; s != NULL; s = s2s_in_next(s))
		if ((bp = births_find(b, s)) != NULL)
			(*bp)->mark = b->mark;
	for (o = edge->out_streams; o != NULL; o = s2s_out_next(o))
		if ((bp = births_find(b, o)) != NULL)
			(*bp)->mark = b->mark;
	for (i = 0; i < BIRTHS_BUCKETS; i++)
		for (bp = &b->bucket[i]; (e = *bp) != NULL;) {
			if (e->mark == b->mark) {
				bp = &e->next;
				continue;
			}
			*bp = e->next;
			free(e);
			b->count--;
		}
}

void
stream_info_born(struct edge *edge, const void *id)
{
	struct stream_births *b;
	struct birth **bp, *e;

	if (id == NULL)
		return;
	if (edge->births == NULL && (edge->births = calloc(1, sizeof(*edge->births))) == NULL)
		return;
	b = edge->births;
	if ((bp = births_find(b, id)) != NULL) {
		(*bp)->started_ms = uv_now(edge->loop);
		return;
	}
	if (b->count >= 2 * (edge->stream_count + edge->out_stream_count) + 64)
		births_sweep(edge);
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return;	/* the age will read "unknown" */
	e->id = id;
	e->started_ms = uv_now(edge->loop);
	e->mark = b->mark;
	e->next = b->bucket[births_hash(id)];
	b->bucket[births_hash(id)] = e;
	b->count++;
}

long long
stream_info_age_s(struct edge *edge, const void *id)
{
	struct birth **bp;

	if (edge->births == NULL || (bp = births_find(edge->births, id)) == NULL)
		return -1;
	return (long long)((uv_now(edge->loop) - (*bp)->started_ms) / 1000);
}

void
stream_info_forget_all(struct edge *edge)
{
	struct birth *e, *next;
	size_t i;

	if (edge->births == NULL)
		return;
	for (i = 0; i < BIRTHS_BUCKETS; i++)
		for (e = edge->births->bucket[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	free(edge->births);
	edge->births = NULL;
}

static void
gen_str(yajl_gen g, const char *k, const char *v)
{
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
	if (v == NULL)
		yajl_gen_null(g);
	else
		yajl_gen_string(g, (const unsigned char *)v, strlen(v));
}

static void
gen_int(yajl_gen g, const char *k, long long v)
{
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
	yajl_gen_integer(g, v);
}

static void
stream_info_gen_one(struct edge *edge, yajl_gen g, const struct stream_info *si)
{
	uint64_t bin, bout;
	long long age;
	size_t i;

	yajl_gen_map_open(g);
	gen_str(g, "direction", si->direction);
	gen_str(g, "kind", si->kind);
	gen_str(g, "state", si->state);
	gen_str(g, "peer", si->peer[0] ? si->peer : NULL);
	gen_str(g, "tls", si->tls_version);
	gen_str(g, "cipher", si->cipher);
	gen_str(g, "id", si->stream_id[0] ? si->stream_id : NULL);
	yajl_gen_string(g, (const unsigned char *)"pairs", 5);
	yajl_gen_array_open(g);
	for (i = 0; i < si->npairs; i++) {
		yajl_gen_map_open(g);
		gen_str(g, "local", si->pairs[i].local[0] ? si->pairs[i].local : NULL);
		gen_str(g, "remote", si->pairs[i].remote[0] ? si->pairs[i].remote : NULL);
		gen_str(g, "auth", si->pairs[i].auth);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	if (si->direction[0] == 'i') {
		gen_int(g, "stanzas_in", (long long)si->stanzas_in);
		gen_int(g, "stanzas_routed", (long long)si->routed);
	} else {
		gen_int(g, "stanzas_out", (long long)si->stanzas_out);
		gen_int(g, "stanzas_bounced", (long long)si->bounced);
		gen_int(g, "queue_bytes", (long long)si->queue_bytes);
		gen_int(g, "queue_stanzas", (long long)si->queue_stanzas);
	}
	gen_int(g, "send_queue_bytes", (long long)si->send_queue_bytes);
	if (stream_info_bytes(si, &bin, &bout) == 0) {
		gen_int(g, "bytes_in", (long long)bin);
		gen_int(g, "bytes_out", (long long)bout);
	}
	age = stream_info_age_s(edge, si->id);
	if (age >= 0)
		gen_int(g, "age_s", age);
	yajl_gen_map_close(g);
}

void
stream_info_gen_list(struct edge *edge, yajl_gen g)
{
	const struct s2s_in *s;
	const struct s2s_out *o;
	struct stream_info si;

	yajl_gen_array_open(g);
	for (s = edge->streams; s != NULL; s = s2s_in_next(s)) {
		s2s_in_info(s, &si);
		if (strcmp(si.state, "closed") == 0)
			continue;	/* refused at accept, or going */
		stream_info_gen_one(edge, g, &si);
	}
	for (o = edge->out_streams; o != NULL; o = s2s_out_next(o)) {
		s2s_out_info(o, &si);
		if (strcmp(si.state, "closed") == 0)
			continue;
		stream_info_gen_one(edge, g, &si);
	}
	yajl_gen_array_close(g);
}
