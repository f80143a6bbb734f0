/*
 * ib-worker: takes jobs from an osbuild-composer and runs them. The command
 * line is the reference worker's ([-unix] ADDRESS) with a few additions.
 */
#include <sys/prctl.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "health.h"
#include "log.h"
#include "loop.h"
#include "watch.h"


static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: ib-worker [-d] [-n] [-c FILE] [-unix] ADDRESS\n"
	    "\n"
	    "Takes jobs from the osbuild-composer at ADDRESS (HOST:PORT for\n"
	    "HTTPS, or a socket path with -unix) and runs them.\n"
	    "\n"
	    "  -c FILE     configuration (default %s;\n"
	    "              a missing file means the defaults)\n"
	    "  -n          check the configuration and what it refers to (files,\n"
	    "              executables, metrics_listen, job types) and exit\n"
	    "              (0 ok, 2 not)\n"
	    "  -d          debug log (the worker always stays in the foreground)\n"
	    "  -unix       ADDRESS is the path of a unix socket (plain HTTP)\n"
	    "  --version   print the version\n"
	    "  --help      this text\n"
	    "\n"
	    "Signals: SIGTERM/SIGINT finish the current job and exit; a second\n"
	    "one or SIGQUIT stops the job without reporting it; SIGHUP reloads\n"
	    "the configuration.\n", CONFIG_DEFAULT_PATH);
}

static void
on_signal(int sig)
{
	switch (sig) {
	case SIGHUP:
		runflags.reload = 1;
		break;
	case SIGQUIT:
		runflags.stop_now = 1;
		runflags.hurry = 1;
		runflags.drain = 1;
		break;
	case SIGALRM:
		/* drain_timeout is up: the watcher stops the job at once. */
		runflags.hurry = 1;
		break;
	default:
		if (runflags.drain) {
			runflags.stop_now = 1;
			runflags.hurry = 1;
		} else if (runflags.drain_alarm > 0)
			alarm((unsigned)runflags.drain_alarm);
		runflags.drain = 1;
		break;
	}
	runflags.wake = 1;
}

static void
setup_signals(void)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/* Go's flag package takes -flag and --flag alike; so do we. */
static int
is_flag(const char *arg, const char *name)
{
	if (arg[0] != '-')
		return 0;
	arg += arg[1] == '-' ? 2 : 1;
	return strcmp(arg, name) == 0;
}

int
main(int argc, char *argv[])
{
	struct loop_opts	 opts;
	struct config		*conf;
	const char		*address = NULL;
	char			 err[1024];
	int			 i, check = 0, rv;

	/* No core dump, no ptrace by peers: the memory holds secrets. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1) {
		fprintf(stderr, "ib-worker: prctl PR_SET_DUMPABLE: %s\n",
		    strerror(errno));
		return 1;
	}
	memset(&opts, 0, sizeof(opts));
	opts.config_path = CONFIG_DEFAULT_PATH;
	for (i = 1; i < argc; i++) {
		if (is_flag(argv[i], "help") || is_flag(argv[i], "h")) {
			usage(stdout);
			return 0;
		} else if (is_flag(argv[i], "version")) {
			printf("ib-worker %s\n", IB_VERSION);
			return 0;
		} else if (is_flag(argv[i], "unix"))
			opts.unix_socket = 1;
		else if (is_flag(argv[i], "n"))
			check = 1;
		else if (is_flag(argv[i], "d"))
			opts.debug = 1;
		else if (is_flag(argv[i], "c")) {
			if (++i == argc) {
				fprintf(stderr, "ib-worker: -c needs a file\n");
				usage(stderr);
				return 2;
			}
			opts.config_path = argv[i];
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "ib-worker: unknown flag %s\n", argv[i]);
			usage(stderr);
			return 2;
		} else if (address == NULL)
			address = argv[i];
		else {
			fprintf(stderr, "ib-worker: one ADDRESS only\n");
			usage(stderr);
			return 2;
		}
	}

	log_init(opts.debug, LOG_TEXT);
	if ((conf = config_load(opts.config_path, 1, err, sizeof(err))) ==
	    NULL) {
		if (check) {
			fprintf(stderr, "%s\n", err);
			return 2;
		}
		log_errx("%s", err);
		return 2;
	}
	if (check) {
		/* What the file refers to must exist and work, too. */
		if (conf->fallback_note != NULL)
			printf("%s: %s\n", opts.config_path,
			    conf->fallback_note);
		rv = health_check_config(conf, stderr);	/* the problems */
		if (rv == 0)
			printf("configuration OK\n");
		config_free(conf);
		return rv == 0 ? 0 : 2;
	}
	log_setformat(conf->worker.log_format);
	if (address == NULL) {
		fprintf(stderr, "ib-worker: no ADDRESS given\n");
		usage(stderr);
		config_free(conf);
		return 2;
	}
	opts.address = address;
	setup_signals();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatalx("curl_global_init failed");
	log_info("ib-worker %s starting, composer %s%s", IB_VERSION, address,
	    opts.unix_socket ? " (unix socket)" : "");
	rv = loop_run(&opts, conf);
	curl_global_cleanup();
	return rv;
}
