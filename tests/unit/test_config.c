/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_config.c - unit tests of the configuration schema and its helpers:
 * domain canonicalisation, address literals, the schema's own defaults,
 * policy lookup and key-order independence.  (The file-level and message
 * tests are in tests/config/.)
 */
#include "test.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "domain.h"
#include "netaddr.h"

static const char minimal[] =
    "{\"state_dir\": \"/tmp/x\", \"domains\": [{\"name\": \"example.com\","
    " \"cert\": \"/c\", \"key\": \"/k\"}]";

static struct config *
parse(const char *extra, char *err, size_t errlen)
{
	char json[4096];

	snprintf(json, sizeof(json), "%s%s}", minimal, extra);
	return config_parse("t.json", json, strlen(json), 0, err, errlen);
}

TEST(config_defaults_match_schema)
{
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg = parse("", err, sizeof(err));

	REQUIRE(cfg != NULL);
	CHECK_STR_EQ(cfg->user, "xmpp-edge");
	CHECK_INT_EQ(cfg->limits.stanza_size_preauth, 10000);
	CHECK_INT_EQ(cfg->limits.stanza_size, 524288);
	CHECK_INT_EQ(cfg->listen.starttls_count, 1);
	CHECK_STR_EQ(cfg->listen.starttls[0], "0.0.0.0:5269");
	CHECK_INT_EQ(cfg->listen.direct_tls_count, 1);
	CHECK_INT_EQ(cfg->listen.internal_count, 0);
	CHECK_INT_EQ(cfg->dns.timeout_ms, 2000);
	CHECK_INT_EQ(cfg->dns.stagger_ms, 250);
	CHECK_INT_EQ(cfg->dialback.enabled, 1);
	CHECK_INT_EQ(cfg->policy.defaults.allow, 1);
	CHECK_INT_EQ(cfg->policy.defaults.tls, POLICY_TLS_REQUIRED);
	CHECK_INT_EQ(cfg->policy.defaults.sasl_external, POLICY_SASL_OPTIONAL);
	CHECK_INT_EQ(cfg->policy.defaults.dialback, 1);
	CHECK_INT_EQ(cfg->gateway.enabled, 0);
	CHECK_STR_EQ(cfg->default_domain, "example.com");
	CHECK_STR_EQ(cfg->tls.ca_file, "/etc/ssl/certs/ca-certificates.crt");
	config_free(cfg);
}

/* dns/config.c has its own defaults for callers without a file
 * (`resolve`): they must be the schema's. */
TEST(config_dns_defaults_equal_dns_module_defaults)
{
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg = parse("", err, sizeof(err));
	struct dns_config d;

	REQUIRE(cfg != NULL);
	dns_config_defaults(&d);
	CHECK(memcmp(&d, &cfg->dns, sizeof(d)) == 0);
	config_free(cfg);
}

TEST(config_partner_inherits_default_whatever_key_order)
{
	char err[CONFIG_ERR_MAX] = "";
	/* partners before default in the file: still inherits. */
	struct config *cfg = parse(", \"policy\": {\"partners\": {\"Example.NET.\": {\"dialback\": false}},"
	    " \"default\": {\"allow\": false, \"max_stanza_size\": 65536}}", err, sizeof(err));
	const struct config_partner *p;

	REQUIRE(cfg != NULL);
	p = config_policy_for(cfg, "example.net");
	CHECK_STR_EQ(p->domain, "example.net");
	CHECK_INT_EQ(p->allow, 0);
	CHECK_INT_EQ(p->max_stanza_size, 65536);
	CHECK_INT_EQ(p->dialback, 0);
	p = config_policy_for(cfg, "other.example");
	CHECK(p == &cfg->policy.defaults);
	config_free(cfg);
}

TEST(config_partner_fields_default_to_nothing_of_their_own)
{
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg = parse(", \"policy\": {\"partners\": {\"example.net\": {}}}", err, sizeof(err));
	const struct config_partner *p;

	REQUIRE(cfg != NULL);
	p = &cfg->policy.partners[0];
	CHECK_INT_EQ(p->require_valid_certificate, 0);
	CHECK_INT_EQ(p->additional_domain_count, 0);
	CHECK_INT_EQ(p->max_connections, 0);
	CHECK_INT_EQ(p->keepalive_s, 0);
	CHECK_INT_EQ(p->idle_timeout_s, 0);
	CHECK_STR_EQ(p->connect, "");
	CHECK_INT_EQ(p->connect_direct_tls, 0);
	CHECK_INT_EQ(cfg->limits.connect_timeout_ms, 30000);
	CHECK_INT_EQ(cfg->limits.route_queue_bytes, 1048576);
	CHECK_INT_EQ(cfg->warning_count, 0);
	config_free(cfg);
}

