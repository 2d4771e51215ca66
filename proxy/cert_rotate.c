/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cert_rotate.c - `xmpp-edge cert rotate`: put a new certificate in
 * service without dropping a stream.
 *
 *   cert rotate DOMAIN   --cert NEW.pem --key NEW.key [--chain CHAIN.pem]
 *   cert rotate internal --cert NEW.pem --key NEW.key
 *                        [-c FILE] [--socket PATH] [--offline]
 *   cert rotate          [-c FILE | --socket PATH]    reload only (as SIGHUP)
 *
 * 1. Check (tls/certcheck.c), on the bytes read once: key matches, valid
 *    now and for more than tls.expiry_warning_days, names cover DOMAIN
 *    (RFC 6125), chain verifies against tls.ca_file (a lone self-signed
 *    leaf is accepted, see certcheck.c).  Nothing is touched before.
 * 2. Install over the paths the configuration names: the files in place
 *    are kept as PATH.bak; each new file is written beside its target,
 *    fsync'd and renamed over it; the key is 0600, the certificate keeps
 *    its mode (0644 if new); both keep the owner and group of the file
 *    they replace (the daemon reads them as its own user).
 * 3. Ask the running daemon to reload through the control socket: all or
 *    nothing on its side (edge_reload); established streams keep the
 *    store they started with, new handshakes get the new one.
 * 4. Confirm: connect to the daemon's own listener like a peer (Direct
 *    TLS, else STARTTLS; SNI=DOMAIN; the internal listener for
 *    "internal") and compare the certificate served with the one
 *    installed, byte for byte.
 * Any failure in 3 or 4 puts the previous files back and reloads again,
 * so the old certificate stays in service; the exit status is 1 and the
 * message says why.  --offline stops after 2 (no daemon running).
 *
 * The two renames are not one atomic step: a SIGHUP arriving between
 * them loads a mismatched pair, which the daemon refuses as a whole, and
 * it keeps serving the old store.
 */
#include "cert_cli.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cert_install.h"
#include "certops.h"
#include "edge.h"
#include "netaddr.h"
#include "tls.h"

#define ROTATE_CONFIRM_TIMEOUT_MS 5000
#define ROTATE_PREAMBLE_MAX 8192

