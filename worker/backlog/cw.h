/*
 * CloudWatch for the backlog publisher: credentials (environment, else the
 * instance role through IMDSv2), the region, and PutMetricData over the
 * Query API, signed by libcurl (SigV4, service "monitoring").
 */
#ifndef IB_BACKLOG_CW_H
#define IB_BACKLOG_CW_H

#include <stddef.h>
#include <time.h>

struct http;
struct aws_creds;

/*
 * AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY(/AWS_SESSION_TOKEN) when set,
 * else the instance role through IMDSv2 (aws_creds_from_imds of the
 * worker's aws.c). Returns 0, or -1 with err; free with aws_creds_clear.
 */
int	 cw_creds_load(struct http *, struct aws_creds *, char *err,
	    size_t errlen);

/*
 * given, else $AWS_REGION, else $AWS_DEFAULT_REGION, else the instance's
 * region from IMDSv2. Newly allocated, or NULL with err.
 */
char	*cw_region(struct http *, const char *given, char *err,
	    size_t errlen);

struct cw_datum {
	const char	*name;
	double		 value;
	const char	*unit;		/* "Count" */
};

struct cw_put {
	const char		*url;		/* the endpoint */
	const char		*region;
	const char		*namespace;
	const char		*dim_name;
	const char		*dim_value;
	time_t			 when;
	const struct cw_datum	*data;
	size_t			 ndata;
};

/* One PutMetricData call. Returns 0, or -1 with err (never a secret). */
int	 cw_put_metric_data(struct http *, const struct cw_put *,
	    const struct aws_creds *, char *err, size_t errlen);

#endif
