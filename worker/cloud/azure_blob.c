/*
 * Azure's blob service with SharedKey signatures: containers and page-blob
 * uploads. Pages are read from the file at their offsets (holes found
 * with SEEK_DATA are never read) and sent on an http_multi pool; at most
 * `threads` pages, 4 MiB each, are in memory and on the wire at once.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "azure.h"
#include "azure_priv.h"
#include "backoff.h"
#include "cloud.h"
#include "http.h"
#include "http_multi.h"
#include "log.h"
#include "util.h"

char *
azure_blob_url(const struct azure *az, const char *container,
    const char *blob)
{
	return xasprintf("%s%s/%s/%s", az->origin, az->prefix, container,
	    blob);
}

/* ---- blob requests ---- */

/*
 * Builds into call one SharedKey-signed blob request: PUT sends
 * data[0..len) (possibly empty); other methods send nothing. path is the
 * URI path after the account's prefix, already safe; query may be NULL.
 * data must outlive the attempt.
 */
static void
blob_build(struct azure *az, struct http_call *call, const char *method,
    const char *path, const char *query, const char *const *extra,
    const void *data, size_t len)
{
	const char	*h[HTTP_CALL_HDRS];
	char		 date[64], *lines[3], *full, *sts, *sig;
	size_t		 nh = 0, i, n = 0;
	time_t		 t = time(NULL);
	struct tm	 tm;
	int		 put = strcmp(method, "PUT") == 0;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	lines[0] = http_call_own(call, xasprintf("x-ms-date: %s", date));
	lines[1] = http_call_own(call,
	    xstrdup("x-ms-version: " AZURE_STORAGE_VERSION));
	lines[2] = xasprintf("Content-Length: %zu", put ? len : (size_t)0);
	h[nh++] = lines[0];
	h[nh++] = lines[1];
	if (put)
		h[nh++] = lines[2];
	for (i = 0; extra != NULL && extra[i] && nh < nitems(h) - 2; i++)
		h[nh++] = extra[i];
	h[nh] = NULL;
	full = xasprintf("%s%s", az->prefix, path);
	sts = azure_sharedkey_string(method, az->account, full, query, h);
	sig = azure_sharedkey_sign(az->key, sts);
	free(sts);

	/* libcurl sends Content-Length itself, from the body. */
	for (i = 0; i < nh; i++)
		if (strncmp(h[i], "Content-Length:", 15) != 0)
			call->hdr[n++] = h[i];
	call->hdr[n++] = http_call_own(call, xasprintf("Authorization: "
	    "SharedKey %s:%s", az->account, sig ? sig : ""));
	call->hdr[n] = NULL;
	freezero_str(sig);
	free(lines[2]);
	call->req.url = http_call_own(call, xasprintf("%s%s%s%s", az->origin,
	    full, query ? "?" : "", query ? query : ""));
	free(full);
	call->req.method = method;
	call->req.headers = call->hdr;
	if (put) {
		call->req.body = data;
		call->req.body_len = len;
	}
	call->req.timeout = -1;
	call->req.abort = az->cl.abort;
	call->req.max_body = BODY_MAX;
}

/* One blob request with retries; *status gets the final status. */
static int
bcall(struct azure *az, const char *what, const char *method,
    const char *path, const char *query, const char *const *extra,
    long *status, long ok_also)
{
	struct http_call	 call;
	struct http_resp	 r;
	struct backoff		 bo;
	int			 try, rv = -1;

	memset(&call, 0, sizeof(call));
	http_resp_init(&r);
	backoff_init(&bo, 500, az->cl.backoff_cap);
	for (try = 1; ; try++) {
		blob_build(az, &call, method, path, query, extra, "", 0);
		http_do(az->http, &call.req, &r);
		http_call_clear(&call);
		*status = r.status;
		if (r.aborted) {
			az->cl.aborted = 1;
			snprintf(az->cl.err, sizeof(az->cl.err), "%s: canceled", what);
			break;
		}
		if ((r.status >= 200 && r.status < 300) ||
		    (ok_also && r.status == ok_also)) {
			rv = 0;
			break;
		}
		azure_set_error(az, what, &r);
		if (!cloud_retryable(r.status) || try >= az->cl.tries)
			break;
		az->stats.retries++;
		log_info("azure: %s; retrying (%d/%d)", az->cl.err, try,
		    az->cl.tries);
		if (cloud_sleep(&az->cl, backoff_next(&bo)) == -1)
			break;
	}
	http_resp_free(&r);
	return rv;
}

