/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_strangers.c - the known-contact set (proxy/strangers.c): bare JIDs,
 * the LRU bound, the file format and its errors, the atomic save.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strangers.h"

static const char *
bare(const char *jid, char *out)
{
	if (strangers_bare_jid(jid, strlen(jid), out, STRANGERS_JID_MAX + 1) < 0)
		return NULL;
	return out;
}

TEST(strangers_bare_jid_canonical)
{
	char b[STRANGERS_JID_MAX + 1];

	CHECK_STR_EQ(bare("Alice@Example.NET/phone", b), "alice@example.net");
	CHECK_STR_EQ(bare("room@conference.example.net/Nick/With/Slashes", b),
	    "room@conference.example.net");
	CHECK_STR_EQ(bare("example.net.", b), "example.net");
	CHECK(bare("@example.net", b) == NULL);
	CHECK(bare("a b@example.net", b) == NULL);
	CHECK(bare("a<b@example.net", b) == NULL);
	CHECK(bare("alice@bad_domain.example", b) == NULL);
	CHECK(bare("", b) == NULL);
	{
		char big[1100];

		memset(big, 'a', 1024);
		strcpy(big + 1024, "@example.net");
		CHECK(bare(big, b) == NULL);	/* localpart over 1023 bytes */
	}
}

TEST(strangers_lru_bound)
{
	struct strangers *s = strangers_new(3);

	REQUIRE(s != NULL);
	CHECK_INT_EQ(strangers_touch(s, "a@x.example"), 0);
	CHECK_INT_EQ(strangers_touch(s, "b@x.example"), 0);
	CHECK_INT_EQ(strangers_touch(s, "c@x.example"), 0);
	/* a is used again: b is now the least recent and goes first. */
	CHECK_INT_EQ(strangers_known(s, "a@x.example"), 1);
	CHECK_INT_EQ(strangers_touch(s, "d@x.example"), 0);
	CHECK_INT_EQ(strangers_count(s), 3);
	CHECK_INT_EQ(strangers_known(s, "b@x.example"), 0);
	CHECK_INT_EQ(strangers_known(s, "a@x.example"), 1);
	CHECK_INT_EQ(strangers_known(s, "c@x.example"), 1);
	CHECK_INT_EQ(strangers_known(s, "d@x.example"), 1);
	/* Touching a known one does not grow the set. */
	CHECK_INT_EQ(strangers_touch(s, "d@x.example"), 0);
	CHECK_INT_EQ(strangers_count(s), 3);
	/* A smaller cap drops the least recent. */
	strangers_set_max(s, 1);
	CHECK_INT_EQ(strangers_count(s), 1);
	CHECK_INT_EQ(strangers_known(s, "d@x.example"), 1);
	CHECK_INT_EQ(strangers_clear(s), 1);
	CHECK_INT_EQ(strangers_known(s, "d@x.example"), 0);
	strangers_free(s);
}

/* Many contacts: the table grows, every one is still found. */
TEST(strangers_many_contacts)
{
	struct strangers *s = strangers_new(50000);
	char jid[64];
	int i, missing = 0;

	REQUIRE(s != NULL);
	for (i = 0; i < 60000; i++) {
		snprintf(jid, sizeof(jid), "u%d@example.net", i);
		REQUIRE(strangers_touch(s, jid) == 0);
	}
	CHECK_INT_EQ(strangers_count(s), 50000);
	for (i = 10000; i < 60000; i++) {
		snprintf(jid, sizeof(jid), "u%d@example.net", i);
		missing += !strangers_known(s, jid);
	}
	CHECK_INT_EQ(missing, 0);
	CHECK_INT_EQ(strangers_known(s, "u9999@example.net"), 0);
	strangers_free(s);
}

static void
parse_fails(const char *text, size_t len, const char *want, int line)
{
	struct strangers *s = strangers_new(10);
	char err[512] = "";

	REQUIRE(s != NULL);
	if (strangers_parse(s, "contacts", text, len, err, sizeof(err)) == 0)
		test_fail_at(__FILE__, line, "parsed, wanted '%s'", want);
	else if (strstr(err, want) == NULL)
		test_fail_at(__FILE__, line, "error '%s' lacks '%s'", err, want);
	strangers_free(s);
}

TEST(strangers_file_errors_name_the_line)
{
	char big[STRANGERS_JID_MAX + 8];

	parse_fails("# c\na@x.example\nAlice@x.example\n", 33,
	    "contacts: line 3: 'Alice@x.example' is not a canonical bare JID", __LINE__);
	parse_fails("a@x.example/res\n", 16, "line 1: 'a@x.example/res' is not a canonical", __LINE__);
	parse_fails("a@x.example\nb@x\0example\n", 24, "contacts: line 2: a NUL byte", __LINE__);
	parse_fails(" a@x.example\n", 13, "line 1:", __LINE__);
	memset(big, 'a', sizeof(big));
	parse_fails(big, sizeof(big), "contacts: line 1: longer than 1280 bytes", __LINE__);
}

TEST(strangers_file_roundtrip_and_cap)
{
	struct strangers *s = strangers_new(10), *t;
	char path[] = "/tmp/xe-strangers-XXXXXX", file[64], err[512];
	struct stat st;
	char *text;
	size_t len;

	REQUIRE(s != NULL && mkdtemp(path) != NULL);
	snprintf(file, sizeof(file), "%s/contacts", path);
	strangers_touch(s, "old@x.example");
	strangers_touch(s, "mid@x.example");
	strangers_touch(s, "x.example");		/* a domain (a service) */
	text = strangers_format(s, &len);
	REQUIRE(text != NULL);
	CHECK(strstr(text, "x.example\nmid@x.example\nold@x.example\n") != NULL);
	free(text);
	CHECK_INT_EQ(strangers_save(s, file, err, sizeof(err)), 0);
	CHECK(stat(file, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(access(strcat(strcpy(err, file), ".tmp"), F_OK) != 0);	/* renamed away */

	/* Loading keeps the order; a smaller cap keeps the most recent. */
	t = strangers_new(2);
	REQUIRE(t != NULL);
	CHECK_INT_EQ(strangers_load(t, file, err, sizeof(err)), 0);
	CHECK_INT_EQ(strangers_count(t), 2);
	CHECK_INT_EQ(strangers_known(t, "old@x.example"), 0);
	CHECK_INT_EQ(strangers_known(t, "mid@x.example"), 1);
	strangers_free(t);

	/* A missing file is an empty set; a directory is an error. */
	t = strangers_new(2);
	REQUIRE(t != NULL);
	unlink(file);
	CHECK_INT_EQ(strangers_load(t, file, err, sizeof(err)), 0);
	CHECK_INT_EQ(strangers_count(t), 0);
	CHECK_INT_EQ(strangers_load(t, path, err, sizeof(err)), -1);
	CHECK(strstr(err, "not a regular file") != NULL);
	strangers_free(t);
	strangers_free(s);
	rmdir(path);
}
