/* SPDX-License-Identifier: Apache-2.0 */
/*
 * import_sfb.h - `xmpp-edge import sfb`: the XMPP federation settings of a
 * Skype for Business / Lync Server 2013 deployment, as PowerShell prints
 * them (Get-CsXmppAllowedPartner | ConvertTo-Json,
 * Get-CsXmppGatewayConfiguration | ConvertTo-Json), turned into the
 * "policy" and "limits" sections of an xmpp-edge configuration.
 */
#ifndef XE_IMPORT_SFB_H
#define XE_IMPORT_SFB_H

#include <stddef.h>
#include <stdio.h>

#define IMPORT_SFB_FILE_MAX_BYTES (1024 * 1024)
#define IMPORT_SFB_SECRET_MAX	  4096	/* as dialback.secret_file allows */

/* One input text (a file's bytes) and the name its errors carry. */
struct import_sfb_input {
	const char *name;
	const char *text;
	size_t len;
};

/* The gateway's DialbackPassphrase, when it had one.  The caller wipes it
 * (import_sfb_secret_wipe) once written or not needed. */
struct import_sfb_secret {
	char value[IMPORT_SFB_SECRET_MAX + 1];
	size_t len;
	int present;
};

/*
 * Converts the partners text (required) and the gateway text (NULL or
 * name NULL: none).  secret_file: the path the fragment gives as
 * dialback.secret_file, or NULL.  report: where the mapping report goes
 * (NULL: nowhere).  On success returns 0 and *out holds the JSON fragment
 * (NUL-terminated, *out_len bytes; the caller frees it); the fragment has
 * been loaded by the configuration loader inside a minimal configuration,
 * so `xmpp-edge check` accepts it once merged into a valid one.  On
 * failure returns -1 and err holds "FILE: PATH.Property: reason".
 */
int import_sfb_convert(const struct import_sfb_input *partners,
    const struct import_sfb_input *gateway, const char *secret_file,
    FILE *report, char **out, size_t *out_len, struct import_sfb_secret *secret,
    char *err, size_t errlen);

void import_sfb_secret_wipe(struct import_sfb_secret *secret);

/* `xmpp-edge import sfb ...` (argv[0] is "sfb"); returns the exit status:
 * 0 done, 1 refused input or I/O error, 2 usage error. */
int import_sfb_cli(int argc, char **argv);

#endif
