/*
 * manifest-gen (ib-build --generate-manifest): turns a depsolve result and
 * blueprint-style customizations into a manifest ib-build accepts, for a
 * local queue that goes depsolve -> manifest -> build. The request format
 * is in README.md; the manifest has pipelines "os" (the tree), "image"
 * (disk.raw) and one per extra format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/build.h"
#include "jsonutil.h"

#define GEN_DEFAULT_UUID	"6e1f2ff1-34c8-4b6b-9d0e-1b1d2c3e4f50"

static json_object *
get(json_object *o, const char *key)
{
	json_object	*v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

/* The string member key of o (json_get_str), or def. */
static const char *
str_or(json_object *o, const char *key, const char *def)
{
	const char	*s = json_get_str(o, key);

	return s != NULL ? s : def;
}

static json_object *
str(const char *s)
{
	return json_object_new_string(s);
}

static json_object *
stage(const char *type, json_object *options, json_object *inputs)
{
	json_object	*s = json_object_new_object();

	json_object_object_add(s, "type", str(type));
	json_object_object_add(s, "options", options ? options :
	    json_object_new_object());
	if (inputs != NULL)
		json_object_object_add(s, "inputs", inputs);
	return s;
}

/* An org.osbuild.files input of one file of an earlier pipeline. */
static json_object *
file_input(const char *name, const char *pipeline, const char *file)
{
	json_object	*in = json_object_new_object(), *refs, *o, *i;
	char		*ref = xasprintf("name:%s", pipeline);

	json_object_object_add(in, "type", str("org.osbuild.files"));
	json_object_object_add(in, "origin", str("org.osbuild.pipeline"));
	refs = json_object_new_object();
	o = json_object_new_object();
	json_object_object_add(o, "file", str(file));
	json_object_object_add(refs, ref, o);
	json_object_object_add(in, "references", refs);
	i = json_object_new_object();
	json_object_object_add(i, name, in);
	free(ref);
	return i;
}

static json_object *
pipeline(const char *name, json_object *stages)
{
	json_object	*p = json_object_new_object();

	json_object_object_add(p, "name", str(name));
	json_object_object_add(p, "stages", stages);
	return p;
}

/*
 * The package list (a new reference): package_specs[set] or the flattened
 * transactions[set] of 2026 servers; the first set when none is named.
 */
static json_object *
package_list(json_object *dep, const char *want, char *why, size_t whylen)
{
	json_object	*specs, *v;

	if ((specs = get(dep, "package_specs")) != NULL &&
	    json_object_is_type(specs, json_type_object)) {
		if (want != NULL)
			return json_object_get(get(specs, want));
		json_object_object_foreach(specs, k, val) {
			(void)k;
			return json_object_get(val);
		}
	}
	if ((specs = get(dep, "transactions")) != NULL &&
	    json_object_is_type(specs, json_type_object)) {
		json_object_object_foreach(specs, k, val) {
			if (want != NULL && strcmp(k, want) != 0)
				continue;
			v = json_object_new_array();
			for (size_t i = 0; i < json_object_array_length(val);
			    i++) {
				json_object *t = json_object_array_get_idx(val,
				    i);

				for (size_t j = 0; j <
				    json_object_array_length(t); j++)
					json_object_array_add(v,
					    json_object_get(
					    json_object_array_get_idx(t, j)));
			}
			return v;
		}
	}
	snprintf(why, whylen, "no package_specs or transactions%s%s",
	    want ? " for " : "", want ? want : "");
	return NULL;
}

