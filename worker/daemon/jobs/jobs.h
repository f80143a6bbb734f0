/*
 * The job kinds this worker knows: one file each in jobs/, each exporting
 * one entry (its name, run function, weight and availability check). The
 * table that lists them is in jobs.c.
 */
#ifndef IB_JOBS_H
#define IB_JOBS_H

#include "job.h"

extern const struct job_kind job_kind_aws_ec2_copy;
extern const struct job_kind job_kind_aws_ec2_share;
extern const struct job_kind job_kind_bootc_info_resolve;
extern const struct job_kind job_kind_container_resolve;
extern const struct job_kind job_kind_depsolve;
extern const struct job_kind job_kind_file_resolve;
extern const struct job_kind job_kind_koji_init, job_kind_koji_finalize;
extern const struct job_kind job_kind_osbuild;
extern const struct job_kind job_kind_ostree_resolve;
extern const struct job_kind job_kind_search_packages;

#endif
