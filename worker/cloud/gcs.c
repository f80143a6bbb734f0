/*
 * Google Cloud Storage: resumable uploads in chunks read from the file
 * (never the whole image in memory), checked against the file's MD5, and
 * object deletion. The upload says how far it is as chunks go out; only
 * between chunks may the receiver make requests of its own.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "cloud.h"
#include "gcp.h"
#include "gcp_priv.h"
#include "http.h"
#include "http_multi.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"

void
gcp_set_progress(struct gcp *g, const struct http_progress *p)
{
	memset(&g->progress, 0, sizeof(g->progress));
	if (p != NULL)
		g->progress = *p;
}

/* A chunk under way, for its progress callback. */
struct chunk {
	struct gcp	*g;
	off_t		 off;		/* where the chunk starts */
	off_t		 size;		/* of the whole file */
};

/* Inside libcurl's progress callback: the receiver must not call it. */
static void
chunk_sent(void *arg, int64_t sent, int64_t total)
{
	struct chunk	*c = arg;

	(void)total;
	c->g->progress.fn(c->g->progress.arg, c->off + sent, c->size, 0);
}

/* Between requests: the receiver may make its own. */
static void
upload_at(struct gcp *g, off_t off, off_t size)
{
	if (g->progress.fn != NULL)
		g->progress.fn(g->progress.arg, off, size, 1);
}

/* MD5 of the whole file, base64 as GCS gives it; read in slices. */
static int
file_md5(struct gcp *g, const char *path, char **out, off_t *size)
{
	EVP_MD_CTX	*md;
	unsigned char	 d[EVP_MAX_MD_SIZE], *b;
	unsigned int	 n = 0;
	ssize_t		 got;
	int		 fd, rv = -1;

	*out = NULL;
	*size = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(g->cl.err, sizeof(g->cl.err), "%s: %s", path,
		    strerror(errno));
		return -1;
	}
	b = xmalloc(1 << 20);
	md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(md, EVP_md5(), NULL);
	for (;;) {
		if (g->cl.abort != NULL && *g->cl.abort) {
			g->cl.aborted = 1;
			snprintf(g->cl.err, sizeof(g->cl.err), "canceled");
			goto cleanup;
		}
		got = read(fd, b, 1 << 20);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1) {
			snprintf(g->cl.err, sizeof(g->cl.err), "%s: %s", path,
			    strerror(errno));
			goto cleanup;
		}
		if (got == 0)
			break;
		EVP_DigestUpdate(md, b, got);
		*size += got;
	}
	EVP_DigestFinal_ex(md, d, &n);
	*out = base64_encode(d, n);
	rv = 0;
cleanup:
	EVP_MD_CTX_free(md);
	free(b);
	close(fd);
	return rv;
}

/* The next byte GCS wants from a 308's Range ("bytes=0-N"), 0 if none. */
static off_t
persisted(const struct http_resp *r)
{
	char	*range, *dash;
	off_t	 next = 0;
	long long last;

	if ((range = http_resp_header(r, "Range")) == NULL)
		return 0;
	/* The server's last byte: a negative or saturated one is no answer. */
	if ((dash = strchr(range, '-')) != NULL &&
	    (last = strtoll(dash + 1, NULL, 10)) >= 0 && last < LLONG_MAX)
		next = (off_t)last + 1;
	free(range);
	return next;
}

