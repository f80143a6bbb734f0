/*
 * ib-build: a native, offline image builder that honours osbuild's
 * command-line contract and result shapes for the documented subset of
 * stages in README.md. Shared declarations of its modules.
 */
#ifndef IB_BUILD_H
#define IB_BUILD_H

#include <json-c/json.h>

#include <stdint.h>

#include "util.h"

#define IB_BUILD_VERSION	"1"
#define IB_MANIFEST_MAX		(256 << 20)
#define IB_OUTPUT_MAX		(1 << 20)	/* stage output kept, tail */
#define IB_ID_LEN		64
/* org.osbuild.users bounds: ids below (uid_t)-1, expiry by 9999-12-31. */
#define USER_ID_MAX		4294967294.0
#define USER_EXPIRE_MAX		2932896		/* days since 1970-01-01 */

/* ---- manifest.c: loading and validation ---- */

struct stage_kind;

struct stage {
	const struct stage_kind	*kind;
	const char		*type;		/* borrowed from the manifest */
	json_object		*options;	/* owned reference */
	json_object		*inputs;	/* borrowed, may be NULL */
	char			 id[IB_ID_LEN + 1];
	size_t			 index;
};

struct pipeline {
	const char		*name;		/* borrowed */
	int			 build;		/* pipeline index or -1 */
	json_object		*source_epoch;	/* borrowed, may be NULL */
	struct stage		*stages;
	size_t			 nstages;
	char			 id[IB_ID_LEN + 1];	/* "" without stages */
	int			 needed;
	char			*tree;		/* after it was built */
	json_object		*log;		/* stage results, or NULL */
	json_object		*meta;		/* stage id -> metadata */
};

struct manifest {
	json_object		*root;
	struct pipeline		*p;
	size_t			 np;
	json_object		*curl;		/* sha256:... -> url|{url} */
};

/*
 * Parses and validates text as a version "2" manifest. On validation
 * failure returns NULL and appends {message,path} objects to errors.
 */
struct manifest	*manifest_load(const char *text, size_t len,
		    json_object *errors);
void		 manifest_free(struct manifest *);

/* ---- ids.c: stage and pipeline ids, as osbuild computes them ---- */

/* Sets the id of every stage and pipeline of a valid manifest. */
void		 manifest_ids(struct manifest *);

/* ---- stages.c: the table of stages and their option checks ---- */

struct stage_run {
	struct manifest		*m;
	struct pipeline		*p;
	struct stage		*s;
	const char		*tree;		/* the tree being built */
	const char		*store;
	const char		*tmpdir;	/* scratch, removed after */
	struct buf		*out;		/* the stage's output */
	json_object		*meta;		/* set by the stage, owned */
};

struct stage_kind {
	const char	*type;
	/* Checks options and inputs (desc = the whole stage object). */
	void		(*check)(json_object *options, json_object *inputs,
			    json_object *path, json_object *errors);
	int		(*run)(struct stage_run *);
	int		 costly;	/* checkpointed even when not last */
	int		 runs_tree;	/* runs programs that may change the
					 * tree's /usr (a package install) */
};

const struct stage_kind	*stage_kind_find(const char *type);
/* Names of the supported stages, comma separated (static). */
const char		*stage_kind_list(void);

/* ---- inputs.c: what references point at ---- */

/* The index of the pipeline named name, or -1. */
int		 manifest_find(const struct manifest *, const char *name);
/* The pipeline index a "name:X" reference names, or -1. */
int		 manifest_ref(const struct manifest *, const char *ref);
/* The url of a curl source item, or NULL. Borrowed. */
const char	*manifest_source_url(const struct manifest *, const char *sum);

/*
 * The references of an input as osbuild normalises them: an object of
 * reference -> options; with resolve, pipeline names become the ids of
 * those pipelines ("null" before they have one). New reference.
 */
json_object	*input_refs(const struct manifest *, json_object *input,
		    int resolve);
/* Input helpers for a stage being run; paths are newly allocated. */
char	*input_tree(struct stage_run *, const char *name, char *why,
	    size_t whylen);
