/* SPDX-License-Identifier: Apache-2.0 */
/*
 * certstore.c - the certificate store: what every TLS handshake needs and
 * an operator may replace at run time.
 *
 * A store holds, loaded once and then read-only:
 *   - per hosted domain: certificate chain, private key, and the mbedTLS
 *     client configurations presenting them on outbound s2s (one for
 *     STARTTLS, one for Direct TLS, which offers ALPN "xmpp-server");
 *   - the server configuration for inbound s2s: the default certificate,
 *     an SNI callback choosing the domain's certificate, a client
 *     certificate request (optional: SASL EXTERNAL when offered, dialback
 *     otherwise, RFC 6120 §13.8 / XEP-0178), and session tickets;
 *   - the CA bundle for the external side;
 *   - the internal link: our certificate, the SPKI pins of the peers, and
 *     server and client configurations requiring a certificate from the
 *     peer and accepting it by pin alone (no CA consulted, validity dates
 *     ignored as for DANE-EE, RFC 7671 §5.1);
 *   - a CTR_DRBG and the session ticket keys (rotating; ticket.c binds
 *     the verified peer identity to each ticket).  A new store has new
 *     keys: tickets issued under the old one are refused.
 *
 * mbedTLS contexts point into their configuration, so every tls_conn
 * holds a reference to the store it started with.  tls_certstore_swap()
 * puts a new store in place: new handshakes use it, established
 * connections keep theirs, and the old store is freed with its last
 * connection.  All of this runs on the libuv loop thread: the refcount
 * is a plain integer.
 */
#include "tls.h"
#include "tls_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/sha256.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/platform.h>
#include <mbedtls/platform_util.h>

#include "log.h"

#define CERTSTORE_MAX_DOMAINS 1024
#define CERTSTORE_MAX_PINS 64

struct certstore_entry {
	char domain[TLS_DOMAIN_MAX + 1];	/* normalised (A-labels) */
	mbedtls_x509_crt chain;
	mbedtls_pk_context key;
	mbedtls_ssl_config client_conf;		/* STARTTLS */
	mbedtls_ssl_config client_direct_conf;	/* Direct TLS, ALPN */
};

/* Output record buffers kept for reuse (see tls_certstore_outbuf_get). */
#define CERTSTORE_OUTBUF_CACHE 8
/* mbedTLS record buffers idle connections gave back (tls_certstore_recbuf_get):
 * one connection works at a time on the loop, a callback may drive a
 * second or third (a relay writing to its destination), so a few suffice. */
#define CERTSTORE_RECBUF_CACHE 8

struct certstore_recbuf {
	uint8_t *p;
	size_t len;
};

/* A client configuration with the TLS 1.3 ticket signal off
 * (tls_certstore_conf_tickets_off): a struct copy of the store's own,
 * sharing its certificates, keys and callbacks, so it is only free()d,
 * never mbedtls_ssl_config_free()d, and lives as long as the store. */
struct certstore_conf_twin {
	const mbedtls_ssl_config *of;
	mbedtls_ssl_config conf;
	struct certstore_conf_twin *next;
};

struct tls_certstore {
	uint8_t *outbuf_cache[CERTSTORE_OUTBUF_CACHE];
	size_t outbuf_cached;
	struct certstore_recbuf recbuf_cache[CERTSTORE_RECBUF_CACHE];
	size_t recbuf_cached;
	unsigned refs;
	uint64_t generation;
	struct tls_rng rng;
	struct certstore_entry *entries;
	size_t nentries;
	size_t default_idx;
	mbedtls_x509_crt ca;
	struct tls_tickets tickets;
	struct tls_session_cache sessions;	/* outgoing: tickets received */
	uint32_t ticket_lifetime_s;
	mbedtls_ssl_config server_conf;
	int have_internal;
	mbedtls_x509_crt internal_crt;
	mbedtls_pk_context internal_key;
	uint8_t (*pins)[TLS_PIN_LEN];
	size_t npins;
	mbedtls_ssl_config internal_server_conf;
	mbedtls_ssl_config internal_client_conf;
	/* Outbound external presenting no certificate: the second try after
	 * a peer refused ours (tls_conn_peer_refused_cert). */
	mbedtls_ssl_config anon_client_conf;
	mbedtls_ssl_config anon_client_direct_conf;
	struct certstore_conf_twin *twins;	/* one per client conf used */
};

