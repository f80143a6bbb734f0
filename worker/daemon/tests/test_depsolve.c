/*
 * The depsolve job kind against the depsolver test double: the request it
 * sends (osbuild-depsolve-dnf's format), a result both server generations
 * read, and each error kind mapped to the reference's ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "cache.h"
#include "config.h"
#include "jobs/jobs.h"
#include "log.h"
#include "util.h"

static char		 top[4096];
static char		 cachedir[64];
static char		 reqlog[128];
static struct config	*conf;
static struct job_ctx	 ctx;

static struct job *
fixture_job(void)
{
	char		*path, *text, err[256];
	struct job	*j;
	json_object	*doc;

	path = xasprintf("%s/worker/tests/fixtures/"
	    "composer-v105-requestjob-depsolve-response.json", top);
	text = read_file(path, 1 << 20, NULL);
	assert_non_null(text);
	doc = json_tokener_parse(text);
	assert_non_null(doc);
	j = job_parse(doc, err, sizeof(err));
	assert_non_null(j);
	free(text);
	free(path);
	return j;
}

/* A job with one pipeline of one package set. */
static struct job *
small_job(const char *include, const char *baseurl)
{
	char		*s, err[256];
	struct job	*j;

	s = xasprintf("{\"id\":\"d1\",\"type\":\"depsolve\",\"location\":"
	    "\"/api/worker/v1/jobs/t\",\"args\":{\"grouped_package_sets\":{"
	    "\"os\":[{\"Include\":[%s],\"Exclude\":null,\"Repositories\":[{"
	    "\"baseurls\":[\"%s\"],\"check_gpg\":true}],\"InstallWeakDeps\":"
	    "false}]},\"module_platform_id\":\"platform:f39\",\"arch\":"
	    "\"x86_64\",\"releasever\":\"39\"}}", include, baseurl);
	j = job_parse(json_tokener_parse(s), err, sizeof(err));
	assert_non_null(j);
	free(s);
	return j;
}

static int
err_id(json_object *r)
{
	json_object	*e = job_result_error(r);

	return e ? json_object_get_int(json_object_object_get(e, "id")) : 0;
}

static int
setup_one(void **state)
{
	strcpy(cachedir, "/tmp/test_depsolve.XXXXXX");
	assert_non_null(mkdtemp(cachedir));
	snprintf(reqlog, sizeof(reqlog), "%s.req", cachedir);
	unlink(reqlog);
	setenv("IB_DEPSOLVER_DOUBLE_LOG", reqlog, 1);
	setenv("IB_DEPSOLVER_DOUBLE_MODE", "ok", 1);
	conf = config_defaults();
	free(conf->dnf_json);
	conf->dnf_json = xasprintf("%s/worker/tests/doubles/depsolver", top);
	assert_int_equal(cache_init(cachedir), 0);
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = conf;
	ctx.cache_dir = cachedir;
	return 0;
}

static int
teardown_one(void **state)
{
	remove_tree(cachedir);
	unlink(reqlog);
	config_free(conf);
	return 0;
}

static int
has_package(json_object *list, const char *name)
{
	size_t	 i, n = json_object_array_length(list);

	for (i = 0; i < n; i++)
		if (strcmp(json_object_get_string(json_object_object_get(
		    json_object_array_get_idx(list, i), "name")), name) == 0)
			return 1;
	return 0;
}

