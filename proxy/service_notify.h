/* SPDX-License-Identifier: Apache-2.0 */
/*
 * service_notify.h - tells the service manager the daemon is ready
 * (service_notify.c).
 */
#ifndef XE_SERVICE_NOTIFY_H
#define XE_SERVICE_NOTIFY_H

/* Sends "READY=1" to $NOTIFY_SOCKET when it is set; 0, or -1 with the
 * reason logged (the daemon runs on either way). */
int service_notify_ready(void);
/* Sends msg, newline-separated VAR=VALUE lines (sd_notify(3): "MAINPID=",
 * "READY=1"), the same way. */
int service_notify_send(const char *msg);

#endif
