/*
 * search-packages: ask the depsolver which packages of the job's
 * repositories match the job's names or globs, and answer
 * {"packages":[...]} sorted by name, version and release, as the
 * reference does. Depsolver failures carry the depsolve error ids.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cache.h"
#include "jobs/dnfjson.h"
#include "jobs/jobs.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"

#define SP_MAX_PACKAGES	1024
#define SP_MAX_REPOS	256

/*
 * [repository_mtls]: a repository under its baseurl gets its CA and
 * client certificate, as the reference sets them up.
 */
static void
apply_mtls(const struct config *conf, json_object *dnfrepo)
{
	json_object	*urls;
	size_t		 i, n;
	int		 match = 0;

	if (conf->repository_mtls.baseurl == NULL ||
	    !json_object_object_get_ex(dnfrepo, "baseurl", &urls))
		return;
	n = json_object_array_length(urls);
	for (i = 0; i < n && !match; i++)
		match = url_under(json_object_get_string(
		    json_object_array_get_idx(urls, i)),
		    conf->repository_mtls.baseurl);
	if (!match)
		return;
	if (conf->repository_mtls.ca != NULL)
		json_object_object_add(dnfrepo, "sslcacert",
		    json_object_new_string(conf->repository_mtls.ca));
	if (conf->repository_mtls.mtls_client_key != NULL)
		json_object_object_add(dnfrepo, "sslclientkey",
		    json_object_new_string(
		    conf->repository_mtls.mtls_client_key));
	if (conf->repository_mtls.mtls_client_cert != NULL)
		json_object_object_add(dnfrepo, "sslclientcert",
		    json_object_new_string(
		    conf->repository_mtls.mtls_client_cert));
}

static int
pkg_cmp(const void *a, const void *b)
{
	json_object	*pa = *(json_object *const *)a;
	json_object	*pb = *(json_object *const *)b;
	const char	*keys[] = { "name", "version", "release", "arch" };
	size_t		 i;
	int		 c;

	for (i = 0; i < nitems(keys); i++) {
		const char *x = json_get_str(pa, keys[i]), *y = json_get_str(pb,
		    keys[i]);

		if ((c = strcmp(x ? x : "", y ? y : "")) != 0)
			return c;
	}
	return 0;
}

/* Checks the args; returns the request or NULL with why. */
static json_object *
build_request(const struct job_ctx *ctx, json_object *args, char *why,
    size_t whylen)
{
	json_object	*pkgs, *repos, *req, *arguments, *dnfrepos, *search;
	const char	*keys[] = { "module_platform_id", "arch", "releasever" };
	char		*cachedir;
	size_t		 i, n;

	if (!json_object_object_get_ex(args, "packages", &pkgs) ||
	    !json_object_is_type(pkgs, json_type_array) ||
	    (n = json_object_array_length(pkgs)) == 0 || n > SP_MAX_PACKAGES) {
		snprintf(why, whylen, "search-packages: args.packages must be "
		    "a list of 1 to %d names", SP_MAX_PACKAGES);
		return NULL;
	}
	for (i = 0; i < n; i++)
		if (!json_object_is_type(json_object_array_get_idx(pkgs, i),
		    json_type_string)) {
			snprintf(why, whylen, "search-packages: args.packages "
			    "must hold strings");
			return NULL;
		}
	if (!json_object_object_get_ex(args, "repos", &repos) ||
	    !json_object_is_type(repos, json_type_array) ||
	    (n = json_object_array_length(repos)) == 0 || n > SP_MAX_REPOS) {
		snprintf(why, whylen, "search-packages: args.repos must be a "
		    "list of 1 to %d repositories", SP_MAX_REPOS);
		return NULL;
	}
	dnfrepos = json_object_new_array();
	for (i = 0; i < n; i++) {
		json_object *repo = json_object_array_get_idx(repos, i), *r;
		char *id;

		if (!json_object_is_type(repo, json_type_object)) {
			json_object_put(dnfrepos);
			snprintf(why, whylen, "search-packages: a repository "
			    "is not an object");
			return NULL;
		}
		id = dnfjson_repo_id(repo);
		r = dnfjson_repo(repo, id);
		free(id);
		apply_mtls(ctx->conf, r);
		json_object_array_add(dnfrepos, r);
	}
	search = json_object_new_object();
	json_object_object_add(search, "latest", json_object_new_boolean(0));
	json_object_object_add(search, "packages", json_object_get(pkgs));
	arguments = json_object_new_object();
	json_object_object_add(arguments, "repos", dnfrepos);
	json_object_object_add(arguments, "search", search);

	req = json_object_new_object();
	json_object_object_add(req, "command", json_object_new_string("search"));
	for (i = 0; i < nitems(keys); i++) {
		const char *s = json_get_str(args, keys[i]);

		json_object_object_add(req, keys[i],
		    json_object_new_string(s ? s : ""));
	}
	cachedir = cache_path(ctx->cache_dir, CACHE_RPMMD);
	json_object_object_add(req, "cachedir", json_object_new_string(cachedir));
	free(cachedir);
	json_object_object_add(req, "proxy", json_object_new_string(
	    ctx->conf->repository_mtls.proxy ? ctx->conf->repository_mtls.proxy :
	    ""));
	json_object_object_add(req, "arguments", arguments);
	return req;
}

static json_object *
search_packages_run(struct job *job, const struct job_ctx *ctx)
{
	json_object	*result, *req, *ans, *list, *sorted;
	json_object	**items = NULL;
	char		 why[256];
	size_t		 i, n;

	result = json_object_new_object();
	json_object_object_add(result, "packages", NULL);
	if ((req = build_request(ctx, job->args, why, sizeof(why))) == NULL) {
		job_set_error(result, JOB_ERR_PARSING_ARGS, why, NULL);
		return result;
	}
	cache_prepare(ctx->conf, ctx->cache_dir);
	ans = dnfjson_run(ctx->conf, req, "search-packages", &job->canceled,
	    &job->pgid, result);
	json_object_put(req);
	if (ans == NULL)
		return result;
	/* A list, or {"packages": list} from newer depsolvers. */
	list = ans;
	if (json_object_is_type(ans, json_type_object))
		json_object_object_get_ex(ans, "packages", &list);
	if (list == NULL || !json_object_is_type(list, json_type_array)) {
		job_set_error(result, JOB_ERR_RPMMD,
		    "rpmmd error in search-packages job",
		    json_object_new_string("the depsolver answered without a "
		    "package list"));
		json_object_put(ans);
		return result;
	}
	n = json_object_array_length(list);
	items = xcalloc(n ? n : 1, sizeof(*items));
	for (i = 0; i < n; i++)
		items[i] = json_object_array_get_idx(list, i);
	qsort(items, n, sizeof(*items), pkg_cmp);
	sorted = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(sorted, json_object_get(items[i]));
	free(items);
	json_object_object_add(result, "packages", sorted);
	json_object_put(ans);
	log_info("search-packages: %zu packages found", n);
	return result;
}

const struct job_kind job_kind_search_packages = {
	"search-packages", search_packages_run, 1, dnfjson_available
};
