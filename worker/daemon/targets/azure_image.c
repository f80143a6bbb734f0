/*
 * org.osbuild.azure.image: the VHD goes up as the page blob
 * imagebuilder/NAME.vhd of the resource group's storage account tagged
 * imageBuilderStorageAccount=location=LOCATION (created when missing),
 * then becomes a managed image through Azure Resource Manager. The
 * service principal comes from [azure] credentials (TOML: client_id,
 * client_secret); the tenant, subscription and group from the target.
 * IB_AZURE_POLL_MS tunes the polling of long-running operations.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azure.h"
#include "cloud.h"
#include "errors.h"
#include "jsonutil.h"
#include "log.h"
#include "metrics.h"
#include "targets.h"
#include "targets/common.h"
#include "targets/progress.h"
#include "util.h"

#define ACCOUNT_TAG	"imageBuilderStorageAccount"
#define CONTAINER	"imagebuilder"

/* Azure image names: 1-80 of [A-Za-z0-9._-], starting with a letter or
 * digit, ending with one or '_'. */
static int
image_name_ok(const char *s)
{
	size_t	 n, i;
	char	 c;

	if (s == NULL || (n = strlen(s)) == 0 || n > 80)
		return 0;
	for (i = 0; i < n; i++) {
		c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	c = s[n - 1];
	return s[0] != '.' && s[0] != '_' && s[0] != '-' && c != '.' &&
	    c != '-';
}

/* "ib" and 22 random hex digits: a fresh storage account name. */
static char *
random_account(void)
{
	unsigned char	 r[11];
	char		*s;
	FILE		*f;
	int		 i;

	if ((f = fopen("/dev/urandom", "re")) == NULL ||
	    fread(r, 1, sizeof(r), f) != sizeof(r))
		fatalx("cannot read /dev/urandom");
	fclose(f);
	s = xmalloc(25);
	memcpy(s, "ib", 2);
	for (i = 0; i < 11; i++)
		snprintf(s + 2 + 2 * i, 3, "%02x", r[i]);
	return s;
}

/* The target's hyperv_generation, else from the job's boot mode; an
 * aarch64 worker's image is Gen2 (Azure's Arm64 VMs have only UEFI). */
static const char *
hyperv(json_object *o, const struct target_ctx *ctx)
{
	const char	*g = json_get_str(o, "hyperv_generation"), *mode = NULL;
	const char	*arch = ctx->conf->worker.arch;

	if (g != NULL && *g)
		return g;
	if (arch != NULL && (strcmp(arch, "aarch64") == 0 ||
	    strcmp(arch, "arm64") == 0))
		return "V2";
	mode = ctx->image_boot_mode;
	return mode != NULL && strcmp(mode, "uefi") == 0 ? "V2" : "V1";
}

static int
run(const struct target_ctx *ctx, json_object *target,
    const char *export_path, json_object **options, struct target_err *err)
{
	const struct config	*conf = ctx->conf;
	struct azure_creds	 creds;
	struct azure_cfg	 ac;
	struct azure		*az = NULL;
	struct target_progress	 tp;
	int			 put;
	json_object		*o = NULL, *v;
	const char		*tenant, *sub, *rg, *image, *gen, *e;
	char			*location = NULL, *account = NULL, *blob = NULL;
	char			*tagval = NULL, *url = NULL, why[512];
	char			 created[32];
	const char		*tags[5];
	time_t			 t;
	struct tm		 tm;
	size_t			 n;
	int64_t			 start;
	int			 rv = -1;

	memset(&creds, 0, sizeof(creds));
	json_object_object_get_ex(target, "options", &o);
	if (o == NULL || !json_object_is_type(o, json_type_object))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "Azure target: no "
		    "options");
	tenant = json_get_str(o, "tenant_id");
	sub = json_get_str(o, "subscription_id");
	rg = json_get_str(o, "resource_group");
	if (!azure_arm_name_ok(tenant) || !azure_arm_name_ok(sub) ||
	    !azure_arm_name_ok(rg))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG, "Azure target: "
		    "tenant_id, subscription_id and resource_group must be "
		    "non-empty names without '/', '?', '#', '%%', spaces or "
		    "control characters");
	image = json_object_object_get_ex(target, "image_name", &v) ?
	    json_object_get_string(v) : NULL;
	if (!image_name_ok(image))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "Azure target: the "
		    "image name must be 1-80 characters of A-Z, a-z, 0-9, '.', "
		    "'_' and '-', start with a letter or digit and not end "
		    "with '.' or '-'");
	gen = hyperv(o, ctx);
	if (strcmp(gen, "V1") != 0 && strcmp(gen, "V2") != 0)
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG, "Azure target: "
		    "hyperv_generation must be V1 or V2");
	if ((e = json_get_str(o, "location")) != NULL && *e &&
	    !azure_arm_name_ok(e))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "Azure target: invalid "
		    "location");
	if (conf->azure.credentials == NULL)
		return target_fail(err, JOB_ERR_SHARING_TARGET,
		    "osbuild job has "
		    "org.osbuild.azure.image target but this worker doesn't "
		    "have azure credentials ([azure] credentials)");
	if (azure_creds_from_file(conf->azure.credentials, &creds, why,
	    sizeof(why)) == -1)
		return target_fail(err, JOB_ERR_INVALID_CONFIG, "%s", why);

	memset(&ac, 0, sizeof(ac));
	ac.tenant = tenant;
	ac.subscription = sub;
	ac.creds = &creds;
	ac.connect_timeout = conf->worker.connect_timeout;
	ac.threads = conf->azure.upload_threads > 0 ?
	    (int)(conf->azure.upload_threads > 64 ? 64 :
	    conf->azure.upload_threads) : 16;
	ac.backoff_cap = conf->worker.backoff_max * 1000;
	ac.abort = ctx->abort;
	if ((e = getenv("IB_AZURE_POLL_MS")) != NULL)
		ac.poll_ms = strtoll(e, NULL, 10);
	az = azure_new(&ac);

	if (azure_login(az) == -1) {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG, "%s", azure_error(az));
		goto cleanup;
	}
	log_info("azure: logged in to tenant %s", tenant);
	if ((e = json_get_str(o, "location")) != NULL && *e)
		location = xstrdup(e);
	else if (azure_rg_location(az, rg, &location) == -1) {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "retrieving resource group "
		    "location failed: %s", azure_error(az));
		goto cleanup;
	}
	tagval = xasprintf("location=%s", location);
	if (azure_find_account(az, rg, ACCOUNT_TAG, tagval, &account) == -1) {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "searching for a storage "
		    "account failed: %s", azure_error(az));
		goto cleanup;
	}
	if (account == NULL) {
		account = random_account();
		log_info("azure: creating storage account %s in %s", account,
		    location);
		if (azure_create_account(az, rg, account, location, ACCOUNT_TAG,
		    tagval) == -1) {
			target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
			    "creating a new "
			    "storage account failed: %s", azure_error(az));
			goto cleanup;
		}
	}
	if (azure_use_account(az, rg, account) == -1 ||
	    azure_container(az, CONTAINER) == -1) {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "preparing storage account "
		    "%s failed: %s", account, azure_error(az));
		goto cleanup;
	}
	n = strlen(image);
	blob = n > 4 && strcmp(image + n - 4, ".vhd") == 0 ? xstrdup(image) :
	    xasprintf("%s.vhd", image);
	log_info("azure: uploading %s to %s/%s/%s (%d in parallel)",
	    export_path, account, CONTAINER, blob, ac.threads);
	start = now_ms();
	azure_set_progress(az, target_progress_start(&tp, ctx,
	    target_azure_image.name, blob));
	put = azure_page_blob_upload(az, CONTAINER, blob, export_path);
	metrics_upload_retries(ctx->metrics, target_azure_image.name,
	    azure_stats(az)->page_retries, azure_stats(az)->retry_after,
	    azure_stats(az)->retry_wait_ms);
	if (put == -1) {
		target_fail(err, JOB_ERR_UPLOAD,
		    "uploading the image failed: %s",
		    azure_aborted(az) ? "canceled" : azure_error(az));
		goto cleanup;
	}
	target_progress_end(&tp);
	log_info("azure: uploaded %lld bytes in %lld pages, skipped %lld "
	    "empty pages, in %lld ms (%d retries, %d in flight at most)",
	    (long long)azure_stats(az)->bytes_sent,
	    (long long)azure_stats(az)->pages_sent,
	    (long long)azure_stats(az)->pages_skipped,
	    (long long)(now_ms() - start), azure_stats(az)->retries,
	    azure_stats(az)->max_inflight);
	url = azure_blob_url(az, CONTAINER, blob);
	log_info("azure: registering image %s (%s) in %s", image, gen,
	    location);
	/* The fleet's mark and date, which ib-maintenance reads (cloud.h). */
	t = time(NULL);
	gmtime_r(&t, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	tags[0] = CLOUD_FLEET_KEY;
	tags[1] = CLOUD_FLEET_VALUE;
	tags[2] = CLOUD_CREATED_KEY;
	tags[3] = created;
	tags[4] = NULL;
	if (azure_image_create(az, rg, image, location, url, gen, tags) ==
	    -1) {
		target_fail(err, JOB_ERR_IMPORT,
		    "registering the image failed: %s",
		    azure_aborted(az) ? "canceled" : azure_error(az));
		goto cleanup;
	}
	log_info("azure: image %s registered", image);
	*options = json_object_new_object();
	json_object_object_add(*options, "image_name",
	    json_object_new_string(image));
	rv = 0;
cleanup:
	azure_free(az);
	azure_creds_clear(&creds);
	free(location);
	free(account);
	free(blob);
	free(tagval);
	free(url);
	return rv;
}

const struct target_kind target_azure_image = { "org.osbuild.azure.image", run };
