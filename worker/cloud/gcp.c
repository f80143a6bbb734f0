/*
 * Google Cloud: the client, its names, and its calls: every call retries
 * on no answer, 429 and 5xx with backoff, and stops when the abort flag
 * rises. Service-account keys and JWTs are gcp_auth.c, storage gcs.c,
 * Compute Engine gce.c.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "backoff.h"
#include "cloud.h"
#include "gcp.h"
#include "gcp_priv.h"
#include "http.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"



int
gcp_bucket_ok(const char *b)
{
	size_t	 n;

	if (b == NULL || (n = strlen(b)) < 3 || n > 222)
		return 0;
	for (; *b; b++)
		if (!(islower((unsigned char)*b) || isdigit((unsigned char)*b) ||
		    *b == '-' || *b == '_' || *b == '.'))
			return 0;
	return 1;
}

int
gcp_object_ok(const char *o)
{
	const char	*seg, *p;
	size_t		 n;

	if (o == NULL || *o == '\0' || strlen(o) > 1024)
		return 0;
	for (p = o; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return 0;
	for (seg = o; ; seg = p + 1) {
		p = strchr(seg, '/');
		n = p != NULL ? (size_t)(p - seg) : strlen(seg);
		if ((n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return 0;
		if (p == NULL)
			break;
	}
	return 1;
}

int
gcp_image_name_ok(const char *s)
{
	size_t	 n, i;

	if (s == NULL || (n = strlen(s)) == 0 || n > 63 || !islower(
	    (unsigned char)s[0]) || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!(islower((unsigned char)s[i]) ||
		    isdigit((unsigned char)s[i]) || s[i] == '-'))
			return 0;
	return 1;
}

int
gcp_member_ok(const char *m)
{
	static const char *const prefixes[] = { "user:", "serviceAccount:",
	    "group:", "domain:" };
	size_t	 i, n;

	if (!gcp_printable(m, 512) || strchr(m, ' ') != NULL)
		return 0;
	for (i = 0; i < nitems(prefixes); i++) {
		n = strlen(prefixes[i]);
		if (strncmp(m, prefixes[i], n) == 0 && m[n] != '\0')
			return 1;
	}
	return 0;
}

static int	login(void *);

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

struct gcp *
gcp_new(const struct gcp_cfg *c)
{
	struct gcp		*g;
	struct http_opts	 ho;

	g = xcalloc(1, sizeof(*g));
	g->key.client_email = dup_or_null(c->key->client_email);
	g->key.private_key = dup_or_null(c->key->private_key);
	g->key.token_uri = dup_or_null(c->key->token_uri);
	g->key.project_id = dup_or_null(c->key->project_id);
	memset(&ho, 0, sizeof(ho));
	ho.connect_timeout = c->connect_timeout;
	ho.transfer_timeout = 120;
	ho.max_body = 4 * 1024 * 1024;
	g->http = http_new(&ho);
	g->token_url = xstrdup(cloud_env_or("IB_GCP_TOKEN_URL",
	    g->key.token_uri));
	g->storage_url = xstrdup(cloud_env_or("IB_GCP_STORAGE_URL",
	    GCS_DEFAULT));
	g->compute_url = xstrdup(cloud_env_or("IB_GCP_COMPUTE_URL",
	    GCE_DEFAULT));
	g->chunk = c->chunk_size > 0 ? c->chunk_size : CHUNK_DEFAULT;
	/* GCS wants every chunk but the last to be a multiple of 256 KiB. */
	g->chunk = (g->chunk + CHUNK_QUANTUM - 1) / CHUNK_QUANTUM *
	    CHUNK_QUANTUM;
	g->cl.tries = c->tries > 0 ? c->tries : 6;
	g->cl.backoff_cap = c->backoff_cap > 0 ? c->backoff_cap : 20000;
	g->poll_ms = c->poll_ms > 0 ? c->poll_ms : 2000;
	g->op_timeout = c->op_timeout > 0 ? c->op_timeout : 3 * 3600;
	g->cl.abort = c->abort;
	g->cl.name = "gcp";
	g->cl.http = g->http;
	g->cl.login = login;
	g->cl.set_error = gcp_set_error;
	g->cl.arg = g;
	g->cl.ok_also = 308;
	g->cl.retries = &g->stats.retries;
	return g;
}

