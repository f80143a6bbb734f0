/*
 * Google Cloud: service-account login by a signed JWT, GCS resumable
 * uploads in chunks read from the file (never the whole image in memory),
 * Compute Engine image import and sharing. Every call retries on no
 * answer, 429 and 5xx with backoff, and stops when the abort flag rises.
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
#include "http.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"

#define GCS_DEFAULT		"https://storage.googleapis.com"
#define GCE_DEFAULT		"https://compute.googleapis.com"
#define GCS_SOURCE_BASE		"https://storage.googleapis.com"
#define CHUNK_DEFAULT		(16LL * 1024 * 1024)
#define CHUNK_QUANTUM		(256LL * 1024)
#define IMAGE_USER_ROLE		"roles/compute.imageUser"
#define META_IMAGE_NAME		"osbuild-composer-image-name"

struct gcp {
	struct gcp_key		 key;
	struct http		*http;
	char			*token_url;
	char			*storage_url;
	char			*compute_url;
	struct cloud_token	 token;
	int64_t			 chunk;
	int			 tries;
	int64_t			 backoff_cap;
	int64_t			 poll_ms;
	int64_t			 op_timeout;
	const atomic_int	*abort;
	int			 aborted;
	char			 err[1024];
	struct gcp_stats	 stats;
};

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

void
gcp_key_clear(struct gcp_key *k)
{
	if (k == NULL)
		return;
	free(k->client_email);
	freezero_str(k->private_key);
	free(k->token_uri);
	free(k->project_id);
	memset(k, 0, sizeof(k[0]));
}

static int
printable(const char *s, size_t max)
{
	size_t	 n = 0;

	if (s == NULL || *s == '\0')
		return 0;
	for (; *s; s++, n++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || n >= max)
			return 0;
	return 1;
}

int
gcp_key_parse(const char *json, size_t len, struct gcp_key *k, char *err,
    size_t errlen)
{
	json_tokener	*tok;
	json_object	*doc;
	const char	*type;
	int		 rv = -1;

	memset(k, 0, sizeof(*k));
	tok = json_tokener_new();
	doc = json_tokener_parse_ex(tok, json, (int)len);
	json_tokener_free(tok);
	if (doc == NULL || !json_object_is_type(doc, json_type_object)) {
		snprintf(err, errlen, "the GCP credentials are not a JSON "
		    "object");
		goto cleanup;
	}
	type = json_get_str(doc, "type");
	if (type == NULL || strcmp(type, "service_account") != 0) {
		snprintf(err, errlen, "the GCP credentials are not a service "
		    "account key (type %.40s)", type ? type : "missing");
		goto cleanup;
	}
	if (!printable(json_get_str(doc, "client_email"), 320) ||
	    json_get_str(doc, "private_key") == NULL ||
	    !printable(json_get_str(doc, "project_id"), 100)) {
		snprintf(err, errlen, "the GCP service account key lacks "
		    "client_email, private_key or project_id");
		goto cleanup;
	}
	k->client_email = xstrdup(json_get_str(doc, "client_email"));
	k->private_key = xstrdup(json_get_str(doc, "private_key"));
	k->project_id = xstrdup(json_get_str(doc, "project_id"));
	k->token_uri = xstrdup(printable(json_get_str(doc, "token_uri"),
	    2048) ? json_get_str(doc, "token_uri") :
	    "https://oauth2.googleapis.com/token");
	rv = 0;
cleanup:
	if (doc != NULL) {
		/* The parsed tree held the private key. */
		json_wipe_str(doc, "private_key");
		json_object_put(doc);
	}
	return rv;
}

char *
gcp_b64url(const void *data, size_t len)
{
	char	*s, *p;
	size_t	 n;

	s = base64_encode(data, len);
	for (p = s; *p; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	}
	n = strlen(s);
	while (n > 0 && s[n - 1] == '=')
		s[--n] = '\0';
	return s;
}

