/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls_pair.c - a connected TLS client/server pair over memory (see
 * tls_pair.h).
 */
#include "tls_pair.h"

#include <stdio.h>
#include <string.h>

#include "test.h"

int
tls_pair_connect(struct tls_pair *p)
{
	struct tls_conn_params sp = { .role = TLS_ROLE_EXTERNAL_SERVER, .peer_addr = "client" };
	struct tls_conn_params cp = { .role = TLS_ROLE_EXTERNAL_CLIENT,
	    .peer_domain = "example.com", .local_domain = "example.net", .peer_addr = "server" };

	memset(p, 0, sizeof(*p));
	if (tls_fx_setup(&p->fx) != 0)
		return -1;
	if (tls_fx_ca(&p->fx, "ca") != 0 ||
	    tls_fx_leaf(&p->fx, "client", "example.net", "ca") != 0 ||
	    tls_fx_leaf(&p->fx, "good", "example.com", "ca") != 0)
		return -1;
	p->sstore = tls_fx_store(&p->fx, "example.com", "good", "ca", NULL, NULL, 0);
	p->cstore = tls_fx_store(&p->fx, "example.net", "client", "ca", NULL, NULL, 0);
	if (p->sstore == NULL || p->cstore == NULL)
		return -1;
	if (tls_fx_end_new(&p->srv, p->sstore, &sp) != 0 || tls_fx_end_new(&p->cli, p->cstore, &cp) != 0)
		return -1;
	tls_conn_start(p->srv.conn);
	tls_conn_start(p->cli.conn);
	tls_fx_pump(&p->cli, &p->srv);
	return p->cli.handshakes == 1 && p->srv.handshakes == 1 ? 0 : -1;
}

void
tls_pair_free(struct tls_pair *p)
{
	tls_fx_end_free(&p->srv);
	tls_fx_end_free(&p->cli);
	if (p->sstore != NULL)
		tls_certstore_unref(p->sstore);
	if (p->cstore != NULL)
		tls_certstore_unref(p->cstore);
	if (p->fx.dir[0] != '\0')
		tls_fx_teardown(&p->fx);
	memset(p, 0, sizeof(*p));
}

void
tls_pair_unhex(const char *s, uint8_t *out, size_t len)
{
	size_t i;

	REQUIRE(strlen(s) == 2 * len);
	for (i = 0; i < len; i++) {
		unsigned int v;

		REQUIRE(sscanf(s + 2 * i, "%2x", &v) == 1);
		out[i] = (uint8_t)v;
	}
}
