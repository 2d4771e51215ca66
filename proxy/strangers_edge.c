/* SPDX-License-Identifier: Apache-2.0 */
/*
 * strangers_edge.c - the daemon's contact set (strangers.h): the router's
 * hook that learns and refuses, the save timer, the control socket's
 * `strangers list|clear`, status and metrics counters.
 */
#include "strangers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "edge.h"
#include "json_gen.h"
#include "log.h"
#include "router.h"

/* Refusals per remote domain, for the busiest ones in status and metrics:
 * a fixed table kept by the "space-saving" rule (when it is full, a new
 * domain takes the place of the least counted one and inherits its count,
 * so a domain refused often is never lost and counts are upper bounds). */
#define STRANGERS_DOMAINS_MAX 256

struct strangers_domain {
	char name[CONFIG_DOMAIN_MAX];
	uint64_t refused;
};

struct strangers_edge {
	struct strangers_domain domains[STRANGERS_DOMAINS_MAX];
	size_t ndomains;
	struct strangers *set;
	uv_timer_t *save_timer;		/* armed while the set is unsaved */
	char path[CONFIG_PATH_MAX + 32];
	uint64_t learned, refused;
};

static int
str_is(const struct xmlstream_str *s, const char *lit)
{
	return xmlstream_str_eq(s, lit);
}

static void
strangers_on_save_timer(uv_timer_t *t)
{
	struct strangers_edge *se = t->data;
	char err[512];

	if (strangers_save(se->set, se->path, err, sizeof(err)) < 0)
		log_event(LOG_ERROR, "strangers.save_failed", "error", err, NULL);
}

static void
strangers_changed(struct strangers_edge *se)
{
	if (se->save_timer != NULL && !uv_is_active((uv_handle_t *)se->save_timer))
		uv_timer_start(se->save_timer, strangers_on_save_timer, STRANGERS_SAVE_MS, 0);
}

/* Outbound stanzas that make their recipient a contact: a message that
 * is not an error, subscription requests and approvals, directed
 * presence (a room joined). */
static int
strangers_teaches(const struct xmlstream_event *ev)
{
	if (str_is(&ev->name, "message"))
		return !str_is(&ev->stanza_type, "error");
	if (str_is(&ev->name, "presence"))
		return !str_is(&ev->stanza_type, "error") && !str_is(&ev->stanza_type, "unsubscribe") &&
		    !str_is(&ev->stanza_type, "unsubscribed") && !str_is(&ev->stanza_type, "probe");
	return 0;
}

/* Inbound stanzas a stranger may not send: messages (errors are answers
 * to ours) and subscription requests. */
static int
strangers_guarded(const struct xmlstream_event *ev)
{
	if (str_is(&ev->name, "message"))
		return !str_is(&ev->stanza_type, "error");
	return str_is(&ev->name, "presence") && str_is(&ev->stanza_type, "subscribe");
}

static void
strangers_count_domain(struct strangers_edge *se, const char *domain)
{
	size_t i, min = 0;

	for (i = 0; i < se->ndomains; i++) {
		if (strcmp(se->domains[i].name, domain) == 0) {
			se->domains[i].refused++;
			return;
		}
		if (se->domains[i].refused < se->domains[min].refused)
			min = i;
	}
	if (se->ndomains < STRANGERS_DOMAINS_MAX)
		min = se->ndomains++;
	snprintf(se->domains[min].name, sizeof(se->domains[min].name), "%s", domain);
	se->domains[min].refused++;
}

size_t
strangers_top_domains(const struct edge *edge, struct strangers_top *out, size_t n)
{
	const struct strangers_edge *se = edge->strangers;
	size_t i, k, count = 0;

	for (i = 0; se != NULL && i < se->ndomains; i++) {
		const struct strangers_domain *d = &se->domains[i];

		if (count == n && out[n - 1].refused >= d->refused)
			continue;
		k = count < n ? count++ : n - 1;
		while (k > 0 && out[k - 1].refused < d->refused) {
			out[k] = out[k - 1];
			k--;
		}
		snprintf(out[k].domain, sizeof(out[k].domain), "%s", d->name);
		out[k].refused = d->refused;
	}
	return count;
}

int
strangers_refuses(struct edge *edge, const struct xmlstream_event *ev, const char *from_domain,
    const char *to_domain, enum stanza_error *condition, const char **text)
{
	struct strangers_edge *se = edge->strangers;
	char bare[STRANGERS_JID_MAX + 1];
	int from_hosted, to_hosted;

	if (se == NULL)
		return 0;
	from_hosted = router_is_hosted(edge, from_domain);
	to_hosted = router_is_hosted(edge, to_domain);
	if (from_hosted && !to_hosted) {
		if (strangers_teaches(ev) &&
		    strangers_bare_jid(ev->to.p, ev->to.len, bare, sizeof(bare)) == 0) {
			if (strangers_known(se->set, bare))
				return 0;
			if (strangers_touch(se->set, bare) == 0) {
				se->learned++;
				strangers_changed(se);
			}
		}
		return 0;
	}
	if (from_hosted || !to_hosted ||
	    config_policy_for(edge->cfg, from_domain)->strangers != POLICY_STRANGERS_REFUSE ||
	    !strangers_guarded(ev))
		return 0;
	if (strangers_bare_jid(ev->from.p, ev->from.len, bare, sizeof(bare)) < 0)
		bare[0] = '\0';	/* not a JID we keep: a stranger */
	else if (strangers_known(se->set, bare))
		return 0;
	se->refused++;
	strangers_count_domain(se, from_domain);
	log_event(LOG_INFO, "strangers.refused", "from", bare[0] ? bare : from_domain, "to", to_domain,
	    "stanza", str_is(&ev->name, "message") ? "message" : "subscribe", NULL);
	/* RFC 6120 §8.3.3.12: refused by local policy, not undeliverable. */
	*condition = STANZA_ERR_POLICY_VIOLATION;
	*text = "no one here has written to this address (strangers: refuse)";
	return 1;
}