char *
gcp_jwt_assertion(const struct gcp_key *k, const char *scope, time_t now,
    char *err, size_t errlen)
{
	json_object	*claims;
	EVP_PKEY	*pkey = NULL;
	EVP_MD_CTX	*md = NULL;
	BIO		*bio = NULL;
	unsigned char	*sig = NULL;
	size_t		 siglen = 0;
	char		*head = NULL, *body = NULL, *input = NULL, *b64;
	char		*out = NULL;
	const char	*s;
	const char	*hdr = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";

	claims = json_object_new_object();
	json_object_object_add(claims, "iss",
	    json_object_new_string(k->client_email));
	json_object_object_add(claims, "scope", json_object_new_string(scope));
	json_object_object_add(claims, "aud",
	    json_object_new_string(k->token_uri));
	json_object_object_add(claims, "iat", json_object_new_int64(now));
	json_object_object_add(claims, "exp",
	    json_object_new_int64(now + 3600));
	head = gcp_b64url(hdr, strlen(hdr));
	s = json_object_to_json_string_ext(claims,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	body = gcp_b64url(s, strlen(s));
	input = xasprintf("%s.%s", head, body);

	if ((bio = BIO_new_mem_buf(k->private_key, -1)) == NULL ||
	    (pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
		snprintf(err, errlen, "the GCP service account's private_key "
		    "is not a PEM private key");
		goto cleanup;
	}
	if (EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "the GCP service account's private_key "
		    "is not an RSA key");
		goto cleanup;
	}
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (unsigned char *)input,
	    strlen(input)) != 1) {
		snprintf(err, errlen, "cannot sign the GCP token request");
		goto cleanup;
	}
	sig = xmalloc(siglen);
	if (EVP_DigestSign(md, sig, &siglen, (unsigned char *)input,
	    strlen(input)) != 1) {
		snprintf(err, errlen, "cannot sign the GCP token request");
		goto cleanup;
	}
	b64 = gcp_b64url(sig, siglen);
	out = xasprintf("%s.%s", input, b64);
	free(b64);
cleanup:
	json_object_put(claims);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	free(sig);
	free(head);
	free(body);
	free(input);
	return out;
}

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

	if (!printable(m, 512) || strchr(m, ' ') != NULL)
		return 0;
	for (i = 0; i < nitems(prefixes); i++) {
		n = strlen(prefixes[i]);
		if (strncmp(m, prefixes[i], n) == 0 && m[n] != '\0')
			return 1;
	}
	return 0;
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
	g->tries = c->tries > 0 ? c->tries : 6;
	g->backoff_cap = c->backoff_cap > 0 ? c->backoff_cap : 20000;
	g->poll_ms = c->poll_ms > 0 ? c->poll_ms : 2000;
	g->op_timeout = c->op_timeout > 0 ? c->op_timeout : 3 * 3600;
	g->abort = c->abort;
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
	cloud_token_clear(&g->token);
	free(g);
}

const char *
gcp_error(const struct gcp *g)
{
	return g->err;
}

int
gcp_aborted(const struct gcp *g)
{
	return g->aborted;
}

void
gcp_set_abort(struct gcp *g, const atomic_int *abort)
{
	g->abort = abort;
	g->aborted = 0;
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
static void
set_error(struct gcp *g, const char *what, const struct http_resp *r)
{
	json_object	*doc = NULL, *e;
	const char	*msg = NULL, *status = NULL;
	char		 body[300];

	if (r->status == 0) {
		snprintf(g->err, sizeof(g->err), "%s: %s", what, r->error);
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
		snprintf(g->err, sizeof(g->err), "%s: HTTP %ld %s: %s", what,
		    r->status, status ? status : "", body);
	} else {
		cloud_clean_copy(body, sizeof(body), r->body.len ? r->body.data
		    : "",
		    200);
		snprintf(g->err, sizeof(g->err), "%s: HTTP %ld %s", what,
		    r->status, body);
	}
	json_object_put(doc);
}

static int
sleep_ms(struct gcp *g, int64_t ms)
{
	if (sleep_abortable(ms, g->abort) == 0)
		return 0;
	g->aborted = 1;
	snprintf(g->err, sizeof(g->err), "canceled");
	return -1;
}

struct gcall {
	const char		*what;
	const char		*method;
	const char		*url;
	const char		*body;
	const char		*content_type;
	const char		*file;
	off_t			 off;
	off_t			 size;
	const char *const	*headers;
	int			 auth;
	int			 once;		/* no retries: the caller's loop */
};

static int	login(struct gcp *);

static int
login_cb(void *g)
{
	return login(g);
}

static void
set_error_cb(void *g, const char *what, const struct http_resp *r)
{
	set_error(g, what, r);
}

/*
 * One call with retries (cloud_do). 0 when the final answer is 2xx or
 * 308, -1 with g->err otherwise (resp keeps the last answer).
 */
static int
gcall(struct gcp *g, const struct gcall *c, struct http_resp *resp)
{
	struct cloud_call	 cc;
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
	} else if (c->body != NULL) {
		req.body = c->body;
		req.body_len = strlen(c->body);
	}
	memset(&cc, 0, sizeof(cc));
	cc.name = "gcp";
	cc.what = c->what;
	cc.http = g->http;
	cc.token = c->auth ? &g->token : NULL;
	cc.login = login_cb;
	cc.set_error = set_error_cb;
	cc.arg = g;
	cc.tries = c->once ? 1 : g->tries;
	cc.backoff_cap = g->backoff_cap;
	cc.ok_also = 308;
	cc.abort = g->abort;
	cc.aborted = &g->aborted;
	cc.retries = &g->stats.retries;
	cc.err = g->err;
	cc.errlen = sizeof(g->err);
	return cloud_do(&cc, &req, resp);
}

