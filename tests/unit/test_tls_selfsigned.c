/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_tls_selfsigned.c - certificate generation (tls/selfsigned.c).
 */
#include "test.h"
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "tls_int.h"

TEST(tls_selfsigned_create_writes_key_0600_and_cert)
{
	char dir[] = "/tmp/xe-test-ss.XXXXXX", cert[256], key[256], err[256];
	mbedtls_x509_crt crt;
	mbedtls_pk_context pk;
	struct tls_rng rng;
	struct stat st;
	uint32_t flags = 0;

	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	err[0] = 0;
	CHECK_INT_EQ(tls_selfsigned_create("example.com", cert, key, err,
	    sizeof(err)), 0);
	CHECK_STR_EQ(err, "");
	REQUIRE(stat(key, &st) == 0);
	CHECK_INT_EQ(st.st_mode & 0777, 0600);
	REQUIRE(stat(cert, &st) == 0);
	CHECK_INT_EQ(st.st_mode & 0777, 0644);

	mbedtls_x509_crt_init(&crt);
	mbedtls_pk_init(&pk);
	REQUIRE(tls_rng_init(&rng, "test") == 0);
	CHECK_INT_EQ(mbedtls_x509_crt_parse_file(&crt, cert), 0);
	CHECK_INT_EQ(mbedtls_pk_parse_keyfile(&pk, key, NULL,
	    mbedtls_ctr_drbg_random, &rng.drbg), 0);
	CHECK_INT_EQ(mbedtls_pk_check_pair(&crt.pk, &pk,
	    mbedtls_ctr_drbg_random, &rng.drbg), 0);
	/* Self-signed: verifies against itself, and names the domain. */
	CHECK_INT_EQ(mbedtls_x509_crt_verify(&crt, &crt, NULL, "example.com",
	    &flags, NULL, NULL), 0);
	CHECK_INT_EQ(mbedtls_pk_get_type(&crt.pk), MBEDTLS_PK_ECKEY);
	mbedtls_x509_crt_free(&crt);
	mbedtls_pk_free(&pk);
	tls_rng_free(&rng);
	unlink(cert);
	unlink(key);
	rmdir(dir);
}

TEST(tls_selfsigned_create_reports_unwritable_path)
{
	char err[256] = "";

	CHECK_INT_EQ(tls_selfsigned_create("example.com",
	    "/nonexistent-dir/cert.pem", "/nonexistent-dir/key.pem", err,
	    sizeof(err)), -1);
	CHECK(strstr(err, "/nonexistent-dir/key.pem") != NULL);
	CHECK(strstr(err, "No such file") != NULL);
}

TEST(tls_selfsigned_create_refuses_bad_domain)
{
	char err[256] = "";

	CHECK_INT_EQ(tls_selfsigned_create("a,CN=b", "/tmp/x", "/tmp/y", err,
	    sizeof(err)), -1);
	CHECK(strstr(err, "invalid subject name") != NULL);
	CHECK_INT_EQ(tls_selfsigned_create("", "/tmp/x", "/tmp/y", err,
	    sizeof(err)), -1);
}
