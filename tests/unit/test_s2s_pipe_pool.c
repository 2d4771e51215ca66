/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_s2s_pipe_pool.c - the TCP pipe's written requests go to the loop's
 * pool (struct s2s_pipe_pool, edge->pipe_pool), not to spares of the pipe
 * (issue 18: 17-35 KiB of every idle stream), and the pool is bounded.
 * A real loop and a loopback TCP connection; the peer end only reads.
 */
#include "test.h"
#include "s2s_conn.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct pp {
	int written;		/* on_write_done calls */
	int closed;
};

static void
pp_alloc(void *owner, char **base, size_t *len)
{
	(void)owner;
	*base = NULL;
	*len = 0;
}

static void
pp_read(void *owner, ssize_t n, const char *base)
{
	(void)owner;
	(void)n;
	(void)base;
}

static void
pp_write_done(void *owner, size_t n, int status)
{
	struct pp *p = owner;

	(void)n;
	CHECK_INT_EQ(status, 0);
	p->written++;
}

static void
pp_shutdown(void *owner, int status)
{
	(void)owner;
	(void)status;
}

static void
pp_closed(void *owner)
{
	((struct pp *)owner)->closed = 1;
}

static const struct s2s_pipe_events pp_events = {
	.on_alloc = pp_alloc,
	.on_read = pp_read,
	.on_write_done = pp_write_done,
	.on_shutdown = pp_shutdown,
	.on_closed = pp_closed,
};

/* A connected loopback pair: *ours goes to the pipe, *theirs is read. */
static void
pp_socketpair(int *ours, int *theirs)
{
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);
	int ls = socket(AF_INET, SOCK_STREAM, 0), big = 4 * 1024 * 1024;

	REQUIRE(ls >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	REQUIRE(bind(ls, (struct sockaddr *)&a, sizeof(a)) == 0);
	REQUIRE(listen(ls, 1) == 0);
	REQUIRE(getsockname(ls, (struct sockaddr *)&a, &alen) == 0);
	*theirs = socket(AF_INET, SOCK_STREAM, 0);
	REQUIRE(*theirs >= 0);
	/* Room for every write of the test without the peer reading. */
	setsockopt(*theirs, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	REQUIRE(connect(*theirs, (struct sockaddr *)&a, sizeof(a)) == 0);
	*ours = accept(ls, NULL, NULL);
	REQUIRE(*ours >= 0);
	close(ls);
}

static void
pp_run_until_written(uv_loop_t *loop, struct pp *p, int n)
{
	int i;

	for (i = 0; i < 1000 && p->written < n; i++)
		uv_run(loop, UV_RUN_ONCE);
	REQUIRE(p->written == n);
}

TEST(s2s_pipe_pool_written_requests_go_to_pool)
{
	static char rec[4096];
	struct s2s_pipe_pool pool;
	struct s2s_pipe *pipe;
	struct pp p;
	uv_loop_t loop;
	int ours, theirs, i;

	memset(&pool, 0, sizeof(pool));
	memset(&p, 0, sizeof(p));
	memset(rec, 'x', sizeof(rec));
	REQUIRE(uv_loop_init(&loop) == 0);
	pp_socketpair(&ours, &theirs);
	pipe = s2s_pipe_tcp_from_fd(&loop, ours);
	REQUIRE(pipe != NULL);
	pipe->pool = &pool;
	s2s_pipe_attach(pipe, &pp_events, &p);

	/* Three writes in flight, then written: all three wait in the pool,
	 * none in the pipe. */
	for (i = 0; i < 3; i++)
		REQUIRE(pipe->ops->write(pipe, rec, sizeof(rec)) == 0);
	CHECK_INT_EQ(pool.nfree, 0);
	pp_run_until_written(&loop, &p, 3);
	CHECK_INT_EQ(pool.nfree, 3);
	/* The next write takes one from the pool and gives it back. */
	REQUIRE(pipe->ops->write(pipe, rec, 100) == 0);
	CHECK_INT_EQ(pool.nfree, 2);
	pp_run_until_written(&loop, &p, 4);
	CHECK_INT_EQ(pool.nfree, 3);
	/* Many at once: the pool keeps S2S_PIPE_POOL_MAX, frees the rest. */
	for (i = 0; i < S2S_PIPE_POOL_MAX + 8; i++)
		REQUIRE(pipe->ops->write(pipe, rec, sizeof(rec)) == 0);
	CHECK_INT_EQ(pool.nfree, 0);
	pp_run_until_written(&loop, &p, 4 + S2S_PIPE_POOL_MAX + 8);
	CHECK_INT_EQ(pool.nfree, S2S_PIPE_POOL_MAX);
	/* A write larger than a request is split over requests of the
	 * pool (every request has the same size), which come back. */
	{
		static char big[S2S_PIPE_WRITE_CAP + 100];

		REQUIRE(pipe->ops->write(pipe, big, sizeof(big)) == 0);
		CHECK_INT_EQ(pool.nfree, S2S_PIPE_POOL_MAX - 2);
		pp_run_until_written(&loop, &p, 6 + S2S_PIPE_POOL_MAX + 8);
		CHECK_INT_EQ(pool.nfree, S2S_PIPE_POOL_MAX);
	}

	pipe->ops->close(pipe);
	for (i = 0; i < 100 && !p.closed; i++)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(p.closed);
	/* The pool outlives the pipe; clearing it frees everything (the
	 * leak checker sees the rest). */
	s2s_pipe_pool_clear(&pool);
	CHECK_INT_EQ(pool.nfree, 0);
	close(theirs);
	CHECK_INT_EQ(uv_loop_close(&loop), 0);
}

/* Without a pool (probe, gateway check) every request is freed when
 * written: nothing is kept anywhere. */
TEST(s2s_pipe_pool_none_frees_requests)
{
	static char rec[1000];
	struct s2s_pipe *pipe;
	struct pp p;
	uv_loop_t loop;
	int ours, theirs, i;

	memset(&p, 0, sizeof(p));
	REQUIRE(uv_loop_init(&loop) == 0);
	pp_socketpair(&ours, &theirs);
	pipe = s2s_pipe_tcp_from_fd(&loop, ours);
	REQUIRE(pipe != NULL);
	s2s_pipe_attach(pipe, &pp_events, &p);
	for (i = 0; i < 5; i++)
		REQUIRE(pipe->ops->write(pipe, rec, sizeof(rec)) == 0);
	pp_run_until_written(&loop, &p, 5);
	pipe->ops->close(pipe);
	for (i = 0; i < 100 && !p.closed; i++)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK(p.closed);
	close(theirs);
	CHECK_INT_EQ(uv_loop_close(&loop), 0);
}
