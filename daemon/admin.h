/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin.h - the remote admin listener (admin.c, listen.admin): pinned
 * mutual TLS 1.3 carrying the control protocol (admin_proto.h).
 */
#ifndef XE_ADMIN_H
#define XE_ADMIN_H

#include <stddef.h>

#include "config.h"
#include "edge.h"
#include "run_user.h"
#include "tls.h"

/* Makes admin.cert/key if they are the generated default and missing,
 * loads the admin certificate store and binds listen.admin; nothing
 * without listen.admin.  As root, the generated files go to ru. */
int admin_open(struct edge *edge, const struct run_user *ru, char *err, size_t errlen);
void admin_close(struct edge *edge);
/* The i-th admin listener's socket and address, or -1 past the last (an
 * upgrade passes them on). */
int admin_listen_fd(const struct edge *edge, size_t i, const char **addr);
/* The admin certificate store of cfg (pins: admin.pins with
 * STATE_DIR/admin-pins); NULL with err.  edge_reload swaps it in. */
struct tls_certstore *admin_certstore_load(const struct config *cfg, char *err, size_t errlen);

#endif
