/*
 * The watcher thread: beside the main loop, with its own composer
 * connection, it sends the worker status every status_interval and, while
 * a job runs, the job heartbeat every heartbeat_interval. It cancels the job
 * (SIGTERM to its process group, SIGKILL after cancel_grace) when the server
 * says canceled, takes the job back, or the worker must stop now.
 */
#ifndef IB_WATCH_H
#define IB_WATCH_H

#include <signal.h>
#include <stdatomic.h>

#include "config.h"

struct api;
struct asg;
struct job;
struct metrics;

/*
 * Set by signal handlers in main.c, read by the loop and the watcher. wake
 * is also the loop's bell: the watcher and the Auto Scaling thread ring it
 * when they have news for the loop (which then asks them what).
 */
struct runflags {
	atomic_int		 wake;		/* any of the below was set */
	atomic_int		 drain;		/* finish the job, take no new one */
	atomic_int		 stop_now;	/* stop the job, don't report */
	atomic_int		 reload;	/* re-read the configuration */
	/* No call to the composer may wait: stop_now, or the drain's time
	 * is up (SIGALRM, armed by the first SIGTERM). */
	atomic_int		 hurry;
	atomic_int		 drain_alarm;	/* s: drain_timeout, 0: none */
};
extern struct runflags runflags;

struct watch;

/* Takes api (a handle for this thread); metrics may be NULL. */
struct watch	*watch_start(struct api *, const struct config *,
		    const char *worker_id, struct metrics *);
void		 watch_stop(struct watch *);
/*
 * The job to watch, or NULL; the job must outlive the next call. asg (may
 * be NULL) must too: once it says the instance is leaving, the watcher
 * sets runflags.drain, as SIGTERM would (drain_timeout applies).
 */
void		 watch_set_job(struct watch *, struct job *, struct asg *);
/*
 * The watched job ran to its end: no heartbeat is sent for it from now on,
 * and one on the wire is waited for, so none reaches the server after the
 * result the caller is about to send.
 */
void		 watch_job_ended(struct watch *);
void		 watch_set_worker(struct watch *, const char *worker_id);
/* 1 once the server said it no longer knows this worker (then reset). */
int		 watch_forgotten(struct watch *);
/*
 * Says, once per process, that a drain began: a log line, STATUS= and
 * STOPPING=1. The watcher calls it on the tick that sees the flag; the
 * loop too, for a drain that ends before that tick. job: the running one
 * or NULL.
 */
void		 watch_drain_started(const struct config *, const struct job *);

#endif
