/*
 * ib-agent: serves one build to the worker's VM executor on one TCP port
 * (see agent.h), then exits, or powers the machine off with --poweroff.
 * Connections that leave before claiming the build (the worker probing
 * whether the VM is up) do not count. It reads no configuration and holds
 * no credentials.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "cli.h"
#include "exec.h"
#include "frame.h"
#include "log.h"
#include "util.h"

#define PROG			"ib-agent"
#define AGENT_PORT		"8701"
#define AGENT_WORKDIR		"/var/lib/ib-agent"
#define AGENT_BUILDER		"auto"
#define AGENT_IDLE_S		1800

static atomic_int	 quit;	/* lock-free: safe to set in a handler */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: ib-agent [-d] [--listen [HOST:]PORT] [--builder PROGRAM]\n"
	    "                [--workdir DIR] [--port-file FILE]\n"
	    "                [--idle-timeout SECONDS] [--build-timeout SECONDS]\n"
	    "                [--scratch DEVICE] [--poweroff]\n"
	    "\n"
	    "Serves one build to an ib-worker executor (default port %s),\n"
	    "then exits or powers the machine off. See ib-agent(8).\n"
	    "Exit: 0 a build served, 1 none or lost, 2 usage.\n", AGENT_PORT);
}

static char *
builder_version(const char *builder)
{
	const char		*argv[] = { builder, "--version", NULL };
	struct exec_opts	 o;
	struct exec_result	 res;
	char			*v;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.stdout_max = 4096;
	o.timeout_ms = 60000;
	o.abort = &quit;
	if (exec_run(&o, &res) == -1 || !res.exited || res.code != 0) {
		log_warnx("agent: %s --version failed", builder);
		exec_result_free(&res);
		return xstrdup("");
	}
	rtrim(res.out.data);
	v = xstrdup(strncmp(res.out.data, "osbuild ", 8) == 0 ?
	    res.out.data + 8 : res.out.data);
	exec_result_free(&res);
	return v;
}

/*
 * The builder this image ships, as the worker's first boot picks it:
 * ib-build on Debian, osbuild elsewhere, the other one when the preferred
 * one is missing.
 */
static const char *
pick_builder(void)
{
	int	 debian = access("/etc/debian_version", F_OK) == 0;
	const char *first = debian ? "ib-build" : "osbuild";
	const char *second = debian ? "osbuild" : "ib-build";

	return exec_runnable(first) || !exec_runnable(second) ? first : second;
}

/* Runs a tool of the VM's set-up; 0 when it exited 0. */
static int
run_tool(const char *const *argv)
{
	struct exec_opts	 o;
	struct exec_result	 res;
	int			 ok;

	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.timeout_ms = 300000;
	o.abort = &quit;
	ok = exec_run(&o, &res) == 0 && res.exited && res.code == 0;
	if (!ok)
		log_warnx("agent: %s failed: %.300s", argv[0],
		    res.err.data != NULL ? res.err.data : res.error);
	exec_result_free(&res);
	return ok ? 0 : -1;
}

/*
 * The build's scratch disk (the executor attaches a blank one, sized for
 * the build): a fresh ext4 on it, mounted on the work directory. Without
 * the device the work directory stays on the root file system.
 */
static int
scratch_mount(const char *dev, const char *workdir)
{
	const char *const mkfs[] = { "mkfs.ext4", "-q", "-F", "-E",
	    "lazy_itable_init=1,lazy_journal_init=1", dev, NULL };
	const char *const mnt[] = { "mount", dev, workdir, NULL };
	struct stat	 st;

	if (stat(dev, &st) == -1 || !S_ISBLK(st.st_mode)) {
		log_info("agent: no scratch disk %s: building on the root "
		    "file system", dev);
		return 0;
	}
	if (mkdir_p(workdir, 0700) == -1 || run_tool(mkfs) == -1 ||
	    run_tool(mnt) == -1)
		return -1;
	log_info("agent: scratch disk %s on %s", dev, workdir);
	return 0;
}

static int
listen_on(const char *spec, char *why, size_t len)
{
	struct addrinfo	 hints, *res = NULL;
	char		*host = NULL, *port;
	const char	*colon = strrchr(spec, ':');
	int		 fd = -1, one = 1, r;

	if (colon != NULL) {
		host = xstrndup(spec, (size_t)(colon - spec));
		port = xstrdup(colon + 1);
	} else
		port = xstrdup(spec);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((r = getaddrinfo(host && *host ? host : NULL, port, &hints,
	    &res)) != 0) {
		snprintf(why, len, "%s: %s", spec, gai_strerror(r));
		goto cleanup;
	}
	if ((fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC,
	    res->ai_protocol)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ==
	    -1 || bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, 4) == -1) {
		snprintf(why, len, "%s: %s", spec, strerror(errno));
		if (fd != -1)
			close(fd);
		fd = -1;
	}
