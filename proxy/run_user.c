/* SPDX-License-Identifier: Apache-2.0 */
/*
 * run_user.c - the account the daemon serves as, and the privilege drop.
 *
 * Started as root, `xmpp-edge run` reads its keys, binds its ports and
 * opens its control socket, then drops to `user` (default "xmpp-edge": a
 * dedicated system account; `./build.sh run` creates it, the container
 * and the appliance use uid 5269 under that name).
 *
 * Why a dedicated account: every process of the daemon's uid can read
 * the dialback secret (and then speak for the hosted domains to the
 * whole federation) and the keys, and every process of its group could
 * reach the control socket.  `nobody`/`nogroup` are shared by unrelated
 * services by design, so for a configuration file (a deployment) these
 * are refused:
 *   - root (uid 0), and a name that does not exist;
 *   - uid 65534 or the name "nobody", a primary group gid 65534;
 *   - a primary group that is also another account's primary group
 *     (two services in one group read each other's 0640 files).
 *     Members listed in /etc/group are the operator's deliberate grants
 *     (an admin added to the group) and are not counted as sharing.
 * The embedded default configuration (no -c) is the demo: loopback only,
 * a self-signed certificate made on first start, nothing worth stealing.
 * It runs as xmpp-edge when that account exists, else as nobody, and the
 * daemon says so (event daemon.demo_user).
 *
 * `check` and `run` both come here, so `check` refuses exactly what `run`
 * would, with the same words.
 *
 * Process credentials are process-wide state: whether this process
 * dropped root is remembered here (run_user_dropped), because a reload
 * after the drop must still judge files as a privileged start does.
 */
#include "run_user.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define RUN_USER_USERADD "useradd --system --no-create-home --home-dir /nonexistent " \
	"--shell /usr/sbin/nologin "
#define RUN_USER_HINT "create a dedicated account: " RUN_USER_USERADD RUN_USER_DEFAULT

static int run_user_dropped;	/* this process gave up root (run_user_drop) */

static int
run_user_fail(const struct config *cfg, char *err, size_t errlen, const char *why)
{
	if (snprintf(err, errlen, "%s: user: %s", cfg->source, why) >= (int)errlen)
		err[errlen - 1] = '\0';
	return -1;
}

/* 1 if another account has gid as its primary group (its name in other). */
static int
run_user_group_shared(uid_t uid, gid_t gid, char *other, size_t cap)
{
	const struct passwd *pw;
	int shared = 0;

	setpwent();
	while ((pw = getpwent()) != NULL) {
		if (pw->pw_gid == gid && pw->pw_uid != uid) {
			snprintf(other, cap, "%s", pw->pw_name);
			shared = 1;
			break;
		}
	}
	endpwent();
	return shared;
}

/* The rules a deployment's account must meet (see the top of the file). */
static int
run_user_judge(const struct config *cfg, const struct run_user *ru, const char *name,
    char *err, size_t errlen)
{
	char why[CONFIG_ERR_MAX / 2], other[64];
	const struct group *gr;

	if (ru->uid == 0) {
		snprintf(why, sizeof(why), "'%s' is root; refusing to run as root", name);
		return run_user_fail(cfg, err, errlen, why);
	}
	if (cfg->demo)
		return 0;
	if (ru->uid == RUN_USER_NOBODY_ID || strcmp(name, "nobody") == 0) {
		snprintf(why, sizeof(why), "'%s' is shared with unrelated services (every process "
		    "running as it could read the keys and the dialback secret); " RUN_USER_HINT, name);
		return run_user_fail(cfg, err, errlen, why);
	}
	gr = getgrgid(ru->gid);
	if (ru->gid == RUN_USER_NOBODY_ID) {
		snprintf(why, sizeof(why), "'%s' has the primary group '%s' (gid %u), shared with "
		    "unrelated services; " RUN_USER_HINT, name, gr != NULL ? gr->gr_name : "nogroup",
		    (unsigned)ru->gid);
		return run_user_fail(cfg, err, errlen, why);
	}
	if (run_user_group_shared(ru->uid, ru->gid, other, sizeof(other))) {
		snprintf(why, sizeof(why), "'%s' has the primary group gid %u%s%s%s, which is also "
		    "the primary group of '%s'; give the service a group of its own (useradd "
		    "--system creates one)", name, (unsigned)ru->gid, gr != NULL ? " ('" : "",
		    gr != NULL ? gr->gr_name : "", gr != NULL ? "')" : "", other);
		return run_user_fail(cfg, err, errlen, why);
	}
	return 0;
}

