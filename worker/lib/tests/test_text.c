/*
 * lib/util.c's checks of outside text: text_is_printable, name_is_safe,
 * url_host.
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
test_printable(void **state)
{
	assert_true(text_is_printable("ib-workers", 64));
	assert_true(text_is_printable("a b~", 4));
	assert_false(text_is_printable("", 64));		/* empty */
	assert_false(text_is_printable("abcde", 4));		/* too long */
	assert_false(text_is_printable("a\nb", 64));		/* control */
	assert_false(text_is_printable("a\x7f", 64));		/* DEL */
	assert_false(text_is_printable("caf\xc3\xa9", 64));	/* not ASCII */
}

static void
test_name_safe(void **state)
{
	assert_true(name_is_safe("disk.qcow2"));
	assert_false(name_is_safe(".."));
	assert_false(name_is_safe("a/b"));
	assert_false(name_is_safe("a\\b"));
	assert_false(name_is_safe("a\tb"));
	assert_false(name_is_safe(""));
	assert_false(name_is_safe(NULL));
}

static void
host_is(const char *url, const char *want)
{
	char	*h = url_host(url);

	if (want == NULL)
		assert_null(h);
	else
		assert_string_equal(h, want);
	free(h);
}

static void
test_url_host(void **state)
{
	host_is("https://koji.example.com/kojihub", "koji.example.com");
	host_is("https://koji.example.com:8443/x?y#z", "koji.example.com");
	host_is("http://hub", "hub");
	host_is("https://user:pw@koji.example.com/", NULL);	/* userinfo */
	host_is("https://[::1]:8443/", NULL);			/* IPv6 literal */
	host_is("https:///path", NULL);				/* no host */
	host_is("https://ho\x01st/", NULL);			/* control */
	host_is("koji.example.com", NULL);			/* no scheme */
	host_is(NULL, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_printable),
		cmocka_unit_test(test_name_safe),
		cmocka_unit_test(test_url_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
