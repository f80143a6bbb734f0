/*
 * EC2's Query API: Action=...&Version=2016-11-15 as a signed form POST.
 * The body is in memory, so its real SHA-256 goes in x-amz-content-sha256
 * (libcurl 7.88 does not add the header). Errors come back as
 * <Response><Errors><Error><Code/><Message/></Error></Errors>.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "ec2.h"
#include "http.h"
#include "log.h"
#include "util.h"
#include "xml.h"

#define EC2_VERSION	"2016-11-15"
#define EC2_MAX_BODY	(4 * 1024 * 1024)

struct ec2 {
	struct http		*http;
	char			*url;
	char			*region;
	char			*sigv4;
	struct aws_creds	 creds;
	int			 tries;
	int			 limit_tries;
	int64_t			 backoff_base;
	int64_t			 backoff_cap;
	const atomic_int	*abort;
	char			 err[1024];
	char			 code[64];
	int			 aborted;
};

const char *
ec2_error(const struct ec2 *e)
{
	return e->err;
}

const char *
ec2_error_code(const struct ec2 *e)
{
	return e->code;
}

int
ec2_aborted(const struct ec2 *e)
{
	return e->aborted;
}

void
ec2_set_abort(struct ec2 *e, const atomic_int *abort)
{
	e->abort = abort;
}

struct ec2 *
ec2_new(const struct ec2_cfg *c, char *err, size_t errlen)
{
	struct http_opts	 ho;
	struct ec2		*e;
	const char		*ep = c->endpoint;
	size_t			 n;

	if (!aws_region_ok(c->region)) {
		snprintf(err, errlen, "EC2: missing or invalid region");
		return NULL;
	}
	if (c->creds == NULL || c->creds->access_key == NULL ||
	    c->creds->secret_key == NULL) {
		snprintf(err, errlen, "EC2: no credentials");
		return NULL;
	}
	e = xcalloc(1, sizeof(*e));
	if (ep != NULL && *ep != '\0') {
		e->url = strstr(ep, "://") ? xstrdup(ep) :
		    xasprintf("https://%s", ep);
		n = strlen(e->url);
		if (n > 0 && e->url[n - 1] != '/') {
			char	*u = xasprintf("%s/", e->url);

			free(e->url);
			e->url = u;
		}
	} else
		e->url = xasprintf("https://ec2.%s.amazonaws.com/", c->region);
	e->region = xstrdup(c->region);
	e->sigv4 = xasprintf("aws:amz:%s:ec2", c->region);
	aws_creds_copy(&e->creds, c->creds);
	e->tries = c->tries > 0 ? c->tries : 8;
	e->limit_tries = c->limit_tries > 0 ? c->limit_tries : 60;
	e->backoff_base = c->backoff_base > 0 ? c->backoff_base : 1000;
	e->backoff_cap = c->backoff_cap > 0 ? c->backoff_cap : 60000;
	if (e->backoff_cap < e->backoff_base)
		e->backoff_cap = e->backoff_base;
	e->abort = c->abort;
	memset(&ho, 0, sizeof(ho));
	ho.ca_bundle = c->ca_bundle;
	ho.transfer_timeout = 120;
	ho.max_body = EC2_MAX_BODY;
	e->http = http_new(&ho);
	return e;
}

void
ec2_free(struct ec2 *e)
{
	if (e == NULL)
		return;
	http_free(e->http);
	free(e->url);
	free(e->region);
	free(e->sigv4);
	aws_creds_clear(&e->creds);
	free(e);
}

static int
throttled(const char *code)
{
	return strcmp(code, "RequestLimitExceeded") == 0 ||
	    strcmp(code, "Throttling") == 0 ||
	    strcmp(code, "ThrottlingException") == 0 ||
	    strcmp(code, "InternalError") == 0 ||
	    strcmp(code, "InternalFailure") == 0 ||
	    strcmp(code, "ServiceUnavailable") == 0 ||
	    strcmp(code, "Unavailable") == 0;
}

char *
ec2_call(struct ec2 *e, const char *action, const char *const *params,
    size_t *lenp)
{
	struct http_resp	 resp;
	struct backoff		 bo;
	struct buf		 body;
	const char *const	*p;
	char			 msg[700], *out = NULL;
	int			 try = 0, limit_try = 0, retry;

	e->err[0] = e->code[0] = '\0';
	e->aborted = 0;
	buf_init(&body);
	buf_printf(&body, "Action=%s&Version=%s", action, EC2_VERSION);
	for (p = params; p != NULL && p[0] != NULL; p += 2)
		aws_query_add(&body, p[0], p[1]);
	http_resp_init(&resp);
	backoff_init(&bo, e->backoff_base, e->backoff_cap);

	for (;;) {
		e->code[0] = '\0';
		if (aws_query_do(e->http, e->url, e->sigv4, &e->creds, &body,
		    120, e->abort, &resp) == -1) {
			if (resp.aborted) {
				e->aborted = 1;
				snprintf(e->err, sizeof(e->err), "%s: canceled",
				    action);
				break;
			}
			snprintf(e->err, sizeof(e->err), "%s: %s", action,
			    resp.error);
		} else if (resp.status == 200) {
			out = xstrndup(resp.body.data, resp.body.len);
			if (lenp != NULL)
				*lenp = resp.body.len;
			break;
		} else if (xml_error(resp.body.data, resp.body.len, msg,
		    sizeof(msg), e->code, sizeof(e->code)) == 0)
			snprintf(e->err, sizeof(e->err), "%s: %s", action, msg);
		else
			snprintf(e->err, sizeof(e->err), "%s: HTTP %ld", action,
			    resp.status);
		if (strcmp(e->code, "ResourceLimitExceeded") == 0)
			retry = ++limit_try < e->limit_tries;
		else
			retry = ++try < e->tries && (resp.status == 0 ||
			    resp.status >= 500 || throttled(e->code));
		if (!retry)
			break;
		log_info("ec2: %s; retrying", e->err);
		if (sleep_abortable(backoff_next(&bo), e->abort) == -1) {
			e->aborted = 1;
			snprintf(e->err, sizeof(e->err), "%s: canceled", action);
			break;
		}
	}
	http_resp_free(&resp);
	buf_free(&body);
	return out;
}

/* Runs action and returns the text of element name in the answer. */
static char *
call_get(struct ec2 *e, const char *action, const char *const *params,
    const char *name)
{
	char	*x, *v;
	size_t	 len = 0;

	if ((x = ec2_call(e, action, params, &len)) == NULL)
		return NULL;
	v = xml_find(x, len, name);
	if (v == NULL || *v == '\0') {
		snprintf(e->err, sizeof(e->err), "%s: no %s in the answer",
		    action, name);
		free(v);
		v = NULL;
	}
	free(x);
	return v;
}

