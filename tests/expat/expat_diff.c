/* SPDX-License-Identifier: Apache-2.0 */
/*
 * expat_diff.c - differential check of proxy/xmlstream.c against libexpat.
 *
 * For a well-formed XMPP stream both parsers must agree on: acceptance,
 * the byte boundaries of every top-level element (expat's byte index at
 * its start and end tag), its expanded name, the decoded values of
 * to/from/type/id/xml:lang, and the stream header's attributes and
 * namespace declarations.  Inputs are the files given on the command line
 * plus N generated streams (random stanzas: nesting, both quote styles,
 * references, CDATA, multi-byte UTF-8, prefixes from the header and local
 * ones).  Each input is one test; the last line is "N passed, N failed".
 *
 * Test-only: links -lexpat; nothing in proxy/ depends on expat.
 */
#include <expat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmlstream.h"

#define ED_MAX_EL	4096
#define ED_VAL		1024

struct ed_el {
	long	start, end;		/* byte offsets, end exclusive */
	char	name[512];		/* "ns local" */
	char	to[ED_VAL], from[ED_VAL], type[ED_VAL], id[ED_VAL];
	char	lang[ED_VAL];
	int	has_to, has_from, has_type, has_id, has_lang;
};

struct ed_result {
	int		ok;
	struct ed_el	hdr;
	char		hdr_decls[4096];	/* "p=uri;" in order */
	char		version[64];
	struct ed_el	*els;
	size_t		nel;
	int		closed;
};

struct ed_ctx {
	XML_Parser		p;
	struct ed_result	*r;
	int			depth;
};

static void
ed_set(char *dst, int *has, const char *v)
{
	snprintf(dst, ED_VAL, "%s", v);
	*has = 1;
}

static void
ed_attrs(struct ed_el *e, const char **atts, char *version)
{
	size_t i;

	for (i = 0; atts[i]; i += 2) {
		const char *n = atts[i], *v = atts[i + 1];

		if (strcmp(n, "to") == 0)
			ed_set(e->to, &e->has_to, v);
		else if (strcmp(n, "from") == 0)
			ed_set(e->from, &e->has_from, v);
		else if (strcmp(n, "type") == 0)
			ed_set(e->type, &e->has_type, v);
		else if (strcmp(n, "id") == 0)
			ed_set(e->id, &e->has_id, v);
		else if (strcmp(n, XMLSTREAM_NS_XML " lang") == 0)
			ed_set(e->lang, &e->has_lang, v);
		else if (version && strcmp(n, "version") == 0)
			snprintf(version, 64, "%s", v);
	}
}

static void XMLCALL
ed_start(void *ud, const char *name, const char **atts)
{
	struct ed_ctx *c = ud;
	struct ed_result *r = c->r;
	struct ed_el *e = NULL;

	if (c->depth == 0) {
		e = &r->hdr;
		ed_attrs(e, atts, r->version);
	} else if (c->depth == 1 && r->nel < ED_MAX_EL) {
		e = &r->els[r->nel];
		memset(e, 0, sizeof(*e));
		e->start = XML_GetCurrentByteIndex(c->p);
		ed_attrs(e, atts, NULL);
	}
	if (e)
		snprintf(e->name, sizeof(e->name), "%s", name);
	c->depth++;
}

static void XMLCALL
ed_end(void *ud, const char *name)
{
	struct ed_ctx *c = ud;

	(void)name;
	c->depth--;
	if (c->depth == 1 && c->r->nel < ED_MAX_EL) {
		c->r->els[c->r->nel].end = XML_GetCurrentByteIndex(c->p) +
		    XML_GetCurrentByteCount(c->p);
		c->r->nel++;
	} else if (c->depth == 0)
		c->r->closed = 1;
}

static void XMLCALL
ed_ns(void *ud, const char *prefix, const char *uri)
{
	struct ed_ctx *c = ud;
	size_t l = strlen(c->r->hdr_decls);

	if (c->depth == 0)
		snprintf(c->r->hdr_decls + l, sizeof(c->r->hdr_decls) - l,
		    "%s=%s;", prefix ? prefix : "", uri ? uri : "");
}