char	*input_file(struct stage_run *, const char *name, char *why,
	    size_t whylen);
/* The source checksums an input references (borrowed strings, n set). */
const char **input_sources(json_object *input, size_t *n);

/* ---- stage_tree.c, stage_image.c: the stages ---- */

int	stage_debian_install(struct stage_run *);
int	stage_hostname(struct stage_run *);
int	stage_users(struct stage_run *);
int	stage_files(struct stage_run *);
int	stage_systemd(struct stage_run *);
int	stage_fstab(struct stage_run *);
int	stage_kernel_cmdline(struct stage_run *);
int	stage_cloud_init(struct stage_run *);
int	stage_disk(struct stage_run *);
int	stage_qemu(struct stage_run *);
int	stage_xz(struct stage_run *);
int	stage_zstd(struct stage_run *);

/* ---- disk_direct.c: io.ib.disk without the libguestfs appliance ---- */

#define DISK_PART_START	(INT64_C(1) << 20)	/* sector 2048 */
#define DISK_NO_LOOP	(-2)	/* loop devices do not work here */

struct disk_spec {
	const char		*tree;		/* copied in */
	const char		*img;		/* the raw file made */
	int64_t			 size;		/* bytes, whole MiB */
	const char		*label;
	const char		*uuid;		/* NULL: random */
	const char		*conf;		/* extlinux.conf; NULL: none */
	const unsigned char	*mbr;		/* 440 bytes, with conf */
	const char		*tmpdir;	/* scratch */
	int			 gpt;		/* GPT, not MBR */
	int64_t			 esp_size;	/* with gpt: ESP bytes, 0 none */
	const char		*esp_dir;	/* its EFI/ folder, or NULL */
	const char		*gpt_root_type;	/* with gpt; NULL: x86-64's */
};

/* Whether this host can make a disk without libguestfs (root and
 * /dev/loop-control when a loop device is needed). */
int	disk_direct_usable(int need_loop);
/* The bytes a tar of the tree takes (headers, data in 512-byte blocks,
 * hard links once, sparse files by their blocks); -1 on error. */
int64_t	disk_tree_bytes(const char *tree);
/* Copies the open file in to out, every byte (zeros written, not holes);
 * 0 or -1 (errno). */
int	disk_copy_fd(int in, int out);
/*
 * Makes the disk: MBR, or GPT with an EFI system partition (FAT32 holding
 * esp_dir/EFI) before the root, ext4 filled by mke2fs -d, extlinux when
 * conf is set. Returns 0, -1 (out says why), or DISK_NO_LOOP when the
 * loop mount for extlinux could not be made. Leaves nothing mounted or attached;
 * the image may be left half made (the caller removes it).
 */
int	disk_direct(const struct disk_spec *, struct buf *out);

/* ---- gen.c: manifest-gen, request on stdin, manifest on stdout ---- */

int	manifest_generate(void);

/* ---- run.c: child processes and files inside a tree ---- */

/*
 * Runs argv (argv[0] looked up in PATH) with stdin from /dev/null, its
 * stdout and stderr appended to out (the tail, bounded). env_add: extra
 * NAME=VALUE strings or NULL. Returns the exit status, -1 when it did
 * not run or was killed (out says why).
 */
int	run_cmd(const char *const *argv, const char *const *env_add,
	    struct buf *out);
/* Like run_cmd, stdout to the file path (created 0644). */
int	run_cmd_to(const char *const *argv, const char *path,
	    struct buf *out);
/*
 * Writes data to path inside the tree as root would see it in a chroot
 * (absolute symlinks of the tree stay inside it); parents made 0755.
 * uid/gid -1: unchanged.
 */
int	tree_write(const char *tree, const char *path, const void *data,
	    size_t len, int mode, int uid, int gid, struct buf *out);
int	tree_mkdir(const char *tree, const char *path, int mode, int uid,
	    int gid, struct buf *out);
/*
 * ib-build's hidden first argument: the binary run again as a child for
 * work that must not happen in the builder itself (a chroot, a private
 * mount namespace). Not for users: the arguments after it are internal.
 */
