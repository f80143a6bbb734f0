/*
 * ib-vmcheck: tells whether this machine can build images, and why not.
 * Runs as the worker unit's ExecStartPre: exit 0 pass, 1 degraded (builds
 * run, slower or with warnings), 2 fail (the worker must not start).
 */
#include <sys/prctl.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "vmcheck.h"

#define DEFAULT_CACHE	"/var/cache/osbuild-worker"
#define DEFAULT_MIN_FREE (10ULL << 30)
#define DEFAULT_TIMEOUT	300
#define EXIT_USAGE	2

struct entry {
	const char	*name;
	void		(*fn)(struct vmcheck *, struct check *);
};

/* kvm before appliance: the appliance needs to know whether to force TCG. */
static const struct entry entries[] = {
	{ "container",	check_container },
	{ "mount",	check_mount },
	{ "loop",	check_loop },
	{ "cache",	check_cache },
	{ "builder",	check_builder },
	{ "qemu-img",	check_qemu_img },
	{ "libvirt",	check_libvirt },
	{ "kvm",	check_kvm },
	{ "appliance",	check_appliance },
};

struct opts {
	int		 json;
	const char	*output;
	int		 skip[nitems(entries)];
};

static void
usage(FILE *f)
{
	size_t	 i;

	fprintf(f, "usage: ib-vmcheck [--json] [--quick] [--skip CHECK] "
	    "[--timeout S] [--cache-dir DIR]\n"
	    "                  [--min-free BYTES] [--osbuild PATH|NAME] "
	    "[--libvirt URI] [--output FILE]\n"
	    "Checks whether this machine can build images. Exit 0 pass, "
	    "1 degraded, 2 fail.\n"
	    "  --json          print one JSON object instead of text\n"
	    "  --quick         skip the appliance launch\n"
	    "  --skip CHECK    skip a check (repeatable, or comma-separated)\n"
	    "  --timeout S     bound for one appliance launch (default %d)\n"
	    "  --cache-dir DIR default $CACHE_DIRECTORY or %s\n"
	    "  --min-free N    warn below N bytes free (K/M/G/T suffixes; "
	    "default 10G)\n"
	    "  --osbuild P     the builder (default osbuild, on PATH)\n"
	    "  --libvirt URI   also check a libvirt connection\n"
	    "  --output FILE   also write the JSON report to FILE\n"
	    "checks:", DEFAULT_TIMEOUT, DEFAULT_CACHE);
	for (i = 0; i < nitems(entries); i++)
		fprintf(f, " %s", entries[i].name);
	fprintf(f, "\n");
}

/* Bytes with an optional binary suffix (K, M, G, T; "KiB" also). */
static int
parse_bytes(const char *s, uint64_t *out)
{
	unsigned long long	 v;
	char			*end;
	int			 shift = 0;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (shift && strcmp(end, "iB") == 0)
		end += 2;
	if (*end != '\0' || (shift && v > (UINT64_MAX >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static int
add_skips(struct opts *o, const char *list)
{
	char	*copy, *name, *save = NULL;
	size_t	 i;
	int	 rv = 0;

	copy = xstrdup(list);
	for (name = strtok_r(copy, ",", &save); name != NULL;
	    name = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < nitems(entries); i++)
			if (strcmp(entries[i].name, name) == 0)
				break;
		if (i == nitems(entries)) {
			fprintf(stderr, "ib-vmcheck: unknown check \"%s\" "
			    "for --skip\n", name);
			rv = -1;
			break;
		}
		o->skip[i] = 1;
	}
	free(copy);
	return rv;
}

static const char *
default_cache_dir(void)
{
	static char	 first[4096];
	const char	*env;

	/* systemd's CACHE_DIRECTORY may list several, ':'-separated. */
	if ((env = getenv("CACHE_DIRECTORY")) == NULL || *env != '/')
		return DEFAULT_CACHE;
	snprintf(first, sizeof(first), "%.*s", (int)strcspn(env, ":"), env);
	return first;
}

static int
parse_args(int argc, char *argv[], struct vmcheck *vc, struct opts *o)
{
	static const struct option longopts[] = {
		{ "json",	no_argument,		NULL, 'j' },
		{ "quick",	no_argument,		NULL, 'q' },
		{ "skip",	required_argument,	NULL, 's' },
		{ "timeout",	required_argument,	NULL, 't' },
		{ "cache-dir",	required_argument,	NULL, 'c' },
		{ "min-free",	required_argument,	NULL, 'm' },
		{ "osbuild",	required_argument,	NULL, 'b' },
		{ "libvirt",	required_argument,	NULL, 'l' },
		{ "output",	required_argument,	NULL, 'o' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL,		0,			NULL, 0 }
	};
	char	*end;
	long	 n;
	int	 ch;

	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			o->json = 1;
			break;
		case 'q':
			vc->quick = 1;
			break;
		case 's':
			if (add_skips(o, optarg) == -1)
				return -1;
			break;
		case 't':
			n = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || n < 1 ||
			    n > 3600) {
				fprintf(stderr, "ib-vmcheck: --timeout wants "
				    "1 to 3600 seconds\n");
				return -1;
			}
			vc->timeout_s = (int)n;
			break;
		case 'c':
			if (*optarg != '/') {
				fprintf(stderr, "ib-vmcheck: --cache-dir "
				    "wants an absolute path\n");
				return -1;
			}
			vc->cache_dir = optarg;
			break;
		case 'm':
			if (parse_bytes(optarg, &vc->min_free) == -1) {
				fprintf(stderr, "ib-vmcheck: --min-free "
				    "wants bytes, e.g. 10G\n");
				return -1;
			}
			break;
		case 'b':
			vc->osbuild = optarg;
			break;
		case 'l':
			vc->libvirt_uri = optarg;
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("ib-vmcheck %s\n", VMCHECK_VERSION);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ib-vmcheck: unexpected argument \"%s\"\n",
		    argv[optind]);
		return -1;
	}
	return 0;
}

