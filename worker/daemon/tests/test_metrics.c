/*
 * metrics: job types come from the server, so labels must be the worker's
 * own kind names (a type with '"' and a newline writes no line of its
 * own; 40 unknown types do not stop the real kinds being counted), a
 * client that trickles its request one byte every 1.5 s holds no scrape,
 * every series keeps its label set when a job starts or ends, /healthz
 * answers from the state it is given, HEAD has no body, other methods get
 * 405, and "[::1]:PORT" listens on IPv6. Real sockets on loopback.
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

#include "loopsrv.h"
#include "metrics.h"
#include "util.h"

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

/* METHOD path; returns the whole answer (caller frees). */
static char *
ask(int port, const char *method, const char *path)
{
	struct buf		 b;
	char			 chunk[4096], *req;
	ssize_t			 n;
	int			 fd = dial(port);

	req = xasprintf("%s %s HTTP/1.1\r\nHost: x\r\n\r\n", method, path);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	free(req);
	buf_init(&b);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, (size_t)n);
	close(fd);
	return buf_release(&b);
}

static char *
scrape(int port)
{
	return ask(port, "GET", "/metrics");
}

static struct metrics *
start(int *portp)
{
	struct metrics	*m;
	char		 addr[64], err[256];

	*portp = loopsrv_free_port();
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
	assert_non_null(strstr(body, "ib_worker_busy 1\n"));
	assert_non_null(strstr(body, "ib_worker_running_jobs{type=\"other\"} "
	    "1\n"));
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
	assert_non_null(strstr(body, "ib_worker_jobs_total{type=\"file-resolve\","
	    "outcome=\"success\"} 1\n"));
	assert_non_null(strstr(body, "ib_worker_jobs_total{type=\"osbuild\","
	    "outcome=\"stopped\"} 1\n"));
	assert_non_null(strstr(body, "ib_worker_jobs_total{type=\"other\","
	    "outcome=\"failure\"} 40\n"));
	assert_non_null(strstr(body, "ib_worker_jobs_total{type=\"other\","
	    "outcome=\"success\"} 1\n"));
	/* Every line of the body is a comment or name{labels} value. */
	assert_int_equal(regcomp(&line, "^(# .*|[a-z_]+(\\{[a-z_]+=\"[a-zA-Z0-9._+-]+"
	    "\"(,[a-z_]+=\"[a-zA-Z0-9._+-]+\")*\\})? [0-9.]+)$", REG_EXTENDED), 0);
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

/* The series of an answer (names and labels, values cut), in order. */
static char *
series(const char *answer)
{
	struct buf	 b;
	const char	*p, *nl, *sp;

	buf_init(&b);
	for (p = strstr(answer, "\r\n\r\n") + 4; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		if (*p != '#' && (sp = strrchr(p, ' ')) != NULL && sp < nl)
			buf_add(&b, p, (size_t)(sp - p + 1));
		buf_add(&b, "\n", 1);
	}
	return buf_release(&b);
}

static void
test_label_sets_stable(void **state)
{
	struct metrics	*m;
	char		*a, *b, *c, *s0, *s1, *s2;
	int		 port;

	m = start(&port);
	a = scrape(port);
	metrics_job_started(m, "osbuild");
	b = scrape(port);
	metrics_job_finished(m, "osbuild", "success", 42);
	c = scrape(port);
	s0 = series(a);
	s1 = series(b);
	s2 = series(c);
	assert_string_equal(s0, s1);
	assert_string_equal(s1, s2);
	assert_non_null(strstr(a, "ib_worker_busy 0\n"));
	assert_non_null(strstr(b, "ib_worker_busy 1\n"));
	assert_non_null(strstr(b, "ib_worker_running_jobs{type=\"osbuild\"} "
	    "1\n"));
	assert_non_null(strstr(c, "ib_worker_job_duration_seconds_bucket{type="
	    "\"osbuild\",le=\"30\"} 0\n"));
	assert_non_null(strstr(c, "ib_worker_job_duration_seconds_bucket{type="
	    "\"osbuild\",le=\"60\"} 1\n"));
	assert_non_null(strstr(c, "ib_worker_job_duration_seconds_count{type="
	    "\"osbuild\"} 1\n"));
	assert_non_null(strstr(a, "ib_worker_build_info{version=\""));
	/* Targets and retried calls are there before any happened. */
	assert_non_null(strstr(a, "ib_worker_upload_bytes_total{target="
	    "\"org.osbuild.aws\"} 0\n"));
	assert_non_null(strstr(a, "ib_worker_composer_retries_total{call="
	    "\"result\"} 0\n"));
	assert_non_null(strstr(a, "\nprocess_start_time_seconds 1"));
	free(a);
	free(b);
	free(c);
	free(s0);
	free(s1);
	free(s2);
	metrics_stop(m);
}

/* Asks method path and checks that the answer holds want and also. */
static void
expect(int port, const char *method, const char *path, const char *want,
    const char *also)
{
	char	*body = ask(port, method, path);

	if (strstr(body, want) == NULL ||
	    (also != NULL && strstr(body, also) == NULL))
		fail_msg("%s %s: want \"%s\" and \"%s\", got:\n%s", method, path,
		    want, also ? also : "", body);
	free(body);
}

static void
test_healthz(void **state)
{
	struct metrics	*m;
	int		 port;

	m = start(&port);
	expect(port, "GET", "/healthz", "HTTP/1.1 503 ",
	    "\"reason\":\"not registered with the composer\"");
	metrics_registered(m, 1);
	metrics_state(m, MSTATE_IDLE);
	expect(port, "GET", "/healthz", "HTTP/1.1 200 OK",
	    "\"status\":\"ok\",\"state\":\"idle\"");
	/* The composer silent for longer than the window. */
	metrics_contact_window(m, -1);
	expect(port, "GET", "/healthz", "HTTP/1.1 503 ",
	    "no answer from the composer");
	metrics_contact_window(m, 300);
	metrics_contact(m);
	metrics_state(m, MSTATE_GATED);
	expect(port, "GET", "/healthz", "HTTP/1.1 503 ",
	    "\"reason\":\"gated: no job type can run here now\"");
	metrics_state(m, MSTATE_DRAINING);
	expect(port, "GET", "/healthz?x=1", "HTTP/1.1 503 ",
	    "\"state\":\"draining\"");
	/* A drain is the process's last state: the job that ends under it
	 * (busy, then idle) does not make the worker healthy again. */
	metrics_state(m, MSTATE_BUSY);
	metrics_state(m, MSTATE_IDLE);
	expect(port, "GET", "/healthz", "HTTP/1.1 503 ",
	    "\"state\":\"draining\"");
	metrics_state(m, MSTATE_UNHEALTHY);
	expect(port, "GET", "/healthz", "HTTP/1.1 503 ",
	    "unhealthy: the cache cannot be cleaned");
	metrics_stop(m);
}

static void
test_methods(void **state)
{
	struct metrics	*m;
	char		*body;
	int		 port;

	m = start(&port);
	/* HEAD: the headers of GET, no body. */
	body = ask(port, "HEAD", "/metrics");
	assert_non_null(strstr(body, "HTTP/1.1 200 OK"));
	assert_string_equal(strstr(body, "\r\n\r\n"), "\r\n\r\n");
	assert_null(strstr(body, "Content-Length: 0\r\n"));
	free(body);
	expect(port, "HEAD", "/healthz", "HTTP/1.1 503 ", NULL);
	expect(port, "POST", "/metrics", "HTTP/1.1 405 ",
	    "\r\nAllow: GET, HEAD\r\n");
	expect(port, "DELETE", "/healthz", "HTTP/1.1 405 ", NULL);
	expect(port, "GET", "/metricsx", "HTTP/1.1 404 ", NULL);
	metrics_stop(m);
}

static void
test_ipv6(void **state)
{
	struct sockaddr_in6	 sin6;
	struct metrics		*m;
	char			 addr[64], err[256], buf[64];
	int			 port = loopsrv_free_port(), fd;
	ssize_t			 n;

	snprintf(addr, sizeof(addr), "[::1]:%d", port);
	if ((m = metrics_start(addr, err, sizeof(err))) == NULL)
		fail_msg("%s", err);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	sin6.sin6_port = htons(port);
	fd = socket(AF_INET6, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin6,
	    sizeof(sin6)), 0);
	assert_int_equal(write(fd, "GET /metrics HTTP/1.0\r\n\r\n", 25), 25);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
	close(fd);
	metrics_stop(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_trickle),
		cmocka_unit_test(test_label_sets_stable),
		cmocka_unit_test(test_healthz),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_ipv6),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
