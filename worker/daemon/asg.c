/*
 * Scale-in protection and the termination lifecycle hook. The thread here
 * owns its HTTP handle and every AWS call; the loop only flips "a build
 * runs" under the mutex, and asks asg_leaving() whether to drain: the
 * thread only rings the loop's bell when it learns of a termination.
 * Instance metadata is read with IMDSv2 session tokens only.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asg.h"
#include "aws.h"
#include "aws_imds.h"
#include "backoff.h"
#include "config.h"
#include "http.h"
#include "job.h"
#include "log.h"
#include "util.h"
#include "xml.h"

#define ASG_API_VERSION		"2011-01-01"
#define ASG_TICK_MS		200
#define ASG_IDENTIFY_RETRY_MS	30000
#define ASG_TOKEN_REFRESH_MS	(3600 * 1000)
#define ASG_NAME_MAX		255
#define ASG_STOP_TRIES		5

struct asg {
	pthread_t	 thread;
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cond;
	int		 quit;		/* mtx */
	int		 want_protect;	/* mtx: a build runs */
	int		 job_running;	/* mtx */
	atomic_int	 leaving;
	atomic_int	*bell;		/* the loop's, rung once leaving */

	/* Settings, copied from the configuration; group may be resolved. */
	int		 protect;
	char		*hook;		/* NULL: no lifecycle polling */
	char		*group;		/* NULL: from the instance's tags */
	char		*conf_group;	/* as configured; never changes */
	char		*endpoint;	/* NULL: the region's */
	int64_t		 poll_ms;
	int64_t		 hb_ms;

	/* The thread's own (and asg_stop's once it is joined). */
	struct http	*http;
	char		*token;		/* secret: IMDSv2 session */
	int64_t		 token_at;
	int		 identified;
	char		*instance_id;
	char		*region;
	char		*url;
	char		*sigv4;
	int		 protected_now;
	int		 imds_failing;
	int		 no_group;	/* the calls need no group name */
	char		 err[512];
};

static void
drop_token(struct asg *a)
{
	freezero_str(a->token);
	a->token = NULL;
}

static int
imds_token(struct asg *a)
{
	if (a->token != NULL && now_ms() - a->token_at < ASG_TOKEN_REFRESH_MS)
		return 0;
	drop_token(a);
	if ((a->token = aws_imds_token(a->http, a->err,
	    sizeof(a->err))) == NULL)
		return -1;
	a->token_at = now_ms();
	return 0;
}

/*
 * GETs /latest/meta-data/<path> into *out (caller frees). Returns 0 with
 * *out set, 1 when the path does not exist (404), -1 on failure.
 */
static int
imds_get(struct asg *a, const char *path, char **out)
{
	long	 status = 0;
	int	 tries;

	*out = NULL;
	for (tries = 0; tries < 2; tries++) {
		if (imds_token(a) == -1)
			return -1;
		if (aws_imds_get(a->http, a->token, path, out, &status, a->err,
		    sizeof(a->err)) == 0)
			return 0;
		if (status == 404)
			return 1;
		if (status != 401)
			return -1;
		/* The session expired: one more try with a new one. */
		drop_token(a);
	}
	snprintf(a->err, sizeof(a->err), "instance metadata refused two "
	    "fresh session tokens for %s", path);
	return -1;
}

