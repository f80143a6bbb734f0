/*
 * org.osbuild.pulp.ostree: the ostree commit archive goes up to Pulp 3
 * and is imported into the ostree repository the target names; a missing
 * repository is created and distributed at the target's basepath (checked
 * before anything is uploaded). The result is the distribution's URL.
 * The server and the basic-auth user come from the target options, or
 * where the options lack them, from [pulp] server_address and credentials
 * (a JSON file of username and password); the user and password are taken
 * together, from one source, as the reference takes them.
 * IB_PULP_POLL_MS tunes the polling of Pulp's tasks (tests).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "jsonutil.h"
#include "log.h"
#include "pulp.h"
#include "targets.h"
#include "targets/common.h"
#include "util.h"

/* Pulp's base_path: 1-255 of [A-Za-z0-9._/-], no leading '/', no "..". */
static int
base_path_ok(const char *s)
{
	return s != NULL && *s != '\0' && *s != '/' && strlen(s) <= 255 &&
	    strstr(s, "..") == NULL && target_path_chars_ok(s);
}

#define PULP_CREDS_MAX	(64 * 1024)

/*
 * The [pulp] credentials file's user and password into *file (a new
 * object, a secret: wipe its password) and *user, *pass pointing into it;
 * -1 with err filled.
 */
static int
file_creds(const struct config *conf, json_object **file, const char **user,
    const char **pass, struct target_err *err)
{
	char	*data;
	size_t	 len = 0;

	*file = NULL;
	if (conf->pulp.credentials == NULL)
		return target_fail(err, JOB_ERR_INVALID_CONFIG,
		    "pulp credentials not set");
	if ((data = read_file(conf->pulp.credentials, PULP_CREDS_MAX,
	    &len)) == NULL)
		return target_fail(err, JOB_ERR_INVALID_CONFIG, "Pulp target: "
		    "cannot read [pulp] credentials %s: %s",
		    conf->pulp.credentials, strerror(errno));
	*file = json_tokener_parse(data);
	explicit_bzero(data, len);
	free(data);
	*user = json_get_str(*file, "username");
	*pass = json_get_str(*file, "password");
	if (*user == NULL || *pass == NULL)
		return target_fail(err, JOB_ERR_INVALID_CONFIG, "Pulp target: "
		    "[pulp] credentials %s is not a JSON object with a username "
		    "and a password", conf->pulp.credentials);
	return 0;
}

static int
run(const struct target_ctx *ctx, json_object *target,
    const char *export_path, json_object **options, struct target_err *err)
{
	struct pulp_cfg	 pc;
	struct pulp	*p = NULL;
	json_object	*o = NULL, *file = NULL;
	const char	*server, *repo, *base, *user, *pass, *e;
	char		*repo_href = NULL, *artifact = NULL, *url = NULL;
	int		 rv = -1;

	json_object_object_get_ex(target, "options", &o);
	if (o == NULL || !json_object_is_type(o, json_type_object))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "Pulp target: no options");
	server = json_get_str(o, "server_address");
	repo = json_get_str(o, "repository");
	base = json_get_str(o, "basepath");
	user = json_get_str(o, "username");
	pass = json_get_str(o, "password");
	if (server == NULL || *server == '\0')
		server = ctx->conf->pulp.server_address;
	if (server == NULL || *server == '\0')
		return target_fail(err, JOB_ERR_INVALID_CONFIG,
		    "pulp server address not set");
	if (!pulp_server_ok(server))
		return target_fail(err, JOB_ERR_INVALID_CONFIG, "Pulp target: "
		    "server_address must be an http(s) URL without user, "
		    "query, fragment or white space");
	/* Both from one source, as the reference takes them. */
	if ((user == NULL || *user == '\0' || pass == NULL ||
	    *pass == '\0') && file_creds(ctx->conf, &file, &user, &pass,
	    err) == -1)
		goto cleanup;
	if (*user == '\0' || *pass == '\0' || strchr(user, ':') != NULL ||
	    !text_is_printable(user, 150) || strlen(pass) > 1024) {
		target_fail(err, JOB_ERR_INVALID_CONFIG, "Pulp target: the "
		    "username must be printable, without ':', and the password "
		    "not empty");
		goto cleanup;
	}
	if (repo == NULL || !text_is_printable(repo, 255)) {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "Pulp target: the repository must be 1-255 printable "
		    "characters");
		goto cleanup;
	}
	if (base != NULL && *base != '\0' && !base_path_ok(base)) {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "Pulp target: basepath must be 1-255 of A-Z, a-z, 0-9, "
		    "'.', '_', '-' and '/', not starting with '/', without "
		    "'..'");
		goto cleanup;
	}

	memset(&pc, 0, sizeof(pc));
	pc.server = server;
	pc.username = user;
	pc.password = pass;
	pc.connect_timeout = ctx->conf->worker.connect_timeout;
	pc.backoff_cap = ctx->conf->worker.backoff_max * 1000;
	pc.abort = ctx->abort;
	if ((e = getenv("IB_PULP_POLL_MS")) != NULL)
		pc.poll_ms = strtoll(e, NULL, 10);
	p = pulp_new(&pc);

	log_info("pulp: looking for ostree repository %s on %s", repo, server);
	if (pulp_repo_find(p, repo, &repo_href) == -1)
		goto fail;
	if (repo_href == NULL && (base == NULL || *base == '\0')) {
		target_fail(err, JOB_ERR_UPLOAD, "repository \"%s\" does not "
		    "exist and needs to be created, but no basepath for "
		    "distribution was provided", repo);
		goto cleanup;
	}
	log_info("pulp: uploading the commit archive %s", export_path);
	if (pulp_upload(p, export_path, &artifact) == -1)
		goto fail;
	if (repo_href == NULL) {
		log_info("pulp: creating repository %s, distributed at %s",
		    repo, base);
		if (pulp_repo_create(p, repo, &repo_href) == -1 ||
		    pulp_distribute(p, base, repo, repo_href) == -1)
			goto fail;
	}
	log_info("pulp: importing %s into %s", artifact, repo_href);
	if (pulp_import_commit(p, repo_href, artifact) == -1 ||
	    pulp_distribution_url(p, repo_href, &url) == -1)
		goto fail;
	log_info("pulp: repository %s is at %s", repo, url ? url : "(none)");
	*options = json_object_new_object();
	json_object_object_add(*options, "repository_url",
	    json_object_new_string(url ? url : ""));
	rv = 0;
	goto cleanup;
fail:
	target_fail(err, JOB_ERR_UPLOAD, "%s", pulp_aborted(p) ? "canceled" :
	    pulp_error(p));
cleanup:
	pulp_free(p);
	if (file != NULL)
		json_wipe_str(file, "password");
	json_object_put(file);
	free(repo_href);
	free(artifact);
	free(url);
	return rv;
}

const struct target_kind target_pulp_ostree = { "org.osbuild.pulp.ostree",
    run };
