/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - the xmpp-edge command line.
 *
 *   xmpp-edge run     [-c FILE] [--state-dir DIR]   the daemon
 *   xmpp-edge check   [-c FILE]                     validate, print summary
 *   xmpp-edge status  [-c FILE | --socket PATH] [--json] [--quiet]
 *   xmpp-edge streams [-c FILE | --socket PATH] [--json]   live streams (status_cli.c)
 *   xmpp-edge drain   [-c FILE | --socket PATH]   close the external listeners
 *   xmpp-edge resolve [-c FILE] [--server ADDR:PORT] DOMAIN   SRV candidates (resolve_cli.c)
 *   xmpp-edge cert status|rotate|pin|selfsign|csr ...  certificates (cert_cli.c)
 *   xmpp-edge probe gateway [-c FILE]              the internal link, outbound
 *   xmpp-edge probe DOMAIN [-c FILE] [--from D]    federation with DOMAIN (probe.c)
 *   xmpp-edge import sfb --partners F [--gateway F] [-o F] [--secret-out F]
 *                                                   Skype for Business / Lync
 *                                                   XMPP settings -> policy (import_sfb.c)
 *   xmpp-edge version [--licenses]                  versions of everything linked;
 *                                                   its license and notices (notices.c)
 *   xmpp-edge help    [config]                      usage / configuration reference
 *
 * Exit status: 0 success, 1 failure (bad configuration, daemon not
 * answering), 2 usage error.  Arguments are untrusted like any input:
 * unknown options and missing values are usage errors, never guesses.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ares.h>
#include <mbedtls/version.h>
#include <uv.h>
#include <yajl/yajl_version.h>

#include "admin_client.h"
#include "appliance_cli.h"
#include "blocklist.h"
#include "cert_cli.h"
#include "config.h"
#include "default_config.h"
#include "dns.h"
#include "control.h"
#include "daemon.h"
#include "edge_certs.h"
#include "gateway_link.h"
#include "import_sfb.h"
#include "listen_check.h"
#include "log.h"
#include "notices.h"
#include "probe.h"
#include "resolve_cli.h"
#include "run_user.h"
#include "status_cli.h"
#include "version.h"

#define EXIT_USAGE 2

