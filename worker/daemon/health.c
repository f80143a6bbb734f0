/*
 * The machine's fitness for work. The checks here are cheap (access(2),
 * statvfs(2)) so that the loop can repeat them between jobs; the failure
 * classification is deliberately narrow: a failure counts against the
 * machine only when its text carries a machine's signature or a check
 * fails right after it, never for what a job can cause.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "jobs/dnfjson.h"
#include "jobs/kojihub.h"
#include "executor/executor.h"
#include "health.h"
#include "job.h"
#include "jsonutil.h"
#include "metrics.h"
#include "targets.h"
#include "util.h"

/* What the machine's failures say; none of them a job can cause. */
static const char *const machine_signs[] = {
	"Error getting osbuild binary version",	/* the builder cannot run */
	"cannot run ",				/* exec.c: exec failed */
	"No space left on device",
	"ENOSPC",
	"Read-only file system",
	"Input/output error",
	"Structure needs cleaning",		/* a broken filesystem */
	"/dev/kvm",
	"cannot create an output directory",	/* cache.c */
	NULL
};

/* yet_ok: a directory not made yet is fine when its parent takes it. */
static int
cache_ok(const struct config *conf, int yet_ok, char *why, size_t len)
{
	const char	*dir = conf->worker.cache_directory;
	char		*parent, *slash;
	int64_t		 avail;
	int		 ok;

	if (yet_ok && access(dir, F_OK) == -1 && errno == ENOENT) {
		parent = xstrdup(dir);
		if ((slash = strrchr(parent, '/')) != NULL)
			slash[slash == parent ? 1 : 0] = '\0';
		ok = access(parent, W_OK | X_OK) == 0;
		if (!ok)
			snprintf(why, len, "the cache directory %s cannot be "
			    "made in %s: %m", dir, parent);
		free(parent);
		return ok;
	}
	if (access(dir, W_OK | X_OK) == -1) {
		snprintf(why, len, "the cache directory %s is not usable: %m",
		    dir);
		return 0;
	}
	avail = cache_free_bytes(dir);
	if (avail >= 0 && avail < conf->worker.cache_min_free) {
		snprintf(why, len, "no space: %lld MiB free for the cache %s, "
		    "cache_min_free is %lld MiB", (long long)(avail >> 20),
		    dir, (long long)(conf->worker.cache_min_free >> 20));
		return 0;
	}
	return 1;
}

int
health_osbuild_available(const struct config *conf, char *why, size_t len)
{
	const char	*b = conf->worker.osbuild;

	const struct executor	*ex = executor_of(conf);

	if (!ex->available(conf, why, len))
		return 0;
	/* In a VM, the builder is the executor image's. */
	if (ex == &executor_host && !exec_runnable(b)) {
		snprintf(why, len, "the builder %s cannot be run", b);
		return 0;
	}
	return cache_ok(conf, 0, why, len);
}

int
health_osbuild_impossible(const struct config *conf, char *why, size_t len)
{
	const char	*dir = conf->worker.cache_directory;
	int64_t		 size;

	if (access(dir, W_OK) == -1 && errno == EROFS) {
		snprintf(why, len, "the cache %s is on a read-only file system",
		    dir);
		return 1;
	}
	size = cache_fs_bytes(dir);
	if (size >= 0 && size < conf->worker.cache_min_free) {
		snprintf(why, len, "the cache %s is on a file system of %lld "
		    "MiB, smaller than cache_min_free (%lld MiB)", dir,
		    (long long)(size >> 20),
		    (long long)(conf->worker.cache_min_free >> 20));
		return 1;
	}
	return 0;
}

static int
signed_by_machine(const char *text, char *why, size_t len)
{
	const char *const	*s;

	if (text == NULL)
		return 0;
	for (s = machine_signs; *s != NULL; s++)
		if (strstr(text, *s) != NULL) {
			snprintf(why, len, "%s", *s);
			return 1;
		}
	return 0;
}

int
health_machine_fault(const struct job_kind *kind, const struct config *conf,
    json_object *result, char *why, size_t len)
{
	json_object	*e = job_result_error(result), *v;
	const char	*reason = NULL, *details = NULL;
	char		 sign[128];
	int		 id;

	if (e == NULL || kind == NULL || kind->available == NULL)
		return 0;
	/* Only what may come from running the tools themselves. */
	id = json_object_get_int(json_object_object_get(e, "id"));
	if (id != JOB_ERR_BUILD && id != JOB_ERR_RPMMD)
		return 0;
	/*
	 * osbuild ran and reported (more than the {"success":false} every
	 * osbuild result starts with): a stage failed, the job's own doing,
	 * unless the checks below fail now.
	 */
	if (json_object_object_get_ex(result, "osbuild_output", &v) &&
	    json_object_is_type(v, json_type_object) &&
	    json_object_object_length(v) > 1)
		return !kind->available(conf, why, len);
	if (json_object_object_get_ex(e, "reason", &v))
		reason = json_object_get_string(v);
	details = json_get_str(e, "details");
	if (!kind->available(conf, why, len))
		return 1;
	if (signed_by_machine(reason, sign, sizeof(sign)) ||
	    signed_by_machine(details, sign, sizeof(sign))) {
		snprintf(why, len, "%s: %.300s", sign, reason ? reason : "");
		return 1;
	}
	return 0;
}

