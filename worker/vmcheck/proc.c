/*
 * Bounded child processes: every probe that might hang (KVM_RUN, the
 * appliance, an external command) runs in a child alone in its process
 * group, and the whole group is killed when its time is up, so ib-vmcheck
 * itself always finishes.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec.h"
#include "vmcheck.h"

#define FN_OUT_MAX	4096
#define CMD_OUT_MAX	(64 * 1024)
#define REAP_GRACE_MS	3000

/* Returns 1 when pid has exited (left as a zombie, not reaped), else 0. */
static int
exited(pid_t pid)
{
	siginfo_t	 si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1)
		return errno == ECHILD;
	return si.si_pid == pid;
}

/* Reads what is there without blocking; returns 1 on EOF. */
static int
drain(int fd, struct buf *out, size_t max)
{
	char	 chunk[4096];
	ssize_t	 n;

	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == 0)
			return 1;
		if (n == -1)
			return errno == EINTR ? 0 : errno != EAGAIN;
		if (out->len < max)
			buf_add(out, chunk, (size_t)n < max - out->len ?
			    (size_t)n : max - out->len);
	}
}

/*
 * Waits for the child and its output until deadline. The group is killed
 * while the leader is still an unreaped zombie, so its id cannot have been
 * reused by anyone else.
 */
static int
supervise(pid_t pid, int rfd, int64_t deadline, struct buf *out, size_t max,
    int *statusp)
{
	struct pollfd	 pfd;
	int64_t		 left, dead_at = -1;
	int		 eof = 0, timedout = 0, status = 0;

	for (;;) {
		if (!eof) {
			pfd.fd = rfd;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, 20) > 0)
				eof = drain(rfd, out, max);
		} else
			poll(NULL, 0, 20);
		if (dead_at == -1 && exited(pid)) {
			kill(-pid, SIGKILL);
			dead_at = now_ms();
		}
		if (dead_at != -1 && (eof || now_ms() - dead_at > 1000))
			break;
		left = deadline - now_ms();
		if (left <= 0 && dead_at == -1 && !timedout) {
			timedout = 1;
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			deadline = now_ms() + REAP_GRACE_MS;
		} else if (left <= 0 && timedout)
			return 1;	/* stuck in the kernel: leave it */
	}
	if (waitpid(pid, &status, 0) == -1)
		status = 0;
	if (statusp != NULL)
		*statusp = status;
	return timedout;
}

static int
run(int (*fn)(void *, int), void *arg, int timeout_ms, struct buf *out,
    size_t max, int *statusp, char *errbuf, size_t errlen)
{
	pid_t	 pid;
	int	 fds[2], rv = -1;

	if (pipe2(fds, O_CLOEXEC) == -1) {
		snprintf(errbuf, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == -1) {
		snprintf(errbuf, errlen, "fork: %s", strerror(errno));
		goto cleanup;
	}
	if (pid == 0) {
		setpgid(0, 0);
		close(fds[0]);
		signal(SIGPIPE, SIG_DFL);
		_exit(fn(arg, fds[1]));
	}
	setpgid(pid, pid);	/* also here: no window where the group is ours */
	close(fds[1]);
	fds[1] = -1;
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	rv = supervise(pid, fds[0], now_ms() + timeout_ms, out, max, statusp);
cleanup:
	close(fds[0]);
	if (fds[1] != -1)
		close(fds[1]);
	return rv;
}

int
proc_run_fn(int (*fn)(void *, int), void *arg, int timeout_ms,
    struct buf *out, int *statusp, char *errbuf, size_t errlen)
{
	return run(fn, arg, timeout_ms, out, FN_OUT_MAX, statusp, errbuf,
	    errlen);
}

/*
 * A command runs through lib/exec.c, in a group of its own killed at the
 * deadline. Unlike the probes above it is an ordinary program, which
 * SIGKILL ends, so waiting for it to be reaped is bounded.
 */
int
proc_run_cmd(const char *const argv[], int timeout_ms, struct buf *out,
    int *statusp, char *errbuf, size_t errlen)
{
	static const char *const env[] = { "LC_ALL=C", NULL };
	struct exec_opts	 o;
	struct exec_result	 res;
	int			 rv = -1;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.env_add = env;
	o.merge_output = 1;
	o.stdout_max = CMD_OUT_MAX;
	o.timeout_ms = timeout_ms;
	o.grace_ms = 1;		/* no SIGTERM grace: a probe, not a job */
	if (exec_run(&o, &res) == -1) {
		snprintf(errbuf, errlen, "%s", res.error);
		goto cleanup;
	}
	buf_add(out, res.out.data, res.out.len);
	if (statusp != NULL)
		*statusp = res.status;
	rv = res.timed_out ? 1 : 0;
cleanup:
	exec_result_free(&res);
	return rv;
}

static int
is_exec(const char *path)
{
	struct stat	 st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, X_OK) == 0;
}

char *
proc_which(const char *name)
{
	const char	*path, *p, *end;
	char		*cand;

	if (name == NULL || *name == '\0')
		return NULL;
	if (strchr(name, '/') != NULL)
		return is_exec(name) ? xstrdup(name) : NULL;
	if ((path = getenv("PATH")) == NULL)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
		    "/sbin:/bin";
	for (p = path; *p != '\0'; p = *end ? end + 1 : end) {
		end = strchrnul(p, ':');
		if (end == p)
			continue;	/* empty entry: the cwd, never trusted */
		cand = xasprintf("%.*s/%s", (int)(end - p), p, name);
		if (is_exec(cand))
			return cand;
		free(cand);
	}
	return NULL;
}

const char *
proc_status_str(int status)
{
	static char	 s[64];

	if (WIFEXITED(status))
		snprintf(s, sizeof(s), "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(s, sizeof(s), "signal %d (%s)", WTERMSIG(status),
		    strsignal(WTERMSIG(status)));
	else
		snprintf(s, sizeof(s), "status 0x%x", status);
	return s;
}

void
strfmt(char *dst, size_t len, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(dst, len, fmt, ap);
	va_end(ap);
}

void
first_line(const char *s, char *dst, size_t len)
{
	size_t	 n;

	if (len == 0)
		return;
	*dst = '\0';
	if (s == NULL)
		return;
	while (*s == '\n' || *s == '\r' || *s == ' ')
		s++;
	n = strcspn(s, "\r\n");
	if (n >= len)
		n = len - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

char *
make_tmpdir(char *errbuf, size_t errlen)
{
	const char	*base;
	char		*dir;

	if ((base = getenv("TMPDIR")) == NULL || *base != '/')
		base = "/tmp";
	dir = xasprintf("%s/ib-vmcheck.XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		snprintf(errbuf, errlen, "mkdtemp %s: %s", dir,
		    strerror(errno));
		free(dir);
		return NULL;
	}
	return dir;
}
