/*
 * One line per event, to stderr: plain text or JSON lines. Lines about a
 * job carry job_id=. Nothing here ever receives a secret: callers pass
 * names and ids, never tokens, keys or passwords.
 */
#ifndef IB_LOG_H
#define IB_LOG_H

#include <stdarg.h>

enum log_format { LOG_TEXT, LOG_JSON };

void	log_init(int debug, enum log_format);
void	log_setformat(enum log_format);
/* The job the following lines are about (NULL: none). Copied. */
void	log_setjob(const char *job_id);

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
