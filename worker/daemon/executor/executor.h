/*
 * The osbuild executor: where a build runs. "host" runs the builder on
 * this machine as the reference worker does; "qemu.kvm" and "aws.ec2" run
 * it in a throwaway VM that holds no credential, through ib-agent, and
 * destroy the VM whatever happens. jobs/osbuild.c sees only this contract.
 */
#ifndef IB_EXECUTOR_H
#define IB_EXECUTOR_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "exec.h"

/* What one build needs; everything borrowed from the caller. */
struct executor_build {
	const char		*build_id;	/* safe name: names the VM */
	const char		*builder;	/* host: the osbuild program */
	const char		*manifest;	/* its JSON text */
	size_t			 manifest_len;
	const char *const	*exports;	/* safe names, NULL-terminated */
	/* Checksums of the manifest's org.osbuild.curl items (safe names,
	 * NULL-terminated): the VM executors send those in the store. */
	const char *const	*sources;
	const char		*store;		/* the worker's osbuild store */
	const char		*outdir;	/* exports land in EXPORT/... */
	const char *const	*env_add;	/* host only: "K=V" */
	int64_t			 cache_max;
	long			 grace_ms;	/* host: SIGTERM to SIGKILL */
	/* The monitor stream as it arrives, and a tick about every 100 ms. */
	void			(*on_monitor)(const char *, size_t, void *);
	void			(*on_tick)(void *);
	void			*arg;
	atomic_int		*canceled;	/* the job's cancel flag */
	atomic_int		*pgid;		/* host: the builder's group */
};

struct executor_result {
	/* The builder's status, stdout and stderr tail, as exec_run gives
	 * them; res.error says why it could not run at all. */
	struct exec_result	 res;
	char			*version;	/* VMs: the builder's version */
};

struct executor {
	const char	*name;
	/* Runs one build. 0 once the builder ran (whatever its status), -1
	 * when it could not (r->res.error says why). The environment is
	 * gone when it returns. */
	int		(*build)(const struct config *,
			    const struct executor_build *,
			    struct executor_result *);
	/* At start-up: removes the environments a dead worker left. */
	int		(*reap)(const struct config *);
	/* 1 when builds can run; 0 and why when not. */
	int		(*available)(const struct config *, char *, size_t);
};

extern const struct executor executor_host;
extern const struct executor executor_qemu;
extern const struct executor executor_ec2;

/* aws.ec2's check of its keys (its available()). */
int	 executor_ec2_configured(const struct config *, char *, size_t);

/* The executor [osbuild_executor] type names, NULL for an unknown one. */
const struct executor	*executor_find(const char *type);
/* The configured one (host when unset or unknown). */
const struct executor	*executor_of(const struct config *);
/* Calls the configured executor's reaper, if it has one (logged). */
void			 executor_reap(const struct config *);
void			 executor_result_free(struct executor_result *);
/*
 * This worker's mark on its build VMs, "ibx-" and a hash of its cache
 * directory, into p: workers sharing a libvirt or an account reap only
 * their own.
 */
void			 executor_mark(const struct config *, char *p,
			    size_t len);

#endif