cleanup:
	if (res != NULL)
		freeaddrinfo(res);
	free(host);
	free(port);
	return fd;
}

static int
write_port(int fd, const char *file)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 port[16];
	char			 t[32];

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1 ||
	    getnameinfo((struct sockaddr *)&ss, sl, NULL, 0, port,
	    sizeof(port), NI_NUMERICSERV) != 0)
		return -1;
	snprintf(t, sizeof(t), "%s\n", port);
	return write_file_atomic(file, t, strlen(t), 0644);
}

static void
power_off(void)
{
	const char		*argv[] = { "systemctl", "poweroff", NULL };
	struct exec_opts	 o;
	struct exec_result	 res;

	log_info("agent: powering off");
	memset(&o, 0, sizeof(o));
	o.argv = argv;
	o.timeout_ms = 60000;
	if (exec_run(&o, &res) == -1 || !res.exited || res.code != 0)
		log_warnx("agent: systemctl poweroff failed");
	exec_result_free(&res);
}

int
main(int argc, char **argv)
{
	struct agent_opts	 o;
	const char		*listen_spec = AGENT_PORT, *port_file = NULL;
	const char		*scratch = NULL;
	const char		*v;
	char			 why[256], *version;
	long			 idle_s = AGENT_IDLE_S, build_s = 0;
	int64_t			 since;
	int			 i, debug = 0, poweroff = 0, lfd, fd;
	int			 r = 1, w;

	memset(&o, 0, sizeof(o));
	o.builder = AGENT_BUILDER;
	o.workdir = AGENT_WORKDIR;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-d") == 0)
			debug = 1;
		else if (strcmp(argv[i], "--poweroff") == 0)
			poweroff = 1;
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--listen") == 0 ||
		    strcmp(argv[i], "--builder") == 0 ||
		    strcmp(argv[i], "--workdir") == 0 ||
		    strcmp(argv[i], "--port-file") == 0 ||
		    strcmp(argv[i], "--scratch") == 0 ||
		    strcmp(argv[i], "--idle-timeout") == 0 ||
		    strcmp(argv[i], "--build-timeout") == 0) {
			const char *f = argv[i];
			char *end;
			long n;

			if ((v = cli_value(PROG, argc, argv, &i)) == NULL)
				return 2;
			if (strcmp(f, "--listen") == 0)
				listen_spec = v;
			else if (strcmp(f, "--builder") == 0)
				o.builder = v;
			else if (strcmp(f, "--workdir") == 0)
				o.workdir = v;
			else if (strcmp(f, "--port-file") == 0)
				port_file = v;
			else if (strcmp(f, "--scratch") == 0)
				scratch = v;
			else {
				n = strtol(v, &end, 10);
				if (*v == '\0' || *end != '\0' || n < 0 ||
				    n > 7 * 86400) {
					fprintf(stderr, "%s: %s: not a number "
					    "of seconds\n", PROG, f);
					return 2;
				}
				if (strcmp(f, "--idle-timeout") == 0)
					idle_s = n;
				else
					build_s = n;
			}
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (o.workdir[0] != '/') {
		fprintf(stderr, "%s: --workdir must be absolute\n", PROG);
		return 2;
	}
	log_init(debug, LOG_TEXT);
	cli_quit_on_signals(&quit);
	if (strcmp(o.builder, "auto") == 0)
		o.builder = pick_builder();
	if (scratch != NULL && scratch_mount(scratch, o.workdir) == -1) {
		log_warnx("agent: the scratch disk %s cannot be used", scratch);
		if (poweroff)
			power_off();
		return 1;
	}
	o.build_timeout_ms = build_s * 1000;
	if ((lfd = listen_on(listen_spec, why, sizeof(why))) == -1) {
		log_warnx("agent: cannot listen on %s", why);
		return 1;
	}
	if (port_file != NULL && write_port(lfd, port_file) == -1) {
		log_warnx("agent: cannot write %s", port_file);
		close(lfd);
		return 1;
	}
	version = builder_version(o.builder);
	o.version = version;
	log_info("agent: listening on %s for one build (builder %s %s)",
	    listen_spec, o.builder, version);
	since = now_ms();
	while (!atomic_load(&quit)) {
		if ((w = frame_wait(lfd, 200)) == -1)
			break;
		if (w == 0) {
			if (idle_s > 0 && now_ms() - since > idle_s * 1000) {
				log_warnx("agent: no build in %ld s", idle_s);
				break;
			}
			continue;
		}
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
			continue;
		w = agent_session(&o, fd, lfd, &quit);
		close(fd);
		if (w != 1) {
			r = w == 0 ? 0 : 1;
			break;
		}
	}
	close(lfd);
	free(version);
	if (poweroff)
		power_off();
	return r;
}
