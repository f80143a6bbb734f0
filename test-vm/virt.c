/*
 * libvirt: the daemons (started here when none runs: PID 1 is not systemd),
 * worker VMs on copy-on-write overlays, their power, and the sweep that
 * removes whatever carries our prefix, at start and at the end.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/virterror.h>

#include "log.h"
#include "vmtest.h"

#define VT_URI	"qemu:///system"

static void
quiet(void *arg, virErrorPtr e)
{
	(void)arg;
	(void)e;
}

static const char *
lverr(void)
{
	const char *m = virGetLastErrorMessage();

	return m != NULL ? m : "unknown libvirt error";
}

static virConnectPtr
try_open(int timeout_s)
{
	int64_t end = now_ms() + (int64_t)timeout_s * 1000;
	virConnectPtr c;

	for (;;) {
		if ((c = virConnectOpen(VT_URI)) != NULL)
			return c;
		if (now_ms() > end || vt_interrupted)
			return NULL;
		host_sleep_ms(250);
	}
}

int
virt_open(struct vt *vt)
{
	char *log;

	virSetErrorFunc(NULL, quiet);
	if ((vt->conn = try_open(0)) != NULL)
		return 0;
	/* No daemon: run our own, in the foreground so the PIDs we stop at
	 * the end are exactly theirs. virtlogd first: the qemu driver sends
	 * the guests' stdio through it. */
	log_info("starting virtlogd and libvirtd (none is running)");
	log = xasprintf("%s/virtlogd.log", vt->work);
	{
		char *argv[] = { "virtlogd", NULL };
		vt->virtlogd_pid = host_spawn(argv, log);
	}
	free(log);
	log = xasprintf("%s/libvirtd.log", vt->work);
	{
		char *argv[] = { "libvirtd", NULL };
		vt->libvirtd_pid = host_spawn(argv, log);
	}
	free(log);
	if (vt->virtlogd_pid == -1)
		vt->virtlogd_pid = 0;
	if (vt->libvirtd_pid == -1)
		vt->libvirtd_pid = 0;
	if ((vt->conn = try_open(60)) == NULL) {
		log_warnx("cannot connect to %s: %s", VT_URI, lverr());
		return -1;
	}
	return 0;
}

void
virt_close(struct vt *vt)
{
	if (vt->conn != NULL) {
		virConnectClose(vt->conn);
		vt->conn = NULL;
	}
	host_stop(&vt->libvirtd_pid, 15);
	host_stop(&vt->virtlogd_pid, 5);
}

static int
ours(const char *name)
{
	return name != NULL && strncmp(name, VT_PREFIX, strlen(VT_PREFIX)) == 0;
}

static void
drop_domain(virDomainPtr d)
{
	int active = virDomainIsActive(d);

	if (active == 1 && virDomainDestroy(d) == -1)
		log_warnx("destroy %s: %s", virDomainGetName(d), lverr());
	if (virDomainIsPersistent(d) == 1 &&
	    virDomainUndefineFlags(d, VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
	    VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA |
	    VIR_DOMAIN_UNDEFINE_NVRAM) == -1)
		log_warnx("undefine %s: %s", virDomainGetName(d), lverr());
}

int
vm_define_start(struct vt *vt, struct vm *vm, const char *xml, char *err)
{
	if ((vm->dom = virDomainDefineXML(vt->conn, xml)) == NULL) {
		snprintf(err, ERRLEN, "define %s: %s", vm->name, lverr());
		return -1;
	}
	vm->started_ms = now_ms();
	if (virDomainCreate(vm->dom) == -1) {
		snprintf(err, ERRLEN, "start %s: %s", vm->name, lverr());
		return -1;
	}
	return 0;
}

void
virt_sweep(struct vt *vt)
{
	virDomainPtr *doms = NULL;
	virNetworkPtr *nets = NULL;
	int i, n;

	if (vt->conn == NULL)
		return;
	n = virConnectListAllDomains(vt->conn, &doms, 0);
	for (i = 0; i < n; i++) {
		if (ours(virDomainGetName(doms[i]))) {
			log_info("removing domain %s", virDomainGetName(doms[i]));
			drop_domain(doms[i]);
		}
		virDomainFree(doms[i]);
	}
	free(doms);
	n = virConnectListAllNetworks(vt->conn, &nets, 0);
	for (i = 0; i < n; i++) {
		if (ours(virNetworkGetName(nets[i]))) {
			log_info("removing network %s", virNetworkGetName(nets[i]));
			if (virNetworkIsActive(nets[i]) == 1)
				virNetworkDestroy(nets[i]);
			if (virNetworkIsPersistent(nets[i]) == 1)
				virNetworkUndefine(nets[i]);
		}
		virNetworkFree(nets[i]);
	}
	free(nets);
}

