/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_dialback.c - XEP-0185 keys and the XEP-0220 roles' messages (proxy/dialback.c) against a
 * vector computed independently (Python's hmac/hashlib:
 * HMAC-SHA256(key = hex(SHA256(secret)), "recv orig id")), and the routing
 * helpers that decide which domain a JID belongs to.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dialback.h"
#include "router.h"

static const char secret[] = "s3cr3tf0rd14lb4ck-and-more";

TEST(dialback_key_matches_independent_vector)
{
	struct dialback_secret s = { 0 };
	char key[DIALBACK_KEY_HEX_LEN + 1];

	REQUIRE(dialback_secret_set(&s, secret, strlen(secret)) == 0);
	REQUIRE(dialback_key_make(&s, "example.org", "example.com", "D60000229F", key) == 0);
	CHECK_STR_EQ(key, "b00251600dfcae057b1f0784e2e82082486350283dd6f9275c125d52301f1f0b");
	CHECK(dialback_key_check(&s, "example.org", "example.com", "D60000229F", key));
}

TEST(dialback_key_bound_to_every_input)
{
	struct dialback_secret s = { 0 }, other = { 0 };
	char key[DIALBACK_KEY_HEX_LEN + 1];

	REQUIRE(dialback_secret_set(&s, secret, strlen(secret)) == 0);
	REQUIRE(dialback_secret_set(&other, "another secret, long enough", 27) == 0);
	REQUIRE(dialback_key_make(&s, "a.example", "b.example", "id1", key) == 0);
	CHECK(dialback_key_check(&s, "a.example", "b.example", "id1", key));
	CHECK(!dialback_key_check(&s, "b.example", "a.example", "id1", key));
	CHECK(!dialback_key_check(&s, "a.example", "b.example", "id2", key));
	CHECK(!dialback_key_check(&other, "a.example", "b.example", "id1", key));
	key[5] ^= 1;
	CHECK(!dialback_key_check(&s, "a.example", "b.example", "id1", key));
	CHECK(!dialback_key_check(&s, "a.example", "b.example", "id1", ""));
	CHECK(!dialback_key_check(&s, "a.example", "b.example", "id1", "00"));
}

TEST(dialback_secret_refuses_short_and_unloaded)
{
	struct dialback_secret s = { 0 };
	char key[DIALBACK_KEY_HEX_LEN + 1];

	CHECK(dialback_key_make(&s, "a", "b", "c", key) < 0);
	CHECK(dialback_secret_set(&s, "short", 5) < 0);
	CHECK(!s.loaded);
}

TEST(dialback_secret_file_trailing_newline_ignored)
{
	char path[] = "/tmp/xe-unit-dbsecret-XXXXXX", err[256];
	struct dialback_secret a = { 0 }, b = { 0 };
	int fd = mkstemp(path);

	REQUIRE(fd >= 0);
	REQUIRE(write(fd, secret, strlen(secret)) == (ssize_t)strlen(secret));
	REQUIRE(write(fd, "\n", 1) == 1);
	close(fd);
	CHECK_INT_EQ(dialback_secret_load(path, &a, err, sizeof(err)), 0);
	REQUIRE(dialback_secret_set(&b, secret, strlen(secret)) == 0);
	CHECK_STR_EQ(a.hmac_key, b.hmac_key);
	unlink(path);
	CHECK(dialback_secret_load(path, &a, err, sizeof(err)) < 0);
	CHECK(strstr(err, path) != NULL);
}

static int
jid_domain(const char *jid, char *out)
{
	struct xmlstream_str s = { jid, jid ? strlen(jid) : 0 };

	return router_jid_domain(&s, out, 254);
}

TEST(router_jid_domain_rfc7622)
{
	char d[254];

	CHECK_INT_EQ(jid_domain("user@Example.COM/res", d), 0);
	CHECK_STR_EQ(d, "example.com");
	CHECK_INT_EQ(jid_domain("example.com", d), 0);
	CHECK_STR_EQ(d, "example.com");
	/* The resource may hold '@' and '/': only the first '/' counts. */
	CHECK_INT_EQ(jid_domain("a@example.net/x@y/z", d), 0);
	CHECK_STR_EQ(d, "example.net");
	CHECK_INT_EQ(jid_domain("example.org./r", d), 0);
	CHECK_STR_EQ(d, "example.org");
	CHECK(jid_domain("user@", d) < 0);
	CHECK(jid_domain("@/", d) < 0);
	CHECK(jid_domain("a@b@c", d) < 0);
	CHECK(jid_domain("bad domain", d) < 0);
	CHECK(jid_domain(NULL, d) < 0);
}

/* --- the roles' messages (proxy/dialback.c) ------------------------------ */

#include "xmlstream.h"

#define TD_HDR "<stream:stream xmlns='jabber:server' " \
	"xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' version='1.0'>"

