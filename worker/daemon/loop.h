/*
 * The worker's main loop: register, long-poll for jobs, run each one with
 * the watcher beside it, deliver its result, and drain or stop on signals.
 */
#ifndef IB_LOOP_H
#define IB_LOOP_H

#include "config.h"

struct loop_opts {
	const char	*address;	/* host:port, URL, or socket path */
	int		 unix_socket;
	const char	*config_path;
	int		 debug;
};

/*
 * Runs until drained or stopped. Takes conf (and replaces it on SIGHUP).
 * Returns the process exit status.
 */
int	 loop_run(const struct loop_opts *, struct config *conf);

#endif
