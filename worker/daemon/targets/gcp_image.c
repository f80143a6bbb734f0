/*
 * org.osbuild.gcp: the export (a tar.gz holding disk.raw, GCE's rawDisk
 * format, uploaded as osbuild made it) goes to a GCS bucket, Compute
 * Engine imports it as an image, the object is deleted whatever happened,
 * and the image is optionally shared by adding roles/compute.imageUser
 * members. Credentials: the target's base64 "credentials" or [gcp]
 * credentials (a service-account JSON key file).
 * IB_GCP_CHUNK_SIZE and IB_GCP_POLL_MS tune the upload and the polling.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud.h"
#include "errors.h"
#include "gcp.h"
#include "jsonutil.h"
#include "log.h"
#include "metrics.h"
#include "targets.h"
#include "targets/common.h"
#include "targets/progress.h"
#include "util.h"

#define GCP_KEY_MAX	(64 * 1024)
#define GCP_MAX_MEMBERS	100

/*
 * The image's guestOsFeatures: the target's (the composer's list of
 * {"type": NAME}), else what the build is: UEFI_COMPATIBLE for a uefi or
 * hybrid image (Compute Engine boots it with UEFI, which Shielded VM and
 * the Arm machine types need). At most GCP_MAX_FEATURES names of A-Z, 0-9
 * and '_' go into feats (NULL-terminated, pointing into o or static).
 */
#define GCP_MAX_FEATURES	16
static int
guest_features(const struct target_ctx *ctx, json_object *o,
    const char **feats, struct target_err *err)
{
	json_object	*list, *f, *t;
	const char	*m = ctx->image_boot_mode, *name;
	size_t		 i, n = 0;

	feats[0] = NULL;
	if (!json_object_object_get_ex(o, "guestOsFeatures", &list) ||
	    list == NULL) {
		if (m != NULL && (strcmp(m, "uefi") == 0 ||
		    strcmp(m, "hybrid") == 0))
			feats[n++] = "UEFI_COMPATIBLE";
		feats[n] = NULL;
		return 0;
	}
	if (!json_object_is_type(list, json_type_array) ||
	    json_object_array_length(list) > GCP_MAX_FEATURES)
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "GCP target: guestOsFeatures must be a list of at most %d "
		    "features", GCP_MAX_FEATURES);
	for (i = 0; i < json_object_array_length(list); i++) {
		f = json_object_array_get_idx(list, i);
		name = json_object_object_get_ex(f, "type", &t) &&
		    json_object_is_type(t, json_type_string) ?
		    json_object_get_string(t) : NULL;
		if (name == NULL || *name == '\0' || strlen(name) > 64 ||
		    strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
		    strlen(name))
			return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
			    "GCP target: guest OS feature %zu is not "
			    "{\"type\": NAME} with a name of A-Z, 0-9 and _",
			    i);
		feats[n++] = name;
	}
	feats[n] = NULL;
	return 0;
}

/* The key from the target, else from [gcp] credentials. */
static int
load_key(const struct config *conf, json_object *o, struct gcp_key *key,
    struct target_err *err)
{
	const char	*b64 = json_get_str(o, "credentials");
	char		*data = NULL, why[512];
	size_t		 len = 0;
	int		 rv;

	if (b64 != NULL && *b64) {
		/* Go marshals []byte as standard base64. */
		if (strlen(b64) > GCP_KEY_MAX * 2 ||
		    (data = base64_decode(b64, &len)) == NULL)
			return target_fail(err, JOB_ERR_INVALID_CONFIG,
			    "GCP target: "
			    "the credentials are not base64");
	} else if (conf->gcp.credentials != NULL) {
		if ((data = read_file(conf->gcp.credentials, GCP_KEY_MAX,
		    &len)) == NULL)
			return target_fail(err, JOB_ERR_INVALID_CONFIG,
			    "GCP target: "
			    "cannot read the credentials file %s: %s",
			    conf->gcp.credentials, strerror(errno));
	} else
		return target_fail(err, JOB_ERR_INVALID_CONFIG,
		    "GCP target: no "
		    "credentials in the target and no [gcp] credentials in "
		    "the worker's configuration");
	rv = gcp_key_parse(data, len, key, why, sizeof(why));
	explicit_bzero(data, len);
	free(data);
	if (rv == -1)
		return target_fail(err, JOB_ERR_INVALID_CONFIG,
		    "GCP target: %s", why);
	return 0;
}

static void
tuning(struct gcp_cfg *c)
{
	const char	*e;

	if ((e = getenv("IB_GCP_CHUNK_SIZE")) != NULL)
		c->chunk_size = strtoll(e, NULL, 10);
	if ((e = getenv("IB_GCP_POLL_MS")) != NULL)
		c->poll_ms = strtoll(e, NULL, 10);
}

/* The fleet's mark, which ib-maintenance looks for (cloud.h). */
static const char *const fleet[] = { CLOUD_FLEET_KEY, CLOUD_FLEET_VALUE,
    NULL };

