/*
 * org.osbuild.curl: each item is downloaded once into the store under its
 * checksum, hashed as it arrives, and renamed into place only when the
 * sha256 matches. The items run on lib/http_multi: SRC_PARALLEL at a time
 * on one pool (connections are reused), each retried on its own with
 * backoff (and the server's Retry-After) up to SRC_TRIES times.
 */
#include <sys/stat.h>

#include <openssl/evp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/build.h"
#include "http.h"
#include "http_multi.h"
#include "log.h"

#define SRC_TRIES	3
#define SRC_MAX		(INT64_C(8) << 30)	/* one item */
#define SRC_PARALLEL	4

static void
hexify(const unsigned char *md, char hex[65])
{
	int	 i;

	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

int
sha256_file(const char *path, char hex[65])
{
	unsigned char	 md[32], chunk[65536];
	unsigned int	 len;
	EVP_MD_CTX	*ctx;
	FILE		*f;
	size_t		 n;

	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		EVP_DigestUpdate(ctx, chunk, n);
	EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	fclose(f);
	hexify(md, hex);
	return 0;
}

/* One item to download: where it goes, and its hash as it arrives. */
struct src_item {
	const char	*sum;
	const char	*url;
	char		*dst;
	char		*tmp;		/* NULL once renamed or removed */
	EVP_MD_CTX	*md;
};

struct src_run {
	struct store		*st;
	struct manifest		*m;
	const char		**sums;
	size_t			 n, next, missing, done;
	struct src_item		*items;	/* n of them, filled as handed out */
	int64_t			*bytes;
	char			*why;
	size_t			 whylen;
};

static void
src_hash(void *arg, const void *data, size_t len)
{
	EVP_DigestUpdate(arg, data, len);
}

/* The next item not in the store; its part file is made here. */
static int
src_next(void *arg, int slot, void **itemp)
{
	struct src_run	*r = arg;
	struct src_item	*it;
	struct stat	 sb;
	int		 fd;

	(void)slot;
	for (; r->next < r->n; r->next++) {
		it = &r->items[r->next];
		it->sum = r->sums[r->next];
		it->dst = store_source_path(r->st->dir, it->sum);
		if (stat(it->dst, &sb) == 0)
			continue;
		if ((it->url = manifest_source_url(r->m, it->sum)) == NULL) {
			snprintf(r->why, r->whylen, "%s: no url", it->sum);
			return -1;
		}
		it->tmp = xasprintf("%s.part-XXXXXX", it->dst);
		if ((fd = mkstemp(it->tmp)) == -1) {
			snprintf(r->why, r->whylen, "%s: %s", it->tmp,
			    strerror(errno));
			free(it->tmp);
			it->tmp = NULL;
			return -1;
		}
		close(fd);
		if ((it->md = EVP_MD_CTX_new()) == NULL)
			fatalx("EVP_MD_CTX_new failed");
		r->next++;
		*itemp = it;
		return 1;
	}
	return 0;
}

static void
src_build(void *arg, void *item, struct http_call *call)
{
	struct src_item	*it = item;

	(void)arg;
	EVP_DigestInit_ex(it->md, EVP_sha256(), NULL);
	call->req.url = it->url;
	call->req.out_path = it->tmp;	/* truncated at each try */
	call->req.max_out = SRC_MAX;
	call->req.on_out = src_hash;
	call->req.out_arg = it->md;
}

/* Checks the hash and moves the file into the store; -1 with why. */
static int
src_finish(struct src_run *r, struct src_item *it)
{
	unsigned char	 md[32];
	unsigned int	 mdlen;
	char		 hex[65], *shown;

	EVP_DigestFinal_ex(it->md, md, &mdlen);
	hexify(md, hex);
	shown = url_redact(it->url);
	if (strcmp(hex, it->sum + 7) != 0) {
		snprintf(r->why, r->whylen, "%s: checksum mismatch (got "
		    "sha256:%s)", shown, hex);
		free(shown);
		return -1;
	}
	if (rename(it->tmp, it->dst) == -1) {
		snprintf(r->why, r->whylen, "%s: %s", it->dst,
		    strerror(errno));
		free(shown);
		return -1;
	}
	free(it->tmp);
	it->tmp = NULL;
	r->done++;
	monitor_subprogress("sources", (int)r->done, (int)r->missing);
	monitor_log("Downloaded %s", shown);
	free(shown);
	return 0;
}

/* Every failure is tried again, up to SRC_TRIES in all. */
static enum http_verdict
src_judge(void *arg, void *item, const struct http_resp *resp, int tries)
{
	struct src_run	*r = arg;
	struct src_item	*it = item;
	struct stat	 sb;
	char		*shown;
	int		 ok = 0;

	/* Source URLs may be presigned or carry credentials. */
	shown = url_redact(it->url);
	if (resp->error[0] != '\0')
		snprintf(r->why, r->whylen, "%s: %s", shown, resp->error);
	else if (resp->status >= 400)
		snprintf(r->why, r->whylen, "%s: HTTP %ld", shown,
		    resp->status);
	else
		ok = 1;
	free(shown);
	if (stat(it->tmp, &sb) == 0)
		*r->bytes += sb.st_size;
	if (ok && src_finish(r, it) == 0)
		return HTTP_DONE;
	log_warnx("source %s (try %d): %s", it->sum, tries, r->why);
	return tries < SRC_TRIES ? HTTP_RETRY : HTTP_FAIL;
}

int
sources_fetch(struct store *st, struct manifest *m, const char **sums,
    size_t n, int64_t *bytes, char *why, size_t whylen)
{
	static const struct http_multi_ops ops = {
		src_next, src_build, src_judge
	};
	struct http_opts	 ho;
	struct http_multi_cfg	 cfg;
	struct http_multi_stats	 stats;
	struct src_run		 r;
	struct http		*h;
	struct stat		 sb;
	size_t			 i;
	int			 aborted, ret;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < n; i++) {
		char *p = store_source_path(st->dir, sums[i]);

		if (stat(p, &sb) == -1)
			r.missing++;
		else
			utimensat(AT_FDCWD, p, NULL, 0);	/* used now */
		free(p);
	}
	monitor_log("Sources: %zu items, %zu in the store, %zu to download",
	    n, n - r.missing, r.missing);
	if (r.missing == 0)
		return 0;
	memset(&ho, 0, sizeof(ho));
	ho.connect_timeout = 30;
	ho.low_speed_limit = 1024;
	ho.low_speed_time = 60;
	ho.follow_redirects = 1;
	/* file:// reads the builder's host: only when asked for (tests). */
	ho.allow_file = getenv("IB_BUILD_ALLOW_FILE_URLS") != NULL;
	ho.user_agent = "ib-build/" IB_BUILD_VERSION;
	memset(&cfg, 0, sizeof(cfg));
	cfg.parallel = SRC_PARALLEL;
	cfg.backoff_base = 1000;
	cfg.backoff_cap = 4000;
	cfg.retry_after = 1;
	memset(&stats, 0, sizeof(stats));
	r.st = st;
	r.m = m;
	r.sums = sums;
	r.n = n;
	r.items = xcalloc(n, sizeof(*r.items));
	r.bytes = bytes;
	r.why = why;
	r.whylen = whylen;
	h = http_new(&ho);
	ret = http_multi_run(h, &cfg, &ops, &r, &stats, &aborted);
	http_free(h);
	for (i = 0; i < n; i++) {
		if (r.items[i].tmp != NULL) {
			unlink(r.items[i].tmp);
			free(r.items[i].tmp);
		}
		free(r.items[i].dst);
		EVP_MD_CTX_free(r.items[i].md);
	}
	free(r.items);
	return ret;
}
