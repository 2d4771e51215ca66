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

/* 1 when Nagle's algorithm is off on fd (TCP_NODELAY), 0 when on, -1 when
 * the kernel does not say.  Every stream sets it (issue 18): the status
 * output shows it so a regression is visible and testable. */
int tcpinfo_nodelay(int fd);

#endif
