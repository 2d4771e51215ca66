/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_session.c - stateful libFuzzer target: the real session code
 * (s2s_in, s2s_in_auth, s2s_out and its verification streams, router,
 * bounce) on a real libuv loop, every remote end a scripted peer over the
 * memory pipe and every outgoing connection answered by the scripted
 * dialer (tests/unit/session_fixture.h).
 *
 * The input is a program: one opcode byte, then its arguments.  The
 * fuzzer chooses who connects, what each peer sends (stream headers,
 * features, dialback requests and answers, SASL, stanzas with chosen
 * from/to, stream errors, raw garbage), how each outgoing connection is
 * answered (connected, DNS or connect failure, now or later, never),
 * when time passes or a timer fires, when a peer stops reading (write
 * queue pressure), resets or half-closes, when the daemon shuts down,
 * and when it reloads a configuration that stops (or resumes) federation
 * with b.example (op 14, fz_reload).
 *
 * Invariants, asserted at every step (abort() on violation):
 *   - nothing is routed from an unauthenticated pair: router_route is
 *     wrapped (-Wl,--wrap=router_route); its source must be a live inbound
 *     stream whose peer has been told <db:result type='valid'/> for that
 *     exact (to, from) pair before the call;
 *   - nothing is routed from an outgoing stream (the source of every
 *     router_route is an inbound stream's tokenizer): XEP-0288 is offered
 *     to our streams (features of op 1) but no receiving server here has
 *     a valid certificate, so bidi is never asked for and every stanza on
 *     an outgoing stream stays refused;
 *   - a stanza is written to an inbound stream only when its peer asked
 *     for XEP-0288 (<bidi/>, op 16) and was told <db:result type='valid'/>
 *     for the stanza's (from, to) domains: the pair its stream carries
 *     back (s2s_in_bidi.c; here the stanzas are bounces);
 *   - every accepted stanza (each carries a unique id f<N>) is delivered
 *     or bounced exactly once: at most one element with its id reaches
 *     any peer, and at the end
 *         accepted == (ids seen at peers) + (losses the proxy logged)
 *     where a loss is a logged, counted failure to bounce (an error is
 *     not answered with an error, RFC 6120 §8.3.1; a bounce nobody can
 *     take, e.g. during shutdown);
 *   - XEP-0198 (sm.h): a stanza is routed with a custody tag exactly when
 *     its stream enabled stream management; every <a h/> the proxy writes
 *     to an inbound peer is at most the stanzas it took into custody from
 *     it (h counts settled ones only) and never goes back;
 *   - the proxy writes well-formed XML until TLS begins;
 *   - the end, libuv style: after shutdown the loop runs empty, no stream,
 *     dial, handle or request is left (sf_finish walks the loop: what
 *     uv_loop_close() would refuse; the one loop of the process is closed
 *     at exit and must close), and LeakSanitizer finds nothing.
 * ASan/UBSan catch the rest (use after free inside a send, double free).
 *
 * Seeds (tests/fuzz/corpus/session/) include the two high findings of
 * issue 14: dialback answers overflowing the send queue, and stanzas sent
 * by the receiving server on an outgoing stream.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "s2s_in_int.h"
#include "s2s_out.h"
#include "session_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CONFIG_WITH(b_entry) "{\"state_dir\": \"/tmp/x\", \"domains\": [{\"name\": \"a.example\"," \
	" \"cert\": \"/c\", \"key\": \"/k\"}], \"limits\": {\"send_queue_bytes\": 65536," \
	" \"route_queue_bytes\": 65536, \"dialback_verify_preauth_max\": 100000," \
	" \"connect_timeout_ms\": 5000, \"handshake_timeout_ms\": 30000}," \
	" \"gateway\": {\"address\": \"127.0.0.1:5999\", \"cert\": \"/gc\", \"key\": \"/gk\"," \
	" \"pins\": [\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]}," \
	" \"policy\": {\"partners\": {" \
	"\"b.example\": " b_entry ", \"c.example\": {\"tls\": \"disabled\"}," \
	"\"d.example\": {\"tls\": \"disabled\", \"dialback\": false}," \
	"\"o.example\": {\"tls\": \"optional\", \"max_connections\": 2}," \
	"\"evil.example\": {\"allow\": false}}}}"
#define FZ_CONFIG FZ_CONFIG_WITH("{\"tls\": \"disabled\"}")
/* After an operator's reload (op 14): b.example may no longer federate. */
#define FZ_CONFIG_B_REFUSED FZ_CONFIG_WITH("{\"tls\": \"disabled\", \"allow\": false}")

#define FZ_PEERS_MAX 24
#define FZ_STANZAS_MAX 512
#define FZ_PAIRS_MAX 16
#define FZ_QUESTIONS_MAX 8
#define FZ_KEY_MAX 160

#define FZ_FAIL(...) do { fprintf(stderr, "fuzz_session: invariant: " __VA_ARGS__); \
	fputc('\n', stderr); abort(); } while (0)

