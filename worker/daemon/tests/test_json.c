/*
 * Job documents and the helpers around them: job_parse on the composer's
 * real answers and on hostile ones (what is refused outright, what comes
 * back marked invalid so the server can be told), the job_error shapes,
 * and util.c's base64, names, buffers and small files.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "job.h"
#include "jobs/jobs.h"
#include "log.h"
#include "util.h"

#define LOC	"/api/worker/v1/jobs/15eba9a5-c2e4-4435-aa42-588d2fc8e148"

static char	 top[4096];

/* Parses text and hands it to job_parse; NULL (doc freed) when refused. */
static struct job *
parse_text(const char *text, char *err, size_t errlen)
{
	json_object	*doc;
	struct job	*j;

	doc = json_tokener_parse(text);
	if (doc == NULL)
		fail_msg("test document does not parse: %s", text);
	err[0] = '\0';
	j = job_parse(doc, err, errlen);
	if (j == NULL) {
		/* The caller keeps doc when parsing fails. */
		assert_true(err[0] != '\0');
		json_object_put(doc);
	}
	return j;
}

/* A document with one field replaced by raw JSON (NULL: left out). */
static char *
doc_with(const char *field, const char *raw)
{
	const char	*fields[] = { "id", "type", "location",
			    "artifact_location", "args", "dynamic_args" };
	const char	*vals[] = { "\"4a4b-1\"", "\"osbuild\"", "\"" LOC "\"",
			    "\"" LOC "/artifacts/\"", "{\"k\":1}", "[{}]" };
	struct buf	 b;
	size_t		 i;
	int		 first = 1;

	buf_init(&b);
	buf_addstr(&b, "{");
	for (i = 0; i < nitems(fields); i++) {
		const char *v = strcmp(fields[i], field) == 0 ? raw : vals[i];

		if (v == NULL)
			continue;
		buf_printf(&b, "%s\"%s\":%s", first ? "" : ",", fields[i], v);
		first = 0;
	}
	buf_addstr(&b, "}");
	return buf_release(&b);
}

static void
refused(const char *field, const char *raw, const char *why)
{
	char		*text = doc_with(field, raw), err[256];
	struct job	*j;

	j = parse_text(text, err, sizeof(err));
	if (j != NULL)
		fail_msg("accepted %s=%s", field, raw ? raw : "(absent)");
	if (strstr(err, why) == NULL)
		fail_msg("%s=%s: error \"%s\" lacks \"%s\"", field,
		    raw ? raw : "(absent)", err, why);
	free(text);
}

/* Parsed, but marked invalid with a reason naming why. */
static struct job *
invalid(const char *field, const char *raw, const char *why)
{
	char		*text = doc_with(field, raw), err[256];
	struct job	*j;

	j = parse_text(text, err, sizeof(err));
	if (j == NULL)
		fail_msg("refused %s=%s: %s", field, raw ? raw : "(absent)",
		    err);
	if (j->invalid == NULL)
		fail_msg("%s=%s not marked invalid", field,
		    raw ? raw : "(absent)");
	if (strstr(j->invalid, why) == NULL)
		fail_msg("%s=%s: reason \"%s\" lacks \"%s\"", field,
		    raw ? raw : "(absent)", j->invalid, why);
	/* Whatever is wrong, the fields a report needs are usable. */
	assert_string_equal(j->location, LOC);
	assert_non_null(j->id);
	assert_non_null(j->type);
	assert_non_null(j->artifact_location);
	assert_true(json_object_is_type(j->args, json_type_object));
	assert_true(j->dynamic_args == NULL ||
	    json_object_is_type(j->dynamic_args, json_type_array));
	free(text);
	return j;
}

static char *
long_string(size_t n, char c, const char *prefix)
{
	char	*s = xmalloc(n + 3);
	size_t	 p = strlen(prefix);

	s[0] = '"';
	memcpy(s + 1, prefix, p);
	memset(s + 1 + p, c, n - p);
	s[n + 1] = '"';
	s[n + 2] = '\0';
	return s;
}

