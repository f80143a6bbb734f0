/*
 * org.osbuild.aws: an AMI from the export. The image goes to S3, EC2
 * imports it as a snapshot (ImportSnapshot from the bucket, polled until
 * completed; that can take an hour while the job heartbeat goes on in the
 * watcher thread), the object is deleted whatever happened, the snapshot
 * is registered as an AMI (hvm, /dev/sda1, ENA, the image's architecture
 * and boot mode), both are tagged with the image name and shared with the
 * target's accounts. Failures carry AWS's own message: 11 for the upload,
 * 12 for the rest. A failure or a cancellation after the import leaves
 * nothing behind: the AMI, when one was registered, is deregistered and
 * the snapshot deleted. [aws] endpoint and s3_endpoint point the EC2 and
 * S3 legs elsewhere (private endpoints, tests).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws.h"
#include "backoff.h"
#include "ec2.h"
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

#define MAX_ACCOUNTS	100
#define POLL_CAP_MS	15000

/* AMI names: 3..128 of letters, digits and ()[] ./-'@_ */
static int
ami_name_ok(const char *n)
{
	size_t	 len = strlen(n);

	if (len < 3 || len > 128)
		return 0;
	for (; *n; n++)
		if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') ||
		    (*n >= '0' && *n <= '9') || strchr("()[] ./-'@_", *n)))
			return 0;
	return 1;
}

static const char *
ec2_arch(const char *uname_arch)
{
	if (strcmp(uname_arch, "x86_64") == 0)
		return "x86_64";
	if (strcmp(uname_arch, "aarch64") == 0 ||
	    strcmp(uname_arch, "arm64") == 0)
		return "arm64";
	return NULL;
}

/* EC2's BootMode from the target's bootMode or the build's boot mode.
 * arm64 AMIs boot only with UEFI (EC2 has no BIOS there): unless the
 * target names a mode, an arm64 image registers as uefi whatever the
 * build says (an aarch64 image is UEFI-only even when its manifest left
 * the mode out). */
static int
boot_mode(const struct target_ctx *ctx, json_object *o, const char *arch,
    const char **out)
{
	const char	*m = json_get_str(o, "bootMode");

	*out = NULL;
	if (m == NULL && strcmp(arch, "arm64") == 0) {
		m = ctx->image_boot_mode;
		if (m != NULL && *m != '\0' && strcmp(m, "none") != 0 &&
		    strcmp(m, "uefi") != 0 && strcmp(m, "hybrid") != 0 &&
		    strcmp(m, "legacy") != 0)
			return -1;
		*out = "uefi";
		return 0;
	}
	if (m == NULL)
		m = ctx->image_boot_mode;
	if (m == NULL || *m == '\0' || strcmp(m, "none") == 0)
		return 0;
	if (strcmp(m, "legacy") == 0 || strcmp(m, "legacy-bios") == 0)
		*out = "legacy-bios";
	else if (strcmp(m, "uefi") == 0)
		*out = "uefi";
	else if (strcmp(m, "hybrid") == 0 || strcmp(m, "uefi-preferred") == 0)
		*out = "uefi-preferred";
	else
		return -1;
	return 0;
}

/* Snapshot formats ImportSnapshot takes, by file name. */
static const char *
disk_format(const char *path)
{
	const char	*dot = strrchr(path, '.');

	if (dot != NULL && strcasecmp(dot, ".vhd") == 0)
		return "VHD";
	if (dot != NULL && strcasecmp(dot, ".vmdk") == 0)
		return "VMDK";
	return "RAW";
}

static int
accounts_get(json_object *o, const char ***out, struct target_err *err)
{
	json_object	*a, *v;
	const char	**list;
	size_t		 n, i;

	*out = xcalloc(1, sizeof(**out));
	if (!json_object_object_get_ex(o, "shareWithAccounts", &a) ||
	    a == NULL)
		return 0;
	if (!json_object_is_type(a, json_type_array) ||
	    (n = json_object_array_length(a)) > MAX_ACCOUNTS) {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG, "AWS target: "
		    "shareWithAccounts must be a list of at most %d accounts",
		    MAX_ACCOUNTS);
		return -1;
	}
	list = xcalloc(n + 1, sizeof(*list));
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(a, i);
		if (!json_object_is_type(v, json_type_string) ||
		    !ec2_account_ok(json_object_get_string(v))) {
			target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG, "AWS target: "
			    "shareWithAccounts[%zu] is not a 12-digit account", i);
			free(list);
			return -1;
		}
		list[i] = json_object_get_string(v);
	}
	free(*out);
	*out = list;
	return 0;
}