/*
 * TCG (type='qemu') without SVM (qemu64 has it and TCG emulates it, so the
 * guest's KVM would work, at a crawl; a cloud worker without nested
 * virtualisation has none), the overlay on virtio, for a worker its cache
 * volume as a second disk, user-mode networking (the host's 127.0.0.1 is
 * VT_HOST_IP inside), the serial console into a file. qemu runs as root
 * without relabelling: the shared backing image must not have its owner
 * changed under the other VMs.
 */
static char *
domain_xml(struct vm *vm, int mem_mib, int vcpus, int arm)
{
	/* aarch64: qemu's virt machine, a Cortex-A57, AAVMF (UEFI) with a
	 * fresh copy of its variable store. */
	char *nvram = xasprintf("%s.vars.fd", vm->overlay);
	char *os = arm ? xasprintf("<type arch='aarch64' machine='virt'>hvm"
	    "</type><loader readonly='yes' type='pflash'>" VT_AAVMF_CODE
	    "</loader><nvram template='" VT_AAVMF_VARS "'>%s</nvram>", nvram) :
	    xstrdup("<type arch='x86_64' machine='pc'>hvm</type>");
	const char *cpu = arm ? "<model fallback='forbid'>cortex-a57</model>" :
	    "<model fallback='forbid'>qemu64</model>"
	    "<feature policy='disable' name='svm'/>";
	char *cache = vm->cache == NULL ? xstrdup("") : xasprintf(
	    "    <disk type='file' device='disk'>\n"
	    "      <driver name='qemu' type='raw' cache='unsafe'/>\n"
	    "      <source file='%s'/>\n"
	    "      <target dev='vdb' bus='virtio'/>\n"
	    "    </disk>\n", vm->cache);
	char *xml = xasprintf(
	    "<domain type='qemu'>\n"
	    "  <name>%s</name>\n"
	    "  <memory unit='MiB'>%d</memory>\n"
	    "  <vcpu>%d</vcpu>\n"
	    "  <os>%s<boot dev='hd'/></os>\n"
	    "  <features><acpi/></features>\n"
	    "  <cpu mode='custom' match='exact' check='none'>%s</cpu>\n"
	    "  <clock offset='utc'/>\n"
	    "  <on_poweroff>destroy</on_poweroff>\n"
	    "  <on_reboot>restart</on_reboot>\n"
	    "  <on_crash>destroy</on_crash>\n"
	    "  <devices>\n"
	    "    <disk type='file' device='disk'>\n"
	    "      <driver name='qemu' type='qcow2' cache='unsafe'/>\n"
	    "      <source file='%s'/>\n"
	    "      <target dev='vda' bus='virtio'/>\n"
	    "    </disk>\n"
	    "%s"
	    "    <interface type='user'><model type='virtio'/></interface>\n"
	    "    <serial type='file'><source path='%s'/>"
	    "<target port='0'/></serial>\n"
	    "    <memballoon model='none'/>\n"
	    "  </devices>\n"
	    "  <seclabel type='static' model='dac' relabel='no'>"
	    "<label>+0:+0</label></seclabel>\n"
	    "</domain>\n", vm->name, mem_mib, vcpus, os, cpu, vm->overlay,
	    cache, vm->serial);

	unlink(nvram);
	free(nvram);
	free(os);
	free(cache);
	return xml;
}

/* A blank ext4 volume labelled ib-cache for the worker's cache directory
 * (the guest mounts it by label), as a cloud worker gets its cache volume:
 * sparse, so it costs only what the builds write. */
