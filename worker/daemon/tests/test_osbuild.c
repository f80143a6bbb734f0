/*
 * The osbuild job kind against the osbuild test double (osbuild itself
 * cannot run here): the command line it gets, each shape of osbuild's
 * answer, dependency failures, empty manifests, hostile names, missing
 * exports, crash and garbage, cancellation mid-build, a cache kept under
 * its limit across builds, and a full disk. No composer: ctx->api is NULL,
 * so the worker.server target fails with an upload error (11) once the
 * export is there, which is how these tests tell "built and exported".
 */
#include <sys/mount.h>
#include <sys/stat.h>

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache.h"
#include "config.h"
#include "jobs/jobs.h"
#include "log.h"
#include "util.h"

static char		 top[4096];
static char		 cachedir[256];
static char		 argvlog[300];
static struct config	*conf;
static struct job_ctx	 ctx;

static const char manifest[] =
    "{\"version\":\"2\",\"pipelines\":["
    "{\"name\":\"build\",\"stages\":[{\"type\":\"org.osbuild.rpm\"}]},"
    "{\"name\":\"os\",\"build\":\"name:build\",\"stages\":["
    "{\"type\":\"org.osbuild.rpm\"},{\"type\":\"org.osbuild.selinux\"}]},"
    "{\"name\":\"image\",\"build\":\"name:build\",\"stages\":["
    "{\"type\":\"org.osbuild.qemu\",\"options\":{\"filename\":"
    "\"disk.qcow2\"}}]}],\"sources\":{}}";

static const char target[] =
    "{\"uuid\":\"f66640cd-c284-4c33-9666-08dd28dcb393\","
    "\"image_name\":\"disk.qcow2\",\"name\":\"org.osbuild.worker.server\","
    "\"options\":{},\"osbuild_artifact\":{\"export_filename\":"
    "\"disk.qcow2\",\"export_name\":\"image\"}}";

static json_object *
parse(const char *s)
{
	json_object	*o = json_tokener_parse(s);

	assert_non_null(o);
	return o;
}

/* A job document: args and dynamic_args given as JSON text. */
static struct job *
make_job(const char *args, const char *dyn)
{
	char		*s, err[256];
	struct job	*j;

	s = xasprintf("{\"id\":\"8b2b8e0e-8ed5-4c3c-9a52-1f1f0a0c0d0e\","
	    "\"type\":\"osbuild\",\"location\":\"/api/worker/v1/jobs/tok\","
	    "\"artifact_location\":\"/api/worker/v1/jobs/tok/artifacts/\","
	    "\"args\":%s%s%s}", args, dyn ? ",\"dynamic_args\":" : "",
	    dyn ? dyn : "");
	j = job_parse(parse(s), err, sizeof(err));
	free(s);
	assert_non_null(j);
	return j;
}

static struct job *
simple_job(const char *extra)
{
	char		*args;
	struct job	*j;

	args = xasprintf("{\"manifest\":%s,\"targets\":[%s],"
	    "\"pipeline_names\":{\"build\":[\"build\"],\"payload\":[\"os\","
	    "\"image\"]}%s}", manifest, target, extra ? extra : "");
	j = make_job(args, NULL);
	free(args);
	return j;
}

static int
err_id(json_object *r)
{
	json_object	*e = job_result_error(r), *v;

	if (e == NULL || !json_object_object_get_ex(e, "id", &v))
		return 0;
	return json_object_get_int(v);
}

static const char *
err_reason(json_object *r)
{
	json_object	*e = job_result_error(r), *v;

	if (e == NULL || !json_object_object_get_ex(e, "reason", &v))
		return "";
	return json_object_get_string(v);
}

static const char *
path_str(json_object *o, const char *a, const char *b)
{
	json_object	*v;

	if (!json_object_object_get_ex(o, a, &v))
		return NULL;
	if (b != NULL && !json_object_object_get_ex(v, b, &v))
		return NULL;
	return json_object_get_string(v);
}

