/*
 * Stages that make files from trees: the disk (a partition table, ext4,
 * the tree copied in, extlinux; made here with mke2fs and a private loop
 * mount, disk_direct.c, or inside the libguestfs appliance), the qemu-img
 * formats, and the compressors.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <guestfs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "builder/build.h"
#include "jsonutil.h"

#define MIB		(INT64_C(1) << 20)
#define MBR_FILE	"/usr/lib/syslinux/mbr/mbr.bin"

/* The output file's name, checked by stages.c. */
static const char *
filename(const struct stage_run *r)
{
	return json_get_str(r->s->options, "filename");
}

/* The boolean member key of o, def when absent or not a boolean. */
static int
opt_bool(json_object *o, const char *key, int def)
{
	int	 v = def;

	(void)json_get_bool(o, key, &v);
	return v;
}

static int64_t
parse_size(json_object *v)
{
	const char	*s;
	char		*end;
	int64_t		 n;

	if (v == NULL)
		return 0;
	if (json_object_is_type(v, json_type_int))
		return json_object_get_int64(v);
	s = json_object_get_string(v);
	n = (int64_t)strtoull(s, &end, 10);
	switch (*end) {
	case 'K': return n << 10;
	case 'M': return n << 20;
	case 'G': return n << 30;
	}
	return n;
}

static int64_t
file_size(const char *path)
{
	struct stat	 sb;

	return stat(path, &sb) == -1 ? -1 : (int64_t)sb.st_size;
}

/* The newest kernel version of the tree's /boot, or NULL. */
static char *
tree_kernel(const char *tree)
{
	char		*boot = xasprintf("%s/boot", tree), *best = NULL;
	DIR		*d;
	struct dirent	*de;

	if ((d = opendir(boot)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, "vmlinuz-", 8) != 0)
				continue;
			if (best == NULL ||
			    strverscmp(de->d_name + 8, best) > 0) {
				free(best);
				best = xstrdup(de->d_name + 8);
			}
		}
		closedir(d);
	}
	free(boot);
	return best;
}

static int
gerr(struct stage_run *r, guestfs_h *g, const char *what)
{
	const char	*e = guestfs_last_error(g);

	out_printf(r->out, "libguestfs %s: %s", what, e ? e : "failed");
	return -1;
}

static char *
extlinux_conf(struct stage_run *r, const char *os, const char *kver,
    const char *label, const char *uuid, int has_initrd)
{
	const char	*extra = json_get_str(r->s->options, "kernel_opts");
	char		*cmdline, *root, *conf;

	/* The command line of org.osbuild.kernel-cmdline, when the tree has
	 * one; the root file system by UUID or label otherwise. */
	cmdline = tree_read(os, "/etc/kernel/cmdline", 4096);
	if (cmdline != NULL)
		rtrim(cmdline);
	if (cmdline != NULL && strstr(cmdline, "root=") != NULL)
		root = xstrdup(cmdline);
	else
		root = xasprintf("root=%s=%s%s%s", uuid ? "UUID" : "LABEL",
		    uuid ? uuid : label, cmdline && *cmdline ? " " : "",
		    cmdline ? cmdline : "");
	conf = xasprintf("# written by ib-build\n"
	    "DEFAULT linux\nTIMEOUT 1\nPROMPT 0\n"
	    "LABEL linux\n  LINUX /boot/vmlinuz-%s\n%s%s%s"
	    "  APPEND %s ro%s%s\n", kver,
	    has_initrd ? "  INITRD /boot/initrd.img-" : "",
	    has_initrd ? kver : "", has_initrd ? "\n" : "",
	    root, extra ? " " : "", extra ? extra : "");
	free(cmdline);
	free(root);
	return conf;
}

/* What the disk of a tree of tree_bytes takes: the size option (bytes or
 * N[KMG]) or tree + 25 % + 256 MiB, in whole MiB; -1 when too small. */
static int64_t
disk_size(struct stage_run *r, int64_t tree_bytes)
{
	json_object	*v = NULL;
	int64_t		 size;

	json_object_object_get_ex(r->s->options, "size", &v);
	if ((size = parse_size(v)) == 0)
		size = tree_bytes + tree_bytes / 4 + 256 * MIB;
	size = (size + MIB - 1) / MIB * MIB;
	if (size < tree_bytes + 64 * MIB) {
		out_printf(r->out, "size %lld is too small for a tree of %lld "
		    "bytes", (long long)size, (long long)tree_bytes);
		return -1;
	}
	return size;
}

