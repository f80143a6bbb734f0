/*
 * Host checks an image build leans on: not boxed in a container, mount
 * namespaces and tmpfs mounts, loop devices, free space in the cache.
 */
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/loop.h>

#include "vmcheck.h"

#define SMALL_FILE_MAX	(1 << 20)
#define MOUNT_TIMEOUT_MS 5000
#define LOOP_FILE_SIZE	(1 << 20)
#define LOOP_TRIES	8

static void
add_evidence(struct buf *b, const char *what)
{
	buf_printf(b, "%s%s", b->len ? ", " : "", what);
}

/* "container=NAME" from /proc/1/environ, or NULL; caller frees. */
static char *
pid1_container_env(int *unreadable)
{
	char	*env, *p, *name = NULL;
	size_t	 len;

	*unreadable = 0;
	if ((env = read_file("/proc/1/environ", SMALL_FILE_MAX, &len)) ==
	    NULL) {
		*unreadable = 1;
		return NULL;
	}
	for (p = env; p < env + len; p += strlen(p) + 1)
		if (strncmp(p, "container=", 10) == 0) {
			name = xstrdup(p + 10);
			break;
		}
	free(env);
	return name;
}

/* A cgroup path of PID 1 that names a container manager, or NULL. */
static const char *
pid1_cgroup_manager(void)
{
	static const char *const managers[] = {
		"docker", "lxc", "kubepods", "libpod", "containerd", "garden"
	};
	const char	*found = NULL;
	char		*cg;
	size_t		 i;

	if ((cg = read_file("/proc/1/cgroup", SMALL_FILE_MAX, NULL)) == NULL)
		return NULL;
	for (i = 0; i < nitems(managers) && found == NULL; i++)
		if (strstr(cg, managers[i]) != NULL)
			found = managers[i];
	free(cg);
	return found;
}

/* What systemd-detect-virt -c says ("none" included), or NULL. */
static char *
detect_virt(void)
{
	const char	*argv[3];
	char		*path, line[64];
	char		 err[128];
	struct buf	 out;
	int		 status;

	if ((path = proc_which("systemd-detect-virt")) == NULL)
		return NULL;
	argv[0] = path;
	argv[1] = "-c";
	argv[2] = NULL;
	buf_init(&out);
	if (proc_run_cmd(argv, 5000, &out, &status, err, sizeof(err)) != 0)
		line[0] = '\0';
	else
		first_line(out.data, line, sizeof(line));
	buf_free(&out);
	free(path);
	return line[0] ? xstrdup(line) : NULL;
}

/*
 * Strong evidence (an isolated PID namespace, container= in PID 1's
 * environment, a container manager's cgroup, /run/.containerenv) gives a
 * warning. A lone /.dockerenv (or systemd-detect-virt, which reads the same
 * file) is also what a VM whose root file system was made from a container
 * image carries: with PID 1 seeing kernel threads and no other sign, it is
 * reported but passes.
 */
void
check_container(struct vmcheck *vc, struct check *c)
{
	struct buf	 strong, weak;
	const char	*mgr;
	char		*env, *virt, *kthread, *s;
	int		 unreadable;

	buf_init(&strong);
	buf_init(&weak);
	if ((kthread = read_file("/proc/2/comm", 256, NULL)) == NULL ||
	    strcmp(rtrim(kthread), "kthreadd") != 0)
		add_evidence(&strong, "own PID namespace (no kthreadd)");
	if ((env = pid1_container_env(&unreadable)) != NULL) {
		s = xasprintf("container=%s in PID 1 environment", env);
		add_evidence(&strong, s);
		free(s);
	}
	if ((mgr = pid1_cgroup_manager()) != NULL) {
		s = xasprintf("PID 1 cgroup names %s", mgr);
		add_evidence(&strong, s);
		free(s);
	}
	if (access("/run/.containerenv", F_OK) == 0)
		add_evidence(&strong, "/run/.containerenv");
	if (access("/.dockerenv", F_OK) == 0)
		add_evidence(&weak, "/.dockerenv");
	if ((virt = detect_virt()) != NULL && strcmp(virt, "none") != 0) {
		s = xasprintf("systemd-detect-virt -c says %s", virt);
		add_evidence(&weak, s);
		free(s);
	}
	if (strong.len)
		check_set(c, ST_WARN, "inside a container: %s%s%s; builds "
		    "need it privileged with /dev and mounts", strong.data,
		    weak.len ? ", " : "", weak.len ? weak.data : "");
	else if (weak.len)
		check_set(c, ST_PASS, "not a container: PID 1 sees kernel "
		    "threads, no container cgroup or environment%s; "
		    "ignoring marker: %s", unreadable ?
		    " (/proc/1/environ unreadable)" : "", weak.data);
	else
		check_set(c, ST_PASS, "not inside a container");
	free(kthread);
	free(env);
	free(virt);
	buf_free(&strong);
	buf_free(&weak);
}