/* The output directory holds nothing after any job. */
static void
assert_output_empty(void)
{
	char	*out = cache_path(cachedir, CACHE_OUTPUT);
	char	*cmd = xasprintf("test -z \"$(ls -A '%s')\"", out);

	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(out);
}

static int
ran_osbuild(void)
{
	return access(argvlog, F_OK) == 0;
}

static int
setup_one(void **state)
{
	strcpy(cachedir, "/tmp/test_osbuild.XXXXXX");
	assert_non_null(mkdtemp(cachedir));
	snprintf(argvlog, sizeof(argvlog), "%s.argv", cachedir);
	unlink(argvlog);
	setenv("IB_OSBUILD_DOUBLE_ARGV", argvlog, 1);
	setenv("IB_OSBUILD_DOUBLE_MODE", "ok", 1);
	setenv("IB_OSBUILD_DOUBLE_SIZE", "65536", 1);
	setenv("IB_OSBUILD_DOUBLE_STORE", "4096", 1);
	unsetenv("IB_OSBUILD_DOUBLE_SLEEP");
	conf = config_defaults();
	free(conf->worker.osbuild);
	conf->worker.osbuild = xasprintf("%s/worker/tests/doubles/osbuild",
	    top);
	conf->worker.cancel_grace = 1;
	assert_int_equal(cache_init(cachedir), 0);
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = conf;
	ctx.cache_dir = cachedir;
	return 0;
}

static int
teardown_one(void **state)
{
	umount(cachedir);
	remove_tree(cachedir);
	unlink(argvlog);
	config_free(conf);
	return 0;
}

static void
test_success_and_cli(void **state)
{
	struct job	*j = simple_job(NULL);
	json_object	*r, *tr, *te, *v;
	char		*log, *store, *want;

	r = job_kind_osbuild.run(j, &ctx);
	/* Built and exported: only the upload (no composer here) failed. */
	assert_int_equal(err_id(r), 28);
	assert_true(json_object_object_get_ex(r, "osbuild_output", &v));
	assert_true(json_object_get_boolean(json_object_object_get(v,
	    "success")));
	assert_string_equal(path_str(v, "type", NULL), "result");
	assert_string_equal(path_str(r, "osbuild_version", NULL), "129");
	assert_string_equal(path_str(r, "upload_status", NULL), "failure");
	assert_non_null(path_str(r, "host_os", NULL));
	assert_non_null(path_str(r, "arch", NULL));
	assert_true(json_object_object_get_ex(r, "pipeline_names", &v));
	tr = json_object_array_get_idx(json_object_object_get(r,
	    "target_results"), 0);
	assert_string_equal(path_str(tr, "name", NULL),
	    "org.osbuild.worker.server");
	assert_string_equal(path_str(tr, "osbuild_artifact", "export_name"),
	    "image");
	te = json_object_object_get(tr, "target_error");
	assert_int_equal(json_object_get_int(json_object_object_get(te, "id")),
	    11);
	assert_output_empty();

	/* The command line, exactly as the reference runs osbuild. */
	log = read_file(argvlog, 65536, NULL);
	assert_non_null(log);
	store = cache_path(cachedir, CACHE_STORE);
	want = xasprintf("[\"--store\", \"%s\", \"--output-directory\", "
	    "\"%s/output/8b2b8e0e-8ed5-4c3c-9a52-1f1f0a0c0d0e-", store,
	    cachedir);
	assert_memory_equal(log, want, strlen(want));
	free(want);
	want = xasprintf("\", \"--cache-max-size=%lld\", \"-\", \"--export\", "
	    "\"image\", \"--monitor=JSONSeqMonitor\", \"--monitor-fd=3\", "
	    "\"--json\"]\n", (long long)conf->worker.cache_max_bytes);
	assert_non_null(strstr(log, want));
	free(want);
	free(store);
	free(log);
	json_object_put(r);
	job_free(j);
}

