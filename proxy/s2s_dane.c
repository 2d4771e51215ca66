/* SPDX-License-Identifier: Apache-2.0 */
/*
 * s2s_dane.c - the `dane` policy for outgoing streams (see s2s_dane.h).
 *
 * RFC 7673 §3 in the order the facts arrive:
 *   - the SRV answer (or, without SRV records, the denial of both SRV
 *     names) and the target's address answers were authenticated (the
 *     resolver's AD bit): else DANE does not apply ("insecure"), and only
 *     `required` refuses;
 *   - the TLSA lookup for _PORT._tcp.TARGET failed (SERVFAIL: a bogus or
 *     unreachable signed zone, timeout): the target is refused whatever
 *     the mode (§3.3: "the client MUST NOT connect", an attacker able to
 *     block the TLSA answer must not get a downgrade);
 *   - the TLSA answer is not authenticated, absent (NXDOMAIN, NODATA) or
 *     holds no usable record: no DANE; `required` refuses;
 *   - usable records: the certificate must match one (tls/dane.c), in
 *     `opportunistic` as in `required`.  A match authenticates the peer
 *     as a PKIX-valid certificate would.
 */
#include "s2s_dane.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

#define S2S_DANE_RECORDS_MAX DNS_TLSA_RECORDS_MAX

const char *
s2s_dane_outcome_str(enum s2s_dane_outcome o)
{
	switch (o) {
	case S2S_DANE_NOT_APPLICABLE: return "not-applicable";
	case S2S_DANE_AUTHENTICATED: return "authenticated";
	case S2S_DANE_REFUSED: return "refused";
	}
	return "?";
}

void
s2s_dane_target_clear(struct s2s_dane_target *t)
{
	dns_rrset_unref(t->tlsa);
	memset(t, 0, sizeof(*t));
}

void
s2s_dane_target_set(struct s2s_dane_target *t, const struct dns_candidate *cand)
{
	s2s_dane_target_clear(t);
	t->dnssec = cand->dnssec;
	t->tlsa = cand->tlsa != NULL ? dns_rrset_ref(cand->tlsa) : NULL;
	t->tlsa_err = cand->tlsa_err;
	t->port = cand->port;
	snprintf(t->target, sizeof(t->target), "%s", cand->target);
}

size_t
s2s_dane_records(const struct dns_rrset *set, struct tls_dane_record *out, size_t max)
{
	struct dns_tlsa_view v;
	size_t i;

	dns_tlsa_view(set, &v);
	if (v.status != DNS_OK)
		return 0;
	for (i = 0; i < v.n && i < max; i++) {
		out[i].usage = v.rr[i].usage;
		out[i].selector = v.rr[i].selector;
		out[i].matching = v.rr[i].matching;
		out[i].data = v.rr[i].data;
		out[i].len = v.rr[i].len;
	}
	return i;
}

static enum s2s_dane_outcome
dane_without_records(enum policy_dane mode, char *reason, size_t len, const char *why)
{
	if (mode == POLICY_DANE_REQUIRED) {
		snprintf(reason, len, "DANE required: %s", why);
		return S2S_DANE_REFUSED;
	}
	snprintf(reason, len, "%s", why);
	return S2S_DANE_NOT_APPLICABLE;
}

static enum s2s_dane_outcome
dane_out_decide(enum policy_dane mode, const struct s2s_dane_target *t, const struct tls_conn *tls,
    const char *domain, int pkix_ok, char *reason, size_t len, struct tls_dane_verdict *v)
{
	struct tls_dane_record recs[S2S_DANE_RECORDS_MAX];
	const char *names[2] = { domain, t->target };
	struct dns_tlsa_view view;
	char why[600];
	size_t n;

	if (t->target[0] == '\0')
		return dane_without_records(mode, reason, len,
		    "no DNS discovery for this target (static `connect` address)");
	if (!t->dnssec) {
		snprintf(why, sizeof(why), "SRV or address records of %s not DNSSEC-authenticated "
		    "(no AD bit from the resolver)", t->target);
		return dane_without_records(mode, reason, len, why);
	}
	if (t->tlsa == NULL) {
		snprintf(reason, len, "TLSA lookup for _%u._tcp.%s failed (%s): the target is refused "
		    "(RFC 7673 section 3.3)", t->port, t->target, dns_error_str(t->tlsa_err));
		return S2S_DANE_REFUSED;
	}
	dns_tlsa_view(t->tlsa, &view);
	if (!view.secure) {
		snprintf(why, sizeof(why), "TLSA answer for _%u._tcp.%s not DNSSEC-authenticated",
		    t->port, t->target);
		return dane_without_records(mode, reason, len, why);
	}
	if (view.status != DNS_OK || view.n == 0) {
		snprintf(why, sizeof(why), "no usable TLSA record at _%u._tcp.%s (%s)", t->port, t->target,
		    view.status != DNS_OK ? dns_error_str(view.status) : "all records unusable");
		return dane_without_records(mode, reason, len, why);
	}
	n = s2s_dane_records(t->tlsa, recs, S2S_DANE_RECORDS_MAX);
	if (tls_dane_check_conn(tls, recs, n, names, 2, pkix_ok, v) == 0) {
		snprintf(reason, len, "%s", v->detail);
		return S2S_DANE_AUTHENTICATED;
	}
	snprintf(reason, len, "TLSA records of _%u._tcp.%s: %s (%s)", t->port, t->target,
	    tls_dane_result_str(v->result), v->detail);
	return S2S_DANE_REFUSED;
}

