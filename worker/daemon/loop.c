/*
 * The main loop. Everything the composer must hear about a job goes through
 * here: the job is taken, run, and its result delivered until the server
 * has it (or says the job is no longer ours). A job stopped early is not
 * reported: the composer requeues it after the heartbeat timeout.
 */
#include <sys/utsname.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "asg.h"
#include "backoff.h"
#include "cache.h"
#include "executor/executor.h"
#include "health.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "loop.h"
#include "sdnotify.h"
#include "util.h"
#include "watch.h"

/* 4xx answers to a result are retried this often before it is dropped. */
#define LOOP_RESULT_REFUSED_MAX	5
/* Between checks of what can run here when nothing can. */
#define LOOP_RECHECK_MS		10000
/* Longer job ids are not shown in the log and the status. */
#define LOOP_ID_SHOWN_MAX	64
/* 5xx answers to a result are retried this often before it is dropped. */
#define LOOP_RESULT_FAILED_MAX	10

struct loop {
	const struct loop_opts	*opts;
	struct config		*conf;
	struct api		*api;
	struct watch		*watch;
	char			*worker_id;
	const char		**types;	/* NULL-terminated */
	int			 partial;
	int			 generation;	/* SERVER_GEN_* */
	int			 unhealthy;	/* take no more jobs */
	char			*types_said;	/* what was last logged of them */
	int			 faults;	/* machine faults in a row */
	int			 leave;		/* too many: leave the fleet */
	struct metrics		*metrics;
	int64_t			 outage_since;	/* first failed call, 0: none */
	int			 outage_calls;
	struct backoff		 backoff;
	struct asg		*asg;		/* Auto Scaling, or NULL */
};

/*
 * Draining: a signal asked for it, or the Auto Scaling thread says the
 * instance is leaving (it rang runflags.wake); the loop sets the drain
 * flag itself then, as SIGTERM would (during a job the watcher does).
 */
static int
draining(struct loop *l)
{
	if (!runflags.drain && asg_leaving(l->asg))
		runflags.drain = 1;
	return runflags.drain;
}

