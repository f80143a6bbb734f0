/*
 * The tests: one worker VM's life (boot, machine check, registration,
 * clean stop), a compose across two worker VMs (depsolve, build, uploads to
 * the composer and to S3), and faults (the queue restarted, a VM destroyed
 * and a VM shut down, each in the middle of a build).
 */
#include <errno.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "vmtest.h"

/* Boot to a registered worker: ~25 s alone under TCG; two VMs share the
 * two cores, and the first boot of an overlay also grows nothing. */
#define BOOT_TIMEOUT	420
/* A minimal Debian built from scratch in a TCG guest; and that image's
 * boot to its marker in a third domain. */
#define VT_BUILD_TIMEOUT	1800
#define VT_IMAGE_BOOT_TIMEOUT	300
#define BUCKET		"images"
#define S3_SECRET	"S3RVER"	/* s3rver's built-in key pair */

static struct vm *boot_vm;
static struct vm *fleet[2];

#define FAIL(...) do {							\
	snprintf(err, ERRLEN, __VA_ARGS__);				\
	goto cleanup;							\
} while (0)

static void deploy_teardown(struct vt *);

void
tests_teardown(struct vt *vt)
{
	size_t i;

	deploy_teardown(vt);
	vm_free(vt, boot_vm);
	boot_vm = NULL;
	for (i = 0; i < nitems(fleet); i++) {
		vm_free(vt, fleet[i]);
		fleet[i] = NULL;
	}
}

static void
show_consoles(struct vm *const *vms, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		console_tail(vms[i], 40);
}

