/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status_cli.h - `xmpp-edge status`, `streams` and `drain` (status_cli.c).
 */
#ifndef XE_STATUS_CLI_H
#define XE_STATUS_CLI_H

/* Sends command ("status", "streams", "drain") to the control socket and
 * prints the answer for a person, or as JSON; nothing with quiet.  Exit
 * status: 0 running / applied, 1 otherwise. */
struct admin_remote;
/* remote: the daemon's admin listener instead of the socket (NULL: the
 * socket). */
int status_cli_run(const char *socket_path, const struct admin_remote *remote,
    const char *command, int json, int quiet);
/* `xmpp-edge upgrade`: asks the daemon to start the binary on disk with
 * its sockets (handover.c) and waits until the new process answers on
 * the control socket (0) or the old one reports the upgrade failed (1). */
int status_cli_upgrade(const char *socket_path, int quiet);

#endif
