/*
 * util.c's url_redact and text_redact_urls: URLs that reach a log line or
 * an error result lose their userinfo, query string and fragment, also
 * when malformed, and keep what identifies the resource.
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
check(const char *in, const char *want)
{
	char	*s = url_redact(in);

	assert_string_equal(s, want);
	free(s);
}

static void
test_url(void **state)
{
	check("https://host/path", "https://host/path");
	check("https://user:password@host/p", "https://<redacted>@host/p");
	check("https://host/p?X-Amz-Signature=abc&sig=def",
	    "https://host/p?<redacted>");
	check("https://u:pw@host:8443/a/b?sig=1#frag",
	    "https://<redacted>@host:8443/a/b?<redacted>");
	check("https://host/p#secret", "https://host/p#<redacted>");
	/* Several '@' in the authority: all of it up to the last goes. */
	check("http://a@b:c@d@host/x", "http://<redacted>@host/x");
	/* An '@' in the path is no userinfo. */
	check("https://host/@scope/pkg", "https://host/@scope/pkg");
	check("https://u:p@host", "https://<redacted>@host");
	check("https://u:p@host?q", "https://<redacted>@host?<redacted>");
	check("https://host?q", "https://host?<redacted>");
	/* Malformed: no scheme, empty, only separators. */
	check("user:secret@host/x", "<redacted>@host/x");
	check("", "");
	check("://", "://");
	check("?", "?<redacted>");
	check("@", "<redacted>@");
	check("https://@", "https://<redacted>@");
	check(NULL, "(none)");
	/* A "://" in the query or path does not move the authority. */
	check("u:p@h?x=https://a", "<redacted>@h?<redacted>");
	check("u:p@h/https://v:q@a", "<redacted>@h/https://<redacted>@a");
	/* A URL nested in the path loses its userinfo too. */
	check("https://proxy/get/https://u:pw@h/x?s", "https://proxy/get/"
	    "https://<redacted>@h/x?<redacted>");
	/* Control characters cannot end the log line. */
	check("https://host/a\nb\rc\x1b\xc3\xa9", "https://host/a_b_c___");
}

static void
test_long(void **state)
{
	char	*in, *s;

	in = xasprintf("https://host/%0*d?sig=%s", 3000, 0, "SECRET");
	s = url_redact(in);
	assert_true(strlen(s) < URL_REDACT_MAX + 32);
	assert_null(strstr(s, "SECRET"));
	assert_non_null(strstr(s, "...?<redacted>"));
	free(s);
	free(in);
}

static void
test_text(void **state)
{
	char	*s;

	s = text_redact_urls("Cannot download https://u:pw@h/r/repomd.xml?"
	    "sig=S1: error; also 'ftp://a:b@c/d?e' and \"http://x/y#z\" end");
	assert_string_equal(s, "Cannot download https://<redacted>@h/r/"
	    "repomd.xml?<redacted> error; also 'ftp://<redacted>@c/d?"
	    "<redacted>' and \"http://x/y#<redacted>\" end");
	free(s);
	s = text_redact_urls("no url here: a://");
	assert_string_equal(s, "no url here: a://");
	free(s);
	s = text_redact_urls("://u:p@h?q at start");
	assert_string_equal(s, "://<redacted>@h?<redacted> at start");
	free(s);
	s = text_redact_urls(NULL);
	assert_string_equal(s, "");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_long),
		cmocka_unit_test(test_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
