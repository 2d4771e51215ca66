/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json_gen.h - the few yajl_gen helpers the JSON answers of the control
 * protocol share (json_gen.c): key/value pairs and the finished line.
 */
#ifndef XE_JSON_GEN_H
#define XE_JSON_GEN_H

#include <stddef.h>

#include <yajl/yajl_gen.h>

/* "k": the key of a map or array the caller opens next. */
void json_gen_key(yajl_gen g, const char *k);
/* "k": "v", or "k": null when v is NULL. */
void json_gen_str(yajl_gen g, const char *k, const char *v);
/* "k": v */
void json_gen_int(yajl_gen g, const char *k, long long v);
/* The generated document as one heap line ending in '\n' (*outlen bytes,
 * what a control client reads to EOF); frees g.  NULL if out of memory. */
char *json_gen_finish(yajl_gen g, size_t *outlen);

#endif
