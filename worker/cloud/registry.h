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
#include <stdint.h>

#include <json-c/json.h>

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

/*
 * Pushing an OCI archive (a tar holding an OCI image layout with one image
 * manifest, as osbuild's oci-archive stage writes it) to dest, a reference
 * with a tag: each blob is skipped when the repository has it, mounted from
 * mount_from (a repository on the same registry) when that has it, or else
 * uploaded in chunks of chunk_size bytes (POST, PATCH..., PUT); the
 * manifest goes last. Blob sizes and the manifest's digest are checked
 * against the archive before anything is sent.
 */
struct registry_push {
	const char	*mount_from;	/* NULL: no cross-repository mount */
	const char	*userpwd;	/* "user:password", or NULL: auth_file */
	size_t		 chunk_size;	/* 0: 16 MiB */
	/* out: what happened to the blobs */
	int		 uploaded, mounted, present, chunks;
};

/*
 * Returns 0 with the manifest's digest in *digest (newly allocated), or -1
 * with the reason (the registry's own message when it gave one) in err.
 */
int	 registry_push_archive(const struct registry_opts *,
	    struct registry_push *, const char *archive, const char *dest,
	    char **digest, char *err, size_t errlen);

/*
 * Reading an image's files without running it: the manifest for arch (as
 * registry_resolve), its config, then each layer in order, downloaded to
 * a file in tmpdir (removed at once) and read as a (gzip) tar. For each
 * regular file whose path (without a leading "./" or "/") want() accepts,
 * file() gets its contents (at most REG_MAX_FILE bytes; larger ones are
 * cut); a later layer's file comes later, as it overrides. Both callbacks
 * also see every other path's name with data NULL. -1 with why.
 */
#define REG_MAX_FILE	(64u << 10)
struct registry_inspect {
	const char	*tmpdir;
	int		(*want)(const char *path);
	void		(*file)(void *arg, const char *path, const char *data,
			    size_t len);
	void		*arg;
	/* out, newly allocated: free with registry_inspect_free */
	struct registry_image	 img;
	char		*arch;		/* the config's, registry words */
	char		*os;
	int64_t		 size;		/* the layers' compressed bytes */
	json_object	*labels;	/* the config's, or NULL */
};
int	 registry_inspect(const struct registry_opts *, const char *source,
	    const char *arch, struct registry_inspect *, char *err,
	    size_t errlen);
void	 registry_inspect_free(struct registry_inspect *);

#endif
