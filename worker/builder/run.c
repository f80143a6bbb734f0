/*
 * Child processes for the stages (output captured, the tail kept) and file
 * writes inside a tree done from a chrooted child, so that an absolute
 * symlink in the image (/etc/resolv.conf, say) never leads to the host.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/build.h"
#include "exec.h"

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

static int
tree_do(const char *tree, const struct tree_op *op, struct buf *out)
{
	int	 p[2], status;
	pid_t	 pid;
	char	 msg[1024];
	ssize_t	 n;

	if (op->path[0] != '/' || strstr(op->path, "/../") != NULL) {
		out_printf(out, "%s: not an absolute path", op->path);
		return -1;
	}
	if (pipe2(p, O_CLOEXEC) == -1) {
		out_printf(out, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		out_printf(out, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		if (chroot(tree) == -1 || chdir("/") == -1) {
			dprintf(p[1], "chroot %s: %s", tree, strerror(errno));
			_exit(1);
		}
		_exit(tree_child(op, p[1]));
	}
	close(p[1]);
	n = read(p[0], msg, sizeof(msg) - 1);
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	msg[n > 0 ? n : 0] = '\0';
	out_printf(out, "%s", n > 0 ? msg : "tree operation failed");
	return -1;
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
