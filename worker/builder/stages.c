/*
 * The stages ib-build knows: one row each (type, option check, runner),
 * the option checks written as small field tables (schema.h) in the
 * spirit of the JSON schemas osbuild ships with its stages.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/build.h"
#include "builder/schema.h"
#include "jsonutil.h"

/* Every input name in want is required and no other is allowed. */
static void
check_inputs(json_object *inputs, const char *const *want, json_object *path,
    json_object *errors)
{
	json_object	*ip = path_key(path, "inputs"), *v;
	size_t		 i;

	/* path is ".../options": inputs sit beside it. */
	json_object_array_del_idx(ip, json_object_array_length(ip) - 2, 1);
	for (i = 0; want[i] != NULL; i++)
		if (inputs == NULL ||
		    !json_object_object_get_ex(inputs, want[i], &v))
			verr_add(errors, ip, "'%s' is a required property",
			    want[i]);
	if (inputs != NULL)
		schema_only_keys(inputs, want, ip, errors);
	json_object_put(ip);
}

static void
check_filename(json_object *o, json_object *path, json_object *errors)
{
	const char	*f = json_get_str(o, "filename");
	json_object	*p;

	if (f == NULL || name_is_safe(f))
		return;
	p = path_key(path, "filename");
	verr_add(errors, p, "'%s' is not a safe file name", f);
	json_object_put(p);
}

static void
check_abs_path(const char *s, json_object *path, json_object *errors)
{
	if (s == NULL)
		return;
	if (s[0] != '/' || strstr(s, "/../") != NULL ||
	    (strlen(s) >= 3 && strcmp(s + strlen(s) - 3, "/..") == 0) ||
	    strlen(s) > 4096)
		verr_add(errors, path, "'%s' is not an absolute path without "
		    "'..'", s);
}

/* ---- per stage ---- */

