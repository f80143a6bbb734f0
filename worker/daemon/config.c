/*
 * The configuration file: the reference worker's keys with their meanings
 * and defaults, and our [worker] table. Rows of key descriptions drive the
 * mapping from the TOML tree, so a new key is one row; values are checked
 * here so that the rest of the worker can trust them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "toml.h"
#include "util.h"

#define CONFIG_DEFAULT_CACHE	"/var/cache/osbuild-worker"
#define MAX_JOB_TYPES		64
#define MAX_NAME		64

struct loader {
	const char	*path;
	char		*err;
	size_t		 errlen;
	struct config	*conf;		/* records where keys were set */
};

enum ktype { K_STR, K_BOOL, K_INT, K_FN };

struct keydef;
typedef int keyfn(struct loader *, const char *, const struct toml_value *,
    void *, const struct keydef *);

/* One key: where it goes (an offset in the struct the table fills). */
struct keydef {
	const char	*name;
	enum ktype	 type;
	size_t		 off;
	int64_t		 min;		/* K_INT bounds */
	int64_t		 max;
	keyfn		*fn;		/* K_FN: checks and stores */
};

struct tabledef {
	const char		*name;
	const struct keydef	*keys;
	size_t			 nkeys;
	long			 present;	/* offset of an int set to 1, or -1 */
};

#define OFF(f)	offsetof(struct config, f)
#define STR(n, f)	{ n, K_STR, OFF(f), 0, 0, NULL }
#define BOOL(n, f)	{ n, K_BOOL, OFF(f), 0, 0, NULL }
#define INT(n, f, lo, hi) { n, K_INT, OFF(f), lo, hi, NULL }
#define FN(n, f, fn)	{ n, K_FN, OFF(f), 0, 0, fn }

static keyfn	 set_log_format, set_partial, set_job_types, set_executor,
		 set_abspath, set_word, set_nonempty, set_accel, set_network;

