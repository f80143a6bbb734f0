/*
 * S3 multipart uploads: CreateMultipartUpload, the parts on an http_multi
 * pool (each read from the file at its offset by the transfer, retried on
 * its own), CompleteMultipartUpload, and AbortMultipartUpload whenever the
 * upload fails or is canceled, so no parts are left to be billed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "http_multi.h"
#include "log.h"
#include "s3.h"
#include "s3_priv.h"
#include "util.h"
#include "xml.h"

#define PART_BODY_MAX		(64 * 1024)

/* One part of a multipart upload. */
struct part {
	int			 num;
	off_t			 off;
	off_t			 size;
	char			*etag;
};

/* A multipart upload under way, for the http_multi callbacks. */
struct upload {
	struct s3		*s3;
	const char		*key;
	const char		*path;
	const char		*upload_id;
	struct part		*parts;
	int			 n;
	int			 next;
	off_t			 size;
};

void
s3_set_progress(struct s3 *s, const struct http_progress *p)
{
	memset(&s->progress, 0, sizeof(s->progress));
	if (p != NULL)
		s->progress = *p;
}

/* The parts' bytes sent so far, for whoever follows the upload. */
static void
part_sent(void *arg, int64_t sent)
{
	struct upload	*u = arg;
	struct s3	*s = u->s3;

	s->progress.fn(s->progress.arg, sent, u->size, 1);
}

static int
part_next(void *arg, int slot, void **item)
{
	struct upload	*u = arg;

	if (u->next >= u->n)
		return 0;
	*item = &u->parts[u->next++];
	return 1;
}

static void
part_build(void *arg, void *item, struct http_call *call)
{
	struct upload	*u = arg;
	struct s3	*s = u->s3;
	struct part	*p = item;
	char		*q, *eid, *h[4];
	size_t		 nh, i;

	eid = http_escape(u->upload_id);
	/* Canonical order: partNumber < uploadId. */
	q = xasprintf("partNumber=%d&uploadId=%s", p->num, eid);
	free(eid);
	call->req.url = http_call_own(call, s3_url(s, u->key, q));
	free(q);
	s3_base_headers(s, "UNSIGNED-PAYLOAD", 0, h, &nh);
	for (i = 0; i < nh; i++)
		call->hdr[i] = http_call_own(call, h[i]);
	call->req.headers = call->hdr;
	call->req.method = "PUT";
	call->req.content_type = "application/octet-stream";
	call->req.body_path = u->path;
	call->req.body_off = p->off;
	call->req.body_size = p->size;
	call->req.userpwd = http_call_own(call, xasprintf("%s:%s",
	    s->creds.access_key, s->creds.secret_key));
	call->req.sigv4 = s->sigv4;
	call->req.abort = s->abort;
	call->req.max_body = PART_BODY_MAX;
}

static enum http_verdict
part_judge(void *arg, void *item, const struct http_resp *r, int tries)
{
	struct upload	*u = arg;
	struct s3	*s = u->s3;
	struct part	*p = item;
	char		 what[32], *etag;

	etag = r->status == 200 ? http_resp_header(r, "ETag") : NULL;
	if (etag != NULL && *etag != '\0') {
		free(p->etag);
		p->etag = etag;
		return HTTP_DONE;
	}
	free(etag);
	snprintf(what, sizeof(what), "part %d of", p->num);
	if (r->status == 200)
		snprintf(s->err, sizeof(s->err), "S3 PUT %s: no ETag in the "
		    "answer", what);
	else
		s3_set_error(s, "PUT", what, r);
	if (tries < s->tries && (s3_retryable(s->status, s->code) ||
	    r->status == 200)) {
		log_info("%s; retrying (%d/%d)", s->err, tries, s->tries);
		return HTTP_RETRY;
	}
	return HTTP_FAIL;
}

/* Runs every part on an http_multi pool, at most s->parallel at once. */
static int
put_parts(struct upload *u)
{
	static const struct http_multi_ops ops = {
		part_next, part_build, part_judge
	};
	struct s3		*s = u->s3;
	struct http_multi_cfg	 cfg;
	struct http_multi_stats	 st;
	int			 rv, aborted;

	memset(&cfg, 0, sizeof(cfg));
	cfg.parallel = s->parallel;
	cfg.backoff_base = s->backoff_base;
	cfg.backoff_cap = s->backoff_cap;
	cfg.abort = s->abort;
	if (s->progress.fn != NULL)
		cfg.on_sent = part_sent;
	memset(&st, 0, sizeof(st));
	rv = http_multi_run(s->http, &cfg, &ops, u, &st, &aborted);
	s->stats.retries += st.retries;
	s->stats.part_retries += st.retries;
	s->stats.retry_after += st.retry_after;
	s->stats.retry_wait_ms += st.backoff_ms;
	if (st.max_inflight > s->stats.max_inflight)
		s->stats.max_inflight = st.max_inflight;
	if (aborted) {
		s->aborted = 1;
		snprintf(s->err, sizeof(s->err), "S3 upload of %s: canceled",
		    u->key);
	}
	return rv;
}

