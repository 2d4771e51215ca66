/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin_cli.c - the command line's remote commands: `cert rotate|csr|pin
 * --remote ...` and `config push FILE --remote ...` (admin_client.c
 * carries them, admin_files.c runs them on the daemon).
 *
 *   cert rotate DOMAIN|internal --cert C [--key K] [--chain CH] REMOTE
 *       The files travel inside the channel; the daemon checks and
 *       installs them and reloads.  Then, as the local command does, the
 *       certificate served is read back over a real handshake (on the
 *       listener the daemon names; on the unspecified address it is
 *       reached at --remote's host; --read-back IP:PORT when only the
 *       operator knows the way, e.g. through NAT) and compared with the
 *       new leaf.
 *       Without --key the daemon uses the key `cert csr --remote` made.
 *   cert csr DOMAIN [--key-type ec|rsa] [--out CSR.pem] REMOTE
 *       The key is generated on the daemon and never leaves it.
 *   cert pin add|remove PIN|--from-cert F [--admin] REMOTE
 *       The gateway's pins, or with --admin the admin clients' pins.
 *   config push FILE REMOTE
 *       Checked as `check` does, installed (FILE.bak kept), reloaded.
 *
 * Exit status: 0 applied (and, for rotate, read back), 1 refused or
 * failed (the daemon's sentence on stderr), 2 usage.
 */
#include "cert_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/sha256.h>
#include <yajl/yajl_tree.h>

#include "admin_client.h"
#include "admin_proto.h"
#include "certops.h"
#include "tls.h"

#define ADMIN_CLI_PATH_MAX 1024

static const char *
admin_cli_str(yajl_val doc, const char *key)
{
	const char *path[] = { key, NULL };
	yajl_val v = yajl_tree_get(doc, path, yajl_t_string);

	return v != NULL ? YAJL_GET_STRING(v) : NULL;
}

/* Sends the request, parses the answer; the document when its result is
 * "applied", else NULL with the daemon's sentence printed. */
static yajl_val
admin_cli_call(const char *cmd, const struct admin_remote *r, const char *line,
    const struct admin_client_part *parts, size_t nparts, int payload)
{
	char err[2048], perr[256], *reply = NULL;
	const char *result, *error;
	yajl_val doc;
	size_t len;

	if (admin_client_request(r, line, parts, nparts, payload, &reply, &len, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "xmpp-edge %s: %s\n", cmd, err);
		return NULL;
	}
	doc = yajl_tree_parse(reply, perr, sizeof(perr));
	free(reply);
	if (doc == NULL) {
		fprintf(stderr, "xmpp-edge %s: the daemon's answer is not JSON: %s\n", cmd, perr);
		return NULL;
	}
	result = admin_cli_str(doc, "result");
	if (result != NULL && strcmp(result, "applied") == 0)
		return doc;
	error = admin_cli_str(doc, "error");
	fprintf(stderr, "xmpp-edge %s: %s by the daemon at %s: %s\n", cmd,
	    result != NULL ? result : "failed", r->addr, error != NULL ? error : "(no reason)");
	yajl_tree_free(doc);
	return NULL;
}

static int
admin_cli_read(const char *cmd, const char *path, size_t max, unsigned char **out, size_t *len)
{
	char err[ADMIN_CLI_PATH_MAX + 256];

	if (cert_read_file(path, max, out, len, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "xmpp-edge %s: refused, nothing sent: %s\n", cmd, err);
	return -1;
}

static double
admin_cli_ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* The host part of HOST:PORT / [V6]:PORT, for listeners on 0.0.0.0. */
static void
admin_cli_host(const char *addr, char *out, size_t cap)
{
	snprintf(out, cap, "%s", addr[0] == '[' ? addr + 1 : addr);
	*strchrnul(out, addr[0] == '[' ? ']' : ':') = '\0';
}

static int
admin_cli_rotate(const struct cert_args *a)
{
	struct admin_client_part parts[3];
	unsigned char *files[3] = { NULL, NULL, NULL }, sum[32];
	size_t lens[3] = { 0, 0, 0 }, n = 0, i, derlen = 0;
	const char *paths[3] = { a->cert, a->key, a->chain }, *names[3] = { "cert", "key", "chain" };
	const char *mode, *addr, *sni, *hash, *pin, *days;
	char line[ADMIN_LINE_MAX + 1], host[256], hex[65], err[1024];
	struct timespec t0;
	uint8_t *der = NULL;
	yajl_val doc = NULL;
	int rc = 1;

	if (a->npos != 2 || a->cert == NULL || a->offline || a->config || a->socket) {
		fprintf(stderr, "usage: xmpp-edge cert rotate DOMAIN|internal --cert NEW.pem "
		    "[--key NEW.key] [--chain CHAIN.pem] --remote HOST:PORT --admin-cert F "
		    "--admin-key F --remote-pin sha256/B64|--remote-ca F (no -c, --socket, "
		    "--offline: the daemon's own configuration decides)\n");
		return CERT_EXIT_USAGE;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < 3; i++) {
		if (paths[i] == NULL)
			continue;
		if (admin_cli_read("cert rotate", paths[i], TLS_CERT_FILE_MAX, &files[i],
		    &lens[i]) != 0)
			goto done;
		parts[n++] = (struct admin_client_part){ names[i], files[i], lens[i], -1 };
	}
	snprintf(line, sizeof(line), "cert rotate %s", a->pos[1]);
	if ((doc = admin_cli_call("cert rotate", &a->remote, line, parts, n, 1)) == NULL)
		goto done;
	mode = admin_cli_str(doc, "confirm_mode");
	addr = admin_cli_str(doc, "confirm_addr");
	sni = admin_cli_str(doc, "sni");
	hash = admin_cli_str(doc, "leaf_sha256");
	pin = admin_cli_str(doc, "pin");
	days = admin_cli_str(doc, "days_left");
	printf("%s: installed and reloaded by the daemon at %s (pin %s, %s days left; previous "
	    "files kept as .bak)\n", a->pos[1], a->remote.addr, pin ? pin : "?", days ? days : "?");
	if (mode == NULL || addr == NULL || sni == NULL || hash == NULL || mode[0] == '\0') {
		printf("%s: not read back: the daemon has no listener to read it from\n", a->pos[1]);
		rc = 0;
		goto done;
	}
	/* Read back, as the local command does: what new handshakes get. */
	admin_cli_host(a->remote.addr, host, sizeof(host));
	if (a->remote.read_back != NULL)
		addr = a->remote.read_back;	/* the operator knows the way in */
	if ((der = malloc(TLS_DER_MAX)) == NULL ||
	    cert_read_back(mode, addr, host, sni, der, TLS_DER_MAX, &derlen, err, sizeof(err)) != 0) {
		fprintf(stderr, "xmpp-edge cert rotate: not confirmed: %s\n",
		    der == NULL ? "out of memory" : err);
		goto done;
	}
	mbedtls_sha256(der, derlen, sum, 0);
	for (i = 0; i < sizeof(sum); i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
	if (strcmp(hex, hash) != 0) {
		fprintf(stderr, "xmpp-edge cert rotate: not confirmed: %s %s (SNI %s) serves "
		    "another certificate than the one installed\n", mode, addr, sni);
		goto done;
	}
	printf("%s: new certificate served over %s at %s (SNI %s), read back %.0f ms after "
	    "the command started\n", a->pos[1], mode, addr, sni, admin_cli_ms_since(&t0));
	rc = 0;
done:
	for (i = 0; i < 3; i++) {
		if (files[i] != NULL)
			explicit_bzero(files[i], lens[i]);	/* the key among them */
		free(files[i]);
	}
	free(der);
	if (doc != NULL)
		yajl_tree_free(doc);
	return rc;
}

static int
admin_cli_csr(const struct cert_args *a)
{
	char line[ADMIN_LINE_MAX + 1], err[ADMIN_CLI_PATH_MAX + 256];
	const char *csr, *key;
	yajl_val doc;
	int rc = 1;

	if (a->npos != 2 || a->key != NULL || a->new_key || a->force) {
		fprintf(stderr, "usage: xmpp-edge cert csr DOMAIN [--key-type ec|rsa] [--out "
		    "CSR.pem] --remote ... (the key is made on the daemon: no --key)\n");
		return CERT_EXIT_USAGE;
	}
	snprintf(line, sizeof(line), "cert csr %s %s", a->pos[1],
	    a->key_type != NULL ? a->key_type : "ec");
	if ((doc = admin_cli_call("cert csr", &a->remote, line, NULL, 0, 0)) == NULL)
		return 1;
	csr = admin_cli_str(doc, "csr");
	key = admin_cli_str(doc, "key");
	if (csr == NULL) {
		fprintf(stderr, "xmpp-edge cert csr: the daemon's answer has no CSR\n");
	} else if (a->out != NULL) {
		if (cert_write_atomic(a->out, (const unsigned char *)csr, strlen(csr), 0644, -1, -1,
		    err, sizeof(err)) != 0) {
			fprintf(stderr, "xmpp-edge cert csr: %s\n", err);
		} else {
			printf("%s: CSR written; its key stays on the daemon (%s) until `cert "
			    "rotate %s --cert SIGNED.pem --remote ...` puts it in service\n", a->out,
			    key ? key : "?", a->pos[1]);
			rc = 0;
		}
	} else {
		fputs(csr, stdout);
		rc = 0;
	}
	yajl_tree_free(doc);
	return rc;
}

