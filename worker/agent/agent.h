/*
 * ib-agent: the builder agent of the worker's VM executors. It serves one
 * build on one TCP port: takes the manifest and the sources the worker
 * sends, runs the builder with the monitor stream going back live, sends
 * the exports, and is done. It holds no credentials and reads no worker
 * configuration; a second build is refused.
 */
#ifndef IB_AGENT_H
#define IB_AGENT_H

#include <stdatomic.h>

/* Frame types (frame.h). Worker to agent: */
#define AG_BEGIN	'B'	/* JSON {"exports": [...], "cache_max_size": N} */
#define AG_MANIFEST	'M'	/* a piece of the manifest */
#define AG_SOURCE	'S'	/* JSON {"name": CHECKSUM, "size": N}, then DATA */
#define AG_DATA		'D'	/* a piece of the current file */
#define AG_RUN		'R'	/* start the builder */
#define AG_CANCEL	'C'	/* stop the builder */
/* Agent to worker: */
#define AG_HELLO	'V'	/* JSON {"agent": 1, "builder_version": "..."} */
#define AG_MONITOR	'O'	/* bytes of the builder's monitor fd */
#define AG_HEARTBEAT	'H'	/* every AG_HEARTBEAT_MS while it builds */
#define AG_STDOUT	'P'	/* a piece of the builder's stdout */
#define AG_STDERR	'Q'	/* a piece of the tail of its stderr */
#define AG_STATUS	'X'	/* JSON {"exited", "code", "signaled", "signo",
				   "timed_out", "canceled"} */
#define AG_FILE		'F'	/* JSON {"path": "EXPORT/...", "size": N},
				   then DATA */
#define AG_END		'Z'	/* every export sent */
#define AG_ERROR	'E'	/* text: why the agent gives up or refuses */

#define AG_HEARTBEAT_MS		5000
#define AG_MANIFEST_MAX		(64 << 20)
#define AG_STEP_MS		120000	/* one frame of the set-up */

struct agent_opts {
	const char	*builder;	/* the osbuild-compatible program */
	const char	*workdir;	/* store and output live here */
	const char	*version;	/* its --version, or "" */
	long		 build_timeout_ms;	/* 0: none */
};

/*
 * Serves the connection fd; refuses connections on lfd while it builds.
 * Returns 1 when the connection left before claiming a build (the agent
 * waits for the next one), 0 after a build was served (whatever its
 * result), -1 when the build was claimed then lost.
 */
int	 agent_session(const struct agent_opts *, int fd, int lfd,
	    const atomic_int *quit);
/* Answers a connection with AG_ERROR why and closes it. */
void	 agent_refuse(int fd, const char *why);

#endif
