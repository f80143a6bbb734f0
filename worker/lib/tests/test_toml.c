/*
 * The TOML parser: every accepted form gives the right tree, every refused
 * form fails with the right line, column and reason.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "toml.h"
#include "util.h"

static struct toml_value *
ok(const char *s)
{
	struct toml_error	 e;
	struct toml_value	*v;

	v = toml_parse(s, strlen(s), &e);
	if (v == NULL)
		fail_msg("refused %s: %s", s, e.msg);
	assert_int_equal(v->kind, TOML_TABLE);
	return v;
}

/* Follows a path of keys from the root, failing when one is missing. */
static const struct toml_value *
at(const struct toml_value *root, const char *path)
{
	const struct toml_value	*v = root;
	char			*copy = xstrdup(path), *p, *save = NULL;

	for (p = strtok_r(copy, "/", &save); p; p = strtok_r(NULL, "/", &save))
		if ((v = toml_get(v, p)) == NULL)
			fail_msg("no %s in %s", p, path);
	free(copy);
	return v;
}

static const char *
str(const struct toml_value *root, const char *path)
{
	const struct toml_value	*v = at(root, path);

	assert_int_equal(v->kind, TOML_STRING);
	return v->str;
}

static int64_t
num(const struct toml_value *root, const char *path, enum toml_kind kind)
{
	const struct toml_value	*v = at(root, path);

	assert_int_equal(v->kind, kind);
	return v->num;
}

static void
test_empty_and_comments(void **state)
{
	struct toml_value	*r;

	r = ok("");
	assert_int_equal(r->nitems, 0);
	toml_free(r);
	r = ok("# only a comment\n\n   \t\n# another\t with tab\r\n");
	assert_int_equal(r->nitems, 0);
	toml_free(r);
	/* Comments after values and headers, CRLF line ends, a BOM. */
	r = ok("\xef\xbb\xbf" "a = 1 # one\r\n[t] # table\r\nb = \"#x\"#c");
	assert_int_equal(num(r, "a", TOML_INT), 1);
	assert_string_equal(str(r, "t/b"), "#x");
	assert_int_equal(at(r, "a")->line, 1);
	assert_int_equal(at(r, "a")->col, 1);
	toml_free(r);
}

static void
test_tables(void **state)
{
	struct toml_value	*r;
	const struct toml_value	*t;

	r = ok("top = 1\n[a]\nx = 1\n[a.b]\ny = 2\n[ a . \"quoted.key\" ]\n"
	    "z = 3\n[c.d.e]\n[c]\nw = 4\n[c.d]\nv = 5\n['lit'.\"\"]\n"
	    "e = 6\n");
	assert_int_equal(num(r, "top", TOML_INT), 1);
	assert_int_equal(num(r, "a/x", TOML_INT), 1);
	assert_int_equal(num(r, "a/b/y", TOML_INT), 2);
	assert_int_equal(num(r, "a/quoted.key/z", TOML_INT), 3);
	assert_int_equal(num(r, "c/w", TOML_INT), 4);
	assert_int_equal(num(r, "c/d/v", TOML_INT), 5);
	assert_int_equal(at(r, "c/d/e")->kind, TOML_TABLE);
	t = toml_get(at(r, "lit"), "");
	assert_non_null(t);
	assert_int_equal(num(t, "e", TOML_INT), 6);
	/* Members keep file order; a header's place is its name's. */
	t = at(r, "a");
	assert_string_equal(t->items[0]->key, "x");
	assert_string_equal(t->items[1]->key, "b");
	assert_int_equal(t->line, 2);
	assert_int_equal(t->col, 2);
	assert_int_equal(at(r, "a/quoted.key")->line, 6);
	assert_int_equal(at(r, "a/quoted.key")->col, 7);
	/* [c] was implicit until defined at line 9. */
	assert_int_equal(at(r, "c")->line, 9);
	assert_null(toml_get(r, "nope"));
	assert_null(toml_get(at(r, "top"), "x"));
	toml_free(r);

	/* Sub-tables of a table made by dotted keys. */
	r = ok("[fruit]\napple.color = \"red\"\napple.taste.sweet = true\n"
	    "[fruit.apple.texture]\nsmooth = true\n");
	assert_string_equal(str(r, "fruit/apple/color"), "red");
	assert_int_equal(num(r, "fruit/apple/taste/sweet", TOML_BOOL), 1);
	assert_int_equal(num(r, "fruit/apple/texture/smooth", TOML_BOOL), 1);
	toml_free(r);
}

