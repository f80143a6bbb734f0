/*
 * The "aws.ec2" executor: one instance per build from the executor AMI
 * (the worker image: its user data {"role": "executor"} ... see below) in
 * the configured subnet, with the security group that admits only the
 * workers on the agent's port, the reference's iam_profile and key_name,
 * and tags that name this worker (ib-executor = its prefix) so that the
 * reaper finds what a dead worker left. The worker waits for the instance
 * to run and its agent to answer, drives the build with the agent client,
 * and terminates the instance on every path. A terminated or vanished
 * instance stops the wait at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "ec2.h"
#include "executor/agent_client.h"
#include "executor/executor.h"
#include "http.h"
#include "log.h"
#include "util.h"
#include "xml.h"

#define EC2X_STEP_MS		120000
#define EC2X_SILENCE_MS		120000
#define EC2X_POLL_MS		3000
#define EC2X_REAP_MAX		50
#define EC2X_TAG		"ib-executor"

struct inst {
	const struct config	*conf;
	struct ec2		*ec2;
	char			 id[80];
	char			 ip[64];
	int64_t			 last_check;
	int			 gone;
};

static struct ec2 *
client(const struct config *conf, const atomic_int *abort, char *why,
    size_t len)
{
	struct aws_creds	 creds;
	struct http_opts	 ho;
	struct http		*h;
	struct ec2_cfg		 ec;
	struct ec2		*e = NULL;

	memset(&ho, 0, sizeof(ho));
	memset(&creds, 0, sizeof(creds));
	h = http_new(&ho);
	if (aws_creds_resolve(h, NULL, NULL, NULL, conf->aws.credentials,
	    &creds, why, len) == 0) {
		memset(&ec, 0, sizeof(ec));
		ec.endpoint = conf->aws.endpoint;
		ec.region = conf->osbuild_executor.region;
		ec.creds = &creds;
		ec.backoff_cap = conf->worker.backoff_max * 1000;
		ec.abort = abort;
		e = ec2_new(&ec, why, len);
	}
	aws_creds_clear(&creds);
	http_free(h);
	return e;
}

/*
 * The instance's state code (16 running, 0 pending, 32 shutting-down, 48
 * terminated, 64 stopping, 80 stopped) and private address; -1 when EC2
 * does not know it (any more).
 */
static int
describe(struct inst *in)
{
	const char *const p[] = { "InstanceId.1", in->id, NULL };
	char	*x, *code, *ip;
	size_t	 len = 0;
	int	 st = -1;

	if ((x = ec2_call(in->ec2, "DescribeInstances", p, &len)) == NULL)
		return -1;
	if ((code = xml_find(x, len, "code")) != NULL)
		st = atoi(code);
	if ((ip = xml_find(x, len, "privateIpAddress")) != NULL &&
	    strlen(ip) < sizeof(in->ip) && strspn(ip, "0123456789.:abcdef") ==
	    strlen(ip))
		snprintf(in->ip, sizeof(in->ip), "%s", ip);
	free(code);
	free(ip);
	free(x);
	return st;
}

/* For the agent client's wait: 1 once the instance is going or gone. */
static int
instance_gone(void *arg)
{
	struct inst	*in = arg;
	int		 st;

	if (in->gone)
		return 1;
	if (now_ms() - in->last_check < EC2X_POLL_MS)
		return 0;
	in->last_check = now_ms();
	st = describe(in);
	if (st == -1 || st >= 32) {
		log_warnx("executor aws.ec2: instance %s is %s", in->id,
		    st == -1 ? "unknown to EC2" : "going away");
		in->gone = 1;
	}
	return in->gone;
}

static int
terminate(struct ec2 *e, const char *id)
{
	const char *const p[] = { "InstanceId.1", id, NULL };
	char	*x;
	size_t	 len = 0;

	if ((x = ec2_call(e, "TerminateInstances", p, &len)) == NULL)
		return -1;
	free(x);
	return 0;
}