static int
login(struct gcp *g)
{
	struct http_resp	 resp;
	struct gcall		 c;
	char			*jwt, *form;
	int			 rv = -1;

	if (cloud_token_fresh(&g->token))
		return 0;
	cloud_token_clear(&g->token);
	if ((jwt = gcp_jwt_assertion(&g->key, GCP_SCOPE, time(NULL), g->err,
	    sizeof(g->err))) == NULL)
		return -1;
	form = xasprintf("grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3A"
	    "grant-type%%3Ajwt-bearer&assertion=%s", jwt);
	freezero_str(jwt);
	memset(&c, 0, sizeof(c));
	c.what = "GCP token request";
	c.method = "POST";
	c.url = g->token_url;
	c.body = form;
	c.content_type = "application/x-www-form-urlencoded";
	http_resp_init(&resp);
	if (gcall(g, &c, &resp) == -1)
		goto cleanup;
	if (cloud_token_take(&g->token, &resp) == -1) {
		snprintf(g->err, sizeof(g->err), "GCP token request: no "
		    "access_token in the answer");
		goto cleanup;
	}
	rv = 0;
cleanup:
	freezero_str(form);
	if (resp.body.data != NULL)
		explicit_bzero(resp.body.data, resp.body.cap);
	http_resp_free(&resp);
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
	return g->token.value != NULL;
}

/* MD5 of the whole file, base64 as GCS gives it; read in slices. */
static int
file_md5(struct gcp *g, const char *path, char **out, off_t *size)
{
	EVP_MD_CTX	*md;
	unsigned char	 d[EVP_MAX_MD_SIZE], *b;
	unsigned int	 n = 0;
	ssize_t		 got;
	int		 fd, rv = -1;

	*out = NULL;
	*size = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(g->err, sizeof(g->err), "%s: %s", path,
		    strerror(errno));
		return -1;
	}
	b = xmalloc(1 << 20);
	md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, EVP_md5(), NULL);
	for (;;) {
		if (g->abort != NULL && *g->abort) {
			g->aborted = 1;
			snprintf(g->err, sizeof(g->err), "canceled");
			goto cleanup;
		}
		got = read(fd, b, 1 << 20);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1) {
			snprintf(g->err, sizeof(g->err), "%s: %s", path,
			    strerror(errno));
			goto cleanup;
		}
		if (got == 0)
			break;
		EVP_DigestUpdate(md, b, got);
		*size += got;
	}
	EVP_DigestFinal_ex(md, d, &n);
	*out = base64_encode(d, n);
	rv = 0;
cleanup:
	EVP_MD_CTX_free(md);
	free(b);
	close(fd);
	return rv;
}

/* The next byte GCS wants from a 308's Range ("bytes=0-N"), 0 if none. */
static off_t
persisted(const struct http_resp *r)
{
	char	*range, *dash;
	off_t	 next = 0;
	long long last;

	if ((range = http_resp_header(r, "Range")) == NULL)
		return 0;
	/* The server's last byte: a negative or saturated one is no answer. */
	if ((dash = strchr(range, '-')) != NULL &&
	    (last = strtoll(dash + 1, NULL, 10)) >= 0 && last < LLONG_MAX)
		next = (off_t)last + 1;
	free(range);
	return next;
}

