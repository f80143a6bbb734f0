/*
 * An osbuild job's targets, run in order once the build has exported: each
 * gets the exported file and the job's cancellation flag, and its outcome
 * becomes one of the job result's target_results, a failure also an entry
 * of the errors the caller puts in the job error, as the reference worker
 * writes them. Knows nothing of the job itself.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "errors.h"
#include "jsonutil.h"
#include "log.h"
#include "metrics.h"
#include "targets.h"
#include "util.h"

/*
 * Checks export_name/export_filename under outdir without following a
 * symbolic link at either step (O_NOFOLLOW): it must be a regular file
 * inside the build's output. 0, or -1 with why.
 */
static int
export_check(const char *outdir, const char *ename, const char *efile,
    char *why, size_t whylen)
{
	struct stat	 st;
	int		 dfd = -1, efd = -1, fd = -1, rv = -1;

	if ((dfd = open(outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(why, whylen, "osbuild did not export %s/%s", ename,
		    efile);
		goto cleanup;
	}
	if ((efd = openat(dfd, ename, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 ||
	    (fd = openat(efd, efile, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1) {
		if (errno == ELOOP || errno == ENOTDIR)
			snprintf(why, whylen, "export %s/%s is a symbolic link "
			    "or lies in one: refused", ename, efile);
		else
			snprintf(why, whylen, "osbuild did not export %s/%s",
			    ename, efile);
		goto cleanup;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "export %s/%s is not a regular file",
		    ename, efile);
		goto cleanup;
	}
	rv = 0;
cleanup:
	if (fd != -1)
		close(fd);
	if (efd != -1)
		close(efd);
	if (dfd != -1)
		close(dfd);
	return rv;
}

json_object *
targets_run(json_object *result, const struct target_ctx *tctx,
    int generation, json_object *targets, const char *outdir)
{
	json_object		*results, *errors;
	size_t			 i, n;

	results = json_object_new_array();
	errors = json_object_new_array();
	n = json_object_array_length(targets);
	for (i = 0; i < n; i++) {
		json_object *t = json_object_array_get_idx(targets, i), *art;
		json_object *tr, *opts = NULL;
		const struct target_kind *k;
		struct target_err terr;
		char *path;

		json_object_object_get_ex(t, "osbuild_artifact", &art);
		k = target_kind_find(json_get_str(t, "name"));
		tr = json_object_new_object();
		json_object_object_add(tr, "name",
		    json_object_new_string(k->name));
		json_object_object_add(tr, "osbuild_artifact",
		    json_object_get(art));
		memset(&terr, 0, sizeof(terr));
		path = xasprintf("%s/%s/%s", outdir,
		    json_get_str(art, "export_name"),
		    json_get_str(art, "export_filename"));
		if (tctx->abort != NULL && atomic_load(tctx->abort)) {
			terr.id = JOB_ERR_UPLOAD;
			snprintf(terr.reason, sizeof(terr.reason),
			    "the job was canceled");
		} else if (export_check(outdir, json_get_str(art,
		    "export_name"), json_get_str(art, "export_filename"),
		    terr.reason, sizeof(terr.reason)) == -1) {
			terr.id = JOB_ERR_INVALID_TARGET_CONFIG;
		} else {
			struct log_num nums[] = { { "duration_ms", 0 },
			    { "bytes", 0 }, { NULL, 0 } };
			struct stat st;
			int64_t start = now_ms();

			log_info("target %zu: %s", i, k->name);
			if (k->run(tctx, t, path, &opts, &terr) == 0)
				terr.id = 0;
			else if (terr.id == 0)
				terr.id = JOB_ERR_UPLOAD;
			nums[0].value = now_ms() - start;
			nums[1].value = stat(path, &st) == 0 ?
			    (int64_t)st.st_size : 0;
			metrics_upload(tctx->metrics, k->name, nums[1].value,
			    nums[0].value / 1000.0, terr.id == 0);
			if (terr.id == 0)
				log_info_n(nums, "target %zu (%s) done", i,
				    k->name);
		}
		free(path);
		if (terr.id == 0) {
			if (opts != NULL && target_result_takes_options(
			    k->name, generation))
				json_object_object_add(tr, "options", opts);
			else if (opts == NULL && target_result_failed_options(
			    k->name, generation) == TARGET_OPTS_NULL)
				/* No options (vmware): the reference's nil. */
				json_object_object_add(tr, "options", NULL);
			else
				json_object_put(opts);
		} else {
			json_object *e = json_object_new_object(), *je;

			log_warnx("target %zu (%s) failed: %s", i, k->name,
			    terr.reason);
			json_object_put(opts);
			switch (target_result_failed_options(k->name,
			    generation)) {
			case TARGET_OPTS_NULL:
				json_object_object_add(tr, "options", NULL);
				break;
			case TARGET_OPTS_OBJECT:
				opts = json_object_new_object();
				json_object_object_add(opts,
				    "artifact_relative_path",
				    json_object_new_string(json_get_str(t,
				    "image_name") ? json_get_str(t, "image_name") :
				    ""));
				json_object_object_add(tr, "options", opts);
				break;
			}
			json_object_object_add(e, "id",
			    json_object_new_int(terr.id));
			json_object_object_add(e, "reason",
			    json_object_new_string(terr.reason));
			if (terr.details != NULL)
				json_object_object_add(e, "details",
				    terr.details);
			json_object_object_add(tr, "target_error", e);
			/* The job error names the target, as the reference's. */
			je = json_object_new_object();
			json_object_object_add(je, "id",
			    json_object_new_int(terr.id));
			json_object_object_add(je, "reason",
			    json_object_new_string(terr.reason));
			json_object_object_add(je, "details",
			    json_object_new_string(k->name));
			json_object_array_add(errors, je);
		}
		json_object_array_add(results, tr);
	}
	json_object_object_add(result, "target_results", results);
	if (json_object_array_length(errors) > 0)
		return errors;
	json_object_put(errors);
	return NULL;
}
