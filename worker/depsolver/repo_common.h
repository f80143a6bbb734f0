/*
 * What loading Debian and rpm-md repositories shares (repos.c drives it,
 * repo_deb.c and repo_rpmmd.c read the two formats): the state of one
 * repository being loaded, fetching helpers, the keyring its metadata is
 * checked with, and its cache (the layout is described in repos.c).
 */
#ifndef IB_DS_REPO_COMMON_H
#define IB_DS_REPO_COMMON_H

#include <solv/pool.h>
#include <solv/repo.h>

#include <stddef.h>

#include "depsolver/ds.h"
#include "depsolver/fetch.h"
#include "depsolver/gpg.h"
#include "util.h"

#define INDEX_MAX	(16u << 20)	/* InRelease, repomd.xml */
#define LIST_MAX	(1024u << 20)	/* Packages.xz, primary.xml.gz */

/* One repository being loaded; dir is its cache directory. */
struct loadctx {
	Pool			*pool;
	struct ds_request	*req;
	struct ds_repo		*r;
	struct fetcher		*f;
	struct ds_err		*err;
	char			*dir;
	char			 why[1024];
};

/* The hex digest of data with the named algorithm ("sha256"); caller
 * frees; NULL for an unknown algorithm or md5. */
char		*rc_digest(const char *alg, const void *data, size_t len);
/* base and path joined by one slash; caller frees. */
char		*rc_join_url(const char *base, const char *path);
/*
 * Loads a list (Packages when deb, else primary or comps, by name; and
 * compressed or not, per name's suffix) into repo. 0 or -1.
 */
int		 rc_add_list(Repo *repo, const char *name, struct buf *data,
		    int deb);
/* The keyring the repository's signatures are checked against (deb:
 * Debian's own when it names none); NULL with c->err set. */
struct keyring	*rc_keyring(struct loadctx *c, int deb);
/*
 * When the cached index holds exactly text and the cached packages load
 * into repo: marks the index checked now and returns 1; else 0.
 */
int		 rc_cache_reuse(struct loadctx *c, Repo *repo,
		    const char *text, size_t len);
/* Loads the cached packages the command needs into repo; 0 or -1. */
int		 rc_cache_load(struct loadctx *c, Repo *repo);
/* Writes the cache after a refresh; a failure is only a warning. */
void		 rc_cache_save(struct loadctx *c, Repo *repo,
		    const char *index, size_t ilen, const char *base);

#endif
