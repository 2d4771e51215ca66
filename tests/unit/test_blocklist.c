/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_blocklist.c - the domain blocklist (proxy/blocklist.c): what an
 * entry matches, the file format, every parse error with its line, the
 * bounds, counts that survive a reload, and the top entries.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blocklist.h"

static struct blocklist *
parse_ok(const char *text, size_t max)
{
	char err[512] = "";
	struct blocklist *bl = blocklist_parse("list", text, strlen(text), max, err, sizeof(err));

	if (bl == NULL)
		test_fail_at(__FILE__, __LINE__, "parse failed: %s", err);
	return bl;
}

static void
parse_fails(const char *text, size_t len, size_t max, const char *want, int line)
{
	char err[512] = "";
	struct blocklist *bl = blocklist_parse("list", text, len, max, err, sizeof(err));

	if (bl != NULL) {
		test_fail_at(__FILE__, line, "parsed, wanted '%s'", want);
		blocklist_free(bl);
		return;
	}
	if (strstr(err, want) == NULL)
		test_fail_at(__FILE__, line, "error '%s' lacks '%s'", err, want);
}

static int
matches(const struct blocklist *bl, const char *domain, const char *want_entry)
{
	char entry[300];

	if (blocklist_match(bl, domain, entry, sizeof(entry)) < 0)
		return want_entry == NULL;
	return want_entry != NULL && strcmp(entry, want_entry) == 0;
}

TEST(blocklist_exact_and_wildcard)
{
	struct blocklist *bl = parse_ok(
	    "# JabberSPAM, 2024 wave\n"
	    "spam.example\n"
	    "  *.throwaway.example   # every name under it\n"
	    "\n"
	    "Mixed.Case.Example.\r\n"
	    "\t\n", 100);

	REQUIRE(bl != NULL);
	CHECK_INT_EQ(blocklist_count(bl), 3);
	CHECK(matches(bl, "spam.example", "spam.example"));
	CHECK(matches(bl, "sub.spam.example", NULL));	/* exact means exact */
	CHECK(matches(bl, "a.throwaway.example", "*.throwaway.example"));
	CHECK(matches(bl, "x.y.throwaway.example", "*.throwaway.example"));
	CHECK(matches(bl, "throwaway.example", NULL));	/* '*.' is below only */
	CHECK(matches(bl, "mixed.case.example", "mixed.case.example"));
	CHECK(matches(bl, "example", NULL));
	CHECK(matches(bl, "notspam.example", NULL));
	CHECK(matches(bl, "", NULL));
	CHECK(matches(bl, NULL, NULL));
	blocklist_free(bl);
}

TEST(blocklist_empty_and_duplicates)
{
	struct blocklist *bl = parse_ok("", 10);

	REQUIRE(bl != NULL);
	CHECK_INT_EQ(blocklist_count(bl), 0);
	CHECK(matches(bl, "spam.example", NULL));
	blocklist_free(bl);
	/* Duplicates (also by case or trailing dot) are one entry, and do
	 * not count against max_entries twice in the result. */
	bl = parse_ok("a.example\nA.example.\n*.a.example\n*.A.EXAMPLE\n", 10);
	REQUIRE(bl != NULL);
	CHECK_INT_EQ(blocklist_count(bl), 2);
	blocklist_free(bl);
	/* No final newline. */
	bl = parse_ok("a.example\nb.example", 10);
	REQUIRE(bl != NULL);
	CHECK(matches(bl, "b.example", "b.example"));
	blocklist_free(bl);
}

