/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/appliance/flaky_daemon.c - a stand-in for xmpp-edge that exercises
 * the appliance init's supervision (tests/appliance/run.sh, "supervision").
 *
 * `flaky_daemon run ...`: the first two runs (counted in
 * /data/state/runs, so the count survives restarts) exit with status 1
 * after 300 ms; the third listens on 0.0.0.0:5269, answers any connection
 * with an XML declaration, and ignores SIGTERM, so that init must fall back
 * to SIGKILL when it powers off.  Any other command exits 0 (build-image.sh
 * runs `check -c FILE`).
 */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define RUNS_FILE "/data/state/runs"
#define FAILING_RUNS 2

int main(int argc, char **argv)
{
	static const char reply[] = "<?xml version='1.0'?>";
	struct sockaddr_in sin;
	int n = 0, s, c, one = 1;
	FILE *f;

	if (argc < 2 || strcmp(argv[1], "run") != 0)
		return 0;
	if ((f = fopen(RUNS_FILE, "r")) != NULL) {
		if (fscanf(f, "%d", &n) != 1)
			n = 0;
		fclose(f);
	}
	if (n < FAILING_RUNS) {
		if ((f = fopen(RUNS_FILE, "w")) == NULL) {
			perror("flaky_daemon: " RUNS_FILE);
			return 3;
		}
		fprintf(f, "%d\n", n + 1);
		fclose(f);
		fprintf(stderr, "flaky_daemon: run %d fails\n", n);
		usleep(300000);
		return 1;
	}
	signal(SIGTERM, SIG_IGN);
	s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(5269);
	if (s == -1 || bind(s, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(s, 16) == -1) {
		perror("flaky_daemon: listen");
		return 1;
	}
	fprintf(stderr, "flaky_daemon: run %d serves, ignores SIGTERM\n", n);
	for (;;) {
		if ((c = accept(s, NULL, NULL)) == -1)
			continue;
		(void)!write(c, reply, sizeof reply - 1);
		close(c);
	}
}