int
gcp_upload(struct gcp *g, const char *bucket, const char *object,
    const char *path, const char *image_name)
{
	struct http_resp	 resp;
	struct gcall		 c;
	json_object		*meta = NULL, *md, *doc = NULL;
	const char		*hdr[4];
	char			*md5 = NULL, *url = NULL, *session = NULL;
	char			*range = NULL, *lenhdr = NULL, *eb;
	const char		*got;
	off_t			 size, off = 0, n;
	int			 fails = 0, rv = -1;

	http_resp_init(&resp);
	if (file_md5(g, path, &md5, &size) == -1)
		goto cleanup;
	meta = json_object_new_object();
	json_object_object_add(meta, "name", json_object_new_string(object));
	json_object_object_add(meta, "md5Hash", json_object_new_string(md5));
	md = json_object_new_object();
	if (image_name != NULL)
		json_object_object_add(md, META_IMAGE_NAME,
		    json_object_new_string(image_name));
	json_object_object_add(meta, "metadata", md);
	eb = http_escape(bucket);
	url = xasprintf("%s/upload/storage/v1/b/%s/o?uploadType=resumable",
	    g->storage_url, eb);
	free(eb);
	lenhdr = xasprintf("X-Upload-Content-Length: %lld", (long long)size);
	hdr[0] = "X-Upload-Content-Type: application/octet-stream";
	hdr[1] = lenhdr;
	hdr[2] = NULL;
	memset(&c, 0, sizeof(c));
	c.what = "GCS upload start";
	c.method = "POST";
	c.url = url;
	c.body = json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PLAIN);
	c.content_type = "application/json; charset=UTF-8";
	c.headers = hdr;
	c.auth = 1;
	if (gcall(g, &c, &resp) == -1)
		goto cleanup;
	if ((session = http_resp_header(&resp, "Location")) == NULL ||
	    strncmp(session, "http", 4) != 0) {
		snprintf(g->err, sizeof(g->err), "GCS upload start: no upload "
		    "session in the answer");
		goto cleanup;
	}

	while (rv == -1) {
		memset(&c, 0, sizeof(c));
		c.what = "GCS upload";
		c.method = "PUT";
		c.url = session;
		c.auth = 1;
		c.once = 1;
		c.headers = hdr;
		free(range);
		n = size - off < g->chunk ? size - off : g->chunk;
		if (n > 0) {
			range = xasprintf("Content-Range: bytes %lld-%lld/%lld",
			    (long long)off, (long long)(off + n - 1),
			    (long long)size);
			c.file = path;
			c.off = off;
			c.size = n;
		} else {
			range = xasprintf("Content-Range: bytes */%lld",
			    (long long)size);
			c.body = "";
		}
		hdr[0] = range;
		hdr[1] = NULL;
		if (gcall(g, &c, &resp) == 0) {
			g->stats.chunks++;
			g->stats.bytes_sent += n;
			if (resp.status == 308) {
				off = persisted(&resp);
				continue;
			}
			break;		/* 200/201: the object exists */
		}
		if (g->aborted || !cloud_retryable(resp.status) ||
		    ++fails >= g->tries)
			goto cleanup;
		g->stats.retries++;
		log_info("gcp: %s; asking where to resume (%d/%d)", g->err,
		    fails, g->tries);
		if (sleep_ms(g, 500LL * fails) == -1)
			goto cleanup;
		/* Ask how much arrived, then go on from there. */
		free(range);
		range = xasprintf("Content-Range: bytes */%lld",
		    (long long)size);
		hdr[0] = range;
		memset(&c, 0, sizeof(c));
		c.what = "GCS upload status";
		c.method = "PUT";
		c.url = session;
		c.body = "";
		c.headers = hdr;
		c.auth = 1;
		if (gcall(g, &c, &resp) == -1)
			goto cleanup;
		if (resp.status != 308)
			break;
		off = persisted(&resp);
	}
	if ((doc = json_tokener_parse(resp.body.data)) == NULL ||
	    (got = json_get_str(doc, "md5Hash")) == NULL) {
		snprintf(g->err, sizeof(g->err), "GCS upload: the answer "
		    "carries no md5Hash");
		goto cleanup;
	}
	if (strcmp(got, md5) != 0) {
		snprintf(g->err, sizeof(g->err), "GCS upload: MD5 mismatch: "
		    "GCS has %.40s, the file %s", got, md5);
		goto cleanup;
	}
	rv = 0;