/* The instance id, its region and its group's name. */
static int
identify(struct asg *a)
{
	char	*id = NULL, *region = NULL, *group = NULL;
	int	 rc, rv = -1;

	if ((rc = imds_get(a, "instance-id", &id)) != 0 ||
	    !text_is_printable(id, 64) || strncmp(id, "i-", 2) != 0) {
		if (rc != -1)
			snprintf(a->err, sizeof(a->err), "instance metadata "
			    "has no usable instance id");
		goto cleanup;
	}
	if ((rc = imds_get(a, "placement/region", &region)) != 0 ||
	    !aws_region_ok(region)) {
		if (rc != -1)
			snprintf(a->err, sizeof(a->err), "instance metadata "
			    "has no usable region");
		goto cleanup;
	}
	if (a->group == NULL && !a->no_group) {
		rc = imds_get(a, "tags/instance/aws:autoscaling:groupName",
		    &group);
		if (rc == 1) {
			snprintf(a->err, sizeof(a->err), "no [worker] "
			    "autoscaling_group and the instance's tags are not "
			    "in its metadata (instance metadata tags are "
			    "disabled, or it is in no group)");
			goto cleanup;
		}
		if (rc == -1)
			goto cleanup;
		if (!text_is_printable(group, ASG_NAME_MAX)) {
			snprintf(a->err, sizeof(a->err), "instance metadata "
			    "gave an odd group name");
			goto cleanup;
		}
		a->group = group;
		group = NULL;
	}
	a->instance_id = id;
	a->region = region;
	id = region = NULL;
	a->url = a->endpoint != NULL ? xstrdup(a->endpoint) :
	    xasprintf("https://autoscaling.%s.amazonaws.com/", a->region);
	a->sigv4 = xasprintf("aws:amz:%s:autoscaling", a->region);
	a->identified = 1;
	log_info("Auto Scaling: instance %s in group %s (%s)%s%s",
	    a->instance_id, a->group ? a->group : "(not needed)", a->region,
	    a->hook ? ", lifecycle hook " : "", a->hook ? a->hook : "");
	rv = 0;
cleanup:
	free(id);
	free(region);
	free(group);
	return rv;
}

/*
 * One Auto Scaling Query API call, signed with the instance role's
 * credentials. params: name, value pairs, NULL-terminated. Returns 0 when
 * AWS said yes, -1 with a->err otherwise.
 */
static int
asg_call(struct asg *a, const char *action, const char *const *params)
{
	struct aws_creds	 creds;
	struct http_resp	 resp;
	struct buf		 body;
	const char *const	*p;
	char			 msg[400], code[64], cerr[256];
	int			 rv = -1;

	memset(&creds, 0, sizeof(creds));
	http_resp_init(&resp);
	buf_init(&body);
	if (aws_creds_from_imds(a->http, &creds, cerr, sizeof(cerr)) == -1) {
		snprintf(a->err, sizeof(a->err), "%s: %s", action, cerr);
		goto cleanup;
	}
	buf_printf(&body, "Action=%s&Version=%s", action, ASG_API_VERSION);
	for (p = params; p[0] != NULL; p += 2)
		aws_query_add(&body, p[0], p[1]);
	if (aws_query_do(a->http, a->url, a->sigv4, &creds, &body, 30, NULL,
	    &resp) == -1)
		snprintf(a->err, sizeof(a->err), "%s: %s", action, resp.error);
	else if (resp.status == 200)
		rv = 0;
	else if (xml_error(resp.body.data, resp.body.len, msg,
	    sizeof(msg), code, sizeof(code)) == 0)
		snprintf(a->err, sizeof(a->err), "%s: HTTP %ld: %s", action,
		    resp.status, msg);
	else
		snprintf(a->err, sizeof(a->err), "%s: HTTP %ld", action,
		    resp.status);
cleanup:
	aws_creds_clear(&creds);
	buf_free(&body);
	http_resp_free(&resp);
	return rv;
}

static int
set_protection(struct asg *a, int on)
{
	const char	*params[] = {
		"AutoScalingGroupName", a->group,
		"InstanceIds.member.1", a->instance_id,
		"ProtectedFromScaleIn", on ? "true" : "false",
		NULL
	};

	if (asg_call(a, "SetInstanceProtection", params) == -1)
		return -1;
	a->protected_now = on;
	log_info("Auto Scaling: scale-in protection %s", on ? "set" :
	    "lifted");
	return 0;
}

static int
heartbeat(struct asg *a)
{
	const char	*params[] = {
		"AutoScalingGroupName", a->group,
		"LifecycleHookName", a->hook,
		"InstanceId", a->instance_id,
		NULL
	};

	if (asg_call(a, "RecordLifecycleActionHeartbeat", params) == -1)
		return -1;
	log_info("Auto Scaling: lifecycle heartbeat sent");
	return 0;
}

