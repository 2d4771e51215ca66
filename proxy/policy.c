/* SPDX-License-Identifier: Apache-2.0 */
/*
 * policy.c - the partner policy (policy.h): the index from a remote domain
 * to its entry, and the outbound authentication decision.
 *
 * The index is an open-addressing hash table inside struct config_policy,
 * built once per configuration load: each slot holds which partner entry
 * and which of its names (domain, additional_domains[i]) hashes there, so
 * a look-up is one hash and, on average, about one string compare.  It
 * holds no pointers, so a configuration stays a plain struct.  The table
 * has at least twice as many slots as names (see the assertion), so the
 * probe sequence always ends on an empty slot.  The names come from the
 * operator's configuration, never from a peer: a peer's domain only looks
 * up and cannot lengthen a probe sequence.
 *
 * The decision follows RFC 6120 §5 (STARTTLS), XEP-0178 (SASL EXTERNAL,
 * with dialback as the fallback, §3) and XEP-0220 (Server Dialback),
 * restricted by the partner entry (Lync's New-CsXmppAllowedPartner:
 * tls, sasl_external, dialback, require_valid_certificate).
 */
#include "policy.h"

#include <stdint.h>
#include <string.h>

#define POLICY_NAMES_PER_PARTNER (1 + CONFIG_MAX_ADDITIONAL_DOMAINS)

_Static_assert((CONFIG_POLICY_INDEX_SLOTS & (CONFIG_POLICY_INDEX_SLOTS - 1)) == 0,
    "CONFIG_POLICY_INDEX_SLOTS must be a power of two");
_Static_assert(CONFIG_POLICY_INDEX_SLOTS >= 2 * CONFIG_MAX_PARTNERS * POLICY_NAMES_PER_PARTNER,
    "the policy index must have room for twice every name the loader accepts");
_Static_assert(CONFIG_MAX_PARTNERS * POLICY_NAMES_PER_PARTNER < UINT16_MAX,
    "a slot's value must fit its uint16_t");

/* FNV-1a (32 bits): short names, no adversary choosing the table. */
static uint32_t
policy_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h;
}

/* The name slot value v (1-based) stands for. */
static const char *
policy_slot_name(const struct config_policy *pol, uint16_t v, const struct config_partner **entry)
{
	size_t partner = (size_t)(v - 1) / POLICY_NAMES_PER_PARTNER;
	size_t name = (size_t)(v - 1) % POLICY_NAMES_PER_PARTNER;

	*entry = &pol->partners[partner];
	return name == 0 ? (*entry)->domain : (*entry)->additional_domains[name - 1];
}

static void
policy_index_add(struct config_policy *pol, const char *name, size_t partner, size_t which)
{
	size_t i = policy_hash(name) & (CONFIG_POLICY_INDEX_SLOTS - 1);

	while (pol->index[i] != 0)
		i = (i + 1) & (CONFIG_POLICY_INDEX_SLOTS - 1);
	pol->index[i] = (uint16_t)(1 + partner * POLICY_NAMES_PER_PARTNER + which);
}

void
policy_index_build(struct config_policy *pol)
{
	size_t i, j;

	memset(pol->index, 0, sizeof(pol->index));
	for (i = 0; i < pol->partner_count; i++) {
		policy_index_add(pol, pol->partners[i].domain, i, 0);
		for (j = 0; j < pol->partners[i].additional_domain_count; j++)
			policy_index_add(pol, pol->partners[i].additional_domains[j], i, 1 + j);
	}
}

const struct config_partner *
policy_lookup(const struct config_policy *pol, const char *domain)
{
	size_t i = policy_hash(domain) & (CONFIG_POLICY_INDEX_SLOTS - 1);
	const struct config_partner *entry;

	for (; pol->index[i] != 0; i = (i + 1) & (CONFIG_POLICY_INDEX_SLOTS - 1))
		if (strcmp(policy_slot_name(pol, pol->index[i], &entry), domain) == 0)
			return entry;
	return &pol->defaults;
}

/* --- the outbound decision ------------------------------------------------- */

static struct policy_decision
policy_step(enum policy_out_step step)
{
	return (struct policy_decision){ .step = step, .refusal = POLICY_REFUSAL_NONE };
}

static struct policy_decision
policy_refuse(enum policy_refusal why)
{
	return (struct policy_decision){ .step = POLICY_OUT_REFUSE, .refusal = why };
}

struct policy_decision
policy_outbound_tls(const struct config_partner *p, const struct policy_offer *f)
{
	if (f->tls_open) {
		/* The certificate matters only to an entry that asks for a
		 * valid one (Lync: PartnerType Federated). */
		if (!f->pkix_ok && p->require_valid_certificate)
			return policy_refuse(POLICY_REFUSAL_CERTIFICATE);
		return policy_step(POLICY_OUT_AUTHENTICATE);
	}
	if (f->offers_tls && p->tls != POLICY_TLS_DISABLED)
		return policy_step(POLICY_OUT_STARTTLS);
	if (p->tls == POLICY_TLS_REQUIRED)
		return policy_refuse(POLICY_REFUSAL_NO_STARTTLS);
	/* RFC 6120 §5.3.1: a server requiring TLS talks to nobody in clear. */
	if (f->tls_required)
		return policy_refuse(POLICY_REFUSAL_TLS_DISABLED);
	return policy_step(POLICY_OUT_AUTHENTICATE);
}

struct policy_decision
policy_outbound_auth(const struct config_partner *p, int dialback_enabled, const struct policy_offer *f)
{
	/* XEP-0178: EXTERNAL means the certificate in this TLS session. */
	if (f->tls_open && f->offers_external && p->sasl_external != POLICY_SASL_DISABLED)
		return policy_step(POLICY_OUT_SASL_EXTERNAL);
	if (p->sasl_external == POLICY_SASL_REQUIRED)
		return policy_refuse(POLICY_REFUSAL_SASL_REQUIRED);
	if (f->offers_dialback && dialback_enabled && p->dialback)
		return policy_step(POLICY_OUT_DIALBACK);
	return policy_refuse(POLICY_REFUSAL_NO_METHOD);
}

struct policy_decision
policy_outbound_decide(const struct config_partner *p, int dialback_enabled, const struct policy_offer *f)
{
	struct policy_decision d = policy_outbound_tls(p, f);

	return d.step == POLICY_OUT_AUTHENTICATE ? policy_outbound_auth(p, dialback_enabled, f) : d;
}

int
policy_outbound_may_fall_back(const struct config_partner *p, int dialback_enabled)
{
	return dialback_enabled && p->dialback && p->sasl_external != POLICY_SASL_REQUIRED;
}

const char *
policy_refusal_str(enum policy_refusal r)
{
	switch (r) {
	case POLICY_REFUSAL_NONE:
		return "not refused";
	case POLICY_REFUSAL_NO_STARTTLS:
		return "the remote server offers no STARTTLS";
	case POLICY_REFUSAL_TLS_DISABLED:
		return "the remote server requires TLS, which policy disables";
	case POLICY_REFUSAL_CERTIFICATE:
		return "certificate not valid for the domain (policy require_valid_certificate)";
	case POLICY_REFUSAL_SASL_REQUIRED:
		return "SASL EXTERNAL required by policy, not offered";
	case POLICY_REFUSAL_NO_METHOD:
		return "no authentication method in common";
	}
	return "unknown refusal";
}

int
policy_refusal_try_next(enum policy_refusal r)
{
	return r == POLICY_REFUSAL_NO_STARTTLS || r == POLICY_REFUSAL_CERTIFICATE;
}
