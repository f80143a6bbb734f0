/*
 * Repository loading and its cache. See repos.h.
 *
 * Cache layout, per repository source (a hash of its type, URLs, suite,
 * components, arch and the keys it is checked with, so ids can change
 * freely and metadata checked with one key is never trusted for another):
 *   CACHEDIR/ib-depsolve/KEY/lock      flock while loading
 *   CACHEDIR/ib-depsolve/KEY/index     the verified InRelease text or
 *                                      repomd.xml; its mtime = last check
 *   CACHEDIR/ib-depsolve/KEY/base      the baseurl that answered
 *   CACHEDIR/ib-depsolve/KEY/repo.solv the parsed packages without their
 *                                      descriptions (what depsolve reads)
 *   CACHEDIR/ib-depsolve/KEY/repo-full.solv  all of it (search, dump)
 * A check after expiry refetches the index only; the package lists are
 * refetched when the index changed.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "depsolver/repo_formats.h"
#include "depsolver/repos.h"
#include "log.h"

static char *
cache_key(const struct ds_repo *r)
{
	struct buf	 b;
	char		*hex;
	size_t		 i;

	buf_init(&b);
	buf_printf(&b, "%s\n", r->type == DS_DEB ? "deb" : "rpmmd");
	for (i = 0; r->baseurls[i] != NULL; i++)
		buf_printf(&b, "url %s\n", r->baseurls[i]);
	buf_printf(&b, "mirrorlist %s\nmetalink %s\n",
	    r->mirrorlist ? r->mirrorlist : "", r->metalink ? r->metalink : "");
	/* What the metadata was checked against is part of it too. */
	buf_printf(&b, "trusted %d repo_gpgcheck %d\n", r->trusted,
	    r->repo_gpgcheck);
	for (i = 0; r->gpgkeys[i] != NULL; i++)
		buf_printf(&b, "key %s\n", r->gpgkeys[i]);
	if (r->type == DS_DEB) {
		buf_printf(&b, "suite %s\narch %s\n", r->suite, r->debarch);
		for (i = 0; r->components[i] != NULL; i++)
			buf_printf(&b, "component %s\n", r->components[i]);
	}
	hex = rc_digest("sha256", b.data, b.len);
	buf_free(&b);
	hex[24] = '\0';
	return hex;
}

/* A mirrorlist: one URL a line; they become the baseurls. */
static int
read_mirrorlist(struct loadctx *c)
{
	struct buf	 b;
	char		*line, *save = NULL;
	size_t		 n = 0;
	long		 st;

	buf_init(&b);
	if (fetch_get(c->f, c->r, c->r->mirrorlist, INDEX_MAX, &b, &st,
	    c->why, sizeof(c->why)) == -1) {
		ds_seterr(c->err, DS_REPO, "Cannot download the mirrorlist of "
		    "repo '%s': %s", c->r->id, c->why);
		buf_free(&b);
		return -1;
	}
	strv_free(c->r->baseurls);
	c->r->baseurls = xcalloc(1, sizeof(char *));
	for (line = strtok_r(b.data, "\r\n", &save); line != NULL && n < 64;
	    line = strtok_r(NULL, "\r\n", &save)) {
		while (*line == ' ' || *line == '\t')
			line++;
		if (strncmp(line, "http://", 7) != 0 &&
		    strncmp(line, "https://", 8) != 0)
			continue;
		c->r->baseurls = xrealloc(c->r->baseurls,
		    (n + 2) * sizeof(char *));
		c->r->baseurls[n++] = xstrdup(rtrim(line));
		c->r->baseurls[n] = NULL;
	}
	buf_free(&b);
	return 0;
}

static int
is_fresh(struct loadctx *c)
{
	struct stat	 st;
	char		*ip = xasprintf("%s/index", c->dir);
	int		 fresh = 0;

	if (stat(ip, &st) == 0) {
		if (c->r->expire == DS_EXPIRE_NEVER)
			fresh = 1;
		else
			fresh = time(NULL) - st.st_mtime < c->r->expire &&
			    st.st_mtime <= time(NULL);
	}
	free(ip);
	return fresh;
}

