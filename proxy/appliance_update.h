/* SPDX-License-Identifier: Apache-2.0 */
/*
 * appliance_update.h - A/B software update of a running appliance, the
 * daemon's side (appliance_update.c): the EFI system partition's two boot
 * slots, what `appliance status` reports of them, and the writer that
 * streams a new boot image into the slot that did not boot.
 *
 * ESP layout (build-image.sh makes slot a; the writer fills the other):
 *
 *   xmpp-edge/a/{vmlinuz,initrd.img,manifest}     manifest = bundle header
 *   xmpp-edge/b/{vmlinuz,initrd.img,manifest}
 *   loader/entries/xmpp-edge-GGGGGG-S[+LEFT[-DONE]].conf
 *
 * GGGGGG is a generation number (six digits, one more per update), S the
 * slot.  systemd-boot sorts entries whose tries are used up (+0-DONE) last
 * and the others by name, newest version first; loader.conf's
 * "default xmpp-edge-*" therefore picks the newest entry that still has
 * tries.  An entry with a counter is on trial: systemd-boot counts a try
 * down each time it boots it, and the appliance's init renames it to the
 * plain name (blesses it) once the daemon said READY.
 */
#ifndef XE_APPLIANCE_UPDATE_H
#define XE_APPLIANCE_UPDATE_H

#include <stddef.h>
#include <stdint.h>

#include "appliance_bundle.h"

#define APPLIANCE_SLOTS 2
#define APPLIANCE_TRIES 3			/* "+3": boots before falling back */
#define APPLIANCE_CHUNK_MAX (48 * 1024)		/* payload bytes per request */
#define APPLIANCE_ENTRY_NAME_MAX 64
#define APPLIANCE_TOKEN_HEX 32
/* An update session nobody has spoken to for this long may be replaced by
 * a new one (a CLI that died mid-way must not lock updates out). */
#define APPLIANCE_SESSION_IDLE_MS 60000

struct edge;

enum appliance_slot_state {
	APPLIANCE_SLOT_EMPTY,	/* no boot entry: never written, or being written */
	APPLIANCE_SLOT_GOOD,	/* entry without counter: blessed */
	APPLIANCE_SLOT_TRIAL,	/* counter with tries left */
	APPLIANCE_SLOT_BAD,	/* counter at +0: systemd-boot skips it */
};

struct appliance_slot {
	char name;				/* 'a' or 'b' */
	enum appliance_slot_state state;
	char entry[APPLIANCE_ENTRY_NAME_MAX];	/* file name in loader/entries */
	unsigned generation;
	int tries_left, tries_done;		/* -1 without a counter */
	char version[APPLIANCE_BUNDLE_VERSION_MAX + 1];	/* "" when unknown */
	char manifest_sha256[APPLIANCE_SHA256_HEX + 1];
};

struct appliance_esp {
	struct appliance_slot slot[APPLIANCE_SLOTS];
	char booted;			/* from xe.slot= on the kernel command line; 0 unknown */
	char next;			/* what systemd-boot picks next; 0 none */
	int fell_back;			/* the newest entry ran out of tries: the booted one is older */
};

/* Entry file name -> generation, slot, counter; 0, or -1 when the name is
 * not one of ours. */
int appliance_entry_parse(const char *name, unsigned *generation, char *slot, int *tries_left,
    int *tries_done);

/* The slot named by "xe.slot=" in a kernel command line; 0 if none. */
char appliance_cmdline_slot(const char *cmdline);

/* Reads esp's entries and manifests.  booted: the booted slot (0 unknown). */
int appliance_esp_scan(const char *esp, char booted, struct appliance_esp *out, char *err,
    size_t errlen);

/* The writer: one update in progress, into the slot that did not boot. */
struct appliance_writer;

/* Parses the header, removes the target slot's entry (so nothing boots it
 * while it is rewritten) and its old files, opens the new ones.  The
 * writer owns everything it opened until commit or abort. */
struct appliance_writer *appliance_writer_begin(const char *esp, char booted, const char *header,
    size_t header_len, char *err, size_t errlen);
/* Payload bytes at offset (must be what was received so far). */
int appliance_writer_write(struct appliance_writer *w, uint64_t offset, const void *p, size_t n,
    char *err, size_t errlen);
/* Checks sizes and SHA-256 (streamed, then re-read from the ESP after
 * fsync), installs the files and the "+3" entry.  The writer is freed
 * whatever the outcome; entry receives the new entry's file name. */
int appliance_writer_commit(struct appliance_writer *w, char *entry, size_t entrylen, char *err,
    size_t errlen);
/* Drops the half-written files; frees w (NULL is fine). */
void appliance_writer_abort(struct appliance_writer *w);
char appliance_writer_slot(const struct appliance_writer *w);
uint64_t appliance_writer_received(const struct appliance_writer *w);
uint64_t appliance_writer_expected(const struct appliance_writer *w);
const char *appliance_writer_version(const struct appliance_writer *w);

/* The control protocol's "appliance ..." requests (line without the
 * newline); returns the JSON answer (heap, *outlen bytes).  The ESP is
 * $XMPP_EDGE_ESP, set by the appliance's init; elsewhere the requests are
 * refused. */
char *appliance_control_request(struct edge *edge, const char *line, size_t *outlen);
/* Drops an update in progress (daemon exit). */
void appliance_control_close(struct edge *edge);

#endif