static const struct keydef top_keys[] = {
	STR("base_path", base_path),
	STR("dnf-json", dnf_json),
	BOOL("clean_store", clean_store),
	STR("deployment_channel", deployment_channel),
};
static const struct keydef composer_keys[] = {
	STR("proxy", composer_proxy),
};
static const struct keydef gcp_keys[] = {
	STR("credentials", gcp.credentials),
	STR("bucket", gcp.bucket),
};
static const struct keydef azure_keys[] = {
	STR("credentials", azure.credentials),
	INT("upload_threads", azure.upload_threads, 0, INT64_MAX),
};
static const struct keydef aws_keys[] = {
	STR("credentials", aws.credentials),
	STR("s3_credentials", aws.s3_credentials),
	STR("bucket", aws.bucket),
	FN("endpoint", aws.endpoint, set_nonempty),
	FN("s3_endpoint", aws.s3_endpoint, set_nonempty),
	INT("s3_part_size", aws.s3_part_size, CONFIG_S3_MIN_PART,
	    CONFIG_S3_MAX_PART),
	INT("s3_parallel", aws.s3_parallel, 1, CONFIG_S3_MAX_PARALLEL),
};
static const struct keydef oci_keys[] = {
	STR("credentials", oci.credentials),
};
static const struct keydef pulp_keys[] = {
	STR("credentials", pulp.credentials),
	STR("server_address", pulp.server_address),
};
static const struct keydef generic_s3_keys[] = {
	STR("credentials", generic_s3.credentials),
	STR("endpoint", generic_s3.endpoint),
	STR("region", generic_s3.region),
	STR("bucket", generic_s3.bucket),
	STR("ca_bundle", generic_s3.ca_bundle),
	BOOL("skip_ssl_verification", generic_s3.skip_ssl_verification),
};
static const struct keydef authentication_keys[] = {
	STR("oauth_url", authentication.oauth_url),
	STR("client_id", authentication.client_id),
	STR("client_secret", authentication.client_secret),
	STR("offline_token", authentication.offline_token),
};
static const struct keydef containers_keys[] = {
	STR("auth_file_path", containers.auth_file_path),
	STR("domain", containers.domain),
	STR("path_prefix", containers.path_prefix),
	STR("cert_path", containers.cert_path),
	BOOL("tls_verify", containers.tls_verify),
};
static const struct keydef osbuild_executor_keys[] = {
	FN("type", osbuild_executor.type, set_executor),
	STR("iam_profile", osbuild_executor.iam_profile),
	STR("key_name", osbuild_executor.key_name),
	FN("image", osbuild_executor.image, set_abspath),
	INT("vcpus", osbuild_executor.vcpus, 1, 256),
	INT("memory", osbuild_executor.memory, 256, INT64_C(1) << 22),
	INT("disk", osbuild_executor.disk, 1, 65536),
	FN("accel", osbuild_executor.accel, set_accel),
	FN("network", osbuild_executor.network, set_network),
	FN("libvirt_uri", osbuild_executor.libvirt_uri, set_nonempty),
	INT("boot_timeout", osbuild_executor.boot_timeout, 5, 86400),
	INT("build_timeout", osbuild_executor.build_timeout, 0, 7 * 86400),
	FN("ami", osbuild_executor.ami, set_word),
	FN("instance_type", osbuild_executor.instance_type, set_word),
	FN("subnet_id", osbuild_executor.subnet_id, set_word),
	FN("security_group", osbuild_executor.security_group, set_word),
	FN("region", osbuild_executor.region, set_word),
	INT("agent_port", osbuild_executor.agent_port, 1, 65535),
};
static const struct keydef repository_mtls_keys[] = {
	STR("baseurl", repository_mtls.baseurl),
	STR("ca", repository_mtls.ca),
	STR("mtls_client_key", repository_mtls.mtls_client_key),
	STR("mtls_client_cert", repository_mtls.mtls_client_cert),
	STR("proxy", repository_mtls.proxy),
};
static const struct keydef bootc_info_resolve_keys[] = {
	BOOL("cleanup_images", bootc_info_resolve.cleanup_images),
};
/*
 * Ours. heartbeat_interval stays well under the server's 120 s requeue
 * limit so that one lost heartbeat does not cost the job.
 */
static const struct keydef worker_keys[] = {
	INT("poll_interval", worker.poll_interval, 0, 3600),
	INT("request_timeout", worker.request_timeout, 1, 86400),
	INT("heartbeat_interval", worker.heartbeat_interval, 1, 60),
	INT("status_interval", worker.status_interval, 1, 3600),
	INT("drain_timeout", worker.drain_timeout, 0, 7 * 86400),
	INT("cancel_grace", worker.cancel_grace, 0, 3600),
	INT("connect_timeout", worker.connect_timeout, 1, 3600),
	INT("transfer_timeout", worker.transfer_timeout, 1, 86400),
	INT("low_speed_time", worker.low_speed_time, 1, 3600),
	INT("max_body", worker.max_body, 1024, INT64_C(1) << 30),
	INT("backoff_max", worker.backoff_max, 1, 3600),
	FN("log_format", worker.log_format, set_log_format),
	INT("cache_max_bytes", worker.cache_max_bytes, 0, INT64_MAX),
	INT("cache_min_free", worker.cache_min_free, 0, INT64_MAX),
	FN("cache_directory", worker.cache_directory, set_abspath),
	FN("job_types", worker.job_types, set_job_types),
	FN("partial", worker.partial, set_partial),
	FN("osbuild", worker.osbuild, set_nonempty),
	FN("arch", worker.arch, set_word),
	INT("file_resolve_max", worker.file_resolve_max, 1, INT64_MAX),
	BOOL("scale_in_protection", worker.scale_in_protection),
	FN("autoscaling_group", worker.autoscaling_group, set_nonempty),
	FN("lifecycle_hook", worker.lifecycle_hook, set_nonempty),
	FN("autoscaling_endpoint", worker.autoscaling_endpoint, set_nonempty),
	INT("lifecycle_poll_interval", worker.lifecycle_poll_interval, 1, 60),
	INT("lifecycle_heartbeat_interval", worker.lifecycle_heartbeat_interval,
	    1, 3600),
	FN("tls_ca", worker.tls_ca, set_abspath),
	FN("tls_cert", worker.tls_cert, set_abspath),
	FN("tls_key", worker.tls_key, set_abspath),
	FN("metrics_listen", worker.metrics_listen, set_nonempty),
	INT("machine_fault_limit", worker.machine_fault_limit, 1, 1000),
};

