/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runner.c - runs every TEST() linked into the unit-test binary.
 *
 * Each test runs in a forked child with an alarm, so one crash, hang or
 * sanitizer report fails that test and not the run.  Usage:
 *   unit_tests            run all
 *   unit_tests PATTERN    run the tests whose name contains PATTERN
 *   unit_tests -n         run in-process (no fork; for gdb)
 * The last line is always "N passed, N failed".
 */
#include "test.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_TESTS 4096
#define TEST_TIMEOUT_S 60

struct test_entry {
	const char *name;
	test_fn fn;
};

/* The registry is filled by constructors before main(); it is the only
 * mutable global of the harness. */
static struct test_entry tests[MAX_TESTS];
static size_t test_count;
static int current_failures;

void
test_register(const char *name, test_fn fn)
{
	if (test_count == MAX_TESTS) {
		fprintf(stderr, "runner: more than %d tests\n", MAX_TESTS);
		abort();
	}
	tests[test_count].name = name;
	tests[test_count].fn = fn;
	test_count++;
}

void
test_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "  %s:%d: check failed: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	current_failures++;
}

void
test_abort_current(void)
{
	fflush(NULL);
	_exit(1);
}

static int
cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct test_entry *)a)->name,
	    ((const struct test_entry *)b)->name);
}

static int
run_in_child(const struct test_entry *t)
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		alarm(TEST_TIMEOUT_S);
		current_failures = 0;
		t->fn();
		fflush(NULL);
		_exit(current_failures ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) < 0)
		return 1;
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "  killed by signal %d%s\n", WTERMSIG(status),
		    WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
		return 1;
	}
	return WEXITSTATUS(status) != 0;
}

int
main(int argc, char **argv)
{
	const char *pattern = NULL;
	int no_fork = 0;
	size_t i, passed = 0, failed = 0;

	for (i = 1; i < (size_t)argc; i++) {
		if (strcmp(argv[i], "-n") == 0)
			no_fork = 1;
		else
			pattern = argv[i];
	}
	qsort(tests, test_count, sizeof(tests[0]), cmp_entry);
	for (i = 0; i < test_count; i++) {
		int bad;

		if (pattern && !strstr(tests[i].name, pattern))
			continue;
		if (no_fork) {
			current_failures = 0;
			tests[i].fn();
			bad = current_failures != 0;
		} else {
			bad = run_in_child(&tests[i]);
		}
		printf("%s %s\n", bad ? "FAIL" : "ok  ", tests[i].name);
		if (bad)
			failed++;
		else
			passed++;
	}
	printf("%zu passed, %zu failed\n", passed, failed);
	return failed ? 1 : 0;
}
