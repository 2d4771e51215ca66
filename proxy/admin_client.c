/* SPDX-License-Identifier: Apache-2.0 */
/*
 * admin_client.c - one request over the remote admin channel, blocking
 * (the command line's side; admin.c is the daemon's).
 *
 * tls_conn (the memory-BIO session the daemon uses) is driven here over
 * a blocking socket with a deadline: ciphertext it emits is written out
 * at once, what the socket returns is fed in.  The server is accepted by
 * the pin of its key (the pinned client role, as the gateway link does)
 * or by a CA and a name (the external client role and its RFC 6125
 * check); nothing of the request is sent before that verdict.
 */
#include "admin_client.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin_proto.h"
#include "log.h"
#include "netaddr.h"
#include "tls.h"

#define ADMIN_CLIENT_TIMEOUT_MS 30000	/* a reload with many certificates */
#define ADMIN_CLIENT_NAME "admin-client.invalid"
#define ADMIN_CLIENT_CHUNK 16384

struct admin_client {
	int fd;
	int failed;
	int write_failed;
	int handshake_done;
	int peer_closed;
	struct tls_verify_result vr;
	char why[256];
	char *reply;
	size_t len;
};

int
admin_remote_take_opt(struct admin_remote *r, const char *cmd, int argc, char **argv, int *i)
{
	static const struct { const char *name; size_t off; } opts[] = {
		{ "--remote", offsetof(struct admin_remote, addr) },
		{ "--admin-cert", offsetof(struct admin_remote, cert) },
		{ "--admin-key", offsetof(struct admin_remote, key) },
		{ "--remote-pin", offsetof(struct admin_remote, pin) },
		{ "--remote-ca", offsetof(struct admin_remote, ca) },
		{ "--remote-name", offsetof(struct admin_remote, name) },
		{ "--read-back", offsetof(struct admin_remote, read_back) },
	};
	size_t k;

	for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
		if (strcmp(argv[*i], opts[k].name) != 0)
			continue;
		if (*i + 1 >= argc || argv[*i + 1][0] == '\0') {
			fprintf(stderr, "xmpp-edge %s: %s needs a value\n", cmd, opts[k].name);
			return -1;
		}
		*(const char **)((char *)r + opts[k].off) = argv[++*i];
		return 1;
	}
	return 0;
}

int
admin_remote_check(const struct admin_remote *r, const char *cmd)
{
	if (r->addr == NULL && (r->cert || r->key || r->pin || r->ca || r->name || r->read_back)) {
		fprintf(stderr, "xmpp-edge %s: the --admin-*/--remote-* options go with "
		    "--remote HOST:PORT\n", cmd);
		return -1;
	}
	if (r->addr == NULL)
		return 0;
	if (r->cert == NULL || r->key == NULL || (r->pin == NULL) == (r->ca == NULL)) {
		fprintf(stderr, "xmpp-edge %s: --remote HOST:PORT needs --admin-cert FILE "
		    "--admin-key FILE and one of --remote-pin sha256/BASE64 or --remote-ca FILE\n",
		    cmd);
		return -1;
	}
	if (r->name != NULL && r->ca == NULL) {
		fprintf(stderr, "xmpp-edge %s: --remote-name goes with --remote-ca\n", cmd);
		return -1;
	}
	return 0;
}

static void
admin_client_fail(struct admin_client *ac, const char *why)
{
	if (!ac->failed)
		snprintf(ac->why, sizeof(ac->why), "%s", why);
	ac->failed = 1;
}

/* Writes all of it, waiting at most the deadline for room. */
static void
admin_client_on_ciphertext(void *ud, const uint8_t *data, size_t len)
{
	struct admin_client *ac = ud;

	while (len > 0 && !ac->write_failed) {
		struct pollfd pfd = { .fd = ac->fd, .events = POLLOUT };
		ssize_t n;

		if (poll(&pfd, 1, ADMIN_CLIENT_TIMEOUT_MS) <= 0) {
			ac->write_failed = 1;
			break;
		}
		n = send(ac->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			ac->write_failed = 1;
			break;
		}
		data += n;
		len -= (size_t)n;
	}
}

static void
admin_client_on_handshake(void *ud, const struct tls_verify_result *r)
{
	struct admin_client *ac = ud;

	ac->vr = *r;
	ac->handshake_done = 1;
}

static void
admin_client_on_plaintext(void *ud, const uint8_t *data, size_t len)
{
	struct admin_client *ac = ud;

	if (len > ADMIN_REPLY_MAX - ac->len) {
		admin_client_fail(ac, "the answer is larger than 1 MiB");
		return;
	}
	memcpy(ac->reply + ac->len, data, len);
	ac->len += len;
}

static void
admin_client_on_close_notify(void *ud)
{
	((struct admin_client *)ud)->peer_closed = 1;
}