#define TABLE(n, present) { #n, n##_keys, nitems(n##_keys), present }
static const struct tabledef tables[] = {
	TABLE(composer, -1),
	TABLE(gcp, -1),
	TABLE(azure, (long)OFF(azure.present)),
	TABLE(aws, -1),
	TABLE(oci, -1),
	TABLE(pulp, -1),
	TABLE(generic_s3, -1),
	TABLE(authentication, (long)OFF(authentication.present)),
	TABLE(containers, -1),
	TABLE(osbuild_executor, -1),
	TABLE(repository_mtls, -1),
	TABLE(bootc_info_resolve, -1),
	TABLE(worker, -1),
};

/* [koji."HOST"] and its kerberos table fill a struct config_koji. */
#define KOFF(f)	offsetof(struct config_koji, f)
static const struct keydef koji_keys[] = {
	{ "relax_timeout_factor", K_INT, KOFF(relax_timeout_factor), 0,
	    INT64_MAX, NULL },
};
static const struct keydef kerberos_keys[] = {
	{ "principal", K_STR, KOFF(principal), 0, 0, NULL },
	{ "keytab", K_STR, KOFF(keytab), 0, 0, NULL },
};

static int
bad(struct loader *ld, const struct toml_value *v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes "FILE:LINE:COL: message" into the caller's buffer; returns -1. */
static int
bad(struct loader *ld, const struct toml_value *v, const char *fmt, ...)
{
	va_list	 ap;
	char	*msg;

	if (ld->err == NULL || ld->errlen == 0)
		return -1;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	snprintf(ld->err, ld->errlen, "%s:%d:%d: %s", ld->path, v->line,
	    v->col, msg);
	free(msg);
	return -1;
}

static void
unknown(struct loader *ld, const char *prefix, const struct toml_value *v)
{
	log_warnx("%s:%d: unknown %s %s%s%s, ignored", ld->path, v->line,
	    v->kind == TOML_TABLE ? "table" : "key", prefix ? prefix : "",
	    prefix ? "." : "", v->key);
}

static int
want(struct loader *ld, const char *name, const struct toml_value *v,
    enum toml_kind kind)
{
	if (v->kind == kind)
		return 0;
	return bad(ld, v, "%s: expected %s, found %s", name,
	    toml_kind_name(kind), toml_kind_name(v->kind));
}

static void
set_str(void *base, size_t off, const char *s)
{
	char	**p = (char **)((char *)base + off);

	free(*p);
	*p = xstrdup(s);
}

static int
set_log_format(struct loader *ld, const char *name,
    const struct toml_value *v, void *base, const struct keydef *kd)
{
	enum log_format	*p = (enum log_format *)((char *)base + kd->off);

	if (want(ld, name, v, TOML_STRING) == -1)
		return -1;
	if (strcmp(v->str, "text") == 0)
		*p = LOG_TEXT;
	else if (strcmp(v->str, "json") == 0)
		*p = LOG_JSON;
	else
		return bad(ld, v, "%s: must be \"text\" or \"json\"", name);
	return 0;
}

static int
set_partial(struct loader *ld, const char *name, const struct toml_value *v,
    void *base, const struct keydef *kd)
{
	enum partial_mode	*p = (enum partial_mode *)((char *)base +
				    kd->off);

	if (v->kind == TOML_BOOL)
		*p = v->num ? PARTIAL_ON : PARTIAL_OFF;
	else if (v->kind == TOML_STRING && strcmp(v->str, "auto") == 0)
		*p = PARTIAL_AUTO;
	else
		return bad(ld, v, "%s: expected \"auto\", true or false",
		    name);
	return 0;
}

static int
set_executor(struct loader *ld, const char *name,
    const struct toml_value *v, void *base, const struct keydef *kd)
{
	if (want(ld, name, v, TOML_STRING) == -1)
		return -1;
	if (strcmp(v->str, "host") != 0 && strcmp(v->str, "aws.ec2") != 0 &&
	    strcmp(v->str, "qemu.kvm") != 0)
		return bad(ld, v, "%s: must be \"host\", \"aws.ec2\" or "
		    "\"qemu.kvm\"", name);
	set_str(base, kd->off, v->str);
	return 0;
}

/* One of a list of words (NULL-terminated), stored as it is. */
static int
set_oneof(struct loader *ld, const char *name, const struct toml_value *v,
    void *base, const struct keydef *kd, const char *const *words,
    const char *said)
{
	const char *const	*w;

	if (want(ld, name, v, TOML_STRING) == -1)
		return -1;
	for (w = words; *w != NULL; w++)
		if (strcmp(v->str, *w) == 0) {
			set_str(base, kd->off, v->str);
			return 0;
		}
	return bad(ld, v, "%s: must be %s", name, said);
}

static int
set_accel(struct loader *ld, const char *name, const struct toml_value *v,
    void *base, const struct keydef *kd)
{
	static const char *const words[] = { "auto", "kvm", "tcg", NULL };

	return set_oneof(ld, name, v, base, kd, words,
	    "\"auto\", \"kvm\" or \"tcg\"");
}

static int
set_network(struct loader *ld, const char *name, const struct toml_value *v,
    void *base, const struct keydef *kd)
{
	static const char *const words[] = { "nat", "none", NULL };

	return set_oneof(ld, name, v, base, kd, words,
	    "\"nat\" or \"none\"");
}

static int
set_abspath(struct loader *ld, const char *name, const struct toml_value *v,
    void *base, const struct keydef *kd)
{
	if (want(ld, name, v, TOML_STRING) == -1)
		return -1;
	if (v->str[0] != '/')
		return bad(ld, v, "%s: must be an absolute path", name);
	set_str(base, kd->off, v->str);
	return 0;
}

static int
set_nonempty(struct loader *ld, const char *name, const struct toml_value *v,
    void *base, const struct keydef *kd)
{
	if (want(ld, name, v, TOML_STRING) == -1)
		return -1;
	if (v->str[0] == '\0')
		return bad(ld, v, "%s: must not be empty", name);
	set_str(base, kd->off, v->str);
	return 0;
}

/* Names that go into URLs and requests: letters, digits, "._:-". */
static int
is_word(const char *s)
{
	size_t	 n;

	for (n = 0; s[n] != '\0'; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') ||
		    (s[n] >= 'A' && s[n] <= 'Z') ||
		    (s[n] >= '0' && s[n] <= '9') || strchr("._:-", s[n])))
			return 0;
	return n > 0 && n <= MAX_NAME;
}

