/*
 * The Auto Scaling settings: their defaults, their bounds, that the module
 * stays off (no thread, every call a no-op) unless protection or a
 * lifecycle hook is configured, and which changes a reload must apply.
 * The calls themselves are tested end to end by worker/tests/t_asg.py
 * against the IMDSv2 and Auto Scaling doubles.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "asg.h"
#include "config.h"
#include "job.h"
#include "util.h"

static char	 dir[] = "/tmp/test_asg.XXXXXX";
static char	 path[64];

static struct config *
load(const char *text, char *err, size_t errlen)
{
	if (write_file_atomic(path, text, strlen(text), 0600) == -1)
		fail_msg("cannot write %s", path);
	return config_load(path, 0, err, errlen);
}

static void
test_defaults(void **state)
{
	struct config	*c = config_defaults();

	assert_int_equal(c->worker.scale_in_protection, 0);
	assert_null(c->worker.autoscaling_group);
	assert_null(c->worker.lifecycle_hook);
	assert_null(c->worker.autoscaling_endpoint);
	assert_int_equal(c->worker.lifecycle_poll_interval, 5);
	assert_int_equal(c->worker.lifecycle_heartbeat_interval, 300);
	config_free(c);
}

static void
test_keys(void **state)
{
	struct config	*c;
	char		 err[512];

	c = load("[worker]\nscale_in_protection = true\n"
	    "autoscaling_group = \"ib-worker\"\n"
	    "lifecycle_hook = \"ib-worker-drain\"\n"
	    "autoscaling_endpoint = \"http://127.0.0.1:9/\"\n"
	    "lifecycle_poll_interval = 10\n"
	    "lifecycle_heartbeat_interval = 120\n", err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(c->worker.scale_in_protection, 1);
	assert_string_equal(c->worker.autoscaling_group, "ib-worker");
	assert_string_equal(c->worker.lifecycle_hook, "ib-worker-drain");
	assert_string_equal(c->worker.autoscaling_endpoint,
	    "http://127.0.0.1:9/");
	assert_int_equal(c->worker.lifecycle_poll_interval, 10);
	assert_int_equal(c->worker.lifecycle_heartbeat_interval, 120);
	config_free(c);
}

static void
test_refused(void **state)
{
	static const struct {
		const char	*text;
		const char	*why;
	} cases[] = {
		{ "[worker]\nlifecycle_hook = \"\"\n", "must not be empty" },
		{ "[worker]\nautoscaling_group = 3\n", "expected a string" },
		{ "[worker]\nlifecycle_poll_interval = 0\n",
		    "must be between 1 and 60" },
		{ "[worker]\nlifecycle_poll_interval = 61\n",
		    "must be between 1 and 60" },
		{ "[worker]\nlifecycle_heartbeat_interval = 3601\n",
		    "must be between 1 and 3600" },
	};
	struct config	*c;
	char		 err[512];
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		c = load(cases[i].text, err, sizeof(err));
		if (c != NULL)
			fail_msg("accepted: %s", cases[i].text);
		if (strstr(err, cases[i].why) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].text,
			    err, cases[i].why);
	}
}

static void
test_off_by_default(void **state)
{
	struct config	*c = config_defaults();
	struct job_kind	 build = { "osbuild", NULL, 0, NULL };
	struct asg	*a;

	a = asg_start(c, NULL);
	assert_null(a);
	/* The loop calls these unconditionally. */
	asg_job_start(a, &build);
	asg_job_end(a);
	assert_int_equal(asg_leaving(a), 0);
	asg_stop(a, NULL);
	config_free(c);
}

static void
assert_differ(const struct asg *a, const char *text, const char *want)
{
	struct config	*c;
	char		 err[512], what[256];
	int		 d;

	if ((c = load(text, err, sizeof(err))) == NULL)
		fail_msg("%s: %s", text, err);
	d = asg_settings_differ(a, c, what, sizeof(what));
	config_free(c);
	if (want == NULL && d)
		fail_msg("%s: differs (%s)", text, what);
	if (want != NULL && (!d || strcmp(what, want) != 0))
		fail_msg("%s: got %d \"%s\", want \"%s\"", text, d, what,
		    want);
}

static void
test_differ_when_off(void **state)
{
	assert_differ(NULL, "", NULL);
	/* Without protection or a hook the other keys start nothing. */
	assert_differ(NULL, "[worker]\nautoscaling_group = \"g\"\n"
	    "lifecycle_poll_interval = 9\n", NULL);
	assert_differ(NULL, "[worker]\nscale_in_protection = true\n",
	    "scale_in_protection on");
	assert_differ(NULL, "[worker]\nlifecycle_hook = \"h\"\n"
	    "scale_in_protection = true\n",
	    "scale_in_protection on, lifecycle_hook set");
}

static void
test_differ_when_on(void **state)
{
	static const char	 base[] = "[worker]\nscale_in_protection = true\n"
	    "lifecycle_hook = \"h\"\nautoscaling_group = \"g\"\n";
	struct config		*c;
	struct asg		*a;
	char			 err[512], text[512];

	/* Nothing answers there: the thread only fails to identify. */
	setenv("IB_IMDS_ENDPOINT", "http://127.0.0.1:1", 1);
	if ((c = load(base, err, sizeof(err))) == NULL)
		fail_msg("%s", err);
	a = asg_start(c, NULL);
	config_free(c);
	assert_non_null(a);

	assert_differ(a, base, NULL);
	assert_differ(a, "[worker]\nscale_in_protection = true\n"
	    "lifecycle_hook = \"h2\"\nautoscaling_group = \"g\"\n",
	    "lifecycle_hook changed");
	assert_differ(a, "[worker]\nscale_in_protection = true\n"
	    "autoscaling_group = \"g\"\n", "lifecycle_hook unset");
	assert_differ(a, "[worker]\nlifecycle_hook = \"h\"\n"
	    "autoscaling_group = \"g\"\n", "scale_in_protection off");
	assert_differ(a, "[worker]\nautoscaling_group = \"g\"\n",
	    "scale_in_protection off, lifecycle_hook unset");
	assert_differ(a, "[worker]\nscale_in_protection = true\n"
	    "lifecycle_hook = \"h\"\n", "autoscaling_group");
	snprintf(text, sizeof(text), "%sautoscaling_endpoint = \"http://x/\"\n"
	    "lifecycle_poll_interval = 6\nlifecycle_heartbeat_interval = 60\n",
	    base);
	assert_differ(a, text, "autoscaling_endpoint, lifecycle_poll_interval, "
	    "lifecycle_heartbeat_interval");

	/* Not leaving: nothing to complete. */
	assert_int_equal(asg_stop(a, NULL), 0);
	assert_int_equal(asg_stop(NULL, NULL), 0);
	unsetenv("IB_IMDS_ENDPOINT");
}

static int
setup(void **state)
{
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/w.toml", dir);
	return 0;
}

static int
teardown(void **state)
{
	unlink(path);
	rmdir(dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_off_by_default),
		cmocka_unit_test(test_differ_when_off),
		cmocka_unit_test(test_differ_when_on),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