int
s3_put_multipart(struct s3 *s, const char *key, const char *path, off_t size)
{
	struct http_resp	 resp;
	struct call		 c;
	struct upload		 u;
	struct part		*parts = NULL;
	struct buf		 xml;
	char			 err[sizeof(s->err)], code[sizeof(s->code)];
	char			*upload_id = NULL, *q = NULL, *eid = NULL, *e;
	int64_t			 psize = s->part_size;
	long			 status;
	int			 n, i, rv = -1, aborted;

	/* At most 10000 parts: grow the part size in whole MiB. */
	if ((size + psize - 1) / psize > S3_MAX_PARTS)
		psize = ((size / S3_MAX_PARTS + (1 << 20)) >> 20) << 20;
	n = (int)((size + psize - 1) / psize);
	http_resp_init(&resp);
	buf_init(&xml);

	memset(&c, 0, sizeof(c));
	c.op = "CreateMultipartUpload";
	c.method = "POST";
	c.key = key;
	c.query = "uploads=";
	c.body = "";
	c.content_type = "application/octet-stream";
	c.acl = 1;
	if (s3_call(s, &c, &resp) == -1)
		goto cleanup;
	upload_id = xml_find(resp.body.data, resp.body.len, "UploadId");
	if (upload_id == NULL || *upload_id == '\0' ||
	    strlen(upload_id) > 1024) {
		snprintf(s->err, sizeof(s->err), "S3 CreateMultipartUpload %s: "
		    "no UploadId in the answer", key);
		goto cleanup;
	}
	log_info("s3: multipart upload of %s: %d parts of %lld bytes, %d "
	    "in parallel", key, n, (long long)psize, s->parallel);

	parts = xcalloc(n, sizeof(*parts));
	for (i = 0; i < n; i++) {
		parts[i].num = i + 1;
		parts[i].off = (off_t)i * psize;
		parts[i].size = i == n - 1 ? size - parts[i].off : psize;
	}
	s->stats.parts = n;
	memset(&u, 0, sizeof(u));
	u.s3 = s;
	u.key = key;
	u.path = path;
	u.upload_id = upload_id;
	u.parts = parts;
	u.n = n;
	u.size = size;
	if (put_parts(&u) == -1)
		goto abort;

	buf_addstr(&xml, "<CompleteMultipartUpload xmlns=\""
	    "http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (i = 0; i < n; i++) {
		e = xml_escape(parts[i].etag);
		buf_printf(&xml, "<Part><PartNumber>%d</PartNumber>"
		    "<ETag>%s</ETag></Part>", parts[i].num, e);
		free(e);
	}
	buf_addstr(&xml, "</CompleteMultipartUpload>");
	eid = http_escape(upload_id);
	q = xasprintf("uploadId=%s", eid);
	memset(&c, 0, sizeof(c));
	c.op = "CompleteMultipartUpload";
	c.method = "POST";
	c.key = key;
	c.query = q;
	c.body = xml.data;
	c.body_len = xml.len;
	c.content_type = "application/xml";
	if (s3_call(s, &c, &resp) == 0) {
		rv = 0;
		goto cleanup;
	}
abort:
	/* Keep the reason of the failure, not of the abort. */
	memcpy(err, s->err, sizeof(err));
	memcpy(code, s->code, sizeof(code));
	status = s->status;
	aborted = s->aborted;
	if (q == NULL) {
		eid = http_escape(upload_id);
		q = xasprintf("uploadId=%s", eid);
	}
	memset(&c, 0, sizeof(c));
	c.op = "AbortMultipartUpload";
	c.method = "DELETE";
	c.key = key;
	c.query = q;
	/* Even when canceled: the parts must not stay behind. */
	{
		const atomic_int *ab = s->abort;

		s->abort = NULL;
		if (s3_call(s, &c, &resp) == -1)
			log_warnx("s3: could not abort the multipart upload of "
			    "%s, its parts may remain: %s", key, s->err);
		else
			log_info("s3: aborted the multipart upload of %s", key);
		s->abort = ab;
	}
	memcpy(s->err, err, sizeof(err));
	memcpy(s->code, code, sizeof(code));
	s->status = status;
	s->aborted = aborted;
cleanup:
	for (i = 0; parts != NULL && i < n; i++)
		free(parts[i].etag);
	free(parts);
	free(q);
	free(eid);
	free(upload_id);
	buf_free(&xml);
	http_resp_free(&resp);
	return rv;
}
