/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_gateway_pins.c - STATE_DIR/gateway-pins (proxy/gateway_pins.c):
 * parsing, refusals, and the merge with gateway.pins the daemon uses.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "gateway_pins.h"

#define PIN_A "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
#define PIN_B "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="
#define PIN_C "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	REQUIRE(f != NULL);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

TEST(gateway_pins_missing_file_is_empty)
{
	struct gateway_pins gp;
	char err[256];

	CHECK_INT_EQ(gateway_pins_read("/nonexistent/gateway-pins", NULL, &gp, err, sizeof(err)), 0);
	CHECK_INT_EQ(gp.nadded + gp.nremoved, 0);
}

TEST(gateway_pins_merge_added_and_withdrawn)
{
	char dir[] = "/tmp/xe-gwpins-XXXXXX", path[64], err[256];
	struct config *cfg = calloc(1, sizeof(*cfg));
	struct gateway_pins gp;
	const char *out[GATEWAY_PINS_EFFECTIVE_MAX];
	size_t n;

	REQUIRE(cfg != NULL && mkdtemp(dir) != NULL);
	snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s", dir);
	cfg->gateway.enabled = 1;
	snprintf(cfg->gateway.pins[0], CONFIG_PIN_MAX, "%s", PIN_A);
	snprintf(cfg->gateway.pins[1], CONFIG_PIN_MAX, "%s", PIN_B);
	cfg->gateway.pin_count = 2;
	REQUIRE(gateway_pins_path(cfg, path, sizeof(path)) == 0);
	write_file(path, "# comment\n\n+" PIN_C "\n-" PIN_A " \r\n+" PIN_C "\n", 0644);
	REQUIRE(gateway_pins_read(path, NULL, &gp, err, sizeof(err)) == 0);
	CHECK_INT_EQ(gp.nadded, 1);	/* duplicates once */
	CHECK_INT_EQ(gp.nremoved, 1);
	n = gateway_pins_effective(cfg, &gp, out, GATEWAY_PINS_EFFECTIVE_MAX);
	REQUIRE(n == 2);
	CHECK_STR_EQ(out[0], PIN_B);
	CHECK_STR_EQ(out[1], PIN_C);
	/* Written back and read again: the same. */
	REQUIRE(gateway_pins_write(path, &gp, err, sizeof(err)) == 0);
	REQUIRE(gateway_pins_read(path, NULL, &gp, err, sizeof(err)) == 0);
	CHECK(gateway_pins_effective(cfg, &gp, out, GATEWAY_PINS_EFFECTIVE_MAX) == 2);
	unlink(path);
	rmdir(dir);
	free(cfg);
}

TEST(gateway_pins_refusals)
{
	char dir[] = "/tmp/xe-gwpins-XXXXXX", path[64], err[256];
	struct gateway_pins gp;

	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/gateway-pins", dir);
	write_file(path, "+abc\n", 0644);
	CHECK_INT_EQ(gateway_pins_read(path, NULL, &gp, err, sizeof(err)), -1);
	CHECK(strstr(err, "line 1") != NULL);
	write_file(path, PIN_A "\n", 0644);
	CHECK_INT_EQ(gateway_pins_read(path, NULL, &gp, err, sizeof(err)), -1);
	CHECK(strstr(err, "expected \"+PIN\"") != NULL);
	write_file(path, "+" PIN_A "\n", 0666);
	CHECK_INT_EQ(gateway_pins_read(path, NULL, &gp, err, sizeof(err)), -1);
	CHECK(strstr(err, "writable by group or others") != NULL);
	unlink(path);
	rmdir(dir);
}
