/*
 * depsolve: resolve the package sets of each pipeline with the configured
 * depsolver (osbuild-depsolve-dnf, request API version 1: one call per
 * pipeline, its package sets as chained transactions) and answer in a
 * shape both server generations read: the 2024 keys (package_specs, error,
 * error_type) and the 2026 ones (transactions, repo_configs, solver).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "dnfjson.h"
#include "jobs/jobs.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"

#define DS_MAX_PIPELINES 64

static json_object *
str_list(json_object *v)
{
	json_object	*a = json_object_new_array();
	size_t		 i, n;

	if (v == NULL || !json_object_is_type(v, json_type_array))
		return a;
	n = json_object_array_length(v);
	for (i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(v, i);

		if (json_object_is_type(s, json_type_string))
			json_object_array_add(a, json_object_get(s));
	}
	return a;
}

struct pipeline {
	json_object	*request;	/* to the depsolver */
	json_object	*repos;		/* id -> the job's repository */
};

/*
 * One request for the chained package sets of a pipeline. Returns -1 with
 * why when the sets are malformed.
 */
static int
build_request(json_object *args, json_object *sets, const char *cachedir,
    struct pipeline *p, char *why, size_t whylen)
{
	json_object	*req, *arguments, *repos, *trans;
	size_t		 i, j, n, nr;

	if (!json_object_is_type(sets, json_type_array) ||
	    json_object_array_length(sets) == 0) {
		snprintf(why, whylen, "a pipeline has no package sets");
		return -1;
	}
	p->repos = json_object_new_object();
	repos = json_object_new_array();
	trans = json_object_new_array();
	n = json_object_array_length(sets);
	for (i = 0; i < n; i++) {
		json_object *set = json_object_array_get_idx(sets, i);
		json_object *t = json_object_new_object(), *ids, *rs, *v;
		int b;

		json_object_object_add(t, "package-specs",
		    str_list(json_object_object_get(set, "Include")));
		if ((v = json_object_object_get(set, "Exclude")) != NULL &&
		    json_object_is_type(v, json_type_array))
			json_object_object_add(t, "exclude-specs", str_list(v));
		if ((v = json_object_object_get(set,
		    "EnabledModules")) != NULL &&
		    json_object_is_type(v, json_type_array))
			json_object_object_add(t, "module-enable-specs",
			    str_list(v));
		ids = json_object_new_array();
		rs = json_object_object_get(set, "Repositories");
		nr = rs != NULL && json_object_is_type(rs, json_type_array) ?
		    json_object_array_length(rs) : 0;
		for (j = 0; j < nr; j++) {
			json_object *repo = json_object_array_get_idx(rs, j);
			char *id = dnfjson_repo_id(repo);

			if (json_object_object_get(p->repos, id) == NULL) {
				json_object_object_add(p->repos, id,
				    json_object_get(repo));
				json_object_array_add(repos,
				    dnfjson_repo(repo, id));
			}
			json_object_array_add(ids, json_object_new_string(id));
			free(id);
		}
		json_object_object_add(t, "repo-ids", ids);
		b = 0;
		json_get_bool(set, "InstallWeakDeps", &b);
		json_object_object_add(t, "install_weak_deps",
		    json_object_new_boolean(b));
		json_object_array_add(trans, t);
	}
	arguments = json_object_new_object();
	json_object_object_add(arguments, "repos", repos);
	json_object_object_add(arguments, "transactions", trans);
	req = json_object_new_object();
	json_object_object_add(req, "command",
	    json_object_new_string("depsolve"));
	json_object_object_add(req, "arch", json_object_new_string(
	    json_get_str(args, "arch") ? json_get_str(args, "arch") : ""));
	json_object_object_add(req, "releasever", json_object_new_string(
	    json_get_str(args, "releasever") ?
	    json_get_str(args, "releasever") : ""));
	if (json_get_str(args, "module_platform_id") != NULL)
		json_object_object_add(req, "module_platform_id",
		    json_object_new_string(json_get_str(args,
		    "module_platform_id")));
	json_object_object_add(req, "cachedir",
	    json_object_new_string(cachedir));
	json_object_object_add(req, "arguments", arguments);
	p->request = req;
	return 0;
}

