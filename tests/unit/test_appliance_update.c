/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_appliance_update.c - the A/B update's bundle header parser
 * (appliance_bundle.c) and the ESP slot writer and scan
 * (appliance_update.c), on a temporary directory laid out as the
 * appliance's ESP.
 */
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "appliance_bundle.h"
#include "appliance_update.h"

static void
hex_of(const void *p, size_t n, char *out)
{
	unsigned char d[32];

	mbedtls_sha256(p, n, d, 0);
	appliance_hex(d, 32, out);
}

/* A header for kernel k (kn bytes) and initrd i (in bytes). */
static size_t
header_for(char *out, size_t cap, const char *version, const void *k, size_t kn, const void *i,
    size_t in, const char *options)
{
	char kh[65], ih[65];

	hex_of(k, kn, kh);
	hex_of(i, in, ih);
	return (size_t)snprintf(out, cap, "xmpp-edge-bundle 1\nversion %s\nkernel %zu %s\n"
	    "initrd %zu %s\noptions %s\nend\n", version, kn, kh, in, ih, options);
}

TEST(appliance_bundle_parses_a_header)
{
	static const char k[] = "KERNEL", i[] = "INITRD!";
	struct appliance_bundle b;
	char h[1024], err[256];
	size_t n = header_for(h, sizeof(h), "1.2.3+abc", k, 6, i, 7, "console=ttyS0 quiet");

	REQUIRE(appliance_bundle_parse(h, n, &b, err, sizeof(err)) == APPLIANCE_BUNDLE_OK);
	CHECK_INT_EQ(b.header_len, n);
	CHECK_STR_EQ(b.version, "1.2.3+abc");
	CHECK_STR_EQ(b.options, "console=ttyS0 quiet");
	CHECK_INT_EQ(b.size[APPLIANCE_PART_KERNEL], 6);
	CHECK_INT_EQ(appliance_bundle_payload(&b), 13);
	/* Every proper prefix is incomplete, never bad or OK. */
	for (size_t cut = 0; cut < n; cut++)
		CHECK_INT_EQ(appliance_bundle_parse(h, cut, &b, err, sizeof(err)),
		    APPLIANCE_BUNDLE_INCOMPLETE);
}

TEST(appliance_bundle_refuses_malformed_headers)
{
	static const char *const bad[] = {
		"XMPP-EDGE-BUNDLE 1\n",
		"xmpp-edge-bundle 2\nversion 1\n",
		"xmpp-edge-bundle 1\nversion \n",
		"xmpp-edge-bundle 1\nversion a/b\n",
		"xmpp-edge-bundle 1\nversion 1\ninitrd 1 0000000000000000000000000000000000000000000000000000000000000000\n",
		"xmpp-edge-bundle 1\nversion 1\nkernel 0 0000000000000000000000000000000000000000000000000000000000000000\n",
		"xmpp-edge-bundle 1\nversion 1\nkernel 01 0000000000000000000000000000000000000000000000000000000000000000\n",
		"xmpp-edge-bundle 1\nversion 1\nkernel 67108865 0000000000000000000000000000000000000000000000000000000000000000\n",
		"xmpp-edge-bundle 1\nversion 1\nkernel 99999999999999999999999 00\n",
		"xmpp-edge-bundle 1\nversion 1\nkernel 1 00000000000000000000000000000000000000000000000000000000000000AA\n",
		"xmpp-edge-bundle 1\nversion 1\nkernel 1 000\n",
		"xmpp-edge-bundle 1\nversion 1\nkernel 1  0000000000000000000000000000000000000000000000000000000000000000\n",
		"xmpp-edge-bundle 1\nversion 1\nkernel 1 0000000000000000000000000000000000000000000000000000000000000000\n"
		    "initrd 1 0000000000000000000000000000000000000000000000000000000000000000\noptions a xe.slot=a\n",
		"xmpp-edge-bundle 1\nversion 1\nkernel 1 0000000000000000000000000000000000000000000000000000000000000000\n"
		    "initrd 1 0000000000000000000000000000000000000000000000000000000000000000\noptions a\tb\n",
		"xmpp-edge-bundle 1\nversion 1\nkernel 1 0000000000000000000000000000000000000000000000000000000000000000\n"
		    "initrd 1 0000000000000000000000000000000000000000000000000000000000000000\noptions a\nfin\n",
		"xmpp-edge-bundle 1\nversion 1\nkernel 1 0000000000000000000000000000000000000000000000000000000000000000\n"
		    "initrd 1 0000000000000000000000000000000000000000000000000000000000000000\nend\n",
	};
	struct appliance_bundle b;
	char err[256], big[APPLIANCE_BUNDLE_HEADER_MAX + 64];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (appliance_bundle_parse(bad[i], strlen(bad[i]), &b, err, sizeof(err)) !=
		    APPLIANCE_BUNDLE_BAD || err[0] == '\0')
			test_fail_at(__FILE__, __LINE__, "bad header %zu not refused", i);
	}
	/* No "end" within the bound: refused, not waited for. */
	memset(big, 'x', sizeof(big));
	memcpy(big, "xmpp-edge-bundle 1\nversion ", 27);
	CHECK(appliance_bundle_parse(big, sizeof(big), &b, err, sizeof(err)) == APPLIANCE_BUNDLE_BAD);
}