/* mbedTLS keeps the pointer, so the list must outlive every config. */
static const char *alpn_xmpp_server[] = { TLS_ALPN_XMPP_SERVER, NULL };

/* Monotonic across the process, for log lines ("which store is this"). */
static uint64_t certstore_generation_counter;

static const char *
err_str(int ret, char *buf, size_t len)
{
	return tls_strerror(ret, buf, len);
}

/* 0 if path opens for reading, else errno: "No such file or directory"
 * and "Permission denied" say more than mbedTLS's "file I/O error". */
static int
file_open_errno(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

/* relayd's check_file_secrecy(), relaxed for Debian's ssl-cert group
 * convention (0640 root:ssl-cert): a key may be readable by its group,
 * never writable by it, and not accessible by others at all.  Who owns
 * it is the caller's rule (proxy/config_files.c: root or `user`). */
static int
key_file_check(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int e;

	e = stat(path, &st) != 0 ? errno : file_open_errno(path);
	if (e != 0) {
		tls_set_err(err, errlen, "%s: cannot read key: %s", path,
		    strerror(e));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		tls_set_err(err, errlen, "%s: key is not a regular file", path);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO)) {
		tls_set_err(err, errlen, "%s: key is accessible by others or "
		    "writable by its group (mode %04o); chmod o-rwx,g-wx it",
		    path, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* Loads a chain and its key; *key_fault says which file an error is
 * about (0: the certificate, 1: the key), for the config layer's key
 * paths.  Shared by the store and tls_check_cert_key(). */
static int
load_cert_key(struct tls_rng *rng, const char *cert_path,
    const char *key_path, mbedtls_x509_crt *chain, mbedtls_pk_context *key,
    int *key_fault, char *err, size_t errlen)
{
	char ebuf[160];
	int ret;

	*key_fault = 0;
	if (cert_path == NULL || key_path == NULL) {
		tls_set_err(err, errlen, "certificate and key paths are both "
		    "required");
		return -1;
	}
	if ((ret = file_open_errno(cert_path)) != 0) {
		tls_set_err(err, errlen, "%s: cannot read certificate: %s",
		    cert_path, strerror(ret));
		return -1;
	}
	ret = mbedtls_x509_crt_parse_file(chain, cert_path);
	if (ret != 0) {
		if (ret > 0)
			tls_set_err(err, errlen, "%s: %d certificate(s) in the "
			    "file could not be parsed", cert_path, ret);
		else
			tls_set_err(err, errlen, "%s: cannot load certificate: "
			    "%s", cert_path, err_str(ret, ebuf, sizeof(ebuf)));
		return -1;
	}
	*key_fault = 1;
	if (key_file_check(key_path, err, errlen) != 0)
		return -1;
	ret = mbedtls_pk_parse_keyfile(key, key_path, NULL,
	    mbedtls_ctr_drbg_random, &rng->drbg);
	if (ret != 0) {
		tls_set_err(err, errlen, "%s: cannot load private key: %s",
		    key_path, err_str(ret, ebuf, sizeof(ebuf)));
		return -1;
	}
	ret = mbedtls_pk_check_pair(&chain->pk, key, mbedtls_ctr_drbg_random,
	    &rng->drbg);
	if (ret != 0) {
		tls_set_err(err, errlen, "%s: private key does not match the "
		    "certificate in %s", key_path, cert_path);
		return -1;
	}
	if (mbedtls_x509_time_is_past(&chain->valid_to)) {
		/* Loading it anyway beats refusing to start: peers will
		 * fall back to dialback.  But say so loudly. */
		log_event(LOG_WARN, "tls.cert_expired", "file", cert_path, NULL);
	}
	return 0;
}

static int
load_ca(mbedtls_x509_crt *ca, const char *path, int explicit, char *err,
    size_t errlen)
{
	struct stat st;
	char ebuf[160];
	int ret;

	if (stat(path, &st) != 0) {
		if (!explicit && errno == ENOENT) {
			log_event(LOG_WARN, "tls.no_ca_bundle", "file", path,
			    "effect", "every external peer is untrusted", NULL);
			return 0;
		}
		tls_set_err(err, errlen, "%s: cannot read CA bundle: %s", path,
		    strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		ret = mbedtls_x509_crt_parse_path(ca, path);
	else
		ret = mbedtls_x509_crt_parse_file(ca, path);
	/* A positive return is the number of certificates mbedTLS could
	 * not parse (bundles carry a few exotic ones): fine if others
	 * loaded. */
	if (ret < 0 || ca->raw.p == NULL) {
		tls_set_err(err, errlen, "%s: cannot load CA certificates: %s",
		    path, ret < 0 ? err_str(ret, ebuf, sizeof(ebuf)) :
		    "none could be parsed");
		return -1;
	}
	return 0;
}

static struct certstore_entry *
entry_find(const struct tls_certstore *s, const char *name)
{
	char norm[TLS_DOMAIN_MAX + 1];
	size_t i;

	if (tls_identity_normalize(name, norm, sizeof(norm)) != 0)
		return NULL;
	for (i = 0; i < s->nentries; i++)
		if (strcmp(s->entries[i].domain, norm) == 0)
			return &s->entries[i];
	return NULL;
}

/* RFC 6066 §3: pick the certificate of the named hosted domain; for
 * unknown names carry on with the default rather than abort, since a
 * peer's idea of our name (SRV target vs. domain) may differ. */
static int
sni_cb(void *p, mbedtls_ssl_context *ssl, const unsigned char *name,
    size_t len)
{
	struct tls_certstore *s = p;
	struct certstore_entry *e;
	char host[TLS_DOMAIN_MAX + 2];

	if (len == 0 || len >= sizeof(host) || memchr(name, 0, len) != NULL)
		return 0;
	memcpy(host, name, len);
	host[len] = 0;
	tls_conn_note_sni(mbedtls_ssl_get_user_data_p(ssl), host);
	e = entry_find(s, host);
	if (e == NULL)
		return 0;
	return mbedtls_ssl_set_hs_own_cert(ssl, &e->chain, &e->key);
}

/* Settings every configuration shares: versions, RNG, no CA names in
 * CertificateRequest (the system bundle would make it ~15 KiB). */
/* AEAD only, forward secret only; AES-GCM first (AES-NI makes it the
 * cheapest per byte here), ChaCha20-Poly1305 for peers without it.
 * mbedTLS keeps the pointer: static. */
static const int ciphersuites[] = {
	MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
	MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
	MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	0
};

static int
conf_common(struct tls_certstore *s, mbedtls_ssl_config *conf, int endpoint)
{
	int ret;

	ret = mbedtls_ssl_config_defaults(conf, endpoint,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (ret != 0)
		return ret;
	mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &s->rng.drbg);
	/* RFC 7590 §3.1 / RFC 9325 §3.1.1: TLS 1.2 or later only. */
	mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_max_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_3);
	mbedtls_ssl_conf_ciphersuites(conf, ciphersuites);
	if (endpoint == MBEDTLS_SSL_IS_SERVER)
		mbedtls_ssl_conf_cert_req_ca_list(conf,
		    MBEDTLS_SSL_CERT_REQ_CA_LIST_DISABLED);
	else
		mbedtls_ssl_conf_session_tickets(conf,
		    MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
	return 0;
}

/* Outgoing external streams keep the tickets partners send
 * (session_cache.c); mbedTLS reports each one from mbedtls_ssl_read. */
static void
conf_client_tickets(mbedtls_ssl_config *conf)
{
	mbedtls_ssl_conf_session_tickets(conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
	mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(conf,
	    MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
}

/* e NULL: a configuration that presents no certificate. */
static int
conf_external_client(struct tls_certstore *s, struct certstore_entry *e,
    mbedtls_ssl_config *conf, int direct, int no_tickets)
{
	int ret;

	if ((ret = conf_common(s, conf, MBEDTLS_SSL_IS_CLIENT)) != 0)
		return ret;
	/* Optional: the handshake completes and the s2s layer decides on
	 * the verification result (dialback may still authenticate an
	 * untrusted peer, XEP-0220 §2.1). */
	mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
	mbedtls_ssl_conf_ca_chain(conf, &s->ca, NULL);
	if (e != NULL &&
	    (ret = mbedtls_ssl_conf_own_cert(conf, &e->chain, &e->key)) != 0)
		return ret;
	if (direct &&
	    (ret = mbedtls_ssl_conf_alpn_protocols(conf, alpn_xmpp_server)) != 0)
		return ret;
	if (!no_tickets)
		conf_client_tickets(conf);
	return 0;
}

static int
conf_internal(struct tls_certstore *s, mbedtls_ssl_config *conf, int endpoint)
{
	int ret;

	if ((ret = conf_common(s, conf, endpoint)) != 0)
		return ret;
	mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	/* mbedTLS refuses VERIFY_REQUIRED without trust anchors.  The pin
	 * callback (tls_conn.c) overrides every verdict, so any anchor does:
	 * our own certificate, which grants nothing by itself. */
	mbedtls_ssl_conf_ca_chain(conf, &s->internal_crt, NULL);
	return mbedtls_ssl_conf_own_cert(conf, &s->internal_crt,
	    &s->internal_key);
}

/*
 * What a ticket's identity was judged against: the trust anchors, our
 * certificates and the internal link's pins.  Tickets carry 64 bits of
 * its SHA-256 (ticket.c); a store that differs in any of them refuses
 * them, also when the ticket keys survive (tls.ticket_key_file).
 */
static uint64_t
certstore_trust_fingerprint(const struct tls_certstore *s)
{
	mbedtls_sha256_context h;
	const mbedtls_x509_crt *c;
	uint8_t out[32];
	uint64_t fp = 0;
	size_t i;

	mbedtls_sha256_init(&h);
	mbedtls_sha256_starts(&h, 0);
	for (c = &s->ca; c != NULL && c->raw.p != NULL; c = c->next)
		mbedtls_sha256_update(&h, c->raw.p, c->raw.len);
	mbedtls_sha256_update(&h, (const unsigned char *)"|", 1);
	for (i = 0; i < s->nentries; i++)
		for (c = &s->entries[i].chain; c != NULL && c->raw.p != NULL;
		    c = c->next)
			mbedtls_sha256_update(&h, c->raw.p, c->raw.len);
	mbedtls_sha256_update(&h, (const unsigned char *)"|", 1);
	if (s->npins > 0)
		mbedtls_sha256_update(&h, (const unsigned char *)s->pins,
		    s->npins * TLS_PIN_LEN);
	mbedtls_sha256_finish(&h, out);
	mbedtls_sha256_free(&h);
	for (i = 0; i < 8; i++)
		fp = fp << 8 | out[i];
	return fp;
}

static void
certstore_free(struct tls_certstore *s)
{
	size_t i;

	for (i = 0; i < s->nentries; i++) {
		struct certstore_entry *e = &s->entries[i];

		mbedtls_ssl_config_free(&e->client_conf);
		mbedtls_ssl_config_free(&e->client_direct_conf);
		mbedtls_x509_crt_free(&e->chain);
		mbedtls_pk_free(&e->key);
	}
	free(s->entries);
	mbedtls_ssl_config_free(&s->server_conf);
	mbedtls_ssl_config_free(&s->internal_server_conf);
	mbedtls_ssl_config_free(&s->internal_client_conf);
	mbedtls_ssl_config_free(&s->anon_client_conf);
	mbedtls_ssl_config_free(&s->anon_client_direct_conf);
	while (s->twins != NULL) {
		struct certstore_conf_twin *t = s->twins;

		s->twins = t->next;
		free(t);
	}
	tls_tickets_free(&s->tickets);
	tls_session_cache_free(&s->sessions);
	mbedtls_x509_crt_free(&s->ca);
	mbedtls_x509_crt_free(&s->internal_crt);
	mbedtls_pk_free(&s->internal_key);
	if (s->pins != NULL) {
		mbedtls_platform_zeroize(s->pins, s->npins * TLS_PIN_LEN);
		free(s->pins);
	}
	tls_rng_free(&s->rng);
	while (s->outbuf_cached > 0)
		free(s->outbuf_cache[--s->outbuf_cached]);
	while (s->recbuf_cached > 0)
		mbedtls_free(s->recbuf_cache[--s->recbuf_cached].p);
	free(s);
}

struct tls_certstore *
tls_certstore_load(const struct tls_certstore_config *cfg, char *err,
    size_t errlen)
{
	struct tls_certstore *s;
	struct certstore_entry *def;
	char ebuf[160], gen[24];
	size_t i, j;
	int ret, key_fault;

	if (cfg->ncerts == 0 || cfg->ncerts > CERTSTORE_MAX_DOMAINS) {
		tls_set_err(err, errlen, "between 1 and %d certificates are "
		    "needed, %zu given", CERTSTORE_MAX_DOMAINS, cfg->ncerts);
		return NULL;
	}
	if (cfg->npins > CERTSTORE_MAX_PINS) {
		tls_set_err(err, errlen, "at most %d pins, %zu given",
		    CERTSTORE_MAX_PINS, cfg->npins);
		return NULL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		tls_set_err(err, errlen, "out of memory");
		return NULL;
	}
	s->refs = 1;
	mbedtls_x509_crt_init(&s->ca);
	mbedtls_x509_crt_init(&s->internal_crt);
	mbedtls_pk_init(&s->internal_key);
	mbedtls_ssl_config_init(&s->server_conf);
	mbedtls_ssl_config_init(&s->internal_server_conf);
	mbedtls_ssl_config_init(&s->internal_client_conf);
	mbedtls_ssl_config_init(&s->anon_client_conf);
	mbedtls_ssl_config_init(&s->anon_client_direct_conf);
	if ((ret = tls_rng_init(&s->rng, "xmpp-edge certstore")) != 0) {
		tls_set_err(err, errlen, "random generator: %s",
		    err_str(ret, ebuf, sizeof(ebuf)));
		goto fail;
	}
	s->entries = calloc(cfg->ncerts, sizeof(*s->entries));
	if (s->entries == NULL) {
		tls_set_err(err, errlen, "out of memory");
		goto fail;
	}
	for (i = 0; i < cfg->ncerts; i++) {
		const struct tls_cert_paths *cp = &cfg->certs[i];
		struct certstore_entry *e = &s->entries[i];

		mbedtls_x509_crt_init(&e->chain);
		mbedtls_pk_init(&e->key);
		mbedtls_ssl_config_init(&e->client_conf);
		mbedtls_ssl_config_init(&e->client_direct_conf);
		s->nentries = i + 1;
		if (cp->domain == NULL || tls_identity_normalize(cp->domain,
		    e->domain, sizeof(e->domain)) != 0) {
			tls_set_err(err, errlen, "%s: invalid domain name '%s'",
			    cp->cert_path ? cp->cert_path : "(certificate)",
			    cp->domain ? cp->domain : "");
			goto fail;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(s->entries[j].domain, e->domain) == 0) {
				tls_set_err(err, errlen, "%s: domain %s has "
				    "two certificates", cp->cert_path
				    ? cp->cert_path : "(certificate)",
				    cp->domain);
				goto fail;
			}
		}
		if (load_cert_key(&s->rng, cp->cert_path, cp->key_path, &e->chain,
		    &e->key, &key_fault, err, errlen) != 0)
			goto fail;
		if (tls_identity_check_cert(&e->chain, e->domain) == TLS_ID_NONE)
			log_event(LOG_WARN, "tls.cert_name_mismatch", "file",
			    cp->cert_path, "domain", cp->domain, "effect",
			    "peers checking names will not accept it", NULL);
	}
	s->default_idx = 0;
	if (cfg->default_domain != NULL) {
		def = entry_find(s, cfg->default_domain);
		if (def == NULL) {
			tls_set_err(err, errlen, "default domain %s has no "
			    "certificate", cfg->default_domain);
			goto fail;
		}
		s->default_idx = (size_t)(def - s->entries);
	}
	def = &s->entries[s->default_idx];

	if (load_ca(&s->ca, cfg->ca_file ? cfg->ca_file : TLS_DEFAULT_CA_FILE,
	    cfg->ca_file != NULL, err, errlen) != 0)
		goto fail;

	if (cfg->npins > 0) {
		s->pins = calloc(cfg->npins, TLS_PIN_LEN);
		if (s->pins == NULL) {
			tls_set_err(err, errlen, "out of memory");
			goto fail;
		}
		for (i = 0; i < cfg->npins; i++) {
			if (tls_pin_parse(cfg->pins[i], s->pins[i], err,
			    errlen) != 0)
				goto fail;
			s->npins = i + 1;
		}
	}

	/* Session tickets (RFC 5077 / RFC 8446 §4.6.1), AES-256-GCM; the
	 * ticket context generates a new key every lifetime and keeps the
	 * previous one, so a ticket stays usable for one to two lifetimes.
	 * ticket.c seals the trust fingerprint into every ticket; the
	 * internal link's pins are in by now, its certificate is not part of
	 * what a partner's identity is judged by. */
	s->ticket_lifetime_s = cfg->ticket_lifetime_s ? cfg->ticket_lifetime_s
	    : TLS_TICKET_LIFETIME_DEFAULT_S;
	if (cfg->ticket_secret != NULL &&
	    (cfg->ticket_secret_len < TLS_TICKET_SECRET_MIN ||
	    cfg->ticket_secret_len > TLS_TICKET_SECRET_MAX)) {
		tls_set_err(err, errlen, "session ticket secret: %d to %d bytes "
		    "needed, %zu given", TLS_TICKET_SECRET_MIN,
		    TLS_TICKET_SECRET_MAX, cfg->ticket_secret_len);
		goto fail;
	}
	ret = tls_tickets_init(&s->tickets, &s->rng, s->ticket_lifetime_s,
	    certstore_trust_fingerprint(s), cfg->ticket_secret,
	    cfg->ticket_secret_len);
	if (ret != 0) {
		tls_set_err(err, errlen, "session tickets: %s",
		    err_str(ret, ebuf, sizeof(ebuf)));
		goto fail;
	}

	/* Inbound external. */
	if ((ret = conf_common(s, &s->server_conf, MBEDTLS_SSL_IS_SERVER)) != 0)
		goto fail_conf;
	mbedtls_ssl_conf_authmode(&s->server_conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
	mbedtls_ssl_conf_ca_chain(&s->server_conf, &s->ca, NULL);
	if ((ret = mbedtls_ssl_conf_own_cert(&s->server_conf, &def->chain,
	    &def->key)) != 0)
		goto fail_conf;
	mbedtls_ssl_conf_sni(&s->server_conf, sni_cb, s);
	if ((ret = mbedtls_ssl_conf_alpn_protocols(&s->server_conf,
	    alpn_xmpp_server)) != 0)
		goto fail_conf;
	if (!cfg->no_tickets)
		mbedtls_ssl_conf_session_tickets_cb(&s->server_conf,
		    tls_ticket_write, tls_ticket_parse, &s->tickets);

	/* Outbound external, per hosted domain. */
	for (i = 0; i < s->nentries; i++) {
		struct certstore_entry *e = &s->entries[i];

		if ((ret = conf_external_client(s, e, &e->client_conf, 0,
		    cfg->no_tickets)) != 0 ||
		    (ret = conf_external_client(s, e, &e->client_direct_conf,
		    1, cfg->no_tickets)) != 0)
			goto fail_conf;
	}
	if ((ret = conf_external_client(s, NULL, &s->anon_client_conf, 0,
	    cfg->no_tickets)) != 0 ||
	    (ret = conf_external_client(s, NULL, &s->anon_client_direct_conf,
	    1, cfg->no_tickets)) != 0)
		goto fail_conf;

	/* Internal link. */
	if (cfg->internal_cert_path != NULL || cfg->internal_key_path != NULL) {
		if (load_cert_key(&s->rng, cfg->internal_cert_path,
		    cfg->internal_key_path, &s->internal_crt, &s->internal_key,
		    &key_fault, err, errlen) != 0)
			goto fail;
		if (s->npins == 0) {
			tls_set_err(err, errlen, "%s: internal link certificate "
			    "given but no pins: no peer could be accepted",
			    cfg->internal_cert_path);
			goto fail;
		}
		if ((ret = conf_internal(s, &s->internal_server_conf,
		    MBEDTLS_SSL_IS_SERVER)) != 0 ||
		    (ret = conf_internal(s, &s->internal_client_conf,
		    MBEDTLS_SSL_IS_CLIENT)) != 0)
			goto fail_conf;
		if (cfg->internal_tls13_only) {
			mbedtls_ssl_conf_min_tls_version(&s->internal_server_conf,
			    MBEDTLS_SSL_VERSION_TLS1_3);
			mbedtls_ssl_conf_min_tls_version(&s->internal_client_conf,
			    MBEDTLS_SSL_VERSION_TLS1_3);
		}
		s->have_internal = 1;
	}

	s->generation = ++certstore_generation_counter;
	snprintf(gen, sizeof(gen), "%llu", (unsigned long long)s->generation);
	log_event(LOG_INFO, "tls.certstore_loaded", "generation", gen,
	    "default", def->domain, "internal", s->have_internal ? "yes" : "no",
	    NULL);
	return s;

fail_conf:
	tls_set_err(err, errlen, "TLS configuration: %s",
	    err_str(ret, ebuf, sizeof(ebuf)));
fail:
	certstore_free(s);
	return NULL;
}

struct tls_certstore *
tls_certstore_ref(struct tls_certstore *s)
{
	s->refs++;
	return s;
}

void
tls_certstore_unref(struct tls_certstore *s)
{
	if (s == NULL)
		return;
	if (s->refs == 0) {
		log_event(LOG_ERROR, "tls.certstore_refcount", "error",
		    "unref of a freed store", NULL);
		abort();
	}
	if (--s->refs == 0)
		certstore_free(s);
}

void
tls_certstore_swap(struct tls_certstore **slot, struct tls_certstore *fresh)
{
	struct tls_certstore *old = *slot;
	char from[24], to[24];

	snprintf(from, sizeof(from), "%llu",
	    old ? (unsigned long long)old->generation : 0ULL);
	snprintf(to, sizeof(to), "%llu", (unsigned long long)fresh->generation);
	*slot = fresh;
	log_event(LOG_INFO, "tls.certstore_swap", "from", from, "to", to, NULL);
	tls_certstore_unref(old);
}

int
tls_certstore_rotate_ticket_key(struct tls_certstore *s)
{
	int ret = tls_tickets_rotate(&s->tickets, s->ticket_lifetime_s);

	if (ret != 0) {
		char ebuf[160];

		log_event(LOG_ERROR, "tls.ticket_rotate_failed", "reason",
		    err_str(ret, ebuf, sizeof(ebuf)), NULL);
		return -1;
	}
	log_event(LOG_INFO, "tls.ticket_rotated", NULL);
	return 0;
}

int
tls_certstore_has_domain(const struct tls_certstore *s, const char *domain)
{
	return entry_find(s, domain) != NULL;
}

/* mbedTLS's broken-down certificate time as a time_t (UTC). */
time_t
tls_x509_time_to_time(const mbedtls_x509_time *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = t->year - 1900;
	tm.tm_mon = t->mon - 1;
	tm.tm_mday = t->day;
	tm.tm_hour = t->hour;
	tm.tm_min = t->min;
	tm.tm_sec = t->sec;
	return timegm(&tm);
}

int
tls_certstore_not_after(const struct tls_certstore *s, const char *domain, time_t *not_after)
{
	const struct certstore_entry *e = entry_find(s, domain);

	if (e == NULL || e->chain.raw.p == NULL)
		return -1;
	*not_after = tls_x509_time_to_time(&e->chain.valid_to);
	return 0;
}

struct tls_session_cache *
tls_certstore_sessions(struct tls_certstore *s)
{
	return &s->sessions;
}

struct tls_tickets *
tls_certstore_tickets(struct tls_certstore *s)
{
	return &s->tickets;
}

struct tls_conn *
tls_certstore_active_swap(struct tls_certstore *s, struct tls_conn *c)
{
	struct tls_conn *prev = s->tickets.active;

	s->tickets.active = c;
	return prev;
}

uint64_t
tls_certstore_generation(const struct tls_certstore *s)
{
	return s->generation;
}

const mbedtls_ssl_config *
tls_certstore_conf_tickets_off(struct tls_certstore *s, const mbedtls_ssl_config *conf)
{
	struct certstore_conf_twin *t;

	for (t = s->twins; t != NULL; t = t->next)
		if (t->of == conf)
			return &t->conf;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->of = conf;
	t->conf = *conf;
	mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(&t->conf,
	    MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_DISABLED);
	t->next = s->twins;
	s->twins = t;
	return &t->conf;
}

const mbedtls_ssl_config *
tls_certstore_conf(struct tls_certstore *s, enum tls_role role, int direct,
    const char *local_domain, int no_client_cert)
{
	struct certstore_entry *e;

	switch (role) {
	case TLS_ROLE_EXTERNAL_SERVER:
		return &s->server_conf;
	case TLS_ROLE_EXTERNAL_CLIENT:
		if (no_client_cert)
			return direct ? &s->anon_client_direct_conf :
			    &s->anon_client_conf;
		e = local_domain ? entry_find(s, local_domain) : NULL;
		if (e == NULL)
			e = &s->entries[s->default_idx];
		return direct ? &e->client_direct_conf : &e->client_conf;
	case TLS_ROLE_INTERNAL_SERVER:
		return s->have_internal ? &s->internal_server_conf : NULL;
	case TLS_ROLE_INTERNAL_CLIENT:
		return s->have_internal ? &s->internal_client_conf : NULL;
	}
	return NULL;
}

int
tls_certstore_pin_ok(const struct tls_certstore *s, const uint8_t pin[32])
{
	return tls_pin_match((const uint8_t (*)[TLS_PIN_LEN])s->pins, s->npins,
	    pin);
}

size_t
tls_certstore_npins(const struct tls_certstore *s)
{
	return s->npins;
}

int
tls_check_cert_key(const char *cert_path, const char *key_path,
    int *key_fault, char *err, size_t errlen)
{
	mbedtls_x509_crt chain;
	mbedtls_pk_context key;
	struct tls_rng rng;
	char ebuf[160];
	int ret, rc = -1;

	*key_fault = 0;
	mbedtls_x509_crt_init(&chain);
	mbedtls_pk_init(&key);
	if ((ret = tls_rng_init(&rng, "xmpp-edge check")) != 0) {
		tls_set_err(err, errlen, "random generator: %s",
		    err_str(ret, ebuf, sizeof(ebuf)));
		goto done;
	}
	rc = load_cert_key(&rng, cert_path, key_path, &chain, &key, key_fault,
	    err, errlen);
	tls_rng_free(&rng);
done:
	mbedtls_pk_free(&key);
	mbedtls_x509_crt_free(&chain);
	return rc;
}

int
tls_check_ca(const char *path, char *err, size_t errlen)
{
	mbedtls_x509_crt ca;
	int rc;

	mbedtls_x509_crt_init(&ca);
	rc = load_ca(&ca, path, 1, err, errlen);
	mbedtls_x509_crt_free(&ca);
	return rc;
}

/*
 * Connections gather their outgoing records in a buffer of size bytes
 * between two flushes and give it back right after.  Freeing and
 * allocating one per record made the allocator map and unmap pages for
 * every write on a busy relay (tests/bench/run_relay.sh profile), so a
 * few buffers are kept here; an idle connection still holds none.
 */
uint8_t *
tls_certstore_outbuf_get(struct tls_certstore *s, size_t size)
{
	if (s->outbuf_cached > 0)
		return s->outbuf_cache[--s->outbuf_cached];
	return malloc(size);
}

void
tls_certstore_outbuf_put(struct tls_certstore *s, uint8_t *buf)
{
	if (buf == NULL)
		return;
	if (s->outbuf_cached < CERTSTORE_OUTBUF_CACHE)
		s->outbuf_cache[s->outbuf_cached++] = buf;
	else
		free(buf);
}

/*
 * mbedTLS record buffers (tls_conn.c gives an idle connection's back and
 * takes them again at its next input or output).  Allocated with
 * mbedtls_calloc because mbedTLS frees them itself (mbedtls_ssl_free).
 * Buffers come back wiped (the caller zeroes what was written), so the
 * cache never holds another connection's data.  The most recently
 * returned one of the size goes out first: it is warm in the cache and
 * its pages are resident.
 */
uint8_t *
tls_certstore_recbuf_get(struct tls_certstore *s, size_t len)
{
	size_t i = s->recbuf_cached;
	uint8_t *p;

	while (i-- > 0) {
		if (s->recbuf_cache[i].len != len)
			continue;
		p = s->recbuf_cache[i].p;
		s->recbuf_cache[i] = s->recbuf_cache[--s->recbuf_cached];
		return p;
	}
	return mbedtls_calloc(1, len);
}

void
tls_certstore_recbuf_put(struct tls_certstore *s, uint8_t *p, size_t len)
{
	if (p == NULL)
		return;
	if (s->recbuf_cached < CERTSTORE_RECBUF_CACHE) {
		s->recbuf_cache[s->recbuf_cached].p = p;
		s->recbuf_cache[s->recbuf_cached++].len = len;
	} else
		mbedtls_free(p);
}
