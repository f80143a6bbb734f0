/*
 * The watcher thread. It owns its composer connection; the only state it
 * shares with the main loop is behind w->mtx (the job being watched, the
 * worker id) and the job's atomic flags.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "asg.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "sdnotify.h"
#include "util.h"
#include "watch.h"

#define WATCH_TICK_MS		200
#define WATCH_RETRY_MS		5000

struct runflags	 runflags;

struct watch {
	pthread_t		 thread;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	int			 quit;
	struct api		*api;
	const struct config	*conf;
	char			*worker_id;
	int			 forgotten;
	struct metrics		*metrics;
	struct job		*job;		/* watched now, or NULL */
	struct asg		*asg;		/* Auto Scaling, or NULL */
	int			 job_changed;
	int			 job_ended;	/* no more heartbeats for it */
	int			 hb_inflight;	/* a heartbeat is on the wire */
	pthread_cond_t		 hb_idle;	/* signalled when it is back */
};

static void
kill_group(struct job *job, int sig)
{
	pid_t	 pgid = atomic_load(&job->pgid);

	if (pgid > 1 && kill(-pgid, sig) == -1 && errno != ESRCH)
		log_warn("kill %s to process group %d", strsignal(sig),
		    (int)pgid);
	else if (pgid > 1)
		log_info("sent %s to the job's process group %d",
		    sig == SIGKILL ? "SIGKILL" : "SIGTERM", (int)pgid);
}

static void
cancel_job(struct job *job, const char *why)
{
	/* Once the job ran to its end only the result is left to send. */
	if (atomic_load(&job->done))
		return;
	if (atomic_exchange(&job->canceled, 1) == 0)
		log_warnx("stopping the job: %s", why);
}

/*
 * A drain begins (a stop signal, or the instance leaving its group): said
 * at once, to the log and the service manager, not after the job.
 */
void
watch_drain_started(const struct config *conf, const struct job *job)
{
	static atomic_int	 said;

	if (atomic_exchange(&said, 1))
		return;
	if (job != NULL && !atomic_load(&job->done)) {
		log_info("drain started: finishing the running job first%s",
		    conf->worker.drain_timeout > 0 ? " (drain_timeout "
		    "applies)" : "");
		ib_sd_status("draining: finishing the running job");
	} else {
		log_info("drain started: no job running, exiting");
		ib_sd_status("draining");
	}
	ib_sd_notifyf("STOPPING=1");
}

/*
 * The job pointer is touched only with w->mtx held and only while it is
 * still the watched job, so the loop may free a job as soon as
 * watch_set_job(NULL) returns. Calls to the composer happen unlocked.
 */