TEST(appliance_entry_names)
{
	unsigned g;
	char s;
	int left, done;

	REQUIRE(appliance_entry_parse("xmpp-edge-000001-a.conf", &g, &s, &left, &done) == 0);
	CHECK_INT_EQ(g, 1);
	CHECK(s == 'a');
	CHECK_INT_EQ(left, -1);
	REQUIRE(appliance_entry_parse("xmpp-edge-000042-b+2-1.conf", &g, &s, &left, &done) == 0);
	CHECK_INT_EQ(g, 42);
	CHECK_INT_EQ(left, 2);
	CHECK_INT_EQ(done, 1);
	REQUIRE(appliance_entry_parse("xmpp-edge-000003-a+3.conf", &g, &s, &left, &done) == 0);
	CHECK_INT_EQ(left, 3);
	CHECK_INT_EQ(done, 0);
	CHECK(appliance_entry_parse("xmpp-edge.conf", &g, &s, &left, &done) == -1);
	CHECK(appliance_entry_parse("xmpp-edge-000001-c.conf", &g, &s, &left, &done) == -1);
	CHECK(appliance_entry_parse("xmpp-edge-00001-a.conf", &g, &s, &left, &done) == -1);
	CHECK(appliance_entry_parse("xmpp-edge-000001-a+.conf", &g, &s, &left, &done) == -1);
	CHECK(appliance_entry_parse("xmpp-edge-000001-a+1-.conf", &g, &s, &left, &done) == -1);
	CHECK(appliance_entry_parse("xmpp-edge-000001-a.conf.new", &g, &s, &left, &done) == -1);
	CHECK(appliance_cmdline_slot("console=ttyS0 xe.slot=b quiet") == 'b');
	CHECK(appliance_cmdline_slot("xe.slot=a\n") == 'a');
	CHECK(appliance_cmdline_slot("xxe.slot=a") == 0);
	CHECK(appliance_cmdline_slot("xe.slot=ab") == 0);
	CHECK(appliance_cmdline_slot("quiet") == 0);
}

/* --- a temporary ESP ------------------------------------------------------- */

struct esp {
	char dir[64];
};

static void
write_file(const char *dir, const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "w");
	REQUIRE(f != NULL);
	fputs(text, f);
	fclose(f);
}

static int
file_equals(const char *dir, const char *rel, const void *want, size_t n)
{
	char path[256], buf[4096];
	FILE *f;
	size_t got;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "r");
	if (f == NULL)
		return 0;
	got = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return got == n && memcmp(buf, want, n) == 0;
}

static int
exists(const char *dir, const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	return access(path, F_OK) == 0;
}