/* Lync's AdditionalDomains: one entry, several domains, matched in
 * canonical form; anything else falls to the default. */
TEST(config_policy_for_matches_additional_domains)
{
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg = parse(", \"policy\": {\"default\": {\"allow\": false},"
	    " \"partners\": {\"example.net\": {\"additional_domains\": [\"Chat.Example.NET.\", \"im.example.org\"],"
	    " \"dialback\": false}, \"example.org\": {\"keepalive_s\": 60}}}", err, sizeof(err));
	const struct config_partner *net, *org;

	REQUIRE(cfg != NULL);
	REQUIRE(cfg->policy.partner_count == 2);
	net = &cfg->policy.partners[0];
	org = &cfg->policy.partners[1];
	CHECK_STR_EQ(net->additional_domains[0], "chat.example.net");
	CHECK(config_policy_for(cfg, "example.net") == net);
	CHECK(config_policy_for(cfg, "chat.example.net") == net);
	CHECK(config_policy_for(cfg, "im.example.org") == net);
	CHECK(config_policy_for(cfg, "example.org") == org);
	CHECK_INT_EQ(config_policy_for(cfg, "im.example.org")->dialback, 0);
	CHECK_INT_EQ(config_policy_for(cfg, "im.example.org")->allow, 0);	/* inherited */
	/* Neither a parent nor a child domain matches by itself. */
	CHECK(config_policy_for(cfg, "sub.chat.example.net") == &cfg->policy.defaults);
	CHECK(config_policy_for(cfg, "net") == &cfg->policy.defaults);
	CHECK(config_policy_for(cfg, "") == &cfg->policy.defaults);
	config_free(cfg);
}

TEST(config_additional_domain_in_two_entries_refused)
{
	char err[CONFIG_ERR_MAX] = "";

	CHECK(parse(", \"policy\": {\"partners\": {\"a.example\": {\"additional_domains\": [\"x.example\"]},"
	    " \"b.example\": {\"additional_domains\": [\"X.example\"]}}}", err, sizeof(err)) == NULL);
	CHECK_STR_EQ(err, "t.json: policy.partners.b.example.additional_domains[0]: 'x.example' is already an"
	    " additional domain of policy.partners.a.example");
	CHECK(parse(", \"policy\": {\"partners\": {\"a.example\": {\"additional_domains\": [\"example.com\"]}}}",
	    err, sizeof(err)) == NULL);
	CHECK_STR_EQ(err, "t.json: policy.partners.a.example.additional_domains[0]: 'example.com' is one of our"
	    " own domains (domains[0].name), not a partner");
}

TEST(config_warnings_are_recorded_with_source_and_path)
{
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg = parse(", \"policy\": {\"partners\": {\"example.net\": {\"tls\": \"optional\"}}}",
	    err, sizeof(err));

	REQUIRE(cfg != NULL);
	REQUIRE(cfg->warning_count == 1);
	CHECK_STR_EQ(cfg->warnings[0], "t.json: policy.partners.example.net.tls: \"optional\": streams may be"
	    " plaintext (RFC 7590 asks for TLS)");
	CHECK_INT_EQ(cfg->warnings_dropped, 0);
	config_free(cfg);
}

TEST(config_relative_paths_resolved_against_file_dir)
{
	char err[CONFIG_ERR_MAX] = "";
	const char json[] = "{\"state_dir\": \"/s\", \"domains\": [{\"name\": \"a.example\","
	    " \"cert\": \"c.pem\", \"key\": \"sub/k.pem\"}]}";
	struct config *cfg = config_parse("/etc/xe/edge.json", json, strlen(json), 0, err, sizeof(err));

	REQUIRE(cfg != NULL);
	CHECK_STR_EQ(cfg->domains[0].cert, "/etc/xe/c.pem");
	CHECK_STR_EQ(cfg->domains[0].key, "/etc/xe/sub/k.pem");
	config_free(cfg);
}

TEST(config_error_has_source_and_key_path)
{
	char err[CONFIG_ERR_MAX] = "";

	CHECK(parse(", \"limits\": {\"max_depth\": 2}", err, sizeof(err)) == NULL);
	CHECK_STR_EQ(err, "t.json: limits.max_depth: must be between 4 and 128 (got 2)");
	CHECK(parse(", \"domains\": []", err, sizeof(err)) == NULL);
	CHECK_STR_EQ(err, "t.json: domains: duplicate key");
}

TEST(config_deep_nesting_is_bounded)
{
	char err[CONFIG_ERR_MAX] = "";
	char *json = malloc(200000);
	size_t i, n = 0;

	REQUIRE(json != NULL);
	n += (size_t)sprintf(json, "{\"policy\": ");
	for (i = 0; i < 50000; i++)
		json[n++] = '[';
	json[n] = '\0';
	/* yajl bounds its own depth; either way: an error, no crash. */
	CHECK(config_parse("deep.json", json, n, 0, err, sizeof(err)) == NULL);
	CHECK(strncmp(err, "deep.json: line 1", 17) == 0);
	free(json);
}

