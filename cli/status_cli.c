/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status_cli.c - `xmpp-edge status`, `xmpp-edge streams`-style output and
 * `xmpp-edge drain`: the control socket's JSON made readable.
 *
 * The daemon answers "status" with one JSON document (control.c); this
 * file asks for it and prints it for a person: the daemon line, the
 * listeners, the gateway link, the counters and a table of the live
 * streams.  `--json` prints the document as it came (scripts, tests).
 * Exit 0 when the daemon answered "running", else 1.
 */
#include "status_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yajl/yajl_tree.h>

#include "admin_client.h"
#include "control.h"
#include "handover.h"

/* A status with every stream of a full daemon (limits.max_streams is at
 * most 1 000 000, ~400 bytes each in JSON) fits. */
#define STATUS_REPLY_MAX (64u * 1024u * 1024u)

static yajl_val
get(yajl_val v, const char *key)
{
	const char *path[] = { key, NULL };

	return v != NULL ? yajl_tree_get(v, path, yajl_t_any) : NULL;
}

static const char *
str(yajl_val v, const char *key)
{
	yajl_val s = get(v, key);

	return YAJL_IS_STRING(s) ? YAJL_GET_STRING(s) : NULL;
}

static long long
num(yajl_val v, const char *key)
{
	yajl_val n = get(v, key);

	return YAJL_IS_INTEGER(n) ? YAJL_GET_INTEGER(n) : -1;
}

/* "1h02m", "3d04h", "45s". */
static const char *
fmt_age(long long s, char *buf, size_t cap)
{
	if (s < 0)
		snprintf(buf, cap, "-");
	else if (s < 60)
		snprintf(buf, cap, "%llds", s);
	else if (s < 3600)
		snprintf(buf, cap, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, cap, "%lldh%02lldm", s / 3600, s / 60 % 60);
	else
		snprintf(buf, cap, "%lldd%02lldh", s / 86400, s / 3600 % 24);
	return buf;
}

/* "812", "12.3k", "4.1M". */
static const char *
fmt_bytes(long long n, char *buf, size_t cap)
{
	if (n < 0)
		snprintf(buf, cap, "-");
	else if (n < 10000)
		snprintf(buf, cap, "%lld", n);
	else if (n < 10000000)
		snprintf(buf, cap, "%.1fk", (double)n / 1e3);
	else if (n < 10000000000LL)
		snprintf(buf, cap, "%.1fM", (double)n / 1e6);
	else
		snprintf(buf, cap, "%.1fG", (double)n / 1e9);
	return buf;
}

static const char *
dash(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : "-";
}

static void
print_streams(yajl_val list, FILE *out)
{
	char age[32], bin[32], bout[32], queue[64], stanzas[32];
	size_t i, j;

	if (!YAJL_IS_ARRAY(list))
		return;
	fprintf(out, "\nstreams (%zu):\n", list->u.array.len);
	if (list->u.array.len == 0)
		return;
	fprintf(out, "%-3s %-7s %-13s %-24s %-24s %-19s %-22s %-7s %7s %9s %15s %7s\n",
	    "DIR", "KIND", "STATE", "LOCAL", "REMOTE", "AUTH", "PEER", "TLS", "STANZAS",
	    "QUEUE", "BYTES IN/OUT", "AGE");
	for (i = 0; i < list->u.array.len; i++) {
		yajl_val s = list->u.array.values[i], pairs = get(s, "pairs"), p0 = NULL;
		int in = str(s, "direction") != NULL && strcmp(str(s, "direction"), "in") == 0;
		char bytes[48];

		if (YAJL_IS_ARRAY(pairs) && pairs->u.array.len > 0)
			p0 = pairs->u.array.values[0];
		snprintf(stanzas, sizeof(stanzas), "%lld",
		    in ? num(s, "stanzas_in") : num(s, "stanzas_out"));
		if (in)
			snprintf(queue, sizeof(queue), "-");
		else
			snprintf(queue, sizeof(queue), "%lld/%s", num(s, "queue_stanzas"),
			    fmt_bytes(num(s, "queue_bytes"), bin, sizeof(bin)));
		snprintf(bytes, sizeof(bytes), "%s/%s", fmt_bytes(num(s, "bytes_in"), bin, sizeof(bin)),
		    fmt_bytes(num(s, "bytes_out"), bout, sizeof(bout)));
		/* XEP-0288: a remote stream that carries stanzas both ways. */
		fprintf(out, "%-3s %-7s %-13s %-24s %-24s %-19s %-22s %-7s %7s %9s %15s %7s\n",
		    dash(str(s, "direction")), YAJL_IS_TRUE(get(s, "bidi")) ? "bidi" : dash(str(s, "kind")),
		    dash(str(s, "state")),
		    dash(str(p0, "local")), dash(str(p0, "remote")), dash(str(p0, "auth")),
		    dash(str(s, "peer")), dash(str(s, "tls")), stanzas, queue, bytes,
		    fmt_age(num(s, "age_s"), age, sizeof(age)));
		/* Further pairs of an inbound stream (XEP-0220 §2.6). */
		for (j = 1; YAJL_IS_ARRAY(pairs) && j < pairs->u.array.len; j++) {
			yajl_val p = pairs->u.array.values[j];

			fprintf(out, "%-3s %-7s %-13s %-24s %-24s %-19s\n", "", "", "+",
			    dash(str(p, "local")), dash(str(p, "remote")), dash(str(p, "auth")));
		}
	}
}

