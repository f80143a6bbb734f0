/*
 * Oracle Cloud Infrastructure over the project's HTTP layer. Every request
 * is signed as OCI's API keys sign (draft-cavage HTTP signatures): date,
 * (request-target) and host, and for a JSON body its SHA-256, type and
 * length too; object bodies (PUT of an object or a part) are not part of
 * the signature, as OCI's own SDKs leave them out.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "backoff.h"
#include "cloud.h"
#include "http.h"
#include "jsonutil.h"
#include "log.h"
#include "oci.h"
#include "util.h"

#define OCI_DEFAULT_PART	(INT64_C(64) << 20)
#define OCI_MAX_PARTS		10000
#define OCI_NAME_MAX		256
#define OCI_JSON_MAX		(1 << 20)

struct oci {
	char			*user, *tenancy, *fingerprint, *region;
	char			*keyid;
	EVP_PKEY		*pkey;		/* secret */
	struct http		*http;
	char			*os_url;	/* Object Storage */
	char			*iaas_url;	/* Compute, work requests */
	int64_t			 part_size;
	int			 tries;
	int64_t			 backoff_cap, poll_ms, op_timeout;
	const atomic_int	*abort;
	int			 aborted;
	char			 err[1024];
};

/* One call: a signed JSON body, or an unsigned file range, or nothing. */
struct oreq {
	const char	*method;
	const char	*url;
	const char	*json;
	const char	*path;
	off_t		 off, size;
	int		 idempotent;	/* POSTs carry a retry token */
};

static int
charset_ok(const char *s, size_t max, const char *extra)
{
	size_t	 n;

	if (s == NULL || *s == '\0' || (n = strlen(s)) > max)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr(extra, *s) != NULL))
			return 0;
	return 1;
}

int
oci_ocid_ok(const char *s)
{
	return charset_ok(s, 255, "._-") && strncmp(s, "ocid1.", 6) == 0;
}

int
oci_region_ok(const char *s)
{
	return charset_ok(s, 64, "-");
}

int
oci_name_ok(const char *s)
{
	return charset_ok(s, OCI_NAME_MAX, "._-") && strcmp(s, ".") != 0 &&
	    strcmp(s, "..") != 0;
}

int
oci_fingerprint_ok(const char *s)
{
	return charset_ok(s, 128, ":");
}

static void
seterr(struct oci *o, const char *what, const struct http_resp *resp)
{
	json_object	*doc = NULL;
	const char	*code = NULL, *msg = NULL;
	char		 clean[600];

	if (resp->status == 0) {
		snprintf(o->err, sizeof(o->err), "%s: %s", what,
		    resp->aborted ? "canceled" : resp->error);
		return;
	}
	if (resp->body.len > 0 && resp->body.len < OCI_JSON_MAX)
		doc = json_tokener_parse(resp->body.data);
	if (doc != NULL) {
		code = json_get_str(doc, "code");
		msg = json_get_str(doc, "message");
	}
	cloud_clean_copy(clean, sizeof(clean), msg != NULL ? msg :
	    resp->body.len > 0 ? resp->body.data : "", 500);
	snprintf(o->err, sizeof(o->err), "%s: HTTP %ld%s%.60s%s%s", what,
	    resp->status, code != NULL ? " " : "",
	    code != NULL && text_is_printable(code, 60) ? code : "",
	    *clean ? ": " : "", clean);
	json_object_put(doc);
}

int
oci_key_ok(const char *pem)
{
	BIO		*bio;
	EVP_PKEY	*pkey = NULL;
	int		 ok;

	if (pem == NULL || (bio = BIO_new_mem_buf(pem, -1)) == NULL)
		return 0;
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	ok = pkey != NULL && EVP_PKEY_base_id(pkey) == EVP_PKEY_RSA;
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return ok;
}