/*
 * EC2's Progress of an import, a percentage as a string: -1 when absent
 * or not a number from 0 to 100.
 */
static int
import_percent(const char *s)
{
	char	*end;
	long	 v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	v = strtol(s, &end, 10);
	return *end == '\0' && v >= 0 && v <= 100 ? (int)v : -1;
}

/*
 * Polls the import task until it ends, its percentage to tp. 0 with
 * *snapshot when completed; -1 with err filled when it failed or the job
 * was canceled (then the task is canceled too).
 */
static int
wait_import(const struct target_ctx *ctx, struct ec2 *e, const char *task,
    int64_t cap_ms, struct target_progress *tp, char **snapshot,
    struct target_err *err)
{
	struct ec2_import	 st;
	struct backoff		 bo;
	char			*last = NULL, *x;
	int			 rv = -1;

	*snapshot = NULL;
	backoff_init(&bo, 1000, cap_ms < POLL_CAP_MS ? cap_ms : POLL_CAP_MS);
	for (;;) {
		if (sleep_abortable(backoff_next(&bo), ctx->abort) == -1)
			goto canceled;
		if (ec2_describe_import(e, task, &st) == -1) {
			if (ec2_aborted(e))
				goto canceled;
			target_fail(err, JOB_ERR_IMPORT,
			    "snapshot import %s: %s", task,
			    ec2_error(e));
			break;
		}
		if (last == NULL || strcmp(last, st.status) != 0)
			log_info("aws: import %s is %s%s%s", task, st.status,
			    st.progress ? ", progress " : "",
			    st.progress ? st.progress : "");
		free(last);
		last = xstrdup(st.status);
		if (import_percent(st.progress) != -1)
			target_progress_percent(tp, import_percent(st.progress));
		if (strcmp(st.status, "completed") == 0) {
			if (st.snapshot == NULL ||
			    !ec2_id_ok("snap", st.snapshot)) {
				target_fail(err, JOB_ERR_IMPORT,
				    "snapshot import %s "
				    "completed without a snapshot id", task);
				ec2_import_clear(&st);
				break;
			}
			*snapshot = xstrdup(st.snapshot);
			ec2_import_clear(&st);
			target_progress_percent(tp, 100);
			target_progress_end(tp);
			rv = 0;
			break;
		}
		if (strcmp(st.status, "deleted") == 0 ||
		    strcmp(st.status, "deleting") == 0) {
			target_fail(err, JOB_ERR_IMPORT,
			    "snapshot import %s failed: %s",
			    task, st.message ? st.message : st.status);
			ec2_import_clear(&st);
			break;
		}
		ec2_import_clear(&st);
	}
	free(last);
	return rv;
canceled:
	free(last);
	target_fail(err, JOB_ERR_IMPORT,
	    "the job was canceled during the snapshot "
	    "import");
	{
		const char *const p[] = { "ImportTaskId", task, NULL };

		ec2_set_abort(e, NULL);
		if ((x = ec2_call(e, "CancelImportTask", p, NULL)) == NULL)
			log_warnx("aws: could not cancel import %s: %s", task,
			    ec2_error(e));
		else
			log_info("aws: canceled import %s", task);
		free(x);
		ec2_set_abort(e, ctx->abort);
	}
	return -1;
}

/*
 * After a failure, best effort: an AMI or a snapshot nobody gets is a cost
 * and a half-made image in the account. The AMI goes first, since EC2
 * refuses to delete a snapshot a registered image uses. ami may be NULL
 * (registration failed). Runs without the abort flag, so a canceled job
 * cleans up too; each failure is logged, the job's error stays the first.
 */
