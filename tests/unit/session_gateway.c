/* SPDX-License-Identifier: Apache-2.0 */
/*
 * session_gateway.c - the pinned internal link and the usual scripted
 * negotiations of the session unit tests (see session_gateway.h).
 */
#include "session_gateway.h"

#include <stdio.h>
#include <string.h>

#include "sm.h"

#define SG_NS_DB "jabber:server:dialback"
#define SG_KEY "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

int
sg_setup(struct sg *g, const char *config)
{
	char pin_edge[64], pin_gw[64];
	const char *edge_pins[1], *gw_pins[1];

	memset(g, 0, sizeof(*g));
	if (sf_init(&g->sf, config) < 0)
		return -1;
	if (tls_fx_setup(&g->fx) < 0 || tls_fx_ca(&g->fx, "ca") < 0 ||
	    tls_fx_leaf(&g->fx, "edge", "a.example", "ca") < 0 ||
	    tls_fx_leaf(&g->fx, "bcert", "b.example", "ca") < 0 ||
	    /* Self-signed: on the internal link the pin is the whole trust. */
	    tls_fx_leaf(&g->fx, "iedge", "edge-internal", NULL) < 0 ||
	    tls_fx_leaf(&g->fx, "igw", "gateway.internal", NULL) < 0 ||
	    tls_fx_pin(&g->fx, "iedge", pin_edge, sizeof(pin_edge)) < 0 ||
	    tls_fx_pin(&g->fx, "igw", pin_gw, sizeof(pin_gw)) < 0) {
		snprintf(g->sf.err, sizeof(g->sf.err), "certificates could not be made");
		return -1;
	}
	edge_pins[0] = pin_gw;
	gw_pins[0] = pin_edge;
	g->edge_store = tls_fx_store(&g->fx, "a.example", "edge", "ca", "iedge", edge_pins, 1);
	g->gw_store = tls_fx_store(&g->fx, "b.example", "bcert", "ca", "igw", gw_pins, 1);
	if (g->edge_store == NULL || g->gw_store == NULL) {
		snprintf(g->sf.err, sizeof(g->sf.err), "certificate stores could not be loaded");
		return -1;
	}
	g->sf.edge->certs = g->edge_store;
	g->sf.gateway_store = g->gw_store;
	return 0;
}

int
sg_finish(struct sg *g)
{
	int rc = sf_finish(&g->sf);

	if (g->edge_store != NULL)
		tls_certstore_unref(g->edge_store);
	if (g->gw_store != NULL)
		tls_certstore_unref(g->gw_store);
	tls_fx_teardown(&g->fx);
	return rc;
}

void
sg_begin(struct sg *g, const char *config)
{
	if (sg_setup(g, config) < 0)
		fprintf(stderr, "  setup: %s\n", g->sf.err);
	REQUIRE(g->sf.edge != NULL && g->sf.edge->certs != NULL);
}

void
sg_end(struct sg *g)
{
	int rc = sg_finish(g);

	if (rc < 0)
		fprintf(stderr, "  finish: %s\n", g->sf.err);
	CHECK_INT_EQ(rc, 0);
}

struct sf_peer *
sg_wait_out(struct sg *g, const char *domain)
{
	struct sf_peer *p;
	int i;

	for (i = 0; i < SF_TURNS_MAX; i++) {
		if ((p = sf_peer_out(&g->sf, domain)) != NULL)
			return p;
		uv_run(g->sf.loop, UV_RUN_NOWAIT);
	}
	snprintf(g->sf.err, sizeof(g->sf.err), "no connection to %s was made", domain);
	return NULL;
}

struct sf_peer *
sg_gateway_in(struct sg *g, const char *local, const char *remote)
{
	struct sf_peer *p = sf_peer_accept(&g->sf, &g->sf.internal, "127.0.0.1");

	if (p == NULL || sf_peer_tls(p, g->gw_store, TLS_ROLE_INTERNAL_CLIENT, "edge-internal") < 0 ||
	    sf_peer_tls_wait(p) < 0 || sf_peer_send_header(p, local, remote) < 0 ||
	    sf_peer_expect(p, "features", XMLSTREAM_NS_STREAMS) < 0 ||
	    sf_peer_sendf(p, "<db:result from='%s' to='%s'>" SG_KEY "</db:result>", local, remote) < 0 ||
	    sf_peer_expect(p, "result", SG_NS_DB) < 0)
		return NULL;
	if (strcmp(p->ev.stype, "valid") != 0) {
		snprintf(g->sf.err, sizeof(g->sf.err), "the gateway's dialback got type '%s'", p->ev.stype);
		return NULL;
	}
	return p;
}

/* The proxy's next element is its <db:result/> or <db:verify/>: answered
 * with type, from and to swapped (XEP-0220 §2.1.3, §2.3.2). */
static int
sg_answer(struct sg *g, struct sf_peer *p, const char *type)
{
	char from[SF_ATTR_MAX], to[SF_ATTR_MAX], id[SF_ATTR_MAX];
	const char *err = strcmp(type, "error") == 0 ? "<error type='cancel'><remote-server-not-found "
	    "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>" : "";
	int verify;

	if (sf_peer_next(p) != XMLSTREAM_EV_ELEMENT || strcmp(p->ev.ns, SG_NS_DB) != 0 ||
	    (strcmp(p->ev.name, "result") != 0 && strcmp(p->ev.name, "verify") != 0)) {
		snprintf(g->sf.err, sizeof(g->sf.err), "peer %d: expected db:result or db:verify, got %s",
		    p->index, p->ev.raw != NULL ? p->ev.raw : "nothing");
		return -1;
	}
	verify = strcmp(p->ev.name, "verify") == 0;
	snprintf(from, sizeof(from), "%s", p->ev.to);
	snprintf(to, sizeof(to), "%s", p->ev.from);
	snprintf(id, sizeof(id), "%s", p->ev.id);
	if (verify)
		return sf_peer_sendf(p, "<db:verify from='%s' to='%s' id='%s' type='%s'>%s</db:verify>",
		    from, to, id, type, err);
	return sf_peer_sendf(p, "<db:result from='%s' to='%s' type='%s'>%s</db:result>", from, to,
	    type, err);
}

