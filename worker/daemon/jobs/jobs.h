/*
 * The run functions of the job kinds, one file each in jobs/. The table
 * that names them is in jobs.c.
 */
#ifndef IB_JOBS_H
#define IB_JOBS_H

#include "job.h"

json_object	*job_file_resolve_run(struct job *, const struct job_ctx *);
json_object	*job_osbuild_run(struct job *, const struct job_ctx *);
json_object	*job_depsolve_run(struct job *, const struct job_ctx *);
json_object	*job_search_packages_run(struct job *, const struct job_ctx *);
int		 job_search_packages_available(const struct config *, char *,
		    size_t);
json_object	*job_ostree_resolve_run(struct job *, const struct job_ctx *);
json_object	*job_container_resolve_run(struct job *,
		    const struct job_ctx *);

#endif
