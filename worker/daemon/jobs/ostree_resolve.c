/*
 * ostree-resolve: the commit checksum of each ref, read from the
 * repository over HTTP (URL/refs/heads/REF). Repositories under
 * [repository_mtls] baseurl, and specs with rhsm set, are read with that
 * table's CA and client certificate. Errors carry the reference's ids:
 * 32 bad ref, 33 resolution (server's status, bad checksum), 34 bad params.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "jobs/jobs.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"

#define OR_MAX_SPECS	64
#define OR_MAX_REF	1024
#define OR_MAX_URL	4096
#define OR_MAX_BODY	4096

static int
word_char(int c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/*
 * The reference's ref syntax: slash-separated components, each starting
 * with a letter, digit or '_' and going on with those or "-._".
 */
static int
ref_valid(const char *ref)
{
	const char	*p = ref;

	if (*ref == '\0' || strlen(ref) > OR_MAX_REF)
		return 0;
	for (;;) {
		if (!word_char(*p))
			return 0;
		for (p++; word_char(*p) || *p == '-' || *p == '.'; p++)
			;
		if (*p == '\0')
			return 1;
		if (*p != '/')
			return 0;
		p++;
	}
}

/* A checksum is 64 lower- or upper-case hex digits. */
static int
checksum_valid(const char *s, size_t n)
{
	size_t	 i;

	if (n != 64)
		return 0;
	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

struct resolver {
	const struct config	*conf;
	struct job		*job;
	struct http		*plain;
	struct http		*mtls;
};

static struct http *
handle(struct resolver *r, int mtls)
{
	const struct config	*c = r->conf;
	struct http_opts	 o;

	if (mtls && r->mtls != NULL)
		return r->mtls;
	if (!mtls && r->plain != NULL)
		return r->plain;
	memset(&o, 0, sizeof(o));
	o.connect_timeout = c->worker.connect_timeout;
	o.transfer_timeout = c->worker.transfer_timeout;
	o.max_body = OR_MAX_BODY;
	if (mtls) {
		o.ca_bundle = c->repository_mtls.ca;
		o.client_cert = c->repository_mtls.mtls_client_cert;
		o.client_key = c->repository_mtls.mtls_client_key;
		o.proxy = c->repository_mtls.proxy;
		return r->mtls = http_new(&o);
	}
	return r->plain = http_new(&o);
}

/*
 * Resolves one spec into a result spec; on failure sets the job error on
 * result and returns NULL.
 */
static json_object *
resolve(struct resolver *r, json_object *spec, json_object *result)
{
	struct http_req		 req;
	struct http_resp	 resp;
	json_object		*out = NULL, *v;
	const char		*url, *ref;
	char			*full = NULL, details[1024], *body, *shown = NULL;
	char			*why;
	size_t			 n;
	int			 rhsm = 0, mtls;

	if (!json_object_is_type(spec, json_type_object)) {
		job_set_error(result, JOB_ERR_OSTREE_PARAMS_INVALID,
		    "Invalid OSTree parameters or parameter combination",
		    json_object_new_string("a spec is not an object"));
		return NULL;
	}
	url = json_get_str(spec, "url");
	ref = json_get_str(spec, "ref");
	if (json_object_object_get_ex(spec, "rhsm", &v) &&
	    json_object_is_type(v, json_type_boolean))
		rhsm = json_object_get_boolean(v);
	if (ref == NULL || !ref_valid(ref)) {
		snprintf(details, sizeof(details), "Invalid ostree ref %.256s",
		    ref ? ref : "(none)");
		job_set_error(result, JOB_ERR_OSTREE_REF_INVALID,
		    "Invalid OSTree ref", json_object_new_string(details));
		return NULL;
	}
	if (url == NULL || strlen(url) > OR_MAX_URL ||
	    (strncasecmp(url, "http://", 7) != 0 &&
	    strncasecmp(url, "https://", 8) != 0) || url_origin_len(url) <= 8 ||
	    strpbrk(url, " \t\r\n") != NULL) {
		shown = url_redact(url);
		snprintf(details, sizeof(details), "the repository URL %.512s "
		    "is not an http or https URL", shown);
		free(shown);
		job_set_error(result, JOB_ERR_OSTREE_PARAMS_INVALID,
		    "Invalid OSTree parameters or parameter combination",
		    json_object_new_string(details));
		return NULL;
	}
	mtls = (r->conf->repository_mtls.baseurl != NULL &&
	    url_under(url, r->conf->repository_mtls.baseurl)) || rhsm;
	if (mtls && (r->conf->repository_mtls.mtls_client_cert == NULL ||
	    r->conf->repository_mtls.mtls_client_key == NULL)) {
		job_set_error(result, JOB_ERR_OSTREE_REF_RESOLUTION,
		    "Error resolving OSTree ref", json_object_new_string(
		    "error adding rhsm certificates when resolving ref: no "
		    "[repository_mtls] client certificate configured"));
		return NULL;
	}
	/* The ref goes into the path, before a (presigned) query string. */
	n = strcspn(url, "?#");
	full = xasprintf("%.*s%srefs/heads/%s%s", (int)n, url,
	    n > 0 && url[n - 1] == '/' ? "" : "/", ref, url + n);
	/* Errors and logs name the repository without credentials. */
	shown = url_redact(full);
	memset(&req, 0, sizeof(req));
	req.url = full;
	req.abort = &r->job->canceled;
	http_resp_init(&resp);
	if (http_do(handle(r, mtls), &req, &resp) == -1) {
		why = text_redact_urls(resp.error);
		snprintf(details, sizeof(details), "ostree repository %s: %s",
		    shown, why);
		free(why);
		job_set_error(result, JOB_ERR_OSTREE_REF_RESOLUTION,
		    "Error resolving OSTree ref", json_object_new_string(details));
		goto cleanup;
	}
	if (resp.status != 200) {
		snprintf(details, sizeof(details), "ostree repository %s "
		    "returned status: %ld", shown, resp.status);
		job_set_error(result, JOB_ERR_OSTREE_REF_RESOLUTION,
		    "Error resolving OSTree ref", json_object_new_string(details));
		goto cleanup;
	}
	body = resp.body.data ? resp.body.data : "";
	rtrim(body);
	while (isspace((unsigned char)*body))
		body++;
	n = strlen(body);
	if (!checksum_valid(body, n)) {
		snprintf(details, sizeof(details), "ostree repository %s "
		    "returned invalid reference (bad checksum format)", shown);
		job_set_error(result, JOB_ERR_OSTREE_REF_RESOLUTION,
		    "Error resolving OSTree ref", json_object_new_string(details));
		goto cleanup;
	}
	out = json_object_new_object();
	json_object_object_add(out, "url", json_object_new_string(url));
	json_object_object_add(out, "ref", json_object_new_string(ref));
	json_object_object_add(out, "checksum", json_object_new_string(body));
	/* The reference's key for the RHSM flag really is "bool". */
	json_object_object_add(out, "bool", json_object_new_boolean(rhsm));
	json_object_object_add(out, "secrets", json_object_new_string(
	    rhsm ? "org.osbuild.rhsm.consumer" : ""));
	log_info("ostree-resolve: %s -> %s", shown, body);
cleanup:
	http_resp_free(&resp);
	free(full);
	free(shown);
	return out;
}

static json_object *
ostree_resolve_run(struct job *job, const struct job_ctx *ctx)
{
	struct resolver	 r;
	json_object	*result, *specs, *out, *item;
	size_t		 i, n;

	result = json_object_new_object();
	out = json_object_new_array();
	json_object_object_add(result, "ostree_resolve_result_specs", out);
	if (!json_object_object_get_ex(job->args, "ostree_resolve_specs",
	    &specs) || !json_object_is_type(specs, json_type_array) ||
	    json_object_array_length(specs) > OR_MAX_SPECS) {
		job_set_error(result, JOB_ERR_OSTREE_PARAMS_INVALID,
		    "Invalid OSTree parameters or parameter combination",
		    json_object_new_string("args.ostree_resolve_specs must be "
		    "a list of at most 64 specs"));
		return result;
	}
	memset(&r, 0, sizeof(r));
	r.conf = ctx->conf;
	r.job = job;
	n = json_object_array_length(specs);
	log_info("ostree-resolve: resolving %zu refs", n);
	for (i = 0; i < n; i++) {
		item = resolve(&r, json_object_array_get_idx(specs, i), result);
		if (item == NULL)
			break;
		json_object_array_add(out, item);
	}
	http_free(r.plain);
	http_free(r.mtls);
	return result;
}

const struct job_kind job_kind_ostree_resolve = {
	"ostree-resolve", ostree_resolve_run, 1, NULL
};
