/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notices.c - `xmpp-edge version --licenses`: the binary's own license and
 * the notices of everything linked into it.
 *
 * The permissive licenses of the libraries (MIT, ISC, BSD-2-Clause,
 * Apache-2.0) ask that their notices travel with every copy, binary copies
 * included; a static binary copied on its own still carries them here.
 * Each notice is printed as "==== COMPONENT VERSION FILE (SPDX) ====" and
 * the file's bytes, so a reader (or tests/license) can cut them apart.
 */
#include <string.h>

#include "notices.h"
#include "version.h"

void
notices_print(FILE *out)
{
	size_t i;

	fprintf(out, "xmpp-edge %s is licensed under the Apache License, Version 2.0 "
	    "(SPDX-License-Identifier: %s);\n"
	    "see LICENSE in its sources or https://www.apache.org/licenses/LICENSE-2.0\n\n",
	    XMPP_EDGE_VERSION, XMPP_EDGE_LICENSE_SPDX);
	fprintf(out, "This binary contains the following third-party components:\n");
	for (i = 0; i < notices_count; i++) {
		/* Several files of one component are listed once. */
		if (i > 0 && strcmp(notices[i].component, notices[i - 1].component) == 0)
			continue;
		fprintf(out, "  %s %s (%s)\n", notices[i].component, notices[i].version,
		    notices[i].spdx);
	}
	for (i = 0; i < notices_count; i++) {
		const struct notice *n = &notices[i];

		fprintf(out, "\n==== %s %s %s (%s) ====\n", n->component, n->version, n->file,
		    n->spdx);
		fwrite(n->text, 1, n->len, out);
		if (n->len > 0 && n->text[n->len - 1] != '\n')
			fputc('\n', out);
	}
}