static const struct schema_field setup_file_fields[] = {
	{ "path", F_STR, 1, NULL },
	{ "content", F_STR, 1, NULL },
	{ "mode", F_STR, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct schema_field install_fields[] = {
	{ "suite", F_STR, 0, NULL },
	{ "architecture", F_STR, 0, NULL },
	{ "apt_sources", F_STR, 0, NULL },
	{ "dpkg_opts", F_STRARR, 0, NULL },
	{ "setup_files", F_OBJARR, 0, setup_file_fields },
	{ NULL, 0, 0, NULL }
};

static void
check_mode_paths(json_object *o, const char *key, json_object *path,
    json_object *errors)
{
	json_object	*arr, *e;
	size_t		 i, n;

	if (!json_object_object_get_ex(o, key, &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return;
	n = json_object_array_length(arr);
	for (i = 0; i < n; i++) {
		json_object *p = path_key(path, key), *p2;
		const char *mode;

		p2 = path_idx(p, (int)i);
		e = json_object_array_get_idx(arr, i);
		if (json_object_is_type(e, json_type_object)) {
			check_abs_path(json_get_str(e, "path"), p2, errors);
			mode = json_get_str(e, "mode");
			if (mode != NULL && (strlen(mode) < 3 ||
			    strlen(mode) > 4 ||
			    strspn(mode, "01234567") != strlen(mode)))
				verr_add(errors, p2, "mode '%s' is not an "
				    "octal mode like \"0644\"", mode);
		}
		json_object_put(p2);
		json_object_put(p);
	}
}

static void
check_install(json_object *o, json_object *inputs, json_object *path,
    json_object *errors)
{
	static const char *const in[] = { "packages", NULL };
	json_object	*dpkg;
	const char	*s;
	size_t		 i;

	schema_check_fields(o, install_fields, path, errors);
	check_inputs(inputs, in, path, errors);
	check_mode_paths(o, "setup_files", path, errors);
	if ((s = json_get_str(o, "suite")) != NULL && (!name_is_safe(s) ||
	    s[0] == '-'))
		verr_add(errors, path, "suite '%s' is not a plain name", s);
	if ((s = json_get_str(o, "architecture")) != NULL &&
	    (!name_is_safe(s) || s[0] == '-'))
		verr_add(errors, path, "architecture '%s' is not a plain name",
		    s);
	/* Only path filters: other dpkg settings (instdir, root, admindir)
	 * could point dpkg outside the tree. */
	if ((dpkg = json_object_object_get(o, "dpkg_opts")) != NULL &&
	    json_object_is_type(dpkg, json_type_array)) {
		for (i = 0; i < json_object_array_length(dpkg); i++) {
			s = json_object_get_string(json_object_array_get_idx(
			    dpkg, i));
			if (s == NULL || strchr(s, '\n') != NULL ||
			    (strncmp(s, "path-exclude=/", 14) != 0 &&
			    strncmp(s, "path-include=/", 14) != 0))
				verr_add(errors, path, "dpkg_opts: '%s' is not "
				    "path-exclude=/... or path-include=/...",
				    s ? s : "");
		}
	}
}

static const struct schema_field hostname_fields[] = {
	{ "hostname", F_STR, 1, NULL },
	{ NULL, 0, 0, NULL }
};

static void
check_hostname(json_object *o, json_object *inputs, json_object *path,
    json_object *errors)
{
	static const char *const in[] = { NULL };
	const char	*h;

	schema_check_fields(o, hostname_fields, path, errors);
	check_inputs(inputs, in, path, errors);
	if ((h = json_get_str(o, "hostname")) != NULL && (*h == '\0' ||
	    strlen(h) > 253 || strspn(h, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") != strlen(h)))
		verr_add(errors, path, "'%s' is not a valid hostname", h);
}

static const struct schema_field user_fields[] = {
	{ "uid", F_NUM, 0, NULL },
	{ "gid", F_NUM, 0, NULL },
	{ "groups", F_STRARR, 0, NULL },
	{ "description", F_STR, 0, NULL },
	{ "home", F_STR, 0, NULL },
	{ "shell", F_STR, 0, NULL },
	{ "password", F_STR, 0, NULL },
	{ "key", F_STR, 0, NULL },
	{ "keys", F_STRARR, 0, NULL },
	{ "expiredate", F_INT, 0, NULL },
	{ "force_password_reset", F_BOOL, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct schema_field users_fields[] = {
	{ "users", F_OBJMAP, 0, user_fields },
	{ NULL, 0, 0, NULL }
};

static int
user_name_ok(const char *s)
{
	size_t	 i, n = strlen(s);

	if (n == 0 || n > 256 || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' &&
		    s[i] != '.' && s[i] != '-')
			return 0;
	return 1;
}

/*
 * A number of a user that must lie in lo..hi: checked before any
 * arithmetic (expiredate becomes days * 86400, an id an argument).
 */
static void
check_user_range(json_object *u, const char *key, double lo, double hi,
    json_object *path, json_object *errors)
{
	json_object	*v;
	double		 d;

	if (!json_object_object_get_ex(u, key, &v) ||
	    (!json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_double)))
		return;		/* check_fields reports the type */
	d = json_object_is_type(v, json_type_int) ?
	    (double)json_object_get_int64(v) : json_object_get_double(v);
	if (!(d >= lo && d <= hi) || (json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) == INT64_MAX))
		verr_add(errors, path, "%s %s is not between %.0f and %.0f",
		    key, json_object_get_string(v), lo, hi);
}

static void
check_users(json_object *o, json_object *inputs, json_object *path,
    json_object *errors)
{
	static const char *const in[] = { NULL };
	json_object	*users, *p, *up;

	schema_check_fields(o, users_fields, path, errors);
	check_inputs(inputs, in, path, errors);
	if (!json_object_object_get_ex(o, "users", &users) ||
	    !json_object_is_type(users, json_type_object))
		return;
	p = path_key(path, "users");
	json_object_object_foreach(users, name, u) {
		(void)u;
		if (!user_name_ok(name))
			verr_add(errors, p, "'%s' does not match "
			    "'^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,255}$'", name);
		check_abs_path(json_get_str(u, "home"), p, errors);
		if (!json_object_is_type(u, json_type_object))
			continue;
		up = path_key(p, name);
		check_user_range(u, "uid", 0, USER_ID_MAX, up, errors);
		check_user_range(u, "gid", 0, USER_ID_MAX, up, errors);
		check_user_range(u, "expiredate", 0, USER_EXPIRE_MAX, up,
		    errors);
		json_object_put(up);
	}
	json_object_put(p);
}

static const struct schema_field file_fields[] = {
	{ "path", F_STR, 1, NULL },
	{ "content", F_STR, 1, NULL },
	{ "mode", F_STR, 0, NULL },
	{ "uid", F_INT, 0, NULL },
	{ "gid", F_INT, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct schema_field dir_fields[] = {
	{ "path", F_STR, 1, NULL },
	{ "mode", F_STR, 0, NULL },
	{ "uid", F_INT, 0, NULL },
	{ "gid", F_INT, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct schema_field files_fields[] = {
	{ "directories", F_OBJARR, 0, dir_fields },
	{ "files", F_OBJARR, 0, file_fields },
	{ NULL, 0, 0, NULL }
};

static void
check_files(json_object *o, json_object *inputs, json_object *path,
    json_object *errors)
{
	static const char *const in[] = { NULL };

	schema_check_fields(o, files_fields, path, errors);
	check_inputs(inputs, in, path, errors);
	check_mode_paths(o, "files", path, errors);
	check_mode_paths(o, "directories", path, errors);
}

static const struct schema_field systemd_fields[] = {
	{ "enabled_services", F_STRARR, 0, NULL },
	{ "disabled_services", F_STRARR, 0, NULL },
	{ "masked_services", F_STRARR, 0, NULL },
	{ "masked_generators", F_STRARR, 0, NULL },
	{ "default_target", F_STR, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static void
check_unit_names(json_object *o, json_object *path, json_object *errors)
{
	json_object_object_foreach(o, k, v) {
		size_t i, n;

		if (json_object_is_type(v, json_type_string)) {
			if (!name_is_safe(json_object_get_string(v)) ||
			    json_object_get_string(v)[0] == '-')
				verr_add(errors, path, "'%s' is not a unit "
				    "name", json_object_get_string(v));
			continue;
		}
		if (!json_object_is_type(v, json_type_array))
			continue;
		n = json_object_array_length(v);
		for (i = 0; i < n; i++) {
			const char *u = json_object_get_string(
			    json_object_array_get_idx(v, i));

			if (u == NULL || !name_is_safe(u) || u[0] == '-')
				verr_add(errors, path, "'%s' in %s is not a "
				    "unit name", u ? u : "", k);
		}
	}
}

static void
check_systemd(json_object *o, json_object *inputs, json_object *path,
    json_object *errors)
{
	static const char *const in[] = { NULL };

	schema_check_fields(o, systemd_fields, path, errors);
	check_inputs(inputs, in, path, errors);
	check_unit_names(o, path, errors);
}

static const struct schema_field fs_fields[] = {
	{ "device", F_STR, 0, NULL },
	{ "uuid", F_STR, 0, NULL },
	{ "label", F_STR, 0, NULL },
	{ "partlabel", F_STR, 0, NULL },
	{ "path", F_STR, 1, NULL },
	{ "vfs_type", F_STR, 0, NULL },
	{ "options", F_STR, 0, NULL },
	{ "freq", F_NUM, 0, NULL },
	{ "passno", F_NUM, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct schema_field fstab_fields[] = {
	{ "filesystems", F_OBJARR, 1, fs_fields },
	{ NULL, 0, 0, NULL }
};

static void
check_fstab(json_object *o, json_object *inputs, json_object *path,
    json_object *errors)
{
	static const char *const in[] = { NULL };
	json_object	*fss;
	size_t		 i, n;

	schema_check_fields(o, fstab_fields, path, errors);
	check_inputs(inputs, in, path, errors);
	if (!json_object_object_get_ex(o, "filesystems", &fss) ||
	    !json_object_is_type(fss, json_type_array))
		return;
	n = json_object_array_length(fss);
	for (i = 0; i < n; i++) {
		json_object *fs = json_object_array_get_idx(fss, i), *v;
		int k = 0;

		if (!json_object_is_type(fs, json_type_object))
			continue;
		k += json_object_object_get_ex(fs, "device", &v);
		k += json_object_object_get_ex(fs, "uuid", &v);
		k += json_object_object_get_ex(fs, "label", &v);
		k += json_object_object_get_ex(fs, "partlabel", &v);
		if (k != 1) {
			json_object *p = path_key(path, "filesystems"), *p2;

			p2 = path_idx(p, (int)i);
			verr_add(errors, p2, "exactly one of device, uuid, "
			    "label, partlabel is required");
			json_object_put(p2);
			json_object_put(p);
		}
		json_object_object_foreach(fs, key, val) {
			const char *s = json_object_get_string(val);

			(void)key;
			if (json_object_is_type(val, json_type_string) &&
			    strpbrk(s, " \t\n") != NULL)
				verr_add(errors, path, "fstab field '%s' "
				    "contains white space", s);
		}
	}
}

static const struct schema_field cmdline_fields[] = {
	{ "root_fs_uuid", F_STR, 0, NULL },
	{ "kernel_opts", F_STR, 0, NULL },
	{ "kernel_cmdline_size", F_INT, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static void
check_cmdline(json_object *o, json_object *inputs, json_object *path,
    json_object *errors)
{
	static const char *const in[] = { NULL };
	const char	*u, *k;

	schema_check_fields(o, cmdline_fields, path, errors);
	check_inputs(inputs, in, path, errors);
	if ((u = json_get_str(o, "root_fs_uuid")) != NULL &&
	    (strlen(u) != 36 && strlen(u) != 9))
		verr_add(errors, path, "'%s' is not a file system UUID", u);
	if ((k = json_get_str(o, "kernel_opts")) != NULL && strchr(k, '\n'))
		verr_add(errors, path, "kernel_opts contains a new line");
}

static const struct schema_field cloudinit_fields[] = {
	{ "filename", F_STR, 1, NULL },
	{ "config", F_ANYOBJ, 1, NULL },
	{ NULL, 0, 0, NULL }
};

static void
check_cloud_init(json_object *o, json_object *inputs, json_object *path,
    json_object *errors)
{
	static const char *const in[] = { NULL };
	const char	*f;
	json_object	*c;
	size_t		 n;

	schema_check_fields(o, cloudinit_fields, path, errors);
	check_inputs(inputs, in, path, errors);
	if ((f = json_get_str(o, "filename")) != NULL) {
		n = strlen(f);
		if (!name_is_safe(f) || n < 5 || n > 255 ||
		    strcmp(f + n - 4, ".cfg") != 0)
			verr_add(errors, path, "'%s' does not match "
			    "'^[\\w.-]{1,251}\\.cfg$'", f);
	}
	if (json_object_object_get_ex(o, "config", &c) &&
	    json_object_is_type(c, json_type_object) &&
	    json_object_object_length(c) == 0)
		verr_add(errors, path, "{} does not have enough properties");
}

static const struct schema_field disk_fields[] = {
	{ "filename", F_STR, 1, NULL },
	{ "size", F_SIZE, 0, NULL },
	{ "partition_table", F_STR, 0, NULL },
	{ "fs_type", F_STR, 0, NULL },
	{ "label", F_STR, 0, NULL },
	{ "uuid", F_STR, 0, NULL },
	{ "bootloader", F_STR, 0, NULL },
	{ "kernel_opts", F_STR, 0, NULL },
	{ "boot_mode", F_STR, 0, NULL },
	{ "esp_size", F_SIZE, 0, NULL },
	{ "secure_boot", F_BOOL, 0, NULL },
	{ "arch", F_STR, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static void
check_enum(json_object *o, const char *key, const char *const *allowed,
    json_object *path, json_object *errors)
{
	const char	*s = json_get_str(o, key);
	size_t		 i;

	if (s == NULL)
		return;
	for (i = 0; allowed[i] != NULL; i++)
		if (strcmp(allowed[i], s) == 0)
			return;
	{
		json_object *p = path_key(path, key);

		verr_add(errors, p, "'%s' is not one of the supported values "
		    "(%s%s)", s, allowed[0], allowed[1] ? ", ..." : "");
		json_object_put(p);
	}
}

#define ESP_MIN	(INT64_C(33) << 20)

/* Checks a size option (bytes, or a string N with an optional K, M or G
 * suffix); 1 when present and valid. */
static int
check_size(json_object *o, const char *key, json_object *path,
    json_object *errors)
{
	json_object	*v;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (size_option(v) <= 0) {
		verr_add(errors, path, "%s is not a size from 1 byte to 1 PiB "
		    "(bytes, or a number with a K, M or G suffix)", key);
		return 0;
	}
	return 1;
}

static void
check_disk(json_object *o, json_object *inputs, json_object *path,
    json_object *errors)
{
	static const char *const in[] = { "tree", NULL };
	static const char *const pt[] = { "mbr", "dos", "gpt", NULL };
	static const char *const bm[] = { "legacy", "uefi", "hybrid", NULL };
	static const char *const fs[] = { "ext4", NULL };
	static const char *const bl[] = { "extlinux", "none", NULL };
	static const char *const ar[] = { "x86_64", "aarch64", NULL };
	json_object	*v;
	const char	*s;

	schema_check_fields(o, disk_fields, path, errors);
	check_inputs(inputs, in, path, errors);
	check_filename(o, path, errors);
	check_enum(o, "partition_table", pt, path, errors);
	check_enum(o, "fs_type", fs, path, errors);
	check_enum(o, "bootloader", bl, path, errors);
	check_enum(o, "boot_mode", bm, path, errors);
	check_enum(o, "arch", ar, path, errors);
	if ((s = json_get_str(o, "arch")) != NULL &&
	    strcmp(s, "aarch64") == 0 && (json_get_str(o, "boot_mode") ==
	    NULL || strcmp(json_get_str(o, "boot_mode"), "uefi") != 0))
		verr_add(errors, path, "arch aarch64 boots only with UEFI: "
		    "boot_mode uefi");
	if ((s = json_get_str(o, "arch")) != NULL &&
	    strcmp(s, "aarch64") == 0 && json_object_object_get_ex(o,
	    "secure_boot", &v) && json_object_get_boolean(v))
		verr_add(errors, path, "secure_boot is for x86_64 only");
	if ((s = json_get_str(o, "boot_mode")) != NULL &&
	    strcmp(s, "legacy") != 0 &&
	    json_get_str(o, "partition_table") != NULL &&
	    strcmp(json_get_str(o, "partition_table"), "gpt") != 0)
		verr_add(errors, path, "boot_mode '%s' needs partition_table "
		    "gpt (an EFI system partition on a GPT disk)", s);
	if (json_object_object_get_ex(o, "esp_size", &v) &&
	    ((s = json_get_str(o, "boot_mode")) == NULL ||
	    strcmp(s, "legacy") == 0))
		verr_add(errors, path, "esp_size without boot_mode uefi or "
		    "hybrid");
	if (json_object_object_get_ex(o, "secure_boot", &v) &&
	    json_object_get_boolean(v) && ((s = json_get_str(o,
	    "boot_mode")) == NULL || strcmp(s, "legacy") == 0))
		verr_add(errors, path, "secure_boot without boot_mode uefi or "
		    "hybrid");
	(void)check_size(o, "size", path, errors);
	if (check_size(o, "esp_size", path, errors) &&
	    json_object_object_get_ex(o, "esp_size", &v) &&
	    size_option(v) < ESP_MIN)
		verr_add(errors, path, "esp_size is below %d MiB, the "
		    "smallest FAT32 file system", (int)(ESP_MIN >> 20));
	if ((s = json_get_str(o, "label")) != NULL && (strlen(s) > 16 ||
	    strpbrk(s, " \t\n/") != NULL))
		verr_add(errors, path, "label '%s' is not a valid ext4 label",
		    s);
	if ((s = json_get_str(o, "uuid")) != NULL && strlen(s) != 36)
		verr_add(errors, path, "'%s' is not a UUID", s);
	if ((s = json_get_str(o, "kernel_opts")) != NULL && strchr(s, '\n'))
		verr_add(errors, path, "kernel_opts contains a new line");
}

static const struct schema_field qemu_format_fields[] = {
	{ "type", F_STR, 1, NULL },
	{ "compression", F_BOOL, 0, NULL },
	{ "compat", F_STR, 0, NULL },
	{ "compression_type", F_STR, 0, NULL },
	{ "adapter_type", F_STR, 0, NULL },
	{ "compat6", F_BOOL, 0, NULL },
	{ "subformat", F_STR, 0, NULL },
	{ "force_size", F_BOOL, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct schema_field qemu_fields[] = {
	{ "filename", F_STR, 1, NULL },
	{ "format", F_OBJ, 1, qemu_format_fields },
	{ NULL, 0, 0, NULL }
};

static void
check_qemu(json_object *o, json_object *inputs, json_object *path,
    json_object *errors)
{
	static const char *const in[] = { "image", NULL };
	static const struct {
		const char	*type;
		const char	*keys[6];
	} formats[] = {
		{ "qcow2", { "type", "compression", "compat",
		    "compression_type", NULL } },
		{ "vdi", { "type", NULL } },
		{ "vmdk", { "type", "adapter_type", "compat6", "compression",
		    "subformat", NULL } },
		{ "vpc", { "type", "force_size", "subformat", NULL } },
		{ "vhdx", { "type", NULL } },
	};
	static const char *const vmdk_sub[] = { "monolithicSparse",
	    "monolithicFlat", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat",
	    "streamOptimized", NULL };
	static const char *const vpc_sub[] = { "fixed", "dynamic", NULL };
	static const char *const codecs[] = { "zlib", "zstd", NULL };
	static const char *const adapters[] = { "ide", "lsilogic", "buslogic",
	    "legacyESX", NULL };
	json_object	*fmt, *fp;
	const char	*t;
	size_t		 i, j;

	schema_check_fields(o, qemu_fields, path, errors);
	check_inputs(inputs, in, path, errors);
	check_filename(o, path, errors);
	if (!json_object_object_get_ex(o, "format", &fmt) ||
	    (t = json_get_str(fmt, "type")) == NULL)
		return;
	fp = path_key(path, "format");
	for (i = 0; i < nitems(formats); i++)
		if (strcmp(formats[i].type, t) == 0)
			break;
	if (i == nitems(formats)) {
		verr_add(errors, fp, "'%s' is not one of ['qcow2', 'vdi', "
		    "'vmdk', 'vpc', 'vhdx']", t);
		json_object_put(fp);
		return;
	}
	json_object_object_foreach(fmt, k, v) {
		(void)v;
		for (j = 0; formats[i].keys[j] != NULL; j++)
			if (strcmp(formats[i].keys[j], k) == 0)
				break;
		if (formats[i].keys[j] == NULL)
			verr_add(errors, fp, "Additional properties are not "
			    "allowed ('%s' was unexpected)", k);
	}
	if (strcmp(t, "vmdk") == 0) {
		check_enum(fmt, "subformat", vmdk_sub, fp, errors);
		check_enum(fmt, "adapter_type", adapters, fp, errors);
	} else if (strcmp(t, "vpc") == 0)
		check_enum(fmt, "subformat", vpc_sub, fp, errors);
	check_enum(fmt, "compression_type", codecs, fp, errors);
	if ((t = json_get_str(fmt, "compat")) != NULL &&
	    strcmp(t, "0.10") != 0 && strcmp(t, "1.1") != 0)
		verr_add(errors, fp, "compat '%s' is not 0.10 or 1.1", t);
	/* qcow2 v2 has no header field for the codec. */
	if (t != NULL && strcmp(t, "0.10") == 0 &&
	    (t = json_get_str(fmt, "compression_type")) != NULL &&
	    strcmp(t, "zlib") != 0)
		verr_add(errors, fp, "compression_type %s needs compat 1.1", t);
	json_object_put(fp);
}

static const struct schema_field compress_fields[] = {
	{ "filename", F_STR, 1, NULL },
	{ NULL, 0, 0, NULL }
};

static void
check_compress(json_object *o, json_object *inputs, json_object *path,
    json_object *errors)
{
	static const char *const in[] = { "file", NULL };

	schema_check_fields(o, compress_fields, path, errors);
	check_inputs(inputs, in, path, errors);
	check_filename(o, path, errors);
}

static const struct stage_kind kinds[] = {
	{ "io.ib.debian.install", check_install, stage_debian_install, 1, 1 },
	{ "org.osbuild.hostname", check_hostname, stage_hostname, 0, 0 },
	{ "org.osbuild.users", check_users, stage_users, 0, 0 },
	{ "io.ib.files", check_files, stage_files, 0, 0 },
	{ "org.osbuild.systemd", check_systemd, stage_systemd, 0, 0 },
	{ "org.osbuild.fstab", check_fstab, stage_fstab, 0, 0 },
	{ "org.osbuild.kernel-cmdline", check_cmdline, stage_kernel_cmdline,
	    0, 0 },
	{ "org.osbuild.cloud-init", check_cloud_init, stage_cloud_init, 0, 0 },
	{ "io.ib.disk", check_disk, stage_disk, 1, 0 },
	{ "org.osbuild.qemu", check_qemu, stage_qemu, 0, 0 },
	{ "org.osbuild.xz", check_compress, stage_xz, 0, 0 },
	{ "org.osbuild.zstd", check_compress, stage_zstd, 0, 0 },
};

const struct stage_kind *
stage_kind_find(const char *type)
{
	size_t	 i;

	for (i = 0; type != NULL && i < nitems(kinds); i++)
		if (strcmp(kinds[i].type, type) == 0)
			return &kinds[i];
	return NULL;
}

const char *
stage_kind_list(void)
{
	static char	 list[1024];
	size_t		 i;

	if (list[0] != '\0')
		return list;
	for (i = 0; i < nitems(kinds); i++) {
		size_t l = strlen(list);

		snprintf(list + l, sizeof(list) - l, "%s%s", i ? ", " : "",
		    kinds[i].type);
	}
	return list;
}
