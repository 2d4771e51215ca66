/* SPDX-License-Identifier: Apache-2.0 */
/*
 * appliance_bundle.h - the appliance update bundle: its header (manifest)
 * and the limits both sides of `xmpp-edge appliance update` apply.
 *
 * A bundle is one file, written by appliance/build-image.sh next to the
 * disk image (OUTDIR/xmpp-edge-update.bundle):
 *
 *   xmpp-edge-bundle 1\n
 *   version VERSION\n                  [A-Za-z0-9._+~-], 1..64 bytes
 *   kernel SIZE SHA256\n               decimal bytes, 64 lowercase hex
 *   initrd SIZE SHA256\n
 *   options KERNEL-COMMAND-LINE\n      printable ASCII, 0..512 bytes
 *   end\n
 *   KERNEL BYTES, then INITRD BYTES (nothing after)
 *
 * The header is at most APPLIANCE_BUNDLE_HEADER_MAX bytes, every line is
 * required, once, in this order; each image is 1 byte .. 64 MiB.  The
 * SHA-256 of the header itself (the "manifest SHA-256") is what the CLI
 * prints and the daemon records with the slot.  The parser only reads
 * bytes it is given (no NUL terminator needed) and never allocates.
 */
#ifndef XE_APPLIANCE_BUNDLE_H
#define XE_APPLIANCE_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#define APPLIANCE_BUNDLE_MAGIC "xmpp-edge-bundle 1\n"
#define APPLIANCE_BUNDLE_HEADER_MAX 2048
#define APPLIANCE_BUNDLE_VERSION_MAX 64
#define APPLIANCE_BUNDLE_OPTIONS_MAX 512
#define APPLIANCE_BUNDLE_IMAGE_MAX ((uint64_t)64 * 1024 * 1024)
#define APPLIANCE_SHA256_HEX 64

enum appliance_part { APPLIANCE_PART_KERNEL, APPLIANCE_PART_INITRD, APPLIANCE_PART_COUNT };

struct appliance_bundle {
	size_t header_len;			/* bytes up to and including "end\n" */
	char version[APPLIANCE_BUNDLE_VERSION_MAX + 1];
	char options[APPLIANCE_BUNDLE_OPTIONS_MAX + 1];
	uint64_t size[APPLIANCE_PART_COUNT];
	char sha256[APPLIANCE_PART_COUNT][APPLIANCE_SHA256_HEX + 1];
};

enum appliance_bundle_result {
	APPLIANCE_BUNDLE_OK = 0,
	APPLIANCE_BUNDLE_INCOMPLETE,	/* no "end\n" yet, still under the bound */
	APPLIANCE_BUNDLE_BAD,		/* err says which line and why */
};

/* Parses the header at the start of buf (len bytes, possibly followed by
 * the images).  INCOMPLETE only while len < APPLIANCE_BUNDLE_HEADER_MAX. */
enum appliance_bundle_result appliance_bundle_parse(const char *buf, size_t len,
    struct appliance_bundle *b, char *err, size_t errlen);

/* Bytes of kernel + initrd the header announces. */
uint64_t appliance_bundle_payload(const struct appliance_bundle *b);

/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void appliance_hex(const unsigned char *p, size_t n, char *out);

#endif
