/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tcpinfo.h - bytes through a TCP socket, from the kernel (tcpinfo.c).
 */
#ifndef XE_TCPINFO_H
#define XE_TCPINFO_H

#include <stdint.h>

/* Bytes received and bytes the peer acknowledged on the connected TCP
 * socket fd: 0, or -1 when the kernel does not say. */
int tcpinfo_bytes(int fd, uint64_t *in, uint64_t *out);

#endif
