/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tls_dane.c - tls/dane.c: a chain against TLSA records, every usage,
 * selector and matching type, and the refusals with their precise result
 * (wrong key, DANE-TA chain that does not verify, DANE-TA name mismatch,
 * PKIX-EE without PKIX, unusable records).  The end-to-end cases against
 * a validating resolver are in tests/dane.
 */
#include "test.h"

#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>
#include <mbedtls/x509_crt.h>

#include "tls.h"
#include "tls_fixture.h"

#define DOMAIN "dane.example.net"

struct dane_fx {
	struct tls_fx fx;
	mbedtls_x509_crt leaf, ca, other, other_leaf;
};

static void
dane_load(struct dane_fx *f, mbedtls_x509_crt *crt, const char *name)
{
	char path[128];

	mbedtls_x509_crt_init(crt);
	REQUIRE(mbedtls_x509_crt_parse_file(crt, tls_fx_path(&f->fx, name, path, sizeof(path))) == 0);
}

static void
dane_setup(struct dane_fx *f)
{
	REQUIRE(tls_fx_setup(&f->fx) == 0);
	REQUIRE(tls_fx_ca(&f->fx, "ca") == 0);
	REQUIRE(tls_fx_ca(&f->fx, "other") == 0);
	REQUIRE(tls_fx_leaf(&f->fx, "leaf", DOMAIN, "ca") == 0);
	REQUIRE(tls_fx_leaf(&f->fx, "other_leaf", DOMAIN, "other") == 0);
	dane_load(f, &f->leaf, "leaf.crt");
	dane_load(f, &f->ca, "ca.crt");
	dane_load(f, &f->other, "other.crt");
	dane_load(f, &f->other_leaf, "other_leaf.crt");
}

static void
dane_teardown(struct dane_fx *f)
{
	mbedtls_x509_crt_free(&f->leaf);
	mbedtls_x509_crt_free(&f->ca);
	mbedtls_x509_crt_free(&f->other);
	mbedtls_x509_crt_free(&f->other_leaf);
	tls_fx_teardown(&f->fx);
}

/* A record over crt computed here (independently of dane.c's selection:
 * raw DER, or the SPKI as mbedTLS parsed it). */
static struct tls_dane_record
dane_rec(const mbedtls_x509_crt *crt, uint8_t usage, uint8_t selector, uint8_t matching,
    uint8_t buf[64])
{
	struct tls_dane_record r = { .usage = usage, .selector = selector, .matching = matching };
	const uint8_t *p = selector ? crt->pk_raw.p : crt->raw.p;
	size_t len = selector ? crt->pk_raw.len : crt->raw.len;

	if (matching == 1) {
		mbedtls_sha256(p, len, buf, 0);
		r.data = buf;
		r.len = 32;
	} else if (matching == 2) {
		mbedtls_sha512(p, len, buf, 0);
		r.data = buf;
		r.len = 64;
	} else {
		r.data = p;
		r.len = len;
	}
	return r;
}

/* Checks the chain of certs (leaf first) against one record. */
static enum tls_dane_result
dane_run(const mbedtls_x509_crt *const *chain, size_t n, const struct tls_dane_record *rec,
    const char *name, int pkix_ok, struct tls_dane_verdict *v)
{
	const uint8_t *der[4];
	size_t len[4], i;
	const char *names[1] = { name };

	for (i = 0; i < n; i++) {
		der[i] = chain[i]->raw.p;
		len[i] = chain[i]->raw.len;
	}
	tls_dane_check(der, len, n, rec, 1, names, 1, pkix_ok, v);
	return v->result;
}

TEST(tls_dane_ee_every_selector_and_matching)
{
	struct dane_fx f;
	struct tls_dane_verdict v;
	const mbedtls_x509_crt *chain[1];
	uint8_t buf[64];
	uint8_t sel, mt;

	dane_setup(&f);
	chain[0] = &f.leaf;
	for (sel = 0; sel <= 1; sel++)
		for (mt = 0; mt <= 2; mt++) {
			struct tls_dane_record r = dane_rec(&f.leaf, 3, sel, mt, buf);

			/* DANE-EE: no name check (a wrong name still matches). */
			CHECK_INT_EQ(dane_run(chain, 1, &r, "elsewhere.example", 0, &v), TLS_DANE_MATCH);
			CHECK_INT_EQ(v.record, 0);
			r = dane_rec(&f.other_leaf, 3, sel, mt, buf);
			CHECK_INT_EQ(dane_run(chain, 1, &r, DOMAIN, 1, &v), TLS_DANE_MISMATCH);
		}
	dane_teardown(&f);
}

