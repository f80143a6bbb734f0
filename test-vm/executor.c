/*
 * The osbuild executor qemu.kvm end to end: a worker on the host (not in a
 * VM) with [osbuild_executor] type = "qemu.kvm" takes the fault build from
 * the host queue and runs it in a throwaway domain booted from the pinned
 * worker image (whose ib-agent.service runs there because the domain
 * carries the ib.role credential); the artifact comes back through the
 * worker, and domain and overlay are gone afterwards. executor-reaper
 * kills that worker mid-build and shows that the next one, at start,
 * destroys the domain the dead one left.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "vmtest.h"

#define FAIL(...) do {							\
	snprintf(err, ERRLEN, __VA_ARGS__);				\
	goto cleanup;							\
} while (0)

/* The worker's domains: "ibx-" and a hash of its cache directory. */
#define EX_PREFIX	"ibx-"

struct hostworker {
	pid_t	 pid;
	char	*conf;
	char	*cache;
	char	*log;
};

static void
hw_init(struct vt *vt, struct hostworker *w, const char *name)
{
	char	*text;

	memset(w, 0, sizeof(*w));
	w->conf = xasprintf("%s/%s.toml", vt->work, name);
	w->cache = xasprintf("%s/%s-cache", vt->work, name);
	w->log = xasprintf("%s/%s.log", vt->work, name);
	text = xasprintf(
	    "[worker]\n"
	    "job_types = [\"osbuild\"]\n"
	    "cache_directory = \"%s\"\n"
	    "cache_min_free = 0\n"
	    "heartbeat_interval = 5\n"
	    "[osbuild_executor]\n"
	    "type = \"qemu.kvm\"\n"
	    "image = \"%s\"\n"
	    "accel = \"tcg\"\n"
	    "vcpus = %d\n"
	    "memory = %d\n"
	    "disk = 6\n"
	    "boot_timeout = 300\n", w->cache, vt->pinned, VT_WORKER_VCPUS,
	    vt->vm_mem_mib);
	if (write_file_atomic(w->conf, text, strlen(text), 0600) == -1)
		fatal("%s", w->conf);
	free(text);
}

static int
hw_start(struct vt *vt, struct hostworker *w)
{
	char	*bin = xasprintf("%s/ib-worker", vt->build);
	char	*argv[] = { bin, "-d", "-c", w->conf, vt->queue_url, NULL };

	w->pid = host_spawn(argv, w->log);
	free(bin);
	return w->pid > 0 ? 0 : -1;
}

/* SIGKILL: the worker dies as a crash would leave it. */
static void
hw_kill(struct hostworker *w)
{
	if (w->pid <= 0)
		return;
	kill(-w->pid, SIGKILL);
	waitpid(w->pid, NULL, 0);
	w->pid = 0;
}

static void
hw_free(struct hostworker *w)
{
	host_stop(&w->pid, 30);
	free(w->conf);
	free(w->cache);
	free(w->log);
}

/* Whether the worker's log has the text (it is read whole each time). */
static int
log_has(const struct hostworker *w, const char *text)
{
	char	*s = read_file(w->log, 64 << 20, NULL);
	int	 r = s != NULL && strstr(s, text) != NULL;

	free(s);
	return r;
}

static int
log_wait(const struct hostworker *w, const char *text, int timeout_s)
{
	int64_t	 end = now_ms() + (int64_t)timeout_s * 1000;

	while (!vt_interrupted && now_ms() < end) {
		if (log_has(w, text))
			return 0;
		host_sleep_ms(500);
	}
	return -1;
}

/* The names of the running domains with the executor's prefix. */
static int
exec_domains(struct vt *vt, char *first, size_t len)
{
	virDomainPtr	*doms = NULL;
	int		 n, i, found = 0;

	if (first != NULL && len > 0)
		first[0] = '\0';
	if ((n = virConnectListAllDomains(vt->conn, &doms, 0)) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		const char *name = virDomainGetName(doms[i]);

		if (name != NULL && strncmp(name, EX_PREFIX,
		    strlen(EX_PREFIX)) == 0) {
			if (found++ == 0 && first != NULL)
				snprintf(first, len, "%s", name);
		}
		virDomainFree(doms[i]);
	}
	free(doms);
	return found;
}

/* Whatever a failed case left: the executor's domains go. */
static void
sweep_exec_domains(struct vt *vt)
{
	virDomainPtr	*doms = NULL;
	int		 n, i;

	if ((n = virConnectListAllDomains(vt->conn, &doms, 0)) < 0)
		return;
	for (i = 0; i < n; i++) {
		const char *name = virDomainGetName(doms[i]);

		if (name != NULL && strncmp(name, EX_PREFIX,
		    strlen(EX_PREFIX)) == 0)
			virDomainDestroy(doms[i]);
		virDomainFree(doms[i]);
	}
	free(doms);
}

