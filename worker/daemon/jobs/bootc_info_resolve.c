/*
 * bootc-info-resolve (2026 servers): what a build needs to know of each
 * bootc container image of the job, read from its registry without running
 * it (registry_inspect): the image id (its config digest) and manifest
 * digest, the architecture, the size, and for resolve_mode "full" the
 * os-release and kernel version too. The default root file system is the
 * one the image's usr/lib/bootc/install/ *.toml files name
 * ([install.filesystem.root] type; the last file in name order wins, as
 * bootc reads them). Layers pass through a directory of the cache, removed
 * before the job ends. The first failure is the job error, with the
 * registry's own message.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cache.h"
#include "errors.h"
#include "jobs/jobs.h"
#include "jsonutil.h"
#include "log.h"
#include "registry.h"
#include "util.h"

#define BIR_MAX_SPECS	16
#define BIR_MAX_VALUE	256

/* What the walk over one image's layers found. */
struct found {
	char	*os_release;	/* usr/lib/os-release, else etc/ */
	int	 os_release_usr;
	char	*kernel;	/* usr/lib/modules/VERSION/vmlinuz */
	char	*rootfs;
	char	*rootfs_file;	/* the install file that named it */
};

static void
found_free(struct found *f)
{
	free(f->os_release);
	free(f->kernel);
	free(f->rootfs);
	free(f->rootfs_file);
	memset(f, 0, sizeof(*f));
}

static int
install_toml(const char *path)
{
	const char	*base = path + strlen("usr/lib/bootc/install/");
	size_t		 n;

	if (strncmp(path, "usr/lib/bootc/install/", 22) != 0 ||
	    strchr(base, '/') != NULL)
		return 0;
	n = strlen(base);
	return n > 5 && strcmp(base + n - 5, ".toml") == 0;
}

static int
want(const char *path)
{
	return strcmp(path, "usr/lib/os-release") == 0 ||
	    strcmp(path, "etc/os-release") == 0 || install_toml(path);
}

/* A value fit for a result: printable, no quotes, bounded. */
static int
value_ok(const char *v)
{
	const char	*p;

	if (*v == '\0' || strlen(v) > BIR_MAX_VALUE)
		return 0;
	for (p = v; *p; p++)
		if (!isprint((unsigned char)*p) || *p == '"' || *p == '\\')
			return 0;
	return 1;
}

/*
 * The [install.filesystem.root] type of a bootc install file, newly
 * allocated, or NULL. Only this key's simple form is read.
 */
static char *
toml_root_type(const char *text)
{
	const char	*line = text, *nl, *p, *q;
	char		*v = NULL;
	int		 in = 0;

	for (; *line; line = nl ? nl + 1 : line + strlen(line)) {
		nl = strchr(line, '\n');
		for (p = line; *p == ' ' || *p == '\t'; p++)
			;
		if (*p == '[') {
			in = strncmp(p, "[install.filesystem.root]", 25) == 0;
			continue;
		}
		if (!in || strncmp(p, "type", 4) != 0)
			continue;
		for (p += 4; *p == ' ' || *p == '\t'; p++)
			;
		if (*p++ != '=')
			continue;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '"' || (q = strchr(p + 1, '"')) == NULL ||
		    (nl != NULL && q > nl))
			continue;
		free(v);
		v = xstrndup(p + 1, q - p - 1);
	}
	if (v != NULL && !value_ok(v)) {
		free(v);
		v = NULL;
	}
	return v;
}

