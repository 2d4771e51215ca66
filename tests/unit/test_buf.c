/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_buf.c - common/buf.c: appends up to the cap and not a byte past it,
 * failures that leave the buffer as it was, truncation only when asked,
 * heap and fixed storage alike.
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define TEST_BUF_CAP 16

TEST(buf_append_up_to_the_cap_exactly)
{
	struct buf b;

	buf_init(&b, TEST_BUF_CAP);
	CHECK_INT_EQ(buf_append(&b, "0123456789", 10), BUF_OK);
	CHECK_INT_EQ(buf_room(&b), 6);
	CHECK_INT_EQ(buf_append(&b, "abcdef", 6), BUF_OK);	/* exactly the cap */
	CHECK_INT_EQ(b.len, TEST_BUF_CAP);
	CHECK_INT_EQ(buf_append(&b, "x", 1), BUF_TOO_LONG);	/* one past */
	CHECK_INT_EQ(b.len, TEST_BUF_CAP);
	CHECK_INT_EQ(buf_append(&b, "", 0), BUF_OK);		/* nothing always fits */
	CHECK_STR_EQ(buf_cstr(&b), "0123456789abcdef");
	buf_free(&b);
}

TEST(buf_failed_append_changes_nothing)
{
	struct buf b;

	buf_init(&b, TEST_BUF_CAP);
	REQUIRE(buf_append_str(&b, "0123456789") == BUF_OK);
	CHECK_INT_EQ(buf_append(&b, "abcdefg", 7), BUF_TOO_LONG);	/* 17 > 16 */
	CHECK_INT_EQ(b.len, 10);
	CHECK_STR_EQ(buf_cstr(&b), "0123456789");
	/* A length that would wrap size_t arithmetic is refused too. */
	CHECK_INT_EQ(buf_append(&b, "x", SIZE_MAX), BUF_TOO_LONG);
	CHECK_INT_EQ(b.len, 10);
	buf_free(&b);
}

TEST(buf_appendf_whole_or_nothing)
{
	struct buf b;
	char big[600];

	buf_init(&b, TEST_BUF_CAP);
	CHECK_INT_EQ(buf_appendf(&b, "%s=%d", "n", 42), BUF_OK);
	CHECK_INT_EQ(buf_appendf(&b, "%s", "0123456789ab"), BUF_OK);	/* 4 + 12 = 16 */
	CHECK_INT_EQ(buf_appendf(&b, "%c", 'x'), BUF_TOO_LONG);
	CHECK_STR_EQ(buf_cstr(&b), "n=420123456789ab");
	buf_free(&b);
	/* Longer than the stack scratch: formatted in place. */
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_init(&b, 1000);
	CHECK_INT_EQ(buf_appendf(&b, "<%s>", big), BUF_OK);
	CHECK_INT_EQ(b.len, sizeof(big) + 1);
	CHECK_INT_EQ(buf_appendf(&b, "%s", big), BUF_TOO_LONG);
	CHECK_INT_EQ(b.len, sizeof(big) + 1);
	buf_free(&b);
}

TEST(buf_cut_only_when_asked)
{
	struct buf b;

	buf_init(&b, TEST_BUF_CAP);
	REQUIRE(buf_append_str(&b, "0123456789") == BUF_OK);
	CHECK_INT_EQ(buf_append_cut(&b, "abcdefgh", 8), BUF_TOO_LONG);
	CHECK_STR_EQ(buf_cstr(&b), "0123456789abcdef");
	CHECK_INT_EQ(buf_append_cut(&b, "z", 1), BUF_TOO_LONG);
	CHECK_INT_EQ(b.len, TEST_BUF_CAP);
	buf_reset(&b);
	CHECK_INT_EQ(buf_append_cut(&b, "abc", 3), BUF_OK);
	CHECK_STR_EQ(buf_cstr(&b), "abc");
	buf_free(&b);
}

