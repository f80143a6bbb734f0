/*
 * Metadata downloads. See fetch.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "depsolver/fetch.h"
#include "log.h"

struct fetcher {
	CURL		*h;
	const char	*proxy;
};

struct sink {
	struct buf	*out;
	size_t		 max;
	int		 over;
};

static size_t
on_data(char *p, size_t sz, size_t n, void *arg)
{
	struct sink	*s = arg;

	if (s->out->len + sz * n > s->max) {
		s->over = 1;
		return 0;
	}
	buf_add(s->out, p, sz * n);
	return sz * n;
}

struct fetcher *
fetch_new(const char *proxy)
{
	struct fetcher	*f = xcalloc(1, sizeof(*f));

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((f->h = curl_easy_init()) == NULL)
		fatalx("curl_easy_init failed");
	f->proxy = proxy;
	return f;
}

void
fetch_free(struct fetcher *f)
{
	if (f == NULL)
		return;
	curl_easy_cleanup(f->h);
	free(f);
	curl_global_cleanup();
}

int
fetch_get(struct fetcher *f, const struct ds_repo *repo, const char *url,
    size_t max, struct buf *out, long *status, char *err, size_t errlen)
{
	struct sink	 s = { out, max, 0 };
	char		 cerr[CURL_ERROR_SIZE] = "";
	CURLcode	 rc;
	CURL		*h = f->h;
	char		*shown;
	int		 rv = -1;

	buf_reset(out);
	*status = 0;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https,file");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 512L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_USERAGENT, "ib-depsolve");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	if (f->proxy != NULL && *f->proxy != '\0')
		curl_easy_setopt(h, CURLOPT_PROXY, f->proxy);
	if (repo != NULL) {
		if (!repo->sslverify) {
			curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
			curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
		}
		if (repo->sslcacert != NULL)
			curl_easy_setopt(h, CURLOPT_CAINFO, repo->sslcacert);
		if (repo->sslclientcert != NULL)
			curl_easy_setopt(h, CURLOPT_SSLCERT,
			    repo->sslclientcert);
		if (repo->sslclientkey != NULL)
			curl_easy_setopt(h, CURLOPT_SSLKEY, repo->sslclientkey);
	}
	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
	/* Mirror URLs may carry credentials: only a redacted copy is shown. */
	shown = url_redact(url);
	if (s.over) {
		snprintf(err, errlen, "%s: larger than %zu bytes", shown, max);
		goto cleanup;
	}
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s: %s", shown, *cerr ? cerr :
		    curl_easy_strerror(rc));
		goto cleanup;
	}
	if (strncmp(url, "file:", 5) != 0 && (*status < 200 || *status > 299)) {
		snprintf(err, errlen, "%s: HTTP %ld", shown, *status);
		goto cleanup;
	}
	log_debug("fetched %s (%zu bytes)", shown, out->len);
	rv = 0;
cleanup:
	free(shown);
	return rv;
}