static int
set_word(struct loader *ld, const char *name, const struct toml_value *v,
    void *base, const struct keydef *kd)
{
	if (want(ld, name, v, TOML_STRING) == -1)
		return -1;
	if (!is_word(v->str))
		return bad(ld, v, "%s: must be 1 to %d letters, digits or "
		    "\"._:-\"", name, MAX_NAME);
	set_str(base, kd->off, v->str);
	return 0;
}

static int
set_job_types(struct loader *ld, const char *name,
    const struct toml_value *v, void *base, const struct keydef *kd)
{
	struct config	*c = base;
	char		**types;
	size_t		 i, j;

	(void)kd;
	if (want(ld, name, v, TOML_ARRAY) == -1)
		return -1;
	if (v->nitems == 0)
		return bad(ld, v, "%s: must not be empty (leave it out to run "
		    "every job type)", name);
	if (v->nitems > MAX_JOB_TYPES)
		return bad(ld, v, "%s: more than %d job types", name,
		    MAX_JOB_TYPES);
	for (i = 0; i < v->nitems; i++) {
		const struct toml_value	*t = v->items[i];

		if (t->kind != TOML_STRING)
			return bad(ld, t, "%s[%zu]: expected a string, found "
			    "%s", name, i, toml_kind_name(t->kind));
		if (!is_word(t->str))
			return bad(ld, t, "%s[%zu]: not a job type name", name,
			    i);
		for (j = 0; j < i; j++)
			if (strcmp(v->items[j]->str, t->str) == 0)
				return bad(ld, t, "%s: \"%s\" is listed twice",
				    name, t->str);
	}
	types = xcalloc(v->nitems, sizeof(*types));
	for (i = 0; i < v->nitems; i++)
		types[i] = xstrdup(v->items[i]->str);
	for (i = 0; i < (size_t)c->worker.njob_types; i++)
		free(c->worker.job_types[i]);
	free(c->worker.job_types);
	c->worker.job_types = types;
	c->worker.njob_types = (int)v->nitems;
	return 0;
}