struct oci *
oci_new(const struct oci_cfg *c, char *err, size_t errlen)
{
	struct http_opts	 ho;
	struct oci		*o;
	BIO			*bio = NULL;
	EVP_PKEY		*pkey = NULL;
	char			*d;

	if (!oci_ocid_ok(c->user) || !oci_ocid_ok(c->tenancy)) {
		snprintf(err, errlen, "the user and tenancy must be OCIDs "
		    "(ocid1.user..., ocid1.tenancy...)");
		return NULL;
	}
	if (!oci_fingerprint_ok(c->fingerprint)) {
		snprintf(err, errlen, "the fingerprint must be the API key's "
		    "hexadecimal fingerprint");
		return NULL;
	}
	if (!oci_region_ok(c->region)) {
		snprintf(err, errlen, "the region must be a name such as "
		    "us-ashburn-1");
		return NULL;
	}
	if (c->private_key == NULL ||
	    (bio = BIO_new_mem_buf(c->private_key, -1)) == NULL ||
	    (pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL ||
	    EVP_PKEY_base_id(pkey) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "the private key is not an unencrypted "
		    "PEM RSA private key");
		EVP_PKEY_free(pkey);
		BIO_free(bio);
		return NULL;
	}
	BIO_free(bio);
	o = xcalloc(1, sizeof(*o));
	o->pkey = pkey;
	o->user = xstrdup(c->user);
	o->tenancy = xstrdup(c->tenancy);
	o->fingerprint = xstrdup(c->fingerprint);
	o->region = xstrdup(c->region);
	o->keyid = xasprintf("%s/%s/%s", c->tenancy, c->user, c->fingerprint);
	d = xasprintf("https://objectstorage.%s.oraclecloud.com", c->region);
	o->os_url = xstrdup(cloud_env_or("IB_OCI_OBJECTSTORAGE_URL", d));
	free(d);
	d = xasprintf("https://iaas.%s.oraclecloud.com", c->region);
	o->iaas_url = xstrdup(cloud_env_or("IB_OCI_IAAS_URL", d));
	free(d);
	o->part_size = c->part_size > 0 ? c->part_size : OCI_DEFAULT_PART;
	o->tries = c->tries > 0 ? c->tries : 6;
	o->backoff_cap = c->backoff_cap > 0 ? c->backoff_cap : 20000;
	o->poll_ms = c->poll_ms > 0 ? c->poll_ms : 5000;
	o->op_timeout = c->op_timeout > 0 ? c->op_timeout : 3 * 3600;
	o->abort = c->abort;
	memset(&ho, 0, sizeof(ho));
	ho.connect_timeout = c->connect_timeout;
	ho.transfer_timeout = 300;
	o->http = http_new(&ho);
	return o;
}

void
oci_free(struct oci *o)
{
	if (o == NULL)
		return;
	EVP_PKEY_free(o->pkey);
	http_free(o->http);
	free(o->user);
	free(o->tenancy);
	free(o->fingerprint);
	free(o->region);
	free(o->keyid);
	free(o->os_url);
	free(o->iaas_url);
	free(o);
}

const char *
oci_error(const struct oci *o)
{
	return o->err;
}

int
oci_aborted(const struct oci *o)
{
	return o->aborted;
}

void
oci_set_abort(struct oci *o, const atomic_int *abort)
{
	o->abort = abort;
}

char *
oci_authorization(const struct oci *o, const char *headers,
    const char *const *values)
{
	struct buf	 s;
	EVP_MD_CTX	*md = NULL;
	unsigned char	*sig = NULL;
	size_t		 siglen = 0;
	const char	*p, *e;
	char		*b64 = NULL, *out = NULL;
	int		 i = 0;

	buf_init(&s);
	for (p = headers; *p; p = *e ? e + 1 : e, i++) {
		e = p + strcspn(p, " ");
		buf_printf(&s, "%s%.*s: %s", i ? "\n" : "", (int)(e - p), p,
		    values[i]);
	}
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, o->pkey) != 1 ||
	    EVP_DigestSign(md, NULL, &siglen, (unsigned char *)s.data,
	    s.len) != 1)
		goto cleanup;
	sig = xmalloc(siglen);
	if (EVP_DigestSign(md, sig, &siglen, (unsigned char *)s.data,
	    s.len) != 1)
		goto cleanup;
	b64 = base64_encode(sig, siglen);
	out = xasprintf("Signature version=\"1\",headers=\"%s\",keyId=\"%s\","
	    "algorithm=\"rsa-sha256\",signature=\"%s\"", headers, o->keyid,
	    b64);