static void
ed_expat(const char *in, size_t len, struct ed_result *r)
{
	struct ed_ctx c;

	memset(&c, 0, sizeof(c));
	c.p = XML_ParserCreateNS("UTF-8", ' ');
	c.r = r;
	XML_SetUserData(c.p, &c);
	XML_SetElementHandler(c.p, ed_start, ed_end);
	XML_SetNamespaceDeclHandler(c.p, ed_ns, NULL);
	r->ok = XML_Parse(c.p, in, (int)len, 1) == XML_STATUS_OK;
	if (!r->ok)
		fprintf(stderr, "  expat: %s at line %lu\n",
		    XML_ErrorString(XML_GetErrorCode(c.p)),
		    XML_GetCurrentLineNumber(c.p));
	XML_ParserFree(c.p);
}

static int ed_fail_count;

static void
ed_fail(const char *what, ...)
{
	va_list ap;

	fprintf(stderr, "  mismatch: ");
	va_start(ap, what);
	vfprintf(stderr, what, ap);
	va_end(ap);
	fputc('\n', stderr);
	ed_fail_count++;
}

static void
ed_cmp_val(const char *what, int has, const char *want,
    struct xmlstream_str got)
{
	if (!has && got.p == NULL)
		return;
	if (!has || got.p == NULL || strlen(want) != got.len ||
	    memcmp(want, got.p, got.len) != 0)
		ed_fail("%s: expat '%s' xmlstream '%.*s'", what,
		    has ? want : "(absent)", got.p ? (int)got.len : 8,
		    got.p ? got.p : "(absent)");
}

static void
ed_cmp_el(const struct ed_el *e, const struct xmlstream_event *ev,
    int stanza)
{
	char name[600];

	if (ev->ns.len)
		snprintf(name, sizeof(name), "%.*s %.*s", (int)ev->ns.len,
		    ev->ns.p, (int)ev->name.len, ev->name.p);
	else
		snprintf(name, sizeof(name), "%.*s", (int)ev->name.len,
		    ev->name.p);
	if (strcmp(name, e->name) != 0)
		ed_fail("name: expat '%s' xmlstream '%s'", e->name, name);
	ed_cmp_val("to", e->has_to, e->to, ev->to);
	ed_cmp_val("from", e->has_from, e->from, ev->from);
	ed_cmp_val("id", e->has_id, e->id, ev->id);
	ed_cmp_val("xml:lang", e->has_lang, e->lang, ev->lang);
	if (stanza)
		ed_cmp_val("type", e->has_type, e->type, ev->stanza_type);
}

/* Parses with xmlstream, in reads of 'step' bytes, comparing as it goes. */
static void
ed_check(const char *in, size_t len, const struct ed_result *r, size_t step)
{
	struct xmlstream_limits lim;
	struct xmlstream *s;
	struct xmlstream_event ev;
	size_t off = 0, n, nel = 0, i;
	int closed = 0, opened = 0;
	char decls[4096];

	xmlstream_limits_postauth(&lim);
	s = xmlstream_new(&lim, NULL);
	if (s == NULL)
		abort();
	while (!closed) {
		n = len - off < step ? len - off : step;
		off += xmlstream_feed(s, in + off, n);
		while (xmlstream_next(s, &ev) != XMLSTREAM_EV_NONE) {
			switch (ev.type) {
			case XMLSTREAM_EV_STREAM_OPEN:
				opened = 1;
				ed_cmp_el(&r->hdr, &ev, 0);
				ed_cmp_val("version", 1, r->version,
				    ev.version);
				decls[0] = '\0';
				/* expat reports declarations in document
				 * order, the default one included. */
				for (i = 0; i < ev.nprefixes + 1; i++) {
					size_t l = strlen(decls);
					struct xmlstream_str p = { "", 0 }, u;

					if (i < ev.nprefixes) {
						p = ev.prefixes[i].prefix;
						u = ev.prefixes[i].uri;
					} else
						u = ev.default_ns;
					snprintf(decls + l, sizeof(decls) - l,
					    "%.*s=%.*s;", (int)p.len, p.p,
					    (int)u.len, u.p);
				}
				if (strlen(decls) != strlen(r->hdr_decls))
					ed_fail("header declarations: expat "
					    "'%s' xmlstream '%s'",
					    r->hdr_decls, decls);
				break;
			case XMLSTREAM_EV_ELEMENT:
				if (nel >= r->nel) {
					ed_fail("extra element");
					goto out;
				}
				if ((size_t)(r->els[nel].end -
				    r->els[nel].start) != ev.raw.len ||
				    memcmp(in + r->els[nel].start, ev.raw.p,
				    ev.raw.len) != 0)
					ed_fail("element %zu span: expat "
					    "[%ld,%ld) xmlstream %zu bytes",
					    nel, r->els[nel].start,
					    r->els[nel].end, ev.raw.len);
				ed_cmp_el(&r->els[nel], &ev, 1);
				nel++;
				break;
			case XMLSTREAM_EV_STREAM_CLOSE:
				closed = 1;
				break;
			case XMLSTREAM_EV_ERROR:
				ed_fail("xmlstream error %s: %s",
				    stream_error_name(ev.cond), ev.text);
				goto out;
			default:
				break;
			}
		}
		if (off == len && !closed) {
			ed_fail("xmlstream did not see the close");
			break;
		}
	}
	if (!opened)
		ed_fail("no stream open");
	if (nel != r->nel)
		ed_fail("element count: expat %zu xmlstream %zu", r->nel, nel);
out:
	xmlstream_free(s);
}

