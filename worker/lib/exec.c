/*
 * Helper programs in their own process group. posix_spawn does the fork
 * and exec (signals back to default, empty mask, new group, only our pipes
 * inherited) so nothing unsafe runs between fork and exec in this threaded
 * program; the parent then polls the pipes until the leader is reaped and
 * the pipes are closed, or the group is killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec.h"
#include "log.h"

extern char **environ;

#define EXEC_STDOUT_MAX	(64u << 20)
#define EXEC_STDERR_MAX	(64u << 10)
#define EXEC_GRACE_MS	10000
/* After the leader exits, how long its pipes may stay open (held by a
 * grandchild) before the rest of the group is killed. */
#define EXEC_LINGER_MS	2000
#define EXEC_TICK_MS	100
/* How long killed leftovers may take to be reaped by init. */
#define EXEC_REAP_MS	5000

enum { P_IN, P_OUT, P_ERR, P_EXTRA, P_N };

/* Moves fd to a number >= 10 with close-on-exec, so the dup2 actions that
 * put pipes on 0..3 in the child never overwrite one another. */
static int
high_fd(int fd)
{
	int	 n;

	if (fd >= 10)
		return fd;
	n = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	close(fd);
	return n;
}

static int
make_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	p[0] = high_fd(p[0]);
	p[1] = high_fd(p[1]);
	if (p[0] == -1 || p[1] == -1) {
		if (p[0] != -1)
			close(p[0]);
		if (p[1] != -1)
			close(p[1]);
		return -1;
	}
	return 0;
}

static void
close_fd(int *fd)
{
	if (*fd != -1) {
		close(*fd);
		*fd = -1;
	}
}

/*
 * posix_spawn takes argv and envp as char *const[] for history's sake and
 * writes through neither; this hands it ours without a cast that -Wcast-qual
 * would flag.
 */
static char *const *
spawn_vec(const char *const *v)
{
	union {
		const char *const	*in;
		char *const		*out;
	} u;

	u.in = v;
	return u.out;
}

/* Our environment with add's NAME=VALUE strings in place of their names'. */
static const char **
build_env(const char *const *add)
{
	const char	**env;
	size_t	 n = 0, m = 0, i, j, k;

	while (environ[n] != NULL)
		n++;
	while (add != NULL && add[m] != NULL)
		m++;
	env = xcalloc(n + m + 1, sizeof(*env));
	k = 0;
	for (i = 0; i < n; i++) {
		const char *eq = strchr(environ[i], '=');
		size_t klen = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
		int overridden = 0;

		for (j = 0; j < m; j++)
			if (strncmp(add[j], environ[i], klen) == 0 &&
			    add[j][klen] == '=')
				overridden = 1;
		if (!overridden)
			env[k++] = environ[i];
	}
	for (j = 0; j < m; j++)
		env[k++] = add[j];
	env[k] = NULL;
	return env;
}

static void
keep_tail(struct buf *b, const char *data, size_t n, size_t max)
{
	if (n >= max) {
		buf_reset(b);
		buf_add(b, data + n - max, max);
		return;
	}
	buf_add(b, data, n);
	if (b->len > max) {
		memmove(b->data, b->data + b->len - max, max);
		b->len = max;
		b->data[b->len] = '\0';
	}
}

static void
kill_group(pid_t pgid, int sig)
{
	if (pgid > 0 && kill(-pgid, sig) == -1 && errno != ESRCH)
		log_warn("kill(-%ld, %d)", (long)pgid, sig);
}

/* A descriptor that polls readable once pid has exited, so the loop wakes
 * at once rather than at its next tick; -1 where the kernel has none. */
static int
exit_fd(pid_t pid)
{
#ifdef SYS_pidfd_open
	int	 fd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (fd != -1)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
#else
	(void)pid;
	return -1;
#endif
}

/* Signals the child's group, or the child alone when it shares ours. */
static void
stop_child(const struct exec_opts *o, pid_t pid, int sig)
{
	if (!o->same_group)
		kill_group(pid, sig);
	else if (pid > 0 && kill(pid, sig) == -1 && errno != ESRCH)
		log_warn("kill(%ld, %d)", (long)pid, sig);
}

/* Opens the file stdout goes to, high and close-on-exec; -1 on error. */
static int
open_stdout(const char *path, struct exec_result *res)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1 || (fd = high_fd(fd)) == -1) {
		snprintf(res->error, sizeof(res->error), "%s: %s", path,
		    strerror(errno));
		return -1;
	}
	return fd;
}