static int
complete(struct asg *a)
{
	const char	*params[] = {
		"AutoScalingGroupName", a->group,
		"LifecycleHookName", a->hook,
		"InstanceId", a->instance_id,
		"LifecycleActionResult", "CONTINUE",
		NULL
	};

	if (asg_call(a, "CompleteLifecycleAction", params) == -1)
		return -1;
	log_info("Auto Scaling: lifecycle action completed (CONTINUE)");
	return 0;
}

/* Terminated, or going back to a warm pool: the instance is leaving. */
static int
state_leaves(const char *s)
{
	return strcmp(s, "Terminated") == 0 || strncmp(s, "Warmed:", 7) == 0;
}

static void
poll_state(struct asg *a)
{
	char	*state = NULL;
	int	 rc;

	rc = imds_get(a, "autoscaling/target-lifecycle-state", &state);
	if (rc != 0) {
		if (!a->imds_failing)
			log_warnx("Auto Scaling: cannot read the target "
			    "lifecycle state: %s", rc == 1 ? "not in the "
			    "instance metadata" : a->err);
		a->imds_failing = 1;
		goto cleanup;
	}
	if (a->imds_failing)
		log_info("Auto Scaling: the target lifecycle state is "
		    "readable again");
	a->imds_failing = 0;
	if (!state_leaves(state))
		goto cleanup;
	log_info("Auto Scaling: the instance is leaving the group (target "
	    "lifecycle state %.64s): draining", state);
	atomic_store(&a->leaving, 1);
	/* The loop wakes and asks asg_leaving: it drains, as on SIGTERM. */
	if (a->bell != NULL)
		atomic_store(a->bell, 1);
cleanup:
	free(state);
}

static void *
asg_main(void *arg)
{
	struct asg	*a = arg;
	struct backoff	 pb, hbb;
	struct timespec	 ts;
	int64_t		 now, next_ident = 0, next_poll = 0, next_prot = 0;
	int64_t		 next_hb = 0;
	int		 want, running, leaving;

	backoff_init(&pb, 1000, 60000);
	backoff_init(&hbb, 1000, 30000);
	pthread_mutex_lock(&a->mtx);
	while (!a->quit) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += ASG_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&a->cond, &a->mtx, &ts);
		if (a->quit)
			break;
		want = a->want_protect;
		running = a->job_running;
		pthread_mutex_unlock(&a->mtx);

		now = now_ms();
		leaving = atomic_load(&a->leaving);
		if (!a->identified && now >= next_ident) {
			if (identify(a) == -1) {
				log_warnx("Auto Scaling: %s; retrying in %ds",
				    a->err, ASG_IDENTIFY_RETRY_MS / 1000);
				next_ident = now + ASG_IDENTIFY_RETRY_MS;
			}
		}
		if (a->identified && a->hook != NULL && !leaving &&
		    now >= next_poll) {
			poll_state(a);
			next_poll = now + a->poll_ms;
			if ((leaving = atomic_load(&a->leaving)))
				next_hb = now;
		}
		/* A leaving instance keeps its protection: it goes anyway. */
		if (a->identified && a->protect && !leaving &&
		    want != a->protected_now && now >= next_prot) {
			if (set_protection(a, want) == 0)
				backoff_reset(&pb);
			else {
				next_prot = now + backoff_next(&pb);
				log_warnx("Auto Scaling: %s", a->err);
			}
		}
		if (leaving && running && now >= next_hb) {
			if (heartbeat(a) == 0) {
				backoff_reset(&hbb);
				next_hb = now + a->hb_ms;
			} else {
				log_warnx("Auto Scaling: %s", a->err);
				next_hb = now + backoff_next(&hbb);
			}
		}
		pthread_mutex_lock(&a->mtx);
	}
	pthread_mutex_unlock(&a->mtx);
	return NULL;
}

