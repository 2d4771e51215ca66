/* SPDX-License-Identifier: Apache-2.0 */
/*
 * edge_certs.h - the TLS certificate store a configuration describes
 * (edge_certs.c), for the daemon, `probe` and the cert commands alike.
 */
#ifndef XE_EDGE_CERTS_H
#define XE_EDGE_CERTS_H

#include <stddef.h>

#include "config.h"
#include "tls.h"

/* The TLS certificate store cfg describes (domains, CA, pins, internal
 * certificate); NULL with "FILE: tls: reason" in err. */
struct tls_certstore *edge_certstore_load(const struct config *cfg, char *err, size_t errlen);

#endif