static int
set_key(struct loader *ld, const char *name, const struct toml_value *v,
    void *base, const struct keydef *kd)
{
	char	*p = (char *)base + kd->off;

	switch (kd->type) {
	case K_STR:
		if (want(ld, name, v, TOML_STRING) == -1)
			return -1;
		set_str(base, kd->off, v->str);
		return 0;
	case K_BOOL:
		if (want(ld, name, v, TOML_BOOL) == -1)
			return -1;
		*(int *)p = v->num != 0;
		return 0;
	case K_INT:
		if (want(ld, name, v, TOML_INT) == -1)
			return -1;
		if (v->num < kd->min || v->num > kd->max) {
			if (kd->max == INT64_MAX)
				return bad(ld, v, "%s: must be at least %"
				    PRId64, name, kd->min);
			return bad(ld, v, "%s: must be between %" PRId64
			    " and %" PRId64, name, kd->min, kd->max);
		}
		*(int64_t *)p = v->num;
		return 0;
	case K_FN:
		return kd->fn(ld, name, v, base, kd);
	}
	return -1;
}

/* Member v of the table named prefix (NULL: top level), through keys. */
static int
apply_one(struct loader *ld, const char *prefix, const struct toml_value *v,
    const struct keydef *keys, size_t nkeys, void *base)
{
	char	*name;
	size_t	 k;
	int	 rc;

	for (k = 0; k < nkeys; k++)
		if (strcmp(keys[k].name, v->key) == 0)
			break;
	if (k == nkeys) {
		unknown(ld, prefix, v);
		return 0;
	}
	name = prefix ? xasprintf("%s.%s", prefix, v->key) : xstrdup(v->key);
	rc = set_key(ld, name, v, base, &keys[k]);
	if (rc == 0 && ld->conf != NULL) {
		struct config	*c = ld->conf;

		c->pos = xrealloc(c->pos, (c->npos + 1) * sizeof(*c->pos));
		c->pos[c->npos].key = name;
		c->pos[c->npos].line = v->line;
		c->pos[c->npos].col = v->col;
		c->npos++;
		name = NULL;
	}
	free(name);
	return rc;
}

static int
apply(struct loader *ld, const char *prefix, const struct toml_value *t,
    const struct keydef *keys, size_t nkeys, void *base)
{
	size_t	 i;

	for (i = 0; i < t->nitems; i++)
		if (apply_one(ld, prefix, t->items[i], keys, nkeys, base) == -1)
			return -1;
	return 0;
}