struct asg *
asg_start(const struct config *conf, atomic_int *bell)
{
	struct asg		*a;
	struct http_opts	 ho;
	sigset_t		 all, old;

	if (!conf->worker.scale_in_protection &&
	    conf->worker.lifecycle_hook == NULL)
		return NULL;
	a = xcalloc(1, sizeof(*a));
	pthread_mutex_init(&a->mtx, NULL);
	pthread_cond_init(&a->cond, NULL);
	atomic_init(&a->leaving, 0);
	a->bell = bell;
	a->protect = conf->worker.scale_in_protection;
	if (conf->worker.lifecycle_hook != NULL)
		a->hook = xstrdup(conf->worker.lifecycle_hook);
	if (conf->worker.autoscaling_group != NULL) {
		a->group = xstrdup(conf->worker.autoscaling_group);
		a->conf_group = xstrdup(conf->worker.autoscaling_group);
	}
	if (conf->worker.autoscaling_endpoint != NULL)
		a->endpoint = xstrdup(conf->worker.autoscaling_endpoint);
	a->poll_ms = conf->worker.lifecycle_poll_interval * 1000;
	a->hb_ms = conf->worker.lifecycle_heartbeat_interval * 1000;
	memset(&ho, 0, sizeof(ho));
	ho.connect_timeout = 10;
	ho.transfer_timeout = 30;
	ho.max_body = 1024 * 1024;
	a->http = http_new(&ho);
	/* Signals are for the main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&a->thread, NULL, asg_main, a) != 0)
		fatalx("cannot start the Auto Scaling thread");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return a;
}

void
asg_job_start(struct asg *a, const struct job_kind *kind)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mtx);
	a->job_running = 1;
	a->want_protect = kind != NULL && !kind->light;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->mtx);
}

void
asg_job_end(struct asg *a)
{
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->mtx);
	a->job_running = 0;
	a->want_protect = 0;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->mtx);
}

static int
str_differ(const char *x, const char *y)
{
	if (x == NULL || y == NULL)
		return x != y;
	return strcmp(x, y) != 0;
}

static void
note(char *what, size_t len, const char *key)
{
	size_t	 n = strlen(what);

	snprintf(what + n, len - n, "%s%s", n ? ", " : "", key);
}

/*
 * Only the configuration side of a is read: those fields are written once
 * by asg_start, before its thread exists, so no lock is needed.
 */
int
asg_settings_differ(const struct asg *a, const struct config *conf,
    char *what, size_t len)
{
	const char	*hook = conf->worker.lifecycle_hook;
	int		 protect = conf->worker.scale_in_protection;

	what[0] = '\0';
	if (a == NULL) {
		/* Off; the other keys only matter once one of these is on. */
		if (protect)
			note(what, len, "scale_in_protection on");
		if (hook != NULL)
			note(what, len, "lifecycle_hook set");
		return what[0] != '\0';
	}
	if (a->protect != protect)
		note(what, len, protect ? "scale_in_protection on" :
		    "scale_in_protection off");
	if (str_differ(a->hook, hook))
		note(what, len, hook == NULL ? "lifecycle_hook unset" :
		    a->hook == NULL ? "lifecycle_hook set" :
		    "lifecycle_hook changed");
	if (str_differ(a->conf_group, conf->worker.autoscaling_group))
		note(what, len, "autoscaling_group");
	if (str_differ(a->endpoint, conf->worker.autoscaling_endpoint))
		note(what, len, "autoscaling_endpoint");
	if (a->poll_ms != conf->worker.lifecycle_poll_interval * 1000)
		note(what, len, "lifecycle_poll_interval");
	if (a->hb_ms != conf->worker.lifecycle_heartbeat_interval * 1000)
		note(what, len, "lifecycle_heartbeat_interval");
	return what[0] != '\0';
}

int
asg_leaving(struct asg *a)
{
	return a != NULL && atomic_load(&a->leaving);
}

/* A few quick tries at the end; one when the worker must stop now. */
static void
last_call(struct asg *a, int (*fn)(struct asg *), const char *what,
    const atomic_int *hurry)
{
	struct backoff	 b;
	int		 i, tries;

	tries = hurry != NULL && atomic_load(hurry) ? 1 : ASG_STOP_TRIES;

	backoff_init(&b, 500, 4000);
	for (i = 0; i < tries; i++) {
		if (fn(a) == 0)
			return;
		log_warnx("Auto Scaling: %s", a->err);
		if (i + 1 < tries)
			sleep_abortable(backoff_next(&b), NULL);
	}
	log_warnx("Auto Scaling: giving up on %s", what);
}

static int
unprotect(struct asg *a)
{
	return set_protection(a, 0);
}

int
asg_stop(struct asg *a, const atomic_int *hurry)
{
	int	 leaving;

	if (a == NULL)
		return 0;
	pthread_mutex_lock(&a->mtx);
	a->quit = 1;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->mtx);
	pthread_join(a->thread, NULL);

	if ((leaving = atomic_load(&a->leaving)) && a->identified)
		last_call(a, complete, "completing the lifecycle action (the "
		    "hook's timeout will end the wait)", hurry);
	else if (a->protected_now && a->identified)
		last_call(a, unprotect, "lifting the scale-in protection",
		    hurry);

	pthread_mutex_destroy(&a->mtx);
	pthread_cond_destroy(&a->cond);
	http_free(a->http);
	drop_token(a);
	free(a->hook);
	free(a->group);
	free(a->conf_group);
	free(a->endpoint);
	free(a->instance_id);
	free(a->region);
	free(a->url);
	free(a->sigv4);
	free(a);
	return leaving;
}

