/*
 * The store, shared by every build that names it:
 *   sources/org.osbuild.curl/sha256:HEX   downloads, checked, never again
 *   objects/ID/{tree/,meta.json}          a tree after the stage ID
 *   tmp/                                  work in progress (same file system,
 *                                         so commits are renames)
 * Use bumps the modification time; eviction removes the least recently
 * used entries until the store fits. One build at a time holds the lock.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/build.h"
#include "log.h"

int
store_open(struct store *st, const char *dir)
{
	static const char *const subs[] = { "objects", "sources",
	    "sources/org.osbuild.curl", "tmp" };
	char	*p;
	size_t	 i;

	st->dir = NULL;
	st->lockfd = -1;
	if (mkdir_p(dir, 0755) == -1) {
		log_warn("store %s", dir);
		return -1;
	}
	/*
	 * Absolute from here on: stages hand store paths to programs that
	 * run elsewhere (the install's repository links to the sources,
	 * mmdebstrap, chrooted children), where a relative path means
	 * another file.
	 */
	if ((st->dir = realpath(dir, NULL)) == NULL) {
		log_warn("store %s", dir);
		return -1;
	}
	dir = st->dir;
	for (i = 0; i < nitems(subs); i++) {
		p = xasprintf("%s/%s", dir, subs[i]);
		if (mkdir(p, 0755) == -1 && errno != EEXIST) {
			log_warn("store %s", p);
			free(p);
			return -1;
		}
		free(p);
	}
	p = xasprintf("%s/.ib-build.lock", dir);
	st->lockfd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	free(p);
	if (st->lockfd == -1 || flock(st->lockfd, LOCK_EX) == -1) {
		log_warn("store %s: lock", dir);
		return -1;
	}
	return 0;
}

void
store_close(struct store *st)
{
	if (st->lockfd != -1)
		close(st->lockfd);
	st->lockfd = -1;
	free(st->dir);
	st->dir = NULL;
}

static void
touch(const char *path)
{
	if (utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW) == -1 &&
	    errno != ENOENT)
		log_warn("touch %s", path);
}

char *
store_object_tree(struct store *st, const char *id)
{
	char		*obj, *tree;
	struct stat	 sb;

	obj = xasprintf("%s/objects/%s", st->dir, id);
	tree = xasprintf("%s/tree", obj);
	if (stat(tree, &sb) == -1 || !S_ISDIR(sb.st_mode)) {
		free(obj);
		free(tree);
		return NULL;
	}
	touch(obj);
	free(obj);
	return tree;
}

json_object *
store_object_meta(struct store *st, const char *id)
{
	char		*p;
	json_object	*m;

	p = xasprintf("%s/objects/%s/meta.json", st->dir, id);
	m = json_object_from_file(p);
	free(p);
	if (m == NULL || !json_object_is_type(m, json_type_object)) {
		json_object_put(m);
		m = json_object_new_object();
	}
	return m;
}

int
copy_tree(const char *from, const char *to, struct buf *out)
{
	char		*src = xasprintf("%s/.", from);
	const char	*argv[] = { "cp", "-a", "--reflink=auto",
	    "--sparse=always", src, to, NULL };
	int		 rc;

	if (mkdir(to, 0755) == -1 && errno != EEXIST) {
		out_printf(out, "mkdir %s: %s", to, strerror(errno));
		free(src);
		return -1;
	}
	rc = run_cmd(argv, NULL, out);
	free(src);
	return rc == 0 ? 0 : -1;
}

/* Gives to the mode, owner and times of from (a directory). */
static int
copy_dir_attrs(const char *from, const char *to, struct buf *out)
{
	struct stat		 sb;
	struct timespec		 ts[2];

	if (lstat(from, &sb) == -1 || lchown(to, sb.st_uid, sb.st_gid) == -1 ||
	    chmod(to, sb.st_mode & 07777) == -1) {
		out_printf(out, "%s: %s", to, strerror(errno));
		return -1;
	}
	ts[0] = sb.st_atim;
	ts[1] = sb.st_mtim;
	if (utimensat(AT_FDCWD, to, ts, AT_SYMLINK_NOFOLLOW) == -1) {
		out_printf(out, "%s: %s", to, strerror(errno));
		return -1;
	}
	return 0;
}

int
store_restore(const char *from, const char *to, int link_usr,
    struct buf *out)
{
	struct stat	 sb;
	DIR		*d = NULL;
	struct dirent	*e;
	const char	**argv = NULL;
	char		**names = NULL, *usr_from, *usr_to;
	size_t		 n = 0, cap = 0, i, ac;
	int		 rc = -1, linked = 0;

