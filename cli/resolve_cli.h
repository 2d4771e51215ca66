/* SPDX-License-Identifier: Apache-2.0 */
/*
 * resolve_cli.h - `xmpp-edge resolve` (resolve_cli.c), the DNS library's
 * discovery shown to operators.
 */
#ifndef XE_RESOLVE_CLI_H
#define XE_RESOLVE_CLI_H

#include "dns.h"

/* `xmpp-edge resolve [--server ADDR:PORT]... [--timeout-ms N] [--tries N]
 * DOMAIN`: argv[0] is "resolve".  Exit status 0 candidates printed, 1
 * resolution failed (reason on stderr), 2 usage error. */
int resolve_cli_main(int argc, char **argv, const struct dns_config *base);

#endif
