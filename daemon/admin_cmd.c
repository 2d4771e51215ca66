/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin_cmd.c - the commands the remote admin channel runs (admin_cmd.h).
 *
 * The control socket's commands (status, streams, drain, reload,
 * strangers list|clear) answer
 * exactly as they do locally (control_execute); the commands that carry
 * files (cert rotate, config push) or change state files (cert pin) or
 * make a key (cert csr) live in admin_files.c.  Nothing a client sends
 * is ever used as a path: targets are the daemon's own configured files,
 * chosen by domain name.
 */
#include "admin_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>
#include <yajl/yajl_gen.h>

#include "edge.h"
#include "control.h"
#include "daemon.h"
#include "json_gen.h"

/* admin_files.c */
extern const struct admin_command admin_cmd_cert_rotate, admin_cmd_config_push,
    admin_cmd_cert_csr, admin_cmd_cert_pin;
/* appliance_control.c */
extern const struct admin_command admin_cmd_appliance_update;

static char *
admin_cmd_control_run(struct admin_request *r, size_t *outlen)
{
	char *out = NULL;

	if (control_execute(r->edge, r->cmd->name, "admin", &out, outlen) != 0)
		return NULL;
	/* The control answers say "failed" only for reload and drain. */
	r->outcome = out != NULL && memmem(out, *outlen, "\"result\":\"failed\"", 17) != NULL ?
	    "failed" : "ok";
	return out;
}

#define CONTROL_ROW(word) { .name = word, .run = admin_cmd_control_run }

static const struct admin_command *const admin_commands[] = {
	&(const struct admin_command)CONTROL_ROW("status"),
	&(const struct admin_command)CONTROL_ROW("streams"),
	&(const struct admin_command)CONTROL_ROW("drain"),
	&(const struct admin_command)CONTROL_ROW("reload"),
	&(const struct admin_command)CONTROL_ROW("strangers list"),
	&(const struct admin_command)CONTROL_ROW("strangers clear"),
	&admin_cmd_cert_rotate,
	&admin_cmd_cert_csr,
	&admin_cmd_cert_pin,
	&admin_cmd_config_push,
	&(const struct admin_command)CONTROL_ROW("appliance status"),
	&admin_cmd_appliance_update,
	NULL
};

/* Splits r->words into words; the command is the longest name whose
 * words lead the line. */
static const struct admin_command *
admin_command_find(struct admin_request *r, char **words, size_t nwords, size_t *used)
{
	const struct admin_command *best = NULL;
	size_t i, best_used = 0;

	for (i = 0; admin_commands[i] != NULL; i++) {
		const char *name = admin_commands[i]->name, *p = name;
		size_t n = 0;

		while (n < nwords) {
			size_t l = strlen(words[n]);

			if (strncmp(p, words[n], l) != 0 || (p[l] != ' ' && p[l] != '\0'))
				break;
			n++;
			p += l;
			if (*p == '\0')
				break;
			p++;
		}
		if (*p == '\0' && n > best_used) {
			best = admin_commands[i];
			best_used = n;
		}
	}
	(void)r;
	*used = best_used;
	return best;
}

