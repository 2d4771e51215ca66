/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tls_tool.c - the interop suite's TLS endpoint: xmpp-edge's TLS module
 * (tls/tls_conn.c over tls/tls_uv.c) as a one-connection server or client
 * on loopback, so tests/tls/run.sh can put it opposite openssl s_server /
 * s_client and gnutls-serv / gnutls-cli.
 *
 *   tls_tool server|client [options]
 *     --port N            (127.0.0.1 only)
 *     --cert F --key F --domain D   our hosted domain's certificate
 *     --ca F              trust anchors for the external side
 *     --peer D            client: the domain to verify (and SNI)
 *     --direct            client: Direct TLS, ALPN xmpp-server
 *     --starttls          XMPP STARTTLS prelude in plaintext first
 *                         (server: features + <proceed/>; client: stream
 *                         header + <starttls/>, waits for <proceed/>)
 *     --inject S          client with --starttls: send S right after
 *                         <starttls/> in the same write (must reach TLS,
 *                         never the XML layer)
 *     --internal --icert F --ikey F --pin B64 [--pin B64]   pinned mTLS
 *     --send S            write S after the handshake
 *     --expect S          succeed once S was received (then close_notify)
 *     --expect-verify W   the verification status must contain W
 *     --expect-error S    succeed only if the connection fails with a
 *                         reason containing S ("any": any reason)
 * Prints HANDSHAKE / READ / ERROR lines; exit 0 when every expectation
 * held, 1 otherwise; gives up after 10 s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "tls.h"
#include "tls_uv.h"
#include "log.h"

#define TOOL_TIMEOUT_MS 10000
#define MAX_PINS 4

static struct {
	int server, port, direct, starttls, internal;
	const char *cert, *key, *domain, *ca, *peer, *icert, *ikey;
	const char *pins[MAX_PINS];
	size_t npins;
	const char *send, *expect, *expect_verify, *expect_error, *inject;
} opt;

static struct {
	uv_loop_t *loop;
	uv_tcp_t listener;
	uv_timer_t timer;
	uv_connect_t connect_req;
	struct tls_uv conn;
	struct tls_certstore *store;
	char plain[8192];		/* the STARTTLS prelude */
	size_t plain_len;
	int tls_started;
	int prelude_sent;		/* features (server) / <starttls/> */
	int conn_inited;
	char got[65536];
	size_t got_len;
	int ok_expect, ok_verify, ok_error, failed;
} st;

static void start_tls(const uint8_t *pending, size_t len);

static void
finish(void)
{
	if (st.conn_inited && !st.conn.closing)
		tls_uv_close(&st.conn, NULL);
	if (!uv_is_closing((uv_handle_t *)&st.timer))
		uv_close((uv_handle_t *)&st.timer, NULL);
	if (opt.server && !uv_is_closing((uv_handle_t *)&st.listener))
		uv_close((uv_handle_t *)&st.listener, NULL);
}

static void
on_timeout(uv_timer_t *t)
{
	(void)t;
	printf("TIMEOUT\n");
	st.failed = 1;
	finish();
}

static void
on_handshake(struct tls_uv *t, const struct tls_verify_result *r)
{
	const char *alpn = tls_conn_alpn(t->conn);

	printf("HANDSHAKE version=%s cipher=%s alpn=%s sni=%s verify=\"%s\" "
	    "id=%s detail=\"%s\"\n", tls_conn_version(t->conn),
	    tls_conn_ciphersuite(t->conn), alpn ? alpn : "-",
	    tls_conn_sni(t->conn)[0] ? tls_conn_sni(t->conn) : "-",
	    tls_verify_status_str(r->status), tls_id_type_str(r->matched_by),
	    r->detail);
	fflush(stdout);
	if (opt.expect_verify)
		st.ok_verify = strstr(tls_verify_status_str(r->status),
		    opt.expect_verify) != NULL;
	if (opt.send)
		tls_uv_write(t, (const uint8_t *)opt.send, strlen(opt.send));
	if (!opt.expect && !opt.expect_error && !opt.server)
		tls_uv_shutdown(t);
}

