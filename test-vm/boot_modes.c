/*
 * The boot-mode cases: ib-build's GPT images booted in libvirt domains
 * under the firmware they are made for, to the marker their /etc/rc.local
 * prints with the firmware it saw (IB-VMTEST-MARKER HOST uefi|bios: a
 * fallback to the other boot path cannot pass).
 *   uefi    an x86_64 UEFI-only image under OVMF;
 *   hybrid  one x86_64 image (BIOS and UEFI on one GPT disk) under SeaBIOS
 *           and under OVMF, the two domains side by side;
 *   aarch64 an arm64 image (a foreign tree: mmdebstrap through qemu-user)
 *           under AAVMF in an emulated Cortex-A57 (qemu-system-aarch64).
 * The images are built once per run, on the host (ib-build needs no VM
 * for this), by test-vm/bootimg.py from the composes' repository: the
 * first case that needs them builds both, in one store, so the tree is
 * installed once. The store is kept in $B/test-vm/boot-store across runs:
 * a later run installs nothing again, but each run's hostname is new, so
 * everything after the package install (the configuration, the disk, the
 * boot loaders) is built again by the ib-build under test.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#include "log.h"
#include "vmtest.h"

#define OVMF_CODE	"/usr/share/OVMF/OVMF_CODE.fd"
#define OVMF_VARS	"/usr/share/OVMF/OVMF_VARS.fd"
#define BM_BUILD_TIMEOUT	1200
#define BM_BOOT_TIMEOUT		300
#define BM_MARKER	"IB-VMTEST-MARKER"

/* The images of this run: 0 not yet built, 1 built, -1 failed. */
static int	 x86_state, arm_state;
static char	 x86_host[64], arm_host[64];

/*
 * Builds the images of modes (legacy, uefi, hybrid) for arch into
 * $work/bootimg/MODE.qcow2 with test-vm/bootimg.py, hostname host.
 */
static int
build_images(struct vt *vt, const char *arch, const char *host,
    const char *const *modes, size_t nmodes, char *err)
{
	char *logp = xasprintf("%s/bootimg-%s.log", vt->work, arch);
	char *script = xasprintf("%s/test-vm/bootimg.py", vt->top);
	char *mirror = xasprintf("http://127.0.0.1:%d", vt->repo_port);
	char *key = xasprintf("%s/key.asc", vt->repo_dir);
	char *store = xasprintf("%s/test-vm/boot-store", vt->build);
	char *out = xasprintf("%s/bootimg", vt->work);
	char *argv[20];
	size_t n = 0, i;
	int64_t t0 = now_ms();
	int rc;

	argv[n++] = "/usr/bin/python3";
	argv[n++] = script;
	argv[n++] = "--mirror";
	argv[n++] = mirror;
	argv[n++] = "--key";
	argv[n++] = key;
	argv[n++] = "--store";
	argv[n++] = store;
	argv[n++] = "--out";
	argv[n++] = out;
	argv[n++] = "--hostname";
	argv[n++] = (char *)host;
	argv[n++] = "--arch";
	argv[n++] = (char *)arch;
	for (i = 0; i < nmodes && n < nitems(argv) - 1; i++)
		argv[n++] = (char *)modes[i];
	argv[n] = NULL;
	rc = host_run(argv, NULL, logp, BM_BUILD_TIMEOUT);
	if (rc != 0)
		snprintf(err, ERRLEN, "bootimg.py failed (%d), see %s", rc,
		    logp);
	else
		printf("  %s images built on the host (ib-build): %.0f s\n",
		    arch, (now_ms() - t0) / 1000.0);
	free(logp);
	free(script);
	free(mirror);
	free(key);
	free(store);
	free(out);
	return rc == 0 ? 0 : -1;
}

static int
x86_images(struct vt *vt, char *err)
{
	static const char *const modes[] = { "uefi", "hybrid" };

	if (x86_state == 0) {
		/* A hostname of this run: the store's tree is reused, what
		 * comes after the install is not. */
		snprintf(x86_host, sizeof(x86_host), "ibvt-boot-%ld",
		    (long)getpid());
		x86_state = build_images(vt, "x86_64", x86_host, modes,
		    nitems(modes), err) == 0 ? 1 : -1;
	} else if (x86_state == -1)
		snprintf(err, ERRLEN, "the x86_64 images did not build (see "
		    "the first boot-mode case)");
	return x86_state == 1 ? 0 : -1;
}

static int
arm_images(struct vt *vt, char *err)
{
	static const char *const modes[] = { "uefi" };

	if (arm_state == 0) {
		snprintf(arm_host, sizeof(arm_host), "ibvt-arm-%ld",
		    (long)getpid());
		arm_state = build_images(vt, "aarch64", arm_host, modes,
		    nitems(modes), err) == 0 ? 1 : -1;
	} else if (arm_state == -1)
		snprintf(err, ERRLEN, "the aarch64 image did not build");
	return arm_state == 1 ? 0 : -1;
}

/*
 * A domain booting image (on an overlay) under firmware: "bios" (SeaBIOS,
 * the default), "uefi" (OVMF, a fresh copy of its variable store made by
 * libvirt from the template) or "aarch64" (qemu-system-aarch64's virt
 * machine, a Cortex-A57 under TCG, AAVMF: UEFI for arm64).
 */
