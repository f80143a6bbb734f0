/*
 * The composes' Debian mirror: the repository test-vm/mkrepo.sh made
 * (run.sh runs it), served by Python's http.server on the host's loopback;
 * the worker VMs reach it at VT_HOST_IP, ib-depsolve for the index and
 * ib-build for the .debs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "vmtest.h"

int
repo_start(struct vt *vt)
{
	char *log = xasprintf("%s/repo-http.log", vt->work);
	char *release = xasprintf("%s/dists/bookworm/InRelease", vt->repo_dir);
	char *port = NULL;
	int rc = -1;

	if (access(release, R_OK) == -1) {
		log_warnx("%s is missing (test-vm/mkrepo.sh %s)", release,
		    vt->repo_dir);
		goto cleanup;
	}
	vt->repo_port = host_free_port();
	port = xasprintf("%d", vt->repo_port);
	{
		char *argv[] = { "/usr/bin/python3", "-m", "http.server",
		    "--bind", "127.0.0.1", "--directory", vt->repo_dir, port,
		    NULL };

		if ((vt->repo_pid = host_spawn(argv, log)) == -1) {
			vt->repo_pid = 0;
			goto cleanup;
		}
	}
	if (host_wait_port(vt->repo_port, 30) == -1) {
		log_warnx("the repository server did not listen (see %s)", log);
		host_stop(&vt->repo_pid, 5);
		goto cleanup;
	}
	rc = 0;
cleanup:
	free(log);
	free(release);
	free(port);
	return rc;
}

void
repo_stop(struct vt *vt)
{
	host_stop(&vt->repo_pid, 5);
}