/* ---- generator ---- */

struct ed_gen {
	char	*p;
	size_t	 len, cap;
	uint64_t rng;
};

static unsigned
ed_rand(struct ed_gen *g, unsigned n)
{
	g->rng ^= g->rng << 13;
	g->rng ^= g->rng >> 7;
	g->rng ^= g->rng << 17;
	return (unsigned)(g->rng % n);
}

static void
ed_put(struct ed_gen *g, const char *s)
{
	size_t n = strlen(s);

	if (g->len + n + 1 > g->cap) {
		g->cap = (g->len + n + 1) * 2;
		if ((g->p = realloc(g->p, g->cap)) == NULL)
			abort();
	}
	memcpy(g->p + g->len, s, n + 1);
	g->len += n;
}

static const char *const ed_names[] = {
	"body", "x", "query", "item", "thread", "subject", "\xc3\xa9t\xc3\xa9",
	"a-b.c_d", "n1", "data", "\xe4\xb8\xad\xe6\x96\x87"
};
static const char *const ed_texts[] = {
	"hello", " ", "&amp;", "&lt;tag&gt;", "&#x1F600;", "&#233;",
	"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "]]&gt;", "x]", ">", "a\r\nb\tc",
	"<![CDATA[ <not> & markup ]]>", "&quot;&apos;", "\xef\xbf\xbd",
	"\n  ", "x"
};
static const char *const ed_vals[] = {
	"juliet@a.example", "b.example/r\xc3\xa9s", "a&amp;b", "&#x40;",
	"say \"hi\"", "it's", "tab\there", "nl\r\nx", "&lt;&gt;", "",
	"\xe2\x82\xac", "&#9;&#10;"
};

static void
ed_gen_value(struct ed_gen *g)
{
	const char *v = ed_vals[ed_rand(g, sizeof(ed_vals) /
	    sizeof(ed_vals[0]))];
	int dq = strchr(v, '\'') != NULL ||
	    (strchr(v, '"') == NULL && ed_rand(g, 2));

	ed_put(g, dq ? "\"" : "'");
	ed_put(g, v);
	ed_put(g, dq ? "\"" : "'");
}

static void
ed_gen_elem(struct ed_gen *g, int depth, int top)
{
	static const char *const tops[] = { "message", "presence", "iq",
	    "db:result", "db:verify" };
	char name[64];
	unsigned i, n;
	int prefixed = 0;

	if (top)
		snprintf(name, sizeof(name), "%s",
		    tops[ed_rand(g, sizeof(tops) / sizeof(tops[0]))]);
	else if (ed_rand(g, 4) == 0) {
		snprintf(name, sizeof(name), "p%d:%s", depth,
		    ed_names[ed_rand(g, sizeof(ed_names) /
		    sizeof(ed_names[0]))]);
		prefixed = 1;
	} else
		snprintf(name, sizeof(name), "%s", ed_names[ed_rand(g,
		    sizeof(ed_names) / sizeof(ed_names[0]))]);
	ed_put(g, "<");
	ed_put(g, name);
	if (prefixed) {
		char d[64];

		snprintf(d, sizeof(d), " xmlns:p%d='urn:p%d'", depth,
		    ed_rand(g, 3));
		ed_put(g, d);
	}
	if (!top && ed_rand(g, 3) == 0)
		ed_put(g, " xmlns='urn:example:child'");
	if (top) {
		static const char *const an[] = { "to", "from", "type", "id",
		    "xml:lang" };

		for (i = 0; i < 5; i++)
			if (ed_rand(g, 3)) {
				ed_put(g, ed_rand(g, 4) ? " " : "\n\t ");
				ed_put(g, an[i]);
				ed_put(g, ed_rand(g, 5) ? "=" : " = ");
				ed_gen_value(g);
			}
	} else if (ed_rand(g, 2)) {
		ed_put(g, " k");
		ed_put(g, ed_rand(g, 2) ? "1=" : "2=");
		ed_gen_value(g);
	}
	if (ed_rand(g, 4) == 0) {
		ed_put(g, ed_rand(g, 2) ? "/>" : " />");
		return;
	}
	ed_put(g, ">");
	n = depth < 6 ? ed_rand(g, 4) : 0;
	for (i = 0; i < n; i++) {
		if (ed_rand(g, 2))
			ed_put(g, ed_texts[ed_rand(g, sizeof(ed_texts) /
			    sizeof(ed_texts[0]))]);
		else
			ed_gen_elem(g, depth + 1, 0);
	}
	if (ed_rand(g, 8) == 0) {	/* a big text node */
		unsigned k, m = ed_rand(g, 20000);

		for (k = 0; k < m; k += 10)
			ed_put(g, "0123456789");
	}
	ed_put(g, "</");
	ed_put(g, name);
	ed_put(g, ed_rand(g, 5) ? ">" : " >");
}

