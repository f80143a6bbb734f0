/*
 * The composer worker API as real servers speak it (PROTOCOL.md): status
 * codes and error bodies become an api_rc the loop can act on. The OAuth
 * token (when configured) is added here and refreshed once on a 401.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "api.h"
#include "auth.h"
#include "backoff.h"
#include "http.h"
#include "http_multi.h"
#include "jsonutil.h"
#include "log.h"
#include "sdnotify.h"
#include "util.h"

#define API_ERR_JOB_NOT_FOUND	5
#define API_ERR_NOT_RUNNING	6
#define API_ERR_MALFORMED_WID	17
#define API_ERR_UNKNOWN_WID	18

struct api_shared {
	atomic_int		 refs;
	const struct config	*conf;
	struct auth		*auth;
	char			*base;		/* scheme://host:port */
	char			*path;		/* base_path */
	/* Owned; opts points at them. */
	char			*ca, *cert, *key, *sock;
	struct http_opts	 opts;
};

struct api {
	struct api_shared	*sh;
	struct http		*http;
	char			 error[512];
	long			 status;	/* of the last answer, 0: none */
	const atomic_int	*abort;		/* stops every call, or NULL */
	long			 timeout;	/* s, 0: transfer_timeout */
};

static void
shared_put(struct api_shared *sh)
{
	if (sh == NULL || atomic_fetch_sub(&sh->refs, 1) != 1)
		return;
	auth_free(sh->auth);
	free(sh->base);
	free(sh->path);
	free(sh->ca);
	free(sh->cert);
	free(sh->key);
	free(sh->sock);
	free(sh);
}

static int
readable(const char *path, const char *what, char *err, size_t errlen)
{
	if (access(path, R_OK) == 0)
		return 0;
	snprintf(err, errlen, "%s %s: %m", what, path);
	return -1;
}

struct api *
api_new(const struct config *conf, const char *address, int unix_socket,
    char *err, size_t errlen)
{
	struct api_shared	*sh;
	struct api		*a;
	const char		*p;

	sh = xcalloc(1, sizeof(*sh));
	atomic_init(&sh->refs, 1);
	sh->conf = conf;
	sh->path = xstrdup(conf->base_path ? conf->base_path :
	    CONFIG_DEFAULT_BASE);
	sh->opts.proxy = conf->composer_proxy;
	sh->opts.connect_timeout = conf->worker.connect_timeout;
	sh->opts.transfer_timeout = conf->worker.transfer_timeout;
	sh->opts.low_speed_time = conf->worker.low_speed_time;
	sh->opts.max_body = conf->worker.max_body;

	if (unix_socket) {
		sh->base = xstrdup("http://localhost");
		sh->sock = xstrdup(address);
	} else if (strncmp(address, "http://", 7) == 0 ||
	    strncmp(address, "https://", 8) == 0) {
		sh->base = xstrdup(address);
	} else {
		sh->base = xasprintf("https://%s", address);
	}
	/* The address is host:port (a trailing '/' is fine), nothing after
	 * it; [::1]:port for IPv6 as in a URL. */
	p = strstr(sh->base, "://") + 3;
	while (*p != '\0' && sh->base[strlen(sh->base) - 1] == '/')
		sh->base[strlen(sh->base) - 1] = '\0';
	if (*p == '\0' || strchr(p, '/') != NULL || strchr(p, '?') != NULL) {
		snprintf(err, errlen, "bad composer address %s: expected "
		    "HOST:PORT", address);
		goto fail;
	}

	if (conf->worker.tls_ca != NULL) {
		if (readable(conf->worker.tls_ca, "CA certificate", err,
		    errlen) == -1)
			goto fail;
		sh->ca = xstrdup(conf->worker.tls_ca);
	}
	if (conf->authentication.present) {
		if (conf->authentication.oauth_url == NULL ||
		    *conf->authentication.oauth_url == '\0') {
			snprintf(err, errlen, "[authentication] needs "
			    "oauth_url");
			goto fail;
		}
		sh->auth = auth_new(conf);
	} else if (!unix_socket && strncmp(sh->base, "https://", 8) == 0) {
		/* The reference's mutual TLS, from its fixed paths. */
		const char *ca = conf->worker.tls_ca ? conf->worker.tls_ca :
		    CONFIG_CERT_DIR "/ca-crt.pem";
		const char *crt = conf->worker.tls_cert ?
		    conf->worker.tls_cert : CONFIG_CERT_DIR "/worker-crt.pem";
		const char *key = conf->worker.tls_key ?
		    conf->worker.tls_key : CONFIG_CERT_DIR "/worker-key.pem";

		if (readable(ca, "CA certificate", err, errlen) == -1 ||
		    readable(crt, "client certificate", err, errlen) == -1 ||
		    readable(key, "client key", err, errlen) == -1) {
			/* The reference's fixed paths surprise a new user. */
			snprintf(err + strlen(err), errlen - strlen(err),
			    " (an https composer needs them: set tls_ca, "
			    "tls_cert and tls_key in [worker], or "
			    "[authentication]; a composer without TLS is "
			    "given as http://HOST:PORT)");
			goto fail;
		}
		if (sh->ca == NULL)
			sh->ca = xstrdup(ca);
		sh->cert = xstrdup(crt);
		sh->key = xstrdup(key);
	}
	sh->opts.ca_bundle = sh->ca;
	sh->opts.client_cert = sh->cert;
	sh->opts.client_key = sh->key;
	sh->opts.unix_socket = sh->sock;
	a = xcalloc(1, sizeof(*a));
	a->sh = sh;
	a->http = http_new(&sh->opts);
	return a;
fail:
	shared_put(sh);
	return NULL;
}

