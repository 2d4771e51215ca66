/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_policy.c - proxy/policy.c: the index from a domain to its partner
 * entry (a full table, every name, look-alikes), and the outbound
 * authentication decision s2s_out.c and `probe` share, rule by rule.
 */
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "policy.h"

/* A policy with every partner entry the loader allows, each with every
 * additional domain it allows: the index at its fullest. */
static struct config_policy *
policy_full(void)
{
	struct config_policy *pol = calloc(1, sizeof(*pol));
	size_t i, j;

	if (pol == NULL)
		return NULL;
	for (i = 0; i < CONFIG_MAX_PARTNERS; i++) {
		struct config_partner *p = &pol->partners[i];

		snprintf(p->domain, sizeof(p->domain), "p%zu.example", i);
		for (j = 0; j < CONFIG_MAX_ADDITIONAL_DOMAINS; j++)
			snprintf(p->additional_domains[j], sizeof(p->additional_domains[j]), "a%zu.p%zu.example", j, i);
		p->additional_domain_count = CONFIG_MAX_ADDITIONAL_DOMAINS;
	}
	pol->partner_count = CONFIG_MAX_PARTNERS;
	policy_index_build(pol);
	return pol;
}

TEST(policy_lookup_full_table_finds_every_name)
{
	struct config_policy *pol = policy_full();
	char name[64];
	size_t i, j, wrong = 0;

	REQUIRE(pol != NULL);
	for (i = 0; i < CONFIG_MAX_PARTNERS; i++) {
		if (policy_lookup(pol, pol->partners[i].domain) != &pol->partners[i])
			wrong++;
		for (j = 0; j < CONFIG_MAX_ADDITIONAL_DOMAINS; j++) {
			snprintf(name, sizeof(name), "a%zu.p%zu.example", j, i);
			if (policy_lookup(pol, name) != &pol->partners[i])
				wrong++;
		}
	}
	CHECK_INT_EQ(wrong, 0);
	free(pol);
}

TEST(policy_lookup_unknown_names_get_the_default)
{
	struct config_policy *pol = policy_full();
	char name[64];
	size_t i, wrong = 0;

	REQUIRE(pol != NULL);
	/* Look-alikes: a parent, a child, a prefix, a suffix, an index
	 * past the last entry, the empty name. */
	CHECK(policy_lookup(pol, "example") == &pol->defaults);
	CHECK(policy_lookup(pol, "x.p1.example") == &pol->defaults);
	CHECK(policy_lookup(pol, "p1.exampl") == &pol->defaults);
	CHECK(policy_lookup(pol, "1.example") == &pol->defaults);
	CHECK(policy_lookup(pol, "a8.p1.example") == &pol->defaults);
	CHECK(policy_lookup(pol, "") == &pol->defaults);
	for (i = CONFIG_MAX_PARTNERS; i < 20 * CONFIG_MAX_PARTNERS; i++) {
		snprintf(name, sizeof(name), "p%zu.example", i);
		if (policy_lookup(pol, name) != &pol->defaults)
			wrong++;
	}
	CHECK_INT_EQ(wrong, 0);
	free(pol);
}

/* An empty policy (no partner): everything is the default, and building
 * the index again (a reload of the same struct) starts from empty. */
TEST(policy_lookup_empty_and_rebuilt)
{
	struct config_policy *pol = policy_full();

	REQUIRE(pol != NULL);
	pol->partner_count = 1;
	pol->partners[0].additional_domain_count = 0;
	policy_index_build(pol);
	CHECK(policy_lookup(pol, "p0.example") == &pol->partners[0]);
	CHECK(policy_lookup(pol, "a0.p0.example") == &pol->defaults);
	CHECK(policy_lookup(pol, "p1.example") == &pol->defaults);
	pol->partner_count = 0;
	policy_index_build(pol);
	CHECK(policy_lookup(pol, "p0.example") == &pol->defaults);
	free(pol);
}

/* Through the loader: config_parse builds the index, config_policy_for
 * reads it, names in canonical form. */
TEST(policy_index_built_by_config_parse)
{
	static const char json[] =
	    "{\"state_dir\": \"/tmp/x\", \"domains\": [{\"name\": \"example.com\", \"cert\": \"/c\", \"key\": \"/k\"}],"
	    " \"policy\": {\"partners\": {\"Example.NET\": {\"additional_domains\": [\"chat.example.net\"]},"
	    " \"example.org\": {\"dialback\": false}}}}";
	char err[CONFIG_ERR_MAX] = "";
	struct config *cfg = config_parse("t.json", json, strlen(json), 0, err, sizeof(err));

	REQUIRE(cfg != NULL);
	CHECK(config_policy_for(cfg, "example.net") == &cfg->policy.partners[0]);
	CHECK(config_policy_for(cfg, "chat.example.net") == &cfg->policy.partners[0]);
	CHECK(config_policy_for(cfg, "example.org") == &cfg->policy.partners[1]);
	CHECK(config_policy_for(cfg, "Example.NET") == &cfg->policy.defaults);	/* not canonical */
	CHECK(config_policy_for(cfg, "example.com.") == &cfg->policy.defaults);
	config_free(cfg);
}

