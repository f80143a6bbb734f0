/*
 * org.osbuild.worker.server: the export goes back to the composer itself,
 * streamed with PUT to the job's artifact location under the target's
 * image name. The result names the artifact so the composer can serve it.
 * Its progress goes to the same composer as it goes out (progress.h).
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "errors.h"
#include "log.h"
#include "targets.h"
#include "targets/progress.h"
#include "util.h"

static int
run(const struct target_ctx *ctx, json_object *target,
    const char *export_path, json_object **options, struct target_err *err)
{
	struct target_progress	 tp;
	json_object		*v;
	const char		*image_name = NULL;
	enum api_rc		 rc;
	int64_t			 start;

	if (json_object_object_get_ex(target, "image_name", &v))
		image_name = json_object_get_string(v);
	if (image_name == NULL || !name_is_safe(image_name)) {
		/* A target setting: 2, as the reference's target errors. */
		err->id = JOB_ERR_INVALID_TARGET_CONFIG;
		snprintf(err->reason, sizeof(err->reason),
		    "worker.server target: missing or unsafe image_name");
		return -1;
	}
	if (ctx->api == NULL || ctx->artifact_location == NULL) {
		err->id = JOB_ERR_UPLOAD;
		snprintf(err->reason, sizeof(err->reason),
		    "worker.server target: no composer connection to upload to");
		return -1;
	}
	log_info("worker.server: uploading %s as %s", export_path, image_name);
	start = now_ms();
	rc = api_upload_artifact(ctx->api, ctx->artifact_location, image_name,
	    export_path, ctx->abort, target_progress_start(&tp, ctx,
	    target_worker_server.name, image_name));
	if (rc != API_OK) {
		err->id = JOB_ERR_UPLOAD;
		snprintf(err->reason, sizeof(err->reason),
		    "uploading the artifact failed: %s",
		    rc == API_ABORTED ? "canceled" : api_error(ctx->api));
		return -1;
	}
	target_progress_end(&tp);
	log_info("worker.server: uploaded %s in %lld ms", image_name,
	    (long long)(now_ms() - start));
	*options = json_object_new_object();
	json_object_object_add(*options, "artifact_relative_path",
	    json_object_new_string(image_name));
	return 0;
}

const struct target_kind target_worker_server = { "org.osbuild.worker.server", run };
