/*
 * The two Oracle Cloud targets, which share their credentials and upload:
 * org.osbuild.oci uploads the QCOW2 export to Object Storage as
 * osbuild-upload-N, imports it as a custom image and deletes the object
 * whatever happened; org.osbuild.oci.objectstorage uploads it and returns
 * a read-only pre-authenticated URL valid for a day. Credentials: [oci]
 * credentials (a TOML file of user, tenancy, region, fingerprint,
 * private_key, bucket, namespace, compartment), each overridden by the
 * target's non-empty option of that name (compartment_id for compartment).
 * IB_OCI_PART_SIZE and IB_OCI_POLL_MS tune the upload and the polling.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "errors.h"
#include "jsonutil.h"
#include "log.h"
#include "oci.h"
#include "targets.h"
#include "targets/common.h"
#include "toml.h"
#include "util.h"

#define OCI_CREDS_MAX	(64 * 1024)
#define PREAUTH_SECONDS	(24 * 3600)

/* The merged settings; strings point into the file's table or target. */
struct oci_params {
	const char	*user, *tenancy, *region, *fingerprint, *private_key;
	const char	*bucket, *ns, *compartment;
	struct toml_value *file;	/* owned */
};

static const char *
pick(json_object *o, const char *key, const struct toml_value *file,
    const char *fkey)
{
	const char		*s = json_get_str(o, key);
	const struct toml_value	*v;

	if (s != NULL && *s)
		return s;
	if (file != NULL && (v = toml_get(file, fkey)) != NULL &&
	    v->kind == TOML_STRING && *v->str)
		return v->str;
	return NULL;
}

static int
load_params(const struct config *conf, json_object *o, struct oci_params *p,
    struct target_err *err)
{
	struct toml_error	 te;
	char			*data;
	size_t			 len = 0;

	memset(p, 0, sizeof(*p));
	if (conf->oci.credentials != NULL) {
		if ((data = read_file(conf->oci.credentials, OCI_CREDS_MAX,
		    &len)) == NULL)
			return target_fail(err, JOB_ERR_INVALID_CONFIG,
			    "OCI target: cannot read the credentials file "
			    "%s: %s", conf->oci.credentials, strerror(errno));
		p->file = toml_parse(data, len, &te);
		explicit_bzero(data, len);
		free(data);
		if (p->file == NULL)
			return target_fail(err, JOB_ERR_INVALID_CONFIG,
			    "OCI target: the credentials file %s is not TOML "
			    "(line %d)", conf->oci.credentials, te.line);
	}
	p->user = pick(o, "user", p->file, "user");
	p->tenancy = pick(o, "tenancy", p->file, "tenancy");
	p->region = pick(o, "region", p->file, "region");
	p->fingerprint = pick(o, "fingerprint", p->file, "fingerprint");
	p->private_key = pick(o, "private_key", p->file, "private_key");
	p->bucket = pick(o, "bucket", p->file, "bucket");
	p->ns = pick(o, "namespace", p->file, "namespace");
	p->compartment = pick(o, "compartment_id", p->file, "compartment");
	if (p->user == NULL || p->tenancy == NULL || p->region == NULL ||
	    p->fingerprint == NULL || p->private_key == NULL)
		return target_fail(err, JOB_ERR_INVALID_CONFIG, "OCI target: "
		    "user, tenancy, region, fingerprint and private_key are "
		    "needed, in the target or in [oci] credentials");
	if (p->bucket == NULL || p->ns == NULL)
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "OCI target: no bucket or namespace, in the target or in "
		    "[oci] credentials");
	if (!oci_name_ok(p->bucket) || !oci_name_ok(p->ns))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "OCI target: the bucket and namespace must be 1-256 of "
		    "A-Z, a-z, 0-9, '.', '_' and '-'");
	return 0;
}

static void
params_clear(struct oci_params *p)
{
	toml_free(p->file);
	memset(p, 0, sizeof(*p));
}

