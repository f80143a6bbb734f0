/*
 * aws-ec2-copy: CopyImage of an AMI into another region, waited on until
 * available, tagged with its name. aws-ec2-share: launch permission on an
 * AMI (and its snapshot's volume permission) for the given accounts; the
 * AMI comes from the args or from the copy job it depends on. Credentials
 * are the worker's own: [aws] credentials, then the instance role.
 * Results are {"ami","region"} with a job_error when something failed.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "backoff.h"
#include "ec2.h"
#include "http.h"
#include "jsonutil.h"
#include "jobs/jobs.h"
#include "log.h"
#include "util.h"
#include "xml.h"


static json_object *
result(const char *ami, const char *region)
{
	json_object	*r = json_object_new_object();

	json_object_object_add(r, "ami", json_object_new_string(ami ? ami : ""));
	json_object_object_add(r, "region",
	    json_object_new_string(region ? region : ""));
	return r;
}

static json_object *
failed(const char *ami, const char *region, int id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static json_object *
failed(const char *ami, const char *region, int id, const char *fmt, ...)
{
	json_object	*r = result(ami, region);
	char		 reason[1024];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	log_warnx("%s", reason);
	job_set_error(r, id, reason, NULL);
	return r;
}

static struct ec2 *
client(struct job *job, const struct job_ctx *ctx, const char *region,
    char *why, size_t whylen)
{
	struct aws_creds	 creds;
	struct http_opts	 ho;
	struct http		*h;
	struct ec2_cfg		 ec;
	struct ec2		*e = NULL;

	memset(&ho, 0, sizeof(ho));
	h = http_new(&ho);
	if (aws_creds_resolve(h, NULL, NULL, NULL, ctx->conf->aws.credentials,
	    &creds, why, whylen) == 0) {
		memset(&ec, 0, sizeof(ec));
		ec.endpoint = ctx->conf->aws.endpoint;
		ec.region = region;
		ec.creds = &creds;
		ec.backoff_cap = ctx->conf->worker.backoff_max * 1000;
		ec.abort = &job->canceled;
		e = ec2_new(&ec, why, whylen);
	}
	aws_creds_clear(&creds);
	http_free(h);
	return e;
}

static json_object *
aws_ec2_copy_run(struct job *job, const struct job_ctx *ctx)
{
	struct ec2	*e = NULL;
	struct backoff	 bo;
	json_object	*r = NULL;
	const char	*ami, *src, *dst, *name;
	char		*new_ami = NULL, *state = NULL, *reason = NULL, why[512];
	int64_t		 cap = ctx->conf->worker.backoff_max * 1000;

	ami = json_get_str(job->args, "ami");
	src = json_get_str(job->args, "source_region");
	dst = json_get_str(job->args, "target_region");
	name = json_get_str(job->args, "target_name");
	if (!ec2_id_ok("ami", ami) || !aws_region_ok(src) ||
	    !aws_region_ok(dst) || name == NULL || *name == '\0' ||
	    strlen(name) > 128)
		return failed(NULL, dst, JOB_ERR_PARSING_ARGS, "aws-ec2-copy: "
		    "needs ami, source_region, target_region and target_name");
	if ((e = client(job, ctx, dst, why, sizeof(why))) == NULL)
		return failed(NULL, dst, JOB_ERR_INVALID_CONFIG,
		    "aws-ec2-copy: %s", why);
	log_info("aws-ec2-copy: %s from %s to %s", ami, src, dst);
	if (ec2_copy_image(e, src, ami, name, &new_ami) == -1 ||
	    !ec2_id_ok("ami", new_ami)) {
		r = failed(NULL, dst, JOB_ERR_IMPORT, "%s", ec2_error(e));
		goto cleanup;
	}
	backoff_init(&bo, 1000, cap < 15000 ? cap : 15000);
	for (;;) {
		if (aws_sleep(backoff_next(&bo),
		    &job->canceled) == -1) {
			r = failed(new_ami, dst, JOB_ERR_IMPORT, "canceled "
			    "while waiting for %s", new_ami);
			goto cleanup;
		}
		free(state);
		free(reason);
		if (ec2_image_state(e, new_ami, &state, &reason) == -1) {
			r = failed(new_ami, dst, JOB_ERR_IMPORT, "%s",
			    ec2_error(e));
			goto cleanup;
		}
		if (strcmp(state, "available") == 0)
			break;
		if (strcmp(state, "pending") != 0) {
			r = failed(new_ami, dst, JOB_ERR_IMPORT, "copy of %s is "
			    "%s: %s", ami, state, reason ? reason : "");
			goto cleanup;
		}
	}
	{
		const char *const tags[] = { "Name", name, NULL };

		if (ec2_create_tags(e, new_ami, tags) == -1) {
			r = failed(new_ami, dst, JOB_ERR_IMPORT, "%s",
			    ec2_error(e));
			goto cleanup;
		}
	}
	log_info("aws-ec2-copy: %s is available in %s", new_ami, dst);
	r = result(new_ami, dst);
cleanup:
	free(state);
	free(reason);
	free(new_ami);
	ec2_free(e);
	return r;
}

static json_object *
aws_ec2_share_run(struct job *job, const struct job_ctx *ctx)
{
	struct ec2	*e = NULL;
	json_object	*a, *v, *dep;
	const char	*ami, *region, **acc = NULL;
	char		*x = NULL, *snap = NULL, why[512];
	size_t		 n, i, len = 0;
	json_object	*r = NULL;

	ami = json_get_str(job->args, "ami");
	region = json_get_str(job->args, "region");
	/* The AMI of the copy job this one depends on. */
	if ((ami == NULL || *ami == '\0') && job->dynamic_args != NULL &&
	    json_object_array_length(job->dynamic_args) > 0) {
		dep = json_object_array_get_idx(job->dynamic_args, 0);
		if (job_result_error(dep) != NULL)
			return failed(NULL, region, JOB_ERR_DEPENDENCY,
			    "aws-ec2-share: the job it depends on failed");
		ami = json_get_str(dep, "ami");
		if (region == NULL || *region == '\0')
			region = json_get_str(dep, "region");
	}
	if (!ec2_id_ok("ami", ami) || !aws_region_ok(region))
		return failed(ami, region, JOB_ERR_PARSING_ARGS,
		    "aws-ec2-share: needs an ami and a region");
	if (!json_object_object_get_ex(job->args, "shareWithAccounts", &a) ||
	    !json_object_is_type(a, json_type_array) ||
	    (n = json_object_array_length(a)) == 0 || n > 100)
		return failed(ami, region, JOB_ERR_PARSING_ARGS,
		    "aws-ec2-share: shareWithAccounts must list 1 to 100 "
		    "accounts");
	acc = xcalloc(n + 1, sizeof(*acc));
	for (i = 0; i < n; i++) {
		v = json_object_array_get_idx(a, i);
		if (!ec2_account_ok(job_string(v))) {
			r = failed(ami, region, JOB_ERR_PARSING_ARGS,
			    "aws-ec2-share: account %zu is not 12 digits", i);
			goto cleanup;
		}
		acc[i] = json_object_get_string(v);
	}
	if ((e = client(job, ctx, region, why, sizeof(why))) == NULL) {
		r = failed(ami, region, JOB_ERR_INVALID_CONFIG,
		    "aws-ec2-share: %s", why);
		goto cleanup;
	}
	/* The snapshot behind the AMI must be shared too to launch it. */
	{
		const char *const p[] = { "ImageId.1", ami, NULL };

		if ((x = ec2_call(e, "DescribeImages", p, &len)) == NULL) {
			r = failed(ami, region, JOB_ERR_SHARING_TARGET, "%s",
			    ec2_error(e));
			goto cleanup;
		}
		snap = xml_find(x, len, "snapshotId");
	}
	if ((snap != NULL && ec2_id_ok("snap", snap) &&
	    ec2_share_snapshot(e, snap, acc) == -1) ||
	    ec2_share_image(e, ami, acc) == -1) {
		r = failed(ami, region, JOB_ERR_SHARING_TARGET, "%s",
		    ec2_error(e));
		goto cleanup;
	}
	log_info("aws-ec2-share: %s shared with %zu accounts", ami, n);
	r = result(ami, region);
cleanup:
	free(x);
	free(snap);
	free(acc);
	ec2_free(e);
	return r;
}

const struct job_kind job_kind_aws_ec2_copy = {
	"aws-ec2-copy", aws_ec2_copy_run, 1, NULL
};

const struct job_kind job_kind_aws_ec2_share = {
	"aws-ec2-share", aws_ec2_share_run, 1, NULL
};
