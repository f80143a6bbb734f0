/*
 * ib-probe: what a hostile build could take from the machine it runs on.
 * Test program of the executor check-vm case (test-vm/executor.c), built
 * static by test-vm/probe/probemanifest.py and shipped as the postinst of a
 * .deb the case's manifest installs: io.ib.debian.install runs it as root
 * in mmdebstrap's chroot of the tree, in a mount and network namespace of
 * its own, exactly where a package's maintainer script runs.
 *
 * It does what such a script can do as root: leaves the chroot (the
 * classic chroot-in-a-subdirectory escape), joins the network namespace
 * the builder runs in, then tries each target of /etc/ib-probe.conf
 * (written into the tree by the stage's setup_files):
 *   file PATH        can it be opened for reading (its size)
 *   dir PATH         can it be listed (its entries)
 *   tcp HOST PORT    does a TCP connection succeed (3 s)
 * and looks for any running ib-worker process in /proc. One line per
 * target goes to /ib-probe.txt in the tree: "FOUND ..." or "none ...",
 * after "escaped chroot: yes|no" and "joined the builder's network:
 * yes|no", and at the end "probe done: N found". Never a file's content:
 * only that it could be read, so nothing secret lands in the image or a
 * log.
 */
#define _GNU_SOURCE
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static FILE	*rep;
static int	 found;

static void
result(int ok, const char *kind, const char *what, const char *detail)
{
	fprintf(rep, "%s %s %s: %s\n", ok ? "FOUND" : "none", kind, what,
	    detail);
	if (ok)
		found++;
}

/* Out of the chroot: a chroot below the cwd, then up to the real root. */
static int
escape(void)
{
	int	i;

	if (mkdir("/ib-probe-escape", 0700) == -1 && errno != EEXIST)
		return -1;
	if (chroot("/ib-probe-escape") == -1)
		return -1;
	for (i = 0; i < 64; i++)
		if (chdir("..") == -1)
			return -1;
	return chroot(".");
}

/* The parent process of pid, 0 when unknown. */
static long
parent_of(long pid)
{
	char	 path[64], buf[512], *p;
	ssize_t	 r;
	int	 fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return 0;
	buf[r] = '\0';
	if ((p = strrchr(buf, ')')) == NULL)
		return 0;
	return strtol(p + 4, NULL, 10);	/* ") S PPID" */
}

/*
 * Out of the stage's empty network namespace: into the nearest ancestor's
 * that differs (the builder's, which is the machine's), else PID 1's.
 */
static int
join_net(void)
{
	char	 mine[64], path[64], theirs[64];
	ssize_t	 n;
	long	 pid = getpid();
	int	 fd, ok;

	if ((n = readlink("/proc/self/ns/net", mine, sizeof(mine) - 1)) <= 0)
		return 0;
	mine[n] = '\0';
	while ((pid = parent_of(pid)) > 1) {
		snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
		if ((n = readlink(path, theirs, sizeof(theirs) - 1)) <= 0)
			continue;
		theirs[n] = '\0';
		if (strcmp(mine, theirs) != 0)
			break;
	}
	if (pid <= 1)
		snprintf(path, sizeof(path), "/proc/1/ns/net");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	ok = setns(fd, CLONE_NEWNET) == 0;
	if (!ok)
		fprintf(rep, "setns %s: %s\n", path, strerror(errno));
	close(fd);
	return ok;
}

static void
probe_file(const char *path)
{
	struct stat	 st;
	char		 d[128];
	int		 fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1 || fstat(fd, &st) == -1) {
		result(0, "file", path, strerror(errno));
	} else {
		snprintf(d, sizeof(d), "readable, %lld bytes",
		    (long long)st.st_size);
		result(1, "file", path, d);
	}
	if (fd != -1)
		close(fd);
}

static void
probe_dir(const char *path)
{
	DIR		*dp = opendir(path);
	struct dirent	*e;
	char		 d[128];
	int		 n = 0;

	if (dp == NULL) {
		result(0, "dir", path, strerror(errno));
		return;
	}
	while ((e = readdir(dp)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(dp);
	snprintf(d, sizeof(d), "listed, %d entries", n);
	result(1, "dir", path, d);
}

static void
probe_tcp(const char *host, const char *port)
{
	struct sockaddr_in	 sin;
	struct pollfd		 pfd;
	socklen_t		 sl = sizeof(int);
	char			 what[96];
	int			 fd, err = 0;

	snprintf(what, sizeof(what), "%s:%s", host, port);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(port));
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		result(0, "tcp", what, "not an IPv4 address");
		return;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) == -1) {
		result(0, "tcp", what, strerror(errno));
		return;
	}
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 &&
	    errno != EINPROGRESS) {
		result(0, "tcp", what, strerror(errno));
		close(fd);
		return;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, 3000) != 1)
		result(0, "tcp", what, "no answer in 3 s");
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == -1 ||
	    err != 0)
		result(0, "tcp", what, strerror(err ? err : errno));
	else
		result(1, "tcp", what, "connected");
	close(fd);
}

/* Any process whose program is ib-worker: its config is in its argv. */
static void
probe_workers(void)
{
	DIR		*dp = opendir("/proc");
	struct dirent	*e;
	char		 path[300], buf[256], d[128];
	int		 n = 0;

	if (dp == NULL) {
		result(0, "process", "ib-worker", "no /proc");
		return;
	}
	while ((e = readdir(dp)) != NULL) {
		ssize_t	 r;
		int	 fd;
		char	*base;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		r = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (r <= 0)
			continue;
		buf[r] = '\0';
		base = strrchr(buf, '/');
		base = base != NULL ? base + 1 : buf;
		if (strcmp(base, "ib-worker") == 0)
			n++;
	}
	closedir(dp);
	snprintf(d, sizeof(d), "%d running", n);
	result(n > 0, "process", "ib-worker", d);
}

int
main(void)
{
	FILE	*conf;
	char	 line[1024], *save, *kind, *a, *b;
	int	 escaped, joined = 0;

	/* Only as dpkg's postinst configure: not at other calls. */
	if ((rep = fopen("/ib-probe.txt", "w")) == NULL)
		return 0;
	if ((conf = fopen("/etc/ib-probe.conf", "r")) == NULL) {
		fprintf(rep, "no /etc/ib-probe.conf\nprobe done: 0 found\n");
		fclose(rep);
		return 0;
	}
	setvbuf(rep, NULL, _IOLBF, 0);
	escaped = escape() == 0;
	if (escaped)
		joined = join_net();
	fprintf(rep, "escaped chroot: %s\njoined the builder's network: "
	    "%s\n", escaped ? "yes" : "no", joined ? "yes" : "no");
	while (fgets(line, sizeof(line), conf) != NULL) {
		kind = strtok_r(line, " \t\n", &save);
		a = strtok_r(NULL, " \t\n", &save);
		b = strtok_r(NULL, " \t\n", &save);
		if (kind == NULL || a == NULL)
			continue;
		if (strcmp(kind, "file") == 0)
			probe_file(a);
		else if (strcmp(kind, "dir") == 0)
			probe_dir(a);
		else if (strcmp(kind, "tcp") == 0 && b != NULL)
			probe_tcp(a, b);
	}
	fclose(conf);
	probe_workers();
	fprintf(rep, "probe done: %d found\n", found);
	fclose(rep);
	return 0;
}
