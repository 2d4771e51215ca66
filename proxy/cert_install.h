/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cert_install.h - replacing a certificate or key file in place, keeping
 * the previous content as PATH.bak and in memory to put it back
 * (cert_install.c).  Shared by `cert rotate` (cert_rotate.c) and the
 * remote admin channel's rotation and configuration push (admin_files.c).
 */
#ifndef XE_CERT_INSTALL_H
#define XE_CERT_INSTALL_H

#include <stddef.h>

/* One file being replaced: what was there, to put it back. */
struct cert_install_file {
	const char *path;
	const char *what;		/* "certificate", "key", "configuration" */
	unsigned char *old;		/* NULL: there was none */
	size_t old_len;
	int uid, gid;
	unsigned mode;
	int replaced;
};

/* Reads what is at f->path now (at most max bytes; a missing file is no
 * error), its owner and, unless f->what is "key", its mode (else
 * default_mode).  0, or -1 with "PATH: reason". */
int cert_install_snapshot(struct cert_install_file *f, unsigned default_mode, size_t max,
    char *err, size_t errlen);
/* Writes PATH.bak (the previous content, same owner and mode), then the
 * new content over PATH; each through a temporary file, fsync'd and
 * renamed. */
int cert_install_write(struct cert_install_file *f, const unsigned char *data, size_t len,
    char *err, size_t errlen);
/* Puts the previous content back (removes a file that was not there). */
int cert_install_restore(struct cert_install_file *f, char *err, size_t errlen);
/* Frees the snapshot, wiping it (it may be a private key). */
void cert_install_free(struct cert_install_file *f);
/* A whole file of at most max bytes into a heap buffer, NUL-terminated. */
int cert_install_read(const char *path, size_t max, unsigned char **out, size_t *len,
    char *err, size_t errlen);

#endif