static void
test_manifest_from_dependency(void **state)
{
	char		*args, *dyn;
	struct job	*j;
	json_object	*r;

	/* The manifest at index 1, another dependency at 0. */
	args = xasprintf("{\"targets\":[%s],\"manifest_dyn_args_idx\":1}",
	    target);
	dyn = xasprintf("[{\"packages\":[]},{\"data\":%s}]", manifest);
	j = make_job(args, dyn);
	r = job_kind_osbuild.run(j, &ctx);
	assert_int_equal(err_id(r), 28);
	assert_true(ran_osbuild());
	json_object_put(r);
	job_free(j);
	free(args);
	free(dyn);
}

static void
test_dependency_failures(void **state)
{
	char		*args, *dyn;
	struct job	*j;
	json_object	*r;

	args = xasprintf("{\"targets\":[%s]}", target);
	/* The manifest dependency failed: 9. */
	j = make_job(args, "[{\"job_error\":{\"id\":8,\"reason\":\"x\"}}]");
	r = job_kind_osbuild.run(j, &ctx);
	assert_int_equal(err_id(r), 9);
	json_object_put(r);
	job_free(j);
	/* Another dependency failed: 26. */
	dyn = xasprintf("[{\"data\":%s},{\"job_error\":{\"id\":20,"
	    "\"reason\":\"depsolve\"}}]", manifest);
	j = make_job(args, dyn);
	r = job_kind_osbuild.run(j, &ctx);
	assert_int_equal(err_id(r), 26);
	json_object_put(r);
	job_free(j);
	assert_false(ran_osbuild());
	free(args);
	free(dyn);
}

static void
test_empty_manifest(void **state)
{
	char		*args;
	struct job	*j;
	json_object	*r;

	args = xasprintf("{\"targets\":[%s]}", target);
	j = make_job(args, NULL);
	r = job_kind_osbuild.run(j, &ctx);
	assert_int_equal(err_id(r), 19);
	json_object_put(r);
	job_free(j);
	free(args);
	args = xasprintf("{\"manifest\":{},\"targets\":[%s]}", target);
	j = make_job(args, "[{\"data\":{}}]");
	r = job_kind_osbuild.run(j, &ctx);
	assert_int_equal(err_id(r), 19);
	json_object_put(r);
	job_free(j);
	free(args);
	assert_false(ran_osbuild());
}

static void
test_hostile_names(void **state)
{
	static const char *const bad[] = {
	    "\"image_name\":\"../../etc/passwd\"",
	    "\"image_name\":\"..\"",
	    "\"image_name\":\"a\\nb\"",
	};
	static const char *const badart[] = {
	    "{\"export_filename\":\"../disk.qcow2\",\"export_name\":\"image\"}",
	    "{\"export_filename\":\"disk.qcow2\",\"export_name\":\"a/b\"}",
	    "{\"export_filename\":\"disk.qcow2\",\"export_name\":\"..\"}",
	    "{\"export_filename\":\"\",\"export_name\":\"image\"}",
	    "{\"export_name\":\"image\"}",
	};
	size_t		 i;
	char		*args;
	struct job	*j;
	json_object	*r;

	for (i = 0; i < nitems(bad) + nitems(badart); i++) {
		if (i < nitems(bad))
			args = xasprintf("{\"manifest\":%s,\"targets\":[{%s,"
			    "\"name\":\"org.osbuild.worker.server\","
			    "\"osbuild_artifact\":{\"export_filename\":"
			    "\"disk.qcow2\",\"export_name\":\"image\"}}]}",
			    manifest, bad[i]);
		else
			args = xasprintf("{\"manifest\":%s,\"targets\":[{"
			    "\"image_name\":\"x\",\"name\":"
			    "\"org.osbuild.worker.server\",\"osbuild_artifact\":"
			    "%s}]}", manifest, badart[i - nitems(bad)]);
		j = make_job(args, NULL);
		r = job_kind_osbuild.run(j, &ctx);
		assert_int_equal(err_id(r), 4);
		json_object_put(r);
		job_free(j);
		free(args);
	}
	assert_false(ran_osbuild());
}

