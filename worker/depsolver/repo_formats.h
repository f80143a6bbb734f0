/*
 * The two repository formats ib-depsolve reads, each from one base URL:
 * 0 loaded, -1 c->err set, -2 this base failed (c->why says why) and
 * another may be tried.
 */
#ifndef IB_DS_REPO_FORMATS_H
#define IB_DS_REPO_FORMATS_H

#include "depsolver/repo_common.h"

/* repo_deb.c: InRelease (signature, suite, validity), then the Packages
 * of each component. */
int	deb_from(struct loadctx *c, Repo *repo, const char *base);
/* repo_rpmmd.c: repomd.xml (and its signature with repo_gpgcheck), then
 * primary and comps. */
int	rpmmd_from(struct loadctx *c, Repo *repo, const char *base);

#endif
