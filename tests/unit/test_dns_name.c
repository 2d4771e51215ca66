/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_dns_name.c - domain name validation before querying (dns/name.c)
 * and the dns config checks (dns/config.c).
 */
#include "test.h"

#include <stdio.h>

#include "dns_internal.h"

static int
valid(const char *in, char *out)
{
	const char *why;

	return dns_name_normalize(in, out, DNS_NAME_MAX + 1, &why);
}

TEST(dns_name_accepts_and_canonicalises)
{
	char out[DNS_NAME_MAX + 1];

	REQUIRE(valid("Example.NET", out) == 0);
	CHECK_STR_EQ(out, "example.net");
	REQUIRE(valid("example.net.", out) == 0);
	CHECK_STR_EQ(out, "example.net");
	REQUIRE(valid("_xmpp-server._tcp.xn--bcher-kva.example", out) == 0);
	CHECK_STR_EQ(out, "_xmpp-server._tcp.xn--bcher-kva.example");
	REQUIRE(valid("localhost", out) == 0);
}

TEST(dns_name_refuses_bad_names)
{
	char out[DNS_NAME_MAX + 1];
	const char *why;

	CHECK(valid("", out) < 0);
	CHECK(valid(".", out) < 0);
	CHECK(valid("..", out) < 0);
	CHECK(valid(".example.net", out) < 0);
	CHECK(valid("a..example.net", out) < 0);
	CHECK(valid("example.net..", out) < 0);
	CHECK(valid("exa mple.net", out) < 0);
	CHECK(valid("b\xc3\xbc" "cher.example", out) < 0);	/* U-label */
	CHECK(valid("a\\046b.example", out) < 0);		/* escape */
	CHECK(valid("[::1]", out) < 0);
	CHECK(dns_name_normalize(NULL, out, sizeof(out), &why) < 0);
	dns_name_normalize("a..b", out, sizeof(out), &why);
	CHECK_STR_EQ(why, "empty label");
}

TEST(dns_name_length_limits)
{
	char in[400], out[DNS_NAME_MAX + 1];
	const char *why;
	size_t i;

	/* a 63-octet label is fine, 64 is not */
	memset(in, 'a', 63);
	strcpy(in + 63, ".net");
	CHECK(valid(in, out) == 0);
	memset(in, 'a', 64);
	strcpy(in + 64, ".net");
	CHECK(dns_name_normalize(in, out, sizeof(out), &why) < 0);
	CHECK_STR_EQ(why, "label longer than 63 octets");

	/* 253 octets fine (plus a trailing dot), 254 not */
	for (i = 0; i < 253; i++)
		in[i] = (i % 2) ? '.' : 'a';
	in[253] = '\0';
	CHECK(valid(in, out) == 0);
	in[253] = '.';
	in[254] = '\0';
	CHECK(valid(in, out) == 0);
	CHECK_INT_EQ(strlen(out), 253);
	in[253] = 'b';
	in[254] = '\0';	/* 'a.a. ... .ab' = 254 octets */
	CHECK(dns_name_normalize(in, out, sizeof(out), &why) < 0);
	CHECK_STR_EQ(why, "name longer than 253 octets");
	/* too small an output buffer is refused, not truncated */
	CHECK(dns_name_normalize("example.net", out, 5, &why) < 0);
}

TEST(dns_config_defaults_valid)
{
	struct dns_config cfg;
	char err[256];

	dns_config_defaults(&cfg);
	CHECK_INT_EQ(cfg.timeout_ms, 2000);
	CHECK_INT_EQ(cfg.tries, 2);
	CHECK_INT_EQ(cfg.cache_min_ttl_s, 30);
	CHECK_INT_EQ(cfg.cache_max_ttl_s, 86400);
	CHECK_INT_EQ(cfg.negative_ttl_s, 60);
	CHECK_INT_EQ(cfg.cache_max_entries, 4096);
	CHECK_INT_EQ(cfg.max_srv_targets, 16);
	CHECK_INT_EQ(cfg.max_addresses, 32);
	CHECK_INT_EQ(cfg.connect_timeout_ms, 5000);
	CHECK_INT_EQ(cfg.stagger_ms, 250);
	CHECK_INT_EQ(cfg.nservers, 0);
	CHECK(dns_config_validate(&cfg, err, sizeof(err)) == 0);
}

TEST(dns_config_servers)
{
	static const char *const good[] = { "127.0.0.1:5353", "192.0.2.1:53", "[::1]:53",
	    "[2001:db8::1]:5353" };
	/* The port is always written: the same syntax as every address in
	 * the configuration (common/netaddr.c). */
	static const char *const bad[] = { "192.0.2.1", "[2001:db8::1]", "::1", "[::1", "[::1]x", "1.2.3.4:0",
	    "1.2.3.4:65536", "1.2.3.4:", "dns.example.net:53", ":53", "1.2.3:53",
	    "1.2.3.4:5x" };
	struct dns_config cfg;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		dns_config_defaults(&cfg);
		REQUIRE(dns_config_add_server(&cfg, good[i]) == 0);
		CHECK(dns_config_validate(&cfg, err, sizeof(err)) == 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dns_config_defaults(&cfg);
		dns_config_add_server(&cfg, "127.0.0.1:53");
		dns_config_add_server(&cfg, bad[i]);
		if (dns_config_validate(&cfg, err, sizeof(err)) == 0)
			test_fail_at(__FILE__, __LINE__, "accepted bad server %s", bad[i]);
		else
			CHECK(strncmp(err, "dns.servers[1]: ", 16) == 0);
	}
	dns_config_defaults(&cfg);
	for (i = 0; i < DNS_SERVERS_MAX; i++)
		CHECK(dns_config_add_server(&cfg, "127.0.0.1") == 0);
	CHECK(dns_config_add_server(&cfg, "127.0.0.1") < 0);
}

/* Ranges are the configuration schema's (tests/config); what remains
 * here is the cross-field rule. */
TEST(dns_config_ttl_order)
{
	struct dns_config cfg;
	char err[256];

	dns_config_defaults(&cfg);
	cfg.cache_min_ttl_s = 600;
	cfg.cache_max_ttl_s = 300;
	CHECK(dns_config_validate(&cfg, err, sizeof(err)) < 0);
	CHECK(strncmp(err, "dns.cache_max_ttl_s: ", 21) == 0);
}

TEST(dns_error_classes)
{
	CHECK(dns_error_is_timeout(DNS_ERR_TIMEOUT));
	CHECK(dns_error_is_timeout(DNS_ERR_CONNECT_TIMEOUT));
	CHECK(!dns_error_is_timeout(DNS_ERR_NXDOMAIN));
	CHECK(!dns_error_is_timeout(DNS_ERR_NOT_AVAILABLE));
	CHECK(!dns_error_is_timeout(DNS_ERR_BAD_NAME));
	CHECK(strstr(dns_error_str(DNS_ERR_NOT_AVAILABLE), "not available") != NULL);
}
