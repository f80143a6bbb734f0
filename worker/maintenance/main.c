/*
 * ib-maintenance: the retention clean-up. Deletes the fleet's images (and
 * their snapshots or blobs) older than the retention in AWS, GCP and
 * Azure, at most --limit per run, or only says what it would delete with
 * --dry-run. What it did goes to a Prometheus text file for
 * node_exporter's textfile collector (--metrics-file), written atomically.
 * Exit: 0 done, 1 something failed (listed or deleted), 2 usage,
 * 3 done but the limit stopped it (more is left for the next run).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "aws.h"
#include "azure.h"
#include "cli.h"
#include "log.h"
#include "prune.h"
#include "util.h"

#define PROG	"ib-maintenance"

#define MAINT_RETENTION_DAYS	14
#define MAINT_LIMIT		100
#define MAINT_PREFIX_MAX	64

static atomic_int	 quit;	/* lock-free: safe to set in a handler */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: ib-maintenance [-d] [--dry-run] [--retention-days N]\n"
	    "                      [--limit N] [--metrics-file FILE]\n"
	    "                      [--name-prefix PREFIX] [--ca FILE]\n"
	    "                      [--aws] [--aws-region REGION]...\n"
	    "                      [--aws-home-region REGION]\n"
	    "                      [--aws-credentials FILE] [--aws-endpoint URL]\n"
	    "                      [--gcp-credentials FILE]\n"
	    "                      [--azure-credentials FILE --azure-tenant ID\n"
	    "                       --azure-subscription ID]\n"
	    "\n"
	    "Deletes the fleet's AMIs (with their snapshots), GCE images and\n"
	    "Azure images (with their blobs) older than the retention (default %d days), at most --limit (default\n"
	    "%d) per run. See ib-maintenance(8).\n"
	    "Exit: 0 done, 1 a failure, 2 usage, 3 the limit stopped it.\n",
	    MAINT_RETENTION_DAYS, MAINT_LIMIT);
}

struct prune_tally *
prune_tally(struct prune_run *r, const char *cloud, const char *where)
{
	struct prune_tally	*t;
	size_t			 i;

	for (i = 0; i < r->nt; i++)
		if (strcmp(r->t[i].cloud, cloud) == 0 &&
		    strcmp(r->t[i].where, where) == 0)
			return &r->t[i];
	if (r->nt == PRUNE_MAX_TALLIES)
		return &r->t[r->nt - 1];
	t = &r->t[r->nt++];
	memset(t, 0, sizeof(*t));
	snprintf(t->cloud, sizeof(t->cloud), "%s", cloud);
	snprintf(t->where, sizeof(t->where), "%s", where);
	return t;
}

