/*
 * Does KVM execute guest code? An openable /dev/kvm proves nothing under
 * nested virtualisation (the guest can hang at its first instruction), so
 * this runs a few instructions through the KVM API in a bounded child and
 * expects them to write 0x2a to a test address, then stop:
 *   x86_64   real-mode code: out to port 0xe9, then hlt;
 *   aarch64  EL1 code with the MMU off: a store to an address outside
 *            guest memory (an MMIO exit), then PSCI SYSTEM_OFF by hvc (a
 *            system-event exit).
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vmcheck.h"

#define KVM_DEV		"/dev/kvm"
#define PROBE_VALUE	0x2a
#define ALARM_S		3		/* in the child: interrupts KVM_RUN */
#define KILL_MS		6000		/* in the parent: kills the child */

#if defined(__aarch64__)
/* 64 KiB: a page whatever the host's page size. */
#define GUEST_ADDR	0x10000
#define GUEST_MEM	0x10000
#define PROBE_PORT	0x1000		/* an MMIO address, below guest memory */
#define PROBE_WHAT	"EL1 probe stored 0x%x at MMIO 0x%x and powered off"
/* movz x0,#0x2a; movz x1,#0x1000; str w0,[x1];
 * movz w0,#0x0008; movk w0,#0x8400,lsl #16 (PSCI SYSTEM_OFF); hvc #0; b . */
static const uint32_t guest_code[] = {
	0xd2800540, 0xd2820001, 0xb9000020,
	0x52800100, 0x72b08000, 0xd4000002, 0x14000000
};
#else
#define GUEST_ADDR	0x1000
#define GUEST_MEM	0x1000
#define PROBE_PORT	0xe9
#define PROBE_WHAT	"real-mode probe wrote 0x%x to port 0x%x and halted"
/* mov al,0x20; add al,0x0a; mov dx,0xe9; out dx,al; hlt */
static const unsigned char guest_code[] = {
	0xb0, 0x20, 0x04, 0x0a, 0xba, PROBE_PORT, 0x00, 0xee, 0xf4
};
#endif

static volatile sig_atomic_t alarmed;

/* IB_VMCHECK_KVM_DEVICE lets the tests aim the probe at a device that is
 * not KVM, to walk the failure paths on a machine where KVM works. */
static const char *
kvm_device(void)
{
	const char	*dev;

	if ((dev = getenv("IB_VMCHECK_KVM_DEVICE")) != NULL && *dev == '/')
		return dev;
	return KVM_DEV;
}

static void
on_alarm(int sig)
{
	alarmed = 1;
}

static const char *
exit_name(unsigned int reason)
{
	switch (reason) {
	case KVM_EXIT_UNKNOWN:		return "unknown";
	case KVM_EXIT_EXCEPTION:	return "exception";
	case KVM_EXIT_IO:		return "io";
	case KVM_EXIT_HLT:		return "hlt";
	case KVM_EXIT_MMIO:		return "mmio";
	case KVM_EXIT_SHUTDOWN:		return "shutdown (triple fault)";
	case KVM_EXIT_FAIL_ENTRY:	return "fail_entry";
	case KVM_EXIT_SYSTEM_EVENT:	return "system_event";
	case KVM_EXIT_INTERNAL_ERROR:	return "internal_error";
	default:			return "other";
	}
}

#if defined(__aarch64__)
/* The vCPU as the host's preferred target, PSCI 0.2 (for SYSTEM_OFF),
 * starting at GUEST_ADDR; -1 + dprintf. */