static const char *
jstr(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static json_object *
jget(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

/* The worker logs "registered as worker ID" once the queue took it; the
 * queue must list that id too. */
static int
wait_registered(struct vt *vt, struct vm *vm, int timeout_s, char *err)
{
	char id[128];
	json_object *ws = NULL;
	size_t i, n;
	int rc = -1;

	if (console_wait(vm, "registered as worker ([0-9A-Za-z-]+)",
	    timeout_s, id, sizeof(id), 1, err) == -1)
		goto cleanup;
	free(vm->worker_id);
	vm->worker_id = xstrdup(id);
	if ((ws = queue_workers(vt, err)) == NULL)
		goto cleanup;
	n = json_object_is_type(ws, json_type_array) ?
	    json_object_array_length(ws) : 0;
	for (i = 0; i < n; i++) {
		const char *wid = jstr(json_object_array_get_idx(ws, i), "id");

		if (wid != NULL && strcmp(wid, id) == 0) {
			rc = 0;
			goto cleanup;
		}
	}
	snprintf(err, ERRLEN, "%s says it registered as %s; `ib-queue "
	    "workers` does not list it", vm->name, id);
cleanup:
	json_object_put(ws);
	return rc;
}

/* Two running, registered worker VMs for the compose and fault tests,
 * booted side by side. */
static int
ensure_fleet(struct vt *vt, int want, char *err)
{
	char name[16];
	size_t i;

	for (i = 0; i < nitems(fleet) && (int)i < want; i++) {
		if (fleet[i] != NULL && vm_is_running(fleet[i]))
			continue;
		vm_free(vt, fleet[i]);
		snprintf(name, sizeof(name), "w%zu", i + 1);
		if ((fleet[i] = vm_start(vt, name, err)) == NULL)
			return -1;
	}
	for (i = 0; i < nitems(fleet) && (int)i < want; i++) {
		if (fleet[i]->worker_id != NULL)
			continue;
		if (wait_registered(vt, fleet[i], BOOT_TIMEOUT, err) == -1) {
			show_consoles(fleet, nitems(fleet));
			return -1;
		}
		log_info("%s: worker %s registered %.0f s after start",
		    fleet[i]->name, fleet[i]->worker_id,
		    (now_ms() - fleet[i]->started_ms) / 1000.0);
	}
	return 0;
}

/* An org.osbuild.aws.s3 target to s3rver on the host. */
static json_object *
s3_target_options(struct vt *vt, const char *key)
{
	json_object *o = json_object_new_object();
	char *ep = xasprintf("http://%s:%d", VT_HOST_IP, vt->s3_port);

	json_object_object_add(o, "region", json_object_new_string("us-east-1"));
	json_object_object_add(o, "bucket", json_object_new_string(BUCKET));
	json_object_object_add(o, "key", json_object_new_string(key));
	json_object_object_add(o, "endpoint", json_object_new_string(ep));
	json_object_object_add(o, "accessKeyID",
	    json_object_new_string(S3_SECRET));
	json_object_object_add(o, "secretAccessKey",
	    json_object_new_string(S3_SECRET));
	free(ep);
	return o;
}

static json_object *
target(const char *type, json_object *options)
{
	json_object *t = json_object_new_object();

	json_object_object_add(t, "type", json_object_new_string(type));
	json_object_object_add(t, "options",
	    options ? options : json_object_new_object());
	return t;
}

/*
 * The compose: a minimal Debian 12 (the queue's "minimal" base: sysvinit
 * and the cloud kernel, to keep a build under TCG short) from the host's
 * repository, signed by its own key, as a qcow2 named IMAGE_NAME, uploaded
 * to the composer and to S3 (key s3_key), with /etc/rc.local printing
 * MARKER and the hostname on the serial console when it boots.
 */
#define IMAGE_NAME	"disk.qcow2"
#define MARKER		"IB-VMTEST-MARKER"

static json_object *
compose_request(struct vt *vt, const char *host_ip, const char *hostname,
    json_object *targets, char *err)
{
	json_object *req, *c, *f, *files, *keys;
	char *keypath = xasprintf("%s/key.asc", vt->repo_dir);
	char *mirror = xasprintf("http://%s:%d", host_ip, vt->repo_port);
	size_t keylen = 0;
	char *key;

	if ((key = read_file(keypath, 65536, &keylen)) == NULL) {
		snprintf(err, ERRLEN, "cannot read %s", keypath);
		free(keypath);
		free(mirror);
		json_object_put(targets);
		return NULL;
	}
	req = json_object_new_object();
	json_object_object_add(req, "distribution",
	    json_object_new_string("debian-12"));
	json_object_object_add(req, "base", json_object_new_string("minimal"));
	json_object_object_add(req, "image_type",
	    json_object_new_string("qcow2"));
	json_object_object_add(req, "image_name",
	    json_object_new_string(IMAGE_NAME));
	json_object_object_add(req, "mirror", json_object_new_string(mirror));
	keys = json_object_new_array();
	json_object_array_add(keys, json_object_new_string_len(key,
	    (int)keylen));
	json_object_object_add(req, "gpgkeys", keys);
	c = json_object_new_object();
	json_object_object_add(c, "hostname", json_object_new_string(hostname));
	f = json_object_new_object();
	json_object_object_add(f, "append",
	    json_object_new_string("console=ttyS0,115200n8"));
	json_object_object_add(c, "kernel", f);
	files = json_object_new_array();
	f = json_object_new_object();
	json_object_object_add(f, "path", json_object_new_string("/etc/rc.local"));
	json_object_object_add(f, "data", json_object_new_string(
	    "#!/bin/sh\necho " MARKER " $(cat /etc/hostname) >/dev/ttyS0\n"));
	json_object_object_add(f, "mode", json_object_new_string("0755"));
	json_object_array_add(files, f);
	json_object_object_add(c, "files", files);
	json_object_object_add(req, "customizations", c);
	json_object_object_add(req, "targets", targets);
	free(key);
	free(keypath);
	free(mirror);
	return req;
}

/*
 * The fault tests' build: a composer osbuild job whose manifest
 * (test-vm/fault-manifest.json) makes a small tree, an unbootable 1 GiB
 * disk of it and that disk xz-compressed: real ib-build stages, no
 * download, about a minute under TCG, so a fault lands mid-build. The
 * hostname differs per test, so no VM finds the result in its store.
 */
json_object *
fault_args(struct vt *vt, const char *hostname, char *err)
{
	char *p = xasprintf("%s/test-vm/fault-manifest.json", vt->top);
	json_object *m = json_object_from_file(p), *args, *t, *o, *pn, *a;
	json_object *st;

	free(p);
	st = jget(json_object_array_get_idx(jget(json_object_array_get_idx(
	    jget(m, "pipelines"), 0), "stages"), 0), "options");
	if (st == NULL || jstr(st, "hostname") == NULL) {
		snprintf(err, ERRLEN, "test-vm/fault-manifest.json: no "
		    "hostname stage first");
		json_object_put(m);
		return NULL;
	}
	json_object_object_add(st, "hostname", json_object_new_string(hostname));
	t = json_object_new_object();
	json_object_object_add(t, "uuid", json_object_new_string(hostname));
	json_object_object_add(t, "image_name",
	    json_object_new_string(FAULT_ARTIFACT));
	json_object_object_add(t, "name",
	    json_object_new_string("org.osbuild.worker.server"));
	json_object_object_add(t, "created",
	    json_object_new_string("2026-11-29T00:00:00Z"));
	json_object_object_add(t, "status", json_object_new_string("WAITING"));
	json_object_object_add(t, "options", json_object_new_object());
	o = json_object_new_object();
	json_object_object_add(o, "export_filename",
	    json_object_new_string(FAULT_ARTIFACT));
	json_object_object_add(o, "export_name", json_object_new_string("xz"));
	json_object_object_add(t, "osbuild_artifact", o);
	args = json_object_new_object();
	json_object_object_add(args, "manifest", m);
	a = json_object_new_array();
	json_object_array_add(a, t);
	json_object_object_add(args, "targets", a);
	pn = json_object_new_object();
	json_object_object_add(pn, "build", json_object_new_array());
	a = json_object_new_array();
	json_object_array_add(a, json_object_new_string("tree"));
	json_object_array_add(a, json_object_new_string("image"));
	json_object_array_add(a, json_object_new_string("xz"));
	json_object_object_add(pn, "payload", a);
	json_object_object_add(args, "pipeline_names", pn);
	a = json_object_new_array();
	json_object_array_add(a, json_object_new_string("xz"));
	json_object_object_add(args, "export_stages", a);
	return args;
}

/* Which of the VMs accepted the job (its log line, forwarded from the
 * guest's journal): the index, or -1 after timeout_s. */
static int
wait_accept(struct vm *const *vms, size_t n, const char *id, int timeout_s,
    char *err)
{
	int64_t end = now_ms() + (int64_t)timeout_s * 1000;
	char *re = xasprintf("job accepted[^\n]*job_id=%s", id);
	char scratch[ERRLEN];
	size_t i;
	int found = -1;

	while (found == -1 && now_ms() < end && !vt_interrupted) {
		for (i = 0; i < n && found == -1; i++)
			if (vms[i] != NULL &&
			    console_wait(vms[i], re, 0, NULL, 0, 0, scratch) == 0)
				found = (int)i;
		if (found == -1)
			host_sleep_ms(500);
	}
	if (found == -1)
		snprintf(err, ERRLEN, "no worker VM accepted job %s within %d s",
		    id, timeout_s);
	free(re);
	return found;
}

/* Runs an osbuild job to its end; its result on success (caller frees). */
json_object *
finished_result(struct vt *vt, const char *id, int timeout_s, char *err)
{
	char *state = queue_wait(vt, id, timeout_s, err);
	json_object *res = NULL;

	if (state == NULL)
		return NULL;
	if ((res = queue_result(vt, id, err)) == NULL)
		goto cleanup;
	if (strcmp(state, "success") != 0) {
		snprintf(err, ERRLEN, "job %s ended %s: %.600s", id, state,
		    json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN));
		json_object_put(res);
		res = NULL;
	}
cleanup:
	free(state);
	return res;
}

/* Compares two files byte for byte; their size into *sizep. */
static int
same_file(const char *a, const char *b, long *sizep)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	char x[65536], y[65536];
	long size = 0;
	int rc = -1;

	if (fa == NULL || fb == NULL)
		goto cleanup;
	for (;;) {
		size_t na = fread(x, 1, sizeof(x), fa);
		size_t nb = fread(y, 1, sizeof(y), fb);

		if (na != nb || memcmp(x, y, na) != 0)
			goto cleanup;
		size += (long)na;
		if (na == 0)
			break;
	}
	*sizep = size;
	rc = 0;
cleanup:
	if (fa != NULL)
		fclose(fa);
	if (fb != NULL)
		fclose(fb);
	return rc;
}

/* The figures ib-vmcheck printed ("level check message [k=v ...]"), one
 * line per check, into out. */
static void
vmcheck_figures(struct vm *vm, struct buf *out)
{
	regex_t re;
	regmatch_t m[4];
	const char *p;

	if (vm->console.data == NULL || regcomp(&re,
	    "(pass|warn|fail) +([a-z-]+) +[^\r\n]*\\[([^]\r\n]*)\\]",
	    REG_EXTENDED | REG_NEWLINE) != 0)
		return;
	p = vm->console.data;
	while (regexec(&re, p, 4, m, 0) == 0) {
		buf_printf(out, "%s%.*s: %.*s", out->len ? "; " : "",
		    (int)(m[2].rm_eo - m[2].rm_so), p + m[2].rm_so,
		    (int)(m[3].rm_eo - m[3].rm_so), p + m[3].rm_so);
		p += m[0].rm_eo;
	}
	regfree(&re);
}

