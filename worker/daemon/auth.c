/*
 * OAuth2 tokens for the composer API. The token lives here with its
 * expiry; callers get a copy, use it for one request and wipe it. A token
 * endpoint that is down is an error for this call, never for the daemon.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "auth.h"
#include "http.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"

/* Refresh this long before the server would refuse the token. */
#define AUTH_EARLY_S	60
#define AUTH_SECRET_MAX	(64 * 1024)
/* A token is kept at most this long, whatever expires_in says. */
#define AUTH_LIFETIME_MAX	(30 * 86400)

struct auth {
	pthread_mutex_t	 mtx;
	char		*url;
	char		*shown_url;	/* url redacted, for errors and logs */
	char		*client_id;
	char		*secret_path;	/* client_secret file */
	char		*offline_path;	/* offline_token file */
	char		*proxy;
	char		*token;		/* secret */
	time_t		 expires;	/* 0: unknown, use until refused */
};

/*
 * The token's lifetime in seconds from the endpoint's expires_in, clamped
 * to 1..AUTH_LIFETIME_MAX before any arithmetic; 0 when it is not a
 * positive number (the token is then used until refused).
 */
static int64_t
expires_in(json_object *v)
{
	double	 d;
	int64_t	 n;

	if (json_object_is_type(v, json_type_double)) {
		d = json_object_get_double(v);
		if (!(d >= 1))		/* also NaN */
			return 0;
		return d > AUTH_LIFETIME_MAX ? AUTH_LIFETIME_MAX : (int64_t)d;
	}
	if (!json_object_is_type(v, json_type_int))
		return 0;
	/* json-c saturates integers beyond the int64 range. */
	n = json_object_get_int64(v);
	if (n <= 0)
		return 0;
	return n > AUTH_LIFETIME_MAX ? AUTH_LIFETIME_MAX : n;
}

struct auth *
auth_new(const struct config *conf)
{
	struct auth	*a;

	if (!conf->authentication.present)
		return NULL;
	a = xcalloc(1, sizeof(*a));
	pthread_mutex_init(&a->mtx, NULL);
	a->url = xstrdup(conf->authentication.oauth_url ?
	    conf->authentication.oauth_url : "");
	a->shown_url = url_redact(a->url);
	a->client_id = xstrdup(conf->authentication.client_id ?
	    conf->authentication.client_id : "");
	if (conf->authentication.client_secret != NULL)
		a->secret_path = xstrdup(conf->authentication.client_secret);
	if (conf->authentication.offline_token != NULL)
		a->offline_path = xstrdup(conf->authentication.offline_token);
	if (conf->composer_proxy != NULL)
		a->proxy = xstrdup(conf->composer_proxy);
	return a;
}

void
auth_free(struct auth *a)
{
	if (a == NULL)
		return;
	pthread_mutex_destroy(&a->mtx);
	free(a->url);
	free(a->shown_url);
	free(a->client_id);
	free(a->secret_path);
	free(a->offline_path);
	free(a->proxy);
	freezero_str(a->token);
	free(a);
}

/* Appends "&name=value" percent-encoded; value may be a secret. */
static void
form_add(struct buf *b, const char *name, const char *value)
{
	char	*v = http_escape(value);

	if (b->len > 0)
		buf_addstr(b, "&");
	buf_addstr(b, name);
	buf_addstr(b, "=");
	buf_addstr(b, v);
	freezero_str(v);
}

/* Reads a one-line secret file; NULL with a reason (never its content). */
static char *
read_secret(const char *path, const char *what, char *err, size_t errlen)
{
	char	*s;

	if ((s = read_file(path, AUTH_SECRET_MAX, NULL)) == NULL) {
		snprintf(err, errlen, "cannot read the %s file %s: %m", what,
		    path);
		return NULL;
	}
	rtrim(s);
	if (*s == '\0') {
		snprintf(err, errlen, "the %s file %s is empty", what, path);
		free(s);
		return NULL;
	}
	return s;
}

