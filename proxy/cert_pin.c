/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cert_pin.c - `xmpp-edge cert pin`: the internal link's accepted pins,
 * or with --admin the admin listener's (admin.c), changed with overlap
 * while the daemon runs.
 *
 *   cert pin list                    [-c FILE] [--admin]
 *   cert pin add PIN                 [-c FILE] [--socket PATH] [--offline] [--admin]
 *   cert pin add --from-cert FILE    ...
 *   cert pin remove PIN              ...
 *
 * Rotating the gateway's key: `pin add NEW` (both keys accepted), switch
 * the gateway to its new key, `pin remove OLD`.  Changes are written to
 * STATE_DIR/gateway-pins (gateway_pins.c; "+PIN" added, "-PIN" a pin of
 * gateway.pins withdrawn), which the daemon merges with gateway.pins
 * whenever it builds its certificate store; the configuration file is
 * never edited.  After writing, the daemon is asked to reload; if it
 * refuses (or is not running, unless --offline) the file is put back as
 * it was and the exit status is 1.  Removing the last accepted pin is
 * refused: the internal link would accept nobody.  --admin does the same
 * for admin.pins and STATE_DIR/admin-pins.  The rules of a change are
 * pins_change() (gateway_pins.c), which the remote command shares.
 */
#include "cert_cli.h"

#include <stdio.h>
#include <string.h>

#include "certops.h"
#include "gateway_pins.h"
#include "tls.h"

/* The pins being changed: the gateway's or the admin clients'. */
struct pin_set {
	const char *what;		/* "the internal link" */
	const char *key;		/* "gateway.pins" */
	const char (*base)[CONFIG_PIN_MAX];
	size_t nbase;
	char path[CONFIG_PATH_MAX + 32];
};

static int
pin_set_of(const struct config *cfg, int admin, struct pin_set *ps)
{
	if (admin) {
		ps->what = "the admin listener";
		ps->key = "admin.pins";
		ps->base = (const char (*)[CONFIG_PIN_MAX])cfg->admin.pins;
		ps->nbase = cfg->admin.pin_count;
		return admin_pins_path(cfg, ps->path, sizeof(ps->path));
	}
	ps->what = "the internal link";
	ps->key = "gateway.pins";
	ps->base = (const char (*)[CONFIG_PIN_MAX])cfg->gateway.pins;
	ps->nbase = cfg->gateway.pin_count;
	return gateway_pins_path(cfg, ps->path, sizeof(ps->path));
}

static size_t
pin_effective_count(const struct pin_set *ps, const struct gateway_pins *gp)
{
	const char *pins[GATEWAY_PINS_EFFECTIVE_MAX];

	return pins_effective(ps->base, ps->nbase, gp, pins, GATEWAY_PINS_EFFECTIVE_MAX);
}

static int
pin_list(const struct pin_set *ps, const struct gateway_pins *gp)
{
	char canon[CONFIG_PIN_MAX], why[160];
	size_t i;

	printf("pins accepted on %s:\n", ps->what);
	for (i = 0; i < ps->nbase; i++) {
		int removed = gateway_pin_canonical(ps->base[i], canon, why,
		    sizeof(why)) == 0 && pins_in_base((const char (*)[CONFIG_PIN_MAX])gp->removed,
		    gp->nremoved, canon);

		if (!removed)
			printf("  %s  (%s)\n", ps->base[i], ps->key);
	}
	for (i = 0; i < gp->nadded; i++)
		if (!pins_in_base(ps->base, ps->nbase, gp->added[i]))
			printf("  %s  (added, %s)\n", gp->added[i], ps->path);
	for (i = 0; i < gp->nremoved; i++)
		if (pins_in_base(ps->base, ps->nbase, gp->removed[i]))
			printf("withdrawn: %s  (%s, removed in %s)\n", gp->removed[i], ps->key,
			    ps->path);
	return 0;
}

