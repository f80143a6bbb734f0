/*
 * The run's base overlay: one copy-on-write layer over the worker image,
 * written once per run with libguestfs (a single appliance launch), which
 * every VM's own overlay then stacks on. Local VMs are configured the way
 * first boot would do it, without the cloud: the worker's configuration is
 * written and ib-worker@http://10.0.2.2:PORT.service is enabled directly;
 * the first-boot unit (IMDS, Secrets Manager) and cloud-init are turned off.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <guestfs.h>

#include "log.h"
#include "vmtest.h"

char *
guest_unit_name(const char *address)
{
	struct buf b;
	const char *p;

	buf_init(&b);
	buf_addstr(&b, "ib-worker@");
	for (p = address; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '/')
			buf_addstr(&b, "-");
		else if (isalnum(c) || c == ':' || c == '_' ||
		    (c == '.' && p != address))
			buf_add(&b, p, 1);
		else
			buf_printf(&b, "\\x%02x", c);
	}
	buf_addstr(&b, ".service");
	return buf_release(&b);
}

/* What the guests run with: the image's own builder and depsolver
 * (ib-build, ib-depsolve), heartbeats every 5 s so the host queue notices
 * a dead VM within its short heartbeat timeout, and a quick reconnect
 * after the queue restarts. */
static char *
worker_toml(void)
{
	return xstrdup(
	    "# Written by test-vm/ib-vmtest for the local VM tests.\n"
	    "dnf-json = \"/usr/bin/ib-depsolve\"\n"
	    "\n"
	    "[worker]\n"
	    "osbuild = \"/usr/bin/ib-build\"\n"
	    "heartbeat_interval = 5\n"
	    "status_interval = 30\n"
	    "backoff_max = 3\n"
	    "drain_timeout = 900\n");
}

/* The cache volume (the VM's second disk, made blank by the harness) on
 * the worker's cache directory, as first boot mounts a cloud worker's. */
static const char cache_fstab[] =
    "LABEL=ib-cache /var/cache/osbuild-worker ext4 "
    "defaults,noatime,x-systemd.device-timeout=60s 0 2\n";

/* The journal goes to the serial console too (%s: its device, ttyS0 or
 * arm64's ttyAMA0): the harness reads the worker's and ib-vmcheck's lines
 * there. */
#define JOURNALD_CONF						\
    "[Journal]\n"							\
    "ForwardToConsole=yes\n"						\
    "TTYPath=/dev/%s\n"							\
    "MaxLevelConsole=info\n"

struct gfile {
	const char	*path;
	const char	*content;
	int		 mode;
};

void
guest_pin(struct vt *vt)
{
	/* A hard link pins the image this run started with: a rebuild
	 * renames a new worker.qcow2 into place, and an overlay whose backing
	 * file changed under it would be garbage. */
	free(vt->pinned);
	/* Not VT_PREFIX + a name: the boot test's domain is ibvt-image, and
	 * a domain's overlay is work/DOMAIN.qcow2, removed with it. */
	vt->pinned = xasprintf("%s/pinned-worker.qcow2", vt->work);
	unlink(vt->pinned);
	if (link(vt->image, vt->pinned) == -1) {
		free(vt->pinned);
		vt->pinned = xstrdup(vt->image);
	}
}

/* A libguestfs handle whose appliance runs under TCG (/dev/kvm does not
 * work here: with kvm:tcg the appliance may wait on it). */
static guestfs_h *
gf_create(void)
{
	setenv("LIBGUESTFS_BACKEND", "direct", 1);
	setenv("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg", 1);
	return guestfs_create();
}

int
guest_prepare(struct vt *vt, char *err)
{
	if (vt->pinned == NULL)
		guest_pin(vt);
	return guest_prepare_image(vt, vt->pinned, "ttyS0", "base", &vt->base,
	    err);
}

