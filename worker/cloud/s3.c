/*
 * S3 on libcurl. libcurl 7.88 signs with SigV4 (CURLOPT_AWS_SIGV4) but
 * neither adds x-amz-content-sha256 nor canonicalises the query string, so
 * every request carries that header and every query we build is already
 * canonical (sorted, encoded, "name=value"). Large files go up as a
 * multipart upload (s3_multipart.c): parts are read from the file at their
 * offsets by the transfer, so memory stays at curl's buffers per part in
 * flight whatever the part size. Either way the bytes sent go to the
 * progress hook as they move (a single PUT's from inside its transfer).
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "backoff.h"
#include "http.h"
#include "log.h"
#include "s3.h"
#include "s3_priv.h"
#include "util.h"
#include "xml.h"

#define DEFAULT_PART		(64LL * 1024 * 1024)
#define DEFAULT_PARALLEL	4
#define DEFAULT_TRIES		6
#define EMPTY_SHA256	\
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"





const char *
s3_error(const struct s3 *s)
{
	return s->err;
}

const char *
s3_error_code(const struct s3 *s)
{
	return s->code;
}

long
s3_error_status(const struct s3 *s)
{
	return s->status;
}

int
s3_aborted(const struct s3 *s)
{
	return s->aborted;
}

void
s3_set_abort(struct s3 *s, const atomic_int *abort)
{
	s->abort = abort;
}

const struct s3_stats *
s3_stats(const struct s3 *s)
{
	return &s->stats;
}

int
s3_key_ok(const char *key)
{
	const unsigned char	*p;
	const char		*seg, *end;
	size_t			 n;

	if (key == NULL || (n = strlen(key)) == 0 || n > 1024 || key[0] == '/')
		return 0;
	for (p = (const unsigned char *)key; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			return 0;
	for (seg = key; seg != NULL; seg = end ? end + 1 : NULL) {
		end = strchr(seg, '/');
		n = end ? (size_t)(end - seg) : strlen(seg);
		if ((n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return 0;
	}
	return 1;
}

/* Bucket names as S3 allows them, and the stricter DNS-label subset. */
static int
bucket_ok(const char *b, int *dns)
{
	size_t	 n = strlen(b), i;

	*dns = n >= 3 && n <= 63;
	if (n == 0 || n > 255)
		return 0;
	for (i = 0; i < n; i++) {
		if ((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') ||
		    b[i] == '-')
			continue;
		*dns = 0;
		if ((b[i] >= 'A' && b[i] <= 'Z') || b[i] == '.' || b[i] == '_')
			continue;
		return 0;
	}
	return 1;
}

static int
authority_ok(const char *a)
{
	if (*a == '\0')
		return 0;
	for (; *a; a++)
		if (!((*a >= 'a' && *a <= 'z') || (*a >= 'A' && *a <= 'Z') ||
		    (*a >= '0' && *a <= '9') || *a == '.' || *a == '-' ||
		    *a == ':' || *a == '[' || *a == ']'))
			return 0;
	return 1;
}

/* Splits an endpoint "[scheme://]host[:port][/prefix]". */
static int
parse_endpoint(struct s3 *s, const char *ep, char *err, size_t errlen)
{
	const char	*p, *slash;
	size_t		 n;

	if ((p = strstr(ep, "://")) != NULL) {
		s->scheme = xstrndup(ep, p - ep);
		p += 3;
	} else {
		s->scheme = xstrdup("https");
		p = ep;
	}
	if (strcmp(s->scheme, "https") != 0 && strcmp(s->scheme, "http") != 0) {
		snprintf(err, errlen, "S3 endpoint: scheme must be http or "
		    "https");
		return -1;
	}
	if ((slash = strchr(p, '/')) != NULL)
		s->authority = xstrndup(p, slash - p);
	else
		s->authority = xstrdup(p);
	s->prefix = xstrdup(slash ? slash : "");
	n = strlen(s->prefix);
	while (n > 0 && s->prefix[n - 1] == '/')
		s->prefix[--n] = '\0';
	if (!authority_ok(s->authority) || strchr(s->prefix, '?') ||
	    strchr(s->prefix, '#') || strstr(s->prefix, "..")) {
		snprintf(err, errlen, "S3 endpoint is not a usable URL");
		return -1;
	}
	/* libcurl drops a default port from Host; so must presigning. */
	n = strlen(s->authority);
	if (strcmp(s->scheme, "https") == 0 && n > 4 &&
	    strcmp(s->authority + n - 4, ":443") == 0)
		s->authority[n - 4] = '\0';
	if (strcmp(s->scheme, "http") == 0 && n > 3 &&
	    strcmp(s->authority + n - 3, ":80") == 0)
		s->authority[n - 3] = '\0';
	return 0;
}

struct s3 *
s3_new(const struct s3_cfg *c, char *err, size_t errlen)
{
	struct http_opts	 ho;
	struct s3		*s;
	char			*ep = NULL;
	int			 dns;

	s = xcalloc(1, sizeof(*s));
	s->region = xstrdup(c->region && *c->region ? c->region : "us-east-1");
	if (!aws_region_ok(s->region)) {
		snprintf(err, errlen, "S3: invalid region");
		goto fail;
	}
	if (c->bucket == NULL || !bucket_ok(c->bucket, &dns)) {
		snprintf(err, errlen, "S3: missing or invalid bucket name");
		goto fail;
	}
	s->bucket = xstrdup(c->bucket);
	if (c->creds == NULL || c->creds->access_key == NULL ||
	    c->creds->secret_key == NULL) {
		snprintf(err, errlen, "S3: no credentials");
		goto fail;
	}
	if (c->endpoint != NULL && *c->endpoint) {
		if (parse_endpoint(s, c->endpoint, err, errlen) == -1)
			goto fail;
		s->path_style = c->path_style >= 0;
	} else {
		ep = xasprintf("https://s3.%s.amazonaws.com", s->region);
		if (parse_endpoint(s, ep, err, errlen) == -1)
			goto fail;
		s->path_style = c->path_style > 0;
	}
	/* Names that are not DNS labels only work path-style. */
	if (!dns)
		s->path_style = 1;
	aws_creds_copy(&s->creds, c->creds);
	s->sigv4 = xasprintf("aws:amz:%s:s3", s->region);
	s->public_read = c->public_read;
	s->part_size = c->part_size > 0 ? c->part_size : DEFAULT_PART;
	if (s->part_size < S3_MIN_PART)
		s->part_size = S3_MIN_PART;
	s->parallel = c->parallel > 0 ? c->parallel : DEFAULT_PARALLEL;
	if (s->parallel > 64)
		s->parallel = 64;
	s->multipart_min = c->multipart_min > 0 ? c->multipart_min :
	    s->part_size;
	s->max_size = c->max_size > 0 ? c->max_size : S3_MAX_OBJECT;
	s->tries = c->tries > 0 ? c->tries : DEFAULT_TRIES;
	s->backoff_base = c->backoff_base > 0 ? c->backoff_base : 500;
	s->backoff_cap = c->backoff_cap > 0 ? c->backoff_cap : 20000;
	s->abort = c->abort;

	memset(&ho, 0, sizeof(ho));
	ho.ca_bundle = c->ca_bundle && *c->ca_bundle ? c->ca_bundle : NULL;
	ho.insecure = c->insecure;
	ho.connect_timeout = c->connect_timeout;
	ho.transfer_timeout = 300;
	s->http = http_new(&ho);
	free(ep);
	return s;
fail:
	free(ep);
	s3_free(s);
	return NULL;
}

void
s3_free(struct s3 *s)
{
	if (s == NULL)
		return;
	http_free(s->http);
	free(s->scheme);
	free(s->authority);
	free(s->prefix);
	free(s->region);
	free(s->bucket);
	free(s->sigv4);
	aws_creds_clear(&s->creds);
	free(s);
}

/* Percent-encodes a key for the path: every byte but unreserved and '/'. */
static char *
key_escape(const char *key)
{
	static const char	 hx[] = "0123456789ABCDEF";
	const unsigned char	*p;
	struct buf		 b;

	buf_init(&b);
	buf_add(&b, "", 0);
	for (p = (const unsigned char *)key; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    *p == '.' || *p == '~' || *p == '/')
			buf_add(&b, p, 1);
		else {
			char	 e[3] = { '%', hx[*p >> 4], hx[*p & 15] };

			buf_add(&b, e, 3);
		}
	}
	return buf_release(&b);
}