static void
run_checks(struct vmcheck *vc, struct opts *o, struct check *checks)
{
	struct check	*kvm = NULL;
	size_t		 i;
	int		 kvm_was_ok;

	for (i = 0; i < nitems(entries); i++) {
		checks[i].name = entries[i].name;
		if (strcmp(entries[i].name, "kvm") == 0)
			kvm = &checks[i];
		if (o->skip[i]) {
			check_set(&checks[i], ST_SKIP, "skipped (--skip)");
			continue;
		}
		if (vc->quick && strcmp(entries[i].name, "appliance") == 0) {
			check_set(&checks[i], ST_SKIP, "skipped (--quick)");
			continue;
		}
		log_debug("check %s", entries[i].name);
		kvm_was_ok = vc->kvm_ok;
		entries[i].fn(vc, &checks[i]);
		if (kvm != NULL && kvm_was_ok && !vc->kvm_ok)
			check_set(kvm, ST_WARN, "KVM unusable: %s; builds "
			    "will use TCG software emulation",
			    vc->kvm_reason);
	}
	if (vc->accel == NULL)
		vc->accel = vc->kvm_ok ? "kvm" : "tcg";
}

/* ib-vmcheck run again by proc_run_child: one probe, its exit code. */
static int
child_main(int argc, char *argv[])
{
	static const struct {
		const char	*name;
		int		 (*main)(int, char *[]);
	} children[] = {
		{ "mount", host_mount_child },
		{ "kvm", kvm_probe_child },
		{ "appliance", appliance_probe_child },
	};
	size_t	 i;

	for (i = 0; i < nitems(children); i++)
		if (strcmp(argv[0], children[i].name) == 0)
			return children[i].main(argc - 1, argv + 1);
	fprintf(stderr, "ib-vmcheck: %s: unknown child\n", VMCHECK_CHILD_ARG);
	return 2;
}

int
main(int argc, char *argv[])
{
	struct vmcheck	 vc;
	struct opts	 o;
	struct check	 checks[nitems(entries)];
	char		*json = NULL;
	int		 rv;

	/* No core file: it would hold what the job handed us (secrets
	 * included, STYLE.md). Tools it runs get theirs back at exec. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		log_warn("prctl(PR_SET_DUMPABLE)");
	log_init(getenv("IB_VMCHECK_DEBUG") != NULL, LOG_TEXT);
	if (argc >= 3 && strcmp(argv[1], VMCHECK_CHILD_ARG) == 0)
		return child_main(argc - 2, argv + 2);
	memset(&vc, 0, sizeof(vc));
	memset(&o, 0, sizeof(o));
	memset(checks, 0, sizeof(checks));
	vc.cache_dir = default_cache_dir();
	vc.min_free = DEFAULT_MIN_FREE;
	vc.osbuild = "osbuild";
	vc.timeout_s = DEFAULT_TIMEOUT;
	vc.launch_ms = -1;
	if (parse_args(argc, argv, &vc, &o) == -1)
		return EXIT_USAGE;

	run_checks(&vc, &o, checks);
	rv = report_status(checks, nitems(checks));
	if (o.json || o.output != NULL)
		json = report_json(&vc, checks, nitems(checks));
	if (o.json)
		fputs(json, stdout);
	else
		report_text(&vc, checks, nitems(checks));
	if (o.output != NULL && write_file_atomic(o.output, json,
	    strlen(json), 0644) == -1) {
		log_warn("cannot write %s", o.output);
		rv = 2;
	}
	free(json);
	fflush(stdout);
	return rv;
}
