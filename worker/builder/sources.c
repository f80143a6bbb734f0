/*
 * org.osbuild.curl: each item is downloaded once into the store under its
 * checksum, hashed as it arrives, and renamed into place only when the
 * sha256 matches. One curl handle for all items: connections are reused.
 */
#include <sys/stat.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/build.h"
#include "log.h"

#define SRC_TRIES	3
#define SRC_MAX		(INT64_C(8) << 30)	/* one item */

struct dl {
	FILE		*f;
	EVP_MD_CTX	*md;
	int64_t		 bytes;
	int		 failed;
};

static size_t
dl_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct dl	*d = arg;
	size_t		 n = size * nmemb;

	if (d->bytes + (int64_t)n > SRC_MAX ||
	    fwrite(data, 1, n, d->f) != n) {
		d->failed = 1;
		return 0;
	}
	EVP_DigestUpdate(d->md, data, n);
	d->bytes += (int64_t)n;
	return n;
}

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

static int
fetch_one(CURL *c, const char *url, const char *sum, const char *dst,
    int64_t *bytes, char *why, size_t whylen)
{
	struct dl	 d;
	unsigned char	 md[32];
	unsigned int	 mdlen;
	char		 hex[65], *tmp, *shown, err[CURL_ERROR_SIZE];
	CURLcode	 rc;
	long		 code = 0;
	int		 fd, ret = -1;

	tmp = xasprintf("%s.part-XXXXXX", dst);
	if ((fd = mkstemp(tmp)) == -1 || (d.f = fdopen(fd, "wb")) == NULL) {
		snprintf(why, whylen, "%s: %s", tmp, strerror(errno));
		if (fd != -1)
			close(fd);
		free(tmp);
		return -1;
	}
	d.md = EVP_MD_CTX_new();
	EVP_DigestInit_ex(d.md, EVP_sha256(), NULL);
	d.bytes = 0;
	d.failed = 0;
	err[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	*bytes += d.bytes;
	if (fclose(d.f) != 0 && rc == CURLE_OK) {
		snprintf(why, whylen, "%s: write failed", tmp);
		goto cleanup;
	}
	/* Source URLs may be presigned or carry credentials. */
	if (rc != CURLE_OK) {
		shown = url_redact(url);
		snprintf(why, whylen, "%s: %s", shown, err[0] ? err :
		    curl_easy_strerror(rc));
		free(shown);
		goto cleanup;
	}
	if (code >= 400) {
		shown = url_redact(url);
		snprintf(why, whylen, "%s: HTTP %ld", shown, code);
		free(shown);
		goto cleanup;
	}
	EVP_DigestFinal_ex(d.md, md, &mdlen);
	hexify(md, hex);
	if (strcmp(hex, sum + 7) != 0) {
		snprintf(why, whylen, "%s: checksum mismatch (got sha256:%s)",
		    url, hex);
		goto cleanup;
	}
	if (rename(tmp, dst) == -1) {
		snprintf(why, whylen, "%s: %s", dst, strerror(errno));
		goto cleanup;
	}
	ret = 0;
cleanup:
	if (ret == -1)
		unlink(tmp);
	EVP_MD_CTX_free(d.md);
	free(tmp);
	return ret;
}

int
sources_fetch(struct store *st, struct manifest *m, const char **sums,
    size_t n, int64_t *bytes, char *why, size_t whylen)
{
	CURL		*c = NULL;
	struct stat	 sb;
	size_t		 i, missing = 0, done = 0;
	int		 tries, ret = -1;
	char		*shown;

	for (i = 0; i < n; i++) {
		char *p = store_source_path(st->dir, sums[i]);

		if (stat(p, &sb) == -1)
			missing++;
		else
			utimensat(AT_FDCWD, p, NULL, 0);	/* used now */
		free(p);
	}
	monitor_log("Sources: %zu items, %zu in the store, %zu to download",
	    n, n - missing, missing);
	if (missing == 0)
		return 0;
	if ((c = curl_easy_init()) == NULL) {
		snprintf(why, whylen, "curl_easy_init failed");
		return -1;
	}
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
	/* file:// reads the builder's host: only when asked for (tests). */
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR,
	    getenv("IB_BUILD_ALLOW_FILE_URLS") != NULL ? "http,https,file" :
	    "http,https");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ib-build/" IB_BUILD_VERSION);
	for (i = 0; i < n; i++) {
		char *dst = store_source_path(st->dir, sums[i]);
		const char *url = manifest_source_url(m, sums[i]);

		if (stat(dst, &sb) == 0) {
			free(dst);
			continue;
		}
		if (url == NULL) {
			snprintf(why, whylen, "%s: no url", sums[i]);
			free(dst);
			goto cleanup;
		}
		for (tries = 1; tries <= SRC_TRIES; tries++) {
			if (fetch_one(c, url, sums[i], dst, bytes, why,
			    whylen) == 0)
				break;
			log_warnx("source %s (try %d): %s", sums[i], tries,
			    why);
			if (tries < SRC_TRIES)
				sleep((unsigned)tries);
		}
		free(dst);
		if (tries > SRC_TRIES)
			goto cleanup;
		done++;
		monitor_subprogress("sources", (int)done, (int)missing);
		shown = url_redact(url);
		monitor_log("Downloaded %s", shown);
		free(shown);
	}
	ret = 0;
cleanup:
	curl_easy_cleanup(c);
	return ret;
}