static int
problem(FILE *out, const struct config *conf, const char *key,
    const char *fmt, const char *a, const char *b)
{
	char	 where[512];

	fprintf(out, "%s: ", config_where(conf, key, where, sizeof(where)));
	fprintf(out, fmt, a, b);
	fputc('\n', out);
	return 1;
}

static int
check_file(FILE *out, const struct config *conf, const char *key,
    const char *file)
{
	int	 fd;

	if (file == NULL)
		return 0;
	if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1)
		return problem(out, conf, key, "%s: %s", file,
		    strerror(errno));
	close(fd);
	return 0;
}

int
health_check_config(const struct config *conf, FILE *out)
{
	const struct job_kind	*k;
	struct metrics		*m;
	const char		*key;
	char			 why[512], where[300];
	int			 n = 0, i;

	n += check_file(out, conf, "worker.tls_ca", conf->worker.tls_ca);
	n += check_file(out, conf, "worker.tls_cert", conf->worker.tls_cert);
	n += check_file(out, conf, "worker.tls_key", conf->worker.tls_key);
	if (conf->authentication.present) {
		n += check_file(out, conf, "authentication.client_secret",
		    conf->authentication.client_secret);
		n += check_file(out, conf, "authentication.offline_token",
		    conf->authentication.offline_token);
	}
	n += check_file(out, conf, "gcp.credentials", conf->gcp.credentials);
	n += check_file(out, conf, "azure.credentials",
	    conf->azure.credentials);
	n += check_file(out, conf, "aws.credentials", conf->aws.credentials);
	n += check_file(out, conf, "aws.s3_credentials",
	    conf->aws.s3_credentials);
	if ((i = check_file(out, conf, "oci.credentials",
	    conf->oci.credentials)) == 0 &&
	    oci_check_credentials(conf, why, sizeof(why)) == -1)
		i = problem(out, conf, "oci.credentials", "%s%s", why, "");
	n += i;
	n += check_file(out, conf, "pulp.credentials", conf->pulp.credentials);
	n += check_file(out, conf, "generic_s3.credentials",
	    conf->generic_s3.credentials);
	n += check_file(out, conf, "generic_s3.ca_bundle",
	    conf->generic_s3.ca_bundle);
	n += check_file(out, conf, "containers.auth_file_path",
	    conf->containers.auth_file_path);
	n += check_file(out, conf, "repository_mtls.ca",
	    conf->repository_mtls.ca);
	n += check_file(out, conf, "repository_mtls.mtls_client_key",
	    conf->repository_mtls.mtls_client_key);
	n += check_file(out, conf, "repository_mtls.mtls_client_cert",
	    conf->repository_mtls.mtls_client_cert);

	for (i = 0; i < conf->nkoji; i++)
		if ((key = kojihub_check(&conf->koji[i], why,
		    sizeof(why))) != NULL) {
			snprintf(where, sizeof(where), "koji.\"%s\".kerberos.%s",
			    conf->koji[i].host, key);
			n += problem(out, conf, where, "%s%s", why, "");
		}
	if (config_wants_kind(conf, "osbuild") &&
	    !executor_of(conf)->available(conf, why, sizeof(why)))
		n += problem(out, conf, "osbuild_executor.type", "%s: %s",
		    conf->osbuild_executor.type, why);
	if (config_wants_kind(conf, "osbuild") &&
	    executor_of(conf) == &executor_host &&
	    !exec_runnable(conf->worker.osbuild))
		n += problem(out, conf, "worker.osbuild", "%s: the builder "
		    "cannot be run%s", conf->worker.osbuild, "");
	if ((config_wants_kind(conf, "depsolve") ||
	    config_wants_kind(conf, "search-packages")) &&
	    !dnfjson_available(conf, why, sizeof(why)))
		n += problem(out, conf, "dnf-json", "%s%s", why, "");
	for (i = 0; i < conf->worker.njob_types; i++) {
		if ((k = job_kind_find(conf->worker.job_types[i])) == NULL)
			n += problem(out, conf, "worker.job_types", "\"%s\": "
			    "not a job type this worker knows%s",
			    conf->worker.job_types[i], "");
		else if (k->available != NULL &&
		    !k->available(conf, why, sizeof(why)) &&
		    strcmp(k->name, "osbuild") != 0 &&
		    strcmp(k->name, "depsolve") != 0 &&
		    strcmp(k->name, "search-packages") != 0)
			n += problem(out, conf, "worker.job_types",
			    "\"%s\" cannot run here: %s", k->name, why);
	}
	if (config_wants_kind(conf, "osbuild") &&
	    exec_runnable(conf->worker.osbuild) &&
	    !cache_ok(conf, 1, why, sizeof(why)))
		n += problem(out, conf, "worker.cache_directory", "%s%s", why,
		    "");
	if (conf->worker.metrics_listen != NULL) {
		if ((m = metrics_start(conf->worker.metrics_listen, why,
		    sizeof(why))) == NULL)
			n += problem(out, conf, "worker.metrics_listen", "%s%s",
			    why, "");
		metrics_stop(m);
	}
	return n;
}
