/*
 * Running the depsolver and reading its answer. See dnfjson.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "jobs/dnfjson.h"
#include "exec.h"
#include "job.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"

#define DNFJSON_TIMEOUT_MS	(60L * 60 * 1000)	/* metadata can be slow */
#define DNFJSON_STDOUT_MAX	(256u << 20)

const char *
dnfjson_path(const struct config *conf)
{
	return conf->dnf_json != NULL && *conf->dnf_json != '\0' ?
	    conf->dnf_json : CONFIG_DEFAULT_DNFJSON;
}

int
dnfjson_available(const struct config *conf, char *why, size_t whylen)
{
	const char	*p = dnfjson_path(conf), *path;
	char		*dirs, *dir, *save = NULL, *cand;
	int		 ok = 0;

	if (strchr(p, '/') != NULL) {
		if (access(p, X_OK) == 0)
			return 1;
		snprintf(why, whylen, "the depsolver %s cannot be run", p);
		return 0;
	}
	if ((path = getenv("PATH")) == NULL)
		path = "/usr/bin:/bin";
	dirs = xstrdup(path);
	for (dir = strtok_r(dirs, ":", &save); dir != NULL && !ok;
	    dir = strtok_r(NULL, ":", &save)) {
		cand = xasprintf("%s/%s", dir, p);
		ok = access(cand, X_OK) == 0;
		free(cand);
	}
	free(dirs);
	if (!ok)
		snprintf(why, whylen, "the depsolver %s is not in PATH", p);
	return ok;
}

int
dnfjson_error_id(const char *kind)
{
	if (kind == NULL)
		return JOB_ERR_DNF_OTHER;
	if (strcmp(kind, "DepsolveError") == 0)
		return JOB_ERR_DNF_DEPSOLVE;
	if (strcmp(kind, "MarkingErrors") == 0)
		return JOB_ERR_DNF_MARKING;
	if (strcmp(kind, "RepoError") == 0)
		return JOB_ERR_DNF_REPO;
	return JOB_ERR_DNF_OTHER;
}

json_object *
dnfjson_run(const struct config *conf, json_object *request, const char *what,
    atomic_int *canceled, atomic_int *pgid, json_object *result)
{
	const char		*argv[2], *req, *kind;
	struct exec_opts	 o;
	struct exec_result	 res;
	json_object		*ans = NULL;
	char			 st[64], details[1024], reason[256], *shown;

	argv[0] = dnfjson_path(conf);
	argv[1] = NULL;
	req = json_object_to_json_string_ext(request, JSON_C_TO_STRING_PLAIN);
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.stdin_data = req;
	o.stdin_len = strlen(req);
	o.stdout_max = DNFJSON_STDOUT_MAX;
	o.timeout_ms = DNFJSON_TIMEOUT_MS;
	o.canceled = canceled;
	o.pgid = pgid;
	snprintf(reason, sizeof(reason), "rpmmd error in %s job", what);
	if (exec_run(&o, &res) == -1) {
		job_set_error(result, JOB_ERR_RPMMD, reason,
		    json_object_new_string(res.error));
		goto cleanup;
	}
	exec_status_str(&res, st, sizeof(st));
	if (res.canceled || res.timed_out || res.stdout_truncated) {
		snprintf(details, sizeof(details), "the depsolver was stopped "
		    "(%s%s)", st, res.stdout_truncated ? ", answer too large" :
		    "");
		job_set_error(result, JOB_ERR_RPMMD, reason,
		    json_object_new_string(details));
		goto cleanup;
	}
	ans = json_tokener_parse(res.out.data ? res.out.data : "");
	kind = json_get_str(ans, "kind");
	if (kind != NULL && (!res.exited || res.code != 0 ||
	    json_get_str(ans, "reason") != NULL)) {
		/* A depsolver names mirror URLs whole in its reasons. */
		shown = text_redact_urls(json_get_str(ans, "reason"));
		snprintf(reason, sizeof(reason), "DNF error occurred: %s", kind);
		log_info("%s: %s: %s", what, reason, shown);
		job_set_error(result, dnfjson_error_id(kind), reason,
		    json_get_str(ans, "reason") ? json_object_new_string(
		    shown) : NULL);
		free(shown);
		json_object_put(ans);
		ans = NULL;
		goto cleanup;
	}
	if (ans == NULL || !res.exited || res.code != 0) {
		shown = text_redact_urls(res.err.data);
		snprintf(details, sizeof(details), "the depsolver failed (%s) "
		    "without an error document: %.600s", st, shown);
		free(shown);
		job_set_error(result, JOB_ERR_RPMMD, reason,
		    json_object_new_string(details));
		json_object_put(ans);
		ans = NULL;
	}
cleanup:
	exec_result_free(&res);
	return ans;
}

