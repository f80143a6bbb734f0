/*
 * jsonutil.c: the member getters every job, target and cloud client reads
 * JSON with, on well-formed documents and on the shapes a hostile job or
 * answer can take (wrong types, no object, a NUL hidden in a string).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "jsonutil.h"

static void
test_get_str(void **state)
{
	json_object	*o;

	o = json_tokener_parse("{\"a\":\"x\",\"n\":1,\"e\":\"\","
	    "\"z\":\"ab\\u0000cd\",\"o\":{}}");
	assert_non_null(o);
	assert_string_equal(json_get_str(o, "a"), "x");
	assert_string_equal(json_get_str(o, "e"), "");
	assert_null(json_get_str(o, "n"));
	assert_null(json_get_str(o, "o"));
	assert_null(json_get_str(o, "missing"));
	/* "ab" would pass a name check that "ab\0cd" should fail. */
	assert_null(json_get_str(o, "z"));
	assert_null(json_get_str(NULL, "a"));
	assert_null(json_get_str(json_object_object_get(o, "a"), "a"));
	json_object_put(o);
}

static void
test_get_bool(void **state)
{
	json_object	*o;
	int		 b;

	o = json_tokener_parse("{\"t\":true,\"f\":false,\"s\":\"true\"}");
	assert_non_null(o);
	b = 7;
	assert_int_equal(json_get_bool(o, "t", &b), 1);
	assert_int_equal(b, 1);
	assert_int_equal(json_get_bool(o, "f", &b), 1);
	assert_int_equal(b, 0);
	b = 7;
	assert_int_equal(json_get_bool(o, "s", &b), 0);
	assert_int_equal(json_get_bool(o, "missing", &b), 0);
	assert_int_equal(json_get_bool(NULL, "t", &b), 0);
	assert_int_equal(b, 7);
	json_object_put(o);
}

static void
test_copy_str(void **state)
{
	json_object	*from, *to;

	from = json_tokener_parse("{\"a\":\"x\",\"e\":\"\",\"n\":1}");
	assert_non_null(from);
	to = json_object_new_object();
	json_copy_str(to, "b", from, "a");
	json_copy_str(to, "e", from, "e");
	json_copy_str(to, "n", from, "n");
	json_copy_str(to, "m", from, "missing");
	assert_string_equal(json_get_str(to, "b"), "x");
	assert_int_equal(json_object_object_length(to), 1);
	json_object_put(from);
	json_object_put(to);
}

static void
test_wipe_str(void **state)
{
	json_object	*o;
	const char	*tok;

	o = json_tokener_parse("{\"access_token\":\"abc\",\"n\":5}");
	assert_non_null(o);
	tok = json_object_get_string(json_object_object_get(o,
	    "access_token"));
	json_wipe_str(o, "access_token");
	assert_int_equal(tok[0], '\0');
	assert_int_equal(tok[2], '\0');
	/* Not a string, missing, no object: left alone. */
	json_wipe_str(o, "n");
	assert_int_equal(json_object_get_int(json_object_object_get(o, "n")),
	    5);
	json_wipe_str(o, "missing");
	json_wipe_str(NULL, "access_token");
	json_object_put(o);
}

static void
test_get_arr(void **state)
{
	json_object	*o = json_tokener_parse("{\"a\":[1],\"s\":\"x\"}");
	json_object	*notobj = json_tokener_parse("[1]");

	assert_non_null(json_get_arr(o, "a"));
	assert_int_equal(json_object_array_length(json_get_arr(o, "a")), 1);
	assert_null(json_get_arr(o, "s"));		/* not an array */
	assert_null(json_get_arr(o, "missing"));
	assert_null(json_get_arr(notobj, "a"));		/* not an object */
	assert_null(json_get_arr(NULL, "a"));
	json_object_put(o);
	json_object_put(notobj);
}

static void
test_get_int(void **state)
{
	json_object	*o = json_tokener_parse("{\"i\":-7,\"d\":42.0,"
			    "\"f\":1.5,\"big\":1e30,\"s\":\"3\",\"b\":true}");
	int64_t		 v = 99;

	assert_int_equal(json_get_int(o, "i", &v), 1);
	assert_int_equal(v, -7);
	assert_int_equal(json_get_int(o, "d", &v), 1);
	assert_int_equal(v, 42);
	v = 99;
	assert_int_equal(json_get_int(o, "f", &v), 0);	/* a fraction */
	assert_int_equal(json_get_int(o, "big", &v), 0);	/* out of range */
	assert_int_equal(json_get_int(o, "s", &v), 0);	/* a string */
	assert_int_equal(json_get_int(o, "b", &v), 0);
	assert_int_equal(json_get_int(o, "missing", &v), 0);
	assert_int_equal(json_get_int(NULL, "i", &v), 0);
	assert_int_equal(v, 99);			/* left as it was */
	json_object_put(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_str),
		cmocka_unit_test(test_wipe_str),
		cmocka_unit_test(test_get_bool),
		cmocka_unit_test(test_copy_str),
		cmocka_unit_test(test_get_arr),
		cmocka_unit_test(test_get_int),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