/*
 * 1. A worker VM boots, the machine check says TCG with its figures, the
 * worker registers with the host queue, and a shutdown stops it cleanly.
 */
static int
t_boot(struct vt *vt, char *err)
{
	char kvm[512], level[16], verdict[32];
	struct buf figs;
	int rc = -1;
	double boot_s;

	buf_init(&figs);
	if ((boot_vm = vm_start(vt, "boot", err)) == NULL)
		goto cleanup;
	/* Its text report goes to the journal, hence to the console:
	 * "LEVEL kvm MESSAGE [FIGURES]", then the gate's verdict. */
	if (console_wait(boot_vm, "[a-z]{4} +kvm +([^\r\n]+)",
	    BOOT_TIMEOUT, kvm, sizeof(kvm), 0, err) == -1)
		goto cleanup;
	if (console_wait(boot_vm, "([a-z]{4}) +kvm ", 0, level,
	    sizeof(level), 0, err) == -1)
		goto cleanup;
	if (strstr(kvm, "TCG") == NULL)
		FAIL("ib-vmcheck's kvm check does not say TCG: %s %s", level,
		    kvm);
	if (console_wait(boot_vm, "ib-vmcheck: ([a-z]+)", 60, verdict,
	    sizeof(verdict), 0, err) == -1)
		goto cleanup;
	if (wait_registered(vt, boot_vm, BOOT_TIMEOUT, err) == -1)
		goto cleanup;
	boot_s = (now_ms() - boot_vm->started_ms) / 1000.0;
	vmcheck_figures(boot_vm, &figs);
	printf("  boot: worker %s registered %.0f s after start\n",
	    boot_vm->worker_id, boot_s);
	printf("  ib-vmcheck in the guest (%s): kvm %s: %s\n", verdict, level,
	    kvm);
	printf("  ib-vmcheck figures: %s\n", figs.data ? figs.data : "(none)");
	if (vm_shutdown(boot_vm, err) == -1)
		goto cleanup;
	if (console_wait(boot_vm, "drained, exiting", 120, NULL, 0, 1,
	    err) == -1)
		goto cleanup;
	if (vm_wait_off(boot_vm, 180, err) == -1)
		goto cleanup;
	if (console_has(boot_vm, "ib-worker@[^ ]*service: Failed with result"))
		FAIL("the worker unit failed while stopping");
	rc = 0;
cleanup:
	if (rc == -1)
		console_tail(boot_vm, 60);
	vm_free(vt, boot_vm);
	boot_vm = NULL;
	buf_free(&figs);
	return rc;
}

/* The one dependency of a job, as the queue shows it (caller frees). */
static char *
dependency(struct vt *vt, const char *id, char *err)
{
	json_object *show = queue_show(vt, id, err), *deps;
	char *dep = NULL;

	if (show == NULL)
		return NULL;
	deps = jget(show, "dependencies");
	if (deps == NULL || json_object_array_length(deps) != 1 ||
	    !json_object_is_type(json_object_array_get_idx(deps, 0),
	    json_type_string))
		snprintf(err, ERRLEN, "job %s should have one dependency: %.400s",
		    id, json_object_to_json_string(show));
	else
		dep = xstrdup(json_object_get_string(
		    json_object_array_get_idx(deps, 0)));
	json_object_put(show);
	return dep;
}

/*
 * 2. A compose over two worker VMs: depsolve by ib-depsolve in one VM
 * against the host's signed repository, the manifest by the queue, the
 * build by ib-build in a VM, uploads to the composer (worker.server) and
 * to S3; both copies must be the same qcow2, which then boots in a third
 * domain to the marker its customizations put in.
 */
static int
t_compose(struct vt *vt, char *err)
{
	json_object *req = NULL, *res = NULL, *tr;
	char *bid = NULL, *mid = NULL, *did = NULL, *art = NULL, *obj = NULL;
	char *state = NULL, host[64];
	struct vm *img = NULL;
	long got = 0;
	int rc = -1, who;
	size_t i;
	int64_t t0;

	if (ensure_fleet(vt, 2, err) == -1)
		goto cleanup;
	tr = json_object_new_array();
	json_object_array_add(tr, target("org.osbuild.worker.server", NULL));
	json_object_array_add(tr, target("org.osbuild.aws.s3",
	    s3_target_options(vt, "vmtest")));
	if ((req = compose_request(vt, VT_HOST_IP, "ibvt-image", tr,
	    err)) == NULL)
		goto cleanup;
	if ((bid = queue_compose(vt, req, err)) == NULL)
		goto cleanup;
	if ((mid = dependency(vt, bid, err)) == NULL ||
	    (did = dependency(vt, mid, err)) == NULL)
		goto cleanup;

	/* Depsolve, in a VM, against the host's repository. */
	t0 = now_ms();
	if ((who = wait_accept(fleet, 2, did, 120, err)) == -1)
		goto cleanup;
	if ((res = finished_result(vt, did, 900, err)) == NULL)
		goto cleanup;
	tr = jget(jget(res, "package_specs"), "os");
	if (jget(res, "job_error") != NULL || tr == NULL ||
	    json_object_array_length(tr) == 0)
		FAIL("depsolve failed: %.600s", json_object_to_json_string(res));
	printf("  depsolve on %s (ib-depsolve, signed repository on the host):"
	    " %zu packages in %.0f s\n", fleet[who]->name,
	    json_object_array_length(tr), (now_ms() - t0) / 1000.0);
	json_object_put(res);
	res = NULL;
	if ((state = queue_wait(vt, mid, 120, err)) == NULL)
		goto cleanup;
	if (strcmp(state, "success") != 0)
		FAIL("the queue's manifest job ended %s", state);

	/* The build, in a VM, with its two uploads. */
	t0 = now_ms();
	if ((who = wait_accept(fleet, 2, bid, 120, err)) == -1)
		goto cleanup;
	if ((res = finished_result(vt, bid, VT_BUILD_TIMEOUT, err)) == NULL)
		goto cleanup;
	tr = jget(res, "target_results");
	if (tr == NULL || json_object_array_length(tr) != 2)
		FAIL("expected two target results: %.800s",
		    json_object_to_json_string(res));
	for (i = 0; i < 2; i++) {
		json_object *t = json_object_array_get_idx(tr, i);

		if (jget(t, "target_error") != NULL)
			FAIL("target %s failed: %.500s", jstr(t, "name"),
			    json_object_to_json_string(t));
	}
	art = xasprintf("%s/compose-%s", vt->work, IMAGE_NAME);
	if (queue_artifact(vt, bid, IMAGE_NAME, art, err) == -1)
		goto cleanup;
	if ((obj = s3_object_path(vt, BUCKET, "vmtest-" IMAGE_NAME)) == NULL)
		FAIL("s3rver has no object %s/vmtest-%s", BUCKET, IMAGE_NAME);
	if (same_file(art, obj, &got) == -1)
		FAIL("the composer's artifact and the S3 object differ");
	{
		unsigned char head[4] = { 0 };
		FILE *f = fopen(art, "rb");

		if (f == NULL || fread(head, 1, 4, f) != 4 ||
		    memcmp(head, "QFI\xfb", 4) != 0) {
			if (f != NULL)
				fclose(f);
			FAIL("the artifact is not a qcow2 image");
		}
		fclose(f);
	}
	printf("  build on %s (ib-build): %.0f s; %ld bytes of qcow2 to the "
	    "composer and to S3, identical\n", fleet[who]->name,
	    (now_ms() - t0) / 1000.0, got);

	/* The image boots, in a domain of its own. */
	t0 = now_ms();
	if ((img = vm_start_image(vt, "image", art, err)) == NULL)
		goto cleanup;
	if (console_wait(img, MARKER " ([A-Za-z0-9.-]+)", VT_IMAGE_BOOT_TIMEOUT,
	    host, sizeof(host), 0, err) == -1) {
		console_tail(img, 40);
		goto cleanup;
	}
	if (strcmp(host, "ibvt-image") != 0)
		FAIL("the image booted as %s, not ibvt-image", host);
	printf("  the image booted in %s to its marker (%s) in %.0f s\n",
	    img->name, host, (now_ms() - t0) / 1000.0);
	rc = 0;
cleanup:
	if (rc == -1)
		show_consoles(fleet, nitems(fleet));
	vm_free(vt, img);
	json_object_put(req);
	json_object_put(res);
	free(bid);
	free(mid);
	free(did);
	free(state);
	if (art != NULL && !vt->keep)
		unlink(art);
	free(art);
	free(obj);
	return rc;
}

