/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json_gen.c - yajl_gen helpers shared by the control protocol's answers
 * (control.c, stream_info.c, appliance_control.c).
 */
#include "json_gen.h"

#include <stdlib.h>
#include <string.h>

void
json_gen_key(yajl_gen g, const char *k)
{
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
}

void
json_gen_str(yajl_gen g, const char *k, const char *v)
{
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
	if (v == NULL)
		yajl_gen_null(g);
	else
		yajl_gen_string(g, (const unsigned char *)v, strlen(v));
}

void
json_gen_int(yajl_gen g, const char *k, long long v)
{
	yajl_gen_string(g, (const unsigned char *)k, strlen(k));
	yajl_gen_integer(g, v);
}

char *
json_gen_finish(yajl_gen g, size_t *outlen)
{
	const unsigned char *buf;
	char *out = NULL;
	size_t len;

	if (yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok &&
	    (out = malloc(len + 1)) != NULL) {
		memcpy(out, buf, len);
		out[len] = '\n';
		*outlen = len + 1;
	}
	yajl_gen_free(g);
	return out;
}
