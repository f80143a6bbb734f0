/*
 * s3rver, a real S3-compatible server (npm, installed by run.sh from
 * worker/tests/node's lock file), on the host's loopback; the worker VMs
 * upload to it at VT_HOST_IP. Objects are read back from its directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "vmtest.h"

int
s3_start(struct vt *vt, const char *bucket)
{
	char *js = xasprintf("%s/worker/tests/node/node_modules/s3rver/bin/"
	    "s3rver.js", vt->top);
	char *log = xasprintf("%s/s3rver.log", vt->work);
	char *port = NULL;
	int rc = -1;

	if (access(js, R_OK) == -1) {
		log_warnx("%s is missing (npm ci in worker/tests/node)", js);
		goto cleanup;
	}
	vt->s3_dir = xasprintf("%s/s3rver-data", vt->work);
	if (mkdir_p(vt->s3_dir, 0755) == -1) {
		log_warn("%s", vt->s3_dir);
		goto cleanup;
	}
	vt->s3_port = host_free_port();
	port = xasprintf("%d", vt->s3_port);
	{
		char *argv[] = { "node", js, "-d", vt->s3_dir, "-a",
		    "127.0.0.1", "-p", port, "-s", "--configure-bucket",
		    (char *)bucket, NULL };

		if ((vt->s3_pid = host_spawn(argv, log)) == -1) {
			vt->s3_pid = 0;
			goto cleanup;
		}
	}
	if (host_wait_port(vt->s3_port, 60) == -1) {
		log_warnx("s3rver did not listen (see %s)", log);
		host_stop(&vt->s3_pid, 5);
		goto cleanup;
	}
	rc = 0;
cleanup:
	free(js);
	free(log);
	free(port);
	return rc;
}

void
s3_stop(struct vt *vt)
{
	host_stop(&vt->s3_pid, 10);
}

char *
s3_object_path(struct vt *vt, const char *bucket, const char *key)
{
	char *p;

	if (vt->s3_dir == NULL || !name_is_safe(bucket) || !name_is_safe(key))
		return NULL;
	p = xasprintf("%s/%s/%s._S3rver_object", vt->s3_dir, bucket, key);
	if (access(p, R_OK) == 0)
		return p;
	free(p);
	return NULL;
}