/* The child: a private mount namespace, a tmpfs in it, a file on it. */
static int
mount_child(const char *dir, int fd)
{
	char		*file = NULL;
	int		 f, rv = 1;

	if (unshare(CLONE_NEWNS) == -1) {
		dprintf(fd, "unshare(CLONE_NEWNS): %s\n", strerror(errno));
		return 1;
	}
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == -1) {
		dprintf(fd, "making / private: %s\n", strerror(errno));
		return 1;
	}
	if (mount("ib-vmcheck", dir, "tmpfs", MS_NOSUID | MS_NODEV,
	    "size=1m,mode=0700") == -1) {
		dprintf(fd, "mount tmpfs on %s: %s\n", dir, strerror(errno));
		return 1;
	}
	file = xasprintf("%s/probe", dir);
	if ((f = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1 ||
	    write(f, "ok", 2) != 2) {
		dprintf(fd, "write on the tmpfs: %s\n", strerror(errno));
		goto cleanup;
	}
	if (umount2(dir, 0) == -1 && errno != EBUSY) {
		dprintf(fd, "umount %s: %s\n", dir, strerror(errno));
		goto cleanup;
	}
	dprintf(fd, "ok\n");
	rv = 0;
cleanup:
	if (f != -1)
		close(f);
	free(file);
	return rv;
}

int
host_mount_child(int argc, char *argv[])
{
	if (argc != 1 || argv[0][0] != '/') {
		fprintf(stderr, "mount: bad arguments\n");
		return 2;
	}
	return mount_child(argv[0], CHILD_RESULT_FD);
}

void
check_mount(struct vmcheck *vc, struct check *c)
{
	struct buf	 out;
	char		 err[256], line[300];
	char		*dir;
	int		 rv, status = 0;

	buf_init(&out);
	if ((dir = make_tmpdir(err, sizeof(err))) == NULL) {
		check_set(c, ST_FAIL, "%s", err);
		goto cleanup;
	}
	{
		const char *args[] = { "mount", dir, NULL };

		rv = proc_run_child(args, MOUNT_TIMEOUT_MS, &out, &status,
		    err, sizeof(err));
	}
	first_line(out.data, line, sizeof(line));
	if (rv == -1)
		check_set(c, ST_FAIL, "cannot test mounts: %s", err);
	else if (rv == 1)
		check_set(c, ST_FAIL, "mount test did not finish in %d ms",
		    MOUNT_TIMEOUT_MS);
	else if (strcmp(line, "ok") == 0 && status == 0)
		check_set(c, ST_PASS, "private mount namespace and tmpfs "
		    "mount work");
	else
		check_set(c, ST_FAIL, "mounts unusable (builds need them): "
		    "%s%s%s", line, line[0] ? ", probe ended with " : "",
		    proc_status_str(status));
cleanup:
	if (dir != NULL)
		rmdir(dir);
	free(dir);
	buf_free(&out);
}

/* A 1 MiB file whose first sector carries a pattern; -1 + err. */
static int
make_backing(const char *path, char *pattern, size_t plen, char *err,
    size_t errlen)
{
	size_t	 i;
	int	 fd, rv = -1;

	for (i = 0; i < plen; i++)
		pattern[i] = (char)(i * 7 + getpid());
	if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) ==
	    -1 || ftruncate(fd, LOOP_FILE_SIZE) == -1 ||
	    pwrite(fd, pattern, plen, 0) != (ssize_t)plen) {
		snprintf(err, errlen, "backing file %s: %s", path,
		    strerror(errno));
		goto cleanup;
	}
	rv = 0;
cleanup:
	if (fd != -1)
		close(fd);
	return rv;
}

/* LOOP_CONFIGURE (Linux 5.8) sets up in one step; older kernels take two. */
static int
attach(int loop, int file)
{
	struct loop_config	 cfg;
	struct loop_info64	 info;
	int			 saved;

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = file;
	cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
	if (ioctl(loop, LOOP_CONFIGURE, &cfg) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOTTY)
		return -1;
	if (ioctl(loop, LOOP_SET_FD, file) == -1)
		return -1;
	memset(&info, 0, sizeof(info));
	info.lo_flags = LO_FLAGS_AUTOCLEAR;
	if (ioctl(loop, LOOP_SET_STATUS64, &info) == -1) {
		saved = errno;
		ioctl(loop, LOOP_CLR_FD, 0);
		errno = saved;
		return -1;
	}
	return 0;
}

/*
 * Attaches backing read-only to a free loop device, reads the pattern back
 * through it, detaches. AUTOCLEAR detaches it even if we die half-way.
 * Returns the loop index, or -1 + err.
 */
