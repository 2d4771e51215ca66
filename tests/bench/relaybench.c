/* SPDX-License-Identifier: Apache-2.0 */
/*
 * relaybench.c - load generator and sink for tests/bench/run_relay.sh.
 *
 * One process plays both ends of a relay: K sender threads connect to the
 * proxy under test (or straight to the sink), a sink listener accepts the
 * proxy's outgoing connections and counts stanzas, checking their order.
 *
 *   relaybench --mode xmpp|raw --connect PORT --listen PORT --conns K
 *              --n N --body BYTES --cert DIR [--pid PID]
 *
 * mode xmpp: the sender is xmpp-edge's gateway (Direct TLS to
 *   listen.internal with the pinned client certificate gw.crt, stream
 *   example.com -> remoteK.example, SASL EXTERNAL, restart); the sink is
 *   remoteK.example's server (STARTTLS required, SASL EXTERNAL offered and
 *   accepted, restart), with certificate remote.crt (SANs remote0..7.example,
 *   signed by ca.crt which xmpp-edge trusts).
 * mode raw: plain TLS both sides (sender -> HAProxy -> sink, or sender ->
 *   sink directly): the same stanza bytes, no XMPP negotiation.
 *
 * Every leg is TLS 1.3 with TLS_AES_128_GCM_SHA256 (the only suite this
 * tool offers or accepts), so both proxies do the same crypto.
 *
 * Each sender sends one warm-up stanza, waits until every sink connection
 * has it (so connection set-up is not timed), then N stanzas in 16 KiB
 * writes.  Timed: from the first of those writes to the last stanza at the
 * sink.  With --pid, utime+stime of that process (from /proc/PID/stat) is
 * read at the same two instants, and its VmHWM at the end.
 * Output: one line of key=value pairs.
 *
 * --sm (mode xmpp): XEP-0198 on both legs where the proxy offers it.  The
 *   sink offers <sm xmlns='urn:xmpp:sm:3'/> after SASL, answers <enable/>
 *   with <enabled/> and every <r/> with <a h/> (the stanzas it read on that
 *   connection); the sender enables it when the proxy's features offer it
 *   (sm_in=1 in the output).
 * --lat M: after the timed run, sender 0 sends M more stanzas one at a
 *   time, each followed by <r/> when stream management is on: lat_p50_ms is
 *   the time from its write to its arrival at the sink (relay latency),
 *   ack_p50_ms the time until the proxy's <a h/> covering it came back
 *   (custody: the proxy acknowledges once the sink acknowledged).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXC 64
#define NS "xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'"

static int xmpp, cport, lport, conns = 1, body = 300;
static long nmsg = 200000;
static const char *certdir = ".";
static int pid;
static int use_sm, nlat;
static int sm_in;			/* the proxy offered <sm/> to the sender, enabled */
static double *lat_ms, *ack_ms;

