/*
 * The Pulp client offline: which server addresses a client may be made
 * for (they come from a job's target options and reach a log line and
 * every URL of the upload).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "pulp.h"
#include "watch.h"

__attribute__((weak)) struct runflags runflags;

static void
test_server_ok(void **state)
{
	assert_true(pulp_server_ok("https://pulp.example.com"));
	assert_true(pulp_server_ok("http://127.0.0.1:8080/"));
	assert_true(pulp_server_ok("https://console.example.com/api/pulp"));
	/* No user in the URL: it would be logged. */
	assert_false(pulp_server_ok("https://admin:pw@pulp.example.com"));
	assert_false(pulp_server_ok("ftp://pulp.example.com"));
	assert_false(pulp_server_ok("https://"));
	assert_false(pulp_server_ok("https:///path"));
	assert_false(pulp_server_ok("https://pulp.example.com/?q=1"));
	assert_false(pulp_server_ok("https://pulp.example.com/#f"));
	assert_false(pulp_server_ok("https://pulp.example.com/a b"));
	assert_false(pulp_server_ok("https://pulp.example.com/\\n"));
	assert_false(pulp_server_ok("https://pulp.example.com\r\nX: y"));
	assert_false(pulp_server_ok(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_server_ok),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
