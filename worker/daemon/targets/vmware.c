/*
 * org.osbuild.vmware: a .vmdk export becomes [DATASTORE] NAME/NAME.vmdk
 * (govc import.vmdk's way), a .ova export the VM NAME (govc import.ova's),
 * NAME being the target's image_name, in the target's datacenter, cluster
 * (its Resources pool), datastore and folder, with the target's vSphere
 * user. As the reference (govc -k), the server's certificate is not
 * verified. The result has no options, as the reference's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "jsonutil.h"
#include "log.h"
#include "targets.h"
#include "targets/common.h"
#include "util.h"
#include "vsphere.h"

static int
ends_with(const char *s, const char *suffix)
{
	size_t	 n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A folder path: names joined by '/'. */
static int
folder_ok(const char *f)
{
	char	*c, *p, *s;
	int	 ok = 1;

	if (f == NULL || *f == '\0')
		return 1;
	c = xstrdup(f);
	for (p = c; ok && (s = strsep(&p, "/")) != NULL;)
		ok = vsphere_name_ok(s);
	free(c);
	return ok;
}

static int
run(const struct target_ctx *ctx, json_object *target,
    const char *export_path, json_object **options, struct target_err *err)
{
	struct vsphere_cfg	 c;
	struct vsphere_place	 place;
	struct vsphere		*v = NULL;
	json_object		*o = NULL;
	const char		*image, *e;
	int			 rv = -1, ova;

	json_object_object_get_ex(target, "options", &o);
	if (o == NULL || !json_object_is_type(o, json_type_object))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "VMware target: no options");
	image = json_get_str(target, "image_name");
	if (ends_with(export_path, ".vmdk"))
		ova = 0;
	else if (ends_with(export_path, ".ova"))
		ova = 1;
	else
		return target_fail(err, JOB_ERR_UPLOAD, "No vmdk or ova "
		    "provided");
	memset(&place, 0, sizeof(place));
	place.datacenter = json_get_str(o, "datacenter");
	place.cluster = json_get_str(o, "cluster");
	place.datastore = json_get_str(o, "datastore");
	place.folder = json_get_str(o, "folder");
	if (!vsphere_name_ok(image) || !vsphere_name_ok(place.datacenter) ||
	    !vsphere_name_ok(place.cluster) ||
	    !vsphere_name_ok(place.datastore) || !folder_ok(place.folder))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "VMware target: the image name, datacenter, cluster and "
		    "datastore must be names of at most 80 printable "
		    "characters without '/', the folder such names joined by "
		    "'/'");
	memset(&c, 0, sizeof(c));
	c.host = json_get_str(o, "host");
	c.username = json_get_str(o, "username");
	c.password = json_get_str(o, "password");
	c.insecure = 1;
	c.connect_timeout = ctx->conf->worker.connect_timeout;
	c.abort = ctx->abort;
	if ((e = getenv("IB_VSPHERE_POLL_MS")) != NULL)
		c.poll_ms = strtoll(e, NULL, 10);
	if (c.username == NULL || c.password == NULL ||
	    !text_is_printable(c.username, 256))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "VMware target: no username or password");
	if ((v = vsphere_new(&c)) == NULL)
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "VMware target: the host must be a host name or address, "
		    "with an optional port");
	log_info("vmware: importing %s into %s/%s as %s", export_path,
	    place.datacenter, place.datastore, image);
	if (vsphere_login(v) == -1 || vsphere_locate(v, &place) == -1 ||
	    (ova ? vsphere_import_ova(v, export_path, image) :
	    vsphere_import_vmdk(v, export_path, image)) == -1) {
		target_fail(err, JOB_ERR_UPLOAD, "importing into vSphere "
		    "failed: %s", vsphere_aborted(v) ? "canceled" :
		    vsphere_error(v));
		goto cleanup;
	}
	log_info("vmware: %s imported", image);
	*options = NULL;
	rv = 0;
cleanup:
	vsphere_set_abort(v, NULL);
	if (vsphere_logout(v) == -1)
		log_warnx("vmware: %s", vsphere_error(v));
	vsphere_free(v);
	return rv;
}

const struct target_kind target_vmware = { "org.osbuild.vmware", run };
