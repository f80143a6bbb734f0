/*
 * io.ib.disk without the libguestfs appliance, for a root builder with a
 * real kernel: the MBR or GPT written here, the EFI system partition made
 * by mkfs.fat and mtools beside the image and copied in, ext4 made and filled by mke2fs -d at
 * the partition's offset (no mount), and extlinux installed through a loop
 * mount made in a private mount namespace of a child, so that nothing
 * stays mounted or attached on the host even when the child dies.
 */
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <linux/fiemap.h>
#include <linux/fs.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <sched.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "builder/build.h"

#define SECTOR		512
#define MBR_HEADS	255
#define MBR_SECTORS	63
/* Exit codes of the mount child. */
#define CHILD_FAILED	1
#define CHILD_NO_LOOP	2

int
disk_direct_usable(int need_loop)
{
	if (!need_loop)
		return 1;
	return geteuid() == 0 && access("/dev/loop-control", F_OK) == 0;
}

/* ---- the size of a tree, as tar counts it ---- */

struct inode_key {
	dev_t	 dev;
	ino_t	 ino;
};

static int
inode_cmp(const void *a, const void *b)
{
	const struct inode_key	*x = a, *y = b;

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return 0;
}

/* Whether st is a hard link to data counted already (seen: tsearch). */
static int
seen_before(void **seen, const struct stat *st)
{
	struct inode_key	*k, **found;

	if (st->st_nlink < 2)
		return 0;
	k = xmalloc(sizeof(*k));
	k->dev = st->st_dev;
	k->ino = st->st_ino;
	found = tsearch(k, seen, inode_cmp);
	if (found != NULL && *found == k)
		return 0;
	free(k);
	return 1;
}

int64_t
disk_tree_bytes(const char *tree)
{
	char		*root = xstrdup(tree);	/* fts_open wants char * */
	char		*paths[] = { root, NULL };
	void		*seen = NULL;
	FTS		*fts;
	FTSENT		*e;
	int64_t		 bytes = 0, data;
	int		 err = 0;	/* errno of the first failure */

	if ((fts = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR, NULL)) == NULL) {
		free(root);
		return -1;
	}
	for (;;) {
		errno = 0;
		if ((e = fts_read(fts)) == NULL) {
			if (err == 0)
				err = errno;
			break;
		}
		switch (e->fts_info) {
		case FTS_DP:
			continue;		/* a directory, after its files */
		case FTS_DNR:
		case FTS_ERR:
		case FTS_NS:
			if (err == 0)
				err = e->fts_errno ? e->fts_errno : EIO;
			continue;
		}
		bytes += SECTOR;		/* a header per entry */
		if (e->fts_info != FTS_F || seen_before(&seen, e->fts_statp))
			continue;
		/* Sparse files count what they hold, as tar --sparse does. */
		data = e->fts_statp->st_size;
		if ((int64_t)e->fts_statp->st_blocks * 512 < data)
			data = (int64_t)e->fts_statp->st_blocks * 512;
		bytes += (data + SECTOR - 1) / SECTOR * SECTOR;
	}
	fts_close(fts);
	free(root);
	tdestroy(seen, free);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return bytes;
}

/* ---- the partition table ---- */

static void
put_le32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

/* CHS of an LBA in the usual 255/63 geometry, clamped as parted does. */
static void
put_chs(unsigned char *p, uint64_t lba)
{
	uint64_t	 c = lba / (MBR_HEADS * MBR_SECTORS);
	unsigned	 h = (lba / MBR_SECTORS) % MBR_HEADS;
	unsigned	 s = lba % MBR_SECTORS + 1;

	if (c > 1023) {
		c = 1023;
		h = MBR_HEADS - 1;
		s = MBR_SECTORS;
	}
	p[0] = h;
	p[1] = (s & 0x3f) | ((c >> 2) & 0xc0);
	p[2] = c & 0xff;
}