#define IB_CHILD_ARG	"--ib-child"
int	run_self(const char *const *args, const void *in, size_t inlen,
	    struct buf *out);
/*
 * Makes fsync, fdatasync, sync, syncfs and sync_file_range return 0 without
 * doing anything in this process and what it executes (seccomp). For tools
 * that write a scratch image the builder reads back through the page cache
 * (mke2fs, extlinux): their syncs wait for the disk and buy nothing, since
 * nothing the store holds is synced either. 0, or -1 (errno).
 */
int	run_nosync(void);
/* run_cmd with run_nosync's filter on the command (through run_self). */
int	run_cmd_nosync(const char *const *argv, struct buf *out);
/* main() for argv after IB_CHILD_ARG; returns the exit code. */
int	run_child_main(int argc, char *argv[]);
/* disk_direct.c's child: "extlinux IMG MNT START PART", the conf on stdin. */
int	disk_extlinux_main(int argc, char *argv[]);
/* Reads a small file of the tree (chroot view); caller frees. */
char	*tree_read(const char *tree, const char *path, size_t max);
/* Appends a line to out like printf. */
void	 out_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/* ---- store.c: the content-addressed store ---- */

struct store {
	char	*dir;
	int	 lockfd;
};

/* Opens (makes) and locks the store at dir; st->dir is its absolute path. */
int	 store_open(struct store *, const char *dir);
void	 store_close(struct store *);
/* STORE/objects/ID/tree when present (touched), else NULL. */
char	*store_object_tree(struct store *, const char *id);
json_object *store_object_meta(struct store *, const char *id);
/*
 * Commits tree under id: moves it (move=1) or copies it. meta: stage id
 * -> metadata (copied). Returns the new tree path, or NULL.
 */
char	*store_commit(struct store *, const char *id, const char *tree,
	    json_object *meta, int move, struct buf *out);
/* DIR/sources/org.osbuild.curl/SUM, DIR the store's directory (sum
 * checked by the caller). */
char	*store_source_path(const char *dir, const char *sum);
/* Evicts least recently used objects and sources above max bytes. */
void	 store_evict(struct store *, int64_t max);
/* A fresh directory under STORE/tmp; caller removes it. */
char	*store_tmpdir(struct store *, const char *what);
/* Copies a tree (cp -a, sparse, reflinks when possible). */
int	 copy_tree(const char *from, const char *to, struct buf *out);
/*
 * Restores a stored tree into to for the stages after it: its /usr (the
 * bulk of a system, which no customization stage writes) as hard links to
 * the store's files, the rest copied as copy_tree does; all copied when
 * linking fails or link_usr is 0. tree_write breaks a /usr link before it
 * writes, so the stored object never changes; a stage that runs programs
 * in the tree (a package install: dpkg's statoverrides, maintainer
 * scripts) could write or chmod through a link, so the caller asks for
 * links only when none follows.
 */
int	 store_restore(const char *from, const char *to, int link_usr,
	    struct buf *out);

/* ---- sources.c: org.osbuild.curl ---- */

/*
 * Downloads the items (checksums) not yet in the store, each checked
 * against its sha256. Adds the byte count to *bytes. why on failure.
 */
int	sources_fetch(struct store *, struct manifest *, const char **sums,
	    size_t n, int64_t *bytes, char *why, size_t whylen);
int	sha256_file(const char *path, char hex[65]);

/* ---- monitor.c: RFC 7464 records on --monitor-fd ---- */

void	monitor_open(int fd);
void	monitor_close(void);
/* Pipeline / stage context of the following records (NULLs: none). */
void	monitor_context(const struct pipeline *, const struct stage *);
void	monitor_progress(int done, int total);
void	monitor_subprogress(const char *name, int done, int total);
void	monitor_log(const char *, ...) __attribute__((format(printf, 1, 2)));
/* "Finished module", with the result and duration. */
void	monitor_result(const struct stage *, int success, const char *output,
	    double duration);

#endif
