/*
 * The "qemu.kvm" executor: one transient libvirt domain per build, booted
 * from a qcow2 overlay on the executor base image (the worker image; an
 * SMBIOS OEM string passes the system credential ib.role, which makes
 * it start ib-agent instead of
 * the worker), reached through a forward of one loopback port to the
 * agent's. KVM when ib-vmcheck finds it usable, TCG otherwise. The domain
 * and the overlay go when the build ends, however it ends; domains named
 * with this worker's prefix that a dead worker left are reaped at start.
 * libvirt is driven through virsh and qemu-img through exec_run: the
 * daemon links no more libraries for it.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cache.h"
#include "executor/agent_client.h"
#include "executor/executor.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"

#define QEMU_TOOL_MS	120000
#define QEMU_STEP_MS	120000
#define QEMU_SILENCE_MS	120000
#define QEMU_NAME_MAX	96

struct qvm {
	const struct config	*conf;
	char			 name[QEMU_NAME_MAX];
	char			 port[16];
	char			*dir;		/* overlay, XML, console */
	char			*overlay;
	char			*scratch;	/* the build's blank disk */
	int			 created;
};

/* The prefix of this worker's domains: its mark and "-". */
static void
prefix(const struct config *conf, char *p, size_t len)
{
	size_t	n;

	executor_mark(conf, p, len - 1);
	n = strlen(p);
	p[n] = '-';
	p[n + 1] = '\0';
}

/* Runs a tool; 0 when it exited 0, else -1 with why (its stderr tail). */
static int
tool(const char *const *argv, struct buf *out, char *why, size_t len)
{
	struct exec_opts	 o;
	struct exec_result	 res;
	char			 st[64];
	int			 rc = -1;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.timeout_ms = QEMU_TOOL_MS;
	o.stdout_max = 1 << 20;
	if (exec_run(&o, &res) == -1)
		snprintf(why, len, "%s", res.error);
	else if (!res.exited || res.code != 0) {
		/* The end of what it said: virsh names the file first. */
		rtrim(res.err.data);
		snprintf(why, len, "%s: %s: %s", argv[0],
		    exec_status_str(&res, st, sizeof(st)), res.err.data +
		    (strlen(res.err.data) > 160 ? strlen(res.err.data) - 160 :
		    0));
	} else {
		rc = 0;
		if (out != NULL)
			buf_add(out, res.out.data, res.out.len);
	}
	exec_result_free(&res);
	return rc;
}

static int
virsh(const struct config *conf, const char *cmd, const char *arg,
    struct buf *out, char *why, size_t len)
{
	const char	*argv[] = { "virsh", "-q", "-c",
	    conf->osbuild_executor.libvirt_uri, cmd, arg, NULL };

	return tool(argv, out, why, len);
}

/* "kvm" or "tcg": as configured, or as ib-vmcheck finds it. */
static const char *
accel(const struct config *conf)
{
	const char	*argv[] = { "ib-vmcheck", "--json", "--quick",
	    "--skip", "container,mount,loop,cache,builder,qemu-img,libvirt,"
	    "appliance", NULL };
	struct exec_opts	 o;
	struct exec_result	 res;
	json_object		*j;
	int			 kvm = 0;

	if (strcmp(conf->osbuild_executor.accel, "auto") != 0) {
		log_info("executor qemu.kvm: %s, as configured",
		    conf->osbuild_executor.accel);
		return strcmp(conf->osbuild_executor.accel, "kvm") == 0 ?
		    "kvm" : "tcg";
	}
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.timeout_ms = QEMU_TOOL_MS;
	if (exec_run(&o, &res) == 0 && (j = json_tokener_parse(
	    res.out.data)) != NULL) {
		json_get_bool(j, "kvm_usable", &kvm);
		json_object_put(j);
	}
	exec_result_free(&res);
	log_info("executor qemu.kvm: %s (ib-vmcheck says KVM is %susable)",
	    kvm ? "KVM" : "TCG, slow", kvm ? "" : "not ");
	return kvm ? "kvm" : "tcg";
}

/* A free loopback port for the forward. */
static int
free_port(char *port, size_t len)
{
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);
	int			 fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1) {
		close(fd);
		return -1;
	}
	close(fd);
	snprintf(port, len, "%u", ntohs(sin.sin_port));
	return 0;
}