TEST(buf_fixed_storage_never_grows)
{
	char mem[8];
	struct buf b;

	memset(mem, '#', sizeof(mem));
	buf_init_fixed(&b, mem, sizeof(mem));
	CHECK_INT_EQ(buf_append(&b, "1234567", 7), BUF_OK);
	CHECK_STR_EQ(buf_cstr(&b), "1234567");		/* the NUL fits: 7 < 8 */
	CHECK_INT_EQ(buf_append(&b, "8", 1), BUF_OK);	/* the cap is the size */
	CHECK(buf_cstr(&b) == NULL);			/* no room for a NUL */
	CHECK_INT_EQ(buf_append(&b, "9", 1), BUF_TOO_LONG);
	CHECK(memcmp(mem, "12345678", 8) == 0);
	CHECK(b.p == mem);
	/* A formatted append that fills the last byte. */
	buf_reset(&b);
	CHECK_INT_EQ(buf_appendf(&b, "%07d", 1), BUF_OK);
	CHECK_INT_EQ(buf_appendf(&b, "%d", 2), BUF_OK);
	CHECK(memcmp(mem, "00000012", 8) == 0);
	buf_free(&b);	/* a fixed buffer's storage is the caller's */
	CHECK(memcmp(mem, "00000012", 8) == 0);
}

TEST(buf_truncate_rolls_back_to_a_mark)
{
	struct buf b;
	size_t mark;

	buf_init(&b, TEST_BUF_CAP);
	REQUIRE(buf_append_str(&b, "keep") == BUF_OK);
	mark = b.len;
	REQUIRE(buf_append_str(&b, "drop") == BUF_OK);
	buf_truncate(&b, mark);
	CHECK_STR_EQ(buf_cstr(&b), "keep");
	buf_truncate(&b, 100);		/* never lengthens */
	CHECK_INT_EQ(b.len, 4);
	buf_free(&b);
}

TEST(buf_zero_cap_and_empty)
{
	struct buf b;

	buf_init(&b, 0);
	CHECK_INT_EQ(buf_append(&b, "a", 1), BUF_TOO_LONG);
	CHECK_STR_EQ(buf_cstr(&b), "");
	buf_free(&b);
	buf_init(&b, TEST_BUF_CAP);
	CHECK(b.p == NULL);		/* nothing allocated before the first append */
	buf_free(&b);
}

/* Growing by doubling reaches a large cap and stops exactly at it. */
TEST(buf_grows_to_a_large_cap)
{
	struct buf b;
	size_t i;

	buf_init(&b, 100000);
	for (i = 0; i < 100000 / 10; i++)
		REQUIRE(buf_append(&b, "0123456789", 10) == BUF_OK);
	CHECK_INT_EQ(b.len, 100000);
	CHECK(b.size <= 100001);
	CHECK_INT_EQ(buf_append(&b, "x", 1), BUF_TOO_LONG);
	CHECK(buf_cstr(&b) != NULL);
	buf_free(&b);
}

TEST(buf_result_sentences)
{
	CHECK_STR_EQ(buf_result_str(BUF_OK), "ok");
	CHECK_STR_EQ(buf_result_str(BUF_TOO_LONG), "longer than the buffer's cap");
	CHECK_STR_EQ(buf_result_str(BUF_NO_MEMORY), "out of memory");
}

/* A long formatted append that fills a fixed buffer to its last byte
 * (no room for vsnprintf's NUL in place). */
TEST(buf_appendf_fills_fixed_storage_exactly)
{
	char mem[300], want[301];
	struct buf b;

	memset(want, 'q', 300);
	want[300] = '\0';
	buf_init_fixed(&b, mem, sizeof(mem));
	CHECK_INT_EQ(buf_appendf(&b, "%s", want), BUF_OK);
	CHECK_INT_EQ(b.len, 300);
	CHECK(memcmp(mem, want, 300) == 0);
	buf_reset(&b);
	CHECK_INT_EQ(buf_appendf(&b, "%s!", want), BUF_TOO_LONG);
	CHECK_INT_EQ(b.len, 0);
}