struct cli_opts {
	const char *config;
	const char *state_dir;
	const char *socket;
	const char *from;
	int quiet;
	int json;
	const char *topic;
	struct admin_remote remote;	/* --remote and its options */
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: xmpp-edge COMMAND [OPTIONS]\n"
	    "\n"
	    "commands:\n"
	    "  run [-c FILE] [--state-dir DIR]   run the proxy (no -c: embedded demo\n"
	    "                                    configuration, loopback only)\n"
	    "  check [-c FILE]                   validate a configuration and summarise it\n"
	    "  status [-c FILE | --socket PATH] [--json] [--quiet] [REMOTE]\n"
	    "                                    the running daemon: uptime, listeners, gateway\n"
	    "                                    link, counters and every live stream (pairs,\n"
	    "                                    state, auth, peer, TLS, stanzas, queue, bytes,\n"
	    "                                    age); exit 0 if it is running\n"
	    "  streams [-c FILE | --socket PATH] [--json] [REMOTE]\n"
	    "                                    only the table of live streams\n"
	    "  drain [-c FILE | --socket PATH] [REMOTE]\n"
	    "                                    stop accepting remote servers (the external\n"
	    "                                    listeners close; live streams and the internal\n"
	    "                                    listener go on) until the next restart\n"
	    "  upgrade [-c FILE | --socket PATH] [--quiet]\n"
	    "                                    start the binary installed on disk as a new\n"
	    "                                    daemon that takes over the listening sockets\n"
	    "                                    (none refused), then drain and stop this one\n"
	    "  appliance status [-c FILE | --socket PATH | REMOTE] [--json]\n"
	    "                                    the appliance's two boot slots: versions,\n"
	    "                                    which booted, what boots next, tries left,\n"
	    "                                    whether the last update fell back\n"
	    "  appliance update BUNDLE [-c FILE | --socket PATH | REMOTE] [--quiet]\n"
	    "                                    stream a new boot image (build-image.sh's\n"
	    "                                    xmpp-edge-update.bundle) into the slot that\n"
	    "                                    did not boot, verify it and make it the next\n"
	    "                                    boot with 3 tries (falls back by itself)\n"
	    "  strangers list|clear [-c FILE | --socket PATH] [--json] [REMOTE]\n"
	    "                                    the remote contacts internal users wrote to\n"
	    "                                    (policy strangers: refuse lets only them write\n"
	    "                                    in), most recent first; or forget them all\n"
	    "  resolve [-c FILE] [--server ADDR:PORT] DOMAIN\n"
	    "                                    the ordered connection candidates for a\n"
	    "                                    remote domain (SRV, fallback), with TTLs\n"
	    "  cert status [-c FILE] [--json] [--warn-days N]\n"
	    "                                    every hosted domain's and the internal link's\n"
	    "                                    certificate: names, issuer, key, pin, days\n"
	    "                                    left; exit 1 if one needs attention (fewer\n"
	    "                                    than N days, default tls.expiry_warning_days)\n"
	    "  cert rotate DOMAIN|internal --cert NEW.pem --key NEW.key [--chain CHAIN.pem]\n"
	    "              [-c FILE] [--socket PATH] [--offline]\n"
	    "                                    check (key, dates, names, chain against\n"
	    "                                    tls.ca_file), install over the configured\n"
	    "                                    files (old ones kept as .bak), reload the\n"
	    "                                    daemon, read the served certificate back;\n"
	    "                                    on any failure the old one stays in service\n"
	    "  cert rotate [-c FILE | --socket PATH]\n"
	    "                                    only reload certificates and pins (as SIGHUP);\n"
	    "                                    live streams keep theirs; with tls.watch_files\n"
	    "                                    the daemon also reloads by itself 2 s after a\n"
	    "                                    certificate, key or CA file changes on disk\n"
	    "  cert pin list | add PIN | add --from-cert FILE | remove PIN\n"
	    "              [-c FILE] [--socket PATH] [--offline] [--admin]\n"
	    "                                    internal-link pins, changed in\n"
	    "                                    STATE_DIR/gateway-pins, then reloaded; the\n"
	    "                                    last pin cannot be removed; --admin: the\n"
	    "                                    admin listener's pins (STATE_DIR/admin-pins)\n"
	    "  cert selfsign DOMAIN --cert OUT.pem --key OUT.key [--days N] [--key-type ec|rsa]\n"
	    "              [--force]             a self-signed XMPP server certificate (DNS,\n"
	    "                                    SRV-ID and XmppAddr names; default 365 days)\n"
	    "  cert csr DOMAIN --key KEY.pem [--out CSR.pem] [--new-key [--key-type ec|rsa]]\n"
	    "                                    a certificate signing request with the same\n"
	    "                                    names (--new-key: generate KEY.pem, 0600)\n"
	    "  cert rotate|csr|pin ... REMOTE   the same on a daemon's admin listener: the\n"
	    "                                    files travel in the channel; rotate without\n"
	    "                                    --key uses the key `cert csr DOMAIN REMOTE`\n"
	    "                                    made there (it never leaves the daemon);\n"
	    "                                    `cert pin ... --admin` changes the admin pins\n"
	    "  config push FILE REMOTE           check FILE as `check` does on the daemon,\n"
	    "                                    install it (old one kept as .bak), reload;\n"
	    "                                    refused as a whole if any part is bad\n"
	    "  probe gateway [-c FILE]           check the internal link: pinned mutual TLS\n"
	    "                                    to gateway.address, then a stream header\n"
	    "  probe DOMAIN [-c FILE] [--from HOSTED]\n"
	    "                                    connect to DOMAIN as the daemon would (DNS or\n"
	    "                                    the partner's connect, STARTTLS or Direct TLS,\n"
	    "                                    our certificate): its certificate chain, the\n"
	    "                                    RFC 6125 verdict, its features, and whether\n"
	    "                                    federation would work under the policy (exit\n"
	    "                                    0) or not (exit 1, with the reason)\n"
	    "  import sfb --partners PARTNERS.json [--gateway GATEWAY.json] [-o OUT.json]\n"
	    "             [--secret-out FILE]    the XMPP federation settings of Skype for\n"
	    "                                    Business / Lync (ConvertTo-Json of\n"
	    "                                    Get-CsXmppAllowedPartner and\n"
	    "                                    Get-CsXmppGatewayConfiguration) as the policy\n"
	    "                                    and limits sections; a report on stderr\n"
	    "  version [--licenses]              versions of xmpp-edge and its libraries;\n"
	    "                                    --licenses: its license and the notices of\n"
	    "                                    every component linked into this binary\n"
	    "  help [config]                     this text, or the configuration reference\n"
	    "\n"
	    "REMOTE: a daemon's admin listener (listen.admin) instead of its socket, over\n"
	    "mutual TLS 1.3: --remote IP:PORT --admin-cert FILE --admin-key FILE and\n"
	    "--remote-pin sha256/BASE64 (its key) or --remote-ca FILE [--remote-name NAME];\n"
	    "status, streams, drain, strangers, cert rotate|csr|pin and config push take it\n");
}

