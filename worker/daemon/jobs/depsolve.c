/*
 * depsolve: resolve the package sets of each pipeline with the configured
 * depsolver (osbuild-depsolve-dnf: one call per pipeline, its package sets
 * as chained transactions) and answer in a shape both server generations
 * read: the 2024 keys (package_specs, error, error_type) and the 2026 ones
 * (transactions, repo_configs, solver).
 *
 * The request is API version 2 (osbuild >= v166), whose answer keeps the
 * chained transactions apart as disjoint sets, as the reference worker
 * sends them. Older depsolvers do not look at "api_version" and answer
 * API v1: an object with the final set as "packages" (v116..v165) or that
 * list alone (<= v115), one transaction then. Their "gpgkey" is one string,
 * so a request with keys is asked again in v1 once an old one is seen; the
 * process remembers which API the depsolver spoke.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "jobs/dnfjson.h"
#include "jobs/jobs.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"

#define DS_MAX_PIPELINES 64

/* The API the depsolver answered last: 0 not known yet, 1 or 2. */
static atomic_int	ds_api;

static json_object *
str_list(json_object *v)
{
	json_object	*a = json_object_new_array();
	size_t		 i, n;

	if (v == NULL)		/* json_get_arr: an array or NULL */
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
	json_object	*args;		/* the job's, borrowed */
	json_object	*sets;		/* its package sets, borrowed */
	const char	*cachedir;
	json_object	*request;	/* to the depsolver */
	json_object	*repos;		/* id -> the job's repository */
	int		 has_keys;	/* a repository lists gpg keys */
};

/*
 * The request (API version api) for the chained package sets of a
 * pipeline, replacing p->request. Returns -1 with why when the sets are
 * malformed.
 */
static int
build_request(struct pipeline *p, int api, char *why, size_t whylen)
{
	json_object	*req, *arguments, *repos, *trans, *sets = p->sets;
	json_object	*args = p->args;
	size_t		 i, j, n, nr;

	if (!json_object_is_type(sets, json_type_array) ||
	    json_object_array_length(sets) == 0) {
		snprintf(why, whylen, "a pipeline has no package sets");
		return -1;
	}
	json_object_put(p->request);
	p->request = NULL;
	json_object_put(p->repos);
	p->repos = json_object_new_object();
	repos = json_object_new_array();
	trans = json_object_new_array();
	n = json_object_array_length(sets);
	for (i = 0; i < n; i++) {
		json_object *set = json_object_array_get_idx(sets, i);
		json_object *t = json_object_new_object(), *ids, *rs, *v;
		int b;

		json_object_object_add(t, "package-specs",
		    str_list(json_get_arr(set, "Include")));
		if ((v = json_get_arr(set, "Exclude")) != NULL)
			json_object_object_add(t, "exclude-specs", str_list(v));
		if ((v = json_get_arr(set, "EnabledModules")) != NULL)
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
				json_object *r = dnfjson_repo_api(repo, id,
				    api);

				json_object_object_add(p->repos, id,
				    json_object_get(repo));
				if (json_object_object_get(r, api >= 2 ?
				    "gpgkey" : "gpgkeys") != NULL)
					p->has_keys = 1;
				json_object_array_add(repos, r);
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
	if (api >= 2)
		json_object_object_add(req, "api_version",
		    json_object_new_int(api));
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
	    json_object_new_string(p->cachedir));
	json_object_object_add(req, "arguments", arguments);
	p->request = req;
	return 0;
}

