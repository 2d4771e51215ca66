/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway_pins.h - pins of the internal link kept in the state directory,
 * on top of the configuration's gateway.pins (`xmpp-edge cert pin`).
 */
#ifndef XE_GATEWAY_PINS_H
#define XE_GATEWAY_PINS_H

#include <stddef.h>

#include "config.h"
#include "run_user.h"

#define GATEWAY_PINS_FILE "gateway-pins"
#define ADMIN_PINS_FILE "admin-pins"	/* the same for admin.pins */
#define GATEWAY_PINS_STATE_MAX 16	/* "+" and "-" lines each */
#define GATEWAY_PINS_EFFECTIVE_MAX (CONFIG_MAX_PINS + GATEWAY_PINS_STATE_MAX)

/* STATE_DIR/gateway-pins, parsed. */
struct gateway_pins {
	char added[GATEWAY_PINS_STATE_MAX][CONFIG_PIN_MAX];	/* "+PIN" */
	size_t nadded;
	char removed[GATEWAY_PINS_STATE_MAX][CONFIG_PIN_MAX];	/* "-PIN" */
	size_t nremoved;
};

/* Where the file of cfg lives; -1 if the path does not fit. */
int gateway_pins_path(const struct config *cfg, char *out, size_t cap);
/* Reads the file (a missing one is empty); -1 with "FILE: line N: why".
 * ru (run_user_current): the owner rule of the file's comment; NULL only
 * to display the file, never to load it. */
int gateway_pins_read(const char *path, const struct run_user *ru, struct gateway_pins *gp,
    char *err, size_t errlen);
/* Writes it atomically, mode 0644, owned by the writer (root on a host). */
int gateway_pins_write(const char *path, const struct gateway_pins *gp,
    char *err, size_t errlen);
/* The pins accepted: gateway.pins less the removed ones, then the added
 * ones, each once; pointers into cfg and gp.  Returns the count. */
size_t gateway_pins_effective(const struct config *cfg,
    const struct gateway_pins *gp, const char **out, size_t cap);
/* The same over any baseline list (admin.pins and STATE_DIR/admin-pins). */
size_t pins_effective(const char (*base)[CONFIG_PIN_MAX], size_t nbase,
    const struct gateway_pins *gp, const char **out, size_t cap);
/* 1 if the canonical pin is in base (whatever its spelling there). */
int pins_in_base(const char (*base)[CONFIG_PIN_MAX], size_t nbase, const char *pin);
/* Adds (add) or withdraws the canonical pin in gp over the baseline base,
 * keeping the overlap rules: a withdrawn baseline pin comes back rather
 * than being added twice, the last accepted pin cannot go.  0 changed, 1
 * nothing to do (already accepted), -1 with why. */
int pins_change(const char (*base)[CONFIG_PIN_MAX], size_t nbase, struct gateway_pins *gp,
    const char *pin, int add, char *why, size_t whylen);
/* STATE_DIR/admin-pins; -1 if the path does not fit. */
int admin_pins_path(const struct config *cfg, char *out, size_t cap);
/* The canonical base64 form of a pin (as tls_pin_format writes it), or
 * -1 with why it is not a SHA-256 pin. */
int gateway_pin_canonical(const char *pin, char out[CONFIG_PIN_MAX],
    char *err, size_t errlen);

#endif
