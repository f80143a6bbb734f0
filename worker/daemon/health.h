/*
 * Whether this machine can work: the cheap checks of what each job kind
 * needs (the builder, the depsolver, a usable cache with room), the one
 * place that tells a failure the machine caused from one the job caused,
 * and `ib-worker -n`'s check of what the configuration refers to.
 */
#ifndef IB_HEALTH_H
#define IB_HEALTH_H

#include <stddef.h>
#include <stdio.h>

#include <json-c/json.h>

#include "config.h"

struct job_kind;

/* 1 when the builder can run and the cache takes a build; else 0, why. */
int	 health_osbuild_available(const struct config *, char *why, size_t);
/*
 * 1 when the cache can never take a build, whatever is evicted: its file
 * system is smaller than cache_min_free, or mounted read-only; with why.
 * Such a machine leaves the fleet at once rather than idle in it.
 */
int	 health_osbuild_impossible(const struct config *, char *why, size_t);

/*
 * Classifies the result of a finished job of kind (NULL: unknown kind):
 * 1 when it failed through the machine's fault (the builder or depsolver
 * cannot run, no space, a read-only or broken filesystem or store, KVM
 * gone), with why; 0 when it succeeded or the job caused its failure (a
 * bad manifest, a repository that answers 404, a target refusing).
 */
int	 health_machine_fault(const struct job_kind *, const struct config *,
	    json_object *result, char *why, size_t);

/*
 * Checks what conf refers to: files, executables, metrics_listen, the job
 * kinds of job_types, the executor. Writes one line per problem to out,
 * naming the key as FILE:LINE:COL. Returns the number of problems.
 */
int	 health_check_config(const struct config *, FILE *out);

#endif
