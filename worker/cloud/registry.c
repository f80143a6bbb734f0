/*
 * The registry HTTP API v2 client. See registry.h.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "http.h"
#include "log.h"
#include "registry.h"
#include "util.h"

#define REG_MAX_SOURCE		1024
#define REG_MAX_BODY		(8u << 20)	/* a manifest, index or config */
#define REG_MAX_AUTHFILE	(1u << 20)
#define REG_MAX_REDIRECTS	5
#define REG_MAX_INDEX		1024

#define MT_DOCKER_LIST	"application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_V2	"application/vnd.docker.distribution.manifest.v2+json"
#define MT_OCI_INDEX	"application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST	"application/vnd.oci.image.manifest.v1+json"

static const char *const accept_hdrs[] = {
	"Accept: " MT_OCI_INDEX ", " MT_DOCKER_LIST ", " MT_OCI_MANIFEST ", "
	    MT_DOCKER_V2,
	NULL
};

/* ---- references ---- */

static int
path_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '.' || c == '_' || c == '-' || c == '/';
}

static int
valid_repo(const char *r)
{
	const char	*p;

	if (*r == '\0' || *r == '/' || r[strlen(r) - 1] == '/' ||
	    strstr(r, "//") != NULL || strstr(r, "..") != NULL)
		return 0;
	for (p = r; *p; p++)
		if (!path_char(*p))
			return 0;
	return 1;
}

static int
valid_tag(const char *t)
{
	size_t	 i, n = strlen(t);

	if (n == 0 || n > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return 0;
	for (i = 1; i < n; i++)
		if (!isalnum((unsigned char)t[i]) && t[i] != '_' &&
		    t[i] != '.' && t[i] != '-')
			return 0;
	return 1;
}

static int
valid_digest(const char *d)
{
	const char	*hex;
	size_t		 i, n;

	if (strncmp(d, "sha256:", 7) == 0)
		n = 64;
	else if (strncmp(d, "sha512:", 7) == 0)
		n = 128;
	else
		return 0;
	hex = d + 7;
	if (strlen(hex) != n)
		return 0;
	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)hex[i]) ||
		    isupper((unsigned char)hex[i]))
			return 0;
	return 1;
}

static int
valid_host(const char *h)
{
	const char	*p;

	if (*h == '\0' || strlen(h) > 255)
		return 0;
	for (p = h; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' &&
		    *p != ':' && *p != '[' && *p != ']')
			return 0;
	return 1;
}

void
registry_ref_free(struct registry_ref *r)
{
	if (r == NULL)
		return;
	free(r->host);
	free(r->repo);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}

int
registry_parse_ref(const char *source, struct registry_ref *r, char *err,
    size_t errlen)
{
	char	*s, *at, *slash, *colon, *rest;

	memset(r, 0, sizeof(*r));
	if (source == NULL || *source == '\0' ||
	    strlen(source) > REG_MAX_SOURCE) {
		snprintf(err, errlen, "invalid image reference: empty or too "
		    "long");
		return -1;
	}
	s = xstrdup(source);
	if ((at = strchr(s, '@')) != NULL) {
		*at = '\0';
		r->digest = xstrdup(at + 1);
	}
	slash = strchr(s, '/');
	if (slash != NULL && (memchr(s, '.', slash - s) != NULL ||
	    memchr(s, ':', slash - s) != NULL ||
	    (slash - s == 9 && strncmp(s, "localhost", 9) == 0))) {
		r->host = xstrndup(s, slash - s);
		rest = slash + 1;
	} else {
		r->host = xstrdup("docker.io");
		rest = s;
	}
	colon = strrchr(rest, ':');
	if (colon != NULL && strchr(colon, '/') == NULL) {
		*colon = '\0';
		r->tag = xstrdup(colon + 1);
	}
	if (strcmp(r->host, "docker.io") == 0 && strchr(rest, '/') == NULL)
		r->repo = xasprintf("library/%s", rest);
	else
		r->repo = xstrdup(rest);
	if (r->tag == NULL && r->digest == NULL)
		r->tag = xstrdup("latest");
	free(s);
	if (!valid_host(r->host) || !valid_repo(r->repo) ||
	    (r->tag != NULL && !valid_tag(r->tag)) ||
	    (r->digest != NULL && !valid_digest(r->digest))) {
		snprintf(err, errlen, "invalid image reference %.300s", source);
		registry_ref_free(r);
		return -1;
	}
	return 0;
}

const char *
registry_goarch(const char *arch)
{
	static const struct { const char *uname, *go; } map[] = {
		{ "x86_64", "amd64" }, { "aarch64", "arm64" },
		{ "i686", "386" }, { "i386", "386" }, { "armv7l", "arm" },
		{ "ppc64le", "ppc64le" }, { "s390x", "s390x" },
		{ "riscv64", "riscv64" },
	};
	size_t	 i;

	for (i = 0; i < nitems(map); i++)
		if (strcmp(arch, map[i].uname) == 0)
			return map[i].go;
	return arch;
}

/* ---- WWW-Authenticate ---- */

void
registry_challenge_free(struct registry_challenge *c)
{
	if (c == NULL)
		return;
	free(c->scheme);
	free(c->realm);
	free(c->service);
	free(c->scope);
	memset(c, 0, sizeof(*c));
}

int
registry_parse_challenge(const char *h, struct registry_challenge *c)
{
	const char	*p = h, *k;
	struct buf	 v;
	size_t		 klen;

	memset(c, 0, sizeof(*c));
	while (*p == ' ')
		p++;
	k = p;
	while (*p && *p != ' ')
		p++;
	if (p == k)
		return -1;
	c->scheme = xstrndup(k, p - k);
	buf_init(&v);
	for (;;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		k = p;
		while (*p && *p != '=' && *p != ' ' && *p != ',')
			p++;
		klen = p - k;
		if (*p != '=') {
			buf_free(&v);
			registry_challenge_free(c);
			return -1;
		}
		p++;
		buf_reset(&v);
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				buf_add(&v, p, 1);
			}
			if (*p != '"') {
				buf_free(&v);
				registry_challenge_free(c);
				return -1;
			}
			p++;
		} else {
			const char *vs = p;

			while (*p && *p != ',' && *p != ' ')
				p++;
			buf_add(&v, vs, p - vs);
		}
		if (klen == 5 && strncasecmp(k, "realm", 5) == 0 && !c->realm)
			c->realm = xstrdup(v.data ? v.data : "");
		else if (klen == 7 && strncasecmp(k, "service", 7) == 0 &&
		    !c->service)
			c->service = xstrdup(v.data ? v.data : "");
		else if (klen == 5 && strncasecmp(k, "scope", 5) == 0 &&
		    !c->scope)
			c->scope = xstrdup(v.data ? v.data : "");
	}
	buf_free(&v);
	return 0;
}

