/*
 * The GCP client offline: base64url against RFC 4648's vectors, the JWT
 * assertion (header, claims, and its RS256 signature verified with the
 * public half of a key made here; PKCS#1 v1.5 is deterministic, so two
 * signings agree), service-account key parsing, and the name checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "gcp.h"
#include "util.h"
#include "watch.h"

__attribute__((weak)) struct runflags runflags;

static EVP_PKEY	*pkey;
static char	*pem;

static int
setup(void **state)
{
	BIO	*b = BIO_new(BIO_s_mem());
	char	*p;
	long	 n;

	pkey = EVP_RSA_gen(2048);
	assert_non_null(pkey);
	PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(b, &p);
	pem = xstrndup(p, n);
	BIO_free(b);
	return 0;
}

static int
teardown(void **state)
{
	EVP_PKEY_free(pkey);
	free(pem);
	return 0;
}

static void
test_b64url(void **state)
{
	static const struct { const char *in, *out; } v[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" }, { "\xfb\xff", "-_8" },
	};
	size_t	 i;
	char	*s;

	for (i = 0; i < nitems(v); i++) {
		s = gcp_b64url(v[i].in, strlen(v[i].in));
		assert_string_equal(s, v[i].out);
		free(s);
	}
}

static unsigned char *
unb64url(const char *s, size_t n, size_t *outlen)
{
	char		*t = xcalloc(1, n + 4);
	unsigned char	*out = xmalloc(n + 4);
	size_t		 i, m;
	int		 got;

	for (i = 0; i < n; i++)
		t[i] = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];
	for (m = n; m % 4; m++)
		t[m] = '=';
	got = EVP_DecodeBlock(out, (unsigned char *)t, (int)m);
	assert_true(got >= 0);
	*outlen = got - (m - n);
	out[*outlen] = '\0';
	free(t);
	return out;
}

static void
test_jwt(void **state)
{
	struct gcp_key	 k = { "sa@p.iam.gserviceaccount.com", pem,
	    "https://oauth2.example.test/token", "p" };
	char		*jwt, *again, err[256], *dot1, *dot2;
	unsigned char	*head, *claims, *sig;
	size_t		 hl, cl, sl;
	json_object	*c, *v;
	EVP_MD_CTX	*md;

	jwt = gcp_jwt_assertion(&k, GCP_SCOPE, 1700000000, err, sizeof(err));
	assert_non_null(jwt);
	dot1 = strchr(jwt, '.');
	dot2 = strchr(dot1 + 1, '.');
	assert_non_null(dot2);
	assert_null(strchr(dot2 + 1, '.'));
	assert_null(strchr(jwt, '='));
	head = unb64url(jwt, dot1 - jwt, &hl);
	assert_string_equal((char *)head, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}");
	claims = unb64url(dot1 + 1, dot2 - dot1 - 1, &cl);
	c = json_tokener_parse((char *)claims);
	assert_non_null(c);
	assert_true(json_object_object_get_ex(c, "iss", &v));
	assert_string_equal(json_object_get_string(v), k.client_email);
	assert_true(json_object_object_get_ex(c, "aud", &v));
	assert_string_equal(json_object_get_string(v), k.token_uri);
	assert_true(json_object_object_get_ex(c, "scope", &v));
	assert_string_equal(json_object_get_string(v), GCP_SCOPE);
	assert_true(json_object_object_get_ex(c, "iat", &v));
	assert_int_equal(json_object_get_int64(v), 1700000000);
	assert_true(json_object_object_get_ex(c, "exp", &v));
	assert_int_equal(json_object_get_int64(v), 1700003600);
	json_object_put(c);

	/* The signature verifies with the public key over "head.claims". */
	sig = unb64url(dot2 + 1, strlen(dot2 + 1), &sl);
	assert_int_equal(sl, 256);
	md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
	    pkey), 1);
	assert_int_equal(EVP_DigestVerify(md, sig, sl, (unsigned char *)jwt,
	    dot2 - jwt), 1);
	/* A changed claim does not. */
	jwt[dot1 - jwt + 3] ^= 1;
	EVP_MD_CTX_reset(md);
	EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey);
	assert_int_not_equal(EVP_DigestVerify(md, sig, sl, (unsigned char *)jwt,
	    dot2 - jwt), 1);
	jwt[dot1 - jwt + 3] ^= 1;
	EVP_MD_CTX_free(md);

	again = gcp_jwt_assertion(&k, GCP_SCOPE, 1700000000, err, sizeof(err));
	assert_string_equal(jwt, again);
	free(again);
	free(jwt);
	free(head);
	free(claims);
	free(sig);

	k.private_key = "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY"
	    "-----\n";
	assert_null(gcp_jwt_assertion(&k, GCP_SCOPE, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "not a PEM private key"));
}

static void
test_key_parse(void **state)
{
	struct gcp_key	 k;
	char		 err[256];
	const char	*good = "{\"type\":\"service_account\",\"project_id\":"
	    "\"proj\",\"private_key\":\"PEM\",\"client_email\":\"a@b\"}";

	assert_int_equal(gcp_key_parse(good, strlen(good), &k, err,
	    sizeof(err)), 0);
	assert_string_equal(k.project_id, "proj");
	assert_string_equal(k.token_uri, "https://oauth2.googleapis.com/token");
	gcp_key_clear(&k);
	assert_int_equal(gcp_key_parse("{\"type\":\"authorized_user\"}", 26, &k,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a service account"));
	assert_int_equal(gcp_key_parse("{\"type\":\"service_account\"}", 27,
	    &k, err, sizeof(err)), -1);
	assert_int_equal(gcp_key_parse("[]", 2, &k, err, sizeof(err)), -1);
}

static void
test_names(void **state)
{
	assert_true(gcp_image_name_ok("rhel-9-x86-64"));
	assert_false(gcp_image_name_ok("9rhel"));
	assert_false(gcp_image_name_ok("rhel-"));
	assert_false(gcp_image_name_ok("Rhel"));
	assert_false(gcp_image_name_ok(""));
	assert_true(gcp_object_ok("composer/image.tar.gz"));
	assert_false(gcp_object_ok("a/../b"));
	assert_false(gcp_object_ok("./b"));
	assert_false(gcp_object_ok("a\rb"));
	assert_true(gcp_bucket_ok("my-bucket.example"));
	assert_false(gcp_bucket_ok("My_Bucket"));
	assert_false(gcp_bucket_ok("ab"));
	assert_true(gcp_member_ok("user:alice@example.com"));
	assert_true(gcp_member_ok("domain:example.com"));
	assert_false(gcp_member_ok("alice@example.com"));
	assert_false(gcp_member_ok("user:"));
	assert_false(gcp_member_ok("user:a b"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url),
		cmocka_unit_test(test_jwt),
		cmocka_unit_test(test_key_parse),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
