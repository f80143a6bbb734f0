/*
 * schema.c: the errors ib-build reports for a bad manifest, each with the
 * JSON path of the value, as osbuild's schema check reports them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "builder/schema.h"

/* The n-th error as "message @ path" (path as plain JSON). */
static const char *
err(json_object *errors, size_t n, char *s, size_t len)
{
	json_object	*e = json_object_array_get_idx(errors, n), *m, *p;

	assert_non_null(e);
	assert_true(json_object_object_get_ex(e, "message", &m));
	assert_true(json_object_object_get_ex(e, "path", &p));
	snprintf(s, len, "%s @ %s", json_object_get_string(m),
	    json_object_to_json_string_ext(p, JSON_C_TO_STRING_PLAIN));
	return s;
}

static void
test_paths(void **state)
{
	json_object	*errors = json_object_new_array();
	json_object	*root = json_object_new_array(), *a, *b;
	char		 s[256];

	(void)state;
	a = path_key(root, "pipelines");
	b = path_idx(a, 2);
	verr_add(errors, b, "bad %d", 7);
	/* The error keeps a copy: later changes to b do not reach it. */
	json_object_array_add(b, json_object_new_string("later"));
	verr_add(errors, NULL, "top");
	assert_int_equal(json_object_array_length(errors), 2);
	assert_string_equal(err(errors, 0, s, sizeof(s)),
	    "bad 7 @ [\"pipelines\",2]");
	assert_string_equal(err(errors, 1, s, sizeof(s)), "top @ []");
	/* Neither path_key nor path_idx changes its argument. */
	assert_int_equal(json_object_array_length(root), 0);
	assert_int_equal(json_object_array_length(a), 1);
	json_object_put(a);
	json_object_put(b);
	json_object_put(root);
	json_object_put(errors);
}

static void
test_member_and_keys(void **state)
{
	static const char *const allowed[] = { "name", "n", NULL };
	json_object	*errors = json_object_new_array();
	json_object	*path = json_object_new_array();
	json_object	*o = json_tokener_parse("{\"name\":\"x\",\"n\":1,"
	    "\"extra\":null}");
	char		 s[256];

	(void)state;
	assert_non_null(schema_member(o, "name", json_type_string, 1, path,
	    errors));
	assert_int_equal(json_object_array_length(errors), 0);
	assert_null(schema_member(o, "n", json_type_string, 1, path,
	    errors));
	assert_null(schema_member(o, "gone", json_type_string, 1, path,
	    errors));
	assert_null(schema_member(o, "opt", json_type_object, 0, path,
	    errors));
	schema_only_keys(o, allowed, path, errors);
	assert_int_equal(json_object_array_length(errors), 3);
	assert_string_equal(err(errors, 0, s, sizeof(s)),
	    "1 is not of type 'string' @ [\"n\"]");
	assert_string_equal(err(errors, 1, s, sizeof(s)),
	    "'gone' is a required property @ []");
	assert_string_equal(err(errors, 2, s, sizeof(s)),
	    "Additional properties are not allowed ('extra' was "
	    "unexpected) @ []");
	assert_string_equal(schema_type_name(o), "object");
	json_object_put(o);
	json_object_put(path);
	json_object_put(errors);
}

static const struct schema_field item_fields[] = {
	{ "path", F_STR, 1, NULL },
	{ "size", F_SIZE, 0, NULL },
	{ NULL, 0, 0, NULL }
};

static const struct schema_field top_fields[] = {
	{ "items", F_OBJARR, 1, item_fields },
	{ "tags", F_STRARR, 0, NULL },
	{ "byname", F_OBJMAP, 0, item_fields },
	{ NULL, 0, 0, NULL }
};