/*
 * Sector 0: one primary Linux partition, bootable, from sector 2048 to the
 * end of the disk; a random disk signature; no boot code yet.
 */
static int
write_mbr(int fd, int64_t size, struct buf *out)
{
	unsigned char	 mbr[SECTOR], *e = mbr + 446;
	uint64_t	 start = DISK_PART_START / SECTOR;
	uint64_t	 count = (uint64_t)size / SECTOR - start;
	uint32_t	 sig;

	if (count > UINT32_MAX) {
		out_printf(out, "an MBR partition holds at most 2 TiB");
		return -1;
	}
	if (getrandom(&sig, sizeof(sig), 0) != sizeof(sig))
		sig = (uint32_t)time(NULL) ^ (uint32_t)getpid();
	memset(mbr, 0, sizeof(mbr));
	put_le32(mbr + 440, sig);
	e[0] = 0x80;				/* bootable */
	put_chs(e + 1, start);
	e[4] = 0x83;				/* Linux */
	put_chs(e + 5, start + count - 1);
	put_le32(e + 8, (uint32_t)start);
	put_le32(e + 12, (uint32_t)count);
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	if (pwrite(fd, mbr, sizeof(mbr), 0) != sizeof(mbr)) {
		out_printf(out, "writing the partition table: %s",
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- GPT (UEFI spec 2.10, chapter 5) ---- */

#define GPT_ENTRIES	128
#define GPT_ENTRY_SIZE	128
#define GPT_TABLE	(GPT_ENTRIES * GPT_ENTRY_SIZE / SECTOR)	/* sectors */
#define GPT_ESP_TYPE	"C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
#define GPT_ROOT_X86_64	"4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"
#define GPT_LEGACY_BOOT	(UINT64_C(1) << 2)	/* for gptmbr.bin */

static void
put_le64(unsigned char *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

/* The CRC-32 of the GPT headers and table (IEEE 802.3, reflected). */
static uint32_t
crc32_ieee(const unsigned char *p, size_t n)
{
	uint32_t	 c = 0xffffffff;
	int		 k;

	while (n-- > 0) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320 & (0 - (c & 1)));
	}
	return ~c;
}

/* A GUID as GPT stores it: the first three fields little-endian. */
static void
put_guid(unsigned char *p, const char *text)
{
	static const int	 order[16] = { 3, 2, 1, 0, 5, 4, 7, 6,
	    8, 9, 10, 11, 12, 13, 14, 15 };
	unsigned char		 b[16];
	int			 i = 0;

	for (; *text != '\0' && i < 16; text++) {
		if (*text == '-')
			continue;
		sscanf(text, "%2hhx", &b[i++]);
		text++;
	}
	for (i = 0; i < 16; i++)
		p[i] = b[order[i]];
}

static void
random_guid(unsigned char *p)
{
	size_t	 i;

	if (getrandom(p, 16, 0) != 16)
		for (i = 0; i < 16; i++)
			p[i] = (unsigned char)(rand() ^ getpid());
	p[7] = (p[7] & 0x0f) | 0x40;		/* version 4 */
	p[8] = (p[8] & 0x3f) | 0x80;		/* variant */
}

static void
gpt_entry(unsigned char *e, const char *type, uint64_t first, uint64_t last,
    uint64_t attrs, const char *name)
{
	size_t	 i;

	put_guid(e, type);
	random_guid(e + 16);
	put_le64(e + 32, first);
	put_le64(e + 40, last);
	put_le64(e + 48, attrs);
	for (i = 0; name[i] != '\0' && i < 36; i++)
		e[56 + 2 * i] = (unsigned char)name[i];	/* UTF-16LE */
}

static void
gpt_header(unsigned char *h, const unsigned char *guid, uint64_t self,
    uint64_t other, uint64_t table, uint64_t last_lba, uint32_t table_crc)
{
	memset(h, 0, SECTOR);
	memcpy(h, "EFI PART", 8);
	put_le32(h + 8, 0x00010000);
	put_le32(h + 12, 92);
	put_le64(h + 24, self);
	put_le64(h + 32, other);
	put_le64(h + 40, 2 + GPT_TABLE);		/* first usable */
	put_le64(h + 48, last_lba - 1 - GPT_TABLE);	/* last usable */
	memcpy(h + 56, guid, 16);
	put_le64(h + 72, table);
	put_le32(h + 80, GPT_ENTRIES);
	put_le32(h + 84, GPT_ENTRY_SIZE);
	put_le32(h + 88, table_crc);
	put_le32(h + 16, crc32_ieee(h, 92));
}

/*
 * A protective MBR, the primary GPT at sector 1 and its backup in the
 * last sectors: the ESP (when esp_size) from sector 2048, then the root
 * partition, of the architecture's root type, from start to the last MiB (the
 * backup's room), with extlinux given the legacy BIOS bootable attribute
 * gptmbr.bin looks for.
 */
static int
write_gpt(int fd, const struct disk_spec *d, int64_t start, int64_t part,
    struct buf *out)
{
	unsigned char	*table, mbr[SECTOR], hdr[SECTOR], guid[16];
	uint64_t	 last = (uint64_t)d->size / SECTOR - 1, total;
	size_t		 tlen = GPT_TABLE * SECTOR;
	uint32_t	 tcrc;
	int		 n = 0, rc = -1;

	table = xmalloc(tlen);
	memset(table, 0, tlen);
	if (d->esp_size > 0)
		gpt_entry(table + GPT_ENTRY_SIZE * n++, GPT_ESP_TYPE,
		    DISK_PART_START / SECTOR,
		    (DISK_PART_START + d->esp_size) / SECTOR - 1, 0,
		    "EFI System Partition");
	gpt_entry(table + GPT_ENTRY_SIZE * n, d->gpt_root_type != NULL ?
	    d->gpt_root_type : GPT_ROOT_X86_64,
	    (uint64_t)start / SECTOR, (uint64_t)(start + part) / SECTOR - 1,
	    d->conf != NULL ? GPT_LEGACY_BOOT : 0, d->label);
	tcrc = crc32_ieee(table, tlen);
	random_guid(guid);

	memset(mbr, 0, sizeof(mbr));
	total = last > UINT32_MAX ? UINT32_MAX : last;
	mbr[446 + 1] = 0x00;			/* CHS 0/0/2 */
	mbr[446 + 2] = 0x02;
	mbr[446 + 4] = 0xee;			/* GPT protective */
	mbr[446 + 5] = 0xff;
	mbr[446 + 6] = 0xff;
	mbr[446 + 7] = 0xff;
	put_le32(mbr + 446 + 8, 1);
	put_le32(mbr + 446 + 12, (uint32_t)total);
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
	if (pwrite(fd, mbr, SECTOR, 0) != SECTOR)
		goto fail;
	gpt_header(hdr, guid, 1, last, 2, last, tcrc);
	if (pwrite(fd, hdr, SECTOR, SECTOR) != SECTOR ||
	    pwrite(fd, table, tlen, 2 * SECTOR) != (ssize_t)tlen)
		goto fail;
	gpt_header(hdr, guid, last, 1, last - GPT_TABLE, last, tcrc);
	if (pwrite(fd, table, tlen, (off_t)(last - GPT_TABLE) * SECTOR) !=
	    (ssize_t)tlen ||
	    pwrite(fd, hdr, SECTOR, (off_t)last * SECTOR) != SECTOR)
		goto fail;
	rc = 0;
	goto cleanup;
fail:
	out_printf(out, "writing the GPT: %s", strerror(errno));
cleanup:
	free(table);
	return rc;
}

/* ---- the EFI system partition: FAT32 made beside, then copied in ---- */

/* Copies len bytes of file from to image fd at offset, leaving holes for
 * blocks of zeros (the image is sparse). */
static int
copy_at(const char *from, int fd, off_t offset, int64_t len)
{
	char	 b[65536];
	char	 zero[sizeof(b)];
	int	 in;
	ssize_t	 n;
	off_t	 at = 0;

	if ((in = open(from, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	memset(zero, 0, sizeof(zero));
	while (at < len && (n = pread(in, b, sizeof(b), at)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			close(in);
			return -1;
		}
		if (memcmp(b, zero, (size_t)n) != 0 &&
		    pwrite(fd, b, (size_t)n, offset + at) != n) {
			close(in);
			return -1;
		}
		at += n;
	}
	close(in);
	return 0;
}

static int
make_esp(const struct disk_spec *d, struct buf *out)
{
	char		*esp = xasprintf("%s/esp.img", d->tmpdir);
	char		 kib[32], *src = NULL;
	int		 fd = -1, rc = -1;

	snprintf(kib, sizeof(kib), "%lld", (long long)(d->esp_size / 1024));
	unlink(esp);
	{
		const char *argv[] = { "mkfs.fat", "-F", "32", "-n", "ESP",
		    "-C", esp, kib, NULL };

		if (run_cmd(argv, NULL, out) != 0) {
			out_printf(out, "mkfs.fat of the ESP failed");
			goto cleanup;
		}
	}
	if (d->esp_dir != NULL) {
		/* mtools copies the prepared EFI/ folder in, no mount. */
		const char *env[] = { "MTOOLS_SKIP_CHECK=1", NULL };
		const char *argv[] = { "mcopy", "-s", "-Q", "-i", esp, NULL,
		    "::/", NULL };

		src = xasprintf("%s/EFI", d->esp_dir);
		argv[5] = src;
		if (run_cmd(argv, env, out) != 0) {
			out_printf(out, "mcopy to the ESP failed");
			goto cleanup;
		}
	}
	if ((fd = open(d->img, O_WRONLY | O_CLOEXEC)) == -1 ||
	    copy_at(esp, fd, DISK_PART_START, d->esp_size) == -1) {
		out_printf(out, "copying the ESP in: %s", strerror(errno));
		goto cleanup;
	}
	rc = 0;
cleanup:
	if (fd != -1)
		close(fd);
	unlink(esp);
	free(esp);
	free(src);
	return rc;
}

/* ---- the file system ---- */

/*
 * mke2fs -d copies what is under the tree but leaves the root directory
 * as mke2fs made it: give it the tree's mode, owner and times, as a tar
 * of "." would.
 */
static int
fix_root_inode(const struct disk_spec *d, const char *dev, struct buf *out)
{
	struct stat	 sb;
	char		*cmds = NULL, *file = NULL;
	int		 rc = -1;

	if (lstat(d->tree, &sb) == -1) {
		out_printf(out, "%s: %s", d->tree, strerror(errno));
		return -1;
	}
	cmds = xasprintf("sif / mode 0%o\nsif / uid %u\nsif / gid %u\n"
	    "sif / mtime @%lld\nsif / atime @%lld\n",
	    (unsigned)(sb.st_mode & 07777) | 040000, (unsigned)sb.st_uid,
	    (unsigned)sb.st_gid, (long long)sb.st_mtime,
	    (long long)sb.st_atime);
	file = xasprintf("%s/debugfs.cmds", d->tmpdir);
	if (write_file_atomic(file, cmds, strlen(cmds), 0600) == -1) {
		out_printf(out, "%s: %s", file, strerror(errno));
		goto cleanup;
	}
	{
		const char *argv[] = { "debugfs", "-w", "-f", file, dev, NULL };
		struct buf	 o;

		/* debugfs exits 0 whatever its commands did: read it. */
		buf_init(&o);
		if (run_cmd_nosync(argv, &o) != 0 || strstr(o.data ? o.data :
		    "", "sif:") != NULL) {
			out_printf(out, "debugfs (root directory): %s",
			    o.data ? o.data : "failed");
			buf_free(&o);
			goto cleanup;
		}
		buf_free(&o);
	}
	rc = 0;
cleanup:
	if (file != NULL)
		unlink(file);
	free(file);
	free(cmds);
	return rc;
}

/* The entries under tree (files, directories, links...); -1 on error. */
static int64_t
tree_entries(const char *tree)
{
	char		*root = xstrdup(tree);	/* fts_open wants char * */
	char		*paths[] = { root, NULL };
	FTS		*fts;
	FTSENT		*e;
	int64_t		 n = 0;

	if ((fts = fts_open(paths, FTS_PHYSICAL | FTS_NOCHDIR, NULL)) == NULL) {
		free(root);
		return -1;
	}
	while ((e = fts_read(fts)) != NULL)
		if (e->fts_info != FTS_DP)
			n++;
	fts_close(fts);
	free(root);
	return n;
}

/*
 * Bytes per inode for a file system of part bytes holding tree: room for
 * the tree's entries twice over (a power of two), as a ratio so that a
 * file system grown later (growpart, resize2fs) keeps it; between
 * mke2fs's "small" type (4 KiB, as dense as before) and its "huge" one
 * (64 KiB). mke2fs alone takes "small" below 512 MiB, sized for a disk,
 * not for this tree: 4 times the inodes of a Debian tree, and their
 * tables to write.
 */
static int64_t
inode_ratio(const char *tree, int64_t part)
{
	int64_t		 n = tree_entries(tree), r, p2;

	if (n < 0)
		return 4096;
	r = part / (2 * n + 1024);
	for (p2 = 4096; p2 * 2 <= r && p2 < 65536; p2 *= 2)
		;
	return p2;
}

static int
make_fs(const struct disk_spec *d, int64_t start, int64_t part,
    struct buf *out)
{
	char		 sz[32], ext[64], ratio[32];
	char		*dev;
	const char	*argv[24];
	size_t		 ac = 0;
	int		 rc;

	snprintf(sz, sizeof(sz), "%lldk", (long long)(part / 1024));
	snprintf(ext, sizeof(ext), "offset=%lld", (long long)start);
	argv[ac++] = "mke2fs";
	argv[ac++] = "-t";
	argv[ac++] = "ext4";
	argv[ac++] = "-F";
	argv[ac++] = "-q";
	/* 4 KiB blocks whatever the size (mke2fs takes 1 KiB below 512 MiB):
	 * fewer extents per file for the boot loader to walk. */
	argv[ac++] = "-b";
	argv[ac++] = "4096";
	snprintf(ratio, sizeof(ratio), "%lld",
	    (long long)inode_ratio(d->tree, part));
	argv[ac++] = "-i";
	argv[ac++] = ratio;
	argv[ac++] = "-L";
	argv[ac++] = d->label;
	if (d->uuid != NULL) {
		argv[ac++] = "-U";
		argv[ac++] = d->uuid;
	}
	argv[ac++] = "-E";
	argv[ac++] = ext;
	argv[ac++] = "-d";
	argv[ac++] = d->tree;
	argv[ac++] = d->img;
	argv[ac++] = sz;
	argv[ac] = NULL;
	if (run_cmd_nosync(argv, out) != 0) {
		out_printf(out, "mke2fs failed (is the size big enough for "
		    "the tree?)");
		return -1;
	}
	/* e2fsprogs opens a file at an offset with the unix_io suffix. */
	dev = xasprintf("%s?offset=%lld", d->img, (long long)start);
	rc = fix_root_inode(d, dev, out);
	free(dev);
	return rc;
}

/* ---- extlinux, through a loop mount in a private mount namespace ---- */

static int
is_dir(const char *path)
{
	struct stat	 sb;

	return lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int
dir_or_absent(const char *path)
{
	struct stat	 sb;

	if (lstat(path, &sb) == -1)
		return errno == ENOENT;
	return S_ISDIR(sb.st_mode);
}

int
disk_copy_fd(int in, int out)
{
	char	 b[65536];
	ssize_t	 n;

	while ((n = read(in, b, sizeof(b))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (write_all(out, b, (size_t)n) == -1)
			return -1;
	}
	return 0;
}

/* Copies the open file in to out, every byte, zeros included, synced. */
static int
copy_dense(int in, int out)
{
	return disk_copy_fd(in, out) == -1 ? -1 : fsync(out);
}

/* Extents an ext4 inode holds itself; more need an index block. */
#define INODE_EXTENTS	4

/*
 * Whether extlinux can read the open file as it is: no hole before its
 * end and its extents in the inode (FIEMAP, which counts them after any
 * delayed allocation). 1 yes, 0 no.
 */
static int
boot_file_readable(int fd, const struct stat *sb)
{
	struct fiemap	 fm;
	off_t		 hole;

	if (sb->st_size == 0)
		return 1;
	/* (SEEK_HOLE moves the offset: a copy rewinds first.) */
	if ((hole = lseek(fd, 0, SEEK_HOLE)) == -1 || hole < sb->st_size)
		return 0;
	memset(&fm, 0, sizeof(fm));
	fm.fm_length = FIEMAP_MAX_OFFSET;
	fm.fm_flags = FIEMAP_FLAG_SYNC;
	fm.fm_extent_count = 0;			/* count only */
	if (ioctl(fd, FS_IOC_FIEMAP, &fm) == -1)
		return 0;
	return fm.fm_mapped_extents <= INODE_EXTENTS;
}

/*
 * mke2fs -d leaves runs of zero blocks out of the files it copies, and
 * extlinux cannot read a kernel with holes or with more extents than fit
 * in its inode ("Loading /boot/vmlinuz-...: failed: I/O error"). The
 * regular files directly in /boot (kernels, initrds) that have either are
 * written again, densely, in one go, with their owner, mode and times;
 * the others (Debian's kernels and initrds: one extent each) are left as
 * they are. /boot is a real directory of the mount (checked by the
 * caller); nothing is followed. Returns the files rewritten, or -1.
 */
static int
densify_boot(const char *boot, struct buf *out)
{
	DIR		*dp;
	struct dirent	*de;
	int		 bfd, rc = -1, n = 0;

	if ((bfd = open(boot, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || (dp = fdopendir(bfd)) == NULL) {
		out_printf(out, "%s: %s", boot, strerror(errno));
		if (bfd != -1)
			close(bfd);
		return -1;
	}
	while ((de = readdir(dp)) != NULL) {
		struct stat	 sb;
		struct timespec	 ts[2];
		char		 tmp[NAME_MAX + 16];
		int		 in, o, ok;

		if (fstatat(bfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(sb.st_mode) || de->d_name[0] == '.')
			continue;
		snprintf(tmp, sizeof(tmp), ".%.*s.dense", NAME_MAX,
		    de->d_name);
		in = openat(bfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (in != -1 && boot_file_readable(in, &sb)) {
			close(in);
			continue;
		}
		o = openat(bfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		ts[0] = sb.st_atim;
		ts[1] = sb.st_mtim;
		ok = in != -1 && o != -1 && lseek(in, 0, SEEK_SET) == 0 &&
		    copy_dense(in, o) == 0 &&
		    fchown(o, sb.st_uid, sb.st_gid) == 0 &&
		    fchmod(o, sb.st_mode & 07777) == 0 &&
		    futimens(o, ts) == 0;
		if (in != -1)
			close(in);
		if (o != -1 && close(o) == -1)
			ok = 0;
		if (!ok || renameat(bfd, tmp, bfd, de->d_name) == -1) {
			out_printf(out, "rewriting /boot/%s: %s", de->d_name,
			    strerror(errno));
			unlinkat(bfd, tmp, 0);
			goto done;
		}
		out_printf(out, "/boot/%s rewritten densely (holes or more "
		    "than %d extents)", de->d_name, INODE_EXTENTS);
		n++;
	}
	rc = n;
done:
	closedir(dp);
	return rc;
}

/* Runs in the child (disk_extlinux_main); returns its exit code. */
static int
extlinux_child(const struct disk_spec *d, const char *mnt, int64_t start,
    int64_t part, struct buf *out)
{
	char		 opts[128], *boot = NULL, *dir = NULL;
	int		 rc = CHILD_FAILED, rewritten;

	if (unshare(CLONE_NEWNS) == -1 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1) {
		out_printf(out, "private mount namespace: %s",
		    strerror(errno));
		return CHILD_NO_LOOP;
	}
	/* mount's loop devices are autoclear: they go with the mount. */
	snprintf(opts, sizeof(opts), "loop,offset=%lld,sizelimit=%lld",
	    (long long)start, (long long)part);
	{
		const char *argv[] = { "mount", "-t", "ext4", "-o", opts,
		    d->img, mnt, NULL };

		if (run_cmd(argv, NULL, out) != 0) {
			out_printf(out, "loop mount of the partition failed");
			return CHILD_NO_LOOP;
		}
	}
	/* extlinux works on host paths: /boot and /boot/extlinux of the
	 * image must be real directories, not symlinks that could lead out
	 * of the mount. The file itself is written from a chroot. */
	boot = xasprintf("%s/boot", mnt);
	dir = xasprintf("%s/boot/extlinux", mnt);
	if (!dir_or_absent(boot) || !dir_or_absent(dir)) {
		out_printf(out, "/boot/extlinux of the image is not a "
		    "directory (a symlink?): extlinux cannot go there");
		goto umount;
	}
	if (tree_write(mnt, "/boot/extlinux/extlinux.conf", d->conf,
	    strlen(d->conf), 0644, 0, 0, out) == -1)
		goto umount;
	if (!is_dir(boot) || !is_dir(dir)) {
		out_printf(out, "/boot/extlinux of the image is not a "
		    "directory");
		goto umount;
	}
	if ((rewritten = densify_boot(boot, out)) == -1)
		goto umount;
	{
		const char *argv[] = { "extlinux", "--install", dir, NULL };

		if (run_cmd(argv, NULL, out) != 0) {
			out_printf(out, "extlinux --install failed");
			goto umount;
		}
	}
	/*
	 * The blocks mke2fs -d gave /boot's files before densify_boot still
	 * hold their data: discarded through the loop device they become
	 * holes in the raw file, not a kernel and an initrd more in every
	 * compressed image (12 MB). Only a cost when it cannot; nothing to
	 * do when no file was rewritten.
	 */
	if (rewritten > 0) {
		const char *argv[] = { "fstrim", mnt, NULL };
		struct buf ignored;

		buf_init(&ignored);
		if (run_cmd(argv, NULL, &ignored) != 0)
			out_printf(out, "fstrim %s failed: freed blocks keep "
			    "their data", mnt);
		buf_free(&ignored);
	}
	rc = 0;
umount:
	{
		const char *argv[] = { "umount", mnt, NULL };
		const char *lazy[] = { "umount", "-l", mnt, NULL };

		if (run_cmd(argv, NULL, out) != 0) {
			out_printf(out, "umount %s failed", mnt);
			run_cmd(lazy, NULL, out);
			rc = CHILD_FAILED;
		}
	}
	free(boot);
	free(dir);
	return rc;
}

/*
 * The loop mount lives in a private mount namespace, so that it goes away
 * with the process whatever happens: that process is ib-build run again
 * ("extlinux" below) through lib/exec rather than a fork of this one, so it
 * starts from a clean image and is run and stopped like every other child.
 */
static int
install_extlinux(const struct disk_spec *d, int64_t start, int64_t part,
    struct buf *out)
{
	char		*mnt = xasprintf("%s/mnt", d->tmpdir);
	char		 so[32], po[32];
	const char	*args[6];
	int		 rc;

	if (mkdir(mnt, 0700) == -1 && errno != EEXIST) {
		out_printf(out, "mkdir %s: %s", mnt, strerror(errno));
		free(mnt);
		return -1;
	}
	snprintf(so, sizeof(so), "%lld", (long long)start);
	snprintf(po, sizeof(po), "%lld", (long long)part);
	args[0] = "extlinux";
	args[1] = d->img;
	args[2] = mnt;
	args[3] = so;
	args[4] = po;
	args[5] = NULL;
	rc = run_self(args, d->conf, strlen(d->conf), out);
	rmdir(mnt);
	free(mnt);
	if (rc == 0)
		return 0;
	return rc == CHILD_NO_LOOP ? DISK_NO_LOOP : -1;
}

int
disk_extlinux_main(int argc, char *argv[])
{
	struct disk_spec	 d;
	struct buf		 conf, out;
	long long		 start, part;
	char			 chunk[4096], *end;
	ssize_t			 n;
	int			 code;

	if (argc != 4 || argv[0][0] == '\0' || argv[1][0] == '\0' ||
	    (start = strtoll(argv[2], &end, 10)) < 0 || *end != '\0' ||
	    (part = strtoll(argv[3], &end, 10)) <= 0 || *end != '\0') {
		fprintf(stderr, "extlinux: bad arguments\n");
		return CHILD_FAILED;
	}
	buf_init(&conf);
	while ((n = read(0, chunk, sizeof(chunk))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || conf.len + (size_t)n > 1024 * 1024) {
			fprintf(stderr, "extlinux: reading the conf failed\n");
			return CHILD_FAILED;
		}
		buf_add(&conf, chunk, (size_t)n);
	}
	/* The syncs of extlinux and of densify_boot would wait for the
	 * whole image to reach the disk (sync(2) for every file system of
	 * the machine); the mapping extlinux takes of its loader asks the
	 * file system itself (FIEMAP with its sync flag, or FIBMAP, which
	 * allocate first), and the umount writes everything out to the
	 * image. */
	if (run_nosync() == -1)
		fprintf(stderr, "extlinux: seccomp: %s (syncs kept)\n",
		    strerror(errno));
	memset(&d, 0, sizeof(d));
	d.img = argv[0];
	d.conf = conf.data != NULL ? conf.data : "";
	buf_init(&out);
	code = extlinux_child(&d, argv[1], start, part, &out);
	(void)write_all(1, out.data, out.len);
	buf_free(&out);
	buf_free(&conf);
	return code;
}

int
disk_direct(const struct disk_spec *d, struct buf *out)
{
	/* GPT: the ESP first, the root partition up to the last MiB. */
	int64_t	 start = DISK_PART_START + (d->gpt ? d->esp_size : 0);
	int64_t	 part = d->size - start - (d->gpt ? DISK_PART_START : 0);
	int	 fd, rc;

	fd = open(d->img, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1 || ftruncate(fd, d->size) == -1) {
		out_printf(out, "%s: %s", d->img, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if ((d->gpt ? write_gpt(fd, d, start, part, out) :
	    write_mbr(fd, d->size, out)) == -1) {
		close(fd);
		return -1;
	}
	close(fd);
	if (d->gpt && d->esp_size > 0 && make_esp(d, out) == -1)
		return -1;
	if (make_fs(d, start, part, out) == -1)
		return -1;
	if (d->conf == NULL)
		return 0;
	if ((rc = install_extlinux(d, start, part, out)) != 0)
		return rc;
	/* syslinux's boot code (mbr.bin or gptmbr.bin), before the disk
	 * signature. */
	fd = open(d->img, O_WRONLY | O_CLOEXEC);
	if (fd == -1 || pwrite(fd, d->mbr, 440, 0) != 440) {
		out_printf(out, "boot record: %s", strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (close(fd) == -1) {
		out_printf(out, "%s: %s", d->img, strerror(errno));
		return -1;
	}
	return 0;
}
