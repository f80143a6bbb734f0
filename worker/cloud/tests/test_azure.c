/*
 * The Azure client offline: SharedKey canonicalization against the
 * examples of Microsoft's "Authorize with Shared Key" page (query
 * parameters, repeated names, x-ms- headers, zero Content-Length), the
 * signature against Python's hmac over azurite's published development
 * key, the credentials file, the name checks, and the pause between the
 * polls of a long operation that GCE and ARM share (cloud.c).
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "azure.h"
#include "cloud.h"
#include "util.h"
#include "watch.h"

__attribute__((weak)) struct runflags runflags;

/* Azurite's well-known development account key (public, not a secret). */
#define DEV_KEY "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6" \
	"tq/K1SZFPTOtr/KBHBeksoGMGw=="

static void
test_resource_examples(void **state)
{
	const char	*h[] = { NULL };
	char		*s;

	/* Microsoft's example: a container's metadata. */
	s = azure_sharedkey_string("GET", "myaccount", "/mycontainer",
	    "restype=container&comp=metadata", h);
	assert_string_equal(s, "GET\n\n\n\n\n\n\n\n\n\n\n\n"
	    "/myaccount/mycontainer\ncomp:metadata\nrestype:container");
	free(s);
	/* Repeated names join their values, sorted, by commas. */
	s = azure_sharedkey_string("GET", "myaccount", "/mycontainer",
	    "restype=container&comp=list&include=snapshots&include=metadata"
	    "&include=uncommittedblobs", h);
	assert_string_equal(s, "GET\n\n\n\n\n\n\n\n\n\n\n\n"
	    "/myaccount/mycontainer\ncomp:list\n"
	    "include:metadata,snapshots,uncommittedblobs\nrestype:container");
	free(s);
	/* Names lower-cased, values decoded. */
	s = azure_sharedkey_string("GET", "acct", "/c/b", "COMP=a%20b", h);
	assert_string_equal(s, "GET\n\n\n\n\n\n\n\n\n\n\n\n/acct/c/b\ncomp:a b");
	free(s);
}

static void
test_headers(void **state)
{
	const char	*h[] = { "x-ms-version: 2021-08-06",
	    "X-MS-Date:  Sun, 29 Nov 2026 14:08:20 GMT  ",
	    "Content-Length: 0", "x-ms-blob-type: PageBlob",
	    "Content-Type: application/octet-stream", NULL };
	char		*s;

	s = azure_sharedkey_string("PUT", "acct", "/imagebuilder/x.vhd", NULL,
	    h);
	/* Zero length signs as empty; x-ms- sorted, trimmed, lower-case. */
	assert_string_equal(s, "PUT\n\n\n\n\napplication/octet-stream\n\n\n\n"
	    "\n\n\nx-ms-blob-type:PageBlob\n"
	    "x-ms-date:Sun, 29 Nov 2026 14:08:20 GMT\n"
	    "x-ms-version:2021-08-06\n/acct/imagebuilder/x.vhd");
	free(s);
}

static void
test_signature(void **state)
{
	const char	*h[] = { "x-ms-date: Sun, 29 Nov 2026 14:08:20 GMT",
	    "x-ms-version: 2021-08-06", "Content-Length: 4194304",
	    "x-ms-page-write: update", "x-ms-range: bytes=0-4194303", NULL };
	char		*s, *sig;

	/* Path style, as azurite addresses accounts. */
	s = azure_sharedkey_string("PUT", "devstoreaccount1",
	    "/devstoreaccount1/imagebuilder/img.vhd", "comp=page", h);
	assert_string_equal(s, "PUT\n\n\n4194304\n\n\n\n\n\n\n\n\n"
	    "x-ms-date:Sun, 29 Nov 2026 14:08:20 GMT\nx-ms-page-write:update\n"
	    "x-ms-range:bytes=0-4194303\nx-ms-version:2021-08-06\n"
	    "/devstoreaccount1/devstoreaccount1/imagebuilder/img.vhd\n"
	    "comp:page");
	/* Python: base64(hmac.new(b64decode(key), sts, sha256).digest()) */
	sig = azure_sharedkey_sign(DEV_KEY, s);
	assert_non_null(sig);
	assert_string_equal(sig, "636I9Uzz7JXwftzAf+Fab8rM1NEQSpZnSi5YhRY6wBc=");
	free(sig);
	assert_null(azure_sharedkey_sign("not base64!", s));
	assert_null(azure_sharedkey_sign("", s));
	free(s);
}

