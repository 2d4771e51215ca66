/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fdio.c - see fdio.h.
 */
#include "fdio.h"

#include <errno.h>
#include <unistd.h>

int
fd_write_all(int fd, const void *data, size_t n)
{
	const char *p = data;
	ssize_t k;

	while (n > 0) {
		k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k == 0)
			errno = EIO;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}
