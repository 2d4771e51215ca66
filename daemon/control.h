/* SPDX-License-Identifier: Apache-2.0 */
/*
 * control.h - the admin socket (control.c): its server half in the
 * daemon, and the client half the commands (`status`, `drain`, `cert
 * rotate`...) use to talk to it.
 */
#ifndef XE_CONTROL_H
#define XE_CONTROL_H

#include <stddef.h>

#include "edge.h"
#include "run_user.h"

/* Binds the control socket (0660); as root, gives it to ru's uid and to
 * control.admin_group (else ru's gid) before the drop. */
int control_open(struct edge *edge, const struct run_user *ru, char *err, size_t errlen);
void control_close(struct edge *edge);
/* Sends one control command ("status", "reload") to the running daemon
 * and prints its JSON answer (unless quiet).  Returns 0 when the answer
 * has "status":"running" (status) or "result":"applied" (reload). */
int control_client_command(const char *socket_path, const char *command, int quiet);
/* Sends one command and copies the JSON answer into reply; 0, or -1 with
 * a sentence in err (no daemon, permission denied, timeout). */
int control_client_request(const char *socket_path, const char *command,
    char *reply, size_t cap, char *err, size_t errlen);
/* Runs a command of the control protocol ("status", "streams", "drain",
 * "reload") for the control socket or the admin listener (origin names
 * which, for the log); *out is its JSON answer (heap, one line; NULL when
 * out of memory).  -1 if command is none of those. */
int control_execute(struct edge *edge, const char *command, const char *origin, char **out,
    size_t *outlen);
/* The same with its own answer timeout (a request that writes and
 * verifies an appliance image takes longer than a status). */
int control_client_request_timeout(const char *socket_path, const char *command, char *reply,
    size_t cap, int timeout_ms, char *err, size_t errlen);

#endif
