/*
 * The "host" executor: the builder runs on this machine, in its own
 * process group, with the worker's store, as the reference worker runs
 * osbuild. Nothing to start, destroy or reap.
 */
#include <stdlib.h>
#include <string.h>

#include "executor/executor.h"
#include "util.h"

static void
add(char ***v, size_t *n, char *s)
{
	*v = xrealloc(*v, (*n + 2) * sizeof(**v));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

static int
host_build(const struct config *conf, const struct executor_build *b,
    struct executor_result *r)
{
	struct exec_opts	 o;
	const char *const	*e;
	char			**av = NULL;
	size_t			 n = 0, i;
	int			 rc;

	add(&av, &n, xstrdup(b->builder));
	add(&av, &n, xstrdup("--store"));
	add(&av, &n, xstrdup(b->store));
	add(&av, &n, xstrdup("--output-directory"));
	add(&av, &n, xstrdup(b->outdir));
	add(&av, &n, xasprintf("--cache-max-size=%lld",
	    (long long)b->cache_max));
	add(&av, &n, xstrdup("-"));
	for (e = b->exports; *e != NULL; e++) {
		add(&av, &n, xstrdup("--export"));
		add(&av, &n, xstrdup(*e));
	}
	add(&av, &n, xstrdup("--monitor=JSONSeqMonitor"));
	add(&av, &n, xstrdup("--monitor-fd=3"));
	add(&av, &n, xstrdup("--json"));

	memset(&o, 0, sizeof(o));
	o.argv = (const char *const *)av;
	o.env_add = b->env_add;
	o.stdin_data = b->manifest;
	o.stdin_len = b->manifest_len;
	o.extra_fd = 3;
	o.on_extra = b->on_monitor;
	o.on_tick = b->on_tick;
	o.arg = b->arg;
	o.grace_ms = b->grace_ms;
	o.canceled = b->canceled;
	o.pgid = b->pgid;
	rc = exec_run(&o, &r->res);
	for (i = 0; i < n; i++)
		free(av[i]);
	free(av);
	return rc;
}

static int
host_available(const struct config *conf, char *why, size_t len)
{
	return 1;
}

const struct executor executor_host = {
	"host", host_build, NULL, host_available
};
