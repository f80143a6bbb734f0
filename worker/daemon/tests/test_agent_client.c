/*
 * The VM executors' agent client against a real ib-agent process on
 * loopback (the agent as it runs in the build VM, with the osbuild test
 * double as its builder: osbuild cannot run here). A build with its
 * monitor stream, a source from the worker's store and its export; a
 * second worker refused while it builds; a cancel mid-build; an agent that
 * never answers; one that dies mid-build; an export that is a link.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "executor/agent_client.h"
#include "frame.h"
#include "log.h"
#include "util.h"

static char	 top[4096];
static char	 agentbin[4200];
static char	 tmp[256];

static const char manifest[] =
    "{\"version\":\"2\",\"pipelines\":["
    "{\"name\":\"build\",\"stages\":[{\"type\":\"org.osbuild.rpm\"}]},"
    "{\"name\":\"image\",\"build\":\"name:build\",\"stages\":["
    "{\"type\":\"org.osbuild.qemu\",\"options\":{\"filename\":"
    "\"disk.qcow2\"}}]}],\"sources\":{}}";

struct agent {
	pid_t	 pid;
	char	 port[16];
	char	*work;
};

/* Starts ib-agent on a loopback port with the double and env vars. */
static void
agent_start(struct agent *a, const char *mode, const char *hold)
{
	char	*pf = xasprintf("%s/port", tmp), *p;
	int	 i;

	unlink(pf);
	a->work = xasprintf("%s/agent-work", tmp);
	remove_tree(a->work);
	if ((a->pid = fork()) == 0) {
		char *bld = xasprintf("%s/worker/tests/doubles/osbuild", top);

		setenv("IB_OSBUILD_DOUBLE_MODE", mode, 1);
		setenv("IB_OSBUILD_DOUBLE_HOLD", hold, 1);
		setenv("IB_OSBUILD_DOUBLE_SIZE", "3000000", 1);
		execl(agentbin, "ib-agent", "--listen", "127.0.0.1:0",
		    "--port-file", pf, "--builder", bld, "--workdir", a->work,
		    "--idle-timeout", "60", (char *)NULL);
		_exit(127);
	}
	assert_true(a->pid > 0);
	for (i = 0; i < 200; i++) {
		if ((p = read_file(pf, 64, NULL)) != NULL) {
			snprintf(a->port, sizeof(a->port), "%s", rtrim(p));
			free(p);
			break;
		}
		usleep(50000);
	}
	assert_true(a->port[0] != '\0');
	free(pf);
}

