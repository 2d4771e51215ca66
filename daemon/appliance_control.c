/* SPDX-License-Identifier: Apache-2.0 */
/*
 * appliance_control.c - the control protocol's "appliance ..." requests:
 * `xmpp-edge appliance status` and the steps of `appliance update`.
 *
 * Like every control request, each is one line in and one JSON answer
 * out; an update is a session of several requests:
 *
 *   appliance status
 *   appliance update-begin BASE64(BUNDLE HEADER)   -> token, slot, chunk_max
 *   appliance update-chunk TOKEN OFFSET BASE64(<= APPLIANCE_CHUNK_MAX bytes)
 *   appliance update-commit TOKEN                  -> the new boot entry
 *   appliance update-abort TOKEN
 *
 * Nothing in a request names a file: the ESP is where the appliance's
 * init mounted it ($XMPP_EDGE_ESP) and the target slot is always the one
 * that did not boot ($XMPP_EDGE_SLOT, from the kernel's xe.slot=).  One
 * session at a time; one idle for APPLIANCE_SESSION_IDLE_MS may be
 * replaced.  Any failed step ends the session and removes what it wrote.
 */
#include "appliance_update.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/base64.h>
#include <yajl/yajl_gen.h>

#include "admin_cmd.h"
#include "edge.h"
#include "json_gen.h"
#include "log.h"

#define APPLIANCE_ESP_ENV "XMPP_EDGE_ESP"
#define APPLIANCE_SLOT_ENV "XMPP_EDGE_SLOT"

struct appliance_session {
	struct appliance_writer *w;
	char token[APPLIANCE_TOKEN_HEX + 1];
	uint64_t last_ms;		/* uv_now() of the last request */
};

static const char *const slot_state_name[] = {
	[APPLIANCE_SLOT_EMPTY] = "empty",
	[APPLIANCE_SLOT_GOOD] = "good",
	[APPLIANCE_SLOT_TRIAL] = "trial",
	[APPLIANCE_SLOT_BAD] = "bad",
};

static char *
answer_failed(const char *what, const char *error, size_t *outlen)
{
	yajl_gen g = yajl_gen_alloc(NULL);

	if (g == NULL)
		return NULL;
	log_event(LOG_WARN, "appliance.request_failed", "request", what, "error", error, NULL);
	yajl_gen_map_open(g);
	json_gen_str(g, "result", "failed");
	json_gen_str(g, "error", error);
	yajl_gen_map_close(g);
	return json_gen_finish(g, outlen);
}

/* The slot that booted, one letter as a string for the JSON; 0 unknown. */
static char
booted_slot(void)
{
	const char *s = getenv(APPLIANCE_SLOT_ENV);

	return s != NULL && (strcmp(s, "a") == 0 || strcmp(s, "b") == 0) ? s[0] : 0;
}

static void
session_end(struct edge *edge)
{
	if (edge->appliance_update == NULL)
		return;
	appliance_writer_abort(edge->appliance_update->w);
	free(edge->appliance_update);
	edge->appliance_update = NULL;
}

void
appliance_control_close(struct edge *edge)
{
	if (edge->appliance_update != NULL)
		log_event(LOG_WARN, "appliance.update_aborted", "reason", "daemon exit", NULL);
	session_end(edge);
}

static char *
request_status(struct edge *edge, const char *esp, size_t *outlen)
{
	struct appliance_esp scan;
	char err[512], one[2] = { 0, 0 };
	yajl_gen g;
	int i;

	if (appliance_esp_scan(esp, booted_slot(), &scan, err, sizeof(err)) != 0)
		return answer_failed("status", err, outlen);
	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return NULL;
	yajl_gen_map_open(g);
	json_gen_str(g, "result", "ok");
	one[0] = scan.booted;
	json_gen_str(g, "booted", scan.booted ? one : NULL);
	one[0] = scan.next;
	json_gen_str(g, "next", scan.next ? one : NULL);
	yajl_gen_string(g, (const unsigned char *)"fell_back", 9);
	yajl_gen_bool(g, scan.fell_back);
	yajl_gen_string(g, (const unsigned char *)"update_in_progress", 18);
	if (edge->appliance_update == NULL) {
		yajl_gen_null(g);
	} else {
		const struct appliance_writer *w = edge->appliance_update->w;

		yajl_gen_map_open(g);
		one[0] = appliance_writer_slot(w);
		json_gen_str(g, "slot", one);
		json_gen_str(g, "version", appliance_writer_version(w));
		json_gen_int(g, "received", (long long)appliance_writer_received(w));
		json_gen_int(g, "expected", (long long)appliance_writer_expected(w));
		yajl_gen_map_close(g);
	}
	yajl_gen_string(g, (const unsigned char *)"slots", 5);
	yajl_gen_array_open(g);
	for (i = 0; i < APPLIANCE_SLOTS; i++) {
		const struct appliance_slot *s = &scan.slot[i];

		yajl_gen_map_open(g);
		one[0] = s->name;
		json_gen_str(g, "slot", one);
		json_gen_str(g, "state", slot_state_name[s->state]);
		json_gen_str(g, "entry", s->entry[0] ? s->entry : NULL);
		json_gen_int(g, "generation", s->generation);
		json_gen_str(g, "version", s->version[0] ? s->version : NULL);
		json_gen_str(g, "manifest_sha256", s->manifest_sha256[0] ? s->manifest_sha256 : NULL);
		yajl_gen_string(g, (const unsigned char *)"tries_left", 10);
		if (s->tries_left < 0)
			yajl_gen_null(g);
		else
			yajl_gen_integer(g, s->tries_left);
		yajl_gen_string(g, (const unsigned char *)"tries_done", 10);
		if (s->tries_done < 0)
			yajl_gen_null(g);
		else
			yajl_gen_integer(g, s->tries_done);
		yajl_gen_string(g, (const unsigned char *)"booted", 6);
		yajl_gen_bool(g, s->name == scan.booted);
		yajl_gen_map_close(g);
	}
	yajl_gen_array_close(g);
	yajl_gen_map_close(g);
	return json_gen_finish(g, outlen);
}

