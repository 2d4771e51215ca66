/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tls_identity.c - RFC 6125 / RFC 9525 / RFC 6120 §13.7.1.2 identity
 * matching (tls/identity.c), as tables.  Examples from RFC 6125 §6.4.3 and
 * RFC 9525 §6.3 are marked with their section.
 */
#include "test.h"
#include "tls.h"

#include <stdio.h>
#include <string.h>

#include "tls_fixture.h"
#include "tls_int.h"

struct id_case {
	const char *presented;
	size_t plen;			/* 0: strlen */
	const char *reference;
	int match;
};

static void
run_table(int (*fn)(const char *, size_t, const char *),
    const struct id_case *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		size_t plen = t[i].plen ? t[i].plen : strlen(t[i].presented);
		int got = fn(t[i].presented, plen, t[i].reference);

		if (got != t[i].match)
			test_fail_at(__FILE__, __LINE__, "'%s' vs '%s': got %d,"
			    " want %d", t[i].presented, t[i].reference, got,
			    t[i].match);
	}
}

TEST(tls_identity_dns_id_table)
{
	static const struct id_case t[] = {
		{ "example.com", 0, "example.com", 1 },
		{ "EXAMPLE.Com", 0, "example.COM", 1 },	/* case-insensitive */
		{ "example.com.", 0, "example.com", 1 },	/* trailing dot */
		{ "example.com", 0, "example.com.", 1 },
		{ "example.com..", 0, "example.com", 0 },
		{ "example.com", 0, "example.com..", 0 },
		{ "example.com", 0, "www.example.com", 0 },
		{ "www.example.com", 0, "example.com", 0 },
		{ "example.co", 0, "example.com", 0 },
		/* RFC 6125 §6.4.3 / RFC 9525 §6.3 */
		{ "*.example.com", 0, "foo.example.com", 1 },
		{ "*.example.com", 0, "bar.foo.example.com", 0 },
		{ "*.example.com", 0, "example.com", 0 },
		{ "*.Example.COM", 0, "FOO.example.com", 1 },
		{ "*.example.com.", 0, "foo.example.com", 1 },
		/* partial-label wildcards: allowed by RFC 6125, not RFC 9525 */
		{ "baz*.example.net", 0, "baz1.example.net", 0 },
		{ "*baz.example.net", 0, "foobaz.example.net", 0 },
		{ "b*z.example.net", 0, "buuz.example.net", 0 },
		/* only the left-most label */
		{ "foo.*.example.com", 0, "foo.bar.example.com", 0 },
		{ "*.*.example.com", 0, "a.b.example.com", 0 },
		/* not over a single remaining label */
		{ "*.com", 0, "example.com", 0 },
		{ "*", 0, "com", 0 },
		{ "*.", 0, "com", 0 },
		/* IDNA: compared as A-labels (RFC 6125 §6.4.2) */
		{ "xn--bcher-kva.example", 0, "b\xc3\xbc" "cher.example", 1 },
		{ "xn--bcher-kva.example", 0, "xn--bcher-kva.example", 1 },
		{ "XN--BCHER-KVA.example", 0, "b\xc3\xbc" "cher.example", 1 },
		{ "xn--mnchen-3ya.example", 0, "m\xc3\xbc" "nchen.example", 1 },
		{ "*.example.org", 0, "b\xc3\xbc" "cher.example.org", 1 },
		{ "b\xc3\xbc" "cher.example", 0, "b\xc3\xbc" "cher.example", 0 },
		/* hostile presented identifiers */
		{ "example.com\0.evil.com", 21, "example.com", 0 },
		{ "example.com\0", 12, "example.com", 0 },
		{ "", 0, "example.com", 0 },
		{ "exa mple.com", 0, "exa mple.com", 0 },
		{ ".example.com", 0, "example.com", 0 },
		{ "example..com", 0, "example..com", 0 },
		{ "example.com", 0, "", 0 },
	};

	run_table(tls_identity_match_dns_id, t, sizeof(t) / sizeof(t[0]));
}

TEST(tls_identity_srv_id_table)
{
	static const struct id_case t[] = {
		{ "_xmpp-server.example.com", 0, "example.com", 1 },
		{ "_XMPP-Server.EXAMPLE.com", 0, "example.com", 1 },
		{ "_xmpp-server.example.com.", 0, "example.com", 1 },
		{ "_xmpp-client.example.com", 0, "example.com", 0 },
		{ "_xmpp-server.example.net", 0, "example.com", 0 },
		{ "_xmpp-server.*.example.com", 0, "foo.example.com", 0 },
		{ "_xmpp-server.", 0, "example.com", 0 },
		{ "example.com", 0, "example.com", 0 },
		{ "_xmpp-server.xn--bcher-kva.example", 0,
		  "b\xc3\xbc" "cher.example", 1 },
	};

	run_table(tls_identity_match_srv_id, t, sizeof(t) / sizeof(t[0]));
}

