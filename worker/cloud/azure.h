/*
 * An Azure client on libcurl and OpenSSL: Azure AD client-credentials
 * tokens, Azure Resource Manager calls polled to their end
 * (Azure-AsyncOperation, Location, provisioningState), storage accounts
 * found by tag, and page-blob uploads signed with SharedKey: 4 MiB pages,
 * all-zero pages skipped, several in flight on one curl multi handle.
 * IB_AZURE_LOGIN_URL and IB_AZURE_ARM_URL replace Microsoft's endpoints
 * (tests); the blob endpoint is the one ARM gives for the account.
 */
#ifndef IB_AZURE_H
#define IB_AZURE_H

#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define AZURE_PAGE		(4LL * 1024 * 1024)
#define AZURE_STORAGE_VERSION	"2021-08-06"

struct azure_creds {
	char	*client_id;
	char	*client_secret;		/* secret */
};

/* Reads client_id and client_secret from a TOML file; -1 with a reason. */
int	 azure_creds_from_file(const char *path, struct azure_creds *,
	    char *err, size_t errlen);
void	 azure_creds_clear(struct azure_creds *);

/*
 * SharedKey (blob service, version 2009-09-19 and later). The string to
 * sign of a request: method, the standard headers of hdrs ("Name: value"
 * lines, NULL-terminated; Content-Length as sent, "0" signs as empty),
 * the x-ms- headers canonicalized, then "/account" + path and the query
 * parameters sorted ("\nname:value"). query is the raw query string
 * without '?' (may be NULL). Caller frees.
 */
char	*azure_sharedkey_string(const char *method, const char *account,
	    const char *path, const char *query, const char *const *hdrs);
/* Base64 HMAC-SHA256 of sts with the base64 account key; NULL when the
 * key is not base64. Caller frees. */
char	*azure_sharedkey_sign(const char *key_b64, const char *sts);

/* Names: a storage account (3-24 of a-z0-9), a blob (no control
 * characters, no "." or ".." segment, <= 1024), an ARM resource name
 * segment (no '/', '?', '#', '%', control characters; <= 90). */
int	 azure_account_ok(const char *);
int	 azure_blob_ok(const char *);
int	 azure_arm_name_ok(const char *);

struct azure_cfg {
	const char		*tenant;	/* NULL: blob calls only */
	const char		*subscription;
	const struct azure_creds *creds;	/* copied; may be NULL */
	long			 connect_timeout;
	int			 threads;	/* pages in flight, 0: 16 */
	int			 tries;		/* per request, 0: 6 */
	int64_t			 backoff_cap;	/* ms, 0: 20000 */
	int64_t			 poll_ms;	/* ARM polls, 0: 2000 */
	int64_t			 op_timeout;	/* s, 0: 1 h */
	const atomic_int	*abort;
};

struct azure;

struct azure	*azure_new(const struct azure_cfg *);
void		 azure_free(struct azure *);
const char	*azure_error(const struct azure *);
int		 azure_aborted(const struct azure *);

int	 azure_login(struct azure *);
/* The location of a resource group; caller frees *loc. */
int	 azure_rg_location(struct azure *, const char *rg, char **loc);
/* The first storage account of rg tagged name=value; *account NULL when
 * there is none. */
int	 azure_find_account(struct azure *, const char *rg, const char *tag,
	    const char *value, char **account);
int	 azure_create_account(struct azure *, const char *rg,
	    const char *account, const char *location, const char *tag,
	    const char *value);
/* Looks up the account's blob endpoint and a key for the calls below. */
int	 azure_use_account(struct azure *, const char *rg,
	    const char *account);
/*
 * Uses the named account with its key (base64, secret) for the blob calls
 * below, at https://ACCOUNT.blob.core.windows.net, or path-style under
 * IB_AZURE_BLOB_URL (tests). Needs no login: a client made without
 * tenant, subscription or creds can do this and the blob calls only.
 */
int	 azure_use_key(struct azure *, const char *account, const char *key);
/* Creates the container unless it exists. */
int	 azure_container(struct azure *, const char *container);
/* Uploads path as a page blob container/blob; its size must be a
 * multiple of 512. */
int	 azure_page_blob_upload(struct azure *, const char *container,
	    const char *blob, const char *path);
/* Where a page-blob upload says how far it is (copied; NULL: nowhere). */
struct http_progress;
void	 azure_set_progress(struct azure *, const struct http_progress *);
/* The URL of container/blob in the account in use; caller frees. */
char	*azure_blob_url(const struct azure *, const char *container,
	    const char *blob);
/* A managed image from the blob, waited for. hyperv: "V1" or "V2".
 * tags: key, value, key, value..., NULL, or NULL. */
int	 azure_image_create(struct azure *, const char *rg, const char *name,
	    const char *location, const char *blob_url, const char *hyperv,
	    const char *const *tags);

/* ---- the retention clean-up ---- */

#define AZURE_IMAGES_MAX	50000
struct azure_image {
	char	*name;		/* an ARM name */
	char	*rg;		/* its resource group */
	char	*created;	/* the created tag's value, or NULL */
	char	*blob_uri;	/* its OS disk's VHD, or NULL */
};
/*
 * The subscription's managed images tagged tag=value, every page of
 * ARM's list (nextLink followed on ARM only), at most AZURE_IMAGES_MAX;
 * created_tag names the tag that dates them. Free with azure_images_free.
 */
int	 azure_images_list(struct azure *, const char *tag, const char *value,
	    const char *created_tag, struct azure_image **out, size_t *n);
void	 azure_images_free(struct azure_image *, size_t);
/* Deletes a managed image and waits for the operation. */
int	 azure_image_delete(struct azure *, const char *rg, const char *name);
/* The storage account of a blob URL (host ACCOUNT.blob.*, else the first
 * path segment), checked; NULL when none. Caller frees. */
char	*azure_blob_account(const char *uri);
/* Deletes the blob at uri, which must lie in the account in use
 * (azure_use_account); a blob already gone is no error. */
int	 azure_blob_delete(struct azure *, const char *uri);

struct azure_stats {
	int64_t	 bytes_sent;
	int64_t	 pages_sent;
	int64_t	 pages_skipped;
	int	 retries;
	int	 max_inflight;
	int	 polls;
	/* Of the pages (http_multi): attempts again, how many of them
	 * waited as Retry-After asked, and the time they waited. */
	int	 page_retries;
	int	 retry_after;
	int64_t	 retry_wait_ms;
};
const struct azure_stats *azure_stats(const struct azure *);

#endif
