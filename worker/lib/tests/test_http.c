/*
 * http: header lookup and media types on the raw header lines libcurl
 * hands us, percent-encoding, and http_do against a tiny server on
 * loopback (one canned answer per connection) for what only a real
 * transfer shows: interim answers, the body limit, files, no answer, a
 * SigV4 signature. Then http_multi's pool against the same server: every
 * item done in parallel, retries after the server's Retry-After (counted,
 * with the time waited), the bytes sent told as they go (a retried body
 * once), a failure that stops the run, abort.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "http.h"
#include "loopsrv.h"
#include "http_multi.h"
#include "log.h"
#include "util.h"

static void
set_headers(struct http_resp *r, const char *raw)
{
	http_resp_init(r);
	buf_addstr(&r->headers, raw);
}

static void
header_is(const struct http_resp *r, const char *name, const char *want)
{
	char	*v = http_resp_header(r, name);

	if (want == NULL) {
		if (v != NULL)
			fail_msg("%s: got \"%s\", want none", name, v);
		return;
	}
	if (v == NULL)
		fail_msg("%s: none, want \"%s\"", name, want);
	if (strcmp(v, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", name, v, want);
	free(v);
}

static void
test_header(void **state)
{
	struct http_resp	 r;

	set_headers(&r, "HTTP/1.1 200 OK\r\n"
	    "Content-Type: application/json; charset=UTF-8\r\n"
	    "content-length:   12  \r\n"
	    "X-Empty:\r\n"
	    "X-Tab:\tvalue with  spaces\t\r\n"
	    "Location: /api/worker/v1/jobs/a:b\r\n"
	    "WWW-Authenticate: Bearer realm=\"x\"\r\n"
	    "X-Dup: first\r\n"
	    "X-Dup: second\r\n"
	    "\r\n");
	header_is(&r, "Content-Type", "application/json; charset=UTF-8");
	header_is(&r, "CONTENT-TYPE", "application/json; charset=UTF-8");
	header_is(&r, "Content-Length", "12");
	header_is(&r, "X-Empty", "");
	header_is(&r, "X-Tab", "value with  spaces");
	header_is(&r, "Location", "/api/worker/v1/jobs/a:b");
	header_is(&r, "www-authenticate", "Bearer realm=\"x\"");
	header_is(&r, "X-Dup", "first");
	/* A prefix of a name, or a name found inside a value, is no match. */
	header_is(&r, "Content", NULL);
	header_is(&r, "Type", NULL);
	header_is(&r, "realm", NULL);
	header_is(&r, "HTTP/1.1 200 OK", NULL);
	header_is(&r, "Missing", NULL);
	http_resp_free(&r);

	/* Bare LF line ends, as some servers send. */
	set_headers(&r, "HTTP/1.0 204 No Content\nRetry-After: 5\n\n");
	header_is(&r, "Retry-After", "5");
	http_resp_free(&r);

	/* No headers at all (no answer arrived). */
	http_resp_init(&r);
	header_is(&r, "Content-Type", NULL);
	assert_int_equal(http_resp_is(&r, "application/json"), 0);
	http_resp_free(&r);
	set_headers(&r, "");
	header_is(&r, "Content-Type", NULL);
	http_resp_free(&r);
}

