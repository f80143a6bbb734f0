/*
 * pyjson.c: the text must be byte for byte what Python's
 * json.dumps(o, sort_keys=True) writes, or ib-build's ids stop matching
 * osbuild's. Expected strings were produced by Python 3's json module.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "builder/pyjson.h"

static void
expect_dump(const char *json, const char *want)
{
	json_object	*o = json_tokener_parse(json);
	struct buf	 b;

	assert_non_null(o);
	buf_init(&b);
	pyjson_dump(&b, o);
	assert_int_equal(b.len, strlen(want));
	assert_memory_equal(b.data, want, b.len);
	buf_free(&b);
	json_object_put(o);
}

static void
test_sorted_and_spaced(void **state)
{
	(void)state;
	expect_dump("{\"b\":1,\"a\":[true,null,\"x\"],\"c\":{\"z\":0.1,"
	    "\"y\":1.0,\"x\":1e100,\"w\":-2.5e-7}}",
	    "{\"a\": [true, null, \"x\"], \"b\": 1, \"c\": {\"w\": -2.5e-07, "
	    "\"x\": 1e+100, \"y\": 1.0, \"z\": 0.1}}");
	expect_dump("{}", "{}");
	expect_dump("[]", "[]");
	expect_dump("-9007199254740993", "-9007199254740993");
}

static void
test_escapes(void **state)
{
	(void)state;
	/* Non-ASCII as \u escapes, astral planes as surrogate pairs. */
	expect_dump("[\"\\u00e9\\n\\t\\\"\\\\\\u0001\", \"\\ud83d\\ude00\"]",
	    "[\"\\u00e9\\n\\t\\\"\\\\\\u0001\", \"\\ud83d\\ude00\"]");
}

static void
test_str(void **state)
{
	struct buf	 b;

	(void)state;
	buf_init(&b);
	/* The length is honoured: an embedded NUL is escaped, not an end. */
	pyjson_str(&b, "a\0b", 3);
	assert_string_equal(b.data, "\"a\\u0000b\"");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sorted_and_spaced),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_str),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