static int
call_ok(struct ec2 *e, const char *action, const char *const *params)
{
	char	*x;

	if ((x = ec2_call(e, action, params, NULL)) == NULL)
		return -1;
	free(x);
	return 0;
}

int
ec2_id_ok(const char *prefix, const char *id)
{
	size_t	 n = strlen(prefix), i;

	if (id == NULL || strncmp(id, prefix, n) != 0 || id[n] != '-' ||
	    strlen(id) > n + 1 + 64 || id[n + 1] == '\0')
		return 0;
	for (i = n + 1; id[i]; i++)
		if (!isalnum((unsigned char)id[i]))
			return 0;
	return 1;
}

int
ec2_account_ok(const char *a)
{
	size_t	 i;

	if (a == NULL || strlen(a) != 12)
		return 0;
	for (i = 0; i < 12; i++)
		if (!isdigit((unsigned char)a[i]))
			return 0;
	return 1;
}

int
ec2_import_snapshot(struct ec2 *e, const char *bucket, const char *key,
    const char *format, const char *desc, char **task)
{
	const char *const p[] = {
		"Description", desc,
		"DiskContainer.Description", desc,
		"DiskContainer.Format", format,
		"DiskContainer.UserBucket.S3Bucket", bucket,
		"DiskContainer.UserBucket.S3Key", key,
		NULL
	};

	*task = call_get(e, "ImportSnapshot", p, "importTaskId");
	return *task != NULL ? 0 : -1;
}

void
ec2_import_clear(struct ec2_import *i)
{
	free(i->status);
	free(i->message);
	free(i->progress);
	free(i->snapshot);
	memset(i, 0, sizeof(*i));
}

