/*
 * An S3 client on libcurl: SigV4 signing by libcurl, objects uploaded from
 * files without holding them in memory (one PUT, or a multipart upload
 * whose parts run in parallel on one curl multi handle), retries with
 * backoff, presigned GET URLs. Works with AWS and S3-compatible servers
 * (custom endpoint, path-style addressing, private CA).
 */
#ifndef IB_S3_H
#define IB_S3_H

#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "aws.h"

#define S3_MIN_PART	(5LL * 1024 * 1024)
#define S3_MAX_PARTS	10000
#define S3_MAX_OBJECT	(5LL * 1024 * 1024 * 1024 * 1024)
#define S3_PRESIGN_MAX	604800		/* 7 days, SigV4's limit */

struct s3_cfg {
	const char		*endpoint;	/* NULL/"": AWS for region */
	const char		*region;	/* NULL/"": us-east-1 */
	const char		*bucket;
	const char		*ca_bundle;
	int			 insecure;
	int			 path_style;	/* 1 path, -1 virtual host, 0: path
						   style for custom endpoints */
	int			 public_read;	/* x-amz-acl: public-read */
	const struct aws_creds	*creds;		/* copied */
	int64_t			 part_size;	/* 0: 64 MiB */
	int			 parallel;	/* parts in flight, 0: 4 */
	int64_t			 multipart_min;	/* 0: part_size; smaller: one PUT */
	int64_t			 max_size;	/* refuse larger files, 0: 5 TiB */
	int			 tries;		/* per request, 0: 6 */
	int64_t			 backoff_base;	/* ms, 0: 500 */
	int64_t			 backoff_cap;	/* ms, 0: 20000 */
	long			 connect_timeout;
	const atomic_int	*abort;
};

struct s3;

/* NULL with a reason in err when the settings are unusable. */
struct s3	*s3_new(const struct s3_cfg *, char *err, size_t errlen);
void		 s3_free(struct s3 *);

/*
 * After a failure: the reason (the S3 error code and message when S3 gave
 * one, never a secret), the S3 code ("" when none) and the HTTP status (0:
 * no answer). s3_aborted() tells a cancellation from a failure.
 */
const char	*s3_error(const struct s3 *);
const char	*s3_error_code(const struct s3 *);
long		 s3_error_status(const struct s3 *);
int		 s3_aborted(const struct s3 *);
/* Clean-up after a cancellation runs with no abort flag. */
void		 s3_set_abort(struct s3 *, const atomic_int *);
/* Where a multipart upload says how far it is (copied; NULL: nowhere). */
struct http_progress;
void		 s3_set_progress(struct s3 *, const struct http_progress *);

/* An object key we accept: 1..1024 bytes, no control characters, no
 * "." or ".." segment, no leading '/'. */
int		 s3_key_ok(const char *);

/* Uploads path as key; multipart when the file is large. */
int		 s3_put_file(struct s3 *, const char *key, const char *path);
int		 s3_delete(struct s3 *, const char *key);
/* *size of the object; returns 1 when it does not exist. */
int		 s3_head(struct s3 *, const char *key, int64_t *size);

/* The object's plain URL (public objects); caller frees. */
char		*s3_object_url(const struct s3 *, const char *key);
/* A presigned GET of key valid for expires s from now; caller frees. */
char		*s3_presign_get(const struct s3 *, const char *key,
		    long expires, time_t now);

/* Statistics of the last s3_put_file, for logs and benchmarks. */
struct s3_stats {
	int	 parts;
	int	 retries;
	int	 max_inflight;
	/* Of the parts (http_multi): attempts again, how many of them
	 * waited as Retry-After asked, and the time they waited. */
	int	 part_retries;
	int	 retry_after;
	int64_t	 retry_wait_ms;
};
const struct s3_stats *s3_stats(const struct s3 *);

#endif
