/*
 * ib-vmtest: sets up the host side (libvirt, the local queue, s3rver, the
 * run's base overlay), runs the tests in order, prints PASS/FAIL with the
 * time of each and a summary, and removes everything it made on every path.
 *
 * usage: ib-vmtest [-k] [TEST...]    (env IB_TOP: the repository, B: build)
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "vmtest.h"

volatile sig_atomic_t vt_interrupted;

static void
on_signal(int sig)
{
	(void)sig;
	vt_interrupted = 1;
}

static int
selected(int argc, char **argv, const struct vt_test *t)
{
	int i;

	if (argc == 0)
		return !t->by_name_only;
	for (i = 0; i < argc; i++)
		if (strcmp(argv[i], t->name) == 0)
			return 1;
	return 0;
}

static char *
absolute(const char *p)
{
	char cwd[4096];

	if (p[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		return xstrdup(p);
	return xasprintf("%s/%s", cwd, p);
}

static int
setup(struct vt *vt, char *err)
{
	if (access(vt->image, R_OK) == -1) {
		snprintf(err, ERRLEN, "%s: %s (make ami PLATFORM=local)",
		    vt->image, strerror(errno));
		return -1;
	}
	if (virt_open(vt) == -1) {
		snprintf(err, ERRLEN, "no libvirt connection (see %s)", vt->work);
		return -1;
	}
	virt_sweep(vt);
	if (queue_start(vt, 30) == -1) {
		snprintf(err, ERRLEN, "the local queue did not start");
		return -1;
	}
	if (s3_start(vt, "images") == -1) {
		snprintf(err, ERRLEN, "s3rver did not start");
		return -1;
	}
	if (repo_start(vt) == -1) {
		snprintf(err, ERRLEN, "the Debian repository server did not "
		    "start");
		return -1;
	}
	/* The base overlay (a libguestfs launch) is made by the first test
	 * that boots a configured worker; the deploy cases need none. */
	guest_pin(vt);
	return 0;
}

static void
teardown(struct vt *vt)
{
	tests_teardown(vt);
	virt_sweep(vt);
	s3_stop(vt);
	repo_stop(vt);
	queue_stop(vt, SIGTERM);
	virt_close(vt);
	if (vt->base != NULL && !vt->keep)
		unlink(vt->base);
}

int
main(int argc, char **argv)
{
	struct vt vt;
	struct sigaction sa;
	char err[ERRLEN] = "";
	const struct vt_test *t;
	int passed = 0, failed = 0, ch;
	int64_t t0;

	memset(&vt, 0, sizeof(vt));
	while ((ch = getopt(argc, argv, "k")) != -1) {
		switch (ch) {
		case 'k':
			vt.keep = 1;
			break;
		default:
			fprintf(stderr, "usage: ib-vmtest [-k] [TEST...]\n");
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	for (ch = 0; ch < argc; ch++) {
		for (t = vt_tests; t->name != NULL; t++)
			if (strcmp(t->name, argv[ch]) == 0)
				break;
		if (t->name == NULL) {
			fprintf(stderr, "ib-vmtest: no test %s\n", argv[ch]);
			return 2;
		}
	}
	log_init(0, LOG_TEXT);
	setvbuf(stdout, NULL, _IOLBF, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	vt.top = absolute(getenv("IB_TOP") ? getenv("IB_TOP") : ".");
	vt.build = getenv("B") && getenv("B")[0] == '/' ?
	    xstrdup(getenv("B")) : xasprintf("%s/%s", vt.top,
	    getenv("B") ? getenv("B") : "build");
	vt.work = xasprintf("%s/test-vm/run", vt.build);
	vt.image = xasprintf("%s/images/worker.qcow2", vt.build);
	vt.queue_state = xasprintf("%s/queue-state", vt.work);
	vt.repo_dir = xasprintf("%s/test-vm/repo", vt.build);
	vt.vm_mem_mib = 1536;
	/* Leftovers of an earlier run go first (domains: virt_sweep). */
	remove_tree(vt.work);
	if (mkdir_p(vt.work, 0755) == -1)
		fatal("%s", vt.work);

	t0 = now_ms();
	if (setup(&vt, err) == -1) {
		printf("FAIL setup (%.0f s): %s\n", (now_ms() - t0) / 1000.0, err);
		failed++;
		goto done;
	}
	printf("setup done in %.0f s (queue http://127.0.0.1:%d, s3rver "
	    "port %d, Debian repository port %d, guests reach them at %s)\n",
	    (now_ms() - t0) / 1000.0, vt.queue_port, vt.s3_port, vt.repo_port,
	    VT_HOST_IP);
	for (t = vt_tests; t->name != NULL; t++) {
		int64_t start = now_ms();
		int rc;

		if (!selected(argc, argv, t))
			continue;
		if (vt_interrupted) {
			printf("FAIL %s (0 s): interrupted\n", t->name);
			failed++;
			continue;
		}
		err[0] = '\0';
		printf("---- %s\n", t->name);
		rc = t->fn(&vt, err);
		printf("%s %s (%.0f s)%s%s\n", rc == 0 ? "PASS" : "FAIL",
		    t->name, (now_ms() - start) / 1000.0, rc == 0 ? "" : ": ",
		    rc == 0 ? "" : err);
		if (rc == 0)
			passed++;
		else
			failed++;
	}
done:
	teardown(&vt);
	printf("%d passed, %d failed (%.0f s in all)\n", passed, failed,
	    (now_ms() - t0) / 1000.0);
	if (failed == 0 && !vt.keep)
		remove_tree(vt.work);
	else
		printf("logs and consoles: %s\n", vt.work);
	free(vt.top);
	free(vt.build);
	free(vt.work);
	free(vt.image);
	free(vt.base);
	free(vt.pinned);
	free(vt.queue_state);
	free(vt.queue_url);
	free(vt.s3_dir);
	free(vt.repo_dir);
	return failed == 0 ? 0 : 1;
}
