/*
 * Runs a helper program (osbuild, the depsolver, gpgv, a stage's tool ...),
 * by default in its own process group: feeds it stdin, captures stdout and
 * the tail of stderr with bounds, hands the bytes of an optional extra pipe
 * to a callback as they arrive, and stops the whole group on timeout, abort
 * or cancellation. Knows nothing of jobs: callers pass the flags and the
 * pgid slot to use.
 */
#ifndef IB_EXEC_H
#define IB_EXEC_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>

#include "util.h"

struct exec_opts {
	const char *const *argv;	/* argv[0] searched in PATH */
	const char *const *env_add;	/* "K=V" added to ours, or NULL */
	const void	*stdin_data;	/* written then closed; NULL: empty */
	size_t		 stdin_len;
	size_t		 stdout_max;	/* 0: 64 MiB; more is dropped */
	size_t		 stderr_max;	/* tail kept; 0: 64 KiB */
	int		 extra_fd;	/* child fd of a pipe to us (3), 0: none */
	/* Called with the extra pipe's bytes as they arrive. */
	void		(*on_extra)(const char *, size_t, void *);
	/* Called about every 100 ms while the program runs, or NULL: for
	 * work due on time rather than on output (a held progress update). */
	void		(*on_tick)(void *);
	void		*arg;
	long		 timeout_ms;	/* 0: none */
	long		 grace_ms;	/* SIGTERM to SIGKILL, 0: 10 s */
	atomic_int	*canceled;	/* when non-zero: stop the group */
	const atomic_int *abort;	/* likewise */
	atomic_int	*pgid;		/* the group while it runs, 0 after */
	/* stdout to this file (created 0644, truncated) instead of res->out;
	 * NULL: captured. */
	const char	*stdout_path;
	int		 merge_output;	/* stderr goes where stdout goes */
	int		 stdout_tail;	/* keep stdout's end, not its start */
	/*
	 * The child stays in our process group, so that whoever stops ours
	 * stops it too; timeout and cancellation then signal the child alone
	 * and pgid is not set. 0: a group of its own.
	 */
	int		 same_group;
	/*
	 * Once the child was sent SIGKILL, give up waiting for it after this
	 * long and return with res->abandoned set, leaving it unreaped: a
	 * probe stuck in the kernel (KVM_RUN) must not hang its caller. 0:
	 * wait until it is reaped.
	 */
	long		 reap_limit_ms;
};

struct exec_result {
	int		 exited;	/* exit() was called: code is valid */
	int		 code;
	int		 signaled;	/* killed by signo */
	int		 signo;
	int		 status;	/* the wait status, for WIFEXITED() */
	int		 timed_out;
	int		 canceled;	/* stopped by canceled or abort */
	int		 abandoned;	/* killed but not reaped in time */
	int		 stdout_truncated;
	struct buf	 out;		/* stdout, at most stdout_max bytes */
	struct buf	 err;		/* the last stderr_max bytes of stderr */
	char		 error[256];	/* why it could not start */
};

/*
 * Runs the program and waits for it and for its pipes. Returns 0 once the
 * program ran and was reaped, whatever its status, and -1 when it could not
 * be started (res->error says why). Nothing of the group is left running
 * when it returns, unless reap_limit_ms let it abandon a child that SIGKILL
 * did not end. The caller frees res with exec_result_free().
 */
int	 exec_run(const struct exec_opts *, struct exec_result *);
void	 exec_result_free(struct exec_result *);
/* "exit 2", "signal 9", "timed out" ...: a static string per call. */
const char *exec_status_str(const struct exec_result *, char *, size_t);

#endif
