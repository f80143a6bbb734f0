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

#include "config.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "targets.h"
#include "util.h"

/* Every kind of job_kinds plus "other"; more is a bug in the table. */
#define METRICS_MAX_KINDS	32
#define METRICS_MAX_TARGETS	32
#define METRICS_MAX_CALLS	8
#define METRICS_OTHER		"other"
#define METRICS_MAX_CONNS	16
/* From accept to the answer written, whatever the client does. */
#define METRICS_DEADLINE_MS	2000
#define METRICS_CONTACT_S	300	/* default /healthz window */

/* Histogram bounds in seconds: a job lasts from a second to hours. */
static const double job_buckets[] = {
	1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200
};
#define JOB_NBUCKETS	(sizeof(job_buckets) / sizeof(job_buckets[0]))
static const double upload_buckets[] = {
	1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600
};
#define UPLOAD_NBUCKETS	(sizeof(upload_buckets) / sizeof(upload_buckets[0]))

struct hist {
	unsigned long	 le[JOB_NBUCKETS];	/* not cumulative */
	unsigned long	 count;
	double		 sum;
};

struct kind_stats {
	const char	*name;		/* static: a job_kinds name or "other" */
	unsigned long	 ok, failed, stopped;
	struct hist	 dur;
};

struct target_stats {
	const char	*name;		/* static: a target_kind's name */
	unsigned long	 ok, failed;
	uint64_t	 bytes;
	struct hist	 dur;
	unsigned long	 retry_backoff, retry_after;
	double		 retry_wait;	/* s */
};

struct call_stats {
	const char	*name;		/* static: the caller's literal */
	unsigned long	 retries;
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
	double			 start_time;	/* epoch seconds, sub-second */
	struct kind_stats	 kinds[METRICS_MAX_KINDS];
	int			 nkinds;
	struct target_stats	 targets[METRICS_MAX_TARGETS];
	int			 ntargets;
	struct call_stats	 calls[METRICS_MAX_CALLS];
	int			 ncalls;
	const char		*running;	/* NULL or as kinds[].name */
	unsigned long		 heartbeats_ok, heartbeats_failed;
	unsigned long		 composer_errors;
	int64_t			 cache_bytes;	/* -1: not measured yet */
	uint64_t		 cache_evictions;
	int64_t			 cache_evicted_bytes;
	int			 registered;
	time_t			 last_contact;	/* 0: never */
	int			 contact_window;
	enum metrics_state	 state;
	struct conn		 conns[METRICS_MAX_CONNS];
};

/* The composer calls the loop retries, each a series from the start. */
static const char *const metrics_calls[] = {
	"register", "request_job", "worker_status", "result", NULL
};

static const char *const state_names[] = {
	"starting", "registering", "idle", "busy", "gated", "draining",
	"unhealthy", "leaving"
};
#define NSTATES	(sizeof(state_names) / sizeof(state_names[0]))

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

static struct target_stats *
target_of(struct metrics *m, const char *name)
{
	int	 i;

	for (i = 0; i < m->ntargets; i++)
		if (strcmp(m->targets[i].name, name) == 0)
			return &m->targets[i];
	if (m->ntargets == METRICS_MAX_TARGETS)
		return NULL;
	m->targets[m->ntargets].name = name;
	return &m->targets[m->ntargets++];
}

static void
hist_add(struct hist *h, const double *bounds, size_t n, double v)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (v <= bounds[i]) {
			h->le[i]++;
			break;
		}
	h->count++;
	h->sum += v;
}

/* The series of one histogram: label="value" comes before le. */
static void
hist_render(struct buf *b, const char *name, const char *label,
    const char *value, const struct hist *h, const double *bounds, size_t n)
{
	unsigned long	 cum = 0;
	size_t		 i;

	for (i = 0; i < n; i++) {
		cum += h->le[i];
		buf_printf(b, "%s_bucket{%s=\"%s\",le=\"%g\"} %lu\n", name,
		    label, value, bounds[i], cum);
	}
	buf_printf(b, "%s_bucket{%s=\"%s\",le=\"+Inf\"} %lu\n", name, label,
	    value, h->count);
	buf_printf(b, "%s_sum{%s=\"%s\"} %.3f\n", name, label, value, h->sum);
	buf_printf(b, "%s_count{%s=\"%s\"} %lu\n", name, label, value,
	    h->count);
}