enum s2s_dane_outcome
s2s_dane_out_verify(enum policy_dane mode, const struct s2s_dane_target *t, const struct tls_conn *tls,
    const char *domain, int pkix_ok, char *reason, size_t reason_len, struct tls_dane_verdict *verdict)
{
	struct tls_dane_verdict local;
	enum s2s_dane_outcome o;

	if (verdict == NULL)
		verdict = &local;
	memset(verdict, 0, sizeof(*verdict));
	verdict->record = -1;
	if (mode == POLICY_DANE_OFF) {
		snprintf(reason, reason_len, "dane is off for this domain");
		return S2S_DANE_NOT_APPLICABLE;
	}
	o = dane_out_decide(mode, t, tls, domain, pkix_ok, reason, reason_len, verdict);
	log_event(o == S2S_DANE_REFUSED ? LOG_WARN : o == S2S_DANE_AUTHENTICATED ? LOG_INFO : LOG_DEBUG,
	    "s2s_out.dane", "remote", domain, "target", t->target,
	    "mode", mode == POLICY_DANE_REQUIRED ? "required" : "opportunistic",
	    "result", s2s_dane_outcome_str(o), "reason", reason, NULL);
	return o;
}

void
s2s_dane_print_target(FILE *out, enum policy_dane mode, const struct s2s_dane_target *t)
{
	struct dns_tlsa_view v;
	char rec[120];
	size_t i;

	if (mode == POLICY_DANE_OFF) {
		fprintf(out, "  DANE: off for this domain (no TLSA lookup)\n");
		return;
	}
	if (t->target[0] == '\0')
		return;
	fprintf(out, "  DANE: SRV and address records %s\n", t->dnssec ?
	    "DNSSEC-authenticated (AD)" : "NOT DNSSEC-authenticated: no TLSA lookup (RFC 7673 section 3.2)");
	if (!t->dnssec)
		return;
	if (t->tlsa == NULL) {
		fprintf(out, "  TLSA _%u._tcp.%s: lookup failed: %s\n", t->port, t->target,
		    dns_error_str(t->tlsa_err));
		return;
	}
	dns_tlsa_view(t->tlsa, &v);
	fprintf(out, "  TLSA _%u._tcp.%s: %s, %s\n", t->port, t->target,
	    v.status != DNS_OK ? dns_error_str(v.status) : v.n == 0 ? "no usable record" : "records",
	    v.secure ? "validated (AD)" : "NOT validated");
	for (i = 0; i < v.n; i++) {
		dns_tlsa_format(&v.rr[i], rec, sizeof(rec));
		fprintf(out, "    [%zu] %s (%s)\n", i, rec, tls_dane_usage_str(v.rr[i].usage));
	}
}

void
s2s_dane_print_outcome(FILE *out, const struct s2s_dane_target *t, enum s2s_dane_outcome o,
    const struct tls_dane_verdict *v, const char *reason)
{
	struct dns_tlsa_view view;
	char rec[120] = "";

	dns_tlsa_view(t->tlsa, &view);
	if (o == S2S_DANE_AUTHENTICATED && v->record >= 0 && (size_t)v->record < view.n)
		dns_tlsa_format(&view.rr[v->record], rec, sizeof(rec));
	fprintf(out, "  DANE: %s%s%s%s: %s\n", s2s_dane_outcome_str(o), rec[0] ? " by [" : "",
	    rec[0] ? rec : "", rec[0] ? "]" : "", reason);
}
