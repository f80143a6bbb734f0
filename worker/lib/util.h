/*
 * Small helpers every module uses: allocation that cannot fail, growable
 * buffers, string and path checks for names that come from outside.
 */
#ifndef IB_UTIL_H
#define IB_UTIL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation: these abort with a message on exhaustion, never return NULL. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
/* Returns a newly allocated formatted string; caller frees. */
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));
char	*xvasprintf(const char *, va_list);

/* Overwrite then free: for buffers that held secrets. Accepts NULL. */
void	 freezero_str(char *);

/* A growable byte buffer, always NUL-terminated. */
struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};
void	 buf_init(struct buf *);
void	 buf_add(struct buf *, const void *, size_t);
void	 buf_addstr(struct buf *, const char *);
void	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_reset(struct buf *);
/* Hands the data to the caller (who frees it) and empties the buffer. */
char	*buf_release(struct buf *);
void	 buf_free(struct buf *);

/*
 * A name from a job (export, file, image name) that may become one path
 * component: non-empty, at most 255 bytes, no '/', not "." or "..", no
 * control characters. Returns 1 when safe, 0 otherwise.
 */
int	 name_is_safe(const char *);
/*
 * 1 when s is 1..max bytes of printable ASCII (0x20-0x7e): what may go
 * into a form field, a query or a metric label as it is.
 */
int	 text_is_printable(const char *s, size_t max);

/* The length of a URL's scheme://host[:port] part, 0 when it has none. */
size_t	 url_origin_len(const char *url);
/*
 * The host of a scheme://host[:port]/... URL, without port; NULL when url
 * is NULL, has no "://", carries userinfo, an IPv6 literal, or a host that
 * is empty or not printable ASCII (at most 253 bytes). Caller frees.
 */
char	*url_host(const char *url);
/*
 * 1 when url is under base: the same origin (case-insensitive) and a path
 * that starts with base's path, as [repository_mtls] baseurl matches.
 */
int	 url_under(const char *url, const char *base);

/*
 * A copy of url fit for a log line or an error message: the userinfo
 * ("user:password@") becomes "<redacted>@", a query string "?<redacted>",
 * a fragment "#<redacted>", also for a URL nested in the path; control
 * characters and bytes >= 0x7f become '_' (so the first '?' or '#' always
 * starts the redacted part); about URL_REDACT_MAX bytes are kept ("..."
 * marks a cut). Without "://" before the path, anything up to an '@'
 * before the first '/' counts as userinfo. NULL gives "(none)". Caller
 * frees.
 */
#define URL_REDACT_MAX	1024
char	*url_redact(const char *url);
/*
 * A copy of free text (an error from a server or a helper program) with
 * every scheme://... URL in it redacted as url_redact does; a URL ends at
 * white space, a quote, '<', '>' or a control character. Caller frees.
 */
char	*text_redact_urls(const char *text);

/* Reads a whole small file (at most max bytes); caller frees. NULL + errno. */
char	*read_file(const char *, size_t max, size_t *lenp);
/* Writes all of data to fd (retrying short writes and EINTR); 0 or -1. */
int	 write_all(int fd, const void *, size_t);
/* Whether name runs: a path that is executable, or a name found in PATH. */
int	 exec_runnable(const char *name);
/* Writes data to path atomically (temp file, fsync, rename) with mode. */
int	 write_file_atomic(const char *, const void *, size_t, int mode);
/* rm -rf; returns 0 when path is gone (or was never there). */
int	 remove_tree(const char *);
/* mkdir -p with mode. */
int	 mkdir_p(const char *, int mode);

/* Base64 (standard alphabet, padded); caller frees. */
char	*base64_encode(const void *, size_t);
/*
 * The bytes of padded standard base64 (no whitespace), NUL-terminated
 * after *lenp bytes; caller frees. NULL when s is empty or not that.
 */
char	*base64_decode(const char *s, size_t *lenp);

/* Monotonic milliseconds, wall-clock seconds. */
int64_t	 now_ms(void);
/*
 * Sleeps ms in slices of at most 100 ms; returns -1 as soon as *abort is
 * set (abort may be NULL), 0 after the whole time.
 */
int	 sleep_abortable(int64_t ms, const atomic_int *abort);

/* Strips trailing whitespace in place and returns s. */
char	*rtrim(char *);

#endif