/* The agent's exit status, waited for at most 20 s; -1 still running. */
static int
agent_wait(struct agent *a)
{
	int	 st, i;

	for (i = 0; i < 200; i++) {
		if (waitpid(a->pid, &st, WNOHANG) == a->pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 +
			    WTERMSIG(st);
		usleep(100000);
	}
	kill(a->pid, SIGKILL);
	waitpid(a->pid, &st, 0);
	return -1;
}

struct seen {
	size_t		 monitor;
	int		 ticks;
	int		 cancel_after;	/* ticks, 0: never */
	atomic_int	 canceled;
	struct agent	*kill_agent;	/* killed at the first monitor bytes */
	int		 second;	/* what a second worker got */
	struct agent	*a;
};

static void
on_monitor(const char *d, size_t n, void *arg)
{
	struct seen	*s = arg;

	s->monitor += n;
	if (s->kill_agent != NULL) {
		kill(s->kill_agent->pid, SIGKILL);
		s->kill_agent = NULL;
	}
}

static void
on_tick(void *arg)
{
	struct seen	*s = arg;
	char		 why[128], type;
	struct buf	 b;
	int		 fd;

	s->ticks++;
	if (s->cancel_after > 0 && s->ticks == s->cancel_after)
		atomic_store(&s->canceled, 1);
	/* While it builds: a second worker connects and is told no. */
	if (s->a != NULL && s->second == 0 && s->monitor > 0) {
		buf_init(&b);
		fd = frame_connect("127.0.0.1", s->a->port, 2000, why,
		    sizeof(why));
		if (fd != -1 && frame_read(fd, &type, &b, 5000, NULL, why,
		    sizeof(why)) == 0)
			s->second = type == AGC_ERROR &&
			    strstr(b.data, "busy") != NULL ? 1 : 2;
		else
			s->second = 3;
		if (fd != -1)
			close(fd);
		buf_free(&b);
	}
}

static void
setup_build(struct executor_build *b, struct seen *s, const char *outdir,
    const char *store, const char *const *exports,
    const char *const *sources)
{
	memset(b, 0, sizeof(*b));
	b->build_id = "test";
	b->manifest = manifest;
	b->manifest_len = strlen(manifest);
	b->exports = exports;
	b->sources = sources;
	b->store = store;
	b->outdir = outdir;
	b->cache_max = 1 << 30;
	b->grace_ms = 2000;
	b->on_monitor = on_monitor;
	b->on_tick = on_tick;
	b->arg = s;
	b->canceled = &s->canceled;
}

static struct agent_limits
limits(long reach_ms)
{
	struct agent_limits	 l;

	memset(&l, 0, sizeof(l));
	l.reach_ms = reach_ms;
	l.step_ms = 10000;
	l.silence_ms = 15000;
	return l;
}

static char *
fresh_dir(const char *name)
{
	char	*d = xasprintf("%s/%s", tmp, name);

	remove_tree(d);
	assert_int_equal(mkdir_p(d, 0755), 0);
	return d;
}

static void
test_build(void **state)
{
	const char *const	 exports[] = { "image", NULL };
	const char *const	 sources[] = { "sha256:aa11", "sha256:absent",
	    NULL };
	struct agent_limits	 l = limits(10000);
	struct executor_build	 b;
	struct executor_result	 r;
	struct agent		 a;
	struct seen		 s;
	struct stat		 st;
	char			*out = fresh_dir("out"), *store, *src, *p;

	store = fresh_dir("store");
	src = fresh_dir("store/sources/org.osbuild.curl");
	p = xasprintf("%s/sha256:aa11", src);
	assert_int_equal(write_file_atomic(p, "package bytes", 13, 0644), 0);
	free(p);
	memset(&a, 0, sizeof(a));
	memset(&s, 0, sizeof(s));
	memset(&r, 0, sizeof(r));
	agent_start(&a, "ok", "2");
	s.a = &a;
	setup_build(&b, &s, out, store, exports, sources);
	assert_int_equal(agent_client_build("127.0.0.1", a.port, &l, &b, &r),
	    0);
	assert_true(r.res.exited);
	assert_int_equal(r.res.code, 0);
	assert_non_null(strstr(r.res.out.data, "\"success\": true") ?
	    strstr(r.res.out.data, "\"success\": true") :
	    strstr(r.res.out.data, "\"success\":true"));
	assert_string_equal(r.version, "129");
	assert_true(s.monitor > 0);		/* the stream came back */
	assert_true(s.ticks > 10);		/* and the ticks kept going */
	assert_int_equal(s.second, 1);		/* a second worker: busy */
	p = xasprintf("%s/image/disk.qcow2", out);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 3000000);
	free(p);
	/* The source from our store reached the agent's store. */
	p = xasprintf("%s/store/sources/org.osbuild.curl/sha256:aa11",
	    a.work);
	free(src);
	src = read_file(p, 100, NULL);
	assert_non_null(src);
	assert_string_equal(src, "package bytes");
	free(p);
	/* One build, then the agent is done. */
	assert_int_equal(agent_wait(&a), 0);
	executor_result_free(&r);
	free(src);
	free(store);
	free(out);
	free(a.work);
}

static void
test_cancel(void **state)
{
	const char *const	 exports[] = { "image", NULL };
	struct agent_limits	 l = limits(10000);
	struct executor_build	 b;
	struct executor_result	 r;
	struct agent		 a;
	struct seen		 s;
	char			*out = fresh_dir("out");
	int64_t			 t0;

	memset(&a, 0, sizeof(a));
	memset(&s, 0, sizeof(s));
	memset(&r, 0, sizeof(r));
	agent_start(&a, "ok", "60");
	s.cancel_after = 30;	/* about 3 s into the build */
	setup_build(&b, &s, out, NULL, exports, NULL);
	t0 = now_ms();
	assert_int_equal(agent_client_build("127.0.0.1", a.port, &l, &b, &r),
	    0);
	assert_true(r.res.canceled);
	assert_true(now_ms() - t0 < 20000);
	assert_int_equal(agent_wait(&a), 0);
	executor_result_free(&r);
	free(out);
	free(a.work);
}

