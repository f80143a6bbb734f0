/*
 * AWS credentials: the chain a target's options, a shared-credentials file
 * or the instance role (IMDSv2) give, checked (printable, no spaces) and
 * zeroed when dropped. Never logged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "aws.h"
#include "aws_imds.h"
#include "http.h"
#include "jsonutil.h"
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