void
gcp_free(struct gcp *g)
{
	if (g == NULL)
		return;
	gcp_key_clear(&g->key);
	http_free(g->http);
	free(g->token_url);
	free(g->storage_url);
	free(g->compute_url);
	cloud_client_clear(&g->cl);
	free(g);
}

const char *
gcp_error(const struct gcp *g)
{
	return g->cl.err;
}

int
gcp_aborted(const struct gcp *g)
{
	return g->cl.aborted;
}

void
gcp_set_abort(struct gcp *g, const atomic_int *abort)
{
	g->cl.abort = abort;
	g->cl.aborted = 0;
}

const char *
gcp_project(const struct gcp *g)
{
	return g->key.project_id;
}

const struct gcp_stats *
gcp_stats(const struct gcp *g)
{
	return &g->stats;
}

/* "what: the cloud's message" from a Google JSON error answer. */
void
gcp_set_error(void *arg, const char *what, const struct http_resp *r)
{
	struct gcp	*g = arg;
	json_object	*doc = NULL, *e;
	const char	*msg = NULL, *status = NULL;
	char		 body[300];

	if (r->status == 0) {
		snprintf(g->cl.err, sizeof(g->cl.err), "%s: %s", what, r->error);
		return;
	}
	if (r->body.len > 0)
		doc = json_tokener_parse(r->body.data);
	if (doc != NULL && json_object_object_get_ex(doc, "error", &e)) {
		if (json_object_is_type(e, json_type_object)) {
			msg = json_get_str(e, "message");
			status = json_get_str(e, "status");
		} else if (json_object_is_type(e, json_type_string)) {
			/* OAuth: {"error":"invalid_grant","error_description"} */
			status = json_object_get_string(e);
			msg = json_get_str(doc, "error_description");
		}
	}
	if (msg != NULL || status != NULL) {
		cloud_clean_copy(body, sizeof(body), msg ? msg : "", 280);
		snprintf(g->cl.err, sizeof(g->cl.err), "%s: HTTP %ld %s: %s", what,
		    r->status, status ? status : "", body);
	} else {
		cloud_clean_copy(body, sizeof(body), r->body.len ? r->body.data
		    : "",
		    200);
		snprintf(g->cl.err, sizeof(g->cl.err), "%s: HTTP %ld %s", what,
		    r->status, body);
	}
	json_object_put(doc);
}


int
gcp_call(struct gcp *g, const struct gcall *c, struct http_resp *resp)
{
	struct http_req		 req;

	memset(&req, 0, sizeof(req));
	req.method = c->method;
	req.url = c->url;
	req.headers = c->headers;
	req.content_type = c->content_type;
	if (c->file != NULL) {
		req.body_path = c->file;
		req.body_off = c->off;
		req.body_size = c->size;
		req.on_upload = c->on_upload;
		req.upload_arg = c->upload_arg;
	} else if (c->body != NULL) {
		req.body = c->body;
		req.body_len = strlen(c->body);
	}
	return cloud_do(&g->cl, c->what, c->auth, c->once ? 1 : 0, &req,
	    resp);
}

static int
login(void *arg)
{
	struct gcp	*g = arg;
	char		*jwt, *form;
	int		 rv;

	if (cloud_token_fresh(&g->cl.token))
		return 0;
	if ((jwt = gcp_jwt_assertion(&g->key, GCP_SCOPE, time(NULL), g->cl.err,
	    sizeof(g->cl.err))) == NULL)
		return -1;
	form = xasprintf("grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3A"
	    "grant-type%%3Ajwt-bearer&assertion=%s", jwt);
	freezero_str(jwt);
	rv = cloud_login(&g->cl, "GCP token request", g->token_url, form);
	freezero_str(form);
	return rv;
}

int
gcp_login(struct gcp *g)
{
	return login(g);
}

int
gcp_logged_in(const struct gcp *g)
{
	return g->cl.token.value != NULL;
}
