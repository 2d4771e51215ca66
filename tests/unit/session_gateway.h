/* SPDX-License-Identifier: Apache-2.0 */
/*
 * session_gateway.h - the pinned internal link for the session unit tests:
 * certificates made at test time (tls_fixture.h), the proxy's store (its
 * domain certificate, its internal key, the gateway's pin) and the
 * gateway's (its internal key, the proxy's pin, and a CA-signed
 * certificate for b.example that a remote peer may present), and the
 * scripted gateway's two sides: the stream it opens to the internal
 * listener (stanzas toward remote domains) and the one the proxy opens to
 * it (stanzas and bounces for hosted domains).
 */
#ifndef XE_SESSION_GATEWAY_H
#define XE_SESSION_GATEWAY_H

#include <stdio.h>

#include "session_fixture.h"
#include "test.h"
#include "tls_fixture.h"

#define SG_GATEWAY_ADDR "127.0.0.1:5999"

/* Hosted: a.example.  Partners: b, c (plaintext dialback), d (no
 * dialback), t (TLS required), evil (refused).  The gateway at
 * SG_GATEWAY_ADDR. */
#define SG_CONFIG(limits) "{\"state_dir\": \"/tmp/x\", \"domains\": [{\"name\": \"a.example\"," \
	" \"cert\": \"/c\", \"key\": \"/k\"}], \"limits\": {" limits "}," \
	 " \"gateway\": {\"address\": \"" SG_GATEWAY_ADDR "\", \"cert\": \"/gc\", \"key\": \"/gk\"," \
	" \"pins\": [\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]}," \
	" \"policy\": {\"partners\": {" \
	"\"b.example\": {\"tls\": \"disabled\"}, \"c.example\": {\"tls\": \"disabled\"}," \
	"\"d.example\": {\"tls\": \"disabled\", \"dialback\": false}," \
	"\"t.example\": {\"tls\": \"required\"}," \
	"\"evil.example\": {\"allow\": false}}}}"

struct sg {
	struct sf sf;
	struct tls_fx fx;
	struct tls_certstore *edge_store, *gw_store;
};

/* sf_init(config) and the certificates; 0 or -1 (with sf.err). */
int sg_setup(struct sg *g, const char *config);
/* sf_finish, the stores and the directory; 0 or -1. */
int sg_finish(struct sg *g);
/* The same for a test: sg_begin stops the test when setup fails, sg_end
 * fails it when the end does (libuv style: something left open). */
void sg_begin(struct sg *g, const char *config);
void sg_end(struct sg *g);

/* A scripted step (0 or -1 with sf.err): the test stops when it fails. */
#define SG_OK(g, expr) do { if ((expr) < 0) { \
	fprintf(stderr, "  %s: %s\n", #expr, (g)->sf.err); REQUIRE(!"step failed"); } } while (0)
/* A peer that must come. */
#define SG_PEER(g, p, expr) do { if (((p) = (expr)) == NULL) { \
	fprintf(stderr, "  %s: %s\n", #expr, (g)->sf.err); REQUIRE(!"no peer"); } } while (0)

/* Runs the loop until the dialer connected a peer for domain. */
struct sf_peer *sg_wait_out(struct sg *g, const char *domain);

/* The gateway connects to the internal listener (pinned TLS) and speaks
 * for local (hosted) toward remote: header, dialback granted. */
struct sf_peer *sg_gateway_in(struct sg *g, const char *local, const char *remote);
/* The stream the proxy opened to the gateway for remote: TLS (done by
 * the dialer), headers, features, its <db:result/> answered valid. */
int sg_gateway_out_accept(struct sg *g, struct sf_peer *p, const char *remote);
/* An out peer (receiving server for domain, in the clear): header,
 * features offering dialback; the proxy's <db:result/> (or, for a
 * verification stream, its <db:verify/>) is awaited and answered with
 * type (valid, invalid, error).  0 or -1. */
int sg_remote_answer(struct sg *g, struct sf_peer *p, const char *domain, const char *type);
/* A remote server for remote connects to the external listener and
 * claims remote -> a.example with dialback: header, features, <db:result/>.
 * The check it causes is left to the test. */
struct sf_peer *sg_remote_in(struct sg *g, const char *remote);
/* The proxy's next element on p is its <db:result/>: answered valid. */
int sg_answer_result_valid(struct sf_peer *p);
/* An outgoing stream's peer (receiving server for the proxy's stream;
 * tls: the gateway, already in TLS): header from -> to, features offering
 * dialback and, with sm, XEP-0198; the proxy's <db:result/> answered
 * valid and, with sm, its <enable/> with <enabled/>.  0 or -1. */
int sg_sm_accept(struct sf_peer *p, const char *from, const char *to, int tls, int sm);
/* The next element on p is <a h='h'/> (XEP-0198): 0 or -1 with sf.err. */
int sg_expect_ack(struct sg *g, struct sf_peer *p, unsigned h);
/* Asks p for an ack (<r/>) and expects <a h='h'/> within the next few
 * acks (an unasked one may come first with a lower h). */
int sg_ask_ack(struct sg *g, struct sf_peer *p, unsigned h);
/* The next element on back is the bounce of the message id sent from
 * `to` to `from` (so from/to as the bounce reads them): type error,
 * <not-allowed/> (cancel), and with text != NULL a text containing it. */
int sg_expect_not_allowed(struct sg *g, struct sf_peer *back, const char *id, const char *from,
    const char *to, const char *text);

#endif
