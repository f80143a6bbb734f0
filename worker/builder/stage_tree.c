/*
 * Stages that make or change a file system tree: the pinned Debian
 * package set (mmdebstrap fed only with the manifest's .debs, in a network
 * namespace of its own so nothing can be fetched behind the manifest's
 * back) and the customizations (hostname, users, files, units, fstab,
 * kernel command line, cloud-init).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builder/build.h"
#include "jsonutil.h"

/* 1 when the comma-separated list names holds the package name. */
static int
has_package(const char *names, const char *name)
{
	size_t		 n = strlen(name);
	const char	*p;

	for (p = names; (p = strstr(p, name)) != NULL; p += n)
		if ((p == names || p[-1] == ',') &&
		    (p[n] == '\0' || p[n] == ','))
			return 1;
	return 0;
}

static int
opt_mode(json_object *o, int def)
{
	const char	*m = json_get_str(o, "mode");

	return m ? (int)strtol(m, NULL, 8) : def;
}

/* An int option (ids, fstab numbers), or def when absent or out of range. */
static int
opt_int(json_object *o, const char *key, int def)
{
	int64_t	 v;

	if (!json_get_int(o, key, &v) || v < INT_MIN || v > INT_MAX)
		return def;
	return (int)v;
}

static int
dir_is_empty(const char *path)
{
	DIR		*d;
	struct dirent	*de;
	int		 empty = 1;

	if ((d = opendir(path)) == NULL)
		return 1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

/* The package names of a Packages index, comma separated; NULL if none. */
static char *
package_names(const char *packages)
{
	char		*data, *line, *save = NULL;
	struct buf	 b;

	if ((data = read_file(packages, 64 << 20, NULL)) == NULL)
		return NULL;
	buf_init(&b);
	for (line = strtok_r(data, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "Package: ", 9) != 0)
			continue;
		if (b.len > 0)
			buf_addstr(&b, ",");
		buf_addstr(&b, rtrim(line + 9));
	}
	free(data);
	if (b.len == 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_release(&b);
}

static json_object *
installed_packages(const char *tree, struct buf *out)
{
	char		*admin, *list, *line, *save = NULL;
	json_object	*pkgs, *meta;
	struct buf	 q;
	const char	*argv[] = { "dpkg-query", NULL, "-W", "-f",
	    "${Package}\t${Version}\t${Architecture}\n", NULL };

	admin = xasprintf("--admindir=%s/var/lib/dpkg", tree);
	argv[1] = admin;
	buf_init(&q);
	if (run_cmd(argv, NULL, &q) != 0) {
		out_printf(out, "dpkg-query: %s", q.data ? q.data : "");
		buf_free(&q);
		free(admin);
		return NULL;
	}
	list = buf_release(&q);
	pkgs = json_object_new_array();
	for (line = strtok_r(list, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *v = strchr(line, '\t'), *a;
		json_object *p;

		if (v == NULL || (a = strchr(v + 1, '\t')) == NULL)
			continue;
		*v++ = '\0';
		*a++ = '\0';
		p = json_object_new_object();
		json_object_object_add(p, "name", json_object_new_string(line));
		json_object_object_add(p, "version", json_object_new_string(v));
		json_object_object_add(p, "arch", json_object_new_string(a));
		json_object_array_add(pkgs, p);
	}
	free(list);
	free(admin);
	meta = json_object_new_object();
	json_object_object_add(meta, "packages", pkgs);
	return meta;
}

/* Files the packages' maintainer scripts should already see. */
static int
stage_setup_files(struct stage_run *r, const char *root)
{
	json_object	*files = json_get_arr(r->s->options, "setup_files");
	size_t		 i, n;

	if (mkdir(root, 0755) == -1) {
		out_printf(r->out, "mkdir %s: %s", root, strerror(errno));
		return -1;
	}
	n = files ? json_object_array_length(files) : 0;
	for (i = 0; i < n; i++) {
		json_object *f = json_object_array_get_idx(files, i);
		const char *path = json_get_str(f, "path"), *c = json_get_str(f,
		    "content");
		char *full = xasprintf("%s%s", root, path), *s;
		int rc;

		/* Staged on the host in our own scratch directory. */
		for (s = full + strlen(root) + 1; (s = strchr(s, '/')) != NULL;
		    s++) {
			*s = '\0';
			mkdir(full, 0755);
			*s = '/';
		}
		rc = write_file_atomic(full, c, strlen(c), opt_mode(f, 0644));
		if (rc == -1)
			out_printf(r->out, "%s: %s", full, strerror(errno));
		free(full);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/*
 * mmdebstrap's customize hook ("$1": the tree) making the initramfs of
 * every kernel once, then the kernel's /initrd.img links (INITRD unset:
 * linux-update-symlinks leaves them out under INITRD=No).
 */
#define INITRAMFS_ONCE \
	"set -e; unset INITRD; r=\"$1\"; " \
	"[ -x \"$r/usr/sbin/update-initramfs\" ] || exit 0; " \
	"v=$(chroot \"$r\" linux-version list | " \
	"chroot \"$r\" linux-version sort | tail -n 1); " \
	"[ -n \"$v\" ] || exit 0; " \
	"chroot \"$r\" update-initramfs -c -k all; " \
	"if [ -x \"$r/usr/bin/linux-update-symlinks\" ]; then " \
	"chroot \"$r\" linux-update-symlinks install \"$v\" " \
	"\"/boot/vmlinuz-$v\"; fi"

int
stage_debian_install(struct stage_run *r)
{
	json_object	*in, *dpkg;
	const char	**sums = NULL, *arch, *apt;
	char		*repo = NULL, *packages = NULL, *names = NULL;
	char		*setup = NULL, *mirror = NULL, *inc = NULL;
	char		*archopt = NULL, *hook = NULL, *epoch = NULL;
	const char	*env[3] = { NULL, NULL, NULL };
	const char	**argv = NULL;
	size_t		 i, n, ac = 0;
	int		 ret = -1;

	if (!dir_is_empty(r->tree)) {
		out_printf(r->out, "io.ib.debian.install makes the tree: it "
		    "must be the first stage of its pipeline");
		return -1;
	}
	json_object_object_get_ex(r->s->inputs, "packages", &in);
	sums = input_sources(in, &n);
	/* A local repository of exactly the manifest's packages. */
	repo = xasprintf("%s/repo", r->tmpdir);
	if (mkdir(repo, 0755) == -1) {
		out_printf(r->out, "mkdir %s: %s", repo, strerror(errno));
		goto cleanup;
	}
	for (i = 0; i < n; i++) {
		char *src = store_source_path(r->store, sums[i]);
		char *dst = xasprintf("%s/%.71s.deb", repo, sums[i]);

		dst[strlen(repo) + 7] = '-';	/* no ':' in apt file names */
		if (symlink(src, dst) == -1) {
			out_printf(r->out, "symlink %s: %s", dst,
			    strerror(errno));
			free(src);
			free(dst);
			goto cleanup;
		}
		free(src);
		free(dst);
	}
	{
		const char *argv_scan[] = { "sh", "-c", "cd \"$1\" && "
		    "dpkg-scanpackages --multiversion . /dev/null >Packages",
		    "sh", repo, NULL };

		if (run_cmd(argv_scan, NULL, r->out) != 0) {
			out_printf(r->out, "dpkg-scanpackages failed");
			goto cleanup;
		}
	}
	packages = xasprintf("%s/Packages", repo);
	if ((names = package_names(packages)) == NULL) {
		out_printf(r->out, "the packages input holds no package");
		goto cleanup;
	}
	setup = xasprintf("%s/setup-root", r->tmpdir);
	if (stage_setup_files(r, setup) == -1)
		goto cleanup;

	arch = json_get_str(r->s->options, "architecture");
	apt = json_get_str(r->s->options, "apt_sources");
	mirror = xasprintf("deb [trusted=yes] copy://%s ./", repo);
	inc = xasprintf("--include=%s", names);
	archopt = xasprintf("--architectures=%s", arch ? arch : "amd64");
	hook = xasprintf("sync-in %s /", setup);
	dpkg = json_get_arr(r->s->options, "dpkg_opts");
	argv = xcalloc(32 + (dpkg ? json_object_array_length(dpkg) * 2 : 0),
	    sizeof(*argv));
	/* Own mount and network namespaces: the mounts mmdebstrap makes
	 * in the tree never show on the host, and there is no network. */
	argv[ac++] = "unshare";
	argv[ac++] = "--mount";
	argv[ac++] = "--net";
	argv[ac++] = "--fork";
	argv[ac++] = "mmdebstrap";
	argv[ac++] = "--mode=root";
	/*
	 * essential, not custom: only the Essential:yes packages (and what
	 * they need) are extracted to bootstrap dpkg, and the rest is
	 * unpacked once, by dpkg; custom extracts every package first
	 * (the kernel's modules included) and then unpacks it again: 20 %
	 * more CPU for the same tree. apt picks the rest from the local
	 * repository, which holds exactly the input's packages, and every
	 * one is named, so the set installed is the same.
	 */
	argv[ac++] = "--variant=essential";
	argv[ac++] = "--format=directory";
	argv[ac++] = archopt;
	argv[ac++] = inc;
	argv[ac++] = "--aptopt=Acquire::Languages \"none\"";
	argv[ac++] = "--aptopt=APT::Install-Recommends \"false\"";
	argv[ac++] = "--setup-hook";
	argv[ac++] = hook;
	/*
	 * A set that carries usr-is-merged (a solver may pick it for
	 * init-system-helpers where apt picks usrmerge) needs merged /usr
	 * before anything is unpacked, or its preinst refuses the tree; a
	 * set with usrmerge converts the tree itself.
	 */
	if (has_package(names, "usr-is-merged"))
		argv[ac++] = "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr";
	/* No fsync per file while building (minutes on slow disks); the
	 * setting does not stay in the image. */
	argv[ac++] = "--dpkgopt=force-unsafe-io";
	/* apt's record of automatic installs: none, every package is
	 * named; the tree stays as a dpkg-only install leaves it. */
	argv[ac++] = "--customize-hook=rm -f "
	    "\"$1/var/lib/apt/extended_states\"";
	argv[ac++] = "--customize-hook=sed -i '/^force-unsafe-io$/d' "
	    "\"$1/etc/dpkg/dpkg.cfg.d/99mmdebstrap\"";
	/*
	 * One initramfs, not two: the kernel's postinst makes one and the
	 * initramfs-tools trigger, activated by the packages configured
	 * before it, makes it again (20 s each here). With INITRD=No the
	 * kernel's hook skips it, the trigger finds none to update, and the
	 * hook below makes it once, with everything configured, and the
	 * /initrd.img links the kernel's postinst would have made. Only
	 * for initramfs-tools: another generator keeps its own way.
	 */
	if (has_package(names, "initramfs-tools") &&
	    !has_package(names, "dracut")) {
		env[0] = "INITRD=No";
		argv[ac++] = "--customize-hook=" INITRAMFS_ONCE;
	}
	for (i = 0; dpkg != NULL && i < json_object_array_length(dpkg); i++) {
		argv[ac++] = "--dpkgopt";
		argv[ac++] = json_object_get_string(
		    json_object_array_get_idx(dpkg, i));
	}
	/*
	 * No suite for mmdebstrap: the local repository is flat, without
	 * a Release naming one, and with a suite mmdebstrap looks for the
	 * Essential:yes packages only in an archive of that name (finding
	 * none). The suite option still names the release (the ids hash it).
	 */
	argv[ac++] = "";
	argv[ac++] = r->tree;
	argv[ac++] = mirror;
	argv[ac] = NULL;
	if (r->p->source_epoch != NULL) {
		epoch = xasprintf("SOURCE_DATE_EPOCH=%lld",
		    (long long)json_object_get_int64(r->p->source_epoch));
		env[env[0] != NULL] = epoch;
	}
	out_printf(r->out, "installing %zu packages with mmdebstrap (no "
	    "network)", n);
	if (run_cmd(argv, env, r->out) != 0) {
		out_printf(r->out, "mmdebstrap failed");
		goto cleanup;
	}
	/* The image must not point at our scratch repository. */
	if (tree_write(r->tree, "/etc/apt/sources.list", apt ? apt : "",
	    apt ? strlen(apt) : 0, 0644, -1, -1, r->out) == -1)
		goto cleanup;
	if ((r->meta = installed_packages(r->tree, r->out)) == NULL)
		goto cleanup;
	out_printf(r->out, "%zu packages installed",
	    json_object_array_length(json_object_object_get(r->meta,
	    "packages")));
	ret = 0;
cleanup:
	free(sums);
	free(repo);
	free(packages);
	free(names);
	free(setup);
	free(mirror);
	free(inc);
	free(archopt);
	free(hook);
	free(epoch);
	free(argv);
	return ret;
}

int
stage_hostname(struct stage_run *r)
{
	const char	*h = json_get_str(r->s->options, "hostname");
	char		*line = xasprintf("%s\n", h);
	int		 rc;

	rc = tree_write(r->tree, "/etc/hostname", line, strlen(line), 0644,
	    -1, -1, r->out);
	free(line);
	return rc;
}

/* uid, gid and home of name from the tree's /etc/passwd. */
static int
passwd_lookup(const char *tree, const char *name, int *uid, int *gid,
    char **home)
{
	char	*data, *line, *save = NULL;
	size_t	 n = strlen(name);
	int	 found = -1;

	if ((data = tree_read(tree, "/etc/passwd", 16 << 20)) == NULL)
		return -1;
	for (line = strtok_r(data, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *f[7], *s = line;
		int i;

		if (strncmp(line, name, n) != 0 || line[n] != ':')
			continue;
		for (i = 0; i < 7 && s != NULL; i++) {
			f[i] = s;
			if ((s = strchr(s, ':')) != NULL)
				*s++ = '\0';
		}
		if (i < 6)
			break;
		*uid = atoi(f[2]);
		*gid = atoi(f[3]);
		*home = xstrdup(f[5]);
		found = 0;
		break;
	}
	free(data);
	return found;
}

int
stage_users(struct stage_run *r)
{
	json_object	*users;
	char		*root = xasprintf("--root=%s", r->tree);
	int		 ret = -1;

	if (!json_object_object_get_ex(r->s->options, "users", &users)) {
		ret = 0;
		goto cleanup;
	}
	json_object_object_foreach(users, name, u) {
		const char *argv[32];
		char num[2][32], *groups = NULL, *home = NULL, exp[32];
		json_object *g, *keys;
		struct buf kb;
		size_t ac = 0, i;
		int uid, gid, exists, rc;

		exists = passwd_lookup(r->tree, name, &uid, &gid, &home) == 0;
		free(home);
		home = NULL;
		argv[ac++] = exists ? "usermod" : "useradd";
		argv[ac++] = root;
		if (!exists)
			argv[ac++] = "-m";
		if (json_object_object_get_ex(u, "uid", &g)) {
			/* Validated to 0..USER_ID_MAX. */
			snprintf(num[0], sizeof(num[0]), "%lld",
			    (long long)json_object_get_int64(g));
			argv[ac++] = "-u";
			argv[ac++] = num[0];
		}
		if (json_object_object_get_ex(u, "gid", &g)) {
			/* Validated to 0..USER_ID_MAX. */
			snprintf(num[1], sizeof(num[1]), "%lld",
			    (long long)json_object_get_int64(g));
			argv[ac++] = "-g";
			argv[ac++] = num[1];
		}
		if ((g = json_get_arr(u, "groups")) != NULL &&
		    json_object_array_length(g) > 0) {
			struct buf gb;

			buf_init(&gb);
			for (i = 0; i < json_object_array_length(g); i++)
				buf_printf(&gb, "%s%s", i ? "," : "",
				    json_object_get_string(
				    json_object_array_get_idx(g, i)));
			groups = buf_release(&gb);
			argv[ac++] = "-G";
			argv[ac++] = groups;
		}
		if (json_get_str(u, "description") != NULL) {
			argv[ac++] = "-c";
			argv[ac++] = json_get_str(u, "description");
		}
		if (json_get_str(u, "home") != NULL) {
			argv[ac++] = "-d";
			argv[ac++] = json_get_str(u, "home");
		}
		if (json_get_str(u, "shell") != NULL) {
			argv[ac++] = "-s";
			argv[ac++] = json_get_str(u, "shell");
		}
		if (json_get_str(u, "password") != NULL) {
			argv[ac++] = "-p";
			argv[ac++] = json_get_str(u, "password");
		}
		if (json_object_object_get_ex(u, "expiredate", &g)) {
			int64_t days = json_object_get_int64(g);
			time_t t;
			struct tm tm;

			/* Validated; clamped again before the product. */
			if (days < 0)
				days = 0;
			if (days > USER_EXPIRE_MAX)
				days = USER_EXPIRE_MAX;
			t = (time_t)days * 86400;

			gmtime_r(&t, &tm);
			strftime(exp, sizeof(exp), "%Y-%m-%d", &tm);
			argv[ac++] = "-e";
			argv[ac++] = exp;
		}
		argv[ac++] = name;
		argv[ac] = NULL;
		rc = run_cmd(argv, NULL, r->out);
		free(groups);
		if (rc != 0) {
			/* The password never reaches the output. */
			out_printf(r->out, "%s %s failed", argv[0], name);
			goto cleanup;
		}
		if (json_object_object_get_ex(u, "force_password_reset", &g) &&
		    json_object_get_boolean(g)) {
			const char *cargv[] = { "chage", root, "-d", "0", name,
			    NULL };

			if (run_cmd(cargv, NULL, r->out) != 0)
				goto cleanup;
		}
		buf_init(&kb);
		if (json_get_str(u, "key") != NULL)
			buf_printf(&kb, "%s\n", json_get_str(u, "key"));
		if ((keys = json_get_arr(u, "keys")) != NULL)
			for (i = 0; i < json_object_array_length(keys); i++)
				buf_printf(&kb, "%s\n", json_object_get_string(
				    json_object_array_get_idx(keys, i)));
		if (kb.len > 0) {
			char *ssh, *ak;

			if (passwd_lookup(r->tree, name, &uid, &gid, &home) ==
			    -1) {
				out_printf(r->out, "user %s not in the tree's "
				    "/etc/passwd", name);
				buf_free(&kb);
				goto cleanup;
			}
			ssh = xasprintf("%s/.ssh", home);
			ak = xasprintf("%s/.ssh/authorized_keys", home);
			rc = tree_mkdir(r->tree, ssh, 0700, uid, gid, r->out);
			if (rc == 0)
				rc = tree_write(r->tree, ak, kb.data, kb.len,
				    0600, uid, gid, r->out);
			free(ssh);
			free(ak);
			free(home);
			if (rc == -1) {
				buf_free(&kb);
				goto cleanup;
			}
		}
		buf_free(&kb);
		out_printf(r->out, "user %s %s", name, exists ? "updated" :
		    "added");
	}
	ret = 0;
cleanup:
	free(root);
	return ret;
}

int
stage_files(struct stage_run *r)
{
	json_object	*dirs = json_get_arr(r->s->options, "directories");
	json_object	*files = json_get_arr(r->s->options, "files");
	size_t		 i;

	for (i = 0; dirs != NULL && i < json_object_array_length(dirs); i++) {
		json_object *d = json_object_array_get_idx(dirs, i);

		if (tree_mkdir(r->tree, json_get_str(d, "path"),
		    opt_mode(d, 0755), opt_int(d, "uid", -1),
		    opt_int(d, "gid", -1), r->out) == -1)
			return -1;
	}
	for (i = 0; files != NULL && i < json_object_array_length(files);
	    i++) {
		json_object *f = json_object_array_get_idx(files, i);
		const char *c = json_get_str(f, "content");

		if (tree_write(r->tree, json_get_str(f, "path"), c, strlen(c),
		    opt_mode(f, 0644), opt_int(f, "uid", -1),
		    opt_int(f, "gid", -1), r->out) == -1)
			return -1;
		out_printf(r->out, "wrote %s", json_get_str(f, "path"));
	}
	return 0;
}

static int
systemctl(struct stage_run *r, const char *verb, json_object *units)
{
	const char	**argv;
	char		*root;
	size_t		 i, n = units ? json_object_array_length(units) : 0;
	int		 rc;

	if (n == 0)
		return 0;
	argv = xcalloc(n + 5, sizeof(*argv));
	root = xasprintf("--root=%s", r->tree);
	argv[0] = "systemctl";
	argv[1] = root;
	argv[2] = verb;
	for (i = 0; i < n; i++)
		argv[3 + i] = json_object_get_string(
		    json_object_array_get_idx(units, i));
	rc = run_cmd(argv, NULL, r->out);
	if (rc != 0)
		out_printf(r->out, "systemctl %s failed", verb);
	free(argv);
	free(root);
	return rc == 0 ? 0 : -1;
}

int
stage_systemd(struct stage_run *r)
{
	json_object	*o = r->s->options, *gens;
	const char	*t;
	size_t		 i;

	if (systemctl(r, "enable", json_get_arr(o, "enabled_services")) == -1 ||
	    systemctl(r, "disable", json_get_arr(o, "disabled_services")) == -1 ||
	    systemctl(r, "mask", json_get_arr(o, "masked_services")) == -1)
		return -1;
	if ((t = json_get_str(o, "default_target")) != NULL) {
		json_object *a = json_object_new_array();
		int rc;

		json_object_array_add(a, json_object_new_string(t));
		rc = systemctl(r, "set-default", a);
		json_object_put(a);
		if (rc == -1)
			return -1;
	}
	gens = json_get_arr(o, "masked_generators");
	for (i = 0; gens != NULL && i < json_object_array_length(gens); i++) {
		char *link = xasprintf("/etc/systemd/system-generators/%s",
		    json_object_get_string(json_object_array_get_idx(gens, i)));
		const char *argv[] = { "chroot", r->tree, "sh", "-c",
		    "mkdir -p /etc/systemd/system-generators && "
		    "ln -sf /dev/null \"$1\"", "sh", link, NULL };
		int rc = run_cmd(argv, NULL, r->out);

		free(link);
		if (rc != 0)
			return -1;
	}
	return 0;
}

int
stage_fstab(struct stage_run *r)
{
	json_object	*fss = json_get_arr(r->s->options, "filesystems");
	struct buf	 b;
	size_t		 i;
	int		 rc;

	buf_init(&b);
	for (i = 0; fss != NULL && i < json_object_array_length(fss); i++) {
		json_object *fs = json_object_array_get_idx(fss, i);
		const char *vfs = json_get_str(fs, "vfs_type");
		const char *opts = json_get_str(fs, "options");

		if (json_get_str(fs, "uuid"))
			buf_printf(&b, "UUID=%s", json_get_str(fs, "uuid"));
		else if (json_get_str(fs, "label"))
			buf_printf(&b, "LABEL=%s", json_get_str(fs, "label"));
		else if (json_get_str(fs, "partlabel"))
			buf_printf(&b, "PARTLABEL=%s",
			    json_get_str(fs, "partlabel"));
		else
			buf_addstr(&b, json_get_str(fs, "device"));
		buf_printf(&b, "\t%s\t%s\t%s\t%d\t%d\n",
		    json_get_str(fs, "path"), vfs ? vfs : "none", opts ? opts : "defaults",
		    opt_int(fs, "freq", 0), opt_int(fs, "passno", 0));
	}
	rc = tree_write(r->tree, "/etc/fstab", b.data, b.len, 0644, -1, -1,
	    r->out);
	buf_free(&b);
	return rc;
}

int
stage_kernel_cmdline(struct stage_run *r)
{
	const char	*uuid = json_get_str(r->s->options, "root_fs_uuid");
	const char	*opts = json_get_str(r->s->options, "kernel_opts");
	char		*line;
	int		 rc;

	if (uuid != NULL)
		line = xasprintf("root=UUID=%s%s%s\n", uuid, opts ? " " : "",
		    opts ? opts : "");
	else
		line = xasprintf("%s\n", opts ? opts : "");
	rc = tree_write(r->tree, "/etc/kernel/cmdline", line, strlen(line),
	    0644, -1, -1, r->out);
	free(line);
	return rc;
}

int
stage_cloud_init(struct stage_run *r)
{
	json_object	*config;
	char		*path, *text;
	int		 rc;

	json_object_object_get_ex(r->s->options, "config", &config);
	/* JSON is YAML: cloud-init reads this as it reads its own files. */
	text = xasprintf("# written by ib-build\n%s\n",
	    json_object_to_json_string_ext(config, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	path = xasprintf("/etc/cloud/cloud.cfg.d/%s",
	    json_get_str(r->s->options, "filename"));
	rc = tree_write(r->tree, path, text, strlen(text), 0644, -1, -1,
	    r->out);
	free(path);
	free(text);
	return rc;
}