static void
test_fixture(void **state)
{
	char		*path, *text, err[256];
	struct job	*j;
	json_object	*v;

	path = xasprintf("%s/worker/tests/fixtures/"
	    "composer-v105-requestjob-osbuild-response.json", top);
	text = read_file(path, 4 << 20, NULL);
	assert_non_null(text);
	j = parse_text(text, err, sizeof(err));
	assert_non_null(j);
	assert_null(j->invalid);
	assert_string_equal(j->id, "fbd4fdcb-53a0-4c12-9e82-2384f56b0097");
	assert_string_equal(j->type, "osbuild");
	assert_string_equal(j->location, LOC);
	assert_string_equal(j->artifact_location, LOC "/artifacts/");
	assert_true(json_object_object_get_ex(j->args, "targets", &v));
	assert_non_null(j->dynamic_args);
	assert_true(json_object_array_length(j->dynamic_args) > 0);
	assert_int_equal(job_canceled(j), 0);
	assert_int_equal(atomic_load(&j->pgid), 0);
	job_free(j);
	free(text);
	free(path);
}

static void
test_minimal_and_defaults(void **state)
{
	char		 err[256];
	struct job	*j;
	json_object	*v;

	/* No artifact_location: uploads go below the location. */
	j = parse_text("{\"id\":\"x\",\"type\":\"depsolve\",\"location\":\""
	    LOC "\",\"args\":{}}", err, sizeof(err));
	assert_non_null(j);
	assert_null(j->invalid);
	assert_string_equal(j->artifact_location, LOC "/artifacts/");
	assert_null(j->dynamic_args);
	job_free(j);

	/* No args, or null args: an empty object that doc owns. */
	j = parse_text("{\"id\":\"x\",\"type\":\"t\",\"location\":\"/l\"}",
	    err, sizeof(err));
	assert_non_null(j);
	assert_null(j->invalid);
	assert_true(json_object_is_type(j->args, json_type_object));
	assert_int_equal(json_object_object_length(j->args), 0);
	assert_true(json_object_object_get_ex(j->doc, "args", &v));
	assert_ptr_equal(v, j->args);
	job_free(j);

	j = parse_text("{\"id\":\"x\",\"type\":\"t\",\"location\":\"/l\","
	    "\"args\":null,\"dynamic_args\":null}", err, sizeof(err));
	assert_non_null(j);
	assert_null(j->invalid);
	assert_true(json_object_is_type(j->args, json_type_object));
	assert_null(j->dynamic_args);
	job_free(j);

	/* Unknown members are ignored, as the reference worker does. */
	j = parse_text("{\"id\":\"x\",\"type\":\"t\",\"location\":\"/l\","
	    "\"kind\":\"RequestJob\",\"href\":\"/h\",\"new\":[1,2]}", err,
	    sizeof(err));
	assert_non_null(j);
	assert_null(j->invalid);
	job_free(j);
}

static void
test_not_an_object(void **state)
{
	const char	*docs[] = { "[]", "[{\"location\":\"/l\"}]", "\"s\"",
			    "42", "true" };
	char		 err[256];
	size_t		 i;

	for (i = 0; i < nitems(docs); i++) {
		assert_null(parse_text(docs[i], err, sizeof(err)));
		assert_non_null(strstr(err, "not a JSON object"));
	}
	err[0] = '\0';
	assert_null(job_parse(NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "not a JSON object"));
}