/* The Host the request goes to. Caller frees. */
static char *
object_host(const struct s3 *s)
{
	if (s->path_style)
		return xstrdup(s->authority);
	return xasprintf("%s.%s", s->bucket, s->authority);
}

/* The canonical path of key (NULL: the bucket). Caller frees. */
static char *
object_path(const struct s3 *s, const char *key)
{
	char	*ek, *p;

	ek = key_escape(key ? key : "");
	if (s->path_style)
		p = xasprintf("%s/%s/%s", s->prefix, s->bucket, ek);
	else
		p = xasprintf("%s/%s", s->prefix, ek);
	free(ek);
	return p;
}

char *
s3_url(const struct s3 *s, const char *key, const char *query)
{
	char	*host, *path, *u;

	host = object_host(s);
	path = object_path(s, key);
	u = xasprintf("%s://%s%s%s%s", s->scheme, host, path,
	    query && *query ? "?" : "", query ? query : "");
	free(host);
	free(path);
	return u;
}

char *
s3_object_url(const struct s3 *s, const char *key)
{
	return s3_url(s, key, NULL);
}

char *
s3_presign_get(const struct s3 *s, const char *key, long expires,
    time_t now)
{
	struct tm	 tm;
	char		 amz[32], date8[16], creq_hash[65], sig[65];
	char		*cred, *ecred, *etok = NULL, *query, *host, *path;
	char		*creq, *sts, *url;

	if (expires < 1 || expires > S3_PRESIGN_MAX)
		expires = S3_PRESIGN_MAX;
	gmtime_r(&now, &tm);
	strftime(amz, sizeof(amz), "%Y%m%dT%H%M%SZ", &tm);
	strftime(date8, sizeof(date8), "%Y%m%d", &tm);
	cred = xasprintf("%s/%s/%s/s3/aws4_request", s->creds.access_key,
	    date8, s->region);
	ecred = http_escape(cred);
	if (s->creds.token != NULL)
		etok = http_escape(s->creds.token);
	/* Parameters in canonical (byte) order. */
	query = xasprintf("X-Amz-Algorithm=AWS4-HMAC-SHA256"
	    "&X-Amz-Credential=%s&X-Amz-Date=%s&X-Amz-Expires=%ld%s%s"
	    "&X-Amz-SignedHeaders=host", ecred, amz, expires,
	    etok ? "&X-Amz-Security-Token=" : "", etok ? etok : "");
	host = object_host(s);
	path = object_path(s, key);
	creq = xasprintf("GET\n%s\n%s\nhost:%s\n\nhost\nUNSIGNED-PAYLOAD",
	    path, query, host);
	aws_sha256_hex(creq, strlen(creq), creq_hash);
	sts = xasprintf("AWS4-HMAC-SHA256\n%s\n%s/%s/s3/aws4_request\n%s",
	    amz, date8, s->region, creq_hash);
	aws_sigv4_sign(s->creds.secret_key, date8, s->region, "s3", sts, sig);
	url = xasprintf("%s://%s%s?%s&X-Amz-Signature=%s", s->scheme, host,
	    path, query, sig);
	free(cred);
	free(ecred);
	freezero_str(etok);
	freezero_str(query);
	free(host);
	free(path);
	freezero_str(creq);
	free(sts);
	return url;
}

