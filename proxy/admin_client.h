/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin_client.h - the command line's side of the remote admin channel
 * (admin_client.c): one request to a daemon's listen.admin over mutual
 * TLS 1.3, the answer back.
 *
 *   --remote HOST:PORT          the admin listener (an IP literal)
 *   --admin-cert FILE           our client certificate (its key's pin is in
 *   --admin-key FILE            the daemon's admin.pins) and its key
 *   --remote-pin sha256/BASE64  the server's key, pinned ...
 *   --remote-ca FILE            ... or its certificate checked against a CA
 *   --remote-name NAME          with --remote-ca: the name it must carry
 *                               (default: HOST)
 *   --read-back IP:PORT         cert rotate: where the daemon's external (or
 *                               internal) listener is reached from here, when
 *                               not at HOST and the port it listens on (NAT)
 */
#ifndef XE_ADMIN_CLIENT_H
#define XE_ADMIN_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct admin_remote {
	const char *addr;
	const char *cert;
	const char *key;
	const char *pin;
	const char *ca;
	const char *name;
	const char *read_back;
};

/* One part of a request's payload: from memory, or (fd >= 0) read from
 * fd to its end and sent in chunks, so a large file is never held. */
struct admin_client_part {
	const char *name;
	const uint8_t *data;
	size_t len;
	int fd;
};

#define ADMIN_REPLY_MAX (1024 * 1024)

/* If argv[*i] is one of the options above, takes it (and its value,
 * advancing *i) into r: 1; not one of them: 0; a missing value: -1
 * (reported on stderr, prefixed by cmd). */
int admin_remote_take_opt(struct admin_remote *r, const char *cmd, int argc, char **argv, int *i);
/* --remote given with what it needs (cert, key, pin or CA): 0, else -1
 * with the usage sentence on stderr. */
int admin_remote_check(const struct admin_remote *r, const char *cmd);

/*
 * Sends `line` and, when payload is set, the parts and the end marker
 * (admin_proto.h), then reads the answer to the end.  *reply is a heap,
 * NUL-terminated copy (caller frees).  0, or -1 with a sentence in err:
 * unreachable, the server's key not the pinned one (or its certificate
 * not valid for the name under the CA), our certificate refused, no
 * answer in time.
 */
int admin_client_request(const struct admin_remote *r, const char *line,
    const struct admin_client_part *parts, size_t nparts, int payload, char **reply,
    size_t *reply_len, char *err, size_t errlen);
/* The same for a request without payload, into a caller's buffer (the
 * shape of control_client_request). */
int admin_client_fetch(const struct admin_remote *r, const char *line, char *reply, size_t cap,
    char *err, size_t errlen);

#endif