int
cert_pin_main(const struct cert_args *a)
{
	char sock[CONFIG_PATH_MAX + 16];
	char err[CONFIG_ERR_MAX], pin[CONFIG_PIN_MAX], b64[TLS_PIN_B64_LEN + 1];
	struct gateway_pins gp, before;
	struct pin_set ps;
	struct run_user ru;
	const char *action = a->npos > 1 ? a->pos[1] : "";
	struct config *cfg;
	int rc = 1, changed, is_list = strcmp(action, "list") == 0;

	if (!(is_list && a->npos == 2 && a->from_cert == NULL && !a->offline) &&
	    !(strcmp(action, "add") == 0 && ((a->npos == 3) != (a->from_cert != NULL))) &&
	    !(strcmp(action, "remove") == 0 && a->npos == 3 && a->from_cert == NULL)) {
		fprintf(stderr, "usage: xmpp-edge cert pin list | add PIN | add --from-cert "
		    "FILE | remove PIN  [-c FILE] [--socket PATH] [--offline] [--admin]\n");
		return CERT_EXIT_USAGE;
	}
	if ((cfg = cert_load_config(a)) == NULL)
		return 1;
	if (!a->admin && !cfg->gateway.enabled) {
		fprintf(stderr, "xmpp-edge cert pin: %s has no gateway section: there is no "
		    "internal link to pin\n", cfg->source);
		goto done;
	}
	if (a->admin && !cfg->admin.enabled) {
		fprintf(stderr, "xmpp-edge cert pin: %s has no admin section: there is no "
		    "admin listener to pin for\n", cfg->source);
		goto done;
	}
	/* The daemon's owner rule: a file its user could have written is
	 * not copied into a root-owned one. */
	if (run_user_current(cfg, &ru, err, sizeof(err)) != 0 ||
	    pin_set_of(cfg, a->admin, &ps) != 0 ||
	    gateway_pins_read(ps.path, &ru, &gp, err, sizeof(err)) != 0) {
		fprintf(stderr, "xmpp-edge cert pin: %s\n", err);
		goto done;
	}
	if (is_list) {
		rc = pin_list(&ps, &gp);
		goto done;
	}
	if (a->from_cert != NULL) {
		if (tls_pin_of_cert_file(a->from_cert, b64, err, sizeof(err)) != 0) {
			fprintf(stderr, "xmpp-edge cert pin: %s\n", err);
			goto done;
		}
		snprintf(pin, sizeof(pin), "%s", b64);
	} else if (gateway_pin_canonical(a->pos[2], pin, err, sizeof(err)) != 0) {
		fprintf(stderr, "xmpp-edge cert pin: %s (a pin is the base64 SHA-256 of a "
		    "SubjectPublicKeyInfo, 44 characters)\n", err);
		rc = CERT_EXIT_USAGE;
		goto done;
	}
	before = gp;
	changed = pins_change(ps.base, ps.nbase, &gp, pin, strcmp(action, "add") == 0, err,
	    sizeof(err));
	if (changed < 0) {
		fprintf(stderr, "xmpp-edge cert pin: %s: %s (see `xmpp-edge cert pin list%s`)\n",
		    ps.path, err, a->admin ? " --admin" : "");
		goto done;
	}
	if (changed == 1) {
		printf("%s is already accepted\n", pin);
		rc = 0;
		goto done;
	}
	if (gateway_pins_write(ps.path, &gp, err, sizeof(err)) != 0) {
		fprintf(stderr, "xmpp-edge cert pin: %s\n", err);
		goto done;
	}
	printf("%s: %s %s\n", ps.path, strcmp(action, "add") == 0 ? "accepts" : "no longer accepts",
	    pin);
	if (a->offline) {
		printf("--offline: no reload asked; the daemon uses it from its next start "
		    "or reload\n");
		rc = 0;
		goto done;
	}
	cert_control_path(a, cfg, sock, sizeof(sock));
	if (cert_daemon_reload(sock, err, sizeof(err)) != 0) {
		char werr[CONFIG_PATH_MAX + 256];

		fprintf(stderr, "xmpp-edge cert pin: %s\n", err);
		if (gateway_pins_write(ps.path, &before, werr, sizeof(werr)) == 0)
			fprintf(stderr, "xmpp-edge cert pin: %s put back as it was\n", ps.path);
		else
			fprintf(stderr, "xmpp-edge cert pin: cannot put %s back: %s\n", ps.path, werr);
		goto done;
	}
	printf("daemon reloaded: %zu pin(s) accepted\n", pin_effective_count(&ps, &gp));
	rc = 0;
done:
	config_free(cfg);
	return rc;
}