static int
apply_koji(struct loader *ld, struct config *c, const struct toml_value *t)
{
	const struct toml_value	*host, *v;
	struct config_koji	*k;
	char			*prefix;
	size_t			 i, j;
	int			 rc = 0;

	for (i = 0; i < t->nitems && rc == 0; i++) {
		host = t->items[i];
		prefix = xasprintf("koji.\"%s\"", host->key);
		if (host->kind != TOML_TABLE)
			rc = bad(ld, host, "%s: expected a table, found %s",
			    prefix, toml_kind_name(host->kind));
		else if (host->key[0] == '\0')
			rc = bad(ld, host, "%s: the hub's name is empty",
			    prefix);
		if (rc == -1) {
			free(prefix);
			break;
		}
		c->koji = xrealloc(c->koji, (c->nkoji + 1) * sizeof(*c->koji));
		k = &c->koji[c->nkoji++];
		memset(k, 0, sizeof(*k));
		k->host = xstrdup(host->key);
		for (j = 0; j < host->nitems && rc == 0; j++) {
			v = host->items[j];
			if (strcmp(v->key, "kerberos") != 0)
				rc = apply_one(ld, prefix, v, koji_keys,
				    nitems(koji_keys), k);
			else if (v->kind != TOML_TABLE)
				rc = bad(ld, v, "%s.kerberos: expected a "
				    "table, found %s", prefix,
				    toml_kind_name(v->kind));
			else {
				char	*kp = xasprintf("%s.kerberos", prefix);

				k->kerberos = 1;
				rc = apply(ld, kp, v, kerberos_keys,
				    nitems(kerberos_keys), k);
				free(kp);
			}
		}
		free(prefix);
	}
	return rc;
}

static int
apply_root(struct loader *ld, struct config *c, const struct toml_value *root)
{
	const struct toml_value	*v;
	const struct tabledef	*td;
	size_t			 i, k;

	for (i = 0; i < root->nitems; i++) {
		v = root->items[i];
		for (td = NULL, k = 0; k < nitems(tables); k++)
			if (strcmp(tables[k].name, v->key) == 0)
				td = &tables[k];
		if (td != NULL || strcmp(v->key, "koji") == 0) {
			if (want(ld, v->key, v, TOML_TABLE) == -1)
				return -1;
			if (td == NULL) {
				if (apply_koji(ld, c, v) == -1)
					return -1;
				continue;
			}
			if (td->present >= 0)
				*(int *)((char *)c + td->present) = 1;
			if (apply(ld, td->name, v, td->keys, td->nkeys, c) == -1)
				return -1;
			continue;
		}
		if (apply_one(ld, NULL, v, top_keys, nitems(top_keys), c) == -1)
			return -1;
	}
	/* The reference treats an unset (zero) thread count as its default. */
	if (c->azure.upload_threads == 0)
		c->azure.upload_threads = 16;
	return 0;
}

static char *
default_cache_dir(void)
{
	const char	*env = getenv("CACHE_DIRECTORY");
	size_t		 n;

	/* systemd lists several CacheDirectory= paths separated by ':'. */
	if (env != NULL && env[0] == '/') {
		n = strcspn(env, ":");
		return xstrndup(env, n);
	}
	return xstrdup(CONFIG_DEFAULT_CACHE);
}