/* Asks the token endpoint; called with the lock held. */
static int
fetch_token(struct auth *a, char *err, size_t errlen)
{
	struct http_opts	 o;
	struct http_req		 req;
	struct http_resp	 resp;
	struct http		*h;
	struct buf		 form;
	json_object		*doc = NULL, *v;
	const char		*tok;
	int64_t			 life;
	char			*secret = NULL;
	int			 rv = -1;

	buf_init(&form);
	if (a->offline_path != NULL) {
		if ((secret = read_secret(a->offline_path, "offline token",
		    err, errlen)) == NULL)
			return -1;
		form_add(&form, "grant_type", "refresh_token");
		form_add(&form, "client_id", a->client_id);
		form_add(&form, "refresh_token", secret);
	} else if (a->secret_path != NULL) {
		if ((secret = read_secret(a->secret_path, "client secret",
		    err, errlen)) == NULL)
			return -1;
		form_add(&form, "grant_type", "client_credentials");
		form_add(&form, "client_id", a->client_id);
		form_add(&form, "client_secret", secret);
	} else {
		snprintf(err, errlen, "[authentication] needs offline_token "
		    "or client_secret");
		return -1;
	}
	freezero_str(secret);

	memset(&o, 0, sizeof(o));
	o.proxy = a->proxy;
	o.transfer_timeout = 60;
	o.max_body = 1024 * 1024;
	h = http_new(&o);
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = a->url;
	req.content_type = "application/x-www-form-urlencoded";
	req.body = form.data;
	req.body_len = form.len;
	http_resp_init(&resp);
	if (http_do(h, &req, &resp) == -1) {
		snprintf(err, errlen, "token endpoint %s: %s", a->shown_url,
		    resp.error);
		goto cleanup;
	}
	if (resp.status != 200) {
		/* The endpoint's error names no secret of ours. */
		snprintf(err, errlen, "token endpoint %s answered %ld",
		    a->shown_url,
		    resp.status);
		doc = json_tokener_parse(resp.body.data ? resp.body.data : "");
		if (doc != NULL && json_object_object_get_ex(doc, "error", &v))
			snprintf(err + strlen(err), errlen - strlen(err),
			    " (%.100s)", json_object_get_string(v));
		goto cleanup;
	}
	doc = json_tokener_parse(resp.body.data ? resp.body.data : "");
	if ((tok = json_get_str(doc, "access_token")) == NULL ||
	    *tok == '\0') {
		snprintf(err, errlen, "token endpoint %s: no access_token in "
		    "the answer", a->shown_url);
		goto cleanup;
	}
	freezero_str(a->token);
	a->token = xstrdup(tok);
	a->expires = 0;
	if (json_object_object_get_ex(doc, "expires_in", &v) &&
	    (life = expires_in(v)) > 0)
		a->expires = time(NULL) + life;
	log_debug("oauth: new access token from %s, expires in %lds",
	    a->shown_url,
	    a->expires ? (long)(a->expires - time(NULL)) : -1L);
	rv = 0;
cleanup:
	if (resp.body.data != NULL)
		explicit_bzero(resp.body.data, resp.body.cap);
	if (form.data != NULL)
		explicit_bzero(form.data, form.cap);
	buf_free(&form);
	http_resp_free(&resp);
	http_free(h);
	if (doc != NULL) {
		/* json-c keeps its own copies of the strings. */
		json_object_put(doc);
	}
	return rv;
}

char *
auth_token(struct auth *a, char *err, size_t errlen)
{
	char	*t = NULL;

	pthread_mutex_lock(&a->mtx);
	if (a->token == NULL ||
	    (a->expires != 0 && time(NULL) + AUTH_EARLY_S >= a->expires)) {
		if (fetch_token(a, err, errlen) == -1)
			goto cleanup;
	}
	t = xstrdup(a->token);
cleanup:
	pthread_mutex_unlock(&a->mtx);
	return t;
}

void
auth_invalidate(struct auth *a, const char *token)
{
	pthread_mutex_lock(&a->mtx);
	/* Another thread may have refreshed it already. */
	if (a->token != NULL && token != NULL && strcmp(a->token, token) == 0) {
		freezero_str(a->token);
		a->token = NULL;
	}
	pthread_mutex_unlock(&a->mtx);
}
