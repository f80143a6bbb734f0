/*
 * A Koji hub client: XML-RPC over the project's HTTP layer (xml.c builds
 * and reads the documents), a session from sslLogin (Kerberos through
 * libcurl's SPNEGO when asked) whose id, key and call number ride on every
 * call's query as Koji wants, and uploads in chunks as Koji's own client
 * sends them: raw octets at an offset, each checked against the hub's
 * answered size and Adler-32, the whole file's MD5 returned.
 */
#ifndef IB_KOJI_H
#define IB_KOJI_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

struct koji_cfg {
	const char		*server;	/* the hub's XML-RPC URL */
	long			 connect_timeout;
	int64_t			 relax_timeout_factor;	/* scales timeouts, 0: 1 */
	/*
	 * Kerberos: with both, the login gets a ticket for principal from
	 * the keytab (a memory cache of this thread, nothing on disk) and
	 * logs in with SPNEGO.
	 */
	const char		*principal;
	const char		*keytab;
	int			 tries;		/* per call, 0: 6 */
	int64_t			 backoff_cap;	/* ms, 0: 20000 */
	int64_t			 chunk_size;	/* upload chunk, 0: 1 MiB */
	const atomic_int	*abort;
};

struct koji;

/* NULL when the server is not an http(s) URL without credentials. */
struct koji	*koji_new(const struct koji_cfg *);
void		 koji_free(struct koji *);
/* After a failure: why (the hub's fault, never the session key). */
const char	*koji_error(const struct koji *);
int		 koji_aborted(const struct koji *);
void		 koji_set_abort(struct koji *, const atomic_int *);

/* 1 for an upload directory Koji accepts: relative, no "." or "..". */
int	 koji_dir_ok(const char *);

/*
 * 0 when keytab (a path, or TYPE:RESIDUAL) can be read and holds a key of
 * principal; -1 with why (Kerberos' own words) in why.
 */
int	 koji_keytab_check(const char *keytab, const char *principal,
	    char *why, size_t len);

/* sslLogin at SERVER/ssllogin: the session the calls below use. */
int	 koji_login(struct koji *);
int	 koji_logout(struct koji *);
/*
 * Calls method with params (a JSON array, borrowed; NULL: none) in the
 * session; 0 with the answer in *out (new; may be NULL for nil), -1.
 */
int	 koji_call(struct koji *, const char *method, json_object *params,
	    json_object **out);
/*
 * Uploads the file at path, or len bytes of data when path is NULL, as
 * dir/name; md5 gets the whole file's lowercase hex MD5, *size its size.
 */
int	 koji_upload(struct koji *, const char *dir, const char *name,
	    const char *path, const void *data, size_t len, char md5[33],
	    uint64_t *size);

#endif
