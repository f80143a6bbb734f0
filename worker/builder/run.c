/*
 * Child processes for the stages (output captured, the tail kept) and file
 * writes inside a tree done from a chrooted child (ib-build run again with
 * IB_CHILD_ARG), so that an absolute symlink in the image
 * (/etc/resolv.conf, say) never leads to the host.
 */
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/build.h"
#include "exec.h"
#include "log.h"

#define TREE_DATA_MAX	(64 * 1024 * 1024)	/* one file written */

void
out_printf(struct buf *out, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	buf_addstr(out, s);
	buf_addstr(out, "\n");
	free(s);
}

static void
keep_tail(struct buf *out)
{
	size_t	 drop;

	if (out->len <= IB_OUTPUT_MAX)
		return;
	drop = out->len - IB_OUTPUT_MAX / 2;
	memmove(out->data, out->data + drop, out->len - drop);
	out->len -= drop;
	out->data[out->len] = '\0';
}

/* Runs argv through lib/exec.c in our process group (a worker that stops
 * ib-build stops its tools too), stdin empty, the output's tail kept. */
static int
run_any(const char *const *argv, const char *const *env_add,
    const char *to, struct buf *out)
{
	struct exec_opts	 o;
	struct exec_result	 res;
	int			 rv = -1;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.env_add = env_add;
	o.stdout_path = to;
	o.merge_output = to == NULL;
	o.stdout_tail = 1;
	o.stdout_max = IB_OUTPUT_MAX;
	o.stderr_max = IB_OUTPUT_MAX;
	o.same_group = 1;
	if (exec_run(&o, &res) == -1) {
		out_printf(out, "%s", res.error);
		goto cleanup;
	}
	buf_add(out, res.out.data, res.out.len);
	buf_add(out, res.err.data, res.err.len);
	keep_tail(out);
	if (res.exited)
		rv = res.code;
	else
		out_printf(out, "%s: killed by signal %d", argv[0], res.signo);
cleanup:
	exec_result_free(&res);
	return rv;
}

int
run_cmd(const char *const *argv, const char *const *env_add, struct buf *out)
{
	return run_any(argv, env_add, NULL, out);
}

int
run_cmd_to(const char *const *argv, const char *path, struct buf *out)
{
	return run_any(argv, NULL, path, out);
}

/* ---- inside a tree ---- */

struct tree_op {
	const char	*path;
	const void	*data;
	size_t		 len;
	int		 mode, uid, gid, dir;
};

static int
mkparents(char *path)
{
	char	*s;

	for (s = path + 1; (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		if (mkdir(path, 0755) == -1 && errno != EEXIST) {
			*s = '/';
			return -1;
		}
		*s = '/';
	}
	return 0;
}

static int
tree_fail(int errfd, const char *path)
{
	dprintf(errfd, "%s: %s", path, strerror(errno));
	return 1;
}

/*
 * A file under /usr with other links is, after store_restore, shared with
 * the store: writing it in place would change the stored tree. Replaces it
 * with a new file of the same owner and mode (op's when given) and returns
 * its descriptor; -2 when path is not such a file, -1 on failure. (In the
 * chrooted child: path and realpath are the tree's.)
 */
static int
open_unshared(const char *path, const struct tree_op *op)
{
	struct stat	 sb;
	char		*real;
	int		 fd = -2;

	if (stat(path, &sb) == -1 || !S_ISREG(sb.st_mode) || sb.st_nlink < 2)
		return -2;
	if ((real = realpath(path, NULL)) == NULL)
		return -1;
	if (strncmp(real, "/usr/", 5) != 0)
		goto cleanup;
	fd = -1;
	if (unlink(real) == -1)
		goto cleanup;
	fd = open(real, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1)
		goto cleanup;
	if (fchown(fd, op->uid >= 0 ? (uid_t)op->uid : sb.st_uid,
	    op->gid >= 0 ? (gid_t)op->gid : sb.st_gid) == -1 ||
	    fchmod(fd, op->mode >= 0 ? (mode_t)op->mode :
	    sb.st_mode & 07777) == -1) {
		close(fd);
		fd = -1;
	}
cleanup:
	free(real);
	return fd;
}

static int
tree_child(const struct tree_op *op, int errfd)
{
	char	*p = xstrdup(op->path);
	int	 fd;

	if (mkparents(p) == -1) {
		dprintf(errfd, "mkdir %s: %s", op->path, strerror(errno));
		return 1;
	}
	if (op->dir) {
		if (mkdir(p, op->mode >= 0 ? op->mode : 0755) == -1 &&
		    errno != EEXIST) {
			dprintf(errfd, "mkdir %s: %s", op->path,
			    strerror(errno));
			return 1;
		}
		if ((op->mode >= 0 && chmod(p, op->mode) == -1) ||
		    ((op->uid >= 0 || op->gid >= 0) &&
		    lchown(p, op->uid, op->gid) == -1)) {
			dprintf(errfd, "%s: %s", op->path, strerror(errno));
			return 1;
		}
		return 0;
	}
	if ((fd = open_unshared(p, op)) == -1)
		return tree_fail(errfd, op->path);
	if (fd == -2)
		fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    op->mode >= 0 ? op->mode : 0644);
	if (fd == -1)
		return tree_fail(errfd, op->path);
	if (write_all(fd, op->data, op->len) == -1) {
		dprintf(errfd, "write %s: %s", op->path, strerror(errno));
		return 1;
	}
	if ((op->mode >= 0 && fchmod(fd, op->mode) == -1) ||
	    ((op->uid >= 0 || op->gid >= 0) &&
	    fchown(fd, op->uid, op->gid) == -1) || close(fd) == -1) {
		dprintf(errfd, "%s: %s", op->path, strerror(errno));
		return 1;
	}
	return 0;
}

