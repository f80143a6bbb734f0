/*
 * The cache directory, laid out as the reference worker does:
 * osbuild-store (osbuild's object store, kept between builds), rpmmd (the
 * depsolver's metadata) and output (one directory per running build,
 * always removed). It stays within cache_max_bytes and leaves
 * cache_min_free on its filesystem by evicting least recently used store
 * objects and metadata before each build. A cache that is missing, half
 * written or not what we expect is rebuilt, never fatal.
 */
#ifndef IB_CACHE_H
#define IB_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define CACHE_STORE	"osbuild-store"
#define CACHE_RPMMD	"rpmmd"
#define CACHE_OUTPUT	"output"

/*
 * At start-up, before any job: creates the layout, repairs what is broken
 * and removes output directories a crash left behind. Returns -1 only when
 * the cache directory itself cannot be created.
 */
int	 cache_init(const char *dir);
/*
 * Before a build (the osbuild and depsolve kinds call it themselves):
 * repairs the layout, then evicts until the store and metadata use at most
 * max_bytes and the filesystem has min_free bytes free. Returns -1 when
 * that could not be reached even with everything evicted (logged).
 */
int	 cache_prepare(const struct config *, const char *dir);
int	 cache_evict(const char *dir, int64_t max_bytes, int64_t min_free);
/* Entries and bytes evicted since the start (for the metrics). */
void	 cache_evictions(uint64_t *entries, int64_t *bytes);
/*
 * After every job: with clean_store, empties the store. Returns -1 when that
 * failed: the worker then reports itself unhealthy and takes no more jobs.
 */
int	 cache_after_job(const struct config *, const char *dir);

/* dir/sub, newly allocated. */
char	*cache_path(const char *dir, const char *sub);
/*
 * A new output directory dir/output/<job_id>-XXXXXX for one build; caller
 * frees and removes it. NULL with the reason (strerror, ENOSPC...) in err.
 */
char	*cache_output_new(const char *dir, const char *job_id, char *err,
	    size_t errlen);
/* Bytes allocated under path (st_blocks), symlinks not followed. */
int64_t	 cache_usage(const char *path);
/* Bytes available to us on the filesystem of path, -1 unknown. */
int64_t	 cache_free_bytes(const char *path);
/* Size of the file system holding path, in bytes; -1 when unknown. */
int64_t	 cache_fs_bytes(const char *path);

#endif
