/*
 * koji-finalize: imports the build koji-init reserved (dynamic argument
 * 0) with the files the osbuild jobs' org.osbuild.koji targets uploaded
 * (arguments 1..n): CGImport of Koji's content generator metadata (the
 * build, one buildroot per osbuild job with its build pipelines' RPMs,
 * the outputs with their checksums, sizes and the payload's RPMs, and the
 * SBOM documents the targets uploaded, as "sbom-doc" outputs), tried
 * again while the hub reports a corrupted upload (its replicas' NFS
 * catching up). When anything fails after koji-init succeeded, the build
 * is refunded (CGRefundBuild, state FAILED) so that it does not linger.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/jobs.h"
#include "jobs/kojihub.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"

#define KOJI_BUILD_FAILED	3	/* koji.BUILD_STATES['FAILED'] */
#define IMPORT_TRIES		10
#define MAX_RPMS		100000

/* The string member key of from, "" when absent or null, as Go sends it. */
static void
add_str(json_object *to, const char *key, json_object *from)
{
	const char	*s = json_get_str(from, key);

	json_object_object_add(to, key, json_object_new_string(s ? s : ""));
}

/* Koji's RPM component of an osbuild RPM stage's package record. */
static json_object *
rpm_of(json_object *p)
{
	json_object	*r = json_object_new_object(), *v;
	const char	*sig;

	json_object_object_add(r, "type", json_object_new_string("rpm"));
	add_str(r, "name", p);
	add_str(r, "version", p);
	add_str(r, "release", p);
	if (json_object_object_get_ex(p, "epoch", &v) && v != NULL)
		json_object_object_add(r, "epoch", json_object_new_string(
		    json_object_get_string(v)));
	add_str(r, "arch", p);
	add_str(r, "sigmd5", p);
	sig = json_get_str(p, "sigpgp");
	if (sig == NULL || *sig == '\0')
		sig = json_get_str(p, "siggpg");
	json_object_object_add(r, "signature", sig != NULL && *sig ?
	    json_object_new_string(sig) : NULL);
	return r;
}

/*
 * The RPMs of the named pipelines' metadata (every stage's "packages"),
 * each once by name-epoch:version-release.arch, into a new array.
 */
static json_object *
rpms_of(json_object *result, json_object *pipelines)
{
	json_object	*out = json_object_new_array(), *md = NULL, *pmd, *pk;
	json_object	*seen = json_object_new_object(), *p;
	size_t		 i, j, n;
	char		*key;

	if (!json_object_object_get_ex(json_object_object_get(result,
	    "osbuild_output"), "metadata", &md) || md == NULL ||
	    !json_object_is_type(pipelines, json_type_array))
		goto done;
	n = json_object_array_length(pipelines);
	for (i = 0; i < n; i++) {
		pmd = json_object_object_get(md, json_object_get_string(
		    json_object_array_get_idx(pipelines, i)));
		if (!json_object_is_type(pmd, json_type_object))
			continue;
		json_object_object_foreach(pmd, stage, smd) {
			(void)stage;
			if (!json_object_object_get_ex(smd, "packages", &pk) ||
			    !json_object_is_type(pk, json_type_array))
				continue;
			for (j = 0; j < json_object_array_length(pk) &&
			    json_object_array_length(out) < MAX_RPMS; j++) {
				p = json_object_array_get_idx(pk, j);
				key = xasprintf("%s-%s%s%s-%s.%s",
				    json_get_str(p, "name") ?: "",
				    json_get_str(p, "epoch") ?: "",
				    json_get_str(p, "epoch") ? ":" : "",
				    json_get_str(p, "version") ?: "",
				    json_get_str(p, "release") ?: "",
				    json_get_str(p, "arch") ?: "");
				if (!json_object_object_get_ex(seen, key, NULL)) {
					json_object_object_add(seen, key, NULL);
					json_object_array_add(out, rpm_of(p));
				}
				free(key);
			}
		}
	}
done:
	json_object_put(seen);
	return out;
}

/* An output of the metadata from a koji target result's file info. */
static json_object *
output(json_object *info, int64_t root, const char *arch, const char *type)
{
	json_object	*o = json_object_new_object(), *v;

	json_object_object_add(o, "buildroot_id", json_object_new_int64(root));
	json_copy_str(o, "filename", info, "filename");
	json_object_object_add(o, "filesize", json_object_new_int64(
	    json_object_object_get_ex(info, "size", &v) ?
	    json_object_get_int64(v) : 0));
	json_object_object_add(o, "arch", json_object_new_string(arch));
	json_copy_str(o, "checksum_type", info, "checksum_type");
	json_copy_str(o, "checksum", info, "checksum");
	json_object_object_add(o, "type", json_object_new_string(type));
	return o;
}

