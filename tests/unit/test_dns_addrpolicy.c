/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_dns_addrpolicy.c - the address policy for DNS-derived targets
 * (dns/addrpolicy.c; issue 14, finding 3): special-purpose ranges refused
 * by default, mapped and NAT64 forms judged by their IPv4 address, the
 * allow-list, and the edge's own sockets.
 */
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>

#include "dns.h"

static struct sockaddr_storage ss;

static const struct sockaddr *
sa(const char *ip, unsigned port)
{
	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		REQUIRE(inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		REQUIRE(inet_pton(AF_INET, ip, &s4->sin_addr) == 1);
	}
	return (const struct sockaddr *)&ss;
}

static const char *
refused(const struct dns_config *cfg, const struct dns_avoid *av, const char *ip, unsigned port)
{
	return dns_addr_refused(cfg, av, sa(ip, port));
}

TEST(dns_addrpolicy_refuses_special_ranges_by_default)
{
	static const char *const bad[] = {
		"127.0.0.1", "127.255.0.9", "0.0.0.0", "10.1.2.3", "172.16.0.1", "172.31.255.255",
		"192.168.1.1", "169.254.169.254", "100.64.0.1", "100.127.255.254", "224.0.0.1",
		"239.1.1.1", "255.255.255.255", "240.0.0.1", "::1", "::", "fe80::1", "febf::1",
		"fc00::1", "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
		"::ffff:169.254.169.254", "64:ff9b::a00:1", "::127.0.0.1", "fec0::1",
	};
	static const char *const good[] = {
		"192.0.2.10", "198.51.100.7", "203.0.113.1", "8.8.8.8", "172.32.0.1", "172.15.255.255",
		"100.128.0.1", "2001:db8::1", "2a00:1450::1", "::ffff:192.0.2.1", "64:ff9b::c000:201",
		"169.253.1.1", "11.0.0.1",
	};
	struct dns_config cfg;
	size_t i;

	dns_config_defaults(&cfg);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (refused(&cfg, NULL, bad[i], 5269) == NULL)
			test_fail_at(__FILE__, __LINE__, "%s was not refused", bad[i]);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const char *why = refused(&cfg, NULL, good[i], 5269);

		if (why != NULL)
			test_fail_at(__FILE__, __LINE__, "%s refused: %s", good[i], why);
	}
	CHECK_STR_EQ(refused(&cfg, NULL, "169.254.169.254", 80), "link-local (RFC 3927)");
	CHECK_STR_EQ(refused(&cfg, NULL, "::ffff:10.9.8.7", 5269), "private (RFC 1918)");
	CHECK_STR_EQ(refused(&cfg, NULL, "255.255.255.255", 5269), "broadcast (RFC 919)");
}

TEST(dns_addrpolicy_allow_list)
{
	struct dns_config cfg;

	dns_config_defaults(&cfg);
	REQUIRE(dns_config_add_server(&cfg, "127.0.0.1:53") == 0);
	snprintf(cfg.allow_private_targets[0], DNS_PREFIX_STR_MAX, "10.0.0.0/8");
	snprintf(cfg.allow_private_targets[1], DNS_PREFIX_STR_MAX, "fd00::/8");
	snprintf(cfg.allow_private_targets[2], DNS_PREFIX_STR_MAX, "127.0.0.1");
	cfg.nallow_private_targets = 3;
	CHECK(refused(&cfg, NULL, "10.200.0.1", 5269) == NULL);
	CHECK(refused(&cfg, NULL, "::ffff:10.200.0.1", 5269) == NULL);	/* judged as IPv4 */
	CHECK(refused(&cfg, NULL, "fd00:1::5", 5269) == NULL);
	CHECK(refused(&cfg, NULL, "127.0.0.1", 5269) == NULL);
	CHECK(refused(&cfg, NULL, "127.0.0.2", 5269) != NULL);		/* one address only */
	CHECK(refused(&cfg, NULL, "fc00::1", 5269) != NULL);
	CHECK(refused(&cfg, NULL, "192.168.0.1", 5269) != NULL);
	CHECK(refused(&cfg, NULL, "169.254.169.254", 80) != NULL);
	{
		char err[256];

		CHECK_INT_EQ(dns_config_validate(&cfg, err, sizeof(err)), 0);
		snprintf(cfg.allow_private_targets[1], DNS_PREFIX_STR_MAX, "10.1.2.3/8");
		CHECK_INT_EQ(dns_config_validate(&cfg, err, sizeof(err)), -1);
		CHECK(strstr(err, "dns.allow_private_targets[1]") != NULL && strstr(err, "/8") != NULL);
	}
}