static void
test_unknown_target(void **state)
{
	char		*args;
	struct job	*j;
	json_object	*r;

	args = xasprintf("{\"manifest\":%s,\"targets\":[{\"image_name\":\"x\","
	    "\"name\":\"org.example.nowhere\",\"osbuild_artifact\":{"
	    "\"export_filename\":\"disk.qcow2\",\"export_name\":\"image\"}}]}",
	    manifest);
	j = make_job(args, NULL);
	r = job_kind_osbuild.run(j, &ctx);
	assert_int_equal(err_id(r), 4);
	assert_non_null(strstr(err_reason(r), "org.example.nowhere"));
	assert_false(ran_osbuild());
	json_object_put(r);
	job_free(j);
	free(args);
}

static void
test_build_failure(void **state)
{
	struct job	*j = simple_job(NULL);
	json_object	*r, *d, *out;
	const char	*all;

	setenv("IB_OSBUILD_DOUBLE_MODE", "fail", 1);
	r = job_kind_osbuild.run(j, &ctx);
	assert_int_equal(err_id(r), 10);
	assert_string_equal(err_reason(r),
	    "osbuild build failed in stage: \"org.osbuild.qemu\"");
	d = json_object_object_get(job_result_error(r), "details");
	assert_true(json_object_is_type(d, json_type_array));
	all = json_object_to_json_string(d);
	/* The failing stage's own output travels with the error. */
	assert_non_null(strstr(all, "stage org.osbuild.qemu failed in the "
	    "double"));
	out = json_object_object_get(r, "osbuild_output");
	assert_string_equal(path_str(out, "type", NULL), "error");
	assert_false(json_object_get_boolean(json_object_object_get(r,
	    "success")));
	assert_output_empty();
	json_object_put(r);
	job_free(j);
}

static void
test_validation_failure(void **state)
{
	struct job	*j = simple_job(NULL);
	json_object	*r, *out;

	setenv("IB_OSBUILD_DOUBLE_MODE", "validation", 1);
	r = job_kind_osbuild.run(j, &ctx);
	assert_int_equal(err_id(r), 10);
	assert_non_null(strstr(json_object_to_json_string(
	    job_result_error(r)), "manifest validation error"));
	out = json_object_object_get(r, "osbuild_output");
	assert_string_equal(path_str(out, "type", NULL),
	    "https://osbuild.org/validation-error");
	assert_output_empty();
	json_object_put(r);
	job_free(j);
}

static void
test_crash_and_garbage(void **state)
{
	struct job	*j = simple_job(NULL);
	json_object	*r;

	setenv("IB_OSBUILD_DOUBLE_MODE", "crash", 1);
	r = job_kind_osbuild.run(j, &ctx);
	assert_int_equal(err_id(r), 10);
	assert_non_null(strstr(err_reason(r), "signal 9"));
	assert_output_empty();
	json_object_put(r);
	setenv("IB_OSBUILD_DOUBLE_MODE", "garbage", 1);
	r = job_kind_osbuild.run(j, &ctx);
	assert_int_equal(err_id(r), 10);
	assert_non_null(strstr(err_reason(r), "decoding"));
	assert_output_empty();
	json_object_put(r);
	job_free(j);
}

static void
test_missing_export(void **state)
{
	struct job	*j = simple_job(NULL);
	json_object	*r, *tr, *te;

	setenv("IB_OSBUILD_DOUBLE_MODE", "noexport", 1);
	r = job_kind_osbuild.run(j, &ctx);
	assert_int_equal(err_id(r), 28);
	tr = json_object_array_get_idx(json_object_object_get(r,
	    "target_results"), 0);
	te = json_object_object_get(tr, "target_error");
	assert_int_equal(json_object_get_int(json_object_object_get(te, "id")),
	    2);
	assert_non_null(strstr(json_object_get_string(json_object_object_get(
	    te, "reason")), "did not export image/disk.qcow2"));
	json_object_put(r);
	job_free(j);
}