static void
family(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static char *
render(struct metrics *m)
{
	static const char *const outcomes[] = { "success", "failure",
	    "stopped" };
	struct buf	 b;
	size_t		 s;
	int		 i, o;

	buf_init(&b);
	pthread_mutex_lock(&m->mtx);
	family(&b, "ib_worker_build_info", "gauge",
	    "The worker's version, always 1.");
	buf_printf(&b, "ib_worker_build_info{version=\"%s\"} 1\n", IB_VERSION);
	family(&b, "process_start_time_seconds", "gauge",
	    "Start time of the process since the Unix epoch in seconds.");
	buf_printf(&b, "process_start_time_seconds %.3f\n", m->start_time);
	family(&b, "ib_worker_up", "gauge", "1 while the worker runs.");
	buf_printf(&b, "ib_worker_up 1\n");
	family(&b, "ib_worker_uptime_seconds", "gauge", "Seconds since start.");
	buf_printf(&b, "ib_worker_uptime_seconds %ld\n",
	    (long)(time(NULL) - m->started));
	family(&b, "ib_worker_registered", "gauge",
	    "1 while the worker is registered with the composer.");
	buf_printf(&b, "ib_worker_registered %d\n", m->registered);
	family(&b, "ib_worker_last_contact_timestamp_seconds", "gauge",
	    "When the composer last answered, since the Unix epoch; 0: never.");
	buf_printf(&b, "ib_worker_last_contact_timestamp_seconds %ld\n",
	    (long)m->last_contact);
	family(&b, "ib_worker_state", "gauge",
	    "1 for the state the worker's loop is in, 0 for the others.");
	for (s = 0; s < NSTATES; s++)
		buf_printf(&b, "ib_worker_state{state=\"%s\"} %d\n",
		    state_names[s], (size_t)m->state == s);
	family(&b, "ib_worker_busy", "gauge", "1 while a job runs.");
	buf_printf(&b, "ib_worker_busy %d\n", m->running != NULL);
	family(&b, "ib_worker_running_jobs", "gauge",
	    "Jobs running now, by type.");
	for (i = 0; i < m->nkinds; i++)
		buf_printf(&b, "ib_worker_running_jobs{type=\"%s\"} %d\n",
		    m->kinds[i].name, m->running != NULL &&
		    strcmp(m->running, m->kinds[i].name) == 0);
	family(&b, "ib_worker_jobs_total", "counter",
	    "Jobs finished, by type and outcome.");
	for (i = 0; i < m->nkinds; i++)
		for (o = 0; o < 3; o++)
			buf_printf(&b, "ib_worker_jobs_total{type=\"%s\","
			    "outcome=\"%s\"} %lu\n", m->kinds[i].name,
			    outcomes[o], o == 0 ? m->kinds[i].ok : o == 1 ?
			    m->kinds[i].failed : m->kinds[i].stopped);
	family(&b, "ib_worker_job_duration_seconds", "histogram",
	    "Time from a job's acceptance to its result, by type.");
	for (i = 0; i < m->nkinds; i++)
		hist_render(&b, "ib_worker_job_duration_seconds", "type",
		    m->kinds[i].name, &m->kinds[i].dur, job_buckets,
		    JOB_NBUCKETS);
	family(&b, "ib_worker_uploads_total", "counter",
	    "Uploads to a target, by target and outcome.");
	for (i = 0; i < m->ntargets; i++)
		buf_printf(&b, "ib_worker_uploads_total{target=\"%s\",outcome="
		    "\"success\"} %lu\nib_worker_uploads_total{target=\"%s\","
		    "outcome=\"failure\"} %lu\n", m->targets[i].name,
		    m->targets[i].ok, m->targets[i].name, m->targets[i].failed);
	family(&b, "ib_worker_upload_bytes_total", "counter",
	    "Bytes of the images uploaded, by target.");
	for (i = 0; i < m->ntargets; i++)
		buf_printf(&b, "ib_worker_upload_bytes_total{target=\"%s\"} "
		    "%llu\n", m->targets[i].name,
		    (unsigned long long)m->targets[i].bytes);
	family(&b, "ib_worker_upload_duration_seconds", "histogram",
	    "Time a target took, by target.");
	for (i = 0; i < m->ntargets; i++)
		hist_render(&b, "ib_worker_upload_duration_seconds", "target",
		    m->targets[i].name, &m->targets[i].dur, upload_buckets,
		    UPLOAD_NBUCKETS);
	family(&b, "ib_worker_upload_retries_total", "counter",
	    "Transfers of uploads (S3 parts, Azure pages) tried again, by "
	    "target and by what set the wait: backoff or the server's "
	    "Retry-After.");
	for (i = 0; i < m->ntargets; i++)
		buf_printf(&b, "ib_worker_upload_retries_total{target=\"%s\","
		    "wait=\"backoff\"} %lu\nib_worker_upload_retries_total{"
		    "target=\"%s\",wait=\"retry_after\"} %lu\n",
		    m->targets[i].name, m->targets[i].retry_backoff,
		    m->targets[i].name, m->targets[i].retry_after);
	family(&b, "ib_worker_upload_retry_wait_seconds_total", "counter",
	    "Time transfers of uploads waited before being tried again, by "
	    "target.");
	for (i = 0; i < m->ntargets; i++)
		buf_printf(&b, "ib_worker_upload_retry_wait_seconds_total{"
		    "target=\"%s\"} %.3f\n", m->targets[i].name,
		    m->targets[i].retry_wait);
	if (m->cache_bytes >= 0) {
		family(&b, "ib_worker_cache_bytes", "gauge",
		    "Bytes the cache (osbuild store and metadata) uses.");
		buf_printf(&b, "ib_worker_cache_bytes %lld\n",
		    (long long)m->cache_bytes);
	}
	family(&b, "ib_worker_cache_evictions_total", "counter",
	    "Cache entries evicted to keep within the limits.");
	buf_printf(&b, "ib_worker_cache_evictions_total %llu\n",
	    (unsigned long long)m->cache_evictions);
	family(&b, "ib_worker_cache_evicted_bytes_total", "counter",
	    "Bytes of the cache entries evicted.");
	buf_printf(&b, "ib_worker_cache_evicted_bytes_total %lld\n",
	    (long long)m->cache_evicted_bytes);
	family(&b, "ib_worker_heartbeats_total", "counter",
	    "Job heartbeats by result.");
	buf_printf(&b, "ib_worker_heartbeats_total{result=\"ok\"} %lu\n"
	    "ib_worker_heartbeats_total{result=\"failed\"} %lu\n",
	    m->heartbeats_ok, m->heartbeats_failed);
	family(&b, "ib_worker_composer_errors_total", "counter",
	    "Failed calls to the composer.");
	buf_printf(&b, "ib_worker_composer_errors_total %lu\n",
	    m->composer_errors);
	family(&b, "ib_worker_composer_retries_total", "counter",
	    "Calls to the composer tried again after a failure, by call.");
	for (i = 0; i < m->ncalls; i++)
		buf_printf(&b, "ib_worker_composer_retries_total{call=\"%s\"} "
		    "%lu\n", m->calls[i].name, m->calls[i].retries);
	pthread_mutex_unlock(&m->mtx);
	return buf_release(&b);
}

/* /healthz: 200 when registered, in touch and able to work; else 503. */
static char *
health_body(struct metrics *m, int *ok)
{
	const char	*why = NULL;
	time_t		 now = time(NULL);
	long		 ago;
	char		*body;

	pthread_mutex_lock(&m->mtx);
	ago = m->last_contact ? (long)(now - m->last_contact) : -1;
	if (m->state == MSTATE_UNHEALTHY)
		why = "unhealthy: the cache cannot be cleaned";
	else if (m->state == MSTATE_LEAVING)
		why = "leaving: this machine cannot work";
	else if (m->state == MSTATE_DRAINING)
		why = "draining";
	else if (m->state == MSTATE_GATED)
		why = "gated: no job type can run here now";
	else if (!m->registered)
		why = "not registered with the composer";
	else if (ago < 0 || ago > m->contact_window)
		why = "no answer from the composer";
	*ok = why == NULL;
	body = xasprintf("{\"status\":\"%s\",\"state\":\"%s\",\"registered\":"
	    "%s,\"last_contact_seconds_ago\":%ld%s%s%s}\n", why ? "fail" : "ok",
	    state_names[m->state], m->registered ? "true" : "false", ago,
	    why ? ",\"reason\":\"" : "", why ? why : "", why ? "\"" : "");
	pthread_mutex_unlock(&m->mtx);
	return body;
}

static int
path_is(const char *target, const char *path)
{
	size_t	 n = strlen(path);

	return strncmp(target, path, n) == 0 &&
	    (target[n] == ' ' || target[n] == '?');
}

/* Answers the request read on c (blocking, with a send timeout). */
static void
answer(struct metrics *m, struct conn *c)
{
	struct timeval	 tv = { 1, 0 };
	const char	*status = "200 OK", *ctype = "text/plain; version=0.0.4";
	const char	*target, *extra = "";
	char		*body, *head;
	int		 head_only = 0, get, ok;

	get = strncmp(c->req, "GET ", 4) == 0;
	head_only = strncmp(c->req, "HEAD ", 5) == 0;
	target = strchr(c->req, ' ');
	target = target ? target + 1 : "";
	if (!path_is(target, "/metrics") && !path_is(target, "/healthz")) {
		status = "404 Not Found";
		ctype = "text/plain";
		body = xstrdup("not found\n");
	} else if (!get && !head_only) {
		status = "405 Method Not Allowed";
		ctype = "text/plain";
		extra = "Allow: GET, HEAD\r\n";
		body = xstrdup("method not allowed\n");
	} else if (path_is(target, "/metrics"))
		body = render(m);
	else {
		body = health_body(m, &ok);
		ctype = "application/json";
		if (!ok)
			status = "503 Service Unavailable";
	}
	head = xasprintf("HTTP/1.1 %s\r\nContent-Type: %s\r\n%sContent-Length: "
	    "%zu\r\nConnection: close\r\n\r\n", status, ctype, extra,
	    strlen(body));
	/* A few KiB: the socket buffer takes them, a stuck reader waits 1 s. */
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (write_all(c->fd, head, strlen(head)) == 0 && !head_only)
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
	struct timespec	 ts;
	char		*host, *hp, *port;
	int		 one = 1, rc, i;

	host = xstrdup(listen_addr);
	if ((port = strrchr(host, ':')) == NULL) {
		snprintf(err, errlen, "metrics_listen %s: expected HOST:PORT",
		    listen_addr);
		free(host);
		return NULL;
	}
	*port++ = '\0';
	hp = host;
	if (*hp == '[' && hp[strlen(hp) - 1] == ']') {	/* [::1]:PORT */
		hp[strlen(hp) - 1] = '\0';
		hp++;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(*hp ? hp : NULL, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "metrics_listen %s: %s", listen_addr,
		    gai_strerror(rc));
		free(host);
		return NULL;
	}
	free(host);
	m = xcalloc(1, sizeof(*m));
	pthread_mutex_init(&m->mtx, NULL);
	m->started = time(NULL);
	clock_gettime(CLOCK_REALTIME, &ts);
	m->start_time = ts.tv_sec + ts.tv_nsec / 1e9;
	m->cache_bytes = -1;
	m->contact_window = METRICS_CONTACT_S;
	/* Every type from the start: a series does not appear mid-run. */
	/* A table outgrowing these arrays is a bug the tests must show. */
	for (i = 0; job_kinds[i] != NULL; i++)
		if (kind_of(m, job_kinds[i]->name) == NULL)
			fatalx("metrics: more job kinds than %d",
			    METRICS_MAX_KINDS);
	if (kind_of(m, METRICS_OTHER) == NULL)
		fatalx("metrics: no room for the other kinds' series");
	for (i = 0; target_kinds[i] != NULL; i++)
		if (target_of(m, target_kinds[i]->name) == NULL)
			fatalx("metrics: more targets than %d",
			    METRICS_MAX_TARGETS);
	for (i = 0; metrics_calls[i] != NULL; i++)
		m->calls[m->ncalls++].name = metrics_calls[i];
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
		hist_add(&k->dur, job_buckets, JOB_NBUCKETS, seconds);
	}
	pthread_mutex_unlock(&m->mtx);
}

