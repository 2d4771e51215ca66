/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_log.c - the escaping of log lines (common/log.c).
 *
 * Values may carry a peer's bytes (a stream error text quoting the
 * peer, a JID): every JSON line must be one valid JSON object whatever
 * they hold, with invalid UTF-8 replaced and control characters escaped
 * (issue 14 finding 9), and a line is never cut in the middle.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#include "log.h"

/* Runs one log_event with stderr sent to a file; returns the output
 * (malloc'd, NUL-terminated). */
static char *
tl_capture(const char *key1, const char *v1, const char *key2,
    const char *v2)
{
	char path[] = "/tmp/xe-test-log-XXXXXX", *buf;
	int fd, saved;
	long n;
	FILE *f;

	fd = mkstemp(path);
	REQUIRE(fd >= 0);
	unlink(path);
	saved = dup(STDERR_FILENO);
	REQUIRE(saved >= 0 && dup2(fd, STDERR_FILENO) == STDERR_FILENO);
	log_setup(LOG_DEBUG, LOG_FORMAT_JSON);
	log_event(LOG_INFO, "test.hostile", key1, v1, key2, v2, NULL);
	REQUIRE(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
	close(saved);
	f = fdopen(fd, "r");
	REQUIRE(f != NULL);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	REQUIRE(buf != NULL);
	REQUIRE(fread(buf, 1, (size_t)n, f) == (size_t)n);
	fclose(f);
	return buf;
}

/* Parses one JSON line; returns the tree or fails the test. */
static yajl_val
tl_parse(const char *line)
{
	char err[256];
	yajl_val v;

	REQUIRE(strlen(line) > 0 && line[strlen(line) - 1] == '\n');
	REQUIRE(strchr(line, '\n') == line + strlen(line) - 1);
	v = yajl_tree_parse(line, err, sizeof(err));
	if (v == NULL)
		test_fail_at(__FILE__, __LINE__, "not JSON (%s): %s", err,
		    line);
	return v;
}

static const char *
tl_get(yajl_val v, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val s = yajl_tree_get(v, path, yajl_t_string);

	return s ? YAJL_GET_STRING(s) : NULL;
}

TEST(log_json_hostile_bytes)
{
	char *line = tl_capture("text", "encoding 'a\"b\\c\x01\x1b\xff\xc3\n'",
	    "peer", "\xed\xa0\x80x");
	yajl_val v = tl_parse(line);

	if (v != NULL) {
		CHECK_STR_EQ(tl_get(v, "event"), "test.hostile");
		CHECK_STR_EQ(tl_get(v, "text"), "encoding 'a\"b\\c\x01\x1b"
		    "\xef\xbf\xbd\xef\xbf\xbd\n'");
		CHECK_STR_EQ(tl_get(v, "peer"),
		    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx");
		yajl_tree_free(v);
	}
	/* Control characters are escaped, never written raw. */
	CHECK(strchr(line, '\x01') == NULL && strchr(line, '\x1b') == NULL);
	free(line);
}

/* Values that would make the line longer than the line buffer: the line
 * stays one valid JSON object (it used to be cut mid-string). */
TEST(log_json_long_values_stay_valid)
{
	size_t n = 7000, i;
	char *big = malloc(n + 1), *big2 = malloc(n + 1), *line;
	yajl_val v;
	const char *t;

	REQUIRE(big != NULL && big2 != NULL);
	for (i = 0; i < n; i++) {
		big[i] = (char)(i % 3 == 0 ? 0x01 : i % 3 == 1 ? '"' : 0xc3);
		big2[i] = 'y';
	}
	big[n] = big2[n] = '\0';
	line = tl_capture("text", big, "other", big2);
	CHECK(strlen(line) <= 8192);
	v = tl_parse(line);
	if (v != NULL) {
		t = tl_get(v, "text");
		CHECK(t != NULL && strlen(t) > 10 &&
		    strcmp(t + strlen(t) - 3, "...") == 0);
		CHECK(tl_get(v, "other") != NULL);
		yajl_tree_free(v);
	}
	free(line);
	free(big);
	free(big2);
}