char *
dnfjson_repo_id(json_object *repo)
{
	const char	*s = json_object_to_json_string_ext(repo,
	    JSON_C_TO_STRING_PLAIN);
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 n = 0, i;
	char		*hex;

	EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
	hex = xmalloc(n * 2 + 1);
	for (i = 0; i < n; i++)
		snprintf(hex + i * 2, 3, "%02x", md[i]);
	return hex;
}

/* A string list from an array key, or from a single-string key. */
static void
copy_list(json_object *to, const char *tokey, json_object *from,
    const char *listkey, const char *onekey)
{
	json_object	*v, *a = json_object_new_array();
	size_t		 i, n;

	if ((v = json_get_arr(from, listkey)) != NULL) {
		n = json_object_array_length(v);
		for (i = 0; i < n; i++) {
			json_object *s = json_object_array_get_idx(v, i);

			if (json_object_is_type(s, json_type_string))
				json_object_array_add(a, json_object_get(s));
		}
	} else if (onekey != NULL && json_get_str(from, onekey) != NULL)
		json_object_array_add(a,
		    json_object_new_string(json_get_str(from, onekey)));
	if (json_object_array_length(a) > 0)
		json_object_object_add(to, tokey, a);
	else
		json_object_put(a);
}

static void
copy_bool(json_object *to, const char *tokey, json_object *from,
    const char *fromkey, int invert)
{
	json_object	*v;

	if (json_object_object_get_ex(from, fromkey, &v) &&
	    json_object_is_type(v, json_type_boolean))
		json_object_object_add(to, tokey, json_object_new_boolean(
		    invert ? !json_object_get_boolean(v) :
		    json_object_get_boolean(v)));
}

json_object *
dnfjson_repo(json_object *repo, const char *id)
{
	return dnfjson_repo_api(repo, id, 1);
}

json_object *
dnfjson_repo_api(json_object *repo, const char *id, int api)
{
	json_object	*r = json_object_new_object();

	json_object_object_add(r, "id", json_object_new_string(id));
	json_copy_str(r, "name", repo, "name");
	copy_list(r, "baseurl", repo, "baseurls", "baseurl");
	json_copy_str(r, "metalink", repo, "metalink");
	json_copy_str(r, "mirrorlist", repo, "mirrorlist");
	/* v1 merges gpgkey (one string) into gpgkeys; v2 takes a list. */
	copy_list(r, api >= 2 ? "gpgkey" : "gpgkeys", repo, "gpgkeys",
	    "gpgkey");
	json_object_object_add(r, "gpgcheck", json_object_new_boolean(0));
	json_object_object_add(r, "repo_gpgcheck", json_object_new_boolean(0));
	copy_bool(r, "gpgcheck", repo, "check_gpg", 0);
	copy_bool(r, "repo_gpgcheck", repo, "check_repo_gpg", 0);
	copy_bool(r, "sslverify", repo, "ignore_ssl", 1);
	json_copy_str(r, "sslcacert", repo, "sslcacert");
	json_copy_str(r, "sslclientkey", repo, "sslclientkey");
	json_copy_str(r, "sslclientcert", repo, "sslclientcert");
	json_copy_str(r, "metadata_expire", repo, "metadata_expire");
	copy_bool(r, "module_hotfixes", repo, "module_hotfixes", 0);
	return r;
}