static int
loop_roundtrip(int ctl, const char *backing, const char *pattern,
    size_t plen, char *err, size_t errlen)
{
	char			 dev[64], got[512];
	int			 file = -1, loop = -1, idx = -1, i, rv = -1;

	if ((file = open(backing, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", backing, strerror(errno));
		goto cleanup;
	}
	/* Another process may take the same free device first: retry. */
	for (i = 0; i < LOOP_TRIES; i++) {
		if ((idx = ioctl(ctl, LOOP_CTL_GET_FREE)) == -1) {
			snprintf(err, errlen, "LOOP_CTL_GET_FREE: %s",
			    strerror(errno));
			goto cleanup;
		}
		snprintf(dev, sizeof(dev), "/dev/loop%d", idx);
		if ((loop = open(dev, O_RDONLY | O_CLOEXEC)) == -1) {
			snprintf(err, errlen, "%s: %s", dev, strerror(errno));
			goto cleanup;
		}
		if (attach(loop, file) == 0)
			break;
		snprintf(err, errlen, "attaching %s: %s", dev,
		    strerror(errno));
		close(loop);
		loop = -1;
		if (errno != EBUSY)
			goto cleanup;
	}
	if (loop == -1)
		goto cleanup;
	if (pread(loop, got, plen, 0) != (ssize_t)plen ||
	    memcmp(got, pattern, plen) != 0) {
		snprintf(err, errlen, "reading %s did not return the backing "
		    "file's data", dev);
		goto detach;
	}
	rv = idx;
detach:
	if (ioctl(loop, LOOP_CLR_FD, 0) == -1 && rv != -1) {
		snprintf(err, errlen, "LOOP_CLR_FD %s: %s", dev,
		    strerror(errno));
		rv = -1;
	}
cleanup:
	if (loop != -1)
		close(loop);
	if (file != -1)
		close(file);
	return rv;
}

void
check_loop(struct vmcheck *vc, struct check *c)
{
	char	 err[300], pattern[512];
	char	*dir = NULL, *backing = NULL;
	int	 ctl, idx;

	if ((ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC)) == -1) {
		check_set(c, ST_WARN, "loop devices unusable: "
		    "/dev/loop-control: %s; disk image builds will fail",
		    strerror(errno));
		goto cleanup;
	}
	if ((dir = make_tmpdir(err, sizeof(err))) == NULL) {
		check_set(c, ST_WARN, "loop test: %s", err);
		goto cleanup;
	}
	backing = xasprintf("%s/loop.img", dir);
	if (make_backing(backing, pattern, sizeof(pattern), err,
	    sizeof(err)) == -1) {
		check_set(c, ST_WARN, "loop test: %s", err);
		goto cleanup;
	}
	if ((idx = loop_roundtrip(ctl, backing, pattern, sizeof(pattern), err,
	    sizeof(err))) == -1) {
		check_set(c, ST_WARN, "loop devices unusable: %s; disk image "
		    "builds will fail", err);
		goto cleanup;
	}
	check_figure(c, "loop_index", idx);
	check_set(c, ST_PASS, "attached a file read-only to /dev/loop%d, "
	    "read it back, detached", idx);
cleanup:
	if (ctl != -1)
		close(ctl);
	if (backing != NULL)
		unlink(backing);
	if (dir != NULL)
		rmdir(dir);
	free(backing);
	free(dir);
}

/* The nearest existing ancestor of path (path itself if it exists). */
static char *
existing_ancestor(const char *path)
{
	struct stat	 st;
	char		*p, *slash;

	p = xstrdup(path);
	while (stat(p, &st) == -1) {
		if ((slash = strrchr(p, '/')) == NULL || slash == p) {
			free(p);
			return xstrdup("/");
		}
		*slash = '\0';
	}
	return p;
}

static void
human_bytes(uint64_t n, char *dst, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double	 v = n;
	size_t	 u = 0;

	while (v >= 1024 && u + 1 < nitems(units)) {
		v /= 1024;
		u++;
	}
	snprintf(dst, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void
check_cache(struct vmcheck *vc, struct check *c)
{
	struct statvfs	 sv;
	uint64_t	 avail;
	char		*at;
	char		 have[32], want[32], note[64] = "";

	at = existing_ancestor(vc->cache_dir);
	if (strcmp(at, vc->cache_dir) != 0)
		snprintf(note, sizeof(note), " (not created yet)");
	else if (access(at, W_OK) == -1) {
		check_set(c, ST_FAIL, "cache directory %s not writable: %s",
		    at, strerror(errno));
		goto cleanup;
	}
	if (statvfs(at, &sv) == -1) {
		check_set(c, ST_WARN, "statvfs %s: %s", at, strerror(errno));
		goto cleanup;
	}
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	check_figure(c, "free_bytes", (int64_t)avail);
	check_figure(c, "min_free_bytes", (int64_t)vc->min_free);
	check_figure(c, "total_bytes", (int64_t)((uint64_t)sv.f_blocks *
	    sv.f_frsize));
	human_bytes(avail, have, sizeof(have));
	human_bytes(vc->min_free, want, sizeof(want));
	if (avail < vc->min_free)
		check_set(c, ST_WARN, "only %s free for cache %s%s, below "
		    "--min-free %s: large builds may fail", have,
		    vc->cache_dir, note, want);
	else
		check_set(c, ST_PASS, "%s free for cache %s%s (minimum %s)",
		    have, vc->cache_dir, note, want);
cleanup:
	free(at);
}