static int
run(const struct target_ctx *ctx, json_object *target,
    const char *export_path, json_object **options, struct target_err *err)
{
	const struct config	*conf = ctx->conf;
	struct gcp_key		 key;
	struct gcp_cfg		 gc;
	struct gcp		*g = NULL;
	struct target_progress	 tp;
	json_object		*o = NULL, *v, *share = NULL;
	const char		*bucket, *object, *region, *image;
	const char		**members = NULL;
	const char		*feats[GCP_MAX_FEATURES + 1];
	size_t			 i, n = 0;
	int			 rv = -1, imported, put;
	int64_t			 start;

	memset(&key, 0, sizeof(key));
	json_object_object_get_ex(target, "options", &o);
	if (o == NULL || !json_object_is_type(o, json_type_object))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "GCP target: no "
		    "options");
	image = json_object_object_get_ex(target, "image_name", &v) ?
	    json_object_get_string(v) : NULL;
	if (!gcp_image_name_ok(image))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "GCP target: the "
		    "image name must be 1-63 characters of a-z, 0-9 and '-', "
		    "start with a letter and not end with '-'");
	object = json_get_str(o, "object");
	if (object == NULL || *object == '\0')
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "No GCP object key "
		    "provided");
	if (!gcp_object_ok(object))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "GCP target: invalid "
		    "object name: control characters, a '.' or '..' segment, "
		    "or more than 1024 bytes");
	bucket = json_get_str(o, "bucket");
	if (bucket == NULL || *bucket == '\0')
		bucket = conf->gcp.bucket;
	if (bucket == NULL || *bucket == '\0')
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG, "No GCP bucket "
		    "provided");
	if (!gcp_bucket_ok(bucket))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "GCP target: invalid "
		    "bucket name");
	region = json_get_str(o, "region");
	if (region != NULL && strspn(region, "abcdefghijklmnopqrstuvwxyz"
	    "0123456789-") != strlen(region))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "GCP target: invalid "
		    "region");
	if (json_object_object_get_ex(o, "shareWithAccounts", &share) &&
	    share != NULL) {
		if (!json_object_is_type(share, json_type_array) ||
		    (n = json_object_array_length(share)) > GCP_MAX_MEMBERS)
			return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
			    "GCP target: "
			    "shareWithAccounts must be a list of at most %d "
			    "accounts", GCP_MAX_MEMBERS);
		members = xcalloc(n + 1, sizeof(*members));
		for (i = 0; i < n; i++) {
			v = json_object_array_get_idx(share, i);
			members[i] = json_object_get_string(v);
			if (!json_object_is_type(v, json_type_string) ||
			    !gcp_member_ok(members[i])) {
				target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
				    "GCP target: "
				    "account %zu to share with is not "
				    "user:, serviceAccount:, group: or domain: "
				    "followed by a name", i);
				goto cleanup;
			}
		}
	}
	if (guest_features(ctx, o, feats, err) == -1)
		goto cleanup;
	if (load_key(conf, o, &key, err) == -1)
		goto cleanup;

	memset(&gc, 0, sizeof(gc));
	gc.key = &key;
	gc.connect_timeout = conf->worker.connect_timeout;
	gc.backoff_cap = conf->worker.backoff_max * 1000;
	gc.abort = ctx->abort;
	tuning(&gc);
	g = gcp_new(&gc);

	log_info("gcp: uploading %s to gs://%s/%s (project %s)", export_path,
	    bucket, object, gcp_project(g));
	start = now_ms();
	gcp_set_progress(g, target_progress_start(&tp, ctx,
	    target_gcp_image.name, object));
	put = gcp_upload(g, bucket, object, export_path, image);
	/* Its waits are its own backoff: GCS's Retry-After is not read. */
	metrics_upload_retries(ctx->metrics, target_gcp_image.name,
	    gcp_stats(g)->chunk_retries, 0, gcp_stats(g)->chunk_wait_ms);
	if (put == -1) {
		target_fail(err, JOB_ERR_UPLOAD, "%s", gcp_aborted(g) ?
		    "the upload was canceled" : gcp_error(g));
		/* A half-made object must not stay behind either. */
		gcp_set_abort(g, NULL);
		if (gcp_logged_in(g) &&
		    gcp_delete_object(g, bucket, object) == 0)
			log_info("gcp: deleted gs://%s/%s", bucket, object);
		goto cleanup;
	}
	target_progress_end(&tp);
	log_info("gcp: uploaded %lld bytes in %lld ms (%d chunks, %d "
	    "retries); importing image %s", (long long)gcp_stats(g)->bytes_sent,
	    (long long)(now_ms() - start), gcp_stats(g)->chunks,
	    gcp_stats(g)->retries, image);
	imported = gcp_image_insert(g, image, bucket, object, region, feats,
	    fleet);
	if (imported == -1)
		target_fail(err, JOB_ERR_IMPORT, "%s", gcp_aborted(g) ?
		    "the image import was canceled" : gcp_error(g));
	/* The object is only the import's input: delete it in any case. */
	gcp_set_abort(g, NULL);
	if (gcp_delete_object(g, bucket, object) == -1)
		log_warnx("gcp: could not delete gs://%s/%s: %s", bucket,
		    object, gcp_error(g));
	else
		log_info("gcp: deleted gs://%s/%s", bucket, object);
	if (imported == -1)
		goto cleanup;
	gcp_set_abort(g, ctx->abort);
	if (n > 0) {
		log_info("gcp: sharing image %s with %zu accounts", image, n);
		if (gcp_image_share(g, image, members) == -1) {
			target_fail(err, JOB_ERR_SHARING_TARGET,
			    "sharing image %s: %s",
			    image, gcp_error(g));
			goto cleanup;
		}
	}
	log_info("gcp: image %s ready in project %s", image, gcp_project(g));
	*options = json_object_new_object();
	json_object_object_add(*options, "image_name",
	    json_object_new_string(image));
	json_object_object_add(*options, "project_id",
	    json_object_new_string(gcp_project(g)));
	rv = 0;
cleanup:
	free(members);
	gcp_free(g);
	gcp_key_clear(&key);
	return rv;
}

const struct target_kind target_gcp_image = { "org.osbuild.gcp", run };
