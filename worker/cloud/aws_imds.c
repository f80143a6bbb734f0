/*
 * IMDSv2 on http_do: short timeouts (the service is local or absent), the
 * token only in a header line that is zeroed after use, no IMDSv1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "aws_imds.h"
#include "http.h"
#include "util.h"

#define IMDS_DEFAULT	"http://169.254.169.254"
#define IMDS_BODY_MAX	(16 * 1024)

const char *
aws_imds_base(void)
{
	const char	*e = getenv("IB_IMDS_ENDPOINT");

	return e != NULL && *e ? e : IMDS_DEFAULT;
}

char *
aws_imds_token(struct http *h, char *err, size_t errlen)
{
	struct http_req		 req;
	struct http_resp	 resp;
	const char		*hdr[2] = { NULL, NULL };
	char			*url, *token = NULL;

	memset(&req, 0, sizeof(req));
	url = xasprintf("%s/latest/api/token", aws_imds_base());
	hdr[0] = "X-aws-ec2-metadata-token-ttl-seconds: 21600";
	req.method = "PUT";
	req.url = url;
	req.headers = hdr;
	req.body = "";
	req.body_len = 0;
	req.timeout = 5;
	http_resp_init(&resp);
	if (http_do(h, &req, &resp) == -1)
		snprintf(err, errlen, "instance metadata (IMDSv2) "
		    "unreachable: %s", resp.error);
	else if (resp.status != 200 || resp.body.len == 0 ||
	    resp.body.len > 4096)
		snprintf(err, errlen, "instance metadata (IMDSv2) answered "
		    "%ld to the token request", resp.status);
	else
		token = xstrdup(rtrim(resp.body.data));
	if (resp.body.data != NULL)
		explicit_bzero(resp.body.data, resp.body.cap);
	http_resp_free(&resp);
	free(url);
	return token;
}

int
aws_imds_get(struct http *h, const char *token, const char *path,
    char **out, long *status, char *err, size_t errlen)
{
	struct http_req		 req;
	struct http_resp	 resp;
	const char		*hdr[2] = { NULL, NULL };
	char			*url, *tokhdr;
	int			 rv = -1;

	*out = NULL;
	url = xasprintf("%s/latest/meta-data/%s", aws_imds_base(), path);
	tokhdr = xasprintf("X-aws-ec2-metadata-token: %s", token);
	hdr[0] = tokhdr;
	memset(&req, 0, sizeof(req));
	req.url = url;
	req.headers = hdr;
	req.timeout = 5;
	req.max_body = IMDS_BODY_MAX;
	http_resp_init(&resp);
	if (http_do(h, &req, &resp) == -1)
		snprintf(err, errlen, "instance metadata unreachable: %s",
		    resp.error);
	else if (resp.status != 200)
		snprintf(err, errlen, "instance metadata answered %ld for %s",
		    resp.status, path);
	else {
		*out = xstrdup(rtrim(resp.body.data ? resp.body.data : ""));
		rv = 0;
	}
	*status = resp.status;
	if (resp.body.data != NULL)
		explicit_bzero(resp.body.data, resp.body.cap);
	http_resp_free(&resp);
	freezero_str(tokhdr);
	free(url);
	return rv;
}

/* One GET on a new session; NULL with err. */
static char *
fetch(struct http *h, const char *path, char *err, size_t errlen)
{
	char	*token, *out = NULL;
	long	 status;

	if ((token = aws_imds_token(h, err, errlen)) == NULL)
		return NULL;
	aws_imds_get(h, token, path, &out, &status, err, errlen);
	freezero_str(token);
	return out;
}

char *
aws_imds_region(struct http *h, char *err, size_t errlen)
{
	char	*out, why[256];

	if ((out = fetch(h, "placement/region", why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "no region: %s", why);
		return NULL;
	}
	if (!aws_region_ok(out)) {
		snprintf(err, errlen, "no region: not a region name from "
		    "instance metadata");
		free(out);
		out = NULL;
	}
	return out;
}

char *
aws_imds_instance_id(struct http *h, char *err, size_t errlen)
{
	char	*id;
	size_t	 i;

	if ((id = fetch(h, "instance-id", err, errlen)) == NULL)
		return NULL;
	for (i = 0; id[i] != '\0'; i++)
		if (!(id[i] == '-' || (id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'z')))
			break;
	if (i == 0 || i > 64 || id[i] != '\0') {
		snprintf(err, errlen, "instance metadata gave no instance id");
		free(id);
		id = NULL;
	}
	return id;
}
