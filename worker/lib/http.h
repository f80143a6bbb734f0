/*
 * libcurl wrappers: one handle per thread, TLS settings, timeouts, size
 * limits, bodies streamed from and to files. This layer knows HTTP only:
 * nothing of jobs, composers or clouds. Secrets passed in a request
 * (bearer tokens, passwords) are never logged or copied into errors.
 * A request can be signed with AWS SigV4 by libcurl (req->sigv4); such a
 * request carries no header-removal lines ("Expect:", "Content-Type:"):
 * libcurl 7.88 signs them though it does not send them, which AWS rejects.
 * Several requests at once run on http_multi (http_multi.h).
 */
#ifndef IB_HTTP_H
#define IB_HTTP_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "util.h"

struct http_opts {
	const char	*ca_bundle;	/* NULL: the system store */
	const char	*client_cert;	/* mutual TLS, both or neither */
	const char	*client_key;
	int		 insecure;	/* skip peer verification */
	const char	*proxy;
	const char	*unix_socket;	/* plain HTTP over this socket */
	long		 connect_timeout;	/* s, 0: 30 */
	long		 transfer_timeout;	/* s for in-memory calls, 0: none */
	long		 low_speed_time;	/* s without a byte that fail a call, 0: 60 */
	size_t		 max_body;	/* answers larger fail, 0: 64 MiB */
	long		 low_speed_limit;	/* bytes/s below which the
						 * stall time counts, 0: 1 */
	int		 follow_redirects;	/* up to 5, to http(s) only */
	int		 allow_file;	/* file:// URLs too (local reads) */
	int		 decompress;	/* accept and undo gzip, deflate */
	const char	*user_agent;	/* NULL: libcurl's */
};

struct http_req {
	const char		*method;	/* NULL: GET, or POST with a body */
	const char		*url;
	const char *const	*headers;	/* "Name: value", NULL-terminated */
	const char		*content_type;
	const void		*body;		/* in-memory body */
	size_t			 body_len;
	const char		*body_path;	/* or stream this file */
	off_t			 body_off;	/* from here */
	off_t			 body_size;	/* this many bytes, 0: to the end */
	const char		*out_path;	/* stream the answer to this file */
	int64_t			 max_out;	/* its cap in bytes, 0: none */
	/* Called with each piece written to out_path, or NULL. */
	void			(*on_out)(void *, const void *, size_t);
	void			*out_arg;
	const char		*bearer;	/* secret */
	const char		*userpwd;	/* secret, "user:password" */
	int			 negotiate;	/* Kerberos (SPNEGO) auth */
	const char		*sigv4;		/* libcurl signs with userpwd:
						 * "aws:amz:REGION:SERVICE" */
	size_t			 max_body;	/* answer cap, 0: the handle's */
	long			 timeout;	/* s, overrides transfer_timeout; -1 none */
	const atomic_int	*abort;		/* when set, the transfer stops */
	int			 keep_answer;	/* abort only before the answer */
	int			 long_poll;	/* silence is expected: no stall limit */
	/* Called as the body goes out (bytes sent, of total), or NULL. */
	void			(*on_upload)(void *, int64_t, int64_t);
	void			*upload_arg;
};

struct http_resp {
	long		 status;	/* 0 when no answer arrived */
	struct buf	 body;		/* unless out_path was given */
	struct buf	 headers;	/* raw header lines of the final answer */
	char		 error[256];	/* why the transfer failed */
	int		 aborted;	/* stopped by req->abort */
};

/* Copies every string of opts. */
struct http	*http_new(const struct http_opts *);
void		 http_free(struct http *);
/* Applies the handle's TLS, proxy, socket and timeouts to an easy handle. */
void		 http_apply(struct http *, CURL *);

/*
 * Performs one request. Returns 0 when an answer arrived, whatever its
 * status, and -1 when none did (resp->error says why; resp->aborted when
 * req->abort stopped it). The caller frees resp with http_resp_free().
 */
int		 http_do(struct http *, const struct http_req *,
		    struct http_resp *);
void		 http_resp_init(struct http_resp *);
void		 http_resp_free(struct http_resp *);
/* The value of a response header (case-insensitive name), newly
 * allocated, or NULL. */
char		*http_resp_header(const struct http_resp *, const char *);
/* 1 when the media type of the answer is the given one (parameters such
 * as charset ignored). */
int		 http_resp_is(const struct http_resp *, const char *);

/*
 * The wait an answer's Retry-After asks for (the seconds form) in ms, at
 * most cap; dflt when there is none, or 0.
 */
int64_t		 http_retry_after(const struct http_resp *, int64_t dflt,
		    int64_t cap);

/* Percent-encodes s for a path segment or query value; caller frees. */
char		*http_escape(const char *);

#endif
