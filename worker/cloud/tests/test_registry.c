/*
 * The registry client's pure parts: image references as container tools
 * read them, WWW-Authenticate challenges, containers-auth.json lookups.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "registry.h"
#include "util.h"

#define DG "sha256:0123456789abcdef0123456789abcdef" \
	    "0123456789abcdef0123456789abcdef"

static void
ref_is(const char *src, const char *host, const char *repo, const char *tag,
    const char *digest)
{
	struct registry_ref	 r;
	char			 err[256];

	if (registry_parse_ref(src, &r, err, sizeof(err)) == -1)
		fail_msg("refused %s: %s", src, err);
	assert_string_equal(r.host, host);
	assert_string_equal(r.repo, repo);
	if (tag == NULL)
		assert_null(r.tag);
	else
		assert_string_equal(r.tag, tag);
	if (digest == NULL)
		assert_null(r.digest);
	else
		assert_string_equal(r.digest, digest);
	registry_ref_free(&r);
}

static void
test_refs(void **state)
{
	ref_is("fedora", "docker.io", "library/fedora", "latest", NULL);
	ref_is("fedora:40", "docker.io", "library/fedora", "40", NULL);
	ref_is("user/app", "docker.io", "user/app", "latest", NULL);
	ref_is("quay.io/centos-bootc/centos-bootc:stream9", "quay.io",
	    "centos-bootc/centos-bootc", "stream9", NULL);
	ref_is("localhost/x", "localhost", "x", "latest", NULL);
	ref_is("127.0.0.1:5000/a/b/c:v1.2_3", "127.0.0.1:5000", "a/b/c",
	    "v1.2_3", NULL);
	ref_is("reg.example.com:443/x@" DG, "reg.example.com:443", "x", NULL,
	    DG);
	ref_is("reg.example.com/x:t@" DG, "reg.example.com", "x", "t", DG);
}

static void
test_bad_refs(void **state)
{
	const char *bad[] = { "", "Upper/case", "a//b", "reg.io/", "reg.io/a:",
	    "reg.io/a:-x", "reg.io/a@sha256:short", "reg.io/../etc",
	    "reg.io/a b", "reg.io/a@md5:0123456789abcdef", "reg.io/a\n" };
	struct registry_ref	 r;
	char			 err[256];
	size_t			 i;

	for (i = 0; i < nitems(bad); i++) {
		if (registry_parse_ref(bad[i], &r, err, sizeof(err)) != -1)
			fail_msg("accepted %s", bad[i]);
		assert_non_null(strstr(err, "invalid image reference"));
	}
}

static void
test_goarch(void **state)
{
	assert_string_equal(registry_goarch("x86_64"), "amd64");
	assert_string_equal(registry_goarch("aarch64"), "arm64");
	assert_string_equal(registry_goarch("s390x"), "s390x");
	assert_string_equal(registry_goarch("ppc64le"), "ppc64le");
}

static void
test_challenges(void **state)
{
	struct registry_challenge	 c;

	assert_int_equal(registry_parse_challenge("Bearer realm=\"https://"
	    "auth.example.com/token\",service=\"registry.example.com\","
	    "scope=\"repository:a/b:pull,push\"", &c), 0);
	assert_string_equal(c.scheme, "Bearer");
	assert_string_equal(c.realm, "https://auth.example.com/token");
	assert_string_equal(c.service, "registry.example.com");
	assert_string_equal(c.scope, "repository:a/b:pull,push");
	registry_challenge_free(&c);

	assert_int_equal(registry_parse_challenge("Basic realm=\"a \\\"q\\\"\"",
	    &c), 0);
	assert_string_equal(c.scheme, "Basic");
	assert_string_equal(c.realm, "a \"q\"");
	assert_null(c.service);
	registry_challenge_free(&c);

	assert_int_equal(registry_parse_challenge("Bearer realm=\"open", &c),
	    -1);
	assert_int_equal(registry_parse_challenge("Bearer realm", &c), -1);
	assert_int_equal(registry_parse_challenge("", &c), -1);
}

static void
test_auth_file(void **state)
{
	char	 path[] = "/tmp/test_registry_XXXXXX", err[256], *up;
	int	 fd;
	const char *doc = "{\"auths\":{\"reg.example.com:5000\":{\"auth\":"
	    "\"YWxpY2U6czNjcmV0\"},\"https://other.example.com\":{\"auth\":"
	    "\"Ym9iOnB3\"},\"bad.example.com\":{\"auth\":\"bm9jb2xvbg==\"}}}";

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, doc, strlen(doc)), (ssize_t)strlen(doc));
	close(fd);

	assert_int_equal(registry_auth_lookup(path, "reg.example.com:5000", &up,
	    err, sizeof(err)), 0);
	assert_string_equal(up, "alice:s3cret");
	freezero_str(up);
	assert_int_equal(registry_auth_lookup(path, "other.example.com", &up,
	    err, sizeof(err)), 0);
	assert_string_equal(up, "bob:pw");
	freezero_str(up);
	assert_int_equal(registry_auth_lookup(path, "reg.example.com", &up,
	    err, sizeof(err)), 0);
	assert_null(up);
	/* "nocolon" is not user:password; the message names no secret. */
	assert_int_equal(registry_auth_lookup(path, "bad.example.com", &up,
	    err, sizeof(err)), -1);
	assert_null(up);
	assert_null(strstr(err, "nocolon"));
	unlink(path);
	assert_int_equal(registry_auth_lookup(path, "x", &up, err,
	    sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refs),
		cmocka_unit_test(test_bad_refs),
		cmocka_unit_test(test_goarch),
		cmocka_unit_test(test_challenges),
		cmocka_unit_test(test_auth_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
