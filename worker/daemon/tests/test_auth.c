/*
 * auth: the token endpoint's expires_in is a number from outside. Values
 * near INT64_MAX, negative or fractional must neither overflow (UBSan
 * aborts this binary under SANITIZE=1) nor make every call fetch a new
 * token. A loopback server answers the token requests and counts them.
 * The cloud targets' token answers (cloud_token_take) likewise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "cloud.h"
#include "http.h"
#include "loopsrv.h"
#include "config.h"
#include "util.h"

struct server {
	struct loopsrv	 srv;
	const char	*expires_in;	/* the JSON text of the value */
	int		 calls;
	char		 out[512];
};

/* The form is short: headers and body come together. */
static int
form_read(const char *req, size_t len)
{
	return strstr(req, "grant_type") != NULL;
}

static void
token_answer(void *arg, const char *req, size_t len, const char **ans,
    size_t *anslen)
{
	struct server	*s = arg;
	char		 body[256];

	__atomic_add_fetch(&s->calls, 1, __ATOMIC_SEQ_CST);
	snprintf(body, sizeof(body), "{\"access_token\":\"tok\",\"token_type\":"
	    "\"Bearer\",\"expires_in\":%s}", s->expires_in);
	snprintf(s->out, sizeof(s->out), "HTTP/1.1 200 OK\r\nContent-Type: "
	    "application/json\r\nContent-Length: %zu\r\nConnection: "
	    "close\r\n\r\n%s", strlen(body), body);
	*ans = s->out;
	*anslen = strlen(s->out);
}

static int
setup(void **state)
{
	struct server	*s = xcalloc(1, sizeof(*s));

	s->srv.complete = form_read;
	s->srv.answer = token_answer;
	s->srv.arg = s;
	if (loopsrv_start(&s->srv) == -1)
		return -1;
	*state = s;
	return 0;
}

static int
teardown(void **state)
{
	struct server	*s = *state;

	loopsrv_stop(&s->srv);
	free(s);
	return 0;
}

/* Fetches a token three times with expires_in as given; returns calls. */
static int
fetches(struct server *s, const char *expires_in)
{
	struct config	*conf = config_defaults();
	struct auth	*a;
	char		 dir[] = "/tmp/test_auth.XXXXXX", *path, *tok, err[512];
	int		 i;

	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/secret", dir);
	assert_int_equal(write_file_atomic(path, "s3cret", 6, 0600), 0);
	conf->authentication.present = 1;
	conf->authentication.oauth_url = xasprintf("http://127.0.0.1:%d/token",
	    s->srv.port);
	conf->authentication.client_id = xstrdup("svc");
	conf->authentication.client_secret = xstrdup(path);
	s->expires_in = expires_in;
	s->calls = 0;
	a = auth_new(conf);
	for (i = 0; i < 3; i++) {
		tok = auth_token(a, err, sizeof(err));
		if (tok == NULL)
			fail_msg("expires_in %s: %s", expires_in, err);
		assert_string_equal(tok, "tok");
		freezero_str(tok);
	}
	auth_free(a);
	config_free(conf);
	unlink(path);
	rmdir(dir);
	free(path);
	return s->calls;
}

static void
test_expires_in(void **state)
{
	struct server	*s = *state;

	/* Ordinary: one fetch serves the three calls. */
	assert_int_equal(fetches(s, "3600"), 1);
	/* Huge: clamped, still one fetch, and no overflow. */
	assert_int_equal(fetches(s, "9223372036854775807"), 1);
	assert_int_equal(fetches(s, "9223372036854775806"), 1);
	assert_int_equal(fetches(s, "1e300"), 1);
	assert_int_equal(fetches(s, "99999999999999999999999"), 1);
	/* Nonsense: the expiry is unknown, the token used until refused. */
	assert_int_equal(fetches(s, "-9223372036854775807"), 1);
	assert_int_equal(fetches(s, "\"soon\""), 1);
	assert_int_equal(fetches(s, "null"), 1);
}

static void
test_cloud_expires_in(void **state)
{
	static const char *const huge[] = { "9223372036854775807",
	    "9223372036854775806", "1e300", "99999999999999999999" };
	struct cloud_token	 t = { NULL, 0 };
	struct http_resp	 r;
	int64_t			 now;
	size_t			 i;

	for (i = 0; i < nitems(huge); i++) {
		http_resp_init(&r);
		buf_printf(&r.body, "{\"access_token\":\"tok\",\"expires_in\""
		    ":%s}", huge[i]);
		now = now_ms() / 1000;
		assert_int_equal(cloud_token_take(&t, &r), 0);
		assert_true(t.exp > now && t.exp <= now + 86400 + 1);
		assert_true(cloud_token_fresh(&t));
		cloud_token_clear(&t);
		http_resp_free(&r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_expires_in, setup,
		    teardown),
		cmocka_unit_test(test_cloud_expires_in),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
