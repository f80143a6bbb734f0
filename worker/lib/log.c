/*
 * Logging to stderr, one line per event, plain or JSON. The job id set by
 * log_setjob() goes on every line until cleared. Thread-safe: the job
 * heartbeat thread logs too.
 *
 * This file depends on libc only and never allocates: fatalx() is how the
 * allocation helpers report out-of-memory, so a logger that allocated (or
 * called them) would recurse, or take its own mutex twice. A message longer
 * than the line buffer is cut and marked, as ntpd and tmux do.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_MSG_MAX	8192		/* bytes of one message, then "..." */
#define LOG_TRUNC	"..."

static int		 log_debugging;
static enum log_format	 log_fmt = LOG_TEXT;
static char		 log_job[128];
static char		 log_ctx[LOG_F_N][128];
static const char *const log_ctx_names[LOG_F_N] = {
	"job_type", "worker_id", "phase"
};
static pthread_mutex_t	 log_mtx = PTHREAD_MUTEX_INITIALIZER;
/* Under log_mtx: the message, then the line (JSON escapes at most 6x). */
static char		 log_msg[LOG_MSG_MAX];
static char		 log_line[6 * (LOG_MSG_MAX + 256 + sizeof(log_job) +
			    sizeof(log_ctx)) + 1024];

void
log_init(int debug, enum log_format fmt)
{
	log_debugging = debug;
	log_fmt = fmt;
}

void
log_setformat(enum log_format fmt)
{
	log_fmt = fmt;
}

void
log_setjob(const char *job_id)
{
	pthread_mutex_lock(&log_mtx);
	if (job_id == NULL) {
		log_job[0] = '\0';
		log_ctx[LOG_F_JOB_TYPE][0] = '\0';
		log_ctx[LOG_F_PHASE][0] = '\0';
	} else
		snprintf(log_job, sizeof(log_job), "%s", job_id);
	pthread_mutex_unlock(&log_mtx);
}

void
log_setfield(enum log_field f, const char *value)
{
	char	*p;

	if (f < 0 || f >= LOG_F_N)
		return;
	pthread_mutex_lock(&log_mtx);
	snprintf(log_ctx[f], sizeof(log_ctx[f]), "%s", value ? value : "");
	for (p = log_ctx[f]; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	pthread_mutex_unlock(&log_mtx);
}

/* A line being built in log_line; len never passes sizeof(log_line) - 1. */
struct logbuf {
	size_t	 len;
};

static void
lb_put(struct logbuf *lb, const char *s, size_t n)
{
	size_t	 room = sizeof(log_line) - 1 - lb->len;

	if (n > room)
		n = room;
	memcpy(log_line + lb->len, s, n);
	lb->len += n;
}

static void
lb_str(struct logbuf *lb, const char *s)
{
	lb_put(lb, s, strlen(s));
}

/* s as the inside of a JSON string, as json-c writes it. */
static void
lb_json(struct logbuf *lb, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;
	char		 esc[7];

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
		case '"':  lb_put(lb, "\\\"", 2); break;
		case '\\': lb_put(lb, "\\\\", 2); break;
		case '\b': lb_put(lb, "\\b", 2); break;
		case '\f': lb_put(lb, "\\f", 2); break;
		case '\n': lb_put(lb, "\\n", 2); break;
		case '\r': lb_put(lb, "\\r", 2); break;
		case '\t': lb_put(lb, "\\t", 2); break;
		default:
			if (*p < 0x20) {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[*p >> 4];
				esc[5] = hex[*p & 0xf];
				lb_put(lb, esc, 6);
			} else
				lb_put(lb, (const char *)p, 1);
		}
	}
}