struct config *
config_defaults(void)
{
	struct config	*c = xcalloc(1, sizeof(*c));
	struct utsname	 u;

	c->base_path = xstrdup(CONFIG_DEFAULT_BASE);
	c->dnf_json = xstrdup(CONFIG_DEFAULT_DNFJSON);
	c->deployment_channel = xstrdup("local");
	c->azure.upload_threads = 16;
	c->aws.s3_part_size = INT64_C(64) << 20;
	c->aws.s3_parallel = 4;
	c->containers.tls_verify = 1;
	c->osbuild_executor.type = xstrdup("host");
	c->osbuild_executor.image = xstrdup(CONFIG_DEFAULT_EXECUTOR_IMAGE);
	c->osbuild_executor.vcpus = 2;
	c->osbuild_executor.memory = 2048;
	c->osbuild_executor.disk = 20;
	c->osbuild_executor.accel = xstrdup("auto");
	c->osbuild_executor.network = xstrdup("nat");
	c->osbuild_executor.libvirt_uri = xstrdup("qemu:///system");
	c->osbuild_executor.boot_timeout = 600;
	c->osbuild_executor.instance_type = xstrdup("m6a.large");
	c->osbuild_executor.agent_port = 8701;

	c->worker.poll_interval = 0;
	c->worker.request_timeout = 600;
	c->worker.heartbeat_interval = 15;
	c->worker.status_interval = 60;
	c->worker.drain_timeout = 0;
	c->worker.cancel_grace = 10;
	c->worker.connect_timeout = 30;
	c->worker.transfer_timeout = 300;
	c->worker.low_speed_time = 60;
	c->worker.max_body = INT64_C(64) << 20;
	c->worker.backoff_max = 60;
	c->worker.log_format = LOG_TEXT;
	c->worker.cache_max_bytes = INT64_C(20) << 30;
	c->worker.cache_min_free = INT64_C(2) << 30;
	c->worker.cache_directory = default_cache_dir();
	c->worker.partial = PARTIAL_AUTO;
	c->worker.osbuild = xstrdup(CONFIG_DEFAULT_OSBUILD);
	c->worker.arch = xstrdup(uname(&u) == 0 ? u.machine : "unknown");
	c->worker.file_resolve_max = INT64_C(32) << 20;	/* base64: 43 MiB */
	c->worker.scale_in_protection = 0;
	c->worker.lifecycle_poll_interval = 5;
	c->worker.lifecycle_heartbeat_interval = 300;
	c->worker.machine_fault_limit = 3;
	return c;
}

/*
 * A default builder or depsolver that is absent gives way to the native
 * one when that exists, so that a configuration naming neither works on
 * the Debian image. A value the file sets is left alone.
 */
static void
fallback(struct config *c, char **val, const char *key, const char *dflt,
    const char *native)
{
	const char	*bindir = getenv("IB_FALLBACK_BINDIR");
	char		*cand, *note;
	int		 i;

	for (i = 0; i < c->npos; i++)
		if (strcmp(c->pos[i].key, key) == 0)
			return;
	if (strcmp(*val, dflt) != 0 || exec_runnable(dflt))
		return;
	if (bindir == NULL || bindir[0] != '/')
		bindir = CONFIG_FALLBACK_BINDIR;
	cand = xasprintf("%s/%s", bindir, native);
	if (access(cand, X_OK) != 0) {
		free(cand);
		return;
	}
	note = xasprintf("%s%s%s: the default %s is absent, using %s",
	    c->fallback_note ? c->fallback_note : "",
	    c->fallback_note ? "; " : "", key, dflt, cand);
	free(c->fallback_note);
	c->fallback_note = note;
	free(*val);
	*val = cand;
}

static void
fallbacks(struct config *c)
{
	fallback(c, &c->worker.osbuild, "worker.osbuild",
	    CONFIG_DEFAULT_OSBUILD, CONFIG_FALLBACK_OSBUILD);
	fallback(c, &c->dnf_json, "dnf-json", CONFIG_DEFAULT_DNFJSON,
	    CONFIG_FALLBACK_DNFJSON);
	if (c->fallback_note != NULL)
		log_info("configuration: %s", c->fallback_note);
}

const char *
config_where(const struct config *c, const char *key, char *buf, size_t len)
{
	const char	*path = c->path ? c->path : "(defaults)";
	int		 i;

	for (i = 0; i < c->npos; i++)
		if (strcmp(c->pos[i].key, key) == 0) {
			snprintf(buf, len, "%s:%d:%d: %s", path,
			    c->pos[i].line, c->pos[i].col, key);
			return buf;
		}
	snprintf(buf, len, "%s: %s (default)", path, key);
	return buf;
}