static int
launch(struct inst *in, const char *build_id, char *why, size_t len)
{
	const struct config	*c = in->conf;
	char			 pre[32], name[128], *x, *id;
	const char		*p[40];
	size_t			 n = 0, xl = 0;

	executor_mark(c, pre, sizeof(pre));
	snprintf(name, sizeof(name), "%s-%.60s", pre, build_id);
	p[n++] = "ImageId";		p[n++] = c->osbuild_executor.ami;
	p[n++] = "InstanceType";	p[n++] = c->osbuild_executor.instance_type;
	p[n++] = "MinCount";		p[n++] = "1";
	p[n++] = "MaxCount";		p[n++] = "1";
	p[n++] = "SubnetId";		p[n++] = c->osbuild_executor.subnet_id;
	p[n++] = "SecurityGroupId.1";	p[n++] =
	    c->osbuild_executor.security_group;
	/* The agent's unit runs in this role only (ib-agent(8)). */
	p[n++] = "UserData";		p[n++] =
	    "eyJyb2xlIjogImV4ZWN1dG9yIn0=";	/* {"role": "executor"} */
	p[n++] = "InstanceInitiatedShutdownBehavior"; p[n++] = "terminate";
	p[n++] = "TagSpecification.1.ResourceType"; p[n++] = "instance";
	p[n++] = "TagSpecification.1.Tag.1.Key";	p[n++] = EC2X_TAG;
	p[n++] = "TagSpecification.1.Tag.1.Value"; p[n++] = pre;
	p[n++] = "TagSpecification.1.Tag.2.Key";	p[n++] = "Name";
	p[n++] = "TagSpecification.1.Tag.2.Value"; p[n++] = name;
	if (c->osbuild_executor.iam_profile != NULL) {
		p[n++] = "IamInstanceProfile.Name";
		p[n++] = c->osbuild_executor.iam_profile;
	}
	if (c->osbuild_executor.key_name != NULL) {
		p[n++] = "KeyName";
		p[n++] = c->osbuild_executor.key_name;
	}
	p[n] = NULL;
	if ((x = ec2_call(in->ec2, "RunInstances", p, &xl)) == NULL) {
		snprintf(why, len, "%s", ec2_error(in->ec2));
		return -1;
	}
	id = xml_find(x, xl, "instanceId");
	free(x);
	if (!ec2_id_ok("i", id)) {
		snprintf(why, len, "RunInstances: no instance id in the answer");
		free(id);
		return -1;
	}
	snprintf(in->id, sizeof(in->id), "%s", id);
	free(id);
	return 0;
}

/* Until the instance runs with an address, within the boot timeout. */
static int
wait_running(struct inst *in, const atomic_int *canceled, int64_t deadline,
    char *why, size_t len)
{
	int	 st;

	for (;;) {
		st = describe(in);
		if (st == 16 && in->ip[0] != '\0')
			return 0;
		if (st >= 32) {
			snprintf(why, len, "instance %s ended before it ran "
			    "(state %d)", in->id, st);
			return -1;
		}
		if (now_ms() > deadline) {
			snprintf(why, len, "instance %s not running in time",
			    in->id);
			return -1;
		}
		if (aws_sleep(EC2X_POLL_MS, canceled) == -1) {
			snprintf(why, len, "canceled");
			return -1;
		}
	}
}

static int
ec2_build(const struct config *conf, const struct executor_build *b,
    struct executor_result *r)
{
	struct inst		 in;
	struct agent_limits	 lim;
	char			 why[512], port[16];
	int64_t			 t0 = now_ms(), deadline;
	int			 rc = -1;