cleanup:
	EVP_MD_CTX_free(md);
	free(sig);
	free(b64);
	buf_free(&s);
	return out;
}

static char *
sha256_b64(const char *data, size_t len)
{
	unsigned char	 d[EVP_MAX_MD_SIZE];
	unsigned int	 dl = 0;

	if (EVP_Digest(data, len, d, &dl, EVP_sha256(), NULL) != 1)
		fatalx("oci: SHA-256 failed");
	return base64_encode(d, dl);
}

/* One signed try of r; 0 when an answer came (any status). */
static int
try_once(struct oci *o, const struct oreq *r, const char *token,
    struct http_resp *resp)
{
	struct http_req	 req;
	const char	*vals[6], *hdrs[6], *after, *slash;
	char		 date[64], *host = NULL, *target = NULL, *auth = NULL;
	char		*hdate = NULL, *hauth = NULL, *hsha = NULL, *sha = NULL;
	char		*len = NULL, *htok = NULL, *m;
	struct tm	 tm;
	time_t		 now = time(NULL);
	int		 nh = 0, rv = -1;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	after = strstr(r->url, "://");
	after = after != NULL ? after + 3 : r->url;
	slash = after + strcspn(after, "/");
	host = xstrndup(after, slash - after);
	m = xstrdup(r->method);
	for (char *c = m; *c; c++)
		*c = (*c >= 'A' && *c <= 'Z') ? *c + 32 : *c;
	target = xasprintf("%s %s", m, *slash ? slash : "/");
	free(m);
	vals[0] = date;
	vals[1] = target;
	vals[2] = host;
	if (r->json != NULL) {
		sha = sha256_b64(r->json, strlen(r->json));
		len = xasprintf("%zu", strlen(r->json));
		vals[3] = sha;
		vals[4] = "application/json";
		vals[5] = len;
		auth = oci_authorization(o, "date (request-target) host "
		    "x-content-sha256 content-type content-length", vals);
	} else
		auth = oci_authorization(o, "date (request-target) host", vals);
	if (auth == NULL) {
		snprintf(resp->error, sizeof(resp->error),
		    "cannot sign the request");
		goto cleanup;
	}
	hdate = xasprintf("Date: %s", date);
	hauth = xasprintf("Authorization: %s", auth);
	hdrs[nh++] = hdate;
	hdrs[nh++] = hauth;
	if (sha != NULL) {
		hsha = xasprintf("x-content-sha256: %s", sha);
		hdrs[nh++] = hsha;
	}
	if (token != NULL) {
		htok = xasprintf("opc-retry-token: %s", token);
		hdrs[nh++] = htok;
	}
	hdrs[nh] = NULL;

	memset(&req, 0, sizeof(req));
	req.method = r->method;
	req.url = r->url;
	req.headers = hdrs;
	if (r->json != NULL) {
		req.content_type = "application/json";
		req.body = r->json;
		req.body_len = strlen(r->json);
	} else if (r->path != NULL) {
		req.content_type = "application/octet-stream";
		req.body_path = r->path;
		req.body_off = r->off;
		req.body_size = r->size;
		req.timeout = -1;
	}
	req.max_body = OCI_JSON_MAX;
	req.abort = o->abort;
	rv = http_do(o->http, &req, resp);
cleanup:
	if (auth != NULL)
		freezero_str(auth);
	if (hauth != NULL)
		freezero_str(hauth);
	free(host);
	free(target);
	free(hdate);
	free(hsha);
	free(sha);
	free(len);
	free(htok);
	return rv;
}

