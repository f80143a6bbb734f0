/*
 * org.osbuild.azure, the legacy target: the VHD goes up as the page blob
 * IMAGE_NAME.vhd of the target's container in the target's storage
 * account, signed with the account key the target carries (SharedKey).
 * No Resource Manager, no image: org.osbuild.azure.image does those. The
 * container must exist, as for the reference. The result has no options.
 */
#include <stdlib.h>
#include <string.h>

#include "azure.h"
#include "errors.h"
#include "jsonutil.h"
#include "log.h"
#include "targets.h"
#include "targets/common.h"
#include "util.h"

#define THREADS	4	/* the reference's, unless [azure] upload_threads */

/* Container names: 3-63 of a-z, 0-9 and '-', starting and ending with a
 * letter or digit, no "--". */
static int
container_ok(const char *s)
{
	size_t	 n, i;

	if (s == NULL || (n = strlen(s)) < 3 || n > 63 || s[0] == '-' ||
	    s[n - 1] == '-' || strstr(s, "--") != NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* Blob names from a job: [A-Za-z0-9._/-] only (no escaping needed in the
 * URL or the string to sign), and azure_blob_ok()'s segments. */
static int
blob_ok(const char *s)
{
	return azure_blob_ok(s) && target_path_chars_ok(s);
}

static int
run(const struct target_ctx *ctx, json_object *target,
    const char *export_path, json_object **options, struct target_err *err)
{
	const struct config	*conf = ctx->conf;
	struct azure_cfg	 ac;
	struct azure		*az = NULL;
	json_object		*o = NULL;
	const char		*account, *key, *container, *image;
	char			*blob = NULL;
	size_t			 n;
	int64_t			 start;
	int			 rv = -1;

	(void)options;			/* the reference's result has none */
	json_object_object_get_ex(target, "options", &o);
	if (o == NULL || !json_object_is_type(o, json_type_object))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "Azure storage target: no options");
	account = json_get_str(o, "storageAccount");
	key = json_get_str(o, "storageAccessKey");
	container = json_get_str(o, "container");
	image = json_get_str(target, "image_name");
	if (!container_ok(container))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "Azure storage target: the container must be 3-63 of "
		    "a-z, 0-9 and '-', starting and ending with a letter or "
		    "digit, without \"--\"");
	if (image == NULL || (n = strlen(image)) == 0 || n > 1000)
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "Azure storage target: no image name");
	/* Azure makes images only of blobs named *.vhd. */
	blob = n > 4 && strcmp(image + n - 4, ".vhd") == 0 ? xstrdup(image) :
	    xasprintf("%s.vhd", image);
	if (!blob_ok(blob)) {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG, "Azure storage "
		    "target: the image name must be of A-Z, a-z, 0-9, '.', "
		    "'_', '-' and '/', without empty, '.' or '..' segments");
		goto cleanup;
	}

	memset(&ac, 0, sizeof(ac));
	ac.connect_timeout = conf->worker.connect_timeout;
	ac.threads = conf->azure.upload_threads > 0 ?
	    (int)(conf->azure.upload_threads > 64 ? 64 :
	    conf->azure.upload_threads) : THREADS;
	ac.backoff_cap = conf->worker.backoff_max * 1000;
	ac.abort = ctx->abort;
	az = azure_new(&ac);
	if (azure_use_key(az, account, key) == -1) {
		target_fail(err, JOB_ERR_INVALID_CONFIG, "%s", azure_error(az));
		goto cleanup;
	}
	log_info("azure: uploading %s to %s/%s/%s (%d in parallel)",
	    export_path, account, container, blob, ac.threads);
	start = now_ms();
	if (azure_page_blob_upload(az, container, blob, export_path) == -1) {
		target_fail(err, JOB_ERR_UPLOAD, "uploading the image failed: "
		    "%s", azure_aborted(az) ? "canceled" : azure_error(az));
		goto cleanup;
	}
	log_info("azure: uploaded %lld bytes in %lld pages, skipped %lld "
	    "empty pages, in %lld ms (%d retries)",
	    (long long)azure_stats(az)->bytes_sent,
	    (long long)azure_stats(az)->pages_sent,
	    (long long)azure_stats(az)->pages_skipped,
	    (long long)(now_ms() - start), azure_stats(az)->retries);
	rv = 0;
cleanup:
	azure_free(az);
	free(blob);
	return rv;
}

const struct target_kind target_azure_storage = { "org.osbuild.azure", run };