/* Status codes and S3 codes worth another try. */
int
s3_retryable(long status, const char *code)
{
	if (status == 0 || status == 429 || status == 500 || status == 502 ||
	    status == 503 || status == 504)
		return 1;
	return strcmp(code, "RequestTimeout") == 0 ||
	    strcmp(code, "SlowDown") == 0 ||
	    strcmp(code, "InternalError") == 0 ||
	    strcmp(code, "ServiceUnavailable") == 0;
}

void
s3_set_error(struct s3 *s, const char *op, const char *key,
    const struct http_resp *r)
{
	char	 msg[600];

	s->status = r->status;
	s->code[0] = '\0';
	if (r->status == 0) {
		snprintf(s->err, sizeof(s->err), "S3 %s %s: %s", op, key,
		    r->error);
		return;
	}
	if (xml_error(r->body.data, r->body.len, msg, sizeof(msg),
	    s->code, sizeof(s->code)) == 0)
		snprintf(s->err, sizeof(s->err), "S3 %s %s: HTTP %ld %s", op,
		    key, r->status, msg);
	else
		snprintf(s->err, sizeof(s->err), "S3 %s %s: HTTP %ld", op, key,
		    r->status);
}

/* The headers every request carries; the token is a secret. */
void
s3_base_headers(const struct s3 *s, const char *payload_hash, int acl,
    char **h, size_t *n)
{
	*n = 0;
	h[(*n)++] = xasprintf("x-amz-content-sha256: %s", payload_hash);
	if (s->creds.token != NULL)
		h[(*n)++] = xasprintf("x-amz-security-token: %s",
		    s->creds.token);
	if (acl && s->public_read)
		h[(*n)++] = xstrdup("x-amz-acl: public-read");
	h[*n] = NULL;
}