/* Rate limits (ratelimit.h): totals and the top remote domains. */
static void
print_rate_limits(yajl_val rl, FILE *out)
{
	yajl_val top = get(rl, "top_domains");
	char bytes[32];
	size_t i;

	if (!YAJL_IS_OBJECT(rl))
		return;
	fprintf(out, "rate:       %lld paused now, %lld pauses (%lld ms), %lld ended for abuse, "
	    "%lld connections refused\n", num(rl, "paused_now"), num(rl, "pauses"), num(rl, "paused_ms"),
	    num(rl, "violations"), num(rl, "streams_refused"));
	if (!YAJL_IS_ARRAY(top) || top->u.array.len == 0)
		return;
	fprintf(out, "\nremote domains (top by stanzas, bytes, time paused, refusals):\n");
	fprintf(out, "%-40s %10s %10s %8s %11s %8s\n", "DOMAIN", "STANZAS", "BYTES", "PAUSES",
	    "PAUSED MS", "REFUSED");
	for (i = 0; i < top->u.array.len; i++) {
		yajl_val d = top->u.array.values[i];

		fprintf(out, "%-40s %10lld %10s %8lld %11lld %8lld\n", dash(str(d, "domain")),
		    num(d, "stanzas"), fmt_bytes(num(d, "bytes"), bytes, sizeof(bytes)), num(d, "pauses"),
		    num(d, "paused_ms"), num(d, "refusals"));
	}
}

/* "blocklist: FILE, N entries, T refusals (top: ENTRY N, ...)". */
static void
print_blocklist(yajl_val bl, FILE *out)
{
	yajl_val top = get(bl, "top");
	size_t i;

	if (str(bl, "file") == NULL || str(bl, "file")[0] == '\0') {
		fprintf(out, "blocklist:  none\n");
		return;
	}
	fprintf(out, "blocklist:  %s, %lld entries, %lld refusals", str(bl, "file"), num(bl, "entries"),
	    num(bl, "refusals"));
	for (i = 0; YAJL_IS_ARRAY(top) && i < top->u.array.len; i++)
		fprintf(out, "%s%s %lld", i == 0 ? " (top: " : ", ", dash(str(top->u.array.values[i], "entry")),
		    num(top->u.array.values[i], "refusals"));
	fprintf(out, "%s\n", YAJL_IS_ARRAY(top) && top->u.array.len > 0 ? ")" : "");
}

/* "strangers: N contacts, N learned, N refused (top: DOMAIN N, ...)". */
static void
print_strangers_status(yajl_val st, FILE *out)
{
	yajl_val top = get(st, "top_domains");
	size_t i;

	fprintf(out, "strangers:  %lld contacts, %lld learned, %lld refused", num(st, "contacts"),
	    num(st, "learned"), num(st, "refused"));
	for (i = 0; YAJL_IS_ARRAY(top) && i < top->u.array.len; i++)
		fprintf(out, "%s%s %lld", i == 0 ? " (top: " : ", ", dash(str(top->u.array.values[i], "domain")),
		    num(top->u.array.values[i], "refused"));
	fprintf(out, "%s\n", YAJL_IS_ARRAY(top) && top->u.array.len > 0 ? ")" : "");
}

/* `strangers list`: the counts, then one contact a line; `clear`: how many. */
static void
print_strangers(yajl_val doc, const char *what, int rc, FILE *out)
{
	yajl_val list = get(doc, "list");
	size_t i;

	if (rc != 0) {
		fprintf(stderr, "xmpp-edge: strangers %s refused: %s\n", what, dash(str(doc, "error")));
		return;
	}
	if (strcmp(what, "clear") == 0) {
		fprintf(out, "cleared %lld contacts\n", num(doc, "cleared"));
		return;
	}
	fprintf(out, "%lld contacts (at most %lld), %lld learned, %lld refused\n", num(doc, "contacts"),
	    num(doc, "max_contacts"), num(doc, "learned"), num(doc, "refused"));
	for (i = 0; i < list->u.array.len; i++)
		fprintf(out, "%s\n", YAJL_IS_STRING(list->u.array.values[i]) ?
		    YAJL_GET_STRING(list->u.array.values[i]) : "?");
}