static void
test_success_both_generations(void **state)
{
	struct job	*j = fixture_job();
	json_object	*r, *specs, *build, *tx, *rc, *pkg;
	char		*rpmmd, *empty;

	r = job_kind_depsolve.run(j, &ctx);
	assert_int_equal(err_id(r), 0);
	/* 2024 keys. */
	assert_string_equal(json_object_get_string(json_object_object_get(r,
	    "error")), "");
	assert_string_equal(json_object_get_string(json_object_object_get(r,
	    "error_type")), "");
	specs = json_object_object_get(r, "package_specs");
	build = json_object_object_get(specs, "build");
	assert_non_null(build);
	assert_non_null(json_object_object_get(specs, "os"));
	/* Asked for, and pulled in as dependencies. */
	assert_true(has_package(build, "qemu-img"));
	assert_true(has_package(build, "glibc"));
	assert_true(has_package(build, "glibc-common"));
	/* Weak dependencies were asked for in this fixture. */
	assert_true(has_package(build, "glibc-langpack-en"));
	/* Excluded in os. */
	assert_false(has_package(json_object_object_get(specs, "os"),
	    "firewalld"));
	pkg = json_object_array_get_idx(build, 0);
	assert_non_null(json_object_object_get(pkg, "checksum"));
	assert_non_null(strstr(json_object_get_string(json_object_object_get(
	    pkg, "remote_location")), "http://127.0.0.1:9/fedora/39/"));
	assert_non_null(json_object_object_get(pkg, "repo_id"));
	assert_false(json_object_get_boolean(json_object_object_get(pkg,
	    "check_gpg")));
	/* 2026 keys. */
	tx = json_object_object_get(json_object_object_get(r, "transactions"),
	    "build");
	assert_int_equal(json_object_array_length(tx), 1);
	assert_int_equal(json_object_array_length(json_object_array_get_idx(
	    tx, 0)), json_object_array_length(build));
	rc = json_object_object_get(json_object_object_get(r, "repo_configs"),
	    "build");
	assert_int_equal(json_object_array_length(rc), 1);
	assert_string_equal(json_object_get_string(json_object_object_get(
	    json_object_array_get_idx(rc, 0), "id")),
	    json_object_get_string(json_object_object_get(pkg, "repo_id")));
	assert_string_equal(json_object_get_string(json_object_object_get(r,
	    "solver")), "dnf");
	/*
	 * The metadata went to the cache's rpmmd: it uses more than an empty
	 * folder beside it (4096 bytes on ext4, none on tmpfs).
	 */
	rpmmd = cache_path(cachedir, CACHE_RPMMD);
	empty = xasprintf("%s/empty", cachedir);
	assert_int_equal(mkdir(empty, 0700), 0);
	assert_true(cache_usage(rpmmd) > cache_usage(empty));
	assert_int_equal(rmdir(empty), 0);
	free(empty);
	free(rpmmd);
	json_object_put(r);
	job_free(j);
}

static void
test_request_format(void **state)
{
	struct job	*j = small_job("\"bash\"", "http://127.0.0.1:9/repo/");
	json_object	*r, *req, *t, *repo;
	char		*text, *rpmmd;

	r = job_kind_depsolve.run(j, &ctx);
	assert_int_equal(err_id(r), 0);
	text = read_file(reqlog, 1 << 20, NULL);
	assert_non_null(text);
	req = json_tokener_parse(text);
	assert_non_null(req);
	assert_string_equal(json_object_get_string(json_object_object_get(req,
	    "command")), "depsolve");
	assert_string_equal(json_object_get_string(json_object_object_get(req,
	    "arch")), "x86_64");
	assert_string_equal(json_object_get_string(json_object_object_get(req,
	    "releasever")), "39");
	assert_string_equal(json_object_get_string(json_object_object_get(req,
	    "module_platform_id")), "platform:f39");
	rpmmd = cache_path(cachedir, CACHE_RPMMD);
	assert_string_equal(json_object_get_string(json_object_object_get(req,
	    "cachedir")), rpmmd);
	free(rpmmd);
	repo = json_object_array_get_idx(json_object_object_get(
	    json_object_object_get(req, "arguments"), "repos"), 0);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(
	    json_object_object_get(repo, "baseurl"), 0)),
	    "http://127.0.0.1:9/repo/");
	assert_true(json_object_get_boolean(json_object_object_get(repo,
	    "gpgcheck")));
	t = json_object_array_get_idx(json_object_object_get(
	    json_object_object_get(req, "arguments"), "transactions"), 0);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(
	    json_object_object_get(t, "package-specs"), 0)), "bash");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(
	    json_object_object_get(t, "repo-ids"), 0)),
	    json_object_get_string(json_object_object_get(repo, "id")));
	assert_false(json_object_get_boolean(json_object_object_get(t,
	    "install_weak_deps")));
	json_object_put(req);
	free(text);
	json_object_put(r);
	job_free(j);
}

