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

static json_object *
fixture(struct vt *vt, const char *name, char *err)
{
	char *p = xasprintf("%s/worker/tests/fixtures/%s", vt->top, name);
	json_object *o = json_object_from_file(p);

	if (o == NULL)
		snprintf(err, ERRLEN, "cannot read %s", p);
	free(p);
	return o;
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

/*
 * The captured composer osbuild job: its manifest, a worker.server target
 * (the image goes back to the composer), and when s3_key is set an
 * org.osbuild.aws.s3 target to s3rver on the host. double_: what the
 * osbuild test double should do (size of the export, seconds per stage).
 */
static json_object *
build_args(struct vt *vt, long size, double stage_s, const char *s3_key,
    char *err)
{
	json_object *job, *args, *manifest, *targets, *t0, *d, *o;

	if ((job = fixture(vt, "composer-v105-requestjob-osbuild-response.json",
	    err)) == NULL)
		return NULL;
	args = json_object_get(jget(job, "args"));
	manifest = jget(json_object_array_get_idx(jget(job, "dynamic_args"), 0),
	    "data");
	if (args == NULL || manifest == NULL) {
		snprintf(err, ERRLEN, "the osbuild fixture has no args/manifest");
		json_object_put(args);
		json_object_put(job);
		return NULL;
	}
	d = json_object_new_object();
	json_object_object_add(d, "size", json_object_new_int64(size));
	json_object_object_add(d, "sleep", json_object_new_double(stage_s));
	json_object_object_add(manifest, "__double__", d);
	json_object_object_add(args, "manifest", json_object_get(manifest));
	targets = jget(args, "targets");
	t0 = json_object_array_get_idx(targets, 0);
	if (s3_key != NULL) {
		json_object *t1 = NULL;

		json_object_deep_copy(t0, &t1, NULL);
		json_object_object_add(t1, "image_name",
		    json_object_new_string("disk.qcow2"));
		o = json_object_new_object();
		json_object_object_add(o, "region",
		    json_object_new_string("us-east-1"));
		json_object_object_add(o, "bucket", json_object_new_string(BUCKET));
		json_object_object_add(o, "key", json_object_new_string(s3_key));
		{
			char *ep = xasprintf("http://%s:%d", VT_HOST_IP,
			    vt->s3_port);
			json_object_object_add(o, "endpoint",
			    json_object_new_string(ep));
			free(ep);
		}
		json_object_object_add(o, "accessKeyID",
		    json_object_new_string(S3_SECRET));
		json_object_object_add(o, "secretAccessKey",
		    json_object_new_string(S3_SECRET));
		json_object_object_add(o, "sessionToken",
		    json_object_new_string(""));
		json_object_object_add(o, "ca_bundle", json_object_new_string(""));
		json_object_object_add(o, "skip_ssl_verification",
		    json_object_new_boolean(0));
		json_object_object_add(t1, "name",
		    json_object_new_string("org.osbuild.aws.s3"));
		json_object_object_add(t1, "options", o);
		json_object_array_add(targets, t1);
	}
	json_object_object_add(t0, "name",
	    json_object_new_string("org.osbuild.worker.server"));
	json_object_object_add(t0, "image_name",
	    json_object_new_string("disk.qcow2"));
	json_object_object_add(t0, "options", json_object_new_object());
	json_object_put(job);
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

/*
 * 2. A compose over two worker VMs: depsolve, then the build with two
 * targets, the composer (worker.server: the artifact lands in the queue)
 * and S3 (s3rver on the host); both copies must be the same bytes.
 */
static int
t_compose(struct vt *vt, char *err)
{
	json_object *dargs = NULL, *res = NULL, *args = NULL, *tr;
	char *did = NULL, *bid = NULL, *art = NULL, *obj = NULL;
	const long size = (3L << 20) + 4321;
	long got = 0;
	int rc = -1, who;
	size_t i;

	if (ensure_fleet(vt, 2, err) == -1)
		goto cleanup;
	/* Depsolve. */
	if ((dargs = fixture(vt, "composer-v105-requestjob-depsolve-response"
	    ".json", err)) == NULL)
		goto cleanup;
	if ((did = queue_enqueue(vt, "depsolve", jget(dargs, "args"),
	    err)) == NULL)
		goto cleanup;
	if ((who = wait_accept(fleet, 2, did, 120, err)) == -1)
		goto cleanup;
	if ((res = finished_result(vt, did, 300, err)) == NULL)
		goto cleanup;
	if (jget(res, "job_error") != NULL)
		FAIL("depsolve failed: %.500s", json_object_to_json_string(res));
	tr = jget(jget(res, "package_specs"), "os");
	if (tr == NULL || json_object_array_length(tr) == 0)
		FAIL("depsolve returned no packages: %.500s",
		    json_object_to_json_string(res));
	printf("  depsolve on %s: %zu packages\n", fleet[who]->name,
	    json_object_array_length(tr));
	json_object_put(res);
	res = NULL;

	/* Build and upload. */
	if ((args = build_args(vt, size, 0, "vmtest", err)) == NULL)
		goto cleanup;
	if ((bid = queue_enqueue(vt, "osbuild", args, err)) == NULL)
		goto cleanup;
	if ((who = wait_accept(fleet, 2, bid, 120, err)) == -1)
		goto cleanup;
	if ((res = finished_result(vt, bid, 600, err)) == NULL)
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
	art = xasprintf("%s/compose-artifact.img", vt->work);
	if (queue_artifact(vt, bid, "disk.qcow2", art, err) == -1)
		goto cleanup;
	if ((obj = s3_object_path(vt, BUCKET, "vmtest-disk.qcow2")) == NULL)
		FAIL("s3rver has no object %s/vmtest-disk.qcow2", BUCKET);
	if (same_file(art, obj, &got) == -1)
		FAIL("the composer's artifact and the S3 object differ");
	if (got != size)
		FAIL("the image is %ld bytes, the build made %ld", got, size);
	{
		char head[16] = "";
		FILE *f = fopen(art, "rb");

		if (f == NULL || fread(head, 1, 15, f) != 15 ||
		    memcmp(head, "osbuild-double\n", 15) != 0) {
			if (f != NULL)
				fclose(f);
			FAIL("the artifact is not the build's export");
		}
		fclose(f);
	}
	printf("  build on %s: %ld bytes to the composer and to S3, "
	    "identical\n", fleet[who]->name, got);
	/* A real image would boot in a third domain to a marker here; the
	 * export of the osbuild test double is not a disk. */
	printf("  not booted: the export comes from the osbuild test double "
	    "(no real builder in the image yet)\n");
	rc = 0;
cleanup:
	if (rc == -1)
		show_consoles(fleet, nitems(fleet));
	json_object_put(dargs);
	json_object_put(res);
	json_object_put(args);
	free(did);
	free(bid);
	if (art != NULL && !vt->keep)
		unlink(art);
	free(art);
	free(obj);
	return rc;
}

/* Enqueues a build of about stage_s * 20 seconds and returns the index of
 * the fleet VM that took it. */
static int
start_build(struct vt *vt, double stage_s, char **idp, char *err)
{
	json_object *args;
	int who = -1;

	if ((args = build_args(vt, 1L << 20, stage_s, NULL, err)) == NULL)
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
	if ((who = start_build(vt, 1.5, &id, err)) == -1)
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
	art = xasprintf("%s/restart-artifact.img", vt->work);
	if (queue_artifact(vt, id, "disk.qcow2", art, scratch) == -1)
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
	if ((who = start_build(vt, 2.0, &id, err)) == -1)
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
	if ((who = start_build(vt, 1.0, &id, err)) == -1)
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
