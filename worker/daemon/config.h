/*
 * The worker's configuration: every key of the reference worker's
 * osbuild-worker.toml with the same meaning and default, plus our own
 * settings in [worker]. Loaded from TOML by config_load().
 */
#ifndef IB_CONFIG_H
#define IB_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

/* The worker's version: -V, the start-up line, ib_worker_build_info. */
#define IB_VERSION	"0.1.0"
#define CONFIG_DEFAULT_PATH	"/etc/osbuild-worker/osbuild-worker.toml"
#define CONFIG_DEFAULT_BASE	"/api/worker/v1"
#define CONFIG_DEFAULT_DNFJSON	"/usr/libexec/osbuild-depsolve-dnf"
#define CONFIG_DEFAULT_OSBUILD	"osbuild"
#define CONFIG_DEFAULT_EXECUTOR_IMAGE "/var/lib/ib-worker/executor.qcow2"
/*
 * The native builder and depsolver (Debian images): used when the default
 * above is absent and these exist. IB_FALLBACK_BINDIR replaces /usr/bin
 * (tests).
 */
#define CONFIG_FALLBACK_BINDIR	"/usr/bin"
#define CONFIG_FALLBACK_OSBUILD	"ib-build"
#define CONFIG_FALLBACK_DNFJSON	"ib-depsolve"
#define CONFIG_CERT_DIR		"/etc/osbuild-composer"
/* S3's own bounds on a multipart upload's parts. */
#define CONFIG_S3_MIN_PART	(INT64_C(5) << 20)
#define CONFIG_S3_MAX_PART	(INT64_C(5) << 30)
#define CONFIG_S3_MAX_PARALLEL	64

enum partial_mode { PARTIAL_AUTO, PARTIAL_ON, PARTIAL_OFF };

/* Where a key was set: "table.key" (top level: "key"). */
struct config_pos {
	char	*key;
	int	 line;
	int	 col;
};

struct config_koji {
	char	*host;			/* the table's key */
	int64_t	 relax_timeout_factor;
	char	*principal;
	char	*keytab;
	int	 kerberos;		/* its kerberos table is there */
};

/* Strings are NULL when unset unless a default is documented. */
struct config {
	/* top level */
	char	*base_path;		/* default CONFIG_DEFAULT_BASE */
	char	*dnf_json;		/* "dnf-json", default CONFIG_DEFAULT_DNFJSON */
	int	 clean_store;		/* default 0 */
	char	*deployment_channel;	/* default "local" */

	char	*composer_proxy;	/* [composer] proxy */

	struct config_koji *koji;	/* [koji."HOST"] tables */
	int	 nkoji;

	struct {
		char	*credentials;
		char	*bucket;
	} gcp;
	struct {
		int	 present;
		char	*credentials;
		int64_t	 upload_threads;	/* default 16; < 0 is an error */
	} azure;
	struct {
		char	*credentials;
		char	*s3_credentials;
		char	*bucket;
		/* ours: private endpoints and the upload's tuning */
		char	*endpoint;		/* EC2, NULL: the region's */
		char	*s3_endpoint;		/* S3, NULL: the region's */
		int64_t	 s3_part_size;		/* bytes, default 64 MiB */
		int64_t	 s3_parallel;		/* parts in flight, default 4 */
	} aws;
	struct {
		char	*credentials;
	} oci;
	struct {
		char	*credentials;	/* JSON {"username","password"} */
		char	*server_address;
	} pulp;
	struct {
		char	*credentials;
		char	*endpoint;
		char	*region;
		char	*bucket;
		char	*ca_bundle;
		int	 skip_ssl_verification;
	} generic_s3;
	struct {
		int	 present;
		char	*oauth_url;
		char	*client_id;
		char	*client_secret;	/* path to a file holding the secret */
		char	*offline_token;	/* path to a file holding the token */
	} authentication;
	struct {
		char	*auth_file_path;
		char	*domain;
		char	*path_prefix;
		char	*cert_path;
		int	 tls_verify;		/* default 1 */
	} containers;
	struct {
		char	*type;			/* default "host": host, aws.ec2, qemu.kvm */
		char	*iam_profile;
		char	*key_name;
		/* qemu.kvm: the base image (an overlay per build), the VM's
		 * size (MiB of memory, GiB of disk), "auto"/"kvm"/"tcg",
		 * "nat"/"none", the libvirt URI, and the seconds the agent
		 * has to answer after boot and the build has (0: none). */
		char	*image;
		int64_t	 vcpus;		/* default 2 */
		int64_t	 memory;	/* default 2048 */
		int64_t	 disk;		/* default 20 */
		char	*accel;		/* default "auto": ib-vmcheck says */
		char	*network;	/* default "nat" */
		char	*libvirt_uri;	/* default qemu:///system */
		int64_t	 boot_timeout;	/* default 600 */
		int64_t	 build_timeout;	/* default 0 */
		/* aws.ec2: the executor AMI, the instance type, the subnet
		 * and the security group (admitting only the workers on
		 * agent_port), the region; [aws] credentials and endpoint. */
		char	*ami;
		char	*instance_type;	/* default m6a.large */
		char	*subnet_id;
		char	*security_group;
		char	*region;
		int64_t	 agent_port;	/* default 8701 */
	} osbuild_executor;
	struct {
		char	*baseurl;
		char	*ca;
		char	*mtls_client_key;
		char	*mtls_client_cert;
		char	*proxy;
	} repository_mtls;
	struct {
		int	 cleanup_images;
	} bootc_info_resolve;

