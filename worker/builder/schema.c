/*
 * The schema checker (see schema.h): validation errors with their JSON
 * paths, and the field tables stage options are checked against.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "builder/schema.h"
#include "util.h"

void
verr_add(json_object *errors, json_object *path, const char *fmt, ...)
{
	json_object	*e, *p;
	va_list		 ap;
	char		*msg;
	size_t		 i, n;

	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	e = json_object_new_object();
	json_object_object_add(e, "message", json_object_new_string(msg));
	p = json_object_new_array();
	n = path ? json_object_array_length(path) : 0;
	for (i = 0; i < n; i++)
		json_object_array_add(p, json_object_get(
		    json_object_array_get_idx(path, i)));
	json_object_object_add(e, "path", p);
	json_object_array_add(errors, e);
	free(msg);
}

static json_object *
path_copy(json_object *path)
{
	json_object	*p = json_object_new_array();
	size_t		 i, n;

	n = path ? json_object_array_length(path) : 0;
	for (i = 0; i < n; i++)
		json_object_array_add(p, json_object_get(
		    json_object_array_get_idx(path, i)));
	return p;
}

json_object *
path_key(json_object *path, const char *key)
{
	json_object	*p = path_copy(path);

	json_object_array_add(p, json_object_new_string(key));
	return p;
}

json_object *
path_idx(json_object *path, int idx)
{
	json_object	*p = path_copy(path);

	json_object_array_add(p, json_object_new_int(idx));
	return p;
}

void
schema_only_keys(json_object *o, const char *const *allowed,
    json_object *path, json_object *errors)
{
	size_t	 i;

	json_object_object_foreach(o, k, v) {
		(void)v;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(allowed[i], k) == 0)
				break;
		if (allowed[i] == NULL)
			verr_add(errors, path, "Additional properties are not "
			    "allowed ('%s' was unexpected)", k);
	}
}

const char *
schema_type_name(json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_null: return "null";
	case json_type_boolean: return "boolean";
	case json_type_int: return "integer";
	case json_type_double: return "number";
	case json_type_string: return "string";
	case json_type_array: return "array";
	case json_type_object: return "object";
	}
	return "?";
}

/*
 * A string holding a NUL is refused: C reads it shorter than it is, so a
 * name could pass a check with its tail hidden (and the stages read their
 * options with json_get_str, which takes such a string for absent).
 * key: the member's name under path, or NULL for path itself.
 */
