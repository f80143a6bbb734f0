/*
 * The table of the job kinds this worker knows. Adding a kind is one file
 * in jobs/ exporting its entry, one line in jobs.h and one here. The order
 * does not matter; names are the composer's.
 */
#include <stddef.h>
#include <string.h>

#include "jobs/jobs.h"

const struct job_kind *const job_kinds[] = {
	&job_kind_file_resolve,
	&job_kind_osbuild,
	/* Both ask the depsolver: both are taken, or neither. */
	&job_kind_depsolve,
	&job_kind_aws_ec2_copy,
	&job_kind_aws_ec2_share,
	&job_kind_search_packages,
	&job_kind_ostree_resolve,
	&job_kind_container_resolve,
	&job_kind_bootc_info_resolve,
	&job_kind_koji_init, &job_kind_koji_finalize,
	NULL
};

const struct job_kind *
job_kind_find(const char *name)
{
	const struct job_kind *const	*k;

	for (k = job_kinds; *k != NULL; k++)
		if (strcmp((*k)->name, name) == 0)
			return *k;
	return NULL;
}