/* A package of the depsolver's answer as the composer's PackageSpec. */
static json_object *
package_spec(json_object *pkg, json_object *repos)
{
	json_object	*s = json_object_new_object(), *v, *repo;
	const char	*rid = json_get_str(pkg, "repo_id"), *loc;
	int		 b;

	json_object_object_add(s, "name", json_object_new_string(
	    json_get_str(pkg, "name") ? json_get_str(pkg, "name") : ""));
	v = json_object_object_get(pkg, "epoch");
	json_object_object_add(s, "epoch", json_object_new_int(
	    v ? json_object_get_int(v) : 0));
	json_copy_str(s, "version", pkg, "version");
	json_copy_str(s, "release", pkg, "release");
	json_copy_str(s, "arch", pkg, "arch");
	loc = json_get_str(pkg, "remote_location");
	if (loc != NULL) {
		json_object *l = json_object_new_array();

		json_object_object_add(s, "remote_location",
		    json_object_new_string(loc));
		json_object_array_add(l, json_object_new_string(loc));
		json_object_object_add(s, "remote_locations", l);
	}
	json_copy_str(s, "checksum", pkg, "checksum");
	json_copy_str(s, "path", pkg, "path");
	json_copy_str(s, "location", pkg, "path");
	if (rid != NULL)
		json_object_object_add(s, "repo_id",
		    json_object_new_string(rid));
	repo = rid != NULL ? json_object_object_get(repos, rid) : NULL;
	b = 0;
	json_get_bool(repo, "check_gpg", &b);
	json_object_object_add(s, "check_gpg", json_object_new_boolean(b));
	b = 0;
	json_get_bool(repo, "ignore_ssl", &b);
	json_object_object_add(s, "ignore_ssl", json_object_new_boolean(b));
	json_copy_str(s, "sslcacert", repo, "sslcacert");
	json_copy_str(s, "sslclientkey", repo, "sslclientkey");
	json_copy_str(s, "sslclientcert", repo, "sslclientcert");
	return s;
}

/* The 2024 keys beside the job_error: error and error_type. */
static void
legacy_error(json_object *result)
{
	json_object	*e = job_result_error(result), *v;
	const char	*reason = "", *details = NULL;
	int		 id = 0;

	if (json_object_object_get_ex(e, "id", &v))
		id = json_object_get_int(v);
	if (json_object_object_get_ex(e, "reason", &v))
		reason = json_object_get_string(v);
	if (json_object_object_get_ex(e, "details", &v) &&
	    json_object_is_type(v, json_type_string))
		details = json_object_get_string(v);
	json_object_object_add(result, "error", json_object_new_string(
	    details && *details ? details : reason));
	json_object_object_add(result, "error_type", json_object_new_string(
	    id == JOB_ERR_DNF_DEPSOLVE || id == JOB_ERR_DNF_MARKING ?
	    "depsolve" : "other"));
}

static void
fail(json_object *result, int id, const char *reason, const char *details)
{
	job_set_error(result, id, reason,
	    details ? json_object_new_string(details) : NULL);
	legacy_error(result);
}

/*
 * Runs the depsolver for one pipeline. On success adds its answer to the
 * result maps and returns 0; else sets the job error and returns -1.
 */
static int
solve(struct job *job, const struct job_ctx *ctx, const char *name,
    struct pipeline *p, json_object *result)
{
	json_object	*ans, *pkgs, *specs, *tx, *rc, *v;
	size_t		 i, n;
	int		 rv = -1;

