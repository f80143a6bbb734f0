/*
 * Pieces of the bearer-token cloud clients. See cloud.h.
 */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cloud.h"
#include "jsonutil.h"
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
	if (json_object_object_get_ex(doc, "expires_in", &v) &&
	    json_object_get_int64(v) > 0)
		t->exp = now_ms() / 1000 + json_object_get_int64(v);
	rv = 0;
cleanup:
	if (doc != NULL && json_object_object_get_ex(doc, "access_token", &v) &&
	    json_object_is_type(v, json_type_string))
		explicit_bzero((char *)json_object_get_string(v),
		    json_object_get_string_len(v));
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

int64_t
cloud_retry_after(const struct http_resp *r, int64_t dflt, int64_t cap)
{
	char	*ra;
	int64_t	 s, ms = dflt;

	if ((ra = http_resp_header(r, "Retry-After")) != NULL) {
		s = strtoll(ra, NULL, 10);
		if (s > 0 && ra[0] >= '0' && ra[0] <= '9')
			ms = s < cap / 1000 ? s * 1000 : cap;
		free(ra);
	}
	return ms;
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
