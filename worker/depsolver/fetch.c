/*
 * Metadata downloads on lib/http. See fetch.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depsolver/fetch.h"
#include "http.h"
#include "log.h"

/* One HTTP handle per set of TLS settings: a repository's, or none. */
struct client {
	const struct ds_repo	*repo;
	struct http		*h;
	struct client		*next;
};

struct fetcher {
	const char	*proxy;
	struct client	*clients;
};

struct fetcher *
fetch_new(const char *proxy)
{
	struct fetcher	*f = xcalloc(1, sizeof(*f));

	f->proxy = proxy;
	return f;
}

void
fetch_free(struct fetcher *f)
{
	struct client	*c, *next;

	if (f == NULL)
		return;
	for (c = f->clients; c != NULL; c = next) {
		next = c->next;
		http_free(c->h);
		free(c);
	}
	free(f);
}

/* The handle for repo's TLS settings, made on first use. */
static struct http *
client_for(struct fetcher *f, const struct ds_repo *repo)
{
	struct http_opts	 o;
	struct client		*c;

	for (c = f->clients; c != NULL; c = c->next)
		if (c->repo == repo)
			return c->h;
	memset(&o, 0, sizeof(o));
	o.connect_timeout = 30;
	o.low_speed_limit = 512;
	o.low_speed_time = 60;
	o.follow_redirects = 1;
	o.allow_file = 1;	/* baseurls and keys may be local */
	o.decompress = 1;
	o.user_agent = "ib-depsolve";
	if (f->proxy != NULL && *f->proxy != '\0')
		o.proxy = f->proxy;
	if (repo != NULL) {
		o.insecure = !repo->sslverify;
		o.ca_bundle = repo->sslcacert;
		o.client_cert = repo->sslclientcert;
		o.client_key = repo->sslclientkey;
	}
	c = xcalloc(1, sizeof(*c));
	c->repo = repo;
	c->h = http_new(&o);
	c->next = f->clients;
	f->clients = c;
	return c->h;
}

int
fetch_get(struct fetcher *f, const struct ds_repo *repo, const char *url,
    size_t max, struct buf *out, long *status, char *err, size_t errlen)
{
	struct http_req		 req;
	struct http_resp	 resp;
	char			*shown;
	int			 rv = -1;

	buf_reset(out);
	memset(&req, 0, sizeof(req));
	req.url = url;
	req.max_body = max;
	http_resp_init(&resp);
	/* Mirror URLs may carry credentials: only a redacted copy is shown. */
	shown = url_redact(url);
	if (http_do(client_for(f, repo), &req, &resp) == -1) {
		snprintf(err, errlen, "%s: %s", shown, resp.error);
		goto cleanup;
	}
	*status = resp.status;
	/* file:// has no status: it was read whole or it failed. */
	if (strncmp(url, "file:", 5) != 0 &&
	    (resp.status < 200 || resp.status > 299)) {
		snprintf(err, errlen, "%s: HTTP %ld", shown, resp.status);
		goto cleanup;
	}
	/* The answer becomes out, without a copy of a list that may be
	 * large; out's old storage goes with resp. */
	if (resp.body.data != NULL) {
		struct buf t = *out;

		*out = resp.body;
		resp.body = t;
	} else
		buf_add(out, "", 0);
	log_debug("fetched %s (%zu bytes)", shown, out->len);
	rv = 0;
cleanup:
	if (rv == -1)
		*status = resp.status;
	http_resp_free(&resp);
	free(shown);
	return rv;
}