cleanup:
	json_object_put(meta);
	json_object_put(doc);
	http_resp_free(&resp);
	free(md5);
	free(url);
	free(session);
	free(range);
	free(lenhdr);
	return rv;
}

int
gcp_delete_object(struct gcp *g, const char *bucket, const char *object)
{
	struct http_resp	 resp;
	struct gcall		 c;
	char			*eb, *eo, *url;
	int			 rv;

	eb = http_escape(bucket);
	eo = http_escape(object);
	url = xasprintf("%s/storage/v1/b/%s/o/%s", g->storage_url, eb, eo);
	memset(&c, 0, sizeof(c));
	c.what = "GCS delete";
	c.method = "DELETE";
	c.url = url;
	c.auth = 1;
	http_resp_init(&resp);
	rv = gcall(g, &c, &resp);
	http_resp_free(&resp);
	free(eb);
	free(eo);
	free(url);
	return rv;
}

/* "code: message; ..." of an operation's error, into g->err. */
static void
op_error(struct gcp *g, const char *name, json_object *op)
{
	json_object	*e, *errs, *it;
	struct buf	 b;
	size_t		 i;
	char		 clean[sizeof(g->err)];

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
	snprintf(g->err, sizeof(g->err), "importing image %.63s failed: %.900s",
	    name, clean);
	buf_free(&b);
}

int
gcp_image_insert(struct gcp *g, const char *name, const char *bucket,
    const char *object, const char *region, const char *const *features)
{
	struct http_resp	 resp;
	struct gcall		 c;
	json_object		*img, *raw, *arr, *f, *op = NULL, *e;
	const char		*status, *opname;
	char			*url = NULL, *eop, *opurl = NULL;
	int64_t			 deadline;
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
	if (gcall(g, &c, &resp) == -1)
		goto cleanup;
	deadline = now_ms() + g->op_timeout * 1000;
	for (;;) {
		json_object_put(op);
		if ((op = json_tokener_parse(resp.body.data)) == NULL ||
		    (status = json_get_str(op, "status")) == NULL ||
		    (opname = json_get_str(op, "name")) == NULL) {
			snprintf(g->err, sizeof(g->err), "GCE images.insert: "
			    "the answer is not an operation");
			goto cleanup;
		}
		if (strcmp(status, "DONE") == 0)
			break;
		if (now_ms() > deadline) {
			snprintf(g->err, sizeof(g->err), "importing image %s: "
			    "not done after %lld s (operation %.100s)", name,
			    (long long)g->op_timeout, opname);
			goto cleanup;
		}
		if (sleep_ms(g, g->poll_ms) == -1)
			goto cleanup;
		if (opurl == NULL) {
			if (!printable(opname, 200) || strchr(opname, '/') ||
			    strchr(opname, '?')) {
				snprintf(g->err, sizeof(g->err), "GCE "
				    "images.insert: unusable operation name");
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
		g->stats.polls++;
		if (gcall(g, &c, &resp) == -1)
			goto cleanup;
	}
	if (json_object_object_get_ex(op, "error", &e) ||
	    (json_object_object_get_ex(op, "httpErrorStatusCode", &e) &&
	    json_object_get_int(e) != 0)) {
		op_error(g, name, op);
		goto cleanup;
	}
	rv = 0;
cleanup:
	json_object_put(img);
	json_object_put(op);
	http_resp_free(&resp);
	free(url);
	free(opurl);
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
		rv = gcall(g, &c, &resp);
		free(url);
		if (rv == -1)
			break;
		rv = -1;
		json_object_put(policy);
		if ((policy = json_tokener_parse(resp.body.data)) == NULL ||
		    !json_object_is_type(policy, json_type_object)) {
			snprintf(g->err, sizeof(g->err), "GCE getIamPolicy: "
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
		rv = gcall(g, &c, &resp);
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
