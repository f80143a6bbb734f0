/*
 * The upload targets this worker knows. Adding a target is one file in
 * targets/ and one row here; names are the composer's.
 */
#include <string.h>

#include "job.h"
#include "targets.h"

int	target_worker_server_run(const struct target_ctx *, json_object *,
	    const char *, json_object **, struct target_err *);
int	target_s3_run(const struct target_ctx *, json_object *,
	    const char *, json_object **, struct target_err *);
int	target_aws_run(const struct target_ctx *, json_object *,
	    const char *, json_object **, struct target_err *);
int	target_gcp_run(const struct target_ctx *, json_object *,
	    const char *, json_object **, struct target_err *);
int	target_azure_image_run(const struct target_ctx *, json_object *,
	    const char *, json_object **, struct target_err *);

const struct target_kind target_kinds[] = {
	{ "org.osbuild.worker.server", target_worker_server_run },
	{ "org.osbuild.aws.s3", target_s3_run },
	{ "org.osbuild.aws", target_aws_run },
	{ "org.osbuild.gcp", target_gcp_run },
	{ "org.osbuild.azure.image", target_azure_image_run },
	{ NULL, NULL }
};

const struct target_kind *
target_kind_find(const char *name)
{
	const struct target_kind	*k;

	if (name == NULL)
		return NULL;
	for (k = target_kinds; k->name != NULL; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

int
target_result_takes_options(const char *name, int generation)
{
	/* The 2024 composer knows no options of worker.server results. */
	if (strcmp(name, "org.osbuild.worker.server") == 0)
		return generation >= SERVER_GEN_2026;
	return target_kind_find(name) != NULL;
}

int
target_result_failed_options(const char *name, int generation)
{
	/*
	 * The reference makes these results with a typed nil options, which
	 * goes out as "options": null and is decoded to empty options; the
	 * composer's compose status type-asserts them, and a result without
	 * the key makes GET /composes/ID a 500 (10001). worker.server has its
	 * options from the start on 2026 and none on 2024.
	 */
	if (strcmp(name, "org.osbuild.worker.server") == 0)
		return generation >= SERVER_GEN_2026 ? TARGET_OPTS_OBJECT :
		    TARGET_OPTS_NONE;
	return target_kind_find(name) != NULL ? TARGET_OPTS_NULL :
	    TARGET_OPTS_NONE;
}
