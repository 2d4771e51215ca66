/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notices.h - the license notices of the third-party code inside the binary.
 *
 * The table is generated at build time (build.sh licenses_generate_c) from
 * the license files deps/licenses.lock names, copied out of the verified
 * dependency tarballs: what the binary prints is what it was built from.
 */
#ifndef XE_NOTICES_H
#define XE_NOTICES_H

#include <stddef.h>
#include <stdio.h>

/* xmpp-edge's own license (the LICENSE file at the top of the sources). */
#define XMPP_EDGE_LICENSE_SPDX "Apache-2.0"

struct notice {
	const char *component;		/* deps/deps.lock name (or musl) */
	const char *version;
	const char *spdx;		/* its SPDX license expression */
	const char *file;		/* the file's name in the component */
	const unsigned char *text;	/* the file, byte for byte */
	size_t len;
};

extern const struct notice notices[];
extern const size_t notices_count;

/* Prints xmpp-edge's license line, the list of components and every notice. */
void notices_print(FILE *out);

#endif