/* ---- credentials ---- */

static char *
b64_decode(const char *in)
{
	size_t		 n = strlen(in), pad = 0;
	unsigned char	*out;
	int		 len;

	if (n == 0 || n % 4 != 0)
		return NULL;
	if (in[n - 1] == '=')
		pad++;
	if (in[n - 2] == '=')
		pad++;
	out = xmalloc(n / 4 * 3 + 1);
	len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (len < 0 || (size_t)len < pad) {
		free(out);
		return NULL;
	}
	len -= (int)pad;
	out[len] = '\0';
	if (memchr(out, '\0', len) != NULL) {
		freezero_str((char *)out);
		return NULL;
	}
	return (char *)out;
}

int
registry_auth_lookup(const char *path, const char *host, char **userpwd,
    char *err, size_t errlen)
{
	json_object	*doc, *auths, *entry, *a;
	char		*data, *keys[4];
	size_t		 len, i;
	int		 rv = -1;

	*userpwd = NULL;
	if ((data = read_file(path, REG_MAX_AUTHFILE, &len)) == NULL) {
		snprintf(err, errlen, "reading the registry auth file %s: %s",
		    path, strerror(errno));
		return -1;
	}
	doc = json_tokener_parse(data);
	freezero_str(data);
	if (doc == NULL || !json_object_object_get_ex(doc, "auths", &auths) ||
	    !json_object_is_type(auths, json_type_object)) {
		snprintf(err, errlen, "the registry auth file %s has no "
		    "\"auths\" object", path);
		goto cleanup;
	}
	keys[0] = xstrdup(host);
	keys[1] = xasprintf("https://%s", host);
	keys[2] = xasprintf("http://%s", host);
	keys[3] = xstrdup(strcmp(host, "docker.io") == 0 ?
	    "https://index.docker.io/v1/" : host);
	rv = 0;
	for (i = 0; i < nitems(keys) && *userpwd == NULL; i++) {
		if (!json_object_object_get_ex(auths, keys[i], &entry) ||
		    !json_object_object_get_ex(entry, "auth", &a) ||
		    !json_object_is_type(a, json_type_string))
			continue;
		*userpwd = b64_decode(json_object_get_string(a));
		if (*userpwd == NULL || strchr(*userpwd, ':') == NULL) {
			freezero_str(*userpwd);
			*userpwd = NULL;
			snprintf(err, errlen, "the registry auth file %s: the "
			    "entry for %s is not base64 of user:password",
			    path, host);
			rv = -1;
			break;
		}
	}
	for (i = 0; i < nitems(keys); i++)
		free(keys[i]);
cleanup:
	json_object_put(doc);
	return rv;
}

/* ---- the client ---- */

struct client {
	const struct registry_opts *opts;
	struct http		*http;
	struct registry_ref	 ref;
	const char		*scheme;	/* "https", or "http" */
	char			*apihost;	/* where the API lives */
	char			*userpwd;	/* secret */
	char			*token;		/* secret */
	int			 basic;		/* send userpwd */
	char			*name;		/* host/repo for messages */
};

static int	client_open(struct client *, const struct registry_opts *,
		    const char *, const char *, char *, size_t);
static void	client_close(struct client *);

/* The registry's {"errors":[{code,message,detail}]}, or the status. */
static void
registry_message(const struct http_resp *resp, char *out, size_t outlen)
{
	json_object	*doc, *errs, *e, *v;
	const char	*code = NULL, *msg = NULL;

	doc = resp->body.data ? json_tokener_parse(resp->body.data) : NULL;
	if (doc != NULL && json_object_object_get_ex(doc, "errors", &errs) &&
	    json_object_is_type(errs, json_type_array) &&
	    json_object_array_length(errs) > 0) {
		e = json_object_array_get_idx(errs, 0);
		if (json_object_object_get_ex(e, "code", &v))
			code = json_object_get_string(v);
		if (json_object_object_get_ex(e, "message", &v))
			msg = json_object_get_string(v);
	}
	if (msg != NULL)
		snprintf(out, outlen, "%.300s (%s, HTTP %ld)", msg,
		    code ? code : "no code", resp->status);
	else
		snprintf(out, outlen, "the registry answered HTTP %ld",
		    resp->status);
	json_object_put(doc);
}

/* Gets a bearer token for the challenge. */
static int
get_token(struct client *c, const struct registry_challenge *ch, char *err,
    size_t errlen)
{
	struct http_req		 req;
	struct http_resp	 resp;
	json_object		*doc = NULL, *v;
	struct buf		 url;
	char			*esc, *scope = NULL;
	const char		*tok = NULL;
	int			 rv = -1;

	if (ch->realm == NULL || (strncasecmp(ch->realm, "https://", 8) != 0 &&
	    strncasecmp(ch->realm, "http://", 7) != 0)) {
		snprintf(err, errlen, "the registry %s asks for a token "
		    "without a usable realm", c->ref.host);
		return -1;
	}
	buf_init(&url);
	buf_addstr(&url, ch->realm);
	buf_addstr(&url, strchr(ch->realm, '?') ? "&" : "?");
	if (ch->service != NULL) {
		esc = http_escape(ch->service);
		buf_printf(&url, "service=%s&", esc);
		free(esc);
	}
	scope = ch->scope ? xstrdup(ch->scope) :
	    xasprintf("repository:%s:pull", c->ref.repo);
	esc = http_escape(scope);
	buf_printf(&url, "scope=%s", esc);
	free(esc);
	memset(&req, 0, sizeof(req));
	req.url = url.data;
	req.userpwd = c->userpwd;
	req.abort = c->opts->abort;
	http_resp_init(&resp);
	if (http_do(c->http, &req, &resp) == -1) {
		snprintf(err, errlen, "getting a token for %s from %.200s: %s",
		    c->name, ch->realm, resp.error);
		goto cleanup;
	}
	if (resp.status != 200) {
		char msg[512];

		registry_message(&resp, msg, sizeof(msg));
		snprintf(err, errlen, "getting a token for %.200s: %.250s%s", c->name,
		    msg, c->userpwd ? "" : " (no credentials for this registry)");
		goto cleanup;
	}
	doc = json_tokener_parse(resp.body.data ? resp.body.data : "");
	if (doc != NULL && json_object_object_get_ex(doc, "token", &v) &&
	    json_object_is_type(v, json_type_string))
		tok = json_object_get_string(v);
	if (tok == NULL && doc != NULL &&
	    json_object_object_get_ex(doc, "access_token", &v) &&
	    json_object_is_type(v, json_type_string))
		tok = json_object_get_string(v);
	if (tok == NULL || *tok == '\0' || strpbrk(tok, "\r\n") != NULL) {
		snprintf(err, errlen, "the token service of %s gave no token",
		    c->ref.host);
		goto cleanup;
	}
	freezero_str(c->token);
	c->token = xstrdup(tok);
	rv = 0;
cleanup:
	json_object_put(doc);
	free(scope);
	buf_free(&url);
	http_resp_free(&resp);
	return rv;
}

