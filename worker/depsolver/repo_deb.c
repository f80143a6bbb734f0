/*
 * Debian repositories: InRelease checked with the keyring, Packages
 * checked against the SHA256 the Release file gives (see repo_formats.h).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "depsolver/release.h"
#include "depsolver/repo_formats.h"

/*
 * Fetches one list the Release file vouches for, by hash when the archive
 * offers it, and checks size and SHA256. 0, -1 (err set), or 1 when the
 * Release lists none of the names.
 */
static int
deb_list(struct loadctx *c, const char *base, const struct release *rel,
    const char *dir, struct buf *out, const char **namep)
{
	static const char *const names[] = {
		"Packages.xz", "Packages.gz", "Packages",
	};
	const struct release_file *rf = NULL;
	char	*path = NULL, *url = NULL, *hex = NULL;
	size_t	 i;
	long	 st;
	int	 rv = -1;

	for (i = 0; i < nitems(names) && rf == NULL; i++) {
		free(path);
		path = xasprintf("%s/%s", dir, names[i]);
		rf = release_find(rel, path);
		*namep = names[i];
	}
	if (rf == NULL) {
		free(path);
		return 1;
	}
	if (rel->by_hash) {
		char *bh = xasprintf("dists/%s/%s/by-hash/SHA256/%s",
		    c->r->suite, dir, rf->sha256);

		url = rc_join_url(base, bh);
		free(bh);
		if (fetch_get(c->f, c->r, url, LIST_MAX, out, &st, c->why,
		    sizeof(c->why)) == 0)
			goto check;
		free(url);
	}
	{
		char *p = xasprintf("dists/%s/%s", c->r->suite, path);

		url = rc_join_url(base, p);
		free(p);
	}
	if (fetch_get(c->f, c->r, url, LIST_MAX, out, &st, c->why,
	    sizeof(c->why)) == -1) {
		ds_seterr(c->err, DS_REPO, "Failed to download metadata for "
		    "repo '%s': %s", c->r->id, c->why);
		goto cleanup;
	}
check:
	hex = rc_digest("sha256", out->data, out->len);
	if (out->len != rf->size || strcmp(hex, rf->sha256) != 0) {
		ds_seterr(c->err, DS_REPO, "repository '%s': %s does not "
		    "match the checksum in its InRelease (got %zu bytes, "
		    "sha256 %s)", c->r->id, url, out->len, hex);
		goto cleanup;
	}
	rv = 0;
cleanup:
	free(hex);
	free(url);
	free(path);
	return rv;
}

int
deb_from(struct loadctx *c, Repo *repo, const char *base)
{
	struct keyring	*kr = NULL;
	struct release	 rel;
	struct buf	 raw, text, list;
	char		*url, *p;
	const char	*name;
	size_t		 i;
	long		 st;
	int		 rv = -1, a, parsed = 0;

	buf_init(&raw);
	buf_init(&text);
	buf_init(&list);
	memset(&rel, 0, sizeof(rel));
	p = xasprintf("dists/%s/%s", c->r->suite, c->r->trusted ? "Release" :
	    "InRelease");
	url = rc_join_url(base, p);
	free(p);
	if (fetch_get(c->f, c->r, url, INDEX_MAX, &raw, &st, c->why,
	    sizeof(c->why)) == -1) {
		rv = -2;
		goto cleanup;
	}
	if (c->r->trusted)
		buf_add(&text, raw.data, raw.len);
	else {
		if ((kr = rc_keyring(c, 1)) == NULL)
			goto cleanup;
		if (gpg_verify_clearsigned(kr, raw.data, raw.len, &text,
		    c->why, sizeof(c->why)) == -1) {
			ds_seterr(c->err, DS_REPO, "repository '%s': %s: %s",
			    c->r->id, url, c->why);
			goto cleanup;
		}
	}
	if (release_parse(text.data, &rel, c->why, sizeof(c->why)) == -1) {
		ds_seterr(c->err, DS_REPO, "repository '%s': %s: %s",
		    c->r->id, url, c->why);
		goto cleanup;
	}
	parsed = 1;
	if ((rel.suite == NULL || strcmp(rel.suite, c->r->suite) != 0) &&
	    (rel.codename == NULL || strcmp(rel.codename, c->r->suite) != 0)) {
		ds_seterr(c->err, DS_REPO, "repository '%s': %s is for suite "
		    "'%s' (%s), not '%s'", c->r->id, url,
		    rel.suite ? rel.suite : "", rel.codename ? rel.codename :
		    "", c->r->suite);
		goto cleanup;
	}
	if (rel.valid_until != 0 && rel.valid_until < time(NULL)) {
		ds_seterr(c->err, DS_REPO, "repository '%s': %s has expired "
		    "(Valid-Until is past)", c->r->id, url);
		goto cleanup;
	}
	if (rc_cache_reuse(c, repo, text.data, text.len)) {
		rv = 0;
		goto cleanup;
	}
	for (i = 0; c->r->components[i] != NULL; i++) {
		for (a = 0; a < 2; a++) {
			char *dir = xasprintf("%s/binary-%s",
			    c->r->components[i], a == 0 ? c->r->debarch :
			    "all");
			int rc;

			if (a == 1 && (rel.no_arch_all ||
			    strcmp(c->r->debarch, "all") == 0)) {
				free(dir);
				break;
			}
			rc = deb_list(c, base, &rel, dir, &list, &name);
			if (rc == 1 && a == 0) {
				ds_seterr(c->err, DS_REPO, "repository '%s': "
				    "the InRelease lists no Packages for %s",
				    c->r->id, dir);
				rc = -1;
			}
			if (rc == 0 &&
			    rc_add_list(repo, name, &list, 1) == -1) {
				ds_seterr(c->err, DS_REPO, "repository '%s': "
				    "cannot read %s/%s: %s", c->r->id, dir,
				    name, pool_errstr(c->pool));
				rc = -1;
			}
			free(dir);
			if (rc == -1)
				goto cleanup;
		}
	}
	repo_internalize(repo);
	rc_cache_save(c, repo, text.data, text.len, base);
	rv = 0;
cleanup:
	if (parsed)
		release_free(&rel);
	gpg_keyring_free(kr);
	buf_free(&raw);
	buf_free(&text);
	buf_free(&list);
	free(url);
	return rv;
}
