/*
 * A Pulp 3 client for ostree content: chunked uploads (each chunk with its
 * SHA-256, the whole file's checked by Pulp on commit), ostree
 * repositories and distributions, commit imports, and the tasks these
 * start, waited for. HTTP basic authentication. Pulp's answers are
 * bounded and its hrefs checked before they become URLs.
 */
#ifndef IB_PULP_H
#define IB_PULP_H

#include <stdatomic.h>
#include <stdint.h>

#define PULP_CHUNK	(4LL * 1024 * 1024)

struct pulp_cfg {
	const char		*server;	/* http(s)://host[:port][/path] */
	const char		*username;
	const char		*password;	/* secret */
	long			 connect_timeout;
	int			 tries;		/* per request, 0: 5 */
	int64_t			 backoff_cap;	/* ms, 0: 20000 */
	int64_t			 poll_ms;	/* task polls, 0: 1000 */
	int64_t			 task_timeout;	/* s, 0: 1 h */
	const atomic_int	*abort;
};

struct pulp;

/*
 * 1 when s is a server address a client may be made for: http(s)://, no
 * userinfo, query, fragment, white space or control characters, at most
 * 1024 bytes.
 */
int		 pulp_server_ok(const char *s);
/* Copies cfg's strings; the server must pass pulp_server_ok(). */
struct pulp	*pulp_new(const struct pulp_cfg *);
void		 pulp_free(struct pulp *);
/* The last error: "what: why", Pulp's own message, no secret. */
const char	*pulp_error(const struct pulp *);
int		 pulp_aborted(const struct pulp *);

/* The href of the ostree repository named name, *href NULL when there is
 * none; caller frees. -1 when Pulp has more than one. */
int	 pulp_repo_find(struct pulp *, const char *name, char **href);
/* Creates an ostree repository; *href its href, caller frees. */
int	 pulp_repo_create(struct pulp *, const char *name, char **href);
/* Uploads the file in chunks and commits it; *artifact the artifact's
 * href (caller frees). */
int	 pulp_upload(struct pulp *, const char *path, char **artifact);
/* Distributes the repository at base_path under name, waited for. */
int	 pulp_distribute(struct pulp *, const char *base_path,
	    const char *name, const char *repo);
/* Imports the commit archive artifact (its ostree repository is "repo")
 * into the repository, waited for. */
int	 pulp_import_commit(struct pulp *, const char *repo,
	    const char *artifact);
/* The base URL of the first distribution of the repository; *url NULL
 * when there is none. Caller frees. */
int	 pulp_distribution_url(struct pulp *, const char *repo, char **url);

#endif