static void
print_status(yajl_val doc, FILE *out)
{
	yajl_val ls = get(doc, "listeners"), doms = get(doc, "domains"), gw = get(doc, "gateway");
	yajl_val auth = get(doc, "auth");
	char age[32];
	size_t i;

	fprintf(out, "xmpp-edge %s, pid %lld, %s%s, up %s\n", dash(str(doc, "version")),
	    num(doc, "pid"), dash(str(doc, "status")), num(doc, "draining") == 1 ? " (draining)" : "",
	    fmt_age(num(doc, "uptime_s"), age, sizeof(age)));
	fprintf(out, "config:     %s\n", dash(str(doc, "config")));
	fprintf(out, "domains:   ");
	for (i = 0; YAJL_IS_ARRAY(doms) && i < doms->u.array.len; i++)
		fprintf(out, " %s", YAJL_IS_STRING(doms->u.array.values[i]) ?
		    YAJL_GET_STRING(doms->u.array.values[i]) : "?");
	fprintf(out, "\nlisteners: ");
	if (!YAJL_IS_ARRAY(ls) || ls->u.array.len == 0)
		fprintf(out, " none%s", num(doc, "draining") == 1 ? " (draining)" : "");
	for (i = 0; YAJL_IS_ARRAY(ls) && i < ls->u.array.len; i++)
		fprintf(out, " %s %s%s", dash(str(ls->u.array.values[i], "kind")),
		    dash(str(ls->u.array.values[i], "addr")), i + 1 < ls->u.array.len ? "," : "");
	fprintf(out, "\ngateway:    %s%s%s\n", dash(str(gw, "state")),
	    str(gw, "detail") != NULL && str(gw, "detail")[0] ? ": " : "",
	    str(gw, "detail") != NULL ? str(gw, "detail") : "");
	fprintf(out, "streams:    %lld in, %lld out\n", num(doc, "streams"), num(doc, "streams_out"));
	fprintf(out, "inbound:    %lld accepted, %lld refused, %lld accept failures, %lld stream errors sent, "
	    "%lld elements read, %lld reads paused\n", num(doc, "streams_accepted"),
	    num(doc, "streams_refused"), num(doc, "accept_failures"), num(doc, "stream_errors_sent"),
	    num(doc, "elements_in"), num(doc, "reads_paused"));
	fprintf(out, "outbound:   %lld started, %lld failed\n", num(doc, "streams_out_started"),
	    num(doc, "streams_out_failed"));
	fprintf(out, "stanzas:    %lld routed, %lld delivered, %lld bounced, %lld errors not bounced\n",
	    num(doc, "stanzas_routed"), num(doc, "stanzas_delivered"), num(doc, "stanzas_bounced"),
	    num(doc, "errors_not_bounced"));
	fprintf(out, "tls:        %lld handshakes in, %lld out, %lld for dialback checks\n",
	    num(doc, "tls_handshakes_in"), num(doc, "tls_handshakes_out"),
	    num(doc, "tls_handshakes_dialback_verify"));
	fprintf(out, "dns:        %lld lookups, %lld failed\n", num(doc, "dns_lookups"),
	    num(doc, "dns_lookup_failures"));
	fprintf(out, "dialback:   %lld db:verify answered\n", num(doc, "dialback_verify_answered"));
	fprintf(out, "auth:      ");
	if (!YAJL_IS_ARRAY(auth) || auth->u.array.len == 0)
		fprintf(out, " none yet");
	for (i = 0; YAJL_IS_ARRAY(auth) && i < auth->u.array.len; i++) {
		yajl_val a = auth->u.array.values[i];

		fprintf(out, " %s %s %s %lld%s", dash(str(a, "direction")), dash(str(a, "method")),
		    dash(str(a, "result")), num(a, "count"), i + 1 < auth->u.array.len ? "," : "");
	}
	fputc('\n', out);
	print_rate_limits(get(doc, "rate_limits"), out);
	print_blocklist(get(doc, "blocklist"), out);
	print_strangers_status(get(doc, "strangers"), out);
	print_streams(get(doc, "stream_list"), out);
}