static void
admin_client_on_error(void *ud, const char *reason)
{
	admin_client_fail(ud, reason);
}

static const struct tls_conn_callbacks admin_client_cb = {
	.on_ciphertext = admin_client_on_ciphertext,
	.on_handshake = admin_client_on_handshake,
	.on_plaintext = admin_client_on_plaintext,
	.on_close_notify = admin_client_on_close_notify,
	.on_error = admin_client_on_error,
};

/* Reads once (waiting at most the deadline) and feeds it; -1 on EOF,
 * timeout or failure. */
static int
admin_client_pump(struct admin_client *ac, struct tls_conn *c)
{
	uint8_t buf[16384];
	struct pollfd pfd = { .fd = ac->fd, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, ADMIN_CLIENT_TIMEOUT_MS) <= 0) {
		admin_client_fail(ac, "no answer in time");
		return -1;
	}
	n = recv(ac->fd, buf, sizeof(buf), 0);
	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0) {
		tls_conn_eof(c);
		if (!ac->peer_closed)
			admin_client_fail(ac, n == 0 ? "the daemon closed the connection" :
			    strerror(errno));
		return -1;
	}
	tls_conn_feed(c, buf, (size_t)n);
	return ac->failed || ac->write_failed ? -1 : 0;
}

static int
admin_client_write(struct admin_client *ac, struct tls_conn *c, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		size_t n = len < ADMIN_CLIENT_CHUNK ? len : ADMIN_CLIENT_CHUNK;

		if (tls_conn_write(c, p, n) != 0 || ac->write_failed) {
			admin_client_fail(ac, "the connection broke while sending the request");
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

/* "part NAME SIZE\n" and the bytes, a chunk at a time. */
static int
admin_client_send_part(struct admin_client *ac, struct tls_conn *c,
    const struct admin_client_part *p, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	char hdr[ADMIN_PART_HEADER_MAX + 2];
	size_t off = 0;
	int rc = -1;

	if (p->fd >= 0 && (buf = malloc(ADMIN_PART_MAX)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		const uint8_t *chunk;
		size_t n;
		int hl;

		if (p->fd >= 0) {
			ssize_t got = read(p->fd, buf, ADMIN_PART_MAX);

			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0) {
				snprintf(err, errlen, "cannot read %s: %s", p->name, strerror(errno));
				goto done;
			}
			chunk = buf;
			n = (size_t)got;
		} else {
			chunk = p->data + off;
			n = p->len - off < ADMIN_PART_MAX ? p->len - off : ADMIN_PART_MAX;
			off += n;
		}
		if (n == 0)
			break;
		hl = snprintf(hdr, sizeof(hdr), "part %s %zu\n", p->name, n);
		if (admin_client_write(ac, c, hdr, (size_t)hl) != 0 ||
		    admin_client_write(ac, c, chunk, n) != 0) {
			snprintf(err, errlen, "%s", ac->why);
			goto done;
		}
	}
	rc = 0;
done:
	free(buf);
	return rc;
}

static struct tls_certstore *
admin_client_store(const struct admin_remote *r, char *err, size_t errlen)
{
	struct tls_cert_paths certs[1] = { { ADMIN_CLIENT_NAME, r->cert, r->key } };
	struct tls_certstore_config tc;
	const char *pins[1];
	char why[512];
	struct tls_certstore *s;

	memset(&tc, 0, sizeof(tc));
	tc.certs = certs;
	tc.ncerts = 1;
	if (r->pin != NULL) {
		/* "sha256/BASE64" as HPKP and curl write it, or the bare base64. */
		pins[0] = strncmp(r->pin, "sha256/", 7) == 0 ? r->pin + 7 : r->pin;
		tc.pins = pins;
		tc.npins = 1;
		tc.internal_cert_path = r->cert;
		tc.internal_key_path = r->key;
		tc.internal_tls13_only = 1;
		/* The pinned role consults no CA; the loader wants one. */
		tc.ca_file = r->cert;
	} else {
		tc.ca_file = r->ca;
	}
	if ((s = tls_certstore_load(&tc, why, sizeof(why))) == NULL)
		snprintf(err, errlen, "%s", why);
	return s;
}

static int
admin_client_connect(const char *addr, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	struct timeval tv = { ADMIN_CLIENT_TIMEOUT_MS / 1000, 0 };
	char why[128];
	int fd, on = 1;

	if (netaddr_parse(addr, &ss, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "--remote %s: %s (an IP address and port: "
		    "\"198.51.100.2:5280\", \"[2001:db8::2]:5280\")", addr, why);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	}
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, ss.ss_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) != 0) {
		snprintf(err, errlen, "cannot connect to %s: %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int
admin_client_request(const struct admin_remote *r, const char *line,
    const struct admin_client_part *parts, size_t nparts, int payload, char **reply,
    size_t *reply_len, char *err, size_t errlen)
{
	struct admin_client ac;
	struct tls_certstore *store = NULL;
	struct tls_conn_params params;
	struct tls_conn *c = NULL;
	char host[256];
	size_t i;
	int rc = -1;

	*reply = NULL;
	*reply_len = 0;
	err[0] = '\0';
	memset(&ac, 0, sizeof(ac));
	ac.fd = -1;
	/* tls_conn logs its events; the sentence in err says it once. */
	log_setup(LOG_ERROR, LOG_FORMAT_TEXT);
	if ((ac.reply = malloc(ADMIN_REPLY_MAX + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((store = admin_client_store(r, err, errlen)) == NULL)
		goto done;
	if ((ac.fd = admin_client_connect(r->addr, err, errlen)) < 0)
		goto done;
	memset(&params, 0, sizeof(params));
	params.peer_addr = r->addr;
	if (r->pin != NULL) {
		params.role = TLS_ROLE_INTERNAL_CLIENT;
	} else {
		/* The name the certificate must carry: --remote-name, else
		 * the host part of --remote. */
		snprintf(host, sizeof(host), "%s", r->addr);
		if (host[0] == '[') {
			memmove(host, host + 1, strlen(host));
			*strchrnul(host, ']') = '\0';
		} else {
			*strchrnul(host, ':') = '\0';
		}
		params.role = TLS_ROLE_EXTERNAL_CLIENT;
		params.peer_domain = r->name != NULL ? r->name : host;
		params.local_domain = ADMIN_CLIENT_NAME;
	}
	if ((c = tls_conn_new(store, &params, &admin_client_cb, &ac, err, errlen)) == NULL)
		goto done;
	tls_conn_start(c);
	while (!ac.handshake_done && !ac.failed && admin_client_pump(&ac, c) == 0)
		;
	if (!ac.handshake_done) {
		snprintf(err, errlen, "%s: TLS handshake failed: %s", r->addr,
		    ac.failed ? ac.why : "the connection broke");
		goto done;
	}
	if (r->ca != NULL && ac.vr.status != TLS_VERIFY_OK) {
		snprintf(err, errlen, "%s: the admin listener's certificate is not valid for %s "
		    "under %s: %s (%s); nothing sent", r->addr, params.peer_domain, r->ca,
		    tls_verify_status_str(ac.vr.status), ac.vr.detail);
		goto done;
	}
	if (admin_client_write(&ac, c, line, strlen(line)) != 0 ||
	    admin_client_write(&ac, c, "\n", 1) != 0) {
		/* TLS 1.3: the server judges our certificate after its own
		 * Finished; a refusal is an alert and a close that may reach
		 * us as a reset before we read the alert. */
		snprintf(err, errlen, "%s: the daemon closed the connection right after the "
		    "handshake: it most likely refused our certificate (is its pin in "
		    "admin.pins?)", r->addr);
		goto done;
	}
	for (i = 0; payload && i < nparts; i++)
		if (admin_client_send_part(&ac, c, &parts[i], err, errlen) != 0)
			break;
	if (payload && i == nparts && admin_client_write(&ac, c, "end\n", 4) != 0)
		snprintf(err, errlen, "%s: %s", r->addr, ac.why);
	/* A daemon that refuses a payload part way answers at once and
	 * closes: its sentence is worth more than our broken write. */
	ac.write_failed = 0;
	ac.failed = 0;
	while (!ac.peer_closed && !ac.failed && admin_client_pump(&ac, c) == 0)
		;
	if (ac.len == 0) {
		if (payload && (i < nparts || err[0] != '\0'))
			goto done;	/* the send's own error says more */
		snprintf(err, errlen, "%s: no answer: %s", r->addr, ac.failed ? ac.why :
		    "the daemon closed the connection");
		goto done;
	}
	ac.reply[ac.len] = '\0';
	*reply = ac.reply;
	*reply_len = ac.len;
	ac.reply = NULL;
	rc = 0;
done:
	if (c != NULL) {
		if (tls_conn_state(c) == TLS_OPEN)
			tls_conn_close(c);
		tls_conn_free(c);
	}
	if (store != NULL)
		tls_certstore_unref(store);
	if (ac.fd >= 0)
		close(ac.fd);
	free(ac.reply);
	return rc;
}

int
admin_client_fetch(const struct admin_remote *r, const char *line, char *reply, size_t cap,
    char *err, size_t errlen)
{
	char *out;
	size_t len;

	if (admin_client_request(r, line, NULL, 0, 0, &out, &len, err, errlen) != 0)
		return -1;
	if (len >= cap) {
		snprintf(err, errlen, "%s: the answer is larger than %zu bytes", r->addr, cap - 1);
		free(out);
		return -1;
	}
	memcpy(reply, out, len + 1);
	free(out);
	return 0;
}