static void
test_bad_location(void **state)
{
	const char	*hostile[] = {
		"\"api/worker/v1/jobs/tok\"",		/* relative */
		"\"http://evil.example/jobs/tok\"",	/* absolute URL */
		"\"https://evil.example/\"",
		"\"/api/../../etc/passwd\"",
		"\"/api/worker/v1/jobs/../workers\"",
		"\"/api/./jobs\"",
		"\"/api/worker/v1/jobs/..\"",		/* trailing dot segments */
		"\"/api/worker/v1/jobs/.\"",
		"\"/..\"",
		"\"/jobs/tok?x=1\"",
		"\"/jobs/tok#frag\"",
		"\"/jobs/t k\"",
		"\"/jobs/tok\\t\"",
		"\"/jobs/tok\\r\\nX-Injected: 1\"",
		"\"/jobs\\\\tok\"",
		"\"/jobs/\\u007f\"",
		"\" /jobs/tok\"",
	};
	struct job	*j;
	char		*big, *text, err[256];
	size_t		 i;

	refused("location", NULL, "no \"location\"");
	refused("location", "null", "no \"location\"");
	refused("location", "42", "not a string");
	refused("location", "[\"/l\"]", "not a string");
	refused("location", "{}", "not a string");
	refused("location", "\"\"", "empty");
	refused("location", "\"/jobs/a\\u0000b\"", "malformed");
	big = long_string(1025, 'a', "/");
	refused("location", big, "malformed");
	free(big);
	for (i = 0; i < nitems(hostile); i++)
		refused("location", hostile[i], "not a plain path");

	/* The longest accepted location. */
	big = long_string(1024, 'a', "/");
	text = doc_with("location", big);
	j = parse_text(text, err, sizeof(err));
	assert_non_null(j);
	assert_int_equal(strlen(j->location), 1024);
	job_free(j);
	free(text);
	free(big);
}

static void
test_invalid_fields(void **state)
{
	struct job	*j;
	char		*big;

	j = invalid("id", NULL, "no \"id\"");
	assert_string_equal(j->id, "(no id)");
	job_free(j);
	job_free(invalid("id", "17", "\"id\" is not a string"));
	job_free(invalid("id", "\"\"", "\"id\" is empty"));
	job_free(invalid("id", "\"a\\u0000b\"", "malformed"));
	big = long_string(5000, 'x', "");
	job_free(invalid("id", big, "malformed"));

	j = invalid("type", NULL, "no \"type\"");
	assert_string_equal(j->type, "(no type)");
	assert_string_equal(j->id, "4a4b-1");
	job_free(j);
	job_free(invalid("type", "{}", "\"type\" is not a string"));
	job_free(invalid("type", "\"os\\u0000build\"", "malformed"));
	job_free(invalid("type", big, "malformed"));
	free(big);

	job_free(invalid("artifact_location", "3", "not a string"));
	j = invalid("artifact_location", "\"http://evil.example/a/\"",
	    "artifact_location is not a plain path");
	/* Never the hostile value, even while reporting. */
	assert_string_equal(j->artifact_location, LOC "/artifacts/");
	job_free(j);
	job_free(invalid("artifact_location", "\"/a/../../b/\"",
	    "not a plain path"));
	job_free(invalid("artifact_location", "\"/a/b?c\"",
	    "not a plain path"));

	j = invalid("args", "[1,2]", "args are not an object");
	assert_int_equal(json_object_object_length(j->args), 0);
	job_free(j);
	job_free(invalid("args", "\"{}\"", "args are not an object"));
	job_free(invalid("args", "7", "args are not an object"));

	j = invalid("dynamic_args", "{}", "dynamic_args are not an array");
	assert_null(j->dynamic_args);
	job_free(j);
	job_free(invalid("dynamic_args", "\"x\"", "not an array"));
}

/* Runs the job in text with kind k: it must fail on its arguments. */
static void
refused_args(const struct job_kind *k, const char *args, const char *reason)
{
	static struct config	 conf;
	struct job_ctx		 ctx;
	struct job		*j;
	json_object		*r, *e;
	char			 err[256], *text;

	text = xasprintf("{\"location\":\"" LOC "\",\"id\":\"4a4b-1\","
	    "\"type\":\"%s\",\"args\":%s}", k->name, args);
	j = parse_text(text, err, sizeof(err));
	free(text);
	assert_non_null(j);
	assert_null(j->invalid);
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = &conf;
	r = k->run(j, &ctx);
	assert_non_null(e = job_result_error(r));
	assert_int_equal(json_object_get_int(json_object_object_get(e, "id")),
	    JOB_ERR_PARSING_ARGS);
	if (reason != NULL)
		assert_non_null(strstr(json_object_get_string(
		    json_object_object_get(e, "reason")), reason));
	json_object_put(r);
	job_free(j);
}

/*
 * A job argument with a NUL inside is refused as a whole, never read up
 * to the NUL (a name could hide its tail behind one): the job fails on
 * its arguments before any call to AWS or any fetch. Members and the
 * items of lists alike.
 */
