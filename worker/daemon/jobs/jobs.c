/*
 * The job kinds this worker knows. Adding a kind is one file in jobs/ and
 * one row here. The order does not matter; names are the composer's.
 */
#include <string.h>

#include "health.h"
#include "jobs/jobs.h"

json_object	*job_aws_ec2_copy_run(struct job *, const struct job_ctx *);
json_object	*job_aws_ec2_share_run(struct job *, const struct job_ctx *);

const struct job_kind job_kinds[] = {
	{ "file-resolve", job_file_resolve_run, 1, NULL },
	{ "osbuild", job_osbuild_run, 0, health_osbuild_available },
	/* Both ask the depsolver: both are taken, or neither. */
	{ "depsolve", job_depsolve_run, 1, health_depsolver_available },
	{ "aws-ec2-copy", job_aws_ec2_copy_run, 1, NULL },
	{ "aws-ec2-share", job_aws_ec2_share_run, 1, NULL },
	{ "search-packages", job_search_packages_run, 1,
	    health_depsolver_available },
	{ "ostree-resolve", job_ostree_resolve_run, 1, NULL },
	{ "container-resolve", job_container_resolve_run, 1, NULL },
	{ NULL, NULL, 0, NULL }
};

const struct job_kind *
job_kind_find(const char *name)
{
	const struct job_kind	*k;

	for (k = job_kinds; k->name != NULL; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}
