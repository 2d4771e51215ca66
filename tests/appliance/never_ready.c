/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/appliance/never_ready.c - a stand-in for xmpp-edge that starts and
 * never gets ready: the "deliberately broken build" of the A/B update test
 * (tests/appliance/run.sh, "A/B update").  `never_ready run ...` sleeps
 * until SIGTERM, without ever sending READY=1 to $NOTIFY_SOCKET, so the
 * appliance's init must count the boot as failed; any other command exits
 * 0 (build-image.sh runs `check -c FILE`).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int
main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "run") != 0)
		return 0;
	signal(SIGTERM, on_term);
	fprintf(stderr, "never_ready: running, never ready\n");
	while (!stop)
		pause();
	return 0;
}
