/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tls_pin.c - SPKI pins (tls/pin.c): parsing, matching, and agreement
 * with the openssl pipeline the documentation gives operators.
 */
#include "test.h"
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls_fixture.h"

TEST(tls_pin_parse_accepts_44_chars_and_newline)
{
	uint8_t pin[TLS_PIN_LEN], again[TLS_PIN_LEN];
	char b64[TLS_PIN_B64_LEN + 1], err[200];
	size_t i;

	for (i = 0; i < TLS_PIN_LEN; i++)
		pin[i] = (uint8_t)(i * 7 + 1);
	REQUIRE(tls_pin_format(pin, b64, sizeof(b64)) == 0);
	CHECK_INT_EQ(strlen(b64), TLS_PIN_B64_LEN);
	CHECK_INT_EQ(tls_pin_parse(b64, again, err, sizeof(err)), 0);
	CHECK(memcmp(pin, again, TLS_PIN_LEN) == 0);
	{
		char nl[64];

		snprintf(nl, sizeof(nl), "%s\n", b64);
		CHECK_INT_EQ(tls_pin_parse(nl, again, err, sizeof(err)), 0);
	}
}

TEST(tls_pin_parse_refuses_bad_input)
{
	uint8_t pin[TLS_PIN_LEN];
	char err[200];

	CHECK_INT_EQ(tls_pin_parse("", pin, err, sizeof(err)), -1);
	CHECK_INT_EQ(tls_pin_parse("not base64 !!!", pin, err, sizeof(err)),
	    -1);
	CHECK(strstr(err, "not valid base64") != NULL);
	/* SHA-1 sized (20 bytes) */
	CHECK_INT_EQ(tls_pin_parse("AAAAAAAAAAAAAAAAAAAAAAAAAAA=", pin, err,
	    sizeof(err)), -1);
	CHECK(strstr(err, "32") != NULL);
}

TEST(tls_pin_match_any_of_several)
{
	uint8_t pins[3][TLS_PIN_LEN], probe[TLS_PIN_LEN];

	memset(pins, 0, sizeof(pins));
	pins[0][0] = 1;
	pins[1][0] = 2;
	pins[2][31] = 3;
	memset(probe, 0, sizeof(probe));
	probe[31] = 3;
	CHECK_INT_EQ(tls_pin_match((const uint8_t (*)[TLS_PIN_LEN])pins, 3,
	    probe), 1);
	probe[31] = 4;
	CHECK_INT_EQ(tls_pin_match((const uint8_t (*)[TLS_PIN_LEN])pins, 3,
	    probe), 0);
	CHECK_INT_EQ(tls_pin_match(NULL, 0, probe), 0);
}

/* The pin we compute equals the one the documented openssl pipeline
 * prints, when openssl is installed. */
TEST(tls_pin_agrees_with_openssl_pipeline)
{
	struct tls_fx fx;
	char ours[64], theirs[128] = "", p[300], cmd[800];
	FILE *f;

	if (system("command -v openssl >/dev/null 2>&1") != 0)
		return;
	REQUIRE(tls_fx_setup(&fx) == 0);
	REQUIRE(tls_fx_leaf(&fx, "leaf", "example.com", NULL) == 0);
	REQUIRE(tls_fx_pin(&fx, "leaf", ours, sizeof(ours)) == 0);
	snprintf(cmd, sizeof(cmd), "openssl x509 -in %s -pubkey -noout | "
	    "openssl pkey -pubin -outform der | openssl dgst -sha256 -binary |"
	    " base64", tls_fx_path(&fx, "leaf.crt", p, sizeof(p)));
	f = popen(cmd, "r");
	REQUIRE(f != NULL);
	if (fgets(theirs, sizeof(theirs), f) == NULL)
		theirs[0] = 0;
	pclose(f);
	theirs[strcspn(theirs, "\n")] = 0;
	CHECK_STR_EQ(ours, theirs);
	tls_fx_teardown(&fx);
}
