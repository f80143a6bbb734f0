/*
 * org.osbuild.koji: the image, the job's manifest (indented JSON) and the
 * build's log (text), and the SBOM documents of the depsolve job the args
 * name (depsolve_dyn_args_idx) go to the Koji hub named by the target's server, into
 * its upload_directory, for the koji-finalize job to import. The hub must
 * have a [koji."HOST"] table (HOST: the server URL's host); with a
 * kerberos principal and keytab there, the login is Kerberos (SPNEGO).
 * The result gives each file's name, MD5 and size, with the image's also
 * as image_md5 and image_size, which composers before 2023 read.
 * IB_KOJI_CHUNK_SIZE tunes the upload (tests).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "jsonutil.h"
#include "koji.h"
#include "log.h"
#include "targets.h"
#include "targets/common.h"
#include "util.h"

#define KOJI_LOG_MAX	(32 << 20)
#define KOJI_SBOM_MAX	64		/* SBOM documents per build */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The build's log as text, as the reference writes it for Koji: pipelines
 * by name, each stage's type, output and, when there is any, its metadata
 * as indented JSON.
 */
static char *
osbuild_log_text(json_object *out)
{
	struct buf	 b;
	json_object	*log, *st, *stages, *md = NULL, *pmd, *smd;
	const char	**names, *type;
	size_t		 i, j, n, np = 0;

	buf_init(&b);
	buf_add(&b, "", 0);
	if (out == NULL || !json_object_object_get_ex(out, "log", &log) ||
	    !json_object_is_type(log, json_type_object)) {
		buf_addstr(&b, "The compose result is empty.\n");
		return buf_release(&b);
	}
	json_object_object_get_ex(out, "metadata", &md);
	names = xcalloc(json_object_object_length(log) + 1, sizeof(*names));
	json_object_object_foreach(log, pname, pv) {
		(void)pv;
		names[np++] = pname;
	}
	qsort(names, np, sizeof(*names), cmp_str);
	for (j = 0; j < np && b.len < KOJI_LOG_MAX; j++) {
		buf_printf(&b, "Pipeline: %s\n", names[j]);
		stages = json_object_object_get(log, names[j]);
		pmd = md != NULL ? json_object_object_get(md, names[j]) : NULL;
		if (!json_object_is_type(stages, json_type_array))
			continue;
		n = json_object_array_length(stages);
		for (i = 0; i < n && b.len < KOJI_LOG_MAX; i++) {
			st = json_object_array_get_idx(stages, i);
			type = json_get_str(st, "type") ? json_get_str(st,
			    "type") : "";
			buf_printf(&b, "Stage: %s\n", type);
			buf_printf(&b, "Output:\n%s\n",
			    json_get_str(st, "output") ?
			    json_get_str(st, "output") : "");
			if (pmd != NULL && json_object_object_get_ex(pmd, type,
			    &smd))
				buf_printf(&b, "Metadata:\n%s\n",
				    json_object_to_json_string_ext(smd,
				    JSON_C_TO_STRING_PRETTY |
				    JSON_C_TO_STRING_SPACED |
				    JSON_C_TO_STRING_NOSLASHESCAPE));
			buf_addstr(&b, "\n");
		}
	}
	free(names);
	return buf_release(&b);
}

/* A Go module record of the manifest info, copied field by field. */
static json_object *
dep_module(json_object *d, int depth)
{
	json_object	*o = json_object_new_object(), *r;

	json_copy_str(o, "path", d, "path");
	json_copy_str(o, "version", d, "version");
	if (depth == 0 && json_object_object_get_ex(d, "replace", &r) &&
	    json_object_is_type(r, json_type_object))
		json_object_object_add(o, "replace", dep_module(r, 1));
	return o;
}

/*
 * The osbuild_manifest_info of the result, from the manifest job's info:
 * the composer version and its modules, as koji-finalize records them.
 */
static json_object *
manifest_info(json_object *info)
{
	json_object	*o, *deps, *a;
	size_t		 i, n;

	if (info == NULL || json_get_str(info, "osbuild_composer_version") ==
	    NULL)
		return NULL;
	o = json_object_new_object();
	json_copy_str(o, "osbuild_composer_version", info,
	    "osbuild_composer_version");
	if ((deps = json_get_arr(info, "osbuild_composer_deps")) != NULL &&
	    (n = json_object_array_length(deps)) > 0) {
		a = json_object_new_array();
		for (i = 0; i < n && i < 1000; i++)
			json_object_array_add(a, dep_module(
			    json_object_array_get_idx(deps, i), 0));
		json_object_object_add(o, "osbuild_composer_deps", a);
	}
	return o;
}

