/*
 * Pulp 3's REST API for ostree content, written from Pulp's API reference:
 * /pulp/api/v3/uploads/ (chunks as multipart/form-data with Content-Range,
 * commit with the file's SHA-256, which Pulp checks), the ostree
 * repositories, distributions and import_all, and the tasks they start.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "cloud.h"
#include "http.h"
#include "jsonutil.h"
#include "log.h"
#include "pulp.h"
#include "util.h"

#define API		"/pulp/api/v3/"
#define HREF_MAX	512
#define URL_MAX		2048

struct pulp {
	struct http		*http;
	char			*origin;	/* scheme://host[:port] */
	char			*api;		/* server + API */
	char			*userpwd;	/* secret */
	struct cloud_client	 cl;
	int64_t			 poll_ms;
	int64_t			 task_timeout;
	int			 retries;
};

int
pulp_server_ok(const char *s)
{
	const char	*p;

	if (s == NULL || strlen(s) > 1024 ||
	    (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0))
		return 0;
	for (p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '?' ||
		    *p == '#' || *p == '@' || *p == '\\')
			return 0;
	p = strstr(s, "://") + 3;
	return *p != '\0' && *p != '/';
}

/* Pulp's message: {"detail": "..."} or {"field": ["...", ...], ...}. */
static void
set_error(void *arg, const char *what, const struct http_resp *r)
{
	struct pulp	*p = arg;
	json_object	*doc = NULL, *v;
	char		 msg[600], clean[700];

	msg[0] = '\0';
	if (r->status == 0) {
		snprintf(p->cl.err, sizeof(p->cl.err), "%s: %s", what,
		    r->error);
		return;
	}
	if (r->body.len > 0 && r->body.data[0] == '{')
		doc = json_tokener_parse(r->body.data);
	if (doc != NULL && json_object_is_type(doc, json_type_object)) {
		if (json_get_str(doc, "detail") != NULL)
			snprintf(msg, sizeof(msg), "%s",
			    json_get_str(doc, "detail"));
		else {
			json_object_object_foreach(doc, k, val) {
				v = json_object_is_type(val, json_type_array) &&
				    json_object_array_length(val) > 0 ?
				    json_object_array_get_idx(val, 0) : val;
				snprintf(msg, sizeof(msg), "%s: %s", k,
				    json_object_get_string(v));
				break;
			}
		}
	}
	if (msg[0] == '\0' && r->body.len > 0)
		snprintf(msg, sizeof(msg), "%s", r->body.data);
	cloud_clean_copy(clean, sizeof(clean), msg, 600);
	snprintf(p->cl.err, sizeof(p->cl.err), "%s: HTTP %ld %s", what,
	    r->status, clean);
	json_object_put(doc);
}

struct pulp *
pulp_new(const struct pulp_cfg *c)
{
	struct pulp		*p;
	struct http_opts	 ho;
	size_t			 n;

	p = xcalloc(1, sizeof(*p));
	memset(&ho, 0, sizeof(ho));
	ho.connect_timeout = c->connect_timeout;
	ho.transfer_timeout = 600;
	ho.max_body = 4 * 1024 * 1024;
	p->http = http_new(&ho);
	p->origin = xstrndup(c->server, url_origin_len(c->server));
	n = strlen(c->server);
	while (n > 0 && c->server[n - 1] == '/')
		n--;
	p->api = xasprintf("%.*s%s", (int)n, c->server, API);
	p->userpwd = xasprintf("%s:%s", c->username, c->password);
	p->poll_ms = c->poll_ms > 0 ? c->poll_ms : 1000;
	p->task_timeout = c->task_timeout > 0 ? c->task_timeout : 3600;
	p->cl.name = "pulp";
	p->cl.http = p->http;
	p->cl.set_error = set_error;
	p->cl.arg = p;
	p->cl.tries = c->tries > 0 ? c->tries : 5;
	p->cl.backoff_cap = c->backoff_cap > 0 ? c->backoff_cap : 20000;
	p->cl.abort = c->abort;
	p->cl.retries = &p->retries;
	return p;
}

