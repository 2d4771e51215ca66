/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tcpinfo.c - the bytes a TCP socket carried, as the kernel counts them
 * (TCP_INFO, RFC 4898 HCThruOctetsReceived / HCThruOctetsAcked, Linux
 * 4.1+).  Its own file because the C library's <netinet/tcp.h> (glibc's
 * lacks these fields) and the kernel's <linux/tcp.h> cannot be included
 * together, and libuv's header pulls in the former.
 */
#include "tcpinfo.h"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>

int
tcpinfo_bytes(int fd, uint64_t *in, uint64_t *out)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
		return -1;	/* a kernel older than 4.1 */
	*in = ti.tcpi_bytes_received;
	*out = ti.tcpi_bytes_acked;
	return 0;
}

int
tcpinfo_nodelay(int fd)
{
	int on = 0;
	socklen_t len = sizeof(on);

	if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) != 0)
		return -1;
	return on != 0;
}