/* Enqueues the fault build (hostname tag) and returns the index of the
 * fleet VM that took it. */
static int
start_build(struct vt *vt, const char *tag, char **idp, char *err)
{
	json_object *args;
	int who = -1;

	if ((args = fault_args(vt, tag, err)) == NULL)
		return -1;
	if ((*idp = queue_enqueue(vt, "osbuild", args, err)) != NULL)
		who = wait_accept(fleet, nitems(fleet), *idp, 120, err);
	json_object_put(args);
	return who;
}

/* 3a. The host queue killed and restarted mid-build: the job completes
 * with its first token, nothing requeued, the artifact kept. */
static int
t_queue_restart(struct vt *vt, char *err)
{
	json_object *res = NULL, *show = NULL;
	char *id = NULL, *art = NULL;
	char scratch[ERRLEN];
	int rc = -1, who;
	int64_t requeues;

	if (ensure_fleet(vt, 2, err) == -1)
		goto cleanup;
	if ((who = start_build(vt, "ibvt-restart", &id, err)) == -1)
		goto cleanup;
	host_sleep_ms(3000);
	queue_stop(vt, SIGKILL);
	host_sleep_ms(5000);
	if (queue_start(vt, 0) == -1)
		FAIL("the queue did not come back on port %d", vt->queue_port);
	if ((res = finished_result(vt, id, 600, err)) == NULL)
		goto cleanup;
	if ((show = queue_show(vt, id, err)) == NULL)
		goto cleanup;
	requeues = json_object_get_int64(jget(show, "requeues"));
	if (requeues != 0 || json_object_array_length(jget(show, "tokens")) != 1)
		FAIL("the restart cost a requeue (requeues %lld): %.600s",
		    (long long)requeues, json_object_to_json_string(show));
	art = xasprintf("%s/restart-%s", vt->work, FAULT_ARTIFACT);
	if (queue_artifact(vt, id, FAULT_ARTIFACT, art, scratch) == -1)
		FAIL("the artifact did not survive the restart: %.900s", scratch);
	printf("  build on %s survived a queue restart: same token, "
	    "no requeue, artifact kept\n", fleet[who]->name);
	rc = 0;
cleanup:
	if (rc == -1)
		show_consoles(fleet, nitems(fleet));
	json_object_put(res);
	json_object_put(show);
	if (art != NULL)
		unlink(art);
	free(art);
	free(id);
	return rc;
}

/* 3b. A worker VM destroyed mid-build: after the heartbeat timeout the job
 * goes back to the queue and the other VM completes it. */
static int
t_vm_destroyed(struct vt *vt, char *err)
{
	json_object *res = NULL, *show = NULL, *toks;
	char *id = NULL, *re = NULL;
	char scratch[ERRLEN];
	int rc = -1, who, other;
	int64_t t0;
	size_t n;
	const char *first, *last;

	if (ensure_fleet(vt, 2, err) == -1)
		goto cleanup;
	if ((who = start_build(vt, "ibvt-destroyed", &id, err)) == -1)
		goto cleanup;
	other = 1 - who;
	host_sleep_ms(4000);
	if (vm_destroy(fleet[who], err) == -1)
		goto cleanup;
	t0 = now_ms();
	if ((res = finished_result(vt, id, 600, err)) == NULL)
		goto cleanup;
	if ((show = queue_show(vt, id, err)) == NULL)
		goto cleanup;
	toks = jget(show, "tokens");
	n = toks ? json_object_array_length(toks) : 0;
	if (json_object_get_int64(jget(show, "requeues")) != 1 || n != 2)
		FAIL("expected one requeue and two tokens: %.600s",
		    json_object_to_json_string(show));
	first = jstr(json_object_array_get_idx(toks, 0), "worker_id");
	last = jstr(json_object_array_get_idx(toks, 1), "worker_id");
	if (first == NULL || last == NULL ||
	    strcmp(first, fleet[who]->worker_id) != 0 ||
	    strcmp(last, fleet[other]->worker_id) != 0)
		FAIL("the job should go from %s to %s: %.600s",
		    fleet[who]->worker_id, fleet[other]->worker_id,
		    json_object_to_json_string(toks));
	re = xasprintf("job finished after[^\n]*job_id=%s", id);
	if (console_wait(fleet[other], re, 30, NULL, 0, 0, scratch) == -1)
		FAIL("%.1000s", scratch);
	printf("  %s destroyed mid-build; %s finished the job %.0f s later\n",
	    fleet[who]->name, fleet[other]->name, (now_ms() - t0) / 1000.0);
	rc = 0;
cleanup:
	if (rc == -1)
		show_consoles(fleet, nitems(fleet));
	if (rc == 0 && who >= 0) {
		vm_free(vt, fleet[who]);
		fleet[who] = NULL;
	}
	json_object_put(res);
	json_object_put(show);
	free(re);
	free(id);
	return rc;
}