/*
 * Runs ib-build itself again (/proc/self/exe, the very binary even if it
 * was replaced on disk) with IB_CHILD_ARG and args, in our process group,
 * in through its stdin, its output's tail appended to out. Returns the
 * exit status, -1 when it did not run or was killed (out says why).
 */
int
run_self(const char *const *args, const void *in, size_t inlen,
    struct buf *out)
{
	struct exec_opts	 o;
	struct exec_result	 res;
	const char		*argv[16];
	size_t			 n = 0;
	int			 rv = -1;

	argv[n++] = "/proc/self/exe";
	argv[n++] = IB_CHILD_ARG;
	for (; *args != NULL; args++) {
		if (n + 1 >= nitems(argv))
			fatalx("run_self: too many arguments");
		argv[n++] = *args;
	}
	argv[n] = NULL;
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.stdin_data = in;
	o.stdin_len = inlen;
	o.merge_output = 1;
	o.stdout_tail = 1;
	o.stdout_max = IB_OUTPUT_MAX;
	o.same_group = 1;
	if (exec_run(&o, &res) == -1) {
		out_printf(out, "%s", res.error);
		goto cleanup;
	}
	buf_add(out, res.out.data, res.out.len);
	keep_tail(out);
	if (res.exited)
		rv = res.code;
	else
		out_printf(out, "ib-build child: killed by signal %d",
		    res.signo);
cleanup:
	exec_result_free(&res);
	return rv;
}

/*
 * A tree operation runs in ib-build executed anew ("tree" below), not in
 * a fork of this process: the chrooted writer then starts from a clean
 * image (nothing of our heap, stdio buffers or state copied into a process
 * that chroots into an image someone else made), and it is run, bounded
 * and stopped like every other child, through lib/exec.
 */
static int
tree_do(const char *tree, const struct tree_op *op, struct buf *out)
{
	char		 mode[16], uid[16], gid[16];
	const char	*args[8];
	struct buf	 msg;
	int		 rc;

	if (op->path[0] != '/' || strstr(op->path, "/../") != NULL) {
		out_printf(out, "%s: not an absolute path", op->path);
		return -1;
	}
	snprintf(mode, sizeof(mode), "%d", op->mode);
	snprintf(uid, sizeof(uid), "%d", op->uid);
	snprintf(gid, sizeof(gid), "%d", op->gid);
	args[0] = "tree";
	args[1] = op->dir ? "dir" : "file";
	args[2] = tree;
	args[3] = op->path;
	args[4] = mode;
	args[5] = uid;
	args[6] = gid;
	args[7] = NULL;
	buf_init(&msg);
	rc = run_self(args, op->data, op->len, &msg);
	if (rc != 0)
		out_printf(out, "%s", msg.len > 0 ? rtrim(msg.data) :
		    "tree operation failed");
	buf_free(&msg);
	return rc == 0 ? 0 : -1;
}

static int
parse_id(const char *s, int *v)
{
	char	*end;
	long	 l;

	errno = 0;
	l = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || l < -1 ||
	    l > INT32_MAX)
		return -1;
	*v = (int)l;
	return 0;
}

