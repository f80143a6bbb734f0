/*
 * The S3 client and the org.osbuild.aws.s3 target. Offline: presigning
 * against AWS's documented example, key checks, XML errors, credentials
 * files. Against a real S3 server (s3rver, started by t_s3_unit.py which
 * sets IB_S3_TEST_ENDPOINT and IB_S3_TEST_BUCKET; skipped without it):
 * single and multipart uploads read back through the presigned URL, and
 * the failures a job must report. With IB_S3_BENCH_FILE set, uploads that
 * file once and prints the time (ci/bench-s3.sh).
 */
#include <sys/stat.h>

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

#include "aws.h"
#include "config.h"
#include "http.h"
#include "job.h"
#include "log.h"
#include "s3.h"
#include "targets.h"
#include "util.h"
#include "watch.h"
#include "xml.h"

/* main.c owns the run flags; weak so a library copy wins if one exists. */
__attribute__((weak)) struct runflags runflags;

static char	 tmpdir[] = "/tmp/test_s3.XXXXXX";

static const char *
endpoint(void)
{
	return getenv("IB_S3_TEST_ENDPOINT");
}

static const char *
bucket(void)
{
	const char	*b = getenv("IB_S3_TEST_BUCKET");

	return b ? b : "bkt";
}

#define NEED_SERVER() do {						\
	if (endpoint() == NULL || !xml_available())			\
		skip();							\
} while (0)

/* A file of n pseudo-random bytes; caller frees the path. */
static char *
make_file(const char *name, size_t n, unsigned seed)
{
	char	*p = xasprintf("%s/%s", tmpdir, name), *b;
	size_t	 i;

	b = xmalloc(n ? n : 1);
	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (char)(seed >> 16);
	}
	assert_int_equal(write_file_atomic(p, b, n, 0644), 0);
	free(b);
	return p;
}