TEST(tls_dane_ta_chain_and_name)
{
	struct dane_fx f;
	struct tls_dane_verdict v;
	const mbedtls_x509_crt *chain[2] = { NULL, NULL };
	uint8_t buf[64];
	struct tls_dane_record r;

	dane_setup(&f);
	chain[0] = &f.leaf;
	chain[1] = &f.ca;
	r = dane_rec(&f.ca, 2, 0, 1, buf);
	CHECK_INT_EQ(dane_run(chain, 2, &r, DOMAIN, 0, &v), TLS_DANE_MATCH);
	CHECK_STR_EQ(v.name, DOMAIN);
	/* The name must match for DANE-TA (RFC 7673 section 4). */
	CHECK_INT_EQ(dane_run(chain, 2, &r, "elsewhere.example", 0, &v), TLS_DANE_TA_NAME);
	/* The SPKI of the anchor works the same. */
	r = dane_rec(&f.ca, 2, 1, 2, buf);
	CHECK_INT_EQ(dane_run(chain, 2, &r, DOMAIN, 0, &v), TLS_DANE_MATCH);
	/* A full certificate in the record is an anchor the peer need not send. */
	r = dane_rec(&f.ca, 2, 0, 0, buf);
	CHECK_INT_EQ(dane_run(chain, 1, &r, DOMAIN, 0, &v), TLS_DANE_MATCH);
	/* A hash of an anchor the peer did not send cannot be found. */
	r = dane_rec(&f.ca, 2, 0, 1, buf);
	CHECK_INT_EQ(dane_run(chain, 1, &r, DOMAIN, 0, &v), TLS_DANE_MISMATCH);
	/* A leaf issued by another CA, sent with the anchor: the chain does
	 * not verify to it. */
	chain[0] = &f.other_leaf;
	CHECK_INT_EQ(dane_run(chain, 2, &r, DOMAIN, 0, &v), TLS_DANE_TA_CHAIN);
	dane_teardown(&f);
}

TEST(tls_dane_pkix_usages_need_pkix)
{
	struct dane_fx f;
	struct tls_dane_verdict v;
	const mbedtls_x509_crt *chain[2];
	uint8_t buf[64];
	struct tls_dane_record r;

	dane_setup(&f);
	chain[0] = &f.leaf;
	chain[1] = &f.ca;
	r = dane_rec(&f.leaf, 1, 1, 1, buf);
	CHECK_INT_EQ(dane_run(chain, 2, &r, DOMAIN, 1, &v), TLS_DANE_MATCH);
	CHECK_INT_EQ(dane_run(chain, 2, &r, DOMAIN, 0, &v), TLS_DANE_PKIX_INVALID);
	r = dane_rec(&f.ca, 0, 0, 1, buf);
	CHECK_INT_EQ(dane_run(chain, 2, &r, DOMAIN, 1, &v), TLS_DANE_MATCH);
	CHECK_INT_EQ(dane_run(chain, 2, &r, DOMAIN, 0, &v), TLS_DANE_PKIX_INVALID);
	dane_teardown(&f);
}

TEST(tls_dane_unusable_records_and_no_cert)
{
	struct dane_fx f;
	struct tls_dane_verdict v;
	const mbedtls_x509_crt *chain[1];
	uint8_t buf[64];
	struct tls_dane_record r;
	const char *names[1] = { DOMAIN };

	dane_setup(&f);
	chain[0] = &f.leaf;
	r = dane_rec(&f.leaf, 3, 1, 1, buf);
	r.usage = 4;
	CHECK_INT_EQ(dane_run(chain, 1, &r, DOMAIN, 1, &v), TLS_DANE_NO_USABLE);
	r.usage = 3;
	r.matching = 3;
	CHECK_INT_EQ(dane_run(chain, 1, &r, DOMAIN, 1, &v), TLS_DANE_NO_USABLE);
	/* A SHA-256 record of the wrong length never matches. */
	r = dane_rec(&f.leaf, 3, 1, 1, buf);
	r.len = 31;
	CHECK_INT_EQ(dane_run(chain, 1, &r, DOMAIN, 1, &v), TLS_DANE_MISMATCH);
	r.len = 32;
	CHECK(tls_dane_check(NULL, NULL, 0, &r, 1, names, 1, 1, &v) < 0);
	CHECK_INT_EQ(v.result, TLS_DANE_NO_CERT);
	dane_teardown(&f);
}