static struct vm *
boot_image(struct vt *vt, const char *suffix, const char *image,
    const char *firmware, char *err)
{
	int arm = strcmp(firmware, "aarch64") == 0;
	struct vm *vm;
	char *nvram = xasprintf("%s/%s%s.vars.fd", vt->work, VT_PREFIX,
	    suffix);
	char *loader = NULL, *xml = NULL;

	unlink(nvram);
	if ((vm = vm_new(vt, suffix, image, err)) == NULL) {
		free(nvram);
		return NULL;
	}
	if (arm)
		loader = xasprintf("<loader readonly='yes' type='pflash'>"
		    VT_AAVMF_CODE "</loader><nvram template='" VT_AAVMF_VARS
		    "'>%s</nvram>", nvram);
	else if (strcmp(firmware, "uefi") == 0)
		loader = xasprintf("<loader readonly='yes' type='pflash'>"
		    OVMF_CODE "</loader><nvram template='" OVMF_VARS
		    "'>%s</nvram>", nvram);
	else
		loader = xstrdup("");
	xml = xasprintf(
	    "<domain type='qemu'>\n"
	    "  <name>%s</name>\n"
	    "  <memory unit='MiB'>%d</memory>\n"
	    "  <vcpu>1</vcpu>\n"
	    "  <os><type arch='%s' machine='%s'>hvm</type>%s"
	    "<boot dev='hd'/></os>\n"
	    "  <features><acpi/></features>\n"
	    "  <cpu mode='custom' match='exact' check='none'>"
	    "<model fallback='forbid'>%s</model></cpu>\n"
	    "  <clock offset='utc'/>\n"
	    "  <on_poweroff>destroy</on_poweroff>\n"
	    "  <on_reboot>destroy</on_reboot>\n"
	    "  <on_crash>destroy</on_crash>\n"
	    "  <devices>\n"
	    "    <disk type='file' device='disk'>\n"
	    "      <driver name='qemu' type='qcow2' cache='unsafe'/>\n"
	    "      <source file='%s'/>\n"
	    "      <target dev='vda' bus='virtio'/>\n"
	    "    </disk>\n"
	    "    <serial type='file'><source path='%s'/>"
	    "<target port='0'/></serial>\n"
	    "    <memballoon model='none'/>\n"
	    "  </devices>\n"
	    "  <seclabel type='static' model='dac' relabel='no'>"
	    "<label>+0:+0</label></seclabel>\n"
	    "</domain>\n", vm->name, arm ? 1024 : 512,
	    arm ? "aarch64" : "x86_64", arm ? "virt" : "pc", loader,
	    arm ? "cortex-a57" : "qemu64", vm->overlay, vm->serial);
	if (vm_define_start(vt, vm, xml, err) == -1)
		goto fail;
	free(nvram);
	free(loader);
	free(xml);
	return vm;
fail:
	free(nvram);
	free(loader);
	free(xml);
	vm_free(vt, vm);
	return NULL;
}

/* Waits for vm's marker and checks the host name and the firmware. */
static int
wait_marker(struct vm *vm, const char *host, const char *firmware,
    char *err)
{
	char re[160], got[16] = "";

	snprintf(re, sizeof(re), BM_MARKER " %s (uefi|bios)", host);
	if (console_wait(vm, re, BM_BOOT_TIMEOUT, got, sizeof(got), 0,
	    err) == -1) {
		console_tail(vm, 30);
		return -1;
	}
	if (strcmp(got, firmware) != 0) {
		snprintf(err, ERRLEN, "%s booted through %s, not %s", vm->name,
		    got, firmware);
		return -1;
	}
	printf("  %s: the marker (%s, firmware %s) in %.0f s\n", vm->name,
	    host, got, (now_ms() - vm->started_ms) / 1000.0);
	return 0;
}

/* aarch64: the arm64 image (UEFI) under AAVMF, emulated. */
int
t_aarch64(struct vt *vt, char *err)
{
	char *img = NULL;
	struct vm *vm = NULL;
	int rc = -1;

	if (arm_images(vt, err) == -1)
		return -1;
	img = xasprintf("%s/bootimg/uefi-aarch64.qcow2", vt->work);
	if ((vm = boot_image(vt, "aarch64", img, "aarch64", err)) == NULL)
		goto cleanup;
	rc = wait_marker(vm, arm_host, "uefi", err);
cleanup:
	vm_free(vt, vm);
	free(img);
	return rc;
}

/* uefi: the UEFI-only image under OVMF. */
int
t_uefi(struct vt *vt, char *err)
{
	char *img = NULL;
	struct vm *vm = NULL;
	int rc = -1;

	if (x86_images(vt, err) == -1)
		return -1;
	img = xasprintf("%s/bootimg/uefi.qcow2", vt->work);
	if ((vm = boot_image(vt, "uefi", img, "uefi", err)) == NULL)
		goto cleanup;
	rc = wait_marker(vm, x86_host, "uefi", err);
cleanup:
	vm_free(vt, vm);
	free(img);
	return rc;
}

/* hybrid: one image under SeaBIOS and under OVMF, at the same time. */
int
t_hybrid(struct vt *vt, char *err)
{
	char *img = NULL;
	struct vm *bios = NULL, *uefi = NULL;
	int rc = -1;

	if (x86_images(vt, err) == -1)
		return -1;
	img = xasprintf("%s/bootimg/hybrid.qcow2", vt->work);
	if ((bios = boot_image(vt, "hybrid-bios", img, "bios", err)) == NULL ||
	    (uefi = boot_image(vt, "hybrid-uefi", img, "uefi", err)) == NULL)
		goto cleanup;
	if (wait_marker(bios, x86_host, "bios", err) == -1 ||
	    wait_marker(uefi, x86_host, "uefi", err) == -1)
		goto cleanup;
	rc = 0;
cleanup:
	vm_free(vt, bios);
	vm_free(vt, uefi);
	free(img);
	return rc;
}
