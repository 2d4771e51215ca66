/* SPDX-License-Identifier: Apache-2.0 */
/*
 * listen_check.c - would `run` get its ports?  (`xmpp-edge check`)
 *
 * Each address of listen.* and metrics.listen is bound for a moment the
 * way listener.c binds it (SO_REUSEADDR as libuv sets it, IPV6_V6ONLY),
 * then closed.  A failure is what `run` would stop on, in its words
 * ("listen.starttls: cannot listen on 127.0.0.1:5269: address already in
 * use"), reported by `check` as a warning: the port may be free again by
 * the time the daemon starts, or held by the very daemon being checked.
 * When /proc shows who listens there, the message names it
 * ("held by pid 812 (prosody)"): the kernel's socket tables give the
 * socket's inode, the processes' fd links give its holder.  Processes of
 * other users are visible to root only; then the name is left out.
 */
#include "listen_check.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "netaddr.h"

#define PROC_TCP_STATE_LISTEN 0x0A

/* An address as /proc/net/tcp{,6} prints it: the 32-bit words of the
 * address in host order, "%08X" each. */
static void
listen_check_proc_addr(const struct sockaddr_storage *ss, char *out, size_t cap, int *port)
{
	size_t i, o = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		snprintf(out, cap, "%08X", (unsigned)sin->sin_addr.s_addr);
		*port = ntohs(sin->sin_port);
		return;
	}
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	for (i = 0; i < 4 && o + 9 <= cap; i++, o += 8) {
		uint32_t w;

		memcpy(&w, &sin6->sin6_addr.s6_addr[i * 4], sizeof(w));
		snprintf(out + o, cap - o, "%08X", (unsigned)w);
	}
	*port = ntohs(sin6->sin6_port);
}

static int
listen_check_all_zero(const char *hex)
{
	return hex[strspn(hex, "0")] == '\0';
}

/* The inode of a listening socket on ss's port that a bind to ss would
 * collide with (same address, or a wildcard on either side); 0 if none. */
static unsigned long
listen_check_find_inode(const struct sockaddr_storage *ss)
{
	static const char *const tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	char want[40], line[512], addr[40];
	unsigned long inode;
	unsigned port, state;
	int want_port;
	size_t t;

	listen_check_proc_addr(ss, want, sizeof(want), &want_port);
	for (t = 0; t < 2; t++) {
		FILE *f = fopen(tables[t], "re");
		int v6 = t == 1;

		if (f == NULL)
			continue;
		while (fgets(line, sizeof(line), f) != NULL) {
			if (sscanf(line, " %*u: %39[0-9A-F]:%x %*s %x %*s %*s %*s %*s %*s %lu",
			    addr, &port, &state, &inode) != 4 || state != PROC_TCP_STATE_LISTEN ||
			    (int)port != want_port)
				continue;
			/* A v6 wildcard socket also takes v4 unless V6ONLY:
			 * either way it is a candidate holder. */
			if ((v6 == (ss->ss_family == AF_INET6) && strcmp(addr, want) == 0) ||
			    listen_check_all_zero(addr) || listen_check_all_zero(want)) {
				fclose(f);
				return inode;
			}
		}
		fclose(f);
	}
	return 0;
}

/* " (held by pid N (comm))" for the process holding socket inode, or "". */
static void
listen_check_holder(unsigned long inode, char *out, size_t cap)
{
	char want[48], path[64], link[64], comm[64] = "";
	struct dirent *p, *fd;
	DIR *procs, *fds;

	out[0] = '\0';
	if (inode == 0 || (procs = opendir("/proc")) == NULL)
		return;
	snprintf(want, sizeof(want), "socket:[%lu]", inode);
	while ((p = readdir(procs)) != NULL && out[0] == '\0') {
		if (p->d_name[strspn(p->d_name, "0123456789")] != '\0')
			continue;
		snprintf(path, sizeof(path), "/proc/%.20s/fd", p->d_name);
		if ((fds = opendir(path)) == NULL)
			continue;
		while ((fd = readdir(fds)) != NULL) {
			char fdpath[96];
			ssize_t n;
			FILE *f;

			snprintf(fdpath, sizeof(fdpath), "%s/%.20s", path, fd->d_name);
			n = readlink(fdpath, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			if (strcmp(link, want) != 0)
				continue;
			snprintf(fdpath, sizeof(fdpath), "/proc/%.20s/comm", p->d_name);
			if ((f = fopen(fdpath, "re")) != NULL) {
				if (fgets(comm, sizeof(comm), f) != NULL)
					comm[strcspn(comm, "\n")] = '\0';
				fclose(f);
			}
			snprintf(out, cap, " (held by pid %.20s%s%s%s)", p->d_name,
			    comm[0] ? " (" : "", comm, comm[0] ? ")" : "");
			break;
		}
		closedir(fds);
	}
	closedir(procs);
}

/* 0 if addr can be bound now, else the errno of the bind. */
static int
listen_check_bind(const struct sockaddr_storage *ss)
{
	int fd, on = 1, e = 0;
	socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ss->ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (const struct sockaddr *)ss, len) != 0)
		e = errno;
	close(fd);
	return e;
}

static size_t
listen_check_list(const char *key, const char (*addrs)[CONFIG_ADDR_MAX], size_t n, FILE *out)
{
	struct sockaddr_storage ss;
	char why[128], held[160];
	size_t i, bad = 0;
	int e;

	for (i = 0; i < n; i++) {
		if (addrs[i][0] == '\0' || netaddr_parse(addrs[i], &ss, why, sizeof(why)) != 0)
			continue;	/* the loader refused a bad one already */
		if ((e = listen_check_bind(&ss)) == 0)
			continue;
		held[0] = '\0';
		if (e == EADDRINUSE)
			listen_check_holder(listen_check_find_inode(&ss), held, sizeof(held));
		/* listener.c's and metrics.c's words, uv_strerror included. */
		fprintf(out, "warning: %s: cannot listen on %s: %s%s\n", key, addrs[i],
		    uv_strerror(uv_translate_sys_error(e)), held);
		bad++;
	}
	return bad;
}

size_t
listen_check_ports(const struct config *cfg, FILE *out)
{
	const struct config_listen *l = &cfg->listen;
	size_t bad = 0;

	bad += listen_check_list("listen.starttls", l->starttls,
	    l->starttls_count, out);
	bad += listen_check_list("listen.direct_tls", l->direct_tls,
	    l->direct_tls_count, out);
	bad += listen_check_list("listen.internal_starttls",
	    l->internal_starttls, l->internal_starttls_count, out);
	bad += listen_check_list("listen.internal", l->internal,
	    l->internal_count, out);
	bad += listen_check_list("metrics.listen", &cfg->metrics.listen, 1, out);
	return bad;
}
