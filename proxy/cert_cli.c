/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cert_cli.c - `xmpp-edge cert`: the operator's certificate commands.
 *
 *   cert status  [-c FILE] [--json] [--warn-days N]        cert_status.c
 *   cert rotate  DOMAIN|internal --cert F --key F [--chain F] [-c FILE]
 *                [--offline]                              cert_rotate.c
 *   cert rotate  [-c FILE | --socket PATH]   reload only (as SIGHUP)
 *   cert pin     list | add PIN | add --from-cert F | remove PIN
 *                [-c FILE] [--offline]                    cert_pin.c
 *   cert selfsign DOMAIN --cert OUT --key OUT [--days N] [--key-type ec|rsa]
 *                [--force]                                here
 *   cert csr     DOMAIN --key KEY [--out CSR] [--new-key] [--key-type ec|rsa]
 *                                                         here
 *
 * This file parses the arguments (strictly: an option a subcommand does
 * not take is a usage error, exit 2) and holds what the subcommands
 * share: loading the configuration, finding the control socket, asking
 * the daemon to reload, reading and atomically writing files.
 */
#include "cert_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cert_install.h"
#include "certops.h"
#include "default_config.h"
#include "edge.h"
#include "tls.h"

#define CERT_SELFSIGN_DAYS_DEFAULT 365
#define CERT_SELFSIGN_DAYS_MAX 3650
#define CERT_CSR_PEM_MAX 8192
#define CERT_REPLY_MAX 4096

struct cert_opt_def {
	const char *name;
	unsigned opt;
	int takes_value;
};

static const struct cert_opt_def cert_opts[] = {
	{ "-c", CERT_OPT_CONFIG, 1 }, { "--config", CERT_OPT_CONFIG, 1 },
	{ "--socket", CERT_OPT_SOCKET, 1 }, { "--json", CERT_OPT_JSON, 0 },
	{ "--warn-days", CERT_OPT_WARN_DAYS, 1 }, { "--cert", CERT_OPT_CERT, 1 },
	{ "--key", CERT_OPT_KEY, 1 }, { "--chain", CERT_OPT_CHAIN, 1 },
	{ "--out", CERT_OPT_OUT, 1 }, { "--new-key", CERT_OPT_NEW_KEY, 0 },
	{ "--key-type", CERT_OPT_KEY_TYPE, 1 }, { "--days", CERT_OPT_DAYS, 1 },
	{ "--from-cert", CERT_OPT_FROM_CERT, 1 }, { "--offline", CERT_OPT_OFFLINE, 0 },
	{ "--force", CERT_OPT_FORCE, 0 }, { "--quiet", CERT_OPT_QUIET, 0 },
	{ "-q", CERT_OPT_QUIET, 0 }, { "--admin", CERT_OPT_ADMIN, 0 },
	{ NULL, 0, 0 }
};

static int
cert_parse_long(const char *cmd, const char *opt, const char *v, long lo, long hi,
    long *out)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < lo || n > hi) {
		fprintf(stderr, "xmpp-edge cert %s: %s must be a number from %ld to %ld "
		    "(got '%s')\n", cmd, opt, lo, hi, v);
		return -1;
	}
	*out = n;
	return 0;
}

