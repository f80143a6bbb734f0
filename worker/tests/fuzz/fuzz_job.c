/* fuzz-sources: worker/lib/util.c worker/lib/log.c worker/daemon/job.c worker/lib/http.c worker/daemon/jobs/jobs.c worker/daemon/jobs/file_resolve.c */
/*
 * libFuzzer target for what the worker does with a job document from the
 * composer before running anything: JSON parsing, job_parse (refused, or
 * accepted with locations that are plain paths and fields of the right
 * types), the kind lookup, and file-resolve's argument checks and result
 * shape for URLs it refuses without touching the network.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "jobs/jobs.h"
#include "log.h"
#include "util.h"

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_job: %s:%d: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

/*
 * The other kinds are never run here; these entries stand in for them so
 * that the real table in jobs.c links without the whole worker. A kind
 * added to the table needs a line here.
 */
static json_object *
not_run(struct job *j, const struct job_ctx *c)
{
	abort();
}
#define NOT_RUN(v, n) const struct job_kind v = { n, not_run, 1, NULL };
NOT_RUN(job_kind_osbuild, "osbuild")
NOT_RUN(job_kind_depsolve, "depsolve")
NOT_RUN(job_kind_aws_ec2_copy, "aws-ec2-copy")
NOT_RUN(job_kind_aws_ec2_share, "aws-ec2-share")
NOT_RUN(job_kind_search_packages, "search-packages")
NOT_RUN(job_kind_ostree_resolve, "ostree-resolve")
NOT_RUN(job_kind_container_resolve, "container-resolve")
NOT_RUN(job_kind_bootc_info_resolve, "bootc-info-resolve")
NOT_RUN(job_kind_koji_init, "koji-init")
NOT_RUN(job_kind_koji_finalize, "koji-finalize")

/*
 * What job.c promises of a location it accepted: a plain path, appended
 * to the server's URL as it is, so no query, fragment, blank or control
 * byte, and no "." or ".." segment (curl would resolve it to another
 * endpoint), wherever it stands.
 */
static void
check_path(const char *p)
{
	const unsigned char	*s;
	const char		*seg, *end;
	size_t			 n;

	CHECK(p != NULL && p[0] == '/');
	for (s = (const unsigned char *)p; *s; s++)
		CHECK(*s > 0x20 && *s != 0x7f && *s != '?' && *s != '#' &&
		    *s != '\\');
	for (seg = p + 1; ; seg = end + 1) {
		end = strchr(seg, '/');
		n = end != NULL ? (size_t)(end - seg) : strlen(seg);
		CHECK(!(n == 1 && seg[0] == '.'));
		CHECK(!(n == 2 && seg[0] == '.' && seg[1] == '.'));
		if (end == NULL)
			break;
	}
}

static const char *
doc_string(json_object *doc, const char *key)
{
	json_object	*v;

	if (!json_object_object_get_ex(doc, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* 1 when file-resolve would fetch something over the network. */
static int
needs_network(json_object *args)
{
	json_object	*urls, *u;
	size_t		 i, n;
	int		 net = 0;

	if (!json_object_object_get_ex(args, "urls", &urls) ||
	    !json_object_is_type(urls, json_type_array))
		return 0;
	n = json_object_array_length(urls);
	if (n > 256)
		return 0;
	for (i = 0; i < n; i++) {
		u = json_object_array_get_idx(urls, i);
		if (!json_object_is_type(u, json_type_string))
			return 0;
		if (strncasecmp(json_object_get_string(u), "http://", 7) == 0 ||
		    strncasecmp(json_object_get_string(u), "https://", 8) == 0)
			net = 1;
	}
	return net;
}

static void
check_file_resolve(struct job *j)
{
	static struct config	 conf;
	struct job_ctx		 ctx;
	json_object		*res, *e, *v, *urls;
	size_t			 n = 0;

	conf.worker.connect_timeout = 1;
	conf.worker.transfer_timeout = 1;
	conf.worker.file_resolve_max = 1024;
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = &conf;
	res = job_kind_file_resolve.run(j, &ctx);
	CHECK(res != NULL && json_object_is_type(res, json_type_object));
	e = job_result_error(res);
	if (json_object_object_get_ex(res, "results", &v)) {
		/* Every URL got an answer: content or a target_error. */
		CHECK(json_object_object_get_ex(j->args, "urls", &urls));
		n = json_object_array_length(urls);
		CHECK(json_object_is_type(v, json_type_array));
		CHECK(json_object_array_length(v) == n);
		CHECK(json_object_object_get_ex(res, "success", &v));
		CHECK(json_object_is_type(v, json_type_boolean));
		/* Nothing is fetched here, so nothing can succeed. */
		CHECK(!json_object_get_boolean(v));
		CHECK(e != NULL);
		CHECK(json_object_get_int(json_object_object_get(e, "id")) ==
		    JOB_ERR_REMOTE_FILE_RESOLUTION);
	} else {
		CHECK(e != NULL);
		CHECK(json_object_get_int(json_object_object_get(e, "id")) ==
		    JOB_ERR_PARSING_ARGS);
	}
	CHECK(json_object_is_type(json_object_object_get(e, "reason"),
	    json_type_string));
	/* The result must serialize: it goes to the server as is. */
	CHECK(json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN) !=
	    NULL);
	json_object_put(res);
}

static void
check_job(struct job *j, json_object *doc)
{
	const struct job_kind	*k;
	const char		*s;

	CHECK(j->doc == doc);
	check_path(j->location);
	CHECK(strlen(j->location) <= 1024);
	check_path(j->artifact_location);
	CHECK(j->id != NULL && j->id[0] != '\0');
	CHECK(j->type != NULL && j->type[0] != '\0');
	CHECK(j->args != NULL && json_object_is_type(j->args,
	    json_type_object));
	CHECK(j->dynamic_args == NULL || json_object_is_type(j->dynamic_args,
	    json_type_array));
	CHECK(j->invalid == NULL || j->invalid[0] != '\0');
	CHECK(!job_canceled(j));
	if (j->invalid == NULL) {
		CHECK((s = doc_string(doc, "id")) != NULL);
		CHECK(strcmp(s, j->id) == 0);
		CHECK((s = doc_string(doc, "type")) != NULL);
		CHECK(strcmp(s, j->type) == 0);
	}

	if ((k = job_kind_find(j->type)) != NULL)
		CHECK(strcmp(k->name, j->type) == 0 && k->run != NULL);
	if (j->invalid == NULL && k != NULL &&
	    strcmp(k->name, "file-resolve") == 0 && !needs_network(j->args))
		check_file_resolve(j);
}

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int		 init;
	struct json_tokener	*tok;
	json_object		*doc;
	struct job		*j;
	char			 err[256];

	if (!init) {
		log_init(0, LOG_TEXT);
		init = 1;
	}
	if ((tok = json_tokener_new()) == NULL)
		abort();
	doc = json_tokener_parse_ex(tok, (const char *)data, (int)size);
	json_tokener_free(tok);
	if (doc == NULL)
		return 0;

	/* A job document is never mistaken for a result's error. */
	(void)job_result_error(doc);

	err[0] = '\0';
	if ((j = job_parse(doc, err, sizeof(err))) == NULL) {
		CHECK(err[0] != '\0');
		json_object_put(doc);
		return 0;
	}
	check_job(j, doc);
	job_free(j);
	return 0;
}