int
azure_container(struct azure *az, const char *container)
{
	char	*path;
	long	 status;
	int	 rv;

	path = xasprintf("/%s", container);
	rv = bcall(az, "creating the storage container", "PUT", path,
	    "restype=container", NULL, &status, 409);
	free(path);
	return rv;
}

static int
all_zero(const unsigned char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/*
 * The next page at or after *off that holds data: holes are skipped with
 * SEEK_DATA, pages of zeros after reading them. 1 with the page in buf
 * and *len set, 0 at the end, -1 on a read error.
 */
static int
next_page(struct azure *az, int fd, off_t size, off_t *off,
    unsigned char *buf, size_t *len)
{
	off_t	 data;
	ssize_t	 got;
	size_t	 n, have;

	while (*off < size) {
		data = lseek(fd, *off, SEEK_DATA);
		if (data == -1 && errno == ENXIO) {
			/* A hole to the end. */
			az->stats.pages_skipped += (size - *off + AZURE_PAGE -
			    1) / AZURE_PAGE;
			*off = size;
			return 0;
		}
		if (data > *off) {
			az->stats.pages_skipped += (data / AZURE_PAGE * AZURE_PAGE
			    - *off) / AZURE_PAGE;
			*off = data / AZURE_PAGE * AZURE_PAGE;
		}
		n = size - *off < AZURE_PAGE ? size - *off : AZURE_PAGE;
		for (have = 0; have < n; have += got) {
			got = pread(fd, buf + have, n - have, *off + have);
			if (got == -1 && errno == EINTR) {
				got = 0;
				continue;
			}
			if (got <= 0) {
				snprintf(az->cl.err, sizeof(az->cl.err), "reading the "
				    "image: %s", got == 0 ? "short file" :
				    strerror(errno));
				return -1;
			}
		}
		if (!all_zero(buf, n)) {
			*len = n;
			return 1;
		}
		az->stats.pages_skipped++;
		*off += n;
	}
	return 0;
}

/* A page of the upload, one per slot of the pool. */
struct page {
	unsigned char	*buf;		/* AZURE_PAGE bytes */
	off_t		 off;
	size_t		 len;
};

/* A page-blob upload under way, for the http_multi callbacks. */
struct pages {
	struct azure	*az;
	char		*bpath;
	int		 fd;
	off_t		 size;
	off_t		 off;		/* where the next page is looked for */
	off_t		 skipped;	/* bytes of holes and zero pages */
	struct page	*slots;
};

void
azure_set_progress(struct azure *az, const struct http_progress *p)
{
	memset(&az->progress, 0, sizeof(az->progress));
	if (p != NULL)
		az->progress = *p;
}

/* How far the upload is: pages sent and the holes passed over. */
static void
page_sent(void *arg, int64_t sent)
{
	struct pages	*u = arg;
	struct azure	*az = u->az;

	az->progress.fn(az->progress.arg, sent + u->skipped, u->size, 1);
}

static int
page_next(void *arg, int slot, void **item)
{
	struct pages	*u = arg;
	struct page	*p = &u->slots[slot];
	off_t		 from = u->off;
	int		 got;

	if (p->buf == NULL)
		p->buf = xmalloc(AZURE_PAGE);
	got = next_page(u->az, u->fd, u->size, &u->off, p->buf, &p->len);
	if (got == 0)
		u->skipped += u->size - from;
	if (got != 1)
		return got;
	u->skipped += u->off - from;
	p->off = u->off;
	u->off += p->len;
	*item = p;
	return 1;
}

static void
page_build(void *arg, void *item, struct http_call *call)
{
	struct pages	*u = arg;
	struct page	*p = item;
	const char	*extra[3];
	char		*range;

	range = http_call_own(call, xasprintf("x-ms-range: bytes=%lld-%lld",
	    (long long)p->off, (long long)(p->off + p->len - 1)));
	extra[0] = "x-ms-page-write: update";
	extra[1] = range;
	extra[2] = NULL;
	blob_build(u->az, call, "PUT", u->bpath, "comp=page", extra, p->buf,
	    p->len);
}

static enum http_verdict
page_judge(void *arg, void *item, const struct http_resp *r, int tries)
{
	struct pages	*u = arg;
	struct azure	*az = u->az;
	struct page	*p = item;

	if (r->status == 201) {
		az->stats.pages_sent++;
		az->stats.bytes_sent += p->len;
		return HTTP_DONE;
	}
	azure_set_error(az, "uploading a page", r);
	if (!cloud_retryable(r->status) || tries >= az->cl.tries)
		return HTTP_FAIL;
	log_info("azure: %s at offset %lld; retrying (%d/%d)", az->cl.err,
	    (long long)p->off, tries, az->cl.tries);
	return HTTP_RETRY;
}

int
azure_page_blob_upload(struct azure *az, const char *container,
    const char *blob, const char *path)
{
	static const struct http_multi_ops ops = {
		page_next, page_build, page_judge
	};
	struct http_multi_cfg	 cfg;
	struct http_multi_stats	 st;
	struct stat		 sb;
	struct pages		 u;
	char			 lenhdr[64];
	const char		*extra[3];
	long			 status;
	int			 i, aborted, rv = -1;

	memset(&u, 0, sizeof(u));
	u.az = az;
	if ((u.fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(u.fd, &sb) == -1) {
		snprintf(az->cl.err, sizeof(az->cl.err), "%s: %s", path,
		    strerror(errno));
		goto cleanup;
	}
	if (sb.st_size == 0 || sb.st_size % 512 != 0) {
		snprintf(az->cl.err, sizeof(az->cl.err), "the image is %lld bytes, "
		    "not a positive multiple of 512: Azure page blobs (VHD) "
		    "need whole 512-byte sectors", (long long)sb.st_size);
		goto cleanup;
	}
	u.size = sb.st_size;
	u.bpath = xasprintf("/%s/%s", container, blob);
	snprintf(lenhdr, sizeof(lenhdr), "x-ms-blob-content-length: %lld",
	    (long long)sb.st_size);
	extra[0] = "x-ms-blob-type: PageBlob";
	extra[1] = lenhdr;
	extra[2] = NULL;
	if (bcall(az, "creating the page blob", "PUT", u.bpath, NULL, extra,
	    &status, 0) == -1)
		goto cleanup;

	u.slots = xcalloc(az->threads, sizeof(*u.slots));
	memset(&cfg, 0, sizeof(cfg));
	cfg.parallel = az->threads;
	cfg.backoff_base = 500;
	cfg.backoff_cap = az->cl.backoff_cap;
	cfg.retry_after = 1;
	cfg.abort = az->cl.abort;
	if (az->progress.fn != NULL)
		cfg.on_sent = page_sent;
	memset(&st, 0, sizeof(st));
	rv = http_multi_run(az->http, &cfg, &ops, &u, &st, &aborted);
	az->stats.retries += st.retries;
	az->stats.page_retries += st.retries;
	az->stats.retry_after += st.retry_after;
	az->stats.retry_wait_ms += st.backoff_ms;
	if (st.max_inflight > az->stats.max_inflight)
		az->stats.max_inflight = st.max_inflight;
	if (aborted) {
		az->cl.aborted = 1;
		snprintf(az->cl.err, sizeof(az->cl.err), "uploading the page blob: "
		    "canceled");
	}
cleanup:
	for (i = 0; u.slots != NULL && i < az->threads; i++)
		free(u.slots[i].buf);
	free(u.slots);
	if (u.fd != -1)
		close(u.fd);
	free(u.bpath);
	return rv;
}