int
ec2_describe_import(struct ec2 *e, const char *task, struct ec2_import *out)
{
	const char *const p[] = { "ImportTaskId.1", task, NULL };
	char	*x;
	size_t	 len = 0;

	memset(out, 0, sizeof(*out));
	if ((x = ec2_call(e, "DescribeImportSnapshotTasks", p, &len)) == NULL)
		return -1;
	out->status = xml_find(x, len, "status");
	out->message = xml_find(x, len, "statusMessage");
	out->progress = xml_find(x, len, "progress");
	out->snapshot = xml_find(x, len, "snapshotId");
	free(x);
	if (out->status == NULL) {
		snprintf(e->err, sizeof(e->err), "DescribeImportSnapshotTasks: "
		    "task %s not found in the answer", task);
		ec2_import_clear(out);
		return -1;
	}
	return 0;
}

int
ec2_create_tags(struct ec2 *e, const char *resource, const char *const *tags)
{
	const char	**p;
	char		**names;
	size_t		 n, i, k = 0;
	int		 rv;

	for (n = 0; tags[2 * n] != NULL; n++)
		;
	p = xcalloc(2 + 4 * n + 1, sizeof(*p));
	names = xcalloc(2 * n + 1, sizeof(*names));
	p[k++] = "ResourceId.1";
	p[k++] = resource;
	for (i = 0; i < n; i++) {
		names[2 * i] = xasprintf("Tag.%zu.Key", i + 1);
		names[2 * i + 1] = xasprintf("Tag.%zu.Value", i + 1);
		p[k++] = names[2 * i];
		p[k++] = tags[2 * i];
		p[k++] = names[2 * i + 1];
		p[k++] = tags[2 * i + 1];
	}
	p[k] = NULL;
	rv = call_ok(e, "CreateTags", p);
	for (i = 0; i < 2 * n; i++)
		free(names[i]);
	free(names);
	free(p);
	return rv;
}

int
ec2_register_image(struct ec2 *e, const char *name, const char *snapshot,
    const char *arch, const char *boot_mode, char **ami)
{
	const char *const p[] = {
		"Name", name,
		"Architecture", arch,
		"VirtualizationType", "hvm",
		"RootDeviceName", "/dev/sda1",
		"EnaSupport", "true",
		"BlockDeviceMapping.1.DeviceName", "/dev/sda1",
		"BlockDeviceMapping.1.Ebs.SnapshotId", snapshot,
		"BlockDeviceMapping.1.Ebs.DeleteOnTermination", "true",
		"BlockDeviceMapping.1.Ebs.VolumeType", "gp3",
		boot_mode ? "BootMode" : NULL, boot_mode,
		NULL
	};

	*ami = call_get(e, "RegisterImage", p, "imageId");
	return *ami != NULL ? 0 : -1;
}

static int
share(struct ec2 *e, const char *action, const char *idname, const char *id,
    const char *fmt, const char *const *accounts)
{
	const char	**p;
	char		**names;
	size_t		 n, i, k = 0;
	int		 rv;

	for (n = 0; accounts[n] != NULL; n++)
		;
	if (n == 0)
		return 0;
	p = xcalloc(2 * n + 5, sizeof(*p));
	names = xcalloc(n + 1, sizeof(*names));
	p[k++] = idname;
	p[k++] = id;
	for (i = 0; i < n; i++) {
		names[i] = xasprintf(fmt, i + 1);
		p[k++] = names[i];
		p[k++] = accounts[i];
	}
	p[k] = NULL;
	rv = call_ok(e, action, p);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(p);
	return rv;
}

int
ec2_share_snapshot(struct ec2 *e, const char *snapshot,
    const char *const *accounts)
{
	return share(e, "ModifySnapshotAttribute", "SnapshotId", snapshot,
	    "CreateVolumePermission.Add.%zu.UserId", accounts);
}

int
ec2_share_image(struct ec2 *e, const char *ami, const char *const *accounts)
{
	return share(e, "ModifyImageAttribute", "ImageId", ami,
	    "LaunchPermission.Add.%zu.UserId", accounts);
}