/* The Initiating Server's key is the one the Authoritative Server (any
 * instance with the same secret) confirms; a changed id or domain is not. */
TEST(dialback_roles_result_key_verifies_through_verify_answer)
{
	struct dialback_secret sec;
	char out[DIALBACK_MSG_MAX], key[DIALBACK_KEY_HEX_LEN + 1], ans[DIALBACK_MSG_MAX];
	const char *k;
	int n, valid;

	REQUIRE(dialback_secret_set(&sec, "0123456789abcdef0123456789abcdef", 32) == 0);
	n = dialback_result_write(&sec, "a.example", "b.example", "id-1", out, sizeof(out));
	REQUIRE(n > 0);
	CHECK(strncmp(out, "<db:result from='a.example' to='b.example'>", 43) == 0);
	k = out + 43;
	REQUIRE(strlen(k) == DIALBACK_KEY_HEX_LEN + strlen("</db:result>"));
	memcpy(key, k, DIALBACK_KEY_HEX_LEN);
	key[DIALBACK_KEY_HEX_LEN] = '\0';
	/* b.example asks us (a.example) whether the key is ours. */
	n = dialback_verify_answer_write(&sec, "b.example", "a.example", "id-1", key, NULL, &valid,
	    ans, sizeof(ans));
	REQUIRE(n > 0);
	CHECK(valid);
	CHECK_STR_EQ(ans, "<db:verify from='a.example' to='b.example' id='id-1' type='valid'/>");
	n = dialback_verify_answer_write(&sec, "b.example", "a.example", "id-2", key, NULL, &valid,
	    ans, sizeof(ans));
	CHECK(n > 0 && !valid);
	CHECK(strstr(ans, "type='invalid'") != NULL);
	/* An id that cannot be echoed is refused, not written. */
	CHECK(dialback_verify_answer_write(&sec, "b.example", "a.example", "x'y", key, NULL, &valid,
	    ans, sizeof(ans)) < 0);
	/* A domain not ours: an error answer. */
	n = dialback_verify_answer_write(&sec, "b.example", "c.example", "id-1", NULL, "item-not-found",
	    &valid, ans, sizeof(ans));
	CHECK(n > 0 && !valid && strstr(ans, "<item-not-found") != NULL);
}

TEST(dialback_roles_verify_question_and_verdict)
{
	struct xmlstream_event ev;
	struct xmlstream *s;
	const char *why;
	char q[DIALBACK_MSG_MAX];
	static const char answer[] = TD_HDR
	    "<db:verify from='b.example' to='a.example' id='id-1' type='valid'/>"
	    "<db:verify from='b.example' to='a.example' id='id-2' type='valid'/>"
	    "<db:verify from='b.example' to='a.example' id='id-1' type='invalid'/>"
	    "<db:verify from='b.example' to='a.example' id='id-1' type='error'/>";

	CHECK(dialback_verify_write("a.example", "b.example", "id-1", "00ff", q, sizeof(q)) > 0);
	CHECK_STR_EQ(q, "<db:verify from='a.example' to='b.example' id='id-1'>00ff</db:verify>");
	CHECK(dialback_verify_write("a.example", "b.example", "id 1", "00ff", q, sizeof(q)) < 0);
	CHECK(dialback_verify_write("a.example", "b.example", "id-1", "<x/>", q, sizeof(q)) < 0);
	s = xmlstream_new(NULL, NULL);
	REQUIRE(s != NULL);
	REQUIRE(xmlstream_feed(s, answer, sizeof(answer) - 1) == sizeof(answer) - 1);
	REQUIRE(xmlstream_next(s, &ev) == XMLSTREAM_EV_STREAM_OPEN);
	REQUIRE(xmlstream_next(s, &ev) == XMLSTREAM_EV_ELEMENT);
	CHECK_INT_EQ(dialback_verify_verdict(&ev, "a.example", "b.example", "id-1", &why), DIALBACK_VALID);
	REQUIRE(xmlstream_next(s, &ev) == XMLSTREAM_EV_ELEMENT);	/* another id: not ours */
	CHECK_INT_EQ(dialback_verify_verdict(&ev, "a.example", "b.example", "id-1", &why), DIALBACK_ERROR);
	REQUIRE(xmlstream_next(s, &ev) == XMLSTREAM_EV_ELEMENT);
	CHECK_INT_EQ(dialback_verify_verdict(&ev, "a.example", "b.example", "id-1", &why), DIALBACK_INVALID);
	REQUIRE(xmlstream_next(s, &ev) == XMLSTREAM_EV_ELEMENT);
	CHECK_INT_EQ(dialback_verify_verdict(&ev, "a.example", "b.example", "id-1", &why), DIALBACK_ERROR);
	xmlstream_free(s);
}
