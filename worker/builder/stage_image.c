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
#include "builder/schema.h"
#include "jsonutil.h"

#define MIB		(INT64_C(1) << 20)
#define MBR_FILE	"/usr/lib/syslinux/mbr/mbr.bin"
#define GPTMBR_FILE	"/usr/lib/syslinux/mbr/gptmbr.bin"

/* What UEFI boot takes per architecture: GRUB's EFI modules in the tree
 * (from pkg), grub-mkimage's target, the removable-media loader's name on
 * the ESP and the GPT root partition type (Discoverable Partitions). */
struct efi_arch {
	const char	*name;		/* the disk stage's arch option */
	const char	*grub_dir;
	const char	*grub_target;
	const char	*loader;
	const char	*pkg;
	const char	*root_type;
};
static const struct efi_arch efi_arches[] = {
	{ "x86_64", "/usr/lib/grub/x86_64-efi", "x86_64-efi", "BOOTX64.EFI",
	  "grub-efi-amd64-bin", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709" },
	{ "aarch64", "/usr/lib/grub/arm64-efi", "arm64-efi", "BOOTAA64.EFI",
	  "grub-efi-arm64-bin", "B921B045-1DF0-41C3-AF44-4C6F280D3FAE" },
};
#define ESP_SIZE	(200 * MIB)	/* as osbuild's UEFI images */

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

/* The kernel's command line: the tree's /etc/kernel/cmdline (from
 * org.osbuild.kernel-cmdline) when it names root=, else root=UUID= or
 * root=LABEL= before it; then ro and the stage's kernel_opts. */
static char *
kernel_append(struct stage_run *r, const char *os, const char *label,
    const char *uuid)
{
	const char	*extra = json_get_str(r->s->options, "kernel_opts");
	char		*cmdline, *root, *line;

	cmdline = tree_read(os, "/etc/kernel/cmdline", 4096);
	if (cmdline != NULL)
		rtrim(cmdline);
	if (cmdline != NULL && strstr(cmdline, "root=") != NULL)
		root = xstrdup(cmdline);
	else
		root = xasprintf("root=%s=%s%s%s", uuid ? "UUID" : "LABEL",
		    uuid ? uuid : label, cmdline && *cmdline ? " " : "",
		    cmdline ? cmdline : "");
	line = xasprintf("%s ro%s%s", root, extra ? " " : "",
	    extra ? extra : "");
	free(cmdline);
	free(root);
	return line;
}

static char *
extlinux_conf(const char *kver, const char *append, int has_initrd)
{
	return xasprintf("# written by ib-build\n"
	    "DEFAULT linux\nTIMEOUT 1\nPROMPT 0\n"
	    "LABEL linux\n  LINUX /boot/vmlinuz-%s\n%s%s%s"
	    "  APPEND %s\n", kver,
	    has_initrd ? "  INITRD /boot/initrd.img-" : "",
	    has_initrd ? kver : "", has_initrd ? "\n" : "", append);
}

/* GRUB's configuration on the ESP: find the root file system, boot the
 * kernel of its /boot (GRUB reads ext4 itself). */
static char *
grub_cfg(const char *kver, const char *append, int has_initrd,
    const char *label, const char *uuid)
{
	return xasprintf("# written by ib-build\n"
	    "set default=0\nset timeout=1\n"
	    "search --no-floppy --set=root %s %s\n"
	    "menuentry 'Debian GNU/Linux' {\n"
	    "  linux /boot/vmlinuz-%s %s\n%s%s%s}\n",
	    uuid ? "--fs-uuid" : "--label", uuid ? uuid : label, kver, append,
	    has_initrd ? "  initrd /boot/initrd.img-" : "",
	    has_initrd ? kver : "", has_initrd ? "\n" : "");
}

/* What the disk of a tree of tree_bytes takes: the size option (bytes or
 * N[KMG]) or tree + 25 % + 256 MiB (+ extra: the ESP and GPT backup), in
 * whole MiB; -1 when too small. */
static int64_t
disk_size(struct stage_run *r, int64_t tree_bytes, int64_t extra)
{
	json_object	*v = NULL;
	int64_t		 size;

	json_object_object_get_ex(r->s->options, "size", &v);
	if ((size = size_option(v)) <= 0)	/* validated: absent */
		size = tree_bytes + tree_bytes / 4 + 256 * MIB + extra;
	size = (size + MIB - 1) / MIB * MIB;
	if (size < tree_bytes + 64 * MIB + extra) {
		out_printf(r->out, "size %lld is too small for a tree of %lld "
		    "bytes", (long long)size, (long long)tree_bytes);
		return -1;
	}
	return size;
}

/* What both backends are given: the options read, extlinux prepared. */
struct disk_job {
	const char	*label, *uuid;
	const char	*boot_mode;	/* legacy, uefi or hybrid */
	const struct efi_arch *arch;	/* aarch64: uefi only (stages.c) */
	char		*os;		/* the input tree */
	char		*kver;		/* with a boot loader */
	char		*conf;		/* extlinux.conf, NULL without */
	char		*esp_dir;	/* the ESP's files (EFI/), or NULL */
	int		 gpt;
	int		 secure_boot;	/* shim + signed GRUB on the ESP */
	int64_t		 esp_size;	/* with gpt; 0: no ESP */
	unsigned char	 mbr[440];
};

static void
disk_banner(struct stage_run *r, const struct disk_job *j, int64_t size)
{
	out_printf(r->out, "disk %s: %lld MiB, %s, %s boot%s%s, ext4 \"%s\"%s%s",
	    json_get_str(r->s->options, "filename"), (long long)(size / MIB),
	    j->gpt ? "gpt" : "mbr", j->boot_mode,
	    j->esp_size ? ", ESP " : "", j->esp_dir ? (j->secure_boot ?
	    "with shim and signed GRUB" : "with GRUB (EFI)") :
	    j->esp_size ? "(empty)" : "", j->label,
	    j->conf ? ", extlinux, kernel " : "", j->conf ? j->kver : "");
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
	if (j->gpt) {
		out_printf(r->out, "GPT disks (boot_mode uefi or hybrid, "
		    "partition_table gpt) are made by the direct backend "
		    "only: run as root with loop devices");
		goto cleanup;
	}
	if ((size = disk_size(r, file_size(tar), 0)) == -1)
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
	if ((size = disk_size(r, bytes, j->gpt ? j->esp_size + MIB : 0)) ==
	    -1)
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
	d.gpt = j->gpt;
	d.gpt_root_type = j->arch->root_type;
	d.esp_size = j->esp_size;
	d.esp_dir = j->esp_dir;
	rc = disk_direct(&d, r->out);
	if (rc == 0 && j->conf != NULL)
		out_printf(r->out, "extlinux.conf:\n%s", j->conf);
	if (rc != 0)
		unlink(img);
	free(img);
	return rc;
}

/*
 * Opens path of the tree (absolute, as the image sees it) with flags,
 * following no symlink on the way, so that the image cannot point the
 * builder at a host file; -1 (errno) otherwise.
 */
static int
open_in_tree(const char *os, const char *path, int flags)
{
	char	*p = xstrdup(path), *save = NULL, *c, *next;
	int	 fd, nfd;

	fd = open(os, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (c = strtok_r(p, "/", &save); c != NULL && fd != -1; c = next) {
		next = strtok_r(NULL, "/", &save);
		/* O_NONBLOCK: a fifo in the image must not hang the
		 * build (callers check for a regular file). */
		nfd = openat(fd, c, (next != NULL ? O_RDONLY | O_DIRECTORY :
		    flags | O_NONBLOCK) | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = nfd;
	}
	free(p);
	return fd;
}

/* Copies the tree's regular file at path (nothing followed) to the host
 * file to; 0 or -1, out says why. */
static int
copy_from_tree(const char *os, const char *path, const char *to,
    struct buf *out)
{
	struct stat	 sb;
	int		 in, o = -1, ok;

	errno = 0;
	in = open_in_tree(os, path, O_RDONLY);
	ok = in != -1 && fstat(in, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (o = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0644)) != -1 && disk_copy_fd(in, o) == 0;
	if (in != -1)
		close(in);
	if (o != -1 && close(o) == -1)
		ok = 0;
	if (!ok)
		out_printf(out, "copying %s of the tree: %s", path,
		    errno ? strerror(errno) : "not a regular file");
	return ok ? 0 : -1;
}

/*
 * Copies the regular files of the image's GRUB module folder to dst:
 * grub-mkimage (the host's) reads them from there, and nothing is
 * followed through a symlink to a host file.
 */
static int
copy_grub_modules(const char *os, const struct efi_arch *a, const char *dst,
    struct buf *out)
{
	DIR		*dp;
	struct dirent	*de;
	struct stat	 sb;
	int		 sfd, rc = -1, n = 0;

	if ((sfd = open_in_tree(os, a->grub_dir, O_RDONLY |
	    O_DIRECTORY)) == -1) {
		out_printf(out, "no %s folder in the tree: install "
		    "%s in the image for UEFI boot", a->grub_dir, a->pkg);
		return -1;
	}
	if ((dp = fdopendir(sfd)) == NULL) {
		close(sfd);
		return -1;
	}
	if (mkdir(dst, 0700) == -1 && errno != EEXIST) {
		out_printf(out, "mkdir %s: %s", dst, strerror(errno));
		goto cleanup;
	}
	while ((de = readdir(dp)) != NULL) {
		char	*from, *to;
		int	 bad;

		if (fstatat(sfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(sb.st_mode))
			continue;
		from = xasprintf("%s/%s", a->grub_dir, de->d_name);
		to = xasprintf("%s/%s", dst, de->d_name);
		bad = copy_from_tree(os, from, to, out) == -1;
		free(from);
		free(to);
		if (bad)
			goto cleanup;
		n++;
	}
	if (n == 0) {
		out_printf(out, "%s of the tree holds no files",
		    a->grub_dir);
		goto cleanup;
	}
	rc = 0;
cleanup:
	closedir(dp);
	return rc;
}

/* ESP/EFI/BOOT/BOOTX64.EFI (BOOTAA64.EFI): GRUB made by grub-mkimage from
 * the modules of the image's grub-efi-amd64-bin (-arm64-bin), its prefix
 * the ESP's /EFI/BOOT. */
static int
esp_grub_mkimage(struct stage_run *r, const struct disk_job *j,
    const char *dir)
{
	char	*mods = xasprintf("%s/grub-modules", r->tmpdir);
	char	*efi = xasprintf("%s/%s", dir, j->arch->loader);
	int	 rc = -1;

	if (copy_grub_modules(j->os, j->arch, mods, r->out) == 0) {
		const char *argv[] = { "grub-mkimage", "-d", mods, "-O",
		    j->arch->grub_target, "-p", "/EFI/BOOT", "-o", efi,
		    "part_gpt", "part_msdos", "fat", "ext2", "normal", "linux",
		    "search", "search_fs_uuid", "search_label", "configfile",
		    "echo", "test", "all_video", "gzio", NULL };

		if ((rc = run_cmd(argv, NULL, r->out)) != 0) {
			out_printf(r->out, "grub-mkimage failed (install "
			    "grub-common on the build host)");
			rc = -1;
		}
	}
	free(mods);
	free(efi);
	return rc;
}

/*
 * Secure Boot: Debian's signed shim as BOOTX64.EFI, which loads the
 * signed GRUB beside it (grubx64.efi) and MokManager (mmx64.efi, when
 * the image has it), all from the image's shim-signed and
 * grub-efi-amd64-signed. That GRUB reads /EFI/debian/grub.cfg (its
 * prefix), else the one beside it: both are written.
 */
static int
esp_shim(struct stage_run *r, const struct disk_job *j, const char *dir)
{
	static const char *const files[][2] = {
		{ "/usr/lib/shim/shimx64.efi.signed", "BOOTX64.EFI" },
		{ "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",
		  "grubx64.efi" },
		{ "/usr/lib/shim/mmx64.efi.signed", "mmx64.efi" },
	};
	size_t	 i;
	int	 rc = 0;

	for (i = 0; i < sizeof(files) / sizeof(files[0]) && rc == 0; i++) {
		char	*to = xasprintf("%s/%s", dir, files[i][1]);
		int	 fd = open_in_tree(j->os, files[i][0], O_RDONLY);

		if (fd != -1)
			close(fd);
		if (fd == -1 && i == 2) {
			free(to);
			continue;	/* MokManager is optional */
		}
		if (fd == -1) {
			out_printf(r->out, "secure_boot: no %s in the tree: "
			    "install shim-signed and grub-efi-amd64-signed "
			    "in the image", files[i][0]);
			rc = -1;
		} else
			rc = copy_from_tree(j->os, files[i][0], to, r->out);
		free(to);
	}
	return rc;
}

/*
 * The ESP's files under tmpdir/esp: EFI/BOOT/BOOTX64.EFI (the removable
 * media path firmware boots without NVRAM entries), GRUB or, with
 * secure_boot, shim and the signed GRUB; grub.cfg beside it (and in
 * EFI/debian for the signed GRUB). Returns tmpdir/esp.
 */
static char *
prepare_esp(struct stage_run *r, const struct disk_job *j,
    const char *append, int has_initrd)
{
	char		*esp = xasprintf("%s/esp", r->tmpdir);
	char		*efi = xasprintf("%s/esp/EFI", r->tmpdir);
	char		*dir = xasprintf("%s/esp/EFI/BOOT", r->tmpdir);
	char		*deb = xasprintf("%s/esp/EFI/debian", r->tmpdir);
	char		*cfg = NULL, *cfgp = NULL;
	int		 ok = 0;

	if (mkdir(esp, 0755) == -1 || mkdir(efi, 0755) == -1 ||
	    mkdir(dir, 0755) == -1 ||
	    (j->secure_boot && mkdir(deb, 0755) == -1)) {
		out_printf(r->out, "mkdir %s: %s", dir, strerror(errno));
		goto cleanup;
	}
	if ((j->secure_boot ? esp_shim(r, j, dir) :
	    esp_grub_mkimage(r, j, dir)) == -1)
		goto cleanup;
	cfg = grub_cfg(j->kver, append, has_initrd, j->label, j->uuid);
	cfgp = xasprintf("%s/grub.cfg", dir);
	if (write_file_atomic(cfgp, cfg, strlen(cfg), 0644) == -1)
		goto fail;
	free(cfgp);
	cfgp = xasprintf("%s/grub.cfg", deb);
	if (j->secure_boot && write_file_atomic(cfgp, cfg, strlen(cfg),
	    0644) == -1)
		goto fail;
	out_printf(r->out, "ESP: %s; /EFI/BOOT/grub.cfg:\n%s",
	    j->secure_boot ? "shim and the signed GRUB (Secure Boot)" :
	    "GRUB made by grub-mkimage", cfg);
	ok = 1;
	goto cleanup;
fail:
	out_printf(r->out, "%s: %s", cfgp, strerror(errno));
cleanup:
	free(efi);
	free(dir);
	free(deb);
	free(cfgp);
	free(cfg);
	if (!ok) {
		free(esp);
		return NULL;
	}
	return esp;
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
	const char	*pt;
	struct disk_job	 j;
	char		 why[256], *initrd = NULL, *append = NULL;
	size_t		 i;
	int		 fd, ret = -1, direct, legacy, uefi, has_initrd = 0;

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
	/* boot_mode (osbuild's names): legacy BIOS, UEFI, or both on one
	 * GPT disk; uefi and hybrid imply partition_table gpt (stages.c). */
	j.boot_mode = json_get_str(o, "boot_mode") ?
	    json_get_str(o, "boot_mode") : "legacy";
	j.arch = &efi_arches[0];
	for (i = 0; i < nitems(efi_arches); i++)
		if (json_get_str(o, "arch") != NULL && strcmp(json_get_str(o,
		    "arch"), efi_arches[i].name) == 0)
			j.arch = &efi_arches[i];
	legacy = strcmp(j.boot_mode, "uefi") != 0;
	uefi = strcmp(j.boot_mode, "legacy") != 0;
	pt = json_get_str(o, "partition_table");
	j.gpt = uefi || (pt != NULL && strcmp(pt, "gpt") == 0);
	if (uefi) {
		json_object *v = NULL;

		json_object_object_get_ex(o, "esp_size", &v);
		j.esp_size = (size_option(v) + MIB - 1) / MIB * MIB;
		if (j.esp_size <= 0)
			j.esp_size = ESP_SIZE;
		j.secure_boot = opt_bool(o, "secure_boot", 0);
	}
	if (bl == NULL || strcmp(bl, "extlinux") == 0) {
		if ((j.kver = tree_kernel(j.os)) == NULL) {
			out_printf(r->out, "no /boot/vmlinuz-* in the tree: "
			    "nothing for the boot loader to boot");
			goto cleanup;
		}
		initrd = xasprintf("%s/boot/initrd.img-%s", j.os, j.kver);
		has_initrd = access(initrd, F_OK) == 0;
		append = kernel_append(r, j.os, j.label, j.uuid);
	}
	if (append != NULL && legacy) {
		/* syslinux's MBR code, or for GPT the one that boots the
		 * partition with the legacy BIOS bootable attribute. */
		const char *mbrf = j.gpt ? GPTMBR_FILE : MBR_FILE;

		fd = open(mbrf, O_RDONLY | O_CLOEXEC);
		if (fd == -1 || read(fd, j.mbr, sizeof(j.mbr)) !=
		    sizeof(j.mbr)) {
			out_printf(r->out, "%s: %s (install syslinux-common)",
			    mbrf, strerror(errno));
			if (fd != -1)
				close(fd);
			goto cleanup;
		}
		close(fd);
		j.conf = extlinux_conf(j.kver, append, has_initrd);
	}
	if (strcmp(mode, "auto") == 0)
		direct = disk_direct_usable(j.conf != NULL);
	else
		direct = strcmp(mode, "direct") == 0;
	if (direct) {
		out_printf(r->out, "disk backend: direct");
		/* GRUB's EFI image for the ESP (GPT: direct only). */
		if (append != NULL && uefi && (j.esp_dir =
		    prepare_esp(r, &j, append, has_initrd)) == NULL)
			goto cleanup;
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
	free(j.esp_dir);
	free(initrd);
	free(append);
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
		const char *compat = json_get_str(fmt, "compat");
		const char *codec = json_get_str(fmt, "compression_type");
		struct buf b;

		/* Compressed clusters written out of order (-W): qemu-img
		 * compresses them on every core instead of one. */
		if (opt_bool(fmt, "compression", 1)) {
			argv[ac++] = "-c";
			argv[ac++] = "-W";
		}
		buf_init(&b);
		if (compat != NULL)
			buf_printf(&b, "compat=%s", compat);
		if (codec != NULL)
			buf_printf(&b, "%scompression_type=%s",
			    b.len ? "," : "", codec);
		opts = b.len ? buf_release(&b) : NULL;
		buf_free(&b);
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
