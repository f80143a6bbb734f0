/*
 * The cache directory: layout, repair, size and least-recently-used
 * eviction. osbuild's store keeps built trees in objects/<id>, names for
 * them in refs/<id> (symlinks into objects) and downloaded sources in
 * sources/<type>/<checksum>; tmp/ and stage/ hold work in progress. Each
 * top-level entry of objects/ and sources/<type>/ and of rpmmd/ is one
 * unit of eviction (refs follow their objects), aged by its last use: the
 * latest mtime of anything in it and atime of its files. Directory atimes
 * are not used: listing a directory, as our own size walk does, sets them.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "log.h"
#include "util.h"

struct victim {
	char	*path;
	int64_t	 size;
	int64_t	 age;		/* seconds since the epoch of last use */
};

struct victims {
	struct victim	*v;
	size_t		 n, cap;
};

char *
cache_path(const char *dir, const char *sub)
{
	return xasprintf("%s/%s", dir, sub);
}

int64_t
cache_usage(const char *path)
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	char		*sub;
	int64_t		 total;

	if (lstat(path, &st) == -1)
		return 0;
	total = (int64_t)st.st_blocks * 512;
	if (!S_ISDIR(st.st_mode) || (d = opendir(path)) == NULL)
		return total;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		sub = xasprintf("%s/%s", path, de->d_name);
		total += cache_usage(sub);
		free(sub);
	}
	closedir(d);
	return total;
}

int64_t
cache_free_bytes(const char *path)
{
	struct statvfs	 sv;

	if (statvfs(path, &sv) == -1)
		return -1;
	return (int64_t)sv.f_bavail * (int64_t)sv.f_frsize;
}

int64_t
cache_fs_bytes(const char *path)
{
	struct statvfs	 sv;

	if (statvfs(path, &sv) == -1)
		return -1;
	return (int64_t)sv.f_blocks * (int64_t)sv.f_frsize;
}

/* Makes path a directory, replacing whatever non-directory is there. */
static int
ensure_dir(const char *path)
{
	struct stat	 st;

	if (lstat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		log_warnx("cache: %s is not a directory, rebuilding it", path);
		if (remove_tree(path) == -1) {
			log_warn("cache: cannot remove %s", path);
			return -1;
		}
	}
	if (mkdir_p(path, 0755) == -1) {
		log_warn("cache: cannot create %s", path);
		return -1;
	}
	return 0;
}

/* Removes every entry of dir (not dir itself). */
static int
empty_dir(const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	char		*sub;
	int		 rv = 0;

	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		sub = xasprintf("%s/%s", dir, de->d_name);
		if (remove_tree(sub) == -1) {
			log_warn("cache: cannot remove %s", sub);
			rv = -1;
		}
		free(sub);
	}
	closedir(d);
	return rv;
}

/* Removes the refs whose target is gone: a half-evicted or torn store. */
static void
prune_refs(const char *store)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	char		*refs, *sub;

	refs = cache_path(store, "refs");
	if ((d = opendir(refs)) == NULL) {
		free(refs);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		sub = xasprintf("%s/%s", refs, de->d_name);
		if (stat(sub, &st) == -1 && errno == ENOENT) {
			log_debug("cache: removing dangling ref %s", sub);
			remove_tree(sub);
		}
		free(sub);
	}
	closedir(d);
	free(refs);
}

/*
 * Checks the store's shape: a directory whose known parts are directories.
 * Anything else is rebuilt from nothing: osbuild refills a store, so losing
 * it costs time, never correctness.
 */