void
pulp_free(struct pulp *p)
{
	if (p == NULL)
		return;
	http_free(p->http);
	free(p->origin);
	free(p->api);
	freezero_str(p->userpwd);
	cloud_client_clear(&p->cl);
	free(p);
}

const char *
pulp_error(const struct pulp *p)
{
	return p->cl.err;
}

int
pulp_aborted(const struct pulp *p)
{
	return p->cl.aborted;
}

/* One call with basic authentication and retries; 0 on 2xx. */
static int
call(struct pulp *p, const char *what, const char *method, const char *url,
    const char *ctype, const void *body, size_t len,
    const char *const *hdrs, struct http_resp *resp)
{
	struct http_req	 req;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.url = url;
	req.headers = hdrs;
	req.content_type = ctype;
	req.body = body;
	req.body_len = len;
	req.userpwd = p->userpwd;
	return cloud_do(&p->cl, what, 0, 0, &req, resp);
}

/* A JSON call: body is a JSON document or NULL; *doc the answer's. */
static int
jcall(struct pulp *p, const char *what, const char *method, const char *url,
    json_object *body, json_object **doc)
{
	struct http_resp	 resp;
	const char		*s = NULL;
	int			 rv = -1;

	*doc = NULL;
	http_resp_init(&resp);
	if (body != NULL)
		s = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (call(p, what, method, url, s ? "application/json" : NULL, s,
	    s ? strlen(s) : 0, NULL, &resp) == -1)
		goto cleanup;
	if (resp.body.len == 0 || (*doc = json_tokener_parse(resp.body.data)) ==
	    NULL || !json_object_is_type(*doc, json_type_object)) {
		json_object_put(*doc);
		*doc = NULL;
		snprintf(p->cl.err, sizeof(p->cl.err), "%s: the answer is not "
		    "a JSON object", what);
		goto cleanup;
	}
	rv = 0;
cleanup:
	http_resp_free(&resp);
	return rv;
}

/* An href of Pulp's that may be appended to the origin: an absolute path
 * of [A-Za-z0-9/_.-] without "..". */
static int
href_ok(const char *s)
{
	const char	*c;

	if (s == NULL || s[0] != '/' || strlen(s) > HREF_MAX ||
	    strstr(s, "..") != NULL)
		return 0;
	for (c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '/' || *c == '_' ||
		    *c == '.' || *c == '-'))
			return 0;
	return 1;
}

/* The href under key of doc, checked, copied; NULL with err. */
static char *
take_href(struct pulp *p, const char *what, json_object *doc,
    const char *key)
{
	const char	*s = json_get_str(doc, key);

	if (!href_ok(s)) {
		snprintf(p->cl.err, sizeof(p->cl.err), "%s: no usable %s in "
		    "the answer", what, key);
		return NULL;
	}
	return xstrdup(s);
}

/*
 * Polls the task to its end; 0 when it completed, with the first of its
 * created resources in *created (caller frees) when created is not NULL.
 */