/* 3c. A worker VM shut down mid-build: systemd stops the worker, which
 * drains: the job completes and is reported before the power goes off. */
static int
t_vm_shutdown(struct vt *vt, char *err)
{
	json_object *show = NULL;
	char *id = NULL, *re = NULL;
	const char *state;
	int rc = -1, who;
	int64_t t0;

	/* One VM is enough (the destroy test leaves one). */
	if ((fleet[0] == NULL || !vm_is_running(fleet[0])) &&
	    (fleet[1] == NULL || !vm_is_running(fleet[1])) &&
	    ensure_fleet(vt, 1, err) == -1)
		goto cleanup;
	if ((who = start_build(vt, "ibvt-shutdown", &id, err)) == -1)
		goto cleanup;
	host_sleep_ms(3000);
	t0 = now_ms();
	if (vm_shutdown(fleet[who], err) == -1)
		goto cleanup;
	if (vm_wait_off(fleet[who], 600, err) == -1)
		goto cleanup;
	/* Off now: the job must already be finished, by this VM. */
	if ((show = queue_show(vt, id, err)) == NULL)
		goto cleanup;
	state = jstr(show, "state");
	if (state == NULL || strcmp(state, "success") != 0)
		FAIL("the VM powered off with the job %s", state ? state : "?");
	if (json_object_get_int64(jget(show, "requeues")) != 0)
		FAIL("the job was requeued");
	re = xasprintf("job finished after[^\n]*job_id=%s", id);
	if (console_wait(fleet[who], re, 0, NULL, 0, 1, err) == -1)
		goto cleanup;
	if (console_wait(fleet[who], "drained, exiting", 0, NULL, 0, 1,
	    err) == -1)
		FAIL("no \"drained\" after the job on %s's console",
		    fleet[who]->name);
	printf("  %s shut down mid-build: the job finished, the worker "
	    "drained, power off after %.0f s\n", fleet[who]->name,
	    (now_ms() - t0) / 1000.0);
	rc = 0;
cleanup:
	if (rc == -1)
		show_consoles(fleet, nitems(fleet));
	json_object_put(show);
	free(re);
	free(id);
	return rc;
}

/*
 * The deployed instance: the image as `make ami PLATFORM=local` built it,
 * unmodified, with the user data the worker-fleet module renders from its
 * own template and its cloud on the host (test-vm/doubles/cloud.py).
 */
#define DEPLOY_REGION		"eu-test-1"
#define DEPLOY_S3_SECRET	"ibvt/s3-credentials"
/* The worker's default [worker] machine_fault_limit: after this many
 * machine-fault failures in a row it marks its instance Unhealthy. */
#define BREAKER_LIMIT		3
#define BROKEN_JOBS		(BREAKER_LIMIT + 3)
/* A cache volume too small for any build: first boot formats and mounts
 * it, ib-vmcheck only warns, every build runs out of space. */
#define BROKEN_CACHE_BYTES	(8LL << 20)
#define DEPLOY_CACHE_BYTES	(6LL << 30)
/* Boot, first boot (metadata, secrets, mkfs of the cache volume), the
 * worker's start: longer than a configured worker's boot. */
#define DEPLOY_BOOT_TIMEOUT	900

static struct vm *deploy_vm;
static struct cloud deploy_cloud;

static void
deploy_teardown(struct vt *vt)
{
	vm_free(vt, deploy_vm);
	deploy_vm = NULL;
	cloud_stop(&deploy_cloud);
}

/* The cloud double's configuration: the module's variables as an operator
 * gives them, pointed at the host (the composer is the host's queue; the
 * AWS endpoints, service_endpoints, are filled in by the double). */
static json_object *
deploy_config(struct vt *vt, const char *name, int with_secret)
{
	json_object *cfg = json_object_new_object();
	json_object *tf = json_object_new_object(), *a, *sec;
	char *composer = xasprintf("http://%s:%d", VT_DEPLOY_HOST_IP,
	    vt->queue_port);
	char *s3 = xasprintf("http://%s:%d", VT_DEPLOY_HOST_IP, vt->s3_port);
	char *iid = xasprintf("i-0%016llx", (unsigned long long)now_ms());

	json_object_object_add(tf, "name", json_object_new_string(name));
	json_object_object_add(tf, "composer_address",
	    json_object_new_string(composer));
	json_object_object_add(tf, "composer_base_path",
	    json_object_new_string("/api/worker/v1"));
	a = json_object_new_array();
	json_object_array_add(a,
	    json_object_new_string("subnet-0123456789abcdef0"));
	json_object_object_add(tf, "subnet_ids", a);
	json_object_object_add(tf, "image_bucket_name",
	    json_object_new_string(BUCKET));
	json_object_object_add(tf, "cache_volume_device",
	    json_object_new_string("/dev/sdb"));
	sec = json_object_new_object();
	if (with_secret)
		json_object_object_add(sec, "aws_credentials",
		    json_object_new_string(DEPLOY_S3_SECRET));
	json_object_object_add(tf, "secrets", sec);
	json_object_object_add(cfg, "tfvars", tf);
	json_object_object_add(cfg, "host_ip",
	    json_object_new_string(VT_DEPLOY_HOST_IP));
	json_object_object_add(cfg, "region",
	    json_object_new_string(DEPLOY_REGION));
	json_object_object_add(cfg, "instance_id", json_object_new_string(iid));
	json_object_object_add(cfg, "s3_endpoint", json_object_new_string(s3));
	sec = json_object_new_object();
	/* s3rver's built-in key pair, as Secrets Manager would hold it. */
	json_object_object_add(sec, DEPLOY_S3_SECRET, json_object_new_string(
	    "{\"access_key_id\":\"" S3_SECRET "\",\"secret_access_key\":\""
	    S3_SECRET "\"}"));
	json_object_object_add(cfg, "secrets", sec);
	free(composer);
	free(s3);
	free(iid);
	return cfg;
}

/* Starts the cloud double and the instance; the module must render the
 * endpoints (interfaces.md point 1), else the instance would call AWS. */