int
guest_prepare_image(struct vt *vt, const char *image, const char *tty,
    const char *name, char **basep, char *err)
{
	guestfs_h *g = NULL;
	char *base = xasprintf("%s/%s%s.qcow2", vt->work, VT_PREFIX, name);
	char *journald = xasprintf(JOURNALD_CONF, tty);
	char *root = NULL;
	char *log = xasprintf("%s/qemu-img.log", vt->work);
	char *address = xasprintf("http://%s:%d", VT_HOST_IP, vt->queue_port);
	char *unit = guest_unit_name(address);
	char *wants = xasprintf("/etc/systemd/system/multi-user.target.wants/%s",
	    unit);
	char *toml = worker_toml();
	const struct gfile files[] = {
		{ "/etc/osbuild-worker/osbuild-worker.toml", toml, 0600 },
		{ "/var/lib/ib-worker/firstboot.done", "local VM test\n", 0600 },
		{ "/etc/cloud/cloud-init.disabled", "", 0644 },
		{ "/etc/systemd/journald.conf.d/ib-vmtest.conf", journald,
		    0644 },
	};
	/* What would only compete for the CPU under TCG: the full machine
	 * check (a nested libguestfs launch), apt's and e2scrub's timers,
	 * and sshd (nothing logs in to a test VM). */
	const char *masked[] = { "ib-vmcheck.timer", "apt-daily.timer",
	    "apt-daily-upgrade.timer", "e2scrub_all.timer",
	    "e2scrub_reap.service", "ssh.service" };
	size_t i;
	int rc = -1;

	unlink(base);
	{
		char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2",
		    "-b", (char *)image, "-F", "qcow2", base, NULL };

		if (host_run(argv, NULL, log, 60) != 0) {
			snprintf(err, ERRLEN, "qemu-img create %s failed",
			    base);
			goto cleanup;
		}
	}
	if ((g = gf_create()) == NULL) {
		snprintf(err, ERRLEN, "guestfs_create failed");
		goto cleanup;
	}
#define GF(call, what) do {						\
	if ((call) == -1) {						\
		snprintf(err, ERRLEN, "libguestfs: %s: %s", (what),	\
		    guestfs_last_error(g) ? guestfs_last_error(g) : "?");\
		goto cleanup;						\
	}								\
} while (0)
	GF(guestfs_add_drive_opts(g, base,
	    GUESTFS_ADD_DRIVE_OPTS_FORMAT, "qcow2", -1), "add drive");
	GF(guestfs_launch(g), "launch");
	/* The root by its label: the first partition of the x86_64 image,
	 * the second (after the ESP) of the arm64 one. */
	if ((root = guestfs_findfs_label(g, "ib-root")) == NULL)
		GF(-1, "no ib-root file system");
	GF(guestfs_mount(g, root, "/"), "mount the root");
	if (guestfs_exists(g, "/usr/bin/ib-worker") != 1 ||
	    guestfs_exists(g, "/lib/systemd/system/ib-worker@.service") != 1) {
		snprintf(err, ERRLEN, "%s has no ib-worker package", image);
		goto cleanup;
	}
	if (guestfs_exists(g, "/usr/bin/ib-build") != 1 ||
	    guestfs_exists(g, "/usr/bin/ib-depsolve") != 1 ||
	    guestfs_exists(g, "/usr/bin/mmdebstrap") != 1) {
		snprintf(err, ERRLEN, "%s has no ib-build, ib-depsolve or "
		    "mmdebstrap (an image older than the package's Depends)",
		    image);
		goto cleanup;
	}
	for (i = 0; i < nitems(files); i++) {
		char *dir = xstrdup(files[i].path);

		*strrchr(dir, '/') = '\0';
		if (guestfs_mkdir_p(g, dir) == -1) {
			free(dir);
			GF(-1, files[i].path);
		}
		free(dir);
		GF(guestfs_write(g, files[i].path, files[i].content,
		    strlen(files[i].content)), files[i].path);
		GF(guestfs_chmod(g, files[i].mode, files[i].path),
		    files[i].path);
	}
	GF(guestfs_mkdir_p(g, "/etc/systemd/system/multi-user.target.wants"),
	    "wants directory");
	GF(guestfs_ln_sf(g, "/lib/systemd/system/ib-worker@.service", wants),
	    "enabling the worker unit");
	for (i = 0; i < nitems(masked); i++) {
		char *p = xasprintf("/etc/systemd/system/%s", masked[i]);
		int r = guestfs_ln_sf(g, "/dev/null", p);

		free(p);
		GF(r, masked[i]);
	}
	{
		size_t len = 0;
		char *fstab = guestfs_read_file(g, "/etc/fstab", &len);
		char *all;

		if (fstab == NULL)
			GF(-1, "/etc/fstab");
		all = xasprintf("%.*s%s", (int)len, fstab, cache_fstab);
		free(fstab);
		if (guestfs_write(g, "/etc/fstab", all, strlen(all)) == -1) {
			free(all);
			GF(-1, "/etc/fstab");
		}
		free(all);
	}
	GF(guestfs_mkdir_p(g, "/var/cache/osbuild-worker"), "cache directory");
	GF(guestfs_umount_all(g), "umount");
	GF(guestfs_shutdown(g), "shutdown");
