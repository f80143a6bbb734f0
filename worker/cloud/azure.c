/*
 * Azure: Azure AD tokens, Resource Manager calls and their long-running
 * operations, and page-blob uploads with SharedKey signatures written from
 * Microsoft's description of the scheme. Pages are read from the file at
 * their offsets (holes found with SEEK_DATA are never read); at most
 * `threads` pages, 4 MiB each, are in memory and on the wire at once.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "aws.h"
#include "azure.h"
#include "backoff.h"
#include "cloud.h"
#include "http.h"
#include "http_multi.h"
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
#define BODY_MAX	(64 * 1024)

struct azure {
	struct http		*http;
	char			*login_url;
	char			*arm_url;
	char			*tenant;
	char			*sub;
	struct azure_creds	 creds;
	struct cloud_token	 token;
	/* the storage account in use */
	char			*account;
	char			*key;		/* secret, base64 */
	char			*origin;	/* scheme://host[:port] */
	char			*prefix;	/* path before the container */
	long			 connect_timeout;
	int			 threads;
	int			 tries;
	int64_t			 backoff_cap;
	int64_t			 poll_ms;
	int64_t			 op_timeout;
	const atomic_int	*abort;
	int			 aborted;
	char			 err[1024];
	struct azure_stats	 stats;
};

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

/* ---- SharedKey ---- */

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char *
url_decode(const char *s, size_t n)
{
	char	*out = xmalloc(n + 1), *o = out;
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else
			*o++ = s[i];
	}
	*o = '\0';
	return out;
}

struct kv {
	char	*k;
	char	*v;
};

static int
kv_cmp(const void *a, const void *b)
{
	const struct kv	*x = a, *y = b;
	int		 c = strcmp(x->k, y->k);

	return c != 0 ? c : strcmp(x->v, y->v);
}

static char *
lower(char *s)
{
	char	*p;

	for (p = s; *p; p++)
		*p = tolower((unsigned char)*p);
	return s;
}

/* The value of a standard header among hdrs, or "". */
static const char *
std_header(const char *const *hdrs, const char *name, char *tmp, size_t len)
{
	size_t	 n = strlen(name);
	const char *v;

	for (; hdrs != NULL && *hdrs; hdrs++) {
		if (strncasecmp(*hdrs, name, n) == 0 && (*hdrs)[n] == ':') {
			v = *hdrs + n + 1;
			while (*v == ' ')
				v++;
			snprintf(tmp, len, "%s", v);
			rtrim(tmp);
			return tmp;
		}
	}
	return "";
}

char *
azure_sharedkey_string(const char *method, const char *account,
    const char *path, const char *query, const char *const *hdrs)
{
	static const char *const std[] = { "Content-Encoding",
	    "Content-Language", "Content-Length", "Content-MD5",
	    "Content-Type", "Date", "If-Modified-Since", "If-Match",
	    "If-None-Match", "If-Unmodified-Since", "Range" };
	struct buf	 b;
	struct kv	*xs = NULL;
	size_t		 nx = 0, i, j;
	const char	*v, *colon, *p, *amp, *eq;
	char		 tmp[1024];

	buf_init(&b);
	buf_printf(&b, "%s\n", method);
	for (i = 0; i < nitems(std); i++) {
		v = std_header(hdrs, std[i], tmp, sizeof(tmp));
		/* Since version 2015-02-21 a zero length signs as empty. */
		if (strcmp(std[i], "Content-Length") == 0 &&
		    strcmp(v, "0") == 0)
			v = "";
		buf_printf(&b, "%s\n", v);
	}
	/* x-ms- headers: lower-case names, sorted, values trimmed. */
	for (i = 0; hdrs != NULL && hdrs[i]; i++) {
		if (strncasecmp(hdrs[i], "x-ms-", 5) != 0 ||
		    (colon = strchr(hdrs[i], ':')) == NULL)
			continue;
		xs = xrealloc(xs, (nx + 1) * sizeof(*xs));
		xs[nx].k = lower(xstrndup(hdrs[i], colon - hdrs[i]));
		rtrim(xs[nx].k);
		v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		xs[nx].v = rtrim(xstrdup(v));
		nx++;
	}
	if (nx > 1)
		qsort(xs, nx, sizeof(*xs), kv_cmp);
	for (i = 0; i < nx; i++)
		buf_printf(&b, "%s:%s\n", xs[i].k, xs[i].v);
	for (i = 0; i < nx; i++) {
		free(xs[i].k);
		free(xs[i].v);
	}
	free(xs);
	xs = NULL;
	nx = 0;

	buf_printf(&b, "/%s%s", account, path);
	/* Query parameters: decoded, names lower-cased, sorted, repeated
	 * names joined by commas. */
	for (p = query; p != NULL && *p; p = amp ? amp + 1 : NULL) {
		amp = strchr(p, '&');
		j = amp ? (size_t)(amp - p) : strlen(p);
		if (j == 0)
			continue;
		eq = memchr(p, '=', j);
		xs = xrealloc(xs, (nx + 1) * sizeof(*xs));
		xs[nx].k = lower(url_decode(p, eq ? (size_t)(eq - p) : j));
		xs[nx].v = eq ? url_decode(eq + 1, j - (eq + 1 - p)) :
		    xstrdup("");
		nx++;
	}
	if (nx > 1)
		qsort(xs, nx, sizeof(*xs), kv_cmp);
	for (i = 0; i < nx; i++) {
		if (i > 0 && strcmp(xs[i].k, xs[i - 1].k) == 0)
			buf_printf(&b, ",%s", xs[i].v);
		else
			buf_printf(&b, "\n%s:%s", xs[i].k, xs[i].v);
	}
	for (i = 0; i < nx; i++) {
		free(xs[i].k);
		free(xs[i].v);
	}
	free(xs);
	buf_add(&b, "", 0);
	return buf_release(&b);
}

