/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin_cmd.h - the commands of the remote admin channel (admin_cmd.c)
 * and what a command implementation sees.
 *
 * The listener (admin.c) authenticates the client, frames its request
 * (admin_proto.h) and hands it here in three steps: the request line
 * (admin_request_begin: finds the command, returns how many payload
 * bytes it takes), each piece of payload as it arrives
 * (admin_request_part), then admin_request_run for the one JSON answer.
 * admin_request_cleanup always ends a request, run or not.
 *
 * Adding a remote command: one row in admin_commands[] (admin_cmd.c, or
 * a file of its own declaring its row here): the words it starts with,
 * how many arguments follow, the most payload bytes it accepts (0: none)
 * and its functions.  A command with a payload receives every chunk in
 * `part` as it arrives (nothing is buffered for it: collect into memory
 * with admin_parts_collect() for small files, or stream to disk for a
 * large one); `run` executes and answers; `cleanup` frees its ctx.  The
 * client side is admin_client_request() with the same line and parts.
 */
#ifndef XE_ADMIN_CMD_H
#define XE_ADMIN_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "admin_proto.h"

struct edge;

#define ADMIN_ARGS_MAX 8
#define ADMIN_ERR_MAX 1536

struct admin_request;

struct admin_command {
	const char *name;		/* leading words: "cert rotate" */
	size_t min_args, max_args;	/* words after the name */
	unsigned long long payload_max;	/* 0: no parts */
	/* Optional: checks the arguments before any payload is read.
	 * 0, or -1 with err (the request is refused whole). */
	int (*begin)(struct admin_request *r, char *err, size_t errlen);
	/* Required with a payload: a chunk of part `name`. 0 or -1. */
	int (*part)(struct admin_request *r, const char *name, const uint8_t *data,
	    size_t len, char *err, size_t errlen);
	/* The JSON answer (one heap line, NULL when out of memory); sets
	 * r->outcome (and r->error) for the log.  A command that must not
	 * hold the loop (a key generation, hashing an image) starts its work
	 * (uv_queue_work on r->edge->loop) and returns ADMIN_ANSWER_LATER;
	 * it then calls admin_request_answer() once, from the loop thread.
	 * cleanup is not called before that. */
	char *(*run)(struct admin_request *r, size_t *outlen);
	/* Optional: frees r->ctx. */
	void (*cleanup)(struct admin_request *r);
};

/* run's "the answer comes later" (never a real answer). */
extern char admin_answer_later_mark;
#define ADMIN_ANSWER_LATER (&admin_answer_later_mark)

struct admin_request {
	struct edge *edge;
	const char *client_pin;		/* base64 SPKI pin of the client */
	const char *peer;		/* "ip:port" */
	char line[ADMIN_LINE_MAX + 1];
	char words[ADMIN_LINE_MAX + 1];	/* line, split in place */
	const char *argv[ADMIN_ARGS_MAX];	/* the words after the name */
	size_t argc;
	const struct admin_command *cmd;
	void *ctx;			/* the command's */
	const char *outcome;		/* "applied", "ok", "failed", "refused" */
	char error[ADMIN_ERR_MAX];
	int pending;			/* run answered ADMIN_ANSWER_LATER */
	/* Set by the listener: takes the late answer (and out's ownership). */
	void (*on_answer)(struct admin_request *r, char *out, size_t len);
};

/* The line of a request: finds its command.  Returns its payload bound
 * (0: complete now), or -1 with err (unknown command, arguments). */
long long admin_request_begin(struct admin_request *r, struct edge *edge, const char *line,
    char *err, size_t errlen);
int admin_request_part(struct admin_request *r, const char *name, const uint8_t *data,
    size_t len, char *err, size_t errlen);
char *admin_request_run(struct admin_request *r, size_t *outlen);
/* A command's late answer (see run); hands out (may be NULL) over. */
void admin_request_answer(struct admin_request *r, char *out, size_t len);
void admin_request_cleanup(struct admin_request *r);

/* Small payloads kept in memory, by part name, each with its bound. */
#define ADMIN_PARTS_MAX 4
struct admin_part_buf {
	const char *name;		/* NULL: unused slot */
	size_t cap;
	uint8_t *data;			/* NUL-terminated for PEM and JSON */
	size_t len;
};
struct admin_parts {
	struct admin_part_buf p[ADMIN_PARTS_MAX];
};
/* Appends a chunk to the slot named name; -1 with err for a name not
 * declared or past its cap. */
int admin_parts_collect(struct admin_parts *ps, const char *name, const uint8_t *data,
    size_t len, char *err, size_t errlen);
const struct admin_part_buf *admin_parts_get(const struct admin_parts *ps, const char *name);
/* Frees the buffers, wiping them (keys travel here). */
void admin_parts_free(struct admin_parts *ps);

/* JSON answers: {"result":R,"error":E} or with extra string pairs. */
char *admin_answer(struct admin_request *r, const char *result, const char *error,
    const char *const *kv, size_t *outlen);

#endif