static json_object *
obj_with_arch(const char *arch)
{
	json_object	*o = json_object_new_object();

	json_object_object_add(o, "arch", json_object_new_string(arch));
	return o;
}

/*
 * The "sbom-doc" outputs of a koji target result's sbom_docs (NULL: none)
 * appended to outs, their extra only the image's arch; -1 with why in err
 * when one names no usable file.
 */
static int
sbom_outputs(json_object *outs, json_object *docs, int64_t root,
    const char *arch, char *err, size_t errlen)
{
	json_object	*d, *o, *x;
	const char	*fname;
	size_t		 i;

	for (i = 0; docs != NULL && i < json_object_array_length(docs); i++) {
		d = json_object_array_get_idx(docs, i);
		fname = json_get_str(d, "filename");
		if (fname == NULL || !name_is_safe(fname)) {
			snprintf(err, errlen, "an SBOM document of osbuild job "
			    "%lld names no usable file", (long long)root + 1);
			return -1;
		}
		o = output(d, root, arch, "sbom-doc");
		x = json_object_new_object();
		json_object_object_add(x, "image", obj_with_arch(arch));
		json_object_object_add(o, "extra", x);
		json_object_array_add(outs, o);
	}
	return 0;
}

/*
 * The CGImport metadata of the osbuild results (args 1..n); NULL with why
 * in err.
 */
