/*
 * What Debian and rpm-md loading share: see repo_common.h. The cache
 * layout is described in repos.c.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

#include "depsolver/repo_common.h"
#include "log.h"

char *
rc_digest(const char *alg, const void *data, size_t len)
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

char *
rc_join_url(const char *base, const char *path)
{
	size_t	 n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	return xasprintf("%.*s/%s", (int)n, base, path);
}

/* The data goes through a memfd: libsolv decompresses file descriptors
 * only. */
int
rc_add_list(Repo *repo, const char *name, struct buf *data, int deb)
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

struct keyring *
rc_keyring(struct loadctx *c, int deb)
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

int
rc_cache_load(struct loadctx *c, Repo *repo)
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

int
rc_cache_reuse(struct loadctx *c, Repo *repo, const char *text, size_t len)
{
	char	*ip;

	if (!index_unchanged(c, text, len) || rc_cache_load(c, repo) != 0)
		return 0;
	ip = xasprintf("%s/index", c->dir);
	utimensat(AT_FDCWD, ip, NULL, 0);
	free(ip);
	return 1;
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

void
rc_cache_save(struct loadctx *c, Repo *repo, const char *index, size_t ilen,
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
