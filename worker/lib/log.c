/*
 * Logging to stderr, one line per event, plain or JSON. The job id set by
 * log_setjob() goes on every line until cleared. Thread-safe: the job
 * heartbeat thread logs too.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "log.h"
#include "util.h"

static int		 log_debugging;
static enum log_format	 log_fmt = LOG_TEXT;
static char		 log_job[128];
static pthread_mutex_t	 log_mtx = PTHREAD_MUTEX_INITIALIZER;

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
	if (job_id == NULL)
		log_job[0] = '\0';
	else
		snprintf(log_job, sizeof(log_job), "%s", job_id);
	pthread_mutex_unlock(&log_mtx);
}

static void
vlog(const char *level, const char *fmt, va_list ap, const char *suffix)
{
	struct timespec	 ts;
	struct tm	 tm;
	char		 when[96], *msg, *p;

	msg = xvasprintf(fmt, ap);
	/* One event, one line: fold any newline a message carries. */
	for (p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (long)(ts.tv_nsec / 1000000) % 1000);

	pthread_mutex_lock(&log_mtx);
	if (log_fmt == LOG_JSON) {
		json_object	*o = json_object_new_object();
		char		*full;

		full = xasprintf("%s%s%s", msg, suffix ? ": " : "",
		    suffix ? suffix : "");
		json_object_object_add(o, "time", json_object_new_string(when));
		json_object_object_add(o, "level",
		    json_object_new_string(level));
		json_object_object_add(o, "msg", json_object_new_string(full));
		if (log_job[0] != '\0')
			json_object_object_add(o, "job_id",
			    json_object_new_string(log_job));
		fprintf(stderr, "%s\n", json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
		free(full);
	} else {
		fprintf(stderr, "%s %s %s%s%s%s%s\n", when, level, msg,
		    suffix ? ": " : "", suffix ? suffix : "",
		    log_job[0] ? " job_id=" : "", log_job);
	}
	fflush(stderr);
	pthread_mutex_unlock(&log_mtx);
	free(msg);
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
	vlog(level, fmt, ap, NULL);				\
	va_end(ap);						\
}

LOGFN(log_debug, "debug", log_debugging)
LOGFN(log_info, "info", 1)
LOGFN(log_warnx, "warning", 1)

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	char	 err[128];

	snprintf(err, sizeof(err), "%s", strerror(errno));
	va_start(ap, fmt);
	vlog("warning", fmt, ap, err);
	va_end(ap);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog("fatal", fmt, ap, NULL);
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
	vlog("fatal", fmt, ap, err);
	va_end(ap);
	exit(1);
}
