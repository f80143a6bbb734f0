/*
 * The publisher's AWS side: credentials from the environment or, through
 * the worker's aws.c, the instance role (IMDSv2), and PutMetricData. The
 * signed call sets up its own easy handle rather than http_do(): libcurl
 * 7.88 signs header-removal lines ("Expect:") that it never sends, which AWS
 * rejects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "aws.h"
#include "cw.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define CW_VERSION	"2010-08-01"
#define CW_ANSWER_MAX	(64 * 1024)

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

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct buf	*b = arg;

	if (b->len + size * n > CW_ANSWER_MAX)
		return 0;
	buf_add(b, data, size * n);
	return size * n;
}

static void
add_param(struct buf *b, const char *key, const char *value)
{
	char	*v;

	if ((v = curl_easy_escape(NULL, value, 0)) == NULL)
		fatalx("curl_easy_escape failed");
	buf_printf(b, "&%s=%s", key, v);
	curl_free(v);
}

/* MetricData.member.N.<field> */
static void
add_member(struct buf *b, size_t n, const char *field, const char *value)
{
	char	*k;

	k = xasprintf("MetricData.member.%zu.%s", n, field);
	add_param(b, k, value);
	free(k);
}

/* The <Code> of an AWS error answer, or "". */
static void
error_code(const struct buf *b, char *code, size_t len)
{
	const char	*s, *e;

	code[0] = '\0';
	if (b->data == NULL || (s = strstr(b->data, "<Code>")) == NULL ||
	    (e = strstr(s, "</Code>")) == NULL)
		return;
	s += 6;
	snprintf(code, len, "%.*s", (int)(e - s), s);
}

int
cw_put_metric_data(struct http *h, const struct cw_put *p,
    const struct aws_creds *c, char *err, size_t errlen)
{
	struct curl_slist	*hdrs = NULL;
	struct buf		 body, answer;
	struct tm		 tm;
	char			 ts[32], num[64], code[128];
	char			 errbuf[CURL_ERROR_SIZE];
	char			*sigv4 = NULL, *userpwd = NULL, *line;
	CURL			*cu;
	CURLcode		 cc;
	long			 status = 0;
	size_t			 i;
	int			 rv = -1;

	buf_init(&body);
	buf_init(&answer);
	gmtime_r(&p->when, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	buf_printf(&body, "Action=PutMetricData&Version=%s", CW_VERSION);
	add_param(&body, "Namespace", p->namespace);
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

	if ((cu = curl_easy_init()) == NULL)
		fatalx("curl_easy_init failed");
	http_apply(h, cu);
	errbuf[0] = '\0';
	sigv4 = xasprintf("aws:amz:%s:monitoring", p->region);
	userpwd = xasprintf("%s:%s", c->access_key, c->secret_key);
	hdrs = curl_slist_append(hdrs, "Content-Type: "
	    "application/x-www-form-urlencoded; charset=utf-8");
	if (c->token != NULL) {
		line = xasprintf("x-amz-security-token: %s", c->token);
		hdrs = curl_slist_append(hdrs, line);
		freezero_str(line);
	}
	curl_easy_setopt(cu, CURLOPT_URL, p->url);
	curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body.data);
	curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)body.len);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(cu, CURLOPT_USERPWD, userpwd);
	curl_easy_setopt(cu, CURLOPT_AWS_SIGV4, sigv4);
	curl_easy_setopt(cu, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, &answer);
	curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_perform(cu);
	curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK)
		snprintf(err, errlen, "PutMetricData: %s", errbuf[0] ? errbuf :
		    curl_easy_strerror(cc));
	else if (status != 200) {
		error_code(&answer, code, sizeof(code));
		snprintf(err, errlen, "PutMetricData: HTTP %ld%s%s", status,
		    code[0] ? ": " : "", code);
	} else
		rv = 0;
	curl_easy_cleanup(cu);
	curl_slist_free_all(hdrs);	/* held the session token */
	freezero_str(userpwd);
	free(sigv4);
	buf_free(&answer);
	buf_free(&body);
	return rv;
}