/* argv: what follows the subcommand.  -1 on a usage error (reported). */
static int
cert_parse_args(const char *cmd, int argc, char **argv, unsigned allowed,
    size_t max_pos, struct cert_args *a)
{
	int i;

	for (i = 0; i < argc; i++) {
		const struct cert_opt_def *d;
		const char *v = NULL;
		int took;

		if ((allowed & CERT_OPT_REMOTE) &&
		    (took = admin_remote_take_opt(&a->remote, cmd, argc, argv, &i)) != 0) {
			if (took < 0)
				return -1;
			continue;
		}
		for (d = cert_opts; d->name != NULL; d++)
			if (strcmp(argv[i], d->name) == 0)
				break;
		if (d->name == NULL) {
			if (argv[i][0] == '-' || a->npos >= max_pos) {
				fprintf(stderr, "xmpp-edge cert %s: unexpected argument '%s'\n",
				    cmd, argv[i]);
				return -1;
			}
			a->pos[a->npos++] = argv[i];
			continue;
		}
		if (!(allowed & d->opt)) {
			fprintf(stderr, "xmpp-edge cert %s: %s does not apply here\n",
			    cmd, d->name);
			return -1;
		}
		if (d->takes_value) {
			if (i + 1 >= argc || argv[i + 1][0] == '\0') {
				fprintf(stderr, "xmpp-edge cert %s: %s needs a value\n",
				    cmd, d->name);
				return -1;
			}
			v = argv[++i];
		}
		switch (d->opt) {
		case CERT_OPT_CONFIG: a->config = v; break;
		case CERT_OPT_SOCKET: a->socket = v; break;
		case CERT_OPT_JSON: a->json = 1; break;
		case CERT_OPT_CERT: a->cert = v; break;
		case CERT_OPT_KEY: a->key = v; break;
		case CERT_OPT_CHAIN: a->chain = v; break;
		case CERT_OPT_OUT: a->out = v; break;
		case CERT_OPT_NEW_KEY: a->new_key = 1; break;
		case CERT_OPT_KEY_TYPE: a->key_type = v; break;
		case CERT_OPT_FROM_CERT: a->from_cert = v; break;
		case CERT_OPT_OFFLINE: a->offline = 1; break;
		case CERT_OPT_FORCE: a->force = 1; break;
		case CERT_OPT_QUIET: a->quiet = 1; break;
		case CERT_OPT_ADMIN: a->admin = 1; break;
		case CERT_OPT_WARN_DAYS:
			if (cert_parse_long(cmd, d->name, v, 0, 3650, &a->warn_days) < 0)
				return -1;
			break;
		case CERT_OPT_DAYS:
			if (cert_parse_long(cmd, d->name, v, 1, CERT_SELFSIGN_DAYS_MAX,
			    &a->days) < 0)
				return -1;
			break;
		}
	}
	if (a->key_type != NULL && strcmp(a->key_type, "ec") != 0 &&
	    strcmp(a->key_type, "rsa") != 0) {
		fprintf(stderr, "xmpp-edge cert %s: --key-type is ec or rsa (got '%s')\n",
		    cmd, a->key_type);
		return -1;
	}
	return admin_remote_check(&a->remote, cmd);
}

struct config *
cert_load_config(const struct cert_args *a)
{
	char err[CONFIG_ERR_MAX];
	struct config *cfg;

	/* Files are not checked here: a broken installed certificate is
	 * what `status` reports and `rotate` replaces. */
	if (a->config != NULL)
		cfg = config_load_file(a->config, 0, err, sizeof(err));
	else
		cfg = default_config_load(NULL, 0, err, sizeof(err));
	if (cfg == NULL)
		fprintf(stderr, "%s\n", err);
	return cfg;
}

void
cert_control_path(const struct cert_args *a, const struct config *cfg, char *out,
    size_t cap)
{
	if (a->socket != NULL)
		snprintf(out, cap, "%s", a->socket);
	else if (cfg->listen.control[0])
		snprintf(out, cap, "%s", cfg->listen.control);
	else
		snprintf(out, cap, "%s/control.sock", cfg->state_dir);
}

int
cert_daemon_reload(const char *socket_path, char *err, size_t errlen)
{
	char reply[CERT_REPLY_MAX], *e;
	size_t n;

	if (control_client_request(socket_path, "reload", reply, sizeof(reply), err,
	    errlen) < 0)
		return -1;
	if (strstr(reply, "\"result\":\"applied\"") != NULL)
		return 0;
	/* {"result":"failed","error":"..."}: show the error as it is. */
	n = strlen(reply);
	while (n > 0 && (reply[n - 1] == '\n' || reply[n - 1] == '\r'))
		reply[--n] = '\0';
	e = strstr(reply, "\"error\":");
	snprintf(err, errlen, "the daemon refused to reload: %s", e != NULL ? e + 8 : reply);
	return -1;
}

