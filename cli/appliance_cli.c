/* SPDX-License-Identifier: Apache-2.0 */
/*
 * appliance_cli.c - the client side of `xmpp-edge appliance status` and
 * `xmpp-edge appliance update BUNDLE`.
 *
 * update reads and checks the bundle's header locally (the same parser
 * as the daemon: a malformed or truncated file is refused before
 * anything is sent), then sends it with update-begin, the kernel and
 * initramfs in APPLIANCE_CHUNK_MAX pieces with update-chunk (each the
 * next offset; the daemon refuses any other), and update-commit, whose
 * answer comes after the daemon has fsync'd, re-read and hashed both
 * files and installed the boot entry.  A failure at any step sends
 * update-abort, so the inactive slot is left without a boot entry rather
 * than half-written.  The protocol is appliance_control.c's.
 */
#include "appliance_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mbedtls/base64.h>
#include <mbedtls/sha256.h>
#include <yajl/yajl_tree.h>

#include "admin_client.h"
#include "appliance_bundle.h"
#include "appliance_update.h"
#include "control.h"
#include "edge.h"

#define APPLIANCE_REPLY_MAX (16 * 1024)
#define APPLIANCE_STEP_TIMEOUT_MS 10000
/* The commit fsyncs and re-reads up to 128 MiB from the ESP. */
#define APPLIANCE_COMMIT_TIMEOUT_MS 300000

static const char *
jstr(yajl_val v, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val s = v != NULL ? yajl_tree_get(v, path, yajl_t_string) : NULL;

	return s != NULL ? YAJL_GET_STRING(s) : NULL;
}

static long long
jint(yajl_val v, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val n = v != NULL ? yajl_tree_get(v, path, yajl_t_number) : NULL;

	return n != NULL && YAJL_IS_INTEGER(n) ? YAJL_GET_INTEGER(n) : -1;
}

static int
jtrue(yajl_val v, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val b = v != NULL ? yajl_tree_get(v, path, yajl_t_any) : NULL;

	return b != NULL && YAJL_IS_TRUE(b);
}

static yajl_val request_parts(const struct appliance_target *t, const char *command,
    const struct admin_client_part *parts, size_t nparts, int timeout_ms, const char *want,
    int raw);

/* One request; the parsed answer (caller frees), or NULL with the reason
 * printed.  An answer whose "result" is not want is printed as an error.
 * With raw, the answer's text is printed to stdout as well. */
static yajl_val
request(const struct appliance_target *t, const char *command, int timeout_ms, const char *want,
    int raw)
{
	return request_parts(t, command, NULL, 0, timeout_ms, want, raw);
}

/* The same with a payload (admin listener only: the control socket takes
 * the update as a session of chunk requests instead). */
static yajl_val
request_parts(const struct appliance_target *t, const char *command,
    const struct admin_client_part *parts, size_t nparts, int timeout_ms, const char *want,
    int raw)
{
	char *reply = NULL, err[CONFIG_PATH_MAX + 256], perr[128];
	yajl_val doc = NULL;
	const char *result, *error;
	size_t reply_len;
	int rc;

	if (t->remote != NULL) {
		rc = admin_client_request(t->remote, command, parts, nparts, nparts > 0, &reply,
		    &reply_len, err, sizeof(err));
	} else {
		reply = malloc(APPLIANCE_REPLY_MAX);
		if (reply == NULL) {
			fprintf(stderr, "xmpp-edge appliance: out of memory\n");
			return NULL;
		}
		rc = control_client_request_timeout(t->socket, command, reply, APPLIANCE_REPLY_MAX,
		    timeout_ms, err, sizeof(err));
	}
	if (rc != 0) {
		fprintf(stderr, "xmpp-edge appliance: %s\n", err);
		goto done;
	}
	doc = yajl_tree_parse(reply, perr, sizeof(perr));
	if (doc == NULL) {
		fprintf(stderr, "xmpp-edge appliance: the daemon's answer is not JSON: %s\n", perr);
		goto done;
	}
	if (raw)
		fputs(reply, stdout);
	result = jstr(doc, "result");
	if (result == NULL || strcmp(result, want) != 0) {
		error = jstr(doc, "error");
		fprintf(stderr, "xmpp-edge appliance: %s\n", error != NULL ? error :
		    "the daemon does not know appliance requests (an older version?)");
		yajl_tree_free(doc);
		doc = NULL;
	}
done:
	free(reply);
	return doc;
}