int
exec_run(const struct exec_opts *o, struct exec_result *res)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t	 attr;
	sigset_t		 all, none;
	struct pollfd		 pfd[P_N + 1];	/* the pipes, exit_fd */
	int			 fds[P_N][2];
	int			 mine[P_N];	/* parent ends, -1 when closed */
	const char		**env = NULL;
	char			 chunk[65536];
	size_t			 in_off = 0, out_max, err_max;
	pid_t			 pid = -1;
	int64_t			 start, now, term_at = 0, reaped_at = 0;
	int64_t			 kill_at = 0;
	long			 grace;
	int			 i, n, status = 0, reaped = 0, rv = -1, fa_ok = 0;
	int			 attr_ok = 0, sent_kill = 0, outfd = -1;
	int			 pidfd = -1;

	memset(res, 0, sizeof(*res));
	buf_init(&res->out);
	buf_init(&res->err);
	buf_add(&res->out, "", 0);
	buf_add(&res->err, "", 0);
	for (i = 0; i < P_N; i++) {
		fds[i][0] = fds[i][1] = -1;
		mine[i] = -1;
	}
	out_max = o->stdout_max ? o->stdout_max : EXEC_STDOUT_MAX;
	err_max = o->stderr_max ? o->stderr_max : EXEC_STDERR_MAX;
	grace = o->grace_ms > 0 ? o->grace_ms : EXEC_GRACE_MS;

	if ((o->canceled != NULL && atomic_load(o->canceled)) ||
	    (o->abort != NULL && *o->abort)) {
		res->canceled = 1;
		snprintf(res->error, sizeof(res->error), "canceled before start");
		return -1;
	}
	/* A child that died early must not kill us with SIGPIPE; the child
	 * gets default dispositions back through POSIX_SPAWN_SETSIGDEF. */
	signal(SIGPIPE, SIG_IGN);

	if (o->stdout_path != NULL &&
	    (outfd = open_stdout(o->stdout_path, res)) == -1)
		goto cleanup;
	for (i = 0; i < P_N; i++) {
		if ((i == P_EXTRA && o->extra_fd <= 0) ||
		    (i == P_OUT && outfd != -1) ||
		    (i == P_ERR && o->merge_output))
			continue;
		if (make_pipe(fds[i]) == -1) {
			snprintf(res->error, sizeof(res->error), "pipe: %s",
			    strerror(errno));
			goto cleanup;
		}
	}
	if (posix_spawn_file_actions_init(&fa) != 0)
		goto cleanup;
	fa_ok = 1;
	posix_spawn_file_actions_adddup2(&fa, fds[P_IN][0], 0);
	posix_spawn_file_actions_adddup2(&fa, outfd != -1 ? outfd :
	    fds[P_OUT][1], 1);
	if (o->merge_output)
		posix_spawn_file_actions_adddup2(&fa, 1, 2);
	else
		posix_spawn_file_actions_adddup2(&fa, fds[P_ERR][1], 2);
	if (o->extra_fd > 0) {
		posix_spawn_file_actions_adddup2(&fa, fds[P_EXTRA][1],
		    o->extra_fd);
		posix_spawn_file_actions_addclosefrom_np(&fa, o->extra_fd + 1);
	} else
		posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	if (posix_spawnattr_init(&attr) != 0)
		goto cleanup;
	attr_ok = 1;
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, (o->same_group ? 0 :
	    POSIX_SPAWN_SETPGROUP) | POSIX_SPAWN_SETSIGDEF |
	    POSIX_SPAWN_SETSIGMASK);

	env = build_env(o->env_add);
	n = posix_spawnp(&pid, o->argv[0], &fa, &attr, spawn_vec(o->argv),
	    spawn_vec(env));
	if (n != 0) {
		pid = -1;
		snprintf(res->error, sizeof(res->error), "cannot run %s: %s",
		    o->argv[0], strerror(n));
		goto cleanup;
	}
	if (o->pgid != NULL && !o->same_group)
		atomic_store(o->pgid, (int)pid);
	close_fd(&outfd);
	pidfd = exit_fd(pid);
	log_debug("exec: %s started, pid %ld", o->argv[0], (long)pid);

	/* Keep our ends, close the child's. */
	mine[P_IN] = fds[P_IN][1];
	close_fd(&fds[P_IN][0]);
	fds[P_IN][1] = -1;
	for (i = P_OUT; i < P_N; i++) {
		mine[i] = fds[i][0];
		fds[i][0] = -1;
		close_fd(&fds[i][1]);
	}
	for (i = 0; i < P_N; i++)
		if (mine[i] != -1)
			fcntl(mine[i], F_SETFL,
			    fcntl(mine[i], F_GETFL) | O_NONBLOCK);
	if (o->stdin_data == NULL || o->stdin_len == 0)
		close_fd(&mine[P_IN]);

	start = now_ms();
	for (;;) {
		int open = 0;

		for (i = 0; i < P_N; i++) {
			pfd[i].fd = mine[i];
			pfd[i].events = i == P_IN ? POLLOUT : POLLIN;
			pfd[i].revents = 0;
			if (mine[i] != -1)
				open++;
		}
		if (open == 0 && reaped)
			break;
		pfd[P_N].fd = reaped ? -1 : pidfd;
		pfd[P_N].events = POLLIN;
		pfd[P_N].revents = 0;
		if (poll(pfd, P_N + 1, EXEC_TICK_MS) == -1 && errno != EINTR) {
			log_warn("exec: poll");
			break;
		}
		if (mine[P_IN] != -1 && pfd[P_IN].revents) {
			ssize_t w = write(mine[P_IN],
			    (const char *)o->stdin_data + in_off,
			    o->stdin_len - in_off);

			if (w > 0)
				in_off += w;
			if ((w == -1 && errno != EAGAIN && errno != EINTR) ||
			    in_off == o->stdin_len)
				close_fd(&mine[P_IN]);
		}
		for (i = P_OUT; i < P_N; i++) {
			ssize_t r;

			if (mine[i] == -1 || pfd[i].revents == 0)
				continue;
			r = read(mine[i], chunk, sizeof(chunk));
			if (r == -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				close_fd(&mine[i]);
				continue;
			}
			if (i == P_OUT && o->stdout_tail) {
				if (res->out.len + r > out_max)
					res->stdout_truncated = 1;
				keep_tail(&res->out, chunk, r, out_max);
			} else if (i == P_OUT) {
				size_t room = out_max - res->out.len;

				if ((size_t)r > room) {
					res->stdout_truncated = 1;
					r = room;
				}
				buf_add(&res->out, chunk, r);
			} else if (i == P_ERR)
				keep_tail(&res->err, chunk, r, err_max);
			else if (o->on_extra != NULL)
				o->on_extra(chunk, r, o->arg);
		}
		if (o->on_tick != NULL && !reaped)
			o->on_tick(o->arg);

		if (!reaped) {
			pid_t w = waitpid(pid, &status, WNOHANG);

			if (w == pid) {
				reaped = 1;
				reaped_at = now_ms();
			}
		}
		now = now_ms();
		if (reaped) {
			/* The leader is gone; a grandchild may still hold the
			 * pipes. Let them drain a moment, then end the group. */
			if (now - reaped_at > EXEC_LINGER_MS) {
				if (!o->same_group)
					kill_group(pid, SIGKILL);
				for (i = 0; i < P_N; i++)
					close_fd(&mine[i]);
			}
			continue;
		}
		if (term_at == 0) {
			if ((o->canceled != NULL && atomic_load(o->canceled)) ||
			    (o->abort != NULL && *o->abort))
				res->canceled = 1;
			else if (o->timeout_ms > 0 &&
			    now - start > o->timeout_ms)
				res->timed_out = 1;
			if (res->canceled || res->timed_out) {
				log_info("exec: stopping %s (%s)", o->argv[0],
				    res->canceled ? "canceled" : "timeout");
				stop_child(o, pid, SIGTERM);
				term_at = now;
			}
		} else if (!sent_kill && now - term_at > grace) {
			stop_child(o, pid, SIGKILL);
			sent_kill = 1;
			kill_at = now;
		} else if (sent_kill && o->reap_limit_ms > 0 &&
		    now - kill_at > o->reap_limit_ms) {
			log_warnx("exec: %s (pid %ld) not reaped %ld ms after "
			    "SIGKILL: left behind", o->argv[0], (long)pid,
			    o->reap_limit_ms);
			res->abandoned = 1;
			break;
		}
	}
	if (!reaped && !res->abandoned) {
		stop_child(o, pid, SIGKILL);
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			;
	}
	/* Whatever the leader left behind in its group goes too, and we wait
	 * (a bounded while) for init to reap it: the group is then gone. */
	if (!o->same_group && kill(-pid, 0) == 0) {
		int64_t until = now_ms() + EXEC_REAP_MS;

		kill_group(pid, SIGKILL);
		/* An abandoned leader keeps the group: no use waiting. */
		while (!res->abandoned && kill(-pid, 0) == 0 &&
		    now_ms() < until)
			usleep(20000);
		if (!res->abandoned && kill(-pid, 0) == 0)
			log_warnx("exec: process group %ld still present",
			    (long)pid);
	}
	res->status = status;
	if (res->abandoned)
		;	/* no status: it was never reaped */
	else if (WIFEXITED(status)) {
		res->exited = 1;
		res->code = WEXITSTATUS(status);
	} else if (WIFSIGNALED(status)) {
		res->signaled = 1;
		res->signo = WTERMSIG(status);
	}
	rv = 0;
cleanup:
	if (o->pgid != NULL && !o->same_group)
		atomic_store(o->pgid, 0);
	close_fd(&outfd);
	close_fd(&pidfd);
	for (i = 0; i < P_N; i++) {
		close_fd(&fds[i][0]);
		close_fd(&fds[i][1]);
		close_fd(&mine[i]);
	}
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_ok)
		posix_spawnattr_destroy(&attr);
	free(env);
	return rv;
}

void
exec_result_free(struct exec_result *res)
{
	if (res == NULL)
		return;
	buf_free(&res->out);
	buf_free(&res->err);
}

const char *
exec_status_str(const struct exec_result *res, char *s, size_t len)
{
	if (res->timed_out)
		snprintf(s, len, "timed out");
	else if (res->canceled)
		snprintf(s, len, "canceled");
	else if (res->exited)
		snprintf(s, len, "exit %d", res->code);
	else if (res->signaled)
		snprintf(s, len, "killed by signal %d", res->signo);
	else
		snprintf(s, len, "did not run");
	return s;
}