static char *
domain_xml(const struct qvm *vm, const char *acc, const char *console)
{
	const struct config	*c = vm->conf;

	return xasprintf(
	    "<domain type='%s' "
	    "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
	    "  <name>%s</name>\n"
	    "  <memory unit='MiB'>%lld</memory>\n"
	    "  <vcpu>%lld</vcpu>\n"
	    "  <sysinfo type='smbios'><oemStrings>"
	    "<entry>io.systemd.credential:ib.role=executor</entry></oemStrings></sysinfo>\n"
	    "  <os><type arch='x86_64' machine='pc'>hvm</type>"
	    "<boot dev='hd'/><smbios mode='sysinfo'/></os>\n"
	    "  <features><acpi/></features>\n"
	    "%s"
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
	    "    <disk type='file' device='disk'>\n"
	    "      <driver name='qemu' type='qcow2' cache='unsafe'/>\n"
	    "      <source file='%s'/>\n"
	    "      <target dev='vdb' bus='virtio'/>\n"
	    "    </disk>\n"
	    "    <serial type='file'><source path='%s'/>"
	    "<target port='0'/></serial>\n"
	    "    <memballoon model='none'/>\n"
	    "  </devices>\n"
	    "  <seclabel type='static' model='dac' relabel='no'>"
	    "<label>+0:+0</label></seclabel>\n"
	    "  <qemu:commandline>\n"
	    "    <qemu:arg value='-netdev'/>\n"
	    "    <qemu:arg value='user,id=ibxnet,restrict=%s,"
	    "hostfwd=tcp:127.0.0.1:%s-:%s'/>\n"
	    "    <qemu:arg value='-device'/>\n"
	    "    <qemu:arg value='virtio-net-pci,netdev=ibxnet,bus=pci.0,"
	    "addr=0x10'/>\n"
	    "  </qemu:commandline>\n"
	    "</domain>\n", strcmp(acc, "kvm") == 0 ? "kvm" : "qemu", vm->name, (long long)c->osbuild_executor.memory,
	    (long long)c->osbuild_executor.vcpus,
	    strcmp(acc, "kvm") == 0 ? "  <cpu mode='host-passthrough'/>\n" :
	    "  <cpu mode='custom' match='exact' check='none'><model "
	    "fallback='forbid'>qemu64</model></cpu>\n",
	    vm->overlay, vm->scratch, console,
	    strcmp(c->osbuild_executor.network, "none") == 0 ? "on" : "off",
	    vm->port, AGC_PORT);
}

/* 1 when the domain is gone (powered off, destroyed, never made). */
static int
domain_gone(void *arg)
{
	struct qvm	*vm = arg;
	struct buf	 out;
	char		 why[256];
	int		 gone;

	buf_init(&out);
	gone = virsh(vm->conf, "domstate", vm->name, &out, why,
	    sizeof(why)) == -1 || strstr(out.data, "running") == NULL;
	buf_free(&out);
	return gone;
}

static void
destroy(struct qvm *vm)
{
	char	 why[256];

	if (vm->created && virsh(vm->conf, "destroy", vm->name, NULL, why,
	    sizeof(why)) == -1 && !domain_gone(vm))
		log_warnx("executor qemu.kvm: %s not destroyed: %s",
		    vm->name, why);
	else if (vm->created)
		log_info("executor qemu.kvm: domain %s destroyed", vm->name);
	if (vm->dir != NULL && remove_tree(vm->dir) == -1)
		log_warn("executor qemu.kvm: cannot remove %s", vm->dir);
	free(vm->dir);
	free(vm->overlay);
	free(vm->scratch);
}

static int
qemu_build(const struct config *conf, const struct executor_build *b,
    struct executor_result *r)
{
	struct qvm		 vm;
	struct agent_limits	 lim;
	const char		*acc;
	char			 pre[32], size[32], why[512];
	char			*xml = NULL, *xmlpath = NULL, *console = NULL;
	int			 rc = -1;
	int64_t			 t0 = now_ms();

