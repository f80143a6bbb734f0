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
#include "errors.h"

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

struct metrics;

struct job_ctx {
	const struct config	*conf;
	struct api		*api;		/* this thread's: uploads, partials */
	const char		*cache_dir;
	int			 partial;	/* the server takes partial updates */
	int			 generation;	/* SERVER_GEN_*: what its results parse */
	struct metrics		*metrics;	/* NULL: off */
};

struct job_kind {
	const char	*name;
	/* Returns the result (a new object), with job_error when it failed. */
	json_object	*(*run)(struct job *, const struct job_ctx *);
	int		 light;		/* no build, no cache work */
	/* NULL: always available; else 0 and why when it cannot run here. */
	int		(*available)(const struct config *, char *, size_t);
};

/* The table of kinds, ending with NULL (jobs/jobs.c). */
extern const struct job_kind *const job_kinds[];
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
/*
 * v's text when v is a JSON string with no NUL in it, else NULL (borrowed
 * from v): for the items of a job's lists, as json_get_str (jsonutil.h)
 * is for members.
 */
const char	*job_string(json_object *v);
/* The job_error of a result or dynamic argument, or NULL (borrowed). */
json_object	*job_result_error(json_object *result);

#endif