static json_object *
output_info(const char *name, const char *md5, uint64_t size)
{
	json_object	*o = json_object_new_object();

	json_object_object_add(o, "filename", json_object_new_string(name));
	json_object_object_add(o, "checksum_type",
	    json_object_new_string("md5"));
	json_object_object_add(o, "checksum", json_object_new_string(md5));
	json_object_object_add(o, "size", json_object_new_int64(size));
	return o;
}

/* Whether the string array arr holds s. */
static int
arr_has(json_object *arr, const char *s)
{
	size_t	i;

	if (!json_object_is_type(arr, json_type_array))
		return 0;
	for (i = 0; i < json_object_array_length(arr); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(
		    arr, i)) ?: "", s) == 0)
			return 1;
	return 0;
}

/*
 * The SBOM documents of the depsolve job the args name (dynamic argument
 * depsolve_dyn_args_idx), each uploaded as IMAGE.PURPOSE-PIPELINE.spdx.json
 * (PURPOSE "image" for a payload pipeline, "buildroot" for a build one):
 * 0 with *out a new array of their output infos (NULL when the job names
 * no depsolve result); -1 with err filled.
 */
static int
upload_sboms(const struct target_ctx *ctx, struct koji *k, const char *dir,
    const char *image, json_object **out, struct target_err *err)
{
	json_object	*v, *dep, *docs, *pn = ctx->pipeline_names;
	const char	*type, *purpose, *text;
	char		*name, md5[33];
	uint64_t	 size;
	int64_t		 idx;
	size_t		 n;

	*out = NULL;
	if (!json_object_object_get_ex(ctx->job_args, "depsolve_dyn_args_idx",
	    &v) || v == NULL)
		return 0;
	n = ctx->dynamic_args != NULL ?
	    json_object_array_length(ctx->dynamic_args) : 0;
	idx = json_object_get_int64(v);
	if (!json_object_is_type(v, json_type_int) || idx < 0 ||
	    (uint64_t)idx >= n)
		return target_fail(err, JOB_ERR_PARSING_DYNAMIC_ARGS,
		    "DepsolveDynArgsIdx is out of range of the number of "
		    "dynamic job arguments");
	dep = json_object_array_get_idx(ctx->dynamic_args, idx);
	if (!json_object_object_get_ex(dep, "sbom_docs", &docs) ||
	    !json_object_is_type(docs, json_type_object))
		return 0;
	if (json_object_object_length(docs) > KOJI_SBOM_MAX)
		return target_fail(err, JOB_ERR_INVALID_CONFIG, "Koji target: "
		    "more than %d SBOM documents", KOJI_SBOM_MAX);
	*out = json_object_new_array();
	json_object_object_foreach(docs, pipeline, doc) {
		type = json_get_str(doc, "type");
		if (type == NULL || strcmp(type, "spdx") != 0) {
			json_object_put(*out);
			*out = NULL;
			return target_fail(err, JOB_ERR_INVALID_CONFIG,
			    "Unsupported SBOM document type: %s",
			    type != NULL && name_is_safe(type) &&
			    strlen(type) < 32 ? type : "(not a name)");
		}
		purpose = arr_has(json_object_object_get(pn, "build"),
		    pipeline) ? "buildroot" : arr_has(json_object_object_get(
		    pn, "payload"), pipeline) ? "image" : "";
		name = xasprintf("%s.%s-%s.spdx.json", image, purpose,
		    pipeline);
		if (!name_is_safe(name) || strlen(name) > 255 ||
		    !json_object_object_get_ex(doc, "document", &v) ||
		    v == NULL) {
			free(name);
			json_object_put(*out);
			*out = NULL;
			return target_fail(err, JOB_ERR_INVALID_CONFIG,
			    "Koji target: an SBOM document without a document "
			    "or with a pipeline name that is not a file name");
		}
		text = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE);
		if (koji_upload(k, dir, name, NULL, text, strlen(text), md5,
		    &size) == -1) {
			free(name);
			json_object_put(*out);
			*out = NULL;
			return target_fail(err, JOB_ERR_UPLOAD, "%s",
			    koji_error(k));
		}
		json_object_array_add(*out, output_info(name, md5, size));
		free(name);
	}
	return 0;
}

