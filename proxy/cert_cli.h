/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cert_cli.h - the `xmpp-edge cert` commands, internal to their files:
 * cert_cli.c (arguments, dispatch, selfsign, csr, shared helpers),
 * cert_status.c, cert_rotate.c, cert_pin.c.
 */
#ifndef XE_CERT_CLI_H
#define XE_CERT_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "admin_client.h"
#include "config.h"

#define CERT_EXIT_USAGE 2
#define CERT_POS_MAX 3

/* Options; which are allowed depends on the subcommand (cert_cli.c). */
enum cert_opt {
	CERT_OPT_CONFIG = 1 << 0,	/* -c FILE */
	CERT_OPT_SOCKET = 1 << 1,	/* --socket PATH */
	CERT_OPT_JSON = 1 << 2,		/* --json */
	CERT_OPT_WARN_DAYS = 1 << 3,	/* --warn-days N */
	CERT_OPT_CERT = 1 << 4,		/* --cert FILE */
	CERT_OPT_KEY = 1 << 5,		/* --key FILE */
	CERT_OPT_CHAIN = 1 << 6,	/* --chain FILE */
	CERT_OPT_OUT = 1 << 7,		/* --out FILE */
	CERT_OPT_NEW_KEY = 1 << 8,	/* --new-key */
	CERT_OPT_KEY_TYPE = 1 << 9,	/* --key-type ec|rsa */
	CERT_OPT_DAYS = 1 << 10,	/* --days N */
	CERT_OPT_FROM_CERT = 1 << 11,	/* --from-cert FILE */
	CERT_OPT_OFFLINE = 1 << 12,	/* --offline */
	CERT_OPT_FORCE = 1 << 13,	/* --force */
	CERT_OPT_QUIET = 1 << 14,	/* --quiet */
	CERT_OPT_REMOTE = 1 << 15,	/* --remote HOST:PORT and its options */
	CERT_OPT_ADMIN = 1 << 16,	/* --admin: the admin pins (pin) */
};

struct cert_args {
	const char *config;
	const char *socket;
	const char *cert;
	const char *key;
	const char *chain;
	const char *out;
	const char *from_cert;
	const char *key_type;
	int json, new_key, offline, force, quiet, admin;
	struct admin_remote remote;	/* --remote: the daemon's admin listener */
	long warn_days;			/* -1: tls.expiry_warning_days */
	long days;			/* 0: the default */
	const char *pos[CERT_POS_MAX];	/* positional arguments */
	size_t npos;
};

/* cert_cli.c: the configuration named by -c (or the embedded default). */
struct config *cert_load_config(const struct cert_args *a);
/* The control socket path: --socket, listen.control or STATE_DIR's. */
void cert_control_path(const struct cert_args *a, const struct config *cfg,
    char *out, size_t cap);
/* Asks the daemon to reload; 0, or -1 with a sentence in err. */
int cert_daemon_reload(const char *socket_path, char *err, size_t errlen);
/* Reads a whole file of at most max bytes; heap buffer (caller frees). */
int cert_read_file(const char *path, size_t max, unsigned char **out,
    size_t *len, char *err, size_t errlen);
/* Writes data to path: temporary file in the same directory, fsync,
 * rename, then fsync of the directory; mode and (as root) owner given. */
int cert_write_atomic(const char *path, const unsigned char *data,
    size_t len, unsigned mode, int uid, int gid, char *err, size_t errlen);

/* `xmpp-edge cert ...`: argv[0] is the first word after "cert". */
int cert_cli_main(int argc, char **argv);

int cert_status_main(const struct cert_args *a);
int cert_rotate_main(const struct cert_args *a);
int cert_pin_main(const struct cert_args *a);
/* admin_cli.c: rotate, csr and pin with --remote. */
int cert_remote_main(const struct cert_args *a);
/* `config push FILE --remote ...`: argv[0] is "push". */
int admin_cli_config_main(int argc, char **argv);

/* cert_rotate.c: connects to a listener of the daemon ("direct_tls",
 * "starttls" or "internal" at addr, the unspecified address meaning
 * `host`, NULL: this host) as a peer would and copies the certificate
 * it serves for sni.  0, or -1 with err. */
int cert_read_back(const char *mode, const char *addr, const char *host, const char *sni,
    uint8_t *der, size_t cap, size_t *len, char *err, size_t errlen);

#endif