static void
test_args_with_nul_refused(void **state)
{
	refused_args(&job_kind_aws_ec2_copy, "{\"ami\":"
	    "\"ami-0123456789abcdef0\",\"source_region\":\"us-east-1\","
	    "\"target_region\":\"eu-west-1\",\"target_name\":"
	    "\"image\\u0000tail\"}", NULL);
	refused_args(&job_kind_aws_ec2_share, "{\"ami\":"
	    "\"ami-0123456789abcdef0\",\"region\":\"us-east-1\","
	    "\"shareWithAccounts\":[\"123456789012\\u0000x\"]}", NULL);
	refused_args(&job_kind_file_resolve, "{\"urls\":"
	    "[\"http://127.0.0.1:9/a\\u0000.example.com/\"]}", "without NUL");
}

static void
test_first_problem_reported(void **state)
{
	char		 err[256];
	struct job	*j;

	j = parse_text("{\"location\":\"/l\",\"id\":5,\"type\":6,\"args\":[],"
	    "\"dynamic_args\":{}}", err, sizeof(err));
	assert_non_null(j);
	assert_non_null(j->invalid);
	assert_non_null(strstr(j->invalid, "\"id\""));
	/* type was not even looked at once id failed; it still has a name. */
	assert_string_equal(j->type, "(no type)");
	assert_true(json_object_is_type(j->args, json_type_object));
	assert_null(j->dynamic_args);
	job_free(j);
}

static void
test_error_shapes(void **state)
{
	json_object	*r, *e, *v, *d;

	r = job_error_result(JOB_ERR_BUILD, "osbuild failed",
	    json_object_new_string("stage org.osbuild.rpm"));
	assert_int_equal(json_object_object_length(r), 1);
	e = job_result_error(r);
	assert_non_null(e);
	assert_true(json_object_object_get_ex(e, "id", &v));
	assert_true(json_object_is_type(v, json_type_int));
	assert_int_equal(json_object_get_int(v), 10);
	assert_true(json_object_object_get_ex(e, "reason", &v));
	assert_string_equal(json_object_get_string(v), "osbuild failed");
	assert_true(json_object_object_get_ex(e, "details", &v));
	assert_string_equal(json_object_get_string(v),
	    "stage org.osbuild.rpm");
	assert_string_equal(json_object_to_json_string_ext(r,
	    JSON_C_TO_STRING_PLAIN),
	    "{\"job_error\":{\"id\":10,\"reason\":\"osbuild failed\","
	    "\"details\":\"stage org.osbuild.rpm\"}}");
	json_object_put(r);

	/* No details: no key; no reason: an empty one. */
	r = job_error_result(JOB_ERR_PARSING_ARGS, NULL, NULL);
	assert_string_equal(json_object_to_json_string_ext(r,
	    JSON_C_TO_STRING_PLAIN),
	    "{\"job_error\":{\"id\":29,\"reason\":\"\"}}");
	json_object_put(r);

	/* job_set_error keeps the rest of a result and replaces an error. */
	r = json_object_new_object();
	json_object_object_add(r, "success", json_object_new_boolean(0));
	json_object_object_add(r, "results", json_object_new_array());
	job_set_error(r, JOB_ERR_UPLOAD, "first", NULL);
	d = json_object_new_array();
	json_object_array_add(d, json_object_new_string("a"));
	job_set_error(r, JOB_ERR_REMOTE_FILE_RESOLUTION, "second", d);
	assert_int_equal(json_object_object_length(r), 3);
	e = job_result_error(r);
	assert_int_equal(json_object_get_int(json_object_object_get(e, "id")),
	    36);
	assert_string_equal(json_object_get_string(json_object_object_get(e,
	    "reason")), "second");
	assert_ptr_equal(json_object_object_get(e, "details"), d);
	assert_true(json_object_object_get_ex(r, "success", &v));
	json_object_put(r);
}