	/* [worker]: ours */
	struct {
		int64_t	 poll_interval;		/* s between empty polls, default 0 (long poll) */
		int64_t	 request_timeout;	/* s a long poll may hang, default 600 */
		int64_t	 heartbeat_interval;	/* s between job heartbeats, default 15 */
		int64_t	 status_interval;	/* s between worker status, default 60 */
		int64_t	 drain_timeout;		/* s to finish a job on stop, 0 = forever, default 0 */
		int64_t	 cancel_grace;		/* s between SIGTERM and SIGKILL, default 10 */
		int64_t	 connect_timeout;	/* s, default 30 */
		int64_t	 transfer_timeout;	/* s for one non-streaming call, default 300 */
		int64_t	 low_speed_time;	/* s a composer call may stall, default 60 */
		int64_t	 max_body;		/* bytes of a JSON answer, default 64 MiB */
		int64_t	 backoff_max;		/* s cap of the retry backoff, default 60 */
		enum log_format log_format;	/* "text" (default) or "json" */
		int64_t	 cache_max_bytes;	/* default 20 GiB */
		int64_t	 cache_min_free;	/* bytes kept free on the cache's fs, default 2 GiB */
		char	*cache_directory;	/* default $CACHE_DIRECTORY, then /var/cache/osbuild-worker */
		char	**job_types;		/* NULL = every kind we can run */
		int	 njob_types;
		enum partial_mode partial;	/* "auto" (default), true, false */
		char	*osbuild;		/* builder executable, default "osbuild" */
		char	*arch;			/* default: uname machine */
		int64_t	 file_resolve_max;	/* bytes per file-resolve URL, default 64 MiB */
		int	 scale_in_protection;	/* default 0 */
		/* Auto Scaling (asg.c); NULL: from the instance, or off */
		char	*autoscaling_group;	/* default: the instance's tag */
		char	*lifecycle_hook;	/* termination hook to complete */
		char	*autoscaling_endpoint;	/* default: the region's */
		int64_t	 lifecycle_poll_interval;	/* s, default 5 */
		int64_t	 lifecycle_heartbeat_interval;	/* s, default 300 */
		/* mutual TLS files; NULL: the reference's CONFIG_CERT_DIR ones */
		char	*tls_ca;		/* also the CA for OAuth mode when set */
		char	*tls_cert;
		char	*tls_key;
		char	*metrics_listen;	/* HOST:PORT of /metrics, NULL: off */
		/* machine-fault failures in a row before leaving, default 3 */
		int64_t	 machine_fault_limit;
	} worker;

	/* The loader's record, for messages about a key (config_where). */
	char			*path;		/* NULL: the defaults alone */
	struct config_pos	*pos;
	int			 npos;
	char			*fallback_note;	/* a default replaced, or NULL */
};

/*
 * Loads path into a newly allocated config (caller frees with config_free).
 * A missing file gives the defaults when missing_ok is set. On error returns
 * NULL and writes "FILE:LINE:COL: reason" into err.
 * Unknown keys are logged as warnings, not fatal.
 */
struct config	*config_load(const char *path, int missing_ok, char *err,
		    size_t errlen);
/* The defaults alone; caller frees. */
struct config	*config_defaults(void);
void		 config_free(struct config *);
/*
 * [containers] cert_path/ca.crt, the registries' CA, when it is set and
 * readable: newly allocated (caller frees), else NULL.
 */
char		*config_containers_ca(const struct config *);
/* Whether job_types lets the worker take kind name (no list: every kind). */
int		 config_wants_kind(const struct config *, const char *name);
/*
 * "FILE:LINE:COL: key" when key ("worker.osbuild", "dnf-json") was set in
 * the file, else "FILE: key (default)"; written into buf, which is
 * returned.
 */
const char	*config_where(const struct config *, const char *key,
		    char *buf, size_t);

#endif
