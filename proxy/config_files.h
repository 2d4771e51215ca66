/*
 * config_files.h - checks of the files a configuration names (certificates,
 * keys, CA bundle, dialback secret), as `check` and `run` do before
 * anything listens: nginx -t style, so a typo in a path is found at once.
 */
#ifndef XE_CONFIG_FILES_H
#define XE_CONFIG_FILES_H

#include <stddef.h>

struct config;

/* Decodes a base64 SHA-256 SPKI pin; -1 unless exactly 32 bytes. */
int config_pin_decode(const char *b64, unsigned char out[32]);
/* Opens and parses every file cfg names; "SOURCE: key.path: why" on error. */
int config_check_files(const struct config *cfg, char *err, size_t errlen);

#endif
