/*
 * ib-vmtest: the worker fleet end to end in local libvirt VMs (TCG). The
 * host runs the local queue and s3rver on loopback; worker VMs booted from
 * the local worker image reach them at 10.0.2.2 through user-mode networking.
 */
#ifndef IB_VMTEST_H
#define IB_VMTEST_H

#include <sys/types.h>

#include <signal.h>

#include <json-c/json.h>
#include <libvirt/libvirt.h>

#include "util.h"

/* Every domain, overlay and file this harness creates starts with this. */
#define VT_PREFIX	"ibvt-"
/* The host's loopback as the guests see it (qemu's user-mode network). */
#define VT_HOST_IP	"10.0.2.2"
/* UEFI for arm64 domains (qemu-efi-aarch64). */
#define VT_AAVMF_CODE	"/usr/share/AAVMF/AAVMF_CODE.fd"
#define VT_AAVMF_VARS	"/usr/share/AAVMF/AAVMF_VARS.fd"
/* A worker VM's cache volume (sparse) and its vCPUs: two, so that
 * mmdebstrap, xz and qemu-img get both host cores under TCG. */
#define VT_CACHE_SIZE	"6G"
#define VT_WORKER_VCPUS	2
/* The deployed instance's user network: it holds the instance metadata
 * address (qemu forwards a guest address only inside its network), the
 * host's loopback is VT_DEPLOY_HOST_IP there. */
#define VT_DEPLOY_NET		"169.254.169.0/24"
#define VT_DEPLOY_HOST_IP	"169.254.169.2"
#define VT_IMDS_IP		"169.254.169.254"

/* Set by SIGINT/SIGTERM; every wait gives up when it is set. */
extern volatile sig_atomic_t vt_interrupted;

/* One worker VM. */
struct vm {
	char		*name;		/* VT_PREFIX... */
	char		*overlay;	/* its copy-on-write disk */
	char		*cache;		/* its cache volume, or NULL */
	char		*serial;	/* its serial console, a file */
	virDomainPtr	 dom;
	struct buf	 console;	/* what the console printed so far */
	size_t		 mark;		/* where the next search starts */
	char		*worker_id;	/* as the queue registered it */
	int64_t		 started_ms;
};

/* The run: paths, the daemons, the host services. */
struct vt {
	char		*top;		/* the repository */
	char		*build;		/* $B, absolute */
	char		*work;		/* $B/test-vm/run */
	char		*image;		/* $B/images/worker.qcow2 */
	char		*pinned;	/* a hard link to image, for this run */
	char		*base;		/* the run's prepared overlay of image,
					   made by the first vm_start */
	char		*queue_state;
	int		 queue_port;
	pid_t		 queue_pid;
	char		*queue_url;	/* http://127.0.0.1:PORT */
	int		 s3_port;
	pid_t		 s3_pid;
	char		*s3_dir;
	char		*repo_dir;	/* $B/test-vm/repo (test-vm/mkrepo.sh) */
	int		 repo_port;
	pid_t		 repo_pid;
	virConnectPtr	 conn;
	pid_t		 libvirtd_pid;	/* started by us, else 0 */
	pid_t		 virtlogd_pid;
	int		 vm_mem_mib;
	int		 keep;		/* keep the work directory */
	int		 verbose;
};

/* A failed check inside a test: the reason goes into err (caller's). */
#define ERRLEN	1024

/* host.c: processes on the host. */
/* Runs argv (stdin /dev/null), stdout into out (may be NULL), stderr into
 * the log file at logpath (NULL: inherit); kills it after timeout_s.
 * Returns its exit status, -1 if it could not run or was killed. */
int	 host_run(char *const argv[], struct buf *out, const char *logpath,
	    int timeout_s);
/* Starts argv in its own process group, output to logpath; returns its pid
 * or -1. */
pid_t	 host_spawn(char *const argv[], const char *logpath);
/* SIGTERM (then SIGKILL after grace_s) to the process group of *pid; reaps
 * it and sets *pid to 0. Accepts 0. */