static int
task_wait(struct pulp *p, const char *what, const char *task, char **created)
{
	json_object	*doc = NULL, *e, *res;
	const char	*state, *desc;
	char		*url, clean[600];
	int64_t		 end = now_ms() + p->task_timeout * 1000;
	int		 rv = -1;

	url = xasprintf("%s%s", p->origin, task);
	for (;;) {
		json_object_put(doc);
		if (jcall(p, what, "GET", url, NULL, &doc) == -1)
			goto cleanup;
		state = json_get_str(doc, "state");
		if (state == NULL) {
			snprintf(p->cl.err, sizeof(p->cl.err), "%s: the task "
			    "has no state", what);
			goto cleanup;
		}
		if (strcmp(state, "completed") == 0)
			break;
		if (strcmp(state, "waiting") != 0 &&
		    strcmp(state, "running") != 0) {
			desc = json_object_object_get_ex(doc, "error", &e) ?
			    json_get_str(e, "description") : NULL;
			cloud_clean_copy(clean, sizeof(clean), desc ? desc : "",
			    500);
			snprintf(p->cl.err, sizeof(p->cl.err), "%s: the task "
			    "%.20s%s%s", what, text_is_printable(state, 20) ?
			    state : "ended", desc ? ": " : "", desc ? clean : "");
			goto cleanup;
		}
		if (now_ms() > end) {
			snprintf(p->cl.err, sizeof(p->cl.err), "%s: the task "
			    "did not end in %lld s", what,
			    (long long)p->task_timeout);
			goto cleanup;
		}
		if (cloud_sleep(&p->cl, p->poll_ms) == -1)
			goto cleanup;
	}
	if (created != NULL) {
		res = json_get_arr(doc, "created_resources");
		*created = NULL;
		if (res == NULL || json_object_array_length(res) < 1 ||
		    !href_ok(json_object_get_string(
		    json_object_array_get_idx(res, 0)))) {
			snprintf(p->cl.err, sizeof(p->cl.err), "%s: the task "
			    "created nothing usable", what);
			goto cleanup;
		}
		*created = xstrdup(json_object_get_string(
		    json_object_array_get_idx(res, 0)));
	}
	rv = 0;
cleanup:
	json_object_put(doc);
	free(url);
	return rv;
}

/* A call answered with {"task": HREF}, the task waited for. */
static int
task_call(struct pulp *p, const char *what, const char *url,
    json_object *body, char **created)
{
	json_object	*doc = NULL;
	char		*task = NULL;
	int		 rv = -1;

	if (jcall(p, what, "POST", url, body, &doc) == -1 ||
	    (task = take_href(p, what, doc, "task")) == NULL)
		goto cleanup;
	rv = task_wait(p, what, task, created);
cleanup:
	json_object_put(doc);
	free(task);
	return rv;
}

/* The repository's href with one trailing '/'; caller frees. */
static char *
slashed(const char *href)
{
	size_t	 n = strlen(href);

	return n > 0 && href[n - 1] == '/' ? xstrdup(href) :
	    xasprintf("%s/", href);
}

/*
 * GETs the Pulp list at API/path?key=value: *first is its first result,
 * NULL when it is empty, borrowed from *doc (the caller puts it). With
 * unique, more than one result is an error. 0, or -1 with err.
 */
static int
list_first(struct pulp *p, const char *what, const char *path,
    const char *key, const char *value, int unique, json_object **doc,
    json_object **first)
{
	json_object	*res;
	char		*url, *e;
	size_t		 n;
	int		 rv = -1;

	*first = NULL;
	e = http_escape(value);
	url = xasprintf("%s%s?%s=%s", p->api, path, key, e);
	free(e);
	if (jcall(p, what, "GET", url, NULL, doc) == -1)
		goto cleanup;
	res = json_get_arr(*doc, "results");
	n = res != NULL ? json_object_array_length(res) : 0;
	if (unique && n > 1) {
		snprintf(p->cl.err, sizeof(p->cl.err), "%s: more than one "
		    "has that %s", what, key);
		goto cleanup;
	}
	if (n > 0)
		*first = json_object_array_get_idx(res, 0);
	rv = 0;
cleanup:
	free(url);
	return rv;
}

int
pulp_repo_find(struct pulp *p, const char *name, char **href)
{
	static const char *what = "looking up the repository";
	json_object	*doc = NULL, *repo;
	int		 rv = -1;

	*href = NULL;
	if (list_first(p, what, "repositories/ostree/ostree/", "name", name, 1,
	    &doc, &repo) == 0 && (repo == NULL || (*href = take_href(p, what,
	    repo, "pulp_href")) != NULL))
		rv = 0;
	json_object_put(doc);
	return rv;
}

