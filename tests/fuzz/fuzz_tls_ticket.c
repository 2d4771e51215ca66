/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_tls_ticket.c - libFuzzer target for session tickets (tls/ticket.c),
 * which come from the network in every resuming ClientHello.
 *
 * First byte even: the rest is a ticket as a client would send it, through
 * tls_ticket_parse with live keys (lengths, the sealed part's bounds; the
 * authentication refuses what the fuzzer makes, and nothing must be read
 * or freed wrongly on the way).  Odd: the rest is a decrypted identity
 * part, through tls_ticket_binding_parse and, as tls_conn does with what
 * it accepts, the certificate parser on the leaf it points to; the leaf
 * must lie inside the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "log.h"
#include "tls_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tls_rng rng;
	static struct tls_tickets tickets;
	static int ready;
	struct tls_ticket_identity id;
	mbedtls_ssl_session session;
	mbedtls_x509_crt crt;
	unsigned char buf[8192];
	int has;

	if (!ready) {
		log_setup(LOG_ERROR, LOG_FORMAT_TEXT);
		if (tls_rng_init(&rng, "fuzz") != 0 ||
		    tls_tickets_init(&tickets, &rng, 3600, 7, NULL, 0) != 0)
			__builtin_trap();
		ready = 1;
	}
	if (size < 1 || size - 1 > sizeof(buf))
		return 0;
	memcpy(buf, data + 1, size - 1);
	if ((data[0] & 1) == 0) {
		mbedtls_ssl_session_init(&session);
		if (tls_ticket_parse(&tickets, &session, buf, size - 1) == 0)
			__builtin_trap();	/* forged without the key */
		mbedtls_ssl_session_free(&session);
		return 0;
	}
	if (tls_ticket_binding_parse(buf, size - 1, 7, &id, &has) != 0 || !has)
		return 0;
	if (id.leaf < buf || id.leaf + id.leaf_len > buf + size - 1)
		__builtin_trap();
	mbedtls_x509_crt_init(&crt);
	(void)mbedtls_x509_crt_parse_der(&crt, id.leaf, id.leaf_len);
	mbedtls_x509_crt_free(&crt);
	return 0;
}
