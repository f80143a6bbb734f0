/*
 * A Prometheus text endpoint for the worker ([worker] metrics_listen) and
 * its health check on the same listener: jobs by type and outcome, their
 * durations, uploads by target, the cache, calls to the composer and their
 * retries, and what /healthz answers from (registered, last successful
 * contact with the composer, the loop's state). Served by its own small
 * thread; every series keeps one label set for the life of the process.
 */
#ifndef IB_METRICS_H
#define IB_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics;

/* "HOST:PORT" or "[V6]:PORT"; NULL with a reason when it cannot be bound. */
struct metrics	*metrics_start(const char *listen, char *err, size_t errlen);
void		 metrics_stop(struct metrics *);

/* What the loop is doing, for /healthz and ib_worker_state. */
enum metrics_state {
	MSTATE_STARTING = 0,
	MSTATE_REGISTERING,
	MSTATE_IDLE,		/* registered, asking for jobs */
	MSTATE_BUSY,		/* a job runs */
	MSTATE_GATED,		/* no job type can run here now */
	MSTATE_DRAINING,
	MSTATE_UNHEALTHY,
	MSTATE_LEAVING
};

/*
 * All accept NULL (metrics off). type is the job type as the server gave
 * it: a type this worker knows is labelled with its own name, anything
 * else as "other". target is a target_kind's own name.
 */
void		 metrics_job_started(struct metrics *, const char *type);
void		 metrics_job_finished(struct metrics *, const char *type,
		    const char *outcome, double seconds);
void		 metrics_upload(struct metrics *, const char *target,
		    int64_t bytes, double seconds, int ok);
/*
 * Transfers of a target's upload (S3 parts, Azure pages) tried again:
 * retries in all, retry_after of them waiting as the server's Retry-After
 * asked (the others: backoff), having waited waited_ms in all.
 */
void		 metrics_upload_retries(struct metrics *, const char *target,
		    int retries, int retry_after, int64_t waited_ms);
void		 metrics_cache(struct metrics *, int64_t bytes,
		    uint64_t evictions, int64_t evicted_bytes);
void		 metrics_heartbeat(struct metrics *, int ok);
void		 metrics_composer_error(struct metrics *);
/* A call to the composer tried again; call is one of the worker's names. */
void		 metrics_retry(struct metrics *, const char *call);
/* The composer answered (any answer of the API, not a transport error). */
void		 metrics_contact(struct metrics *);
void		 metrics_registered(struct metrics *, int registered);
/* From DRAINING on, only DRAINING, UNHEALTHY or LEAVING are taken. */
void		 metrics_state(struct metrics *, enum metrics_state);
/* /healthz fails when the composer has not answered for this long. */
void		 metrics_contact_window(struct metrics *, int seconds);

#endif