int
run_user_resolve(const struct config *cfg, struct run_user *ru, char *err, size_t errlen)
{
	const char *u = cfg->user;
	const struct passwd *pw;
	char why[CONFIG_ERR_MAX / 2];

	memset(ru, 0, sizeof(*ru));
	ru->privileged = ru->drop = 1;
	if (u[strspn(u, "0123456789")] == '\0') {
		char *end;
		unsigned long v = strtoul(u, &end, 10);

		if (v == 0 || v > 0x7fffffffUL) {
			snprintf(why, sizeof(why), "'%s' is not a usable uid (root is refused)", u);
			return run_user_fail(cfg, err, errlen, why);
		}
		ru->uid = (uid_t)v;
		pw = getpwuid(ru->uid);
		ru->gid = pw != NULL ? pw->pw_gid : (gid_t)v;
		return run_user_judge(cfg, ru, pw != NULL ? pw->pw_name : u, err, errlen);
	}
	pw = getpwnam(u);
	if (pw == NULL && cfg->demo && strcmp(u, RUN_USER_DEFAULT) == 0) {
		/* The demo without the account: nobody, said in the log. */
		pw = getpwnam("nobody");
		ru->demo_nobody = pw != NULL;
	}
	if (pw == NULL) {
		snprintf(why, sizeof(why), "no such user '%s'; create it: " RUN_USER_USERADD "%s",
		    u, u);
		return run_user_fail(cfg, err, errlen, why);
	}
	ru->uid = pw->pw_uid;
	ru->gid = pw->pw_gid;
	return run_user_judge(cfg, ru, u, err, errlen);
}

int
run_user_current(const struct config *cfg, struct run_user *ru, char *err, size_t errlen)
{
	if (geteuid() == 0)
		return run_user_resolve(cfg, ru, err, errlen);
	memset(ru, 0, sizeof(*ru));
	ru->privileged = run_user_dropped;
	ru->uid = geteuid();
	ru->gid = getegid();
	return 0;
}

int
run_user_admin_group(const struct config *cfg, struct run_user_group *g, char *err, size_t errlen)
{
	const char *name = cfg->control.admin_group;
	const struct group *gr;

	memset(g, 0, sizeof(*g));
	if (name[0] == '\0')
		return 0;
	if (name[strspn(name, "0123456789")] == '\0') {
		unsigned long v = strtoul(name, NULL, 10);

		if (v > 0x7fffffffUL) {
			snprintf(err, errlen, "%s: control.admin_group: '%s' is not a usable gid",
			    cfg->source, name);
			return -1;
		}
		g->gid = (gid_t)v;
	} else if ((gr = getgrnam(name)) != NULL) {
		g->gid = gr->gr_gid;
	} else {
		snprintf(err, errlen, "%s: control.admin_group: no such group '%s'; create it: "
		    "groupadd --system %s", cfg->source, name, name);
		return -1;
	}
	g->set = 1;
	return 0;
}

int
run_user_drop(const struct run_user *ru, char *err, size_t errlen)
{
	char uid[16];

	if (!ru->drop)
		return 0;
	if (setgroups(1, &ru->gid) < 0 || setgid(ru->gid) < 0 || setuid(ru->uid) < 0) {
		snprintf(err, errlen, "cannot drop privileges to uid %u: %s",
		    (unsigned)ru->uid, strerror(errno));
		return -1;
	}
	/* Paranoia, as OpenBSD daemons do: getting root back must fail. */
	if (setuid(0) == 0) {
		snprintf(err, errlen, "privileges could be regained after dropping them");
		return -1;
	}
	run_user_dropped = 1;
	snprintf(uid, sizeof(uid), "%u", (unsigned)ru->uid);
	log_event(LOG_INFO, "daemon.privileges_dropped", "uid", uid, NULL);
	return 0;
}

int
run_user_may_own_secret(const struct run_user *ru, uid_t owner)
{
	return owner == 0 || owner == ru->uid;
}