char *
azure_sharedkey_sign(const char *key_b64, const char *sts)
{
	unsigned char	 mac[32];
	unsigned int	 maclen = sizeof(mac);
	size_t		 klen;
	char		*key, *out;

	if (strlen(key_b64) > 1024 ||
	    (key = base64_decode(key_b64, &klen)) == NULL)
		return NULL;
	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)sts,
	    strlen(sts), mac, &maclen);
	explicit_bzero(key, klen);
	free(key);
	out = base64_encode(mac, maclen);
	explicit_bzero(mac, sizeof(mac));
	return out;
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
	az->tenant = xstrdup(c->tenant);
	az->sub = xstrdup(c->subscription);
	az->creds.client_id = xstrdup(c->creds->client_id);
	az->creds.client_secret = xstrdup(c->creds->client_secret);
	az->connect_timeout = c->connect_timeout > 0 ? c->connect_timeout : 30;
	az->threads = c->threads > 0 ? c->threads : 16;
	if (az->threads > 64)
		az->threads = 64;
	az->tries = c->tries > 0 ? c->tries : 6;
	az->backoff_cap = c->backoff_cap > 0 ? c->backoff_cap : 20000;
	az->poll_ms = c->poll_ms > 0 ? c->poll_ms : 2000;
	az->op_timeout = c->op_timeout > 0 ? c->op_timeout : 3600;
	az->abort = c->abort;
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
	cloud_token_clear(&az->token);
	free(az->account);
	freezero_str(az->key);
	free(az->origin);
	free(az->prefix);
	free(az);
}

const char *
azure_error(const struct azure *az)
{
	return az->err;
}

int
azure_aborted(const struct azure *az)
{
	return az->aborted;
}

const struct azure_stats *
azure_stats(const struct azure *az)
{
	return &az->stats;
}

/* The cloud's message: ARM/AAD JSON, or the storage XML <Error>. */
static void
set_error(struct azure *az, const char *what, const struct http_resp *r)
{
	json_object	*doc = NULL, *e;
	const char	*code = NULL, *msg = NULL;
	char		 xmsg[600], clean[700];

	if (r->status == 0) {
		snprintf(az->err, sizeof(az->err), "%s: %s", what, r->error);
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
		snprintf(az->err, sizeof(az->err), "%s: HTTP %ld %s: %s", what,
		    r->status, code ? code : "", clean);
	} else if (r->body.len > 0 && xml_error(r->body.data, r->body.len,
	    xmsg, sizeof(xmsg), NULL, 0) == 0) {
		cloud_clean_copy(clean, sizeof(clean), xmsg, 600);
		snprintf(az->err, sizeof(az->err), "%s: HTTP %ld %s", what,
		    r->status, clean);
	} else {
		cloud_clean_copy(clean, sizeof(clean), r->body.len
		    ? r->body.data :
		    "", 200);
		snprintf(az->err, sizeof(az->err), "%s: HTTP %ld %s", what,
		    r->status, clean);
	}
	json_object_put(doc);
}

static int
sleep_ms(struct azure *az, int64_t ms)
{
	if (sleep_abortable(ms, az->abort) == 0)
		return 0;
	az->aborted = 1;
	snprintf(az->err, sizeof(az->err), "canceled");
	return -1;
}

static int	login(struct azure *);