	if (mkdir(to, 0755) == -1 && errno != EEXIST) {
		out_printf(out, "mkdir %s: %s", to, strerror(errno));
		return -1;
	}
	usr_from = xasprintf("%s/usr", from);
	usr_to = xasprintf("%s/usr", to);
	if (link_usr && lstat(usr_from, &sb) == 0 && S_ISDIR(sb.st_mode)) {
		const char *ln[] = { "cp", "-al", usr_from, usr_to, NULL };
		struct buf lout;

		buf_init(&lout);
		if (run_cmd(ln, NULL, &lout) == 0)
			linked = 1;
		else if (remove_tree(usr_to) == -1 && errno != ENOENT) {
			out_printf(out, "%s: %s", usr_to, strerror(errno));
			buf_free(&lout);
			goto cleanup;
		}
		buf_free(&lout);
	}
	if ((d = opendir(from)) == NULL) {
		out_printf(out, "%s: %s", from, strerror(errno));
		goto cleanup;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 ||
		    strcmp(e->d_name, "..") == 0 ||
		    (linked && strcmp(e->d_name, "usr") == 0))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xasprintf("%s/%s", from, e->d_name);
	}
	if (n > 0) {
		argv = xcalloc(n + 6, sizeof(*argv));
		ac = 0;
		argv[ac++] = "cp";
		argv[ac++] = "-a";
		argv[ac++] = "--reflink=auto";
		argv[ac++] = "--sparse=always";
		for (i = 0; i < n; i++)
			argv[ac++] = names[i];
		argv[ac++] = to;
		argv[ac] = NULL;
		if (run_cmd(argv, NULL, out) != 0)
			goto cleanup;
	}
	rc = copy_dir_attrs(from, to, out);
cleanup:
	if (d != NULL)
		closedir(d);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(argv);
	free(usr_from);
	free(usr_to);
	return rc;
}

char *
store_tmpdir(struct store *st, const char *what)
{
	char	*p = xasprintf("%s/tmp/%s-XXXXXX", st->dir, what);

	if (mkdtemp(p) == NULL) {
		log_warn("mkdtemp %s", p);
		free(p);
		return NULL;
	}
	return p;
}

char *
store_commit(struct store *st, const char *id, const char *tree,
    json_object *meta, int move, struct buf *out)
{
	char	*tmp, *ttree = NULL, *mpath = NULL, *obj = NULL, *res = NULL;

	if ((tmp = store_tmpdir(st, "commit")) == NULL)
		return NULL;
	ttree = xasprintf("%s/tree", tmp);
	if (move) {
		if (rename(tree, ttree) == -1) {
			out_printf(out, "commit %s: %s", id, strerror(errno));
			goto cleanup;
		}
	} else if (copy_tree(tree, ttree, out) == -1)
		goto cleanup;
	mpath = xasprintf("%s/meta.json", tmp);
	if (json_object_to_file_ext(mpath, meta, JSON_C_TO_STRING_PLAIN) ==
	    -1) {
		out_printf(out, "commit %s: cannot write meta.json", id);
		goto cleanup;
	}
	obj = xasprintf("%s/objects/%s", st->dir, id);
	if (rename(tmp, obj) == -1) {
		if (errno != EEXIST && errno != ENOTEMPTY) {
			out_printf(out, "commit %s: %s", id, strerror(errno));
			goto cleanup;
		}
		/* Someone committed the same content: theirs is as good. */
	}
	touch(obj);
	res = xasprintf("%s/tree", obj);
cleanup:
	remove_tree(tmp);
	free(tmp);
	free(ttree);
	free(mpath);
	free(obj);
	return res;
}

char *
store_source_path(const char *dir, const char *sum)
{
	char	*p = xasprintf("%s/sources/org.osbuild.curl/%s", dir, sum);

	return p;
}

/* ---- eviction ---- */

struct entry {
	char	*path;
	int64_t	 size;
	time_t	 used;
};

static int64_t	 walk_total;

static int
walk_add(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	(void)path;
	(void)flag;
	(void)f;
	walk_total += (int64_t)sb->st_blocks * 512;
	return 0;
}

static int64_t
du(const char *path)
{
	walk_total = 0;
	nftw(path, walk_add, 64, FTW_PHYS | FTW_MOUNT);
	return walk_total;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct entry	*x = a, *y = b;

	return x->used < y->used ? -1 : x->used > y->used;
}

static void
collect(const char *dir, struct entry **es, size_t *n, size_t *cap)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 sb;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char *p;

		if (de->d_name[0] == '.')
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		if (lstat(p, &sb) == -1) {
			free(p);
			continue;
		}
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			*es = xrealloc(*es, *cap * sizeof(**es));
		}
		(*es)[*n].path = p;
		(*es)[*n].size = S_ISDIR(sb.st_mode) ? du(p) :
		    (int64_t)sb.st_blocks * 512;
		(*es)[*n].used = sb.st_mtime;
		(*n)++;
	}
	closedir(d);
}

void
store_evict(struct store *st, int64_t max)
{
	struct entry	*es = NULL;
	size_t		 n = 0, cap = 0, i;
	int64_t		 total = 0;
	char		*p;

	if (max < 0)
		return;
	p = xasprintf("%s/objects", st->dir);
	collect(p, &es, &n, &cap);
	free(p);
	p = xasprintf("%s/sources/org.osbuild.curl", st->dir);
	collect(p, &es, &n, &cap);
	free(p);
	for (i = 0; i < n; i++)
		total += es[i].size;
	if (n > 0)	/* es is still NULL when nothing was collected */
		qsort(es, n, sizeof(*es), entry_cmp);
	for (i = 0; i < n && total > max; i++) {
		log_info("store: evicting %s (%lld bytes, least recently used)",
		    es[i].path, (long long)es[i].size);
		if (remove_tree(es[i].path) == 0)
			total -= es[i].size;
	}
	for (i = 0; i < n; i++)
		free(es[i].path);
	free(es);
}
