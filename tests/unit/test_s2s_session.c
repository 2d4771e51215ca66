/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_s2s_session.c - the session code (s2s_in, s2s_in_auth, router) on
 * a real libuv loop, its peer scripted through the memory pipe
 * (proxy/s2s_conn.h).
 *
 * Each test ends as libuv's do: the loop runs empty and uv_loop_close()
 * returns 0 (nothing left open), and the edge counts no stream; under
 * ASan a free too early or twice is a failure of its own.
 */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "config.h"
#include "dialback_key.h"
#include "edge.h"
#include "log.h"
#include "s2s_conn.h"
#include "s2s_in.h"

#define TS_CONFIG "{\"state_dir\": \"/tmp/x\", \"domains\": [{\"name\": \"a.example\"," \
	" \"cert\": \"/c\", \"key\": \"/k\"}], \"limits\": {\"dialback_verify_preauth_max\": 1000000," \
	" \"send_queue_bytes\": 65536}, \"policy\": {\"partners\": {\"b.example\": {\"tls\": \"disabled\"}}}}"
#define TS_HDR "<?xml version='1.0'?><stream:stream xmlns='jabber:server' " \
	"xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' " \
	"from='b.example' to='a.example' version='1.0'>"

struct ts_fixture {
	uv_loop_t loop;
	struct edge *edge;
	struct listener listener;
	struct s2s_pipe *peer;
	/* what the log said */
	int closes, queue_full_closes, state_refused, routed_events;
};

static void
ts_observe(void *arg, enum log_level level, const char *event, va_list ap)
{
	struct ts_fixture *f = arg;
	const char *k, *v;

	(void)level;
	if (strcmp(event, "s2s_in.state_refused") == 0)
		f->state_refused++;
	if (strncmp(event, "route.", 6) == 0)
		f->routed_events++;
	if (strcmp(event, "s2s_in.close") != 0)
		return;
	f->closes++;
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		if (strcmp(k, "reason") == 0 && v != NULL && strcmp(v, "send queue full") == 0)
			f->queue_full_closes++;
	}
}

static void
ts_setup(struct ts_fixture *f, enum listener_kind kind)
{
	char err[CONFIG_ERR_MAX] = "";
	struct sockaddr_in peer;

	memset(f, 0, sizeof(*f));
	log_setup(LOG_ERROR, LOG_FORMAT_AUTO);
	log_set_observer(ts_observe, f);
	REQUIRE(uv_loop_init(&f->loop) == 0);
	f->edge = calloc(1, sizeof(*f->edge));
	REQUIRE(f->edge != NULL);
	prefix_count_init(&f->edge->peer_prefixes);
	f->edge->loop = &f->loop;
	f->edge->cfg = config_parse("t.json", TS_CONFIG, strlen(TS_CONFIG), 0, err, sizeof(err));
	if (f->edge->cfg == NULL)
		fprintf(stderr, "  config: %s\n", err);
	REQUIRE(f->edge->cfg != NULL);
	REQUIRE(dialback_secret_set(&f->edge->dialback, "0123456789abcdef0123456789abcdef", 32) == 0);
	f->listener.edge = f->edge;
	f->listener.kind = kind;
	snprintf(f->listener.addr, sizeof(f->listener.addr), "memory");
	f->peer = s2s_pipe_mem_new(&f->loop);
	REQUIRE(f->peer != NULL);
	memset(&peer, 0, sizeof(peer));
	peer.sin_family = AF_INET;
	peer.sin_port = htons(40000);
	inet_pton(AF_INET, "192.0.2.7", &peer.sin_addr);
	REQUIRE(s2s_in_start(&f->listener, f->peer, (struct sockaddr *)&peer) == 0);
	CHECK_INT_EQ(f->edge->stream_count, 1);
}

