/*
 * ib-backlog: puts the composer's queue depth into CloudWatch, where the
 * worker fleet's scaling policies read it (terraform/modules/worker-fleet:
 * namespace ImageBuilder/Workers, metrics PendingJobs and RunningJobs,
 * dimension Queue). It scrapes the composer's Prometheus /metrics once, or
 * every N seconds with --every.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "aws.h"
#include "cli.h"
#include "cw.h"
#include "http.h"
#include "log.h"
#include "prom.h"
#include "util.h"

#define PROG	"ib-backlog"

#define BL_NAMESPACE	"ImageBuilder/Workers"
#define BL_DIMENSION	"Queue"
#define BL_QUEUE	"ib-worker"
#define BL_TRIES	3
#define BL_NAME_MAX	255

/*
 * The gauges, by the names servers expose them under: the project's
 * local queue, then osbuild-composer (Namespace "image_builder", worker
 * subsystem "worker"; older releases used "composer_worker").
 */
static const char *pending_names[] = {
	"composer_pending_jobs",
	"image_builder_worker_pending_jobs",
	"image_builder_composer_worker_pending_jobs",
	NULL
};
static const char *running_names[] = {
	"composer_running_jobs",
	"image_builder_worker_running_jobs",
	"image_builder_composer_worker_running_jobs",
	NULL
};

struct opts {
	const char	*metrics_url;
	const char	*metrics_file;	/* or this file, for checks */
	const char	*queue;
	const char	*namespace;
	const char	*dimension;
	const char	*region;
	const char	*endpoint;
	const char	*pending[2];
	const char	*running[2];
	const char	*ca;
	const char	*cert;
	const char	*key;
	long		 every;
	int		 dry_run;
};

static atomic_int	 quit;	/* lock-free: safe to set in a handler */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: ib-backlog [-d] [--dry-run] [--every SECONDS]\n"
	    "                  --metrics-url URL | --metrics-file FILE\n"
	    "                  [--queue-name NAME]\n"
	    "                  [--namespace NS] [--dimension NAME]\n"
	    "                  [--region REGION] [--endpoint URL]\n"
	    "                  [--pending-metric NAME] [--running-metric NAME]\n"
	    "                  [--ca FILE] [--cert FILE --key FILE]\n"
	    "\n"
	    "Reads the pending and running job gauges from the composer's\n"
	    "Prometheus metrics and puts them into CloudWatch as PendingJobs\n"
	    "and RunningJobs (namespace %s, dimension %s=%s\n"
	    "by default: the worker-fleet module's defaults).\n"
	    "Credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY\n"
	    "[/AWS_SESSION_TOKEN], else the instance role (IMDSv2). Region:\n"
	    "--region, AWS_REGION, AWS_DEFAULT_REGION, else the instance's.\n"
	    "Exit: 0 published, 1 failed, 2 usage.\n",
	    BL_NAMESPACE, BL_DIMENSION, BL_QUEUE);
}

static int
scrape(struct http *h, const struct opts *o, double *pending,
    double *running)
{
	struct http_req		 req;
	struct http_resp	 resp;
	const char		*pn, *rn, *src;
	char			 err[512], *text;
	size_t			 len;
	int			 rv = -1;

	http_resp_init(&resp);
	if (o->metrics_file != NULL) {
		src = o->metrics_file;
		if ((text = read_file(src, 16 * 1024 * 1024, &len)) == NULL) {
			log_warn("metrics %s", src);
			goto cleanup;
		}
		buf_add(&resp.body, text, len);
		free(text);
	} else {
		src = o->metrics_url;
		memset(&req, 0, sizeof(req));
		req.url = src;
		req.timeout = 30;
		if (http_do(h, &req, &resp) == -1) {
			log_warnx("metrics %s: %s", src, resp.error);
			goto cleanup;
		}
		if (resp.status != 200) {
			log_warnx("metrics %s: HTTP %ld", src, resp.status);
			goto cleanup;
		}
	}
	if (prom_sum(resp.body.data ? resp.body.data : "", resp.body.len,
	    o->pending[0] ? o->pending : pending_names, pending, &pn, err,
	    sizeof(err)) == -1 ||
	    prom_sum(resp.body.data ? resp.body.data : "", resp.body.len,
	    o->running[0] ? o->running : running_names, running, &rn, err,
	    sizeof(err)) == -1) {
		log_warnx("metrics %s: %s", src, err);
		goto cleanup;
	}
	log_debug("%s %g, %s %g", pn, *pending, rn, *running);
	rv = 0;
cleanup:
	http_resp_free(&resp);
	return rv;
}