int
appliance_cli_status(const struct appliance_target *t, int json)
{
	const char *path[] = { "slots", NULL };
	yajl_val doc, slots;
	size_t i;

	doc = request(t, "appliance status", APPLIANCE_STEP_TIMEOUT_MS, "ok", json);
	if (doc == NULL)
		return 1;
	if (json) {
		yajl_tree_free(doc);
		return 0;
	}
	printf("booted slot: %s\nnext boot: %s\nlast update fell back: %s\n",
	    jstr(doc, "booted") ? jstr(doc, "booted") : "unknown",
	    jstr(doc, "next") ? jstr(doc, "next") : "none",
	    jtrue(doc, "fell_back") ? "yes" : "no");
	slots = yajl_tree_get(doc, path, yajl_t_array);
	for (i = 0; slots != NULL && i < YAJL_GET_ARRAY(slots)->len; i++) {
		yajl_val s = YAJL_GET_ARRAY(slots)->values[i];
		long long left = jint(s, "tries_left"), done = jint(s, "tries_done");
		const char *name = jstr(s, "slot"), *state = jstr(s, "state"),
		    *version = jstr(s, "version");

		printf("slot %s: %-5s version %-20s generation %lld", name ? name : "?",
		    state ? state : "?", version ? version : "-", jint(s, "generation"));
		if (left >= 0)
			printf("  tries left %lld, done %lld", left, done);
		printf("%s\n", jtrue(s, "booted") ? "  (booted)" : "");
	}
	yajl_tree_free(doc);
	return 0;
}

static void
print_installed(yajl_val doc)
{
	const char *version = jstr(doc, "version"), *slot = jstr(doc, "slot"),
	    *entry = jstr(doc, "entry");

	printf("installed version %s in slot %s: boot entry %s with %lld tries; it boots at the "
	    "next restart and falls back to the running slot unless the daemon gets ready\n",
	    version ? version : "?", slot ? slot : "?", entry ? entry : "?", jint(doc, "tries"));
}

/* Reads the whole bundle into memory: at most header + 2 * 64 MiB. */
static char *
bundle_read(const char *path, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	FILE *f;

	f = fopen(path, "rb");
	if (f == NULL || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "xmpp-edge appliance update: %s: %s\n", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size >
	    APPLIANCE_BUNDLE_HEADER_MAX + 2 * APPLIANCE_BUNDLE_IMAGE_MAX) {
		fprintf(stderr, "xmpp-edge appliance update: %s: not a regular file of at most "
		    "%llu bytes\n", path,
		    (unsigned long long)(APPLIANCE_BUNDLE_HEADER_MAX + 2 * APPLIANCE_BUNDLE_IMAGE_MAX));
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		fprintf(stderr, "xmpp-edge appliance update: cannot read %s\n", path);
		free(buf);
		buf = NULL;
		goto fail;
	}
	*len = (size_t)st.st_size;
fail:
	if (f != NULL)
		fclose(f);
	return buf;
}

/* Checks the whole bundle locally: header, size and both SHA-256. */
static int
bundle_check(const char *path, const char *buf, size_t len, struct appliance_bundle *b)
{
	char err[256], hex[APPLIANCE_SHA256_HEX + 1];
	unsigned char digest[32];
	const char *p;
	int i;

	if (appliance_bundle_parse(buf, len, b, err, sizeof(err)) != APPLIANCE_BUNDLE_OK) {
		fprintf(stderr, "xmpp-edge appliance update: %s: %s\n", path,
		    len < APPLIANCE_BUNDLE_HEADER_MAX && err[0] == '\0' ? "truncated header" : err);
		return -1;
	}
	if (len - b->header_len != appliance_bundle_payload(b)) {
		fprintf(stderr, "xmpp-edge appliance update: %s: %zu bytes after the header, the "
		    "manifest announces %llu\n", path, len - b->header_len,
		    (unsigned long long)appliance_bundle_payload(b));
		return -1;
	}
	p = buf + b->header_len;
	for (i = 0; i < APPLIANCE_PART_COUNT; i++) {
		if (mbedtls_sha256((const unsigned char *)p, b->size[i], digest, 0) != 0)
			return -1;
		appliance_hex(digest, 32, hex);
		if (strcmp(hex, b->sha256[i]) != 0) {
			fprintf(stderr, "xmpp-edge appliance update: %s: %s SHA-256 is %s, the "
			    "manifest says %s\n", path, i == 0 ? "kernel" : "initrd", hex,
			    b->sha256[i]);
			return -1;
		}
		p += b->size[i];
	}
	return 0;
}

