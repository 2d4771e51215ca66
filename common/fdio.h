/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fdio.h - whole writes on blocking descriptors (the control socket's
 * client, the appliance writer's image files).
 */
#ifndef XE_FDIO_H
#define XE_FDIO_H

#include <stddef.h>

/* write(2) of all n bytes, EINTR retried; 0, or -1 with errno set (a
 * write that returns 0 counts as a failure, errno EIO). */
int fd_write_all(int fd, const void *data, size_t n);

#endif