static json_object *
metadata(struct job *job, int64_t build_id, char *err, size_t errlen)
{
	json_object	*md, *build, *extra, *imgx, *manx, *roots, *outs;
	json_object	*res, *trs, *kt, *kopts, *art, *root, *o, *ix, *ups, *v;
	json_object	*x;
	const char	*arch, *fname;
	size_t		 i, j, n = json_object_array_length(job->dynamic_args);
	int64_t		 start = 0, task = 0;

	roots = json_object_new_array();
	outs = json_object_new_array();
	imgx = json_object_new_object();
	manx = json_object_new_object();
	for (i = 1; i < n; i++) {
		res = json_object_array_get_idx(job->dynamic_args, i);
		arch = json_get_str(res, "arch") ?: "";
		kt = NULL;
		ups = json_object_new_array();
		trs = json_get_arr(res, "target_results");
		for (j = 0; trs != NULL && j < json_object_array_length(trs);
		    j++) {
			v = json_object_array_get_idx(trs, j);
			if (json_get_str(v, "name") != NULL && strcmp(
			    json_get_str(v, "name"), "org.osbuild.koji") == 0) {
				if (kt != NULL) {
					kt = NULL;
					break;
				}
				kt = v;
			} else
				json_object_array_add(ups, json_object_get(v));
		}
		kopts = kt != NULL ? json_object_object_get(kt, "options") : NULL;
		if (kopts == NULL || json_object_object_get(kopts, "image") ==
		    NULL) {
			json_object_put(ups);
			snprintf(err, errlen, "Exactly one Koji target result is "
			    "expected per osbuild job");
			goto fail;
		}
		root = json_object_new_object();
		json_object_object_add(root, "id", json_object_new_int64(i - 1));
		o = json_object_new_object();
		json_copy_str(o, "os", res, "host_os");
		json_object_object_add(o, "arch", json_object_new_string(arch));
		json_object_object_add(root, "host", o);
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(
		    "osbuild"));
		json_copy_str(o, "version", res, "osbuild_version");
		json_object_object_add(root, "content_generator", o);
		o = obj_with_arch(arch);
		json_object_object_add(o, "type", json_object_new_string("none"));
		json_object_object_add(root, "container", o);
		json_object_object_add(root, "tools", json_object_new_array());
		json_object_object_add(root, "components", rpms_of(res,
		    json_object_object_get(json_object_object_get(res,
		    "pipeline_names"), "build")));
		json_object_array_add(roots, root);

		/* The image, with what the other targets made of it. */
		ix = obj_with_arch(arch);
		json_copy_str(ix, "boot_mode", res, "image_boot_mode");
		if ((art = json_object_object_get(kt, "osbuild_artifact")) !=
		    NULL) {
			o = json_object_new_object();
			json_copy_str(o, "export_filename", art,
			    "export_filename");
			json_copy_str(o, "export_name", art, "export_name");
			json_object_object_add(ix, "osbuild_artifact", o);
		}
		json_copy_str(ix, "osbuild_version", res, "osbuild_version");
		if (json_object_array_length(ups) > 0)
			json_object_object_add(ix, "upload_target_results", ups);
		else
			json_object_put(ups);
		v = json_object_object_get(kopts, "image");
		fname = json_get_str(v, "filename");
		if ((fname == NULL || *fname == '\0') && (x = json_get_arr(
		    job->args, "koji_filenames")) != NULL &&
		    json_object_array_length(x) > i - 1)
			fname = json_object_get_string(
			    json_object_array_get_idx(x, i - 1));
		if (fname == NULL || !name_is_safe(fname)) {
			json_object_put(ix);
			snprintf(err, errlen, "the Koji target result of osbuild "
			    "job %zu names no usable image file", i);
			goto fail;
		}
		o = output(v, i - 1, arch, "image");
		json_object_object_add(o, "filename",
		    json_object_new_string(fname));
		json_object_object_add(o, "components", rpms_of(res,
		    json_object_object_get(json_object_object_get(res,
		    "pipeline_names"), "payload")));
		x = json_object_new_object();
		json_object_object_add(x, "image", json_object_get(ix));
		json_object_object_add(o, "extra", x);
		json_object_array_add(outs, o);
		json_object_object_add(imgx, fname, ix);

		if ((v = json_object_object_get(kopts, "osbuild_manifest")) !=
		    NULL && json_get_str(v, "filename") != NULL) {
			ix = obj_with_arch(arch);
			if ((x = json_object_object_get(kopts,
			    "osbuild_manifest_info")) != NULL)
				json_object_object_add(ix, "info",
				    json_object_get(x));
			o = output(v, i - 1, arch, "osbuild-manifest");
			x = json_object_new_object();
			json_object_object_add(x, "image", json_object_get(ix));
			json_object_object_add(o, "extra", x);
			json_object_array_add(outs, o);
			json_object_object_add(manx, json_get_str(v,
			    "filename"), ix);
		}
		if ((v = json_object_object_get(kopts, "log")) != NULL &&
		    json_get_str(v, "filename") != NULL)
			json_object_array_add(outs, output(v, i - 1, "noarch",
			    "log"));
		if (sbom_outputs(outs, json_get_arr(kopts, "sbom_docs"), i - 1,
		    arch, err, errlen) == -1)
			goto fail;
	}
	json_get_int(job->args, "start_time", &start);
	json_get_int(job->args, "task_id", &task);
	build = json_object_new_object();
	json_object_object_add(build, "build_id",
	    json_object_new_int64(build_id));
	json_object_object_add(build, "task_id", json_object_new_int64(task));
	json_copy_str(build, "name", job->args, "name");
	json_copy_str(build, "version", job->args, "version");
	json_copy_str(build, "release", job->args, "release");
	json_object_object_add(build, "source", json_object_new_string(""));
	json_object_object_add(build, "start_time",
	    json_object_new_int64(start));
	json_object_object_add(build, "end_time",
	    json_object_new_int64(time(NULL)));
	extra = json_object_new_object();
	o = json_object_new_object();
	json_object_object_add(o, "image", imgx);
	json_object_object_add(extra, "typeinfo", o);
	if (json_object_object_length(manx) > 0)
		json_object_object_add(extra, "osbuild_manifest", manx);
	else
		json_object_put(manx);
	json_object_object_add(build, "extra", extra);
	md = json_object_new_object();
	json_object_object_add(md, "metadata_version", json_object_new_int(0));
	json_object_object_add(md, "build", build);
	json_object_object_add(md, "buildroots", roots);
	json_object_object_add(md, "output", outs);
	return md;
fail:
	json_object_put(roots);
	json_object_put(outs);
	json_object_put(imgx);
	json_object_put(manx);
	return NULL;
}

/* CGRefundBuild of a build koji-init made; failures only logged. */
static void
refund(struct job *job, const struct job_ctx *ctx, const char *server,
    int64_t id, const char *token)
{
	struct koji	*k;
	json_object	*p, *out = NULL;
	char		 err[1200];

	if ((k = kojihub_open(ctx->conf, server, NULL, err,
	    sizeof(err))) == NULL) {
		log_warnx("koji-finalize: cannot refund build %lld: %s",
		    (long long)id, err);
		return;
	}
	p = json_object_new_array();
	json_object_array_add(p, json_object_new_string("osbuild"));
	json_object_array_add(p, json_object_new_int64(id));
	json_object_array_add(p, json_object_new_string(token));
	json_object_array_add(p, json_object_new_int(KOJI_BUILD_FAILED));
	if (koji_call(k, "CGRefundBuild", p, &out) == -1)
		log_warnx("koji-finalize: refunding build %lld failed: %s",
		    (long long)id, koji_error(k));
	else
		log_info("koji-finalize: build %lld marked failed",
		    (long long)id);
	json_object_put(p);
	json_object_put(out);
	kojihub_close(k);
}