static int64_t
mono_usec(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * The composer answered a call (of the loop's own): once after failures,
 * says it is reachable again and how long it was not.
 */
static void
composer_answered(struct loop *l)
{
	struct log_num	 nums[] = { { "duration_ms", 0 }, { NULL, 0 } };

	metrics_contact(l->metrics);
	if (l->outage_since == 0)
		return;
	nums[0].value = now_ms() - l->outage_since;
	log_info_n(nums, "the composer is reachable again after %.0f s "
	    "(%d failed calls)", nums[0].value / 1000.0, l->outage_calls);
	l->outage_since = 0;
	l->outage_calls = 0;
}

/* A call of the loop's own failed for want of the composer. */
static void
composer_failed(struct loop *l, const char *call)
{
	metrics_composer_error(l->metrics);
	metrics_retry(l->metrics, call);
	if (l->outage_since == 0)
		l->outage_since = now_ms();
	l->outage_calls++;
}

/* Sleeps ms, waking early when a signal asks for something. */
static void
nap(int64_t ms)
{
	struct timespec	 ts;
	int64_t		 end = now_ms() + ms;

	while (!runflags.wake && now_ms() < end) {
		ts.tv_sec = 0;
		ts.tv_nsec = 100 * 1000000L;
		nanosleep(&ts, NULL);
	}
}

/*
 * The job types to ask for: known, configured, and available here now.
 * Called between jobs; says what it takes only when that changed.
 */
static const char **
job_types(const struct config *conf, char **said)
{
	const struct job_kind *const	*kp;
	const struct job_kind		*k;
	const char			**types;
	struct buf			 names, text;
	char				 why[256];
	size_t				 n = 0;

	for (kp = job_kinds; *kp != NULL; kp++)
		n++;
	types = xcalloc(n + 1, sizeof(*types));
	n = 0;
	buf_init(&names);
	buf_init(&text);
	for (kp = job_kinds; (k = *kp) != NULL; kp++) {
		if (!config_wants_kind(conf, k->name))
			continue;
		why[0] = '\0';
		if (k->available != NULL &&
		    !k->available(conf, why, sizeof(why))) {
			buf_printf(&text, "not taking %s jobs: %s\n", k->name,
			    why);
			continue;
		}
		types[n++] = k->name;
		buf_printf(&names, "%s%s", names.len ? " " : "", k->name);
	}
	buf_printf(&text, "taking job types: %s",
	    names.data ? names.data : "(none)");
	if (*said == NULL || strcmp(*said, text.data) != 0) {
		char	*copy, *line, *save = NULL;

		free(*said);
		*said = xstrdup(text.data);
		copy = xstrdup(text.data);
		for (line = strtok_r(copy, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			log_info("%s", line);
		free(copy);
	}
	buf_free(&text);
	buf_free(&names);
	return types;
}

/*
 * A worker meant to build whose cache can never take a build would stay
 * in the fleet taking only light jobs (or none): it leaves instead, as
 * after a run of machine faults.
 */
static int
cannot_ever_build(struct loop *l)
{
	char	 why[256];

	if (!config_wants_kind(l->conf, "osbuild") ||
	    !health_osbuild_impossible(l->conf, why, sizeof(why)))
		return 0;
	log_warnx("this machine can never build: %s; taking no more jobs, "
	    "leaving the fleet", why);
	l->leave = 1;
	return 1;
}

static const char *
arch_of(const struct config *conf)
{
	static struct utsname	 u;

	if (conf->worker.arch != NULL)
		return conf->worker.arch;
	uname(&u);
	return u.machine;
}

static int
do_register(struct loop *l)
{
	enum api_rc	 rc;
	char		*id;

	ib_sd_status("registering with the composer");
	metrics_registered(l->metrics, 0);
	metrics_state(l->metrics, MSTATE_REGISTERING);
	while (!draining(l)) {
		rc = api_register(l->api, arch_of(l->conf), &id);
		if (rc == API_OK) {
			free(l->worker_id);
			l->worker_id = id;
			backoff_reset(&l->backoff);
			composer_answered(l);
			log_setfield(LOG_F_WORKER_ID, id);
			log_info("registered as worker %s", id);
			metrics_registered(l->metrics, 1);
			if (l->watch != NULL)
				watch_set_worker(l->watch, id);
			return 0;
		}
		log_warnx("%s", api_error(l->api));
		composer_failed(l, "register");
		runflags.wake = 0;
		nap(backoff_next(&l->backoff));
	}
	return -1;
}

/*
 * After failed calls, the first call that reaches the composer again is the
 * worker status: a restarted composer holds a forgotten worker's long poll
 * as any other, and the watcher's next status call may be status_interval
 * away (on real composers: half a minute and more without a worker, weldr
 * refusing composes). Returns 0 to poll now (also when the composer refuses
 * the status call for good), 1 to go round the loop again (the composer
 * still cannot be reached, after a nap; or the call was aborted), -1 when a
 * registration was needed and a drain stopped it.
 */
static int
check_after_outage(struct loop *l)
{
	enum api_rc	 rc;

	if (l->outage_since == 0 || l->worker_id == NULL)
		return 0;
	rc = api_worker_status(l->api, l->worker_id);
	switch (rc) {
	case API_OK:
		composer_answered(l);
		backoff_reset(&l->backoff);
		return 0;
	case API_FORGOTTEN:
		composer_answered(l);
		log_warnx("the server no longer knows this worker: "
		    "registering again now");
		return do_register(l) == -1 ? -1 : 1;
	case API_ABORTED:
		return 1;
	case API_RETRY:
		log_warnx("%s", api_error(l->api));
		composer_failed(l, "worker_status");
		nap(backoff_next(&l->backoff));
		return 1;
	default:
		/*
		 * It answered, but refuses the call itself (a composer
		 * without the status endpoint): the poll is what counts.
		 */
		log_warnx("%s", api_error(l->api));
		composer_answered(l);
		return 0;
	}
}

static int
make_apis(struct loop *l)
{
	char	 err[512];

	if ((l->api = api_new(l->conf, l->opts->address,
	    l->opts->unix_socket, err, sizeof(err))) == NULL) {
		log_errx("%s", err);
		return -1;
	}
	l->watch = watch_start(api_clone(l->api), l->conf, l->worker_id,
	    l->metrics);
	return 0;
}

static void
free_apis(struct loop *l)
{
	watch_stop(l->watch);
	l->watch = NULL;
	api_free(l->api);
	l->api = NULL;
}

/*
 * The server's /openapi tells its generation (what its results parse),
 * whatever the partial setting says; an unreadable one counts as the
 * newest.
 */
static void
detect_partial(struct loop *l)
{
	int	 has;

	has = api_server_has_partial(l->api);
	l->generation = has == 0 ? SERVER_GEN_2024 : SERVER_GEN_2026;
	switch (l->conf->worker.partial) {
	case PARTIAL_ON:
		l->partial = 1;
		break;
	case PARTIAL_OFF:
		l->partial = 0;
		break;
	default:
		l->partial = has == 1;
	}
	log_info("the server %s partial job updates%s; its results are "
	    "those of the %d generation", l->partial ? "takes" : "does not take",
	    has == -1 ? " (its /openapi could not be read)" : "",
	    l->generation);
}

/*
 * Between jobs no protection is wanted, so stopping the thread calls AWS
 * only to lift one it has not lifted yet. A leaving instance keeps its
 * thread: that one completes the lifecycle action when the loop ends.
 */
static void
reload_asg(struct loop *l)
{
	char	 what[256];

	if (!asg_settings_differ(l->asg, l->conf, what, sizeof(what)))
		return;
	if (asg_leaving(l->asg)) {
		log_info("Auto Scaling settings changed (%s) but the instance "
		    "is leaving the group: not applied", what);
		return;
	}
	log_info("Auto Scaling settings changed (%s): %s", what,
	    l->conf->worker.scale_in_protection ||
	    l->conf->worker.lifecycle_hook != NULL ?
	    "restarting its thread with them" : "stopping its thread");
	if (asg_stop(l->asg, &runflags.stop_now)) {
		/* It learnt of the termination as it stopped: we drain. */
		log_info("Auto Scaling: the instance is leaving the group; "
		    "not restarted");
		l->asg = NULL;
		return;
	}
	l->asg = asg_start(l->conf, &runflags.wake);
}

/* SIGHUP: a valid new configuration replaces the old one between jobs. */
static void
reload(struct loop *l)
{
	struct config	*nc, *old;
	char		 err[1024];

	runflags.reload = 0;
	/* systemd's notify-reload protocol wants the monotonic clock too. */
	ib_sd_notifyf("RELOADING=1\nMONOTONIC_USEC=%lld",
	    (long long)mono_usec());
	log_info("reloading the configuration (SIGHUP)");
	if ((nc = config_load(l->opts->config_path, 1, err, sizeof(err))) ==
	    NULL) {
		log_warnx("reload refused, keeping the running configuration: "
		    "%s", err);
		ib_sd_notifyf("READY=1");
		return;
	}
	old = l->conf;
	free_apis(l);
	l->conf = nc;
	if (make_apis(l) == -1) {
		log_warnx("reload refused, keeping the running "
		    "configuration");
		l->conf = old;
		config_free(nc);
		if (make_apis(l) == -1)
			fatalx("cannot restore the old configuration");
		ib_sd_notifyf("READY=1");
		return;
	}
	config_free(old);
	runflags.drain_alarm = (int)l->conf->worker.drain_timeout;
	log_setformat(l->conf->worker.log_format);
	free(l->types);
	l->types = job_types(l->conf, &l->types_said);
	detect_partial(l);
	reload_asg(l);
	log_info("configuration reloaded from %s", l->opts->config_path);
	ib_sd_notifyf("READY=1");
}

/*
 * Whether the server canceled the job: the composers answer a result for a
 * job canceled since its last heartbeat with a 500 (their catch-all, code
 * 1004), not with "not running"; its heartbeat still says canceled.
 */
static int
canceled_meanwhile(struct loop *l, const struct job *job)
{
	int	 canceled = 0;

	return api_job_status(l->api, job->location, &canceled) == API_OK &&
	    canceled;
}

/*
 * Delivers a result until the server has it. Returns 0 when delivered or
 * dropped for good, 1 when the server refused it as too large (413), -1
 * when the worker had to stop first. A server error
 * (5xx) is retried as such, at most LOOP_RESULT_FAILED_MAX times, unless
 * the job turns out to be canceled (dropped at once); a job
 * the server no longer knows after it failed on the result was not
 * requeued or canceled: the server failed on that result (a composer may
 * even have kept it without being able to read it).
 */
static int
deliver_once(struct loop *l, struct job *job, json_object *result)
{
	struct backoff	 b;
	enum api_rc	 rc;
	int		 refused = 0, failed = 0;
	char		 failure[512] = "";

	backoff_init(&b, 1000, l->conf->worker.backoff_max * 1000);
	for (;;) {
		rc = api_update_job(l->api, job->location, result);
		switch (rc) {
		case API_OK:
			metrics_contact(l->metrics);
			log_info("result delivered");
			return 0;
		case API_GONE:
			if (failure[0] != '\0')
				log_warnx("result not taken: the server failed "
				    "on it (%s), then no longer knew the job "
				    "(%s)", failure, api_error(l->api));
			else
				log_warnx("result dropped: %s (the job was "
				    "requeued or canceled)", api_error(l->api));
			return 0;
		case API_ERROR:
			if (api_status(l->api) == 413)
				return 1;
			if (++refused >= LOOP_RESULT_REFUSED_MAX) {
				log_warnx("result dropped: the server refused "
				    "it %d times: %s", refused,
				    api_error(l->api));
				return 0;
			}
			log_warnx("the server refused the result: %s; "
			    "retrying", api_error(l->api));
			break;
		default:
			if (api_status(l->api) >= 500) {
				snprintf(failure, sizeof(failure), "%s",
				    api_error(l->api));
				if (canceled_meanwhile(l, job)) {
					log_warnx("result dropped: the server "
					    "canceled the job before its end "
					    "(it answered the result: %s)",
					    failure);
					return 0;
				}
				if (++failed >= LOOP_RESULT_FAILED_MAX) {
					log_warnx("result dropped: the server "
					    "failed on it %d times: %s",
					    failed, failure);
					return 0;
				}
				log_warnx("the server failed on the result: "
				    "%s; retrying", failure);
			} else
				log_warnx("%s; retrying", api_error(l->api));
		}
		if (runflags.stop_now)
			return -1;
		metrics_retry(l->metrics, "result");
		nap(backoff_next(&b));
		runflags.wake = runflags.stop_now;
	}
}

/*
 * deliver_once; a result the server refuses as too large is replaced by a
 * small error result that names its size, so that the job ends rather
 * than being requeued until it fails for want of a heartbeat.
 */
static int
deliver(struct loop *l, struct job *job, json_object *result)
{
	json_object	*small;
	char		*reason;
	size_t		 n;
	int		 rv;

	if ((rv = deliver_once(l, job, result)) != 1)
		return rv;
	n = strlen(json_object_to_json_string_ext(result,
	    JSON_C_TO_STRING_PLAIN));
	log_warnx("the server refused the result as too large (%zu bytes); "
	    "sending an error result in its place", n);
	reason = xasprintf("the job's result (%zu bytes) is larger than the "
	    "server takes", n);
	small = job_error_result(JOB_ERR_UPLOAD, reason, NULL);
	if ((rv = deliver_once(l, job, small)) == 1) {
		log_warnx("result dropped: the server refused even the error "
		    "result as too large");
		rv = 0;
	}
	json_object_put(small);
	free(reason);
	return rv;
}

/* Short of space between jobs: evict first, then judge the space left. */
static void
make_room(const struct config *conf)
{
	int64_t	 avail = cache_free_bytes(conf->worker.cache_directory);

	if (avail >= 0 && avail < conf->worker.cache_min_free)
		(void)cache_prepare(conf, conf->worker.cache_directory);
}

/*
 * A run of failures that are the machine's fault (health.c says which)
 * makes the worker leave the fleet; a job of a kind that needs the
 * machine and did not fail through it ends the run.
 */
static void
count_fault(struct loop *l, const struct job_kind *kind, json_object *result)
{
	char	 why[512];

	if (kind == NULL || kind->available == NULL)
		return;
	if (!health_machine_fault(kind, l->conf, result, why, sizeof(why))) {
		l->faults = 0;
		return;
	}
	l->faults++;
	log_warnx("the machine's fault (%d of %lld in a row before leaving): "
	    "%s", l->faults, (long long)l->conf->worker.machine_fault_limit,
	    why);
	if (l->faults >= l->conf->worker.machine_fault_limit) {
		log_warnx("%d failures in a row were this machine's fault: "
		    "taking no more jobs, leaving the fleet", l->faults);
		l->leave = 1;
	}
}

/*
 * What a job error says beyond its reason: its details (the depsolver's or
 * osbuild's own message), on one line and cut; NULL when there are none.
 */
#define LOOP_CAUSE_MAX	400
static char *
error_cause(json_object *err)
{
	json_object	*d;
	const char	*s;

	if (!json_object_object_get_ex(err, "details", &d) || d == NULL)
		return NULL;
	s = json_object_is_type(d, json_type_string) ?
	    json_object_get_string(d) : json_object_to_json_string_ext(d,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL || *s == '\0')
		return NULL;
	if (strlen(s) > LOOP_CAUSE_MAX)
		return xasprintf("%.*s...", LOOP_CAUSE_MAX, s);
	return xstrdup(s);
}

/* The cache's size and evictions into the metrics (a walk of the store). */
static void
cache_metrics(struct loop *l)
{
	const char	*dir = l->conf->worker.cache_directory;
	char		*store, *rpmmd;
	uint64_t	 n;
	int64_t		 bytes;

	if (l->metrics == NULL)
		return;
	store = cache_path(dir, CACHE_STORE);
	rpmmd = cache_path(dir, CACHE_RPMMD);
	cache_evictions(&n, &bytes);
	metrics_cache(l->metrics, cache_usage(store) + cache_usage(rpmmd), n,
	    bytes);
	free(store);
	free(rpmmd);
}

/*
 * The job's id as the log and the status show it: the server's when it is
 * a plain token (a composer's are UUIDs), else a placeholder.
 */
static const char *
shown_id(const char *id)
{
	const unsigned char	*p;

	if (strlen(id) > LOOP_ID_SHOWN_MAX)
		return "(id too long to show)";
	for (p = (const unsigned char *)id; *p != '\0'; p++)
		if (!isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
			return "(id not shown: not a plain token)";
	return id;
}

static void
run_job(struct loop *l, json_object *doc)
{
	const struct job_kind	*kind = NULL;
	struct job_ctx		 ctx;
	struct job		*job;
	json_object		*result, *v;
	struct log_num		 took[3] = { { "duration_ms", 0 },
				    { NULL, 0 }, { NULL, 0 } };
	char			 err[512];
	int64_t			 start;

	if ((job = job_parse(doc, err, sizeof(err))) == NULL) {
		/* Without a usable location there is no one to tell. */
		log_warnx("unusable job from the server: %s", err);
		json_object_put(doc);
		return;
	}
	log_setjob(shown_id(job->id));
	log_setfield(LOG_F_JOB_TYPE, job->type);
	log_setfield(LOG_F_PHASE, "run");
	ib_sd_status("running %s job %s", job->type, shown_id(job->id));
	log_info("job accepted: type %s", job->type);
	watch_set_job(l->watch, job, l->asg);
	metrics_job_started(l->metrics, job->type);
	metrics_state(l->metrics, MSTATE_BUSY);
	start = now_ms();

	if (job->invalid != NULL) {
		log_warnx("malformed job: %s", job->invalid);
		result = job_error_result(JOB_ERR_PARSING_ARGS, job->invalid,
		    NULL);
	} else if ((kind = job_kind_find(job->type)) == NULL) {
		log_warnx("unknown job type %s", job->type);
		result = job_error_result(JOB_ERR_PARSING_ARGS,
		    "this worker cannot run jobs of this type",
		    json_object_new_string(job->type));
	} else {
		memset(&ctx, 0, sizeof(ctx));
		ctx.conf = l->conf;
		ctx.api = l->api;
		ctx.cache_dir = l->conf->worker.cache_directory;
		ctx.partial = l->partial;
		ctx.generation = l->generation;
		ctx.metrics = l->metrics;
		asg_job_start(l->asg, kind);	/* protect a build from scale-in */
		result = kind->run(job, &ctx);
	}
	atomic_store(&job->done, 1);
	watch_job_ended(l->watch);	/* no heartbeat after the result */

	metrics_job_finished(l->metrics, job->type, job_canceled(job) ?
	    "stopped" : job_result_error(result) ? "failure" : "success",
	    (now_ms() - start) / 1000.0);
	took[0].value = now_ms() - start;
	if (job_canceled(job)) {
		log_info_n(took, "job stopped after %.1fs; not reporting it",
		    took[0].value / 1000.0);
	} else {
		if ((v = job_result_error(result)) != NULL) {
			char *cause = error_cause(v);

			took[1].key = "error_code";
			took[1].value = json_object_get_int(
			    json_object_object_get(v, "id"));
			log_warnx_n(took, "job failed after %.1fs: error %lld: "
			    "%s%s%s", took[0].value / 1000.0, took[1].value,
			    json_object_get_string(json_object_object_get(v,
			    "reason")), cause ? ": " : "", cause ? cause : "");
			free(cause);
		} else
			log_info_n(took, "job finished after %.1fs",
			    took[0].value / 1000.0);
		log_setfield(LOG_F_PHASE, "result");
		if (deliver(l, job, result) == -1)
			log_warnx("stopping before the result was delivered; "
			    "the composer will requeue the job");
		count_fault(l, kind, result);
	}
	watch_set_job(l->watch, NULL, NULL);
	if (kind != NULL && !kind->light &&
	    cache_after_job(l->conf, l->conf->worker.cache_directory) == -1) {
		log_warnx("unhealthy: the cache could not be cleaned after the "
		    "job; taking no more jobs");
		l->unhealthy = 1;
	}
	asg_job_end(l->asg);		/* after its result and cache work */
	if (kind != NULL && !kind->light)
		cache_metrics(l);
	json_object_put(result);
	job_free(job);
	log_setjob(NULL);
}

int
loop_run(const struct loop_opts *opts, struct config *conf)
{
	struct loop	 l;
	json_object	*doc;
	enum api_rc	 rc;
	char		 err[512];
	int		 status = 0, ok;

	memset(&l, 0, sizeof(l));
	l.opts = opts;
	l.conf = conf;
	/* The first SIGTERM arms it: see main.c. */
	runflags.drain_alarm = (int)conf->worker.drain_timeout;
	backoff_init(&l.backoff, 1000, conf->worker.backoff_max * 1000);
	if (conf->worker.metrics_listen != NULL && (l.metrics =
	    metrics_start(conf->worker.metrics_listen, err, sizeof(err))) ==
	    NULL) {
		log_errx("%s", err);
		config_free(conf);
		return 2;
	}
	if (make_apis(&l) == -1) {
		metrics_stop(l.metrics);
		config_free(conf);
		return 2;
	}
	/* Its thread rings wake when the instance leaves the group. */
	l.asg = asg_start(conf, &runflags.wake);
	if (cache_init(conf->worker.cache_directory) == -1)
		log_warnx("the cache directory %s cannot be set up; builds "
		    "will fail until it can", conf->worker.cache_directory);
	/* Build VMs a dead worker left (their overlays were in output/). */
	if (config_wants_kind(conf, "osbuild"))
		executor_reap(conf);
	l.types = job_types(conf, &l.types_said);
	/* A long poll holds the composer's answer for request_timeout. */
	metrics_contact_window(l.metrics,
	    (int)conf->worker.request_timeout + 120);
	cache_metrics(&l);
	ib_sd_notifyf("READY=1");
	if (do_register(&l) == -1)
		goto done;
	detect_partial(&l);

	while (!draining(&l) && !l.unhealthy && !l.leave) {
		if (runflags.reload)
			reload(&l);
		/* What this machine can run may have changed since. */
		make_room(l.conf);
		free(l.types);
		l.types = job_types(l.conf, &l.types_said);
		if (cannot_ever_build(&l))
			break;
		if (l.types[0] == NULL) {
			metrics_state(l.metrics, MSTATE_GATED);
			ib_sd_status("no job type can run here");
			nap(LOOP_RECHECK_MS);
			runflags.wake = 0;
			if (watch_forgotten(l.watch) && do_register(&l) == -1)
				break;
			continue;
		}
		runflags.wake = 0;
		/*
		 * A drain begun during the reload (asg_stop saw the instance
		 * leaving and completed its action, or a signal) takes no job.
		 */
		if (draining(&l))
			break;
		if (watch_forgotten(l.watch) && do_register(&l) == -1)
			break;
		if ((ok = check_after_outage(&l)) == -1)
			break;
		if (ok == 1)
			continue;
		ib_sd_status("waiting for a job");
		metrics_state(l.metrics, MSTATE_IDLE);
		rc = api_request_job(l.api, l.types, arch_of(l.conf),
		    l.worker_id, l.conf->worker.request_timeout,
		    &runflags.wake, &doc);
		switch (rc) {
		case API_OK:
			/* Even when a drain began meanwhile: the job is ours. */
			composer_answered(&l);
			backoff_reset(&l.backoff);
			run_job(&l, doc);
			break;
		case API_NOJOB:
			composer_answered(&l);
			backoff_reset(&l.backoff);
			if (l.conf->worker.poll_interval > 0)
				nap(l.conf->worker.poll_interval * 1000);
			break;
		case API_ABORTED:
			break;
		case API_FORGOTTEN:
			log_warnx("%s", api_error(l.api));
			composer_answered(&l);
			if (do_register(&l) == -1)
				goto done;
			break;
		default:
			log_warnx("%s", api_error(l.api));
			composer_failed(&l, "request_job");
			nap(backoff_next(&l.backoff));
			break;
		}
	}
done:
	if (runflags.drain)
		watch_drain_started(l.conf, NULL);
	ib_sd_notifyf("STOPPING=1");
	metrics_state(l.metrics, l.leave ? MSTATE_LEAVING : l.unhealthy ?
	    MSTATE_UNHEALTHY : MSTATE_DRAINING);
	if (l.unhealthy) {
		ib_sd_status("unhealthy: the cache cannot be cleaned");
		status = 3;
	}
	if (l.leave) {
		ib_sd_status("leaving the fleet: this machine cannot "
		    "work");
		status = 4;
	}
	log_info("%s", runflags.stop_now ? "stopped" : l.leave ?
	    "this machine cannot work: exiting with status 4 (not restarted)" :
	    l.unhealthy ?
	    "unhealthy, exiting so that the service manager restarts us" :
	    "drained, exiting");
	/* Completes the lifecycle action if leaving. */
	asg_stop(l.asg, &runflags.stop_now);
	if (l.leave)
		asg_mark_unhealthy(l.conf, &runflags.stop_now);
	free_apis(&l);
	metrics_stop(l.metrics);
	free(l.types);
	free(l.types_said);
	free(l.worker_id);
	config_free(l.conf);
	return status;
}
