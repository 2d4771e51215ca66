/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls_fixture.c - see tls_fixture.h.
 */
#include "tls_fixture.h"
#include "test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/x509_crt.h>

#include "tls_int.h"

int
tls_fx_setup(struct tls_fx *fx)
{
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/xe-tls-test.XXXXXX");
	return mkdtemp(fx->dir) ? 0 : -1;
}

void
tls_fx_teardown(struct tls_fx *fx)
{
	DIR *d = opendir(fx->dir);
	struct dirent *de;
	char p[512];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", fx->dir, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(fx->dir);
}

const char *
tls_fx_path(const struct tls_fx *fx, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", fx->dir, name);
	return buf;
}

int
tls_fx_cert(struct tls_fx *fx, const char *name, struct tls_certgen *spec,
    const char *issuer)
{
	char crt[300], key[300], icrt[300], ikey[300], f[128], err[256];

	snprintf(f, sizeof(f), "%s.crt", name);
	tls_fx_path(fx, f, crt, sizeof(crt));
	snprintf(f, sizeof(f), "%s.key", name);
	tls_fx_path(fx, f, key, sizeof(key));
	if (issuer != NULL) {
		snprintf(f, sizeof(f), "%s.crt", issuer);
		spec->issuer_cert_path = tls_fx_path(fx, f, icrt, sizeof(icrt));
		snprintf(f, sizeof(f), "%s.key", issuer);
		spec->issuer_key_path = tls_fx_path(fx, f, ikey, sizeof(ikey));
	}
	if (tls_certgen_create(spec, crt, key, err, sizeof(err)) != 0) {
		test_fail_at(__FILE__, __LINE__, "certgen %s: %s", name, err);
		return -1;
	}
	return 0;
}

int
tls_fx_leaf(struct tls_fx *fx, const char *name, const char *domain,
    const char *issuer)
{
	struct tls_certgen spec;

	memset(&spec, 0, sizeof(spec));
	spec.subject_cn = domain;
	spec.dns_names[0] = domain;
	return tls_fx_cert(fx, name, &spec, issuer);
}

int
tls_fx_ca(struct tls_fx *fx, const char *name)
{
	struct tls_certgen spec;

	memset(&spec, 0, sizeof(spec));
	spec.subject_cn = name;
	spec.is_ca = 1;
	return tls_fx_cert(fx, name, &spec, NULL);
}

int
tls_fx_pin(struct tls_fx *fx, const char *name, char *out, size_t len)
{
	mbedtls_x509_crt crt;
	uint8_t pin[TLS_PIN_LEN];
	char p[300], f[128];
	int rc = -1;

	mbedtls_x509_crt_init(&crt);
	snprintf(f, sizeof(f), "%s.crt", name);
	if (mbedtls_x509_crt_parse_file(&crt, tls_fx_path(fx, f, p,
	    sizeof(p))) == 0 && tls_pin_of_cert(&crt, pin) == 0 &&
	    tls_pin_format(pin, out, len) == 0)
		rc = 0;
	mbedtls_x509_crt_free(&crt);
	return rc;
}

struct tls_certstore *
tls_fx_store(struct tls_fx *fx, const char *domain, const char *cert,
    const char *ca, const char *internal, const char *const *pins,
    size_t npins)
{
	return tls_fx_store_tickets(fx, domain, cert, ca, internal, pins, npins,
	    NULL, 0, 0);
}