static json_object *
os_stages(json_object *req, json_object *pkgs, json_object *sources,
    const char *uuid, char *why, size_t whylen)
{
	json_object	*stages = json_object_new_array(), *opts, *in, *refs;
	json_object	*cust = get(req, "customizations"), *v;
	size_t		 i, n = json_object_array_length(pkgs);

	refs = json_object_new_array();
	for (i = 0; i < n; i++) {
		json_object *p = json_object_array_get_idx(pkgs, i);
		const char *sum = json_get_str(p, "checksum");
		const char *url = json_get_str(p, "remote_location");

		if (url == NULL && (v = json_get_arr(p, "remote_locations")) != NULL &&
		    json_object_array_length(v) > 0)
			url = json_object_get_string(
			    json_object_array_get_idx(v, 0));
		if (sum == NULL || url == NULL) {
			snprintf(why, whylen, "package %zu (%s) has no "
			    "checksum or remote_location", i,
			    str_or(p, "name", "?"));
			json_object_put(stages);
			json_object_put(refs);
			return NULL;
		}
		json_object_object_add(sources, sum, str(url));
		json_object_array_add(refs, str(sum));
	}
	opts = json_object_new_object();
	json_object_object_add(opts, "suite", str(json_get_str(req, "suite") ?
	    json_get_str(req, "suite") : "bookworm"));
	/* A foreign architecture's tree: mmdebstrap runs its maintainer
	 * scripts through qemu-user (binfmt_misc). */
	if (json_get_str(req, "arch") != NULL &&
	    strcmp(json_get_str(req, "arch"), "aarch64") == 0)
		json_object_object_add(opts, "architecture", str("arm64"));
	if (json_get_str(req, "apt_sources") != NULL)
		json_object_object_add(opts, "apt_sources",
		    str(json_get_str(req, "apt_sources")));
	if ((v = get(req, "dpkg_opts")) != NULL)
		json_object_object_add(opts, "dpkg_opts", json_object_get(v));
	if ((v = get(req, "setup_files")) != NULL)
		json_object_object_add(opts, "setup_files",
		    json_object_get(v));
	in = json_object_new_object();
	{
		json_object *pk = json_object_new_object();

		json_object_object_add(pk, "type", str("org.osbuild.files"));
		json_object_object_add(pk, "origin",
		    str("org.osbuild.source"));
		json_object_object_add(pk, "references", refs);
		json_object_object_add(in, "packages", pk);
	}
	json_object_array_add(stages, stage("io.ib.debian.install", opts, in));

	if (json_get_str(cust, "hostname") != NULL) {
		opts = json_object_new_object();
		json_object_object_add(opts, "hostname",
		    str(json_get_str(cust, "hostname")));
		json_object_array_add(stages, stage("org.osbuild.hostname",
		    opts, NULL));
	}
	if ((v = json_get_arr(cust, "user")) != NULL &&
	    json_object_array_length(v) > 0) {
		json_object *users = json_object_new_object();

		for (i = 0; i < json_object_array_length(v); i++) {
			json_object *u = json_object_array_get_idx(v, i);
			json_object *o = json_object_new_object(), *g;
			static const char *const keys[] = { "key",
			    "password", "description", "home", "shell" };

			for (size_t k = 0; k < nitems(keys); k++)
				if (json_get_str(u, keys[k]) != NULL)
					json_object_object_add(o, keys[k],
					    str(json_get_str(u, keys[k])));
			if ((g = get(u, "groups")) != NULL)
				json_object_object_add(o, "groups",
				    json_object_get(g));
			if ((g = get(u, "uid")) != NULL)
				json_object_object_add(o, "uid",
				    json_object_get(g));
			if (json_get_str(u, "name") != NULL)
				json_object_object_add(users,
				    json_get_str(u, "name"), o);
			else
				json_object_put(o);
		}
		opts = json_object_new_object();
		json_object_object_add(opts, "users", users);
		json_object_array_add(stages, stage("org.osbuild.users", opts,
		    NULL));
	}
	if ((v = json_get_arr(cust, "files")) != NULL &&
	    json_object_array_length(v) > 0) {
		json_object *files = json_object_new_array();

		for (i = 0; i < json_object_array_length(v); i++) {
			json_object *f = json_object_array_get_idx(v, i);
			json_object *o = json_object_new_object();

			json_object_object_add(o, "path",
			    str(str_or(f, "path", "")));
			json_object_object_add(o, "content",
			    str(str_or(f, "data", "")));
			if (json_get_str(f, "mode") != NULL)
				json_object_object_add(o, "mode",
				    str(json_get_str(f, "mode")));
			json_object_array_add(files, o);
		}
		opts = json_object_new_object();
		json_object_object_add(opts, "files", files);
		json_object_array_add(stages, stage("io.ib.files", opts, NULL));
	}
	if ((v = get(cust, "services")) != NULL) {
		json_object *e = get(v, "enabled"), *d = get(v, "disabled");

		opts = json_object_new_object();
		if (e != NULL)
			json_object_object_add(opts, "enabled_services",
			    json_object_get(e));
		if (d != NULL)
			json_object_object_add(opts, "disabled_services",
			    json_object_get(d));
		json_object_array_add(stages, stage("org.osbuild.systemd",
		    opts, NULL));
	}
	if ((v = get(cust, "cloud_init")) != NULL) {
		opts = json_object_new_object();
		json_object_object_add(opts, "filename",
		    str("99-ib-build.cfg"));
		json_object_object_add(opts, "config", json_object_get(v));
		json_object_array_add(stages, stage("org.osbuild.cloud-init",
		    opts, NULL));
	}
	{
		json_object *fss = json_object_new_array();
		json_object *fs = json_object_new_object();

		json_object_object_add(fs, "uuid", str(uuid));
		json_object_object_add(fs, "path", str("/"));
		json_object_object_add(fs, "vfs_type", str("ext4"));
		json_object_object_add(fs, "options", str("defaults"));
		json_object_object_add(fs, "passno", json_object_new_int(1));
		json_object_array_add(fss, fs);
		opts = json_object_new_object();
		json_object_object_add(opts, "filesystems", fss);
		json_object_array_add(stages, stage("org.osbuild.fstab", opts,
		    NULL));
	}
	opts = json_object_new_object();
	json_object_object_add(opts, "root_fs_uuid", str(uuid));
	v = get(cust, "kernel");
	json_object_object_add(opts, "kernel_opts", str(str_or(v, "append",
	    "")));
	json_object_array_add(stages, stage("org.osbuild.kernel-cmdline", opts,
	    NULL));
	return stages;
}