/* Writes all of log_line[0..len) to stderr, past short writes and EINTR. */
static void
lb_flush(struct logbuf *lb)
{
	size_t	 off = 0;
	ssize_t	 n;

	log_line[lb->len++] = '\n';
	while (off < lb->len) {
		n = write(STDERR_FILENO, log_line + off, lb->len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
}

/* " key=value" (text) or ",\"key\":value" (JSON) for each number. */
static void
lb_nums(struct logbuf *lb, const struct log_num *nums)
{
	char	 v[32];

	for (; nums != NULL && nums->key != NULL; nums++) {
		snprintf(v, sizeof(v), "%lld", nums->value);
		if (log_fmt == LOG_JSON) {
			lb_str(lb, ",\"");
			lb_json(lb, nums->key);
			lb_str(lb, "\":");
		} else {
			lb_str(lb, " ");
			lb_str(lb, nums->key);
			lb_str(lb, "=");
		}
		lb_str(lb, v);
	}
}

static void
vlog(const char *level, const struct log_num *nums, const char *fmt,
    va_list ap, const char *suffix)
{
	struct logbuf	 lb = { 0 };
	struct timespec	 ts;
	struct tm	 tm;
	char		 when[96], *p;
	int		 n, f, saved = errno;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long)(ts.tv_nsec / 1000000) % 1000);

	pthread_mutex_lock(&log_mtx);
	n = vsnprintf(log_msg, sizeof(log_msg), fmt, ap);
	if (n < 0)
		snprintf(log_msg, sizeof(log_msg), "(unformattable: %s)", fmt);
	else if ((size_t)n >= sizeof(log_msg))
		memcpy(log_msg + sizeof(log_msg) - sizeof(LOG_TRUNC),
		    LOG_TRUNC, sizeof(LOG_TRUNC));
	/* One event, one line: fold any newline a message carries; a text
	 * line carries no other control byte (a terminal's escapes) either,
	 * JSON escapes them. */
	for (p = log_msg; *p; p++)
		if (*p == '\n' || *p == '\r' || (log_fmt == LOG_TEXT &&
		    ((unsigned char)*p < 0x20 || *p == 0x7f)))
			*p = ' ';

	if (log_fmt == LOG_JSON) {
		lb_str(&lb, "{\"time\":\"");
		lb_json(&lb, when);
		lb_str(&lb, "\",\"level\":\"");
		lb_json(&lb, level);
		lb_str(&lb, "\",\"msg\":\"");
		lb_json(&lb, log_msg);
		if (suffix != NULL) {
			lb_str(&lb, ": ");
			lb_json(&lb, suffix);
		}
		lb_str(&lb, "\"");
		if (log_job[0] != '\0') {
			lb_str(&lb, ",\"job_id\":\"");
			lb_json(&lb, log_job);
			lb_str(&lb, "\"");
		}
		for (f = 0; f < LOG_F_N; f++) {
			if (log_ctx[f][0] == '\0')
				continue;
			lb_str(&lb, ",\"");
			lb_str(&lb, log_ctx_names[f]);
			lb_str(&lb, "\":\"");
			lb_json(&lb, log_ctx[f]);
			lb_str(&lb, "\"");
		}
		lb_nums(&lb, nums);
		lb_str(&lb, "}");
	} else {
		lb_str(&lb, when);
		lb_str(&lb, " ");
		lb_str(&lb, level);
		lb_str(&lb, " ");
		lb_str(&lb, log_msg);
		if (suffix != NULL) {
			lb_str(&lb, ": ");
			lb_str(&lb, suffix);
		}
		lb_nums(&lb, nums);
		if (log_job[0] != '\0') {
			lb_str(&lb, " job_id=");
			lb_str(&lb, log_job);
		}
	}
	/* Output on stdio before us (progress lines) must come first. */
	fflush(stderr);
	lb_flush(&lb);
	pthread_mutex_unlock(&log_mtx);
	errno = saved;
}

#define LOGFN(name, level, cond)				\
void								\
name(const char *fmt, ...)					\
{								\
	va_list	 ap;						\
								\
	if (!(cond))						\
		return;						\
	va_start(ap, fmt);					\
	vlog(level, NULL, fmt, ap, NULL);				\
	va_end(ap);						\
}

LOGFN(log_debug, "debug", log_debugging)
LOGFN(log_info, "info", 1)
LOGFN(log_warnx, "warning", 1)
LOGFN(log_errx, "error", 1)

void
log_info_n(const struct log_num *nums, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog("info", nums, fmt, ap, NULL);
	va_end(ap);
}

void
log_warnx_n(const struct log_num *nums, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog("warning", nums, fmt, ap, NULL);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	char	 err[128];

	snprintf(err, sizeof(err), "%s", strerror(errno));
	va_start(ap, fmt);
	vlog("warning", NULL, fmt, ap, err);
	va_end(ap);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog("fatal", NULL, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	char	 err[128];

	snprintf(err, sizeof(err), "%s", strerror(errno));
	va_start(ap, fmt);
	vlog("fatal", NULL, fmt, ap, err);
	va_end(ap);
	exit(1);
}
