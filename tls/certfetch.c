/* SPDX-License-Identifier: Apache-2.0 */
/*
 * certfetch.c - read back the certificate a running server presents.
 *
 * `cert rotate` ends by connecting to the daemon's own listener, as a
 * peer would, and comparing the certificate it is served with the one it
 * installed: the only proof that new handshakes use the new certificate.
 *
 * A blocking client handshake over a socket the caller connected, with
 * one deadline for the whole of it.  The leaf is captured in the
 * verification callback, when the Certificate message arrives: the
 * internal listener then asks for a pinned client certificate we do not
 * have and aborts, but by then we have seen what it presents.  Nothing
 * is trusted or refused here; the caller compares bytes.
 */
#include "certops.h"
#include "tls_int.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

struct fetch {
	int fd;
	long long deadline_ms;
	uint8_t *der;
	size_t cap;
	size_t len;
	int captured;
	int too_big;
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for the socket within the deadline; 0 ready, -1 timed out. */
static int
fetch_wait(struct fetch *f, short events)
{
	for (;;) {
		struct pollfd p = { .fd = f->fd, .events = events };
		long long left = f->deadline_ms - now_ms();
		int n;

		if (left <= 0)
			return -1;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

static int
fetch_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct fetch *f = ctx;
	ssize_t n;

	for (;;) {
		n = write(f->fd, buf, len);
		if (n >= 0)
			return (int)n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
		if (fetch_wait(f, POLLOUT) != 0)
			return MBEDTLS_ERR_SSL_TIMEOUT;
	}
}

static int
fetch_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct fetch *f = ctx;
	ssize_t n;

	for (;;) {
		if (fetch_wait(f, POLLIN) != 0)
			return MBEDTLS_ERR_SSL_TIMEOUT;
		n = read(f->fd, buf, len);
		if (n > 0)
			return (int)n;
		if (n == 0)
			return MBEDTLS_ERR_SSL_CONN_EOF;
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
	}
}

/* Called for each certificate of the peer's chain, root first; depth 0
 * is the leaf.  Every verdict is cleared: we only look. */
static int
fetch_on_cert(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	struct fetch *f = ctx;

	if (depth == 0 && !f->captured) {
		if (crt->raw.len > f->cap) {
			f->too_big = 1;
		} else {
			memcpy(f->der, crt->raw.p, crt->raw.len);
			f->len = crt->raw.len;
			f->captured = 1;
		}
	}
	*flags = 0;
	return 0;
}

int
tls_fetch_peer_cert(int fd, const char *sni, const char *alpn,
    int timeout_ms, uint8_t *der, size_t cap, size_t *len, char *err,
    size_t errlen)
{
	const char *alpn_list[2] = { alpn, NULL };
	mbedtls_ssl_config conf;
	mbedtls_ssl_context ssl;
	struct tls_rng rng;
	struct fetch f;
	char ebuf[160];
	int ret, rc = -1;

	memset(&f, 0, sizeof(f));
	f.fd = fd;
	f.deadline_ms = now_ms() + timeout_ms;
	f.der = der;
	f.cap = cap;
	mbedtls_ssl_config_init(&conf);
	mbedtls_ssl_init(&ssl);
	if ((ret = tls_rng_init(&rng, "xmpp-edge certfetch")) != 0) {
		tls_set_err(err, errlen, "random generator: %s",
		    tls_strerror(ret, ebuf, sizeof(ebuf)));
		mbedtls_ssl_free(&ssl);
		mbedtls_ssl_config_free(&conf);
		return -1;
	}
	if ((ret = mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT)) != 0)
		goto fail_tls;
	mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &rng.drbg);
	/* OPTIONAL: mbedTLS 3.6 runs the chain check (and so the callback)
	 * even without anchors, and goes on whatever it finds; the callback
	 * clears every flag. */
	mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
	mbedtls_ssl_conf_verify(&conf, fetch_on_cert, &f);
	mbedtls_ssl_conf_session_tickets(&conf,
	    MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
	if (alpn != NULL &&
	    (ret = mbedtls_ssl_conf_alpn_protocols(&conf, alpn_list)) != 0)
		goto fail_tls;
	if ((ret = mbedtls_ssl_setup(&ssl, &conf)) != 0 ||
	    (ret = mbedtls_ssl_set_hostname(&ssl, sni)) != 0)
		goto fail_tls;
	mbedtls_ssl_set_bio(&ssl, &f, fetch_send, fetch_recv, NULL);
	do {
		ret = mbedtls_ssl_handshake(&ssl);
	} while (ret == MBEDTLS_ERR_SSL_WANT_READ ||
	    ret == MBEDTLS_ERR_SSL_WANT_WRITE);
	if (f.too_big) {
		tls_set_err(err, errlen, "the server's certificate is larger "
		    "than %zu bytes", cap);
		goto done;
	}
	if (!f.captured) {
		tls_set_err(err, errlen, "no certificate received: %s",
		    ret != 0 ? tls_strerror(ret, ebuf, sizeof(ebuf)) :
		    "handshake completed without one");
		goto done;
	}
	if (ret == 0)
		(void)mbedtls_ssl_close_notify(&ssl);
	*len = f.len;
	rc = 0;
	goto done;
fail_tls:
	tls_set_err(err, errlen, "TLS client setup: %s",
	    tls_strerror(ret, ebuf, sizeof(ebuf)));
done:
	mbedtls_ssl_free(&ssl);
	mbedtls_ssl_config_free(&conf);
	tls_rng_free(&rng);
	return rc;
}