/* A single PUT's bytes as they go out: inside libcurl's callback. */
static void
put_sent(void *arg, int64_t sent, int64_t total)
{
	struct s3	*s = arg;

	s->progress.fn(s->progress.arg, sent, total, 0);
}

/*
 * One request with retries. 0 on a 2xx answer that is not an S3 error
 * document, -1 otherwise (s->err set). resp holds the last answer.
 */
int
s3_call(struct s3 *s, const struct call *c, struct http_resp *resp)
{
	struct http_req	 req;
	struct backoff	 bo;
	char		 hash[65], *h[4], *url, *userpwd;
	char		 msg[600], code[64];
	size_t		 nh, i;
	int		 try, rv = -1;

	s->aborted = 0;
	if (c->file != NULL)
		snprintf(hash, sizeof(hash), "UNSIGNED-PAYLOAD");
	else
		aws_sha256_hex(c->body ? c->body : "", c->body_len, hash);
	s3_base_headers(s, hash, c->acl, h, &nh);
	url = s3_url(s, c->key, c->query);
	userpwd = xasprintf("%s:%s", s->creds.access_key, s->creds.secret_key);
	memset(&req, 0, sizeof(req));
	req.method = c->method;
	req.url = url;
	req.headers = (const char *const *)h;
	req.content_type = c->content_type;
	req.body = c->body;
	req.body_len = c->body_len;
	req.body_path = c->file;
	req.body_off = c->off;
	req.body_size = c->size;
	req.userpwd = userpwd;
	req.sigv4 = s->sigv4;
	req.timeout = 300;
	req.abort = s->abort;
	req.max_body = AWS_BODY_MAX;
	if (c->progress && c->file != NULL && s->progress.fn != NULL) {
		req.on_upload = put_sent;
		req.upload_arg = s;
	}
	backoff_init(&bo, s->backoff_base, s->backoff_cap);

	for (try = 1;; try++) {
		if (http_do(s->http, &req, resp) == -1 && resp->aborted) {
			s->aborted = 1;
			snprintf(s->err, sizeof(s->err), "S3 %s %s: canceled",
			    c->op, c->key ? c->key : "");
			break;
		}
		if (resp->status >= 200 && resp->status < 300) {
			/* CompleteMultipartUpload can fail inside a 200. */
			if (resp->body.len == 0 || xml_error(resp->body.data,
			    resp->body.len, msg, sizeof(msg), code,
			    sizeof(code)) == -1) {
				rv = 0;
				break;
			}
			snprintf(s->err, sizeof(s->err), "S3 %s %s: %s", c->op,
			    c->key ? c->key : "", msg);
			snprintf(s->code, sizeof(s->code), "%s", code);
			s->status = resp->status;
		} else
			s3_set_error(s, c->op, c->key ? c->key : "", resp);
		if (try >= s->tries || !s3_retryable(s->status, s->code))
			break;
		log_info("%s; retrying (%d/%d)", s->err, try, s->tries);
		s->stats.retries++;
		if (sleep_abortable(backoff_next(&bo), s->abort) == -1) {
			s->aborted = 1;
			snprintf(s->err, sizeof(s->err), "S3 %s %s: canceled",
			    c->op, c->key ? c->key : "");
			break;
		}
	}
	for (i = 0; i < nh; i++)
		freezero_str(h[i]);
	freezero_str(userpwd);
	free(url);
	return rv;
}

