/*
 * AWS: in every enabled region (DescribeRegions, asked in the home region)
 * or the regions given, the account's own images carrying the Name tag
 * that the org.osbuild.aws target puts on what it registers (its value is
 * the image's name: daemon/targets/aws_ami.c tags both the AMI and its
 * snapshot so). An image whose Name tag differs from its name, or that
 * has none, is not the fleet's and is never touched. An expired image is
 * deregistered, then its EBS snapshots deleted; a snapshot another image
 * still uses (InvalidSnapshot.InUse) is left and not counted as an error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "ec2.h"
#include "http.h"
#include "log.h"
#include "prune.h"
#include "util.h"

#define AWS_TAG		"Name"

static struct ec2 *
client(const struct prune_opts *o, const char *region,
    const struct aws_creds *creds)
{
	struct ec2_cfg	 cfg;
	struct ec2	*e;
	char		 err[512];

	memset(&cfg, 0, sizeof(cfg));
	cfg.endpoint = o->aws_endpoint;
	cfg.region = region;
	cfg.creds = creds;
	cfg.ca_bundle = o->ca;
	cfg.tries = 6;
	cfg.backoff_base = 500;
	cfg.backoff_cap = 20000;
	cfg.abort = o->quit;
	if ((e = ec2_new(&cfg, err, sizeof(err))) == NULL)
		log_warnx("aws %s: %s", region, err);
	return e;
}

static void
delete_image(struct prune_run *r, struct ec2 *e, struct prune_tally *t,
    const struct ec2_image *im)
{
	size_t	 i;

	if (r->o->dry_run) {
		log_info("aws %s: would delete %s (%s, created %s)", t->where,
		    im->id, im->name, im->created);
		t->images++;
		for (i = 0; im->snapshots[i] != NULL; i++)
			t->snapshots++;
		return;
	}
	if (ec2_deregister_image(e, im->id) == -1) {
		log_warnx("aws %s: %s", t->where, ec2_error(e));
		t->errors++;
		return;
	}
	t->images++;
	log_info("aws %s: deregistered %s (%s, created %s)", t->where, im->id,
	    im->name, im->created);
	for (i = 0; im->snapshots[i] != NULL; i++) {
		if (ec2_delete_snapshot(e, im->snapshots[i]) == 0) {
			t->snapshots++;
			log_info("aws %s: deleted %s", t->where,
			    im->snapshots[i]);
		} else if (strcmp(ec2_error_code(e),
		    "InvalidSnapshot.InUse") == 0)
			log_info("aws %s: %s is still in use, kept", t->where,
			    im->snapshots[i]);
		else {
			log_warnx("aws %s: %s", t->where, ec2_error(e));
			t->errors++;
		}
	}
}

static int
region_run(struct prune_run *r, const char *region,
    const struct aws_creds *creds)
{
	struct prune_tally	*t = prune_tally(r, "aws", region);
	struct ec2_image	*ims = NULL;
	struct ec2		*e;
	size_t			 n = 0, i;
	int			 rv = -1;

	if ((e = client(r->o, region, creds)) == NULL) {
		t->errors++;
		return -1;
	}
	if (ec2_own_images(e, AWS_TAG, &ims, &n) == -1) {
		log_warnx("aws %s: %s", region, ec2_error(e));
		t->errors++;
		goto cleanup;
	}
	for (i = 0; i < n && !*r->o->quit; i++) {
		const struct ec2_image *im = &ims[i];

		if (im->name == NULL || im->tag == NULL ||
		    strcmp(im->name, im->tag) != 0 ||
		    !text_is_printable(im->name, 128) ||
		    !prune_name_ok(r->o, im->name))
			continue;
		t->seen++;
		if (im->created == NULL || !text_is_printable(im->created, 64) ||
		    !prune_expired(r->o, im->created))
			continue;
		t->expired++;
		if (!prune_may(r))
			continue;
		delete_image(r, e, t, im);
	}
	rv = 0;
cleanup:
	ec2_images_free(ims, n);
	ec2_free(e);
	return rv;
}

int
prune_aws(struct prune_run *r)
{
	const struct prune_opts	*o = r->o;
	struct aws_creds	 creds;
	struct http_opts	 ho;
	struct http		*h;
	struct ec2		*e = NULL;
	char			 err[512], **all = NULL;
	const char		*ak = getenv("AWS_ACCESS_KEY_ID");
	const char		*sk = getenv("AWS_SECRET_ACCESS_KEY");
	size_t			 i;
	int			 rv = 0;

	memset(&ho, 0, sizeof(ho));
	ho.connect_timeout = 10;
	ho.transfer_timeout = 30;
	h = http_new(&ho);
	if (aws_creds_resolve(h, ak, sk, getenv("AWS_SESSION_TOKEN"),
	    o->aws_creds_file, &creds, err, sizeof(err)) == -1) {
		log_warnx("aws: no credentials: %s", err);
		prune_tally(r, "aws", o->aws_home)->errors++;
		http_free(h);
		return -1;
	}
	http_free(h);
	if (o->aws_regions[0] == NULL) {
		if ((e = client(o, o->aws_home, &creds)) == NULL ||
		    ec2_regions(e, &all) == -1) {
			if (e != NULL)
				log_warnx("aws %s: %s", o->aws_home,
				    ec2_error(e));
			prune_tally(r, "aws", o->aws_home)->errors++;
			rv = -1;
			goto cleanup;
		}
		for (i = 0; all[i] != NULL && !*o->quit; i++)
			if (region_run(r, all[i], &creds) == -1)
				rv = -1;
	} else {
		for (i = 0; o->aws_regions[i] != NULL && !*o->quit; i++)
			if (region_run(r, o->aws_regions[i], &creds) == -1)
				rv = -1;
	}
cleanup:
	for (i = 0; all != NULL && all[i] != NULL; i++)
		free(all[i]);
	free(all);
	ec2_free(e);
	aws_creds_clear(&creds);
	return rv;
}