static int
set_entry(int vm, int vcpu, int fd)
{
	struct kvm_vcpu_init	 init;
	struct kvm_one_reg	 reg;
	uint64_t		 pc = GUEST_ADDR;

	memset(&init, 0, sizeof(init));
	if (ioctl(vm, KVM_ARM_PREFERRED_TARGET, &init) == -1) {
		dprintf(fd, "fail KVM_ARM_PREFERRED_TARGET: %s\n",
		    strerror(errno));
		return -1;
	}
	init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
	if (ioctl(vcpu, KVM_ARM_VCPU_INIT, &init) == -1) {
		dprintf(fd, "fail KVM_ARM_VCPU_INIT: %s\n", strerror(errno));
		return -1;
	}
	reg.id = KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |
	    KVM_REG_ARM_CORE_REG(regs.pc);
	reg.addr = (uint64_t)(uintptr_t)&pc;
	if (ioctl(vcpu, KVM_SET_ONE_REG, &reg) == -1) {
		dprintf(fd, "fail KVM_SET_ONE_REG pc: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}
#else
/* Real mode at GUEST_ADDR; -1 + dprintf. */
static int
set_entry(int vm, int vcpu, int fd)
{
	struct kvm_sregs	 sregs;
	struct kvm_regs		 regs;

	(void)vm;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) == -1) {
		dprintf(fd, "fail KVM_GET_SREGS: %s\n", strerror(errno));
		return -1;
	}
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) == -1) {
		dprintf(fd, "fail KVM_SET_SREGS: %s\n", strerror(errno));
		return -1;
	}
	memset(&regs, 0, sizeof(regs));
	regs.rip = GUEST_ADDR;
	regs.rflags = 0x2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) == -1) {
		dprintf(fd, "fail KVM_SET_REGS: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}
#endif

/* Sets up a VM with one vCPU at GUEST_ADDR; -1 + dprintf. */
static int
setup_vcpu(int kvm, int fd, int *vmp, int *vcpup, struct kvm_run **runp,
    size_t *runlenp)
{
	struct kvm_userspace_memory_region	 region;
	void					*mem;
	int					 n;

	if ((n = ioctl(kvm, KVM_GET_API_VERSION, 0)) == -1) {
		dprintf(fd, "fail KVM_GET_API_VERSION: %s\n", strerror(errno));
		return -1;
	}
	if (n != KVM_API_VERSION) {
		dprintf(fd, "fail KVM API version %d, not %d\n", n,
		    KVM_API_VERSION);
		return -1;
	}
	if ((*vmp = ioctl(kvm, KVM_CREATE_VM, 0UL)) == -1) {
		dprintf(fd, "fail KVM_CREATE_VM: %s\n", strerror(errno));
		return -1;
	}
#if !defined(__aarch64__)
	/* Intel without unrestricted guest needs it for real mode. */
	ioctl(*vmp, KVM_SET_TSS_ADDR, 0xfffbd000UL);
#endif
	mem = mmap(NULL, GUEST_MEM, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		dprintf(fd, "fail mmap: %s\n", strerror(errno));
		return -1;
	}
	memcpy(mem, guest_code, sizeof(guest_code));
	memset(&region, 0, sizeof(region));
	region.guest_phys_addr = GUEST_ADDR;
	region.memory_size = GUEST_MEM;
	region.userspace_addr = (unsigned long)mem;
	if (ioctl(*vmp, KVM_SET_USER_MEMORY_REGION, &region) == -1) {
		dprintf(fd, "fail KVM_SET_USER_MEMORY_REGION: %s\n",
		    strerror(errno));
		return -1;
	}
	if ((*vcpup = ioctl(*vmp, KVM_CREATE_VCPU, 0UL)) == -1) {
		dprintf(fd, "fail KVM_CREATE_VCPU: %s\n", strerror(errno));
		return -1;
	}
	if ((n = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0)) <
	    (int)sizeof(struct kvm_run)) {
		dprintf(fd, "fail KVM_GET_VCPU_MMAP_SIZE returned %d\n", n);
		return -1;
	}
	*runlenp = n;
	*runp = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, *vcpup, 0);
	if (*runp == MAP_FAILED) {
		*runp = NULL;
		dprintf(fd, "fail mmap vcpu: %s\n", strerror(errno));
		return -1;
	}
	return set_entry(*vmp, *vcpup, fd);
}