	memset(&in, 0, sizeof(in));
	memset(&r->res, 0, sizeof(r->res));
	buf_init(&r->res.out);
	buf_init(&r->res.err);
	buf_add(&r->res.out, "", 0);
	buf_add(&r->res.err, "", 0);
	in.conf = conf;
	deadline = t0 + conf->osbuild_executor.boot_timeout * 1000;
	if (!executor_ec2_configured(conf, why, sizeof(why)) ||
	    !name_is_safe(b->build_id)) {
		snprintf(r->res.error, sizeof(r->res.error), "executor "
		    "aws.ec2: %.200s", why);
		return -1;
	}
	if ((in.ec2 = client(conf, b->canceled, why, sizeof(why))) == NULL) {
		snprintf(r->res.error, sizeof(r->res.error), "executor "
		    "aws.ec2: %.200s", why);
		return -1;
	}
	if (launch(&in, b->build_id, why, sizeof(why)) == -1) {
		snprintf(r->res.error, sizeof(r->res.error), "executor "
		    "aws.ec2: RunInstances: %.200s", why);
		goto cleanup;
	}
	log_info("executor aws.ec2: instance %s launched (%s, %s in %s)",
	    in.id, conf->osbuild_executor.ami,
	    conf->osbuild_executor.instance_type,
	    conf->osbuild_executor.subnet_id);
	if (wait_running(&in, b->canceled, deadline, why, sizeof(why)) ==
	    -1) {
		if (atomic_load(b->canceled)) {
			r->res.canceled = 1;
			rc = 0;
		} else
			snprintf(r->res.error, sizeof(r->res.error),
			    "executor aws.ec2: %.200s", why);
		goto cleanup;
	}
	log_info("executor aws.ec2: instance %s running at %s after %lld s",
	    in.id, in.ip, (long long)((now_ms() - t0) / 1000));
	memset(&lim, 0, sizeof(lim));
	lim.reach_ms = deadline - now_ms() > 1000 ? deadline - now_ms() : 1000;
	lim.step_ms = EC2X_STEP_MS;
	lim.silence_ms = EC2X_SILENCE_MS;
	lim.gone = instance_gone;
	lim.gone_arg = &in;
	snprintf(port, sizeof(port), "%lld",
	    (long long)conf->osbuild_executor.agent_port);
	rc = agent_client_build(in.ip, port, &lim, b, r);
	if (rc == -1 && atomic_load(b->canceled)) {
		r->res.canceled = 1;
		rc = 0;
	}
cleanup:
	if (in.id[0] != '\0') {
		/* Also after a cancel: the flag must not stop this call. */
		ec2_set_abort(in.ec2, NULL);
		if (terminate(in.ec2, in.id) == -1)
			log_warnx("executor aws.ec2: instance %s not "
			    "terminated (the reaper will): %s", in.id,
			    ec2_error(in.ec2));
		else
			log_info("executor aws.ec2: instance %s terminated "
			    "after %lld s", in.id,
			    (long long)((now_ms() - t0) / 1000));
	}
	ec2_free(in.ec2);
	return rc;
}

static int
ec2_reap(const struct config *conf)
{
	struct ec2	*e;
	char		 pre[32], why[256], *x, *id;
	const char	*p[] = { "Filter.1.Name", "tag:" EC2X_TAG,
	    "Filter.1.Value.1", pre, "Filter.2.Name", "instance-state-name",
	    "Filter.2.Value.1", "pending", "Filter.2.Value.2", "running",
	    "Filter.2.Value.3", "stopping", "Filter.2.Value.4", "stopped",
	    NULL };
	size_t		 len;
	int		 i, rc = 0;

	if (!executor_ec2_configured(conf, why, sizeof(why)))
		return 0;
	executor_mark(conf, pre, sizeof(pre));
	if ((e = client(conf, NULL, why, sizeof(why))) == NULL) {
		log_warnx("executor aws.ec2: no EC2 client for the reaper: %s",
		    why);
		return -1;
	}
	for (i = 0; i < EC2X_REAP_MAX; i++) {
		len = 0;
		if ((x = ec2_call(e, "DescribeInstances", p, &len)) == NULL) {
			log_warnx("executor aws.ec2: %s", ec2_error(e));
			rc = -1;
			break;
		}
		id = xml_find(x, len, "instanceId");
		free(x);
		if (id == NULL)
			break;
		if (!ec2_id_ok("i", id) || terminate(e, id) == -1) {
			log_warnx("executor aws.ec2: leftover instance not "
			    "terminated: %s", ec2_error(e));
			free(id);
			rc = -1;
			break;
		}
		log_info("executor aws.ec2: leftover instance %s of a dead "
		    "worker terminated", id);
		free(id);
	}
	ec2_free(e);
	return rc;
}

int
executor_ec2_configured(const struct config *conf, char *why, size_t len)
{
	const struct config	*c = conf;

	if (!ec2_id_ok("ami", c->osbuild_executor.ami) ||
	    !ec2_id_ok("subnet", c->osbuild_executor.subnet_id) ||
	    !ec2_id_ok("sg", c->osbuild_executor.security_group) ||
	    !aws_region_ok(c->osbuild_executor.region)) {
		snprintf(why, len, "aws.ec2 needs ami, subnet_id, "
		    "security_group and region in [osbuild_executor]");
		return 0;
	}
	return 1;
}

const struct executor executor_ec2 = {
	"aws.ec2", ec2_build, ec2_reap, executor_ec2_configured
};
