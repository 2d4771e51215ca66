/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cert_watch.c - reloads the daemon when its certificate files change on
 * disk (tls.watch_files).
 *
 * For deployments whose certificates are renewed by another program: an
 * ACME client writing a temporary file and renaming it over the old one,
 * or Kubernetes updating a mounted secret by pointing the `..data` symlink
 * of the volume at a new directory.  Neither modifies the file the daemon
 * opened, so a watch on the file itself would see nothing (or lose track
 * of it after the first rename); the *directory* is watched instead
 * (inotify through uv_fs_event_t), and its events are filtered down to the
 * names the configuration uses there, plus `..data`.
 *
 *   event for a watched name -> (re)start the debounce timer
 *   timer fires (CERT_WATCH_DEBOUNCE_MS after the last event)
 *     -> edge_reload(): all or nothing, as SIGHUP
 *     -> cert_watch_apply(): the watches follow the configuration
 *
 * The debounce makes a certificate and its key, written one after the
 * other, load together.  A pair caught half-written fails to load as a
 * whole (config.reload_failed, the running store stays) and the next
 * write brings another event, hence another attempt.
 *
 * The watches are (re)made after the daemon dropped privileges: every
 * watched directory must stay readable by `user`.  One watch per distinct
 * directory, so at most CERT_WATCH_DIRS_MAX.  Each directory is a heap
 * object owned by struct cert_watch and freed by its handle's close
 * callback; struct cert_watch itself is freed when its last handle has
 * closed (cert_watch_stop), so nothing keeps the loop alive at shutdown.
 */
#include "cert_watch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <uv.h>

#include "daemon.h"
#include "log.h"

/* Kubernetes' atomic writer swaps this symlink to publish a secret. */
#define CERT_WATCH_K8S_DATA "..data"
/* Files one configuration names: two per domain, CA, gateway pair. */
#define CERT_WATCH_FILES_MAX (2 * CONFIG_MAX_DOMAINS + 3)

struct cert_watch;

struct cert_watch_dir {
	uv_fs_event_t handle;
	struct cert_watch *watch;
	dev_t dev;			/* the directory watched: a new one */
	ino_t ino;			/* at the same path is watched again */
	int wanted;			/* scratch, cert_watch_apply() */
	char path[CONFIG_PATH_MAX];
};

struct cert_watch {
	struct edge *edge;
	uv_timer_t debounce;
	struct cert_watch_dir *dirs[CERT_WATCH_DIRS_MAX];
	size_t ndirs;
	size_t open_handles;		/* timer + dirs not yet closed */
	int stopping;			/* freed when open_handles drops to 0 */
};

const char *
cert_watch_split(const char *path, char *dir, size_t dircap)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL) {
		if (dircap < 2)
			return NULL;
		memcpy(dir, ".", 2);
		return path[0] != '\0' ? path : NULL;
	}
	if (slash[1] == '\0')
		return NULL;
	n = slash == path ? 1 : (size_t)(slash - path);	/* "/file": "/" */
	if (n >= dircap)
		return NULL;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return slash + 1;
}

/* The files cfg names, in out (CERT_WATCH_FILES_MAX); returns how many. */
static size_t
cert_watch_files(const struct config *cfg, const char **out)
{
	size_t i, n = 0;

	for (i = 0; i < cfg->domain_count; i++) {
		out[n++] = cfg->domains[i].cert;
		out[n++] = cfg->domains[i].key;
	}
	if (cfg->tls.ca_file[0])
		out[n++] = cfg->tls.ca_file;
	if (cfg->gateway.enabled) {
		out[n++] = cfg->gateway.cert;
		out[n++] = cfg->gateway.key;
	}
	return n;
}

