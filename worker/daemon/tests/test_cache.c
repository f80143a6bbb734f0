/*
 * The cache directory: layout made at start-up, crash leftovers removed,
 * broken stores rebuilt, least recently used entries evicted first until
 * both bounds hold, refs of evicted objects dropped, clean_store, and a
 * store that cannot be emptied reported.
 */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache.h"
#include "config.h"
#include "log.h"
#include "util.h"

static char	 dir[64];

static char *
p(const char *sub)
{
	return xasprintf("%s/%s", dir, sub);
}

static int
exists(const char *sub)
{
	char	*s = p(sub);
	int	 r = access(s, F_OK) == 0;

	free(s);
	return r;
}

static int
is_dir(const char *sub)
{
	struct stat	 st;
	char		*s = p(sub);
	int		 r = lstat(s, &st) == 0 && S_ISDIR(st.st_mode);

	free(s);
	return r;
}

/* A file of size bytes at sub, its times days_ago in the past. */
static void
make(const char *sub, size_t size, int days_ago)
{
	struct timeval	 tv[2];
	char		*s = p(sub), *d, *slash, *data;

	d = xstrdup(s);
	slash = strrchr(d, '/');
	*slash = '\0';
	assert_int_equal(mkdir_p(d, 0755), 0);
	data = xcalloc(1, size);
	assert_int_equal(write_file_atomic(s, data, size, 0644), 0);
	tv[0].tv_sec = tv[1].tv_sec = time(NULL) - days_ago * 86400;
	tv[0].tv_usec = tv[1].tv_usec = 0;
	assert_int_equal(utimes(s, tv), 0);
	assert_int_equal(utimes(d, tv), 0);
	free(data);
	free(d);
	free(s);
}