	log_info("depsolve: pipeline %s", name);
	if ((ans = dnfjson_run(ctx->conf, p->request, "depsolve",
	    &job->canceled, &job->pgid, result)) == NULL) {
		legacy_error(result);
		return -1;
	}
	pkgs = json_object_object_get(ans, "packages");
	if (pkgs == NULL || !json_object_is_type(pkgs, json_type_array)) {
		fail(result, JOB_ERR_RPMMD, "rpmmd error in depsolve job",
		    "the depsolver answered without packages");
		goto cleanup;
	}
	specs = json_object_new_array();
	n = json_object_array_length(pkgs);
	for (i = 0; i < n; i++)
		json_object_array_add(specs, package_spec(
		    json_object_array_get_idx(pkgs, i), p->repos));
	/* API version 1 gives the chain's final set only: one transaction. */
	tx = json_object_new_array();
	json_object_array_add(tx, json_object_get(specs));
	json_object_object_add(json_object_object_get(result, "package_specs"),
	    name, specs);
	json_object_object_add(json_object_object_get(result, "transactions"),
	    name, tx);
	rc = json_object_new_array();
	json_object_object_foreach(p->repos, id, repo) {
		json_object *c = json_object_new_object();

		json_object_object_foreach(repo, k, val)
			json_object_object_add(c, k, json_object_get(val));
		json_object_object_add(c, "id", json_object_new_string(id));
		json_object_array_add(rc, c);
	}
	json_object_object_add(json_object_object_get(result, "repo_configs"),
	    name, rc);
	if ((v = json_object_object_get(ans, "solver")) != NULL)
		json_object_object_add(result, "solver", json_object_get(v));
	if ((v = json_object_object_get(ans, "modules")) != NULL &&
	    json_object_is_type(v, json_type_object) &&
	    json_object_object_length(v) > 0) {
		if (json_object_object_get(result, "modules") == NULL)
			json_object_object_add(result, "modules",
			    json_object_new_object());
		json_object_object_add(json_object_object_get(result,
		    "modules"), name,
		    json_object_get(v));
	}
	log_info("depsolve: pipeline %s: %zu packages", name, n);
	rv = 0;
cleanup:
	json_object_put(ans);
	return rv;
}

json_object *
job_depsolve_run(struct job *job, const struct job_ctx *ctx)
{
	json_object	*result, *sets;
	struct pipeline	 p;
	char		*cachedir, why[256];
	int		 count = 0;

	result = json_object_new_object();
	json_object_object_add(result, "package_specs",
	    json_object_new_object());
	json_object_object_add(result, "transactions",
	    json_object_new_object());
	json_object_object_add(result, "repo_configs",
	    json_object_new_object());
	sets = json_object_object_get(job->args, "grouped_package_sets");
	if (sets == NULL || !json_object_is_type(sets, json_type_object) ||
	    json_object_object_length(sets) == 0 ||
	    json_object_object_length(sets) > DS_MAX_PIPELINES) {
		fail(result, JOB_ERR_PARSING_ARGS, "depsolve job has no usable "
		    "grouped_package_sets", NULL);
		return result;
	}
	/* The metadata cache shares the cache's bounds. */
	cache_prepare(ctx->conf, ctx->cache_dir);
	cachedir = cache_path(ctx->cache_dir, CACHE_RPMMD);
	json_object_object_foreach(sets, name, psets) {
		memset(&p, 0, sizeof(p));
		if (build_request(job->args, psets, cachedir, &p, why,
		    sizeof(why)) == -1) {
			fail(result, JOB_ERR_PARSING_ARGS, why, NULL);
			json_object_put(p.repos);
			break;
		}
		if (solve(job, ctx, name, &p, result) == -1) {
			json_object_put(p.request);
			json_object_put(p.repos);
			break;
		}
		json_object_put(p.request);
		json_object_put(p.repos);
		count++;
	}
	free(cachedir);
	if (job_result_error(result) != NULL) {
		/* An older server reads package_specs first: leave none. */
		json_object_object_del(result, "package_specs");
		json_object_object_del(result, "transactions");
		json_object_object_del(result, "repo_configs");
		return result;
	}
	json_object_object_add(result, "error", json_object_new_string(""));
	json_object_object_add(result, "error_type", json_object_new_string(""));
	log_info("depsolve: %d pipelines resolved", count);
	return result;
}
