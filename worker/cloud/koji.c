/*
 * Koji's hub over XML-RPC. The session travels in each call's query
 * (session-id, session-key, callnum), as Koji's clients send it; a retry
 * repeats the call number, which the hub answers from its record of the
 * last call instead of running it twice. The session key is a credential:
 * no URL of a session call reaches a log or an error.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gssapi/gssapi_krb5.h>
#include <krb5.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "backoff.h"
#include "cloud.h"
#include "http.h"
#include "jsonutil.h"
#include "koji.h"
#include "log.h"
#include "util.h"
#include "xml.h"

#define KOJI_ANSWER_MAX		(8 << 20)
#define KOJI_DEFAULT_CHUNK	(1 << 20)

struct koji {
	char			*server;
	struct http		*http;
	char			*principal, *keytab;
	krb5_context		 kctx;		/* with kcc: the ticket */
	krb5_ccache		 kcc;
	int			 tries;
	int64_t			 backoff_cap, chunk_size;
	long			 timeout;	/* s per call */
	const atomic_int	*abort;
	int			 aborted;
	int64_t			 session_id;
	char			*session_key;	/* secret */
	int64_t			 callnum;
	char			 err[1024];
};

int
koji_dir_ok(const char *d)
{
	const char	*p, *e;

	if (d == NULL || *d == '\0' || *d == '/' || strlen(d) > 1024)
		return 0;
	for (p = d; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("._-/+", *p) != NULL))
			return 0;
	for (p = d; *p; p = *e ? e + 1 : e) {
		e = p + strcspn(p, "/");
		if (e == p || (e - p == 1 && *p == '.') ||
		    (e - p == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
	}
	return 1;
}

struct koji *
koji_new(const struct koji_cfg *c)
{
	struct http_opts	 ho;
	struct koji		*k;
	size_t			 o;

	if (c->server == NULL || (strncmp(c->server, "https://", 8) != 0 &&
	    strncmp(c->server, "http://", 7) != 0) ||
	    !text_is_printable(c->server, 2048) ||
	    strpbrk(c->server, "?#@ ") != NULL ||
	    (o = url_origin_len(c->server)) == 0)
		return NULL;
	k = xcalloc(1, sizeof(*k));
	k->server = xstrdup(c->server);
	if (c->principal != NULL && c->keytab != NULL) {
		k->principal = xstrdup(c->principal);
		k->keytab = xstrdup(c->keytab);
	}
	k->tries = c->tries > 0 ? c->tries : 6;
	k->backoff_cap = c->backoff_cap > 0 ? c->backoff_cap : 20000;
	k->chunk_size = c->chunk_size > 0 ? c->chunk_size : KOJI_DEFAULT_CHUNK;
	k->timeout = 60 * (c->relax_timeout_factor > 0 ?
	    c->relax_timeout_factor : 1);
	k->abort = c->abort;
	memset(&ho, 0, sizeof(ho));
	ho.connect_timeout = c->connect_timeout;
	ho.transfer_timeout = k->timeout;
	k->http = http_new(&ho);
	return k;
}

void
koji_free(struct koji *k)
{
	if (k == NULL)
		return;
	http_free(k->http);
	free(k->server);
	free(k->principal);
	free(k->keytab);
	if (k->kcc != NULL) {
		OM_uint32 minor;

		gss_krb5_ccache_name(&minor, NULL, NULL);
		krb5_cc_destroy(k->kctx, k->kcc);
	}
	if (k->kctx != NULL)
		krb5_free_context(k->kctx);
	if (k->session_key != NULL)
		freezero_str(k->session_key);
	free(k);
}

const char *
koji_error(const struct koji *k)
{
	return k->err;
}

int
koji_aborted(const struct koji *k)
{
	return k->aborted;
}

void
koji_set_abort(struct koji *k, const atomic_int *abort)
{
	k->abort = abort;
}

/*
 * POSTs body to url (query: extra, then the session's) with retries; on an
 * HTTP 200 reads the XML-RPC answer into *out. A retry keeps the call
 * number. 0, or -1 with "what: why" in err.
 */
static int
post(struct koji *k, const char *what, const char *path_suffix,
    const char *extra, const char *ctype, const void *body, size_t len,
    int negotiate, json_object **out)
{
	struct http_req	 req;
	struct http_resp resp;
	struct backoff	 bo;
	struct buf	 url;
	char		 fault[512], clean[600], *key = NULL;
	int64_t		 wait;
	int		 try, rc, rv = -1;

	*out = NULL;
	buf_init(&url);
	buf_printf(&url, "%s%s", k->server, path_suffix);
	if (extra != NULL || k->session_key != NULL)
		buf_addstr(&url, "?");
	if (extra != NULL)
		buf_printf(&url, "%s%s", extra, k->session_key ? "&" : "");
	if (k->session_key != NULL) {
		key = http_escape(k->session_key);
		buf_printf(&url, "session-id=%" PRId64 "&session-key=%s"
		    "&callnum=%" PRId64, k->session_id, key, k->callnum);
		freezero_str(key);
	}
	backoff_init(&bo, 500, k->backoff_cap);
	http_resp_init(&resp);
	for (try = 1;; try++) {
		memset(&req, 0, sizeof(req));
		req.method = "POST";
		req.url = url.data;
		req.content_type = ctype;
		req.body = body;
		req.body_len = len;
		req.negotiate = negotiate;
		req.max_body = KOJI_ANSWER_MAX;
		req.abort = k->abort;
		http_resp_free(&resp);
		http_resp_init(&resp);
		rc = http_do(k->http, &req, &resp);
		if (rc == 0 && resp.status == 200)
			break;
		if (resp.aborted || (k->abort != NULL && *k->abort)) {
			k->aborted = 1;
			snprintf(k->err, sizeof(k->err), "%s: canceled", what);
			goto cleanup;
		}
		if (rc == -1)
			snprintf(k->err, sizeof(k->err), "%s: %s", what,
			    resp.error);
		else {
			cloud_clean_copy(clean, sizeof(clean), resp.body.len ?
			    resp.body.data : "", 300);
			snprintf(k->err, sizeof(k->err), "%s: HTTP %ld%s%s",
			    what, resp.status, *clean ? ": " : "", clean);
		}
		if (!cloud_retryable(resp.status) || try >= k->tries)
			goto cleanup;
		wait = http_retry_after(&resp, backoff_next(&bo),
		    k->backoff_cap);
		log_info("koji: %s; retrying in %lld ms (%d/%d)", k->err,
		    (long long)wait, try, k->tries);
		if (sleep_abortable(wait, k->abort) == -1) {
			k->aborted = 1;
			snprintf(k->err, sizeof(k->err), "%s: canceled", what);
			goto cleanup;
		}
	}
	rc = xml_rpc_answer(resp.body.data, resp.body.len, out, fault,
	    sizeof(fault));
	if (rc != 0) {
		cloud_clean_copy(clean, sizeof(clean), fault, 500);
		snprintf(k->err, sizeof(k->err), "%s: %s%s", what,
		    rc == 1 ? "the hub answered a fault: " : "", clean);
		goto cleanup;
	}
	rv = 0;
cleanup:
	if (k->session_key != NULL)
		k->callnum++;
	explicit_bzero(url.data, url.len);
	buf_free(&url);
	http_resp_free(&resp);
	return rv;
}

int
koji_call(struct koji *k, const char *method, json_object *params,
    json_object **out)
{
	json_object	*none = NULL;
	char		*doc;
	size_t		 len = 0;
	int		 rv;

	if (params == NULL)
		params = none = json_object_new_array();
	doc = xml_rpc_call(method, params, &len);
	json_object_put(none);
	if (doc == NULL) {
		snprintf(k->err, sizeof(k->err), "%s: cannot encode the call",
		    method);
		return -1;
	}
	rv = post(k, method, "", NULL, "text/xml", doc, len, 0, out);
	free(doc);
	return rv;
}

/* "what: Kerberos's message" into err; returns -1. */
static int
kerr(struct koji *k, krb5_error_code code, const char *what)
{
	const char	*m = krb5_get_error_message(k->kctx, code);

	snprintf(k->err, sizeof(k->err), "%s: %s", what, m);
	krb5_free_error_message(k->kctx, m);
	return -1;
}

/* The keytab named by a path (FILE:) or TYPE:RESIDUAL. */
static krb5_error_code
kt_open(krb5_context kctx, const char *keytab, krb5_keytab *kt)
{
	krb5_error_code	 code;
	char		*name;

	name = strchr(keytab, ':') == NULL ? xasprintf("FILE:%s", keytab) :
	    xstrdup(keytab);
	code = krb5_kt_resolve(kctx, name, kt);
	free(name);
	return code;
}

int
koji_keytab_check(const char *keytab, const char *principal, char *why,
    size_t len)
{
	krb5_context	 kctx = NULL;
	krb5_principal	 me = NULL;
	krb5_keytab	 kt = NULL;
	krb5_kt_cursor	 cur;
	krb5_keytab_entry ent;
	krb5_error_code	 code;
	const char	*m, *what;
	int		 rv = -1, seq = 0;

	if ((code = krb5_init_context(&kctx)) != 0) {
		snprintf(why, len, "Kerberos: cannot start (error %d)",
		    (int)code);
		return -1;
	}
	what = "the principal";
	if ((code = krb5_parse_name(kctx, principal, &me)) != 0)
		goto cleanup;
	what = "the keytab";
	if ((code = kt_open(kctx, keytab, &kt)) != 0 || (code = krb5_kt_start_seq_get(kctx, kt, &cur)) != 0)
		goto cleanup;
	seq = 1;
	while ((code = krb5_kt_next_entry(kctx, kt, &ent, &cur)) == 0) {
		if (krb5_principal_compare(kctx, me, ent.principal))
			rv = 0;
		krb5_free_keytab_entry_contents(kctx, &ent);
		if (rv == 0)
			break;
	}
	if (rv == -1 && code == KRB5_KT_END) {
		snprintf(why, len, "the keytab holds no key of %s", principal);
		code = 0;
	}
cleanup:
	if (code != 0) {
		m = krb5_get_error_message(kctx, code);
		snprintf(why, len, "%s: %s", what, m);
		krb5_free_error_message(kctx, m);
	}
	if (seq)
		krb5_kt_end_seq_get(kctx, kt, &cur);
	if (kt != NULL)
		krb5_kt_close(kctx, kt);
	krb5_free_principal(kctx, me);
	krb5_free_context(kctx);
	return rv;
}

/*
 * A ticket-granting ticket for the principal from the keytab, in a
 * memory cache that this thread's GSSAPI, and so libcurl's SPNEGO, uses.
 */
static int
kinit(struct koji *k)
{
	krb5_get_init_creds_opt *opt = NULL;
	krb5_principal	 me = NULL;
	krb5_keytab	 kt = NULL;
	krb5_creds	 creds;
	krb5_error_code	 code;
	OM_uint32	 minor;
	char		 name[64];
	int		 rv = -1, got = 0;

	memset(&creds, 0, sizeof(creds));
	if (k->kctx == NULL && (code = krb5_init_context(&k->kctx)) != 0) {
		snprintf(k->err, sizeof(k->err), "Kerberos: cannot start "
		    "(error %d)", (int)code);
		return -1;
	}
	if ((code = krb5_parse_name(k->kctx, k->principal, &me)) != 0) {
		kerr(k, code, "Kerberos principal");
		goto cleanup;
	}
	if ((code = kt_open(k->kctx, k->keytab, &kt)) != 0) {
		kerr(k, code, "Kerberos keytab");
		goto cleanup;
	}
	if ((code = krb5_get_init_creds_opt_alloc(k->kctx, &opt)) != 0 ||
	    (code = krb5_get_init_creds_keytab(k->kctx, &creds, me, kt, 0,
	    NULL, opt)) != 0) {
		kerr(k, code, "getting a Kerberos ticket from the keytab");
		goto cleanup;
	}
	got = 1;
	snprintf(name, sizeof(name), "MEMORY:ib-koji-%p", (void *)k);
	if ((code = krb5_cc_resolve(k->kctx, name, &k->kcc)) != 0 ||
	    (code = krb5_cc_initialize(k->kctx, k->kcc, me)) != 0 ||
	    (code = krb5_cc_store_cred(k->kctx, k->kcc, &creds)) != 0) {
		kerr(k, code, "storing the Kerberos ticket");
		goto cleanup;
	}
	if (gss_krb5_ccache_name(&minor, name, NULL) != GSS_S_COMPLETE) {
		snprintf(k->err, sizeof(k->err), "Kerberos: cannot use the "
		    "ticket's cache");
		goto cleanup;
	}
	rv = 0;
cleanup:
	if (got)
		krb5_free_cred_contents(k->kctx, &creds);
	if (opt != NULL)
		krb5_get_init_creds_opt_free(k->kctx, opt);
	if (kt != NULL)
		krb5_kt_close(k->kctx, kt);
	if (me != NULL)
		krb5_free_principal(k->kctx, me);
	return rv;
}

int
koji_login(struct koji *k)
{
	json_object	*out = NULL;
	const char	*key;
	char		*doc;
	size_t		 len = 0;
	int64_t		 id = 0;
	int		 rv = -1;

	if (k->principal != NULL && k->kcc == NULL && kinit(k) == -1)
		return -1;
	if ((doc = xml_rpc_call("sslLogin", NULL, &len)) == NULL) {
		snprintf(k->err, sizeof(k->err), "cannot encode sslLogin");
		return -1;
	}
	if (post(k, "logging in (sslLogin)", "/ssllogin", NULL, "text/xml",
	    doc, len, k->principal != NULL, &out) == -1)
		goto cleanup;
	key = json_get_str(out, "session-key");
	if (json_get_int(out, "session-id", &id) == -1 || key == NULL ||
	    *key == '\0' || !text_is_printable(key, 1024)) {
		snprintf(k->err, sizeof(k->err), "logging in: the hub's answer "
		    "holds no session");
		goto cleanup;
	}
	k->session_id = id;
	k->session_key = xstrdup(key);
	k->callnum = 0;
	rv = 0;
cleanup:
	if (out != NULL)
		json_wipe_str(out, "session-key");
	json_object_put(out);
	free(doc);
	return rv;
}

int
koji_logout(struct koji *k)
{
	json_object	*out = NULL;
	int		 rv;

	if (k->session_key == NULL)
		return 0;
	rv = koji_call(k, "logout", NULL, &out);
	json_object_put(out);
	freezero_str(k->session_key);
	k->session_key = NULL;
	return rv;
}

/* One chunk at offset; the hub's size and Adler-32 must be ours. */
static int
upload_chunk(struct koji *k, const char *qdir, const char *qname,
    uint64_t off, const unsigned char *data, size_t n)
{
	json_object	*out = NULL;
	const char	*hex;
	char		*extra, mine[16];
	int64_t		 size = -1;
	int		 rv = -1;

	extra = xasprintf("filepath=%s&filename=%s&offset=%" PRIu64
	    "&fileverify=adler32&overwrite=true", qdir, qname, off);
	if (post(k, "uploading a chunk", "", extra, "application/octet-stream",
	    data, n, 0, &out) == -1)
		goto cleanup;
	snprintf(mine, sizeof(mine), "%08lx",
	    adler32(adler32(0L, Z_NULL, 0), data, (uInt)n));
	hex = json_get_str(out, "hexdigest");
	if (json_get_int(out, "size", &size) == -1 || size != (int64_t)n) {
		snprintf(k->err, sizeof(k->err), "uploading a chunk: sent %zu "
		    "bytes at offset %" PRIu64 ", the hub got %" PRId64, n,
		    off, size);
		goto cleanup;
	}
	if (hex == NULL || strcmp(hex, mine) != 0) {
		snprintf(k->err, sizeof(k->err), "uploading a chunk: sent "
		    "Adler-32 %s at offset %" PRIu64 ", the hub computed %.16s",
		    mine, off, hex != NULL && text_is_printable(hex, 16) ?
		    hex : "nothing");
		goto cleanup;
	}
	rv = 0;
cleanup:
	json_object_put(out);
	free(extra);
	return rv;
}

int
koji_upload(struct koji *k, const char *dir, const char *name,
    const char *path, const void *data, size_t len, char md5[33],
    uint64_t *size)
{
	EVP_MD_CTX	*md;
	unsigned char	*chunk = NULL, d[EVP_MAX_MD_SIZE];
	unsigned int	 dl = 0, i;
	char		*qdir, *qname;
	uint64_t	 off = 0;
	ssize_t		 n;
	int		 fd = -1, rv = -1;

	if (!koji_dir_ok(dir) || !name_is_safe(name)) {
		snprintf(k->err, sizeof(k->err), "invalid upload directory or "
		    "file name");
		return -1;
	}
	if (path != NULL && (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(k->err, sizeof(k->err), "%s: %s", path,
		    strerror(errno));
		return -1;
	}
	qdir = http_escape(dir);
	qname = http_escape(name);
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1)
		fatalx("koji: MD5 unavailable");
	if (fd != -1)
		chunk = xmalloc(k->chunk_size);
	for (;;) {
		if (fd != -1) {
			n = pread(fd, chunk, k->chunk_size, off);
			if (n == -1) {
				if (errno == EINTR)
					continue;
				snprintf(k->err, sizeof(k->err), "%s: %s",
				    path, strerror(errno));
				goto cleanup;
			}
		} else
			n = len - off < (uint64_t)k->chunk_size ?
			    (ssize_t)(len - off) : (ssize_t)k->chunk_size;
		/* An empty file still goes up once, as Koji's client does. */
		if (n == 0 && off > 0)
			break;
		if (upload_chunk(k, qdir, qname, off, fd != -1 ? chunk :
		    (const unsigned char *)data + off, n) == -1)
			goto cleanup;
		EVP_DigestUpdate(md, fd != -1 ? chunk :
		    (const unsigned char *)data + off, n);
		off += n;
		if (n == 0)
			break;
	}
	EVP_DigestFinal_ex(md, d, &dl);
	for (i = 0; i < dl && i < 16; i++)
		snprintf(md5 + 2 * i, 3, "%02x", d[i]);
	*size = off;
	rv = 0;
cleanup:
	EVP_MD_CTX_free(md);
	free(chunk);
	free(qdir);
	free(qname);
	if (fd != -1)
		close(fd);
	return rv;
}