int
pulp_repo_create(struct pulp *p, const char *name, char **href)
{
	static const char *what = "creating the repository";
	json_object	*doc = NULL, *body;
	char		*url;
	int		 rv = -1;

	body = json_object_new_object();
	json_object_object_add(body, "name", json_object_new_string(name));
	url = xasprintf("%srepositories/ostree/ostree/", p->api);
	if (jcall(p, what, "POST", url, body, &doc) == 0 &&
	    (*href = take_href(p, what, doc, "pulp_href")) != NULL)
		rv = 0;
	json_object_put(doc);
	json_object_put(body);
	free(url);
	return rv;
}

int
pulp_distribute(struct pulp *p, const char *base_path, const char *name,
    const char *repo)
{
	json_object	*body;
	char		*url;
	int		 rv;

	body = json_object_new_object();
	json_object_object_add(body, "name", json_object_new_string(name));
	json_object_object_add(body, "base_path",
	    json_object_new_string(base_path));
	json_object_object_add(body, "repository",
	    json_object_new_string(repo));
	url = xasprintf("%sdistributions/ostree/ostree/", p->api);
	rv = task_call(p, "distributing the repository", url, body, NULL);
	json_object_put(body);
	free(url);
	return rv;
}

int
pulp_import_commit(struct pulp *p, const char *repo, const char *artifact)
{
	json_object	*body;
	char		*url, *r;
	int		 rv;

	body = json_object_new_object();
	json_object_object_add(body, "artifact",
	    json_object_new_string(artifact));
	/* The archive osbuild makes holds its ostree repository as "repo". */
	json_object_object_add(body, "repository_name",
	    json_object_new_string("repo"));
	r = slashed(repo);
	url = xasprintf("%s%simport_all/", p->origin, r);
	rv = task_call(p, "importing the commit", url, body, NULL);
	json_object_put(body);
	free(url);
	free(r);
	return rv;
}

int
pulp_distribution_url(struct pulp *p, const char *repo, char **out)
{
	static const char *what = "looking up the distribution";
	json_object	*doc = NULL, *dist;
	const char	*u;
	int		 rv = -1;

	*out = NULL;
	if (list_first(p, what, "distributions/ostree/ostree/", "repository",
	    repo, 0, &doc, &dist) == -1)
		goto cleanup;
	if (dist != NULL) {
		u = json_get_str(dist, "base_url");
		if (u == NULL || !text_is_printable(u, URL_MAX) ||
		    strchr(u, ' ') != NULL || (strncmp(u, "https://", 8) != 0 &&
		    strncmp(u, "http://", 7) != 0)) {
			snprintf(p->cl.err, sizeof(p->cl.err), "%s: the "
			    "distribution has no usable base_url", what);
			goto cleanup;
		}
		*out = xstrdup(u);
	}
	rv = 0;
cleanup:
	json_object_put(doc);
	return rv;
}

/* ---- uploads ---- */

static void
hex(const unsigned char *d, size_t n, char *out)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* A form boundary that does not occur in data[0..n). */
static void
boundary(char *b, size_t len, const void *data, size_t n)
{
	unsigned char	 r[12];
	FILE		*f;

	do {
		if ((f = fopen("/dev/urandom", "re")) == NULL ||
		    fread(r, 1, sizeof(r), f) != sizeof(r))
			fatalx("cannot read /dev/urandom");
		fclose(f);
		snprintf(b, len, "ib-form-");
		hex(r, sizeof(r), b + 8);
	} while (memmem(data, n, b, strlen(b)) != NULL);
}

/* PUTs data[0..n) at off of the upload as a "file" form field, with the
 * chunk's SHA-256 in a "sha256" field. */
