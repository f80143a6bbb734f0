/*
 * The upload targets this worker knows. Adding a target is one file in
 * targets/ that exports its entry (targets.h) and one pointer here; names
 * are the composer's.
 */
#include <string.h>

#include "api.h"
#include "targets.h"

const struct target_kind *const target_kinds[] = {
	&target_worker_server,
	&target_aws_s3,
	&target_aws_ami,
	&target_gcp_image,
	&target_azure_image,
	&target_container,
	&target_pulp_ostree,
	&target_azure_storage,
	&target_oci, &target_oci_objectstorage,
	&target_koji,
	&target_vmware,
	NULL
};

const struct target_kind *
target_kind_find(const char *name)
{
	const struct target_kind *const	*k;

	if (name == NULL)
		return NULL;
	for (k = target_kinds; *k != NULL; k++)
		if (strcmp((*k)->name, name) == 0)
			return *k;
	return NULL;
}

/*
 * Results whose options that composer cannot decode at all, not even a
 * null: org.osbuild.azure has none in any, and the 2026 composer no
 * longer knows pulp.ostree's (its decoder fails on the whole result).
 */
static int
options_unknown(const char *name, int generation)
{
	return strcmp(name, "org.osbuild.azure") == 0 ||
	    (strcmp(name, "org.osbuild.pulp.ostree") == 0 &&
	    generation >= SERVER_GEN_2026);
}

int
target_result_takes_options(const char *name, int generation)
{
	/* The 2024 composer knows no options of worker.server results. */
	if (strcmp(name, "org.osbuild.worker.server") == 0)
		return generation >= SERVER_GEN_2026;
	return target_kind_find(name) != NULL &&
	    !options_unknown(name, generation);
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
	return target_kind_find(name) != NULL &&
	    !options_unknown(name, generation) ? TARGET_OPTS_NULL :
	    TARGET_OPTS_NONE;
}