void
metrics_heartbeat(struct metrics *m, int ok)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mtx);
	if (ok) {
		m->heartbeats_ok++;
		m->last_contact = time(NULL);	/* the composer answered */
	} else
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

void
metrics_upload(struct metrics *m, const char *target, int64_t bytes,
    double seconds, int ok)
{
	struct target_stats	*t;

	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mtx);
	if ((t = target_of(m, target)) != NULL) {
		if (ok) {
			t->ok++;
			t->bytes += bytes > 0 ? (uint64_t)bytes : 0;
		} else
			t->failed++;
		hist_add(&t->dur, upload_buckets, UPLOAD_NBUCKETS, seconds);
	}
	pthread_mutex_unlock(&m->mtx);
}

void
metrics_upload_retries(struct metrics *m, const char *target, int retries,
    int retry_after, int64_t waited_ms)
{
	struct target_stats	*t;

	if (m == NULL || retries < 0 || retry_after < 0 ||
	    retry_after > retries)
		return;
	pthread_mutex_lock(&m->mtx);
	if ((t = target_of(m, target)) != NULL) {
		t->retry_backoff += retries - retry_after;
		t->retry_after += retry_after;
		t->retry_wait += waited_ms > 0 ? waited_ms / 1000.0 : 0;
	}
	pthread_mutex_unlock(&m->mtx);
}