static void
test_result_error_lookup(void **state)
{
	const char	*none[] = { "{}", "{\"success\":true}",
			    "{\"job_error\":null}", "{\"job_error\":\"x\"}",
			    "{\"job_error\":[1]}", "[{\"job_error\":{}}]",
			    "\"job_error\"" };
	json_object	*r;
	size_t		 i;

	assert_null(job_result_error(NULL));
	for (i = 0; i < nitems(none); i++) {
		r = json_tokener_parse(none[i]);
		assert_non_null(r);
		if (job_result_error(r) != NULL)
			fail_msg("found a job_error in %s", none[i]);
		json_object_put(r);
	}
	/* A dynamic argument carrying its dependency's error. */
	r = json_tokener_parse("{\"packages\":[],\"job_error\":{\"id\":20,"
	    "\"reason\":\"depsolve\"}}");
	assert_int_equal(json_object_get_int(json_object_object_get(
	    job_result_error(r), "id")), JOB_ERR_DNF_DEPSOLVE);
	json_object_put(r);
}

static void
test_base64(void **state)
{
	/* RFC 4648 section 10, then every tail length and the two last
	 * characters of the alphabet. */
	static const struct {
		const char	*in;
		size_t		 len;
		const char	*out;
	} v[] = {
		{ "", 0, "" },
		{ "f", 1, "Zg==" },
		{ "fo", 2, "Zm8=" },
		{ "foo", 3, "Zm9v" },
		{ "foob", 4, "Zm9vYg==" },
		{ "fooba", 5, "Zm9vYmE=" },
		{ "foobar", 6, "Zm9vYmFy" },
		{ "\0\0\0", 3, "AAAA" },
		{ "\0", 1, "AA==" },
		{ "\xff\xfe\xfd", 3, "//79" },
		{ "\xfb\xff", 2, "+/8=" },
		{ "hello\n", 6, "aGVsbG8K" },
	};
	unsigned char	 all[256];
	char		*s;
	size_t		 i;

	for (i = 0; i < nitems(v); i++) {
		s = base64_encode(v[i].in, v[i].len);
		assert_string_equal(s, v[i].out);
		free(s);
	}
	for (i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)i;
	s = base64_encode(all, sizeof(all));
	assert_int_equal(strlen(s), 344);
	assert_true(strncmp(s, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g",
	    44) == 0);
	assert_string_equal(s + 340, "/w==");
	assert_int_equal(strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789+/="), 344);
	free(s);
}

static void
test_name_is_safe(void **state)
{
	const char	*good[] = { "disk.qcow2", "a", "...", "..a", "a..",
			    ".hidden", "image name with spaces.raw",
			    "caf\xc3\xa9.img", "x-y_z~1" };
	const char	*bad[] = { "", ".", "..", "a/b", "/abs", "dir/",
			    "../etc", "a\\b", "a\nb", "tab\t", "\x1f",
			    "del\x7f", "\x01" };
	char		 name[300];
	size_t		 i;

	for (i = 0; i < nitems(good); i++)
		if (!name_is_safe(good[i]))
			fail_msg("\"%s\" refused", good[i]);
	for (i = 0; i < nitems(bad); i++)
		if (name_is_safe(bad[i]))
			fail_msg("\"%s\" accepted", bad[i]);
	assert_int_equal(name_is_safe(NULL), 0);
	memset(name, 'n', sizeof(name));
	name[255] = '\0';
	assert_int_equal(name_is_safe(name), 1);
	name[255] = 'n';
	name[256] = '\0';
	assert_int_equal(name_is_safe(name), 0);
}

static void
test_buf(void **state)
{
	struct buf	 b;
	char		*p;
	size_t		 i, cap;

	buf_init(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	/* Adding nothing still gives a terminated, empty string. */
	buf_add(&b, "", 0);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");

	buf_addstr(&b, "abc");
	buf_add(&b, "\0def", 4);
	assert_int_equal(b.len, 7);
	assert_memory_equal(b.data, "abc\0def", 8);
	buf_printf(&b, "-%d-%s", 42, "x");
	assert_int_equal(b.len, 12);
	assert_memory_equal(b.data + 7, "-42-x", 6);

	for (i = 0; i < 100000; i++)
		buf_add(&b, "0123456789", 10);
	assert_int_equal(b.len, 12 + 1000000);
	assert_true(b.cap > b.len);
	assert_int_equal(b.data[b.len], '\0');
	assert_memory_equal(b.data + b.len - 10, "0123456789", 10);

	cap = b.cap;
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, cap);
	assert_string_equal(b.data, "");

	buf_addstr(&b, "kept");
	p = buf_release(&b);
	assert_string_equal(p, "kept");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	free(p);

	/* Releasing an empty buffer gives an empty string, not NULL. */
	p = buf_release(&b);
	assert_non_null(p);
	assert_string_equal(p, "");
	free(p);

	buf_reset(&b);
	buf_free(&b);
	buf_free(&b);
	assert_null(b.data);
}

static int
count_entries(const char *dir)
{
	DIR		*d = opendir(dir);
	struct dirent	*de;
	int		 n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..")
		    != 0)
			n++;
	closedir(d);
	return n;
}