int
ec2_copy_image(struct ec2 *e, const char *src_region, const char *src_ami,
    const char *name, char **ami)
{
	const char *const p[] = {
		"SourceRegion", src_region,
		"SourceImageId", src_ami,
		"Name", name,
		NULL
	};

	*ami = call_get(e, "CopyImage", p, "imageId");
	return *ami != NULL ? 0 : -1;
}

int
ec2_image_state(struct ec2 *e, const char *ami, char **state, char **reason)
{
	const char *const p[] = { "ImageId.1", ami, NULL };
	char	*x;
	size_t	 len = 0;

	*state = *reason = NULL;
	if ((x = ec2_call(e, "DescribeImages", p, &len)) == NULL)
		return -1;
	*state = xml_find(x, len, "imageState");
	*reason = xml_find(x, len, "message");
	free(x);
	if (*state == NULL) {
		snprintf(e->err, sizeof(e->err), "DescribeImages: image %s "
		    "not found", ami);
		free(*reason);
		*reason = NULL;
		return -1;
	}
	return 0;
}

int
ec2_deregister_image(struct ec2 *e, const char *ami)
{
	const char *const p[] = { "ImageId", ami, NULL };

	return call_ok(e, "DeregisterImage", p);
}

int
ec2_delete_snapshot(struct ec2 *e, const char *snapshot)
{
	const char *const p[] = { "SnapshotId", snapshot, NULL };

	return call_ok(e, "DeleteSnapshot", p);
}

/*
 * The next <item>...</item> of [p, end) at the level where p stands (items
 * nest: tagSet and blockDeviceMapping hold their own), as [*s, *e).
 * Element text is escaped, so "<item>" cannot come from a value.
 */
static int
next_item(const char *p, const char *end, const char **s, const char **e)
{
	const char	*q;
	int		 depth = 0;

	if ((q = memmem(p, end - p, "<item>", 6)) == NULL)
		return -1;
	*s = q;
	while (q < end) {
		if (end - q >= 6 && memcmp(q, "<item>", 6) == 0) {
			depth++;
			q += 6;
		} else if (end - q >= 7 && memcmp(q, "</item>", 7) == 0) {
			q += 7;
			if (--depth == 0) {
				*e = q;
				return 0;
			}
		} else
			q++;
	}
	return -1;
}

/* The inside of the first <name>...</name> of [p, end), as [*s, *e). */
static int
element_span(const char *p, const char *end, const char *name,
    const char **s, const char **e)
{
	char		 open[64], close[64];
	const char	*a, *b;
	int		 on, cn;

	on = snprintf(open, sizeof(open), "<%s>", name);
	cn = snprintf(close, sizeof(close), "</%s>", name);
	if ((a = memmem(p, end - p, open, on)) == NULL)
		return -1;
	a += on;
	/* The first closing tag: no set holds a set of its own name. */
	if ((b = memmem(a, end - a, close, cn)) == NULL)
		return -1;
	*s = a;
	*e = b;
	return 0;
}

/* The image's tag named key, from its tagSet; NULL when absent. */
static char *
item_tag(const char *s, const char *e, const char *key)
{
	const char	*ts, *te, *is, *ie;
	char		*k, *v = NULL;

	if (element_span(s, e, "tagSet", &ts, &te) == -1)
		return NULL;
	while (next_item(ts, te, &is, &ie) == 0) {
		k = xml_find(is, ie - is, "key");
		if (k != NULL && strcmp(k, key) == 0)
			v = xml_find(is, ie - is, "value");
		free(k);
		if (v != NULL)
			return v;
		ts = ie;
	}
	return NULL;
}

static char **
item_snapshots(const char *s, const char *e)
{
	const char	*bs, *be, *is, *ie;
	char		**out = xcalloc(1, sizeof(*out)), *id;
	size_t		 n = 0;

	if (element_span(s, e, "blockDeviceMapping", &bs, &be) == -1)
		return out;
	while (next_item(bs, be, &is, &ie) == 0) {
		id = xml_find(is, ie - is, "snapshotId");
		if (id != NULL && ec2_id_ok("snap", id)) {
			out = xrealloc(out, (n + 2) * sizeof(*out));
			out[n++] = id;
			out[n] = NULL;
		} else
			free(id);
		bs = ie;
	}
	return out;
}

