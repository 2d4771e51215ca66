/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gateway_pins.c - STATE_DIR/gateway-pins: internal-link pins an operator
 * added or withdrew with `xmpp-edge cert pin`, merged with gateway.pins
 * whenever the certificate store is built (start, SIGHUP, reload).
 *
 * Why a file of its own: rotating the gateway's key needs an overlap
 * (accept the new key before the gateway switches, drop the old one
 * after), and an operator must be able to do it on a read-only
 * configuration (container volumes, the appliance).  The configuration
 * stays the baseline; the file says what changed since:
 *
 *   # comment
 *   +PIN    accepted in addition to gateway.pins
 *   -PIN    a pin of gateway.pins no longer accepted
 *
 * Pins are stored in canonical base64 so that one pin has one spelling.
 * STATE_DIR/admin-pins is the same for admin.pins, the keys allowed on
 * the remote admin listener (admin.c; `cert pin --admin`).
 *
 * The file is public (pins are hashes of public keys) but whoever writes
 * it decides who may speak for the gateway, so it must not be writable by
 * group or others, nor by the daemon's own user: a daemon started as root
 * (a host install) accepts it only owned by root, which `cert pin` run as
 * root writes it as (the daemon only reads it).  A daemon never started
 * as root (a container's USER) has no one else to own it and accepts its
 * own uid too.  The owner is judged on the descriptor that is read.
 */
#include "gateway_pins.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls.h"

#define GATEWAY_PINS_FILE_MAX (16 * 1024)

int
gateway_pins_path(const struct config *cfg, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", cfg->state_dir, GATEWAY_PINS_FILE);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int
gateway_pin_canonical(const char *pin, char out[CONFIG_PIN_MAX], char *err,
    size_t errlen)
{
	uint8_t raw[TLS_PIN_LEN];

	if (tls_pin_parse(pin, raw, err, errlen) != 0)
		return -1;
	return tls_pin_format(raw, out, CONFIG_PIN_MAX);
}

static int
pins_contains(char (*list)[CONFIG_PIN_MAX], size_t n, const char *pin)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], pin) == 0)
			return 1;
	return 0;
}

/* The owner rule above; why gets the sentence when st is refused. */
static int
gateway_pins_owner_refused(const struct run_user *ru, const struct stat *st, const char *path,
    char *err, size_t errlen)
{
	if (st->st_uid == 0 || (!ru->privileged && st->st_uid == ru->uid))
		return 0;
	if (ru->privileged)
		snprintf(err, errlen, "%s: owned by uid %u, not root: the daemon's user must not "
		    "be able to write the pins that say who may speak for the gateway; "
		    "chown root it (`xmpp-edge cert pin` run as root writes it so)", path,
		    (unsigned)st->st_uid);
	else
		snprintf(err, errlen, "%s: owned by uid %u, neither root nor the daemon's user "
		    "(uid %u)", path, (unsigned)st->st_uid, (unsigned)ru->uid);
	return 1;
}

int
gateway_pins_read(const char *path, const struct run_user *ru, struct gateway_pins *gp,
    char *err, size_t errlen)
{
	char buf[GATEWAY_PINS_FILE_MAX + 1], why[160], pin[CONFIG_PIN_MAX];
	char *line, *next;
	struct stat st;
	size_t len = 0;
	int fd, lineno = 0;
	ssize_t n;

	memset(gp, 0, sizeof(*gp));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "%s: writable by group or others (mode %04o); "
		    "chmod 644 it", path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	if (ru != NULL && gateway_pins_owner_refused(ru, &st, path, err, errlen)) {
		close(fd);
		return -1;
	}
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (n < 0 || len == sizeof(buf) - 1) {
		snprintf(err, errlen, "%s: %s", path, n < 0 ? strerror(errno) :
		    "larger than 16 KiB");
		return -1;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		snprintf(err, errlen, "%s: binary content", path);
		return -1;
	}
	for (line = buf; line != NULL; line = next) {
		size_t l;

		lineno++;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		l = strlen(line);
		while (l > 0 && (line[l - 1] == '\r' || line[l - 1] == ' ' || line[l - 1] == '\t'))
			line[--l] = '\0';
		if (l == 0 || line[0] == '#')
			continue;
		if ((line[0] != '+' && line[0] != '-') ||
		    gateway_pin_canonical(line + 1, pin, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s: line %d: %s", path, lineno,
			    line[0] == '+' || line[0] == '-' ? why :
			    "expected \"+PIN\" or \"-PIN\"");
			return -1;
		}
		if (line[0] == '+' && !pins_contains(gp->added, gp->nadded, pin)) {
			if (gp->nadded == GATEWAY_PINS_STATE_MAX)
				goto too_many;
			memcpy(gp->added[gp->nadded++], pin, sizeof(pin));
		} else if (line[0] == '-' && !pins_contains(gp->removed, gp->nremoved, pin)) {
			if (gp->nremoved == GATEWAY_PINS_STATE_MAX)
				goto too_many;
			memcpy(gp->removed[gp->nremoved++], pin, sizeof(pin));
		}
	}
	return 0;
too_many:
	snprintf(err, errlen, "%s: line %d: more than %d pins of one kind", path,
	    lineno, GATEWAY_PINS_STATE_MAX);
	return -1;
}

