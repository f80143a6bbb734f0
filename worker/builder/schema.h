/*
 * ib-build's schema checker: the way manifest.c and the stage option
 * checks in stages.c report what is wrong with a manifest, as osbuild's
 * JSON schema check does (every error at once, each a {message, path}
 * object with the JSON path of the value), the small field tables
 * stages describe their options with, and the parser of size options.
 */
#ifndef IB_BUILD_SCHEMA_H
#define IB_BUILD_SCHEMA_H

#include <stdint.h>

#include <json-c/json.h>

/* Validation errors: {message, path}. path is a JSON array, copied. */
void		 verr_add(json_object *errors, json_object *path,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* path + one more element (a key or an index); caller puts the result. */
json_object	*path_key(json_object *path, const char *key);
json_object	*path_idx(json_object *path, int idx);

/* Reports keys of o not in allowed (NULL-terminated). */
void		 schema_only_keys(json_object *o, const char *const *allowed,
		    json_object *path, json_object *errors);
/* The JSON schema name of o's type ("object", "integer", ...); static. */
const char	*schema_type_name(json_object *o);
/*
 * Returns member key of o (borrowed) when it has type t, else NULL, with
 * an error when present but of another type, or when required and absent.
 */
json_object	*schema_member(json_object *o, const char *key, json_type t,
		    int required, json_object *path, json_object *errors);

enum ftype { F_STR, F_INT, F_NUM, F_BOOL, F_STRARR, F_OBJ, F_ANYOBJ,
	F_OBJARR, F_OBJMAP, F_SIZE };

/* One member of an object: its name, its type, whether it must be
 * there, and for objects the fields of their members. */
struct schema_field {
	const char			*name;
	enum ftype			 type;
	int				 required;
	const struct schema_field	*sub;	/* F_OBJ, F_OBJARR, F_OBJMAP */
};

/*
 * Checks o against fields (ended by a NULL name): unknown keys, required
 * ones, types, and the members of F_OBJ, F_OBJARR and F_OBJMAP values.
 */
void		 schema_check_fields(json_object *o,
		    const struct schema_field *fields, json_object *path,
		    json_object *errors);

/*
 * A size option: an integer of bytes or a string N with an optional K, M
 * or G suffix. 0 when v is NULL, -1 when it is not a size from 1 byte to
 * SIZE_OPTION_MAX (1 PiB: nothing larger is a disk, and sums stay in
 * range), else the bytes.
 */
#define SIZE_OPTION_MAX	(1ULL << 50)
int64_t	size_option(json_object *v);

#endif
