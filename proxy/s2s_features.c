/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_features.c - a negotiation element's children, read as elements
 * (see s2s_features.h).
 *
 * The element's bytes were validated by the stream's tokenizer; its
 * content (what lies between its start and end tags) is fed to a fresh
 * tokenizer behind a stream header that declares the same default and
 * 'stream' namespaces, so each child comes out as one ELEMENT event with
 * its local name and namespace resolved.  The cost is one small parser per
 * features element, a handful per stream.
 */
#include "s2s_features.h"

#include <stdio.h>
#include <string.h>

#include "xmlelem.h"

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"
#define NS_STREAM_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"
#define S2S_FEATURES_NS_MAX 256		/* a namespace we could compare with */

typedef int (*s2s_child_fn)(void *arg, const struct xmlstream_event *child);

/* The content of element ev (between its tags): 0 with *p and *len set (len 0 for
 * an empty element), or -1 if the bytes are not a whole element. */
static int
s2s_element_content(const struct xmlstream_event *ev, const char **p, size_t *len)
{
	const char *s = ev->raw.p, *end = ev->raw.p + ev->raw.len, *q;
	char quote = 0;

	if (s == NULL || ev->name_end > ev->raw.len)
		return -1;
	/* The start tag ends at the first '>' outside an attribute value. */
	for (q = s + ev->name_end; q < end; q++) {
		if (quote != 0) {
			if (*q == quote)
				quote = 0;
		} else if (*q == '\'' || *q == '"') {
			quote = *q;
		} else if (*q == '>') {
			break;
		}
	}
	if (q == end)
		return -1;
	if (q[-1] == '/') {		/* <x/> */
		*p = q + 1;
		*len = 0;
		return 0;
	}
	/* The end tag is the last '<' of a validated element. */
	for (s = end; s > q && *--s != '<';)
		;
	if (s <= q)
		return -1;
	*p = q + 1;
	*len = (size_t)(s - (q + 1));
	return 0;
}

/* Calls fn for each child element of ev, in order, until fn returns
 * non-zero (that value is returned).  -1 when the content cannot be
 * parsed. */
static int
s2s_element_children(const struct xmlstream_event *ev, s2s_child_fn fn, void *arg)
{
	char ns[S2S_FEATURES_NS_MAX], hdr[S2S_FEATURES_NS_MAX + 128];
	const struct xmlstream_str *scope;
	struct xmlstream_limits lim;
	struct xmlstream_event child;
	enum xmlstream_event_type t;
	struct xmlstream *xs;
	const char *content;
	size_t len;
	int rc = 0, n;

	if (s2s_element_content(ev, &content, &len) < 0)
		return -1;
	/* The children inherit the default namespace in scope: an
	 * unprefixed element's own (<starttls xmlns='...'>), else the
	 * stream's (<stream:features>).  It becomes the sub-stream's. */
	scope = ev->prefix.p == NULL && ev->ns.len > 0 ? &ev->ns : NULL;
	if (scope == NULL)
		snprintf(ns, sizeof(ns), "jabber:server");
	else if (scope->len >= sizeof(ns) || memchr(scope->p, '\'', scope->len) != NULL ||
	    memchr(scope->p, '<', scope->len) != NULL || memchr(scope->p, '&', scope->len) != NULL)
		return -1;	/* not a namespace we would compare with anyway */
	else
		snprintf(ns, sizeof(ns), "%.*s", (int)scope->len, scope->p);
	n = snprintf(hdr, sizeof(hdr), "<stream:stream xmlns='%s' "
	    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>", ns);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return -1;
	xmlstream_limits_default(&lim);
	xs = xmlstream_new(&lim, ns);
	if (xs == NULL)
		return -1;
	if (xmlstream_feed(xs, hdr, (size_t)n) != (size_t)n || xmlstream_feed(xs, content, len) != len) {
		xmlstream_free(xs);
		return -1;
	}
	while (rc == 0 && (t = xmlstream_next(xs, &child)) != XMLSTREAM_EV_NONE) {
		if (t == XMLSTREAM_EV_ERROR || t == XMLSTREAM_EV_STREAM_CLOSE) {
			rc = -1;
			break;
		}
		if (t == XMLSTREAM_EV_ELEMENT)
			rc = fn(arg, &child);
	}
	xmlstream_free(xs);
	return rc;
}

static int
s2s_features_on_starttls_child(void *arg, const struct xmlstream_event *c)
{
	struct s2s_features *f = arg;

	if (xmlstream_str_eq(&c->name, "required") && xmlstream_str_eq(&c->ns, NS_TLS))
		f->starttls_required = 1;
	return 0;
}

static int
s2s_features_on_mechanism(void *arg, const struct xmlstream_event *c)
{
	struct s2s_features *f = arg;
	char text[32];

	/* RFC 6120 §6.4.1: one <mechanism/> per SASL mechanism name. */
	if (xmlstream_str_eq(&c->name, "mechanism") && xmlstream_str_eq(&c->ns, NS_SASL) &&
	    xmlelem_text(c, text, sizeof(text)) == 0 && strcmp(text, "EXTERNAL") == 0)
		f->sasl_external = 1;
	return 0;
}

static int
s2s_features_on_child(void *arg, const struct xmlstream_event *c)
{
	struct s2s_features *f = arg;

	if (xmlstream_str_eq(&c->name, "starttls") && xmlstream_str_eq(&c->ns, NS_TLS)) {
		f->starttls = 1;
		return s2s_element_children(c, s2s_features_on_starttls_child, f) < 0 ? -1 : 0;
	}
	if (xmlstream_str_eq(&c->name, "mechanisms") && xmlstream_str_eq(&c->ns, NS_SASL))
		return s2s_element_children(c, s2s_features_on_mechanism, f) < 0 ? -1 : 0;
	if (xmlstream_str_eq(&c->name, "dialback") && xmlstream_str_eq(&c->ns, NS_DIALBACK_FEATURE))
		f->dialback = 1;
	if (xmlstream_str_eq(&c->name, "bidi") && xmlstream_str_eq(&c->ns, NS_BIDI_FEATURE))
		f->bidi = 1;
	if (xmlstream_str_eq(&c->name, "sm") && xmlstream_str_eq(&c->ns, "urn:xmpp:sm:3"))
		f->sm = 1;
	return 0;
}

int
s2s_features_read(const struct xmlstream_event *ev, struct s2s_features *out)
{
	memset(out, 0, sizeof(*out));
	if (s2s_element_children(ev, s2s_features_on_child, out) < 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}

struct s2s_error_cond {
	char *out;
	size_t cap;
};

static int
s2s_error_on_child(void *arg, const struct xmlstream_event *c)
{
	struct s2s_error_cond *e = arg;

	if (!xmlstream_str_eq(&c->ns, NS_STREAM_ERRORS) || xmlstream_str_eq(&c->name, "text"))
		return 0;
	if (c->name.len >= e->cap)
		return -1;
	memcpy(e->out, c->name.p, c->name.len);
	e->out[c->name.len] = '\0';
	return 1;
}

int
s2s_stream_error_condition(const struct xmlstream_event *ev, char *out, size_t cap)
{
	struct s2s_error_cond e = { out, cap };

	if (cap == 0)
		return -1;
	out[0] = '\0';
	return s2s_element_children(ev, s2s_error_on_child, &e) == 1 ? 0 : -1;
}