long long
admin_request_begin(struct admin_request *r, struct edge *edge, const char *line,
    char *err, size_t errlen)
{
	char *words[ADMIN_ARGS_MAX + 4], *save = NULL, *w;
	size_t n = 0, used, i;

	r->edge = edge;
	snprintf(r->line, sizeof(r->line), "%s", line);
	snprintf(r->words, sizeof(r->words), "%s", line);
	for (w = strtok_r(r->words, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
		if (n == sizeof(words) / sizeof(words[0])) {
			snprintf(err, errlen, "too many words in the request");
			return -1;
		}
		words[n++] = w;
	}
	r->cmd = admin_command_find(r, words, n, &used);
	if (r->cmd == NULL) {
		snprintf(err, errlen, "unknown command");
		return -1;
	}
	if (n - used < r->cmd->min_args || n - used > r->cmd->max_args) {
		snprintf(err, errlen, "%s takes %zu to %zu arguments", r->cmd->name,
		    r->cmd->min_args, r->cmd->max_args);
		return -1;
	}
	for (i = used; i < n; i++)
		r->argv[r->argc++] = words[i];
	if (r->cmd->begin != NULL && r->cmd->begin(r, err, errlen) != 0)
		return -1;
	return (long long)r->cmd->payload_max;
}

int
admin_request_part(struct admin_request *r, const char *name, const uint8_t *data,
    size_t len, char *err, size_t errlen)
{
	if (r->cmd == NULL || r->cmd->part == NULL) {
		snprintf(err, errlen, "this command takes no payload");
		return -1;
	}
	return r->cmd->part(r, name, data, len, err, errlen);
}

char admin_answer_later_mark;

char *
admin_request_run(struct admin_request *r, size_t *outlen)
{
	char *out = r->cmd->run(r, outlen);

	r->pending = out == ADMIN_ANSWER_LATER;
	return out;
}

void
admin_request_answer(struct admin_request *r, char *out, size_t len)
{
	r->pending = 0;
	r->on_answer(r, out, len);
}

void
admin_request_cleanup(struct admin_request *r)
{
	if (r->cmd != NULL && r->cmd->cleanup != NULL)
		r->cmd->cleanup(r);
	r->ctx = NULL;
	r->cmd = NULL;
}

int
admin_parts_collect(struct admin_parts *ps, const char *name, const uint8_t *data,
    size_t len, char *err, size_t errlen)
{
	struct admin_part_buf *b = NULL;
	size_t i;

	for (i = 0; i < ADMIN_PARTS_MAX; i++)
		if (ps->p[i].name != NULL && strcmp(ps->p[i].name, name) == 0)
			b = &ps->p[i];
	if (b == NULL) {
		snprintf(err, errlen, "unexpected part '%s'", name);
		return -1;
	}
	if (len > b->cap - b->len) {
		snprintf(err, errlen, "part '%s' is larger than %zu bytes", name, b->cap);
		return -1;
	}
	if (b->data == NULL && (b->data = malloc(b->cap + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

const struct admin_part_buf *
admin_parts_get(const struct admin_parts *ps, const char *name)
{
	size_t i;

	for (i = 0; i < ADMIN_PARTS_MAX; i++)
		if (ps->p[i].name != NULL && strcmp(ps->p[i].name, name) == 0)
			return ps->p[i].data != NULL ? &ps->p[i] : NULL;
	return NULL;
}

void
admin_parts_free(struct admin_parts *ps)
{
	size_t i;

	for (i = 0; i < ADMIN_PARTS_MAX; i++) {
		if (ps->p[i].data != NULL) {
			mbedtls_platform_zeroize(ps->p[i].data, ps->p[i].len);
			free(ps->p[i].data);
		}
		ps->p[i].data = NULL;
		ps->p[i].len = 0;
	}
}

char *
admin_answer(struct admin_request *r, const char *result, const char *error,
    const char *const *kv, size_t *outlen)
{
	yajl_gen g;

	r->outcome = result;
	if (error != NULL)
		snprintf(r->error, sizeof(r->error), "%s", error);
	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return NULL;
	yajl_gen_map_open(g);
	yajl_gen_string(g, (const unsigned char *)"result", 6);
	yajl_gen_string(g, (const unsigned char *)result, strlen(result));
	if (error != NULL) {
		yajl_gen_string(g, (const unsigned char *)"error", 5);
		yajl_gen_string(g, (const unsigned char *)error, strlen(error));
	}
	for (; kv != NULL && kv[0] != NULL; kv += 2) {
		yajl_gen_string(g, (const unsigned char *)kv[0], strlen(kv[0]));
		yajl_gen_string(g, (const unsigned char *)kv[1], strlen(kv[1]));
	}
	yajl_gen_map_close(g);
	return json_gen_finish(g, outlen);
}