/* A pipeline turning disk.raw into one more format; NULL if unknown. */
static json_object *
format_pipeline(const char *f)
{
	json_object	*opts = json_object_new_object(), *fmt, *st;
	const char	*name, *file, *type = "org.osbuild.qemu";

	fmt = json_object_new_object();
	if (strcmp(f, "qcow2") == 0) {
		name = "qcow2", file = "disk.qcow2";
		json_object_object_add(fmt, "type", str("qcow2"));
		json_object_object_add(fmt, "compat", str("1.1"));
		/* A fifth of zlib's time; read by qemu 5.1 and later. */
		json_object_object_add(fmt, "compression_type", str("zstd"));
	} else if (strcmp(f, "vmdk") == 0) {
		name = "vmdk", file = "disk.vmdk";
		json_object_object_add(fmt, "type", str("vmdk"));
		json_object_object_add(fmt, "subformat",
		    str("streamOptimized"));
	} else if (strcmp(f, "vhd") == 0) {
		name = "vpc", file = "disk.vhd";
		json_object_object_add(fmt, "type", str("vpc"));
		json_object_object_add(fmt, "subformat", str("fixed"));
		json_object_object_add(fmt, "force_size",
		    json_object_new_boolean(1));
	} else if (strcmp(f, "raw.xz") == 0) {
		name = "xz", file = "disk.raw.xz", type = "org.osbuild.xz";
	} else if (strcmp(f, "raw.zst") == 0) {
		name = "zstd", file = "disk.raw.zst", type = "org.osbuild.zstd";
	} else {
		json_object_put(opts);
		json_object_put(fmt);
		return NULL;
	}
	json_object_object_add(opts, "filename", str(file));
	if (strcmp(type, "org.osbuild.qemu") == 0) {
		json_object_object_add(opts, "format", fmt);
		st = stage(type, opts, file_input("image", "image",
		    "disk.raw"));
	} else {
		json_object_put(fmt);
		st = stage(type, opts, file_input("file", "image",
		    "disk.raw"));
	}
	fmt = json_object_new_array();
	json_object_array_add(fmt, st);
	return pipeline(name, fmt);
}