struct api *
api_clone(struct api *orig)
{
	struct api	*a;

	a = xcalloc(1, sizeof(*a));
	a->sh = orig->sh;
	atomic_fetch_add(&a->sh->refs, 1);
	a->http = http_new(&a->sh->opts);
	return a;
}

void
api_set_abort(struct api *a, const atomic_int *abort)
{
	a->abort = abort;
}

void
api_set_timeout(struct api *a, long seconds)
{
	a->timeout = seconds;
}

void
api_free(struct api *a)
{
	if (a == NULL)
		return;
	http_free(a->http);
	shared_put(a->sh);
	free(a);
}

long
api_status(const struct api *a)
{
	return a->status;
}

const char *
api_error(const struct api *a)
{
	return a->error;
}

/* The number N of an "IMAGE-BUILDER-WORKER-N" error body, or -1. */
static int
error_code(const struct http_resp *r, char *reason, size_t len)
{
	json_object	*doc, *v;
	const char	*code, *dash;
	int		 n = -1;

	reason[0] = '\0';
	if (r->body.data == NULL || (doc = json_tokener_parse(r->body.data))
	    == NULL)
		return -1;
	if (json_object_object_get_ex(doc, "reason", &v))
		snprintf(reason, len, "%s", json_object_get_string(v));
	if (json_object_object_get_ex(doc, "code", &v) &&
	    (code = json_object_get_string(v)) != NULL &&
	    (dash = strrchr(code, '-')) != NULL)
		n = atoi(dash + 1);
	json_object_put(doc);
	return n;
}

/*
 * One call to the composer: path is a full URL path (the job's location)
 * or relative to the base path when it does not start with '/'. Retries
 * once with a fresh token on 401. On API_OK, resp holds the answer.
 */
static enum api_rc
call(struct api *a, const char *method, const char *path, json_object *body,
    struct http_req *extra, struct http_resp *resp, const char *what)
{
	struct http_req	 req;
	char		*url, *token = NULL, reason[256], aerr[256];
	const char	*json = NULL;
	enum api_rc	 rc;
	int		 tries = 0, code;

