/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test.h - the tiny unit-test harness shared by every tests/unit/test_*.c.
 *
 * Modelled on libuv's test/: a test is a function declared with TEST(name);
 * it registers itself at load time (a constructor), so adding a test file
 * needs no edit anywhere else.  The runner (runner.c) forks every test with
 * a timeout, so a crash or a sanitizer abort fails that test alone, and it
 * ends with the line "N passed, N failed" that build.sh sums up.
 *
 * CHECK* record a failure (file:line and the expression) and let the test
 * go on; REQUIRE* stop the test at the first failure.
 */
#ifndef XE_TEST_H
#define XE_TEST_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef void (*test_fn)(void);

void test_register(const char *name, test_fn fn);
void test_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void test_abort_current(void) __attribute__((noreturn));

#define TEST(name)                                                         \
	static void test_##name(void);                                     \
	__attribute__((constructor)) static void test_register_##name(void) \
	{ test_register(#name, test_##name); }                             \
	static void test_##name(void)

#define CHECK(cond)                                                        \
	do { if (!(cond)) test_fail_at(__FILE__, __LINE__, "%s", #cond); } while (0)
#define REQUIRE(cond)                                                      \
	do { if (!(cond)) { test_fail_at(__FILE__, __LINE__, "%s", #cond); \
	                    test_abort_current(); } } while (0)
#define CHECK_INT_EQ(a, b)                                                 \
	do { long long a_ = (long long)(a), b_ = (long long)(b);            \
	     if (a_ != b_) test_fail_at(__FILE__, __LINE__,                 \
	         "%s == %s (%lld != %lld)", #a, #b, a_, b_); } while (0)
#define CHECK_STR_EQ(a, b)                                                 \
	do { const char *a_ = (a), *b_ = (b);                               \
	     if (!a_ || !b_ || strcmp(a_, b_) != 0)                          \
	         test_fail_at(__FILE__, __LINE__, "%s == %s (\"%s\" != \"%s\")", \
	             #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } while (0)

#endif
