/* SPDX-License-Identifier: Apache-2.0 */
/*
 * appliance_update.c - A/B update of a running appliance, daemon side.
 *
 * Layout and naming in appliance_update.h.  This file has three parts:
 *
 *   - the scan: which entries exist in loader/entries, their generation
 *     and boot counter, the version each slot's manifest names, which
 *     slot booted (init passes the kernel's xe.slot= through
 *     /proc/cmdline) and which one systemd-boot will pick next;
 *   - the writer: streams a bundle's kernel and initramfs into the slot
 *     that did NOT boot, checks the SHA-256 the manifest gives (as the
 *     bytes arrive, and again reading the files back after fsync) and
 *     installs a boot entry with "+3" tries;
 *   - the control requests ("appliance status", "appliance update-*")
 *     that drive both over the control protocol, one line each.
 *
 * Power-cut safety comes from the order of the writer's steps (README,
 * "Updating a running appliance"): the target slot's entry is removed
 * (and the directory fsync'd) before any of its files is touched, so at
 * every instant each existing entry points at complete files; the new
 * entry is written under a name systemd-boot ignores (".conf.new"),
 * fsync'd, then renamed into place.  The booted slot and its entry are
 * never opened for writing.
 */
#include "appliance_update.h"
#include "fdio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <mbedtls/base64.h>
#include <mbedtls/sha256.h>
#include <yajl/yajl_gen.h>

#include "edge.h"
#include "log.h"

#define ENTRIES_DIR "loader/entries"
#define SLOTS_DIR "xmpp-edge"
#define ENTRY_PREFIX "xmpp-edge-"
#define GENERATION_DIGITS 6
#define GENERATION_MAX 999999u
#define COPY_BUF 65536
/* Room the FAT needs beyond the files' bytes (cluster rounding, the
 * entry and manifest). */
#define ESP_SLACK_BYTES (256 * 1024)

static const char *const part_file[APPLIANCE_PART_COUNT] = { "vmlinuz", "initrd.img" };

/* --- names ----------------------------------------------------------------- */

int
appliance_entry_parse(const char *name, unsigned *generation, char *slot, int *tries_left,
    int *tries_done)
{
	const char *p = name;
	size_t i;
	unsigned g = 0;
	long left = -1, done = -1;
	char *end;

	if (strncmp(p, ENTRY_PREFIX, sizeof(ENTRY_PREFIX) - 1) != 0)
		return -1;
	p += sizeof(ENTRY_PREFIX) - 1;
	for (i = 0; i < GENERATION_DIGITS; i++, p++) {
		if (*p < '0' || *p > '9')
			return -1;
		g = g * 10 + (unsigned)(*p - '0');
	}
	if (p[0] != '-' || (p[1] != 'a' && p[1] != 'b'))
		return -1;
	*slot = p[1];
	p += 2;
	if (*p == '+') {
		/* systemd-boot's counter: +LEFT or +LEFT-DONE, decimal. */
		if (p[1] < '0' || p[1] > '9')
			return -1;
		left = strtol(p + 1, &end, 10);
		p = end;
		done = 0;
		if (*p == '-') {
			if (p[1] < '0' || p[1] > '9')
				return -1;
			done = strtol(p + 1, &end, 10);
			p = end;
		}
		if (left > 99 || done > 99)
			return -1;
	}
	if (strcmp(p, ".conf") != 0)
		return -1;
	*generation = g;
	*tries_left = (int)left;
	*tries_done = (int)done;
	return 0;
}

char
appliance_cmdline_slot(const char *cmdline)
{
	const char *p = cmdline;

	while ((p = strstr(p, "xe.slot=")) != NULL) {
		/* A whole word: at the start or after a space. */
		if ((p == cmdline || p[-1] == ' ') && (p[8] == 'a' || p[8] == 'b') &&
		    (p[9] == '\0' || p[9] == ' ' || p[9] == '\n'))
			return p[8];
		p += 8;
	}
	return 0;
}

static int
slot_index(char slot)
{
	return slot == 'a' ? 0 : slot == 'b' ? 1 : -1;
}

/* --- scan -------------------------------------------------------------------- */

/* The slot's manifest (the bundle header it was written from): version
 * and the header's SHA-256.  Missing or unreadable: left empty. */