void	 host_stop(pid_t *pid, int grace_s);
/* Waits up to timeout_s for a TCP listener on 127.0.0.1:port. 0 or -1. */
int	 host_wait_port(int port, int timeout_s);
int	 host_free_port(void);
void	 host_sleep_ms(int ms);

/* queue.c: the local queue, a real server on the host. */
int	 queue_start(struct vt *, int heartbeat_timeout);
void	 queue_stop(struct vt *, int sig);
/* Enqueues a job; returns its id (caller frees) or NULL with err set. */
char	*queue_enqueue(struct vt *, const char *type, json_object *args,
	    char *err);
/* GET-like admin calls through the CLI; a new object or NULL + err. */
json_object *queue_show(struct vt *, const char *id, char *err);
json_object *queue_result(struct vt *, const char *id, char *err);
json_object *queue_workers(struct vt *, char *err);
/* Cancels a job (pending or running); 0 or -1. */
int	 queue_cancel(struct vt *, const char *id);
/* Waits until the job is finished; its final state (caller frees) or NULL. */
char	*queue_wait(struct vt *, const char *id, int timeout_s, char *err);
int	 queue_artifact(struct vt *, const char *id, const char *name,
	    const char *dest, char *err);
/* Submits a compose request; the id of its osbuild job (caller frees) or
 * NULL with err set. */
char	*queue_compose(struct vt *, json_object *request, char *err);

/* repo.c: the Debian repository of test-vm/mkrepo.sh, served over HTTP on
 * the host; the composes' mirror. */
int	 repo_start(struct vt *);
void	 repo_stop(struct vt *);

/* cloud.c: test-vm/doubles/cloud.py, the AWS side of one deployed
 * instance (IMDSv2, Auto Scaling, Secrets Manager, CloudWatch Logs). */
struct cloud {
	char		*dir;		/* its state directory */
	pid_t		 pid;
	int		 imds_port;	/* on 127.0.0.1 */
	char		*relay_log;	/* the metadata forward's */
	json_object	*user_data;	/* as the module rendered it */
	json_object	*undeclared;	/* variables the module lacks */
};
/* Starts it with cfg (see cloud.py) and waits for the rendered user data. */
int	 cloud_start(struct vt *, const char *name, json_object *cfg,
	    struct cloud *, char *err);
/* Its state now (new object) or NULL. */
json_object *cloud_state(struct cloud *);
/* Scale-in: the group waits on the termination hook for the instance. */
int	 cloud_terminate(struct cloud *);
void	 cloud_stop(struct cloud *);
/* Auto Scaling calls named action in a state. */
int	 cloud_calls(json_object *state, const char *action);
/* Log events (any stream) whose message matches the extended regex. */
int	 cloud_log_lines(json_object *state, const char *regex);
/* What the double saw, to stderr, for a failed test. */
void	 cloud_show(struct cloud *);

/* s3.c: s3rver (npm) on the host. */
int	 s3_start(struct vt *, const char *bucket);
void	 s3_stop(struct vt *);
/* The path of an object in s3rver's directory (caller frees) or NULL. */
char	*s3_object_path(struct vt *, const char *bucket, const char *key);

/* virt.c: libvirt. */
int	 virt_open(struct vt *);
void	 virt_close(struct vt *);
/* Destroys and undefines every VT_PREFIX domain and network. */
void	 virt_sweep(struct vt *);
/* Defines and starts a worker VM on a fresh overlay of vt->base, with a
 * blank cache volume. */
struct vm *vm_start(struct vt *, const char *suffix, char *err);
/* The deployed instance: a fresh overlay of the worker image as built
 * (nothing written into it), root and a blank raw cache volume of
 * cache_size bytes on SCSI (sda, sdb: the module's cache_volume_device is
 * then /dev/sdb), a user network on VT_DEPLOY_NET whose 169.254.169.254:80
 * is forwarded to the IMDS double on 127.0.0.1:imds_port; the forward
 * appends a line per connection to relay_log. */
struct vm *vm_start_deployed(struct vt *, const char *suffix, int imds_port,
	    const char *relay_log, long long cache_size, char *err);