static int
publish(struct http *h, const struct opts *o, double pending,
    double running)
{
	struct aws_creds	 creds;
	struct cw_datum		 data[2];
	struct cw_put		 put;
	char			 err[512], *region = NULL, *url = NULL;
	int			 i, rv = -1;

	memset(&creds, 0, sizeof(creds));
	if ((region = cw_region(h, o->region, err, sizeof(err))) == NULL) {
		log_warnx("no region: %s", err);
		goto cleanup;
	}
	url = o->endpoint ? xstrdup(o->endpoint) :
	    xasprintf("https://monitoring.%s.amazonaws.com/", region);
	data[0].name = "PendingJobs";
	data[0].value = pending;
	data[0].unit = "Count";
	data[1].name = "RunningJobs";
	data[1].value = running;
	data[1].unit = "Count";
	memset(&put, 0, sizeof(put));
	put.url = url;
	put.region = region;
	put.namespace = o->namespace;
	put.dim_name = o->dimension;
	put.dim_value = o->queue;
	put.when = time(NULL);
	put.data = data;
	put.ndata = 2;
	for (i = 0; i < BL_TRIES && !quit; i++) {
		if (i > 0)
			sleep(1U << (i - 1));
		/* Instance role credentials rotate: fetched for each try. */
		aws_creds_clear(&creds);
		if (cw_creds_load(h, &creds, err, sizeof(err)) == -1) {
			log_warnx("no AWS credentials: %s", err);
			continue;
		}
		if (cw_put_metric_data(h, &put, &creds, err,
		    sizeof(err)) == 0) {
			log_info("published %s=%s PendingJobs %g RunningJobs %g",
			    o->dimension, o->queue, pending, running);
			rv = 0;
			break;
		}
		log_warnx("%s", err);
	}
cleanup:
	aws_creds_clear(&creds);
	free(region);
	free(url);
	return rv;
}

static int
run_once(struct http *h, const struct opts *o)
{
	double	 pending, running;

	if (scrape(h, o, &pending, &running) == -1)
		return -1;
	if (o->dry_run) {
		printf("PendingJobs %.15g\nRunningJobs %.15g\n", pending,
		    running);
		fflush(stdout);
		return 0;
	}
	return publish(h, o, pending, running);
}

static int
parse(int argc, char **argv, struct opts *o, int *debug)
{
	const char	*v;
	char		*end;
	int		 i;

	memset(o, 0, sizeof(*o));
	o->queue = BL_QUEUE;
	o->namespace = BL_NAMESPACE;
	o->dimension = BL_DIMENSION;
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
		else if (strcmp(a, "--metrics-url") == 0)
			dst = &o->metrics_url;
		else if (strcmp(a, "--metrics-file") == 0)
			dst = &o->metrics_file;
		else if (strcmp(a, "--queue-name") == 0)
			dst = &o->queue;
		else if (strcmp(a, "--namespace") == 0)
			dst = &o->namespace;
		else if (strcmp(a, "--dimension") == 0)
			dst = &o->dimension;
		else if (strcmp(a, "--region") == 0)
			dst = &o->region;
		else if (strcmp(a, "--endpoint") == 0)
			dst = &o->endpoint;
		else if (strcmp(a, "--pending-metric") == 0)
			dst = &o->pending[0];
		else if (strcmp(a, "--running-metric") == 0)
			dst = &o->running[0];
		else if (strcmp(a, "--ca") == 0)
			dst = &o->ca;
		else if (strcmp(a, "--cert") == 0)
			dst = &o->cert;
		else if (strcmp(a, "--key") == 0)
			dst = &o->key;
		else if (strcmp(a, "--every") == 0) {
			if ((v = cli_value(PROG, argc, argv, &i)) == NULL)
				return -1;
			o->every = strtol(v, &end, 10);
			if (*end != '\0' || o->every < 1 || o->every > 3600) {
				fprintf(stderr, "ib-backlog: --every takes 1 to "
				    "3600 seconds\n");
				return -1;
			}
		} else {
			fprintf(stderr, "ib-backlog: unknown argument %s\n", a);
			return -1;
		}
		if (dst != NULL &&
		    (*dst = cli_value(PROG, argc, argv, &i)) == NULL)
			return -1;
	}
	if ((o->metrics_url == NULL) == (o->metrics_file == NULL)) {
		fprintf(stderr, "ib-backlog: one of --metrics-url and "
		    "--metrics-file is required\n");
		return -1;
	}
	if (!text_is_printable(o->queue, BL_NAME_MAX) ||
	    !text_is_printable(o->namespace, BL_NAME_MAX) ||
	    strncmp(o->namespace, "AWS/", 4) == 0 ||
	    !text_is_printable(o->dimension, BL_NAME_MAX)) {
		fprintf(stderr, "ib-backlog: the queue name, namespace and "
		    "dimension must be 1 to %d printable characters (and the "
		    "namespace not AWS/...)\n", BL_NAME_MAX);
		return -1;
	}
	if ((o->cert == NULL) != (o->key == NULL)) {
		fprintf(stderr, "ib-backlog: --cert and --key go together\n");
		return -1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct opts		 o;
	struct http_opts	 ho;
	struct http		*h;
	struct timespec		 ts;
	int64_t			 next;
	int			 debug = 0, rv;

	if (parse(argc, argv, &o, &debug) == -1) {
		usage(stderr);
		return 2;
	}
	log_init(debug, LOG_TEXT);
	cli_quit_on_signals(&quit);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatalx("curl_global_init failed");
	memset(&ho, 0, sizeof(ho));
	ho.ca_bundle = o.ca;
	ho.client_cert = o.cert;
	ho.client_key = o.key;
	ho.connect_timeout = 10;
	ho.transfer_timeout = 30;
	ho.max_body = 16 * 1024 * 1024;
	h = http_new(&ho);

	rv = run_once(h, &o) == 0 ? 0 : 1;
	if (o.every > 0) {
		/* A failed tick is logged; the next one may do better. */
		next = now_ms() + o.every * 1000;
		while (!quit) {
			if (now_ms() < next) {
				ts.tv_sec = 0;
				ts.tv_nsec = 100 * 1000000L;
				nanosleep(&ts, NULL);
				continue;
			}
			next += o.every * 1000;
			run_once(h, &o);
		}
		rv = 0;
	}
	http_free(h);
	curl_global_cleanup();
	return rv;
}
