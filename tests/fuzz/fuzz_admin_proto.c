/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_admin_proto.c - libFuzzer target for the admin channel's request
 * framing (proxy/admin_proto.c).  The first input byte picks the payload
 * bound the "command" declares and how the rest is cut into reads (the
 * parser keeps its state across them); the owner's callbacks check that
 * every part chunk lies inside the bytes given and that the sum of the
 * parts never exceeds the declared bound.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_owner {
	long long max;
	unsigned long long seen;
	int done;
};

static long long
fuzz_on_line(void *ud, const char *line, char *err, size_t errlen)
{
	struct fuzz_owner *o = ud;

	if (strlen(line) > ADMIN_LINE_MAX)
		abort();
	if (line[0] == 'x') {
		strncpy(err, "refused", errlen);
		return -1;
	}
	return o->max;
}

static int
fuzz_on_part(void *ud, const char *name, const uint8_t *d, size_t len, char *err, size_t errlen)
{
	struct fuzz_owner *o = ud;
	volatile uint8_t sink = 0;
	size_t i;

	(void)err;
	(void)errlen;
	if (strlen(name) == 0 || strlen(name) > ADMIN_PART_NAME_MAX || len == 0)
		abort();
	for (i = 0; i < len; i++)	/* ASan: the span is readable */
		sink ^= d[i];
	(void)sink;
	o->seen += len;
	if (o->seen > (unsigned long long)o->max)
		abort();
	return 0;
}

static void
fuzz_on_done(void *ud)
{
	((struct fuzz_owner *)ud)->done++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long long maxes[] = { 0, 1, 100, 65536, 3 * 262144 };
	static const struct admin_proto_callbacks cb = {
		.on_line = fuzz_on_line, .on_part = fuzz_on_part, .on_done = fuzz_on_done,
	};
	struct fuzz_owner o = { 0, 0, 0 };
	struct admin_proto p;
	uint8_t *buf;
	size_t step, off;

	if (size < 1)
		return 0;
	o.max = maxes[data[0] % 5];
	step = (size_t)(data[0] >> 3) + 1;
	data++;
	size--;
	/* An exact-size copy: ASan sees any read past what was received. */
	buf = malloc(size ? size : 1);
	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	admin_proto_init(&p, &cb, &o);
	for (off = 0; off < size; off += step) {
		size_t n = size - off < step ? size - off : step;

		if (admin_proto_feed(&p, buf + off, n) != 0)
			break;
	}
	if (o.done > 1)
		abort();
	free(buf);
	return 0;
}
