/*
 * The S3 client's state and its request helpers, shared by s3.c (the
 * client, single requests) and s3_multipart.c. Not for other modules.
 */
#ifndef IB_S3_PRIV_H
#define IB_S3_PRIV_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "aws.h"
#include "http.h"
#include "http_multi.h"
#include "s3.h"

struct s3 {
	struct http		*http;
	char			*scheme;	/* "https" or "http" */
	char			*authority;	/* host[:port] of the endpoint */
	char			*prefix;	/* path of the endpoint, "" */
	char			*region;
	char			*bucket;
	char			*sigv4;		/* libcurl's provider string */
	int			 path_style;
	int			 public_read;
	struct aws_creds	 creds;
	int64_t			 part_size;
	int			 parallel;
	int64_t			 multipart_min;
	int64_t			 max_size;
	int			 tries;
	int64_t			 backoff_base;
	int64_t			 backoff_cap;
	const atomic_int	*abort;
	struct http_progress	 progress;	/* fn NULL: none */

	char			 err[1024];
	char			 code[64];
	long			 status;
	int			 aborted;
	struct s3_stats		 stats;
};

/* One S3 request, for s3_call(). */
struct call {
	const char	*op;		/* for messages: "PUT", ... */
	const char	*method;
	const char	*key;
	const char	*query;
	const char	*body;		/* in memory, or */
	size_t		 body_len;
	const char	*file;		/* from this file */
	off_t		 off;
	off_t		 size;
	const char	*content_type;
	int		 acl;
	int		 progress;	/* the file's bytes to s->progress */
};

/* Status codes and S3 codes worth another try. */
int	 s3_retryable(long status, const char *code);
/* "S3 op key: why" of a failed answer into s->err, s->code, s->status. */
void	 s3_set_error(struct s3 *, const char *op, const char *key,
	    const struct http_resp *);
/* The object's URL with query (may be NULL); caller frees. */
char	*s3_url(const struct s3 *, const char *key, const char *query);
/*
 * The header lines every request carries into h (at least 4 slots, NULL
 * after the last), *n of them; each allocated, the token one a secret.
 */
void	 s3_base_headers(const struct s3 *, const char *payload_hash, int acl,
	    char **h, size_t *n);
/*
 * One request with retries. 0 on a 2xx answer that is not an S3 error
 * document, -1 otherwise (s->err set). resp holds the last answer.
 */
int	 s3_call(struct s3 *, const struct call *, struct http_resp *);
/* A file of size bytes as a multipart upload to key (s3_multipart.c). */
int	 s3_put_multipart(struct s3 *, const char *key, const char *path,
	    off_t size);

#endif