static int
deploy_start(struct vt *vt, const char *name, int with_secret,
    long long cache_bytes, char *err)
{
	json_object *cfg = deploy_config(vt, name, with_secret), *ep;
	int rc = -1;

	if (cloud_start(vt, name, cfg, &deploy_cloud, err) == -1)
		goto cleanup;
	if (!json_object_object_get_ex(deploy_cloud.user_data, "endpoints",
	    &ep) || !json_object_is_type(ep, json_type_object))
		FAIL("the module's user data has no endpoints (variables it "
		    "does not declare: %s): the instance would call AWS itself",
		    deploy_cloud.undeclared ? json_object_to_json_string(
		    deploy_cloud.undeclared) : "none");
	printf("  user data rendered by the module (terraform console): "
	    "%.900s\n", json_object_to_json_string_ext(deploy_cloud.user_data,
	    JSON_C_TO_STRING_PLAIN));
	if ((deploy_vm = vm_start_deployed(vt, name + strlen(VT_PREFIX),
	    deploy_cloud.imds_port, deploy_cloud.relay_log, cache_bytes,
	    err)) == NULL)
		goto cleanup;
	rc = 0;
cleanup:
	json_object_put(cfg);
	return rc;
}

static int
listed(json_object *workers, const char *id)
{
	size_t i, n = workers && json_object_is_type(workers, json_type_array) ?
	    json_object_array_length(workers) : 0;

	for (i = 0; i < n; i++) {
		const char *w = jstr(json_object_array_get_idx(workers, i), "id");

		if (w != NULL && strcmp(w, id) == 0)
			return 1;
	}
	return 0;
}

/* The deployed worker logs to the journal only (the image forwards nothing
 * to the console): it has registered when the queue lists a worker that
 * was not there before it booted. */
static int
wait_new_worker(struct vt *vt, struct vm *vm, json_object *before,
    int timeout_s, char *err)
{
	int64_t end = now_ms() + (int64_t)timeout_s * 1000;
	json_object *ws;
	size_t i;

	while (now_ms() < end && !vt_interrupted) {
		console_poll(vm);
		if (!vm_is_running(vm)) {
			snprintf(err, ERRLEN, "%s stopped before its worker "
			    "registered", vm->name);
			return -1;
		}
		if ((ws = queue_workers(vt, err)) != NULL) {
			for (i = 0; json_object_is_type(ws, json_type_array) &&
			    i < json_object_array_length(ws); i++) {
				const char *id = jstr(
				    json_object_array_get_idx(ws, i), "id");

				if (id != NULL && !listed(before, id)) {
					vm->worker_id = xstrdup(id);
					json_object_put(ws);
					return 0;
				}
			}
			json_object_put(ws);
		}
		host_sleep_ms(3000);
	}
	snprintf(err, ERRLEN, "no new worker registered with the queue within "
	    "%d s of %s's start", timeout_s, vm->name);
	return -1;
}

/* Waits for f(state) to hold; the last state in *stp (caller frees). */
static int
wait_cloud(int (*f)(json_object *), int timeout_s, json_object **stp)
{
	int64_t end = now_ms() + (int64_t)timeout_s * 1000;

	for (;;) {
		json_object_put(*stp);
		*stp = cloud_state(&deploy_cloud);
		if (*stp != NULL && f(*stp))
			return 0;
		if (now_ms() > end || vt_interrupted)
			return -1;
		if (deploy_vm != NULL)
			console_poll(deploy_vm);
		host_sleep_ms(1000);
	}
}

static const char *want_log;

static int
has_log(json_object *st)
{
	return cloud_log_lines(st, want_log) > 0;
}

static int
lifecycle_done(json_object *st)
{
	return cloud_calls(st, "CompleteLifecycleAction") > 0;
}

static int
marked_unhealthy(json_object *st)
{
	json_object *h;
	size_t i;

	if (!json_object_object_get_ex(st, "health", &h))
		return 0;
	for (i = 0; i < json_object_array_length(h); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(h,
		    i)), "Unhealthy") == 0)
			return 1;
	return 0;
}

/* Nothing was refused: no IMDSv1 try, no call with a bad signature or
 * for another group, hook or log group. */
static int
cloud_clean(json_object *st, char *err)
{
	json_object *v;

	if (json_object_object_get_ex(st, "imds_v1", &v) &&
	    json_object_get_int(v) != 0) {
		snprintf(err, ERRLEN, "%d IMDSv1 requests", json_object_get_int(v));
		return -1;
	}
	if (json_object_object_get_ex(st, "rejected", &v) &&
	    json_object_array_length(v) != 0) {
		snprintf(err, ERRLEN, "Auto Scaling refused calls: %.600s",
		    json_object_to_json_string(v));
		return -1;
	}
	return 0;
}

/* The secret was read from Secrets Manager. */
static int
secret_read(json_object *st, const char *name)
{
	json_object *v;
	size_t i;

	if (!json_object_object_get_ex(st, "secrets_read", &v))
		return 0;
	for (i = 0; i < json_object_array_length(v); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(v,
		    i)), name) == 0)
			return 1;
	return 0;
}

static void
free_others(struct vt *vt)
{
	size_t i;

	/* Only the deployed instance may take the jobs. */
	vm_free(vt, boot_vm);
	boot_vm = NULL;
	for (i = 0; i < nitems(fleet); i++) {
		vm_free(vt, fleet[i]);
		fleet[i] = NULL;
	}
	deploy_teardown(vt);
}

/*
 * 4. The deployment as deployed: first boot configures the worker from the
 * module's user data (its secret from Secrets Manager), the worker registers
 * with the host's queue and builds a compose (depsolve, build, uploads to
 * the composer and to S3 with the secret's keys and the bucket and endpoint
 * the user data names), its log lines reach CloudWatch Logs, and a scale-in
 * drains it: lifecycle action completed, then the domain goes off (as the
 * group terminates it) and the worker's final lines are at CloudWatch Logs.
 */