/*
 * An export that is a symbolic link, or lies in one, is refused with a
 * clear error before any target reads it.
 */
static void
test_symlink_export(void **state)
{
	const char	*modes[] = { "symlink-export", "symlink-dir" };
	struct job	*j;
	json_object	*r, *tr, *te;
	size_t		 i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		setenv("IB_OSBUILD_DOUBLE_MODE", modes[i], 1);
		j = simple_job(NULL);
		r = job_kind_osbuild.run(j, &ctx);
		assert_int_equal(err_id(r), 28);
		tr = json_object_array_get_idx(json_object_object_get(r,
		    "target_results"), 0);
		te = json_object_object_get(tr, "target_error");
		assert_int_equal(json_object_get_int(json_object_object_get(te,
		    "id")), 2);
		assert_non_null(strstr(json_object_get_string(
		    json_object_object_get(te, "reason")),
		    "image/disk.qcow2 is a symbolic link"));
		assert_output_empty();
		json_object_put(r);
		job_free(j);
	}
}

/* What job.c's watcher does on cancel: flag, then signal the group. */
struct watcher {
	struct job	*job;
	int		 pgid;
};

static void *
cancel_mid_build(void *arg)
{
	struct watcher	*w = arg;
	int		 i;

	for (i = 0; i < 500 && atomic_load(&w->job->pgid) == 0; i++)
		usleep(10000);
	w->pgid = atomic_load(&w->job->pgid);
	usleep(500000);
	atomic_store(&w->job->canceled, 1);
	if (w->pgid > 0)
		kill(-w->pgid, SIGTERM);
	return NULL;
}

static void
test_cancel_mid_build(void **state)
{
	struct job	*j = simple_job(NULL);
	struct watcher	 w = { j, 0 };
	pthread_t	 t;
	json_object	*r;
	int64_t		 t0 = now_ms();

	/* The double ignores SIGTERM and leaves a grandchild: only the
	 * group kill after the grace ends it. */
	setenv("IB_OSBUILD_DOUBLE_MODE", "hang", 1);
	pthread_create(&t, NULL, cancel_mid_build, &w);
	r = job_kind_osbuild.run(j, &ctx);
	pthread_join(t, NULL);
	assert_true(now_ms() - t0 < 15000);
	assert_int_equal(err_id(r), 10);
	assert_non_null(strstr(err_reason(r), "canceled"));
	assert_true(w.pgid > 0);
	assert_int_equal(kill(-w.pgid, 0), -1);
	assert_int_equal(errno, ESRCH);
	assert_int_equal(atomic_load(&j->pgid), 0);
	assert_output_empty();
	json_object_put(r);
	job_free(j);
}

static void
test_eviction_across_builds(void **state)
{
	const int64_t	 per = 256 << 10, max = 1 << 20;
	char		*store, *rpmmd, *m, *args, *big;
	struct job	*j;
	json_object	*r;
	int		 i;

	conf->worker.cache_max_bytes = max;
	conf->worker.cache_min_free = 0;
	setenv("IB_OSBUILD_DOUBLE_STORE", "262144", 1);
	store = cache_path(cachedir, CACHE_STORE);
	rpmmd = cache_path(cachedir, CACHE_RPMMD);
	/* Old metadata is evicted too. */
	big = xasprintf("%s/old-repo", rpmmd);
	mkdir(big, 0755);
	free(big);
	big = xasprintf("dd if=/dev/zero of=%s/old-repo/primary.xml bs=1024 "
	    "count=512 2>/dev/null && touch -d '2 days ago' %s/old-repo",
	    rpmmd, rpmmd);
	assert_int_equal(system(big), 0);
	free(big);
	for (i = 0; i < 20; i++) {
		/* A distinct manifest each time: new store objects. */
		m = xasprintf("{\"version\":\"2\",\"pipelines\":[{\"name\":"
		    "\"build\",\"stages\":[{\"type\":\"org.osbuild.rpm\","
		    "\"options\":{\"n\":%d}}]},{\"name\":\"image\",\"stages\":"
		    "[{\"type\":\"org.osbuild.qemu\",\"options\":{\"filename\":"
		    "\"disk.qcow2\"}}]}]}", i);
		args = xasprintf("{\"manifest\":%s,\"targets\":[%s]}", m,
		    target);
		j = make_job(args, NULL);
		r = job_kind_osbuild.run(j, &ctx);
		assert_int_equal(err_id(r), 28);	/* built, no upload */
		/* Evicted before each build: over by at most one build. */
		assert_true(cache_usage(store) + cache_usage(rpmmd) <=
		    max + 2 * per + 64 * 1024);
		json_object_put(r);
		job_free(j);
		free(args);
		free(m);
	}
	assert_int_equal(cache_evict(cachedir, max, 0), 0);
	assert_true(cache_usage(store) + cache_usage(rpmmd) <= max);
	assert_int_equal(access(cachedir, F_OK), 0);
	big = xasprintf("%s/old-repo", rpmmd);
	assert_int_equal(access(big, F_OK), -1);
	free(big);
	free(store);
	free(rpmmd);
}