static json_object *
koji_finalize_run(struct job *job, const struct job_ctx *ctx)
{
	json_object	*result, *init, *md = NULL, *p, *out = NULL, *e;
	const char	*server, *dir, *token = NULL, *mtext;
	struct koji	*k = NULL;
	char		 err[1200];
	int64_t		 id = -1;
	size_t		 i, n;
	int		 try, failed = 1;

	result = json_object_new_object();
	json_object_object_add(result, "koji_error", json_object_new_string(""));
	server = json_get_str(job->args, "server");
	dir = json_get_str(job->args, "koji_directory");
	n = job->dynamic_args != NULL ?
	    json_object_array_length(job->dynamic_args) : 0;
	if (n < 2) {
		job_set_error(result, JOB_ERR_PARSING_DYNAMIC_ARGS, "Error "
		    "parsing dynamic args", NULL);
		return result;
	}
	init = json_object_array_get_idx(job->dynamic_args, 0);
	token = json_get_str(init, "token");
	if (job_result_error(init) == NULL && (json_get_int(init, "build_id",
	    &id) == -1 || id < 0 || token == NULL || *token == '\0')) {
		job_set_error(result, JOB_ERR_PARSING_DYNAMIC_ARGS, "Error "
		    "parsing dynamic args: no koji-init build and token", NULL);
		return result;
	}
	for (i = 0; i < n; i++) {
		e = job_result_error(json_object_array_get_idx(
		    job->dynamic_args, i));
		if (e != NULL || (i > 0 && !json_object_get_boolean(
		    json_object_object_get(json_object_array_get_idx(
		    job->dynamic_args, i), "success")))) {
			job_set_error(result, JOB_ERR_KOJI_FAILED_DEPENDENCY,
			    "At least one job dependency failed", NULL);
			goto done;
		}
	}
	if (!koji_dir_ok(dir)) {
		job_set_error(result, JOB_ERR_PARSING_ARGS, "koji-finalize: "
		    "koji_directory must be a relative path without '..'",
		    NULL);
		goto done;
	}
	if ((md = metadata(job, id, err, sizeof(err))) == NULL) {
		job_set_error(result, JOB_ERR_KOJI_FINALIZE, err, NULL);
		goto done;
	}
	if ((k = kojihub_open(ctx->conf, server, &job->canceled, err,
	    sizeof(err))) == NULL) {
		job_set_error(result, JOB_ERR_KOJI_FINALIZE, err, NULL);
		goto done;
	}
	mtext = json_object_to_json_string_ext(md, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	for (try = 1;; try++) {
		p = json_object_new_array();
		json_object_array_add(p, json_object_new_string(mtext));
		json_object_array_add(p, json_object_new_string(dir));
		json_object_array_add(p, json_object_new_string(token));
		json_object_put(out);
		out = NULL;
		i = koji_call(k, "CGImport", p, &out) == 0;
		json_object_put(p);
		if (i)
			break;
		if (strstr(koji_error(k), "Corrupted upload") == NULL ||
		    try >= IMPORT_TRIES || sleep_abortable(1000,
		    &job->canceled) == -1) {
			snprintf(err, sizeof(err), "Could not import build into "
			    "koji: %s", koji_error(k));
			job_set_error(result, JOB_ERR_KOJI_FINALIZE, err, NULL);
			goto done;
		}
		log_info("koji-finalize: the hub saw a corrupted upload; "
		    "trying again (%d/%d)", try, IMPORT_TRIES);
	}
	log_info("koji-finalize: build %lld imported (%zu outputs)",
	    (long long)id, json_object_array_length(json_object_object_get(md,
	    "output")));
	failed = 0;
done:
	kojihub_close(k);
	json_object_put(md);
	json_object_put(out);
	if (failed && id >= 0 && token != NULL)
		refund(job, ctx, server, id, token);
	return result;
}

const struct job_kind job_kind_koji_finalize = {
	"koji-finalize", koji_finalize_run, 1, kojihub_available
};