/* A package of the depsolver's answer as the composer's PackageSpec. */
static json_object *
package_spec(json_object *pkg, json_object *repos)
{
	json_object	*s = json_object_new_object(), *v, *repo;
	const char	*rid = json_get_str(pkg, "repo_id"), *loc, *path;
	int		 b;

	if (!json_object_is_type(pkg, json_type_object))
		return NULL;

	json_object_object_add(s, "name", json_object_new_string(
	    json_get_str(pkg, "name") ? json_get_str(pkg, "name") : ""));
	v = json_object_object_get(pkg, "epoch");
	json_object_object_add(s, "epoch", json_object_new_int(
	    v ? json_object_get_int(v) : 0));
	json_copy_str(s, "version", pkg, "version");
	json_copy_str(s, "release", pkg, "release");
	json_copy_str(s, "arch", pkg, "arch");
	/* v1: remote_location, path, "alg:hex"; v2: remote_locations[],
	 * location, {algorithm, value}. */
	loc = json_get_str(pkg, "remote_location");
	if (loc == NULL &&
	    (v = json_get_arr(pkg, "remote_locations")) != NULL &&
	    json_object_array_length(v) > 0)
		loc = job_string(json_object_array_get_idx(v, 0));
	if (loc != NULL) {
		json_object *l = json_object_new_array();

		json_object_object_add(s, "remote_location",
		    json_object_new_string(loc));
		json_object_array_add(l, json_object_new_string(loc));
		json_object_object_add(s, "remote_locations", l);
	}
	v = json_object_object_get(pkg, "checksum");
	if (v != NULL && json_object_is_type(v, json_type_object) &&
	    json_get_str(v, "algorithm") != NULL &&
	    json_get_str(v, "value") != NULL) {
		char *c = xasprintf("%s:%s", json_get_str(v, "algorithm"),
		    json_get_str(v, "value"));

		json_object_object_add(s, "checksum", json_object_new_string(c));
		free(c);
	} else
		json_copy_str(s, "checksum", pkg, "checksum");
	path = json_get_str(pkg, "location") ? json_get_str(pkg, "location") :
	    json_get_str(pkg, "path");
	if (path != NULL) {
		json_object_object_add(s, "path", json_object_new_string(path));
		json_object_object_add(s, "location",
		    json_object_new_string(path));
	}
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
	details = json_get_str(e, "details");
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

/* The specs of a list of the depsolver's packages; NULL when malformed. */
static json_object *
spec_list(json_object *pkgs, json_object *repos)
{
	json_object	*specs, *s;
	size_t		 i, n;

	if (pkgs == NULL || !json_object_is_type(pkgs, json_type_array))
		return NULL;
	specs = json_object_new_array();
	n = json_object_array_length(pkgs);
	for (i = 0; i < n; i++) {
		if ((s = package_spec(json_object_array_get_idx(pkgs, i),
		    repos)) == NULL) {
			json_object_put(specs);
			return NULL;
		}
		json_object_array_add(specs, s);
	}
	return specs;
}

/* The API of an answer: 2 with transactions, 1 with packages, else 0. */
static int
answer_api(json_object *ans)
{
	if (json_object_is_type(ans, json_type_array))
		return 1;		/* <= v115: the package list alone */
	if (!json_object_is_type(ans, json_type_object))
		return 0;
	if (json_get_arr(ans, "transactions") != NULL)
		return 2;
	if (json_get_arr(ans, "packages") != NULL)
		return 1;
	return 0;
}

/*
 * The transactions of an answer of that API (one list of specs per
 * transaction) and all their specs in *all; NULL when malformed.
 */
static json_object *
answer_transactions(json_object *ans, int api, json_object *repos,
    json_object **all)
{
	json_object	*tx = json_object_new_array(), *t, *specs;
	size_t		 i, j, n;

	*all = json_object_new_array();
	if (api == 1) {
		/* v1 gives the chain's final set only: one transaction. */
		specs = spec_list(json_object_is_type(ans, json_type_array) ?
		    ans : json_object_object_get(ans, "packages"), repos);
		if (specs == NULL)
			goto bad;
		json_object_array_add(tx, specs);
	} else {
		t = json_object_object_get(ans, "transactions");
		n = json_object_array_length(t);
		for (i = 0; i < n; i++) {
			if ((specs = spec_list(json_object_array_get_idx(t, i),
			    repos)) == NULL)
				goto bad;
			json_object_array_add(tx, specs);
		}
	}
	n = json_object_array_length(tx);
	for (i = 0; i < n; i++) {
		specs = json_object_array_get_idx(tx, i);
		for (j = 0; j < json_object_array_length(specs); j++)
			json_object_array_add(*all, json_object_get(
			    json_object_array_get_idx(specs, j)));
	}
	return tx;
bad:
	json_object_put(tx);
	json_object_put(*all);
	*all = NULL;
	return NULL;
}

/* 1 when the depsolver's error is about the packages asked for. */
static int
solver_said_no(json_object *scratch)
{
	json_object	*e = job_result_error(scratch), *v;
	int		 id;

	if (e == NULL || !json_object_object_get_ex(e, "id", &v))
		return 0;
	id = json_object_get_int(v);
	return id == JOB_ERR_DNF_DEPSOLVE || id == JOB_ERR_DNF_MARKING;
}

/*
 * Runs the depsolver for one pipeline. On success adds its answer to the
 * result maps and returns 0; else sets the job error and returns -1.
 */
static int
solve(struct job *job, const struct job_ctx *ctx, const char *name,
    struct pipeline *p, json_object *result)
{
	json_object	*ans = NULL, *scratch = NULL, *specs, *tx, *rc, *v;
	int		 known = atomic_load(&ds_api), api, got, rv = -1;
	char		 why[256];

	/* Known to speak v1 only, a request with keys goes in v1 at once. */
	api = 2;
	if (build_request(p, api, why, sizeof(why)) == 0 && known == 1 &&
	    p->has_keys) {
		api = 1;
		build_request(p, api, why, sizeof(why));
	}
	for (;;) {
		if (p->request == NULL) {
			fail(result, JOB_ERR_PARSING_ARGS, why, NULL);
			goto cleanup;
		}
		json_object_put(scratch);
		scratch = json_object_new_object();
		ans = dnfjson_run(ctx->conf, p->request, "depsolve",
		    &job->canceled, &job->pgid, scratch);
		got = ans != NULL ? answer_api(ans) : 0;
		/*
		 * A depsolver before v166 reads a key list as one key: when
		 * it answered v1, or failed otherwise than on the packages,
		 * ask again in its words.
		 */
		if (api == 2 && p->has_keys && !atomic_load(&job->canceled) &&
		    (ans != NULL ? got == 1 : !solver_said_no(scratch))) {
			log_info("depsolve: the depsolver %s; asking in API "
			    "version 1", ans != NULL ? "answers API version 1" :
			    "failed on an API version 2 request with keys");
			json_object_put(ans);
			ans = NULL;
			api = 1;
			build_request(p, api, why, sizeof(why));
			continue;
		}
		break;
	}
	if (ans == NULL) {
		json_object_object_add(result, "job_error", json_object_get(
		    job_result_error(scratch)));
		legacy_error(result);
		goto cleanup;
	}
	if (got == 0 || (tx = answer_transactions(ans, got, p->repos,
	    &specs)) == NULL) {
		fail(result, JOB_ERR_RPMMD, "rpmmd error in depsolve job",
		    "the depsolver answered without packages");
		goto cleanup;
	}
	atomic_store(&ds_api, got);
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
	log_info("depsolve: pipeline %s: %zu packages in %zu transactions "
	    "(depsolver API version %d)", name,
	    json_object_array_length(specs), json_object_array_length(tx),
	    got);
	rv = 0;
cleanup:
	json_object_put(scratch);
	json_object_put(ans);
	return rv;
}

static json_object *
depsolve_run(struct job *job, const struct job_ctx *ctx)
{
	json_object	*result, *sets;
	struct pipeline	 p;
	char		*cachedir;
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
		p.args = job->args;
		p.sets = psets;
		p.cachedir = cachedir;
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

const struct job_kind job_kind_depsolve = {
	"depsolve", depsolve_run, 1, dnfjson_available
};