static void
test_keys(void **state)
{
	struct toml_value	*r;

	r = ok("bare_key-09 = 1\nBARE = 2\n1234 = 3\n\"quoted key\" = 4\n"
	    "'literal \\ key' = 5\n\"\" = 6\n\"\\u00e9t\\u00e9\" = 7\n"
	    "a.b.c = 8\n a . \"b\" . 'd' = 9\n\"x.y\" = 10\nsite.\"g.com\" "
	    "= 11\n");
	assert_int_equal(num(r, "bare_key-09", TOML_INT), 1);
	assert_int_equal(num(r, "BARE", TOML_INT), 2);
	assert_int_equal(num(r, "1234", TOML_INT), 3);
	assert_int_equal(num(r, "quoted key", TOML_INT), 4);
	assert_int_equal(num(r, "literal \\ key", TOML_INT), 5);
	assert_int_equal(toml_get(r, "")->num, 6);
	assert_int_equal(num(r, "\xc3\xa9t\xc3\xa9", TOML_INT), 7);
	assert_int_equal(num(r, "a/b/c", TOML_INT), 8);
	assert_int_equal(num(r, "a/b/d", TOML_INT), 9);
	assert_int_equal(num(r, "x.y", TOML_INT), 10);
	assert_int_equal(num(r, "site/g.com", TOML_INT), 11);
	assert_int_equal(at(r, "a/b/d")->line, 9);
	assert_int_equal(at(r, "a/b/d")->col, 12);
	toml_free(r);
}

