/*
 * Compute Engine: an image imported from a GCS object, its operation
 * polled to the end, and sharing it with the members a target names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cloud.h"
#include "gcp.h"
#include "gcp_priv.h"
#include "http.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"

static void
op_error(struct gcp *g, const char *doing, const char *name, json_object *op)
{
	json_object	*e, *errs, *it;
	struct buf	 b;
	size_t		 i;
	char		 clean[sizeof(g->cl.err)];

	buf_init(&b);
	if (json_object_object_get_ex(op, "error", &e) &&
	    json_object_object_get_ex(e, "errors", &errs) &&
	    json_object_is_type(errs, json_type_array)) {
		for (i = 0; i < json_object_array_length(errs) && i < 4; i++) {
			it = json_object_array_get_idx(errs, i);
			buf_printf(&b, "%s%s: %s", i ? "; " : "",
			    json_get_str(it, "code") ?
			    json_get_str(it, "code") : "?",
			    json_get_str(it, "message") ?
			    json_get_str(it, "message") : "");
		}
	}
	if (b.len == 0 && json_get_str(op, "httpErrorMessage") != NULL)
		buf_addstr(&b, json_get_str(op, "httpErrorMessage"));
	cloud_clean_copy(clean, sizeof(clean), b.len ? b.data
	    : "no reason given",
	    700);
	snprintf(g->cl.err, sizeof(g->cl.err), "%s image %.63s failed: %.900s",
	    doing, name, clean);
	buf_free(&b);
}

/*
 * Follows the operation resp holds (the answer of the call that started
 * it) to its end: 0 when it ended without an error, else -1 with what
 * the operation says ("doing image NAME failed: ...").
 */
static int
op_wait(struct gcp *g, const char *doing, const char *name,
    struct http_resp *resp)
{
	struct gcall		 c;
	json_object		*op = NULL, *e;
	const char		*status, *opname;
	char			*eop, *opurl = NULL, label[256];
	int64_t			 deadline;
	int			 rv = -1;

	deadline = now_ms() + g->op_timeout * 1000;
	for (;;) {
		json_object_put(op);
		if ((op = json_tokener_parse(resp->body.data)) == NULL ||
		    (status = json_get_str(op, "status")) == NULL ||
		    (opname = json_get_str(op, "name")) == NULL) {
			snprintf(g->cl.err, sizeof(g->cl.err), "GCE %s image: "
			    "the answer is not an operation", doing);
			goto cleanup;
		}
		if (strcmp(status, "DONE") == 0)
			break;
		snprintf(label, sizeof(label), "%s image %.63s (operation "
		    "%.100s)", doing, name, opname);
		if (cloud_poll_pause(&g->cl, label, deadline, g->op_timeout,
		    g->poll_ms, &g->stats.polls) == -1)
			goto cleanup;
		if (opurl == NULL) {
			if (!gcp_printable(opname, 200) || strchr(opname, '/') ||
			    strchr(opname, '?')) {
				snprintf(g->cl.err, sizeof(g->cl.err), "GCE "
				    "%s image: unusable operation name", doing);
				goto cleanup;
			}
			eop = http_escape(opname);
			opurl = xasprintf("%s/compute/v1/projects/%s/global/"
			    "operations/%s", g->compute_url, g->key.project_id,
			    eop);
			free(eop);
		}
		memset(&c, 0, sizeof(c));
		c.what = "GCE operation";
		c.method = "GET";
		c.url = opurl;
		c.auth = 1;
		if (gcp_call(g, &c, resp) == -1)
			goto cleanup;
	}
	if (json_object_object_get_ex(op, "error", &e) ||
	    (json_object_object_get_ex(op, "httpErrorStatusCode", &e) &&
	    json_object_get_int(e) != 0)) {
		op_error(g, doing, name, op);
		goto cleanup;
	}
	rv = 0;
cleanup:
	json_object_put(op);
	free(opurl);
	return rv;
}