static int
repair(const char *dir)
{
	static const char *const parts[] = { "objects", "refs", "sources" };
	struct stat	 st;
	char		*store, *sub;
	size_t		 i;
	int		 rv = 0;

	if (ensure_dir(dir) == -1)
		return -1;
	store = cache_path(dir, CACHE_STORE);
	if (ensure_dir(store) == -1)
		rv = -1;
	for (i = 0; rv == 0 && i < nitems(parts); i++) {
		sub = cache_path(store, parts[i]);
		if (lstat(sub, &st) == 0 && !S_ISDIR(st.st_mode)) {
			log_warnx("cache: store part %s is not a directory, "
			    "emptying the store", sub);
			if (empty_dir(store) == -1)
				rv = -1;
		}
		free(sub);
	}
	if (rv == 0)
		prune_refs(store);
	free(store);
	sub = cache_path(dir, CACHE_RPMMD);
	if (ensure_dir(sub) == -1)
		rv = -1;
	free(sub);
	sub = cache_path(dir, CACHE_OUTPUT);
	if (ensure_dir(sub) == -1)
		rv = -1;
	free(sub);
	return rv;
}

static int64_t
cache_usage_of(const char *dir, const char *sub)
{
	char	*p = cache_path(dir, sub);
	int64_t	 n = cache_usage(p);

	free(p);
	return n;
}

int
cache_init(const char *dir)
{
	char	*sub;

	if (mkdir_p(dir, 0755) == -1) {
		log_warn("cache: cannot create %s", dir);
		return -1;
	}
	if (repair(dir) == -1)
		log_warnx("cache: %s could not be fully repaired; builds "
		    "will retry", dir);
	/* No job runs yet: every output directory is a crash's leftover,
	 * and so is what osbuild was writing into its store's tmp and stage. */
	sub = cache_path(dir, CACHE_OUTPUT);
	if (empty_dir(sub) == -1)
		log_warnx("cache: stale output under %s not all removed", sub);
	free(sub);
	sub = xasprintf("%s/%s/tmp", dir, CACHE_STORE);
	remove_tree(sub);
	free(sub);
	sub = xasprintf("%s/%s/stage", dir, CACHE_STORE);
	remove_tree(sub);
	free(sub);
	log_info("cache: %s ready (store %lld bytes, metadata %lld bytes)",
	    dir, (long long)cache_usage_of(dir, CACHE_STORE),
	    (long long)cache_usage_of(dir, CACHE_RPMMD));
	return 0;
}

/* Size and last use of everything under path. */
static void
walk(const char *path, int64_t *size, int64_t *age)
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	char		*sub;

	if (lstat(path, &st) == -1)
		return;
	*size += (int64_t)st.st_blocks * 512;
	if (st.st_mtime > *age)
		*age = st.st_mtime;
	if (!S_ISDIR(st.st_mode)) {
		if (st.st_atime > *age)
			*age = st.st_atime;
		return;
	}
	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		sub = xasprintf("%s/%s", path, de->d_name);
		walk(sub, size, age);
		free(sub);
	}
	closedir(d);
}

static void
victims_add_dir(struct victims *vs, const char *dir)
{
	struct dirent	*de;
	DIR		*d;
	char		*sub;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		sub = xasprintf("%s/%s", dir, de->d_name);
		if (vs->n == vs->cap) {
			vs->cap = vs->cap ? vs->cap * 2 : 64;
			vs->v = xrealloc(vs->v, vs->cap * sizeof(*vs->v));
		}
		vs->v[vs->n].path = sub;
		vs->v[vs->n].size = 0;
		vs->v[vs->n].age = 0;
		walk(sub, &vs->v[vs->n].size, &vs->v[vs->n].age);
		vs->n++;
	}
	closedir(d);
}

static int
victim_cmp(const void *a, const void *b)
{
	const struct victim *va = a, *vb = b;

	if (va->age != vb->age)
		return va->age < vb->age ? -1 : 1;
	return strcmp(va->path, vb->path);
}

/* Since the start, for the metrics; only the main thread evicts. */
static _Atomic uint64_t	evicted_entries;
static _Atomic int64_t	evicted_bytes;

void
cache_evictions(uint64_t *entries, int64_t *bytes)
{
	*entries = atomic_load(&evicted_entries);
	*bytes = atomic_load(&evicted_bytes);
}

