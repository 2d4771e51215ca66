/* SPDX-License-Identifier: Apache-2.0 */
/*
 * service_notify.c - the readiness notification of systemd's sd_notify(3)
 * protocol: one datagram "READY=1" to the unix socket named by
 * $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace).
 *
 * Who listens: the appliance's init, which blesses a boot entry on trial
 * only after this message (a build whose daemon never gets ready falls
 * back to the previous slot), and systemd for a Type=notify unit.  Sent
 * once, after every listener and the control socket are open.
 */
#include "service_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

int
service_notify_ready(void)
{
	return service_notify_send("READY=1");
}

int
service_notify_send(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	size_t n;
	int fd, rc;

	if (path == NULL || path[0] == '\0')
		return 0;
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sun.sun_path)) {
		log_event(LOG_WARN, "daemon.notify_failed", "socket", path, "error",
		    "NOTIFY_SOCKET must be an absolute path or @name", NULL);
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, n);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	rc = fd < 0 ? -1 : (int)sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&sun, len);
	if (rc < 0)
		log_event(LOG_WARN, "daemon.notify_failed", "socket", path, "error", strerror(errno),
		    NULL);
	if (fd >= 0)
		close(fd);
	return rc < 0 ? -1 : 0;
}
