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
#include <stdlib.h>
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
	/* A scripted dialer (tests) knows no DNS: no facts, as unsigned. */
	if (cand == NULL)
		return;
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

/*
 * What dane_out_decide will look at, known before the handshake (the
 * candidate's DNS facts come first): the peer's chain is needed when
 * records will be checked against it, or when DANE is required.  A
 * resumed TLS 1.3 session has no chain, only the leaf and the flags of
 * its full handshake, so such a stream must not resume; every other
 * stream is judged by PKIX or dialback, which a resumption keeps
 * (tls/session_cache.c).  A failed TLSA lookup is refused anyway:
 * counted as needing the chain, the safe side.
 */
int
s2s_dane_out_needs_chain(enum policy_dane mode, const struct s2s_dane_target *t)
{
	struct dns_tlsa_view view;

	if (mode == POLICY_DANE_OFF)
		return 0;
	if (mode == POLICY_DANE_REQUIRED)
		return 1;
	if (t->target[0] == '\0' || !t->dnssec)
		return 0;
	if (t->tlsa == NULL)
		return 1;
	dns_tlsa_view(t->tlsa, &view);
	return view.secure && view.status == DNS_OK && view.n > 0;
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

/* --- inbound ------------------------------------------------------------------ */

/* Targets whose TLSA answers are kept for one inbound check. */
#define S2S_DANE_IN_TARGETS_MAX 8

struct s2s_dane_in {
	struct dns_discovery *disc;
	uv_timer_t *timer;		/* malloc'd: freed by its close callback */
	unsigned *pending;
	enum policy_dane mode;
	const struct tls_conn *tls;
	int pkix_ok;
	s2s_dane_in_cb cb;
	void *arg;
	int cancelled, done;
	char domain[DNS_NAME_MAX + 1];
	struct s2s_dane_target targets[S2S_DANE_IN_TARGETS_MAX];
	size_t ntargets;
	size_t insecure;		/* candidates without an authenticated chain */
};

static void
dane_in_timer_closed(uv_handle_t *h)
{
	free(h);
}

static void
dane_in_free(struct s2s_dane_in *q)
{
	size_t i;

	dns_discover_free(q->disc);
	for (i = 0; i < q->ntargets; i++)
		s2s_dane_target_clear(&q->targets[i]);
	uv_close((uv_handle_t *)q->timer, dane_in_timer_closed);
	(*q->pending)--;
	free(q);
}

/* The verdict over every target's records: one match is enough. */
static enum s2s_dane_outcome
dane_in_decide(struct s2s_dane_in *q, char *reason, size_t len)
{
	struct tls_dane_record recs[S2S_DANE_RECORDS_MAX];
	struct tls_dane_verdict v;
	size_t i, n, checked = 0;
	char last[300] = "";

	for (i = 0; i < q->ntargets; i++) {
		const struct s2s_dane_target *t = &q->targets[i];
		const char *names[2] = { q->domain, t->target };
		struct dns_tlsa_view view;

		dns_tlsa_view(t->tlsa, &view);
		if (t->tlsa == NULL || !view.secure || view.status != DNS_OK || view.n == 0)
			continue;
		n = s2s_dane_records(t->tlsa, recs, S2S_DANE_RECORDS_MAX);
		checked++;
		if (tls_dane_check_conn(q->tls, recs, n, names, 2, q->pkix_ok, &v) == 0) {
			snprintf(reason, len, "TLSA _%u._tcp.%s: %s", t->port, t->target, v.detail);
			return S2S_DANE_AUTHENTICATED;
		}
		snprintf(last, sizeof(last), "TLSA _%u._tcp.%s: %s (%s)", t->port, t->target,
		    tls_dane_result_str(v.result), v.detail);
	}
	if (checked > 0) {
		snprintf(reason, len, "%s", last);
		return S2S_DANE_REFUSED;
	}
	return dane_without_records(q->mode, reason, len, q->ntargets == 0 && q->insecure > 0 ?
	    "SRV or address records not DNSSEC-authenticated" :
	    "no authenticated usable TLSA record for its SRV targets");
}

static void
dane_in_finish(struct s2s_dane_in *q, enum s2s_dane_outcome o, const char *reason)
{
	if (q->done)
		return;
	q->done = 1;
	uv_timer_stop(q->timer);
	log_event(o == S2S_DANE_REFUSED ? LOG_WARN : o == S2S_DANE_AUTHENTICATED ? LOG_INFO : LOG_DEBUG,
	    "s2s_in.dane", "domain", q->domain,
	    "mode", q->mode == POLICY_DANE_REQUIRED ? "required" : "opportunistic",
	    "result", s2s_dane_outcome_str(o), "reason", reason, NULL);
	if (!q->cancelled)
		q->cb(q->arg, o, reason);
	dane_in_free(q);
}

static void
dane_in_disc_cb(struct dns_discovery *d, const struct dns_candidate *c, enum dns_error err, void *arg)
{
	struct s2s_dane_in *q = arg;
	char reason[400];
	size_t i;

	(void)err;
	if (c != NULL) {
		if (!c->dnssec) {
			q->insecure++;
			return;
		}
		for (i = 0; i < q->ntargets; i++)
			if (q->targets[i].port == c->port && strcmp(q->targets[i].target, c->target) == 0)
				return;
		if (q->ntargets < S2S_DANE_IN_TARGETS_MAX)
			s2s_dane_target_set(&q->targets[q->ntargets++], c);
		return;
	}
	/* The last callback: the discovery goes with the lookup. */
	dns_discover_free(d);
	q->disc = NULL;
	dane_in_finish(q, dane_in_decide(q, reason, sizeof(reason)), reason);
}

static void
dane_in_on_timeout(uv_timer_t *t)
{
	struct s2s_dane_in *q = t->data;
	char reason[200];
	enum s2s_dane_outcome o = dane_without_records(q->mode, reason, sizeof(reason),
	    "SRV/TLSA lookup did not finish in S2S_DANE_IN_TIMEOUT_MS");

	dane_in_finish(q, o, reason);
}

struct s2s_dane_in *
s2s_dane_in_start(struct dns_resolver *r, uv_loop_t *loop, unsigned *pending, enum policy_dane mode,
    const char *domain, const struct tls_conn *tls, int pkix_ok, s2s_dane_in_cb cb, void *arg,
    char *reason, size_t reason_len)
{
	struct s2s_dane_in *q;

	if (mode == POLICY_DANE_OFF) {
		snprintf(reason, reason_len, "dane is off for this domain");
		return NULL;
	}
	if (*pending >= S2S_DANE_IN_PENDING_MAX) {
		snprintf(reason, reason_len, "too many TLSA lookups in progress (S2S_DANE_IN_PENDING_MAX)");
		return NULL;
	}
	if ((q = calloc(1, sizeof(*q))) == NULL || (q->timer = malloc(sizeof(*q->timer))) == NULL) {
		free(q);
		snprintf(reason, reason_len, "out of memory");
		return NULL;
	}
	snprintf(q->domain, sizeof(q->domain), "%s", domain);
	q->mode = mode;
	q->tls = tls;
	q->pkix_ok = pkix_ok;
	q->cb = cb;
	q->arg = arg;
	q->pending = pending;
	if (dns_discover_start_dane(r, domain, 1, dane_in_disc_cb, q, &q->disc) != DNS_OK) {
		free(q->timer);
		free(q);
		snprintf(reason, reason_len, "%s: not a name to look up", domain);
		return NULL;
	}
	uv_timer_init(loop, q->timer);
	q->timer->data = q;
	uv_timer_start(q->timer, dane_in_on_timeout, S2S_DANE_IN_TIMEOUT_MS, 0);
	(*pending)++;
	return q;
}

void
s2s_dane_in_cancel(struct s2s_dane_in *q)
{
	if (q == NULL)
		return;
	/* From the caller's teardown: never inside our own callback (the
	 * lookup is freed right after cb returns, see s2s_dane.h). */
	q->cancelled = 1;
	dane_in_finish(q, S2S_DANE_NOT_APPLICABLE, "cancelled: the stream closed");
}
