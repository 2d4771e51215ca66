/* SPDX-License-Identifier: Apache-2.0 */
/*
 * run_user.h - the account the daemon serves as (`user`), resolved and
 * judged the same way by `run` and `check`, and the privilege drop.
 */
#ifndef XE_RUN_USER_H
#define XE_RUN_USER_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* The name `./build.sh run`, the container and the appliance create. */
#define RUN_USER_DEFAULT "xmpp-edge"
/* The kernel's overflow ids, Debian's nobody/nogroup: shared by design. */
#define RUN_USER_NOBODY_ID 65534

struct run_user {
	int privileged;		/* started as root: root owns what the user must not write */
	int drop;		/* root now: setuid to uid/gid after binding */
	uid_t uid;		/* the uid the daemon serves as */
	gid_t gid;
	int demo_nobody;	/* the demo runs as nobody: no xmpp-edge account */
};

/*
 * Resolves cfg->user as `run` started as root does: a name or a numeric
 * uid (containers whose /etc/passwd does not list it); root refused; a
 * missing name refused; for a configuration file (not the demo) nobody,
 * nogroup and a primary group that is another account's primary group
 * too are refused.  -1 with "SOURCE: user: why".
 */
int run_user_resolve(const struct config *cfg, struct run_user *ru, char *err, size_t errlen);

/*
 * Who the files of cfg are judged against right now: as root, cfg's user
 * resolved (run_user_resolve); after run_user_drop, the process's own
 * ids, still privileged; never root (a container's USER), the process's
 * own ids, not privileged.
 */
int run_user_current(const struct config *cfg, struct run_user *ru, char *err, size_t errlen);

/* control.admin_group resolved: members may use the control socket. */
struct run_user_group {
	int set;
	gid_t gid;
};

/* Resolves control.admin_group (a name or a numeric gid); -1 with
 * "SOURCE: control.admin_group: no such group 'x'". */
int run_user_admin_group(const struct config *cfg, struct run_user_group *g, char *err,
    size_t errlen);

/* setgroups/setgid/setuid to ru (when ru->drop), then checks root cannot
 * be regained. */
int run_user_drop(const struct run_user *ru, char *err, size_t errlen);

/* relayd's check_file_secrecy(): a secret belongs to root or to the
 * daemon's user, nobody else (whoever owns a file can chmod it). */
int run_user_may_own_secret(const struct run_user *ru, uid_t owner);

#endif