static void
test_media_type(void **state)
{
	struct http_resp	 r;

	set_headers(&r, "HTTP/1.1 200 OK\r\n"
	    "Content-Type: application/json; charset=UTF-8\r\n\r\n");
	assert_int_equal(http_resp_is(&r, "application/json"), 1);
	assert_int_equal(http_resp_is(&r, "APPLICATION/JSON"), 1);
	assert_int_equal(http_resp_is(&r, "application/jso"), 0);
	assert_int_equal(http_resp_is(&r, "text/plain"), 0);
	http_resp_free(&r);

	set_headers(&r, "HTTP/1.1 200 OK\r\nContent-Type: Application/JSON"
	    "  ;charset=utf-8\r\n\r\n");
	assert_int_equal(http_resp_is(&r, "application/json"), 1);
	http_resp_free(&r);

	set_headers(&r, "HTTP/1.1 200 OK\r\n"
	    "Content-Type: application/json-seq\r\n\r\n");
	assert_int_equal(http_resp_is(&r, "application/json"), 0);
	http_resp_free(&r);

	set_headers(&r, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(http_resp_is(&r, "application/json"), 0);
	http_resp_free(&r);
}

static void
test_escape(void **state)
{
	static const struct {
		const char	*in, *out;
	} v[] = {
		{ "", "" },
		{ "abcXYZ019-_.~", "abcXYZ019-_.~" },
		{ "disk image.qcow2", "disk%20image.qcow2" },
		{ "a/b?c#d&e=f+g", "a%2Fb%3Fc%23d%26e%3Df%2Bg" },
		{ "100%", "100%25" },
		{ "..", ".." },
		{ "caf\xc3\xa9", "caf%C3%A9" },
		{ "\x01\x7f\xff", "%01%7F%FF" },
		{ "\"'<>\\", "%22%27%3C%3E%5C" },
	};
	char	*s;
	size_t	 i;

	for (i = 0; i < nitems(v); i++) {
		s = http_escape(v[i].in);
		assert_string_equal(s, v[i].out);
		free(s);
	}
}

#define NITEMS	6

/* A loopback server: each connection reads one request and gets the
 * current canned answer (or the pool's, see items()), then is closed. */
struct server {
	struct loopsrv	 srv;
	const char	*answer;
	size_t		 answer_len;
	char		 request[8192];
	int		 pool;		/* answer as items() does */
	int		 seen[NITEMS];	/* requests per item */
	char		 out[256];
};

/*
 * The pool's server: /item/N gets 200 and N, except that odd items get one
 * 503 with Retry-After first; anything else gets 400.
 */
static void
items(struct server *s, const char *req)
{
	int	 item;

	if (sscanf(req, "%*s /item/%d ", &item) == 1 && item >= 0 &&
	    item < NITEMS) {
		if (item % 2 == 1 && s->seen[item]++ == 0)
			snprintf(s->out, sizeof(s->out), "HTTP/1.1 503 Busy\r\n"
			    "Retry-After: 1\r\nContent-Length: 0\r\n"
			    "Connection: close\r\n\r\n");
		else
			snprintf(s->out, sizeof(s->out), "HTTP/1.1 200 OK\r\n"
			    "Content-Length: 1\r\nConnection: close"
			    "\r\n\r\n%d", item);
	} else
		snprintf(s->out, sizeof(s->out), "HTTP/1.1 400 Bad\r\n"
		    "Content-Length: 0\r\nConnection: close\r\n\r\n");
	s->answer = s->out;
	s->answer_len = strlen(s->out);
}

/* Keeps the request for the test and answers as it was told to. */
static void
canned(void *arg, const char *req, size_t len, const char **ans,
    size_t *anslen)
{
	struct server	*s = arg;

	memcpy(s->request, req, len + 1);
	if (s->pool)
		items(s, req);
	*ans = s->answer;
	*anslen = s->answer_len;
}

static int
server_setup(void **state)
{
	struct server	*s = xcalloc(1, sizeof(*s));

	s->srv.complete = loopsrv_headers_read;
	s->srv.answer = canned;
	s->srv.arg = s;
	if (loopsrv_start(&s->srv) == -1)
		return -1;
	*state = s;
	return 0;
}

static int
server_teardown(void **state)
{
	struct server	*s = *state;

	loopsrv_stop(&s->srv);
	free(s);
	return 0;
}

static void
answer(struct server *s, const char *a)
{
	s->answer = a;
	s->answer_len = strlen(a);
}

static int
get(struct server *s, struct http *h, struct http_req *req,
    struct http_resp *r)
{
	char	*url = xasprintf("http://127.0.0.1:%d/p/a%%20th", s->srv.port);
	int	 rv;

	req->url = url;
	rv = http_do(h, req, r);
	req->url = NULL;
	free(url);
	return rv;
}

static void
test_do_interim_answer(void **state)
{
	struct server		*s = *state;
	struct http_opts	 o = { 0 };
	struct http_req		 req = { 0 };
	struct http_resp	 r;
	struct http		*h = http_new(&o);

	/* Headers of the 100 are not those of the answer. */
	answer(s, "HTTP/1.1 100 Continue\r\nX-Interim: yes\r\n\r\n"
	    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
	    "Content-Length: 10\r\nConnection: close\r\n\r\n{\"id\":\"j\"}");
	http_resp_init(&r);
	req.method = "POST";
	req.body = "{}";
	req.body_len = 2;
	req.content_type = "application/json";
	req.bearer = "s3cret-token";
	assert_int_equal(get(s, h, &req, &r), 0);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.body.data, "{\"id\":\"j\"}");
	assert_int_equal(http_resp_is(&r, "application/json"), 1);
	header_is(&r, "X-Interim", NULL);
	assert_non_null(strstr(s->request, "POST /p/a%20th HTTP/1.1\r\n"));
	assert_non_null(strstr(s->request,
	    "Authorization: Bearer s3cret-token\r\n"));
	assert_non_null(strstr(s->request,
	    "Content-Type: application/json\r\n"));
	assert_null(strstr(s->request, "Expect:"));

	/* The handle is reused: the next request carries no credentials. */
	memset(&req, 0, sizeof(req));
	answer(s, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n"
	    "Connection: close\r\n\r\n");
	assert_int_equal(get(s, h, &req, &r), 0);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.body.len, 0);
	assert_non_null(strstr(s->request, "GET /p/a%20th HTTP/1.1\r\n"));
	assert_null(strstr(s->request, "Authorization"));
	http_resp_free(&r);
	http_free(h);
}

