/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cert_pin.c - `xmpp-edge cert pin`: the internal link's accepted pins,
 * changed with overlap while the daemon runs.
 *
 *   cert pin list                    [-c FILE]
 *   cert pin add PIN                 [-c FILE] [--socket PATH] [--offline]
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
 * refused: the internal link would accept nobody.
 */
#include "cert_cli.h"

#include <stdio.h>
#include <string.h>

#include "certops.h"
#include "gateway_pins.h"
#include "tls.h"

static int
pin_in(char (*list)[CONFIG_PIN_MAX], size_t n, const char *pin, size_t *at)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(list[i], pin) == 0) {
			if (at != NULL)
				*at = i;
			return 1;
		}
	}
	return 0;
}

static int
pin_in_config(const struct config *cfg, const char *pin)
{
	char canon[CONFIG_PIN_MAX], why[160];
	size_t i;

	for (i = 0; i < cfg->gateway.pin_count; i++)
		if (gateway_pin_canonical(cfg->gateway.pins[i], canon, why, sizeof(why)) == 0 &&
		    strcmp(canon, pin) == 0)
			return 1;
	return 0;
}

static size_t
pin_effective_count(const struct config *cfg, const struct gateway_pins *gp)
{
	const char *pins[GATEWAY_PINS_EFFECTIVE_MAX];

	return gateway_pins_effective(cfg, gp, pins, GATEWAY_PINS_EFFECTIVE_MAX);
}

static int
pin_list(const struct config *cfg, const struct gateway_pins *gp, const char *path)
{
	char canon[CONFIG_PIN_MAX], why[160];
	size_t i;

	printf("pins accepted on the internal link:\n");
	for (i = 0; i < cfg->gateway.pin_count; i++) {
		int removed = gateway_pin_canonical(cfg->gateway.pins[i], canon, why,
		    sizeof(why)) == 0 && pin_in((char (*)[CONFIG_PIN_MAX])gp->removed,
		    gp->nremoved, canon, NULL);

		if (!removed)
			printf("  %s  (gateway.pins)\n", cfg->gateway.pins[i]);
	}
	for (i = 0; i < gp->nadded; i++)
		if (!pin_in_config(cfg, gp->added[i]))
			printf("  %s  (added, %s)\n", gp->added[i], path);
	for (i = 0; i < gp->nremoved; i++)
		if (pin_in_config(cfg, gp->removed[i]))
			printf("withdrawn: %s  (gateway.pins, removed in %s)\n",
			    gp->removed[i], path);
	return 0;
}

int
cert_pin_main(const struct cert_args *a)
{
	char path[CONFIG_PATH_MAX + 32], sock[CONFIG_PATH_MAX + 16];
	char err[CONFIG_ERR_MAX], pin[CONFIG_PIN_MAX], b64[TLS_PIN_B64_LEN + 1];
	struct gateway_pins gp, before;
	struct run_user ru;
	const char *action = a->npos > 1 ? a->pos[1] : "";
	struct config *cfg;
	size_t at;
	int rc = 1, is_list = strcmp(action, "list") == 0;

	if (!(is_list && a->npos == 2 && a->from_cert == NULL && !a->offline) &&
	    !(strcmp(action, "add") == 0 && ((a->npos == 3) != (a->from_cert != NULL))) &&
	    !(strcmp(action, "remove") == 0 && a->npos == 3 && a->from_cert == NULL)) {
		fprintf(stderr, "usage: xmpp-edge cert pin list | add PIN | add --from-cert "
		    "FILE | remove PIN  [-c FILE] [--socket PATH] [--offline]\n");
		return CERT_EXIT_USAGE;
	}
	if ((cfg = cert_load_config(a)) == NULL)
		return 1;
	if (!cfg->gateway.enabled) {
		fprintf(stderr, "xmpp-edge cert pin: %s has no gateway section: there is no "
		    "internal link to pin\n", cfg->source);
		goto done;
	}
	/* The daemon's owner rule: a file its user could have written is
	 * not copied into a root-owned one. */
	if (run_user_current(cfg, &ru, err, sizeof(err)) != 0 ||
	    gateway_pins_path(cfg, path, sizeof(path)) != 0 ||
	    gateway_pins_read(path, &ru, &gp, err, sizeof(err)) != 0) {
		fprintf(stderr, "xmpp-edge cert pin: %s\n", err);
		goto done;
	}
	if (is_list) {
		rc = pin_list(cfg, &gp, path);
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
	if (strcmp(action, "add") == 0) {
		int was_accepted = (pin_in_config(cfg, pin) &&
		    !pin_in(gp.removed, gp.nremoved, pin, NULL)) ||
		    pin_in(gp.added, gp.nadded, pin, NULL);

		if (was_accepted) {
			printf("%s is already accepted\n", pin);
			rc = 0;
			goto done;
		}
		if (pin_in(gp.removed, gp.nremoved, pin, &at)) {
			/* A withdrawn configuration pin comes back. */
			memmove(gp.removed[at], gp.removed[at + 1],
			    (gp.nremoved - at - 1) * sizeof(gp.removed[0]));
			gp.nremoved--;
		} else {
			if (gp.nadded == GATEWAY_PINS_STATE_MAX) {
				fprintf(stderr, "xmpp-edge cert pin: %s holds %d added pins "
				    "already; remove some or move them to gateway.pins\n",
				    path, GATEWAY_PINS_STATE_MAX);
				goto done;
			}
			memcpy(gp.added[gp.nadded++], pin, sizeof(pin));
		}
	} else {
		int in_cfg = pin_in_config(cfg, pin) && !pin_in(gp.removed, gp.nremoved, pin, NULL);
		int in_added = pin_in(gp.added, gp.nadded, pin, &at);

		if (!in_cfg && !in_added) {
			fprintf(stderr, "xmpp-edge cert pin: %s is not an accepted pin (see "
			    "`xmpp-edge cert pin list`)\n", pin);
			goto done;
		}
		if (in_added) {
			memmove(gp.added[at], gp.added[at + 1],
			    (gp.nadded - at - 1) * sizeof(gp.added[0]));
			gp.nadded--;
		}
		if (in_cfg) {
			if (gp.nremoved == GATEWAY_PINS_STATE_MAX) {
				fprintf(stderr, "xmpp-edge cert pin: %s withdraws %d pins already; "
				    "edit gateway.pins instead\n", path, GATEWAY_PINS_STATE_MAX);
				goto done;
			}
			memcpy(gp.removed[gp.nremoved++], pin, sizeof(pin));
		}
		if (pin_effective_count(cfg, &gp) == 0) {
			fprintf(stderr, "xmpp-edge cert pin: refused: %s is the last accepted "
			    "pin; the internal link would accept nobody (add the new pin "
			    "first)\n", pin);
			goto done;
		}
	}
	if (gateway_pins_write(path, &gp, err, sizeof(err)) != 0) {
		fprintf(stderr, "xmpp-edge cert pin: %s\n", err);
		goto done;
	}
	printf("%s: %s %s\n", path, strcmp(action, "add") == 0 ? "accepts" : "no longer accepts",
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
		if (gateway_pins_write(path, &before, werr, sizeof(werr)) == 0)
			fprintf(stderr, "xmpp-edge cert pin: %s put back as it was\n", path);
		else
			fprintf(stderr, "xmpp-edge cert pin: cannot put %s back: %s\n", path, werr);
		goto done;
	}
	printf("daemon reloaded: %zu pin(s) accepted\n", pin_effective_count(cfg, &gp));
	rc = 0;
done:
	config_free(cfg);
	return rc;
}