static int
nul_in(json_object *v, json_object *path, const char *key,
    json_object *errors)
{
	json_object	*p;

	if (!json_object_is_type(v, json_type_string) ||
	    strlen(json_object_get_string(v)) ==
	    (size_t)json_object_get_string_len(v))
		return 0;
	p = key != NULL ? path_key(path, key) : json_object_get(path);
	verr_add(errors, p, "%s contains a NUL character",
	    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	json_object_put(p);
	return 1;
}

json_object *
schema_member(json_object *o, const char *key, json_type t, int required,
    json_object *path, json_object *errors)
{
	json_object	*v;

	if (!json_object_object_get_ex(o, key, &v)) {
		if (required)
			verr_add(errors, path, "'%s' is a required property",
			    key);
		return NULL;
	}
	if (json_object_get_type(v) != t) {
		json_object *p = path_key(path, key);

		verr_add(errors, p, "%s is not of type '%s'",
		    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
		    t == json_type_string ? "string" : t == json_type_array ?
		    "array" : t == json_type_object ? "object" : "integer");
		json_object_put(p);
		return NULL;
	}
	if (nul_in(v, path, key, errors))
		return NULL;
	return v;
}

/* ---- field tables ---- */

static int
type_ok(json_object *v, enum ftype t)
{
	switch (t) {
	case F_STR:
		return json_object_is_type(v, json_type_string);
	case F_INT:
		return json_object_is_type(v, json_type_int);
	case F_NUM:
		return json_object_is_type(v, json_type_int) ||
		    json_object_is_type(v, json_type_double);
	case F_BOOL:
		return json_object_is_type(v, json_type_boolean);
	case F_SIZE:
		return json_object_is_type(v, json_type_int) ||
		    json_object_is_type(v, json_type_string);
	case F_STRARR:
	case F_OBJARR:
		return json_object_is_type(v, json_type_array);
	case F_OBJ:
	case F_ANYOBJ:
	case F_OBJMAP:
		return json_object_is_type(v, json_type_object);
	}
	return 0;
}

static const char *
ftype_name(enum ftype t)
{
	switch (t) {
	case F_STR: return "string";
	case F_INT: return "integer";
	case F_NUM: return "number";
	case F_BOOL: return "boolean";
	case F_SIZE: return "integer or string";
	case F_STRARR: case F_OBJARR: return "array";
	default: return "object";
	}
}

static void
check_value(json_object *v, const struct schema_field *f, json_object *path,
    json_object *errors)
{
	size_t	 i, n;

	if (!type_ok(v, f->type)) {
		verr_add(errors, path, "%s is not of type '%s'",
		    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN),
		    ftype_name(f->type));
		return;
	}
	if (nul_in(v, path, NULL, errors))
		return;
	switch (f->type) {
	case F_STRARR:
	case F_OBJARR:
		n = json_object_array_length(v);
		for (i = 0; i < n; i++) {
			json_object *e = json_object_array_get_idx(v, i);
			json_object *p = path_idx(path, (int)i);

			if (f->type == F_STRARR &&
			    !json_object_is_type(e, json_type_string))
				verr_add(errors, p, "%s is not of type "
				    "'string'", json_object_to_json_string_ext(
				    e, JSON_C_TO_STRING_PLAIN));
			else if (f->type == F_STRARR)
				(void)nul_in(e, p, NULL, errors);
			else if (f->type == F_OBJARR) {
				if (!json_object_is_type(e, json_type_object))
					verr_add(errors, p, "%s is not of "
					    "type 'object'",
					    json_object_to_json_string_ext(e,
					    JSON_C_TO_STRING_PLAIN));
				else
					schema_check_fields(e, f->sub, p,
					    errors);
			}
			json_object_put(p);
		}
		break;
	case F_OBJ:
		schema_check_fields(v, f->sub, path, errors);
		break;
	case F_OBJMAP: {
		json_object_object_foreach(v, k, e) {
			json_object *p = path_key(path, k);

			if (!json_object_is_type(e, json_type_object))
				verr_add(errors, p, "%s is not of type "
				    "'object'", json_object_to_json_string_ext(
				    e, JSON_C_TO_STRING_PLAIN));
			else
				schema_check_fields(e, f->sub, p, errors);
			json_object_put(p);
		}
		break;
	}
	default:
		break;
	}
}

void
schema_check_fields(json_object *o, const struct schema_field *fields,
    json_object *path, json_object *errors)
{
	const struct schema_field	*f;
	json_object		*v;

	json_object_object_foreach(o, k, val) {
		(void)val;
		for (f = fields; f->name != NULL; f++)
			if (strcmp(f->name, k) == 0)
				break;
		if (f->name == NULL)
			verr_add(errors, path, "Additional properties are not "
			    "allowed ('%s' was unexpected)", k);
	}
	for (f = fields; f->name != NULL; f++) {
		if (!json_object_object_get_ex(o, f->name, &v)) {
			if (f->required)
				verr_add(errors, path, "'%s' is a required "
				    "property", f->name);
			continue;
		}
		{
			json_object *p = path_key(path, f->name);

			check_value(v, f, p, errors);
			json_object_put(p);
		}
	}
}

int64_t
size_option(json_object *v)
{
	const char		*s;
	char			*end;
	unsigned long long	 n;
	int			 shift = 0;

	if (v == NULL)
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		n = (unsigned long long)json_object_get_int64(v);
		return json_object_get_int64(v) > 0 && n <= SIZE_OPTION_MAX ?
		    (int64_t)n : -1;
	}
	if (!json_object_is_type(v, json_type_string))
		return -1;
	s = json_object_get_string(v);
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	}
	if (*end != '\0' || n == 0 || n > (SIZE_OPTION_MAX >> shift))
		return -1;
	return (int64_t)(n << shift);
}