TEST(blocklist_errors_name_the_line)
{
	char big[BLOCKLIST_LINE_MAX + 32];

	parse_fails("ok.example\nnot a domain\n", 24, 10, "list: line 2: one domain a line", __LINE__);
	parse_fails("ok.example\n\nbad_name.example\n", 28, 10,
	    "list: line 3: 'bad_name.example' is not a domain or '*.domain'", __LINE__);
	parse_fails("*.\n", 3, 10, "list: line 1: '*.' is not a domain or '*.domain': nothing after '*.'",
	    __LINE__);
	parse_fails("a.*.example\n", 12, 10, "line 1: 'a.*.example' is not a domain", __LINE__);
	parse_fails("**.example\n", 11, 10, "line 1:", __LINE__);
	parse_fails("-lead.example\n", 14, 10, "line 1:", __LINE__);
	parse_fails("ok.example\nbad\0nul\n", 19, 10, "list: line 2: a NUL byte", __LINE__);
	parse_fails("a.example\nb.example\nc.example\n", 30, 2,
	    "list: line 3: more than 2 entries (blocklist.max_entries)", __LINE__);
	memset(big, 'a', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	parse_fails(big, sizeof(big), 10, "list: line 1: longer than 1024 bytes", __LINE__);
	/* A label of 64 bytes, a name of 254: DNS limits. */
	parse_fails("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example\n", 73, 10,
	    "line 1:", __LINE__);
}

TEST(blocklist_file_load_and_errors)
{
	char path[] = "/tmp/xe-blocklist-XXXXXX", err[512];
	struct blocklist *bl;
	FILE *f;
	int fd = mkstemp(path);

	REQUIRE(fd >= 0);
	f = fdopen(fd, "w");
	REQUIRE(f != NULL);
	fputs("spam.example\n*.spam.example\n", f);
	fclose(f);
	bl = blocklist_load_file(path, 10, err, sizeof(err));
	REQUIRE(bl != NULL);
	CHECK_INT_EQ(blocklist_count(bl), 2);
	blocklist_free(bl);
	unlink(path);
	bl = blocklist_load_file(path, 10, err, sizeof(err));
	CHECK(bl == NULL);
	CHECK(strstr(err, "cannot read the blocklist: No such file or directory") != NULL);
	CHECK(strncmp(err, path, strlen(path)) == 0);
}

TEST(blocklist_counts_top_and_reload)
{
	struct blocklist *bl = parse_ok("a.example\nb.example\n*.c.example\nd.example\n", 10), *next;
	struct blocklist_top top[2];
	char entry[300];
	int i;

	REQUIRE(bl != NULL);
	for (i = 0; i < 3; i++)
		CHECK_INT_EQ(blocklist_hit(bl, "x.c.example", entry, sizeof(entry)), 0);
	CHECK_STR_EQ(entry, "*.c.example");
	CHECK_INT_EQ(blocklist_hit(bl, "a.example", entry, sizeof(entry)), 0);
	CHECK_INT_EQ(blocklist_hit(bl, "b.example", entry, sizeof(entry)), 0);
	CHECK_INT_EQ(blocklist_hit(bl, "b.example", entry, sizeof(entry)), 0);
	CHECK_INT_EQ(blocklist_hit(bl, "z.example", entry, sizeof(entry)), -1);
	CHECK_INT_EQ(blocklist_refusals_total(bl), 6);
	/* Top 2 of 3 entries hit, most first; d (never hit) left out. */
	CHECK_INT_EQ(blocklist_top(bl, top, 2), 2);
	CHECK_STR_EQ(top[0].entry, "*.c.example");
	CHECK_INT_EQ(top[0].refusals, 3);
	CHECK_STR_EQ(top[1].entry, "b.example");
	CHECK_INT_EQ(top[1].refusals, 2);

	/* A reload keeps the counts of entries still listed. */
	next = parse_ok("b.example\n*.c.example\ne.example\n", 10);
	REQUIRE(next != NULL);
	blocklist_carry_counts(next, bl);
	CHECK_INT_EQ(blocklist_refusals_total(next), 5);
	blocklist_free(bl);
	blocklist_free(next);
}

/* Many entries: the order of the array must not matter to lookups. */
TEST(blocklist_many_entries)
{
	size_t n = 5000, i, len = 0;
	char *text = malloc(n * 32), name[64];
	struct blocklist *bl;

	REQUIRE(text != NULL);
	for (i = n; i > 0; i--)
		len += (size_t)sprintf(text + len, "%s%zu.example\n", i % 2 ? "*." : "", i);
	bl = blocklist_parse("many", text, len, n, name, sizeof(name));
	REQUIRE(bl != NULL);
	CHECK_INT_EQ(blocklist_count(bl), n);
	for (i = 1; i <= n; i++) {
		snprintf(name, sizeof(name), i % 2 ? "x.%zu.example" : "%zu.example", i);
		if (blocklist_match(bl, name, NULL, 0) < 0)
			test_fail_at(__FILE__, __LINE__, "%s not matched", name);
	}
	CHECK_INT_EQ(blocklist_match(bl, "1.example", NULL, 0), -1);	/* '*.1' only */
	blocklist_free(bl);
	free(text);
}
