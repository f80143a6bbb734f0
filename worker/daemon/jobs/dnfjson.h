/*
 * The depsolver's contract (the config's dnf-json, osbuild-depsolve-dnf):
 * one JSON request on stdin, one JSON document on stdout, and on failure a
 * non-zero exit with {"kind","reason"}. Shared by the job kinds that ask
 * the depsolver something; knows the reference's error ids for its kinds.
 */
#ifndef IB_DNFJSON_H
#define IB_DNFJSON_H

#include <stdatomic.h>
#include <stddef.h>

#include <json-c/json.h>

#include "config.h"

/* The executable the config names (dnf-json or the default); borrowed. */
const char	*dnfjson_path(const struct config *);
/* 1 when that executable exists and may be run; else 0 and why. */
int		 dnfjson_available(const struct config *, char *, size_t);
/* The job error id of a depsolver error kind (DepsolveError -> 20 ...). */
int		 dnfjson_error_id(const char *kind);

/*
 * Runs the depsolver with request (borrowed). Returns its answer (caller
 * puts it), or NULL after adding the job_error the reference reports to
 * result: 20/21/25/22 for the depsolver's own error kinds, 23 ("rpmmd
 * error in <what> job") when it could not run or gave no JSON. canceled
 * and pgid are the job's, so cancellation stops the depsolver.
 */
json_object	*dnfjson_run(const struct config *, json_object *request,
		    const char *what, atomic_int *canceled, atomic_int *pgid,
		    json_object *result);

/*
 * A repository of a job (the composer's RepoConfig) in the depsolver's
 * words, with the given id; a new object.
 */
json_object	*dnfjson_repo(json_object *repo, const char *id);
/*
 * The same for a request of the given API version: v1 lists the keys as
 * "gpgkeys" (its "gpgkey" is one string), v2 as "gpgkey" (a list only).
 */
json_object	*dnfjson_repo_api(json_object *repo, const char *id, int api);
/* A stable id for a repository: sha256 of its JSON; caller frees. */
char		*dnfjson_repo_id(json_object *repo);

#endif
