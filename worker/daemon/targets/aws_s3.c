/*
 * org.osbuild.aws.s3: the export goes to an S3 bucket (AWS or any
 * S3-compatible server) as KEY-EXPORTFILENAME; the result is a presigned
 * GET URL valid 7 days, or the object's plain URL when it is public.
 * A target with a region only is AWS ([aws] bucket and credentials, the
 * instance role last; [aws] s3_endpoint when set); with an endpoint and
 * a region an S3-compatible server the job names; with neither the
 * [generic_s3] server, all its settings from there. [aws] s3_part_size
 * and s3_parallel tune the multipart upload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws.h"
#include "http.h"
#include "errors.h"
#include "jsonutil.h"
#include "log.h"
#include "metrics.h"
#include "s3.h"
#include "targets.h"
#include "targets/common.h"
#include "targets/progress.h"
#include "util.h"

/*
 * KEY-EXPORTFILENAME, as the reference names objects (a random key when
 * the target has none). Names with control characters or ".." segments
 * are refused: error 4.
 */
int
target_s3_key(json_object *target, const char *key, char **out,
    struct target_err *err)
{
	json_object	*art = NULL;
	const char	*fn = NULL;
	unsigned char	 r[8];
	FILE		*f;

	*out = NULL;
	if (json_object_object_get_ex(target, "osbuild_artifact", &art))
		fn = json_get_str(art, "export_filename");
	if (fn == NULL || !name_is_safe(fn)) {
		err->id = JOB_ERR_INVALID_TARGET_CONFIG;
		snprintf(err->reason, sizeof(err->reason),
		    "missing or unsafe export filename");
		return -1;
	}
	if (key == NULL || *key == '\0') {
		if ((f = fopen("/dev/urandom", "re")) == NULL ||
		    fread(r, 1, sizeof(r), f) != sizeof(r))
			fatalx("cannot read /dev/urandom");
		fclose(f);
		*out = xasprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%s", r[0],
		    r[1], r[2], r[3], r[4], r[5], r[6], r[7], fn);
	} else
		*out = xasprintf("%s-%s", key, fn);
	if (!s3_key_ok(*out)) {
		err->id = JOB_ERR_INVALID_TARGET_CONFIG;
		snprintf(err->reason, sizeof(err->reason), "invalid object key: "
		    "control characters, a '.' or '..' segment, a leading '/' "
		    "or more than 1024 bytes");
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

/* The upload's tuning, in bounds config.c checked. */
void
target_s3_tuning(struct s3_cfg *c, const struct config *conf)
{
	c->part_size = conf->aws.s3_part_size;
	c->parallel = (int)conf->aws.s3_parallel;
}

static int
empty(const char *s)
{
	return s == NULL || *s == '\0';
}

static int
run(const struct target_ctx *ctx, json_object *target,
    const char *export_path, json_object **options, struct target_err *err)
{
	const struct config	*conf = ctx->conf;
	struct aws_creds	 creds;
	struct s3_cfg		 sc;
	struct http_opts	 ho;
	struct http		*h = NULL;
	struct s3		*s3 = NULL;
	struct target_progress	 tp;
	int			 put;
	json_object		*o = NULL;
	const char		*endpoint, *region, *bucket, *ca, *credfile;
	const char		*akey, *skey, *miss;
	char			*key = NULL, *url = NULL, why[512];
	int			 generic, skip_verify = 0, public = 0;
	int			 rv = -1;
	int64_t			 start;

	memset(&creds, 0, sizeof(creds));
	json_object_object_get_ex(target, "options", &o);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		err->id = JOB_ERR_INVALID_TARGET_CONFIG;
		snprintf(err->reason, sizeof(err->reason),
		    "S3 target: no options");
		return -1;
	}
	/*
	 * Where the object goes, as the reference decides it from the
	 * target's endpoint and region: a region alone is AWS ([aws] bucket
	 * and credentials); both are an S3-compatible server the job names
	 * (its own TLS settings, [generic_s3] credentials when it has no
	 * keys); neither is the [generic_s3] server, every setting from
	 * there. The worker's configuration is at fault: 17.
	 */
	endpoint = json_get_str(o, "endpoint");
	region = json_get_str(o, "region");
	bucket = json_get_str(o, "bucket");
	ca = json_get_str(o, "ca_bundle");
	akey = json_get_str(o, "accessKeyID");
	skey = json_get_str(o, "secretAccessKey");
	json_get_bool(o, "skip_ssl_verification", &skip_verify);
	generic = endpoint != NULL && *endpoint != '\0';
	if (!generic && region != NULL && *region != '\0') {
		endpoint = conf->aws.s3_endpoint;
		if (bucket == NULL || *bucket == '\0')
			bucket = conf->aws.bucket;
		credfile = conf->aws.credentials;
		ca = NULL;
		skip_verify = 0;
	} else if (generic && region != NULL && *region != '\0') {
		credfile = conf->generic_s3.credentials;
		if (empty(akey) && empty(skey) && empty(credfile))
			return target_fail(err, JOB_ERR_INVALID_CONFIG,
			    "S3 target: no credentials found (neither keys in "
			    "the target nor [generic_s3] credentials)");
	} else if (!generic) {
		miss = empty(conf->generic_s3.endpoint) ? "endpoint" :
		    empty(conf->generic_s3.region) ? "region" :
		    empty(conf->generic_s3.bucket) ? "bucket" :
		    empty(conf->generic_s3.credentials) ? "credentials" : NULL;
		if (miss != NULL)
			return target_fail(err, JOB_ERR_INVALID_CONFIG,
			    "S3 target: no default %s for S3 was set "
			    "([generic_s3] %s)", miss, miss);
		generic = 1;
		endpoint = conf->generic_s3.endpoint;
		region = conf->generic_s3.region;
		bucket = conf->generic_s3.bucket;
		credfile = conf->generic_s3.credentials;
		ca = conf->generic_s3.ca_bundle;
		skip_verify = conf->generic_s3.skip_ssl_verification;
		akey = skey = NULL;
	} else
		return target_fail(err, JOB_ERR_INVALID_CONFIG, "S3 target: "
		    "s3 server configuration is incomplete (an endpoint "
		    "without a region)");

	if (bucket == NULL || *bucket == '\0') {
		err->id = JOB_ERR_INVALID_CONFIG;
		snprintf(err->reason, sizeof(err->reason),
		    "S3 target: no bucket in the target nor the configuration");
		return -1;
	}
	if (target_s3_key(target, json_get_str(o, "key"), &key, err) == -1)
		return -1;

	memset(&ho, 0, sizeof(ho));
	h = http_new(&ho);
	if (aws_creds_resolve(h, akey, skey, json_get_str(o, "sessionToken"),
	    credfile, &creds, why, sizeof(why)) == -1) {
		err->id = JOB_ERR_INVALID_CONFIG;
		snprintf(err->reason, sizeof(err->reason), "S3 target: %s", why);
		goto cleanup;
	}

	memset(&sc, 0, sizeof(sc));
	sc.endpoint = endpoint;
	sc.region = region;
	sc.bucket = bucket;
	sc.ca_bundle = ca;
	json_get_bool(o, "public", &public);
	sc.insecure = skip_verify;
	sc.public_read = public;
	sc.creds = &creds;
	sc.backoff_cap = conf->worker.backoff_max * 1000;
	sc.connect_timeout = conf->worker.connect_timeout;
	sc.abort = ctx->abort;
	target_s3_tuning(&sc, conf);
	if ((s3 = s3_new(&sc, why, sizeof(why))) == NULL) {
		err->id = JOB_ERR_INVALID_CONFIG;
		snprintf(err->reason, sizeof(err->reason), "%s", why);
		goto cleanup;
	}

	log_info("s3: uploading %s to bucket %s as %s (credentials from %s)",
	    export_path, bucket, key, creds.source);
	start = now_ms();
	s3_set_progress(s3, target_progress_start(&tp, ctx,
	    target_aws_s3.name, key));
	put = s3_put_file(s3, key, export_path);
	metrics_upload_retries(ctx->metrics, target_aws_s3.name,
	    s3_stats(s3)->part_retries, s3_stats(s3)->retry_after,
	    s3_stats(s3)->retry_wait_ms);
	if (put == -1) {
		err->id = JOB_ERR_UPLOAD;
		snprintf(err->reason, sizeof(err->reason), "%s",
		    s3_aborted(s3) ? "the upload was canceled" : s3_error(s3));
		goto cleanup;
	}
	target_progress_end(&tp);
	log_info("s3: uploaded %s in %lld ms (%d parts, %d retries)", key,
	    (long long)(now_ms() - start), s3_stats(s3)->parts,
	    s3_stats(s3)->retries);
	if (sc.public_read)
		url = s3_object_url(s3, key);
	else
		url = s3_presign_get(s3, key, S3_PRESIGN_MAX, time(NULL));
	*options = json_object_new_object();
	json_object_object_add(*options, "url", json_object_new_string(url));
	rv = 0;
cleanup:
	freezero_str(url);
	free(key);
	s3_free(s3);
	http_free(h);
	aws_creds_clear(&creds);
	return rv;
}

const struct target_kind target_aws_s3 = { "org.osbuild.aws.s3", run };