	if (path[0] == '/')
		url = xasprintf("%s%s", a->sh->base, path);
	else
		url = xasprintf("%s%s/%s", a->sh->base, a->sh->path, path);
	if (body != NULL)
		json = json_object_to_json_string_ext(body,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
again:
	if (extra != NULL)
		req = *extra;
	else
		memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	if (req.abort == NULL)
		req.abort = a->abort;
	if (req.timeout == 0)
		req.timeout = a->timeout;
	if (json != NULL) {
		req.body = json;
		req.body_len = strlen(json);
		req.content_type = "application/json";
	}
	if (a->sh->auth != NULL) {
		freezero_str(token);
		if ((token = auth_token(a->sh->auth, aerr, sizeof(aerr))) ==
		    NULL) {
			snprintf(a->error, sizeof(a->error), "%s: no access "
			    "token: %s", what, aerr);
			rc = API_RETRY;
			goto cleanup;
		}
		req.bearer = token;
	}
	a->status = 0;
	if (http_do(a->http, &req, resp) == -1) {
		snprintf(a->error, sizeof(a->error), "%s: %s%s", what,
		    resp->error, strncmp(url, "https://", 8) == 0 &&
		    strstr(resp->error, "wrong version number") != NULL ?
		    " (the server speaks plain HTTP: give the address as "
		    "http://HOST:PORT)" : "");
		rc = resp->aborted ? API_ABORTED : API_RETRY;
		goto cleanup;
	}
	a->status = resp->status;
	if (resp->status == 401 && a->sh->auth != NULL && tries++ == 0) {
		log_debug("%s: 401, refreshing the access token", what);
		auth_invalidate(a->sh->auth, token);
		goto again;
	}
	if (resp->status >= 200 && resp->status < 300) {
		rc = resp->status == 204 ? API_NOJOB : API_OK;
		goto cleanup;
	}
	code = error_code(resp, reason, sizeof(reason));
	snprintf(a->error, sizeof(a->error), "%s: HTTP %ld%s%s%s", what,
	    resp->status, reason[0] ? " (" : "", reason, reason[0] ? ")" : "");
	if (code != -1)
		snprintf(a->error + strlen(a->error),
		    sizeof(a->error) - strlen(a->error), " code %d", code);
	if (resp->status == 404 && code == API_ERR_JOB_NOT_FOUND)
		rc = API_GONE;
	else if (resp->status == 400 && code == API_ERR_NOT_RUNNING)
		rc = API_GONE;
	else if (resp->status == 400 && (code == API_ERR_UNKNOWN_WID ||
	    code == API_ERR_MALFORMED_WID))
		rc = API_FORGOTTEN;
	else if (resp->status >= 500 || resp->status == 429 ||
	    resp->status == 408 || resp->status == 401)
		rc = API_RETRY;
	else
		rc = API_ERROR;
	/* Which URL: the path only, the address may hold credentials. */
	if (resp->status == 404 && rc != API_GONE)
		snprintf(a->error + strlen(a->error),
		    sizeof(a->error) - strlen(a->error), " for %s %s (is the "
		    "base_path right?)", method, url + strlen(a->sh->base));
cleanup:
	freezero_str(token);
	free(url);
	return rc;
}

static json_object *
parse_object(struct api *a, const struct http_resp *r, const char *what)
{
	json_object	*doc;

	if (!http_resp_is(r, "application/json")) {
		snprintf(a->error, sizeof(a->error), "%s: answer is not "
		    "JSON", what);
		return NULL;
	}
	doc = json_tokener_parse(r->body.data ? r->body.data : "");
	if (doc == NULL || !json_object_is_type(doc, json_type_object)) {
		snprintf(a->error, sizeof(a->error), "%s: malformed JSON "
		    "answer", what);
		json_object_put(doc);
		return NULL;
	}
	return doc;
}

enum api_rc
api_register(struct api *a, const char *arch, char **worker_id)
{
	struct http_resp	 resp;
	json_object		*body, *doc = NULL;
	const char		*id;
	enum api_rc		 rc;

	*worker_id = NULL;
	body = json_object_new_object();
	json_object_object_add(body, "arch", json_object_new_string(arch));
	http_resp_init(&resp);
	rc = call(a, "POST", "workers", body, NULL, &resp, "register");
	if (rc != API_OK) {
		if (rc == API_NOJOB)
			rc = API_RETRY;
		goto cleanup;
	}
	if ((doc = parse_object(a, &resp, "register")) == NULL ||
	    (id = json_get_str(doc, "worker_id")) == NULL) {
		if (doc != NULL)
			snprintf(a->error, sizeof(a->error), "register: no "
			    "worker_id in the answer");
		rc = API_RETRY;
		goto cleanup;
	}
	*worker_id = xstrdup(id);
cleanup:
	json_object_put(doc);
	json_object_put(body);
	http_resp_free(&resp);
	return rc;
}

enum api_rc
api_worker_status(struct api *a, const char *worker_id)
{
	struct http_resp	 resp;
	json_object		*body;
	char			*path, *id;
	enum api_rc		 rc;

	id = http_escape(worker_id);
	path = xasprintf("workers/%s/status", id);
	body = json_object_new_object();
	http_resp_init(&resp);
	rc = call(a, "POST", path, body, NULL, &resp, "worker status");
	if (rc == API_NOJOB)
		rc = API_OK;
	json_object_put(body);
	http_resp_free(&resp);
	free(path);
	free(id);
	return rc;
}

enum api_rc
api_request_job(struct api *a, const char *const *types, const char *arch,
    const char *worker_id, long timeout_s, const atomic_int *abort,
    json_object **job)
{
	struct http_req		 extra;
	struct http_resp	 resp;
	json_object		*body, *arr;
	const char *const	*t;
	enum api_rc		 rc;

	*job = NULL;
	body = json_object_new_object();
	arr = json_object_new_array();
	for (t = types; *t != NULL; t++)
		json_object_array_add(arr, json_object_new_string(*t));
	json_object_object_add(body, "types", arr);
	json_object_object_add(body, "arch", json_object_new_string(arch));
	if (worker_id != NULL)
		json_object_object_add(body, "worker_id",
		    json_object_new_string(worker_id));
	memset(&extra, 0, sizeof(extra));
	extra.timeout = timeout_s > 0 ? timeout_s : -1;
	extra.abort = abort;
	/*
	 * A job the server already handed us is ours: aborting its answer
	 * would strand it until the server's heartbeat timeout.
	 */
	extra.keep_answer = 1;
	extra.long_poll = 1;
	http_resp_init(&resp);
	rc = call(a, "POST", "jobs", body, &extra, &resp, "request job");
	/* A long poll that timed out on our side is just "no job". */
	if (rc == API_RETRY && resp.status == 0 &&
	    strstr(a->error, "imed out") != NULL)
		rc = API_NOJOB;
	if (rc != API_OK)
		goto cleanup;
	if (resp.status != 201 && resp.status != 200) {
		snprintf(a->error, sizeof(a->error), "request job: "
		    "unexpected HTTP %ld", resp.status);
		rc = API_RETRY;
		goto cleanup;
	}
	if ((*job = parse_object(a, &resp, "request job")) == NULL)
		rc = API_ERROR;
cleanup:
	json_object_put(body);
	http_resp_free(&resp);
	return rc;
}

enum api_rc
api_job_status(struct api *a, const char *location, int *canceled)
{
	struct http_resp	 resp;
	json_object		*doc = NULL, *v;
	enum api_rc		 rc;

	*canceled = 0;
	http_resp_init(&resp);
	rc = call(a, "GET", location, NULL, NULL, &resp, "job heartbeat");
	if (rc != API_OK) {
		if (rc == API_NOJOB)
			rc = API_OK;
		goto cleanup;
	}
	if ((doc = parse_object(a, &resp, "job heartbeat")) == NULL) {
		rc = API_RETRY;
		goto cleanup;
	}
	if (json_object_object_get_ex(doc, "canceled", &v))
		*canceled = json_object_get_boolean(v);
cleanup:
	json_object_put(doc);
	http_resp_free(&resp);
	return rc;
}

static enum api_rc
patch(struct api *a, const char *location, const char *key, json_object *val,
    const char *what)
{
	struct http_resp	 resp;
	json_object		*body;
	enum api_rc		 rc;

	body = json_object_new_object();
	json_object_object_add(body, key, json_object_get(val));
	http_resp_init(&resp);
	rc = call(a, "PATCH", location, body, NULL, &resp, what);
	if (rc == API_NOJOB)
		rc = API_OK;
	json_object_put(body);
	http_resp_free(&resp);
	return rc;
}

enum api_rc
api_update_job(struct api *a, const char *location, json_object *result)
{
	return patch(a, location, "result", result, "job result");
}

enum api_rc
api_update_partial(struct api *a, const char *location, json_object *partial)
{
	return patch(a, location, "partial", partial, "job progress");
}

/* An artifact going out: a progress line every API_PROGRESS_MS. */
#define API_PROGRESS_MS		10000
struct upload_progress {
	const char			*name;	/* checked by name_is_safe */
	int64_t				 start, last;
	const struct http_progress	*hook;	/* or NULL: ours */
};

static void
upload_progress(void *arg, int64_t sent, int64_t total)
{
	struct upload_progress	*u = arg;
	struct log_num		 nums[] = { { "bytes", 0 }, { NULL, 0 } };
	int64_t			 now = now_ms(), pct;

	if (u->hook != NULL) {
		u->hook->fn(u->hook->arg, sent, total, 0);
		return;
	}
	if (now - u->last < API_PROGRESS_MS)
		return;
	u->last = now;
	pct = total > 0 ? sent * 100 / total : 0;
	nums[0].value = sent;
	log_info_n(nums, "artifact %s: %lld of %lld bytes (%lld%%), %.1f MB/s",
	    u->name, (long long)sent, (long long)total, (long long)pct,
	    sent / 1e6 / ((now - u->start) / 1000.0));
	ib_sd_status("uploading %s: %lld%%", u->name, (long long)pct);
}

/*
 * A cut connection or a 5xx in the middle of an artifact upload is worth
 * another try from the start: the composer keeps nothing of a partial PUT.
 */
#define ARTIFACT_TRIES		5
#define ARTIFACT_BACKOFF_MS	1000
#define ARTIFACT_BACKOFF_CAP_MS	15000

enum api_rc
api_upload_artifact(struct api *a, const char *artifact_location,
    const char *name, const char *path, const atomic_int *abort,
    const struct http_progress *progress)
{
	struct http_req		 extra;
	struct http_resp	 resp;
	struct backoff		 b;
	struct upload_progress	 up = { name, 0, 0, progress };
	char			*url, *esc;
	enum api_rc		 rc;
	int			 attempt;
	int64_t			 delay;

	if (!name_is_safe(name)) {
		snprintf(a->error, sizeof(a->error), "artifact: unsafe name");
		return API_ERROR;
	}
	esc = http_escape(name);
	url = xasprintf("%s%s", artifact_location, esc);
	memset(&extra, 0, sizeof(extra));
	extra.body_path = path;
	extra.content_type = "application/octet-stream";
	extra.abort = abort;
	extra.timeout = -1;
	extra.on_upload = upload_progress;
	extra.upload_arg = &up;
	backoff_init(&b, ARTIFACT_BACKOFF_MS, ARTIFACT_BACKOFF_CAP_MS);
	for (attempt = 1;; attempt++) {
		up.start = up.last = now_ms();
		http_resp_init(&resp);
		rc = call(a, "PUT", url, NULL, &extra, &resp,
		    "artifact upload");
		http_resp_free(&resp);
		if (rc != API_RETRY || attempt == ARTIFACT_TRIES)
			break;
		delay = backoff_next(&b);
		log_warnx("%s; trying again in %lld ms (%d of %d)", a->error,
		    (long long)delay, attempt + 1, ARTIFACT_TRIES);
		if (sleep_abortable(delay, abort) == -1) {
			rc = API_ABORTED;
			break;
		}
	}
	if (rc == API_NOJOB)
		rc = API_OK;
	free(url);
	free(esc);
	return rc;
}

int
api_server_has_partial(struct api *a)
{
	struct http_resp	 resp;
	json_object		*doc = NULL, *c, *s;
	int			 has = -1;

	http_resp_init(&resp);
	if (call(a, "GET", "openapi", NULL, NULL, &resp, "openapi") != API_OK)
		goto cleanup;
	if ((doc = json_tokener_parse(resp.body.data ? resp.body.data : ""))
	    == NULL)
		goto cleanup;
	has = json_object_object_get_ex(doc, "components", &c) &&
	    json_object_object_get_ex(c, "schemas", &s) &&
	    json_object_object_get_ex(s, "UpdateJobPartial", NULL);
cleanup:
	json_object_put(doc);
	http_resp_free(&resp);
	return has;
}
