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
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include <solv/knownid.h>
#include <solv/repo.h>
#include <solv/repodata.h>
#include <solv/repo_comps.h>
#include <solv/repo_deb.h>
#include <solv/repo_rpmmd.h>
#include <solv/repo_solv.h>
#include <solv/repo_write.h>
#include <solv/solv_xfopen.h>

#include "depsolver/gpg.h"
#include "depsolver/release.h"
#include "depsolver/repos.h"
#include "log.h"
#include "util.h"

#define INDEX_MAX	(16u << 20)	/* InRelease, repomd.xml */
#define LIST_MAX	(1024u << 20)	/* Packages.xz, primary.xml.gz */
#define SOLV_MAX	(2048u << 20)

struct loadctx {
	Pool			*pool;
	struct ds_request	*req;
	struct ds_repo		*r;
	struct fetcher		*f;
	struct ds_err		*err;
	char			*dir;
	char			 why[1024];
};

char *
repos_digest(const char *alg, const void *data, size_t len)
{
	const EVP_MD	*md = EVP_get_digestbyname(alg);
	unsigned char	 out[EVP_MAX_MD_SIZE];
	unsigned int	 n = 0, i;
	char		*hex;

	if (md == NULL || strcmp(alg, "md5") == 0)
		return NULL;
	if (EVP_Digest(data, len, out, &n, md, NULL) != 1)
		return NULL;
	hex = xmalloc(n * 2 + 1);
	for (i = 0; i < n; i++)
		snprintf(hex + i * 2, 3, "%02x", out[i]);
	return hex;
}

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
	hex = repos_digest("sha256", b.data, b.len);
	buf_free(&b);
	hex[24] = '\0';
	return hex;
}

static char *
join_url(const char *base, const char *path)
{
	size_t	 n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	return xasprintf("%.*s/%s", (int)n, base, path);
}

/*
 * Loads a list (compressed or not, per name's suffix) into repo. The data
 * goes through a memfd since libsolv decompresses file descriptors only.
 */
static int
add_list(Repo *repo, const char *name, struct buf *data, int deb)
{
	FILE	*fp;
	int	 fd, rc;

	if ((fd = memfd_create("ib-depsolve-list", MFD_CLOEXEC)) == -1)
		return -1;
	if (write_all(fd, data->data, data->len) == -1) {
		close(fd);
		return -1;
	}
	if (lseek(fd, 0, SEEK_SET) == -1 ||
	    (fp = solv_xfopen_fd(name, fd, "r")) == NULL) {
		close(fd);
		return -1;
	}
	if (deb)
		rc = repo_add_debpackages(repo, fp, REPO_REUSE_REPODATA |
		    REPO_NO_INTERNALIZE);
	else if (strstr(name, "comps") != NULL)
		rc = repo_add_comps(repo, fp, REPO_REUSE_REPODATA |
		    REPO_NO_INTERNALIZE);
	else
		rc = repo_add_rpmmd(repo, fp, NULL, REPO_REUSE_REPODATA |
		    REPO_NO_INTERNALIZE);
	fclose(fp);
	return rc == 0 ? 0 : -1;
}

/* The keyring a repository's signatures are checked against. */
static struct keyring *
keyring_for(struct loadctx *c, int deb)
{
	struct keyring	*kr;
	struct buf	 b;
	size_t		 i;
	long		 st;
	char		 why[512];

	if ((kr = gpg_keyring_new(why, sizeof(why))) == NULL) {
		ds_seterr(c->err, DS_REPO, "%s", why);
		return NULL;
	}
	buf_init(&b);
	for (i = 0; c->r->gpgkeys[i] != NULL; i++) {
		const char *k = c->r->gpgkeys[i];
		int rc;

		if (strncmp(k, "-----BEGIN PGP", 14) == 0)
			rc = gpg_keyring_add_data(kr, k, strlen(k), why,
			    sizeof(why));
		else if (strncmp(k, "file://", 7) == 0)
			rc = gpg_keyring_add_file(kr, k + 7, why, sizeof(why));
		else if (*k == '/')
			rc = gpg_keyring_add_file(kr, k, why, sizeof(why));
		else if ((rc = fetch_get(c->f, c->r, k, INDEX_MAX, &b, &st,
		    why, sizeof(why))) == 0)
			rc = gpg_keyring_add_data(kr, b.data, b.len, why,
			    sizeof(why));
		if (rc == -1) {
			ds_seterr(c->err, DS_REPO, "repository '%s': cannot "
			    "read a gpgkey: %s", c->r->id, why);
			goto fail;
		}
	}
	if (kr->n == 0 && deb &&
	    gpg_keyring_add_file(kr, GPG_DEBIAN_KEYRING, why,
	    sizeof(why)) == -1) {
		ds_seterr(c->err, DS_REPO, "repository '%s': %s", c->r->id,
		    why);
		goto fail;
	}
	if (kr->n == 0) {
		ds_seterr(c->err, DS_REPO, "repository '%s': repo_gpgcheck "
		    "is on but it has no gpgkeys", c->r->id);
		goto fail;
	}
	buf_free(&b);
	return kr;
fail:
	buf_free(&b);
	gpg_keyring_free(kr);
	return NULL;
}