int
oci_check_credentials(const struct config *conf, char *why, size_t len)
{
	static const char *const keys[] = { "user", "tenancy", "region",
	    "fingerprint", "private_key", "bucket", "namespace",
	    "compartment" };
	struct oci_params	 p;
	struct target_err	 err;
	const char		*s;
	size_t			 i, found = 0;
	int			 rv = -1;

	memset(&err, 0, sizeof(err));
	if (conf->oci.credentials == NULL)
		return 0;
	/* Only the file's reading: the targets may give the rest. */
	if (load_params(conf, NULL, &p, &err) == -1 && p.file == NULL) {
		snprintf(why, len, "%s", err.reason);
		goto cleanup;
	}
	for (i = 0; i < nitems(keys); i++)
		if (toml_get(p.file, keys[i]) != NULL)
			found++;
	if (found == 0) {
		snprintf(why, len, "%s holds none of user, tenancy, region, "
		    "fingerprint, private_key, bucket, namespace, compartment",
		    conf->oci.credentials);
		goto cleanup;
	}
	if ((s = pick(NULL, "private_key", p.file, "private_key")) != NULL &&
	    !oci_key_ok(s)) {
		snprintf(why, len, "%s: private_key is not an unencrypted PEM "
		    "RSA private key", conf->oci.credentials);
		goto cleanup;
	}
	if ((s = pick(NULL, "fingerprint", p.file, "fingerprint")) != NULL &&
	    !oci_fingerprint_ok(s)) {
		snprintf(why, len, "%s: fingerprint is not the API key's "
		    "hexadecimal fingerprint", conf->oci.credentials);
		goto cleanup;
	}
	rv = 0;
cleanup:
	json_object_put(err.details);
	params_clear(&p);
	return rv;
}

/* A client for p, or NULL with err filled. */
static struct oci *
client(const struct target_ctx *ctx, const struct oci_params *p,
    struct target_err *err)
{
	struct oci_cfg	 c;
	struct oci	*o;
	const char	*e;
	char		 why[256];

	memset(&c, 0, sizeof(c));
	c.user = p->user;
	c.tenancy = p->tenancy;
	c.region = p->region;
	c.fingerprint = p->fingerprint;
	c.private_key = p->private_key;
	c.connect_timeout = ctx->conf->worker.connect_timeout;
	c.backoff_cap = ctx->conf->worker.backoff_max * 1000;
	c.abort = ctx->abort;
	if ((e = getenv("IB_OCI_PART_SIZE")) != NULL)
		c.part_size = strtoll(e, NULL, 10);
	if ((e = getenv("IB_OCI_POLL_MS")) != NULL)
		c.poll_ms = strtoll(e, NULL, 10);
	if ((o = oci_new(&c, why, sizeof(why))) == NULL)
		target_fail(err, JOB_ERR_INVALID_CONFIG, "OCI target: %s",
		    why);
	return o;
}

/* Uploads the export as a new osbuild-upload-N object; *object owned. */
static int
upload(struct oci *o, const struct oci_params *p, const char *export_path,
    char **object, struct target_err *err)
{
	uint64_t	 n;
	int64_t		 start = now_ms();

	if (RAND_bytes((unsigned char *)&n, sizeof(n)) != 1)
		fatalx("oci: no random bytes");
	*object = xasprintf("osbuild-upload-%llu",
	    (unsigned long long)(n >> 1));
	log_info("oci: uploading %s to %s/%s/%s (region %s)", export_path,
	    p->ns, p->bucket, *object, p->region);
	if (oci_upload(o, p->ns, p->bucket, *object, export_path) == -1)
		return target_fail(err, JOB_ERR_UPLOAD, "%s", oci_aborted(o) ?
		    "the upload was canceled" : oci_error(o));
	log_info("oci: uploaded in %lld ms", (long long)(now_ms() - start));
	return 0;
}

