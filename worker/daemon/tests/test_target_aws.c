/*
 * The AWS target takes the build's boot mode from its context
 * (target_ctx.image_boot_mode, filled by jobs/osbuild.c); targets never
 * see the job. Every case stops
 * before the network: a missing credentials file ends the run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "errors.h"
#include "targets.h"
#include "util.h"

static const char target_json[] =
    "{\"name\": \"org.osbuild.aws\", \"image_name\": \"my-ami-1\","
    " \"options\": {\"region\": \"eu-west-1\", \"bucket\": \"images\","
    " \"key\": \"k\"},"
    " \"osbuild_artifact\": {\"export_filename\": \"image.raw\"}}";

/* Runs the target with ctx's boot mode; returns the error id. */
static int
run(const char *boot_mode, char *reason, size_t len)
{
	struct config		*conf = config_defaults();
	struct target_ctx	 ctx;
	struct target_err	 err;
	json_object		*t, *opts = NULL;
	atomic_int		 abort_flag = 0;
	int			 rc;

	free(conf->worker.arch);
	conf->worker.arch = xstrdup("x86_64");
	conf->aws.credentials = xstrdup("/nonexistent/ib-test/aws-creds");
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = conf;
	ctx.image_boot_mode = boot_mode;
	ctx.abort = &abort_flag;
	memset(&err, 0, sizeof(err));
	t = json_tokener_parse(target_json);
	assert_non_null(t);
	rc = target_aws_ami.run(&ctx, t, "/nonexistent/ib-test/image.raw", &opts,
	    &err);
	assert_int_equal(rc, -1);
	assert_null(opts);
	snprintf(reason, len, "%s", err.reason);
	json_object_put(err.details);
	json_object_put(t);
	config_free(conf);
	return err.id;
}

static void
test_boot_mode_from_ctx(void **state)
{
	const char	*ok[] = { "uefi", "legacy", "legacy-bios", "hybrid",
			    "uefi-preferred", "none", "", NULL };
	char		 why[1024];
	size_t		 i;

	assert_int_equal(run("bios-or-so", why, sizeof(why)),
	    JOB_ERR_INVALID_TARGET_CONFIG);
	assert_string_equal(why, "AWS target: unknown boot mode");
	/* Known modes (and none) pass on to the credentials (unreadable
	 * here: the reference's 17, invalid configuration). */
	for (i = 0; ok[i] != NULL; i++) {
		assert_int_equal(run(ok[i], why, sizeof(why)),
		    JOB_ERR_INVALID_CONFIG);
		assert_non_null(strstr(why, "aws-creds"));
	}
	assert_int_equal(run(NULL, why, sizeof(why)),
	    JOB_ERR_INVALID_CONFIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_boot_mode_from_ctx),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