/* A request to the registry beyond a plain GET. */
struct reg_call {
	const char		*method;	/* NULL: GET */
	const char *const	*headers;
	const char		*body_path;	/* stream this file range */
	off_t			 body_off;
	off_t			 body_size;
	int			 no_redirect;	/* 3xx is the answer */
};

/* path on the registry, or an absolute URL (an upload's Location). */
static char *
reg_url(const struct client *c, const char *path)
{
	if (strncasecmp(path, "https://", 8) == 0 ||
	    strncasecmp(path, "http://", 7) == 0)
		return xstrdup(path);
	return xasprintf("%s://%s%s", c->scheme, c->apihost, path);
}

/*
 * Sends one request to path with the authentication dance and redirects.
 * Returns 0 with an answer in resp, whatever its status, or -1 with why.
 */
static int
call(struct client *c, const char *path, const struct reg_call *rc,
    struct http_resp *resp, char *err, size_t errlen)
{
	struct http_req			 req;
	struct registry_challenge	 ch;
	char				*url, *hdr, *loc = NULL;
	int				 tries, redirects = 0, authed = 0;

	url = reg_url(c, path);
	for (tries = 0; tries < 3 + REG_MAX_REDIRECTS; tries++) {
		memset(&req, 0, sizeof(req));
		req.url = url;
		req.method = rc->method;
		req.headers = rc->headers;
		req.abort = c->opts->abort;
		if (rc->body_path != NULL && rc->body_size > 0) {
			req.body_path = rc->body_path;
			req.body_off = rc->body_off;
			req.body_size = rc->body_size;
		} else if (rc->method != NULL && (strcmp(rc->method, "PUT") ==
		    0 || strcmp(rc->method, "POST") == 0 ||
		    strcmp(rc->method, "PATCH") == 0)) {
			/* No body: an empty one, with its length. */
			req.body = "";
			req.body_len = 0;
		}
		if (redirects == 0) {
			req.bearer = c->basic ? NULL : c->token;
			req.userpwd = c->basic ? c->userpwd : NULL;
		}
		http_resp_free(resp);
		http_resp_init(resp);
		if (http_do(c->http, &req, resp) == -1) {
			snprintf(err, errlen, "%s", resp->error);
			free(url);
			return -1;
		}
		if (!rc->no_redirect && resp->status >= 300 &&
		    resp->status < 400 && resp->status != 304 &&
		    (loc = http_resp_header(resp, "Location")) != NULL) {
			if (++redirects > REG_MAX_REDIRECTS) {
				free(loc);
				break;
			}
			free(url);
			url = reg_url(c, loc);
			free(loc);
			continue;
		}
		if (resp->status != 401 || authed || redirects > 0)
			break;
		authed = 1;
		hdr = http_resp_header(resp, "WWW-Authenticate");
		if (hdr == NULL || registry_parse_challenge(hdr, &ch) == -1) {
			free(hdr);
			break;
		}
		free(hdr);
		if (strcasecmp(ch.scheme, "Bearer") == 0) {
			if (get_token(c, &ch, err, errlen) == -1) {
				registry_challenge_free(&ch);
				free(url);
				return -1;
			}
			c->basic = 0;
		} else if (strcasecmp(ch.scheme, "Basic") == 0 &&
		    c->userpwd != NULL) {
			c->basic = 1;
		} else {
			registry_challenge_free(&ch);
			break;
		}
		registry_challenge_free(&ch);
	}
	free(url);
	return 0;
}

/* GET path (or an absolute URL after a redirect); see call(). */
static int
get(struct client *c, const char *path, const char *const *headers,
    struct http_resp *resp, char *err, size_t errlen)
{
	struct reg_call	 rc;

	memset(&rc, 0, sizeof(rc));
	rc.headers = headers;
	return call(c, path, &rc, resp, err, errlen);
}

static char *
sha256_digest(const void *data, size_t len)
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 n = 0, i;
	char		*s;

	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	s = xmalloc(7 + n * 2 + 1);
	memcpy(s, "sha256:", 7);
	for (i = 0; i < n; i++)
		snprintf(s + 7 + i * 2, 3, "%02x", md[i]);
	return s;
}

