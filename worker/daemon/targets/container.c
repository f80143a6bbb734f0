/*
 * org.osbuild.container: the OCI archive osbuild exported is pushed to a
 * container registry (registry.c: blobs in chunks, a cross-repository
 * mount from the repository this worker pushed to last on that registry,
 * the manifest last) under the target's image_name. A name without a
 * registry gets [containers] domain and path_prefix, and then the
 * [containers] certificates and tls_verify; a name with its own registry
 * uses the target's username, password and tls_verify. The auth file of
 * [containers] applies to both. The result is the manifest's digest and
 * the reference it was pushed to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "jsonutil.h"
#include "log.h"
#include "registry.h"
#include "targets.h"
#include "targets/common.h"
#include "util.h"

/* The last repository pushed to, per registry host: a mount source. */
static char	*last_host, *last_repo;

/* 1 when the reference's first part names a registry. */
static int
has_domain(const char *name)
{
	const char	*slash = strchr(name, '/');

	return slash != NULL && (memchr(name, '.', slash - name) != NULL ||
	    memchr(name, ':', slash - name) != NULL ||
	    (slash - name == 9 && strncmp(name, "localhost", 9) == 0));
}

static int
run(const struct target_ctx *ctx, json_object *target,
    const char *export_path, json_object **options, struct target_err *err)
{
	const struct config	*conf = ctx->conf;
	struct registry_opts	 o;
	struct registry_push	 p;
	struct registry_ref	 ref;
	json_object		*opts = NULL, *tv = NULL;
	const char		*name, *user, *pass;
	char			*dest, *ca = NULL, *userpwd = NULL, *digest = NULL;
	char			*prefix;
	int			 defaults, rv = -1;

	json_object_object_get_ex(target, "options", &opts);
	name = json_get_str(target, "image_name");
	if (name == NULL || *name == '\0')
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "container target: no image_name");
	defaults = !has_domain(name) && conf->containers.domain != NULL &&
	    *conf->containers.domain != '\0';
	if (defaults) {
		prefix = conf->containers.path_prefix;
		dest = xasprintf("%s/%s%s%s", conf->containers.domain,
		    prefix != NULL && *prefix ? prefix : "",
		    prefix != NULL && *prefix ? "/" : "", name);
	} else
		dest = xstrdup(name);
	if (registry_parse_ref(dest, &ref, err->reason,
	    sizeof(err->reason)) == -1) {
		err->id = JOB_ERR_INVALID_TARGET_CONFIG;
		free(dest);
		return -1;
	}

	memset(&o, 0, sizeof(o));
	o.auth_file = conf->containers.auth_file_path;
	o.connect_timeout = conf->worker.connect_timeout;
	o.transfer_timeout = conf->worker.transfer_timeout;
	o.abort = ctx->abort;
	memset(&p, 0, sizeof(p));
	if (defaults) {
		o.tls_verify = conf->containers.tls_verify;
		o.ca_bundle = ca = config_containers_ca(conf);
	} else {
		o.tls_verify = 1;
		if (opts != NULL && json_object_object_get_ex(opts,
		    "tls_verify", &tv) &&
		    json_object_is_type(tv, json_type_boolean))
			o.tls_verify = json_object_get_boolean(tv);
		user = opts ? json_get_str(opts, "username") : NULL;
		pass = opts ? json_get_str(opts, "password") : NULL;
		if ((user != NULL && *user) || (pass != NULL && *pass)) {
			if (user == NULL || strchr(user, ':') != NULL) {
				target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
				    "container target: a username with ':' "
				    "or a password without a username");
				goto cleanup;
			}
			userpwd = xasprintf("%s:%s", user, pass ? pass : "");
			p.userpwd = userpwd;
		}
	}
	if (last_host != NULL && strcmp(last_host, ref.host) == 0)
		p.mount_from = last_repo;

	log_info("container: pushing %s to %s", export_path, dest);
	if (registry_push_archive(&o, &p, export_path, dest, &digest,
	    err->reason, sizeof(err->reason)) == -1) {
		err->id = JOB_ERR_UPLOAD;
		goto cleanup;
	}
	log_info("container: pushed %s as %s (%d blobs uploaded in %d "
	    "chunks, %d mounted, %d present)", dest, digest, p.uploaded,
	    p.chunks, p.mounted, p.present);
	free(last_host);
	free(last_repo);
	last_host = xstrdup(ref.host);
	last_repo = xstrdup(ref.repo);
	*options = json_object_new_object();
	json_object_object_add(*options, "url", json_object_new_string(dest));
	json_object_object_add(*options, "digest",
	    json_object_new_string(digest));
	rv = 0;
cleanup:
	registry_ref_free(&ref);
	freezero_str(userpwd);
	free(digest);
	free(dest);
	free(ca);
	return rv;
}

const struct target_kind target_container = { "org.osbuild.container", run };
