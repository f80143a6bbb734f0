/*
 * A Prometheus text endpoint for the worker ([worker] metrics_listen):
 * jobs by kind and outcome, time spent, heartbeats and composer errors,
 * and whether a job runs now. Served by its own small thread.
 */
#ifndef IB_METRICS_H
#define IB_METRICS_H

#include <stddef.h>

struct metrics;

/* "HOST:PORT"; NULL with a reason when the address cannot be bound. */
struct metrics	*metrics_start(const char *listen, char *err, size_t errlen);
void		 metrics_stop(struct metrics *);

/*
 * All accept NULL (metrics off). kind is the job type as the server gave
 * it: a kind this worker knows is labelled with its own name, anything
 * else as "other".
 */
void		 metrics_job_started(struct metrics *, const char *kind);
void		 metrics_job_finished(struct metrics *, const char *kind,
		    const char *outcome, double seconds);
void		 metrics_heartbeat(struct metrics *, int ok);
void		 metrics_composer_error(struct metrics *);

#endif