int
gcp_image_insert(struct gcp *g, const char *name, const char *bucket,
    const char *object, const char *region, const char *const *features,
    const char *const *labels)
{
	struct http_resp	 resp;
	struct gcall		 c;
	json_object		*img, *raw, *arr, *f;
	char			*url = NULL;
	int			 rv = -1;

	img = json_object_new_object();
	json_object_object_add(img, "name", json_object_new_string(name));
	raw = json_object_new_object();
	url = xasprintf("%s/%s/%s", GCS_SOURCE_BASE, bucket, object);
	json_object_object_add(raw, "source", json_object_new_string(url));
	free(url);
	json_object_object_add(raw, "containerType",
	    json_object_new_string("TAR"));
	json_object_object_add(img, "rawDisk", raw);
	if (region != NULL && *region) {
		arr = json_object_new_array();
		json_object_array_add(arr, json_object_new_string(region));
		json_object_object_add(img, "storageLocations", arr);
	}
	if (features != NULL && *features != NULL) {
		arr = json_object_new_array();
		for (; *features; features++) {
			f = json_object_new_object();
			json_object_object_add(f, "type",
			    json_object_new_string(*features));
			json_object_array_add(arr, f);
		}
		json_object_object_add(img, "guestOsFeatures", arr);
	}
	if (labels != NULL && *labels != NULL) {
		f = json_object_new_object();
		for (; labels[0] != NULL && labels[1] != NULL; labels += 2)
			json_object_object_add(f, labels[0],
			    json_object_new_string(labels[1]));
		json_object_object_add(img, "labels", f);
	}
	url = xasprintf("%s/compute/v1/projects/%s/global/images",
	    g->compute_url, g->key.project_id);
	memset(&c, 0, sizeof(c));
	c.what = "GCE images.insert";
	c.method = "POST";
	c.url = url;
	c.body = json_object_to_json_string_ext(img, JSON_C_TO_STRING_PLAIN);
	c.content_type = "application/json";
	c.auth = 1;
	http_resp_init(&resp);
	if (gcp_call(g, &c, &resp) == -1)
		goto cleanup;
	if (op_wait(g, "importing", name, &resp) == -1)
		goto cleanup;
	rv = 0;
cleanup:
	json_object_put(img);
	http_resp_free(&resp);
	free(url);
	return rv;
}

/*
 * Adds the members to the policy's unconditional imageUser binding (made
 * when missing); every other binding stays as it was. Returns how many
 * members were added.
 */
static int
policy_add(json_object *policy, const char *const *members)
{
	json_object	*bindings, *b, *ms = NULL, *cond;
	const char	*role;
	size_t		 i, j;
	int		 added = 0, found;

	if (!json_object_object_get_ex(policy, "bindings", &bindings) ||
	    !json_object_is_type(bindings, json_type_array)) {
		bindings = json_object_new_array();
		json_object_object_add(policy, "bindings", bindings);
	}
	for (i = 0; i < json_object_array_length(bindings); i++) {
		b = json_object_array_get_idx(bindings, i);
		role = json_get_str(b, "role");
		if (role != NULL && strcmp(role, IMAGE_USER_ROLE) == 0 &&
		    !json_object_object_get_ex(b, "condition", &cond) &&
		    json_object_object_get_ex(b, "members", &ms) &&
		    json_object_is_type(ms, json_type_array))
			break;
		ms = NULL;
	}
	if (ms == NULL) {
		b = json_object_new_object();
		json_object_object_add(b, "role",
		    json_object_new_string(IMAGE_USER_ROLE));
		ms = json_object_new_array();
		json_object_object_add(b, "members", ms);
		json_object_array_add(bindings, b);
	}
	for (; *members; members++) {
		found = 0;
		for (j = 0; j < json_object_array_length(ms); j++)
			if (strcmp(json_object_get_string(
			    json_object_array_get_idx(ms, j)), *members) == 0)
				found = 1;
		if (!found) {
			json_object_array_add(ms,
			    json_object_new_string(*members));
			added++;
		}
	}
	return added;
}

int
gcp_image_share(struct gcp *g, const char *name, const char *const *members)
{
	struct http_resp	 resp;
	struct gcall		 c;
	json_object		*policy = NULL, *req;
	char			*base, *url, *en;
	int			 attempt, rv = -1;

	en = http_escape(name);
	base = xasprintf("%s/compute/v1/projects/%s/global/images/%s",
	    g->compute_url, g->key.project_id, en);
	free(en);
	http_resp_init(&resp);
	/* setIamPolicy with a stale etag fails with 409/412: read again. */
	for (attempt = 1; attempt <= 5; attempt++) {
		url = xasprintf("%s/getIamPolicy", base);
		memset(&c, 0, sizeof(c));
		c.what = "GCE getIamPolicy";
		c.method = "GET";
		c.url = url;
		c.auth = 1;
		rv = gcp_call(g, &c, &resp);
		free(url);
		if (rv == -1)
			break;
		rv = -1;
		json_object_put(policy);
		if ((policy = json_tokener_parse(resp.body.data)) == NULL ||
		    !json_object_is_type(policy, json_type_object)) {
			snprintf(g->cl.err, sizeof(g->cl.err), "GCE getIamPolicy: "
			    "the answer is not a policy");
			break;
		}
		if (policy_add(policy, members) == 0) {
			rv = 0;		/* everyone is there already */
			break;
		}
		req = json_object_new_object();
		json_object_object_add(req, "policy", json_object_get(policy));
		url = xasprintf("%s/setIamPolicy", base);
		memset(&c, 0, sizeof(c));
		c.what = "GCE setIamPolicy";
		c.method = "POST";
		c.url = url;
		c.body = json_object_to_json_string_ext(req,
		    JSON_C_TO_STRING_PLAIN);
		c.content_type = "application/json";
		c.auth = 1;
		rv = gcp_call(g, &c, &resp);
		json_object_put(req);
		free(url);
		if (rv == 0 || (resp.status != 409 && resp.status != 412))
			break;
		log_info("gcp: the policy of %s changed meanwhile; reading it "
		    "again", name);
	}
	json_object_put(policy);
	http_resp_free(&resp);
	free(base);
	return rv;
}