static int
put_chunk(struct pulp *p, const char *url, const unsigned char *data,
    size_t n, int64_t off)
{
	unsigned char	 md[32];
	unsigned int	 mdlen = sizeof(md);
	char		 b[40], sum[65], *ctype, *range;
	const char	*hdrs[2];
	struct buf	 body;
	struct http_resp resp;
	int		 rv;

	EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL);
	hex(md, sizeof(md), sum);
	boundary(b, sizeof(b), data, n);
	buf_init(&body);
	buf_printf(&body, "--%s\r\nContent-Disposition: form-data; "
	    "name=\"file\"; filename=\"chunk\"\r\nContent-Type: "
	    "application/octet-stream\r\n\r\n", b);
	buf_add(&body, data, n);
	buf_printf(&body, "\r\n--%s\r\nContent-Disposition: form-data; "
	    "name=\"sha256\"\r\n\r\n%s\r\n--%s--\r\n", b, sum, b);
	ctype = xasprintf("multipart/form-data; boundary=%s", b);
	range = xasprintf("Content-Range: bytes %lld-%lld/*", (long long)off,
	    (long long)(off + (int64_t)n - 1));
	hdrs[0] = range;
	hdrs[1] = NULL;
	http_resp_init(&resp);
	rv = call(p, "uploading a chunk", "PUT", url, ctype, body.data,
	    body.len, hdrs, &resp);
	http_resp_free(&resp);
	buf_free(&body);
	free(ctype);
	free(range);
	return rv;
}

int
pulp_upload(struct pulp *p, const char *path, char **artifact)
{
	static const char *what = "starting the upload";
	EVP_MD_CTX	*md = NULL;
	unsigned char	*chunk = NULL, sum[32];
	unsigned int	 sumlen = sizeof(sum);
	json_object	*doc = NULL, *body = NULL;
	struct stat	 st;
	char		*url = NULL, *upload = NULL, *r, hexsum[65];
	int64_t		 off;
	ssize_t		 n;
	int		 fd, rv = -1;

	*artifact = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		snprintf(p->cl.err, sizeof(p->cl.err), "%s: %s", path,
		    strerror(errno));
		goto cleanup;
	}
	if (st.st_size == 0) {
		snprintf(p->cl.err, sizeof(p->cl.err), "the commit archive is "
		    "empty");
		goto cleanup;
	}
	body = json_object_new_object();
	json_object_object_add(body, "size",
	    json_object_new_int64(st.st_size));
	url = xasprintf("%suploads/", p->api);
	if (jcall(p, what, "POST", url, body, &doc) == -1 ||
	    (upload = take_href(p, what, doc, "pulp_href")) == NULL)
		goto cleanup;
	free(url);
	url = xasprintf("%s%s", p->origin, upload);
	md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	chunk = xmalloc(PULP_CHUNK);
	for (off = 0; off < st.st_size; off += n) {
		if (p->cl.abort != NULL && atomic_load(p->cl.abort)) {
			p->cl.aborted = 1;
			snprintf(p->cl.err, sizeof(p->cl.err), "canceled");
			goto cleanup;
		}
		n = pread(fd, chunk, st.st_size - off < PULP_CHUNK ?
		    (size_t)(st.st_size - off) : (size_t)PULP_CHUNK, off);
		if (n <= 0) {
			snprintf(p->cl.err, sizeof(p->cl.err), "%s: %s", path,
			    n == 0 ? "shorter than it was" : strerror(errno));
			goto cleanup;
		}
		EVP_DigestUpdate(md, chunk, n);
		if (put_chunk(p, url, chunk, n, off) == -1)
			goto cleanup;
	}
	EVP_DigestFinal_ex(md, sum, &sumlen);
	hex(sum, sizeof(sum), hexsum);
	json_object_put(body);
	body = json_object_new_object();
	json_object_object_add(body, "sha256", json_object_new_string(hexsum));
	free(url);
	r = slashed(upload);
	url = xasprintf("%s%scommit/", p->origin, r);
	free(r);
	rv = task_call(p, "committing the upload", url, body, artifact);
cleanup:
	EVP_MD_CTX_free(md);
	free(chunk);
	json_object_put(doc);
	json_object_put(body);
	free(url);
	free(upload);
	if (fd != -1)
		close(fd);
	return rv;
}