int
s3_delete(struct s3 *s, const char *key)
{
	struct http_resp	 resp;
	struct call		 c;
	int			 rv;

	memset(&c, 0, sizeof(c));
	c.op = "DELETE";
	c.method = "DELETE";
	c.key = key;
	http_resp_init(&resp);
	rv = s3_call(s, &c, &resp);
	http_resp_free(&resp);
	return rv;
}

int
s3_head(struct s3 *s, const char *key, int64_t *size)
{
	struct http_resp	 resp;
	struct call		 c;
	char			*cl;
	int			 rv;

	memset(&c, 0, sizeof(c));
	c.op = "HEAD";
	c.method = "HEAD";
	c.key = key;
	http_resp_init(&resp);
	rv = s3_call(s, &c, &resp);
	if (rv == -1 && resp.status == 404)
		rv = 1;
	else if (rv == 0 && size != NULL) {
		cl = http_resp_header(&resp, "Content-Length");
		*size = cl ? strtoll(cl, NULL, 10) : -1;
		free(cl);
	}
	http_resp_free(&resp);
	return rv;
}

static int
put_single(struct s3 *s, const char *key, const char *path, off_t size)
{
	struct http_resp	 resp;
	struct call		 c;
	int			 rv;

	memset(&c, 0, sizeof(c));
	c.op = "PUT";
	c.method = "PUT";
	c.key = key;
	c.file = path;
	c.size = size;
	c.content_type = "application/octet-stream";
	c.acl = 1;
	c.progress = 1;
	http_resp_init(&resp);
	if (size == 0) {
		/* Nothing to stream: an empty in-memory body. */
		c.file = NULL;
		c.body = "";
	}
	/* Where it starts and where it ended, between requests. */
	if (s->progress.fn != NULL)
		s->progress.fn(s->progress.arg, 0, size, 1);
	rv = s3_call(s, &c, &resp);
	if (rv == 0 && s->progress.fn != NULL)
		s->progress.fn(s->progress.arg, size, size, 1);
	s->stats.parts = 1;
	http_resp_free(&resp);
	return rv;
}

int
s3_put_file(struct s3 *s, const char *key, const char *path)
{
	struct stat	 st;

	memset(&s->stats, 0, sizeof(s->stats));
	s->err[0] = s->code[0] = '\0';
	s->status = 0;
	s->aborted = 0;
	if (!s3_key_ok(key)) {
		snprintf(s->err, sizeof(s->err), "S3: invalid object key");
		return -1;
	}
	if (stat(path, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(s->err, sizeof(s->err), "%s: %s", path,
		    errno ? strerror(errno) : "not a regular file");
		return -1;
	}
	if (st.st_size > s->max_size) {
		snprintf(s->err, sizeof(s->err), "the export is %lld bytes, "
		    "more than the %lld this S3 target accepts",
		    (long long)st.st_size, (long long)s->max_size);
		return -1;
	}
	if (st.st_size < s->multipart_min)
		return put_single(s, key, path, st.st_size);
	return s3_put_multipart(s, key, path, st.st_size);
}