/* Constant-time comparison of the session token. */
static int
token_matches(const struct appliance_session *s, const char *tok, size_t len)
{
	unsigned char diff = 0;
	size_t i;

	if (len != APPLIANCE_TOKEN_HEX)
		return 0;
	for (i = 0; i < APPLIANCE_TOKEN_HEX; i++)
		diff |= (unsigned char)(s->token[i] ^ tok[i]);
	return diff == 0;
}

/* A new session writing the inactive slot (edge->appliance_update); 0, or
 * -1 with err.  An idle session is replaced, a live one refuses. */
static int
session_start(struct edge *edge, const char *esp, const char *header, size_t hlen,
    const char *origin, char *err, size_t errlen)
{
	unsigned char rnd[APPLIANCE_TOKEN_HEX / 2];
	struct appliance_session *s;
	char one[2] = { 0, 0 };

	if (edge->appliance_update != NULL) {
		if (uv_now(edge->loop) - edge->appliance_update->last_ms < APPLIANCE_SESSION_IDLE_MS) {
			snprintf(err, errlen, "another update is in progress");
			return -1;
		}
		log_event(LOG_WARN, "appliance.update_aborted", "reason", "idle, replaced", NULL);
		session_end(edge);
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		free(s);
		snprintf(err, errlen, "no randomness for a session token");
		return -1;
	}
	appliance_hex(rnd, sizeof(rnd), s->token);
	s->w = appliance_writer_begin(esp, booted_slot(), header, hlen, err, errlen);
	if (s->w == NULL) {
		free(s);
		return -1;
	}
	s->last_ms = uv_now(edge->loop);
	edge->appliance_update = s;
	one[0] = appliance_writer_slot(s->w);
	log_event(LOG_INFO, "appliance.update_begin", "slot", one, "version",
	    appliance_writer_version(s->w), "origin", origin, NULL);
	return 0;
}

static char *
request_begin(struct edge *edge, const char *esp, const char *b64, size_t *outlen)
{
	unsigned char header[APPLIANCE_BUNDLE_HEADER_MAX];
	struct appliance_session *s;
	char err[512], one[2] = { 0, 0 };
	size_t hlen = 0;
	yajl_gen g;

	if (mbedtls_base64_decode(header, sizeof(header), &hlen, (const unsigned char *)b64,
	    strlen(b64)) != 0)
		return answer_failed("update-begin", "the bundle header is not valid base64 of at "
		    "most 2048 bytes", outlen);
	if (session_start(edge, esp, (const char *)header, hlen, "socket", err, sizeof(err)) != 0)
		return answer_failed("update-begin", err, outlen);
	s = edge->appliance_update;
	one[0] = appliance_writer_slot(s->w);
	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return NULL;
	yajl_gen_map_open(g);
	json_gen_str(g, "result", "applied");
	json_gen_str(g, "token", s->token);
	json_gen_str(g, "slot", one);
	json_gen_int(g, "chunk_max", APPLIANCE_CHUNK_MAX);
	json_gen_int(g, "expected", (long long)appliance_writer_expected(s->w));
	yajl_gen_map_close(g);
	return json_gen_finish(g, outlen);
}