static const char *const fz_domains[] = {
	"a.example", "b.example", "c.example", "d.example", "evil.example",
	"o.example", "t.example", "A.Example", "x.invalid", "a.example.",
};
#define FZ_NDOMAINS (sizeof(fz_domains) / sizeof(fz_domains[0]))

static const enum dns_error fz_dns_errors[] = {
	DNS_ERR_NXDOMAIN, DNS_ERR_TIMEOUT, DNS_ERR_CONNECT_FAILED, DNS_ERR_CONNECT_TIMEOUT,
	DNS_ERR_SERVFAIL, DNS_ERR_BAD_NAME, DNS_ERR_NODATA, DNS_ERR_TARGETS_REFUSED,
};

static const uint64_t fz_delays_ms[] = { 0, 10, 1000, 2000, 5000, 30000, 600000, 900000 };

/* A question the proxy asked an out peer (its db:result or db:verify). */
struct fz_question {
	int verify;
	char from[64], to[64], id[128], key[FZ_KEY_MAX];
};

/* What the fuzzer knows of one peer, from the proxy's bytes. */
struct fz_peer {
	struct sf_peer *p;
	int opaque;		/* TLS began: no more XML to read */
	int proceed_sent;	/* it sent <proceed/>: what follows is TLS */
	int greeted;		/* an out peer sent its header and features */
	int bidi_sent;		/* it sent <bidi xmlns='urn:xmpp:bidi'/> */
	char valid[FZ_PAIRS_MAX][2][64];	/* (to, from) of db:result valid it got */
	size_t nvalid;
	struct fz_question q[FZ_QUESTIONS_MAX];
	size_t nq;
	unsigned custody_taken;	/* its stanzas routed with a custody tag */
	long long last_h;	/* the last <a h/> the proxy wrote to it (0 before) */
};

struct fz {
	struct sf sf;
	struct fz_peer peers[FZ_PEERS_MAX];
	size_t npeers;
	/* The ledger of stanzas sent with ids f0..fN. */
	unsigned nstanzas;
	uint8_t accepted[FZ_STANZAS_MAX];
	uint8_t seen[FZ_STANZAS_MAX];
	uint64_t accepted_total;
	int shut_down;
	/* Op 14's reloads: the configuration in force when it is not
	 * fz_cfg (freed at the next reload or the run's end). */
	struct config *reloaded;
	int b_refused;
	int trace;		/* FZ_TRACE=1: each op on stderr */
	const uint8_t *in;
	size_t left;
};

/* The one run in progress: router_route's wrapper reads it. */
static struct fz *fz_current;

static unsigned
fz_byte(struct fz *f)
{
	if (f->left == 0)
		return 0;
	f->left--;
	return *f->in++;
}

static const char *
fz_domain(struct fz *f)
{
	return fz_domains[fz_byte(f) % FZ_NDOMAINS];
}

/* --- reading what the proxy wrote ---------------------------------------- */

static struct fz_peer *
fz_peer_of(struct fz *f, struct sf_peer *p)
{
	size_t i;

	for (i = 0; i < f->npeers; i++)
		if (f->peers[i].p == p)
			return &f->peers[i];
	return NULL;
}

/* Peers the dialer made since the last look join the table. */
static void
fz_adopt_peers(struct fz *f)
{
	struct sf_peer *p;

	for (p = f->sf.peers; p != NULL; p = p->next)
		if (fz_peer_of(f, p) == NULL && f->npeers < FZ_PEERS_MAX) {
			memset(&f->peers[f->npeers], 0, sizeof(f->peers[0]));
			f->peers[f->npeers++].p = p;
		}
}

/* The f<N> of a stanza id, or -1. */
static int
fz_stanza_number(const char *id)
{
	char *end;
	unsigned long n;

	if (id[0] != 'f' || id[1] < '0' || id[1] > '9')
		return -1;
	n = strtoul(id + 1, &end, 10);
	if (*end != '\0' || n >= FZ_STANZAS_MAX)
		return -1;
	return (int)n;
}

