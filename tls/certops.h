/* SPDX-License-Identifier: Apache-2.0 */
/*
 * certops.h - certificate operations for the operator's `cert` commands:
 * inspecting a certificate (certinfo.c), checking a candidate before it
 * replaces one in service (certcheck.c), reading back the certificate a
 * running server presents (certfetch.c) and writing a CSR (csr.c).
 *
 * Kept apart from tls.h, which is what the daemon's data path needs.
 * Everything here is synchronous and may block (files, a blocking TLS
 * handshake with a deadline): it is for the command line.  The remote
 * admin channel (proxy/admin_files.c) runs the checks, the CSR and the
 * inspection on the event loop for the one request being served: those
 * are short (parsing, a key generation, a few files); the blocking read
 * back (certfetch.c) stays on the command line's side.
 */
#ifndef XE_TLS_CERTOPS_H
#define XE_TLS_CERTOPS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tls.h"

#define TLS_CERTINFO_NAMES_MAX 32
#define TLS_CERTINFO_NAME_MAX 256	/* printable form, NUL included */
#define TLS_CERTINFO_DN_MAX 512
#define TLS_CERT_FILE_MAX (256 * 1024)	/* a PEM file we agree to read */
#define TLS_DER_MAX (16 * 1024)	/* one certificate, DER */

/* ------------------------------------------------------------------------
 * Inspection (certinfo.c)
 * --------------------------------------------------------------------- */

struct tls_certinfo_name {
	enum tls_id_type type;		/* TLS_ID_DNS, _SRV or _XMPPADDR */
	char value[TLS_CERTINFO_NAME_MAX];	/* bytes outside printable
					   ASCII shown as '?' */
};

/* What `cert status` shows of a leaf certificate. */
struct tls_certinfo {
	char subject[TLS_CERTINFO_DN_MAX];
	char issuer[TLS_CERTINFO_DN_MAX];
	char serial[128];
	char key_type[32];		/* "EC P-256", "RSA 2048" */
	char pin[TLS_PIN_B64_LEN + 1];	/* SHA-256 SPKI, as gateway.pins */
	time_t not_before;
	time_t not_after;
	int self_signed;		/* issuer == subject, own key verifies */
	size_t chain_len;		/* certificates in the file (leaf + CAs) */
	struct tls_certinfo_name names[TLS_CERTINFO_NAMES_MAX];
	size_t nnames;
	size_t names_omitted;		/* beyond TLS_CERTINFO_NAMES_MAX */
};

/* The first certificate of a PEM (or DER) file; "FILE: reason" on error. */
int tls_certinfo_load(const char *path, struct tls_certinfo *out,
    char *err, size_t errlen);
/* One DER certificate (as read back from a server). */
int tls_certinfo_from_der(const uint8_t *der, size_t len,
    struct tls_certinfo *out, char *err, size_t errlen);
/* Whole days from now until t (negative once past), rounded down. */
long tls_certinfo_days_left(time_t t, time_t now);

/* ------------------------------------------------------------------------
 * Candidate checks (certcheck.c)
 * --------------------------------------------------------------------- */

/*
 * A certificate and key an operator wants to put in service, already read
 * into memory: the bytes checked are the bytes installed (no window
 * between check and copy).  PEM buffers need not be NUL-terminated.
 */
struct tls_candidate {
	const uint8_t *cert_pem;	/* leaf first, optional intermediates */
	size_t cert_len;
	const char *cert_name;		/* file name, for messages */
	const uint8_t *chain_pem;	/* optional (--chain); NULL: none */
	size_t chain_len;
	const char *chain_name;
	const uint8_t *key_pem;
	size_t key_len;
	const char *key_name;
	const char *domain;		/* hosted domain; NULL: the internal
					   link's certificate (pinned by the
					   gateway: no name or CA check) */
	const char *ca_file;		/* trust anchors (tls.ca_file) */
	int warn_days;			/* refuse fewer days left than this */
	time_t now;			/* 0: time(NULL) */
};

struct tls_candidate_report {
	enum tls_id_type matched_by;	/* domain: how the name matched */
	int self_signed;		/* accepted as a self-signed leaf */
	long days_left;
	char pin[TLS_PIN_B64_LEN + 1];
	uint8_t leaf_der[TLS_DER_MAX];	/* to compare with what is served */
	size_t leaf_der_len;
};

/*
 * Checks, in this order, and stops at the first failure with one
 * sentence in err: the certificate parses; the key parses and matches it;
 * it is valid now (not before, not after); more than warn_days remain;
 * for a domain, a name in it is valid for the domain (RFC 6125 as
 * profiled by RFC 6120 §13.7.1.2: DNS-ID, SRV-ID or XmppAddr) and the
 * chain (the file's intermediates plus chain_pem) verifies up to a
 * certificate of ca_file.  A self-signed leaf (issuer == subject, signed
 * by its own key) with nothing after it is accepted without the CA check
 * (labs, the embedded default) and reported in self_signed.
 * Returns 0 or -1.
 */
int tls_candidate_check(const struct tls_candidate *c,
    struct tls_candidate_report *r, char *err, size_t errlen);

/* ------------------------------------------------------------------------
 * Reading back a served certificate (certfetch.c)
 * --------------------------------------------------------------------- */

/*
 * Runs a TLS client handshake over the connected stream socket fd (the
 * caller has done any STARTTLS preamble) with SNI sni and, if not NULL,
 * ALPN alpn, and copies the DER of the server's leaf certificate.  The
 * server's certificate is captured as it arrives, so a server that then
 * refuses us (the internal listener wants a pinned client certificate)
 * still shows it.  Nothing is verified: the caller compares.  Blocks at
 * most timeout_ms.  Returns 0 or -1 with err.
 */
int tls_fetch_peer_cert(int fd, const char *sni, const char *alpn,
    int timeout_ms, uint8_t *der, size_t cap, size_t *len, char *err,
    size_t errlen);

/* ------------------------------------------------------------------------
 * Certificate signing requests (csr.c)
 * --------------------------------------------------------------------- */

/*
 * Writes a PKCS#10 request for an XMPP server domain into pem (NUL
 * terminated): subject CN=DOMAIN and an extensionRequest with
 * subjectAltName dNSName DOMAIN, SRVName _xmpp-server.DOMAIN (RFC 6120
 * §13.7.1.2.1, RFC 4985) and id-on-xmppAddr DOMAIN (§13.7.1.4, for older
 * peers), keyUsage digitalSignature.  The key is read from key_path, or,
 * with new_key, generated (key_type) and written there with mode 0600
 * (refused if the file exists).  Returns 0 or -1 with err.
 */
int tls_csr_create(const char *domain, const char *key_path, int new_key,
    enum tls_key_type key_type, char *pem, size_t cap, char *err,
    size_t errlen);

/* SHA-256 SPKI pin (base64) of the first certificate in a PEM file. */
int tls_pin_of_cert_file(const char *path, char out[TLS_PIN_B64_LEN + 1],
    char *err, size_t errlen);

#endif