int
sg_gateway_out_accept(struct sg *g, struct sf_peer *p, const char *remote)
{
	if (sf_peer_tls_wait(p) < 0 || sf_peer_send_header(p, "a.example", remote) < 0 ||
	    sf_peer_send(p, "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/>"
	    "</stream:features>") < 0 || sg_answer(g, p, "valid") < 0)
		return -1;
	/* The proxy asks for XEP-0198 anyway (s2s_out.c,
	 * sm_enable_unoffered); this gateway has none. */
	if (sf_peer_expect(p, "enable", "urn:xmpp:sm:3") < 0)
		return -1;
	return sf_peer_send(p, "<failed xmlns='urn:xmpp:sm:3'/>");
}

int
sg_remote_answer(struct sg *g, struct sf_peer *p, const char *domain, const char *type)
{
	if (sf_peer_send_header(p, domain, "a.example") < 0 ||
	    sf_peer_send(p, "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/>"
	    "</stream:features>") < 0)
		return -1;
	return sg_answer(g, p, type);
}

struct sf_peer *
sg_remote_in(struct sg *g, const char *remote)
{
	struct sf_peer *p = sf_peer_accept(&g->sf, NULL, NULL);

	if (p == NULL || sf_peer_send_header(p, remote, "a.example") < 0 ||
	    sf_peer_expect(p, "features", XMLSTREAM_NS_STREAMS) < 0 ||
	    sf_peer_sendf(p, "<db:result from='%s' to='a.example'>" SG_KEY "</db:result>", remote) < 0)
		return NULL;
	return p;
}

/* --- XEP-0198 peers (test_session_sm.c, test_session_drain.c) ------------- */

int
sg_answer_result_valid(struct sf_peer *p)
{
	char from[SF_ATTR_MAX], to[SF_ATTR_MAX];

	if (sf_peer_expect(p, "result", SG_NS_DB) < 0)
		return -1;
	snprintf(from, sizeof(from), "%s", p->ev.to);
	snprintf(to, sizeof(to), "%s", p->ev.from);
	return sf_peer_sendf(p, "<db:result from='%s' to='%s' type='valid'/>", from, to);
}

int
sg_sm_accept(struct sf_peer *p, const char *from, const char *to, int tls, int sm)
{
	if ((tls && sf_peer_tls_wait(p) < 0) || sf_peer_send_header(p, from, to) < 0 ||
	    sf_peer_sendf(p, "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/>%s"
	    "</stream:features>", sm ? "<sm xmlns='" SM_NS "'/>" : "") < 0 ||
	    sg_answer_result_valid(p) < 0)
		return -1;
	if (!sm)
		return 0;
	if (sf_peer_expect(p, "enable", SM_NS) < 0)
		return -1;
	return sf_peer_send(p, "<enabled xmlns='" SM_NS "'/>");
}

int
sg_expect_ack(struct sg *g, struct sf_peer *p, unsigned h)
{
	char want[32];

	if (sf_peer_expect(p, "a", SM_NS) < 0)
		return -1;
	snprintf(want, sizeof(want), "h='%u'", h);
	if (strstr(p->ev.raw, want) == NULL) {
		snprintf(g->sf.err, sizeof(g->sf.err), "expected <a %s/>, got %s", want, p->ev.raw);
		return -1;
	}
	return 0;
}

int
sg_ask_ack(struct sg *g, struct sf_peer *p, unsigned h)
{
	char want[32];
	int i;

	snprintf(want, sizeof(want), "h='%u'", h);
	if (sf_peer_send(p, "<r xmlns='" SM_NS "'/>") < 0)
		return -1;
	for (i = 0; i < 4; i++) {
		if (sf_peer_expect(p, "a", SM_NS) < 0)
			return -1;
		if (strstr(p->ev.raw, want) != NULL)
			return 0;
	}
	snprintf(g->sf.err, sizeof(g->sf.err), "no <a %s/>, last %s", want, p->ev.raw);
	return -1;
}

int
sg_expect_not_allowed(struct sg *g, struct sf_peer *back, const char *id, const char *from,
    const char *to, const char *text)
{
	if (sf_peer_expect(back, "message", NULL) < 0)
		return -1;
	if (strcmp(back->ev.stype, "error") != 0 || strcmp(back->ev.id, id) != 0 ||
	    strcmp(back->ev.cond, "not-allowed") != 0 || strcmp(back->ev.error_type, "cancel") != 0 ||
	    strcmp(back->ev.from, from) != 0 || strcmp(back->ev.to, to) != 0 ||
	    (text != NULL && strstr(back->ev.raw, text) == NULL)) {
		snprintf(g->sf.err, sizeof(g->sf.err), "expected the not-allowed (cancel) bounce of %s%s%s, "
		    "got %s", id, text ? " saying " : "", text ? text : "", back->ev.raw);
		return -1;
	}
	return 0;
}