static char *
request_chunk(struct edge *edge, const char *args, size_t *outlen)
{
	unsigned char *data;
	const char *sp1, *sp2;
	char err[512], *end;
	unsigned long long offset;
	size_t n = 0;
	yajl_gen g;
	int rc;

	sp1 = strchr(args, ' ');
	sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
	if (sp2 == NULL)
		return answer_failed("update-chunk", "usage: update-chunk TOKEN OFFSET BASE64", outlen);
	if (edge->appliance_update == NULL ||
	    !token_matches(edge->appliance_update, args, (size_t)(sp1 - args)))
		return answer_failed("update-chunk", "no such update session", outlen);
	if (sp1[1] < '0' || sp1[1] > '9')
		return answer_failed("update-chunk", "bad offset", outlen);
	offset = strtoull(sp1 + 1, &end, 10);
	if (end != sp2)
		return answer_failed("update-chunk", "bad offset", outlen);
	data = malloc(APPLIANCE_CHUNK_MAX);
	if (data == NULL)
		return answer_failed("update-chunk", "out of memory", outlen);
	if (mbedtls_base64_decode(data, APPLIANCE_CHUNK_MAX, &n, (const unsigned char *)sp2 + 1,
	    strlen(sp2 + 1)) != 0) {
		free(data);
		session_end(edge);
		return answer_failed("update-chunk", "chunk is not valid base64 of at most "
		    "49152 bytes; update aborted", outlen);
	}
	rc = appliance_writer_write(edge->appliance_update->w, offset, data, n, err, sizeof(err));
	free(data);
	if (rc != 0) {
		session_end(edge);
		strncat(err, "; update aborted", sizeof(err) - strlen(err) - 1);
		return answer_failed("update-chunk", err, outlen);
	}
	edge->appliance_update->last_ms = uv_now(edge->loop);
	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return NULL;
	yajl_gen_map_open(g);
	json_gen_str(g, "result", "applied");
	json_gen_int(g, "received", (long long)appliance_writer_received(edge->appliance_update->w));
	yajl_gen_map_close(g);
	return json_gen_finish(g, outlen);
}

/* Ends the session with the writer's commit; the JSON answer. */
static char *
session_commit(struct edge *edge, size_t *outlen)
{
	char err[512], entry[APPLIANCE_ENTRY_NAME_MAX], version[APPLIANCE_BUNDLE_VERSION_MAX + 1];
	char one[2] = { 0, 0 };
	struct appliance_session *s = edge->appliance_update;
	yajl_gen g;
	int rc;

	one[0] = appliance_writer_slot(s->w);
	snprintf(version, sizeof(version), "%s", appliance_writer_version(s->w));
	/* The writer is freed by commit, whatever the outcome. */
	rc = appliance_writer_commit(s->w, entry, sizeof(entry), err, sizeof(err));
	s->w = NULL;
	free(s);
	edge->appliance_update = NULL;
	if (rc != 0)
		return answer_failed("update-commit", err, outlen);
	log_event(LOG_INFO, "appliance.update_installed", "slot", one, "version", version,
	    "entry", entry, NULL);
	if ((g = yajl_gen_alloc(NULL)) == NULL)
		return NULL;
	yajl_gen_map_open(g);
	json_gen_str(g, "result", "applied");
	json_gen_str(g, "slot", one);
	json_gen_str(g, "version", version);
	json_gen_str(g, "entry", entry);
	json_gen_int(g, "tries", APPLIANCE_TRIES);
	yajl_gen_map_close(g);
	return json_gen_finish(g, outlen);
}

static char *
request_commit(struct edge *edge, const char *tok, size_t *outlen)
{
	if (edge->appliance_update == NULL || !token_matches(edge->appliance_update, tok, strlen(tok)))
		return answer_failed("update-commit", "no such update session", outlen);
	return session_commit(edge, outlen);
}

/* The session's next payload bytes, cut to the writer's chunk bound; on
 * failure the session ends (its files removed). */
static int
session_write(struct edge *edge, const uint8_t *data, size_t len, char *err, size_t errlen)
{
	struct appliance_session *s = edge->appliance_update;
	size_t n;

	while (len > 0) {
		n = len < APPLIANCE_CHUNK_MAX ? len : APPLIANCE_CHUNK_MAX;
		if (appliance_writer_write(s->w, appliance_writer_received(s->w), data, n, err,
		    errlen) != 0) {
			session_end(edge);
			return -1;
		}
		data += n;
		len -= n;
	}
	s->last_ms = uv_now(edge->loop);
	return 0;
}

