/*
 * util.c's base64 both ways: RFC 4648's test vectors, and the inputs
 * base64_decode must refuse (bad length, bad characters, misplaced
 * padding), since keys and credentials arrive through it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

static void
test_vectors(void **state)
{
	static const char *const plain[] = { "f", "fo", "foo", "foob",
	    "fooba", "foobar" };
	static const char *const coded[] = { "Zg==", "Zm8=", "Zm9v",
	    "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	size_t	 i, n;
	char	*s;

	for (i = 0; i < nitems(plain); i++) {
		s = base64_encode(plain[i], strlen(plain[i]));
		assert_string_equal(s, coded[i]);
		free(s);
		s = base64_decode(coded[i], &n);
		assert_non_null(s);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(s, plain[i], n);
		assert_int_equal(s[n], '\0');
		free(s);
	}
}

static void
test_binary(void **state)
{
	unsigned char	 b[256];
	size_t		 i, n;
	char		*e, *d;

	for (i = 0; i < sizeof(b); i++)
		b[i] = (unsigned char)(255 - i);
	e = base64_encode(b, sizeof(b));
	d = base64_decode(e, &n);
	assert_non_null(d);
	assert_int_equal(n, sizeof(b));
	assert_memory_equal(d, b, n);
	free(e);
	free(d);
}

static void
test_refused(void **state)
{
	static const char *const bad[] = { "", "Zg=", "Zm9vY", "Zm9v!A==",
	    "Zm=v", "Z===", "====", "Zm9v\nYmFy", "Zg==Zg==" };
	size_t	 i, n;

	for (i = 0; i < nitems(bad); i++)
		assert_null(base64_decode(bad[i], &n));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