/* What both backends are given: the options read, extlinux prepared. */
struct disk_job {
	const char	*label, *uuid;
	char		*os;		/* the input tree */
	char		*kver;		/* with extlinux */
	char		*conf;		/* extlinux.conf, NULL without */
	unsigned char	 mbr[440];
};

static void
disk_banner(struct stage_run *r, const struct disk_job *j, int64_t size)
{
	out_printf(r->out, "disk %s: %lld MiB, mbr, ext4 \"%s\"%s%s",
	    json_get_str(r->s->options, "filename"), (long long)(size / MIB),
	    j->label, j->conf ? ", extlinux, kernel " : "",
	    j->conf ? j->kver : "");
}

/* The appliance: tar of the tree, partitioning, mkfs, tar-in, extlinux,
 * all inside libguestfs (no loop device, no host mount). */
static int
disk_libguestfs(struct stage_run *r, const struct disk_job *j)
{
	const char	*label = j->label, *uuid = j->uuid, *conf = j->conf;
	char		*tar = NULL, *img = NULL;
	guestfs_h	*g = NULL;
	int64_t		 size;
	int		 fd, ret = -1;

	tar = xasprintf("%s/tree.tar", r->tmpdir);
	{
		const char *argv[] = { "tar", "--numeric-owner", "--xattrs",
		    "--xattrs-include=*", "--acls", "--sparse", "-C", j->os,
		    "-cf", tar, ".", NULL };

		if (run_cmd(argv, NULL, r->out) != 0) {
			out_printf(r->out, "tar of the tree failed");
			goto cleanup;
		}
	}
	if ((size = disk_size(r, file_size(tar))) == -1)
		goto cleanup;
	img = xasprintf("%s/%s", r->tree, filename(r));
	fd = open(img, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1 || ftruncate(fd, size) == -1) {
		out_printf(r->out, "%s: %s", img, strerror(errno));
		if (fd != -1)
			close(fd);
		goto cleanup;
	}
	close(fd);
	disk_banner(r, j, size);

	if ((g = guestfs_create()) == NULL) {
		out_printf(r->out, "guestfs_create failed");
		goto cleanup;
	}
	if (guestfs_add_drive_opts(g, img, GUESTFS_ADD_DRIVE_OPTS_FORMAT, "raw",
	    -1) == -1) {
		gerr(r, g, "add drive");
		goto cleanup;
	}
	if (guestfs_launch(g) == -1) {
		gerr(r, g, "launch");
		goto cleanup;
	}
	if (guestfs_part_init(g, "/dev/sda", "mbr") == -1 ||
	    guestfs_part_add(g, "/dev/sda", "p", 2048, -1) == -1 ||
	    guestfs_part_set_bootable(g, "/dev/sda", 1, 1) == -1) {
		gerr(r, g, "partitioning");
		goto cleanup;
	}
	if (guestfs_mkfs_opts(g, "ext4", "/dev/sda1",
	    GUESTFS_MKFS_OPTS_LABEL, label, -1) == -1) {
		gerr(r, g, "mkfs");
		goto cleanup;
	}
	if (uuid != NULL && guestfs_set_uuid(g, "/dev/sda1", uuid) == -1) {
		gerr(r, g, "set uuid");
		goto cleanup;
	}
	if (guestfs_mount(g, "/dev/sda1", "/") == -1) {
		gerr(r, g, "mount (in the appliance)");
		goto cleanup;
	}
	if (guestfs_tar_in_opts(g, tar, "/", GUESTFS_TAR_IN_OPTS_XATTRS, 1,
	    GUESTFS_TAR_IN_OPTS_ACLS, 1, -1) == -1) {
		gerr(r, g, "tar-in");
		goto cleanup;
	}
	if (conf != NULL) {
		if (guestfs_mkdir_p(g, "/boot/extlinux") == -1 ||
		    guestfs_write(g, "/boot/extlinux/extlinux.conf", conf,
		    strlen(conf)) == -1 ||
		    guestfs_extlinux(g, "/boot/extlinux") == -1) {
			gerr(r, g, "extlinux");
			goto cleanup;
		}
		if (guestfs_pwrite_device(g, "/dev/sda", (const char *)j->mbr,
		    sizeof(j->mbr), 0) != sizeof(j->mbr)) {
			gerr(r, g, "boot record");
			goto cleanup;
		}
		out_printf(r->out, "extlinux.conf:\n%s", conf);
	}
	if (guestfs_umount_all(g) == -1 || guestfs_shutdown(g) == -1) {
		gerr(r, g, "shutdown");
		goto cleanup;
	}
	ret = 0;
cleanup:
	if (g != NULL)
		guestfs_close(g);
	if (tar != NULL)
		unlink(tar);
	if (ret == -1 && img != NULL)
		unlink(img);
	free(tar);
	free(img);
	return ret;
}