static void
on_read(struct tls_uv *t, const uint8_t *data, size_t len)
{
	size_t n = len;

	if (n > sizeof(st.got) - 1 - st.got_len)
		n = sizeof(st.got) - 1 - st.got_len;
	memcpy(st.got + st.got_len, data, n);
	st.got_len += n;
	st.got[st.got_len] = 0;
	printf("READ %zu bytes\n", len);
	fflush(stdout);
	if (opt.expect && !st.ok_expect && strstr(st.got, opt.expect)) {
		st.ok_expect = 1;
		tls_uv_shutdown(t);
	}
}

static void
on_close(struct tls_uv *t, const char *reason)
{
	(void)t;
	if (reason) {
		printf("ERROR %s\n", reason);
		if (opt.expect_error && (strcmp(opt.expect_error, "any") == 0 ||
		    strstr(reason, opt.expect_error)))
			st.ok_error = 1;
	} else {
		printf("CLOSED\n");
	}
	fflush(stdout);
	finish();
}

static const struct tls_uv_callbacks tool_cb = {
	.on_handshake = on_handshake,
	.on_read = on_read,
	.on_close = on_close,
};

/* --- the STARTTLS prelude (plaintext, before TLS) -------------------------- */

static const char server_features[] =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
    "xmlns:stream='http://etherx.jabber.org/streams' id='t1' "
    "version='1.0'><stream:features><starttls "
    "xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
    "</stream:features>";
static const char proceed[] = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
static const char starttls_elem[] = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";

static void
raw_write(const char *s, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)s, (unsigned)len);

	/* Small and only a few: uv_try_write on a fresh socket. */
	if (uv_try_write((uv_stream_t *)tls_uv_tcp(&st.conn), &b, 1) !=
	    (int)len) {
		printf("ERROR plaintext write failed\n");
		st.failed = 1;
		finish();
	}
}

static void
plain_alloc(uv_handle_t *h, size_t s, uv_buf_t *b)
{
	(void)h;
	(void)s;
	b->base = st.plain + st.plain_len;
	b->len = sizeof(st.plain) - 1 - st.plain_len;
}

static void
plain_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	char *p;

	(void)b;
	if (n < 0) {
		printf("ERROR plaintext phase: %s\n", uv_strerror((int)n));
		st.failed = 1;
		finish();
		return;
	}
	st.plain_len += (size_t)n;
	st.plain[st.plain_len] = 0;
	if (opt.server) {
		if (strstr(st.plain, "version='1.0'>") == NULL &&
		    strstr(st.plain, "version=\"1.0\">") == NULL)
			return;
		if (!st.prelude_sent) {
			st.prelude_sent = 1;
			raw_write(server_features, sizeof(server_features) - 1);
		}
		p = strstr(st.plain, "<starttls");
		if (p == NULL || (p = strstr(p, "/>")) == NULL)
			return;
		p += 2;
		uv_read_stop(s);
		raw_write(proceed, sizeof(proceed) - 1);
		/* Everything after <starttls/> belongs to TLS. */
		start_tls((const uint8_t *)p, st.plain_len -
		    (size_t)(p - st.plain));
	} else {
		if (strstr(st.plain, "<stream:features") &&
		    strstr(st.plain, "</stream:features>") &&
		    !strstr(st.plain, "<proceed")) {
			if (!st.prelude_sent) {
				char buf[512];
				size_t n2;

				st.prelude_sent = 1;
				n2 = (size_t)snprintf(buf, sizeof(buf), "%s%s",
				    starttls_elem, opt.inject ? opt.inject : "");
				raw_write(buf, n2);
			}
			return;
		}
		p = strstr(st.plain, "<proceed");
		if (p == NULL || (p = strstr(p, "/>")) == NULL)
			return;
		p += 2;
		uv_read_stop(s);
		start_tls((const uint8_t *)p, st.plain_len -
		    (size_t)(p - st.plain));
	}
}

