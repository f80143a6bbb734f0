/*
 * ib-logship: ships the journal of the worker units (names starting with
 * "ib-") to a CloudWatch Logs log group, one stream per instance. A cursor
 * on disk, written after each accepted batch, makes a restart resume where
 * the last one stopped: nothing is sent twice or lost. Settings come from
 * the environment only (README, "Logs"); SIGTERM ships what is left within
 * FLUSH_MS, then exits 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "aws.h"
#include "aws_imds.h"
#include "cli.h"
#include "cwl.h"
#include "event.h"
#include "http.h"
#include "journal.h"
#include "log.h"
#include "util.h"

#define SELF_UNIT	"ib-logship.service"
#define STATE_DEFAULT	"/var/lib/ib-worker/logship.cursor"
#define CURSOR_MAX	4096
#define FLUSH_MS	20000		/* SIGTERM: ship what is left this long */
#define CALL_TIMEOUT	30		/* s */
#define BACKOFF_MIN_MS	500
#define BACKOFF_MAX_MS	30000
#define SLOW_MS		60000		/* refused credentials, no log group */
#define CREDS_TTL_MS	(4 * 60 * 1000)	/* the role's keys rotate */

static atomic_int	 quit;	/* lock-free: safe to set in a handler */

struct ship {
	struct http		*h;
	struct jr		*jr;
	struct cwl		 cwl;
	struct aws_creds	 creds;
	int			 have_creds;
	int64_t			 creds_at;
	int			 stream_ok;
	const char		*state;		/* the cursor file */
	char			*saved;		/* the cursor in it */
	int64_t			 saved_at;
	struct batch		 b;
	struct event		 carry;		/* read, not in a batch yet */
	int			 have_carry;
	int64_t			 interval_ms;
	int64_t			 last_send;
	int			 flushing;
	int64_t			 deadline;
	unsigned long long	 shipped, dropped;
};