	memset(&vm, 0, sizeof(vm));
	memset(&r->res, 0, sizeof(r->res));
	buf_init(&r->res.out);
	buf_init(&r->res.err);
	buf_add(&r->res.out, "", 0);
	buf_add(&r->res.err, "", 0);
	vm.conf = conf;
	prefix(conf, pre, sizeof(pre));
	snprintf(vm.name, sizeof(vm.name), "%s%.60s", pre, b->build_id);
	if (!name_is_safe(b->build_id) || free_port(vm.port,
	    sizeof(vm.port)) == -1) {
		snprintf(r->res.error, sizeof(r->res.error), "executor "
		    "qemu.kvm: no build name or no free port");
		goto cleanup;
	}
	if ((vm.dir = cache_output_new(conf->worker.cache_directory, vm.name,
	    why, sizeof(why))) == NULL) {
		snprintf(r->res.error, sizeof(r->res.error), "executor "
		    "qemu.kvm: %.200s", why);
		goto cleanup;
	}
	vm.overlay = xasprintf("%s/disk.qcow2", vm.dir);
	vm.scratch = xasprintf("%s/scratch.qcow2", vm.dir);
	console = xasprintf("%s/console.log", vm.dir);
	xmlpath = xasprintf("%s/domain.xml", vm.dir);
	snprintf(size, sizeof(size), "%lldG",
	    (long long)conf->osbuild_executor.disk);
	{
		/* The system on an overlay of the image, the build on a
		 * blank disk of its own (the agent makes its file system). */
		const char *argv[] = { "qemu-img", "create", "-q", "-f",
		    "qcow2", "-F", "qcow2", "-b", conf->osbuild_executor.image,
		    vm.overlay, NULL };
		const char *sargv[] = { "qemu-img", "create", "-q", "-f",
		    "qcow2", vm.scratch, size, NULL };

		if (tool(argv, NULL, why, sizeof(why)) == -1 ||
		    tool(sargv, NULL, why, sizeof(why)) == -1) {
			snprintf(r->res.error, sizeof(r->res.error),
			    "executor qemu.kvm: the overlay: %.200s", why);
			goto cleanup;
		}
	}
	acc = accel(conf);
	xml = domain_xml(&vm, acc, console);
	if (write_file_atomic(xmlpath, xml, strlen(xml), 0600) == -1) {
		snprintf(r->res.error, sizeof(r->res.error), "executor "
		    "qemu.kvm: %s: %s", xmlpath, strerror(errno));
		goto cleanup;
	}
	if (atomic_load(b->canceled)) {
		r->res.canceled = 1;
		rc = 0;
		goto cleanup;
	}
	if (virsh(conf, "create", xmlpath, NULL, why, sizeof(why)) == -1) {
		snprintf(r->res.error, sizeof(r->res.error), "executor "
		    "qemu.kvm: the domain: %.200s", why);
		goto cleanup;
	}
	vm.created = 1;
	log_info("executor qemu.kvm: domain %s started (%lld vCPUs, %lld "
	    "MiB, %s; agent on 127.0.0.1 port %s)", vm.name,
	    (long long)conf->osbuild_executor.vcpus,
	    (long long)conf->osbuild_executor.memory, acc, vm.port);
	memset(&lim, 0, sizeof(lim));
	lim.reach_ms = conf->osbuild_executor.boot_timeout * 1000;
	lim.step_ms = QEMU_STEP_MS;
	lim.silence_ms = QEMU_SILENCE_MS;
	lim.gone = domain_gone;
	lim.gone_arg = &vm;
	rc = agent_client_build("127.0.0.1", vm.port, &lim, b, r);
	if (rc == -1 && atomic_load(b->canceled)) {
		r->res.canceled = 1;
		rc = 0;
	}
cleanup:
	destroy(&vm);
	log_info("executor qemu.kvm: build environment gone after %lld s",
	    (long long)((now_ms() - t0) / 1000));
	free(xml);
	free(xmlpath);
	free(console);
	return rc;
}

static int
qemu_reap(const struct config *conf)
{
	struct buf	 out;
	char		 pre[32], why[256], *line, *save = NULL;
	int		 rc = 0, n = 0;

	prefix(conf, pre, sizeof(pre));
	buf_init(&out);
	if (virsh(conf, "list", "--name", &out, why, sizeof(why)) == -1) {
		log_warnx("executor qemu.kvm: cannot list domains: %s", why);
		buf_free(&out);
		return -1;
	}
	for (line = strtok_r(out.data, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		rtrim(line);
		if (strncmp(line, pre, strlen(pre)) != 0 ||
		    !name_is_safe(line))
			continue;
		if (virsh(conf, "destroy", line, NULL, why,
		    sizeof(why)) == -1) {
			log_warnx("executor qemu.kvm: leftover domain %s not "
			    "destroyed: %s", line, why);
			rc = -1;
		} else {
			log_info("executor qemu.kvm: leftover domain %s of a "
			    "dead worker destroyed", line);
			n++;
		}
	}
	buf_free(&out);
	if (n == 0 && rc == 0)
		log_debug("executor qemu.kvm: no leftover domain");
	/* Their overlays were in the cache's output, emptied at start. */
	return rc;
}

static int
qemu_available(const struct config *conf, char *why, size_t len)
{
	if (access(conf->osbuild_executor.image, R_OK) == -1) {
		snprintf(why, len, "the executor image %s cannot be read",
		    conf->osbuild_executor.image);
		return 0;
	}
	if (!exec_runnable("virsh") || !exec_runnable("qemu-img")) {
		snprintf(why, len, "virsh or qemu-img cannot be run");
		return 0;
	}
	return 1;
}

const struct executor executor_qemu = {
	"qemu.kvm", qemu_build, qemu_reap, qemu_available
};