static void
strangers_on_timer_closed(uv_handle_t *h)
{
	free(h);
}

void
strangers_start(struct edge *edge)
{
	struct strangers_edge *se = calloc(1, sizeof(*se));
	char err[1024], bad[sizeof(se->path) + 8], n[24];

	if (se == NULL || (se->set = strangers_new((size_t)edge->cfg->strangers.max_contacts)) == NULL ||
	    (se->save_timer = malloc(sizeof(*se->save_timer))) == NULL) {
		if (se != NULL)
			strangers_free(se->set);
		free(se);
		log_event(LOG_ERROR, "strangers.start_failed", "error", "out of memory", NULL);
		return;
	}
	uv_timer_init(edge->loop, se->save_timer);
	se->save_timer->data = se;
	snprintf(se->path, sizeof(se->path), "%s/%s", edge->cfg->state_dir, STRANGERS_FILE);
	if (strangers_load(se->set, se->path, err, sizeof(err)) < 0) {
		/* Set aside, not overwritten by the next save: the operator
		 * may want to look at it. */
		snprintf(bad, sizeof(bad), "%s.bad", se->path);
		(void)rename(se->path, bad);
		strangers_clear(se->set);
		log_event(LOG_ERROR, "strangers.load_failed", "error", err, "result",
		    "starting with no known contacts; the file was renamed to .bad", NULL);
	}
	snprintf(n, sizeof(n), "%zu", strangers_count(se->set));
	log_event(LOG_INFO, "strangers.loaded", "file", se->path, "contacts", n, NULL);
	edge->strangers = se;
}

void
strangers_apply(struct edge *edge)
{
	struct strangers_edge *se = edge->strangers;

	if (se == NULL)
		return;
	strangers_set_max(se->set, (size_t)edge->cfg->strangers.max_contacts);
}

void
strangers_stop(struct edge *edge)
{
	struct strangers_edge *se = edge->strangers;
	char err[512];

	if (se == NULL)
		return;
	if (uv_is_active((uv_handle_t *)se->save_timer) &&
	    strangers_save(se->set, se->path, err, sizeof(err)) < 0)
		log_event(LOG_ERROR, "strangers.save_failed", "error", err, NULL);
	uv_close((uv_handle_t *)se->save_timer, strangers_on_timer_closed);
	strangers_free(se->set);
	free(se);
	edge->strangers = NULL;
}

static void
gen_counts(const struct strangers_edge *se, const struct edge *edge, yajl_gen g)
{
	struct strangers_top top[STRANGERS_TOP];
	size_t i, n = strangers_top_domains(edge, top, STRANGERS_TOP);

	json_gen_int(g, "contacts", (long long)strangers_count(se != NULL ? se->set : NULL));
	json_gen_int(g, "max_contacts", edge->cfg->strangers.max_contacts);
	json_gen_int(g, "learned", se != NULL ? (long long)se->learned : 0);
	json_gen_int(g, "refused", se != NULL ? (long long)se->refused : 0);
	json_gen_key(g, "top_domains");
	yajl_gen_array_open(g);
	for (i = 0; i < n; i++) {
		yajl_gen_map_open(g);
		json_gen_str(g, "domain", top[i].domain);
		json_gen_int(g, "refused", (long long)top[i].refused);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
}

char *
strangers_control(struct edge *edge, const char *what, size_t *outlen)
{
	struct strangers_edge *se = edge->strangers;
	const unsigned char *buf;
	char *out = NULL, err[512];
	yajl_gen g;
	size_t len;

	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return NULL;
	yajl_gen_map_open(g);
	if (se == NULL) {
		json_gen_str(g, "error", "the contact set could not be started (see the log)");
	} else if (strcmp(what, "clear") == 0) {
		char n[24];
		size_t cleared = strangers_clear(se->set);

		snprintf(n, sizeof(n), "%zu", cleared);
		log_event(LOG_WARN, "strangers.cleared", "contacts", n, NULL);
		if (strangers_save(se->set, se->path, err, sizeof(err)) < 0)
			log_event(LOG_ERROR, "strangers.save_failed", "error", err, NULL);
		json_gen_str(g, "result", "applied");
		json_gen_int(g, "cleared", (long long)cleared);
	} else {
		gen_counts(se, edge, g);
		json_gen_key(g, "list");
		strangers_gen_list(se->set, g);
	}
	yajl_gen_map_close(g);
	if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok && (out = malloc(len + 1)) != NULL) {
		memcpy(out, buf, len);
		out[len] = '\n';
		*outlen = len + 1;
	}
	yajl_gen_free(g);
	return out;
}

void
strangers_gen_status(const struct edge *edge, yajl_gen g)
{
	json_gen_key(g, "strangers");
	yajl_gen_map_open(g);
	gen_counts(edge->strangers, edge, g);
	yajl_gen_map_close(g);
}

void
strangers_counts(const struct edge *edge, uint64_t *contacts, uint64_t *learned, uint64_t *refused)
{
	const struct strangers_edge *se = edge->strangers;

	*contacts = se != NULL ? strangers_count(se->set) : 0;
	*learned = se != NULL ? se->learned : 0;
	*refused = se != NULL ? se->refused : 0;
}
