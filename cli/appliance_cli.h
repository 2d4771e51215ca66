/* SPDX-License-Identifier: Apache-2.0 */
/*
 * appliance_cli.h - `xmpp-edge appliance status` and `appliance update`
 * (appliance_cli.c), through the daemon's control protocol, on its
 * control socket or over the admin listener (--remote).
 */
#ifndef XE_APPLIANCE_CLI_H
#define XE_APPLIANCE_CLI_H

struct admin_remote;

/* Where the daemon is: its control socket, or its admin listener. */
struct appliance_target {
	const char *socket;
	const struct admin_remote *remote;
};

/* Both slots, their versions and states, which one booted, what boots
 * next and whether the last update fell back; JSON as the daemon sent
 * it with json.  Exit status 0 when the daemon answered. */
int appliance_cli_status(const struct appliance_target *t, int json);

/* Streams the bundle at path into the appliance's inactive slot; exit
 * status 0 when the daemon installed it as the next boot entry. */
int appliance_cli_update(const struct appliance_target *t, const char *path, int quiet);

#endif
