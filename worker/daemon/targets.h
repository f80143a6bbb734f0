/*
 * Upload and register targets: one file per target under targets/, named
 * after the composer target it implements, exporting one entry; the table
 * lists them. A target gets an export already checked to
 * exist and returns its result options, or an error with the cloud's own
 * message. Targets know nothing of the composer's job state.
 */
#ifndef IB_TARGETS_H
#define IB_TARGETS_H


#include <json-c/json.h>
#include <stdatomic.h>
#include <stdint.h>

#include "config.h"

struct api;
struct metrics;

struct target_ctx {
	const struct config	*conf;
	struct api		*api;		/* worker.server uploads */
	const char		*artifact_location;
	const char		*image_boot_mode;	/* the job's, NULL: none */
	const atomic_int	*abort;		/* set on cancellation */
	struct metrics		*metrics;	/* uploads counted; NULL: off */
	json_object		*manifest;	/* the job's, borrowed (koji) */
	json_object		*osbuild_output; /* the build's, borrowed (koji) */
	json_object		*manifest_info;	/* the manifest job's "info" or NULL */
	json_object		*job_args;	/* the osbuild job's, borrowed (koji) */
	json_object		*dynamic_args;	/* the job's or NULL, borrowed */
	json_object		*pipeline_names; /* the result's or NULL, borrowed */
	const char		*job_location;	/* progress updates go here */
	int			 partial;	/* the server takes them */
	int64_t			*last_partial;	/* the job's last one (now_ms),
						 * one window for build and
						 * uploads; NULL: the target's */
};

struct target_err {
	int		 id;		/* JOB_ERR_* of errors.h */
	char		 reason[1024];	/* the cloud's own message, no secret */
	json_object	*details;	/* optional, owned */
};

struct target_kind {
	const char	*name;		/* "org.osbuild.worker.server", ... */
	/*
	 * Uploads export_path (the file osbuild exported) for target (the
	 * job's whole target object, borrowed). On success returns 0 and sets
	 * *options (a new object: the target result's "options"); on failure
	 * returns -1 and fills err.
	 */
	int		(*run)(const struct target_ctx *, json_object *target,
			    const char *export_path, json_object **options,
			    struct target_err *err);
};

/* One entry per file of targets/, named after the file. */
extern const struct target_kind target_worker_server;
extern const struct target_kind target_aws_s3;
extern const struct target_kind target_aws_ami;
extern const struct target_kind target_gcp_image;
extern const struct target_kind target_azure_image;
extern const struct target_kind target_container;
extern const struct target_kind target_pulp_ostree;
extern const struct target_kind target_azure_storage;
extern const struct target_kind target_oci, target_oci_objectstorage;
extern const struct target_kind target_koji;
extern const struct target_kind target_vmware;
/*
 * For -n: 0 when [oci] credentials (when set) is a TOML file of the keys
 * the OCI targets read, with a well-formed fingerprint and a usable
 * private key; -1 with why filled.
 */
int	oci_check_credentials(const struct config *, char *why, size_t len);
/* The table, ending with NULL (targets/targets.c). */
extern const struct target_kind *const target_kinds[];
const struct target_kind *target_kind_find(const char *);
/*
 * 1 when a server of that generation (SERVER_GEN_*) parses options in a
 * successful result of the named target; sending them otherwise makes the
 * composer fail on the whole result.
 */
int		 target_result_takes_options(const char *name, int generation);
/*
 * What a FAILED result of the named target carries as "options" for a
 * server of that generation, as the reference sends it: no key, null, or
 * the object a success would carry.
 */
#define TARGET_OPTS_NONE	0
#define TARGET_OPTS_NULL	1
#define TARGET_OPTS_OBJECT	2
int		 target_result_failed_options(const char *name, int generation);
/*
 * Runs every target of an osbuild job (targets, borrowed) on the exports
 * under outdir, in order, for a composer of that generation; adds
 * target_results to result. Returns NULL when every target succeeded,
 * else the errors for the job error (a new array; the caller owns it).
 */
json_object	*targets_run(json_object *result, const struct target_ctx *,
		    int generation, json_object *targets, const char *outdir);

#endif
