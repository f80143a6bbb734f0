/*
 * Bounded child processes: every probe that might hang (KVM_RUN, the
 * appliance, an external command) runs through lib/exec in a child alone in
 * its process group, and the whole group is killed when its time is up, so
 * ib-vmcheck itself always finishes.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exec.h"
#include "log.h"
#include "vmcheck.h"

#define FN_OUT_MAX	4096
#define CMD_OUT_MAX	(64 * 1024)
#define REAP_GRACE_MS	3000

struct collect {
	struct buf	*out;
	size_t		 max;
};

static void
collect(const char *p, size_t n, void *arg)
{
	struct collect	*c = arg;

	if (c->out->len < c->max)
		buf_add(c->out, p, n < c->max - c->out->len ? n :
		    c->max - c->out->len);
}

/*
 * A probe is ib-vmcheck run again (/proc/self/exe VMCHECK_CHILD_ARG NAME
 * ...) through lib/exec, alone in its process group: it starts from a
 * clean image rather than as a fork of this process (libguestfs, libvirt
 * and KVM state never copied), and is run like every other child. What
 * lib/exec could not do before is kept: a probe that SIGKILL does not end
 * (stuck in KVM_RUN) is left behind after REAP_GRACE_MS, so that
 * ib-vmcheck itself always finishes. Its own stdout and stderr (libguestfs
 * messages) go to our stderr, never to the report on stdout.
 */
int
proc_run_child(const char *const args[], int timeout_ms, struct buf *out,
    int *statusp, char *errbuf, size_t errlen)
{
	struct exec_opts	 o;
	struct exec_result	 res;
	struct collect		 c = { out, FN_OUT_MAX };
	const char		*argv[8];
	size_t			 n = 0;
	int			 rv = -1;

	argv[n++] = "/proc/self/exe";
	argv[n++] = VMCHECK_CHILD_ARG;
	for (; *args != NULL; args++) {
		if (n + 1 >= nitems(argv))
			fatalx("proc_run_child: too many arguments");
		argv[n++] = *args;
	}
	argv[n] = NULL;
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.extra_fd = CHILD_RESULT_FD;
	o.on_extra = collect;
	o.arg = &c;
	o.merge_output = 1;
	o.stdout_tail = 1;
	o.stdout_max = CMD_OUT_MAX;
	o.timeout_ms = timeout_ms;
	o.grace_ms = 1;		/* a probe: SIGKILL at once */
	o.reap_limit_ms = REAP_GRACE_MS;
	fflush(stderr);
	if (exec_run(&o, &res) == -1) {
		snprintf(errbuf, errlen, "%s", res.error);
		goto cleanup;
	}
	if (res.out.len > 0)
		(void)write_all(2, res.out.data, res.out.len);
	if (statusp != NULL)
		*statusp = res.status;
	rv = res.timed_out ? 1 : 0;
cleanup:
	exec_result_free(&res);
	return rv;
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