static int
run_image(const struct target_ctx *ctx, json_object *target,
    const char *export_path, json_object **options, struct target_err *err)
{
	struct oci_params p;
	struct oci	*o = NULL;
	json_object	*opts = NULL;
	const char	*image;
	char		*object = NULL, *id = NULL;
	int		 rv = -1;

	json_object_object_get_ex(target, "options", &opts);
	if (opts == NULL || !json_object_is_type(opts, json_type_object))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "OCI target: no options");
	image = json_get_str(target, "image_name");
	if (image == NULL || *image == '\0' || !text_is_printable(image, 255))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "OCI target: the image name must be 1-255 printable "
		    "characters");
	if (load_params(ctx->conf, opts, &p, err) == -1)
		goto cleanup;
	if (p.compartment == NULL || !oci_ocid_ok(p.compartment)) {
		target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG, "OCI target: "
		    "the compartment must be an OCID (compartment_id, or "
		    "compartment in [oci] credentials)");
		goto cleanup;
	}
	if ((o = client(ctx, &p, err)) == NULL ||
	    upload(o, &p, export_path, &object, err) == -1)
		goto cleanup;
	id = oci_create_image(o, p.compartment, p.ns, p.bucket, object, image);
	if (id == NULL)
		target_fail(err, JOB_ERR_UPLOAD, "%s", oci_aborted(o) ?
		    "the image import was canceled" : oci_error(o));
	/* The object is only the import's input: delete it in any case. */
	oci_set_abort(o, NULL);
	if (oci_delete_object(o, p.ns, p.bucket, object) == -1)
		log_warnx("oci: could not delete %s/%s: %s", p.bucket, object,
		    oci_error(o));
	else
		log_info("oci: deleted %s/%s", p.bucket, object);
	if (id == NULL)
		goto cleanup;
	log_info("oci: image %s ready in %s", id, p.region);
	*options = json_object_new_object();
	json_object_object_add(*options, "region",
	    json_object_new_string(p.region));
	json_object_object_add(*options, "image_id",
	    json_object_new_string(id));
	rv = 0;
cleanup:
	oci_free(o);
	params_clear(&p);
	free(object);
	free(id);
	return rv;
}

static int
run_objectstorage(const struct target_ctx *ctx, json_object *target,
    const char *export_path, json_object **options, struct target_err *err)
{
	struct oci_params p;
	struct oci	*o = NULL;
	json_object	*opts = NULL;
	char		*object = NULL, *url = NULL;
	int		 rv = -1;

	json_object_object_get_ex(target, "options", &opts);
	if (opts == NULL || !json_object_is_type(opts, json_type_object))
		return target_fail(err, JOB_ERR_INVALID_TARGET_CONFIG,
		    "OCI target: no options");
	if (load_params(ctx->conf, opts, &p, err) == -1)
		goto cleanup;
	if ((o = client(ctx, &p, err)) == NULL ||
	    upload(o, &p, export_path, &object, err) == -1)
		goto cleanup;
	url = oci_preauth(o, p.ns, p.bucket, object,
	    time(NULL) + PREAUTH_SECONDS);
	if (url == NULL) {
		target_fail(err, JOB_ERR_SIGNED_URL, "%s", oci_aborted(o) ?
		    "canceled" : oci_error(o));
		goto cleanup;
	}
	/* The URL grants access: it goes to the composer, not the log. */
	log_info("oci: %s/%s uploaded, pre-authenticated request made",
	    p.bucket, object);
	*options = json_object_new_object();
	json_object_object_add(*options, "url", json_object_new_string(url));
	rv = 0;
cleanup:
	oci_free(o);
	params_clear(&p);
	free(object);
	if (url != NULL)
		freezero_str(url);
	return rv;
}

const struct target_kind target_oci = { "org.osbuild.oci", run_image };
const struct target_kind target_oci_objectstorage = {
	"org.osbuild.oci.objectstorage", run_objectstorage };
