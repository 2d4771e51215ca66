/* SPDX-License-Identifier: Apache-2.0 */
/*
 * blocklist.h - remote domains the edge refuses outright (blocklist.file).
 *
 * Why: federation spam comes in waves from throw-away domains (the
 * JabberSPAM blocklist, xmppbl.org's real-time list; 2024 waves from about
 * twenty domains).  Servers handle it inside (Prosody mod_anti_spam,
 * ejabberd mod_antispam); at the edge nothing of it reaches the internal
 * server.  The list is a file, one entry a line:
 *
 *   # comment (also after an entry)
 *   spam.example          that domain
 *   *.spam.example        every name under it (not spam.example itself)
 *
 * It is applied where a remote domain shows up (blocklist_refuses):
 *   stream header  'from' of an inbound stream: <policy-violation/> stream
 *                  error (RFC 6120 §4.9.3.12: the peer's claim violates
 *                  local policy; <host-unknown/>, §4.9.3.6, is about the
 *                  'to' we serve, so it would mislead);
 *   dialback       each <db:result/> domain, piggybacked ones included
 *                  (XEP-0220 §2.4, type='error' <not-allowed/>, as for a
 *                  domain the policy denies);
 *   routing        a stanza to a blocked domain, or from one (listed
 *                  after its stream was authenticated), is bounced
 *                  (<not-allowed/>), never sent or delivered;
 *   a reload       (the file changed, or SIGHUP) takes effect on running
 *                  streams as a configuration reload does for `allow`:
 *                  stanzas queued toward a newly listed domain and not
 *                  written yet are bounced (<not-allowed/>, custody with
 *                  the bounces; s2s_out_policy_reloaded), an inbound
 *                  stream from one ends with <policy-violation/> at its
 *                  next stanza (s2s_in.c), a dialback check under way
 *                  for one is answered <not-allowed/> (s2s_in_auth.c);
 *                  the streams' cached routing checks are dropped
 *                  (edge->cfg_generation).
 * Every refusal counts against the entry that matched; `status` and the
 * metrics show the busiest BLOCKLIST_TOP entries.
 *
 * The parser takes hostile input: lines are bounded (BLOCKLIST_LINE_MAX),
 * entries too (blocklist.max_entries), the file's size as well; any error
 * names its line.  Loaded at start (a bad file stops the start), reloaded
 * on SIGHUP and when the file changes (polled, blocklist_watch_apply); a
 * bad file at reload keeps the running list.  Counts survive a reload for
 * entries still listed.
 */
#ifndef XE_BLOCKLIST_H
#define XE_BLOCKLIST_H

#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_gen.h>

#include "stanza_error.h"

#define BLOCKLIST_LINE_MAX 1024		/* bytes, without the newline */
#define BLOCKLIST_FILE_MAX_BYTES (64u * 1024 * 1024)
#define BLOCKLIST_TOP 10		/* entries in status and metrics */
#define BLOCKLIST_POLL_MS 1000		/* how often the file is stat()ed */
/* The text of every <not-allowed/> bounce the blocklist causes: the
 * router's for a new stanza, a reload's for a queued one. */
#define BLOCKLIST_REFUSAL_TEXT "the domain is on xmpp-edge's blocklist"

struct blocklist;
struct edge;

/* Parses text (len bytes, no terminator needed) named source in errors.
 * Returns the list, or NULL with "source: line N: reason" in err. */
struct blocklist *blocklist_parse(const char *source, const char *text, size_t len,
    size_t max_entries, char *err, size_t errlen);
/* Reads and parses path (at most BLOCKLIST_FILE_MAX_BYTES). */
struct blocklist *blocklist_load_file(const char *path, size_t max_entries, char *err,
    size_t errlen);
void blocklist_free(struct blocklist *bl);
size_t blocklist_count(const struct blocklist *bl);

/* The entry matching canonical domain (exact, or a '*.' entry for a
 * parent), as it was written ("*.spam.example"), into out; -1 if none. */
int blocklist_match(const struct blocklist *bl, const char *domain, char *out, size_t cap);

/* blocklist_match, and the entry's refusal counted. */
int blocklist_hit(struct blocklist *bl, const char *domain, char *out, size_t cap);
/* Counts of refusals per entry survive reloads: copies them from old. */
void blocklist_carry_counts(struct blocklist *next, const struct blocklist *old);

struct blocklist_top {
	char entry[260];
	uint64_t refusals;
};
/* The (at most n) entries with the most refusals, most first; returns
 * how many were written.  Entries never matched are left out. */
size_t blocklist_top(const struct blocklist *bl, struct blocklist_top *out, size_t n);
uint64_t blocklist_refusals_total(const struct blocklist *bl);

/* --- the daemon's list (edge->blocklist), blocklist_edge.c ----------------- */

/* 1 if the daemon refuses remote domain (which may be NULL or ""): counts
 * it against the entry and logs blocklist.refused with `where`. */
int blocklist_refuses(struct edge *edge, const char *domain, const char *where);
/* Routing: 1 (with condition and text for the bounce) when from or to
 * (either may be NULL) is a blocked domain.  The router asks about the
 * destination of every stanza, and about the sender only of stanzas read
 * from a stream (a domain listed after its stream was authenticated):
 * bounces the edge makes come from the blocked domain and must go back. */
int blocklist_refuses_route(struct edge *edge, const char *from, const char *to,
    enum stanza_error *condition, const char **text);
/* Loads edge->cfg->blocklist.file (start: -1 with err on failure; "" means
 * no list), or reloads it (reload: a failure keeps the running list,
 * logged as blocklist.reload_failed, and returns -1; a success applies
 * the new list to the running streams, as above). */
int blocklist_apply(struct edge *edge, int reload, char *err, size_t errlen);
/* Starts or stops polling the file to match the configuration. */
void blocklist_watch_apply(struct edge *edge);
/* The "blocklist" member of the status document: file, entries,
 * refusals, and the BLOCKLIST_TOP busiest entries. */
void blocklist_gen_status(const struct edge *edge, yajl_gen g);
/* Frees the list and closes the poll handle (shutdown; the loop must run
 * once more for the close callback). */
void blocklist_stop(struct edge *edge);

#endif