static void
start_prelude(void)
{
	if (!opt.server) {
		static char hdr[512];
		int n = snprintf(hdr, sizeof(hdr), "<?xml version='1.0'?>"
		    "<stream:stream xmlns='jabber:server' xmlns:stream="
		    "'http://etherx.jabber.org/streams' to='%s' version='1.0'>",
		    opt.peer ? opt.peer : "example.com");

		raw_write(hdr, (size_t)n);
	}
	uv_read_start((uv_stream_t *)tls_uv_tcp(&st.conn), plain_alloc,
	    plain_read);
}

/* --- TLS ------------------------------------------------------------------- */

static void
start_tls(const uint8_t *pending, size_t len)
{
	struct tls_conn_params p;
	char err[256];

	memset(&p, 0, sizeof(p));
	p.peer_addr = "127.0.0.1";
	if (opt.internal)
		p.role = opt.server ? TLS_ROLE_INTERNAL_SERVER :
		    TLS_ROLE_INTERNAL_CLIENT;
	else
		p.role = opt.server ? TLS_ROLE_EXTERNAL_SERVER :
		    TLS_ROLE_EXTERNAL_CLIENT;
	p.direct_tls = opt.direct;
	p.peer_domain = opt.peer;
	p.local_domain = opt.domain;
	st.tls_started = 1;
	if (tls_uv_start(&st.conn, st.store, &p, pending, len, err,
	    sizeof(err)) != 0) {
		printf("ERROR %s\n", err);
		st.failed = 1;
		tls_uv_close(&st.conn, err);
	}
}

static void
on_connection(uv_stream_t *server, int status)
{
	if (status < 0 || st.conn_inited)
		return;
	tls_uv_init(st.loop, &st.conn, &tool_cb, NULL);
	st.conn_inited = 1;
	if (uv_accept(server, (uv_stream_t *)tls_uv_tcp(&st.conn)) != 0) {
		st.failed = 1;
		finish();
		return;
	}
	uv_close((uv_handle_t *)&st.listener, NULL);
	if (opt.starttls)
		start_prelude();
	else
		start_tls(NULL, 0);
}

static void
on_connect(uv_connect_t *req, int status)
{
	(void)req;
	if (status < 0) {
		printf("ERROR connect: %s\n", uv_strerror(status));
		st.failed = 1;
		finish();
		tls_uv_close(&st.conn, "connect failed");
		return;
	}
	if (opt.starttls)
		start_prelude();
	else
		start_tls(NULL, 0);
}

/* gencert NAME DOMAIN ISSUER FROM_DAYS TO_DAYS: NAME.crt/NAME.key for
 * DOMAIN issued by ISSUER.crt/.key, valid from now+FROM to now+TO days. */
static int
gencert(int argc, char **argv)
{
	struct tls_certgen spec;
	char crt[256], key[256], icrt[256], ikey[256], err[256];
	time_t now = time(NULL);

	if (argc != 7)
		return 2;
	memset(&spec, 0, sizeof(spec));
	spec.subject_cn = argv[3];
	spec.dns_names[0] = argv[3];
	spec.not_before = now + (time_t)atol(argv[5]) * 86400;
	spec.not_after = now + (time_t)atol(argv[6]) * 86400;
	snprintf(crt, sizeof(crt), "%s.crt", argv[2]);
	snprintf(key, sizeof(key), "%s.key", argv[2]);
	snprintf(icrt, sizeof(icrt), "%s.crt", argv[4]);
	snprintf(ikey, sizeof(ikey), "%s.key", argv[4]);
	spec.issuer_cert_path = icrt;
	spec.issuer_key_path = ikey;
	if (tls_certgen_create(&spec, crt, key, err, sizeof(err)) != 0) {
		fprintf(stderr, "tls_tool: %s\n", err);
		return 1;
	}
	return 0;
}

static int
usage(void)
{
	fprintf(stderr, "usage: tls_tool server|client --port N [options]; "
	    "see the comment at the top of tls_tool.c\n");
	return 2;
}