static void
test_presign_aws_example(void **state)
{
	/* The presigned-URL example of AWS's S3 SigV4 documentation. */
	struct aws_creds c = { .access_key = "AKIAIOSFODNN7EXAMPLE",
	    .secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };
	struct s3_cfg	 cfg = { .endpoint = "https://s3.amazonaws.com",
	    .region = "us-east-1", .bucket = "examplebucket", .path_style = -1,
	    .creds = &c };
	struct s3	*s;
	char		 err[256], *u;

	s = s3_new(&cfg, err, sizeof(err));
	assert_non_null(s);
	u = s3_presign_get(s, "test.txt", 86400, 1369353600);
	assert_string_equal(u, "https://examplebucket.s3.amazonaws.com/"
	    "test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
	    "AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
	    "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
	    "&X-Amz-SignedHeaders=host&X-Amz-Signature="
	    "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
	free(u);
	/* Never more than 7 days. */
	u = s3_presign_get(s, "test.txt", 10 * 86400, 1369353600);
	assert_non_null(strstr(u, "X-Amz-Expires=604800&"));
	free(u);
	u = s3_object_url(s, "a b/c+d");
	assert_string_equal(u, "https://examplebucket.s3.amazonaws.com/"
	    "a%20b/c%2Bd");
	free(u);
	s3_free(s);

	/* Path style with a custom endpoint, the default port dropped. */
	cfg.endpoint = "https://minio.example:443/base/";
	cfg.path_style = 0;
	s = s3_new(&cfg, err, sizeof(err));
	assert_non_null(s);
	u = s3_object_url(s, "k");
	assert_string_equal(u, "https://minio.example/base/examplebucket/k");
	free(u);
	s3_free(s);

	cfg.endpoint = "ftp://x";
	assert_null(s3_new(&cfg, err, sizeof(err)));
	cfg.endpoint = NULL;
	cfg.bucket = "bad/bucket";
	assert_null(s3_new(&cfg, err, sizeof(err)));
}

static void
test_keys(void **state)
{
	assert_true(s3_key_ok("abc-image.raw"));
	assert_true(s3_key_ok("dir/sub/x..y"));
	assert_false(s3_key_ok(""));
	assert_false(s3_key_ok("/abs"));
	assert_false(s3_key_ok("a/../b"));
	assert_false(s3_key_ok(".."));
	assert_false(s3_key_ok("a/./b"));
	assert_false(s3_key_ok("new\nline"));
	assert_false(s3_key_ok("tab\there"));
}

static void
test_xml_errors(void **state)
{
	const char	*s3err = "<?xml version=\"1.0\"?><Error><Code>NoSuchBucket"
	    "</Code><Message>The specified bucket does not exist</Message>"
	    "</Error>";
	const char	*ec2err = "<Response><Errors><Error><Code>"
	    "RequestLimitExceeded</Code><Message>Request limit exceeded."
	    "</Message></Error></Errors><RequestID>x</RequestID></Response>";
	char		 msg[256], code[64], *v;

	if (!xml_available())
		skip();
	assert_int_equal(xml_error(s3err, strlen(s3err), msg, sizeof(msg),
	    code, sizeof(code)), 0);
	assert_string_equal(code, "NoSuchBucket");
	assert_string_equal(msg, "NoSuchBucket: The specified bucket does not "
	    "exist");
	assert_int_equal(xml_error(ec2err, strlen(ec2err), msg,
	    sizeof(msg), code, sizeof(code)), 0);
	assert_string_equal(code, "RequestLimitExceeded");
	assert_int_equal(xml_error("not xml", 7, msg, sizeof(msg), code,
	    sizeof(code)), -1);
	v = xml_find("<a><b><UploadId>u-1</UploadId></b></a>", 38,
	    "UploadId");
	assert_string_equal(v, "u-1");
	free(v);
	v = xml_escape("<a&'\">");
	assert_string_equal(v, "&lt;a&amp;&apos;&quot;&gt;");
	free(v);
}

static void
test_creds_file(void **state)
{
	struct aws_creds c;
	char		 err[256], *p;
	const char	*f = "# comment\n[other]\naws_access_key_id = NO\n"
	    "aws_secret_access_key=NO\n\n[default]\n aws_access_key_id = AK1 \n"
	    "aws_secret_access_key=SK/1+x\naws_session_token = TOK\n";

	p = xasprintf("%s/creds", tmpdir);
	assert_int_equal(write_file_atomic(p, f, strlen(f), 0600), 0);
	assert_int_equal(aws_creds_from_file(p, NULL, &c, err, sizeof(err)), 0);
	assert_string_equal(c.access_key, "AK1");
	assert_string_equal(c.secret_key, "SK/1+x");
	assert_string_equal(c.token, "TOK");
	aws_creds_clear(&c);
	assert_int_equal(aws_creds_from_file(p, "nope", &c, err, sizeof(err)),
	    -1);
	/* The reason names the file, never what is in it. */
	assert_null(strstr(err, "SK/1"));
	assert_int_equal(aws_creds_resolve(NULL, "AK", "", NULL, p, &c, err,
	    sizeof(err)), -1);
	assert_int_equal(aws_creds_resolve(NULL, "AK", "S K", NULL, p, &c, err,
	    sizeof(err)), -1);
	assert_int_equal(aws_creds_resolve(NULL, "AK", "SK", NULL, p, &c, err,
	    sizeof(err)), 0);
	assert_string_equal(c.source, "the job");
	aws_creds_clear(&c);
	assert_int_equal(aws_creds_resolve(NULL, NULL, NULL, NULL, p, &c, err,
	    sizeof(err)), 0);
	assert_string_equal(c.access_key, "AK1");
	aws_creds_clear(&c);
	unlink(p);
	free(p);
}

/* Runs the target on path; returns its rc, fills opts and terr. */
static int
run_target(const char *opts_json, const char *fname, const char *path,
    json_object **opts, struct target_err *terr,
    const atomic_int *abort)
{
	struct config		*conf = config_defaults();
	struct target_ctx	 ctx;
	json_object		*t, *art;
	int			 rv;

	conf->worker.backoff_max = 1;
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = conf;
	ctx.abort = abort;
	t = json_object_new_object();
	json_object_object_add(t, "name",
	    json_object_new_string("org.osbuild.aws.s3"));
	json_object_object_add(t, "options", json_tokener_parse(opts_json));
	art = json_object_new_object();
	json_object_object_add(art, "export_filename",
	    json_object_new_string(fname));
	json_object_object_add(art, "export_name",
	    json_object_new_string("image"));
	json_object_object_add(t, "osbuild_artifact", art);
	memset(terr, 0, sizeof(*terr));
	*opts = NULL;
	rv = target_aws_s3.run(&ctx, t, path, opts, terr);
	json_object_put(t);
	config_free(conf);
	return rv;
}

static char *
opts(const char *extra)
{
	return xasprintf("{\"endpoint\":\"%s\",\"region\":\"us-east-1\","
	    "\"bucket\":\"%s\",\"accessKeyID\":\"S3RVER\","
	    "\"secretAccessKey\":\"S3RVER\",\"key\":\"job1\"%s}", endpoint(),
	    bucket(), extra ? extra : "");
}

/* GETs url into a file and compares it with path. */
static void
assert_same_content(const char *url, const char *path)
{
	struct http_opts	 ho = { 0 };
	struct http		*h = http_new(&ho);
	struct http_req		 req = { 0 };
	struct http_resp	 resp;
	char			*got = xasprintf("%s/got", tmpdir), *a, *b;
	size_t			 la, lb;

	req.url = url;
	req.out_path = got;
	http_resp_init(&resp);
	assert_int_equal(http_do(h, &req, &resp), 0);
	assert_int_equal(resp.status, 200);
	a = read_file(path, 256 << 20, &la);
	b = read_file(got, 256 << 20, &lb);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	free(a);
	free(b);
	unlink(got);
	free(got);
	http_resp_free(&resp);
	http_free(h);
}

static void
test_put_small(void **state)
{
	json_object		*o, *v;
	struct target_err	 e;
	char			*p, *js;

	NEED_SERVER();
	p = make_file("small.raw", 1000, 1);
	js = opts(NULL);
	assert_int_equal(run_target(js, "small.raw", p, &o, &e, NULL), 0);
	assert_true(json_object_object_get_ex(o, "url", &v));
	/* KEY-EXPORTFILENAME, presigned for 7 days. */
	assert_non_null(strstr(json_object_get_string(v),
	    "/job1-small.raw?X-Amz-Algorithm=AWS4-HMAC-SHA256"));
	assert_non_null(strstr(json_object_get_string(v),
	    "X-Amz-Expires=604800"));
	assert_same_content(json_object_get_string(v), p);
	json_object_put(o);
	free(js);

	/* public: the plain URL. An empty file works too. */
	free(p);
	p = make_file("empty.raw", 0, 1);
	js = opts(",\"public\":true");
	assert_int_equal(run_target(js, "empty.raw", p, &o, &e, NULL), 0);
	assert_true(json_object_object_get_ex(o, "url", &v));
	assert_null(strstr(json_object_get_string(v), "X-Amz"));
	assert_non_null(strstr(json_object_get_string(v), "/job1-empty.raw"));
	assert_same_content(json_object_get_string(v), p);
	json_object_put(o);
	free(js);
	free(p);
}

static void
test_multipart_parallel(void **state)
{
	struct aws_creds c = { .access_key = "S3RVER", .secret_key = "S3RVER" };
	struct s3_cfg	 cfg = { 0 };
	struct s3	*s;
	char		 err[256], *p, *u;
	int64_t		 size = 0;

	NEED_SERVER();
	p = make_file("big.raw", 23 * 1024 * 1024 + 17, 7);
	cfg.endpoint = endpoint();
	cfg.bucket = bucket();
	cfg.creds = &c;
	cfg.part_size = S3_MIN_PART;
	cfg.parallel = 3;
	s = s3_new(&cfg, err, sizeof(err));
	assert_non_null(s);
	if (s3_put_file(s, "mp/big.raw", p) != 0)
		fail_msg("%s", s3_error(s));
	assert_int_equal(s3_stats(s)->parts, 5);
	assert_int_equal(s3_stats(s)->max_inflight, 3);
	assert_int_equal(s3_head(s, "mp/big.raw", &size), 0);
	assert_int_equal(size, 23 * 1024 * 1024 + 17);
	u = s3_presign_get(s, "mp/big.raw", 3600, time(NULL));
	assert_same_content(u, p);
	free(u);
	assert_int_equal(s3_delete(s, "mp/big.raw"), 0);
	assert_int_equal(s3_head(s, "mp/big.raw", &size), 1);
	s3_free(s);
	unlink(p);
	free(p);
}

static void
test_failures(void **state)
{
	json_object		*o;
	struct target_err	 e;
	atomic_int		 stop = 1;
	char			*p, *js, *big;
	int			 fd;

	NEED_SERVER();
	p = make_file("f.raw", 100, 3);

	/* A bucket that does not exist: S3's own words, error 11. */
	js = xasprintf("{\"endpoint\":\"%s\",\"region\":\"us-east-1\","
	    "\"bucket\":\"no-such-bucket\",\"accessKeyID\":\"S3RVER\","
	    "\"secretAccessKey\":\"S3RVER\"}",
	    endpoint());
	assert_int_equal(run_target(js, "f.raw", p, &o, &e, NULL), -1);
	assert_int_equal(e.id, JOB_ERR_UPLOAD);
	assert_non_null(strstr(e.reason, "NoSuchBucket"));
	assert_non_null(strstr(e.reason, "does not exist"));
	free(js);

	/* An unknown access key; the secret never appears. */
	js = xasprintf("{\"endpoint\":\"%s\",\"region\":\"us-east-1\","
	    "\"bucket\":\"%s\",\"accessKeyID\":\"WRONGKEY\","
	    "\"secretAccessKey\":\"TOPSECRET9\"}",
	    endpoint(), bucket());
	assert_int_equal(run_target(js, "f.raw", p, &o, &e, NULL), -1);
	assert_int_equal(e.id, JOB_ERR_UPLOAD);
	assert_non_null(strstr(e.reason, "InvalidAccessKeyId"));
	assert_null(strstr(e.reason, "TOPSECRET9"));
	free(js);

	/* Keys with ".." segments or control characters: error 2. */
	js = opts(NULL);
	assert_int_equal(run_target(js, "..", p, &o, &e, NULL), -1);
	assert_int_equal(e.id, JOB_ERR_INVALID_TARGET_CONFIG);
	free(js);
	js = xasprintf("{\"endpoint\":\"%s\",\"region\":\"us-east-1\","
	    "\"bucket\":\"%s\",\"key\":\"a/../b\",\"accessKeyID\":\"S3RVER\","
	    "\"secretAccessKey\":"
	    "\"S3RVER\"}", endpoint(), bucket());
	assert_int_equal(run_target(js, "f.raw", p, &o, &e, NULL), -1);
	assert_int_equal(e.id, JOB_ERR_INVALID_TARGET_CONFIG);
	free(js);
	js = xasprintf("{\"endpoint\":\"%s\",\"region\":\"us-east-1\","
	    "\"bucket\":\"%s\",\"key\":\"a\\u0001b\",\"accessKeyID\":\"S3RVER\","
	    "\"secretAccessKey\":"
	    "\"S3RVER\"}", endpoint(), bucket());
	assert_int_equal(run_target(js, "f.raw", p, &o, &e, NULL), -1);
	assert_int_equal(e.id, JOB_ERR_INVALID_TARGET_CONFIG);
	free(js);

	/* Only one half of a key pair. */
	js = xasprintf("{\"endpoint\":\"%s\",\"region\":\"us-east-1\","
	    "\"bucket\":\"%s\",\"accessKeyID\":\"S3RVER\"}", endpoint(), bucket());
	assert_int_equal(run_target(js, "f.raw", p, &o, &e, NULL), -1);
	assert_int_equal(e.id, JOB_ERR_INVALID_CONFIG);
	assert_non_null(strstr(e.reason, "only one"));
	free(js);

	/* Larger than S3 takes (a sparse 5 TiB + 1 file): refused at once. */
	big = xasprintf("%s/huge.raw", tmpdir);
	fd = open(big, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	assert_true(fd >= 0);
	if (ftruncate(fd, S3_MAX_OBJECT + 1) == 0) {
		js = opts(NULL);
		assert_int_equal(run_target(js, "huge.raw", big, &o, &e, NULL),
		    -1);
		assert_int_equal(e.id, JOB_ERR_UPLOAD);
		assert_non_null(strstr(e.reason, "more than"));
		free(js);
	}
	close(fd);
	unlink(big);
	free(big);

	/* Canceled: stops and says so. */
	js = opts(NULL);
	assert_int_equal(run_target(js, "f.raw", p, &o, &e, &stop), -1);
	assert_int_equal(e.id, JOB_ERR_UPLOAD);
	assert_non_null(strstr(e.reason, "canceled"));
	free(js);
	unlink(p);
	free(p);
}

static int
bench(const char *path)
{
	struct aws_creds c = { .access_key = "S3RVER", .secret_key = "S3RVER" };
	struct s3_cfg	 cfg = { 0 };
	struct s3	*s;
	char		 err[256];
	const char	*e;
	int64_t		 t0;
	struct stat	 st;

	cfg.endpoint = endpoint();
	cfg.bucket = bucket();
	cfg.creds = &c;
	if ((e = getenv("IB_S3_PART_SIZE")) != NULL)
		cfg.part_size = strtoll(e, NULL, 10);
	if ((e = getenv("IB_S3_PARALLEL")) != NULL)
		cfg.parallel = atoi(e);
	if (stat(path, &st) == -1 || (s = s3_new(&cfg, err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "bench: cannot start\n");
		return 1;
	}
	t0 = now_ms();
	if (s3_put_file(s, "bench/worker.raw", path) == -1) {
		fprintf(stderr, "bench: %s\n", s3_error(s));
		return 1;
	}
	printf("worker_ms=%lld bytes=%lld parts=%d parallel=%d\n",
	    (long long)(now_ms() - t0), (long long)st.st_size,
	    s3_stats(s)->parts, s3_stats(s)->max_inflight);
	s3_free(s);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_presign_aws_example),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_xml_errors),
		cmocka_unit_test(test_creds_file),
		cmocka_unit_test(test_put_small),
		cmocka_unit_test(test_multipart_parallel),
		cmocka_unit_test(test_failures),
	};
	int	 rv;

	log_init(0, LOG_TEXT);
	if (getenv("IB_S3_BENCH_FILE") != NULL && endpoint() != NULL)
		return bench(getenv("IB_S3_BENCH_FILE"));
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	remove_tree(tmpdir);
	return rv;
}