/* Runs the vCPU until it halts; reports "ok MS" or "fail WHY" on fd. */
static int
run_vcpu(int vcpu, struct kvm_run *run, int fd)
{
	unsigned char	 val;
	int64_t		 t0;
	int		 i, got_io = 0;

	t0 = now_ms();
	for (i = 0; i < 16; i++) {
		if (ioctl(vcpu, KVM_RUN, 0) == -1) {
			if (errno == EINTR && alarmed) {
				dprintf(fd, "fail KVM_RUN did not come back "
				    "within %d s (guest code never reached "
				    "the test port)\n", ALARM_S);
				return 1;
			}
			if (errno == EINTR || errno == EAGAIN)
				continue;
			dprintf(fd, "fail KVM_RUN: %s\n", strerror(errno));
			return 1;
		}
		switch (run->exit_reason) {
#if defined(__aarch64__)
		case KVM_EXIT_MMIO:
			val = run->mmio.data[0];
			if (!run->mmio.is_write ||
			    run->mmio.phys_addr != PROBE_PORT ||
			    run->mmio.len != 4 || val != PROBE_VALUE) {
				dprintf(fd, "fail guest did MMIO %s 0x%llx "
				    "value 0x%x, expected a store to 0x%x of "
				    "0x%x\n", run->mmio.is_write ? "store" :
				    "load", (unsigned long long)
				    run->mmio.phys_addr, val, PROBE_PORT,
				    PROBE_VALUE);
				return 1;
			}
			got_io = 1;
			break;
		case KVM_EXIT_SYSTEM_EVENT:
			if (run->system_event.type !=
			    KVM_SYSTEM_EVENT_SHUTDOWN || !got_io) {
				dprintf(fd, "fail guest system event %u %s its "
				    "store\n", run->system_event.type, got_io ?
				    "after" : "before");
				return 1;
			}
			dprintf(fd, "ok %lld\n", (long long)(now_ms() - t0));
			return 0;
#else
		case KVM_EXIT_IO:
			val = *((unsigned char *)run + run->io.data_offset);
			if (run->io.direction != KVM_EXIT_IO_OUT ||
			    run->io.port != PROBE_PORT || run->io.size != 1 ||
			    val != PROBE_VALUE) {
				dprintf(fd, "fail guest did port I/O %s 0x%x "
				    "value 0x%x, expected out 0x%x value "
				    "0x%x\n", run->io.direction ==
				    KVM_EXIT_IO_OUT ? "out" : "in",
				    run->io.port, val, PROBE_PORT,
				    PROBE_VALUE);
				return 1;
			}
			got_io = 1;
			break;
		case KVM_EXIT_HLT:
			if (!got_io) {
				dprintf(fd, "fail guest halted before its "
				    "port write\n");
				return 1;
			}
			dprintf(fd, "ok %lld\n", (long long)(now_ms() - t0));
			return 0;
#endif
		case KVM_EXIT_FAIL_ENTRY:
			dprintf(fd, "fail KVM_RUN exit fail_entry (hardware "
			    "reason 0x%llx)\n", (unsigned long long)
			    run->fail_entry.hardware_entry_failure_reason);
			return 1;
		case KVM_EXIT_INTERNAL_ERROR:
			dprintf(fd, "fail KVM_RUN exit internal_error "
			    "(suberror %u)\n", run->internal.suberror);
			return 1;
		default:
			dprintf(fd, "fail KVM_RUN exit %s (%u)\n",
			    exit_name(run->exit_reason), run->exit_reason);
			return 1;
		}
	}
	dprintf(fd, "fail guest did not halt after %d exits\n", i);
	return 1;
}

/* The child: everything it opened dies with it. */
static int
probe_child(int fd)
{
	struct sigaction	 sa;
	struct kvm_run		*run = NULL;
	size_t			 runlen = 0;
	int			 kvm, vm = -1, vcpu = -1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART: KVM_RUN gets EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	if ((kvm = open(kvm_device(), O_RDWR | O_CLOEXEC)) == -1) {
		dprintf(fd, "fail open %s: %s\n", kvm_device(),
		    strerror(errno));
		return 1;
	}
	if (setup_vcpu(kvm, fd, &vm, &vcpu, &run, &runlen) == -1)
		return 1;
	alarm(ALARM_S);
	return run_vcpu(vcpu, run, fd);
}