struct error_case {
	const char	*include;
	const char	*baseurl;
	const char	*mode;
	int		 id;
	const char	*error_type;
};

static void
test_errors(void **state)
{
	static const struct error_case cases[] = {
	    { "\"no-such-package\"", "http://127.0.0.1:9/r/", "ok", 21,
	      "depsolve" },
	    { "\"broken-dep\"", "http://127.0.0.1:9/r/", "ok", 20,
	      "depsolve" },
	    { "\"bash\"", "http://127.0.0.1:9/unreachable/", "ok", 25,
	      "other" },
	    { "\"bash\"", "http://127.0.0.1:9/r/", "other", 22, "other" },
	    { "\"bash\"", "http://127.0.0.1:9/r/", "crash", 23, "other" },
	    { "\"bash\"", "http://127.0.0.1:9/r/", "garbage", 23, "other" },
	};
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		struct job *j = small_job(cases[i].include, cases[i].baseurl);
		json_object *r;

		setenv("IB_DEPSOLVER_DOUBLE_MODE", cases[i].mode, 1);
		r = job_kind_depsolve.run(j, &ctx);
		print_message("case %zu: %s\n", i, json_object_to_json_string(
		    job_result_error(r)));
		assert_int_equal(err_id(r), cases[i].id);
		assert_string_equal(json_object_get_string(
		    json_object_object_get(r, "error_type")),
		    cases[i].error_type);
		assert_true(strlen(json_object_get_string(
		    json_object_object_get(r, "error"))) > 0);
		/* No half answer for an older server to misread. */
		assert_null(json_object_object_get(r, "package_specs"));
		json_object_put(r);
		job_free(j);
	}
}

/* Two chained package sets, the second selinux-policy-targeted. */
static struct job *
chained_job(int keys)
{
	char		*s, *repo, err[256];
	struct job	*j;

	repo = xasprintf("{\"baseurls\":[\"http://127.0.0.1:9/r/\"],"
	    "\"check_gpg\":%s%s}", keys ? "true" : "false", keys ?
	    ",\"gpgkeys\":[\"-----BEGIN PGP PUBLIC KEY BLOCK-----\"]" : "");
	s = xasprintf("{\"id\":\"d2\",\"type\":\"depsolve\",\"location\":"
	    "\"/api/worker/v1/jobs/t\",\"args\":{\"grouped_package_sets\":{"
	    "\"os\":[{\"Include\":[\"bash\"],\"Repositories\":[%s]},"
	    "{\"Include\":[\"selinux-policy-targeted\"],\"Repositories\":"
	    "[%s]}]},\"arch\":\"x86_64\",\"releasever\":\"39\"}}", repo,
	    repo);
	j = job_parse(json_tokener_parse(s), err, sizeof(err));
	assert_non_null(j);
	free(s);
	free(repo);
	return j;
}

/* The requests the double was sent since the log was emptied. */
static int
requests_sent(int *last_api)
{
	char	*text = read_file(reqlog, 1 << 20, NULL), *line, *save = NULL;
	int	 n = 0;

	*last_api = 0;
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		json_object *req = json_tokener_parse(line), *v;

		assert_non_null(req);
		*last_api = json_object_object_get_ex(req, "api_version", &v) ?
		    json_object_get_int(v) : 1;
		json_object_put(req);
		n++;
	}
	free(text);
	unlink(reqlog);
	return n;
}

struct version_case {
	const char	*version;	/* osbuild release the double plays */
	int		 keys;
	int		 transactions;	/* in the result */
	int		 requests;	/* sent */
	int		 last_api;	/* of the last request */
};