int
gcp_image_delete(struct gcp *g, const char *name)
{
	struct http_resp	 resp;
	struct gcall		 c;
	char			*url, *en;
	int			 rv = -1;

	en = http_escape(name);
	url = xasprintf("%s/compute/v1/projects/%s/global/images/%s",
	    g->compute_url, g->key.project_id, en);
	free(en);
	memset(&c, 0, sizeof(c));
	c.what = "GCE images.delete";
	c.method = "DELETE";
	c.url = url;
	c.auth = 1;
	http_resp_init(&resp);
	if (gcp_call(g, &c, &resp) == 0 &&
	    op_wait(g, "deleting", name, &resp) == 0)
		rv = 0;
	http_resp_free(&resp);
	free(url);
	return rv;
}

/* 1 when the image's labels hold key=value. */
static int
labelled(json_object *img, const char *key, const char *value)
{
	json_object	*l;
	const char	*v;

	return json_object_object_get_ex(img, "labels", &l) &&
	    (v = json_get_str(l, key)) != NULL && strcmp(v, value) == 0;
}

int
gcp_image_list(struct gcp *g, const char *key, const char *value,
    char **token, struct gcp_image *out, size_t max, size_t *n)
{
	struct http_resp	 resp;
	struct gcall		 c;
	json_object		*doc = NULL, *items, *it;
	const char		*name, *created, *next;
	char			*url, *filter, *ef, *et = NULL;
	size_t			 i;
	int			 rv = -1;

	*n = 0;
	filter = xasprintf("labels.%s=%s", key, value);
	ef = http_escape(filter);
	if (*token != NULL)
		et = http_escape(*token);
	url = xasprintf("%s/compute/v1/projects/%s/global/images?filter=%s&"
	    "maxResults=%zu%s%s", g->compute_url, g->key.project_id, ef, max,
	    et ? "&pageToken=" : "", et ? et : "");
	free(filter);
	free(ef);
	free(et);
	free(*token);
	*token = NULL;
	memset(&c, 0, sizeof(c));
	c.what = "GCE images.list";
	c.method = "GET";
	c.url = url;
	c.auth = 1;
	http_resp_init(&resp);
	if (gcp_call(g, &c, &resp) == -1)
		goto cleanup;
	if ((doc = json_tokener_parse(resp.body.data)) == NULL ||
	    !json_object_is_type(doc, json_type_object)) {
		snprintf(g->cl.err, sizeof(g->cl.err), "GCE images.list: the "
		    "answer is not a list");
		goto cleanup;
	}
	items = json_get_arr(doc, "items");
	for (i = 0; items != NULL && i < json_object_array_length(items) &&
	    *n < max; i++) {
		it = json_object_array_get_idx(items, i);
		name = json_get_str(it, "name");
		created = json_get_str(it, "creationTimestamp");
		/* The filter is the server's: the mark is checked here too. */
		if (!labelled(it, key, value) || !gcp_image_name_ok(name) ||
		    created == NULL || !gcp_printable(created, 40))
			continue;
		snprintf(out[*n].name, sizeof(out[*n].name), "%s", name);
		snprintf(out[*n].created, sizeof(out[*n].created), "%s",
		    created);
		(*n)++;
	}
	next = json_get_str(doc, "nextPageToken");
	if (next != NULL && *next != '\0') {
		if (!gcp_printable(next, 1024)) {
			snprintf(g->cl.err, sizeof(g->cl.err), "GCE "
			    "images.list: unusable nextPageToken");
			goto cleanup;
		}
		*token = xstrdup(next);
	}
	rv = 0;
cleanup:
	json_object_put(doc);
	http_resp_free(&resp);
	free(url);
	return rv;
}