static int
admin_cli_pin(const struct cert_args *a)
{
	char line[ADMIN_LINE_MAX + 1], err[ADMIN_CLI_PATH_MAX + 256], pin[TLS_PIN_B64_LEN + 1];
	const char *action = a->npos > 1 ? a->pos[1] : "";
	const char *accepted;
	yajl_val doc;

	if ((strcmp(action, "add") != 0 && strcmp(action, "remove") != 0) ||
	    (a->npos == 3) == (a->from_cert != NULL) || a->offline || a->config || a->socket) {
		fprintf(stderr, "usage: xmpp-edge cert pin add|remove PIN|--from-cert FILE "
		    "[--admin] --remote ...\n");
		return CERT_EXIT_USAGE;
	}
	if (a->from_cert != NULL) {
		if (tls_pin_of_cert_file(a->from_cert, pin, err, sizeof(err)) != 0) {
			fprintf(stderr, "xmpp-edge cert pin: %s\n", err);
			return 1;
		}
	} else {
		snprintf(pin, sizeof(pin), "%s", strncmp(a->pos[2], "sha256/", 7) == 0 ?
		    a->pos[2] + 7 : a->pos[2]);
	}
	snprintf(line, sizeof(line), "cert pin %s %s %s", action, a->admin ? "admin" : "gateway",
	    pin);
	if ((doc = admin_cli_call("cert pin", &a->remote, line, NULL, 0, 0)) == NULL)
		return 1;
	accepted = admin_cli_str(doc, "accepted");
	printf("%s pins at %s: %s %s; %s pin(s) accepted\n", a->admin ? "admin" : "gateway",
	    a->remote.addr, strcmp(action, "add") == 0 ? "accepts" : "no longer accepts", pin,
	    accepted != NULL ? accepted : "?");
	yajl_tree_free(doc);
	return 0;
}

