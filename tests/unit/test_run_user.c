/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_run_user.c - the account rules (proxy/run_user.c) and the owner
 * rule of STATE_DIR/gateway-pins (proxy/gateway_pins.c).
 */
#include "test.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "gateway_pins.h"
#include "run_user.h"

static struct config *
cfg_with_user(const char *user, int demo)
{
	struct config *cfg = calloc(1, sizeof(*cfg));

	REQUIRE(cfg != NULL);
	snprintf(cfg->source, sizeof(cfg->source), "t.json");
	snprintf(cfg->user, sizeof(cfg->user), "%s", user);
	cfg->demo = demo;
	return cfg;
}

TEST(run_user_nobody_refused_outside_the_demo)
{
	struct config *cfg = cfg_with_user("nobody", 0);
	struct run_user ru;
	char err[CONFIG_ERR_MAX];

	REQUIRE(getpwnam("nobody") != NULL);
	CHECK_INT_EQ(run_user_resolve(cfg, &ru, err, sizeof(err)), -1);
	CHECK(strncmp(err, "t.json: user: 'nobody' is shared with unrelated services", 56) == 0);
	snprintf(cfg->user, sizeof(cfg->user), "65534");
	CHECK_INT_EQ(run_user_resolve(cfg, &ru, err, sizeof(err)), -1);
	CHECK(strstr(err, "'nobody' is shared") != NULL);
	/* The demo (embedded default) may run as nobody. */
	cfg->demo = 1;
	CHECK_INT_EQ(run_user_resolve(cfg, &ru, err, sizeof(err)), 0);
	CHECK_INT_EQ(ru.uid, 65534);
	CHECK_INT_EQ(ru.drop, 1);
	free(cfg);
}

TEST(run_user_root_and_missing_refused)
{
	struct config *cfg = cfg_with_user("root", 1);
	struct run_user ru;
	char err[CONFIG_ERR_MAX];

	CHECK_INT_EQ(run_user_resolve(cfg, &ru, err, sizeof(err)), -1);
	CHECK_STR_EQ(err, "t.json: user: 'root' is root; refusing to run as root");
	snprintf(cfg->user, sizeof(cfg->user), "0");
	CHECK_INT_EQ(run_user_resolve(cfg, &ru, err, sizeof(err)), -1);
	CHECK_STR_EQ(err, "t.json: user: '0' is not a usable uid (root is refused)");
	snprintf(cfg->user, sizeof(cfg->user), "xe-no-such-user");
	CHECK_INT_EQ(run_user_resolve(cfg, &ru, err, sizeof(err)), -1);
	CHECK_STR_EQ(err, "t.json: user: no such user 'xe-no-such-user'; create it: useradd --system "
	    "--no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin xe-no-such-user");
	/* A numeric uid no account lists (a container's) is fine. */
	snprintf(cfg->user, sizeof(cfg->user), "4250");
	cfg->demo = 0;
	if (getpwuid(4250) == NULL) {
		CHECK_INT_EQ(run_user_resolve(cfg, &ru, err, sizeof(err)), 0);
		CHECK_INT_EQ(ru.uid, 4250);
		CHECK_INT_EQ(ru.gid, 4250);
	}
	free(cfg);
}

TEST(run_user_primary_group_nogroup_refused)
{
	const struct passwd *pw = getpwnam("sync");	/* Debian: gid 65534 */
	struct config *cfg = cfg_with_user("sync", 0);
	struct run_user ru;
	char err[CONFIG_ERR_MAX];

	if (pw != NULL && pw->pw_gid == 65534) {
		CHECK_INT_EQ(run_user_resolve(cfg, &ru, err, sizeof(err)), -1);
		CHECK(strstr(err, "'sync' has the primary group") != NULL);
	}
	free(cfg);
}

static void
pins_file(char *dir, char *path, size_t cap, uid_t *owner)
{
	FILE *f;

	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(path, cap, "%s/gateway-pins", dir);
	REQUIRE((f = fopen(path, "w")) != NULL);
	fputs("# none\n", f);
	fclose(f);
	chmod(path, 0644);
	/* Owned by someone other than root: root gives it away. */
	*owner = geteuid();
	if (*owner == 0) {
		REQUIRE(chown(path, 4251, 4251) == 0);
		*owner = 4251;
	}
}

TEST(gateway_pins_not_writable_by_the_service_user)
{
	char dir[] = "/tmp/xe-runuser-XXXXXX", path[64], err[512];
	struct run_user ru = { 0 };
	struct gateway_pins gp;
	uid_t owner;

	pins_file(dir, path, sizeof(path), &owner);
	/* Started as root: only root may own it, the service user is refused. */
	ru.privileged = 1;
	ru.uid = owner;
	CHECK_INT_EQ(gateway_pins_read(path, &ru, &gp, err, sizeof(err)), -1);
	CHECK(strstr(err, ", not root: the daemon's user must not be able to write the pins") != NULL);
	/* Never root (a container's USER): its own file is all there is. */
	ru.privileged = 0;
	CHECK_INT_EQ(gateway_pins_read(path, &ru, &gp, err, sizeof(err)), 0);
	/* ... but not a stranger's. */
	ru.uid = owner + 1;
	CHECK_INT_EQ(gateway_pins_read(path, &ru, &gp, err, sizeof(err)), -1);
	CHECK(strstr(err, "neither root nor the daemon's user") != NULL);
	unlink(path);
	rmdir(dir);
}