struct tls_certstore *
tls_fx_store_tickets(struct tls_fx *fx, const char *domain, const char *cert,
    const char *ca, const char *internal, const char *const *pins,
    size_t npins, const uint8_t *ticket_secret, size_t ticket_secret_len,
    int no_tickets)
{
	struct tls_certstore_config cfg;
	struct tls_cert_paths cp;
	struct tls_certstore *s;
	char crt[300], key[300], cafile[300], icrt[300], ikey[300], f[128];
	char err[300];

	memset(&cfg, 0, sizeof(cfg));
	snprintf(f, sizeof(f), "%s.crt", cert);
	cp.cert_path = tls_fx_path(fx, f, crt, sizeof(crt));
	snprintf(f, sizeof(f), "%s.key", cert);
	cp.key_path = tls_fx_path(fx, f, key, sizeof(key));
	cp.domain = domain;
	cfg.certs = &cp;
	cfg.ncerts = 1;
	snprintf(f, sizeof(f), "%s.crt", ca ? ca : "ca");
	cfg.ca_file = tls_fx_path(fx, f, cafile, sizeof(cafile));
	if (internal != NULL) {
		snprintf(f, sizeof(f), "%s.crt", internal);
		cfg.internal_cert_path = tls_fx_path(fx, f, icrt, sizeof(icrt));
		snprintf(f, sizeof(f), "%s.key", internal);
		cfg.internal_key_path = tls_fx_path(fx, f, ikey, sizeof(ikey));
	}
	cfg.pins = pins;
	cfg.npins = npins;
	cfg.ticket_secret = ticket_secret;
	cfg.ticket_secret_len = ticket_secret_len;
	cfg.no_tickets = no_tickets;
	s = tls_certstore_load(&cfg, err, sizeof(err));
	if (s == NULL)
		test_fail_at(__FILE__, __LINE__, "certstore: %s", err);
	return s;
}

static void
append(uint8_t **buf, size_t *len, const uint8_t *data, size_t n)
{
	uint8_t *p = realloc(*buf, *len + n + 1);

	if (p == NULL)
		abort();
	memcpy(p + *len, data, n);
	*len += n;
	p[*len] = 0;
	*buf = p;
}

static void
fx_on_ciphertext(void *ud, const uint8_t *data, size_t len)
{
	struct tls_fx_end *e = ud;

	append(&e->out, &e->out_len, data, len);
}

static void
fx_on_handshake(void *ud, const struct tls_verify_result *r)
{
	struct tls_fx_end *e = ud;

	e->handshakes++;
	e->result = *r;
}

static void
fx_on_plaintext(void *ud, const uint8_t *data, size_t len)
{
	struct tls_fx_end *e = ud;

	append(&e->plain, &e->plain_len, data, len);
}

static void
fx_on_close_notify(void *ud)
{
	struct tls_fx_end *e = ud;

	e->close_notify++;
}

static void
fx_on_error(void *ud, const char *reason)
{
	struct tls_fx_end *e = ud;

	e->errors++;
	snprintf(e->error, sizeof(e->error), "%s", reason);
}

const struct tls_conn_callbacks tls_fx_callbacks = {
	.on_ciphertext = fx_on_ciphertext,
	.on_handshake = fx_on_handshake,
	.on_plaintext = fx_on_plaintext,
	.on_close_notify = fx_on_close_notify,
	.on_error = fx_on_error,
};

int
tls_fx_end_new(struct tls_fx_end *e, struct tls_certstore *store,
    const struct tls_conn_params *p)
{
	char err[256];

	memset(e, 0, sizeof(*e));
	e->conn = tls_conn_new(store, p, &tls_fx_callbacks, e, err,
	    sizeof(err));
	if (e->conn == NULL) {
		test_fail_at(__FILE__, __LINE__, "tls_conn_new: %s", err);
		return -1;
	}
	return 0;
}

void
tls_fx_end_free(struct tls_fx_end *e)
{
	tls_conn_free(e->conn);
	free(e->out);
	free(e->plain);
	memset(e, 0, sizeof(*e));
}

static int
move(struct tls_fx_end *from, struct tls_fx_end *to)
{
	uint8_t *p = from->out;
	size_t n = from->out_len;

	if (n == 0)
		return 0;
	from->out = NULL;
	from->out_len = 0;
	tls_conn_feed(to->conn, p, n);
	free(p);
	return 1;
}

void
tls_fx_pump(struct tls_fx_end *a, struct tls_fx_end *b)
{
	int rounds = 0;

	while ((move(a, b) | move(b, a)) && ++rounds < 100)
		;
}