static const char *
str_of(json_object *o, const char *key)
{
	json_object	*v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/*
 * Fetches the manifest named ref (tag or digest): *doc the parsed body,
 * *digest its sha256 digest, *mtype its media type. -1 with why.
 */
static int
fetch_manifest(struct client *c, const char *ref, json_object **doc,
    char **digest, char **mtype, char *err, size_t errlen)
{
	struct http_resp	 resp;
	char			*path, msg[512], why[1024];
	const char		*mt;
	int			 rv = -1;

	*doc = NULL;
	*digest = *mtype = NULL;
	path = xasprintf("/v2/%s/manifests/%s", c->ref.repo, ref);
	http_resp_init(&resp);
	if (get(c, path, accept_hdrs, &resp, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "reading manifest %.200s in %.200s: %.500s", ref,
		    c->name, why);
		goto cleanup;
	}
	if (resp.status != 200) {
		registry_message(&resp, msg, sizeof(msg));
		snprintf(err, errlen, "reading manifest %.200s in %.200s: %.500s", ref,
		    c->name, msg);
		goto cleanup;
	}
	*doc = json_tokener_parse(resp.body.data ? resp.body.data : "");
	if (*doc == NULL || !json_object_is_type(*doc, json_type_object)) {
		snprintf(err, errlen, "reading manifest %s in %s: the answer is "
		    "not a JSON manifest", ref, c->name);
		goto cleanup;
	}
	*digest = sha256_digest(resp.body.data, resp.body.len);
	if (strncmp(ref, "sha256:", 7) == 0 && strcmp(ref, *digest) != 0) {
		snprintf(err, errlen, "reading manifest %s in %s: the registry "
		    "sent content with digest %s", ref, c->name, *digest);
		goto cleanup;
	}
	mt = str_of(*doc, "mediaType");
	if (mt == NULL) {
		char *ct = http_resp_header(&resp, "Content-Type"), *semi;

		if (ct != NULL && (semi = strchr(ct, ';')) != NULL)
			*semi = '\0';
		*mtype = ct != NULL ? rtrim(ct) : NULL;
	} else
		*mtype = xstrdup(mt);
	if (*mtype == NULL) {
		json_object *m;

		/* An OCI document may omit it: tell by its shape. */
		*mtype = xstrdup(json_object_object_get_ex(*doc, "manifests",
		    &m) ? MT_OCI_INDEX : MT_OCI_MANIFEST);
	}
	rv = 0;
cleanup:
	if (rv == -1) {
		json_object_put(*doc);
		*doc = NULL;
		free(*digest);
		free(*mtype);
		*digest = *mtype = NULL;
	}
	http_resp_free(&resp);
	free(path);
	return rv;
}

static int
is_index(const char *mt)
{
	return strcmp(mt, MT_OCI_INDEX) == 0 || strcmp(mt, MT_DOCKER_LIST) == 0;
}

/* The digest of the index entry for goarch on linux, borrowed, or NULL. */
static const char *
pick(json_object *index, const char *goarch, const char *variant)
{
	json_object	*ms, *m, *p;
	const char	*best = NULL, *os, *a, *v;
	size_t		 i, n;

	if (!json_object_object_get_ex(index, "manifests", &ms) ||
	    !json_object_is_type(ms, json_type_array))
		return NULL;
	n = json_object_array_length(ms);
	if (n > REG_MAX_INDEX)
		n = REG_MAX_INDEX;
	for (i = 0; i < n; i++) {
		m = json_object_array_get_idx(ms, i);
		if (!json_object_object_get_ex(m, "platform", &p))
			continue;
		os = str_of(p, "os");
		a = str_of(p, "architecture");
		v = str_of(p, "variant");
		if (os == NULL || strcmp(os, "linux") != 0 || a == NULL ||
		    strcmp(a, goarch) != 0 || str_of(m, "digest") == NULL)
			continue;
		if (variant == NULL || v == NULL || strcmp(v, variant) == 0)
			return str_of(m, "digest");
		if (best == NULL)
			best = str_of(m, "digest");
	}
	return best;
}

/* The config blob's architecture, checked against goarch. */
static int
check_config(struct client *c, const char *config_digest, const char *goarch,
    char *err, size_t errlen)
{
	struct http_resp	 resp;
	json_object		*cfg = NULL;
	char			*path, *got = NULL, msg[512], why[512];
	const char		*a;
	int			 rv = -1;

	path = xasprintf("/v2/%s/blobs/%s", c->ref.repo, config_digest);
	http_resp_init(&resp);
	if (get(c, path, NULL, &resp, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "reading the image config of %.200s: %.500s",
		    c->name, why);
		goto cleanup;
	}
	if (resp.status != 200) {
		registry_message(&resp, msg, sizeof(msg));
		snprintf(err, errlen, "reading the image config of %.200s: %.500s",
		    c->name, msg);
		goto cleanup;
	}
	got = sha256_digest(resp.body.data, resp.body.len);
	if (strncmp(config_digest, "sha256:", 7) == 0 &&
	    strcmp(got, config_digest) != 0) {
		snprintf(err, errlen, "the image config of %s does not match "
		    "its digest", c->name);
		goto cleanup;
	}
	cfg = json_tokener_parse(resp.body.data ? resp.body.data : "");
	a = str_of(cfg, "architecture");
	if (a != NULL && *a != '\0' && strcmp(a, goarch) != 0) {
		snprintf(err, errlen, "image %s is for architecture %.64s, not "
		    "%s", c->name, a, goarch);
		goto cleanup;
	}
	rv = 0;
cleanup:
	json_object_put(cfg);
	free(got);
	free(path);
	http_resp_free(&resp);
	return rv;
}

void
registry_image_free(struct registry_image *img)
{
	if (img == NULL)
		return;
	free(img->image_id);
	free(img->digest);
	free(img->list_digest);
	memset(img, 0, sizeof(*img));
}

static const char *
variant_of(const char *arch)
{
	if (strcmp(arch, "aarch64") == 0)
		return "v8";
	if (strcmp(arch, "armv7l") == 0)
		return "v7";
	return NULL;
}

int
registry_resolve(const struct registry_opts *o, const char *source,
    const char *arch, struct registry_image *img, char *err, size_t errlen)
{
	struct client		 c;
	json_object		*doc = NULL, *cfg;
	char			*digest = NULL, *mtype = NULL, *dcopy;
	const char		*goarch = registry_goarch(arch), *d, *cd;
	int			 rv = -1, rc;

	memset(img, 0, sizeof(*img));
	if (client_open(&c, o, source, NULL, err, errlen) == -1) {
		client_close(&c);
		return -1;
	}
	if (fetch_manifest(&c, c.ref.digest ? c.ref.digest : c.ref.tag, &doc,
	    &digest, &mtype, err, errlen) == -1)
		goto cleanup;
	if (is_index(mtype)) {
		img->list_digest = digest;
		digest = NULL;
		if ((d = pick(doc, goarch, variant_of(arch))) == NULL) {
			snprintf(err, errlen, "no image found in manifest list "
			    "%s for architecture %s, OS linux", c.name, goarch);
			goto cleanup;
		}
		dcopy = xstrdup(d);
		json_object_put(doc);
		free(mtype);
		doc = NULL;
		mtype = NULL;
		rc = fetch_manifest(&c, dcopy, &doc, &digest, &mtype, err,
		    errlen);
		free(dcopy);
		if (rc == -1)
			goto cleanup;
		if (is_index(mtype)) {
			snprintf(err, errlen, "the manifest list %s nests "
			    "another list", c.name);
			goto cleanup;
		}
	}
	if (!json_object_object_get_ex(doc, "config", &cfg) ||
	    (cd = str_of(cfg, "digest")) == NULL || !valid_digest(cd)) {
		snprintf(err, errlen, "the manifest of %s has no config digest "
		    "(media type %.100s)", c.name, mtype);
		goto cleanup;
	}
	/* A single-arch image must be for the job's architecture. */
	if (img->list_digest == NULL &&
	    check_config(&c, cd, goarch, err, errlen) == -1)
		goto cleanup;
	img->image_id = xstrdup(cd);
	img->digest = digest;
	digest = NULL;
	rv = 0;
cleanup:
	if (rv == -1)
		registry_image_free(img);
	json_object_put(doc);
	free(digest);
	free(mtype);
	client_close(&c);
	return rv;
}

/* ---- pushing an OCI archive ---- */

#define REG_MAX_TAR_ENTRIES	4096
#define REG_MAX_LAYERS		256
#define REG_CHUNK_DEFAULT	(16u << 20)

struct tar_entry {
	char	*name;
	off_t	 off;		/* of the data */
	off_t	 size;
};

struct archive {
	const char		*path;
	int			 fd;
	struct tar_entry	*e;
	size_t			 n;
};

static void
archive_close(struct archive *a)
{
	size_t	 i;

	for (i = 0; i < a->n; i++)
		free(a->e[i].name);
	free(a->e);
	if (a->fd != -1)
		close(a->fd);
	memset(a, 0, sizeof(*a));
	a->fd = -1;
}

static int
tar_octal(const char *f, size_t len, off_t *out)
{
	off_t	 v = 0;
	size_t	 i = 0;

	while (i < len && f[i] == ' ')
		i++;
	for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
		if (v > ((off_t)1 << 52))
			return -1;
		v = v * 8 + (f[i] - '0');
	}
	for (; i < len; i++)
		if (f[i] != ' ' && f[i] != '\0')
			return -1;
	*out = v;
	return 0;
}