void
metrics_cache(struct metrics *m, int64_t bytes, uint64_t evictions,
    int64_t evicted_bytes)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mtx);
	m->cache_bytes = bytes;
	m->cache_evictions = evictions;
	m->cache_evicted_bytes = evicted_bytes;
	pthread_mutex_unlock(&m->mtx);
}

void
metrics_retry(struct metrics *m, const char *call)
{
	int	 i;

	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mtx);
	for (i = 0; i < m->ncalls; i++)
		if (strcmp(m->calls[i].name, call) == 0)
			break;
	if (i == m->ncalls && m->ncalls < METRICS_MAX_CALLS)
		m->calls[m->ncalls++].name = call;
	if (i < m->ncalls)
		m->calls[i].retries++;
	pthread_mutex_unlock(&m->mtx);
}

void
metrics_contact(struct metrics *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mtx);
	m->last_contact = time(NULL);
	pthread_mutex_unlock(&m->mtx);
}

void
metrics_registered(struct metrics *m, int registered)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mtx);
	m->registered = registered;
	if (registered)
		m->last_contact = time(NULL);
	pthread_mutex_unlock(&m->mtx);
}

void
metrics_state(struct metrics *m, enum metrics_state st)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mtx);
	/* Draining, unhealthy and leaving end the process: the job that
	 * finishes under a drain does not bring back idle or busy. */
	if (m->state < MSTATE_DRAINING || st >= MSTATE_DRAINING)
		m->state = st;
	pthread_mutex_unlock(&m->mtx);
}

void
metrics_contact_window(struct metrics *m, int seconds)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->mtx);
	m->contact_window = seconds;
	pthread_mutex_unlock(&m->mtx);
}
