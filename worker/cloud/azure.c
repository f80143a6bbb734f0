/*
 * Azure: the client, its Azure AD tokens, and Resource Manager calls with
 * their long-running operations. SharedKey signing is azure_sharedkey.c,
 * the blob service (page-blob uploads) azure_blob.c.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>

#include "azure.h"
#include "azure_priv.h"
#include "backoff.h"
#include "cloud.h"
#include "http.h"
#include "jsonutil.h"
#include "log.h"
#include "toml.h"
#include "util.h"
#include "xml.h"

#define LOGIN_DEFAULT	"https://login.microsoftonline.com"
#define ARM_DEFAULT	"https://management.azure.com"
#define ARM_SCOPE	"https://management.azure.com/.default"
#define API_RESOURCES	"2021-04-01"
#define API_STORAGE	"2023-01-01"
#define API_COMPUTE	"2023-09-01"
#define CREDS_MAX	(64 * 1024)


void
azure_creds_clear(struct azure_creds *c)
{
	if (c == NULL)
		return;
	free(c->client_id);
	freezero_str(c->client_secret);
	memset(c, 0, sizeof(*c));
}

int
azure_creds_from_file(const char *path, struct azure_creds *c, char *err,
    size_t errlen)
{
	struct toml_value	*root;
	struct toml_error	 te;
	const struct toml_value	*id, *secret;
	char			*data;
	size_t			 len;

	memset(c, 0, sizeof(*c));
	if ((data = read_file(path, CREDS_MAX, &len)) == NULL) {
		snprintf(err, errlen, "Azure credentials %s: %s", path,
		    strerror(errno));
		return -1;
	}
	root = toml_parse(data, len, &te);
	explicit_bzero(data, len);
	free(data);
	if (root == NULL) {
		/* The parser's message may quote the line: say where only. */
		snprintf(err, errlen, "Azure credentials %s: not TOML (line "
		    "%d)", path, te.line);
		return -1;
	}
	id = toml_get(root, "client_id");
	secret = toml_get(root, "client_secret");
	if (id == NULL || id->kind != TOML_STRING || *id->str == '\0' ||
	    secret == NULL || secret->kind != TOML_STRING ||
	    *secret->str == '\0') {
		snprintf(err, errlen, "Azure credentials %s: client_id and "
		    "client_secret must be non-empty strings", path);
		if (secret != NULL && secret->kind == TOML_STRING)
			explicit_bzero(secret->str, strlen(secret->str));
		toml_free(root);
		return -1;
	}
	c->client_id = xstrdup(id->str);
	c->client_secret = xstrdup(secret->str);
	explicit_bzero(secret->str, strlen(secret->str));
	toml_free(root);
	return 0;
}

int
azure_account_ok(const char *s)
{
	size_t	 n;

	if (s == NULL || (n = strlen(s)) < 3 || n > 24)
		return 0;
	for (; *s; s++)
		if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s))
			return 0;
	return 1;
}