static void
test_chained_transactions(void **state)
{
	/* In this order: the process remembers what the depsolver spoke. */
	static const struct version_case cases[] = {
	    { "190", 1, 2, 1, 2 },	/* v2: kept apart */
	    { "130", 1, 1, 2, 1 },	/* failed on the key list: again v1 */
	    { "166", 0, 2, 1, 2 },
	    { "115", 1, 1, 2, 1 },	/* a list of packages, after a retry */
	    { "130", 0, 1, 1, 2 },	/* an object, api_version ignored */
	    { "130", 1, 1, 1, 1 },	/* known v1: keys go in v1 at once */
	};
	size_t		 i;

	for (i = 0; i < nitems(cases); i++) {
		struct job *j = chained_job(cases[i].keys);
		json_object *r, *tx, *os, *second, *pkg;
		int api, sent;

		setenv("IB_DEPSOLVER_DOUBLE_VERSION", cases[i].version, 1);
		unlink(reqlog);
		r = job_kind_depsolve.run(j, &ctx);
		print_message("case %zu (v%s, keys %d): %.300s\n", i,
		    cases[i].version, cases[i].keys,
		    json_object_to_json_string(job_result_error(r)));
		assert_int_equal(err_id(r), 0);
		sent = requests_sent(&api);
		assert_int_equal(sent, cases[i].requests);
		assert_int_equal(api, cases[i].last_api);
		os = json_object_object_get(json_object_object_get(r,
		    "package_specs"), "os");
		/* bash, filesystem, glibc, glibc-common, ncurses-libs, then
		 * policycoreutils, selinux-policy-targeted. */
		assert_int_equal(json_object_array_length(os), 7);
		assert_true(has_package(os, "selinux-policy-targeted"));
		tx = json_object_object_get(json_object_object_get(r,
		    "transactions"), "os");
		assert_int_equal(json_object_array_length(tx),
		    cases[i].transactions);
		if (cases[i].transactions == 2) {
			second = json_object_array_get_idx(tx, 1);
			assert_int_equal(json_object_array_length(second), 2);
			assert_true(has_package(second,
			    "selinux-policy-targeted"));
			assert_false(has_package(second, "bash"));
			assert_true(has_package(json_object_array_get_idx(tx,
			    0), "bash"));
		}
		/* Either shape becomes the same package spec. */
		pkg = json_object_array_get_idx(os, 0);
		assert_string_equal(json_object_get_string(
		    json_object_object_get(pkg, "name")), "bash");
		assert_string_equal(json_object_get_string(
		    json_object_object_get(pkg, "checksum")), "sha256:"
		    "37d2b12d5d9abc2a364ef9448767ee03938e383c0284193477dc7618f4b7c6c2");
		assert_string_equal(json_object_get_string(
		    json_object_object_get(pkg, "remote_location")),
		    "http://127.0.0.1:9/r/Packages/b/bash-1.0-1.fc39.x86_64.rpm");
		assert_string_equal(json_object_get_string(
		    json_object_object_get(pkg, "path")),
		    "Packages/b/bash-1.0-1.fc39.x86_64.rpm");
		json_object_put(r);
		job_free(j);
	}
	unsetenv("IB_DEPSOLVER_DOUBLE_VERSION");
}

static void
test_missing_depsolver(void **state)
{
	struct job	*j = small_job("\"bash\"", "http://127.0.0.1:9/r/");
	json_object	*r;

	free(conf->dnf_json);
	conf->dnf_json = xstrdup("/nonexistent/osbuild-depsolve-dnf");
	r = job_kind_depsolve.run(j, &ctx);
	assert_int_equal(err_id(r), 23);
	json_object_put(r);
	job_free(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup_one, teardown_one)
		T(test_success_both_generations),
		T(test_request_format),
		T(test_errors),
		T(test_missing_depsolver),
		T(test_chained_transactions),
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
