/*
 * Pieces of the bearer-token cloud clients. See cloud.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "backoff.h"
#include "cloud.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"

#define TOKEN_MAX	(16 * 1024)

int
cloud_token_fresh(const struct cloud_token *t)
{
	return t->value != NULL && now_ms() / 1000 + 60 < t->exp;
}

void
cloud_token_clear(struct cloud_token *t)
{
	freezero_str(t->value);
	t->value = NULL;
	t->exp = 0;
}

int
cloud_token_take(struct cloud_token *t, struct http_resp *resp)
{
	json_object	*doc, *v;
	const char	*s;
	size_t		 i, n;
	int		 rv = -1;

	cloud_token_clear(t);
	doc = resp->body.data != NULL ? json_tokener_parse(resp->body.data) :
	    NULL;
	if ((s = json_get_str(doc, "access_token")) == NULL ||
	    (n = strlen(s)) == 0 || n > TOKEN_MAX)
		goto cleanup;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			goto cleanup;
	t->value = xstrdup(s);
	t->exp = now_ms() / 1000 + 3600;
	/* From outside: clamped to a day before it meets the clock. */
	if (json_object_object_get_ex(doc, "expires_in", &v) &&
	    json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) > 0)
		t->exp = now_ms() / 1000 + (json_object_get_int64(v) > 86400 ?
		    86400 : json_object_get_int64(v));
	rv = 0;
cleanup:
	json_wipe_str(doc, "access_token");
	json_object_put(doc);
	if (resp->body.data != NULL)
		explicit_bzero(resp->body.data, resp->body.cap);
	return rv;
}

int
cloud_retryable(long status)
{
	return status == 0 || status == 408 || status == 429 ||
	    status == 500 || status == 502 || status == 503 || status == 504;
}

void
cloud_clean_copy(char *dst, size_t dstlen, const char *s, size_t max)
{
	size_t	 i;

	for (i = 0; s[i] && i < max && i + 1 < dstlen; i++)
		dst[i] = ((unsigned char)s[i] < 0x20) ? ' ' : s[i];
	dst[i] = '\0';
}

const char *
cloud_env_or(const char *name, const char *dflt)
{
	const char	*e = getenv(name);

	return e != NULL && *e ? e : dflt;
}

int
cloud_do(struct cloud_client *cl, const char *what, int auth, int tries,
    struct http_req *req, struct http_resp *resp)
{
	struct backoff	 bo;
	int		 try, rc, relogged = 0;
	int64_t		 wait;

	if (tries <= 0)
		tries = cl->tries;
	backoff_init(&bo, 500, cl->backoff_cap);
	for (try = 1; ; try++) {
		if (auth && cl->login(cl->arg) == -1)
			return -1;
		req->bearer = auth ? cl->token.value : NULL;
		req->abort = cl->abort;
		rc = http_do(cl->http, req, resp);
		if (rc == -1 && resp->aborted) {
			cl->aborted = 1;
			snprintf(cl->err, sizeof(cl->err), "%s: canceled", what);
			return -1;
		}
		if (rc == 0 && ((resp->status >= 200 && resp->status < 300) ||
		    (cl->ok_also != 0 && resp->status == cl->ok_also)))
			return 0;
		cl->set_error(cl->arg, what, resp);
		if (rc == 0 && resp->status == 401 && auth && !relogged) {
			/* The token expired early or was revoked: once more. */
			relogged = 1;
			cloud_token_clear(&cl->token);
			continue;
		}
		if (!cloud_retryable(resp->status) || try >= tries)
			return -1;
		wait = http_retry_after(resp, backoff_next(&bo),
		    cl->backoff_cap);
		(*cl->retries)++;
		log_info("%s: %s; retrying in %lld ms (%d/%d)", cl->name,
		    cl->err, (long long)wait, try, tries);
		if (cloud_sleep(cl, wait) == -1)
			return -1;
	}
}

int
cloud_login(struct cloud_client *cl, const char *what, const char *url,
    const char *form)
{
	struct http_req		 req;
	struct http_resp	 resp;
	int			 rv = -1;

	if (cloud_token_fresh(&cl->token))
		return 0;
	cloud_token_clear(&cl->token);
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = url;
	req.content_type = "application/x-www-form-urlencoded";
	req.body = form;
	req.body_len = strlen(form);
	http_resp_init(&resp);
	if (cloud_do(cl, what, 0, 0, &req, &resp) == -1)
		goto cleanup;
	if (cloud_token_take(&cl->token, &resp) == -1) {
		snprintf(cl->err, sizeof(cl->err), "%s: no access_token in the "
		    "answer", what);
		goto cleanup;
	}
	rv = 0;
cleanup:
	if (resp.body.data != NULL)
		explicit_bzero(resp.body.data, resp.body.cap);
	http_resp_free(&resp);
	return rv;
}

int
cloud_sleep(struct cloud_client *cl, int64_t ms)
{
	if (sleep_abortable(ms, cl->abort) == 0)
		return 0;
	cl->aborted = 1;
	snprintf(cl->err, sizeof(cl->err), "canceled");
	return -1;
}

int
cloud_poll_pause(struct cloud_client *cl, const char *what, int64_t deadline,
    int64_t timeout, int64_t wait, int *polls)
{
	if (now_ms() + wait > deadline) {
		snprintf(cl->err, sizeof(cl->err), "%s: not done after %lld s",
		    what, (long long)timeout);
		return -1;
	}
	if (cloud_sleep(cl, wait) == -1)
		return -1;
	(*polls)++;
	return 0;
}

void
cloud_client_clear(struct cloud_client *cl)
{
	cloud_token_clear(&cl->token);
}