static void
discard_image(struct ec2 *e, const char *ami, const char *snap)
{
	ec2_set_abort(e, NULL);
	if (ami != NULL && !ec2_id_ok("ami", ami))
		log_warnx("aws: RegisterImage answered an unusable image id, "
		    "not deregistering it");
	else if (ami != NULL) {
		if (ec2_deregister_image(e, ami) == 0)
			log_info("aws: deregistered %s", ami);
		else
			log_warnx("aws: could not deregister %s: %s", ami,
			    ec2_error(e));
	}
	if (ec2_delete_snapshot(e, snap) == 0)
		log_info("aws: deleted snapshot %s", snap);
	else
		log_warnx("aws: could not delete snapshot %s: %s", snap,
		    ec2_error(e));
}

static int
run(const struct target_ctx *ctx, json_object *target,
    const char *export_path, json_object **options, struct target_err *err)
{
	const struct config	*conf = ctx->conf;
	struct aws_creds	 creds;
	struct http_opts	 ho;
	struct s3_cfg		 sc;
	struct ec2_cfg		 ec;
	struct http		*h = NULL;
	struct s3		*s3 = NULL;
	struct target_progress	 tp;
	int			 put;
	struct ec2		*e = NULL;
	json_object		*o = NULL;
	const char		*region, *bucket, *name, *arch, *bmode, **acc = NULL;
	char			*key = NULL, *task = NULL, *snap = NULL, *ami = NULL;
	char			 why[512];
	int			 uploaded = 0, rv = -1;
	int64_t			 cap_ms;

	memset(&creds, 0, sizeof(creds));
	json_object_object_get_ex(target, "options", &o);
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "AWS target: no options");
		return -1;
	}
	region = json_get_str(o, "region");
	bucket = json_get_str(o, "bucket");
	if (bucket == NULL || *bucket == '\0')
		bucket = conf->aws.bucket;
	name = json_get_str(target, "image_name");
	if (!aws_region_ok(region)) {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "AWS target: missing or "
		    "invalid region");
		return -1;
	}
	if (bucket == NULL || *bucket == '\0') {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "AWS target: no bucket in the "
		    "target nor in [aws] bucket");
		return -1;
	}
	if (name == NULL || !ami_name_ok(name)) {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "AWS target: the image name "
		    "must be 3 to 128 letters, digits or ()[] ./-'@_");
		return -1;
	}
	if ((arch = ec2_arch(conf->worker.arch)) == NULL) {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "AWS target: EC2 has no "
		    "images for architecture %s", conf->worker.arch);
		return -1;
	}
	if (boot_mode(ctx, o, arch, &bmode) == -1) {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "AWS target: unknown boot "
		    "mode");
		return -1;
	}
	if (accounts_get(o, &acc, err) == -1)
		goto cleanup;
	if (target_s3_key(target, json_get_str(o, "key"), &key, err) == -1)
		goto cleanup;

	memset(&ho, 0, sizeof(ho));
	h = http_new(&ho);
	if (aws_creds_resolve(h, json_get_str(o, "accessKeyID"),
	    json_get_str(o, "secretAccessKey"),
	    json_get_str(o, "sessionToken"), conf->aws.credentials, &creds,
	    why, sizeof(why)) == -1) {
		target_fail(err, JOB_ERR_INVALID_CONFIG, "AWS target: %s", why);
		goto cleanup;
	}
	cap_ms = conf->worker.backoff_max * 1000;

	memset(&sc, 0, sizeof(sc));
	sc.endpoint = conf->aws.s3_endpoint;
	sc.region = region;
	sc.bucket = bucket;
	sc.creds = &creds;
	sc.backoff_cap = cap_ms;
	sc.connect_timeout = conf->worker.connect_timeout;
	sc.abort = ctx->abort;
	target_s3_tuning(&sc, conf);
	if ((s3 = s3_new(&sc, why, sizeof(why))) == NULL) {
		target_fail(err, JOB_ERR_INVALID_CONFIG, "AWS target: %s", why);
		goto cleanup;
	}
	memset(&ec, 0, sizeof(ec));
	ec.endpoint = conf->aws.endpoint;
	ec.region = region;
	ec.creds = &creds;
	ec.backoff_cap = cap_ms;
	ec.abort = ctx->abort;
	if ((e = ec2_new(&ec, why, sizeof(why))) == NULL) {
		target_fail(err, JOB_ERR_INVALID_CONFIG, "AWS target: %s", why);
		goto cleanup;
	}

	log_info("aws: uploading %s to s3://%s/%s (credentials from %s)",
	    export_path, bucket, key, creds.source);
	s3_set_progress(s3, target_progress_start(&tp, ctx,
	    target_aws_ami.name, key));
	put = s3_put_file(s3, key, export_path);
	metrics_upload_retries(ctx->metrics, target_aws_ami.name,
	    s3_stats(s3)->part_retries, s3_stats(s3)->retry_after,
	    s3_stats(s3)->retry_wait_ms);
	if (put == -1) {
		target_fail(err, JOB_ERR_UPLOAD, "%s", s3_aborted(s3) ?
		    "the upload was canceled" : s3_error(s3));
		goto cleanup;
	}
	uploaded = 1;
	target_progress_end(&tp);
	log_info("aws: importing s3://%s/%s as a snapshot", bucket, key);
	if (ec2_import_snapshot(e, bucket, key, disk_format(export_path), name,
	    &task) == -1) {
		target_fail(err, JOB_ERR_IMPORT, "%s", ec2_error(e));
		goto cleanup;
	}
	if (!ec2_id_ok("import-snap", task)) {
		target_fail(err, JOB_ERR_IMPORT,
		    "ImportSnapshot: unusable task id");
		goto cleanup;
	}
	target_progress_phase(&tp, "importing");
	if (wait_import(ctx, e, task, cap_ms, &tp, &snap, err) == -1)
		goto cleanup;
	log_info("aws: snapshot %s imported", snap);

	{
		const char *const tags[] = { "Name", name, NULL };

		if (ec2_create_tags(e, snap, tags) == -1) {
			target_fail(err, JOB_ERR_IMPORT, "%s", ec2_error(e));
			goto cleanup;
		}
		if (ec2_register_image(e, name, snap, arch, bmode, &ami) == -1) {
			target_fail(err, JOB_ERR_IMPORT, "%s", ec2_error(e));
			goto cleanup;
		}
		if (!ec2_id_ok("ami", ami)) {
			target_fail(err, JOB_ERR_IMPORT,
			    "RegisterImage: unusable id");
			goto cleanup;
		}
		log_info("aws: registered %s (%s%s%s)", ami, arch,
		    bmode ? ", " : "", bmode ? bmode : "");
		if (ec2_create_tags(e, ami, tags) == -1) {
			target_fail(err, JOB_ERR_IMPORT, "%s", ec2_error(e));
			goto cleanup;
		}
	}
	if (acc[0] != NULL) {
		if (ec2_share_snapshot(e, snap, acc) == -1 ||
		    ec2_share_image(e, ami, acc) == -1) {
			target_fail(err, JOB_ERR_IMPORT, "sharing: %s",
			    ec2_error(e));
			goto cleanup;
		}
		log_info("aws: shared %s and %s", snap, ami);
	}
	*options = json_object_new_object();
	json_object_object_add(*options, "ami", json_object_new_string(ami));
	json_object_object_add(*options, "region",
	    json_object_new_string(region));
	rv = 0;
cleanup:
	/* The object is only a vehicle: never leave it behind. */
	if (uploaded) {
		s3_set_abort(s3, NULL);
		if (s3_delete(s3, key) == 0)
			log_info("aws: deleted s3://%s/%s", bucket, key);
		else
			log_warnx("aws: could not delete s3://%s/%s: %s", bucket,
			    key, s3_error(s3));
	}
	if (rv == -1 && snap != NULL)
		discard_image(e, ami, snap);
	free(acc);
	free(key);
	free(task);
	free(snap);
	free(ami);
	s3_free(s3);
	ec2_free(e);
	http_free(h);
	aws_creds_clear(&creds);
	return rv;
}

const struct target_kind target_aws_ami = { "org.osbuild.aws", run };
