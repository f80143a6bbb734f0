/*
 * The metrics endpoint. Counters live behind one mutex; the serving thread
 * answers GET /metrics with the text exposition format and anything else
 * with 404. It polls up to METRICS_MAX_CONNS connections at once and gives
 * each a whole-request deadline, so a client that trickles its request
 * holds neither the worker nor other scrapers. Labels are only the
 * worker's own job-kind names: job types come from the server.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
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

#include "job.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/* Every kind of job_kinds plus "other"; more is a bug in the table. */
#define METRICS_MAX_KINDS	32
#define METRICS_OTHER		"other"
#define METRICS_MAX_CONNS	16
/* From accept to the answer written, whatever the client does. */
#define METRICS_DEADLINE_MS	2000

struct kind_stats {
	const char	*name;		/* static: a job_kinds name or "other" */
	unsigned long	 ok, failed, stopped;
	double		 seconds;
};

struct conn {
	int		 fd;		/* -1: free */
	int64_t		 deadline;	/* now_ms() */
	size_t		 got;
	char		 req[2048];
};

struct metrics {
	pthread_t		 thread;
	pthread_mutex_t		 mtx;
	int			 fd;
	int			 quit_pipe[2];
	time_t			 started;
	struct kind_stats	 kinds[METRICS_MAX_KINDS];
	int			 nkinds;
	const char		*running;	/* NULL or as kinds[].name */
	unsigned long		 heartbeats_ok, heartbeats_failed;
	unsigned long		 composer_errors;
	struct conn		 conns[METRICS_MAX_CONNS];
};

/* The label for a job type from the server: our own name for it. */
static const char *
kind_label(const char *type)
{
	const struct job_kind	*k;

	if (type == NULL || (k = job_kind_find(type)) == NULL)
		return METRICS_OTHER;
	return k->name;
}

static struct kind_stats *
kind_of(struct metrics *m, const char *type)
{
	const char	*name = kind_label(type);
	int		 i;

	for (i = 0; i < m->nkinds; i++)
		if (strcmp(m->kinds[i].name, name) == 0)
			return &m->kinds[i];
	if (m->nkinds == METRICS_MAX_KINDS)
		return NULL;
	m->kinds[m->nkinds].name = name;
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
	    m->running ? "{kind=\"" : "", m->running ? m->running : "",
	    m->running ? "\"}" : "", m->running ? 1 : 0);
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

/* Answers the request read on c (blocking, with a send timeout). */
static void
answer(struct metrics *m, struct conn *c)
{
	struct timeval	 tv = { 1, 0 };
	char		*body, *head;

	if (strncmp(c->req, "GET /metrics ", 13) == 0 ||
	    strncmp(c->req, "GET /metrics?", 13) == 0) {
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
	/* A few KiB: the socket buffer takes them, a stuck reader waits 1 s. */
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (write_all(c->fd, head, strlen(head)) == 0)
		(void)write_all(c->fd, body, strlen(body));
	free(head);
	free(body);
}

static void
conn_close(struct conn *c)
{
	close(c->fd);
	c->fd = -1;
}

/* Reads what c has; answers and closes it once the request is whole. */
static void
conn_read(struct metrics *m, struct conn *c)
{
	ssize_t	 n;

	n = read(c->fd, c->req + c->got, sizeof(c->req) - 1 - c->got);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->got += (size_t)n;
	c->req[c->got] = '\0';
	if (strstr(c->req, "\r\n\r\n") != NULL ||
	    c->got == sizeof(c->req) - 1) {
		answer(m, c);
		conn_close(c);
	}
}

/* Takes a new connection; when all slots are busy the oldest goes. */
static void
conn_accept(struct metrics *m)
{
	struct conn	*slot = NULL;
	int		 fd, i;

	if ((fd = accept4(m->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) ==
	    -1)
		return;
	for (i = 0; i < METRICS_MAX_CONNS; i++) {
		if (m->conns[i].fd == -1) {
			slot = &m->conns[i];
			break;
		}
		if (slot == NULL || m->conns[i].deadline < slot->deadline)
			slot = &m->conns[i];
	}
	if (slot->fd != -1)
		conn_close(slot);
	slot->fd = fd;
	slot->got = 0;
	slot->req[0] = '\0';
	slot->deadline = now_ms() + METRICS_DEADLINE_MS;
}

static void *
metrics_main(void *arg)
{
	struct metrics	*m = arg;
	struct pollfd	 pfd[2 + METRICS_MAX_CONNS];
	struct conn	*map[METRICS_MAX_CONNS];
	int64_t		 now, wait;
	int		 i, n;

	for (i = 0; i < METRICS_MAX_CONNS; i++)
		m->conns[i].fd = -1;
	for (;;) {
		pfd[0].fd = m->fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = m->quit_pipe[0];
		pfd[1].events = POLLIN;
		n = 2;
		wait = -1;
		now = now_ms();
		for (i = 0; i < METRICS_MAX_CONNS; i++) {
			if (m->conns[i].fd == -1)
				continue;
			if (m->conns[i].deadline <= now) {
				conn_close(&m->conns[i]);
				continue;
			}
			if (wait == -1 || m->conns[i].deadline - now < wait)
				wait = m->conns[i].deadline - now;
			map[n - 2] = &m->conns[i];
			pfd[n].fd = m->conns[i].fd;
			pfd[n].events = POLLIN;
			n++;
		}
		if (poll(pfd, (nfds_t)n, (int)wait) == -1)
			continue;
		if (pfd[1].revents)
			break;
		for (i = 2; i < n; i++)
			if (pfd[i].revents)
				conn_read(m, map[i - 2]);
		if (pfd[0].revents)
			conn_accept(m);
	}
	for (i = 0; i < METRICS_MAX_CONNS; i++)
		if (m->conns[i].fd != -1)
			conn_close(&m->conns[i]);
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
	m->running = kind_label(kind);
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
	m->running = NULL;
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