static int
setup_one(void **state)
{
	strcpy(dir, "/tmp/test_cache.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int
teardown_one(void **state)
{
	char	*s = p("osbuild-store/objects");

	umount(s);
	free(s);
	remove_tree(dir);
	return 0;
}

static void
test_init_layout_and_leftovers(void **state)
{
	char	*sub;

	/* Missing entirely: made. */
	sub = p("deeper/cache");
	assert_int_equal(cache_init(sub), 0);
	free(sub);
	assert_true(is_dir("deeper/cache/osbuild-store"));
	assert_true(is_dir("deeper/cache/rpmmd"));
	assert_true(is_dir("deeper/cache/output"));

	/* A crash left an output directory and a half-written object. */
	make("output/job1-abcdef/image/disk.img", 4096, 0);
	make("osbuild-store/tmp/obj-1/data", 4096, 0);
	make("osbuild-store/objects/aaaa/data", 4096, 0);
	assert_int_equal(cache_init(dir), 0);
	assert_false(exists("output/job1-abcdef"));
	assert_true(is_dir("output"));
	assert_false(exists("osbuild-store/tmp"));
	/* What was complete is kept. */
	assert_true(exists("osbuild-store/objects/aaaa/data"));
}

static void
test_broken_store_rebuilt(void **state)
{
	struct config	*c;
	char		*s, *sub;

	/* The store is a file. */
	assert_int_equal(mkdir_p(dir, 0755), 0);
	s = p("osbuild-store");
	assert_int_equal(write_file_atomic(s, "x", 1, 0644), 0);
	assert_int_equal(cache_init(dir), 0);
	assert_true(is_dir("osbuild-store"));
	free(s);

	/* objects/ is a file: the store is emptied and usable again. */
	make("osbuild-store/sources/org.osbuild.files/sha256:1", 100, 0);
	s = p("osbuild-store/objects");
	remove_tree(s);
	assert_int_equal(write_file_atomic(s, "x", 1, 0644), 0);
	free(s);
	c = config_defaults();
	assert_int_equal(cache_prepare(c, dir), 0);
	config_free(c);
	assert_false(exists("osbuild-store/objects"));
	assert_false(exists("osbuild-store/sources/org.osbuild.files"));
	assert_true(is_dir("osbuild-store"));

	/* A dangling ref is dropped. */
	make("osbuild-store/objects/bbbb/data", 100, 0);
	assert_int_equal(mkdir_p(s = p("osbuild-store/refs"), 0755), 0);
	free(s);
	s = p("osbuild-store/refs/gone");
	assert_int_equal(symlink("../objects/nothing", s), 0);
	free(s);
	s = p("osbuild-store/refs/bbbb");
	assert_int_equal(symlink("../objects/bbbb", s), 0);
	free(s);
	sub = p("rpmmd");
	assert_int_equal(cache_init(dir), 0);
	free(sub);
	assert_false(exists("osbuild-store/refs/gone"));
	assert_true(exists("osbuild-store/refs/bbbb"));
}

static void
test_lru_eviction(void **state)
{
	const size_t	 mib = 1 << 20;
	char		*s;

	assert_int_equal(cache_init(dir), 0);
	make("osbuild-store/objects/old/data", mib, 10);
	make("osbuild-store/objects/mid/data", mib, 5);
	make("osbuild-store/objects/new/data", mib, 0);
	make("osbuild-store/sources/org.osbuild.files/sha256:old", mib, 9);
	make("rpmmd/repo-old/primary.xml", mib, 8);
	make("rpmmd/repo-new/primary.xml", mib, 0);
	assert_int_equal(mkdir_p(s = p("osbuild-store/refs"), 0755), 0);
	free(s);
	s = p("osbuild-store/refs/old");
	assert_int_equal(symlink("../objects/old", s), 0);
	free(s);

	/* Under the limit: nothing goes. */
	assert_int_equal(cache_evict(dir, 100 * mib, 0), 0);
	assert_true(exists("osbuild-store/objects/old"));

	/* 6 MiB held, 3.5 allowed: the three least recently used go. */
	assert_int_equal(cache_evict(dir, 3 * mib + mib / 2, 0), 0);
	assert_false(exists("osbuild-store/objects/old"));
	assert_false(exists("osbuild-store/sources/org.osbuild.files/"
	    "sha256:old"));
	assert_false(exists("rpmmd/repo-old"));
	assert_true(exists("osbuild-store/objects/mid"));
	assert_true(exists("osbuild-store/objects/new"));
	assert_true(exists("rpmmd/repo-new"));
	/* The ref of an evicted object goes with it. */
	s = p("osbuild-store/refs/old");
	assert_int_equal(access(s, F_OK), -1);
	assert_int_equal(faccessat(AT_FDCWD, s, F_OK, AT_SYMLINK_NOFOLLOW), -1);
	free(s);
	s = p("osbuild-store");
	assert_true(cache_usage(s) <= (int64_t)(3 * mib + mib / 2));
	free(s);

	/* A free-space bound that cannot be met: everything goes, -1. */
	assert_int_equal(cache_evict(dir, 0, INT64_MAX / 2), -1);
	assert_false(exists("osbuild-store/objects/new"));
	assert_true(is_dir("osbuild-store/objects"));
}

static void
test_clean_store(void **state)
{
	struct config	*c = config_defaults();
	char		*s;

	assert_int_equal(cache_init(dir), 0);
	make("osbuild-store/objects/x/data", 4096, 0);
	assert_int_equal(cache_after_job(c, dir), 0);
	assert_true(exists("osbuild-store/objects/x"));	/* default: kept */
	c->clean_store = 1;
	assert_int_equal(cache_after_job(c, dir), 0);
	assert_false(exists("osbuild-store/objects"));
	assert_true(is_dir("osbuild-store"));

	/* A store that cannot be emptied (a mount point inside) is an
	 * error the loop must hear of. */
	s = p("osbuild-store/objects");
	assert_int_equal(mkdir_p(s, 0755), 0);
	if (mount("ib-test", s, "tmpfs", 0, "size=1m") == -1) {
		free(s);
		config_free(c);
		print_message("skipped: cannot mount a tmpfs (%s)\n",
		    strerror(errno));
		skip();
	}
	assert_int_equal(cache_after_job(c, dir), -1);
	umount(s);
	free(s);
	config_free(c);
}

static void
test_output_dirs(void **state)
{
	char	 err[256], *a, *b;

	assert_int_equal(cache_init(dir), 0);
	a = cache_output_new(dir, "job", err, sizeof(err));
	b = cache_output_new(dir, "job", err, sizeof(err));
	assert_non_null(a);
	assert_non_null(b);
	assert_string_not_equal(a, b);
	assert_non_null(strstr(a, "/output/job-"));
	remove_tree(a);
	remove_tree(b);
	free(a);
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup_one, teardown_one)
		T(test_init_layout_and_leftovers),
		T(test_broken_store_rebuilt),
		T(test_lru_eviction),
		T(test_clean_store),
		T(test_output_dirs),
#undef T
	};

	log_init(0, LOG_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