static void
test_creds(void **state)
{
	struct azure_creds	 c;
	char			 path[] = "/tmp/test_azure.XXXXXX", err[256];
	int			 fd;
	const char		*good = "client_id = \"id-1\"\n"
	    "client_secret = \"s3cr3t\"\n";
	const char		*bad = "client_id = \"id-1\"\n";

	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write(fd, good, strlen(good)), (int)strlen(good));
	close(fd);
	assert_int_equal(azure_creds_from_file(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c.client_id, "id-1");
	assert_string_equal(c.client_secret, "s3cr3t");
	azure_creds_clear(&c);
	assert_null(c.client_secret);

	assert_true((fd = open(path, O_WRONLY | O_TRUNC)) != -1);
	assert_int_equal(write(fd, bad, strlen(bad)), (int)strlen(bad));
	close(fd);
	assert_int_equal(azure_creds_from_file(path, &c, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "client_secret"));
	unlink(path);
	assert_int_equal(azure_creds_from_file(path, &c, err, sizeof(err)), -1);
}

static void
test_names(void **state)
{
	assert_true(azure_account_ok("ib0123456789abcdef012345"));
	assert_false(azure_account_ok("ib0123456789abcdef0123456"));
	assert_false(azure_account_ok("Upper"));
	assert_false(azure_account_ok("ab"));
	assert_true(azure_blob_ok("img.vhd"));
	assert_true(azure_blob_ok("dir/img.vhd"));
	assert_false(azure_blob_ok("../img.vhd"));
	assert_false(azure_blob_ok("a/./b"));
	assert_false(azure_blob_ok("a\nb"));
	assert_false(azure_blob_ok(""));
	assert_true(azure_arm_name_ok("rg-1_x.y(z)"));
	assert_false(azure_arm_name_ok("rg/../x"));
	assert_false(azure_arm_name_ok("a?b"));
	assert_false(azure_arm_name_ok(".."));
	assert_false(azure_arm_name_ok("t\tx"));
}

/* The account of an image's blob URL, for the retention clean-up. */
static void
test_blob_account(void **state)
{
	char	*a;

	a = azure_blob_account("https://ibabc123.blob.core.windows.net/"
	    "imagebuilder/x.vhd");
	assert_string_equal(a, "ibabc123");
	free(a);
	a = azure_blob_account("http://127.0.0.1:10000/devstore1/c/x.vhd");
	assert_string_equal(a, "devstore1");
	free(a);
	assert_null(azure_blob_account("https://Bad_Name.blob.core.windows."
	    "net/c/x.vhd"));
	assert_null(azure_blob_account("http://127.0.0.1:1/a/c/x"));
	assert_null(azure_blob_account("no-scheme/acct/c/x"));
	assert_null(azure_blob_account("https://host-without-path"));
	assert_null(azure_blob_account(NULL));
}

static void
test_poll_pause(void **state)
{
	struct cloud_client	 cl;
	atomic_int		 abort_now = 0;
	int64_t			 t0 = now_ms();
	int			 polls = 0;

	memset(&cl, 0, sizeof(cl));
	cl.abort = &abort_now;
	/* Time left: sleeps the wait and counts the poll. */
	assert_int_equal(cloud_poll_pause(&cl, "creating image x", t0 + 10000,
	    10, 50, &polls), 0);
	assert_true(now_ms() - t0 >= 50);
	assert_int_equal(polls, 1);
	/* The wait would end past the deadline: the operation's timeout. */
	t0 = now_ms();
	assert_int_equal(cloud_poll_pause(&cl, "creating image x", t0 + 1000,
	    1, 5000, &polls), -1);
	assert_true(now_ms() - t0 < 1000);
	assert_string_equal(cl.err, "creating image x: not done after 1 s");
	assert_int_equal(polls, 1);
	/* Canceled. */
	abort_now = 1;
	assert_int_equal(cloud_poll_pause(&cl, "creating image x",
	    now_ms() + 10000, 10, 50, &polls), -1);
	assert_string_equal(cl.err, "canceled");
	assert_int_equal(cl.aborted, 1);
	assert_int_equal(polls, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resource_examples),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_creds),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_blob_account),
		cmocka_unit_test(test_poll_pause),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