static atomic_long got[MAXC];        /* stanzas received per sender index */
static atomic_int bad_order, warm_done, go, sinks_up, sinks_closed;
static atomic_long bytes_sent;
static double t_end;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static char cipher_in[64], cipher_out[64];

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "relaybench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	ERR_print_errors_fp(stderr);
	va_end(ap);
	exit(2);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double proc_cpu(void)
{
	char path[64], buf[1024];
	if (!pid)
		return 0;
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		die("%s: %s", path, strerror(errno));
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, st = 0;
	/* after ")": state(3) ... utime is field 14, stime 15 */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		die("cannot parse %s", path);
	return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

static long proc_hwm(void)
{
	char path[64], line[256];
	long kb = 0;
	if (!pid)
		return 0;
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* --- connections: a socket, maybe TLS, with a read buffer ---------------- */

struct conn {
	int fd;
	SSL *ssl;
	char *buf;
	size_t len, cap;
};

static void conn_init(struct conn *c, int fd)
{
	memset(c, 0, sizeof *c);
	c->fd = fd;
	c->cap = 1 << 20;
	c->buf = malloc(c->cap);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void conn_write(struct conn *c, const void *p, size_t n)
{
	const char *s = p;
	while (n) {
		ssize_t w = c->ssl ? SSL_write(c->ssl, s, (int)n) : write(c->fd, s, n);
		if (w <= 0)
			die("write failed (%s)", strerror(errno));
		s += w;
		n -= (size_t)w;
	}
}

static void conn_puts(struct conn *c, const char *s) { conn_write(c, s, strlen(s)); }

/* Reads more into c->buf; 0 at EOF. */
static ssize_t conn_fill(struct conn *c)
{
	if (c->cap - c->len < 65536) {
		c->cap *= 2;
		c->buf = realloc(c->buf, c->cap);
	}
	ssize_t r = c->ssl ? SSL_read(c->ssl, c->buf + c->len, (int)(c->cap - c->len))
			   : read(c->fd, c->buf + c->len, c->cap - c->len);
	if (r < 0 && !c->ssl)
		die("read: %s", strerror(errno));
	if (r <= 0)
		return 0;
	c->len += (size_t)r;
	return r;
}

static void conn_consume(struct conn *c, size_t n)
{
	memmove(c->buf, c->buf + n, c->len - n);
	c->len -= n;
}

/* Reads until MARK is buffered; consumes through it; returns what preceded. */
static char *read_until(struct conn *c, const char *mark)
{
	char *m;
	while (!(m = memmem(c->buf, c->len, mark, strlen(mark))))
		if (!conn_fill(c))
			die("EOF waiting for %s (got %.*s)", mark, (int)c->len, c->buf);
	size_t n = (size_t)(m - c->buf) + strlen(mark);
	char *out = strndup(c->buf, n);
	conn_consume(c, n);
	return out;
}

/* A stream header: through the '>' closing <stream:stream ...>. */
static char *read_header(struct conn *c)
{
	free(read_until(c, "<stream:stream"));
	return read_until(c, ">");
}

static SSL_CTX *ctx_new(int server, const char *crt, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (crt && (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1))
		die("cannot load %s / %s", crt, key);
	return ctx;
}

static SSL_CTX *sink_ctx, *send_ctx;

static void tls_start(struct conn *c, int server, const char *sni)
{
	c->ssl = SSL_new(server ? sink_ctx : send_ctx);
	SSL_set_fd(c->ssl, c->fd);
	if (sni)
		SSL_set_tlsext_host_name(c->ssl, sni);
	if ((server ? SSL_accept(c->ssl) : SSL_connect(c->ssl)) != 1)
		die("TLS handshake failed (%s)", server ? "sink" : "sender");
	snprintf(server ? cipher_out : cipher_in, 64, "%s/%s", SSL_get_version(c->ssl),
		 SSL_get_cipher_name(c->ssl));
}

/* --- the stanzas ----------------------------------------------------------- */

static char *body_text;

/* Every stanza of sender K is one template with a fixed-width sequence
 * number (id='K-000000123'), so making one is a memcpy and 9 digits. */
struct tmpl {
	char *text;
	size_t len, seq_at;
};

static void tmpl_init(struct tmpl *t, int k)
{
	t->text = malloc((size_t)body + 256);
	t->len = (size_t)sprintf(t->text, "<message from='alice@example.com/bench' to='bob@remote%d.example' "
					  "id='%d-000000000' type='chat'><body>%s</body></message>", k, k, body_text);
	t->seq_at = (size_t)(strstr(t->text, "-000000000'") - t->text) + 1;
}

/* Writes stanza number s of template t at p; returns its length. */
static size_t stanza(const struct tmpl *t, char *p, long s)
{
	memcpy(p, t->text, t->len);
	for (int i = 8; i >= 0; i--, s /= 10)
		p[t->seq_at + (size_t)i] = (char)('0' + s % 10);
	return t->len;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* --- sink ------------------------------------------------------------------ */

static void *sink_conn(void *arg)
{
	struct conn c;
	conn_init(&c, (int)(long)arg);
	int k = -1;
	if (xmpp) {
		char *h = read_header(&c), *to = strstr(h, " to='remote");
		char out[1024];
		if (!to || sscanf(to, " to='remote%d.example'", &k) != 1 || k < 0 || k >= MAXC)
			die("sink: unexpected header %s", h);
		free(h);
		snprintf(out, sizeof out, "<?xml version='1.0'?><stream:stream " NS " from='remote%d.example' "
			 "to='example.com' id='s%d' version='1.0'><stream:features><starttls "
			 "xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>", k, k);
		conn_puts(&c, out);
		free(read_until(&c, "/>"));
		conn_puts(&c, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
		if (c.len)
			die("sink: bytes pipelined after <starttls/>");
		tls_start(&c, 1, NULL);
		free(read_header(&c));
		snprintf(out, sizeof out, "<?xml version='1.0'?><stream:stream " NS " from='remote%d.example' "
			 "to='example.com' id='t%d' version='1.0'><stream:features><mechanisms "
			 "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>EXTERNAL</mechanism></mechanisms>"
			 "</stream:features>", k, k);
		conn_puts(&c, out);
		free(read_until(&c, "</auth>"));
		conn_puts(&c, "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
		free(read_header(&c));
		snprintf(out, sizeof out, "<?xml version='1.0'?><stream:stream " NS " from='remote%d.example' "
			 "to='example.com' id='u%d' version='1.0'>%s", k, k,
			 use_sm ? "<stream:features><sm xmlns='urn:xmpp:sm:3'/></stream:features>" : "<stream:features/>");
		conn_puts(&c, out);
	} else {
		tls_start(&c, 1, NULL);
	}
	atomic_fetch_add(&sinks_up, 1);
	/* Count stanzas: each ends with </message>; its id is K-SEQ.  With
	 * --sm, <enable/> and <r/> are answered where they are found (after
	 * the stanzas read so far: the proxy writes <r/> after its batch). */
	size_t off = 0, scanned = 0;
	long handled = 0;
	int closed = 0;		/* our </stream:stream> is out: answer nothing more */
	for (;;) {
		char *end;
		if (use_sm && xmpp && !closed) {
			/* XEP-0198 elements are short: look in what came since the
			 * last scan (an element split across reads is found once
			 * it is whole: scanned stops short of a partial '<'). */
			char *p = c.buf + scanned, *e = c.buf + c.len, *r;
			while ((r = memmem(p, (size_t)(e - p), "xmlns='urn:xmpp:sm:3'", 21)) != NULL) {
				char *lt = r;
				while (lt > c.buf + off && *lt != '<')
					lt--;
				if (!strncmp(lt, "<enable ", 8)) {
					conn_puts(&c, "<enabled xmlns='urn:xmpp:sm:3'/>");
				} else if (!strncmp(lt, "<r ", 3)) {
					/* h: the stanzas read before this <r/>. */
					long h = handled;
					for (char *m = c.buf + off; (m = memmem(m, (size_t)(lt - m), "</message>", 10)); m += 10)
						h++;
					char a[80];
					snprintf(a, sizeof a, "<a xmlns='urn:xmpp:sm:3' h='%ld'/>", h);
					conn_puts(&c, a);
				}
				p = r + 21;
			}
			scanned = (size_t)(e - c.buf) > 40 ? (size_t)(e - c.buf) - 40 : 0;
			if (scanned < off)
				scanned = off;
		}
		while ((end = memmem(c.buf + off, c.len - off, "</message>", 10))) {
			char *st = c.buf + off, *id = memmem(st, (size_t)(end - st), " id='", 5);
			int kk = 0;
			long s = 0;
			const char *q = id ? id + 5 : NULL;
			if (q) {
				for (; *q >= '0' && *q <= '9'; q++)
					kk = kk * 10 + (*q - '0');
				if (*q++ != '-' || kk >= MAXC)
					q = NULL;
			}
			if (q) {
				for (; *q >= '0' && *q <= '9'; q++)
					s = s * 10 + (*q - '0');
				if (*q != '\'')
					q = NULL;
			}
			if (!q)
				die("sink: unparsable stanza %.*s", (int)(end - st) + 10, st);
			if (s != atomic_load(&got[kk]))
				atomic_fetch_add(&bad_order, 1);
			long g = atomic_fetch_add(&got[kk], 1) + 1;
			handled++;
			if (g > nmsg + 1) {	/* a latency stanza */
				pthread_mutex_lock(&mu);
				pthread_cond_broadcast(&cv);
				pthread_mutex_unlock(&mu);
			} else if (s == 0) {
				pthread_mutex_lock(&mu);
				warm_done++;
				pthread_cond_broadcast(&cv);
				pthread_mutex_unlock(&mu);
			} else if (g == nmsg + 1) {
				if (xmpp && !nlat) {	/* done: close our side as a server would */
					if (use_sm) {
						/* XEP-0198: the last ack before the close
						 * (as Prosody sends it), or the proxy
						 * bounces what we did not acknowledge. */
						char a[80];
						snprintf(a, sizeof a, "<a xmlns='urn:xmpp:sm:3' h='%ld'/>", handled);
						conn_puts(&c, a);
					}
					conn_puts(&c, "</stream:stream>");
					closed = 1;
				}
				pthread_mutex_lock(&mu);
				double t = now();
				if (t > t_end)
					t_end = t;
				pthread_cond_broadcast(&cv);
				pthread_mutex_unlock(&mu);
			}
			off = (size_t)(end - c.buf) + 10;
		}
		if (off > c.cap / 2) {
			conn_consume(&c, off);
			scanned = scanned > off ? scanned - off : 0;
			off = 0;
		}
		if (!conn_fill(&c))
			break;
	}
	SSL_shutdown(c.ssl);
	close(c.fd);
	atomic_fetch_add(&sinks_closed, 1);
	return NULL;
}

static void *sink_accept(void *arg)
{
	int ls = (int)(long)arg;
	for (;;) {
		int fd = accept(ls, NULL, NULL);
		if (fd < 0)
			continue;
		pthread_t t;
		pthread_create(&t, NULL, sink_conn, (void *)(long)fd);
		pthread_detach(t);
	}
	return NULL;
}

/* --- sender ---------------------------------------------------------------- */

static void *sender(void *arg)
{
	int k = (int)(long)arg;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)cport) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
		die("connect 127.0.0.1:%d: %s", cport, strerror(errno));
	struct conn c;
	conn_init(&c, fd);
	tls_start(&c, 0, "edge.internal");
	if (xmpp) {
		char h[512];
		snprintf(h, sizeof h, "<?xml version='1.0'?><stream:stream " NS " from='example.com' "
			 "to='remote%d.example' version='1.0'>", k);
		conn_puts(&c, h);
		free(read_until(&c, "</stream:features>"));
		conn_puts(&c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>"
			      "ZXhhbXBsZS5jb20=</auth>");
		char *r = read_until(&c, "/>");
		if (!strstr(r, "<success"))
			die("sender: SASL EXTERNAL refused: %s", r);
		free(r);
		conn_puts(&c, h);
		free(read_header(&c));
		/* "<stream:features/>", or features with children (<sm/>). */
		char *f = read_until(&c, "<stream:features");
		while (c.len < 2)
			if (!conn_fill(&c))
				die("sender: EOF in the features");
		if (c.buf[0] == '/') {
			conn_consume(&c, 2);
		} else {
			free(f);
			f = read_until(&c, "</stream:features>");
			if (use_sm && strstr(f, "urn:xmpp:sm:3")) {
				conn_puts(&c, "<enable xmlns='urn:xmpp:sm:3'/>");
				free(read_until(&c, "/>"));
				if (k == 0)
					sm_in = 1;
			}
		}
		free(f);
	}
	struct tmpl tp;
	tmpl_init(&tp, k);
	char *buf = malloc(16384 + tp.len);
	conn_write(&c, buf, stanza(&tp, buf, 0));
	pthread_mutex_lock(&mu);
	while (!atomic_load(&go))
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	long s = 1, sent = 0;
	while (s <= nmsg) {
		size_t n = 0;
		while (s <= nmsg && n < 16384)
			n += stanza(&tp, buf + n, s++);
		conn_write(&c, buf, n);
		sent += (long)n;
	}
	atomic_fetch_add(&bytes_sent, sent);
	/* Wait for the sink, then look for anything the proxy sent back
	 * (a bounce or stream error would mean a stanza was refused). */
	pthread_mutex_lock(&mu);
	while (atomic_load(&got[k]) < nmsg + 1)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	/* Latency: one stanza at a time (and <r/> with stream management). */
	for (int i = 0; k == 0 && i < nlat; i++) {
		long seq = nmsg + 1 + i;
		double t0 = now();
		size_t n = stanza(&tp, buf, seq);
		if (sm_in)
			n += (size_t)sprintf(buf + n, "<r xmlns='urn:xmpp:sm:3'/>");
		conn_write(&c, buf, n);
		pthread_mutex_lock(&mu);
		while (atomic_load(&got[k]) < seq + 1)
			pthread_cond_wait(&cv, &mu);
		pthread_mutex_unlock(&mu);
		lat_ms[i] = (now() - t0) * 1000;
		if (!sm_in)
			continue;
		/* The proxy's <a h/> covering it: h counts every stanza since
		 * <enable/> (the warm-up, the N, and these). */
		for (;;) {
			char *a = read_until(&c, "/>"), *hq = strstr(a, " h='");
			long h = hq ? atol(hq + 4) : -1;
			free(a);
			if (h >= seq + 1)
				break;
		}
		ack_ms[i] = (now() - t0) * 1000;
	}
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if ((c.ssl && SSL_pending(c.ssl)) || poll(&p, 1, 0) > 0) {
		char tmp[4096];
		struct timeval tv = { 0, 100000 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		int r = SSL_read(c.ssl, tmp, sizeof tmp - 1);
		if (r > 0 && memmem(tmp, (size_t)r, "error", 5)) {
			tmp[r] = 0;
			die("sender %d: the proxy sent back: %s", k, tmp);
		}
	}
	if (xmpp)
		conn_puts(&c, "</stream:stream>");
	SSL_shutdown(c.ssl);
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);	/* a write to a closed peer is an error, not death */
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *o = argv[i], *v = argv[i + 1];
		if (!strcmp(o, "--mode"))
			xmpp = !strcmp(v, "xmpp");
		else if (!strcmp(o, "--connect"))
			cport = atoi(v);
		else if (!strcmp(o, "--listen"))
			lport = atoi(v);
		else if (!strcmp(o, "--conns"))
			conns = atoi(v);
		else if (!strcmp(o, "--n"))
			nmsg = atol(v);
		else if (!strcmp(o, "--body"))
			body = atoi(v);
		else if (!strcmp(o, "--cert"))
			certdir = v;
		else if (!strcmp(o, "--pid"))
			pid = atoi(v);
		else if (!strcmp(o, "--sm"))
			use_sm = atoi(v);
		else if (!strcmp(o, "--lat"))
			nlat = atoi(v);
		else
			die("unknown option %s", o);
	}
	if (!cport || !lport || conns < 1 || conns > MAXC || nmsg < 1 || body < 0)
		die("usage: relaybench --mode xmpp|raw --connect PORT --listen PORT --conns K --n N "
		    "--body BYTES --cert DIR [--pid PID] [--sm 1] [--lat M]");
	lat_ms = calloc((size_t)nlat + 1, sizeof(double));
	ack_ms = calloc((size_t)nlat + 1, sizeof(double));
	body_text = malloc((size_t)body + 1);
	memset(body_text, 'x', (size_t)body);
	body_text[body] = 0;
	char crt[512], key[512];
	snprintf(crt, sizeof crt, "%s/remote.crt", certdir);
	snprintf(key, sizeof key, "%s/remote.key", certdir);
	sink_ctx = ctx_new(1, crt, key);
	snprintf(crt, sizeof crt, "%s/gw.crt", certdir);
	snprintf(key, sizeof key, "%s/gw.key", certdir);
	send_ctx = ctx_new(0, crt, key);

	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)lport) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 128) != 0)
		die("listen 127.0.0.1:%d: %s", lport, strerror(errno));
	pthread_t t;
	pthread_create(&t, NULL, sink_accept, (void *)(long)ls);
	pthread_t snd[MAXC];
	for (long k = 0; k < conns; k++)
		pthread_create(&snd[k], NULL, sender, (void *)k);

	/* Warm-up: one stanza per connection end to end, then go. */
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 30;
	pthread_mutex_lock(&mu);
	while (warm_done < conns)
		if (pthread_cond_timedwait(&cv, &mu, &dl) == ETIMEDOUT)
			die("warm-up: %d of %d connections delivered within 30 s", warm_done, conns);
	double c0 = proc_cpu(), t0 = now();
	atomic_store(&go, 1);
	pthread_cond_broadcast(&cv);
	for (;;) {
		int done = 1;
		for (int k = 0; k < conns; k++)
			done &= atomic_load(&got[k]) >= nmsg + 1;
		if (done)
			break;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += 120;
		if (pthread_cond_timedwait(&cv, &mu, &dl) == ETIMEDOUT)
			die("timed out: not every stanza arrived within 120 s");
	}
	double t1 = t_end, c1 = proc_cpu();
	pthread_mutex_unlock(&mu);
	for (int k = 0; k < conns; k++)
		pthread_join(snd[k], NULL);
	for (int i = 0; i < 500 && atomic_load(&sinks_closed) < conns; i++)
		usleep(10000);	/* both ends closed cleanly (not timed) */
	double secs = t1 - t0, mb = atomic_load(&bytes_sent) / 1e6, cpu = c1 - c0;
	long total = nmsg * conns;
	qsort(lat_ms, (size_t)nlat, sizeof(double), cmp_double);
	qsort(ack_ms, (size_t)nlat, sizeof(double), cmp_double);
	printf("mode=%s conns=%d n=%ld body=%d stanza_bytes=%.0f secs=%.4f msgs_per_s=%.0f mb_per_s=%.1f "
	       "cpu_s=%.2f cpu_ms_per_mb=%.3f peak_rss_kb=%ld order_errors=%d tls_in=%s tls_out=%s "
	       "sm_in=%d lat_p50_ms=%.3f ack_p50_ms=%.3f\n",
	       xmpp ? "xmpp" : "raw", conns, nmsg, body, atomic_load(&bytes_sent) / (double)total, secs,
	       total / secs, mb / secs, cpu, pid ? cpu * 1000 / mb : 0.0, proc_hwm(),
	       atomic_load(&bad_order), cipher_in, cipher_out, sm_in,
	       nlat ? lat_ms[nlat / 2] : 0.0, nlat && sm_in ? ack_ms[nlat / 2] : 0.0);
	return atomic_load(&bad_order) ? 1 : 0;
}