static int
cache_volume(struct vt *vt, const char *path, char *err)
{
	char *log = xasprintf("%s/mkfs.log", vt->work);
	char *argv[] = { "mkfs.ext4", "-q", "-F", "-L", "ib-cache",
	    "-E", "lazy_itable_init=1,lazy_journal_init=1", (char *)path,
	    VT_CACHE_SIZE, NULL };
	int rc = 0;

	unlink(path);
	if (host_run(argv, NULL, log, 120) != 0) {
		snprintf(err, ERRLEN, "mkfs.ext4 %s failed (see %s)", path, log);
		rc = -1;
	}
	free(log);
	return rc;
}

/*
 * A new vm named VT_PREFIX suffix on a fresh qcow2 overlay of backing in
 * the work directory (its console file removed); NULL with err.
 */
struct vm *
vm_new(struct vt *vt, const char *suffix, const char *backing, char *err)
{
	struct vm *vm = xcalloc(1, sizeof(*vm));
	char *log = xasprintf("%s/qemu-img.log", vt->work);
	char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2",
	    "-b", (char *)backing, "-F", "qcow2", NULL, NULL };

	vm->name = xasprintf("%s%s", VT_PREFIX, suffix);
	vm->overlay = xasprintf("%s/%s.qcow2", vt->work, vm->name);
	vm->serial = xasprintf("%s/%s.serial", vt->work, vm->name);
	buf_init(&vm->console);
	unlink(vm->overlay);
	unlink(vm->serial);
	argv[9] = vm->overlay;
	if (host_run(argv, NULL, log, 60) != 0) {
		snprintf(err, ERRLEN, "qemu-img create %s failed",
		    vm->overlay);
		free(log);
		vm_free(vt, vm);
		return NULL;
	}
	free(log);
	return vm;
}

/* Defines and starts a domain booting from a new overlay of backing
 * (qcow2), with a cache volume when with_cache is set. */
static struct vm *
start(struct vt *vt, const char *suffix, const char *backing, int with_cache,
    int mem_mib, int vcpus, int arm, char *err)
{
	struct vm *vm;
	char *xml = NULL;

	if ((vm = vm_new(vt, suffix, backing, err)) == NULL)
		return NULL;
	if (with_cache) {
		vm->cache = xasprintf("%s/%s-cache.raw", vt->work, vm->name);
		if (cache_volume(vt, vm->cache, err) == -1)
			goto fail;
	}
	xml = domain_xml(vm, mem_mib, vcpus, arm);
	if (vm_define_start(vt, vm, xml, err) == -1)
		goto fail;
	free(xml);
	return vm;
fail:
	free(xml);
	vm_free(vt, vm);
	return NULL;
}

struct vm *
vm_start(struct vt *vt, const char *suffix, char *err)
{
	if (vt->base == NULL && guest_prepare(vt, err) == -1)
		return NULL;
	return start(vt, suffix, vt->base, 1, vt->vm_mem_mib, VT_WORKER_VCPUS,
	    0, err);
}

struct vm *
vm_start_arm(struct vt *vt, const char *suffix, const char *base, char *err)
{
	return start(vt, suffix, base, 1, vt->vm_mem_mib, VT_WORKER_VCPUS, 1,
	    err);
}

/* A path that can stand as one word in the guest forward's command (qemu
 * splits -netdev at ',', the command is split as a shell would, the XML
 * attribute is quoted with '). */