/* Whether an event for `name` in directory `dir` concerns a file of cfg. */
static int
cert_watch_relevant(const struct config *cfg, const char *dir, const char *name)
{
	const char *files[CERT_WATCH_FILES_MAX];
	char d[CONFIG_PATH_MAX];
	const char *base;
	size_t i, n;

	if (name == NULL)
		return 1;	/* the kernel did not say: assume it may */
	if (strcmp(name, CERT_WATCH_K8S_DATA) == 0)
		return 1;
	n = cert_watch_files(cfg, files);
	for (i = 0; i < n; i++) {
		base = cert_watch_split(files[i], d, sizeof(d));
		if (base != NULL && strcmp(d, dir) == 0 && strcmp(base, name) == 0)
			return 1;
	}
	return 0;
}

static void
cert_watch_on_close(uv_handle_t *h)
{
	struct cert_watch *w;

	if (h->type == UV_FS_EVENT) {
		struct cert_watch_dir *d = h->data;

		w = d->watch;
		free(d);
	} else {
		w = h->data;
	}
	if (--w->open_handles == 0 && w->stopping)
		free(w);
}

static void
cert_watch_dir_close(struct cert_watch_dir *d, const char *why)
{
	log_event(LOG_INFO, "cert_watch.unwatch", "dir", d->path, "reason", why, NULL);
	uv_close((uv_handle_t *)&d->handle, cert_watch_on_close);
}

static void
cert_watch_on_debounce(uv_timer_t *t)
{
	struct cert_watch *w = t->data;
	struct edge *edge = w->edge;
	char err[CONFIG_ERR_MAX];
	int rc;

	if (edge->shutting_down)
		return;
	/* edge_reload logs config.reload or config.reload_failed with the
	 * reason, and re-arms the watches when it applied. */
	rc = edge_reload(edge, err, sizeof(err));
	log_event(rc == 0 ? LOG_INFO : LOG_WARN, "cert_watch.reload",
	    "result", rc == 0 ? "applied" : "failed",
	    "next", rc == 0 ? "serving the files on disk" : "the running certificates stay; the next change retries",
	    NULL);
	/* After a failure too: a directory replaced on disk is watched again. */
	cert_watch_apply(edge);
}

static void
cert_watch_on_event(uv_fs_event_t *h, const char *name, int events, int status)
{
	struct cert_watch_dir *d = h->data;
	struct cert_watch *w = d->watch;
	struct edge *edge = w->edge;

	if (w->stopping || edge->shutting_down)
		return;
	if (status < 0) {
		log_event(LOG_WARN, "cert_watch.error", "dir", d->path, "reason", uv_strerror(status), NULL);
		return;
	}
	if (!cert_watch_relevant(edge->cfg, d->path, name))
		return;
	log_event(LOG_INFO, "cert_watch.change", "dir", d->path, "file", name,
	    "event", (events & UV_RENAME) ? "rename" : "change", NULL);
	/* Restarting a running timer moves its deadline: quiet time, not a
	 * period, so a slow writer's cert and key still arrive together. */
	uv_timer_start(&w->debounce, cert_watch_on_debounce, CERT_WATCH_DEBOUNCE_MS, 0);
}

/* Opens a watch on dir; 0, or -1 (logged as cert_watch.error). */
static int
cert_watch_dir_open(struct cert_watch *w, const char *dir)
{
	struct cert_watch_dir *d;
	struct stat st;
	int rc;

	if (w->ndirs == CERT_WATCH_DIRS_MAX) {
		/* Cannot happen: the files a configuration names are fewer. */
		log_event(LOG_ERROR, "cert_watch.error", "dir", dir, "reason", "too many directories", NULL);
		return -1;
	}
	if (stat(dir, &st) < 0) {
		log_event(LOG_WARN, "cert_watch.error", "dir", dir, "reason", strerror(errno),
		    "result", "not watched; changes in it need SIGHUP", NULL);
		return -1;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		log_event(LOG_ERROR, "cert_watch.error", "dir", dir, "reason", "out of memory", NULL);
		return -1;
	}
	if (snprintf(d->path, sizeof(d->path), "%s", dir) >= (int)sizeof(d->path)) {
		free(d);	/* cannot happen: dir is a prefix of a configured path */
		return -1;
	}
	d->watch = w;
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	uv_fs_event_init(w->edge->loop, &d->handle);
	d->handle.data = d;
	w->open_handles++;
	/* From here the handle owns d: freed by its close callback. */
	if ((rc = uv_fs_event_start(&d->handle, cert_watch_on_event, d->path, 0)) < 0) {
		log_event(LOG_WARN, "cert_watch.error", "dir", dir, "reason", uv_strerror(rc),
		    "result", "not watched; changes in it need SIGHUP", NULL);
		uv_close((uv_handle_t *)&d->handle, cert_watch_on_close);
		return -1;
	}
	/* Not a reason to keep the loop alive: shutdown closes it anyway,
	 * this only guards a path that forgot to. */
	uv_unref((uv_handle_t *)&d->handle);
	w->dirs[w->ndirs++] = d;
	log_event(LOG_INFO, "cert_watch.watch", "dir", dir, NULL);
	return 0;
}

