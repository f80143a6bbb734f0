/*
 * Azure: the subscription's managed images tagged
 * CLOUD_FLEET_KEY=CLOUD_FLEET_VALUE, dated by their CLOUD_CREATED_KEY tag
 * (cloud.h; org.osbuild.azure.image sets both: ARM keeps no creation time
 * on an image). An image without the mark is never touched, one without
 * a readable date is kept. An expired image is deleted, then the page
 * blob it was made from (the VHD, counted as the tally's snapshot), with
 * the key of its storage account (listKeys in the image's group).
 * IB_AZURE_POLL_MS tunes the polling of the delete operations (tests).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azure.h"
#include "cloud.h"
#include "log.h"
#include "prune.h"
#include "util.h"

static void
delete_blob(struct azure *az, struct prune_tally *t,
    const struct azure_image *im)
{
	char	*account;

	if ((account = azure_blob_account(im->blob_uri)) == NULL) {
		log_warnx("azure %s: image %s: its blob's storage account "
		    "cannot be read from its URL; blob kept", t->where,
		    im->name);
		t->errors++;
		return;
	}
	if (azure_use_account(az, im->rg, account) == -1 ||
	    azure_blob_delete(az, im->blob_uri) == -1) {
		log_warnx("azure %s: image %s's blob: %s", t->where, im->name,
		    azure_error(az));
		t->errors++;
	} else {
		t->snapshots++;
		log_info("azure %s: deleted the blob of %s in %s", t->where,
		    im->name, account);
	}
	free(account);
}

static void
delete_image(struct prune_run *r, struct azure *az, struct prune_tally *t,
    const struct azure_image *im)
{
	if (r->o->dry_run) {
		log_info("azure %s: would delete %s in %s (created %s)",
		    t->where, im->name, im->rg, im->created);
		t->images++;
		if (im->blob_uri != NULL)
			t->snapshots++;
		return;
	}
	if (azure_image_delete(az, im->rg, im->name) == -1) {
		log_warnx("azure %s: %s", t->where, azure_error(az));
		t->errors++;
		return;
	}
	t->images++;
	log_info("azure %s: deleted %s in %s (created %s)", t->where,
	    im->name, im->rg, im->created);
	if (im->blob_uri != NULL)
		delete_blob(az, t, im);
}

int
prune_azure(struct prune_run *r)
{
	const struct prune_opts	*o = r->o;
	struct prune_tally	*t = prune_tally(r, "azure", o->azure_sub);
	struct azure_creds	 creds;
	struct azure_cfg	 cfg;
	struct azure		*az = NULL;
	struct azure_image	*ims = NULL;
	const char		*e;
	char			 why[512];
	size_t			 n = 0, i;
	int			 rv = -1;

	if (azure_creds_from_file(o->azure_creds_file, &creds, why,
	    sizeof(why)) == -1) {
		log_warnx("azure: %s", why);
		t->errors++;
		return -1;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.tenant = o->azure_tenant;
	cfg.subscription = o->azure_sub;
	cfg.creds = &creds;
	cfg.connect_timeout = 10;
	cfg.abort = o->quit;
	if ((e = getenv("IB_AZURE_POLL_MS")) != NULL)
		cfg.poll_ms = strtoll(e, NULL, 10);
	az = azure_new(&cfg);
	if (azure_login(az) == -1 || azure_images_list(az, CLOUD_FLEET_KEY,
	    CLOUD_FLEET_VALUE, CLOUD_CREATED_KEY, &ims, &n) == -1) {
		log_warnx("azure %s: %s", t->where, azure_error(az));
		t->errors++;
		goto cleanup;
	}
	for (i = 0; i < n && !*o->quit; i++) {
		if (!prune_name_ok(o, ims[i].name))
			continue;
		t->seen++;
		if (ims[i].created == NULL || !prune_expired(o, ims[i].created))
			continue;
		t->expired++;
		if (prune_may(r))
			delete_image(r, az, t, &ims[i]);
	}
	rv = 0;
cleanup:
	azure_images_free(ims, n);
	azure_free(az);
	azure_creds_clear(&creds);
	return rv;
}
