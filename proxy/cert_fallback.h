/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cert_fallback.h - what an outgoing stream does when the peer refuses the
 * certificate we presented as TLS client.
 *
 * Since 2026 public CAs issue serverAuth-only certificates (Let's Encrypt);
 * an XMPP server presents its server certificate as its TLS client
 * certificate, and peers that insist on clientAuth refuse it: with a TLS
 * alert during (TLS 1.2) or right after (TLS 1.3) the handshake, or by
 * failing SASL EXTERNAL (XEP-0178 §3).  The SASL case already falls back
 * to dialback on the same stream (s2s_out.c).  The TLS case needs a new
 * connection to the same target presenting no certificate; dialback then
 * authenticates us (XEP-0220), when the partner's policy allows it.
 * s2s_out.c and probe.c both decide with the function below, so the probe
 * says what the daemon does.
 */
#ifndef XE_CERT_FALLBACK_H
#define XE_CERT_FALLBACK_H

#include "config.h"
#include "tls.h"

/* 1 if the stream whose TLS connection `tls` just failed should connect
 * once more to the same target without a client certificate: the peer
 * refused ours (tls_conn_peer_refused_cert), we have not already dropped
 * it, and (when the stream must authenticate, needs_auth) dialback is
 * allowed by the configuration and the partner's policy `p`.  Logs the
 * decision as s2s_out.cert_refused. */
int cert_fallback_wanted(const struct tls_conn *tls, int without_cert_already, int needs_auth,
    const struct config *cfg, const struct config_partner *p, const char *remote,
    const char *peer);

#endif