int
kvm_probe_child(int argc, char *argv[])
{
	(void)argv;
	if (argc != 0) {
		fprintf(stderr, "kvm: bad arguments\n");
		return 2;
	}
	return probe_child(CHILD_RESULT_FD);
}

/* "vmx", "svm" or NULL, and whether the CPU says it runs under a hypervisor. */
static const char *
cpu_virt_flag(int *hypervisor)
{
	const char	*flag = NULL;
	char		*info, *line, *end;

	*hypervisor = 0;
	if ((info = read_file("/proc/cpuinfo", 16 << 20, NULL)) == NULL)
		return NULL;
	if ((line = strstr(info, "\nflags")) != NULL) {
		if ((end = strchr(line + 1, '\n')) != NULL)
			*end = '\0';
		*hypervisor = strstr(line, " hypervisor") != NULL;
		if (strstr(line, " vmx") != NULL)
			flag = "vmx";
		else if (strstr(line, " svm") != NULL)
			flag = "svm";
	}
	free(info);
	return flag;
}

/* Records why KVM cannot be used; the check warns: builds still run. */
static void
unusable(struct vmcheck *vc, struct check *c, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(vc->kvm_reason, sizeof(vc->kvm_reason), fmt, ap);
	va_end(ap);
	check_set(c, ST_WARN, "KVM unusable: %s; builds will use TCG "
	    "software emulation", vc->kvm_reason);
}

/* Why there is no usable /dev/kvm, without opening anything. */
static void
explain_absent(struct vmcheck *vc, struct check *c, const char *what)
{
	const char	*flag;
	int		 hv;

#if defined(__aarch64__)
	/* arm64 guests (Graviton but .metal) are given no EL2. */
	(void)flag;
	(void)hv;
	unusable(vc, c, "%s: no virtualisation extensions (EL2) on this "
	    "arm64 machine (on EC2 only .metal instance types have them)",
	    what);
	return;
#endif
	flag = cpu_virt_flag(&hv);
	unusable(vc, c, "%s: %s%s", what,
	    flag != NULL ? "CPU has " : "CPU has neither vmx nor svm",
	    flag != NULL ? flag : hv ? " (under a hypervisor without "
	    "nested virtualisation)" : "");
}

void
check_kvm(struct vmcheck *vc, struct check *c)
{
	struct stat	 st;
	struct buf	 out;
	char		 err[256], line[300];
	int64_t		 t0;
	int		 rv, status = 0, fd;

	vc->kvm_checked = 1;
	vc->kvm_ok = 0;
	buf_init(&out);
	if (stat(kvm_device(), &st) == -1) {
		snprintf(err, sizeof(err), "%s absent", kvm_device());
		explain_absent(vc, c, err);
		goto cleanup;
	}
	if ((fd = open(kvm_device(), O_RDWR | O_CLOEXEC)) == -1) {
		strfmt(err, sizeof(err), "cannot open %s: %s", kvm_device(),
		    strerror(errno));
		explain_absent(vc, c, err);
		goto cleanup;
	}
	close(fd);
	t0 = now_ms();
	{
		const char *args[] = { "kvm", NULL };

		rv = proc_run_child(args, KILL_MS, &out, &status, err,
		    sizeof(err));
	}
	check_figure(c, "probe_ms", now_ms() - t0);
	first_line(out.data, line, sizeof(line));
	if (rv == -1)
		unusable(vc, c, "cannot run the probe: %s", err);
	else if (rv == 1)
		unusable(vc, c, "guest did not run: KVM_RUN hung for %d ms and "
		    "ignored signals", KILL_MS);
	else if (strncmp(line, "ok ", 3) == 0) {
		vc->kvm_ok = 1;
		check_figure(c, "guest_run_ms", strtoll(line + 3, NULL, 10));
		check_set(c, ST_PASS, "KVM runs guest code (" PROBE_WHAT ")",
		    PROBE_VALUE, PROBE_PORT);
	} else if (strncmp(line, "fail ", 5) == 0)
		unusable(vc, c, "guest did not run: %s", line + 5);
	else
		unusable(vc, c, "probe ended with %s without a result",
		    proc_status_str(status));
cleanup:
	buf_free(&out);
}
