/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin_proto.h - the framing of a request on the remote admin channel
 * (admin.c), parsed incrementally from the bytes TLS decrypted.
 *
 * A request is the control socket's command line, optionally followed by
 * a payload in named parts and an end marker:
 *
 *   request = line [ *part "end" LF ]
 *   line    = 1*512(%x20-7E) LF            "status", "cert rotate example.com"
 *   part    = "part" SP name SP size LF size*OCTET
 *   name    = 1*32(ALPHA / DIGIT / "_" / "-" / ".")
 *   size    = 1*6DIGIT, 1 .. ADMIN_PART_MAX (64 KiB)
 *
 * Whether parts follow is the command's business: after the line the
 * parser asks its owner (on_line), who answers with the most payload
 * bytes the command accepts (0: none, the request is complete with its
 * line).  Parts of the same name concatenate, so a payload larger than
 * one part travels as a sequence of chunks, each handed over as it
 * arrives (on_part) and never held by the parser.  Everything is
 * bounded: the line, each part, the sum of the parts; a byte after the
 * request is an error (one request per connection).
 */
#ifndef XE_ADMIN_PROTO_H
#define XE_ADMIN_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define ADMIN_LINE_MAX 512		/* without the LF */
#define ADMIN_PART_NAME_MAX 32
#define ADMIN_PART_MAX (64 * 1024)	/* one chunk */
#define ADMIN_PART_HEADER_MAX 64	/* "part NAME SIZE" */

enum admin_proto_state {
	ADMIN_PROTO_LINE,		/* reading the request line */
	ADMIN_PROTO_PART_HEADER,	/* "part NAME SIZE" or "end" */
	ADMIN_PROTO_PART_DATA,		/* size bytes of the current part */
	ADMIN_PROTO_DONE,		/* the request is complete */
	ADMIN_PROTO_FAILED,		/* err says why; inert */
};

struct admin_proto_callbacks {
	/* The request line (NUL-terminated, validated).  Returns the most
	 * payload bytes the command takes (0: none, the request is
	 * complete), or -1 to refuse it (err filled by the callee). */
	long long (*on_line)(void *ud, const char *line, char *err, size_t errlen);
	/* A piece of part `name`, in order; a part may come in several
	 * calls.  0, or -1 to refuse (err filled). */
	int (*on_part)(void *ud, const char *name, const uint8_t *data, size_t len,
	    char *err, size_t errlen);
	/* The request is complete (after the line alone, or "end"). */
	void (*on_done)(void *ud);
};

struct admin_proto {
	enum admin_proto_state state;
	struct admin_proto_callbacks cb;
	void *ud;
	char line[ADMIN_LINE_MAX + 1];
	size_t line_len;
	char part_name[ADMIN_PART_NAME_MAX + 1];
	size_t part_left;		/* bytes of the current part to come */
	unsigned long long payload_max;	/* from on_line */
	unsigned long long payload_seen;
	char err[256];
};

void admin_proto_init(struct admin_proto *p, const struct admin_proto_callbacks *cb, void *ud);
/* Consumes len bytes.  0, or -1 once failed (p->err says why). */
int admin_proto_feed(struct admin_proto *p, const uint8_t *data, size_t len);
const char *admin_proto_state_str(enum admin_proto_state st);

#endif
