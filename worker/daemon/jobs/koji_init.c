/*
 * koji-init: reserves a build on the Koji hub the job names (CGInitBuild
 * as the content generator "osbuild"), answering its build_id and the
 * token koji-finalize imports with. The token is the build's credential:
 * it goes to the composer, never to the log.
 */
#include <stdio.h>
#include <string.h>

#include "jobs/jobs.h"
#include "jobs/kojihub.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"

static json_object *
koji_init_run(struct job *job, const struct job_ctx *ctx)
{
	json_object	*result, *params, *info, *out = NULL;
	const char	*server, *token, *f[3] = { "name", "version", "release" };
	struct koji	*k = NULL;
	char		 err[1200];
	int64_t		 id = -1;
	size_t		 i;

	server = json_get_str(job->args, "server");
	for (i = 0; i < 3; i++)
		if (json_get_str(job->args, f[i]) == NULL ||
		    !text_is_printable(json_get_str(job->args, f[i]), 256))
			return job_error_result(JOB_ERR_PARSING_ARGS, "koji-init: "
			    "server, name, version and release are needed",
			    NULL);
	result = json_object_new_object();
	json_object_object_add(result, "build_id", json_object_new_int64(0));
	json_object_object_add(result, "token", json_object_new_string(""));
	json_object_object_add(result, "koji_error", json_object_new_string(""));
	if ((k = kojihub_open(ctx->conf, server, &job->canceled, err,
	    sizeof(err))) == NULL) {
		job_set_error(result, JOB_ERR_KOJI_INIT, err, NULL);
		return result;
	}
	params = json_object_new_array();
	json_object_array_add(params, json_object_new_string("osbuild"));
	info = json_object_new_object();
	for (i = 0; i < 3; i++)
		json_copy_str(info, f[i], job->args, f[i]);
	json_object_array_add(params, info);
	if (koji_call(k, "CGInitBuild", params, &out) == -1) {
		job_set_error(result, JOB_ERR_KOJI_INIT, koji_error(k), NULL);
		goto cleanup;
	}
	token = json_get_str(out, "token");
	if (json_get_int(out, "build_id", &id) == -1 || id < 0 ||
	    token == NULL || !text_is_printable(token, 1024)) {
		job_set_error(result, JOB_ERR_KOJI_INIT, "invalid koji init "
		    "job build ID or token in the hub's answer", NULL);
		goto cleanup;
	}
	log_info("koji-init: build %lld reserved for %s-%s-%s", (long long)id,
	    json_get_str(job->args, "name"), json_get_str(job->args, "version"),
	    json_get_str(job->args, "release"));
	json_object_object_add(result, "build_id", json_object_new_int64(id));
	json_object_object_add(result, "token", json_object_new_string(token));
cleanup:
	json_object_put(params);
	json_object_put(out);
	kojihub_close(k);
	return result;
}

const struct job_kind job_kind_koji_init = {
	"koji-init", koji_init_run, 1, kojihub_available
};
