/*
 * Processes on the host: helper commands whose output the harness reads,
 * and long-running servers in their own process groups so that stopping
 * one stops its children too.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "vmtest.h"

void
host_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR && !vt_interrupted)
		;
}

static void
child_io(const char *logpath, int outfd)
{
	int fd;

	if ((fd = open("/dev/null", O_RDONLY)) != -1) {
		dup2(fd, 0);
		close(fd);
	}
	if (logpath != NULL &&
	    (fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0644)) != -1) {
		dup2(fd, 2);
		if (outfd == -1)
			dup2(fd, 1);
		close(fd);
	}
	if (outfd != -1)
		dup2(outfd, 1);
}

int
host_run(char *const argv[], struct buf *out, const char *logpath,
    int timeout_s)
{
	int p[2] = { -1, -1 }, status = 0, rc = -1;
	int64_t end = now_ms() + (int64_t)timeout_s * 1000;
	pid_t pid;
	char chunk[8192];

	if (out != NULL && pipe2(p, O_CLOEXEC) == -1) {
		log_warn("pipe");
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("fork");
		goto cleanup;
	}
	if (pid == 0) {
		setpgid(0, 0);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		child_io(logpath, out != NULL ? p[1] : -1);
		execvp(argv[0], argv);
		fprintf(stderr, "ib-vmtest: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	if (out != NULL) {
		close(p[1]);
		p[1] = -1;
	}
	for (;;) {
		int64_t left = end - now_ms();
		struct pollfd pfd = { p[0], POLLIN, 0 };
		ssize_t n;

		if (left <= 0) {
			log_warnx("%s: still running after %d s, killed", argv[0],
			    timeout_s);
			kill(-pid, SIGKILL);
			waitpid(pid, NULL, 0);
			goto cleanup;
		}
		if (out == NULL || p[0] == -1) {
			pid_t w = waitpid(pid, &status, WNOHANG);
			if (w == pid)
				break;
			host_sleep_ms(50);
			continue;
		}
		if (poll(&pfd, 1, left > 200 ? 200 : (int)left) <= 0)
			continue;
		n = read(p[0], chunk, sizeof(chunk));
		if (n > 0)
			buf_add(out, chunk, (size_t)n);
		else if (n == 0 || errno != EINTR) {
			close(p[0]);
			p[0] = -1;
		}
	}
	if (WIFEXITED(status))
		rc = WEXITSTATUS(status);
cleanup:
	if (p[0] != -1)
		close(p[0]);
	if (p[1] != -1)
		close(p[1]);
	return rc;
}

pid_t
host_spawn(char *const argv[], const char *logpath)
{
	pid_t pid;

	if ((pid = fork()) == -1) {
		log_warn("fork");
		return -1;
	}
	if (pid == 0) {
		setpgid(0, 0);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		child_io(logpath, -1);
		execvp(argv[0], argv);
		fprintf(stderr, "ib-vmtest: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	return pid;
}

void
host_stop(pid_t *pidp, int grace_s)
{
	pid_t pid = *pidp;
	int64_t end;

	if (pid <= 0)
		return;
	kill(-pid, SIGTERM);
	end = now_ms() + (int64_t)grace_s * 1000;
	for (;;) {
		pid_t w = waitpid(pid, NULL, WNOHANG);
		if (w == pid || (w == -1 && errno == ECHILD))
			break;
		if (now_ms() > end) {
			kill(-pid, SIGKILL);
			waitpid(pid, NULL, 0);
			break;
		}
		host_sleep_ms(50);
	}
	*pidp = 0;
}

int
host_wait_port(int port, int timeout_s)
{
	int64_t end = now_ms() + (int64_t)timeout_s * 1000;
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	while (now_ms() < end && !vt_interrupted) {
		int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int ok;

		if (s == -1)
			return -1;
		ok = connect(s, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(s);
		if (ok)
			return 0;
		host_sleep_ms(100);
	}
	return -1;
}

int
host_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int s, port = -1;

	if ((s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    getsockname(s, (struct sockaddr *)&sin, &len) == 0)
		port = ntohs(sin.sin_port);
	close(s);
	return port;
}
