/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config_files.h - checks of the files a configuration names (certificates,
 * keys, CA bundle, dialback secret), as `check` and `run` do before
 * anything listens: nginx -t style, so a typo in a path is found at once.
 */
#ifndef XE_CONFIG_FILES_H
#define XE_CONFIG_FILES_H

#include <stddef.h>

struct config;

/* Opens and parses every file cfg names; "SOURCE: key.path: why" on error. */
int config_check_files(const struct config *cfg, char *err, size_t errlen);

#endif
