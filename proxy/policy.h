/* SPDX-License-Identifier: Apache-2.0 */
/*
 * policy.h - the partner policy: which entry applies to a remote domain,
 * and what it lets an outgoing stream do with what the remote server
 * offers (policy.c).
 *
 * The entry is found through an index built when the configuration loads
 * (config_parse calls policy_index_build): one hash per look-up, where
 * every routed stanza, stream and dialback check asks.  The outbound
 * decision is the one both the sessions (s2s_out.c) and `xmpp-edge probe`
 * (probe.c) take, so `probe` can never disagree with what the daemon does.
 */
#ifndef XE_POLICY_H
#define XE_POLICY_H

#include "config.h"

/* Fills pol->index from its partner entries (every domain and additional
 * domain).  The loader has refused a name listed twice already. */
void policy_index_build(struct config_policy *pol);
/* The entry whose domain or one of whose additional_domains is domain
 * (canonical form), else &pol->defaults. */
const struct config_partner *policy_lookup(const struct config_policy *pol, const char *domain);

/* What a remote server said in its <stream:features/>, and how the stream
 * stands when they arrive. */
struct policy_offer {
	int tls_open;		/* TLS is up on this stream */
	int pkix_ok;		/* its certificate is valid for the domain */
	int offers_tls;		/* <starttls/> (RFC 6120 §5.4.1) */
	int tls_required;	/* ... with <required/> */
	int offers_external;	/* SASL mechanism EXTERNAL (XEP-0178) */
	int offers_dialback;	/* the dialback feature or namespace (XEP-0220) */
};

enum policy_out_step {
	POLICY_OUT_STARTTLS,		/* send <starttls/> first */
	POLICY_OUT_AUTHENTICATE,	/* TLS as the policy wants it: authenticate */
	POLICY_OUT_SASL_EXTERNAL,	/* authenticate with SASL EXTERNAL */
	POLICY_OUT_DIALBACK,		/* authenticate with Server Dialback */
	POLICY_OUT_REFUSE,		/* no federation over this stream */
};

/* Why a stream is refused; each has one sentence (policy_refusal_str). */
enum policy_refusal {
	POLICY_REFUSAL_NONE,
	POLICY_REFUSAL_NO_STARTTLS,	/* policy requires TLS, none offered */
	POLICY_REFUSAL_TLS_DISABLED,	/* the server requires TLS, policy disables it */
	POLICY_REFUSAL_CERTIFICATE,	/* require_valid_certificate, and it is not */
	POLICY_REFUSAL_SASL_REQUIRED,	/* sasl_external required, not offered */
	POLICY_REFUSAL_NO_METHOD,	/* no authentication method in common */
};

struct policy_decision {
	enum policy_out_step step;
	enum policy_refusal refusal;	/* POLICY_OUT_REFUSE: why */
};

/*
 * The TLS step on a stream to a remote server under partner entry p:
 * STARTTLS, AUTHENTICATE (TLS is up, or the policy lets the stream go on
 * without it) or REFUSE.  Also refuses an open TLS whose certificate is
 * not valid for the domain when p sets require_valid_certificate.
 */
struct policy_decision policy_outbound_tls(const struct config_partner *p, const struct policy_offer *f);
/*
 * The authentication method once the TLS step said AUTHENTICATE:
 * SASL EXTERNAL when offered over TLS and not disabled (XEP-0178), else
 * Server Dialback when offered, enabled (dialback.enabled) and allowed,
 * else REFUSE.
 */
struct policy_decision policy_outbound_auth(const struct config_partner *p, int dialback_enabled,
    const struct policy_offer *f);
/* Both steps in order: what `probe` reports on a server's features. */
struct policy_decision policy_outbound_decide(const struct config_partner *p, int dialback_enabled,
    const struct policy_offer *f);
/* After a SASL EXTERNAL <failure/>: may the stream fall back to dialback
 * (XEP-0178 §3)? */
int policy_outbound_may_fall_back(const struct config_partner *p, int dialback_enabled);

/* The refusal as a sentence (static text), for logs and bounces. */
const char *policy_refusal_str(enum policy_refusal r);
/* Could another address of the same domain do better (a TLS or
 * certificate matter of that server), or is it the policy (no)? */
int policy_refusal_try_next(enum policy_refusal r);

#endif