static int
netdev_safe(const char *p)
{
	return p[0] != '\0' &&
	    p[strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789/._+-")] == '\0';
}

/*
 * The deployed instance's domain: as domain_xml, but the root disk on a
 * virtio-scsi controller (sda; the cache volume is hot-plugged as sdb once
 * the root disk is up, see vm_start_deployed) and the network given to qemu
 * directly: libvirt's
 * user interface has no guest forwarding, which the metadata address needs.
 * The forward runs test-vm/doubles/relay.py for each connection, which
 * libvirt's default seccomp sandbox (spawn=deny) would refuse, killing
 * qemu at the first metadata request; libvirt's own -sandbox comes after
 * any custom argument and would win, so its seccomp-sandbox capability is
 * removed for this domain and ours stands: spawn=allow, and
 * elevateprivileges=allow because libslirp's child calls setsid() before
 * it runs the command (seccomp kills it with SIGSYS otherwise, and the
 * guest's connection gets an empty reply).
 * The relay runs as /usr/bin/python3 -I -S: qemu's PATH is the harness's
 * and may find a python3 that is a shell shim (pyenv's: a second or more
 * of bash before Python starts under load, and whatever interpreter its
 * state picks), and qemu's HOME is libvirt's per-domain one; -S skips the
 * site modules the relay does not need. Each connection appends a line
 * to the run's relay log (printed when a deploy test fails).
 */
static char *
deployed_xml(struct vt *vt, struct vm *vm, int imds_port,
    const char *relay_log)
{
	char *netdev = xasprintf("user,id=ibvtnet,net=%s,host=%s,"
	    "guestfwd=tcp:%s:80-cmd:/usr/bin/python3 -I -S "
	    "%s/test-vm/doubles/relay.py %d %s",
	    VT_DEPLOY_NET, VT_DEPLOY_HOST_IP, VT_IMDS_IP, vt->top, imds_port,
	    relay_log);
	char *xml = xasprintf(
	    "<domain type='qemu' "
	    "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
	    "  <name>%s</name>\n"
	    "  <memory unit='MiB'>%d</memory>\n"
	    "  <vcpu>%d</vcpu>\n"
	    "  <os><type arch='x86_64' machine='pc'>hvm</type>"
	    "<boot dev='hd'/></os>\n"
	    "  <features><acpi/></features>\n"
	    "  <cpu mode='custom' match='exact' check='none'>"
	    "<model fallback='forbid'>qemu64</model>"
	    "<feature policy='disable' name='svm'/></cpu>\n"
	    "  <clock offset='utc'/>\n"
	    "  <on_poweroff>destroy</on_poweroff>\n"
	    "  <on_reboot>restart</on_reboot>\n"
	    "  <on_crash>destroy</on_crash>\n"
	    "  <devices>\n"
	    "    <controller type='scsi' index='0' model='virtio-scsi'/>\n"
	    "    <disk type='file' device='disk'>\n"
	    "      <driver name='qemu' type='qcow2' cache='unsafe'/>\n"
	    "      <source file='%s'/>\n"
	    "      <target dev='sda' bus='scsi'/>\n"
	    "      <address type='drive' controller='0' bus='0' target='0' "
	    "unit='0'/>\n"
	    "    </disk>\n"
	    "    <serial type='file'><source path='%s'/>"
	    "<target port='0'/></serial>\n"
	    "    <memballoon model='none'/>\n"
	    "  </devices>\n"
	    "  <seclabel type='static' model='dac' relabel='no'>"
	    "<label>+0:+0</label></seclabel>\n"
	    "  <qemu:commandline>\n"
	    "    <qemu:arg value='-netdev'/>\n"
	    "    <qemu:arg value='%s'/>\n"
	    "    <qemu:arg value='-device'/>\n"
	    "    <qemu:arg value='virtio-net-pci,netdev=ibvtnet,bus=pci.0,"
	    "addr=0x10'/>\n"
	    "    <qemu:arg value='-sandbox'/>\n"
	    "    <qemu:arg value='on,obsolete=deny,elevateprivileges=allow,"
	    "spawn=allow,resourcecontrol=deny'/>\n"
	    "  </qemu:commandline>\n"
	    "  <qemu:capabilities>\n"
	    "    <qemu:del capability='seccomp-sandbox'/>\n"
	    "  </qemu:capabilities>\n"
	    "</domain>\n", vm->name, vt->vm_mem_mib, VT_WORKER_VCPUS,
	    vm->overlay, vm->serial, netdev);

	free(netdev);
	return xml;
}

/*
 * The cache volume, attached once the guest has its root disk as sda.
 * Attached at boot, both disks were probed in parallel and the names went
 * to whichever finished first: the root disk came up as sdb (in CI and
 * here), and first boot (rightly) found no file system UUID on it. EBS
 * attaches a launch template's volumes in no promised order either; first
 * boot retries until the named device is there, and this exercises that.
 */
static int
attach_cache_late(struct vm *vm, char *err)
{
	char found[128];
	char *xml;
	int rc;

	if (console_wait(vm, "\\[sda\\] Attached SCSI disk", 300, found,
	    sizeof(found), 0, err) == -1)
		return -1;
	xml = xasprintf(
	    "<disk type='file' device='disk'>\n"
	    "  <driver name='qemu' type='raw' cache='unsafe'/>\n"
	    "  <source file='%s'/>\n"
	    "  <target dev='sdb' bus='scsi'/>\n"
	    "  <address type='drive' controller='0' bus='0' target='0' "
	    "unit='1'/>\n"
	    "</disk>\n", vm->cache);
	rc = virDomainAttachDeviceFlags(vm->dom, xml, VIR_DOMAIN_AFFECT_LIVE);
	free(xml);
	if (rc == -1) {
		snprintf(err, ERRLEN, "attach %s's cache volume: %s", vm->name,
		    lverr());
		return -1;
	}
	return 0;
}

struct vm *
vm_start_deployed(struct vt *vt, const char *suffix, int imds_port,
    const char *relay_log, long long cache_size, char *err)
{
	struct vm *vm;
	char *xml = NULL;
	int fd;

	if (!netdev_safe(vt->top) || !netdev_safe(relay_log)) {
		snprintf(err, ERRLEN, "%s or %s: a path with other than "
		    "letters, digits and /._+- would break qemu's -netdev",
		    vt->top, relay_log);
		return NULL;
	}
	if ((vm = vm_new(vt, suffix, vt->pinned, err)) == NULL)
		return NULL;
	vm->cache = xasprintf("%s/%s-cache.raw", vt->work, vm->name);
	/* Blank and sparse, as EBS gives a new volume: first boot makes
	 * its file system. */
	unlink(vm->cache);
	if ((fd = open(vm->cache, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0644)) == -1 || ftruncate(fd, (off_t)cache_size) == -1) {
		snprintf(err, ERRLEN, "%s: %s", vm->cache, strerror(errno));
		if (fd != -1)
			close(fd);
		goto fail;
	}
	close(fd);
	xml = deployed_xml(vt, vm, imds_port, relay_log);
	if (vm_define_start(vt, vm, xml, err) == -1)
		goto fail;
	if (attach_cache_late(vm, err) == -1)
		goto fail;
	free(xml);
	return vm;
fail:
	free(xml);
	vm_free(vt, vm);
	return NULL;
}

struct vm *
vm_start_image(struct vt *vt, const char *suffix, const char *image,
    char *err)
{
	return start(vt, suffix, image, 0, 512, 1, 0, err);
}

void
vm_free(struct vt *vt, struct vm *vm)
{
	if (vm == NULL)
		return;
	if (vm->dom != NULL) {
		drop_domain(vm->dom);
		virDomainFree(vm->dom);
	}
	if (!vt->keep) {
		unlink(vm->overlay);
		unlink(vm->serial);
		if (vm->cache != NULL)
			unlink(vm->cache);
	}
	free(vm->name);
	free(vm->cache);
	free(vm->overlay);
	free(vm->serial);
	free(vm->worker_id);
	buf_free(&vm->console);
	free(vm);
}

int
vm_shutdown(struct vm *vm, char *err)
{
	/* The ACPI power button: logind powers off, systemd stops units. */
	if (virDomainShutdownFlags(vm->dom,
	    VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN) == -1) {
		snprintf(err, ERRLEN, "shutdown %s: %s", vm->name, lverr());
		return -1;
	}
	return 0;
}

int
vm_destroy(struct vm *vm, char *err)
{
	if (virDomainDestroy(vm->dom) == -1) {
		snprintf(err, ERRLEN, "destroy %s: %s", vm->name, lverr());
		return -1;
	}
	return 0;
}

int
vm_is_running(struct vm *vm)
{
	int state = 0, reason = 0;

	if (vm == NULL || vm->dom == NULL ||
	    virDomainGetState(vm->dom, &state, &reason, 0) == -1)
		return 0;
	return state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_BLOCKED ||
	    state == VIR_DOMAIN_PAUSED;
}

int
vm_wait_off(struct vm *vm, int timeout_s, char *err)
{
	int64_t end = now_ms() + (int64_t)timeout_s * 1000;
	int state = 0, reason = 0;

	while (now_ms() < end && !vt_interrupted) {
		if (virDomainGetState(vm->dom, &state, &reason, 0) == 0 &&
		    state == VIR_DOMAIN_SHUTOFF)
			return 0;
		console_poll(vm);
		host_sleep_ms(500);
	}
	snprintf(err, ERRLEN, "%s still running %d s after the shutdown "
	    "request", vm->name, timeout_s);
	return -1;
}