/* Parses the options allowed for cmd; -1 on a usage error (reported). */
static int
parse_opts(const char *cmd, int argc, char **argv, const char *allowed, struct cli_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;
		const char *name = NULL;
		int took;

		if (strchr(allowed, 'r') &&
		    (took = admin_remote_take_opt(&o->remote, cmd, argc, argv, &i)) != 0) {
			if (took < 0)
				return -1;
			continue;
		}
		if ((strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) && strchr(allowed, 'c'))
			slot = &o->config, name = "-c";
		else if (strcmp(a, "--state-dir") == 0 && strchr(allowed, 'd'))
			slot = &o->state_dir, name = "--state-dir";
		else if (strcmp(a, "--socket") == 0 && strchr(allowed, 's'))
			slot = &o->socket, name = "--socket";
		else if (strcmp(a, "--from") == 0 && strchr(allowed, 'f'))
			slot = &o->from, name = "--from";
		else if (strcmp(a, "--json") == 0 && strchr(allowed, 'j')) {
			o->json = 1;
			continue;
		}
		else if ((strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) && strchr(allowed, 'q')) {
			o->quiet = 1;
			continue;
		} else if (a[0] != '-' && strchr(allowed, 't') && o->topic == NULL) {
			o->topic = a;
			continue;
		} else {
			fprintf(stderr, "xmpp-edge %s: unexpected argument '%s'\n", cmd, a);
			return -1;
		}
		if (i + 1 >= argc || argv[i + 1][0] == '\0') {
			fprintf(stderr, "xmpp-edge %s: %s needs a value\n", cmd, name);
			return -1;
		}
		*slot = argv[++i];
	}
	if (admin_remote_check(&o->remote, cmd) != 0)
		return -1;
	if (o->remote.addr != NULL && (o->config != NULL || o->socket != NULL)) {
		fprintf(stderr, "xmpp-edge %s: --remote or -c/--socket, not both\n", cmd);
		return -1;
	}
	return 0;
}

static int
cmd_version(void)
{
	char mbed[32];

	mbedtls_version_get_string_full(mbed);
	printf("xmpp-edge %s\n", XMPP_EDGE_VERSION);
	printf("  %s\n", mbed);
	printf("  c-ares %s\n", ares_version(NULL));
	printf("  libuv %s\n", uv_version_string());
	printf("  yajl %d.%d.%d\n", yajl_version() / 10000, yajl_version() / 100 % 100,
	    yajl_version() % 100);
#if defined(__GLIBC__)
	printf("  glibc %d.%d\n", __GLIBC__, __GLIBC_MINOR__);
#else
	printf("  musl libc (static)\n");
#endif
	return 0;
}

static struct config *
load_for_cli(const struct cli_opts *o, int check_files, char *err, size_t errlen)
{
	if (o->config != NULL)
		return config_load_file(o->config, check_files, err, errlen);
	/* The embedded default names files created on first start; check
	 * them only if they exist. */
	return default_config_load(NULL, 0, err, errlen);
}

