/*
 * The parts of ib-depsolve that need no network and no libsolv: the
 * request (Debian forms, bounds, errors), metadata_expire, the Release
 * file parser, and dearmoring keys. Repositories, signatures and solving
 * are tested end to end by worker/depsolver/tests/t_depsolve_*.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* The modules under test are compiled in: ib-depsolve is its own program. */
#include "depsolver/gpg.c"
#include "depsolver/release.c"
#include "depsolver/request.c"

static int
parse(const char *json, struct ds_request *r, struct ds_err *e)
{
	json_object	*o = json_tokener_parse(json);
	int		 rc;

	memset(e, 0, sizeof(*e));
	rc = request_parse(o, r, e);
	json_object_put(o);
	return rc;
}

#define HEAD "{\"command\":\"depsolve\",\"arch\":\"x86_64\",\"releasever\":\"12\"," \
	"\"cachedir\":\"/tmp/c\",\"arguments\":{"

static void
test_expire(void **state)
{
	(void)state;
	assert_int_equal(request_parse_expire(NULL), DS_EXPIRE_DEFAULT);
	assert_int_equal(request_parse_expire("20s"), 20);
	assert_int_equal(request_parse_expire("90"), 90);
	assert_int_equal(request_parse_expire("6h"), 6 * 3600);
	assert_int_equal(request_parse_expire("2d"), 2 * 86400);
	assert_int_equal(request_parse_expire("5m"), 300);
	assert_int_equal(request_parse_expire("never"), DS_EXPIRE_NEVER);
	assert_int_equal(request_parse_expire("-1"), DS_EXPIRE_NEVER);
	assert_int_equal(request_parse_expire("1w"), -2);
	assert_int_equal(request_parse_expire("h"), -2);
	assert_int_equal(request_parse_expire("5hh"), -2);
}

static void
test_deb_url_form(void **state)
{
	struct ds_request	 r;
	struct ds_err		 e;

	(void)state;
	assert_int_equal(parse(HEAD "\"repos\":[{\"id\":\"d\",\"baseurl\":["
	    "\"deb+http://m/debian?suite=bookworm&components=main,contrib"
	    "&trusted=yes\"]}],\"transactions\":[{\"package-specs\":[\"a\"]}]}}",
	    &r, &e), 0);
	assert_int_equal(r.repos[0].type, DS_DEB);
	assert_string_equal(r.repos[0].baseurls[0], "http://m/debian");
	assert_string_equal(r.repos[0].suite, "bookworm");
	assert_string_equal(r.repos[0].components[1], "contrib");
	assert_null(r.repos[0].components[2]);
	assert_string_equal(r.repos[0].debarch, "amd64");
	assert_int_equal(r.repos[0].trusted, 1);
	assert_int_equal(r.repos[0].expire, DS_EXPIRE_DEFAULT);
	request_free(&r);
}

static void
test_deb_object_form(void **state)
{
	struct ds_request	 r;
	struct ds_err		 e;

	(void)state;
	assert_int_equal(parse(HEAD "\"repos\":[{\"id\":\"d\",\"baseurl\":["
	    "\"https://m/debian\"],\"metadata_expire\":\"1h\",\"debian\":{"
	    "\"suite\":\"bookworm-updates\",\"arch\":\"arm64\"}}],"
	    "\"transactions\":[{\"package-specs\":[]}]}}", &r, &e), 0);
	assert_int_equal(r.repos[0].type, DS_DEB);
	assert_string_equal(r.repos[0].components[0], "main");
	assert_string_equal(r.repos[0].debarch, "arm64");
	assert_int_equal(r.repos[0].trusted, 0);
	assert_int_equal(r.repos[0].expire, 3600);
	request_free(&r);
}