/* --- the outbound decision ----------------------------------------------------- */

static struct config_partner
partner(enum policy_tls tls, enum policy_sasl sasl, int dialback, int valid_cert)
{
	struct config_partner p;

	memset(&p, 0, sizeof(p));
	p.allow = 1;
	p.tls = tls;
	p.sasl_external = sasl;
	p.dialback = dialback;
	p.require_valid_certificate = valid_cert;
	return p;
}

/* Offers, by letter: T TLS up, P certificate valid, s <starttls/>,
 * r its <required/>, E SASL EXTERNAL, D dialback. */
static struct policy_offer
offer(const char *what)
{
	struct policy_offer f = {
		.tls_open = strchr(what, 'T') != NULL,
		.pkix_ok = strchr(what, 'P') != NULL,
		.offers_tls = strchr(what, 's') != NULL,
		.tls_required = strchr(what, 'r') != NULL,
		.offers_external = strchr(what, 'E') != NULL,
		.offers_dialback = strchr(what, 'D') != NULL,
	};
	return f;
}

#define CHECK_DECIDE(p, db, what, want_step, want_refusal)                         \
	do {                                                                        \
		struct config_partner p_ = (p);                                     \
		struct policy_offer f_ = offer(what);                               \
		struct policy_decision d_ = policy_outbound_decide(&p_, (db), &f_); \
		CHECK_INT_EQ(d_.step, want_step);                                   \
		CHECK_INT_EQ(d_.refusal, want_refusal);                             \
	} while (0)

TEST(policy_outbound_tls_step)
{
	struct config_partner req = partner(POLICY_TLS_REQUIRED, POLICY_SASL_OPTIONAL, 1, 0);
	struct config_partner opt = partner(POLICY_TLS_OPTIONAL, POLICY_SASL_OPTIONAL, 1, 0);
	struct config_partner off = partner(POLICY_TLS_DISABLED, POLICY_SASL_OPTIONAL, 1, 0);

	/* Offered and not disabled: STARTTLS, whatever else is offered. */
	CHECK_DECIDE(req, 1, "sED", POLICY_OUT_STARTTLS, POLICY_REFUSAL_NONE);
	CHECK_DECIDE(opt, 1, "srD", POLICY_OUT_STARTTLS, POLICY_REFUSAL_NONE);
	/* Required but not offered: this server cannot; another might. */
	CHECK_DECIDE(req, 1, "ED", POLICY_OUT_REFUSE, POLICY_REFUSAL_NO_STARTTLS);
	CHECK(policy_refusal_try_next(POLICY_REFUSAL_NO_STARTTLS));
	/* Disabled: never started; a server requiring it is refused. */
	CHECK_DECIDE(off, 1, "sD", POLICY_OUT_DIALBACK, POLICY_REFUSAL_NONE);
	CHECK_DECIDE(off, 1, "srD", POLICY_OUT_REFUSE, POLICY_REFUSAL_TLS_DISABLED);
	CHECK(!policy_refusal_try_next(POLICY_REFUSAL_TLS_DISABLED));
	/* Optional and not offered: on in the clear. */
	CHECK_DECIDE(opt, 1, "D", POLICY_OUT_DIALBACK, POLICY_REFUSAL_NONE);
	/* TLS up: the step is done (a <starttls/> after it means nothing). */
	CHECK_DECIDE(req, 1, "TPsD", POLICY_OUT_DIALBACK, POLICY_REFUSAL_NONE);
}

TEST(policy_outbound_certificate_required)
{
	struct config_partner trusted = partner(POLICY_TLS_REQUIRED, POLICY_SASL_OPTIONAL, 1, 1);
	struct config_partner plain = partner(POLICY_TLS_REQUIRED, POLICY_SASL_OPTIONAL, 1, 0);

	CHECK_DECIDE(trusted, 1, "TD", POLICY_OUT_REFUSE, POLICY_REFUSAL_CERTIFICATE);
	CHECK(policy_refusal_try_next(POLICY_REFUSAL_CERTIFICATE));
	CHECK_DECIDE(trusted, 1, "TPD", POLICY_OUT_DIALBACK, POLICY_REFUSAL_NONE);
	/* Without require_valid_certificate an invalid one still allows
	 * dialback (XEP-0220 exists for that). */
	CHECK_DECIDE(plain, 1, "TD", POLICY_OUT_DIALBACK, POLICY_REFUSAL_NONE);
}