/* Only the item's own fields: what precedes its first nested set. */
static char *
item_field(const char *s, const char *e, const char *name)
{
	const char	*cut = e, *q;
	const char *const sets[] = { "<blockDeviceMapping>", "<tagSet>",
	    "<productCodes>", "<stateReason>", NULL };
	size_t		 i;

	for (i = 0; sets[i] != NULL; i++)
		if ((q = memmem(s, e - s, sets[i], strlen(sets[i]))) != NULL &&
		    q < cut)
			cut = q;
	if (cut != e) {
		struct buf	 b;
		char		*v;

		/* Close the cut item so that it parses. */
		buf_init(&b);
		buf_add(&b, s, cut - s);
		buf_add(&b, "</item>", 7);
		v = xml_find(b.data, b.len, name);
		buf_free(&b);
		return v;
	}
	return xml_find(s, e - s, name);
}

void
ec2_images_free(struct ec2_image *im, size_t n)
{
	size_t	 i, j;

	for (i = 0; im != NULL && i < n; i++) {
		free(im[i].id);
		free(im[i].name);
		free(im[i].created);
		free(im[i].tag);
		for (j = 0; im[i].snapshots && im[i].snapshots[j]; j++)
			free(im[i].snapshots[j]);
		free(im[i].snapshots);
	}
	free(im);
}

int
ec2_own_images(struct ec2 *e, const char *tag_key, struct ec2_image **images,
    size_t *np)
{
	struct ec2_image	*im = NULL, *one;
	const char		*p[11], *ss, *se, *is, *ie;
	char			*x = NULL, *token = NULL;
	size_t			 len, n = 0, k;
	int			 rv = -1;

	do {
		k = 0;
		p[k++] = "Owner.1";
		p[k++] = "self";
		p[k++] = "Filter.1.Name";
		p[k++] = "tag-key";
		p[k++] = "Filter.1.Value.1";
		p[k++] = tag_key;
		p[k++] = "MaxResults";
		p[k++] = "1000";
		if (token != NULL) {
			p[k++] = "NextToken";
			p[k++] = token;
		}
		p[k] = NULL;
		len = 0;
		if ((x = ec2_call(e, "DescribeImages", p, &len)) == NULL)
			goto cleanup;
		free(token);
		token = xml_find(x, len, "nextToken");
		if (token != NULL && *token == '\0') {
			free(token);
			token = NULL;
		}
		if (element_span(x, x + len, "imagesSet", &ss, &se) == 0) {
			while (next_item(ss, se, &is, &ie) == 0) {
				ss = ie;
				im = xrealloc(im, (n + 1) * sizeof(*im));
				one = &im[n];
				memset(one, 0, sizeof(*one));
				one->id = item_field(is, ie, "imageId");
				if (one->id == NULL || !ec2_id_ok("ami",
				    one->id)) {
					free(one->id);
					continue;
				}
				one->name = item_field(is, ie, "name");
				one->created = item_field(is, ie,
				    "creationDate");
				one->tag = item_tag(is, ie, tag_key);
				one->snapshots = item_snapshots(is, ie);
				n++;
			}
		}
		free(x);
		x = NULL;
	} while (token != NULL);
	*images = im;
	*np = n;
	im = NULL;
	n = 0;
	rv = 0;
cleanup:
	ec2_images_free(im, n);
	free(token);
	free(x);
	return rv;
}

int
ec2_regions(struct ec2 *e, char ***regions)
{
	const char *const p[] = { NULL };
	const char	*ss, *se, *is, *ie;
	char		**out, *x, *name;
	size_t		 len = 0, n = 0;

	if ((x = ec2_call(e, "DescribeRegions", p, &len)) == NULL)
		return -1;
	out = xcalloc(1, sizeof(*out));
	if (element_span(x, x + len, "regionInfo", &ss, &se) == 0) {
		while (next_item(ss, se, &is, &ie) == 0) {
			ss = ie;
			name = xml_find(is, ie - is, "regionName");
			if (name == NULL || !aws_region_ok(name)) {
				free(name);
				continue;
			}
			out = xrealloc(out, (n + 2) * sizeof(*out));
			out[n++] = name;
			out[n] = NULL;
		}
	}
	free(x);
	*regions = out;
	return 0;
}