/* vm_start for the arm64 worker image: an aarch64 domain (virt machine,
 * Cortex-A57 under TCG, AAVMF) on a fresh overlay of base (made by
 * guest_prepare_image), with a blank cache volume. */
struct vm *vm_start_arm(struct vt *, const char *suffix, const char *base,
	    char *err);
/* Boots a built image (qcow2) on an overlay, so the image stays as built. */
struct vm *vm_start_image(struct vt *, const char *suffix, const char *image,
	    char *err);
/* Destroys and undefines the VM, removes its files. Accepts NULL. */
/* A new vm named VT_PREFIX suffix on a fresh qcow2 overlay of backing
 * (work directory); NULL with err. */
struct vm *vm_new(struct vt *, const char *suffix, const char *backing,
	    char *err);
/* Defines vm->dom from xml and starts it (vm->started_ms); -1 with err.
 * The caller's vm_free undefines a defined domain. */
int	 vm_define_start(struct vt *, struct vm *, const char *xml, char *err);
void	 vm_free(struct vt *, struct vm *);
int	 vm_shutdown(struct vm *, char *err);
int	 vm_destroy(struct vm *, char *err);
int	 vm_is_running(struct vm *);
/* Waits up to timeout_s for the domain to be off. */
int	 vm_wait_off(struct vm *, int timeout_s, char *err);

/* console.c: the serial console of a VM, a file the harness tails. */
/* Reads what was added since last time. */
void	 console_poll(struct vm *);
/* Searches the console from vm->mark for the extended regex; waits up to
 * timeout_s. On a match returns 0, copies capture group 1 (or the whole
 * match) into out (outlen, may be 0) and moves the mark past the match
 * when advance is set. */
int	 console_wait(struct vm *, const char *regex, int timeout_s,
	    char *out, size_t outlen, int advance, char *err);
/* Whether the regex matches anywhere in what was read so far. */
int	 console_has(struct vm *, const char *regex);
/* Prints the console's last lines to stderr, for a failed test. */
void	 console_tail(struct vm *, int lines);

/* guest.c: the run's base overlay with the guest configuration. */
/* Pins the image (vt->pinned) for the run; guest_prepare needs it. */
void	 guest_pin(struct vt *);
int	 guest_prepare(struct vt *, char *err);
/* The same for image (qcow2, root labelled ib-root), the journal on the
 * console tty (ttyS0, ttyAMA0): *basep becomes work/VT_PREFIX name.qcow2
 * (freed first; NULL on error). guest_prepare is this for the pinned
 * worker image into vt->base. */
int	 guest_prepare_image(struct vt *, const char *image, const char *tty,
	    const char *name, char **basep, char *err);
/* For a failed deployed instance: stops it, prints its journal's lines of
 * first boot, the worker, the network and cloud-init to stderr. */
void	 guest_journal(struct vt *, struct vm *);
/* The unit name ib-worker@ADDRESS.service, escaped as systemd does. */
char	*guest_unit_name(const char *address);

/* boot_modes.c: ib-build's images under the firmware they are made for. */
int	 t_uefi(struct vt *, char *err);
int	 t_hybrid(struct vt *, char *err);
int	 t_aarch64(struct vt *, char *err);
int	 t_aarch64_worker(struct vt *, char *err);

/* tests.c */
struct vt_test {
	const char	*name;
	int		(*fn)(struct vt *, char *err);
	int		 by_name_only;	/* not in a run that names no test */
};
extern const struct vt_test vt_tests[];
void	 tests_teardown(struct vt *);
/* The fault tests' build (test-vm/fault-manifest.json, hostname set):
 * an osbuild job's args, or NULL with err. */
json_object *fault_args(struct vt *, const char *hostname, char *err);
#define FAULT_ARTIFACT	"disk.raw.xz"
/* Waits for the job; its result when it succeeded, else NULL with err. */
json_object *finished_result(struct vt *, const char *id, int timeout_s,
	    char *err);

/* executor.c: the osbuild executor qemu.kvm, a worker on the host. */
int	 t_executor(struct vt *, char *err);
int	 t_executor_reaper(struct vt *, char *err);

#endif
