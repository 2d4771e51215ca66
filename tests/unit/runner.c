/* SPDX-License-Identifier: Apache-2.0 */
/*
 * runner.c - runs every TEST() linked into the unit-test binary.
 *
 * Each test runs in a forked child with an alarm, so one crash, hang or
 * sanitizer report fails that test and not the run.  Usage:
 *   unit_tests            run all
 *   unit_tests PATTERN    run the tests whose name contains PATTERN
 *   unit_tests -n         run in-process (no fork; for gdb)
 *   unit_tests -j N       run N tests at a time (default 1; XE_UNIT_JOBS
 *                         sets the default): each child writes into a file
 *                         of its own, shown whole before its result line,
 *                         and the results come in name order as with one
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
#define MAX_JOBS 64

struct test_entry {
	const char *name;
	test_fn fn;
};

/* A test running in a child under -j: its PID, the file holding its
 * output, and its result once reaped (-1 while it runs). */
struct job {
	pid_t pid;
	FILE *out;
	int bad;
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

/* job_start: forks the test with its stdout and stderr going to a fresh
 * temporary file (owned by the job; closed in job_report). */
static int
job_start(struct job *j, const struct test_entry *t)
{
	j->bad = -1;
	j->out = tmpfile();
	if (j->out == NULL) {
		perror("tmpfile");
		return -1;
	}
	fflush(NULL);
	j->pid = fork();
	if (j->pid < 0) {
		perror("fork");
		fclose(j->out);
		j->out = NULL;
		return -1;
	}
	if (j->pid == 0) {
		if (dup2(fileno(j->out), STDOUT_FILENO) < 0 ||
		    dup2(fileno(j->out), STDERR_FILENO) < 0)
			_exit(1);
		alarm(TEST_TIMEOUT_S);
		current_failures = 0;
		t->fn();
		fflush(NULL);
		_exit(current_failures ? 1 : 0);
	}
	return 0;
}

/* job_report: copies the job's output to ours, then its result line. */
static void
job_report(struct job *j, const struct test_entry *t)
{
	char buf[4096];
	size_t n;

	fflush(NULL);
	rewind(j->out);
	while ((n = fread(buf, 1, sizeof buf, j->out)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(j->out);
	j->out = NULL;
	fflush(stderr);
	printf("%s %s\n", j->bad ? "FAIL" : "ok  ", t->name);
}

/* run_parallel: runs the selected tests (sel[0..n)) jobs at a time and
 * reports them in order; adds to *passed and *failed. */
static void
run_parallel(const size_t *sel, size_t n, size_t jobs, size_t *passed,
    size_t *failed)
{
	static struct job job[MAX_TESTS];
	size_t next = 0, reported = 0, running = 0, k;
	pid_t pid;
	int status;

	while (reported < n) {
		/* At most MAX_JOBS ended tests wait behind a slow one: each
		 * holds an open file. */
		while (running < jobs && next < n && next - reported < MAX_JOBS) {
			if (job_start(&job[next], &tests[sel[next]]) < 0)
				job[next].bad = 1;	/* reported as failed */
			else
				running++;
			next++;
		}
		/* Report, in order, every test that has ended. */
		while (reported < next && job[reported].bad >= 0) {
			if (job[reported].out != NULL)
				job_report(&job[reported], &tests[sel[reported]]);
			else
				printf("FAIL %s\n", tests[sel[reported]].name);
			if (job[reported].bad)
				(*failed)++;
			else
				(*passed)++;
			reported++;
		}
		if (running == 0)
			continue;
		pid = waitpid(-1, &status, 0);
		if (pid < 0) {
			perror("waitpid");
			abort();
		}
		for (k = reported; k < next; k++) {
			if (job[k].bad < 0 && job[k].pid == pid) {
				/* The signal's note goes with the test's output. */
				if (WIFSIGNALED(status))
					fprintf(job[k].out, "  killed by signal %d%s\n",
					    WTERMSIG(status), WTERMSIG(status) ==
					    SIGALRM ? " (timeout)" : "");
				job[k].bad = WIFSIGNALED(status) ||
				    WEXITSTATUS(status) != 0;
				running--;
				break;
			}
		}
	}
}

int
main(int argc, char **argv)
{
	const char *pattern = NULL, *env;
	int no_fork = 0;
	size_t i, passed = 0, failed = 0, jobs = 1, n = 0;
	static size_t sel[MAX_TESTS];

	env = getenv("XE_UNIT_JOBS");
	if (env != NULL && *env != '\0')
		jobs = strtoul(env, NULL, 10);
	for (i = 1; i < (size_t)argc; i++) {
		if (strcmp(argv[i], "-n") == 0)
			no_fork = 1;
		else if (strcmp(argv[i], "-j") == 0 && i + 1 < (size_t)argc)
			jobs = strtoul(argv[++i], NULL, 10);
		else
			pattern = argv[i];
	}
	if (jobs < 1 || jobs > MAX_JOBS) {
		fprintf(stderr, "runner: -j takes 1 to %d\n", MAX_JOBS);
		return 2;
	}
	qsort(tests, test_count, sizeof(tests[0]), cmp_entry);
	if (jobs > 1 && !no_fork) {
		for (i = 0; i < test_count; i++)
			if (!pattern || strstr(tests[i].name, pattern))
				sel[n++] = i;
		run_parallel(sel, n, jobs, &passed, &failed);
		printf("%zu passed, %zu failed\n", passed, failed);
		return failed ? 1 : 0;
	}
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