static struct cert_watch *
cert_watch_new(struct edge *edge)
{
	struct cert_watch *w;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		log_event(LOG_ERROR, "cert_watch.error", "reason", "out of memory", NULL);
		return NULL;
	}
	w->edge = edge;
	uv_timer_init(edge->loop, &w->debounce);
	w->debounce.data = w;
	uv_unref((uv_handle_t *)&w->debounce);
	w->open_handles = 1;
	return w;
}

void
cert_watch_stop(struct edge *edge)
{
	struct cert_watch *w = edge->cert_watch;
	size_t i;

	if (w == NULL)
		return;
	edge->cert_watch = NULL;
	w->stopping = 1;
	for (i = 0; i < w->ndirs; i++)
		cert_watch_dir_close(w->dirs[i], "stopped");
	w->ndirs = 0;
	uv_timer_stop(&w->debounce);
	uv_close((uv_handle_t *)&w->debounce, cert_watch_on_close);
}

void
cert_watch_apply(struct edge *edge)
{
	const char *files[CERT_WATCH_FILES_MAX];
	char want[CERT_WATCH_FILES_MAX][CONFIG_PATH_MAX];
	struct cert_watch *w;
	struct stat st;
	size_t i, j, n, nwant = 0, kept;

	if (edge->shutting_down)
		return;
	if (!edge->cfg->tls.watch_files) {
		cert_watch_stop(edge);
		return;
	}
	if (edge->cert_watch == NULL && (edge->cert_watch = cert_watch_new(edge)) == NULL)
		return;
	w = edge->cert_watch;

	/* The distinct directories the configuration's files are in. */
	n = cert_watch_files(edge->cfg, files);
	for (i = 0; i < n; i++) {
		char d[CONFIG_PATH_MAX];

		if (cert_watch_split(files[i], d, sizeof(d)) == NULL)
			continue;	/* the loader refused such a path already */
		for (j = 0; j < nwant && strcmp(want[j], d) != 0; j++)
			;
		if (j == nwant)
			memcpy(want[nwant++], d, sizeof(d));
	}

	/* Keep what is still wanted and still the same directory. */
	for (i = 0; i < w->ndirs; i++)
		w->dirs[i]->wanted = 0;
	for (j = 0; j < nwant; j++)
		for (i = 0; i < w->ndirs; i++)
			if (strcmp(w->dirs[i]->path, want[j]) == 0)
				w->dirs[i]->wanted = 1;
	for (i = 0, kept = 0; i < w->ndirs; i++) {
		struct cert_watch_dir *d = w->dirs[i];

		if (!d->wanted)
			cert_watch_dir_close(d, "no longer configured");
		else if (stat(d->path, &st) < 0 || st.st_dev != d->dev || st.st_ino != d->ino)
			cert_watch_dir_close(d, "directory replaced");
		else
			w->dirs[kept++] = d;
	}
	w->ndirs = kept;

	/* Open the missing ones. */
	for (j = 0; j < nwant; j++) {
		for (i = 0; i < w->ndirs && strcmp(w->dirs[i]->path, want[j]) != 0; i++)
			;
		if (i == w->ndirs)
			(void)cert_watch_dir_open(w, want[j]);
	}
}