static void
slot_read_manifest(const char *esp, struct appliance_slot *s)
{
	char path[4096], buf[APPLIANCE_BUNDLE_HEADER_MAX], err[160];
	unsigned char digest[32];
	struct appliance_bundle b;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/" SLOTS_DIR "/%c/manifest", esp, s->name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0 || appliance_bundle_parse(buf, (size_t)n, &b, err, sizeof(err)) != APPLIANCE_BUNDLE_OK)
		return;
	snprintf(s->version, sizeof(s->version), "%s", b.version);
	if (mbedtls_sha256((const unsigned char *)buf, b.header_len, digest, 0) == 0)
		appliance_hex(digest, 32, s->manifest_sha256);
}

int
appliance_esp_scan(const char *esp, char booted, struct appliance_esp *out, char *err, size_t errlen)
{
	char path[4096];
	struct dirent *de;
	unsigned g, best_gen = 0, newest_gen = 0;
	int left, done, i, found = 0;
	char slot, newest = 0;
	DIR *d;

	memset(out, 0, sizeof(*out));
	out->slot[0].name = 'a';
	out->slot[1].name = 'b';
	out->booted = booted;
	for (i = 0; i < APPLIANCE_SLOTS; i++)
		out->slot[i].tries_left = out->slot[i].tries_done = -1;
	snprintf(path, sizeof(path), "%s/" ENTRIES_DIR, esp);
	d = opendir(path);
	if (d == NULL) {
		snprintf(err, errlen, "cannot read the boot entries in %s: %s", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct appliance_slot *s;

		if (appliance_entry_parse(de->d_name, &g, &slot, &left, &done) != 0)
			continue;
		s = &out->slot[slot_index(slot)];
		/* Two entries for one slot: only a writer cut short between
		 * its steps leaves that; the newer counts. */
		if (s->entry[0] != '\0' && s->generation >= g)
			continue;
		if (strlen(de->d_name) >= sizeof(s->entry))
			continue;	/* a counter of 99 fits; longer is not ours */
		memcpy(s->entry, de->d_name, strlen(de->d_name) + 1);
		s->generation = g;
		s->tries_left = left;
		s->tries_done = done;
		s->state = left < 0 ? APPLIANCE_SLOT_GOOD : left == 0 ? APPLIANCE_SLOT_BAD :
		    APPLIANCE_SLOT_TRIAL;
		found++;
	}
	closedir(d);
	for (i = 0; i < APPLIANCE_SLOTS; i++) {
		struct appliance_slot *s = &out->slot[i];

		if (s->state == APPLIANCE_SLOT_EMPTY)
			continue;
		slot_read_manifest(esp, s);
		if (s->state != APPLIANCE_SLOT_BAD && s->generation >= best_gen) {
			best_gen = s->generation;
			out->next = s->name;
		}
		if (s->generation >= newest_gen) {
			newest_gen = s->generation;
			newest = s->name;
		}
	}
	/* Fell back: the newest entry used up its tries and the appliance
	 * runs an older one. */
	if (newest != 0 && out->slot[slot_index(newest)].state == APPLIANCE_SLOT_BAD &&
	    booted != 0 && booted != newest)
		out->fell_back = 1;
	(void)found;
	return 0;
}

/* --- writer ------------------------------------------------------------------ */

enum writer_state { WRITER_RECEIVING, WRITER_DONE };

struct appliance_writer {
	enum writer_state state;
	char esp[1024];
	char slot;
	struct appliance_bundle b;
	char header[APPLIANCE_BUNDLE_HEADER_MAX];
	int fd[APPLIANCE_PART_COUNT];
	mbedtls_sha256_context sha[APPLIANCE_PART_COUNT];
	uint64_t received;
	/* One past the highest generation on the ESP at begin (counting the
	 * target's old entry): entry names never repeat. */
	unsigned generation;
};

static void
slot_path(const struct appliance_writer *w, const char *file, const char *suffix, char *out,
    size_t outlen)
{
	snprintf(out, outlen, "%s/" SLOTS_DIR "/%c/%s%s", w->esp, w->slot, file, suffix);
}

/* fsync of a directory: makes the renames and unlinks in it durable. */
static int
dir_sync(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Unlinks every entry of slot in loader/entries; -1 with err on failure. */
static int
entries_remove_slot(const char *esp, char slot, char *err, size_t errlen)
{
	char dir[2048], path[2400];
	struct dirent *de;
	unsigned g;
	int left, done, removed = 0;
	char s;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/" ENTRIES_DIR, esp);
	if ((d = opendir(dir)) == NULL) {
		snprintf(err, errlen, "cannot read %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		int ours = appliance_entry_parse(de->d_name, &g, &s, &left, &done) == 0;
		size_t n = strlen(de->d_name);

		/* A ".conf.new" left by a cut-short commit goes too. */
		if (!ours && n > 4 && strcmp(de->d_name + n - 4, ".new") == 0 &&
		    strncmp(de->d_name, ENTRY_PREFIX, sizeof(ENTRY_PREFIX) - 1) == 0) {
			char base[APPLIANCE_ENTRY_NAME_MAX];

			snprintf(base, sizeof(base), "%.*s", (int)(n - 4), de->d_name);
			ours = appliance_entry_parse(base, &g, &s, &left, &done) == 0;
		}
		if (!ours || s != slot)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) != 0) {
			snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
			closedir(d);
			return -1;
		}
		removed++;
	}
	closedir(d);
	if (removed > 0 && dir_sync(dir) != 0) {
		snprintf(err, errlen, "cannot sync %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static void
writer_free(struct appliance_writer *w)
{
	int i;

	for (i = 0; i < APPLIANCE_PART_COUNT; i++) {
		if (w->fd[i] >= 0)
			close(w->fd[i]);
		mbedtls_sha256_free(&w->sha[i]);
	}
	free(w);
}

/* Removes the half-written ".new" files. */
static void
writer_unlink_partial(struct appliance_writer *w)
{
	char path[2048];
	int i;

	for (i = 0; i < APPLIANCE_PART_COUNT; i++) {
		slot_path(w, part_file[i], ".new", path, sizeof(path));
		(void)unlink(path);
	}
}

struct appliance_writer *
appliance_writer_begin(const char *esp, char booted, const char *header, size_t header_len,
    char *err, size_t errlen)
{
	struct appliance_writer *w;
	struct appliance_esp scan;
	struct statvfs vfs;
	struct stat st;
	char path[2048];
	uint64_t avail, reclaim = 0;
	int i;

	if (slot_index(booted) < 0) {
		snprintf(err, errlen, "the booted slot is unknown (no xe.slot= on the kernel "
		    "command line): this appliance predates A/B updates; update it once with "
		    "appliance/update-image.sh");
		return NULL;
	}
	if (strlen(esp) >= sizeof(w->esp)) {
		snprintf(err, errlen, "ESP path too long");
		return NULL;
	}
	if (appliance_esp_scan(esp, booted, &scan, err, errlen) != 0)
		return NULL;
	if (scan.slot[slot_index(booted)].state == APPLIANCE_SLOT_EMPTY) {
		snprintf(err, errlen, "slot %c booted but has no boot entry: refusing to touch "
		    "the ESP", booted);
		return NULL;
	}
	if (scan.slot[0].generation >= GENERATION_MAX || scan.slot[1].generation >= GENERATION_MAX) {
		snprintf(err, errlen, "generation counter exhausted");
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->fd[0] = w->fd[1] = -1;
	w->generation = (scan.slot[0].generation > scan.slot[1].generation ?
	    scan.slot[0].generation : scan.slot[1].generation) + 1;
	for (i = 0; i < APPLIANCE_PART_COUNT; i++)
		mbedtls_sha256_init(&w->sha[i]);
	snprintf(w->esp, sizeof(w->esp), "%s", esp);
	/* Never the active slot: the other one. */
	w->slot = booted == 'a' ? 'b' : 'a';
	switch (appliance_bundle_parse(header, header_len, &w->b, err, errlen)) {
	case APPLIANCE_BUNDLE_OK:
		break;
	case APPLIANCE_BUNDLE_INCOMPLETE:
		snprintf(err, errlen, "bundle header incomplete (no \"end\" line)");
		goto fail;
	case APPLIANCE_BUNDLE_BAD:
		goto fail;	/* err says which line */
	}
	if (w->b.header_len != header_len) {
		snprintf(err, errlen, "bundle header: %zu bytes after \"end\"", header_len - w->b.header_len);
		goto fail;
	}
	memcpy(w->header, header, header_len);
	/* Space: what is free plus what the target's old files give back
	 * (and the ".new" ones an interrupted update left). */
	for (i = 0; i < 2 * APPLIANCE_PART_COUNT; i++) {
		slot_path(w, part_file[i / 2], i % 2 ? ".new" : "", path, sizeof(path));
		if (stat(path, &st) == 0)
			reclaim += (uint64_t)st.st_size;
	}
	if (statvfs(esp, &vfs) != 0) {
		snprintf(err, errlen, "cannot stat the ESP %s: %s", esp, strerror(errno));
		goto fail;
	}
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize + reclaim;
	if (avail < appliance_bundle_payload(&w->b) + ESP_SLACK_BYTES) {
		snprintf(err, errlen, "the image (%llu bytes) does not fit the ESP (%llu bytes "
		    "free for slot %c)", (unsigned long long)appliance_bundle_payload(&w->b),
		    (unsigned long long)avail, w->slot);
		goto fail;
	}
	/* 1. Nothing may boot the target while it is rewritten. */
	if (entries_remove_slot(esp, w->slot, err, errlen) != 0)
		goto fail;
	/* 2. Its old files go (room on a small ESP), new ones open. */
	snprintf(path, sizeof(path), "%s/" SLOTS_DIR, esp);
	(void)mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/" SLOTS_DIR "/%c", esp, w->slot);
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
		goto fail;
	}
	for (i = 0; i < APPLIANCE_PART_COUNT; i++) {
		slot_path(w, part_file[i], "", path, sizeof(path));
		(void)unlink(path);
	}
	slot_path(w, "manifest", "", path, sizeof(path));
	(void)unlink(path);
	for (i = 0; i < APPLIANCE_PART_COUNT; i++) {
		slot_path(w, part_file[i], ".new", path, sizeof(path));
		w->fd[i] = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (w->fd[i] < 0) {
			snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
			writer_unlink_partial(w);
			goto fail;
		}
		if (mbedtls_sha256_starts(&w->sha[i], 0) != 0) {
			snprintf(err, errlen, "SHA-256 unavailable");
			writer_unlink_partial(w);
			goto fail;
		}
	}
	w->state = WRITER_RECEIVING;
	return w;
fail:
	writer_free(w);
	return NULL;
}

int
appliance_writer_write(struct appliance_writer *w, uint64_t offset, const void *data, size_t n,
    char *err, size_t errlen)
{
	const unsigned char *p = data;
	uint64_t kernel = w->b.size[APPLIANCE_PART_KERNEL];

	if (w->state != WRITER_RECEIVING) {
		snprintf(err, errlen, "no update in progress");
		return -1;
	}
	if (offset != w->received) {
		snprintf(err, errlen, "chunk at offset %llu, expected %llu (chunks go in order)",
		    (unsigned long long)offset, (unsigned long long)w->received);
		return -1;
	}
	if (n == 0 || n > APPLIANCE_CHUNK_MAX ||
	    n > appliance_bundle_payload(&w->b) - w->received) {
		snprintf(err, errlen, "chunk of %zu bytes at %llu: beyond the %llu bytes the "
		    "manifest announces (or over %d)", n, (unsigned long long)offset,
		    (unsigned long long)appliance_bundle_payload(&w->b), APPLIANCE_CHUNK_MAX);
		return -1;
	}
	while (n > 0) {
		enum appliance_part part = w->received < kernel ? APPLIANCE_PART_KERNEL :
		    APPLIANCE_PART_INITRD;
		uint64_t end = part == APPLIANCE_PART_KERNEL ? kernel : appliance_bundle_payload(&w->b);
		size_t take = end - w->received < n ? (size_t)(end - w->received) : n;

		if (fd_write_all(w->fd[part], p, take) != 0) {
			snprintf(err, errlen, "writing %s to slot %c: %s", part_file[part], w->slot,
			    strerror(errno));
			return -1;
		}
		if (mbedtls_sha256_update(&w->sha[part], p, take) != 0) {
			snprintf(err, errlen, "SHA-256 failed");
			return -1;
		}
		p += take;
		n -= take;
		w->received += take;
	}
	return 0;
}

/* Reads path back from the device (the page cache dropped first) and
 * compares its SHA-256 with hex. */
static int
file_verify(const char *path, uint64_t size, const char *hex, char *err, size_t errlen)
{
	mbedtls_sha256_context sha;
	unsigned char *buf, digest[32];
	char got[APPLIANCE_SHA256_HEX + 1];
	uint64_t total = 0;
	ssize_t n;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	buf = malloc(COPY_BUF);
	if (fd < 0 || buf == NULL) {
		snprintf(err, errlen, "cannot read back %s: %s", path, strerror(errno));
		goto done;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	mbedtls_sha256_init(&sha);
	(void)mbedtls_sha256_starts(&sha, 0);
	while ((n = read(fd, buf, COPY_BUF)) > 0) {
		(void)mbedtls_sha256_update(&sha, buf, (size_t)n);
		total += (uint64_t)n;
	}
	(void)mbedtls_sha256_finish(&sha, digest);
	mbedtls_sha256_free(&sha);
	appliance_hex(digest, 32, got);
	if (n < 0 || total != size || strcmp(got, hex) != 0) {
		snprintf(err, errlen, "%s read back after fsync: %llu bytes, SHA-256 %s; "
		    "expected %llu bytes, %s", path, (unsigned long long)total, got,
		    (unsigned long long)size, hex);
		goto done;
	}
	rc = 0;
done:
	free(buf);
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Writes data to path.new, fsyncs it and renames it to path. */
static int
file_replace(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
	char tmp[2400];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || fd_write_all(fd, (const unsigned char *)data, len) != 0 || fsync(fd) != 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		(void)unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

int
appliance_writer_commit(struct appliance_writer *w, char *entry, size_t entrylen, char *err,
    size_t errlen)
{
	char path[2048], final[2048], dir[2048], text[APPLIANCE_BUNDLE_OPTIONS_MAX + 512];
	unsigned char digest[32];
	char hex[APPLIANCE_SHA256_HEX + 1];
	unsigned gen;
	size_t len;
	int i;

	if (w->received != appliance_bundle_payload(&w->b)) {
		snprintf(err, errlen, "received %llu of the %llu bytes the manifest announces",
		    (unsigned long long)w->received,
		    (unsigned long long)appliance_bundle_payload(&w->b));
		goto fail;
	}
	for (i = 0; i < APPLIANCE_PART_COUNT; i++) {
		(void)mbedtls_sha256_finish(&w->sha[i], digest);
		appliance_hex(digest, 32, hex);
		if (strcmp(hex, w->b.sha256[i]) != 0) {
			snprintf(err, errlen, "%s: SHA-256 %s, the manifest says %s", part_file[i], hex,
			    w->b.sha256[i]);
			goto fail;
		}
		if (fsync(w->fd[i]) != 0) {
			snprintf(err, errlen, "fsync %s: %s", part_file[i], strerror(errno));
			goto fail;
		}
		close(w->fd[i]);
		w->fd[i] = -1;
		slot_path(w, part_file[i], ".new", path, sizeof(path));
		if (file_verify(path, w->b.size[i], w->b.sha256[i], err, errlen) != 0)
			goto fail;
	}
	for (i = 0; i < APPLIANCE_PART_COUNT; i++) {
		slot_path(w, part_file[i], ".new", path, sizeof(path));
		slot_path(w, part_file[i], "", final, sizeof(final));
		if (rename(path, final) != 0) {
			snprintf(err, errlen, "cannot rename %s: %s", path, strerror(errno));
			goto fail;
		}
	}
	slot_path(w, "manifest", "", path, sizeof(path));
	if (file_replace(path, w->header, w->b.header_len, err, errlen) != 0)
		goto fail;
	snprintf(dir, sizeof(dir), "%s/" SLOTS_DIR "/%c", w->esp, w->slot);
	if (dir_sync(dir) != 0) {
		snprintf(err, errlen, "cannot sync %s: %s", dir, strerror(errno));
		goto fail;
	}
	/* The newest generation: systemd-boot's default. */
	gen = w->generation;
	len = (size_t)snprintf(text, sizeof(text),
	    "title   xmpp-edge %s (slot %c)\n"
	    "linux   /" SLOTS_DIR "/%c/vmlinuz\n"
	    "initrd  /" SLOTS_DIR "/%c/initrd.img\n"
	    "options %s%sxe.slot=%c\n", w->b.version, w->slot, w->slot, w->slot, w->b.options,
	    w->b.options[0] ? " " : "", w->slot);
	snprintf(entry, entrylen, ENTRY_PREFIX "%06u-%c+%d.conf", gen, w->slot, APPLIANCE_TRIES);
	snprintf(path, sizeof(path), "%s/" ENTRIES_DIR "/%s", w->esp, entry);
	if (file_replace(path, text, len, err, errlen) != 0)
		goto fail;
	snprintf(dir, sizeof(dir), "%s/" ENTRIES_DIR, w->esp);
	if (dir_sync(dir) != 0) {
		snprintf(err, errlen, "cannot sync %s: %s", dir, strerror(errno));
		goto fail;
	}
	w->state = WRITER_DONE;
	writer_free(w);
	return 0;
fail:
	writer_unlink_partial(w);
	writer_free(w);
	return -1;
}

void
appliance_writer_abort(struct appliance_writer *w)
{
	if (w == NULL)
		return;
	writer_unlink_partial(w);
	writer_free(w);
}

char
appliance_writer_slot(const struct appliance_writer *w)
{
	return w->slot;
}

uint64_t
appliance_writer_received(const struct appliance_writer *w)
{
	return w->received;
}

uint64_t
appliance_writer_expected(const struct appliance_writer *w)
{
	return appliance_bundle_payload(&w->b);
}

const char *
appliance_writer_version(const struct appliance_writer *w)
{
	return w->b.version;
}