int
status_cli_run(const char *socket_path, const struct admin_remote *remote,
    const char *command, int json, int quiet)
{
	char err[CONFIG_PATH_MAX + 256], perr[256];
	char *reply;
	yajl_val doc;
	int rc = 1;

	reply = malloc(STATUS_REPLY_MAX);
	if (reply == NULL) {
		fprintf(stderr, "xmpp-edge: out of memory\n");
		return 1;
	}
	if ((remote != NULL ? admin_client_fetch(remote, command, reply, STATUS_REPLY_MAX, err,
	    sizeof(err)) : control_client_request(socket_path, command, reply, STATUS_REPLY_MAX,
	    err, sizeof(err))) < 0) {
		if (!quiet)
			fprintf(stderr, "xmpp-edge: %s\n", err);
		goto done;
	}
	doc = yajl_tree_parse(reply, perr, sizeof(perr));
	if (doc == NULL) {
		if (!quiet)
			fprintf(stderr, "xmpp-edge: the daemon's answer is not JSON: %s\n", perr);
		goto done;
	}
	if (strcmp(command, "status") == 0)
		rc = str(doc, "status") != NULL && strcmp(str(doc, "status"), "running") == 0 ? 0 : 1;
	else if (strcmp(command, "drain") == 0 || strcmp(command, "strangers clear") == 0)
		rc = str(doc, "result") != NULL && strcmp(str(doc, "result"), "applied") == 0 ? 0 : 1;
	else if (strcmp(command, "strangers list") == 0)
		rc = YAJL_IS_ARRAY(get(doc, "list")) ? 0 : 1;
	else
		rc = YAJL_IS_ARRAY(get(doc, "streams")) ? 0 : 1;
	if (quiet) {
		/* nothing */
	} else if (json) {
		fputs(reply, stdout);
	} else if (strcmp(command, "status") == 0) {
		print_status(doc, stdout);
	} else if (strncmp(command, "strangers ", 10) == 0) {
		print_strangers(doc, command + 10, rc, stdout);
	} else if (strcmp(command, "drain") == 0) {
		if (rc == 0)
			printf("draining: %lld external listeners closed, %lld streams still open; "
			    "the internal listener stays open\n", num(doc, "listeners_closed"),
			    num(doc, "streams"));
		else
			fprintf(stderr, "xmpp-edge: drain refused: %s\n", dash(str(doc, "error")));
	} else {
		print_streams(get(doc, "streams"), stdout);
	}
	yajl_tree_free(doc);
done:
	free(reply);
	return rc;
}

/* One request, its answer parsed (NULL with a sentence on stderr). */
static yajl_val
status_cli_ask(const char *socket_path, const char *command, int quiet)
{
	char err[CONFIG_PATH_MAX + 256], perr[256], *reply = malloc(STATUS_REPLY_MAX);
	yajl_val doc = NULL;

	if (reply == NULL)
		return NULL;
	if (control_client_request(socket_path, command, reply, STATUS_REPLY_MAX, err,
	    sizeof(err)) < 0) {
		if (!quiet)
			fprintf(stderr, "xmpp-edge: %s\n", err);
	} else if ((doc = yajl_tree_parse(reply, perr, sizeof(perr))) == NULL && !quiet) {
		fprintf(stderr, "xmpp-edge: the daemon's answer is not JSON: %s\n", perr);
	}
	free(reply);
	return doc;
}

int
status_cli_upgrade(const char *socket_path, int quiet)
{
	/* The new process's start (HANDOVER_READY_TIMEOUT_MS) and a margin. */
	const int polls = (HANDOVER_READY_TIMEOUT_MS + 5000) / 200;
	long long old_pid, new_pid;
	yajl_val doc;
	int i;

	if ((doc = status_cli_ask(socket_path, "status", quiet)) == NULL)
		return 1;
	old_pid = num(doc, "pid");
	yajl_tree_free(doc);
	if ((doc = status_cli_ask(socket_path, "upgrade", quiet)) == NULL)
		return 1;
	if (str(doc, "result") == NULL || strcmp(str(doc, "result"), "started") != 0) {
		if (!quiet)
			fprintf(stderr, "xmpp-edge: upgrade refused: %s\n", dash(str(doc, "error")));
		yajl_tree_free(doc);
		return 1;
	}
	new_pid = num(doc, "pid");
	yajl_tree_free(doc);
	/* The socket is the same file throughout: the old process answers
	 * until the new one is ready, then only the new one does. */
	for (i = 0; i < polls; i++) {
		const char *state;
		long long pid;

		usleep(200 * 1000);
		if ((doc = status_cli_ask(socket_path, "status", 1)) == NULL)
			continue;
		pid = num(doc, "pid");
		state = str(doc, "upgrade");
		if (pid == new_pid) {
			if (!quiet)
				printf("upgraded: pid %lld -> %lld (version %s); pid %lld drains and exits\n",
				    old_pid, new_pid, dash(str(doc, "version")), old_pid);
			yajl_tree_free(doc);
			return 0;
		}
		if (pid == old_pid && state != NULL && strncmp(state, "failed", 6) == 0) {
			if (!quiet)
				fprintf(stderr, "xmpp-edge: upgrade %s; pid %lld goes on serving\n", state,
				    old_pid);
			yajl_tree_free(doc);
			return 1;
		}
		yajl_tree_free(doc);
	}
	if (!quiet)
		fprintf(stderr, "xmpp-edge: pid %lld did not take over in time; see the log\n", new_pid);
	return 1;
}