static void
ed_generate(struct ed_gen *g, unsigned seed)
{
	unsigned i, n;

	g->len = 0;
	g->rng = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)seed * 0x2545f4914f6cdd1dULL);
	if (ed_rand(g, 2))
		ed_put(g, ed_rand(g, 2) ? "<?xml version='1.0'?>" :
		    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	ed_put(g, "<stream:stream xmlns='jabber:server' "
	    "xmlns:stream='http://etherx.jabber.org/streams' "
	    "xmlns:db='jabber:server:dialback' ");
	ed_put(g, ed_rand(g, 2) ? "to='a.example' " : "to=\"a&#46;example\" ");
	ed_put(g, "from='b.example' version='1.0' id='s1' xml:lang='en'>");
	n = 1 + ed_rand(g, 12);
	for (i = 0; i < n; i++) {
		if (ed_rand(g, 3) == 0)
			ed_put(g, ed_rand(g, 2) ? " " : "\r\n\t");
		ed_gen_elem(g, 1, 1);
	}
	ed_put(g, "</stream:stream>");
}

static int
ed_run_one(const char *label, const char *in, size_t len)
{
	static struct ed_result r;
	static size_t steps[] = { 1, 7, 4096, (size_t)-1 };
	size_t i;
	int before = ed_fail_count;

	if (r.els == NULL && (r.els = calloc(ED_MAX_EL,
	    sizeof(*r.els))) == NULL)
		abort();
	{
		struct ed_el *keep = r.els;

		memset(&r, 0, sizeof(r));
		r.els = keep;
	}
	ed_expat(in, len, &r);
	if (!r.ok) {
		ed_fail("expat rejects the input (not a well-formed test)");
	} else {
		for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
			if (steps[i] == 1 && len > 20000)
				continue;	/* keep the run short */
			ed_check(in, len, &r, steps[i] == (size_t)-1 ? len :
			    steps[i]);
		}
	}
	printf("%s %s (%zu bytes, %zu elements)\n",
	    ed_fail_count == before ? "ok  " : "FAIL", label, len, r.nel);
	return ed_fail_count == before;
}

int
main(int argc, char **argv)
{
	struct ed_gen g = { NULL, 0, 0, 0 };
	unsigned ngen = 500, i;
	int a, passed = 0, failed = 0;
	char label[64];

	setvbuf(stdout, NULL, _IOLBF, 0);
	setvbuf(stderr, NULL, _IOLBF, 0);
	for (a = 1; a < argc; a++) {
		FILE *f;
		char *buf;
		long sz;

		if (strcmp(argv[a], "-n") == 0 && a + 1 < argc) {
			ngen = (unsigned)strtoul(argv[++a], NULL, 10);
			continue;
		}
		if ((f = fopen(argv[a], "rb")) == NULL ||
		    fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 ||
		    fseek(f, 0, SEEK_SET) != 0 ||
		    (buf = malloc((size_t)sz + 1)) == NULL ||
		    fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
			fprintf(stderr, "cannot read %s\n", argv[a]);
			failed++;
			if (f)
				fclose(f);
			continue;
		}
		fclose(f);
		if (ed_run_one(argv[a], buf, (size_t)sz))
			passed++;
		else
			failed++;
		free(buf);
	}
	for (i = 0; i < ngen; i++) {
		ed_generate(&g, i);
		snprintf(label, sizeof(label), "generated-%u", i);
		if (ed_run_one(label, g.p, g.len))
			passed++;
		else
			failed++;
	}
	free(g.p);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
