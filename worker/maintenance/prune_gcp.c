/*
 * GCP: the images of the service account's project that carry the label
 * CLOUD_FLEET_KEY=CLOUD_FLEET_VALUE (cloud.h), which org.osbuild.gcp puts
 * on what it imports. An image without it is not the fleet's and is never
 * touched (the reference's clean-up deletes every old image of its
 * project; a project may be shared here). Every page is read before the
 * first deletion, so that deleting cannot shift the pages left to read.
 * A GCE image has no snapshot of its own: the snapshots tally stays 0.
 * IB_GCP_POLL_MS tunes the polling of the delete operations (tests).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud.h"
#include "gcp.h"
#include "log.h"
#include "prune.h"
#include "util.h"

#define KEY_MAX		(64 * 1024)
#define PAGE		100
#define IMAGES_MAX	50000	/* the project's quota is far below */

/* The client of the key file's project; NULL (logged) when unusable. */
static struct gcp *
client(const struct prune_opts *o)
{
	struct gcp_key	 key;
	struct gcp_cfg	 cfg;
	struct gcp	*g = NULL;
	const char	*e;
	char		*data, err[512];
	size_t		 len;

	memset(&key, 0, sizeof(key));
	if ((data = read_file(o->gcp_creds_file, KEY_MAX, &len)) == NULL) {
		log_warnx("gcp: %s: %s", o->gcp_creds_file, strerror(errno));
		return NULL;
	}
	if (gcp_key_parse(data, len, &key, err, sizeof(err)) == -1)
		log_warnx("gcp: %s: %s", o->gcp_creds_file, err);
	else if (key.project_id == NULL ||
	    !text_is_printable(key.project_id, 63) ||
	    strpbrk(key.project_id, "/?#%\" ") != NULL)
		log_warnx("gcp: %s: no usable project_id", o->gcp_creds_file);
	else {
		memset(&cfg, 0, sizeof(cfg));
		cfg.key = &key;
		cfg.connect_timeout = 10;
		cfg.abort = o->quit;
		if ((e = getenv("IB_GCP_POLL_MS")) != NULL)
			cfg.poll_ms = strtoll(e, NULL, 10);
		g = gcp_new(&cfg);
	}
	explicit_bzero(data, len);
	free(data);
	gcp_key_clear(&key);
	return g;
}

static void
delete_image(struct prune_run *r, struct gcp *g, struct prune_tally *t,
    const struct gcp_image *im)
{
	if (r->o->dry_run) {
		log_info("gcp %s: would delete %s (created %s)", t->where,
		    im->name, im->created);
		t->images++;
		return;
	}
	if (gcp_image_delete(g, im->name) == -1) {
		log_warnx("gcp %s: %s", t->where, gcp_error(g));
		t->errors++;
		return;
	}
	t->images++;
	log_info("gcp %s: deleted %s (created %s)", t->where, im->name,
	    im->created);
}

int
prune_gcp(struct prune_run *r)
{
	struct prune_tally	*t;
	struct gcp_image	*ims = NULL;
	struct gcp		*g;
	char			*token = NULL;
	size_t			 n = 0, got, i;
	int			 rv = -1;

	if ((g = client(r->o)) == NULL) {
		prune_tally(r, "gcp", "-")->errors++;
		return -1;
	}
	t = prune_tally(r, "gcp", gcp_project(g));
	do {
		ims = xrealloc(ims, (n + PAGE) * sizeof(*ims));
		if (gcp_image_list(g, CLOUD_FLEET_KEY, CLOUD_FLEET_VALUE,
		    &token, ims + n, PAGE, &got) == -1) {
			log_warnx("gcp %s: %s", t->where, gcp_error(g));
			t->errors++;
			goto cleanup;
		}
		n += got;
	} while (token != NULL && n < IMAGES_MAX && !*r->o->quit);
	for (i = 0; i < n && !*r->o->quit; i++) {
		if (!prune_name_ok(r->o, ims[i].name))
			continue;
		t->seen++;
		if (!prune_expired(r->o, ims[i].created))
			continue;
		t->expired++;
		if (prune_may(r))
			delete_image(r, g, t, &ims[i]);
	}
	rv = 0;
cleanup:
	free(token);
	free(ims);
	gcp_free(g);
	return rv;
}