/* ib-build --ib-child tree file|dir TREE PATH MODE UID GID, data on stdin. */
static int
tree_main(int argc, char *argv[])
{
	struct tree_op	 op;
	struct buf	 in;
	char		 chunk[65536];
	ssize_t		 n;

	memset(&op, 0, sizeof(op));
	if (argc != 6 || (strcmp(argv[0], "file") != 0 &&
	    strcmp(argv[0], "dir") != 0) || argv[2][0] != '/' ||
	    strstr(argv[2], "/../") != NULL || parse_id(argv[3], &op.mode) ||
	    parse_id(argv[4], &op.uid) || parse_id(argv[5], &op.gid)) {
		fprintf(stderr, "tree: bad arguments\n");
		return 2;
	}
	op.dir = strcmp(argv[0], "dir") == 0;
	op.path = argv[2];
	buf_init(&in);
	while ((n = read(0, chunk, sizeof(chunk))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || in.len + (size_t)n > TREE_DATA_MAX) {
			fprintf(stderr, "%s: reading its data failed\n",
			    op.path);
			return 1;
		}
		buf_add(&in, chunk, (size_t)n);
	}
	op.data = in.data;
	op.len = in.len;
	if (chroot(argv[1]) == -1 || chdir("/") == -1) {
		fprintf(stderr, "chroot %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	return tree_child(&op, 2);
}

/* ---- tools whose syncs only wait ---- */

#if defined(__x86_64__)
#define NOSYNC_ARCH	AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NOSYNC_ARCH	AUDIT_ARCH_AARCH64
#endif

int
run_nosync(void)
{
#ifdef NOSYNC_ARCH
#define SKIP(nr) \
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), \
	BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 0)
	struct sock_filter	 f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NOSYNC_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		    offsetof(struct seccomp_data, nr)),
		SKIP(SYS_fsync),
		SKIP(SYS_fdatasync),
		SKIP(SYS_sync),
		SKIP(SYS_syncfs),
		SKIP(SYS_sync_file_range),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog	 prog = { nitems(f), f };
#undef SKIP

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == -1)
		return -1;
	return 0;
#else
	errno = ENOSYS;
	return -1;
#endif
}

/* "nosync CMD ARG...": CMD run with run_nosync's filter; 127 when it
 * cannot be. */
static int
nosync_main(int argc, char *argv[])
{
	if (argc < 1) {
		fprintf(stderr, "nosync: no command\n");
		return 127;
	}
	if (run_nosync() == -1)
		fprintf(stderr, "nosync: seccomp: %s (syncs kept)\n",
		    strerror(errno));
	execvp(argv[0], argv);
	fprintf(stderr, "nosync: %s: %s\n", argv[0], strerror(errno));
	return 127;
}

int
run_cmd_nosync(const char *const *argv, struct buf *out)
{
	const char	**v;
	size_t		 n, i;
	int		 rc;

	for (n = 0; argv[n] != NULL; n++)
		;
	v = xcalloc(n + 4, sizeof(*v));
	v[0] = "/proc/self/exe";
	v[1] = IB_CHILD_ARG;
	v[2] = "nosync";
	for (i = 0; i <= n; i++)
		v[3 + i] = argv[i];
	rc = run_any(v, NULL, NULL, out);
	free(v);
	return rc;
}

int
run_child_main(int argc, char *argv[])
{
	if (argc >= 1 && strcmp(argv[0], "tree") == 0)
		return tree_main(argc - 1, argv + 1);
	if (argc >= 1 && strcmp(argv[0], "extlinux") == 0)
		return disk_extlinux_main(argc - 1, argv + 1);
	if (argc >= 1 && strcmp(argv[0], "nosync") == 0)
		return nosync_main(argc - 1, argv + 1);
	fprintf(stderr, "ib-build: %s: unknown child\n", IB_CHILD_ARG);
	return 2;
}

int
tree_write(const char *tree, const char *path, const void *data, size_t len,
    int mode, int uid, int gid, struct buf *out)
{
	struct tree_op	 op = { path, data, len, mode, uid, gid, 0 };

	return tree_do(tree, &op, out);
}

int
tree_mkdir(const char *tree, const char *path, int mode, int uid, int gid,
    struct buf *out)
{
	struct tree_op	 op = { path, NULL, 0, mode, uid, gid, 1 };

	return tree_do(tree, &op, out);
}

char *
tree_read(const char *tree, const char *path, size_t max)
{
	struct buf	 out;
	char		*s;
	int		 rc;
	const char	*argv[] = { "chroot", tree, "cat", path, NULL };

	/* Through the tree's own cat in a chroot: symlinks stay inside. */
	buf_init(&out);
	rc = run_cmd(argv, NULL, &out);
	if (rc != 0 || out.len > max) {
		buf_free(&out);
		return NULL;
	}
	s = buf_release(&out);
	return s;
}
