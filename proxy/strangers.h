/* SPDX-License-Identifier: Apache-2.0 */
/*
 * strangers.h - refusing messages from remote users nobody inside knows.
 *
 * Why: federation spam arrives as messages and subscription requests from
 * accounts no internal user ever wrote to (xmppbl.org's "block strangers"
 * advice; Prosody mod_anti_spam, ejabberd mod_antispam do it inside the
 * server).  At the edge nothing of it reaches the internal server.
 *
 * The edge learns who is known from *outbound* traffic: every remote bare
 * JID an internal user sends a message (not an error), a subscription
 * request or approval, or directed presence to (joining a group chat room
 * is directed presence to the room) becomes a contact.  A partner whose
 * policy says `strangers: refuse` may then send messages and subscription
 * requests to the inside only from contacts; from anyone else they are
 * bounced with <policy-violation/> (RFC 6120 §8.3.3.12).  Everything else
 * (presence updates, iq, errors) flows, as among known contacts.
 *
 * The contact set is bounded (strangers.max_contacts): a hash table plus a
 * list in least-recently-used order; a contact is refreshed whenever it is
 * written to or writes; past the cap the least recently used one goes.
 * It is kept in STATE_DIR/strangers-contacts (text, one bare JID a line,
 * most recent first), written atomically (temporary file, fsync, rename)
 * STRANGERS_SAVE_MS after a change and at shutdown, read at start; a file
 * that does not parse is reported with its line and set aside (.bad), and
 * the daemon starts with an empty set.  `xmpp-edge strangers list|clear`
 * shows or empties it through the control socket.
 */
#ifndef XE_STRANGERS_H
#define XE_STRANGERS_H

#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_gen.h>

#include "xmlstream.h"

#define STRANGERS_JID_MAX 1280		/* localpart 1023 + '@' + domain 253 */
#define STRANGERS_FILE_MAX_BYTES (256u * 1024 * 1024)
#define STRANGERS_SAVE_MS 30000		/* a changed set is written this late */
#define STRANGERS_FILE "strangers-contacts"

struct strangers;
struct edge;

/* An empty set holding at most max contacts; NULL if out of memory. */
struct strangers *strangers_new(size_t max);
void strangers_free(struct strangers *s);
size_t strangers_count(const struct strangers *s);

/*
 * The bare JID (RFC 7622: localpart@domain or domain, no resource) of the
 * len bytes at jid, canonical (domain lower-case via domain.c, localpart
 * ASCII lower-case), into out (cap >= STRANGERS_JID_MAX + 1).  -1 when it
 * is not a JID we keep (too long, control characters, bad domain).
 */
int strangers_bare_jid(const char *jid, size_t len, char *out, size_t cap);

/* Adds bare (canonical) as the most recent contact, or refreshes it; the
 * least recent one goes past the cap.  0, or -1 if out of memory. */
int strangers_touch(struct strangers *s, const char *bare);
/* 1 if bare is a contact (and refreshes it), else 0. */
int strangers_known(struct strangers *s, const char *bare);
/* A new cap; the least recent contacts past it go. */
void strangers_set_max(struct strangers *s, size_t max);
/* Forgets every contact; returns how many there were. */
size_t strangers_clear(struct strangers *s);

/* Parses the file format (text, len bytes) into s, after what s holds,
 * least recent last; past the cap the rest is left out (the most recent
 * come first).  0, or -1 with "source: line N: reason" in err. */
int strangers_parse(struct strangers *s, const char *source, const char *text, size_t len,
    char *err, size_t errlen);
/* The file format, most recent first, as one heap string (*len bytes);
 * NULL if out of memory. */
char *strangers_format(const struct strangers *s, size_t *len);
/* Writes the set to path atomically (path.tmp, fsync, rename), mode
 * 0600.  0, or -1 with err. */
int strangers_save(const struct strangers *s, const char *path, char *err, size_t errlen);
/* Reads path into s (a missing file is an empty set): 0, or -1 with err. */
int strangers_load(struct strangers *s, const char *path, char *err, size_t errlen);
/* The contacts as a JSON array, most recent first. */
void strangers_gen_list(const struct strangers *s, yajl_gen g);

/* --- the daemon's set (edge->strangers), strangers_edge.c ----------------- */

/*
 * The router's hook for a stanza ev from from_domain to to_domain (both
 * canonical): learns contacts from stanzas going out, and says 1 (with
 * the condition and text for the bounce) for a message or subscription
 * request coming in from a stranger to a partner whose policy refuses
 * strangers.
 */
int strangers_refuses(struct edge *edge, const struct xmlstream_event *ev, const char *from_domain,
    const char *to_domain, const char **condition, const char **text);
/* Loads the set from the state directory (start). */
void strangers_start(struct edge *edge);
/* Applies strangers.max_contacts after a reload (a smaller cap drops the
 * least recent contacts). */
void strangers_apply(struct edge *edge);
/* Saves the set and frees it (shutdown; the loop must run once more for
 * the timer's close callback). */
void strangers_stop(struct edge *edge);
/* The control socket's "strangers list" and "strangers clear" answers,
 * as one heap line (*len bytes); NULL if out of memory. */
char *strangers_control(struct edge *edge, const char *what, size_t *len);
/* The "strangers" member of the status document. */
void strangers_gen_status(const struct edge *edge, yajl_gen g);
#define STRANGERS_TOP 10		/* domains in status and metrics */
struct strangers_top {
	char domain[256];
	uint64_t refused;
};
/* The (at most n) remote domains whose users were refused most, most
 * first; returns how many were written. */
size_t strangers_top_domains(const struct edge *edge, struct strangers_top *out, size_t n);
/* Counters for metrics.c. */
void strangers_counts(const struct edge *edge, uint64_t *contacts, uint64_t *learned,
    uint64_t *refused);

#endif