char *
appliance_control_request(struct edge *edge, const char *line, size_t *outlen)
{
	const char *esp = getenv(APPLIANCE_ESP_ENV), *args;

	/* line starts with "appliance " (control.c's table). */
	args = line + strlen("appliance ");
	if (esp == NULL || esp[0] != '/')
		return answer_failed("appliance", "not an appliance: this daemon was not started by "
		    "the appliance's init (no " APPLIANCE_ESP_ENV ")", outlen);
	if (strcmp(args, "status") == 0)
		return request_status(edge, esp, outlen);
	if (strncmp(args, "update-begin ", 13) == 0)
		return request_begin(edge, esp, args + 13, outlen);
	if (strncmp(args, "update-chunk ", 13) == 0)
		return request_chunk(edge, args + 13, outlen);
	if (strncmp(args, "update-commit ", 14) == 0)
		return request_commit(edge, args + 14, outlen);
	if (strncmp(args, "update-abort ", 13) == 0) {
		if (edge->appliance_update == NULL ||
		    !token_matches(edge->appliance_update, args + 13, strlen(args + 13)))
			return answer_failed("update-abort", "no such update session", outlen);
		log_event(LOG_INFO, "appliance.update_aborted", "reason", "client", NULL);
		session_end(edge);
		{
			static const char ok[] = "{\"result\":\"applied\"}\n";
			char *out = strdup(ok);

			*outlen = sizeof(ok) - 1;
			return out;
		}
	}
	return answer_failed("appliance", "unknown appliance request", outlen);
}

/* --- the admin listener (admin_cmd.h) ------------------------------------------ */

/*
 * `appliance update` over the admin listener: one request whose payload is
 * two parts, "header" (the bundle header, at most
 * APPLIANCE_BUNDLE_HEADER_MAX) then "image" (kernel and initramfs, as
 * the header announces), each arriving in admin_proto's chunks.  The first
 * image chunk starts the session (the same one the control socket's
 * update-begin makes, so the two channels exclude each other); run
 * commits it; cleanup aborts whatever was not committed.
 */
struct admin_update {
	char header[APPLIANCE_BUNDLE_HEADER_MAX];
	size_t header_len;
	struct appliance_session *session;	/* ours, while edge->appliance_update */
};

static int
admin_update_begin(struct admin_request *r, char *err, size_t errlen)
{
	const char *esp = getenv(APPLIANCE_ESP_ENV);

	if (esp == NULL || esp[0] != '/') {
		snprintf(err, errlen, "not an appliance: this daemon was not started by the "
		    "appliance's init (no " APPLIANCE_ESP_ENV ")");
		return -1;
	}
	r->ctx = calloc(1, sizeof(struct admin_update));
	if (r->ctx == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int
admin_update_part(struct admin_request *r, const char *name, const uint8_t *data, size_t len,
    char *err, size_t errlen)
{
	struct admin_update *u = r->ctx;

	if (strcmp(name, "header") == 0) {
		if (u->session != NULL || len > sizeof(u->header) - u->header_len) {
			snprintf(err, errlen, "the header part comes first and holds at most %d bytes",
			    APPLIANCE_BUNDLE_HEADER_MAX);
			return -1;
		}
		memcpy(u->header + u->header_len, data, len);
		u->header_len += len;
		return 0;
	}
	if (strcmp(name, "image") != 0) {
		snprintf(err, errlen, "unknown part '%s' (header, image)", name);
		return -1;
	}
	if (u->session == NULL) {
		if (session_start(r->edge, getenv(APPLIANCE_ESP_ENV), u->header, u->header_len,
		    "admin", err, errlen) != 0)
			return -1;
		u->session = r->edge->appliance_update;
	}
	if (r->edge->appliance_update != u->session) {
		snprintf(err, errlen, "the update session ended");
		return -1;
	}
	if (session_write(r->edge, data, len, err, errlen) != 0) {
		u->session = NULL;	/* ended, files removed */
		return -1;
	}
	return 0;
}

static char *
admin_update_run(struct admin_request *r, size_t *outlen)
{
	struct admin_update *u = r->ctx;
	char *out;

	if (u->session == NULL || r->edge->appliance_update != u->session) {
		r->outcome = "failed";
		snprintf(r->error, sizeof(r->error), "no image received");
		return answer_failed("update", r->error, outlen);
	}
	u->session = NULL;	/* commit ends it, whatever the outcome */
	out = session_commit(r->edge, outlen);
	r->outcome = out != NULL && strstr(out, "\"result\":\"applied\"") != NULL ? "applied" :
	    "failed";
	return out;
}

static void
admin_update_cleanup(struct admin_request *r)
{
	struct admin_update *u = r->ctx;

	if (u == NULL)
		return;
	if (u->session != NULL && r->edge->appliance_update == u->session) {
		log_event(LOG_WARN, "appliance.update_aborted", "reason", "admin request ended",
		    NULL);
		session_end(r->edge);
	}
	free(u);
	r->ctx = NULL;
}

const struct admin_command admin_cmd_appliance_update = {
	.name = "appliance update",
	.payload_max = APPLIANCE_BUNDLE_HEADER_MAX + 2 * APPLIANCE_BUNDLE_IMAGE_MAX,
	.begin = admin_update_begin,
	.part = admin_update_part,
	.run = admin_update_run,
	.cleanup = admin_update_cleanup,
};