int
prune_expired(const struct prune_opts *o, const char *created)
{
	struct tm	 tm;
	const char	*rest;
	time_t		 t;
	int		 sign, hh, mm;

	memset(&tm, 0, sizeof(tm));
	if ((rest = strptime(created, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return 0;
	if ((t = timegm(&tm)) == (time_t)-1)
		return 0;
	if (*rest == '.') {
		for (rest++; *rest >= '0' && *rest <= '9'; rest++)
			;
	}
	if (*rest == '+' || *rest == '-') {
		sign = *rest == '+' ? 1 : -1;
		if (sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2 ||
		    strlen(rest) != 6)
			return 0;
		t -= sign * (hh * 3600 + mm * 60);
	} else if (strcmp(rest, "Z") != 0)
		return 0;
	return (int64_t)o->now - (int64_t)t > o->retention;
}

int
prune_may(struct prune_run *r)
{
	if (r->done >= r->o->limit) {
		r->limit_hit = 1;
		return 0;
	}
	r->done++;
	return 1;
}

int
prune_name_ok(const struct prune_opts *o, const char *name)
{
	return o->name_prefix == NULL || *o->name_prefix == '\0' ||
	    strncmp(name, o->name_prefix, strlen(o->name_prefix)) == 0;
}

/* The run as node_exporter's textfile collector reads it. */
static int
write_metrics(const char *path, const struct prune_run *r, int failed)
{
	static const struct {
		const char	*name, *help;
		size_t		 off;
	} m[] = {
		{ "ib_maintenance_images_seen", "The fleet's images listed.",
		    offsetof(struct prune_tally, seen) },
		{ "ib_maintenance_images_expired",
		    "Of them, older than the retention.",
		    offsetof(struct prune_tally, expired) },
		{ "ib_maintenance_images_deleted",
		    "Images deleted (dry run: that would be).",
		    offsetof(struct prune_tally, images) },
		{ "ib_maintenance_snapshots_deleted",
		    "Snapshots deleted (dry run: that would be).",
		    offsetof(struct prune_tally, snapshots) },
		{ "ib_maintenance_errors", "Calls that failed.",
		    offsetof(struct prune_tally, errors) },
	};
	struct buf	 b;
	size_t		 i, j;
	int		 rv;

	buf_init(&b);
	for (i = 0; i < nitems(m); i++) {
		buf_printf(&b, "# HELP %s %s\n# TYPE %s gauge\n", m[i].name,
		    m[i].help, m[i].name);
		for (j = 0; j < r->nt; j++)
			buf_printf(&b, "%s{cloud=\"%s\",where=\"%s\","
			    "dry_run=\"%d\"} %ld\n", m[i].name, r->t[j].cloud,
			    r->t[j].where, r->o->dry_run,
			    *(const long *)(const void *)((const char *)&r->t[j] +
			    m[i].off));
	}
	buf_printf(&b, "# HELP ib_maintenance_limit_reached 1 when the "
	    "limit stopped the run.\n# TYPE ib_maintenance_limit_reached "
	    "gauge\nib_maintenance_limit_reached %d\n", r->limit_hit);
	buf_printf(&b, "# HELP ib_maintenance_success 1 when nothing "
	    "failed.\n# TYPE ib_maintenance_success gauge\n"
	    "ib_maintenance_success %d\n", !failed);
	buf_printf(&b, "# HELP ib_maintenance_last_run_timestamp_seconds "
	    "When the run ended.\n# TYPE "
	    "ib_maintenance_last_run_timestamp_seconds gauge\n"
	    "ib_maintenance_last_run_timestamp_seconds %lld\n",
	    (long long)time(NULL));
	rv = write_file_atomic(path, b.data, b.len, 0644);
	if (rv == -1)
		log_warn("%s", path);
	buf_free(&b);
	return rv;
}

static int
number(const char *flag, const char *v, long min, long max, long *out)
{
	char	*end;

	*out = strtol(v, &end, 10);
	if (*v == '\0' || *end != '\0' || *out < min || *out > max) {
		fprintf(stderr, "ib-maintenance: %s takes %ld to %ld\n", flag,
		    min, max);
		return -1;
	}
	return 0;
}

static int
parse(int argc, char **argv, struct prune_opts *o, const char **metrics,
    int *aws, int *gcp, int *azure, int *debug)
{
	const char	*v, *env;
	long		 n;
	size_t		 nreg = 0;
	int		 i;

	o->retention = MAINT_RETENTION_DAYS * 86400LL;
	o->limit = MAINT_LIMIT;
	o->now = time(NULL);
	/* Tests move the clock; nobody else should. */
	if ((env = getenv("IB_MAINTENANCE_NOW")) != NULL && *env)
		o->now = (time_t)strtoll(env, NULL, 10);
	for (i = 1; i < argc; i++) {
		const char	*a = argv[i];
		const char	**dst = NULL;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(a, "-d") == 0)
			*debug = 1;
		else if (strcmp(a, "--dry-run") == 0)
			o->dry_run = 1;
		else if (strcmp(a, "--aws") == 0)
			*aws = 1;
		else if (strcmp(a, "--retention-days") == 0) {
			if ((v = cli_value(PROG, argc, argv, &i)) == NULL ||
			    number(a, v, 1, 3650, &n) == -1)
				return -1;
			o->retention = n * 86400LL;
		} else if (strcmp(a, "--limit") == 0) {
			if ((v = cli_value(PROG, argc, argv, &i)) == NULL ||
			    number(a, v, 0, 100000, &o->limit) == -1)
				return -1;
		} else if (strcmp(a, "--aws-region") == 0) {
			if ((v = cli_value(PROG, argc, argv, &i)) == NULL)
				return -1;
			if (!aws_region_ok(v) || nreg == PRUNE_MAX_REGIONS) {
				fprintf(stderr, "ib-maintenance: bad or too many "
				    "regions\n");
				return -1;
			}
			o->aws_regions[nreg++] = v;
			*aws = 1;
		} else if (strcmp(a, "--metrics-file") == 0)
			dst = metrics;
		else if (strcmp(a, "--name-prefix") == 0)
			dst = &o->name_prefix;
		else if (strcmp(a, "--ca") == 0)
			dst = &o->ca;
		else if (strcmp(a, "--aws-home-region") == 0)
			dst = &o->aws_home;
		else if (strcmp(a, "--aws-credentials") == 0)
			dst = &o->aws_creds_file;
		else if (strcmp(a, "--aws-endpoint") == 0)
			dst = &o->aws_endpoint;
		else if (strcmp(a, "--gcp-credentials") == 0) {
			dst = &o->gcp_creds_file;
			*gcp = 1;
		} else if (strcmp(a, "--azure-credentials") == 0)
			dst = &o->azure_creds_file;
		else if (strcmp(a, "--azure-tenant") == 0)
			dst = &o->azure_tenant;
		else if (strcmp(a, "--azure-subscription") == 0)
			dst = &o->azure_sub;
		else {
			fprintf(stderr, "ib-maintenance: unknown argument %s\n",
			    a);
			return -1;
		}
		if (dst != NULL &&
		    (*dst = cli_value(PROG, argc, argv, &i)) == NULL)
			return -1;
	}
	if (o->aws_home == NULL)
		o->aws_home = getenv("AWS_REGION");
	if (o->aws_home == NULL || *o->aws_home == '\0')
		o->aws_home = getenv("AWS_DEFAULT_REGION");
	if (o->aws_home == NULL || *o->aws_home == '\0')
		o->aws_home = "us-east-1";
	if (!aws_region_ok(o->aws_home)) {
		fprintf(stderr, "ib-maintenance: bad home region\n");
		return -1;
	}
	if (o->name_prefix != NULL &&
	    !text_is_printable(o->name_prefix, MAINT_PREFIX_MAX)) {
		fprintf(stderr, "ib-maintenance: --name-prefix takes 1 to %d "
		    "printable characters\n", MAINT_PREFIX_MAX);
		return -1;
	}
	if (o->azure_creds_file != NULL || o->azure_tenant != NULL ||
	    o->azure_sub != NULL) {
		if (o->azure_creds_file == NULL ||
		    !azure_arm_name_ok(o->azure_tenant) ||
		    !azure_arm_name_ok(o->azure_sub) ||
		    strchr(o->azure_sub, '"') != NULL) {	/* a metric label */
			fprintf(stderr, "ib-maintenance: Azure needs "
			    "--azure-credentials, --azure-tenant and "
			    "--azure-subscription (names without '/', '?', "
			    "'#', '%%' or spaces)\n");
			return -1;
		}
		*azure = 1;
	}
	if (!*aws && !*gcp && !*azure) {
		fprintf(stderr, "ib-maintenance: nothing to do: give --aws, "
		    "--aws-region, --gcp-credentials or --azure-credentials\n");
		return -1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct prune_opts	 o;
	struct prune_run	*r;
	const char		*metrics = NULL;
	int			 aws = 0, gcp = 0, azure = 0, debug = 0;
	int			 failed = 0, rv;

	memset(&o, 0, sizeof(o));
	if (parse(argc, argv, &o, &metrics, &aws, &gcp, &azure,
	    &debug) == -1) {
		usage(stderr);
		return 2;
	}
	o.quit = &quit;
	log_init(debug, LOG_TEXT);
	cli_quit_on_signals(&quit);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatalx("curl_global_init failed");
	r = xcalloc(1, sizeof(*r));
	r->o = &o;
	if (aws && prune_aws(r) == -1)
		failed = 1;
	if (gcp && !quit && prune_gcp(r) == -1)
		failed = 1;
	if (azure && !quit && prune_azure(r) == -1)
		failed = 1;
	for (size_t i = 0; i < r->nt; i++) {
		if (r->t[i].errors > 0)
			failed = 1;
		log_info("%s %s: %ld of the fleet's images, %ld expired, %ld "
		    "images and %ld snapshots %sdeleted, %ld errors",
		    r->t[i].cloud, r->t[i].where, r->t[i].seen,
		    r->t[i].expired, r->t[i].images, r->t[i].snapshots,
		    o.dry_run ? "would be " : "", r->t[i].errors);
	}
	if (quit)
		failed = 1;
	if (metrics != NULL && write_metrics(metrics, r, failed) == -1)
		failed = 1;
	rv = failed ? 1 : r->limit_hit ? 3 : 0;
	free(r);
	curl_global_cleanup();
	return rv;
}