static void
test_do_body_limit(void **state)
{
	struct server		*s = *state;
	struct http_opts	 o = { 0 };
	struct http_req		 req = { 0 };
	struct http_resp	 r;
	struct http		*h;
	struct buf		 a;
	int			 i;

	buf_init(&a);
	buf_addstr(&a, "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n"
	    "Connection: close\r\n\r\n");
	for (i = 0; i < 500; i++)
		buf_addstr(&a, "0123456789");
	answer(s, a.data);

	o.max_body = 4999;
	h = http_new(&o);
	http_resp_init(&r);
	assert_int_equal(get(s, h, &req, &r), -1);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.error, "larger than 4999"));
	http_free(h);

	o.max_body = 5000;
	h = http_new(&o);
	assert_int_equal(get(s, h, &req, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, 5000);
	http_free(h);
	http_resp_free(&r);
	buf_free(&a);
}

static void
test_do_files(void **state)
{
	struct server		*s = *state;
	struct http_opts	 o = { 0 };
	struct http_req		 req = { 0 };
	struct http_resp	 r;
	struct http		*h = http_new(&o);
	char			 tmpl[] = "/tmp/ib-test-http.XXXXXX", *dir;
	char			*in, *out, *got;
	size_t			 len;

	dir = mkdtemp(tmpl);
	assert_non_null(dir);
	in = xasprintf("%s/in", dir);
	out = xasprintf("%s/out", dir);
	assert_int_equal(write_file_atomic(in, "0123456789", 10, 0600), 0);

	/* A part of a file as the body; the answer streamed to a file. */
	answer(s, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n"
	    "Connection: close\r\n\r\nstream!");
	req.body_path = in;
	req.body_off = 2;
	req.body_size = 4;
	req.out_path = out;
	http_resp_init(&r);
	assert_int_equal(get(s, h, &req, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body.len, 0);
	got = read_file(out, 100, &len);
	assert_non_null(got);
	assert_string_equal(got, "stream!");
	free(got);
	assert_non_null(strstr(s->request, "PUT /p/a%20th HTTP/1.1\r\n"));
	assert_non_null(strstr(s->request, "Content-Length: 4\r\n"));

	/* An offset past the end, a missing file: no request at all. */
	req.out_path = NULL;
	req.body_off = 11;
	req.body_size = 0;
	assert_int_equal(get(s, h, &req, &r), -1);
	assert_non_null(strstr(r.error, "past the end"));
	req.body_off = 0;
	req.body_path = out + strlen(out);	/* "" */
	assert_int_equal(get(s, h, &req, &r), -1);
	assert_true(r.error[0] != '\0');

	http_resp_free(&r);
	http_free(h);
	assert_int_equal(remove_tree(dir), 0);
	free(in);
	free(out);
}

static void
count_out(void *arg, const void *data, size_t len)
{
	buf_add(arg, data, len);
}

/* An answer streamed to a file: each piece seen, a cap, file:// by opt-in. */
static void
test_do_out_limits(void **state)
{
	struct server		*s = *state;
	struct http_opts	 o = { 0 };
	struct http_req		 req = { 0 };
	struct http_resp	 r;
	struct http		*h;
	struct buf		 seen;
	char			 tmpl[] = "/tmp/ib-test-http.XXXXXX", *dir;
	char			*out, *url;

	dir = mkdtemp(tmpl);
	assert_non_null(dir);
	out = xasprintf("%s/out", dir);
	buf_init(&seen);
	h = http_new(&o);
	http_resp_init(&r);
	answer(s, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n"
	    "Connection: close\r\n\r\nstream!");
	req.out_path = out;
	req.on_out = count_out;
	req.out_arg = &seen;
	req.max_out = 7;
	assert_int_equal(get(s, h, &req, &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(seen.len, 7);
	assert_memory_equal(seen.data, "stream!", 7);

	answer(s, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n"
	    "Connection: close\r\n\r\nstream!");
	req.max_out = 6;
	assert_int_equal(get(s, h, &req, &r), -1);
	assert_non_null(strstr(r.error, "larger than 6 bytes"));

	/* file:// only when the handle allows it. */
	assert_int_equal(write_file_atomic(out, "local", 5, 0600), 0);
	url = xasprintf("file://%s", out);
	req.url = url;
	req.max_out = 0;
	req.out_path = NULL;
	assert_int_equal(http_do(h, &req, &r), -1);
	http_free(h);
	o.allow_file = 1;
	h = http_new(&o);
	assert_int_equal(http_do(h, &req, &r), 0);
	assert_int_equal(r.body.len, 5);
	assert_memory_equal(r.body.data, "local", 5);

	http_resp_free(&r);
	http_free(h);
	buf_free(&seen);
	assert_int_equal(remove_tree(dir), 0);
	free(url);
	free(out);
}

static void
test_do_sigv4(void **state)
{
	struct server		*s = *state;
	struct http_opts	 o = { 0 };
	struct http_req		 req = { 0 };
	struct http_resp	 r;
	struct http		*h = http_new(&o);
	const char		*sh;

	answer(s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
	    "Connection: close\r\n\r\n");
	http_resp_init(&r);
	req.method = "POST";
	req.body = "a=b";
	req.body_len = 3;
	req.userpwd = "AKIDEXAMPLE:secret";
	req.sigv4 = "aws:amz:us-east-1:logs";
	assert_int_equal(get(s, h, &req, &r), 0);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(s->request, "Authorization: AWS4-HMAC-SHA256 "
	    "Credential=AKIDEXAMPLE/"));
	/* libcurl signs removal lines it does not send: none are added. */
	assert_non_null(sh = strstr(s->request, "SignedHeaders="));
	assert_null(strstr(sh, "expect"));
	assert_null(strstr(s->request, "secret"));
	http_resp_free(&r);
	http_free(h);
}

static void
test_do_no_answer(void **state)
{
	struct server		*s = *state;
	struct http_opts	 o = { 0 };
	struct http_req		 req = { 0 };
	struct http_resp	 r;
	struct http		*h;
	atomic_int		 stop = 1;
	char			*url;
	int			 fd, port;
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);

	/* A port nobody listens on: bound, never listened to. */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);

	h = http_new(&o);
	http_resp_init(&r);
	url = xasprintf("http://127.0.0.1:%d/", port);
	req.url = url;
	assert_int_equal(http_do(h, &req, &r), -1);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.aborted, 0);
	assert_true(r.error[0] != '\0');
	close(fd);
	free(url);

	/* The server closes without a word. */
	s->answer_len = 0;
	assert_int_equal(get(s, h, &req, &r), -1);
	assert_int_equal(r.status, 0);

	/* An abort flag already raised stops the transfer. */
	answer(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
	    "Connection: close\r\n\r\nok");
	req.abort = &stop;
	assert_int_equal(get(s, h, &req, &r), -1);
	assert_int_equal(r.aborted, 1);
	assert_string_equal(r.error, "aborted");
	stop = 0;
	assert_int_equal(get(s, h, &req, &r), 0);
	assert_string_equal(r.body.data, "ok");

	/* Only http and https: no file:// through a job's URL. */
	req.url = "file:///etc/hostname";
	assert_int_equal(http_do(h, &req, &r), -1);
	assert_int_equal(r.status, 0);
	http_resp_free(&r);
	http_free(h);
}