/* The domain of a JID as the proxy wrote it (RFC 7622: after the first
 * '@' before the first '/'), into out, without a trailing dot: §3.2 has
 * it removed before any comparison (and case does not count either:
 * fz_valid_pair).  A bounce's 'from' is the stanza's 'to' as its sender
 * wrote it (bounce.h: byte for byte), "x@a.example." included, while the
 * pair that routes it is the canonical a.example. */
static void
fz_jid_domain(const char *jid, char *out, size_t cap)
{
	const char *slash = strchr(jid, '/'), *at = strchr(jid, '@');
	size_t len = slash != NULL ? (size_t)(slash - jid) : strlen(jid);

	if (at != NULL && (slash == NULL || at < slash)) {
		len -= (size_t)(at + 1 - jid);
		jid = at + 1;
	}
	if (len > 1 && jid[len - 1] == '.')
		len--;
	snprintf(out, cap, "%.*s", (int)(len < cap ? len : cap - 1), jid);
}

/* 1 if fp was told valid for (ours, theirs): its stream carries ours ->
 * theirs back once it asked for bidi. */
static int
fz_valid_pair(const struct fz_peer *fp, const char *ours, const char *theirs)
{
	size_t i;

	for (i = 0; i < fp->nvalid; i++)
		if (strcasecmp(fp->valid[i][0], ours) == 0 && strcasecmp(fp->valid[i][1], theirs) == 0)
			return 1;
	return 0;
}

static int
fz_is_stanza(const char *name)
{
	return strcmp(name, "message") == 0 || strcmp(name, "presence") == 0 ||
	    strcmp(name, "iq") == 0;
}

/* Everything the proxy wrote to fp so far, through the peer's tokenizer:
 * stanzas counted, answers and questions noted. */
static void
fz_drain(struct fz *f, struct fz_peer *fp)
{
	struct sf_peer *p = fp->p;
	struct sf_event *e = &p->ev;
	enum xmlstream_event_type t;
	int n;

	while (!fp->opaque && (t = sf_peer_poll(p)) != XMLSTREAM_EV_NONE) {
		if (t == XMLSTREAM_EV_ERROR) {
			/* Well-formed until TLS: after <proceed/> either way
			 * the bytes are TLS records. */
			if (!fp->proceed_sent)
				FZ_FAIL("the proxy wrote bytes that are not XML to peer %d (%s)",
				    p->index, e->cond);
			fp->opaque = 1;
			return;
		}
		if (t != XMLSTREAM_EV_ELEMENT)
			continue;
		if (strcmp(e->name, "proceed") == 0) {
			fp->opaque = 1;	/* the proxy's TLS follows */
			return;
		}
		if (fz_is_stanza(e->name)) {
			if (p->role == SF_PEER_IN) {
				char from[64], to[64];

				fz_jid_domain(e->from, from, sizeof(from));
				fz_jid_domain(e->to, to, sizeof(to));
				if (!fp->bidi_sent || !fz_valid_pair(fp, from, to))
					FZ_FAIL("a stanza (%s, %s -> %s) was written to inbound peer %d "
					    "(bidi %s, pair %s)", e->id, from, to, p->index,
					    fp->bidi_sent ? "asked" : "not asked",
					    fz_valid_pair(fp, from, to) ? "valid" : "never valid");
			}
			n = fz_stanza_number(e->id);
			if (n >= 0 && ++f->seen[n] > 1)
				FZ_FAIL("stanza %s reached peers %u times", e->id, f->seen[n]);
			continue;
		}
		if (strcmp(e->ns, "urn:xmpp:sm:3") == 0 && strcmp(e->name, "a") == 0 &&
		    p->role == SF_PEER_IN) {
			const char *hq = e->raw != NULL ? strstr(e->raw, "h='") : NULL;
			long long h = hq != NULL ? strtoll(hq + 3, NULL, 10) : -1;

			/* Custody starts at 0 per stream: fewer than 2^32
			 * stanzas here, no wrap to allow for. */
			if (h < 0 || h > (long long)fp->custody_taken || h < fp->last_h)
				FZ_FAIL("peer %d got <a h='%lld'/> after %u stanzas in custody (last h %lld)",
				    p->index, h, fp->custody_taken, fp->last_h);
			fp->last_h = h;
			continue;
		}
		if (strcmp(e->ns, "jabber:server:dialback") != 0)
			continue;
		if (strcmp(e->name, "result") == 0 && strcmp(e->stype, "valid") == 0 &&
		    fp->nvalid < FZ_PAIRS_MAX) {
			snprintf(fp->valid[fp->nvalid][0], 64, "%s", e->from);
			snprintf(fp->valid[fp->nvalid][1], 64, "%s", e->to);
			fp->nvalid++;
		} else if (e->stype[0] == '\0' && p->role == SF_PEER_OUT && fp->nq < FZ_QUESTIONS_MAX) {
			struct fz_question *q = &fp->q[fp->nq++];
			const char *gt = e->raw != NULL ? strchr(e->raw, '>') : NULL;
			size_t k = 0;

			q->verify = strcmp(e->name, "verify") == 0;
			snprintf(q->from, sizeof(q->from), "%s", e->from);
			snprintf(q->to, sizeof(q->to), "%s", e->to);
			snprintf(q->id, sizeof(q->id), "%s", e->id);
			/* The key: the element's text (hex, written by us). */
			if (gt != NULL)
				for (gt++; gt[k] != '\0' && gt[k] != '<' && k + 1 < sizeof(q->key); k++)
					q->key[k] = gt[k];
			q->key[k] = '\0';
		}
	}
}