/* No appliance: disk_direct.c. Returns 0, -1 or DISK_NO_LOOP. */
static int
disk_native(struct stage_run *r, const struct disk_job *j)
{
	struct disk_spec	 d;
	int64_t			 bytes, size;
	char			*img;
	int			 rc;

	if ((bytes = disk_tree_bytes(j->os)) == -1) {
		out_printf(r->out, "%s: cannot walk the tree: %s", j->os,
		    strerror(errno));
		return -1;
	}
	if ((size = disk_size(r, bytes)) == -1)
		return -1;
	img = xasprintf("%s/%s", r->tree, filename(r));
	disk_banner(r, j, size);
	memset(&d, 0, sizeof(d));
	d.tree = j->os;
	d.img = img;
	d.size = size;
	d.label = j->label;
	d.uuid = j->uuid;
	d.conf = j->conf;
	d.mbr = j->mbr;
	d.tmpdir = r->tmpdir;
	rc = disk_direct(&d, r->out);
	if (rc == 0 && j->conf != NULL)
		out_printf(r->out, "extlinux.conf:\n%s", j->conf);
	if (rc != 0)
		unlink(img);
	free(img);
	return rc;
}

/*
 * IB_BUILD_DISK_BACKEND: libguestfs, direct, or auto (the default):
 * direct where this host can (root and loop devices, or no bootloader),
 * and libguestfs once more when the loop mount turns out not to work.
 * A host property, so not an option of the stage.
 */
int
stage_disk(struct stage_run *r)
{
	json_object	*o = r->s->options;
	const char	*bl = json_get_str(o, "bootloader");
	const char	*mode = getenv("IB_BUILD_DISK_BACKEND");
	struct disk_job	 j;
	char		 why[256], *initrd = NULL;
	int		 fd, ret = -1, direct;

	memset(&j, 0, sizeof(j));
	j.label = json_get_str(o, "label") ? json_get_str(o, "label") : "root";
	j.uuid = json_get_str(o, "uuid");
	if (mode == NULL || *mode == '\0')
		mode = "auto";
	if (strcmp(mode, "auto") != 0 && strcmp(mode, "direct") != 0 &&
	    strcmp(mode, "libguestfs") != 0) {
		out_printf(r->out, "IB_BUILD_DISK_BACKEND=%s: not auto, "
		    "direct or libguestfs", mode);
		return -1;
	}
	if ((j.os = input_tree(r, "tree", why, sizeof(why))) == NULL) {
		out_printf(r->out, "%s", why);
		return -1;
	}
	if (bl == NULL || strcmp(bl, "extlinux") == 0) {
		if ((j.kver = tree_kernel(j.os)) == NULL) {
			out_printf(r->out, "no /boot/vmlinuz-* in the tree: "
			    "nothing for extlinux to boot");
			goto cleanup;
		}
		fd = open(MBR_FILE, O_RDONLY | O_CLOEXEC);
		if (fd == -1 || read(fd, j.mbr, sizeof(j.mbr)) !=
		    sizeof(j.mbr)) {
			out_printf(r->out, "%s: %s (install syslinux-common)",
			    MBR_FILE, strerror(errno));
			if (fd != -1)
				close(fd);
			goto cleanup;
		}
		close(fd);
		initrd = xasprintf("%s/boot/initrd.img-%s", j.os, j.kver);
		j.conf = extlinux_conf(r, j.os, j.kver, j.label, j.uuid,
		    access(initrd, F_OK) == 0);
	}
	if (strcmp(mode, "auto") == 0)
		direct = disk_direct_usable(j.conf != NULL);
	else
		direct = strcmp(mode, "direct") == 0;
	if (direct) {
		out_printf(r->out, "disk backend: direct");
		ret = disk_native(r, &j);
		if (ret == DISK_NO_LOOP && strcmp(mode, "auto") == 0) {
			out_printf(r->out, "loop devices do not work here: "
			    "falling back to libguestfs");
			direct = 0;
		} else if (ret != 0) {
			ret = -1;
			goto cleanup;
		}
	}
	if (!direct) {
		out_printf(r->out, "disk backend: libguestfs");
		ret = disk_libguestfs(r, &j);
	}
cleanup:
	free(j.os);
	free(j.kver);
	free(j.conf);
	free(initrd);
	return ret;
}

