/*
 * One accepted job: its document, the heartbeat watcher that runs beside it,
 * cancellation, and the job kinds table. A job kind gets a struct job and
 * a struct job_ctx and returns its result; it never talks to the composer
 * about the job's state, job.c and loop.c do.
 */
#ifndef IB_JOB_H
#define IB_JOB_H

#include <signal.h>
#include <stdatomic.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "config.h"

/* Client error ids, numbered as the reference worker's clienterrors. */
enum job_error_id {
	JOB_ERR_NO_DYNAMIC_ARGS = 1,
	JOB_ERR_INVALID_TARGET_CONFIG = 2,
	JOB_ERR_SHARING_TARGET = 3,
	JOB_ERR_INVALID_TARGET = 4,
	JOB_ERR_DEPSOLVE_DEPENDENCY = 5,
	JOB_ERR_READING_JOB_STATUS = 6,
	JOB_ERR_PARSING_DYNAMIC_ARGS = 7,
	JOB_ERR_MANIFEST_GENERATION = 8,
	JOB_ERR_MANIFEST_DEPENDENCY = 9,
	JOB_ERR_BUILD = 10,
	JOB_ERR_UPLOAD = 11,
	JOB_ERR_IMPORT = 12,
	JOB_ERR_INVALID_CONFIG = 17,
	JOB_ERR_EMPTY_MANIFEST = 19,
	JOB_ERR_DNF_DEPSOLVE = 20,
	JOB_ERR_DNF_MARKING = 21,
	JOB_ERR_DNF_OTHER = 22,
	JOB_ERR_RPMMD = 23,
	JOB_ERR_EMPTY_PACKAGE_SPECS = 24,
	JOB_ERR_DNF_REPO = 25,
	JOB_ERR_DEPENDENCY = 26,
	JOB_ERR_HEARTBEAT = 27,
	JOB_ERR_TARGET = 28,
	JOB_ERR_PARSING_ARGS = 29,
	JOB_ERR_CONTAINER_RESOLUTION = 30,
	JOB_ERR_CONTAINER_DEPENDENCY = 31,
	JOB_ERR_OSTREE_REF_INVALID = 32,
	JOB_ERR_OSTREE_REF_RESOLUTION = 33,
	JOB_ERR_OSTREE_PARAMS_INVALID = 34,
	JOB_ERR_OSTREE_DEPENDENCY = 35,
	JOB_ERR_REMOTE_FILE_RESOLUTION = 36,
	JOB_ERR_PANIC = 37,
	JOB_ERR_SIGNED_URL = 38,
	JOB_ERR_INVALID_REPO_URL = 39,
};

struct api;

struct job {
	char		*id;
	char		*type;
	char		*location;	/* the job's URL path, holds the token */
	char		*artifact_location;
	json_object	*doc;		/* owns args and dynamic_args */
	json_object	*args;		/* an object, never NULL */
	json_object	*dynamic_args;	/* an array or NULL */
	char		*invalid;	/* why it cannot run, or NULL */
	atomic_int	 canceled;	/* the server canceled or took it back */
	atomic_int	 pgid;		/* helper process group now, 0: none */
	atomic_int	 done;		/* ran to its end; result being sent */
};

struct job_ctx {
	const struct config	*conf;
	struct api		*api;		/* this thread's: uploads, partials */
	const char		*cache_dir;
	int			 partial;	/* the server takes partial updates */
	int			 generation;	/* SERVER_GEN_*: what its results parse */
};

/*
 * The composer generations whose result parsing differs, told apart by
 * its /openapi: 2024 has no UpdateJobPartial and refuses options in a
 * worker.server target result; 2026 requires them.
 */
#define SERVER_GEN_2024	2024
#define SERVER_GEN_2026	2026

struct job_kind {
	const char	*name;
	/* Returns the result (a new object), with job_error when it failed. */
	json_object	*(*run)(struct job *, const struct job_ctx *);
	int		 light;		/* no build, no cache work */
	/* NULL: always available; else 0 and why when it cannot run here. */
	int		(*available)(const struct config *, char *, size_t);
};

/* The table of kinds, ending with a NULL name (jobs/jobs.c). */
extern const struct job_kind job_kinds[];
const struct job_kind *job_kind_find(const char *);

/*
 * Takes a job document from POST /jobs (the reference moves to the job).
 * NULL with a reason when there is no one to report to (no usable
 * location); a job whose other fields are wrong comes back with
 * job->invalid saying why, so that the server can be told.
 */
struct job	*job_parse(json_object *doc, char *err, size_t errlen);
void		 job_free(struct job *);
int		 job_canceled(const struct job *);

/* {"job_error":{"id","reason","details"?}}: a new result (details taken). */
json_object	*job_error_result(int id, const char *reason,
		    json_object *details);
/* Adds a job_error to an existing result (details taken). */
void		 job_set_error(json_object *result, int id, const char *reason,
		    json_object *details);
/* The job_error of a result or dynamic argument, or NULL (borrowed). */
json_object	*job_result_error(json_object *result);

#endif
