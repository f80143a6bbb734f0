/*
 * Repository metadata into the libsolv pool: Debian (InRelease checked
 * with gpgv, Packages checked against its SHA256) and rpm-md (repomd.xml,
 * primary and comps checked against their checksums), cached as .solv
 * files under the request's cachedir and refreshed per metadata_expire.
 */
#ifndef IB_DS_REPOS_H
#define IB_DS_REPOS_H

#include <solv/pool.h>

#include "depsolver/ds.h"
#include "depsolver/fetch.h"

/*
 * Loads every repository of req into pool (each Repo's appdata is its
 * struct ds_repo). 0, or -1 with a RepoError (or InvalidRequest) in err.
 */
int	repos_load(Pool *, struct ds_request *, struct fetcher *,
	    struct ds_err *);

#endif