static int
load_one(struct loadctx *c, Repo *repo)
{
	char	*bp, *base;
	size_t	 i, len;
	int	 rc = -2;

	if (is_fresh(c) && rc_cache_load(c, repo) == 0) {
		bp = xasprintf("%s/base", c->dir);
		base = read_file(bp, 4096, &len);
		free(bp);
		for (i = 0; base != NULL && c->r->baseurls[i] != NULL; i++)
			if (strcmp(c->r->baseurls[i], rtrim(base)) == 0)
				c->r->baseurl = c->r->baseurls[i];
		free(base);
		if (c->r->baseurl == NULL && c->r->baseurls[0] != NULL)
			c->r->baseurl = c->r->baseurls[0];
		if (c->r->baseurl != NULL) {
			log_debug("repository '%s': cached metadata",
			    c->r->id);
			return 0;
		}
		repo_empty(repo, 1);
	}
	if (c->r->metalink != NULL && strv_len(c->r->baseurls) == 0) {
		ds_seterr(c->err, DS_REPO, "repository '%s': metalink is not "
		    "supported, give baseurl or mirrorlist", c->r->id);
		return -1;
	}
	if (c->r->mirrorlist != NULL && strv_len(c->r->baseurls) == 0 &&
	    read_mirrorlist(c) == -1)
		return -1;
	snprintf(c->why, sizeof(c->why), "no baseurl");
	for (i = 0; c->r->baseurls[i] != NULL && rc == -2; i++) {
		rc = c->r->type == DS_DEB ? deb_from(c, repo,
		    c->r->baseurls[i]) : rpmmd_from(c, repo,
		    c->r->baseurls[i]);
		if (rc == 0)
			c->r->baseurl = c->r->baseurls[i];
		else if (rc == -2)
			log_info("repository '%s': %s", c->r->id, c->why);
	}
	if (rc == -2)
		ds_seterr(c->err, DS_REPO, "Failed to download metadata for "
		    "repo '%s': Cannot download repomd.xml or InRelease: "
		    "%s", c->r->id, c->why);
	return rc == 0 ? 0 : -1;
}

int
repos_load(Pool *pool, struct ds_request *req, struct fetcher *f,
    struct ds_err *err)
{
	struct loadctx	 c;
	size_t		 i;
	int		 lockfd = -1, rv = -1;
	char		*key, *lp;

	memset(&c, 0, sizeof(c));
	c.pool = pool;
	c.req = req;
	c.f = f;
	c.err = err;
	for (i = 0; i < req->nrepos; i++) {
		Repo *repo = repo_create(pool, req->repos[i].id);

		repo->appdata = &req->repos[i];
		c.r = &req->repos[i];
		key = cache_key(c.r);
		c.dir = xasprintf("%s/ib-depsolve/%s", req->cachedir, key);
		free(key);
		if (mkdir_p(c.dir, 0755) == -1) {
			ds_seterr(err, DS_REPO, "cannot create the cache "
			    "directory %s: %s", c.dir, strerror(errno));
			goto cleanup;
		}
		lp = xasprintf("%s/lock", c.dir);
		lockfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		free(lp);
		if (lockfd == -1 || flock(lockfd, LOCK_EX) == -1) {
			ds_seterr(err, DS_REPO, "cannot lock %s: %s", c.dir,
			    strerror(errno));
			goto cleanup;
		}
		if (load_one(&c, repo) == -1)
			goto cleanup;
		close(lockfd);
		lockfd = -1;
		free(c.dir);
		c.dir = NULL;
		log_debug("repository '%s': %d packages", req->repos[i].id,
		    repo->nsolvables);
	}
	rv = 0;
cleanup:
	if (lockfd != -1)
		close(lockfd);
	free(c.dir);
	return rv;
}