static void
test_files(void **state)
{
	char		 tmpl[] = "/tmp/ib-test-json.XXXXXX", *dir, *path, *sub;
	char		*big, *got;
	struct stat	 st;
	size_t		 len, n = 100000, i;

	dir = mkdtemp(tmpl);
	assert_non_null(dir);
	path = xasprintf("%s/f", dir);
	sub = xasprintf("%s/sub", dir);

	assert_int_equal(write_file_atomic(path, "one\0two", 7, 0600), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	got = read_file(path, 7, &len);
	assert_non_null(got);
	assert_int_equal(len, 7);
	assert_memory_equal(got, "one\0two", 8);
	free(got);

	/* One byte over the limit fails with EFBIG. */
	errno = 0;
	assert_null(read_file(path, 6, &len));
	assert_int_equal(errno, EFBIG);
	assert_null(read_file(path, 0, NULL));

	/* Replacing keeps one file, with the new mode and nothing left over. */
	big = xmalloc(n);
	for (i = 0; i < n; i++)
		big[i] = (char)(i * 7);
	assert_int_equal(write_file_atomic(path, big, n, 0644), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(st.st_size, n);
	got = read_file(path, n, NULL);
	assert_non_null(got);
	assert_memory_equal(got, big, n);
	free(got);
	errno = 0;
	assert_null(read_file(path, n - 1, NULL));
	assert_int_equal(errno, EFBIG);
	assert_int_equal(count_entries(dir), 1);

	/* Empty file. */
	assert_int_equal(write_file_atomic(path, "", 0, 0600), 0);
	got = read_file(path, 0, &len);
	assert_non_null(got);
	assert_int_equal(len, 0);
	assert_string_equal(got, "");
	free(got);

	/* Failures leave no temporary file behind. */
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(write_file_atomic(sub, "x", 1, 0600), -1);
	assert_int_equal(count_entries(dir), 2);
	assert_int_equal(count_entries(sub), 0);
	free(sub);
	sub = xasprintf("%s/missing/f", dir);
	errno = 0;
	assert_int_equal(write_file_atomic(sub, "x", 1, 0600), -1);
	assert_int_equal(errno, ENOENT);

	errno = 0;
	assert_null(read_file(sub, 10, NULL));
	assert_int_equal(errno, ENOENT);
	errno = 0;
	assert_null(read_file(dir, 10, NULL));
	assert_int_equal(errno, EISDIR);

	assert_int_equal(remove_tree(dir), 0);
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(remove_tree(dir), 0);
	free(big);
	free(sub);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixture),
		cmocka_unit_test(test_minimal_and_defaults),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_bad_location),
		cmocka_unit_test(test_invalid_fields),
		cmocka_unit_test(test_args_with_nul_refused),
		cmocka_unit_test(test_first_problem_reported),
		cmocka_unit_test(test_error_shapes),
		cmocka_unit_test(test_result_error_lookup),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_name_is_safe),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_files),
	};
	const char	*t = getenv("IB_TOP");

	if (t != NULL)
		snprintf(top, sizeof(top), "%s", t);
	else if (getcwd(top, sizeof(top)) == NULL)
		return 1;
	log_init(0, LOG_TEXT);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