int
stage_qemu(struct stage_run *r)
{
	json_object	*fmt;
	const char	*type, *argv[16];
	char		 why[256], *in, *out, *opts = NULL, *tmp = NULL;
	int64_t		 size;
	size_t		 ac = 0;
	int		 rc;

	if ((in = input_file(r, "image", why, sizeof(why))) == NULL) {
		out_printf(r->out, "%s", why);
		return -1;
	}
	json_object_object_get_ex(r->s->options, "format", &fmt);
	type = json_get_str(fmt, "type");
	out = xasprintf("%s/%s", r->tree, filename(r));
	argv[ac++] = "qemu-img";
	argv[ac++] = "convert";
	argv[ac++] = "-f";
	argv[ac++] = "raw";
	argv[ac++] = "-O";
	argv[ac++] = type;
	if (strcmp(type, "qcow2") == 0) {
		if (opt_bool(fmt, "compression", 1))
			argv[ac++] = "-c";
		if (json_get_str(fmt, "compat") != NULL)
			opts = xasprintf("compat=%s",
			    json_get_str(fmt, "compat"));
	} else if (strcmp(type, "vmdk") == 0) {
		const char *sub = json_get_str(fmt, "subformat");
		const char *ad = json_get_str(fmt, "adapter_type");
		struct buf b;

		buf_init(&b);
		if (sub != NULL)
			buf_printf(&b, "subformat=%s", sub);
		if (ad != NULL)
			buf_printf(&b, "%sadapter_type=%s", b.len ? "," : "",
			    ad);
		if (opt_bool(fmt, "compat6", 0))
			buf_printf(&b, "%scompat6=on", b.len ? "," : "");
		if (sub != NULL && strcmp(sub, "streamOptimized") == 0 &&
		    opt_bool(fmt, "compression", 1))
			argv[ac++] = "-c";
		opts = b.len ? buf_release(&b) : NULL;
		buf_free(&b);
	} else if (strcmp(type, "vpc") == 0) {
		const char *sub = json_get_str(fmt, "subformat");

		opts = xasprintf("subformat=%s,force_size=%s",
		    sub ? sub : "fixed",
		    opt_bool(fmt, "force_size", 1) ? "on" : "off");
		/* Azure takes only whole MiB: round the disk up. */
		size = file_size(in);
		if (size % MIB != 0) {
			const char *cp[] = { "cp", "--sparse=always", in, NULL,
			    NULL };

			tmp = xasprintf("%s/rounded.raw", r->tmpdir);
			cp[3] = tmp;
			if (run_cmd(cp, NULL, r->out) != 0 ||
			    truncate(tmp, (size + MIB - 1) / MIB * MIB) == -1) {
				out_printf(r->out, "cannot round %s to MiB",
				    in);
				rc = -1;
				goto cleanup;
			}
			out_printf(r->out, "size rounded up from %lld to %lld",
			    (long long)size,
			    (long long)((size + MIB - 1) / MIB * MIB));
		}
	}
	if (opts != NULL) {
		argv[ac++] = "-o";
		argv[ac++] = opts;
	}
	argv[ac++] = tmp ? tmp : in;
	argv[ac++] = out;
	argv[ac] = NULL;
	rc = run_cmd(argv, NULL, r->out) == 0 ? 0 : -1;
	if (rc == -1)
		out_printf(r->out, "qemu-img convert to %s failed", type);
	else
		out_printf(r->out, "%s: %s, %lld bytes", filename(r), type,
		    (long long)file_size(out));
cleanup:
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	free(opts);
	free(in);
	free(out);
	return rc;
}

static int
compress(struct stage_run *r, const char *tool)
{
	char	 why[256], *in, *out;
	int	 rc;

	if ((in = input_file(r, "file", why, sizeof(why))) == NULL) {
		out_printf(r->out, "%s", why);
		return -1;
	}
	out = xasprintf("%s/%s", r->tree, filename(r));
	if (strcmp(tool, "xz") == 0) {
		const char *argv[] = { "xz", "-T0", "-c", in, NULL };

		rc = run_cmd_to(argv, out, r->out);
	} else {
		const char *argv[] = { "zstd", "-q", "-T0", "-f", in, "-o",
		    out, NULL };

		rc = run_cmd(argv, NULL, r->out);
	}
	if (rc != 0)
		out_printf(r->out, "%s failed", tool);
	else
		out_printf(r->out, "%s: %lld bytes", json_get_str(r->s->options,
		    "filename"), (long long)file_size(out));
	free(in);
	free(out);
	return rc == 0 ? 0 : -1;
}

int
stage_xz(struct stage_run *r)
{
	return compress(r, "xz");
}

int
stage_zstd(struct stage_run *r)
{
	return compress(r, "zstd");
}