/* The cached index, when it holds exactly text (so the lists are too). */
static int
index_unchanged(struct loadctx *c, const char *text, size_t len)
{
	char	*path = xasprintf("%s/index", c->dir), *old;
	size_t	 olen;
	int	 same;

	old = read_file(path, INDEX_MAX, &olen);
	same = old != NULL && olen == len && memcmp(old, text, len) == 0;
	free(old);
	free(path);
	return same;
}

/* Which cache file a command reads: depsolve never needs descriptions. */
static const char *
solv_name(const struct loadctx *c)
{
	return c->req->cmd == DS_CMD_DEPSOLVE ? "repo.solv" : "repo-full.solv";
}

/* The depsolve cache leaves out the long texts, a third of the load. */
static int
lean_keys(Repo *repo, Repokey *key, void *arg)
{
	(void)arg;
	if (key->name == SOLVABLE_DESCRIPTION)
		return KEY_STORAGE_DROPPED;
	return repo_write_stdkeyfilter(repo, key, 0);
}

static int
load_solv(struct loadctx *c, Repo *repo)
{
	char	*path = xasprintf("%s/%s", c->dir, solv_name(c));
	FILE	*fp;
	int	 rc = -1;

	if ((fp = fopen(path, "re")) != NULL) {
		rc = repo_add_solv(repo, fp, 0);
		fclose(fp);
		if (rc != 0) {
			log_warnx("%s: %s; refetching", path,
			    pool_errstr(c->pool));
			repo_empty(repo, 1);
			rc = -1;
		}
	}
	free(path);
	return rc;
}

/* Writes one .solv file atomically; 0 or -1. */
static int
write_solv(Repo *repo, const char *dir, const char *name, int lean)
{
	char	*tmp = xasprintf("%s/%s.tmp", dir, name);
	char	*dst = xasprintf("%s/%s", dir, name);
	FILE	*fp;
	int	 rv = -1;

	if ((fp = fopen(tmp, "we")) == NULL)
		goto cleanup;
	if ((lean ? repo_write_filtered(repo, fp, lean_keys, NULL, NULL) :
	    repo_write(repo, fp)) != 0 || fflush(fp) != 0 ||
	    fsync(fileno(fp)) != 0) {
		fclose(fp);
		unlink(tmp);
		goto cleanup;
	}
	fclose(fp);
	if (rename(tmp, dst) == 0)
		rv = 0;
cleanup:
	free(tmp);
	free(dst);
	return rv;
}

/* Writes the cache after a refresh; a failure here is only a warning. */
static void
save_cache(struct loadctx *c, Repo *repo, const char *index, size_t ilen,
    const char *base)
{
	char	*ip = xasprintf("%s/index", c->dir);
	char	*bp = xasprintf("%s/base", c->dir);

	/* The index last: it vouches for the rest. */
	unlink(ip);
	if (write_solv(repo, c->dir, "repo.solv", 1) == -1 ||
	    write_solv(repo, c->dir, "repo-full.solv", 0) == -1 ||
	    write_file_atomic(bp, base, strlen(base), 0644) == -1 ||
	    write_file_atomic(ip, index, ilen, 0644) == -1)
		log_warn("cannot write the cache in %s", c->dir);
	free(ip);
	free(bp);
}

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

		url = join_url(base, bh);
		free(bh);
		if (fetch_get(c->f, c->r, url, LIST_MAX, out, &st, c->why,
		    sizeof(c->why)) == 0)
			goto check;
		free(url);
	}
	{
		char *p = xasprintf("dists/%s/%s", c->r->suite, path);

		url = join_url(base, p);
		free(p);
	}
	if (fetch_get(c->f, c->r, url, LIST_MAX, out, &st, c->why,
	    sizeof(c->why)) == -1) {
		ds_seterr(c->err, DS_REPO, "Failed to download metadata for "
		    "repo '%s': %s", c->r->id, c->why);
		goto cleanup;
	}
