/*
 * Downloads of repository metadata on lib/http (http_do): one handle per
 * repository's TLS settings for the run (so connections are reused),
 * redirects to http(s) only, file:// URLs, bounded sizes and times.
 */
#ifndef IB_DS_FETCH_H
#define IB_DS_FETCH_H

#include "depsolver/ds.h"
#include "util.h"

struct fetcher;

/* proxy may be NULL; borrowed for the fetcher's life. */
struct fetcher	*fetch_new(const char *proxy);
void		 fetch_free(struct fetcher *);

/*
 * GETs url with repo's TLS settings into out (reset first), at most max
 * bytes. Returns 0, or -1 with why ("HTTP 404", curl's message) in err.
 * *status gets the HTTP code (0 when none).
 */
int		 fetch_get(struct fetcher *, const struct ds_repo *,
		    const char *url, size_t max, struct buf *out,
		    long *status, char *err, size_t errlen);

#endif
