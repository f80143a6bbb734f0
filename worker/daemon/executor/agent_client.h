/*
 * The worker's side of ib-agent's protocol (agent.h of ib-agent says the
 * frames): connects to an agent, sends the build, relays the monitor
 * stream, takes the result and the exports. The VM executors call it once
 * their VM answers.
 */
#ifndef IB_AGENT_CLIENT_H
#define IB_AGENT_CLIENT_H

#include <stdatomic.h>

#include "executor/executor.h"

/* The agent's frame types; ib-agent's agent.h is their other copy. */
#define AGC_BEGIN	'B'
#define AGC_MANIFEST	'M'
#define AGC_SOURCE	'S'
#define AGC_DATA	'D'
#define AGC_RUN		'R'
#define AGC_CANCEL	'C'
#define AGC_HELLO	'V'
#define AGC_MONITOR	'O'
#define AGC_HEARTBEAT	'H'
#define AGC_STDOUT	'P'
#define AGC_STDERR	'Q'
#define AGC_STATUS	'X'
#define AGC_FILE	'F'
#define AGC_END		'Z'
#define AGC_ERROR	'E'

#define AGC_PORT	"8701"

struct agent_limits {
	long	 reach_ms;	/* until the agent answers (the VM boots) */
	long	 step_ms;	/* one frame of the set-up or the exports */
	long	 silence_ms;	/* without a heartbeat while it builds */
	/* Polled while waiting for the agent: 1 when the environment is
	 * gone (the instance terminated), so that we stop early. */
	int	(*gone)(void *);
	void	*gone_arg;
};

/*
 * Runs b on the agent at host:port. Returns 0 once the builder ran there
 * (r->res holds its status, stdout, stderr; exports are under
 * b->outdir), -1 with r->res.error.
 */
int	 agent_client_build(const char *host, const char *port,
	    const struct agent_limits *, const struct executor_build *b,
	    struct executor_result *r);

#endif