/* Indexes the regular files of the tar at path. -1 with why. */
static int
archive_open(struct archive *a, const char *path, char *err, size_t errlen)
{
	unsigned char	 h[512];
	char		*longname = NULL, name[257];
	off_t		 pos = 0, size;
	ssize_t		 r;
	int		 zeros = 0;

	memset(a, 0, sizeof(*a));
	a->path = path;
	if ((a->fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "opening the image archive %s: %s", path,
		    strerror(errno));
		return -1;
	}
	for (;;) {
		r = pread(a->fd, h, sizeof(h), pos);
		if (r == 0 && zeros > 0)
			break;
		if (r != (ssize_t)sizeof(h))
			goto bad;
		pos += 512;
		if (h[0] == '\0') {
			if (++zeros == 2)
				break;
			continue;
		}
		zeros = 0;
		if (memcmp(h + 257, "ustar", 5) != 0 ||
		    tar_octal((char *)h + 124, 12, &size) == -1)
			goto bad;
		if (h[156] == 'L') {
			if (size <= 0 || size > 4096)
				goto bad;
			free(longname);
			longname = xmalloc(size + 1);
			if (pread(a->fd, longname, size, pos) != size)
				goto bad;
			longname[size] = '\0';
		} else if (h[156] == '0' || h[156] == '\0') {
			if (longname != NULL) {
				snprintf(name, sizeof(name), "%.256s", longname);
				free(longname);
				longname = NULL;
			} else if (h[345] != '\0')
				snprintf(name, sizeof(name), "%.155s/%.100s",
				    (char *)h + 345, (char *)h);
			else
				snprintf(name, sizeof(name), "%.100s", (char *)h);
			if (a->n >= REG_MAX_TAR_ENTRIES) {
				snprintf(err, errlen, "the image archive %s has "
				    "more than %d files", path,
				    REG_MAX_TAR_ENTRIES);
				goto fail;
			}
			a->e = xrealloc(a->e, (a->n + 1) * sizeof(*a->e));
			a->e[a->n].name = xstrdup(strncmp(name, "./", 2) == 0 ?
			    name + 2 : name);
			a->e[a->n].off = pos;
			a->e[a->n].size = size;
			a->n++;
		} else {
			free(longname);
			longname = NULL;
		}
		pos += (size + 511) / 512 * 512;
	}
	free(longname);
	return 0;
bad:
	snprintf(err, errlen, "the image archive %s is not a tar file", path);
fail:
	free(longname);
	archive_close(a);
	return -1;
}

static const struct tar_entry *
archive_find(const struct archive *a, const char *name)
{
	size_t	 i;

	for (i = 0; i < a->n; i++)
		if (strcmp(a->e[i].name, name) == 0)
			return &a->e[i];
	return NULL;
}

/* The blob of digest, checked to be that size (-1: any). */
static const struct tar_entry *
archive_blob(const struct archive *a, const char *digest, int64_t size,
    char *err, size_t errlen)
{
	const struct tar_entry	*e;
	char			*name;

	if (!valid_digest(digest)) {
		snprintf(err, errlen, "the image archive names an invalid "
		    "digest");
		return NULL;
	}
	name = xasprintf("blobs/sha256/%s", digest + 7);
	e = strncmp(digest, "sha256:", 7) == 0 ? archive_find(a, name) : NULL;
	free(name);
	if (e == NULL)
		snprintf(err, errlen, "the image archive has no blob %.80s",
		    digest);
	else if (size >= 0 && e->size != size) {
		snprintf(err, errlen, "blob %.80s in the image archive is "
		    "%lld bytes, its manifest says %lld", digest,
		    (long long)e->size, (long long)size);
		return NULL;
	}
	return e;
}

/* A small member (index.json, a manifest) read into memory. */
static char *
archive_read(const struct archive *a, const struct tar_entry *e,
    char *err, size_t errlen)
{
	char	*data;

	if (e->size > (off_t)REG_MAX_BODY) {
		snprintf(err, errlen, "%s in the image archive is too large",
		    e->name);
		return NULL;
	}
	data = xmalloc(e->size + 1);
	if (pread(a->fd, data, e->size, e->off) != e->size) {
		snprintf(err, errlen, "reading %s in the image archive: %s",
		    e->name, strerror(errno));
		free(data);
		return NULL;
	}
	data[e->size] = '\0';
	return data;
}

static int
client_open(struct client *c, const struct registry_opts *o,
    const char *source, const char *userpwd, char *err, size_t errlen)
{
	struct http_opts	 ho;
	struct http_resp	 resp;
	char			 why[512];

	memset(c, 0, sizeof(*c));
	c->opts = o;
	if (registry_parse_ref(source, &c->ref, err, errlen) == -1)
		return -1;
	c->apihost = xstrdup(strcmp(c->ref.host, "docker.io") == 0 ?
	    "registry-1.docker.io" : c->ref.host);
	c->name = xasprintf("%s/%s", c->ref.host, c->ref.repo);
	c->scheme = "https";
	if (userpwd != NULL)
		c->userpwd = xstrdup(userpwd);
	else if (o->auth_file != NULL && registry_auth_lookup(o->auth_file,
	    c->ref.host, &c->userpwd, err, errlen) == -1)
		return -1;
	memset(&ho, 0, sizeof(ho));
	ho.insecure = !o->tls_verify;
	ho.ca_bundle = o->ca_bundle;
	ho.connect_timeout = o->connect_timeout;
	ho.transfer_timeout = o->transfer_timeout;
	ho.max_body = REG_MAX_BODY;
	c->http = http_new(&ho);

	/*
	 * Without TLS verification a registry may speak plain HTTP: try
	 * https, and http when no TLS answer came, as container tools do.
	 */
	if (!o->tls_verify) {
		http_resp_init(&resp);
		if (get(c, "/v2/", NULL, &resp, why, sizeof(why)) == -1 &&
		    !resp.aborted)
			c->scheme = "http";
		http_resp_free(&resp);
	}
	return 0;
}