TEST(tls_identity_xmppaddr_table)
{
	static const struct id_case t[] = {
		{ "example.com", 0, "example.com", 1 },
		{ "EXAMPLE.com", 0, "example.com", 1 },
		{ "example.com.", 0, "example.com", 1 },
		{ "user@example.com", 0, "example.com", 0 },
		{ "example.com/resource", 0, "example.com", 0 },
		{ "*.example.com", 0, "foo.example.com", 0 },
		{ "b\xc3\xbc" "cher.example", 0, "xn--bcher-kva.example", 1 },
		{ "b\xc3\xbc" "cher.example", 0, "b\xc3\xbc" "cher.example", 1 },
		{ "example.com\0x", 13, "example.com", 0 },
	};

	run_table(tls_identity_match_xmppaddr, t, sizeof(t) / sizeof(t[0]));
}

TEST(tls_identity_normalize_punycode)
{
	/* RFC 3492 §7.1 and the usual IDN examples. */
	static const struct { const char *in, *out; } t[] = {
		{ "b\xc3\xbc" "cher", "xn--bcher-kva" },
		{ "m\xc3\xbc" "nchen.example", "xn--mnchen-3ya.example" },
		{ "\xe4\xbe\x8b\xe3\x81\x88.jp", "xn--r8jz45g.jp" },	/* 例え */
		{ "Example.COM.", "example.com" },
		{ "xn--bcher-kva.example", "xn--bcher-kva.example" },
	};
	char out[TLS_DOMAIN_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CHECK_INT_EQ(tls_identity_normalize(t[i].in, out, sizeof(out)),
		    0);
		CHECK_STR_EQ(out, t[i].out);
	}
	CHECK_INT_EQ(tls_identity_normalize("", out, sizeof(out)), -1);
	CHECK_INT_EQ(tls_identity_normalize(".", out, sizeof(out)), -1);
	CHECK_INT_EQ(tls_identity_normalize("a..b", out, sizeof(out)), -1);
	CHECK_INT_EQ(tls_identity_normalize("a b", out, sizeof(out)), -1);
	CHECK_INT_EQ(tls_identity_normalize("\xc3\x28.example", out,
	    sizeof(out)), -1);	/* invalid UTF-8 */
	CHECK_INT_EQ(tls_identity_normalize(
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
	    out, sizeof(out)), -1);	/* 64-octet label */
}

/* The same rules through real certificates: which SAN type matched. */
TEST(tls_identity_check_cert_san_types)
{
	struct tls_fx fx;
	struct tls_certgen spec;
	mbedtls_x509_crt crt;
	char p[300];

	REQUIRE(tls_fx_setup(&fx) == 0);
	memset(&spec, 0, sizeof(spec));
	spec.subject_cn = "cn-only.example.com";	/* CN never used */
	spec.dns_names[0] = "*.wild.example.com";
	spec.dns_names[1] = "dns.example.com";
	spec.xmpp_addrs[0] = "xmpp.example.com";
	spec.srv_names[0] = "_xmpp-server.srv.example.com";
	REQUIRE(tls_fx_cert(&fx, "multi", &spec, NULL) == 0);
	mbedtls_x509_crt_init(&crt);
	REQUIRE(mbedtls_x509_crt_parse_file(&crt, tls_fx_path(&fx,
	    "multi.crt", p, sizeof(p))) == 0);
	CHECK_INT_EQ(tls_identity_check_cert(&crt, "dns.example.com"),
	    TLS_ID_DNS);
	CHECK_INT_EQ(tls_identity_check_cert(&crt, "a.wild.example.com"),
	    TLS_ID_DNS);
	CHECK_INT_EQ(tls_identity_check_cert(&crt, "wild.example.com"),
	    TLS_ID_NONE);
	CHECK_INT_EQ(tls_identity_check_cert(&crt, "xmpp.example.com"),
	    TLS_ID_XMPPADDR);
	CHECK_INT_EQ(tls_identity_check_cert(&crt, "srv.example.com"),
	    TLS_ID_SRV);
	CHECK_INT_EQ(tls_identity_check_cert(&crt, "cn-only.example.com"),
	    TLS_ID_NONE);
	CHECK_INT_EQ(tls_identity_check_cert(&crt, "other.example.com"),
	    TLS_ID_NONE);
	mbedtls_x509_crt_free(&crt);
	tls_fx_teardown(&fx);
}