check:
	hex = repos_digest("sha256", out->data, out->len);
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

/*
 * One Debian base URL: InRelease (signature, suite, validity), then the
 * Packages of each component. 0 loaded, -1 err set, -2 this base failed
 * (c->why says why) and another may be tried.
 */
static int
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
	url = join_url(base, p);
	free(p);
	if (fetch_get(c->f, c->r, url, INDEX_MAX, &raw, &st, c->why,
	    sizeof(c->why)) == -1) {
		rv = -2;
		goto cleanup;
	}
	if (c->r->trusted)
		buf_add(&text, raw.data, raw.len);
	else {
		if ((kr = keyring_for(c, 1)) == NULL)
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
	if (index_unchanged(c, text.data, text.len) && load_solv(c, repo) == 0) {
		char *ip = xasprintf("%s/index", c->dir);

		utimensat(AT_FDCWD, ip, NULL, 0);
		free(ip);
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
			if (rc == 0 && add_list(repo, name, &list, 1) == -1) {
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
	save_cache(c, repo, text.data, text.len, base);
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

struct mdfile {
	char	*href;
	char	*alg;
	char	*sum;
};

static void
mdfile_free(struct mdfile *m)
{
	free(m->href);
	free(m->alg);
	free(m->sum);
	memset(m, 0, sizeof(*m));
}

/* The location and checksum of one data type of repomd.xml. */
static int
repomd_find(const char *xml, size_t len, const char *type, struct mdfile *m)
{
	xmlDocPtr	 doc;
	xmlNodePtr	 n, k;
	int		 rv = -1;

	memset(m, 0, sizeof(*m));
	doc = xmlReadMemory(xml, (int)len, "repomd.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL || xmlDocGetRootElement(doc) == NULL)
		goto cleanup;
	for (n = xmlDocGetRootElement(doc)->children; n; n = n->next) {
		xmlChar *t;

		if (n->type != XML_ELEMENT_NODE ||
		    strcmp((const char *)n->name, "data") != 0)
			continue;
		t = xmlGetProp(n, (const xmlChar *)"type");
		if (t == NULL || strcmp((const char *)t, type) != 0) {
			xmlFree(t);
			continue;
		}
		xmlFree(t);
		for (k = n->children; k; k = k->next) {
			xmlChar *v;

			if (k->type != XML_ELEMENT_NODE)
				continue;
			if (strcmp((const char *)k->name, "location") == 0 &&
			    (v = xmlGetProp(k, (const xmlChar *)"href"))) {
				free(m->href);
				m->href = xstrdup((const char *)v);
				xmlFree(v);
			} else if (strcmp((const char *)k->name,
			    "checksum") == 0) {
				v = xmlGetProp(k, (const xmlChar *)"type");
				free(m->alg);
				m->alg = xstrdup(v ? (const char *)v : "");
				xmlFree(v);
				v = xmlNodeGetContent(k);
				free(m->sum);
				m->sum = xstrdup(v ? (const char *)v : "");
				xmlFree(v);
			}
		}
		break;
	}
	if (m->href != NULL && m->sum != NULL)
		rv = 0;
	else
		mdfile_free(m);
cleanup:
	xmlFreeDoc(doc);
	return rv;
}

/* Fetches a file repomd.xml names and checks it. 0 or -1 (err set). */
static int
rpmmd_file(struct loadctx *c, const char *base, struct mdfile *m,
    struct buf *out)
{
	char	*url, *hex = NULL;
	long	 st;
	int	 rv = -1;

	if (strstr(m->href, "..") != NULL || *m->href == '/') {
		ds_seterr(c->err, DS_REPO, "repository '%s': bad location "
		    "%s in repomd.xml", c->r->id, m->href);
		return -1;
	}
	url = join_url(base, m->href);
	if (fetch_get(c->f, c->r, url, LIST_MAX, out, &st, c->why,
	    sizeof(c->why)) == -1) {
		ds_seterr(c->err, DS_REPO, "Failed to download metadata for "
		    "repo '%s': %s", c->r->id, c->why);
		goto cleanup;
	}
	if (strcmp(m->alg, "sha") == 0) {
		free(m->alg);
		m->alg = xstrdup("sha1");
	}
	hex = repos_digest(m->alg, out->data, out->len);
	if (hex == NULL || strcasecmp(hex, m->sum) != 0) {
		ds_seterr(c->err, DS_REPO, "repository '%s': %s does not "
		    "match its %s checksum in repomd.xml", c->r->id, url,
		    m->alg);
		goto cleanup;
	}
	rv = 0;
cleanup:
	free(hex);
	free(url);
	return rv;
}

/* One rpm-md base URL, as deb_from. */
static int
rpmmd_from(struct loadctx *c, Repo *repo, const char *base)
{
	struct keyring	*kr = NULL;
	struct buf	 md, sig, list;
	struct mdfile	 prim, grp;
	char		*url, *sigurl = NULL;
	const char	*gname;
	long		 st;
	int		 rv = -1;

	buf_init(&md);
	buf_init(&sig);
	buf_init(&list);
	memset(&prim, 0, sizeof(prim));
	memset(&grp, 0, sizeof(grp));
	url = join_url(base, "repodata/repomd.xml");
	if (fetch_get(c->f, c->r, url, INDEX_MAX, &md, &st, c->why,
	    sizeof(c->why)) == -1) {
		rv = -2;
		goto cleanup;
	}
	if (c->r->repo_gpgcheck) {
		sigurl = join_url(base, "repodata/repomd.xml.asc");
		if (fetch_get(c->f, c->r, sigurl, INDEX_MAX, &sig, &st,
		    c->why, sizeof(c->why)) == -1) {
			ds_seterr(c->err, DS_REPO, "repository '%s': "
			    "repo_gpgcheck is on and the signature cannot be "
			    "fetched: %s", c->r->id, c->why);
			goto cleanup;
		}
		if ((kr = keyring_for(c, 0)) == NULL)
			goto cleanup;
		if (gpg_verify_detached(kr, md.data, md.len, sig.data,
		    sig.len, c->why, sizeof(c->why)) == -1) {
			ds_seterr(c->err, DS_REPO, "repository '%s': %s: %s",
			    c->r->id, url, c->why);
			goto cleanup;
		}
	}
	if (index_unchanged(c, md.data, md.len) && load_solv(c, repo) == 0) {
		char *ip = xasprintf("%s/index", c->dir);

		utimensat(AT_FDCWD, ip, NULL, 0);
		free(ip);
		rv = 0;
		goto cleanup;
	}
	if (repomd_find(md.data, md.len, "primary", &prim) == -1) {
		ds_seterr(c->err, DS_REPO, "repository '%s': %s names no "
		    "primary metadata", c->r->id, url);
		goto cleanup;
	}
	if (rpmmd_file(c, base, &prim, &list) == -1)
		goto cleanup;
	if (add_list(repo, prim.href, &list, 0) == -1) {
		ds_seterr(c->err, DS_REPO, "repository '%s': cannot read %s: "
		    "%s", c->r->id, prim.href, pool_errstr(c->pool));
		goto cleanup;
	}
	if (repomd_find(md.data, md.len, "group_gz", &grp) == 0 ||
	    repomd_find(md.data, md.len, "group", &grp) == 0) {
		if (rpmmd_file(c, base, &grp, &list) == -1)
			goto cleanup;
		/* add_list tells comps by name; keep the suffix. */
		gname = strrchr(grp.href, '.') != NULL &&
		    strcmp(strrchr(grp.href, '.'), ".xml") != 0 ?
		    strrchr(grp.href, '.') : "";
		{
			char *n = xasprintf("comps%s", gname);

			if (add_list(repo, n, &list, 0) == -1)
				log_warnx("repository '%s': comps %s "
				    "unreadable, groups unavailable",
				    c->r->id, grp.href);
			free(n);
		}
	}
	repo_internalize(repo);
	save_cache(c, repo, md.data, md.len, base);
	rv = 0;
cleanup:
	mdfile_free(&prim);
	mdfile_free(&grp);
	gpg_keyring_free(kr);
	buf_free(&md);
	buf_free(&sig);
	buf_free(&list);
	free(sigurl);
	free(url);
	return rv;
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

	if (is_fresh(c) && load_solv(c, repo) == 0) {
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
