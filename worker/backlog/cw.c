/*
 * The publisher's AWS side: credentials from the environment or, through
 * the worker's aws.c, the instance role (IMDSv2), and PutMetricData, a
 * Query API call made with aws.c's aws_query_do() (not http_do(): libcurl
 * 7.88 signs header-removal lines ("Expect:") that it never sends, which
 * AWS rejects).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws.h"
#include "aws_imds.h"
#include "cw.h"
#include "http.h"
#include "log.h"
#include "util.h"
#include "xml.h"

#define CW_VERSION	"2010-08-01"

int
cw_creds_load(struct http *h, struct aws_creds *c, char *err, size_t errlen)
{
	const char	*ak = getenv("AWS_ACCESS_KEY_ID");
	const char	*sk = getenv("AWS_SECRET_ACCESS_KEY");
	const char	*st = getenv("AWS_SESSION_TOKEN");

	memset(c, 0, sizeof(*c));
	if (ak == NULL || *ak == '\0' || sk == NULL || *sk == '\0')
		return aws_creds_from_imds(h, c, err, errlen);
	if (aws_creds_from_keys(ak, sk, st, "environment", c) == -1) {
		snprintf(err, errlen, "the AWS_* credentials in the "
		    "environment contain spaces or control characters");
		return -1;
	}
	return 0;
}

char *
cw_region(struct http *h, const char *given, char *err, size_t errlen)
{
	const char	*r = given;

	if (r == NULL || *r == '\0')
		r = getenv("AWS_REGION");
	if (r == NULL || *r == '\0')
		r = getenv("AWS_DEFAULT_REGION");
	if (r == NULL || *r == '\0')
		return aws_imds_region(h, err, errlen);
	if (!aws_region_ok(r)) {
		snprintf(err, errlen, "not a region name: %.40s", r);
		return NULL;
	}
	return xstrdup(r);
}

/* MetricData.member.N.<field> */
static void
add_member(struct buf *b, size_t n, const char *field, const char *value)
{
	char	*k;

	k = xasprintf("MetricData.member.%zu.%s", n, field);
	aws_query_add(b, k, value);
	free(k);
}

int
cw_put_metric_data(struct http *h, const struct cw_put *p,
    const struct aws_creds *c, char *err, size_t errlen)
{
	struct http_resp	 resp;
	struct buf		 body;
	struct tm		 tm;
	char			 ts[32], num[64], msg[256], code[128];
	char			*sigv4;
	size_t			 i;
	int			 rv = -1;

	buf_init(&body);
	http_resp_init(&resp);
	gmtime_r(&p->when, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	buf_printf(&body, "Action=PutMetricData&Version=%s", CW_VERSION);
	aws_query_add(&body, "Namespace", p->namespace);
	for (i = 0; i < p->ndata; i++) {
		snprintf(num, sizeof(num), "%.15g", p->data[i].value);
		add_member(&body, i + 1, "MetricName", p->data[i].name);
		add_member(&body, i + 1, "Value", num);
		add_member(&body, i + 1, "Unit", p->data[i].unit);
		add_member(&body, i + 1, "Timestamp", ts);
		add_member(&body, i + 1, "Dimensions.member.1.Name",
		    p->dim_name);
		add_member(&body, i + 1, "Dimensions.member.1.Value",
		    p->dim_value);
	}
	sigv4 = xasprintf("aws:amz:%s:monitoring", p->region);
	if (aws_query_do(h, p->url, sigv4, c, &body, 30, NULL, &resp) == -1)
		snprintf(err, errlen, "PutMetricData: %s", resp.error);
	else if (resp.status != 200) {
		code[0] = '\0';
		xml_error(resp.body.data, resp.body.len, msg, sizeof(msg),
		    code, sizeof(code));
		snprintf(err, errlen, "PutMetricData: HTTP %ld%s%s",
		    resp.status, code[0] ? ": " : "", code);
	} else
		rv = 0;
	free(sigv4);
	http_resp_free(&resp);
	buf_free(&body);
	return rv;
}
