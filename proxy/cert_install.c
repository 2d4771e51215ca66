/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cert_install.c - replace a file in place with the previous content kept
 * (cert_install.h).
 *
 * The new content is written beside the target, fsync'd and renamed over
 * it (tls_file_write_atomic_owned), so a reader sees the old file or the
 * new one, never half of either; the previous content stays in PATH.bak
 * and in memory until the caller knows the new one is in service.  Files
 * keep the owner and group of the file they replace (as root), so the
 * daemon still reads them as its own user.
 */
#include "cert_install.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/platform_util.h>

#include "tls.h"

int
cert_install_read(const char *path, size_t max, unsigned char **out, size_t *len,
    char *err, size_t errlen)
{
	unsigned char *buf = NULL;
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd;

	*out = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	if ((size_t)st.st_size > max) {
		snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
		goto fail;
	}
	if ((buf = malloc(max + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	while (got < max && (n = read(fd, buf + got, max - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
			goto fail;
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
fail:
	free(buf);
	close(fd);
	return -1;
}

int
cert_install_snapshot(struct cert_install_file *f, unsigned default_mode, size_t max,
    char *err, size_t errlen)
{
	struct stat st;

	f->uid = f->gid = -1;
	f->mode = default_mode;
	if (stat(f->path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", f->path, strerror(errno));
		return -1;
	}
	f->uid = (int)st.st_uid;
	f->gid = (int)st.st_gid;
	if (strcmp(f->what, "key") != 0)
		f->mode = (unsigned)(st.st_mode & 0644);
	return cert_install_read(f->path, max, &f->old, &f->old_len, err, errlen);
}

int
cert_install_write(struct cert_install_file *f, const unsigned char *data, size_t len,
    char *err, size_t errlen)
{
	char bak[PATH_MAX];

	if (f->old != NULL) {
		if (snprintf(bak, sizeof(bak), "%s.bak", f->path) >= (int)sizeof(bak)) {
			snprintf(err, errlen, "%s: path too long", f->path);
			return -1;
		}
		if (tls_file_write_atomic_owned(bak, f->old, f->old_len, f->mode, f->uid, f->gid,
		    err, errlen) != 0)
			return -1;
	}
	if (tls_file_write_atomic_owned(f->path, data, len, f->mode, f->uid, f->gid, err,
	    errlen) != 0)
		return -1;
	f->replaced = 1;
	return 0;
}

int
cert_install_restore(struct cert_install_file *f, char *err, size_t errlen)
{
	if (!f->replaced)
		return 0;
	if (f->old == NULL) {
		if (unlink(f->path) == 0) {
			f->replaced = 0;
			return 0;
		}
		snprintf(err, errlen, "cannot remove %s: %s", f->path, strerror(errno));
		return -1;
	}
	if (tls_file_write_atomic_owned(f->path, f->old, f->old_len, f->mode, f->uid, f->gid,
	    err, errlen) != 0)
		return -1;
	f->replaced = 0;
	return 0;
}

void
cert_install_free(struct cert_install_file *f)
{
	if (f->old != NULL) {
		mbedtls_platform_zeroize(f->old, f->old_len);
		free(f->old);
	}
	f->old = NULL;
	f->old_len = 0;
}