/* The caller's side: items 0 .. n-1, or one bad item. */
struct run {
	struct server	*s;
	int		 n;
	int		 next;
	int		 bad;
	int		 items[NITEMS];
	int		 done[NITEMS];
	int		 max_slot;
	int64_t		 sent;		/* as on_sent told */
	int		 told;		/* on_sent calls */
};

/* Item i's body: (i + 1) * 100 bytes. */
static const char body[NITEMS * 100];

static void
on_sent(void *arg, int64_t sent)
{
	struct run	*r = arg;

	r->sent = sent;
	r->told++;
}

static int
next(void *arg, int slot, void **item)
{
	struct run	*r = arg;

	if (slot > r->max_slot)
		r->max_slot = slot;
	if (r->next >= r->n)
		return 0;
	r->items[r->next] = r->next;
	*item = &r->items[r->next++];
	return 1;
}

static void
build(void *arg, void *item, struct http_call *call)
{
	struct run	*r = arg;

	call->req.url = http_call_own(call, r->bad ?
	    xasprintf("http://127.0.0.1:%d/item/bad", r->s->srv.port) :
	    xasprintf("http://127.0.0.1:%d/item/%d", r->s->srv.port,
	    *(int *)item));
	call->req.body = body;
	call->req.body_len = (*(int *)item + 1) * 100;
}

