/* SPDX-License-Identifier: Apache-2.0 */
/*
 * default_config.h - the embedded default configuration and the state it
 * needs: with no -c, `xmpp-edge run` serves a demo domain on loopback only
 * and creates, on first start, a self-signed certificate and a dialback
 * secret in its state directory.
 */
#ifndef XE_DEFAULT_CONFIG_H
#define XE_DEFAULT_CONFIG_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

#define DEFAULT_DOMAIN "edge.localhost"

/* The state directory the embedded default uses: /var/lib/xmpp-edge for
 * root, else $XDG_STATE_HOME/xmpp-edge or ~/.local/state/xmpp-edge. */
void default_state_dir(char *out, size_t cap);

/* Builds the embedded default configuration for state_dir (NULL: the
 * default one).  create_files: generate what is missing (certificate,
 * key, dialback secret), owned by uid/gid when running as root. */
struct config *default_config_load(const char *state_dir, int create_files,
    char *err, size_t errlen);

/* Makes sure state_dir exists (0750) and, when a dialback secret file is
 * not configured, that STATE_DIR/dialback.secret exists (0600, 32 random
 * bytes hex-encoded).  Fills cfg->dialback.secret_file. */
int state_dir_prepare(struct config *cfg, char *err, size_t errlen);

#endif
