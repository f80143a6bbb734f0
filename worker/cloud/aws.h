/*
 * What the AWS clients share: the credentials chain (job options, a
 * shared-credentials file, the instance role through IMDSv2: aws_creds.c),
 * SigV4 primitives for presigning and the Query API (aws.c). XML answers:
 * xml.h. Secrets live only in struct aws_creds and are zeroed when freed.
 */
#ifndef IB_AWS_H
#define IB_AWS_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct http;

struct aws_creds {
	char	*access_key;
	char	*secret_key;	/* secret */
	char	*token;		/* secret, NULL when none */
	char	*source;	/* where they came from, for logs */
};

void	 aws_creds_clear(struct aws_creds *);
void	 aws_creds_copy(struct aws_creds *, const struct aws_creds *);

/*
 * Reads [profile] (NULL: "default") of a shared-credentials file:
 * aws_access_key_id, aws_secret_access_key, aws_session_token. Returns 0
 * and fills creds, or -1 with a reason in err (never a secret).
 */
int	 aws_creds_from_file(const char *path, const char *profile,
	    struct aws_creds *, char *err, size_t errlen);

/*
 * A key pair given in full (token may be NULL or empty), with source
 * naming where it came from. -1 when one of them is empty or holds
 * spaces or control characters.
 */
int	 aws_creds_from_keys(const char *access_key, const char *secret_key,
	    const char *token, const char *source, struct aws_creds *);
/* The instance role's credentials through IMDSv2 (aws_imds.h). */
int	 aws_creds_from_imds(struct http *, struct aws_creds *, char *err,
	    size_t errlen);
/*
 * The chain: the given key pair (from the job) when both are non-empty,
 * else the shared-credentials file when non-NULL, else IMDSv2.
 */
int	 aws_creds_resolve(struct http *, const char *access_key,
	    const char *secret_key, const char *token, const char *file,
	    struct aws_creds *, char *err, size_t errlen);

/* SHA-256 as lower-case hex (65 bytes with the NUL). */
void	 aws_sha256_hex(const void *, size_t, char out[65]);
/* HMAC-SHA256 of data with key into out (32 bytes). */
void	 aws_hmac(const void *key, size_t keylen, const void *data,
	    size_t len, unsigned char out[32]);
/* The SigV4 signature of string_to_sign, hex into out. */
void	 aws_sigv4_sign(const char *secret, const char *date8,
	    const char *region, const char *service,
	    const char *string_to_sign, char out[65]);

/* The largest answer an AWS API call takes in memory. */
#define AWS_BODY_MAX	(1024 * 1024)

/*
 * The AWS Query API (EC2, Auto Scaling, CloudWatch): a form body that
 * aws_query_add() grows by "&name=value" (value percent-encoded) after
 * "Action=...&Version=...", POSTed by aws_query_do() with creds, signed
 * by libcurl for sigv4 ("aws:amz:REGION:SERVICE"). aws_query_do returns
 * as http_do().
 */
struct buf;
struct http_resp;
void	 aws_query_add(struct buf *, const char *name, const char *value);
int	 aws_query_do(struct http *, const char *url, const char *sigv4,
	    const struct aws_creds *, const struct buf *body, long timeout,
	    const atomic_int *abort, struct http_resp *);

/* sleep_abortable() of util.h, under its older name (jobs/aws_ec2.c). */
int	 aws_sleep(int64_t ms, const atomic_int *abort);

/* A region name: lower-case letters, digits and '-', at most 32 bytes. */
int	 aws_region_ok(const char *);

#endif