static enum http_verdict
judge(void *arg, void *item, const struct http_resp *resp, int tries)
{
	struct run	*r = arg;
	int		 i = *(int *)item;

	if (resp->status == 200) {
		assert_int_equal(atoi(resp->body.data), i);
		r->done[i] = tries;
		return HTTP_DONE;
	}
	if (resp->status == 503 && tries < 3)
		return HTTP_RETRY;
	return HTTP_FAIL;
}

static const struct http_multi_ops ops = { next, build, judge };

static void
test_multi_all_done(void **state)
{
	struct http_opts	 o = { 0 };
	struct http_multi_cfg	 cfg = { 0 };
	struct http_multi_stats	 st = { 0 };
	struct run		 r = { 0 };
	struct http		*h = http_new(&o);
	int64_t			 t0;
	int			 aborted, i;

	r.s = *state;
	r.s->pool = 1;
	r.n = NITEMS;
	cfg.parallel = 3;
	cfg.backoff_base = 1;
	cfg.backoff_cap = 5000;
	cfg.retry_after = 1;
	cfg.on_sent = on_sent;
	t0 = now_ms();
	assert_int_equal(http_multi_run(h, &cfg, &ops, &r, &st, &aborted), 0);
	assert_int_equal(aborted, 0);
	/* The odd items waited the second the server asked for. */
	assert_true(now_ms() - t0 >= 900);
	for (i = 0; i < NITEMS; i++)
		assert_int_equal(r.done[i], i % 2 == 1 ? 2 : 1);
	assert_int_equal(st.retries, NITEMS / 2);
	assert_int_equal(st.retry_after, NITEMS / 2);
	assert_true(st.backoff_ms >= NITEMS / 2 * 1000);
	/* Every body once, though the odd ones went out twice. */
	assert_int_equal(st.sent, 100 * NITEMS * (NITEMS + 1) / 2);
	assert_int_equal(r.sent, st.sent);
	assert_true(r.told >= 1);
	assert_true(st.max_inflight >= 2 && st.max_inflight <= 3);
	assert_int_equal(r.max_slot, 2);
	http_free(h);
}

static void
test_multi_fail_and_abort(void **state)
{
	struct http_opts	 o = { 0 };
	struct http_multi_cfg	 cfg = { 0 };
	struct http_multi_stats	 st = { 0 };
	struct run		 r = { 0 };
	struct http		*h = http_new(&o);
	atomic_int		 stop = 1;
	int			 aborted;

	r.s = *state;
	r.s->pool = 1;
	r.n = 2;
	r.bad = 1;
	cfg.parallel = 2;
	cfg.backoff_base = 1;
	cfg.backoff_cap = 10;
	assert_int_equal(http_multi_run(h, &cfg, &ops, &r, &st, &aborted),
	    -1);
	assert_int_equal(aborted, 0);

	memset(&r, 0, sizeof(r));
	r.s = *state;
	r.n = 2;
	cfg.abort = &stop;
	assert_int_equal(http_multi_run(h, &cfg, &ops, &r, &st, &aborted),
	    -1);
	assert_int_equal(aborted, 1);
	assert_int_equal(r.done[0], 0);
	http_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_media_type),
		cmocka_unit_test(test_escape),
#define T(f) cmocka_unit_test_setup_teardown(f, server_setup, server_teardown)
		T(test_do_interim_answer),
		T(test_do_body_limit),
		T(test_do_files),
		T(test_do_out_limits),
		T(test_do_no_answer),
		T(test_do_sigv4),
		T(test_multi_all_done),
		T(test_multi_fail_and_abort),
#undef T
	};

	log_init(0, LOG_TEXT);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