static int
login_cb(void *az)
{
	return login(az);
}

static void
set_error_cb(void *az, const char *what, const struct http_resp *r)
{
	set_error(az, what, r);
}

/* An ARM or AAD call with retries (cloud_do): 0 on 2xx, -1 with az->err. */
static int
acall(struct azure *az, const char *what, const char *method,
    const char *url, const char *body, const char *ctype, int auth,
    struct http_resp *resp)
{
	struct cloud_call	 cc;
	struct http_req		 req;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.content_type = ctype;
	if (body != NULL) {
		req.body = body;
		req.body_len = strlen(body);
	}
	memset(&cc, 0, sizeof(cc));
	cc.name = "azure";
	cc.what = what;
	cc.http = az->http;
	cc.token = auth ? &az->token : NULL;
	cc.login = login_cb;
	cc.set_error = set_error_cb;
	cc.arg = az;
	cc.tries = az->tries;
	cc.backoff_cap = az->backoff_cap;
	cc.abort = az->abort;
	cc.aborted = &az->aborted;
	cc.retries = &az->stats.retries;
	cc.err = az->err;
	cc.errlen = sizeof(az->err);
	return cloud_do(&cc, &req, resp);
}

static int
login(struct azure *az)
{
	struct http_resp	 resp;
	char			*url, *form, *id, *secret, *scope, *et;
	int			 rv = -1;

	if (cloud_token_fresh(&az->token))
		return 0;
	cloud_token_clear(&az->token);
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
	http_resp_init(&resp);
	if (acall(az, "Azure AD token request", "POST", url, form,
	    "application/x-www-form-urlencoded", 0, &resp) == -1)
		goto cleanup;
	if (cloud_token_take(&az->token, &resp) == -1) {
		snprintf(az->err, sizeof(az->err), "Azure AD token request: no "
		    "access_token in the answer");
		goto cleanup;
	}
	rv = 0;
cleanup:
	freezero_str(form);
	free(url);
	if (resp.body.data != NULL)
		explicit_bzero(resp.body.data, resp.body.cap);
	http_resp_free(&resp);
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
	snprintf(az->err, sizeof(az->err), "%s failed: %s: %s", what,
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
		if (now_ms() + wait > deadline) {
			snprintf(az->err, sizeof(az->err), "%s: not done after "
			    "%lld s", what, (long long)az->op_timeout);
			goto cleanup;
		}
		if (sleep_ms(az, wait) == -1)
			goto cleanup;
		az->stats.polls++;
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
			snprintf(az->err, sizeof(az->err), "%s: the operation's "
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
		snprintf(az->err, sizeof(az->err), "reading the resource group: "
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
		snprintf(az->err, sizeof(az->err), "searching for a storage "
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
		snprintf(az->err, sizeof(az->err), "the storage account's blob "
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
		snprintf(az->err, sizeof(az->err), "retrieving the storage "
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

char *
azure_blob_url(const struct azure *az, const char *container,
    const char *blob)
{
	return xasprintf("%s%s/%s/%s", az->origin, az->prefix, container,
	    blob);
}

/* ---- blob requests ---- */

/*
 * Builds into call one SharedKey-signed blob request: PUT sends
 * data[0..len) (possibly empty); other methods send nothing. path is the
 * URI path after the account's prefix, already safe; query may be NULL.
 * data must outlive the attempt.
 */
static void
blob_build(struct azure *az, struct http_call *call, const char *method,
    const char *path, const char *query, const char *const *extra,
    const void *data, size_t len)
{
	const char	*h[HTTP_CALL_HDRS];
	char		 date[64], *lines[3], *full, *sts, *sig;
	size_t		 nh = 0, i, n = 0;
	time_t		 t = time(NULL);
	struct tm	 tm;
	int		 put = strcmp(method, "PUT") == 0;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	lines[0] = http_call_own(call, xasprintf("x-ms-date: %s", date));
	lines[1] = http_call_own(call,
	    xstrdup("x-ms-version: " AZURE_STORAGE_VERSION));
	lines[2] = xasprintf("Content-Length: %zu", put ? len : (size_t)0);
	h[nh++] = lines[0];
	h[nh++] = lines[1];
	if (put)
		h[nh++] = lines[2];
	for (i = 0; extra != NULL && extra[i] && nh < nitems(h) - 2; i++)
		h[nh++] = extra[i];
	h[nh] = NULL;
	full = xasprintf("%s%s", az->prefix, path);
	sts = azure_sharedkey_string(method, az->account, full, query, h);
	sig = azure_sharedkey_sign(az->key, sts);
	free(sts);

	/* libcurl sends Content-Length itself, from the body. */
	for (i = 0; i < nh; i++)
		if (strncmp(h[i], "Content-Length:", 15) != 0)
			call->hdr[n++] = h[i];
	call->hdr[n++] = http_call_own(call, xasprintf("Authorization: "
	    "SharedKey %s:%s", az->account, sig ? sig : ""));
	call->hdr[n] = NULL;
	freezero_str(sig);
	free(lines[2]);
	call->req.url = http_call_own(call, xasprintf("%s%s%s%s", az->origin,
	    full, query ? "?" : "", query ? query : ""));
	free(full);
	call->req.method = method;
	call->req.headers = call->hdr;
	if (put) {
		call->req.body = data;
		call->req.body_len = len;
	}
	call->req.timeout = -1;
	call->req.abort = az->abort;
	call->req.max_body = BODY_MAX;
}

/* One blob request with retries; *status gets the final status. */
static int
bcall(struct azure *az, const char *what, const char *method,
    const char *path, const char *query, const char *const *extra,
    long *status, long ok_also)
{
	struct http_call	 call;
	struct http_resp	 r;
	struct backoff		 bo;
	int			 try, rv = -1;

	memset(&call, 0, sizeof(call));
	http_resp_init(&r);
	backoff_init(&bo, 500, az->backoff_cap);
	for (try = 1; ; try++) {
		blob_build(az, &call, method, path, query, extra, "", 0);
		http_do(az->http, &call.req, &r);
		http_call_clear(&call);
		*status = r.status;
		if (r.aborted) {
			az->aborted = 1;
			snprintf(az->err, sizeof(az->err), "%s: canceled", what);
			break;
		}
		if ((r.status >= 200 && r.status < 300) ||
		    (ok_also && r.status == ok_also)) {
			rv = 0;
			break;
		}
		set_error(az, what, &r);
		if (!cloud_retryable(r.status) || try >= az->tries)
			break;
		az->stats.retries++;
		log_info("azure: %s; retrying (%d/%d)", az->err, try,
		    az->tries);
		if (sleep_ms(az, backoff_next(&bo)) == -1)
			break;
	}
	http_resp_free(&r);
	return rv;
}

int
azure_container(struct azure *az, const char *container)
{
	char	*path;
	long	 status;
	int	 rv;

	path = xasprintf("/%s", container);
	rv = bcall(az, "creating the storage container", "PUT", path,
	    "restype=container", NULL, &status, 409);
	free(path);
	return rv;
}

static int
all_zero(const unsigned char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/*
 * The next page at or after *off that holds data: holes are skipped with
 * SEEK_DATA, pages of zeros after reading them. 1 with the page in buf
 * and *len set, 0 at the end, -1 on a read error.
 */
static int
next_page(struct azure *az, int fd, off_t size, off_t *off,
    unsigned char *buf, size_t *len)
{
	off_t	 data;
	ssize_t	 got;
	size_t	 n, have;

	while (*off < size) {
		data = lseek(fd, *off, SEEK_DATA);
		if (data == -1 && errno == ENXIO) {
			/* A hole to the end. */
			az->stats.pages_skipped += (size - *off + AZURE_PAGE -
			    1) / AZURE_PAGE;
			*off = size;
			return 0;
		}
		if (data > *off) {
			az->stats.pages_skipped += (data / AZURE_PAGE * AZURE_PAGE
			    - *off) / AZURE_PAGE;
			*off = data / AZURE_PAGE * AZURE_PAGE;
		}
		n = size - *off < AZURE_PAGE ? size - *off : AZURE_PAGE;
		for (have = 0; have < n; have += got) {
			got = pread(fd, buf + have, n - have, *off + have);
			if (got == -1 && errno == EINTR) {
				got = 0;
				continue;
			}
			if (got <= 0) {
				snprintf(az->err, sizeof(az->err), "reading the "
				    "image: %s", got == 0 ? "short file" :
				    strerror(errno));
				return -1;
			}
		}
		if (!all_zero(buf, n)) {
			*len = n;
			return 1;
		}
		az->stats.pages_skipped++;
		*off += n;
	}
	return 0;
}

/* A page of the upload, one per slot of the pool. */
struct page {
	unsigned char	*buf;		/* AZURE_PAGE bytes */
	off_t		 off;
	size_t		 len;
};

/* A page-blob upload under way, for the http_multi callbacks. */
struct pages {
	struct azure	*az;
	char		*bpath;
	int		 fd;
	off_t		 size;
	off_t		 off;		/* where the next page is looked for */
	struct page	*slots;
};

static int
page_next(void *arg, int slot, void **item)
{
	struct pages	*u = arg;
	struct page	*p = &u->slots[slot];
	int		 got;

	if (p->buf == NULL)
		p->buf = xmalloc(AZURE_PAGE);
	if ((got = next_page(u->az, u->fd, u->size, &u->off, p->buf,
	    &p->len)) != 1)
		return got;
	p->off = u->off;
	u->off += p->len;
	*item = p;
	return 1;
}

static void
page_build(void *arg, void *item, struct http_call *call)
{
	struct pages	*u = arg;
	struct page	*p = item;
	const char	*extra[3];
	char		*range;

	range = http_call_own(call, xasprintf("x-ms-range: bytes=%lld-%lld",
	    (long long)p->off, (long long)(p->off + p->len - 1)));
	extra[0] = "x-ms-page-write: update";
	extra[1] = range;
	extra[2] = NULL;
	blob_build(u->az, call, "PUT", u->bpath, "comp=page", extra, p->buf,
	    p->len);
}

static enum http_verdict
page_judge(void *arg, void *item, const struct http_resp *r, int tries)
{
	struct pages	*u = arg;
	struct azure	*az = u->az;
	struct page	*p = item;

	if (r->status == 201) {
		az->stats.pages_sent++;
		az->stats.bytes_sent += p->len;
		return HTTP_DONE;
	}
	set_error(az, "uploading a page", r);
	if (!cloud_retryable(r->status) || tries >= az->tries)
		return HTTP_FAIL;
	log_info("azure: %s at offset %lld; retrying (%d/%d)", az->err,
	    (long long)p->off, tries, az->tries);
	return HTTP_RETRY;
}

int
azure_page_blob_upload(struct azure *az, const char *container,
    const char *blob, const char *path)
{
	static const struct http_multi_ops ops = {
		page_next, page_build, page_judge
	};
	struct http_multi_cfg	 cfg;
	struct http_multi_stats	 st;
	struct stat		 sb;
	struct pages		 u;
	char			 lenhdr[64];
	const char		*extra[3];
	long			 status;
	int			 i, aborted, rv = -1;

	memset(&u, 0, sizeof(u));
	u.az = az;
	if ((u.fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(u.fd, &sb) == -1) {
		snprintf(az->err, sizeof(az->err), "%s: %s", path,
		    strerror(errno));
		goto cleanup;
	}
	if (sb.st_size == 0 || sb.st_size % 512 != 0) {
		snprintf(az->err, sizeof(az->err), "the image is %lld bytes, "
		    "not a positive multiple of 512: Azure page blobs (VHD) "
		    "need whole 512-byte sectors", (long long)sb.st_size);
		goto cleanup;
	}
	u.size = sb.st_size;
	u.bpath = xasprintf("/%s/%s", container, blob);
	snprintf(lenhdr, sizeof(lenhdr), "x-ms-blob-content-length: %lld",
	    (long long)sb.st_size);
	extra[0] = "x-ms-blob-type: PageBlob";
	extra[1] = lenhdr;
	extra[2] = NULL;
	if (bcall(az, "creating the page blob", "PUT", u.bpath, NULL, extra,
	    &status, 0) == -1)
		goto cleanup;

	u.slots = xcalloc(az->threads, sizeof(*u.slots));
	memset(&cfg, 0, sizeof(cfg));
	cfg.parallel = az->threads;
	cfg.backoff_base = 500;
	cfg.backoff_cap = az->backoff_cap;
	cfg.retry_after = 1;
	cfg.abort = az->abort;
	memset(&st, 0, sizeof(st));
	rv = http_multi_run(az->http, &cfg, &ops, &u, &st, &aborted);
	az->stats.retries += st.retries;
	if (st.max_inflight > az->stats.max_inflight)
		az->stats.max_inflight = st.max_inflight;
	if (aborted) {
		az->aborted = 1;
		snprintf(az->err, sizeof(az->err), "uploading the page blob: "
		    "canceled");
	}
cleanup:
	for (i = 0; u.slots != NULL && i < az->threads; i++)
		free(u.slots[i].buf);
	free(u.slots);
	if (u.fd != -1)
		close(u.fd);
	free(u.bpath);
	return rv;
}

int
azure_image_create(struct azure *az, const char *rg, const char *name,
    const char *location, const char *blob_url, const char *hyperv)
{
	struct http_resp	 resp;
	json_object		*body, *props, *sp, *disk;
	char			*url;
	int			 rv = -1;

	body = json_object_new_object();
	json_object_object_add(body, "location",
	    json_object_new_string(location));
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
