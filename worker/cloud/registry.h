/*
 * A client of the container registry HTTP API v2, just enough to resolve
 * an image reference to its digests: manifests, Docker manifest lists and
 * OCI indexes (the entry for one architecture), Basic and Bearer-token
 * authentication with credentials from a containers-auth.json file.
 * Knows nothing of jobs; errors carry the registry's own message.
 */
#ifndef IB_REGISTRY_H
#define IB_REGISTRY_H

#include <stdatomic.h>
#include <stddef.h>

/* An image reference: host[:port]/path[:tag][@digest]. */
struct registry_ref {
	char	*host;		/* as written; "docker.io" when none was */
	char	*repo;		/* "library/x" for docker.io's short names */
	char	*tag;		/* NULL with a digest only; default "latest" */
	char	*digest;	/* "sha256:..." or NULL */
};

/* Parses source into ref (caller frees with registry_ref_free). -1 + why. */
int	 registry_parse_ref(const char *source, struct registry_ref *,
	    char *err, size_t errlen);
void	 registry_ref_free(struct registry_ref *);

/* The registry's name for an architecture (x86_64 -> amd64 ...). */
const char *registry_goarch(const char *arch);

/*
 * A WWW-Authenticate challenge: its scheme and the realm, service and
 * scope parameters (each newly allocated or NULL). -1 when unparsable.
 */
struct registry_challenge {
	char	*scheme;
	char	*realm;
	char	*service;
	char	*scope;
};
int	 registry_parse_challenge(const char *, struct registry_challenge *);
void	 registry_challenge_free(struct registry_challenge *);

/*
 * The "user:password" for host in a containers-auth.json file
 * ({"auths":{"host":{"auth":base64(user:password)}}}), newly allocated
 * (free with freezero_str), or NULL when the file has none. -1 with why
 * when the file cannot be read or parsed, 0 otherwise.
 */
int	 registry_auth_lookup(const char *path, const char *host,
	    char **userpwd, char *err, size_t errlen);

struct registry_opts {
	const char		*auth_file;	/* NULL: anonymous */
	int			 tls_verify;	/* 0: also plain HTTP */
	const char		*ca_bundle;	/* NULL: the system store */
	long			 connect_timeout;
	long			 transfer_timeout;
	const atomic_int	*abort;
};

struct registry_image {
	char	*image_id;	/* the config's digest */
	char	*digest;	/* the arch manifest's digest */
	char	*list_digest;	/* the index's digest, or NULL */
};

/*
 * Resolves source for arch (uname's word: x86_64, aarch64...). Returns 0
 * with img filled (free with registry_image_free), or -1 with the reason,
 * the registry's own message when it gave one, in err.
 */
int	 registry_resolve(const struct registry_opts *, const char *source,
	    const char *arch, struct registry_image *img, char *err,
	    size_t errlen);
void	 registry_image_free(struct registry_image *);

#endif