static void
client_close(struct client *c)
{
	http_free(c->http);
	registry_ref_free(&c->ref);
	free(c->apihost);
	free(c->name);
	freezero_str(c->userpwd);
	freezero_str(c->token);
	memset(c, 0, sizeof(*c));
}

/* An upload's next URL from the answer's Location, or NULL. */
static char *
upload_location(struct client *c, const struct http_resp *resp)
{
	char	*loc = http_resp_header(resp, "Location"), *u;

	if (loc == NULL || *loc == '\0' || strpbrk(loc, "\r\n ") != NULL) {
		free(loc);
		return NULL;
	}
	u = reg_url(c, loc);
	free(loc);
	return u;
}

/* Fails with the registry's message for what, and -1. */
static int
push_fail(struct client *c, const struct http_resp *resp, const char *what,
    char *err, size_t errlen)
{
	char	 msg[512];

	registry_message(resp, msg, sizeof(msg));
	snprintf(err, errlen, "pushing to %.200s: %s: %.400s%s", c->name, what,
	    msg, resp->status == 401 && c->userpwd == NULL ?
	    " (no credentials for this registry)" : "");
	return -1;
}

/* Makes one blob of the archive exist in the repository. */
static int
push_blob(struct client *c, struct registry_push *p, const struct archive *a,
    const struct tar_entry *e, const char *digest, char *err, size_t errlen)
{
	struct reg_call		 rc;
	struct http_resp	 resp;
	const char		*hdrs[3];
	char			*path = NULL, *url = NULL, *next, *esc, why[512];
	char			 range[64];
	off_t			 done = 0, n;
	size_t			 chunk = p->chunk_size ? p->chunk_size :
				    REG_CHUNK_DEFAULT;
	int			 rv = -1;

	http_resp_init(&resp);
	memset(&rc, 0, sizeof(rc));
	rc.method = "HEAD";
	path = xasprintf("/v2/%s/blobs/%s", c->ref.repo, digest);
	if (call(c, path, &rc, &resp, why, sizeof(why)) == -1)
		goto neterr;
	if (resp.status == 200) {
		p->present++;
		rv = 0;
		goto cleanup;
	}
	free(path);
	if (p->mount_from != NULL && strcmp(p->mount_from, c->ref.repo) != 0) {
		esc = http_escape(p->mount_from);
		path = xasprintf("/v2/%s/blobs/uploads/?mount=%s&from=%s",
		    c->ref.repo, digest, esc);
		free(esc);
	} else
		path = xasprintf("/v2/%s/blobs/uploads/", c->ref.repo);
	memset(&rc, 0, sizeof(rc));
	rc.method = "POST";
	rc.no_redirect = 1;
	if (call(c, path, &rc, &resp, why, sizeof(why)) == -1)
		goto neterr;
	if (resp.status == 201 && p->mount_from != NULL) {
		p->mounted++;
		rv = 0;
		goto cleanup;
	}
	if (resp.status != 202) {
		push_fail(c, &resp, "starting an upload", err, errlen);
		goto cleanup;
	}
	if ((url = upload_location(c, &resp)) == NULL) {
		snprintf(err, errlen, "pushing to %.200s: the registry started "
		    "an upload without a usable Location", c->name);
		goto cleanup;
	}
	hdrs[0] = "Content-Type: application/octet-stream";
	hdrs[1] = range;
	hdrs[2] = NULL;
	while (done < e->size) {
		n = e->size - done < (off_t)chunk ? e->size - done : (off_t)chunk;
		snprintf(range, sizeof(range), "Content-Range: %lld-%lld",
		    (long long)done, (long long)(done + n - 1));
		memset(&rc, 0, sizeof(rc));
		rc.method = "PATCH";
		rc.headers = hdrs;
		rc.body_path = a->path;
		rc.body_off = e->off + done;
		rc.body_size = n;
		rc.no_redirect = 1;
		if (call(c, url, &rc, &resp, why, sizeof(why)) == -1)
			goto neterr;
		if (resp.status != 202) {
			push_fail(c, &resp, "uploading a chunk", err, errlen);
			goto cleanup;
		}
		p->chunks++;
		done += n;
		if ((next = upload_location(c, &resp)) == NULL) {
			snprintf(err, errlen, "pushing to %.200s: a chunk's "
			    "answer has no usable Location", c->name);
			goto cleanup;
		}
		free(url);
		url = next;
	}
	next = xasprintf("%s%sdigest=%s", url, strchr(url, '?') ? "&" : "?",
	    digest);
	free(url);
	url = next;
	memset(&rc, 0, sizeof(rc));
	rc.method = "PUT";
	rc.no_redirect = 1;
	if (call(c, url, &rc, &resp, why, sizeof(why)) == -1)
		goto neterr;
	if (resp.status != 201) {
		push_fail(c, &resp, "completing an upload", err, errlen);
		goto cleanup;
	}
	p->uploaded++;
	rv = 0;
	goto cleanup;
neterr:
	snprintf(err, errlen, "pushing to %.200s: %.400s", c->name,
	    resp.aborted ? "canceled" : why);
cleanup:
	http_resp_free(&resp);
	free(path);
	free(url);
	return rv;
}

