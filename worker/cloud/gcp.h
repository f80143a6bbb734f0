/*
 * A Google Cloud client on libcurl and OpenSSL: service-account keys, OAuth2
 * access tokens from an RS256-signed JWT assertion, GCS resumable uploads
 * streamed from disk with an MD5 check, Compute Engine images.insert with
 * its operation waited on, and image IAM sharing that adds members.
 * Endpoints come from IB_GCP_TOKEN_URL, IB_GCP_STORAGE_URL and
 * IB_GCP_COMPUTE_URL when set (tests), else from the key and Google.
 */
#ifndef IB_GCP_H
#define IB_GCP_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define GCP_SCOPE	"https://www.googleapis.com/auth/cloud-platform"

/* The fields of a service-account JSON key we use; private_key is secret. */
struct gcp_key {
	char	*client_email;
	char	*private_key;	/* PEM, secret */
	char	*token_uri;
	char	*project_id;
};

/* Parses a JSON key of type service_account; -1 with a reason (no secret). */
int	 gcp_key_parse(const char *json, size_t len, struct gcp_key *,
	    char *err, size_t errlen);
void	 gcp_key_clear(struct gcp_key *);

/* base64url without padding (RFC 4648 section 5); caller frees. */
char	*gcp_b64url(const void *, size_t);
/*
 * The signed JWT assertion for the token endpoint: RS256 over
 * base64url(header).base64url(claims), iat now, exp now+3600. Caller frees
 * (it grants a token: treat as a secret). NULL with a reason.
 */
char	*gcp_jwt_assertion(const struct gcp_key *, const char *scope,
	    time_t now, char *err, size_t errlen);

/* Names we accept: GCS bucket, GCS object (no control characters, no "."
 * or ".." segment), GCE image ([a-z]([-a-z0-9]*[a-z0-9])?, <= 63), and an
 * IAM member (user:, serviceAccount:, group:, domain:). 1 when valid. */
int	 gcp_bucket_ok(const char *);
int	 gcp_object_ok(const char *);
int	 gcp_image_name_ok(const char *);
int	 gcp_member_ok(const char *);

struct gcp_cfg {
	const struct gcp_key	*key;		/* copied */
	long			 connect_timeout;
	int64_t			 chunk_size;	/* upload chunk, 0: 16 MiB */
	int			 tries;		/* per request, 0: 6 */
	int64_t			 backoff_cap;	/* ms, 0: 20000 */
	int64_t			 poll_ms;	/* operation polls, 0: 2000 */
	int64_t			 op_timeout;	/* s an import may take, 0: 3 h */
	const atomic_int	*abort;
};

struct gcp;

struct gcp	*gcp_new(const struct gcp_cfg *);
void		 gcp_free(struct gcp *);
/* After a failure: why (the cloud's message, never a secret). */
const char	*gcp_error(const struct gcp *);
int		 gcp_aborted(const struct gcp *);
/* Clean-up after a cancellation runs without the abort flag. */
void		 gcp_set_abort(struct gcp *, const atomic_int *);
/* Where a GCS upload says how far it is (copied; NULL: nowhere). */
struct http_progress;
void		 gcp_set_progress(struct gcp *, const struct http_progress *);
const char	*gcp_project(const struct gcp *);

/* Gets an access token (done on demand by the calls below too). */
int	 gcp_login(struct gcp *);
/* 1 when a token was obtained (so calls can be tried). */
int	 gcp_logged_in(const struct gcp *);
/* Uploads path as bucket/object; checks GCS's MD5 against ours. */
int	 gcp_upload(struct gcp *, const char *bucket, const char *object,
	    const char *path, const char *image_name);
int	 gcp_delete_object(struct gcp *, const char *bucket,
	    const char *object);
/*
 * images.insert from the object (rawDisk TAR) and waits for the end.
 * labels: key, value, key, value..., NULL (valid GCE labels), or NULL.
 */
int	 gcp_image_insert(struct gcp *, const char *name, const char *bucket,
	    const char *object, const char *region,
	    const char *const *features, const char *const *labels);
/* Deletes the image and waits for the operation. */
int	 gcp_image_delete(struct gcp *, const char *name);
/*
 * One page of the project's images labelled key=value (Compute Engine's
 * filter, checked again here; images with unusable names or dates are
 * left out): at most max (1-500) into out, *n of them. *token: the page
 * to read, NULL for the first; replaced by the next one's, NULL when
 * none is left (caller frees).
 */
struct gcp_image {
	char	 name[64];
	char	 created[48];	/* creationTimestamp, RFC 3339 */
};
int	 gcp_image_list(struct gcp *, const char *key, const char *value,
	    char **token, struct gcp_image *out, size_t max, size_t *n);
/* Adds members to the image's roles/compute.imageUser binding. */
int	 gcp_image_share(struct gcp *, const char *name,
	    const char *const *members);

/* Statistics for logs and tests. */
struct gcp_stats {
	int64_t	 bytes_sent;
	int	 chunks;
	int	 retries;
	int	 polls;
	/* The resumable upload's own: chunks resumed after a failure. */
	int	 chunk_retries;
	int64_t	 chunk_wait_ms;
};
const struct gcp_stats *gcp_stats(const struct gcp *);

#endif