#undef GF
	log_info("base overlay ready: worker unit %s, ib-build and "
	    "ib-depsolve, cache volume on /var/cache/osbuild-worker", unit);
	rc = 0;
cleanup:
	if (g != NULL)
		guestfs_close(g);
	free(log);
	free(address);
	free(unit);
	free(wants);
	free(toml);
	free(journald);
	free(root);
	free(*basep);
	*basep = NULL;
	if (rc == 0)
		*basep = base;
	else
		free(base);
	return rc;
}

/*
 * A deployed instance that failed its test logs only to its journal (the
 * image forwards nothing to the console): the domain is stopped (ACPI, so
 * journald writes everything; destroyed after 120 s), the journal copied
 * out of its overlay into the work directory and the lines of first boot,
 * the worker, the network and cloud-init printed to stderr. Best effort:
 * says why it cannot.
 */
void
guest_journal(struct vt *vt, struct vm *vm)
{
	guestfs_h *g = NULL;
	char err[ERRLEN];
	char *dir = xasprintf("%s/journal-%s", vt->work, vm->name);
	char *jdir = xasprintf("%s/journal", dir);
	char *log = xasprintf("%s/journalctl.log", vt->work);
	struct buf out;
	const char *from;

	buf_init(&out);
	err[0] = '\0';
	if (vm_shutdown(vm, err) == -1 || vm_wait_off(vm, 120, err) == -1)
		vm_destroy(vm, err);
	remove_tree(dir);
	if (mkdir_p(dir, 0755) == -1) {
		snprintf(err, ERRLEN, "cannot make %s", dir);
		goto cleanup;
	}
	if ((g = gf_create()) == NULL) {
		snprintf(err, ERRLEN, "guestfs_create failed");
		goto cleanup;
	}
	if (guestfs_add_drive_opts(g, vm->overlay,
	    GUESTFS_ADD_DRIVE_OPTS_FORMAT, "qcow2",
	    GUESTFS_ADD_DRIVE_OPTS_READONLY, 1, -1) == -1 ||
	    guestfs_launch(g) == -1 ||
	    guestfs_mount_ro(g, "/dev/sda1", "/") == -1 ||
	    guestfs_copy_out(g, "/var/log/journal", dir) == -1) {
		snprintf(err, ERRLEN, "libguestfs: %s",
		    guestfs_last_error(g) ? guestfs_last_error(g) : "?");
		goto cleanup;
	}
	{
		char *argv[] = { "journalctl", "-D", jdir, "--no-pager",
		    "-o", "short-monotonic", "-u", "ib-worker-firstboot.service",
		    "-u", "ib-worker@*", "-u", "ib-vmcheck*", "-u",
		    "systemd-networkd.service", "-u", "cloud-init*", NULL };

		if (host_run(argv, &out, log, 60) != 0) {
			snprintf(err, ERRLEN, "journalctl -D %s failed (%s)",
			    jdir, log);
			goto cleanup;
		}
	}
	buf_add(&out, "", 1);
	/* The last 6000 bytes, from a line's start. */
	from = out.data;
	if (out.len > 6000) {
		from = strchr(out.data + out.len - 6000, '\n');
		from = from != NULL ? from + 1 : out.data;
	}
	fprintf(stderr, "  %s's journal (all of it in %s):\n%s\n", vm->name,
	    jdir, from);
	err[0] = '\0';
cleanup:
	if (err[0] != '\0')
		fprintf(stderr, "  %s's journal cannot be read: %s\n",
		    vm->name, err);
	if (g != NULL)
		guestfs_close(g);
	buf_free(&out);
	free(dir);
	free(jdir);
	free(log);
}
