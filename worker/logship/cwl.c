/*
 * The CloudWatch Logs calls. Error answers carry "__type" (and the
 * x-amzn-ErrorType header); the code after any '#' or before any ':'
 * decides the class. Messages from AWS are logged cut and without control
 * characters.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aws.h"
#include "cwl.h"
#include "event.h"
#include "http.h"
#include "log.h"
#include "util.h"

#define CONTENT_TYPE	"application/x-amz-json-1.1"

/* Printable ASCII of s into out (cut), for a log line. */
static void
clean(char *out, size_t outlen, const char *s)
{
	size_t	 i;

	for (i = 0; s != NULL && s[i] != '\0' && i + 1 < outlen; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	out[outlen ? (i < outlen ? i : outlen - 1) : 0] = '\0';
}

static enum cwl_rc
call(const struct cwl *c, const struct aws_creds *cr, const char *op,
    const struct buf *body, long timeout, struct http_resp *resp,
    char *why, size_t whylen)
{
	struct http_req	 req;
	const char	*hdr[3] = { NULL, NULL, NULL };
	char		*target, *tok = NULL, *userpwd, *sigv4;
	char		 code[128], msg[256];
	const char	*t = NULL, *m = NULL, *p;
	json_object	*o = NULL, *v;
	char		*ht = NULL;
	enum cwl_rc	 rc;

	target = xasprintf("X-Amz-Target: %s", op);
	hdr[0] = target;
	if (cr->token != NULL && *cr->token != '\0') {
		tok = xasprintf("x-amz-security-token: %s", cr->token);
		hdr[1] = tok;
	}
	userpwd = xasprintf("%s:%s", cr->access_key, cr->secret_key);
	sigv4 = xasprintf("aws:amz:%s:logs", c->region);
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = c->url;
	req.headers = hdr;
	req.content_type = CONTENT_TYPE;
	req.body = body->data;
	req.body_len = body->len;
	req.userpwd = userpwd;
	req.sigv4 = sigv4;
	req.timeout = timeout > 0 ? timeout : -1;
	req.max_body = AWS_BODY_MAX;
	if (http_do(c->h, &req, resp) == -1) {
		snprintf(why, whylen, "%s: %s", op, resp->error);
		rc = CWL_RETRY;
		goto cleanup;
	}
	if (resp->status == 200) {
		rc = CWL_OK;
		goto cleanup;
	}
	if (resp->body.len > 0 && (o = json_tokener_parse(resp->body.data)) &&
	    json_object_is_type(o, json_type_object)) {
		if (json_object_object_get_ex(o, "__type", &v))
			t = json_object_get_string(v);
		if (json_object_object_get_ex(o, "message", &v) ||
		    json_object_object_get_ex(o, "Message", &v))
			m = json_object_get_string(v);
	}
	if (t == NULL && (ht = http_resp_header(resp, "x-amzn-ErrorType")))
		t = ht;
	clean(code, sizeof(code), t ? t : "");
	if ((p = strrchr(code, '#')) != NULL)
		memmove(code, p + 1, strlen(p + 1) + 1);
	code[strcspn(code, ":")] = '\0';
	clean(msg, sizeof(msg), m ? m : "");
	snprintf(why, whylen, "%s: HTTP %ld %s%s%s", op, resp->status,
	    code[0] ? code : "(no error code)", msg[0] ? ": " : "", msg);

	if (resp->status >= 500 || resp->status == 429 ||
	    strcmp(code, "ThrottlingException") == 0 ||
	    strcmp(code, "ServiceUnavailableException") == 0 ||
	    strcmp(code, "LimitExceededException") == 0 ||
	    strcmp(code, "RequestTimeout") == 0 ||
	    strcmp(code, "RequestTimeoutException") == 0 ||
	    /* Tokens are ignored by AWS now; an old endpoint: try again. */
	    strcmp(code, "InvalidSequenceTokenException") == 0 ||
	    strcmp(code, "OperationAbortedException") == 0)
		rc = CWL_RETRY;
	else if (strcmp(code, "DataAlreadyAcceptedException") == 0)
		rc = CWL_OK;
	else if (strcmp(code, "ResourceNotFoundException") == 0)
		rc = (m && strstr(m, "log group")) ? CWL_NO_GROUP :
		    CWL_NO_STREAM;
	else if (resp->status == 403 || resp->status == 401 ||
	    strcmp(code, "AccessDeniedException") == 0 ||
	    strcmp(code, "UnrecognizedClientException") == 0 ||
	    strcmp(code, "ExpiredTokenException") == 0 ||
	    strcmp(code, "InvalidSignatureException") == 0 ||
	    strcmp(code, "IncompleteSignature") == 0 ||
	    strcmp(code, "MissingAuthenticationToken") == 0)
		rc = CWL_AUTH;
	else if (resp->status == 400 || resp->status == 413)
		rc = CWL_REFUSED;
	else
		rc = CWL_RETRY;
cleanup:
	json_object_put(o);
	free(ht);
	free(target);
	freezero_str(tok);
	freezero_str(userpwd);
	free(sigv4);
	return rc;
}

static void
names(struct buf *b, const struct cwl *c)
{
	buf_addstr(b, "{\"logGroupName\":");
	json_str(b, c->group, strlen(c->group));
	buf_addstr(b, ",\"logStreamName\":");
	json_str(b, c->stream, strlen(c->stream));
}

enum cwl_rc
cwl_create_stream(const struct cwl *c, const struct aws_creds *cr,
    long timeout, char *why, size_t whylen)
{
	struct http_resp	 resp;
	struct buf		 b;
	enum cwl_rc		 rc;

	buf_init(&b);
	http_resp_init(&resp);
	names(&b, c);
	buf_addstr(&b, "}");
	rc = call(c, cr, "Logs_20140328.CreateLogStream", &b, timeout, &resp, why, whylen);
	if (rc == CWL_REFUSED && strstr(why, "ResourceAlreadyExists"))
		rc = CWL_OK;
	/* Creating the stream cannot miss the stream. */
	if (rc == CWL_NO_STREAM)
		rc = CWL_NO_GROUP;
	http_resp_free(&resp);
	buf_free(&b);
	return rc;
}

/* The rejectedLogEventsInfo of an accepted batch, logged. */
static void
rejected(const struct http_resp *resp, size_t n)
{
	json_object	*o, *info, *v;
	static const char *const keys[] = { "tooNewLogEventStartIndex",
	    "tooOldLogEventEndIndex", "expiredLogEventEndIndex" };
	size_t		 i;

	if (resp->body.len == 0 ||
	    (o = json_tokener_parse(resp->body.data)) == NULL)
		return;
	if (json_object_is_type(o, json_type_object) &&
	    json_object_object_get_ex(o, "rejectedLogEventsInfo", &info) &&
	    json_object_is_type(info, json_type_object))
		for (i = 0; i < nitems(keys); i++)
			if (json_object_object_get_ex(info, keys[i], &v))
				log_warnx("CloudWatch Logs accepted a batch of "
				    "%zu events but not all: %s %lld", n,
				    keys[i], (long long)json_object_get_int64(v));
	json_object_put(o);
}

enum cwl_rc
cwl_put(const struct cwl *c, const struct aws_creds *cr,
    const struct event *ev, size_t n, long timeout, char *why, size_t whylen)
{
	struct http_resp	 resp;
	struct buf		 b;
	size_t			 i;
	enum cwl_rc		 rc;

	buf_init(&b);
	http_resp_init(&resp);
	names(&b, c);
	buf_addstr(&b, ",\"logEvents\":[");
	for (i = 0; i < n; i++) {
		buf_printf(&b, "%s{\"timestamp\":%lld,\"message\":",
		    i ? "," : "", (long long)ev[i].ts);
		json_str(&b, ev[i].msg, ev[i].len);
		buf_addstr(&b, "}");
	}
	buf_addstr(&b, "]}");
	rc = call(c, cr, "Logs_20140328.PutLogEvents", &b, timeout, &resp, why, whylen);
	if (rc == CWL_OK)
		rejected(&resp, n);
	http_resp_free(&resp);
	buf_free(&b);
	return rc;
}

int
cwl_group_ok(const char *s)
{
	size_t	 n;

	for (n = 0; s[n] != '\0'; n++)
		if (!isalnum((unsigned char)s[n]) && !strchr("._/#-", s[n]))
			return 0;
	return n >= 1 && n <= 512;
}

int
cwl_stream_ok(const char *s)
{
	size_t	 n;

	for (n = 0; s[n] != '\0'; n++)
		if (s[n] < 0x20 || s[n] >= 0x7f || s[n] == ':' || s[n] == '*')
			return 0;
	return n >= 1 && n <= 512;
}