static void
test_never_reachable(void **state)
{
	const char *const	 exports[] = { "image", NULL };
	struct agent_limits	 l = limits(2500);
	struct executor_build	 b;
	struct executor_result	 r;
	struct seen		 s;
	char			 port[16], *out = fresh_dir("out");
	int64_t			 t0 = now_ms();

	/* Port 1: nothing listens there (a VM that never boots). */
	snprintf(port, sizeof(port), "1");
	memset(&s, 0, sizeof(s));
	memset(&r, 0, sizeof(r));
	setup_build(&b, &s, out, NULL, exports, NULL);
	assert_int_equal(agent_client_build("127.0.0.1", port, &l, &b, &r),
	    -1);
	assert_non_null(strstr(r.res.error, "not reachable in 2 s"));
	assert_true(now_ms() - t0 < 10000);
	executor_result_free(&r);
	free(out);
}

static void
test_agent_dies(void **state)
{
	const char *const	 exports[] = { "image", NULL };
	struct agent_limits	 l = limits(10000);
	struct executor_build	 b;
	struct executor_result	 r;
	struct agent		 a;
	struct seen		 s;
	char			*out = fresh_dir("out");
	int64_t			 t0;

	memset(&a, 0, sizeof(a));
	memset(&s, 0, sizeof(s));
	memset(&r, 0, sizeof(r));
	/* Its builder, orphaned, holds 5 s more and ends. */
	agent_start(&a, "ok", "5");
	s.kill_agent = &a;
	setup_build(&b, &s, out, NULL, exports, NULL);
	t0 = now_ms();
	assert_int_equal(agent_client_build("127.0.0.1", a.port, &l, &b, &r),
	    -1);
	assert_non_null(strstr(r.res.error, "the build was lost"));
	assert_true(now_ms() - t0 < 10000);
	agent_wait(&a);
	executor_result_free(&r);
	free(out);
	free(a.work);
}

static void
test_symlink_export(void **state)
{
	const char *const	 exports[] = { "image", NULL };
	struct agent_limits	 l = limits(10000);
	struct executor_build	 b;
	struct executor_result	 r;
	struct agent		 a;
	struct seen		 s;
	struct stat		 st;
	char			*out = fresh_dir("out"), *p;

	memset(&a, 0, sizeof(a));
	memset(&s, 0, sizeof(s));
	memset(&r, 0, sizeof(r));
	agent_start(&a, "symlink-export", "0");
	setup_build(&b, &s, out, NULL, exports, NULL);
	assert_int_equal(agent_client_build("127.0.0.1", a.port, &l, &b, &r),
	    0);
	/* The link is not sent: nothing outside the agent's output leaks. */
	p = xasprintf("%s/image/disk.qcow2", out);
	assert_int_equal(lstat(p, &st), -1);
	free(p);
	assert_int_equal(agent_wait(&a), 0);
	executor_result_free(&r);
	free(out);
	free(a.work);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_never_reachable),
		cmocka_unit_test(test_agent_dies),
		cmocka_unit_test(test_symlink_export),
	};
	const char	*t = getenv("IB_TOP"), *bdir = getenv("B");
	int		 rc;

	if (t != NULL)
		snprintf(top, sizeof(top), "%s", t);
	else if (getcwd(top, sizeof(top)) == NULL)
		return 1;
	snprintf(agentbin, sizeof(agentbin), "%s/%s/ib-agent", top,
	    bdir != NULL && *bdir != '\0' ? bdir : "build");
	if (bdir != NULL && bdir[0] == '/')
		snprintf(agentbin, sizeof(agentbin), "%s/ib-agent", bdir);
	snprintf(tmp, sizeof(tmp), "/tmp/test_agent_client.XXXXXX");
	if (mkdtemp(tmp) == NULL)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	log_init(0, LOG_TEXT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	remove_tree(tmp);
	return rc;
}