int
main(int argc, char **argv)
{
	struct tls_certstore_config cfg;
	struct tls_cert_paths cp;
	struct sockaddr_in addr;
	char err[512];
	int i, rc;

	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "gencert") == 0)
		return gencert(argc, argv);
	if (strcmp(argv[1], "server") == 0)
		opt.server = 1;
	else if (strcmp(argv[1], "client") != 0)
		return usage();
	for (i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

#define OPT_S(name, field) if (strcmp(a, name) == 0 && v) { field = v; i++; continue; }
		OPT_S("--cert", opt.cert)
		OPT_S("--key", opt.key)
		OPT_S("--domain", opt.domain)
		OPT_S("--ca", opt.ca)
		OPT_S("--peer", opt.peer)
		OPT_S("--icert", opt.icert)
		OPT_S("--ikey", opt.ikey)
		OPT_S("--send", opt.send)
		OPT_S("--expect", opt.expect)
		OPT_S("--expect-verify", opt.expect_verify)
		OPT_S("--expect-error", opt.expect_error)
		OPT_S("--inject", opt.inject)
		if (strcmp(a, "--port") == 0 && v) { opt.port = atoi(v); i++; continue; }
		if (strcmp(a, "--pin") == 0 && v && opt.npins < MAX_PINS) {
			opt.pins[opt.npins++] = v; i++; continue;
		}
		if (strcmp(a, "--direct") == 0) { opt.direct = 1; continue; }
		if (strcmp(a, "--starttls") == 0) { opt.starttls = 1; continue; }
		if (strcmp(a, "--internal") == 0) { opt.internal = 1; continue; }
		fprintf(stderr, "tls_tool: unknown option %s\n", a);
		return usage();
	}
	if (opt.port <= 0 || !opt.cert || !opt.key || !opt.domain)
		return usage();

	log_setup(LOG_DEBUG, LOG_FORMAT_TEXT);
	memset(&cfg, 0, sizeof(cfg));
	cp.domain = opt.domain;
	cp.cert_path = opt.cert;
	cp.key_path = opt.key;
	cfg.certs = &cp;
	cfg.ncerts = 1;
	cfg.ca_file = opt.ca;
	cfg.pins = opt.pins;
	cfg.npins = opt.npins;
	cfg.internal_cert_path = opt.icert;
	cfg.internal_key_path = opt.ikey;
	st.store = tls_certstore_load(&cfg, err, sizeof(err));
	if (st.store == NULL) {
		fprintf(stderr, "tls_tool: %s\n", err);
		return 1;
	}

	st.loop = uv_default_loop();
	uv_timer_init(st.loop, &st.timer);
	uv_timer_start(&st.timer, on_timeout, TOOL_TIMEOUT_MS, 0);
	uv_ip4_addr("127.0.0.1", opt.port, &addr);
	if (opt.server) {
		uv_tcp_init(st.loop, &st.listener);
		if ((rc = uv_tcp_bind(&st.listener, (const struct sockaddr *)&addr,
		    0)) != 0 || (rc = uv_listen((uv_stream_t *)&st.listener, 4,
		    on_connection)) != 0) {
			fprintf(stderr, "tls_tool: listen: %s\n", uv_strerror(rc));
			return 1;
		}
		printf("LISTENING %d\n", opt.port);
		fflush(stdout);
	} else {
		tls_uv_init(st.loop, &st.conn, &tool_cb, NULL);
		st.conn_inited = 1;
		uv_tcp_connect(&st.connect_req, tls_uv_tcp(&st.conn),
		    (const struct sockaddr *)&addr, on_connect);
	}
	uv_run(st.loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(st.loop);
	tls_certstore_unref(st.store);
	if (rc != 0) {
		printf("LOOP NOT EMPTY\n");
		st.failed = 1;
	}
	if (st.failed ||
	    (opt.expect && !st.ok_expect) ||
	    (opt.expect_verify && !st.ok_verify) ||
	    (opt.expect_error && !st.ok_error)) {
		printf("RESULT fail\n");
		return 1;
	}
	printf("RESULT ok\n");
	return 0;
}