int
cert_remote_main(const struct cert_args *a)
{
	if (strcmp(a->pos[0], "rotate") == 0)
		return admin_cli_rotate(a);
	if (strcmp(a->pos[0], "csr") == 0)
		return admin_cli_csr(a);
	return admin_cli_pin(a);
}

/* `config push FILE --remote ...` (argv: what follows "config"). */
int
admin_cli_config_main(int argc, char **argv)
{
	struct admin_remote r;
	struct admin_client_part part;
	const char *file = NULL;
	unsigned char *data = NULL;
	yajl_val doc;
	size_t len;
	int i, took;

	memset(&r, 0, sizeof(r));
	if (argc < 1 || strcmp(argv[0], "push") != 0) {
		fprintf(stderr, "usage: xmpp-edge config push FILE --remote ...\n");
		return CERT_EXIT_USAGE;
	}
	for (i = 1; i < argc; i++) {
		if ((took = admin_remote_take_opt(&r, "config push", argc, argv, &i)) < 0)
			return CERT_EXIT_USAGE;
		if (took)
			continue;
		if (argv[i][0] == '-' || file != NULL) {
			fprintf(stderr, "xmpp-edge config push: unexpected argument '%s'\n", argv[i]);
			return CERT_EXIT_USAGE;
		}
		file = argv[i];
	}
	if (admin_remote_check(&r, "config push") != 0)
		return CERT_EXIT_USAGE;
	if (file == NULL || r.addr == NULL) {
		fprintf(stderr, "usage: xmpp-edge config push FILE --remote HOST:PORT --admin-cert F "
		    "--admin-key F --remote-pin sha256/B64|--remote-ca F\n");
		return CERT_EXIT_USAGE;
	}
	if (admin_cli_read("config push", file, CONFIG_FILE_MAX_BYTES, &data, &len) != 0)
		return 1;
	part = (struct admin_client_part){ "config", data, len, -1 };
	doc = admin_cli_call("config push", &r, "config push", &part, 1, 1);
	free(data);
	if (doc == NULL)
		return 1;
	printf("%s: checked, installed as %s on the daemon at %s (previous file kept as .bak) "
	    "and applied; %s warning(s)\n", file, admin_cli_str(doc, "config") ?
	    admin_cli_str(doc, "config") : "?", r.addr, admin_cli_str(doc, "warnings") ?
	    admin_cli_str(doc, "warnings") : "0");
	yajl_tree_free(doc);
	return 0;
}
