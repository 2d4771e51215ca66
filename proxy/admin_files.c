/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin_files.c - the admin channel's commands that change files on the
 * daemon's side: certificates, pins, the configuration.
 *
 *   cert rotate DOMAIN|internal   parts cert, key (optional), chain
 *       The checks of the local `cert rotate` (tls_candidate_check: key
 *       matches, dates, tls.expiry_warning_days, names cover DOMAIN, the
 *       chain verifies against tls.ca_file), on the bytes received; then
 *       the configured files are replaced (PATH.bak kept, fsync'd,
 *       renamed) and the daemon reloads (edge_reload, all or nothing).
 *       A refused reload puts the old files back and reloads again, so
 *       the old certificate stays served.  Without a key part the key is
 *       the one `cert csr` made here (KEY.new), which never left.  The
 *       answer carries the new leaf's SHA-256 and the listener to read
 *       it back from; the client does that over a real handshake.
 *   cert csr DOMAIN [ec|rsa]
 *       A new key in KEY.new (0600, beside the domain's key) and a CSR
 *       for it, returned; the key stays on the daemon.
 *   cert pin add|remove admin|gateway PIN
 *       STATE_DIR/admin-pins or gateway-pins, then a reload; the last
 *       accepted pin cannot be removed.
 *   config push                    part config
 *       Checked as `check` does (files included) before anything is
 *       written; then the file is replaced (PATH.bak kept) and reloaded
 *       as SIGHUP; a refused reload puts the old file back.
 *
 * No name a client sends becomes a path: targets are found by domain in
 * the running configuration.
 */
#include "admin_cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "cert_install.h"
#include "certops.h"
#include "edge.h"
#include "gateway_pins.h"
#include "run_user.h"

#define ADMIN_CSR_PEM_MAX 8192

/* Appends "; what: why" to err, cut at its end (a sentence on a sentence). */
static void
admin_err_append(char *err, size_t cap, const char *what, const char *why)
{
	size_t len = strlen(err);
	const char *parts[] = { "; ", what, ": ", why };
	size_t i, n;

	for (i = 0; i < 4 && len + 1 < cap; i++) {
		n = strlen(parts[i]);
		if (n > cap - 1 - len)
			n = cap - 1 - len;
		memcpy(err + len, parts[i], n);
		len += n;
	}
	err[len] = '\0';
}

/* --- cert rotate -------------------------------------------------------- */

/* Copies, not pointers into the configuration: the reload frees it. */
struct admin_rotate {
	struct admin_parts parts;
	int internal;			/* the internal link, not a domain */
	char domain[CONFIG_DOMAIN_MAX];
	char cert_path[CONFIG_PATH_MAX], key_path[CONFIG_PATH_MAX];
};

/* The target's files in the running configuration. */
static int
admin_rotate_target(const struct config *cfg, const char *target, const char **domain,
    const char **cert, const char **key, char *err, size_t errlen)
{
	char norm[TLS_DOMAIN_MAX + 1];
	size_t i;

	if (strcmp(target, "internal") == 0) {
		if (!cfg->gateway.enabled) {
			snprintf(err, errlen, "no gateway section: there is no internal link "
			    "certificate");
			return -1;
		}
		*domain = NULL;
		*cert = cfg->gateway.cert;
		*key = cfg->gateway.key;
		return 0;
	}
	if (tls_identity_normalize(target, norm, sizeof(norm)) != 0) {
		snprintf(err, errlen, "'%s' is not a domain name", target);
		return -1;
	}
	for (i = 0; i < cfg->domain_count; i++)
		if (strcmp(cfg->domains[i].name, norm) == 0) {
			*domain = cfg->domains[i].name;
			*cert = cfg->domains[i].cert;
			*key = cfg->domains[i].key;
			return 0;
		}
	snprintf(err, errlen, "%s is not a hosted domain", norm);
	return -1;
}

static int
admin_rotate_begin(struct admin_request *r, char *err, size_t errlen)
{
	struct admin_rotate *ro = calloc(1, sizeof(*ro));
	const char *domain, *cert, *key;

	if (ro == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	r->ctx = ro;
	ro->parts.p[0] = (struct admin_part_buf){ .name = "cert", .cap = TLS_CERT_FILE_MAX };
	ro->parts.p[1] = (struct admin_part_buf){ .name = "key", .cap = TLS_CERT_FILE_MAX };
	ro->parts.p[2] = (struct admin_part_buf){ .name = "chain", .cap = TLS_CERT_FILE_MAX };
	if (admin_rotate_target(r->edge->cfg, r->argv[0], &domain, &cert, &key, err, errlen) != 0)
		return -1;
	ro->internal = domain == NULL;
	snprintf(ro->domain, sizeof(ro->domain), "%s", domain != NULL ? domain : "");
	snprintf(ro->cert_path, sizeof(ro->cert_path), "%s", cert);
	snprintf(ro->key_path, sizeof(ro->key_path), "%s", key);
	return 0;
}

static int
admin_rotate_part(struct admin_request *r, const char *name, const uint8_t *data, size_t len,
    char *err, size_t errlen)
{
	struct admin_rotate *ro = r->ctx;

	return admin_parts_collect(&ro->parts, name, data, len, err, errlen);
}

static void
admin_rotate_cleanup(struct admin_request *r)
{
	struct admin_rotate *ro = r->ctx;

	if (ro == NULL)
		return;
	admin_parts_free(&ro->parts);
	free(ro);
}

/* Where a listener of cfg can be reached to read the certificate back. */
static void
admin_confirm_target(const struct config *cfg, const char *domain, const char **mode,
    const char **addr)
{
	*mode = *addr = "";
	if (domain == NULL) {
		if (cfg->listen.internal_count > 0)
			*mode = "internal", *addr = cfg->listen.internal[0];
	} else if (cfg->listen.direct_tls_count > 0) {
		*mode = "direct_tls", *addr = cfg->listen.direct_tls[0];
	} else if (cfg->listen.starttls_count > 0) {
		*mode = "starttls", *addr = cfg->listen.starttls[0];
	}
}

/* Installs key and cert over their paths and reloads; on a refused
 * reload everything is put back (and reloaded again).  0, or -1 with err
 * and *restored saying whether the old files are back. */
static int
admin_install_and_reload(struct edge *edge, struct cert_install_file *files,
    const unsigned char *const *data, const size_t *lens, size_t n, char *err, size_t errlen)
{
	char why[CONFIG_ERR_MAX];
	size_t i;

	for (i = 0; i < n; i++)
		if (cert_install_snapshot(&files[i], files[i].mode, CONFIG_FILE_MAX_BYTES, err,
		    errlen) != 0)
			return -1;
	for (i = 0; i < n; i++)
		if (cert_install_write(&files[i], data[i], lens[i], err, errlen) != 0)
			goto restore;
	if (edge_reload(edge, err, errlen) == 0)
		return 0;
restore:
	for (i = 0; i < n; i++)
		if (cert_install_restore(&files[i], why, sizeof(why)) != 0) {
			admin_err_append(err, errlen, "ROLLBACK INCOMPLETE (previous content in "
			    ".bak)", why);
			return -1;
		}
	/* The old files are back; the reload makes that the running state
	 * again (it was: a refused reload changes nothing). */
	(void)edge_reload(edge, why, sizeof(why));
	return -1;
}

static char *
admin_rotate_run(struct admin_request *r, size_t *outlen)
{
	struct admin_rotate *ro = r->ctx;
	const struct config *cfg = r->edge->cfg;	/* until the reload */
	const char *domain = ro->internal ? NULL : ro->domain;
	const struct admin_part_buf *cert = admin_parts_get(&ro->parts, "cert");
	const struct admin_part_buf *key = admin_parts_get(&ro->parts, "key");
	const struct admin_part_buf *chain = admin_parts_get(&ro->parts, "chain");
	struct tls_candidate_report *rep = NULL;
	struct cert_install_file files[2];
	struct tls_candidate cand;
	unsigned char *pending = NULL, *install = NULL, sum[32];
	const unsigned char *data[2];
	char err[ADMIN_ERR_MAX], pending_path[CONFIG_PATH_MAX + 8], hex[65], days[24];
	const char *mode, *addr;
	size_t pending_len = 0, install_len, lens[2], i;
	char *out = NULL;

	memset(files, 0, sizeof(files));
	if (cert == NULL) {
		out = admin_answer(r, "refused", "no certificate (part cert) received", NULL, outlen);
		goto done;
	}
	snprintf(pending_path, sizeof(pending_path), "%s.new", ro->key_path);
	if (key == NULL && cert_install_read(pending_path, TLS_CERT_FILE_MAX, &pending,
	    &pending_len, err, sizeof(err)) != 0) {
		char why[ADMIN_ERR_MAX + 64];

		snprintf(why, sizeof(why), "no key sent and none made here by `cert csr --remote` "
		    "(%s)", err);
		out = admin_answer(r, "refused", why, NULL, outlen);
		goto done;
	}
	memset(&cand, 0, sizeof(cand));
	cand.cert_pem = cert->data;
	cand.cert_len = cert->len;
	cand.cert_name = "the certificate sent";
	cand.chain_pem = chain != NULL ? chain->data : NULL;
	cand.chain_len = chain != NULL ? chain->len : 0;
	cand.chain_name = "the chain sent";
	cand.key_pem = key != NULL ? key->data : pending;
	cand.key_len = key != NULL ? key->len : pending_len;
	cand.key_name = key != NULL ? "the key sent" : pending_path;
	cand.domain = domain;
	cand.ca_file = cfg->tls.ca_file;
	cand.warn_days = cfg->tls.expiry_warning_days;
	if ((rep = calloc(1, sizeof(*rep))) == NULL ||
	    (install = malloc(cert->len + (chain != NULL ? chain->len : 0) + 2)) == NULL) {
		out = admin_answer(r, "failed", "out of memory", NULL, outlen);
		goto done;
	}
	if (tls_candidate_check(&cand, rep, err, sizeof(err)) != 0) {
		out = admin_answer(r, "refused", err, NULL, outlen);
		goto done;
	}
	/* Leaf first, its intermediates, then the chain part. */
	memcpy(install, cert->data, cert->len);
	install_len = cert->len;
	if (chain != NULL) {
		if (install_len > 0 && install[install_len - 1] != '\n')
			install[install_len++] = '\n';
		memcpy(install + install_len, chain->data, chain->len);
		install_len += chain->len;
	}
	files[0] = (struct cert_install_file){ .path = ro->key_path, .what = "key", .mode = 0600 };
	files[1] = (struct cert_install_file){ .path = ro->cert_path, .what = "certificate",
	    .mode = 0644 };
	data[0] = key != NULL ? key->data : pending;
	lens[0] = key != NULL ? key->len : pending_len;
	data[1] = install;
	lens[1] = install_len;
	if (admin_install_and_reload(r->edge, files, data, lens, 2, err, sizeof(err)) != 0) {
		out = admin_answer(r, "refused", err, NULL, outlen);
		goto done;
	}
	if (key == NULL)
		(void)unlink(pending_path);	/* in service now */
	mbedtls_sha256(rep->leaf_der, rep->leaf_der_len, sum, 0);
	for (i = 0; i < sizeof(sum); i++)
		snprintf(hex + 2 * i, 3, "%02x", sum[i]);
	snprintf(days, sizeof(days), "%ld", rep->days_left);
	cfg = r->edge->cfg;	/* the one reloaded */
	admin_confirm_target(cfg, domain, &mode, &addr);
	{
		const char *kv[] = { "target", domain != NULL ? domain : "internal",
		    "pin", rep->pin, "days_left", days, "leaf_sha256", hex,
		    "self_signed", rep->self_signed ? "yes" : "no",
		    "confirm_mode", mode, "confirm_addr", addr,
		    "sni", domain != NULL ? domain : cfg->gateway.server_name, NULL };

		out = admin_answer(r, "applied", NULL, kv, outlen);
	}
done:
	for (i = 0; i < 2; i++)
		cert_install_free(&files[i]);
	if (pending != NULL) {
		explicit_bzero(pending, pending_len);
		free(pending);
	}
	free(install);
	free(rep);
	return out;
}

const struct admin_command admin_cmd_cert_rotate = {
	.name = "cert rotate", .min_args = 1, .max_args = 1,
	.payload_max = 3 * TLS_CERT_FILE_MAX,
	.begin = admin_rotate_begin, .part = admin_rotate_part,
	.run = admin_rotate_run, .cleanup = admin_rotate_cleanup,
};

/* --- cert csr ----------------------------------------------------------- */

/* Key generation takes long enough (RSA 3072: seconds under the
 * sanitizers) to stall every stream if done on the loop: it runs on
 * libuv's thread pool, with its own random generator (tls_csr_create). */
struct admin_csr {
	uv_work_t work;
	struct admin_request *r;
	char domain[CONFIG_DOMAIN_MAX];
	char path[CONFIG_PATH_MAX + 8];
	enum tls_key_type kt;
	char pem[ADMIN_CSR_PEM_MAX];
	char err[ADMIN_ERR_MAX];
	int rc;
};

static void
admin_csr_work(uv_work_t *w)
{
	struct admin_csr *cs = w->data;

	cs->rc = tls_csr_create(cs->domain, cs->path, 1, cs->kt, cs->pem, sizeof(cs->pem),
	    cs->err, sizeof(cs->err));
}

static void
admin_csr_after(uv_work_t *w, int status)
{
	struct admin_csr *cs = w->data;
	struct admin_request *r = cs->r;
	size_t len = 0;
	char *out;

	r->edge->admin_key_generating = 0;
	if (status != 0 || cs->rc != 0) {
		out = admin_answer(r, "failed", status != 0 ? "the key generation was cancelled" :
		    cs->err, NULL, &len);
	} else {
		const char *kv[] = { "domain", cs->domain, "csr", cs->pem, "key", cs->path, NULL };

		out = admin_answer(r, "applied", NULL, kv, &len);
	}
	admin_request_answer(r, out, len);
}

static char *
admin_csr_run(struct admin_request *r, size_t *outlen)
{
	const char *domain, *cert, *key;
	char err[ADMIN_ERR_MAX];
	struct admin_csr *cs;
	enum tls_key_type kt = TLS_KEY_EC_P256;

	if (r->argc == 2 && strcmp(r->argv[1], "rsa") == 0)
		kt = TLS_KEY_RSA_3072;
	else if (r->argc == 2 && strcmp(r->argv[1], "ec") != 0)
		return admin_answer(r, "refused", "the key type is ec or rsa", NULL, outlen);
	if (admin_rotate_target(r->edge->cfg, r->argv[0], &domain, &cert, &key, err,
	    sizeof(err)) != 0)
		return admin_answer(r, "refused", err, NULL, outlen);
	if (domain == NULL)
		return admin_answer(r, "refused", "a CSR is for a hosted domain", NULL, outlen);
	/* One at a time: two would race for the same KEY.new. */
	if (r->edge->admin_key_generating)
		return admin_answer(r, "refused", "a key is being generated for another request; "
		    "try again in a moment", NULL, outlen);
	if ((cs = calloc(1, sizeof(*cs))) == NULL)
		return admin_answer(r, "failed", "out of memory", NULL, outlen);
	r->ctx = cs;
	cs->r = r;
	cs->kt = kt;
	cs->work.data = cs;
	snprintf(cs->domain, sizeof(cs->domain), "%s", domain);
	snprintf(cs->path, sizeof(cs->path), "%s.new", key);
	/* A pending key from an earlier request that was never used. */
	if (unlink(cs->path) != 0 && errno != ENOENT) {
		snprintf(err, sizeof(err), "%s: cannot replace: %s", cs->path, strerror(errno));
		return admin_answer(r, "failed", err, NULL, outlen);
	}
	if (uv_queue_work(r->edge->loop, &cs->work, admin_csr_work, admin_csr_after) != 0)
		return admin_answer(r, "failed", "cannot start the key generation", NULL, outlen);
	r->edge->admin_key_generating = 1;
	return ADMIN_ANSWER_LATER;
}

static void
admin_csr_cleanup(struct admin_request *r)
{
	free(r->ctx);
}

const struct admin_command admin_cmd_cert_csr = {
	.name = "cert csr", .min_args = 1, .max_args = 2, .run = admin_csr_run,
	.cleanup = admin_csr_cleanup,
};

/* --- cert pin add|remove admin|gateway PIN ------------------------------- */

static char *
admin_pin_run(struct admin_request *r, size_t *outlen)
{
	const struct config *cfg = r->edge->cfg;
	const char *action = r->argv[0], *which = r->argv[1];
	const char *eff[GATEWAY_PINS_EFFECTIVE_MAX];
	char base[CONFIG_MAX_PINS][CONFIG_PIN_MAX];	/* a copy: the reload frees cfg */
	char path[CONFIG_PATH_MAX + 32], err[ADMIN_ERR_MAX], pin[CONFIG_PIN_MAX], count[16];
	struct gateway_pins gp, before;
	struct run_user ru;
	size_t nbase;
	int adding = strcmp(action, "add") == 0, changed;

	if (!adding && strcmp(action, "remove") != 0)
		return admin_answer(r, "refused", "cert pin add|remove admin|gateway PIN", NULL, outlen);
	if (strcmp(which, "admin") == 0) {
		memcpy(base, cfg->admin.pins, sizeof(base));
		nbase = cfg->admin.pin_count;
		if (admin_pins_path(cfg, path, sizeof(path)) != 0)
			return admin_answer(r, "failed", "state_dir: path too long", NULL, outlen);
	} else if (strcmp(which, "gateway") == 0) {
		if (!cfg->gateway.enabled)
			return admin_answer(r, "refused", "no gateway section", NULL, outlen);
		memcpy(base, cfg->gateway.pins, sizeof(base));
		nbase = cfg->gateway.pin_count;
		if (gateway_pins_path(cfg, path, sizeof(path)) != 0)
			return admin_answer(r, "failed", "state_dir: path too long", NULL, outlen);
	} else {
		return admin_answer(r, "refused", "which pins: admin or gateway", NULL, outlen);
	}
	if (gateway_pin_canonical(r->argv[2], pin, err, sizeof(err)) != 0)
		return admin_answer(r, "refused", err, NULL, outlen);
	if (run_user_current(cfg, &ru, err, sizeof(err)) != 0 ||
	    gateway_pins_read(path, &ru, &gp, err, sizeof(err)) != 0)
		return admin_answer(r, "failed", err, NULL, outlen);
	/* Started as root, the daemon accepts only root's pin files
	 * (gateway_pins.c): one it wrote itself would be refused at the
	 * reload.  There `cert pin` runs locally, as root. */
	if (ru.privileged)
		return admin_answer(r, "refused", "this daemon was started as root: its pin files "
		    "must be root's; run `xmpp-edge cert pin` on the host as root", NULL, outlen);
	before = gp;
	changed = pins_change((const char (*)[CONFIG_PIN_MAX])base, nbase, &gp, pin, adding, err,
	    sizeof(err));
	if (changed < 0)
		return admin_answer(r, "refused", err, NULL, outlen);
	if (changed == 1) {
		const char *kv[] = { "pins", which, "pin", pin, "note", "already accepted", NULL };

		return admin_answer(r, "applied", NULL, kv, outlen);
	}
	if (gateway_pins_write(path, &gp, err, sizeof(err)) != 0)
		return admin_answer(r, "failed", err, NULL, outlen);
	if (edge_reload(r->edge, err, sizeof(err)) != 0) {
		char werr[CONFIG_PATH_MAX + 256];

		if (gateway_pins_write(path, &before, werr, sizeof(werr)) != 0)
			admin_err_append(err, sizeof(err), "cannot put the pin file back", werr);
		return admin_answer(r, "refused", err, NULL, outlen);
	}
	snprintf(count, sizeof(count), "%zu",
	    pins_effective((const char (*)[CONFIG_PIN_MAX])base, nbase, &gp, eff, GATEWAY_PINS_EFFECTIVE_MAX));
	{
		const char *kv[] = { "pins", which, "pin", pin, "accepted", count, "file", path, NULL };

		return admin_answer(r, "applied", NULL, kv, outlen);
	}
}

const struct admin_command admin_cmd_cert_pin = {
	.name = "cert pin", .min_args = 3, .max_args = 3, .run = admin_pin_run,
};

/* --- config push -------------------------------------------------------- */

static int
admin_push_begin(struct admin_request *r, char *err, size_t errlen)
{
	struct admin_parts *ps;

	if (r->edge->config_path == NULL) {
		snprintf(err, errlen, "the daemon runs the embedded default: there is no "
		    "configuration file to replace");
		return -1;
	}
	if ((ps = calloc(1, sizeof(*ps))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ps->p[0] = (struct admin_part_buf){ .name = "config", .cap = CONFIG_FILE_MAX_BYTES };
	r->ctx = ps;
	return 0;
}

static int
admin_push_part(struct admin_request *r, const char *name, const uint8_t *data, size_t len,
    char *err, size_t errlen)
{
	return admin_parts_collect(r->ctx, name, data, len, err, errlen);
}

static void
admin_push_cleanup(struct admin_request *r)
{
	if (r->ctx != NULL)
		admin_parts_free(r->ctx);
	free(r->ctx);
}

/*
 * A pushed configuration must keep the way in it came through: the admin
 * listener and this client's key (with STATE_DIR/admin-pins as it is).
 * Otherwise the only way back is the offline disk.  1 (with why) if it
 * would lock this client out.
 */
static int
admin_push_locks_out(const struct admin_request *r, const struct config *next, char *why,
    size_t whylen)
{
	const char *eff[GATEWAY_PINS_EFFECTIVE_MAX];
	char path[CONFIG_PATH_MAX + 32], canon[CONFIG_PIN_MAX];
	struct gateway_pins gp;
	struct run_user ru;
	size_t n, i;

	if (!next->admin.enabled || next->listen.admin_count == 0) {
		snprintf(why, whylen, "this configuration has no admin section or listen.admin: "
		    "remote management would end at the next restart");
		return 1;
	}
	if (run_user_current(next, &ru, why, whylen) != 0 ||
	    admin_pins_path(next, path, sizeof(path)) != 0 ||
	    gateway_pins_read(path, &ru, &gp, why, whylen) != 0)
		return 1;
	n = pins_effective((const char (*)[CONFIG_PIN_MAX])next->admin.pins, next->admin.pin_count,
	    &gp, eff, GATEWAY_PINS_EFFECTIVE_MAX);
	for (i = 0; i < n; i++)
		if (gateway_pin_canonical(eff[i], canon, why, whylen) == 0 &&
		    strcmp(canon, r->client_pin) == 0)
			return 0;
	snprintf(why, whylen, "this configuration's admin.pins do not accept the key this "
	    "request came with (pin %s): it would lock this client out", r->client_pin);
	return 1;
}

static char *
admin_push_run(struct admin_request *r, size_t *outlen)
{
	const struct admin_part_buf *b = admin_parts_get(r->ctx, "config");
	struct cert_install_file file;
	struct config *next;
	const unsigned char *data[1];
	char err[ADMIN_ERR_MAX], warnings[16];
	size_t lens[1];
	char *out;

	if (b == NULL)
		return admin_answer(r, "refused", "no configuration (part config) received", NULL,
		    outlen);
	/* `check`: the whole file, with every file it names, against the
	 * path it will have (relative paths resolve beside it). */
	next = config_parse(r->edge->config_path, (const char *)b->data, b->len, 1, err,
	    sizeof(err));
	if (next == NULL)
		return admin_answer(r, "refused", err, NULL, outlen);
	if (admin_push_locks_out(r, next, err, sizeof(err))) {
		config_free(next);
		return admin_answer(r, "refused", err, NULL, outlen);
	}
	snprintf(warnings, sizeof(warnings), "%zu", next->warning_count + next->warnings_dropped);
	config_free(next);
	memset(&file, 0, sizeof(file));
	file.path = r->edge->config_path;
	file.what = "configuration";
	file.mode = 0644;
	data[0] = b->data;
	lens[0] = b->len;
	if (admin_install_and_reload(r->edge, &file, data, lens, 1, err, sizeof(err)) != 0) {
		cert_install_free(&file);
		return admin_answer(r, "refused", err, NULL, outlen);
	}
	cert_install_free(&file);
	{
		const char *kv[] = { "config", r->edge->config_path, "warnings", warnings, NULL };

		out = admin_answer(r, "applied", NULL, kv, outlen);
	}
	return out;
}

const struct admin_command admin_cmd_config_push = {
	.name = "config push", .min_args = 0, .max_args = 0,
	.payload_max = CONFIG_FILE_MAX_BYTES,
	.begin = admin_push_begin, .part = admin_push_part,
	.run = admin_push_run, .cleanup = admin_push_cleanup,
};