TEST(dns_addrpolicy_prefix_parse)
{
	static const char *const bad[] = {
		"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/8x", "fd00::/129",
		"example.net/8", "10.0.0.1/24", "10.0.0.0 /8", "10.0.0.0/+8",
		"aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa:aaaa/8",
	};
	struct dns_prefix p;
	char err[128];
	size_t i;

	REQUIRE(dns_prefix_parse("172.16.0.0/12", &p, err, sizeof(err)) == 0);
	CHECK_INT_EQ(p.family, AF_INET);
	CHECK_INT_EQ(p.len, 12);
	REQUIRE(dns_prefix_parse("::1", &p, err, sizeof(err)) == 0);
	CHECK_INT_EQ(p.family, AF_INET6);
	CHECK_INT_EQ(p.len, 128);
	REQUIRE(dns_prefix_parse("0.0.0.0/0", &p, err, sizeof(err)) == 0);
	CHECK_INT_EQ(p.len, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (dns_prefix_parse(bad[i], &p, err, sizeof(err)) == 0)
			test_fail_at(__FILE__, __LINE__, "'%s' was accepted", bad[i]);
}

TEST(dns_addrpolicy_own_sockets)
{
	struct dns_config cfg;
	struct dns_avoid av;

	dns_config_defaults(&cfg);
	memset(&av, 0, sizeof(av));
	dns_avoid_add(&av, sa("127.0.0.1", 5269), "one of xmpp-edge's own listeners");
	dns_avoid_add(&av, sa("0.0.0.0", 5270), "one of xmpp-edge's own listeners");
	dns_avoid_add(&av, sa("192.0.2.5", 5222), "the internal gateway");
	snprintf(cfg.allow_private_targets[0], DNS_PREFIX_STR_MAX, "127.0.0.0/8");
	snprintf(cfg.allow_private_targets[1], DNS_PREFIX_STR_MAX, "192.0.2.0/24");
	cfg.nallow_private_targets = 2;
	/* The exact socket stays refused whatever the allow-list says. */
	CHECK_STR_EQ(refused(&cfg, &av, "127.0.0.1", 5269), "one of xmpp-edge's own listeners");
	CHECK_STR_EQ(refused(&cfg, &av, "::ffff:127.0.0.1", 5269), "one of xmpp-edge's own listeners");
	CHECK_STR_EQ(refused(&cfg, &av, "127.0.0.9", 5270), "one of xmpp-edge's own listeners");
	CHECK_STR_EQ(refused(&cfg, &av, "192.0.2.5", 5222), "the internal gateway");
	/* Other ports of an allowed host are the allow-list's business. */
	CHECK(refused(&cfg, &av, "127.0.0.1", 5299) == NULL);
	CHECK(refused(&cfg, &av, "192.0.2.5", 5269) == NULL);
	/* Without the allow-list the gateway's host is refused on any port,
	 * even outside the special-purpose ranges. */
	cfg.nallow_private_targets = 0;
	CHECK_STR_EQ(refused(&cfg, &av, "192.0.2.5", 5269), "the internal gateway");
	CHECK(refused(&cfg, &av, "192.0.2.6", 5269) == NULL);
}