static void
test_corrupt_store_recovered(void **state)
{
	struct job	*j = simple_job(NULL);
	json_object	*r;
	char		*store, *cmd;

	/* A store that is a file, then one whose objects/ is a file. */
	store = cache_path(cachedir, CACHE_STORE);
	assert_int_equal(remove_tree(store), 0);
	assert_int_equal(write_file_atomic(store, "junk", 4, 0644), 0);
	r = job_kind_osbuild.run(j, &ctx);
	assert_int_equal(err_id(r), 28);
	json_object_put(r);
	cmd = xasprintf("rm -rf '%s/objects' && echo junk > '%s/objects'",
	    store, store);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	r = job_kind_osbuild.run(j, &ctx);
	assert_int_equal(err_id(r), 28);
	json_object_put(r);
	free(store);
	job_free(j);
}

static void
test_disk_full(void **state)
{
	struct job	*j = simple_job(NULL);
	json_object	*r;
	char		*opts;

	if (mount("ib-test", cachedir, "tmpfs", 0, "size=2m") == -1) {
		print_message("skipped: cannot mount a tmpfs (%s)\n",
		    strerror(errno));
		skip();
	}
	assert_int_equal(cache_init(cachedir), 0);
	conf->worker.cache_min_free = 0;
	/* An export larger than the disk: this job fails, clearly. */
	setenv("IB_OSBUILD_DOUBLE_SIZE", "4194304", 1);
	r = job_kind_osbuild.run(j, &ctx);
	assert_int_equal(err_id(r), 10);
	assert_non_null(strstr(err_reason(r), "ENOSPC"));
	assert_output_empty();
	json_object_put(r);
	/* And the next one goes on. */
	setenv("IB_OSBUILD_DOUBLE_SIZE", "65536", 1);
	r = job_kind_osbuild.run(j, &ctx);
	assert_int_equal(err_id(r), 28);
	assert_output_empty();
	json_object_put(r);
	job_free(j);
	opts = NULL;
	free(opts);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup_one, teardown_one)
		T(test_success_and_cli),
		T(test_manifest_from_dependency),
		T(test_dependency_failures),
		T(test_empty_manifest),
		T(test_hostile_names),
		T(test_unknown_target),
		T(test_build_failure),
		T(test_validation_failure),
		T(test_crash_and_garbage),
		T(test_missing_export),
		T(test_symlink_export),
		T(test_cancel_mid_build),
		T(test_eviction_across_builds),
		T(test_corrupt_store_recovered),
		T(test_disk_full),
#undef T
	};
	const char	*t = getenv("IB_TOP");

	if (t != NULL)
		snprintf(top, sizeof(top), "%s", t);
	else if (getcwd(top, sizeof(top)) == NULL)
		return 1;
	log_init(0, LOG_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
