/*
 * The worker's side of its Auto Scaling group: scale-in protection while a
 * build runs, and the termination lifecycle hook (when the instance is
 * leaving the group: drain, heartbeat while the job finishes, then
 * CompleteLifecycleAction CONTINUE). One thread reads the instance metadata
 * (IMDSv2 only) and makes the signed Auto Scaling calls, so the loop never
 * waits on AWS.
 */
#ifndef IB_ASG_H
#define IB_ASG_H

#include <stdatomic.h>
#include <stddef.h>

struct config;
struct job_kind;

struct asg;

/*
 * Starts the thread when [worker] scale_in_protection is on or
 * lifecycle_hook is set; NULL otherwise (every call below accepts NULL).
 * The settings are copied. A reload that changes them stops the thread
 * between jobs and starts a new one (see asg_settings_differ).
 * bell (may be NULL) is the loop's: the thread sets it to 1, and writes
 * nothing else of the loop's, when it learns that the instance is leaving,
 * so that a waiting loop wakes and asks asg_leaving.
 */
struct asg	*asg_start(const struct config *, atomic_int *bell);

/* 1 when conf's Auto Scaling settings are not a's, naming them in what. */
int		 asg_settings_differ(const struct asg *, const struct config *,
		    char *what, size_t);

/*
 * Around one job. A job that is not light gets the instance protected
 * from scale-in; the protection is lifted at asg_job_end. Neither waits
 * for AWS.
 */
void		 asg_job_start(struct asg *, const struct job_kind *);
void		 asg_job_end(struct asg *);

/*
 * 1 once the instance is leaving the group (target lifecycle state
 * Terminated or Warmed:*): the worker should drain (finish the job, take
 * no new one), as on SIGTERM. The loop and the watcher ask; any thread may.
 */
int		 asg_leaving(struct asg *);

/*
 * Stops the thread. When the instance is leaving: CompleteLifecycleAction
 * CONTINUE; otherwise a protection still set is lifted, with a few tries,
 * or one when hurry (may be NULL) is set. Frees. Returns 1 when the
 * instance was leaving (the caller should drain), else 0.
 */
int		 asg_stop(struct asg *, const atomic_int *hurry);

/*
 * The worker leaves the fleet: SetInstanceHealth Unhealthy for this
 * instance (IMDS id and region, signed with the instance role), so that
 * the group replaces it. Only when conf places the worker in a group
 * (autoscaling_group, scale_in_protection or lifecycle_hook set); logs
 * and returns -1 otherwise or when AWS refused after a few tries (one
 * when hurry, which may be NULL, is set).
 */
int		 asg_mark_unhealthy(const struct config *,
		    const atomic_int *hurry);

#endif
