/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cert_fallback.c - the decision described in cert_fallback.h.
 */
#include "cert_fallback.h"

#include "log.h"

int
cert_fallback_wanted(const struct tls_conn *tls, int without_cert_already, int needs_auth,
    const struct config *cfg, const struct config_partner *p, const char *remote,
    const char *peer)
{
	const char *next;
	int wanted;

	if (tls == NULL || without_cert_already || !tls_conn_peer_refused_cert(tls))
		return 0;
	/* Without a certificate only dialback can authenticate us; a
	 * partner that requires SASL EXTERNAL gets nothing from a retry. */
	wanted = !needs_auth || (cfg->dialback.enabled && p->dialback &&
	    p->sasl_external != POLICY_SASL_REQUIRED);
	next = wanted ? "again without a client certificate (dialback)" :
	    !cfg->dialback.enabled ? "give up: dialback.enabled is false" :
	    !p->dialback ? "give up: the partner's policy disables dialback" :
	    "give up: the partner's policy requires SASL EXTERNAL";
	log_event(LOG_WARN, "s2s_out.cert_refused", "remote", remote, "peer", peer,
	    "next", next, NULL);
	return wanted;
}