int
cert_read_file(const char *path, size_t max, unsigned char **out, size_t *len,
    char *err, size_t errlen)
{
	return cert_install_read(path, max, out, len, err, errlen);
}

int
cert_write_atomic(const char *path, const unsigned char *data, size_t len,
    unsigned mode, int uid, int gid, char *err, size_t errlen)
{
	return tls_file_write_atomic_owned(path, data, len, mode, uid, gid, err, errlen);
}

/* `cert selfsign DOMAIN --cert OUT --key OUT [--days N] [--key-type]`:
 * the names an XMPP server certificate carries (RFC 6120 §13.7.1.2):
 * dNSName, SRVName _xmpp-server.DOMAIN and XmppAddr. */
static int
cert_selfsign_main(const struct cert_args *a)
{
	char norm[TLS_DOMAIN_MAX + 1], srv[TLS_DOMAIN_MAX + 16], err[1024];
	struct tls_certgen spec;
	struct tls_certinfo *info;
	struct stat st;
	time_t now = time(NULL);
	int rc = 1;

	if (a->npos != 2 || a->cert == NULL || a->key == NULL) {
		fprintf(stderr, "usage: xmpp-edge cert selfsign DOMAIN --cert OUT.pem "
		    "--key OUT.key [--days N] [--key-type ec|rsa] [--force]\n");
		return CERT_EXIT_USAGE;
	}
	if (tls_identity_normalize(a->pos[1], norm, sizeof(norm)) != 0) {
		fprintf(stderr, "xmpp-edge cert selfsign: '%s' is not a domain name\n",
		    a->pos[1]);
		return CERT_EXIT_USAGE;
	}
	if (!a->force && (stat(a->cert, &st) == 0 || stat(a->key, &st) == 0)) {
		fprintf(stderr, "xmpp-edge cert selfsign: %s exists; --force replaces it\n",
		    stat(a->cert, &st) == 0 ? a->cert : a->key);
		return 1;
	}
	memset(&spec, 0, sizeof(spec));
	snprintf(srv, sizeof(srv), "_xmpp-server.%s", norm);
	spec.subject_cn = norm;
	spec.dns_names[0] = norm;
	spec.srv_names[0] = srv;
	spec.xmpp_addrs[0] = norm;
	spec.not_before = now - 3600;	/* clocks of peers differ */
	spec.not_after = now + (a->days ? a->days : CERT_SELFSIGN_DAYS_DEFAULT) * 86400L;
	spec.key_type = a->key_type != NULL && strcmp(a->key_type, "rsa") == 0 ?
	    TLS_KEY_RSA_3072 : TLS_KEY_EC_P256;
	if (tls_certgen_create(&spec, a->cert, a->key, err, sizeof(err)) != 0) {
		fprintf(stderr, "xmpp-edge cert selfsign: %s\n", err);
		return 1;
	}
	if ((info = calloc(1, sizeof(*info))) != NULL &&
	    tls_certinfo_load(a->cert, info, err, sizeof(err)) == 0) {
		printf("%s: self-signed certificate for %s (%s), %ld days\n", a->cert,
		    norm, info->key_type, tls_certinfo_days_left(info->not_after, now));
		printf("%s: private key, mode 0600\n", a->key);
		printf("pin: %s\n", info->pin);
		rc = 0;
	} else {
		fprintf(stderr, "xmpp-edge cert selfsign: %s\n", info ? err : "out of memory");
	}
	free(info);
	return rc;
}