static void
fz_drain_all(struct fz *f)
{
	size_t i;

	fz_adopt_peers(f);
	for (i = 0; i < f->npeers; i++)
		fz_drain(f, &f->peers[i]);
}

/* --- the router, watched ----------------------------------------------------- */

/* s2s_in routes through router_route_tagged (the custody tag of XEP-0198,
 * sm.h): that is the call watched. */
enum route_result __real_router_route_tagged(struct edge *edge, const struct xmlstream *xs,
    const struct xmlstream_event *ev, const char *from_domain, const char *to_domain,
    struct route_waiter *waiter, const struct sm_tag *tag);
enum route_result __wrap_router_route_tagged(struct edge *edge, const struct xmlstream *xs,
    const struct xmlstream_event *ev, const char *from_domain, const char *to_domain,
    struct route_waiter *waiter, const struct sm_tag *tag);

enum route_result
__wrap_router_route_tagged(struct edge *edge, const struct xmlstream *xs,
    const struct xmlstream_event *ev, const char *from_domain, const char *to_domain,
    struct route_waiter *waiter, const struct sm_tag *tag)
{
	struct fz *f = fz_current;
	struct s2s_in *s;
	struct fz_peer *fp = NULL;
	char id[64];
	size_t i;
	int n;

	if (f == NULL)
		return __real_router_route_tagged(edge, xs, ev, from_domain, to_domain, waiter, tag);
	for (s = edge->streams; s != NULL; s = s->next)
		if (s2s_conn_xmlstream(s->conn) == xs)
			break;
	if (s == NULL)
		FZ_FAIL("a stanza from %s was routed from something that is not an inbound stream",
		    from_domain);
	if (s2s_in_is_closing(s))
		FZ_FAIL("a stanza was routed from a closing stream");
	/* Which peer: its port says (sf_peer_accept: 40000 + index). */
	for (i = 0; i < f->npeers; i++) {
		char port[16];

		snprintf(port, sizeof(port), ":%d", 40000 + f->peers[i].p->index);
		if (f->peers[i].p->role == SF_PEER_IN && strlen(s->peer) > strlen(port) &&
		    strcmp(s->peer + strlen(s->peer) - strlen(port), port) == 0)
			fp = &f->peers[i];
	}
	if (fp == NULL)
		FZ_FAIL("no peer for stream %s", s->peer);
	fz_drain(f, fp);
	for (i = 0; i < fp->nvalid; i++)
		if (strcmp(fp->valid[i][0], to_domain) == 0 && strcmp(fp->valid[i][1], from_domain) == 0)
			break;
	if (i == fp->nvalid)
		FZ_FAIL("a stanza from %s to %s was routed, but peer %d was never told that pair "
		    "is valid", from_domain, to_domain, fp->p->index);
	f->accepted_total++;
	n = -1;
	if (ev->id.p != NULL && ev->id.len < sizeof(id)) {
		memcpy(id, ev->id.p, ev->id.len);
		id[ev->id.len] = '\0';
		n = fz_stanza_number(id);
	}
	if (n >= 0 && ++f->accepted[n] > 1)
		FZ_FAIL("stanza f%d was accepted twice", n);
	/* Custody: tagged exactly when the stream enabled XEP-0198. */
	if ((tag != NULL && tag->slot != 0) != (s->sm_on && s->sm_slot != 0))
		FZ_FAIL("a stanza's custody tag does not match its stream's XEP-0198 state");
	if (tag != NULL && tag->slot != 0)
		fp->custody_taken++;
	return __real_router_route_tagged(edge, xs, ev, from_domain, to_domain, waiter, tag);
}

