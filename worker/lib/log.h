/*
 * One line per event, to stderr: plain text or JSON lines. Lines about a
 * job carry job_id=; JSON lines also carry the context set with
 * log_setfield (job_type, worker_id, phase) and the numbers given to the
 * _n functions (duration_ms, bytes, error_code) as fields of their own.
 * Nothing here ever receives a secret: callers pass names and ids, never
 * tokens, keys or passwords.
 */
#ifndef IB_LOG_H
#define IB_LOG_H

#include <stdarg.h>

enum log_format { LOG_TEXT, LOG_JSON };

void	log_init(int debug, enum log_format);
void	log_setformat(enum log_format);
/* The job the following lines are about (NULL: none, and clears the
 * job's fields: job_type and phase). Copied. */
void	log_setjob(const char *job_id);

/* Context carried by the JSON lines that follow until set again. */
enum log_field {
	LOG_F_JOB_TYPE,
	LOG_F_WORKER_ID,
	LOG_F_PHASE,		/* "build", "upload", "result" ... */
	LOG_F_N
};
/* value NULL clears; copied, cut at 127 bytes, control bytes as '?'. */
void	log_setfield(enum log_field, const char *value);

/* A number for one line; key a literal identifier; a list ends at NULL. */
struct log_num {
	const char	*key;
	long long	 value;
};
void	log_info_n(const struct log_num *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	log_warnx_n(const struct log_num *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* An error the worker cannot go on with (level "error"); no exit. */
void	log_errx(const char *, ...) __attribute__((format(printf, 1, 2)));

void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Like log_warnx with ": strerror(errno)" appended. */
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
