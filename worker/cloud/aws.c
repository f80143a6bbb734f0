/*
 * AWS pieces shared by s3.c and ec2.c: credentials, SigV4 primitives. libcurl signs requests itself (CURLOPT_AWS_SIGV4); what it
 * cannot do, presigned URLs, is built here from these primitives.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "aws.h"
#include "aws_imds.h"
#include "http.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"

#define CREDS_FILE_MAX	(64 * 1024)

void
aws_creds_clear(struct aws_creds *c)
{
	if (c == NULL)
		return;
	free(c->access_key);
	freezero_str(c->secret_key);
	freezero_str(c->token);
	free(c->source);
	memset(c, 0, sizeof(*c));
}

void
aws_creds_copy(struct aws_creds *dst, const struct aws_creds *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->access_key = src->access_key ? xstrdup(src->access_key) : NULL;
	dst->secret_key = src->secret_key ? xstrdup(src->secret_key) : NULL;
	dst->token = src->token ? xstrdup(src->token) : NULL;
	dst->source = src->source ? xstrdup(src->source) : NULL;
}

static char *
trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return rtrim(s);
}

/* A key id or secret: printable ASCII without spaces. */
static int
cred_ok(const char *s)
{
	if (s == NULL || *s == '\0' || strlen(s) > 4096)
		return 0;
	for (; *s; s++)
		if (*s <= 0x20 || *s >= 0x7f)
			return 0;
	return 1;
}

int
aws_creds_from_file(const char *path, const char *profile,
    struct aws_creds *c, char *err, size_t errlen)
{
	char	*data, *line, *next, *eq, *k, *v, *want = NULL;
	int	 in = 0, rv = -1;
	size_t	 len;