static void
test_basic_strings(void **state)
{
	struct toml_value	*r;

	r = ok("s = \"b\\bt\\tn\\nf\\fr\\rq\\\"s\\\\e\"\n"
	    "u = \"\\u00E9\\u20ac\\U0001F600\\U0000004a\"\n"
	    "raw = \"caf\xc3\xa9 \t tab\"\nempty = \"\"\n"
	    "q = \"it's\"\n");
	assert_string_equal(str(r, "s"), "b\bt\tn\nf\fr\rq\"s\\e");
	assert_string_equal(str(r, "u"),
	    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80J");
	assert_string_equal(str(r, "raw"), "caf\xc3\xa9 \t tab");
	assert_string_equal(str(r, "empty"), "");
	assert_string_equal(str(r, "q"), "it's");
	toml_free(r);
}

static void
test_literal_strings(void **state)
{
	struct toml_value	*r;

	r = ok("path = 'C:\\Users\\x'\nquoted = 'Tom \"Dubs\" P'\n"
	    "e = ''\n");
	assert_string_equal(str(r, "path"), "C:\\Users\\x");
	assert_string_equal(str(r, "quoted"), "Tom \"Dubs\" P");
	assert_string_equal(str(r, "e"), "");
	toml_free(r);
}

static void
test_multiline_strings(void **state)
{
	struct toml_value	*r;

	r = ok("a = \"\"\"\nRoses\nViolets\"\"\"\n"
	    "b = \"\"\"one \\\n   \n    two \\   \r\n  three\"\"\"\n"
	    "c = \"\"\"x\"\"y\"\"\"\"\"\n"
	    "d = \"\"\"\"q\" \\\" \\u0041\"\"\"\"\n"
	    "e = '''\nfirst\r\n  second \\n'''\n"
	    "f = ''''quoted'  '''''\n"
	    "g = \"\"\"\"\"\"\n"
	    "h = \"\"\"tab\there\"\"\"\n");
	assert_string_equal(str(r, "a"), "Roses\nViolets");
	assert_string_equal(str(r, "b"), "one two three");
	assert_string_equal(str(r, "c"), "x\"\"y\"\"");
	assert_string_equal(str(r, "d"), "\"q\" \" A\"");
	assert_string_equal(str(r, "e"), "first\n  second \\n");
	assert_string_equal(str(r, "f"), "'quoted'  ''");
	assert_string_equal(str(r, "g"), "");
	assert_string_equal(str(r, "h"), "tab\there");
	/* The value after a multi-line string sits on the right line. */
	toml_free(r);
	r = ok("m = '''\n1\n2\n'''\nnext = 1\n");
	assert_int_equal(at(r, "next")->line, 5);
	toml_free(r);
}

static void
test_integers(void **state)
{
	struct toml_value	*r;

	r = ok("a = 42\nb = +17\nc = -5\nd = 0\ne = +0\nf = -0\n"
	    "g = 1_000_000\nh = 0xDEAD_beef\ni = 0o755\nj = 0b1101_0110\n"
	    "k = 9223372036854775807\nl = -9223372036854775808\n"
	    "m = 0x7fffffffffffffff\nn = 0x000001\n"
	    "o = 0b111111111111111111111111111111111111111111111111111111111"
	    "111111\n");
	assert_int_equal(num(r, "a", TOML_INT), 42);
	assert_int_equal(num(r, "b", TOML_INT), 17);
	assert_int_equal(num(r, "c", TOML_INT), -5);
	assert_int_equal(num(r, "d", TOML_INT), 0);
	assert_int_equal(num(r, "e", TOML_INT), 0);
	assert_int_equal(num(r, "f", TOML_INT), 0);
	assert_int_equal(num(r, "g", TOML_INT), 1000000);
	assert_int_equal(num(r, "h", TOML_INT), 0xdeadbeef);
	assert_int_equal(num(r, "i", TOML_INT), 0755);
	assert_int_equal(num(r, "j", TOML_INT), 0xd6);
	assert_true(num(r, "k", TOML_INT) == INT64_MAX);
	assert_true(num(r, "l", TOML_INT) == INT64_MIN);
	assert_true(num(r, "m", TOML_INT) == INT64_MAX);
	assert_int_equal(num(r, "n", TOML_INT), 1);
	assert_true(num(r, "o", TOML_INT) == INT64_MAX);
	toml_free(r);
}

static void
test_booleans(void **state)
{
	struct toml_value	*r;

	r = ok("t = true\nf = false\n");
	assert_int_equal(num(r, "t", TOML_BOOL), 1);
	assert_int_equal(num(r, "f", TOML_BOOL), 0);
	toml_free(r);
}

static void
test_arrays(void **state)
{
	struct toml_value	*r;
	const struct toml_value	*a;

	r = ok("e = []\ne2 = [ ]\nints = [1, 2, 3]\n"
	    "multi = [\n  \"a\", # first\n\n  'b',  # second\n]\n"
	    "nested = [[1, 2], [\"x\", [true]], []]\n"
	    "mixed = [1, \"two\", {k = 3}]\n"
	    "crlf = [\r\n1,\r\n2\r\n]\n");
	assert_int_equal(at(r, "e")->kind, TOML_ARRAY);
	assert_int_equal(at(r, "e")->nitems, 0);
	assert_int_equal(at(r, "e2")->nitems, 0);
	a = at(r, "ints");
	assert_int_equal(a->nitems, 3);
	assert_int_equal(a->items[2]->num, 3);
	assert_null(a->items[0]->key);
	assert_int_equal(a->items[1]->line, 3);
	assert_int_equal(a->items[1]->col, 12);
	a = at(r, "multi");
	assert_int_equal(a->nitems, 2);
	assert_string_equal(a->items[0]->str, "a");
	assert_string_equal(a->items[1]->str, "b");
	assert_int_equal(a->items[1]->line, 7);
	a = at(r, "nested");
	assert_int_equal(a->nitems, 3);
	assert_int_equal(a->items[0]->kind, TOML_ARRAY);
	assert_int_equal(a->items[0]->items[1]->num, 2);
	assert_string_equal(a->items[1]->items[0]->str, "x");
	assert_int_equal(a->items[1]->items[1]->items[0]->kind, TOML_BOOL);
	assert_int_equal(a->items[2]->nitems, 0);
	a = at(r, "mixed");
	assert_int_equal(a->items[2]->kind, TOML_TABLE);
	assert_int_equal(num(a->items[2], "k", TOML_INT), 3);
	assert_int_equal(at(r, "crlf")->nitems, 2);
	toml_free(r);
}

static void
test_inline_tables(void **state)
{
	struct toml_value	*r;

	r = ok("p = { x = 1, y = \"two\", z.w = true, n = { m = [1] } }\n"
	    "e = {}\n[t]\ni = {a.b = 1, a.c = 2}\n");
	assert_int_equal(num(r, "p/x", TOML_INT), 1);
	assert_string_equal(str(r, "p/y"), "two");
	assert_int_equal(num(r, "p/z/w", TOML_BOOL), 1);
	assert_int_equal(at(r, "p/n/m")->nitems, 1);
	assert_int_equal(at(r, "e")->nitems, 0);
	assert_int_equal(num(r, "t/i/a/b", TOML_INT), 1);
	assert_int_equal(num(r, "t/i/a/c", TOML_INT), 2);
	toml_free(r);
}

static void
test_kind_names(void **state)
{
	assert_string_equal(toml_kind_name(TOML_TABLE), "a table");
	assert_string_equal(toml_kind_name(TOML_ARRAY), "an array");
	assert_string_equal(toml_kind_name(TOML_STRING), "a string");
	assert_string_equal(toml_kind_name(TOML_INT), "an integer");
	assert_string_equal(toml_kind_name(TOML_BOOL), "a boolean");
}

struct bad {
	const char	*in;
	int		 line;
	int		 col;
	const char	*reason;	/* a part of the expected reason */
};

static const struct bad bads[] = {
	/* duplicates and redefinitions */
	{ "a = 1\na = 2\n", 2, 1, "duplicate key a (first defined at line 1)" },
	{ "a = 1\n\"a\" = 2\n", 2, 1, "duplicate key" },
	{ "[t]\nx = 1\n  x = 2\n", 3, 3, "duplicate key t.x (first" },
	{ "a.b = 1\na.b = 2\n", 2, 3, "duplicate key a.b" },
	{ "a = {x = 1, x = 2}\n", 1, 13, "duplicate key x" },
	{ "[a]\n[a]\n", 2, 2, "table a is already defined (line 1)" },
	{ "[a.b]\n[a]\n[a]\n", 3, 2, "already defined" },
	{ "[a]\n[b]\n[ a ]\n", 3, 3, "already defined" },
	{ "[a]\nb.c = 1\n[a.b]\n", 3, 4, "table a.b is already defined" },
	/* a key both a table and a value */
	{ "a = 1\n[a]\n", 2, 2, "key a is already a value (line 1)" },
	{ "[a]\nb = 1\n[a.b.c]\n", 3, 4, "key a.b is already a value" },
	{ "a = 1\na.b = 2\n", 2, 1, "already a value" },
	{ "a = [1]\n[a]\n", 2, 2, "already a value" },
	{ "[a]\n\"b\" = 1\n[a.b]\n", 3, 4, "already a value" },
	{ "a.b = 1\na.b.c = 2\n", 2, 3, "key a.b is already a value" },
	{ "a = {b = 1}\n[a]\n", 2, 2, "inline table" },
	{ "a = {b = 1}\n[a.c]\n", 2, 2, "inline table" },
	{ "a = {b = {c = 1}}\n[a.b.d]\n", 2, 2, "table a is an inline table" },
	{ "a = {b = 1}\na.c = 2\n", 2, 1, "cannot be extended" },
	{ "[a.b.c]\n[a]\nb.d = 1\n", 3, 1, "table a.b is defined at line 1" },
	{ "[[a]]\n", 1, 1, "arrays of tables" },
	/* keys and '=' */
	{ "a 1\n", 1, 3, "expected '=' after key a, found '1'" },
	{ "a\n", 1, 2, "expected '=' after key a, found end of line" },
	{ "a.b", 1, 4, "found end of file" },
	{ "a = 1\nb : 2\n", 2, 3, "expected '='" },
	{ "= 1\n", 1, 1, "expected a key, found '='" },
	{ "a. = 1\n", 1, 4, "expected a key" },
	{ ".a = 1\n", 1, 1, "expected a key" },
	{ "\xc3\xa9 = 1\n", 1, 1, "expected a key, found '\xc3\xa9'" },
	{ "\"\"\"k\"\"\" = 1\n", 1, 1, "multi-line string cannot be a key" },
	{ "\"k\n = 1\n", 1, 1, "unterminated string" },
	/* values */
	{ "a =\n", 1, 4, "expected a value, found end of line" },
	{ "a = ", 1, 5, "expected a value, found end of file" },
	{ "a = # c\n", 1, 5, "expected a value, found '#'" },
	{ "a = foo\n", 1, 5, "strings must be quoted" },
	{ "a = True\n", 1, 5, "strings must be quoted" },
	{ "a = truex\n", 1, 5, "strings must be quoted" },
	/* garbage after a value or a header */
	{ "a = 1 2\n", 1, 7, "expected the end of the line after a value, "
	    "found '2'" },
	{ "a = \"x\" y\n", 1, 9, "found 'y'" },
	{ "a = 1,\n", 1, 6, "found ','" },
	{ "a = [1] ]\n", 1, 9, "found ']'" },
	{ "a = 1 b = 2\n", 1, 7, "expected the end of the line" },
	{ "[a] b\n", 1, 5, "after a table header, found 'b'" },
	{ "[a]]\n", 1, 4, "after a table header" },
	{ "[a\n", 1, 3, "expected ']' at the end of a table header, found "
	    "end of line" },
	{ "[a.]\n", 1, 4, "expected a key, found ']'" },
	{ "[]\n", 1, 2, "expected a key, found ']'" },
	{ "[a b]\n", 1, 4, "expected ']'" },
	{ "a = 1\rb = 2\n", 1, 6, "found a carriage return" },
	{ "\r", 1, 1, "expected a key, found a carriage return" },
	/* unterminated strings */
	{ "a = \"abc\nb = 1\n", 1, 5, "unterminated string" },
	{ "a = \"abc", 1, 5, "unterminated string" },
	{ "a = 'abc\n", 1, 5, "unterminated string" },
	{ "x = 1\na = \"\"\"abc\n\nb = 1\n", 2, 5,
	    "unterminated multi-line string" },
	{ "a = '''abc''", 1, 5, "unterminated multi-line string" },
	{ "a = \"\\\"", 1, 5, "unterminated string" },
	/* escapes */
	{ "a = \"x\\qy\"\n", 1, 7, "invalid escape sequence: backslash "
	    "followed by 'q'" },
	{ "a = \"\\x41\"\n", 1, 6, "invalid escape" },
	{ "a = \"\\e\"\n", 1, 6, "invalid escape" },
	{ "a = \"\\ \"\n", 1, 6, "invalid escape" },
	{ "a = \"\\\n\"\n", 1, 6, "backslash followed by end of line" },
	{ "a = \"\"\"x\\ y\"\"\"\n", 1, 9, "invalid escape" },
	{ "a = \"\\u12\"\n", 1, 6, "\\u needs 4 hex digits" },
	{ "a = \"\\u12G4\"\n", 1, 6, "\\u needs 4 hex digits" },
	{ "a = \"\\U0001F60\"\n", 1, 6, "\\U needs 8 hex digits" },
	{ "a = \"\\uD800\"\n", 1, 6, "not a Unicode scalar value" },
	{ "a = \"\\uDFFF\"\n", 1, 6, "not a Unicode scalar value" },
	{ "a = \"\\U00110000\"\n", 1, 6, "not a Unicode scalar value" },
	{ "a = \"\\u0000\"\n", 1, 6, "cannot hold NUL" },
	/* control characters */
	{ "a = \"a\x01" "b\"\n", 1, 7, "control character U+0001 in a string" },
	{ "a = 'a\x7f'\n", 1, 7, "control character U+007F" },
	{ "a = \"\"\"a\x1f\"\"\"\n", 1, 9, "control character U+001F" },
	{ "a = '''a\x08'''\n", 1, 9, "control character U+0008" },
	{ "a = '''a\rb'''\n", 1, 9, "carriage return without a line feed" },
	{ "a = \"\"\"a\rb\"\"\"\n", 1, 9, "carriage return without" },
	{ "# bell \x07\n", 1, 8, "control character U+0007 in a comment" },
	{ "a = 1 # \r\n\x01", 2, 1, "expected a key, found control "
	    "character U+0001" },
	{ "a = 1 # x\ry\n", 1, 10, "control character U+000D in a comment" },
	/* quotes closing multi-line strings */
	{ "a = \"\"\"x\"\"\"\"\"\"\n", 1, 9, "too many quotes" },
	{ "a = '''x''''''\n", 1, 9, "too many quotes" },
	/* UTF-8, columns counted in characters */
	{ "a = \"\xc3\x28\"\n", 1, 6, "invalid UTF-8 (byte 0xc3)" },
	{ "a = \"\xc0\x80\"\n", 1, 6, "invalid UTF-8" },
	{ "a = \"\xed\xa0\x80\"\n", 1, 6, "invalid UTF-8" },
	{ "a = \"\xf4\x90\x80\x80\"\n", 1, 6, "invalid UTF-8" },
	{ "a = \"\xe2\x82", 1, 6, "invalid UTF-8" },
	{ "# \xff\n", 1, 3, "invalid UTF-8 (byte 0xff)" },
	{ "a = \"\xe2\x82\xac\xe2\x82\xac\" x\n", 1, 10, "found 'x'" },
	{ "\"\xc3\xa9\" = 1 x\n", 1, 9, "found 'x'" },
	/* integers */
	{ "a = 9223372036854775808\n", 1, 5, "does not fit in 64 bits" },
	{ "a = -9223372036854775809\n", 1, 5, "does not fit in 64 bits" },
	{ "a = 0x8000000000000000\n", 1, 5, "does not fit in 64 bits" },
	{ "a = 99999999999999999999999\n", 1, 5, "does not fit" },
	{ "a = 1__0\n", 1, 5, "invalid integer '1__0'" },
	{ "a = 1_\n", 1, 5, "invalid integer" },
	{ "a = 0x_1\n", 1, 5, "invalid integer" },
	{ "a = 0x\n", 1, 5, "invalid integer" },
	{ "a = 0xG1\n", 1, 5, "invalid integer" },
	{ "a = 0o8\n", 1, 5, "invalid integer" },
	{ "a = 0b102\n", 1, 5, "invalid integer" },
	{ "a = 12abc\n", 1, 5, "invalid integer" },
	{ "a = -\n", 1, 5, "invalid integer" },
	{ "a = 01\n", 1, 5, "leading zeros" },
	{ "a = -007\n", 1, 5, "leading zeros" },
	{ "a = +0x10\n", 1, 5, "sign is not allowed" },
	{ "a = -0b1\n", 1, 5, "sign is not allowed" },
	/* floats and dates are refused by name */
	{ "a = 1.5\n", 1, 5, "floating-point numbers are not supported" },
	{ "a = -3e2\n", 1, 5, "floating-point" },
	{ "a = 6.626E-34\n", 1, 5, "floating-point" },
	{ "a = inf\n", 1, 5, "floating-point" },
	{ "a = -nan\n", 1, 5, "floating-point" },
	{ "a = 1979-05-27\n", 1, 5, "dates and times are not supported" },
	{ "a = 1979-05-27T07:32:00Z\n", 1, 5, "dates and times" },
	{ "a = 07:32:00\n", 1, 5, "dates and times" },
	{ "a = 07:32:00.5\n", 1, 5, "dates and times" },
	{ "a = 1979-05-27T00:32:00.999-07:00\n", 1, 5, "dates and times" },
	{ "a = 1979-05-27 07:32:00\n", 1, 5, "dates and times" },
	{ "a = 1e-5\n", 1, 5, "floating-point" },
	/* arrays */
	{ "a = [1 2]\n", 1, 8, "expected ',' or ']' in an array, found '2'" },
	{ "a = [1,,2]\n", 1, 8, "expected a value, found ','" },
	{ "a = [,]\n", 1, 6, "expected a value" },
	{ "a = [1,\n2\n", 3, 1, "expected ',' or ']' in an array, found end "
	    "of file" },
	{ "a = [\n  1,\n  x\n]\n", 3, 3, "strings must be quoted" },
	{ "a = [1, # c \x02\n]\n", 1, 13, "in a comment" },
	/* inline tables */
	{ "a = {b = 1,}\n", 1, 12, "trailing comma" },
	{ "a = {b = 1\n}\n", 1, 11, "inline tables must be on one line" },
	{ "a = {\nb = 1}\n", 1, 6, "expected a key, found end of line" },
	{ "a = {b = 1 c = 2}\n", 1, 12, "expected ',' or '}'" },
	{ "a = {b}\n", 1, 7, "expected '='" },
	{ "a = {b = {c = 1}, b.d = 2}\n", 1, 19, "cannot be extended" },
	{ "a = {b = 1", 1, 11, "expected ',' or '}'" },
};

static void
test_errors(void **state)
{
	struct toml_error	 e;
	struct toml_value	*v;
	char			 prefix[64];
	size_t			 i, len;

	for (i = 0; i < nitems(bads); i++) {
		const struct bad	*b = &bads[i];

		len = strlen(b->in);
		v = toml_parse(b->in, len, &e);
		if (v != NULL) {
			toml_free(v);
			fail_msg("case %zu accepted", i);
		}
		if (e.line != b->line || e.col != b->col ||
		    strstr(e.reason, b->reason) == NULL)
			fail_msg("case %zu: want %d:%d \"%s\", got %s", i,
			    b->line, b->col, b->reason, e.msg);
		snprintf(prefix, sizeof(prefix), "line %d, column %d: ",
		    b->line, b->col);
		assert_int_equal(strncmp(e.msg, prefix, strlen(prefix)), 0);
		assert_string_equal(e.msg + strlen(prefix), e.reason);
		/* The same without a place to report is still a failure. */
		assert_null(toml_parse(b->in, len, NULL));
	}

	/* A NUL byte, which strlen() would hide. */
	v = toml_parse("a = \"a\0\"\n", 9, &e);
	assert_null(v);
	assert_string_equal(e.msg, "line 1, column 7: control character "
	    "U+0000 in a string");
	v = toml_parse("a = 1\0", 6, &e);
	assert_null(v);
	assert_string_equal(e.msg, "line 1, column 6: expected the end of "
	    "the line after a value, found control character U+0000");
}

static void
test_limits(void **state)
{
	struct toml_error	 e;
	struct toml_value	*v;
	struct buf		 b;
	char			*big;
	int			 i;

	/* Nesting: 32 levels are fine, the 33rd is not. */
	buf_init(&b);
	buf_addstr(&b, "a = ");
	for (i = 0; i < 32; i++)
		buf_addstr(&b, "[");
	for (i = 0; i < 32; i++)
		buf_addstr(&b, "]");
	v = toml_parse(b.data, b.len, &e);
	assert_non_null(v);
	toml_free(v);
	buf_reset(&b);
	buf_addstr(&b, "a = ");
	for (i = 0; i < 40; i++)
		buf_addstr(&b, i % 2 ? "[" : "{x=");
	v = toml_parse(b.data, b.len, &e);
	assert_null(v);
	assert_int_equal(e.line, 1);
	assert_non_null(strstr(e.reason, "nested more than 32 deep"));

	/* Key parts. */
	buf_reset(&b);
	for (i = 0; i < 33; i++)
		buf_addstr(&b, i ? ".k" : "k");
	buf_addstr(&b, " = 1\n");
	v = toml_parse(b.data, b.len, &e);
	assert_null(v);
	assert_int_equal(e.col, 2 * 32 + 1);
	assert_non_null(strstr(e.reason, "more than 32 parts"));

	/* Items of one array and of one table. */
	buf_reset(&b);
	buf_addstr(&b, "a = [");
	for (i = 0; i < TOML_MAX_ITEMS; i++)
		buf_addstr(&b, "1,");
	buf_addstr(&b, "]\n");
	v = toml_parse(b.data, b.len, &e);
	assert_non_null(v);
	assert_int_equal(toml_get(v, "a")->nitems, TOML_MAX_ITEMS);
	toml_free(v);
	b.len -= 2;
	buf_addstr(&b, "2]\n");
	v = toml_parse(b.data, b.len, &e);
	assert_null(v);
	assert_int_equal(e.col, 6 + 2 * TOML_MAX_ITEMS);
	assert_non_null(strstr(e.reason, "more than 4096 items in one array"));
	buf_reset(&b);
	for (i = 0; i <= TOML_MAX_ITEMS; i++)
		buf_printf(&b, "k%d = %d\n", i, i);
	v = toml_parse(b.data, b.len, &e);
	assert_null(v);
	assert_int_equal(e.line, TOML_MAX_ITEMS + 1);
	assert_non_null(strstr(e.reason, "in one table"));
	buf_free(&b);

	/* Size: a comment just over the bound. */
	big = xmalloc(TOML_MAX_INPUT + 1);
	memset(big, ' ', TOML_MAX_INPUT + 1);
	big[0] = '#';
	v = toml_parse(big, TOML_MAX_INPUT, &e);
	assert_non_null(v);
	toml_free(v);
	assert_null(toml_parse(big, TOML_MAX_INPUT + 1, &e));
	assert_int_equal(e.line, 0);
	assert_non_null(strstr(e.msg, "larger than"));
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_and_comments),
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_basic_strings),
		cmocka_unit_test(test_literal_strings),
		cmocka_unit_test(test_multiline_strings),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_booleans),
		cmocka_unit_test(test_arrays),
		cmocka_unit_test(test_inline_tables),
		cmocka_unit_test(test_kind_names),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