/*
 * r with retries on the answers worth another try. 0 for a 2xx, -1 with
 * "what: why" in err; resp keeps the last answer either way.
 */
static int
call(struct oci *o, const char *what, const struct oreq *r,
    struct http_resp *resp)
{
	struct backoff	 bo;
	unsigned char	 rnd[16];
	char		 token[40];
	int64_t		 wait;
	int		 try, i;

	token[0] = '\0';
	if (r->idempotent) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			fatalx("oci: no random bytes");
		for (i = 0; i < 16; i++)
			snprintf(token + 2 * i, 3, "%02x", rnd[i]);
	}
	backoff_init(&bo, 500, o->backoff_cap);
	for (try = 1;; try++) {
		http_resp_free(resp);
		http_resp_init(resp);
		if (try_once(o, r, *token ? token : NULL, resp) == 0 &&
		    resp->status >= 200 && resp->status < 300)
			return 0;
		if (resp->aborted || (o->abort != NULL && *o->abort)) {
			o->aborted = 1;
			snprintf(o->err, sizeof(o->err), "%s: canceled", what);
			return -1;
		}
		seterr(o, what, resp);
		if (!cloud_retryable(resp->status) || try >= o->tries)
			return -1;
		wait = http_retry_after(resp, backoff_next(&bo),
		    o->backoff_cap);
		log_info("oci: %s; retrying in %lld ms (%d/%d)", o->err,
		    (long long)wait, try, o->tries);
		if (sleep_abortable(wait, o->abort) == -1) {
			o->aborted = 1;
			snprintf(o->err, sizeof(o->err), "%s: canceled", what);
			return -1;
		}
	}
}

/* The answer as a JSON document, or NULL with err set. */
static json_object *
answer_json(struct oci *o, const char *what, const struct http_resp *resp)
{
	json_object	*doc = NULL;

	if (resp->body.len > 0)
		doc = json_tokener_parse(resp->body.data);
	if (doc == NULL)
		snprintf(o->err, sizeof(o->err), "%s: the answer is not JSON",
		    what);
	return doc;
}

