/*
 * The osbuild executor qemu.kvm end to end: a worker on the host (not in a
 * VM) with [osbuild_executor] type = "qemu.kvm" takes a build from the
 * host queue and runs it in a throwaway domain booted from the pinned
 * worker image (whose ib-agent.service runs there because the domain
 * carries the ib.role credential); the artifact comes back through the
 * worker, and domain and overlay are gone afterwards. The build is the
 * credentials probe (test-vm/probe/probe.c): a maintainer script that leaves
 * its chroot and namespace and tries the worker's configuration,
 * credentials, cache, process and the services it talks to; run first
 * by a worker with the host executor, where it must find them, then in
 * the domain, where it must find nothing. executor-reaper kills that
 * worker mid-build and shows that the next one, at start, destroys the
 * domain the dead one left.
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
#define PROBE_ARTIFACT	"disk.raw.zst"

struct hostworker {
	pid_t	 pid;
	char	*conf;
	char	*cache;
	char	*log;
};

/*
 * The worker's configuration: type "qemu.kvm" (network "none": the probe
 * shows what "nat" would let a build reach), or "host" with the ib-build
 * of this tree. Both name a credentials file of their own (a secret the
 * probe must not reach from the build VM) and may share a cache.
 */
static void
hw_init(struct vt *vt, struct hostworker *w, const char *name,
    const char *type, const char *cache)
{
	char	*text, *creds;

	memset(w, 0, sizeof(*w));
	w->conf = xasprintf("%s/%s.toml", vt->work, name);
	w->cache = xasprintf("%s/%s-cache", vt->work, cache);
	w->log = xasprintf("%s/%s.log", vt->work, name);
	creds = xasprintf("%s/%s-aws-credentials", vt->work, name);
	text = xstrdup("[default]\naws_access_key_id = IBVTPROBESECRET\n"
	    "aws_secret_access_key = ibvt-probe-secret\n");
	if (write_file_atomic(creds, text, strlen(text), 0600) == -1)
		fatal("%s", creds);
	free(text);
	if (strcmp(type, "host") == 0)
		text = xasprintf(
		    "[worker]\n"
		    "job_types = [\"osbuild\"]\n"
		    "cache_directory = \"%s\"\n"
		    "cache_min_free = 0\n"
		    "heartbeat_interval = 5\n"
		    "osbuild = \"%s/ib-build\"\n"
		    "[aws]\n"
		    "credentials = \"%s\"\n"
		    "[osbuild_executor]\n"
		    "type = \"host\"\n", w->cache, vt->build, creds);
	else
		text = xasprintf(
		    "[worker]\n"
		    "job_types = [\"osbuild\"]\n"
		    "cache_directory = \"%s\"\n"
		    "cache_min_free = 0\n"
		    "heartbeat_interval = 5\n"
		    "[aws]\n"
		    "credentials = \"%s\"\n"
		    "[osbuild_executor]\n"
		    "type = \"qemu.kvm\"\n"
		    "image = \"%s\"\n"
		    "accel = \"tcg\"\n"
		    "network = \"none\"\n"
		    "vcpus = %d\n"
		    "memory = %d\n"
		    "disk = 6\n"
		    "boot_timeout = 300\n", w->cache, creds, vt->pinned,
		    VT_WORKER_VCPUS, vt->vm_mem_mib);
	if (write_file_atomic(w->conf, text, strlen(text), 0600) == -1)
		fatal("%s", w->conf);
	free(text);
	free(creds);
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

static json_object *
get(json_object *o, const char *key)
{
	json_object	*v;

	return o != NULL && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/*
 * The probe build (test-vm/probe/probemanifest.py): the fault build's job with
 * a manifest whose tree installs ib-probe (test-vm/probe/probe.c), aimed at
 * what the workers of this case hold: their configurations, credentials
 * files and cache, the host's queue and repository as the host sees them
 * and as a slirp guest reaches them (10.0.2.2), and the EC2 metadata
 * address. Its sources are on the repository server (the host worker
 * fetches them; the VM gets them from the shared store).
 */
static json_object *
probe_args(struct vt *vt, const char *hostname, const char *const *files,
    const char *cache, char *err)
{
	json_object	*args = NULL, *m;
	char		*script, *mirror, *mpath, *logp;
	char		*t[16], *argv[48];
	struct buf	 out;
	size_t		 n = 0, nt = 0, i;

	script = xasprintf("%s/test-vm/probe/probemanifest.py", vt->top);
	mirror = xasprintf("http://127.0.0.1:%d", vt->repo_port);
	mpath = xasprintf("%s/probe-%s.json", vt->work, hostname);
	logp = xasprintf("%s/probe-%s.log", vt->work, hostname);
	buf_init(&out);
	for (i = 0; files[i] != NULL && nt < 8; i++)
		t[nt++] = xasprintf("file %s", files[i]);
	t[nt++] = xasprintf("dir %s", cache);
	t[nt++] = xasprintf("tcp 127.0.0.1 %d", vt->queue_port);
	t[nt++] = xasprintf("tcp 10.0.2.2 %d", vt->queue_port);
	t[nt++] = xasprintf("tcp 10.0.2.2 %d", vt->repo_port);
	t[nt++] = xasprintf("tcp 169.254.169.254 80");
	argv[n++] = "/usr/bin/python3";
	argv[n++] = script;
	argv[n++] = "--repo";
	argv[n++] = vt->repo_dir;
	argv[n++] = "--mirror";
	argv[n++] = mirror;
	argv[n++] = "--hostname";
	argv[n++] = (char *)hostname;
	for (i = 0; i < nt; i++) {
		argv[n++] = "--target";
		argv[n++] = t[i];
	}
	argv[n] = NULL;
	if (host_run(argv, &out, logp, 120) != 0 ||
	    write_file_atomic(mpath, out.data, out.len, 0644) == -1 ||
	    (m = json_object_from_file(mpath)) == NULL) {
		snprintf(err, ERRLEN, "probemanifest.py failed (see %s)", logp);
		goto cleanup;
	}
	if ((args = fault_args(vt, hostname, err)) == NULL) {
		json_object_put(m);
		goto cleanup;
	}
	json_object_object_add(args, "manifest", m);
	/* Its export is "zst", file PROBE_ARTIFACT, where the fault's is xz. */
	{
		json_object *tg = json_object_array_get_idx(get(args,
		    "targets"), 0), *pl = get(get(args, "pipeline_names"),
		    "payload"), *art = get(tg, "osbuild_artifact"), *ex;

		if (art == NULL || pl == NULL ||
		    json_object_array_length(pl) != 3) {
			snprintf(err, ERRLEN, "fault_args: not the job shape "
			    "this case knows");
			json_object_put(args);
			args = NULL;
			goto cleanup;
		}
		json_object_object_add(tg, "image_name",
		    json_object_new_string(PROBE_ARTIFACT));
		json_object_object_add(art, "export_filename",
		    json_object_new_string(PROBE_ARTIFACT));
		json_object_object_add(art, "export_name",
		    json_object_new_string("zst"));
		json_object_array_put_idx(pl, 2, json_object_new_string("zst"));
		ex = json_object_new_array();
		json_object_array_add(ex, json_object_new_string("zst"));
		json_object_object_add(args, "export_stages", ex);
	}
cleanup:
	for (i = 0; i < nt; i++)
		free(t[i]);
	buf_free(&out);
	free(script);
	free(mirror);
	free(mpath);
	free(logp);
	return args;
}

/* /ib-probe.txt of the disk in the artifact (zstd of an MBR disk whose
 * one partition starts at 1 MiB), into out; the disk stays in raw. -1
 * when it cannot be read. */
static int
probe_report(struct vt *vt, const char *art, const char *raw, struct buf *out)
{
	char	*fs = xasprintf("%s?offset=1048576", raw);
	char	*logp = xasprintf("%s/probe-report.log", vt->work);
	char	*xargv[] = { "/bin/sh", "-c", "zstd -qdc \"$1\" > \"$2\"", "sh",
	    (char *)art, (char *)raw, NULL };
	char	*dargv[] = { "debugfs", "-R", "cat /ib-probe.txt", fs, NULL };
	int	 rc = -1;

	if (host_run(xargv, NULL, logp, 120) == 0 &&
	    host_run(dargv, out, logp, 60) == 0 && out->len > 0 &&
	    strstr(out->data, "probe done: ") != NULL)
		rc = 0;
	free(fs);
	free(logp);
	return rc;
}

/* The newest /boot/vmlinuz-VERSION with its initrd.img-VERSION. */
static int
host_kernel(char **kernel, char **initrd)
{
	DIR		*d = opendir("/boot");
	struct dirent	*e;
	char		 best[256] = "";

	*kernel = *initrd = NULL;
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "vmlinuz-", 8) == 0 &&
		    strlen(e->d_name) < sizeof(best) &&
		    strverscmp(e->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", e->d_name);
	closedir(d);
	if (best[0] == '\0')
		return -1;
	*kernel = xasprintf("/boot/%s", best);
	*initrd = xasprintf("/boot/initrd.img-%s", best + 8);
	if (access(*kernel, R_OK) == -1 || access(*initrd, R_OK) == -1) {
		free(*kernel);
		free(*initrd);
		*kernel = *initrd = NULL;
		return -1;
	}
	return 0;
}

/*
 * Boots the disk the domain built: its partition as the root file system
 * of a domain with the host's kernel and initrd (the image carries none),
 * to the marker its own /ib-boot prints with its host name.
 */
static int
boot_image(struct vt *vt, const char *raw, const char *hostname, char *err)
{
	struct vm	*vm = NULL;
	char		*img = xasprintf("%s/executor-image.qcow2", vt->work);
	char		*logp = xasprintf("%s/qemu-img.log", vt->work);
	char		*kernel = NULL, *initrd = NULL, *xml = NULL;
	char		*cargv[] = { "qemu-img", "convert", "-q", "-f", "raw",
	    "-O", "qcow2", (char *)raw, img, NULL };
	char		 got[128];
	int64_t		 t0 = now_ms();
	int		 rc = -1;

	if (host_kernel(&kernel, &initrd) == -1)
		FAIL("no readable /boot/vmlinuz-* and initrd.img-* on the host "
		    "to boot the image's file system with");
	if (host_run(cargv, NULL, logp, 120) != 0)
		FAIL("qemu-img convert of %s failed (see %s)", raw, logp);
	if ((vm = vm_new(vt, "executor-image", img, err)) == NULL)
		goto cleanup;
	xml = xasprintf(
	    "<domain type='qemu'>\n"
	    "  <name>%s</name>\n"
	    "  <memory unit='MiB'>512</memory>\n"
	    "  <vcpu>1</vcpu>\n"
	    "  <os><type arch='x86_64' machine='pc'>hvm</type>"
	    "<kernel>%s</kernel><initrd>%s</initrd>"
	    "<cmdline>console=ttyS0 root=/dev/vda1 ro init=/ib-boot panic=-1"
	    "</cmdline></os>\n"
	    "  <cpu mode='custom' match='exact' check='none'>"
	    "<model fallback='forbid'>qemu64</model></cpu>\n"
	    "  <clock offset='utc'/>\n"
	    "  <on_poweroff>destroy</on_poweroff>\n"
	    "  <on_reboot>destroy</on_reboot>\n"
	    "  <on_crash>destroy</on_crash>\n"
	    "  <devices>\n"
	    "    <disk type='file' device='disk'>\n"
	    "      <driver name='qemu' type='qcow2' cache='unsafe'/>\n"
	    "      <source file='%s'/>\n"
	    "      <target dev='vda' bus='virtio'/>\n"
	    "    </disk>\n"
	    "    <serial type='file'><source path='%s'/>"
	    "<target port='0'/></serial>\n"
	    "    <memballoon model='none'/>\n"
	    "  </devices>\n"
	    "  <seclabel type='static' model='dac' relabel='no'>"
	    "<label>+0:+0</label></seclabel>\n"
	    "</domain>\n", vm->name, kernel, initrd, vm->overlay, vm->serial);
	if (vm_define_start(vt, vm, xml, err) == -1)
		goto cleanup;
	if (console_wait(vm, "IB-VMTEST-MARKER ([^ ]+) booted its own init",
	    180, got, sizeof(got), 1, err) == -1) {
		console_tail(vm, 30);
		FAIL("the image built in the domain did not boot to its init's "
		    "marker in 180 s");
	}
	if (strcmp(got, hostname) != 0)
		FAIL("the booted image says host %s, not %s", got, hostname);
	/* Its init leaves, the kernel restarts, the domain goes off. */
	if (vm_wait_off(vm, 60, err) == -1)
		goto cleanup;
	printf("  the image's file system booted (the host's kernel %s) to "
	    "its /ib-boot marker in %.0f s\n", kernel,
	    (now_ms() - t0) / 1000.0);
	rc = 0;
cleanup:
	vm_free(vt, vm);
	unlink(img);
	free(img);
	free(logp);
	free(kernel);
	free(initrd);
	free(xml);
	return rc;
}

/* Builds the probe with worker w; its report into rep. */
static int
probe_build(struct vt *vt, struct hostworker *w, const char *hostname,
    const char *const *files, const char *raw, struct buf *rep, char *err)
{
	json_object	*args = NULL, *res = NULL;
	char		*id = NULL, *art = NULL;
	char		 scratch[ERRLEN];
	int		 rc = -1;

	if ((args = probe_args(vt, hostname, files, w->cache, err)) == NULL)
		goto cleanup;
	if ((id = queue_enqueue(vt, "osbuild", args, err)) == NULL)
		goto cleanup;
	if ((res = finished_result(vt, id, 900, err)) == NULL)
		goto cleanup;
	art = xasprintf("%s/%s-%s", vt->work, hostname, PROBE_ARTIFACT);
	if (queue_artifact(vt, id, PROBE_ARTIFACT, art, scratch) == -1)
		FAIL("no artifact at the queue: %.900s", scratch);
	if (probe_report(vt, art, raw, rep) == -1)
		FAIL("no probe report in the artifact %s (did the probe run?)",
		    art);
	rc = 0;
cleanup:
	json_object_put(args);
	json_object_put(res);
	if (art != NULL)
		unlink(art);
	free(art);
	free(id);
	return rc;
}

static void
show_report(const char *who, const struct buf *rep)
{
	char	*s = xstrdup(rep->data), *line, *save = NULL;

	for (line = strtok_r(s, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "debugfs", 7) != 0)
			printf("    %s: %s\n", who, line);
	free(s);
}

/* Whether the report has "FOUND KIND WHAT:". */
static int
report_found(const struct buf *rep, const char *kind, const char *what)
{
	char	*l = xasprintf("FOUND %s %s:", kind, what);
	int	 r = strstr(rep->data, l) != NULL;

	free(l);
	return r;
}

int
t_executor(struct vt *vt, char *err)
{
	struct hostworker	 h, w;
	struct buf		 hrep, vrep;
	char			*out = NULL, *creds = NULL, *hcreds = NULL;
	char			*qp = NULL, *raw = NULL;
	char			 dom[128];
	const char		*files[5];
	int64_t			 t0;
	int			 rc = -1;

	buf_init(&hrep);
	buf_init(&vrep);
	hw_init(vt, &h, "executor-host", "host", "executor");
	hw_init(vt, &w, "executor", "qemu.kvm", "executor");
	creds = xasprintf("%s/executor-aws-credentials", vt->work);
	hcreds = xasprintf("%s/executor-host-aws-credentials", vt->work);
	files[0] = w.conf;
	files[1] = creds;
	files[2] = h.conf;
	files[3] = hcreds;
	files[4] = NULL;
	qp = xasprintf("127.0.0.1:%d", vt->queue_port);
	raw = xasprintf("%s/probe-disk.raw", vt->work);

	/* The probe is honest: on the host executor it finds all that. */
	if (hw_start(vt, &h) == -1)
		FAIL("the host-executor worker did not start");
	if (log_wait(&h, "registered as worker", 60) == -1)
		FAIL("the host-executor worker did not register");
	t0 = now_ms();
	if (probe_build(vt, &h, "ibvt-probe-host", files, raw, &hrep,
	    err) == -1)
		goto cleanup;
	printf("  the probe on the host executor (%.0f s):\n",
	    (now_ms() - t0) / 1000.0);
	show_report("host", &hrep);
	host_stop(&h.pid, 30);
	if (!report_found(&hrep, "file", w.conf) ||
	    !report_found(&hrep, "file", creds) ||
	    !report_found(&hrep, "dir", w.cache) ||
	    !report_found(&hrep, "tcp", qp) ||
	    !report_found(&hrep, "process", "ib-worker"))
		FAIL("the probe on the host executor did not find the "
		    "worker's files, queue and process: it proves nothing");

	/* The same probe in the throwaway domain finds nothing. */
	if (hw_start(vt, &w) == -1)
		FAIL("the host worker did not start");
	if (log_wait(&w, "registered as worker", 60) == -1)
		FAIL("the host worker did not register");
	t0 = now_ms();
	if (probe_build(vt, &w, "ibvt-probe-vm", files, raw, &vrep,
	    err) == -1)
		goto cleanup;
	printf("  the probe in the throwaway domain (%.0f s from the "
	    "enqueue):\n", (now_ms() - t0) / 1000.0);
	show_report("vm", &vrep);
	if (strstr(vrep.data, "escaped chroot: yes") == NULL ||
	    strstr(vrep.data, "joined the builder's network: yes") == NULL)
		FAIL("the probe in the domain did not get out of its chroot "
		    "and namespace: it proves nothing");
	if (strstr(vrep.data, "probe done: 0 found") == NULL)
		FAIL("the build in the domain reached what it must not");
	if (!log_has(&w, "domain " EX_PREFIX))
		FAIL("the build did not run in a domain");
	/* Gone afterwards: the domain and its overlay (in output/). */
	if (exec_domains(vt, dom, sizeof(dom)) != 0)
		FAIL("the build domain %s is still there", dom);
	out = xasprintf("%s/output", w.cache);
	if (entries(out) != 0)
		FAIL("%s is not empty after the build: the overlay stayed", out);
	if (!log_has(&w, "executor: build sent") ||
	    !log_has(&w, " destroyed") || !log_has(&w, "tcg, as configured"))
		FAIL("the worker's log lacks the executor's steps");
	printf("  nothing of the worker reached from the throwaway domain; "
	    "domain and overlay gone\n");
	/* The image the domain built boots. */
	if (boot_image(vt, raw, "ibvt-probe-vm", err) == -1)
		goto cleanup;
	rc = 0;
cleanup:
	if (rc == -1) {
		show_log(&h, 20);
		show_log(&w, 40);
	}
	hw_free(&h);
	hw_free(&w);
	sweep_exec_domains(vt);
	buf_free(&hrep);
	buf_free(&vrep);
	free(out);
	free(creds);
	free(hcreds);
	free(qp);
	if (raw != NULL)
		unlink(raw);
	free(raw);
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

	hw_init(vt, &w, "reaper", "qemu.kvm", "reaper");
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
