/*
 * container-resolve: the digests of each container image of the job, read
 * from its registry (registry.c): image_id (the config digest), digest
 * (the manifest for the job's architecture) and list-digest (the index it
 * came from). Answers both shapes composers read: "specs", a flat list in
 * the args' order, and "pipeline_specs", per pipeline. The first failure
 * is job error 30 with the registry's message, as the reference reports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "jobs/jobs.h"
#include "jsonutil.h"
#include "log.h"
#include "registry.h"
#include "util.h"

#define CR_MAX_SPECS	256

/* 1 when the reference names a tag (in its last part, before any @). */
static int
tag_written(const char *source)
{
	const char	*at = strchr(source, '@'), *end, *p, *last = source;

	end = at != NULL ? at : source + strlen(source);
	for (p = source; p < end; p++)
		if (*p == '/')
			last = p + 1;
	return memchr(last, ':', (size_t)(end - last)) != NULL;
}

/*
 * Resolves one spec into a result spec. NULL with the reason in err.
 */
static json_object *
resolve(struct job *job, const struct job_ctx *ctx, json_object *spec,
    const char *arch, const char *ca, char *err, size_t errlen)
{
	struct registry_opts	 o;
	struct registry_image	 img;
	struct registry_ref	 ref;
	json_object		*out, *tv = NULL;
	const char		*source, *name;
	char			*norm;

	if (!json_object_is_type(spec, json_type_object) ||
	    (source = json_get_str(spec, "source")) == NULL) {
		snprintf(err, errlen, "a container spec has no source");
		return NULL;
	}
	name = json_get_str(spec, "name");
	if (json_object_object_get_ex(spec, "tls-verify", &tv) &&
	    !json_object_is_type(tv, json_type_boolean))
		tv = NULL;
	memset(&o, 0, sizeof(o));
	o.auth_file = ctx->conf->containers.auth_file_path;
	o.tls_verify = tv != NULL ? json_object_get_boolean(tv) : 1;
	o.ca_bundle = ca;
	o.connect_timeout = ctx->conf->worker.connect_timeout;
	o.transfer_timeout = ctx->conf->worker.transfer_timeout;
	o.abort = &job->canceled;
	if (registry_parse_ref(source, &ref, err, errlen) == -1)
		return NULL;
	if (registry_resolve(&o, source, arch, &img, err, errlen) == -1) {
		registry_ref_free(&ref);
		return NULL;
	}
	/*
	 * As the reference: "source" is the normalized repository name (no
	 * tag or digest: the composer writes the digest beside it), "name"
	 * the normalized reference as written when the spec has none.
	 */
	norm = xasprintf("%s/%s", ref.host, ref.repo);
	out = json_object_new_object();
	json_object_object_add(out, "source", json_object_new_string(norm));
	if (name != NULL && *name != '\0')
		json_object_object_add(out, "name",
		    json_object_new_string(name));
	else {
		char *full = xasprintf("%s%s%s%s%s", norm,
		    tag_written(source) ? ":" : "",
		    tag_written(source) ? ref.tag : "", ref.digest ? "@" : "",
		    ref.digest ? ref.digest : "");

		json_object_object_add(out, "name",
		    json_object_new_string(full));
		free(full);
	}
	free(norm);
	registry_ref_free(&ref);
	if (tv != NULL)
		json_object_object_add(out, "tls-verify",
		    json_object_new_boolean(json_object_get_boolean(tv)));
	json_object_object_add(out, "image_id",
	    json_object_new_string(img.image_id));
	json_object_object_add(out, "digest", json_object_new_string(img.digest));
	if (img.list_digest != NULL)
		json_object_object_add(out, "list-digest",
		    json_object_new_string(img.list_digest));
	log_info("container-resolve: %s -> %s (image %s)", source, img.digest,
	    img.image_id);
	registry_image_free(&img);
	return out;
}

/* Resolves a list into out; -1 with err at the first failure. */
static int
resolve_list(struct job *job, const struct job_ctx *ctx, json_object *specs,
    const char *arch, const char *ca, json_object *out, json_object *flat,
    size_t *count, char *err, size_t errlen)
{
	json_object	*item;
	size_t		 i, n = json_object_array_length(specs);

	for (i = 0; i < n; i++) {
		if (job_canceled(job)) {
			snprintf(err, errlen, "the job was canceled");
			return -1;
		}
		if (++*count > CR_MAX_SPECS) {
			snprintf(err, errlen, "more than %d container specs",
			    CR_MAX_SPECS);
			return -1;
		}
		item = resolve(job, ctx, json_object_array_get_idx(specs, i),
		    arch, ca, err, errlen);
		if (item == NULL)
			return -1;
		json_object_array_add(flat, json_object_get(item));
		json_object_array_add(out, item);
	}
	return 0;
}

static json_object *
container_resolve_run(struct job *job, const struct job_ctx *ctx)
{
	static struct utsname	 u;
	json_object		*result, *specs = NULL, *pspecs = NULL, *flat;
	json_object		*pout, *list;
	const char		*arch;
	char			 err[1024], *ca;
	size_t			 count = 0;
	int			 failed = 0;

	if (json_object_object_get_ex(job->args, "specs", &specs) &&
	    !json_object_is_type(specs, json_type_array))
		specs = NULL;
	if (json_object_object_get_ex(job->args, "pipeline_specs", &pspecs) &&
	    !json_object_is_type(pspecs, json_type_object))
		pspecs = NULL;
	arch = json_get_str(job->args, "arch");
	if (arch == NULL || *arch == '\0') {
		arch = ctx->conf->worker.arch;
		if (arch == NULL && uname(&u) == 0)
			arch = u.machine;
	}
	result = json_object_new_object();
	flat = json_object_new_array();
	pout = json_object_new_object();
	json_object_object_add(result, "specs", flat);
	json_object_object_add(result, "pipeline_specs", pout);
	if (arch == NULL) {
		job_set_error(result, JOB_ERR_PARSING_ARGS,
		    "container-resolve: no architecture", NULL);
		return result;
	}
	ca = config_containers_ca(ctx->conf);
	log_info("container-resolve: resolving for %s", arch);
	if (pspecs != NULL) {
		json_object_object_foreach(pspecs, pipeline, plist) {
			if (!json_object_is_type(plist, json_type_array))
				continue;
			list = json_object_new_array();
			json_object_object_add(pout, pipeline, list);
			if (resolve_list(job, ctx, plist, arch, ca, list, flat,
			    &count, err, sizeof(err)) == -1) {
				failed = 1;
				break;
			}
		}
	} else if (specs != NULL) {
		/* The flat form is pipeline "" to newer composers. */
		list = json_object_new_array();
		json_object_object_add(pout, "", list);
		failed = resolve_list(job, ctx, specs, arch, ca, list, flat,
		    &count, err, sizeof(err)) == -1;
	}
	free(ca);
	if (failed) {
		log_warnx("container-resolve: %s", err);
		job_set_error(result, JOB_ERR_CONTAINER_RESOLUTION, err, NULL);
	}
	return result;
}

const struct job_kind job_kind_container_resolve = {
	"container-resolve", container_resolve_run, 1, NULL
};
