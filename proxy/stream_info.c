/* SPDX-License-Identifier: Apache-2.0 */
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
 * Ages: each role records when its stream started (uv_now).
 *
 * Nodelay: whether the socket has TCP_NODELAY, read back from the kernel,
 * so that a stream that would pay Nagle's 40 ms per set-up step shows.
 */
#include "stream_info.h"

#include <stdlib.h>
#include <string.h>

#include "json_gen.h"
#include "s2s_in.h"
#include "s2s_out.h"
#include "tcpinfo.h"

/* The stream's socket, or -1 while connecting or closing. */
static int
stream_info_fd(const struct stream_info *si)
{
	uv_os_fd_t fd;

	if (si->tcp == NULL || uv_is_closing((const uv_handle_t *)si->tcp) ||
	    uv_fileno((const uv_handle_t *)si->tcp, &fd) != 0)
		return -1;
	return fd;
}

int
stream_info_bytes(const struct stream_info *si, uint64_t *in, uint64_t *out)
{
	int fd = stream_info_fd(si);

	return fd < 0 ? -1 : tcpinfo_bytes(fd, in, out);
}

int
stream_info_nodelay(const struct stream_info *si)
{
	int fd = stream_info_fd(si);

	return fd < 0 ? -1 : tcpinfo_nodelay(fd);
}

static void
stream_info_gen_one(struct edge *edge, yajl_gen g, const struct stream_info *si)
{
	uint64_t bin, bout;
	long long age;
	size_t i;
	int nodelay;

	yajl_gen_map_open(g);
	json_gen_str(g, "direction", si->direction);
	json_gen_str(g, "kind", si->kind);
	json_gen_str(g, "state", si->state);
	json_gen_str(g, "peer", si->peer[0] ? si->peer : NULL);
	json_gen_str(g, "tls", si->tls_version);
	json_gen_str(g, "cipher", si->cipher);
	json_gen_str(g, "id", si->stream_id[0] ? si->stream_id : NULL);
	yajl_gen_string(g, (const unsigned char *)"pairs", 5);
	yajl_gen_array_open(g);
	for (i = 0; i < si->npairs; i++) {
		yajl_gen_map_open(g);
		json_gen_str(g, "local", si->pairs[i].local[0] ? si->pairs[i].local : NULL);
		json_gen_str(g, "remote", si->pairs[i].remote[0] ? si->pairs[i].remote : NULL);
		json_gen_str(g, "auth", si->pairs[i].auth);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_string(g, (const unsigned char *)"bidi", 4);
	yajl_gen_bool(g, si->bidi);
	json_gen_str(g, "sm", si->sm);
	if (si->direction[0] == 'i') {
		json_gen_int(g, "stanzas_in", (long long)si->stanzas_in);
		json_gen_int(g, "stanzas_routed", (long long)si->routed);
		if (si->bidi)
			json_gen_int(g, "stanzas_out", (long long)si->stanzas_out);
		json_gen_int(g, "sm_h", (long long)si->sm_h);
		json_gen_int(g, "stanzas_in_custody", (long long)si->sm_unacked);
	} else {
		json_gen_int(g, "stanzas_out", (long long)si->stanzas_out);
		json_gen_int(g, "stanzas_bounced", (long long)si->bounced);
		json_gen_int(g, "stanzas_acked", (long long)si->sm_acked);
		json_gen_int(g, "stanzas_unacked", (long long)si->sm_unacked);
		json_gen_int(g, "stanzas_unconfirmed", (long long)si->unconfirmed);
		json_gen_int(g, "queue_bytes", (long long)si->queue_bytes);
		json_gen_int(g, "queue_stanzas", (long long)si->queue_stanzas);
		if (si->bidi) {
			json_gen_int(g, "stanzas_in", (long long)si->stanzas_in);
			json_gen_int(g, "stanzas_routed", (long long)si->routed);
		}
	}
	json_gen_int(g, "send_queue_bytes", (long long)si->send_queue_bytes);
	if (stream_info_bytes(si, &bin, &bout) == 0) {
		json_gen_int(g, "bytes_in", (long long)bin);
		json_gen_int(g, "bytes_out", (long long)bout);
	}
	if ((nodelay = stream_info_nodelay(si)) >= 0) {
		yajl_gen_string(g, (const unsigned char *)"nodelay", 7);
		yajl_gen_bool(g, nodelay);
	}
	age = (long long)((uv_now(edge->loop) - si->started_ms) / 1000);
	json_gen_int(g, "age_s", age);
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