static int
t_deploy(struct vt *vt, char *err)
{
	json_object *before = NULL, *st = NULL, *req = NULL, *res = NULL;
	json_object *show = NULL, *tr;
	char *bid = NULL, *mid = NULL, *did = NULL, *state = NULL;
	char *art = NULL, *obj = NULL, *re = NULL;
	const char *who;
	long got = 0;
	int rc = -1;
	int64_t t0;

	free_others(vt);
	if ((before = queue_workers(vt, err)) == NULL)
		goto cleanup;
	if (deploy_start(vt, "ibvt-deploy", 1, DEPLOY_CACHE_BYTES, err) == -1)
		goto cleanup;
	if (wait_new_worker(vt, deploy_vm, before, DEPLOY_BOOT_TIMEOUT,
	    err) == -1)
		goto cleanup;
	printf("  %s: first boot configured it; worker %s registered %.0f s "
	    "after start\n", deploy_vm->name, deploy_vm->worker_id,
	    (now_ms() - deploy_vm->started_ms) / 1000.0);
	st = cloud_state(&deploy_cloud);
	if (st == NULL || !secret_read(st, DEPLOY_S3_SECRET))
		FAIL("first boot did not read %s from Secrets Manager",
		    DEPLOY_S3_SECRET);

	/* A compose: the S3 target names only a region and a key; bucket,
	 * endpoint and keys come from what first boot wrote. */
	tr = json_object_new_array();
	json_object_array_add(tr, target("org.osbuild.worker.server", NULL));
	{
		json_object *o = json_object_new_object();

		json_object_object_add(o, "region",
		    json_object_new_string("us-east-1"));
		json_object_object_add(o, "key",
		    json_object_new_string("deploy"));
		json_object_array_add(tr, target("org.osbuild.aws.s3", o));
	}
	if ((req = compose_request(vt, VT_DEPLOY_HOST_IP, "ibvt-deployed", tr,
	    err)) == NULL)
		goto cleanup;
	t0 = now_ms();
	if ((bid = queue_compose(vt, req, err)) == NULL)
		goto cleanup;
	if ((mid = dependency(vt, bid, err)) == NULL ||
	    (did = dependency(vt, mid, err)) == NULL)
		goto cleanup;
	if ((res = finished_result(vt, did, 900, err)) == NULL)
		goto cleanup;
	if (jget(res, "job_error") != NULL)
		FAIL("depsolve failed: %.600s", json_object_to_json_string(res));
	json_object_put(res);
	res = NULL;
	if ((state = queue_wait(vt, mid, 120, err)) == NULL)
		goto cleanup;
	if (strcmp(state, "success") != 0)
		FAIL("the queue's manifest job ended %s", state);
	if ((res = finished_result(vt, bid, VT_BUILD_TIMEOUT, err)) == NULL)
		goto cleanup;
	tr = jget(res, "target_results");
	if (tr == NULL || json_object_array_length(tr) != 2 ||
	    jget(json_object_array_get_idx(tr, 0), "target_error") != NULL ||
	    jget(json_object_array_get_idx(tr, 1), "target_error") != NULL)
		FAIL("the targets did not both succeed: %.800s",
		    json_object_to_json_string(res));
	if ((show = queue_show(vt, bid, err)) == NULL)
		goto cleanup;
	who = jstr(json_object_array_get_idx(jget(show, "tokens"), 0),
	    "worker_id");
	if (who == NULL || strcmp(who, deploy_vm->worker_id) != 0)
		FAIL("the build ran on %s, not on the deployed worker %s",
		    who ? who : "?", deploy_vm->worker_id);
	art = xasprintf("%s/deploy-%s", vt->work, IMAGE_NAME);
	if (queue_artifact(vt, bid, IMAGE_NAME, art, err) == -1)
		goto cleanup;
	if ((obj = s3_object_path(vt, BUCKET, "deploy-" IMAGE_NAME)) == NULL)
		FAIL("s3rver has no object %s/deploy-%s", BUCKET, IMAGE_NAME);
	if (same_file(art, obj, &got) == -1)
		FAIL("the composer's artifact and the S3 object differ");
	printf("  compose on the deployed worker: %.0f s; %ld bytes to the "
	    "composer and to S3 (bucket and keys from first boot), "
	    "identical\n", (now_ms() - t0) / 1000.0, got);

	/* Its log lines reach CloudWatch Logs while it runs. */
	re = xasprintf("job finished after.*job_id=%s", bid);
	want_log = re;
	if (wait_cloud(has_log, 60, &st) == -1)
		FAIL("no \"job finished ... job_id=%s\" line at the CloudWatch "
		    "Logs double within 60 s of the job's end", bid);

	/* Scale-in: the group picks it (not protected: it is idle). */
	t0 = now_ms();
	if (cloud_terminate(&deploy_cloud) == -1)
		FAIL("cannot ask the double for a scale-in");
	if (wait_cloud(lifecycle_done, 300, &st) == -1)
		FAIL("no CompleteLifecycleAction within 300 s of the scale-in");
	printf("  scale-in: the worker drained and completed the lifecycle "
	    "action in %.0f s\n", (now_ms() - t0) / 1000.0);
	/* The group terminates the instance: an ACPI shutdown here. */
	if (vm_shutdown(deploy_vm, err) == -1 ||
	    vm_wait_off(deploy_vm, 300, err) == -1)
		goto cleanup;
	json_object_put(st);
	st = cloud_state(&deploy_cloud);
	if (st == NULL || cloud_log_lines(st, "lifecycle action completed") ==
	    0)
		FAIL("the worker's last lines (\"lifecycle action completed\") "
		    "never reached CloudWatch Logs");
	if (cloud_log_lines(st, "drained, exiting") == 0)
		FAIL("\"drained, exiting\" never reached CloudWatch Logs");
	if (cloud_clean(st, err) == -1)
		goto cleanup;
	printf("  %d log lines at CloudWatch Logs, the final ones included; "
	    "the domain off %.0f s after the scale-in\n",
	    cloud_log_lines(st, "."), (now_ms() - t0) / 1000.0);
	rc = 0;
cleanup:
	if (rc == -1) {
		if (deploy_vm != NULL)
			console_tail(deploy_vm, 60);
		cloud_show(&deploy_cloud);
		if (deploy_vm != NULL)
			guest_journal(vt, deploy_vm);
	}
	deploy_teardown(vt);
	json_object_put(before);
	json_object_put(st);
	json_object_put(req);
	json_object_put(res);
	json_object_put(show);
	free(bid);
	free(mid);
	free(did);
	free(state);
	if (art != NULL && !vt->keep)
		unlink(art);
	free(art);
	free(obj);
	free(re);
	return rc;
}

/*
 * 5. An instance whose builder cannot work (its cache volume is far too
 * small: every build runs out of space, a machine fault): the worker fails
 * at most BREAKER_LIMIT jobs, marks its instance Unhealthy (SetInstanceHealth
 * at the Auto Scaling double) and takes no more; the other jobs wait in the
 * queue for a healthy worker.
 */