static const char *
env(const char *name)
{
	const char	*v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* Starts the final flush once SIGTERM came. */
static void
check_quit(struct ship *s)
{
	if (quit && !s->flushing) {
		s->flushing = 1;
		s->deadline = now_ms() + FLUSH_MS;
		log_info("stopping: shipping what is left (at most %d s)",
		    FLUSH_MS / 1000);
	}
}

static int
out_of_time(struct ship *s)
{
	check_quit(s);
	return s->flushing && now_ms() >= s->deadline;
}

/* Sleeps ms; shorter when SIGTERM comes or the flush runs out of time. */
static void
nap(struct ship *s, int64_t ms)
{
	int64_t	 end = now_ms() + ms;
	int	 was = s->flushing;

	while (now_ms() < end) {
		if (out_of_time(s) || s->flushing != was)
			return;
		sleep_abortable(end - now_ms() < 100 ? end - now_ms() : 100,
		    NULL);
	}
}

/* Exponential, with jitter in [d/2, d], bounded. */
static int64_t
backoff(int attempt)
{
	int64_t	 d = BACKOFF_MIN_MS;

	while (attempt-- > 0 && d < BACKOFF_MAX_MS)
		d *= 2;
	if (d > BACKOFF_MAX_MS)
		d = BACKOFF_MAX_MS;
	return d / 2 + random() % (d / 2 + 1);
}

static long
call_timeout(struct ship *s)
{
	int64_t	 left;

	if (!s->flushing)
		return CALL_TIMEOUT;
	left = (s->deadline - now_ms()) / 1000;
	return left < 1 ? 1 : left > CALL_TIMEOUT ? CALL_TIMEOUT : left;
}

static void
save_cursor(struct ship *s, const char *cursor)
{
	char	*line;

	if (cursor == NULL || (s->saved && strcmp(s->saved, cursor) == 0))
		return;
	line = xasprintf("%s\n", cursor);
	if (write_file_atomic(s->state, line, strlen(line), 0600) == -1)
		log_warn("cannot save the journal cursor to %s", s->state);
	else {
		free(s->saved);
		s->saved = xstrdup(cursor);
		s->saved_at = now_ms();
	}
	free(line);
}

/* The saved cursor, or NULL (none yet, or a file that holds no cursor). */
static char *
load_cursor(const char *path)
{
	char	*c;
	size_t	 len, i;

	if ((c = read_file(path, CURSOR_MAX, &len)) == NULL) {
		if (errno != ENOENT)
			log_warn("cannot read the journal cursor %s", path);
		return NULL;
	}
	rtrim(c);
	for (i = 0; c[i] != '\0'; i++)
		if (c[i] < 0x21 || c[i] >= 0x7f)
			break;
	if (i == 0 || c[i] != '\0') {
		log_warnx("%s holds no journal cursor: starting at the "
		    "beginning of this boot", path);
		free(c);
		return NULL;
	}
	return c;
}

static int
creds_get(struct ship *s)
{
	const char	*ak = env("AWS_ACCESS_KEY_ID");
	const char	*sk = env("AWS_SECRET_ACCESS_KEY");
	char		 err[512];
	int		 rc;

	if (s->have_creds && (ak != NULL ||
	    now_ms() - s->creds_at < CREDS_TTL_MS))
		return 0;
	aws_creds_clear(&s->creds);
	s->have_creds = 0;
	if (ak != NULL && sk != NULL)
		rc = aws_creds_from_keys(ak, sk, getenv("AWS_SESSION_TOKEN"),
		    "environment", &s->creds);
	else
		rc = aws_creds_from_imds(s->h, &s->creds, err, sizeof(err));
	if (rc == -1) {
		log_warnx("no AWS credentials: %s", ak != NULL ?
		    "AWS_ACCESS_KEY_ID without AWS_SECRET_ACCESS_KEY, or keys "
		    "with spaces or control characters" : err);
		return -1;
	}
	s->have_creds = 1;
	s->creds_at = now_ms();
	return 0;
}

/*
 * Handles one refusal of class rc for attempt; returns 1 when the caller
 * should give up on these events (refused for good).
 */
static int
on_failure(struct ship *s, enum cwl_rc rc, const char *why, int attempt)
{
	int64_t	 d;

	switch (rc) {
	case CWL_OK:
		return 0;
	case CWL_REFUSED:
		return 1;
	case CWL_NO_STREAM:
		s->stream_ok = 0;
		if (attempt == 0)
			return 0;
		d = backoff(attempt);
		break;
	case CWL_NO_GROUP:
		s->stream_ok = 0;
		d = SLOW_MS;
		log_warnx("%s: the log group %s does not exist (the fleet "
		    "module creates it); trying again in %lld s", why,
		    s->cwl.group, (long long)d / 1000);
		nap(s, d);
		return 0;
	case CWL_AUTH:
		/* Perhaps rotated keys: fetched again next time. */
		s->have_creds = 0;
		d = SLOW_MS;
		log_warnx("%s: the credentials (%s) were refused or lack "
		    "logs:CreateLogStream/logs:PutLogEvents on %s; trying "
		    "again in %lld s", why, s->creds.source ? s->creds.source :
		    "?", s->cwl.group, (long long)d / 1000);
		nap(s, d);
		return 0;
	case CWL_RETRY:
	default:
		d = backoff(attempt);
		break;
	}
	log_warnx("%s; trying again in %lld ms", why, (long long)d);
	nap(s, d);
	return 0;
}

/*
 * Sends ev[0..n) until accepted: 0 accepted, 1 refused for good, -1 out
 * of time (SIGTERM's bound).
 */
static int
send_events(struct ship *s, const struct event *ev, size_t n)
{
	char		 why[512];
	enum cwl_rc	 rc;
	int		 attempt;

	for (attempt = 0;; attempt++) {
		if (out_of_time(s))
			return -1;
		if (creds_get(s) == -1) {
			nap(s, backoff(attempt));
			continue;
		}
		if (!s->stream_ok) {
			rc = cwl_create_stream(&s->cwl, &s->creds,
			    call_timeout(s), why, sizeof(why));
			if (rc == CWL_OK) {
				s->stream_ok = 1;
				log_info("shipping to log group %s, stream %s",
				    s->cwl.group, s->cwl.stream);
			} else {
				/* A stream refused for good cannot be fixed
				 * here either: slowly again. */
				if (rc == CWL_REFUSED) {
					log_warnx("%s", why);
					nap(s, SLOW_MS);
				} else
					on_failure(s, rc, why, attempt);
				continue;
			}
		}
		rc = cwl_put(&s->cwl, &s->creds, ev, n, call_timeout(s), why,
		    sizeof(why));
		if (rc == CWL_OK) {
			s->last_send = now_ms();
			s->shipped += n;
			log_debug("shipped %zu events", n);
			return 0;
		}
		if (on_failure(s, rc, why, attempt)) {
			log_warnx("%s", why);
			return 1;
		}
	}
}

/*
 * Ships ev[lo..hi), halving what CloudWatch refuses for good until the
 * event it refuses is found; that one is logged and skipped. The cursor
 * follows each accepted or skipped part. 0, or -1 when out of time.
 */
static int
ship_range(struct ship *s, size_t lo, size_t hi)
{
	size_t	 mid;
	int	 rc;

	if ((rc = send_events(s, s->b.ev + lo, hi - lo)) == -1)
		return -1;
	if (rc == 1 && hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (ship_range(s, lo, mid) == -1)
			return -1;
		return ship_range(s, mid, hi);
	}
	if (rc == 1) {
		log_warnx("skipped a log event of %zu bytes at %lld ms that "
		    "CloudWatch Logs refuses", s->b.ev[lo].len,
		    (long long)s->b.ev[lo].ts);
		s->dropped++;
	}
	save_cursor(s, s->b.ev[hi - 1].cursor);
	return 0;
}

/* Whether CloudWatch would take an event this old or this new now. */
static int
ts_ok(const struct event *ev)
{
	struct timespec	 t;
	int64_t		 now;

	/*
	 * In milliseconds, as CloudWatch judges: whole seconds let an event
	 * up to a second past the 14-day edge through, to be refused.
	 */
	clock_gettime(CLOCK_REALTIME, &t);
	now = (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
	return ev->ts >= now - 14LL * 24 * 3600 * 1000 &&
	    ev->ts <= now + 2LL * 3600 * 1000;
}

/*
 * Fills the batch from the journal: 1 when the journal has nothing more
 * now, 0 when the batch is full, -1 on a journal error.
 */
static int
fill(struct ship *s)
{
	struct event	 ev;
	int		 rc;

	for (;;) {
		if (s->have_carry) {
			ev = s->carry;
			s->have_carry = 0;
		} else if ((rc = jr_next(s->jr, &ev)) <= 0)
			return rc == 0 ? 1 : -1;
		if (!ts_ok(&ev)) {
			log_warnx("skipped a log event at %lld ms: CloudWatch "
			    "Logs takes none older than 14 days or more than "
			    "2 h ahead", (long long)ev.ts);
			s->dropped++;
			event_clear(&ev);
			continue;
		}
		if (batch_add(&s->b, &ev) == -1) {
			s->carry = ev;
			s->have_carry = 1;
			return 0;
		}
	}
}

/*
 * What IMDS gives at boot may come late: asks again (bounded pauses)
 * until it answers or SIGTERM comes. NULL only then.
 */
static char *
from_imds(struct ship *s, const char *what,
    char *(*get)(struct http *, char *, size_t))
{
	char	 err[512], *v;
	int	 attempt;

	for (attempt = 0; !quit; attempt++) {
		if ((v = get(s->h, err, sizeof(err))) != NULL)
			return v;
		log_warnx("no %s from the instance metadata yet: %s", what,
		    err);
		sleep_abortable(backoff(attempt), &quit);
	}
	return NULL;
}

static int
run(struct ship *s)
{
	char	*cursor;
	int	 rc, more;

	cursor = load_cursor(s->state);
	rc = jr_seek(s->jr, cursor);
	free(cursor);
	if (rc == -1)
		return 1;
	for (;;) {
		if (out_of_time(s))
			break;
		if ((more = fill(s)) == -1)
			return 1;
		if (s->b.n > 0 && (more == 0 || s->flushing ||
		    now_ms() - s->last_send >= s->interval_ms)) {
			if (ship_range(s, 0, s->b.n) == -1)
				break;
			batch_drop(&s->b, s->b.n);
			continue;
		}
		if (s->b.n == 0 && !s->have_carry) {
			/* Entries of other units read since: no need to
			 * read them again after a restart. */
			if (s->flushing || now_ms() - s->saved_at >=
			    s->interval_ms)
				save_cursor(s, jr_cursor(s->jr));
			if (s->flushing)
				break;
		}
		jr_wait(s->jr, s->flushing ? 50 : 500);
	}
	if (s->b.n > 0 || s->have_carry)
		log_warnx("stopped with %zu events not shipped yet: the next "
		    "start ships them", s->b.n + (size_t)s->have_carry);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct ship		 s;
	struct http_opts	 ho;
	const char		*group, *v;
	char			*region = NULL, *stream = NULL, *url = NULL;
	char			*dir = NULL, *end;
	int			 rv = 1;

	log_init(0, LOG_TEXT);
	if (argc > 1) {
		fprintf(stderr, "usage: ib-logship (settings come from the "
		    "environment: IB_LOG_GROUP, IB_AWS_REGION, "
		    "IB_LOGS_ENDPOINT, IB_LOG_STREAM, IB_LOGSHIP_STATE)\n");
		return 2;
	}
	if ((group = env("IB_LOG_GROUP")) == NULL) {
		log_info("IB_LOG_GROUP is not set: log shipping is off");
		return 0;
	}
	if (!cwl_group_ok(group)) {
		log_warnx("IB_LOG_GROUP is not a log group name (1 to 512 of "
		    "A-Z a-z 0-9 . _ / # -)");
		return 2;
	}
	memset(&s, 0, sizeof(s));
	batch_init(&s.b);
	s.state = env("IB_LOGSHIP_STATE") ? env("IB_LOGSHIP_STATE") :
	    STATE_DEFAULT;
	s.interval_ms = 5000;
	if ((v = env("IB_LOGSHIP_INTERVAL")) != NULL) {
		s.interval_ms = strtol(v, &end, 10) * 1000;
		if (*end != '\0' || s.interval_ms < 1000 ||
		    s.interval_ms > 300000) {
			log_warnx("IB_LOGSHIP_INTERVAL takes 1 to 300 seconds");
			return 2;
		}
	}
	if ((v = env("IB_LOGS_ENDPOINT")) != NULL &&
	    strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0) {
		log_warnx("IB_LOGS_ENDPOINT is not an http(s) URL");
		return 2;
	}
	if ((v = env("IB_AWS_REGION")) != NULL && !aws_region_ok(v)) {
		log_warnx("IB_AWS_REGION is not a region name");
		return 2;
	}
	if ((v = env("IB_LOG_STREAM")) != NULL && !cwl_stream_ok(v)) {
		log_warnx("IB_LOG_STREAM is not a log stream name (1 to 512 "
		    "printable characters, no ':' or '*')");
		return 2;
	}

	cli_quit_on_signals(&quit);
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatalx("curl_global_init failed");
	memset(&ho, 0, sizeof(ho));
	ho.connect_timeout = 10;
	ho.transfer_timeout = CALL_TIMEOUT;
	ho.max_body = 1024 * 1024;
	s.h = http_new(&ho);

	if (env("IB_JOURNAL_DIR") != NULL)
		dir = xstrdup(env("IB_JOURNAL_DIR"));
	if ((s.jr = jr_open(dir, SELF_UNIT)) == NULL)
		goto cleanup;
	/* The cursor's folder: the unit's StateDirectory, or a test's. */
	end = xstrdup(s.state);
	if (strrchr(end, '/') != NULL && strrchr(end, '/') != end) {
		*strrchr(end, '/') = '\0';
		if (mkdir_p(end, 0755) == -1)
			log_warn("cannot create %s", end);
	}
	free(end);

	if ((v = env("IB_AWS_REGION")) != NULL)
		region = xstrdup(v);
	else if ((region = from_imds(&s, "region", aws_imds_region)) == NULL) {
		rv = 0;
		goto cleanup;
	}
	if ((v = env("IB_LOG_STREAM")) != NULL)
		stream = xstrdup(v);
	else if ((stream = from_imds(&s, "instance id",
	    aws_imds_instance_id)) == NULL) {
		rv = 0;
		goto cleanup;
	}
	url = env("IB_LOGS_ENDPOINT") ? xstrdup(env("IB_LOGS_ENDPOINT")) :
	    xasprintf("https://logs.%s.amazonaws.com/", region);
	s.cwl.h = s.h;
	s.cwl.url = url;
	s.cwl.region = region;
	s.cwl.group = group;
	s.cwl.stream = stream;
	log_info("log group %s, stream %s, region %s, cursor in %s", group,
	    stream, region, s.state);

	rv = run(&s);
	log_info("%llu events shipped, %llu skipped", s.shipped, s.dropped);
cleanup:
	if (s.have_carry)
		event_clear(&s.carry);
	batch_free(&s.b);
	aws_creds_clear(&s.creds);
	jr_close(s.jr);
	http_free(s.h);
	curl_global_cleanup();
	free(s.saved);
	free(region);
	free(stream);
	free(url);
	free(dir);
	return rv;
}
