/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_admin_proto.c - the admin channel's request framing
 * (proxy/admin_proto.c): a line alone, parts in chunks fed a byte at a
 * time, and every refusal (line too long, control bytes, bad part
 * headers, payload past the command's bound, bytes after the request).
 */
#include "test.h"

#include <stdio.h>
#include <string.h>

#include "admin_proto.h"

struct seen {
	char line[ADMIN_LINE_MAX + 1];
	long long payload_max;		/* what on_line answers */
	char parts[256];		/* "name=bytes;" */
	size_t part_bytes;
	int done;
};

static long long
seen_on_line(void *ud, const char *line, char *err, size_t errlen)
{
	struct seen *s = ud;

	snprintf(s->line, sizeof(s->line), "%s", line);
	if (strcmp(line, "refuse me") == 0) {
		snprintf(err, errlen, "refused by the owner");
		return -1;
	}
	return s->payload_max;
}

static int
seen_on_part(void *ud, const char *name, const uint8_t *data, size_t len, char *err,
    size_t errlen)
{
	struct seen *s = ud;
	size_t n = strlen(s->parts);

	(void)err;
	(void)errlen;
	snprintf(s->parts + n, sizeof(s->parts) - n, "%s=%.*s;", name, (int)len,
	    (const char *)data);
	s->part_bytes += len;
	return 0;
}

static void
seen_on_done(void *ud)
{
	((struct seen *)ud)->done++;
}

static const struct admin_proto_callbacks seen_cb = {
	.on_line = seen_on_line, .on_part = seen_on_part, .on_done = seen_on_done,
};

/* Feeds text whole (or a byte at a time); returns the feed's result. */
static int
feed(struct admin_proto *p, struct seen *s, long long payload_max, const char *text,
    size_t len, int bytewise)
{
	size_t i;
	int rc = 0;

	memset(s, 0, sizeof(*s));
	s->payload_max = payload_max;
	admin_proto_init(p, &seen_cb, s);
	if (!bytewise)
		return admin_proto_feed(p, (const uint8_t *)text, len);
	for (i = 0; i < len && rc == 0; i++)
		rc = admin_proto_feed(p, (const uint8_t *)text + i, 1);
	return rc;
}

TEST(admin_proto_line_alone)
{
	struct admin_proto p;
	struct seen s;

	CHECK_INT_EQ(feed(&p, &s, 0, "status\n", 7, 0), 0);
	CHECK_STR_EQ(s.line, "status");
	CHECK_INT_EQ(s.done, 1);
	CHECK_INT_EQ(p.state, ADMIN_PROTO_DONE);
	/* One request per connection. */
	CHECK_INT_EQ(feed(&p, &s, 0, "status\nstatus\n", 14, 0), -1);
	CHECK(strstr(p.err, "after the request") != NULL);
}

TEST(admin_proto_parts_in_chunks)
{
	static const char req[] = "cert rotate example.com\npart cert 5\nAB\nCDpart key 3\nxyzpart cert 2\nEFend\n";
	struct admin_proto p;
	struct seen s;
	int bytewise;

	for (bytewise = 0; bytewise < 2; bytewise++) {
		CHECK_INT_EQ(feed(&p, &s, 100, req, sizeof(req) - 1, bytewise), 0);
		CHECK_STR_EQ(s.line, "cert rotate example.com");
		CHECK_INT_EQ(s.part_bytes, 10);
		CHECK_INT_EQ(s.done, 1);
		CHECK_INT_EQ(p.state, ADMIN_PROTO_DONE);
	}
	/* Whole: one call per part (binary bytes, a newline among them). */
	feed(&p, &s, 100, req, sizeof(req) - 1, 0);
	CHECK_STR_EQ(s.parts, "cert=AB\nCD;key=xyz;cert=EF;");
}

TEST(admin_proto_refusals)
{
	static const struct { long long max; const char *in; const char *why; } cases[] = {
		{ 0, "\n", "empty request line" },
		{ 0, " status\n", "one space" },
		{ 0, "cert  rotate\n", "one space" },
		{ 0, "sta\ttus\n", "not printable" },
		{ 0, "refuse me\n", "refused by the owner" },
		{ 10, "x\npart a\n", "no size" },
		{ 10, "x\npart a 0\n", "size is 1 to" },
		{ 10, "x\npart a 01\n", "size is 1 to" },
		{ 10, "x\npart a -1\n", "size is a decimal" },
		{ 10, "x\npart a 1x\n", "size is a decimal" },
		{ 10, "x\npart a/b 1\n", "a name is" },
		{ 10, "x\npart  1\n", "a name is" },
		{ 10, "x\npart a 11\n", "larger than the 10 bytes" },
		{ 10, "x\npart a 6\n123456part b 5\n", "larger than the 10 bytes" },
		{ 1000000, "x\npart a 65537\n", "over the 65536 bytes" },
		{ 1000000, "x\npart a 9999999\n", "size is 1 to" },
		{ 10, "x\nbogus\n", "expected \"part NAME SIZE\" or \"end\"" },
		{ 10, "x\nend\nmore", "after the request" },
	};
	struct admin_proto p;
	struct seen s;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = feed(&p, &s, cases[i].max, cases[i].in, strlen(cases[i].in), 0);

		if (rc != -1 || strstr(p.err, cases[i].why) == NULL)
			test_fail_at(__FILE__, __LINE__, "case %zu: rc %d, err '%s', want '%s'", i, rc,
			    p.err, cases[i].why);
		CHECK_INT_EQ(p.state, ADMIN_PROTO_FAILED);
		/* Only the trailing-bytes case had a complete request before. */
		CHECK_INT_EQ(s.done, strstr(cases[i].why, "after the request") != NULL);
		/* Failed stays failed: nothing more is consumed. */
		CHECK_INT_EQ(admin_proto_feed(&p, (const uint8_t *)"end\n", 4), -1);
	}
}

TEST(admin_proto_line_bound)
{
	char line[ADMIN_LINE_MAX + 2];
	struct admin_proto p;
	struct seen s;

	memset(line, 'a', sizeof(line));
	line[ADMIN_LINE_MAX] = '\n';
	CHECK_INT_EQ(feed(&p, &s, 0, line, ADMIN_LINE_MAX + 1, 0), 0);	/* 512 bytes: fine */
	line[ADMIN_LINE_MAX] = 'a';
	line[ADMIN_LINE_MAX + 1] = '\n';
	CHECK_INT_EQ(feed(&p, &s, 0, line, ADMIN_LINE_MAX + 2, 0), -1);
	CHECK(strstr(p.err, "longer than 512") != NULL);
}
