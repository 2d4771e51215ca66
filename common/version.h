/* SPDX-License-Identifier: Apache-2.0 */
/* version.h - xmpp-edge's own version. */
#ifndef XE_VERSION_H
#define XE_VERSION_H
#define XMPP_EDGE_VERSION "0.1.0"
#endif