/* Over the admin listener: one request whose payload is the header and
 * the images as two parts (admin_proto.h frames them in chunks). */
static int
update_remote(const struct appliance_target *t, const char *buf, const struct appliance_bundle *b,
    int quiet)
{
	struct admin_client_part parts[2] = {
		{ "header", (const uint8_t *)buf, b->header_len, -1 },
		{ "image", (const uint8_t *)buf + b->header_len, (size_t)appliance_bundle_payload(b), -1 },
	};
	yajl_val doc;

	doc = request_parts(t, "appliance update", parts, 2, APPLIANCE_COMMIT_TIMEOUT_MS, "applied",
	    0);
	if (doc == NULL)
		return 1;
	if (!quiet)
		print_installed(doc);
	yajl_tree_free(doc);
	return 0;
}

int
appliance_cli_update(const struct appliance_target *t, const char *path, int quiet)
{
	struct appliance_bundle b;
	char *buf, *line = NULL, token[APPLIANCE_TOKEN_HEX + 1], slot[2] = "?", hex[65];
	unsigned char digest[32];
	size_t len, off, n, olen, linecap;
	yajl_val doc;
	int rc = 1;

	buf = bundle_read(path, &len);
	if (buf == NULL)
		return 1;
	if (bundle_check(path, buf, len, &b) != 0)
		goto done;
	(void)mbedtls_sha256((const unsigned char *)buf, b.header_len, digest, 0);
	appliance_hex(digest, 32, hex);
	if (t->remote != NULL) {
		if (!quiet)
			printf("sending %s (version %s, manifest SHA-256 %s) to %s: %llu bytes\n",
			    path, b.version, hex, t->remote->addr,
			    (unsigned long long)appliance_bundle_payload(&b));
		rc = update_remote(t, buf, &b, quiet);
		goto done;
	}
	linecap = 64 + APPLIANCE_TOKEN_HEX + APPLIANCE_CHUNK_MAX / 3 * 4 + 8;
	line = malloc(linecap);
	if (line == NULL)
		goto done;
	off = (size_t)snprintf(line, linecap, "appliance update-begin ");
	if (mbedtls_base64_encode((unsigned char *)line + off, linecap - off, &olen,
	    (const unsigned char *)buf, b.header_len) != 0)
		goto done;
	doc = request(t, line, APPLIANCE_STEP_TIMEOUT_MS, "applied", 0);
	if (doc == NULL)
		goto done;
	snprintf(token, sizeof(token), "%s", jstr(doc, "token") ? jstr(doc, "token") : "");
	snprintf(slot, sizeof(slot), "%s", jstr(doc, "slot") ? jstr(doc, "slot") : "?");
	yajl_tree_free(doc);
	if (strlen(token) != APPLIANCE_TOKEN_HEX) {
		fprintf(stderr, "xmpp-edge appliance update: the daemon gave no session token\n");
		goto done;
	}
	if (!quiet)
		printf("sending %s (version %s, manifest SHA-256 %s) to slot %s: %llu bytes\n",
		    path, b.version, hex, slot, (unsigned long long)appliance_bundle_payload(&b));
	for (off = 0; off < appliance_bundle_payload(&b); off += n) {
		size_t head;

		n = appliance_bundle_payload(&b) - off;
		if (n > APPLIANCE_CHUNK_MAX)
			n = APPLIANCE_CHUNK_MAX;
		head = (size_t)snprintf(line, linecap, "appliance update-chunk %s %zu ", token, off);
		if (mbedtls_base64_encode((unsigned char *)line + head, linecap - head, &olen,
		    (const unsigned char *)buf + b.header_len + off, n) != 0)
			goto abort;
		doc = request(t, line, APPLIANCE_STEP_TIMEOUT_MS, "applied", 0);
		if (doc == NULL)
			goto done;	/* a refused chunk ended the session */
		yajl_tree_free(doc);
	}
	snprintf(line, linecap, "appliance update-commit %s", token);
	doc = request(t, line, APPLIANCE_COMMIT_TIMEOUT_MS, "applied", 0);
	if (doc == NULL)
		goto done;
	if (!quiet)
		print_installed(doc);
	yajl_tree_free(doc);
	rc = 0;
	goto done;
abort:
	snprintf(line, linecap, "appliance update-abort %s", token);
	doc = request(t, line, APPLIANCE_STEP_TIMEOUT_MS, "applied", 0);
	yajl_tree_free(doc);
done:
	free(line);
	free(buf);
	return rc;
}
