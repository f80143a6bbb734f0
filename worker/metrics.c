/*
 * The metrics endpoint. Counters live behind one mutex; the serving thread
 * answers GET /metrics with the text exposition format and anything else
 * with 404. Connections are handled one at a time with short timeouts: a
 * scraper is one client, and a slow one must not hold the worker.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

#define METRICS_MAX_KINDS	32

struct kind_stats {
	char		 name[48];
	unsigned long	 ok, failed, stopped;
	double		 seconds;
};

struct metrics {
	pthread_t		 thread;
	pthread_mutex_t		 mtx;
	int			 fd;
	int			 quit_pipe[2];
	time_t			 started;
	struct kind_stats	 kinds[METRICS_MAX_KINDS];
	int			 nkinds;
	char			 running[48];
	unsigned long		 heartbeats_ok, heartbeats_failed;
	unsigned long		 composer_errors;
};

static struct kind_stats *
kind_of(struct metrics *m, const char *kind)
{
	int	 i;

	for (i = 0; i < m->nkinds; i++)
		if (strcmp(m->kinds[i].name, kind) == 0)
			return &m->kinds[i];
	if (m->nkinds == METRICS_MAX_KINDS)
		return NULL;
	snprintf(m->kinds[m->nkinds].name, sizeof(m->kinds[0].name), "%s",
	    kind);
	return &m->kinds[m->nkinds++];
}

static char *
render(struct metrics *m)
{
	struct buf	 b;
	int		 i;

	buf_init(&b);
	pthread_mutex_lock(&m->mtx);
	buf_printf(&b, "# HELP ib_worker_up 1 while the worker runs.\n"
	    "# TYPE ib_worker_up gauge\nib_worker_up 1\n");
	buf_printf(&b, "# HELP ib_worker_uptime_seconds Seconds since start.\n"
	    "# TYPE ib_worker_uptime_seconds gauge\n"
	    "ib_worker_uptime_seconds %ld\n", (long)(time(NULL) - m->started));
	buf_printf(&b, "# HELP ib_worker_busy 1 while a job runs.\n"
	    "# TYPE ib_worker_busy gauge\nib_worker_busy%s%s%s %d\n",
	    m->running[0] ? "{kind=\"" : "", m->running,
	    m->running[0] ? "\"}" : "", m->running[0] ? 1 : 0);
	buf_printf(&b, "# HELP ib_worker_jobs_total Jobs by kind and "
	    "outcome.\n# TYPE ib_worker_jobs_total counter\n");
	for (i = 0; i < m->nkinds; i++) {
		buf_printf(&b, "ib_worker_jobs_total{kind=\"%s\",outcome="
		    "\"success\"} %lu\n", m->kinds[i].name, m->kinds[i].ok);
		buf_printf(&b, "ib_worker_jobs_total{kind=\"%s\",outcome="
		    "\"failure\"} %lu\n", m->kinds[i].name, m->kinds[i].failed);
		buf_printf(&b, "ib_worker_jobs_total{kind=\"%s\",outcome="
		    "\"stopped\"} %lu\n", m->kinds[i].name,
		    m->kinds[i].stopped);
	}
	buf_printf(&b, "# HELP ib_worker_job_seconds_total Time spent in jobs "
	    "by kind.\n# TYPE ib_worker_job_seconds_total counter\n");
	for (i = 0; i < m->nkinds; i++)
		buf_printf(&b, "ib_worker_job_seconds_total{kind=\"%s\"} "
		    "%.3f\n", m->kinds[i].name, m->kinds[i].seconds);
	buf_printf(&b, "# HELP ib_worker_heartbeats_total Job heartbeats by "
	    "result.\n# TYPE ib_worker_heartbeats_total counter\n"
	    "ib_worker_heartbeats_total{result=\"ok\"} %lu\n"
	    "ib_worker_heartbeats_total{result=\"failed\"} %lu\n",
	    m->heartbeats_ok, m->heartbeats_failed);
	buf_printf(&b, "# HELP ib_worker_composer_errors_total Failed calls to "
	    "the composer.\n# TYPE ib_worker_composer_errors_total counter\n"
	    "ib_worker_composer_errors_total %lu\n", m->composer_errors);
	pthread_mutex_unlock(&m->mtx);
	return buf_release(&b);
}

static void
serve_one(struct metrics *m, int c)
{
	struct timeval	 tv = { 2, 0 };
	char		 req[2048], *body, *head;
	ssize_t		 n;
	size_t		 got = 0;

	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (got < sizeof(req) - 1) {
		if ((n = read(c, req + got, sizeof(req) - 1 - got)) <= 0)
			return;
		got += n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	if (strncmp(req, "GET /metrics ", 13) == 0 ||
	    strncmp(req, "GET /metrics?", 13) == 0) {
		body = render(m);
		head = xasprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain; "
		    "version=0.0.4\r\nContent-Length: %zu\r\nConnection: "
		    "close\r\n\r\n", strlen(body));
	} else {
		body = xstrdup("not found\n");
		head = xasprintf("HTTP/1.1 404 Not Found\r\nContent-Type: "
		    "text/plain\r\nContent-Length: %zu\r\nConnection: close"
		    "\r\n\r\n", strlen(body));
	}
	if (write(c, head, strlen(head)) >= 0)
		(void)!write(c, body, strlen(body));
	free(head);
	free(body);
}

static void *
metrics_main(void *arg)
{
	struct metrics	*m = arg;
	struct pollfd	 pfd[2];
	int		 c;

	pfd[0].fd = m->fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = m->quit_pipe[0];
	pfd[1].events = POLLIN;
	for (;;) {
		if (poll(pfd, 2, -1) == -1)
			continue;
		if (pfd[1].revents)
			break;
		if ((c = accept4(m->fd, NULL, NULL, SOCK_CLOEXEC)) == -1)
			continue;
		serve_one(m, c);
		close(c);
	}
	return NULL;
}

struct metrics *
metrics_start(const char *listen_addr, char *err, size_t errlen)
{
	struct addrinfo	 hints, *res = NULL;
	struct metrics	*m;
	sigset_t	 all, old;
	char		*host, *port;
	int		 one = 1, rc;

	host = xstrdup(listen_addr);
	if ((port = strrchr(host, ':')) == NULL) {
		snprintf(err, errlen, "metrics_listen %s: expected HOST:PORT",
		    listen_addr);
		free(host);
		return NULL;
	}
	*port++ = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(*host ? host : NULL, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "metrics_listen %s: %s", listen_addr,
		    gai_strerror(rc));
		free(host);
		return NULL;
	}
	free(host);
	m = xcalloc(1, sizeof(*m));
	pthread_mutex_init(&m->mtx, NULL);
	m->started = time(NULL);
	m->fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
	if (m->fd == -1 ||
	    setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(m->fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(m->fd, 16) == -1 || pipe2(m->quit_pipe, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "metrics_listen %s: %m", listen_addr);
		if (m->fd != -1)
			close(m->fd);
		freeaddrinfo(res);
		pthread_mutex_destroy(&m->mtx);
		free(m);
		return NULL;
	}
	freeaddrinfo(res);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&m->thread, NULL, metrics_main, m) != 0)
		fatalx("cannot start the metrics thread");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	log_info("metrics on http://%s/metrics", listen_addr);
	return m;
}

void
metrics_stop(struct metrics *m)
{
	if (m == NULL)
		return;
	(void)!write(m->quit_pipe[1], "q", 1);
	pthread_join(m->thread, NULL);
	close(m->quit_pipe[0]);
	close(m->quit_pipe[1]);
	close(m->fd);
	pthread_mutex_destroy(&m->mtx);
	free(m);
}

void
metrics_job_started(struct metrics *m, const char *kind)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mtx);
	snprintf(m->running, sizeof(m->running), "%s", kind);
	pthread_mutex_unlock(&m->mtx);
}

void
metrics_job_finished(struct metrics *m, const char *kind, const char *outcome,
    double seconds)
{
	struct kind_stats	*k;

	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mtx);
	m->running[0] = '\0';
	if ((k = kind_of(m, kind)) != NULL) {
		if (strcmp(outcome, "success") == 0)
			k->ok++;
		else if (strcmp(outcome, "failure") == 0)
			k->failed++;
		else
			k->stopped++;
		k->seconds += seconds;
	}
	pthread_mutex_unlock(&m->mtx);
}

void
metrics_heartbeat(struct metrics *m, int ok)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mtx);
	if (ok)
		m->heartbeats_ok++;
	else
		m->heartbeats_failed++;
	pthread_mutex_unlock(&m->mtx);
}

void
metrics_composer_error(struct metrics *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mtx);
	m->composer_errors++;
	pthread_mutex_unlock(&m->mtx);
}