/* --- what peers send ------------------------------------------------------ */

static struct fz_peer *
fz_pick(struct fz *f)
{
	unsigned b = fz_byte(f);

	if (f->npeers == 0)
		return NULL;
	return &f->peers[b % f->npeers];
}

static const char fz_key[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/* One message from the dictionary, its parts chosen by the next bytes. */
static void
fz_message(struct fz *f, struct fz_peer *fp)
{
	static const char *const types[] = { "", " type='chat'", " type='error'", " type='get'",
	    " type='result'", " type='groupchat'" };
	static const char *const kinds[] = { "message", "presence", "iq" };
	static const char *const conds[] = { "host-unknown", "remote-connection-failed",
	    "policy-violation", "not-authorized", "system-shutdown", "conflict" };
	static const char *const answers[] = { "valid", "invalid", "error" };
	static const char *const hs[] = { "0", "1", "2", "3", "4294967295", "4294967296", "x", "-1", "",
	    "07" };
	unsigned op = fz_byte(f) % 24;
	const char *d1 = fz_domain(f), *d2 = fz_domain(f);

	switch (op) {
	case 0:
		(void)sf_peer_send_header(fp->p, d1, d2);
		break;
	case 1:
		(void)sf_peer_send(fp->p, "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/>"
		    "<bidi xmlns='urn:xmpp:features:bidi'/></stream:features>");
		break;
	case 2:
		(void)sf_peer_send(fp->p, "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
		    "<required/></starttls></stream:features>");
		break;
	case 3:
		(void)sf_peer_send(fp->p, "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
		    "<mechanism>EXTERNAL</mechanism></mechanisms></stream:features>");
		break;
	case 4:
		(void)sf_peer_sendf(fp->p, "<db:result from='%s' to='%s'>%s</db:result>", d1, d2, fz_key);
		break;
	case 5:
		(void)sf_peer_sendf(fp->p, "<db:result from='%s' to='%s' type='%s'/>", d1, d2, answers[fz_byte(f) % 3]);
		break;
	case 6:
		(void)sf_peer_sendf(fp->p, "<db:verify from='%s' to='%s' id='i%u'>%s</db:verify>", d1, d2, fz_byte(f), fz_key);
		break;
	case 7:
		(void)sf_peer_sendf(fp->p, "<db:verify from='%s' to='%s' id='i%u' type='%s'/>", d1, d2, fz_byte(f),
		    answers[fz_byte(f) % 3]);
		break;
	case 8:
		(void)sf_peer_send(fp->p, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
		break;
	case 9:
		fp->proceed_sent = 1;
		(void)sf_peer_send(fp->p, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
		break;
	case 10:
		(void)sf_peer_send(fp->p, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>");
		break;
	case 11:
		(void)sf_peer_send(fp->p, fz_byte(f) & 1 ? "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" :
		    "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>");
		break;
	case 12:
	case 13:
	case 14: {
		/* A stanza: unique id, chosen kind, type, addresses. */
		unsigned k = fz_byte(f), n = f->nstanzas < FZ_STANZAS_MAX ? f->nstanzas++ : FZ_STANZAS_MAX;
		const char *kind = kinds[k % 3];

		if (n == FZ_STANZAS_MAX)
			break;
		(void)sf_peer_sendf(fp->p, "<%s from='u@%s/r' to='%s%s' id='f%u'%s><body>b</body></%s>", kind, d1,
		    k & 8 ? "" : "v@", d2, n, types[(k >> 4) % 6], kind);
		break;
	}
	case 15:
		(void)sf_peer_sendf(fp->p, "<stream:error><%s xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
		    conds[fz_byte(f) % 6]);
		break;
	case 16: {
		/* Odd: the end; even: a keepalive, or (bit 1) XEP-0288's
		 * request, in whatever state the stream is. */
		unsigned b = fz_byte(f);

		if (b & 1) {
			(void)sf_peer_send(fp->p, "</stream:stream>");
		} else if (b & 2) {
			fp->bidi_sent = 1;
			(void)sf_peer_send(fp->p, "<bidi xmlns='urn:xmpp:bidi'/>");
		} else {
			(void)sf_peer_send(fp->p, " ");
		}
		break;
	}
	case 18: {
		/* A burst of <db:verify/> with long ids: answers that fill a
		 * queue the peer does not read (issue 14, finding 1). */
		unsigned count = 1 + fz_byte(f) * 2, idlen = 1 + fz_byte(f) % 120, i;
		char id[128];

		memset(id, 'v', idlen);
		id[idlen] = '\0';
		for (i = 0; i < count; i++)
			(void)sf_peer_sendf(fp->p, "<db:verify from='%s' to='%s' id='%s'>%s</db:verify>", d1, d2, id, fz_key);
		break;
	}
	/* XEP-0198 (sm.h, s2s_in_sm.c, s2s_out.c). */
	case 19:
		(void)sf_peer_send(fp->p, fz_byte(f) & 1 ? "<enable xmlns='urn:xmpp:sm:3' resume='true'/>" :
		    "<enable xmlns='urn:xmpp:sm:3'/>");
		break;
	case 20:
		(void)sf_peer_send(fp->p, "<r xmlns='urn:xmpp:sm:3'/>");
		break;
	case 21:
		(void)sf_peer_sendf(fp->p, "<a xmlns='urn:xmpp:sm:3' h='%s'/>", hs[fz_byte(f) % 10]);
		break;
	case 22:
		(void)sf_peer_send(fp->p, fz_byte(f) & 1 ? "<enabled xmlns='urn:xmpp:sm:3'/>" :
		    "<failed xmlns='urn:xmpp:sm:3'><unexpected-request "
		    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>");
		break;
	case 23:
		(void)sf_peer_send(fp->p, "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/>"
		    "<sm xmlns='urn:xmpp:sm:3'/></stream:features>");
		break;
	case 17: {
		/* Garbage: raw bytes from the input. */
		size_t len = fz_byte(f) % 64;

		char junk[64];

		if (len > f->left)
			len = f->left;
		/* Never an 'f': only the dictionary's stanzas carry the
		 * ledger's ids f<N>. */
		for (size_t i = 0; i < len; i++)
			junk[i] = f->in[i] == 'f' ? 'g' : (char)f->in[i];
		(void)s2s_pipe_mem_peer_send(fp->p->pipe, junk, len);
		f->in += len;
		f->left -= len;
		break;
	}
	}
}

/* The peer answers the oldest question the proxy asked it. */
static void
fz_answer(struct fz *f, struct fz_peer *fp)
{
	static const char *const answers[] = { "valid", "invalid", "error" };
	const char *type = answers[fz_byte(f) % 3];
	struct fz_question q;

	/* A receiving server that has not spoken yet opens its side first:
	 * header and dialback offered, and the question comes. */
	if (fp->p->role == SF_PEER_OUT && !fp->greeted) {
		fp->greeted = 1;
		(void)sf_peer_send_header(fp->p, fp->p->domain, "a.example");
		(void)sf_peer_send(fp->p, "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/>"
		    "</stream:features>");
		sf_settle(&f->sf);
		fz_drain(f, fp);
	}
	if (fp->nq == 0)
		return;
	q = fp->q[0];
	memmove(&fp->q[0], &fp->q[1], (fp->nq - 1) * sizeof(fp->q[0]));
	fp->nq--;
	if (q.verify)
		(void)sf_peer_sendf(fp->p, "<db:verify from='%s' to='%s' id='%s' type='%s'/>", q.to, q.from, q.id, type);
	else
		(void)sf_peer_sendf(fp->p, "<db:result from='%s' to='%s' type='%s'/>", q.to, q.from, type);
}

/* An inbound peer asks the proxy, as authoritative server, about a key
 * the proxy sent out (the honest other half of dialback). */
static void
fz_verify_back(struct fz *f, struct fz_peer *asker, struct fz_peer *out)
{
	size_t i;

	for (i = 0; i < out->nq; i++)
		if (!out->q[i].verify && out->p->role == SF_PEER_OUT) {
			(void)sf_peer_sendf(asker->p, "<db:verify from='%s' to='%s' id='sfpeer%d'>%s</db:verify>",
			    out->q[i].to, out->q[i].from, out->p->index, out->q[i].key);
			return;
		}
	(void)f;
}

static void
fz_script(struct fz *f)
{
	struct sf_dial_step steps[3];
	const char *domain = fz_domain(f);
	size_t n = 1 + fz_byte(f) % 3, i;

	for (i = 0; i < n; i++) {
		unsigned b = fz_byte(f);

		steps[i].kind = (enum sf_dial_kind)(b % 4);
		steps[i].err = fz_dns_errors[(b >> 2) % (sizeof(fz_dns_errors) / sizeof(fz_dns_errors[0]))];
	}
	/* The gateway's stream is dialled for a.example (its 'remote'). */
	sf_dial_script(&f->sf, domain, steps, n);
}

/* --- the run -------------------------------------------------------------------- */


/* daemon.c's first shutdown steps, amid everything else: authenticated
 * inbound streams get <system-shutdown/> and are read on until their
 * peer closes (s2s_in_shutdown_begin), or the first n stanzas queued on
 * each outgoing stream are bounced while it stays open
 * (s2s_out_bounce_queued).  Every stanza is still delivered or bounced
 * exactly once. */
static void
fz_shutdown_step(struct fz *f, uint8_t b)
{
	struct s2s_in *s, *next;
	struct s2s_out *o;

	if (b & 1) {
		for (s = f->sf.edge->streams; s != NULL; s = next) {
			next = s2s_in_next(s);
			s2s_in_shutdown_begin(s);
		}
		return;
	}
	for (o = f->sf.edge->out_streams; o != NULL; o = s2s_out_next(o))
		(void)s2s_out_bounce_queued(o, (size_t)(b >> 1));
}

/* A reload (SIGHUP) amid everything else, as daemon.c's edge_reload does
 * it for the sessions: the configuration alternates between FZ_CONFIG and
 * FZ_CONFIG_B_REFUSED (what is queued toward b.example is then bounced,
 * s2s_out_policy_reloaded), each parsed anew and the one it replaces
 * freed at once, so that anything still pointing into the old one is a
 * use after free ASan reports.  The run's own FZ_CONFIG (fz_cfg, parsed
 * once) is never freed: the edge goes back to it after sf_finish. */
static void
fz_reload(struct fz *f)
{
	const char *json = f->b_refused ? FZ_CONFIG : FZ_CONFIG_B_REFUSED;
	char err[CONFIG_ERR_MAX];
	struct config *next = config_parse("reload.json", json, strlen(json), 0, err, sizeof(err));

	if (next == NULL)
		FZ_FAIL("reload: %s", err);
	/* Not edge_config_replace: the first configuration is kept (above);
	 * the generation moves all the same, as streams' kept decisions
	 * must be made again (s2s_in.c). */
	f->sf.edge->cfg = next;
	f->sf.edge->cfg_generation++;
	config_free(f->reloaded);
	f->reloaded = next;
	f->b_refused = !f->b_refused;
	s2s_out_policy_reloaded(f->sf.edge);
}

static void
fz_step(struct fz *f)
{
	struct fz_peer *fp;
	unsigned op = fz_byte(f) % 16;
	char ip[32];

	if (f->trace)
		fprintf(stderr, "fuzz_session: op %u, %zu peers, %zu bytes left\n", op, f->npeers, f->left);

	switch (op) {
	case 0:
	case 1:
		if (f->shut_down || f->npeers >= FZ_PEERS_MAX)
			break;
		snprintf(ip, sizeof(ip), "192.0.2.%u", 1 + fz_byte(f) % 4);
		if (sf_peer_accept(&f->sf, NULL, ip) == NULL)
			FZ_FAIL("accept: %s", f->sf.err);
		fz_adopt_peers(f);
		break;
	case 2:
	case 3:
	case 4:
	case 5:
	case 6:
		if ((fp = fz_pick(f)) != NULL)
			fz_message(f, fp);
		break;
	case 7:
		if ((fp = fz_pick(f)) != NULL) {
			fz_drain(f, fp);
			fz_answer(f, fp);
		}
		break;
	case 8:
		if ((fp = fz_pick(f)) != NULL)
			sf_peer_stall(fp->p, fz_byte(f) & 1);
		break;
	case 9:
		if ((fp = fz_pick(f)) != NULL) {
			if (fz_byte(f) & 1)
				sf_peer_eof(fp->p);
			else
				sf_peer_reset(fp->p);
		}
		break;
	case 10:
		fz_script(f);
		break;
	case 11:
		(void)sf_advance(&f->sf, fz_delays_ms[fz_byte(f) % 8]);
		break;
	case 12:
		if (sf_timers_active(&f->sf) > 0)
			(void)sf_fire_timer(&f->sf, fz_byte(f) % sf_timers_active(&f->sf));
		break;
	case 13: {
		struct fz_peer *a = fz_pick(f), *o = fz_pick(f);

		if (a != NULL && o != NULL && a->p->role == SF_PEER_IN) {
			fz_drain(f, o);
			fz_verify_back(f, a, o);
		}
		break;
	}
	case 14: {
		uint8_t b = fz_byte(f);

		if (b % 8 == 0 && !f->shut_down) {
			f->shut_down = 1;
			sf_shutdown(&f->sf);
		} else if (b % 8 == 1) {
			fz_shutdown_step(f, fz_byte(f));
		} else if (b % 8 == 2) {
			fz_reload(f);
		}
		break;
	}
	case 15:
		break;	/* the loop turns below */
	}
	sf_settle(&f->sf);
	fz_drain_all(f);
}

/* Losses the proxy logged and counted: a bounce that could not be made or
 * taken, an error not answered with an error. */
static uint64_t
fz_losses(const struct fz *f)
{
	return sf_log_count(&f->sf, "route.error_not_bounced") +
	    sf_log_count(&f->sf, "route.bounce_failed") +
	    sf_log_count(&f->sf, "route.bounce_undeliverable") +
	    sf_log_count(&f->sf, "s2s_out.stanza_lost");
}

/* Parsed once: the sessions only read it. */
static struct config *fz_cfg;
static struct edge *fz_edge;
/* One loop for the process: a loop's set-up and tear-down (epoll, and
 * libuv's io_uring for epoll_ctl batching, mapped and unmapped) cost more
 * than a run.  Each run ends checking it for anything uv_loop_close would
 * refuse (sf_finish); it is closed for real, and must close, at exit. */
static uv_loop_t fz_loop;

static void
fz_close_loop(void)
{
	if (uv_loop_close(&fz_loop) != 0)
		FZ_FAIL("uv_loop_close failed at exit");
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[CONFIG_ERR_MAX];

	(void)argc;
	(void)argv;
	fz_cfg = config_parse("fuzz.json", FZ_CONFIG, strlen(FZ_CONFIG), 0, err, sizeof(err));
	fz_edge = malloc(sizeof(*fz_edge));
	if (fz_cfg == NULL || fz_edge == NULL || uv_loop_init(&fz_loop) != 0)
		FZ_FAIL("init: %s", err);
	atexit(fz_close_loop);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;
	static const struct sf_dial_step connected = { SF_DIAL_PEER, DNS_OK };
	uint64_t seen = 0;
	size_t i;

	memset(&f, 0, sizeof(f));
	if (sf_init_borrowed(&f.sf, fz_cfg, fz_edge, &fz_loop) < 0)
		FZ_FAIL("init: %s", f.sf.err);
	f.sf.default_step = connected;
	f.in = data;
	f.left = size;
	f.trace = getenv("FZ_TRACE") != NULL;
	fz_current = &f;
	while (f.left > 0)
		fz_step(&f);
	/* The end: the daemon's shutdown, every deadline passing. */
	if (!f.shut_down)
		sf_shutdown(&f.sf);
	for (i = 0; i < 16 && (f.sf.edge->streams != NULL || f.sf.edge->out_streams != NULL); i++) {
		sf_settle(&f.sf);
		(void)sf_advance(&f.sf, 900000);
		fz_drain_all(&f);
	}
	sf_settle(&f.sf);
	fz_drain_all(&f);
	for (i = 0; i < FZ_STANZAS_MAX; i++)
		if (f.accepted[i])
			seen += f.seen[i];
		else if (f.seen[i])
			FZ_FAIL("stanza f%zu reached a peer but was never accepted", i);
	if (f.accepted_total != seen + fz_losses(&f))
		FZ_FAIL("%llu stanzas accepted, %llu delivered or bounced, %llu losses logged",
		    (unsigned long long)f.accepted_total, (unsigned long long)seen,
		    (unsigned long long)fz_losses(&f));
	fz_current = NULL;
	if (sf_finish(&f.sf) < 0)
		FZ_FAIL("finish: %s", f.sf.err);
	config_free(f.reloaded);	/* fz_edge's next run starts with fz_cfg */
	f.reloaded = NULL;
	return 0;
}