int
manifest_generate(void)
{
	struct json_tokener	*tok;
	json_object		*req = NULL, *man = NULL, *pipes, *sources;
	json_object		*curl, *pkgs = NULL, *img, *v, *opts, *st, *in;
	char			 why[512], *text = NULL;
	const char		*uuid, *boot_mode, *arch;
	struct buf		 b;
	char			 chunk[65536];
	size_t			 n, i;
	int			 ret = 1;

	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
		buf_add(&b, chunk, n);
		if (b.len > IB_MANIFEST_MAX) {
			fprintf(stderr, "manifest-gen: request too large\n");
			goto cleanup;
		}
	}
	text = buf_release(&b);
	tok = json_tokener_new();
	req = json_tokener_parse_ex(tok, text, (int)strlen(text));
	json_tokener_free(tok);
	if (req == NULL || !json_object_is_type(req, json_type_object)) {
		fprintf(stderr, "manifest-gen: the request is not a JSON "
		    "object\n");
		goto cleanup;
	}
	pkgs = package_list(get(req, "depsolve"), json_get_str(req,
	    "package_set"), why, sizeof(why));
	if (pkgs == NULL || !json_object_is_type(pkgs, json_type_array) ||
	    json_object_array_length(pkgs) == 0) {
		fprintf(stderr, "manifest-gen: %s\n", pkgs ? "empty package "
		    "set" : why);
		goto cleanup;
	}
	img = get(req, "image");
	uuid = str_or(img, "uuid", GEN_DEFAULT_UUID);
	/* arch: x86_64 (the default) or aarch64, which boots only with
	 * UEFI. */
	arch = str_or(req, "arch", "x86_64");
	if (strcmp(arch, "x86_64") != 0 && strcmp(arch, "aarch64") != 0) {
		fprintf(stderr, "manifest-gen: arch is not x86_64 or "
		    "aarch64\n");
		goto cleanup;
	}
	boot_mode = str_or(img, "boot_mode", strcmp(arch, "aarch64") == 0 ?
	    "uefi" : "legacy");
	if (strcmp(boot_mode, "legacy") != 0 && strcmp(boot_mode, "uefi") !=
	    0 && strcmp(boot_mode, "hybrid") != 0) {
		fprintf(stderr, "manifest-gen: image.boot_mode is not legacy, "
		    "uefi or hybrid\n");
		goto cleanup;
	}
	if (strcmp(arch, "aarch64") == 0 && strcmp(boot_mode, "uefi") != 0) {
		fprintf(stderr, "manifest-gen: aarch64 images boot only with "
		    "UEFI (image.boot_mode uefi)\n");
		goto cleanup;
	}

	man = json_object_new_object();
	json_object_object_add(man, "version", str("2"));
	pipes = json_object_new_array();
	json_object_object_add(man, "pipelines", pipes);
	sources = json_object_new_object();
	curl = json_object_new_object();
	json_object_object_add(sources, "items", curl);
	v = json_object_new_object();
	json_object_object_add(v, "org.osbuild.curl", sources);
	json_object_object_add(man, "sources", v);

	if ((st = os_stages(req, pkgs, curl, uuid, why, sizeof(why))) ==
	    NULL) {
		fprintf(stderr, "manifest-gen: %s\n", why);
		goto cleanup;
	}
	json_object_array_add(pipes, pipeline("os", st));

	opts = json_object_new_object();
	json_object_object_add(opts, "filename", str("disk.raw"));
	json_object_object_add(opts, "uuid", str(uuid));
	if ((v = get(img, "size")) != NULL)
		json_object_object_add(opts, "size", json_object_get(v));
	if (strcmp(boot_mode, "legacy") != 0) {
		/* UEFI needs GRUB's EFI modules in the tree: the request's
		 * package set names grub-efi-amd64-bin. */
		json_object_object_add(opts, "partition_table", str("gpt"));
		json_object_object_add(opts, "boot_mode", str(boot_mode));
		if (strcmp(arch, "x86_64") != 0)
			json_object_object_add(opts, "arch", str(arch));
		/* shim-signed and grub-efi-amd64-signed in the set. */
		if ((v = get(img, "secure_boot")) != NULL &&
		    json_object_get_boolean(v))
			json_object_object_add(opts, "secure_boot",
			    json_object_new_boolean(1));
	}
	in = json_object_new_object();
	{
		json_object *t = json_object_new_object(), *r;

		json_object_object_add(t, "type", str("org.osbuild.tree"));
		json_object_object_add(t, "origin",
		    str("org.osbuild.pipeline"));
		r = json_object_new_array();
		json_object_array_add(r, str("name:os"));
		json_object_object_add(t, "references", r);
		json_object_object_add(in, "tree", t);
	}
	st = json_object_new_array();
	json_object_array_add(st, stage("io.ib.disk", opts, in));
	json_object_array_add(pipes, pipeline("image", st));

	v = get(img, "formats");
	for (i = 0; v != NULL && i < json_object_array_length(v); i++) {
		const char *f = json_object_get_string(
		    json_object_array_get_idx(v, i));
		json_object *p;

		if (f != NULL && strcmp(f, "raw") == 0)
			continue;	/* the image pipeline itself */
		if (f == NULL || (p = format_pipeline(f)) == NULL) {
			fprintf(stderr, "manifest-gen: unknown format %s (raw, "
			    "qcow2, vmdk, vhd, raw.xz, raw.zst)\n",
			    f ? f : "?");
			goto cleanup;
		}
		json_object_array_add(pipes, p);
	}
	printf("%s\n", json_object_to_json_string_ext(man,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	ret = 0;
cleanup:
	json_object_put(pkgs);
	json_object_put(man);
	json_object_put(req);
	buf_free(&b);
	free(text);
	return ret;
}