/* Entries in dir but "." and ".."; -1 when it cannot be read. */
static int
entries(const char *dir)
{
	DIR		*d = opendir(dir);
	struct dirent	*e;
	int		 n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
show_log(const struct hostworker *w, int lines)
{
	char	*cmd = xasprintf("tail -n %d '%s' >&2", lines, w->log);

	fprintf(stderr, "  --- the host worker's last lines (%s):\n", w->log);
	if (system(cmd) == -1)
		fprintf(stderr, "  (cannot run tail)\n");
	free(cmd);
}

/*
 * The fault build with a 256 MiB disk instead of 1 GiB: the xz of the disk
 * is most of the build under TCG, and this case is about the executor.
 */
static json_object *
small_args(struct vt *vt, const char *hostname, char *err)
{
	json_object	*args = fault_args(vt, hostname, err), *m, *p, *st, *o;

	if (args == NULL)
		return NULL;
	if (!json_object_object_get_ex(args, "manifest", &m) ||
	    !json_object_object_get_ex(m, "pipelines", &p) ||
	    (st = json_object_array_get_idx(p, 1)) == NULL ||
	    !json_object_object_get_ex(st, "stages", &st) ||
	    (st = json_object_array_get_idx(st, 0)) == NULL ||
	    !json_object_object_get_ex(st, "options", &o)) {
		snprintf(err, ERRLEN, "test-vm/fault-manifest.json: no disk "
		    "stage second");
		json_object_put(args);
		return NULL;
	}
	json_object_object_add(o, "size", json_object_new_string("256M"));
	return args;
}

int
t_executor(struct vt *vt, char *err)
{
	struct hostworker	 w;
	json_object		*args = NULL, *res = NULL;
	char			*id = NULL, *art = NULL, *out = NULL;
	char			 dom[128], scratch[ERRLEN];
	struct stat		 st;
	int64_t			 t0;
	int			 rc = -1;

	hw_init(vt, &w, "executor");
	if (hw_start(vt, &w) == -1)
		FAIL("the host worker did not start");
	if (log_wait(&w, "registered as worker", 60) == -1)
		FAIL("the host worker did not register");
	if ((args = small_args(vt, "ibvt-executor", err)) == NULL)
		goto cleanup;
	t0 = now_ms();
	if ((id = queue_enqueue(vt, "osbuild", args, err)) == NULL)
		goto cleanup;
	if (log_wait(&w, "domain " EX_PREFIX, 120) == -1 ||
	    exec_domains(vt, dom, sizeof(dom)) < 1)
		FAIL("no build domain came up");
	printf("  build domain %s started\n", dom);
	if ((res = finished_result(vt, id, 900, err)) == NULL)
		goto cleanup;
	printf("  the build in the throwaway domain took %.0f s from the "
	    "enqueue\n", (now_ms() - t0) / 1000.0);
	art = xasprintf("%s/executor-%s", vt->work, FAULT_ARTIFACT);
	if (queue_artifact(vt, id, FAULT_ARTIFACT, art, scratch) == -1)
		FAIL("no artifact at the queue: %.900s", scratch);
	{
		char *argv[] = { "xz", "-t", art, NULL };

		if (stat(art, &st) == -1 || st.st_size < 1024 ||
		    host_run(argv, NULL, NULL, 120) != 0)
			FAIL("the artifact %s is not the xz of the disk", art);
	}
	/* Gone afterwards: the domain and its overlay (in output/). */
	if (exec_domains(vt, dom, sizeof(dom)) != 0)
		FAIL("the build domain %s is still there", dom);
	out = xasprintf("%s/output", w.cache);
	if (entries(out) != 0)
		FAIL("%s is not empty after the build: the overlay stayed", out);
	if (!log_has(&w, "executor: build sent") ||
	    !log_has(&w, " destroyed") || !log_has(&w, "tcg, as configured"))
		FAIL("the worker's log lacks the executor's steps");
	printf("  artifact of %lld bytes from the throwaway domain; domain "
	    "and overlay gone\n", (long long)st.st_size);
	rc = 0;
cleanup:
	if (rc == -1)
		show_log(&w, 40);
	hw_free(&w);
	sweep_exec_domains(vt);
	json_object_put(args);
	json_object_put(res);
	if (art != NULL)
		unlink(art);
	free(art);
	free(out);
	free(id);
	return rc;
}

int
t_executor_reaper(struct vt *vt, char *err)
{
	struct hostworker	 w;
	json_object		*args = NULL;
	char			*id = NULL;
	char			 dom[128], left[128];
	int			 rc = -1, i;

	hw_init(vt, &w, "reaper");
	if (hw_start(vt, &w) == -1)
		FAIL("the host worker did not start");
	if (log_wait(&w, "registered as worker", 60) == -1)
		FAIL("the host worker did not register");
	if ((args = small_args(vt, "ibvt-reaper", err)) == NULL)
		goto cleanup;
	if ((id = queue_enqueue(vt, "osbuild", args, err)) == NULL)
		goto cleanup;
	if (log_wait(&w, "domain " EX_PREFIX, 120) == -1 ||
	    exec_domains(vt, dom, sizeof(dom)) < 1)
		FAIL("no build domain came up");
	/* Mid-build: once the agent has it. */
	if (log_wait(&w, "executor: build sent", 300) == -1)
		FAIL("the agent in %s never took the build", dom);
	hw_kill(&w);
	host_sleep_ms(2000);
	if (exec_domains(vt, left, sizeof(left)) != 1 ||
	    strcmp(left, dom) != 0)
		FAIL("the killed worker's domain %s is not left running", dom);
	printf("  worker killed mid-build; %s left running\n", dom);
	/* The next worker with the same cache reaps it at start. */
	if (queue_cancel(vt, id) == -1)
		FAIL("cannot cancel %s", id);
	if (hw_start(vt, &w) == -1)
		FAIL("the second worker did not start");
	if (log_wait(&w, "leftover domain", 60) == -1)
		FAIL("the second worker did not reap %s", dom);
	/* libvirt may list a destroyed transient domain for a moment. */
	for (i = 0; i < 20 && exec_domains(vt, left, sizeof(left)) != 0; i++)
		host_sleep_ms(500);
	if (exec_domains(vt, left, sizeof(left)) != 0)
		FAIL("%s is still there 10 s after the second start", left);
	printf("  the next start destroyed %s\n", dom);
	rc = 0;
cleanup:
	if (rc == -1)
		show_log(&w, 40);
	hw_free(&w);
	sweep_exec_domains(vt);
	json_object_put(args);
	free(id);
	return rc;
}
