/*
 * metrics: job types come from the server, so labels must be the worker's
 * own kind names (a type with '"' and a newline writes no line of its
 * own; 40 unknown types do not stop the real kinds being counted), and a
 * client that trickles its request one byte every 1.5 s holds no scrape.
 * Real sockets on loopback.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"
#include "util.h"

static int
free_port(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	int			 fd, port;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

static int
dial(int port)
{
	struct sockaddr_in	 sin;
	struct timeval		 tv = { 10, 0 };
	int			 fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* GET /metrics; returns the whole answer (caller frees). */
static char *
scrape(int port)
{
	static const char	 req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	struct buf		 b;
	char			 chunk[4096];
	ssize_t			 n;
	int			 fd = dial(port);

	assert_int_equal(write(fd, req, sizeof(req) - 1), sizeof(req) - 1);
	buf_init(&b);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, (size_t)n);
	close(fd);
	return buf_release(&b);
}

static struct metrics *
start(int *portp)
{
	struct metrics	*m;
	char		 addr[64], err[256];

	*portp = free_port();
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", *portp);
	m = metrics_start(addr, err, sizeof(err));
	if (m == NULL)
		fail_msg("%s", err);
	return m;
}

static void
test_labels(void **state)
{
	struct metrics	*m;
	regex_t		 line;
	char		*body, *p, *nl, name[32];
	int		 port, i;

	m = start(&port);
	metrics_job_started(m, "evil\"} 1\nib_worker_up 0\n#");
	body = scrape(port);
	assert_non_null(strstr(body, "ib_worker_busy{kind=\"other\"} 1\n"));
	free(body);
	metrics_job_finished(m, "evil\"} 1\nib_worker_up 0\n#", "success", 1);
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "unknown-%d", i);
		metrics_job_finished(m, name, "failure", 1);
	}
	metrics_job_finished(m, "file-resolve", "success", 2);
	metrics_job_finished(m, "osbuild", "stopped", 3);
	body = scrape(port);
	assert_non_null(strstr(body, "\r\n\r\n"));
	assert_null(strstr(body, "ib_worker_up 0"));
	assert_null(strstr(body, "evil"));
	assert_null(strstr(body, "unknown"));
	assert_non_null(strstr(body, "ib_worker_jobs_total{kind=\"file-resolve\","
	    "outcome=\"success\"} 1\n"));
	assert_non_null(strstr(body, "ib_worker_jobs_total{kind=\"osbuild\","
	    "outcome=\"stopped\"} 1\n"));
	assert_non_null(strstr(body, "ib_worker_jobs_total{kind=\"other\","
	    "outcome=\"failure\"} 40\n"));
	assert_non_null(strstr(body, "ib_worker_jobs_total{kind=\"other\","
	    "outcome=\"success\"} 1\n"));
	/* Every line of the body is a comment or name{labels} value. */
	assert_int_equal(regcomp(&line, "^(# .*|[a-z_]+(\\{[a-z_]+=\"[a-z0-9-]+\""
	    "(,[a-z_]+=\"[a-z0-9-]+\")*\\})? [0-9.]+)$", REG_EXTENDED), 0);
	for (p = strstr(body, "\r\n\r\n") + 4; *p != '\0'; p = nl + 1) {
		assert_non_null(nl = strchr(p, '\n'));
		*nl = '\0';
		if (regexec(&line, p, 0, NULL, 0) != 0)
			fail_msg("bad exposition line: %s", p);
	}
	regfree(&line);
	free(body);
	metrics_stop(m);
}

static void
test_trickle(void **state)
{
	struct metrics	*m;
	int64_t		 t0, took, worst = 0;
	char		*body;
	int		 port, slow, i;

	m = start(&port);
	slow = dial(port);
	/* Seven scrapes while the slow client sends a byte every 1.5 s. */
	for (i = 0; i < 7; i++) {
		(void)!send(slow, "G", 1, MSG_NOSIGNAL);
		t0 = now_ms();
		body = scrape(port);
		took = now_ms() - t0;
		if (took > worst)
			worst = took;
		assert_non_null(strstr(body, "HTTP/1.1 200 OK"));
		free(body);
		usleep(1500 * 1000 - (took < 1500 ? took : 0) * 1000);
	}
	print_message("slowest scrape beside a trickling client: %lld ms\n",
	    (long long)worst);
	assert_true(worst < 1000);
	close(slow);
	metrics_stop(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_trickle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