int
gcp_upload(struct gcp *g, const char *bucket, const char *object,
    const char *path, const char *image_name)
{
	struct http_resp	 resp;
	struct gcall		 c;
	struct chunk		 ch;
	json_object		*meta = NULL, *md, *doc = NULL;
	const char		*hdr[4];
	char			*md5 = NULL, *url = NULL, *session = NULL;
	char			*range = NULL, *lenhdr = NULL, *eb;
	const char		*got;
	off_t			 size, off = 0, n;
	int			 fails = 0, rv = -1;

	http_resp_init(&resp);
	if (file_md5(g, path, &md5, &size) == -1)
		goto cleanup;
	meta = json_object_new_object();
	json_object_object_add(meta, "name", json_object_new_string(object));
	json_object_object_add(meta, "md5Hash", json_object_new_string(md5));
	md = json_object_new_object();
	if (image_name != NULL)
		json_object_object_add(md, META_IMAGE_NAME,
		    json_object_new_string(image_name));
	json_object_object_add(meta, "metadata", md);
	eb = http_escape(bucket);
	url = xasprintf("%s/upload/storage/v1/b/%s/o?uploadType=resumable",
	    g->storage_url, eb);
	free(eb);
	lenhdr = xasprintf("X-Upload-Content-Length: %lld", (long long)size);
	hdr[0] = "X-Upload-Content-Type: application/octet-stream";
	hdr[1] = lenhdr;
	hdr[2] = NULL;
	memset(&c, 0, sizeof(c));
	c.what = "GCS upload start";
	c.method = "POST";
	c.url = url;
	c.body = json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PLAIN);
	c.content_type = "application/json; charset=UTF-8";
	c.headers = hdr;
	c.auth = 1;
	if (gcp_call(g, &c, &resp) == -1)
		goto cleanup;
	if ((session = http_resp_header(&resp, "Location")) == NULL ||
	    strncmp(session, "http", 4) != 0) {
		snprintf(g->cl.err, sizeof(g->cl.err), "GCS upload start: no upload "
		    "session in the answer");
		goto cleanup;
	}

	upload_at(g, 0, size);
	while (rv == -1) {
		memset(&c, 0, sizeof(c));
		c.what = "GCS upload";
		c.method = "PUT";
		c.url = session;
		c.auth = 1;
		c.once = 1;
		c.headers = hdr;
		free(range);
		n = size - off < g->chunk ? size - off : g->chunk;
		if (n > 0) {
			range = xasprintf("Content-Range: bytes %lld-%lld/%lld",
			    (long long)off, (long long)(off + n - 1),
			    (long long)size);
			c.file = path;
			c.off = off;
			c.size = n;
			if (g->progress.fn != NULL) {
				ch.g = g;
				ch.off = off;
				ch.size = size;
				c.on_upload = chunk_sent;
				c.upload_arg = &ch;
			}
		} else {
			range = xasprintf("Content-Range: bytes */%lld",
			    (long long)size);
			c.body = "";
		}
		hdr[0] = range;
		hdr[1] = NULL;
		if (gcp_call(g, &c, &resp) == 0) {
			g->stats.chunks++;
			g->stats.bytes_sent += n;
			if (resp.status == 308) {
				off = persisted(&resp);
				upload_at(g, off, size);
				continue;
			}
			upload_at(g, size, size);
			break;		/* 200/201: the object exists */
		}
		if (g->cl.aborted || !cloud_retryable(resp.status) ||
		    ++fails >= g->cl.tries)
			goto cleanup;
		g->stats.retries++;
		g->stats.chunk_retries++;
		g->stats.chunk_wait_ms += 500LL * fails;
		log_info("gcp: %s; asking where to resume (%d/%d)", g->cl.err,
		    fails, g->cl.tries);
		if (cloud_sleep(&g->cl, 500LL * fails) == -1)
			goto cleanup;
		/* Ask how much arrived, then go on from there. */
		free(range);
		range = xasprintf("Content-Range: bytes */%lld",
		    (long long)size);
		hdr[0] = range;
		memset(&c, 0, sizeof(c));
		c.what = "GCS upload status";
		c.method = "PUT";
		c.url = session;
		c.body = "";
		c.headers = hdr;
		c.auth = 1;
		if (gcp_call(g, &c, &resp) == -1)
			goto cleanup;
		if (resp.status != 308)
			break;
		off = persisted(&resp);
		upload_at(g, off, size);
	}
	if ((doc = json_tokener_parse(resp.body.data)) == NULL ||
	    (got = json_get_str(doc, "md5Hash")) == NULL) {
		snprintf(g->cl.err, sizeof(g->cl.err), "GCS upload: the answer "
		    "carries no md5Hash");
		goto cleanup;
	}
	if (strcmp(got, md5) != 0) {
		snprintf(g->cl.err, sizeof(g->cl.err), "GCS upload: MD5 mismatch: "
		    "GCS has %.40s, the file %s", got, md5);
		goto cleanup;
	}
	rv = 0;
cleanup:
	json_object_put(meta);
	json_object_put(doc);
	http_resp_free(&resp);
	free(md5);
	free(url);
	free(session);
	free(range);
	free(lenhdr);
	return rv;
}

int
gcp_delete_object(struct gcp *g, const char *bucket, const char *object)
{
	struct http_resp	 resp;
	struct gcall		 c;
	char			*eb, *eo, *url;
	int			 rv;

	eb = http_escape(bucket);
	eo = http_escape(object);
	url = xasprintf("%s/storage/v1/b/%s/o/%s", g->storage_url, eb, eo);
	memset(&c, 0, sizeof(c));
	c.what = "GCS delete";
	c.method = "DELETE";
	c.url = url;
	c.auth = 1;
	http_resp_init(&resp);
	rv = gcp_call(g, &c, &resp);
	http_resp_free(&resp);
	free(eb);
	free(eo);
	free(url);
	return rv;
}

/* "code: message; ..." of an operation's error, into g->cl.err. */