/* Runs the loop until it has nothing left: the stream must be gone. */
static void
ts_teardown(struct ts_fixture *f)
{
	s2s_pipe_mem_release(f->peer);
	CHECK_INT_EQ(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	CHECK_INT_EQ(f->edge->stream_count, 0);
	CHECK(f->edge->streams == NULL);
	CHECK_INT_EQ(f->edge->streams_unauthenticated, 0);
	CHECK_INT_EQ(uv_loop_close(&f->loop), 0);
	log_set_observer(NULL, NULL);
	prefix_count_clear(&f->edge->peer_prefixes);
	config_free(f->edge->cfg);
	free(f->edge);
}

/* Turns of the loop until the output holds want (or 200 turns). */
static int
ts_wait_output(struct ts_fixture *f, const char *want)
{
	int i;

	for (i = 0; i < 200; i++) {
		if (strstr(s2s_pipe_mem_peer_output(f->peer, NULL), want) != NULL)
			return 1;
		uv_run(&f->loop, UV_RUN_NOWAIT);
	}
	return 0;
}

static size_t
ts_count(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/*
 * Issue 14, the deferred free: dialback answers that overflow the send
 * queue during authentication.  The peer (the authoritative-server
 * role's asker) does not read and pipelines <db:verify/> questions, and a
 * stanza, behind its header; one of our answers overflows
 * limits.send_queue_bytes inside the element callback.  The stream must
 * be closed once, nothing after the overflowing answer may be handled
 * (no answer, no stanza routed, no state change on the closing stream),
 * and it must be freed once, from the loop, leaving nothing open.
 */
TEST(s2s_in_dialback_answer_overflow_closes_and_frees_once)
{
	struct ts_fixture f;
	char verify[256];
	size_t i, answers, out_len;
	const char *out;
	int n;

	ts_setup(&f, LISTENER_STARTTLS);
	REQUIRE(s2s_pipe_mem_peer_sendstr(f.peer, TS_HDR) == 0);
	REQUIRE(ts_wait_output(&f, "<dialback xmlns='urn:xmpp:features:dialback'>"));
	/* The peer stops reading; 1000 answers of ~100 bytes are well past
	 * the 64 KiB queue. */
	s2s_pipe_mem_set_stalled(f.peer, 1);
	for (i = 0; i < 1000; i++) {
		n = snprintf(verify, sizeof(verify), "<db:verify from='b.example' to='a.example' "
		    "id='id%zu'>00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff</db:verify>", i);
		REQUIRE(n > 0 && (size_t)n < sizeof(verify));
		REQUIRE(s2s_pipe_mem_peer_send(f.peer, verify, (size_t)n) == 0);
	}
	REQUIRE(s2s_pipe_mem_peer_sendstr(f.peer,
	    "<message from='u@b.example' to='v@a.example' id='after'/>") == 0);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	out = s2s_pipe_mem_peer_output(f.peer, &out_len);
	answers = ts_count(out, "<db:verify from='a.example' to='b.example'");
	CHECK(answers > 100 && answers < 1000);		/* it did overflow, mid-way */
	CHECK(out_len <= 65536 + 4096);			/* nothing past the bound */
	CHECK_INT_EQ(f.closes, 1);
	CHECK_INT_EQ(f.queue_full_closes, 1);
	CHECK_INT_EQ(f.state_refused, 0);
	CHECK_INT_EQ(f.routed_events, 0);
	CHECK_INT_EQ(f.edge->stats.stanzas_routed, 0);
	CHECK_INT_EQ(f.edge->stats.dialback_verify_answered, answers + 1);	/* the one that overflowed */
	ts_teardown(&f);
}

/* The peer's stream is refused before authentication when it sends a
 * stanza: not-authorized, closed, freed, nothing routed. */
TEST(s2s_in_stanza_before_auth_refused)
{
	struct ts_fixture f;

	ts_setup(&f, LISTENER_STARTTLS);
	REQUIRE(s2s_pipe_mem_peer_sendstr(f.peer, TS_HDR
	    "<message from='u@b.example' to='v@a.example' id='early'/>") == 0);
	uv_run(&f.loop, UV_RUN_DEFAULT);
	CHECK(strstr(s2s_pipe_mem_peer_output(f.peer, NULL), "<not-authorized") != NULL);
	CHECK_INT_EQ(f.closes, 1);
	CHECK_INT_EQ(f.edge->stats.stanzas_routed, 0);
	ts_teardown(&f);
}
