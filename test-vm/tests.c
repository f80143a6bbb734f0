/*
 * The tests: one worker VM's life (boot, machine check, registration,
 * clean stop), a compose across two worker VMs (depsolve, build, uploads to
 * the composer and to S3), and faults (the queue restarted, a VM destroyed
 * and a VM shut down, each in the middle of a build).
 */
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

void
tests_teardown(struct vt *vt)
{
	size_t i;

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
compose_request(struct vt *vt, const char *hostname, const char *s3_key,
    char *err)
{
	json_object *req, *c, *f, *files, *keys, *targets;
	char *keypath = xasprintf("%s/key.asc", vt->repo_dir);
	char *mirror = xasprintf("http://%s:%d", VT_HOST_IP, vt->repo_port);
	size_t keylen = 0;
	char *key;

	if ((key = read_file(keypath, 65536, &keylen)) == NULL) {
		snprintf(err, ERRLEN, "cannot read %s", keypath);
		free(keypath);
		free(mirror);
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
	targets = json_object_new_array();
	json_object_array_add(targets, target("org.osbuild.worker.server",
	    NULL));
	json_object_array_add(targets, target("org.osbuild.aws.s3",
	    s3_target_options(vt, s3_key)));
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
#define FAULT_ARTIFACT	"disk.raw.xz"

static json_object *
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
static json_object *
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
	if ((req = compose_request(vt, "ibvt-image", "vmtest", err)) == NULL)
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

const struct vt_test vt_tests[] = {
	{ "boot", t_boot },
	{ "compose", t_compose },
	{ "queue-restart", t_queue_restart },
	{ "vm-destroyed", t_vm_destroyed },
	{ "vm-shutdown", t_vm_shutdown },
	{ NULL, NULL },
};
