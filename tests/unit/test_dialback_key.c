/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_dialback_key.c - XEP-0185 keys (proxy/dialback_key.c) against a
 * vector computed independently (Python's hmac/hashlib:
 * HMAC-SHA256(key = hex(SHA256(secret)), "recv orig id")), and the routing
 * helpers that decide which domain a JID belongs to.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dialback_key.h"
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
