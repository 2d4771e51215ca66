/* SPDX-License-Identifier: Apache-2.0 */
/*
 * listen_check.h - `check`: would the daemon's listeners bind now?
 */
#ifndef XE_LISTEN_CHECK_H
#define XE_LISTEN_CHECK_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"

/* Binds each listen.* and metrics.listen address for a moment; prints
 * "warning: listen.KIND: cannot listen on ADDR: reason[ (held by pid N
 * (name))]" for each that fails, as `run` would stop on it.  Returns how
 * many failed. */
size_t listen_check_ports(const struct config *cfg, FILE *out);

#endif
