/*
 * The "aws.ec2" executor: not built yet. The configuration names it (the
 * reference's type), so the worker says plainly that it cannot build with
 * it rather than building on the host.
 */
#include <stdio.h>

#include "executor/executor.h"

static int
ec2_build(const struct config *conf, const struct executor_build *b,
    struct executor_result *r)
{
	snprintf(r->res.error, sizeof(r->res.error), "the aws.ec2 executor "
	    "is not implemented by this worker yet");
	return -1;
}

static int
ec2_available(const struct config *conf, char *why, size_t len)
{
	snprintf(why, len, "the aws.ec2 executor is not implemented by this "
	    "worker yet (host and qemu.kvm are)");
	return 0;
}

const struct executor executor_ec2 = {
	"aws.ec2", ec2_build, NULL, ec2_available
};