/* Puts the previous content back; 0, or -1 (reported). */
static int
rotate_file_restore(struct cert_install_file *f)
{
	char err[CONFIG_PATH_MAX + 256];

	if (cert_install_restore(f, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "xmpp-edge cert rotate: cannot restore: %s (the previous "
	    "content is in %s.bak)\n", err, f->path);
	return -1;
}

/* A listener address as something to connect to: the unspecified
 * address (0.0.0.0, ::) means this host. */
static int
rotate_connect(const char *addr, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	char why[128];
	socklen_t len;
	int fd;

	if (netaddr_parse(addr, &ss, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "listener %s: %s", addr, why);
		return -1;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		if (sin->sin_addr.s_addr == htonl(INADDR_ANY))
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
			sin6->sin6_addr = in6addr_loopback;
		len = sizeof(*sin6);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len) != 0) {
		snprintf(err, errlen, "cannot connect to %s: %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	{
		struct timeval tv = { ROTATE_CONFIRM_TIMEOUT_MS / 1000, 0 };
		int on = 1;

		(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		/* header, then <starttls/>, then the TLS flights: small writes
		 * that Nagle would hold until the daemon's delayed ACK. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	}
	return fd;
}

/* Reads until `until` appears (or the bound, EOF, the timeout). */
static int
rotate_read_until(int fd, const char *until, char *buf, size_t cap)
{
	size_t got = 0;

	while (got < cap - 1) {
		ssize_t n = read(fd, buf + got, 1);	/* never past <proceed/> */

		if (n <= 0)
			return -1;
		got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, until) != NULL)
			return 0;
	}
	return -1;
}

/* RFC 6120 §5.4: stream header, features, <starttls/>, <proceed/>. */
static int
rotate_starttls_preamble(int fd, const char *domain, char *err, size_t errlen)
{
	char out[512], *in;
	int n, rc = -1;

	if ((in = malloc(ROTATE_PREAMBLE_MAX)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = snprintf(out, sizeof(out), "<?xml version='1.0'?><stream:stream "
	    "xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
	    "to='%s' version='1.0'>", domain);
	if (write(fd, out, (size_t)n) != n ||
	    rotate_read_until(fd, "</stream:features>", in, ROTATE_PREAMBLE_MAX) != 0) {
		snprintf(err, errlen, "STARTTLS: no stream features from the daemon");
		goto done;
	}
	n = snprintf(out, sizeof(out), "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
	if (write(fd, out, (size_t)n) != n ||
	    rotate_read_until(fd, "<proceed", in, ROTATE_PREAMBLE_MAX) != 0 ||
	    rotate_read_until(fd, ">", in, ROTATE_PREAMBLE_MAX) != 0) {
		snprintf(err, errlen, "STARTTLS: the daemon did not proceed");
		goto done;
	}
	rc = 0;
done:
	free(in);
	return rc;
}

int
cert_read_back(const char *mode, const char *addr, const char *host, const char *sni,
    uint8_t *der, size_t cap, size_t *len, char *err, size_t errlen)
{
	char target[CONFIG_ADDR_MAX + 300];
	int fd, rc = -1;

	/* A listener on the unspecified address is reached at host. */
	if (host != NULL && (strncmp(addr, "0.0.0.0:", 8) == 0 || strncmp(addr, "[::]:", 5) == 0))
		snprintf(target, sizeof(target), "%s%s%s:%s", strchr(host, ':') ? "[" : "", host,
		    strchr(host, ':') ? "]" : "", strrchr(addr, ':') + 1);
	else
		snprintf(target, sizeof(target), "%s", addr);
	if ((fd = rotate_connect(target, err, errlen)) < 0)
		return -1;
	if (strcmp(mode, "starttls") == 0 && rotate_starttls_preamble(fd, sni, err, errlen) != 0)
		goto done;
	rc = tls_fetch_peer_cert(fd, sni, strcmp(mode, "direct_tls") == 0 ? TLS_ALPN_XMPP_SERVER :
	    NULL, ROTATE_CONFIRM_TIMEOUT_MS, der, cap, len, err, errlen);
done:
	close(fd);
	return rc;
}

/* Reads back what the listener serves for domain (NULL: internal). */
static int
rotate_confirm(const struct config *cfg, const char *domain,
    const struct tls_candidate_report *r, char *how, size_t howcap, char *err,
    size_t errlen)
{
	static const char *const names[] = { "internal listener", "Direct TLS", "STARTTLS" };
	uint8_t *der = NULL;
	const char *addr, *mode, *sni = domain != NULL ? domain : cfg->gateway.server_name;
	size_t len = 0;
	int rc = -1, m;

	if (domain == NULL) {
		if (cfg->listen.internal_count == 0) {
			snprintf(how, howcap, "not read back: no listen.internal (the "
			    "daemon reported the reload applied; `xmpp-edge probe gateway` "
			    "checks the link)");
			return 0;
		}
		addr = cfg->listen.internal[0];
		mode = "internal", m = 0;
	} else if (cfg->listen.direct_tls_count > 0) {
		addr = cfg->listen.direct_tls[0];
		mode = "direct_tls", m = 1;
	} else if (cfg->listen.starttls_count > 0) {
		addr = cfg->listen.starttls[0];
		mode = "starttls", m = 2;
	} else {
		snprintf(how, howcap, "not read back: no external listener");
		return 0;
	}
	if ((der = malloc(TLS_DER_MAX)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (cert_read_back(mode, addr, NULL, sni, der, TLS_DER_MAX, &len, err, errlen) != 0)
		goto done;
	if (len != r->leaf_der_len || memcmp(der, r->leaf_der, len) != 0) {
		struct tls_certinfo *served = calloc(1, sizeof(*served));
		char why[160];

		snprintf(err, errlen, "%s %s (SNI %s) still serves another certificate "
		    "(pin %s)", names[m], addr, sni,
		    served != NULL && tls_certinfo_from_der(der, len, served, why,
		    sizeof(why)) == 0 ? served->pin : "?");
		free(served);
		goto done;
	}
	snprintf(how, howcap, "served over %s at %s (SNI %s), identical to the new one",
	    names[m], addr, sni);
	rc = 0;
done:
	free(der);
	return rc;
}

/* `cert rotate` without a target: the reload alone (the old command). */
static int
rotate_reload_only(const struct cert_args *a)
{
	char path[CONFIG_PATH_MAX + 16];
	struct config *cfg;

	if (a->socket != NULL)
		return control_client_command(a->socket, "reload", a->quiet);
	if ((cfg = cert_load_config(a)) == NULL)
		return 1;
	cert_control_path(a, cfg, path, sizeof(path));
	config_free(cfg);
	return control_client_command(path, "reload", a->quiet);
}

int
cert_rotate_main(const struct cert_args *a)
{
	char err[CONFIG_ERR_MAX], how[512], sock[CONFIG_PATH_MAX + 16];
	char norm[TLS_DOMAIN_MAX + 1];
	unsigned char *cert = NULL, *key = NULL, *chain = NULL, *install = NULL;
	size_t cert_len = 0, key_len = 0, chain_len = 0, install_len, i;
	struct cert_install_file fcert, fkey;
	struct tls_candidate cand;
	struct tls_candidate_report *rep = NULL;
	const char *target_cert, *target_key, *domain = NULL;
	struct config *cfg = NULL;
	int rc = 1;

	if (a->npos == 1 && a->cert == NULL && a->key == NULL && a->chain == NULL &&
	    !a->offline)
		return rotate_reload_only(a);
	if (a->npos != 2 || a->cert == NULL || a->key == NULL) {
		fprintf(stderr, "usage: xmpp-edge cert rotate DOMAIN|internal --cert NEW.pem "
		    "--key NEW.key [--chain CHAIN.pem] [-c FILE] [--offline]\n");
		return CERT_EXIT_USAGE;
	}
	memset(&fcert, 0, sizeof(fcert));
	memset(&fkey, 0, sizeof(fkey));
	if ((cfg = cert_load_config(a)) == NULL)
		return 1;
	if (strcmp(a->pos[1], "internal") == 0) {
		if (!cfg->gateway.enabled) {
			fprintf(stderr, "xmpp-edge cert rotate: %s has no gateway section: "
			    "there is no internal link certificate\n", cfg->source);
			goto done;
		}
		if (a->chain != NULL) {
			fprintf(stderr, "xmpp-edge cert rotate: --chain does not apply to the "
			    "internal link (the gateway pins the key)\n");
			rc = CERT_EXIT_USAGE;
			goto done;
		}
		target_cert = cfg->gateway.cert;
		target_key = cfg->gateway.key;
	} else {
		if (tls_identity_normalize(a->pos[1], norm, sizeof(norm)) != 0) {
			fprintf(stderr, "xmpp-edge cert rotate: '%s' is not a domain name\n",
			    a->pos[1]);
			rc = CERT_EXIT_USAGE;
			goto done;
		}
		for (i = 0; i < cfg->domain_count; i++)
			if (strcmp(cfg->domains[i].name, norm) == 0)
				break;
		if (i == cfg->domain_count) {
			fprintf(stderr, "xmpp-edge cert rotate: %s is not a hosted domain of %s\n",
			    norm, cfg->source);
			goto done;
		}
		domain = cfg->domains[i].name;
		target_cert = cfg->domains[i].cert;
		target_key = cfg->domains[i].key;
	}

	/* 1. Read once, check those bytes. */
	if (cert_read_file(a->cert, TLS_CERT_FILE_MAX, &cert, &cert_len, err, sizeof(err)) != 0 ||
	    cert_read_file(a->key, TLS_CERT_FILE_MAX, &key, &key_len, err, sizeof(err)) != 0 ||
	    (a->chain != NULL && cert_read_file(a->chain, TLS_CERT_FILE_MAX, &chain,
	    &chain_len, err, sizeof(err)) != 0)) {
		fprintf(stderr, "xmpp-edge cert rotate: refused, nothing changed: %s\n", err);
		goto done;
	}
	memset(&cand, 0, sizeof(cand));
	cand.cert_pem = cert;
	cand.cert_len = cert_len;
	cand.cert_name = a->cert;
	cand.chain_pem = chain;
	cand.chain_len = chain_len;
	cand.chain_name = a->chain;
	cand.key_pem = key;
	cand.key_len = key_len;
	cand.key_name = a->key;
	cand.domain = domain;
	cand.ca_file = cfg->tls.ca_file;
	cand.warn_days = cfg->tls.expiry_warning_days;
	if ((rep = calloc(1, sizeof(*rep))) == NULL) {
		fprintf(stderr, "xmpp-edge cert rotate: out of memory\n");
		goto done;
	}
	if (tls_candidate_check(&cand, rep, err, sizeof(err)) != 0) {
		fprintf(stderr, "xmpp-edge cert rotate: refused, nothing changed: %s\n", err);
		goto done;
	}
	if (rep->self_signed)
		fprintf(stderr, "xmpp-edge cert rotate: note: %s is self-signed; remote "
		    "servers will not trust it (dialback only)\n", a->cert);
	if (domain == NULL)
		fprintf(stderr, "xmpp-edge cert rotate: note: the gateway must accept the "
		    "new pin %s before this, or the internal link fails\n", rep->pin);

	/* The certificate file gets the leaf, its intermediates and the
	 * --chain file, in that order (leaf first, as domains[].cert). */
	if ((install = malloc(cert_len + chain_len + 2)) == NULL) {
		fprintf(stderr, "xmpp-edge cert rotate: out of memory\n");
		goto done;
	}
	memcpy(install, cert, cert_len);
	install_len = cert_len;
	if (chain != NULL) {
		if (install_len > 0 && install[install_len - 1] != '\n')
			install[install_len++] = '\n';
		memcpy(install + install_len, chain, chain_len);
		install_len += chain_len;
	}

	/* 2. Install, keeping what was there. */
	fcert.path = target_cert;
	fcert.what = "certificate";
	fkey.path = target_key;
	fkey.what = "key";
	if (cert_install_snapshot(&fcert, 0644, TLS_CERT_FILE_MAX, err, sizeof(err)) != 0 ||
	    cert_install_snapshot(&fkey, 0600, TLS_CERT_FILE_MAX, err, sizeof(err)) != 0) {
		fprintf(stderr, "xmpp-edge cert rotate: refused, nothing changed: %s\n", err);
		goto done;
	}
	fkey.mode = 0600;
	if (cert_install_write(&fkey, key, key_len, err, sizeof(err)) != 0 ||
	    cert_install_write(&fcert, install, install_len, err, sizeof(err)) != 0) {
		fprintf(stderr, "xmpp-edge cert rotate: %s\n", err);
		goto rollback;
	}
	printf("%s: installed %s and %s (previous ones kept as .bak)\n",
	    domain != NULL ? domain : "internal", target_cert, target_key);
	if (a->offline) {
		printf("--offline: no reload asked; the daemon uses them from its next "
		    "start or reload\n");
		rc = 0;
		goto done;
	}

	/* 3. Reload. */
	cert_control_path(a, cfg, sock, sizeof(sock));
	if (cert_daemon_reload(sock, err, sizeof(err)) != 0) {
		fprintf(stderr, "xmpp-edge cert rotate: %s\n", err);
		goto rollback;
	}
	/* 4. Confirm what new handshakes get. */
	if (rotate_confirm(cfg, domain, rep, how, sizeof(how), err, sizeof(err)) != 0) {
		fprintf(stderr, "xmpp-edge cert rotate: not confirmed: %s\n", err);
		goto rollback_reload;
	}
	printf("%s: daemon reloaded; new certificate (pin %s, %ld days left) %s\n",
	    domain != NULL ? domain : "internal", rep->pin, rep->days_left, how);
	rc = 0;
	goto done;

rollback_reload:
	if (rotate_file_restore(&fkey) == 0 && rotate_file_restore(&fcert) == 0 &&
	    cert_daemon_reload(sock, err, sizeof(err)) == 0)
		fprintf(stderr, "xmpp-edge cert rotate: previous certificate and key put "
		    "back and reloaded\n");
	else
		fprintf(stderr, "xmpp-edge cert rotate: ROLLBACK INCOMPLETE: check %s and "
		    "%s (previous content in .bak)\n", target_cert, target_key);
	goto done;
rollback:
	if (rotate_file_restore(&fkey) == 0 && rotate_file_restore(&fcert) == 0)
		fprintf(stderr, "xmpp-edge cert rotate: previous certificate and key put "
		    "back; the daemon keeps serving them\n");
done:
	free(rep);
	free(cert);
	if (key != NULL) {
		explicit_bzero(key, key_len);	/* a private key */
		free(key);
	}
	free(chain);
	free(install);
	cert_install_free(&fcert);
	cert_install_free(&fkey);
	config_free(cfg);
	return rc;
}