int
registry_push_archive(const struct registry_opts *o, struct registry_push *p,
    const char *archive, const char *dest, char **digest, char *err,
    size_t errlen)
{
	struct client		 c;
	struct archive		 a;
	struct reg_call		 rc;
	struct http_resp	 resp;
	const struct tar_entry	*ie, *me, *be, *blobs[REG_MAX_LAYERS + 1];
	json_object		*idx = NULL, *man = NULL, *ms, *m0, *ls, *l;
	const char		*mdig, *mt, *d, *hdrs[2];
	const char		*bdig[REG_MAX_LAYERS + 1];
	char			*data = NULL, *mdata = NULL, *got = NULL;
	char			*path = NULL, *ct = NULL, why[512];
	size_t			 i, nb = 0, nl;
	int			 rv = -1;

	*digest = NULL;
	memset(&c, 0, sizeof(c));
	http_resp_init(&resp);
	if (archive_open(&a, archive, err, errlen) == -1)
		return -1;
	if ((ie = archive_find(&a, "index.json")) == NULL) {
		snprintf(err, errlen, "the image archive %s has no index.json "
		    "(not an OCI archive)", archive);
		goto cleanup;
	}
	if ((data = archive_read(&a, ie, err, errlen)) == NULL)
		goto cleanup;
	idx = json_tokener_parse(data);
	if (idx == NULL || !json_object_object_get_ex(idx, "manifests", &ms) ||
	    !json_object_is_type(ms, json_type_array) ||
	    json_object_array_length(ms) != 1 ||
	    (m0 = json_object_array_get_idx(ms, 0)) == NULL ||
	    (mdig = str_of(m0, "digest")) == NULL) {
		snprintf(err, errlen, "the image archive's index.json does not "
		    "name exactly one manifest");
		goto cleanup;
	}
	mt = str_of(m0, "mediaType");
	if (mt != NULL && is_index(mt)) {
		snprintf(err, errlen, "the image archive holds an image index; "
		    "only a single image can be pushed");
		goto cleanup;
	}
	if ((me = archive_blob(&a, mdig, -1, err, errlen)) == NULL ||
	    (mdata = archive_read(&a, me, err, errlen)) == NULL)
		goto cleanup;
	got = sha256_digest(mdata, me->size);
	if (strcmp(got, mdig) != 0) {
		snprintf(err, errlen, "the manifest in the image archive does "
		    "not match its digest");
		goto cleanup;
	}
	man = json_tokener_parse(mdata);
	if (mt == NULL)
		mt = str_of(man, "mediaType");
	if (mt == NULL)
		mt = MT_OCI_MANIFEST;
	if (man == NULL || !json_object_object_get_ex(man, "config", &l) ||
	    (d = str_of(l, "digest")) == NULL ||
	    !json_object_object_get_ex(man, "layers", &ls) ||
	    !json_object_is_type(ls, json_type_array)) {
		snprintf(err, errlen, "the manifest in the image archive has "
		    "no config or layers");
		goto cleanup;
	}
	nl = json_object_array_length(ls);
	if (nl > REG_MAX_LAYERS) {
		snprintf(err, errlen, "the image has more than %d layers",
		    REG_MAX_LAYERS);
		goto cleanup;
	}
	/* Every blob is checked before anything is sent. */
	for (i = 0; i <= nl; i++) {
		json_object *sz;

		if (i > 0) {
			l = json_object_array_get_idx(ls, i - 1);
			d = str_of(l, "digest");
		}
		if (d == NULL || !json_object_object_get_ex(l, "size", &sz) ||
		    !json_object_is_type(sz, json_type_int)) {
			snprintf(err, errlen, "a blob of the image's manifest "
			    "has no digest or size");
			goto cleanup;
		}
		if ((be = archive_blob(&a, d, json_object_get_int64(sz), err,
		    errlen)) == NULL)
			goto cleanup;
		blobs[nb] = be;
		bdig[nb++] = d;
	}
	if (client_open(&c, o, dest, p->userpwd, err, errlen) == -1)
		goto cleanup;
	if (c.ref.tag == NULL || c.ref.digest != NULL) {
		snprintf(err, errlen, "push destination %.300s must name a tag "
		    "and no digest", dest);
		goto cleanup;
	}
	for (i = 0; i < nb; i++)
		if (push_blob(&c, p, &a, blobs[i], bdig[i], err, errlen) == -1)
			goto cleanup;

	/* The manifest last: it refers to the blobs. */
	ct = xasprintf("Content-Type: %s", mt);
	hdrs[0] = ct;
	hdrs[1] = NULL;
	memset(&rc, 0, sizeof(rc));
	rc.method = "PUT";
	rc.headers = hdrs;
	rc.body_path = archive;
	rc.body_off = me->off;
	rc.body_size = me->size;
	rc.no_redirect = 1;
	path = xasprintf("/v2/%s/manifests/%s", c.ref.repo, c.ref.tag);
	if (call(&c, path, &rc, &resp, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "pushing to %.200s: %.400s", c.name,
		    resp.aborted ? "canceled" : why);
		goto cleanup;
	}
	if (resp.status != 201) {
		push_fail(&c, &resp, "putting the manifest", err, errlen);
		goto cleanup;
	}
	*digest = got;
	got = NULL;
	rv = 0;
cleanup:
	http_resp_free(&resp);
	json_object_put(idx);
	json_object_put(man);
	free(data);
	free(mdata);
	free(got);
	free(path);
	free(ct);
	client_close(&c);
	archive_close(&a);
	return rv;
}

/* ---- reading an image's files ---- */

void
registry_inspect_free(struct registry_inspect *in)
{
	registry_image_free(&in->img);
	free(in->arch);
	free(in->os);
	json_object_put(in->labels);
	in->arch = in->os = NULL;
	in->labels = NULL;
}

/* Reads exactly len bytes of the (decompressed) layer; -1 at its end. */
static int
gz_full(gzFile gz, void *p, size_t len)
{
	int	 r;

	while (len > 0) {
		r = gzread(gz, p, len > (1u << 30) ? (1u << 30) : (unsigned)len);
		if (r <= 0)
			return -1;
		p = (char *)p + r;
		len -= (size_t)r;
	}
	return 0;
}

static int
gz_skip(gzFile gz, off_t n)
{
	char	 b[8192];

	while (n > 0) {
		size_t k = n > (off_t)sizeof(b) ? sizeof(b) : (size_t)n;

		if (gz_full(gz, b, k) == -1)
			return -1;
		n -= (off_t)k;
	}
	return 0;
}