static void *
watch_main(void *arg)
{
	struct watch	*w = arg;
	struct job	*job = NULL;
	struct asg	*asg = NULL;
	struct timespec	 ts;
	int64_t		 now, next_hb = 0, next_status, next_wd = 0;
	int64_t		 killed_at = 0, wd_ms, drain_deadline = 0;
	char		*location = NULL, *wid = NULL;
	int		 canceled = 0, sent_term = 0, hb_due, status_due;
	enum api_rc	 hb_rc = API_OK, st_rc = API_OK;

	wd_ms = ib_sd_watchdog_ms() / 2;
	next_status = now_ms() + w->conf->worker.status_interval * 1000;
	pthread_mutex_lock(&w->mtx);
	while (!w->quit) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += WATCH_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->cond, &w->mtx, &ts);
		if (w->quit)
			break;
		if (w->job_changed) {
			w->job_changed = 0;
			job = w->job;
			asg = w->asg;
			free(location);
			location = job ? xstrdup(job->location) : NULL;
			/* A new job gets its first heartbeat right away. */
			next_hb = 0;
			killed_at = 0;
			sent_term = 0;
		}
		now = now_ms();
		/*
		 * The instance leaving its group drains as SIGTERM does, at
		 * once: a signal now is a second one (stop now).
		 */
		if (asg_leaving(asg) && !runflags.drain)
			runflags.drain = 1;
		if (runflags.drain && drain_deadline == 0) {
			drain_deadline = w->conf->worker.drain_timeout > 0 ?
			    now + w->conf->worker.drain_timeout * 1000 : -1;
			watch_drain_started(w->conf, job);
			/* /healthz says so now, not when the job ends. */
			metrics_state(w->metrics, MSTATE_DRAINING);
		}
		if (job != NULL) {
			if (runflags.stop_now)
				cancel_job(job, "the worker must stop now");
			else if ((drain_deadline > 0 &&
			    now >= drain_deadline) || runflags.hurry)
				cancel_job(job, "drain_timeout reached");
		}
		/*
		 * Once the job ran to its end its result is about to go out;
		 * a heartbeat landing after it would hit a finished job.
		 */
		hb_due = job != NULL && !w->job_ended && now >= next_hb;
		w->hb_inflight = hb_due;
		free(wid);
		wid = w->worker_id ? xstrdup(w->worker_id) : NULL;
		status_due = wid != NULL && now >= next_status;
		pthread_mutex_unlock(&w->mtx);

		if (hb_due) {
			hb_rc = api_job_status(w->api, location, &canceled);
			metrics_heartbeat(w->metrics, hb_rc == API_OK ||
			    hb_rc == API_GONE);
			if (hb_rc == API_OK || hb_rc == API_GONE) {
				log_debug("job heartbeat sent");
				next_hb = now +
				    w->conf->worker.heartbeat_interval * 1000;
			} else {
				if (hb_rc != API_ABORTED)
					log_warnx("%s", api_error(w->api));
				next_hb = now + WATCH_RETRY_MS;
			}
		}
		if (status_due) {
			st_rc = api_worker_status(w->api, wid);
			next_status = now + w->conf->worker.status_interval *
			    1000;
			if (st_rc == API_FORGOTTEN)
				log_warnx("the server no longer knows this "
				    "worker: registering again now");
			else if (st_rc != API_OK) {
				if (st_rc != API_ABORTED)
					log_warnx("%s", api_error(w->api));
				next_status = now + WATCH_RETRY_MS;
			} else
				log_debug("worker status sent");
		}
		if (wd_ms > 0 && now >= next_wd) {
			ib_sd_notifyf("WATCHDOG=1");
			next_wd = now + wd_ms;
		}

		pthread_mutex_lock(&w->mtx);
		if (hb_due) {
			w->hb_inflight = 0;
			pthread_cond_broadcast(&w->hb_idle);
		}
		/*
		 * Only for the id asked about: the loop may have registered
		 * meanwhile (it asks too, after failed calls of its own).
		 */
		if (status_due && st_rc == API_FORGOTTEN &&
		    w->worker_id != NULL && strcmp(w->worker_id, wid) == 0) {
			w->forgotten = 1;
			/*
			 * Ends the long poll at once (it aborts on wake), so
			 * that the loop registers now, not when the poll
			 * returns. While a job runs the loop looks after it.
			 */
			if (job == NULL)
				runflags.wake = 1;
		}
		if (job == NULL || w->job_changed)
			continue;
		if (hb_due && hb_rc == API_OK && canceled)
			cancel_job(job, "the server canceled it");
		else if (hb_due && hb_rc == API_GONE)
			cancel_job(job, "the server took it back (requeued "
			    "or finished)");
		if (job_canceled(job)) {
			if (!sent_term && atomic_load(&job->pgid) > 1) {
				kill_group(job, SIGTERM);
				sent_term = 1;
				killed_at = now;
			} else if (killed_at != 0 && now - killed_at >=
			    w->conf->worker.cancel_grace * 1000) {
				kill_group(job, SIGKILL);
				killed_at = now;
			}
		}
	}
	pthread_mutex_unlock(&w->mtx);
	free(location);
	free(wid);
	return NULL;
}

struct watch *
watch_start(struct api *api, const struct config *conf, const char *worker_id,
    struct metrics *metrics)
{
	struct watch	*w;
	sigset_t	 all, old;

	w = xcalloc(1, sizeof(*w));
	pthread_mutex_init(&w->mtx, NULL);
	pthread_cond_init(&w->cond, NULL);
	pthread_cond_init(&w->hb_idle, NULL);
	w->api = api;
	/* Stopping now, or at the drain's end, waits for no composer call. */
	api_set_abort(api, &runflags.hurry);
	w->conf = conf;
	w->metrics = metrics;
	w->worker_id = worker_id ? xstrdup(worker_id) : NULL;
	/* Signals are for the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&w->thread, NULL, watch_main, w) != 0)
		fatalx("cannot start the watcher thread");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return w;
}

void
watch_stop(struct watch *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mtx);
	w->quit = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mtx);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->mtx);
	pthread_cond_destroy(&w->cond);
	pthread_cond_destroy(&w->hb_idle);
	api_free(w->api);
	free(w->worker_id);
	free(w);
}

void
watch_set_job(struct watch *w, struct job *job, struct asg *asg)
{
	pthread_mutex_lock(&w->mtx);
	w->job = job;
	w->asg = asg;
	w->job_changed = 1;
	w->job_ended = 0;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mtx);
}

void
watch_job_ended(struct watch *w)
{
	pthread_mutex_lock(&w->mtx);
	w->job_ended = 1;
	while (w->hb_inflight)
		pthread_cond_wait(&w->hb_idle, &w->mtx);
	pthread_mutex_unlock(&w->mtx);
}

void
watch_set_worker(struct watch *w, const char *worker_id)
{
	pthread_mutex_lock(&w->mtx);
	free(w->worker_id);
	w->worker_id = worker_id ? xstrdup(worker_id) : NULL;
	w->forgotten = 0;
	pthread_mutex_unlock(&w->mtx);
}

int
watch_forgotten(struct watch *w)
{
	int	 f;

	pthread_mutex_lock(&w->mtx);
	f = w->forgotten;
	w->forgotten = 0;
	pthread_mutex_unlock(&w->mtx);
	return f;
}
