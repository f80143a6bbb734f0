/*
 * ib-vmcheck: does this machine have what an image build needs (a working
 * libguestfs appliance, KVM or at least TCG, loop devices, mounts, space,
 * the builder)? Each check fills one struct check; report.c prints them.
 */
#ifndef IB_VMCHECK_H
#define IB_VMCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define VMCHECK_VERSION	"0.1"

enum check_status { ST_PASS, ST_WARN, ST_FAIL, ST_SKIP };

#define CHECK_MAX_FIGURES	6
#define CHECK_DETAIL_MAX	512

struct figure {
	const char	*name;		/* static string */
	int64_t		 value;
};

struct check {
	const char	*name;		/* static string, the --skip name */
	enum check_status status;
	char		 detail[CHECK_DETAIL_MAX];
	struct figure	 figures[CHECK_MAX_FIGURES];
	size_t		 nfigures;
	int		 ran;
};

/* Everything the checks read: the options, then what earlier checks found. */
struct vmcheck {
	const char	*cache_dir;
	uint64_t	 min_free;
	const char	*osbuild;
	const char	*libvirt_uri;	/* NULL: not asked */
	int		 timeout_s;	/* bound for one appliance launch */
	int		 quick;
	int		 kvm_ok;	/* set by check_kvm */
	int		 kvm_checked;
	char		 kvm_reason[256];	/* why KVM is unusable */
	const char	*accel;		/* "kvm" or "tcg", set by check_appliance */
	int64_t		 launch_ms;	/* -1 when the appliance did not launch */
};

/* Sets the status and a printf-formatted detail (truncated to fit). */
void	 check_set(struct check *, enum check_status, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
void	 check_figure(struct check *, const char *name, int64_t value);
const char *status_name(enum check_status);

/* The checks, in the order they run (host.c, tools.c, kvm.c, appliance.c). */
void	 check_container(struct vmcheck *, struct check *);
void	 check_mount(struct vmcheck *, struct check *);
void	 check_loop(struct vmcheck *, struct check *);
void	 check_cache(struct vmcheck *, struct check *);
void	 check_builder(struct vmcheck *, struct check *);
void	 check_qemu_img(struct vmcheck *, struct check *);
void	 check_libvirt(struct vmcheck *, struct check *);
void	 check_kvm(struct vmcheck *, struct check *);
void	 check_appliance(struct vmcheck *, struct check *);

/*
 * proc.c: bounded child processes. proc_run_child runs ib-vmcheck again
 * with VMCHECK_CHILD_ARG and args (a probe: "mount DIR", "kvm",
 * "appliance DIR tcg|kvm"), which writes its result (at most 4 KiB kept)
 * to CHILD_RESULT_FD; the child is alone in its process group, and the
 * whole group is killed after timeout_ms. Returns 0 when the child exited
 * by itself (*statusp: its wait status), 1 on timeout, -1 on error
 * (errbuf says why). out receives what the child wrote there.
 */
#define VMCHECK_CHILD_ARG	"--ib-child"
#define CHILD_RESULT_FD		3
int	 proc_run_child(const char *const args[], int timeout_ms,
	    struct buf *out, int *statusp, char *errbuf, size_t errlen);
/* The probes' entry points, for argv after VMCHECK_CHILD_ARG NAME;
 * each returns the child's exit code. */
int	 host_mount_child(int argc, char *argv[]);
int	 kvm_probe_child(int argc, char *argv[]);
int	 appliance_probe_child(int argc, char *argv[]);
/* Runs argv (stdout and stderr captured into out, at most 64 KiB). */
int	 proc_run_cmd(const char *const argv[], int timeout_ms,
	    struct buf *out, int *statusp, char *errbuf, size_t errlen);
/* Finds an executable by name on PATH (or checks a path containing '/').
 * Returns a new string (caller frees) or NULL. */
char	*proc_which(const char *);
/* "exit 3", "signal 9 (Killed)": for messages; a static buffer. */
const char *proc_status_str(int);
/* snprintf where truncation is intended (no compiler warning for it). */
void	 strfmt(char *dst, size_t len, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
/* First non-empty line of s, copied into dst (truncated). */
void	 first_line(const char *s, char *dst, size_t len);
/* A temporary directory under $TMPDIR or /tmp; caller frees and removes. */
char	*make_tmpdir(char *errbuf, size_t errlen);

/* report.c */
int	 report_status(const struct check *, size_t n);	/* 0, 1 or 2 */
char	*report_summary(const struct vmcheck *, const struct check *, size_t);
char	*report_json(const struct vmcheck *, const struct check *, size_t);
void	 report_text(const struct vmcheck *, const struct check *, size_t);

#endif
