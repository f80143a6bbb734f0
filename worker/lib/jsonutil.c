/*
 * JSON member getters. See jsonutil.h.
 */
#include <stdint.h>
#include <string.h>

#include "jsonutil.h"

void
json_wipe_str(json_object *o, const char *key)
{
	json_object	*v;
	const char	*s;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return;
	/* json-c gives its string as const; it is ours to wipe. */
	s = json_object_get_string(v);
	explicit_bzero((void *)(uintptr_t)s, json_object_get_string_len(v));
}

const char *
json_get_str(json_object *o, const char *key)
{
	json_object	*v;
	const char	*s;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return NULL;
	return s;
}

int
json_get_bool(json_object *o, const char *key, int *out)
{
	json_object	*v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_boolean))
		return 0;
	*out = json_object_get_boolean(v);
	return 1;
}

json_object *
json_get_arr(json_object *o, const char *key)
{
	json_object	*v;

	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

int
json_get_int(json_object *o, const char *key, int64_t *out)
{
	json_object	*v;
	double		 d;

	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return 1;
	}
	if (!json_object_is_type(v, json_type_double))
		return 0;
	d = json_object_get_double(v);
	/* -2^63 .. 2^63 exclusive: what converts without overflow. */
	if (d != d || d < -9223372036854775808.0 ||
	    d >= 9223372036854775808.0 || d != (double)(int64_t)d)
		return 0;
	*out = (int64_t)d;
	return 1;
}

void
json_copy_str(json_object *to, const char *tokey, json_object *from,
    const char *fromkey)
{
	const char	*s = json_get_str(from, fromkey);

	if (s != NULL && *s != '\0')
		json_object_object_add(to, tokey, json_object_new_string(s));
}