TEST(config_lone_surrogate_escape_is_safe)
{
	char err[CONFIG_ERR_MAX] = "";
	/* yajl 2.1.0 read past the string here (CVE-2017-16516): patched. */
	const char json[] = "{\"user\": \"ab\\ud800\", \"state_dir\": \"/s\", \"domains\": []}";

	CHECK(config_parse("s.json", json, strlen(json), 0, err, sizeof(err)) == NULL);
	CHECK_STR_EQ(err, "s.json: domains: at least one domain is required");
}

TEST(domain_canonicalize_cases)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "Example.COM", "example.com" },
		{ "example.com.", "example.com" },
		{ "xn--bcher-kva.example", "xn--bcher-kva.example" },
		{ "a-b.c", "a-b.c" },
		{ "", NULL }, { ".", NULL }, { "a..b", NULL }, { ".a", NULL },
		{ "-a.b", NULL }, { "a-.b", NULL }, { "a.b-", NULL }, { "a_b.c", NULL },
		{ "a b", NULL }, { "b\xc3\xbc" "cher.example", NULL }, { "a.b..", NULL },
		{ "_xmpp-server.example", NULL },
	};
	char out[DOMAIN_NAME_MAX + 1], why[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = domain_canonicalize(cases[i].in, strlen(cases[i].in), out, sizeof(out),
		    why, sizeof(why));
		if (cases[i].out) {
			CHECK_INT_EQ(r, 0);
			if (r == 0)
				CHECK_STR_EQ(out, cases[i].out);
		} else {
			CHECK_INT_EQ(r, -1);
		}
	}
}

TEST(domain_nul_byte_refused)
{
	char out[DOMAIN_NAME_MAX + 1], why[128];

	CHECK_INT_EQ(domain_canonicalize("a\0b.example", 11, out, sizeof(out), why, sizeof(why)), -1);
	CHECK_STR_EQ(why, "NUL byte in name");
}

TEST(domain_length_limits)
{
	char name[400], out[DOMAIN_NAME_MAX + 1], why[128];

	memset(name, 'a', 63);
	name[63] = '\0';
	CHECK_INT_EQ(domain_canonicalize(name, 63, out, sizeof(out), why, sizeof(why)), 0);
	memset(name, 'a', 64);
	CHECK_INT_EQ(domain_canonicalize(name, 64, out, sizeof(out), why, sizeof(why)), -1);
	CHECK_STR_EQ(why, "label longer than 63 octets");
	/* 254 bytes of labels: over RFC 1035's bound. */
	memset(name, 'a', 254);
	for (size_t i = 50; i < 254; i += 50)
		name[i] = '.';
	CHECK_INT_EQ(domain_canonicalize(name, 254, out, sizeof(out), why, sizeof(why)), -1);
}

TEST(netaddr_parse_and_format)
{
	struct sockaddr_storage ss;
	char why[128], text[NETADDR_TEXT_MAX];

	CHECK_INT_EQ(netaddr_parse("127.0.0.1:5269", &ss, why, sizeof(why)), 0);
	netaddr_format((struct sockaddr *)&ss, text, sizeof(text));
	CHECK_STR_EQ(text, "127.0.0.1:5269");
	CHECK_INT_EQ(netaddr_parse("[::1]:5270", &ss, why, sizeof(why)), 0);
	netaddr_format((struct sockaddr *)&ss, text, sizeof(text));
	CHECK_STR_EQ(text, "[::1]:5270");
	CHECK_INT_EQ(netaddr_parse("127.0.0.1:0", &ss, why, sizeof(why)), -1);
	CHECK_INT_EQ(netaddr_parse("127.0.0.1:", &ss, why, sizeof(why)), -1);
	CHECK_INT_EQ(netaddr_parse("127.0.0.1:65536", &ss, why, sizeof(why)), -1);
	CHECK_INT_EQ(netaddr_parse("127.0.0.1:+5", &ss, why, sizeof(why)), -1);
	CHECK_INT_EQ(netaddr_parse("::1:53", &ss, why, sizeof(why)), -1);
	CHECK_INT_EQ(netaddr_parse("[::1]53", &ss, why, sizeof(why)), -1);
	CHECK_INT_EQ(netaddr_parse("[::1:53", &ss, why, sizeof(why)), -1);
	CHECK_INT_EQ(netaddr_parse("1.2.3.4.5:53", &ss, why, sizeof(why)), -1);
	CHECK_INT_EQ(netaddr_parse("", &ss, why, sizeof(why)), -1);
}