/* Slot a flashed and blessed; b empty. */
static void
esp_make(struct esp *e)
{
	char path[128];

	snprintf(e->dir, sizeof(e->dir), "/tmp/xe-esp-test.XXXXXX");
	REQUIRE(mkdtemp(e->dir) != NULL);
	snprintf(path, sizeof(path), "%s/loader", e->dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/loader/entries", e->dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/xmpp-edge", e->dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/xmpp-edge/a", e->dir);
	mkdir(path, 0700);
	write_file(e->dir, "xmpp-edge/a/vmlinuz", "old kernel a");
	write_file(e->dir, "xmpp-edge/a/initrd.img", "old initrd a");
	write_file(e->dir, "loader/entries/xmpp-edge-000001-a.conf", "title a\n");
}

static void
rm_tree(const char *dir)
{
	struct dirent *de;
	char path[512];
	struct stat st;
	DIR *d = opendir(dir);

	while (d != NULL && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			rm_tree(path);
		else
			unlink(path);
	}
	if (d != NULL)
		closedir(d);
	rmdir(dir);
}

static const char kernel_b[] = "a new kernel, a few bytes of it, enough to span chunks";
static const char initrd_b[] = "a new initramfs";

TEST(appliance_writer_installs_into_the_inactive_slot)
{
	struct appliance_writer *w;
	struct appliance_esp scan;
	struct esp e;
	char h[1024], err[512], entry[APPLIANCE_ENTRY_NAME_MAX], payload[256], text[512];
	size_t hn, n = sizeof(kernel_b) - 1 + sizeof(initrd_b) - 1, off;

	esp_make(&e);
	memcpy(payload, kernel_b, sizeof(kernel_b) - 1);
	memcpy(payload + sizeof(kernel_b) - 1, initrd_b, sizeof(initrd_b) - 1);
	hn = header_for(h, sizeof(h), "2.0", kernel_b, sizeof(kernel_b) - 1, initrd_b,
	    sizeof(initrd_b) - 1, "console=ttyS0");
	/* A stale entry of b (a fallen-back update) is removed first. */
	write_file(e.dir, "loader/entries/xmpp-edge-000007-b+0-3.conf", "title old b\n");
	w = appliance_writer_begin(e.dir, 'a', h, hn, err, sizeof(err));
	REQUIRE(w != NULL);
	CHECK(appliance_writer_slot(w) == 'b');
	CHECK(!exists(e.dir, "loader/entries/xmpp-edge-000007-b+0-3.conf"));
	/* Out of order, past the end, over the chunk bound: refused. */
	CHECK(appliance_writer_write(w, 5, payload, 3, err, sizeof(err)) == -1);
	CHECK(appliance_writer_write(w, 0, payload, n + 1, err, sizeof(err)) == -1);
	/* In chunks of 7, across the kernel/initrd boundary. */
	for (off = 0; off < n; off += 7)
		REQUIRE(appliance_writer_write(w, off, payload + off, off + 7 <= n ? 7 : n - off, err,
		    sizeof(err)) == 0);
	REQUIRE(appliance_writer_commit(w, entry, sizeof(entry), err, sizeof(err)) == 0);
	/* The highest generation seen was 7: the new entry is 8, with 3 tries. */
	CHECK_STR_EQ(entry, "xmpp-edge-000008-b+3.conf");
	CHECK(file_equals(e.dir, "xmpp-edge/b/vmlinuz", kernel_b, sizeof(kernel_b) - 1));
	CHECK(file_equals(e.dir, "xmpp-edge/b/initrd.img", initrd_b, sizeof(initrd_b) - 1));
	CHECK(file_equals(e.dir, "xmpp-edge/b/manifest", h, hn));
	snprintf(text, sizeof(text), "title   xmpp-edge 2.0 (slot b)\nlinux   /xmpp-edge/b/vmlinuz\n"
	    "initrd  /xmpp-edge/b/initrd.img\noptions console=ttyS0 xe.slot=b\n");
	CHECK(file_equals(e.dir, "loader/entries/xmpp-edge-000008-b+3.conf", text, strlen(text)));
	/* The booted slot is untouched. */
	CHECK(file_equals(e.dir, "xmpp-edge/a/vmlinuz", "old kernel a", 12));
	CHECK(file_equals(e.dir, "loader/entries/xmpp-edge-000001-a.conf", "title a\n", 8));
	CHECK(!exists(e.dir, "xmpp-edge/b/vmlinuz.new"));
	REQUIRE(appliance_esp_scan(e.dir, 'a', &scan, err, sizeof(err)) == 0);
	CHECK(scan.next == 'b');
	CHECK(scan.slot[1].state == APPLIANCE_SLOT_TRIAL);
	CHECK_INT_EQ(scan.slot[1].tries_left, 3);
	CHECK_STR_EQ(scan.slot[1].version, "2.0");
	CHECK(scan.slot[0].state == APPLIANCE_SLOT_GOOD);
	CHECK(!scan.fell_back);
	rm_tree(e.dir);
}

TEST(appliance_writer_refuses_a_wrong_image)
{
	struct appliance_writer *w;
	struct appliance_esp scan;
	struct esp e;
	char h[1024], err[512], entry[APPLIANCE_ENTRY_NAME_MAX], payload[256];
	size_t hn, n = sizeof(kernel_b) - 1 + sizeof(initrd_b) - 1;

	esp_make(&e);
	hn = header_for(h, sizeof(h), "2.0", kernel_b, sizeof(kernel_b) - 1, initrd_b,
	    sizeof(initrd_b) - 1, "");
	memcpy(payload, kernel_b, sizeof(kernel_b) - 1);
	memcpy(payload + sizeof(kernel_b) - 1, initrd_b, sizeof(initrd_b) - 1);
	payload[3] ^= 1;	/* one bit of the kernel */
	w = appliance_writer_begin(e.dir, 'a', h, hn, err, sizeof(err));
	REQUIRE(w != NULL);
	REQUIRE(appliance_writer_write(w, 0, payload, n, err, sizeof(err)) == 0);
	CHECK(appliance_writer_commit(w, entry, sizeof(entry), err, sizeof(err)) == -1);
	CHECK(strstr(err, "SHA-256") != NULL);
	CHECK(!exists(e.dir, "xmpp-edge/b/vmlinuz.new"));
	CHECK(!exists(e.dir, "xmpp-edge/b/vmlinuz"));
	REQUIRE(appliance_esp_scan(e.dir, 'a', &scan, err, sizeof(err)) == 0);
	CHECK(scan.slot[1].state == APPLIANCE_SLOT_EMPTY);
	CHECK(scan.next == 'a');

	/* Short: commit refuses, nothing installed. */
	payload[3] ^= 1;
	w = appliance_writer_begin(e.dir, 'a', h, hn, err, sizeof(err));
	REQUIRE(w != NULL);
	REQUIRE(appliance_writer_write(w, 0, payload, n - 1, err, sizeof(err)) == 0);
	CHECK(appliance_writer_commit(w, entry, sizeof(entry), err, sizeof(err)) == -1);
	CHECK(!exists(e.dir, "xmpp-edge/b/initrd.img"));
	/* Aborted: the files go. */
	w = appliance_writer_begin(e.dir, 'a', h, hn, err, sizeof(err));
	REQUIRE(w != NULL);
	appliance_writer_abort(w);
	CHECK(!exists(e.dir, "xmpp-edge/b/initrd.img.new"));
	/* Unknown booted slot, or a booted slot without an entry: refused. */
	CHECK(appliance_writer_begin(e.dir, 0, h, hn, err, sizeof(err)) == NULL);
	CHECK(appliance_writer_begin(e.dir, 'b', h, hn, err, sizeof(err)) == NULL);
	/* A header with bytes after "end": refused. */
	CHECK(appliance_writer_begin(e.dir, 'a', h, hn + 1, err, sizeof(err)) == NULL);
	CHECK(file_equals(e.dir, "xmpp-edge/a/vmlinuz", "old kernel a", 12));
	rm_tree(e.dir);
}

TEST(appliance_scan_sees_a_fallback)
{
	struct appliance_esp scan;
	struct esp e;
	char err[256];

	esp_make(&e);
	/* b was the newest, used its 3 tries; a booted again. */
	write_file(e.dir, "loader/entries/xmpp-edge-000002-b+0-3.conf", "title b\n");
	REQUIRE(appliance_esp_scan(e.dir, 'a', &scan, err, sizeof(err)) == 0);
	CHECK(scan.fell_back);
	CHECK(scan.next == 'a');
	CHECK(scan.slot[1].state == APPLIANCE_SLOT_BAD);
	CHECK_INT_EQ(scan.slot[1].tries_done, 3);
	/* Booted b itself (the last try): not a fallback yet. */
	REQUIRE(appliance_esp_scan(e.dir, 'b', &scan, err, sizeof(err)) == 0);
	CHECK(!scan.fell_back);
	rm_tree(e.dir);
}

TEST(appliance_writer_refuses_an_incomplete_header)
{
	static const char h[] = "xmpp-edge-bundle 1\nversion 1\n";
	struct esp e;
	char err[512];

	esp_make(&e);
	CHECK(appliance_writer_begin(e.dir, 'a', h, sizeof(h) - 1, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "incomplete") != NULL);
	/* Refused before anything on the ESP changed. */
	CHECK(!exists(e.dir, "xmpp-edge/b"));
	rm_tree(e.dir);
}
