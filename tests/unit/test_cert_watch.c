/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cert_watch.c - daemon/cert_watch.c: how a configured path is split
 * into the directory watched and the name its events are matched with.
 * The watching itself (inotify, debounce, reload) is tested end to end by
 * tests/cert/run.py against a live daemon.
 */
#include "test.h"

#include "cert_watch.h"

TEST(cert_watch_split_paths)
{
	char dir[64];

	CHECK_STR_EQ(cert_watch_split("/etc/xmpp-edge/example.com.crt", dir, sizeof(dir)), "example.com.crt");
	CHECK_STR_EQ(dir, "/etc/xmpp-edge");
	/* Kubernetes: the configured name is a symlink into ..data. */
	CHECK_STR_EQ(cert_watch_split("/run/secrets/tls/tls.key", dir, sizeof(dir)), "tls.key");
	CHECK_STR_EQ(dir, "/run/secrets/tls");
	CHECK_STR_EQ(cert_watch_split("/edge.crt", dir, sizeof(dir)), "edge.crt");
	CHECK_STR_EQ(dir, "/");
	CHECK_STR_EQ(cert_watch_split("edge.crt", dir, sizeof(dir)), "edge.crt");
	CHECK_STR_EQ(dir, ".");
	CHECK_STR_EQ(cert_watch_split("certs/edge.crt", dir, sizeof(dir)), "edge.crt");
	CHECK_STR_EQ(dir, "certs");
}

TEST(cert_watch_split_refusals)
{
	char dir[8];

	CHECK(cert_watch_split("/etc/xmpp-edge/", dir, sizeof(dir)) == NULL);	/* no file name */
	CHECK(cert_watch_split("", dir, sizeof(dir)) == NULL);
	/* A directory longer than the buffer is refused, never cut. */
	CHECK(cert_watch_split("/etc/xmpp-edge/a.crt", dir, sizeof(dir)) == NULL);
	CHECK_STR_EQ(cert_watch_split("/etc123/a.crt", dir, sizeof(dir)), "a.crt");	/* 7 + NUL fits */
	CHECK_STR_EQ(dir, "/etc123");
}

TEST(cert_watch_bound_covers_every_file)
{
	/* Two files per domain, the CA file and the gateway pair: one watch
	 * per directory can never need more than the bound. */
	CHECK(CERT_WATCH_DIRS_MAX >= 2 * CONFIG_MAX_DOMAINS + 3);
}