/* Walks the tar in file path (gzip or not) through the callbacks. */
static int
layer_walk(const char *path, const struct registry_inspect *in, char *err,
    size_t errlen)
{
	unsigned char	 h[512];
	char		 name[512], *longname = NULL, *data;
	const char	*np;
	off_t		 size, pad, take;
	gzFile		 gz;
	int		 rv = -1, zeros = 0;

	if ((gz = gzopen(path, "rb")) == NULL) {
		snprintf(err, errlen, "opening a layer: %s", strerror(errno));
		return -1;
	}
	for (;;) {
		if (gz_full(gz, h, sizeof(h)) == -1) {
			if (zeros > 0)
				break;
			goto bad;
		}
		if (h[0] == '\0') {
			if (++zeros == 2)
				break;
			continue;
		}
		zeros = 0;
		if (memcmp(h + 257, "ustar", 5) != 0 ||
		    tar_octal((char *)h + 124, 12, &size) == -1)
			goto bad;
		pad = (size + 511) / 512 * 512 - size;
		if (h[156] == 'L') {
			if (size <= 0 || size > 4096)
				goto bad;
			free(longname);
			longname = xmalloc(size + 1);
			if (gz_full(gz, longname, size) == -1 ||
			    gz_skip(gz, pad) == -1)
				goto bad;
			longname[size] = '\0';
			continue;
		}
		if (h[156] == 'x' || h[156] == 'g') {
			if (gz_skip(gz, size + pad) == -1)
				goto bad;
			continue;
		}
		if (longname != NULL)
			snprintf(name, sizeof(name), "%.511s", longname);
		else if (h[345] != '\0')
			snprintf(name, sizeof(name), "%.155s/%.100s",
			    (char *)h + 345, (char *)h);
		else
			snprintf(name, sizeof(name), "%.100s", (char *)h);
		free(longname);
		longname = NULL;
		for (np = name; *np == '.' && np[1] == '/'; np += 2)
			;
		while (*np == '/')
			np++;
		if ((h[156] == '0' || h[156] == '\0') && in->want(np)) {
			take = size > (off_t)REG_MAX_FILE ? (off_t)REG_MAX_FILE :
			    size;
			data = xmalloc(take + 1);
			if (gz_full(gz, data, take) == -1 ||
			    gz_skip(gz, size - take + pad) == -1) {
				free(data);
				goto bad;
			}
			data[take] = '\0';
			in->file(in->arg, np, data, take);
			free(data);
			continue;
		}
		in->file(in->arg, np, NULL, 0);
		if (h[156] != '1' && h[156] != '2' && h[156] != '5' &&
		    gz_skip(gz, size + pad) == -1)
			goto bad;
	}
	rv = 0;
	goto cleanup;
bad:
	snprintf(err, errlen, "a layer is not a (gzip) tar file");
cleanup:
	free(longname);
	gzclose(gz);
	return rv;
}

int
registry_inspect(const struct registry_opts *o, const char *source,
    const char *arch, struct registry_inspect *in, char *err, size_t errlen)
{
	struct client		 c;
	struct http_resp	 resp;
	struct http_req		 req;
	json_object		*man = NULL, *cfg = NULL, *ls, *l, *v, *cc;
	char			*path = NULL, *mdig = NULL, *mtype = NULL;
	char			*tmp = NULL, *url, *got = NULL, msg[512], why[512];
	const char		*d;
	size_t			 i, n;
	int			 rv = -1, fd;

	in->arch = in->os = NULL;
	in->labels = NULL;
	in->size = 0;
	if (registry_resolve(o, source, arch, &in->img, err, errlen) == -1)
		return -1;
	http_resp_init(&resp);
	if (client_open(&c, o, source, NULL, err, errlen) == -1)
		goto cleanup;
	if (fetch_manifest(&c, in->img.digest, &man, &mdig, &mtype, err,
	    errlen) == -1)
		goto cleanup;
	path = xasprintf("/v2/%s/blobs/%s", c.ref.repo, in->img.image_id);
	if (get(&c, path, NULL, &resp, why, sizeof(why)) == -1 ||
	    resp.status != 200) {
		if (resp.status != 0)
			registry_message(&resp, why, sizeof(why));
		snprintf(err, errlen, "reading the image config of %.200s: "
		    "%.400s", c.name, why);
		goto cleanup;
	}
	got = sha256_digest(resp.body.data, resp.body.len);
	cfg = json_tokener_parse(resp.body.data ? resp.body.data : "");
	if (strcmp(got, in->img.image_id) != 0 || cfg == NULL) {
		snprintf(err, errlen, "the image config of %s does not match "
		    "its digest or is not JSON", c.name);
		goto cleanup;
	}
	if ((d = str_of(cfg, "architecture")) != NULL)
		in->arch = xstrdup(d);
	if ((d = str_of(cfg, "os")) != NULL)
		in->os = xstrdup(d);
	if (json_object_object_get_ex(cfg, "config", &cc) &&
	    json_object_object_get_ex(cc, "Labels", &v) &&
	    json_object_is_type(v, json_type_object))
		in->labels = json_object_get(v);
	if (!json_object_object_get_ex(man, "layers", &ls) ||
	    !json_object_is_type(ls, json_type_array) ||
	    (n = json_object_array_length(ls)) > REG_MAX_LAYERS) {
		snprintf(err, errlen, "the manifest of %s has no usable layer "
		    "list", c.name);
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		l = json_object_array_get_idx(ls, i);
		if ((d = str_of(l, "digest")) == NULL || !valid_digest(d)) {
			snprintf(err, errlen, "a layer of %s has no valid "
			    "digest", c.name);
			goto cleanup;
		}
		if (json_object_object_get_ex(l, "size", &v))
			in->size += json_object_get_int64(v);
		free(tmp);
		tmp = xasprintf("%s/layer-XXXXXX", in->tmpdir);
		if ((fd = mkstemp(tmp)) == -1) {
			snprintf(err, errlen, "a file for a layer in %s: %s",
			    in->tmpdir, strerror(errno));
			free(tmp);
			tmp = NULL;
			goto cleanup;
		}
		close(fd);
		free(path);
		path = xasprintf("/v2/%s/blobs/%s", c.ref.repo, d);
		/* Layers stream to the file; redirects (to storage) too. */
		url = reg_url(&c, path);
		memset(&req, 0, sizeof(req));
		req.url = url;
		req.out_path = tmp;
		req.abort = o->abort;
		req.bearer = c.basic ? NULL : c.token;
		req.userpwd = c.basic ? c.userpwd : NULL;
		http_resp_free(&resp);
		http_resp_init(&resp);
		rv = http_do(c.http, &req, &resp);
		free(url);
		if (rv == -1 || resp.status != 200) {
			if (rv == 0) {
				registry_message(&resp, msg, sizeof(msg));
				snprintf(why, sizeof(why), "%s", msg);
			} else
				snprintf(why, sizeof(why), "%s", resp.error);
			rv = -1;
			snprintf(err, errlen, "reading layer %.80s of %.200s: "
			    "%.300s", d, c.name, why);
			goto cleanup;
		}
		rv = -1;
		if (layer_walk(tmp, in, err, errlen) == -1)
			goto cleanup;
		unlink(tmp);
	}
	rv = 0;
cleanup:
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	if (rv == -1)
		registry_inspect_free(in);
	json_object_put(man);
	json_object_put(cfg);
	http_resp_free(&resp);
	free(path);
	free(mdig);
	free(mtype);
	free(got);
	client_close(&c);
	return rv;
}