int
oci_upload(struct oci *o, const char *ns, const char *bucket,
    const char *object, const char *path)
{
	struct http_resp resp;
	struct oreq	 r;
	struct stat	 st;
	json_object	*doc = NULL, *commit = NULL, *parts, *p;
	const char	*upload_id;
	char		*url = NULL, *body = NULL, *etag, *uid = NULL;
	int64_t		 part, off;
	int		 n, rv = -1, created = 0;

	http_resp_init(&resp);
	if (stat(path, &st) == -1) {
		snprintf(o->err, sizeof(o->err), "%s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (!oci_name_ok(ns) || !oci_name_ok(bucket) || !oci_name_ok(object)) {
		snprintf(o->err, sizeof(o->err), "invalid namespace, bucket "
		    "or object name");
		return -1;
	}
	memset(&r, 0, sizeof(r));
	if (st.st_size <= o->part_size) {
		url = xasprintf("%s/n/%s/b/%s/o/%s", o->os_url, ns, bucket,
		    object);
		r.method = "PUT";
		r.url = url;
		r.path = path;
		r.size = st.st_size;
		rv = call(o, "putting the object", &r, &resp);
		goto cleanup;
	}

	part = o->part_size;
	if ((st.st_size + part - 1) / part > OCI_MAX_PARTS)
		part = (st.st_size + OCI_MAX_PARTS - 1) / OCI_MAX_PARTS;
	url = xasprintf("%s/n/%s/b/%s/u", o->os_url, ns, bucket);
	body = xasprintf("{\"object\":\"%s\"}", object);
	r.method = "POST";
	r.url = url;
	r.json = body;
	r.idempotent = 1;
	if (call(o, "creating the multipart upload", &r, &resp) == -1)
		goto cleanup;
	if ((doc = answer_json(o, "creating the multipart upload",
	    &resp)) == NULL)
		goto cleanup;
	upload_id = json_get_str(doc, "uploadId");
	if (upload_id == NULL || !charset_ok(upload_id, 256, "._-")) {
		snprintf(o->err, sizeof(o->err), "creating the multipart "
		    "upload: no usable uploadId in the answer");
		goto cleanup;
	}
	uid = xstrdup(upload_id);
	created = 1;
	commit = json_object_new_object();
	parts = json_object_new_array();
	json_object_object_add(commit, "partsToCommit", parts);
	for (n = 1, off = 0; off < st.st_size; n++, off += part) {
		free(url);
		url = xasprintf("%s/n/%s/b/%s/u/%s?uploadId=%s&uploadPartNum="
		    "%d", o->os_url, ns, bucket, object, uid, n);
		memset(&r, 0, sizeof(r));
		r.method = "PUT";
		r.url = url;
		r.path = path;
		r.off = off;
		r.size = st.st_size - off < part ? st.st_size - off : part;
		if (call(o, "uploading a part", &r, &resp) == -1)
			goto cleanup;
		etag = http_resp_header(&resp, "etag");
		if (etag == NULL || !text_is_printable(etag, 256)) {
			free(etag);
			snprintf(o->err, sizeof(o->err), "uploading part %d: "
			    "no ETag in the answer", n);
			goto cleanup;
		}
		p = json_object_new_object();
		json_object_object_add(p, "partNum", json_object_new_int(n));
		json_object_object_add(p, "etag", json_object_new_string(etag));
		json_object_array_add(parts, p);
		free(etag);
	}
	free(url);
	url = xasprintf("%s/n/%s/b/%s/u/%s?uploadId=%s", o->os_url, ns,
	    bucket, object, uid);
	memset(&r, 0, sizeof(r));
	r.method = "POST";
	r.url = url;
	r.json = json_object_to_json_string_ext(commit,
	    JSON_C_TO_STRING_PLAIN);
	r.idempotent = 1;
	if (call(o, "committing the multipart upload", &r, &resp) == -1)
		goto cleanup;
	log_info("oci: %s uploaded in %d parts", object, n - 1);
	rv = 0;
cleanup:
	if (rv == -1 && created) {
		/* No half-made upload may stay behind, canceled or not. */
		const atomic_int *ab = o->abort;
		char		 keep[sizeof(o->err)];

		memcpy(keep, o->err, sizeof(keep));
		o->abort = NULL;
		free(url);
		url = xasprintf("%s/n/%s/b/%s/u/%s?uploadId=%s", o->os_url,
		    ns, bucket, object, uid);
		memset(&r, 0, sizeof(r));
		r.method = "DELETE";
		r.url = url;
		if (call(o, "aborting the multipart upload", &r, &resp) == -1)
			log_warnx("oci: %s", o->err);
		o->abort = ab;
		memcpy(o->err, keep, sizeof(keep));
	}
	json_object_put(doc);
	json_object_put(commit);
	http_resp_free(&resp);
	free(url);
	free(body);
	free(uid);
	return rv;
}

int
oci_delete_object(struct oci *o, const char *ns, const char *bucket,
    const char *object)
{
	struct http_resp resp;
	struct oreq	 r;
	char		*url;
	int		 rv;

	if (!oci_name_ok(ns) || !oci_name_ok(bucket) || !oci_name_ok(object))
		return -1;
	url = xasprintf("%s/n/%s/b/%s/o/%s", o->os_url, ns, bucket, object);
	memset(&r, 0, sizeof(r));
	r.method = "DELETE";
	r.url = url;
	http_resp_init(&resp);
	rv = call(o, "deleting the object", &r, &resp);
	http_resp_free(&resp);
	free(url);
	return rv;
}

/* Why a failed work request failed: its errors, into err. */
static void
work_request_errors(struct oci *o, const char *wr)
{
	struct http_resp resp;
	struct oreq	 r;
	json_object	*doc = NULL, *e;
	const char	*code, *msg;
	char		*url, clean[400];

	url = xasprintf("%s/20160918/workRequests/%s/errors", o->iaas_url, wr);
	memset(&r, 0, sizeof(r));
	r.method = "GET";
	r.url = url;
	http_resp_init(&resp);
	if (call(o, "reading the work request's errors", &r, &resp) == 0 &&
	    (doc = answer_json(o, "work request errors", &resp)) != NULL &&
	    json_object_is_type(doc, json_type_array) &&
	    json_object_array_length(doc) > 0) {
		e = json_object_array_get_idx(doc, 0);
		code = json_get_str(e, "code");
		msg = json_get_str(e, "message");
		cloud_clean_copy(clean, sizeof(clean), msg ? msg : "", 300);
		snprintf(o->err, sizeof(o->err), "the image import failed: "
		    "%.60s: %s", code && text_is_printable(code, 60) ? code :
		    "", clean);
	} else
		snprintf(o->err, sizeof(o->err), "the image import failed");
	json_object_put(doc);
	http_resp_free(&resp);
	free(url);
}

static int
wait_work_request(struct oci *o, const char *wr)
{
	struct http_resp resp;
	struct oreq	 r;
	json_object	*doc = NULL;
	const char	*st;
	char		*url;
	int64_t		 deadline = now_ms() + o->op_timeout * 1000;
	int		 rv = -1;

	url = xasprintf("%s/20160918/workRequests/%s", o->iaas_url, wr);
	http_resp_init(&resp);
	for (;;) {
		memset(&r, 0, sizeof(r));
		r.method = "GET";
		r.url = url;
		if (call(o, "reading the image's work request", &r,
		    &resp) == -1)
			break;
		json_object_put(doc);
		if ((doc = answer_json(o, "work request", &resp)) == NULL)
			break;
		st = json_get_str(doc, "status");
		if (st != NULL && strcmp(st, "SUCCEEDED") == 0) {
			rv = 0;
			break;
		}
		if (st == NULL || strcmp(st, "FAILED") == 0 ||
		    strcmp(st, "CANCELED") == 0) {
			if (st != NULL && strcmp(st, "FAILED") == 0)
				work_request_errors(o, wr);
			else
				snprintf(o->err, sizeof(o->err), "the image "
				    "import's work request is %s",
				    st != NULL && text_is_printable(st, 30) ?
				    st : "in no known status");
			break;
		}
		if (now_ms() > deadline) {
			snprintf(o->err, sizeof(o->err), "the image import "
			    "took longer than %lld s",
			    (long long)o->op_timeout);
			break;
		}
		if (sleep_abortable(o->poll_ms, o->abort) == -1) {
			o->aborted = 1;
			snprintf(o->err, sizeof(o->err), "the image import "
			    "was canceled");
			break;
		}
	}
	json_object_put(doc);
	http_resp_free(&resp);
	free(url);
	return rv;
}

static json_object *
enum_descriptor(const char *const *values, const char *dflt)
{
	json_object	*d = json_object_new_object(), *a;

	json_object_object_add(d, "descriptorType",
	    json_object_new_string("enumstring"));
	json_object_object_add(d, "source", json_object_new_string("IMAGE"));
	a = json_object_new_array();
	for (; *values; values++)
		json_object_array_add(a, json_object_new_string(*values));
	json_object_object_add(d, "values", a);
	json_object_object_add(d, "defaultValue",
	    json_object_new_string(dflt));
	return d;
}

/* The paravirtualized defaults the reference gives every image. */
static int
capability_schema(struct oci *o, const char *compartment, const char *image)
{
	static const char *const pv[] = { "PARAVIRTUALIZED", NULL };
	static const char *const launch[] = { "NATIVE", "PARAVIRTUALIZED",
		NULL };
	struct http_resp resp;
	struct oreq	 r;
	json_object	*doc = NULL, *req = NULL, *data;
	const char	*version = NULL;
	char		*url;
	int		 rv = -1;

	url = xasprintf("%s/20160918/computeGlobalImageCapabilitySchemas"
	    "?limit=1", o->iaas_url);
	memset(&r, 0, sizeof(r));
	r.method = "GET";
	r.url = url;
	http_resp_init(&resp);
	if (call(o, "listing the global capability schemas", &r,
	    &resp) == -1)
		goto cleanup;
	if ((doc = answer_json(o, "global capability schemas",
	    &resp)) == NULL)
		goto cleanup;
	if (json_object_is_type(doc, json_type_array) &&
	    json_object_array_length(doc) > 0)
		version = json_get_str(json_object_array_get_idx(doc, 0),
		    "currentVersionName");
	if (version == NULL || !text_is_printable(version, 256)) {
		snprintf(o->err, sizeof(o->err), "no global capability "
		    "schema version found");
		goto cleanup;
	}
	req = json_object_new_object();
	json_object_object_add(req, "compartmentId",
	    json_object_new_string(compartment));
	json_object_object_add(req, "imageId", json_object_new_string(image));
	json_object_object_add(req,
	    "computeGlobalImageCapabilitySchemaVersionName",
	    json_object_new_string(version));
	data = json_object_new_object();
	json_object_object_add(data, "Storage.RemoteDataVolumeType",
	    enum_descriptor(pv, pv[0]));
	json_object_object_add(data, "Storage.LocalDataVolumeType",
	    enum_descriptor(pv, pv[0]));
	json_object_object_add(data, "Storage.BootVolumeType",
	    enum_descriptor(pv, pv[0]));
	json_object_object_add(data, "Network.AttachmentType",
	    enum_descriptor(pv, pv[0]));
	json_object_object_add(data, "Compute.LaunchMode",
	    enum_descriptor(launch, "PARAVIRTUALIZED"));
	json_object_object_add(req, "schemaData", data);
	free(url);
	url = xasprintf("%s/20160918/computeImageCapabilitySchemas",
	    o->iaas_url);
	memset(&r, 0, sizeof(r));
	r.method = "POST";
	r.url = url;
	r.json = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	r.idempotent = 1;
	rv = call(o, "creating the image's capability schema", &r, &resp);
cleanup:
	json_object_put(doc);
	json_object_put(req);
	http_resp_free(&resp);
	free(url);
	return rv;
}

char *
oci_create_image(struct oci *o, const char *compartment, const char *ns,
    const char *bucket, const char *object, const char *display_name)
{
	struct http_resp resp;
	struct oreq	 r;
	json_object	*req, *src, *tags, *doc = NULL;
	const char	*id;
	char		*url, *wr = NULL, *image = NULL;

	if (!oci_ocid_ok(compartment)) {
		snprintf(o->err, sizeof(o->err), "the compartment must be an "
		    "OCID");
		return NULL;
	}
	req = json_object_new_object();
	json_object_object_add(req, "compartmentId",
	    json_object_new_string(compartment));
	json_object_object_add(req, "displayName",
	    json_object_new_string(display_name));
	tags = json_object_new_object();
	json_object_object_add(tags, "Uploaded-By",
	    json_object_new_string("osbuild-composer"));
	json_object_object_add(tags, "Name",
	    json_object_new_string(display_name));
	json_object_object_add(req, "freeformTags", tags);
	src = json_object_new_object();
	json_object_object_add(src, "sourceType",
	    json_object_new_string("objectStorageTuple"));
	json_object_object_add(src, "namespaceName",
	    json_object_new_string(ns));
	json_object_object_add(src, "bucketName",
	    json_object_new_string(bucket));
	json_object_object_add(src, "objectName",
	    json_object_new_string(object));
	json_object_object_add(src, "sourceImageType",
	    json_object_new_string("QCOW2"));
	json_object_object_add(req, "imageSourceDetails", src);
	url = xasprintf("%s/20160918/images", o->iaas_url);
	memset(&r, 0, sizeof(r));
	r.method = "POST";
	r.url = url;
	r.json = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	r.idempotent = 1;
	http_resp_init(&resp);
	if (call(o, "creating the image", &r, &resp) == -1)
		goto cleanup;
	if ((doc = answer_json(o, "creating the image", &resp)) == NULL)
		goto cleanup;
	id = json_get_str(doc, "id");
	wr = http_resp_header(&resp, "opc-work-request-id");
	if (!oci_ocid_ok(id) || !oci_ocid_ok(wr)) {
		snprintf(o->err, sizeof(o->err), "creating the image: no "
		    "image or work request OCID in the answer");
		goto cleanup;
	}
	log_info("oci: image %s importing (work request %s)", id, wr);
	if (wait_work_request(o, wr) == -1 ||
	    capability_schema(o, compartment, id) == -1)
		goto cleanup;
	image = xstrdup(id);
cleanup:
	json_object_put(req);
	json_object_put(doc);
	http_resp_free(&resp);
	free(url);
	free(wr);
	return image;
}

char *
oci_preauth(struct oci *o, const char *ns, const char *bucket,
    const char *object, time_t expires)
{
	struct http_resp resp;
	struct oreq	 r;
	struct tm	 tm;
	json_object	*req, *doc = NULL;
	const char	*uri;
	char		 when[40], *url, *name, *out = NULL, *base;

	if (!oci_name_ok(ns) || !oci_name_ok(bucket) || !oci_name_ok(object)) {
		snprintf(o->err, sizeof(o->err), "invalid namespace, bucket "
		    "or object name");
		return NULL;
	}
	gmtime_r(&expires, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	name = xasprintf("pre-auth-req-for-%s", object);
	req = json_object_new_object();
	json_object_object_add(req, "name", json_object_new_string(name));
	json_object_object_add(req, "objectName",
	    json_object_new_string(object));
	json_object_object_add(req, "accessType",
	    json_object_new_string("ObjectRead"));
	json_object_object_add(req, "bucketListingAction",
	    json_object_new_string("Deny"));
	json_object_object_add(req, "timeExpires",
	    json_object_new_string(when));
	url = xasprintf("%s/n/%s/b/%s/p/", o->os_url, ns, bucket);
	memset(&r, 0, sizeof(r));
	r.method = "POST";
	r.url = url;
	r.json = json_object_to_json_string_ext(req,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	r.idempotent = 1;
	http_resp_init(&resp);
	if (call(o, "creating the pre-authenticated request", &r,
	    &resp) == -1)
		goto cleanup;
	if ((doc = answer_json(o, "pre-authenticated request",
	    &resp)) == NULL)
		goto cleanup;
	uri = json_get_str(doc, "accessUri");
	if (uri == NULL || strncmp(uri, "/p/", 3) != 0 ||
	    !text_is_printable(uri, 2048) || strpbrk(uri, " \"<>\\") != NULL) {
		snprintf(o->err, sizeof(o->err), "creating the "
		    "pre-authenticated request: no usable accessUri");
		goto cleanup;
	}
	/* The customer-facing host the reference returns; tests: theirs. */
	if (getenv("IB_OCI_OBJECTSTORAGE_URL") != NULL)
		base = xstrdup(o->os_url);
	else
		base = xasprintf("https://%s.objectstorage.%s.oci."
		    "customer-oci.com", ns, o->region);
	out = xasprintf("%s%s", base, uri);
	free(base);
cleanup:
	json_object_put(req);
	json_object_put(doc);
	http_resp_free(&resp);
	free(url);
	free(name);
	return out;
}