static void
on_file(void *arg, const char *path, const char *data, size_t len)
{
	struct found	*f = arg;
	const char	*ver, *end;
	char		*t;

	if (data == NULL) {
		/* usr/lib/modules/VERSION/vmlinuz: the kernel's version. */
		if (strncmp(path, "usr/lib/modules/", 16) != 0)
			return;
		ver = path + 16;
		if ((end = strchr(ver, '/')) == NULL ||
		    strcmp(end, "/vmlinuz") != 0)
			return;
		t = xstrndup(ver, end - ver);
		if (value_ok(t) && strchr(t, ' ') == NULL) {
			free(f->kernel);
			f->kernel = t;
		} else
			free(t);
		return;
	}
	if (strcmp(path, "usr/lib/os-release") == 0 ||
	    (strcmp(path, "etc/os-release") == 0 && !f->os_release_usr)) {
		free(f->os_release);
		f->os_release = xstrndup(data, len);
		f->os_release_usr = path[0] == 'u';
		return;
	}
	if (install_toml(path) && (t = toml_root_type(data)) != NULL) {
		if (f->rootfs_file == NULL || strcmp(path, f->rootfs_file) >= 0) {
			free(f->rootfs);
			free(f->rootfs_file);
			f->rootfs = t;
			f->rootfs_file = xstrdup(path);
		} else
			free(t);
	}
}

/* os-release KEY=VALUE lines into an object of the values we pass on. */
static json_object *
os_release_obj(const char *text)
{
	static const struct { const char *key, *out; } keys[] = {
		{ "ID", "ID" }, { "VERSION_ID", "VersionID" },
		{ "NAME", "Name" }, { "VARIANT_ID", "VariantID" },
		{ "PLATFORM_ID", "PlatformID" }, { "VERSION", "Version" },
		{ "ID_LIKE", "IDLike" },
	};
	json_object	*o = json_object_new_object();
	const char	*line = text, *nl, *eq;
	char		*v;
	size_t		 i, klen, vlen;

	for (; *line; line = nl ? nl + 1 : line + strlen(line)) {
		nl = strchr(line, '\n');
		if ((eq = strchr(line, '=')) == NULL || (nl && eq > nl))
			continue;
		klen = eq - line;
		vlen = (nl ? nl : line + strlen(line)) - eq - 1;
		v = xstrndup(eq + 1, vlen);
		if (vlen >= 2 && (v[0] == '"' || v[0] == '\'') &&
		    v[vlen - 1] == v[0]) {
			memmove(v, v + 1, vlen - 2);
			v[vlen - 2] = '\0';
		}
		for (i = 0; i < nitems(keys); i++)
			if (strlen(keys[i].key) == klen &&
			    strncmp(line, keys[i].key, klen) == 0 &&
			    value_ok(v))
				json_object_object_add(o, keys[i].out,
				    json_object_new_string(v));
		free(v);
	}
	return o;
}

