/*
 * The GCP client's state, shared by its files (gcp.c: the client and its
 * calls; gcs.c: storage; gce.c: Compute Engine). Not for other modules.
 */
#ifndef IB_GCP_PRIV_H
#define IB_GCP_PRIV_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cloud.h"
#include "gcp.h"
#include "http.h"
#include "http_multi.h"

#define GCS_DEFAULT		"https://storage.googleapis.com"
#define GCE_DEFAULT		"https://compute.googleapis.com"
#define GCS_SOURCE_BASE		"https://storage.googleapis.com"
#define CHUNK_DEFAULT		(16LL * 1024 * 1024)
#define CHUNK_QUANTUM		(256LL * 1024)
#define IMAGE_USER_ROLE		"roles/compute.imageUser"
#define META_IMAGE_NAME		"osbuild-composer-image-name"

struct gcp {
	struct gcp_key		 key;
	struct http		*http;
	char			*token_url;
	char			*storage_url;
	char			*compute_url;
	struct cloud_client	 cl;
	int64_t			 chunk;
	int64_t			 poll_ms;
	int64_t			 op_timeout;
	struct gcp_stats	 stats;
	struct http_progress	 progress;	/* fn NULL: none */
};

struct gcall {
	const char		*what;
	const char		*method;
	const char		*url;
	const char		*body;
	const char		*content_type;
	const char		*file;
	off_t			 off;
	off_t			 size;
	const char *const	*headers;
	int			 auth;
	int			 once;		/* no retries: the caller's loop */
	/* the body going out, as http_req's */
	void			(*on_upload)(void *, int64_t, int64_t);
	void			*upload_arg;
};

/*
 * One call with retries (cloud_do). 0 when the final answer is 2xx or
 * 308, -1 with g->err otherwise (resp keeps the last answer).
 */
int	 gcp_call(struct gcp *, const struct gcall *, struct http_resp *);
/* 1 when s is not empty, at most max bytes, without control characters. */
int	 gcp_printable(const char *s, size_t max);
/* "what: the cloud's message" into g->err (arg: the client). */
void	 gcp_set_error(void *arg, const char *what, const struct http_resp *);

#endif