struct config *
config_load(const char *path, int missing_ok, char *err, size_t errlen)
{
	struct loader		 ld = { path, err, errlen, NULL };
	struct toml_error	 te;
	struct toml_value	*root = NULL;
	struct config		*c = NULL;
	char			*data;
	size_t			 len;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if ((data = read_file(path, TOML_MAX_INPUT, &len)) == NULL) {
		if (errno == ENOENT && missing_ok) {
			c = config_defaults();
			c->path = xstrdup(path);
			fallbacks(c);
			return c;
		}
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: %s", path, errno == EFBIG ?
			    "larger than 1 MiB" : strerror(errno));
		return NULL;
	}
	if ((root = toml_parse(data, len, &te)) == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s:%d:%d: %s", path, te.line,
			    te.col, te.reason);
		goto cleanup;
	}
	c = config_defaults();
	c->path = xstrdup(path);
	ld.conf = c;
	if (apply_root(&ld, c, root) == -1) {
		config_free(c);
		c = NULL;
	} else
		fallbacks(c);
cleanup:
	toml_free(root);
	free(data);
	return c;
}

void
config_free(struct config *c)
{
	int	 i;

	if (c == NULL)
		return;
	free(c->base_path);
	free(c->dnf_json);
	free(c->deployment_channel);
	free(c->composer_proxy);
	for (i = 0; i < c->nkoji; i++) {
		free(c->koji[i].host);
		free(c->koji[i].principal);
		free(c->koji[i].keytab);
	}
	free(c->koji);
	free(c->gcp.credentials);
	free(c->gcp.bucket);
	free(c->azure.credentials);
	free(c->aws.credentials);
	free(c->aws.s3_credentials);
	free(c->aws.bucket);
	free(c->aws.endpoint);
	free(c->aws.s3_endpoint);
	free(c->oci.credentials);
	free(c->pulp.credentials);
	free(c->pulp.server_address);
	free(c->generic_s3.credentials);
	free(c->generic_s3.endpoint);
	free(c->generic_s3.region);
	free(c->generic_s3.bucket);
	free(c->generic_s3.ca_bundle);
	free(c->authentication.oauth_url);
	free(c->authentication.client_id);
	free(c->authentication.client_secret);
	free(c->authentication.offline_token);
	free(c->containers.auth_file_path);
	free(c->containers.domain);
	free(c->containers.path_prefix);
	free(c->containers.cert_path);
	free(c->osbuild_executor.type);
	free(c->osbuild_executor.iam_profile);
	free(c->osbuild_executor.key_name);
	free(c->osbuild_executor.image);
	free(c->osbuild_executor.accel);
	free(c->osbuild_executor.network);
	free(c->osbuild_executor.libvirt_uri);
	free(c->osbuild_executor.ami);
	free(c->osbuild_executor.instance_type);
	free(c->osbuild_executor.subnet_id);
	free(c->osbuild_executor.security_group);
	free(c->osbuild_executor.region);
	free(c->repository_mtls.baseurl);
	free(c->repository_mtls.ca);
	free(c->repository_mtls.mtls_client_key);
	free(c->repository_mtls.mtls_client_cert);
	free(c->repository_mtls.proxy);
	free(c->worker.cache_directory);
	for (i = 0; i < c->worker.njob_types; i++)
		free(c->worker.job_types[i]);
	free(c->worker.job_types);
	free(c->worker.osbuild);
	free(c->worker.arch);
	free(c->worker.autoscaling_group);
	free(c->worker.lifecycle_hook);
	free(c->worker.autoscaling_endpoint);
	free(c->worker.tls_ca);
	free(c->worker.tls_cert);
	free(c->worker.tls_key);
	free(c->worker.metrics_listen);
	for (i = 0; i < c->npos; i++)
		free(c->pos[i].key);
	free(c->pos);
	free(c->path);
	free(c->fallback_note);
	free(c);
}

int
config_wants_kind(const struct config *conf, const char *name)
{
	int	 i;

	if (conf->worker.job_types == NULL)
		return 1;
	for (i = 0; i < conf->worker.njob_types; i++)
		if (strcmp(conf->worker.job_types[i], name) == 0)
			return 1;
	return 0;
}

char *
config_containers_ca(const struct config *conf)
{
	char	*p;

	if (conf->containers.cert_path == NULL)
		return NULL;
	p = xasprintf("%s/ca.crt", conf->containers.cert_path);
	if (access(p, R_OK) == 0)
		return p;
	free(p);
	return NULL;
}