/* One spec into an info object; NULL with why. */
static json_object *
resolve(struct job *job, const struct job_ctx *ctx, json_object *spec,
    const char *arch, const char *tmpdir, char *err, size_t errlen)
{
	struct registry_opts	 o;
	struct registry_inspect	 in;
	struct found		 f;
	json_object		*out = NULL, *osi;
	const char		*ref, *mode;
	char			*ca = NULL;
	int			 full;

	ref = json_get_str(spec, "ref");
	mode = json_get_str(spec, "resolve_mode");
	if (ref == NULL || *ref == '\0') {
		snprintf(err, errlen, "a bootc spec has no ref");
		return NULL;
	}
	if (mode == NULL || (strcmp(mode, "full") != 0 &&
	    strcmp(mode, "build") != 0)) {
		snprintf(err, errlen, "invalid resolve mode (full or build)");
		return NULL;
	}
	full = strcmp(mode, "full") == 0;
	memset(&o, 0, sizeof(o));
	o.auth_file = ctx->conf->containers.auth_file_path;
	o.tls_verify = ctx->conf->containers.tls_verify;
	o.ca_bundle = ca = config_containers_ca(ctx->conf);
	o.connect_timeout = ctx->conf->worker.connect_timeout;
	o.transfer_timeout = ctx->conf->worker.transfer_timeout;
	o.abort = &job->canceled;
	memset(&in, 0, sizeof(in));
	memset(&f, 0, sizeof(f));
	in.tmpdir = tmpdir;
	in.want = want;
	in.file = on_file;
	in.arg = &f;
	if (registry_inspect(&o, ref, arch, &in, err, errlen) == -1)
		goto cleanup;
	if (full && (f.os_release == NULL || f.kernel == NULL)) {
		snprintf(err, errlen, "%.300s is not a bootc image: no %s",
		    ref, f.os_release == NULL ? "os-release" :
		    "usr/lib/modules/*/vmlinuz");
		goto cleanup;
	}
	out = json_object_new_object();
	json_object_object_add(out, "imgref", json_object_new_string(ref));
	json_object_object_add(out, "image_id",
	    json_object_new_string(in.img.image_id));
	json_object_object_add(out, "digest",
	    json_object_new_string(in.img.digest));
	/* The composer's words for architectures, not the registry's. */
	json_object_object_add(out, "arch", json_object_new_string(arch));
	if (f.rootfs != NULL)
		json_object_object_add(out, "default_root_fs",
		    json_object_new_string(f.rootfs));
	json_object_object_add(out, "size", json_object_new_int64(in.size));
	if (full) {
		osi = json_object_new_object();
		json_object_object_add(osi, "OSRelease",
		    os_release_obj(f.os_release));
		json_object_object_add(osi, "KernelInfo",
		    json_object_new_object());
		json_object_object_add(json_object_object_get(osi,
		    "KernelInfo"), "Version", json_object_new_string(f.kernel));
		json_object_object_add(out, "os_info", osi);
	}
	log_info("bootc-info-resolve: %s -> %s (%s, kernel %s, root fs %s)",
	    ref, in.img.digest, arch, f.kernel ? f.kernel : "-",
	    f.rootfs ? f.rootfs : "-");
cleanup:
	registry_inspect_free(&in);
	found_free(&f);
	free(ca);
	return out;
}

static json_object *
bootc_info_resolve_run(struct job *job, const struct job_ctx *ctx)
{
	static struct utsname	 u;
	json_object		*result, *specs = NULL, *infos, *info;
	const char		*arch;
	char			 err[1024], *tmpdir = NULL;
	size_t			 i, n;

	result = json_object_new_object();
	infos = json_object_new_array();
	json_object_object_add(result, "infos", infos);
	if (!json_object_object_get_ex(job->args, "specs", &specs) ||
	    !json_object_is_type(specs, json_type_array) ||
	    (n = json_object_array_length(specs)) == 0 || n > BIR_MAX_SPECS) {
		job_set_error(result, JOB_ERR_PARSING_ARGS, "bootc-info-resolve: "
		    "specs must be a list of 1 to 16 images", NULL);
		return result;
	}
	arch = ctx->conf->worker.arch;
	if (arch == NULL && uname(&u) == 0)
		arch = u.machine;
	if (arch == NULL) {
		job_set_error(result, JOB_ERR_PARSING_ARGS,
		    "bootc-info-resolve: no architecture", NULL);
		return result;
	}
	if ((tmpdir = cache_output_new(ctx->cache_dir, job->id, err,
	    sizeof(err))) == NULL) {
		job_set_error(result, JOB_ERR_CONTAINER_RESOLUTION, err, NULL);
		return result;
	}
	for (i = 0; i < n; i++) {
		if (job_canceled(job)) {
			snprintf(err, sizeof(err), "the job was canceled");
			info = NULL;
		} else
			info = resolve(job, ctx, json_object_array_get_idx(specs,
			    i), arch, tmpdir, err, sizeof(err));
		if (info == NULL) {
			log_warnx("bootc-info-resolve: %s", err);
			/* The reference's id for a failed resolution. */
			job_set_error(result, JOB_ERR_CONTAINER_RESOLUTION, err,
			    NULL);
			break;
		}
		json_object_array_add(infos, info);
	}
	if (rmdir(tmpdir) == -1)
		log_warn("bootc-info-resolve: removing %s", tmpdir);
	free(tmpdir);
	return result;
}

const struct job_kind job_kind_bootc_info_resolve = {
	"bootc-info-resolve", bootc_info_resolve_run, 1, NULL
};