static void
test_bad_requests(void **state)
{
	static const char *const bad[] = {
		"[]",
		"{\"command\":\"frobnicate\"}",
		HEAD "\"repos\":[{\"name\":\"no id\",\"baseurl\":[\"http://x\"]}],"
		    "\"transactions\":[{}]}}",
		HEAD "\"repos\":[{\"id\":\"a\",\"baseurl\":\"http://x\"}],"
		    "\"transactions\":[{}]}}",
		HEAD "\"repos\":[{\"id\":\"a\",\"baseurl\":[\"ftp://x\"]}],"
		    "\"transactions\":[{}]}}",
		HEAD "\"repos\":[{\"id\":\"a\",\"baseurl\":[\"deb+http://x?"
		    "suite=../etc\"]}],\"transactions\":[{}]}}",
		HEAD "\"repos\":[{\"id\":\"a\",\"baseurl\":[\"deb+http://x?"
		    "suite=s&evil=1\"]}],\"transactions\":[{}]}}",
		HEAD "\"repos\":[{\"id\":\"a\",\"baseurl\":[\"http://x\"]},"
		    "{\"id\":\"a\",\"baseurl\":[\"http://y\"]}],"
		    "\"transactions\":[{}]}}",
		HEAD "\"repos\":[{\"id\":\"a\",\"baseurl\":[\"http://x\"]}],"
		    "\"transactions\":[{\"repo-ids\":[\"b\"]}]}}",
		HEAD "\"repos\":[{\"id\":\"a\",\"baseurl\":[\"http://x\"],"
		    "\"metadata_expire\":\"soon\"}],\"transactions\":[{}]}}",
		HEAD "\"repos\":[],\"transactions\":[]}}",
		HEAD "\"repos\":[],\"transactions\":[{\"package-specs\":[1]}]}}",
		/* A NUL would hide the rest of the path from C. */
		HEAD "\"repos\":[{\"id\":\"a\",\"baseurl\":[\"http://x\"],"
		    "\"sslcacert\":\"/etc/ok\\u0000/../../x\"}],"
		    "\"transactions\":[{}]}}",
	};
	struct ds_request	 r;
	struct ds_err		 e;
	size_t			 i;

	(void)state;
	for (i = 0; i < nitems(bad); i++) {
		if (parse(bad[i], &r, &e) != -1)
			fail_msg("accepted: %s", bad[i]);
		assert_string_equal(e.kind, DS_INVALID);
		assert_true(strlen(e.reason) > 0);
		request_free(&r);
	}
}

static const char RELEASE[] =
    "Origin: Debian\n"
    "Suite: stable\n"
    "Codename: bookworm\n"
    "Date: Sat, 10 Jun 2023 08:53:33 UTC\n"
    "Valid-Until: Sat, 17 Jun 2023 08:53:33 UTC\n"
    "Acquire-By-Hash: yes\n"
    "No-Support-for-Architecture-all: Packages\n"
    "MD5Sum:\n"
    " 0123456789abcdef0123456789abcdef 100 main/binary-amd64/Packages\n"
    "SHA256:\n"
    " 9E0B5AABB2465B3D2E7A7FE27F9913846277833F7A2826E7767ACCCFF5B588C5"
    "  8790396 main/binary-amd64/Packages.xz\n"
    " 515e692f2c4121c6fcec444ef100cc18f79a991910615f3a88c8b7becfc94d2f"
    " 50060337 main/binary-amd64/Packages\n";

static void
test_release(void **state)
{
	struct release			 r;
	const struct release_file	*f;
	char				 err[256];

	(void)state;
	assert_int_equal(release_parse(RELEASE, &r, err, sizeof(err)), 0);
	assert_string_equal(r.suite, "stable");
	assert_string_equal(r.codename, "bookworm");
	assert_int_equal(r.by_hash, 1);
	assert_int_equal(r.no_arch_all, 1);
	assert_int_equal(r.valid_until, 1686992013);
	assert_int_equal(r.nfiles, 2);
	f = release_find(&r, "main/binary-amd64/Packages.xz");
	assert_non_null(f);
	assert_int_equal(f->size, 8790396);
	assert_string_equal(f->sha256, "9e0b5aabb2465b3d2e7a7fe27f991384"
	    "6277833f7a2826e7767acccff5b588c5");
	assert_null(release_find(&r, "main/binary-i386/Packages.xz"));
	release_free(&r);
	assert_int_equal(release_parse("Suite: x\nSHA256:\n nothex 1 a\n", &r,
	    err, sizeof(err)), -1);
	assert_int_equal(release_parse("Suite: x\n", &r, err, sizeof(err)),
	    -1);
	assert_int_equal(release_parse("Suite: x\nValid-Until: someday\n"
	    "SHA256:\n", &r, err, sizeof(err)), -1);
	assert_int_equal(release_date("10 Jun 2023 08:53:33 UTC"), 1686387213);
	assert_int_equal(release_date("Sat, 10 Jun 2023 08:53:33 CEST"),
	    (time_t)-1);
}

static void
test_dearmor(void **state)
{
	/* "hello, key" in an armor block with a header and a checksum. */
	static const char armored[] =
	    "-----BEGIN PGP PUBLIC KEY BLOCK-----\n"
	    "Comment: a test\n"
	    "\n"
	    "aGVsbG8s\n"
	    "IGtleQ==\n"
	    "=abcd\n"
	    "-----END PGP PUBLIC KEY BLOCK-----\n";
	struct buf	 out;

	(void)state;
	buf_init(&out);
	assert_int_equal(gpg_dearmor(armored, strlen(armored), &out), 0);
	assert_int_equal(out.len, 10);
	assert_memory_equal(out.data, "hello, key", 10);
	assert_int_equal(gpg_dearmor("no armor", 8, &out), -1);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expire),
		cmocka_unit_test(test_deb_url_form),
		cmocka_unit_test(test_deb_object_form),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_dearmor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