static int
t_broken_builder(struct vt *vt, char *err)
{
	json_object *before = NULL, *st = NULL, *args = NULL, *show = NULL;
	char *ids[BROKEN_JOBS] = { NULL };
	char tag[64];
	int rc = -1, i, taken = 0, failed = 0, pending = 0;
	int64_t t0;

	free_others(vt);
	if ((before = queue_workers(vt, err)) == NULL)
		goto cleanup;
	if (deploy_start(vt, "ibvt-broken", 0, BROKEN_CACHE_BYTES, err) == -1)
		goto cleanup;
	if (wait_new_worker(vt, deploy_vm, before, DEPLOY_BOOT_TIMEOUT,
	    err) == -1)
		goto cleanup;
	printf("  %s (cache volume %lld MiB): worker %s registered %.0f s "
	    "after start\n", deploy_vm->name, BROKEN_CACHE_BYTES >> 20,
	    deploy_vm->worker_id, (now_ms() - deploy_vm->started_ms) / 1000.0);
	for (i = 0; i < BROKEN_JOBS; i++) {
		snprintf(tag, sizeof(tag), "ibvt-broken-%d", i + 1);
		if ((args = fault_args(vt, tag, err)) == NULL)
			goto cleanup;
		if ((ids[i] = queue_enqueue(vt, "osbuild", args, err)) == NULL)
			goto cleanup;
		json_object_put(args);
		args = NULL;
	}
	t0 = now_ms();
	if (wait_cloud(marked_unhealthy, 900, &st) == -1)
		FAIL("the instance was not marked Unhealthy within 900 s of "
		    "%d jobs", BROKEN_JOBS);
	printf("  marked Unhealthy %.0f s after the jobs were queued\n",
	    (now_ms() - t0) / 1000.0);
	/* It must take nothing more: give it time to (wrongly) do so. */
	host_sleep_ms(30000);
	for (i = 0; i < BROKEN_JOBS; i++) {
		json_object *toks;
		const char *state;
		size_t k;
		int mine = 0;

		json_object_put(show);
		if ((show = queue_show(vt, ids[i], err)) == NULL)
			goto cleanup;
		toks = jget(show, "tokens");
		for (k = 0; toks != NULL && k < json_object_array_length(toks);
		    k++) {
			const char *w = jstr(json_object_array_get_idx(toks, k),
			    "worker_id");

			if (w != NULL && strcmp(w, deploy_vm->worker_id) == 0)
				mine = 1;
		}
		state = jstr(show, "state");
		taken += mine;
		if (state != NULL && strcmp(state, "failure") == 0)
			failed++;
		if (state != NULL && strcmp(state, "pending") == 0)
			pending++;
	}
	/*
	 * Why it left must be at the CloudWatch Logs double: a run of
	 * machine faults, or (failing no job) a cache that can never take
	 * a build; never for nothing.
	 */
	want_log = "(failures in a row were this machine's fault|this "
	    "machine can never build)";
	if (wait_cloud(has_log, 60, &st) == -1)
		FAIL("marked Unhealthy after %d failed jobs, but no line at the "
		    "CloudWatch Logs double says it was the machine's fault",
		    failed);
	if (taken > BREAKER_LIMIT || failed > BREAKER_LIMIT)
		FAIL("the broken worker took %d jobs and failed %d (limit %d)",
		    taken, failed, BREAKER_LIMIT);
	if (pending != BROKEN_JOBS - taken)
		FAIL("%d jobs pending, expected the %d it did not take",
		    pending, BROKEN_JOBS - taken);
	if (cloud_clean(st, err) == -1)
		goto cleanup;
	printf("  it failed %d of %d jobs (limit %d), left %d in the queue, "
	    "and took no more\n", failed, BROKEN_JOBS, BREAKER_LIMIT, pending);
	rc = 0;
cleanup:
	if (rc == -1) {
		if (deploy_vm != NULL)
			console_tail(deploy_vm, 60);
		cloud_show(&deploy_cloud);
		if (deploy_vm != NULL)
			guest_journal(vt, deploy_vm);
	}
	/* Its jobs must not wait for the next test's workers. */
	for (i = 0; i < BROKEN_JOBS; i++) {
		if (ids[i] != NULL)
			queue_cancel(vt, ids[i]);
		free(ids[i]);
	}
	deploy_teardown(vt);
	json_object_put(before);
	json_object_put(st);
	json_object_put(args);
	json_object_put(show);
	return rc;
}

/*
 * aarch64-worker (named only): the arm64 worker image, as `make ami
 * ARCH=aarch64 PLATFORM=local` builds it (run.sh builds it when it is
 * missing or older than what goes into it), configured like the x86_64
 * workers (guest_prepare_image) and booted in an aarch64 domain under TCG
 * with AAVMF: its worker must register with the host queue as an aarch64
 * worker.
 */
#define ARM_WORKER_TIMEOUT	900

int
t_aarch64_worker(struct vt *vt, char *err)
{
	char *image = xasprintf("%s/build-arm64/images/worker.qcow2", vt->top);
	char *base = NULL;
	struct vm *vm = NULL;
	json_object *ws = NULL;
	const char *arch = NULL;
	size_t i, n;
	int rc = -1;

	if (access(image, R_OK) == -1)
		FAIL("%s: %s (make ami ARCH=aarch64 PLATFORM=local)", image,
		    strerror(errno));
	if (guest_prepare_image(vt, image, "ttyAMA0", "base-aarch64", &base,
	    err) == -1)
		goto cleanup;
	if ((vm = vm_start_arm(vt, "aarch64-worker", base, err)) == NULL)
		goto cleanup;
	if (wait_registered(vt, vm, ARM_WORKER_TIMEOUT, err) == -1) {
		console_tail(vm, 40);
		goto cleanup;
	}
	if ((ws = queue_workers(vt, err)) == NULL)
		goto cleanup;
	n = json_object_is_type(ws, json_type_array) ?
	    json_object_array_length(ws) : 0;
	for (i = 0; i < n; i++) {
		json_object *w = json_object_array_get_idx(ws, i);

		if (jstr(w, "id") != NULL &&
		    strcmp(jstr(w, "id"), vm->worker_id) == 0)
			arch = jstr(w, "arch");
	}
	if (arch == NULL || strcmp(arch, "aarch64") != 0)
		FAIL("worker %s registered as %s, not aarch64", vm->worker_id,
		    arch != NULL ? arch : "(no arch)");
	printf("  aarch64-worker: worker %s (aarch64) registered %.0f s after "
	    "start\n", vm->worker_id, (now_ms() - vm->started_ms) / 1000.0);
	rc = 0;
cleanup:
	vm_free(vt, vm);
	json_object_put(ws);
	if (base != NULL)
		unlink(base);
	free(base);
	free(image);
	return rc;
}

const struct vt_test vt_tests[] = {
	{ "boot", t_boot, 0 },
	{ "compose", t_compose, 0 },
	{ "queue-restart", t_queue_restart, 0 },
	{ "vm-destroyed", t_vm_destroyed, 0 },
	{ "vm-shutdown", t_vm_shutdown, 0 },
	{ "deploy", t_deploy, 0 },
	{ "broken-builder", t_broken_builder, 0 },
	{ "executor", t_executor, 0 },
	{ "executor-reaper", t_executor_reaper, 0 },
	{ "uefi", t_uefi, 0 },
	{ "hybrid", t_hybrid, 0 },
	{ "aarch64", t_aarch64, 1 },
	{ "aarch64-worker", t_aarch64_worker, 1 },
	{ NULL, NULL, 0 },
};
