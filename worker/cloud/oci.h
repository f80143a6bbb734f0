/*
 * An Oracle Cloud Infrastructure client: requests signed with the API
 * key (HTTP signatures, RSA-SHA256, keyId tenancy/user/fingerprint),
 * Object Storage uploads (one PUT, or a multipart upload past the part
 * size), object deletion, pre-authenticated requests, and custom image
 * import with its work request waited on and its capability schema made.
 * Endpoints come from IB_OCI_OBJECTSTORAGE_URL and IB_OCI_IAAS_URL when
 * set (tests), else from the region.
 */
#ifndef IB_OCI_H
#define IB_OCI_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

struct oci_cfg {
	const char		*user;		/* OCIDs, checked by oci_ocid_ok */
	const char		*tenancy;
	const char		*fingerprint;	/* the API key's, hex:hex:... */
	const char		*region;
	const char		*private_key;	/* PEM, secret; copied */
	long			 connect_timeout;
	int64_t			 part_size;	/* multipart past this, 0: 64 MiB */
	int			 tries;		/* per request, 0: 6 */
	int64_t			 backoff_cap;	/* ms, 0: 20000 */
	int64_t			 poll_ms;	/* work request polls, 0: 5000 */
	int64_t			 op_timeout;	/* s an import may take, 0: 3 h */
	const atomic_int	*abort;
};

struct oci;

/*
 * A client; NULL with a reason (no secret) in err when the key is not a
 * PEM RSA private key or a name is malformed.
 */
struct oci	*oci_new(const struct oci_cfg *, char *err, size_t errlen);
void		 oci_free(struct oci *);
/* After a failure: why, with OCI's code and message (never a secret). */
const char	*oci_error(const struct oci *);
int		 oci_aborted(const struct oci *);
/* Clean-up after a cancellation runs without the abort flag. */
void		 oci_set_abort(struct oci *, const atomic_int *);

/* Names we accept: 1 when valid. */
int	 oci_ocid_ok(const char *);		/* ocid1.KIND.REALM.[REGION].ID */
int	 oci_region_ok(const char *);		/* us-ashburn-1 */
int	 oci_name_ok(const char *);		/* bucket, namespace, object */
int	 oci_fingerprint_ok(const char *);
int	 oci_key_ok(const char *pem);		/* unencrypted PEM RSA */

/*
 * The Authorization header's value for a request (RSA-SHA256 over the
 * signing string of the headers named); newly allocated, a credential.
 * headers is "date (request-target) host" plus, for a signed body,
 * " x-content-sha256 content-type content-length"; values holds the
 * header values in that order ((request-target) and host included).
 */
char	*oci_authorization(const struct oci *, const char *headers,
	    const char *const *values);

/* Uploads path as namespace/bucket/object. */
int	 oci_upload(struct oci *, const char *ns, const char *bucket,
	    const char *object, const char *path);
int	 oci_delete_object(struct oci *, const char *ns, const char *bucket,
	    const char *object);
/*
 * Imports the QCOW2 object as a custom image named display_name in the
 * compartment, tagged Uploaded-By and Name as the reference tags them,
 * waits for its work request and gives it the global capability schema's
 * paravirtualized defaults. The image's OCID (caller frees), or NULL.
 */
char	*oci_create_image(struct oci *, const char *compartment,
	    const char *ns, const char *bucket, const char *object,
	    const char *display_name);
/*
 * A read-only pre-authenticated request for the object, valid until
 * expires: its full URL (caller frees; it grants access), or NULL.
 */
char	*oci_preauth(struct oci *, const char *ns, const char *bucket,
	    const char *object, time_t expires);

#endif
