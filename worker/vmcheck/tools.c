/*
 * The programs a build runs: the builder (osbuild or what --osbuild names),
 * qemu-img for image conversions, and libvirt when asked, each found and
 * run once with a bounded time.
 */
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmcheck.h"

#define TOOL_TIMEOUT_MS		10000
#define VIRSH_TIMEOUT_MS	15000

/*
 * Runs argv; on success copies the first line of its output into line and
 * returns 0. On failure fills line with why and returns -1.
 */
static int
run_tool(const char *const argv[], int timeout_ms, char *line, size_t len,
    int64_t *msp)
{
	struct buf	 out;
	char		 err[256], first[256];
	int64_t		 t0;
	int		 rv, status = 0;

	buf_init(&out);
	t0 = now_ms();
	rv = proc_run_cmd(argv, timeout_ms, &out, &status, err, sizeof(err));
	*msp = now_ms() - t0;
	first_line(out.data, first, sizeof(first));
	if (rv == -1)
		snprintf(line, len, "%s", err);
	else if (rv == 1)
		snprintf(line, len, "no answer within %d s", timeout_ms / 1000);
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		strfmt(line, len, "%s%s%s", proc_status_str(status),
		    first[0] ? ": " : "", first);
		rv = -1;
	} else
		snprintf(line, len, "%s", first[0] ? first : "(no output)");
	buf_free(&out);
	return rv == 0 ? 0 : -1;
}

void
check_builder(struct vmcheck *vc, struct check *c)
{
	const char	*argv[3];
	char		*path, line[256];
	int64_t		 ms;

	if ((path = proc_which(vc->osbuild)) == NULL) {
		check_set(c, ST_FAIL, "builder %s not found%s: the worker "
		    "cannot build", vc->osbuild, strchr(vc->osbuild, '/') ?
		    " or not executable" : " on PATH");
		return;
	}
	argv[0] = path;
	argv[1] = "--version";
	argv[2] = NULL;
	if (run_tool(argv, TOOL_TIMEOUT_MS, line, sizeof(line), &ms) == -1)
		check_set(c, ST_FAIL, "builder %s does not run (%s --version: "
		    "%s): the worker cannot build", path, path, line);
	else
		check_set(c, ST_PASS, "%s (%s)", line, path);
	check_figure(c, "version_ms", ms);
	free(path);
}

void
check_qemu_img(struct vmcheck *vc, struct check *c)
{
	const char	*argv[3];
	char		*path, line[256];
	int64_t		 ms;

	if ((path = proc_which("qemu-img")) == NULL) {
		check_set(c, ST_WARN, "qemu-img not found on PATH: builds "
		    "of qcow2, vmdk and vhd images will fail");
		return;
	}
	argv[0] = path;
	argv[1] = "--version";
	argv[2] = NULL;
	if (run_tool(argv, TOOL_TIMEOUT_MS, line, sizeof(line), &ms) == -1)
		check_set(c, ST_WARN, "%s does not run: %s", path, line);
	else
		check_set(c, ST_PASS, "%s (%s)", line, path);
	check_figure(c, "version_ms", ms);
	free(path);
}

/* virsh prints a general error, then the cause: keep the last one. */
static void
last_error_line(const char *out, char *dst, size_t len)
{
	const char	*p, *last = NULL;

	for (p = out; (p = strstr(p, "error: ")) != NULL; p++)
		if (p == out || p[-1] == '\n')
			last = p;
	first_line(last != NULL ? last : out, dst, len);
}

/* The "Running hypervisor:" line of virsh version, else its first line. */
static void
hypervisor_line(const char *out, char *dst, size_t len)
{
	const char	*p;

	if ((p = strstr(out, "Running hypervisor:")) != NULL)
		first_line(p, dst, len);
	else
		first_line(out, dst, len);
}

void
check_libvirt(struct vmcheck *vc, struct check *c)
{
	struct buf	 out;
	const char	*argv[5];
	char		*path, err[256], line[256];
	int64_t		 t0;
	int		 rv, status = 0;

	if (vc->libvirt_uri == NULL) {
		check_set(c, ST_SKIP, "not asked (--libvirt URI)");
		return;
	}
	if ((path = proc_which("virsh")) == NULL) {
		check_set(c, ST_FAIL, "virsh not found on PATH: cannot reach "
		    "libvirt at %s", vc->libvirt_uri);
		return;
	}
	argv[0] = path;
	argv[1] = "-c";
	argv[2] = vc->libvirt_uri;
	argv[3] = "version";
	argv[4] = NULL;
	buf_init(&out);
	t0 = now_ms();
	rv = proc_run_cmd(argv, VIRSH_TIMEOUT_MS, &out, &status, err,
	    sizeof(err));
	check_figure(c, "connect_ms", now_ms() - t0);
	if (rv == -1)
		check_set(c, ST_FAIL, "libvirt %s: %s", vc->libvirt_uri, err);
	else if (rv == 1)
		check_set(c, ST_FAIL, "libvirt %s: no answer within %d s",
		    vc->libvirt_uri, VIRSH_TIMEOUT_MS / 1000);
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		last_error_line(out.data, line, sizeof(line));
		check_set(c, ST_FAIL, "libvirt %s unreachable (virsh %s): %s",
		    vc->libvirt_uri, proc_status_str(status), line);
	} else {
		hypervisor_line(out.data, line, sizeof(line));
		check_set(c, ST_PASS, "connected to %s: %s", vc->libvirt_uri,
		    line);
	}
	buf_free(&out);
	free(path);
}
