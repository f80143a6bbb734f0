/*
 * file-resolve: download each URL of the job and return its content in
 * base64, with an error per URL that could not be fetched. Contents are
 * bounded ([worker] file_resolve_max) since they travel in the result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "jobs/jobs.h"
#include "log.h"
#include "util.h"

#define FILE_RESOLVE_MAX_URLS	256

/*
 * The item's "url" is the composer's own key, sent back as given; the
 * reason and the log show a redacted copy (userinfo, query string).
 */
static json_object *
item_error(const char *url, const char *fmt, const char *why)
{
	json_object	*item = json_object_new_object(), *e;
	char		 reason[512], *shown;

	shown = text_redact_urls(why);
	snprintf(reason, sizeof(reason), fmt, shown);
	free(shown);
	e = json_object_new_object();
	json_object_object_add(e, "id",
	    json_object_new_int(JOB_ERR_REMOTE_FILE_RESOLUTION));
	json_object_object_add(e, "reason", json_object_new_string(reason));
	json_object_object_add(item, "url", json_object_new_string(url));
	json_object_object_add(item, "content", NULL);
	json_object_object_add(item, "target_error", e);
	return item;
}

static json_object *
resolve_one(struct http *h, const char *url, const struct job *job)
{
	struct http_req		 req;
	struct http_resp	 resp;
	json_object		*item;
	char			*b64, *shown, status[32];

	if (strncasecmp(url, "http://", 7) != 0 &&
	    strncasecmp(url, "https://", 8) != 0)
		return item_error(url, "%s", "only http and https URLs can "
		    "be resolved");
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = url;
	req.abort = &job->canceled;
	http_resp_init(&resp);
	if (http_do(h, &req, &resp) == -1) {
		item = item_error(url, "cannot fetch the file: %s",
		    resp.error);
		goto cleanup;
	}
	if (resp.status != 200) {
		snprintf(status, sizeof(status), "%ld", resp.status);
		item = item_error(url, "the server answered HTTP %s", status);
		goto cleanup;
	}
	item = json_object_new_object();
	b64 = base64_encode(resp.body.data ? resp.body.data : "",
	    resp.body.len);
	json_object_object_add(item, "url", json_object_new_string(url));
	json_object_object_add(item, "content", json_object_new_string(b64));
	free(b64);
	shown = url_redact(url);
	log_info("file-resolve: %s: %zu bytes", shown, resp.body.len);
	free(shown);
cleanup:
	http_resp_free(&resp);
	return item;
}

static json_object *
file_resolve_run(struct job *job, const struct job_ctx *ctx)
{
	struct http_opts	 o;
	struct http		*h = NULL;
	json_object		*result, *urls, *results, *errors, *item, *e;
	char			*shown;
	size_t			 i, n;

	if (!json_object_object_get_ex(job->args, "urls", &urls) ||
	    !json_object_is_type(urls, json_type_array))
		return job_error_result(JOB_ERR_PARSING_ARGS,
		    "file-resolve: args.urls must be an array of URLs", NULL);
	n = json_object_array_length(urls);
	if (n > FILE_RESOLVE_MAX_URLS)
		return job_error_result(JOB_ERR_PARSING_ARGS,
		    "file-resolve: too many URLs", NULL);
	for (i = 0; i < n; i++)
		if (job_string(json_object_array_get_idx(urls, i)) == NULL)
			return job_error_result(JOB_ERR_PARSING_ARGS,
			    "file-resolve: args.urls must be an array of "
			    "strings (without NUL)", NULL);

	memset(&o, 0, sizeof(o));
	o.connect_timeout = ctx->conf->worker.connect_timeout;
	o.transfer_timeout = ctx->conf->worker.transfer_timeout;
	o.max_body = (size_t)ctx->conf->worker.file_resolve_max;
	h = http_new(&o);

	result = json_object_new_object();
	results = json_object_new_array();
	errors = json_object_new_array();
	log_info("file-resolve: resolving %zu URLs", n);
	for (i = 0; i < n && !job_canceled(job); i++) {
		item = resolve_one(h, job_string(
		    json_object_array_get_idx(urls, i)), job);
		if (json_object_object_get_ex(item, "target_error", &e)) {
			shown = url_redact(json_object_get_string(
			    json_object_object_get(item, "url")));
			log_warnx("file-resolve: %s: %s", shown,
			    json_object_get_string(json_object_object_get(e,
			    "reason")));
			free(shown);
			json_object_array_add(errors, json_object_get(e));
		}
		json_object_array_add(results, item);
	}
	http_free(h);
	json_object_object_add(result, "success", json_object_new_boolean(
	    json_object_array_length(errors) == 0 && n > 0));
	json_object_object_add(result, "results", results);
	if (n == 0) {
		job_set_error(result, JOB_ERR_REMOTE_FILE_RESOLUTION,
		    "Error resolving file contents",
		    json_object_new_string("All remote file contents returned "
		    "empty"));
		json_object_put(errors);
	} else if (json_object_array_length(errors) > 0)
		job_set_error(result, JOB_ERR_REMOTE_FILE_RESOLUTION,
		    "at least one file resolution failed", errors);
	else
		json_object_put(errors);
	return result;
}

const struct job_kind job_kind_file_resolve = {
	"file-resolve", file_resolve_run, 1, NULL
};
