/* SPDX-License-Identifier: Apache-2.0 */
/*
 * netaddr.h - "IPv4:port" / "[IPv6]:port" text <-> struct sockaddr.
 *
 * Listeners and the gateway are configured with address literals only: a
 * proxy in a DMZ should not depend on DNS to know where to listen or where
 * its own gateway is.
 */
#ifndef XE_NETADDR_H
#define XE_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

#define NETADDR_TEXT_MAX 64

/* Parses s; on error returns -1 with a reason ("port out of range"). */
int netaddr_parse(const char *s, struct sockaddr_storage *out, char *err,
    size_t errlen);
/* Formats sa as "IPv4:port" or "[IPv6]:port". */
void netaddr_format(const struct sockaddr *sa, char *buf, size_t cap);

#endif
