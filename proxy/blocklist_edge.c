/* SPDX-License-Identifier: Apache-2.0 */
/*
 * blocklist_edge.c - the daemon's blocklist (edge->blocklist): the checks
 * the stream, dialback and routing code call, loading at start and on
 * reload, polling the file, and the status document (blocklist.h).
 *
 * The file is polled (uv_fs_poll, BLOCKLIST_POLL_MS) rather than watched
 * with inotify like the certificates (cert_watch.c): it is one file, often
 * replaced by a rename (a feed fetcher) or living on a bind mount, and
 * stat() sees both without watching its directory; a half-written file
 * that fails to parse keeps the running list and the next change tries
 * again.
 */
#include "blocklist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>
#include <yajl/yajl_gen.h>

#include "edge.h"
#include "json_gen.h"
#include "log.h"
#include "s2s_out.h"

struct blocklist_watch {
	uv_fs_poll_t poll;
	struct edge *edge;
	char path[CONFIG_PATH_MAX];
};

int
blocklist_refuses(struct edge *edge, const char *domain, const char *where)
{
	char entry[260];

	if (blocklist_hit(edge->blocklist, domain, entry, sizeof(entry)) < 0)
		return 0;
	log_event(LOG_INFO, "blocklist.refused", "domain", domain, "entry", entry, "where", where, NULL);
	return 1;
}

int
blocklist_refuses_route(struct edge *edge, const char *from, const char *to,
    enum stanza_error *condition, const char **text)
{
	if (!blocklist_refuses(edge, to, "route") && !blocklist_refuses(edge, from, "route"))
		return 0;
	/* RFC 6120 §8.3.3.1 not-allowed: no entity may do this, here. */
	*condition = STANZA_ERR_NOT_ALLOWED;
	*text = BLOCKLIST_REFUSAL_TEXT;
	return 1;
}

int
blocklist_apply(struct edge *edge, int reload, char *err, size_t errlen)
{
	const struct config_blocklist *c = &edge->cfg->blocklist;
	struct blocklist *next = NULL;
	char n[24];

	if (c->file[0] != '\0') {
		next = blocklist_load_file(c->file, (size_t)c->max_entries, err, errlen);
		if (next == NULL) {
			if (reload)
				log_event(LOG_ERROR, "blocklist.reload_failed", "error", err, "result",
				    "keeping the running list", NULL);
			return -1;
		}
	}
	blocklist_carry_counts(next, edge->blocklist);
	blocklist_free(edge->blocklist);
	edge->blocklist = next;
	snprintf(n, sizeof(n), "%zu", blocklist_count(next));
	log_event(LOG_INFO, reload ? "blocklist.reloaded" : "blocklist.loaded", "file",
	    c->file[0] ? c->file : NULL, "entries", n, NULL);
	if (reload) {
		/* The file is reloaded on its own (polled), not only with the
		 * configuration: what streams decided under the old list is
		 * stale (an inbound stream's cached routing checks, s2s_in.c),
		 * and stanzas queued toward a newly listed domain go back as
		 * a new one would (router.c), never out. */
		edge->cfg_generation++;
		s2s_out_policy_reloaded(edge);
	}
	return 0;
}

static void
blocklist_on_poll(uv_fs_poll_t *h, int status, const uv_stat_t *prev, const uv_stat_t *curr)
{
	struct blocklist_watch *w = h->data;
	char err[CONFIG_ERR_MAX];

	(void)prev;
	(void)curr;
	if (status < 0) {
		/* Gone or unreadable: the running list stays; a new file
		 * brings another callback. */
		log_event(LOG_WARN, "blocklist.watch", "file", w->path, "error", uv_strerror(status),
		    "result", "keeping the running list", NULL);
		return;
	}
	(void)blocklist_apply(w->edge, 1, err, sizeof(err));	/* logged either way */
}

static void
blocklist_on_poll_closed(uv_handle_t *h)
{
	free(h->data);
}

static void
blocklist_watch_close(struct edge *edge)
{
	if (edge->blocklist_watch == NULL)
		return;
	uv_close((uv_handle_t *)&edge->blocklist_watch->poll, blocklist_on_poll_closed);
	edge->blocklist_watch = NULL;
}

void
blocklist_watch_apply(struct edge *edge)
{
	const char *file = edge->cfg->blocklist.file;
	struct blocklist_watch *w = edge->blocklist_watch;

	if (w != NULL && strcmp(w->path, file) == 0)
		return;
	blocklist_watch_close(edge);
	if (file[0] == '\0')
		return;
	if ((w = calloc(1, sizeof(*w))) == NULL) {
		log_event(LOG_ERROR, "blocklist.watch", "file", file, "error", "out of memory", NULL);
		return;
	}
	w->edge = edge;
	snprintf(w->path, sizeof(w->path), "%s", file);
	uv_fs_poll_init(edge->loop, &w->poll);
	w->poll.data = w;
	if (uv_fs_poll_start(&w->poll, blocklist_on_poll, w->path, BLOCKLIST_POLL_MS) != 0) {
		log_event(LOG_ERROR, "blocklist.watch", "file", file, "error", "cannot poll the file", NULL);
		uv_close((uv_handle_t *)&w->poll, blocklist_on_poll_closed);
		return;
	}
	edge->blocklist_watch = w;
}

void
blocklist_stop(struct edge *edge)
{
	blocklist_watch_close(edge);
	blocklist_free(edge->blocklist);
	edge->blocklist = NULL;
}

/* --- what status and metrics show --------------------------------------------- */

void
blocklist_gen_status(const struct edge *edge, yajl_gen g)
{
	struct blocklist_top top[BLOCKLIST_TOP];
	size_t i, n = blocklist_top(edge->blocklist, top, BLOCKLIST_TOP);

	json_gen_key(g, "blocklist");
	yajl_gen_map_open(g);
	json_gen_str(g, "file", edge->cfg->blocklist.file);
	json_gen_int(g, "entries", (long long)blocklist_count(edge->blocklist));
	json_gen_int(g, "refusals", (long long)blocklist_refusals_total(edge->blocklist));
	json_gen_key(g, "top");
	yajl_gen_array_open(g);
	for (i = 0; i < n; i++) {
		yajl_gen_map_open(g);
		json_gen_str(g, "entry", top[i].entry);
		json_gen_int(g, "refusals", (long long)top[i].refusals);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
}
