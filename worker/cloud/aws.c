/*
 * AWS pieces shared by s3.c, ec2.c and the programs: SigV4 primitives, the
 * Query API, region names. libcurl signs requests itself
 * (CURLOPT_AWS_SIGV4); what it cannot do, presigned URLs, is built from
 * these primitives. Credentials are aws_creds.c, IMDS aws_imds.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "aws.h"
#include "http.h"
#include "util.h"

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