static int
cmd_check(const struct cli_opts *o)
{
	char err[CONFIG_ERR_MAX];
	struct config *cfg;
	size_t i;

	struct run_user ru;
	struct run_user_group admins;

	cfg = load_for_cli(o, 1, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/*
	 * The account: the file checks of a configuration file judged it
	 * already when we are root; the demo's files are not checked (they
	 * are made on first start).  Not root, `run` ignores `user`, but
	 * started as root it would refuse what is said here.
	 */
	if (run_user_resolve(cfg, &ru, err, sizeof(err)) < 0 ||
	    run_user_admin_group(cfg, &admins, err, sizeof(err)) < 0) {
		if (geteuid() == 0) {
			fprintf(stderr, "%s\n", err);
			config_free(cfg);
			return 1;
		}
		fprintf(stderr, "warning: %s (started as root, run refuses this)\n", err);
	}
	/* The blocklist, as run reads it: a bad one stops the start. */
	if (cfg->blocklist.file[0] != '\0') {
		struct blocklist *bl = blocklist_load_file(cfg->blocklist.file,
		    (size_t)cfg->blocklist.max_entries, err, sizeof(err));

		if (bl == NULL) {
			fprintf(stderr, "%s: blocklist.file: %s\n", cfg->source, err);
			config_free(cfg);
			return 1;
		}
		blocklist_free(bl);
	}
	/* Taken ports: run would stop, but they may be free when it starts. */
	(void)listen_check_ports(cfg, stderr);
	/* Warnings go with errors (stderr): scripts read the summary. */
	for (i = 0; i < cfg->warning_count; i++)
		fprintf(stderr, "warning: %s\n", cfg->warnings[i]);
	if (cfg->warnings_dropped > 0)
		fprintf(stderr, "warning: %s: %zu more warnings not shown\n", cfg->source,
		    cfg->warnings_dropped);
	config_print_summary(cfg, stdout);
	config_free(cfg);
	return 0;
}

struct probe_state {
	int rc;
};

static void
probe_on_result(const struct gateway_link_result *r, void *arg)
{
	struct probe_state *ps = arg;

	if (r->ok) {
		printf("gateway: ok: %s\n", r->detail);
		ps->rc = 0;
	} else {
		fprintf(stderr, "gateway: failed at %s: %s\n", r->stage, r->detail);
		ps->rc = 1;
	}
}

/* `probe gateway`: the outbound half of the internal link, checked the
 * way the daemon uses it (pinned mutual TLS, then a stream header). */
static int
cmd_probe(const struct cli_opts *o)
{
	char err[CONFIG_ERR_MAX];
	struct probe_state ps = { .rc = 1 };
	struct tls_certstore *store = NULL;
	struct config *cfg;
	uv_loop_t loop;

	if (o->topic == NULL || strcmp(o->topic, "gateway") != 0) {
		fprintf(stderr, "xmpp-edge probe: what to probe? (probe gateway [-c FILE])\n");
		return EXIT_USAGE;
	}
	log_setup(LOG_WARN, LOG_FORMAT_AUTO);
	cfg = load_for_cli(o, 1, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (!cfg->gateway.enabled) {
		fprintf(stderr, "%s: gateway: no gateway configured\n", cfg->source);
		goto done;
	}
	store = edge_certstore_load(cfg, err, sizeof(err));
	if (store == NULL) {
		fprintf(stderr, "%s\n", err);
		goto done;
	}
	uv_loop_init(&loop);
	if (gateway_link_check(&loop, cfg, store, probe_on_result, &ps) != NULL)
		uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
done:
	if (store != NULL)
		tls_certstore_unref(store);
	config_free(cfg);
	return ps.rc;
}

/* `probe DOMAIN`: would federation with DOMAIN work (probe.c)? */
static int
cmd_probe_domain(const struct cli_opts *o)
{
	char err[CONFIG_ERR_MAX];
	struct config *cfg;
	int rc;

	log_setup(LOG_ERROR, LOG_FORMAT_AUTO);
	cfg = load_for_cli(o, 1, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	rc = probe_domain_run(cfg, o->topic, o->from, stdout);
	config_free(cfg);
	return rc;
}

/* `resolve [-c FILE] ...`: with -c, the resolvers, timeouts and limits of
 * the configuration's "dns" section, so the answer is the daemon's. */
static int
cmd_resolve(int argc, char **argv)
{
	char err[CONFIG_ERR_MAX];
	struct config *cfg = NULL;
	int i, j, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") != 0 && strcmp(argv[i], "--config") != 0)
			continue;
		if (i + 1 >= argc || cfg != NULL) {
			fprintf(stderr, "xmpp-edge resolve: -c needs one file\n");
			return EXIT_USAGE;
		}
		cfg = config_load_file(argv[i + 1], 0, err, sizeof(err));
		if (cfg == NULL) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		for (j = i; j + 2 < argc; j++)	/* drop "-c FILE" */
			argv[j] = argv[j + 2];
		argc -= 2;
		i--;
	}
	rc = resolve_cli_main(argc, argv, cfg != NULL ? &cfg->dns : NULL);
	config_free(cfg);
	return rc;
}

/* The daemon's control socket: --socket, else through the configuration.
 * 0, or -1 with the reason printed (unless quiet). */
static int
control_socket_path(const struct cli_opts *o, char *path, size_t pathlen)
{
	char err[CONFIG_ERR_MAX];
	struct config *cfg;

	if (o->socket != NULL) {
		snprintf(path, pathlen, "%s", o->socket);
		return 0;
	}
	cfg = load_for_cli(o, 0, err, sizeof(err));
	if (cfg == NULL) {
		if (!o->quiet)
			fprintf(stderr, "%s\n", err);
		return -1;
	}
	if (cfg->listen.control[0])
		snprintf(path, pathlen, "%s", cfg->listen.control);
	else
		snprintf(path, pathlen, "%s/control.sock", cfg->state_dir);
	config_free(cfg);
	return 0;
}

/* `status`, `streams` and `drain`: one command to the daemon's control
 * socket, found through the configuration (or given with --socket), or
 * to its admin listener (--remote). */
static int
cmd_control(const struct cli_opts *o, const char *command)
{
	char path[CONFIG_PATH_MAX + 16];

	if (o->remote.addr != NULL)
		return status_cli_run(NULL, &o->remote, command, o->json, o->quiet);
	if (control_socket_path(o, path, sizeof(path)) != 0)
		return 1;
	return status_cli_run(path, NULL, command, o->json, o->quiet);
}

/* `appliance status` and `appliance update BUNDLE` (appliance_cli.c),
 * locally or with --remote. */
static int
cmd_appliance(int argc, char **argv)
{
	char path[CONFIG_PATH_MAX + 16];
	struct appliance_target t = { NULL, NULL };
	struct cli_opts o;

	if (argc >= 1 && strcmp(argv[0], "status") == 0) {
		if (parse_opts("appliance status", argc - 1, argv + 1, "csjr", &o) < 0)
			return EXIT_USAGE;
	} else if (argc >= 1 && strcmp(argv[0], "update") == 0) {
		if (parse_opts("appliance update", argc - 1, argv + 1, "csqtr", &o) < 0)
			return EXIT_USAGE;
		if (o.topic == NULL) {
			fprintf(stderr, "xmpp-edge appliance update: which bundle? (appliance update "
			    "BUNDLE [-c FILE | --socket PATH | --remote ...])\n");
			return EXIT_USAGE;
		}
	} else {
		fprintf(stderr, "xmpp-edge appliance: status or update? (appliance status [--json], "
		    "appliance update BUNDLE)\n");
		return EXIT_USAGE;
	}
	if (o.remote.addr != NULL)
		t.remote = &o.remote;
	else if (control_socket_path(&o, path, sizeof(path)) != 0)
		return 1;
	else
		t.socket = path;
	return argv[0][0] == 's' ? appliance_cli_status(&t, o.json) :
	    appliance_cli_update(&t, o.topic, o.quiet);
}

int
main(int argc, char **argv)
{
	struct cli_opts o;
	const char *cmd;

	/* A peer that vanishes must cost a write error (EPIPE), not the
	 * process: libuv leaves SIGPIPE's default action in place. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	argc -= 2;
	argv += 2;
	if (strcmp(cmd, "run") == 0) {
		if (parse_opts(cmd, argc, argv, "cd", &o) < 0)
			return EXIT_USAGE;
		if (o.config != NULL && o.state_dir != NULL) {
			fprintf(stderr, "xmpp-edge run: --state-dir applies to the embedded default only; "
			    "set state_dir in %s\n", o.config);
			return EXIT_USAGE;
		}
		return edge_run(o.config, o.state_dir);
	}
	if (strcmp(cmd, "check") == 0) {
		if (parse_opts(cmd, argc, argv, "c", &o) < 0)
			return EXIT_USAGE;
		return cmd_check(&o);
	}
	if (strcmp(cmd, "status") == 0) {
		if (parse_opts(cmd, argc, argv, "csqjr", &o) < 0)
			return EXIT_USAGE;
		return cmd_control(&o, "status");
	}
	if (strcmp(cmd, "streams") == 0) {
		if (parse_opts(cmd, argc, argv, "csjr", &o) < 0)
			return EXIT_USAGE;
		return cmd_control(&o, "streams");
	}
	if (strcmp(cmd, "drain") == 0) {
		if (parse_opts(cmd, argc, argv, "csqjr", &o) < 0)
			return EXIT_USAGE;
		return cmd_control(&o, "drain");
	}
	if (strcmp(cmd, "upgrade") == 0) {
		char path[CONFIG_PATH_MAX + 16];

		if (parse_opts(cmd, argc, argv, "csq", &o) < 0)
			return EXIT_USAGE;
		if (control_socket_path(&o, path, sizeof(path)) != 0)
			return 1;
		return status_cli_upgrade(path, o.quiet);
	}
	if (strcmp(cmd, "strangers") == 0) {
		if (parse_opts(cmd, argc, argv, "csjtr", &o) < 0)
			return EXIT_USAGE;
		if (o.topic == NULL || (strcmp(o.topic, "list") != 0 && strcmp(o.topic, "clear") != 0)) {
			fprintf(stderr, "xmpp-edge strangers: list or clear?\n");
			return EXIT_USAGE;
		}
		return cmd_control(&o, strcmp(o.topic, "list") == 0 ? "strangers list" : "strangers clear");
	}
	if (strcmp(cmd, "cert") == 0)
		return cert_cli_main(argc, argv);
	if (strcmp(cmd, "appliance") == 0)
		return cmd_appliance(argc, argv);
	if (strcmp(cmd, "config") == 0)
		return admin_cli_config_main(argc, argv);
	if (strcmp(cmd, "probe") == 0) {
		if (parse_opts(cmd, argc, argv, "ctf", &o) < 0)
			return EXIT_USAGE;
		if (o.topic != NULL && strcmp(o.topic, "gateway") == 0 && o.from == NULL)
			return cmd_probe(&o);
		if (o.topic == NULL) {
			fprintf(stderr, "xmpp-edge probe: what to probe? (probe DOMAIN [-c FILE] "
			    "[--from DOMAIN], or probe gateway [-c FILE])\n");
			return EXIT_USAGE;
		}
		return cmd_probe_domain(&o);
	}
	if (strcmp(cmd, "import") == 0)
		return import_sfb_cli(argc, argv);
	if (strcmp(cmd, "resolve") == 0)
		return cmd_resolve(argc + 1, argv - 1);	/* argv[0] = "resolve" */
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		if (argc >= 1 && strcmp(argv[0], "--licenses") == 0) {
			if (argc > 1) {
				fprintf(stderr, "xmpp-edge version: unexpected argument '%s'\n", argv[1]);
				return EXIT_USAGE;
			}
			notices_print(stdout);
			return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
		}
		if (parse_opts(cmd, argc, argv, "", &o) < 0)
			return EXIT_USAGE;
		return cmd_version();
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		if (parse_opts(cmd, argc, argv, "t", &o) < 0)
			return EXIT_USAGE;
		if (o.topic != NULL && strcmp(o.topic, "config") == 0) {
			config_print_reference(stdout);
			return 0;
		}
		if (o.topic != NULL) {
			fprintf(stderr, "xmpp-edge help: no help on '%s' (try: help config)\n", o.topic);
			return EXIT_USAGE;
		}
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "xmpp-edge: unknown command '%s'\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
