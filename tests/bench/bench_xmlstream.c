/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_xmlstream.c - tokenizer throughput against libexpat, same bytes,
 * same run.
 *
 * Builds a realistic s2s stream in memory (messages with bodies from
 * 100 B to 64 KiB, presence with caps and delay, IQs: disco, roster,
 * pubsub payloads with namespaces, references and multi-byte UTF-8),
 * then parses it repeatedly in 64 KiB reads:
 *   - with xmlstream (reserve/commit path, events drained, post-auth
 *     limits), and
 *   - with expat (XML_ParserCreateNS, start/end handlers tracking depth
 *     and counting top-level elements - the least an XMPP server does).
 * Prints MB/s for each (best of the repetitions) and the ratio.
 * Not a timed test: run by tests/bench/run_xmlstream.sh, built -O2.
 */
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xmlstream.h"

#define BENCH_READ	65536
#define BENCH_TARGET	(32u * 1024 * 1024)	/* bytes of stream */

struct bench_buf {
	char	*p;
	size_t	 len, cap;
	unsigned rng;
};

static unsigned
bench_rand(struct bench_buf *b, unsigned n)
{
	b->rng = b->rng * 1103515245u + 12345u;
	return (b->rng >> 8) % n;
}

static void
bench_put(struct bench_buf *b, const char *s, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		if ((b->p = realloc(b->p, b->cap)) == NULL)
			abort();
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
bench_puts(struct bench_buf *b, const char *s)
{
	bench_put(b, s, strlen(s));
}

/* Body text: mostly ASCII words, some UTF-8 and escapes. */
static void
bench_text(struct bench_buf *b, size_t n)
{
	static const char *const words[] = { "hello ", "world ", "the ",
	    "quick ", "brown ", "fox ", "jumps ", "over ", "lazy ", "dog ",
	    "caf\xc3\xa9 ", "\xe2\x82\xac\x35 ", "&amp; ", "&lt;3 ", "ok\n",
	    "\xf0\x9f\x98\x80 ", "see https://example.org/a?b=c&amp;d=e " };
	size_t start = b->len;

	while (b->len - start < n)
		bench_puts(b, words[bench_rand(b, sizeof(words) /
		    sizeof(words[0]))]);
}

static void
bench_message(struct bench_buf *b, unsigned i)
{
	static const size_t sizes[] = { 100, 200, 400, 1000, 4000, 16000,
	    65536 };
	char hdr[256];
	size_t sz = sizes[bench_rand(b, 100) < 60 ? bench_rand(b, 3) :
	    bench_rand(b, 100) < 85 ? 3 + bench_rand(b, 2) :
	    5 + bench_rand(b, 2)];

	snprintf(hdr, sizeof(hdr), "<message from='juliet@capulet.example/"
	    "balcony' to='romeo@montague.example' type='chat' id='m%u' "
	    "xml:lang='en'><body>", i);
	bench_puts(b, hdr);
	bench_text(b, sz > 200 ? sz - 200 : 60);
	bench_puts(b, "</body><thread>e0ffe42b28561960c6b12b944a092794b9683a38"
	    "</thread><active xmlns='http://jabber.org/protocol/chatstates'/>"
	    "<request xmlns='urn:xmpp:receipts'/></message>");
}

static void
bench_presence(struct bench_buf *b, unsigned i)
{
	char s[1024];

	snprintf(s, sizeof(s), "<presence from='user%u@capulet.example/"
	    "laptop' to='romeo@montague.example' id='p%u'><show>away</show>"
	    "<status>Out for lunch \xe2\x98\x95</status><priority>5</priority>"
	    "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
	    "node='https://conversations.im' ver='QgayPKawpkPSDYmwT/WM94uAlu0='"
	    "/><delay xmlns='urn:xmpp:delay' from='capulet.example' "
	    "stamp='2002-09-10T23:41:07Z'/></presence>", i, i);
	bench_puts(b, s);
}

static void
bench_iq(struct bench_buf *b, unsigned i)
{
	char s[512];
	unsigned k, n;

	snprintf(s, sizeof(s), "<iq type='result' id='iq%u' "
	    "from='capulet.example' to='romeo@montague.example/orchard'>", i);
	bench_puts(b, s);
	switch (bench_rand(b, 3)) {
	case 0:
		bench_puts(b, "<query xmlns='http://jabber.org/protocol/"
		    "disco#info'><identity category='server' type='im' "
		    "name='Capulet'/><feature var='http://jabber.org/protocol/"
		    "disco#info'/><feature var='urn:xmpp:ping'/><feature "
		    "var='jabber:iq:version'/><feature var='urn:xmpp:time'/>"
		    "</query>");
		break;
	case 1:
		bench_puts(b, "<query xmlns='jabber:iq:roster' ver='ver7'>");
		n = 5 + bench_rand(b, 60);
		for (k = 0; k < n; k++) {
			snprintf(s, sizeof(s), "<item jid='contact%u@example."
			    "org' name='Contact &#x2013; %u' subscription="
			    "'both'><group>Friends</group></item>", k, k);
			bench_puts(b, s);
		}
		bench_puts(b, "</query>");
		break;
	default:
		bench_puts(b, "<pubsub xmlns='http://jabber.org/protocol/pubsub'"
		    "><items node='urn:xmpp:microblog:0'><item id='1cb57d9c'>"
		    "<entry xmlns='http://www.w3.org/2005/Atom' xmlns:a='urn:a'>"
		    "<title type='text'>hanging out</title><a:x a:y='1'/>"
		    "<published>2003-12-13T18:30:02Z</published><content>");
		bench_text(b, 300 + bench_rand(b, 3000));
		bench_puts(b, "</content></entry></item></items></pubsub>");
		break;
	}
	bench_puts(b, "</iq>");
}

static void
bench_build(struct bench_buf *b)
{
	unsigned i = 0, r;

	bench_puts(b, "<?xml version='1.0'?><stream:stream xmlns='jabber:"
	    "server' xmlns:stream='http://etherx.jabber.org/streams' "
	    "xmlns:db='jabber:server:dialback' to='montague.example' "
	    "from='capulet.example' version='1.0' id='s1'>");
	while (b->len < BENCH_TARGET) {
		r = bench_rand(b, 100);
		if (r < 45)
			bench_message(b, i);
		else if (r < 80)
			bench_presence(b, i);
		else
			bench_iq(b, i);
		if (bench_rand(b, 10) == 0)
			bench_puts(b, "\n");	/* keepalive */
		i++;
	}
	bench_puts(b, "</stream:stream>");
}

static double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
bench_xmlstream(const char *p, size_t len)
{
	struct xmlstream_limits lim;
	struct xmlstream *s;
	struct xmlstream_event ev;
	size_t off = 0, n, nel = 0;
	void *dst;

	xmlstream_limits_postauth(&lim);
	if ((s = xmlstream_new(&lim, XMLSTREAM_NS_SERVER)) == NULL)
		abort();
	while (off < len) {
		if (xmlstream_reserve(s, &dst, &n) != 0 || n == 0)
			abort();
		if (n > BENCH_READ)
			n = BENCH_READ;
		if (n > len - off)
			n = len - off;
		memcpy(dst, p + off, n);	/* stands for read(2) */
		xmlstream_commit(s, n);
		off += n;
		while (xmlstream_next(s, &ev) != XMLSTREAM_EV_NONE) {
			if (ev.type == XMLSTREAM_EV_ERROR) {
				fprintf(stderr, "xmlstream: %s: %s\n",
				    stream_error_name(ev.cond), ev.text);
				abort();
			}
			if (ev.type == XMLSTREAM_EV_ELEMENT)
				nel++;
		}
	}
	xmlstream_free(s);
	return nel;
}

struct bench_expat {
	int	depth;
	size_t	nel;
};

static void XMLCALL
bench_start(void *ud, const char *name, const char **atts)
{
	struct bench_expat *c = ud;

	(void)name;
	(void)atts;
	c->depth++;
}

static void XMLCALL
bench_end(void *ud, const char *name)
{
	struct bench_expat *c = ud;

	(void)name;
	if (--c->depth == 1)
		c->nel++;
}

static size_t
bench_expat(const char *p, size_t len)
{
	struct bench_expat c = { 0, 0 };
	XML_Parser x = XML_ParserCreateNS(NULL, ' ');
	size_t off = 0, n;
	void *dst;

	XML_SetUserData(x, &c);
	XML_SetElementHandler(x, bench_start, bench_end);
	while (off < len) {
		n = len - off > BENCH_READ ? BENCH_READ : len - off;
		/* Same copy into the parser's own buffer as above. */
		if ((dst = XML_GetBuffer(x, (int)n)) == NULL)
			abort();
		memcpy(dst, p + off, n);
		if (XML_ParseBuffer(x, (int)n, 0) != XML_STATUS_OK) {
			fprintf(stderr, "expat: %s\n",
			    XML_ErrorString(XML_GetErrorCode(x)));
			abort();
		}
		off += n;
	}
	XML_ParserFree(x);
	return c.nel;
}

int
main(int argc, char **argv)
{
	struct bench_buf b = { NULL, 0, 0, 12345 };
	int reps = argc > 1 ? atoi(argv[1]) : 5, i;
	double t, best_x = 1e9, best_e = 1e9, mb;
	size_t nx = 0, ne = 0;

	bench_build(&b);
	mb = (double)b.len / (1024.0 * 1024.0);
	for (i = 0; i < reps; i++) {
		t = bench_now();
		nx = bench_xmlstream(b.p, b.len);
		t = bench_now() - t;
		if (t < best_x)
			best_x = t;
		t = bench_now();
		ne = bench_expat(b.p, b.len);
		t = bench_now() - t;
		if (t < best_e)
			best_e = t;
	}
	if (nx != ne) {
		fprintf(stderr, "element counts differ: %zu vs %zu\n", nx, ne);
		return 1;
	}
	printf("input: %.1f MiB, %zu top-level elements, best of %d runs, "
	    "%d-byte reads\n", mb, nx, reps, BENCH_READ);
	printf("xmlstream: %8.1f MB/s\n", mb / best_x);
	printf("expat:     %8.1f MB/s  (%s)\n", mb / best_e,
	    XML_ExpatVersion());
	printf("ratio:     %8.2fx\n", best_e / best_x);
	free(b.p);
	return 0;
}