static int
set_unhealthy(struct asg *a)
{
	const char	*params[] = {
		"InstanceId", NULL,
		"HealthStatus", "Unhealthy",
		"ShouldRespectGracePeriod", "false",
		NULL
	};

	if (!a->identified && identify(a) == -1)
		return -1;
	params[1] = a->instance_id;	/* known once identified */
	if (asg_call(a, "SetInstanceHealth", params) == -1)
		return -1;
	log_info("Auto Scaling: instance %s marked Unhealthy; the group "
	    "replaces it", a->instance_id);
	return 0;
}

int
asg_mark_unhealthy(const struct config *conf, const atomic_int *hurry)
{
	struct asg		 a;
	struct http_opts	 ho;
	struct backoff		 b;
	int			 i, rv = -1;

	if (conf->worker.autoscaling_group == NULL &&
	    !conf->worker.scale_in_protection &&
	    conf->worker.lifecycle_hook == NULL) {
		log_info("no Auto Scaling group configured: the instance is "
		    "not marked Unhealthy");
		return -1;
	}
	memset(&a, 0, sizeof(a));
	a.no_group = 1;		/* SetInstanceHealth names the instance only */
	if (conf->worker.autoscaling_group != NULL)
		a.group = xstrdup(conf->worker.autoscaling_group);
	if (conf->worker.autoscaling_endpoint != NULL)
		a.endpoint = xstrdup(conf->worker.autoscaling_endpoint);
	memset(&ho, 0, sizeof(ho));
	ho.connect_timeout = 10;
	ho.transfer_timeout = 30;
	ho.max_body = 1024 * 1024;
	a.http = http_new(&ho);
	backoff_init(&b, 1000, 8000);
	for (i = 0; i < ASG_STOP_TRIES && rv == -1; i++) {
		if ((rv = set_unhealthy(&a)) == 0)
			break;
		log_warnx("Auto Scaling: %s", a.err);
		if (i + 1 < ASG_STOP_TRIES &&
		    (hurry == NULL || !atomic_load(hurry)))
			sleep_abortable(backoff_next(&b), NULL);
		else
			break;
	}
	if (rv == -1)
		log_warnx("Auto Scaling: giving up on SetInstanceHealth");
	http_free(a.http);
	drop_token(&a);
	free(a.group);
	free(a.endpoint);
	free(a.instance_id);
	free(a.region);
	free(a.url);
	free(a.sigv4);
	return rv;
}