	memset(c, 0, sizeof(*c));
	if (profile == NULL || *profile == '\0')
		profile = "default";
	if ((data = read_file(path, CREDS_FILE_MAX, &len)) == NULL) {
		snprintf(err, errlen, "credentials file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	want = xasprintf("[%s]", profile);
	for (line = data; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		line = trim(line);
		if (*line == '\0' || *line == '#' || *line == ';')
			continue;
		if (*line == '[') {
			in = strcmp(line, want) == 0;
			continue;
		}
		if (!in || (eq = strchr(line, '=')) == NULL)
			continue;
		*eq = '\0';
		k = trim(line);
		v = trim(eq + 1);
		if (strcmp(k, "aws_access_key_id") == 0) {
			free(c->access_key);
			c->access_key = xstrdup(v);
		} else if (strcmp(k, "aws_secret_access_key") == 0) {
			freezero_str(c->secret_key);
			c->secret_key = xstrdup(v);
		} else if (strcmp(k, "aws_session_token") == 0) {
			freezero_str(c->token);
			c->token = *v ? xstrdup(v) : NULL;
		}
	}
	if (!cred_ok(c->access_key) || !cred_ok(c->secret_key) ||
	    (c->token != NULL && !cred_ok(c->token))) {
		snprintf(err, errlen, "credentials file %s: profile %s lacks "
		    "a usable aws_access_key_id and aws_secret_access_key",
		    path, profile);
		aws_creds_clear(c);
		goto cleanup;
	}
	c->source = xasprintf("file %s", path);
	rv = 0;
cleanup:
	free(want);
	explicit_bzero(data, len);
	free(data);
	return rv;
}

int
aws_creds_from_imds(struct http *h, struct aws_creds *c, char *err,
    size_t errlen)
{
	json_object	*doc = NULL, *v;
	char		*token, *path = NULL, *role = NULL, *doctext = NULL;
	char		*nl, why[256];
	long		 status;
	int		 rv = -1;

	memset(c, 0, sizeof(*c));
	if ((token = aws_imds_token(h, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "no credentials: %s", why);
		return -1;
	}
	if (aws_imds_get(h, token, "iam/security-credentials/", &role,
	    &status, why, sizeof(why)) == -1 || *role == '\0') {
		snprintf(err, errlen, "no credentials: the instance has no IAM "
		    "role (instance metadata answered %ld)", status);
		goto cleanup;
	}
	if ((nl = strchr(role, '\n')) != NULL)
		*nl = '\0';
	rtrim(role);
	if (!name_is_safe(role)) {
		snprintf(err, errlen, "no credentials: unusable role name from "
		    "instance metadata");
		goto cleanup;
	}
	path = xasprintf("iam/security-credentials/%s", role);
	if (aws_imds_get(h, token, path, &doctext, &status, why,
	    sizeof(why)) == -1) {
		snprintf(err, errlen, "no credentials: instance metadata "
		    "answered %ld for role %s", status, role);
		goto cleanup;
	}
	if ((doc = json_tokener_parse(doctext)) == NULL) {
		snprintf(err, errlen, "no credentials: instance metadata "
		    "answer for role %s is not JSON", role);
		goto cleanup;
	}
	if (json_object_object_get_ex(doc, "Code", &v) &&
	    strcmp(json_object_get_string(v), "Success") != 0) {
		snprintf(err, errlen, "no credentials: instance metadata says "
		    "%.100s for role %s", json_object_get_string(v), role);
		goto cleanup;
	}
	if (json_object_object_get_ex(doc, "AccessKeyId", &v))
		c->access_key = xstrdup(json_object_get_string(v));
	if (json_object_object_get_ex(doc, "SecretAccessKey", &v))
		c->secret_key = xstrdup(json_object_get_string(v));
	if (json_object_object_get_ex(doc, "Token", &v))
		c->token = xstrdup(json_object_get_string(v));
	if (!cred_ok(c->access_key) || !cred_ok(c->secret_key) ||
	    (c->token != NULL && !cred_ok(c->token))) {
		snprintf(err, errlen, "no credentials: incomplete answer from "
		    "instance metadata for role %s", role);
		aws_creds_clear(c);
		goto cleanup;
	}
	c->source = xasprintf("instance role %s", role);
	rv = 0;
cleanup:
	/* The answer held secrets. */
	json_wipe_str(doc, "SecretAccessKey");
	json_wipe_str(doc, "Token");
	json_object_put(doc);
	freezero_str(doctext);
	freezero_str(token);
	free(path);
	free(role);
	return rv;
}

int
aws_creds_from_keys(const char *ak, const char *sk, const char *token,
    const char *source, struct aws_creds *c)
{
	memset(c, 0, sizeof(*c));
	if (!cred_ok(ak) || !cred_ok(sk) ||
	    (token != NULL && *token && !cred_ok(token)))
		return -1;
	c->access_key = xstrdup(ak);
	c->secret_key = xstrdup(sk);
	c->token = token != NULL && *token ? xstrdup(token) : NULL;
	c->source = xstrdup(source);
	return 0;
}

int
aws_creds_resolve(struct http *h, const char *ak, const char *sk,
    const char *token, const char *file, struct aws_creds *c, char *err,
    size_t errlen)
{
	memset(c, 0, sizeof(*c));
	if (ak != NULL && *ak && sk != NULL && *sk) {
		if (aws_creds_from_keys(ak, sk, token, "the job", c) == -1) {
			snprintf(err, errlen, "the target's credentials contain "
			    "spaces or control characters");
			return -1;
		}
		return 0;
	}
	if ((ak != NULL && *ak) != (sk != NULL && *sk)) {
		snprintf(err, errlen, "the target gives only one of the access "
		    "key id and the secret access key");
		return -1;
	}
	if (file != NULL && *file)
		return aws_creds_from_file(file, NULL, c, err, errlen);
	return aws_creds_from_imds(h, c, err, errlen);
}

static void
hex(const unsigned char *in, size_t n, char *out)
{
	static const char	 d[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void
aws_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 n = 0;

	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	hex(md, 32, out);
}

void
aws_hmac(const void *key, size_t keylen, const void *data, size_t len,
    unsigned char out[32])
{
	unsigned int	 n = 32;

	HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n);
}

void
aws_sigv4_sign(const char *secret, const char *date8, const char *region,
    const char *service, const char *sts, char out[65])
{
	unsigned char	 k[32];
	char		*k0;

	k0 = xasprintf("AWS4%s", secret);
	aws_hmac(k0, strlen(k0), date8, strlen(date8), k);
	freezero_str(k0);
	aws_hmac(k, 32, region, strlen(region), k);
	aws_hmac(k, 32, service, strlen(service), k);
	aws_hmac(k, 32, "aws4_request", 12, k);
	aws_hmac(k, 32, sts, strlen(sts), k);
	hex(k, 32, out);
	explicit_bzero(k, sizeof(k));
}

void
aws_query_add(struct buf *b, const char *name, const char *value)
{
	char	*v = http_escape(value != NULL ? value : "");

	buf_printf(b, "&%s=%s", name, v);
	free(v);
}

int
aws_query_do(struct http *h, const char *url, const char *sigv4,
    const struct aws_creds *c, const struct buf *body, long timeout,
    const atomic_int *abort, struct http_resp *resp)
{
	struct http_req	 req;
	const char	*hdr[3] = { NULL, NULL, NULL };
	char		 hash[65], *h0, *h1 = NULL, *userpwd;
	int		 rv;

	aws_sha256_hex(body->data, body->len, hash);
	h0 = xasprintf("x-amz-content-sha256: %s", hash);
	hdr[0] = h0;
	if (c->token != NULL) {
		h1 = xasprintf("x-amz-security-token: %s", c->token);
		hdr[1] = h1;
	}
	userpwd = xasprintf("%s:%s", c->access_key, c->secret_key);
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = url;
	req.headers = hdr;
	req.content_type = "application/x-www-form-urlencoded; charset=utf-8";
	req.body = body->data;
	req.body_len = body->len;
	req.userpwd = userpwd;
	req.sigv4 = sigv4;
	req.timeout = timeout > 0 ? timeout : -1;
	req.abort = abort;
	req.max_body = AWS_BODY_MAX;
	rv = http_do(h, &req, resp);
	free(h0);
	freezero_str(h1);
	freezero_str(userpwd);
	return rv;
}

int
aws_sleep(int64_t ms, const atomic_int *abort)
{
	return sleep_abortable(ms, abort);
}

int
aws_region_ok(const char *r)
{
	size_t	 n = 0;

	if (r == NULL || *r == '\0')
		return 0;
	for (; *r; r++, n++)
		if (!(islower((unsigned char)*r) || isdigit((unsigned char)*r) ||
		    *r == '-') || n >= 32)
			return 0;
	return 1;
}
