/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_admin_cmd.c - the admin channel's command table
 * (proxy/admin_cmd.c): a request line finds the longest matching command
 * and its arguments are counted; unknown words and wrong counts are
 * refused before any payload; small payloads are collected per part
 * within their bounds.
 */
#include "test.h"

#include <stdio.h>
#include <string.h>

#include "admin_cmd.h"

static long long
begin(struct admin_request *r, const char *line, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	err[0] = '\0';
	/* Only commands without a begin step: no daemon needed. */
	return admin_request_begin(r, NULL, line, err, errlen);
}

TEST(admin_cmd_lookup)
{
	struct admin_request r;
	char err[256];

	CHECK_INT_EQ(begin(&r, "status", err, sizeof(err)), 0);
	REQUIRE(r.cmd != NULL);
	CHECK_STR_EQ(r.cmd->name, "status");
	CHECK_INT_EQ(r.argc, 0);
	CHECK_INT_EQ(begin(&r, "cert pin add admin AAAA", err, sizeof(err)), 0);
	REQUIRE(r.cmd != NULL);
	CHECK_STR_EQ(r.cmd->name, "cert pin");
	CHECK_INT_EQ(r.argc, 3);
	CHECK_STR_EQ(r.argv[0], "add");
	CHECK_STR_EQ(r.argv[2], "AAAA");
	CHECK_INT_EQ(begin(&r, "cert csr example.com rsa", err, sizeof(err)), 0);
	REQUIRE(r.cmd != NULL);
	CHECK_STR_EQ(r.cmd->name, "cert csr");
	CHECK_INT_EQ(r.argc, 2);
}

TEST(admin_cmd_refusals)
{
	static const struct { const char *line, *why; } cases[] = {
		{ "cert", "unknown command" },
		{ "certs rotate x", "unknown command" },
		{ "stat", "unknown command" },
		{ "status now", "takes 0 to 0 arguments" },
		{ "cert csr", "takes 1 to 2 arguments" },
		{ "cert pin add admin", "takes 3 to 3 arguments" },
		{ "a b c d e f g h i j k l m", "too many words" },
	};
	struct admin_request r;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long long rc = begin(&r, cases[i].line, err, sizeof(err));

		if (rc != -1 || strstr(err, cases[i].why) == NULL)
			test_fail_at(__FILE__, __LINE__, "'%s': rc %lld, err '%s', want '%s'",
			    cases[i].line, rc, err, cases[i].why);
	}
}

TEST(admin_parts_bounds)
{
	struct admin_parts ps;
	const struct admin_part_buf *b;
	char err[128];

	memset(&ps, 0, sizeof(ps));
	ps.p[0] = (struct admin_part_buf){ .name = "cert", .cap = 8 };
	CHECK_INT_EQ(admin_parts_collect(&ps, "cert", (const uint8_t *)"abcd", 4, err, sizeof(err)), 0);
	CHECK_INT_EQ(admin_parts_collect(&ps, "cert", (const uint8_t *)"efgh", 4, err, sizeof(err)), 0);
	b = admin_parts_get(&ps, "cert");
	REQUIRE(b != NULL);
	CHECK_INT_EQ(b->len, 8);
	CHECK_STR_EQ((const char *)b->data, "abcdefgh");
	CHECK_INT_EQ(admin_parts_collect(&ps, "cert", (const uint8_t *)"i", 1, err, sizeof(err)), -1);
	CHECK(strstr(err, "larger than 8 bytes") != NULL);
	CHECK_INT_EQ(admin_parts_collect(&ps, "key", (const uint8_t *)"k", 1, err, sizeof(err)), -1);
	CHECK(strstr(err, "unexpected part 'key'") != NULL);
	CHECK(admin_parts_get(&ps, "key") == NULL);
	admin_parts_free(&ps);
	CHECK(admin_parts_get(&ps, "cert") == NULL);
}
