/*
 * The libguestfs appliance, as a build uses it: direct backend, a sparse
 * scratch disk partitioned, formatted ext4, mounted, a file written and
 * read back. It runs in a bounded child (a hung qemu is killed with it) and
 * under TCG whenever KVM was not proven to run guest code, since a broken
 * nested KVM hangs the appliance for libguestfs' whole 600 s.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <guestfs.h>

#include "log.h"
#include "vmcheck.h"

#define SCRATCH_SIZE	(64 << 20)
#define PROBE_SIZE	4096
#define KVM_TRY_MAX_S	60	/* a KVM launch takes seconds, not minutes */
/* The arm64 UEFI firmware libguestfs boots its appliance with (Debian). */
#define AAVMF_CODE	"/usr/share/AAVMF/AAVMF_CODE.fd"

struct attempt {
	const char	*dir;		/* private temp dir: disk, sockets */
	int		 tcg;
};

struct result {
	int		 finished;	/* the child reported "ok" */
	int64_t		 launch_ms;
	int64_t		 ops_ms;
	char		 guest_accel[16];
	char		 error[CHECK_DETAIL_MAX - 128];
};

/* Writes "error STEP: last error" (one line) for the parent. */
static void
report_error(guestfs_h *g, int fd, const char *step)
{
	const char	*msg;
	char		*s, *p;

	msg = g != NULL ? guestfs_last_error(g) : NULL;
	s = xstrdup(msg != NULL ? msg : "(no error message)");
	for (p = s; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	/* The rest is libguestfs' advice on debugging, not the error. */
	if ((p = strstr(s, " To see full error messages")) != NULL)
		*p = '\0';
	dprintf(fd, "error %s: %s\n", step, s);
	free(s);
}

/* Which accelerator the appliance kernel saw, from its boot messages. */
static const char *
guest_accel(guestfs_h *g)
{
	const char	*a = "unknown";
	char		*log;

	if ((log = guestfs_dmesg(g)) == NULL)
		return a;
#if defined(__aarch64__)
	/* An arm64 kernel names no "bare hardware": under KVM it finds the
	 * hypervisor's SMCCC services, emulated it finds none. */
	a = strstr(log, "KVM hypervisor services detected") != NULL ?
	    "kvm" : "tcg";
#endif
	if (strstr(log, "paravirtualized kernel on KVM") != NULL ||
	    strstr(log, "Hypervisor detected: KVM") != NULL)
		a = "kvm";
	else if (strstr(log, "paravirtualized kernel on bare hardware") !=
	    NULL)
		a = "tcg";
	free(log);
	return a;
}

/* Partition, format, mount, write, read back, unmount; -1 + report. */
static int
disk_ops(guestfs_h *g, int fd)
{
	char	**devs = NULL, **parts = NULL, *back = NULL, data[PROBE_SIZE];
	size_t	 i, len = 0;
	int	 rv = -1;

	for (i = 0; i < sizeof(data); i++)
		data[i] = "ib-vmcheck\n"[i % 11];
	if ((devs = guestfs_list_devices(g)) == NULL || devs[0] == NULL) {
		report_error(g, fd, "list_devices");
		goto cleanup;
	}
	if (guestfs_part_disk(g, devs[0], "mbr") == -1) {
		report_error(g, fd, "part_disk");
		goto cleanup;
	}
	if ((parts = guestfs_list_partitions(g)) == NULL || parts[0] == NULL) {
		report_error(g, fd, "list_partitions");
		goto cleanup;
	}
	if (guestfs_mkfs(g, "ext4", parts[0]) == -1) {
		report_error(g, fd, "mkfs ext4");
		goto cleanup;
	}
	if (guestfs_mount(g, parts[0], "/") == -1) {
		report_error(g, fd, "mount");
		goto cleanup;
	}
	if (guestfs_write(g, "/ib-vmcheck", data, sizeof(data)) == -1) {
		report_error(g, fd, "write");
		goto cleanup;
	}
	if ((back = guestfs_read_file(g, "/ib-vmcheck", &len)) == NULL) {
		report_error(g, fd, "read_file");
		goto cleanup;
	}
	if (len != sizeof(data) || memcmp(back, data, len) != 0) {
		dprintf(fd, "error read back: %zu bytes, not the %zu written\n",
		    len, sizeof(data));
		goto cleanup;
	}
	if (guestfs_umount_all(g) == -1) {
		report_error(g, fd, "umount_all");
		goto cleanup;
	}
	rv = 0;
cleanup:
	for (i = 0; devs != NULL && devs[i] != NULL; i++)
		free(devs[i]);
	for (i = 0; parts != NULL && parts[i] != NULL; i++)
		free(parts[i]);
	free(devs);
	free(parts);
	free(back);
	return rv;
}

static int
make_scratch(const char *path, int fd)
{
	int	 f;

	if ((f = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) ==
	    -1 || ftruncate(f, SCRATCH_SIZE) == -1) {
		dprintf(fd, "error scratch disk %s: %s\n", path,
		    strerror(errno));
		if (f != -1)
			close(f);
		return -1;
	}
	close(f);
	return 0;
}

/*
 * Temp files (libguestfs' and supermin's, which a kill would leave) go to
 * dir, but the appliance cache stays where TMPDIR had it: rebuilding the
 * appliance costs more than launching it.
 */
static int
keep_cache_move_tmp(guestfs_h *g, const char *dir)
{
	char	*cache;
	int	 rv = -1;

	if ((cache = guestfs_get_cachedir(g)) == NULL)
		return -1;
	if (guestfs_set_cachedir(g, cache) == -1 ||
	    guestfs_set_tmpdir(g, dir) == -1)
		goto cleanup;
	setenv("TMPDIR", dir, 1);
	rv = 0;
cleanup:
	free(cache);
	return rv;
}

/* The child: reports "launch_ms N", "ops_ms N", "accel A", "ok". */
static int
appliance_child(const struct attempt *at, int fd)
{
	char *const	 tcg_settings[] = { "force_tcg", NULL };
	guestfs_h	*g = NULL;
	char		*disk;
	int64_t		 t0;
	int		 rv = 1;

	/* libguestfs puts its sockets where we clean up. */
	setenv("XDG_RUNTIME_DIR", at->dir, 1);
	if (at->tcg)
		setenv("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg", 1);
	disk = xasprintf("%s/scratch.img", at->dir);
	if (make_scratch(disk, fd) == -1)
		goto cleanup;
	if ((g = guestfs_create()) == NULL) {
		dprintf(fd, "error create: guestfs_create failed: %s\n",
		    strerror(errno));
		goto cleanup;
	}
	guestfs_set_error_handler(g, NULL, NULL);
	if (keep_cache_move_tmp(g, at->dir) == -1) {
		report_error(g, fd, "set_tmpdir");
		goto cleanup;
	}
	if (guestfs_set_backend(g, "direct") == -1 ||
	    (at->tcg && guestfs_set_backend_settings(g, tcg_settings) == -1)) {
		report_error(g, fd, "set_backend");
		goto cleanup;
	}
	if (guestfs_add_drive_opts(g, disk, GUESTFS_ADD_DRIVE_OPTS_FORMAT,
	    "raw", -1) == -1) {
		report_error(g, fd, "add_drive");
		goto cleanup;
	}
	t0 = now_ms();
	if (guestfs_launch(g) == -1) {
		report_error(g, fd, "launch");
		goto cleanup;
	}
	dprintf(fd, "launch_ms %lld\n", (long long)(now_ms() - t0));
	t0 = now_ms();
	if (disk_ops(g, fd) == -1)
		goto cleanup;
	dprintf(fd, "ops_ms %lld\n", (long long)(now_ms() - t0));
	dprintf(fd, "accel %s\n", guest_accel(g));
	if (guestfs_shutdown(g) == -1) {
		report_error(g, fd, "shutdown");
		goto cleanup;
	}
	dprintf(fd, "ok\n");
	rv = 0;
cleanup:
	if (g != NULL)
		guestfs_close(g);
	free(disk);
	return rv;
}

int
appliance_probe_child(int argc, char *argv[])
{
	struct attempt	 at;

	if (argc != 2 || argv[0][0] != '/' || (strcmp(argv[1], "tcg") != 0 &&
	    strcmp(argv[1], "kvm") != 0)) {
		fprintf(stderr, "appliance: bad arguments\n");
		return 2;
	}
	at.dir = argv[0];
	at.tcg = strcmp(argv[1], "tcg") == 0;
	return appliance_child(&at, CHILD_RESULT_FD);
}

static void
parse_result(const char *out, struct result *r)
{
	const char	*line, *next;
	char		 l[CHECK_DETAIL_MAX];

	for (line = out; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		first_line(line, l, sizeof(l));
		if (next != NULL)
			next++;
		if (strncmp(l, "launch_ms ", 10) == 0)
			r->launch_ms = strtoll(l + 10, NULL, 10);
		else if (strncmp(l, "ops_ms ", 7) == 0)
			r->ops_ms = strtoll(l + 7, NULL, 10);
		else if (strncmp(l, "accel ", 6) == 0)
			strfmt(r->guest_accel, sizeof(r->guest_accel), "%s",
			    l + 6);
		else if (strncmp(l, "error ", 6) == 0 && !r->error[0])
			strfmt(r->error, sizeof(r->error), "%s", l + 6);
		else if (strcmp(l, "ok") == 0)
			r->finished = 1;
	}
}

/* One launch in a bounded child; r says what happened. */
static void
attempt(int tcg, int timeout_s, struct result *r)
{
	struct buf	 out;
	char		 err[256];
	char		*dir;
	int		 rv, status = 0;

	memset(r, 0, sizeof(*r));
	r->launch_ms = -1;
	buf_init(&out);
	if ((dir = make_tmpdir(err, sizeof(err))) == NULL) {
		snprintf(r->error, sizeof(r->error), "%s", err);
		goto cleanup;
	}
	{
		const char *args[] = { "appliance", dir, tcg ? "tcg" : "kvm",
		    NULL };

		rv = proc_run_child(args, timeout_s * 1000, &out, &status,
		    err, sizeof(err));
	}
	if (rv == -1)
		snprintf(r->error, sizeof(r->error), "%s", err);
	else {
		parse_result(out.data, r);
		if (rv == 1)
			snprintf(r->error, sizeof(r->error), "no result within "
			    "%d s (%s), killed", timeout_s, r->launch_ms < 0 ?
			    "launch hung" : "disk operations hung");
		else if (!r->finished && !r->error[0])
			snprintf(r->error, sizeof(r->error), "child ended with "
			    "%s", proc_status_str(status));
	}
cleanup:
	if (dir != NULL && remove_tree(dir) == -1)
		log_warn("cannot remove %s", dir);
	free(dir);
	buf_free(&out);
}

static void
set_figures(struct check *c, const struct result *r)
{
	if (r->launch_ms >= 0)
		check_figure(c, "launch_ms", r->launch_ms);
	if (r->finished)
		check_figure(c, "ops_ms", r->ops_ms);
}

void
check_appliance(struct vmcheck *vc, struct check *c)
{
	struct result	 r;
	char		 kvm_error[CHECK_DETAIL_MAX - 128] = "";
	int		 tcg = !vc->kvm_ok, limit;

	vc->accel = tcg ? "tcg" : "kvm";
	vc->launch_ms = -1;
#if defined(__aarch64__)
	/* libguestfs boots its arm64 appliance with UEFI only. */
	if (access(AAVMF_CODE, R_OK) == -1) {
		check_set(c, ST_FAIL, "%s: %s: libguestfs on arm64 boots its "
		    "appliance with UEFI (install qemu-efi-aarch64)",
		    AAVMF_CODE, strerror(errno));
		return;
	}
#endif
	limit = vc->timeout_s;
	if (!tcg && limit > KVM_TRY_MAX_S)
		limit = KVM_TRY_MAX_S;
	attempt(tcg, limit, &r);
	if (!r.finished && !tcg) {
		/* KVM ran the probe but not a kernel: try the fallback. */
		snprintf(kvm_error, sizeof(kvm_error), "%s", r.error);
		vc->kvm_ok = 0;
		strfmt(vc->kvm_reason, sizeof(vc->kvm_reason), "the probe "
		    "ran but the appliance kernel did not: %s", r.error);
		vc->accel = "tcg";
		tcg = 1;
		attempt(tcg, vc->timeout_s, &r);
	}
	set_figures(c, &r);
	if (!r.finished) {
		check_set(c, ST_FAIL, "appliance (direct backend, %s) failed: "
		    "%s", vc->accel, r.error);
		return;
	}
	vc->launch_ms = r.launch_ms;
	if (kvm_error[0])
		check_set(c, ST_WARN, "appliance under KVM failed (%s); under "
		    "TCG it launched in %.1f s, partitioned, formatted ext4, "
		    "mounted, wrote and read back %d bytes", kvm_error,
		    r.launch_ms / 1000.0, PROBE_SIZE);
	else
		check_set(c, ST_PASS, "direct backend, %s%s%s%s%s: launched in "
		    "%.1f s, partitioned, formatted ext4, mounted, wrote and "
		    "read back %d bytes", vc->accel, vc->kvm_checked ? "" :
		    " (forced: KVM not checked)", strcmp(r.guest_accel,
		    vc->accel) ? " (guest saw " : "", strcmp(r.guest_accel,
		    vc->accel) ? r.guest_accel : "", strcmp(r.guest_accel,
		    vc->accel) ? ")" : "", r.launch_ms / 1000.0, PROBE_SIZE);
}