static int
run(const struct target_ctx *ctx, json_object *target,
    const char *export_path, json_object **options, struct target_err *err)
{
	const struct config	*conf = ctx->conf;
	const struct config_koji *kc = NULL;
	struct koji_cfg		 c;
	struct koji		*k = NULL;
	json_object		*o = NULL, *mi, *sboms = NULL;
	const char		*server, *dir, *image, *mtext, *e;
	char			*host = NULL, *mname = NULL, *lname = NULL;
	char			*ltext = NULL;
	char			 imd5[33], mmd5[33], lmd5[33];
	uint64_t		 isize, msize, lsize;
	int			 i, rv = -1;

	json_object_object_get_ex(target, "options", &o);
	if (o == NULL || !json_object_is_type(o, json_type_object))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "Koji target: no options");
	server = json_get_str(o, "server");
	dir = json_get_str(o, "upload_directory");
	image = json_get_str(target, "image_name");
	if (server == NULL || (host = url_host(server)) == NULL)
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "failed to parse Koji server URL");
	for (i = 0; i < conf->nkoji; i++)
		if (strcmp(conf->koji[i].host, host) == 0)
			kc = &conf->koji[i];
	if (kc == NULL) {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG, "Koji server "
		    "has not been configured: %s", host);
		goto cleanup;
	}
	if (!koji_dir_ok(dir)) {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG, "Koji target: "
		    "the upload directory must be a relative path of "
		    "A-Z, a-z, 0-9, '.', '_', '-', '+' without '..'");
		goto cleanup;
	}
	if (!name_is_safe(image) || strlen(image) > 200) {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG, "Koji target: "
		    "the image name must be a file name");
		goto cleanup;
	}
	memset(&c, 0, sizeof(c));
	c.server = server;
	c.connect_timeout = conf->worker.connect_timeout;
	c.relax_timeout_factor = kc->relax_timeout_factor;
	c.principal = kc->principal;
	c.keytab = kc->keytab;
	c.backoff_cap = conf->worker.backoff_max * 1000;
	c.abort = ctx->abort;
	if ((e = getenv("IB_KOJI_CHUNK_SIZE")) != NULL)
		c.chunk_size = strtoll(e, NULL, 10);
	if ((k = koji_new(&c)) == NULL) {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "failed to parse Koji server URL");
		goto cleanup;
	}
	if (koji_login(k) == -1) {
		log_warnx("koji: login to %s failed: %s", host, koji_error(k));
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG, "failed to "
		    "authenticate with Koji server \"%s\": %s", host,
		    koji_error(k));
		goto cleanup;
	}
	log_info("koji: authenticated with %s; uploading %s to %s", host,
	    image, dir);
	if (koji_upload(k, dir, image, export_path, NULL, 0, imd5,
	    &isize) == -1) {
		target_fail(err, JOB_ERR_UPLOAD, "%s", koji_error(k));
		goto cleanup;
	}
	mname = xasprintf("%s.manifest.json", image);
	mtext = ctx->manifest != NULL ? json_object_to_json_string_ext(
	    ctx->manifest, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE) : "null";
	if (koji_upload(k, dir, mname, NULL, mtext, strlen(mtext), mmd5,
	    &msize) == -1) {
		target_fail(err, JOB_ERR_UPLOAD, "%s", koji_error(k));
		goto cleanup;
	}
	lname = xasprintf("%s.osbuild.log", image);
	ltext = osbuild_log_text(ctx->osbuild_output);
	if (koji_upload(k, dir, lname, NULL, ltext, strlen(ltext), lmd5,
	    &lsize) == -1) {
		target_fail(err, JOB_ERR_UPLOAD, "%s", koji_error(k));
		goto cleanup;
	}
	if (upload_sboms(ctx, k, dir, image, &sboms, err) == -1)
		goto cleanup;
	log_info("koji: uploaded %s (%llu bytes, md5 %s), its manifest, "
	    "log and %zu SBOM documents", image, (unsigned long long)isize,
	    imd5, sboms != NULL ? json_object_array_length(sboms) : 0);
	*options = json_object_new_object();
	json_object_object_add(*options, "image",
	    output_info(image, imd5, isize));
	json_object_object_add(*options, "log",
	    output_info(lname, lmd5, lsize));
	json_object_object_add(*options, "osbuild_manifest",
	    output_info(mname, mmd5, msize));
	if ((mi = manifest_info(ctx->manifest_info)) != NULL)
		json_object_object_add(*options, "osbuild_manifest_info", mi);
	if (sboms != NULL && json_object_array_length(sboms) > 0) {
		json_object_object_add(*options, "sbom_docs", sboms);
		sboms = NULL;
	}
	json_object_object_add(*options, "image_md5",
	    json_object_new_string(imd5));
	json_object_object_add(*options, "image_size",
	    json_object_new_int64(isize));
	rv = 0;
cleanup:
	if (k != NULL) {
		koji_set_abort(k, NULL);
		if (koji_logout(k) == -1)
			log_warnx("koji: logout failed: %s", koji_error(k));
	}
	koji_free(k);
	json_object_put(sboms);
	free(host);
	free(mname);
	free(lname);
	free(ltext);
	return rv;
}

const struct target_kind target_koji = { "org.osbuild.koji", run };