int
gateway_pins_write(const char *path, const struct gateway_pins *gp,
    char *err, size_t errlen)
{
	char tmp[CONFIG_PATH_MAX + 32];
	FILE *f = NULL;
	size_t i;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -1;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	if (fchmod(fd, 0644) != 0 || (f = fdopen(fd, "w")) == NULL)
		goto fail;
	fd = -1;
	fprintf(f, "# xmpp-edge: internal-link pins changed with `xmpp-edge cert pin`\n"
	    "# (+PIN accepted besides gateway.pins, -PIN of gateway.pins withdrawn)\n");
	for (i = 0; i < gp->nadded; i++)
		fprintf(f, "+%s\n", gp->added[i]);
	for (i = 0; i < gp->nremoved; i++)
		fprintf(f, "-%s\n", gp->removed[i]);
	/* Owned by whoever writes it (root on a host): the daemon reads it
	 * (0644) and must not be able to change it. */
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		goto fail;
	if (fclose(f) != 0) {
		f = NULL;
		goto fail;
	}
	f = NULL;
	if (rename(tmp, path) != 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return -1;
}

size_t
pins_effective(const char (*base)[CONFIG_PIN_MAX], size_t nbase, const struct gateway_pins *gp,
    const char **out, size_t cap)
{
	char canon[CONFIG_PIN_MAX], why[160];
	size_t i, j, n = 0;

	for (i = 0; i < nbase && n < cap; i++) {
		/* Configuration pins were validated by the loader. */
		if (gateway_pin_canonical(base[i], canon, why, sizeof(why)) != 0 ||
		    pins_contains((char (*)[CONFIG_PIN_MAX])gp->removed, gp->nremoved, canon))
			continue;
		for (j = 0; j < n && strcmp(out[j], base[i]) != 0; j++)
			;
		if (j == n)
			out[n++] = base[i];
	}
	for (i = 0; i < gp->nadded && n < cap; i++) {
		for (j = 0; j < n; j++) {
			if (gateway_pin_canonical(out[j], canon, why, sizeof(why)) == 0 &&
			    strcmp(canon, gp->added[i]) == 0)
				break;
		}
		if (j == n)
			out[n++] = gp->added[i];
	}
	return n;
}

size_t
gateway_pins_effective(const struct config *cfg, const struct gateway_pins *gp,
    const char **out, size_t cap)
{
	return pins_effective((const char (*)[CONFIG_PIN_MAX])cfg->gateway.pins,
	    cfg->gateway.pin_count, gp, out, cap);
}

int
admin_pins_path(const struct config *cfg, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", cfg->state_dir, ADMIN_PINS_FILE);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The index of pin in list, or -1. */
static long
pins_index(char (*list)[CONFIG_PIN_MAX], size_t n, const char *pin)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], pin) == 0)
			return (long)i;
	return -1;
}

int
pins_in_base(const char (*base)[CONFIG_PIN_MAX], size_t nbase, const char *pin)
{
	char canon[CONFIG_PIN_MAX], why[160];
	size_t i;

	for (i = 0; i < nbase; i++)
		if (gateway_pin_canonical(base[i], canon, why, sizeof(why)) == 0 &&
		    strcmp(canon, pin) == 0)
			return 1;
	return 0;
}

int
pins_change(const char (*base)[CONFIG_PIN_MAX], size_t nbase, struct gateway_pins *gp,
    const char *pin, int add, char *why, size_t whylen)
{
	const char *eff[GATEWAY_PINS_EFFECTIVE_MAX];
	long at_removed = pins_index(gp->removed, gp->nremoved, pin);
	long at_added = pins_index(gp->added, gp->nadded, pin);
	int in_base = pins_in_base(base, nbase, pin) && at_removed < 0;

	if (add) {
		if (in_base || at_added >= 0)
			return 1;
		if (at_removed >= 0) {
			/* A withdrawn baseline pin comes back. */
			memmove(gp->removed[at_removed], gp->removed[at_removed + 1],
			    (gp->nremoved - (size_t)at_removed - 1) * sizeof(gp->removed[0]));
			gp->nremoved--;
			return 0;
		}
		if (gp->nadded == GATEWAY_PINS_STATE_MAX) {
			snprintf(why, whylen, "%d pins are added already; remove some or move them "
			    "to the configuration", GATEWAY_PINS_STATE_MAX);
			return -1;
		}
		memcpy(gp->added[gp->nadded++], pin, CONFIG_PIN_MAX);
		return 0;
	}
	if (!in_base && at_added < 0) {
		snprintf(why, whylen, "%s is not an accepted pin", pin);
		return -1;
	}
	if (at_added >= 0) {
		memmove(gp->added[at_added], gp->added[at_added + 1],
		    (gp->nadded - (size_t)at_added - 1) * sizeof(gp->added[0]));
		gp->nadded--;
	}
	if (in_base) {
		if (gp->nremoved == GATEWAY_PINS_STATE_MAX) {
			snprintf(why, whylen, "%d pins are withdrawn already; edit the configuration "
			    "instead", GATEWAY_PINS_STATE_MAX);
			return -1;
		}
		memcpy(gp->removed[gp->nremoved++], pin, CONFIG_PIN_MAX);
	}
	if (pins_effective(base, nbase, gp, eff, GATEWAY_PINS_EFFECTIVE_MAX) == 0) {
		snprintf(why, whylen, "refused: %s is the last accepted pin; nobody would be "
		    "accepted (add the new pin first)", pin);
		return -1;
	}
	return 0;
}