/* `cert csr DOMAIN --key KEY [--out CSR] [--new-key] [--key-type]`. */
static int
cert_csr_main(const struct cert_args *a)
{
	char pem[CERT_CSR_PEM_MAX], err[1024];
	struct stat st;
	enum tls_key_type kt;

	if (a->npos != 2 || a->key == NULL) {
		fprintf(stderr, "usage: xmpp-edge cert csr DOMAIN --key KEY.pem "
		    "[--out CSR.pem] [--new-key [--key-type ec|rsa]]\n");
		return CERT_EXIT_USAGE;
	}
	if (a->key_type != NULL && !a->new_key) {
		fprintf(stderr, "xmpp-edge cert csr: --key-type applies with --new-key\n");
		return CERT_EXIT_USAGE;
	}
	if (a->out != NULL && !a->force && stat(a->out, &st) == 0) {
		fprintf(stderr, "xmpp-edge cert csr: %s exists; --force replaces it\n", a->out);
		return 1;
	}
	kt = a->key_type != NULL && strcmp(a->key_type, "rsa") == 0 ?
	    TLS_KEY_RSA_3072 : TLS_KEY_EC_P256;
	if (tls_csr_create(a->pos[1], a->key, a->new_key, kt, pem, sizeof(pem), err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "xmpp-edge cert csr: %s\n", err);
		return 1;
	}
	if (a->out == NULL) {
		fputs(pem, stdout);
		return 0;
	}
	if (cert_write_atomic(a->out, (const unsigned char *)pem, strlen(pem), 0644, -1,
	    -1, err, sizeof(err)) != 0) {
		fprintf(stderr, "xmpp-edge cert csr: %s\n", err);
		return 1;
	}
	if (a->new_key)
		printf("%s: new private key, mode 0600\n", a->key);
	printf("%s: certificate signing request for %s\n", a->out, a->pos[1]);
	return 0;
}

int
cert_cli_main(int argc, char **argv)
{
	struct cert_args a;
	const char *sub = argc > 0 ? argv[0] : "";
	unsigned allowed;
	size_t max_pos;
	int (*run)(const struct cert_args *);

	memset(&a, 0, sizeof(a));
	a.warn_days = -1;
	if (strcmp(sub, "status") == 0) {
		allowed = CERT_OPT_CONFIG | CERT_OPT_JSON | CERT_OPT_WARN_DAYS;
		max_pos = 1;
		run = cert_status_main;
	} else if (strcmp(sub, "rotate") == 0) {
		allowed = CERT_OPT_CONFIG | CERT_OPT_SOCKET | CERT_OPT_CERT |
		    CERT_OPT_KEY | CERT_OPT_CHAIN | CERT_OPT_OFFLINE | CERT_OPT_QUIET |
		    CERT_OPT_REMOTE;
		max_pos = 2;
		run = cert_rotate_main;
	} else if (strcmp(sub, "pin") == 0) {
		allowed = CERT_OPT_CONFIG | CERT_OPT_SOCKET | CERT_OPT_FROM_CERT |
		    CERT_OPT_OFFLINE | CERT_OPT_REMOTE | CERT_OPT_ADMIN;
		max_pos = 3;
		run = cert_pin_main;
	} else if (strcmp(sub, "selfsign") == 0) {
		allowed = CERT_OPT_CERT | CERT_OPT_KEY | CERT_OPT_DAYS |
		    CERT_OPT_KEY_TYPE | CERT_OPT_FORCE;
		max_pos = 2;
		run = cert_selfsign_main;
	} else if (strcmp(sub, "csr") == 0) {
		allowed = CERT_OPT_KEY | CERT_OPT_OUT | CERT_OPT_NEW_KEY |
		    CERT_OPT_KEY_TYPE | CERT_OPT_FORCE | CERT_OPT_REMOTE;
		max_pos = 2;
		run = cert_csr_main;
	} else {
		fprintf(stderr, "xmpp-edge cert: unknown subcommand '%s' (status, rotate, "
		    "pin, selfsign, csr; see xmpp-edge help)\n", sub);
		return CERT_EXIT_USAGE;
	}
	if (cert_parse_args(sub, argc - 1, argv + 1, allowed, max_pos - 1, &a) < 0)
		return CERT_EXIT_USAGE;
	/* pos[0] is the subcommand itself. */
	memmove(&a.pos[1], &a.pos[0], a.npos * sizeof(a.pos[0]));
	a.pos[0] = sub;
	a.npos++;
	if (a.remote.addr != NULL)
		return cert_remote_main(&a);
	return run(&a);
}