int
cache_evict(const char *dir, int64_t max_bytes, int64_t min_free)
{
	struct victims	 vs = { NULL, 0, 0 };
	struct dirent	*de;
	DIR		*d;
	char		*store, *sub;
	int64_t		 used, avail, freed = 0;
	size_t		 i, evicted = 0;
	int		 rv;

	store = cache_path(dir, CACHE_STORE);
	used = cache_usage_of(dir, CACHE_STORE) + cache_usage_of(dir, CACHE_RPMMD);
	avail = cache_free_bytes(dir);
	if ((max_bytes <= 0 || used <= max_bytes) &&
	    (min_free <= 0 || avail < 0 || avail >= min_free)) {
		free(store);
		return 0;
	}

	sub = cache_path(store, "objects");
	victims_add_dir(&vs, sub);
	free(sub);
	sub = cache_path(dir, CACHE_RPMMD);
	victims_add_dir(&vs, sub);
	free(sub);
	sub = cache_path(store, "sources");
	if ((d = opendir(sub)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			char *type;

			if (de->d_name[0] == '.')
				continue;
			type = xasprintf("%s/%s", sub, de->d_name);
			victims_add_dir(&vs, type);
			free(type);
		}
		closedir(d);
	}
	free(sub);
	if (vs.n > 0)	/* qsort's first argument must not be NULL */
		qsort(vs.v, vs.n, sizeof(*vs.v), victim_cmp);

	for (i = 0; i < vs.n; i++) {
		if ((max_bytes <= 0 || used <= max_bytes) &&
		    (min_free <= 0 || avail < 0 || avail >= min_free))
			break;
		if (remove_tree(vs.v[i].path) == -1) {
			log_warn("cache: cannot evict %s", vs.v[i].path);
			continue;
		}
		used -= vs.v[i].size;
		freed += vs.v[i].size;
		evicted++;
		avail = cache_free_bytes(dir);
	}
	atomic_fetch_add(&evicted_entries, evicted);
	atomic_fetch_add(&evicted_bytes, freed);
	prune_refs(store);
	rv = ((max_bytes <= 0 || used <= max_bytes) &&
	    (min_free <= 0 || avail < 0 || avail >= min_free)) ? 0 : -1;
	log_info("cache: evicted %zu entries (%lld bytes); now %lld bytes "
	    "used, %lld free", evicted, (long long)freed, (long long)used,
	    (long long)avail);
	if (rv == -1)
		log_warnx("cache: limits not met even after eviction "
		    "(max %lld bytes, min free %lld bytes)",
		    (long long)max_bytes, (long long)min_free);
	for (i = 0; i < vs.n; i++)
		free(vs.v[i].path);
	free(vs.v);
	free(store);
	return rv;
}

int
cache_prepare(const struct config *conf, const char *dir)
{
	if (repair(dir) == -1)
		return -1;
	return cache_evict(dir, conf->worker.cache_max_bytes,
	    conf->worker.cache_min_free);
}

int
cache_after_job(const struct config *conf, const char *dir)
{
	char	*store;
	int	 rv = 0;

	if (!conf->clean_store)
		return 0;
	store = cache_path(dir, CACHE_STORE);
	if (remove_tree(store) == -1 || mkdir_p(store, 0755) == -1) {
		log_warn("cache: clean_store: cannot empty %s", store);
		rv = -1;
	} else
		log_debug("cache: clean_store: emptied %s", store);
	free(store);
	return rv;
}

char *
cache_output_new(const char *dir, const char *job_id, char *err,
    size_t errlen)
{
	char	*out, *path;

	out = cache_path(dir, CACHE_OUTPUT);
	if (ensure_dir(out) == -1) {
		snprintf(err, errlen, "cannot create %s: %s", out,
		    strerror(errno));
		free(out);
		return NULL;
	}
	path = xasprintf("%s/%s-XXXXXX", out, job_id);
	free(out);
	if (mkdtemp(path) == NULL) {
		snprintf(err, errlen, "cannot create an output directory "
		    "in %s: %s", dir, strerror(errno));
		free(path);
		return NULL;
	}
	return path;
}