static void
test_fields(void **state)
{
	json_object	*errors = json_object_new_array();
	json_object	*path = json_tokener_parse("[\"options\"]");
	json_object	*o;
	char		 s[256];

	(void)state;
	o = json_tokener_parse("{\"items\":[{\"path\":\"/a\",\"size\":\"1G\"},"
	    "{\"size\":true},3],\"tags\":[\"a\",1],\"byname\":{\"k\":"
	    "{\"path\":2}}}");
	schema_check_fields(o, top_fields, path, errors);
	assert_int_equal(json_object_array_length(errors), 5);
	assert_string_equal(err(errors, 0, s, sizeof(s)),
	    "'path' is a required property @ [\"options\",\"items\",1]");
	assert_string_equal(err(errors, 1, s, sizeof(s)),
	    "true is not of type 'integer or string' @ "
	    "[\"options\",\"items\",1,\"size\"]");
	assert_string_equal(err(errors, 2, s, sizeof(s)),
	    "3 is not of type 'object' @ [\"options\",\"items\",2]");
	assert_string_equal(err(errors, 3, s, sizeof(s)),
	    "1 is not of type 'string' @ [\"options\",\"tags\",1]");
	assert_string_equal(err(errors, 4, s, sizeof(s)),
	    "2 is not of type 'string' @ "
	    "[\"options\",\"byname\",\"k\",\"path\"]");
	json_object_put(o);

	/* A NUL hides a string's tail from C: refused wherever it is. */
	json_object_put(errors);
	errors = json_object_new_array();
	o = json_tokener_parse("{\"items\":[{\"path\":\"/a\\u0000/b\"}],"
	    "\"tags\":[\"ok\",\"x\\u0000\"]}");
	assert_non_null(o);
	schema_check_fields(o, top_fields, path, errors);
	assert_int_equal(json_object_array_length(errors), 2);
	assert_string_equal(err(errors, 0, s, sizeof(s)),
	    "\"\\/a\\u0000\\/b\" contains a NUL character @ "
	    "[\"options\",\"items\",0,\"path\"]");
	assert_string_equal(err(errors, 1, s, sizeof(s)),
	    "\"x\\u0000\" contains a NUL character @ "
	    "[\"options\",\"tags\",1]");
	assert_null(schema_member(json_object_array_get_idx(
	    json_object_object_get(o, "items"), 0), "path", json_type_string,
	    1, path, errors));
	assert_int_equal(json_object_array_length(errors), 3);
	json_object_put(o);

	/* A well-formed object: no error. */
	json_object_put(errors);
	errors = json_object_new_array();
	o = json_tokener_parse("{\"items\":[{\"path\":\"/a\",\"size\":2}]}");
	schema_check_fields(o, top_fields, path, errors);
	assert_int_equal(json_object_array_length(errors), 0);
	json_object_put(o);
	json_object_put(path);
	json_object_put(errors);
}

static int64_t
size_of(const char *json)
{
	json_object	*v = json_tokener_parse(json);
	int64_t		 n;

	assert_non_null(v);
	n = size_option(v);
	json_object_put(v);
	return n;
}

static void
test_size_option(void **state)
{
	assert_int_equal(size_option(NULL), 0);
	assert_int_equal(size_of("4096"), 4096);
	assert_int_equal(size_of("\"3K\""), 3 << 10);
	assert_int_equal(size_of("\"200M\""), INT64_C(200) << 20);
	assert_int_equal(size_of("\"1048576G\""), INT64_C(1) << 50);
	/* Past 1 PiB, or past what a shift can hold: refused, not wrapped
	 * (an overflowing shift was undefined and gave a small disk). */
	assert_int_equal(size_of("\"1048577G\""), -1);
	assert_int_equal(size_of("\"99999999999999999999G\""), -1);
	assert_int_equal(size_of("1125899906842625"), -1);
	assert_int_equal(size_of("-5"), -1);
	assert_int_equal(size_of("0"), -1);
	assert_int_equal(size_of("\"0M\""), -1);
	assert_int_equal(size_of("\"12X\""), -1);
	assert_int_equal(size_of("\"12MB\""), -1);
	assert_int_equal(size_of("\"-1G\""), -1);
	assert_int_equal(size_of("\" 1G\""), -1);
	assert_int_equal(size_of("1.5"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_member_and_keys),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_size_option),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
