/*
 * The project's local queue (queue/ib-queue) on the host: started and
 * restarted on one port with one state directory, and asked through its
 * own command-line client, so the harness sees what an operator sees.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "vmtest.h"

static int hb_timeout = 120;

int
queue_start(struct vt *vt, int heartbeat_timeout)
{
	char *q = xasprintf("%s/queue/ib-queue", vt->top);
	char *log = xasprintf("%s/queue.log", vt->work);
	char *listen, *hb, *argv[16];
	int n = 0, rc = -1;

	if (heartbeat_timeout > 0)
		hb_timeout = heartbeat_timeout;
	if (vt->queue_port == 0)
		vt->queue_port = host_free_port();
	listen = xasprintf("127.0.0.1:%d", vt->queue_port);
	hb = xasprintf("%d", hb_timeout);
	argv[n++] = q;
	argv[n++] = "serve";
	argv[n++] = "--listen";
	argv[n++] = listen;
	argv[n++] = "--state-dir";
	argv[n++] = vt->queue_state;
	argv[n++] = "--heartbeat-timeout";
	argv[n++] = hb;
	argv[n++] = "--heartbeat-check";
	argv[n++] = "2";
	argv[n] = NULL;
	if ((vt->queue_pid = host_spawn(argv, log)) == -1) {
		vt->queue_pid = 0;
		goto cleanup;
	}
	if (host_wait_port(vt->queue_port, 30) == -1) {
		log_warnx("the queue did not listen on port %d (see %s)",
		    vt->queue_port, log);
		host_stop(&vt->queue_pid, 5);
		goto cleanup;
	}
	free(vt->queue_url);
	vt->queue_url = xasprintf("http://127.0.0.1:%d", vt->queue_port);
	rc = 0;
cleanup:
	free(q);
	free(log);
	free(listen);
	free(hb);
	return rc;
}

void
queue_stop(struct vt *vt, int sig)
{
	if (vt->queue_pid > 0 && sig == SIGKILL) {
		kill(-vt->queue_pid, SIGKILL);
		host_stop(&vt->queue_pid, 1);
	} else
		host_stop(&vt->queue_pid, 10);
}

/* Runs `ib-queue --url URL ARGS...`; its output into out. */
static int
cli(struct vt *vt, struct buf *out, int timeout_s, char *const args[])
{
	char *argv[16];
	char *q = xasprintf("%s/queue/ib-queue", vt->top);
	char *log = xasprintf("%s/queue-cli.log", vt->work);
	int n = 0, rc;

	argv[n++] = q;
	argv[n++] = "--url";
	argv[n++] = vt->queue_url;
	while (*args != NULL && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	rc = host_run(argv, out, log, timeout_s);
	free(q);
	free(log);
	return rc;
}

static json_object *
cli_json(struct vt *vt, char *const args[], char *err)
{
	struct buf out;
	json_object *o = NULL;
	int rc;

	buf_init(&out);
	rc = cli(vt, &out, 60, args);
	if (rc != 0) {
		snprintf(err, ERRLEN, "ib-queue %s %s: exit %d (see queue-cli.log)",
		    args[0], args[1] ? args[1] : "", rc);
		goto cleanup;
	}
	if ((o = json_tokener_parse(out.data ? out.data : "")) == NULL)
		snprintf(err, ERRLEN, "ib-queue %s: not JSON", args[0]);
cleanup:
	buf_free(&out);
	return o;
}

/* Writes body to a file and runs `ib-queue ARGS... @FILE`, which prints a
 * job id; returns it (caller frees) or NULL with err set. */
static char *
submit(struct vt *vt, const char *what, char *const args[],
    json_object *body, char *err)
{
	static int seq;
	char *path = xasprintf("%s/%s-%d.json", vt->work, what, ++seq);
	char *at = xasprintf("@%s", path);
	const char *s = json_object_to_json_string_ext(body,
	    JSON_C_TO_STRING_PLAIN);
	char *argv[8];
	char *id = NULL;
	struct buf out;
	int n = 0;

	buf_init(&out);
	while (*args != NULL && n < 6)
		argv[n++] = *args++;
	argv[n++] = at;
	argv[n] = NULL;
	if (write_file_atomic(path, s, strlen(s), 0644) == -1) {
		snprintf(err, ERRLEN, "cannot write %s", path);
		goto cleanup;
	}
	if (cli(vt, &out, 60, argv) != 0 || out.data == NULL) {
		snprintf(err, ERRLEN, "ib-queue %s failed (see queue-cli.log)",
		    what);
		goto cleanup;
	}
	id = xstrdup(rtrim(out.data));
	if (!name_is_safe(id) || strlen(id) > 64) {
		snprintf(err, ERRLEN, "ib-queue %s printed an odd id", what);
		free(id);
		id = NULL;
	}
cleanup:
	buf_free(&out);
	free(path);
	free(at);
	return id;
}

char *
queue_enqueue(struct vt *vt, const char *type, json_object *args, char *err)
{
	char *argv[] = { "enqueue", "--type", (char *)type, "--args", NULL };

	return submit(vt, "args", argv, args, err);
}

char *
queue_compose(struct vt *vt, json_object *request, char *err)
{
	char *argv[] = { "compose", NULL };

	return submit(vt, "compose", argv, request, err);
}

json_object *
queue_show(struct vt *vt, const char *id, char *err)
{
	char *argv[] = { "show", (char *)id, NULL };

	return cli_json(vt, argv, err);
}

json_object *
queue_result(struct vt *vt, const char *id, char *err)
{
	char *argv[] = { "result", (char *)id, NULL };

	return cli_json(vt, argv, err);
}

int
queue_cancel(struct vt *vt, const char *id)
{
	char *argv[] = { "cancel", (char *)id, NULL };

	return cli(vt, NULL, 60, argv) == 0 ? 0 : -1;
}

json_object *
queue_workers(struct vt *vt, char *err)
{
	char *argv[] = { "workers", NULL };

	return cli_json(vt, argv, err);
}

/* Waits through queue restarts: an unreachable queue (exit 3) is retried
 * until the deadline. */
char *
queue_wait(struct vt *vt, const char *id, int timeout_s, char *err)
{
	int64_t end = now_ms() + (int64_t)timeout_s * 1000;
	char *state = NULL;

	while (!vt_interrupted) {
		int64_t left = (end - now_ms()) / 1000;
		char step[16];
		char *argv[] = { "wait", (char *)id, "--timeout", step, NULL };
		struct buf out;
		int rc;

		if (left <= 0) {
			snprintf(err, ERRLEN, "job %s not finished after %d s",
			    id, timeout_s);
			return NULL;
		}
		snprintf(step, sizeof(step), "%d", left > 30 ? 30 : (int)left);
		buf_init(&out);
		rc = cli(vt, &out, 90, argv);
		if ((rc == 0 || rc == 1) && out.data != NULL) {
			state = xstrdup(rtrim(out.data));
			buf_free(&out);
			return state;
		}
		buf_free(&out);
		if (rc != 2)
			host_sleep_ms(1000);
	}
	snprintf(err, ERRLEN, "interrupted");
	return NULL;
}

int
queue_artifact(struct vt *vt, const char *id, const char *name,
    const char *dest, char *err)
{
	char *argv[] = { "artifact", (char *)id, (char *)name, "-o",
	    (char *)dest, NULL };

	if (cli(vt, NULL, 300, argv) != 0) {
		snprintf(err, ERRLEN, "ib-queue artifact %s %s failed", id, name);
		return -1;
	}
	return 0;
}