TEST(policy_outbound_method)
{
	struct config_partner opt = partner(POLICY_TLS_REQUIRED, POLICY_SASL_OPTIONAL, 1, 0);
	struct config_partner sasl_req = partner(POLICY_TLS_REQUIRED, POLICY_SASL_REQUIRED, 1, 0);
	struct config_partner sasl_off = partner(POLICY_TLS_REQUIRED, POLICY_SASL_DISABLED, 1, 0);
	struct config_partner no_db = partner(POLICY_TLS_REQUIRED, POLICY_SASL_OPTIONAL, 0, 0);
	struct config_partner clear = partner(POLICY_TLS_OPTIONAL, POLICY_SASL_OPTIONAL, 1, 0);

	/* SASL EXTERNAL first when offered over TLS (XEP-0178)... */
	CHECK_DECIDE(opt, 1, "TPED", POLICY_OUT_SASL_EXTERNAL, POLICY_REFUSAL_NONE);
	/* ...also with a certificate we could not validate: the server
	 * judges ours, and a <failure/> falls back to dialback. */
	CHECK_DECIDE(opt, 1, "TED", POLICY_OUT_SASL_EXTERNAL, POLICY_REFUSAL_NONE);
	/* ...never without TLS. */
	CHECK_DECIDE(clear, 1, "ED", POLICY_OUT_DIALBACK, POLICY_REFUSAL_NONE);
	CHECK_DECIDE(sasl_off, 1, "TPED", POLICY_OUT_DIALBACK, POLICY_REFUSAL_NONE);
	CHECK_DECIDE(sasl_req, 1, "TPED", POLICY_OUT_SASL_EXTERNAL, POLICY_REFUSAL_NONE);
	CHECK_DECIDE(sasl_req, 1, "TPD", POLICY_OUT_REFUSE, POLICY_REFUSAL_SASL_REQUIRED);
	/* Dialback needs the offer, dialback.enabled and the entry. */
	CHECK_DECIDE(opt, 1, "TP", POLICY_OUT_REFUSE, POLICY_REFUSAL_NO_METHOD);
	CHECK_DECIDE(opt, 0, "TPD", POLICY_OUT_REFUSE, POLICY_REFUSAL_NO_METHOD);
	CHECK_DECIDE(no_db, 1, "TPD", POLICY_OUT_REFUSE, POLICY_REFUSAL_NO_METHOD);
	CHECK(!policy_refusal_try_next(POLICY_REFUSAL_NO_METHOD));
	CHECK(!policy_refusal_try_next(POLICY_REFUSAL_SASL_REQUIRED));
}

/* policy_outbound_auth alone (s2s_out.c asks it after its own TLS step). */
TEST(policy_outbound_auth_alone)
{
	struct config_partner opt = partner(POLICY_TLS_REQUIRED, POLICY_SASL_OPTIONAL, 1, 0);
	struct policy_offer f = offer("TPED");
	struct policy_decision d = policy_outbound_auth(&opt, 1, &f);

	CHECK_INT_EQ(d.step, POLICY_OUT_SASL_EXTERNAL);
	f = offer("D");
	d = policy_outbound_auth(&opt, 1, &f);
	CHECK_INT_EQ(d.step, POLICY_OUT_DIALBACK);
	d = policy_outbound_tls(&opt, &f);
	CHECK_INT_EQ(d.step, POLICY_OUT_REFUSE);
	CHECK_INT_EQ(d.refusal, POLICY_REFUSAL_NO_STARTTLS);
}

TEST(policy_outbound_fall_back_to_dialback)
{
	struct config_partner opt = partner(POLICY_TLS_REQUIRED, POLICY_SASL_OPTIONAL, 1, 0);
	struct config_partner sasl_req = partner(POLICY_TLS_REQUIRED, POLICY_SASL_REQUIRED, 1, 0);
	struct config_partner no_db = partner(POLICY_TLS_REQUIRED, POLICY_SASL_OPTIONAL, 0, 0);

	CHECK(policy_outbound_may_fall_back(&opt, 1));
	CHECK(!policy_outbound_may_fall_back(&opt, 0));
	CHECK(!policy_outbound_may_fall_back(&sasl_req, 1));
	CHECK(!policy_outbound_may_fall_back(&no_db, 1));
}

/* Every refusal has its own sentence (logs and bounces tell them apart). */
TEST(policy_refusal_sentences_distinct)
{
	enum policy_refusal r, q;

	for (r = POLICY_REFUSAL_NO_STARTTLS; r <= POLICY_REFUSAL_NO_METHOD; r++) {
		CHECK(strlen(policy_refusal_str(r)) > 10);
		for (q = POLICY_REFUSAL_NONE; q < r; q++)
			CHECK(strcmp(policy_refusal_str(q), policy_refusal_str(r)) != 0);
	}
}