int
azure_blob_ok(const char *s)
{
	const char	*seg, *p;
	size_t		 n;

	if (s == NULL || *s == '\0' || strlen(s) > 1024)
		return 0;
	for (p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
			return 0;
	for (seg = s; ; seg = p + 1) {
		p = strchr(seg, '/');
		n = p ? (size_t)(p - seg) : strlen(seg);
		if (n == 0 || (n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return 0;
		if (p == NULL)
			return 1;
	}
}

int
azure_arm_name_ok(const char *s)
{
	size_t	 n;

	if (s == NULL || (n = strlen(s)) == 0 || n > 90 ||
	    strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '/' ||
		    *s == '?' || *s == '#' || *s == '%' || *s == '\\' ||
		    *s == ' ' || *s == '&')
			return 0;
	return 1;
}

/* ---- the client ---- */

static int	login(void *);

struct azure *
azure_new(const struct azure_cfg *c)
{
	struct azure		*az;
	struct http_opts	 ho;

	az = xcalloc(1, sizeof(*az));
	memset(&ho, 0, sizeof(ho));
	ho.connect_timeout = c->connect_timeout;
	ho.transfer_timeout = 120;
	ho.max_body = 4 * 1024 * 1024;
	az->http = http_new(&ho);
	az->login_url = xstrdup(cloud_env_or("IB_AZURE_LOGIN_URL",
	    LOGIN_DEFAULT));
	az->arm_url = xstrdup(cloud_env_or("IB_AZURE_ARM_URL", ARM_DEFAULT));
	az->tenant = xstrdup(c->tenant ? c->tenant : "");
	az->sub = xstrdup(c->subscription ? c->subscription : "");
	if (c->creds != NULL) {
		az->creds.client_id = xstrdup(c->creds->client_id);
		az->creds.client_secret = xstrdup(c->creds->client_secret);
	}
	az->connect_timeout = c->connect_timeout > 0 ? c->connect_timeout : 30;
	az->threads = c->threads > 0 ? c->threads : 16;
	if (az->threads > 64)
		az->threads = 64;
	az->cl.tries = c->tries > 0 ? c->tries : 6;
	az->cl.backoff_cap = c->backoff_cap > 0 ? c->backoff_cap : 20000;
	az->poll_ms = c->poll_ms > 0 ? c->poll_ms : 2000;
	az->op_timeout = c->op_timeout > 0 ? c->op_timeout : 3600;
	az->cl.abort = c->abort;
	az->cl.name = "azure";
	az->cl.http = az->http;
	az->cl.login = login;
	az->cl.set_error = azure_set_error;
	az->cl.arg = az;
	az->cl.retries = &az->stats.retries;
	return az;
}

void
azure_free(struct azure *az)
{
	if (az == NULL)
		return;
	http_free(az->http);
	free(az->login_url);
	free(az->arm_url);
	free(az->tenant);
	free(az->sub);
	azure_creds_clear(&az->creds);
	cloud_client_clear(&az->cl);
	free(az->account);
	freezero_str(az->key);
	free(az->origin);
	free(az->prefix);
	free(az);
}

const char *
azure_error(const struct azure *az)
{
	return az->cl.err;
}

int
azure_aborted(const struct azure *az)
{
	return az->cl.aborted;
}

const struct azure_stats *
azure_stats(const struct azure *az)
{
	return &az->stats;
}

/* The cloud's message: ARM/AAD JSON, or the storage XML <Error>. */
void
azure_set_error(void *arg, const char *what, const struct http_resp *r)
{
	struct azure	*az = arg;
	json_object	*doc = NULL, *e;
	const char	*code = NULL, *msg = NULL;
	char		 xmsg[600], clean[700];

	if (r->status == 0) {
		snprintf(az->cl.err, sizeof(az->cl.err), "%s: %s", what, r->error);
		return;
	}
	if (r->body.len > 0 && r->body.data[0] == '{')
		doc = json_tokener_parse(r->body.data);
	if (doc != NULL && json_object_object_get_ex(doc, "error", &e)) {
		if (json_object_is_type(e, json_type_object)) {
			code = json_get_str(e, "code");
			msg = json_get_str(e, "message");
		} else {
			code = json_object_get_string(e);
			msg = json_get_str(doc, "error_description");
		}
	}
	if (code != NULL || msg != NULL) {
		cloud_clean_copy(clean, sizeof(clean), msg ? msg : "", 600);
		snprintf(az->cl.err, sizeof(az->cl.err), "%s: HTTP %ld %s: %s", what,
		    r->status, code ? code : "", clean);
	} else if (r->body.len > 0 && xml_error(r->body.data, r->body.len,
	    xmsg, sizeof(xmsg), NULL, 0) == 0) {
		cloud_clean_copy(clean, sizeof(clean), xmsg, 600);
		snprintf(az->cl.err, sizeof(az->cl.err), "%s: HTTP %ld %s", what,
		    r->status, clean);
	} else {
		cloud_clean_copy(clean, sizeof(clean), r->body.len
		    ? r->body.data :
		    "", 200);
		snprintf(az->cl.err, sizeof(az->cl.err), "%s: HTTP %ld %s", what,
		    r->status, clean);
	}
	json_object_put(doc);
}

/* An ARM or AAD call with retries (cloud_do): 0 on 2xx, -1 with az->cl.err. */
static int
acall(struct azure *az, const char *what, const char *method,
    const char *url, const char *body, const char *ctype, int auth,
    struct http_resp *resp)
{
	struct http_req		 req;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.content_type = ctype;
	if (body != NULL) {
		req.body = body;
		req.body_len = strlen(body);
	}
	return cloud_do(&az->cl, what, auth, 0, &req, resp);
}

static int
login(void *arg)
{
	struct azure	*az = arg;
	char		*url, *form, *id, *secret, *scope, *et;
	int		 rv;

	if (cloud_token_fresh(&az->cl.token))
		return 0;
	et = http_escape(az->tenant);
	url = xasprintf("%s/%s/oauth2/v2.0/token", az->login_url, et);
	free(et);
	id = http_escape(az->creds.client_id);
	secret = http_escape(az->creds.client_secret);
	scope = http_escape(ARM_SCOPE);
	form = xasprintf("grant_type=client_credentials&client_id=%s&"
	    "client_secret=%s&scope=%s", id, secret, scope);
	freezero_str(secret);
	free(id);
	free(scope);
	rv = cloud_login(&az->cl, "Azure AD token request", url, form);
	freezero_str(form);
	free(url);
	return rv;
}

int
azure_login(struct azure *az)
{
	return login(az);
}

/* Polls are only followed to ARM itself: the token goes nowhere else. */
static int
arm_url_ok(const struct azure *az, const char *u)
{
	size_t	 n = strlen(az->arm_url);

	return strncmp(u, az->arm_url, n) == 0 && (u[n] == '/' ||
	    u[n] == '\0') && strpbrk(u, " \r\n") == NULL;
}

static int
terminal(const char *s, int *ok)
{
	if (s == NULL)
		return 0;
	if (strcasecmp(s, "Succeeded") == 0) {
		*ok = 1;
		return 1;
	}
	if (strcasecmp(s, "Failed") == 0 || strcasecmp(s, "Canceled") == 0) {
		*ok = 0;
		return 1;
	}
	return 0;
}

static void
op_failed(struct azure *az, const char *what, json_object *doc)
{
	json_object	*e = NULL, *p;
	char		 clean[700];

	if (!json_object_object_get_ex(doc, "error", &e) &&
	    json_object_object_get_ex(doc, "properties", &p))
		json_object_object_get_ex(p, "error", &e);
	cloud_clean_copy(clean, sizeof(clean), json_get_str(e, "message") ?
	    json_get_str(e, "message") : "no reason given", 600);
	snprintf(az->cl.err, sizeof(az->cl.err), "%s failed: %s: %s", what,
	    json_get_str(e, "code") ? json_get_str(e, "code") : "Failed",
	    clean);
}

/*
 * Follows a long-running ARM operation started by the answer in resp:
 * Azure-AsyncOperation, else Location, else the resource's
 * provisioningState at url. 0 when it succeeded.
 */
static int
arm_wait(struct azure *az, const char *what, const char *url,
    struct http_resp *resp)
{
	json_object	*doc = NULL, *p = NULL;
	char		*async, *loc, *poll = NULL;
	int		 ok = 0, mode, rv = -1;
	int64_t		 deadline = now_ms() + az->op_timeout * 1000, wait;

	async = http_resp_header(resp, "Azure-AsyncOperation");
	loc = http_resp_header(resp, "Location");
	if (async != NULL && arm_url_ok(az, async)) {
		mode = 1;
		poll = async;
		async = NULL;
	} else if (loc != NULL && resp->status == 202 && arm_url_ok(az, loc)) {
		mode = 2;
		poll = loc;
		loc = NULL;
	} else {
		mode = 3;
		poll = xstrdup(url);
		doc = json_tokener_parse(resp->body.data);
		if (doc == NULL || !json_object_object_get_ex(doc, "properties",
		    &p) || json_get_str(p, "provisioningState") == NULL ||
		    terminal(json_get_str(p, "provisioningState"), &ok)) {
			rv = (doc == NULL || ok ||
			    json_get_str(p, "provisioningState") == NULL) ?
			    0 : -1;
			if (rv == -1)
				op_failed(az, what, doc);
			goto cleanup;
		}
	}
	for (;;) {
		wait = http_retry_after(resp, az->poll_ms, 60000);
		if (wait < az->poll_ms)
			wait = az->poll_ms;
		if (cloud_poll_pause(&az->cl, what, deadline, az->op_timeout,
		    wait, &az->stats.polls) == -1)
			goto cleanup;
		if (acall(az, what, "GET", poll, NULL, NULL, 1, resp) == -1)
			goto cleanup;
		if (mode == 2) {
			if (resp->status == 202)
				continue;
			rv = 0;
			goto cleanup;
		}
		json_object_put(doc);
		if ((doc = json_tokener_parse(resp->body.data)) == NULL) {
			snprintf(az->cl.err, sizeof(az->cl.err), "%s: the operation's "
			    "status is not JSON", what);
			goto cleanup;
		}
		if (mode == 1 ? terminal(json_get_str(doc, "status"), &ok) :
		    (json_object_object_get_ex(doc, "properties", &p) &&
		    terminal(json_get_str(p, "provisioningState"), &ok))) {
			if (!ok)
				op_failed(az, what, doc);
			rv = ok ? 0 : -1;
			goto cleanup;
		}
	}
cleanup:
	json_object_put(doc);
	free(async);
	free(loc);
	free(poll);
	return rv;
}

int
azure_rg_location(struct azure *az, const char *rg, char **loc)
{
	struct http_resp	 resp;
	json_object		*doc = NULL;
	char			*url;
	int			 rv = -1;

	*loc = NULL;
	url = xasprintf("%s/subscriptions/%s/resourcegroups/%s?api-version=%s",
	    az->arm_url, az->sub, rg, API_RESOURCES);
	http_resp_init(&resp);
	if (acall(az, "reading the resource group", "GET", url, NULL, NULL, 1,
	    &resp) == -1)
		goto cleanup;
	if ((doc = json_tokener_parse(resp.body.data)) == NULL ||
	    !azure_arm_name_ok(json_get_str(doc, "location"))) {
		snprintf(az->cl.err, sizeof(az->cl.err), "reading the resource group: "
		    "no location in the answer");
		goto cleanup;
	}
	*loc = xstrdup(json_get_str(doc, "location"));
	rv = 0;
cleanup:
	json_object_put(doc);
	http_resp_free(&resp);
	free(url);
	return rv;
}

int
azure_find_account(struct azure *az, const char *rg, const char *tag,
    const char *value, char **account)
{
	struct http_resp	 resp;
	json_object		*doc = NULL, *arr, *it;
	char			*filter, *ef, *url = NULL;
	const char		*type;
	size_t			 i;
	int			 rv = -1;

	*account = NULL;
	filter = xasprintf("tagName eq '%s' and tagValue eq '%s'", tag, value);
	ef = http_escape(filter);
	free(filter);
	url = xasprintf("%s/subscriptions/%s/resourceGroups/%s/resources?"
	    "$filter=%s&api-version=%s", az->arm_url, az->sub, rg, ef,
	    API_RESOURCES);
	free(ef);
	http_resp_init(&resp);
	if (acall(az, "searching for a storage account", "GET", url, NULL, NULL,
	    1, &resp) == -1)
		goto cleanup;
	if ((doc = json_tokener_parse(resp.body.data)) == NULL ||
	    !json_object_object_get_ex(doc, "value", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		snprintf(az->cl.err, sizeof(az->cl.err), "searching for a storage "
		    "account: the answer has no list");
		goto cleanup;
	}
	for (i = 0; i < json_object_array_length(arr); i++) {
		it = json_object_array_get_idx(arr, i);
		type = json_get_str(it, "type");
		if (type != NULL && strcasecmp(type,
		    "Microsoft.Storage/storageAccounts") == 0 &&
		    azure_account_ok(json_get_str(it, "name"))) {
			*account = xstrdup(json_get_str(it, "name"));
			break;
		}
	}
	rv = 0;
cleanup:
	json_object_put(doc);
	http_resp_free(&resp);
	free(url);
	return rv;
}

int
azure_create_account(struct azure *az, const char *rg, const char *account,
    const char *location, const char *tag, const char *value)
{
	struct http_resp	 resp;
	json_object		*body, *o;
	char			*url;
	int			 rv = -1;

	body = json_object_new_object();
	o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(
	    "Standard_LRS"));
	json_object_object_add(body, "sku", o);
	json_object_object_add(body, "kind", json_object_new_string(
	    "StorageV2"));
	json_object_object_add(body, "location",
	    json_object_new_string(location));
	o = json_object_new_object();
	json_object_object_add(o, tag, json_object_new_string(value));
	json_object_object_add(body, "tags", o);
	o = json_object_new_object();
	json_object_object_add(o, "minimumTlsVersion",
	    json_object_new_string("TLS1_2"));
	json_object_object_add(o, "allowBlobPublicAccess",
	    json_object_new_boolean(0));
	json_object_object_add(body, "properties", o);
	url = xasprintf("%s/subscriptions/%s/resourceGroups/%s/providers/"
	    "Microsoft.Storage/storageAccounts/%s?api-version=%s", az->arm_url,
	    az->sub, rg, account, API_STORAGE);
	http_resp_init(&resp);
	if (acall(az, "creating the storage account", "PUT", url,
	    json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN),
	    "application/json", 1, &resp) == -1)
		goto cleanup;
	rv = arm_wait(az, "creating the storage account", url, &resp);
cleanup:
	json_object_put(body);
	http_resp_free(&resp);
	free(url);
	return rv;
}

/* Splits a blob endpoint URL into origin and path prefix. */
static int
set_endpoint(struct azure *az, const char *ep)
{
	const char	*p, *slash;
	size_t		 n;

	if ((strncmp(ep, "https://", 8) != 0 && strncmp(ep, "http://", 7) !=
	    0) || strpbrk(ep, " \r\n?#") != NULL)
		return -1;
	p = strstr(ep, "://") + 3;
	slash = strchr(p, '/');
	free(az->origin);
	free(az->prefix);
	az->origin = slash ? xstrndup(ep, slash - ep) : xstrdup(ep);
	az->prefix = xstrdup(slash ? slash : "");
	n = strlen(az->prefix);
	while (n > 0 && az->prefix[n - 1] == '/')
		az->prefix[--n] = '\0';
	return 0;
}

int
azure_use_account(struct azure *az, const char *rg, const char *account)
{
	struct http_resp	 resp;
	json_object		*doc = NULL, *p, *e, *keys, *k;
	char			*url = NULL, *ep = NULL;
	const char		*blob = NULL;
	size_t			 i;
	int			 rv = -1;

	http_resp_init(&resp);
	url = xasprintf("%s/subscriptions/%s/resourceGroups/%s/providers/"
	    "Microsoft.Storage/storageAccounts/%s?api-version=%s", az->arm_url,
	    az->sub, rg, account, API_STORAGE);
	if (acall(az, "reading the storage account", "GET", url, NULL, NULL, 1,
	    &resp) == -1)
		goto cleanup;
	if ((doc = json_tokener_parse(resp.body.data)) != NULL &&
	    json_object_object_get_ex(doc, "properties", &p) &&
	    json_object_object_get_ex(p, "primaryEndpoints", &e))
		blob = json_get_str(e, "blob");
	ep = blob != NULL ? xstrdup(blob) :
	    xasprintf("https://%s.blob.core.windows.net/", account);
	if (set_endpoint(az, ep) == -1) {
		snprintf(az->cl.err, sizeof(az->cl.err), "the storage account's blob "
		    "endpoint is not a plain http(s) URL");
		goto cleanup;
	}
	free(url);
	url = xasprintf("%s/subscriptions/%s/resourceGroups/%s/providers/"
	    "Microsoft.Storage/storageAccounts/%s/listKeys?api-version=%s",
	    az->arm_url, az->sub, rg, account, API_STORAGE);
	if (acall(az, "retrieving the storage account key", "POST", url, "",
	    "application/json", 1, &resp) == -1)
		goto cleanup;
	json_object_put(doc);
	freezero_str(az->key);
	az->key = NULL;
	if ((doc = json_tokener_parse(resp.body.data)) != NULL &&
	    json_object_object_get_ex(doc, "keys", &keys) &&
	    json_object_is_type(keys, json_type_array)) {
		for (i = 0; i < json_object_array_length(keys); i++) {
			k = json_object_array_get_idx(keys, i);
			if (json_get_str(k, "value") != NULL && (json_get_str(k,
			    "permissions")
			    == NULL || strcasecmp(json_get_str(k,
			    "permissions"),
			    "FULL") == 0)) {
				az->key = xstrdup(json_get_str(k, "value"));
				break;
			}
		}
	}
	if (az->key == NULL) {
		snprintf(az->cl.err, sizeof(az->cl.err), "retrieving the storage "
		    "account key: no usable key in the answer");
		goto cleanup;
	}
	free(az->account);
	az->account = xstrdup(account);
	rv = 0;
cleanup:
	if (resp.body.data != NULL)
		explicit_bzero(resp.body.data, resp.body.cap);
	json_object_put(doc);
	http_resp_free(&resp);
	free(url);
	free(ep);
	return rv;
}

int
azure_use_key(struct azure *az, const char *account, const char *key)
{
	const char	*base;
	char		*raw, *ep;
	size_t		 len;
	int		 rv;

	if (!azure_account_ok(account)) {
		snprintf(az->cl.err, sizeof(az->cl.err), "the storage account "
		    "name must be 3-24 lower-case letters and digits");
		return -1;
	}
	if (key == NULL || *key == '\0' || strlen(key) > 1024 ||
	    (raw = base64_decode(key, &len)) == NULL) {
		snprintf(az->cl.err, sizeof(az->cl.err), "cannot create shared "
		    "key credential: the storage access key is not base64");
		return -1;
	}
	explicit_bzero(raw, len);
	free(raw);
	/* Path-style under IB_AZURE_BLOB_URL (azurite), else Azure's own. */
	if ((base = getenv("IB_AZURE_BLOB_URL")) != NULL && *base)
		ep = xasprintf("%s/%s", base, account);
	else
		ep = xasprintf("https://%s.blob.core.windows.net", account);
	rv = set_endpoint(az, ep);
	free(ep);
	if (rv == -1) {
		snprintf(az->cl.err, sizeof(az->cl.err), "the blob endpoint is "
		    "not a plain http(s) URL");
		return -1;
	}
	free(az->account);
	az->account = xstrdup(account);
	freezero_str(az->key);
	az->key = xstrdup(key);
	return 0;
}

int
azure_image_create(struct azure *az, const char *rg, const char *name,
    const char *location, const char *blob_url, const char *hyperv,
    const char *const *tags)
{
	struct http_resp	 resp;
	json_object		*body, *props, *sp, *disk, *t;
	char			*url;
	int			 rv = -1;

	body = json_object_new_object();
	json_object_object_add(body, "location",
	    json_object_new_string(location));
	if (tags != NULL && *tags != NULL) {
		t = json_object_new_object();
		for (; tags[0] != NULL && tags[1] != NULL; tags += 2)
			json_object_object_add(t, tags[0],
			    json_object_new_string(tags[1]));
		json_object_object_add(body, "tags", t);
	}
	props = json_object_new_object();
	json_object_object_add(props, "hyperVGeneration",
	    json_object_new_string(hyperv));
	sp = json_object_new_object();
	disk = json_object_new_object();
	json_object_object_add(disk, "osType", json_object_new_string("Linux"));
	json_object_object_add(disk, "osState",
	    json_object_new_string("Generalized"));
	json_object_object_add(disk, "blobUri",
	    json_object_new_string(blob_url));
	json_object_object_add(sp, "osDisk", disk);
	json_object_object_add(props, "storageProfile", sp);
	json_object_object_add(body, "properties", props);
	url = xasprintf("%s/subscriptions/%s/resourceGroups/%s/providers/"
	    "Microsoft.Compute/images/%s?api-version=%s", az->arm_url, az->sub,
	    rg, name, API_COMPUTE);
	http_resp_init(&resp);
	if (acall(az, "registering the image", "PUT", url,
	    json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE), "application/json", 1,
	    &resp) == -1)
		goto cleanup;
	rv = arm_wait(az, "registering the image", url, &resp);
cleanup:
	json_object_put(body);
	http_resp_free(&resp);
	free(url);
	return rv;
}

/* ---- the retention clean-up ---- */

void
azure_images_free(struct azure_image *v, size_t n)
{
	size_t	 i;

	for (i = 0; v != NULL && i < n; i++) {
		free(v[i].name);
		free(v[i].rg);
		free(v[i].created);
		free(v[i].blob_uri);
	}
	free(v);
}

/* The resource group of an ARM id ".../resourceGroups/RG/...", or NULL. */
static char *
id_rg(const char *id)
{
	const char	*p, *e;
	char		*rg;

	if (id == NULL || (p = strcasestr(id, "/resourceGroups/")) == NULL)
		return NULL;
	p += strlen("/resourceGroups/");
	if ((e = strchr(p, '/')) == NULL)
		return NULL;
	rg = xstrndup(p, e - p);
	if (!azure_arm_name_ok(rg)) {
		free(rg);
		return NULL;
	}
	return rg;
}

/* Adds the images of one page that carry tag=value to *out. */
static void
images_take(json_object *doc, const char *tag, const char *value,
    const char *created_tag, struct azure_image **out, size_t *n)
{
	json_object	*arr, *it, *tags, *p, *sp, *disk;
	const char	*name, *v, *c, *uri;
	struct azure_image *im;
	size_t		 i;

	if ((arr = json_get_arr(doc, "value")) == NULL)
		return;
	for (i = 0; i < json_object_array_length(arr) &&
	    *n < AZURE_IMAGES_MAX; i++) {
		it = json_object_array_get_idx(arr, i);
		name = json_get_str(it, "name");
		if (!json_object_object_get_ex(it, "tags", &tags) ||
		    (v = json_get_str(tags, tag)) == NULL ||
		    strcmp(v, value) != 0 || !azure_arm_name_ok(name))
			continue;
		*out = xrealloc(*out, (*n + 1) * sizeof(**out));
		im = &(*out)[*n];
		memset(im, 0, sizeof(*im));
		if ((im->rg = id_rg(json_get_str(it, "id"))) == NULL)
			continue;
		im->name = xstrdup(name);
		c = json_get_str(tags, created_tag);
		if (c != NULL && text_is_printable(c, 40))
			im->created = xstrdup(c);
		uri = NULL;
		if (json_object_object_get_ex(it, "properties", &p) &&
		    json_object_object_get_ex(p, "storageProfile", &sp) &&
		    json_object_object_get_ex(sp, "osDisk", &disk))
			uri = json_get_str(disk, "blobUri");
		if (uri != NULL && text_is_printable(uri, 2048) &&
		    strpbrk(uri, " ?#") == NULL)
			im->blob_uri = xstrdup(uri);
		(*n)++;
	}
}

int
azure_images_list(struct azure *az, const char *tag, const char *value,
    const char *created_tag, struct azure_image **out, size_t *n)
{
	struct http_resp	 resp;
	json_object		*doc = NULL;
	const char		*next;
	char			*url;
	int			 pages, rv = -1;

	*out = NULL;
	*n = 0;
	url = xasprintf("%s/subscriptions/%s/providers/Microsoft.Compute/"
	    "images?api-version=%s", az->arm_url, az->sub, API_COMPUTE);
	http_resp_init(&resp);
	for (pages = 0; pages < 1000; pages++) {
		if (acall(az, "listing the images", "GET", url, NULL, NULL, 1,
		    &resp) == -1)
			goto cleanup;
		json_object_put(doc);
		if ((doc = json_tokener_parse(resp.body.data)) == NULL ||
		    !json_object_is_type(doc, json_type_object)) {
			snprintf(az->cl.err, sizeof(az->cl.err), "listing the "
			    "images: the answer is not JSON");
			goto cleanup;
		}
		images_take(doc, tag, value, created_tag, out, n);
		next = json_get_str(doc, "nextLink");
		if (next == NULL || *next == '\0')
			break;
		/* The token goes to ARM only. */
		if (!arm_url_ok(az, next)) {
			snprintf(az->cl.err, sizeof(az->cl.err), "listing the "
			    "images: nextLink is not on Resource Manager");
			goto cleanup;
		}
		free(url);
		url = xstrdup(next);
	}
	rv = 0;
cleanup:
	if (rv == -1) {
		azure_images_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	json_object_put(doc);
	http_resp_free(&resp);
	free(url);
	return rv;
}

int
azure_image_delete(struct azure *az, const char *rg, const char *name)
{
	struct http_resp	 resp;
	char			*url;
	int			 rv = -1;

	url = xasprintf("%s/subscriptions/%s/resourceGroups/%s/providers/"
	    "Microsoft.Compute/images/%s?api-version=%s", az->arm_url, az->sub,
	    rg, name, API_COMPUTE);
	http_resp_init(&resp);
	if (acall(az, "deleting the image", "DELETE", url, NULL, NULL, 1,
	    &resp) == 0)
		rv = arm_wait(az, "deleting the image", url, &resp);
	http_resp_free(&resp);
	free(url);
	return rv;
}

char *
azure_blob_account(const char *uri)
{
	const char	*host, *end, *dot;
	char		*a;

	if (uri == NULL || (host = strstr(uri, "://")) == NULL)
		return NULL;
	host += 3;
	if ((end = strchr(host, '/')) == NULL)
		return NULL;
	dot = memchr(host, '.', end - host);
	if (dot != NULL && strncmp(dot, ".blob.", 6) == 0)
		a = xstrndup(host, dot - host);
	else {
		/* Path-style: the first segment (azurite, Azure Stack). */
		host = end + 1;
		end = strchr(host, '/');
		a = end ? xstrndup(host, end - host) : xstrdup(host);
	}
	if (!azure_account_ok(a)) {
		free(a);
		return NULL;
	}
	return a;
}

int
azure_blob_delete(struct azure *az, const char *uri)
{
	struct http_req		 req;
	struct http_resp	 resp;
	const char		*hdr[4], *path;
	char			*base, *sts = NULL, *sig = NULL, *auth = NULL;
	char			 date[64], dateh[96];
	size_t			 n;
	time_t			 t = time(NULL);
	struct tm		 tm;
	int			 rv = -1;

	base = xasprintf("%s%s/", az->origin, az->prefix);
	n = strlen(base);
	if (strncmp(uri, base, n) != 0 || !azure_blob_ok(uri + n) ||
	    strpbrk(uri + n, "?#% ") != NULL) {
		snprintf(az->cl.err, sizeof(az->cl.err), "the image's blob is "
		    "not in storage account %s", az->account);
		free(base);
		return -1;
	}
	path = uri + strlen(az->origin);
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(dateh, sizeof(dateh), "x-ms-date: %s", date);
	hdr[0] = dateh;
	hdr[1] = "x-ms-version: " AZURE_STORAGE_VERSION;
	hdr[2] = NULL;
	sts = azure_sharedkey_string("DELETE", az->account, path, NULL, hdr);
	if ((sig = azure_sharedkey_sign(az->key, sts)) == NULL) {
		snprintf(az->cl.err, sizeof(az->cl.err), "the storage account "
		    "key is not base64");
		goto cleanup;
	}
	auth = xasprintf("Authorization: SharedKey %s:%s", az->account, sig);
	hdr[2] = auth;
	hdr[3] = NULL;
	memset(&req, 0, sizeof(req));
	req.method = "DELETE";
	req.url = uri;
	req.headers = hdr;
	http_resp_init(&resp);
	/* Gone already is done. */
	az->cl.ok_also = 404;
	rv = cloud_do(&az->cl, "deleting the blob", 0, 0, &req, &resp);
	az->cl.ok_also = 0;
	http_resp_free(&resp);
cleanup:
	free(base);
	free(sts);
	freezero_str(sig);
	freezero_str(auth);
	return rv;
}
